/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-frame.c - one datagram as the broker's connection reads it
 * (broker/broker-frame.c): the first byte picks the phase:
 *   'H'  before the welcome: the hello, its "resume" when it has one;
 *   else after it: a request's id, then its op and args.
 * What is accepted is checked against the contract of delegate-protocol(7)
 * read here independently; what is refused comes with a message.
 *
 * Seeds: tests/fuzz/corpus/frame (hellos as libdelegate and delegatectl
 * send them, with and without resume; requests as tests/fuzz/corpus/wire).
 * -max_len: 1 + 65536, the phase byte and one datagram (DELEGATE_MAX_MESSAGE).
 */
#include <stdio.h>
#include <stdlib.h>

#include "broker-frame.h"
#include "fuzz.h"
#include "policy.h"

static void check_msg(const char *msg, size_t size) {
        FUZZ_ASSERT(memchr(msg, 0, size) && msg[0]);
}

static void hello(const json_value *m) {
        hello_frame h;
        err_code code = _ERR_MAX;
        char msg[512] = "";
        int r = hello_frame_parse(m, &h, &code, msg, sizeof(msg));
        if (r < 0) {
                FUZZ_ASSERT((r == -EINVAL && code == ERR_BAD_REQUEST) ||
                            (r == -EPROTONOSUPPORT && code == ERR_API_MISMATCH));
                check_msg(msg, sizeof(msg));
                return;
        }
        /* the contract: {"type":"hello","api":1} and nothing unknown */
        const json_value *type = json_get(m, "type"), *api = json_get(m, "api");
        FUZZ_ASSERT(type && type->type == JSON_STRING && strcmp(type->string.str, "hello") == 0);
        int64_t v;
        FUZZ_ASSERT(api && json_to_i64(api, &v) == 0 && v == DELEGATE_API_VERSION);
        for (size_t i = 0; i < m->object.n; i++) {
                char k[80];
                snprintf(k, sizeof(k), ",%.70s,", m->object.members[i].key);
                FUZZ_ASSERT(strstr(",type,api,client,vm,resume,", k));
        }
        if (h.client) {
                size_t n = strlen(h.client);
                FUZZ_ASSERT(n >= 1 && n <= 64);
                for (size_t i = 0; i < n; i++)
                        FUZZ_ASSERT((unsigned char) h.client[i] >= 0x20 && h.client[i] != 0x7f);
        }
        if (h.vm)
                FUZZ_ASSERT(strlen(h.vm) >= 1 && strlen(h.vm) <= 253 &&
                            strspn(h.vm, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") ==
                                    strlen(h.vm));
        if (!h.resume)
                return;
        uint64_t session = 0;
        const char *token = NULL;
        r = resume_frame_parse(h.resume, &session, &token, msg, sizeof(msg));
        if (r < 0) {
                FUZZ_ASSERT(r == -EINVAL);
                check_msg(msg, sizeof(msg));
                return;
        }
        FUZZ_ASSERT(session >= 1 && token && strlen(token) == FRAME_TOKEN_HEX);
        FUZZ_ASSERT(strspn(token, "0123456789abcdef") == FRAME_TOKEN_HEX);
        FUZZ_ASSERT(h.resume->type == JSON_OBJECT && h.resume->object.n == 2);
}

static void request(const json_value *m) {
        char msg[512] = "";
        uint64_t id = UINT64_MAX;
        if (request_id_parse(m, &id, msg, sizeof(msg)) < 0) {
                check_msg(msg, sizeof(msg));
                return;
        }
        FUZZ_ASSERT(id <= FRAME_MAX_ID);
        const char *op = NULL;
        const json_value *args = (const json_value *) 1;
        if (request_body_parse(m, &op, &args, msg, sizeof(msg)) < 0) {
                check_msg(msg, sizeof(msg));
                return;
        }
        FUZZ_ASSERT(op && (!args || args->type == JSON_OBJECT));
        FUZZ_ASSERT(m->object.n <= 3);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size == 0 || size - 1 > DELEGATE_MAX_MESSAGE)
                return 0; /* the transport never delivers more */
        bool is_hello = data[0] == 'H';
        json_value *m = NULL;
        char msg[512] = "";
        int r = frame_parse((const char *) data + 1, size - 1, is_hello, &m, msg, sizeof(msg));
        if (r < 0) {
                FUZZ_ASSERT(r == -EINVAL || r == -ENOMEM);
                check_msg(msg, sizeof(msg));
                return 0;
        }
        FUZZ_ASSERT(m && m->type == JSON_OBJECT);
        if (is_hello)
                hello(m);
        else
                request(m);
        json_free(m);
        return 0;
}
