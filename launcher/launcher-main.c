/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * delegate-launcher - the pod's entrypoint: starts QEMU paused, asks the
 * broker for every privileged step, resumes the guest and supervises QEMU
 * until it exits (see delegate-launcher(1)).
 *
 *   spec -> the delegated steps (launcher-steps.c) -> seccomp -> supervise
 *   (launcher-supervise.c).
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <sys/signalfd.h>

#include "config.h"
#include "launcher.h"

static const char *arg_spec = NULL;
static const char *arg_socket = NULL;
static const char *arg_incoming = NULL;

static void help(void) {
        printf("Usage: delegate-launcher --spec FILE [--socket PATH] [--incoming URI]\n"
               "\n"
               "Start the VM described by FILE with QEMU, paused; ask delegate-broker for\n"
               "its TAP devices, memlock, housekeeping cgroup and realtime vCPUs; run it.\n"
               "\n"
               "  -f, --spec FILE       the VM spec (JSON, see delegate-launcher(1))\n"
               "  -s, --socket PATH     broker socket (default: $%s or %s)\n"
               "      --incoming URI    a live-migration target: QEMU waits with -incoming defer,\n"
               "                        the same steps run, then migrate-incoming URI\n"
               "                        (unix:PATH or tcp:HOST:PORT; exec: and fd: are refused)\n"
               "  -h, --help            this help\n"
               "      --version         the version\n",
               DELEGATE_SOCKET_ENV, DEFAULT_SOCKET_PATH);
}

static int run(void) {
        _cleanup_(vm_spec_done) vm_spec s = { 0 };
        launch l;
        char err[1024];
        int ret = 1;

        launch_init(&l, &s, arg_socket, arg_incoming); /* the clock starts */
        if (launcher_drop_privileges(err, sizeof(err)) < 0) {
                fprintf(stderr, "delegate-launcher: %s\n", err);
                return 1;
        }
        if (vm_spec_load(arg_spec, &s, err, sizeof(err)) < 0) {
                fprintf(stderr, "delegate-launcher: %s\n", err);
                return 1;
        }
        if (devices_prepare(&s, err, sizeof(err)) < 0) {
                fprintf(stderr, "delegate-launcher[%s]: %s\n", s.name, err);
                return 1;
        }
        /* signals arrive through a signalfd: block them first */
        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGCHLD);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        _cleanup_close_ int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
        if (sfd < 0) {
                fprintf(stderr, "delegate-launcher: signalfd: %m\n");
                return 1;
        }

        if (launch_steps(&l) >= 0) {
                /* supervise, confined */
                if (launcher_seccomp(err, sizeof(err)) < 0)
                        fprintf(stderr, "delegate-launcher[%s]: %s\n", s.name, err);
                else
                        ret = supervise(&l, sfd);
        }
        launch_done(&l);
        return ret;
}

/*
 * QEMU runs with -sandbox spawn=deny and inherits only the QMP and TAP fds:
 * "exec:" would have it spawn a process (seccomp kills it with SIGSYS, after
 * every step was done) and "fd:" names an fd it does not have.  Refused up
 * front; other URIs (unix:, tcp:, ...) are QEMU's to judge.
 */
static int incoming_uri_check(const char *uri) {
        if (strncmp(uri, "exec:", 5) == 0) {
                fprintf(stderr, "delegate-launcher: --incoming '%s': exec: migration needs QEMU to spawn a process, "
                                "which its -sandbox spawn=deny forbids; use unix:PATH or tcp:HOST:PORT\n", uri);
                return -EINVAL;
        }
        if (strncmp(uri, "fd:", 3) == 0) {
                fprintf(stderr, "delegate-launcher: --incoming '%s': QEMU inherits no fd but QMP's and the TAP "
                                "devices'; use unix:PATH or tcp:HOST:PORT\n", uri);
                return -EINVAL;
        }
        if (!strchr(uri, ':')) {
                fprintf(stderr, "delegate-launcher: --incoming '%s' is not a migration URI (like unix:PATH)\n", uri);
                return -EINVAL;
        }
        return 0;
}

int main(int argc, char **argv) {
        enum { ARG_VERSION = 0x100, ARG_INCOMING };
        static const struct option options[] = {
                { "spec", required_argument, NULL, 'f' },
                { "socket", required_argument, NULL, 's' },
                { "incoming", required_argument, NULL, ARG_INCOMING },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                {},
        };
        int c;
        while ((c = getopt_long(argc, argv, "f:s:h", options, NULL)) >= 0) {
                switch (c) {
                case 'f':
                        arg_spec = optarg;
                        break;
                case 's':
                        arg_socket = optarg;
                        break;
                case ARG_INCOMING:
                        arg_incoming = optarg;
                        break;
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("delegate-launcher %s (API %d)\n", DELEGATE_VERSION, DELEGATE_API_VERSION);
                        return 0;
                default:
                        fprintf(stderr, "Try 'delegate-launcher --help'.\n");
                        return 2;
                }
        }
        if (!arg_spec || optind < argc) {
                fprintf(stderr, "delegate-launcher: %s\nTry 'delegate-launcher --help'.\n",
                        optind < argc ? "unexpected argument" : "--spec FILE is required");
                return 2;
        }
        if (arg_incoming && incoming_uri_check(arg_incoming) < 0)
                return 2;
        return run();
}
