/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-roundtrip - round-trip latency of broker operations, from a pod
 * client, against the transport floor (a bare SOCK_SEQPACKET echo).
 *
 *   bench-roundtrip ITERATIONS [LABEL]     (DELEGATE_SOCKET names the broker)
 *
 * BENCH_OPS="ping sched.set ..." runs only those rows (and "echo" the
 * echo rows); unset, every row.
 *
 * Run it as the pod's uid inside its pod cgroup and network namespace
 * (bench/run does): every operation then takes the path a launcher's does.
 * The thread that sched.set and cgroup.move act on is a second thread of
 * this process, as a vCPU thread is one of QEMU's.  LABEL is appended to
 * each row's name (e.g. "both on CPU 0").  BENCH_CPU pins this process.
 * BENCH_MEMLOCK_ROW and BENCH_MEMLOCK_PATH, when set, replace the
 * memlock.set row's name and path (the broker's path without a helper,
 * with CAP_SYS_RESOURCE: bench/sandbox.sh says which it measured).
 *
 * Prints markdown rows (see bench-util.h).
 */
#define DELEGATE_INTERNAL_UNSTABLE_API_OPT_IN
#include <delegate/delegate-internal.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench-util.h"

#define TAP_MAX 400 /* each tap.create also costs a device teardown */

static const char *label = "";

#define wanted bench_wanted

static void row(const char *what, const char *path, uint64_t *t, size_t n) {
        char name[256];
        snprintf(name, sizeof(name), "%s%s%s", what, *label ? ", " : "", label);
        bench_report(name, path, t, n);
}

/* The echo server: pinned to @cpu (-1: anywhere), echoes until EOF. */
static pid_t echo_server(int fd, int other, int cpu) {
        pid_t pid = fork();
        if (pid != 0)
                return pid;
        close(other); /* else recv() never sees the client's EOF */
        char buf[65536];
        ssize_t k;
        bench_pin(cpu);
        while ((k = recv(fd, buf, sizeof(buf), 0)) > 0)
                if (send(fd, buf, k, 0) != k)
                        break;
        _exit(0);
}

static void bench_echo(uint64_t *t, size_t n, int cpu_client, int cpu_server, const char *what) {
        const char *msg = "{\"id\":1,\"op\":\"ping\"}";
        char buf[65536];
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
                bench_die("socketpair", "failed");
        pid_t pid = echo_server(sv[1], sv[0], cpu_server);
        close(sv[1]);
        bench_pin(cpu_client);
        for (size_t i = 0; i < n; i++) {
                uint64_t t0 = bench_now_ns();
                if (send(sv[0], msg, strlen(msg), 0) < 0 || recv(sv[0], buf, sizeof(buf), 0) <= 0)
                        bench_die("echo", "send/recv failed");
                t[i] = bench_now_ns() - t0;
        }
        close(sv[0]);
        waitpid(pid, NULL, 0);
        bench_pin(-1);
        bench_report(what, "socketpair, no broker", t, n);
}

/* A thread standing for a vCPU: it only waits. */
static int worker_tid;
static void *worker(void *arg) {
        __atomic_store_n(&worker_tid, (int) syscall(SYS_gettid), __ATOMIC_RELEASE);
        for (;;)
                pause();
        return NULL;
}

static void call(delegate_ctx *c, const char *op, const char *args, int *fds, size_t max_fds, size_t *ret_n) {
        delegate_error e;
        if (delegate_call(c, op, args, NULL, fds, max_fds, ret_n, NULL, &e) < 0)
                bench_die(op, e.message);
}

static void bench_ops(delegate_ctx *c, uint64_t *t, size_t n) {
        const char *path = "pod uid -> broker";
        char args[256];
        struct rlimit rl;
        delegate_error e;

        for (size_t i = 0; i < n && wanted("ping"); i++) {
                uint64_t t0 = bench_now_ns();
                if (delegate_ping(c, &e) < 0)
                        bench_die("ping", e.message);
                t[i] = bench_now_ns() - t0;
        }
        if (wanted("ping"))
                row("ping", path, t, n);

        getrlimit(RLIMIT_MEMLOCK, &rl);
        for (size_t i = 0; i < n && wanted("memlock.set"); i++) {
                uint64_t soft = i % 2 ? rl.rlim_cur : rl.rlim_cur / 2;
                uint64_t t0 = bench_now_ns();
                if (delegate_memlock_set(c, 0, soft, DELEGATE_LIMIT_KEEP, NULL, &e) < 0)
                        bench_die("memlock.set", e.message);
                t[i] = bench_now_ns() - t0;
        }
        if (wanted("memlock.set")) {
                const char *name = getenv("BENCH_MEMLOCK_ROW"), *via = getenv("BENCH_MEMLOCK_PATH");
                row(name ? name : "memlock.set", via ? via : "pod uid -> broker -> helper process as pod uid", t, n);
        }

        for (size_t i = 0; i < n && wanted("sched.set"); i++) {
                if (i % 2)
                        snprintf(args, sizeof(args), "{\"tid\":%d,\"policy\":\"other\"}", worker_tid);
                else
                        snprintf(args, sizeof(args), "{\"tid\":%d,\"policy\":\"fifo\",\"priority\":1}", worker_tid);
                uint64_t t0 = bench_now_ns();
                call(c, "sched.set", args, NULL, 0, NULL);
                t[i] = bench_now_ns() - t0;
        }
        if (wanted("sched.set"))
                row("sched.set fifo/other", path, t, n);

        for (size_t i = 0; i < n && wanted("cgroup.move"); i++) {
                snprintf(args, sizeof(args), "{\"tids\":[%d],\"target\":\"hk-%c\",\"create\":%s}", worker_tid,
                         i % 2 ? 'b' : 'a', i < 2 ? "true" : "false");
                uint64_t t0 = bench_now_ns();
                call(c, "cgroup.move", args, NULL, 0, NULL);
                t[i] = bench_now_ns() - t0;
        }
        if (wanted("cgroup.move"))
                row("cgroup.move one thread", path, t, n);

        size_t m = !wanted("tap.create") ? 0 : n < TAP_MAX ? n : TAP_MAX;
        for (size_t i = 0; i < m; i++) {
                int fd = -1;
                size_t k = 0;
                uint64_t t0 = bench_now_ns();
                call(c, "tap.create", "{\"name\":\"bench%d\",\"bridge\":\"br0\"}", &fd, 1, &k);
                t[i] = bench_now_ns() - t0;
                close(fd); /* transient: the device goes with its last fd */
                bench_taps_gone("bench");
        }
        if (m)
                row("tap.create + bridge", "pod uid -> broker -> helper in pod netns", t, m);
}

int main(int argc, char **argv) {
        size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 20000;
        const char *cpu = getenv("BENCH_CPU");
        uint64_t *t = calloc(n, sizeof(*t));
        delegate_ctx *ctx;
        delegate_error e;
        pthread_t th;

        if (!t || n == 0)
                bench_die("bench-roundtrip", "bad iteration count");
        if (argc > 2)
                label = argv[2];
        if (!cpu && wanted("echo")) {
                bench_echo(t, n, -1, -1, "SEQPACKET echo, unpinned");
                bench_echo(t, n, 0, 0, "SEQPACKET echo, both ends on CPU 0");
                bench_echo(t, n, 0, 1, "SEQPACKET echo, ends on CPU 0 and 1");
        } else if (cpu) /* unpinned otherwise (BENCH_OPS without echo) */
                bench_pin(atoi(cpu));

        /* sched.set's realtime rules want a finite RLIMIT_RTTIME */
        struct rlimit rt = { 200000, 200000 };
        if (setrlimit(RLIMIT_RTTIME, &rt) < 0)
                bench_die("setrlimit", "RLIMIT_RTTIME");
        if (pthread_create(&th, NULL, worker, NULL) != 0)
                bench_die("pthread_create", "failed");
        while (!__atomic_load_n(&worker_tid, __ATOMIC_ACQUIRE))
                usleep(1000);

        if (delegate_open(DELEGATE_API_VERSION, NULL, "bench", "bench-vm", &ctx, &e) < 0)
                bench_die("connect", e.message);
        delegate_ctx_set_mode(ctx, DELEGATE_MODE_BROKER);
        bench_ops(ctx, t, n);
        delegate_ctx_free(ctx);
        free(t);
        return 0;
}
