/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * delegate-internal.h - libdelegate, the client side of the delegate broker.
 *
 * THIS API IS UNSTABLE BY DESIGN.  There is exactly one API version at a
 * time; client and broker state theirs at connect and a mismatch is an
 * explicit error naming both.  The soname changes on every incompatible
 * change.  To use this header you must say you know that:
 *
 *     #define DELEGATE_INTERNAL_UNSTABLE_API_OPT_IN
 *     #include <delegate/delegate-internal.h>
 *
 * See libdelegate(3) and delegate-protocol(7).
 */
#ifndef DELEGATE_INTERNAL_H
#define DELEGATE_INTERNAL_H

#ifndef DELEGATE_INTERNAL_UNSTABLE_API_OPT_IN
#error "libdelegate's API is internal and unstable by design: define DELEGATE_INTERNAL_UNSTABLE_API_OPT_IN before including <delegate/delegate-internal.h> (see libdelegate(3))"
#endif

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The one API version this header and library speak. */
#define DELEGATE_API_VERSION 1

#define DELEGATE_DEFAULT_SOCKET "/run/delegate/broker.sock"
/* Environment variable overriding the socket path. */
#define DELEGATE_SOCKET_ENV "DELEGATE_SOCKET"
/* Largest datagram either side accepts, in bytes. */
#define DELEGATE_MAX_MESSAGE 65536
/* Most fds one reply may carry. */
#define DELEGATE_MAX_FDS 16

/* Limit values for delegate_memlock_set(). */
#define DELEGATE_LIMIT_INFINITY UINT64_MAX
#define DELEGATE_LIMIT_KEEP (UINT64_MAX - 1)

/* The operations of API 1 as the wire names them (delegate-protocol(7)): the one place a name is written. */
#define DELEGATE_OP_PING "ping"
#define DELEGATE_OP_STATE_GET "state.get"
#define DELEGATE_OP_MEMLOCK_SET "memlock.set"
#define DELEGATE_OP_CGROUP_MOVE "cgroup.move"
#define DELEGATE_OP_SCHED_SET "sched.set"
#define DELEGATE_OP_TAP_CREATE "tap.create"
#define DELEGATE_OP_TAP_DESTROY "tap.destroy"
#define DELEGATE_OP_BRIDGE_CREATE "bridge.create"
#define DELEGATE_OP_BRIDGE_DESTROY "bridge.destroy"
#define DELEGATE_OP_KVMI_ATTACH "kvmi.attach"
#define DELEGATE_OP_KVMI_CONNECT "kvmi.connect"
#define DELEGATE_OP_KVMI_SET_PAGE_ACCESS "kvmi.set-page-access"
#define DELEGATE_OP_KVMI_DETACH "kvmi.detach"
#define DELEGATE_OP_UNOTIFY_ATTACH "unotify.attach"

/*
 * An error: @code is one of the protocol's error codes ("bad-request",
 * "api-mismatch", "denied", "not-found", "exists", "too-large",
 * "rate-limited", "unsupported", "system") or "local" for failures inside
 * this library before anything was sent; @errno_value a positive errno or 0;
 * @rule the policy rule that decided a denial, when known; @retry_after_ms,
 * with "rate-limited", how long to wait before the broker takes another
 * request (0: not said).
 */
typedef struct delegate_error {
        char code[32];
        int errno_value;
        char rule[128];
        char message[512];
        uint32_t retry_after_ms;
} delegate_error;

typedef struct delegate_ctx delegate_ctx;

/* Where an operation was carried out. */
typedef enum delegate_route {
        DELEGATE_ROUTE_HANDLER = 1, /* an installed handler */
        DELEGATE_ROUTE_LOCAL = 2,   /* by this process itself */
        DELEGATE_ROUTE_BROKER = 3,  /* forwarded to the broker */
} delegate_route;

/* How delegate_call() may route an operation without a handler. */
typedef enum delegate_mode {
        DELEGATE_MODE_AUTO = 0,   /* locally when the caller may, else the broker */
        DELEGATE_MODE_LOCAL = 1,  /* locally only */
        DELEGATE_MODE_BROKER = 2, /* the broker only */
} delegate_mode;

/**
 * delegate_ctx_new() - create a context.
 * @api_version: the caller's DELEGATE_API_VERSION.
 * Returns 0, or -EPROTO (code "api-mismatch") when @api_version is not the
 * version this library speaks, or -ENOMEM.  No connection is made yet.
 */
int delegate_ctx_new(int api_version, delegate_ctx **ret, delegate_error *err);
void delegate_ctx_free(delegate_ctx *ctx);

/* Socket path (NULL: $DELEGATE_SOCKET, else DELEGATE_DEFAULT_SOCKET). */
int delegate_ctx_set_socket(delegate_ctx *ctx, const char *path);
/* Names sent in the hello: the client program and the VM it acts for. */
int delegate_ctx_set_identity(delegate_ctx *ctx, const char *client, const char *vm);
int delegate_ctx_set_mode(delegate_ctx *ctx, delegate_mode mode);

/**
 * delegate_connect() - connect to the broker and perform the handshake.
 * Returns 0; -EPROTO with code "api-mismatch" and a message naming both
 * versions when the broker speaks another API version; another -errno on
 * transport failure.  Calls that need the broker connect on their own.
 *
 * Reconnecting after the connection was lost (the broker restarted) resumes
 * the context's session with the token from its welcome, so the broker
 * keeps what it did for it; when the broker no longer holds that session
 * the context opens a new one.  delegate_ctx_resumed() tells which.
 */
int delegate_connect(delegate_ctx *ctx, delegate_error *err);
/* Did the last delegate_connect() resume the previous session? */
bool delegate_ctx_resumed(delegate_ctx *ctx);

/**
 * delegate_open() - delegate_ctx_new() + identity + delegate_connect().
 * @socket_path may be NULL (see delegate_ctx_set_socket()).
 */
int delegate_open(int api_version, const char *socket_path, const char *client, const char *vm,
                  delegate_ctx **ret, delegate_error *err);

/* After connect: the broker's API version, the session id, the peer as the
 * broker sees it (uid, pid, pod cgroup). */
int delegate_ctx_broker_api(delegate_ctx *ctx);
uint64_t delegate_ctx_session(delegate_ctx *ctx);
const char *delegate_ctx_pod_cgroup(delegate_ctx *ctx);
/* The connection's socket, only to poll(2) it: the broker never speaks
 * unasked, so "readable" between calls means it closed the connection.
 * -ENOTCONN when not connected.  The context keeps owning it. */
int delegate_ctx_fd(delegate_ctx *ctx);

/**
 * delegate_handler_fn - an application's implementation of an operation.
 * @args_json: the request's "args" object.  On success returns >= 0 and
 * may set *ret_result_json to a malloc'd JSON object (the result); on
 * failure returns -errno and fills @err.
 */
typedef int (*delegate_handler_fn)(delegate_ctx *ctx, const char *op, const char *args_json,
                                   char **ret_result_json, delegate_error *err, void *userdata);

/**
 * delegate_set_handler() - install (or with @fn NULL, remove) the handler
 * for @op.  With a handler installed every call of @op goes to it.
 */
int delegate_set_handler(delegate_ctx *ctx, const char *op, delegate_handler_fn fn, void *userdata);

/**
 * delegate_call() - perform @op with @args_json (an object, may be NULL).
 * Routing: the installed handler; else, in DELEGATE_MODE_AUTO, locally when
 * this library implements @op and the caller holds what it needs; else the
 * broker.  On success *ret_result_json (may be NULL) receives the result
 * object as a malloc'd string (free with delegate_free_string()), received
 * fds are stored in @ret_fds (up to @max_fds, O_CLOEXEC) and counted in
 * *ret_n_fds, and *ret_route (may be NULL) says where it ran.
 * Returns >= 0 on success, -errno on failure with @err filled.
 */
int delegate_call(delegate_ctx *ctx, const char *op, const char *args_json, char **ret_result_json,
                  int *ret_fds, size_t max_fds, size_t *ret_n_fds, delegate_route *ret_route,
                  delegate_error *err);

/**
 * delegate_call_with_fds() - like delegate_call(), always through the
 * broker, with @n_fds (at most DELEGATE_MAX_FDS) fds sent along with the
 * request as SCM_RIGHTS (the caller keeps its copies), e.g. the sealed
 * memfd of kvmi.set-page-access.
 */
int delegate_call_with_fds(delegate_ctx *ctx, const char *op, const char *args_json, const int *fds, size_t n_fds,
                           char **ret_result_json, int *ret_fds, size_t max_fds, size_t *ret_n_fds,
                           delegate_error *err);

/*
 * Request id the next broker call will carry (ids are per context).  One
 * exception: when the answer to a request was lost with the connection, the
 * same request (same op, args and fds count) issued again after a reconnect
 * carries the same id, so a broker that had done it answers from its retry
 * cache instead of doing it twice.
 */
uint64_t delegate_ctx_next_id(delegate_ctx *ctx);

int delegate_ping(delegate_ctx *ctx, delegate_error *err);
/* state.get: what the broker did for this session, as a JSON object. */
int delegate_state_get(delegate_ctx *ctx, char **ret_json, delegate_error *err);

typedef struct delegate_memlock_result {
        uint64_t soft, hard;     /* read back from the kernel afterwards */
        uint64_t old_soft, old_hard;
        delegate_route route;
} delegate_memlock_result;

/**
 * delegate_memlock_set() - set RLIMIT_MEMLOCK of @pid (0: the caller).
 * @soft, @hard: bytes, DELEGATE_LIMIT_INFINITY, or for @hard
 * DELEGATE_LIMIT_KEEP to leave the hard limit as it is.
 */
int delegate_memlock_set(delegate_ctx *ctx, pid_t pid, uint64_t soft, uint64_t hard,
                         delegate_memlock_result *ret, delegate_error *err);

/* Erase and free a string returned by this library. */
void delegate_free_string(char *s);

/* Parse "64G", "512M", "1048576", "unlimited" into bytes. */
int delegate_parse_size(const char *s, uint64_t *ret);

#ifdef __cplusplus
}
#endif

#endif
