/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-wire.c - one datagram as the broker receives it: the JSON parser
 * (common/json-parse.c) without comments, the message shape (hello or
 * request), every operation's argument parser and policy check
 * (engine/ops*.c) against a policy with every section, and the
 * generator (common/json-gen.c): dump(parse(dump(v))) must equal dump(v).
 * The parse without positions (JSON_PARSE_NO_POSITIONS, what the library
 * and the broker use for messages) must agree with the one with them:
 * outcome, error, tree; and json-parse.c's own reader must have taken
 * every valid text without a \u escape (yajl's parser not run), and
 * yajl's parser read an invalid one only once (to locate its error).
 *
 * Seeds: tests/fuzz/corpus/wire (a hello and a valid request of each op).
 */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"
#include "fuzz-policy-once.h"
#include "json-parse-stats.h"
#include "ops.h"
#include "wire.h"
#include "policy.h"

static const char fuzz_policy[] =
        "{ \"version\": 1, \"rules\": [\n"
        "  { \"name\": \"everything\", \"match\": { \"uid\": \"1000-1999\", \"cgroup\": \"/kubepods.slice/**\", \"vm\": \"vm-*\" },\n"
        "    \"memlock\": { \"max\": \"64G\" },\n"
        "    \"cgroup\": { \"targets\": [\"housekeeping\", \"vcpu*\"], \"create\": true, \"cpus\": \"0-3\" },\n"
        "    \"sched\": { \"policies\": [\"other\", \"batch\", \"fifo\", \"rr\"], \"max_priority\": 10, \"min_nice\": -5,\n"
        "               \"cpus\": \"0-3\", \"max_rttime_us\": 200000, \"burst\": \"64/10s\" },\n"
        "    \"tap\": { \"template\": [\"vnet%d\", \"tap0\"], \"max_devices\": 4, \"max_queues\": 8,\n"
        "             \"bridges\": [\"br0\"], \"mtu\": \"1280-9000\", \"persist\": true, \"adopt_existing\": true },\n"
        "    \"kvmi\": { \"gpa\": [\"0-0x27fffffff\"], \"access\": \"rw\", \"max_entries\": 1000 } },\n"
        "  { \"name\": \"memlock-only\", \"match\": { \"uid\": 2000 }, \"memlock\": { \"max\": \"1G\" } }\n"
        "] }\n";

static const policy *the_policy(void) {
        static policy *p;
        return fuzz_policy_once(&p, fuzz_policy, sizeof(fuzz_policy) - 1);
}

/* Every argument parser on @args, whatever the op: none may crash or leak. */
static void parse_all_args(const json_value *args) {
        char msg[512];
        memlock_args ma;
        (void) memlock_args_parse(args, &ma, msg, sizeof(msg));
        cgroup_move_args ca = {};
        if (cgroup_move_args_parse(args, &ca, msg, sizeof(msg)) == 0)
                cgroup_move_args_done(&ca);
        sched_args sa;
        (void) sched_args_parse(args, &sa, msg, sizeof(msg));
        tap_create_args ta;
        (void) tap_create_args_parse(args, &ta, msg, sizeof(msg));
        tap_destroy_args td;
        (void) tap_destroy_args_parse(args, &td, msg, sizeof(msg));
        bridge_create_args ba;
        (void) bridge_create_args_parse(args, &ba, msg, sizeof(msg));
        (void) bridge_destroy_args_parse(args, &td, msg, sizeof(msg));
        if (!args || args->type == JSON_OBJECT) {
                bool keyed;
                const char *secret;
                (void) kvmi_attach_args_parse(args, &keyed, &secret, msg, sizeof(msg));
                int64_t sock;
                (void) kvmi_connect_args_parse(args, &sock, msg, sizeof(msg));
                kvmi_spa_args ka = {};
                if (kvmi_spa_args_parse(args, &ka, msg, sizeof(msg)) == 0)
                        free(ka.entries);
        }
}

static void decide(const char *op, const json_value *args) {
        static const policy_subject subjects[] = {
                { .uid = 1000, .gid = 1000, .cgroup = "/kubepods.slice/pod-a", .vm = "vm-1" },
                { .uid = 2000, .gid = 2000, .cgroup = "/kubepods.slice/pod-b", .vm = NULL },
                { .uid = 0, .gid = 0, .cgroup = "/", .vm = "other" },
        };
        for (size_t i = 0; i < sizeof(subjects) / sizeof(subjects[0]); i++) {
                policy_decision d;
                char msg[512];
                int r = policy_decide(the_policy(), &subjects[i], op, args, &d, msg, sizeof(msg), NULL, NULL);
                FUZZ_ASSERT(r == 0 || r == -EINVAL || r == -EOPNOTSUPP || r == -ENOMEM);
                if (r == 0)
                        FUZZ_ASSERT(memchr(d.reason, 0, sizeof(d.reason)));
        }
}

static void roundtrip(const json_value *v) {
        _cleanup_free_ char *a = NULL, *b = NULL;
        if (json_dump(v, &a) < 0)
                return;
        _cleanup_json_ json_value *w = NULL;
        json_parse_error je;
        int r = json_parse(a, strlen(a), false, &w, &je);
        if (r == -ENOMEM)
                return;
        if (r < 0) {
                fprintf(stderr, "generated JSON does not parse (%u:%u: %s): %s\n", je.line, je.column, je.message, a);
                abort();
        }
        FUZZ_ASSERT(json_dump(w, &b) == 0);
        if (strcmp(a, b) != 0) {
                fprintf(stderr, "dump/parse/dump differs:\n  %s\n  %s\n", a, b);
                abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size > DELEGATE_MAX_MESSAGE)
                return 0; /* the transport never delivers more */
        _cleanup_json_ json_value *m = NULL, *fast = NULL;
        json_parse_error je, fe;
        int r = json_parse((const char *) data, size, false, &m, &je);
        /* the library's and the broker's parse of a message, which does not locate each token: the same
         * outcome, the same error at the same place */
        unsigned long runs = json_parse_yajl_runs;
        int fr = json_parse_flags((const char *) data, size, JSON_PARSE_NO_POSITIONS, &fast, &fe);
        runs = json_parse_yajl_runs - runs;
        if (r != -ENOMEM && fr != -ENOMEM) {
                FUZZ_ASSERT(fr == r);
                FUZZ_ASSERT(r == 0 || (fe.line == je.line && fe.column == je.column && streq(fe.message, je.message)));
                if (!memmem(data, size, "\\u", 2))
                        FUZZ_ASSERT(runs == (fr == 0 ? 0 : 1));
        }
        if (r < 0) {
                FUZZ_ASSERT(memchr(je.message, 0, sizeof(je.message)));
                return 0;
        }
        if (fr == 0) {
                _cleanup_free_ char *a = NULL, *b = NULL;
                if (json_dump(m, &a) == 0 && json_dump(fast, &b) == 0)
                        FUZZ_ASSERT(streq(a, b));
        }
        roundtrip(m);
        if (m->type != JSON_OBJECT)
                return 0;

        /* a hello: the fields the broker reads */
        const json_value *type = json_get(m, "type");
        if (json_is_string(type)) {
                int64_t api;
                (void) json_to_i64(json_get(m, "api"), &api);
                const json_value *vm = json_get(m, "vm");
                if (json_is_string(vm))
                        (void) vm_name_valid(vm->string.str);
                return 0;
        }

        /* a request */
        uint64_t id;
        (void) json_to_u64(json_get(m, "id"), &id);
        const json_value *op = json_get(m, "op"), *args = json_get(m, "args");
        if (args && args->type != JSON_OBJECT)
                return 0;
        parse_all_args(args);
        if (json_is_string(op))
                decide(op->string.str, args);
        return 0;
}
