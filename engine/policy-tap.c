/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * policy-tap.c - the "tap" section of a policy rule (delegate-policy(5)):
 * which TAP devices a rule lets its subjects create in their own network
 * namespace, and with what.
 */
#include <inttypes.h>
#include <stdio.h>

#include "policy-tap.h"
#include "tap-names.h"

/* A section being parsed: its name for messages ("tap" or "bridge") and where errors go. */
typedef struct tap_ctx {
        const char *section;
        policy_where w;
} tap_ctx;

static void tap_clear(policy_rule *r) {
        policy_strv_free(r->tap.templates, r->tap.n_templates);
        policy_strv_free(r->tap.bridges, r->tap.n_bridges);
        r->tap.templates = r->tap.bridges = NULL;
        r->tap.n_templates = r->tap.n_bridges = 0;
}

/* One string or a non-empty array of them, each accepted by @valid. */
static int parse_names(tap_ctx *c, const json_value *v, const char *key, bool (*valid)(const char *), const char *rule,
                       char ***ret, size_t *ret_n) {
        size_t n = v->type == JSON_ARRAY ? v->array.n : 1;
        if (v->type != JSON_ARRAY && v->type != JSON_STRING)
                return policy_err(&c->w, v, "%s %s must be a string or an array of strings, not %s", c->section, key,
                                  json_type_name(v->type));
        if (v->type == JSON_ARRAY && (n == 0 || n > POLICY_TAP_MAX_LIST))
                return policy_err(&c->w, v, "%s %s must list 1 to %d names", c->section, key, POLICY_TAP_MAX_LIST);
        char **l = calloc(n, sizeof(char *));
        if (!l)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                const json_value *e = v->type == JSON_ARRAY ? v->array.items[i] : v;
                int q = 0;
                if (!json_is_string(e))
                        q = policy_err(&c->w, e, "%s %s must be a string, not %s", c->section, key,
                                       json_type_name(e->type));
                else if (!valid(e->string.str))
                        q = policy_err(&c->w, e, "%s %s '%.64s' is invalid: %s", c->section, key, e->string.str, rule);
                else if (!(l[i] = strdup(e->string.str)))
                        q = -ENOMEM;
                if (q < 0) {
                        policy_strv_free(l, n);
                        return q;
                }
        }
        *ret = l;
        *ret_n = n;
        return 0;
}

static bool template_or_name_valid(const char *s) {
        return strstr(s, "%d") ? tap_template_valid(s) : tap_name_valid(s);
}

static int parse_u32(tap_ctx *c, const json_value *v, const char *key, uint32_t lo, uint32_t hi, uint32_t *ret) {
        char what[64];
        int64_t x;
        snprintf(what, sizeof(what), "%s %s", c->section, key);
        int q = policy_get_int(&c->w, v, what, lo, hi, &x);
        if (q < 0)
                return q;
        *ret = (uint32_t) x;
        return 0;
}

/* "mtu": 9000 or "1280-9000" */
static int parse_mtu(tap_ctx *c, const json_value *v, uint32_t *lo, uint32_t *hi) {
        if (v->type == JSON_NUMBER) {
                int q = parse_u32(c, v, "mtu", POLICY_TAP_MTU_MIN, POLICY_TAP_MTU_MAX, lo);
                *hi = *lo;
                return q;
        }
        unsigned a, b;
        int end = 0;
        if (!json_is_string(v) || sscanf(v->string.str, "%5u-%5u%n", &a, &b, &end) != 2 ||
            (size_t) end != v->string.len || v->string.str[0] < '0' || v->string.str[0] > '9' ||
            !strchr("0123456789", v->string.str[strcspn(v->string.str, "-") + 1]))
                return policy_err(&c->w, v, "%s mtu must be a number or a \"LOW-HIGH\" string like \"1280-9000\"",
                                  c->section);
        if (a < POLICY_TAP_MTU_MIN || b > POLICY_TAP_MTU_MAX || a > b)
                return policy_err(&c->w, v, "%s mtu range '%s' must lie within %d-%d with LOW <= HIGH", c->section,
                                  v->string.str, POLICY_TAP_MTU_MIN, POLICY_TAP_MTU_MAX);
        *lo = a;
        *hi = b;
        return 0;
}

static int parse_bool(tap_ctx *c, const json_value *v, const char *key, bool *ret) {
        char what[64];
        snprintf(what, sizeof(what), "%s %s", c->section, key);
        return policy_get_bool(&c->w, v, what, ret);
}

static int tap_parse(const json_value *v, policy_rule *r, unsigned *ret_line, unsigned *ret_column, char *msg,
                     size_t size) {
        tap_ctx c = { "tap", { ret_line, ret_column, msg, size } };
        int q = policy_expect_object(&c.w, v, "tap");
        if (q < 0)
                return q;
        r->tap.max_devices = POLICY_TAP_DEFAULT_MAX_DEVICES;
        r->tap.max_queues = 1;
        r->tap.mtu_min = POLICY_TAP_MTU_MIN;
        r->tap.mtu_max = POLICY_TAP_MTU_MAX;
        r->tap.vnet_hdr = true;
        for (size_t i = 0; i < v->object.n; i++) {
                const json_member *m = &v->object.members[i];
                const json_value *x = m->value;
                if (streq(m->key, "template"))
                        q = parse_names(&c, x, "template", template_or_name_valid,
                                        "a template has one \"%d\", a name none; [A-Za-z0-9._-], at most 15 "
                                        "characters",
                                        &r->tap.templates, &r->tap.n_templates);
                else if (streq(m->key, "bridges"))
                        q = parse_names(&c, x, "bridges", tap_name_valid, "1-15 characters of [A-Za-z0-9._-]",
                                        &r->tap.bridges, &r->tap.n_bridges);
                else if (streq(m->key, "max_devices"))
                        q = parse_u32(&c, x, "max_devices", 1, POLICY_TAP_MAX_DEVICES, &r->tap.max_devices);
                else if (streq(m->key, "max_queues"))
                        q = parse_u32(&c, x, "max_queues", 1, POLICY_TAP_MAX_QUEUES, &r->tap.max_queues);
                else if (streq(m->key, "mtu"))
                        q = parse_mtu(&c, x, &r->tap.mtu_min, &r->tap.mtu_max);
                else if (streq(m->key, "vnet_hdr"))
                        q = parse_bool(&c, x, "vnet_hdr", &r->tap.vnet_hdr);
                else if (streq(m->key, "persist"))
                        q = parse_bool(&c, x, "persist", &r->tap.persist);
                else if (streq(m->key, "adopt_existing"))
                        q = parse_bool(&c, x, "adopt_existing", &r->tap.adopt_existing);
                else if (streq(m->key, "vhost"))
                        q = parse_bool(&c, x, "vhost", &r->tap.vhost);
                else
                        q = policy_err_at(
                                &c.w, m->line, m->column,
                                "unknown tap key '%s' (allowed: template, max_devices, max_queues, bridges, mtu, "
                                "vnet_hdr, persist, adopt_existing, vhost)",
                                m->key);
                if (q < 0)
                        return q;
        }
        if (!r->tap.templates) {
                r->tap.templates = calloc(1, sizeof(char *));
                if (!r->tap.templates || !(r->tap.templates[0] = strdup(POLICY_TAP_DEFAULT_TEMPLATE)))
                        return -ENOMEM;
                r->tap.n_templates = 1;
        }
        r->tap.present = true;
        return 0;
}

static void bridge_clear(policy_rule *r) {
        policy_strv_free(r->bridge.names, r->bridge.n_names);
        policy_strv_free(r->bridge.enslave, r->bridge.n_enslave);
        r->bridge.names = r->bridge.enslave = NULL;
        r->bridge.n_names = r->bridge.n_enslave = 0;
}

static int bridge_parse(const json_value *v, policy_rule *r, unsigned *ret_line, unsigned *ret_column, char *msg,
                        size_t size) {
        tap_ctx c = { "bridge", { ret_line, ret_column, msg, size } };
        int q = policy_expect_object(&c.w, v, "bridge");
        if (q < 0)
                return q;
        r->bridge.max_devices = POLICY_BRIDGE_DEFAULT_MAX_DEVICES;
        r->bridge.mtu_min = POLICY_TAP_MTU_MIN;
        r->bridge.mtu_max = POLICY_TAP_MTU_MAX;
        for (size_t i = 0; i < v->object.n; i++) {
                const json_member *m = &v->object.members[i];
                const json_value *x = m->value;
                if (streq(m->key, "names"))
                        q = parse_names(&c, x, "names", tap_name_valid, "1-15 characters of [A-Za-z0-9._-]",
                                        &r->bridge.names, &r->bridge.n_names);
                else if (streq(m->key, "enslave"))
                        q = parse_names(&c, x, "enslave", tap_name_valid, "1-15 characters of [A-Za-z0-9._-]",
                                        &r->bridge.enslave, &r->bridge.n_enslave);
                else if (streq(m->key, "max_devices"))
                        q = parse_u32(&c, x, "max_devices", 1, POLICY_TAP_MAX_DEVICES, &r->bridge.max_devices);
                else if (streq(m->key, "mtu"))
                        q = parse_mtu(&c, x, &r->bridge.mtu_min, &r->bridge.mtu_max);
                else if (streq(m->key, "adopt_existing"))
                        q = parse_bool(&c, x, "adopt_existing", &r->bridge.adopt_existing);
                else
                        q = policy_err_at(&c.w, m->line, m->column,
                                          "unknown bridge key '%s' (allowed: names, enslave, max_devices, mtu, "
                                          "adopt_existing)",
                                          m->key);
                if (q < 0)
                        return q;
        }
        if (!r->bridge.names)
                return policy_err_at(&c.w, v->line, v->column,
                                     "bridge needs \"names\": the bridges the rule lets its "
                                     "subjects create");
        r->bridge.present = true;
        return 0;
}

static bool tap_present(const policy_rule *r) {
        return r->tap.present;
}

static bool bridge_present(const policy_rule *r) {
        return r->bridge.present;
}

const policy_section policy_section_tap = { .key = "tap", .parse = tap_parse, .clear = tap_clear,
                                            .present = tap_present };
const policy_section policy_section_bridge = { .key = "bridge", .parse = bridge_parse, .clear = bridge_clear,
                                               .present = bridge_present };
