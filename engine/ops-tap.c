/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ops-tap.c - tap.create and tap.destroy, bridge.create and bridge.destroy:
 * argument parsing, and the policy check of the "tap" and "bridge"
 * sections (interface names and templates: tap-names.c).
 *
 * What needs the session (max_devices) or the pod's network namespace
 * (a pre-existing device, whether the bridge exists) is checked by the
 * broker when it acts (broker/ops/broker-op-tap.c).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "ops-tap.h"

static int get_bool(const json_value *args, const char *key, bool *ret, char *msg, size_t size) {
        const json_value *v = json_get(args, key);
        if (!v)
                return 0;
        if (v->type != JSON_BOOL)
                return ops_bad(msg, size, "tap.create: \"%s\" must be true or false, not %s", key,
                               json_type_name(v->type));
        *ret = v->boolean;
        return 0;
}

/* An interface name argument: a string, valid, and (for @what) the reason. */
static int get_name(const json_value *v, const char *op, const char *key, bool template_ok, char *buf, size_t bufsize,
                    char *msg, size_t size) {
        if (!json_is_string(v))
                return ops_bad(msg, size, "%s: \"%s\" must be a string, not %s", op, key, json_type_name(v->type));
        const char *s = v->string.str;
        if (template_ok && strstr(s, "%d")) {
                if (!tap_template_valid(s))
                        return ops_bad(msg, size,
                                       "%s: template '%.64s' is invalid: one \"%%d\", otherwise [A-Za-z0-9._-], "
                                       "at most 15 characters once expanded",
                                       op, s);
        } else if (strlen(s) > TAP_NAME_MAX)
                return ops_bad(msg, size, "%s: %s '%.64s' is longer than %d characters (IFNAMSIZ)", op, key, s,
                               TAP_NAME_MAX);
        else if (!tap_name_valid(s))
                return ops_bad(msg, size,
                               "%s: %s '%.64s' is not a valid interface name: 1-%d characters of [A-Za-z0-9._-], "
                               "not '.' or '..'",
                               op, key, s, TAP_NAME_MAX);
        if (strlen(s) >= bufsize)
                return ops_bad(msg, size, "%s: %s '%.64s' is too long", op, key, s);
        strcpy(buf, s);
        return 0;
}

static int get_u32(const json_value *args, const char *key, uint32_t lo, uint32_t hi, uint32_t *ret, char *msg,
                   size_t size) {
        const json_value *v = json_get(args, key);
        uint64_t x;
        if (!v)
                return 0;
        if (json_to_u64(v, &x) < 0 || x < lo || x > hi)
                return ops_bad(msg, size, "tap.create: \"%s\" must be an integer from %" PRIu32 " to %" PRIu32, key,
                               lo, hi);
        *ret = (uint32_t) x;
        return 0;
}

int tap_create_args_parse(const json_value *args, tap_create_args *ret, char *msg, size_t size) {
        static const char *const keys[] = { "name", "queues", "vnet_hdr", "mtu", "mac", "bridge", "persist", "vhost",
                                            NULL };
        tap_create_args a = { .queues = 1 };
        int r;

        if (!args || args->type != JSON_OBJECT)
                return ops_bad(msg, size, "tap.create: \"args\" must be an object with at least \"name\"");
        r = ops_check_keys(args, DELEGATE_OP_TAP_CREATE, keys, msg, size);
        if (r < 0)
                return r;
        const json_value *v = json_get(args, "name");
        if (!v)
                return ops_bad(msg, size, "tap.create: missing \"name\" (a template like \"vnet%%d\" or a name)");
        r = get_name(v, DELEGATE_OP_TAP_CREATE, "name", true, a.name, sizeof(a.name), msg, size);
        if (r < 0)
                return r;
        a.is_template = strstr(a.name, "%d") != NULL;
        if ((r = get_u32(args, "queues", 1, POLICY_TAP_MAX_QUEUES, &a.queues, msg, size)) < 0 ||
            (r = get_u32(args, "mtu", POLICY_TAP_MTU_MIN, POLICY_TAP_MTU_MAX, &a.mtu, msg, size)) < 0 ||
            (r = get_bool(args, "vnet_hdr", &a.vnet_hdr, msg, size)) < 0 ||
            (r = get_bool(args, "persist", &a.persist, msg, size)) < 0 ||
            (r = get_bool(args, "vhost", &a.vhost, msg, size)) < 0)
                return r;
        if (a.vhost && a.queues > TAP_VHOST_MAX_QUEUES)
                return ops_bad(msg, size,
                               "tap.create: with \"vhost\", at most %d queues (a reply carries at most %d fds: one TAP "
                               "and one vhost-net fd per queue)",
                               TAP_VHOST_MAX_QUEUES, DELEGATE_MAX_FDS);
        v = json_get(args, "mac");
        if (v) {
                if (!json_is_string(v) || tap_mac_parse(v->string.str, a.mac) < 0)
                        return ops_bad(msg, size,
                                       "tap.create: \"mac\" must be a unicast MAC address like \"52:54:00:12:34:56\"");
                a.has_mac = true;
        }
        v = json_get(args, "bridge");
        if (v && v->type != JSON_NULL) {
                r = get_name(v, DELEGATE_OP_TAP_CREATE, "bridge", false, a.bridge, sizeof(a.bridge), msg, size);
                if (r < 0)
                        return r;
        }
        *ret = a;
        return 0;
}

static int destroy_args_parse(const char *op, const json_value *args, tap_destroy_args *ret, char *msg,
                              size_t size) {
        static const char *const keys[] = { "name", NULL };
        tap_destroy_args a = {};
        if (!args || args->type != JSON_OBJECT)
                return ops_bad(msg, size, "%s: \"args\" must be an object with \"name\"", op);
        int r = ops_check_keys(args, op, keys, msg, size);
        if (r < 0)
                return r;
        const json_value *v = json_get(args, "name");
        if (!v)
                return ops_bad(msg, size, "%s: missing \"name\"", op);
        r = get_name(v, op, "name", false, a.name, sizeof(a.name), msg, size);
        if (r < 0)
                return r;
        *ret = a;
        return 0;
}

int tap_destroy_args_parse(const json_value *args, tap_destroy_args *ret, char *msg, size_t size) {
        return destroy_args_parse(DELEGATE_OP_TAP_DESTROY, args, ret, msg, size);
}

int bridge_destroy_args_parse(const json_value *args, tap_destroy_args *ret, char *msg, size_t size) {
        return destroy_args_parse(DELEGATE_OP_BRIDGE_DESTROY, args, ret, msg, size);
}

int bridge_create_args_parse(const json_value *args, bridge_create_args *ret, char *msg, size_t size) {
        static const char *const keys[] = { "name", "mtu", "enslave", NULL };
        bridge_create_args a = {};
        int r;
        if (!args || args->type != JSON_OBJECT)
                return ops_bad(msg, size, "bridge.create: \"args\" must be an object with at least \"name\"");
        r = ops_check_keys(args, DELEGATE_OP_BRIDGE_CREATE, keys, msg, size);
        if (r < 0)
                return r;
        const json_value *v = json_get(args, "name");
        if (!v)
                return ops_bad(msg, size, "bridge.create: missing \"name\" (the bridge's exact name)");
        if ((r = get_name(v, DELEGATE_OP_BRIDGE_CREATE, "name", false, a.name, sizeof(a.name), msg, size)) < 0)
                return r;
        v = json_get(args, "mtu");
        uint64_t x;
        if (v && (json_to_u64(v, &x) < 0 || x < POLICY_TAP_MTU_MIN || x > POLICY_TAP_MTU_MAX))
                return ops_bad(msg, size, "bridge.create: \"mtu\" must be an integer from %d to %d",
                               POLICY_TAP_MTU_MIN, POLICY_TAP_MTU_MAX);
        a.mtu = v ? (uint32_t) x : 0;
        v = json_get(args, "enslave");
        if (v && (v->type != JSON_ARRAY || v->array.n > BRIDGE_MAX_ENSLAVE))
                return ops_bad(msg, size, "bridge.create: \"enslave\" must be an array of at most %d interface names",
                               BRIDGE_MAX_ENSLAVE);
        for (size_t i = 0; v && i < v->array.n; i++) {
                r = get_name(v->array.items[i], DELEGATE_OP_BRIDGE_CREATE, "enslave", false, a.enslave[i],
                             sizeof(a.enslave[i]), msg, size);
                if (r < 0)
                        return r;
                if (streq(a.enslave[i], a.name))
                        return ops_bad(msg, size, "bridge.create: a bridge cannot enslave itself ('%s')", a.name);
                for (size_t k = 0; k < i; k++)
                        if (streq(a.enslave[k], a.enslave[i]))
                                return ops_bad(msg, size, "bridge.create: '%s' is named twice in \"enslave\"",
                                               a.enslave[i]);
                a.n_enslave++;
        }
        *ret = a;
        return 0;
}

static void list_join(char *const *v, size_t n, char *buf, size_t size) {
        buf[0] = 0;
        for (size_t i = 0; i < n; i++)
                snprintf(buf + strlen(buf), size - strlen(buf), "%s%s", i ? ", " : "", v[i]);
        if (n == 0)
                snprintf(buf, size, "none");
}

static bool in_list(char *const *v, size_t n, const char *name) {
        for (size_t i = 0; i < n; i++)
                if (streq(v[i], name))
                        return true;
        return false;
}

static void tap_create_check(const policy_rule *rule, const void *args, policy_decision *d) {
        const tap_create_args a = *(const tap_create_args *) args;
        char list[256];
        bool ok = false;
        for (size_t i = 0; i < rule->tap.n_templates && !ok; i++)
                ok = a.is_template ? streq(rule->tap.templates[i], a.name)
                                   : tap_pattern_matches(rule->tap.templates[i], a.name);
        if (!ok) {
                list_join(rule->tap.templates, rule->tap.n_templates, list, sizeof(list));
                return (void) ops_deny(d, "%s '%s' is not allowed by the rule's tap templates (%s)",
                            a.is_template ? "template" : "name", a.name, list);
        }
        if (a.queues > rule->tap.max_queues)
                return (void) ops_deny(d, "%" PRIu32 " queues exceed the rule's tap max_queues %" PRIu32, a.queues,
                            rule->tap.max_queues);
        if (a.vnet_hdr && !rule->tap.vnet_hdr)
                return (void) ops_deny(d, "the rule's tap section does not allow vnet_hdr");
        if (a.persist && !rule->tap.persist)
                return (void) ops_deny(d, "the rule's tap section does not allow persist");
        if (a.vhost && !rule->tap.vhost)
                return (void) ops_deny(d, "the rule's tap section does not allow vhost");
        if (a.mtu && (a.mtu < rule->tap.mtu_min || a.mtu > rule->tap.mtu_max))
                return (void) ops_deny(d, "MTU %" PRIu32 " is outside the rule's tap mtu range %" PRIu32 "-%" PRIu32, a.mtu,
                            rule->tap.mtu_min, rule->tap.mtu_max);
        if (a.bridge[0] && !in_list(rule->tap.bridges, rule->tap.n_bridges, a.bridge)) {
                list_join(rule->tap.bridges, rule->tap.n_bridges, list, sizeof(list));
                return (void) ops_deny(d, "bridge '%s' is not among the rule's tap bridges (%s)", a.bridge, list);
        }
        ops_allow(d, "%s '%s' with %" PRIu32 " queue(s) is within the rule's tap section",
                  a.is_template ? "template" : "name", a.name, a.queues);
}

static void bridge_create_check(const policy_rule *rule, const void *args, policy_decision *d) {
        const bridge_create_args *p = args, a = *p;
        char list[256];
        if (!in_list(rule->bridge.names, rule->bridge.n_names, a.name)) {
                list_join(rule->bridge.names, rule->bridge.n_names, list, sizeof(list));
                return (void) ops_deny(d, "bridge '%s' is not among the rule's bridge names (%s)", a.name, list);
        }
        for (size_t i = 0; i < a.n_enslave; i++)
                if (!in_list(rule->bridge.enslave, rule->bridge.n_enslave, a.enslave[i])) {
                        list_join(rule->bridge.enslave, rule->bridge.n_enslave, list, sizeof(list));
                        return (void) ops_deny(d, "interface '%s' is not among the rule's bridge enslave names (%s)",
                                    a.enslave[i], list);
                }
        if (a.mtu && (a.mtu < rule->bridge.mtu_min || a.mtu > rule->bridge.mtu_max))
                return (void) ops_deny(d, "MTU %" PRIu32 " is outside the rule's bridge mtu range %" PRIu32 "-%" PRIu32, a.mtu,
                            rule->bridge.mtu_min, rule->bridge.mtu_max);
        ops_allow(d, "bridge '%s' with %zu enslaved interface(s) is within the rule's bridge section", a.name,
                  a.n_enslave);
}

static void bridge_destroy_check(const policy_rule *rule _unused_, const void *args _unused_, policy_decision *d) {
        ops_allow_text(d, "the rule has a bridge section; only bridges of the caller's own session can be destroyed");
}

static void tap_destroy_check(const policy_rule *rule _unused_, const void *args _unused_, policy_decision *d) {
        ops_allow_text(d, "the rule has a tap section; only devices of the caller's own session can be destroyed");
}

static int tap_create_parse(const json_value *args, void *ret, char *msg, size_t size) {
        return tap_create_args_parse(args, ret, msg, size);
}

static int tap_destroy_parse(const json_value *args, void *ret, char *msg, size_t size) {
        return tap_destroy_args_parse(args, ret, msg, size);
}

static int bridge_create_parse(const json_value *args, void *ret, char *msg, size_t size) {
        return bridge_create_args_parse(args, ret, msg, size);
}

static int bridge_destroy_parse(const json_value *args, void *ret, char *msg, size_t size) {
        return bridge_destroy_args_parse(args, ret, msg, size);
}

const op_desc op_tap_create = {
        .name = DELEGATE_OP_TAP_CREATE,
        .needs_policy = true,
        .flags = OP_RETURNS_FDS,
        .section = &policy_section_tap,
        .args_size = sizeof(tap_create_args),
        .parse = tap_create_parse,
        .check = tap_create_check,
};

const op_desc op_tap_destroy = {
        .name = DELEGATE_OP_TAP_DESTROY,
        .needs_policy = true,
        .section = &policy_section_tap,
        .args_size = sizeof(tap_destroy_args),
        .parse = tap_destroy_parse,
        .check = tap_destroy_check,
};

const op_desc op_bridge_create = {
        .name = DELEGATE_OP_BRIDGE_CREATE,
        .needs_policy = true,
        .section = &policy_section_bridge,
        .args_size = sizeof(bridge_create_args),
        .parse = bridge_create_parse,
        .check = bridge_create_check,
};

const op_desc op_bridge_destroy = {
        .name = DELEGATE_OP_BRIDGE_DESTROY,
        .needs_policy = true,
        .section = &policy_section_bridge,
        .args_size = sizeof(tap_destroy_args),
        .parse = bridge_destroy_parse,
        .check = bridge_destroy_check,
};
