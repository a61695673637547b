/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ops-memlock.h - memlock.set: raise a process's RLIMIT_MEMLOCK (ops-memlock.c, policy-memlock.c). */
#pragma once

#include <sys/types.h>

#include "opdesc.h"
#include "policy-memlock.h"

typedef struct memlock_args {
        pid_t pid;     /* as the client names it (its own pid namespace) */
        uint64_t soft; /* UINT64_MAX = unlimited */
        uint64_t hard; /* DELEGATE_LIMIT_KEEP = leave as it is */
} memlock_args;

/* Parse memlock.set args; -EINVAL with @msg saying what is wrong. */
int memlock_args_parse(const json_value *args, memlock_args *ret, char *msg, size_t size);

/* A rule with "unlimited": "max": an unlimited soft or hard limit in @a becomes the rule's max. */
void memlock_args_clamp(const policy_rule *rule, memlock_args *a);
