/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * opdesc.h - what an operation is, for everything that handles one: its
 * descriptor (name, policy section, arguments, check, fds, local route) and
 * the helpers its own files share.
 *
 * Each operation defines one `const op_desc` in its own file (ops-*.c) and
 * is listed once in ops-list.h; the engine (ops.c), the policy loader
 * (policy-load.c), the broker, delegatectl and the library's local route
 * find it there and nowhere else.
 *
 * Layers, bottom up: policy.h (rules, matching) <- opdesc.h <- ops-*.h/c
 * (one operation each) <- ops.h/ops.c (the registry and the decision).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "json.h"
#include "policy.h"
#include "wire.h"

/*
 * A section of a policy rule ("memlock", "tap", ...), shared by the
 * operations it governs.  @parse fills its part of the rule from @v: 0,
 * -ENOMEM, or -EINVAL with the position in *@line, *@column and a message;
 * @clear frees what it allocated (NULL: nothing); @present tells whether a
 * rule has it.
 */
typedef struct policy_section {
        const char *key;
        int (*parse)(const json_value *v, policy_rule *r, unsigned *line, unsigned *column, char *msg, size_t size);
        void (*clear)(policy_rule *r);
        bool (*present)(const policy_rule *r);
} policy_section;

enum {
        OP_BUS_ONLY = 1 << 0,     /* decided for D-Bus callers only (manage.*), never a socket request */
        OP_TAKES_FDS = 1 << 1,    /* a request may carry file descriptors (at most BROKER_MAX_FDS_IN) */
        OP_RETURNS_FDS = 1 << 2,  /* its answer carries file descriptors */
};

typedef struct op_desc {
        const char *name;
        /* a delegation: decided by a rule's @section and counted in the
         * session (ping, state.get, kvmi.detach, unotify.attach are not) */
        bool needs_policy;
        /* concerns only the caller and changes nothing (ping, state.get):
         * its audit record is at debug level and may leave after its reply
         * (delegate-broker(8), AUDIT AND LOGGING) */
        bool quiet;
        unsigned flags; /* OP_* */
        const policy_section *section; /* NULL: no rule needed (!needs_policy) */
        /*
         * The arguments: @args_size bytes, filled once by @parse from the
         * request's "args" (NULL or an object); -EINVAL with @msg; freed
         * once by @done (NULL: nothing to free).  @parse NULL: the
         * operation takes no arguments.  Parsed arguments may point into
         * the JSON they came from, which outlives them.
         */
        size_t args_size;
        int (*parse)(const json_value *args, void *ret, char *msg, size_t size);
        void (*done)(void *args);
        /*
         * The policy check of parsed @args against @rule, which matched the
         * subject and has @section (NULL for !needs_policy): fills @d
         * (allowed or denied, with a reason).
         */
        void (*check)(const policy_rule *rule, const void *args, policy_decision *d);
        /*
         * The library's local route (NULL: none): carry out @args without a
         * broker.  1 done, 0 the broker is needed, -errno with @err.
         */
        int (*local)(const void *args, char **ret_result, delegate_error *err);
} op_desc;

/* The check of operations that only concern the caller's own session: always allowed. */
void ops_check_own_session(const policy_rule *rule, const void *args, policy_decision *d);

/* Shared by the operation files: printf into @msg, return -EINVAL. */
int ops_bad(char *msg, size_t size, const char *fmt, ...) _printf_(3, 4);
/* Reject keys outside @allowed (NULL-terminated). */
int ops_check_keys(const json_value *args, const char *op, const char *const *allowed, char *msg, size_t size);
/* d->allowed = false with a reason; returns 0. */
int ops_deny(policy_decision *d, const char *fmt, ...) _printf_(2, 3);
/* d->allowed = true with a reason. */
void ops_allow(policy_decision *d, const char *fmt, ...) _printf_(2, 3);
/* The same with a reason taken as it is (no format: cut where ops_allow() would cut it). */
void ops_allow_text(policy_decision *d, const char *reason);
/* A process ("pid") or thread ("tid") id, 0 for the caller itself. */
int ops_parse_pid(const json_value *v, const char *op, const char *what, pid_t *ret, char *msg, size_t size);
/* A "cpus" argument: a CPU list string. */
int ops_parse_cpus(const json_value *v, const char *op, cpu_mask *ret, char *msg, size_t size);
/* No arguments: NULL, null or {}. */
bool ops_args_empty(const json_value *args);
/*
 * Are the requested @cpus within the rule's @allowed (when @has_allowed)?
 * If not, the denial's reason names the first CPU outside, or @none_reason.
 */
bool ops_cpus_allowed(const cpu_mask *cpus, bool has_allowed, const cpu_mask *allowed, const char *section,
                      const char *none_reason, policy_decision *d);
