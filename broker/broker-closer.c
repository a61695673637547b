/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-closer.c - the descriptors clients sent (and those the broker
 * sent them) are closed by a thread of their own, never by a loop.
 *
 * The last close(2) of a file runs its release, and some releases wait:
 * a TCP socket with unsent data and SO_LINGER waits up to its linger time
 * (the client chooses it: seconds, days); a TAP queue waits for an RCU
 * grace period (tun's detach: 12-20 ms measured here); a FUSE file waits
 * for its server's answer to FLUSH.  The broker holds the last reference
 * whenever the client closed its own copy first: a request's fds once the
 * client let them go in flight, the copies of a reply's fds the client
 * took and closed at once.  Closed in a loop, one such fd stood the broker
 * still for every client (a pod client's lingering socket: 3 s per
 * message, measured).  So close_fds() (common/wire.c), through the hook
 * set here, hands them to this thread, and so does client_release() with
 * a connection's socket (its queue may still hold datagrams with fds).
 *
 * The thread turns SO_LINGER off on each socket before it closes it (a
 * graceful close that does not wait; on anything else setsockopt() fails
 * with ENOTSOCK and nothing changes), so a lingering socket does not hold
 * up the rest.  A release that waits all the same (a FUSE server that
 * never answers) holds up only this thread and the fds queued behind it:
 * at most CLOSER_BACKLOG of them; beyond that the loop closes them itself,
 * as before, rather than let a stuck release fill the fd table.
 *
 * A forked helper has no such thread: pthread_atfork() clears the hook in
 * the child, which closes its fds itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "broker-closer.h"
#include "util.h"
#include "wire.h"

#define CLOSER_BATCH 512 /* fds per write (2 KiB, atomic: under PIPE_BUF) and per read */

static int queue_fd = -EBADF; /* the pipe's write end, O_NONBLOCK; -EBADF: close here */
static pthread_t thread;
static bool started;
static atomic_uint pending; /* queued, not yet closed */
static sem_t running;       /* the thread has started: its own set-up calls (rseq) made before the filter */

static void release(int fd) {
        struct linger off = { .l_onoff = 0 };
        (void) setsockopt(fd, SOL_SOCKET, SO_LINGER, &off, sizeof(off));
        close(fd);
}

static void *closer_run(void *userdata) {
        int rfd = (int) (intptr_t) userdata;
        int batch[CLOSER_BATCH];
        sem_post(&running);
        for (;;) {
                ssize_t n = read(rfd, batch, sizeof(batch));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                size_t k = (size_t) n / sizeof(int); /* every write is whole ints, under PIPE_BUF: no part of one */
                for (size_t i = 0; i < k; i++) {
                        if (batch[i] < 0) { /* closer_stop()'s mark: the last */
                                close(rfd);
                                return NULL;
                        }
                        release(batch[i]);
                        atomic_fetch_sub_explicit(&pending, 1, memory_order_relaxed);
                }
        }
        close(rfd);
        return NULL;
}

/* close_fds()'s hook: @fds queued for the thread (set to -EBADF); those that do not fit closed here */
static void closer_take(int *fds, size_t n) {
        size_t i = 0;
        while (i < n && queue_fd >= 0) {
                size_t k = n - i < CLOSER_BATCH ? n - i : CLOSER_BATCH, m = 0;
                int batch[CLOSER_BATCH];
                for (size_t j = 0; j < k; j++)
                        if (fds[i + j] >= 0)
                                batch[m++] = fds[i + j];
                if (m && atomic_load_explicit(&pending, memory_order_relaxed) + m > CLOSER_BACKLOG)
                        break;
                atomic_fetch_add_explicit(&pending, (unsigned) m, memory_order_relaxed);
                if (m && write(queue_fd, batch, m * sizeof(int)) != (ssize_t) (m * sizeof(int))) {
                        atomic_fetch_sub_explicit(&pending, (unsigned) m, memory_order_relaxed);
                        break; /* the pipe is full (or gone): these are closed below */
                }
                for (size_t j = 0; j < k; j++)
                        fds[i + j] = -EBADF;
                i += k;
        }
        for (; i < n; i++)
                if (fds[i] >= 0) {
                        release(fds[i]);
                        fds[i] = -EBADF;
                }
}

static void closer_forked(void) {
        /* the child has no closer thread: it closes its own fds (the pipe's ends close with its other fds) */
        queue_fd = -EBADF;
        started = false;
        wire_set_fds_closer(NULL);
}

int closer_start(void) {
        static bool atfork;
        int p[2];
        if (started)
                return 0;
        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        if (fcntl(p[1], F_SETFL, O_NONBLOCK) < 0) {
                int r = -errno;
                close(p[0]);
                close(p[1]);
                return r;
        }
        if (!atfork && pthread_atfork(NULL, NULL, closer_forked) != 0) {
                close(p[0]);
                close(p[1]);
                return -ENOMEM;
        }
        atfork = true;
        /* it takes no signal: the main thread's signalfds take them all */
        sigset_t all, old;
        sigfillset(&all);
        if (sem_init(&running, 0, 0) < 0) {
                int r = -errno;
                close(p[0]);
                close(p[1]);
                return r;
        }
        pthread_sigmask(SIG_SETMASK, &all, &old);
        int r = -pthread_create(&thread, NULL, closer_run, (void *) (intptr_t) p[0]);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        /* running before the seccomp filter follows: a thread still starting could make a call it refuses */
        while (r == 0 && sem_wait(&running) < 0 && errno == EINTR)
                ;
        if (r < 0) {
                close(p[0]);
                close(p[1]);
                return r;
        }
        queue_fd = p[1];
        started = true;
        wire_set_fds_closer(closer_take);
        return 0;
}

int closer_stop(void) {
        if (!started)
                return 0;
        wire_set_fds_closer(NULL);
        int mark = -1, r = 0;
        int fd = TAKE_FD(queue_fd);
        (void) fcntl(fd, F_SETFL, 0); /* the mark must go in: wait for room (there is: CLOSER_BACKLOG) */
        while (write(fd, &mark, sizeof(mark)) < 0 && errno == EINTR)
                ;
        /* a release that never ends (a FUSE server that does not answer) must not keep the broker from
         * exiting: its exit ends the thread */
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += CLOSER_STOP_WAIT_SEC;
        r = -pthread_timedjoin_np(thread, NULL, &until);
        close(fd);
        started = r == 0 ? false : started;
        return r;
}

unsigned closer_pending(void) {
        return atomic_load_explicit(&pending, memory_order_relaxed);
}
