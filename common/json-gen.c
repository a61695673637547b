/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * json-gen.c - our JSON generator (it replaced yajl's, which does not check
 * its allocations: see json-gen.h), always valid UTF-8, every allocation
 * checked, every buffer erased before it is freed; the erasing allocator
 * the parser hands yajl; and the UTF-8 rules both apply.
 */
#include <pthread.h>
#include <stdio.h>

#include "json-gen.h"

/* --- erasing allocator: every block yajl frees is zeroed first; a scratch's blocks when it is done --- */

typedef struct {
        size_t size;
        size_t pad; /* keeps the payload 16-byte aligned */
} block_hdr;

static size_t round16(size_t n) {
        return (n + 15) & ~(size_t) 15;
}

static bool in_scratch(const json_scratch *s, const void *p) {
        return s && (const unsigned char *) p >= s->buf && (const unsigned char *) p < s->buf + sizeof(s->buf);
}

static void *erasing_malloc(void *ctx, size_t sz) {
        json_scratch *s = ctx;
        size_t need = sizeof(block_hdr) + round16(sz);
        block_hdr *h;
        if (s && need <= sizeof(s->buf) - s->used) {
                h = (block_hdr *) (s->buf + s->used);
                s->used += need;
        } else if (!(h = malloc(sizeof(*h) + sz)))
                return NULL;
        h->size = sz;
        return h + 1;
}

static void erasing_free(void *ctx, void *p) {
        if (!p || in_scratch(ctx, p))
                return; /* erased with the rest of the scratch by its owner */
        block_hdr *h = (block_hdr *) p - 1;
        explicit_bzero(p, h->size);
        free(h);
}

static void *erasing_realloc(void *ctx, void *p, size_t sz) {
        json_scratch *s = ctx;
        if (!p)
                return erasing_malloc(ctx, sz);
        block_hdr *h = (block_hdr *) p - 1;
        /* the last block of the scratch grows in place when there is room */
        if (in_scratch(s, p) && (unsigned char *) p + round16(h->size) == s->buf + s->used &&
            round16(sz) <= sizeof(s->buf) - ((unsigned char *) p - s->buf)) {
                s->used = (size_t) ((unsigned char *) p - s->buf) + round16(sz);
                h->size = sz;
                return p;
        }
        void *n = erasing_malloc(ctx, sz);
        if (!n)
                return NULL;
        memcpy(n, p, h->size < sz ? h->size : sz);
        erasing_free(ctx, p);
        return n;
}

yajl_alloc_funcs json_erasing_alloc(json_scratch *scratch) {
        if (scratch)
                scratch->used = 0;
        return (yajl_alloc_funcs) {
                .malloc = erasing_malloc,
                .realloc = erasing_realloc,
                .free = erasing_free,
                .ctx = scratch,
        };
}

/* --- UTF-8 --- */
/*
 * Length of the well-formed UTF-8 sequence at @s (at most @len bytes) as
 * RFC 3629 defines it: no overlong forms, no encoded surrogates
 * (U+D800-U+DFFF), nothing above U+10FFFF.  0 when it is not one.
 */
static size_t utf8_seq(const unsigned char *s, size_t len) {
        unsigned char c = s[0];
        if (c < 0x80)
                return 1;
        size_t n = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
        if (n == 0 || n > len)
                return 0;
        for (size_t i = 1; i < n; i++)
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
        /* the second byte's range rules out the overlong, surrogate and too-large forms */
        if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f) || (c == 0xf0 && s[1] < 0x90) ||
            (c == 0xf4 && s[1] > 0x8f))
                return 0;
        return n;
}

size_t json_utf8_invalid(const char *s, size_t len) {
        const unsigned char *u = (const unsigned char *) s;
        for (size_t i = 0; i < len;) {
                if (u[i] < 0x80) {
                        i++;
                        continue;
                }
                size_t n = utf8_seq(u + i, len - i);
                if (n == 0)
                        return i;
                i += n;
        }
        return SIZE_MAX;
}

/* --- generator --- */

/*
 * What a level of nesting expects next, as yajl's generator tracks it (the
 * bytes are the same: a ',' before a map's key or an array's item after the
 * first, a ':' before a map's value).  The top level is state[0].
 */
enum {
        ST_START,       /* nothing written yet */
        ST_MAP_START,   /* a map's first key */
        ST_MAP_KEY,     /* a map's next key */
        ST_MAP_VAL,     /* a map's value */
        ST_ARRAY_START, /* an array's first item */
        ST_IN_ARRAY,    /* an array's next item */
        ST_COMPLETE,    /* the top-level value is written */
};
#define GEN_MAX_DEPTH 128 /* yajl's YAJL_MAX_DEPTH: 127 containers deep at most */

struct json_gen {
        char *buf; /* NULL until the first write */
        size_t len, cap;
        int err; /* the first failure, kept */
        unsigned depth;
        uint8_t state[GEN_MAX_DEPTH];
};

/* after a value at the level: what comes next there */
static const uint8_t after_value[] = {
        [ST_START] = ST_COMPLETE,     [ST_MAP_START] = ST_MAP_VAL,    [ST_MAP_KEY] = ST_MAP_VAL,
        [ST_MAP_VAL] = ST_MAP_KEY,    [ST_ARRAY_START] = ST_IN_ARRAY, [ST_IN_ARRAY] = ST_IN_ARRAY,
        [ST_COMPLETE] = ST_COMPLETE,
};
/* what is written before a value at the level */
static const char separator[] = {
        [ST_MAP_KEY] = ',', [ST_MAP_VAL] = ':', [ST_IN_ARRAY] = ',', [ST_COMPLETE] = 0,
};

/* yajl's first buffer: a plain string costs it its length, so most replies fit; state.get's, and those
 * with many items or strings to escape, grow it */
#define GEN_INIT_SIZE 2048

static void gen_reset(json_gen *g) {
        if (g->buf)
                explicit_bzero(g->buf, g->len);
        g->len = 0;
        g->err = 0;
        g->depth = 0;
        g->state[0] = ST_START;
}

/* Keep @err as @g's failure (the first one only) and drop what it wrote; false. */
static bool gen_fail(json_gen *g, int err) {
        if (g->buf)
                explicit_bzero(g->buf, g->len);
        g->len = 0;
        if (!g->err)
                g->err = err;
        return false;
}

/*
 * A buffer with room for @want more bytes: a new one, twice as big (or
 * more), the text copied over and the old one erased and freed; there is
 * no realloc(), which would leave the old copy unerased.  False (and @g
 * failed) without memory.
 */
static __attribute__((noinline)) bool gen_grow(json_gen *g, size_t want) {
        size_t cap = g->cap ? g->cap : GEN_INIT_SIZE;
        while (cap - g->len < want) {
                if (cap > SIZE_MAX / 2)
                        return gen_fail(g, -ENOMEM);
                cap *= 2;
        }
        char *n = malloc(cap);
        if (!n)
                return gen_fail(g, -ENOMEM);
        if (g->buf) {
                memcpy(n, g->buf, g->len);
                explicit_bzero(g->buf, g->len);
                free(g->buf);
        }
        g->buf = n;
        g->cap = cap;
        return true;
}

static inline bool gen_room(json_gen *g, size_t want) {
        return __builtin_expect(g->cap - g->len >= want, 1) || gen_grow(g, want);
}

/*
 * Ready for a value of @want bytes (a key if @key) at the current level,
 * its separator written; false (and nothing written) when @g failed
 * before or fails now.
 */
static bool gen_begin(json_gen *g, bool key, size_t want) {
        if (g->err)
                return false;
        uint8_t st = g->state[g->depth];
        if (st == ST_COMPLETE || (!key && (st == ST_MAP_START || st == ST_MAP_KEY)))
                return gen_fail(g, -EINVAL);
        if (!gen_room(g, want + 1))
                return false;
        if (separator[st])
                g->buf[g->len++] = separator[st];
        return true;
}

static void gen_end(json_gen *g) {
        g->state[g->depth] = after_value[g->state[g->depth]];
}

static void gen_raw(json_gen *g, const char *s, size_t len) {
        if (!gen_begin(g, false, len))
                return;
        memcpy(g->buf + g->len, s, len);
        g->len += len;
        gen_end(g);
}

static void gen_open(json_gen *g, char c, uint8_t st) {
        if (!gen_begin(g, false, 1))
                return;
        if (g->depth + 1 >= GEN_MAX_DEPTH) {
                gen_fail(g, -EINVAL);
                return;
        }
        g->buf[g->len++] = c;
        g->state[++g->depth] = st;
}

/* a close that matches the open (@a, @b: the level's states) and leaves no key without its value */
static void gen_close(json_gen *g, char c, uint8_t a, uint8_t b) {
        if (g->err)
                return;
        uint8_t st = g->state[g->depth];
        if (g->depth == 0 || (st != a && st != b)) {
                gen_fail(g, -EINVAL);
                return;
        }
        if (!gen_room(g, 1))
                return;
        g->buf[g->len++] = c;
        g->depth--;
        gen_end(g);
}

void json_gen_map_open(json_gen *g) {
        gen_open(g, '{', ST_MAP_START);
}

void json_gen_map_close(json_gen *g) {
        gen_close(g, '}', ST_MAP_START, ST_MAP_KEY);
}

void json_gen_array_open(json_gen *g) {
        gen_open(g, '[', ST_ARRAY_START);
}

void json_gen_array_close(json_gen *g) {
        gen_close(g, ']', ST_ARRAY_START, ST_IN_ARRAY);
}

void json_gen_number(json_gen *g, const char *s, size_t len) {
        gen_raw(g, s, len);
}

/*
 * Each byte of a string's @len at @s as yajl_string_encode() writes it
 * (without '/' escaped), except that a byte not starting a well-formed
 * UTF-8 sequence becomes U+FFFD: the escapes are all ASCII, so replacing
 * first and escaping after, as we did with yajl, gives the same bytes.  In
 * pieces of GEN_STR_PIECE bytes, for each of which the room for one byte
 * out per byte in and the closing quote is made first: what writes more
 * (an escape, 6 bytes for one; U+FFFD, 3; a sequence that runs past the
 * piece's end) makes room for the rest itself (str_room()), so a plain
 * string costs the buffer no more than its length.
 */
#define GEN_STR_PIECE 512

/* Whether the 8 bytes at @s are all written as they are: none below 0x20, '"', '\\' or from 0x80 on. */
static inline bool plain8(const unsigned char *s) {
        const uint64_t ones = 0x0101010101010101u, high = 0x8080808080808080u;
        uint64_t w, q, b;
        memcpy(&w, s, 8);
        q = w ^ (ones * '"');
        b = w ^ (ones * '\\');
        /* a byte below 0x20 borrows (w - 0x20 in it has its high bit while w's is clear); a byte
         * equal to '"' or '\\' is a zero byte of q or b, found the same way; then the high bits */
        return !((((w - ones * 0x20) & ~w) | ((q - ones) & ~q) | ((b - ones) & ~b) | w) & high);
}

/* The escape of @c (a control character, '"' or '\\') at @o, as yajl writes it; past its end. */
static char *put_escaped(char *o, unsigned char c) {
        static const char hex[] = "0123456789ABCDEF";
        *o++ = '\\';
        switch (c) {
        case '"':
        case '\\':
                *o++ = (char) c;
                break;
        case '\b':
                *o++ = 'b';
                break;
        case '\f':
                *o++ = 'f';
                break;
        case '\n':
                *o++ = 'n';
                break;
        case '\r':
                *o++ = 'r';
                break;
        case '\t':
                *o++ = 't';
                break;
        default:
                memcpy(o, "u00", 3);
                o[3] = hex[c >> 4];
                o[4] = hex[c & 0xf];
                o += 5;
        }
        return o;
}

/*
 * @o, in @g's buffer, with room after it for @out bytes, the @left bytes
 * of the piece still to come and the closing quote: @o again, or where it
 * is in a grown buffer (@g's length is set to @o's offset first, so that
 * the growth copies what is written); NULL when @g failed.
 */
static char *str_room(json_gen *g, char *o, size_t out, size_t left) {
        g->len = (size_t) (o - g->buf);
        if (!gen_room(g, out + left + 1))
                return NULL;
        return g->buf + g->len;
}

void json_gen_strn(json_gen *g, const char *str, size_t len) {
        const unsigned char *s = (const unsigned char *) str;
        if (!gen_begin(g, true, 2))
                return;
        char *o = g->buf + g->len;
        *o++ = '"';
        for (size_t i = 0; i < len;) {
                size_t end = len - i < GEN_STR_PIECE ? len : i + GEN_STR_PIECE;
                if (!(o = str_room(g, o, 0, end - i)))
                        return;
                while (i < end) {
                        if (end - i >= 8 && plain8(s + i)) {
                                memcpy(o, s + i, 8);
                                o += 8;
                                i += 8;
                                continue;
                        }
                        unsigned char c = s[i];
                        if (c >= 0x80) {
                                /* a sequence starting before @end may end after it */
                                size_t n = utf8_seq(s + i, len - i), in = n ? n : 1;
                                if (!(o = str_room(g, o, n ? n : 3, end > i + in ? end - i - in : 0)))
                                        return;
                                if (n == 0) {
                                        memcpy(o, "\xef\xbf\xbd", 3);
                                        o += 3;
                                        i++;
                                } else {
                                        memcpy(o, s + i, n);
                                        o += n;
                                        i += n;
                                }
                                continue;
                        }
                        i++;
                        if (c >= 0x20 && c != '"' && c != '\\') {
                                *o++ = (char) c;
                                continue;
                        }
                        if (!(o = str_room(g, o, 6, end - i)))
                                return;
                        o = put_escaped(o, c);
                }
        }
        *o++ = '"';
        g->len = (size_t) (o - g->buf);
        gen_end(g);
}

void json_gen_str(json_gen *g, const char *s) {
        json_gen_strn(g, s, strlen(s));
}

/*
 * Each thread keeps its last generator for its next json_gen_new(): no
 * allocation then, neither of the generator nor of its first buffer.  What
 * it wrote is erased before it is kept (the rest of its buffer was never
 * written since the last erasure); a buffer that outgrew GEN_KEEP_MAX is
 * erased and freed, not kept.  The kept one is freed when the thread ends
 * (libdelegate.so is linked -z nodelete for it: that destructor must
 * outlive a dlclose()); the key's value only marks the thread as having
 * one, the generator itself is in gen_kept.
 */
#define GEN_KEEP_MAX 4096

static pthread_key_t gen_key;
static pthread_once_t gen_once = PTHREAD_ONCE_INIT;
static bool gen_key_ok;
static _Thread_local json_gen *gen_kept;
static _Thread_local bool gen_key_set;

static void gen_destroy(json_gen *g) {
        if (!g)
                return;
        if (g->buf) {
                explicit_bzero(g->buf, g->len);
                free(g->buf);
        }
        free(g);
}

static void gen_key_free(void *unused) {
        (void) unused;
        json_gen *g = gen_kept;
        gen_kept = NULL;
        gen_key_set = false;
        gen_destroy(g);
}

static void gen_key_init(void) {
        gen_key_ok = pthread_key_create(&gen_key, gen_key_free) == 0;
}

json_gen *json_gen_new(void) {
        json_gen *g = gen_kept;
        if (g) {
                gen_kept = NULL;
                return g;
        }
        g = malloc(sizeof(*g));
        if (!g)
                return NULL;
        *g = (json_gen) { .buf = NULL };
        return g;
}

/* The thread's generator can be kept: its key is set (the value only makes its destructor run). */
static bool gen_keep_ready(void) {
        if (gen_key_set)
                return true;
        (void) pthread_once(&gen_once, gen_key_init);
        gen_key_set = gen_key_ok && pthread_setspecific(gen_key, &gen_key) == 0;
        return gen_key_set;
}

void json_gen_free(json_gen *g) {
        if (!g)
                return;
        if (gen_kept || !gen_keep_ready()) {
                gen_destroy(g);
                return;
        }
        gen_reset(g);
        if (g->cap > GEN_KEEP_MAX) {
                free(g->buf); /* erased by gen_reset() */
                g->buf = NULL;
                g->cap = 0;
        }
        gen_kept = g;
}

void json_gen_freep(json_gen **g) {
        json_gen_free(*g);
}

int json_gen_take(json_gen *g, char **ret, size_t *ret_len) {
        int r = g->err;
        char *s = NULL;
        /* an open container, or no value at all: not a JSON text */
        if (r == 0 && (g->depth != 0 || g->state[0] != ST_COMPLETE))
                r = -EINVAL;
        if (r == 0 && !(s = malloc(g->len + 1)))
                r = -ENOMEM;
        if (r == 0) {
                if (g->len)
                        memcpy(s, g->buf, g->len);
                s[g->len] = 0;
                *ret = s;
                if (ret_len)
                        *ret_len = g->len;
        }
        gen_reset(g);
        return r;
}

/* "00" to "99": two digits a division */
static const char digit_pairs[201] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
                                     "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
                                     "8081828384858687888990919293949596979899";

size_t json_format_u64(char buf[static JSON_U64_MAX], uint64_t v) {
        /* the length first (compares, not divisions), then the digits from the end straight into @buf */
        size_t n = 1;
        for (uint64_t t = 10; n < JSON_U64_MAX && v >= t; t *= 10)
                n++;
        char *p = buf + n;
        while (v >= 100) {
                unsigned r = (unsigned) (v % 100);
                v /= 100;
                p -= 2;
                memcpy(p, digit_pairs + 2 * r, 2);
        }
        if (v >= 10)
                memcpy(p - 2, digit_pairs + 2 * v, 2);
        else
                p[-1] = (char) ('0' + v);
        return n;
}

void json_gen_u64(json_gen *g, uint64_t v) {
        char buf[JSON_U64_MAX];
        gen_raw(g, buf, json_format_u64(buf, v));
}

void json_gen_i64(json_gen *g, int64_t v) {
        char buf[JSON_U64_MAX + 1];
        size_t n = 0;
        if (v < 0)
                buf[n++] = '-';
        n += json_format_u64(buf + n, v < 0 ? -(uint64_t) v : (uint64_t) v);
        gen_raw(g, buf, n);
}

void json_gen_bool(json_gen *g, bool b) {
        if (b)
                gen_raw(g, "true", 4);
        else
                gen_raw(g, "false", 5);
}

void json_gen_null(json_gen *g) {
        gen_raw(g, "null", 4);
}

void json_gen_kv_str(json_gen *g, const char *k, const char *v) {
        json_gen_str(g, k);
        json_gen_str(g, v);
}

void json_gen_kv_u64(json_gen *g, const char *k, uint64_t v) {
        json_gen_str(g, k);
        json_gen_u64(g, v);
}

void json_gen_kv_i64(json_gen *g, const char *k, int64_t v) {
        json_gen_str(g, k);
        json_gen_i64(g, v);
}

void json_gen_kv_bool(json_gen *g, const char *k, bool v) {
        json_gen_str(g, k);
        json_gen_bool(g, v);
}
