/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ops-unotify.c - unotify.attach: delegate-run(1) hands the broker the
 * seccomp listener of the program it runs.  Attaching grants nothing by
 * itself: every call the listener reports is decided as the operation it
 * amounts to (memlock.set, sched.set, tap.create), with via "seccomp".
 */
#include <stdio.h>

#include "ops-unotify.h"

#define OP DELEGATE_OP_UNOTIFY_ATTACH

int unotify_attach_args_parse(const json_value *args, unotify_attach_args *ret, char *msg, size_t size) {
        static const char *const keys[] = { "listener", NULL };
        if (!args || args->type != JSON_OBJECT)
                return ops_bad(msg, size, OP ": \"args\" must be {\"listener\": 0}");
        int r = ops_check_keys(args, OP, keys, msg, size);
        if (r < 0)
                return r;
        const json_value *v = json_get(args, "listener");
        uint64_t idx;
        if (!v || v->type != JSON_NUMBER || json_to_u64(v, &idx) < 0 || idx >= DELEGATE_MAX_FDS)
                return ops_bad(msg, size,
                               OP ": \"listener\" must be the index of the seccomp listener among the request's fds "
                               "(0)");
        ret->listener = (int64_t) idx;
        return 0;
}

static int parse(const json_value *args, void *ret, char *msg, size_t size) {
        return unotify_attach_args_parse(args, ret, msg, size);
}

static void check(const policy_rule *rule _unused_, const void *args _unused_, policy_decision *d) {
        ops_allow_text(d, "attaching grants nothing: each notified call is decided as its own operation, via seccomp");
}

const op_desc op_unotify_attach = {
        .name = OP,
        .flags = OP_TAKES_FDS,
        .args_size = sizeof(unotify_attach_args),
        .parse = parse,
        .check = check,
};
