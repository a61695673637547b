/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * policy.c - the pure policy engine: which rule matches a subject, the
 * globs and names rules use, and the helpers each section's parser
 * (policy-*.c) reports its errors with.  Loading files: policy-load.c;
 * the operations and their checks: ops.c and ops-*.c.
 */
#include "policy.h"

#include <inttypes.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>

static int verr(policy_where *w, unsigned line, unsigned column, const char *fmt, va_list ap) {
        *w->line = line;
        *w->column = column;
        vsnprintf(w->msg, w->size, fmt, ap);
        return -EINVAL;
}

int policy_err(policy_where *w, const json_value *v, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        int r = verr(w, v->line, v->column, fmt, ap);
        va_end(ap);
        return r;
}

int policy_err_at(policy_where *w, unsigned line, unsigned column, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        int r = verr(w, line, column, fmt, ap);
        va_end(ap);
        return r;
}

int policy_expect_object(policy_where *w, const json_value *v, const char *key) {
        if (v->type != JSON_OBJECT)
                return policy_err(w, v, "\"%s\" must be an object, not %s", key, json_type_name(v->type));
        return 0;
}

int policy_get_bool(policy_where *w, const json_value *v, const char *what, bool *ret) {
        if (v->type != JSON_BOOL)
                return policy_err(w, v, "%s must be true or false, not %s", what, json_type_name(v->type));
        *ret = v->boolean;
        return 0;
}

int policy_get_cpus(policy_where *w, const json_value *v, const char *what, cpu_mask *ret) {
        char msg[256];
        if (v->type != JSON_STRING)
                return policy_err(w, v, "%s must be a CPU list string like \"0-3,8\", not %s", what,
                                  json_type_name(v->type));
        if (cpu_mask_parse(v->string.str, ret, msg, sizeof(msg)) < 0)
                return policy_err(w, v, "%s: %s", what, msg);
        return 0;
}

int policy_get_int(policy_where *w, const json_value *v, const char *what, int64_t lo, int64_t hi, int64_t *ret) {
        if (v->type != JSON_NUMBER || json_to_i64(v, ret) < 0 || *ret < lo || *ret > hi)
                return policy_err(w, v, "%s must be an integer from %" PRId64 " to %" PRId64, what, lo, hi);
        return 0;
}

int policy_get_name_set(policy_where *w, const json_value *v, const char *what, const char *const *names,
                        unsigned *ret) {
        size_t n = v->type == JSON_ARRAY ? v->array.n : 1;
        unsigned mask = 0;
        char list[128] = "";
        for (const char *const *a = names; *a; a++)
                snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", a == names ? "" : ", ", *a);
        if (v->type == JSON_ARRAY && n == 0)
                return policy_err(w, v, "%s list is empty", what);
        for (size_t i = 0; i < n; i++) {
                const json_value *e = v->type == JSON_ARRAY ? v->array.items[i] : v;
                if (e->type != JSON_STRING)
                        return policy_err(w, e, "%s must be a string or an array of strings (%s), not %s", what,
                                          list, json_type_name(e->type));
                size_t k = 0;
                while (names[k] && !streq(names[k], e->string.str))
                        k++;
                if (!names[k])
                        return policy_err(w, e, "unknown %s '%s' (allowed: %s)", what, e->string.str, list);
                mask |= 1u << k;
        }
        *ret = mask;
        return 0;
}

void policy_strv_free(char **v, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

int policy_get_globs(policy_where *w, const json_value *v, const char *what, bool need_slash, char ***ret,
                       size_t *ret_n) {
        size_t n = v->type == JSON_ARRAY ? v->array.n : 1;
        if (v->type == JSON_ARRAY && n == 0)
                return policy_err(w, v, "%s list is empty (leave the key out to match any)", what);
        char **g = calloc(n, sizeof(char *));
        if (!g)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                const json_value *e = v->type == JSON_ARRAY ? v->array.items[i] : v;
                int r = 0;
                if (e->type != JSON_STRING)
                        r = policy_err(w, e, "%s must be a glob string%s, not %s", what,
                                    v->type == JSON_ARRAY ? "" : " or an array of them", json_type_name(e->type));
                else if (e->string.len == 0)
                        r = policy_err(w, e, "%s glob is empty", what);
                else if (need_slash && e->string.str[0] != '/')
                        r = policy_err(w, e, "%s glob '%s' must start with '/'", what, e->string.str);
                else if (!(g[i] = strdup(e->string.str)))
                        r = -ENOMEM;
                if (r < 0) {
                        policy_strv_free(g, n);
                        return r;
                }
        }
        *ret = g;
        *ret_n = n;
        return 0;
}

const char *policy_via_name(policy_via v) {
        return v == POLICY_VIA_DBUS ? "dbus" : v == POLICY_VIA_SECCOMP ? "seccomp" : "socket";
}

int policy_via_from_name(const char *s, policy_via *ret) {
        if (streq(s, "socket"))
                *ret = POLICY_VIA_SOCKET;
        else if (streq(s, "dbus"))
                *ret = POLICY_VIA_DBUS;
        else if (streq(s, "seccomp"))
                *ret = POLICY_VIA_SECCOMP;
        else
                return -EINVAL;
        return 0;
}

int sched_policy_from_name(const char *s) {
        static const struct {
                const char *name;
                int policy;
        } t[] = {
                { "other", SCHED_OTHER }, { "batch", SCHED_BATCH }, { "idle", SCHED_IDLE },
                { "fifo", SCHED_FIFO },   { "rr", SCHED_RR },
        };
        for (size_t i = 0; i < ELEMENTSOF(t); i++)
                if (streq(t[i].name, s))
                        return t[i].policy;
        return -1;
}

const char *sched_policy_name(int pol) {
        switch (pol) {
        case SCHED_OTHER:
                return "other";
        case SCHED_BATCH:
                return "batch";
        case SCHED_IDLE:
                return "idle";
        case SCHED_FIFO:
                return "fifo";
        case SCHED_RR:
                return "rr";
        default:
                return "unknown";
        }
}

const char *policy_rt_safety_name(policy_rt_safety s) {
        return s == RT_SAFETY_DEDICATED ? "dedicated" : "rttime";
}

bool glob_match(const char *p, const char *s) {
        for (;;) {
                if (p[0] == '*' && p[1] == '*') {
                        while (*p == '*')
                                p++;
                        if (!*p)
                                return true;
                        for (const char *t = s; *t; t++)
                                if (glob_match(p, t))
                                        return true;
                        return glob_match(p, s + strlen(s));
                }
                if (*p == '*') {
                        p++;
                        for (const char *t = s;; t++) {
                                if (glob_match(p, t))
                                        return true;
                                if (!*t || *t == '/')
                                        return false;
                        }
                }
                if (!*p)
                        return !*s;
                if (!*s)
                        return false;
                if (*p == '?') {
                        if (*s == '/')
                                return false;
                } else if (*p != *s)
                        return false;
                p++;
                s++;
        }
}

static bool id_in(const id_range *ids, size_t n, uint32_t id) {
        for (size_t i = 0; i < n; i++)
                if (id >= ids[i].lo && id <= ids[i].hi)
                        return true;
        return false;
}

static bool glob_in(char *const *globs, size_t n, const char *s) {
        for (size_t i = 0; i < n; i++)
                if (glob_match(globs[i], s))
                        return true;
        return false;
}

const policy_rule *policy_match(const policy *p, const policy_subject *s, policy_explain_fn fn, void *userdata) {
        char why[256];
        for (size_t i = 0; p && i < p->n_rules; i++) {
                const policy_rule *r = &p->rules[i];
                if (r->has_uid && !id_in(r->uids, r->n_uids, s->uid))
                        snprintf(why, sizeof(why), "uid %u is not in the rule's uid list", (unsigned) s->uid);
                else if (r->has_gid && !id_in(r->gids, r->n_gids, s->gid))
                        snprintf(why, sizeof(why), "gid %u is not in the rule's gid list", (unsigned) s->gid);
                else if (r->n_cgroups && !glob_in(r->cgroups, r->n_cgroups, s->cgroup ? s->cgroup : ""))
                        snprintf(why, sizeof(why), "cgroup '%s' matches none of the rule's cgroup globs",
                                 s->cgroup ? s->cgroup : "");
                else if (r->n_vms && !glob_in(r->vms, r->n_vms, s->vm ? s->vm : ""))
                        snprintf(why, sizeof(why), "vm '%s' matches none of the rule's vm globs", s->vm ? s->vm : "");
                else if (r->via_mask && !(r->via_mask & (1u << s->via)))
                        snprintf(why, sizeof(why), "the request came via %s, which the rule's via does not list",
                                 policy_via_name(s->via));
                else {
                        if (fn)
                                fn(r, true, "uid, gid, cgroup, vm and via all match", userdata);
                        return r;
                }
                if (fn)
                        fn(r, false, why, userdata);
        }
        return NULL;
}
