/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * json-gen.h - a wrapper of yajl's generator that erases what it held and
 * only ever writes valid UTF-8 (json.h includes it; json_gen_value() and
 * json_dump(), which need the tree, are json.h's).
 */
#pragma once

#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yajl/yajl_gen.h>

#include "util.h"

/*
 * yajl's allocations: every block is erased (explicit_bzero) when freed.
 * With @scratch, blocks come from it while it has room, and freeing one
 * of those does nothing: when yajl is done, the scratch's owner erases its
 * first @used bytes.  The handle yajl_gen_alloc() or yajl_alloc() makes
 * copies these functions (and @scratch's address).
 */
#define JSON_SCRATCH_SIZE 3072
typedef struct json_scratch {
        size_t used;
        alignas(16) unsigned char buf[JSON_SCRATCH_SIZE];
} json_scratch;
yajl_alloc_funcs json_erasing_alloc(json_scratch *scratch);

/*
 * json_gen_new() - a generator with yajl's default options: compact, no
 * validation of UTF-8, '/' not escaped.  It may be the calling thread's last
 * one, handed back by json_gen_freep() (json-gen.c): emptied and reset, but
 * its yajl_gen_config() options stay with it, and yajl cannot tell them.  So
 * never call yajl_gen_config() on one (none of ours does); a generator that
 * needs options is yajl_gen_alloc()'s own, freed with yajl_gen_free().
 */
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
