/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-netns-worker.c - one long-lived thread that runs a root step in a
 * pod's network namespace (tap.create's, bridge.create's, the destroys',
 * an intercepted TUNSETIFF's creation: never one that changes ids),
 * where a forked helper (helper_run_netns()) would cost a fork of the
 * broker: a copy of its page tables and the faults that follow, which on
 * a VM whose page tables the hypervisor shadows cost more than the step
 * (delegate-broker(8), TAP DEVICES; bench/NOTES.md, round 13).
 *
 * The thread is started with the closer, before the seccomp filter (which
 * refuses new threads), so it has the broker's final capabilities and
 * filter.  It takes one step at a time: a step asked for while it is busy,
 * or after it stopped, runs in a forked helper as before (the caller's
 * fallback), so a step that hangs delays no other; its request times out
 * as a helper's does, and its answer, if it ever comes, is dropped.
 *
 * A fork() by another thread while a step runs waits for the step to end
 * (FORK_WAIT_MSEC at most, a pthread_atfork() handler): libnl holds
 * process-wide locks inside its calls, and a child forked while this
 * thread held one would wait for it forever (the fallback helper, the
 * detached removal of a session's devices).
 *
 * A step enters the namespace with setns(), which changes only this
 * thread's, and the thread returns to the broker's own before it takes the
 * next; if it cannot, it ends and every later step forks.  The step sees
 * only what it was given: its argument is a copy the caller made, with fds
 * of its own (the loop may change or close the session's meanwhile), freed
 * here after the answer.  The answer reaches the loop as a helper's does
 * (helper_watch()): one datagram with the fds the step opened, then, once
 * this thread closed its copies of them, one byte.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "broker-helper.h"
#include "broker-netns-worker.h"

typedef struct job {
        int sock;     /* the worker's end */
        int netns_fd; /* the step's namespace: the worker's own dup */
        helper_fn fn;
        void *arg;
        void (*arg_free)(void *arg);
} job;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static pthread_t thread;
static pthread_cond_t running_cond = PTHREAD_COND_INITIALIZER;
static bool started, running, stopping, ended; /* ended: the thread returned (cannot go back to its namespace) */
static job *pending;                  /* handed over, not yet taken */
static bool busy;                     /* a step handed over and not finished */
static int own_netns = -EBADF;        /* the broker's network namespace */

/* held by the worker while a step runs; a fork() takes it first (fork_prepare()) */
static pthread_mutex_t step_lock = PTHREAD_MUTEX_INITIALIZER;
static _Thread_local bool fork_locked; /* this thread's fork_prepare() got it: its parent side releases it */
#define FORK_WAIT_MSEC 200 /* then the fork goes on (a step that hangs: its child may wait on libnl's lock) */
#define STOP_WAIT_SEC 2    /* netns_worker_stop(): the step in progress, then it is left to the process's end */

static void fork_prepare(void) {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        t.tv_nsec += FORK_WAIT_MSEC * 1000000L;
        t.tv_sec += t.tv_nsec / 1000000000L;
        t.tv_nsec %= 1000000000L;
        fork_locked = pthread_mutex_clocklock(&step_lock, CLOCK_MONOTONIC, &t) == 0;
}

static void fork_parent(void) {
        if (fork_locked)
                pthread_mutex_unlock(&step_lock);
}

static void fork_child(void) {
        pthread_mutex_init(&step_lock, NULL);
}

static void job_free(job *j) {
        safe_close(j->sock);
        safe_close(j->netns_fd);
        if (j->arg_free)
                j->arg_free(j->arg);
        free(j);
}

/*
 * The step and its answer, in a forked helper's format (broker-helper.c, child()), then back to the
 * broker's namespace: false if it cannot (the thread must end).  *@ret_sent: the answer went out.
 */
static bool run(job *j, bool *ret_sent) {
        _Alignas(max_align_t) unsigned char out[sizeof(((request *) NULL)->helper_out)];
        int fds[ELEMENTSOF(((request *) NULL)->helper_fds)];
        size_t n_fds = 0;
        ssize_t n = 0;
        int status;
        pthread_mutex_lock(&step_lock);
        if (setns(j->netns_fd, CLONE_NEWNET) < 0)
                status = negative_errno();
        else {
                n = j->fn(j->arg, out, sizeof(out), fds, &n_fds);
                status = n < 0 ? (int) n : 0;
        }
        pthread_mutex_unlock(&step_lock);
        size_t len = (n > 0 ? (size_t) n : 0);
        /* a request cancelled meanwhile closed its end: EPIPE, and the fds go with this thread's copies; a
         * detached step has no socket */
        *ret_sent = j->sock >= 0 && helper_send_answer(j->sock, status, out, len, fds, n_fds) == (ssize_t) (sizeof(int) + len);
        explicit_bzero(out, sizeof(out));
        close_fds(fds, n_fds); /* unsent (a cancelled request): a device goes before the step is over */
        if (j->arg_free)
                j->arg_free(TAKE_PTR(j->arg));
        return setns(own_netns, CLONE_NEWNET) == 0;
}

static void *worker(void *unused) {
        /* what a step closes (its fds on a refusal, its copies of those it sent) is closed here, before its
         * answer or byte, as in a forked helper, which has no closer thread: not after the closer's backlog */
        wire_close_fds_here_on_this_thread();
        pthread_mutex_lock(&lock);
        running = true;
        pthread_cond_signal(&running_cond);
        for (;;) {
                while (!pending && !stopping)
                        pthread_cond_wait(&cond, &lock);
                if (!pending) /* stopping; a detached step handed over before is still taken */
                        break;
                job *j = pending;
                pending = NULL;
                pthread_mutex_unlock(&lock);
                bool sent, back = run(j, &sent);
                /* free before the byte that lets the loop answer: the caller's next step finds it idle */
                pthread_mutex_lock(&lock);
                busy = false;
                ended = !back;
                pthread_mutex_unlock(&lock);
                char released = 1;
                if (sent) /* it holds no copy of what it sent any more */
                        (void) send(j->sock, &released, 1, MSG_NOSIGNAL);
                job_free(j);
                pthread_mutex_lock(&lock);
                if (ended)
                        break;
        }
        pthread_mutex_unlock(&lock);
        return NULL;
}

int netns_worker_start(void) {
        if (started)
                return 0;
        own_netns = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        if (own_netns < 0)
                return negative_errno();
        static bool atfork;
        if (!atfork && pthread_atfork(fork_prepare, fork_parent, fork_child) != 0) {
                own_netns = safe_close(own_netns);
                return -ENOMEM;
        }
        atfork = true;
        /* it takes no signal: the main thread's signalfds take them all */
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        int r = -pthread_create(&thread, NULL, worker, NULL);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (r < 0) {
                own_netns = safe_close(own_netns);
                return r;
        }
        /* running before the seccomp filter follows: a thread still starting makes calls it refuses (rseq) */
        pthread_mutex_lock(&lock);
        while (!running)
                pthread_cond_wait(&running_cond, &lock);
        pthread_mutex_unlock(&lock);
        started = true;
        return 0;
}

void netns_worker_stop(void) {
        if (!started)
                return;
        pthread_mutex_lock(&lock);
        stopping = true;
        /* a request's step not yet taken is dropped (its request goes); a detached one (a removal) runs */
        job *j = pending && pending->sock >= 0 ? TAKE_PTR(pending) : NULL;
        bool busy_step = busy && j == NULL;
        pthread_cond_signal(&cond);
        pthread_mutex_unlock(&lock);
        if (j)
                job_free(j);
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        t.tv_sec += STOP_WAIT_SEC;
        if (busy_step && pthread_clockjoin_np(thread, NULL, CLOCK_MONOTONIC, &t) != 0)
                pthread_detach(thread); /* a step that hangs: it goes with the process */
        else if (!busy_step)
                pthread_join(thread, NULL);
        started = false;
}

/* Under the lock: would a step be taken now? */
static bool idle_locked(void) {
        return started && !stopping && !ended && !busy;
}

bool netns_worker_idle(void) {
        pthread_mutex_lock(&lock);
        bool idle = idle_locked();
        pthread_mutex_unlock(&lock);
        return idle;
}

/* Take the worker for a step: false when it is busy or not running (another loop thread's step forks then). */
static bool take(void) {
        pthread_mutex_lock(&lock);
        bool idle = idle_locked();
        if (idle)
                busy = true;
        pthread_mutex_unlock(&lock);
        return idle;
}

/* Give the taken worker back, its step not handed over; returns @r. */
static int give_back(int r) {
        pthread_mutex_lock(&lock);
        busy = false;
        pthread_mutex_unlock(&lock);
        return r;
}

/* Hand the taken worker its step, in the network namespace of @netns_fd (dup'ed), its answer to @sock
 * (taken; -EBADF: none, nobody waits for it); -errno when it could not be handed over (@sock still the
 * caller's). */
static int hand_over(int sock, int netns_fd, helper_fn fn, void *arg, void (*arg_free)(void *arg)) {
        int ns = fcntl(netns_fd, F_DUPFD_CLOEXEC, 3);
        job *j = ns >= 0 ? calloc(1, sizeof(*j)) : NULL;
        if (!j) {
                int r = ns < 0 ? negative_errno() : -ENOMEM;
                safe_close(ns);
                return r;
        }
        *j = (job) { .sock = sock, .netns_fd = ns, .fn = fn, .arg = arg, .arg_free = arg_free };
        pthread_mutex_lock(&lock);
        pending = j;
        pthread_mutex_unlock(&lock);
        pthread_cond_signal(&cond); /* after the unlock: woken, it does not wait for the lock on this thread */
        return 0;
}

int netns_worker_detached(int netns_fd, helper_fn fn, void *arg, void (*arg_free)(void *arg)) {
        if (!take())
                return -EBUSY;
        int r = hand_over(-EBADF, netns_fd, fn, arg, arg_free);
        return r < 0 ? give_back(r) : 0;
}

int netns_worker_run(request *req, int netns_fd, helper_fn fn, void *arg, void (*arg_free)(void *arg),
                     void (*done)(request *req, int status, const void *out, size_t len)) {
        if (!take())
                return -EBUSY;
        int p[2] = { -EBADF, -EBADF }, r;
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, p) < 0 || fcntl(p[0], F_SETFL, O_NONBLOCK) < 0)
                r = negative_errno();
        else if ((r = helper_watch(req, TAKE_FD(p[0]), 0, done)) >= 0 && /* takes p[0], even when it fails */
                 (r = hand_over(p[1], netns_fd, fn, arg, arg_free)) < 0)
                helper_cancel(req); /* the watch undone: the caller forks the step */
        if (r < 0) {
                safe_close(p[0]);
                safe_close(p[1]);
                return give_back(r);
        }
        return 0;
}
