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

/* The memlock helpers' forker (broker-forker.c), started with what its helpers run and where its answers go;
 * 0 or -errno (not fatal: the broker forks its helpers itself then). */
int uid_helpers_forker_start(broker *b);
