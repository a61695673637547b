/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-frame.h - the outer shape of what a client sends, read without
 * acting: the datagram as a JSON object, the hello (and its resume), a
 * request's id, op and args.  Pure (json.h, wire.h, policy.h only), so that
 * unit tests and tests/fuzz/fuzz-frame.c drive exactly what the broker runs.
 * Every error comes with the message the client is sent.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "json.h"
#include "wire.h"

/* Largest request id and session number: ids are exact in every JSON implementation. */
#define FRAME_MAX_ID ((UINT64_C(1) << 53) - 1)
/* A resume token: 128 random bits as lower-case hex. */
#define FRAME_TOKEN_HEX 32

/**
 * frame_parse() - one datagram (@len bytes, at most DELEGATE_MAX_MESSAGE)
 * as a JSON object, into *@ret (free with json_free()).  @hello: before the
 * welcome (the messages say "hello").  Returns 0, or -EINVAL with @msg.
 */
int frame_parse(const char *buf, size_t len, bool hello, json_value **ret, char *msg, size_t size);

typedef struct hello_frame {
        const char *client;       /* NULL: not given */
        const char *vm;           /* NULL: not given */
        const json_value *resume; /* NULL: a new session */
} hello_frame;

/**
 * hello_frame_parse() - the hello @m: type, api, client, vm, resume and no
 * other key.  Returns 0 with *@ret pointing into @m; -EPROTONOSUPPORT with
 * *@ret_code ERR_API_MISMATCH, or -EINVAL with ERR_BAD_REQUEST, and @msg.
 */
int hello_frame_parse(const json_value *m, hello_frame *ret, err_code *ret_code, char *msg, size_t size);

/**
 * resume_frame_parse() - the hello's "resume": {"session": N, "token": T}
 * and no other key.  Returns 0 with the session and *@ret_token pointing
 * into @resume, or -EINVAL with @msg.
 */
int resume_frame_parse(const json_value *resume, uint64_t *ret_session, const char **ret_token, char *msg,
                       size_t size);

/**
 * request_id_parse() - a request's "id": 0 to FRAME_MAX_ID.  Returns 0, or
 * -EINVAL with @msg (answered with "id": null); a request @m that is not an
 * object, with frame_parse()'s message.
 */
int request_id_parse(const json_value *m, uint64_t *ret_id, char *msg, size_t size);

/**
 * request_body_parse() - the rest of a request: keys id, op, args only; op a
 * string; args absent or an object.  Returns 0 with *@ret_op and *@ret_args
 * (NULL when absent) pointing into @m, or -EINVAL with @msg (answered with
 * the request's id); @m not an object, as request_id_parse().
 */
int request_body_parse(const json_value *m, const char **ret_op, const json_value **ret_args, char *msg, size_t size);
