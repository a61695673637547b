/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ops-state.c - ping and state.get: no arguments, no rule; they only
 * concern the caller's own session.
 */
#include "opdesc.h"

void ops_check_own_session(const policy_rule *rule _unused_, const void *args _unused_, policy_decision *d) {
        ops_allow_text(d, "always allowed: it only concerns the caller's own session");
}

const op_desc op_ping = {
        .name = DELEGATE_OP_PING,
        .quiet = true,
        .check = ops_check_own_session,
};

const op_desc op_state_get = {
        .name = DELEGATE_OP_STATE_GET,
        .quiet = true,
        .check = ops_check_own_session,
};
