/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-loop.c - the client event loops (--threads N) and the broker lock.
 *
 * Every client's socket is in the epoll set of one loop, the one with the
 * fewest clients when it connected.  With one loop (--threads 1) the main
 * thread waits in that loop's epoll set, where sd-event's own fd is one
 * more member: a client's request costs one epoll_wait(), and sd-event
 * waits and dispatches only when its fd is ready or a turn changed what it
 * waits for (run_one_loop()).  With more, every loop is a thread of its own
 * and the main thread runs only the rest (accepting, timers, helpers,
 * D-Bus, signals): a client's request again costs its loop one
 * epoll_wait(), not sd-event's wait and then the loop's.  One mutex, the broker lock, is held for every piece of broker
 * state; outside it a loop only waits (epoll_wait) and does its clients'
 * socket I/O: it receives a message into its own buffer (erased after
 * use), and sends the replies that handling it queued.  The main thread
 * waits for sd-event's fd and its wake eventfd outside the lock and runs
 * sd-event under it; a loop thread that changed a timer, or whose turn
 * left a D-Bus message queued, wakes it, so that it arms its timers again and sd-bus
 * asks for its socket's events (broker-event.c).
 *
 * A client is released (its fd closed, its memory freed) only by its own
 * loop, at the end of a batch of ready clients or, for the main thread's
 * loop, after an sd-event dispatch: no pointer to it from that loop's
 * epoll_wait() can remain, and no other thread can be in recvmsg() or
 * sendmsg() on its fd (the
 * owner is the only one doing socket I/O outside the lock; under it,
 * nobody touches an ended client).  Another thread that ends a client
 * (RevokeSession, a timer) marks it (c->ended) and wakes its loop.
 *
 * Each turn serves one message per ready client, per loop, as one loop did.
 */
#include <malloc.h>
#include <poll.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <syslog.h>
#include <unistd.h>

#include "broker-op.h"
#include "broker.h"

/*
 * Clients' sockets are not sd-event sources of their own: sd-event waits
 * (epoll_wait) before each dispatch of one source, and every wait copies
 * out every ready socket, so with N clients waiting a request cost O(N).
 * They are in one epoll set per loop instead: a wakeup takes up to
 * CLIENTS_BATCH ready clients with one epoll_wait and serves each once (one
 * message).  Edge-triggered (broker-conn.c), the clients come in the order
 * their messages arrived: a request that came just after a turn began is
 * first in the next one, not behind every client the turn served, as it
 * was with the set level-triggered (their places kept from turn to turn),
 * which gave the last such one nearly two turns' wait.  A client with more
 * waiting is known from the read itself (client_read()) and served again in
 * the next turn, first.
 */
#define CLIENTS_BATCH 64

/* With --threads 1, the epoll data of sd-event's fd in loop 0's set: no client's address, not NULL (the wake
 * eventfd), without UID_HELPER_IO_KEY */
#define LOOP_SD_EVENT_KEY UINT64_C(1)

/* The main thread takes the lock again after its wait: after a loop thread that waits for it, if any
 * (broker_lock_loop(), broker-conn.c, says why). */
static void broker_lock_main(broker *b) {
        unsigned handoffs = atomic_load_explicit(&b->lock_handoffs, memory_order_relaxed);
        /* bounded: a waiter that is not scheduled soon does not stop the main thread for long */
        for (int i = 0; i < 64 && atomic_load_explicit(&b->lock_waiting, memory_order_relaxed) > 0 &&
                        atomic_load_explicit(&b->lock_handoffs, memory_order_relaxed) == handoffs;
             i++)
                sched_yield();
        pthread_mutex_lock(&b->lock);
}

broker_loop *loops_pick(broker *b) {
        broker_loop *best = &b->loops[0];
        for (unsigned i = 1; i < b->n_loops; i++)
                if (b->loops[i].n_clients < best->n_clients)
                        best = &b->loops[i];
        return best;
}

/*
 * Whether a client's turn waits for the main thread while it accepts connections (lock held, main
 * thread; @first: before the first of a dispatch's).  With one loop its turn is an sd-event source of
 * this thread: one with a message waiting is seen as the loop's epoll set being ready (one poll(),
 * before the first connection only: the connections accepted since are in that set too, their hellos
 * often with them).  With loop threads, one is waiting for the broker lock, which the main thread holds
 * for its whole dispatch; it has the lock as soon as that dispatch returns (loops_run_main()).
 */
bool loops_clients_waiting(broker *b, bool first) {
        if (b->n_loops > 1)
                return atomic_load_explicit(&b->lock_waiting, memory_order_relaxed) > 0;
        if (!first)
                return false;
        struct pollfd p = { .fd = b->loops[0].epfd, .events = POLLIN };
        return poll(&p, 1, 0) > 0;
}

static void loop_release_zombies(broker_loop *l) {
        while (l->zombies) {
                client *c = l->zombies;
                l->zombies = c->zombie_next;
                client_release(c);
        }
}

/* Handle message @m of @c (lock held): what wire_recv() returned; -1 when @c ended. */
static int client_take(broker_loop *l, client *c, wire_msg *m) {
        broker *b = l->b;
        char *buf = m->buf;
        int *fds = m->fds;
        size_t n_fds = m->n_fds;
        ssize_t n = m->n;
        bool eof = m->eof;
        /* ended by another thread meanwhile, or refused (closing: the hello timeout; dead: its refusal could
         * not be sent): the message is not handled; a resume hello would take a detached session that
         * client_free() then undoes */
        if (c->ended || c->closing || c->dead) {
                wire_msg_drop(m);
                if (c->ended)
                        return -1;
                if (c->dead) {
                        client_free(c);
                        return -1;
                }
                return 0;
        }
        if (n == -EAGAIN)
                return 0;
        if (n == -EMSGSIZE || n > (ssize_t) b->limits.max_message) {
                if (n > 0) {
                        close_fds(fds, n_fds);
                        explicit_bzero(buf, n);
                }
                client_reply_error_noid(c, ERR_TOO_LARGE, EMSGSIZE,
                                        "message larger than %zu bytes (--max-message) dropped", b->limits.max_message);
                return 0;
        }
        if (n == -ETOOMANYREFS) {
                client_reply_error_noid(c, ERR_BAD_REQUEST, EBADF,
                                        "more than %d file descriptor(s) on one message, or a truncated "
                                        "SCM_RIGHTS; the message was dropped and every fd that arrived closed",
                                        BROKER_MAX_FDS_IN);
                return 0;
        }
        if (n < 0 || eof) {
                close_fds(fds, n_fds);
                if (n < 0)
                        log_msg(b, LOG_DEBUG, "session %llu: receive failed: %s", (unsigned long long) c->session,
                                strerror((int) -n));
                client_free(c);
                return -1;
        }
        l->serving = c;
        client_handle_message(c, buf, n, fds, n_fds);
        l->serving = NULL;
        close_fds(fds, n_fds); /* those the request did not keep */
        explicit_bzero(buf, n);
        if (!c->dead)
                client_flush_owner(c);
        /* a hello answered: what the session may use is prepared after its welcome left, while the client
         * reads it and goes on (the memlock helper's fork) */
        if (c->begin_pending && !c->dead && !c->ended) {
                c->begin_pending = false;
                session_parts_begin(c);
        }
        if (c->dead) {
                client_free(c);
                return -1;
        }
        return 0;
}

/* Out of memory for a message read ahead: that request is lost, so the connection ends, after what is queued */
static void ahead_lost(client *c) {
        if (c->closing || c->dead)
                return;
        client_reply_error_noid(c, ERR_SYSTEM, ENOMEM,
                                "out of memory: a request read ahead of its turn was dropped; the connection closes");
        c->closing = true;
        client_flush(c); /* closes once the queue is out */
}

/*
 * Read @c's next message and handle it (lock held, released for the read); -1 when @c ended.  One
 * recvmmsg() takes it and, if one follows it already, the next: that one is kept (client_ahead_keep())
 * for the loop's next turn, which handles it and reads on, since epoll, edge-triggered, reports only
 * datagrams that arrive later (broker-conn.c).
 */
static int client_read(broker_loop *l, client *c) {
        broker *b = l->b;
        int fds[2][BROKER_MAX_FDS_IN];
        wire_msg m[2] = { { .buf = l->rx, .size = DELEGATE_MAX_MESSAGE, .fds = fds[0] },
                          { .buf = l->rx2, .size = DELEGATE_MAX_MESSAGE, .fds = fds[1] } };
        pthread_mutex_unlock(&b->lock);
        /* BROKER_MAX_FDS_IN fds taken; any more are closed by the closer thread (broker-closer.c), and so are
         * these once done with: never here, where a release that waits would stop every client */
        int got = wire_recv_two(c->fd, m, BROKER_MAX_FDS_IN);
        broker_lock_loop(b);
        if (got < 0)
                m[0].n = got;
        /* kept before the first is handled: a client that handling ends drops it with the rest; after the
         * end of the stream (a hang-up reads as two empty datagrams) there is nothing to keep */
        bool lost = false;
        if (got == 2 && (c->ended || c->closing || c->dead || m[0].eof))
                wire_msg_drop(&m[1]);
        else if (got == 2)
                lost = !client_ahead_keep(c, &m[1]);
        int r = client_take(l, c, &m[0]);
        if (r == 0 && lost)
                ahead_lost(c);
        return r;
}

/*
 * @c's turn for its message read ahead, then its next one read ahead in turn (lock held, @c not ended);
 * -1 when @c ended.  Held while it may not be read (client_update_events() queues it again).
 */
static int client_ahead_serve(broker_loop *l, client *c) {
        if (!limits_may_read(c))
                return 0;
        int fds[BROKER_MAX_FDS_IN];
        wire_msg m = { .buf = l->rx, .size = DELEGATE_MAX_MESSAGE, .fds = fds };
        client_ahead_take(c, &m);
        if (client_take(l, c, &m) < 0)
                return -1;
        if (c->closing || c->dead || !limits_may_read(c))
                return 0;
        int fds2[BROKER_MAX_FDS_IN];
        wire_msg next = { .buf = l->rx2, .size = DELEGATE_MAX_MESSAGE, .fds = fds2 };
        pthread_mutex_unlock(&l->b->lock);
        next.n = wire_recv(c->fd, next.buf, next.size, next.fds, BROKER_MAX_FDS_IN, &next.n_fds, &next.eof);
        broker_lock_loop(l->b);
        if (next.n == -EAGAIN) /* all read: epoll reports the next one */
                return 0;
        if (c->ended || c->closing || c->dead || c->ahead)
                wire_msg_drop(&next);
        else if (!client_ahead_keep(c, &next))
                ahead_lost(c);
        return 0;
}

static void client_io(broker_loop *l, client *c, uint32_t revents) {
        if (c->dead) {
                client_free(c);
                return;
        }
        if (revents & EPOLLOUT) {
                client_flush(c);
                if (c->dead) {
                        client_free(c);
                        return;
                }
        }
        if (revents & EPOLLIN) {
                /* one message a turn, so that no client gets a second turn before the others had theirs; one
                 * with a message read ahead reads on when that one has its turn (client_ahead_serve()) */
                if (!c->ahead && limits_may_read(c) && client_read(l, c) < 0)
                        return; /* ended */
                client_update_events(c);
                return;
        }
        if (revents & (EPOLLHUP | EPOLLRDHUP | EPOLLERR))
                client_free(c); /* hung up with nothing left to read */
}

/* One turn of @l over @n ready events (lock held); whether sd-event's fd was one of them (--threads 1). */
static bool loop_serve(broker_loop *l, const struct epoll_event *ev, int n) {
        bool sd_event_ready = false;
        log_batch_begin(); /* the turn's ping and state.get records go out together at its end */
        /* first those with a message read ahead in the turn before (queued since: the next turn's) */
        client *ahead = l->ahead_first;
        l->ahead_first = l->ahead_last = NULL;
        for (client *c = ahead, *next; c; c = next) {
                next = c->ahead_next; /* ended ones stay allocated until the turn's end */
                c->ahead_next = NULL;
                c->ahead_queued = false;
                if (!c->ended && c->ahead && client_ahead_serve(l, c) == 0)
                        client_update_events(c);
        }
        for (int i = 0; i < n; i++) {
                client *c = ev[i].data.ptr;
                if (ev[i].data.u64 == LOOP_SD_EVENT_KEY) { /* after this turn (run_one_loop()) */
                        sd_event_ready = true;
                        continue;
                }
                if (ev[i].data.u64 & UID_HELPER_IO_KEY) { /* a memlock helper's answer (broker-helper.c) */
                        uid_helper_loop_io(l->b, ev[i].data.u64);
                        continue;
                }
                if (!c) {
                        uint64_t v;
                        (void) !read(l->wake_fd, &v, sizeof(v));
                        continue;
                }
                if (!c->ended)
                        client_io(l, c, ev[i].events);
        }
        if (l->ahead_first) /* the wake client_ahead_queue() gave may have been read in this turn */
                loop_wake(l);
        log_batch_end();
        loop_release_zombies(l);
        return sd_event_ready;
}

static void *loop_thread(void *userdata) {
        broker_loop *l = userdata;
        broker *b = l->b;
        struct epoll_event ev[CLIENTS_BATCH];
        loop_self_set(l);
        sem_post(&l->running);
        for (;;) {
                int n = epoll_wait(l->epfd, ev, CLIENTS_BATCH, -1);
                if (n < 0 && errno != EINTR)
                        break;
                broker_lock_loop(b);
                if (n > 0 && !b->loops_stop) {
                        l->touched = false;
                        (void) loop_serve(l, ev, n);
                        /* sd-event arms its timers in sd_event_prepare(), and sd-bus its socket's events:
                         * the main thread does that again once it has the lock.  A D-Bus message this turn
                         * left queued (a reply, a signal: sd_bus_reply_method_*() send through sd-bus's
                         * own sd_bus_send(), which no wrapper sees) is looked for once, here */
                        if ((l->touched || bus_write_queued(b)) && b->main_parked) {
                                uint64_t one = 1;
                                (void) !write(b->main_wake_fd, &one, sizeof(one));
                        }
                }
                bool stop = b->loops_stop;
                pthread_mutex_unlock(&b->lock);
                if (stop)
                        break;
        }
        loop_self_set(NULL); /* and its spare messages freed */
        return NULL;
}

static int loop_init(broker *b, broker_loop *l, unsigned index) {
        *l = (broker_loop) { .b = b, .index = index, .epfd = -EBADF, .wake_fd = -EBADF };
        l->epfd = epoll_create1(EPOLL_CLOEXEC);
        if (l->epfd < 0)
                return negative_errno();
        l->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (l->wake_fd < 0)
                return negative_errno();
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
        if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wake_fd, &ev) < 0)
                return negative_errno();
        l->rx = malloc(DELEGATE_MAX_MESSAGE);
        l->rx2 = malloc(DELEGATE_MAX_MESSAGE);
        return l->rx && l->rx2 ? 0 : -ENOMEM;
}

int loops_new(broker *b, unsigned n) {
        if (n < 1 || n > BROKER_MAX_THREADS)
                return -EINVAL;
        /* held for a few microseconds at a time: spin a while before sleeping in the kernel */
        pthread_mutexattr_t attr;
        pthread_mutexattr_init(&attr);
        pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ADAPTIVE_NP);
        int r = pthread_mutex_init(&b->lock, &attr);
        pthread_mutexattr_destroy(&attr);
        if (r > 0)
                return -r;
        b->main_wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (b->main_wake_fd < 0)
                return negative_errno();
        b->loops = calloc(n, sizeof(*b->loops));
        if (!b->loops)
                return -ENOMEM;
        b->n_loops = n;
        for (unsigned i = 0; i < n; i++) {
                r = loop_init(b, &b->loops[i], i);
                if (r < 0)
                        return r;
        }
        if (n > 1)
                return 0; /* every loop a thread (loops_start()) */
        /* the main thread waits in loop 0's set, sd-event's fd one of its members (run_one_loop()), not
         * asked for until that first wait */
        loop_self_set(&b->loops[0]);
        struct epoll_event ev = { .events = 0, .data.u64 = LOOP_SD_EVENT_KEY };
        return epoll_ctl(b->loops[0].epfd, EPOLL_CTL_ADD, sd_event_get_fd(b->event), &ev) < 0 ? negative_errno() : 0;
}

/* --threads 1: whether loop 0's set reports sd-event's fd (once: EPOLLONESHOT), or not at all. */
static int sd_event_fd_ask(broker *b, bool ask) {
        struct epoll_event ev = { .events = ask ? EPOLLIN | EPOLLONESHOT : 0, .data.u64 = LOOP_SD_EVENT_KEY };
        return epoll_ctl(b->loops[0].epfd, EPOLL_CTL_MOD, sd_event_get_fd(b->event), &ev) < 0 ? negative_errno() : 0;
}

int loops_start(broker *b) {
        /* the threads take no signal (the main thread's signalfds take them all), and they inherit the
         * capabilities dropped before; the seccomp filter follows with TSYNC */
        /* one malloc arena for all threads, as the broker had with one: allocations are made under the
         * broker lock anyway, and a thread's own arena keeps what a burst of sessions took (stress-sessions
         * saw the RSS of a second round of 9900 sessions grow by 63 MiB) */
        if (b->n_loops > 1)
                (void) mallopt(M_ARENA_MAX, 1);
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        int r = 0;
        for (unsigned i = 0; i < b->n_loops && b->n_loops > 1 && r == 0; i++) {
                broker_loop *l = &b->loops[i];
                l->threaded = l->outside = true;
                if (sem_init(&l->running, 0, 0) < 0)
                        r = negative_errno();
                else
                        r = -pthread_create(&l->thread, NULL, loop_thread, l);
                l->started = r == 0;
                while (l->started && sem_wait(&l->running) < 0 && errno == EINTR)
                        ;
        }
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (r < 0)
                log_msg(b, LOG_ERR, "cannot start the client loop threads: %s", strerror(-r));
        return r;
}

void loops_stop(broker *b) {
        bool any = false;
        for (unsigned i = 0; i < b->n_loops; i++)
                any |= b->loops[i].started;
        if (!any)
                return;
        b->loops_stop = true;
        for (unsigned i = 0; i < b->n_loops; i++)
                if (b->loops[i].started)
                        loop_wake(&b->loops[i]);
        pthread_mutex_unlock(&b->lock);
        for (unsigned i = 0; i < b->n_loops; i++)
                if (b->loops[i].started) {
                        pthread_join(b->loops[i].thread, NULL);
                        b->loops[i].started = false;
                }
        pthread_mutex_lock(&b->lock);
        for (unsigned i = 0; i < b->n_loops; i++)
                loop_release_zombies(&b->loops[i]);
}

void loops_free(broker *b) {
        if (!b->loops)
                return;
        for (unsigned i = 0; i < b->n_loops; i++) {
                broker_loop *l = &b->loops[i];
                loop_release_zombies(l);
                safe_close(l->epfd);
                safe_close(l->wake_fd);
                if (l->rx)
                        explicit_bzero(l->rx, DELEGATE_MAX_MESSAGE);
                if (l->rx2)
                        explicit_bzero(l->rx2, DELEGATE_MAX_MESSAGE);
                free(l->rx);
                free(l->rx2);
        }
        free(b->loops);
        b->loops = NULL;
        loop_self_set(NULL);
}

/*
 * --threads 1: the main thread, holding the lock throughout (no other thread
 * wants it), waits in loop 0's epoll set, where sd-event's fd is a member.
 * sd-event is prepared (its timers armed, sd-bus's events asked for) before
 * the wait and stays so over the client turns that follow, as it does while
 * the main thread of --threads 2 waits: a turn that changed what it waits
 * for (a timer, a source's state, a D-Bus message queued: l->touched,
 * bus_write_queued(), broker-event.c) or its fd ready has it wait (without
 * blocking) and dispatch, then prepare again.  A turn that touches none of
 * these costs the one epoll_wait().  The set reports sd-event's fd once
 * (EPOLLONESHOT), asked again before the next blocking wait: while sd-event
 * dispatches, that fd (a connection waiting in the listening socket, say)
 * does not make the set look ready to loops_clients_waiting().
 */
static int run_one_loop(broker *b) {
        sd_event *e = b->event;
        broker_loop *l = &b->loops[0];
        struct epoll_event ev[CLIENTS_BATCH];
        bool asked = false; /* the set reports sd-event's fd (not yet reported) */
        int r = 0;
        while (r >= 0 && sd_event_get_state(e) != SD_EVENT_FINISHED) {
                r = sd_event_prepare(e);
                while (r == 0) { /* armed: wait, and serve clients until sd-event has something to do */
                        if (!asked && (r = sd_event_fd_ask(b, true)) < 0)
                                break;
                        asked = true;
                        int n = epoll_wait(l->epfd, ev, CLIENTS_BATCH, -1);
                        if (n < 0 && errno != EINTR) {
                                r = negative_errno();
                                break;
                        }
                        l->touched = false;
                        l->outside = true;
                        bool ready = n > 0 && loop_serve(l, ev, n);
                        l->outside = false;
                        if (ready)
                                asked = false; /* reported once: no longer asked */
                        else if (!l->touched && !bus_write_queued(b))
                                continue; /* still armed as it was */
                        /* only this thread prepares, waits and dispatches, and a turn never runs sd-event,
                         * so it is still ARMED here; checked, not assumed (0: nothing pending, prepare again) */
                        int state = sd_event_get_state(e);
                        r = state == SD_EVENT_ARMED ? sd_event_wait(e, 0) : state == SD_EVENT_PENDING;
                        break;
                }
                /* pending (prepared or waited): dispatch, sd-event's fd not asked for meanwhile */
                if (r > 0 && asked) {
                        int k = sd_event_fd_ask(b, false);
                        asked = false;
                        if (k < 0)
                                r = k;
                }
                if (r > 0)
                        r = sd_event_dispatch(e);
                loop_release_zombies(l);
        }
        if (r >= 0 && sd_event_get_exit_code(e, &r) < 0)
                r = 0;
        return r;
}

/*
 * The main thread: sd-event's prepare, wait and dispatch under the lock,
 * the wait itself (sd-event's epoll fd and our wake eventfd) outside it.
 */
int loops_run_main(broker *b) {
        sd_event *e = b->event;
        int r = 0;
        pthread_mutex_lock(&b->lock);
        if (b->n_loops == 1) {
                r = run_one_loop(b);
                pthread_mutex_unlock(&b->lock);
                return r;
        }
        while (sd_event_get_state(e) != SD_EVENT_FINISHED) {
                r = sd_event_prepare(e);
                if (r == 0) {
                        struct pollfd p[2] = { { .fd = sd_event_get_fd(e), .events = POLLIN },
                                               { .fd = b->main_wake_fd, .events = POLLIN } };
                        b->main_parked = true;
                        pthread_mutex_unlock(&b->lock);
                        (void) poll(p, 2, -1);
                        broker_lock_main(b);
                        b->main_parked = false;
                        if (p[1].revents) {
                                uint64_t v;
                                (void) !read(b->main_wake_fd, &v, sizeof(v));
                        }
                        /* only this thread prepares, waits and dispatches, so sd-event is still ARMED
                         * here (a loop thread adds or changes sources, never runs it); checked, not assumed */
                        int state = sd_event_get_state(e);
                        r = state == SD_EVENT_ARMED ? sd_event_wait(e, 0) : state == SD_EVENT_PENDING;
                }
                if (r > 0)
                        r = sd_event_dispatch(e);
                if (r < 0)
                        break;
                if (atomic_load_explicit(&b->lock_waiting, memory_order_relaxed) > 0) {
                        /* between two dispatches too (sd_event_prepare() finds another one pending without
                         * a wait): a loop thread waiting for the lock has it first */
                        pthread_mutex_unlock(&b->lock);
                        broker_lock_main(b);
                }
        }
        if (r >= 0 && sd_event_get_exit_code(e, &r) < 0)
                r = 0;
        loops_stop(b);
        pthread_mutex_unlock(&b->lock);
        return r;
}
