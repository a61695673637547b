/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Our generator (json-gen.c) against yajl 2.1's, the one it replaced, as
 * the oracle: the same calls to both, and the texts must be the same bytes.
 * yajl with its default options, as we had it (compact, '/' not escaped, no
 * UTF-8 check); our strings' invalid UTF-8 becomes U+FFFD, one per byte
 * that does not start a well-formed sequence, which we used to do before
 * handing a string to yajl: here the oracle does it with a decoder of its
 * own (code point ranges, not json-gen.c's table of second bytes).
 *
 * Every string of one and two bytes; runs of plain bytes with one other at
 * each offset (the 8-byte fast path and its edges); strings of every escape class, UTF-8
 * sequences valid and not, long ones (over a piece of 512 and over the
 * first 2 KiB buffer); random documents of maps, arrays, strings, integers
 * at their ends, booleans, null and raw numbers, empty containers among
 * them, nested up to yajl's limit; and the calls yajl refuses or lets
 * through into text that is not JSON, which ours refuses with -EINVAL.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <yajl/yajl_gen.h>

#include "json.h"
#include "tap.h"

/* the oracle's UTF-8: the length of the well-formed sequence at @s, by its code point; 0 if none */
static size_t oracle_seq(const unsigned char *s, size_t len) {
        unsigned c = s[0];
        size_t n;
        uint32_t cp, min;
        if (c < 0x80)
                return 1;
        if ((c & 0xe0) == 0xc0)
                n = 2, cp = c & 0x1f, min = 0x80;
        else if ((c & 0xf0) == 0xe0)
                n = 3, cp = c & 0x0f, min = 0x800;
        else if ((c & 0xf8) == 0xf0)
                n = 4, cp = c & 0x07, min = 0x10000;
        else
                return 0;
        if (len < n)
                return 0;
        for (size_t i = 1; i < n; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = cp << 6 | (s[i] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        return n;
}

typedef struct pair {
        json_gen *ours;
        yajl_gen theirs;
        bool refused; /* yajl said no to a call */
} pair;

static void pair_begin(pair *p) {
        p->ours = json_gen_new();
        p->theirs = yajl_gen_alloc(NULL);
        p->refused = false;
        if (!p->ours || !p->theirs) {
                printf("Bail out! no memory\n");
                exit(1);
        }
}

static void theirs(pair *p, yajl_gen_status st) {
        if (st != yajl_gen_status_ok)
                p->refused = true;
}

static void p_map_open(pair *p) {
        json_gen_map_open(p->ours);
        theirs(p, yajl_gen_map_open(p->theirs));
}
static void p_map_close(pair *p) {
        json_gen_map_close(p->ours);
        theirs(p, yajl_gen_map_close(p->theirs));
}
static void p_array_open(pair *p) {
        json_gen_array_open(p->ours);
        theirs(p, yajl_gen_array_open(p->theirs));
}
static void p_array_close(pair *p) {
        json_gen_array_close(p->ours);
        theirs(p, yajl_gen_array_close(p->theirs));
}

static void p_str(pair *p, const unsigned char *s, size_t len) {
        json_gen_strn(p->ours, (const char *) s, len);
        unsigned char *t = malloc(3 * len + 1);
        size_t o = 0;
        if (!t) {
                printf("Bail out! no memory\n");
                exit(1);
        }
        for (size_t i = 0; i < len;) {
                size_t n = oracle_seq(s + i, len - i);
                if (n == 0) {
                        t[o++] = 0xef, t[o++] = 0xbf, t[o++] = 0xbd;
                        i++;
                } else {
                        memcpy(t + o, s + i, n);
                        o += n, i += n;
                }
        }
        theirs(p, yajl_gen_string(p->theirs, t, o));
        free(t);
}

static void p_i64(pair *p, int64_t v) {
        json_gen_i64(p->ours, v);
        theirs(p, yajl_gen_integer(p->theirs, (long long) v));
}

static void p_u64(pair *p, uint64_t v) {
        char b[32];
        json_gen_u64(p->ours, v);
        snprintf(b, sizeof(b), "%" PRIu64, v);
        theirs(p, yajl_gen_number(p->theirs, b, strlen(b)));
}

static void p_bool(pair *p, bool v) {
        json_gen_bool(p->ours, v);
        theirs(p, yajl_gen_bool(p->theirs, v));
}

static void p_null(pair *p) {
        json_gen_null(p->ours);
        theirs(p, yajl_gen_null(p->theirs));
}

static void p_number(pair *p, const char *s) {
        json_gen_number(p->ours, s, strlen(s));
        theirs(p, yajl_gen_number(p->theirs, s, strlen(s)));
}

/*
 * Both texts, compared; -EINVAL from ours when it refused (with @want_refused:
 * yajl refused too, or wrote no JSON); the first few differences shown.
 */
static unsigned n_diff;

static bool pair_end(pair *p, const char *what, unsigned long n) {
        const unsigned char *tb;
        size_t tlen, olen = 0;
        char *out = NULL;
        bool same;
        int r = json_gen_take(p->ours, &out, &olen);
        yajl_gen_get_buf(p->theirs, &tb, &tlen);
        same = r == 0 && !p->refused && olen == tlen && memcmp(out, tb, tlen) == 0;
        if (!same && n_diff++ < 5)
                tap_diag("  %s #%lu: ours %d '%.200s' (%zu), yajl%s '%.200s' (%zu)", what, n, r, out ? out : "",
                         olen, p->refused ? " refused a call" : "", (const char *) tb, tlen);
        free(out);
        json_gen_free(p->ours);
        yajl_gen_free(p->theirs);
        return same;
}

static uint64_t rng = 0x9e3779b97f4a7c15;
static uint64_t rnd(void) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        return rng;
}

/* one code point's UTF-8 at @o; its length */
static size_t put_cp(unsigned char *o, uint32_t cp) {
        if (cp < 0x80)
                return o[0] = (unsigned char) cp, 1;
        if (cp < 0x800)
                return o[0] = (unsigned char) (0xc0 | cp >> 6), o[1] = (unsigned char) (0x80 | (cp & 0x3f)), 2;
        if (cp < 0x10000)
                return o[0] = (unsigned char) (0xe0 | cp >> 12), o[1] = (unsigned char) (0x80 | ((cp >> 6) & 0x3f)),
                       o[2] = (unsigned char) (0x80 | (cp & 0x3f)), 3;
        return o[0] = (unsigned char) (0xf0 | cp >> 18), o[1] = (unsigned char) (0x80 | ((cp >> 12) & 0x3f)),
               o[2] = (unsigned char) (0x80 | ((cp >> 6) & 0x3f)), o[3] = (unsigned char) (0x80 | (cp & 0x3f)), 4;
}

/* a piece of one class at @o (at most 4 bytes); its length */
static size_t piece(unsigned char *o) {
        static const uint32_t edges[] = { 0x80, 0x7ff, 0x800, 0xd7ff, 0xe000, 0xfffd, 0xfffe, 0xffff, 0x10000, 0x10ffff };
        static const char *const bad[] = {
                "\xc0\x80", "\xc1\xbf", "\xe0\x80\x80", "\xe0\x9f\xbf", "\xed\xa0\x80", "\xed\xbf\xbf", "\xf0\x80\x80\x80",
                "\xf0\x8f\xbf\xbf", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xff", "\xfe", "\xc3", "\xe2\x82",
                "\xf0\x9f\x98", "\x80", "\xbf", "\xc3\xc3", "\xe2\x28\xa1",
        };
        switch (rnd() % 12) {
        case 0:
        case 1:
        case 2:
                return o[0] = (unsigned char) (0x20 + rnd() % 95), 1; /* printable ASCII */
        case 3:
                return o[0] = (unsigned char) (rnd() % 32), 1; /* a control character, NUL too */
        case 4: {
                static const char special[] = "\"\\/\x7f";
                return o[0] = (unsigned char) special[rnd() % 4], 1;
        }
        case 5:
                return put_cp(o, (uint32_t) (0x80 + rnd() % (0x800 - 0x80)));
        case 6: {
                uint32_t cp = (uint32_t) (0x800 + rnd() % (0x10000 - 0x800));
                return put_cp(o, cp >= 0xd800 && cp <= 0xdfff ? cp + 0x800 : cp);
        }
        case 7:
                return put_cp(o, (uint32_t) (0x10000 + rnd() % (0x110000 - 0x10000)));
        case 8:
                return put_cp(o, edges[rnd() % (sizeof(edges) / sizeof(edges[0]))]);
        case 9:
        case 10: {
                const char *b = bad[rnd() % (sizeof(bad) / sizeof(bad[0]))];
                size_t n = strlen(b);
                memcpy(o, b, n);
                return n;
        }
        default:
                return o[0] = (unsigned char) (0x80 + rnd() % 128), 1; /* any byte from 0x80 */
        }
}

static void random_str(pair *p) {
        static unsigned char buf[8192 + 4]; /* the longest: 6047, then one piece of 4 at most */
        size_t want, n = 0;
        switch (rnd() % 16) {
        case 0:
                want = 0;
                break;
        case 1:
                want = 400 + rnd() % 800; /* across a piece of 512 */
                break;
        case 2:
                want = rnd() % 16 ? 1 + rnd() % 40 : 2048 + rnd() % 4000; /* past the first buffer */
                break;
        default:
                want = 1 + rnd() % 24;
        }
        while (n < want)
                n += piece(buf + n);
        p_str(p, buf, n);
}

static void random_value(pair *p, unsigned depth, unsigned max_depth) {
        static const int64_t i64s[] = { 0, -1, 1, INT64_MIN, INT64_MAX, INT64_MIN + 1, -9, 10, -10, 99, -100 };
        static const uint64_t u64s[] = { 0, 9, 10, UINT64_MAX, UINT64_MAX - 1, (uint64_t) INT64_MAX + 1, 1000000007 };
        static const char *const numbers[] = { "0", "-0", "1.5", "-2.25e-10", "1E+300", "12345678901234567890123",
                                               "{\"id\":1,\"ok\":true}" };
        unsigned k = (unsigned) (rnd() % (depth < max_depth ? 12 : 9));
        switch (k) {
        case 0:
        case 1:
                random_str(p);
                break;
        case 2:
                p_i64(p, rnd() % 2 ? i64s[rnd() % (sizeof(i64s) / sizeof(i64s[0]))] : (int64_t) rnd());
                break;
        case 3:
                p_u64(p, rnd() % 2 ? u64s[rnd() % (sizeof(u64s) / sizeof(u64s[0]))] : rnd() >> (rnd() % 64));
                break;
        case 4:
                p_bool(p, rnd() % 2);
                break;
        case 5:
                p_null(p);
                break;
        case 6:
                p_number(p, numbers[rnd() % (sizeof(numbers) / sizeof(numbers[0]))]);
                break;
        case 7:
        case 8:
                p_i64(p, (int64_t) (rnd() % 2000) - 1000);
                break;
        case 9:
        case 10: {
                unsigned n = (unsigned) (rnd() % 7);
                p_map_open(p);
                for (unsigned i = 0; i < n; i++) {
                        random_str(p);
                        random_value(p, depth + 1, max_depth);
                }
                p_map_close(p);
                break;
        }
        default: {
                unsigned n = (unsigned) (rnd() % 7);
                p_array_open(p);
                for (unsigned i = 0; i < n; i++)
                        random_value(p, depth + 1, max_depth);
                p_array_close(p);
        }
        }
}

/* every string of one and of two bytes, and of three with each first byte from 0x80 */
static void test_short_strings(void) {
        unsigned long n = 0, bad = 0;
        unsigned char s[3];
        for (unsigned a = 0; a < 256; a++)
                for (unsigned b = 0; b < 257; b++) {
                        pair p;
                        s[0] = (unsigned char) a, s[1] = (unsigned char) b;
                        pair_begin(&p);
                        p_str(&p, s, b == 256 ? 1 : 2);
                        bad += !pair_end(&p, "short string", n++);
                }
        for (unsigned a = 0x80; a < 256; a++)
                for (unsigned i = 0; i < 2000; i++) {
                        pair p;
                        s[0] = (unsigned char) a, s[1] = (unsigned char) rnd(), s[2] = (unsigned char) rnd();
                        pair_begin(&p);
                        p_str(&p, s, 3);
                        bad += !pair_end(&p, "3-byte string", n++);
                }
        tap_ok(bad == 0, "every 1- and 2-byte string, %lu in all with 3-byte ones: the same bytes as yajl (%lu differ)",
               n, bad);
}

/*
 * Runs of 'a' of 0 to 40 bytes (none to five whole 8-byte words, and the
 * tail after them), with one byte that is not written as it is at each
 * offset: the word holding it must leave the fast path (plain8()), the
 * words around it must not lose a byte.
 */
static void test_plain_runs(void) {
        static const unsigned char odd[] = { 0x00, 0x08, 0x1f, '"', '\\', '/', 0x7f, 0x80, 0xc3, 0xff };
        unsigned long n = 0, bad = 0;
        unsigned char s[40];
        for (size_t len = 0; len <= sizeof(s); len++) {
                pair p;
                memset(s, 'a', len);
                pair_begin(&p);
                p_str(&p, s, len);
                bad += !pair_end(&p, "plain run", n++);
                for (size_t k = 0; k < sizeof(odd); k++)
                        for (size_t at = 0; at < len; at++) {
                                memset(s, 'a', len);
                                s[at] = odd[k];
                                pair_begin(&p);
                                p_str(&p, s, len);
                                bad += !pair_end(&p, "plain run", n++);
                        }
        }
        tap_ok(bad == 0, "runs of 0 to 40 'a' with each of 10 bytes at each offset, %lu in all: the same bytes as yajl "
               "(%lu differ)", n, bad);
}

static void test_random_documents(void) {
        unsigned long bad = 0, big = 0;
        const unsigned long count = 20000;
        for (unsigned long n = 0; n < count; n++) {
                pair p;
                pair_begin(&p);
                random_value(&p, 0, n % 50 == 0 ? 12 : 5);
                const unsigned char *tb;
                size_t tlen;
                yajl_gen_get_buf(p.theirs, &tb, &tlen);
                big += tlen > 4096;
                bad += !pair_end(&p, "document", n);
        }
        tap_ok(bad == 0 && big > 0, "%lu random documents (%lu over 4 KiB): the same bytes as yajl (%lu differ)", count,
               big, bad);
}

/* a long array of maps: the buffer grows many times */
static void test_big_document(void) {
        pair p;
        pair_begin(&p);
        p_array_open(&p);
        for (int i = 0; i < 20000; i++) {
                p_map_open(&p);
                p_str(&p, (const unsigned char *) "i", 1);
                p_i64(&p, i);
                p_str(&p, (const unsigned char *) "s", 1);
                random_str(&p);
                p_map_close(&p);
        }
        p_array_close(&p);
        tap_ok(pair_end(&p, "big document", 0), "an array of 20000 maps: the same bytes as yajl");
}

/* 127 levels, yajl's deepest, then one more: yajl refuses it, ours fails with -EINVAL */
static void test_depth(void) {
        pair p;
        pair_begin(&p);
        for (int i = 0; i < 127; i++)
                i % 2 ? p_array_open(&p) : (p_map_open(&p), p_str(&p, (const unsigned char *) "k", 1));
        p_null(&p);
        for (int i = 126; i >= 0; i--)
                i % 2 ? p_array_close(&p) : p_map_close(&p);
        tap_ok(pair_end(&p, "127 deep", 0), "127 levels deep: the same bytes as yajl");

        json_gen *g = json_gen_new();
        yajl_gen y = yajl_gen_alloc(NULL);
        yajl_gen_status st = yajl_gen_status_ok;
        for (int i = 0; i < 128 && st == yajl_gen_status_ok; i++) {
                json_gen_array_open(g);
                st = yajl_gen_array_open(y);
        }
        char *out = NULL;
        tap_ok(st == yajl_max_depth_exceeded && json_gen_take(g, &out, NULL) == -EINVAL && !out,
               "the 128th level: yajl refuses it, ours is -EINVAL");
        json_gen_free(g);
        yajl_gen_free(y);
}

typedef struct misuse {
        const char *what;
        void (*calls)(pair *p);
        bool yajl_refuses; /* else it writes what is not JSON */
} misuse;

static void m_key_int(pair *p) {
        p_map_open(p);
        p_i64(p, 1);
}
static void m_key_map(pair *p) {
        p_map_open(p);
        p_str(p, (const unsigned char *) "a", 1);
        p_null(p);
        p_map_open(p);
}
static void m_two_values(pair *p) {
        p_null(p);
        p_null(p);
}
static void m_after_close(pair *p) {
        p_array_open(p);
        p_array_close(p);
        p_str(p, (const unsigned char *) "x", 1);
}
static void m_key_without_value(pair *p) {
        p_map_open(p);
        p_str(p, (const unsigned char *) "k", 1);
        p_map_close(p);
}
static void m_mismatch(pair *p) {
        p_array_open(p);
        p_map_close(p);
}
static void m_unclosed_map(pair *p) {
        p_map_open(p);
        p_str(p, (const unsigned char *) "k", 1);
        p_null(p);
}
static void m_unclosed_array(pair *p) {
        p_array_open(p);
        p_array_open(p);
        p_array_close(p);
}
static void m_nothing(pair *p) {
        (void) p;
}
static void m_close_nothing(pair *p) {
        p_array_close(p); /* yajl's depth wraps: nothing after it */
}

static void test_misuse(void) {
        static const misuse cases[] = {
                { "an integer for a key", m_key_int, true },
                { "a map for a key", m_key_map, true },
                { "two top-level values", m_two_values, true },
                { "a string after the top-level array", m_after_close, true },
                { "a close with nothing open", m_close_nothing, true },
                { "a map closed after a key", m_key_without_value, false },
                { "an array closed as a map", m_mismatch, false },
                { "a map left open", m_unclosed_map, false },
                { "an array left open", m_unclosed_array, false },
                { "no value at all", m_nothing, false },
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                pair p;
                pair_begin(&p);
                cases[i].calls(&p);
                const unsigned char *tb;
                size_t tlen;
                yajl_gen_get_buf(p.theirs, &tb, &tlen);
                json_value *v = NULL;
                json_parse_error err;
                bool yajl_as_said = cases[i].yajl_refuses ? p.refused
                                                          : !p.refused && json_parse((const char *) tb, tlen, false, &v, &err) < 0;
                json_free(v);
                char *out = NULL;
                int r = json_gen_take(p.ours, &out, NULL);
                tap_ok(r == -EINVAL && !out && yajl_as_said, "%s: ours -EINVAL (%d), yajl %s", cases[i].what, r,
                       cases[i].yajl_refuses ? "refuses it" : "writes what is not JSON");
                /* and the generator, taken, is as new */
                json_gen_array_open(p.ours);
                json_gen_array_close(p.ours);
                r = json_gen_take(p.ours, &out, NULL);
                tap_ok(r == 0 && out && streq(out, "[]"), "  then taken, it starts afresh");
                free(out);
                json_gen_free(p.ours);
                yajl_gen_free(p.theirs);
        }
}

int main(void) {
        test_short_strings();
        test_plain_runs();
        test_random_documents();
        test_big_document();
        test_depth();
        test_misuse();
        return tap_done();
}
