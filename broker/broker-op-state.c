/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-op-state.c - ping and state.get: what the broker knows about the
 * caller's own session.  No policy section: they reveal nothing else.
 */
#include <stdio.h>

#include "broker.h"
#include "config.h"
#include "size.h"

void op_ping(request *req, const policy_decision *d) {
        _cleanup_json_gen_ yajl_gen g = json_gen_new();
        _cleanup_erase_free_ char *res = NULL;
        if (!g)
                return request_reply_error(req, ERR_SYSTEM, ENOMEM, NULL, "out of memory");
        yajl_gen_map_open(g);
        json_gen_kv_bool(g, "pong", true);
        json_gen_kv_i64(g, "api", DELEGATE_API_VERSION);
        json_gen_kv_str(g, "broker", DELEGATE_VERSION);
        json_gen_kv_u64(g, "session", req->c->session);
        json_gen_kv_u64(g, "policy_generation", req->c->b->policy_generation);
        yajl_gen_map_close(g);
        if (json_gen_take(g, &res, NULL) < 0)
                return request_reply_error(req, ERR_SYSTEM, ENOMEM, NULL, "out of memory");
        request_reply_result(req, res, NULL, 0);
}

void op_state_get(request *req, const policy_decision *d) {
        client *c = req->c;
        _cleanup_json_gen_ yajl_gen g = json_gen_new();
        _cleanup_erase_free_ char *res = NULL;
        if (!g)
                return request_reply_error(req, ERR_SYSTEM, ENOMEM, NULL, "out of memory");
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
        json_gen_str(g, "memlock");
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
        json_gen_str(g, "cgroups_created");
        yajl_gen_array_open(g);
        for (size_t i = 0; i < c->n_cgroups_created; i++)
                json_gen_str(g, c->cgroups_created[i]);
        yajl_gen_array_close(g);
        json_gen_kv_u64(g, "threads_moved", c->n_threads_moved);
        json_gen_kv_u64(g, "sched_changes", c->n_sched_changes);
        json_gen_str(g, "tap");
        yajl_gen_array_open(g);
        for (size_t i = 0; i < c->n_tap; i++) {
                yajl_gen_map_open(g);
                json_gen_kv_str(g, "name", c->tap[i].name);
                json_gen_kv_i64(g, "ifindex", c->tap[i].ifindex);
                json_gen_kv_bool(g, "persist", c->tap[i].persist);
                json_gen_kv_bool(g, "adopted", c->tap[i].adopted);
                yajl_gen_map_close(g);
        }
        yajl_gen_array_close(g);
        json_gen_str(g, "kvmi");
        kvmi_state_gen(c, g);
        yajl_gen_map_close(g);
        if (json_gen_take(g, &res, NULL) < 0)
                return request_reply_error(req, ERR_SYSTEM, ENOMEM, NULL, "out of memory");
        request_reply_result(req, res, NULL, 0);
}
