/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* policy-util.c - see policy-util.h. */
#include "policy-util.h"
#include "tap.h"
#include "unit-util.h"

const policy_rule *rule_named(const policy *p, const char *name) {
        for (size_t i = 0; p && i < p->n_rules; i++)
                if (streq(p->rules[i].name, name))
                        return &p->rules[i];
        return NULL;
}

int load(policy *p, const char *file, const char *text, policy_error *err) {
        return policy_load_text(p, file, text, strlen(text), err);
}

/* @text fails to load into a fresh policy with "FILE:LINE:COLUMN" and @msg. */
void broken_into(policy *p, const char *file, const char *text, unsigned line, unsigned column,
                        const char *msg, const char *what) {
        policy_error err = {};
        char pos[1100], want[1100];
        size_t before = p->n_rules, files = p->n_files;

        int r = load(p, file, text, &err);
        tap_is_int(r, -EINVAL, "%s: rejected", what);
        snprintf(pos, sizeof(pos), "%s:%u:%u", err.file, err.line, err.column);
        snprintf(want, sizeof(want), "%s:%u:%u", file, line, column);
        tap_is_str(pos, want, "%s: position", what);
        tap_has_str(err.message, msg, "%s: message", what);
        tap_ok(p->n_rules == before && p->n_files == files, "%s: nothing added", what);
}

void broken(const char *text, unsigned line, unsigned column, const char *msg, const char *what) {
        _cleanup_policy_ policy *p = policy_new();
        broken_into(p, "bad.json", text, line, column, msg, what);
}

void count_explain(const policy_rule *r, bool matched, const char *why, void *userdata) {
        (*(size_t *) userdata)++;
}

decide_result decide(const policy *p, uid_t uid, const char *op, const char *args) {
        decide_result res = { .r = -999 };
        _cleanup_json_ json_value *a = NULL;
        json_parse_error je;
        if (args && json_parse(args, strlen(args), false, &a, &je) < 0) {
                tap_diag("bad test args %s: %s", args, je.message);
                return res;
        }
        policy_subject s = { .uid = uid, .gid = uid, .cgroup = "/pods/p.scope", .vm = "vm1" };
        res.r = policy_decide(p, &s, op, a, &res.d, res.msg, sizeof(res.msg), count_explain, &res.n_explained);
        return res;
}

void decided(decide_result res, bool allowed, const char *rule, const char *reason, const char *what) {
        tap_ok(res.r == 0 && res.d.allowed == allowed, "%s: %s", what, allowed ? "allowed" : "denied");
        if (res.r != 0 || res.d.allowed != allowed)
                tap_diag("  r=%d allowed=%d reason='%s' msg='%s'", res.r, res.d.allowed, res.d.reason, res.msg);
        tap_is_str(res.d.rule ? res.d.rule->name : "(none)", rule ? rule : "(none)", "%s: deciding rule", what);
        tap_has_str(res.d.reason, reason, "%s: reason", what);
}

void rejected(decide_result res, int error, const char *msg, const char *what) {
        tap_is_int(res.r, error, "%s: rejected", what);
        tap_has_str(res.msg, msg, "%s: message", what);
}

decide_result decide_via(const policy *p, uid_t uid, policy_via via, const char *op, const char *args) {
        decide_result res = { .r = -999 };
        _cleanup_json_ json_value *a = NULL;
        json_parse_error je;
        if (args && json_parse(args, strlen(args), false, &a, &je) < 0)
                return res;
        policy_subject s = { .uid = uid, .gid = uid, .cgroup = "/system", .via = via };
        res.r = policy_decide(p, &s, op, a, &res.d, res.msg, sizeof(res.msg), NULL, NULL);
        return res;
}
