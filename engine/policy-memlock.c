/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* policy-memlock.c - the "memlock" section of a policy rule (delegate-policy(5)):
 * { "max": SIZE, "unlimited": "deny"|"max" }. */
#include "policy-memlock.h"
#include "size.h"

static int parse(const json_value *v, policy_rule *r, unsigned *line, unsigned *column, char *msg, size_t size) {
        policy_where w = { line, column, msg, size };
        int q = policy_expect_object(&w, v, "memlock");
        if (q < 0)
                return q;
        bool have_max = false;
        for (size_t i = 0; i < v->object.n; i++) {
                const json_member *m = &v->object.members[i];
                if (streq(m->key, "unlimited")) {
                        if (!json_is_string(m->value) ||
                            (!streq(m->value->string.str, "deny") && !streq(m->value->string.str, "max")))
                                return policy_err(&w, m->value, "memlock unlimited must be \"deny\" or \"max\"");
                        r->memlock.unlimited_max = streq(m->value->string.str, "max");
                        continue;
                }
                if (!streq(m->key, "max"))
                        return policy_err_at(&w, m->line, m->column,
                                             "unknown memlock key '%s' (allowed: max, unlimited)", m->key);
                if (json_to_size(m->value, &r->memlock.max) < 0)
                        return policy_err(&w, m->value,
                                          "memlock max must be bytes or a size like \"64G\" or \"unlimited\"");
                have_max = true;
        }
        if (!have_max)
                return policy_err(&w, v, "memlock section needs \"max\"");
        r->memlock.present = true;
        return 0;
}

static bool present(const policy_rule *r) {
        return r->memlock.present;
}

const policy_section policy_section_memlock = { .key = "memlock", .parse = parse, .present = present };
