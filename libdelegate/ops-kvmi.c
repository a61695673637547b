/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ops-kvmi.c - argument parsing and policy checks of kvmi.attach,
 * kvmi.connect, kvmi.set-page-access and kvmi.detach (delegate-protocol(7)).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "ops.h"
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

/* 64 lowercase hex characters, as the broker makes them. */
static bool secret_valid(const char *s) {
        size_t n = strspn(s, "0123456789abcdef");
        return n == 64 && !s[n];
}

int kvmi_attach_args_parse(const json_value *args, bool *ret_keyed, const char **ret_secret, char *msg, size_t size) {
        bool keyed = true;
        const char *secret = NULL;
        if (args && args->type == JSON_OBJECT) {
                for (size_t i = 0; i < args->object.n; i++) {
                        const json_member *m = &args->object.members[i];
                        if (streq(m->key, "keyed")) {
                                if (m->value->type != JSON_BOOL)
                                        return bad(msg, size, "kvmi.attach: \"keyed\" must be true or false");
                                keyed = m->value->boolean;
                        } else if (streq(m->key, "secret")) {
                                if (m->value->type != JSON_STRING || !secret_valid(m->value->string.str))
                                        return bad(msg, size,
                                                   "kvmi.attach: \"secret\" must be 64 lowercase hex characters (the "
                                                   "secret an earlier kvmi.attach returned)");
                                secret = m->value->string.str;
                        } else
                                return bad(msg, size,
                                           "kvmi.attach: unknown argument '%.64s' (allowed: keyed, secret)", m->key);
                }
        } else if (args && args->type != JSON_NULL)
                return bad(msg, size, "kvmi.attach: \"args\" must be an object");
        if (secret && !keyed)
                return bad(msg, size, "kvmi.attach: \"secret\" needs a keyed handshake");
        *ret_keyed = keyed;
        if (ret_secret)
                *ret_secret = secret;
        return 0;
}

int kvmi_attach_check(const policy_rule *rule, const json_value *args, policy_decision *d, char *msg, size_t size) {
        bool keyed;
        int r = kvmi_attach_args_parse(args, &keyed, NULL, msg, size);
        if (r < 0 || !rule || !rule->kvmi.present)
                return r;
        if (!keyed && rule->kvmi.require_key) {
                d->allowed = false;
                snprintf(d->reason, sizeof(d->reason), "the rule requires a keyed KVMI handshake (require_key)");
                return 0;
        }
        d->allowed = true;
        snprintf(d->reason, sizeof(d->reason), "the rule has a kvmi section; %s handshake",
                 keyed ? "keyed" : "unkeyed");
        return 0;
}

int kvmi_connect_args_parse(const json_value *args, int64_t *ret_index, char *msg, size_t size) {
        const json_value *v = args && args->type == JSON_OBJECT ? json_get(args, "socket") : NULL;
        for (size_t i = 0; args && args->type == JSON_OBJECT && i < args->object.n; i++)
                if (!streq(args->object.members[i].key, "socket"))
                        return bad(msg, size, "kvmi.connect: unknown argument '%.64s' (allowed: socket)",
                                   args->object.members[i].key);
        uint64_t idx;
        if (!v || v->type != JSON_NUMBER || json_to_u64(v, &idx) < 0 || idx >= DELEGATE_MAX_FDS)
                return bad(msg, size,
                           "kvmi.connect: \"socket\" must be the index of QEMU's connection among the request's fds "
                           "(0)");
        *ret_index = (int64_t) idx;
        return 0;
}

int kvmi_connect_check(const policy_rule *rule, const json_value *args, policy_decision *d, char *msg, size_t size) {
        int64_t idx;
        int r = kvmi_connect_args_parse(args, &idx, msg, size);
        if (r < 0 || !rule || !rule->kvmi.present)
                return r;
        d->allowed = true;
        snprintf(d->reason, sizeof(d->reason), "the rule has a kvmi section; QEMU's connection for kvmi.attach's channel");
        return 0;
}

static int parse_gpa(const json_value *v, uint64_t *ret) {
        if (v->type == JSON_NUMBER)
                return json_to_u64(v, ret);
        if (v->type != JSON_STRING || strncmp(v->string.str, "0x", 2) || !v->string.str[2])
                return -EINVAL;
        char *end;
        errno = 0;
        unsigned long long x = strtoull(v->string.str + 2, &end, 16);
        if (errno || *end)
                return -EINVAL;
        *ret = x;
        return 0;
}

static int parse_access(const json_value *v) {
        if (v->type == JSON_STRING)
                return kvmi_access_parse(v->string.str);
        uint64_t a;
        if (json_to_u64(v, &a) < 0 || a > 7)
                return -EINVAL;
        return (int) a;
}

int kvmi_spa_args_parse(const json_value *args, kvmi_spa_args *ret, char *msg, size_t size) {
        const json_value *entries = NULL, *memfd = NULL;
        if (!args || args->type != JSON_OBJECT)
                return bad(msg, size, "kvmi.set-page-access: \"args\" must be an object with \"entries\" or \"memfd\"");
        for (size_t i = 0; i < args->object.n; i++) {
                const json_member *m = &args->object.members[i];
                if (streq(m->key, "entries"))
                        entries = m->value;
                else if (streq(m->key, "memfd"))
                        memfd = m->value;
                else
                        return bad(msg, size,
                                   "kvmi.set-page-access: unknown argument '%.64s' (allowed: entries, memfd)", m->key);
        }
        if (!!entries == !!memfd)
                return bad(msg, size, "kvmi.set-page-access: give exactly one of \"entries\" and \"memfd\"");
        if (memfd) {
                uint64_t idx;
                if (json_to_u64(memfd, &idx) < 0 || idx >= DELEGATE_MAX_FDS)
                        return bad(msg, size,
                                   "kvmi.set-page-access: \"memfd\" must be the index of the sealed memfd among the "
                                   "request's file descriptors (0-%d)",
                                   DELEGATE_MAX_FDS - 1);
                *ret = (kvmi_spa_args) { .memfd_index = (int) idx };
                return 0;
        }
        if (entries->type != JSON_ARRAY || entries->array.n == 0)
                return bad(msg, size, "kvmi.set-page-access: \"entries\" must be a non-empty array of [GPA, ACCESS]");
        kvmi_page_access_entry *e = calloc(entries->array.n, sizeof(*e));
        if (!e)
                return bad(msg, size, "kvmi.set-page-access: out of memory");
        for (size_t i = 0; i < entries->array.n; i++) {
                const json_value *x = entries->array.items[i];
                int a;
                if (x->type != JSON_ARRAY || x->array.n != 2) {
                        free(e);
                        return bad(msg, size, "kvmi.set-page-access: entry %zu must be [GPA, ACCESS]", i);
                }
                if (parse_gpa(x->array.items[0], &e[i].gpa) < 0) {
                        free(e);
                        return bad(msg, size,
                                   "kvmi.set-page-access: entry %zu: GPA must be a number or a \"0x...\" string", i);
                }
                if ((a = parse_access(x->array.items[1])) < 0) {
                        free(e);
                        return bad(msg, size,
                                   "kvmi.set-page-access: entry %zu: ACCESS must be like \"rw-\" or a number 0-7", i);
                }
                e[i].access = (uint8_t) a;
        }
        *ret = (kvmi_spa_args) { .entries = e, .n = entries->array.n, .memfd_index = -1 };
        return 0;
}

static bool page_in(const policy_rule *r, uint64_t gpa) {
        uint64_t lo = gpa & ~(uint64_t) 4095, hi = lo | 4095;
        for (size_t i = 0; i < r->kvmi.n_ranges; i++)
                if (lo >= r->kvmi.ranges[i].lo && hi <= r->kvmi.ranges[i].hi)
                        return true;
        return false;
}

void kvmi_entries_check(const policy_rule *rule, const kvmi_page_access_entry *e, size_t n, policy_decision *d) {
        char a1[4], a2[4];
        d->allowed = false;
        if (n > rule->kvmi.max_entries) {
                snprintf(d->reason, sizeof(d->reason), "%zu entries exceed the rule's kvmi max_entries %" PRIu64, n,
                         rule->kvmi.max_entries);
                return;
        }
        for (size_t i = 0; i < n; i++) {
                if (e[i].access & ~rule->kvmi.access) {
                        snprintf(d->reason, sizeof(d->reason),
                                 "entry %zu: access '%s' has bits outside the rule's kvmi access '%s'", i,
                                 kvmi_access_format(e[i].access, a1), kvmi_access_format(rule->kvmi.access, a2));
                        return;
                }
                if (!page_in(rule, e[i].gpa)) {
                        snprintf(d->reason, sizeof(d->reason),
                                 "entry %zu: page of gpa 0x%" PRIx64 " is outside the rule's kvmi gpa ranges", i,
                                 e[i].gpa);
                        return;
                }
        }
        d->allowed = true;
        snprintf(d->reason, sizeof(d->reason), "%zu entries within the rule's kvmi gpa ranges and access", n);
}

int kvmi_spa_check(const policy_rule *rule, const json_value *args, policy_decision *d, char *msg, size_t size) {
        kvmi_spa_args a;
        int r = kvmi_spa_args_parse(args, &a, msg, size);
        if (r < 0 || !rule || !rule->kvmi.present) {
                if (r >= 0)
                        free(a.entries);
                return r;
        }
        if (a.memfd_index >= 0) {
                d->allowed = true;
                snprintf(d->reason, sizeof(d->reason),
                         "the rule has a kvmi section; the memfd's entries are checked when it is read");
                return 0;
        }
        kvmi_entries_check(rule, a.entries, a.n, d);
        free(a.entries);
        return 0;
}

int kvmi_detach_check(const policy_rule *rule _unused_, const json_value *args, policy_decision *d, char *msg,
                      size_t size) {
        if (args && args->type != JSON_NULL && (args->type != JSON_OBJECT || args->object.n > 0))
                return bad(msg, size, "kvmi.detach takes no arguments");
        d->allowed = true;
        snprintf(d->reason, sizeof(d->reason), "always allowed: it only concerns the caller's own session");
        return 0;
}
