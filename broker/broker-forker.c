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
 * capabilities); it keeps no fd but its socket, and forks a helper for
 * each request.  A loop only sends a datagram; the answer (the helper's
 * pid, its socket and a pidfd of it, as SCM_RIGHTS) is read by the main
 * thread's event loop, or by the first request that needs the helper
 * before it came, which waits for it (forker_wait()).
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

#include "broker-helper.h"
#include "ops-sched.h"

#define FORKER_TIMEOUT_MS 2000 /* for one answer, waited for by a request: it forks, nothing else */

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

/* The calling thread's policy: SCHED_IDLE, or back to SCHED_OTHER at nice 0 (CAP_SYS_NICE: the broker's). */
static void set_idle(bool idle) {
        sched_attr_v0 a = { .size = sizeof(a), .sched_policy = idle ? SCHED_IDLE : SCHED_OTHER };
        (void) syscall(SYS_sched_setattr, 0, &a, 0);
}

/* One request: a helper forked, the answer sent; false when the answer could not be sent. */
static bool forker_serve(int sock, const forker_req *q) {
        forker_ans a = { .token = q->token };
        int p[2] = { -EBADF, -EBADF }, pidfd = -EBADF;
        pid_t self = getpid(), pid = -1;
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, p) < 0 || (pid = fork()) < 0)
                a.status = -errno;
        else if (pid == 0) {
                safe_close(sock);
                safe_close(p[0]);
                (void) prctl(PR_SET_NAME, "delegate-broker"); /* a helper is named as before the forker */
                set_idle(false);
                uid_helper_child(p[1], self, (uid_t) q->uid, (gid_t) q->gid, (uid_helper_fn) q->fn);
        } else if ((pidfd = pidfd_open(pid, 0)) < 0) {
                a.status = -errno;
                kill(pid, SIGKILL);
        }
        a.pid = (int32_t) pid;
        const int fds[2] = { p[0], pidfd };
        union {
                struct cmsghdr h;
                char b[CMSG_SPACE(sizeof(fds))];
        } cm = {};
        struct iovec iov = { &a, sizeof(a) };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
        if (a.status == 0)
                wire_put_fds(&mh, cm.b, fds, 2);
        bool sent = sendmsg(sock, &mh, MSG_NOSIGNAL) == (ssize_t) sizeof(a);
        safe_close(p[0]);
        safe_close(p[1]);
        safe_close(pidfd);
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
        /* its forks run on a CPU nothing else wants: beside a VM's next steps, not in their way */
        set_idle(true);
        for (;;) {
                forker_req q;
                ssize_t n = recv(sock, &q, sizeof(q), 0);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n != (ssize_t) sizeof(q) || !forker_serve(sock, &q))
                        _exit(n == 0 ? 0 : 1); /* EOF: the broker closed its end, or went */
        }
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
        uid_helpers_forker_lost(b);
}

/* Every answer waiting, each to its helper (uid_helper_started()); false when the forker is gone. */
static bool forker_read(broker *b) {
        for (;;) {
                forker_ans a;
                union {
                        struct cmsghdr h;
                        char b[CMSG_SPACE(sizeof(int) * 2)];
                } cm;
                struct iovec iov = { &a, sizeof(a) };
                struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &cm, .msg_controllen = sizeof(cm) };
                ssize_t n = recvmsg(forker_fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return true;
                int fds[2] = { -EBADF, -EBADF };
                size_t k = 0;
                for (struct cmsghdr *c = n > 0 ? CMSG_FIRSTHDR(&mh) : NULL; c; c = CMSG_NXTHDR(&mh, c))
                        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
                                for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
                                        int fd = ((int *) CMSG_DATA(c))[i];
                                        if (k < 2)
                                                fds[k++] = fd;
                                        else
                                                safe_close(fd);
                                }
                bool good = n == (ssize_t) sizeof(a) && !(mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) &&
                            (a.status < 0 ? k == 0 : k == 2 && a.pid > 0);
                if (!good) {
                        if (fds[1] >= 0)
                                pidfd_send_signal(fds[1], SIGKILL, NULL, 0);
                        safe_close(fds[0]);
                        safe_close(fds[1]);
                        forker_lost(b, n == 0 ? "ended" : "broke the protocol");
                        return false;
                }
                uid_helper_started(b, a.token, a.status, a.pid, fds[0], fds[1]);
        }
}

static int on_forker_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        forker_read(userdata);
        return 0;
}

int forker_start(broker *b) {
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
