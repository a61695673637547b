/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * delegate-broker - the per-node privileged broker.  See delegate-broker(8).
 */
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <stdio.h>
#include <syslog.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "broker-op.h"
#include "broker-closer.h"
#include "broker-helper.h"
#include "broker-netns-worker.h"
#include "broker.h"
#include "config.h"
#include "proc.h"

static const char *arg_socket = NULL;
static const char *arg_policy_dir = DEFAULT_POLICY_DIR;
static const char *arg_check_policy = NULL;
static bool arg_foreground = false;
static bool arg_end_sessions = false;
static const char *arg_bus = "system";
static const char *arg_state_dir = DEFAULT_STATE_DIR;
static unsigned arg_resume_timeout = 90;
static broker_limits arg_limits;
static unsigned arg_threads = 0; /* 0: the default, 2 with TWO_LOOPS_CPUS or more CPUs to run on */

/*
 * The CPUs the broker may run on from which its default is two client loops, not one: on
 * two CPUs shared with the clients the scheduler keeps both loop threads on one CPU, where
 * they take turns, so a second loop costs more CPU a request than it overlaps and widens
 * the tail (bench/NOTES.md, rounds 6 to 8: the broker lock is seldom contended); with four a
 * loop thread has a CPU the clients need not share (not measured here).
 */
#define TWO_LOOPS_CPUS 4

static void help(void) {
        printf("Usage: delegate-broker [OPTIONS]\n"
               "\n"
               "Privilege-delegation broker for unprivileged VM launchers (API %d).\n"
               "\n"
               "  -s, --socket PATH        listen on PATH (default: $%s or %s);\n"
               "                           a socket passed by systemd socket activation wins\n"
               "  -p, --policy-dir DIR     policy directory (default: %s)\n"
               "      --check-policy DIR   validate the policy in DIR and exit (0: valid)\n"
               "  -b, --bus BUS            serve org.delegate.Broker1 on BUS: system (default),\n"
               "                           session, none, or a D-Bus address (unix:path=...)\n"
               "      --state-dir DIR      keep session state in DIR, so that sessions survive a\n"
               "                           broker restart (default: %s; \"none\": do not)\n"
               "      --resume-timeout S   how long a recovered session waits for its launcher\n"
               "                           to resume it, 1-86400 seconds (default: 90)\n"
               "      --end-sessions       undo every session saved in the state directory and\n"
               "                           exit (a final stop: the socket unit's ExecStopPost=)\n"
               "  -f, --foreground         also log decisions and messages to stderr\n"
               "      --threads N          client event loops, 1-%d (default: 2 when it may run\n"
               "                           on %d or more CPUs, else 1)\n"
               "\n"
               "Limits (see LIMITS in delegate-broker(8)):\n"
               "      --max-clients N           connections in all (default %d)\n"
               "      --max-sessions-per-uid N  connections of one uid (default %d)\n"
               "      --max-inflight N          requests in progress per connection (default %d)\n"
               "      --rate N[/s]              requests per second per client process and per\n"
               "                                D-Bus caller uid; 0: unlimited (default %d)\n"
               "      --burst N                 requests above the rate at once (default %d)\n"
               "      --hello-timeout SECONDS   close connections that send no hello (default %llu)\n"
               "      --max-message BYTES       largest request accepted (default and most %d)\n"
               "      --max-tap N               TAP devices per session (default and most %d)\n"
               "      --max-kvmi-pages N        KVMI pages per session (default and most %d)\n"
               "  -h, --help               show this help\n"
               "      --version            show the version\n"
               "\n"
               "Signals: SIGHUP reloads the policy atomically; SIGTERM/SIGINT stop.\n"
               "See delegate-broker(8), delegate-policy(5), delegate-protocol(7).\n",
               DELEGATE_API_VERSION, DELEGATE_SOCKET_ENV, DEFAULT_SOCKET_PATH, DEFAULT_POLICY_DIR, DEFAULT_STATE_DIR,
               BROKER_MAX_THREADS, TWO_LOOPS_CPUS,
               LIMIT_DEFAULT_MAX_CLIENTS, LIMIT_DEFAULT_SESSIONS_PER_UID, LIMIT_DEFAULT_INFLIGHT, LIMIT_DEFAULT_RATE,
               LIMIT_DEFAULT_BURST, LIMIT_DEFAULT_HELLO_TIMEOUT_USEC / 1000000ULL, DELEGATE_MAX_MESSAGE,
               SESSION_MAX_TAP, SESSION_MAX_KVMI_PAGES);
}

static int parse_argv(int argc, char **argv) {
        enum { ARG_CHECK = 0x100, ARG_VERSION, ARG_STATE_DIR, ARG_RESUME_TIMEOUT, ARG_END_SESSIONS, ARG_LIMIT, ARG_THREADS };
        static const struct option options[] = {
                { "socket", required_argument, NULL, 's' },
                { "policy-dir", required_argument, NULL, 'p' },
                { "check-policy", required_argument, NULL, ARG_CHECK },
                { "foreground", no_argument, NULL, 'f' },
                { "bus", required_argument, NULL, 'b' },
                { "state-dir", required_argument, NULL, ARG_STATE_DIR },
                { "resume-timeout", required_argument, NULL, ARG_RESUME_TIMEOUT },
                { "end-sessions", no_argument, NULL, ARG_END_SESSIONS },
                { "threads", required_argument, NULL, ARG_THREADS },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "max-clients", required_argument, NULL, ARG_LIMIT },
                { "max-sessions-per-uid", required_argument, NULL, ARG_LIMIT },
                { "max-inflight", required_argument, NULL, ARG_LIMIT },
                { "rate", required_argument, NULL, ARG_LIMIT },
                { "burst", required_argument, NULL, ARG_LIMIT },
                { "hello-timeout", required_argument, NULL, ARG_LIMIT },
                { "max-message", required_argument, NULL, ARG_LIMIT },
                { "max-tap", required_argument, NULL, ARG_LIMIT },
                { "max-kvmi-pages", required_argument, NULL, ARG_LIMIT },
                {},
        };
        int c, idx;
        char err[256];
        limits_default(&arg_limits);
        while ((c = getopt_long(argc, argv, "s:p:b:fh", options, &idx)) >= 0) {
                switch (c) {
                case ARG_LIMIT:
                        if (limits_set(&arg_limits, options[idx].name, optarg, err, sizeof(err)) < 0) {
                                fprintf(stderr, "delegate-broker: %s\n", err);
                                return -EINVAL;
                        }
                        break;
                case 's':
                        arg_socket = optarg;
                        break;
                case 'p':
                        arg_policy_dir = optarg;
                        break;
                case ARG_CHECK:
                        arg_check_policy = optarg;
                        break;
                case 'f':
                        arg_foreground = true;
                        break;
                case 'b':
                        arg_bus = optarg;
                        break;
                case ARG_STATE_DIR:
                        if (!streq(optarg, "none") && optarg[0] != '/') {
                                fprintf(stderr, "delegate-broker: --state-dir must be an absolute path or \"none\", "
                                                "not '%s'\n", optarg);
                                return -EINVAL;
                        }
                        arg_state_dir = optarg;
                        break;
                case ARG_RESUME_TIMEOUT: {
                        char *end;
                        errno = 0;
                        unsigned long v = strtoul(optarg, &end, 10);
                        if (errno || *end || end == optarg || v < 1 || v > 86400) {
                                fprintf(stderr, "delegate-broker: --resume-timeout must be 1-86400 seconds, not '%s'\n",
                                        optarg);
                                return -EINVAL;
                        }
                        arg_resume_timeout = (unsigned) v;
                        break;
                }
                case ARG_THREADS: {
                        char *end;
                        errno = 0;
                        unsigned long v = strtoul(optarg, &end, 10);
                        if (errno || *end || end == optarg || v < 1 || v > BROKER_MAX_THREADS) {
                                fprintf(stderr, "delegate-broker: --threads must be 1-%d, not '%s'\n",
                                        BROKER_MAX_THREADS, optarg);
                                return -EINVAL;
                        }
                        arg_threads = (unsigned) v;
                        break;
                }
                case ARG_END_SESSIONS:
                        arg_end_sessions = true;
                        break;
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("delegate-broker %s (API %d)\n", DELEGATE_VERSION, DELEGATE_API_VERSION);
                        return 0;
                default:
                        fprintf(stderr, "Try 'delegate-broker --help'.\n");
                        return -EINVAL;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "delegate-broker: unexpected argument '%s'; try --help\n", argv[optind]);
                return -EINVAL;
        }
        if (!arg_socket) {
                const char *e = getenv(DELEGATE_SOCKET_ENV);
                arg_socket = e && *e ? e : DEFAULT_SOCKET_PATH;
        }
        return 1;
}

static int check_policy(const char *dir) {
        policy *p = NULL;
        policy_error err;
        char buf[1024];
        int r = policy_load_dir(dir, &p, &err);
        if (r < 0) {
                fprintf(stderr, "%s\n", policy_error_string(&err, buf, sizeof(buf)));
                return r;
        }
        printf("%s: valid, %zu rule(s) in %zu file(s)\n", dir, p->n_rules, p->n_files);
        policy_free(p);
        return 0;
}

/*
 * In a container's private cgroup namespace (the default for non-privileged
 * containers on cgroup v2) the host's cgroup tree, mounted from a hostPath,
 * has its root above the namespace's, and every peer's cgroup reads as
 * "/../<pod>/<container>".  The broker runs with hostPID and CAP_SYS_ADMIN,
 * so it joins the host's cgroup namespace, where the paths line up with the
 * mount: pid 1's, or kthreadd's (pid 2: kernel threads live in the initial
 * namespaces) where pid 1's cannot be opened (a non-dumpable init).  If that
 * fails or does not help, it refuses to start.
 */
static int open_host_cgroupns(void) {
        int fd = open("/proc/1/ns/cgroup", O_RDONLY | O_CLOEXEC);
        if (fd >= 0)
                return fd;
        char comm[32] = "";
        FILE *f = fopen("/proc/2/comm", "re");
        if (f) {
                if (!fgets(comm, sizeof(comm), f))
                        comm[0] = 0;
                fclose(f);
        }
        if (!streq(comm, "kthreadd\n"))
                return -ENOENT;
        return open("/proc/2/ns/cgroup", O_RDONLY | O_CLOEXEC);
}

static int join_host_cgroupns(void) {
        char root[1024];
        if (cgroup2_mount_root(root, sizeof(root)) < 0 || strncmp(root, "/..", 3) != 0)
                return 0; /* no cgroup v2, or its root is visible: nothing to line up */
        _cleanup_close_ int fd = open_host_cgroupns();
        if (fd < 0 || setns(fd, CLONE_NEWCGROUP) < 0) {
                fprintf(stderr,
                        "delegate-broker: the broker's cgroup namespace lies below the root of the cgroup v2 mount "
                        "(mount root '%s'), so peers' cgroups would read as '/../...'; joining the host's cgroup "
                        "namespace (pid 1's or kthreadd's) failed (%m). Run the broker in the host's cgroup "
                        "namespace, or with hostPID and CAP_SYS_ADMIN so that it can join it\n",
                        root);
                return -EXDEV;
        }
        if (cgroup2_mount_root(root, sizeof(root)) < 0 || !streq(root, "/")) {
                fprintf(stderr,
                        "delegate-broker: in the host's cgroup namespace the cgroup v2 mount's root is still '%s', not "
                        "'/': the mounted tree is not the whole hierarchy. Mount the host's whole cgroup v2 tree "
                        "(hostPath /sys/fs/cgroup) and run the broker with hostPID\n",
                        root);
                return -EXDEV;
        }
        fprintf(stderr, "delegate-broker: joined the host's cgroup namespace: the broker's own (a container's) did not "
                        "see the root of the cgroup v2 mount\n");
        return 0;
}

/*
 * A final stop (the socket unit's ExecStopPost=): no broker will come to
 * resume the saved sessions, so undo them now, as a stopping broker without
 * --state-dir would, and remove their files.  The TAP removal helpers are
 * reparented to us (subreaper) and waited for, so that they finish before
 * the service manager cleans up the unit.
 */
static int end_sessions(broker *b) {
        if (streq(arg_state_dir, "none"))
                return 0;
        if (access(arg_state_dir, F_OK) < 0 && errno == ENOENT)
                return 0; /* nothing was saved */
        (void) prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        b->end_saved = true;
        int r = state_setup(b, arg_state_dir);
        while (wait(NULL) >= 0 || errno == EINTR)
                ;
        return r;
}

static int run(void) {
        broker *b = NULL;
        int r;

        if (arg_check_policy)
                return check_policy(arg_check_policy);
        r = join_host_cgroupns();
        if (r < 0)
                return r;

        r = broker_new(&b);
        if (r < 0) {
                fprintf(stderr, "delegate-broker: cannot set up the event loop: %s\n", strerror(-r));
                return r;
        }
        log_set_foreground(arg_foreground);
        b->limits = arg_limits;
        b->policy_dir = strdup(arg_policy_dir);
        if (!b->policy_dir) {
                broker_free(b);
                return -ENOMEM;
        }
        b->resume_timeout_usec = (uint64_t) arg_resume_timeout * 1000000;
        if (arg_end_sessions) {
                r = end_sessions(b);
                broker_free(b);
                return r;
        }
        if (!arg_threads) { /* never more than two: one loop per CPU would only add lock contention (bench/NOTES.md) */
                /* the CPUs it may run on (affinity, a cpuset: CPUAffinity=, taskset), not those online */
                cpu_set_t cpus;
                bool many = sched_getaffinity(0, sizeof(cpus), &cpus) < 0 || CPU_COUNT(&cpus) >= TWO_LOOPS_CPUS;
                arg_threads = many ? 2 : 1;
        }
        r = loops_new(b, arg_threads);
        if (r < 0) {
                fprintf(stderr, "delegate-broker: cannot set up the client loops: %s\n", strerror(-r));
                broker_free(b);
                return r;
        }
        limits_fd_budget(b); /* with the number of loops: each may hold two datagrams' fds */
        r = broker_policy_load(b);
        if (r >= 0)
                r = state_setup(b, arg_state_dir);
        if (r >= 0)
                r = broker_listen(b, arg_socket);
        if (r >= 0)
                r = bus_setup(b, arg_bus);
        /* setup done: the last privilege stages (broker-caps.c, broker-seccomp.c) */
        if (r >= 0)
                r = broker_caps_drop(b);
        /* the loop threads and the closer inherit the final capabilities; the filter is then installed on every
         * thread */
        if (r >= 0 && (r = closer_start()) < 0)
                log_msg(b, LOG_ERR, "cannot start the thread that closes clients' fds: %s", strerror(-r));
        int w = r >= 0 ? netns_worker_start() : 0;
        if (w < 0) /* not fatal: every step in a pod's network namespace forks a helper then */
                log_msg(b, LOG_WARNING, "cannot start the thread for steps in pods' network namespaces (%s): they "
                        "run in forked helpers", strerror(-w));
        if (r >= 0) {
                /* the loop threads serve once setup is done (they wait for the lock): the filter, the forker */
                pthread_mutex_lock(&b->lock);
                r = loops_start(b);
                if (r >= 0)
                        r = broker_seccomp_install(b);
                /* the memlock helpers' forker inherits the filter; without it the broker forks them itself */
                if (r >= 0 && (w = uid_helpers_forker_start(b)) < 0)
                        log_msg(b, LOG_WARNING, "cannot start the forker (%s): the memlock helpers are forked by "
                                "the broker", strerror(-w));
                pthread_mutex_unlock(&b->lock);
        }
        if (r >= 0)
                r = broker_run(b);
        broker_free(b);
        return r;
}

int main(int argc, char **argv) {
        broker_ops_register();
        int r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? 2 : 0;
        r = run();
        return r < 0 ? 1 : 0;
}
