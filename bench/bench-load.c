/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-load - the broker under load, from pod clients.
 *
 *   bench-load throughput CLIENTS SECONDS OP
 *       CLIENTS processes, one session each, send OP ("ping" or
 *       "memlock.set") back to back for SECONDS; prints one row:
 *       | clients | op | requests/s | median us | p99 us | worst client's p99 us | fewest requests of a client |
 *       (-1 as the worst p99: a client got no request through)
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

static int throughput(size_t clients, uint64_t seconds, const char *op) {
        shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (sh == MAP_FAILED || clients == 0 || clients > 256)
                bench_die("bench-load", "1 to 256 clients");
        for (size_t k = 0; k < clients; k++)
                if (fork() == 0)
                        client(sh, k, clients, seconds, op);
        usleep(200000 + 2000 * clients); /* every session open before "go" */
        sh->go = 1;
        while (wait(NULL) > 0)
                ;
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
        printf("| %zu | %s | %.0f | %.1f | %.1f | %.1f | %" PRIu64 " |\n", clients, op, (double) total / seconds,
               med / 1000.0, p99 / 1000.0, worst == UINT64_MAX ? -1.0 : worst / 1000.0, fewest);
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
        if (argc == 5 && strcmp(argv[1], "throughput") == 0)
                return throughput(strtoul(argv[2], NULL, 10), strtoull(argv[3], NULL, 10), argv[4]);
        if (argc == 4 && strcmp(argv[1], "sessions") == 0)
                return sessions(strtoul(argv[2], NULL, 10), (pid_t) atoi(argv[3]));
        fprintf(stderr, "usage: bench-load throughput CLIENTS SECONDS OP | sessions COUNT BROKER_PID\n");
        return 2;
}
