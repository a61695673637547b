/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * delegate-run - run an unmodified program with its privileged syscalls
 * delegated to delegate-broker through seccomp user notification.
 * See delegate-run(1).
 *
 * Privilege stages: none to begin with, none gained.  delegate-run
 *   1. connects to the broker (API 1 hello) as whoever runs it;
 *   2. sets PR_SET_NO_NEW_PRIVS and loads a filter whose few chosen
 *      syscalls (delegate-run-filter.c) notify a listener instead of running;
 *   3. hands the listener to the broker (unotify.attach) and keeps a copy;
 *   4. forks: the child, which inherits the filter, execs PROGRAM; the
 *      parent stays as the session's process, forwards signals, hands the
 *      listener over again whenever the broker comes back after a restart,
 *      and exits with the program's status.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DELEGATE_INTERNAL_UNSTABLE_API_OPT_IN
#include <delegate/delegate-internal.h>

#include "config.h"
#include "delegate-run-filter.h"
#include "util.h"

/* exit codes of delegate-run itself, as env(1) and timeout(1) have them */
#define EXIT_RUN_FAILED 125
#define EXIT_CANNOT_EXEC 126
#define EXIT_NOT_FOUND 127

static const char *arg_socket = NULL;
static const char *arg_vm = NULL;
static const char *arg_client = "delegate-run";
static bool arg_subreaper = true;
static char **arg_argv = NULL;

static const int forwarded[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };

static void help(void) {
        printf("Usage: delegate-run [OPTIONS] -- PROGRAM [ARGS...]\n"
               "\n"
               "Run PROGRAM with RLIMIT_MEMLOCK changes, realtime scheduling and TAP creation\n"
               "delegated to delegate-broker through seccomp user notification.\n"
               "\n"
               "Options:\n"
               "  -s, --socket PATH   broker socket (default: $%s or %s)\n"
               "      --vm NAME       VM name sent in the hello\n"
               "      --client NAME   client name sent in the hello (default: delegate-run)\n"
               "      --no-subreaper  do not keep daemonized descendants as our children\n"
               "  -h, --help          show this help\n"
               "      --version       show the version\n",
               DELEGATE_SOCKET_ENV, DEFAULT_SOCKET_PATH);
}

static int parse_argv(int argc, char **argv) {
        enum { ARG_VM = 0x100, ARG_CLIENT, ARG_NO_SUBREAPER, ARG_VERSION };
        static const struct option options[] = {
                { "socket", required_argument, NULL, 's' },
                { "vm", required_argument, NULL, ARG_VM },
                { "client", required_argument, NULL, ARG_CLIENT },
                { "no-subreaper", no_argument, NULL, ARG_NO_SUBREAPER },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                {},
        };
        int c;
        while ((c = getopt_long(argc, argv, "+s:h", options, NULL)) >= 0)
                switch (c) {
                case 's':
                        arg_socket = optarg;
                        break;
                case ARG_VM:
                        arg_vm = optarg;
                        break;
                case ARG_CLIENT:
                        arg_client = optarg;
                        break;
                case ARG_NO_SUBREAPER:
                        arg_subreaper = false;
                        break;
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("delegate-run %s\n", DELEGATE_VERSION);
                        return 0;
                default:
                        fprintf(stderr, "Try 'delegate-run --help'.\n");
                        return -EINVAL;
                }
        if (optind >= argc) {
                fprintf(stderr, "delegate-run: no PROGRAM given (delegate-run [OPTIONS] -- PROGRAM [ARGS...])\n"
                                "Try 'delegate-run --help'.\n");
                return -EINVAL;
        }
        arg_argv = argv + optind;
        return 1;
}

/* Hand @listener to the broker; connects (resuming the session) when needed. */
static int attach(delegate_ctx *ctx, int listener) {
        delegate_error err = {};
        _cleanup_free_ char *res = NULL;
        int r = delegate_call_with_fds(ctx, DELEGATE_OP_UNOTIFY_ATTACH, "{\"listener\":0}", &listener, 1, &res, NULL, 0,
                                       NULL, &err);
        if (r < 0)
                fprintf(stderr, "delegate-run: handing the seccomp listener to the broker failed: %s (%s)\n",
                        err.message[0] ? err.message : strerror(-r), err.code[0] ? err.code : "local");
        explicit_bzero(&err, sizeof(err));
        return r;
}

/* The broker went away: reconnect (resuming the session) and attach again, with back-off. */
static void reattach(delegate_ctx *ctx, int listener, int sfd, pid_t child, int *status, bool *exited) {
        unsigned delay_ms = 0;
        for (;;) {
                delegate_error err = {};
                int r = delegate_connect(ctx, &err);
                if (r >= 0 && attach(ctx, listener) >= 0) {
                        fprintf(stderr, "delegate-run: broker back, session %llu %s, listener handed over again\n",
                                (unsigned long long) delegate_ctx_session(ctx),
                                delegate_ctx_resumed(ctx) ? "resumed" : "new");
                        return;
                }
                /* meanwhile signals are forwarded and the program may end */
                struct pollfd p = { .fd = sfd, .events = POLLIN };
                delay_ms = backoff_next_ms(delay_ms);
                if (poll(&p, 1, (int) delay_ms) > 0) {
                        struct signalfd_siginfo si;
                        if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
                                if (si.ssi_signo == SIGCHLD) {
                                        if (waitpid(child, status, WNOHANG) == child) {
                                                *exited = true;
                                                return;
                                        }
                                } else
                                        kill(child, (int) si.ssi_signo);
                        }
                }
        }
}

static int exit_status(int status) {
        if (WIFEXITED(status))
                return WEXITSTATUS(status);
        if (WIFSIGNALED(status))
                return 128 + WTERMSIG(status);
        return EXIT_RUN_FAILED;
}

static int run(void) {
        delegate_ctx *ctx = NULL;
        delegate_error err = {};
        int r = delegate_open(DELEGATE_API_VERSION, arg_socket, arg_client, arg_vm, &ctx, &err);
        if (r < 0) {
                fprintf(stderr, "delegate-run: %s\n", err.message[0] ? err.message : strerror(-r));
                return EXIT_RUN_FAILED;
        }
        if (arg_subreaper && prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
                fprintf(stderr, "delegate-run: PR_SET_CHILD_SUBREAPER: %m\n");
                delegate_ctx_free(ctx);
                return EXIT_RUN_FAILED;
        }
        _cleanup_close_ int listener = -EBADF;
        char msg[256];
        r = unotify_filter_install(&listener, msg, sizeof(msg));
        if (r < 0) {
                fprintf(stderr, "delegate-run: %s\n", msg);
                delegate_ctx_free(ctx);
                return EXIT_RUN_FAILED;
        }
        if (attach(ctx, listener) < 0) {
                delegate_ctx_free(ctx);
                return EXIT_RUN_FAILED;
        }

        sigset_t ss;
        sigemptyset(&ss);
        sigaddset(&ss, SIGCHLD);
        for (size_t i = 0; i < ELEMENTSOF(forwarded); i++)
                sigaddset(&ss, forwarded[i]);
        sigset_t old;
        sigprocmask(SIG_BLOCK, &ss, &old);
        _cleanup_close_ int sfd = signalfd(-1, &ss, SFD_CLOEXEC);
        if (sfd < 0) {
                fprintf(stderr, "delegate-run: signalfd: %m\n");
                delegate_ctx_free(ctx);
                return EXIT_RUN_FAILED;
        }

        int pipefd[2]; /* tells the parent why exec failed */
        if (pipe2(pipefd, O_CLOEXEC) < 0) {
                fprintf(stderr, "delegate-run: pipe: %m\n");
                delegate_ctx_free(ctx);
                return EXIT_RUN_FAILED;
        }
        pid_t child = fork();
        if (child < 0) {
                fprintf(stderr, "delegate-run: fork: %m\n");
                delegate_ctx_free(ctx);
                return EXIT_RUN_FAILED;
        }
        if (child == 0) {
                /* the broker connection and the listener are CLOEXEC: the program holds neither */
                sigprocmask(SIG_SETMASK, &old, NULL);
                close(pipefd[0]);
                execvp(arg_argv[0], arg_argv);
                int e = errno;
                (void) !write(pipefd[1], &e, sizeof(e));
                _exit(e == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_EXEC);
        }
        close(pipefd[1]);
        int e = 0;
        if (read(pipefd[0], &e, sizeof(e)) == sizeof(e))
                fprintf(stderr, "delegate-run: cannot execute '%s': %s\n", arg_argv[0], strerror(e));
        close(pipefd[0]);

        int status = 0;
        bool exited = false;
        while (!exited) {
                struct pollfd p[2] = { { .fd = sfd, .events = POLLIN }, { .fd = delegate_ctx_fd(ctx), .events = POLLIN } };
                size_t n = p[1].fd >= 0 ? 2 : 1;
                if (poll(p, n, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                if (p[0].revents & POLLIN) {
                        struct signalfd_siginfo si;
                        if (read(sfd, &si, sizeof(si)) != sizeof(si))
                                continue;
                        if (si.ssi_signo != SIGCHLD)
                                kill(child, (int) si.ssi_signo);
                        /* adopted orphans are reaped too; only the program's end ends us */
                        for (pid_t w; (w = waitpid(-1, &e, WNOHANG)) > 0;)
                                if (w == child) {
                                        status = e;
                                        exited = true;
                                }
                }
                if (!exited && n == 2 && p[1].revents) {
                        /* the broker never speaks unasked: it closed the connection (a restart) */
                        fprintf(stderr, "delegate-run: the broker closed the connection; reconnecting\n");
                        reattach(ctx, listener, sfd, child, &status, &exited);
                }
        }
        delegate_ctx_free(ctx);
        return exit_status(status);
}

int main(int argc, char **argv) {
        int r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? EXIT_RUN_FAILED : 0;
        return run();
}
