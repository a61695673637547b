/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* delegatectl.h - shared between delegatectl.c and delegatectl-bus.c */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "util.h"

extern bool arg_json;
void print_json_string(const char *s);

typedef struct bus_explain {
        const char *op, *args, *cgroup, *vm, *via;
        uid_t uid;
        gid_t gid;
} bus_explain;

/* status | sessions | session ID | reload | revoke ID | explain (@x) over D-Bus @spec. */
int bus_command(const char *spec, const char *cmd, const char *id, const bus_explain *x);
