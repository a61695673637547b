/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * thread-scenario.h - what the thread scenarios (test-thread.c: cgroup.move
 * and sched.set; test-sched.c: sched.set's realtime checks) share: the
 * pods, their policies, and a pod's "QEMU" with threads (thread-scenario.c).
 */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "harness.h"

#define POD_A "kubepods.slice/pod-a"
#define POD_B "kubepods.slice/pod-b"

/* pod-launchers: cgroup targets and sched (fifo/rr up to 10, CPU 0, max_rttime_us 200000) */
extern const char policy_main[];
/* bursty: fifo, burst 3/60s */
extern const char policy_burst[];
/* dedicated: realtime vCPUs on a dedicated CPU: no RLIMIT_RTTIME, confined to CPU 1 */
extern const char policy_dedicated[];

typedef struct threads {
        pid_t pid;
        pid_t tid[8]; /* tid[0] is the main thread */
        int n;
} threads;

/* A child of the client with @n threads besides its main one, its RLIMIT_RTTIME set to @rttime
 * microseconds (0: the client's) */
threads spawn_threads_rttime(tclient *c, int n, unsigned long rttime);
threads spawn_threads(tclient *c, int n);
/*
 * A child with one thread whose process (or, with @thread_too, thread) has
 * id @id again, handed out through /proc/sys/kernel/ns_last_pid: other work
 * on the machine may take it first, so up to 100 tries (in *@ret_tries).
 */
threads spawn_with_id(tclient *c, pid_t id, bool thread_too, int *ret_tries);
void start_client(harness *h, tclient *c, const char *pod, uid_t uid);
/*
 * Restart the broker (through the program named by $@wrapper_var, as
 * harness_restart_broker_through(); NULL: itself) without CAP_SYS_RESOURCE
 * in its bounding set, whatever this machine grants root: it then reads a
 * target's hard RLIMIT_RTTIME from /proc/PID/limits (what a session keeps),
 * not with prlimit().  Checks the broker's effective set and says so.
 */
void broker_without_sys_resource(harness *h, const char *wrapper_var, const char *exec_var);
/*
 * The broker restarted as broker_without_sys_resource() through deny-calls
 * with $DENY_CALLS set to @deny (@what: the diagnostic saying what fails),
 * the pod's client in @c and a child of it with one thread, its
 * RLIMIT_RTTIME @rttime us (0: the client's), in @t: the answer to fifo
 * for that thread (malloc'd).
 */
char *sched_fifo_denied(harness *h, const char *deny, const char *what, unsigned long rttime, tclient *c,
                        threads *t);
