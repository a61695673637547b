/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ops-unotify.c - unotify.attach: delegate-run(1) hands the broker the
 * seccomp listener of the program it runs.  Attaching grants nothing by
 * itself: every call the listener reports is decided as the operation it
 * amounts to (memlock.set, sched.set, tap.create), with via "seccomp".
 */
#include <stdio.h>

#include "ops.h"

int unotify_attach_args_parse(const json_value *args, int64_t *ret_index, char *msg, size_t size) {
        static const char *const keys[] = { "listener", NULL };
        if (!args || args->type != JSON_OBJECT)
                return ops_bad(msg, size, "unotify.attach: \"args\" must be {\"listener\": 0}");
        int r = ops_check_keys(args, "unotify.attach", keys, msg, size);
        if (r < 0)
                return r;
        const json_value *v = json_get(args, "listener");
        uint64_t idx;
        if (!v || v->type != JSON_NUMBER || json_to_u64(v, &idx) < 0 || idx >= DELEGATE_MAX_FDS)
                return ops_bad(msg, size,
                               "unotify.attach: \"listener\" must be the index of the seccomp listener among the "
                               "request's fds (0)");
        *ret_index = (int64_t) idx;
        return 0;
}

int unotify_attach_check(const policy_rule *rule, const json_value *args, policy_decision *d, char *msg,
                         size_t size) {
        int64_t idx;
        int r = unotify_attach_args_parse(args, &idx, msg, size);
        if (r < 0)
                return r;
        d->allowed = true;
        snprintf(d->reason, sizeof(d->reason),
                 "attaching grants nothing: each notified call is decided as its own operation, via seccomp");
        return 0;
}
