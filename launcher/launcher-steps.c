/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * launcher-steps.c - the delegated steps, in order, while QEMU is paused:
 *
 *   connect (API 1) -> TAP fds -> fork QEMU held at a gate -> memlock for
 *   its pid -> exec -> QMP: vCPU thread ids -> other threads to the
 *   housekeeping cgroup -> SCHED_FIFO for realtime vCPUs -> cont (or
 *   migrate-incoming).
 *
 * Each step asks the broker; one that fails stops the launch, and QEMU
 * never runs without what it was promised (launch_done()).
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>

#include "launcher.h"
#include "proc.h"
#include "size.h"

#define QMP_TIMEOUT_MS 30000
#define RECONNECT_TIMEOUT_S 60

static bool connection_lost(const delegate_error *e) {
        return streq(e->code, "local") &&
               (e->errno_value == ECONNRESET || e->errno_value == EPIPE || e->errno_value == ENOTCONN ||
                e->errno_value == ECONNREFUSED || e->errno_value == ENOENT);
}

/*
 * One operation through the broker.  When the broker went away (restart),
 * reconnect for up to RECONNECT_TIMEOUT_S, re-read state.get, and retry.
 */
static int call(delegate_ctx *ctx, const vm_spec *s, const char *op, const char *args, char **ret, int *fds,
                size_t max_fds, size_t *n_fds, delegate_error *e) {
        struct timespec start;
        clock_gettime(CLOCK_MONOTONIC, &start);
        unsigned delay_ms = 0;
        for (;;) {
                int r = delegate_call(ctx, op, args, ret, fds, max_fds, n_fds, NULL, e);
                if (r >= 0 || !connection_lost(e))
                        return r;
                struct timespec now;
                clock_gettime(CLOCK_MONOTONIC, &now);
                if (now.tv_sec - start.tv_sec > RECONNECT_TIMEOUT_S)
                        return r;
                launcher_say(s, "%s: the broker went away (%s); reconnecting", op, e->message);
                delay_ms = backoff_next_ms(delay_ms);
                sleep_ms(delay_ms);
                /* resumes the session (the broker kept what it did), then the same request
                 * goes again with the same id: done already, it is answered, not redone */
                char *st = NULL;
                if (delegate_state_get(ctx, &st, e) >= 0)
                        launcher_say(s, "reconnected to the broker: session %" PRIu64 " %s", delegate_ctx_session(ctx),
                                     delegate_ctx_resumed(ctx) ? "resumed" : "(a new one: the broker did not keep the old one)");
                delegate_free_string(st);
        }
}

static int fail(const vm_spec *s, const char *what, const delegate_error *e) {
        fprintf(stderr, "delegate-launcher[%s]: %s failed: %s%s%s%s (%s)\n", s->name, what, e->message,
                e->rule[0] ? " [rule '" : "", e->rule, e->rule[0] ? "']" : "", e->code);
        return -EPERM;
}

/* bridge.create's arguments for @n (names from the spec are written as JSON strings, escaped); NULL: no memory. */
static char *bridge_args(const nic_spec *n) {
        _cleanup_json_gen_ json_gen *g = json_gen_new();
        char *args = NULL;
        if (!g)
                return NULL;
        json_gen_map_open(g);
        json_gen_kv_str(g, "name", n->bridge);
        if (n->mtu)
                json_gen_kv_u64(g, "mtu", n->mtu);
        json_gen_str(g, "enslave");
        json_gen_array_open(g);
        for (size_t k = 0; k < n->n_enslave; k++)
                json_gen_str(g, n->enslave[k]);
        json_gen_array_close(g);
        json_gen_map_close(g);
        return json_gen_take(g, &args, NULL) < 0 ? NULL : args;
}

/* tap.create's arguments for @n, with or without vhost-net; NULL: no memory. */
static char *tap_args(const nic_spec *n, bool vhost) {
        _cleanup_json_gen_ json_gen *g = json_gen_new();
        char *args = NULL;
        if (!g)
                return NULL;
        json_gen_map_open(g);
        json_gen_kv_str(g, "name", "vnet%d");
        json_gen_kv_u64(g, "queues", n->queues);
        json_gen_kv_bool(g, "vnet_hdr", true);
        if (n->mtu)
                json_gen_kv_u64(g, "mtu", n->mtu);
        if (n->mac[0])
                json_gen_kv_str(g, "mac", n->mac);
        if (n->bridge[0])
                json_gen_kv_str(g, "bridge", n->bridge);
        if (vhost)
                json_gen_kv_bool(g, "vhost", true);
        json_gen_map_close(g);
        return json_gen_take(g, &args, NULL) < 0 ? NULL : args;
}

/* bridge.create for a NIC that asks for it (once per bridge), before its TAP. */
static int create_bridge(delegate_ctx *ctx, const vm_spec *s, size_t i) {
        const nic_spec *n = &s->nics[i];
        delegate_error e;
        _cleanup_erase_free_ char *res = NULL, *args = NULL;
        for (size_t k = 0; k < i; k++)
                if (s->nics[k].bridge_create && streq(s->nics[k].bridge, n->bridge))
                        return 0;
        if (!(args = bridge_args(n)))
                return -ENOMEM;
        if (call(ctx, s, DELEGATE_OP_BRIDGE_CREATE, args, &res, NULL, 0, NULL, &e) < 0)
                return fail(s, DELEGATE_OP_BRIDGE_CREATE, &e);
        launcher_say(s, "bridge %s for nic %s from the broker: %s", n->bridge, n->id, res);
        return 0;
}

static int create_taps(delegate_ctx *ctx, const vm_spec *s, int (*fds)[NIC_MAX_QUEUES], size_t *n_fds) {
        for (size_t i = 0; i < s->n_nics; i++) {
                const nic_spec *n = &s->nics[i];
                if (n->bridge_create && create_bridge(ctx, s, i) < 0)
                        return -EPERM;
                delegate_error e;
                _cleanup_erase_free_ char *res = NULL;
                bool vhost = n->vhost != NIC_VHOST_OFF;
                _cleanup_erase_free_ char *args = tap_args(n, vhost);
                if (!args)
                        return -ENOMEM;
                int r = call(ctx, s, DELEGATE_OP_TAP_CREATE, args, &res, fds[i], NIC_MAX_QUEUES, &n_fds[i], &e);
                if (r < 0 && n->vhost == NIC_VHOST_OPTIONAL && (streq(e.code, "unsupported") || streq(e.code, "denied"))) {
                        launcher_say(s, "nic %s: no vhost-net (%s); \"vhost\": \"optional\": QEMU's own virtio-net instead", n->id,
                                     e.message);
                        vhost = false;
                        erase_free(args);
                        if (!(args = tap_args(n, false)))
                                return -ENOMEM;
                        r = call(ctx, s, DELEGATE_OP_TAP_CREATE, args, &res, fds[i], NIC_MAX_QUEUES, &n_fds[i], &e);
                }
                if (r < 0)
                        return fail(s, DELEGATE_OP_TAP_CREATE, &e);
                /* the TAP queues, then (with vhost) as many vhost-net fds: qemu_build_argv() tells them apart by count */
                if (n_fds[i] != n->queues * (vhost ? 2 : 1)) {
                        fprintf(stderr, "delegate-launcher[%s]: tap.create returned %zu fds for %u queues%s\n", s->name,
                                n_fds[i], n->queues, vhost ? " with vhost" : "");
                        return -EIO;
                }
                _cleanup_json_ json_value *v = NULL;
                json_parse_error je;
                const char *name = "?";
                if (json_parse(res, strlen(res), false, &v, &je) == 0 && json_get(v, "name") &&
                    json_get(v, "name")->type == JSON_STRING)
                        name = json_get(v, "name")->string.str;
                launcher_say(s, "TAP %s for nic %s: %u queue(s), vnet_hdr%s%s%s, fds from the broker", name, n->id, n->queues,
                             vhost ? ", vhost-net" : "", n->bridge[0] ? ", on bridge " : "", n->bridge);
        }
        return 0;
}

static int set_memlock(delegate_ctx *ctx, const vm_spec *s, pid_t qemu) {
        uint64_t want = vm_spec_memlock(s), soft, hard;
        char b1[32], b2[32], b3[32];
        if (want == 0) {
                launcher_say(s, "memlock: nothing to ask (memlock \"auto\" and QEMU does not lock its memory)");
                return 0;
        }
        if (proc_memlock_limits(qemu, &soft, &hard) < 0)
                return -ESRCH;
        delegate_error e;
        char args[128];
        _cleanup_erase_free_ char *res = NULL;
        _cleanup_json_ json_value *v = NULL;
        json_parse_error je;
        /* raise the hard limit only when it is too low: that needs the broker's CAP_SYS_RESOURCE */
        int n = snprintf(args, sizeof(args), "{\"pid\":%d,\"soft\":%" PRIu64, (int) qemu, want);
        snprintf(args + n, sizeof(args) - n, want > hard ? ",\"hard\":%" PRIu64 "}" : "}", want);
        if (call(ctx, s, DELEGATE_OP_MEMLOCK_SET, args, &res, NULL, 0, NULL, &e) < 0)
                return fail(s, DELEGATE_OP_MEMLOCK_SET, &e);
        uint64_t now_soft = 0, now_hard = 0, old_soft = 0;
        if (json_parse(res, strlen(res), false, &v, &je) < 0 || json_to_size(json_get(v, "soft"), &now_soft) < 0 ||
            json_to_size(json_get(v, "hard"), &now_hard) < 0 ||
            json_to_size(json_get(json_get(v, "old"), "soft"), &old_soft) < 0) {
                fprintf(stderr, "delegate-launcher[%s]: memlock.set: unexpected result %s\n", s->name, res);
                return -EBADMSG;
        }
        launcher_say(s, "memlock of QEMU (pid %d): soft %s, hard %s (was soft %s); %s", (int) qemu,
                     format_size(now_soft, b1, sizeof(b1)), format_size(now_hard, b2, sizeof(b2)),
                     format_size(old_soft, b3, sizeof(b3)),
                     s->memlock_auto ? "\"auto\": guest RAM + 256 MiB + 16 MiB per vCPU" : "bytes from the spec");
        return 0;
}

/*
 * A QMP step failed with @r and @err.  When QEMU closed QMP because it is
 * exiting, its exit status and last words say more: report those instead.
 */
static int qmp_failed(const vm_spec *s, qemu_proc *qp, int r, const char *err) {
        if (r == -ECONNRESET && qemu_exit_report(s, qp, 5000))
                return r;
        fprintf(stderr, "delegate-launcher[%s]: %s\n", s->name, err);
        return r;
}

/* vCPU index -> thread id, from query-cpus-fast */
static int vcpu_threads(qmp *q, qemu_proc *qp, const vm_spec *s, pid_t *tids, size_t max, size_t *n) {
        char err[512];
        _cleanup_json_ json_value *v = NULL;
        int r = qmp_execute(q, "query-cpus-fast", NULL, &v, QMP_TIMEOUT_MS, err, sizeof(err));
        if (r < 0)
                return qmp_failed(s, qp, r, err);
        if (qmp_vcpu_threads_parse(v, tids, max, n) < 0) {
                fprintf(stderr, "delegate-launcher[%s]: query-cpus-fast: QEMU's answer is not a table of "
                        "distinct vCPU indexes 0..n-1 with thread ids\n", s->name);
                return -EBADMSG;
        }
        if (*n != s->vcpus) {
                fprintf(stderr, "delegate-launcher[%s]: QEMU reports %zu vCPUs, the spec says %u\n", s->name, *n,
                        s->vcpus);
                return -EIO;
        }
        return 0;
}

static int housekeeping(delegate_ctx *ctx, const vm_spec *s, pid_t qemu, const pid_t *vcpus, size_t n_vcpus) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/task", (int) qemu);
        _cleanup_(closedirp) DIR *d = opendir(path);
        if (!d)
                return -ESRCH;
        _cleanup_json_gen_ json_gen *g = json_gen_new();
        _cleanup_erase_free_ char *args = NULL, *res = NULL;
        size_t n = 0;
        if (!g)
                return -ENOMEM;
        json_gen_map_open(g);
        json_gen_str(g, "tids");
        json_gen_array_open(g);
        for (struct dirent *de; (de = readdir(d));) {
                pid_t t = (pid_t) atoi(de->d_name);
                bool vcpu = false;
                for (size_t i = 0; i < n_vcpus; i++)
                        vcpu = vcpu || vcpus[i] == t;
                if (t <= 0 || vcpu)
                        continue;
                json_gen_i64(g, t);
                n++;
        }
        json_gen_array_close(g);
        json_gen_kv_str(g, "target", s->housekeeping);
        json_gen_kv_bool(g, "create", true);
        json_gen_map_close(g);
        if (json_gen_take(g, &args, NULL) < 0)
                return -ENOMEM;
        delegate_error e;
        if (call(ctx, s, DELEGATE_OP_CGROUP_MOVE, args, &res, NULL, 0, NULL, &e) < 0)
                return fail(s, DELEGATE_OP_CGROUP_MOVE, &e);
        _cleanup_json_ json_value *v = NULL;
        json_parse_error je;
        uint64_t moved = 0, failed = 0;
        const char *cg = "?";
        if (json_parse(res, strlen(res), false, &v, &je) == 0) {
                json_to_u64(json_get(v, "moved"), &moved);
                json_to_u64(json_get(v, "failed"), &failed);
                if (json_get(v, "cgroup") && json_get(v, "cgroup")->type == JSON_STRING)
                        cg = json_get(v, "cgroup")->string.str;
        }
        if (failed > 0) {
                fprintf(stderr, "delegate-launcher[%s]: cgroup.move: %" PRIu64 " of %zu threads not moved: %s\n",
                        s->name, failed, n, res);
                return -EIO;
        }
        launcher_say(s, "housekeeping: %" PRIu64 " non-vCPU thread(s) of QEMU moved to %s", moved, cg);
        return 0;
}

/*
 * The host CPUs of the @k-th realtime vCPU (safety "dedicated"): one CPU
 * each, in order, when the spec lists as many CPUs as realtime vCPUs; else
 * every CPU of the list.
 */
static void rt_vcpu_cpus(const vm_spec *s, size_t k, cpu_mask *ret) {
        size_t n_vcpus = 0, n_cpus = 0;
        for (unsigned i = 0; i < CPU_MASK_MAX; i++) {
                n_vcpus += cpu_mask_test(&s->rt_vcpus, i);
                n_cpus += cpu_mask_test(&s->rt_cpus, i);
        }
        *ret = s->rt_cpus;
        if (n_vcpus != n_cpus)
                return;
        memset(ret, 0, sizeof(*ret));
        for (unsigned i = 0; i < CPU_MASK_MAX; i++)
                if (cpu_mask_test(&s->rt_cpus, i) && k-- == 0) {
                        cpu_mask_set(ret, i);
                        return;
                }
}

static int realtime(delegate_ctx *ctx, const vm_spec *s, const pid_t *vcpus, size_t n_vcpus) {
        for (size_t i = 0, k = 0; i < n_vcpus; i++) {
                if (!cpu_mask_test(&s->rt_vcpus, (unsigned) i))
                        continue;
                char args[256], cpus[128] = "", how[320];
                delegate_error e;
                _cleanup_erase_free_ char *res = NULL;
                if (s->rt_dedicated) {
                        cpu_mask m;
                        rt_vcpu_cpus(s, k++, &m);
                        cpu_mask_format(&m, cpus, sizeof(cpus));
                        snprintf(how, sizeof(how), "on host CPU(s) %s (safety \"dedicated\": no RLIMIT_RTTIME, "
                                 "the kernel's RT throttling)", cpus);
                } else
                        snprintf(how, sizeof(how), "RLIMIT_RTTIME %" PRIu64 " us", s->rt_rttime_us);
                snprintf(args, sizeof(args), "{\"tid\":%d,\"policy\":\"fifo\",\"priority\":%d%s%s%s}",
                         (int) vcpus[i], s->rt_priority, cpus[0] ? ",\"cpus\":\"" : "", cpus, cpus[0] ? "\"" : "");
                if (call(ctx, s, DELEGATE_OP_SCHED_SET, args, &res, NULL, 0, NULL, &e) < 0)
                        return fail(s, DELEGATE_OP_SCHED_SET, &e);
                launcher_say(s, "vCPU %zu (tid %d): SCHED_FIFO priority %d, reset-on-fork, %s", i, (int) vcpus[i],
                             s->rt_priority, how);
        }
        return 0;
}

/* QEMU must still be paused when every step is done: "prelaunch" (-S) or "inmigrate". */
static int check_paused(qmp *q, qemu_proc *qp, const vm_spec *s, const char *want) {
        char err[512];
        _cleanup_json_ json_value *v = NULL;
        int r = qmp_execute(q, "query-status", NULL, &v, QMP_TIMEOUT_MS, err, sizeof(err));
        if (r < 0)
                return qmp_failed(s, qp, r, err);
        const json_value *st = json_get(v, "status");
        const char *status = st && st->type == JSON_STRING ? st->string.str : "(none)";
        if (!streq(status, want)) {
                fprintf(stderr, "delegate-launcher[%s]: QEMU's status is '%s' before it was resumed, not '%s'\n",
                        s->name, status, want);
                return -EIO;
        }
        launcher_say(s, "every step done while QEMU is paused (query-status: %s)", status);
        return 0;
}

void launch_init(launch *l, vm_spec *s, const char *socket, const char *incoming) {
        *l = (launch) {
                .s = s,
                .socket = socket,
                .incoming = incoming,
                .t_start = mono_us(),
                .qp = { .pid = -1, .gate = -EBADF, .err_fd = -EBADF },
                .q = { .fd = -EBADF },
                .kh = { .lfd = -EBADF, .key_fd = -EBADF },
                .qmp_pair = { -EBADF, -EBADF },
        };
}

int launch_steps(launch *l) {
        vm_spec *s = l->s;
        char err[1024], why[256];
        delegate_error e;

        /* 1. the broker, API version 1 */
        int64_t t_session = mono_us(); /* the launcher's own start (privileges, spec, devices, signals) until here */
        if (delegate_ctx_new(DELEGATE_API_VERSION, &l->ctx, &e) < 0) {
                fprintf(stderr, "delegate-launcher: %s\n", e.message);
                return -ENOMEM;
        }
        delegate_ctx_set_identity(l->ctx, "delegate-launcher", s->name);
        delegate_ctx_set_mode(l->ctx, DELEGATE_MODE_BROKER);
        if (l->socket)
                delegate_ctx_set_socket(l->ctx, l->socket);
        int cr;
        /* the broker's crash-loop back-off: wait as long as it says, then try again */
        while ((cr = delegate_connect(l->ctx, &e)) < 0 && streq(e.code, "rate-limited") && e.retry_after_ms > 0) {
                launcher_say(s, "the broker asks to wait %u ms: %s", e.retry_after_ms, e.message);
                sleep_ms(e.retry_after_ms);
        }
        if (cr < 0) {
                fprintf(stderr, "delegate-launcher[%s]: cannot start a session with the broker: %s\n", s->name,
                        e.message);
                return -EIO;
        }
        launcher_say(s, "session %" PRIu64 " with the broker (API %d), pod cgroup %s", delegate_ctx_session(l->ctx),
                     delegate_ctx_broker_api(l->ctx), delegate_ctx_pod_cgroup(l->ctx));

        /* 2. TAPs, QEMU's command line, QEMU held at its gate */
        int64_t t_taps = mono_us();
        if (create_taps(l->ctx, s, l->fds, l->n_fds) < 0)
                return -EIO;
        int64_t t_fork = mono_us(); /* then KVMI's channel, QEMU's command line and its fork */
        if (s->kvmi) {
                if (kvmi_hand_prepare(l->ctx, s, &l->kh, err, sizeof(err)) < 0) {
                        fprintf(stderr, "delegate-launcher[%s]: KVMI: %s\n", s->name, err);
                        return -EIO;
                }
                launcher_say(s, "KVMI: QEMU connects to %s (reconnect=%u, %s); each connection goes to the broker", l->kh.sock,
                             s->kvmi_reconnect_s, s->kvmi_keyed ? "keyed" : "unkeyed");
        }
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, l->qmp_pair) < 0) {
                fprintf(stderr, "delegate-launcher: socketpair: %m\n");
                return -EIO;
        }
        const char *accel = qemu_pick_accel(s, why, sizeof(why));
        int *fd_lists[SPEC_MAX_NICS];
        int keep[2 + SPEC_MAX_NICS * NIC_MAX_QUEUES + SPEC_MAX_DISKS];
        size_t n_keep = 0;
        keep[n_keep++] = l->qmp_pair[1];
        if (l->kh.key_fd >= 0)
                keep[n_keep++] = l->kh.key_fd;
        for (size_t i = 0; i < s->n_disks; i++)
                if (s->disks[i].key_fd >= 0)
                        keep[n_keep++] = s->disks[i].key_fd;
        for (size_t i = 0; i < s->n_nics; i++) {
                fd_lists[i] = l->fds[i];
                for (size_t k = 0; k < l->n_fds[i]; k++)
                        keep[n_keep++] = l->fds[i][k];
        }
        if (qemu_build_argv(s, accel, l->qmp_pair[1], fd_lists, l->n_fds, l->incoming, &l->qp) < 0 ||
            qemu_fork(s, &l->qp, keep, n_keep) < 0) {
                fprintf(stderr, "delegate-launcher[%s]: cannot start QEMU: %m\n", s->name);
                return -EIO;
        }
        l->qmp_pair[1] = safe_close(l->qmp_pair[1]);
        devices_close_keys(s); /* the held child has its own copies */
        kvmi_hand_forget_key(&l->kh);
        for (size_t i = 0; i < s->n_nics; i++)
                for (size_t k = 0; k < l->n_fds[i]; k++)
                        l->fds[i][k] = safe_close(l->fds[i][k]);
        launcher_say(s, "QEMU pid %d, accel %s (%s)", (int) l->qp.pid, accel, why);

        /* 3. memlock for QEMU's pid, before QEMU runs (it may lock memory at start) */
        int64_t t_gate = mono_us();
        if (set_memlock(l->ctx, s, l->qp.pid) < 0)
                return -EIO;
        int64_t t_exec = mono_us();
        qemu_release(&l->qp);

        /* 4. QMP: vCPU threads; housekeeping; realtime */
        if (qmp_init(&l->q, TAKE_FD(l->qmp_pair[0])) < 0) {
                fprintf(stderr, "delegate-launcher[%s]: out of memory\n", s->name);
                return -EIO;
        }
        int r = qmp_handshake(&l->q, QMP_TIMEOUT_MS, err, sizeof(err));
        if (r < 0) {
                qmp_failed(s, &l->qp, r, err);
                return -EIO;
        }
        int64_t t_qmp = mono_us();
        pid_t vcpus[SPEC_MAX_VCPUS];
        size_t n_vcpus = 0;
        if (vcpu_threads(&l->q, &l->qp, s, vcpus, SPEC_MAX_VCPUS, &n_vcpus) < 0)
                return -EIO;
        int64_t t_cpus = mono_us();
        if (s->housekeeping && housekeeping(l->ctx, s, l->qp.pid, vcpus, n_vcpus) < 0)
                return -EIO;
        int64_t t_hk = mono_us();
        if (s->realtime && realtime(l->ctx, s, vcpus, n_vcpus) < 0)
                return -EIO;
        int64_t t_rt = mono_us();

        /* 5. run (what QEMU said so far goes to the log first) */
        (void) qemu_stderr_pump(&l->qp);
        if (check_paused(&l->q, &l->qp, s, l->incoming ? "inmigrate" : "prelaunch") < 0)
                return -EIO;
        int64_t t_status = mono_us();
        if (l->incoming) {
                _cleanup_json_gen_ json_gen *g = json_gen_new();
                _cleanup_erase_free_ char *a = NULL;
                if (!g)
                        return -EIO;
                json_gen_map_open(g);
                json_gen_kv_str(g, "uri", l->incoming);
                json_gen_map_close(g);
                if (json_gen_take(g, &a, NULL) < 0)
                        return -EIO;
                r = qmp_execute(&l->q, "migrate-incoming", a, NULL, QMP_TIMEOUT_MS, err, sizeof(err));
                if (r < 0) {
                        qmp_failed(s, &l->qp, r, err);
                        return -EIO;
                }
                launcher_say(s, "incoming migration from %s: the guest runs when it completes", l->incoming);
        } else {
                r = qmp_execute(&l->q, "cont", NULL, NULL, QMP_TIMEOUT_MS, err, sizeof(err));
                if (r < 0) {
                        qmp_failed(s, &l->qp, r, err);
                        return -EIO;
                }
                int64_t t_run = mono_us();
                /* what delegation added to this VM's start (the launcher's own start and session, TAPs, memlock
                 * before exec; housekeeping and realtime once QMP is ready), apart from QEMU's answers on QMP */
                double ms_start = (t_session - l->t_start) / 1000.0, ms_session = (t_taps - t_session) / 1000.0,
                       ms_taps = (t_fork - t_taps) / 1000.0, ms_fork = (t_gate - t_fork) / 1000.0,
                       ms_memlock = (t_exec - t_gate) / 1000.0,
                       ms_hk = (t_hk - t_cpus) / 1000.0, ms_rt = (t_rt - t_hk) / 1000.0,
                       ms_cpus = (t_cpus - t_qmp) / 1000.0, ms_status = (t_status - t_rt) / 1000.0,
                       ms_cont = (t_run - t_status) / 1000.0;
                launcher_say(s, "guest running %.1f ms after the launcher started, %.1f ms after QEMU's exec; the delegated "
                             "steps took %.1f ms (start %.1f ms, session %.1f ms, TAPs %.1f ms, fork %.1f ms, memlock "
                             "%.1f ms before exec; housekeeping %.1f ms, realtime %.1f ms after QMP was ready); QEMU's "
                             "QMP answers took %.1f ms (query-cpus-fast %.1f ms, query-status %.1f ms, cont %.1f ms)",
                             (t_run - l->t_start) / 1000.0, (t_run - t_exec) / 1000.0,
                             ms_start + ms_session + ms_taps + ms_fork + ms_memlock + ms_hk + ms_rt, ms_start,
                             ms_session, ms_taps, ms_fork, ms_memlock, ms_hk, ms_rt, ms_cpus + ms_status + ms_cont,
                             ms_cpus, ms_status, ms_cont);
        }
        return 0;
}

void launch_done(launch *l) {
        /* a step failed: if QEMU is gone already, say how it ended; else stop it */
        if (l->qp.pid > 0 && !qemu_exit_report(l->s, &l->qp, 0)) {
                /* a step failed: QEMU must not run without what it was promised */
                qemu_proc_done(&l->qp);
                kill(l->qp.pid, SIGKILL);
                waitpid(l->qp.pid, NULL, 0);
        } else
                qemu_proc_done(&l->qp);
        qmp_done(&l->q);
        kvmi_hand_done(&l->kh);
        safe_close(l->qmp_pair[0]);
        safe_close(l->qmp_pair[1]);
        for (size_t i = 0; i < l->s->n_nics; i++)
                for (size_t k = 0; k < l->n_fds[i]; k++)
                        safe_close(l->fds[i][k]);
        delegate_ctx_free(l->ctx);
}
