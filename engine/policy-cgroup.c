/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * policy-cgroup.c - the "cgroup" section of a policy rule (delegate-policy(5)):
 * { "targets": GLOBS, "create": BOOL, "cpus": CPULIST }.
 */
#include "policy-cgroup.h"

static int parse(const json_value *v, policy_rule *r, unsigned *line, unsigned *column, char *msg, size_t size) {
        policy_where w = { line, column, msg, size };
        int q = policy_expect_object(&w, v, "cgroup");
        if (q < 0)
                return q;
        for (size_t i = 0; i < v->object.n; i++) {
                const json_member *m = &v->object.members[i];
                if (streq(m->key, "targets")) {
                        q = policy_get_globs(&w, m->value, "cgroup target", false, &r->cgroup.targets,
                                             &r->cgroup.n_targets);
                        for (size_t k = 0; q >= 0 && k < r->cgroup.n_targets; k++) {
                                char why[384];
                                const json_value *e = m->value->type == JSON_ARRAY ? m->value->array.items[k]
                                                                                   : m->value;
                                if (strstr(r->cgroup.targets[k], "**"))
                                        q = policy_err(&w, e, "cgroup target glob '%s': '**' is not allowed here",
                                                       r->cgroup.targets[k]);
                                else if (cgroup_target_check(r->cgroup.targets[k], true, why, sizeof(why)) < 0)
                                        q = policy_err(&w, e, "%s", why);
                        }
                } else if (streq(m->key, "create"))
                        q = policy_get_bool(&w, m->value, "cgroup \"create\"", &r->cgroup.create);
                else if (streq(m->key, "cpus")) {
                        q = policy_get_cpus(&w, m->value, "cgroup \"cpus\"", &r->cgroup.cpus);
                        r->cgroup.has_cpus = true;
                } else
                        q = policy_err_at(&w, m->line, m->column,
                                          "unknown cgroup key '%s' (allowed: targets, create, cpus)", m->key);
                if (q < 0)
                        return q;
        }
        if (!r->cgroup.targets)
                return policy_err(&w, v, "cgroup section needs \"targets\"");
        r->cgroup.present = true;
        return 0;
}

static void clear(policy_rule *r) {
        policy_strv_free(r->cgroup.targets, r->cgroup.n_targets);
        r->cgroup.targets = NULL;
        r->cgroup.n_targets = 0;
}

static bool present(const policy_rule *r) {
        return r->cgroup.present;
}

const policy_section policy_section_cgroup = { .key = "cgroup", .parse = parse, .clear = clear, .present = present };
