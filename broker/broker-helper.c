/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-helper.c - run a step with another user's credentials in a
 * short-lived child process, without blocking the event loop.
 *
 * Why a process and not a thread with per-thread setresuid(): a thread
 * whose real uid is the client's can be sent SIGKILL with tgkill() by that
 * client, which would kill the whole broker.  A helper process can only be
 * killed (or stopped) on its own; a stopped or hung helper times out after
 * HELPER_TIMEOUT_USEC and its request fails alone.
 *
 * The same machinery runs steps that must happen in a pod's network
 * namespace (helper_run_netns()): the child enters it with setns() and stays
 * root, so the broker's own threads never change namespace.  The answer
 * travels back as one datagram on a SOCK_SEQPACKET socketpair, with any fds
 * the step opened as SCM_RIGHTS.
 */
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <syslog.h>

#include "broker.h"

void helper_cancel(request *req) {
        req->helper_src = sd_event_source_disable_unref(req->helper_src);
        req->timeout_src = sd_event_source_disable_unref(req->timeout_src);
        req->helper_fd = safe_close(req->helper_fd);
        close_fds(req->helper_fds, req->helper_n_fds);
        req->helper_n_fds = 0;
        if (req->helper_pid > 0) {
                kill(req->helper_pid, SIGKILL);
                while (waitpid(req->helper_pid, NULL, 0) < 0 && errno == EINTR)
                        ;
                req->helper_pid = 0;
        }
}

static void helper_finish(request *req, int status) {
        void (*done)(request *, int, const void *, size_t) = req->helper_done;
        unsigned char out[sizeof(req->helper_out)];
        size_t len = req->helper_len, n_fds = req->helper_n_fds;
        int fds[ELEMENTSOF(req->helper_fds)];
        memcpy(out, req->helper_out, len);
        memcpy(fds, req->helper_fds, sizeof(int) * n_fds);
        req->helper_n_fds = 0; /* kept from helper_cancel(): they are the answer */
        helper_cancel(req);
        memcpy(req->helper_fds, fds, sizeof(int) * n_fds);
        req->helper_n_fds = n_fds;
        done(req, status, out, len);
        explicit_bzero(out, sizeof(out));
}

/* The helper's answer: one datagram, an int status, its output, maybe fds. */
static int on_helper_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        request *req = userdata;
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(sizeof(int) * ELEMENTSOF(req->helper_fds))];
        } cm;
        unsigned char buf[sizeof(int) + sizeof(req->helper_out)];
        struct iovec iov = { buf, sizeof(buf) };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &cm, .msg_controllen = sizeof(cm) };
        ssize_t n;
        do
                n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        while (n < 0 && errno == EINTR);
        if (n < 0 && errno == EAGAIN)
                return 0;
        for (struct cmsghdr *c = n >= 0 ? CMSG_FIRSTHDR(&mh) : NULL; c; c = CMSG_NXTHDR(&mh, c))
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                        size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                        int *in = (int *) CMSG_DATA(c);
                        for (size_t i = 0; i < k; i++) {
                                if (req->helper_n_fds < ELEMENTSOF(req->helper_fds))
                                        req->helper_fds[req->helper_n_fds++] = in[i];
                                else
                                        safe_close(in[i]);
                        }
                }
        /* the first int is the status the helper's function returned */
        int status = -EIO;
        req->helper_len = 0;
        if (n >= (ssize_t) sizeof(int) && !(mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
                memcpy(&status, buf, sizeof(int));
                if (status >= 0) {
                        req->helper_len = n - sizeof(int);
                        memcpy(req->helper_out, buf + sizeof(int), req->helper_len);
                        status = (int) req->helper_len;
                }
        }
        explicit_bzero(buf, sizeof(buf));
        if (status < 0) {
                close_fds(req->helper_fds, req->helper_n_fds);
                req->helper_n_fds = 0;
        }
        helper_finish(req, status);
        return 0;
}

static int on_helper_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        request *req = userdata;
        req->helper_len = 0;
        helper_finish(req, -ETIMEDOUT);
        return 0;
}

/* What the child becomes before running the step. */
typedef struct helper_setup {
        bool as_user; /* drop to uid/gid */
        uid_t uid;
        gid_t gid;
        int netns_fd; /* >= 0: setns(CLONE_NEWNET) into it, staying root */
} helper_setup;

static _noreturn_ void child(int sock, const helper_setup *setup, helper_fn fn, void *arg) {
        sigset_t all;
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        /* aligned for the step's output struct (tap_out holds 64-bit fields) */
        _Alignas(max_align_t) unsigned char out[sizeof(((request *) NULL)->helper_out)];
        int fds[ELEMENTSOF(((request *) NULL)->helper_fds)];
        size_t n_fds = 0;
        int status;
        ssize_t n = 0;
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 ||
            (setup->as_user &&
             (setgroups(0, NULL) < 0 || setresgid(setup->gid, setup->gid, setup->gid) < 0 ||
              setresuid(setup->uid, setup->uid, setup->uid) < 0)) ||
            (setup->netns_fd >= 0 && setns(setup->netns_fd, CLONE_NEWNET) < 0))
                status = negative_errno();
        else {
                n = fn(arg, out, sizeof(out), fds, &n_fds);
                status = n < 0 ? (int) n : 0;
        }
        size_t len = sizeof(int) + (n > 0 ? (size_t) n : 0);
        union {
                struct cmsghdr h;
                char b[CMSG_SPACE(sizeof(fds))];
        } cm = {};
        /* the answer: the status, then the output */
        struct iovec iov[2] = { { &status, sizeof(int) }, { out, len - sizeof(int) } };
        struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };
        if (status >= 0 && n_fds > 0) {
                mh.msg_control = &cm;
                mh.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
                struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
                memcpy(CMSG_DATA(c), fds, sizeof(int) * n_fds);
        }
        ssize_t w = sendmsg(sock, &mh, MSG_NOSIGNAL);
        explicit_bzero(out, sizeof(out));
        _exit(w == (ssize_t) len ? 0 : 1);
}

static int spawn(request *req, const helper_setup *setup, helper_fn fn, void *arg,
                 void (*done)(request *req, int status, const void *out, size_t len)) {
        int p[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, p) < 0)
                return negative_errno();
        pid_t pid = fork();
        if (pid < 0) {
                int r = negative_errno();
                safe_close(p[0]);
                safe_close(p[1]);
                return r;
        }
        if (pid == 0) {
                safe_close(p[0]);
                child(p[1], setup, fn, arg);
        }
        safe_close(p[1]);
        req->helper_pid = pid;
        req->helper_fd = p[0];
        req->helper_len = 0;
        req->helper_n_fds = 0;
        req->helper_done = done;
        broker *b = req->b;
        int r = sd_event_add_io(b->event, &req->helper_src, p[0], EPOLLIN, on_helper_io, req);
        if (r >= 0)
                r = sd_event_add_time_relative(b->event, &req->timeout_src, CLOCK_MONOTONIC, HELPER_TIMEOUT_USEC, 0,
                                               on_helper_timeout, req);
        if (r < 0) {
                helper_cancel(req);
                return r;
        }
        return 0;
}

typedef struct plain_call {
        ssize_t (*fn)(void *arg, void *out, size_t size);
        void *arg;
} plain_call;

static ssize_t call_plain(void *arg, void *out, size_t size, int *fds, size_t *n_fds) {
        plain_call *p = arg;
        return p->fn(p->arg, out, size);
}

int helper_run(request *req, uid_t uid, gid_t gid, ssize_t (*fn)(void *arg, void *out, size_t size), void *arg,
               void (*done)(request *req, int status, const void *out, size_t len)) {
        helper_setup s = { .as_user = true, .uid = uid, .gid = gid, .netns_fd = -EBADF };
        plain_call p = { fn, arg }; /* the child gets a copy of the stack */
        return spawn(req, &s, call_plain, &p, done);
}

int helper_run_netns(request *req, int netns_fd, helper_fn fn, void *arg,
                     void (*done)(request *req, int status, const void *out, size_t len)) {
        helper_setup s = { .netns_fd = netns_fd };
        return spawn(req, &s, fn, arg, done);
}
