/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-cache.c - a client's remembered answers, for requests retried
 * with the same id: the last CLIENT_REPLY_CACHE, in LIMIT_CACHE_BYTES of
 * buffers in all (what was allocated, not what the answers filled), erased
 * when forgotten or overwritten.  Stored by the socket's replies
 * (broker-request.c) and by a restored session (broker-state.c), moved to
 * the connection that resumes a session (broker-state.c).  Looked up for
 * every request: an id above all it held is not looked for in the slots.
 */
#include <stdlib.h>
#include <string.h>

#include "broker.h"

static void cache_drop(client *c, cached_reply *slot) {
        c->cache_bytes -= slot->size;
        if (slot->buf) /* its length is known: no strlen() of a reply long out of the CPU's cache */
                explicit_bzero(slot->buf, slot->len);
        free(slot->buf);
        *slot = (cached_reply) {};
}

/*
 * The oldest answers make room: at most CLIENT_REPLY_CACHE, and
 * LIMIT_CACHE_BYTES of buffers (their allocated sizes, not the answers'
 * lengths: a small answer in a large reused buffer counts as the buffer).
 */
void client_cache_store(client *c, uint64_t id, const char *buf, size_t len, bool has_fds) {
        if (len >= LIMIT_CACHE_BYTES) /* its buffer, len + 1, would not fit */
                return;
        cached_reply *slot = &c->cache[c->cache_next];
        c->cache_next = (c->cache_next + 1) % CLIENT_REPLY_CACHE;
        uint32_t size = len + 1; /* len < LIMIT_CACHE_BYTES */
        /* the oldest answer's buffer takes this one when it fits and is not much larger (answers of one
         * client are mostly alike): erased, then filled, rather than freed and another allocated; a large
         * buffer is not kept for a small answer */
        bool reuse = slot->buf && slot->size >= size && slot->size / 2 <= size;
        if (reuse) {
                explicit_bzero(slot->buf, slot->len);
                size = slot->size; /* counted already */
        } else
                cache_drop(c, slot);
        /* the next oldest make room before anything is allocated */
        for (size_t k = 0; k + 1 < CLIENT_REPLY_CACHE && c->cache_bytes + (reuse ? 0 : size) > LIMIT_CACHE_BYTES; k++)
                cache_drop(c, &c->cache[(c->cache_next + k) % CLIENT_REPLY_CACHE]);
        if (!reuse) {
                if (!(slot->buf = malloc(size)))
                        return;
                c->cache_bytes += size;
        }
        memcpy(slot->buf, buf, len);
        slot->buf[len] = 0;
        slot->size = size;
        slot->len = len;
        slot->id = id;
        slot->has_fds = has_fds;
        if (id >= c->cache_top)
                c->cache_top = id + 1;
}

const cached_reply *client_cache_find(const client *c, uint64_t id) {
        /* a client's ids mostly grow: a new one is above all it sent, and no slot needs a look */
        if (id >= c->cache_top)
                return NULL;
        for (size_t i = 0; i < CLIENT_REPLY_CACHE; i++)
                if (c->cache[i].buf && c->cache[i].id == id)
                        return &c->cache[i];
        return NULL;
}

void client_cache_move(client *to, client *from) {
        for (size_t i = 0; i < CLIENT_REPLY_CACHE; i++) {
                to->cache[i] = from->cache[i];
                from->cache[i].buf = NULL;
        }
        to->cache_next = from->cache_next;
        to->cache_bytes = from->cache_bytes;
        to->cache_top = from->cache_top;
}
