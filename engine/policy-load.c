/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * policy-load.c - policy files: read, parse (the match block here, each
 * operation section by the section's own parser, found through the
 * operation registry), free.
 */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>

#include "ops.h"
#include "policy.h"

policy *policy_new(void) {
        return calloc(1, sizeof(policy));
}

/* Free what a rule owns; every section that allocates frees it here. */
static void rule_clear(policy_rule *r) {
        free(r->name);
        free(r->file);
        free(r->uids);
        free(r->gids);
        policy_strv_free(r->cgroups, r->n_cgroups);
        policy_strv_free(r->vms, r->n_vms);
        size_t n;
        const policy_section *const *s = policy_sections(&n);
        for (size_t i = 0; i < n; i++)
                if (s[i]->clear)
                        s[i]->clear(r);
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

/* Run a policy_where-style parser (@call, with `w` in scope) and report its error through @c. */
#define WHERE(c, call)                                                                                        \
        ({                                                                                                     \
                unsigned _line = 0, _column = 0;                                                               \
                char _msg[512];                                                                                \
                policy_where w = { &_line, &_column, _msg, sizeof(_msg) };                                     \
                int _q = (call);                                                                               \
                _q == -EINVAL ? perr((c), _line, _column, "%s", _msg) : _q;                                    \
        })

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
                        q = WHERE(c, policy_get_globs(&w, m->value, "cgroup", true, &r->cgroups, &r->n_cgroups));
                else if (streq(m->key, "vm"))
                        q = WHERE(c, policy_get_globs(&w, m->value, "vm", false, &r->vms, &r->n_vms));
                else if (streq(m->key, "via")) {
                        /* bit i is policy_via i */
                        static const char *const vias[] = { "socket", "dbus", "seccomp", NULL };
                        q = WHERE(c, policy_get_name_set(&w, m->value, "via", vias, &r->via_mask));
                } else
                        q = perr(c, m->line, m->column, "unknown match key '%s' (allowed: uid, gid, cgroup, vm, via)",
                                 m->key);
                if (q < 0)
                        return q;
        }
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
                const policy_section *s = policy_section_find(m->key);
                if (streq(m->key, "match"))
                        q = parse_match(c, m->value, r);
                else if (s)
                        q = WHERE(c, s->parse(m->value, r, w.line, w.column, w.msg, w.size));
                else if (streq(m->key, "comment"))
                        q = expect(c, m->value, JSON_STRING, "\"comment\"");
                else
                        q = perr(c, m->line, m->column, "unknown rule key '%s' (allowed: name, comment, match, %s)",
                                 m->key, policy_section_keys());
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
        policy_strv_free(names, n);
        closedir(d);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(p);
        return 0;
}

/* --- matching --- */
