/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-tap.c - the TAP pieces of the internal library: interface names,
 * templates and their expansion, MAC addresses (engine/ops-tap.c), the
 * policy's "tap" section (engine/policy-tap.c) and the decisions of
 * tap.create / tap.destroy through policy_decide().
 */
#include <stdio.h>

#define DELEGATE_INTERNAL_UNSTABLE_API_OPT_IN
#include "delegate/delegate-internal.h"
#include "ops.h"
#include "policy.h"
#include "tap.h"
#include "unit-util.h"

static void test_names(void) {
        tap_ok(tap_name_valid("vnet0") && tap_name_valid("tap-a.0_x") && tap_name_valid("abcdefghijklmno"),
               "valid names, up to 15 characters");
        tap_ok(!tap_name_valid("abcdefghijklmnop"), "16 characters are refused (IFNAMSIZ)");
        tap_ok(!tap_name_valid("") && !tap_name_valid(".") && !tap_name_valid(".."), "'', '.' and '..' refused");
        tap_ok(!tap_name_valid("a/b") && !tap_name_valid("a b") && !tap_name_valid("a:b") &&
                       !tap_name_valid("a%d") && !tap_name_valid("t\xc3\xa4p"),
               "'/', space, ':', '%%' and non-ASCII refused");

        tap_ok(tap_template_valid("vnet%d") && tap_template_valid("%d") && tap_template_valid("p%d-x"),
               "templates with one %%d");
        tap_ok(!tap_template_valid("vnet") && !tap_template_valid("v%d%d") && !tap_template_valid("v%s") &&
                       !tap_template_valid("v%d%") && !tap_template_valid("v/%d"),
               "no %%d, two, another conversion, a stray '%%', a '/': refused");
        tap_ok(tap_template_valid("abcdefghijklmn%d") && !tap_template_valid("abcdefghijklmno%d"),
               "a template must leave room for one digit within 15 characters");

        char buf[16];
        tap_is_int(tap_template_expand("vnet%d", 0, buf, sizeof(buf)), 0, "expand vnet%%d with 0");
        tap_is_str(buf, "vnet0", "gives vnet0");
        tap_is_int(tap_template_expand("p%d-x", 42, buf, sizeof(buf)), 0, "expand p%%d-x with 42");
        tap_is_str(buf, "p42-x", "gives p42-x");
        tap_is_int(tap_template_expand("abcdefghijklmn%d", 10, buf, sizeof(buf)), -ENAMETOOLONG,
                   "an expansion over 15 characters: -ENAMETOOLONG");

        tap_ok(tap_pattern_matches("vnet%d", "vnet0") && tap_pattern_matches("vnet%d", "vnet123") &&
                       tap_pattern_matches("tap-a0", "tap-a0"),
               "patterns match their names");
        tap_ok(!tap_pattern_matches("vnet%d", "vnet") && !tap_pattern_matches("vnet%d", "vnet01") &&
                       !tap_pattern_matches("vnet%d", "vnetx") && !tap_pattern_matches("vnet%d", "xvnet1") &&
                       !tap_pattern_matches("tap-a0", "tap-a1") && !tap_pattern_matches("p%d-x", "p1-y"),
               "and nothing else (no digits, leading zero, other prefix or suffix)");

        uint8_t mac[6];
        char mb[32];
        tap_is_int(tap_mac_parse("52:54:00:AB:cd:01", mac), 0, "a unicast MAC parses");
        tap_is_str(tap_mac_format(mac, mb, sizeof(mb)), "52:54:00:ab:cd:01", "and formats back in lower case");
        tap_ok(tap_mac_parse("01:00:5e:00:00:01", mac) < 0 && tap_mac_parse("ff:ff:ff:ff:ff:ff", mac) < 0 &&
                       tap_mac_parse("00:00:00:00:00:00", mac) < 0,
               "multicast, broadcast and zero MACs refused");
        tap_ok(tap_mac_parse("52:54:00:ab:cd", mac) < 0 && tap_mac_parse("52:54:00:ab:cd:01:02", mac) < 0 &&
                       tap_mac_parse("52-54-00-ab-cd-01", mac) < 0 && tap_mac_parse("52:54:00:ab:cd:+1", mac) < 0 &&
                       tap_mac_parse(" 52:54:00:ab:cd:1", mac) < 0,
               "short, long, dashed, signed or spaced MACs refused");
}

static const char policy_text[] =
        "{ \"version\": 1, \"rules\": [\n"
        "  { \"name\": \"full\", \"match\": { \"uid\": 1000 },\n"
        "    \"tap\": { \"template\": [\"vnet%d\", \"tap-a0\"], \"max_devices\": 2, \"max_queues\": 8,\n"
        "             \"bridges\": [\"br0\"], \"mtu\": \"1280-9000\", \"vnet_hdr\": false, \"persist\": true,\n"
        "             \"adopt_existing\": true, \"vhost\": true } },\n"
        "  { \"name\": \"defaults\", \"match\": { \"uid\": 2000 }, \"tap\": {} },\n"
        "  { \"name\": \"exact-mtu\", \"match\": { \"uid\": 3000 }, \"tap\": { \"mtu\": 1500, \"template\": \"t%d\" } },\n"
        "  { \"name\": \"none\", \"match\": { \"uid\": 4000 } }\n"
        "] }\n";

static void test_section(void) {
        _cleanup_policy_ policy *p = policy_new();
        policy_error err = {};
        char buf[2048];
        int r = policy_load_text(p, "tap.json", policy_text, strlen(policy_text), &err);
        if (!tap_is_int(r, 0, "a policy with tap sections loads"))
                tap_diag("%s", policy_error_string(&err, buf, sizeof(buf)));
        if (r < 0 || p->n_rules != 4)
                return;
        const policy_rule *f = &p->rules[0], *d = &p->rules[1], *e = &p->rules[2];
        tap_ok(f->tap.present && f->tap.n_templates == 2 && streq(f->tap.templates[0], "vnet%d") &&
                       streq(f->tap.templates[1], "tap-a0"),
               "templates: an array");
        tap_ok(f->tap.max_devices == 2 && f->tap.max_queues == 8 && f->tap.n_bridges == 1 &&
                       streq(f->tap.bridges[0], "br0"),
               "max_devices, max_queues, bridges");
        tap_ok(f->tap.mtu_min == 1280 && f->tap.mtu_max == 9000, "mtu range \"1280-9000\"");
        tap_ok(!f->tap.vnet_hdr && f->tap.persist && f->tap.adopt_existing && f->tap.vhost,
               "vnet_hdr, persist, adopt_existing, vhost");
        tap_ok(d->tap.present && d->tap.n_templates == 1 && streq(d->tap.templates[0], "vnet%d") &&
                       d->tap.max_devices == 4 && d->tap.max_queues == 1 && d->tap.n_bridges == 0 &&
                       d->tap.mtu_min == 68 && d->tap.mtu_max == 65535 && d->tap.vnet_hdr && !d->tap.persist &&
                       !d->tap.adopt_existing && !d->tap.vhost,
               "an empty section takes the documented defaults");
        tap_ok(e->tap.mtu_min == 1500 && e->tap.mtu_max == 1500 && e->tap.n_templates == 1, "mtu as one number");
        tap_ok(!p->rules[3].tap.present, "a rule without the section has none");
}

static void broken(const char *tap_json, unsigned column, const char *msg, const char *what) {
        char text[1024];
        snprintf(text, sizeof(text), "{\"version\":1,\"rules\":[{\"name\":\"r\",\"tap\":%s}]}", tap_json);
        _cleanup_policy_ policy *p = policy_new();
        policy_error err = {};
        int r = policy_load_text(p, "b.json", text, strlen(text), &err);
        tap_is_int(r, -EINVAL, "%s: rejected", what);
        tap_ok(err.line == 1 && err.column == column, "%s: position 1:%u (got %u:%u)", what, column, err.line,
               err.column);
        tap_has_str(err.message, msg, "%s: message", what);
        tap_is_int(p->n_rules, 0, "%s: nothing added", what);
}

static void test_broken(void) {
        /* the section starts at column 41 */
        broken("[]", 41, "\"tap\" must be an object, not array", "tap not an object");
        broken("{\"templates\":1}", 42, "unknown tap key 'templates' (allowed: template, max_devices", "unknown key");
        broken("{\"template\":\"v%s\"}", 53, "tap template 'v%s' is invalid", "a stray '%'");
        broken("{\"template\":\"v%d%d\"}", 53, "is invalid", "two %d");
        broken("{\"template\":[]}", 53, "must list 1 to 32 names", "empty template list");
        broken("{\"template\":[\"vnet%d\",7]}", 63, "tap template must be a string, not number", "non-string");
        broken("{\"bridges\":[\"br/0\"]}", 53, "tap bridges 'br/0' is invalid", "bad bridge name");
        broken("{\"max_devices\":0}", 56, "tap max_devices must be an integer from 1 to 64", "max_devices 0");
        broken("{\"max_devices\":65}", 56, "from 1 to 64", "max_devices 65");
        broken("{\"max_queues\":17}", 55, "tap max_queues must be an integer from 1 to 16", "max_queues 17");
        broken("{\"mtu\":\"9000-1280\"}", 48, "LOW <= HIGH", "mtu range reversed");
        broken("{\"mtu\":\"1-9000\"}", 48, "must lie within 68-65535", "mtu below 68");
        broken("{\"mtu\":\"1280-\"}", 48, "tap mtu must be a number or a \"LOW-HIGH\" string", "mtu half range");
        broken("{\"mtu\":\" 1280-9000\"}", 48, "tap mtu must be a number", "mtu with a space");
        broken("{\"mtu\":70000}", 48, "tap mtu must be an integer from 68 to 65535", "mtu too large");
        broken("{\"persist\":\"yes\"}", 52, "tap persist must be true or false, not string", "persist a string");
        broken("{\"vhost\":1}", 50, "tap vhost must be true or false, not number", "vhost a number");
}

static const char *decide(const policy *p, uid_t uid, const char *op, const char *args, bool *allowed, int *r) {
        static char out[600];
        _cleanup_json_ json_value *a = NULL;
        json_parse_error je;
        policy_decision d;
        char msg[512] = "";
        policy_subject s = { .uid = uid, .gid = uid, .cgroup = "/pod", .vm = "vm" };
        if (json_parse(args, strlen(args), false, &a, &je) < 0)
                unit_bail("test args do not parse: %s", args);
        *r = policy_decide(p, &s, op, a, &d, msg, sizeof(msg), NULL, NULL);
        *allowed = d.allowed;
        snprintf(out, sizeof(out), "%s", *r < 0 ? msg : d.reason);
        return out;
}

static void allow(const policy *p, uid_t uid, const char *args, const char *what) {
        bool ok;
        int r;
        const char *why = decide(p, uid, "tap.create", args, &ok, &r);
        tap_ok(r == 0 && ok, "%s: allowed (%s)", what, why);
}

static void deny(const policy *p, uid_t uid, const char *args, const char *needle, const char *what) {
        bool ok;
        int r;
        const char *why = decide(p, uid, "tap.create", args, &ok, &r);
        tap_ok(r == 0 && !ok, "%s: denied", what);
        tap_has_str(why, needle, "%s: reason", what);
}

static void bad(const policy *p, const char *op, const char *args, const char *needle, const char *what) {
        bool ok;
        int r;
        const char *why = decide(p, 1000, op, args, &ok, &r);
        tap_is_int(r, -EINVAL, "%s: bad request", what);
        tap_has_str(why, needle, "%s: message", what);
}

static void test_decide(void) {
        _cleanup_policy_ policy *p = policy_new();
        policy_error err = {};
        if (policy_load_text(p, "tap.json", policy_text, strlen(policy_text), &err) < 0)
                unit_bail("policy does not load: %s", err.message);

        allow(p, 1000, "{\"name\":\"vnet%d\",\"queues\":8,\"mtu\":9000,\"bridge\":\"br0\",\"persist\":true,"
                       "\"mac\":\"52:54:00:00:00:01\"}",
              "everything within the rule");
        allow(p, 1000, "{\"name\":\"vnet12\"}", "an explicit name the template could make");
        allow(p, 1000, "{\"name\":\"tap-a0\"}", "an exact name of the list");
        allow(p, 2000, "{\"name\":\"vnet%d\",\"vnet_hdr\":true}", "defaults allow vnet_hdr");
        deny(p, 1000, "{\"name\":\"eth0\"}", "name 'eth0' is not allowed by the rule's tap templates (vnet%d, tap-a0)",
             "a name outside the templates");
        deny(p, 1000, "{\"name\":\"tap%d\"}", "template 'tap%d' is not allowed", "another template");
        deny(p, 1000, "{\"name\":\"vnet%d\",\"queues\":9}", "9 queues exceed the rule's tap max_queues 8",
             "too many queues");
        deny(p, 1000, "{\"name\":\"vnet%d\",\"vnet_hdr\":true}", "does not allow vnet_hdr", "vnet_hdr not allowed");
        deny(p, 2000, "{\"name\":\"vnet%d\",\"persist\":true}", "does not allow persist", "persist not allowed");
        deny(p, 1000, "{\"name\":\"vnet%d\",\"mtu\":1279}", "MTU 1279 is outside the rule's tap mtu range 1280-9000",
             "MTU below");
        deny(p, 3000, "{\"name\":\"t%d\",\"mtu\":1501}", "outside the rule's tap mtu range 1500-1500", "MTU exact");
        deny(p, 1000, "{\"name\":\"vnet%d\",\"bridge\":\"br1\"}", "bridge 'br1' is not among the rule's tap bridges (br0)",
             "bridge not allowed");
        deny(p, 2000, "{\"name\":\"vnet%d\",\"bridge\":\"br0\"}", "(none)", "no bridges by default");
        deny(p, 4000, "{\"name\":\"vnet%d\"}", "rule 'none' has no section for tap.create", "rule without tap");

        bad(p, "tap.create", "{}", "missing \"name\"", "no name");
        bad(p, "tap.create", "{\"name\":\"abcdefghijklmnop\"}", "longer than 15 characters", "16 characters");
        bad(p, "tap.create", "{\"name\":\"a/b\"}", "not a valid interface name", "a '/'");
        bad(p, "tap.create", "{\"name\":\"v%d%d\"}", "template 'v%d%d' is invalid", "a bad template");
        bad(p, "tap.create", "{\"name\":7}", "\"name\" must be a string, not number", "name a number");
        bad(p, "tap.create", "{\"name\":\"vnet%d\",\"queues\":0}", "\"queues\" must be an integer from 1 to 16",
            "0 queues");
        bad(p, "tap.create", "{\"name\":\"vnet%d\",\"queues\":17}", "from 1 to 16", "17 queues");
        bad(p, "tap.create", "{\"name\":\"vnet%d\",\"mtu\":67}", "\"mtu\" must be an integer from 68 to 65535", "mtu 67");
        bad(p, "tap.create", "{\"name\":\"vnet%d\",\"mac\":\"ff:ff:ff:ff:ff:ff\"}", "unicast MAC", "broadcast MAC");
        bad(p, "tap.create", "{\"name\":\"vnet%d\",\"vnet_hdr\":1}", "\"vnet_hdr\" must be true or false",
            "vnet_hdr a number");
        bad(p, "tap.create", "{\"name\":\"vnet%d\",\"bridge\":\"br 0\"}", "bridge 'br 0' is not a valid", "bad bridge");
        bad(p, "tap.create", "{\"name\":\"vnet%d\",\"owner\":0}", "unknown argument 'owner'", "unknown argument");
        bad(p, "tap.destroy", "{\"name\":\"vnet%d\"}", "not a valid interface name", "destroy takes no template");
        bad(p, "tap.destroy", "{}", "missing \"name\"", "destroy without a name");

        bool ok;
        int r;
        decide(p, 1000, "tap.destroy", "{\"name\":\"vnet0\"}", &ok, &r);
        tap_ok(r == 0 && ok, "tap.destroy is allowed by a rule with a tap section");
        decide(p, 4000, "tap.destroy", "{\"name\":\"vnet0\"}", &ok, &r);
        tap_ok(r == 0 && !ok, "and denied by one without");
}

/* the "bridge" section and bridge.create / bridge.destroy decisions */
static void test_bridge(void) {
        static const char text[] =
                "{ \"version\": 1, \"rules\": [\n"
                "  { \"name\": \"net\", \"match\": { \"uid\": 1000 },\n"
                "    \"bridge\": { \"names\": [\"br0\", \"br1\"], \"enslave\": \"eth0\", \"mtu\": \"1280-9000\" } },\n"
                "  { \"name\": \"tap-only\", \"match\": { \"uid\": 2000 }, \"tap\": {} } ] }\n";
        _cleanup_policy_ policy *p = policy_new();
        policy_error err = {};
        tap_is_int(policy_load_text(p, "b.json", text, strlen(text), &err), 0, "a policy with a bridge section loads");
        const policy_rule *r = &p->rules[0];
        tap_ok(r->bridge.present && r->bridge.n_names == 2 && r->bridge.n_enslave == 1 && r->bridge.max_devices == 1 &&
                       r->bridge.mtu_min == 1280 && r->bridge.mtu_max == 9000 && !r->bridge.adopt_existing,
               "names, enslave, mtu range; max_devices defaults to 1, adopt_existing to false");
        bool ok;
        int q;
        const char *why = decide(p, 1000, "bridge.create", "{\"name\":\"br0\",\"mtu\":1500,\"enslave\":[\"eth0\"]}", &ok, &q);
        tap_ok(q == 0 && ok, "br0 enslaving eth0: allowed (%s)", why);
        why = decide(p, 1000, "bridge.create", "{\"name\":\"br2\"}", &ok, &q);
        tap_ok(q == 0 && !ok, "br2: denied");
        tap_has_str(why, "bridge 'br2' is not among the rule's bridge names (br0, br1)", "br2: reason");
        why = decide(p, 1000, "bridge.create", "{\"name\":\"br0\",\"enslave\":[\"eth1\"]}", &ok, &q);
        tap_has_str(why, "interface 'eth1' is not among the rule's bridge enslave names (eth0)", "eth1: denied");
        why = decide(p, 1000, "bridge.create", "{\"name\":\"br0\",\"mtu\":1000}", &ok, &q);
        tap_has_str(why, "outside the rule's bridge mtu range 1280-9000", "MTU 1000: denied");
        why = decide(p, 2000, "bridge.create", "{\"name\":\"br0\"}", &ok, &q);
        tap_has_str(why, "has no section for bridge.create", "a rule with tap but no bridge section: denied");
        why = decide(p, 1000, "bridge.destroy", "{\"name\":\"br0\"}", &ok, &q);
        tap_ok(q == 0 && ok, "bridge.destroy: allowed (%s)", why);
        bad(p, "bridge.create", "{}", "missing \"name\"", "bridge.create without a name");
        bad(p, "bridge.create", "{\"name\":\"br%d\"}", "not a valid interface name", "a template as bridge name");
        bad(p, "bridge.create", "{\"name\":\"br0\",\"enslave\":[\"br0\"]}", "cannot enslave itself", "itself");
        bad(p, "bridge.create", "{\"name\":\"br0\",\"enslave\":[\"eth0\",\"eth0\"]}", "named twice", "twice");
        bad(p, "bridge.create", "{\"name\":\"br0\",\"enslave\":\"eth0\"}", "must be an array", "not an array");
        bad(p, "bridge.create", "{\"name\":\"br0\",\"mtu\":67}", "\"mtu\" must be an integer from 68", "MTU 67");

        static const char nonames[] = "{ \"version\": 1, \"rules\": [ { \"name\": \"x\", \"bridge\": {} } ] }";
        _cleanup_policy_ policy *p2 = policy_new();
        tap_is_int(policy_load_text(p2, "n.json", nonames, strlen(nonames), &err), -EINVAL,
                   "a bridge section without names is refused");
        tap_has_str(err.message, "bridge needs \"names\"", "and says so");
        static const char unknown[] =
                "{ \"version\": 1, \"rules\": [ { \"name\": \"x\", \"bridge\": { \"names\": \"br0\", \"stp\": true } } ] }";
        tap_is_int(policy_load_text(p2, "u.json", unknown, strlen(unknown), &err), -EINVAL, "an unknown bridge key");
        tap_has_str(err.message, "unknown bridge key 'stp'", "is refused by name");
}

int main(void) {
        test_names();
        test_bridge();
        test_section();
        test_broken();
        test_decide();
        return tap_done();
}
