/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ops.c - the generic engine of the operations: the registry walk, argument
 * blocks, and the decision (first matching rule, the operation's section).
 * It knows no operation by name: each is a descriptor in its own file.
 */
#include "ops.h"

#include <pthread.h>
#include <stdio.h>

#define DELEGATE_OP(id) &op_##id,
static const op_desc *const registry[] = {
#include "ops-list.h"
};
#undef DELEGATE_OP

const op_desc *op_lookup(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(registry); i++)
                if (streq(registry[i]->name, name))
                        return registry[i];
        return NULL;
}

bool op_is_bus_only(const char *name) {
        const op_desc *o = op_lookup(name);
        return o && (o->flags & OP_BUS_ONLY);
}

/* What the registry implies, computed once (the library may be used from several threads). */
static pthread_once_t derived_once = PTHREAD_ONCE_INIT;
static char names[512], keys[256];
static const policy_section *sections[ELEMENTSOF(registry)];
static size_t n_sections;

static void derive(void) {
        for (size_t i = 0; i < ELEMENTSOF(registry); i++) {
                const op_desc *o = registry[i];
                if (!(o->flags & OP_BUS_ONLY))
                        snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s", names[0] ? ", " : "",
                                 o->name);
                size_t k = 0;
                while (o->section && k < n_sections && sections[k] != o->section)
                        k++;
                if (o->section && k == n_sections) {
                        sections[n_sections++] = o->section;
                        snprintf(keys + strlen(keys), sizeof(keys) - strlen(keys), "%s%s", k ? ", " : "",
                                 o->section->key);
                }
        }
}

const char *op_names(void) {
        pthread_once(&derived_once, derive);
        return names;
}

const policy_section *const *policy_sections(size_t *ret_n) {
        pthread_once(&derived_once, derive);
        *ret_n = n_sections;
        return sections;
}

const policy_section *policy_section_find(const char *key) {
        size_t n;
        const policy_section *const *s = policy_sections(&n);
        for (size_t i = 0; i < n; i++)
                if (streq(s[i]->key, key))
                        return s[i];
        return NULL;
}

const char *policy_section_keys(void) {
        pthread_once(&derived_once, derive);
        return keys;
}

int op_args_parse(const op_desc *o, const json_value *json, void **ret, char *msg, size_t size) {
        *ret = NULL;
        if (!o->parse) {
                if (!ops_args_empty(json))
                        return ops_bad(msg, size, "%s takes no arguments", o->name);
                return 0;
        }
        void *a = calloc(1, o->args_size);
        if (!a)
                return -ENOMEM;
        int r = o->parse(json, a, msg, size);
        if (r < 0) {
                free(a);
                return r;
        }
        *ret = a;
        return 0;
}

void op_args_free(const op_desc *o, void *args) {
        if (!args)
                return;
        if (o->done)
                o->done(args);
        explicit_bzero(args, o->args_size);
        free(args);
}

void policy_decide_parsed(const policy *p, const policy_subject *s, const op_desc *o, const void *args,
                          policy_decision *d, policy_explain_fn fn, void *userdata) {
        memset(d, 0, sizeof(*d));
        if (!o->needs_policy)
                return o->check(NULL, args, d);
        const policy_rule *r = policy_match(p, s, fn, userdata);
        d->rule = r;
        if (!r)
                snprintf(d->reason, sizeof(d->reason),
                         "no rule matches uid %u, cgroup '%s', vm '%s'%s%s (default deny)", (unsigned) s->uid,
                         s->cgroup ? s->cgroup : "", s->vm ? s->vm : "", s->via != POLICY_VIA_SOCKET ? " via " : "",
                         s->via != POLICY_VIA_SOCKET ? policy_via_name(s->via) : "");
        else if (!o->section->present(r))
                snprintf(d->reason, sizeof(d->reason), "rule '%s' has no section for %s", r->name, o->name);
        else
                o->check(r, args, d);
}

int policy_decide(const policy *p, const policy_subject *s, const char *op, const json_value *args,
                  policy_decision *d, char *msg, size_t size, policy_explain_fn fn, void *userdata) {
        const op_desc *o = op_lookup(op);
        void *a;
        memset(d, 0, sizeof(*d));
        if (!o) {
                ops_bad(msg, size, "unknown operation '%.64s' (API %d knows: %s)", op, DELEGATE_API_VERSION,
                        op_names());
                return -EOPNOTSUPP;
        }
        /* a malformed request is a bad request, not a denial */
        int r = op_args_parse(o, args, &a, msg, size);
        if (r < 0)
                return r;
        policy_decide_parsed(p, s, o, a, d, fn, userdata);
        op_args_free(o, a);
        return 0;
}
