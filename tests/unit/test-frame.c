/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-frame.c - the outer shape of hellos, resumes and requests as the
 * broker reads them (broker/broker-frame.c): what passes, what is refused
 * and with which code and message.
 */
#include <stdio.h>

#include "broker-frame.h"
#include "tap.h"
#include "unit-util.h"

static json_value *parse(const char *text, bool hello, char *msg, size_t size) {
        json_value *m = NULL;
        int r = frame_parse(text, strlen(text), hello, &m, msg, size);
        return r < 0 ? NULL : m;
}

static void test_frame(void) {
        char msg[512];
        json_value *m;
        tap_is_int(frame_parse("", 0, true, &m, msg, sizeof(msg)), -EINVAL, "empty hello: -EINVAL");
        tap_is_str(msg, "empty message instead of hello", "  its message");
        tap_is_int(frame_parse("", 0, false, &m, msg, sizeof(msg)), -EINVAL, "empty request: -EINVAL");
        tap_is_str(msg, "empty message", "  its message");
        tap_is_int(frame_parse("{\"a\":", 5, false, &m, msg, sizeof(msg)), -EINVAL, "truncated JSON");
        tap_has_str(msg, "malformed JSON at line 1, column", "  with the position");
        tap_is_int(frame_parse("[1]", 3, true, &m, msg, sizeof(msg)), -EINVAL, "an array as hello");
        tap_is_str(msg, "hello must be a JSON object, not array", "  says what it got");
        /* RFC 8259's blanks only (yajl alone would take a vertical tab for one) */
        tap_is_int(frame_parse("{\"id\":1,\v\"op\":\"ping\"}", 21, false, &m, msg, sizeof(msg)), -EINVAL,
                   "a vertical tab between tokens");
        tap_is_str(msg, "malformed JSON at line 1, column 9: a vertical tab is not a JSON blank (those are space, tab, "
                        "line feed and carriage return)", "  says what and where");
        /* the length counts, not a NUL: the datagram's bytes after the object are no part of it */
        tap_is_int(frame_parse("{} x", 2, false, &m, msg, sizeof(msg)), 0, "the first 2 bytes of '{} x' are '{}'");
        json_free(m);
}

static void test_hello(void) {
        static const struct {
                const char *text;
                int ret;
                err_code code;
                const char *msg;
        } cases[] = {
                { "{\"type\":\"hello\",\"api\":2}", -EPROTONOSUPPORT, ERR_API_MISMATCH,
                  "client speaks API 2, broker speaks API 1" },
                { "{\"type\":\"hello\",\"api\":123456789012345678901234567890}", -EPROTONOSUPPORT, ERR_API_MISMATCH,
                  "client speaks API 123456789012345678901234567890, broker speaks API 1" },
                { "{\"type\":\"hello\",\"api\":\"1\"}", -EINVAL, ERR_BAD_REQUEST,
                  "hello: \"api\" must be an integer (this broker speaks API 1)" },
                { "{\"type\":\"hello\",\"api\":1.0}", -EINVAL, ERR_BAD_REQUEST,
                  "hello: \"api\" must be an integer (this broker speaks API 1)" },
                { "{\"type\":\"hello\"}", -EINVAL, ERR_BAD_REQUEST, "hello: missing \"api\" (this broker speaks API 1)" },
                { "{\"type\":\"welcome\",\"api\":1}", -EINVAL, ERR_BAD_REQUEST,
                  "the first message must be {\"type\":\"hello\",\"api\":1,...}; nothing else is accepted before it" },
                { "{\"id\":1,\"op\":\"ping\"}", -EINVAL, ERR_BAD_REQUEST,
                  "the first message must be {\"type\":\"hello\",\"api\":1,...}; nothing else is accepted before it" },
                { "{\"type\":\"hello\",\"api\":1,\"client\":\"\"}", -EINVAL, ERR_BAD_REQUEST,
                  "hello: \"client\" must be 1-64 printable characters" },
                { "{\"type\":\"hello\",\"api\":1,\"client\":\"a\\u001fb\"}", -EINVAL, ERR_BAD_REQUEST,
                  "hello: \"client\" must be 1-64 printable characters" },
                { "{\"type\":\"hello\",\"api\":1,\"client\":"
                  "\"0123456789012345678901234567890123456789012345678901234567890123X\"}",
                  -EINVAL, ERR_BAD_REQUEST, "hello: \"client\" must be 1-64 printable characters" },
                { "{\"type\":\"hello\",\"api\":1,\"vm\":\"a b\"}", -EINVAL, ERR_BAD_REQUEST,
                  "hello: \"vm\" must be 1-253 characters of [A-Za-z0-9._-]" },
                { "{\"type\":\"hello\",\"api\":1,\"vm\":\"vm-1\",\"pid\":7}", -EINVAL, ERR_BAD_REQUEST,
                  "hello: unknown key 'pid' (allowed: type, api, client, vm, resume)" },
        };
        char msg[512];
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                json_value *m = parse(cases[i].text, true, msg, sizeof(msg));
                hello_frame h;
                err_code code = _ERR_MAX;
                msg[0] = 0;
                int r = m ? hello_frame_parse(m, &h, &code, msg, sizeof(msg)) : -999;
                tap_ok(r == cases[i].ret && code == cases[i].code, "hello %s: %d, %s", cases[i].text, cases[i].ret,
                       err_code_name(cases[i].code));
                tap_is_str(msg, cases[i].msg, "  says so");
                json_free(m);
        }

        json_value *m = parse("{\"type\":\"hello\",\"api\":1,\"client\":\"0123456789012345678901234567890123456789"
                              "012345678901234567890123\",\"vm\":\"vm-1.a_b\"}",
                              true, msg, sizeof(msg));
        hello_frame h = { .resume = (void *) 1 };
        err_code code;
        tap_is_int(hello_frame_parse(m, &h, &code, msg, sizeof(msg)), 0, "hello with a 64-character client name");
        tap_is_str(h.client, "0123456789012345678901234567890123456789012345678901234567890123", "  client");
        tap_is_str(h.vm, "vm-1.a_b", "  vm");
        tap_ok(h.resume == NULL, "  no resume: a new session");
        json_free(m);
}

static void test_resume(void) {
        static const struct {
                const char *resume;
                bool ok;
        } cases[] = {
                { "{\"session\":42,\"token\":\"0123456789abcdef0123456789abcdef\"}", true },
                { "{\"token\":\"0123456789abcdef0123456789abcdef\",\"session\":9007199254740991}", true },
                { "{\"session\":0,\"token\":\"0123456789abcdef0123456789abcdef\"}", false },
                { "{\"session\":-1,\"token\":\"0123456789abcdef0123456789abcdef\"}", false },
                { "{\"session\":\"42\",\"token\":\"0123456789abcdef0123456789abcdef\"}", false },
                { "{\"session\":42,\"token\":\"0123456789ABCDEF0123456789abcdef\"}", false },
                { "{\"session\":42,\"token\":\"0123456789abcdef0123456789abcde\"}", false },
                { "{\"session\":42,\"token\":\"0123456789abcdef0123456789abcdef0\"}", false },
                { "{\"session\":42,\"token\":\"0123456789abcdef0123456789abcdef\",\"pid\":1}", false },
                { "{\"session\":42}", false },
                { "[42,\"0123456789abcdef0123456789abcdef\"]", false },
                { "42", false },
        };
        char text[256], msg[512];
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                snprintf(text, sizeof(text), "{\"type\":\"hello\",\"api\":1,\"resume\":%s}", cases[i].resume);
                json_value *m = parse(text, true, msg, sizeof(msg));
                hello_frame h = {};
                err_code code;
                uint64_t session = 0;
                const char *token = NULL;
                msg[0] = 0;
                int r = m && hello_frame_parse(m, &h, &code, msg, sizeof(msg)) == 0 && h.resume
                                ? resume_frame_parse(h.resume, &session, &token, msg, sizeof(msg))
                                : -999;
                tap_is_int(r, cases[i].ok ? 0 : -EINVAL, "resume %s: %s", cases[i].resume,
                           cases[i].ok ? "accepted" : "refused");
                if (cases[i].ok)
                        tap_ok(session == (i == 0 ? 42 : 9007199254740991ULL) && token &&
                                       streq(token, "0123456789abcdef0123456789abcdef"),
                               "  session and token read");
                else
                        tap_is_str(msg,
                                   "hello: \"resume\" must be {\"session\": N, \"token\": \"32 lower-case hex digits\"} "
                                   "with no other key",
                                   "  says what it must be");
                json_free(m);
        }
}

static void test_request(void) {
        static const struct {
                const char *text;
                const char *id_msg;   /* NULL: the id passes */
                const char *body_msg; /* NULL: the rest passes */
        } cases[] = {
                { "{\"id\":0,\"op\":\"ping\"}", NULL, NULL },
                { "{\"id\":9007199254740991,\"op\":\"memlock.set\",\"args\":{\"pid\":0}}", NULL, NULL },
                { "{\"op\":\"ping\"}", "request without \"id\"", NULL },
                { "{\"id\":9007199254740992,\"op\":\"ping\"}", "\"id\" must be an integer from 0 to 2^53-1, not "
                                                               "'9007199254740992'", NULL },
                { "{\"id\":-1,\"op\":\"ping\"}", "\"id\" must be an integer from 0 to 2^53-1, not '-1'", NULL },
                { "{\"id\":1.5,\"op\":\"ping\"}", "\"id\" must be an integer from 0 to 2^53-1, not '1.5'", NULL },
                { "{\"id\":\"1\",\"op\":\"ping\"}", "\"id\" must be an integer from 0 to 2^53-1, not string", NULL },
                { "{\"id\":1}", NULL, "request without \"op\"" },
                { "{\"id\":1,\"op\":7}", NULL, "\"op\" must be a string, not number" },
                { "{\"id\":1,\"op\":\"ping\",\"args\":[]}", NULL, "\"args\" must be an object, not array" },
                { "{\"id\":1,\"op\":\"ping\",\"args\":null}", NULL, "\"args\" must be an object, not null" },
                { "{\"id\":1,\"op\":\"ping\",\"fds\":1}", NULL, "unknown request key 'fds' (allowed: id, op, args)" },
        };
        char msg[512];
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                json_value *m = parse(cases[i].text, false, msg, sizeof(msg));
                uint64_t id = 77;
                msg[0] = 0;
                int r = m ? request_id_parse(m, &id, msg, sizeof(msg)) : -999;
                if (cases[i].id_msg) {
                        tap_is_int(r, -EINVAL, "%s: refused without an id", cases[i].text);
                        tap_is_str(msg, cases[i].id_msg, "  says why");
                        tap_is_int(id, 77, "  id untouched");
                        json_free(m);
                        continue;
                }
                tap_is_int(r, 0, "%s: id read", cases[i].text);
                const char *op = NULL;
                const json_value *args = NULL;
                r = request_body_parse(m, &op, &args, msg, sizeof(msg));
                if (cases[i].body_msg) {
                        tap_is_int(r, -EINVAL, "  the rest refused (answered with id %llu)", (unsigned long long) id);
                        tap_is_str(msg, cases[i].body_msg, "  says why");
                } else {
                        tap_is_int(r, 0, "  accepted");
                        tap_ok(op && (streq(op, "ping") || streq(op, "memlock.set")), "  op '%s'", op ? op : "");
                }
                json_free(m);
        }
}

/* A request that is not an object (frame_parse() refuses it first: a caller that skips it), refused as frame_parse()
 * does, without reading an array's items or a string's bytes as members */
static void test_request_not_object(void) {
        static const char *const texts[] = { "[]", "[\"id\",1,\"op\",\"ping\"]", "\"id\"", "null", "7" };
        static const char *const types[] = { "array", "array", "string", "null", "number" };
        char msg[512], want[128];
        for (size_t i = 0; i < ELEMENTSOF(texts); i++) {
                _cleanup_json_ json_value *m = NULL;
                if (json_parse(texts[i], strlen(texts[i]), false, &m, NULL) < 0) {
                        tap_ok(false, "%s parses", texts[i]);
                        continue;
                }
                snprintf(want, sizeof(want), "a request must be a JSON object, not %s", types[i]);
                uint64_t id = 77;
                msg[0] = 0;
                tap_is_int(request_id_parse(m, &id, msg, sizeof(msg)), -EINVAL, "%s: no id read", texts[i]);
                tap_is_str(msg, want, "  says what it got");
                const char *op = NULL;
                const json_value *args = NULL;
                msg[0] = 0;
                tap_is_int(request_body_parse(m, &op, &args, msg, sizeof(msg)), -EINVAL, "  nor the rest");
                tap_is_str(msg, want, "  says what it got");
                tap_ok(id == 77 && !op && !args, "  nothing set");
        }
}

/* A key twice (a parse refuses it; a tree made otherwise): the id, the op and the args are each the last one given,
 * as the library's reply_split() takes a reply's */
static void test_request_last_key(void) {
        char msg[512];
        _cleanup_json_ json_value *m = NULL;
        const char *text = "{\"id\":1,\"op\":\"ping\",\"args\":{},\"iD\":2,\"oP\":\"state.get\",\"argS\":{\"x\":1}}";
        tap_is_int(json_parse(text, strlen(text), false, &m, NULL), 0, "a request with each key twice, but for case");
        for (size_t i = 3; m && i < m->object.n; i++) /* now really twice */
                m->object.members[i].key[m->object.members[i].key_len - 1] |= 0x20;
        uint64_t id = 0;
        const char *op = NULL;
        const json_value *args = NULL;
        int ri = m ? request_id_parse(m, &id, msg, sizeof(msg)) : -1;
        tap_ok(ri == 0 && id == 2, "the last id (%llu)", (unsigned long long) id);
        int rb = m ? request_body_parse(m, &op, &args, msg, sizeof(msg)) : -1;
        tap_ok(rb == 0 && op && streq(op, "state.get") && args && args->object.n == 1, "the last op and args (%s)",
               op ? op : "none");
}

int main(void) {
        test_frame();
        test_hello();
        test_resume();
        test_request();
        test_request_not_object();
        test_request_last_key();
        return tap_done();
}
