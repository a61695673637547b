/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * wire.h - one datagram = one message, fds as SCM_RIGHTS; error codes and
 * the error object shared by library, broker and tools.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define DELEGATE_INTERNAL_UNSTABLE_API_OPT_IN
#include "delegate/delegate-internal.h"
#include "util.h"

/* Protocol error codes (delegate-protocol(7)). */
typedef enum err_code {
        ERR_BAD_REQUEST,
        ERR_API_MISMATCH,
        ERR_DENIED,
        ERR_NOT_FOUND,
        ERR_EXISTS,
        ERR_TOO_LARGE,
        ERR_RATE_LIMITED,
        ERR_UNSUPPORTED,
        ERR_SYSTEM,
        _ERR_MAX,
} err_code;

const char *err_code_name(err_code c);
/* -1 when @name is not a protocol error code. */
int err_code_from_name(const char *name);

/*
 * The one error carried inside the broker and the library: a protocol
 * code, a positive errno (or 0), the rule that decided it ("" when none)
 * and a message.  It becomes JSON only on the wire, a delegate_error only
 * at the library's API, an sd_bus_error only at the D-Bus boundary.
 */
typedef struct op_error {
        err_code code;
        int errno_value;
        char rule[128];
        char message[512];
} op_error;

/* Fill @e (may be NULL) and return @ret (a -errno) for chaining. */
int op_error_set(op_error *e, int ret, err_code code, int errno_value, const char *fmt, ...) _printf_(5, 6);

/* Fill @e (may be NULL) and return @ret (a -errno) for chaining. */
int error_set(delegate_error *e, int ret, const char *code, int errno_value, const char *fmt, ...)
        _printf_(5, 6);

/**
 * wire_send() - send one datagram carrying @len bytes and @n_fds fds.
 * Returns 0, -EAGAIN when the socket is full (non-blocking), -EMSGSIZE for
 * more than DELEGATE_MAX_MESSAGE bytes, another -errno otherwise.
 */
int wire_send(int fd, const void *buf, size_t len, const int *fds, size_t n_fds);
/* @mh's control message: @n_fds (> 0) fds as SCM_RIGHTS in @control, which holds CMSG_SPACE() of them. */
struct msghdr;
void wire_put_fds(struct msghdr *mh, void *control, const int *fds, size_t n_fds);

/**
 * wire_recv() - receive one datagram into @buf (@size bytes, at least
 * DELEGATE_MAX_MESSAGE).  Received fds are O_CLOEXEC and stored in @fds (up
 * to @max_fds, at most DELEGATE_MAX_FDS; with more, the kernel installs
 * none beyond the room we offer, the ones installed are closed, the
 * datagram dropped and -ETOOMANYREFS returned).  Returns the length; 0 for an empty datagram or,
 * with *ret_eof set, the peer's shutdown; -EMSGSIZE when the datagram was larger than @size (it is
 * consumed and dropped, fds closed); -EAGAIN; another -errno.
 */
ssize_t wire_recv(int fd, void *buf, size_t size, int *fds, size_t max_fds, size_t *ret_n_fds, bool *ret_eof);
/*
 * wire_recv_wait() - the same, waiting for the datagram as the socket
 * does (a blocking socket: until one arrives, or its SO_RCVTIMEO passes:
 * -EAGAIN; a signal: -EINTR).  One recvmsg() where wire_recv() and a poll()
 * would take three.
 */
ssize_t wire_recv_wait(int fd, void *buf, size_t size, int *fds, size_t max_fds, size_t *ret_n_fds, bool *ret_eof);

/* One datagram of wire_recv_two() */
typedef struct wire_msg {
        void *buf; /* room for @size bytes, at least DELEGATE_MAX_MESSAGE */
        size_t size;
        int *fds; /* room for wire_recv_two()'s @max_fds; NULL: none taken */
        size_t n_fds;
        ssize_t n; /* what wire_recv() returns for it; -EAGAIN: none came */
        bool eof;
} wire_msg;
/*
 * wire_recv_two() - up to two datagrams waiting on @fd, with one
 * recvmmsg() (never waits): the second tells the caller whether another
 * one followed the first.  Returns how many came (1 or 2), each with what
 * wire_recv() returns for it in @msg[i].n; -EAGAIN when none was waiting;
 * another -errno.
 */
int wire_recv_two(int fd, wire_msg msg[2], size_t max_fds);
/* Let @m go unhandled: its fds closed, its text erased. */
void wire_msg_drop(wire_msg *m);

/*
 * The most fds one datagram can carry (the kernel's SCM_MAX_FD, not in its
 * uapi headers).  A receive always has room for all of them: fds that do
 * not fit are dropped by the kernel in the receiving thread, whose last
 * reference's release (a lingering socket, a TAP queue) would then run
 * there; here they are taken and closed like any other, with close_fds().
 */
#define WIRE_FDS_PER_DATAGRAM 253

/* Close @fds (each set to -EBADF): in the caller, or handed to the hook set by wire_set_fds_closer() */
void close_fds(int *fds, size_t n);
/* Close @fds (each set to -EBADF) in the caller, whatever the hook */
void close_fds_here(int *fds, size_t n);
/* The process's hook for close_fds() (the broker's closer thread, broker-closer.c); NULL: close in the caller.
 * Set it while one thread runs, before the others start, or from the thread that ends them. */
void wire_set_fds_closer(void (*closer)(int *fds, size_t n));
/* On the calling thread only: close_fds() closes in the caller, whatever the hook (the broker's netns worker,
 * whose steps close what they opened before their answer, as a forked helper without the hook does). */
void wire_close_fds_here_on_this_thread(void);
