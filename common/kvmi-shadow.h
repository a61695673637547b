/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * kvmi-shadow.h - what the broker programmed: gfn -> access, with rwx
 * meaning "no restriction" and therefore absent (the kernel forgets such
 * a gfn too).
 *
 * Two open-addressing tables, each at most half full, so that a page
 * costs at most 16 bytes whatever the layout of the gfns:
 *  - blocks of 128 consecutive gfns holding at least 8 restricted pages:
 *    a 64-byte slot each, one cache line (the block, its page count and
 *    the 128 accesses, three bits each, 21 to a word), so that a dense
 *    region costs 4 bits per gfn and a batch
 *    scattered over it touches far fewer cache lines than a slot per page
 *    would;
 *  - the pages of the other blocks: an 8-byte slot each, placed by their
 *    block, so that a block's pages lie in one run of slots and are
 *    counted there (the 8th page of a block moves them into a block slot;
 *    a block left with 7 moves them back).
 * O(1) set and lookup; a million pages scattered over 4 million gfns take
 * 32768 block slots (2 MiB of cache lines) instead of 16 MiB.
 */
#pragma once

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#include "kvmi-proto.h"

#define KVMI_SHADOW_BLOCK_SHIFT 7
#define KVMI_SHADOW_BLOCK_GFNS (1u << KVMI_SHADOW_BLOCK_SHIFT)
/* Words of 21 three-bit fields that hold a block's accesses: 7, and the key, make a cache line. */
#define KVMI_SHADOW_BLOCK_WORDS 7
/* Pages a block slot holds at least (128 bytes at most half full: 16 bytes a page). */
#define KVMI_SHADOW_BLOCK_MIN 8
/* A block slot's key: its block + 1, and above this bit how many pages it holds. */
#define KVMI_SHADOW_COUNT_SHIFT 56

typedef struct kvmi_shadow_block {
        uint64_t key;         /* 0 = empty, else (gfn >> 7) + 1, and the pages it holds << 56 */
        uint64_t field[KVMI_SHADOW_BLOCK_WORDS]; /* gfn j's access: bits 3 * (j % 21) of field[j / 21] (rwx: none) */
} kvmi_shadow_block;

typedef struct kvmi_shadow {
        kvmi_shadow_block *blocks; /* blocks holding at least KVMI_SHADOW_BLOCK_MIN pages */
        size_t bcap;               /* power of two, or 0 */
        unsigned bshift, pshift;   /* 64 - log2 of bcap and cap: the home slot is the hash's top bits */
        size_t nblocks;
        uint64_t *slots; /* pages of the other blocks: 0 = empty, else ((gfn + 1) << 3) | access */
        size_t cap;      /* power of two, or 0 */
        size_t nslots;
        size_t n;            /* restricted pages in all */
        size_t loose;        /* block slots the batches under way may still take for fewer pages (reserve) */
        size_t reserved;     /* what kvmi_shadow_reserve() gave the batches under way: entries / 8 */
        uint64_t *fresh;     /* blocks given a slot that way since the last batch ended, to settle */
        size_t nfresh, fresh_cap; /* fresh_cap >= nfresh + loose */
        size_t underfull;    /* block slots holding fewer than KVMI_SHADOW_BLOCK_MIN pages */
        size_t by_access[8]; /* how many gfns hold each access value */
        size_t max;          /* most gfns it may hold (0: no limit) */
} kvmi_shadow;

/* The largest gfn the slot encoding holds (52-bit gfns: 64-bit gpas). */
#define KVMI_SHADOW_MAX_GFN ((UINT64_C(1) << 60) - 2)

/**
 * kvmi_shadow_set() - record @access for @gfn (7 removes it).
 * Returns 0, -ENOSPC when the shadow already holds its maximum, -ENOMEM,
 * -ERANGE for a gfn beyond KVMI_SHADOW_MAX_GFN.
 */
int kvmi_shadow_set(kvmi_shadow *s, uint64_t gfn, uint8_t access);
/**
 * kvmi_shadow_record() - kvmi_shadow_set() of the page of each of the @n
 * entries at @e, in order, the slots of those ahead fetched meanwhile.
 * Returns how many could not be recorded (*@ret_first: the first's index).
 */
size_t kvmi_shadow_record(kvmi_shadow *s, const kvmi_page_access_entry *e, size_t n, size_t *ret_first);
/**
 * kvmi_shadow_reserve() - a batch of @n entries will be recorded (at most
 * the maximum), now or after the batches queued before it: block slots for
 * it at once (for a batch with a page in four of its blocks' gfns, so that
 * a small shadow does not rehash at every doubling; room already there,
 * such as for a batch re-applying recorded pages, is not added again), and
 * until it ends (kvmi_shadow_batch_done()) up to @n / 8 block slots for
 * blocks of fewer than 8 pages: a batch spread over many blocks fills them
 * without passing through the page table, for at most 16 bytes more per
 * entry of the batches under way (their memfds take as much).  Returns 0
 * or -ENOMEM (no page is lost; the batch then takes no such slot).
 */
int kvmi_shadow_reserve(kvmi_shadow *s, size_t n);
/**
 * kvmi_shadow_batch_done() - the batch of @n entries given to
 * kvmi_shadow_reserve() ended (0: one that reserved nothing): the blocks
 * that took a slot for fewer than 8 pages since the last batch ended and
 * still hold fewer go back to the page table, so that however many batches
 * stay queued the shadow takes at most 16 bytes a page plus 16 per entry of
 * the batches under way.  Takes time in the number of such blocks, never
 * walks the table.
 */
void kvmi_shadow_batch_done(kvmi_shadow *s, size_t n);
/**
 * kvmi_shadow_settle() - no batch is under way any more (all ended, or
 * dropped unrecorded): kvmi_shadow_batch_done() of them all.
 */
void kvmi_shadow_settle(kvmi_shadow *s);
/* Fibonacci hashing of a block number (gfn >> 7): the top bits of the product. */
static inline size_t kvmi_shadow_home(uint64_t block, unsigned shift) {
        return (size_t) ((block * UINT64_C(0x9E3779B97F4A7C15)) >> shift);
}
static inline unsigned kvmi_shadow_shift(size_t cap) {
        return 64 - (unsigned) __builtin_ctzll(cap);
}
/*
 * A hint before kvmi_shadow_set(@gfn) some entries later: fetch its slots' cache lines.  A macro:
 * GCC 12 finds an inline function holding only __builtin_prefetch pure and drops its calls.
 */
#define kvmi_shadow_prefetch(s, gfn)                                                                      \
        do {                                                                                              \
                const kvmi_shadow *_s = (s);                                                              \
                uint64_t _b = (gfn) >> KVMI_SHADOW_BLOCK_SHIFT;                                           \
                if (_s->nblocks)                                                                          \
                        __builtin_prefetch(&_s->blocks[kvmi_shadow_home(_b, _s->bshift)], 1);             \
                if (_s->nslots)                                                                           \
                        __builtin_prefetch(&_s->slots[kvmi_shadow_home(_b, _s->pshift)], 1);              \
        } while (0)
/* The recorded access of @gfn: 7 (rwx) when none is recorded. */
uint8_t kvmi_shadow_get(const kvmi_shadow *s, uint64_t gfn);
/* Drop everything (the table memory is freed). */
void kvmi_shadow_clear(kvmi_shadow *s);

/*
 * Walk the entries from *@pos on (0 to start): returns 1 with the next
 * (gfn, access) and advances *@pos, 0 at the end.  Order is the tables';
 * the shadow must not change during a walk.
 */
int kvmi_shadow_next(const kvmi_shadow *s, size_t *pos, uint64_t *ret_gfn, uint8_t *ret_access);
