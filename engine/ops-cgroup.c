/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ops-cgroup.c - cgroup.move: its arguments and its policy check against
 * the rule's "cgroup" section (policy-cgroup.c).
 */
#include <stdio.h>

#include "ops-cgroup.h"

void cgroup_move_args_done(cgroup_move_args *a) {
        free(a->tids);
        a->tids = NULL;
        a->n_tids = 0;
}

int cgroup_move_args_parse(const json_value *args, cgroup_move_args *ret, char *msg, size_t size) {
        static const char *const keys[] = { "tids", "pid", "target", "create", "cpus", NULL };
        const char *op = DELEGATE_OP_CGROUP_MOVE;
        cgroup_move_args a = { 0 };
        char m[384];

        if (!args || args->type != JSON_OBJECT)
                return ops_bad(msg, size,
                               "cgroup.move: \"args\" must be an object with \"target\" and \"tids\" or \"pid\"");
        int r = ops_check_keys(args, op, keys, msg, size);
        if (r < 0)
                return r;
        const json_value *tids = json_get(args, "tids"), *pid = json_get(args, "pid"), *v;
        if (!!tids == !!pid)
                return ops_bad(msg, size,
                               "cgroup.move: give exactly one of \"tids\" (threads) or \"pid\" (a whole process)");
        if (pid) {
                r = ops_parse_pid(pid, op, "pid", &a.pid, msg, size);
                if (r < 0)
                        return r;
                a.by_pid = true;
        } else {
                if (tids->type != JSON_ARRAY || tids->array.n == 0)
                        return ops_bad(msg, size, "cgroup.move: \"tids\" must be a non-empty array of thread ids");
                if (tids->array.n > CGROUP_MOVE_MAX_TIDS)
                        return ops_bad(msg, size, "cgroup.move: %zu tids; at most %d per request", tids->array.n,
                                       CGROUP_MOVE_MAX_TIDS);
                a.tids = calloc(tids->array.n, sizeof(pid_t));
                if (!a.tids)
                        return ops_bad(msg, size, "out of memory");
                for (size_t i = 0; i < tids->array.n; i++) {
                        r = ops_parse_pid(tids->array.items[i], op, "tids", &a.tids[i], msg, size);
                        for (size_t k = 0; r >= 0 && k < i; k++)
                                if (a.tids[k] == a.tids[i])
                                        r = ops_bad(msg, size, "cgroup.move: tid %d is listed twice", (int) a.tids[i]);
                        if (r < 0) {
                                cgroup_move_args_done(&a);
                                return r;
                        }
                        a.n_tids++;
                }
        }
        v = json_get(args, "target");
        if (!v || v->type != JSON_STRING) {
                cgroup_move_args_done(&a);
                return ops_bad(msg, size,
                               "cgroup.move: \"target\" must be a cgroup path relative to the caller's own "
                               "cgroup, like \"housekeeping\"");
        }
        if (cgroup_target_check(v->string.str, false, m, sizeof(m)) < 0) {
                cgroup_move_args_done(&a);
                return ops_bad(msg, size, "cgroup.move: %s", m);
        }
        snprintf(a.target, sizeof(a.target), "%s", v->string.str);
        v = json_get(args, "create");
        if (v && v->type != JSON_BOOL) {
                cgroup_move_args_done(&a);
                return ops_bad(msg, size, "cgroup.move: \"create\" must be true or false");
        }
        a.create = v && v->boolean;
        v = json_get(args, "cpus");
        if (v) {
                r = ops_parse_cpus(v, op, &a.cpus, msg, size);
                if (r >= 0 && !a.create)
                        r = ops_bad(msg, size,
                                    "cgroup.move: \"cpus\" (cpuset.cpus) applies only to a target the broker creates: "
                                    "add \"create\": true");
                if (r < 0) {
                        cgroup_move_args_done(&a);
                        return r;
                }
                a.has_cpus = true;
        }
        *ret = a;
        return 0;
}

static int parse(const json_value *args, void *ret, char *msg, size_t size) {
        return cgroup_move_args_parse(args, ret, msg, size);
}

static void done(void *args) {
        cgroup_move_args_done(args);
}

static void check(const policy_rule *rule, const void *args, policy_decision *d) {
        const cgroup_move_args *a = args;
        size_t i;
        for (i = 0; i < rule->cgroup.n_targets; i++)
                if (glob_match(rule->cgroup.targets[i], a->target))
                        break;
        if (i == rule->cgroup.n_targets)
                ops_deny(d, "target '%s' matches none of the rule's cgroup targets", a->target);
        else if (a->create && !rule->cgroup.create)
                ops_deny(d, "the rule does not let the broker create cgroups");
        else if (!a->has_cpus || ops_cpus_allowed(&a->cpus, rule->cgroup.has_cpus, &rule->cgroup.cpus, "cgroup",
                                                  "the rule allows no cpuset \"cpus\"", d))
                ops_allow(d, "target '%s' matches the rule's cgroup target '%s'", a->target, rule->cgroup.targets[i]);
}

const op_desc op_cgroup_move = {
        .name = DELEGATE_OP_CGROUP_MOVE,
        .needs_policy = true,
        .section = &policy_section_cgroup,
        .args_size = sizeof(cgroup_move_args),
        .parse = parse,
        .done = done,
        .check = check,
};
