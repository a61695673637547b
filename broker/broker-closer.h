/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-closer.h - the thread that closes the descriptors clients sent,
 * so that a release that waits never stops a loop (broker-closer.c says
 * which do, and which descriptors go there).
 */
#pragma once

/* fds queued and not yet closed, at most; past it close_fds() releases them in the caller (as the thread does) */
#define CLOSER_BACKLOG 4096

/* Starts the thread and sets close_fds()'s hook (before the seccomp filter: it makes a thread); 0 or -errno. */
int closer_start(void);
/*
 * Copies of descriptors someone else still uses (a pod process's, taken with pidfd_getfd()): closed by the
 * thread like close_fds() does, but as they are: a socket is neither emptied nor its SO_LINGER changed, for
 * what waits in it is its owner's to read.  (Set to -EBADF.)
 */
void close_copies(int *fds, size_t n);
/* fds queued and not yet closed (0 with no thread) */
unsigned closer_pending(void);
/* fds the thread closed so far: a change says it closed some since */
unsigned long closer_released(void);
/*
 * An AF_UNIX socket (O_CLOEXEC, O_NONBLOCK) that turns readable, at its end of file, once every fd queued
 * before this call is closed (its peer is queued last); readable at once with no thread; or -errno.
 */
int closer_fence(void);
/* How long closer_stop() waits for the thread to close what is queued */
#define CLOSER_STOP_WAIT_SEC 5
/* Closes what is queued, then ends the thread, waiting CLOSER_STOP_WAIT_SEC at most (-ETIMEDOUT: it is still
 * in a release, which the process's exit ends but for a FUSE flush); close_fds() closes in the caller again. */
int closer_stop(void);
