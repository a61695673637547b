/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * names.h - names checked the same way by the broker, the policy engine and
 * the launcher (names.c): VM and client names and cgroup targets.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Validate a VM name: 1-253 characters of [A-Za-z0-9._-]. */
bool vm_name_valid(const char *s);

/* Validate a client name (the hello's "client"): 1-64 printable characters (no control character, no DEL). */
bool client_name_valid(const char *s);

/*
 * A cgroup target as requests and policies write it: a relative path of
 * 1-8 components of [A-Za-z0-9_.-] (no "." or ".."), at most 255 bytes.
 * With @glob, '*' and '?' are allowed too.  -EINVAL with @msg.
 */
int cgroup_target_check(const char *s, bool glob, char *msg, size_t size);
