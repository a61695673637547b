/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-forker.c - the forker: one small process, forked from the broker
 * once at start, that forks the long-lived memlock helpers
 * (broker-helper.c) on the broker's behalf.
 *
 * Why: a fork of the broker copies its page tables and leaves every page
 * it shares with the child copy-on-write.  Done on a client loop at a
 * session's welcome (uid_helper_prestart()), the client's next request, a
 * VM's TAP, waited for both: +2.5 ms on the VM start's TAP step
 * (bench/NOTES.md, round 14).  The forker is forked once, after the
 * seccomp filter is installed (it inherits the filter and the final
 * capabilities); it keeps no fd of the broker's but its socket.  A loop
 * only sends a datagram; the answer (the helper's pid, its socket and a
 * pidfd of it, as SCM_RIGHTS) is read by the main thread's event loop, or
 * by the first request that needs the helper before it came, which waits
 * for it (forker_wait()).
 *
 * Not even the forker forks while a VM starts: on a node of two CPUs a
 * fork beside the session's next step (the TAP, in the netns worker)
 * slowed that step as much as a fork on the loop had.  The forker holds a
 * spare: a helper forked ahead ("delegate-spare"), root still, its fds
 * closed, waiting for its role, which is its socket's first datagram (the
 * ids and the step; the broker's requests follow).  A request gives the
 * spare its role and hands its socket on; the next spare is forked once no
 * request came for SPARE_AFTER_MS (at nice 19, which the spare keeps
 * while it waits; the forker sets it back to nice 0 before it sends its
 * role, so that it runs at once for the request that waits for it), and a
 * request that finds none forks its helper at once.  A
 * session's early start waits for the answer (uid_helper_prestart()): with
 * the spare, a datagram each way, and the helper's fds are held before the
 * session's next request is read, as when the broker forked it.
 *
 * The helpers are the forker's children, reaped by the kernel (SIGCHLD
 * ignored in the forker); the broker ends one with pidfd_send_signal(),
 * which cannot hit a recycled pid.  The forker exits when the broker
 * closes its socket, and with the broker's main thread
 * (PR_SET_PDEATHSIG).  If it is gone (killed, out of memory) or does not
 * answer in FORKER_TIMEOUT_MS, the broker logs that once and forks its
 * helpers itself, as before the forker; a helper it was starting is
 * started so.
 */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <syslog.h>

#include "broker-forker.h"
#include "ops-sched.h"

#define FORKER_TIMEOUT_MS 2000 /* for one answer, waited for by a request: it forks, nothing else */
#define SPARE_AFTER_MS 100     /* the next spare's fork, after the last was taken and no request came */

typedef struct forker_req {
        uint64_t token;
        uint32_t uid, gid;
        uintptr_t fn; /* the same binary, forked: the broker's function pointers are the forker's */
} forker_req;

typedef struct forker_ans {
        uint64_t token;
        int32_t status; /* 0: the helper's socket and pidfd follow (SCM_RIGHTS); else -errno */
        int32_t pid;
} forker_ans;

/* The broker's side: its end of the socket (-EBADF: no forker), the forker, the main loop's source. */
static int forker_fd = -EBADF;
static pid_t forker_pid;
static sd_event_source *forker_src;
static uint64_t forker_tokens;
static const forker_ops *ops; /* the same in the forker: it is forked after forker_start() set it */

/* Process @pid (0: the calling thread) at nice 19, or back at nice 0 (CAP_SYS_NICE: the broker's), SCHED_OTHER
 * either way: not SCHED_IDLE, which gets next to no CPU on a node whose CPUs are busy. */
static void set_background(pid_t pid, bool background) {
        sched_attr_v0 a = { .size = sizeof(a), .sched_policy = SCHED_OTHER, .sched_nice = background ? 19 : 0 };
        (void) syscall(SYS_sched_setattr, pid, &a, 0);
}

/* What a spare becomes: its first datagram, from the forker (the broker's requests follow on its socket). */
typedef struct spare_role {
        uint32_t uid, gid;
        uintptr_t fn;
} spare_role;

/* The forker's spare: a helper forked ahead, not yet given ids; pid 0: none.  @fd: the forker's end of its
 * socket, handed to the broker with @pidfd. */
static struct {
        pid_t pid;
        int fd, pidfd;
} spare = { 0, -EBADF, -EBADF };

/*
 * Fork a helper: the child closes what it inherited, then either waits as
 * the spare for its role (@role NULL) or takes @role at once.  Its pid, and
 * the forker's end of its socket and a pidfd in @ret_fds; -errno.
 */
static pid_t helper_fork(const spare_role *role, int ret_fds[2]) {
        int p[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, p) < 0)
                return negative_errno();
        pid_t self = getpid(), pid = fork();
        if (pid == 0) {
                /* first (until then it shows as the forker): a helper is named as before the forker */
                (void) prctl(PR_SET_NAME, role ? "delegate-broker" : "delegate-spare");
                ops->child_setup(p[1]); /* our end of the broker's socket and p[0] closed with the rest */
                spare_role mine = {};
                if (role)
                        mine = *role;
                else {
                        ssize_t n;
                        while ((n = recv(p[1], &mine, sizeof(mine), 0)) < 0 && errno == EINTR)
                                ;
                        if (n != (ssize_t) sizeof(mine))
                                _exit(0); /* the forker went, or let us go */
                        (void) prctl(PR_SET_NAME, "delegate-broker");
                }
                set_background(0, false); /* the forker did it already, unless it could not (no CAP_SYS_NICE) */
                ops->child_serve(p[1], self, (uid_t) mine.uid, (gid_t) mine.gid, (uid_helper_fn) mine.fn);
                _exit(1);
        }
        int r = pid < 0 ? negative_errno() : 0, pidfd = pid > 0 ? pidfd_open(pid, 0) : -EBADF;
        if (pid > 0 && pidfd < 0) {
                r = negative_errno();
                kill(pid, SIGKILL);
        }
        safe_close(p[1]);
        if (r < 0) {
                safe_close(p[0]);
                return r;
        }
        ret_fds[0] = p[0];
        ret_fds[1] = pidfd;
        return pid;
}

static void spare_drop(void) {
        spare.fd = safe_close(spare.fd);
        spare.pidfd = safe_close(spare.pidfd);
        spare.pid = 0;
}

/* One request: the spare takes the role, or a helper is forked for it; the answer sent (false: it could not
 * be). */
static bool forker_serve(int sock, const forker_req *q) {
        forker_ans a = { .token = q->token };
        int fds[2] = { -EBADF, -EBADF };
        spare_role role = { q->uid, q->gid, q->fn };
        /* the spare back to nice 0 before its role: it runs for someone waiting, at once even on a busy CPU, and
         * shows as a helper (not at nice 19) before it has run */
        if (spare.pid > 0)
                set_background(spare.pid, false);
        if (spare.pid > 0 && send(spare.fd, &role, sizeof(role), MSG_NOSIGNAL) == (ssize_t) sizeof(role)) {
                a.pid = spare.pid;
                fds[0] = TAKE_FD(spare.fd);
                fds[1] = TAKE_FD(spare.pidfd);
                spare.pid = 0;
        } else {
                if (spare.pid > 0) { /* gone: forked anew below */
                        pidfd_send_signal(spare.pidfd, SIGKILL, NULL, 0);
                        spare_drop();
                }
                pid_t pid = helper_fork(&role, fds);
                a.status = pid < 0 ? pid : 0;
                a.pid = pid;
        }
        union {
                struct cmsghdr h;
                char b[CMSG_SPACE(sizeof(fds))];
        } cm = {};
        struct iovec iov = { &a, sizeof(a) };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
        if (a.status == 0)
                wire_put_fds(&mh, cm.b, fds, 2);
        bool sent = sendmsg(sock, &mh, MSG_NOSIGNAL) == (ssize_t) sizeof(a);
        safe_close(fds[0]);
        safe_close(fds[1]);
        return sent;
}

static _noreturn_ void forker_main(int sock, pid_t broker_pid) {
        sigset_t all;
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        struct sigaction ign = { .sa_handler = SIG_IGN, .sa_flags = SA_NOCLDWAIT };
        /* nothing of the broker's but the socket (and stdio: a helper's messages); ends with the broker */
        if (sigaction(SIGCHLD, &ign, NULL) < 0 || (sock > 3 && close_range(3, (unsigned) sock - 1, 0) < 0) ||
            close_range((unsigned) sock + 1, ~0U, 0) < 0 || prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 ||
            getppid() != broker_pid)
                _exit(1);
        for (bool first = true;; first = false) {
                /* a spare is forked at the start, and again once no request came for SPARE_AFTER_MS after it
                 * was taken: a VM's start that took it has gone on by then */
                struct pollfd p = { sock, POLLIN, 0 };
                int n = spare.pid > 0 ? 1 : poll(&p, 1, first ? 0 : SPARE_AFTER_MS);
                if (n < 0 && errno != EINTR)
                        _exit(1);
                if (n == 0) {
                        /* the spare's fork at nice 19 (it keeps it until its role), out of other work's way:
                         * beside a VM's next steps, not in their way; the forker answers at nice 0 */
                        int fds[2];
                        set_background(0, true);
                        pid_t pid = helper_fork(NULL, fds);
                        set_background(0, false);
                        if (pid > 0) {
                                spare.pid = pid;
                                spare.fd = fds[0];
                                spare.pidfd = fds[1];
                        }
                        continue;
                }
                forker_req q;
                ssize_t k = recv(sock, &q, sizeof(q), 0);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k != (ssize_t) sizeof(q) || !forker_serve(sock, &q))
                        break; /* EOF: the broker closed its end, or went */
        }
        /* no child outlives it, to be reaped by another: the spare is killed, the helpers were by the broker
         * (with SA_NOCLDWAIT, wait() returns once every child is gone) */
        if (spare.pid > 0)
                pidfd_send_signal(spare.pidfd, SIGKILL, NULL, 0);
        while (wait(NULL) >= 0 || errno == EINTR)
                ;
        _exit(0);
}

/* The forker is gone or broken: no more of it; the helpers it was starting are started by the broker. */
static void forker_lost(broker *b, const char *why) {
        if (forker_fd < 0)
                return;
        log_msg(b, LOG_WARNING, "the forker (pid %d) %s: the broker forks its memlock helpers itself from now on",
                (int) forker_pid, why);
        forker_src = sd_event_source_disable_unref(forker_src);
        forker_fd = safe_close(forker_fd);
        kill(forker_pid, SIGKILL);
        while (waitpid(forker_pid, NULL, 0) < 0 && errno == EINTR)
                ;
        forker_pid = 0;
        ops->lost(b);
}

/* Every answer waiting, each to its helper (uid_helper_started()); false when the forker is gone. */
static bool forker_read(broker *b) {
        for (;;) {
                forker_ans a;
                int fds[2] = { -EBADF, -EBADF };
                size_t k = 0;
                bool eof = false;
                ssize_t n = wire_recv(forker_fd, &a, sizeof(a), fds, 2, &k, &eof);
                if (n == -EINTR)
                        continue;
                if (n == -EAGAIN)
                        return true;
                if (n != (ssize_t) sizeof(a) || (a.status < 0 ? k != 0 : k != 2 || a.pid <= 0)) {
                        if (k == 2)
                                pidfd_send_signal(fds[1], SIGKILL, NULL, 0);
                        close_fds(fds, k);
                        forker_lost(b, eof ? "ended" : "broke the protocol");
                        return false;
                }
                ops->started(b, a.token, a.status, a.pid, fds[0], fds[1]);
        }
}

static int on_forker_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        forker_read(userdata);
        return 0;
}

int forker_start(broker *b, const forker_ops *o) {
        ops = o;
        int p[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, p) < 0)
                return negative_errno();
        /* named before the fork, so that it never shows under the broker's name (the main thread's is put back) */
        char name[16] = "";
        (void) prctl(PR_GET_NAME, name);
        (void) prctl(PR_SET_NAME, "delegate-forker");
        pid_t self = getpid(), pid = fork();
        if (pid != 0)
                (void) prctl(PR_SET_NAME, name);
        if (pid < 0) {
                int r = negative_errno();
                safe_close(p[0]);
                safe_close(p[1]);
                return r;
        }
        if (pid == 0)
                forker_main(p[1], self);
        safe_close(p[1]);
        forker_fd = p[0];
        forker_pid = pid;
        int r = sd_event_add_io(b->event, &forker_src, forker_fd, EPOLLIN, on_forker_io, b);
        if (r < 0) {
                forker_src = NULL;
                forker_lost(b, "could not be watched");
                return r;
        }
        log_msg(b, LOG_DEBUG, "the forker runs (pid %d): it forks the memlock helpers", (int) pid);
        return 0;
}

void forker_stop(void) {
        forker_src = sd_event_source_disable_unref(forker_src);
        if (forker_fd < 0)
                return;
        forker_fd = safe_close(forker_fd); /* EOF: it exits */
        while (waitpid(forker_pid, NULL, 0) < 0 && errno == EINTR)
                ;
        forker_pid = 0;
}

int forker_request(broker *b, uid_t uid, gid_t gid, uid_helper_fn fn, uint64_t *ret_token) {
        if (forker_fd < 0)
                return -ENOTCONN;
        forker_req q = { .token = ++forker_tokens, .uid = uid, .gid = gid, .fn = (uintptr_t) fn };
        if (send(forker_fd, &q, sizeof(q), MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t) sizeof(q)) {
                int r = negative_errno();
                if (r != -EAGAIN) /* a full socket is only busy: this helper is forked here */
                        forker_lost(b, "cannot be asked");
                return r;
        }
        *ret_token = q.token;
        return 0;
}

void forker_wait(broker *b, const bool *pending) {
        uint64_t end = now_usec() + FORKER_TIMEOUT_MS * 1000ULL;
        while (*pending && forker_fd >= 0) {
                uint64_t now = now_usec();
                struct pollfd p = { forker_fd, POLLIN, 0 };
                int n = now >= end ? 0 : poll(&p, 1, (int) ((end - now + 999) / 1000));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        forker_lost(b, n == 0 ? "did not answer in time" : "cannot be waited for");
                        return;
                }
                forker_read(b);
        }
}
