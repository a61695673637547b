/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-conn.c - a client's connection, below everything that answers it:
 * the bounded queue of outgoing messages, sending without blocking, and
 * which events the loop waits for (in its epoll set of client sockets),
 * and the message its loop read ahead of its turn.  The replies
 * (broker-reply.c), the hello timeout and the loop (broker-server.c) send
 * through it; it calls nothing above it.
 */
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <syslog.h>
#include <unistd.h>

#include <sanitizer/asan_interface.h> /* ASAN_*_MEMORY_REGION: nothing unless built with ASan */
#include <stddef.h>

#include "broker.h"
#include "config.h"

/* --- which loop owns a client (broker-loop.c runs them) --- */

static _Thread_local broker_loop *loop_self;

/*
 * Small messages of outmsg_new() that a thread running a loop freed, kept
 * for its next ones (a reply each request: a malloc() and a free() less).
 * Each thread has its own list, so no lock: a message made by one thread
 * and sent by another goes to the sender's.  Bounded; each was erased
 * when freed; a thread's are freed when it stops running a loop.
 */
#define OUTMSG_SPARE_SIZE 512 /* bytes after the structure: a ping's reply takes about 130 */
#define OUTMSG_SPARES 8
static _Thread_local outmsg *spares;
static _Thread_local unsigned n_spares;

/* A kept message is poisoned for AddressSanitizer but for its link, as a freed one would be: a use
 * after outmsg_free() or a second outmsg_free() is reported, not a reply shared by two clients. */
static void spare_poison(outmsg *m, bool poison) {
        char *after = (char *) m + offsetof(outmsg, next) + sizeof(m->next);
        size_t n = sizeof(*m) + OUTMSG_SPARE_SIZE - (size_t) (after - (char *) m);
        if (poison)
                ASAN_POISON_MEMORY_REGION(after, n);
        else
                ASAN_UNPOISON_MEMORY_REGION(after, n);
}

void loop_self_set(broker_loop *l) {
        loop_self = l;
        if (!l)
                while (spares) {
                        outmsg *m = spares;
                        spares = m->next;
                        spare_poison(m, false);
                        free(m);
                        n_spares--;
                }
}

bool loop_serving(const client *c) {
        return c->loop && c->loop == loop_self && loop_self->serving == c;
}

void loop_wake(broker_loop *l) {
        uint64_t one = 1;
        (void) !write(l->wake_fd, &one, sizeof(one));
}

broker_loop *loop_current(void) {
        return loop_self;
}

/* Released by its own loop only, after its batch: no pointer to @c, no I/O on its fd can remain then. */
void loop_client_ended(client *c) {
        broker_loop *l = c->loop;
        c->ended = true;
        c->dead = true;
        l->n_clients--;
        c->zombie_next = l->zombies;
        l->zombies = c;
        if (loop_self)
                loop_self->touched = true;
        if (l != loop_self)
                loop_wake(l);
}

void outmsg_free(outmsg *m) {
        if (!m)
                return;
        explicit_bzero(m->buf, m->len);
        /* the broker's copies of what it sent (TAP queues): by the closer (the client may have closed its own
         * already, and the last close of a TAP queue waits for the device's teardown); a creation that finds
         * the name taken or its limit reached meanwhile runs again after them (tap_create_answer()) */
        close_fds(m->fds, m->n_fds);
        if (m->size == OUTMSG_SPARE_SIZE && loop_self && n_spares < OUTMSG_SPARES) {
                m->next = spares;
                spares = m;
                n_spares++;
                spare_poison(m, true);
                return;
        }
        if (!m->size) /* not its own bytes (client_send()) */
                free(m->buf);
        free(m);
}

outmsg *outmsg_new(size_t len) {
        /* rounded up to a spare's size only on a thread that keeps spares: the queue limits count len */
        size_t size = len < OUTMSG_SPARE_SIZE && loop_self ? OUTMSG_SPARE_SIZE : len + 1;
        outmsg *m;
        if (size == OUTMSG_SPARE_SIZE && spares) {
                m = spares;
                spares = m->next;
                n_spares--;
                spare_poison(m, false);
        } else if (!(m = len < SIZE_MAX - sizeof(*m) ? malloc(sizeof(*m) + size) : NULL))
                return NULL;
        *m = (outmsg) { .buf = (char *) (m + 1), .len = len, .size = size };
        m->buf[len] = 0;
        return m;
}

/* Its loop's epoll set of client sockets (broker-loop.c); epoll_ctl() may come from any thread. */
int client_io_set(client *c, uint32_t events) {
        if (c->fd < 0 || c->ended || !c->loop || c->io_events == events)
                return 0;
        struct epoll_event ev = { .events = events, .data.ptr = c };
        if (epoll_ctl(c->loop->epfd, c->io_events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd, &ev) < 0)
                return negative_errno();
        c->io_events = events;
        return 0;
}

/* Out of its loop's set; a batch being served skips it (c->ended), its loop frees it after the batch. */
void client_io_stop(client *c) {
        if (c->io_events && c->fd >= 0 && c->loop)
                (void) epoll_ctl(c->loop->epfd, EPOLL_CTL_DEL, c->fd, NULL);
        c->io_events = 0;
}

/*
 * Read while we may; write while the queue has something.  Edge-triggered:
 * epoll lists a client when a datagram arrives (once for all that arrive
 * before it reports it), so a turn serves the clients in the order their
 * requests came (broker-loop.c).  A datagram already waiting behind the
 * one read is not reported again: the read itself tells (wire_recv_two():
 * it is the client's read-ahead).  A client whose events change (reading
 * stopped, then resumed: limits_may_read()) is looked at again by the
 * kernel, which reports it if it is ready.  A dead client keeps what
 * client_flush() set (EPOLLOUT, level-triggered: its loop frees it).
 */
int client_update_events(client *c) {
        if (c->dead)
                return 0;
        uint32_t ev = EPOLLRDHUP | EPOLLET;
        if (limits_may_read(c)) {
                ev |= EPOLLIN;
                client_ahead_queue(c); /* a message read ahead, held while reading was stopped */
        }
        /* its loop sends what is queued right after the handler, or is sending it (client_flush_owner()) */
        if (c->out_head && !c->io_busy && !loop_serving(c))
                ev |= EPOLLOUT;
        return client_io_set(c, ev);
}

/* --- a client's message read ahead of its turn (broker-loop.c) --- */

struct read_ahead {
        ssize_t n; /* what wire_recv() returned for it */
        bool eof;
        int fds[BROKER_MAX_FDS_IN];
        size_t n_fds;
        size_t len; /* bytes kept: n, or none when it is over --max-message (refused by its length alone) */
        char buf[];
};

#if DELEGATE_TEST_HOOKS
/* Test builds only (meson option test_hooks): with DELEGATE_TEST_FAIL_READ_AHEAD=N in its environment the
 * broker's Nth read-ahead finds no memory (functional limit-read-ahead).  Called under the broker lock. */
static bool ahead_alloc_fails(void) {
        static long left = -2;
        if (left == -2) {
                const char *e = getenv("DELEGATE_TEST_FAIL_READ_AHEAD");
                left = e ? atol(e) : -1;
        }
        return left > 0 && --left == 0;
}
#else
static bool ahead_alloc_fails(void) {
        return false;
}
#endif

bool client_ahead_keep(client *c, wire_msg *m) {
        size_t n = m->n > 0 ? (size_t) m->n : 0, len = n > c->b->limits.max_message ? 0 : n;
        read_ahead *a = ahead_alloc_fails() ? NULL : malloc(sizeof(*a) + len);
        if (!a) {
                wire_msg_drop(m);
                return false;
        }
        *a = (read_ahead) { .n = m->n, .eof = m->eof, .n_fds = m->n_fds, .len = len };
        memcpy(a->fds, m->fds, m->n_fds * sizeof(int));
        memcpy(a->buf, m->buf, len);
        explicit_bzero(m->buf, n);
        c->ahead = a;
        return true;
}

void client_ahead_queue(client *c) {
        broker_loop *l = c->loop;
        if (!c->ahead || c->ahead_queued || c->ended || !l || !limits_may_read(c))
                return;
        c->ahead_queued = true;
        c->ahead_next = NULL;
        if (l->ahead_last)
                l->ahead_last->ahead_next = c;
        else {
                l->ahead_first = c;
                loop_wake(l); /* its next epoll_wait() returns at once: the eventfd is ready */
        }
        l->ahead_last = c;
}

void client_ahead_take(client *c, wire_msg *m) {
        read_ahead *a = c->ahead;
        size_t len = a->len;
        c->ahead = NULL;
        m->n = a->n;
        m->eof = a->eof;
        m->n_fds = a->n_fds;
        memcpy(m->fds, a->fds, a->n_fds * sizeof(int));
        memcpy(m->buf, a->buf, len);
        explicit_bzero(a, sizeof(*a) + len);
        free(a);
}

void client_ahead_drop(client *c) {
        broker_loop *l = c->loop;
        if (c->ahead_queued && l) {
                /* off its loop's list (a turn's own list is taken off it first: not found there) */
                client *prev = NULL;
                for (client *i = l->ahead_first; i; prev = i, i = i->ahead_next)
                        if (i == c) {
                                if (prev)
                                        prev->ahead_next = c->ahead_next;
                                else
                                        l->ahead_first = c->ahead_next;
                                if (l->ahead_last == c)
                                        l->ahead_last = prev;
                                c->ahead_queued = false;
                                break;
                        }
        }
        read_ahead *a = TAKE_PTR(c->ahead);
        if (!a)
                return;
        close_fds(a->fds, a->n_fds);
        explicit_bzero(a, sizeof(*a) + a->len);
        free(a);
}

/*
 * One queued message out, as wire_send(): without fds by send(2), whose
 * way through the kernel is shorter than sendmsg(2)'s (no message header
 * to copy in; 0.3 us less a reply here, bench/NOTES.md round 9).
 * libdelegate keeps sendmsg(2), one of the calls its callers' seccomp
 * filters are told to allow (libdelegate(3)).
 */
static int outmsg_send(int fd, const outmsg *m) {
        if (m->n_fds > 0 || m->len > DELEGATE_MAX_MESSAGE)
                return wire_send(fd, m->buf, m->len, m->fds, m->n_fds);
        ssize_t n = send(fd, m->buf, m->len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0)
                return negative_errno();
        return (size_t) n == m->len ? 0 : -EIO;
}

/*
 * Send what is queued.  Never frees the client (callers still hold it):
 * when it must go, it is marked dead and the I/O callback, at the top of
 * the stack, frees it.
 */
void client_flush(client *c) {
        if (c->ended || c->io_busy || loop_serving(c))
                return; /* its loop sends, outside the lock: after the handler, or once its send is done */
        while (c->out_head && !c->dead) {
                outmsg *m = c->out_head;
                int r = outmsg_send(c->fd, m);
                if (r == -EAGAIN)
                        break;
                if (r < 0) {
                        log_msg(c->b, LOG_DEBUG, "session %llu: send failed (%s), dropping client",
                                (unsigned long long) c->session, strerror(-r));
                        c->dead = true;
                        break;
                }
                c->out_head = m->next;
                if (!c->out_head)
                        c->out_tail = NULL;
                c->n_out--;
                c->out_bytes -= m->len;
                outmsg_free(m);
        }
        if (!c->out_head && c->closing)
                c->dead = true;
        if (c->dead) {
                /* wake the I/O callback so it frees the client */
                (void) client_io_set(c, EPOLLOUT);
                return;
        }
        client_update_events(c);
}

void client_send(client *c, char *buf, size_t len, const int *fds, size_t n_fds) {
        outmsg *m = c->dead || c->ended ? NULL : calloc(1, sizeof(*m));
        if (!m) {
                erase_free(buf);
                return;
        }
        m->buf = buf;
        m->len = len;
        client_send_msg(c, m, fds, n_fds);
}

void client_send_msg(client *c, outmsg *m, const int *fds, size_t n_fds) {
        if (c->dead || c->ended)
                return outmsg_free(m);
        for (size_t i = 0; i < n_fds && i < DELEGATE_MAX_FDS; i++)
                m->fds[m->n_fds++] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
        if (c->out_tail)
                c->out_tail->next = m;
        else
                c->out_head = m;
        c->out_tail = m;
        c->n_out++;
        c->out_bytes += m->len;
        client_flush(c);
}


/*
 * The broker lock is not fair: a thread that releases it and takes it again
 * at once (the main thread: prepare, poll(), which returns at once while
 * connections wait to be accepted, wait and dispatch) gets it back before a
 * waiter that the release woke is running.  Under a connect/close flood the
 * main thread then accepted all the time while the loop threads, which serve
 * every client's requests and free the closed connections, waited: a ping
 * waited seconds, and the closed connections piled up to --max-clients.
 * So a loop thread counts itself while it waits, and the main thread, before
 * it takes the lock again, lets one such waiter have it first.  Without a
 * waiter (a loop thread's usual turn) this costs one trylock.
 */
void broker_lock_loop(broker *b) {
        if (pthread_mutex_trylock(&b->lock) == 0)
                return;
        atomic_fetch_add_explicit(&b->lock_waiting, 1, memory_order_relaxed);
        pthread_mutex_lock(&b->lock);
        atomic_fetch_sub_explicit(&b->lock_waiting, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&b->lock_handoffs, 1, memory_order_relaxed);
}

/*
 * Its loop, after a message of @c was handled (lock held): the replies go
 * out with the lock released, so that the other loops work meanwhile.
 * Nobody else sends on @c's socket then (c->io_busy), and what others
 * queue meanwhile goes after them; its fd stays open (only this loop
 * closes it).  The journal records of the decisions were sent before
 * (under the lock, by the handler), so each leaves before its reply.
 */
void client_flush_owner(client *c) {
        broker *b = c->b;
        outmsg *head = c->dead ? NULL : c->out_head, *m;
        size_t sent = 0, sent_bytes = 0;
        int r = 0;
        if (head) {
                c->out_head = c->out_tail = NULL;
                c->io_busy = true;
                pthread_mutex_unlock(&b->lock);
                while (head) {
                        m = head;
                        r = outmsg_send(c->fd, m);
                        if (r < 0)
                                break;
                        head = m->next;
                        sent++;
                        sent_bytes += m->len;
                        outmsg_free(m);
                }
                broker_lock_loop(b);
                c->io_busy = false;
        }
        if (c->ended) { /* ended meanwhile by another thread: what was left goes with it */
                while (head) {
                        m = head;
                        head = m->next;
                        outmsg_free(m);
                }
                return;
        }
        c->n_out -= sent;
        c->out_bytes -= sent_bytes;
        if (head) { /* back in front of what was queued meanwhile */
                outmsg *tail = head;
                while (tail->next)
                        tail = tail->next;
                tail->next = c->out_head;
                if (!c->out_head)
                        c->out_tail = tail;
                c->out_head = head;
        }
        if (r < 0 && r != -EAGAIN) {
                log_msg(b, LOG_DEBUG, "session %llu: send failed (%s), dropping client",
                        (unsigned long long) c->session, strerror(-r));
                c->dead = true;
        }
        client_flush(c);
}
