/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * memlock.h - applying RLIMIT_MEMLOCK with prlimit(), shared by the broker
 * and the library's local route.
 */
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include "json.h"

/**
 * memlock_apply() - read the current limit of @pid, set soft=@soft and
 * hard=@hard (DELEGATE_LIMIT_KEEP: unchanged), read it back.
 * Returns 0 with *ret_old and *ret_new, -EINVAL when @soft exceeds the hard
 * limit in force, or the -errno of prlimit() (EPERM, ESRCH, ...).
 */
int memlock_apply(pid_t pid, uint64_t soft, uint64_t hard, struct rlimit *ret_old, struct rlimit *ret_new);

/* The result object: {"pid":P,"soft":..,"hard":..,"old":{"soft":..,"hard":..}} */
void memlock_result_gen(yajl_gen g, pid_t pid, const struct rlimit *old, const struct rlimit *now);
