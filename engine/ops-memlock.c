/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ops-memlock.c - memlock.set: its arguments, its policy check against the
 * rule's "memlock" section (policy-memlock.c), and the library's local
 * route (a process of the caller's own that needs no broker).
 */
#include <inttypes.h>
#include <stdio.h>

#include "memlock.h"
#include "ops-memlock.h"
#include "proc.h"
#include "size.h"

#define OP DELEGATE_OP_MEMLOCK_SET

int memlock_args_parse(const json_value *args, memlock_args *ret, char *msg, size_t size) {
        static const char *const keys[] = { "pid", "soft", "hard", NULL };
        memlock_args a = { .hard = DELEGATE_LIMIT_KEEP };
        int64_t pid;

        if (!args || args->type != JSON_OBJECT)
                return ops_bad(msg, size, OP ": \"args\" must be an object with \"pid\" and \"soft\"");
        int r = ops_check_keys(args, OP, keys, msg, size);
        if (r < 0)
                return r;
        const json_value *v = json_get(args, "pid");
        if (!v)
                return ops_bad(msg, size, OP ": missing \"pid\"");
        if (json_to_i64(v, &pid) < 0 || pid < 0 || pid > INT32_MAX)
                return ops_bad(msg, size, OP ": \"pid\" must be a process id (0 for the caller itself)");
        a.pid = (pid_t) pid;
        v = json_get(args, "soft");
        if (!v)
                return ops_bad(msg, size, OP ": missing \"soft\"");
        if (json_to_size(v, &a.soft) < 0)
                return ops_bad(msg, size, OP ": \"soft\" must be bytes, a size like \"64G\", or \"unlimited\"");
        v = json_get(args, "hard");
        if (v && v->type != JSON_NULL && json_to_size(v, &a.hard) < 0)
                return ops_bad(msg, size,
                           OP ": \"hard\" must be bytes, a size like \"64G\", \"unlimited\", or absent to keep");
        if (a.hard != DELEGATE_LIMIT_KEEP && a.soft > a.hard)
                return ops_bad(msg, size, OP ": soft limit %" PRIu64 " exceeds hard limit %" PRIu64, a.soft,
                           a.hard);
        *ret = a;
        return 0;
}

static int parse(const json_value *args, void *ret, char *msg, size_t size) {
        return memlock_args_parse(args, ret, msg, size);
}

void memlock_args_clamp(const policy_rule *rule, memlock_args *a) {
        if (!rule || !rule->memlock.present || !rule->memlock.unlimited_max)
                return;
        if (a->soft == UINT64_MAX)
                a->soft = rule->memlock.max;
        if (a->hard == UINT64_MAX)
                a->hard = rule->memlock.max;
}

static void check(const policy_rule *rule, const void *args, policy_decision *d) {
        memlock_args a = *(const memlock_args *) args;
        char b1[32], b2[32];
        bool clamped = rule->memlock.unlimited_max && rule->memlock.max != UINT64_MAX &&
                       (a.soft == UINT64_MAX || a.hard == UINT64_MAX);
        memlock_args_clamp(rule, &a);
        uint64_t top = a.hard == DELEGATE_LIMIT_KEEP ? a.soft : (a.hard > a.soft ? a.hard : a.soft);
        if (clamped && top <= rule->memlock.max)
                ops_allow(d, "unlimited requested: the rule's \"unlimited\": \"max\" sets its memlock max %s instead",
                          format_size(rule->memlock.max, b2, sizeof(b2)));
        else if (top > rule->memlock.max)
                ops_deny(d, "requested %s exceeds the rule's memlock max %s", format_size(top, b1, sizeof(b1)),
                         format_size(rule->memlock.max, b2, sizeof(b2)));
        else
                ops_allow(d, "requested %s is within the rule's memlock max %s", format_size(top, b1, sizeof(b1)),
                          format_size(rule->memlock.max, b2, sizeof(b2)));
}

/* A process the caller may change itself, within its own hard limit (or with CAP_SYS_RESOURCE). */
static int local(const void *args, char **ret_result, delegate_error *err) {
        const memlock_args *a = args;
        struct rlimit old, now;
        pid_t pid = a->pid ? a->pid : getpid();
        /* read, checked, set and read back in one place; the kernel judges a hard raise */
        int r = memlock_apply(pid, a->soft, a->hard, &old, &now);
        if (r == -EPERM || r == -EINVAL)
                return 0; /* not ours to change (another's ids, a hard raise without CAP_SYS_RESOURCE), or
                           * soft over the hard limit in force: the broker may raise the hard limit first */
        if (r == -ESRCH)
                return error_set(err, r, "not-found", ESRCH, "no process %d", (int) pid);
        if (r < 0)
                return error_set(err, r, "system", -r, "prlimit(%d, RLIMIT_MEMLOCK): %s", (int) pid, strerror(-r));
        if (ret_result) {
                char res[MEMLOCK_RESULT_MAX];
                size_t len = memlock_result_format(res, pid, &old, &now);
                *ret_result = strndup(res, len);
                explicit_bzero(res, len);
                if (!*ret_result)
                        return error_set(err, -ENOMEM, "system", ENOMEM, "out of memory");
        }
        return 1;
}

const op_desc op_memlock_set = {
        .name = OP,
        .needs_policy = true,
        .section = &policy_section_memlock,
        .args_size = sizeof(memlock_args),
        .parse = parse,
        .check = check,
        .local = local,
};
