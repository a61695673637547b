/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ops-sched.c - sched.set: its arguments and its policy check against the
 * rule's "sched" section (policy-sched.c).
 */
#include <sched.h>
#include <stdio.h>

#include "ops-sched.h"

int sched_args_parse(const json_value *args, sched_args *ret, char *msg, size_t size) {
        static const char *const keys[] = { "tid", "policy", "priority", "nice", "cpus", NULL };
        const char *op = DELEGATE_OP_SCHED_SET;
        sched_args a = { 0 };
        int64_t x;

        if (!args || args->type != JSON_OBJECT)
                return ops_bad(msg, size, "sched.set: \"args\" must be an object with \"tid\" and \"policy\"");
        int r = ops_check_keys(args, op, keys, msg, size);
        if (r < 0)
                return r;
        const json_value *v = json_get(args, "tid");
        if (!v)
                return ops_bad(msg, size, "sched.set: missing \"tid\"");
        r = ops_parse_pid(v, op, "tid", &a.tid, msg, size);
        if (r < 0)
                return r;
        v = json_get(args, "policy");
        if (!v)
                return ops_bad(msg, size, "sched.set: missing \"policy\" (%s)", SCHED_POLICY_NAMES);
        a.policy = v->type == JSON_STRING ? sched_policy_from_name(v->string.str) : -1;
        if (a.policy < 0)
                return ops_bad(msg, size, "sched.set: \"policy\" must be one of %s", SCHED_POLICY_NAMES);
        bool rt = a.policy == SCHED_FIFO || a.policy == SCHED_RR;
        const json_value *prio = json_get(args, "priority"), *nice = json_get(args, "nice");
        if (rt) {
                if (!prio)
                        return ops_bad(msg, size, "sched.set: policy %s needs \"priority\" (1-99)",
                                       sched_policy_name(a.policy));
                if (prio->type != JSON_NUMBER || json_to_i64(prio, &x) < 0 || x < 1 || x > 99)
                        return ops_bad(msg, size, "sched.set: \"priority\" must be an integer from 1 to 99");
                a.priority = (int) x;
                if (nice)
                        return ops_bad(msg, size, "sched.set: \"nice\" does not apply to policy %s",
                                       sched_policy_name(a.policy));
        } else {
                if (prio)
                        return ops_bad(msg, size, "sched.set: \"priority\" applies only to fifo and rr, not %s",
                                       sched_policy_name(a.policy));
                if (nice && a.policy == SCHED_IDLE)
                        return ops_bad(msg, size, "sched.set: \"nice\" does not apply to policy idle");
                if (nice) {
                        if (nice->type != JSON_NUMBER || json_to_i64(nice, &x) < 0 || x < -20 || x > 19)
                                return ops_bad(msg, size, "sched.set: \"nice\" must be an integer from -20 to 19");
                        a.nice = (int) x;
                }
        }
        v = json_get(args, "cpus");
        if (v) {
                r = ops_parse_cpus(v, op, &a.cpus, msg, size);
                if (r < 0)
                        return r;
                a.has_cpus = true;
        }
        *ret = a;
        return 0;
}

static int parse(const json_value *args, void *ret, char *msg, size_t size) {
        return sched_args_parse(args, ret, msg, size);
}

static void check(const policy_rule *rule, const void *args, policy_decision *d) {
        const sched_args *a = args;
        bool rt = a->policy == SCHED_FIFO || a->policy == SCHED_RR;
        char cpus[128];
        if (!(rule->sched.policies & (1u << a->policy)))
                ops_deny(d, "policy %s is not among the rule's sched policies", sched_policy_name(a->policy));
        else if (rt && a->priority > rule->sched.max_priority)
                ops_deny(d, "priority %d exceeds the rule's max_priority %d", a->priority, rule->sched.max_priority);
        else if (a->nice < rule->sched.min_nice)
                ops_deny(d, "nice %d is below the rule's min_nice %d", a->nice, rule->sched.min_nice);
        else if (a->has_cpus && !ops_cpus_allowed(&a->cpus, rule->sched.has_cpus, &rule->sched.cpus, "sched",
                                                  "the rule allows no affinity changes (no sched \"cpus\")", d))
                return;
        else if (rt)
                ops_allow(d, "%s priority %d is within the rule's max_priority %d; safety %s%s%s",
                          sched_policy_name(a->policy), a->priority, rule->sched.max_priority,
                          policy_rt_safety_name(rule->sched.safety),
                          rule->sched.safety == RT_SAFETY_DEDICATED ? ": confined to CPUs " : "",
                          rule->sched.safety == RT_SAFETY_DEDICATED ?
                                  cpu_mask_format(a->has_cpus ? &a->cpus : &rule->sched.cpus, cpus, sizeof(cpus)) :
                                  "");
        else
                ops_allow(d, "%s nice %d is allowed by the rule (min_nice %d)", sched_policy_name(a->policy), a->nice,
                          rule->sched.min_nice);
}

const op_desc op_sched_set = {
        .name = DELEGATE_OP_SCHED_SET,
        .needs_policy = true,
        .section = &policy_section_sched,
        .args_size = sizeof(sched_args),
        .parse = parse,
        .check = check,
};
