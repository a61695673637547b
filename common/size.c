/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "size.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <strings.h>

#define DELEGATE_INTERNAL_UNSTABLE_API_OPT_IN
#include "delegate/delegate-internal.h"

int parse_size(const char *s, uint64_t *ret) {
        static const struct {
                const char *suffix;
                unsigned shift;
        } units[] = {
                { "", 0 },     { "B", 0 },    { "K", 10 },  { "KiB", 10 }, { "KB", 10 },
                { "M", 20 },   { "MiB", 20 }, { "MB", 20 }, { "G", 30 },   { "GiB", 30 },
                { "GB", 30 },  { "T", 40 },   { "TiB", 40 }, { "TB", 40 },
        };

        if (!s || !*s)
                return -EINVAL;
        if (strcasecmp(s, "unlimited") == 0 || strcasecmp(s, "infinity") == 0) {
                *ret = UINT64_MAX;
                return 0;
        }
        if (!isdigit((unsigned char) s[0]))
                return -EINVAL;
        errno = 0;
        char *end;
        unsigned long long n = strtoull(s, &end, 10);
        if (errno == ERANGE)
                return -ERANGE;
        while (*end == ' ')
                end++;
        for (size_t i = 0; i < ELEMENTSOF(units); i++) {
                if (strcasecmp(end, units[i].suffix) != 0)
                        continue;
                if (units[i].shift && n > (UINT64_MAX >> units[i].shift))
                        return -ERANGE;
                *ret = (uint64_t) n << units[i].shift;
                return 0;
        }
        return -EINVAL;
}

int delegate_parse_size(const char *s, uint64_t *ret) {
        return parse_size(s, ret);
}

int json_to_size(const json_value *v, uint64_t *ret) {
        if (!v)
                return -EINVAL;
        if (v->type == JSON_STRING)
                return parse_size(v->string.str, ret);
        return json_to_u64(v, ret);
}

const char *format_size(uint64_t v, char *buf, size_t size) {
        static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
        if (v == UINT64_MAX) {
                snprintf(buf, size, "unlimited");
                return buf;
        }
        /* a whole number of its unit (most sizes, and every memlock.set's audit record): without printf.
         * Below 2^53 the double below is exact, so "whole" is the same test */
        if (v < UINT64_C(1) << 53) {
                unsigned k = 0;
                uint64_t unit = 1;
                while (v / unit >= 1024 && k + 1 < ELEMENTSOF(units)) {
                        unit <<= 10;
                        k++;
                }
                char num[JSON_U64_MAX];
                size_t n = v % unit == 0 ? json_format_u64(num, v / unit) : 0, ul = strlen(units[k]);
                if (n && n + 1 + ul < size) {
                        memcpy(buf, num, n);
                        buf[n] = ' ';
                        memcpy(buf + n + 1, units[k], ul + 1);
                        return buf;
                }
        }
        unsigned u = 0;
        double d = (double) v;
        while (d >= 1024.0 && u + 1 < ELEMENTSOF(units)) {
                d /= 1024.0;
                u++;
        }
        if (u == 0)
                snprintf(buf, size, "%" PRIu64 " B", v);
        else if (d == (double) (uint64_t) d)
                snprintf(buf, size, "%" PRIu64 " %s", (uint64_t) d, units[u]);
        else
                snprintf(buf, size, "%.1f %s", d, units[u]);
        return buf;
}

void json_gen_limit(json_gen *g, uint64_t v) {
        if (v == UINT64_MAX)
                json_gen_str(g, "unlimited");
        else
                json_gen_u64(g, v);
}
