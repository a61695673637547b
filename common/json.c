/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * json.c - JSON tree with positions on top of yajl's event parser.
 *
 * yajl's own tree parser loses positions, and policy errors must name line
 * and column of the offending value, so we build the tree from yajl's
 * callbacks and locate each token by scanning forward from the end of the
 * previous one (skipping blanks, comments, ',' and ':').
 *
 * The cost of a small message is in its allocations, not its bytes: a
 * parse makes no more than one (its arena) in the common case.  yajl's
 * handle, lexer and buffers come from a scratch buffer on the parser's
 * stack, erased when the parse ends; the tree goes into one arena, its
 * containers' children gathered on a stack and copied there at their end,
 * exactly sized; keys, strings and numbers are copied next to them.
 */
#include "json.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <yajl/yajl_parse.h>

/* --- the tree's arena: erased and freed once, with the last of its values --- */

typedef struct arena_chunk {
        struct arena_chunk *next;
        size_t size, used;
        alignas(16) unsigned char data[];
} arena_chunk;

struct json_arena {
        size_t live;         /* values made and not yet freed */
        arena_chunk *chunks; /* newest first; the first holds this struct */
};

#define ARENA_ALIGN 8
#define ARENA_MAX_CHUNK (1u << 20)

static void *chunk_take(arena_chunk *c, size_t size) {
        size = (size + ARENA_ALIGN - 1) & ~(size_t) (ARENA_ALIGN - 1);
        if (c->size - c->used < size)
                return NULL;
        void *p = c->data + c->used;
        c->used += size;
        return p;
}

static arena_chunk *chunk_new(size_t size) {
        arena_chunk *c = malloc(sizeof(*c) + size);
        if (c)
                *c = (arena_chunk) { .size = size };
        return c;
}

/* An arena whose first chunk holds @hint bytes (the tree of a text of that size, usually). */
static json_arena *arena_new(size_t hint) {
        arena_chunk *c = chunk_new(sizeof(json_arena) + hint);
        if (!c)
                return NULL;
        json_arena *a = chunk_take(c, sizeof(*a));
        *a = (json_arena) { .chunks = c };
        return a;
}

static void *arena_alloc(json_arena *a, size_t size) {
        void *p = chunk_take(a->chunks, size);
        if (p)
                return p;
        size_t want = a->chunks->size < ARENA_MAX_CHUNK ? 2 * a->chunks->size : ARENA_MAX_CHUNK;
        arena_chunk *c = chunk_new(want > size + ARENA_ALIGN ? want : size + ARENA_ALIGN);
        if (!c)
                return NULL;
        c->next = a->chunks;
        a->chunks = c;
        return chunk_take(c, size);
}

static char *arena_strndup(json_arena *a, const void *s, size_t len) {
        char *d = arena_alloc(a, len + 1);
        if (d) {
                memcpy(d, s, len);
                d[len] = 0;
        }
        return d;
}

static void arena_free(json_arena *a) {
        if (!a)
                return;
        /* @a lives in the last chunk of the list: read it before that is erased */
        for (arena_chunk *c = a->chunks, *next; c; c = next) {
                next = c->next;
                explicit_bzero(c->data, c->used);
                free(c);
        }
}

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

/* A misuse of the tree that would go on as a use after free: stop here, saying what. */
static _noreturn_ void json_misuse(const char *what) {
        fprintf(stderr, "json: %s\n", what);
        abort();
}

/* @v's values, each marked freed (no arena) on the way: one found marked was freed before. */
static size_t release_values(json_value *v) {
        if (!v->arena)
                json_misuse("json_free() of a value already freed");
        v->arena = NULL;
        size_t n = 1;
        if (v->type == JSON_ARRAY)
                for (size_t i = 0; i < v->array.n; i++)
                        n += v->array.items[i] ? release_values(v->array.items[i]) : 0;
        else if (v->type == JSON_OBJECT)
                for (size_t i = 0; i < v->object.n; i++)
                        n += v->object.members[i].value ? release_values(v->object.members[i].value) : 0;
        return n;
}

void json_free(json_value *v) {
        if (!v)
                return;
        json_arena *a = v->arena;
        if (!a)
                json_misuse("json_free() of a value already freed");
        size_t n = release_values(v);
        /* atomic: the parts of one tree may be freed by different threads (a request's args, its message) */
        size_t before = __atomic_fetch_sub(&a->live, n, __ATOMIC_ACQ_REL);
        if (before < n)
                json_misuse("json_free() of more values than the arena holds (one freed twice, or in two trees)");
        if (before == n)
                arena_free(a);
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
        /* the common case (ids, pids, sizes): plain digits, at most 19 of them, cannot overflow */
        uint64_t x = 0;
        size_t i = 0;
        while (i < 19 && s[i] >= '0' && s[i] <= '9')
                x = x * 10 + (uint64_t) (s[i++] - '0');
        if (i > 0 && !s[i]) {
                *ret = x;
                return 0;
        }
        if (*s == '-')
                return streq(s, "-0") ? (*ret = 0, 0) : -ERANGE;
        if (strpbrk(s, ".eE"))
                return -EINVAL;
        errno = 0;
        char *end;
        unsigned long long y = strtoull(s, &end, 10);
        if (errno == ERANGE)
                return -ERANGE;
        if (*end || end == s)
                return -EINVAL;
        *ret = y;
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

typedef struct open_container {
        json_value *v;
        size_t first;
} open_container;

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
        bool positions;  /* JSON_PARSE_NO_POSITIONS not given */
        size_t root_end; /* just after the top-level object or array, once it has ended */
        json_arena *arena;
        json_value *root;
        /* the open containers, and where each one's children start in @kids */
        open_container *stack;
        size_t depth;
        /* the children of the open containers, innermost last (an array's: .value only) */
        json_member *kids, *kids_inline;
        size_t n_kids, max_kids;
        /* pending object key (in the arena), set by the map_key callback */
        char *key;
        size_t key_len;
        unsigned key_line, key_column;
        /* error raised by a callback */
        bool failed;
        int error;
        unsigned err_line, err_column;
        char *err_message; /* ERR_MESSAGE_MAX bytes */
} parse_ctx;

#define KIDS_INLINE 32
#define ERR_MESSAGE_MAX 256

/* A parse's bigger buffers, on its stack but apart from parse_ctx: not zeroed first. */
typedef struct parse_room {
        open_container stack[JSON_MAX_DEPTH];
        json_member kids[KIDS_INLINE];
        char err_message[ERR_MESSAGE_MAX];
        json_scratch scratch; /* yajl's handle, lexer, state stack and first buffer */
} parse_room;

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
        if (!p->positions) {
                *line = *column = 0;
                return;
        }
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
        vsnprintf(p->err_message, ERR_MESSAGE_MAX, fmt, ap);
        va_end(ap);
        p->failed = true;
        p->error = error;
        p->err_line = line;
        p->err_column = column;
        return 0; /* tells yajl to stop */
}

static int oom(parse_ctx *p) {
        return fail(p, -ENOMEM, 0, 0, "out of memory");
}

static int add_value(parse_ctx *p, json_value *v) {
        if (p->depth == 0) {
                p->root = v;
                return 1;
        }
        if (p->n_kids == p->max_kids) {
                size_t n = p->max_kids * 2;
                json_member *k = malloc(n * sizeof(*k));
                if (!k)
                        return oom(p);
                memcpy(k, p->kids, p->n_kids * sizeof(*k));
                if (p->kids != p->kids_inline)
                        free(p->kids); /* positions and pointers into the arena: nothing of the text */
                p->kids = k;
                p->max_kids = n;
        }
        /* in an object, the pending key names this value */
        p->kids[p->n_kids++] = (json_member) {
                .key = TAKE_PTR(p->key),
                .key_len = p->key_len,
                .line = p->key_line,
                .column = p->key_column,
                .value = v,
        };
        return 1;
}

static json_value *new_value(parse_ctx *p, json_type t) {
        json_value *v = arena_alloc(p->arena, sizeof(*v));
        if (!v) {
                oom(p);
                return NULL;
        }
        *v = (json_value) { .type = t, .arena = p->arena };
        p->arena->live++;
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
        if (!(v->number = arena_strndup(p->arena, s, len)))
                return oom(p);
        return add_value(p, v);
}

/* NULL when @s is fine for a string or key; else why not (@bad: where) */
static const char *string_refused(const unsigned char *s, size_t len, size_t *bad) {
        *bad = SIZE_MAX;
        /* most are ASCII without NUL: one pass over them, no call */
        size_t i = 0;
        while (i < len && (unsigned char) (s[i] - 1) < 0x7f)
                i++;
        if (i == len)
                return NULL;
        if (memchr(s + i, 0, len - i))
                return "contains a NUL character";
        size_t b = json_utf8_invalid((const char *) s + i, len - i); /* what comes before is ASCII */
        if (b == SIZE_MAX)
                return NULL;
        *bad = i + b;
        return "is not valid UTF-8";
}

static int cb_string(void *ctx, const unsigned char *s, size_t len) {
        parse_ctx *p = ctx;
        json_value *v = new_value(p, JSON_STRING);
        size_t bad;
        if (!v)
                return 0;
        const char *why = string_refused(s, len, &bad);
        if (why && bad == SIZE_MAX)
                return fail(p, -EINVAL, v->line, v->column, "string %s", why);
        if (why)
                return fail(p, -EINVAL, v->line, v->column, "string %s at byte %zu (overlong forms, surrogates "
                            "and code points above U+10FFFF are refused)", why, bad);
        if (!(v->string.str = arena_strndup(p->arena, s, len)))
                return oom(p);
        v->string.len = len;
        return add_value(p, v);
}

static int push(parse_ctx *p, json_type t) {
        json_value *v = new_value(p, t);
        if (!v)
                return 0;
        if (p->depth >= JSON_MAX_DEPTH)
                return fail(p, -EINVAL, v->line, v->column, "nesting deeper than %d levels", JSON_MAX_DEPTH);
        if (!add_value(p, v))
                return 0;
        p->stack[p->depth].v = v;
        p->stack[p->depth++].first = p->n_kids;
        return 1;
}

/* The end of the innermost container: its children, gathered on @kids, into the arena. */
static int pop(void *ctx) {
        parse_ctx *p = ctx;
        if (p->positions)
                p->prev_end = token_end(p);
        json_value *v = p->stack[--p->depth].v;
        if (p->depth == 0)
                p->root_end = yajl_get_bytes_consumed(p->h);
        size_t first = p->stack[p->depth].first, n = p->n_kids - first;
        const json_member *k = p->kids + first;
        p->n_kids = first;
        if (n == 0)
                return 1;
        if (v->type == JSON_ARRAY) {
                json_value **items = arena_alloc(p->arena, n * sizeof(*items));
                if (!items)
                        return oom(p);
                for (size_t i = 0; i < n; i++)
                        items[i] = k[i].value;
                v->array.items = items;
                v->array.n = n;
        } else {
                json_member *m = arena_alloc(p->arena, n * sizeof(*m));
                if (!m)
                        return oom(p);
                memcpy(m, k, n * sizeof(*m));
                v->object.members = m;
                v->object.n = n;
        }
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
        size_t bad;
        locate(p, &l, &c);
        const char *why = string_refused(s, len, &bad);
        if (why && bad == SIZE_MAX)
                return fail(p, -EINVAL, l, c, "object key %s", why);
        if (why)
                return fail(p, -EINVAL, l, c, "object key %s at byte %zu (overlong forms, surrogates and code "
                            "points above U+10FFFF are refused)", why, bad);
        for (size_t i = p->stack[p->depth - 1].first; i < p->n_kids; i++) {
                const json_member *m = &p->kids[i];
                if (m->key_len == len && memcmp(m->key, s, len) == 0)
                        return fail(p, -EINVAL, l, c, "duplicate key '%.*s' (first at line %u, column %u)",
                                    (int) (len > 64 ? 64 : len), s, m->line, m->column);
        }
        if (!(p->key = arena_strndup(p->arena, s, len)))
                return oom(p);
        p->key_len = len;
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

/* The arena's first chunk: about what the tree of a message of @len bytes takes */
static size_t arena_hint(size_t len) {
        size_t hint = 256 + 6 * len;
        return hint < 64 * 1024 ? hint : 64 * 1024;
}

/* yajl's lexer takes a vertical tab or a form feed for a blank, RFC 8259 does not.  In
 * a text yajl accepted without comments such a byte can only stand between tokens (a
 * string refuses raw control characters): refused at the first one */
static int check_blanks(const char *text, size_t len, json_parse_error *err) {
        for (size_t i = 0; i < len; i++)
                if (text[i] == '\v' || text[i] == '\f') {
                        if (err) {
                                offset_to_pos(text, i, &err->line, &err->column);
                                snprintf(err->message, sizeof(err->message),
                                         "%s is not a JSON blank (those are space, tab, line feed and carriage return)",
                                         text[i] == '\v' ? "a vertical tab" : "a form feed");
                        }
                        return -EINVAL;
                }
        return 0;
}

/* what a callback's oom() says too */
static int parse_oom(json_parse_error *err) {
        if (err)
                *err = (json_parse_error) { .message = "out of memory" };
        return -ENOMEM;
}

int json_parse_flags(const char *text, size_t len, unsigned flags, json_value **ret, json_parse_error *err) {
        parse_room room;
        parse_ctx p = { .text = text, .len = len, .positions = !(flags & JSON_PARSE_NO_POSITIONS), .root_end = SIZE_MAX,
                        .stack = room.stack, .kids = room.kids, .kids_inline = room.kids, .max_kids = KIDS_INLINE,
                        .err_message = room.err_message };
        yajl_alloc_funcs funcs = json_erasing_alloc(&room.scratch);
        int r = 0;

        p.arena = arena_new(arena_hint(len));
        if (!p.arena)
                return parse_oom(err);
        p.h = yajl_alloc(&callbacks, &funcs, &p);
        if (!p.h) {
                arena_free(p.arena);
                return parse_oom(err);
        }
        if (flags & JSON_PARSE_COMMENTS)
                yajl_config(p.h, yajl_allow_comments, 1);

        yajl_status st = yajl_parse(p.h, (const unsigned char *) text, len);
        size_t off = yajl_get_bytes_consumed(p.h);
        /* An object or array that ends the text is the whole document: finishing
         * would only read one more blank, into a 2 KiB lexer buffer */
        if (st == yajl_status_ok && p.root_end != len) {
                p.finishing = true;
                st = yajl_complete_parse(p.h);
                off = len;
        }

        if ((p.failed || st != yajl_status_ok) && !p.positions && err) {
                r = -EAGAIN; /* the error's position: the same parse again, locating every token */
        } else if (p.failed) {
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
        } else if (!(flags & JSON_PARSE_COMMENTS)) {
                r = check_blanks(text, len, err);
        }
        yajl_free(p.h);
        explicit_bzero(room.scratch.buf, room.scratch.used);
        if (p.failed) /* only fail() writes it: a duplicate key's message quotes the key */
                explicit_bzero(room.err_message, sizeof(room.err_message));
        if (p.kids != p.kids_inline)
                free(p.kids);
        if (r < 0) {
                arena_free(p.arena); /* whatever was made of the text */
                return r == -EAGAIN ? json_parse_flags(text, len, flags & ~JSON_PARSE_NO_POSITIONS, ret, err) : r;
        }
        *ret = p.root;
        return 0;
}


int json_parse(const char *text, size_t len, bool allow_comments, json_value **ret, json_parse_error *err) {
        return json_parse_flags(text, len, allow_comments ? JSON_PARSE_COMMENTS : 0, ret, err);
}

/* --- a tree back to text --- */

void json_gen_value(json_gen *g, const json_value *v) {
        switch (v->type) {
        case JSON_NULL:
                json_gen_null(g);
                break;
        case JSON_BOOL:
                json_gen_bool(g, v->boolean);
                break;
        case JSON_NUMBER:
                json_gen_number(g, v->number, strlen(v->number));
                break;
        case JSON_STRING:
                json_gen_strn(g, v->string.str, v->string.len);
                break;
        case JSON_ARRAY:
                json_gen_array_open(g);
                for (size_t i = 0; i < v->array.n; i++)
                        json_gen_value(g, v->array.items[i]);
                json_gen_array_close(g);
                break;
        case JSON_OBJECT:
                json_gen_map_open(g);
                for (size_t i = 0; i < v->object.n; i++) {
                        json_gen_str(g, v->object.members[i].key);
                        json_gen_value(g, v->object.members[i].value);
                }
                json_gen_map_close(g);
                break;
        }
}

int json_dump(const json_value *v, char **ret) {
        _cleanup_json_gen_ json_gen *g = json_gen_new();
        if (!g)
                return -ENOMEM;
        json_gen_value(g, v);
        return json_gen_take(g, ret, NULL);
}
