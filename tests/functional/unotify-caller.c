/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * unotify-caller - a hostile program for delegate-run's interception
 * (test-unotify.c), built from nothing of the project:
 *   race-memlock OK BAD HARD N   setrlimit(RLIMIT_MEMLOCK) N times on a struct
 *                                a second thread keeps flipping between soft OK
 *                                and soft BAD; after each call the kernel's
 *                                soft limit is read back.  Prints
 *                                "ok=A denied=B bad=C" (C: calls whose limit
 *                                became BAD).
 *   tun N                        N times: open /dev/net/tun, TUNSETIFF
 *                                {"utap%d", IFF_TAP|IFF_NO_PI}, close (the
 *                                device goes with the fd); prints "created=N".
 *   mq NAME N                    N queues of multi-queue TAP NAME, each its own
 *                                fd, all held until the end; prints "queues=K"
 *                                (how many TUNSETIFF calls succeeded).
 *   mq-again NAME GO [single]    two queues of multi-queue TAP NAME, closed (a
 *                                transient device goes with them), then once the
 *                                file GO exists two queues of NAME again, held for
 *                                30 s; prints "first=K", "gone=1" if NAME no longer
 *                                exists right after the close (0 if it does), then
 *                                "second=K".  With "single": one queue of a
 *                                single-queue TAP.
 *   mq-more NAME GO              two queues of multi-queue TAP NAME, held; once
 *                                the file GO exists a third; prints "queues=K",
 *                                then "more=K" (1: the third was attached), then
 *                                holds them for 30 s.
 *   sock-tunsetiff               TUNSETIFF {"utap%d", IFF_TAP} on its end of an
 *                                AF_UNIX stream socket pair with 4 bytes waiting
 *                                to be read in it; 1 s later reads them; prints
 *                                "tunsetiff=R (ERRNO) kept=N" (N: bytes read).
 *   flood THREADS SECONDS        THREADS threads ask sched_setscheduler(0,
 *                                SCHED_FIFO, 99) as fast as they can; prints
 *                                "calls=N eperm=M".
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static struct rlimit shared;
static atomic_bool stop;
static unsigned long long ok_soft, bad_soft;

static void *flipper(void *arg) {
        volatile struct rlimit *p = &shared;
        while (!atomic_load(&stop)) {
                p->rlim_cur = bad_soft;
                p->rlim_cur = ok_soft;
        }
        return NULL;
}

static atomic_ulong calls, eperm;
static double deadline;

static double now(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *flooder(void *arg) {
        struct sched_param sp = { .sched_priority = 99 };
        while (now() < deadline) {
                if (syscall(SYS_sched_setscheduler, 0, SCHED_FIFO, &sp) < 0 && errno == EPERM)
                        atomic_fetch_add(&eperm, 1);
                atomic_fetch_add(&calls, 1);
        }
        return NULL;
}

/* @n queues of multi-queue TAP @name, their fds in @fds (-1: refused); how many were made. */
static int mq_queues(const char *name, int *fds, int n) {
        int queues = 0;
        for (int i = 0; i < n; i++) {
                struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | (n > 1 ? IFF_MULTI_QUEUE : 0) };
                snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
                fds[i] = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
                if (fds[i] >= 0 && ioctl(fds[i], TUNSETIFF, &ifr) == 0)
                        queues++;
                else {
                        fprintf(stderr, "TUNSETIFF queue %d of %s: %s\n", i, name, strerror(errno));
                        if (fds[i] >= 0)
                                close(fds[i]);
                        fds[i] = -1;
                }
        }
        return queues;
}

int main(int argc, char **argv) {
        if (argc == 6 && !strcmp(argv[1], "race-memlock")) {
                ok_soft = strtoull(argv[2], NULL, 0);
                bad_soft = strtoull(argv[3], NULL, 0);
                shared.rlim_max = strtoull(argv[4], NULL, 0);
                shared.rlim_cur = ok_soft;
                int n = atoi(argv[5]), ok = 0, denied = 0, bad = 0;
                pthread_t t;
                pthread_create(&t, NULL, flipper, NULL);
                for (int i = 0; i < n; i++) {
                        struct rlimit now_rl;
                        if (syscall(SYS_setrlimit, RLIMIT_MEMLOCK, &shared) == 0)
                                ok++;
                        else
                                denied++;
                        getrlimit(RLIMIT_MEMLOCK, &now_rl);
                        if (now_rl.rlim_cur == bad_soft)
                                bad++;
                }
                atomic_store(&stop, true);
                pthread_join(t, NULL);
                printf("ok=%d denied=%d bad=%d\n", ok, denied, bad);
                return 0;
        }
        if (argc == 2 && !strcmp(argv[1], "sock-tunsetiff")) {
                int sp[2];
                if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0 || write(sp[0], "kept", 4) != 4)
                        return perror("socketpair"), 1;
                struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI };
                snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "utap%%d");
                int r = ioctl(sp[1], TUNSETIFF, &ifr), e = r < 0 ? errno : 0;
                sleep(1);
                char buf[16];
                ssize_t n = recv(sp[1], buf, sizeof(buf), MSG_DONTWAIT);
                printf("tunsetiff=%d (%s) kept=%zd\n", r, strerror(e), n);
                return 0;
        }
        if (argc == 3 && !strcmp(argv[1], "tun")) {
                int n = atoi(argv[2]), created = 0;
                for (int i = 0; i < n; i++) {
                        struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI };
                        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "utap%%d");
                        int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
                        if (fd >= 0 && ioctl(fd, TUNSETIFF, &ifr) == 0 && strncmp(ifr.ifr_name, "utap", 4) == 0)
                                created++;
                        else
                                fprintf(stderr, "TUNSETIFF %d: %s\n", i, strerror(errno));
                        if (fd >= 0)
                                close(fd);
                }
                printf("created=%d\n", created);
                return 0;
        }
        if (argc == 4 && !strcmp(argv[1], "mq")) {
                int n = atoi(argv[3]), queues = 0;
                for (int i = 0; i < n; i++) {
                        struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE };
                        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", argv[2]);
                        int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
                        if (fd >= 0 && ioctl(fd, TUNSETIFF, &ifr) == 0)
                                queues++; /* the fd stays open: the queue stays attached */
                        else
                                fprintf(stderr, "TUNSETIFF queue %d: %s\n", i, strerror(errno));
                }
                printf("queues=%d\n", queues);
                return 0;
        }
        if ((argc == 4 || (argc == 5 && !strcmp(argv[4], "single"))) && !strcmp(argv[1], "mq-again")) {
                int fds[2] = { -1, -1 }, n = argc == 5 ? 1 : 2;
                printf("first=%d\n", mq_queues(argv[2], fds, n));
                fflush(stdout);
                for (int i = 0; i < 2; i++)
                        if (fds[i] >= 0)
                                close(fds[i]);
                printf("gone=%d\n", if_nametoindex(argv[2]) == 0);
                fflush(stdout);
                for (int i = 0; i < 300 && access(argv[3], F_OK) < 0; i++)
                        usleep(100000);
                printf("second=%d\n", mq_queues(argv[2], fds, n));
                fflush(stdout);
                sleep(30);
                return 0;
        }
        if (argc == 4 && !strcmp(argv[1], "mq-more")) {
                int fds[3] = { -1, -1, -1 };
                printf("queues=%d\n", mq_queues(argv[2], fds, 2));
                fflush(stdout);
                for (int i = 0; i < 300 && access(argv[3], F_OK) < 0; i++)
                        usleep(100000);
                struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE };
                snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", argv[2]);
                fds[2] = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
                int more = fds[2] >= 0 && ioctl(fds[2], TUNSETIFF, &ifr) == 0;
                printf("more=%d%s%s\n", more, more ? "" : " ", more ? "" : strerror(errno));
                fflush(stdout);
                sleep(30);
                return 0;
        }
        if (argc == 4 && !strcmp(argv[1], "flood")) {
                int n = atoi(argv[2]);
                pthread_t t[64];
                deadline = now() + atof(argv[3]);
                for (int i = 0; i < n && i < 64; i++)
                        pthread_create(&t[i], NULL, flooder, NULL);
                for (int i = 0; i < n && i < 64; i++)
                        pthread_join(t[i], NULL);
                printf("calls=%lu eperm=%lu\n", atomic_load(&calls), atomic_load(&eperm));
                return 0;
        }
        fprintf(stderr, "usage: unotify-caller race-memlock OK BAD HARD N | tun N | mq NAME N | mq-again NAME GO "
                        "[single] | mq-more NAME GO | flood THREADS SECONDS\n");
        return 2;
}
