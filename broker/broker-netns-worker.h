/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-netns-worker.h - the thread that runs root steps in a pod's network
 * namespace without a fork (broker-netns-worker.c).
 */
#pragma once

#include "broker.h"

/* Start the thread (before the seccomp filter: it refuses new threads); 0 or -errno. */
int netns_worker_start(void);
/* Stop it at exit (a step still running after 2 s is left to the process's end). */
void netns_worker_stop(void);
/*
 * netns_worker_run() - run @fn(@arg) in the worker, in the network
 * namespace of @netns_fd (dup'ed; the caller keeps its own), its answer to
 * @done as a helper's (helper_watch()).  @arg must be the step's own copy,
 * with its own fds: on success the worker frees it with @arg_free after
 * the step.  -EBUSY when the worker is busy or not running (run the step
 * in a forked helper instead), another -errno when the step could not be
 * handed over; the caller keeps @arg on any failure.
 */
/* Would netns_worker_run() take a step now?  (A hint: another loop thread may take it first.) */
bool netns_worker_idle(void);
int netns_worker_run(request *req, int netns_fd, helper_fn fn, void *arg, void (*arg_free)(void *arg),
                     void (*done)(request *req, int status, const void *out, size_t len));
/* netns_worker_detached() - @fn(@arg) in the worker, in the network namespace of @netns_fd (dup'ed), with no
 * answer: nothing waits for it (a session's devices removed as it ends).  On success the worker frees @arg
 * with @arg_free after the step; -EBUSY when the worker is busy or not running, another -errno when the step
 * could not be handed over: the caller keeps @arg and does the work another way. */
int netns_worker_detached(int netns_fd, helper_fn fn, void *arg, void (*arg_free)(void *arg));
