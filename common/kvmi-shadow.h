/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * kvmi-shadow.h - what the broker programmed: gfn -> access, with rwx
 * meaning "no restriction" and therefore absent (the kernel forgets such
 * a gfn too).  An open-addressing hash table of 8-byte slots, at most half
 * full: 16 bytes per restricted page at worst, O(1) set and lookup, so a
 * million pages cost 16 MiB and re-applying them is one linear walk.
 */
#pragma once

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct kvmi_shadow {
        uint64_t *slots; /* 0 = empty, else ((gfn + 1) << 3) | access */
        size_t cap;      /* power of two, or 0 */
        size_t n;
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
 * kvmi_shadow_reserve() - make room for @n gfns in all (at most the
 * maximum) at once, so that recording a batch of @n entries into a small
 * table does not rehash it at every doubling.  A batch that re-applies
 * recorded gfns needs no more room, so nothing is added for the gfns
 * already held; new ones beyond @n grow the table as kvmi_shadow_set()
 * always does.  Returns 0 or -ENOMEM (the table unchanged).
 */
int kvmi_shadow_reserve(kvmi_shadow *s, size_t n);
/* A hint before kvmi_shadow_set(@gfn) some entries later: fetch its slot's cache line. */
void kvmi_shadow_prefetch(const kvmi_shadow *s, uint64_t gfn);
/* The recorded access of @gfn: 7 (rwx) when none is recorded. */
uint8_t kvmi_shadow_get(const kvmi_shadow *s, uint64_t gfn);
/* Drop everything (the table memory is freed). */
void kvmi_shadow_clear(kvmi_shadow *s);

/*
 * Walk the entries from slot *@pos on: returns 1 with the next (gfn,
 * access) and advances *@pos, 0 at the end.  Order is the table's.
 */
int kvmi_shadow_next(const kvmi_shadow *s, size_t *pos, uint64_t *ret_gfn, uint8_t *ret_access);
