/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-op-sched.c - sched.set: scheduling policy, priority or nice, and
 * affinity of one thread of the peer or of a descendant (QEMU's vCPUs).
 *
 * Realtime (fifo/rr) always gets SCHED_RESET_ON_FORK, the rule's priority
 * ceiling (checked with the policy) and a burst limit per session; what
 * keeps a busy realtime thread from starving the node is the rule's
 * "safety" (delegate-policy(5)):
 *   rttime     rtkit's rule: the target process must run under a finite hard
 *              RLIMIT_RTTIME no larger than max_rttime_us, so the kernel
 *              kills a thread that runs that long without sleeping;
 *   dedicated  for vCPUs that never sleep: the thread is confined to the
 *              rule's cpus (set here, read back from the kernel), and only
 *              while the kernel's RT throttling is in force, read from
 *              /proc/sys/kernel at each decision, so that the other tasks
 *              of that CPU keep the rest of every period.
 * Where the kernel gives cgroups an RT budget (cgroup v1 cpu with
 * CONFIG_RT_GROUP_SCHED), sched_setattr() refuses a target whose group has
 * none with a bare EPERM while RT throttling is on; the broker then reads
 * that group and says what is missing.
 *
 * The thread is pinned with a thread pidfd before acting.  A thread id is
 * only reused after its thread is gone, so if the pidfd still answers after
 * sched_setattr() the change hit the right thread; if not, whatever now has
 * that id gets the attributes read just before acting back.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <sys/pidfd.h>
#include <sys/syscall.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "broker-op.h"

/* session_part_sched: c->part[SESSION_PART_sched] */
typedef struct sched_session {
        uint64_t n_changes;
        burst_window burst; /* the sched.set burst window (per session, as rtkit's per-user window) */
        /* the hard RLIMIT_RTTIME last read from /proc of a process, kept with that process pinned */
        pid_t rt_tgid; /* 0: none; else the process of rt_pidfd, whose hard limit was rt_hard */
        int rt_pidfd;
        uint64_t rt_hard;
        peer_thread_kept thread; /* the last thread named, kept pinned (broker-peer.c) */
} sched_session;

static sched_session *SS(const client *c) {
        return c->part[SESSION_PART_sched];
}
#include "proc.h"

#ifndef SCHED_FLAG_RESET_ON_FORK
#define SCHED_FLAG_RESET_ON_FORK 0x01
#endif

static int get_attr(pid_t tid, sched_attr_v0 *a) {
        memset(a, 0, sizeof(*a));
        return syscall(SYS_sched_getattr, tid, a, sizeof(*a), 0) < 0 ? negative_errno() : 0;
}

static int set_attr(pid_t tid, const sched_attr_v0 *a) {
        sched_attr_v0 x = *a;
        x.size = sizeof(x);
        return syscall(SYS_sched_setattr, tid, &x, 0) < 0 ? negative_errno() : 0;
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

static void rt_kept_drop(sched_session *s) {
        if (s->rt_tgid)
                safe_close(s->rt_pidfd);
        s->rt_tgid = 0;
        s->rt_pidfd = -EBADF;
}

/*
 * The hard RLIMIT_RTTIME of the pinned thread @t's process, for a rule
 * whose max_rttime_us is @max.  prlimit(2) where the kernel lets the broker
 * read another process's limits (CAP_SYS_RESOURCE, or our real uid and gid
 * being the target's real, effective and saved ones); else its
 * /proc/PID/limits (17 lines: a header and one per limit).  A session
 * keeps what it read there for its last target process, with that process
 * pinned (a pidfd), and uses it again while that process lives and the
 * value is within @max: no process can raise its own hard limit (or
 * another's) without CAP_SYS_RESOURCE in the initial user namespace (the
 * root of a user namespace cannot raise a hard limit), and one holding it
 * could as well raise it just after any reading.  A value above @max is
 * read again (the process may have lowered it since).  Either way by pid:
 * the caller checks after acting that the thread (so its process, which
 * holds that pid while it lives) is still there; the pinned process, alive
 * now, held that pid when the thread was asked about, so it is the
 * thread's.  On failure @err says what failed (the pidfd, the file;
 * "exited" when the process is gone).
 */
static int rttime_hard(request *req, const peer_thread *t, pid_t tid, uint64_t max, uint64_t *ret, op_error *err) {
        struct rlimit rl;
        uint64_t soft;
        /* our real ids are its (the kernel's same-credentials rule for prlimit()) */
        bool ours = t->have_ids && proc_ids_all_same(t->uid, t->gid) && broker_ids_are(t->uid[0], t->gid[0]);
        if ((req->b->cap_sys_resource || ours) && prlimit(t->host_tgid, RLIMIT_RTTIME, NULL, &rl) == 0) {
                *ret = rlim_to_u64(rl.rlim_max);
                return 0;
        }
        int r;
        if (!req->c) {
                r = proc_rttime_limits(t->host_tgid, &soft, ret);
                return r < 0 ? thread_read_failed(err, r, tid, "/proc/PID/limits") : 0;
        }
        sched_session *s = SS(req->c);
        if (s->rt_tgid == t->host_tgid && s->rt_hard <= max && pidfd_alive(s->rt_pidfd)) {
                *ret = s->rt_hard;
                return 0;
        }
        rt_kept_drop(s);
        /* pinned before reading: if its pid changes hands in between, the pidfd is dead and never used */
        _cleanup_close_ int pidfd = pidfd_open(t->host_tgid, 0);
        if (pidfd < 0) {
                int e = errno;
                if (e == ESRCH) /* its process is gone, with the thread */
                        return thread_read_failed(err, -e, tid, "/proc/PID/limits");
                return op_error_set(err, -e, ERR_SYSTEM, e, "cannot pin the process of thread %d to read its "
                                    "RLIMIT_RTTIME: pidfd_open() failed: %s", (int) tid, strerror(e));
        }
        r = proc_rttime_limits(t->host_tgid, &soft, ret);
        if (r < 0)
                return thread_read_failed(err, r, tid, "/proc/PID/limits");
        s->rt_tgid = t->host_tgid;
        s->rt_pidfd = TAKE_FD(pidfd);
        s->rt_hard = *ret;
        return 0;
}

/*
 * Is the kernel's RT throttling in force now?  0 when realtime tasks get at
 * most sched_rt_runtime_us of every sched_rt_period_us; else -EPERM with
 * @msg saying what the kernel has.
 */
static int rt_throttling_check(char *msg, size_t size) {
        int64_t runtime, period;
        if (proc_read_i64("/proc/sys/kernel/sched_rt_runtime_us", &runtime) < 0 ||
            proc_read_i64("/proc/sys/kernel/sched_rt_period_us", &period) < 0) {
                snprintf(msg, size, "the kernel's RT throttling cannot be read (/proc/sys/kernel/sched_rt_runtime_us)");
                return -EPERM;
        }
        if (runtime < 0) {
                snprintf(msg, size, "the kernel's RT throttling is off (sched_rt_runtime_us is -1): a busy realtime "
                         "thread would own its CPU; safety \"dedicated\" needs it on (e.g. 950000 of %" PRId64 ")",
                         period);
                return -EPERM;
        }
        if (runtime >= period) {
                snprintf(msg, size, "the kernel's RT throttling leaves nothing to other tasks (sched_rt_runtime_us "
                         "%" PRId64 " of sched_rt_period_us %" PRId64 "); safety \"dedicated\" needs it below the "
                         "period", runtime, period);
                return -EPERM;
        }
        return 0;
}

/*
 * The rule's safety model for a realtime request on thread @t (asked as
 * @tid): 0 to go on, or -EPERM after replying why not.
 */
static int rt_safety_check(request *req, const policy_rule *rule, peer_thread *t, pid_t tid) {
        char msg[400], b1[64], b2[64];
        op_error err;
        if (rule && rule->sched.safety == RT_SAFETY_DEDICATED) {
                if (rt_throttling_check(msg, sizeof(msg)) < 0) {
                        request_reply_error(req, ERR_DENIED, EPERM, rule->name, "%s", msg);
                        return -EPERM;
                }
                return 0;
        }
        uint64_t hard, max = rule ? rule->sched.max_rttime_us : 0;
        int r = rttime_hard(req, t, tid, max, &hard, &err);
        if (r < 0) {
                request_fail(req, &err);
                return r;
        }
        if (hard == UINT64_MAX || hard > max) {
                fmt_usec(hard, b1, sizeof(b1));
                fmt_usec(max, b2, sizeof(b2));
                request_reply_error(req, ERR_DENIED, EPERM, rule ? rule->name : NULL,
                                    "realtime scheduling needs the target process to run under a finite "
                                    "RLIMIT_RTTIME no larger than the rule's max_rttime_us (%s); its hard "
                                    "limit is %s: lower it with setrlimit(RLIMIT_RTTIME) first",
                                    b2, b1);
                return -EPERM;
        }
        return 0;
}

/*
 * sched_setattr() refused realtime for @t with EPERM: where cgroups have an
 * RT budget (cgroup v1 cpu, CONFIG_RT_GROUP_SCHED) the kernel refuses a
 * group that has none while its RT throttling is on, so then the thread's
 * group is read now.  True after replying: its cpu.rt_runtime_us is 0
 * ("denied" naming it), or the thread is gone (its cgroup file with it).
 * False when the budget cannot be the cause (throttling off:
 * sched_rt_runtime_us -1, no v1 cpu hierarchy, a group with a budget, or
 * its file unreadable for another reason): the refusal is something else
 * (an LSM, a seccomp filter, RLIMIT_RTPRIO without CAP_SYS_NICE).  The
 * kernel checks the budget itself, in the same call as the change:
 * nothing is read for a request it grants.
 */
static bool rt_budget_refused(request *req, const policy_rule *rule, peer_thread *t, pid_t tid) {
        _cleanup_free_ char *v2 = NULL, *v1 = NULL;
        char cg[256];
        int64_t budget, runtime;
        op_error err;
        if (!req->b->cpu_v1->found ||
            (proc_read_i64("/proc/sys/kernel/sched_rt_runtime_us", &runtime) >= 0 && runtime < 0))
                return false;
        int r = proc_task_cgroups_kept(t->host_tgid, t->host_tid, t->cgroup_fd, &v2, &v1);
        if (r == -ENOENT || r == -ESRCH) {
                thread_read_failed(&err, r, tid, PEER_THREAD_CGROUP_FILE);
                request_fail(req, &err);
                return true;
        }
        if (r < 0 || proc_cgroup_rt_budget(req->b->cpu_v1, v1, cg, sizeof(cg), &budget) < 0 || budget != 0)
                return false;
        request_reply_error(req, ERR_DENIED, EPERM, rule ? rule->name : NULL,
                            "thread %d is in cpu cgroup '%s', whose cpu.rt_runtime_us is 0: the kernel "
                            "(CONFIG_RT_GROUP_SCHED) gives that group no realtime time; give it a budget "
                            "(cpu.rt_runtime_us of the group and its parents) or run the thread in a group "
                            "that has one (delegate-broker(8), REALTIME BUDGET)", (int) tid, cg);
        return true;
}

static void sched_set(request *req, void *args, const policy_decision *d) {
        client *c = req->c;
        const policy_rule *rule = d->rule;
        sched_args a = *(const sched_args *) args;
        op_error err;
        peer_thread t;
        char msg[512];
        bool rt;
        int r;
        /* declared before the first goto: cleanups run on every path */
        _cleanup_json_gen_ json_gen *g = NULL;

        rt = a.policy == SCHED_FIFO || a.policy == SCHED_RR;
        r = request_resolve_threads(req, &a.tid, 1, c ? &SS(c)->thread : NULL, &t, &err);
        if (r < 0)
                return request_fail(req, &err);

        if (rt && rt_safety_check(req, rule, &t, a.tid) < 0)
                goto out;

        uint64_t retry;
        /* per session; D-Bus callers acting for themselves share one window */
        burst_window *burst = c ? &SS(c)->burst : &req->b->bus_sched_burst;
        if (!burst_take(burst, rule, &retry)) {
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
        /* safety "dedicated": a realtime thread runs on the rule's CPUs (or the subset asked) */
        bool confine = rt && rule && rule->sched.safety == RT_SAFETY_DEDICATED;
        if (confine && !a.has_cpus) {
                a.cpus = rule->sched.cpus;
                a.has_cpus = true;
        }
        /* what to put back if it goes wrong (the affinity only when it is changed) */
        r = get_attr(t.host_tid, &old);
        if (r >= 0 && a.has_cpus && sched_getaffinity(t.host_tid, sizeof(old_cpus), &old_cpus) < 0)
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
                /* refused, the affinity put back: nothing changed, so the burst slot is given back */
                if (rule && rule->sched.burst_n && burst->count)
                        burst->count--;
                if (rt && e == EPERM && rt_budget_refused(req, rule, &t, a.tid))
                        goto out;
                request_reply_error(req, e == ESRCH ? ERR_NOT_FOUND : ERR_SYSTEM, e, NULL,
                                    "sched_setattr(thread %d, %s) failed: %s", (int) a.tid,
                                    sched_policy_name(a.policy), strerror(e));
                goto out;
        }

        /* read back from the kernel; then was it still our thread all along?  (its id cannot be
         * reused while it lives: alive after the read back, it was the one acted on and read) */
        sched_attr_v0 now;
        bool read = get_attr(t.host_tid, &now) >= 0 && sched_getaffinity(t.host_tid, sizeof(cpus), &cpus) >= 0;
        if (!pidfd_alive(t.pidfd)) {
                (void) set_attr(t.host_tid, &old);
                if (a.has_cpus)
                        (void) sched_setaffinity(t.host_tid, sizeof(old_cpus), &old_cpus);
                request_reply_error(req, ERR_NOT_FOUND, ESRCH, NULL,
                                    "thread %d exited while its scheduling was being changed; the change was undone",
                                    (int) a.tid);
                goto out;
        }
        if (!read) {
                request_reply_error(req, ERR_NOT_FOUND, ESRCH, NULL, "thread %d exited", (int) a.tid);
                goto out;
        }
        cpu_mask m;
        cpu_mask_from_set(&cpus, &m);
        unsigned stray;
        if (confine && !cpu_mask_subset(&m, &rule->sched.cpus, &stray)) {
                /* someone widened it between our two calls: undo, never leave it realtime there */
                (void) set_attr(t.host_tid, &old);
                (void) sched_setaffinity(t.host_tid, sizeof(old_cpus), &old_cpus);
                request_reply_error(req, ERR_SYSTEM, EAGAIN, rule->name,
                                    "thread %d may run on CPU %u, outside the rule's cpus '%s', after its affinity "
                                    "was set; the change was undone", (int) a.tid, stray,
                                    cpu_mask_format(&rule->sched.cpus, msg, sizeof(msg)));
                goto out;
        }
        if (c)
                SS(c)->n_changes++;
        /* what the kernel now says, in the request's one audit record (delegate-broker(8)) */
        cpu_mask_format(&m, msg, sizeof(msg));
        request_reason_append(req, "; thread %d is now %s priority %u nice %d on CPUs %s", (int) t.host_tid,
                              sched_policy_name((int) now.sched_policy), now.sched_priority, now.sched_nice, msg);

        g = json_gen_new();
        if (!g) {
                request_reply_error(req, ERR_SYSTEM, ENOMEM, NULL, "out of memory");
                goto out;
        }
        json_gen_map_open(g);
        json_gen_kv_i64(g, "tid", a.tid);
        json_gen_kv_str(g, "policy", sched_policy_name((int) now.sched_policy));
        json_gen_kv_i64(g, "priority", now.sched_priority);
        json_gen_kv_i64(g, "nice", now.sched_nice);
        json_gen_kv_bool(g, "reset_on_fork", now.sched_flags & SCHED_FLAG_RESET_ON_FORK);
        json_gen_kv_str(g, "cpus", msg);
        json_gen_str(g, "was");
        json_gen_map_open(g);
        json_gen_kv_str(g, "policy", sched_policy_name((int) old.sched_policy));
        json_gen_kv_i64(g, "priority", old.sched_priority);
        json_gen_kv_i64(g, "nice", old.sched_nice);
        json_gen_map_close(g);
        json_gen_map_close(g);
        (void) request_reply_gen(req, g, NULL, 0);
out:
        peer_threads_done(&t, 1);
}

static const broker_bus_method sched_bus = {
        .member = "SetScheduler",
        .signature = "ss",
        .result = "s",
        .names = "session\0args_json\0result_json\0",
};

const broker_op bop_sched_set = { .op = &op_sched_set, .act = sched_set, .bus = &sched_bus };

/* --- what a session holds: a count; scheduler changes are not undone (RLIMIT_RTTIME still bounds
 * realtime threads) --- */

static size_t count(const client *c) {
        return SS(c)->n_changes;
}

static void state(const client *c, json_gen *g) {
        json_gen_i64(g, (int64_t) SS(c)->n_changes);
}

static void save(const client *c, json_gen *g) {
        json_gen_kv_u64(g, "sched_changes", SS(c)->n_changes);
}

static void restore(client *c, const json_value *st, state_check *ck) {
        SS(c)->n_changes = state_get_u64(ck, st, "sched_changes", 0, UINT64_MAX, false);
}

static void release(client *c) {
        rt_kept_drop(SS(c));
        peer_thread_kept_drop(&SS(c)->thread);
}

static const session_hook hooks[] = {
        { "sched_changes", count, state, NULL },
};

const session_part session_part_sched = {
        .slot = SESSION_PART_sched,
        .size = sizeof(sched_session),
        .hooks = hooks,
        .n_hooks = ELEMENTSOF(hooks),
        .release = release,
        .save = save,
        .restore = restore,
};
