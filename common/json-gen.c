/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * json-gen.c - JSON text out of yajl's generator (always valid UTF-8, every
 * buffer yajl frees erased first), and the UTF-8 rules the parser applies.
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
 * Each thread keeps its last generator for its next json_gen_new():
 * yajl_gen_alloc() is three allocations (the generator, its buffer and the
 * buffer's first 2 KiB), each erased in full when freed.  What a generator
 * wrote is erased before it is kept (the rest of its buffer was never
 * written since the last erasure); one whose output outgrew GEN_KEEP_MAX is
 * freed, not kept with its big buffer.  A thread's kept generator is freed
 * when the thread ends (libdelegate.so is linked -z nodelete for it: that
 * destructor must outlive a dlclose()).
 */
#define GEN_KEEP_MAX 4096

static pthread_key_t gen_key;
static pthread_once_t gen_once = PTHREAD_ONCE_INIT;
static bool gen_key_ok;
static _Thread_local yajl_gen gen_big; /* this thread's generator whose output outgrew GEN_KEEP_MAX */

static void gen_key_free(void *g) {
        yajl_gen_free(g);
}

static void gen_key_init(void) {
        gen_key_ok = pthread_key_create(&gen_key, gen_key_free) == 0;
}

yajl_gen json_gen_new(void) {
        (void) pthread_once(&gen_once, gen_key_init);
        yajl_gen g = gen_key_ok ? pthread_getspecific(gen_key) : NULL;
        if (g && pthread_setspecific(gen_key, NULL) == 0)
                return g;
        yajl_alloc_funcs funcs = json_erasing_alloc(NULL);
        return yajl_gen_alloc(&funcs);
}

/* Erase what @g generated; its length.  Kept out of line: inlined into its caller, GCC
 * at -O2 takes the addresses handed to yajl_gen_get_buf() for pointers
 * stored in @g and warns (-Wdangling-pointer) at the yajl_gen_free() after. */
static __attribute__((noinline)) size_t gen_erase(yajl_gen g) {
        const unsigned char *buf;
        size_t len;
        if (yajl_gen_get_buf(g, &buf, &len) != yajl_gen_status_ok)
                return 0;
        explicit_bzero((void *) buf, len);
        return len;
}

void json_gen_freep(yajl_gen *g) {
        if (!*g)
                return;
        bool big = gen_erase(*g) > GEN_KEEP_MAX || gen_big == *g;
        if (gen_big == *g)
                gen_big = NULL;
        if (!big && gen_key_ok && !pthread_getspecific(gen_key)) {
                /* as new: empty, at the top level (an abandoned generation's nesting dropped) */
                yajl_gen_clear(*g);
                yajl_gen_reset(*g, NULL);
                if (pthread_setspecific(gen_key, *g) == 0)
                        return;
        }
        yajl_gen_free(*g);
}

int json_gen_take(yajl_gen g, char **ret, size_t *ret_len) {
        const unsigned char *buf;
        size_t len;
        if (yajl_gen_get_buf(g, &buf, &len) != yajl_gen_status_ok)
                return -EINVAL;
        char *s = malloc(len + 1);
        if (!s)
                return -ENOMEM;
        memcpy(s, buf, len);
        s[len] = 0;
        explicit_bzero((void *) buf, len);
        yajl_gen_clear(g);
        if (len > GEN_KEEP_MAX)
                gen_big = g; /* its buffer grew: not to be kept */
        *ret = s;
        if (ret_len)
                *ret_len = len;
        return 0;
}

void json_gen_str(yajl_gen g, const char *s) {
        size_t len = strlen(s), bad = json_utf8_invalid(s, len);
        if (bad == SIZE_MAX) {
                yajl_gen_string(g, (const unsigned char *) s, len);
                return;
        }
        /* never emit invalid UTF-8 (a message quoting refused or truncated
         * input): each byte that does not start a valid sequence becomes U+FFFD */
        _cleanup_erase_free_ char *t = malloc(3 * len + 1);
        if (!t) {
                yajl_gen_string(g, (const unsigned char *) "", 0);
                return;
        }
        size_t o = 0;
        for (size_t i = 0; i < len;) {
                size_t n = utf8_seq((const unsigned char *) s + i, len - i);
                if (n == 0) {
                        memcpy(t + o, "\xef\xbf\xbd", 3);
                        o += 3;
                        i++;
                        continue;
                }
                memcpy(t + o, s + i, n);
                o += n;
                i += n;
        }
        t[o] = 0;
        yajl_gen_string(g, (const unsigned char *) t, o);
}

size_t json_format_u64(char buf[static JSON_U64_MAX], uint64_t v) {
        char tmp[JSON_U64_MAX], *p = tmp + sizeof(tmp);
        do
                *--p = (char) ('0' + v % 10);
        while (v /= 10);
        size_t n = (size_t) (tmp + sizeof(tmp) - p);
        memcpy(buf, p, n);
        return n;
}

void json_gen_u64(yajl_gen g, uint64_t v) {
        char buf[JSON_U64_MAX];
        yajl_gen_number(g, buf, json_format_u64(buf, v));
}

void json_gen_i64(yajl_gen g, int64_t v) {
        char buf[JSON_U64_MAX + 1];
        size_t n = 0;
        if (v < 0)
                buf[n++] = '-';
        n += json_format_u64(buf + n, v < 0 ? -(uint64_t) v : (uint64_t) v);
        yajl_gen_number(g, buf, n);
}

void json_gen_bool(yajl_gen g, bool b) {
        yajl_gen_bool(g, b);
}

void json_gen_null(yajl_gen g) {
        yajl_gen_null(g);
}

void json_gen_kv_str(yajl_gen g, const char *k, const char *v) {
        json_gen_str(g, k);
        json_gen_str(g, v);
}

void json_gen_kv_u64(yajl_gen g, const char *k, uint64_t v) {
        json_gen_str(g, k);
        json_gen_u64(g, v);
}

void json_gen_kv_i64(yajl_gen g, const char *k, int64_t v) {
        json_gen_str(g, k);
        json_gen_i64(g, v);
}

void json_gen_kv_bool(yajl_gen g, const char *k, bool v) {
        json_gen_str(g, k);
        json_gen_bool(g, v);
}
