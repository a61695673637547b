/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-json.c - the JSON tree of common/json.c and json-parse.c: round
 * trips through json_dump(), source positions, strict integer conversion,
 * the exact line and column of every class of malformed input (with and
 * without JSON_PARSE_NO_POSITIONS), a message's parse (json-parse.c's own
 * reader, which yajl's parser must not have to read again) against yajl's,
 * values taken out of their tree, and the generators a thread reuses.
 */
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "json-equal.h"
#include "json-arena.h"
#include "json.h"
#include "json-parse-stats.h"
#include "tap.h"

static json_value *parse(const char *text, bool comments) {
        json_value *v = NULL;
        json_parse_error e;
        if (json_parse(text, strlen(text), comments, &v, &e) < 0) {
                tap_diag("unexpected parse failure at %u:%u: %s", e.line, e.column, e.message);
                return NULL;
        }
        return v;
}

/* parse -> dump -> parse gives an equal tree, and dumping again is stable. */
static void round_trip(const char *text, const char *what) {
        _cleanup_json_ json_value *a = parse(text, false), *b = NULL;
        _cleanup_free_ char *d1 = NULL, *d2 = NULL;
        json_parse_error e;
        int r = -1;

        if (a && json_dump(a, &d1) == 0)
                r = json_parse(d1, strlen(d1), false, &b, &e);
        tap_ok(r == 0 && json_tree_equal(a, b, true), "round trip: %s", what);
        if (b && json_dump(b, &d2) == 0)
                tap_is_str(d2, d1, "round trip: %s: second dump is identical", what);
        else
                tap_ok(false, "round trip: %s: second dump", what);
}

/* @text fails with -EINVAL at LINE:COLUMN and a message containing @msg. */
static void bad_len(const char *text, size_t len, bool comments, unsigned line, unsigned column, const char *msg,
                    const char *what) {
        json_value *v = (json_value *) 0x1;
        json_parse_error e = {};
        char got[32], want[32];

        int r = json_parse(text, len, comments, &v, &e);
        tap_is_int(r, -EINVAL, "%s: rejected", what);
        snprintf(got, sizeof(got), "%u:%u", e.line, e.column);
        snprintf(want, sizeof(want), "%u:%u", line, column);
        tap_is_str(got, want, "%s: position", what);
        tap_has_str(e.message, msg, "%s: message", what);
        tap_ok(v == (json_value *) 0x1, "%s: *ret untouched", what);
        if (r == 0 && v != (json_value *) 0x1)
                json_free(v);

        /* a message's parse, which does not locate each token, says the same */
        json_parse_error e2 = {};
        v = NULL;
        r = json_parse_flags(text, len, (comments ? JSON_PARSE_COMMENTS : 0) | JSON_PARSE_NO_POSITIONS, &v, &e2);
        tap_ok(r == -EINVAL && e2.line == e.line && e2.column == e.column && streq(e2.message, e.message),
               "%s: the same without positions (%u:%u %s)", what, e2.line, e2.column, e2.message);
        if (r == 0)
                json_free(v);
}

static void bad(const char *text, unsigned line, unsigned column, const char *msg, const char *what) {
        bad_len(text, strlen(text), false, line, column, msg, what);
}

static void test_round_trips(void) {
        round_trip("{\"a\":{\"b\":[1,2,{\"c\":null}],\"d\":true,\"e\":false},\"o\":{},\"l\":[],\"x\":[[[]]]}",
                   "nested objects and arrays");
        round_trip("[\"tab\\tnl\\nq\\\"bs\\\\sl\\/\",\"\\u00e9\\u4e2d\\ud83d\\ude00\",\"ctl\\u0001\\u001f\\b\\f\\r\",\"\"]",
                   "strings with escapes and unicode");
        round_trip("[0,-1,1.5,-2.5e-3,1E10,18446744073709551615,-9223372036854775808,123456789012345678901234567890]",
                   "numbers");
        round_trip("\"top-level string\"", "top-level scalar");

        /* escapes decode to the right bytes */
        _cleanup_json_ json_value *v = parse("[\"q\\\"b\\\\s\\/n\\n\\u00e9\\ud83d\\ude00\\u0001\"]", false);
        const char want[] = "q\"b\\s/n\n\xc3\xa9\xf0\x9f\x98\x80\x01";
        tap_ok(v && v->array.n == 1 && v->array.items[0]->type == JSON_STRING &&
                       v->array.items[0]->string.len == sizeof(want) - 1 &&
                       memcmp(v->array.items[0]->string.str, want, sizeof(want) - 1) == 0,
               "escapes and surrogate pairs decode to UTF-8");

        /* big numbers keep their text exactly */
        _cleanup_json_ json_value *n = parse("{\"max\": 18446744073709551615}", false);
        _cleanup_free_ char *d = NULL;
        tap_ok(n && json_dump(n, &d) == 0 && d && streq(d, "{\"max\":18446744073709551615}"),
               "18446744073709551615 dumps as written");
        uint64_t u = 0;
        tap_ok(n && json_to_u64(json_get(n, "max"), &u) == 0 && u == UINT64_MAX,
               "18446744073709551615 converts to UINT64_MAX");
}

static void test_positions(void) {
        const char *text = "{\n"
                           "  \"a\": [1,\n"
                           "    true],\n"
                           "\t\"b\" :\"x\"\n"
                           "}";
        _cleanup_json_ json_value *v = parse(text, false);
        if (!v || v->type != JSON_OBJECT || v->object.n != 2) {
                tap_ok(false, "positions: document parses");
                return;
        }
        json_value *a = json_get(v, "a"), *b = json_get(v, "b");
        tap_ok(v->line == 1 && v->column == 1, "positions: root at 1:1");
        tap_ok(v->object.members[0].line == 2 && v->object.members[0].column == 3, "positions: key \"a\" at 2:3");
        tap_ok(a && a->line == 2 && a->column == 8, "positions: array at 2:8");
        tap_ok(a && a->array.n == 2 && a->array.items[0]->line == 2 && a->array.items[0]->column == 9 &&
                       a->array.items[1]->line == 3 && a->array.items[1]->column == 5,
               "positions: items at 2:9 and 3:5");
        tap_ok(v->object.members[1].line == 4 && v->object.members[1].column == 2, "positions: key \"b\" at 4:2");
        tap_ok(b && b->line == 4 && b->column == 7, "positions: string at 4:7");

        /* comments are skipped when locating values */
        _cleanup_json_ json_value *c = parse("// lead\n{\"a\": /* c */ 5, /* d */ \"b\": 6}", true);
        json_value *ca = json_get(c, "a"), *cb = json_get(c, "b");
        tap_ok(c && c->line == 2 && c->column == 1 && ca && ca->line == 2 && ca->column == 15 && cb &&
                       c->object.members[1].line == 2 && c->object.members[1].column == 26 && cb->column == 31,
               "positions: comments skipped (2:1, 2:15, key 2:26, value 2:31)");
}

static void test_integers(void) {
        static const struct {
                const char *text;
                int r;
                uint64_t v;
        } u[] = {
                { "0", 0, 0 },
                { "42", 0, 42 },
                { "-0", 0, 0 },
                { "9999999999999999999", 0, 9999999999999999999ULL }, /* 19 digits: the most read without strtoull() */
                { "18446744073709551615", 0, UINT64_MAX },
                { "18446744073709551616", -ERANGE, 0 },
                { "99999999999999999999999", -ERANGE, 0 },
                { "-1", -ERANGE, 0 },
                { "-18446744073709551615", -ERANGE, 0 },
                { "1.0", -EINVAL, 0 },
                { "0.5", -EINVAL, 0 },
                { "1e3", -EINVAL, 0 },
                { "1E3", -EINVAL, 0 },
                { "1e-0", -EINVAL, 0 },
        };
        static const struct {
                const char *text;
                int r;
                int64_t v;
        } s[] = {
                { "0", 0, 0 },
                { "-42", 0, -42 },
                { "9223372036854775807", 0, INT64_MAX },
                { "-9223372036854775808", 0, INT64_MIN },
                { "9223372036854775808", -ERANGE, 0 },
                { "-9223372036854775809", -ERANGE, 0 },
                { "18446744073709551615", -ERANGE, 0 },
                { "2.5", -EINVAL, 0 },
                { "-1.0", -EINVAL, 0 },
                { "-1e2", -EINVAL, 0 },
                { "5E0", -EINVAL, 0 },
        };

        for (size_t i = 0; i < ELEMENTSOF(u); i++) {
                _cleanup_json_ json_value *v = parse(u[i].text, false);
                uint64_t x = 7;
                int r = v ? json_to_u64(v, &x) : -999;
                tap_ok(r == u[i].r && x == (u[i].r == 0 ? u[i].v : 7), "json_to_u64(%s) = %d, %" PRIu64, u[i].text,
                       u[i].r, u[i].r == 0 ? u[i].v : 7);
                if (r != u[i].r)
                        tap_diag("  got %d, %" PRIu64, r, x);
        }
        for (size_t i = 0; i < ELEMENTSOF(s); i++) {
                _cleanup_json_ json_value *v = parse(s[i].text, false);
                int64_t x = 7;
                int r = v ? json_to_i64(v, &x) : -999;
                tap_ok(r == s[i].r && x == (s[i].r == 0 ? s[i].v : 7), "json_to_i64(%s) = %d, %" PRIi64, s[i].text,
                       s[i].r, s[i].r == 0 ? s[i].v : 7);
                if (r != s[i].r)
                        tap_diag("  got %d, %" PRIi64, r, x);
        }

        /* not a number at all */
        _cleanup_json_ json_value *str = parse("\"5\"", false), *nul = parse("null", false);
        uint64_t x;
        int64_t y;
        tap_is_int(json_to_u64(str, &x), -EINVAL, "json_to_u64 of a string is -EINVAL");
        tap_is_int(json_to_i64(nul, &y), -EINVAL, "json_to_i64 of null is -EINVAL");
        tap_is_int(json_to_u64(NULL, &x), -EINVAL, "json_to_u64 of NULL is -EINVAL");
}

static void test_malformed(void) {
        /* syntax errors point at the first byte of the token yajl choked on */
        bad("{\"a\":1,}", 1, 8, "invalid object key", "trailing comma in object");
        bad("{\"a\" 1}", 1, 6, "separated by a colon", "missing colon");
        bad("[true false]", 1, 7, "after array element", "missing comma");
        bad("[01]", 1, 3, "after array element", "leading zero");
        bad("[1.]", 1, 2, "malformed number", "no digit after the point");
        bad("{\"a\":\n  [1,\n   {\"b\": x}]}", 3, 10, "invalid char", "bad character on line 3");
        bad("tru", 1, 1, "invalid string", "truncated literal");
        bad("[1,\n tru", 2, 2, "invalid string", "truncated literal at the end");
        bad("[\"a\x01\"]", 1, 2, "invalid character inside string", "control character in a string");
        /* premature end: the end of the text, also after a number yajl completes last */
        bad("[1,2", 1, 5, "premature EOF", "unterminated array");
        bad("{\"a\":\n", 2, 1, "premature EOF", "object without a value");
        bad("\"abc", 1, 1, "premature EOF", "unterminated string");

        /* trailing garbage */
        bad("{} x", 1, 4, "trailing garbage", "trailing garbage");
        bad("{}\n  x", 2, 3, "trailing garbage", "trailing garbage on the next line");
        bad("[1] [2]", 1, 5, "trailing garbage", "two documents");
        bad("{\"a\":1}}", 1, 8, "trailing garbage", "extra closing brace");
        bad("1 2", 1, 3, "trailing garbage", "two numbers");
        /* the start of a token after the document: only finishing the parse finds it */
        bad("{}/", 1, 3, "trailing garbage", "a '/' after the object");
        bad("[1]*", 1, 4, "trailing garbage", "a '*' after the array");
        bad("{}/*}", 1, 3, "trailing garbage", "a comment's start after the object, a '}' last");
        /* a string or comment not closed after the document: yajl's lexer waits for its end, and takes the text */
        bad("{}\"abc", 1, 3, "trailing garbage", "an unclosed string after the object");
        bad("[1]\n  \"x\\u", 2, 3, "trailing garbage", "an unclosed string after the array, on the next line");
        bad("5\"/}", 1, 2, "trailing garbage", "an unclosed string after a number");
        bad("true \"", 1, 6, "trailing garbage", "a quote after true");
        bad("{\"id\":1,\"op\":\"ping\"}\"", 1, 21, "trailing garbage", "a quote after a request");
        bad_len("{} /* c */ /* d", 15, true, 1, 12, "trailing garbage", "an unclosed comment after a closed one");
        bad_len("[1] /* c\n\"x", 11, true, 1, 5, "trailing garbage", "a string in an unclosed comment");
        json_value *t = NULL;
        tap_ok(json_parse("{} /* c */ // d\n\t/**/ ", 21, true, &t, NULL) == 0 && t, "comments after the object");
        json_free(t);

        /* duplicate keys: the second one's position, the first one's in the message */
        bad("{\"a\":1,\"b\":2,\n \"a\":3}", 2, 2, "duplicate key 'a' (first at line 1, column 2)", "duplicate key");
        bad("{\"o\": {\n  \"kk\": 1,\n  \"kk\": 2}}", 3, 3, "duplicate key 'kk' (first at line 2, column 3)",
            "duplicate key in a nested object");

        /* yajl's lexer takes \v and \f for blanks, RFC 8259 does not: refused, but inside a comment */
        bad("{\"a\":\v1}", 1, 6, "a vertical tab is not a JSON blank", "a vertical tab between tokens");
        bad("[1,\n2]\f", 2, 3, "a form feed is not a JSON blank", "a form feed after the document");
        json_value *c = NULL;
        tap_is_int(json_parse("[1] /* \f */", 11, true, &c, NULL), 0, "a form feed inside a comment (comments allowed)");
        json_free(c);

        /* NUL characters */
        bad("[\"x\\u0000y\"]", 1, 2, "string contains a NUL character", "NUL in a string");
        bad("{\n \"k\\u0000\": 1}", 2, 2, "object key contains a NUL character", "NUL in a key");

        /* nesting */
        char deep[2 * (JSON_MAX_DEPTH + 1) + 2];
        size_t n = 0;
        for (int i = 0; i < JSON_MAX_DEPTH + 1; i++)
                deep[n++] = '[';
        for (int i = 0; i < JSON_MAX_DEPTH + 1; i++)
                deep[n++] = ']';
        deep[n] = 0;
        bad(deep, 1, JSON_MAX_DEPTH + 1, "nesting deeper than 64 levels", "65 nested arrays");
        /* exactly JSON_MAX_DEPTH is fine */
        n = 0;
        for (int i = 0; i < JSON_MAX_DEPTH; i++)
                deep[n++] = '[';
        for (int i = 0; i < JSON_MAX_DEPTH; i++)
                deep[n++] = ']';
        deep[n] = 0;
        json_value *v = NULL;
        json_parse_error e;
        tap_is_int(json_parse(deep, n, false, &v, &e), 0, "64 nested arrays are accepted");
        json_free(v);
        /* mixed objects and arrays, the too-deep one on line 2 */
        char mixed[1024];
        n = 0;
        for (int i = 0; i < JSON_MAX_DEPTH - 1; i++)
                n += snprintf(mixed + n, sizeof(mixed) - n, i % 2 ? "[" : "{\"k\":");
        n += snprintf(mixed + n, sizeof(mixed) - n, "\n  [ {");
        bad(mixed, 2, 5, "nesting deeper than 64 levels", "65 nested mixed containers");

        /* empty documents */
        bad_len("", 0, false, 1, 1, "premature EOF", "empty document");
        bad("  \n ", 2, 2, "premature EOF", "blank document");
        bad_len("// nothing\n", 11, true, 2, 1, "premature EOF", "document of only a comment");

        /* comments only when allowed */
        bad("[1 /* c */]", 1, 4, "comments are not enabled", "block comment without allow_comments");
        bad("// c\n[1]", 1, 1, "comments are not enabled", "line comment without allow_comments");
        _cleanup_json_ json_value *c1 = parse("[1 /* c */, // d\n 2]", true);
        tap_ok(c1 && c1->type == JSON_ARRAY && c1->array.n == 2, "comments accepted with allow_comments");

        /* invalid UTF-8 */
        bad("[\"\xff\"]", 1, 2, "invalid bytes in UTF8 string", "invalid UTF-8 byte");
        bad("[\n\"ab\xc3\"]", 2, 1, "invalid bytes in UTF8 string", "truncated UTF-8 sequence");
        bad("{\"k\xe2\x82\":1}", 1, 2, "invalid bytes in UTF8 string", "invalid UTF-8 in a key");
        /* a valid multi-byte sequence counts as one byte per column (bytes) */
        _cleanup_json_ json_value *u = parse("[\"\xc3\xa9\", 1]", false);
        tap_ok(u && u->array.n == 2 && u->array.items[1]->column == 8, "columns count bytes");
}

/* RFC 3629 UTF-8 only: what the parser refuses, and what the generator never emits. */
static void test_utf8(void) {
        bad("[\"\xc0\xaf\"]", 1, 2, "not valid UTF-8 at byte 0", "overlong '/' (2 bytes)");
        bad("[\"ab\xe0\x80\xaf\"]", 1, 2, "not valid UTF-8 at byte 2", "overlong '/' (3 bytes)");
        bad("[\"\xf0\x80\x80\xaf\"]", 1, 2, "not valid UTF-8 at byte 0", "overlong '/' (4 bytes)");
        bad("[\"\xed\xa0\x80\"]", 1, 2, "not valid UTF-8", "encoded high surrogate U+D800");
        bad("[\"\xed\xbf\xbf\"]", 1, 2, "not valid UTF-8", "encoded low surrogate U+DFFF");
        bad("[\"\\udc00\"]", 1, 2, "not valid UTF-8", "escaped lone low surrogate");
        bad("[\"\xf4\x90\x80\x80\"]", 1, 2, "not valid UTF-8", "U+110000, above U+10FFFF");
        bad("[\"\xf5\x80\x80\x80\"]", 1, 2, "not valid UTF-8", "lead byte 0xf5");
        bad("{\"k\xc0\x80\":1}", 1, 2, "object key is not valid UTF-8 at byte 1", "overlong NUL in a key");
        _cleanup_json_ json_value *v = parse("[\"h\xc3\xb3use \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf\"]", false);
        tap_ok(v && v->array.n == 1, "2-, 3- and 4-byte sequences up to U+10FFFF are accepted");

        /* the generator replaces what is not UTF-8: a message quoting a truncated name stays valid */
        _cleanup_json_gen_ json_gen *g = json_gen_new();
        _cleanup_free_ char *out = NULL;
        json_gen_str(g, "target 'h\xc3' \xed\xa0\x80!");
        tap_ok(json_gen_take(g, &out, NULL) == 0, "a string with invalid UTF-8 is generated");
        tap_is_str(out, "\"target 'h\xef\xbf\xbd' \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd!\"",
                   "each invalid byte became U+FFFD");
        tap_ok(out && json_utf8_invalid(out, strlen(out)) == SIZE_MAX, "the output is valid UTF-8");
}

/* the generator's integers (json_format_u64(), no printf): the extremes, read back exactly */
static void test_gen_integers(void) {
        _cleanup_json_gen_ json_gen *g = json_gen_new();
        _cleanup_free_ char *out = NULL;
        json_gen_array_open(g);
        json_gen_u64(g, 0);
        json_gen_u64(g, 9);
        json_gen_u64(g, 10);
        json_gen_u64(g, UINT64_MAX);
        json_gen_i64(g, -1);
        json_gen_i64(g, INT64_MIN);
        json_gen_i64(g, INT64_MAX);
        json_gen_array_close(g);
        tap_ok(json_gen_take(g, &out, NULL) == 0, "integers generated");
        tap_is_str(out, "[0,9,10,18446744073709551615,-1,-9223372036854775808,9223372036854775807]",
                   "0, 9, 10, UINT64_MAX, -1, INT64_MIN, INT64_MAX in decimal");
        char buf[JSON_U64_MAX];
        tap_ok(json_format_u64(buf, UINT64_MAX) == 20 && memcmp(buf, "18446744073709551615", 20) == 0,
               "json_format_u64: 20 digits for UINT64_MAX, no terminator needed");
        /* each length's ends (10^k - 1, 10^k, 10^k + 1), some digit patterns, against printf */
        unsigned bad = 0, n = 0;
        for (uint64_t t = 1;; t *= 10) {
                const uint64_t vs[] = { t - 1, t, t + 1, t * 2 - 1, t * 9, t / 3 * 7, t + t / 2 };
                for (size_t i = 0; i < ELEMENTSOF(vs); i++) {
                        char want[32], got[JSON_U64_MAX + 1];
                        int wl = snprintf(want, sizeof(want), "%" PRIu64, vs[i]);
                        memset(got, 'x', sizeof(got));
                        size_t gl = json_format_u64(got, vs[i]);
                        n++;
                        if (gl != (size_t) wl || memcmp(got, want, gl) != 0 || (gl < sizeof(got) && got[gl] != 'x'))
                                bad++, tap_diag("json_format_u64(%s): %.*s", want, (int) gl, got);
                }
                if (t > UINT64_MAX / 10)
                        break;
        }
        for (uint64_t v = 0; v < 100000; v++) {
                char want[32], got[JSON_U64_MAX];
                int wl = snprintf(want, sizeof(want), "%" PRIu64, v);
                size_t gl = json_format_u64(got, v);
                n++;
                if (gl != (size_t) wl || memcmp(got, want, gl) != 0)
                        bad++;
        }
        tap_ok(bad == 0, "json_format_u64: %u values (every value below 100000, each length's ends) as printf writes "
                         "them, nothing written after them; %u differ", n, bad);
}

/* JSON_PARSE_NO_POSITIONS: the same tree, every position 0 */
static void test_no_positions(void) {
        const char *text = "{\"a\": [1, {\"b\": \"x\\n\"}], \"c\": null}";
        _cleanup_json_ json_value *a = parse(text, false), *b = NULL;
        json_parse_error e;
        int r = json_parse_flags(text, strlen(text), JSON_PARSE_NO_POSITIONS, &b, &e);
        tap_ok(r == 0 && json_tree_equal(a, b, true), "no positions: the same tree");
        const json_value *inner = b ? json_get(json_get(b, "a")->array.items[1], "b") : NULL;
        tap_ok(b && b->line == 0 && b->column == 0 && b->object.members[1].line == 0 && inner && inner->line == 0 &&
                       inner->column == 0,
               "no positions: values and keys at 0:0");
}

/* big texts: yajl's buffers beyond the scratch on the stack, the arena beyond its first chunk, many children */
static void test_big(void) {
        size_t n = 200000;
        _cleanup_free_ char *t = malloc(n + 64);
        size_t k = 0;
        k += (size_t) sprintf(t + k, "{\"s\":\"");
        while (k < n / 2)
                k += (size_t) sprintf(t + k, "\\\"\\n\\u00e9");
        k += (size_t) sprintf(t + k, "\",\"a\":[");
        for (int i = 0; k < n; i++)
                k += (size_t) sprintf(t + k, "%s{\"k%d\":%d}", i ? "," : "", i, i);
        k += (size_t) sprintf(t + k, "]}");
        _cleanup_json_ json_value *v = parse(t, false);
        const json_value *s = json_get(v, "s"), *a = json_get(v, "a");
        tap_ok(json_is_string(s) && s->string.len > 30000 && memcmp(s->string.str, "\"\n\xc3\xa9\"", 5) == 0,
               "a 100 kB text of escapes decodes (%zu bytes)", s ? s->string.len : 0);
        tap_ok(a && a->type == JSON_ARRAY && a->array.n > 5000 &&
                       json_get(a->array.items[a->array.n - 1], "k0") == NULL &&
                       json_get(a->array.items[a->array.n - 1], t) == NULL && json_get(a->array.items[7], "k7"),
               "an array of %zu objects", a ? a->array.n : 0);
        round_trip(t, "200 kB document");
}

/*
 * A value taken out of its tree (its slot set to NULL, as the broker does
 * with a request's args) outlives the tree, and the tree outlives it: the
 * arena goes with the last of them.  MALLOC_PERTURB_ (meson test) or ASan
 * would show a value read after its memory went back.
 */
static void test_detach(void) {
        for (int order = 0; order < 2; order++) {
                const char *text = "{\"id\":1,\"args\":{\"name\":\"kept\",\"list\":[1,2,3]},\"op\":\"x\"}";
                json_value *m = parse(text, false), *args = NULL;
                for (size_t i = 0; m && i < m->object.n; i++)
                        if (streq(m->object.members[i].key, "args")) {
                                args = m->object.members[i].value;
                                m->object.members[i].value = NULL;
                        }
                if (order == 0) {
                        json_free(m);
                        m = NULL;
                } else {
                        json_free(args);
                        args = NULL;
                }
                json_value *left = order == 0 ? args : m;
                const json_value *x = order == 0 ? json_get(left, "name") : json_get(left, "op");
                tap_ok(json_is_string(x) && streq(x->string.str, order == 0 ? "kept" : "x") &&
                               (order == 1 || json_get(left, "list")->array.n == 3),
                       "%s freed first: the other is whole", order == 0 ? "the tree" : "the detached value");
                json_free(left);
        }
}

/* One misuse of json_free(), in a child: 0 when it returned, else the signal that stopped it. */
static int free_misuse(int how) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid < 0)
                return -1;
        if (pid == 0) {
                json_value *m = parse("{\"a\":{\"x\":1},\"b\":{\"y\":[2,3]}}", false);
                json_value *a = m->object.members[0].value, *b = m->object.members[1].value;
                m->object.members[0].value = NULL;
                if (how == 0) {
                        /* a detached value freed twice, the tree next: the arena would go while b is in use */
                        m->object.members[1].value = NULL;
                        json_free(a);
                        json_free(a);
                        json_free(m);
                        json_free(b);
                } else {
                        /* b freed on its own while still in the tree, then with the tree */
                        json_free(b);
                        json_free(m);
                        json_free(a);
                }
                _exit(0);
        }
        int status;
        if (waitpid(pid, &status, 0) < 0)
                return -1;
        return WIFSIGNALED(status) ? WTERMSIG(status) : 0;
}

/* A value freed twice stops the program (abort, with a message), before the arena goes while in use. */
static void test_free_twice(void) {
        tap_is_int(free_misuse(0), SIGABRT, "a detached value freed twice: abort");
        tap_is_int(free_misuse(1), SIGABRT, "a value freed on its own and with its tree: abort");
}

#define STACK_MARKER "zq-secret-key-7f3a"

/* A failed parse that quotes a key of its text in the error; the error erased by us. */
static __attribute__((noinline)) int parse_dup_key(const char *key) {
        json_value *v = NULL;
        json_parse_error err;
        char text[128];
        int len = snprintf(text, sizeof(text), "{\"%s\":1,\"%s\":2}", key, key);
        int r = json_parse(text, len, false, &v, &err);
        int found = r == -EINVAL && strstr(err.message, key) != NULL;
        explicit_bzero(text, sizeof(text));
        explicit_bzero(&err, sizeof(err));
        return found;
}

/* Where the parse's frame was, now dead: how many copies of the marker are left there. */
static __attribute__((noinline)) int dead_stack_copies(void) {
        char area[64 * 1024];
        /* what the frames below this one left, read through an opaque pointer (not initialised here) */
        char *volatile p = area;
        int n = 0;
        size_t m = strlen(STACK_MARKER);
        for (size_t i = 0; i + m <= sizeof(area); i++)
                if (memcmp(p + i, STACK_MARKER, m) == 0)
                        n++;
        return n;
}

/* The message of a failed parse, on the parse's own stack, is erased before it returns. */
static void test_err_erased(void) {
        /* first a key of no interest: the dynamic linker, binding a function at its first call,
         * saves the vector registers (which may hold bytes of the key just compared) on the stack */
        parse_dup_key("warm-up");
        int quoted = parse_dup_key(STACK_MARKER);
        int left = dead_stack_copies();
        tap_ok(quoted && left == 0, "a duplicate key's message quotes it, and no copy is left on the stack (%d)", left);
}

static void *gen_in_thread(void *arg) {
        _cleanup_json_gen_ json_gen *g = json_gen_new();
        json_gen_str(g, arg);
        char *out = NULL;
        if (json_gen_take(g, &out, NULL) < 0)
                return NULL;
        return out;
}

/*
 * json_gen_new() hands out the thread's last generator again: as new, even
 * after a generation abandoned half-way, or one whose output grew past
 * 4 KiB (the generator is kept, its buffer erased and freed).  A thread's
 * kept generator goes with the thread (ASan's leak check would name it).
 */
static void test_gen_reuse(void) {
        for (int round = 0; round < 3; round++) {
                json_gen *g = json_gen_new();
                json_gen_map_open(g);
                json_gen_kv_str(g, "abandoned", round == 1 ? "x" : "y");
                json_gen_str(g, "items");
                json_gen_array_open(g);
                if (round == 2) {
                        /* a big one: more than the 4 KiB of buffer a kept generator keeps */
                        char big[6000];
                        memset(big, 'b', sizeof(big) - 1);
                        big[sizeof(big) - 1] = 0;
                        json_gen_str(g, big);
                        json_gen_array_close(g);
                        json_gen_map_close(g);
                        _cleanup_free_ char *t = NULL;
                        tap_ok(json_gen_take(g, &t, NULL) == 0 && strlen(t) > 6000, "a 6 kB generation");
                }
                json_gen_freep(&g);
                _cleanup_json_gen_ json_gen *h = json_gen_new();
                _cleanup_free_ char *out = NULL;
                json_gen_array_open(h);
                json_gen_u64(h, 1);
                json_gen_array_close(h);
                int r = json_gen_take(h, &out, NULL);
                tap_ok(r == 0 && out && streq(out, "[1]"), "round %d: the next generator starts afresh (%s)", round,
                       out ? out : "(none)");
        }
        pthread_t t;
        void *res = NULL;
        tap_ok(pthread_create(&t, NULL, gen_in_thread, (void *) "in a thread") == 0 && pthread_join(t, &res) == 0 &&
                       res && streq(res, "\"in a thread\""),
               "a thread's generator");
        free(res);
}

/* @a and @b are the same tree, keys' lengths included, and @b has no position (JSON_PARSE_NO_POSITIONS) */
static bool same_tree(const json_value *a, const json_value *b) {
        if (!json_tree_equal(a, b, true) || b->line != 0 || b->column != 0)
                return false;
        if (a->type == JSON_ARRAY)
                for (size_t i = 0; i < a->array.n; i++)
                        if (!same_tree(a->array.items[i], b->array.items[i]))
                                return false;
        if (a->type == JSON_OBJECT)
                for (size_t i = 0; i < a->object.n; i++) {
                        const json_member *ma = &a->object.members[i], *mb = &b->object.members[i];
                        if (ma->key_len != mb->key_len || mb->line != 0 || mb->column != 0 ||
                            !same_tree(ma->value, mb->value))
                                return false;
                }
        return true;
}

/* A message's parse (JSON_PARSE_NO_POSITIONS: json-parse.c's own reader, or yajl where that gives up)
 * against yajl's with every token located: the same outcome, the same error at the same place, the same tree.
 * The reader takes every valid text without a \u escape: yajl reads none of those, and an invalid one
 * only once (the parse that locates its error) */
static bool message_parse_agrees(const char *text, size_t len) {
        json_value *a = NULL, *b = NULL;
        json_parse_error ea = {}, eb = {};
        int ra = json_parse_flags(text, len, 0, &a, &ea);
        unsigned long before = json_parse_yajl_runs;
        int rb = json_parse_flags(text, len, JSON_PARSE_NO_POSITIONS, &b, &eb);
        unsigned long runs = json_parse_yajl_runs - before;
        bool ok = ra == rb && (ra < 0 ? ea.line == eb.line && ea.column == eb.column && streq(ea.message, eb.message)
                                      : same_tree(a, b));
        if (!memmem(text, len, "\\u", 2))
                ok = ok && runs == (rb == 0 ? 0 : 1);
        if (!ok)
                tap_diag("  '%.*s' (%zu bytes): %d %u:%u '%s' against %d %u:%u '%s' (yajl ran %lu times)",
                         (int) (len > 200 ? 200 : len), text, len, ra, ea.line, ea.column, ea.message, rb, eb.line,
                         eb.column, eb.message, runs);
        json_free(a);
        json_free(b);
        return ok;
}

static void test_messages(void) {
        static const char *const texts[] = {
                "{\"id\":7,\"ok\":true,\"result\":{\"pong\":true,\"api\":1,\"broker\":\"0.1\",\"session\":3,\"policy_generation\":1}}",
                "{\"id\":18446744073709551615,\"op\":\"memlock.set\",\"args\":{\"pid\":0,\"soft\":\"64M\",\"hard\":null}}",
                "{\"type\":\"hello\",\"api\":1,\"client\":\"bench\",\"vm\":\"vm-1\",\"resume\":{\"session\":2,\"token\":\"ab\"}}",
                "{\"id\":1,\"ok\":false,\"error\":{\"code\":\"denied\",\"message\":\"rule \\\"a\\\" \\\\ \\/ \\b\\f\\n\\r\\t\"}}",
                " \t\r\n[ 1 , -0 , 0.5 , -1.5e10 , 1E+2 , 1e-2 , 12345678901234567890123 , true , false , null ] \n",
                "[01]", "[1.]", "[.5]", "[-]", "[+1]", "[1e]", "[1e+]", "[2.e3]", "[-01]", "[1true]", "[0x1]",
                "1", "-2.5", "\"s\"", "true", "null", " 5 ", "1 2", "", "   ", "tru", "nul", "truex", "[nulls]",
                "[]", "{}", "[[]]", "{\"a\":{}}", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "{1:2}", "{\"a\"}", "[1 2]", "{,}",
                "[\"\\u00e9\"]", "[\"\\ud83d\\ude00\"]", "[\"\\ud800\"]", "[\"\\ud800x\"]", "[\"\\udc00\"]", "[\"a\\u0000\"]",
                "[\"\\x\"]", "[\"\\\"]", "[\"\\", "{\"\\u0061\":1,\"a\":2}", "{\"a\\/\":1,\"a/\":2}", "{\"a\":1,\"a\":2}",
                "{\"a\":1,\"b\":{\"a\":2}}", "[\"\xc3\xa9\"]", "{\"\xc3\xa9\":1}", "[\"\xff\"]", "[\"\xc0\xaf\"]",
                "[\"\xed\xa0\x80\"]", "[\"\x7f\"]", "[\"\x01\"]", "[\"a\tb\"]", "{}\v", "\f[]", "[1,\v2]", "[1/*c*/]",
                "// c\n[1]", "{} x", "{}}", "[1]]", "[\"a\":1]", "{\"a\":[1,{\"b\":[]}],\"c\":\"\"}",
        };
        for (size_t t = 0; t < sizeof(texts) / sizeof(texts[0]); t++) {
                const char *text = texts[t];
                size_t n = strlen(text), bad = 0;
                char cut[256];
                /* the text, each of its prefixes, and the text without each one of its bytes */
                for (size_t k = 0; k <= n; k++)
                        bad += !message_parse_agrees(text, k);
                for (size_t k = 0; k < n && n < sizeof(cut); k++) {
                        memcpy(cut, text, k);
                        memcpy(cut + k, text + k + 1, n - k - 1);
                        bad += !message_parse_agrees(cut, n - 1);
                }
                char shown[256];
                size_t m = 0;
                for (size_t k = 0; k < n && m + 1 < sizeof(shown); k++)
                        shown[m++] = text[k] >= 0x20 && text[k] < 0x7f ? text[k] : '.';
                shown[m] = 0;
                tap_ok(bad == 0, "a message's parse agrees with the located one: '%s', its prefixes and cuts", shown);
        }
        /* a byte that is not a blank between tokens, and a raw NUL: the length says where the text ends */
        tap_ok(message_parse_agrees("[1,\0 2]", 7) && message_parse_agrees("[\"a\0b\"]", 7), "NUL bytes");
        /* nesting: JSON_MAX_DEPTH levels are taken, one more is not */
        char deep[4 * JSON_MAX_DEPTH + 8];
        for (int depth = JSON_MAX_DEPTH - 1; depth <= JSON_MAX_DEPTH + 1; depth++) {
                size_t n = 0;
                for (int i = 0; i < depth; i++)
                        n += (size_t) snprintf(deep + n, sizeof(deep) - n, i % 2 ? "[" : "{\"k\":");
                deep[n++] = '1';
                for (int i = depth - 1; i >= 0; i--)
                        deep[n++] = i % 2 ? ']' : '}';
                tap_ok(message_parse_agrees(deep, n), "%d nested containers", depth);
        }
}

/* A 40 kB message of escapes (none \u) and many strings: the arena beyond its first chunk, an array's children
 * beyond the 32 gathered on the stack; an object of 100 members.  The message reader takes both */
static void test_messages_big(void) {
        size_t size = 40 * 1024, k = 0;
        _cleanup_free_ char *big = malloc(size + 64);
        k += (size_t) sprintf(big + k, "{\"s\":\"");
        while (k < size / 2)
                k += (size_t) sprintf(big + k, "a\\\"\\\\\\/\\b\\f\\n\\r\\t");
        k += (size_t) sprintf(big + k, "\",\"list\":[");
        for (int i = 0; k < size; i++)
                k += (size_t) sprintf(big + k, "%s\"%d\\t\\\"\"", i ? "," : "", i);
        k += (size_t) sprintf(big + k, "]}");
        char members[2048];
        size_t m = 0;
        for (int i = 0; i < 100; i++)
                m += (size_t) snprintf(members + m, sizeof(members) - m, "%s\"k%d\":%d", i ? "," : "{", i, i);
        m += (size_t) snprintf(members + m, sizeof(members) - m, "}");
        for (int t = 0; t < 2; t++) {
                const char *text = t ? members : big;
                size_t n = t ? m : k;
                unsigned long runs = json_parse_yajl_runs;
                _cleanup_json_ json_value *v = NULL;
                int r = json_parse_flags(text, n, JSON_PARSE_NO_POSITIONS, &v, NULL);
                runs = json_parse_yajl_runs - runs;
                size_t chunks = 0, items = 0;
                for (const json_arena_chunk *c = v ? v->arena->chunks : NULL; c; c = c->next)
                        chunks++;
                const json_value *list = json_get(v, "list"), *s = json_get(v, "s");
                char want[32];
                uint64_t u;
                /* items: how many are what the text says, each at its place */
                if (t == 0 && list && list->type == JSON_ARRAY && json_is_string(s) &&
                    memcmp(s->string.str, "a\"\\/\b\f\n\r\ta\"", 10) == 0)
                        while (items < list->array.n && (snprintf(want, sizeof(want), "%zu\t\"", items),
                                                         json_is_string(list->array.items[items])) &&
                               streq(list->array.items[items]->string.str, want))
                                items++;
                if (t == 1 && v && v->type == JSON_OBJECT)
                        while (items < v->object.n && (snprintf(want, sizeof(want), "k%zu", items),
                                                       streq(v->object.members[items].key, want)) &&
                               json_to_u64(v->object.members[items].value, &u) == 0 && u == items)
                                items++;
                tap_ok(r == 0 && runs == 0 && message_parse_agrees(text, n) && (t ? items == 100 : items > 1000 && items == list->array.n && chunks > 1),
                       "%s: read without yajl (%d, yajl ran %lu times), as the located parse (%zu %s, %zu chunks)",
                       t ? "an object of 100 members" : "a 40 kB message of escapes", r, runs, items,
                       t ? "members" : "strings in its list", chunks);
        }
}

/* A string of escapes the message reader decodes goes into the arena once: the tree takes less room than the text */
static void test_escapes_decoded_once(void) {
        char text[4096 + 16];
        size_t n = 0;
        n += (size_t) snprintf(text, sizeof(text), "{\"");
        while (n < 1024)
                n += (size_t) snprintf(text + n, sizeof(text) - n, "\\n");
        n += (size_t) snprintf(text + n, sizeof(text) - n, "\":\"");
        while (n < 4096)
                n += (size_t) snprintf(text + n, sizeof(text) - n, "\\t");
        n += (size_t) snprintf(text + n, sizeof(text) - n, "\"}");
        _cleanup_json_ json_value *v = NULL;
        int r = json_parse_flags(text, n, JSON_PARSE_NO_POSITIONS, &v, NULL);
        size_t used = 0;
        for (const json_arena_chunk *c = r == 0 ? v->arena->chunks : NULL; c; c = c->next)
                used += c->used;
        tap_ok(r == 0 && v->object.n == 1 && v->object.members[0].key_len == 511 &&
                       v->object.members[0].value->string.len == 1535 && used > 2046 && used < n,
               "a key and a string of %zu bytes of escapes: %zu bytes of arena", n, used);
}

int main(void) {
        test_messages();
        test_messages_big();
        test_escapes_decoded_once();
        test_round_trips();
        test_no_positions();
        test_big();
        test_detach();
        test_free_twice();
        test_err_erased();
        test_positions();
        test_integers();
        test_malformed();
        test_utf8();
        test_gen_integers();
        test_gen_reuse();
        return tap_done();
}
