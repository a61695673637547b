/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "memlock.h"

#include "proc.h"
#include "size.h"
#include "wire.h"

memlock_verdict memlock_verdict_of(uint64_t old_hard, uint64_t soft, uint64_t hard, bool may_raise_hard) {
        uint64_t new_hard = hard == DELEGATE_LIMIT_KEEP ? old_hard : hard;
        if (soft > new_hard)
                return MEMLOCK_SOFT_OVER_HARD;
        if (new_hard > old_hard && !may_raise_hard)
                return MEMLOCK_HARD_RAISE;
        return MEMLOCK_CHANGED;
}

int memlock_change(pid_t pid, uint64_t soft, uint64_t hard, bool may_raise_hard, struct rlimit *ret_old,
                   struct rlimit *ret_now) {
        struct rlimit old, want, now;
        if (prlimit(pid, RLIMIT_MEMLOCK, NULL, &old) < 0)
                return errno == EPERM ? MEMLOCK_NOT_PERMITTED : negative_errno();
        memlock_verdict v = memlock_verdict_of(rlim_to_u64(old.rlim_max), soft, hard, may_raise_hard);
        if (v != MEMLOCK_CHANGED) {
                *ret_old = old;
                return v;
        }
        want.rlim_max = hard == DELEGATE_LIMIT_KEEP ? old.rlim_max : u64_to_rlim(hard);
        want.rlim_cur = u64_to_rlim(soft);
        if (prlimit(pid, RLIMIT_MEMLOCK, &want, NULL) < 0 || prlimit(pid, RLIMIT_MEMLOCK, NULL, &now) < 0)
                return negative_errno();
        *ret_old = old;
        *ret_now = now;
        return MEMLOCK_CHANGED;
}

int memlock_apply(pid_t pid, uint64_t soft, uint64_t hard, struct rlimit *ret_old, struct rlimit *ret_new) {
        struct rlimit old, now;
        int r = memlock_change(pid, soft, hard, true, &old, &now);
        if (r == MEMLOCK_SOFT_OVER_HARD)
                return -EINVAL;
        if (r == MEMLOCK_NOT_PERMITTED)
                return -EPERM;
        if (r < 0)
                return r;
        *ret_old = old;
        *ret_new = now;
        return 0;
}

/* @v as json_gen_limit() writes it (the protocol's limit): a number, or "unlimited" */
static size_t put_limit(char *out, uint64_t v) {
        if (v != UINT64_MAX)
                return json_format_u64(out, v);
        memcpy(out, "\"unlimited\"", 11);
        return 11;
}

static size_t put_lit(char *out, const char *s) {
        size_t n = strlen(s);
        memcpy(out, s, n);
        return n;
}

size_t memlock_result_format(char out[static MEMLOCK_RESULT_MAX], pid_t pid, const struct rlimit *old,
                             const struct rlimit *now) {
        size_t o = put_lit(out, "{\"pid\":");
        if (pid < 0)
                out[o++] = '-';
        o += json_format_u64(out + o, pid < 0 ? -(uint64_t) (int64_t) pid : (uint64_t) pid);
        o += put_lit(out + o, ",\"soft\":");
        o += put_limit(out + o, rlim_to_u64(now->rlim_cur));
        o += put_lit(out + o, ",\"hard\":");
        o += put_limit(out + o, rlim_to_u64(now->rlim_max));
        o += put_lit(out + o, ",\"old\":{\"soft\":");
        o += put_limit(out + o, rlim_to_u64(old->rlim_cur));
        o += put_lit(out + o, ",\"hard\":");
        o += put_limit(out + o, rlim_to_u64(old->rlim_max));
        o += put_lit(out + o, "}}");
        out[o] = 0;
        return o;
}
