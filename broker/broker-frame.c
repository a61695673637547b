/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-frame.c - the outer shape of hellos and requests (broker-frame.h);
 * broker-request.c and broker-state.c act on what these accept.
 */
#include "broker-frame.h"

#include <inttypes.h>
#include <stdio.h>

#include "policy.h"

#define bad(msg, size, ...) (snprintf(msg, size, __VA_ARGS__), -EINVAL)

static int request_not_object(const json_value *m, char *msg, size_t size) {
        return bad(msg, size, "a request must be a JSON object, not %s", json_type_name(m->type));
}

int frame_parse(const char *buf, size_t len, bool hello, json_value **ret, char *msg, size_t size) {
        json_parse_error je;
        json_value *m = NULL;
        if (len == 0)
                return bad(msg, size, hello ? "empty message instead of hello" : "empty message");
        /* a message: no position of its values is ever read (a syntax error's is given all the same) */
        int r = json_parse_flags(buf, len, JSON_PARSE_NO_POSITIONS, &m, &je);
        if (r < 0)
                return snprintf(msg, size, hello ? "malformed hello: line %u, column %u: %s"
                                                 : "malformed JSON at line %u, column %u: %s",
                                je.line, je.column, je.message),
                       r == -ENOMEM ? r : -EINVAL;
        if (m->type != JSON_OBJECT) {
                r = hello ? bad(msg, size, "hello must be a JSON object, not %s", json_type_name(m->type))
                          : request_not_object(m, msg, size);
                json_free(m);
                return r;
        }
        *ret = m;
        return 0;
}

int hello_frame_parse(const json_value *m, hello_frame *ret, err_code *ret_code, char *msg, size_t size) {
        const json_value *type = json_get(m, "type"), *api = json_get(m, "api"), *name = json_get(m, "client"),
                         *vm = json_get(m, "vm"), *resume = json_get(m, "resume");
        int64_t v;

        *ret_code = ERR_BAD_REQUEST;
        if (!json_is_string(type) || !streq(type->string.str, "hello"))
                return bad(msg, size,
                           "the first message must be {\"type\":\"hello\",\"api\":%d,...}; nothing else is accepted "
                           "before it",
                           DELEGATE_API_VERSION);
        if (!api)
                return bad(msg, size, "hello: missing \"api\" (this broker speaks API %d)", DELEGATE_API_VERSION);
        int vr = json_to_i64(api, &v);
        if (vr == -ERANGE) { /* an integer, just not one we speak */
                *ret_code = ERR_API_MISMATCH;
                snprintf(msg, size, "client speaks API %.32s, broker speaks API %d", api->number, DELEGATE_API_VERSION);
                return -EPROTONOSUPPORT;
        }
        if (vr < 0)
                return bad(msg, size, "hello: \"api\" must be an integer (this broker speaks API %d)",
                           DELEGATE_API_VERSION);
        if (v != DELEGATE_API_VERSION) {
                *ret_code = ERR_API_MISMATCH;
                snprintf(msg, size, "client speaks API %" PRIi64 ", broker speaks API %d", v, DELEGATE_API_VERSION);
                return -EPROTONOSUPPORT;
        }
        if (name && (!json_is_string(name) || !client_name_valid(name->string.str)))
                return bad(msg, size, "hello: \"client\" must be 1-64 printable characters");
        if (vm && (!json_is_string(vm) || !vm_name_valid(vm->string.str)))
                return bad(msg, size, "hello: \"vm\" must be 1-253 characters of [A-Za-z0-9._-]");
        for (size_t i = 0; i < m->object.n; i++) {
                const char *k = m->object.members[i].key;
                if (!streq(k, "type") && !streq(k, "api") && !streq(k, "client") && !streq(k, "vm") &&
                    !streq(k, "resume"))
                        return bad(msg, size, "hello: unknown key '%.64s' (allowed: type, api, client, vm, resume)", k);
        }
        *ret = (hello_frame) { .client = name ? name->string.str : NULL, .vm = vm ? vm->string.str : NULL,
                               .resume = resume };
        return 0;
}

int resume_frame_parse(const json_value *resume, uint64_t *ret_session, const char **ret_token, char *msg,
                       size_t size) {
        const json_value *sv = json_get(resume, "session"), *tv = json_get(resume, "token");
        uint64_t id;
        bool ok = resume && resume->type == JSON_OBJECT && sv && json_to_u64(sv, &id) == 0 && id > 0 &&
                  json_is_string(tv) && strlen(tv->string.str) == FRAME_TOKEN_HEX &&
                  strspn(tv->string.str, "0123456789abcdef") == FRAME_TOKEN_HEX;
        for (size_t i = 0; ok && i < resume->object.n; i++)
                ok = streq(resume->object.members[i].key, "session") || streq(resume->object.members[i].key, "token");
        if (!ok)
                return bad(msg, size,
                           "hello: \"resume\" must be {\"session\": N, \"token\": \"%d lower-case hex digits\"} with "
                           "no other key",
                           FRAME_TOKEN_HEX);
        *ret_session = id;
        *ret_token = tv->string.str;
        return 0;
}

int request_id_parse(const json_value *m, uint64_t *ret_id, char *msg, size_t size) {
        const json_value *idv = NULL;
        if (m->type != JSON_OBJECT)
                return request_not_object(m, msg, size);
        for (size_t i = 0; i < m->object.n; i++) /* the last, as request_body_parse() and reply_split() */
                if (json_key_is(&m->object.members[i], "id"))
                        idv = m->object.members[i].value;
        uint64_t id;
        if (!idv)
                return bad(msg, size, "request without \"id\"");
        if (json_to_u64(idv, &id) < 0 || id > FRAME_MAX_ID)
                return bad(msg, size, "\"id\" must be an integer from 0 to 2^53-1, not %s%s%s",
                           idv->type == JSON_NUMBER ? "'" : "",
                           idv->type == JSON_NUMBER ? idv->number : json_type_name(idv->type),
                           idv->type == JSON_NUMBER ? "'" : "");
        *ret_id = id;
        return 0;
}

int request_body_parse(const json_value *m, const char **ret_op, const json_value **ret_args, char *msg, size_t size) {
        const json_value *opv = NULL, *args = NULL;
        if (m->type != JSON_OBJECT)
                return request_not_object(m, msg, size);
        for (size_t i = 0; i < m->object.n; i++) {
                const json_member *k = &m->object.members[i];
                if (json_key_is(k, "op"))
                        opv = k->value;
                else if (json_key_is(k, "args"))
                        args = k->value;
                else if (!json_key_is(k, "id"))
                        return bad(msg, size, "unknown request key '%.64s' (allowed: id, op, args)", k->key);
        }
        if (!opv)
                return bad(msg, size, "request without \"op\"");
        if (!json_is_string(opv))
                return bad(msg, size, "\"op\" must be a string, not %s", json_type_name(opv->type));
        if (args && args->type != JSON_OBJECT)
                return bad(msg, size, "\"args\" must be an object, not %s", json_type_name(args->type));
        *ret_op = opv->string.str;
        *ret_args = args;
        return 0;
}
