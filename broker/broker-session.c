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

static size_t cgroups_count(const client *c) {
        return c->n_cgroups_created;
}

static void cgroups_state(const client *c, yajl_gen g) {
        yajl_gen_array_open(g);
        for (size_t i = 0; i < c->n_cgroups_created; i++)
                json_gen_str(g, c->cgroups_created[i]);
        yajl_gen_array_close(g);
}

/* Created cgroups are removed where empty; a revoked VM's threads still in
 * one keep it (logged), as at any session end. */
static int cgroups_revoke(client *c) {
        int n = (int) c->n_cgroups_created;
        cgroup_session_end(c);
        return n;
}

static size_t threads_count(const client *c) {
        return c->n_threads_moved;
}

static void threads_state(const client *c, yajl_gen g) {
        yajl_gen_integer(g, (long long) c->n_threads_moved);
}

static size_t sched_count(const client *c) {
        return c->n_sched_changes;
}

static void sched_state(const client *c, yajl_gen g) {
        yajl_gen_integer(g, (long long) c->n_sched_changes);
}

static size_t tap_count(const client *c) {
        return c->n_tap;
}

static void tap_state(const client *c, yajl_gen g) {
        yajl_gen_array_open(g);
        for (size_t i = 0; i < c->n_tap; i++) {
                yajl_gen_map_open(g);
                json_gen_kv_str(g, "name", c->tap[i].name);
                json_gen_kv_i64(g, "ifindex", c->tap[i].ifindex);
                json_gen_kv_bool(g, "persist", c->tap[i].persist);
                json_gen_kv_bool(g, "adopted", c->tap[i].adopted);
                if (c->tap[i].bridge) {
                        json_gen_kv_str(g, "kind", "bridge");
                        json_gen_str(g, "enslaved");
                        yajl_gen_array_open(g);
                        for (unsigned k = 0; k < c->tap[i].n_enslaved; k++)
                                yajl_gen_integer(g, c->tap[i].enslaved[k]);
                        yajl_gen_array_close(g);
                        json_gen_kv_i64(g, "addresses_from", c->tap[i].addr_from);
                }
                yajl_gen_map_close(g);
        }
        yajl_gen_array_close(g);
}

/* Every device the session created goes (adopted ones stay): QEMU's fds
 * then see the device vanish. */
static int tap_revoke(client *c) {
        int n = 0;
        for (size_t i = 0; i < c->n_tap; i++)
                n += !c->tap[i].adopted;
        tap_session_end(c);
        return n;
}

static size_t kvmi_count(const client *c) {
        return c->kvmi_shadow.n; /* pages programmed */
}

/* Detaches the channel and forgets the shadow (pages already programmed in
 * the guest stay as they are: KVMI has no "undo" but a new program). */
static int kvmi_revoke(client *c) {
        int n = c->kvmi ? 1 : 0;
        kvmi_session_end(c);
        return n;
}

/*
 * In state order.  revoke may be NULL: raised memlock limits are not
 * lowered on revoke, since lowering RLIMIT_MEMLOCK below what a running
 * QEMU has locked does not unlock it and only breaks its next mlock();
 * moved threads and scheduler changes have nothing left to undo that would
 * not break the running VM (RLIMIT_RTTIME still bounds realtime threads).
 */
/* delegate-run's listener: attached or not (its calls are counted by the operations they became) */
static size_t unotify_count(const client *c) {
        return c->unotify != NULL;
}

static const session_hook session_hooks[] = {
        { "memlock", memlock_count, memlock_state, NULL },
        { "cgroups_created", cgroups_count, cgroups_state, cgroups_revoke },
        { "threads_moved", threads_count, threads_state, NULL },
        { "sched_changes", sched_count, sched_state, NULL },
        { "tap", tap_count, tap_state, tap_revoke },
        { "kvmi", kvmi_count, kvmi_state_gen, kvmi_revoke },
        { "unotify", unotify_count, unotify_state_gen, NULL },
};

const session_hook *session_hook_find(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(session_hooks); i++)
                if (streq(session_hooks[i].name, name))
                        return &session_hooks[i];
        return NULL;
}

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
