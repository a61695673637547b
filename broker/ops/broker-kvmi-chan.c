/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-kvmi-chan.c - a KVMI channel's connection, below the rest of the
 * channel: the output queue and sending, receiving, failing the connection
 * with everything that waits on it, and arming its timer.  broker-kvmi.c
 * (the reader, the batches, the session's interface) and
 * broker-kvmi-setup.c (hello, setup, re-application) both use it; it
 * calls neither.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/mman.h>
#include <syslog.h>

#include "broker-kvmi-chan.h"

void batch_free(kbatch *b) {
        if (b->map)
                munmap(b->map, b->map_len);
        else if (b->e) {
                explicit_bzero(b->e, b->n * sizeof(*b->e));
                free(b->e);
        }
        free(b->failed);
        free(b->last_gfn_index);
        free(b);
}

void batch_fail(kbatch *b, err_code code, int errno_value, const char *why) {
        if (b->req)
                request_reply_error(b->req, code, errno_value, NULL,
                                    "%s: %s; %zu of %zu messages were answered (%zu entries "
                                    "applied, in the shadow)", op_kvmi_set_page_access.name,
                                    why, b->n_answered, b->n_msgs, b->applied);
        batch_free(b);
}

/*
 * Close the connection and fail everything pending with @why (errno @e):
 * the batches, and kvmi.connect when it waits.  The channel stays (its
 * secret, its counters): QEMU reconnects and kvmi.connect hands the new
 * connection over.
 */
void ch_fail(kvmi_channel *ch, int e, const char *fmt, ...) {
        if (ch->state == CH_CLOSED || ch->state == CH_WAITING)
                return;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ch->why, sizeof(ch->why), fmt, ap);
        va_end(ap);
        ch->state = CH_CLOSED;
        log_msg(ch->c->b, LOG_NOTICE, "session %llu: KVMI connection %llu closed: %s",
                (unsigned long long) ch->c->session, (unsigned long long) ch->connections, ch->why);
        ch->io = sd_event_source_disable_unref(ch->io);
        if (ch->timer)
                sd_event_source_set_enabled(ch->timer, SD_EVENT_OFF);
        ch->fd = safe_close(ch->fd);
        while (ch->head) {
                kcmd *k = ch->head;
                ch->head = k->next;
                free(k);
        }
        ch->tail = NULL;
        ch->n_cmds = 0;
        ch->retry_at = 0;
        ch->reapplying = false;
        /* it held the hello reply (the secret's hash) and page-access commands */
        if (ch->tx)
                explicit_bzero(ch->tx, ch->tx_cap);
        free(ch->tx);
        ch->tx = NULL;
        ch->tx_len = ch->tx_off = ch->tx_cap = 0;
        explicit_bzero(ch->rx, sizeof(ch->rx));
        ch->rx_len = 0;
        while (ch->bhead) {
                kbatch *b = ch->bhead;
                ch->bhead = b->next;
                batch_fail(b, ERR_SYSTEM, e, ch->why);
        }
        ch->btail = NULL;
        if (ch->connect_req) {
                request *req = TAKE_PTR(ch->connect_req);
                request_reply_error(req, ERR_SYSTEM, e, NULL, "%s: connection %llu: %s", op_kvmi_connect.name,
                                    (unsigned long long) ch->connections, ch->why);
        }
}

int tx_reserve(kvmi_channel *ch, size_t n) {
        if (ch->tx_off > 0 && ch->tx_off == ch->tx_len)
                ch->tx_off = ch->tx_len = 0;
        if (ch->tx_len + n <= ch->tx_cap)
                return 0;
        if (ch->tx_off > 0) {
                memmove(ch->tx, ch->tx + ch->tx_off, ch->tx_len - ch->tx_off);
                ch->tx_len -= ch->tx_off;
                ch->tx_off = 0;
                if (ch->tx_len + n <= ch->tx_cap)
                        return 0;
        }
        size_t cap = ch->tx_cap ? ch->tx_cap : 65536;
        while (cap < ch->tx_len + n)
                cap *= 2;
        /* not realloc(): the old block must be erased before it is freed */
        uint8_t *t = malloc(cap);
        if (!t)
                return -ENOMEM;
        if (ch->tx) {
                memcpy(t, ch->tx, ch->tx_len);
                explicit_bzero(ch->tx, ch->tx_cap);
                free(ch->tx);
        }
        ch->tx = t;
        ch->tx_cap = cap;
        return 0;
}

void ch_flush(kvmi_channel *ch) {
        while (ch->state != CH_CLOSED && ch->tx_off < ch->tx_len) {
                ssize_t n = send(ch->fd, ch->tx + ch->tx_off, ch->tx_len - ch->tx_off, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        break;
                if (n < 0)
                        return ch_fail(ch, errno == EPIPE ? EPIPE : errno, "sending to the KVMI peer failed: %m");
                ch->tx_off += n;
        }
        if (ch->state != CH_CLOSED)
                ch_update_io(ch);
}

/* Queue the command of @len bytes already written at the end of ch->tx (room made with tx_reserve()). */
static int ch_queue_built(kvmi_channel *ch, size_t len, kbatch *b, size_t first, size_t n, bool probe) {
        kvmi_msg_hdr h;
        memcpy(&h, ch->tx + ch->tx_len, sizeof(h));
        kcmd *k = calloc(1, sizeof(*k));
        if (!k)
                return -ENOMEM;
        ch->tx_len += len;
        *k = (kcmd) { .id = h.id, .seq = h.seq, .b = b, .first = first, .n = n, .probe = probe };
        if (ch->n_cmds == 0) /* the timeout counts from here, then from each reply */
                ch->progress_at = kvmi_now_usec();
        if (ch->tail)
                ch->tail->next = k;
        else
                ch->head = k;
        ch->tail = k;
        ch->n_cmds++;
        ch->msgs_sent++;
        if (b) {
                b->in_flight++;
                ch->entries_sent += n;
        }
        return 0;
}

int ch_send_simple(kvmi_channel *ch, uint16_t id, const void *payload, size_t len) {
        if (tx_reserve(ch, KVMI_HDR_SIZE + len) < 0)
                return -ENOMEM;
        int n = kvmi_build_msg(ch->tx + ch->tx_len, id, ch->seq++, payload, len);
        return n < 0 ? n : ch_queue_built(ch, (size_t) n, NULL, 0, 0, false);
}

int ch_queue_page_access(kvmi_channel *ch, kbatch *b, size_t first, size_t n, bool probe) {
        if (tx_reserve(ch, KVMI_HDR_SIZE + sizeof(kvmi_vm_set_page_access) + n * sizeof(kvmi_page_access_entry)) < 0)
                return -ENOMEM;
        int len = kvmi_build_set_page_access(ch->tx + ch->tx_len, ch->seq++, b->e + first, n);
        return len < 0 ? len : ch_queue_built(ch, (size_t) len, b, first, n, probe);
}

ssize_t ch_recv(kvmi_channel *ch, void *buf, size_t len) {
        for (;;) {
                ssize_t n = recv(ch->fd, buf, len, MSG_DONTWAIT);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return errno == EAGAIN ? 0 : -errno;
                return n == 0 ? -EPIPE : n;
        }
}

void ch_arm(kvmi_channel *ch) {
        if (ch->state == CH_CLOSED || ch->state == CH_WAITING || !ch->timer)
                return;
        uint64_t t = UINT64_MAX;
        if (ch->head)
                t = ch->progress_at + KVMI_TIMEOUT_USEC;
        if (ch->state != CH_READY && ch->phase_deadline < t)
                t = ch->phase_deadline;
        if (ch->retry_at && ch->retry_at < t)
                t = ch->retry_at;
        if (t == UINT64_MAX) {
                sd_event_source_set_enabled(ch->timer, SD_EVENT_OFF);
                return;
        }
        sd_event_source_set_time(ch->timer, t);
        sd_event_source_set_enabled(ch->timer, SD_EVENT_ONESHOT);
}

void ch_update_io(kvmi_channel *ch) {
        if (ch->io)
                sd_event_source_set_io_events(ch->io, EPOLLIN | EPOLLRDHUP | (ch->tx_off < ch->tx_len ? EPOLLOUT : 0));
}
