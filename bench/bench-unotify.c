/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-unotify - round trips of syscalls intercepted by delegate-run(1),
 * next to the socket operations of bench-roundtrip:
 *
 *   delegate-run -- bench-unotify ITERATIONS [LABEL]
 *
 * Rows (see bench-util.h):
 *   - sched_setscheduler(SCHED_FIFO) of a second thread: notification,
 *     sched.set in the broker, answer;
 *   - sched_setattr(SCHED_OTHER): notified and handed back to the kernel
 *     (CONTINUE), the floor of an intercepted call;
 *   - open /dev/net/tun + TUNSETIFF creating a TAP (the broker's helper in
 *     the caller's netns) + close (the device goes with the fd), at most
 *     ITERATIONS/10 times: each one also costs a device's creation and
 *     teardown.
 * It lowers its own hard RLIMIT_RTTIME first (no privilege needed), which
 * the policy's rttime safety asks of a realtime thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bench-util.h"

static const char *label = "";
static pid_t second_tid;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;

static void row(const char *what, uint64_t *t, size_t n) {
        char name[256];
        snprintf(name, sizeof(name), "%s%s%s", what, *label ? ", " : "", label);
        bench_report(name, "seccomp notification -> broker", t, n);
}

static void *idle_thread(void *arg) {
        pthread_mutex_lock(&lock);
        second_tid = (pid_t) syscall(SYS_gettid);
        pthread_cond_broadcast(&cond);
        pthread_mutex_unlock(&lock);
        pause();
        return NULL;
}

/* struct sched_attr, SCHED_ATTR_SIZE_VER0 */
struct attr_v0 {
        uint32_t size, policy;
        uint64_t flags;
        int32_t nice;
        uint32_t priority;
        uint64_t runtime, deadline, period;
};

int main(int argc, char **argv) {
        if (argc < 2)
                bench_die("usage", "delegate-run -- bench-unotify ITERATIONS [LABEL]");
        size_t n = strtoul(argv[1], NULL, 10), n_tap = n / 10 ? n / 10 : 1;
        if (argc > 2)
                label = argv[2];
        uint64_t *t = calloc(n, sizeof(*t));
        if (!t)
                bench_die("calloc", "out of memory");
        struct rlimit rt = { 200000, 200000 };
        if (setrlimit(RLIMIT_RTTIME, &rt) < 0)
                bench_die("setrlimit(RLIMIT_RTTIME)", strerror(errno));

        pthread_t th;
        pthread_create(&th, NULL, idle_thread, NULL);
        pthread_mutex_lock(&lock);
        while (!second_tid)
                pthread_cond_wait(&cond, &lock);
        pthread_mutex_unlock(&lock);

        for (size_t i = 0; i < n; i++) {
                struct sched_param sp = { .sched_priority = 1 + (int) (i & 1) };
                uint64_t t0 = bench_now_ns();
                if (syscall(SYS_sched_setscheduler, second_tid, SCHED_FIFO, &sp) < 0)
                        bench_die("sched_setscheduler(SCHED_FIFO), intercepted", strerror(errno));
                t[i] = bench_now_ns() - t0;
        }
        row("sched_setscheduler FIFO of a thread, intercepted (sched.set)", t, n);

        for (size_t i = 0; i < n; i++) {
                /* keeps SCHED_RESET_ON_FORK: only a privileged caller may drop it */
                struct attr_v0 a = { .size = sizeof(a), .policy = SCHED_OTHER, .flags = 1 };
                uint64_t t0 = bench_now_ns();
                if (syscall(SYS_sched_setattr, second_tid, &a, 0) < 0)
                        bench_die("sched_setattr(SCHED_OTHER)", strerror(errno));
                t[i] = bench_now_ns() - t0;
        }
        row("sched_setattr OTHER, intercepted and continued (the kernel judges)", t, n);

        for (size_t i = 0; i < n_tap; i++) {
                struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI };
                snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "bench%%d");
                uint64_t t0 = bench_now_ns();
                int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
                if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr) < 0)
                        bench_die("open + TUNSETIFF, intercepted", strerror(errno));
                t[i] = bench_now_ns() - t0;
                close(fd);
                bench_taps_gone("bench");
        }
        row("open /dev/net/tun + TUNSETIFF creating a TAP, intercepted (tap.create)", t, n_tap);
        free(t);
        return 0;
}
