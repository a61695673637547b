/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-roundtrip - round-trip latency of broker operations against their
 * floors: the bare syscall in-process and a bare SOCK_SEQPACKET echo.
 *
 *   bench-roundtrip [ITERATIONS]     (DELEGATE_SOCKET names the broker)
 *
 * Prints one markdown table row per measurement: median and p99 in us.
 */
#define DELEGATE_INTERNAL_UNSTABLE_API_OPT_IN
#include <delegate/delegate-internal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return x < y ? -1 : x > y;
}

static void report(const char *what, uint64_t *t, size_t n) {
        qsort(t, n, sizeof(*t), cmp_u64);
        printf("| %s | %zu | %.1f | %.1f |\n", what, n, t[n / 2] / 1000.0, t[(n * 99) / 100] / 1000.0);
        fflush(stdout);
}

int main(int argc, char **argv) {
        size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 20000;
        uint64_t *t = calloc(n, sizeof(*t));
        char buf[65536];
        struct rlimit rl;
        if (!t)
                return 1;

        getrlimit(RLIMIT_MEMLOCK, &rl);
        for (size_t i = 0; i < n; i++) {
                uint64_t t0 = now_ns();
                prlimit(0, RLIMIT_MEMLOCK, &rl, NULL);
                t[i] = now_ns() - t0;
        }
        report("prlimit() in-process (syscall floor)", t, n);

        int sv[2];
        socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv);
        pid_t pid = fork();
        if (pid == 0) {
                close(sv[0]);
                ssize_t k;
                while ((k = recv(sv[1], buf, sizeof(buf), 0)) > 0)
                        send(sv[1], buf, k, 0);
                _exit(0);
        }
        close(sv[1]);
        const char *msg = "{\"id\":1,\"op\":\"ping\"}";
        for (size_t i = 0; i < n; i++) {
                uint64_t t0 = now_ns();
                send(sv[0], msg, strlen(msg), 0);
                recv(sv[0], buf, sizeof(buf), 0);
                t[i] = now_ns() - t0;
        }
        close(sv[0]);
        waitpid(pid, NULL, 0);
        report("SOCK_SEQPACKET echo (transport floor)", t, n);

        delegate_ctx *ctx;
        delegate_error e;
        if (delegate_open(DELEGATE_API_VERSION, NULL, "bench", "bench-vm", &ctx, &e) < 0) {
                fprintf(stderr, "bench-roundtrip: %s\n", e.message);
                return 1;
        }
        delegate_ctx_set_mode(ctx, DELEGATE_MODE_BROKER);
        for (size_t i = 0; i < n; i++) {
                uint64_t t0 = now_ns();
                if (delegate_ping(ctx, &e) < 0) {
                        fprintf(stderr, "bench-roundtrip: ping: %s\n", e.message);
                        return 1;
                }
                t[i] = now_ns() - t0;
        }
        report("broker ping (libdelegate)", t, n);
        for (size_t i = 0; i < n; i++) {
                uint64_t t0 = now_ns();
                if (delegate_memlock_set(ctx, 0, rl.rlim_cur, DELEGATE_LIMIT_KEEP, NULL, &e) < 0) {
                        fprintf(stderr, "bench-roundtrip: memlock.set: %s\n", e.message);
                        return 1;
                }
                t[i] = now_ns() - t0;
        }
        report("broker memlock.set on itself (libdelegate)", t, n);
        delegate_ctx_free(ctx);
        free(t);
        return 0;
}
