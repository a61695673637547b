/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * policy-kvmi.c - the "kvmi" section of a policy rule (delegate-policy(5)):
 *
 *   "kvmi": { "gpa": ["0-0x7fffffff", "0x100000000-0x17fffffff"],
 *             "access": "rw", "max_entries": 65536, "require_key": true }
 */
#include <inttypes.h>
#include <stdio.h>

#include "kvmi-proto.h"
#include "policy-kvmi.h"

/* "4096", "0x1000": a whole string, no sign, no overflow. */
static int parse_addr(const char *s, const char **end, uint64_t *ret) {
        char *e;
        if (*s < '0' || *s > '9')
                return -EINVAL;
        errno = 0;
        unsigned long long v = strtoull(s, &e, 0);
        if (errno || e == s)
                return -EINVAL;
        *end = e;
        *ret = v;
        return 0;
}

static int parse_range(const json_value *v, gpa_range *ret) {
        const char *s, *e;
        uint64_t lo, hi;
        if (v->type != JSON_STRING)
                return -EINVAL;
        s = v->string.str;
        if (parse_addr(s, &e, &lo) < 0 || *e != '-' || parse_addr(e + 1, &e, &hi) < 0 || *e || hi < lo)
                return -EINVAL;
        *ret = (gpa_range) { lo, hi };
        return 0;
}

static void clear(policy_rule *r) {
        free(r->kvmi.ranges);
        r->kvmi.ranges = NULL;
        r->kvmi.n_ranges = 0;
}

static int parse(const json_value *v, policy_rule *r, unsigned *line, unsigned *column, char *msg, size_t size) {
        policy_where w = { line, column, msg, size };
        int q = policy_expect_object(&w, v, "kvmi");
        if (q < 0)
                return q;
        const json_value *gpa = NULL;
        r->kvmi.access = KVMI_PAGE_ACCESS_RWX;
        r->kvmi.max_entries = KVMI_POLICY_DEFAULT_MAX_ENTRIES;
        r->kvmi.require_key = true;
        for (size_t i = 0; i < v->object.n; i++) {
                const json_member *m = &v->object.members[i];
                const json_value *x = m->value;
                if (streq(m->key, "gpa"))
                        gpa = x;
                else if (streq(m->key, "access")) {
                        int a = x->type == JSON_STRING ? kvmi_access_parse(x->string.str) : -EINVAL;
                        if (a < 0)
                                return policy_err(&w, x,
                                                  "kvmi access must be a string of the bits entries may hold, like "
                                                  "\"rwx\" or \"r-x\"");
                        r->kvmi.access = (uint8_t) a;
                } else if (streq(m->key, "max_entries")) {
                        uint64_t n;
                        if (json_to_u64(x, &n) < 0 || n < 1 || n > KVMI_POLICY_MAX_MAX_ENTRIES)
                                return policy_err(&w, x, "kvmi max_entries must be 1-%d", KVMI_POLICY_MAX_MAX_ENTRIES);
                        r->kvmi.max_entries = n;
                } else if (streq(m->key, "require_key")) {
                        if (x->type != JSON_BOOL)
                                return policy_err(&w, x, "kvmi require_key must be true or false");
                        r->kvmi.require_key = x->boolean;
                } else
                        return policy_err_at(&w, m->line, m->column,
                                             "unknown kvmi key '%s' (allowed: gpa, access, max_entries, require_key)",
                                             m->key);
        }
        if (!gpa)
                return policy_err(&w, v, "kvmi section needs \"gpa\", the allowed guest-physical ranges");
        size_t n = gpa->type == JSON_ARRAY ? gpa->array.n : 1;
        if (n == 0 || n > KVMI_POLICY_MAX_RANGES)
                return policy_err(&w, gpa, "kvmi gpa must list 1-%d ranges", KVMI_POLICY_MAX_RANGES);
        gpa_range *ranges = calloc(n, sizeof(*ranges));
        if (!ranges)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                const json_value *e = gpa->type == JSON_ARRAY ? gpa->array.items[i] : gpa;
                if (parse_range(e, &ranges[i]) < 0) {
                        free(ranges);
                        return policy_err(&w, e,
                                          "kvmi gpa range must be a string \"START-END\" (bytes, END inclusive, "
                                          "decimal or 0x hex, START <= END)");
                }
        }
        r->kvmi.ranges = ranges;
        r->kvmi.n_ranges = n;
        r->kvmi.present = true;
        return 0;
}

static bool present(const policy_rule *r) {
        return r->kvmi.present;
}

const policy_section policy_section_kvmi = { .key = "kvmi", .parse = parse, .clear = clear, .present = present };
