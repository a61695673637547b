/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ops-sched.h - sched.set: a thread's scheduling policy, priority and affinity
 * (ops-sched.c, policy-sched.c). */
#pragma once

#include <sys/types.h>

#include "opdesc.h"
#include "policy-sched.h"

typedef struct sched_args {
        pid_t tid;    /* as the client names it; 0: the caller's main thread */
        int policy;   /* SCHED_* */
        int priority; /* fifo/rr: 1-99, else 0 */
        int nice;     /* other/batch: -20..19, else 0 */
        bool has_cpus;
        cpu_mask cpus;
} sched_args;

int sched_args_parse(const json_value *args, sched_args *ret, char *msg, size_t size);
