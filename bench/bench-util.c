/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-util.c - see bench-util.h.
 */
#include "bench-util.h"

#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

uint64_t bench_now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return x < y ? -1 : x > y;
}

void bench_stats(uint64_t *t, size_t n, uint64_t *ret_median, uint64_t *ret_p99) {
        if (n == 0) {
                *ret_median = *ret_p99 = 0;
                return;
        }
        qsort(t, n, sizeof(*t), cmp_u64);
        *ret_median = t[n / 2];
        *ret_p99 = t[(n * 99) / 100];
}

void bench_report(const char *what, const char *path, uint64_t *t, size_t n) {
        uint64_t med, p99;
        bench_stats(t, n, &med, &p99);
        printf("| %s | %s | %zu | %.1f | %.1f |\n", what, path, n, med / 1000.0, p99 / 1000.0);
        fflush(stdout);
}

long bench_rss_kib(int pid) {
        char path[64], line[256];
        long kib = -1;
        snprintf(path, sizeof(path), "/proc/%d/status", pid);
        FILE *f = fopen(path, "re");
        while (f && fgets(line, sizeof(line), f))
                if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
                        break;
        if (f)
                fclose(f);
        return kib;
}

int bench_pin(int cpu) {
        cpu_set_t set;
        CPU_ZERO(&set);
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        for (long i = 0; i < n; i++)
                if (cpu < 0 || i == cpu)
                        CPU_SET(i, &set);
        return sched_setaffinity(0, sizeof(set), &set) < 0 ? -errno : 0;
}

void bench_taps_gone(const char *prefix) {
        for (int i = 0; i < 10000; i++) {
                struct if_nameindex *l = if_nameindex();
                bool any = false;
                for (struct if_nameindex *p = l; p && p->if_index; p++)
                        any |= strncmp(p->if_name, prefix, strlen(prefix)) == 0;
                if (l)
                        if_freenameindex(l);
                if (!any)
                        return;
                usleep(200);
        }
}

void bench_die(const char *what, const char *msg) {
        fprintf(stderr, "%s: %s\n", what, msg);
        exit(1);
}

bool bench_wanted(const char *op) {
        const char *ops = getenv("BENCH_OPS");
        if (!ops)
                return true;
        size_t n = strlen(op);
        for (const char *p = strstr(ops, op); p; p = strstr(p + 1, op))
                if ((p == ops || p[-1] == ' ') && (p[n] == 0 || p[n] == ' '))
                        return true;
        return false;
}
