/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ops-manage.c - manage.inspect, manage.evaluate, manage.reload,
 * manage.revoke: the broker's own management, decided like operations but
 * only for D-Bus callers, by the rule's "manage" section.
 */
#include "opdesc.h"

/* bit i is MANAGE_* i */
static const char *const actions[] = { "inspect", "evaluate", "reload", "revoke", NULL };

static int parse(const json_value *v, policy_rule *r, unsigned *line, unsigned *column, char *msg, size_t size) {
        policy_where w = { line, column, msg, size };
        int q = policy_get_name_set(&w, v, "manage action", actions, &r->manage.actions);
        if (q < 0)
                return q;
        r->manage.present = true;
        return 0;
}

static bool present(const policy_rule *r) {
        return r->manage.present;
}

static const policy_section section = { .key = "manage", .parse = parse, .present = present };

static void check_action(unsigned bit, const policy_rule *rule, policy_decision *d) {
        bool ok = (rule->manage.actions & (1u << bit)) != 0;
        ops_allow(d, "rule '%s' manage list %s '%s'", rule->name, ok ? "includes" : "does not include", actions[bit]);
        d->allowed = ok;
}

#define MANAGE_OP(bit, id, action)                                                                              \
        static void check_##id(const policy_rule *rule, const void *args _unused_, policy_decision *d) {       \
                check_action(bit, rule, d);                                                                     \
        }                                                                                                       \
        const op_desc op_manage_##id = {                                                                        \
                .name = "manage." action,                                                                       \
                .needs_policy = true,                                                                           \
                .flags = OP_BUS_ONLY,                                                                           \
                .section = &section,                                                                            \
                .check = check_##id,                                                                            \
        };
MANAGE_OP(0, inspect, "inspect")
MANAGE_OP(1, evaluate, "evaluate")
MANAGE_OP(2, reload, "reload")
MANAGE_OP(3, revoke, "revoke")
