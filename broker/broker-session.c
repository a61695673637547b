/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-session.c - what a session holds, for every operation at once:
 * its counts (ListSessions) and its state (state.get, GetSession), walking
 * the hooks of every session part (broker-op.h); the parts themselves live
 * with their operations.  Undoing it (RevokeSession) frees the client:
 * session_revoke() is in broker-client.c, above the operations, while
 * state.get reads this file from below.
 */
#include <inttypes.h>
#include <stdio.h>
#include <syslog.h>

#include "broker-op.h"
#include "size.h"

void session_state_gen(const client *c, json_gen *g) {
        json_gen_map_open(g);
        json_gen_kv_u64(g, "session", c->session);
        json_gen_kv_str(g, "client", c->name ? c->name : "");
        json_gen_kv_str(g, "vm", c->vm ? c->vm : "");
        json_gen_str(g, "peer");
        json_gen_map_open(g);
        json_gen_kv_i64(g, "pid", c->ns_pid);
        json_gen_kv_u64(g, "uid", c->cred.uid);
        json_gen_kv_u64(g, "gid", c->cred.gid);
        json_gen_kv_str(g, "cgroup", c->cgroup);
        json_gen_map_close(g);
        json_gen_kv_u64(g, "policy_generation", c->b->policy_generation);
        json_gen_str(g, "requests");
        json_gen_map_open(g);
        json_gen_kv_u64(g, "allowed", c->n_allowed);
        json_gen_kv_u64(g, "denied", c->n_denied);
        json_gen_kv_u64(g, "quiet", c->n_quiet);
        json_gen_map_close(g);
        SESSION_HOOKS_FOREACH(h) {
                json_gen_str(g, h->name);
                h->state(c, g);
        }
        json_gen_map_close(g);
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
