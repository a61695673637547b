/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-helper.h - what broker-helper.c offers beyond broker.h: the loop's
 * side of a step's answer, for a step that runs elsewhere than in a forked
 * helper (broker-netns-worker.c).
 */
#pragma once

#include "broker.h"

/*
 * helper_watch() - read a step's answer from @fd (the loop's end of a
 * SOCK_SEQPACKET, non-blocking socketpair) as from a helper's: one
 * datagram (an int status, the output, maybe fds as SCM_RIGHTS), then one
 * byte once the other end holds no copy of what it sent; @done gets it,
 * or -ETIMEDOUT after HELPER_TIMEOUT_USEC.  @pid: the child to kill and
 * reap with the request, 0 for none.  Takes @fd; on failure the request's
 * helper state is reset (helper_cancel()) and -errno returned.
 */
int helper_watch(request *req, int fd, pid_t pid, void (*done)(request *req, int status, const void *out, size_t len));

/*
 * helper_send_answer() - a step's answer on @sock, as helper_watch() reads
 * it: @status, then @len bytes of @out, and when @status >= 0 the @n_fds
 * fds (SCM_RIGHTS).  What sendmsg() returns (the whole is sizeof(int) +
 * @len).
 */
ssize_t helper_send_answer(int sock, int status, const void *out, size_t len, const int *fds, size_t n_fds);

/* --- the forker (broker-forker.c) and the memlock helpers it starts --- */

/* A memlock helper's life (never returns): its requests on @sock, as @uid/@gid, its parent @parent.  In two
 * parts: every signal unblocked and every fd but @sock and stdio closed; then the id change and the requests. */
_noreturn_ void uid_helper_child(int sock, pid_t parent, uid_t uid, gid_t gid, uid_helper_fn fn);
void uid_helper_child_setup(int sock);
_noreturn_ void uid_helper_child_serve(int sock, pid_t parent, uid_t uid, gid_t gid, uid_helper_fn fn);
/*
 * forker_start() - fork the forker (after the seccomp filter): 0, or -errno
 * (not fatal: the broker forks its helpers itself then).  forker_stop():
 * its socket closed, the forker reaped (at exit).
 */
int forker_start(broker *b);
void forker_stop(void);
/* Ask the forker for a helper of @uid/@gid running @fn; *@ret_token names its answer.  -errno when there is
 * no forker or it cannot be asked now (the caller forks the helper itself). */
int forker_request(broker *b, uid_t uid, gid_t gid, uid_helper_fn fn, uint64_t *ret_token);
/* Read the forker's answers until *@pending is false (the caller's helper started, or the forker was given up
 * after FORKER_TIMEOUT_MS: then the broker started it itself).  Under the lock. */
void forker_wait(broker *b, const bool *pending);
/* broker-helper.c: the answer for @token (@status < 0: no helper; else its @pid, socket @fd and @pidfd, taken),
 * and the forker's loss (the helpers it was starting are forked by the broker). */
void uid_helper_started(broker *b, uint64_t token, int status, pid_t pid, int fd, int pidfd);
void uid_helpers_forker_lost(broker *b);
