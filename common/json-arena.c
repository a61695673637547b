/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * json-arena.c - the chunks of a parse's tree (json-arena.h).
 */
#include "json-arena.h"

#include <stdlib.h>

#define ARENA_MAX_CHUNK (1u << 20)

static json_arena_chunk *chunk_new(size_t size) {
        json_arena_chunk *c = malloc(sizeof(*c) + size);
        if (c)
                *c = (json_arena_chunk) { .size = size };
        return c;
}

json_arena *json_arena_new(size_t hint) {
        json_arena_chunk *c = chunk_new(sizeof(json_arena) + hint);
        if (!c)
                return NULL;
        json_arena *a = json_arena_chunk_take(c, sizeof(*a));
        *a = (json_arena) { .chunks = c };
        return a;
}

void *json_arena_grow(json_arena *a, size_t size) {
        size_t want = a->chunks->size < ARENA_MAX_CHUNK ? 2 * a->chunks->size : ARENA_MAX_CHUNK;
        json_arena_chunk *c = chunk_new(want > size + JSON_ARENA_ALIGN ? want : size + JSON_ARENA_ALIGN);
        if (!c)
                return NULL;
        c->next = a->chunks;
        a->chunks = c;
        return json_arena_chunk_take(c, size);
}

void json_arena_free(json_arena *a) {
        if (!a)
                return;
        /* @a lives in the last chunk of the list: read it before that is erased */
        for (json_arena_chunk *c = a->chunks, *next; c; c = next) {
                next = c->next;
                explicit_bzero(c->data, c->used);
                free(c);
        }
}
