/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-policy.c - one policy file (engine/policy*.c, JSON with
 * comments): load it; when it loads, match subjects and decide one valid
 * request of every operation against it; when it does not, the error must
 * name a position inside the text.
 *
 * Seeds: tests/fuzz/corpus/policy (policy/examples and the tests' policies).
 */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"
#include "ops.h"
#include "policy.h"

static const struct {
        const char *op, *args;
} requests[] = {
        { "ping", NULL },
        { "state.get", NULL },
        { "memlock.set", "{\"pid\":0,\"soft\":\"2G\"}" },
        { "memlock.set", "{\"pid\":0,\"soft\":\"unlimited\",\"hard\":\"unlimited\"}" },
        { "cgroup.move", "{\"tids\":[1,2],\"target\":\"housekeeping\",\"create\":true,\"cpus\":\"0\"}" },
        { "sched.set", "{\"tid\":0,\"policy\":\"fifo\",\"priority\":5,\"cpus\":\"0-1\"}" },
        { "tap.create", "{\"name\":\"vnet%d\",\"queues\":2,\"vnet_hdr\":true,\"bridge\":\"br0\",\"mtu\":1500}" },
        { "tap.destroy", "{\"name\":\"vnet0\"}" },
        { "kvmi.attach", "{\"keyed\":true}" },
        { "kvmi.connect", "{\"socket\":0}" },
        { "kvmi.set-page-access", "{\"entries\":[[4096,\"r--\"],[\"0x2000\",\"rw\"]]}" },
        { "kvmi.detach", NULL },
        { "unotify.attach", "{\"listener\":0}" },
};

static const policy_subject subjects[] = {
        { .uid = 107, .gid = 107, .cgroup = "/kubepods.slice/pod-a", .vm = "vm-1" },
        { .uid = 1000, .gid = 100, .cgroup = "/machine.slice/x.scope", .vm = "web-1" },
        { .uid = 0, .gid = 0, .cgroup = "/system", .vm = NULL },
        { .uid = 107, .gid = 107, .cgroup = "/kubepods.slice/pod-a", .vm = "vm-1", .via = POLICY_VIA_SECCOMP },
};

static void explain(const policy_rule *r, bool matched, const char *why, void *userdata) {
        FUZZ_ASSERT(r && r->name && why);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size > POLICY_MAX_FILE_SIZE)
                return 0;
        _cleanup_policy_ policy *p = policy_new();
        if (!p)
                return 0;
        policy_error err = {};
        int r = policy_load_text(p, "fuzz.json", (const char *) data, size, &err);
        if (r < 0) {
                char buf[2048];
                FUZZ_ASSERT(r == -EINVAL || r == -ENOMEM);
                FUZZ_ASSERT(memchr(err.message, 0, sizeof(err.message)) && err.message[0]);
                (void) policy_error_string(&err, buf, sizeof(buf));
                return 0;
        }
        for (size_t s = 0; s < sizeof(subjects) / sizeof(subjects[0]); s++) {
                (void) policy_match(p, &subjects[s], explain, NULL);
                for (size_t i = 0; i < sizeof(requests) / sizeof(requests[0]); i++) {
                        _cleanup_json_ json_value *args = NULL;
                        json_parse_error je;
                        if (requests[i].args)
                                FUZZ_ASSERT(json_parse(requests[i].args, strlen(requests[i].args), false, &args, &je) == 0);
                        policy_decision d;
                        char msg[512];
                        r = policy_decide(p, &subjects[s], requests[i].op, args, &d, msg, sizeof(msg), NULL, NULL);
                        FUZZ_ASSERT(r == 0 || r == -EINVAL);
                }
        }
        return 0;
}
