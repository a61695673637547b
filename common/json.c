/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * json.c - JSON tree with positions on top of yajl's event parser.
 *
 * yajl's own tree parser loses positions, and policy errors must name line
 * and column of the offending value, so we build the tree from yajl's
 * callbacks and locate each token by scanning forward from the end of the
 * previous one (skipping blanks, comments, ',' and ':').
 */
#include "json.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <yajl/yajl_parse.h>

/* --- erasing allocator: every block yajl frees is zeroed first --- */

typedef struct {
        size_t size;
        size_t pad; /* keeps the payload 16-byte aligned */
} block_hdr;

static void *erasing_malloc(void *ctx _unused_, size_t sz) {
        block_hdr *h = malloc(sizeof(*h) + sz);
        if (!h)
                return NULL;
        h->size = sz;
        return h + 1;
}

static void erasing_free(void *ctx _unused_, void *p) {
        if (!p)
                return;
        block_hdr *h = (block_hdr *) p - 1;
        explicit_bzero(p, h->size);
        free(h);
}

static void *erasing_realloc(void *ctx, void *p, size_t sz) {
        if (!p)
                return erasing_malloc(ctx, sz);
        block_hdr *h = (block_hdr *) p - 1;
        void *n = erasing_malloc(ctx, sz);
        if (!n)
                return NULL;
        memcpy(n, p, h->size < sz ? h->size : sz);
        erasing_free(ctx, p);
        return n;
}

static yajl_alloc_funcs erasing_funcs = {
        .malloc = erasing_malloc,
        .realloc = erasing_realloc,
        .free = erasing_free,
        .ctx = NULL,
};

/* --- tree --- */

const char *json_type_name(json_type t) {
        switch (t) {
        case JSON_NULL:
                return "null";
        case JSON_BOOL:
                return "boolean";
        case JSON_NUMBER:
                return "number";
        case JSON_STRING:
                return "string";
        case JSON_ARRAY:
                return "array";
        case JSON_OBJECT:
                return "object";
        }
        return "unknown";
}

void json_free(json_value *v) {
        if (!v)
                return;
        switch (v->type) {
        case JSON_NUMBER:
                erase_free(v->number);
                break;
        case JSON_STRING:
                if (v->string.str) {
                        explicit_bzero(v->string.str, v->string.len);
                        free(v->string.str);
                }
                break;
        case JSON_ARRAY:
                for (size_t i = 0; i < v->array.n; i++)
                        json_free(v->array.items[i]);
                free(v->array.items);
                break;
        case JSON_OBJECT:
                for (size_t i = 0; i < v->object.n; i++) {
                        erase_free(v->object.members[i].key);
                        json_free(v->object.members[i].value);
                }
                free(v->object.members);
                break;
        default:
                break;
        }
        explicit_bzero(v, sizeof(*v));
        free(v);
}

json_value *json_get(const json_value *obj, const char *key) {
        if (!obj || obj->type != JSON_OBJECT)
                return NULL;
        for (size_t i = 0; i < obj->object.n; i++)
                if (streq(obj->object.members[i].key, key))
                        return obj->object.members[i].value;
        return NULL;
}

int json_to_u64(const json_value *v, uint64_t *ret) {
        if (!v || v->type != JSON_NUMBER)
                return -EINVAL;
        const char *s = v->number;
        if (*s == '-')
                return streq(s, "-0") ? (*ret = 0, 0) : -ERANGE;
        if (strpbrk(s, ".eE"))
                return -EINVAL;
        errno = 0;
        char *end;
        unsigned long long x = strtoull(s, &end, 10);
        if (errno == ERANGE)
                return -ERANGE;
        if (*end || end == s)
                return -EINVAL;
        *ret = x;
        return 0;
}

int json_to_i64(const json_value *v, int64_t *ret) {
        if (!v || v->type != JSON_NUMBER)
                return -EINVAL;
        if (strpbrk(v->number, ".eE"))
                return -EINVAL;
        errno = 0;
        char *end;
        long long x = strtoll(v->number, &end, 10);
        if (errno == ERANGE)
                return -ERANGE;
        if (*end || end == v->number)
                return -EINVAL;
        *ret = x;
        return 0;
}

/* --- parser --- */

typedef struct parse_ctx {
        yajl_handle h;
        const char *text;
        size_t len;
        size_t prev_end; /* offset just after the previous token */
        /* the last position computed: tokens come in order, so each
         * position is found from the previous one (linear, not quadratic) */
        size_t pos_off;
        unsigned pos_line, pos_column;
        bool finishing;  /* in yajl_complete_parse(): offsets are not ours */
        json_value *root;
        json_value *stack[JSON_MAX_DEPTH];
        size_t depth;
        /* pending object key, set by the map_key callback */
        char *key;
        unsigned key_line, key_column;
        /* error raised by a callback */
        bool failed;
        int error;
        unsigned err_line, err_column;
        char err_message[256];
} parse_ctx;

static void offset_to_pos(const char *text, size_t off, unsigned *line, unsigned *column) {
        unsigned l = 1, c = 1;
        for (size_t i = 0; i < off; i++) {
                if (text[i] == '\n') {
                        l++;
                        c = 1;
                } else
                        c++;
        }
        *line = l;
        *column = c;
}

/* Find where the current token starts: skip blanks, comments, ',' and ':'. */
static size_t token_start(const parse_ctx *p) {
        size_t i = p->prev_end;
        while (i < p->len) {
                char ch = p->text[i];
                if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == ',' || ch == ':') {
                        i++;
                } else if (ch == '/' && i + 1 < p->len && p->text[i + 1] == '/') {
                        while (i < p->len && p->text[i] != '\n')
                                i++;
                } else if (ch == '/' && i + 1 < p->len && p->text[i + 1] == '*') {
                        i += 2;
                        while (i + 1 < p->len && !(p->text[i] == '*' && p->text[i + 1] == '/'))
                                i++;
                        i += 2;
                } else
                        break;
        }
        return i < p->len ? i : p->len;
}

/* Where the token just handed to a callback ends.  yajl_complete_parse()
 * counts the bytes of its own one-byte buffer: a token it completes ends
 * with the text. */
static size_t token_end(const parse_ctx *p) {
        return p->finishing ? p->len : yajl_get_bytes_consumed(p->h);
}

static void locate(parse_ctx *p, unsigned *line, unsigned *column) {
        size_t off = token_start(p);
        if (off < p->pos_off || p->pos_line == 0) {
                p->pos_off = 0;
                p->pos_line = p->pos_column = 1;
        }
        for (; p->pos_off < off; p->pos_off++) {
                if (p->text[p->pos_off] == '\n') {
                        p->pos_line++;
                        p->pos_column = 1;
                } else
                        p->pos_column++;
        }
        *line = p->pos_line;
        *column = p->pos_column;
        p->prev_end = token_end(p);
}

static int fail(parse_ctx *p, int error, unsigned line, unsigned column, const char *fmt, ...) _printf_(5, 6);
static int fail(parse_ctx *p, int error, unsigned line, unsigned column, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->err_message, sizeof(p->err_message), fmt, ap);
        va_end(ap);
        p->failed = true;
        p->error = error;
        p->err_line = line;
        p->err_column = column;
        return 0; /* tells yajl to stop */
}

static int add_value(parse_ctx *p, json_value *v) {
        if (p->depth == 0) {
                p->root = v;
                return 1;
        }
        json_value *parent = p->stack[p->depth - 1];
        if (parent->type == JSON_ARRAY) {
                json_value **n = realloc(parent->array.items, (parent->array.n + 1) * sizeof(*n));
                if (!n) {
                        json_free(v);
                        return fail(p, -ENOMEM, v->line, v->column, "out of memory");
                }
                parent->array.items = n;
                n[parent->array.n++] = v;
                return 1;
        }
        /* object: the pending key names this value */
        json_member *m = realloc(parent->object.members, (parent->object.n + 1) * sizeof(*m));
        if (!m) {
                json_free(v);
                return fail(p, -ENOMEM, v->line, v->column, "out of memory");
        }
        parent->object.members = m;
        m[parent->object.n++] = (json_member) {
                .key = TAKE_PTR(p->key),
                .line = p->key_line,
                .column = p->key_column,
                .value = v,
        };
        return 1;
}

static json_value *new_value(parse_ctx *p, json_type t) {
        json_value *v = calloc(1, sizeof(*v));
        if (!v) {
                fail(p, -ENOMEM, 0, 0, "out of memory");
                return NULL;
        }
        v->type = t;
        locate(p, &v->line, &v->column);
        return v;
}

static int cb_null(void *ctx) {
        parse_ctx *p = ctx;
        json_value *v = new_value(p, JSON_NULL);
        return v ? add_value(p, v) : 0;
}

static int cb_boolean(void *ctx, int b) {
        parse_ctx *p = ctx;
        json_value *v = new_value(p, JSON_BOOL);
        if (!v)
                return 0;
        v->boolean = b;
        return add_value(p, v);
}

static int cb_number(void *ctx, const char *s, size_t len) {
        parse_ctx *p = ctx;
        json_value *v = new_value(p, JSON_NUMBER);
        if (!v)
                return 0;
        v->number = strndup(s, len);
        if (!v->number) {
                json_free(v);
                return fail(p, -ENOMEM, 0, 0, "out of memory");
        }
        return add_value(p, v);
}


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
                size_t n = utf8_seq(u + i, len - i);
                if (n == 0)
                        return i;
                i += n;
        }
        return SIZE_MAX;
}

static int cb_string(void *ctx, const unsigned char *s, size_t len) {
        parse_ctx *p = ctx;
        json_value *v = new_value(p, JSON_STRING);
        if (!v)
                return 0;
        if (memchr(s, 0, len)) {
                unsigned l = v->line, c = v->column;
                json_free(v);
                return fail(p, -EINVAL, l, c, "string contains a NUL character");
        }
        size_t bad = json_utf8_invalid((const char *) s, len);
        if (bad != SIZE_MAX) {
                unsigned l = v->line, c = v->column;
                json_free(v);
                return fail(p, -EINVAL, l, c, "string is not valid UTF-8 at byte %zu (overlong forms, surrogates "
                            "and code points above U+10FFFF are refused)", bad);
        }
        v->string.str = strndup((const char *) s, len);
        v->string.len = len;
        if (!v->string.str) {
                json_free(v);
                return fail(p, -ENOMEM, 0, 0, "out of memory");
        }
        return add_value(p, v);
}

static int push(parse_ctx *p, json_type t) {
        json_value *v = new_value(p, t);
        if (!v)
                return 0;
        if (p->depth >= JSON_MAX_DEPTH) {
                unsigned l = v->line, c = v->column;
                json_free(v);
                return fail(p, -EINVAL, l, c, "nesting deeper than %d levels", JSON_MAX_DEPTH);
        }
        if (!add_value(p, v))
                return 0;
        p->stack[p->depth++] = v;
        return 1;
}

static int pop(void *ctx) {
        parse_ctx *p = ctx;
        p->prev_end = token_end(p);
        p->depth--;
        return 1;
}

static int cb_start_map(void *ctx) {
        return push(ctx, JSON_OBJECT);
}

static int cb_start_array(void *ctx) {
        return push(ctx, JSON_ARRAY);
}

static int cb_map_key(void *ctx, const unsigned char *s, size_t len) {
        parse_ctx *p = ctx;
        unsigned l, c;
        locate(p, &l, &c);
        if (memchr(s, 0, len))
                return fail(p, -EINVAL, l, c, "object key contains a NUL character");
        size_t bad = json_utf8_invalid((const char *) s, len);
        if (bad != SIZE_MAX)
                return fail(p, -EINVAL, l, c, "object key is not valid UTF-8 at byte %zu (overlong forms, "
                            "surrogates and code points above U+10FFFF are refused)", bad);
        json_value *obj = p->stack[p->depth - 1];
        for (size_t i = 0; i < obj->object.n; i++)
                if (strlen(obj->object.members[i].key) == len && memcmp(obj->object.members[i].key, s, len) == 0)
                        return fail(p, -EINVAL, l, c, "duplicate key '%.*s' (first at line %u, column %u)",
                                    (int) (len > 64 ? 64 : len), s, obj->object.members[i].line,
                                    obj->object.members[i].column);
        erase_free(p->key);
        p->key = strndup((const char *) s, len);
        if (!p->key)
                return fail(p, -ENOMEM, 0, 0, "out of memory");
        p->key_line = l;
        p->key_column = c;
        return 1;
}

static const yajl_callbacks callbacks = {
        .yajl_null = cb_null,
        .yajl_boolean = cb_boolean,
        .yajl_number = cb_number,
        .yajl_string = cb_string,
        .yajl_start_map = cb_start_map,
        .yajl_map_key = cb_map_key,
        .yajl_end_map = pop,
        .yajl_start_array = cb_start_array,
        .yajl_end_array = pop,
};

/* yajl's message is "parse error: <reason>\n"; keep only the reason. */
static void copy_yajl_error(yajl_handle h, const char *text, size_t len, char *buf, size_t size) {
        unsigned char *m = yajl_get_error(h, 0, (const unsigned char *) text, len);
        const char *s = m ? (const char *) m : "syntax error";
        const char *colon = strstr(s, "error: ");
        if (colon)
                s = colon + strlen("error: ");
        snprintf(buf, size, "%s", s);
        size_t n = strlen(buf);
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
                buf[--n] = 0;
        if (m)
                yajl_free_error(h, m);
}

int json_parse(const char *text, size_t len, bool allow_comments, json_value **ret, json_parse_error *err) {
        parse_ctx p = { .text = text, .len = len };
        int r = 0;

        p.h = yajl_alloc(&callbacks, (yajl_alloc_funcs *) &erasing_funcs, &p);
        if (!p.h)
                return -ENOMEM;
        if (allow_comments)
                yajl_config(p.h, yajl_allow_comments, 1);

        yajl_status st = yajl_parse(p.h, (const unsigned char *) text, len);
        size_t off = yajl_get_bytes_consumed(p.h);
        if (st == yajl_status_ok) {
                p.finishing = true;
                st = yajl_complete_parse(p.h);
                off = len;
        }

        if (p.failed) {
                r = p.error;
                if (err) {
                        err->line = p.err_line;
                        err->column = p.err_column;
                        snprintf(err->message, sizeof(err->message), "%s", p.err_message);
                }
        } else if (st != yajl_status_ok) {
                r = -EINVAL;
                if (err) {
                        /* point at the start of the token yajl choked on */
                        size_t at = token_start(&p);
                        offset_to_pos(text, at < off ? at : (off > len ? len : off), &err->line, &err->column);
                        copy_yajl_error(p.h, text, len, err->message, sizeof(err->message));
                }
        } else if (!p.root) {
                r = -EINVAL;
                if (err) {
                        offset_to_pos(text, len, &err->line, &err->column);
                        snprintf(err->message, sizeof(err->message), "empty document");
                }
        }
        yajl_free(p.h);
        erase_free(p.key);
        if (r < 0) {
                json_free(p.root);
                return r;
        }
        *ret = p.root;
        return 0;
}

/* --- generator --- */

yajl_gen json_gen_new(void) {
        return yajl_gen_alloc((yajl_alloc_funcs *) &erasing_funcs);
}

/* Erase what @g generated.  Kept out of line: inlined into its caller, GCC
 * at -O2 takes the addresses handed to yajl_gen_get_buf() for pointers
 * stored in @g and warns (-Wdangling-pointer) at the yajl_gen_free() after. */
static __attribute__((noinline)) void gen_erase(yajl_gen g) {
        const unsigned char *buf;
        size_t len;
        if (yajl_gen_get_buf(g, &buf, &len) == yajl_gen_status_ok)
                explicit_bzero((void *) buf, len);
}

void json_gen_freep(yajl_gen *g) {
        if (!*g)
                return;
        gen_erase(*g);
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

void json_gen_value(yajl_gen g, const json_value *v) {
        switch (v->type) {
        case JSON_NULL:
                yajl_gen_null(g);
                break;
        case JSON_BOOL:
                yajl_gen_bool(g, v->boolean);
                break;
        case JSON_NUMBER:
                yajl_gen_number(g, v->number, strlen(v->number));
                break;
        case JSON_STRING:
                yajl_gen_string(g, (const unsigned char *) v->string.str, v->string.len);
                break;
        case JSON_ARRAY:
                yajl_gen_array_open(g);
                for (size_t i = 0; i < v->array.n; i++)
                        json_gen_value(g, v->array.items[i]);
                yajl_gen_array_close(g);
                break;
        case JSON_OBJECT:
                yajl_gen_map_open(g);
                for (size_t i = 0; i < v->object.n; i++) {
                        json_gen_str(g, v->object.members[i].key);
                        json_gen_value(g, v->object.members[i].value);
                }
                yajl_gen_map_close(g);
                break;
        }
}

int json_dump(const json_value *v, char **ret) {
        _cleanup_json_gen_ yajl_gen g = json_gen_new();
        if (!g)
                return -ENOMEM;
        json_gen_value(g, v);
        return json_gen_take(g, ret, NULL);
}
