/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * delegatectl-ops.c - delegatectl's commands over the broker socket: ping,
 * state, memlock, tap create, tap destroy, cgroup-move, sched.  See
 * delegatectl(1).
 */
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "config.h"
#include "delegatectl-ops.h"
#include "delegatectl-util.h"
#include "json.h"
#include "memlock.h"
#include "ops.h"
#include "proc.h"
#include "size.h"
#include "wire.h"

static const char *str_of(const json_value *v) {
        return json_is_string(v) ? v->string.str : "";
}

static uint64_t u64_of(const json_value *v) {
        uint64_t x = 0;
        json_to_size(v, &x);
        return x;
}

int cmd_ping(int argc, char **argv) {
        delegate_ctx *c;
        delegate_error e;
        _cleanup_erase_free_ char *res = NULL;
        if (open_ctx(&c, &e) < 0)
                return report_error("connect", &e);
        uint64_t t0 = now_usec();
        int r = delegate_call(c, DELEGATE_OP_PING, NULL, &res, NULL, 0, NULL, NULL, &e);
        uint64_t dt = now_usec() - t0;
        if (r < 0) {
                delegate_ctx_free(c);
                return report_error(DELEGATE_OP_PING, &e);
        }
        if (arg_json)
                printf("%s\n", res);
        else {
                _cleanup_json_ json_value *v = NULL;
                json_parse_error je;
                if (json_parse(res, strlen(res), false, &v, &je) == 0)
                        printf("broker %s speaks API %d; session %" PRIu64 ", policy generation %" PRIu64
                               ", round trip %" PRIu64 " us\n",
                               str_of(json_get(v, "broker")), delegate_ctx_broker_api(c), delegate_ctx_session(c),
                               u64_of(json_get(v, "policy_generation")), dt);
        }
        delegate_ctx_free(c);
        return 0;
}

int cmd_state(int argc, char **argv) {
        delegate_ctx *c;
        delegate_error e;
        _cleanup_erase_free_ char *res = NULL;
        if (open_ctx(&c, &e) < 0)
                return report_error("connect", &e);
        int r = delegate_state_get(c, &res, &e);
        delegate_ctx_free(c);
        if (r < 0)
                return report_error(DELEGATE_OP_STATE_GET, &e);
        if (arg_json) {
                printf("%s\n", res);
                return 0;
        }
        _cleanup_json_ json_value *v = NULL;
        json_parse_error je;
        if (json_parse(res, strlen(res), false, &v, &je) < 0)
                return 1;
        const json_value *peer = json_get(v, "peer"), *req = json_get(v, "requests"), *ml = json_get(v, "memlock");
        printf("session %" PRIu64 " (vm '%s'): peer pid %" PRIu64 ", uid %" PRIu64 ", cgroup %s\n",
               u64_of(json_get(v, "session")), str_of(json_get(v, "vm")), u64_of(json_get(peer, "pid")),
               u64_of(json_get(peer, "uid")), str_of(json_get(peer, "cgroup")));
        printf("requests: %" PRIu64 " allowed, %" PRIu64 " denied\n", u64_of(json_get(req, "allowed")),
               u64_of(json_get(req, "denied")));
        for (size_t i = 0; ml && ml->type == JSON_ARRAY && i < ml->array.n; i++) {
                char b1[32], b2[32];
                const json_value *m = ml->array.items[i];
                printf("memlock: pid %" PRIu64 " soft %s hard %s\n", u64_of(json_get(m, "pid")),
                       format_size(u64_of(json_get(m, "soft")), b1, sizeof(b1)),
                       format_size(u64_of(json_get(m, "hard")), b2, sizeof(b2)));
        }
        return 0;
}

int cmd_memlock(int argc, char **argv) {
        static const struct option options[] = {
                { "pid", required_argument, NULL, 'p' },
                { "soft", required_argument, NULL, 's' },
                { "hard", required_argument, NULL, 'H' },
                {},
        };
        int64_t pid = -1;
        uint64_t soft = 0, hard = DELEGATE_LIMIT_KEEP;
        bool have_soft = false;
        int ch;
        optind = 1;
        while ((ch = getopt_long(argc, argv, "", options, NULL)) >= 0) {
                char *end;
                switch (ch) {
                case 'p':
                        errno = 0;
                        pid = strtoll(optarg, &end, 10);
                        if (errno || *end || pid < 0 || pid > INT32_MAX)
                                return usage_error("--pid '%s' is not a process id", optarg);
                        break;
                case 's':
                        if (parse_size(optarg, &soft) < 0)
                                return usage_error("--soft '%s' is not a size (e.g. 65536, 64M, 2G, unlimited)",
                                                   optarg);
                        have_soft = true;
                        break;
                case 'H':
                        if (parse_size(optarg, &hard) < 0)
                                return usage_error("--hard '%s' is not a size (e.g. 65536, 64M, 2G, unlimited)",
                                                   optarg);
                        break;
                default:
                        return usage_error("memlock takes --pid P --soft N [--hard N]");
                }
        }
        if (pid < 0 || !have_soft)
                return usage_error("memlock needs --pid and --soft");
        if (optind < argc)
                return usage_error("unexpected argument '%s'", argv[optind]);

        delegate_ctx *c;
        delegate_error e;
        delegate_memlock_result res;
        if (open_ctx(&c, &e) < 0)
                return report_error("connect", &e);
        int r = delegate_memlock_set(c, (pid_t) pid, soft, hard, &res, &e);
        delegate_ctx_free(c);
        if (r < 0)
                return report_error(DELEGATE_OP_MEMLOCK_SET, &e);
        char b1[32], b2[32], b3[32], b4[32];
        if (arg_json) {
                /* the protocol's own result shape, from the one writer of it */
                struct rlimit old = { u64_to_rlim(res.old_soft), u64_to_rlim(res.old_hard) };
                struct rlimit now = { u64_to_rlim(res.soft), u64_to_rlim(res.hard) };
                char out[MEMLOCK_RESULT_MAX];
                memlock_result_format(out, (pid_t) pid, &old, &now);
                printf("%s\n", out);
        } else
                printf("RLIMIT_MEMLOCK of pid %" PRIi64 "%s: soft %s (was %s), hard %s (was %s)\n", pid,
                       pid == 0 ? " (delegatectl itself)" : "",
                       format_size(res.soft, b1, sizeof(b1)), format_size(res.old_soft, b2, sizeof(b2)),
                       format_size(res.hard, b3, sizeof(b3)), format_size(res.old_hard, b4, sizeof(b4)));
        return 0;
}

/* Reconnect to the broker, resuming the session, for up to @timeout_ms. */
static int reconnect(delegate_ctx *c, int timeout_ms, delegate_error *e) {
        unsigned delay_ms = 0;
        for (int waited = 0;; waited += (int) delay_ms) {
                if (delegate_connect(c, e) >= 0) {
                        fprintf(stderr, "delegatectl: reconnected to the broker: %s\n",
                                delegate_ctx_resumed(c) ? "session resumed"
                                                        : "a new session (the broker had not kept the old one)");
                        return 0;
                }
                if (waited >= timeout_ms)
                        return -ETIMEDOUT;
                delay_ms = backoff_next_ms(delay_ms);
                sleep_ms(delay_ms);
        }
}

/*
 * While the command @pid runs, keep the session that holds its TAP devices:
 * the broker never speaks unasked, so its socket turning readable means it
 * went away (a restart); reconnect at once, resuming the session, before
 * the new broker's --resume-timeout undoes it.
 */
static void wait_keeping_session(delegate_ctx *c, pid_t pid) {
        _cleanup_close_ int pfd = (int) syscall(SYS_pidfd_open, pid, 0);
        if (pfd < 0)
                return; /* waitpid() alone */
        for (;;) {
                struct pollfd p[2] = { { pfd, POLLIN, 0 }, { delegate_ctx_fd(c), POLLIN, 0 } };
                if (poll(p, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        return;
                }
                if (p[0].revents)
                        return; /* the command exited */
                if (!p[1].revents)
                        continue;
                delegate_error e;
                char *st = NULL;
                if (delegate_state_get(c, &st, &e) >= 0) {
                        delegate_free_string(st);
                        continue;
                }
                fprintf(stderr, "delegatectl: the broker went away (%s); reconnecting while the command runs\n",
                        e.message);
                while (reconnect(c, 2000, &e) < 0) {
                        struct pollfd q = { pfd, POLLIN, 0 };
                        if (poll(&q, 1, 0) > 0)
                                return; /* the command is done: the caller reconnects for tap.destroy */
                }
        }
}

/*
 * Run @cmd with the @n fds as 3, 4, ... and wait for it, keeping the session;
 * its exit status.  The first @queues are the TAP queues ($DELEGATE_TAP_FDS),
 * the others vhost-net fds ($DELEGATE_VHOST_FDS).
 */
static int run_with_fds(delegate_ctx *c, const char *cmd, const char *name, int *fds, size_t n, size_t queues) {
        char list[DELEGATE_MAX_FDS * 4 + 1] = "", vlist[DELEGATE_MAX_FDS * 4 + 1] = "";
        for (size_t i = 0; i < n; i++) {
                char *l = i < queues ? list : vlist;
                snprintf(l + strlen(l), sizeof(list) - strlen(l), "%s%zu", l[0] ? ":" : "", 3 + i);
        }
        fflush(stdout);
        pid_t pid = fork();
        if (pid < 0) {
                fprintf(stderr, "delegatectl: fork: %m\n");
                return 1;
        }
        if (pid == 0) {
                int hi[DELEGATE_MAX_FDS];
                /* first out of the way of 3..3+n, then into place (dup2 clears O_CLOEXEC) */
                for (size_t i = 0; i < n; i++)
                        if ((hi[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3 + (int) n)) < 0)
                                _exit(127);
                for (size_t i = 0; i < n; i++)
                        if (dup2(hi[i], 3 + (int) i) < 0)
                                _exit(127);
                setenv("DELEGATE_TAP_FDS", list, 1);
                if (vlist[0])
                        setenv("DELEGATE_VHOST_FDS", vlist, 1);
                setenv("DELEGATE_TAP_NAME", name, 1);
                execl("/bin/sh", "sh", "-c", cmd, (char *) NULL);
                _exit(127);
        }
        close_fds(fds, n); /* the command holds the device now */
        wait_keeping_session(c, pid);
        int st;
        while (waitpid(pid, &st, 0) < 0)
                if (errno != EINTR)
                        return 1;
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int cmd_tap_create(int argc, char **argv) {
        static const struct option options[] = {
                { "name", required_argument, NULL, 'n' },     { "queues", required_argument, NULL, 'q' },
                { "vnet-hdr", no_argument, NULL, 'v' },       { "mtu", required_argument, NULL, 'm' },
                { "mac", required_argument, NULL, 'a' },      { "bridge", required_argument, NULL, 'b' },
                { "persist", no_argument, NULL, 'p' },        { "exec", required_argument, NULL, 'e' },
                { "vhost", no_argument, NULL, 'V' },          {},
        };
        const char *name = NULL, *mac = NULL, *bridge = NULL, *exec_cmd = NULL;
        uint64_t queues = 0, mtu = 0;
        bool vnet_hdr = false, persist = false, vhost = false;
        int ch;
        optind = 1;
        while ((ch = getopt_long(argc, argv, "", options, NULL)) >= 0) {
                char *end;
                switch (ch) {
                case 'n':
                        name = optarg;
                        break;
                case 'q':
                case 'm':
                        errno = 0;
                        *(ch == 'q' ? &queues : &mtu) = strtoull(optarg, &end, 10);
                        if (errno || *end || !*optarg || optarg[0] == '-')
                                return usage_error("--%s '%s' is not a number", ch == 'q' ? "queues" : "mtu",
                                                   optarg);
                        break;
                case 'v':
                        vnet_hdr = true;
                        break;
                case 'a':
                        mac = optarg;
                        break;
                case 'b':
                        bridge = optarg;
                        break;
                case 'p':
                        persist = true;
                        break;
                case 'e':
                        exec_cmd = optarg;
                        break;
                case 'V':
                        vhost = true;
                        break;
                default:
                        return usage_error("tap create takes --name N [--queues Q] [--vnet-hdr] [--mtu M] [--mac MAC] "
                                           "[--bridge BR] [--persist] [--vhost] [--exec CMD]");
                }
        }
        if (!name)
                return usage_error("tap create needs --name (a name, or a template like 'vnet%%d')");
        if (optind < argc)
                return usage_error("unexpected argument '%s'", argv[optind]);

        _cleanup_json_gen_ json_gen *g = json_gen_new();
        _cleanup_erase_free_ char *args = NULL, *res = NULL;
        if (!g)
                return 1;
        json_gen_map_open(g);
        json_gen_kv_str(g, "name", name);
        if (queues)
                json_gen_kv_u64(g, "queues", queues);
        if (vnet_hdr)
                json_gen_kv_bool(g, "vnet_hdr", true);
        if (mtu)
                json_gen_kv_u64(g, "mtu", mtu);
        if (mac)
                json_gen_kv_str(g, "mac", mac);
        if (bridge)
                json_gen_kv_str(g, "bridge", bridge);
        if (persist)
                json_gen_kv_bool(g, "persist", true);
        if (vhost)
                json_gen_kv_bool(g, "vhost", true);
        json_gen_map_close(g);
        if (json_gen_take(g, &args, NULL) < 0)
                return 1;

        delegate_ctx *c;
        delegate_error e;
        int fds[DELEGATE_MAX_FDS];
        size_t n = 0;
        if (open_ctx(&c, &e) < 0)
                return report_error("connect", &e);
        if (delegate_call(c, DELEGATE_OP_TAP_CREATE, args, &res, fds, DELEGATE_MAX_FDS, &n, NULL, &e) < 0) {
                delegate_ctx_free(c);
                return report_error(DELEGATE_OP_TAP_CREATE, &e);
        }
        _cleanup_json_ json_value *v = NULL;
        json_parse_error je;
        if (json_parse(res, strlen(res), false, &v, &je) < 0) {
                close_fds(fds, n);
                delegate_ctx_free(c);
                return 1;
        }
        const char *dev = str_of(json_get(v, "name"));
        if (!exec_cmd) {
                if (arg_json)
                        printf("%s\n", res);
                else
                        printf("TAP device %s (ifindex %" PRIu64 "): %" PRIu64 " queue(s)%s, mtu %" PRIu64
                               ", mac %s%s%s%s\n"
                               "(removed when this session ends: use --exec to hand its fds to a command)\n",
                               dev, u64_of(json_get(v, "ifindex")), u64_of(json_get(v, "queues")),
                               vhost ? " with vhost-net fds" : "", u64_of(json_get(v, "mtu")),
                               str_of(json_get(v, "mac")), json_is_string(json_get(v, "bridge")) ? ", bridge " : "",
                               str_of(json_get(v, "bridge")), persist ? ", persistent" : "");
                close_fds(fds, n);
                delegate_ctx_free(c);
                return 0;
        }
        int st = run_with_fds(c, exec_cmd, dev, fds, n, u64_of(json_get(v, "queues")));
        /* a clean shutdown: remove what we created before the session ends; the
         * broker may have gone away meanwhile (restart): reconnect first */
        char dargs[64];
        snprintf(dargs, sizeof(dargs), "{\"name\":\"%s\"}", dev);
        int r = delegate_call(c, DELEGATE_OP_TAP_DESTROY, dargs, NULL, NULL, 0, NULL, NULL, &e);
        if (r < 0 && streq(e.code, "local") && reconnect(c, 60000, &e) >= 0)
                r = delegate_call(c, DELEGATE_OP_TAP_DESTROY, dargs, NULL, NULL, 0, NULL, NULL, &e);
        if (r < 0)
                report_error(DELEGATE_OP_TAP_DESTROY, &e);
        delegate_ctx_free(c);
        return st;
}

int cmd_tap_destroy(int argc, char **argv) {
        if (argc != 2)
                return usage_error("tap destroy takes one interface name");
        _cleanup_json_gen_ json_gen *g = json_gen_new();
        _cleanup_erase_free_ char *args = NULL, *res = NULL;
        if (!g)
                return 1;
        json_gen_map_open(g);
        json_gen_kv_str(g, "name", argv[1]);
        json_gen_map_close(g);
        if (json_gen_take(g, &args, NULL) < 0)
                return 1;
        delegate_ctx *c;
        delegate_error e;
        if (open_ctx(&c, &e) < 0)
                return report_error("connect", &e);
        int r = delegate_call(c, DELEGATE_OP_TAP_DESTROY, args, &res, NULL, 0, NULL, NULL, &e);
        delegate_ctx_free(c);
        if (r < 0)
                return report_error(DELEGATE_OP_TAP_DESTROY, &e);
        printf("%s\n", arg_json ? res : "removed");
        return 0;
}

/* Send @op with @args to the broker; print the result (JSON, or via @show). */
static int call_op(const char *op, const char *args, void (*show)(const json_value *res)) {
        delegate_ctx *c;
        delegate_error e;
        _cleanup_erase_free_ char *res = NULL;
        if (open_ctx(&c, &e) < 0)
                return report_error("connect", &e);
        int r = delegate_call(c, op, args, &res, NULL, 0, NULL, NULL, &e);
        delegate_ctx_free(c);
        if (r < 0)
                return report_error(op, &e);
        if (arg_json) {
                printf("%s\n", res ? res : "{}");
                return 0;
        }
        _cleanup_json_ json_value *v = NULL;
        json_parse_error je;
        if (!res || json_parse(res, strlen(res), false, &v, &je) < 0)
                return 1;
        show(v);
        return 0;
}

static bool parse_id_arg(const char *s, int64_t *ret) {
        char *end;
        errno = 0;
        *ret = strtoll(s, &end, 10);
        return !errno && *end == 0 && *ret >= 0 && *ret <= INT32_MAX && s[0] >= '0' && s[0] <= '9';
}

static void show_moved(const json_value *v) {
        const json_value *list = json_get(v, "threads");
        bool procs = !list;
        if (procs)
                list = json_get(v, "processes");
        printf("cgroup %s (%s%s): %" PRIu64 " moved, %" PRIu64 " failed\n", str_of(json_get(v, "cgroup")),
               str_of(json_get(v, "type")), json_get(v, "created") && json_get(v, "created")->boolean ? ", created" : "",
               u64_of(json_get(v, "moved")), u64_of(json_get(v, "failed")));
        for (size_t i = 0; list && list->type == JSON_ARRAY && i < list->array.n; i++) {
                const json_value *t = list->array.items[i];
                bool ok = json_get(t, "moved") && json_get(t, "moved")->boolean;
                printf("  %s %" PRIu64 ": %s%s\n", procs ? "pid" : "tid", u64_of(json_get(t, procs ? "pid" : "tid")),
                       ok ? "moved to " : "not moved: ", ok ? str_of(json_get(t, "cgroup")) : str_of(json_get(t, "error")));
        }
}

int cmd_cgroup_move(int argc, char **argv) {
        static const struct option options[] = {
                { "target", required_argument, NULL, 't' }, { "tid", required_argument, NULL, 'T' },
                { "pid", required_argument, NULL, 'p' },    { "create", no_argument, NULL, 'c' },
                { "cpus", required_argument, NULL, 'C' },   {},
        };
        _cleanup_json_gen_ json_gen *g = json_gen_new();
        _cleanup_erase_free_ char *args = NULL;
        const char *target = NULL, *cpus = NULL;
        int64_t tids[64], pid = -1;
        size_t n = 0;
        bool create = false;
        int ch;
        optind = 1;
        while ((ch = getopt_long(argc, argv, "", options, NULL)) >= 0) {
                switch (ch) {
                case 't':
                        target = optarg;
                        break;
                case 'T':
                        if (n == ELEMENTSOF(tids) || !parse_id_arg(optarg, &tids[n]))
                                return usage_error("--tid '%s' is not a thread id (at most 64 of them)", optarg);
                        n++;
                        break;
                case 'p':
                        if (!parse_id_arg(optarg, &pid))
                                return usage_error("--pid '%s' is not a process id", optarg);
                        break;
                case 'c':
                        create = true;
                        break;
                case 'C':
                        cpus = optarg;
                        break;
                default:
                        return usage_error("cgroup-move takes --target T (--tid ID... | --pid P) [--create] [--cpus LIST]");
                }
        }
        if (!target || (n == 0) == (pid < 0))
                return usage_error("cgroup-move needs --target and either --tid (repeatable) or --pid");
        if (optind < argc)
                return usage_error("unexpected argument '%s'", argv[optind]);
        if (!g)
                return 1;
        json_gen_map_open(g);
        if (pid >= 0)
                json_gen_kv_i64(g, "pid", pid);
        else {
                json_gen_str(g, "tids");
                json_gen_array_open(g);
                for (size_t i = 0; i < n; i++)
                        json_gen_i64(g, tids[i]);
                json_gen_array_close(g);
        }
        json_gen_kv_str(g, "target", target);
        if (create)
                json_gen_kv_bool(g, "create", true);
        if (cpus)
                json_gen_kv_str(g, "cpus", cpus);
        json_gen_map_close(g);
        if (json_gen_take(g, &args, NULL) < 0)
                return 1;
        return call_op(DELEGATE_OP_CGROUP_MOVE, args, show_moved);
}

static void show_sched(const json_value *v) {
        const json_value *was = json_get(v, "was");
        printf("thread %" PRIu64 ": %s priority %" PRIu64 " nice %s%s on CPUs %s (was %s priority %" PRIu64 ")\n",
               u64_of(json_get(v, "tid")), str_of(json_get(v, "policy")), u64_of(json_get(v, "priority")),
               json_get(v, "nice") ? json_get(v, "nice")->number : "?",
               json_get(v, "reset_on_fork") && json_get(v, "reset_on_fork")->boolean ? ", reset-on-fork" : "",
               str_of(json_get(v, "cpus")), str_of(json_get(was, "policy")), u64_of(json_get(was, "priority")));
}

int cmd_sched(int argc, char **argv) {
        static const struct option options[] = {
                { "tid", required_argument, NULL, 'T' },      { "policy", required_argument, NULL, 'P' },
                { "priority", required_argument, NULL, 'r' }, { "nice", required_argument, NULL, 'n' },
                { "cpus", required_argument, NULL, 'C' },     {},
        };
        _cleanup_json_gen_ json_gen *g = json_gen_new();
        _cleanup_erase_free_ char *args = NULL;
        const char *pol = NULL, *cpus = NULL;
        int64_t tid = -1, prio = 0, nice = 0;
        bool have_prio = false, have_nice = false;
        int ch;
        optind = 1;
        while ((ch = getopt_long(argc, argv, "", options, NULL)) >= 0) {
                char *end;
                switch (ch) {
                case 'T':
                        if (!parse_id_arg(optarg, &tid))
                                return usage_error("--tid '%s' is not a thread id", optarg);
                        break;
                case 'P':
                        pol = optarg;
                        break;
                case 'r':
                case 'n':
                        errno = 0;
                        int64_t x = strtoll(optarg, &end, 10);
                        if (errno || *end || end == optarg)
                                return usage_error("--%s '%s' is not an integer", ch == 'r' ? "priority" : "nice", optarg);
                        if (ch == 'r')
                                prio = x, have_prio = true;
                        else
                                nice = x, have_nice = true;
                        break;
                case 'C':
                        cpus = optarg;
                        break;
                default:
                        return usage_error("sched takes --tid ID --policy P [--priority N] [--nice N] [--cpus LIST]");
                }
        }
        if (tid < 0 || !pol)
                return usage_error("sched needs --tid and --policy (other, batch, idle, fifo, rr)");
        if (optind < argc)
                return usage_error("unexpected argument '%s'", argv[optind]);
        if (!g)
                return 1;
        json_gen_map_open(g);
        json_gen_kv_i64(g, "tid", tid);
        json_gen_kv_str(g, "policy", pol);
        if (have_prio)
                json_gen_kv_i64(g, "priority", prio);
        if (have_nice)
                json_gen_kv_i64(g, "nice", nice);
        if (cpus)
                json_gen_kv_str(g, "cpus", cpus);
        json_gen_map_close(g);
        if (json_gen_take(g, &args, NULL) < 0)
                return 1;
        return call_op(DELEGATE_OP_SCHED_SET, args, show_sched);
}

