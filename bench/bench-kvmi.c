/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-kvmi - kvmi.set-page-access throughput, inline JSON against a
 * sealed memfd, through a real broker to the simulated KVMI peer.
 *
 *   bench-kvmi PEER ENTRIES [REPEAT]   (DELEGATE_SOCKET names the broker)
 *
 * PEER is tests/functional/kvmi-peer.  BENCH_KVMI=memfd runs only the memfd
 * rows (for a profile of that path).  Prints markdown table rows: entries,
 * requests, median seconds, entries per second.  The peer answers from
 * memory, so this measures the broker and the transport, not a kernel.
 */
#define DELEGATE_INTERNAL_UNSTABLE_API_OPT_IN
#include <delegate/delegate-internal.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGES (4u * 1024 * 1024)
#define CHUNK 2500 /* inline entries per request: what fits a 64 KiB datagram */

typedef struct entry {
        uint64_t gpa;
        uint8_t access, pad[7];
} entry;

static double now_s(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_d(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return x < y ? -1 : x > y;
}

static void die(const char *what, const delegate_error *e) {
        fprintf(stderr, "bench-kvmi: %s: %s\n", what, e ? e->message : "failed");
        exit(1);
}

/* Attach, start the peer (it connects to our socket as QEMU does), hand its connection over; its pid. */
static pid_t attach(delegate_ctx *c, const char *peer) {
        delegate_error e;
        if (delegate_call(c, "kvmi.attach", "{\"keyed\":false}", NULL, NULL, 0, NULL, NULL, &e) < 0)
                die("kvmi.attach", &e);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        snprintf(sa.sun_path, sizeof(sa.sun_path), "/tmp/bench-kvmi-%d.sock", (int) getpid());
        unlink(sa.sun_path);
        int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (lfd < 0 || bind(lfd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(lfd, 1) < 0)
                die("listen", NULL);
        pid_t pid = fork();
        if (pid == 0) {
                char pages[32];
                snprintf(pages, sizeof(pages), "%u", PAGES);
                execl(peer, "kvmi-peer", "--connect", sa.sun_path, "--name", "bench", "--pages", pages,
                      "--connections", "1", (char *) NULL);
                _exit(127);
        }
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        close(lfd);
        unlink(sa.sun_path);
        if (fd < 0 || delegate_call_with_fds(c, "kvmi.connect", "{\"socket\":0}", &fd, 1, NULL, NULL, 0, NULL, &e) < 0)
                die("kvmi.connect", &e);
        close(fd);
        return pid;
}

static void detach(delegate_ctx *c, pid_t pid) {
        delegate_error e;
        delegate_call(c, "kvmi.detach", NULL, NULL, NULL, 0, NULL, NULL, &e);
        waitpid(pid, NULL, 0);
}

static double run_inline(delegate_ctx *c, const entry *e, size_t n, size_t *ret_reqs) {
        static char buf[DELEGATE_MAX_MESSAGE];
        delegate_error err;
        double t0 = now_s();
        *ret_reqs = 0;
        for (size_t at = 0; at < n; at += CHUNK) {
                size_t k = n - at < CHUNK ? n - at : CHUNK, len = 0;
                len += snprintf(buf, sizeof(buf), "{\"entries\":[");
                for (size_t i = at; i < at + k; i++)
                        len += snprintf(buf + len, sizeof(buf) - len, "%s[%" PRIu64 ",%u]", i == at ? "" : ",", e[i].gpa,
                                        e[i].access);
                snprintf(buf + len, sizeof(buf) - len, "]}");
                if (delegate_call(c, "kvmi.set-page-access", buf, NULL, NULL, 0, NULL, NULL, &err) < 0)
                        die("inline kvmi.set-page-access", &err);
                (*ret_reqs)++;
        }
        return now_s() - t0;
}

static double run_memfd(delegate_ctx *c, const entry *e, size_t n) {
        delegate_error err;
        double t0 = now_s(); /* the memfd is part of the client's cost */
        int fd = memfd_create("bench", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (fd < 0 || write(fd, e, n * sizeof(*e)) != (ssize_t) (n * sizeof(*e)) ||
            fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0)
                die("memfd", NULL);
        if (delegate_call_with_fds(c, "kvmi.set-page-access", "{\"memfd\":0}", &fd, 1, NULL, NULL, 0, NULL, &err) < 0)
                die("memfd kvmi.set-page-access", &err);
        close(fd);
        return now_s() - t0;
}

int main(int argc, char **argv) {
        if (argc < 3) {
                fprintf(stderr, "usage: bench-kvmi PEER ENTRIES [REPEAT]\n");
                return 2;
        }
        size_t n = strtoull(argv[2], NULL, 10), rep = argc > 3 ? strtoull(argv[3], NULL, 10) : 5;
        entry *e = calloc(n, sizeof(*e));
        for (size_t i = 0; i < n; i++)
                e[i] = (entry) { .gpa = (uint64_t) ((i * 2654435761u) % PAGES) << 12, .access = (uint8_t) (i % 7) };
        delegate_ctx *c;
        delegate_error err;
        if (delegate_open(DELEGATE_API_VERSION, NULL, "bench-kvmi", "bench", &c, &err) < 0)
                die("connect", &err);
        double t_in[32], t_mf[32];
        size_t reqs = 0;
        bool only_memfd = getenv("BENCH_KVMI") && strcmp(getenv("BENCH_KVMI"), "memfd") == 0;
        if (rep > 32)
                rep = 32;
        for (size_t r = 0; r < rep; r++) {
                pid_t p; /* kvmi.connect answers once the handshake is done */
                if (!only_memfd) {
                        p = attach(c, argv[1]);
                        t_in[r] = run_inline(c, e, n, &reqs);
                        detach(c, p);
                }
                p = attach(c, argv[1]);
                t_mf[r] = run_memfd(c, e, n);
                detach(c, p);
        }
        double t_cp[32];
        entry *copy = malloc(n * sizeof(*e));
        for (size_t r = 0; r < rep && copy; r++) {
                double t0 = now_s();
                memcpy(copy, e, n * sizeof(*e));
                __asm__ volatile("" : : "r"(copy) : "memory"); /* keep the copy */
                t_cp[r] = now_s() - t0;
        }
        if (!copy)
                die("malloc", NULL);
        free(copy);
        qsort(t_cp, rep, sizeof(double), cmp_d);
        qsort(t_in, rep, sizeof(double), cmp_d);
        qsort(t_mf, rep, sizeof(double), cmp_d);
        if (!only_memfd)
                printf("| inline JSON, %d entries per request | %zu | %zu | %.3f | %.0f |\n", CHUNK, n, reqs,
                       t_in[rep / 2], n / t_in[rep / 2]);
        printf("| sealed memfd, one request | %zu | 1 | %.3f | %.0f |\n", n, t_mf[rep / 2], n / t_mf[rep / 2]);
        printf("| memcpy of the same %zu bytes (floor) | %zu | - | %.4f | %.0f |\n", n * sizeof(*e), n, t_cp[rep / 2],
               n / t_cp[rep / 2]);
        delegate_ctx_free(c);
        free(e);
        return 0;
}
