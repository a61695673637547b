/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-hostile - ping latency of a well-behaved client, alone and while
 * hostile clients hammer the broker: garbage datagrams, SCM_RIGHTS floods
 * (253 fds per datagram), a client that never reads its replies, a
 * connect/close flood, and a client that creates TAP devices and closes
 * each queue as it arrives.  Also the broker's fd count and RSS after each
 * round (from /proc, the broker's pid from SO_PEERCRED), which must stay
 * flat.
 *
 *   bench-hostile [ITERATIONS]     (DELEGATE_SOCKET names the broker)
 *
 * Run as root: the hostile clients then drop to uid 65534, so the
 * broker's per-process rate limit applies to them (uid 0 is exempt) while
 * the measured client, uid 0, is never rate-limited.  Prints one markdown
 * table row per round: median and p99 in us, broker fds and RSS in KiB.
 * With 2 cores the hostile processes also compete for CPU with the broker
 * and the measured client; the numbers include that.  Two more rows time a
 * new client instead, from connect(2) to the broker's welcome, alone and
 * while LOAD_PINGERS clients ping as fast as they are answered (the price
 * of the accepting's turn under load, delegate-broker(8) LIMITS).
 */
#define DELEGATE_INTERNAL_UNSTABLE_API_OPT_IN
#include <delegate/delegate-internal.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench-util.h"

#define MAX_HOSTILE 8
#define LOAD_PINGERS 64

static const char *sock_path(void) {
        const char *e = getenv("DELEGATE_SOCKET");
        return e && *e ? e : DELEGATE_DEFAULT_SOCKET;
}

static int raw_connect(void) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path());
        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                close(fd);
                return -1;
        }
        return fd;
}

/* Connect and say hello; -1 when refused. */
static int raw_hello(void) {
        static const char hello[] = "{\"type\":\"hello\",\"api\":1,\"client\":\"hostile\"}";
        char buf[4096];
        int fd = raw_connect();
        if (fd < 0)
                return -1;
        if (send(fd, hello, sizeof(hello) - 1, MSG_NOSIGNAL) < 0 || recv(fd, buf, sizeof(buf), 0) <= 0) {
                close(fd);
                return -1;
        }
        return fd;
}

/* raw_hello() until welcomed (a hostile client starts again after each refusal) */
static int hello_again(void) {
        for (;;) {
                int fd = raw_hello();
                if (fd >= 0)
                        return fd;
                usleep(1000);
        }
}

/* Drain whatever replies are there, without waiting. */
static void drain(int fd) {
        char buf[65536];
        while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
                ;
}

static void hostile_garbage(void) {
        char junk[512];
        for (size_t i = 0; i < sizeof(junk); i++)
                junk[i] = (char) (i * 131 + 7);
        for (;;) {
                int fd = hello_again();
                while (send(fd, junk, sizeof(junk), MSG_NOSIGNAL) >= 0)
                        drain(fd);
                close(fd);
        }
}

static void hostile_fd_flood(void) {
        int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int) * 253)];
        } ctl;
        for (;;) {
                int fd = hello_again();
                for (;;) {
                        static const char msg[] = "{\"id\":1,\"op\":\"ping\"}";
                        struct iovec iov = { .iov_base = (void *) msg, .iov_len = sizeof(msg) - 1 };
                        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                                             .msg_controllen = sizeof(ctl.buf) };
                        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
                        cm->cmsg_level = SOL_SOCKET;
                        cm->cmsg_type = SCM_RIGHTS;
                        cm->cmsg_len = CMSG_LEN(sizeof(int) * 253);
                        for (int i = 0; i < 253; i++)
                                memcpy(CMSG_DATA(cm) + i * sizeof(int), &null, sizeof(int));
                        if (sendmsg(fd, &mh, MSG_NOSIGNAL) < 0)
                                break;
                        drain(fd);
                }
                close(fd);
        }
}

static void hostile_non_reader(void) {
        static const char msg[] = "{\"id\":1,\"op\":\"state.get\"}";
        for (;;) {
                int fd = hello_again();
                /* fill everything, then keep poking without ever reading */
                while (send(fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) >= 0 || errno == EAGAIN) {
                        if (errno == EAGAIN) {
                                struct pollfd p = { .fd = fd, .events = POLLOUT };
                                poll(&p, 1, 100);
                        }
                        errno = 0;
                }
                close(fd);
        }
}

/* Not hostile as such, but a pattern that made the broker's own close of a TAP queue the last: tap.create,
 * the queue closed as soon as it arrives, again (the device's teardown waits for an RCU grace period) */
static void hostile_tap_churn(void) {
        char buf[4096], msg[128];
        uint64_t id = 0;
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int) * 8)];
        } ctl;
        for (;;) {
                int fd = hello_again();
                for (;;) {
                        struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
                        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                                             .msg_controllen = sizeof(ctl.buf) };
                        /* a new id each time: the broker answers a repeated one from its cache */
                        int n = snprintf(msg, sizeof(msg),
                                         "{\"id\":%" PRIu64 ",\"op\":\"tap.create\",\"args\":{\"name\":\"hostile%%d\"}}",
                                         ++id);
                        if (send(fd, msg, (size_t) n, MSG_NOSIGNAL) < 0 || recvmsg(fd, &mh, MSG_CMSG_CLOEXEC) <= 0)
                                break;
                        size_t got = 0;
                        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
                                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
                                        for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++, got++)
                                                close(((int *) CMSG_DATA(c))[i]);
                        if (!got) /* refused (its limit while the closed ones go): not a busy loop */
                                usleep(1000);
                }
                close(fd);
        }
}

static void hostile_connect_flood(void) {
        for (;;) {
                int fd = raw_connect();
                if (fd >= 0)
                        close(fd);
        }
}

/* Not hostile: one of LOAD_PINGERS well-behaved clients, a ping as soon as the last is answered. */
static void busy_pinger(void) {
        static const char msg[] = "{\"id\":1,\"op\":\"ping\"}";
        char buf[4096];
        int fd = raw_hello();
        while (fd >= 0 && send(fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL) > 0 && recv(fd, buf, sizeof(buf), 0) > 0)
                ;
}

typedef void (*hostile_fn)(void);

static pid_t spawn(hostile_fn fn) {
        pid_t pid = fork();
        if (pid != 0)
                return pid;
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getuid() == 0 && (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
                              setresuid(65534, 65534, 65534) < 0))
                _exit(1);
        fn();
        _exit(0);
}

static int broker_fds(pid_t pid) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/fd", (int) pid);
        DIR *d = opendir(path);
        int n = -1;
        if (d) {
                for (n = 0; readdir(d);)
                        n++;
                closedir(d);
                n -= 2;
        }
        return n;
}

/* The table row of @n times @t: median and p99 in us, then the broker's fds and RSS. */
static void report(const char *what, size_t n, uint64_t *t, pid_t broker) {
        uint64_t med, p99;
        bench_stats(t, n, &med, &p99);
        printf("| %s | %zu | %.1f | %.1f | %d | %ld |\n", what, n, med / 1000.0, p99 / 1000.0, broker_fds(broker),
               bench_rss_kib(broker));
        fflush(stdout);
}

static int measure(const char *what, delegate_ctx *ctx, size_t n, uint64_t *t, pid_t broker) {
        delegate_error e;
        for (size_t i = 0; i < n; i++) {
                uint64_t t0 = bench_now_ns();
                if (delegate_ping(ctx, &e) < 0) {
                        fprintf(stderr, "bench-hostile: ping (%s): %s: %s\n", what, e.code, e.message);
                        return -1;
                }
                t[i] = bench_now_ns() - t0;
        }
        report(what, n, t, broker);
        return 0;
}

/* A new client, @n times: connect, hello, the welcome (then close). */
static int measure_welcome(const char *what, size_t n, uint64_t *t, pid_t broker) {
        for (size_t i = 0; i < n; i++) {
                uint64_t t0 = bench_now_ns();
                int fd = raw_hello();
                if (fd < 0) {
                        fprintf(stderr, "bench-hostile: %s: not welcomed\n", what);
                        return -1;
                }
                t[i] = bench_now_ns() - t0;
                close(fd);
        }
        report(what, n, t, broker);
        return 0;
}

static void stop(pid_t *pids, size_t n) {
        for (size_t i = 0; i < n; i++) {
                kill(pids[i], SIGKILL);
                waitpid(pids[i], NULL, 0);
        }
}

int main(int argc, char **argv) {
        size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 5000;
        static const struct {
                const char *what;
                hostile_fn fn[4];
        } rounds[] = {
                { "ping alone", { NULL } },
                { "ping + garbage sender", { hostile_garbage } },
                { "ping + SCM_RIGHTS flood (253 fds/datagram)", { hostile_fd_flood } },
                { "ping + client that never reads", { hostile_non_reader } },
                { "ping + connect/close flood", { hostile_connect_flood } },
                { "ping + tap.create churn (each queue closed as it arrives)", { hostile_tap_churn } },
                { "ping + all four at once", { hostile_garbage, hostile_fd_flood, hostile_non_reader,
                                               hostile_connect_flood } },
                { "ping alone, after", { NULL } },
        };
        uint64_t *t = calloc(n ? n : 1, sizeof(*t));
        delegate_ctx *ctx;
        delegate_error e;
        if (!t || n == 0)
                return 1;
        if (delegate_open(DELEGATE_API_VERSION, NULL, "bench-hostile", "bench-vm", &ctx, &e) < 0) {
                fprintf(stderr, "bench-hostile: %s\n", e.message);
                return 1;
        }
        delegate_ctx_set_mode(ctx, DELEGATE_MODE_BROKER);
        /* the broker's pid, from our own connection to it */
        int probe = raw_connect();
        struct ucred cr = {};
        socklen_t l = sizeof(cr);
        if (probe < 0 || getsockopt(probe, SOL_SOCKET, SO_PEERCRED, &cr, &l) < 0) {
                fprintf(stderr, "bench-hostile: cannot reach the broker at '%s'\n", sock_path());
                return 1;
        }
        close(probe);
        if (getuid() != 0)
                fprintf(stderr, "bench-hostile: not root: the hostile clients share our uid and our rate limit "
                                "does not apply to them as it would\n");

        int r = 0;
        for (size_t k = 0; k < sizeof(rounds) / sizeof(rounds[0]) && r == 0; k++) {
                pid_t pids[MAX_HOSTILE];
                size_t np = 0;
                for (size_t i = 0; i < 4 && rounds[k].fn[i]; i++)
                        pids[np++] = spawn(rounds[k].fn[i]);
                if (np)
                        usleep(300 * 1000); /* let the flood build up */
                r = measure(rounds[k].what, ctx, n, t, cr.pid);
                stop(pids, np);
                usleep(200 * 1000);
        }
        /* a new client's way in, a tenth as many (each is a session opened and closed) */
        size_t nw = n / 10 ? n / 10 : 1;
        if (r == 0)
                r = measure_welcome("new client, connect to welcome, alone", nw, t, cr.pid);
        if (r == 0) {
                pid_t pids[LOAD_PINGERS];
                for (size_t i = 0; i < LOAD_PINGERS; i++)
                        pids[i] = spawn(busy_pinger);
                usleep(300 * 1000);
                r = measure_welcome("new client, connect to welcome, 64 clients pinging", nw, t, cr.pid);
                stop(pids, LOAD_PINGERS);
        }
        delegate_ctx_free(ctx);
        free(t);
        return r ? 1 : 0;
}
