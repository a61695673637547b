/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-unotify.c - syscalls of unmodified programs, delegated through
 * seccomp user notification: the listener delegate-run(1) hands over with
 * unotify.attach, read on the event loop, one per session.
 *
 * Each notification becomes a request of the operation it amounts to
 * (memlock.set, sched.set, tap.create), decided by the same policy code,
 * audited with via=seccomp and carried out by the same operation code as
 * over the socket; its reply answers the syscall.  Safety, in order:
 *   - the arguments behind pointers are read once (process_vm_readv) and
 *     only that copy is looked at and acted on;
 *   - SECCOMP_IOCTL_NOTIF_ID_VALID after reading: the pid that was read
 *     from still is the caller, blocked in that very syscall;
 *   - pids and tids the caller names are read in the caller's pid
 *     namespace and translated to the session's (whose descendants, inside
 *     its pod cgroup, the operations accept as targets);
 *   - a call the broker acted on is answered, never continued; CONTINUE
 *     only for calls it leaves to the kernel to judge with the caller's own
 *     rights (a limit other than RLIMIT_MEMLOCK, a non-realtime policy, a
 *     device the policy does not give: the kernel says EPERM or lets the
 *     caller use what it owns);
 *   - a session has at most UNOTIFY_MAX_INFLIGHT calls in progress and is
 *     read UNOTIFY_BATCH at a time: beyond, its callers wait in the kernel
 *     while the other sessions are served.  Nothing here waits for a caller:
 *     reads of its memory do not block (an unprivileged pod's userfaultfd
 *     only handles its own user-mode faults), slow steps run in helpers.
 */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/audit.h>
#include <linux/if_tun.h>
#include <linux/nsfs.h>
#include <linux/sockios.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/pidfd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <syslog.h>

#include "broker-unotify-call.h"
#include "broker-unotify-tap.h"
#include "ops.h"
#include "ops-unotify.h"
#include "proc.h"

#ifndef SCHED_RESET_ON_FORK
#define SCHED_RESET_ON_FORK 0x40000000
#endif
#ifndef SCHED_FLAG_RESET_ON_FORK
#define SCHED_FLAG_RESET_ON_FORK 0x01
#endif
#define MAX_DESCENDANTS 4096

#if defined(__x86_64__)
#define NATIVE_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NATIVE_ARCH AUDIT_ARCH_AARCH64
#endif

/* The inode of the pid namespace @up levels above the one process @p lives in; 0 when unknown. */
static ino_t pidns_above(pid_t p, size_t up) {
        char path[64];
        struct stat st;
        snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int) p);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        for (size_t i = 0; fd >= 0 && i < up; i++) {
                int parent = ioctl(fd, NS_GET_PARENT);
                safe_close(fd);
                fd = parent;
        }
        return fd >= 0 && fstat(fd, &st) == 0 ? st.st_ino : 0;
}

/*
 * @id, a pid (or with @tid a thread id) the caller named in its own pid
 * namespace, as the session's peer names it; 0 stands for the caller
 * itself (its process, or with @tid its calling thread).  A caller in the
 * session's namespace names processes as the session does.  One in a
 * nested namespace (unshare -p) names what its namespace sees: the
 * session's processes are searched for the one with that id at the
 * caller's level whose namespace there is the caller's own.
 */
static int translate(const unotify_call *call, const client *c, pid_t id, bool tid, pid_t *ret) {
        pid_t ns[PROC_MAX_NSPID];
        size_t n;
        int r;
        if (id < 0)
                return -EINVAL;
        r = proc_nspid(call->tgid, ns, PROC_MAX_NSPID, &n);
        if (r < 0)
                return r;
        if (n <= c->ns_level)
                return -ESRCH;
        if (id == 0) {
                if (tid)
                        return proc_task_nstid(call->tgid, call->n.pid, c->ns_level, ret);
                *ret = ns[c->ns_level];
                return 0;
        }
        size_t level = n - 1;
        if (level == c->ns_level) {
                *ret = id;
                return 0;
        }
        ino_t mine = pidns_above(call->tgid, 0);
        _cleanup_free_ pid_t *q = malloc(sizeof(pid_t) * MAX_DESCENDANTS);
        size_t head = 0, nq = 0;
        if (!q)
                return -ENOMEM;
        if (mine == 0)
                return -ESRCH;
        q[nq++] = c->cred.pid;
        for (; head < nq; head++) {
                pid_t p = q[head], x;
                size_t k;
                /* in the caller's namespace (or below it), seen there as @id */
                if (proc_nspid(p, ns, PROC_MAX_NSPID, &k) == 0 && k > level && pidns_above(p, k - 1 - level) == mine) {
                        if (!tid && ns[level] == id) {
                                *ret = ns[c->ns_level];
                                return 0;
                        }
                        char path[64];
                        snprintf(path, sizeof(path), "/proc/%d/task", (int) p);
                        _cleanup_(closedirp) DIR *d = tid ? opendir(path) : NULL;
                        for (struct dirent *de; d && (de = readdir(d));) {
                                pid_t t = (pid_t) atoi(de->d_name);
                                if (t > 0 && proc_task_nstid(p, t, level, &x) == 0 && x == id)
                                        return proc_task_nstid(p, t, c->ns_level, ret);
                        }
                }
                proc_children(p, q, MAX_DESCENDANTS, &nq);
        }
        return -ESRCH;
}

/* prlimit64(pid, RLIMIT_MEMLOCK, new, old) and setrlimit(RLIMIT_MEMLOCK, new): memlock.set */
static void on_rlimit(unotify_call *call, pid_t pid, uint64_t new_ptr, uint64_t old_ptr) {
        client *c = call->u->c;
        struct rlimit nl;
        char args[160], soft[32], hard[32];
        pid_t target;
        int r = unotify_read(call, new_ptr, &nl, sizeof(nl));
        if (r < 0)
                return unotify_answer(call, 0, EFAULT), unotify_call_free(call);
        if (!unotify_valid(call))
                return unotify_call_free(call);
        r = translate(call, c, pid, false, &target);
        if (r < 0)
                return unotify_answer(call, 0, r == -ENOMEM ? ENOMEM : ESRCH), unotify_call_free(call);
        if (nl.rlim_cur == RLIM_INFINITY)
                snprintf(soft, sizeof(soft), "\"unlimited\"");
        else
                snprintf(soft, sizeof(soft), "%" PRIu64, (uint64_t) nl.rlim_cur);
        uint64_t cur_soft, cur_hard;
        pid_t self;
        if ((pid == 0 || (proc_task_nstid(call->tgid, call->tgid, c->ns_level, &self) == 0 && self == target)) &&
            proc_memlock_limits(call->tgid, &cur_soft, &cur_hard) == 0 && cur_hard == (uint64_t) nl.rlim_max)
                hard[0] = 0; /* the caller's own hard limit, unchanged: nothing to grant (memlock.set keeps it) */
        else if (nl.rlim_max == RLIM_INFINITY)
                snprintf(hard, sizeof(hard), "\"unlimited\"");
        else
                snprintf(hard, sizeof(hard), "%" PRIu64, (uint64_t) nl.rlim_max);
        if (nl.rlim_cur > nl.rlim_max) /* RLIM_INFINITY is the largest value */
                return unotify_answer(call, 0, EINVAL), unotify_call_free(call); /* as the kernel says */
        if (hard[0])
                snprintf(args, sizeof(args), "{\"pid\":%d,\"soft\":%s,\"hard\":%s}", (int) target, soft, hard);
        else
                snprintf(args, sizeof(args), "{\"pid\":%d,\"soft\":%s}", (int) target, soft);
        call->old_ptr = old_ptr;
        if (unotify_dispatch(call, DELEGATE_OP_MEMLOCK_SET, args, NULL) < 0)
                return unotify_answer(call, 0, ENOMEM), unotify_call_free(call);
}

/* sched_setscheduler()/sched_setattr() to fifo or rr: sched.set (which adds SCHED_RESET_ON_FORK) */
static void on_sched(unotify_call *call, pid_t tid, int sched_policy, int priority) {
        client *c = call->u->c;
        char args[128];
        pid_t target;
        int r = translate(call, c, tid, true, &target);
        if (r < 0)
                return unotify_answer(call, 0, r == -ENOMEM ? ENOMEM : ESRCH), unotify_call_free(call);
        if (priority < 1 || priority > 99)
                return unotify_answer(call, 0, EINVAL), unotify_call_free(call); /* as the kernel says */
        snprintf(args, sizeof(args), "{\"tid\":%d,\"policy\":\"%s\",\"priority\":%d}", (int) target,
                 sched_policy == SCHED_FIFO ? "fifo" : "rr", priority);
        if (unotify_dispatch(call, DELEGATE_OP_SCHED_SET, args, NULL) < 0)
                return unotify_answer(call, 0, ENOMEM), unotify_call_free(call);
}

static void on_setscheduler(unotify_call *call) {
        int sp = (int) call->n.data.args[1] & ~SCHED_RESET_ON_FORK, prio;
        if (sp != SCHED_FIFO && sp != SCHED_RR)
                return unotify_continue(call), unotify_call_free(call);
        if (unotify_read(call, call->n.data.args[2], &prio, sizeof(prio)) < 0)
                return unotify_answer(call, 0, EFAULT), unotify_call_free(call);
        if (!unotify_valid(call))
                return unotify_call_free(call);
        on_sched(call, (pid_t) call->n.data.args[0], sp, prio);
}

static void on_setattr(unotify_call *call) {
        sched_attr_v0 a;
        if (call->n.data.args[2] != 0) /* flags: the kernel says EINVAL */
                return unotify_continue(call), unotify_call_free(call);
        if (unotify_read(call, call->n.data.args[1], &a, sizeof(a)) < 0)
                return unotify_answer(call, 0, EFAULT), unotify_call_free(call);
        if (!unotify_valid(call))
                return unotify_call_free(call);
        /* not realtime, or a layout the kernel rejects by itself: its call */
        if ((a.sched_policy != SCHED_FIFO && a.sched_policy != SCHED_RR) || a.size < sizeof(a))
                return unotify_continue(call), unotify_call_free(call);
        if (a.sched_flags & ~(uint64_t) SCHED_FLAG_RESET_ON_FORK) {
                /* utilization clamps, keep-policy and the like: nothing a rule grants */
                log_msg(call->u->c->b, LOG_NOTICE,
                        "session %llu: seccomp: sched_setattr of tid %d with flags 0x%" PRIx64
                        " beyond SCHED_FLAG_RESET_ON_FORK refused with EPERM",
                        (unsigned long long) call->u->c->session, (int) call->n.pid, a.sched_flags);
                return unotify_answer(call, 0, EPERM), unotify_call_free(call);
        }
        on_sched(call, (pid_t) call->n.data.args[0], (int) a.sched_policy, (int) a.sched_priority);
}

/* One notification: decide what it is; every path ends in an answer (or a request that gives one). */
static void handle(unotify *u, const struct seccomp_notif *n) {
        unotify_call *call = unotify_call_new(u, n);
        if (!call) {
                /* cannot even keep track of it: EAGAIN for the caller, nothing done */
                struct seccomp_notif_resp resp = { .id = n->id, .error = -EAGAIN };
                ioctl(u->fd, SECCOMP_IOCTL_NOTIF_SEND, &resp);
                return;
        }
        u->n_notified++;
        const __u64 *a = n->data.args;
        if (proc_tgid(n->pid, &call->tgid) < 0)
                return unotify_gone_or_continue(call);
        if (!unotify_valid(call)) /* the tid may name another task by now: gone, nobody to answer */
                return unotify_call_free(call);
#ifdef NATIVE_ARCH
        if (n->data.arch != NATIVE_ARCH) {
                call->syscall = "(other arch)";
                return unotify_continue(call), unotify_call_free(call);
        }
#endif
        switch (n->data.nr) {
        case SYS_prlimit64:
                call->syscall = "prlimit64";
                if (a[1] != RLIMIT_MEMLOCK || a[2] == 0) /* another limit, or only a read */
                        return unotify_continue(call), unotify_call_free(call);
                return on_rlimit(call, (pid_t) a[0], a[2], a[3]);
#ifdef SYS_setrlimit
        case SYS_setrlimit:
                call->syscall = "setrlimit";
                if (a[0] != RLIMIT_MEMLOCK)
                        return unotify_continue(call), unotify_call_free(call);
                return on_rlimit(call, 0, a[1], 0);
#endif
        case SYS_sched_setscheduler:
                call->syscall = "sched_setscheduler";
                return on_setscheduler(call);
        case SYS_sched_setattr:
                call->syscall = "sched_setattr";
                return on_setattr(call);
        case SYS_ioctl:
                call->syscall = "ioctl";
                if ((uint32_t) a[1] == (uint32_t) TUNSETIFF)
                        return unotify_tunsetiff(call, a[0], a[2]);
                if ((uint32_t) a[1] == SIOCSIFHWADDR || (uint32_t) a[1] == SIOCSIFFLAGS ||
                    (uint32_t) a[1] == SIOCSIFMTU)
                        return unotify_netdev(call, a[0], a[2]);
                return unotify_continue(call), unotify_call_free(call);
        default:
                call->syscall = "(not intercepted)";
                return unotify_continue(call), unotify_call_free(call);
        }
}

/* Stop reading @c's listener; the calls in progress now count against @next (may be NULL). */
static void unotify_close(client *c, unotify *next) {
        unotify *u = US(c)->listener;
        if (!u)
                return;
        /* calls in progress keep their own dup of the listener and answer through it */
        while (u->calls) {
                unotify_call *call = u->calls;
                unotify_call_unlink(call);
                if (next)
                        unotify_call_link(next, call);
        }
        sd_event_source_disable_unref(u->src);
        safe_close(u->fd);
        free(u);
        US(c)->listener = NULL;
}

static int on_listener(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        unotify *u = userdata;
        client *c = u->c;
        for (unsigned i = 0; i < UNOTIFY_BATCH; i++) {
                if (u->inflight >= UNOTIFY_MAX_INFLIGHT) {
                        /* its callers wait in the kernel; the others are served meanwhile */
                        sd_event_source_set_enabled(u->src, SD_EVENT_OFF);
                        return 0;
                }
                struct pollfd p = { .fd = fd, .events = POLLIN };
                if (poll(&p, 1, 0) <= 0 || !(p.revents & POLLIN)) {
                        if (p.revents & (POLLHUP | POLLERR)) {
                                /* every process under the filter is gone */
                                log_msg(c->b, LOG_INFO,
                                        "session %llu: seccomp listener closed: its programs exited (%" PRIu64
                                        " calls notified, %" PRIu64 " left to the kernel)",
                                        (unsigned long long) c->session, u->n_notified, u->n_continued);
                                unotify_close(c, NULL);
                        }
                        return 0;
                }
                struct seccomp_notif n;
                memset(&n, 0, sizeof(n));
                if (ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, &n) < 0) {
                        if (errno == ENOENT || errno == EINTR) /* the caller was interrupted meanwhile */
                                continue;
                        log_msg(c->b, LOG_WARNING, "session %llu: seccomp listener: %m; closed",
                                (unsigned long long) c->session);
                        unotify_close(c, NULL);
                        return 0;
                }
                handle(u, &n);
                if (!US(c)->listener)
                        return 0;
        }
        return 0;
}

/* --- what a session holds: the listener --- */

static void unotify_release(client *c) {
        unotify_close(c, NULL); /* a kept session gets the listener again from delegate-run when it resumes */
}

static size_t count(const client *c) {
        return US(c)->listener != NULL;
}

static void unotify_state_gen(const client *c, json_gen *g) {
        const unotify *u = US(c)->listener;
        json_gen_map_open(g);
        json_gen_kv_bool(g, "attached", u != NULL);
        json_gen_kv_u64(g, "notified", u ? u->n_notified : 0);
        json_gen_kv_u64(g, "continued", u ? u->n_continued : 0);
        json_gen_kv_u64(g, "in_progress", u ? u->inflight : 0);
        json_gen_map_close(g);
}

static const session_hook hooks[] = { { "unotify", count, unotify_state_gen, NULL } };

const session_part session_part_unotify = {
        .slot = SESSION_PART_unotify,
        .size = sizeof(unotify_session),
        .hooks = hooks,
        .n_hooks = ELEMENTSOF(hooks),
        .release = unotify_release,
};

/*
 * Can this broker read a caller's memory and copy its fds?  The shipped
 * unit leaves process_vm_readv/writev and pidfd_getfd (systemd's @debug)
 * out unless its unotify.conf drop-in is installed: tried on ourselves.
 */
static const char *missing_call(int *ret_errno) {
        char src = 1, dst = 0;
        struct iovec l = { &dst, 1 }, r = { &src, 1 };
        if (process_vm_readv(getpid(), &l, 1, &r, 1, 0) != 1)
                return *ret_errno = errno, "process_vm_readv";
        if (process_vm_writev(getpid(), &l, 1, &r, 1, 0) != 1)
                return *ret_errno = errno, "process_vm_writev";
        _cleanup_close_ int self = pidfd_open(getpid(), 0);
        _cleanup_close_ int copy = self < 0 ? -EBADF : pidfd_getfd(self, self, 0);
        if (self >= 0 && copy < 0)
                return *ret_errno = errno, "pidfd_getfd";
        return NULL;
}

/* unotify.attach: {"listener": 0}, the index of the seccomp listener among the request's fds. */
static void unotify_attach(request *req, void *args, const policy_decision *d) {
        client *c = req->c;
        int64_t index = ((const unotify_attach_args *) args)->listener;
        if (!c || req->who.via_bus || req->who.via_seccomp)
                return request_reply_error(req, ERR_BAD_REQUEST, EINVAL, NULL,
                                           "unotify.attach: only a session's own process hands over its listener");
        if ((size_t) index >= req->n_fds)
                return request_reply_error(req, ERR_BAD_REQUEST, EBADF, NULL,
                                           "unotify.attach: \"listener\" is fd index %" PRIi64
                                           " but the request carried %zu fd(s)",
                                           index, req->n_fds);
        int e = 0;
        const char *missing = missing_call(&e);
        if (missing)
                return request_reply_error(req, ERR_UNSUPPORTED, EPERM, NULL,
                                           "unotify.attach: this broker may not call %s(2) (%s), so it cannot read "
                                           "intercepted syscalls; under systemd install the unotify.conf drop-in "
                                           "(delegate-broker(8), SYSTEMD UNIT)",
                                           missing, strerror(e));
        uint64_t probe = 0;
        /* a seccomp listener knows SECCOMP_IOCTL_NOTIF_ID_VALID (ENOENT for an id it does not hold) */
        if (ioctl(req->fds[index], SECCOMP_IOCTL_NOTIF_ID_VALID, &probe) == 0 || errno != ENOENT)
                return request_reply_error(req, ERR_BAD_REQUEST, EBADF, NULL,
                                           "unotify.attach: fd %" PRIi64 " is not a seccomp listener (one made with "
                                           "SECCOMP_FILTER_FLAG_NEW_LISTENER)",
                                           index);
        unotify *u = calloc(1, sizeof(*u));
        if (!u)
                return request_reply_error(req, ERR_SYSTEM, ENOMEM, NULL, "out of memory");
        u->c = c;
        u->fd = TAKE_FD(req->fds[index]);
        int r = sd_event_add_io(c->b->event, &u->src, u->fd, EPOLLIN, on_listener, u);
        if (r < 0) {
                safe_close(u->fd);
                free(u);
                return request_reply_error(req, ERR_SYSTEM, -r, NULL, "cannot watch the listener: %s", strerror(-r));
        }
        bool again = US(c)->listener != NULL;
        unotify_close(c, u); /* its calls in progress still end, counted here */
        US(c)->listener = u;
        log_msg(c->b, LOG_INFO, "session %llu: seccomp listener %s (pid %d)", (unsigned long long) c->session,
                again ? "replaced" : "attached", (int) c->cred.pid);
        request_reply_result(req,
                             "{\"attached\":true,\"intercepted\":[\"prlimit64\",\"setrlimit\",\"sched_setscheduler\","
                             "\"sched_setattr\",\"ioctl\"]}",
                             NULL, 0);
}

const broker_op bop_unotify_attach = { .op = &op_unotify_attach, .act = unotify_attach };
