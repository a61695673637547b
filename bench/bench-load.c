/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-load - the broker under load, from pod clients.
 *
 *   bench-load throughput CLIENTS SECONDS OP [BROKER_PID]
 *       CLIENTS processes, one session each, send OP ("ping" or
 *       "memlock.set") back to back for SECONDS; prints one row:
 *       | clients | op | requests/s | median us | p99 us | worst client's p99 us | fewest requests of a client
 *       | broker CPU us per request | CPUs busy % |
 *       (-1 as the worst p99: a client got no request through; as the
 *       broker's CPU: no BROKER_PID given)
 *   bench-load sessions COUNT BROKER_PID
 *       the broker's RSS idle, then with COUNT open sessions; prints rows:
 *       | what | KiB |
 *
 * Run as the pod's uid in its pod cgroup (bench/run does).
 */
#define DELEGATE_INTERNAL_UNSTABLE_API_OPT_IN
#include <delegate/delegate-internal.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench-util.h"

#define SAMPLES_MAX (1u << 21) /* latency samples kept, shared by all clients */

typedef struct shared {
        volatile int go;
        uint64_t requests[256];
        uint64_t samples[SAMPLES_MAX];
} shared;

static delegate_ctx *open_session(void) {
        delegate_ctx *c;
        delegate_error e;
        if (delegate_open(DELEGATE_API_VERSION, NULL, "bench-load", "bench-vm", &c, &e) < 0)
                bench_die("connect", e.message);
        delegate_ctx_set_mode(c, DELEGATE_MODE_BROKER);
        return c;
}

static void one_request(delegate_ctx *c, const char *op, uint64_t soft) {
        delegate_error e;
        int r = strcmp(op, "ping") == 0 ? delegate_ping(c, &e)
                                        : delegate_memlock_set(c, 0, soft, DELEGATE_LIMIT_KEEP, NULL, &e);
        if (r < 0)
                bench_die(op, e.message);
}

/* One client: waits for "go", then loops until @end_ns. */
static void client(shared *sh, size_t k, size_t clients, uint64_t seconds, const char *op) {
        delegate_ctx *c = open_session();
        size_t per = SAMPLES_MAX / clients, n = 0;
        struct rlimit rl;
        getrlimit(RLIMIT_MEMLOCK, &rl);
        while (!sh->go)
                usleep(1000);
        uint64_t end = bench_now_ns() + seconds * 1000000000ULL;
        for (;;) {
                uint64_t t0 = bench_now_ns();
                if (t0 >= end)
                        break;
                one_request(c, op, rl.rlim_cur);
                if (n < per)
                        sh->samples[k * per + n] = bench_now_ns() - t0;
                n++;
        }
        sh->requests[k] = n;
        delegate_ctx_free(c);
        _exit(0);
}

/* utime + stime of @pid in clock ticks; -1 when unreadable */
static long long cpu_ticks(pid_t pid) {
        char path[64], buf[1024];
        snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
        FILE *f = fopen(path, "re");
        size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
        if (f)
                fclose(f);
        buf[n] = 0;
        char *p = strrchr(buf, ')'); /* the name may hold spaces */
        unsigned long long ut, st;
        if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
                return -1;
        return (long long) (ut + st);
}

/* busy and total ticks of all CPUs, from /proc/stat */
static void cpu_busy(unsigned long long *busy, unsigned long long *total) {
        unsigned long long v[8] = { 0 };
        FILE *f = fopen("/proc/stat", "re");
        if (!f || fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                         &v[6], &v[7]) != 8)
                memset(v, 0, sizeof(v));
        if (f)
                fclose(f);
        *total = v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
        *busy = *total - v[3] - v[4]; /* not idle, not iowait */
}

static int throughput(size_t clients, uint64_t seconds, const char *op, pid_t broker) {
        shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (sh == MAP_FAILED || clients == 0 || clients > 256)
                bench_die("bench-load", "1 to 256 clients");
        for (size_t k = 0; k < clients; k++)
                if (fork() == 0)
                        client(sh, k, clients, seconds, op);
        usleep(200000 + 2000 * clients); /* every session open before "go" */
        unsigned long long busy0, total0, busy1, total1;
        long long b0 = broker > 0 ? cpu_ticks(broker) : -1;
        cpu_busy(&busy0, &total0);
        sh->go = 1;
        while (wait(NULL) > 0)
                ;
        long long b1 = broker > 0 ? cpu_ticks(broker) : -1;
        cpu_busy(&busy1, &total1);
        uint64_t total = 0, worst = 0, fewest = UINT64_MAX;
        size_t per = SAMPLES_MAX / clients, m = 0;
        uint64_t *one = malloc(per * sizeof(uint64_t));
        if (!one)
                bench_die("bench-load", "out of memory");
        for (size_t k = 0; k < clients; k++) {
                total += sh->requests[k];
                if (sh->requests[k] < fewest)
                        fewest = sh->requests[k];
                size_t got = sh->requests[k] < per ? sh->requests[k] : per;
                /* this client's own p99: the worst of them says whether one was starved */
                uint64_t cmed, cp99;
                memcpy(one, &sh->samples[k * per], got * sizeof(uint64_t));
                bench_stats(one, got, &cmed, &cp99);
                if (got == 0 || cp99 > worst)
                        worst = got == 0 ? UINT64_MAX : cp99;
                memmove(&sh->samples[m], &sh->samples[k * per], got * sizeof(uint64_t));
                m += got;
        }
        free(one);
        uint64_t med, p99;
        bench_stats(sh->samples, m, &med, &p99);
        /* where the CPU went: the broker's time per request, and how busy the CPUs were */
        double hz = (double) sysconf(_SC_CLK_TCK);
        double broker_us = b0 >= 0 && b1 >= b0 && total ? (b1 - b0) / hz * 1e6 / total : -1;
        double busy = total1 > total0 ? 100.0 * (busy1 - busy0) / (total1 - total0) : -1;
        printf("| %zu | %s | %.0f | %.1f | %.1f | %.1f | %" PRIu64 " | %.1f | %.0f |\n", clients, op,
               (double) total / seconds, med / 1000.0, p99 / 1000.0, worst == UINT64_MAX ? -1.0 : worst / 1000.0,
               fewest, broker_us, busy);
        munmap(sh, sizeof(*sh));
        return 0;
}

/* The broker's VmRSS; it must be readable. */
static long rss_kib(pid_t pid) {
        long kib = bench_rss_kib(pid);
        if (kib < 0)
                bench_die("/proc/PID/status", "cannot read VmRSS");
        return kib;
}

static int sessions(size_t count, pid_t broker) {
        struct rlimit nofile;
        delegate_error e;
        getrlimit(RLIMIT_NOFILE, &nofile);
        nofile.rlim_cur = nofile.rlim_max;
        setrlimit(RLIMIT_NOFILE, &nofile);
        delegate_ctx **c = calloc(count, sizeof(*c));
        long idle = rss_kib(broker);
        for (size_t i = 0; i < count; i++) {
                c[i] = open_session();
                if (delegate_ping(c[i], &e) < 0)
                        bench_die("ping", e.message);
        }
        usleep(200000);
        long busy = rss_kib(broker);
        printf("| broker RSS idle (no session) | %ld KiB |\n", idle);
        printf("| broker RSS with %zu sessions | %ld KiB |\n", count, busy);
        printf("| per session | %.2f KiB |\n", (double) (busy - idle) / count);
        for (size_t i = 0; i < count; i++)
                delegate_ctx_free(c[i]);
        free(c);
        return 0;
}

int main(int argc, char **argv) {
        if ((argc == 5 || argc == 6) && strcmp(argv[1], "throughput") == 0)
                return throughput(strtoul(argv[2], NULL, 10), strtoull(argv[3], NULL, 10), argv[4],
                                  argc == 6 ? (pid_t) atoi(argv[5]) : 0);
        if (argc == 4 && strcmp(argv[1], "sessions") == 0)
                return sessions(strtoul(argv[2], NULL, 10), (pid_t) atoi(argv[3]));
        fprintf(stderr, "usage: bench-load throughput CLIENTS SECONDS OP [BROKER_PID] | sessions COUNT BROKER_PID\n");
        return 2;
}
