/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * json-gen.h - our JSON generator, which erases what it held, checks every
 * allocation and only ever writes valid UTF-8 (json.h includes it;
 * json_gen_value() and json_dump(), which need the tree, are json.h's);
 * and the erasing allocator the parser hands yajl.
 */
#pragma once

#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yajl/yajl_common.h>

#include "util.h"

/*
 * yajl's allocations (its parser's, json.c): every block is erased
 * (explicit_bzero) when freed.  With @scratch, blocks come from it while
 * it has room, and freeing one of those does nothing: when yajl is done,
 * the scratch's owner erases its first @used bytes.  The handle
 * yajl_alloc() makes copies these functions (and @scratch's address).
 */
#define JSON_SCRATCH_SIZE 3072
typedef struct json_scratch {
        size_t used;
        alignas(16) unsigned char buf[JSON_SCRATCH_SIZE];
} json_scratch;
yajl_alloc_funcs json_erasing_alloc(json_scratch *scratch);

/*
 * Our JSON writer (json-gen.c), compact, in the bytes yajl 2.1's generator
 * writes with its default options (no spaces, '/' not escaped, control
 * characters as \u00XX with upper-case hex digits), which it replaced:
 * yajl's generator does not check its allocations (a NULL buffer on out of
 * memory is written through).  Here every allocation is checked and every
 * buffer erased (explicit_bzero) before it is freed or outgrown.  The
 * first failure is kept: later calls write nothing and json_gen_take()
 * returns it, -ENOMEM, or -EINVAL for a call out of order (a key that is
 * not a string, a second top-level value, a close that matches no open or
 * leaves a key without its value, nesting of more than 127 containers,
 * yajl's limit; at json_gen_take(), a container left open or no value
 * written at all).
 */
typedef struct json_gen json_gen;

/*
 * json_gen_new() - an empty generator, or NULL without memory.  It may be
 * the calling thread's last one, handed back by json_gen_free() and kept
 * (json-gen.c): then it costs no allocation.
 */
json_gen *json_gen_new(void);
/* Erase what @g holds and free it (or keep it for the thread's next json_gen_new()).  NULL is fine. */
void json_gen_free(json_gen *g);
void json_gen_freep(json_gen **g);
#define _cleanup_json_gen_ _cleanup_(json_gen_freep)

/*
 * json_gen_take() - the text generated, one whole JSON value, copied into a new
 * NUL-terminated string for the caller to erase and free (*@ret, its
 * length in *@ret_len if not NULL).  @g is erased and emptied either way,
 * ready for a new document.  Returns 0, or the generator's first failure
 * (-ENOMEM, -EINVAL), or -ENOMEM for the copy; then *@ret is untouched.
 */
int json_gen_take(json_gen *g, char **ret, size_t *ret_len);

void json_gen_map_open(json_gen *g);
void json_gen_map_close(json_gen *g);
void json_gen_array_open(json_gen *g);
void json_gen_array_close(json_gen *g);
/* A value written as it is, unquoted (a number's text, or a whole JSON text kept from before). */
void json_gen_number(json_gen *g, const char *s, size_t len);
/* A string (a map's key or a value); bytes that are not valid UTF-8 are
 * replaced by U+FFFD, so what is generated is always valid UTF-8.  Of
 * json_gen_strn()'s @len bytes a NUL is written as \u0000. */
void json_gen_str(json_gen *g, const char *s);
void json_gen_strn(json_gen *g, const char *s, size_t len);
/* Offset of the first byte of @s that is not well-formed UTF-8 (RFC 3629:
 * no overlong forms, surrogates or code points above U+10FFFF), or SIZE_MAX. */
size_t json_utf8_invalid(const char *s, size_t len);
/* @v in decimal into @buf, not terminated (at most 20 digits); its length.  No printf. */
#define JSON_U64_MAX 20
size_t json_format_u64(char buf[static JSON_U64_MAX], uint64_t v);
void json_gen_u64(json_gen *g, uint64_t v);
void json_gen_i64(json_gen *g, int64_t v);
void json_gen_bool(json_gen *g, bool b);
void json_gen_null(json_gen *g);
/* Key + value helpers for objects. */
void json_gen_kv_str(json_gen *g, const char *k, const char *v);
void json_gen_kv_u64(json_gen *g, const char *k, uint64_t v);
void json_gen_kv_i64(json_gen *g, const char *k, int64_t v);
void json_gen_kv_bool(json_gen *g, const char *k, bool v);
