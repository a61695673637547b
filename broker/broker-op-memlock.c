/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-op-memlock.c - memlock.set: RLIMIT_MEMLOCK of the peer or one of
 * its descendants.
 *
 * parse args -> (policy, in the dispatcher) -> resolve and pin the target
 * -> act -> read back from the kernel and check the target is still the
 * same process.
 *
 * Acting: with CAP_SYS_RESOURCE (a real node) prlimit() directly.  Without
 * it the kernel refuses prlimit() on another user's process unless the
 * caller's real/effective/saved ids equal the target's, so soft changes (up
 * to the hard limit) run in a helper process holding the target's ids (one
 * per uid/gid, long-lived: broker-helper.c), and a hard raise is refused
 * with EPERM naming the missing capability.
 */
#include <inttypes.h>
#include <stdio.h>
#include <syslog.h>

#include "broker.h"
#include "memlock.h"
#include "proc.h"
#include "size.h"

typedef struct memlock_out {
        struct rlimit old, now;
} memlock_out;

static void record(client *c, pid_t pid, pid_t host, uint64_t soft, uint64_t hard) {
        c->state_dirty = true;
        for (size_t i = 0; i < c->n_memlock; i++)
                if (c->memlock[i].host_pid == host) {
                        c->memlock[i] = (memlock_record) { pid, host, soft, hard };
                        return;
                }
        if (c->n_memlock == SESSION_MAX_MEMLOCK) /* forget the oldest */
                memmove(c->memlock, c->memlock + 1, sizeof(c->memlock[0]) * --c->n_memlock);
        c->memlock[c->n_memlock++] = (memlock_record) { pid, host, soft, hard };
}

static void finish(request *req, const struct rlimit *old) {
        memlock_args *a = &req->memlock.args;
        uint64_t soft, hard;
        char b1[32], b2[32];

        /* read back from the kernel, and only trust it while the target lives */
        int r = proc_memlock_limits(req->memlock.host_pid, &soft, &hard);
        if (r < 0 || !pidfd_alive(req->memlock.pidfd))
                return request_reply_error(req, ERR_NOT_FOUND, ESRCH, NULL,
                                           "process %d exited while its limit was being changed", (int) a->pid);
        if (req->c) {
                record(req->c, a->pid, req->memlock.host_pid, soft, hard);
                log_msg(req->b, LOG_INFO, "session %llu: RLIMIT_MEMLOCK of pid %d is now soft %s, hard %s",
                        (unsigned long long) req->c->session, (int) req->memlock.host_pid,
                        format_size(soft, b1, sizeof(b1)), format_size(hard, b2, sizeof(b2)));
        }
        struct rlimit now = { u64_to_rlim(soft), u64_to_rlim(hard) };
        _cleanup_json_gen_ yajl_gen g = json_gen_new();
        _cleanup_erase_free_ char *res = NULL;
        if (!g || (memlock_result_gen(g, a->pid, old, &now), json_gen_take(g, &res, NULL)) < 0)
                return request_reply_error(req, ERR_SYSTEM, ENOMEM, NULL, "out of memory");
        request_reply_result(req, res, NULL, 0);
}

static void fail_apply(request *req, int r) {
        memlock_args *a = &req->memlock.args;
        if (r == -ESRCH)
                return request_reply_error(req, ERR_NOT_FOUND, ESRCH, NULL, "process %d exited", (int) a->pid);
        return request_reply_error(req, ERR_SYSTEM, -r, NULL, "prlimit(pid %d, RLIMIT_MEMLOCK) failed: %s",
                                   (int) a->pid, strerror(-r));
}

/* What the helper gets: the target and the limits to set. */
typedef struct memlock_in {
        pid_t pid;
        uint64_t soft, hard;
} memlock_in;

/* In the long-lived helper holding the target's ids (broker-helper.c). */
static ssize_t helper_apply(const void *in, size_t in_len, void *out, size_t size) {
        memlock_in m;
        memlock_out o;
        if (size < sizeof(o) || in_len != sizeof(m))
                return -EINVAL;
        memcpy(&m, in, sizeof(m));
        int r = memlock_apply(m.pid, m.soft, m.hard, &o.old, &o.now);
        if (r < 0)
                return r;
        memcpy(out, &o, sizeof(o));
        return sizeof(o);
}

static void helper_done(request *req, int status, const void *out, size_t len) {
        if (status == -ETIMEDOUT)
                return request_reply_error(req, ERR_SYSTEM, ETIMEDOUT, NULL,
                                           "the helper acting as pid %d's user did not finish in time",
                                           (int) req->memlock.args.pid);
        if (status == -EPIPE)
                return request_reply_error(req, ERR_SYSTEM, EPIPE, NULL,
                                           "the helper acting as pid %d's user ended before it answered (killed?)",
                                           (int) req->memlock.args.pid);
        if (status < 0)
                return fail_apply(req, status);
        if (len < sizeof(memlock_out))
                return request_reply_error(req, ERR_SYSTEM, EIO, NULL, "the helper returned a short answer");
        memlock_out o;
        memcpy(&o, out, sizeof(o));
        finish(req, &o.old);
}

void op_memlock_set(request *req, const policy_decision *d) {
        memlock_args *a = &req->memlock.args;
        delegate_error err;
        char msg[256], b1[32], b2[32];
        uint64_t old_soft, old_hard;

        if (memlock_args_parse(req->args, a, msg, sizeof(msg)) < 0)
                return request_reply_error(req, ERR_BAD_REQUEST, EINVAL, NULL, "%s", msg);
        int r = request_resolve_target(req, a->pid, &req->memlock.host_pid, &req->memlock.pidfd, &err);
        if (r < 0)
                return request_reply_delegate_error(req, &err);
        pid_t host = req->memlock.host_pid;

        r = proc_memlock_limits(host, &old_soft, &old_hard);
        if (r < 0)
                return request_reply_error(req, ERR_NOT_FOUND, ESRCH, NULL, "process %d exited", (int) a->pid);
        uint64_t new_hard = a->hard == DELEGATE_LIMIT_KEEP ? old_hard : a->hard;
        if (a->soft > new_hard)
                return request_reply_error(req, ERR_BAD_REQUEST, EINVAL, NULL,
                                           "soft limit %s exceeds the hard limit %s of pid %d; raise \"hard\" too",
                                           format_size(a->soft, b1, sizeof(b1)), format_size(new_hard, b2, sizeof(b2)),
                                           (int) a->pid);
        if (new_hard > old_hard && !req->b->cap_sys_resource)
                return request_reply_error(req, ERR_SYSTEM, EPERM, d->rule ? d->rule->name : NULL,
                                           "raising the hard RLIMIT_MEMLOCK of pid %d from %s to %s needs "
                                           "CAP_SYS_RESOURCE, which the broker does not hold on this node",
                                           (int) a->pid, format_size(old_hard, b1, sizeof(b1)),
                                           format_size(new_hard, b2, sizeof(b2)));

        proc_creds cr;
        r = proc_creds_read(host, &cr);
        if (r < 0)
                return request_reply_error(req, ERR_NOT_FOUND, ESRCH, NULL, "process %d exited", (int) a->pid);
        bool same_ids = cr.uid[0] == getuid() && cr.uid[1] == getuid() && cr.uid[2] == getuid() &&
                        cr.gid[0] == getgid() && cr.gid[1] == getgid() && cr.gid[2] == getgid();

        if (req->b->cap_sys_resource || same_ids) {
                struct rlimit old, now;
                r = memlock_apply(host, a->soft, a->hard, &old, &now);
                if (r < 0)
                        return fail_apply(req, r);
                return finish(req, &old);
        }
        if (cr.uid[0] != cr.uid[1] || cr.uid[0] != cr.uid[2] || cr.gid[0] != cr.gid[1] || cr.gid[0] != cr.gid[2])
                return request_reply_error(req, ERR_SYSTEM, EPERM, NULL,
                                           "pid %d has differing real/effective/saved ids; without CAP_SYS_RESOURCE "
                                           "the kernel lets nobody change its limits",
                                           (int) a->pid);
        memlock_in m = { host, a->soft, a->hard };
        r = uid_helper_call(req, cr.uid[0], cr.gid[0], helper_apply, &m, sizeof(m), helper_done);
        if (r < 0)
                return request_reply_error(req, ERR_SYSTEM, -r, NULL, "cannot start the helper: %s", strerror(-r));
}
