/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * memlock.h - applying RLIMIT_MEMLOCK with prlimit(), shared by the broker
 * (and its helpers acting as a target's user) and the library's local route.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "json.h"

/* What memlock_change() did; anything but MEMLOCK_CHANGED left the limits as they were. */
typedef enum memlock_verdict {
        MEMLOCK_CHANGED = 0,
        MEMLOCK_SOFT_OVER_HARD, /* the soft limit would exceed the hard limit the target would have */
        MEMLOCK_HARD_RAISE,     /* the hard limit would rise, and that was not allowed */
        MEMLOCK_NOT_PERMITTED,  /* the kernel let us not even read them: the target's ids are not ours */
} memlock_verdict;

/**
 * memlock_verdict_of() - would setting soft=@soft, hard=@hard
 * (DELEGATE_LIMIT_KEEP: unchanged) on a process whose hard limit is
 * @old_hard be refused?  MEMLOCK_SOFT_OVER_HARD, or MEMLOCK_HARD_RAISE
 * when !@may_raise_hard; else MEMLOCK_CHANGED.
 */
memlock_verdict memlock_verdict_of(uint64_t old_hard, uint64_t soft, uint64_t hard, bool may_raise_hard);

/**
 * memlock_change() - the kernel's view in three prlimit() calls: read the
 * limits of @pid, check them with memlock_verdict_of(), set them, read them
 * back.  Returns a memlock_verdict (>= 0): MEMLOCK_CHANGED with *ret_old and
 * *ret_now; MEMLOCK_SOFT_OVER_HARD or MEMLOCK_HARD_RAISE with *ret_old (nothing
 * set); MEMLOCK_NOT_PERMITTED when the first prlimit() fails with EPERM
 * (without CAP_SYS_RESOURCE: the caller's real uid and gid are not the
 * target's real, effective and saved ones).  Or the -errno of a later
 * prlimit() (ESRCH: it exited; EPERM: its limits changed meanwhile).
 */
int memlock_change(pid_t pid, uint64_t soft, uint64_t hard, bool may_raise_hard, struct rlimit *ret_old,
                   struct rlimit *ret_now);

/**
 * memlock_apply() - memlock_change() allowing a hard raise (the kernel
 * judges it) and as -errno: -EINVAL when @soft exceeds the hard limit in
 * force, -EPERM when not permitted.  Returns 0 with *ret_old and *ret_new.
 */
int memlock_apply(pid_t pid, uint64_t soft, uint64_t hard, struct rlimit *ret_old, struct rlimit *ret_new);

/* The longest result: its fixed text, a pid, four limits of 20 digits, a NUL */
#define MEMLOCK_RESULT_MAX (64 + 12 + 4 * JSON_U64_MAX + 1)
/*
 * memlock_result_format() - memlock.set's result object,
 * {"pid":P,"soft":..,"hard":..,"old":{"soft":..,"hard":..}}, the bytes the
 * generator would write, put together at @out without it (the broker's
 * reply to every memlock.set, libdelegate's local route, delegatectl); its
 * length, @out NUL-terminated.
 */
size_t memlock_result_format(char out[static MEMLOCK_RESULT_MAX], pid_t pid, const struct rlimit *old,
                             const struct rlimit *now);
