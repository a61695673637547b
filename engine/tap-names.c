/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tap-names.c - interface names, templates and MAC addresses, as requests
 * and the "tap" and "bridge" policy sections write them (tap-names.h).  A
 * leaf: the operations and the sections both use it.
 */
#include <stdio.h>

#include "tap-names.h"
#include "util.h"

#define NAME_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"

bool tap_name_valid(const char *s) {
        size_t n = strlen(s);
        if (n == 0 || n > TAP_NAME_MAX || streq(s, ".") || streq(s, ".."))
                return false;
        return strspn(s, NAME_CHARS) == n;
}

bool tap_template_valid(const char *s) {
        const char *p = strstr(s, "%d");
        if (!p || strstr(p + 2, "%d"))
                return false;
        size_t n = strlen(s);
        /* the other characters must be name characters: no second '%' */
        if (strspn(s, NAME_CHARS) != (size_t) (p - s) || strspn(p + 2, NAME_CHARS) != n - (p - s) - 2)
                return false;
        char buf[TAP_NAME_MAX + 1];
        return tap_template_expand(s, 0, buf, sizeof(buf)) == 0 && tap_name_valid(buf);
}

int tap_template_expand(const char *tmpl, unsigned idx, char *buf, size_t size) {
        const char *p = strstr(tmpl, "%d");
        char out[64];
        if (!p)
                return -EINVAL;
        int n = snprintf(out, sizeof(out), "%.*s%u%s", (int) (p - tmpl), tmpl, idx, p + 2);
        if (n < 0 || (size_t) n >= sizeof(out) || n > TAP_NAME_MAX)
                return -ENAMETOOLONG;
        if ((size_t) n >= size)
                return -ENOBUFS;
        memcpy(buf, out, n + 1);
        return 0;
}

bool tap_pattern_matches(const char *pattern, const char *name) {
        const char *p = strstr(pattern, "%d");
        if (!p)
                return streq(pattern, name);
        size_t pre = p - pattern, suf = strlen(p + 2), n = strlen(name);
        if (n < pre + suf + 1 || strncmp(pattern, name, pre) != 0 || !streq(name + n - suf, p + 2))
                return false;
        const char *d = name + pre, *e = name + n - suf;
        if (e - d > 1 && *d == '0') /* no leading zeros: one name per index */
                return false;
        for (; d < e; d++)
                if (*d < '0' || *d > '9')
                        return false;
        return true;
}

int tap_mac_parse(const char *s, uint8_t ret[6]) {
        unsigned v[6];
        char tail;
        if (strlen(s) != 17 ||
            sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &tail) != 6)
                return -EINVAL;
        for (int i = 0; i < 6; i++) /* sscanf's %x accepts signs and spaces: refuse them */
                if (!strchr("0123456789abcdefABCDEF", s[3 * i]) || !strchr("0123456789abcdefABCDEF", s[3 * i + 1]) ||
                    (i < 5 && s[3 * i + 2] != ':'))
                        return -EINVAL;
        if ((v[0] & 1) || (v[0] | v[1] | v[2] | v[3] | v[4] | v[5]) == 0)
                return -EINVAL; /* multicast, broadcast or zero */
        for (int i = 0; i < 6; i++)
                ret[i] = (uint8_t) v[i];
        return 0;
}

const char *tap_mac_format(const uint8_t mac[6], char *buf, size_t size) {
        snprintf(buf, size, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
        return buf;
}

