/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * delegate-run-filter.h - the seccomp filter of delegate-run(1).
 */
#pragma once

#include <stddef.h>

/**
 * unotify_filter_install() - set PR_SET_NO_NEW_PRIVS and load the filter
 * whose intercepted syscalls (delegate-run(1), INTERCEPTED SYSCALLS) notify
 * a listener; every other syscall is allowed.  The calling process and
 * everything it forks or execs from now on run under it.  Returns 0 with
 * the listener (O_CLOEXEC) in *ret_listener, or -errno with @msg.
 */
int unotify_filter_install(int *ret_listener, char *msg, size_t size);
