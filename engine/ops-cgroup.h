/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ops-cgroup.h - cgroup.move: move threads or a process into a cgroup below the caller's
 * (ops-cgroup.c, policy-cgroup.c). */
#pragma once

#include <sys/types.h>

#include "opdesc.h"
#include "policy-cgroup.h"

#define CGROUP_MOVE_MAX_TIDS 1024

typedef struct cgroup_move_args {
        bool by_pid;   /* "pid": move the whole process, else "tids" */
        pid_t pid;     /* as the client names it */
        pid_t *tids;   /* malloc'd, n_tids of them, as the client names them */
        size_t n_tids;
        char target[256]; /* relative to the caller's cgroup, checked by cgroup_target_check() */
        bool create;
        bool has_cpus;
        cpu_mask cpus; /* cpuset.cpus for a created target */
} cgroup_move_args;

/* Parse cgroup.move args; -EINVAL with @msg.  Free with cgroup_move_args_done(). */
int cgroup_move_args_parse(const json_value *args, cgroup_move_args *ret, char *msg, size_t size);
void cgroup_move_args_done(cgroup_move_args *a);
