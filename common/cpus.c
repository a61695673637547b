/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cpus.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_cpu(const char **p, unsigned *ret) {
        if (!isdigit((unsigned char) **p))
                return -EINVAL;
        char *end;
        errno = 0;
        unsigned long v = strtoul(*p, &end, 10);
        if (errno || v >= CPU_MASK_MAX)
                return -ERANGE;
        *p = end;
        *ret = (unsigned) v;
        return 0;
}

int cpu_mask_parse(const char *s, cpu_mask *ret, char *msg, size_t size) {
        cpu_mask m = { { 0 } };
        const char *p = s;
        bool any = false;

        for (;;) {
                unsigned lo, hi;
                while (*p == ' ')
                        p++;
                int r = parse_cpu(&p, &lo);
                if (r == -ERANGE)
                        goto range;
                if (r < 0)
                        goto bad;
                hi = lo;
                if (*p == '-') {
                        p++;
                        r = parse_cpu(&p, &hi);
                        if (r == -ERANGE)
                                goto range;
                        if (r < 0)
                                goto bad;
                        if (hi < lo) {
                                snprintf(msg, size, "CPU list '%.64s': range %u-%u is empty", s, lo, hi);
                                return -EINVAL;
                        }
                }
                for (unsigned c = lo; c <= hi; c++)
                        cpu_mask_set(&m, c);
                any = true;
                while (*p == ' ')
                        p++;
                if (*p == 0)
                        break;
                if (*p != ',')
                        goto bad;
                p++;
        }
        if (!any)
                goto bad;
        *ret = m;
        return 0;
range:
        snprintf(msg, size, "CPU list '%.64s': CPU numbers must be below %d", s, CPU_MASK_MAX);
        return -EINVAL;
bad:
        snprintf(msg, size, "CPU list '%.64s' is not like \"0-3,8\" (CPU numbers and ranges, comma-separated)", s);
        return -EINVAL;
}

const char *cpu_mask_format(const cpu_mask *m, char *buf, size_t size) {
        size_t n = 0;
        buf[0] = 0;
        for (unsigned c = 0; c < CPU_MASK_MAX; c++) {
                if (!(m->bits[c / 64] >> (c % 64))) {
                        c |= 63; /* no CPU left in this word */
                        continue;
                }
                if (!cpu_mask_test(m, c))
                        continue;
                unsigned e = c;
                while (e + 1 < CPU_MASK_MAX && cpu_mask_test(m, e + 1))
                        e++;
                int k = e == c ? snprintf(buf + n, size - n, "%s%u", n ? "," : "", c)
                               : snprintf(buf + n, size - n, "%s%u-%u", n ? "," : "", c, e);
                if (k < 0 || (size_t) k >= size - n)
                        break; /* truncated: still NUL-terminated */
                n += k;
                c = e;
        }
        return buf;
}

bool cpu_mask_subset(const cpu_mask *a, const cpu_mask *b, unsigned *ret_cpu) {
        for (size_t i = 0; i < CPU_MASK_MAX / 64; i++) {
                uint64_t extra = a->bits[i] & ~b->bits[i];
                if (extra) {
                        if (ret_cpu)
                                *ret_cpu = (unsigned) (i * 64 + __builtin_ctzll(extra));
                        return false;
                }
        }
        return true;
}

/*
 * cpu_set_t is an array of unsigned longs (__bits) in which CPU c is bit c % (bits of a long) of word
 * c / (bits of a long), in glibc and musl alike: both conversions walk the words and, within a
 * word, only the CPUs set (a thread's affinity names a few CPUs of CPU_SETSIZE 1024).
 */
#define SET_WORD_BITS (8 * sizeof(unsigned long))

void cpu_mask_to_set(const cpu_mask *m, cpu_set_t *set) {
        CPU_ZERO(set);
        for (unsigned w = 0; w < CPU_MASK_MAX / 64; w++)
                for (uint64_t b = m->bits[w]; b; b &= b - 1) {
                        unsigned c = w * 64 + (unsigned) __builtin_ctzll(b);
                        if (c < CPU_SETSIZE)
                                CPU_SET(c, set);
                }
}

void cpu_mask_from_set(const cpu_set_t *set, cpu_mask *m) {
        memset(m, 0, sizeof(*m));
        for (unsigned w = 0; w < sizeof(set->__bits) / sizeof(set->__bits[0]); w++)
                for (unsigned long b = set->__bits[w]; b; b &= b - 1)
                        cpu_mask_set(m, w * (unsigned) SET_WORD_BITS + (unsigned) __builtin_ctzl(b));
}
