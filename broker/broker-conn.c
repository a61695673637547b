/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-conn.c - a client's connection, below everything that answers it:
 * the bounded queue of outgoing messages, sending without blocking, and
 * which events the loop waits for (in its epoll set of client sockets).
 * The replies (broker-reply.c), the hello timeout and the loop
 * (broker-server.c) send through it; it calls nothing above it.
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <syslog.h>

#include "broker.h"

void outmsg_free(outmsg *m) {
        if (!m)
                return;
        explicit_bzero(m->buf, m->len);
        free(m->buf);
        close_fds(m->fds, m->n_fds);
        free(m);
}

/* The loop's epoll set of client sockets (broker-server.c, on_clients()). */
int client_io_set(client *c, uint32_t events) {
        if (c->fd < 0 || c->io_events == events)
                return 0;
        struct epoll_event ev = { .events = events, .data.ptr = c };
        if (epoll_ctl(c->b->clients_epfd, c->io_events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd, &ev) < 0)
                return negative_errno();
        c->io_events = events;
        return 0;
}

void client_io_stop(client *c) {
        broker *b = c->b;
        if (c->io_events && c->fd >= 0)
                (void) epoll_ctl(b->clients_epfd, EPOLL_CTL_DEL, c->fd, NULL);
        c->io_events = 0;
        for (size_t i = 0; i < b->io_batch_n; i++) /* not served after it is gone */
                if (b->io_batch[i].data.ptr == c)
                        b->io_batch[i].data.ptr = NULL;
}

/* Read while we may; write while the queue has something. */
void client_update_events(client *c) {
        uint32_t ev = EPOLLRDHUP;
        if (limits_may_read(c))
                ev |= EPOLLIN;
        if (c->out_head)
                ev |= EPOLLOUT;
        (void) client_io_set(c, ev);
}

/*
 * Send what is queued.  Never frees the client (callers still hold it):
 * when it must go, it is marked dead and the I/O callback, at the top of
 * the stack, frees it.
 */
void client_flush(client *c) {
        while (c->out_head && !c->dead) {
                outmsg *m = c->out_head;
                int r = wire_send(c->fd, m->buf, m->len, m->fds, m->n_fds);
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
        outmsg *m = c->dead ? NULL : calloc(1, sizeof(*m));
        if (!m) {
                erase_free(buf);
                return;
        }
        m->buf = buf;
        m->len = len;
        for (size_t i = 0; i < n_fds && i < DELEGATE_MAX_FDS; i++)
                m->fds[m->n_fds++] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
        if (c->out_tail)
                c->out_tail->next = m;
        else
                c->out_head = m;
        c->out_tail = m;
        c->n_out++;
        c->out_bytes += len;
        client_flush(c);
}

