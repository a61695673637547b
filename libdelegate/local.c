/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "local.h"

#include <linux/capability.h>

#include "memlock.h"
#include "ops.h"
#include "proc.h"

static int local_memlock(const json_value *args, char **ret_result, delegate_error *err) {
        memlock_args a;
        char msg[256];
        struct rlimit old, now;

        if (memlock_args_parse(args, &a, msg, sizeof(msg)) < 0)
                return error_set(err, -EINVAL, "bad-request", EINVAL, "%s", msg);
        pid_t pid = a.pid ? a.pid : getpid();
        if (prlimit(pid, RLIMIT_MEMLOCK, NULL, &old) < 0) {
                if (errno == ESRCH)
                        return error_set(err, -ESRCH, "not-found", ESRCH, "no process %d", (int) pid);
                return 0; /* EPERM: not ours to change */
        }
        uint64_t hard = a.hard == DELEGATE_LIMIT_KEEP ? rlim_to_u64(old.rlim_max) : a.hard;
        if (hard > rlim_to_u64(old.rlim_max) && !have_effective_cap(CAP_SYS_RESOURCE))
                return 0; /* raising a hard limit needs CAP_SYS_RESOURCE */
        if (a.soft > hard)
                return 0; /* the broker may raise the hard limit first */
        int r = memlock_apply(pid, a.soft, a.hard, &old, &now);
        if (r == -EPERM)
                return 0;
        if (r == -ESRCH)
                return error_set(err, r, "not-found", ESRCH, "no process %d", (int) pid);
        if (r < 0)
                return error_set(err, r, "system", -r, "prlimit(%d, RLIMIT_MEMLOCK): %s", (int) pid, strerror(-r));
        if (ret_result) {
                _cleanup_json_gen_ yajl_gen g = json_gen_new();
                if (!g)
                        return error_set(err, -ENOMEM, "system", ENOMEM, "out of memory");
                memlock_result_gen(g, pid, &old, &now);
                r = json_gen_take(g, ret_result, NULL);
                if (r < 0)
                        return error_set(err, r, "system", -r, "out of memory");
        }
        return 1;
}

int local_try(const char *op, const json_value *args, char **ret_result, delegate_error *err) {
        if (streq(op, "memlock.set"))
                return local_memlock(args, ret_result, err);
        return 0;
}
