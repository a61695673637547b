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
 *       broker's CPU: no BROKER_PID given); and on stderr, per request,
 *       the server's context switches (voluntary, involuntary: every
 *       thread) and user and system CPU from "go" to the last client's
 *       end, and the clients' (all of them, each its own from "go" to
 *       the end of its last request: not its fork, session or wait)
 *   bench-load throughput CLIENTS SECONDS echo|echo2
 *       the floor of those rows: the same clients against a minimal epoll
 *       SEQPACKET echo server (no broker) that this program forks, with
 *       one event loop thread (echo) or two (echo2, connections dealt to
 *       them in turn); each client sends a ping's request and waits for
 *       it to come back.  The server's CPU time stands in the broker's
 *       column.
 *   bench-load sessions COUNT BROKER_PID
 *       the broker's RSS idle, then with COUNT open sessions; prints rows:
 *       | what | KiB |
 *   bench-load stalls MS
 *       how much of MS milliseconds each CPU was not this program's to use
 *       although nothing else of ours ran: one thread pinned to each CPU
 *       reads the clock in a loop and sums the gaps over 100 us between
 *       two reads (the hypervisor running something else in this vCPU's
 *       place, or the kernel's own work); prints one table cell:
 *       "CPU0 0.4 ms (max 0.2), CPU1 6.1 ms (max 4.3)"
 *
 * Run as the pod's uid in its pod cgroup (bench/run does).
 */
#define DELEGATE_INTERNAL_UNSTABLE_API_OPT_IN
#include <delegate/delegate-internal.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <dirent.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench-util.h"

#define SAMPLES_MAX (1u << 21) /* latency samples kept, shared by all clients */

/* what a client used while it made its requests (getrusage of its own, from "go" to its last reply) */
typedef struct usage {
        uint64_t user_us, sys_us, vol, invol;
} usage;

typedef struct shared {
        uint64_t requests[256];
        usage used[256];
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

/* --- the echo floor: a minimal epoll SEQPACKET server, one or two event loop threads --- */

static bool is_echo(const char *op) {
        return strncmp(op, "echo", 4) == 0;
}

/* an abstract name (the sandbox's network namespace is ours), per run */
static socklen_t echo_address(struct sockaddr_un *sa, pid_t parent) {
        *sa = (struct sockaddr_un) { .sun_family = AF_UNIX };
        int n = snprintf(sa->sun_path + 1, sizeof(sa->sun_path) - 1, "delegate-bench-echo-%d", (int) parent);
        return (socklen_t) (offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

typedef struct echo_loop {
        int epfd;
        int listen_fd; /* -1 but in the first loop */
        struct echo_loop *all;
        size_t n_loops, next;
} echo_loop;

static void *echo_run(void *userdata) {
        echo_loop *l = userdata;
        struct epoll_event ev[64];
        char buf[4096];
        for (;;) {
                int n = epoll_wait(l->epfd, ev, 64, -1);
                for (int i = 0; i < n; i++) {
                        int fd = ev[i].data.fd;
                        if (fd == l->listen_fd) {
                                int cfd;
                                while ((cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                                        echo_loop *to = &l->all[l->next++ % l->n_loops];
                                        struct epoll_event ce = { .events = EPOLLIN, .data.fd = cfd };
                                        epoll_ctl(to->epfd, EPOLL_CTL_ADD, cfd, &ce);
                                }
                                continue;
                        }
                        ssize_t len = recv(fd, buf, sizeof(buf), 0);
                        if (len > 0)
                                send(fd, buf, (size_t) len, MSG_NOSIGNAL);
                        else if (len == 0 || errno != EAGAIN)
                                close(fd); /* closing removes it from the epoll set */
                }
        }
        return NULL;
}

/* Forks the echo server with @threads event loops; returns its pid once it listens. */
static pid_t echo_server_start(size_t threads) {
        struct sockaddr_un sa;
        socklen_t salen = echo_address(&sa, getpid());
        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *) &sa, salen) < 0 || listen(fd, 4096) < 0)
                bench_die("echo server", strerror(errno));
        pid_t pid = fork();
        if (pid != 0) {
                close(fd);
                return pid;
        }
        echo_loop loops[2];
        pthread_t t;
        for (size_t i = 0; i < threads; i++) {
                loops[i] = (echo_loop) { .epfd = epoll_create1(EPOLL_CLOEXEC), .listen_fd = i ? -1 : fd,
                                         .all = loops, .n_loops = threads };
                if (loops[i].epfd < 0)
                        bench_die("epoll_create1", strerror(errno));
        }
        struct epoll_event le = { .events = EPOLLIN, .data.fd = fd };
        epoll_ctl(loops[0].epfd, EPOLL_CTL_ADD, fd, &le);
        for (size_t i = 1; i < threads; i++)
                if (pthread_create(&t, NULL, echo_run, &loops[i]) != 0)
                        bench_die("pthread_create", "failed");
        echo_run(&loops[0]);
        _exit(0);
}

/* A client's connection to the echo server of @parent. */
static int echo_connect(pid_t parent) {
        struct sockaddr_un sa;
        socklen_t salen = echo_address(&sa, parent);
        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *) &sa, salen) < 0)
                bench_die("connect to the echo server", strerror(errno));
        return fd;
}

static void echo_request(int fd, uint64_t id) {
        char buf[128], back[128];
        int len = snprintf(buf, sizeof(buf), "{\"id\":%llu,\"op\":\"ping\"}", (unsigned long long) id);
        if (send(fd, buf, (size_t) len, 0) != len || recv(fd, back, sizeof(back), 0) != len)
                bench_die("echo", "no answer");
}

static void one_request(delegate_ctx *c, const char *op, uint64_t soft) {
        delegate_error e;
        int r = strcmp(op, "ping") == 0 ? delegate_ping(c, &e)
                                        : delegate_memlock_set(c, 0, soft, DELEGATE_LIMIT_KEEP, NULL, &e);
        if (r < 0)
                bench_die(op, e.message);
}

static uint64_t tv_us(struct timeval tv) {
        return (uint64_t) tv.tv_sec * 1000000u + (uint64_t) tv.tv_usec;
}

/* One client: waits for "go" (the end of @go_fd), then loops until @end_ns; what it used meanwhile in
 * sh->used[@k] (its setup and its wait are not counted). */
static void client(shared *sh, size_t k, size_t clients, uint64_t seconds, const char *op, pid_t parent, int go_fd) {
        delegate_ctx *c = is_echo(op) ? NULL : open_session();
        int efd = is_echo(op) ? echo_connect(parent) : -1;
        size_t per = SAMPLES_MAX / clients, n = 0;
        struct rlimit rl;
        getrlimit(RLIMIT_MEMLOCK, &rl);
        char go;
        while (read(go_fd, &go, 1) < 0 && errno == EINTR)
                ;
        close(go_fd);
        struct rusage r0, r1;
        getrusage(RUSAGE_SELF, &r0);
        uint64_t end = bench_now_ns() + seconds * 1000000000ULL;
        for (;;) {
                uint64_t t0 = bench_now_ns();
                if (t0 >= end)
                        break;
                if (efd >= 0)
                        echo_request(efd, n);
                else
                        one_request(c, op, rl.rlim_cur);
                if (n < per)
                        sh->samples[k * per + n] = bench_now_ns() - t0;
                n++;
        }
        getrusage(RUSAGE_SELF, &r1);
        sh->used[k] = (usage) { .user_us = tv_us(r1.ru_utime) - tv_us(r0.ru_utime),
                                .sys_us = tv_us(r1.ru_stime) - tv_us(r0.ru_stime),
                                .vol = (uint64_t) (r1.ru_nvcsw - r0.ru_nvcsw),
                                .invol = (uint64_t) (r1.ru_nivcsw - r0.ru_nivcsw) };
        sh->requests[k] = n;
        delegate_ctx_free(c);
        if (efd >= 0)
                close(efd);
        _exit(0);
}

/* utime + stime of @pid in clock ticks (and each of them in @user, @sys); -1 when unreadable */
static long long cpu_ticks(pid_t pid, long long *user, long long *sys) {
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
        *user = (long long) ut;
        *sys = (long long) st;
        return (long long) (ut + st);
}

/* Context switches of every thread of @pid (voluntary: it slept, a wait or a lock; involuntary: it was
 * preempted), from /proc/PID/task/TID/status; false when unreadable.  A thread that ended meanwhile
 * is not counted: the broker's loop threads live as long as it does. */
static bool ctx_switches(pid_t pid, unsigned long long *vol, unsigned long long *invol) {
        char path[96], line[256];
        snprintf(path, sizeof(path), "/proc/%d/task", (int) pid);
        DIR *d = opendir(path);
        struct dirent *de;
        *vol = *invol = 0;
        if (!d)
                return false;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                snprintf(path, sizeof(path), "/proc/%d/task/%.20s/status", (int) pid, de->d_name);
                FILE *f = fopen(path, "re");
                unsigned long long v;
                while (f && fgets(line, sizeof(line), f))
                        if (sscanf(line, "voluntary_ctxt_switches: %llu", &v) == 1)
                                *vol += v;
                        else if (sscanf(line, "nonvoluntary_ctxt_switches: %llu", &v) == 1)
                                *invol += v;
                if (f)
                        fclose(f);
        }
        closedir(d);
        return true;
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
        pid_t parent = getpid(), echo = 0;
        if (is_echo(op)) {
                if (strcmp(op, "echo") != 0 && strcmp(op, "echo2") != 0)
                        bench_die("bench-load", "the echo floor is 'echo' (one thread) or 'echo2' (two)");
                broker = echo = echo_server_start(strcmp(op, "echo2") == 0 ? 2 : 1);
        }
        pid_t *kids = calloc(clients, sizeof(pid_t));
        if (!kids)
                bench_die("bench-load", "out of memory");
        int go[2]; /* "go": the write end closed */
        if (pipe2(go, O_CLOEXEC) < 0)
                bench_die("pipe2", strerror(errno));
        for (size_t k = 0; k < clients; k++)
                if ((kids[k] = fork()) == 0) {
                        close(go[1]);
                        client(sh, k, clients, seconds, op, parent, go[0]);
                }
        close(go[0]);
        usleep(200000 + 2000 * clients); /* every session open before "go" */
        unsigned long long busy0, total0, busy1, total1;
        long long bu0 = 0, bs0 = 0, bu1 = 0, bs1 = 0;
        long long b0 = broker > 0 ? cpu_ticks(broker, &bu0, &bs0) : -1;
        unsigned long long bv0 = 0, bi0 = 0, bv1 = 0, bi1 = 0;
        bool have_cs = broker > 0 && ctx_switches(broker, &bv0, &bi0);
        cpu_busy(&busy0, &total0);
        close(go[1]);
        for (size_t k = 0; k < clients; k++)
                waitpid(kids[k], NULL, 0);
        long long b1 = broker > 0 ? cpu_ticks(broker, &bu1, &bs1) : -1;
        have_cs = have_cs && ctx_switches(broker, &bv1, &bi1);
        cpu_busy(&busy1, &total1);
        free(kids);
        if (echo > 0) {
                kill(echo, SIGKILL);
                waitpid(echo, NULL, 0);
        }
        uint64_t total = 0, worst = 0, fewest = UINT64_MAX;
        usage used = { 0 };
        size_t per = SAMPLES_MAX / clients, m = 0;
        uint64_t *one = malloc(per * sizeof(uint64_t));
        if (!one)
                bench_die("bench-load", "out of memory");
        for (size_t k = 0; k < clients; k++) {
                total += sh->requests[k];
                used.user_us += sh->used[k].user_us;
                used.sys_us += sh->used[k].sys_us;
                used.vol += sh->used[k].vol;
                used.invol += sh->used[k].invol;
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
        const char *what = !is_echo(op)                 ? op
                           : strcmp(op, "echo2") == 0 ? "SEQPACKET echo, 2 threads, no broker (floor)"
                                                      : "SEQPACKET echo, 1 thread, no broker (floor)";
        /* on stderr, not in the table: context switches and CPU per request, the server's (every thread)
         * and the clients' (a client waiting for its reply sleeps once at least) */
        if (have_cs && total)
                fprintf(stderr, "# %zu clients, %s: context switches per request: server %.2f voluntary, %.2f "
                                "involuntary, CPU us %.2f user + %.2f system; clients %.2f voluntary, %.2f involuntary, "
                        "CPU us %.2f user + %.2f system\n",
                        clients, op, (double) (bv1 - bv0) / total, (double) (bi1 - bi0) / total,
                        (bu1 - bu0) / hz * 1e6 / total, (bs1 - bs0) / hz * 1e6 / total, (double) used.vol / total,
                        (double) used.invol / total, (double) used.user_us / total, (double) used.sys_us / total);
        printf("| %zu | %s | %.0f | %.1f | %.1f | %.1f | %" PRIu64 " | %.1f | %.0f |\n", clients, what,
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

/* --- the machine itself: time a CPU was taken away while the load rows' clients and server were idle --- */

#define STALL_NS 100000 /* a gap between two clock reads longer than this is time the CPU was not ours */

typedef struct stall_probe {
        pthread_t thread;
        int cpu;
        uint64_t ns, lost_ns, max_ns;
} stall_probe;

static void *stall_run(void *userdata) {
        stall_probe *p = userdata;
        if (bench_pin(p->cpu) < 0)
                bench_die("stalls", "cannot pin a thread to its CPU");
        uint64_t start = bench_now_ns(), prev = start, end = start + p->ns;
        for (uint64_t t; (t = bench_now_ns()) < end; prev = t) {
                uint64_t gap = t - prev;
                if (gap > STALL_NS) {
                        p->lost_ns += gap;
                        if (gap > p->max_ns)
                                p->max_ns = gap;
                }
        }
        return NULL;
}

static int stalls(uint64_t ms) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        if (n < 1 || n > 1024 || ms == 0 || ms > 60000)
                bench_die("stalls", "1 to 60000 ms, on 1 to 1024 CPUs");
        stall_probe *p = calloc((size_t) n, sizeof(*p));
        if (!p)
                bench_die("stalls", "out of memory");
        for (long i = 0; i < n; i++) {
                p[i] = (stall_probe) { .cpu = (int) i, .ns = ms * 1000000 };
                if (pthread_create(&p[i].thread, NULL, stall_run, &p[i]) != 0)
                        bench_die("pthread_create", "failed");
        }
        for (long i = 0; i < n; i++) {
                pthread_join(p[i].thread, NULL);
                printf("%sCPU%ld %.1f ms (max %.1f)", i ? ", " : "", i, p[i].lost_ns / 1e6, p[i].max_ns / 1e6);
        }
        printf("\n");
        free(p);
        return 0;
}

int main(int argc, char **argv) {
        if ((argc == 5 || argc == 6) && strcmp(argv[1], "throughput") == 0)
                return throughput(strtoul(argv[2], NULL, 10), strtoull(argv[3], NULL, 10), argv[4],
                                  argc == 6 ? (pid_t) atoi(argv[5]) : 0);
        if (argc == 4 && strcmp(argv[1], "sessions") == 0)
                return sessions(strtoul(argv[2], NULL, 10), (pid_t) atoi(argv[3]));
        if (argc == 3 && strcmp(argv[1], "stalls") == 0)
                return stalls(strtoull(argv[2], NULL, 10));
        fprintf(stderr, "usage: bench-load throughput CLIENTS SECONDS OP [BROKER_PID] | throughput CLIENTS SECONDS "
                        "echo|echo2 | sessions COUNT BROKER_PID | stalls MS\n");
        return 2;
}
