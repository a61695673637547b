/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "ops.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "size.h"
#include "wire.h"

static int bad(char *msg, size_t size, const char *fmt, ...) _printf_(3, 4);
static int bad(char *msg, size_t size, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, size, fmt, ap);
        va_end(ap);
        return -EINVAL;
}

/* Reject keys outside @allowed (NULL-terminated). */
static int check_keys(const json_value *args, const char *op, const char *const *allowed, char *msg, size_t size) {
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

static int memlock_check(const policy_rule *rule, const json_value *args, policy_decision *d, char *msg,
                         size_t size) {
        memlock_args a;
        char b1[32], b2[32];
        int r = memlock_args_parse(args, &a, msg, size);
        if (r < 0)
                return r;
        if (!rule || !rule->memlock.present)
                return 0; /* args are valid; the caller decides the denial */
        uint64_t top = a.hard == DELEGATE_LIMIT_KEEP ? a.soft : (a.hard > a.soft ? a.hard : a.soft);
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
        return "ping, state.get, memlock.set";
}

static bool rule_has_section(const policy_rule *r, const char *op) {
        if (streq(op, "memlock.set"))
                return r->memlock.present;
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
                         "no rule matches uid %u, cgroup '%s', vm '%s'%s (default deny)", (unsigned) s->uid,
                         s->cgroup ? s->cgroup : "", s->vm ? s->vm : "", s->via == POLICY_VIA_DBUS ? " via dbus" : "");
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
