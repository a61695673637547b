/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-session.c - what a session holds, for every operation at once:
 * its counts (ListSessions), its state (state.get, GetSession) and how to
 * undo it (RevokeSession).
 *
 * Each operation that leaves something behind in a session adds one entry
 * to session_hooks[]; nothing else needs to know about it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <syslog.h>

#include "broker.h"
#include "size.h"

static size_t memlock_count(const client *c) {
        return c->n_memlock;
}

static void memlock_state(const client *c, yajl_gen g) {
        yajl_gen_array_open(g);
        for (size_t i = 0; i < c->n_memlock; i++) {
                yajl_gen_map_open(g);
                json_gen_kv_i64(g, "pid", c->memlock[i].pid);
                json_gen_str(g, "soft");
                json_gen_limit(g, c->memlock[i].soft);
                json_gen_str(g, "hard");
                json_gen_limit(g, c->memlock[i].hard);
                yajl_gen_map_close(g);
        }
        yajl_gen_array_close(g);
}

/*
 * In state order.  revoke may be NULL: raised memlock limits are not
 * lowered on revoke, since lowering RLIMIT_MEMLOCK below what a running
 * QEMU has locked does not unlock it and only breaks its next mlock().
 */
static const session_hook session_hooks[] = {
        { "memlock", memlock_count, memlock_state, NULL },
        /* TAP (branch tap): { "tap", tap_count, tap_state, tap_revoke } -
         * its revoke removes the persistent TAP devices the session created. */
        /* KVMI (branch kvmi): { "kvmi", ..., kvmi_revoke } - detaches. */
};

const session_hook *session_hook_list(size_t *ret_n) {
        *ret_n = ELEMENTSOF(session_hooks);
        return session_hooks;
}

void session_state_gen(const client *c, yajl_gen g) {
        yajl_gen_map_open(g);
        json_gen_kv_u64(g, "session", c->session);
        json_gen_kv_str(g, "client", c->name ? c->name : "");
        json_gen_kv_str(g, "vm", c->vm ? c->vm : "");
        json_gen_str(g, "peer");
        yajl_gen_map_open(g);
        json_gen_kv_i64(g, "pid", c->ns_pid);
        json_gen_kv_u64(g, "uid", c->cred.uid);
        json_gen_kv_u64(g, "gid", c->cred.gid);
        json_gen_kv_str(g, "cgroup", c->cgroup);
        yajl_gen_map_close(g);
        json_gen_kv_u64(g, "policy_generation", c->b->policy_generation);
        json_gen_str(g, "requests");
        yajl_gen_map_open(g);
        json_gen_kv_u64(g, "allowed", c->n_allowed);
        json_gen_kv_u64(g, "denied", c->n_denied);
        yajl_gen_map_close(g);
        for (size_t i = 0; i < ELEMENTSOF(session_hooks); i++) {
                json_gen_str(g, session_hooks[i].name);
                session_hooks[i].state(c, g);
        }
        yajl_gen_map_close(g);
}

client *session_find(broker *b, const char *id) {
        char *end;
        errno = 0;
        if (*id < '1' || *id > '9')
                return NULL;
        unsigned long long n = strtoull(id, &end, 10);
        if (errno || *end)
                return NULL;
        for (client *c = b->clients; c; c = c->next)
                if (c->welcomed && !c->dead && c->session == n)
                        return c;
        return NULL;
}

size_t session_count(broker *b) {
        size_t n = 0;
        for (client *c = b->clients; c; c = c->next)
                n += c->welcomed && !c->dead;
        return n;
}

void session_revoke(client *c, const char *by) {
        broker *b = c->b;
        log_msg(b, LOG_NOTICE, "session %llu (vm '%s', pid %d): revoked by %s", (unsigned long long) c->session,
                c->vm ? c->vm : "", (int) c->cred.pid, by);
        for (size_t i = 0; i < ELEMENTSOF(session_hooks); i++) {
                if (!session_hooks[i].revoke)
                        continue;
                int r = session_hooks[i].revoke(c);
                if (r < 0)
                        log_msg(b, LOG_WARNING, "session %llu: undoing %s failed: %s", (unsigned long long) c->session,
                                session_hooks[i].name, strerror(-r));
                else
                        log_msg(b, LOG_INFO, "session %llu: %s: %d undone", (unsigned long long) c->session,
                                session_hooks[i].name, r);
        }
        c->revoked = true;
        client_free(c);
}
