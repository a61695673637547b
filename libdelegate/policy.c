/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "policy.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>

#include "size.h"

policy *policy_new(void) {
        return calloc(1, sizeof(policy));
}

static void strv_free(char **v, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

/* Free what a rule owns; every section that allocates frees it here. */
static void rule_clear(policy_rule *r) {
        free(r->name);
        free(r->file);
        free(r->uids);
        free(r->gids);
        strv_free(r->cgroups, r->n_cgroups);
        strv_free(r->vms, r->n_vms);
        strv_free(r->cgroup.targets, r->cgroup.n_targets);
        policy_tap_clear(r);
        policy_bridge_clear(r);
        policy_kvmi_clear(r);
        memset(r, 0, sizeof(*r));
}

void policy_free(policy *p) {
        if (!p)
                return;
        for (size_t i = 0; i < p->n_rules; i++)
                rule_clear(&p->rules[i]);
        free(p->rules);
        free(p);
}

const char *policy_error_string(const policy_error *err, char *buf, size_t size) {
        if (err->line)
                snprintf(buf, size, "%s:%u:%u: %s", err->file, err->line, err->column, err->message);
        else
                snprintf(buf, size, "%s: %s", err->file, err->message);
        return buf;
}

/* --- parsing --- */

typedef struct load_ctx {
        policy *p;
        const char *file;
        policy_error *err;
} load_ctx;

static int perr(load_ctx *c, unsigned line, unsigned column, const char *fmt, ...) _printf_(4, 5);
static int perr(load_ctx *c, unsigned line, unsigned column, const char *fmt, ...) {
        if (c->err) {
                snprintf(c->err->file, sizeof(c->err->file), "%s", c->file);
                c->err->line = line;
                c->err->column = column;
                va_list ap;
                va_start(ap, fmt);
                vsnprintf(c->err->message, sizeof(c->err->message), fmt, ap);
                va_end(ap);
        }
        return -EINVAL;
}

#define PERR_AT(c, v, ...) perr((c), (v)->line, (v)->column, __VA_ARGS__)

static int expect(load_ctx *c, const json_value *v, json_type t, const char *what) {
        if (v->type != t)
                return PERR_AT(c, v, "%s must be a%s %s, not %s", what,
                               t == JSON_ARRAY || t == JSON_OBJECT ? "n" : "", json_type_name(t),
                               json_type_name(v->type));
        return 0;
}

static int parse_id(load_ctx *c, const json_value *v, const char *what, id_range *ret) {
        uint64_t lo, hi;
        if (v->type == JSON_NUMBER) {
                if (json_to_u64(v, &lo) < 0 || lo >= UINT32_MAX)
                        return PERR_AT(c, v, "%s '%s' is not an id (0-4294967294)", what, v->number);
                *ret = (id_range) { lo, lo };
                return 0;
        }
        if (v->type != JSON_STRING)
                return PERR_AT(c, v, "%s must be a number or a \"LOW-HIGH\" string, not %s", what,
                               json_type_name(v->type));
        const char *s = v->string.str;
        char *end;
        errno = 0;
        if (*s < '0' || *s > '9')
                goto bad;
        lo = strtoull(s, &end, 10);
        if (errno || lo >= UINT32_MAX)
                goto bad;
        if (*end == 0) {
                *ret = (id_range) { lo, lo };
                return 0;
        }
        if (*end != '-' || end[1] < '0' || end[1] > '9')
                goto bad;
        s = end + 1;
        hi = strtoull(s, &end, 10);
        if (errno || *end || hi >= UINT32_MAX)
                goto bad;
        if (hi < lo)
                return PERR_AT(c, v, "%s range '%s' is empty: %" PRIu64 " > %" PRIu64, what, v->string.str, lo, hi);
        *ret = (id_range) { lo, hi };
        return 0;
bad:
        return PERR_AT(c, v, "%s '%s' is neither an id nor a range like \"1000-1999\"", what, v->string.str);
}

static int parse_ids(load_ctx *c, const json_value *v, const char *what, id_range **ret, size_t *ret_n) {
        size_t n = v->type == JSON_ARRAY ? v->array.n : 1;
        if (v->type == JSON_ARRAY && n == 0)
                return PERR_AT(c, v, "%s list is empty (leave the key out to match any)", what);
        id_range *ids = calloc(n, sizeof(*ids));
        if (!ids)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                int r = parse_id(c, v->type == JSON_ARRAY ? v->array.items[i] : v, what, &ids[i]);
                if (r < 0) {
                        free(ids);
                        return r;
                }
        }
        *ret = ids;
        *ret_n = n;
        return 0;
}

static int parse_globs(load_ctx *c, const json_value *v, const char *what, bool need_slash, char ***ret,
                       size_t *ret_n) {
        size_t n = v->type == JSON_ARRAY ? v->array.n : 1;
        if (v->type == JSON_ARRAY && n == 0)
                return PERR_AT(c, v, "%s list is empty (leave the key out to match any)", what);
        char **g = calloc(n, sizeof(char *));
        if (!g)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                const json_value *e = v->type == JSON_ARRAY ? v->array.items[i] : v;
                int r = 0;
                if (e->type != JSON_STRING)
                        r = PERR_AT(c, e, "%s must be a glob string%s, not %s", what,
                                    v->type == JSON_ARRAY ? "" : " or an array of them", json_type_name(e->type));
                else if (e->string.len == 0)
                        r = PERR_AT(c, e, "%s glob is empty", what);
                else if (need_slash && e->string.str[0] != '/')
                        r = PERR_AT(c, e, "%s glob '%s' must start with '/'", what, e->string.str);
                else if (!(g[i] = strdup(e->string.str)))
                        r = -ENOMEM;
                if (r < 0) {
                        strv_free(g, n);
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

/* A string or an array of strings; each must be one of @names (NULL-terminated); bit i for names[i]. */
static int parse_name_set(load_ctx *c, const json_value *v, const char *what, const char *const *names,
                          unsigned *ret) {
        size_t n = v->type == JSON_ARRAY ? v->array.n : 1;
        unsigned mask = 0;
        char list[128] = "";
        for (const char *const *a = names; *a; a++)
                snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", a == names ? "" : ", ", *a);
        if (v->type == JSON_ARRAY && n == 0)
                return PERR_AT(c, v, "%s list is empty", what);
        for (size_t i = 0; i < n; i++) {
                const json_value *e = v->type == JSON_ARRAY ? v->array.items[i] : v;
                if (e->type != JSON_STRING)
                        return PERR_AT(c, e, "%s must be a string or an array of strings (%s), not %s", what, list,
                                       json_type_name(e->type));
                size_t k = 0;
                while (names[k] && !streq(names[k], e->string.str))
                        k++;
                if (!names[k])
                        return PERR_AT(c, e, "unknown %s '%s' (allowed: %s)", what, e->string.str, list);
                mask |= 1u << k;
        }
        *ret = mask;
        return 0;
}

static int parse_match(load_ctx *c, const json_value *v, policy_rule *r) {
        int q = expect(c, v, JSON_OBJECT, "\"match\"");
        if (q < 0)
                return q;
        for (size_t i = 0; i < v->object.n; i++) {
                const json_member *m = &v->object.members[i];
                if (streq(m->key, "uid")) {
                        q = parse_ids(c, m->value, "uid", &r->uids, &r->n_uids);
                        r->has_uid = true;
                } else if (streq(m->key, "gid")) {
                        q = parse_ids(c, m->value, "gid", &r->gids, &r->n_gids);
                        r->has_gid = true;
                } else if (streq(m->key, "cgroup"))
                        q = parse_globs(c, m->value, "cgroup", true, &r->cgroups, &r->n_cgroups);
                else if (streq(m->key, "vm"))
                        q = parse_globs(c, m->value, "vm", false, &r->vms, &r->n_vms);
                else if (streq(m->key, "via")) {
                        /* bit i is policy_via i */
                        static const char *const vias[] = { "socket", "dbus", "seccomp", NULL };
                        q = parse_name_set(c, m->value, "via", vias, &r->via_mask);
                } else
                        q = perr(c, m->line, m->column, "unknown match key '%s' (allowed: uid, gid, cgroup, vm, via)",
                                 m->key);
                if (q < 0)
                        return q;
        }
        return 0;
}

static int parse_memlock(load_ctx *c, const json_value *v, policy_rule *r) {
        int q = expect(c, v, JSON_OBJECT, "\"memlock\"");
        if (q < 0)
                return q;
        bool have_max = false;
        for (size_t i = 0; i < v->object.n; i++) {
                const json_member *m = &v->object.members[i];
                if (streq(m->key, "max")) {
                        q = json_to_size(m->value, &r->memlock.max);
                        if (q < 0)
                                return PERR_AT(c, m->value,
                                               "memlock max must be bytes or a size like \"64G\" or \"unlimited\"");
                        have_max = true;
                } else if (streq(m->key, "unlimited")) {
                        if (!json_is_string(m->value) ||
                            (!streq(m->value->string.str, "deny") && !streq(m->value->string.str, "max")))
                                return PERR_AT(c, m->value, "memlock unlimited must be \"deny\" or \"max\"");
                        r->memlock.unlimited_max = streq(m->value->string.str, "max");
                } else
                        return perr(c, m->line, m->column, "unknown memlock key '%s' (allowed: max, unlimited)",
                                    m->key);
        }
        if (!have_max)
                return PERR_AT(c, v, "memlock section needs \"max\"");
        r->memlock.present = true;
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

#define CGROUP_TARGET_MAX_DEPTH 8

int cgroup_target_check(const char *s, bool glob, char *msg, size_t size) {
        size_t n = strlen(s), depth = 0;
        if (n == 0) {
                snprintf(msg, size, "cgroup target is empty");
                return -EINVAL;
        }
        if (n > 255) {
                snprintf(msg, size, "cgroup target is longer than 255 bytes");
                return -EINVAL;
        }
        if (s[0] == '/') {
                snprintf(msg, size,
                         "cgroup target '%.255s' is absolute; targets are paths relative to the caller's own cgroup",
                         s);
                return -EINVAL;
        }
        for (const char *c = s; *c;) {
                size_t l = strcspn(c, "/");
                if (l == 0 || (l == 1 && c[0] == '.') || (l == 2 && c[0] == '.' && c[1] == '.')) {
                        snprintf(msg, size,
                                 "cgroup target '%.255s' has an empty, '.' or '..' component; targets must stay "
                                 "below the caller's own cgroup",
                                 s);
                        return -EINVAL;
                }
                for (size_t i = 0; i < l; i++)
                        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", c[i]) &&
                            !(glob && (c[i] == '*' || c[i] == '?'))) {
                                snprintf(msg, size,
                                         "cgroup target '%.255s' contains '%c'; allowed are [A-Za-z0-9._-]%s and '/' "
                                         "between components",
                                         s, c[i], glob ? ", '*', '?'" : "");
                                return -EINVAL;
                        }
                if (++depth > CGROUP_TARGET_MAX_DEPTH) {
                        snprintf(msg, size, "cgroup target '%.255s' is deeper than %d levels", s,
                                 CGROUP_TARGET_MAX_DEPTH);
                        return -EINVAL;
                }
                c += l;
                if (*c == '/') {
                        c++;
                        if (!*c) {
                                snprintf(msg, size, "cgroup target '%.255s' ends with '/'", s);
                                return -EINVAL;
                        }
                }
        }
        return 0;
}

static int parse_bool(load_ctx *c, const json_value *v, const char *what, bool *ret) {
        if (v->type != JSON_BOOL)
                return PERR_AT(c, v, "%s must be true or false, not %s", what, json_type_name(v->type));
        *ret = v->boolean;
        return 0;
}

static int parse_cpus(load_ctx *c, const json_value *v, const char *what, cpu_mask *ret) {
        char msg[256];
        if (v->type != JSON_STRING)
                return PERR_AT(c, v, "%s must be a CPU list string like \"0-3,8\", not %s", what,
                               json_type_name(v->type));
        if (cpu_mask_parse(v->string.str, ret, msg, sizeof(msg)) < 0)
                return PERR_AT(c, v, "%s: %s", what, msg);
        return 0;
}

static int parse_int_in(load_ctx *c, const json_value *v, const char *what, int64_t lo, int64_t hi, int64_t *ret) {
        if (v->type != JSON_NUMBER || json_to_i64(v, ret) < 0 || *ret < lo || *ret > hi)
                return PERR_AT(c, v, "%s must be an integer from %" PRId64 " to %" PRId64, what, lo, hi);
        return 0;
}

static int parse_cgroup(load_ctx *c, const json_value *v, policy_rule *r) {
        int q = expect(c, v, JSON_OBJECT, "\"cgroup\"");
        if (q < 0)
                return q;
        for (size_t i = 0; i < v->object.n; i++) {
                const json_member *m = &v->object.members[i];
                if (streq(m->key, "targets")) {
                        q = parse_globs(c, m->value, "cgroup target", false, &r->cgroup.targets,
                                        &r->cgroup.n_targets);
                        for (size_t k = 0; q >= 0 && k < r->cgroup.n_targets; k++) {
                                char msg[384];
                                const json_value *e = m->value->type == JSON_ARRAY ? m->value->array.items[k]
                                                                                   : m->value;
                                if (strstr(r->cgroup.targets[k], "**"))
                                        q = PERR_AT(c, e, "cgroup target glob '%s': '**' is not allowed here",
                                                    r->cgroup.targets[k]);
                                else if (cgroup_target_check(r->cgroup.targets[k], true, msg, sizeof(msg)) < 0)
                                        q = PERR_AT(c, e, "%s", msg);
                        }
                } else if (streq(m->key, "create"))
                        q = parse_bool(c, m->value, "cgroup \"create\"", &r->cgroup.create);
                else if (streq(m->key, "cpus")) {
                        q = parse_cpus(c, m->value, "cgroup \"cpus\"", &r->cgroup.cpus);
                        r->cgroup.has_cpus = true;
                } else
                        q = perr(c, m->line, m->column, "unknown cgroup key '%s' (allowed: targets, create, cpus)",
                                 m->key);
                if (q < 0)
                        return q;
        }
        if (!r->cgroup.targets)
                return PERR_AT(c, v, "cgroup section needs \"targets\"");
        r->cgroup.present = true;
        return 0;
}

/* "25/20s": at most 25 per 20 seconds (units: ms, s, min). */
static int parse_burst(load_ctx *c, const json_value *v, policy_rule *r) {
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
                return PERR_AT(c, v, "sched \"burst\" window is longer than a day");
        r->sched.burst_n = (unsigned) n;
        r->sched.burst_usec = t * mul;
        return 0;
bad:
        return PERR_AT(c, v,
                       "sched \"burst\" must be a string like \"25/20s\": 1-1000000 changes per period "
                       "(units ms, s, min)");
}

const char *policy_rt_safety_name(policy_rt_safety s) {
        return s == RT_SAFETY_DEDICATED ? "dedicated" : "rttime";
}

static int parse_sched(load_ctx *c, const json_value *v, policy_rule *r) {
        int q = expect(c, v, JSON_OBJECT, "\"sched\"");
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
                                return PERR_AT(c, a, "sched \"policies\" must be a non-empty array of names (%s)",
                                               SCHED_POLICY_NAMES);
                        for (size_t k = 0; k < a->array.n; k++) {
                                const json_value *e = a->array.items[k];
                                int p = e->type == JSON_STRING ? sched_policy_from_name(e->string.str) : -1;
                                if (p < 0)
                                        return PERR_AT(c, e, "unknown scheduling policy%s%s%s (allowed: %s)",
                                                       e->type == JSON_STRING ? " '" : "",
                                                       e->type == JSON_STRING ? e->string.str : "",
                                                       e->type == JSON_STRING ? "'" : "", SCHED_POLICY_NAMES);
                                r->sched.policies |= 1u << p;
                        }
                        have_policies = true;
                } else if (streq(m->key, "max_priority")) {
                        q = parse_int_in(c, m->value, "sched \"max_priority\"", 1, 99, &x);
                        r->sched.max_priority = (int) x;
                        have_prio = true;
                } else if (streq(m->key, "min_nice")) {
                        q = parse_int_in(c, m->value, "sched \"min_nice\"", -20, 19, &x);
                        r->sched.min_nice = (int) x;
                } else if (streq(m->key, "cpus")) {
                        q = parse_cpus(c, m->value, "sched \"cpus\"", &r->sched.cpus);
                        r->sched.has_cpus = true;
                } else if (streq(m->key, "safety")) {
                        const json_value *s = m->value;
                        if (s->type == JSON_STRING && streq(s->string.str, "rttime"))
                                r->sched.safety = RT_SAFETY_RTTIME;
                        else if (s->type == JSON_STRING && streq(s->string.str, "dedicated"))
                                r->sched.safety = RT_SAFETY_DEDICATED;
                        else
                                return PERR_AT(c, s, "sched \"safety\" must be \"rttime\" (a finite RLIMIT_RTTIME, "
                                                     "for threads that sleep) or \"dedicated\" (the rule's cpus, "
                                                     "under the kernel's RT throttling, for busy vCPUs)");
                } else if (streq(m->key, "max_rttime_us")) {
                        q = parse_int_in(c, m->value, "sched \"max_rttime_us\"", 1, INT64_MAX, &x);
                        r->sched.max_rttime_us = (uint64_t) x;
                        rttime = m->value;
                } else if (streq(m->key, "burst"))
                        q = parse_burst(c, m->value, r);
                else
                        q = perr(c, m->line, m->column,
                                 "unknown sched key '%s' (allowed: policies, max_priority, min_nice, cpus, "
                                 "safety, max_rttime_us, burst)",
                                 m->key);
                if (q < 0)
                        return q;
        }
        if (!have_policies)
                return PERR_AT(c, v, "sched section needs \"policies\"");
        bool rt = r->sched.policies & ((1u << SCHED_FIFO) | (1u << SCHED_RR));
        if (rt && !have_prio)
                return PERR_AT(c, v, "sched section allows fifo/rr and so needs \"max_priority\" (1-99)");
        if (r->sched.safety == RT_SAFETY_DEDICATED) {
                if (rttime)
                        return PERR_AT(c, rttime,
                                       "sched \"max_rttime_us\" does not apply to safety \"dedicated\", which "
                                       "requires no RLIMIT_RTTIME (the kernel's RT throttling bounds the thread)");
                if (rt && !r->sched.has_cpus)
                        return PERR_AT(c, v,
                                       "sched safety \"dedicated\" needs \"cpus\": the CPUs realtime threads are "
                                       "confined to");
        } else if (rt && !rttime)
                return PERR_AT(c, v,
                               "sched section allows fifo/rr and so needs \"max_rttime_us\": realtime threads "
                               "must run under a finite RLIMIT_RTTIME (or use \"safety\": \"dedicated\")");
        r->sched.present = true;
        return 0;
}

/* A section parsed by policy-tap.c (@fn: the tap or the bridge section). */
static int parse_net(load_ctx *c, const json_value *v, policy_rule *r,
                     int (*fn)(const json_value *, policy_rule *, unsigned *, unsigned *, char *, size_t)) {
        unsigned line = v->line, column = v->column;
        char msg[512];
        int q = fn(v, r, &line, &column, msg, sizeof(msg));
        if (q == -EINVAL)
                return perr(c, line, column, "%s", msg);
        return q;
}

static int parse_kvmi(load_ctx *c, const json_value *v, policy_rule *r) {
        char msg[256];
        unsigned line = v->line, column = v->column;
        int q = policy_kvmi_parse(v, r, &line, &column, msg, sizeof(msg));
        if (q == -EINVAL)
                return perr(c, line, column, "%s", msg);
        return q;
}

static int parse_manage(load_ctx *c, const json_value *v, policy_rule *r) {
        /* bit i is MANAGE_* i */
        static const char *const actions[] = { "inspect", "evaluate", "reload", "revoke", NULL };
        int q = parse_name_set(c, v, "manage action", actions, &r->manage.actions);
        if (q < 0)
                return q;
        r->manage.present = true;
        return 0;
}

static bool rule_name_valid(const char *s) {
        size_t n = strlen(s);
        if (n == 0 || n > 64)
                return false;
        for (; *s; s++)
                if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", *s))
                        return false;
        return true;
}

static int parse_rule(load_ctx *c, const json_value *v, policy_rule *r) {
        int q = expect(c, v, JSON_OBJECT, "a rule");
        if (q < 0)
                return q;
        r->line = v->line;
        r->column = v->column;
        if (!(r->file = strdup(c->file)))
                return -ENOMEM;
        const json_value *name = json_get(v, "name");
        if (!name)
                return PERR_AT(c, v, "rule has no \"name\"");
        if (name->type != JSON_STRING || !rule_name_valid(name->string.str))
                return PERR_AT(c, name, "rule name must be 1-64 characters of [A-Za-z0-9._-]");
        for (size_t i = 0; i < c->p->n_rules; i++)
                if (c->p->rules[i].name && streq(c->p->rules[i].name, name->string.str))
                        return PERR_AT(c, name, "duplicate rule name '%s' (first in %s:%u)", name->string.str,
                                       c->p->rules[i].file, c->p->rules[i].line);
        if (!(r->name = strdup(name->string.str)))
                return -ENOMEM;

        for (size_t i = 0; i < v->object.n; i++) {
                const json_member *m = &v->object.members[i];
                if (streq(m->key, "name"))
                        continue;
                if (streq(m->key, "match"))
                        q = parse_match(c, m->value, r);
                else if (streq(m->key, "memlock"))
                        q = parse_memlock(c, m->value, r);
                else if (streq(m->key, "cgroup"))
                        q = parse_cgroup(c, m->value, r);
                else if (streq(m->key, "sched"))
                        q = parse_sched(c, m->value, r);
                else if (streq(m->key, "tap"))
                        q = parse_net(c, m->value, r, policy_tap_parse);
                else if (streq(m->key, "bridge"))
                        q = parse_net(c, m->value, r, policy_bridge_parse);
                else if (streq(m->key, "kvmi"))
                        q = parse_kvmi(c, m->value, r);
                else if (streq(m->key, "manage"))
                        q = parse_manage(c, m->value, r);
                else if (streq(m->key, "comment"))
                        q = expect(c, m->value, JSON_STRING, "\"comment\"");
                else
                        q = perr(c, m->line, m->column,
                                 "unknown rule key '%s' (allowed: name, comment, match, memlock, cgroup, sched, tap, "
                                 "bridge, kvmi, manage)",
                                 m->key);
                if (q < 0)
                        return q;
        }
        return 0;
}

int policy_load_text(policy *p, const char *file, const char *text, size_t len, policy_error *err) {
        load_ctx c = { .p = p, .file = file, .err = err };
        _cleanup_json_ json_value *root = NULL;
        json_parse_error je;

        int r = json_parse(text, len, true, &root, &je);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return perr(&c, je.line, je.column, "%s", je.message);
        r = expect(&c, root, JSON_OBJECT, "the top level");
        if (r < 0)
                return r;

        const json_value *version = json_get(root, "version");
        uint64_t ver;
        if (!version)
                return PERR_AT(&c, root, "missing \"version\" (this broker reads version %d)", POLICY_VERSION);
        if (json_to_u64(version, &ver) < 0 || ver != POLICY_VERSION)
                return PERR_AT(&c, version, "unsupported policy version (this broker reads version %d)",
                               POLICY_VERSION);
        const json_value *rules = NULL;
        for (size_t i = 0; i < root->object.n; i++) {
                const json_member *m = &root->object.members[i];
                if (streq(m->key, "rules"))
                        rules = m->value;
                else if (streq(m->key, "comment")) {
                        r = expect(&c, m->value, JSON_STRING, "\"comment\"");
                        if (r < 0)
                                return r;
                } else if (!streq(m->key, "version"))
                        return perr(&c, m->line, m->column,
                                    "unknown top-level key '%s' (allowed: version, comment, rules)", m->key);
        }
        if (!rules)
                return PERR_AT(&c, root, "missing \"rules\"");
        r = expect(&c, rules, JSON_ARRAY, "\"rules\"");
        if (r < 0)
                return r;
        if (p->n_rules + rules->array.n > POLICY_MAX_RULES)
                return PERR_AT(&c, rules, "more than %d rules in all", POLICY_MAX_RULES);

        size_t first = p->n_rules;
        policy_rule *n = realloc(p->rules, (p->n_rules + rules->array.n) * sizeof(*n) + 1);
        if (!n)
                return -ENOMEM;
        p->rules = n;
        for (size_t i = 0; i < rules->array.n; i++) {
                memset(&p->rules[p->n_rules], 0, sizeof(policy_rule));
                p->n_rules++; /* counted first so policy_free() releases a half-parsed rule */
                r = parse_rule(&c, rules->array.items[i], &p->rules[p->n_rules - 1]);
                if (r < 0)
                        goto fail;
        }
        p->n_files++;
        return 0;
fail:
        /* drop this file's rules: a failed load adds nothing */
        for (size_t i = first; i < p->n_rules; i++)
                rule_clear(&p->rules[i]);
        p->n_rules = first;
        return r;
}

static int name_cmp(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static int load_file(policy *p, int dfd, const char *dir, const char *name, policy_error *err) {
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        _cleanup_close_ int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0) {
                int r = negative_errno();
                if (err) {
                        snprintf(err->file, sizeof(err->file), "%s", path);
                        err->line = err->column = 0;
                        snprintf(err->message, sizeof(err->message), "cannot open: %s", strerror(-r));
                }
                return r;
        }
        if (!S_ISREG(st.st_mode) || st.st_size > POLICY_MAX_FILE_SIZE) {
                if (err) {
                        snprintf(err->file, sizeof(err->file), "%s", path);
                        err->line = err->column = 0;
                        snprintf(err->message, sizeof(err->message), "%s",
                                 S_ISREG(st.st_mode) ? "file larger than 1 MiB" : "not a regular file");
                }
                return -EINVAL;
        }
        _cleanup_free_ char *buf = malloc(st.st_size + 1);
        if (!buf)
                return -ENOMEM;
        size_t got = 0;
        while (got < (size_t) st.st_size) {
                ssize_t k = read(fd, buf + got, st.st_size - got);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        break;
                got += k;
        }
        buf[got] = 0;
        return policy_load_text(p, path, buf, got, err);
}

int policy_load_dir(const char *dir, policy **ret, policy_error *err) {
        _cleanup_policy_ policy *p = policy_new();
        if (!p)
                return -ENOMEM;
        DIR *d = opendir(dir);
        if (!d) {
                int r = negative_errno();
                if (err) {
                        snprintf(err->file, sizeof(err->file), "%s", dir);
                        err->line = err->column = 0;
                        snprintf(err->message, sizeof(err->message), "cannot open policy directory: %s",
                                 strerror(-r));
                }
                return r;
        }
        char **names = NULL;
        size_t n = 0;
        int r = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                size_t l = strlen(de->d_name);
                if (de->d_name[0] == '.' || l < 6 || !streq(de->d_name + l - 5, ".json"))
                        continue;
                char **nn = realloc(names, (n + 1) * sizeof(char *));
                if (!nn || !(nn[n] = strdup(de->d_name))) {
                        names = nn ? nn : names;
                        r = -ENOMEM;
                        break;
                }
                names = nn;
                n++;
        }
        if (r == 0) {
                if (n > 0) /* an empty directory has no array to sort: qsort(NULL, ...) is undefined */
                        qsort(names, n, sizeof(char *), name_cmp);
                for (size_t i = 0; i < n && r == 0; i++)
                        r = load_file(p, dirfd(d), dir, names[i], err);
        }
        strv_free(names, n);
        closedir(d);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(p);
        return 0;
}

/* --- matching --- */

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

bool vm_name_valid(const char *s) {
        size_t n = strlen(s);
        if (n == 0 || n > 253)
                return false;
        for (; *s; s++)
                if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", *s))
                        return false;
        return true;
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
