/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-forker.h - the forker, the child that forks the memlock helpers
 * (broker-forker.c).  It knows nothing of the helpers: what their children
 * run, and where its answers go, is the caller's (broker-helper.c).
 */
#pragma once

#include "broker.h"

typedef struct forker_ops {
        /* in a helper just forked: every fd but @sock (and stdio) closed; then its life as @uid/@gid, running
         * @fn for the requests on @sock (its parent @parent); it does not return */
        void (*child_setup)(int sock);
        void (*child_serve)(int sock, pid_t parent, uid_t uid, gid_t gid, uid_helper_fn fn);
        /* in the broker, under the lock: the answer for @token (@status < 0: no helper; else its @pid, socket
         * @fd and @pidfd, taken), and the forker's loss (the helpers it was starting are the caller's again) */
        void (*started)(broker *b, uint64_t token, int status, pid_t pid, int fd, int pidfd);
        void (*lost)(broker *b);
} forker_ops;

/*
 * forker_start() - fork the forker (after the seccomp filter): 0, or -errno
 * (not fatal: the broker forks its helpers itself then).  forker_stop():
 * its socket closed, the forker reaped (at exit).
 */
int forker_start(broker *b, const forker_ops *ops);
void forker_stop(void);
/* Ask the forker for a helper of @uid/@gid running @fn; *@ret_token names its answer.  -errno when there is
 * no forker or it cannot be asked now (the caller forks the helper itself). */
int forker_request(broker *b, uid_t uid, gid_t gid, uid_helper_fn fn, uint64_t *ret_token);
/* Read the forker's answers until *@pending is false (the caller's helper started, or the forker was given up
 * after FORKER_TIMEOUT_MS: ops->lost() then).  Under the lock. */
void forker_wait(broker *b, const bool *pending);
