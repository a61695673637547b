/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-helper.c - run steps with another user's credentials, or in a
 * pod's network namespace, in child processes, without blocking the event
 * loop.
 *
 * Why a process and not a thread with per-thread setresuid(): a thread
 * whose real uid is the client's can be sent SIGKILL with tgkill() by that
 * client, which would kill the whole broker.  A helper process can only be
 * killed (or stopped) on its own; a stopped or hung helper times out after
 * HELPER_TIMEOUT_USEC and its request fails alone.
 *
 * Two kinds:
 *   - uid helpers (uid_helper_call(): memlock.set without CAP_SYS_RESOURCE)
 *     are long-lived, one per target uid/gid and step, forked by the
 *     forker (broker-forker.c; by the broker when there is none): started
 *     when a session that may use it begins (uid_helper_prestart(), once
 *     its welcome is sent) or else at the first request, reused by every
 *     session after it (a request is one datagram each way on a
 *     SOCK_SEQPACKET socketpair, answered in order; its socket in the epoll
 *     set of the client loop that started it, which reads the answers:
 *     uid_helper_loop_io()), ended with the last session that used it (a
 *     session that started it counts, though it never asked).  The helper
 *     closes every fd it inherited but its socket, is not dumpable and exits
 *     when the broker goes (EOF on its socket; PR_SET_PDEATHSIG).  If it dies
 *     (its uid may kill it), its requests in flight fail with EPIPE and the
 *     next request starts a new one; if it hangs or is stopped, the request
 *     times out and the helper is killed.
 *   - netns helpers (helper_run_netns(): TAP steps the netns worker thread
 *     does not take, broker-netns-worker.c) are short-lived: the child
 *     enters the pod's network namespace with setns() and stays root.  The
 *     answer travels back as one datagram, with any fds the step opened as
 *     SCM_RIGHTS; then the child closes every fd but its socket (its
 *     copies of what it sent, and of what it inherited: the caller's
 *     /dev/net/tun under unotify, say) and sends one byte more.  The
 *     request is answered once that byte is in, and the child reaped after
 *     that: a client that closes a TAP queue it was given at once is not
 *     kept waiting for the child's exit, nor is its device held by a copy
 *     of the child's.
 */
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <syslog.h>

#include "broker-forker.h"
#include "broker-helper.h"

static void uid_helper_forget(request *req);

static void helper_reap(pid_t pid) {
        kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                ;
}

void helper_cancel(request *req) {
        if (!req->uid_helper && !req->helper_src && !req->timeout_src && req->helper_fd < 0 &&
            req->helper_n_fds == 0 && !req->helper_answered && req->helper_pid <= 0)
                return; /* no helper (every request is freed through here); each field reset below is tested here */
        uid_helper_forget(req);
        req->helper_src = sd_event_source_disable_unref(req->helper_src);
        req->timeout_src = sd_event_source_disable_unref(req->timeout_src);
        req->helper_fd = safe_close(req->helper_fd);
        close_fds(req->helper_fds, req->helper_n_fds); /* the broker's own (TAP queues): as outmsg_free() */
        req->helper_n_fds = 0;
        req->helper_answered = false;
        if (req->helper_pid > 0) {
                helper_reap(req->helper_pid);
                req->helper_pid = 0;
        }
}

/* The step's answer to its request; the child is reaped after @done when @reap_after (it holds no copy of
 * what it sent any more), else before. */
static void helper_finish(request *req, int status, bool reap_after) {
        void (*done)(request *, int, const void *, size_t) = req->helper_done;
        unsigned char out[sizeof(req->helper_out)];
        size_t len = req->helper_len, n_fds = req->helper_n_fds;
        int fds[ELEMENTSOF(req->helper_fds)];
        pid_t pid = reap_after ? req->helper_pid : 0;
        memcpy(out, req->helper_out, len);
        memcpy(fds, req->helper_fds, sizeof(int) * n_fds);
        req->helper_n_fds = 0; /* kept from helper_cancel(): they are the answer */
        if (pid > 0)
                req->helper_pid = 0; /* @done may start another step, and another child, on this request */
        helper_cancel(req);
        memcpy(req->helper_fds, fds, sizeof(int) * n_fds);
        req->helper_n_fds = n_fds;
        done(req, status, out, len);
        explicit_bzero(out, sizeof(out));
        if (pid > 0)
                helper_reap(pid);
}

/* After an answer: the byte that says the child closed every fd it held (but the socket). */
static void helper_released(request *req, int fd) {
        char b;
        ssize_t n;
        do
                n = recv(fd, &b, 1, MSG_DONTWAIT);
        while (n < 0 && errno == EINTR);
        if (n < 0 && errno == EAGAIN)
                return; /* not yet: its event comes */
        /* else it ended first (EOF, an error): its copies go only as it is reaped, before the answer */
        helper_finish(req, req->helper_status, n == 1);
}

/* The helper's answer: one datagram, an int status, its output, maybe fds. */
static int on_helper_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        request *req = userdata;
        if (req->helper_answered) {
                helper_released(req, fd);
                return 0;
        }
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
        if (n >= (ssize_t) sizeof(int) && !(mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
                req->helper_answered = true; /* answered once the child holds nothing */
                req->helper_status = status;
                helper_released(req, fd);
                return 0;
        }
        helper_finish(req, status, false); /* EOF, an error, a bad answer: reaped first */
        return 0;
}

static int on_helper_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        request *req = userdata;
        req->helper_len = 0;
        if (req->helper_answered) { /* the answer came, the byte did not: not the answer */
                close_fds(req->helper_fds, req->helper_n_fds);
                req->helper_n_fds = 0;
        }
        helper_finish(req, -ETIMEDOUT, false);
        return 0;
}

/* What the child becomes before running the step. */
typedef struct helper_setup {
        int netns_fd; /* setns(CLONE_NEWNET) into it, staying root */
} helper_setup;

ssize_t helper_send_answer(int sock, int status, const void *out, size_t len, const int *fds, size_t n_fds) {
        union {
                struct cmsghdr h;
                char b[CMSG_SPACE(sizeof(int) * ELEMENTSOF(((request *) NULL)->helper_fds))];
        } cm = {};
        /* the answer: the status, then the output */
        struct iovec iov[2] = { { &status, sizeof(int) }, { (void *) out, len } };
        struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };
        if (status >= 0 && n_fds > 0 && n_fds <= ELEMENTSOF(((request *) NULL)->helper_fds))
                wire_put_fds(&mh, cm.b, fds, n_fds);
        return sendmsg(sock, &mh, MSG_NOSIGNAL);
}

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
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || setns(setup->netns_fd, CLONE_NEWNET) < 0)
                status = negative_errno();
        else {
                n = fn(arg, out, sizeof(out), fds, &n_fds);
                status = n < 0 ? (int) n : 0;
        }
        size_t len = sizeof(int) + (n > 0 ? (size_t) n : 0);
        ssize_t w = helper_send_answer(sock, status, out, len - sizeof(int), fds, n_fds);
        explicit_bzero(out, sizeof(out));
        /* every fd but the socket closed (what it sent, what it inherited), then one byte more: the broker
         * answers the request only then */
        char released = 1;
        if (w == (ssize_t) len && ((sock > 3 && close_range(3, (unsigned) sock - 1, 0) < 0) ||
                                   close_range((unsigned) sock + 1, ~0U, 0) < 0 ||
                                   send(sock, &released, 1, MSG_NOSIGNAL) != 1))
                w = -1;
        _exit(w == (ssize_t) len ? 0 : 1);
}

/*
 * fork() with a SOCK_SEQPACKET socketpair (@flags added) between parent and
 * child: returns the child's pid in the parent, 0 in the child, or -errno;
 * *@ret_fd is this side's end.
 */
static pid_t fork_paired(int flags, int *ret_fd) {
        int p[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | flags, 0, p) < 0)
                return negative_errno();
        pid_t pid = fork();
        if (pid < 0) {
                int r = negative_errno();
                safe_close(p[0]);
                safe_close(p[1]);
                return r;
        }
        safe_close(p[pid == 0 ? 0 : 1]);
        *ret_fd = p[pid == 0 ? 1 : 0];
        return pid;
}

int helper_watch(request *req, int fd, pid_t pid, void (*done)(request *req, int status, const void *out, size_t len)) {
        req->helper_pid = pid;
        req->helper_fd = fd;
        req->helper_len = 0;
        req->helper_n_fds = 0;
        req->helper_done = done;
        broker *b = req->b;
        int r = sd_event_add_io(b->event, &req->helper_src, fd, EPOLLIN, on_helper_io, req);
        if (r >= 0)
                r = sd_event_add_time_relative(b->event, &req->timeout_src, CLOCK_MONOTONIC, HELPER_TIMEOUT_USEC, 0,
                                               on_helper_timeout, req);
        if (r < 0) {
                helper_cancel(req);
                return r;
        }
        return 0;
}

static int spawn(request *req, const helper_setup *setup, helper_fn fn, void *arg,
                 void (*done)(request *req, int status, const void *out, size_t len)) {
        int fd;
        pid_t pid = fork_paired(SOCK_NONBLOCK, &fd);
        if (pid < 0)
                return pid;
        if (pid == 0)
                child(fd, setup, fn, arg);
        return helper_watch(req, fd, pid, done);
}

int helper_run_netns(request *req, int netns_fd, helper_fn fn, void *arg,
                     void (*done)(request *req, int status, const void *out, size_t len)) {
        helper_setup s = { .netns_fd = netns_fd };
        return spawn(req, &s, fn, arg, done);
}

/* --- long-lived helpers per target uid/gid --- */

#define UID_HELPER_MAX_QUEUE 256 /* requests in flight per helper */

/* one datagram each way: the broker's sequence number heads both */
typedef struct uid_helper_in {
        uint64_t seq;
        unsigned char in[UID_HELPER_MAX_IN];
} uid_helper_in;
typedef struct uid_helper_out {
        uint64_t seq;
        int32_t status;
        _Alignas(max_align_t) unsigned char out[sizeof(((request *) NULL)->helper_out)];
} uid_helper_out;

/* a request in flight, and when it times out */
typedef struct uid_helper_slot {
        request *req; /* NULL: cancelled, its answer dropped */
        uint64_t deadline;
} uid_helper_slot;

struct uid_helper {
        uid_helper *next;
        broker *b;
        uid_t uid;
        gid_t gid;
        char *cgroup; /* the pod cgroup of the callers it serves ("": none known): a pod stalls only its own */
        uid_helper_fn fn;
        pid_t pid; /* 0: not running (started at the next call); -1: the forker is starting it */
        int fd;
        int pidfd;      /* a helper of the forker's (not our child): ended through it; else -EBADF */
        uint64_t token; /* while the forker starts it: the answer's (broker-forker.c) */
        bool starting;  /* the forker is starting it: no fd yet */
        broker_loop *loop; /* whose epoll set has fd: the loop of the request that started it */
        uint64_t io_key;   /* its epoll data: UID_HELPER_IO_KEY and a number never used before */
        client **users; /* the sessions that used it: it ends with the last */
        size_t n_users;
        uid_helper_slot *queue; /* in flight, in the order sent */
        size_t n_queue, n_alloc;
        sd_event_source *timer; /* at the oldest slot's deadline, armed only while requests wait */
        uint64_t seq_next, seq_head; /* seq_head: that of queue[0] */
        /* in its I/O or timer callback: a done() that calls it again and fails must not free it there */
        bool dispatching;
};

static void uid_helper_child_setup(int sock) {
        sigset_t all;
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        /* keep nothing of the broker's but our socket: no client connection
         * stays open in here after the broker closed it */
        _cleanup_(closedirp) DIR *d = opendir("/proc/self/fd");
        if (!d)
                _exit(1);
        for (struct dirent *de; (de = readdir(d));) {
                int fd = atoi(de->d_name);
                if (fd > 2 && fd != sock && fd != dirfd(d))
                        close(fd);
        }
        closedir(TAKE_PTR(d));
}

static _noreturn_ void uid_helper_child_serve(int sock, pid_t parent, uid_t uid, gid_t gid, uid_helper_fn fn) {
        /* the id change clears PR_SET_PDEATHSIG: set it after; not dumpable,
         * so the uid we become can neither ptrace us nor open our fds */
        if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0 ||
            prctl(PR_SET_DUMPABLE, 0) < 0 || prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                _exit(1);
        for (;;) {
                uid_helper_in in;
                uid_helper_out out = {};
                ssize_t n = recv(sock, &in, sizeof(in), 0);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        _exit(0); /* the broker closed our socket, or went */
                if (n < (ssize_t) sizeof(in.seq))
                        _exit(1);
                ssize_t k = fn(in.in, n - sizeof(in.seq), out.out, sizeof(out.out));
                out.seq = in.seq;
                out.status = k < 0 ? (int32_t) k : 0;
                size_t len = offsetof(uid_helper_out, out) + (k > 0 ? (size_t) k : 0);
                ssize_t w = send(sock, &out, len, MSG_NOSIGNAL);
                explicit_bzero(&in, sizeof(in));
                explicit_bzero(&out, sizeof(out));
                if (w != (ssize_t) len)
                        _exit(1);
        }
}

/* Stop the process (if any): its socket closed, SIGKILL, reaped. */
static void uid_helper_stop(uid_helper *h) {
        if (h->loop && h->fd >= 0)
                epoll_ctl(h->loop->epfd, EPOLL_CTL_DEL, h->fd, NULL);
        h->loop = NULL;
        h->io_key = 0; /* an event its loop took before this finds no helper (uid_helper_loop_io()) */
        sd_event_source_set_enabled(h->timer, SD_EVENT_OFF);
        h->fd = safe_close(h->fd);
        if (h->pidfd >= 0) /* the forker's child: it reaps it */
                pidfd_send_signal(h->pidfd, SIGKILL, NULL, 0);
        else if (h->pid > 0) {
                kill(h->pid, SIGKILL);
                while (waitpid(h->pid, NULL, 0) < 0 && errno == EINTR)
                        ;
        }
        h->pidfd = safe_close(h->pidfd);
        h->starting = false; /* its answer, if it comes, finds no helper and ends it */
        h->pid = 0;
}

static void uid_helper_free(uid_helper *h) {
        uid_helper_stop(h);
        h->timer = sd_event_source_disable_unref(h->timer);
        for (uid_helper **p = &h->b->uid_helpers; *p; p = &(*p)->next)
                if (*p == h) {
                        *p = h->next;
                        break;
                }
        free(h->users);
        free(h->queue);
        free(h->cgroup);
        free(h);
}

static bool uid_helper_busy(const uid_helper *h) {
        for (size_t i = 0; i < h->n_queue; i++)
                if (h->queue[i].req)
                        return true;
        return false;
}

/* Ended with its last session, once nothing waits for it (by its callback, when in one). */
static void uid_helper_maybe_end(uid_helper *h) {
        if (!h->dispatching && h->n_users == 0 && !uid_helper_busy(h))
                uid_helper_free(h);
}

/* Take @req off its helper's queue (its answer, if it comes, is dropped). */
static void uid_helper_forget(request *req) {
        uid_helper *h = req->uid_helper;
        if (!h)
                return;
        req->uid_helper = NULL;
        for (size_t i = 0; i < h->n_queue; i++)
                if (h->queue[i].req == req)
                        h->queue[i].req = NULL;
        uid_helper_maybe_end(h);
}

/* Answer @req with @status and @out, after taking it off the queue. */
static void uid_helper_answer(request *req, int status, const void *out, size_t len) {
        void (*done)(request *, int, const void *, size_t) = req->helper_done;
        req->uid_helper = NULL;
        done(req, status, out, len);
}

/*
 * The process died, hung or broke the protocol: kill and reap it, and fail
 * every request waiting for it with @status.  The next call starts another.
 */
static void uid_helper_lost(uid_helper *h, int status) {
        uid_helper_slot *q = h->queue;
        size_t n = h->n_queue;
        log_msg(h->b, LOG_WARNING,
                "memlock helper for uid %u of cgroup '%s' (pid %d) %s; %zu request(s) in flight fail",
                (unsigned) h->uid, h->cgroup, (int) h->pid,
                status == -ETIMEDOUT ? "did not answer in time, killed" : "ended", n);
        uid_helper_stop(h);
        h->queue = NULL;
        h->n_queue = h->n_alloc = 0;
        for (size_t i = 0; i < n; i++)
                if (q[i].req)
                        q[i].req->uid_helper = NULL; /* no forget() from what done() frees */
        for (size_t i = 0; i < n; i++)
                if (q[i].req)
                        uid_helper_answer(q[i].req, status, NULL, 0);
        free(q);
        uid_helper_maybe_end(h);
}

/*
 * Read and hand on the answers waiting.  A done() may call @h again (memlock:
 * a wrong guess of the ids, then the ids read): uid_helper_maybe_end() waits
 * for the end of the callback (@h->dispatching), and a call that stopped or
 * restarted the process ends the reading here (@fd is no longer its socket).
 */
static void uid_helper_read(uid_helper *h, int fd) {
        /* a bounded number of answers per wakeup, as for clients; none expected when none is owed (an
         * EOF or a stray datagram is read on the first pass, the socket being readable) */
        for (int i = 0; i < 16 && h->fd == fd && (i == 0 || h->n_queue > 0); i++) {
                uid_helper_out out;
                ssize_t n = recv(fd, &out, sizeof(out), MSG_DONTWAIT);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return;
                if (n < (ssize_t) offsetof(uid_helper_out, out) || h->n_queue == 0 || out.seq != h->seq_head) {
                        explicit_bzero(&out, sizeof(out));
                        uid_helper_lost(h, -EPIPE); /* EOF: it died; else it broke the protocol */
                        return;
                }
                request *req = h->queue[0].req;
                memmove(h->queue, h->queue + 1, sizeof(*h->queue) * --h->n_queue);
                h->seq_head++;
                if (req) {
                        size_t len = n - offsetof(uid_helper_out, out);
                        int status = out.status < 0 ? out.status : (int) len;
                        uid_helper_answer(req, status, out.out, out.status < 0 ? 0 : len);
                }
                explicit_bzero(&out, sizeof(out));
                if (h->n_users == 0 && !uid_helper_busy(h))
                        return; /* a D-Bus request's helper, or its sessions left: freed by the caller */
        }
}

/*
 * An event of a helper's socket, in the loop whose epoll set has it (under
 * the lock): the answer is read by the thread that sent the request when
 * the client is on that loop, with no other thread to wake (the main
 * thread's wake and its sd-event turn cost a memlock.set about 12 us).
 * Found by its key, not a pointer: a helper stopped or freed by another
 * thread after this loop's epoll_wait() took its event is not found.
 */
void uid_helper_loop_io(broker *b, uint64_t key) {
        uid_helper **p = &b->uid_helpers, *h;
        for (; (h = *p) && h->io_key != key; p = &h->next)
                ;
        if (!h)
                return;
        if (p != &b->uid_helpers) { /* to the front: the one answering now is looked for first next time */
                *p = h->next;
                h->next = b->uid_helpers;
                b->uid_helpers = h;
        }
        h->dispatching = true;
        uid_helper_read(h, h->fd);
        h->dispatching = false;
        uid_helper_maybe_end(h);
}

/* The timer runs at @deadline, once. */
static int uid_helper_arm(uid_helper *h, uint64_t deadline);

/*
 * The oldest request's deadline came (the timer is armed at it only when it
 * is off, so it may find a later one in front: then it waits for that).  An
 * answer does not touch the timer: one request after another costs no timer
 * change until the first deadline.
 */
static int on_uid_helper_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        uid_helper *h = userdata;
        uint64_t now;
        if (h->n_queue == 0)
                return 0; /* off until the next call */
        h->dispatching = true; /* as in on_uid_helper_io(): the failed requests' done() may call it */
        if (sd_event_now(h->b->event, CLOCK_MONOTONIC, &now) < 0 || h->queue[0].deadline <= now)
                uid_helper_lost(h, -ETIMEDOUT);
        else if (uid_helper_arm(h, h->queue[0].deadline) < 0)
                uid_helper_lost(h, -ETIMEDOUT); /* no timer, no guarantee: start over */
        h->dispatching = false;
        uid_helper_maybe_end(h);
        return 0;
}

static int uid_helper_arm(uid_helper *h, uint64_t deadline) {
        if (!h->timer)
                return sd_event_add_time(h->b->event, &h->timer, CLOCK_MONOTONIC, deadline, 0, on_uid_helper_timer,
                                         h);
        int r = sd_event_source_set_time(h->timer, deadline);
        return r < 0 ? r : sd_event_source_set_enabled(h->timer, SD_EVENT_ONESHOT);
}

/* Is the timer running?  (It is one-shot: it stops when it fires.) */
static bool uid_helper_armed(const uid_helper *h) {
        int e = SD_EVENT_OFF;
        return h->timer && sd_event_source_get_enabled(h->timer, &e) >= 0 && e != SD_EVENT_OFF;
}

/* The helper @pid runs: its socket @fd in @h->loop's epoll set.  Takes @fd and @pidfd (-EBADF: our child). */
static int uid_helper_attach(uid_helper *h, pid_t pid, int fd, int pidfd) {
        static uint64_t keys; /* under the lock */
        h->pid = pid;
        h->fd = fd;
        h->pidfd = pidfd;
        h->seq_head = h->seq_next;
        int r = fcntl(h->fd, F_SETFL, O_NONBLOCK) < 0 ? negative_errno() : 0;
        struct epoll_event ev = { .events = EPOLLIN, .data.u64 = UID_HELPER_IO_KEY | ++keys };
        if (r >= 0 && epoll_ctl(h->loop->epfd, EPOLL_CTL_ADD, h->fd, &ev) < 0)
                r = negative_errno();
        if (r >= 0)
                h->io_key = ev.data.u64;
        if (r < 0)
                uid_helper_stop(h);
        else
                log_msg(h->b, LOG_DEBUG, "memlock helper for uid %u of cgroup '%s' started (pid %d%s)", (unsigned) h->uid,
                        h->cgroup, (int) pid, pidfd >= 0 ? ", by the forker" : "");
        return r;
}

/* Fork the helper here, on the calling thread (no forker, or it could not be asked). */
static int uid_helper_start_here(uid_helper *h) {
        int fd;
        pid_t parent = getpid(), pid = fork_paired(0, &fd);
        if (pid < 0)
                return pid;
        if (pid == 0) {
                uid_helper_child_setup(fd);
                uid_helper_child_serve(fd, parent, h->uid, h->gid, h->fn);
        }
        return uid_helper_attach(h, pid, fd, -EBADF);
}

/* Start the helper: asked of the forker (its answer comes later: @h->starting), else forked here. */
static int uid_helper_start(uid_helper *h) {
        /* the loop of the client asking (the main thread's requests, D-Bus: loop 0's) gets its socket */
        if (!h->loop && !(h->loop = loop_current() ? loop_current() : h->b->n_loops ? &h->b->loops[0] : NULL))
                return -EINVAL;
        uint64_t token;
        if (forker_request(h->b, h->uid, h->gid, h->fn, &token) < 0)
                return uid_helper_start_here(h);
        h->starting = true;
        h->token = token;
        h->pid = -1;
        return 0;
}

static void uid_helper_started(broker *b, uint64_t token, int status, pid_t pid, int fd, int pidfd) {
        uid_helper *h = b->uid_helpers;
        while (h && !(h->starting && h->token == token))
                h = h->next;
        if (!h) { /* stopped meanwhile (its sessions ended): the helper goes at once */
                pidfd_send_signal(pidfd, SIGKILL, NULL, 0);
                safe_close(fd);
                safe_close(pidfd);
                return;
        }
        h->starting = false; /* (its token is matched only while it starts) */
        h->pid = 0;
        int r = status < 0 ? status : uid_helper_attach(h, pid, fd, pidfd);
        if (r < 0) /* its first request forks it here (uid_helper_call()) */
                log_msg(b, LOG_NOTICE, "the forker could not start the memlock helper for uid %u: %s", (unsigned) h->uid,
                        strerror(-r));
        uid_helper_maybe_end(h);
}

static void uid_helpers_forker_lost(broker *b) {
        for (uid_helper *h = b->uid_helpers; h; h = h->next)
                if (h->starting) {
                        h->starting = false;
                        h->pid = 0;
                        (void) uid_helper_start_here(h); /* if it fails, its first request tries again, and says why */
                }
}

int uid_helpers_forker_start(broker *b) {
        static const forker_ops ops = { uid_helper_child_setup, uid_helper_child_serve, uid_helper_started,
                                        uid_helpers_forker_lost };
        return forker_start(b, &ops);
}

static int add_user(uid_helper *h, client *c) {
        for (size_t i = 0; i < h->n_users; i++)
                if (h->users[i] == c)
                        return 0;
        client **u = realloc(h->users, sizeof(*u) * (h->n_users + 1));
        if (!u)
                return -ENOMEM;
        h->users = u;
        h->users[h->n_users++] = c;
        return 0;
}

/* The helper of @uid/@gid, @fn and pod @cgroup, if there is one (started or not). */
static uid_helper *uid_helper_find(broker *b, uid_t uid, gid_t gid, uid_helper_fn fn, const char *cgroup) {
        for (uid_helper *h = b->uid_helpers; h; h = h->next)
                if (h->uid == uid && h->gid == gid && h->fn == fn && streq(h->cgroup, cgroup))
                        return h;
        return NULL;
}

/* The helper of @uid/@gid, @fn and pod @cgroup, found or made (not started): NULL when out of memory. */
static uid_helper *uid_helper_get(broker *b, uid_t uid, gid_t gid, uid_helper_fn fn, const char *cgroup) {
        uid_helper *h = uid_helper_find(b, uid, gid, fn, cgroup);
        if (h)
                return h;
        h = calloc(1, sizeof(*h));
        char *cg = h ? strdup(cgroup) : NULL;
        if (!cg) {
                free(h);
                return NULL;
        }
        *h = (uid_helper) { .next = b->uid_helpers, .b = b, .uid = uid, .gid = gid, .cgroup = cg, .fn = fn,
                            .fd = -EBADF, .pidfd = -EBADF };
        b->uid_helpers = h;
        return h;
}

int uid_helper_prestart(client *c, uid_t uid, gid_t gid, uid_helper_fn fn, bool (*wanted)(const client *c)) {
        broker *b = c->b;
        const char *cg = c->cgroup ? c->cgroup : "";
        uid_helper *h = uid_helper_find(b, uid, gid, fn, cg);
        bool running = h && h->pid != 0;
        uint64_t now = now_usec();
        /* over the budget, a session's helper is forked at its first request, as without this; and a hello
         * then costs no policy walk either (@wanted last) */
        if ((!running && !limits_prestart_take(b, now, false)) || !wanted(c))
                return 0;
        if (!running)
                (void) limits_prestart_take(b, now, true);
        h = uid_helper_get(b, uid, gid, fn, cg);
        if (!h)
                return -ENOMEM;
        /* a user from now on: it ends with the session's end like one it asked (uid_helpers_session_end()) */
        int r = add_user(h, c);
        if (r >= 0 && h->pid == 0)
                r = uid_helper_start(h);
        /* the forker's answer now (the spare: a datagram each way): its fds are held before the session's
         * next request; if it failed, the first request starts it */
        h->dispatching = r >= 0 && h->starting; /* not freed meanwhile (not in a callback of its own here) */
        if (h->dispatching)
                forker_wait(b, &h->starting);
        h->dispatching = false;
        if (r < 0)
                uid_helper_maybe_end(h);
        return r;
}

int uid_helper_call(request *req, uid_t uid, gid_t gid, uid_helper_fn fn, const void *in, size_t in_len,
                    void (*done)(request *req, int status, const void *out, size_t len)) {
        broker *b = req->b;
        uid_helper *h;
        int r;
        if (in_len > UID_HELPER_MAX_IN)
                return -EINVAL;
        h = uid_helper_get(b, uid, gid, fn, req->who.cgroup ? req->who.cgroup : "");
        if (!h)
                return -ENOMEM;
        /* a session keeps the helper it used; a request without one (D-Bus) only while in flight */
        r = req->c ? add_user(h, req->c) : 0;
        uint64_t now = 0;
        bool was = h->dispatching;
        h->dispatching = true; /* not freed by the answers read or the loss below */
        for (int attempt = 0; r >= 0; attempt++) {
                if (h->n_queue >= UID_HELPER_MAX_QUEUE)
                        r = -EBUSY;
                if (r >= 0 && h->n_queue == h->n_alloc) {
                        size_t k = h->n_alloc ? 2 * h->n_alloc : 4;
                        uid_helper_slot *q = realloc(h->queue, sizeof(*q) * k);
                        if (q) {
                                h->queue = q;
                                h->n_alloc = k;
                        } else
                                r = -ENOMEM;
                }
                if (r >= 0 && h->pid == 0)
                        r = uid_helper_start(h);
                if (r >= 0 && h->starting) { /* the forker's answer first */
                        forker_wait(b, &h->starting);
                        if (h->pid == 0) /* it could not start it: once more, here */
                                r = uid_helper_start_here(h);
                }
                if (r >= 0)
                        r = sd_event_now(b->event, CLOCK_MONOTONIC, &now);
                /* the timer is armed at the oldest deadline: this one's when nothing else waits */
                if (r >= 0 && !uid_helper_armed(h))
                        r = uid_helper_arm(h, now + HELPER_TIMEOUT_USEC);
                if (r >= 0) {
                        uid_helper_in m = { .seq = h->seq_next };
                        memcpy(m.in, in, in_len);
                        ssize_t w = send(h->fd, &m, offsetof(uid_helper_in, in) + in_len, MSG_NOSIGNAL | MSG_DONTWAIT);
                        explicit_bzero(&m, sizeof(m));
                        r = w < 0 ? (errno == EAGAIN ? -EBUSY : negative_errno()) : 0;
                }
                /* it died before this request (its end not read yet, say with the forker): lost, and a new one */
                if ((r == -EPIPE || r == -ECONNRESET) && attempt == 0) {
                        uid_helper_lost(h, -EPIPE);
                        r = 0;
                        continue;
                }
                break;
        }
        h->dispatching = was;
        if (r < 0) {
                uid_helper_maybe_end(h);
                return r;
        }
        h->seq_next++;
        h->queue[h->n_queue++] = (uid_helper_slot) { req, now + HELPER_TIMEOUT_USEC };
        req->uid_helper = h;
        req->helper_done = done;
        return 0;
}

void uid_helpers_session_end(broker *b, client *c) {
        for (uid_helper *h = b->uid_helpers, *next; h; h = next) {
                next = h->next;
                for (size_t i = 0; i < h->n_users; i++)
                        if (h->users[i] == c) {
                                h->users[i] = h->users[--h->n_users];
                                break;
                        }
                uid_helper_maybe_end(h);
        }
}

void uid_helpers_free(broker *b) {
        while (b->uid_helpers) {
                uid_helper *h = b->uid_helpers;
                for (size_t i = 0; i < h->n_queue; i++)
                        if (h->queue[i].req)
                                h->queue[i].req->uid_helper = NULL;
                uid_helper_free(h);
        }
}
