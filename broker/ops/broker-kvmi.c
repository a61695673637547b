/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-kvmi.c - the KVMI channel of a session: the broker is the
 * introspection tool of KVMI v12 (the kvmi.* operations of delegate-protocol(7)).
 *
 * kvmi.attach opens the channel (and makes the shared secret); QEMU, the
 * client of a socket the launcher listens on, connects and reconnects by
 * itself, and the launcher hands every accepted connection over with
 * kvmi.connect.  On each connection QEMU sends its hello, we answer with
 * the cookie hash, QEMU hooks the socket into KVM and then grants the
 * command permissions; the kernel speaks KVMI from then on: GET_VERSION,
 * VM_CHECK_COMMAND (SET_PAGE_ACCESS), VM_CONTROL_EVENTS (UNHOOK),
 * VM_GET_INFO, one at a time, each answered -KVM_EPERM retried until the
 * setup deadline (QEMU may not have granted it yet).  Then the shadow is
 * re-applied (pages beyond the guest's RAM skipped, pages the kernel
 * refuses dropped from it), and kvmi.connect is answered with what was
 * done.  An UNHOOK event (pause, suspend, migration, shutdown) is answered
 * by closing the connection: that tells QEMU to go on, and it reconnects
 * later with a fresh hello.
 *
 * Never blocking: the socket is non-blocking in the sd-event loop, output
 * waits in a queue (the messages' heads in bytes of its own, a batch's
 * entries sent from where it holds them: its own array, or a memfd batch's
 * stage, never copied into the queue; an answer
 * to a command not yet sent whole is a protocol error, so a batch never
 * ends while its entries wait to be sent), at most KVMI_WINDOW commands
 * are in flight, and the channel fails when commands are in flight and no
 * reply came for
 * KVMI_TIMEOUT_USEC (a slow kernel that makes progress is waited for).
 *
 * Batches run one at a time, in order, each split into messages of at
 * most 511 entries.  The kernel applies every entry of a message and
 * returns only the first error, without its index; so the entries of a
 * failed message are re-sent one by one afterwards (setting an access
 * twice is idempotent), skipping those a later entry of the batch
 * overrides, which keeps the kernel's final state what the batch asked.
 * The shadow records what the kernel accepted, message by message (a batch
 * may give its blocks of gfns slots at once: kvmi_shadow_reserve() at
 * submit, settled when that batch ends, whatever is queued behind it).
 *
 * Each connection's hello, setup and re-application of the shadow live in
 * broker-kvmi-setup.c; the connection itself (output queue, failing it,
 * its timer) in broker-kvmi-chan.c, below both; the types in broker-kvmi-chan.h.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/mman.h>
#include <syslog.h>
#include <unistd.h>

#include "broker-kvmi-chan.h"

static void ch_pump(kvmi_channel *ch);

static void ch_free(kvmi_channel *ch) {
        if (!ch)
                return;
        ch_fail(ch, ECANCELED, "closed");
        ch->timer = sd_event_source_disable_unref(ch->timer);
        explicit_bzero(ch, sizeof(*ch));
        free(ch);
}

/* --- batches --- */

static int cmp_u64_pair(const void *a, const void *b) {
        const uint64_t *x = a, *y = b;
        if (x[0] != y[0])
                return x[0] < y[0] ? -1 : 1;
        return x[1] < y[1] ? -1 : x[1] > y[1];
}

/* Sorted (gfn, index) pairs of the whole batch, to learn what a later entry overrides. */
static int build_last_index(kbatch *b) {
        b->last_gfn_index = malloc(b->n * 2 * sizeof(uint64_t));
        if (!b->last_gfn_index)
                return -ENOMEM;
        for (size_t i = 0; i < b->n; i++) {
                b->last_gfn_index[2 * i] = b->e[i].gpa >> KVMI_PAGE_SHIFT;
                b->last_gfn_index[2 * i + 1] = i;
        }
        qsort(b->last_gfn_index, b->n, 2 * sizeof(uint64_t), cmp_u64_pair);
        return 0;
}

/* Does an entry after @i set the same gfn? */
static bool overridden_later(const kbatch *b, size_t i) {
        uint64_t gfn = b->e[i].gpa >> KVMI_PAGE_SHIFT;
        size_t lo = 0, hi = b->n;
        while (lo < hi) { /* first pair with gfn > @gfn */
                size_t mid = (lo + hi) / 2;
                if (b->last_gfn_index[2 * mid] <= gfn)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo > 0 && b->last_gfn_index[2 * (lo - 1)] == gfn && b->last_gfn_index[2 * (lo - 1) + 1] > i;
}

static void record(kvmi_channel *ch, kbatch *b, const kvmi_page_access_entry *e, size_t n) {
        size_t bad = 0, failed = kvmi_shadow_record(&KS(ch->c)->shadow, e, n, &bad);
        if (failed > 0)
                log_msg(ch->c->b, LOG_WARNING,
                        "session %llu: KVMI shadow full: %zu of the %zu pages of a message not recorded (first gpa "
                        "0x%" PRIx64 ")",
                        (unsigned long long) ch->c->session, failed, n, e[bad].gpa);
        b->applied += n;
}

/*
 * Where the main pass sends the @n entries from @first of batch @b from (*@ret_half: the stage's half, or
 * -1): owned entries where they are; a memfd batch's from its stage, the half of their window read in
 * from the memfd first once its previous window's messages were all answered.  NULL: not yet (they will
 * be: a reply is due).  Without a stage (no memory) or when a read fails, the mapping.
 */
static const kvmi_page_access_entry *main_entries(kvmi_channel *ch, kbatch *b, size_t first, size_t n,
                                                  int *ret_half) {
        *ret_half = -1;
        if (!b->map)
                return b->e + first;
        if (!b->stage && b->stage_half == 0) {
                b->stage_half = STAGE_MSGS * ch->per_msg;
                b->stage_win[0] = b->stage_win[1] = SIZE_MAX;
                b->stage = malloc(2 * b->stage_half * sizeof(*b->stage));
        }
        size_t w = first / b->stage_half; /* a message never spans two: stage_half is a multiple of per_msg */
        int h = (int) (w & 1);
        if (!b->stage || first + n > (w + 1) * b->stage_half)
                return b->e + first;
        kvmi_page_access_entry *half = b->stage + (size_t) h * b->stage_half;
        if (b->stage_win[h] != w) {
                if (b->stage_busy[h] > 0)
                        return NULL;
                size_t k = b->n - w * b->stage_half < b->stage_half ? b->n - w * b->stage_half : b->stage_half;
                b->stage_win[h] = SIZE_MAX;
                int r = memfd_read(b->memfd, half, k * sizeof(*half), (off_t) (w * b->stage_half * sizeof(*half)));
                if (r < 0) {
                        log_msg(ch->c->b, LOG_WARNING,
                                "session %llu: reading the KVMI memfd's entries %zu.. failed (%s); sending them "
                                "from its mapping",
                                (unsigned long long) ch->c->session, w * b->stage_half, strerror(-r));
                        return b->e + first;
                }
                b->stage_win[h] = w;
        }
        *ret_half = h;
        return half + (first - w * b->stage_half);
}

static void batch_done(kvmi_channel *ch, kbatch *b) {
        ch->bhead = b->next;
        if (!ch->bhead)
                ch->btail = NULL;
        /* a client's batch reserved room at submit; the re-application none */
        kvmi_shadow_batch_done(&KS(ch->c)->shadow, b->req ? b->n : 0);
        double secs = (now_usec() - b->started) / 1e6;
        if (!b->req) {
                ch->last_reapply.applied = b->n - b->refused;
                ch->last_reapply.refused = b->refused;
                if (b->refused > 0)
                        log_msg(ch->c->b, LOG_WARNING,
                                "session %llu: re-applying the KVMI shadow: the kernel refused %zu of %zu pages (first "
                                "gpa 0x%" PRIx64 ", error %d); they are dropped from the shadow",
                                (unsigned long long) ch->c->session, b->refused, b->n, b->e[b->err_index].gpa,
                                (int) b->err);
                else
                        log_msg(ch->c->b, LOG_INFO, "session %llu: KVMI shadow of %zu pages re-applied",
                                (unsigned long long) ch->c->session, b->n);
                batch_free(b);
                ch->reapplying = false;
                connect_reply(ch);
                return;
        }
        if (b->err_index != SIZE_MAX) {
                char a[4];
                int e = b->err == -KVMI_KVM_ENOSYS ? ENOSYS : -b->err;
                request_reply_error(b->req, ERR_SYSTEM, e, b->req->rule[0] ? b->req->rule : NULL,
                                    "%s: the kernel refused entry %zu (gpa 0x%" PRIx64
                                    ", '%s'): %s (KVMI error %d); %zu refused in all, the other %zu entries "
                                    "were applied", op_kvmi_set_page_access.name,
                                    b->err_index, b->e[b->err_index].gpa, kvmi_access_format(b->e[b->err_index].access, a),
                                    strerror(e), (int) b->err, b->refused, b->n - b->refused);
        } else {
                char res[256];
                snprintf(res, sizeof(res),
                         "{\"entries\":%zu,\"messages\":%zu,\"applied\":%zu,\"shadow_pages\":%zu,\"seconds\":%.6f}",
                         b->n, b->n_msgs, b->applied, KS(ch->c)->shadow.n, secs);
                request_reply_result(b->req, res, NULL, 0);
        }
        batch_free(b);
}

/*
 * A client batch about to start: refuse it whole, before anything is sent,
 * when an entry lies beyond the guest's RAM (the kernel would refuse it).
 */
static bool batch_beyond_ram(kvmi_channel *ch, kbatch *b) {
        uint64_t max = ch->hello.max_gpa;
        if (!b->req || max == 0 || b->top_gpa < max)
                return false;
        for (size_t i = 0; i < b->n; i++)
                if (b->e[i].gpa >= max) {
                        ch->bhead = b->next;
                        if (!ch->bhead)
                                ch->btail = NULL;
                        kvmi_shadow_batch_done(&KS(ch->c)->shadow, b->n);
                        request_reply_error(b->req, ERR_BAD_REQUEST, ERANGE, NULL,
                                            "%s: entry %zu: gpa 0x%" PRIx64
                                            " is beyond the guest's RAM (QEMU's hello: max_gpa 0x%" PRIx64
                                            "); nothing was sent", op_kvmi_set_page_access.name,
                                            i, b->e[i].gpa, max);
                        batch_free(b);
                        return true;
                }
        return false;
}

/* Send what the head batch may send now; finish batches that are done. */
static void ch_pump(kvmi_channel *ch) {
        while (ch->state == CH_READY && ch->bhead) {
                kbatch *b = ch->bhead;
                if (!b->started) {
                        if (batch_beyond_ram(ch, b))
                                continue;
                        b->started = now_usec();
                }
                while (ch->n_cmds < KVMI_WINDOW && b->next_entry < b->n) {
                        size_t k = b->n - b->next_entry < ch->per_msg ? b->n - b->next_entry : ch->per_msg;
                        int half;
                        const kvmi_page_access_entry *src = main_entries(ch, b, b->next_entry, k, &half);
                        if (!src)
                                break; /* its half of the stage still has messages in flight */
                        if (ch_queue_page_access(ch, b, src, b->next_entry, k, half, false) < 0)
                                return ch_fail(ch, ENOMEM, "out of memory building KVMI messages");
                        b->next_entry += k;
                        b->n_msgs++;
                }
                if (b->next_entry < b->n || b->in_flight > 0)
                        break;
                /* main pass answered: probe the refused messages entry by entry */
                if (b->n_failed > 0 && !b->last_gfn_index && build_last_index(b) < 0)
                        return ch_fail(ch, ENOMEM, "out of memory probing refused entries");
                while (ch->n_cmds < KVMI_WINDOW && b->probe_msg < b->n_failed) {
                        range *f = &b->failed[b->probe_msg];
                        size_t i = f->first + b->probe_entry;
                        if (++b->probe_entry == f->n) {
                                b->probe_msg++;
                                b->probe_entry = 0;
                        }
                        if (overridden_later(b, i))
                                continue;
                        if (ch_queue_page_access(ch, b, b->e + i, i, 1, -1, true) < 0)
                                return ch_fail(ch, ENOMEM, "out of memory building KVMI messages");
                }
                if (b->probe_msg < b->n_failed || b->in_flight > 0)
                        break;
                batch_done(ch, b);
        }
        ch_flush(ch);
        ch_arm(ch);
}

static void batch_reply(kvmi_channel *ch, kcmd *k, int32_t err) {
        kbatch *b = k->b;
        b->in_flight--;
        if (!k->probe)
                b->n_answered++;
        if (k->half >= 0)
                b->stage_busy[k->half]--; /* its half is read anew only by ch_pump(), after this reply */
        if (err == 0) {
                record(ch, b, k->src, k->n);
                return;
        }
        if (k->probe) {
                b->refused++;
                if (!b->req) /* the kernel does not hold it: neither does the shadow */
                        kvmi_shadow_set(&KS(ch->c)->shadow, b->e[k->first].gpa >> KVMI_PAGE_SHIFT,
                                        KVMI_PAGE_ACCESS_RWX);
                if (k->first < b->err_index) {
                        b->err_index = k->first;
                        b->err = err;
                }
                return;
        }
        if (b->n_failed == b->cap_failed) {
                size_t cap = b->cap_failed ? b->cap_failed * 2 : 8;
                range *f = realloc(b->failed, cap * sizeof(*f));
                if (!f)
                        return ch_fail(ch, ENOMEM, "out of memory");
                b->failed = f;
                b->cap_failed = cap;
        }
        b->failed[b->n_failed++] = (range) { k->first, k->n };
}

/* --- replies --- */

static void handle_reply(kvmi_channel *ch, const kvmi_msg_hdr *h, const uint8_t *payload) {
        if (h->id == KVMI_VM_EVENT)
                return handle_event(ch, h, payload);
        kcmd *k = ch->head, *prev = NULL;
        while (k && k->seq != h->seq) {
                prev = k;
                k = k->next;
        }
        if (!k || k->id != h->id)
                return ch_fail(ch, EPROTO, "the KVMI peer sent a reply (id %u, seq %u) to no command we sent",
                               h->id, h->seq);
        /* a page-access command's entries are sent from the batch, which ends with its last answer */
        if (k->end > ch->tx_sent)
                return ch_fail(ch, EPROTO, "the KVMI peer answered %s (seq %u) before it was sent whole",
                               kvmi_msg_name(h->id), h->seq);
        if (prev)
                prev->next = k->next;
        else
                ch->head = k->next;
        if (ch->tail == k)
                ch->tail = prev;
        ch->n_cmds--;
        ch->progress_at = now_usec();

        int32_t err;
        int r = 0;
        kvmi_get_version_reply ver;
        kvmi_vm_get_info_reply info;
        switch (k->id) {
        case KVMI_GET_VERSION:
                r = kvmi_parse_reply(payload, h->size, &err, &ver, sizeof(ver));
                if (r == 0 && err == 0) {
                        ch->version = ver.version;
                        ch->max_msg_size = ver.max_msg_size;
                }
                break;
        case KVMI_VM_GET_INFO:
                r = kvmi_parse_reply(payload, h->size, &err, &info, sizeof(info));
                if (r == 0 && err == 0)
                        ch->vcpus = info.vcpu_count;
                break;
        default:
                r = kvmi_parse_reply(payload, h->size, &err, NULL, 0);
        }
        uint16_t id = k->id;
        if (r < 0) {
                free(k);
                return ch_fail(ch, EPROTO, "malformed KVMI reply to %s (%u bytes of data%s)", kvmi_msg_name(id),
                               h->size,
                               id == KVMI_GET_VERSION ? "; v12 answers with 8 + 16: version, max_msg_size, features" : "");
        }
        if (k->b) {
                batch_reply(ch, k, err);
                free(k);
                return;
        }
        free(k);
        setup_reply(ch, id, err);
}

static int read_replies(kvmi_channel *ch) {
        for (;;) {
                ssize_t n = ch_recv(ch, ch->rx + ch->rx_len, sizeof(ch->rx) - ch->rx_len);
                if (n <= 0)
                        return (int) n;
                ch->rx_len += n;
                size_t off = 0;
                while (ch->state != CH_CLOSED && ch->rx_len - off >= KVMI_HDR_SIZE) {
                        kvmi_msg_hdr h;
                        memcpy(&h, ch->rx + off, sizeof(h));
                        if (h.size > KVMI_MAX_MSG_SIZE) {
                                ch_fail(ch, EPROTO, "the KVMI peer sent a message of %u bytes (limit %d)", h.size,
                                        KVMI_MAX_MSG_SIZE);
                                return 0;
                        }
                        if (ch->rx_len - off < KVMI_HDR_SIZE + (size_t) h.size)
                                break;
                        handle_reply(ch, &h, ch->rx + off + KVMI_HDR_SIZE);
                        off += KVMI_HDR_SIZE + h.size;
                }
                if (ch->state == CH_CLOSED)
                        return 0;
                memmove(ch->rx, ch->rx + off, ch->rx_len - off);
                ch->rx_len -= off;
        }
}

static int ch_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        kvmi_channel *ch = userdata;
        int r = 0;
        if (revents & EPOLLOUT)
                ch_flush(ch);
        if (ch->state != CH_CLOSED && (revents & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP))) {
                r = ch->state == CH_HELLO ? read_hello(ch) : read_replies(ch);
                if (r == 0 && ch->state == CH_HELLO && (revents & (EPOLLHUP | EPOLLRDHUP)))
                        r = -EPIPE;
        }
        if (r >= 0 && ch->peer_gone && ch->state != CH_CLOSED)
                r = -EPIPE; /* a send found the peer gone; what it answered before was read above */
        if (r < 0) {
                size_t unanswered = ch->n_cmds;
                if (r == -EPIPE || r == -ECONNRESET)
                        ch_fail(ch, EPIPE, "the KVMI peer closed the connection with %zu command%s unanswered",
                                unanswered, unanswered == 1 ? "" : "s");
                else
                        ch_fail(ch, -r, "reading from the KVMI peer failed: %s", strerror(-r));
                return 0;
        }
        ch_pump(ch);
        return 0;
}

static int ch_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        kvmi_channel *ch = userdata;
        uint64_t now = now_usec();
        if (ch->state == CH_CLOSED || ch->state == CH_WAITING)
                return 0;
        if (ch->head && ch->progress_at + KVMI_TIMEOUT_USEC <= now) {
                ch_fail(ch, ETIMEDOUT,
                        "the KVMI peer did not answer %s (seq %u): nothing answered for %llu s with %zu commands in "
                        "flight",
                        kvmi_msg_name(ch->head->id), ch->head->seq, (unsigned long long) (KVMI_TIMEOUT_USEC / 1000000),
                        ch->n_cmds);
                return 0;
        }
        if (ch->state != CH_READY && ch->phase_deadline <= now) {
                ch_fail(ch, ETIMEDOUT, "%s",
                        ch->state == CH_HELLO ? "QEMU did not send its introspection hello in time"
                                              : "the KVMI setup did not finish in time");
                return 0;
        }
        if (ch->retry_at && ch->retry_at <= now) {
                setup_send(ch);
                ch_flush(ch);
        }
        ch_arm(ch);
        return 0;
}

/* --- the session's interface --- */

int kvmi_channel_open(client *c, bool keyed, const char *given, char **ret_secret) {
        _cleanup_erase_free_ char *secret = NULL;
        if (KS(c)->ch) {
                char why[64];
                snprintf(why, sizeof(why), "replaced by a new %s", op_kvmi_attach.name);
                kvmi_channel_close(c, why);
        }
        kvmi_channel *ch = calloc(1, sizeof(*ch));
        if (!ch)
                return -ENOMEM;
        ch->c = c;
        ch->fd = -EBADF;
        ch->keyed = keyed;
        ch->state = CH_WAITING;
        if (keyed && given)
                snprintf(ch->secret, sizeof(ch->secret), "%s", given);
        if (keyed) {
                if (!given && random_hex(32, ch->secret) < 0) {
                        free(ch);
                        return -EIO;
                }
                if (!(secret = strdup(ch->secret))) {
                        ch_free(ch);
                        return -ENOMEM;
                }
        }
        int r = sd_event_add_time(c->b->event, &ch->timer, CLOCK_MONOTONIC, UINT64_MAX, 0, ch_timeout, ch);
        if (r < 0) {
                ch_free(ch);
                return r;
        }
        sd_event_source_set_enabled(ch->timer, SD_EVENT_OFF);
        KS(c)->ch = ch;
        if (ret_secret)
                *ret_secret = TAKE_PTR(secret);
        return 0;
}

int kvmi_channel_connect(request *req, int *fd, char *msg, size_t size) {
        client *c = req->c;
        kvmi_channel *ch = KS(c)->ch;
        if (!ch) {
                snprintf(msg, size, "%s: no KVMI channel in this session: %s first", op_kvmi_connect.name,
                         op_kvmi_attach.name);
                return -ENOTCONN;
        }
        if (ch->state != CH_CLOSED && ch->state != CH_WAITING)
                ch_fail(ch, ECONNRESET, "replaced by a new connection from QEMU (it reconnected)");
        if (fcntl(*fd, F_SETFL, fcntl(*fd, F_GETFL) | O_NONBLOCK) < 0) {
                snprintf(msg, size, "%s: cannot make the connection non-blocking: %m", op_kvmi_connect.name);
                return negative_errno();
        }
        int r = sd_event_add_io(c->b->event, &ch->io, *fd, EPOLLIN | EPOLLRDHUP, ch_io, ch);
        if (r < 0) {
                snprintf(msg, size, "%s: cannot watch the connection: %s", op_kvmi_connect.name, strerror(-r));
                return r;
        }
        ch->fd = TAKE_FD(*fd); /* the request's no longer: see kvmi_channel_connect() in broker.h */
        ch->connections++;
        ch->state = CH_HELLO;
        ch->why[0] = 0;
        ch->hello_got = ch->hello_size = 0;
        memset(&ch->hello, 0, sizeof(ch->hello));
        ch->rx_len = 0;
        ch->version = ch->max_msg_size = ch->vcpus = 0;
        ch->unhook_enabled = false;
        ch->eperm_retries = 0;
        ch->phase_deadline = now_usec() + KVMI_TIMEOUT_USEC;
        ch->connect_req = req;
        log_msg(c->b, LOG_INFO, "session %llu: KVMI connection %llu from QEMU handed over; waiting for its hello",
                (unsigned long long) c->session, (unsigned long long) ch->connections);
        ch_arm(ch);
        return 0;
}

void kvmi_channel_close(client *c, const char *why) {
        if (!KS(c)->ch)
                return;
        ch_fail(KS(c)->ch, ECANCELED, "%s", why);
        ch_free(KS(c)->ch);
        KS(c)->ch = NULL;
}

void kvmi_session_end(client *c) {
        kvmi_channel_close(c, "the session ended");
        kvmi_shadow_clear(&KS(c)->shadow);
}

void kvmi_submit(request *req, kvmi_page_access_entry *e, size_t n, void *map, size_t map_len, int memfd,
                 uint64_t top_gpa) {
        client *c = req->c;
        kvmi_channel *ch = KS(c)->ch;
        kbatch *b = calloc(1, sizeof(*b));
        if (!b) {
                if (map) {
                        munmap(map, map_len);
                        close_fds(&memfd, 1);
                } else
                        free(e);
                return request_reply_error(req, ERR_SYSTEM, ENOMEM, NULL, "out of memory");
        }
        *b = (kbatch) { .req = req, .e = e, .n = n, .top_gpa = top_gpa, .map = map, .map_len = map_len, .memfd = memfd };
        /* the entries of the requests queued before this one, not recorded yet, count too */
        size_t queued = 0;
        for (kbatch *q = ch ? ch->bhead : NULL; q; q = q->next)
                if (q->req)
                        queued += q->n - q->applied;
        if (KS(c)->shadow.n + queued + n > req->b->limits.max_kvmi_pages) {
                request_reply_error(req, ERR_TOO_LARGE, ENOSPC, NULL,
                                    "%s: the session's shadow holds %zu pages and its requests under way %zu "
                                    "more; %zu more could exceed its limit of %" PRIu64 " (--max-kvmi-pages)",
                                    op_kvmi_set_page_access.name, KS(c)->shadow.n, queued, n,
                                    req->b->limits.max_kvmi_pages);
                b->req = NULL;
                batch_free(b);
                return;
        }
        if (!ch || ch->state == CH_CLOSED || ch->state == CH_WAITING) {
                char why[400];
                if (!ch)
                        snprintf(why, sizeof(why), "no KVMI channel in this session: %s first", op_kvmi_attach.name);
                else
                        snprintf(why, sizeof(why),
                                 "no connection from QEMU right now (it connects and reconnects by itself; the "
                                 "launcher hands each connection over with %s)%s%.200s",
                                 op_kvmi_connect.name, ch->state == CH_CLOSED ? "; the last one closed: " : "",
                                 ch->state == CH_CLOSED ? ch->why : "");
                request_reply_error(req, ERR_NOT_FOUND, ENOTCONN, NULL, "%s: %s", op_kvmi_set_page_access.name, why);
                b->req = NULL;
                batch_free(b);
                return;
        }
        b->err_index = SIZE_MAX;
        /* room for the whole batch now, not a rehash at every doubling while it is recorded, and
         * block slots its pages may take at once (settled when it ends: batch_done()) */
        (void) kvmi_shadow_reserve(&KS(c)->shadow, n);
        if (ch->btail)
                ch->btail->next = b;
        else
                ch->bhead = b;
        ch->btail = b;
        ch_pump(ch);
}

void kvmi_state_gen(const client *c, json_gen *g) {
        static const char *const names[] = { "waiting", "hello", "setup", "ready", "closed" };
        kvmi_channel *ch = KS(c)->ch;
        char a[4];
        json_gen_map_open(g);
        json_gen_kv_str(g, "channel", ch ? names[ch->state] : "detached");
        if (ch) {
                json_gen_kv_bool(g, "keyed", ch->keyed);
                json_gen_kv_u64(g, "connections", ch->connections);
                json_gen_kv_u64(g, "unhooks", ch->unhooks);
                if (ch->state == CH_CLOSED)
                        json_gen_kv_str(g, "closed_because", ch->why);
                if (ch->state == CH_READY) {
                        json_gen_kv_u64(g, "version", ch->version);
                        json_gen_kv_u64(g, "max_msg_size", ch->max_msg_size);
                        json_gen_kv_u64(g, "vcpus", ch->vcpus);
                        json_gen_kv_u64(g, "max_gpa", ch->hello.max_gpa);
                        json_gen_kv_bool(g, "unhook_enabled", ch->unhook_enabled);
                }
                json_gen_str(g, "last_reapply");
                json_gen_map_open(g);
                json_gen_kv_u64(g, "pages", ch->last_reapply.pages);
                json_gen_kv_u64(g, "applied", ch->last_reapply.applied);
                json_gen_kv_u64(g, "refused", ch->last_reapply.refused);
                json_gen_kv_u64(g, "beyond_ram", ch->last_reapply.beyond_ram);
                json_gen_map_close(g);
                json_gen_kv_u64(g, "messages_sent", ch->msgs_sent);
                json_gen_kv_u64(g, "entries_sent", ch->entries_sent);
                json_gen_kv_u64(g, "commands_in_flight", ch->n_cmds);
                size_t waiting = 0;
                for (kbatch *b = ch->bhead; b; b = b->next)
                        waiting++;
                json_gen_kv_u64(g, "batches_pending", waiting);
        }
        json_gen_str(g, "shadow");
        json_gen_map_open(g);
        json_gen_kv_u64(g, "pages", KS(c)->shadow.n);
        json_gen_str(g, "by_access");
        json_gen_map_open(g);
        for (uint8_t i = 0; i < 7; i++)
                if (KS(c)->shadow.by_access[i])
                        json_gen_kv_u64(g, kvmi_access_format(i, a), KS(c)->shadow.by_access[i]);
        json_gen_map_close(g);
        json_gen_map_close(g);
        json_gen_map_close(g);
}
