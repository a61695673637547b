/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* names.c - see names.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "names.h"

bool vm_name_valid(const char *s) {
        size_t n = strlen(s);
        if (n == 0 || n > 253)
                return false;
        for (; *s; s++)
                if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", *s))
                        return false;
        return true;
}

bool client_name_valid(const char *s) {
        size_t n = 0;
        for (; *s; s++, n++)
                if ((unsigned char) *s < 0x20 || *s == 0x7f)
                        return false;
        return n > 0 && n <= 64;
}

#define CGROUP_TARGET_MAX_DEPTH 8

int cgroup_target_check(const char *s, bool glob, char *msg, size_t size) {
        size_t n = strlen(s), depth = 0;
        if (n == 0) {
                snprintf(msg, size, "cgroup target is empty");
                return -EINVAL;
        }
        if (n > 255) {
                snprintf(msg, size, "cgroup target is longer than 255 bytes");
                return -EINVAL;
        }
        if (s[0] == '/') {
                snprintf(msg, size,
                         "cgroup target '%.255s' is absolute; targets are paths relative to the caller's own cgroup",
                         s);
                return -EINVAL;
        }
        for (const char *c = s; *c;) {
                size_t l = strcspn(c, "/");
                if (l == 0 || (l == 1 && c[0] == '.') || (l == 2 && c[0] == '.' && c[1] == '.')) {
                        snprintf(msg, size,
                                 "cgroup target '%.255s' has an empty, '.' or '..' component; targets must stay "
                                 "below the caller's own cgroup",
                                 s);
                        return -EINVAL;
                }
                for (size_t i = 0; i < l; i++)
                        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", c[i]) &&
                            !(glob && (c[i] == '*' || c[i] == '?'))) {
                                snprintf(msg, size,
                                         "cgroup target '%.255s' contains '%c'; allowed are [A-Za-z0-9._-]%s and '/' "
                                         "between components",
                                         s, c[i], glob ? ", '*', '?'" : "");
                                return -EINVAL;
                        }
                if (++depth > CGROUP_TARGET_MAX_DEPTH) {
                        snprintf(msg, size, "cgroup target '%.255s' is deeper than %d levels", s,
                                 CGROUP_TARGET_MAX_DEPTH);
                        return -EINVAL;
                }
                c += l;
                if (*c == '/') {
                        c++;
                        if (!*c) {
                                snprintf(msg, size, "cgroup target '%.255s' ends with '/'", s);
                                return -EINVAL;
                        }
                }
        }
        return 0;
}
