/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * json.h - a JSON value tree with source positions, parsed by yajl, and a
 * generator wrapper.  Used for wire messages and policy files alike.
 *
 * Every string the tree holds is erased (explicit_bzero) when the tree is
 * freed, and yajl's own buffers are erased through a custom allocator:
 * request content never lingers in freed heap memory.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yajl/yajl_gen.h>

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

typedef struct json_member {
        char *key;
        unsigned line, column; /* position of the key */
        json_value *value;
} json_member;

struct json_value {
        json_type type;
        unsigned line, column; /* 1-based position of the value's first byte */
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
 * JSON_MAX_DEPTH), or -ENOMEM.  The caller frees the tree with json_free().
 */
int json_parse(const char *text, size_t len, bool allow_comments, json_value **ret, json_parse_error *err);

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

/* Serialise a value back to compact JSON (for audit logs). */
int json_dump(const json_value *v, char **ret);

/* --- generator --- */

yajl_gen json_gen_new(void);
void json_gen_freep(yajl_gen *g);
#define _cleanup_json_gen_ _cleanup_(json_gen_freep)

/* Copy the generated text out (NUL-terminated) and erase yajl's buffer. */
int json_gen_take(yajl_gen g, char **ret, size_t *ret_len);

/* A string; bytes that are not valid UTF-8 are replaced by U+FFFD, so
 * what is generated is always valid UTF-8. */
void json_gen_str(yajl_gen g, const char *s);
/* Offset of the first byte of @s that is not well-formed UTF-8 (RFC 3629:
 * no overlong forms, surrogates or code points above U+10FFFF), or SIZE_MAX. */
size_t json_utf8_invalid(const char *s, size_t len);
/* @v in decimal into @buf, not terminated (at most 20 digits); its length.  No printf. */
#define JSON_U64_MAX 20
size_t json_format_u64(char buf[static JSON_U64_MAX], uint64_t v);
void json_gen_u64(yajl_gen g, uint64_t v);
void json_gen_i64(yajl_gen g, int64_t v);
void json_gen_bool(yajl_gen g, bool b);
void json_gen_null(yajl_gen g);
/* Key + value helpers for objects. */
void json_gen_kv_str(yajl_gen g, const char *k, const char *v);
void json_gen_kv_u64(yajl_gen g, const char *k, uint64_t v);
void json_gen_kv_i64(yajl_gen g, const char *k, int64_t v);
void json_gen_kv_bool(yajl_gen g, const char *k, bool v);
/* Emit a parsed value (deep copy into the generator). */
void json_gen_value(yajl_gen g, const json_value *v);
