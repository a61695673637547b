/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-op.h - what the broker adds to an operation's descriptor
 * (engine/opdesc.h): how it acts, what it releases with a request,
 * its D-Bus method.  Each operation defines one `const broker_op` beside
 * its act (broker-op-*.c) and is listed once in broker-ops-list.h; the
 * dispatcher (broker-request.c) and the bus (broker-bus.c) find it through
 * broker_op_lookup() and broker_op_registry() (broker-op.c).
 */
#pragma once

#include <systemd/sd-bus.h>

#include "broker.h"

/*
 * An operation's D-Bus method on org.delegate.Broker1: (s session, ...).
 * @signature and @result are the full D-Bus signatures, @names the
 * argument names then the result names, each NUL-terminated.  @args reads
 * the arguments after the session id into the socket form's args object
 * (NULL: one JSON text, "s args_json"); @reply answers @call with the
 * result object (NULL: the result as JSON text, "s result_json").
 */
typedef struct broker_bus_method {
        const char *member;
        const char *signature;
        const char *result;
        const char *names;
        int (*args)(sd_bus_message *m, json_value **ret, sd_bus_error *error);
        int (*reply)(sd_bus_message *call, const json_value *result);
} broker_bus_method;

struct broker_op {
        const op_desc *op; /* name, arguments, policy check */
        /*
         * Carry out @req, allowed by @d, with its parsed @args (owned by
         * the request, freed with it; @act may take members it then clears).
         * Ends in exactly one reply, now or later.
         */
        void (*act)(request *req, void *args, const policy_decision *d);
        /* Its scratch in each request, req->scratch: @scratch_size bytes, zeroed, then @request_init. */
        size_t scratch_size;
        /* Set up the operation's scratch in @req once it is known to be this operation; NULL: none. */
        void (*request_init)(request *req);
        /* Release what the operation keeps in @req (its scratch) as the request is freed; NULL: nothing. */
        void (*request_free)(request *req);
        /* @req loses its client while under way (request_detach_all()): keep its own copy of what the
         * operation borrowed from the client (its pidfd), which closes next; NULL: borrows nothing. */
        void (*request_detach)(request *req);
        const broker_bus_method *bus; /* NULL: socket only */
};

/* The default marshalling (broker-bus-args.c): an args object from JSON text ("" is none), and back. */
int bus_args_json(const char *text, json_value **ret, sd_bus_error *error);
int bus_read_json_args(sd_bus_message *m, json_value **ret, sd_bus_error *error);
int bus_reply_json(sd_bus_message *call, const json_value *result);
/* Evaluate's subject a{sv} (broker-bus.c): uid and cgroup required; its strings point into @m. */
int bus_read_subject(sd_bus_message *m, policy_subject *s, sd_bus_error *error);

/*
 * What a session holds for one operation (or a family: tap and bridge
 * share one): its state lives in c->part[@slot] (@size bytes, zeroed, then
 * @init), nowhere else; the session's life walks these hooks.  Any of them
 * may be NULL.
 */
typedef struct state_check state_check;
struct session_part {
        unsigned slot; /* SESSION_PART_<id> */
        size_t size;
        void (*init)(void *state);
        /* Its entries in state.get, GetSession, ListSessions counts and RevokeSession (broker-session.c,
         * broker-client.c). */
        const session_hook *hooks;
        size_t n_hooks;
        /* The session began (its hello answered, the welcome sent; not for a resumed session, whose VM runs already): prepare what it may use. */
        void (*begin)(client *c);
        /* The session ended for good (not kept for a resume or the next broker): undo what it created. */
        void (*end)(client *c);
        /* The client is freed, ended or kept: close and free what the state holds. */
        void (*release)(client *c);
        /* The state file (broker-state-save.c, broker-state.c): write its keys into the open map / read
         * them back, checking every field into @ck.  NULL: not kept across a restart. */
        void (*save)(const client *c, json_gen *g);
        void (*restore)(client *c, const json_value *s, state_check *ck);
        /* A restored session: reopen what it needs, through @pid (its launcher) or, when 0, anything. */
        void (*recovered)(client *c, pid_t pid);
        /* A rejected state file: keep only what @rule (NULL: none matched) lets the broker undo safely. */
        void (*salvage)(client *c, const policy_rule *rule);
};

#define BROKER_OP(id) extern const broker_op bop_##id;
#define SESSION_PART(id) extern const session_part session_part_##id;
#include "broker-ops-list.h"
#undef BROKER_OP
#undef SESSION_PART

/* Every session part, in registry order. */
const session_part *const *session_part_registry(size_t *ret_n);
/* Every hook of every part, in registry order (the order state.get lists them). */
#define SESSION_HOOKS_FOREACH(h)                                                                                \
        for (size_t _n, _i = 0; _i < (session_part_registry(&_n), _n); _i++)                                  \
                for (const session_hook *h = session_part_registry(&_n)[_i]->hooks;                             \
                     h && h < session_part_registry(&_n)[_i]->hooks + session_part_registry(&_n)[_i]->n_hooks; h++)
/* Give @c a zeroed state of every part: 0 or -ENOMEM (then free @c with client_free()). */
int session_parts_new(client *c);
/* Release and free every part's state (client_free()). */
void session_parts_free(client *c);
/* The session began: every part prepares what it may use. */
void session_parts_begin(client *c);
/* The session ends for good: every part undoes what it created. */
void session_parts_end(client *c);
/* Hand what @from holds over to @to, and @to's (fresh) state to @from (a resume). */
void session_parts_swap(client *to, client *from);

/* Reading state files (broker-state-read.c): the first problem found goes to @ck. */
struct state_check {
        char msg[256]; /* "" when none */
};
#define STATE_MAX_SESSION ((UINT64_C(1) << 53) - 1)
#define STATE_MAX_PID 4194304 /* the kernel's PID_MAX_LIMIT */
#define STATE_MAX_PATH 1024
void state_bad(state_check *ck, const char *fmt, ...) _printf_(2, 3);
/* @o.@k: an integer from @min to @max (absent: 0 when @optional). */
uint64_t state_get_u64(state_check *ck, const json_value *o, const char *k, uint64_t min, uint64_t max, bool optional);
bool state_get_bool(state_check *ck, const json_value *o, const char *k);
const json_value *state_get_array(state_check *ck, const json_value *o, const char *k, size_t max);

/* The registry's tables (broker-ops-table.c, at the top), handed over once at start (main.c),
 * before anything walks them. */
void broker_ops_register(void);
/* Take the tables (broker-op.c); called only by broker_ops_register(). */
void broker_ops_set(const broker_op *const *ops, size_t n_ops, const session_part *const *session_parts,
                    size_t n_session_parts);
/* Every broker operation, in registry order. */
const broker_op *const *broker_op_registry(size_t *ret_n);
/* NULL: the broker does not carry out @name (unknown, or decided only: manage.*). */
const broker_op *broker_op_lookup(const char *name);
