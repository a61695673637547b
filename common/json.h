/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * json.h - a JSON value tree with source positions, parsed by yajl (a
 * message without positions by json-parse.c's own reader), and our
 * generator (json-gen.h).  Used for wire messages and policy files alike.
 *
 * A parse puts its whole tree (values, keys, strings, numbers) into one
 * arena, erased (explicit_bzero) and freed once, when the last of its values
 * is freed; yajl's own buffers are erased too (a scratch buffer on the
 * parser's stack, a custom allocator beyond it): request content never
 * lingers in freed heap memory.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json-gen.h"
#include "util.h"

typedef enum json_type {
        JSON_NULL,
        JSON_BOOL,
        JSON_NUMBER,
        JSON_STRING,
        JSON_ARRAY,
        JSON_OBJECT,
} json_type;

typedef struct json_value json_value;
typedef struct json_arena json_arena;

typedef struct json_member {
        char *key;
        size_t key_len;
        unsigned line, column; /* position of the key */
        json_value *value;
} json_member;

struct json_value {
        json_type type;
        unsigned line, column; /* 1-based position of the value's first byte */
        json_arena *arena;     /* json-arena.h: where the parse put it */
        union {
                bool boolean;
                char *number; /* raw text, as written */
                struct {
                        char *str;
                        size_t len;
                } string;
                struct {
                        json_value **items;
                        size_t n;
                } array;
                struct {
                        json_member *members;
                        size_t n;
                } object;
        };
};

#define JSON_MAX_DEPTH 64

typedef struct json_parse_error {
        unsigned line, column;
        char message[256];
} json_parse_error;

/**
 * json_parse() - parse a complete JSON text (comments allowed when
 * @allow_comments) into a tree.
 * Returns 0 and the tree in *ret, or -EINVAL with *err filled (position and
 * reason: syntax error, duplicate key, NUL in a string, nesting deeper than
 * JSON_MAX_DEPTH; without comments also a vertical tab or form feed
 * between tokens, which yajl would take for a blank and RFC 8259 does not),
 * or -ENOMEM with *err saying "out of memory" at line and
 * column 0.  The caller frees the tree with json_free().
 */
int json_parse(const char *text, size_t len, bool allow_comments, json_value **ret, json_parse_error *err);

enum {
        JSON_PARSE_COMMENTS = 1 << 0,     /* allow comments */
        /* every value's and key's line and column are 0 (a message, not a file): the
         * parse does not locate each token.  A failure's position is given all the same.
         * Alone (no comments), the text is read by json-parse.c's own parser, with no
         * lexer or handle per message: the same tree as yajl's.  yajl's parser reads
         * what that one gives up on (a \u escape; any error, whose message and position
         * are always yajl's parse's, locating every token) */
        JSON_PARSE_NO_POSITIONS = 1 << 1,
};
int json_parse_flags(const char *text, size_t len, unsigned flags, json_value **ret, json_parse_error *err);

/*
 * Free @v and what it holds.  A value may be taken out of its tree (its
 * slot in the parent set to NULL) and freed on its own, before or after the
 * rest, by another thread too: the arena of their parse is erased and freed
 * with the last of them.  A value freed twice (or freed on its own and then
 * with its tree) stops the program: a message on stderr, then abort().
 */
void json_free(json_value *v);
static inline void json_freep(json_value **v) {
        json_free(*v);
}
#define _cleanup_json_ _cleanup_(json_freep)

const char *json_type_name(json_type t);

/* Object member lookup; NULL when absent or when @obj is not an object. */
json_value *json_get(const json_value *obj, const char *key);

/*
 * Strict number conversions: 0 on success, -EINVAL when not an integer
 * (fraction, exponent, not a number), -ERANGE when out of range.
 */
int json_to_u64(const json_value *v, uint64_t *ret);
int json_to_i64(const json_value *v, int64_t *ret);

static inline bool json_is_string(const json_value *v) {
        return v && v->type == JSON_STRING;
}

/* Whether member @m is named @key, a string literal: by its length first, with no strcmp() (a parsed key
 * holds no NUL).  For a pass over a message's members that picks out several (json_get() finds one). */
static inline bool json_key_is_n(const json_member *m, const char *key, size_t len) {
        return m->key_len == len && memcmp(m->key, key, len) == 0;
}
#define json_key_is(m, key) json_key_is_n(m, key, sizeof(key) - 1)

/* Serialise a value back to compact JSON (for audit logs). */
int json_dump(const json_value *v, char **ret);

/* Emit a parsed value (deep copy into the generator). */
void json_gen_value(json_gen *g, const json_value *v);
