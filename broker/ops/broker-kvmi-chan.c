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
#include <sys/socket.h>
#include <sys/uio.h>
#include <syslog.h>

#include "broker-kvmi-chan.h"

int memfd_read(int fd, void *buf, size_t len, off_t off) {
        for (size_t got = 0; got < len;) {
                ssize_t r = pread(fd, (uint8_t *) buf + got, len - got, off + (off_t) got);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r <= 0)
                        return r < 0 ? negative_errno() : -EIO;
                got += (size_t) r;
        }
        return 0;
}

void batch_free(kbatch *b) {
        if (b->stage) {
                explicit_bzero(b->stage, 2 * b->stage_half * sizeof(*b->stage));
                free(b->stage);
        }
        if (b->map) {
                munmap(b->map, b->map_len);
                close_fds(&b->memfd, 1); /* by the closer: its last close may free the memfd's pages */
        } else if (b->e) {
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
        close_fds(&ch->fd, 1); /* the client's socket: by the closer (broker-closer.c), its queue may hold fds */
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
        free(ch->segs);
        ch->segs = NULL;
        ch->seg_head = ch->seg_n = ch->seg_cap = ch->seg_skip = 0;
        ch->tx_queued = ch->tx_sent = 0;
        ch->peer_gone = false;
        explicit_bzero(ch->rx, sizeof(ch->rx));
        ch->rx_len = 0;
        while (ch->bhead) {
                kbatch *b = ch->bhead;
                ch->bhead = b->next;
                batch_fail(b, ERR_SYSTEM, e, ch->why);
        }
        ch->btail = NULL;
        kvmi_shadow_settle(&KS(ch->c)->shadow);
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

static int seg_push(kvmi_channel *ch, const uint8_t *ext, size_t len) {
        if (ch->seg_head > 0 && ch->seg_head == ch->seg_n)
                ch->seg_head = ch->seg_n = 0;
        /* the queue's own bytes after its own bytes: one piece */
        if (!ext && ch->seg_n > ch->seg_head && !ch->segs[ch->seg_n - 1].ext) {
                ch->segs[ch->seg_n - 1].len += len;
                ch->tx_queued += len;
                return 0;
        }
        if (ch->seg_n == ch->seg_cap) {
                if (ch->seg_head > 0) {
                        memmove(ch->segs, ch->segs + ch->seg_head, (ch->seg_n - ch->seg_head) * sizeof(txseg));
                        ch->seg_n -= ch->seg_head;
                        ch->seg_head = 0;
                } else {
                        size_t cap = ch->seg_cap ? ch->seg_cap * 2 : 4 * KVMI_WINDOW;
                        txseg *t = realloc(ch->segs, cap * sizeof(txseg));
                        if (!t)
                                return -ENOMEM;
                        ch->segs = t;
                        ch->seg_cap = cap;
                }
        }
        ch->segs[ch->seg_n++] = (txseg) { .ext = ext, .len = len };
        ch->tx_queued += len;
        return 0;
}

int tx_commit(kvmi_channel *ch, size_t n) {
        int r = seg_push(ch, NULL, n);
        if (r >= 0)
                ch->tx_len += n;
        return r;
}

/* Pieces sent in one sendmsg(): a window of page-access messages (head and entries each). */
#define TX_IOV (2 * KVMI_WINDOW + 8)

/* Drop the first @n bytes of the queue: they were sent. */
static void tx_consumed(kvmi_channel *ch, size_t n) {
        ch->tx_sent += n;
        while (n > 0) {
                txseg *g = &ch->segs[ch->seg_head];
                size_t take = g->len - ch->seg_skip < n ? g->len - ch->seg_skip : n;
                if (!g->ext)
                        ch->tx_off += take;
                ch->seg_skip += take;
                n -= take;
                if (ch->seg_skip == g->len) {
                        ch->seg_head++;
                        ch->seg_skip = 0;
                }
        }
}

void ch_flush(kvmi_channel *ch) {
        while (ch->state != CH_CLOSED && !ch->peer_gone && ch->seg_head < ch->seg_n) {
                struct iovec iov[TX_IOV];
                size_t k = 0, pos = ch->tx_off;
                for (size_t i = ch->seg_head; i < ch->seg_n && k < TX_IOV; i++, k++) {
                        const txseg *g = &ch->segs[i];
                        size_t skip = i == ch->seg_head ? ch->seg_skip : 0;
                        if (g->ext)
                                iov[k] = (struct iovec) { (void *) (g->ext + skip), g->len - skip };
                        else {
                                iov[k] = (struct iovec) { ch->tx + pos, g->len - skip };
                                pos += g->len - skip;
                        }
                }
                struct msghdr mh = { .msg_iov = iov, .msg_iovlen = k };
                ssize_t n = sendmsg(ch->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        break;
                if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) {
                        /* the peer went: what it answered before is still to be read (and recorded) */
                        ch->peer_gone = true;
                        break;
                }
                if (n < 0)
                        return ch_fail(ch, errno, "sending to the KVMI peer failed: %m");
                tx_consumed(ch, (size_t) n);
        }
        if (ch->state != CH_CLOSED)
                ch_update_io(ch);
}

/* Queue a command whose bytes are in the queue now (its own, then @ext_len bytes at @ext). */
static int ch_queue_cmd(kvmi_channel *ch, uint16_t id, uint32_t seq, size_t own, const void *ext, size_t ext_len,
                        kbatch *b, size_t first, size_t n, bool probe) {
        kcmd *k = calloc(1, sizeof(*k));
        if (!k)
                return -ENOMEM;
        if (tx_commit(ch, own) < 0 || (ext_len && seg_push(ch, ext, ext_len) < 0)) {
                free(k);
                return -ENOMEM; /* the caller fails the connection: the queue is dropped whole */
        }
        *k = (kcmd) { .end = ch->tx_queued, .id = id, .seq = seq, .b = b, .first = first, .n = n, .half = -1, .probe = probe };
        if (ch->n_cmds == 0) /* the timeout counts from here, then from each reply */
                ch->progress_at = now_usec();
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
        uint32_t seq = ch->seq++;
        int n = kvmi_build_msg(ch->tx + ch->tx_len, id, seq, payload, len);
        return n < 0 ? n : ch_queue_cmd(ch, id, seq, (size_t) n, NULL, 0, NULL, 0, 0, false);
}

int ch_queue_page_access(kvmi_channel *ch, kbatch *b, const kvmi_page_access_entry *src, size_t first, size_t n,
                         int half, bool probe) {
        if (tx_reserve(ch, KVMI_PAGE_ACCESS_HEAD_SIZE) < 0)
                return -ENOMEM;
        uint32_t seq = ch->seq++;
        int len = kvmi_set_page_access_head(ch->tx + ch->tx_len, seq, n);
        if (len < 0)
                return len;
        int r = ch_queue_cmd(ch, KVMI_VM_SET_PAGE_ACCESS, seq, (size_t) len, src, n * sizeof(kvmi_page_access_entry),
                             b, first, n, probe);
        if (r >= 0) {
                ch->tail->src = src;
                ch->tail->half = half;
                if (half >= 0)
                        b->stage_busy[half]++;
        }
        return r;
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
                sd_event_source_set_io_events(ch->io,
                                              EPOLLIN | EPOLLRDHUP | (ch->seg_head < ch->seg_n ? EPOLLOUT : 0));
}
