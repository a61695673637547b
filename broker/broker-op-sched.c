/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-op-sched.c - sched.set: scheduling policy, priority or nice, and
 * affinity of one thread of the peer or of a descendant (QEMU's vCPUs).
 *
 * Realtime (fifo/rr) borrows rtkit's safety set: SCHED_RESET_ON_FORK
 * always; the target process must run under a finite hard RLIMIT_RTTIME no
 * larger than the rule's max_rttime_us, so a runaway thread is stopped by
 * the kernel; the rule's priority ceiling (checked with the policy); and a
 * burst limit per session.
 *
 * The thread is pinned with a thread pidfd before acting.  A thread id is
 * only reused after its thread is gone, so if the pidfd still answers after
 * sched_setattr() the change hit the right thread; if not, whatever now has
 * that id gets the attributes read just before acting back.
 */
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <syslog.h>
#include <time.h>

#include "broker.h"
#include "proc.h"

#ifndef SCHED_FLAG_RESET_ON_FORK
#define SCHED_FLAG_RESET_ON_FORK 0x01
#endif

/* struct sched_attr of sched_setattr(2), SCHED_ATTR_SIZE_VER0 */
typedef struct sched_attr_v0 {
        uint32_t size;
        uint32_t sched_policy;
        uint64_t sched_flags;
        int32_t sched_nice;
        uint32_t sched_priority;
        uint64_t sched_runtime, sched_deadline, sched_period;
} sched_attr_v0;

static int get_attr(pid_t tid, sched_attr_v0 *a) {
        memset(a, 0, sizeof(*a));
        return syscall(SYS_sched_getattr, tid, a, sizeof(*a), 0) < 0 ? negative_errno() : 0;
}

static int set_attr(pid_t tid, const sched_attr_v0 *a) {
        sched_attr_v0 x = *a;
        x.size = sizeof(x);
        return syscall(SYS_sched_setattr, tid, &x, 0) < 0 ? negative_errno() : 0;
}

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* rtkit's window: at most burst_n changes per burst_usec, counted from the first. */
static bool burst_take(burst_window *w, const policy_rule *rule, uint64_t *retry_usec) {
        if (!rule || rule->sched.burst_n == 0)
                return true;
        uint64_t now = now_usec();
        if (w->count == 0 || now - w->start >= rule->sched.burst_usec) {
                w->start = now;
                w->count = 0;
        }
        if (w->count >= rule->sched.burst_n) {
                *retry_usec = w->start + rule->sched.burst_usec - now;
                return false;
        }
        w->count++;
        return true;
}

static void fmt_usec(uint64_t v, char *buf, size_t size) {
        if (v == UINT64_MAX)
                snprintf(buf, size, "unlimited");
        else
                snprintf(buf, size, "%" PRIu64 " us", v);
}

/* Does the mount line's super options (after " - TYPE SOURCE ") hold controller @ctl? */
static bool opts_have(const char *opts, const char *ctl) {
        size_t n = strlen(ctl);
        for (const char *p = opts; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
                if (strncmp(p, ctl, n) == 0 && (p[n] == ',' || p[n] == 0 || p[n] == '\n' || p[n] == ' '))
                        return true;
        return false;
}

/* Where the cgroup v1 hierarchy with controller "cpu" is mounted: its mount point and root. */
static int cpu_v1_mount(char *mnt, size_t mnt_size, char *root, size_t root_size) {
        _cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
        char line[4096];
        while (f && fgets(line, sizeof(line), f)) {
                char r[1024], m[1024], type[32], src[256], opts[1024];
                const char *sep = strstr(line, " - ");
                if (!sep || sscanf(sep + 3, "%31s %255s %1023s", type, src, opts) != 3 || !streq(type, "cgroup") ||
                    !opts_have(opts, "cpu") || sscanf(line, "%*s %*s %*s %1023s %1023s", r, m) != 2)
                        continue;
                snprintf(mnt, mnt_size, "%s", m);
                snprintf(root, root_size, "%s", r);
                return 0;
        }
        return -ENOENT;
}

/*
 * With RT group scheduling (cgroup v1's cpu controller on this kind of
 * node) a thread whose cpu cgroup has cpu.rt_runtime_us = 0 cannot become
 * SCHED_FIFO/RR: sched_setattr() fails with EPERM whatever our privilege.
 * Container runtimes create cgroups with a budget of 0.  The thread's
 * cgroup when that is the cause, so that the message can say so.
 */
static bool rt_budget_zero(pid_t tgid, pid_t tid, char *where, size_t size) {
        char path[96], mnt[1024], root[1024], file[2600], buf[64];
        snprintf(path, sizeof(path), "/proc/%d/task/%d/cgroup", (int) tgid, (int) tid);
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        char line[1400];
        if (!f || cpu_v1_mount(mnt, sizeof(mnt), root, sizeof(root)) < 0)
                return false;
        while (fgets(line, sizeof(line), f)) {
                line[strcspn(line, "\n")] = 0;
                char *ctl = strchr(line, ':'), *cg = ctl ? strchr(ctl + 1, ':') : NULL;
                if (!cg)
                        continue;
                *cg++ = 0;
                if (!opts_have(ctl + 1, "cpu"))
                        continue;
                const char *rel = cg;
                if (!streq(root, "/")) {
                        size_t n = strlen(root);
                        if (strncmp(cg, root, n) != 0 || (cg[n] && cg[n] != '/'))
                                return false;
                        rel = cg + n;
                }
                snprintf(file, sizeof(file), "%s%s/cpu.rt_runtime_us", mnt, rel);
                _cleanup_fclose_ FILE *g = fopen(file, "re");
                if (!g || !fgets(buf, sizeof(buf), g) || atoll(buf) != 0)
                        return false;
                snprintf(where, size, "%s", cg);
                return true;
        }
        return false;
}

void op_sched_set(request *req, const policy_decision *d) {
        client *c = req->c;
        const policy_rule *rule = d->rule;
        sched_args a;
        delegate_error err;
        peer_thread t;
        char msg[512], b1[64], b2[64];
        bool rt;
        int r;
        /* declared before the first goto: cleanups run on every path */
        _cleanup_json_gen_ yajl_gen g = NULL;
        _cleanup_erase_free_ char *res = NULL;

        if (sched_args_parse(req->args, &a, msg, sizeof(msg)) < 0)
                return request_reply_error(req, ERR_BAD_REQUEST, EINVAL, NULL, "%s", msg);
        rt = a.policy == SCHED_FIFO || a.policy == SCHED_RR;
        r = request_resolve_threads(req, &a.tid, 1, &t, &err);
        if (r < 0)
                return request_reply_delegate_error(req, &err);

        if (rt) {
                uint64_t soft, hard;
                r = proc_rttime_limits(t.host_tgid, &soft, &hard);
                if (r < 0) {
                        request_reply_error(req, ERR_NOT_FOUND, ESRCH, NULL, "thread %d exited", (int) a.tid);
                        goto out;
                }
                uint64_t max = rule ? rule->sched.max_rttime_us : 0;
                if (hard == UINT64_MAX || hard > max) {
                        fmt_usec(hard, b1, sizeof(b1));
                        fmt_usec(max, b2, sizeof(b2));
                        request_reply_error(req, ERR_DENIED, EPERM, rule ? rule->name : NULL,
                                            "realtime scheduling needs the target process to run under a finite "
                                            "RLIMIT_RTTIME no larger than the rule's max_rttime_us (%s); its hard "
                                            "limit is %s: lower it with setrlimit(RLIMIT_RTTIME) first",
                                            b2, b1);
                        goto out;
                }
        }

        uint64_t retry;
        /* per session; D-Bus callers acting for themselves share one window */
        if (!burst_take(c ? &c->sched_burst : &req->b->bus_sched_burst, rule, &retry)) {
                request_reply_error(req, ERR_RATE_LIMITED, EBUSY, rule->name,
                                    "more than %u sched.set in %" PRIu64 " ms for this %s; retry in %" PRIu64 " ms",
                                    rule->sched.burst_n, rule->sched.burst_usec / 1000,
                                    c ? "session" : "broker's sessionless D-Bus callers", (retry + 999) / 1000);
                goto out;
        }

        sched_attr_v0 old, want = {
                .sched_policy = (uint32_t) a.policy,
                .sched_flags = rt ? SCHED_FLAG_RESET_ON_FORK : 0,
                .sched_nice = a.nice,
                .sched_priority = (uint32_t) a.priority,
        };
        cpu_set_t old_cpus, cpus;
        r = get_attr(t.host_tid, &old);
        if (r >= 0 && sched_getaffinity(t.host_tid, sizeof(old_cpus), &old_cpus) < 0)
                r = negative_errno();
        if (r < 0) {
                request_reply_error(req, ERR_NOT_FOUND, ESRCH, NULL, "thread %d exited", (int) a.tid);
                goto out;
        }
        if (a.has_cpus) {
                cpu_mask_to_set(&a.cpus, &cpus);
                if (sched_setaffinity(t.host_tid, sizeof(cpus), &cpus) < 0) {
                        request_reply_error(req, errno == ESRCH ? ERR_NOT_FOUND : ERR_SYSTEM, errno, NULL,
                                            "sched_setaffinity(thread %d, %s) failed: %m%s", (int) a.tid,
                                            cpu_mask_format(&a.cpus, msg, sizeof(msg)),
                                            errno == EINVAL ? " (no CPU of the list is online and allowed to it)"
                                                            : "");
                        goto out;
                }
        }
        r = set_attr(t.host_tid, &want);
        if (r < 0) {
                int e = -r;
                if (a.has_cpus)
                        (void) sched_setaffinity(t.host_tid, sizeof(old_cpus), &old_cpus);
                char cg[1024];
                if (rt && e == EPERM && rt_budget_zero(t.host_tgid, t.host_tid, cg, sizeof(cg))) {
                        request_reply_error(req, ERR_SYSTEM, e, NULL,
                                            "sched_setattr(thread %d, %s) failed: %s: its cpu cgroup '%s' has "
                                            "cpu.rt_runtime_us = 0, no realtime budget (RT group scheduling): the "
                                            "node must give the pod's cgroups one (delegate-broker(8), REALTIME "
                                            "BUDGET)",
                                            (int) a.tid, sched_policy_name(a.policy), strerror(e), cg);
                        goto out;
                }
                request_reply_error(req, e == ESRCH ? ERR_NOT_FOUND : ERR_SYSTEM, e, NULL,
                                    "sched_setattr(thread %d, %s) failed: %s", (int) a.tid,
                                    sched_policy_name(a.policy), strerror(e));
                goto out;
        }

        /* was it still our thread?  (its id cannot be reused while it lives) */
        if (!pidfd_alive(t.pidfd)) {
                (void) set_attr(t.host_tid, &old);
                if (a.has_cpus)
                        (void) sched_setaffinity(t.host_tid, sizeof(old_cpus), &old_cpus);
                request_reply_error(req, ERR_NOT_FOUND, ESRCH, NULL,
                                    "thread %d exited while its scheduling was being changed; the change was undone",
                                    (int) a.tid);
                goto out;
        }

        /* read back from the kernel */
        sched_attr_v0 now;
        if (get_attr(t.host_tid, &now) < 0 || sched_getaffinity(t.host_tid, sizeof(cpus), &cpus) < 0 ||
            !pidfd_alive(t.pidfd)) {
                request_reply_error(req, ERR_NOT_FOUND, ESRCH, NULL, "thread %d exited", (int) a.tid);
                goto out;
        }
        cpu_mask m;
        cpu_mask_from_set(&cpus, &m);
        if (c)
                c->n_sched_changes++;
        log_msg(req->b, LOG_INFO, "session %llu: thread %d is now %s priority %u nice %d on CPUs %s",
                (unsigned long long) req->who.session, (int) t.host_tid, sched_policy_name((int) now.sched_policy),
                now.sched_priority, now.sched_nice, cpu_mask_format(&m, msg, sizeof(msg)));

        g = json_gen_new();
        if (!g) {
                request_reply_error(req, ERR_SYSTEM, ENOMEM, NULL, "out of memory");
                goto out;
        }
        yajl_gen_map_open(g);
        json_gen_kv_i64(g, "tid", a.tid);
        json_gen_kv_str(g, "policy", sched_policy_name((int) now.sched_policy));
        json_gen_kv_i64(g, "priority", now.sched_priority);
        json_gen_kv_i64(g, "nice", now.sched_nice);
        json_gen_kv_bool(g, "reset_on_fork", now.sched_flags & SCHED_FLAG_RESET_ON_FORK);
        json_gen_kv_str(g, "cpus", cpu_mask_format(&m, msg, sizeof(msg)));
        json_gen_str(g, "was");
        yajl_gen_map_open(g);
        json_gen_kv_str(g, "policy", sched_policy_name((int) old.sched_policy));
        json_gen_kv_i64(g, "priority", old.sched_priority);
        json_gen_kv_i64(g, "nice", old.sched_nice);
        yajl_gen_map_close(g);
        yajl_gen_map_close(g);
        if (json_gen_take(g, &res, NULL) < 0)
                request_reply_error(req, ERR_SYSTEM, ENOMEM, NULL, "out of memory");
        else
                request_reply_result(req, res, NULL, 0);
out:
        peer_threads_done(&t, 1);
}
