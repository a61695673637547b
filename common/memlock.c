/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "memlock.h"

#include "proc.h"
#include "size.h"
#include "wire.h"

int memlock_apply(pid_t pid, uint64_t soft, uint64_t hard, struct rlimit *ret_old, struct rlimit *ret_new) {
        struct rlimit old, want, now;
        if (prlimit(pid, RLIMIT_MEMLOCK, NULL, &old) < 0)
                return negative_errno();
        want.rlim_max = hard == DELEGATE_LIMIT_KEEP ? old.rlim_max : u64_to_rlim(hard);
        want.rlim_cur = u64_to_rlim(soft);
        if (rlim_to_u64(want.rlim_cur) > rlim_to_u64(want.rlim_max))
                return -EINVAL;
        if (prlimit(pid, RLIMIT_MEMLOCK, &want, NULL) < 0)
                return negative_errno();
        if (prlimit(pid, RLIMIT_MEMLOCK, NULL, &now) < 0)
                return negative_errno();
        *ret_old = old;
        *ret_new = now;
        return 0;
}

void memlock_result_gen(yajl_gen g, pid_t pid, const struct rlimit *old, const struct rlimit *now) {
        yajl_gen_map_open(g);
        json_gen_kv_i64(g, "pid", pid);
        json_gen_str(g, "soft");
        json_gen_limit(g, rlim_to_u64(now->rlim_cur));
        json_gen_str(g, "hard");
        json_gen_limit(g, rlim_to_u64(now->rlim_max));
        json_gen_str(g, "old");
        yajl_gen_map_open(g);
        json_gen_str(g, "soft");
        json_gen_limit(g, rlim_to_u64(old->rlim_cur));
        json_gen_str(g, "hard");
        json_gen_limit(g, rlim_to_u64(old->rlim_max));
        yajl_gen_map_close(g);
        yajl_gen_map_close(g);
}
