/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * json-parse.c - JSON text into the tree of json.h, with positions.
 *
 * yajl's own tree parser loses positions, and policy errors must name line
 * and column of the offending value, so we build the tree from yajl's
 * callbacks and locate each token by scanning forward from the end of the
 * previous one (skipping blanks, comments, ',' and ':').  A message, whose
 * positions nobody reads, is read by a parser of our own that calls the
 * same callbacks (below: "messages without yajl").
 *
 * The cost of a small message is in its allocations, not its bytes: a
 * parse makes no more than one (its arena) in the common case.  yajl's
 * handle, lexer and buffers come from a scratch buffer on the parser's
 * stack, erased when the parse ends; the tree goes into one arena, its
 * containers' children gathered on a stack and copied there at their end,
 * exactly sized; keys, strings and numbers are copied next to them.
 */
#include "json.h"

#include <stdarg.h>
#include <stdio.h>
#include <yajl/yajl_parse.h>

#include "json-arena.h"
#include "json-parse-stats.h"

_Thread_local unsigned long json_parse_yajl_runs;

/* --- the tree, from a parser's callbacks --- */

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
        size_t doc_end;  /* yajl: just after the top-level value, once it has ended */
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
        /* direct_parse(): a \u escape met (its decoding is yajl's), not a text yajl refuses too */
        bool deferred;
        /* error raised by a callback */
        bool failed;
        int error;
        unsigned err_line, err_column;
        char *err_message; /* ERR_MESSAGE_MAX bytes */
} parse_ctx;

#define KIDS_INLINE 32
#define ERR_MESSAGE_MAX 256

/* A parse's bigger buffers, on its stack but apart from parse_ctx: not zeroed first.  yajl's
 * json_scratch is yajl_parse_text()'s own: the message reader has no use for it. */
typedef struct parse_room {
        open_container stack[JSON_MAX_DEPTH];
        json_member kids[KIDS_INLINE];
        char err_message[ERR_MESSAGE_MAX];
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

/* Just after the comment at @i of @text (@len bytes): a line comment ends at its line feed; @i when no comment
 * starts there; SIZE_MAX: a block comment that is never closed. */
static size_t comment_end(const char *text, size_t i, size_t len) {
        const char *c;
        if (len - i < 2 || text[i] != '/')
                return i;
        if (text[i + 1] == '/')
                return (c = memchr(text + i, '\n', len - i)) ? (size_t) (c - text) : len;
        if (text[i + 1] == '*')
                return (c = memmem(text + i + 2, len - i - 2, "*/", 2)) ? (size_t) (c - text) + 2 : SIZE_MAX;
        return i;
}

/* Find where the current token starts: skip blanks, comments, ',' and ':'. */
static size_t token_start(const parse_ctx *p) {
        size_t i = p->prev_end, e;
        while (i < p->len) {
                char ch = p->text[i];
                if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == ',' || ch == ':')
                        i++;
                else if ((e = comment_end(p->text, i, p->len)) != i)
                        i = e == SIZE_MAX ? p->len : e;
                else
                        break;
        }
        return i;
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
                if (p->h && v->type != JSON_OBJECT && v->type != JSON_ARRAY) /* a container's: pop() */
                        p->doc_end = token_end(p);
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
        json_value *v = json_arena_alloc(p->arena, sizeof(*v));
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
        if (!(v->number = json_arena_strndup(p->arena, s, len)))
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

/* A string value; @ascii: its bytes are ASCII without NUL, seen by the caller (string_refused() passes those);
 * @decoded: @s is in the arena, NUL-terminated, and is the value's string (not copied again) */
static int add_string(parse_ctx *p, const unsigned char *s, size_t len, bool ascii, bool decoded) {
        json_value *v = new_value(p, JSON_STRING);
        size_t bad;
        if (!v)
                return 0;
        const char *why = ascii ? NULL : string_refused(s, len, &bad);
        if (why && bad == SIZE_MAX)
                return fail(p, -EINVAL, v->line, v->column, "string %s", why);
        if (why)
                return fail(p, -EINVAL, v->line, v->column, "string %s at byte %zu (overlong forms, surrogates "
                            "and code points above U+10FFFF are refused)", why, bad);
        v->string.str = decoded ? (char *) s : json_arena_strndup(p->arena, s, len);
        if (!v->string.str)
                return oom(p);
        v->string.len = len;
        return add_value(p, v);
}

static int cb_string(void *ctx, const unsigned char *s, size_t len) {
        return add_string(ctx, s, len, false, false);
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
        if (p->depth == 0 && p->h) /* not with direct_parse() */
                p->doc_end = p->root_end = yajl_get_bytes_consumed(p->h);
        size_t first = p->stack[p->depth].first, n = p->n_kids - first;
        const json_member *k = p->kids + first;
        p->n_kids = first;
        if (n == 0)
                return 1;
        if (v->type == JSON_ARRAY) {
                json_value **items = json_arena_alloc(p->arena, n * sizeof(*items));
                if (!items)
                        return oom(p);
                for (size_t i = 0; i < n; i++)
                        items[i] = k[i].value;
                v->array.items = items;
                v->array.n = n;
        } else {
                json_member *m = json_arena_alloc(p->arena, n * sizeof(*m));
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

/* An object's key; @ascii and @decoded as for add_string() */
static int add_key(parse_ctx *p, const unsigned char *s, size_t len, bool ascii, bool decoded) {
        unsigned l, c;
        size_t bad;
        locate(p, &l, &c);
        const char *why = ascii ? NULL : string_refused(s, len, &bad);
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
        p->key = decoded ? (char *) s : json_arena_strndup(p->arena, s, len);
        if (!p->key)
                return oom(p);
        p->key_len = len;
        p->key_line = l;
        p->key_column = c;
        return 1;
}

static int cb_map_key(void *ctx, const unsigned char *s, size_t len) {
        return add_key(ctx, s, len, false, false);
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

/* Where the document that ends at @from is followed by more than blanks (and, with @comments, comments); SIZE_MAX:
 * it is not.  yajl takes a document followed by a token it never sees the end of (a string or comment not closed,
 * the text's end taken for "more to come"), where RFC 8259 and our pages allow nothing */
static size_t trailing_garbage(const char *text, size_t from, size_t len, bool comments) {
        for (size_t i = from, e; i < len;) {
                if (text[i] && strchr(" \t\n\r\v\f", text[i])) /* \v, \f: check_blanks() */
                        i++;
                else if (comments && (e = comment_end(text, i, len)) != i && e != SIZE_MAX)
                        i = e;
                else
                        return i;
        }
        return SIZE_MAX;
}

/* what a callback's oom() says too */
static int parse_oom(json_parse_error *err) {
        if (err)
                *err = (json_parse_error) { .message = "out of memory" };
        return -ENOMEM;
}

static parse_ctx ctx_new(const char *text, size_t len, unsigned flags, parse_room *room) {
        return (parse_ctx) { .text = text, .len = len, .positions = !(flags & JSON_PARSE_NO_POSITIONS),
                             .root_end = SIZE_MAX, .stack = room->stack, .kids = room->kids,
                             .kids_inline = room->kids, .max_kids = KIDS_INLINE, .err_message = room->err_message };
}

/* What a parse leaves besides its tree: the children's list grown beyond the stack, a callback's error */
static void ctx_done(parse_ctx *p) {
        if (p->failed) /* only fail() writes it: a duplicate key's message quotes the key */
                explicit_bzero(p->err_message, ERR_MESSAGE_MAX);
        if (p->kids != p->kids_inline)
                free(p->kids);
}

/*
 * --- messages without yajl ---
 *
 * A message (JSON_PARSE_NO_POSITIONS without comments: the library's
 * replies and args, the broker's requests) is read here by a recursive
 * descent that hands each token to the callbacks above, as yajl would:
 * the same tree, built by the same code, with the same checks of strings,
 * keys and nesting.  It takes only RFC 8259 text that yajl takes as well
 * (blanks: space, tab, line feed, carriage return; no comment) and gives
 * up on anything else, a \u escape included (yajl's decoding of those is
 * its own), and on any callback's failure: then yajl parses the text, and
 * says what is wrong, where.  NULL: given up.  Short of a \u escape, what
 * it gives up on is a text yajl refuses too (a syntax error, or a string,
 * key or nesting the callbacks refuse): that one is parsed only to locate
 * its error (json_parse_flags()).
 */
static const char *direct_blanks(const char *s, const char *end) {
        while (s < end && (unsigned char) *s <= ' ' && (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r'))
                s++;
        return s;
}

/* A string, @s at its opening quote, to add_key() (@key) or add_string() */
static const char *direct_string(parse_ctx *p, const char *s, const char *end, bool key) {
        if (s == end || *s != '"')
                return NULL;
        const char *b = ++s;
        size_t n_escapes = 0;
        unsigned char seen = 0; /* every byte or'ed: below 0x80 when all are ASCII */
        for (; s < end && *s != '"'; s++) {
                unsigned char ch = *s;
                if (ch < 0x20)
                        return NULL; /* a raw control character */
                seen |= ch;
                if (ch == '\\') {
                        n_escapes++;
                        if (++s == end)
                                return NULL;
                }
        }
        if (s == end)
                return NULL;
        size_t len = s - b;
        const unsigned char *str = (const unsigned char *) b;
        if (n_escapes > 0) {
                /* decoded into the arena, where the tree keeps it: each escape taken here is one byte */
                unsigned char *d = json_arena_alloc(p->arena, len - n_escapes + 1);
                size_t n = 0;
                if (!d) {
                        oom(p);
                        return NULL;
                }
                /* each escape but \u (its decoding is yajl's), and what it stands for */
                static const char escapes[] = "\"\\/bfnrt", bytes[] = "\"\\/\b\f\n\r\t";
                for (const char *c = b; c < s; c++) {
                        if (*c != '\\') {
                                d[n++] = *c;
                                continue;
                        }
                        const char *e = memchr(escapes, *++c, sizeof(escapes) - 1);
                        if (!e) {
                                p->deferred = *c == 'u';
                                return NULL; /* \u, or not an escape */
                        }
                        d[n++] = bytes[e - escapes];
                }
                d[n] = 0;
                str = d;
                len = n;
        }
        /* escapes decoded here are ASCII, and none is NUL (\u0000 is given up on) */
        return (key ? add_key : add_string)(p, str, len, seen < 0x80, n_escapes > 0) ? s + 1 : NULL;
}

static const char *direct_digits(const char *s, const char *end) {
        while (s < end && *s >= '0' && *s <= '9')
                s++;
        return s;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, yajl's numbers */
static const char *direct_number(parse_ctx *p, const char *s, const char *end) {
        const char *b = s, *d;
        if (s < end && *s == '-')
                s++;
        if (s < end && *s == '0')
                s++;
        else if (s < end && *s >= '1' && *s <= '9')
                s = direct_digits(s, end);
        else
                return NULL;
        if (s < end && *s == '.') {
                if ((d = direct_digits(s + 1, end)) == s + 1)
                        return NULL;
                s = d;
        }
        if (s < end && (*s == 'e' || *s == 'E')) {
                s++;
                if (s < end && (*s == '+' || *s == '-'))
                        s++;
                if ((d = direct_digits(s, end)) == s)
                        return NULL;
                s = d;
        }
        return cb_number(p, b, s - b) ? s : NULL;
}

static bool direct_word(const char *s, const char *end, const char *word, size_t len) {
        return (size_t) (end - s) >= len && memcmp(s, word, len) == 0;
}

static const char *direct_value(parse_ctx *p, const char *s, const char *end);

/* An object or an array, @s at its opening bracket */
static const char *direct_container(parse_ctx *p, const char *s, const char *end, bool object) {
        char close = object ? '}' : ']';
        if (!(object ? cb_start_map(p) : cb_start_array(p))) /* too deep, too: before any recursion */
                return NULL;
        s = direct_blanks(s + 1, end);
        if (s < end && *s == close)
                return pop(p) ? s + 1 : NULL;
        for (;;) {
                if (object) {
                        if (!(s = direct_string(p, s, end, true)) || (s = direct_blanks(s, end)) == end || *s != ':')
                                return NULL;
                        s = direct_blanks(s + 1, end);
                }
                s = direct_value(p, s, end);
                if (!s || (s = direct_blanks(s, end)) == end)
                        return NULL;
                if (*s == close)
                        return pop(p) ? s + 1 : NULL;
                if (*s != ',')
                        return NULL;
                s = direct_blanks(s + 1, end);
        }
}

static const char *direct_value(parse_ctx *p, const char *s, const char *end) {
        if (s == end)
                return NULL;
        switch (*s) {
        case '{':
        case '[':
                return direct_container(p, s, end, *s == '{');
        case '"':
                return direct_string(p, s, end, false);
        case 't':
                return direct_word(s, end, "true", 4) && cb_boolean(p, 1) ? s + 4 : NULL;
        case 'f':
                return direct_word(s, end, "false", 5) && cb_boolean(p, 0) ? s + 5 : NULL;
        case 'n':
                return direct_word(s, end, "null", 4) && cb_null(p) ? s + 4 : NULL;
        default:
                return direct_number(p, s, end);
        }
}

/* 0 and the tree in *@ret; -ENOMEM; -EAGAIN: not taken (yajl's to parse); -EINVAL: not JSON, nor a text
 * yajl takes (yajl's to say why) */
static int direct_parse(const char *text, size_t len, json_value **ret) {
        parse_room room;
        parse_ctx p = ctx_new(text, len, JSON_PARSE_NO_POSITIONS, &room);
        const char *end = text + len, *s;

        if (!(p.arena = json_arena_new(arena_hint(len))))
                return -ENOMEM;
        s = direct_value(&p, direct_blanks(text, end), end);
        int r = s && direct_blanks(s, end) == end ? 0 : p.deferred ? -EAGAIN : -EINVAL;
        if (p.failed && p.error == -ENOMEM)
                r = -ENOMEM;
        ctx_done(&p);
        if (r < 0) {
                /* whatever was made of the text; the tree's values are all in the arena */
                json_arena_free(p.arena);
                return r;
        }
        *ret = p.root;
        return 0;
}

/* A text by yajl's parser (comments; every token located unless JSON_PARSE_NO_POSITIONS) */
static int yajl_parse_text(const char *text, size_t len, unsigned flags, json_value **ret, json_parse_error *err) {
        parse_room room;
        json_scratch scratch; /* yajl's handle, lexer, state stack and first buffer */
        parse_ctx p = ctx_new(text, len, flags, &room);
        yajl_alloc_funcs funcs = json_erasing_alloc(&scratch);
        int r = 0;

        p.arena = json_arena_new(arena_hint(len));
        if (!p.arena)
                return parse_oom(err);
        p.h = yajl_alloc(&callbacks, &funcs, &p);
        if (!p.h) {
                json_arena_free(p.arena);
                return parse_oom(err);
        }
        if (flags & JSON_PARSE_COMMENTS)
                yajl_config(p.h, yajl_allow_comments, 1);
        json_parse_yajl_runs++;

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
        size_t at;
        if (r == 0 && (at = trailing_garbage(text, p.doc_end, len, flags & JSON_PARSE_COMMENTS)) != SIZE_MAX) {
                r = -EINVAL;
                if (err) {
                        offset_to_pos(text, at, &err->line, &err->column);
                        snprintf(err->message, sizeof(err->message), "trailing garbage"); /* as yajl says it */
                }
        }
        yajl_free(p.h);
        explicit_bzero(scratch.buf, scratch.used);
        ctx_done(&p);
        if (r < 0) {
                json_arena_free(p.arena); /* whatever was made of the text */
                return r == -EAGAIN ? yajl_parse_text(text, len, flags & ~JSON_PARSE_NO_POSITIONS, ret, err) : r;
        }
        *ret = p.root;
        return 0;
}

int json_parse_flags(const char *text, size_t len, unsigned flags, json_value **ret, json_parse_error *err) {
        if (flags == JSON_PARSE_NO_POSITIONS) {
                int r = direct_parse(text, len, ret);
                if (r == -ENOMEM)
                        return parse_oom(err);
                if (r == 0)
                        return r;
                if (r == -EINVAL && err) /* straight to the parse that locates its error: the first would fail */
                        flags = 0;
        }
        return yajl_parse_text(text, len, flags, ret, err);
}


int json_parse(const char *text, size_t len, bool allow_comments, json_value **ret, json_parse_error *err) {
        return json_parse_flags(text, len, allow_comments ? JSON_PARSE_COMMENTS : 0, ret, err);
}
