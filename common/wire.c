/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "wire.h"

#include <stdarg.h>
#include <stdio.h>
#include <poll.h>
#include <sys/socket.h>

static const char *const err_names[_ERR_MAX] = {
        [ERR_BAD_REQUEST] = "bad-request",   [ERR_API_MISMATCH] = "api-mismatch",
        [ERR_DENIED] = "denied",             [ERR_NOT_FOUND] = "not-found",
        [ERR_EXISTS] = "exists",             [ERR_TOO_LARGE] = "too-large",
        [ERR_RATE_LIMITED] = "rate-limited", [ERR_UNSUPPORTED] = "unsupported",
        [ERR_SYSTEM] = "system",
};

const char *err_code_name(err_code c) {
        return c < _ERR_MAX ? err_names[c] : "system";
}

int err_code_from_name(const char *name) {
        for (int i = 0; i < _ERR_MAX; i++)
                if (streq(err_names[i], name))
                        return i;
        return -1;
}

int error_set(delegate_error *e, int ret, const char *code, int errno_value, const char *fmt, ...) {
        if (!e)
                return ret;
        memset(e, 0, sizeof(*e));
        snprintf(e->code, sizeof(e->code), "%s", code);
        e->errno_value = errno_value;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->message, sizeof(e->message), fmt, ap);
        va_end(ap);
        return ret;
}

int op_error_set(op_error *e, int ret, err_code code, int errno_value, const char *fmt, ...) {
        if (!e)
                return ret;
        memset(e, 0, sizeof(*e));
        e->code = code;
        e->errno_value = errno_value;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->message, sizeof(e->message), fmt, ap);
        va_end(ap);
        return ret;
}

static void (*fds_closer)(int *fds, size_t n);
static _Thread_local bool fds_here; /* this thread closes its own: wire_close_fds_here_on_this_thread() */

void wire_set_fds_closer(void (*closer)(int *fds, size_t n)) {
        fds_closer = closer;
}

void close_fds_here(int *fds, size_t n) {
        for (size_t i = 0; i < n; i++)
                fds[i] = safe_close(fds[i]);
}

void wire_close_fds_here_on_this_thread(void) {
        fds_here = true;
}

void close_fds(int *fds, size_t n) {
        if (fds_closer && n && !fds_here)
                return fds_closer(fds, n);
        close_fds_here(fds, n);
}

void wire_put_fds(struct msghdr *mh, void *control, const int *fds, size_t n_fds) {
        mh->msg_control = control;
        mh->msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
        struct cmsghdr *c = CMSG_FIRSTHDR(mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * n_fds);
}

int wire_send(int fd, const void *buf, size_t len, const int *fds, size_t n_fds) {
        if (len > DELEGATE_MAX_MESSAGE)
                return -EMSGSIZE;
        if (n_fds > DELEGATE_MAX_FDS)
                return -ETOOMANYREFS;

        struct iovec iov = { .iov_base = (void *) buf, .iov_len = len };
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int) * DELEGATE_MAX_FDS)];
        } control;
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

        if (n_fds > 0) {
                memset(&control, 0, sizeof(control));
                wire_put_fds(&mh, control.buf, fds, n_fds);
        }
        ssize_t n = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0)
                return negative_errno();
        if ((size_t) n != len)
                return -EIO;
        return 0;
}

/* Room for every fd a datagram can carry (WIRE_FDS_PER_DATAGRAM) */
typedef union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int) * WIRE_FDS_PER_DATAGRAM)];
} fd_room;

/*
 * How many fds of a datagram the caller takes (DELEGATE_MAX_FDS at most,
 * none without @fds).  The receive has room for all of them all the same:
 * those over the count are closed with close_fds() (see
 * WIRE_FDS_PER_DATAGRAM), and the datagram is refused (-ETOOMANYREFS).
 */
static size_t fd_room_size(const int *fds, size_t max_fds) {
        if (!fds)
                return 0;
        return max_fds > DELEGATE_MAX_FDS ? DELEGATE_MAX_FDS : max_fds;
}

static struct msghdr recv_header(struct iovec *iov, fd_room *control) {
        return (struct msghdr) {
                .msg_iov = iov,
                .msg_iovlen = 1,
                .msg_control = control->buf,
                .msg_controllen = sizeof(control->buf),
        };
}

/* What wire_recv() returns for the datagram of @n bytes that @mh received: its fds taken, checked */
static ssize_t recv_done(int fd, struct msghdr *mh, ssize_t n, int *fds, size_t max_fds, size_t *ret_n_fds,
                         bool *ret_eof) {
        void *buf = mh->msg_iov->iov_base;
        size_t size = mh->msg_iov->iov_len, n_fds = 0, n_extra = 0;
        int extra_fds[WIRE_FDS_PER_DATAGRAM];
        bool extra = false;

        *ret_n_fds = 0;
        *ret_eof = false;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
                if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                        continue;
                size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                int *in = (int *) CMSG_DATA(c);
                for (size_t i = 0; i < k; i++) {
                        if (n_fds < max_fds && fds)
                                fds[n_fds++] = in[i];
                        else {
                                if (n_extra < ELEMENTSOF(extra_fds))
                                        extra_fds[n_extra++] = in[i];
                                else
                                        safe_close(in[i]); /* more than a datagram carries: not from this kernel */
                                extra = true;
                        }
                }
        }
        close_fds(extra_fds, n_extra);
        if (mh->msg_flags & MSG_CTRUNC)
                extra = true;

        if (n == 0 && n_fds == 0 && !extra) {
                /* SEQPACKET: a zero-length read is either an empty datagram
                 * or the peer's shutdown; only the latter sets RDHUP/HUP. */
                struct pollfd p = { .fd = fd, .events = POLLRDHUP };
                if (poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)))
                        *ret_eof = true;
                return 0;
        }
        if (mh->msg_flags & MSG_TRUNC) {
                explicit_bzero(buf, size);
                close_fds(fds, n_fds);
                return -EMSGSIZE;
        }
        if (extra) {
                explicit_bzero(buf, size);
                close_fds(fds, n_fds);
                return -ETOOMANYREFS;
        }
        *ret_n_fds = n_fds;
        return n;
}

static ssize_t recv_one(int fd, void *buf, size_t size, int *fds, size_t max_fds, size_t *ret_n_fds, bool *ret_eof,
                        int flags) {
        struct iovec iov = { .iov_base = buf, .iov_len = size };
        fd_room control;
        max_fds = fd_room_size(fds, max_fds);
        struct msghdr mh = recv_header(&iov, &control);
        *ret_n_fds = 0;
        *ret_eof = false;
        ssize_t n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | flags);
        if (n < 0)
                return negative_errno();
        return recv_done(fd, &mh, n, fds, max_fds, ret_n_fds, ret_eof);
}

ssize_t wire_recv(int fd, void *buf, size_t size, int *fds, size_t max_fds, size_t *ret_n_fds, bool *ret_eof) {
        return recv_one(fd, buf, size, fds, max_fds, ret_n_fds, ret_eof, MSG_DONTWAIT);
}

ssize_t wire_recv_wait(int fd, void *buf, size_t size, int *fds, size_t max_fds, size_t *ret_n_fds, bool *ret_eof) {
        return recv_one(fd, buf, size, fds, max_fds, ret_n_fds, ret_eof, 0);
}

void wire_msg_drop(wire_msg *m) {
        if (m->n >= 0) /* an empty datagram may carry fds too */
                close_fds(m->fds, m->n_fds);
        if (m->n > 0)
                explicit_bzero(m->buf, m->n);
}

int wire_recv_two(int fd, wire_msg msg[2], size_t max_fds) {
        struct iovec iov[2];
        fd_room control[2];
        struct mmsghdr mm[2];
        size_t room[2];
        for (size_t i = 0; i < 2; i++) {
                room[i] = fd_room_size(msg[i].fds, max_fds);
                iov[i] = (struct iovec) { .iov_base = msg[i].buf, .iov_len = msg[i].size };
                mm[i] = (struct mmsghdr) { .msg_hdr = recv_header(&iov[i], &control[i]) };
                msg[i].n = -EAGAIN;
                msg[i].n_fds = 0;
                msg[i].eof = false;
        }
        /* the second only if it is there already: MSG_DONTWAIT for both */
        int got = recvmmsg(fd, mm, 2, MSG_CMSG_CLOEXEC | MSG_DONTWAIT, NULL);
        if (got < 0)
                return negative_errno();
        for (int i = 0; i < got; i++)
                msg[i].n = recv_done(fd, &mm[i].msg_hdr, (ssize_t) mm[i].msg_len, msg[i].fds, room[i], &msg[i].n_fds,
                                     &msg[i].eof);
        return got;
}
