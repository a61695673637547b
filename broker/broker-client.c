/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-client.c - the end of a client: what its session holds is undone
 * or kept, its requests lose it, its state file goes or stays.  Above the
 * replies and the state files it calls, below the session, the state
 * recovery and the server that free clients.  Also RevokeSession's
 * session_revoke(): undo what the session parts can undo, then free.
 */
#include <stdio.h>
#include <syslog.h>

#include "broker-op.h"
#include "broker.h"

/*
 * Free @c.  When its session ends for good (the client left, was revoked,
 * or a detached session timed out), what it created is undone and its state
 * file removed.  When the broker stops with the session saved, or a
 * detached session is resumed or left for the next broker, nothing is
 * undone: the VM keeps running and the state stays (broker-state.c).
 */
void client_free(client *c) {
        if (!c || c->ended)
                return;
        broker *b = c->b;
        bool was_session = c->welcomed && !c->dead && !c->detached;
        bool keep = c->detached ? c->detached_keep
                                : (b->exiting && was_session && b->state_fd >= 0 && state_save(c) >= 0);
        request_detach_all(c);
        if (!keep)
                session_parts_end(c);
        if (c->welcomed && !c->detached && !keep)
                limits_session_end(c);
        if (!c->detached) {
                if (c->prev)
                        c->prev->next = c->next;
                else
                        b->clients = c->next;
                if (c->next)
                        c->next->prev = c->prev;
                b->n_clients--;
                limits_client_end(c);
        }
        session_parts_free(c); /* after request_detach_all: failures (a KVMI channel's) reach nobody */
        if (!keep)
                state_drop(c);
        else if (!c->detached)
                log_msg(b, LOG_INFO, "session %llu kept for the next broker (vm '%s', pid %d)",
                        (unsigned long long) c->session, c->vm ? c->vm : "", (int) c->cred.pid);
        sd_event_source_disable_unref(c->resume_timer);
        client_io_stop(c);
        client_ahead_drop(c); /* a request read ahead of its turn, never handled */
        safe_close(c->pidfd);
        state_kept_close(c); /* kept too (the broker stops with it saved): the file stays, its fds go */
        while (c->out_head) {
                outmsg *m = c->out_head;
                c->out_head = m->next;
                outmsg_free(m);
        }
        for (size_t i = 0; i < CLIENT_REPLY_CACHE; i++)
                erase_free(c->cache[i].buf);
        c->dead = true; /* not counted by SessionCount any more */
        if (was_session || (c->revoked && !c->detached))
                audit_session_closed(c, c->revoked ? "revoked"
                                        : keep     ? "kept" /* saved for the next broker */
                                        : b->exiting ? "broker-stopped" /* undone: no state directory, or not saved */
                                                     : "disconnected");
        free(c->cgroup);
        erase_free(c->name); /* from the client's hello */
        erase_free(c->vm);
        c->cgroup = c->name = c->vm = NULL;
        if (c->loop)
                return loop_client_ended(c); /* its socket and memory: released by its loop */
        client_release(c);
}

/* The last of @c: its socket and its memory (its loop, once no pointer to it can remain: broker-loop.c). */
void client_release(client *c) {
        close_fds(&c->fd, 1); /* the closer's (broker-closer.c): its queue may hold datagrams with fds */
        explicit_bzero(c, sizeof(*c));
        free(c);
}

void session_revoke(client *c, const char *by) {
        broker *b = c->b;
        log_msg(b, LOG_NOTICE, "session %llu (vm '%s', pid %d): revoked by %s", (unsigned long long) c->session,
                c->vm ? c->vm : "", (int) c->cred.pid, by);
        SESSION_HOOKS_FOREACH(h) {
                if (!h->revoke)
                        continue;
                int r = h->revoke(c);
                if (r < 0)
                        log_msg(b, LOG_WARNING, "session %llu: undoing %s failed: %s", (unsigned long long) c->session,
                                h->name, strerror(-r));
                else
                        log_msg(b, LOG_INFO, "session %llu: %s: %d undone", (unsigned long long) c->session, h->name,
                                r);
        }
        c->revoked = true;
        client_free(c);
}
