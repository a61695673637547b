/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-closer.c - the descriptors clients sent are closed by a thread of
 * their own, never by a loop.
 *
 * The last close(2) of a file runs its release, and some releases wait:
 * a TCP socket with unsent data and SO_LINGER waits up to its linger time
 * (the client chooses it: seconds, days); an AF_UNIX socket releases the
 * descriptors in flight in its queue, each as it comes (a lingering socket
 * among them); a TAP queue waits for an RCU grace period (tun's detach:
 * 12-20 ms measured here); a FUSE file waits for its server's answer to
 * the FLUSH that every close sends.  The broker holds the last reference
 * whenever the client closed its own copy first: a request's fds once the
 * client let them go in flight, a connection's socket with datagrams still
 * queued.  Closed in a loop, one such fd stood the broker still for every
 * client (a pod client's lingering socket: 3 s per message, measured).  So
 * close_fds() (common/wire.c), through the hook set here, hands them to
 * this thread: a request's fds, those over the count a datagram may carry,
 * a connection's socket (client_release(), and one refused before its
 * hello), KVMI's connection, unotify's copies of a process's fds (but a
 * TAP queue it checked: close_copies()); the broker's own copies of fds
 * it sends (TAP queues) and those a helper sent it, the same: a client
 * that closed its TAP queue before the broker did left the broker's close
 * the last, and a loop waited out the device's teardown (14 ms a
 * tap.create, perf trace).  A creation that finds its name taken or its
 * limit reached while fds wait here runs once more after them
 * (closer_fence(), tap_create_answer()): a device its client let go is
 * gone by then, as if the client's close had been the last.
 *
 * The thread turns SO_LINGER off on each socket and empties an AF_UNIX
 * one (drain()) before it closes it, releasing what it held the same way,
 * so that only a release that waits by itself (a TAP queue, a FUSE file)
 * holds it up, and with it the fds queued behind it, whose connections
 * then see their end late.  So the broker hands over only what it holds
 * for itself, never a descriptor beside a dup of it that it goes on using
 * (kvmi.connect's once was: QEMU's answers were read here and lost), and
 * copies of what a process still uses go through close_copies(), closed
 * as they are (what waits in a socket is its owner's to read).  At most
 * CLOSER_BACKLOG wait; beyond that the caller releases them itself, as
 * this thread would, rather than let a stuck release fill the fd table.
 *
 * A forked helper has no such thread: pthread_atfork() clears the hook in
 * the child, which closes its fds itself, and closes at once its copies of
 * those still queued here (the broker's own are still open then, so the
 * child's close is not the last; nor is its exit, which the loop that
 * reaps it waits for).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "broker-closer.h"
#include "config.h"
#include "util.h"
#include "wire.h"

#define CLOSER_BATCH 512 /* fds per write (2 KiB, atomic: under PIPE_BUF) and per read */
#define DRAIN_MAX 4096   /* datagrams read from one socket at most (what its peer's send buffer holds, and more) */
#define QUEUED_MAX_FDS (1U << 22) /* fds noted as queued at most (512 KiB of bits, untouched but where used) */
#define AS_IS (1 << 30) /* queued with an fd (below: nr_open's ceiling is under 1 << 30): close_copies()'s */

static int queue_fd = -EBADF; /* the pipe's write end, O_NONBLOCK; -EBADF: close here */
static pthread_t thread;
static bool started;
static atomic_uint pending; /* queued, not yet closed */
static atomic_ulong released; /* closed by the thread so far */
static sem_t running;         /* the thread has started: its own set-up calls (rseq) made before the filter */

/*
 * The fds queued and not yet released, a bit each (those below queued_max): a child forked meanwhile
 * closes its copies of them at once (closer_forked()), while the broker still holds its own, so that
 * neither the child's work nor its exit is the last close of one (a TAP device's teardown, which the loop
 * that reaps the child would wait for).  A bit is set before its fd is queued and cleared before the fd is
 * closed: a bit that is set names an fd still open.
 */
static atomic_ulong *queued;
static size_t queued_max;
static atomic_size_t queued_top; /* one above the highest fd ever marked: how far a child looks */

static void queued_mark(int fd, bool on) {
        if (fd < 0 || (size_t) fd >= queued_max)
                return;
        unsigned long bit = 1UL << ((size_t) fd % LONG_BIT);
        if (!on) {
                atomic_fetch_and_explicit(&queued[(size_t) fd / LONG_BIT], ~bit, memory_order_release);
                return;
        }
        size_t top = atomic_load_explicit(&queued_top, memory_order_relaxed);
        while (top <= (size_t) fd &&
               !atomic_compare_exchange_weak_explicit(&queued_top, &top, (size_t) fd + 1, memory_order_relaxed,
                                                      memory_order_relaxed))
                ;
        atomic_fetch_or_explicit(&queued[(size_t) fd / LONG_BIT], bit, memory_order_release);
}

#if DELEGATE_TEST_HOOKS
/* Test builds only (meson option test_hooks): DELEGATE_TEST_CLOSER_DELAY_MS=N in the broker's environment
 * makes the thread wait N ms before each fd it releases, a release that takes that long (functional
 * tap-closer-order: what a step in a network namespace waits for) */
static int test_delay_ms;
static void test_delay(void) {
        if (test_delay_ms > 0)
                (void) poll(NULL, 0, test_delay_ms);
}
static void test_delay_init(void) {
        const char *e = getenv("DELEGATE_TEST_CLOSER_DELAY_MS");
        test_delay_ms = e ? atoi(e) : 0;
}
#else
static void test_delay(void) {
}
static void test_delay_init(void) {
}
#endif

/*
 * An AF_UNIX socket's close releases what waits in it: the fds of its
 * queued datagrams and, listening, its connections not yet accepted with
 * theirs, each release as it comes (a lingering socket's too).  So those
 * are taken out first, onto @work, to be released like any other (fds in
 * flight nest 4 deep at most: af_unix's limit on recursion).  What the
 * datagrams said is erased.  True: it stopped for want of room on @work
 * (a datagram may carry WIRE_FDS_PER_DATAGRAM), and has more to give.
 */
static bool drain(int fd, int *work, size_t *n_work, size_t max_work) {
        int listening = 0;
        socklen_t l = sizeof(listening);
        if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &l) == 0 && listening) {
                for (int c; *n_work < max_work;) {
                        if ((c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) < 0)
                                return false;
                        work[(*n_work)++] = c;
                }
                return true;
        }
        static _Thread_local char buf[65536];
        /* a bound: a peer still sending must not keep the thread here */
        for (unsigned empty = 0, got = 0; got < DRAIN_MAX; got++) {
                if (max_work - *n_work < WIRE_FDS_PER_DATAGRAM)
                        return true;
                union {
                        struct cmsghdr align;
                        char buf[CMSG_SPACE(sizeof(int) * WIRE_FDS_PER_DATAGRAM)];
                } control;
                struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
                struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                                     .msg_controllen = sizeof(control.buf) };
                ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
                if (n > 0)
                        explicit_bzero(buf, (size_t) n);
                for (struct cmsghdr *c = n >= 0 ? CMSG_FIRSTHDR(&mh) : NULL; c; c = CMSG_NXTHDR(&mh, c)) {
                        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                                continue;
                        int *in = (int *) CMSG_DATA(c);
                        for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++)
                                work[(*n_work)++] = in[i]; /* room for a datagram's: checked above */
                }
                if (n < 0) /* nothing left (EAGAIN), or an error */
                        return false;
                /* 0 bytes and no fds: the end of a stream, or (SEQPACKET) an empty datagram or the end; the end
                 * again each time asked.  Going on while bytes are queued (SIOCINQ: the bytes of every queued
                 * datagram), and for a few more, finds what waits behind empty ones */
                int inq = 0;
                if (n == 0 && mh.msg_controllen == 0 && (ioctl(fd, SIOCINQ, &inq) < 0 || inq == 0) && ++empty > 8)
                        return false;
        }
        return false;
}

/* Closes @fd without waiting for its linger time or for what waits in it (drain()); only a release
 * that waits by itself (a TAP queue's grace period, a FUSE file's flush) is waited for */
static void release(int fd) {
        int work[4 * WIRE_FDS_PER_DATAGRAM];
        size_t n = 0;
        work[n++] = fd;
        while (n > 0) {
                int f = work[--n], domain = 0;
                struct linger off = { .l_onoff = 0 };
                socklen_t l = sizeof(domain);
                /* drained while there is room for a datagram's fds (and for @f again): a drain then takes one
                 * at least, so this ends; with no room left (sockets in flight inside sockets, a thousand deep
                 * in all) the rest are closed as they are */
                if (setsockopt(f, SOL_SOCKET, SO_LINGER, &off, sizeof(off)) == 0 &&
                    getsockopt(f, SOL_SOCKET, SO_DOMAIN, &domain, &l) == 0 && domain == AF_UNIX &&
                    ELEMENTSOF(work) - 1 - n >= WIRE_FDS_PER_DATAGRAM) {
                        size_t base = n;
                        if (drain(f, work, &n, ELEMENTSOF(work) - 1)) {
                                /* more in it: back under what it gave, drained again once those are released */
                                memmove(&work[base + 1], &work[base], (n - base) * sizeof(int));
                                work[base] = f;
                                n++;
                                continue;
                        }
                }
                close(f);
        }
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
                        test_delay();
                        int fd = batch[i] & ~AS_IS;
                        queued_mark(fd, false);
                        if (batch[i] & AS_IS)
                                close(fd);
                        else
                                release(fd);
                        atomic_fetch_sub_explicit(&pending, 1, memory_order_relaxed);
                        atomic_fetch_add_explicit(&released, 1, memory_order_release);
                }
        }
        close(rfd);
        return NULL;
}

/* @fds queued for the thread (set to -EBADF), marked @as_is; those that do not fit released here */
static void queue_fds(int *fds, size_t n, int as_is) {
        size_t i = 0;
        while (i < n && queue_fd >= 0) {
                size_t k = n - i < CLOSER_BATCH ? n - i : CLOSER_BATCH, m = 0;
                int batch[CLOSER_BATCH];
                for (size_t j = 0; j < k; j++)
                        if (fds[i + j] >= 0)
                                batch[m++] = fds[i + j] | as_is;
                /* room for @m in the backlog, taken at once (loop threads hand fds over concurrently) */
                unsigned was = atomic_load_explicit(&pending, memory_order_relaxed);
                do
                        if (was + m > CLOSER_BACKLOG)
                                break;
                while (!atomic_compare_exchange_weak_explicit(&pending, &was, was + (unsigned) m, memory_order_relaxed,
                                                              memory_order_relaxed));
                if (was + m > CLOSER_BACKLOG)
                        break;
                for (size_t j = 0; j < m; j++)
                        queued_mark(batch[j] & ~AS_IS, true);
                if (m && write(queue_fd, batch, m * sizeof(int)) != (ssize_t) (m * sizeof(int))) {
                        for (size_t j = 0; j < m; j++)
                                queued_mark(batch[j] & ~AS_IS, false);
                        atomic_fetch_sub_explicit(&pending, (unsigned) m, memory_order_relaxed);
                        break; /* the pipe is full (or gone): these are closed below */
                }
                for (size_t j = 0; j < k; j++)
                        fds[i + j] = -EBADF;
                i += k;
        }
        for (; i < n; i++)
                if (fds[i] >= 0) {
                        if (as_is)
                                close(fds[i]);
                        else
                                release(fds[i]);
                        fds[i] = -EBADF;
                }
}

/* close_fds()'s hook */
static void closer_take(int *fds, size_t n) {
        queue_fds(fds, n, 0);
}

void close_copies(int *fds, size_t n) {
        if (!started) /* no thread (a forked child's too): as close_fds() does then */
                return close_fds_here(fds, n);
        queue_fds(fds, n, AS_IS);
}

unsigned closer_pending(void) {
        return atomic_load_explicit(&pending, memory_order_relaxed);
}

unsigned long closer_released(void) {
        return atomic_load_explicit(&released, memory_order_acquire);
}

int closer_fence(void) {
        int p[2];
        /* a socket pair (the broker's seccomp filter has no pipe2() past the start); one end queued last, or
         * closed here: empty, its release never waits */
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, p) < 0)
                return -errno;
        close_fds(&p[1], 1);
        return p[0];
}

static void closer_forked(void) {
        /* the child's copies of what waits for the thread: closed now, the broker's still open (not the last) */
        size_t top = atomic_load_explicit(&queued_top, memory_order_relaxed);
        for (size_t w = 0; queued && w < (top + LONG_BIT - 1) / LONG_BIT; w++)
                for (unsigned long bits = atomic_load_explicit(&queued[w], memory_order_acquire); bits;
                     bits &= bits - 1)
                        close((int) (w * LONG_BIT + (size_t) __builtin_ctzl(bits)));
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
        test_delay_init();
        struct rlimit nofile;
        if (!queued && getrlimit(RLIMIT_NOFILE, &nofile) == 0) {
                queued_max = nofile.rlim_cur < QUEUED_MAX_FDS ? (size_t) nofile.rlim_cur : QUEUED_MAX_FDS;
                queued = calloc((queued_max + LONG_BIT - 1) / LONG_BIT, sizeof(*queued));
                if (!queued)
                        queued_max = 0; /* not noted: a child keeps its copies, as before */
        }
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
        /* a release that never ends must not keep the broker from exiting for long: a lingering socket's
         * wait ends with the process; a FUSE file's flush does not (the process stays until its server
         * answers or ends), but the broker has done all else by then */
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += CLOSER_STOP_WAIT_SEC;
        r = -pthread_clockjoin_np(thread, NULL, CLOCK_MONOTONIC, &until);
        close(fd);
        if (r == 0) {
                sem_destroy(&running);
                started = false;
        }
        return r;
}
