/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-op-state.c - ping and state.get: what the broker knows about the
 * caller's own session.  No policy section: they reveal nothing else.
 */
#include <stdio.h>

#include "broker-op.h"
#include "config.h"
#include "size.h"

static void ping(request *req, void *args, const policy_decision *d) {
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

static void state_get(request *req, void *args, const policy_decision *d) {
        _cleanup_json_gen_ yajl_gen g = json_gen_new();
        _cleanup_erase_free_ char *res = NULL;
        if (!g)
                return request_reply_error(req, ERR_SYSTEM, ENOMEM, NULL, "out of memory");
        session_state_gen(req->c, g);
        if (json_gen_take(g, &res, NULL) < 0)
                return request_reply_error(req, ERR_SYSTEM, ENOMEM, NULL, "out of memory");
        request_reply_result(req, res, NULL, 0);
}

const broker_op bop_ping = { .op = &op_ping, .act = ping };
const broker_op bop_state_get = { .op = &op_state_get, .act = state_get };
