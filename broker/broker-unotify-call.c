/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-unotify-call.c - one intercepted syscall being served: the
 * caller's memory read and written, the answer (or "let the kernel judge
 * it"), and the request it becomes (unotify_dispatch()), answered through
 * the hook of the code that made it (broker-unotify-tap.c for ioctls).
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

#include "broker-closer.h"
#include "broker-unotify-call.h"
#include "ops.h"

int unotify_read(const unotify_call *call, uint64_t addr, void *buf, size_t len) {
        struct iovec local = { buf, len }, remote = { (void *) (uintptr_t) addr, len };
        if (addr == 0)
                return -EFAULT;
        ssize_t n = process_vm_readv(call->n.pid, &local, 1, &remote, 1, 0);
        if (n < 0)
                return negative_errno();
        return (size_t) n == len ? 0 : -EFAULT;
}

int unotify_write(const unotify_call *call, uint64_t addr, const void *buf, size_t len) {
        struct iovec local = { (void *) buf, len }, remote = { (void *) (uintptr_t) addr, len };
        if (!unotify_valid(call)) /* the tid could be someone else's by now */
                return -ESRCH;
        ssize_t n = process_vm_writev(call->n.pid, &local, 1, &remote, 1, 0);
        if (n < 0)
                return negative_errno();
        return (size_t) n == len ? 0 : -EFAULT;
}

bool unotify_valid(const unotify_call *call) {
        uint64_t id = call->n.id;
        return ioctl(call->listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0;
}

static void send_resp(unotify_call *call, struct seccomp_notif_resp *resp) {
        /* our checked copy of its /dev/net/tun closed first: once its ioctl returns, the process's close of
         * that queue is the last one, seen so by anyone (netlink too), not only by its next TUNSETIFF */
        if (call->tun_device)
                close_fds_here(&call->tun_fd, 1);
        if (ioctl(call->listener, SECCOMP_IOCTL_NOTIF_SEND, resp) < 0 && errno != ENOENT)
                log_msg(NULL, LOG_WARNING, "seccomp: cannot answer %s of tid %d: %m", call->syscall,
                        (int) call->n.pid);
}

void unotify_answer(unotify_call *call, int64_t val, int error) {
        struct seccomp_notif_resp resp = { .id = call->n.id, .val = error ? 0 : val, .error = error ? -error : 0 };
        send_resp(call, &resp);
}

void unotify_gone_or_continue(unotify_call *call) {
        if (unotify_valid(call))
                unotify_continue(call);
        unotify_call_free(call);
}

void unotify_continue(unotify_call *call) {
        struct seccomp_notif_resp resp = { .id = call->n.id, .flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE };
        if (call->u)
                call->u->n_continued++;
        send_resp(call, &resp);
}

void unotify_call_link(unotify *u, unotify_call *call) {
        call->u = u;
        call->prev = NULL;
        call->next = u->calls;
        if (u->calls)
                u->calls->prev = call;
        u->calls = call;
        u->inflight++;
}

/* @call ends: the session's listener may read again below the bound. */
void unotify_call_unlink(unotify_call *call) {
        unotify *u = call->u;
        if (!u)
                return;
        if (call->prev)
                call->prev->next = call->next;
        else
                u->calls = call->next;
        if (call->next)
                call->next->prev = call->prev;
        call->u = NULL;
        u->inflight--;
        if (u->src && u->inflight < UNOTIFY_MAX_INFLIGHT)
                sd_event_source_set_enabled(u->src, SD_EVENT_ON);
}

unotify_call *unotify_call_new(unotify *u, const struct seccomp_notif *n) {
        unotify_call *call = calloc(1, sizeof(*call));
        if (!call)
                return NULL;
        call->listener = fcntl(u->fd, F_DUPFD_CLOEXEC, 3);
        if (call->listener < 0) {
                free(call);
                return NULL;
        }
        call->n = *n;
        call->tun_fd = call->sock_fd = -EBADF;
        unotify_call_link(u, call);
        return call;
}

void unotify_call_free(unotify_call *call) {
        if (!call)
                return;
        unotify_call_unlink(call);
        /* copies of a pod process's fds: by the closer (broker-closer.c), never here, and as they are (a
         * socket of the process's is its to read: not emptied), but for a TAP queue we checked: at once
         * (before the answer already, send_resp()), so that the process's close is the last and the device
         * goes with it.
         * Its next TUNSETIFF of that name (the probe, then the kernel's own judgement, or a creation that
         * reads EBUSY) must not find it alive in the closer's queue */
        close_fds(&call->listener, 1);
        if (call->tun_device)
                close_fds_here(&call->tun_fd, 1);
        else
                close_copies(&call->tun_fd, 1);
        close_copies(&call->sock_fd, 1);
        explicit_bzero(call, sizeof(*call));
        free(call);
}

/*
 * An errno the caller's program knows from this syscall, the one mapping of
 * every intercepted call (delegate-run(1)): what it would have got without
 * us for a refusal (EPERM), EINVAL for arguments the broker finds bad,
 * ENODEV for a device that is gone and ESRCH for any other target that is,
 * else the errno of the failure.
 */
int unotify_errno(const reply_info *r) {
        int e = r->error->errno_value;
        if (r->error->code == ERR_DENIED || r->error->code == ERR_RATE_LIMITED || e == EACCES)
                return EPERM;
        if (r->error->code == ERR_BAD_REQUEST)
                return EINVAL;
        if (r->error->code == ERR_NOT_FOUND)
                return e == ENODEV ? ENODEV : ESRCH;
        return e > 0 && e < 4096 ? e : EPERM;
}

static uint64_t limit_of(const json_value *v) {
        uint64_t x = RLIM_INFINITY;
        if (v && !json_is_string(v) && json_to_u64(v, &x) < 0)
                x = RLIM_INFINITY;
        return x;
}

static void call_reply(request *req, const reply_info *r) {
        unotify_call *call = req->origin_data;
        if (!call)
                return;
        /* the program sees only the errno: say why here (a policy denial is in the audit too), as often
         * as the session's listener may: a flooding program must not flood the journal through us */
        if (!r->ok && call->u && !(call->to_kernel && call->to_kernel(call, r)))
                log_burst_msg(req->b, &call->u->refusals, LOG_NOTICE, "session %llu: seccomp: %s of tid %d refused: %s",
                        (unsigned long long) req->who.session, call->syscall, (int) call->n.pid,
                        r->error->message);
        if (call->on_reply)
                return call->on_reply(req, r);
        if (!r->ok)
                return unotify_answer(call, 0, unotify_errno(r));
        if (call->old_ptr) {
                /* prlimit64's old limits, from the operation's own reading */
                _cleanup_json_ json_value *v = NULL;
                json_parse_error je;
                const json_value *old = NULL;
                if (json_parse(r->result_json, strlen(r->result_json), false, &v, &je) == 0)
                        old = json_get(v, "old");
                struct rlimit o = { limit_of(json_get(old, "soft")), limit_of(json_get(old, "hard")) };
                if (!old || unotify_write(call, call->old_ptr, &o, sizeof(o)) < 0)
                        return unotify_answer(call, 0, EFAULT);
        }
        unotify_answer(call, 0, 0);
}

/* Freed without a reply (the broker stops): the caller must not wait for nobody. */
static void call_release(request *req) {
        unotify_call *call = req->origin_data;
        if (!call)
                return;
        if (req->b->exiting)
                unotify_answer(call, 0, EINTR);
        req->origin_data = NULL;
        unotify_call_free(call);
}

static const request_origin unotify_origin = { .reply = call_reply, .release = call_release };

int unotify_dispatch(unotify_call *call, const char *op, const char *args_json,
                     void (*act)(request *req, void *args, const policy_decision *d)) {
        client *c = call->u ? call->u->c : NULL;
        json_parse_error je;
        if (!c)
                return -ECONNRESET;
        request *req = request_new(c->b, &unotify_origin);
        if (!req)
                return -ENOMEM;
        int r = caller_from_client(&req->who, c);
        if (r >= 0 && !(req->op = strdup(op)))
                r = -ENOMEM;
        if (r >= 0)
                r = json_parse(args_json, strlen(args_json), false, &req->args, &je);
        if (r < 0) {
                request_free(req);
                return r < 0 ? r : -EINVAL;
        }
        req->who.via_seccomp = true;
        req->who.pid = call->tgid; /* the audit names the process that made the call */
        req->c = c;
        req->peer = client_peer(c);
        req->has_peer = true;
        req->next = c->acting;
        c->acting = req;
        req->origin_data = call;
        log_msg(c->b, LOG_DEBUG, "session %llu: seccomp: %s of tid %d as %s %s", (unsigned long long) c->session,
                call->syscall, (int) call->n.pid, op, args_json);
        request_dispatch_act(req, act);
        return 0;
}
