/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-reply-cache - a client's remembered answers (broker-cache.c:
 * client_cache_store()) stay within LIMIT_CACHE_BYTES of memory however
 * the answers' sizes alternate.  A client sends one large answer's request
 * (a state.get) and then small ones (pings), round after round: the
 * buffers the cache holds, measured by malloc_usable_size() (what the
 * allocator gave, not the cache's own count), must stay below the limit
 * (and a little per buffer for the allocator's rounding), while the small
 * answers since the last large one are all still there to be retried.
 * client_cache_find() finds what is stored whatever the order of the ids,
 * also after client_cache_move() (a resumed session's cache).
 */
#include <malloc.h>
#include <stdio.h>
#include <string.h>

#include "broker.h"
#include "tap.h"

#define BIG (48 * 1024) /* two fit in LIMIT_CACHE_BYTES, three do not */
#define ROUNDING 64     /* per buffer, at most, that malloc_usable_size() may add to what was asked */

static char big[BIG + 1];

/* the bytes the cache's buffers hold, as the allocator sees them */
static size_t retained(const client *c) {
        size_t n = 0;
        for (size_t i = 0; i < CLIENT_REPLY_CACHE; i++)
                if (c->cache[i].buf)
                        n += malloc_usable_size(c->cache[i].buf);
        return n;
}

static size_t counted(const client *c) {
        size_t n = 0;
        for (size_t i = 0; i < CLIENT_REPLY_CACHE; i++)
                n += c->cache[i].buf ? c->cache[i].size : 0;
        return n;
}

/* the answer to @id is remembered as @want */
static bool holds(const client *c, uint64_t id, const char *want, size_t len) {
        for (size_t i = 0; i < CLIENT_REPLY_CACHE; i++)
                if (c->cache[i].buf && c->cache[i].id == id)
                        return c->cache[i].len == len && memcmp(c->cache[i].buf, want, len + 1) == 0;
        return false;
}

static void ping(char *out, size_t size, uint64_t id) {
        snprintf(out, size, "{\"id\":%llu,\"ok\":true,\"result\":{}}", (unsigned long long) id);
}

int main(void) {
        client c = {};
        uint64_t id = 1;
        size_t worst = 0, slack = CLIENT_REPLY_CACHE * ROUNDING;
        bool consistent = true, small_kept = true, big_kept = true;
        memset(big, 'x', BIG);
        for (int round = 0; round < 3 * CLIENT_REPLY_CACHE; round++) {
                uint64_t big_id = id++;
                snprintf(big, BIG, "{\"id\":%llu,\"ok\":true,\"result\":{\"state\":\"", (unsigned long long) big_id);
                big[strlen(big)] = 'x';
                big[BIG] = 0;
                client_cache_store(&c, big_id, big, BIG, false);
                big_kept = big_kept && holds(&c, big_id, big, BIG);
                worst = retained(&c) > worst ? retained(&c) : worst;
                uint64_t first = id;
                for (size_t k = 0; k < CLIENT_REPLY_CACHE + 1; k++) {
                        char msg[64];
                        ping(msg, sizeof(msg), id);
                        client_cache_store(&c, id++, msg, strlen(msg), false);
                        worst = retained(&c) > worst ? retained(&c) : worst;
                        consistent = consistent && c.cache_bytes == counted(&c) && c.cache_bytes <= LIMIT_CACHE_BYTES;
                }
                /* the last CLIENT_REPLY_CACHE pings are all there */
                for (uint64_t p = id - CLIENT_REPLY_CACHE; p < id; p++) {
                        char msg[64];
                        ping(msg, sizeof(msg), p);
                        small_kept = small_kept && p >= first && holds(&c, p, msg, strlen(msg));
                }
        }
        tap_ok(big_kept, "each large answer is remembered once stored");
        tap_ok(worst <= LIMIT_CACHE_BYTES + slack,
               "a large answer, then 33 small ones, 96 times: at most %zu bytes held (limit %d and %zu for rounding)",
               worst, LIMIT_CACHE_BYTES, slack);
        tap_ok(consistent, "the count it keeps is its buffers' sizes, within the limit");
        tap_ok(small_kept, "the last %d small answers are all remembered", CLIENT_REPLY_CACHE);

        /* a small answer does not keep a large buffer: a large one then fits beside the small ones */
        client_cache_store(&c, id, big, BIG, false);
        tap_ok(holds(&c, id, big, BIG), "a large answer after them is remembered");
        tap_ok(retained(&c) < (size_t) 2 * BIG, "and what is held is that and the small answers (%zu bytes)",
               retained(&c));
        id++;

        /* answers too large for the limit are not remembered, and drop nothing */
        static char huge[LIMIT_CACHE_BYTES + 1];
        memset(huge, 'y', LIMIT_CACHE_BYTES);
        size_t before = c.cache_bytes;
        client_cache_store(&c, id, huge, LIMIT_CACHE_BYTES, false);
        tap_ok(!holds(&c, id, huge, LIMIT_CACHE_BYTES) && c.cache_bytes == before,
               "an answer of LIMIT_CACHE_BYTES is not remembered, and nothing else is forgotten for it");

        /* lookups: ids out of order, an id above all, and a session's cache moved to a resuming connection */
        char msg[64];
        const cached_reply *r;
        ping(msg, sizeof(msg), id + 100);
        client_cache_store(&c, id + 100, msg, strlen(msg), false);
        ping(msg, sizeof(msg), id + 5);
        client_cache_store(&c, id + 5, msg, strlen(msg), false);
        tap_ok((r = client_cache_find(&c, id + 5)) && r->id == id + 5 && (r = client_cache_find(&c, id + 100)) &&
                       r->id == id + 100 && !client_cache_find(&c, id + 6) && !client_cache_find(&c, id + 101),
               "found by id, stored in any order; an id above all is not found");
        client resumed = {};
        client_cache_move(&resumed, &c);
        tap_ok((r = client_cache_find(&resumed, id + 5)) && r->len == strlen(msg) && memcmp(r->buf, msg, r->len) == 0 &&
                       client_cache_find(&resumed, id + 100) && !client_cache_find(&c, id + 5),
               "the cache moved to a resuming connection: its answers found there, no longer in the old one");
        tap_ok(resumed.cache_bytes == counted(&resumed), "and counted there");

        for (size_t i = 0; i < CLIENT_REPLY_CACHE; i++) {
                free(c.cache[i].buf);
                free(resumed.cache[i].buf);
        }
        return tap_done();
}
