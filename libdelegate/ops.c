/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "ops.h"

#include <inttypes.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>

#include "size.h"
#include "wire.h"

#define bad ops_bad
#define check_keys ops_check_keys

int ops_bad(char *msg, size_t size, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, size, fmt, ap);
        va_end(ap);
        return -EINVAL;
}

int ops_check_keys(const json_value *args, const char *op, const char *const *allowed, char *msg, size_t size) {
        for (size_t i = 0; i < args->object.n; i++) {
                const char *k = args->object.members[i].key;
                bool ok = false;
                for (const char *const *a = allowed; *a; a++)
                        ok = ok || streq(*a, k);
                if (!ok) {
                        char list[256] = "";
                        for (const char *const *a = allowed; *a; a++)
                                snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
                                         a == allowed ? "" : ", ", *a);
                        return bad(msg, size, "%s: unknown argument '%.64s' (allowed: %s)", op, k, list);
                }
        }
        return 0;
}

int memlock_args_parse(const json_value *args, memlock_args *ret, char *msg, size_t size) {
        static const char *const keys[] = { "pid", "soft", "hard", NULL };
        memlock_args a = { .hard = DELEGATE_LIMIT_KEEP };
        int64_t pid;

        if (!args || args->type != JSON_OBJECT)
                return bad(msg, size, "memlock.set: \"args\" must be an object with \"pid\" and \"soft\"");
        int r = check_keys(args, "memlock.set", keys, msg, size);
        if (r < 0)
                return r;
        const json_value *v = json_get(args, "pid");
        if (!v)
                return bad(msg, size, "memlock.set: missing \"pid\"");
        if (json_to_i64(v, &pid) < 0 || pid < 0 || pid > INT32_MAX)
                return bad(msg, size, "memlock.set: \"pid\" must be a process id (0 for the caller itself)");
        a.pid = (pid_t) pid;
        v = json_get(args, "soft");
        if (!v)
                return bad(msg, size, "memlock.set: missing \"soft\"");
        if (json_to_size(v, &a.soft) < 0)
                return bad(msg, size, "memlock.set: \"soft\" must be bytes, a size like \"64G\", or \"unlimited\"");
        v = json_get(args, "hard");
        if (v && v->type != JSON_NULL && json_to_size(v, &a.hard) < 0)
                return bad(msg, size,
                           "memlock.set: \"hard\" must be bytes, a size like \"64G\", \"unlimited\", or absent to keep");
        if (a.hard != DELEGATE_LIMIT_KEEP && a.soft > a.hard)
                return bad(msg, size, "memlock.set: soft limit %" PRIu64 " exceeds hard limit %" PRIu64, a.soft,
                           a.hard);
        *ret = a;
        return 0;
}

void memlock_args_clamp(const policy_rule *rule, memlock_args *a) {
        if (!rule || !rule->memlock.present || !rule->memlock.unlimited_max)
                return;
        if (a->soft == UINT64_MAX)
                a->soft = rule->memlock.max;
        if (a->hard == UINT64_MAX)
                a->hard = rule->memlock.max;
}

static int memlock_check(const policy_rule *rule, const json_value *args, policy_decision *d, char *msg,
                         size_t size) {
        memlock_args a;
        char b1[32], b2[32];
        int r = memlock_args_parse(args, &a, msg, size);
        if (r < 0)
                return r;
        if (!rule || !rule->memlock.present)
                return 0; /* args are valid; the caller decides the denial */
        bool clamped = rule->memlock.unlimited_max && rule->memlock.max != UINT64_MAX &&
                       (a.soft == UINT64_MAX || a.hard == UINT64_MAX);
        memlock_args_clamp(rule, &a);
        uint64_t top = a.hard == DELEGATE_LIMIT_KEEP ? a.soft : (a.hard > a.soft ? a.hard : a.soft);
        if (clamped && top <= rule->memlock.max) {
                d->allowed = true;
                snprintf(d->reason, sizeof(d->reason),
                         "unlimited requested: the rule's \"unlimited\": \"max\" sets its memlock max %s instead",
                         format_size(rule->memlock.max, b2, sizeof(b2)));
                return 0;
        }
        if (top > rule->memlock.max) {
                d->allowed = false;
                snprintf(d->reason, sizeof(d->reason), "requested %s exceeds the rule's memlock max %s",
                         format_size(top, b1, sizeof(b1)), format_size(rule->memlock.max, b2, sizeof(b2)));
                return 0;
        }
        d->allowed = true;
        snprintf(d->reason, sizeof(d->reason), "requested %s is within the rule's memlock max %s",
                 format_size(top, b1, sizeof(b1)), format_size(rule->memlock.max, b2, sizeof(b2)));
        return 0;
}

static int parse_pid(const json_value *v, const char *op, const char *what, pid_t *ret, char *msg, size_t size) {
        int64_t x;
        if (v->type != JSON_NUMBER || json_to_i64(v, &x) < 0 || x < 0 || x > INT32_MAX)
                return bad(msg, size, "%s: \"%s\" must be a %s id (0 for the caller itself)", op, what,
                           streq(what, "pid") ? "process" : "thread");
        *ret = (pid_t) x;
        return 0;
}

static int parse_cpus_arg(const json_value *v, const char *op, cpu_mask *ret, char *msg, size_t size) {
        char m[256];
        if (v->type != JSON_STRING)
                return bad(msg, size, "%s: \"cpus\" must be a CPU list string like \"0-3,8\"", op);
        if (cpu_mask_parse(v->string.str, ret, m, sizeof(m)) < 0)
                return bad(msg, size, "%s: %s", op, m);
        return 0;
}

void cgroup_move_args_done(cgroup_move_args *a) {
        free(a->tids);
        a->tids = NULL;
        a->n_tids = 0;
}

int cgroup_move_args_parse(const json_value *args, cgroup_move_args *ret, char *msg, size_t size) {
        static const char *const keys[] = { "tids", "pid", "target", "create", "cpus", NULL };
        const char *op = "cgroup.move";
        cgroup_move_args a = { 0 };
        char m[384];

        if (!args || args->type != JSON_OBJECT)
                return bad(msg, size, "cgroup.move: \"args\" must be an object with \"target\" and \"tids\" or \"pid\"");
        int r = check_keys(args, op, keys, msg, size);
        if (r < 0)
                return r;
        const json_value *tids = json_get(args, "tids"), *pid = json_get(args, "pid"), *v;
        if (!!tids == !!pid)
                return bad(msg, size, "cgroup.move: give exactly one of \"tids\" (threads) or \"pid\" (a whole process)");
        if (pid) {
                r = parse_pid(pid, op, "pid", &a.pid, msg, size);
                if (r < 0)
                        return r;
                a.by_pid = true;
        } else {
                if (tids->type != JSON_ARRAY || tids->array.n == 0)
                        return bad(msg, size, "cgroup.move: \"tids\" must be a non-empty array of thread ids");
                if (tids->array.n > CGROUP_MOVE_MAX_TIDS)
                        return bad(msg, size, "cgroup.move: %zu tids; at most %d per request", tids->array.n,
                                   CGROUP_MOVE_MAX_TIDS);
                a.tids = calloc(tids->array.n, sizeof(pid_t));
                if (!a.tids)
                        return bad(msg, size, "out of memory");
                for (size_t i = 0; i < tids->array.n; i++) {
                        r = parse_pid(tids->array.items[i], op, "tids", &a.tids[i], msg, size);
                        for (size_t k = 0; r >= 0 && k < i; k++)
                                if (a.tids[k] == a.tids[i])
                                        r = bad(msg, size, "cgroup.move: tid %d is listed twice", (int) a.tids[i]);
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
                return bad(msg, size, "cgroup.move: \"target\" must be a cgroup path relative to the caller's own "
                                      "cgroup, like \"housekeeping\"");
        }
        if (cgroup_target_check(v->string.str, false, m, sizeof(m)) < 0) {
                cgroup_move_args_done(&a);
                return bad(msg, size, "cgroup.move: %s", m);
        }
        snprintf(a.target, sizeof(a.target), "%s", v->string.str);
        v = json_get(args, "create");
        if (v && v->type != JSON_BOOL) {
                cgroup_move_args_done(&a);
                return bad(msg, size, "cgroup.move: \"create\" must be true or false");
        }
        a.create = v && v->boolean;
        v = json_get(args, "cpus");
        if (v) {
                r = parse_cpus_arg(v, op, &a.cpus, msg, size);
                if (r >= 0 && !a.create)
                        r = bad(msg, size,
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

/*
 * Are the requested @cpus within the rule's @allowed (when @has_allowed)?
 * If not, the denial's reason names the first CPU outside, or @none_reason.
 */
static bool cpus_allowed(const cpu_mask *cpus, bool has_allowed, const cpu_mask *allowed, const char *section,
                         const char *none_reason, policy_decision *d) {
        char c1[256], c2[256];
        unsigned cpu;
        if (!has_allowed) {
                snprintf(d->reason, sizeof(d->reason), "%s", none_reason);
                return false;
        }
        if (!cpu_mask_subset(cpus, allowed, &cpu)) {
                snprintf(d->reason, sizeof(d->reason), "cpus '%s' include CPU %u, outside the rule's %s cpus '%s'",
                         cpu_mask_format(cpus, c1, sizeof(c1)), cpu, section, cpu_mask_format(allowed, c2, sizeof(c2)));
                return false;
        }
        return true;
}

static int cgroup_check(const policy_rule *rule, const json_value *args, policy_decision *d, char *msg,
                        size_t size) {
        _cleanup_(cgroup_move_args_done) cgroup_move_args a = {};
        int r = cgroup_move_args_parse(args, &a, msg, size);
        if (r < 0)
                return r;
        if (!rule || !rule->cgroup.present)
                return 0;
        d->allowed = false;
        size_t i;
        for (i = 0; i < rule->cgroup.n_targets; i++)
                if (glob_match(rule->cgroup.targets[i], a.target))
                        break;
        if (i == rule->cgroup.n_targets) {
                snprintf(d->reason, sizeof(d->reason), "target '%s' matches none of the rule's cgroup targets",
                         a.target);
                return 0;
        }
        if (a.create && !rule->cgroup.create) {
                snprintf(d->reason, sizeof(d->reason), "the rule does not let the broker create cgroups");
                return 0;
        }
        if (a.has_cpus && !cpus_allowed(&a.cpus, rule->cgroup.has_cpus, &rule->cgroup.cpus, "cgroup",
                                        "the rule allows no cpuset \"cpus\"", d))
                return 0;
        d->allowed = true;
        snprintf(d->reason, sizeof(d->reason), "target '%s' matches the rule's cgroup target '%s'", a.target,
                 rule->cgroup.targets[i]);
        return 0;
}

int sched_args_parse(const json_value *args, sched_args *ret, char *msg, size_t size) {
        static const char *const keys[] = { "tid", "policy", "priority", "nice", "cpus", NULL };
        const char *op = "sched.set";
        sched_args a = { 0 };
        int64_t x;

        if (!args || args->type != JSON_OBJECT)
                return bad(msg, size, "sched.set: \"args\" must be an object with \"tid\" and \"policy\"");
        int r = check_keys(args, op, keys, msg, size);
        if (r < 0)
                return r;
        const json_value *v = json_get(args, "tid");
        if (!v)
                return bad(msg, size, "sched.set: missing \"tid\"");
        r = parse_pid(v, op, "tid", &a.tid, msg, size);
        if (r < 0)
                return r;
        v = json_get(args, "policy");
        if (!v)
                return bad(msg, size, "sched.set: missing \"policy\" (%s)", SCHED_POLICY_NAMES);
        a.policy = v->type == JSON_STRING ? sched_policy_from_name(v->string.str) : -1;
        if (a.policy < 0)
                return bad(msg, size, "sched.set: \"policy\" must be one of %s", SCHED_POLICY_NAMES);
        bool rt = a.policy == SCHED_FIFO || a.policy == SCHED_RR;
        const json_value *prio = json_get(args, "priority"), *nice = json_get(args, "nice");
        if (rt) {
                if (!prio)
                        return bad(msg, size, "sched.set: policy %s needs \"priority\" (1-99)",
                                   sched_policy_name(a.policy));
                if (prio->type != JSON_NUMBER || json_to_i64(prio, &x) < 0 || x < 1 || x > 99)
                        return bad(msg, size, "sched.set: \"priority\" must be an integer from 1 to 99");
                a.priority = (int) x;
                if (nice)
                        return bad(msg, size, "sched.set: \"nice\" does not apply to policy %s",
                                   sched_policy_name(a.policy));
        } else {
                if (prio)
                        return bad(msg, size, "sched.set: \"priority\" applies only to fifo and rr, not %s",
                                   sched_policy_name(a.policy));
                if (nice && a.policy == SCHED_IDLE)
                        return bad(msg, size, "sched.set: \"nice\" does not apply to policy idle");
                if (nice) {
                        if (nice->type != JSON_NUMBER || json_to_i64(nice, &x) < 0 || x < -20 || x > 19)
                                return bad(msg, size, "sched.set: \"nice\" must be an integer from -20 to 19");
                        a.nice = (int) x;
                }
        }
        v = json_get(args, "cpus");
        if (v) {
                r = parse_cpus_arg(v, op, &a.cpus, msg, size);
                if (r < 0)
                        return r;
                a.has_cpus = true;
        }
        *ret = a;
        return 0;
}

static int sched_check(const policy_rule *rule, const json_value *args, policy_decision *d, char *msg,
                       size_t size) {
        sched_args a;
        int r = sched_args_parse(args, &a, msg, size);
        if (r < 0)
                return r;
        if (!rule || !rule->sched.present)
                return 0;
        d->allowed = false;
        if (!(rule->sched.policies & (1u << a.policy))) {
                snprintf(d->reason, sizeof(d->reason), "policy %s is not among the rule's sched policies",
                         sched_policy_name(a.policy));
                return 0;
        }
        if ((a.policy == SCHED_FIFO || a.policy == SCHED_RR) && a.priority > rule->sched.max_priority) {
                snprintf(d->reason, sizeof(d->reason), "priority %d exceeds the rule's max_priority %d", a.priority,
                         rule->sched.max_priority);
                return 0;
        }
        if (a.nice < rule->sched.min_nice) {
                snprintf(d->reason, sizeof(d->reason), "nice %d is below the rule's min_nice %d", a.nice,
                         rule->sched.min_nice);
                return 0;
        }
        if (a.has_cpus && !cpus_allowed(&a.cpus, rule->sched.has_cpus, &rule->sched.cpus, "sched",
                                        "the rule allows no affinity changes (no sched \"cpus\")", d))
                return 0;
        d->allowed = true;
        if (a.policy == SCHED_FIFO || a.policy == SCHED_RR) {
                char cpus[128];
                snprintf(d->reason, sizeof(d->reason), "%s priority %d is within the rule's max_priority %d; "
                         "safety %s%s%s", sched_policy_name(a.policy), a.priority, rule->sched.max_priority,
                         policy_rt_safety_name(rule->sched.safety),
                         rule->sched.safety == RT_SAFETY_DEDICATED ? ": confined to CPUs " : "",
                         rule->sched.safety == RT_SAFETY_DEDICATED ?
                                 cpu_mask_format(a.has_cpus ? &a.cpus : &rule->sched.cpus, cpus, sizeof(cpus)) : "");
        }
        else
                snprintf(d->reason, sizeof(d->reason), "%s nice %d is allowed by the rule (min_nice %d)",
                         sched_policy_name(a.policy), a.nice, rule->sched.min_nice);
        return 0;
}

static int noargs_check(const policy_rule *rule _unused_, const json_value *args, policy_decision *d, char *msg,
                        size_t size) {
        if (args && args->type != JSON_NULL && (args->type != JSON_OBJECT || args->object.n > 0))
                return bad(msg, size, "this operation takes no arguments");
        d->allowed = true;
        snprintf(d->reason, sizeof(d->reason), "always allowed: it only concerns the caller's own session");
        return 0;
}

/* manage.*: the rule's "manage" list must name the action */
static int manage_check(unsigned action, const char *name, const policy_rule *rule, const json_value *args,
                        policy_decision *d, char *msg, size_t size) {
        if (args && args->type != JSON_NULL && (args->type != JSON_OBJECT || args->object.n > 0))
                return bad(msg, size, "manage.%s takes no arguments", name);
        if (!rule)
                return 0;
        d->allowed = (rule->manage.actions & action) != 0;
        snprintf(d->reason, sizeof(d->reason), "rule '%s' manage list %s '%s'", rule->name,
                 d->allowed ? "includes" : "does not include", name);
        return 0;
}

#define MANAGE_CHECK(action, name)                                                                              \
        static int manage_##name##_check(const policy_rule *rule, const json_value *args, policy_decision *d,   \
                                         char *msg, size_t size) {                                              \
                return manage_check(action, #name, rule, args, d, msg, size);                                   \
        }
MANAGE_CHECK(MANAGE_INSPECT, inspect)
MANAGE_CHECK(MANAGE_EVALUATE, evaluate)
MANAGE_CHECK(MANAGE_RELOAD, reload)
MANAGE_CHECK(MANAGE_REVOKE, revoke)

static const op_desc ops[] = {
        { "ping", false, noargs_check },
        { "state.get", false, noargs_check },
        { "memlock.set", true, memlock_check },
        { "cgroup.move", true, cgroup_check },
        { "sched.set", true, sched_check },
        { "tap.create", true, tap_create_check },
        { "tap.destroy", true, tap_destroy_check },
        { "bridge.create", true, bridge_create_check },
        { "bridge.destroy", true, bridge_destroy_check },
        { "kvmi.attach", true, kvmi_attach_check },
        { "kvmi.connect", true, kvmi_connect_check },
        { "kvmi.set-page-access", true, kvmi_spa_check },
        { "kvmi.detach", false, kvmi_detach_check },
        { "manage.inspect", true, manage_inspect_check },
        { "manage.evaluate", true, manage_evaluate_check },
        { "manage.reload", true, manage_reload_check },
        { "manage.revoke", true, manage_revoke_check },
};

bool op_is_bus_only(const char *name) {
        return strncmp(name, "manage.", 7) == 0;
}

const op_desc *op_lookup(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(ops); i++)
                if (streq(ops[i].name, name))
                        return &ops[i];
        return NULL;
}

const char *op_names(void) {
        return "ping, state.get, memlock.set, cgroup.move, sched.set, tap.create, tap.destroy, bridge.create, "
               "bridge.destroy, kvmi.attach, kvmi.connect, kvmi.set-page-access, kvmi.detach";
}

static bool rule_has_section(const policy_rule *r, const char *op) {
        if (streq(op, "memlock.set"))
                return r->memlock.present;
        if (streq(op, "cgroup.move"))
                return r->cgroup.present;
        if (streq(op, "sched.set"))
                return r->sched.present;
        if (streq(op, "tap.create") || streq(op, "tap.destroy"))
                return r->tap.present;
        if (streq(op, "bridge.create") || streq(op, "bridge.destroy"))
                return r->bridge.present;
        if (!strncmp(op, "kvmi.", 5))
                return r->kvmi.present;
        if (op_is_bus_only(op))
                return r->manage.present;
        return false;
}

int policy_decide(const policy *p, const policy_subject *s, const char *op, const json_value *args,
                  policy_decision *d, char *msg, size_t size, policy_explain_fn fn, void *userdata) {
        const op_desc *o = op_lookup(op);
        memset(d, 0, sizeof(*d));
        if (!o) {
                bad(msg, size, "unknown operation '%.64s' (API %d knows: %s)", op, DELEGATE_API_VERSION, op_names());
                return -EOPNOTSUPP;
        }
        if (!o->needs_policy)
                return o->check(NULL, args, d, msg, size);

        const policy_rule *r = policy_match(p, s, fn, userdata);
        if (!r) {
                /* still validate the args: a malformed request is a bad request, not a denial */
                int q = o->check(NULL, args, d, msg, size);
                if (q == -EINVAL)
                        return q;
                d->allowed = false;
                d->rule = NULL;
                snprintf(d->reason, sizeof(d->reason),
                         "no rule matches uid %u, cgroup '%s', vm '%s'%s%s (default deny)", (unsigned) s->uid,
                         s->cgroup ? s->cgroup : "", s->vm ? s->vm : "", s->via != POLICY_VIA_SOCKET ? " via " : "",
                         s->via != POLICY_VIA_SOCKET ? policy_via_name(s->via) : "");
                return 0;
        }
        d->rule = r;
        if (!rule_has_section(r, op)) {
                policy_decision tmp;
                int q = o->check(r, args, &tmp, msg, size);
                if (q == -EINVAL)
                        return q;
                d->allowed = false;
                snprintf(d->reason, sizeof(d->reason), "rule '%s' has no section for %s", r->name, op);
                return 0;
        }
        int q = o->check(r, args, d, msg, size);
        d->rule = r;
        return q;
}
