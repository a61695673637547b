/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-op.h - what the broker adds to an operation's descriptor
 * (libdelegate/opdesc.h): how it acts, what it releases with a request,
 * its D-Bus method.  Each operation defines one `const broker_op` beside
 * its act (broker-op-*.c) and is listed once in broker-ops-list.h; the
 * dispatcher (broker-request.c) and the bus (broker-bus.c) find it there.
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
        /* Set up the operation's scratch in @req (zeroed) once it is known to be this operation; NULL: none. */
        void (*request_init)(request *req);
        /* Release what the operation keeps in @req (its scratch) as the request is freed; NULL: nothing. */
        void (*request_free)(request *req);
        const broker_bus_method *bus; /* NULL: socket only */
};

/* The default marshalling (broker-bus-args.c): an args object from JSON text ("" is none), and back. */
int bus_args_json(const char *text, json_value **ret, sd_bus_error *error);
int bus_read_json_args(sd_bus_message *m, json_value **ret, sd_bus_error *error);
int bus_reply_json(sd_bus_message *call, const json_value *result);

#define BROKER_OP(id) extern const broker_op bop_##id;
#include "broker-ops-list.h"
#undef BROKER_OP

/* Every broker operation, in registry order. */
const broker_op *const *broker_op_registry(size_t *ret_n);
/* NULL: the broker does not carry out @name (unknown, or decided only: manage.*). */
const broker_op *broker_op_lookup(const char *name);
