/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ops-unotify.h - unotify.attach: delegate-run(1) hands over its seccomp listener (ops-unotify.c). */
#pragma once

#include <stdint.h>

#include "opdesc.h"

typedef struct unotify_attach_args {
        int64_t listener; /* the index of the seccomp listener among the request's fds */
} unotify_attach_args;

/* Parse unotify.attach args, {"listener": N}; -EINVAL with @msg. */
int unotify_attach_args_parse(const json_value *args, unotify_attach_args *ret, char *msg, size_t size);
