/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-policy-ops.c - the operations' policy sections: cgroup and sched
 * (CPU lists, cgroup targets), via seccomp with memlock's "unlimited"
 * answer, and via/manage for D-Bus callers.
 */
#include <inttypes.h>
#include <stdio.h>

#include "policy-util.h"
#include "tap.h"
#include "unit-util.h"

/* --- cgroup and sched sections, CPU lists, cgroup targets --- */

static const char thread_policy[] =
        "{ \"version\": 1, \"rules\": [\n"
        "  { \"name\": \"placer\", \"match\": { \"uid\": 1000 },\n"
        "    \"cgroup\": { \"targets\": [\"housekeeping\", \"vcpu*\"], \"create\": true, \"cpus\": \"0-3\" },\n"
        "    \"sched\": { \"policies\": [\"other\", \"batch\", \"fifo\"], \"max_priority\": 10, \"min_nice\": 0,\n"
        "               \"cpus\": \"0-1,8\", \"max_rttime_us\": 200000, \"burst\": \"25/20s\" } },\n"
        "  { \"name\": \"no-create\", \"match\": { \"uid\": 2000 },\n"
        "    \"cgroup\": { \"targets\": \"housekeeping\" },\n"
        "    \"sched\": { \"policies\": [\"idle\"] } }\n"
        "] }\n";

static void test_thread_sections(void) {
        _cleanup_policy_ policy *p = policy_new();
        policy_error err = {};
        char msg[512], buf[256];
        cpu_mask m, m2;
        unsigned cpu = 0;

        /* CPU lists */
        tap_is_int(cpu_mask_parse("0-3,8, 10", &m, msg, sizeof(msg)), 0, "cpu list '0-3,8, 10' parses");
        tap_is_str(cpu_mask_format(&m, buf, sizeof(buf)), "0-3,8,10", "and formats back");
        tap_is_int(cpu_mask_parse("63-64,127,1000-1023", &m2, msg, sizeof(msg)), 0, "a list across 64-bit words parses");
        tap_is_str(cpu_mask_format(&m2, buf, sizeof(buf)), "63-64,127,1000-1023", "and formats back, empty words skipped");
        tap_is_int(cpu_mask_parse("5", &m2, msg, sizeof(msg)), 0, "cpu list '5' parses");
        tap_ok(!cpu_mask_subset(&m2, &m, &cpu) && cpu == 5, "5 is not within 0-3,8,10, and CPU 5 is named");
        tap_is_int(cpu_mask_parse("2,8", &m2, msg, sizeof(msg)), 0, "cpu list '2,8' parses");
        tap_ok(cpu_mask_subset(&m2, &m, NULL), "2,8 is within 0-3,8,10");
        tap_is_int(cpu_mask_parse("3-1", &m, msg, sizeof(msg)), -EINVAL, "range 3-1 is refused");
        tap_has_str(msg, "range 3-1 is empty", "with a message");
        tap_is_int(cpu_mask_parse("", &m, msg, sizeof(msg)), -EINVAL, "an empty list is refused");
        tap_is_int(cpu_mask_parse("0,", &m, msg, sizeof(msg)), -EINVAL, "a trailing comma is refused");
        tap_is_int(cpu_mask_parse("a", &m, msg, sizeof(msg)), -EINVAL, "letters are refused");
        tap_has_str(msg, "is not like \"0-3,8\"", "with a message showing the form");
        tap_is_int(cpu_mask_parse("1024", &m, msg, sizeof(msg)), -EINVAL, "CPU 1024 is refused");
        tap_has_str(msg, "below 1024", "with the bound");
        /* to and from the kernel's cpu_set_t, checked against glibc's own CPU_ISSET/CPU_SET, bit by bit */
        cpu_set_t set;
        bool same = true;
        tap_is_int(cpu_mask_parse("0,5,63-65,127-128,700,1023", &m, msg, sizeof(msg)), 0, "a list across words");
        cpu_mask_to_set(&m, &set);
        for (unsigned c = 0; c < CPU_SETSIZE; c++)
                same = same && !!CPU_ISSET(c, &set) == cpu_mask_test(&m, c);
        tap_ok(same && CPU_COUNT(&set) == 9, "to a cpu_set_t: the same 9 CPUs");
        CPU_ZERO(&set);
        CPU_SET(1, &set);
        CPU_SET(64, &set);
        CPU_SET(1023, &set);
        cpu_mask_from_set(&set, &m2);
        tap_is_str(cpu_mask_format(&m2, buf, sizeof(buf)), "1,64,1023", "from a cpu_set_t: CPUs 1, 64 and 1023");

        /* cgroup targets */
        tap_is_int(cgroup_target_check("housekeeping", false, msg, sizeof(msg)), 0, "target housekeeping");
        tap_is_int(cgroup_target_check("a/b.c/d_e-f", false, msg, sizeof(msg)), 0, "target a/b.c/d_e-f");
        tap_is_int(cgroup_target_check("../pod-b", false, msg, sizeof(msg)), -EINVAL, "target ../pod-b refused");
        tap_has_str(msg, "'..' component", "naming the '..' component");
        tap_is_int(cgroup_target_check("a/../../b", false, msg, sizeof(msg)), -EINVAL, "target a/../../b refused");
        tap_is_int(cgroup_target_check("./a", false, msg, sizeof(msg)), -EINVAL, "target ./a refused");
        tap_is_int(cgroup_target_check("/kubepods", false, msg, sizeof(msg)), -EINVAL, "absolute target refused");
        tap_has_str(msg, "is absolute", "saying it is absolute");
        tap_is_int(cgroup_target_check("a//b", false, msg, sizeof(msg)), -EINVAL, "empty component refused");
        tap_is_int(cgroup_target_check("a/", false, msg, sizeof(msg)), -EINVAL, "trailing slash refused");
        tap_is_int(cgroup_target_check("", false, msg, sizeof(msg)), -EINVAL, "empty target refused");
        tap_is_int(cgroup_target_check("a b", false, msg, sizeof(msg)), -EINVAL, "a space refused");
        tap_has_str(msg, "contains ' '", "naming the character");
        tap_is_int(cgroup_target_check("vcpu*", false, msg, sizeof(msg)), -EINVAL, "'*' refused in a request");
        tap_is_int(cgroup_target_check("vcpu*", true, msg, sizeof(msg)), 0, "'*' allowed in a policy glob");
        tap_is_int(cgroup_target_check("a/b/c/d/e/f/g/h/i", false, msg, sizeof(msg)), -EINVAL, "9 levels refused");

        /* sections */
        tap_is_int(policy_load_text(p, "t.json", thread_policy, strlen(thread_policy), &err), 0,
                   "policy with cgroup and sched sections loads (%s)", err.message);
        const policy_rule *r = rule_named(p, "placer");
        tap_ok(r && r->cgroup.present && r->cgroup.n_targets == 2 && r->cgroup.create && r->cgroup.has_cpus,
               "placer: cgroup targets, create, cpus");
        tap_is_str(r ? cpu_mask_format(&r->sched.cpus, buf, sizeof(buf)) : "", "0-1,8", "placer: sched cpus");
        tap_ok(r && r->sched.present && r->sched.max_priority == 10 && r->sched.max_rttime_us == 200000 &&
                       r->sched.burst_n == 25 && r->sched.burst_usec == 20000000 &&
                       r->sched.policies == ((1u << SCHED_OTHER) | (1u << SCHED_BATCH) | (1u << SCHED_FIFO)),
               "placer: sched policies, ceiling, rttime, burst 25/20s");
        r = rule_named(p, "no-create");
        tap_ok(r && r->cgroup.n_targets == 1 && !r->cgroup.create && !r->sched.has_cpus && r->sched.min_nice == 0,
               "no-create: a single target string, create defaults to false");

        broken(RULE("{ \"name\": \"a\", \"cgroup\": { \"create\": true } }"), 3, 38, "cgroup section needs \"targets\"",
               "cgroup without targets");
        broken(RULE("{ \"name\": \"a\", \"cgroup\": { \"targets\": [\"../x\"] } }"), 3, 52, "'..' component",
               "cgroup target with ..");
        broken(RULE("{ \"name\": \"a\", \"cgroup\": { \"targets\": \"a/**\" } }"), 3, 51, "'**' is not allowed",
               "cgroup target with **");
        broken(RULE("{ \"name\": \"a\", \"cgroup\": { \"targets\": \"a\", \"cpus\": \"x\" } }"), 3, 64,
               "cgroup \"cpus\": CPU list 'x'", "cgroup cpus not a list");
        broken(RULE("{ \"name\": \"a\", \"cgroup\": { \"targets\": \"a\", \"create\": 1 } }"), 3, 66,
               "cgroup \"create\" must be true or false", "cgroup create not a bool");
        broken(RULE("{ \"name\": \"a\", \"cgroup\": { \"targets\": \"a\", \"move\": 1 } }"), 3, 56,
               "unknown cgroup key 'move' (allowed: targets, create, cpus)", "unknown cgroup key");
        broken(RULE("{ \"name\": \"a\", \"sched\": { \"max_priority\": 5 } }"), 3, 37, "sched section needs \"policies\"",
               "sched without policies");
        broken(RULE("{ \"name\": \"a\", \"sched\": { \"policies\": [\"deadline\"] } }"), 3, 52,
               "unknown scheduling policy 'deadline' (allowed: other, batch, idle, fifo, rr)", "unknown policy");
        broken(RULE("{ \"name\": \"a\", \"sched\": { \"policies\": [\"fifo\"], \"max_rttime_us\": 1 } }"), 3, 37,
               "allows fifo/rr and so needs \"max_priority\"", "fifo without a ceiling");
        broken(RULE("{ \"name\": \"a\", \"sched\": { \"policies\": [\"rr\"], \"max_priority\": 5 } }"), 3, 37,
               "needs \"max_rttime_us\"", "rr without max_rttime_us");
        broken(RULE("{ \"name\": \"a\", \"sched\": { \"policies\": [\"rr\"], \"max_priority\": 100 } }"), 3, 75,
               "sched \"max_priority\" must be an integer from 1 to 99", "max_priority 100");
        broken(RULE("{ \"name\": \"a\", \"sched\": { \"policies\": [\"other\"], \"min_nice\": -21 } }"), 3, 74,
               "sched \"min_nice\" must be an integer from -20 to 19", "min_nice -21");
        broken(RULE("{ \"name\": \"a\", \"sched\": { \"policies\": [\"other\"], \"burst\": \"25/20h\" } }"), 3, 71,
               "sched \"burst\" must be a string like \"25/20s\"", "burst with an unknown unit");
        broken(RULE("{ \"name\": \"a\", \"sched\": { \"policies\": [\"other\"], \"burst\": \"0/1s\" } }"), 3, 71,
               "sched \"burst\" must be a string like", "burst of 0");
        broken(RULE("{ \"name\": \"a\", \"sched\": { \"policies\": [\"other\"], \"prio\": 1 } }"), 3, 62,
               "unknown sched key 'prio'", "unknown sched key");
        broken(RULE("{ \"name\": \"a\", \"sched\": { \"policies\": [\"fifo\"], \"max_priority\": 5, "
                    "\"safety\": \"dedicated\" } }"), 3, 37, "safety \"dedicated\" needs \"cpus\"",
               "dedicated without cpus");
        broken(RULE("{ \"name\": \"a\", \"sched\": { \"policies\": [\"fifo\"], \"max_priority\": 5, "
                    "\"safety\": \"dedicated\", \"cpus\": \"1\", \"max_rttime_us\": 1000 } }"), 3, 133,
               "\"max_rttime_us\" does not apply to safety \"dedicated\"", "dedicated with max_rttime_us");
        broken(RULE("{ \"name\": \"a\", \"sched\": { \"policies\": [\"fifo\"], \"max_priority\": 5, "
                    "\"safety\": \"none\" } }"), 3, 90, "sched \"safety\" must be \"rttime\"", "unknown safety");
        {
                static const char rt[] = RULE("{ \"name\": \"rt\", \"sched\": { \"policies\": [\"fifo\"], "
                                              "\"max_priority\": 5, \"safety\": \"dedicated\", \"cpus\": \"1-2\" } }");
                _cleanup_policy_ policy *q = policy_new();
                tap_is_int(policy_load_text(q, "rt.json", rt, strlen(rt), &err), 0,
                           "safety dedicated with cpus and no max_rttime_us loads (%s)", err.message);
                const policy_rule *d = rule_named(q, "rt");
                tap_ok(d && d->sched.safety == RT_SAFETY_DEDICATED && d->sched.has_cpus, "rt: safety dedicated on cpus");
                decided(decide(q, 1000, "sched.set", "{\"tid\":7,\"policy\":\"fifo\",\"priority\":5}"), true, "rt",
                        "safety dedicated: confined to CPUs 1-2", "fifo under dedicated");
                decided(decide(q, 1000, "sched.set", "{\"tid\":7,\"policy\":\"fifo\",\"priority\":5,\"cpus\":\"2\"}"),
                        true, "rt", "confined to CPUs 2", "fifo under dedicated on a subset");
                decided(decide(q, 1000, "sched.set", "{\"tid\":7,\"policy\":\"fifo\",\"priority\":5,\"cpus\":\"0\"}"),
                        false, "rt", "CPU 0, outside the rule's sched cpus", "fifo under dedicated off its cpus");
        }

        /* decisions */
        decided(decide(p, 1000, "cgroup.move", "{\"tids\":[1,2],\"target\":\"housekeeping\",\"create\":true}"), true,
                "placer", "matches the rule's cgroup target 'housekeeping'", "move to housekeeping");
        decided(decide(p, 1000, "cgroup.move", "{\"pid\":7,\"target\":\"vcpu3\"}"), true, "placer",
                "target 'vcpu3' matches the rule's cgroup target 'vcpu*'", "move to vcpu3 by glob");
        decided(decide(p, 1000, "cgroup.move", "{\"pid\":7,\"target\":\"vcpu3/x\"}"), false, "placer",
                "target 'vcpu3/x' matches none of the rule's cgroup targets", "'*' stays in one component");
        decided(decide(p, 2000, "cgroup.move", "{\"pid\":7,\"target\":\"housekeeping\",\"create\":true}"), false,
                "no-create", "does not let the broker create cgroups", "create not allowed");
        decided(decide(p, 1000, "cgroup.move", "{\"tids\":[1],\"target\":\"vcpu0\",\"create\":true,\"cpus\":\"2-3\"}"),
                true, "placer", "matches", "cpuset cpus within the rule");
        decided(decide(p, 1000, "cgroup.move", "{\"tids\":[1],\"target\":\"vcpu0\",\"create\":true,\"cpus\":\"4\"}"),
                false, "placer", "cpus '4' include CPU 4, outside the rule's cgroup cpus '0-3'", "cpuset cpus outside");
        decided(decide(p, 2000, "cgroup.move", "{\"tids\":[1],\"target\":\"housekeeping\"}"), true, "no-create",
                "matches", "existing target without create");
        rejected(decide(p, 1000, "cgroup.move", "{\"tids\":[1],\"target\":\"../x\"}"), -EINVAL, "'..' component",
                 "move to ..");
        rejected(decide(p, 1000, "cgroup.move", "{\"tids\":[1],\"pid\":2,\"target\":\"a\"}"), -EINVAL,
                 "give exactly one of \"tids\" (threads) or \"pid\"", "tids and pid");
        rejected(decide(p, 1000, "cgroup.move", "{\"target\":\"a\"}"), -EINVAL, "give exactly one of", "neither");
        rejected(decide(p, 1000, "cgroup.move", "{\"tids\":[],\"target\":\"a\"}"), -EINVAL,
                 "\"tids\" must be a non-empty array", "empty tids");
        rejected(decide(p, 1000, "cgroup.move", "{\"tids\":[3,3],\"target\":\"a\"}"), -EINVAL, "tid 3 is listed twice",
                 "duplicate tid");
        rejected(decide(p, 1000, "cgroup.move", "{\"tids\":[\"3\"],\"target\":\"a\"}"), -EINVAL,
                 "\"tids\" must be a thread id", "tid as a string");
        rejected(decide(p, 1000, "cgroup.move", "{\"tids\":[3],\"target\":\"a\",\"cpus\":\"0\"}"), -EINVAL,
                 "applies only to a target the broker creates", "cpus without create");
        rejected(decide(p, 1000, "cgroup.move", "{\"tids\":[3]}"), -EINVAL, "\"target\" must be a cgroup path",
                 "missing target");

        decided(decide(p, 1000, "sched.set", "{\"tid\":5,\"policy\":\"fifo\",\"priority\":10}"), true, "placer",
                "fifo priority 10 is within the rule's max_priority 10", "fifo at the ceiling");
        decided(decide(p, 1000, "sched.set", "{\"tid\":5,\"policy\":\"fifo\",\"priority\":11}"), false, "placer",
                "priority 11 exceeds the rule's max_priority 10", "fifo above the ceiling");
        decided(decide(p, 1000, "sched.set", "{\"tid\":5,\"policy\":\"rr\",\"priority\":1}"), false, "placer",
                "policy rr is not among the rule's sched policies", "rr not listed");
        decided(decide(p, 1000, "sched.set", "{\"tid\":5,\"policy\":\"batch\",\"nice\":3,\"cpus\":\"8\"}"), true,
                "placer", "batch nice 3 is allowed", "batch nice 3 on CPU 8");
        decided(decide(p, 1000, "sched.set", "{\"tid\":5,\"policy\":\"other\",\"nice\":-1}"), false, "placer",
                "nice -1 is below the rule's min_nice 0", "nice below min_nice");
        decided(decide(p, 1000, "sched.set", "{\"tid\":5,\"policy\":\"other\",\"cpus\":\"0-2\"}"), false, "placer",
                "cpus '0-2' include CPU 2, outside the rule's sched cpus '0-1,8'", "affinity outside");
        decided(decide(p, 2000, "sched.set", "{\"tid\":5,\"policy\":\"idle\",\"cpus\":\"0\"}"), false, "no-create",
                "the rule allows no affinity changes", "affinity without rule cpus");
        rejected(decide(p, 1000, "sched.set", "{\"tid\":5,\"policy\":\"fifo\"}"), -EINVAL,
                 "policy fifo needs \"priority\" (1-99)", "fifo without priority");
        rejected(decide(p, 1000, "sched.set", "{\"tid\":5,\"policy\":\"fifo\",\"priority\":0}"), -EINVAL,
                 "\"priority\" must be an integer from 1 to 99", "priority 0");
        rejected(decide(p, 1000, "sched.set", "{\"tid\":5,\"policy\":\"other\",\"priority\":1}"), -EINVAL,
                 "\"priority\" applies only to fifo and rr, not other", "priority for other");
        rejected(decide(p, 1000, "sched.set", "{\"tid\":5,\"policy\":\"fifo\",\"priority\":1,\"nice\":0}"), -EINVAL,
                 "\"nice\" does not apply to policy fifo", "nice for fifo");
        rejected(decide(p, 1000, "sched.set", "{\"tid\":5,\"policy\":\"batch\",\"nice\":20}"), -EINVAL,
                 "\"nice\" must be an integer from -20 to 19", "nice 20");
        rejected(decide(p, 1000, "sched.set", "{\"tid\":5,\"policy\":\"deadline\"}"), -EINVAL,
                 "\"policy\" must be one of other, batch, idle, fifo, rr", "unknown policy");
        rejected(decide(p, 1000, "sched.set", "{\"policy\":\"other\"}"), -EINVAL, "missing \"tid\"", "missing tid");
        rejected(decide(p, 1000, "sched.set", "{\"tid\":5,\"policy\":\"other\",\"cpus\":\"x\"}"), -EINVAL,
                 "sched.set: CPU list 'x'", "bad cpus");
}

/* --- via seccomp and the memlock "unlimited" answer (delegate-run) --- */

static const char seccomp_policy[] =
        "{\"version\":1,\"rules\":[\n"
        "{\"name\":\"clamp\",\"match\":{\"uid\":1000,\"via\":\"seccomp\"},"
        "\"memlock\":{\"max\":\"1G\",\"unlimited\":\"max\"}},\n"
        "{\"name\":\"deny\",\"match\":{\"uid\":2000,\"via\":[\"seccomp\"]},"
        "\"memlock\":{\"max\":\"1G\",\"unlimited\":\"deny\"}},\n"
        "{\"name\":\"socket\",\"match\":{\"uid\":1000},\"memlock\":{\"max\":\"2G\"}}\n"
        "]}";

static void test_seccomp_unlimited(void) {
        _cleanup_policy_ policy *p = policy_new();
        tap_is_int(load(p, "s.json", seccomp_policy, NULL), 0, "a policy with via seccomp and memlock unlimited loads");
        tap_ok(p->rules[0].memlock.unlimited_max && !p->rules[1].memlock.unlimited_max, "unlimited max/deny parse");
        decided(decide_via(p, 1000, POLICY_VIA_SECCOMP, "memlock.set", "{\"pid\":0,\"soft\":\"unlimited\",\"hard\":\"unlimited\"}"),
                true, "clamp", "sets its memlock max 1 GiB instead", "\"unlimited\": \"max\" allows unlimited as max");
        decided(decide_via(p, 1000, POLICY_VIA_SECCOMP, "memlock.set", "{\"pid\":0,\"soft\":\"2G\"}"), false, "clamp",
                "exceeds the rule's memlock max", "a finite request above max is still denied");
        decided(decide_via(p, 2000, POLICY_VIA_SECCOMP, "memlock.set", "{\"pid\":0,\"soft\":\"unlimited\"}"), false,
                "deny", "exceeds the rule's memlock max", "\"unlimited\": \"deny\" denies");
        decided(decide_via(p, 1000, POLICY_VIA_SOCKET, "memlock.set", "{\"pid\":0,\"soft\":\"2G\"}"), true, "socket",
                "within", "via socket the seccomp rule does not match");
        decided(decide_via(p, 2000, POLICY_VIA_SOCKET, "memlock.set", "{\"pid\":0,\"soft\":1}"), false, NULL,
                "(default deny)", "nothing for uid 2000 over the socket");
        decided(decide_via(p, 3000, POLICY_VIA_SECCOMP, "memlock.set", "{\"pid\":0,\"soft\":1}"), false, NULL,
                "via seccomp (default deny)", "default deny says via seccomp");
        memlock_args a = { .soft = UINT64_MAX, .hard = UINT64_MAX };
        memlock_args_clamp(&p->rules[0], &a);
        tap_ok(a.soft == 1ULL << 30 && a.hard == 1ULL << 30, "memlock_args_clamp() sets max for unlimited");
        a = (memlock_args) { .soft = UINT64_MAX, .hard = UINT64_MAX };
        memlock_args_clamp(&p->rules[1], &a);
        tap_ok(a.soft == UINT64_MAX, "... and not with \"unlimited\": \"deny\"");
        policy_via v;
        tap_ok(policy_via_from_name("seccomp", &v) == 0 && v == POLICY_VIA_SECCOMP &&
                       streq(policy_via_name(POLICY_VIA_SECCOMP), "seccomp"),
               "via seccomp names");
        broken(RULE("{\"name\":\"a\",\"memlock\":{\"max\":1,\"unlimited\":\"yes\"}}"), 3, 56,
               "memlock unlimited must be \"deny\" or \"max\"", "a bad memlock unlimited");
}

/* --- via and manage (D-Bus callers) --- */

static const char via_policy[] = "{\"version\":1,\"rules\":[\n"
                                 "{\"name\":\"bus-admin\",\"match\":{\"uid\":0,\"via\":\"dbus\"},"
                                 "\"manage\":[\"inspect\",\"evaluate\"]},\n"
                                 "{\"name\":\"bus-all\",\"match\":{\"uid\":7,\"via\":[\"dbus\"]},"
                                 "\"manage\":[\"inspect\",\"evaluate\",\"reload\",\"revoke\"],\"memlock\":{\"max\":\"1G\"}},\n"
                                 "{\"name\":\"socket-only\",\"match\":{\"uid\":1000,\"via\":\"socket\"},"
                                 "\"memlock\":{\"max\":\"1G\"}},\n"
                                 "{\"name\":\"either\",\"match\":{\"uid\":2000,\"via\":[\"socket\",\"dbus\"]},"
                                 "\"memlock\":{\"max\":\"1G\"}}\n"
                                 "]}";

static void test_via_manage(void) {
        _cleanup_policy_ policy *p = policy_new();
        tap_is_int(load(p, "v.json", via_policy, NULL), 0, "via/manage policy loads");
        tap_ok(p->rules[0].via_mask == 1u << POLICY_VIA_DBUS && p->rules[0].manage.present &&
                       p->rules[0].manage.actions == (MANAGE_INSPECT | MANAGE_EVALUATE),
               "via \"dbus\" and a manage list parse");
        tap_ok(p->rules[3].via_mask == ((1u << POLICY_VIA_DBUS) | (1u << POLICY_VIA_SOCKET)) && !p->rules[3].manage.present,
               "via as a list of both");

        decided(decide_via(p, 0, POLICY_VIA_DBUS, "manage.inspect", NULL), true, "bus-admin",
                "rule 'bus-admin' manage list includes 'inspect'", "root over D-Bus may inspect");
        decided(decide_via(p, 0, POLICY_VIA_DBUS, "manage.reload", NULL), false, "bus-admin",
                "rule 'bus-admin' manage list does not include 'reload'", "but not reload");
        decided(decide_via(p, 0, POLICY_VIA_SOCKET, "manage.inspect", NULL), false, NULL,
                "no rule matches uid 0, cgroup '/system', vm '' (default deny)", "via socket the dbus rule does not match");
        decided(decide_via(p, 1, POLICY_VIA_DBUS, "manage.inspect", "{}"), false, NULL, "via dbus (default deny)",
                "another uid over D-Bus: default deny, saying via dbus");
        decided(decide_via(p, 7, POLICY_VIA_DBUS, "manage.revoke", NULL), true, "bus-all", "includes 'revoke'",
                "all four actions");
        decided(decide_via(p, 7, POLICY_VIA_DBUS, "memlock.set", "{\"pid\":0,\"soft\":1}"), true, "bus-all",
                "within", "a D-Bus rule with a memlock section allows memlock.set over D-Bus");
        decided(decide_via(p, 1000, POLICY_VIA_DBUS, "memlock.set", "{\"pid\":0,\"soft\":1}"), false, NULL,
                "default deny", "a socket-only rule does not match a D-Bus caller");
        decided(decide_via(p, 1000, POLICY_VIA_SOCKET, "memlock.set", "{\"pid\":0,\"soft\":1}"), true, "socket-only",
                "within", "but matches the socket");
        decided(decide_via(p, 2000, POLICY_VIA_DBUS, "memlock.set", "{\"pid\":0,\"soft\":1}"), true, "either",
                "within", "via [socket, dbus] matches D-Bus");
        decided(decide_via(p, 2000, POLICY_VIA_DBUS, "manage.inspect", NULL), false, "either",
                "rule 'either' has no section for manage.inspect", "a rule without manage denies management");
        rejected(decide_via(p, 0, POLICY_VIA_DBUS, "manage.inspect", "{\"x\":1}"), -EINVAL,
                 "manage.inspect takes no arguments", "manage ops take no arguments");
        tap_ok(op_is_bus_only("manage.reload") && !op_is_bus_only("memlock.set"), "manage.* is D-Bus only");
        tap_is_str(policy_via_name(POLICY_VIA_DBUS), "dbus", "via name");
        policy_via v;
        tap_ok(policy_via_from_name("dbus", &v) == 0 && v == POLICY_VIA_DBUS &&
                       policy_via_from_name("socket", &v) == 0 && v == POLICY_VIA_SOCKET &&
                       policy_via_from_name("tcp", &v) == -EINVAL,
               "via names parse");

        broken(RULE("{\"name\":\"a\",\"match\":{\"via\":\"tcp\"}}"), 3, 40,
               "unknown via 'tcp' (allowed: socket, dbus, seccomp)", "unknown via");
        broken(RULE("{\"name\":\"a\",\"match\":{\"via\":[]}}"), 3, 40, "via list is empty", "empty via list");
        broken(RULE("{\"name\":\"a\",\"manage\":[\"inspect\",\"rm\"]}"), 3, 45,
               "unknown manage action 'rm' (allowed: inspect, evaluate, reload, revoke)", "unknown manage action");
        broken(RULE("{\"name\":\"a\",\"manage\":true}"), 3, 34, "manage action must be a string or an array",
               "manage must be strings");
}

int main(void) {
        test_thread_sections();
        test_via_manage();
        test_seccomp_unlimited();
        return tap_done();
}
