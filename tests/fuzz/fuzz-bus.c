/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-bus.c - the arguments of org.delegate.Broker1's methods as the broker
 * decodes them (broker/broker-bus.c, each operation's D-Bus method in
 * broker-op-*.c, the whole broker linked).  sd-bus hands a method only a
 * message of its declared signature, so the input does not choose bytes of
 * the wire format: it chooses the method (first byte) and the values, and
 * the target builds the message with sd-bus from the method's signature as
 * the registry declares it (every string, number, and for a{sv} every key
 * and variant type), seals it and decodes it as the broker does:
 *   Evaluate (s op, s args_json, a{sv} subject): the subject, the args,
 *     then the policy decision;
 *   each operation's method (s session, ...): its argument decoder into
 *     the socket form's args, then that operation's parse and check.
 * A refusal must come as an InvalidArgs error with a message; what is
 * accepted is an args object the policy engine takes.
 *
 * The input: the method's name, then its values in order (see
 * next_string(), next_u64(), append_one()).
 *
 * Seeds: tests/fuzz/corpus/bus (the calls tests/functional/test-dbus.c
 * makes, good and bad, and one valid call of each method, written in this
 * encoding by hand: no capture of a bus).
 * -max_len: 65536 + 64: the broker's largest request (DELEGATE_MAX_MESSAGE,
 * an args_json text is a request's args) and the method's name.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "broker-op.h"
#include "fuzz.h"
#include "fuzz-policy-once.h"
#include "ops.h"
#include "policy.h"

static const char fuzz_policy[] =
        "{ \"version\": 1, \"rules\": [\n"
        "  { \"name\": \"pods\", \"match\": { \"uid\": \"1000-1999\", \"cgroup\": \"/kubepods.slice/**\", \"vm\": \"*\" },\n"
        "    \"memlock\": { \"max\": \"64G\" },\n"
        "    \"cgroup\": { \"targets\": [\"housekeeping\", \"vcpu*\"], \"create\": true },\n"
        "    \"sched\": { \"policies\": [\"other\", \"fifo\", \"rr\"], \"max_priority\": 10, \"cpus\": \"0-3\", \"max_rttime_us\": 200000 } }\n"
        "] }\n";

typedef struct reader {
        const uint8_t *p;
        size_t n;
} reader;

static uint8_t next_byte(reader *rd) {
        if (rd->n == 0)
                return 0;
        rd->n--;
        return *rd->p++;
}

static uint64_t next_u64(reader *rd, size_t bytes) {
        uint64_t v = 0;
        for (size_t i = 0; i < bytes; i++)
                v = v << 8 | next_byte(rd);
        return v;
}

/* A string: two bytes of length (big-endian), then that many bytes (a NUL ends it early). */
static char *next_string(reader *rd) {
        size_t len = (size_t) next_u64(rd, 2);
        if (len > rd->n)
                len = rd->n;
        char *s = strndup((const char *) rd->p, len);
        FUZZ_ASSERT(s);
        rd->p += len;
        rd->n -= len;
        return s;
}

/* Append one value of the single complete type at *@sig, advancing *@sig; <0: the values do not fit (skip). */
static int append_one(sd_bus_message *m, const char **sig, reader *rd, unsigned depth) {
        char t = **sig;
        (*sig)++;
        int r;
        if (depth > 4)
                return -EINVAL;
        switch (t) {
        case 's': {
                _cleanup_free_ char *s = next_string(rd);
                return sd_bus_message_append_basic(m, 's', s); /* -EINVAL: not UTF-8, as no bus would deliver it */
        }
        case 'b': {
                int b = next_byte(rd) & 1;
                return sd_bus_message_append_basic(m, 'b', &b);
        }
        case 'u': {
                uint32_t u = (uint32_t) next_u64(rd, 4);
                return sd_bus_message_append_basic(m, 'u', &u);
        }
        case 'i': {
                int32_t i = (int32_t) next_u64(rd, 4);
                return sd_bus_message_append_basic(m, 'i', &i);
        }
        case 't': {
                uint64_t u = next_u64(rd, 8);
                return sd_bus_message_append_basic(m, 't', &u);
        }
        case 'x': {
                int64_t x = (int64_t) next_u64(rd, 8);
                return sd_bus_message_append_basic(m, 'x', &x);
        }
        case 'v': {
                /* the variant's type is the caller's choice */
                static const char *const types[] = { "s", "u", "t", "b", "i", "x", "as" };
                const char *vt = types[next_byte(rd) % ELEMENTSOF(types)], *p = vt;
                r = sd_bus_message_open_container(m, 'v', vt);
                if (r >= 0)
                        r = append_one(m, &p, rd, depth + 1);
                return r < 0 ? r : sd_bus_message_close_container(m);
        }
        case 'a': {
                /* the element type: one complete type after 'a' */
                const char *start = *sig;
                char elem[64];
                size_t n = next_byte(rd) % 16;
                if (**sig == '{') {
                        const char *close = strchr(*sig, '}');
                        FUZZ_ASSERT(close && (size_t) (close - start) + 2 < sizeof(elem));
                        snprintf(elem, sizeof(elem), "%.*s", (int) (close - start + 1), start);
                        *sig = close + 1;
                } else {
                        FUZZ_ASSERT(strchr("sutbix", **sig));
                        snprintf(elem, sizeof(elem), "%c", **sig);
                        (*sig)++;
                }
                r = sd_bus_message_open_container(m, 'a', elem);
                for (size_t i = 0; r >= 0 && i < n; i++) {
                        const char *p = elem;
                        if (elem[0] == '{') {
                                char inner[64];
                                snprintf(inner, sizeof(inner), "%.*s", (int) strlen(elem) - 2, elem + 1);
                                const char *q = inner;
                                r = sd_bus_message_open_container(m, 'e', inner);
                                while (r >= 0 && *q)
                                        r = append_one(m, &q, rd, depth + 1);
                                if (r >= 0)
                                        r = sd_bus_message_close_container(m);
                        } else
                                r = append_one(m, &p, rd, depth + 1);
                }
                return r < 0 ? r : sd_bus_message_close_container(m);
        }
        default:
                FUZZ_ASSERT(!"a type this target cannot build: teach append_one()");
                return -EINVAL;
        }
}

static sd_bus *the_bus(void) {
        static sd_bus *bus;
        if (!bus) {
                /* a bus object that is started (sd-bus builds messages only for one); nothing is ever sent */
                int sv[2];
                FUZZ_ASSERT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
                FUZZ_ASSERT(sd_bus_new(&bus) >= 0);
                FUZZ_ASSERT(sd_bus_set_fd(bus, sv[0], sv[0]) >= 0);
                FUZZ_ASSERT(sd_bus_start(bus) >= 0);
        }
        return bus;
}

static const policy *the_policy(void) {
        static policy *p;
        return fuzz_policy_once(&p, fuzz_policy, sizeof(fuzz_policy) - 1);
}

/* @member's message with values from @rd, sealed and rewound to be read; NULL: the values do not fit. */
static sd_bus_message *build(const char *member, const char *signature, reader *rd) {
        sd_bus_message *m = NULL;
        FUZZ_ASSERT(sd_bus_message_new_method_call(the_bus(), &m, "org.delegate.Broker1", "/org/delegate/Broker1",
                                                   "org.delegate.Broker1", member) >= 0);
        int r = 0;
        for (const char *p = signature; r >= 0 && *p;)
                r = append_one(m, &p, rd, 0);
        if (r < 0 || sd_bus_message_seal(m, 1, 0) < 0 || sd_bus_message_rewind(m, true) < 0) {
                sd_bus_message_unref(m);
                return NULL;
        }
        FUZZ_ASSERT(sd_bus_message_has_signature(m, signature));
        return m;
}

static void refused(int r, const sd_bus_error *e) {
        /* the caller's mistake: InvalidArgs and a message, never a failure to read what sd-bus checked */
        FUZZ_ASSERT(r < 0 && sd_bus_error_is_set(e));
        FUZZ_ASSERT(streq(e->name, SD_BUS_ERROR_INVALID_ARGS) && e->message && e->message[0]);
}

static void decide(const char *op, const policy_subject *s, const json_value *args) {
        policy_decision d;
        char msg[512];
        int r = policy_decide(the_policy(), s, op, args, &d, msg, sizeof(msg), NULL, NULL);
        FUZZ_ASSERT(r == 0 || r == -EINVAL || r == -EOPNOTSUPP || r == -ENOMEM);
        if (r == 0)
                FUZZ_ASSERT(memchr(d.reason, 0, sizeof(d.reason)));
        else
                FUZZ_ASSERT(msg[0]);
}

static void evaluate(reader *rd) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = build("Evaluate", "ssa{sv}", rd);
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_json_ json_value *args = NULL;
        const char *op, *text;
        policy_subject s = { .vm = "" };
        if (!m)
                return;
        FUZZ_ASSERT(sd_bus_message_read(m, "ss", &op, &text) >= 0);
        int r = bus_read_subject(m, &s, &e);
        if (r < 0)
                return refused(r, &e);
        FUZZ_ASSERT(s.cgroup && s.cgroup[0] == '/');
        r = bus_args_json(text, &args, &e);
        if (r < 0)
                return refused(r, &e);
        FUZZ_ASSERT(!args || args->type == JSON_OBJECT);
        decide(op, &s, args);
}

static void op_method(const broker_op *o, reader *rd) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = build(o->bus->member, o->bus->signature, rd);
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_json_ json_value *args = NULL;
        const char *session;
        if (!m)
                return;
        FUZZ_ASSERT(o->bus->signature[0] == 's' && sd_bus_message_read(m, "s", &session) >= 0);
        int r = (o->bus->args ? o->bus->args : bus_read_json_args)(m, &args, &e);
        if (r < 0)
                return refused(r, &e);
        FUZZ_ASSERT(!args || args->type == JSON_OBJECT);
        /* the socket route from here on: the operation's own parse and check */
        static const policy_subject s = { .uid = 1000, .gid = 1000, .cgroup = "/kubepods.slice/pod-a", .vm = "vm-1",
                                          .via = POLICY_VIA_DBUS };
        decide(o->op->name, &s, args);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size > DELEGATE_MAX_MESSAGE + 64)
                return 0;
        broker_ops_register(); /* the registry, as the broker's main() hands it over */
        reader rd = { data, size };
        _cleanup_free_ char *member = next_string(&rd);
        if (streq(member, "Evaluate"))
                return evaluate(&rd), 0;
        size_t n;
        const broker_op *const *all = broker_op_registry(&n);
        for (size_t i = 0; i < n; i++)
                if (all[i]->bus && streq(all[i]->bus->member, member))
                        op_method(all[i], &rd);
        return 0;
}
