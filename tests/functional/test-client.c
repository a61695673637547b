/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-client - an unprivileged launcher stand-in for the functional
 * tests, driven line by line on stdin; one JSON line per command on stdout.
 *
 *   ping | pings N | state | child | reap PID | setsoft BYTES | mode auto|broker
 *   memlock PID SOFT HARD|keep
 *   threads N [US]     fork a child with N extra threads (all idle), its RLIMIT_RTTIME set to US
 *                      microseconds when given; prints its pid and tids
 *   childids RUID EUID SUID GID   fork a child with these ids (needs a root client); prints its pid
 *   childns            fork a child in a user namespace of its own; once the test writes its maps
 *                      (0 and 1 mapped), it becomes uid 0/1/0, gid 0 in there; prints its pid
 *   rttime US [PID]    set the RLIMIT_RTTIME (soft and hard) of this process (or of PID, a child) to US
 *                      microseconds
 *   call OP ARGS-JSON      any operation; received fds are kept in a slot
 *   fdinfo SLOT            the "iff:" device and the path of each fd of a slot (from /proc)
 *   frame SLOT-A SLOT-B HDRLEN   write a broadcast frame (after HDRLEN zero
 *                          bytes of vnet header) on A's first fd, read it
 *                          back on any of B's fds
 *   close SLOT             close a slot's fds
 *
 * argv[1]: the VM name to send in the hello ("" for none).
 */
#define DELEGATE_INTERNAL_UNSTABLE_API_OPT_IN
#include <delegate/delegate-internal.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#define MAX_SLOTS 32

static struct slot {
        int fds[DELEGATE_MAX_FDS];
        size_t n;
} slots[MAX_SLOTS];
static size_t n_slots;

static struct slot *get_slot(const char *s) {
        int i = atoi(s);
        return i >= 0 && (size_t) i < n_slots ? &slots[i] : NULL;
}

static void cmd_fdinfo(const char *a1) {
        struct slot *sl = get_slot(a1);
        if (!sl) {
                printf("{\"ok\":false,\"code\":\"no-slot\"}\n");
                return;
        }
        printf("{\"ok\":true,\"iff\":[");
        for (size_t i = 0; i < sl->n; i++) {
                char path[64], line[256], iff[64] = "";
                snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", sl->fds[i]);
                FILE *f = fopen(path, "re");
                while (f && fgets(line, sizeof(line), f))
                        if (sscanf(line, "iff: %63s", iff) == 1)
                                break;
                if (f)
                        fclose(f);
                int fl = fcntl(sl->fds[i], F_GETFD);
                char link[64], target[256] = "";
                snprintf(link, sizeof(link), "/proc/self/fd/%d", sl->fds[i]);
                ssize_t k = readlink(link, target, sizeof(target) - 1);
                target[k > 0 ? k : 0] = 0;
                printf("%s{\"name\":\"%s\",\"cloexec\":%s,\"path\":\"%s\"}", i ? "," : "", iff,
                       fl >= 0 && (fl & FD_CLOEXEC) ? "true" : "false", target);
        }
        printf("]}\n");
}

static void cmd_frame(const char *a1, const char *a2, const char *a3) {
        struct slot *a = get_slot(a1), *b = get_slot(a2);
        size_t hdr = (size_t) atoi(a3);
        unsigned char frame[128] = { 0 }, buf[70000];
        char tag[40];
        if (!a || !b || !a->n || !b->n || hdr > 12) {
                printf("{\"ok\":false,\"code\":\"usage\"}\n");
                return;
        }
        snprintf(tag, sizeof(tag), "delegate-test-%ld", (long) getpid() ^ (long) time(NULL));
        unsigned char *e = frame + hdr;
        memset(e, 0xff, 6);                                        /* broadcast */
        memcpy(e + 6, (unsigned char[]) { 0x52, 0x54, 0, 0xde, 0xad, 1 }, 6); /* source */
        e[12] = 0x88, e[13] = 0xb5;                                /* local experimental ethertype */
        memcpy(e + 14, tag, strlen(tag));
        size_t len = hdr + 60 + 4;
        if (write(a->fds[0], frame, len) != (ssize_t) len) {
                printf("{\"ok\":false,\"code\":\"write\",\"errno\":%d}\n", errno);
                return;
        }
        struct pollfd p[DELEGATE_MAX_FDS];
        for (size_t i = 0; i < b->n; i++)
                p[i] = (struct pollfd) { .fd = b->fds[i], .events = POLLIN };
        for (int round = 0; round < 50; round++) {
                if (poll(p, b->n, 100) <= 0)
                        continue;
                for (size_t i = 0; i < b->n; i++) {
                        if (!(p[i].revents & POLLIN))
                                continue;
                        ssize_t n = read(b->fds[i], buf, sizeof(buf));
                        if (n > 0 && memmem(buf, n, tag, strlen(tag))) {
                                printf("{\"ok\":true,\"queue\":%zu,\"bytes\":%zd}\n", i, n);
                                return;
                        }
                }
        }
        printf("{\"ok\":false,\"code\":\"no-frame\"}\n");
}

/* The error as one JSON line; @extra (may be "") are more members, each ending in ','. */
static void print_error_with(const delegate_error *e, const char *extra) {
        /* messages come from our own broker: no quotes or control characters
         * to escape except '"' and '\\', which we replace */
        char msg[sizeof(e->message)];
        snprintf(msg, sizeof(msg), "%s", e->message);
        for (char *p = msg; *p; p++)
                if (*p == '"' || *p == '\\' || (unsigned char) *p < 0x20)
                        *p = '\'';
        printf("{%s\"ok\":false,\"code\":\"%s\",\"errno\":%d,\"rule\":\"%s\",\"retry_after_ms\":%u,\"message\":\"%s\"}\n",
               extra, e->code, e->errno_value, e->rule, (unsigned) e->retry_after_ms, msg);
}

static void print_error(const delegate_error *e) {
        print_error_with(e, "");
}

static const char *route_name(delegate_route r) {
        return r == DELEGATE_ROUTE_LOCAL ? "local" : r == DELEGATE_ROUTE_BROKER ? "broker" : "handler";
}

static int tid_pipe = -1;

static void *idle_thread(void *arg) {
        (void) arg;
        pid_t t = gettid();
        if (write(tid_pipe, &t, sizeof(t)) != sizeof(t))
                _exit(1);
        for (;;)
                pause();
        return NULL;
}

/* A child with @n threads besides its main one (and its RLIMIT_RTTIME set to @rttime, unless 0);
 * prints {"pid":P,"tids":[main, ...]}. */
static void spawn_threads(int n, unsigned long long rttime) {
        int p[2];
        if (n < 0 || n > 64 || pipe2(p, O_CLOEXEC) < 0) {
                printf("{\"ok\":false,\"code\":\"usage\"}\n");
                return;
        }
        pid_t pid = fork();
        if (pid == 0) {
                close(p[0]);
                tid_pipe = p[1];
                struct rlimit rl = { rttime, rttime };
                if (rttime && setrlimit(RLIMIT_RTTIME, &rl) < 0)
                        _exit(1);
                pid_t self = gettid();
                if (write(tid_pipe, &self, sizeof(self)) != sizeof(self))
                        _exit(1);
                for (int i = 0; i < n; i++) {
                        pthread_t th;
                        if (pthread_create(&th, NULL, idle_thread, NULL) != 0)
                                _exit(1);
                }
                for (;;)
                        pause();
        }
        close(p[1]);
        printf("{\"ok\":%s,\"pid\":%d,\"tids\":[", pid > 0 ? "true" : "false", (int) pid);
        for (int i = 0; pid > 0 && i <= n; i++) {
                pid_t t;
                if (read(p[0], &t, sizeof(t)) != sizeof(t))
                        break;
                printf("%s%d", i ? "," : "", (int) t);
        }
        printf("]}\n");
        close(p[0]);
}

/*
 * Fork a child that runs @first(@ids) (0 or an errno, reported back before
 * this prints its pid), then @then(@ids) if given, then waits to be killed.
 */
static void spawn_becoming(int (*first)(const unsigned *ids), void (*then)(const unsigned *ids), const unsigned *ids) {
        int p[2];
        int err = 0;
        if (pipe2(p, O_CLOEXEC) < 0) {
                printf("{\"ok\":false,\"code\":\"pipe\"}\n");
                return;
        }
        pid_t pid = fork();
        if (pid == 0) {
                err = first(ids);
                if (write(p[1], &err, sizeof(err)) != sizeof(err) || err)
                        _exit(1);
                if (then)
                        then(ids);
                for (;;)
                        pause();
        }
        close(p[1]);
        if (pid < 0 || read(p[0], &err, sizeof(err)) != sizeof(err))
                err = pid < 0 ? errno : EIO;
        close(p[0]);
        printf("{\"ok\":%s,\"pid\":%d,\"errno\":%d}\n", err ? "false" : "true", (int) pid, err);
}

/* @ids: real, effective and saved uid, then the gid for all three */
static int take_ids(const unsigned *ids) {
        return setresgid(ids[3], ids[3], ids[3]) < 0 || setresuid(ids[0], ids[1], ids[2]) < 0 ? errno : 0;
}

static int own_userns(const unsigned *ids) {
        return unshare(CLONE_NEWUSER) < 0 ? errno : 0;
}

/* In its user namespace: once the test maps 0 and 1, uids 0/1/0 and gid 0 there. */
static void take_userns_ids(const unsigned *ids) {
        while (getuid() != 0) /* unmapped: the overflow uid, until the test writes uid_map */
                usleep(10000);
        static const unsigned mine[] = { 0, 1, 0, 0 };
        if (take_ids(mine))
                _exit(1);
}

/* Close the connection of *@ctx and start a new context (not connected yet). */
static int reopen(delegate_ctx **ctx, const char *vm) {
        delegate_error e;
        delegate_ctx_free(*ctx);
        if (delegate_ctx_new(DELEGATE_API_VERSION, ctx, &e) < 0 || delegate_ctx_set_identity(*ctx, "test-client", vm) < 0)
                return -1;
        delegate_ctx_set_mode(*ctx, DELEGATE_MODE_BROKER);
        return 0;
}

int main(int argc, char **argv) {
        const char *vm = argc > 1 && argv[1][0] ? argv[1] : NULL;
        delegate_ctx *ctx;
        delegate_error e;
        char line[1024];

        setvbuf(stdout, NULL, _IOLBF, 0);
        if (delegate_ctx_new(DELEGATE_API_VERSION, &ctx, &e) < 0 ||
            delegate_ctx_set_identity(ctx, "test-client", vm) < 0) {
                fprintf(stderr, "test-client: %s\n", e.message);
                return 1;
        }
        delegate_ctx_set_mode(ctx, DELEGATE_MODE_BROKER);

        while (fgets(line, sizeof(line), stdin)) {
                char cmd[32] = "", a1[64] = "", a2[64] = "", a3[64] = "";
                sscanf(line, "%31s %63s %63s %63s", cmd, a1, a2, a3);
                if (!strcmp(cmd, "ping")) {
                        if (delegate_ping(ctx, &e) < 0)
                                print_error(&e);
                        else
                                printf("{\"ok\":true,\"session\":%" PRIu64 "}\n", delegate_ctx_session(ctx));
                } else if (!strcmp(cmd, "connect")) {
                        /* (re)connect now: resumes the session after a broker restart */
                        if (delegate_connect(ctx, &e) < 0)
                                print_error(&e);
                        else
                                printf("{\"ok\":true,\"session\":%" PRIu64 ",\"resumed\":%s}\n",
                                       delegate_ctx_session(ctx), delegate_ctx_resumed(ctx) ? "true" : "false");
                } else if (!strcmp(cmd, "pings")) {
                        /* N pings in a row; the first failure ends them */
                        int n = atoi(a1), k = 0;
                        while (k < n && delegate_ping(ctx, &e) >= 0)
                                k++;
                        if (k < n) {
                                char done[32];
                                snprintf(done, sizeof(done), "\"done\":%d,", k);
                                print_error_with(&e, done);
                        } else
                                printf("{\"ok\":true,\"done\":%d}\n", k);
                } else if (!strcmp(cmd, "state")) {
                        char *s = NULL;
                        if (delegate_state_get(ctx, &s, &e) < 0)
                                print_error(&e);
                        else
                                printf("{\"ok\":true,\"state\":%s}\n", s);
                        delegate_free_string(s);
                } else if (!strcmp(cmd, "child")) {
                        pid_t p = fork();
                        if (p == 0) {
                                for (;;)
                                        pause();
                        }
                        printf("{\"ok\":%s,\"pid\":%d}\n", p > 0 ? "true" : "false", (int) p);
                } else if (!strcmp(cmd, "reap")) {
                        pid_t p = (pid_t) atoi(a1);
                        kill(p, SIGKILL);
                        int r = waitpid(p, NULL, 0);
                        printf("{\"ok\":%s}\n", r == p ? "true" : "false");
                } else if (!strcmp(cmd, "kill")) { /* killed, left a zombie */
                        pid_t p = (pid_t) atoi(a1);
                        int r = kill(p, SIGKILL);
                        siginfo_t si;
                        if (r == 0)
                                r = waitid(P_PID, (id_t) p, &si, WEXITED | WNOWAIT);
                        printf("{\"ok\":%s}\n", r == 0 ? "true" : "false");
                } else if (!strcmp(cmd, "setsoft")) {
                        struct rlimit rl;
                        getrlimit(RLIMIT_MEMLOCK, &rl);
                        rl.rlim_cur = strtoull(a1, NULL, 10);
                        int r = setrlimit(RLIMIT_MEMLOCK, &rl);
                        printf("{\"ok\":%s}\n", r == 0 ? "true" : "false");
                } else if (!strcmp(cmd, "mode")) {
                        delegate_ctx_set_mode(ctx, !strcmp(a1, "auto") ? DELEGATE_MODE_AUTO : DELEGATE_MODE_BROKER);
                        printf("{\"ok\":true}\n");
                } else if (!strcmp(cmd, "memlock")) {
                        uint64_t soft, hard = DELEGATE_LIMIT_KEEP;
                        delegate_memlock_result res;
                        if (delegate_parse_size(a2, &soft) < 0 ||
                            (strcmp(a3, "keep") && delegate_parse_size(a3, &hard) < 0)) {
                                printf("{\"ok\":false,\"code\":\"usage\"}\n");
                                continue;
                        }
                        if (delegate_memlock_set(ctx, (pid_t) atoi(a1), soft, hard, &res, &e) < 0)
                                print_error(&e);
                        else
                                printf("{\"ok\":true,\"route\":\"%s\",\"soft\":%" PRIu64 ",\"hard\":%" PRIu64
                                       ",\"old_soft\":%" PRIu64 ",\"old_hard\":%" PRIu64 "}\n",
                                       route_name(res.route), res.soft, res.hard, res.old_soft, res.old_hard);
                } else if (!strcmp(cmd, "memlock-leave")) {
                        /* memlock.set on @a1 sent from a child sharing the connection, which is then closed
                         * (the child killed, ours closed) before the answer while this process, the caller
                         * the broker knows, stays; a new context for what follows */
                        uint64_t soft;
                        pid_t p = delegate_parse_size(a2, &soft) < 0 || delegate_ping(ctx, &e) < 0 ? -1 : fork();
                        if (p == 0) {
                                delegate_memlock_result res;
                                _exit(delegate_memlock_set(ctx, (pid_t) atoi(a1), soft, DELEGATE_LIMIT_KEEP, &res,
                                                           &e) < 0);
                        }
                        usleep((useconds_t) atoi(a3) * 1000); /* the request reaches the broker */
                        if (p > 0) {
                                kill(p, SIGKILL);
                                waitpid(p, NULL, 0);
                        }
                        if (reopen(&ctx, vm) < 0)
                                return 1;
                        printf("{\"ok\":%s}\n", p > 0 ? "true" : "false");
                } else if (!strcmp(cmd, "disconnect")) { /* the connection closed, this process lives on */
                        if (reopen(&ctx, vm) < 0)
                                return 1;
                        printf("{\"ok\":true}\n");
                } else if (!strcmp(cmd, "childids")) {
                        char a4[64] = "";
                        sscanf(line, "%*s %*s %*s %*s %63s", a4);
                        const unsigned ids[] = { (unsigned) atoi(a1), (unsigned) atoi(a2), (unsigned) atoi(a3),
                                                 (unsigned) atoi(a4) };
                        spawn_becoming(take_ids, NULL, ids);
                } else if (!strcmp(cmd, "childns")) {
                        spawn_becoming(own_userns, take_userns_ids, NULL);
                } else if (!strcmp(cmd, "threads")) {
                        spawn_threads(atoi(a1), strtoull(a2, NULL, 10));
                } else if (!strcmp(cmd, "rttime")) {
                        struct rlimit rl = { strtoull(a1, NULL, 10), strtoull(a1, NULL, 10) };
                        int r = prlimit((pid_t) atoi(a2), RLIMIT_RTTIME, &rl, NULL);
                        printf("{\"ok\":%s}\n", r == 0 ? "true" : "false");
                } else if (!strcmp(cmd, "call")) {
                        char op[64] = "", *args = NULL, *res = NULL;
                        int n = 0;
                        sscanf(line, "call %63s %n", op, &n);
                        args = n > 0 ? line + n : NULL;
                        if (args)
                                args[strcspn(args, "\n")] = 0;
                        struct slot sl = { .n = 0 };
                        if (delegate_call(ctx, op, args && *args ? args : NULL, &res, sl.fds, DELEGATE_MAX_FDS, &sl.n,
                                          NULL, &e) < 0)
                                print_error(&e);
                        else {
                                int idx = -1;
                                if (sl.n > 0 && n_slots < MAX_SLOTS) {
                                        idx = (int) n_slots;
                                        slots[n_slots++] = sl;
                                }
                                printf("{\"ok\":true,\"slot\":%d,\"nfds\":%zu,\"result\":%s}\n", idx, sl.n,
                                       res ? res : "{}");
                        }
                        delegate_free_string(res);
                } else if (!strcmp(cmd, "fdinfo")) {
                        cmd_fdinfo(a1);
                } else if (!strcmp(cmd, "frame")) {
                        cmd_frame(a1, a2, a3);
                } else if (!strcmp(cmd, "close")) {
                        struct slot *sl = get_slot(a1);
                        for (size_t i = 0; sl && i < sl->n; i++)
                                close(sl->fds[i]);
                        if (sl)
                                sl->n = 0;
                        printf("{\"ok\":%s}\n", sl ? "true" : "false");
                } else
                        printf("{\"ok\":false,\"code\":\"unknown-command\"}\n");
        }
        delegate_ctx_free(ctx);
        return 0;
}
