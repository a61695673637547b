/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ops-sched.h - sched.set: a thread's scheduling policy, priority and affinity
 * (ops-sched.c, policy-sched.c). */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include "opdesc.h"
#include "policy-sched.h"

/* struct sched_attr of sched_setattr(2), SCHED_ATTR_SIZE_VER0: the broker's sched.set and the
 * sched_setattr() calls it intercepts (broker-unotify.c) */
typedef struct sched_attr_v0 {
        uint32_t size;
        uint32_t sched_policy;
        uint64_t sched_flags;
        int32_t sched_nice;
        uint32_t sched_priority;
        uint64_t sched_runtime, sched_deadline, sched_period;
} sched_attr_v0;

typedef struct sched_args {
        pid_t tid;    /* as the client names it; 0: the caller's main thread */
        int policy;   /* SCHED_* */
        int priority; /* fifo/rr: 1-99, else 0 */
        int nice;     /* other/batch: -20..19, else 0 */
        bool has_cpus;
        cpu_mask cpus;
} sched_args;

int sched_args_parse(const json_value *args, sched_args *ret, char *msg, size_t size);
