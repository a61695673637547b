/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-floor - the physical floor of each broker operation: the same
 * kernel calls made in-process by a privileged caller, no broker, no
 * policy, no checks.
 *
 *   bench-floor ITERATIONS CGROUP_DIR BRIDGE
 *
 * CGROUP_DIR holds two threaded cgroups "floor-a" and "floor-b" (created
 * here and removed afterwards); BRIDGE exists in the current netns.  Runs
 * as root (bench/run starts it in the pod's netns and cgroup).  BENCH_OPS
 * ("memlock.set sched.set cgroup.move tap.create") picks the floors.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/sched.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bench-util.h"

#define TAP_MAX 400

struct attr {
        uint32_t size, policy;
        uint64_t flags;
        int32_t nice;
        uint32_t priority;
        uint64_t runtime, deadline, period;
};

static int worker_tid;
static void *worker(void *arg) {
        __atomic_store_n(&worker_tid, (int) syscall(SYS_gettid), __ATOMIC_RELEASE);
        for (;;)
                pause();
        return NULL;
}

static void floor_prlimit(uint64_t *t, size_t n) {
        struct rlimit rl;
        getrlimit(RLIMIT_MEMLOCK, &rl);
        for (size_t i = 0; i < n; i++) {
                struct rlimit nl = { i % 2 ? rl.rlim_cur : rl.rlim_cur / 2, rl.rlim_max };
                uint64_t t0 = bench_now_ns();
                if (prlimit(0, RLIMIT_MEMLOCK, &nl, NULL) < 0)
                        bench_die("prlimit", strerror(errno));
                t[i] = bench_now_ns() - t0;
        }
        bench_report("memlock: prlimit()", "in-process syscall", t, n);
}

static void floor_sched(uint64_t *t, size_t n) {
        for (size_t i = 0; i < n; i++) {
                struct attr a = { .size = sizeof(a), .policy = i % 2 ? SCHED_OTHER : SCHED_FIFO,
                                  .priority = i % 2 ? 0 : 1, .flags = SCHED_FLAG_RESET_ON_FORK };
                uint64_t t0 = bench_now_ns();
                if (syscall(SYS_sched_setattr, worker_tid, &a, 0) < 0)
                        bench_die("sched_setattr", strerror(errno));
                t[i] = bench_now_ns() - t0;
        }
        bench_report("sched: sched_setattr() fifo/other", "in-process syscall", t, n);
}

static int open_threads(const char *dir, const char *name) {
        char p[512];
        snprintf(p, sizeof(p), "%s/%s", dir, name);
        if (mkdir(p, 0755) < 0 && errno != EEXIST)
                bench_die(p, strerror(errno));
        snprintf(p, sizeof(p), "%s/%s/cgroup.type", dir, name);
        int fd = open(p, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, "threaded", 8) != 8)
                bench_die(p, strerror(errno));
        close(fd);
        snprintf(p, sizeof(p), "%s/%s/cgroup.threads", dir, name);
        fd = open(p, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                bench_die(p, strerror(errno));
        return fd;
}

static void floor_cgroup(uint64_t *t, size_t n, const char *dir) {
        int fd[2] = { open_threads(dir, "floor-a"), open_threads(dir, "floor-b") };
        char num[32];
        int len = snprintf(num, sizeof(num), "%d", worker_tid);
        for (size_t i = 0; i < n; i++) {
                uint64_t t0 = bench_now_ns();
                if (write(fd[i % 2], num, len) != len)
                        bench_die("cgroup.threads", strerror(errno));
                t[i] = bench_now_ns() - t0;
        }
        bench_report("cgroup: write tid to cgroup.threads", "in-process syscall", t, n);
        /* the worker leaves with the process; the cgroups go once it is gone */
        close(fd[0]);
        close(fd[1]);
}

static void floor_tap(uint64_t *t, size_t n, const char *bridge) {
        int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        size_t m = n < TAP_MAX ? n : TAP_MAX;
        for (size_t i = 0; i < m; i++) {
                struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_TUN_EXCL };
                snprintf(ifr.ifr_name, IFNAMSIZ, "floor%%d");
                uint64_t t0 = bench_now_ns();
                int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
                if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr) < 0)
                        bench_die("TUNSETIFF", strerror(errno));
                struct ifreq br = { .ifr_ifindex = (int) if_nametoindex(ifr.ifr_name) };
                snprintf(br.ifr_name, IFNAMSIZ, "%s", bridge);
                if (ioctl(s, SIOCBRADDIF, &br) < 0)
                        bench_die("SIOCBRADDIF", strerror(errno));
                ifr.ifr_flags = IFF_UP;
                if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
                        bench_die("SIOCSIFFLAGS", strerror(errno));
                t[i] = bench_now_ns() - t0;
                close(fd);
        }
        close(s);
        bench_report("tap: TUNSETIFF + SIOCBRADDIF + up", "in-process syscalls (root)", t, m);
}

int main(int argc, char **argv) {
        if (argc != 4)
                bench_die("usage", "bench-floor ITERATIONS CGROUP_DIR BRIDGE");
        size_t n = strtoul(argv[1], NULL, 10);
        uint64_t *t = calloc(n ? n : 1, sizeof(*t));
        pthread_t th;
        if (!t || n == 0)
                bench_die("bench-floor", "bad iteration count");
        if (pthread_create(&th, NULL, worker, NULL) != 0)
                bench_die("pthread_create", "failed");
        while (!__atomic_load_n(&worker_tid, __ATOMIC_ACQUIRE))
                usleep(1000);
        /* BENCH_OPS: only the floors of those ops (bench_wanted()) */
        if (bench_wanted("memlock.set"))
                floor_prlimit(t, n);
        if (bench_wanted("sched.set"))
                floor_sched(t, n);
        if (bench_wanted("cgroup.move"))
                floor_cgroup(t, n, argv[2]);
        if (bench_wanted("tap.create"))
                floor_tap(t, n, argv[3]);
        free(t);
        return 0;
}
