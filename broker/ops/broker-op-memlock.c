/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-op-memlock.c - memlock.set: RLIMIT_MEMLOCK of the peer or one of
 * its descendants.
 *
 * parse args -> (policy, in the dispatcher) -> resolve and pin the target
 * -> act: read the limits, check them, set them and read them back, with
 * three prlimit() calls in one process (memlock_change()) -> check the
 * target is still the same process.
 *
 * Acting: with CAP_SYS_RESOURCE (a real node) prlimit() directly.  Without
 * it the kernel refuses prlimit() on another user's process unless the
 * caller's real/effective/saved ids equal the target's, so soft changes (up
 * to the hard limit) run in a helper process holding the target's ids (one
 * per uid/gid, long-lived: broker-helper.c), and a hard raise is refused
 * with EPERM naming the missing capability.  Which ids: those the kernel
 * gives for the pinned target (PIDFD_GET_INFO, Linux 6.13); before it,
 * those of the one who asks, confirmed by the kernel's check of the first
 * prlimit(), and when that fails, those /proc/PID/status shows.
 */
#include <inttypes.h>
#include <stdio.h>
#include <fcntl.h>
#include <syslog.h>

#include "broker-op.h"
#include "memlock.h"
#include "proc.h"
#include "size.h"

/* A raised limit this session holds, kept for state.get and across restarts. */
typedef struct memlock_record {
        pid_t pid;      /* as the client named it */
        pid_t host_pid; /* in the broker's pid namespace */
        uint64_t soft, hard;
} memlock_record;

/* session_part_memlock: c->part[SESSION_PART_memlock] */
typedef struct memlock_session {
        memlock_record rec[SESSION_MAX_MEMLOCK];
        size_t n;
} memlock_session;

static memlock_session *MS(const client *c) {
        return c->part[SESSION_PART_memlock];
}

/* A request's scratch: the target, resolved and pinned. */
typedef struct memlock_scratch {
        peer_target t;
        bool ids_read; /* its ids came from the kernel or /proc/PID/status, not from the first try */
} memlock_scratch;

static memlock_scratch *MEM(const request *req) {
        return req->scratch;
}

/* Is the target still the process resolved (its pidfd has not polled exited)?  A pidfd lent by the peer
 * became the request's own copy when the client left (memlock_request_detach()); only when that copy could
 * not be made is the target no longer known: then no. */
static bool target_alive(request *req) {
        if (MEM(req)->t.borrowed && !req->has_peer)
                return false;
        return pidfd_alive(MEM(req)->t.pidfd);
}

static void record(client *c, pid_t pid, pid_t host, uint64_t soft, uint64_t hard) {
        memlock_session *s = MS(c);
        for (size_t i = 0; i < s->n; i++)
                if (s->rec[i].host_pid == host) {
                        /* unchanged: nothing to save (a retry after a restart sets the same again) */
                        if (s->rec[i].pid != pid || s->rec[i].soft != soft || s->rec[i].hard != hard)
                                c->state_dirty = true;
                        s->rec[i] = (memlock_record) { pid, host, soft, hard };
                        return;
                }
        c->state_dirty = true;
        if (s->n == SESSION_MAX_MEMLOCK) /* forget the oldest */
                memmove(s->rec, s->rec + 1, sizeof(s->rec[0]) * --s->n);
        s->rec[s->n++] = (memlock_record) { pid, host, soft, hard };
}

/* @old and @now as the one who called prlimit() read them, before and after. */
static void finish(request *req, const struct rlimit *old, const struct rlimit *now) {
        const memlock_args *a = req->op_args;
        uint64_t soft = rlim_to_u64(now->rlim_cur), hard = rlim_to_u64(now->rlim_max);
        char b1[32], b2[32];

        /* only trust what was read while the target lives (the pid was not reused meanwhile) */
        if (!target_alive(req))
                return request_reply_error(req, ERR_NOT_FOUND, ESRCH, NULL,
                                           "process %d exited while its limit was being changed", (int) a->pid);
        if (req->c) {
                record(req->c, a->pid, MEM(req)->t.host_pid, soft, hard);
        }
        /* what the kernel now says, in the request's one audit record (delegate-broker(8)) */
        request_reason_append(req, "; RLIMIT_MEMLOCK of pid %d is now soft %s, hard %s", (int) MEM(req)->t.host_pid,
                              format_size(soft, b1, sizeof(b1)), format_size(hard, b2, sizeof(b2)));
        char res[MEMLOCK_RESULT_MAX]; /* numbers only: no generator, no allocation */
        size_t len = memlock_result_format(res, a->pid, old, now);
        request_reply_result(req, res, NULL, 0);
        explicit_bzero(res, len);
}

static void fail_apply(request *req, int r) {
        const memlock_args *a = req->op_args;
        if (r == -ESRCH)
                return request_reply_error(req, ERR_NOT_FOUND, ESRCH, NULL, "process %d exited", (int) a->pid);
        return request_reply_error(req, ERR_SYSTEM, -r, NULL, "prlimit(pid %d, RLIMIT_MEMLOCK) failed: %s",
                                   (int) a->pid, strerror(-r));
}

/* The checks against the hard limit the target had (memlock_verdict_of()) refused the request. */
static void refuse(request *req, memlock_verdict v, uint64_t old_hard) {
        const memlock_args *a = req->op_args;
        uint64_t new_hard = a->hard == DELEGATE_LIMIT_KEEP ? old_hard : a->hard;
        char b1[32], b2[32];
        if (v == MEMLOCK_SOFT_OVER_HARD)
                return request_reply_error(req, ERR_BAD_REQUEST, EINVAL, NULL,
                                           "soft limit %s exceeds the hard limit %s of pid %d; raise \"hard\" too",
                                           format_size(a->soft, b1, sizeof(b1)), format_size(new_hard, b2, sizeof(b2)),
                                           (int) a->pid);
        return request_reply_error(req, ERR_SYSTEM, EPERM, req->rule[0] ? req->rule : NULL,
                                   "raising the hard RLIMIT_MEMLOCK of pid %d from %s to %s needs "
                                   "CAP_SYS_RESOURCE, which the broker does not hold on this node",
                                   (int) a->pid, format_size(old_hard, b1, sizeof(b1)),
                                   format_size(new_hard, b2, sizeof(b2)));
}

static void act_by_ids(request *req);

/* What memlock_change() returned, here or in a helper. */
static void outcome(request *req, int r, const struct rlimit *old, const struct rlimit *now) {
        if (r == MEMLOCK_NOT_PERMITTED && !MEM(req)->ids_read)
                return act_by_ids(req); /* the guess was wrong: read its ids */
        if (r == MEMLOCK_NOT_PERMITTED)
                r = -EPERM; /* its ids changed since we read them */
        if (r < 0)
                return fail_apply(req, r);
        if (r != MEMLOCK_CHANGED)
                return refuse(req, r, rlim_to_u64(old->rlim_max));
        finish(req, old, now);
}

/* The broker calls prlimit() itself: with CAP_SYS_RESOURCE, or on a target with its own ids. */
static void act_here(request *req) {
        const memlock_args *a = req->op_args;
        struct rlimit old, now;
        int r = memlock_change(MEM(req)->t.host_pid, a->soft, a->hard, req->b->cap_sys_resource, &old, &now);
        outcome(req, r, &old, &now);
}

/* What the helper gets: the target and the limits to set; and what it answers. */
typedef struct memlock_in {
        pid_t pid;
        uint64_t soft, hard;
} memlock_in;
typedef struct memlock_out {
        int32_t verdict;
        struct rlimit old, now;
} memlock_out;

/* In the long-lived helper holding the target's ids (broker-helper.c), without CAP_SYS_RESOURCE. */
static ssize_t helper_apply(const void *in, size_t in_len, void *out, size_t size) {
        memlock_in m;
        memlock_out o = {};
        if (size < sizeof(o) || in_len != sizeof(m))
                return -EINVAL;
        memcpy(&m, in, sizeof(m));
        int r = memlock_change(m.pid, m.soft, m.hard, false, &o.old, &o.now);
        if (r < 0)
                return r;
        o.verdict = r;
        memcpy(out, &o, sizeof(o));
        return sizeof(o);
}

static void helper_done(request *req, int status, const void *out, size_t len) {
        if (status == -ETIMEDOUT)
                return request_reply_error(req, ERR_SYSTEM, ETIMEDOUT, NULL,
                                           "the helper acting as pid %d's user did not finish in time",
                                           (int) MEM(req)->t.host_pid);
        if (status == -EPIPE)
                return request_reply_error(req, ERR_SYSTEM, EPIPE, NULL,
                                           "the helper acting as pid %d's user ended before it answered (killed?)",
                                           (int) MEM(req)->t.host_pid);
        if (status < 0)
                return fail_apply(req, status);
        memlock_out o;
        if (len < sizeof(o))
                return request_reply_error(req, ERR_SYSTEM, EIO, NULL, "the helper returned a short answer");
        memcpy(&o, out, sizeof(o));
        if (o.verdict < MEMLOCK_CHANGED || o.verdict > MEMLOCK_NOT_PERMITTED)
                return request_reply_error(req, ERR_SYSTEM, EIO, NULL, "the helper returned a bad answer");
        outcome(req, o.verdict, &o.old, &o.now);
}

/* Act as @uid/@gid: here when they are the broker's, else in their helper. */
static void act_as(request *req, uid_t uid, gid_t gid) {
        const memlock_args *a = req->op_args;
        if (broker_ids_are(uid, gid))
                return act_here(req);
        if (!req->b->cap_setids) /* its helper could not take the ids: no fork for a certain failure */
                return request_reply_error(req, ERR_SYSTEM, EPERM, NULL,
                                           "cannot change RLIMIT_MEMLOCK of pid %d (uid %u): the broker has neither "
                                           "CAP_SYS_RESOURCE nor CAP_SETUID and CAP_SETGID to act as that uid",
                                           (int) MEM(req)->t.host_pid, (unsigned) uid);
        memlock_in m = { MEM(req)->t.host_pid, a->soft, a->hard };
        int r = uid_helper_call(req, uid, gid, helper_apply, &m, sizeof(m), helper_done);
        if (r < 0)
                return request_reply_error(req, ERR_SYSTEM, -r, NULL, "cannot start the helper: %s", strerror(-r));
}

/*
 * After a read of /proc/PID by number: does the pid still name the target
 * (its pidfd's process has not exited, so the pid was not reused)?  Else
 * the request fails with ESRCH: what was read may be another process's.
 */
static bool read_of_target(request *req, int r) {
        if (r >= 0 && target_alive(req))
                return true;
        request_reply_error(req, ERR_NOT_FOUND, ESRCH, NULL, "process %d exited",
                            (int) ((const memlock_args *) req->op_args)->pid);
        return false;
}

/* Act as the target's ids @cr (real, effective, saved): all equal, or the request fails. */
static void act_by_creds(request *req, const proc_creds *cr) {
        const memlock_args *a = req->op_args;
        pid_t host = MEM(req)->t.host_pid;
        uid_t ou;
        gid_t og;
        MEM(req)->ids_read = true;
        if (broker_ids_unnamed(cr->uid, cr->gid, &ou, &og))
                return request_reply_error(req, ERR_SYSTEM, EPERM, NULL,
                                           "pid %d runs with ids the broker's user namespace cannot name (they read "
                                           "as the overflow uid %u / gid %u); without CAP_SYS_RESOURCE the broker "
                                           "cannot act as them",
                                           (int) a->pid, (unsigned) ou, (unsigned) og);
        if (proc_ids_all_same(cr->uid, cr->gid))
                return act_as(req, cr->uid[0], cr->gid[0]);
        /* nobody may read its limits with prlimit(): /proc, for the checks that come first */
        uint64_t old_soft, old_hard;
        if (!read_of_target(req, proc_memlock_limits(host, &old_soft, &old_hard)))
                return;
        memlock_verdict v = memlock_verdict_of(old_hard, a->soft, a->hard, false);
        if (v != MEMLOCK_CHANGED)
                return refuse(req, v, old_hard);
        request_reply_error(req, ERR_SYSTEM, EPERM, NULL,
                            "pid %d has differing real/effective/saved ids; without CAP_SYS_RESOURCE "
                            "the kernel lets nobody change its limits",
                            (int) a->pid);
}

/* Act as the ids /proc/PID/status shows. */
static void act_by_ids(request *req) {
        proc_creds cr;
        if (read_of_target(req, proc_creds_read(MEM(req)->t.host_pid, &cr)))
                act_by_creds(req, &cr);
}

/* Is @pid in the broker's user namespace?  There the kernel lets a helper without capabilities read and
 * set a process's limits exactly when its real, effective and saved ids are the helper's.  (The link
 * names the namespace, "user:[INODE]": cheaper to read than to stat.) */
static bool in_our_userns(pid_t pid) {
        static char self[64];
        char path[64], ns[64];
        ssize_t n;
        if (!self[0]) {
                n = readlinkat(AT_FDCWD, "/proc/self/ns/user", self, sizeof(self) - 1);
                if (n <= 0)
                        return (self[0] = 0);
                self[n] = 0;
        }
        snprintf(path, sizeof(path), "/proc/%d/ns/user", (int) pid);
        n = readlinkat(AT_FDCWD, path, ns, sizeof(ns) - 1);
        if (n <= 0)
                return false;
        ns[n] = 0;
        return streq(ns, self);
}

static void memlock_set(request *req, void *args, const policy_decision *d) {
        memlock_args *a = args;
        op_error err;

        memlock_args_clamp(d->rule, a); /* the rule may answer "unlimited" with its max */
        int r = request_resolve_pinned(req, a->pid, &MEM(req)->t, &err);
        if (r < 0)
                return request_fail(req, &err);
        if (req->b->cap_sys_resource)
                return act_here(req);
        /*
         * Without CAP_SYS_RESOURCE only a process with the target's ids may change its limits.  The
         * kernel gave them with the target pinned (PIDFD_GET_INFO): act as those.  Before Linux 6.13,
         * first try the ids of the one who asks (a launcher and its QEMU share them): the kernel's own
         * check in the first prlimit() says whether they are the target's, and only when they are not
         * are its ids read from /proc.  Outside our user namespace the helper's user may own the
         * target's and pass that check without the ids: read them first there.
         */
        if (MEM(req)->t.have_ids) {
                proc_creds cr;
                memcpy(cr.uid, MEM(req)->t.uid, sizeof(cr.uid));
                memcpy(cr.gid, MEM(req)->t.gid, sizeof(cr.gid));
                return act_by_creds(req, &cr);
        }
        bool ours = in_our_userns(MEM(req)->t.host_pid);
        if (!read_of_target(req, 0))
                return;
        if (!ours)
                return act_by_ids(req);
        act_as(req, req->peer.cred.uid, req->peer.cred.gid);
}

/* D-Bus SetMemlock(s session, u pid, t soft, t hard) -> (t old_soft, t old_hard, t soft, t hard) */
static int bus_args(sd_bus_message *m, json_value **ret, sd_bus_error *error) {
        uint32_t pid;
        uint64_t soft, hard;
        char text[128];
        int r = sd_bus_message_read(m, "utt", &pid, &soft, &hard);
        if (r < 0)
                return r;
        if (pid > INT32_MAX)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "pid %" PRIu32 " is not a process id", pid);
        if (hard == DELEGATE_LIMIT_KEEP)
                snprintf(text, sizeof(text), "{\"pid\":%" PRIu32 ",\"soft\":%" PRIu64 "}", pid, soft);
        else
                snprintf(text, sizeof(text), "{\"pid\":%" PRIu32 ",\"soft\":%" PRIu64 ",\"hard\":%" PRIu64 "}", pid,
                         soft, hard);
        return bus_args_json(text, ret, error);
}

static uint64_t limit_of(const json_value *v) {
        uint64_t x = 0;
        if (v)
                json_to_size(v, &x);
        return x;
}

static int bus_reply(sd_bus_message *call, const json_value *res) {
        const json_value *old = json_get(res, "old");
        return sd_bus_reply_method_return(call, "tttt", limit_of(json_get(old, "soft")),
                                          limit_of(json_get(old, "hard")), limit_of(json_get(res, "soft")),
                                          limit_of(json_get(res, "hard")));
}

static const broker_bus_method memlock_bus = {
        .member = "SetMemlock",
        .signature = "sutt",
        .result = "tttt",
        .names = "session\0pid\0soft\0hard\0old_soft\0old_hard\0soft\0hard\0",
        .args = bus_args,
        .reply = bus_reply,
};

static void memlock_request_init(request *req) {
        MEM(req)->t.pidfd = -EBADF;
}

static void memlock_request_free(request *req) {
        if (!MEM(req)->t.borrowed)
                safe_close(MEM(req)->t.pidfd);
}

/* The client leaves while its request on itself is under way (in the helper): its pidfd, lent, is closed
 * next; a copy keeps the target pinned, so that the answer says what the helper did (only then: no cost
 * while the client stays). */
static void memlock_request_detach(request *req) {
        peer_target *t = &MEM(req)->t;
        if (!t->borrowed || t->pidfd < 0)
                return;
        int fd = fcntl(t->pidfd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0) /* out of fds: no longer known (target_alive()) */
                return;
        t->pidfd = fd;
        t->borrowed = false;
}

const broker_op bop_memlock_set = {
        .op = &op_memlock_set,
        .act = memlock_set,
        .scratch_size = sizeof(memlock_scratch),
        .request_init = memlock_request_init,
        .request_free = memlock_request_free,
        .request_detach = memlock_request_detach,
        .bus = &memlock_bus,
};

/* --- what a session holds --- */

static size_t count(const client *c) {
        return MS(c)->n;
}

static void state(const client *c, json_gen *g) {
        const memlock_session *s = MS(c);
        json_gen_array_open(g);
        for (size_t i = 0; i < s->n; i++) {
                json_gen_map_open(g);
                json_gen_kv_i64(g, "pid", s->rec[i].pid);
                json_gen_str(g, "soft");
                json_gen_limit(g, s->rec[i].soft);
                json_gen_str(g, "hard");
                json_gen_limit(g, s->rec[i].hard);
                json_gen_map_close(g);
        }
        json_gen_array_close(g);
}

static void save(const client *c, json_gen *g) {
        const memlock_session *s = MS(c);
        json_gen_str(g, "memlock");
        json_gen_array_open(g);
        for (size_t i = 0; i < s->n; i++) {
                json_gen_map_open(g);
                json_gen_kv_i64(g, "pid", s->rec[i].pid);
                json_gen_kv_i64(g, "host_pid", s->rec[i].host_pid);
                json_gen_kv_u64(g, "soft", s->rec[i].soft);
                json_gen_kv_u64(g, "hard", s->rec[i].hard);
                json_gen_map_close(g);
        }
        json_gen_array_close(g);
}

static void restore(client *c, const json_value *st, state_check *ck) {
        memlock_session *s = MS(c);
        const json_value *a = state_get_array(ck, st, "memlock", SESSION_MAX_MEMLOCK);
        for (size_t i = 0; a && i < a->array.n; i++) {
                const json_value *m = a->array.items[i];
                s->rec[s->n++] = (memlock_record) {
                        (pid_t) state_get_u64(ck, m, "pid", 0, STATE_MAX_PID, false),
                        (pid_t) state_get_u64(ck, m, "host_pid", 1, STATE_MAX_PID, false),
                        state_get_u64(ck, m, "soft", 0, UINT64_MAX, false),
                        state_get_u64(ck, m, "hard", 0, UINT64_MAX, false)
                };
        }
}

/*
 * revoke NULL: raised memlock limits are not lowered on revoke, since
 * lowering RLIMIT_MEMLOCK below what a running QEMU has locked does not
 * unlock it and only breaks its next mlock().
 */
static const session_hook hooks[] = {
        { "memlock", count, state, NULL },
};

/* Could @c's memlock.set be allowed: does the rule matching it, on its socket or through its programs'
 * intercepted calls (delegate-run(1)), have a memlock section? */
static bool may_set(const client *c) {
        static const policy_via vias[] = { POLICY_VIA_SOCKET, POLICY_VIA_SECCOMP };
        caller who;
        caller_from_client(&who, c);
        policy_subject subj = caller_subject(&who);
        for (size_t i = 0; i < ELEMENTSOF(vias); i++) {
                subj.via = vias[i];
                const policy_rule *r = policy_match(c->b->policy, &subj, NULL, NULL);
                if (r && r->memlock.present)
                        return true;
        }
        return false;
}

/*
 * The session began: when its memlock.set would go through the helper of its uid (no CAP_SYS_RESOURCE,
 * ids not the broker's and named in its user namespace) and its rule may allow one, that helper is
 * started now, not at its first memlock.set (a VM's start waited for the fork and the id change there).
 */
static void begin(client *c) {
        const uid_t u[3] = { c->cred.uid, c->cred.uid, c->cred.uid };
        const gid_t g[3] = { c->cred.gid, c->cred.gid, c->cred.gid };
        uid_t ou;
        gid_t og;
        if (c->b->cap_sys_resource || !c->b->cap_setids || broker_ids_are(c->cred.uid, c->cred.gid) ||
            broker_ids_unnamed(u, g, &ou, &og))
                return; /* without CAP_SETUID/CAP_SETGID a helper could not take the ids: none forked for nothing */
        int r = uid_helper_prestart(c, c->cred.uid, c->cred.gid, helper_apply, may_set);
        if (r < 0)
                log_msg(c->b, LOG_NOTICE, "session %llu: cannot start the memlock helper of uid %u yet: %s",
                        (unsigned long long) c->session, (unsigned) c->cred.uid, strerror(-r));
}

/* The session no longer uses the long-lived helpers it asked (broker-helper.c): each ends with its last
 * session. */
static void release(client *c) {
        uid_helpers_session_end(c->b, c);
}

const session_part session_part_memlock = {
        .slot = SESSION_PART_memlock,
        .size = sizeof(memlock_session),
        .hooks = hooks,
        .n_hooks = ELEMENTSOF(hooks),
        .begin = begin,
        .release = release,
        .save = save,
        .restore = restore,
};
