/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "kvmi-shadow.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define BLOCK_SHIFT KVMI_SHADOW_BLOCK_SHIFT
#define BIT_MASK (KVMI_SHADOW_BLOCK_GFNS - 1)

_Static_assert(sizeof(kvmi_shadow_block) == 64, "a block slot is a cache line");
#define MIN_CAP 1024

static size_t home_of(uint64_t block, size_t cap) {
        return kvmi_shadow_home(block, kvmi_shadow_shift(cap));
}

static uint64_t gfn_of(uint64_t slot) {
        return (slot >> 3) - 1;
}

static uint64_t slot_for(uint64_t gfn, uint8_t access) {
        return ((gfn + 1) << 3) | access;
}

/* Which field of which word holds gfn @bit of a block: 21 three-bit fields a word. */
#define FIELDS 21
#define FIELDS_ALL (UINT64_C(0x7FFFFFFFFFFFFFFF)) /* 21 fields of rwx: nothing recorded */
#define FIELD_LOW (UINT64_C(0x1249249249249249))  /* the lowest bit of each field */

static inline uint8_t block_get(const kvmi_shadow_block *b, unsigned bit) {
        return (uint8_t) (b->field[bit / FIELDS] >> (bit % FIELDS * 3) & 7);
}

static inline void block_put(kvmi_shadow_block *b, unsigned bit, uint8_t access) {
        uint64_t *f = &b->field[bit / FIELDS];
        unsigned shift = bit % FIELDS * 3;
        *f = (*f & ~(UINT64_C(7) << shift)) | (uint64_t) access << shift;
}

/* The restricted gfns of word @w: the lowest bit of each field that is not rwx. */
static inline uint64_t block_word_pages(const kvmi_shadow_block *b, unsigned w) {
        uint64_t x = ~b->field[w] & FIELDS_ALL;
        return (x | x >> 1 | x >> 2) & FIELD_LOW;
}

/* A block slot's key: its block + 1, and in the top bits how many pages it holds (no popcount on x86-64's baseline). */
#define COUNT_SHIFT KVMI_SHADOW_COUNT_SHIFT
#define KEY_MASK ((UINT64_C(1) << COUNT_SHIFT) - 1)

static uint64_t block_of(const kvmi_shadow_block *b) {
        return (b->key & KEY_MASK) - 1;
}

static unsigned block_pages(const kvmi_shadow_block *b) {
        return (unsigned) (b->key >> COUNT_SHIFT);
}

/* --- the page table: slots placed by their block, linear probing --- */

/*
 * Index of @gfn's slot, or of the empty slot that ends its block's run;
 * *@ret_same counts the pages of its block met on the way (all of them
 * when it is not found: they lie between the home slot and that empty one).
 */
static size_t page_find(const kvmi_shadow *s, uint64_t gfn, size_t *ret_same) {
        size_t mask = s->cap - 1, j = home_of(gfn >> BLOCK_SHIFT, s->cap), same = 0;
        for (; s->slots[j]; j = (j + 1) & mask) {
                uint64_t g = gfn_of(s->slots[j]);
                if (g == gfn)
                        break;
                same += (g >> BLOCK_SHIFT) == (gfn >> BLOCK_SHIFT);
        }
        *ret_same = same;
        return j;
}

static void page_place(uint64_t *slots, size_t cap, uint64_t slot) {
        size_t j = home_of(gfn_of(slot) >> BLOCK_SHIFT, cap);
        while (slots[j])
                j = (j + 1) & (cap - 1);
        slots[j] = slot;
}

/* Transparent huge pages for a table at least this large (x86-64's PMD size). */
#define HUGE_SIZE ((size_t) 2 << 20)
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

/*
 * A zeroed table, populated at once (one call, no fault a page later, at
 * random: a page of calloc()'s would be read as the shared zero page when
 * first probed and copied when first written) and page-aligned (two block
 * slots a cache line, never one across two).
 *
 * A table of 2 MiB or more is aligned to 2 MiB and asked for huge pages
 * before it is populated (MADV_HUGEPAGE, which THP's default "madvise"
 * mode needs): a million pages' block table is 4 MiB, 1024 small pages
 * whose first touches each cost a page walk and, on a hypervisor that
 * shadows the guest's page tables, an exit (1.2-1.5 us a page measured
 * on this project's VMs: 5 ms for that table), against two huge pages.
 * Without THP it is the same table in small pages.
 */
static void *table_alloc(size_t size) {
        if (size < HUGE_SIZE) {
                void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
                return p == MAP_FAILED ? NULL : p;
        }
        uint8_t *m = mmap(NULL, size + HUGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED)
                return NULL;
        uint8_t *p = (uint8_t *) (((uintptr_t) m + HUGE_SIZE - 1) & ~(uintptr_t) (HUGE_SIZE - 1));
        if (p > m)
                munmap(m, (size_t) (p - m));
        if (m + HUGE_SIZE > p)
                munmap(p + size, (size_t) (m + HUGE_SIZE - p));
        (void) madvise(p, size, MADV_HUGEPAGE); /* a hint: no THP, small pages */
        if (madvise(p, size, MADV_POPULATE_WRITE) < 0)
                for (size_t i = 0; i < size; i += 4096) /* an older kernel: touch each page */
                        ((volatile uint8_t *) p)[i] = 0;
        return p;
}

static void table_free(void *p, size_t size) {
        if (p)
                munmap(p, size);
}

static int page_resize(kvmi_shadow *s, size_t cap) {
        uint64_t *n = table_alloc(cap * sizeof(uint64_t));
        if (!n)
                return -ENOMEM;
        for (size_t i = 0; i < s->cap; i++)
                if (s->slots[i])
                        page_place(n, cap, s->slots[i]);
        table_free(s->slots, s->cap * sizeof(uint64_t));
        s->slots = n;
        s->cap = cap;
        s->pshift = kvmi_shadow_shift(cap);
        return 0;
}

/* The capacity of a table of @cap slots (0: none yet) for @used + @more entries, at most half full. */
static size_t cap_for(size_t cap, size_t used, size_t more) {
        for (cap = cap ? cap : MIN_CAP; (used + more) * 2 > cap;)
                cap *= 2;
        return cap;
}

/* Linear probing without tombstones: may the entry at @j, whose home is @home, stay when slot @i empties? */
static bool stays(size_t i, size_t j, size_t home) {
        return i <= j ? (home > i && home <= j) : (home > i || home <= j);
}

/* Room for @more page slots. */
static int page_room(kvmi_shadow *s, size_t more) {
        size_t cap = cap_for(s->cap, s->nslots, more);
        return cap == s->cap ? 0 : page_resize(s, cap);
}

/* Linear-probing deletion without tombstones: shift the cluster back. */
static void page_erase(kvmi_shadow *s, size_t i) {
        size_t mask = s->cap - 1, j = i;
        s->slots[i] = 0;
        s->nslots--;
        for (;;) {
                j = (j + 1) & mask;
                if (!s->slots[j])
                        return;
                if (!stays(i, j, home_of(gfn_of(s->slots[j]) >> BLOCK_SHIFT, s->cap))) {
                        s->slots[i] = s->slots[j];
                        s->slots[j] = 0;
                        i = j;
                }
        }
}

/* --- the block table --- */

/* Index of @block's slot, or of the empty slot where it would go. */
static size_t block_find(const kvmi_shadow *s, uint64_t block) {
        size_t mask = s->bcap - 1, j = kvmi_shadow_home(block, s->bshift);
        while (s->blocks[j].key && (s->blocks[j].key & KEY_MASK) != block + 1)
                j = (j + 1) & mask;
        return j;
}

static int block_resize(kvmi_shadow *s, size_t cap) {
        kvmi_shadow_block *n = table_alloc(cap * sizeof(kvmi_shadow_block));
        if (!n)
                return -ENOMEM;
        for (size_t i = 0; i < s->bcap; i++) {
                if (!s->blocks[i].key)
                        continue;
                size_t j = home_of(block_of(&s->blocks[i]), cap);
                while (n[j].key)
                        j = (j + 1) & (cap - 1);
                n[j] = s->blocks[i];
        }
        table_free(s->blocks, s->bcap * sizeof(kvmi_shadow_block));
        s->blocks = n;
        s->bcap = cap;
        s->bshift = kvmi_shadow_shift(cap);
        return 0;
}

static int block_room(kvmi_shadow *s, size_t more) {
        size_t cap = cap_for(s->bcap, s->nblocks, more);
        return cap == s->bcap ? 0 : block_resize(s, cap);
}

static void block_erase(kvmi_shadow *s, size_t i) {
        size_t mask = s->bcap - 1, j = i;
        s->blocks[i].key = 0;
        s->nblocks--;
        for (;;) {
                j = (j + 1) & mask;
                if (!s->blocks[j].key)
                        return;
                if (!stays(i, j, home_of(block_of(&s->blocks[j]), s->bcap))) {
                        s->blocks[i] = s->blocks[j];
                        s->blocks[j].key = 0;
                        i = j;
                }
        }
}

/*
 * A block slot for @gfn's block, whose pages (if any) leave the page table:
 * its 8th page, or a page of a batch under way (kvmi_shadow_reserve()).
 */
static __attribute__((noinline)) int promote(kvmi_shadow *s, uint64_t gfn, uint8_t access) {
        uint64_t block = gfn >> BLOCK_SHIFT;
        int r = block_room(s, 1);
        if (r < 0)
                return r;
        kvmi_shadow_block b = { .key = 0 };
        for (unsigned w = 0; w < KVMI_SHADOW_BLOCK_WORDS; w++)
                b.field[w] = FIELDS_ALL;
        uint64_t pages = 1;
        size_t mask = s->cap - 1, j = s->nslots ? home_of(block, s->cap) : 0;
        while (s->nslots && s->slots[j]) {
                uint64_t g = gfn_of(s->slots[j]);
                if (g >> BLOCK_SHIFT != block) {
                        j = (j + 1) & mask;
                        continue;
                }
                block_put(&b, g & BIT_MASK, s->slots[j] & 7);
                page_erase(s, j); /* slot j now holds the next of the run, or is empty */
                pages++;
        }
        block_put(&b, gfn & BIT_MASK, access);
        b.key = (block + 1) | pages << COUNT_SHIFT;
        s->blocks[block_find(s, block)] = b;
        s->nblocks++;
        s->underfull += block_pages(&b) < KVMI_SHADOW_BLOCK_MIN;
        return 0;
}

/* A block with fewer pages than the minimum: they go back to the page table (kept when there is no room). */
static __attribute__((noinline)) void demote(kvmi_shadow *s, size_t i) {
        if (page_room(s, KVMI_SHADOW_BLOCK_MIN - 1) < 0)
                return; /* it stays a block: more memory than the bound, nothing wrong */
        kvmi_shadow_block b = s->blocks[i];
        block_erase(s, i);
        s->underfull--;
        uint64_t first = block_of(&b) << BLOCK_SHIFT;
        for (unsigned w = 0; w < KVMI_SHADOW_BLOCK_WORDS; w++)
                for (uint64_t pages = block_word_pages(&b, w); pages; pages &= pages - 1) {
                        unsigned bit = w * FIELDS + (unsigned) __builtin_ctzll(pages) / 3;
                        page_place(s->slots, s->cap, slot_for(first + bit, block_get(&b, bit)));
                        s->nslots++;
                }
}

/* A page of a block slot: branches only where a batch's pages seldom go (the limit, a block emptied). */
static inline __attribute__((always_inline)) int block_set(kvmi_shadow *s, kvmi_shadow_block *b, unsigned bit, uint8_t access) {
        uint8_t old = block_get(b, bit);
        if (__builtin_expect(s->max && s->n >= s->max, 0) && old == 7 && access != 7)
                return -ENOSPC;
        bool was_under = block_pages(b) < KVMI_SHADOW_BLOCK_MIN;
        block_put(b, bit, access);
        int64_t added = (old == 7) - (access == 7);
        b->key += (uint64_t) added << COUNT_SHIFT;
        bool under = block_pages(b) < KVMI_SHADOW_BLOCK_MIN;
        s->underfull = s->underfull + under - was_under;
        s->by_access[old] -= old != 7;
        s->by_access[access] += access != 7;
        s->n += (size_t) added;
        if (under && access == 7 && old != 7)
                demote(s, (size_t) (b - s->blocks));
        return 0;
}

/* A page of a block without a block slot: the page table, or the block's 8th page. */
static __attribute__((noinline)) int page_set(kvmi_shadow *s, uint64_t gfn, uint8_t access) {
        size_t same = 0;
        if (s->nslots) {
                size_t j = page_find(s, gfn, &same);
                if (s->slots[j]) {
                        s->by_access[s->slots[j] & 7]--;
                        if (access == 7) {
                                page_erase(s, j);
                                s->n--;
                                return 0;
                        }
                        s->slots[j] = slot_for(gfn, access);
                        s->by_access[access]++;
                        return 0;
                }
        }
        if (access == 7)
                return 0;
        if (s->max && s->n >= s->max)
                return -ENOSPC;
        /* a block slot at its 8th page, or at once while a batch may take one */
        bool block = same + 1 >= KVMI_SHADOW_BLOCK_MIN || s->loose > 0;
        int r = block ? promote(s, gfn, access) : page_room(s, 1);
        if (r < 0)
                return r;
        if (!block) {
                page_place(s->slots, s->cap, slot_for(gfn, access));
                s->nslots++;
        } else if (same + 1 < KVMI_SHADOW_BLOCK_MIN) {
                s->loose--;
                s->fresh[s->nfresh++] = gfn >> BLOCK_SHIFT; /* room: fresh_cap >= nfresh + loose */
        }
        s->n++;
        s->by_access[access]++;
        return 0;
}

static inline int set_one(kvmi_shadow *s, uint64_t gfn, uint8_t access) {
        access &= 7;
        if (gfn > KVMI_SHADOW_MAX_GFN)
                return -ERANGE;
        if (s->nblocks) {
                kvmi_shadow_block *b = &s->blocks[block_find(s, gfn >> BLOCK_SHIFT)];
                if (b->key)
                        return block_set(s, b, gfn & BIT_MASK, access);
        }
        return page_set(s, gfn, access);
}

int kvmi_shadow_set(kvmi_shadow *s, uint64_t gfn, uint8_t access) {
        return set_one(s, gfn, access);
}

/* entries ahead whose slots are fetched while one is recorded: the tables are larger than the
 * caches and the gfns arrive in any order */
#define RECORD_PREFETCH 24

size_t kvmi_shadow_record(kvmi_shadow *s, const kvmi_page_access_entry *e, size_t n, size_t *ret_first) {
        size_t failed = 0;
        for (size_t i = 0; i < n && i < RECORD_PREFETCH; i++)
                kvmi_shadow_prefetch(s, e[i].gpa >> KVMI_PAGE_SHIFT);
        for (size_t i = 0; i < n; i++) {
                if (i + RECORD_PREFETCH < n)
                        kvmi_shadow_prefetch(s, e[i + RECORD_PREFETCH].gpa >> KVMI_PAGE_SHIFT);
                if (set_one(s, e[i].gpa >> KVMI_PAGE_SHIFT, e[i].access) < 0 && failed++ == 0)
                        *ret_first = i;
        }
        return failed;
}

/* The block slots for fewer than 8 pages a batch of @n entries may take. */
static size_t loose_for(const kvmi_shadow *s, size_t n) {
        return (s->max && n > s->max ? s->max : n) / KVMI_SHADOW_BLOCK_MIN;
}

int kvmi_shadow_reserve(kvmi_shadow *s, size_t n) {
        if (s->max && n > s->max)
                n = s->max;
        /* block slots for a batch with a page in four of its blocks' gfns (fewer grow the table) */
        size_t blocks = n / (KVMI_SHADOW_BLOCK_GFNS / 4);
        int r = block_room(s, blocks > s->nblocks ? blocks - s->nblocks : 0);
        if (r < 0)
                return r;
        size_t add = loose_for(s, n);
        if (s->nfresh + s->loose + add > s->fresh_cap) {
                size_t cap = s->nfresh + s->loose + add;
                uint64_t *f = realloc(s->fresh, cap * sizeof(*f));
                if (!f)
                        return -ENOMEM;
                s->fresh = f;
                s->fresh_cap = cap;
        }
        s->loose += add;
        s->reserved += add;
        return 0;
}

void kvmi_shadow_batch_done(kvmi_shadow *s, size_t n) {
        size_t done = loose_for(s, n);
        s->reserved -= done < s->reserved ? done : s->reserved;
        /* what the batches still queued reserved: nfresh + loose >= reserved, so fresh_cap holds it */
        s->loose = s->reserved;
        for (size_t k = 0; k < s->nfresh && s->underfull > 0; k++) {
                if (!s->nblocks)
                        break;
                size_t i = block_find(s, s->fresh[k]);
                /* still a block slot of fewer pages (a block met twice is a full one or none then) */
                if (s->blocks[i].key && block_pages(&s->blocks[i]) < KVMI_SHADOW_BLOCK_MIN)
                        demote(s, i); /* no room in the page table: it stays, nothing wrong */
        }
        s->nfresh = 0;
}

void kvmi_shadow_settle(kvmi_shadow *s) {
        s->reserved = 0;
        kvmi_shadow_batch_done(s, 0);
}

uint8_t kvmi_shadow_get(const kvmi_shadow *s, uint64_t gfn) {
        if (gfn > KVMI_SHADOW_MAX_GFN)
                return 7;
        if (s->nblocks) {
                size_t i = block_find(s, gfn >> BLOCK_SHIFT);
                if (s->blocks[i].key)
                        return block_get(&s->blocks[i], gfn & BIT_MASK);
        }
        if (!s->nslots)
                return 7;
        size_t same, j = page_find(s, gfn, &same);
        return s->slots[j] ? (uint8_t) (s->slots[j] & 7) : 7;
}

void kvmi_shadow_clear(kvmi_shadow *s) {
        table_free(s->blocks, s->bcap * sizeof(kvmi_shadow_block));
        table_free(s->slots, s->cap * sizeof(uint64_t));
        free(s->fresh);
        size_t max = s->max;
        memset(s, 0, sizeof(*s));
        s->max = max;
}

int kvmi_shadow_next(const kvmi_shadow *s, size_t *pos, uint64_t *ret_gfn, uint8_t *ret_access) {
        size_t i = *pos, in_blocks = s->bcap << BLOCK_SHIFT;
        /* positions [0, bcap * 128): gfn i % 128 of block slot i / 128; then the page slots */
        while (i < in_blocks) {
                size_t first = i & ~(size_t) BIT_MASK;
                const kvmi_shadow_block *b = &s->blocks[i >> BLOCK_SHIFT];
                unsigned bit = (unsigned) (i & BIT_MASK), w = bit / FIELDS;
                uint64_t left = b->key ? block_word_pages(b, w) >> (bit % FIELDS * 3) : 0;
                if (!left) {
                        /* the next word, or the next block (the fields past gfn 127 are never restricted) */
                        unsigned next = b->key ? (w + 1) * FIELDS : KVMI_SHADOW_BLOCK_GFNS;
                        i = first + (next < KVMI_SHADOW_BLOCK_GFNS ? next : KVMI_SHADOW_BLOCK_GFNS);
                        continue;
                }
                bit += (unsigned) __builtin_ctzll(left) / 3;
                *ret_gfn = (block_of(b) << BLOCK_SHIFT) + bit;
                *ret_access = block_get(b, bit);
                *pos = first + bit + 1;
                return 1;
        }
        for (i -= in_blocks; i < s->cap; i++)
                if (s->slots[i]) {
                        *ret_gfn = gfn_of(s->slots[i]);
                        *ret_access = (uint8_t) (s->slots[i] & 7);
                        *pos = in_blocks + i + 1;
                        return 1;
                }
        *pos = in_blocks + s->cap;
        return 0;
}
