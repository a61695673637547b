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
 */
#include <fcntl.h>
#include <grp.h>
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
        size_t len = req->helper_len;
        memcpy(out, req->helper_out, len);
        helper_cancel(req);
        done(req, status, out, len);
        explicit_bzero(out, sizeof(out));
}

static int on_helper_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        request *req = userdata;
        for (;;) {
                ssize_t n = read(fd, req->helper_out + req->helper_len, sizeof(req->helper_out) - req->helper_len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return 0;
                if (n > 0) {
                        req->helper_len += n;
                        if (req->helper_len < sizeof(req->helper_out))
                                continue;
                }
                break; /* EOF, error, or full */
        }
        /* the first int is the status the helper's function returned */
        int status = -EIO;
        if (req->helper_len >= sizeof(int))
                memcpy(&status, req->helper_out, sizeof(int));
        if (status >= 0 && req->helper_len >= sizeof(int)) {
                memmove(req->helper_out, req->helper_out + sizeof(int), req->helper_len - sizeof(int));
                req->helper_len -= sizeof(int);
                status = (int) req->helper_len;
        } else
                req->helper_len = 0;
        helper_finish(req, status);
        return 0;
}

static int on_helper_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        request *req = userdata;
        req->helper_len = 0;
        helper_finish(req, -ETIMEDOUT);
        return 0;
}

int helper_run(request *req, uid_t uid, gid_t gid, ssize_t (*fn)(void *arg, void *out, size_t size), void *arg,
               void (*done)(request *req, int status, const void *out, size_t len)) {
        int p[2];
        if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
                return negative_errno();
        pid_t pid = fork();
        if (pid < 0) {
                int r = negative_errno();
                safe_close(p[0]);
                safe_close(p[1]);
                return r;
        }
        if (pid == 0) {
                sigset_t all;
                sigemptyset(&all);
                sigprocmask(SIG_SETMASK, &all, NULL);
                safe_close(p[0]);
                unsigned char buf[sizeof(req->helper_out)];
                int status;
                ssize_t n = 0;
                if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || setgroups(0, NULL) < 0 ||
                    setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
                        status = negative_errno();
                else {
                        n = fn(arg, buf + sizeof(int), sizeof(buf) - sizeof(int));
                        status = n < 0 ? (int) n : 0;
                }
                memcpy(buf, &status, sizeof(int));
                size_t len = sizeof(int) + (n > 0 ? (size_t) n : 0);
                ssize_t w = write(p[1], buf, len);
                explicit_bzero(buf, sizeof(buf));
                _exit(w == (ssize_t) len ? 0 : 1);
        }
        safe_close(p[1]);
        req->helper_pid = pid;
        req->helper_fd = p[0];
        req->helper_len = 0;
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
