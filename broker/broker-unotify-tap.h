/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-unotify-tap.h - intercepted TAP ioctls (broker-unotify-tap.c):
 * TUNSETIFF and SIOCSIFHWADDR/SIOCSIFFLAGS/SIOCSIFMTU.
 */
#pragma once

#include "broker-unotify-call.h"

void unotify_tunsetiff(unotify_call *call, uint64_t fd, uint64_t arg);
void unotify_netdev(unotify_call *call, uint64_t fd, uint64_t arg);
/* Is the answer @r to @call (a TUNSETIFF) "let the kernel judge it"? */
bool unotify_tap_to_kernel(const unotify_call *call, const reply_info *r);
/* The reply of a request that unotify_dispatch() started with a @run of broker-unotify-tap.c. */
void unotify_tap_reply(request *req, const reply_info *r);
