/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * policy-sched.c - the "sched" section of a policy rule (delegate-policy(5)):
 * policies, max_priority, min_nice, cpus, safety, max_rttime_us, burst.
 */
#include <inttypes.h>
#include <sched.h>

#include "policy-sched.h"

static int parse_burst(policy_where *c, const json_value *v, policy_rule *r) {
        if (v->type != JSON_STRING)
                goto bad;
        const char *s = v->string.str;
        char *end;
        errno = 0;
        if (*s < '1' || *s > '9')
                goto bad;
        unsigned long n = strtoul(s, &end, 10);
        if (errno || n > 1000000 || *end != '/' || end[1] < '0' || end[1] > '9')
                goto bad;
        s = end + 1;
        unsigned long t = strtoul(s, &end, 10);
        uint64_t mul;
        if (errno || t == 0 || t > 86400000)
                goto bad;
        if (streq(end, "ms"))
                mul = 1000;
        else if (streq(end, "s"))
                mul = 1000000;
        else if (streq(end, "min"))
                mul = 60 * UINT64_C(1000000);
        else
                goto bad;
        if (t * mul > 86400 * UINT64_C(1000000))
                return policy_err(c, v, "sched \"burst\" window is longer than a day");
        r->sched.burst_n = (unsigned) n;
        r->sched.burst_usec = t * mul;
        return 0;
bad:
        return policy_err(c, v,
                       "sched \"burst\" must be a string like \"25/20s\": 1-1000000 changes per period "
                       "(units ms, s, min)");
}


static int parse(const json_value *v, policy_rule *r, unsigned *line, unsigned *column, char *msg, size_t size) {
        policy_where w = { line, column, msg, size }, *c = &w;
        int q = policy_expect_object(c, v, "sched");
        if (q < 0)
                return q;
        bool have_policies = false, have_prio = false;
        const json_value *rttime = NULL;
        int64_t x;
        r->sched.min_nice = 0;
        r->sched.safety = RT_SAFETY_RTTIME;
        for (size_t i = 0; i < v->object.n; i++) {
                const json_member *m = &v->object.members[i];
                if (streq(m->key, "policies")) {
                        const json_value *a = m->value;
                        if (a->type != JSON_ARRAY || a->array.n == 0)
                                return policy_err(c, a, "sched \"policies\" must be a non-empty array of names (%s)",
                                               SCHED_POLICY_NAMES);
                        for (size_t k = 0; k < a->array.n; k++) {
                                const json_value *e = a->array.items[k];
                                int p = e->type == JSON_STRING ? sched_policy_from_name(e->string.str) : -1;
                                if (p < 0)
                                        return policy_err(c, e, "unknown scheduling policy%s%s%s (allowed: %s)",
                                                       e->type == JSON_STRING ? " '" : "",
                                                       e->type == JSON_STRING ? e->string.str : "",
                                                       e->type == JSON_STRING ? "'" : "", SCHED_POLICY_NAMES);
                                r->sched.policies |= 1u << p;
                        }
                        have_policies = true;
                } else if (streq(m->key, "max_priority")) {
                        q = policy_get_int(c, m->value, "sched \"max_priority\"", 1, 99, &x);
                        r->sched.max_priority = (int) x;
                        have_prio = true;
                } else if (streq(m->key, "min_nice")) {
                        q = policy_get_int(c, m->value, "sched \"min_nice\"", -20, 19, &x);
                        r->sched.min_nice = (int) x;
                } else if (streq(m->key, "cpus")) {
                        q = policy_get_cpus(c, m->value, "sched \"cpus\"", &r->sched.cpus);
                        r->sched.has_cpus = true;
                } else if (streq(m->key, "safety")) {
                        const json_value *s = m->value;
                        if (s->type == JSON_STRING && streq(s->string.str, "rttime"))
                                r->sched.safety = RT_SAFETY_RTTIME;
                        else if (s->type == JSON_STRING && streq(s->string.str, "dedicated"))
                                r->sched.safety = RT_SAFETY_DEDICATED;
                        else
                                return policy_err(c, s, "sched \"safety\" must be \"rttime\" (a finite RLIMIT_RTTIME, "
                                                     "for threads that sleep) or \"dedicated\" (the rule's cpus, "
                                                     "under the kernel's RT throttling, for busy vCPUs)");
                } else if (streq(m->key, "max_rttime_us")) {
                        q = policy_get_int(c, m->value, "sched \"max_rttime_us\"", 1, INT64_MAX, &x);
                        r->sched.max_rttime_us = (uint64_t) x;
                        rttime = m->value;
                } else if (streq(m->key, "burst"))
                        q = parse_burst(c, m->value, r);
                else
                        q = policy_err_at(c, m->line, m->column,
                                 "unknown sched key '%s' (allowed: policies, max_priority, min_nice, cpus, "
                                 "safety, max_rttime_us, burst)",
                                 m->key);
                if (q < 0)
                        return q;
        }
        if (!have_policies)
                return policy_err(c, v, "sched section needs \"policies\"");
        bool rt = r->sched.policies & ((1u << SCHED_FIFO) | (1u << SCHED_RR));
        if (rt && !have_prio)
                return policy_err(c, v, "sched section allows fifo/rr and so needs \"max_priority\" (1-99)");
        if (r->sched.safety == RT_SAFETY_DEDICATED) {
                if (rttime)
                        return policy_err(c, rttime,
                                       "sched \"max_rttime_us\" does not apply to safety \"dedicated\", which "
                                       "requires no RLIMIT_RTTIME (the kernel's RT throttling bounds the thread)");
                if (rt && !r->sched.has_cpus)
                        return policy_err(c, v,
                                       "sched safety \"dedicated\" needs \"cpus\": the CPUs realtime threads are "
                                       "confined to");
        } else if (rt && !rttime)
                return policy_err(c, v,
                               "sched section allows fifo/rr and so needs \"max_rttime_us\": realtime threads "
                               "must run under a finite RLIMIT_RTTIME (or use \"safety\": \"dedicated\")");
        r->sched.present = true;
        return 0;
}


static bool present(const policy_rule *r) {
        return r->sched.present;
}

const policy_section policy_section_sched = { .key = "sched", .parse = parse, .present = present };
