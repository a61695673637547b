/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * json.c - the JSON tree (json.h): freeing it, reading its values, writing
 * it back as text.  The parser is json-parse.c; the memory a parse puts the
 * tree in, json-arena.c.
 */
#include "json.h"

#include <stdio.h>

#include "json-arena.h"

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
                json_arena_free(a);
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
