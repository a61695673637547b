/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * launcher-qmp.c - a small QMP client: one JSON object per line, the
 * greeting, qmp_capabilities, commands with ids, events noted on the way.
 * The socket is one end of a socketpair whose other end QEMU got with
 * "-chardev socket,fd=N".
 */
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>

#include "launcher.h"

int qmp_init(qmp *q, int fd) {
        *q = (qmp) { .fd = fd };
        q->buf = malloc(QMP_BUF);
        return q->buf ? 0 : -ENOMEM;
}

void qmp_done(qmp *q) {
        if (q->buf)
                explicit_bzero(q->buf, QMP_BUF);
        free(q->buf);
        q->buf = NULL;
        q->fd = safe_close(q->fd);
}

/* Fill the buffer; timeout_ms < 0: do not wait.  0 on data, -EAGAIN, -ECONNRESET, -ETIMEDOUT. */
static int fill(qmp *q, int timeout_ms) {
        if (q->len == QMP_BUF)
                return -E2BIG; /* a line longer than the buffer */
        struct pollfd p = { q->fd, POLLIN, 0 };
        int r = poll(&p, 1, timeout_ms < 0 ? 0 : timeout_ms);
        if (r < 0)
                return errno == EINTR ? -EAGAIN : negative_errno();
        if (r == 0)
                return timeout_ms < 0 ? -EAGAIN : -ETIMEDOUT;
        ssize_t k = recv(q->fd, q->buf + q->len, QMP_BUF - q->len, MSG_DONTWAIT);
        if (k < 0)
                return errno == EAGAIN || errno == EINTR ? -EAGAIN : negative_errno();
        if (k == 0)
                return -ECONNRESET;
        q->len += k;
        return 0;
}

/* Next non-event message within the deadline. */
static int next_message(qmp *q, int64_t deadline, json_value **ret) {
        for (;;) {
                json_value *v = NULL;
                int r = qmp_take_line(q->buf, &q->len, &v);
                if (r == 0) {
                        if (qmp_classify(v) == QMP_EVENT) {
                                q->shutdown_seen |= qmp_is_shutdown_event(v);
                                q->resume_seen |= qmp_is_event(v, "RESUME");
                                json_free(v);
                                continue;
                        }
                        *ret = v;
                        return 0;
                }
                if (r != -EAGAIN)
                        return r;
                int64_t left = deadline - mono_ms();
                if (left <= 0)
                        return -ETIMEDOUT;
                r = fill(q, (int) left);
                if (r < 0 && r != -EAGAIN)
                        return r;
        }
}

static int send_all(int fd, const char *s, size_t n) {
        while (n > 0) {
                ssize_t k = send(fd, s, n, MSG_NOSIGNAL);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return negative_errno();
                s += k;
                n -= k;
        }
        return 0;
}

int qmp_handshake(qmp *q, int timeout_ms, char *err, size_t size) {
        _cleanup_json_ json_value *g = NULL;
        int r = next_message(q, mono_ms() + timeout_ms, &g);
        if (r < 0) {
                snprintf(err, size, "no QMP greeting from QEMU: %s", strerror(-r));
                return r;
        }
        if (qmp_classify(g) != QMP_GREETING) {
                snprintf(err, size, "QEMU's first QMP message is not a greeting");
                return -EBADMSG;
        }
        return qmp_execute(q, "qmp_capabilities", NULL, NULL, timeout_ms, err, size);
}

int qmp_execute(qmp *q, const char *cmd, const char *args_json, json_value **ret, int timeout_ms, char *err,
                size_t size) {
        static uint64_t next_id = 1;
        uint64_t id = next_id++;
        char *line = NULL;
        int n = asprintf(&line, "{\"execute\":\"%s\"%s%s,\"id\":%llu}\n", cmd, args_json ? ",\"arguments\":" : "",
                         args_json ? args_json : "", (unsigned long long) id);
        if (n < 0)
                return -ENOMEM;
        int r = send_all(q->fd, line, (size_t) n);
        erase_free(line);
        if (r < 0) {
                snprintf(err, size, "QMP %s: cannot send: %s", cmd, strerror(-r));
                return r;
        }
        int64_t deadline = mono_ms() + timeout_ms;
        for (;;) {
                _cleanup_json_ json_value *v = NULL;
                r = next_message(q, deadline, &v);
                if (r < 0) {
                        snprintf(err, size, "QMP %s: %s", cmd,
                                 r == -ETIMEDOUT ? "no answer in time" : r == -ECONNRESET ? "QEMU closed QMP" : strerror(-r));
                        return r;
                }
                r = qmp_reply_parse(v, cmd, id, ret, err, size);
                if (r == -EAGAIN)
                        continue; /* an answer to something we gave up on */
                return r;
        }
}

int qmp_drain(qmp *q) {
        for (;;) {
                json_value *v = NULL;
                int r = qmp_take_line(q->buf, &q->len, &v);
                if (r == 0) {
                        q->shutdown_seen |= qmp_is_shutdown_event(v);
                        q->resume_seen |= qmp_is_event(v, "RESUME");
                        json_free(v);
                        continue;
                }
                r = fill(q, -1);
                if (r == -EAGAIN)
                        return 0;
                if (r < 0)
                        return r;
        }
}
