/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-op-state.c - ping and state.get: what the broker knows about the
 * caller's own session.  No policy section: they reveal nothing else.
 */
#include <stdio.h>

#include "broker-op.h"
#include "config.h"
#include "size.h"

/* DELEGATE_VERSION is the project's version (digits, dots, letters): nothing in it needs escaping */
#define STR_(x) #x
#define STR(x) STR_(x)
static const char pong_head[] = "{\"pong\":true,\"api\":" STR(DELEGATE_API_VERSION) ",\"broker\":\"" DELEGATE_VERSION
                                "\",\"session\":",
                  pong_mid[] = ",\"policy_generation\":";

/* The answer to a ping, put together without a generator: it changes only with the policy generation. */
static void ping(request *req, void *args, const policy_decision *d) {
        char res[sizeof(pong_head) + sizeof(pong_mid) + 2 * JSON_U64_MAX + 2];
        size_t len = sizeof(pong_head) - 1;
        memcpy(res, pong_head, len);
        len += json_format_u64(res + len, req->c->session);
        memcpy(res + len, pong_mid, sizeof(pong_mid) - 1);
        len += sizeof(pong_mid) - 1;
        len += json_format_u64(res + len, req->c->b->policy_generation);
        res[len++] = '}';
        res[len] = 0;
        request_reply_result(req, res, NULL, 0);
        explicit_bzero(res, len); /* an answer, erased like the generator's buffer was */
}

static void state_get(request *req, void *args, const policy_decision *d) {
        _cleanup_json_gen_ json_gen *g = json_gen_new();
        if (!g)
                return request_reply_error(req, ERR_SYSTEM, ENOMEM, NULL, "out of memory");
        session_state_gen(req->c, g);
        (void) request_reply_gen(req, g, NULL, 0);
}

const broker_op bop_ping = { .op = &op_ping, .act = ping };
const broker_op bop_state_get = { .op = &op_state_get, .act = state_get };
