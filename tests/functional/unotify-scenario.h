/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * unotify-scenario.h - what the unotify-* scenarios (test-unotify: limits,
 * scheduling, hostile callers; test-unotify-tap: TAP devices) share: the
 * scenario's policy, delegate-run and its hostile program started in a pod,
 * the pod's network namespace and /dev/net/tun, and what netlink shows of a
 * device there (unotify-scenario.c).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <sys/types.h>

#include "harness.h"

#define POD_A "kubepods.slice/pod-a"
#define POD_B "kubepods.slice/pod-b"
#define UID 1000
#define H ((unsigned long long) harness_hard) /* 64 MiB at most, known once the scenario runs */

static inline bool streq(const char *a, const char *b) {
        return strcmp(a, b) == 0;
}

/* Until use_policy(): nothing is allowed. */
extern const char policy_none[];
/* The scenario's policy (the rules' memlock max is H/2) into the policy directory; use_policy() also has
 * the broker load it (SIGHUP). */
void write_policy(void);
void use_policy(harness *h);
/* delegate-run(1) and the hostile program (unotify-caller), as meson names them (else the scenario skips). */
const char *dr(void);
const char *caller_prog(void);
/* Skip the scenario unless Debian's @prog is installed. */
void need(const char *prog);
/* Run @cmd with sh as UID in @pod (@netns); its output (stdout and stderr, on one line) in *@ret; the exit
 * status. */
int in_pod(harness *h, const char *pod, const char *netns, char **ret, const char *cmd);
/* The pid of @parent's first child (delegate-run's program), waiting for it to run @comm; -1. */
pid_t child_running(pid_t parent, const char *comm);
/* Has @pid (not necessarily our child) exited, within @timeout_ms? */
bool gone(pid_t pid, int timeout_ms);
/* delegate-run --vm @vm -- @prog as UID in @pod (@netns), its output into @log; its pid. */
pid_t spawn_dr(harness *h, const char *pod, const char *netns, const char *log, const char *vm, char *const *prog);
/* SIGTERM, then SIGKILL after 5 s; its wait status. */
int stop_pid(pid_t p);
/* Does ip -d -j link show @dev in @netns hold @needle?  Is @dev there at all? */
bool link_has(const char *netns, const char *dev, const char *needle);
bool link_exists(const char *netns, const char *dev);
/* A /dev/net/tun the pod's uid may open (a 0666 node bound over this machine's 0600 one if need be). */
void pod_tun(void);
/* What a TAP scenario needs: Debian's ip, pod_tun(), pod-a's network namespace held by its pause process
 * (returned: stop it with pod_a_end()). */
pid_t pod_a_for_taps(harness *h);
void pod_a_end(pid_t pause);
/* The "user" link_has() shows for a TAP owned by @uid. */
void user_needle(uid_t uid, char *buf, size_t size);
