/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ops-kvmi.c - argument parsing and policy checks of kvmi.attach,
 * kvmi.connect, kvmi.set-page-access and kvmi.detach (delegate-protocol(7)).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "ops-kvmi.h"
#include "size.h"
#include "wire.h"

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
                                        return ops_bad(msg, size, "kvmi.attach: \"keyed\" must be true or false");
                                keyed = m->value->boolean;
                        } else if (streq(m->key, "secret")) {
                                if (m->value->type != JSON_STRING || !secret_valid(m->value->string.str))
                                        return ops_bad(
                                                msg, size,
                                                "kvmi.attach: \"secret\" must be 64 lowercase hex characters (the "
                                                "secret an earlier kvmi.attach returned)");
                                secret = m->value->string.str;
                        } else
                                return ops_bad(msg, size,
                                               "kvmi.attach: unknown argument '%.64s' (allowed: keyed, secret)",
                                               m->key);
                }
        } else if (args && args->type != JSON_NULL)
                return ops_bad(msg, size, "kvmi.attach: \"args\" must be an object");
        if (secret && !keyed)
                return ops_bad(msg, size, "kvmi.attach: \"secret\" needs a keyed handshake");
        *ret_keyed = keyed;
        if (ret_secret)
                *ret_secret = secret;
        return 0;
}

static int attach_parse(const json_value *args, void *ret, char *msg, size_t size) {
        kvmi_attach_args *a = ret;
        return kvmi_attach_args_parse(args, &a->keyed, &a->secret, msg, size);
}

static void attach_check(const policy_rule *rule, const void *args, policy_decision *d) {
        const kvmi_attach_args *a = args;
        if (!a->keyed && rule->kvmi.require_key)
                ops_deny(d, "the rule requires a keyed KVMI handshake (require_key)");
        else
                ops_allow(d, "the rule has a kvmi section; %s handshake", a->keyed ? "keyed" : "unkeyed");
}

const op_desc op_kvmi_attach = {
        .name = DELEGATE_OP_KVMI_ATTACH,
        .needs_policy = true,
        .section = &policy_section_kvmi,
        .args_size = sizeof(kvmi_attach_args),
        .parse = attach_parse,
        .check = attach_check,
};

int kvmi_connect_args_parse(const json_value *args, int64_t *ret_index, char *msg, size_t size) {
        const json_value *v = args && args->type == JSON_OBJECT ? json_get(args, "socket") : NULL;
        for (size_t i = 0; args && args->type == JSON_OBJECT && i < args->object.n; i++)
                if (!streq(args->object.members[i].key, "socket"))
                        return ops_bad(msg, size, "kvmi.connect: unknown argument '%.64s' (allowed: socket)",
                                       args->object.members[i].key);
        uint64_t idx;
        if (!v || v->type != JSON_NUMBER || json_to_u64(v, &idx) < 0 || idx >= DELEGATE_MAX_FDS)
                return ops_bad(
                        msg, size,
                        "kvmi.connect: \"socket\" must be the index of QEMU's connection among the request's fds "
                        "(0)");
        *ret_index = (int64_t) idx;
        return 0;
}

static int connect_parse(const json_value *args, void *ret, char *msg, size_t size) {
        kvmi_connect_args *a = ret;
        return kvmi_connect_args_parse(args, &a->socket, msg, size);
}

static void connect_check(const policy_rule *rule _unused_, const void *args _unused_, policy_decision *d) {
        ops_allow_text(d, "the rule has a kvmi section; QEMU's connection for kvmi.attach's channel");
}

const op_desc op_kvmi_connect = {
        .name = DELEGATE_OP_KVMI_CONNECT,
        .needs_policy = true,
        .flags = OP_TAKES_FDS,
        .section = &policy_section_kvmi,
        .args_size = sizeof(kvmi_connect_args),
        .parse = connect_parse,
        .check = connect_check,
};

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
                return ops_bad(msg, size,
                               "kvmi.set-page-access: \"args\" must be an object with \"entries\" or \"memfd\"");
        for (size_t i = 0; i < args->object.n; i++) {
                const json_member *m = &args->object.members[i];
                if (streq(m->key, "entries"))
                        entries = m->value;
                else if (streq(m->key, "memfd"))
                        memfd = m->value;
                else
                        return ops_bad(msg, size,
                                       "kvmi.set-page-access: unknown argument '%.64s' (allowed: entries, memfd)",
                                       m->key);
        }
        if (!!entries == !!memfd)
                return ops_bad(msg, size, "kvmi.set-page-access: give exactly one of \"entries\" and \"memfd\"");
        if (memfd) {
                uint64_t idx;
                if (json_to_u64(memfd, &idx) < 0 || idx >= DELEGATE_MAX_FDS)
                        return ops_bad(
                                msg, size,
                                "kvmi.set-page-access: \"memfd\" must be the index of the sealed memfd among the "
                                "request's file descriptors (0-%d)",
                                DELEGATE_MAX_FDS - 1);
                *ret = (kvmi_spa_args) { .memfd_index = (int) idx };
                return 0;
        }
        if (entries->type != JSON_ARRAY || entries->array.n == 0)
                return ops_bad(msg, size,
                               "kvmi.set-page-access: \"entries\" must be a non-empty array of [GPA, ACCESS]");
        kvmi_page_access_entry *e = calloc(entries->array.n, sizeof(*e));
        if (!e)
                return ops_bad(msg, size, "kvmi.set-page-access: out of memory");
        for (size_t i = 0; i < entries->array.n; i++) {
                const json_value *x = entries->array.items[i];
                int a;
                if (x->type != JSON_ARRAY || x->array.n != 2) {
                        free(e);
                        return ops_bad(msg, size, "kvmi.set-page-access: entry %zu must be [GPA, ACCESS]", i);
                }
                if (parse_gpa(x->array.items[0], &e[i].gpa) < 0) {
                        free(e);
                        return ops_bad(msg, size,
                                       "kvmi.set-page-access: entry %zu: GPA must be a number or a \"0x...\" string",
                                       i);
                }
                if ((a = parse_access(x->array.items[1])) < 0) {
                        free(e);
                        return ops_bad(msg, size,
                                       "kvmi.set-page-access: entry %zu: ACCESS must be like \"rw-\" or a number 0-7",
                                       i);
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

static bool entry_allowed(const policy_rule *r, const kvmi_page_access_entry *e) {
        return !(e->access & ~r->kvmi.access) && page_in(r, e->gpa);
}

/* @d denied for entry @i (not entry_allowed()), saying why. */
static void entry_deny(const policy_rule *r, const kvmi_page_access_entry *e, size_t i, policy_decision *d) {
        char a1[4], a2[4];
        d->allowed = false;
        if (e->access & ~r->kvmi.access)
                snprintf(d->reason, sizeof(d->reason), "entry %zu: access '%s' has bits outside the rule's kvmi access '%s'",
                         i, kvmi_access_format(e->access, a1), kvmi_access_format(r->kvmi.access, a2));
        else
                snprintf(d->reason, sizeof(d->reason),
                         "entry %zu: page of gpa 0x%" PRIx64 " is outside the rule's kvmi gpa ranges", i, e->gpa);
}

static bool entries_count_ok(const policy_rule *rule, size_t n, policy_decision *d) {
        d->allowed = false;
        if (n > rule->kvmi.max_entries) {
                snprintf(d->reason, sizeof(d->reason), "%zu entries exceed the rule's kvmi max_entries %" PRIu64, n,
                         rule->kvmi.max_entries);
                return false;
        }
        return true;
}

static void entries_allowed(size_t n, policy_decision *d) {
        d->allowed = true;
        snprintf(d->reason, sizeof(d->reason), "%zu entries within the rule's kvmi gpa ranges and access", n);
}

void kvmi_entries_check(const policy_rule *rule, const kvmi_page_access_entry *e, size_t n, policy_decision *d) {
        if (!entries_count_ok(rule, n, d))
                return;
        for (size_t i = 0; i < n; i++)
                if (!entry_allowed(rule, &e[i]))
                        return entry_deny(rule, &e[i], i, d);
        entries_allowed(n, d);
}

/*
 * The common case first, in a pass without branches: every entry well-formed, its access within the
 * rule's, and all their pages in one of the rule's ranges (from the lowest page to the highest).
 */
void kvmi_memfd_scan_add(kvmi_memfd_scan *s, const kvmi_page_access_entry *e, size_t n) {
        uint64_t words = s->words, lo = s->lo, hi = s->hi;
        uint8_t access = s->access;
        for (size_t i = 0; i < n; i++) {
                uint64_t w;
                memcpy(&w, &e[i].access, sizeof(w));
                words |= w;
                access |= e[i].access;
                lo = e[i].gpa < lo ? e[i].gpa : lo;
                hi = e[i].gpa > hi ? e[i].gpa : hi;
        }
        *s = (kvmi_memfd_scan) { .words = words, .lo = lo, .hi = hi, .access = access };
}

/* True with *@ret_top the highest gpa when the scanned entries are all so; false when the pass in order
 * must find the first entry that is not. */
static bool scan_allowed(const policy_rule *r, const kvmi_memfd_scan *s, uint64_t *ret_top) {
        if ((s->words & ~KVMI_ENTRY_ACCESS_BITS) != 0 || (s->access & ~r->kvmi.access) != 0)
                return false;
        uint64_t lo = s->lo & ~(uint64_t) 4095;
        for (size_t i = 0; i < r->kvmi.n_ranges; i++)
                if (lo >= r->kvmi.ranges[i].lo && (s->hi | 4095) <= r->kvmi.ranges[i].hi) {
                        *ret_top = s->hi;
                        return true;
                }
        return false;
}

size_t kvmi_memfd_scan_check(const policy_rule *rule, const kvmi_memfd_scan *s, size_t n, policy_decision *d,
                             uint64_t *ret_top_gpa) {
        if (n == 0 || n > rule->kvmi.max_entries || !scan_allowed(rule, s, ret_top_gpa))
                return 0;
        entries_allowed(n, d);
        return n;
}

ssize_t kvmi_memfd_check(const policy_rule *rule, const void *buf, size_t len, policy_decision *d,
                         uint64_t *ret_top_gpa, char *msg, size_t size) {
        int r = kvmi_memfd_size_check(len, msg, size);
        if (r < 0)
                return r;
        const kvmi_page_access_entry *e = buf;
        size_t n = len / sizeof(*e), denied = SIZE_MAX;
        uint64_t top = 0;
        if (!entries_count_ok(rule, n, d))
                denied = n; /* the entries are still decoded: a malformed one is bad-request first */
        else {
                kvmi_memfd_scan sc = KVMI_MEMFD_SCAN_INIT;
                kvmi_memfd_scan_add(&sc, e, n);
                if (kvmi_memfd_scan_check(rule, &sc, n, d, ret_top_gpa) > 0)
                        return (ssize_t) n;
        }
        for (size_t i = 0; i < n; i++) {
                if (!kvmi_entry_valid(&e[i]))
                        return kvmi_memfd_entry_invalid(&e[i], i, msg, size);
                if (denied == SIZE_MAX && !entry_allowed(rule, &e[i]))
                        denied = i;
                top = e[i].gpa > top ? e[i].gpa : top;
        }
        if (denied < n)
                entry_deny(rule, &e[denied], denied, d);
        else if (denied == SIZE_MAX)
                entries_allowed(n, d);
        *ret_top_gpa = top;
        return (ssize_t) n;
}

static int spa_parse(const json_value *args, void *ret, char *msg, size_t size) {
        return kvmi_spa_args_parse(args, ret, msg, size);
}

static void spa_done(void *args) {
        kvmi_spa_args *a = args;
        free(a->entries);
        a->entries = NULL;
}

static void spa_check(const policy_rule *rule, const void *args, policy_decision *d) {
        const kvmi_spa_args *a = args;
        if (a->memfd_index >= 0)
                ops_allow_text(d, "the rule has a kvmi section; the memfd's entries are checked when it is read");
        else
                kvmi_entries_check(rule, a->entries, a->n, d);
}

const op_desc op_kvmi_set_page_access = {
        .name = DELEGATE_OP_KVMI_SET_PAGE_ACCESS,
        .needs_policy = true,
        .flags = OP_TAKES_FDS,
        .section = &policy_section_kvmi,
        .args_size = sizeof(kvmi_spa_args),
        .parse = spa_parse,
        .done = spa_done,
        .check = spa_check,
};

const op_desc op_kvmi_detach = {
        .name = DELEGATE_OP_KVMI_DETACH,
        .check = ops_check_own_session,
};
