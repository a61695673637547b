/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "kvmi-shadow.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static size_t slot_of(uint64_t gfn, size_t cap) {
        /* Fibonacci hashing: consecutive gfns spread over the table */
        return (size_t) ((gfn * UINT64_C(0x9E3779B97F4A7C15)) >> 20) & (cap - 1);
}

static uint64_t key_of(uint64_t slot) {
        return (slot >> 3) - 1;
}

static int resize(kvmi_shadow *s, size_t cap) {
        uint64_t *n = calloc(cap, sizeof(uint64_t));
        if (!n)
                return -ENOMEM;
        for (size_t i = 0; i < s->cap; i++) {
                if (!s->slots[i])
                        continue;
                size_t j = slot_of(key_of(s->slots[i]), cap);
                while (n[j])
                        j = (j + 1) & (cap - 1);
                n[j] = s->slots[i];
        }
        free(s->slots);
        s->slots = n;
        s->cap = cap;
        return 0;
}

static int grow(kvmi_shadow *s) {
        return resize(s, s->cap ? s->cap * 2 : 1024);
}

int kvmi_shadow_reserve(kvmi_shadow *s, size_t n) {
        size_t want = n, cap = s->cap ? s->cap : 1024;
        if (s->max && want > s->max)
                want = s->max;
        if (want > SIZE_MAX / 4)
                return -ENOMEM;
        while (want * 2 > cap)
                cap *= 2;
        return cap == s->cap ? 0 : resize(s, cap);
}

void kvmi_shadow_prefetch(const kvmi_shadow *s, uint64_t gfn) {
        if (s->cap)
                __builtin_prefetch(&s->slots[slot_of(gfn, s->cap)], 1);
}

/* Index of @gfn's slot, or of the empty slot where it would go. */
static size_t find(const kvmi_shadow *s, uint64_t gfn) {
        size_t j = slot_of(gfn, s->cap);
        while (s->slots[j] && key_of(s->slots[j]) != gfn)
                j = (j + 1) & (s->cap - 1);
        return j;
}

/* Linear-probing deletion without tombstones: shift the cluster back. */
static void erase_at(kvmi_shadow *s, size_t i) {
        size_t mask = s->cap - 1, j = i;
        s->slots[i] = 0;
        for (;;) {
                j = (j + 1) & mask;
                if (!s->slots[j])
                        return;
                size_t home = slot_of(key_of(s->slots[j]), s->cap);
                /* move j to i when its home is not cyclically within (i, j] */
                bool stay = i <= j ? (home > i && home <= j) : (home > i || home <= j);
                if (!stay) {
                        s->slots[i] = s->slots[j];
                        s->slots[j] = 0;
                        i = j;
                }
        }
}

int kvmi_shadow_set(kvmi_shadow *s, uint64_t gfn, uint8_t access) {
        access &= 7;
        if (gfn > KVMI_SHADOW_MAX_GFN)
                return -ERANGE;
        if (s->cap) {
                size_t i = find(s, gfn);
                if (s->slots[i]) {
                        s->by_access[s->slots[i] & 7]--;
                        if (access == 7) {
                                erase_at(s, i);
                                s->n--;
                                return 0;
                        }
                        s->slots[i] = ((gfn + 1) << 3) | access;
                        s->by_access[access]++;
                        return 0;
                }
        }
        if (access == 7)
                return 0;
        if (s->max && s->n >= s->max)
                return -ENOSPC;
        if ((s->n + 1) * 2 > s->cap) {
                int r = grow(s);
                if (r < 0)
                        return r;
        }
        size_t i = find(s, gfn);
        s->slots[i] = ((gfn + 1) << 3) | access;
        s->n++;
        s->by_access[access]++;
        return 0;
}

uint8_t kvmi_shadow_get(const kvmi_shadow *s, uint64_t gfn) {
        if (!s->cap || gfn > KVMI_SHADOW_MAX_GFN)
                return 7;
        size_t i = find(s, gfn);
        return s->slots[i] ? (uint8_t) (s->slots[i] & 7) : 7;
}

void kvmi_shadow_clear(kvmi_shadow *s) {
        free(s->slots);
        size_t max = s->max;
        memset(s, 0, sizeof(*s));
        s->max = max;
}

int kvmi_shadow_next(const kvmi_shadow *s, size_t *pos, uint64_t *ret_gfn, uint8_t *ret_access) {
        for (size_t i = *pos; i < s->cap; i++)
                if (s->slots[i]) {
                        *ret_gfn = key_of(s->slots[i]);
                        *ret_access = (uint8_t) (s->slots[i] & 7);
                        *pos = i + 1;
                        return 1;
                }
        *pos = s->cap;
        return 0;
}
