/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * json-arena.h - where a parse (json-parse.c) puts its tree: chunks of
 * memory handed out in order, erased (explicit_bzero) and freed all at once
 * with the last of the tree's values (json_free(), json.c).  Allocating is
 * inline: a parse takes a piece for every value, key and string.
 */
#pragma once

#include <stdalign.h>
#include <stddef.h>
#include <string.h>

typedef struct json_arena_chunk {
        struct json_arena_chunk *next;
        size_t size, used;
        alignas(16) unsigned char data[];
} json_arena_chunk;

typedef struct json_arena json_arena;
struct json_arena {
        size_t live;              /* values made and not yet freed */
        json_arena_chunk *chunks; /* newest first; the first holds this struct */
};

#define JSON_ARENA_ALIGN 8

/* An arena whose first chunk holds @hint bytes (the tree of a text of that size, usually); NULL: no memory */
json_arena *json_arena_new(size_t hint);
/* @size bytes from a new chunk, when the newest has no room (json_arena_alloc()) */
void *json_arena_grow(json_arena *a, size_t size);
/* Erase and free every chunk; @a with them */
void json_arena_free(json_arena *a);

static inline void *json_arena_chunk_take(json_arena_chunk *c, size_t size) {
        size = (size + JSON_ARENA_ALIGN - 1) & ~(size_t) (JSON_ARENA_ALIGN - 1);
        if (c->size - c->used < size)
                return NULL;
        void *p = c->data + c->used;
        c->used += size;
        return p;
}

static inline void *json_arena_alloc(json_arena *a, size_t size) {
        void *p = json_arena_chunk_take(a->chunks, size);
        return p ? p : json_arena_grow(a, size);
}

static inline char *json_arena_strndup(json_arena *a, const void *s, size_t len) {
        char *d = json_arena_alloc(a, len + 1);
        if (d) {
                memcpy(d, s, len);
                d[len] = 0;
        }
        return d;
}
