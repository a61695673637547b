/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cpus.h - CPU lists as the kernel writes them ("0-3,8,10-11"), as a fixed
 * bitmap that the policy, sched.set's affinity and cpuset.cpus share.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sched.h>

#define CPU_MASK_MAX 1024

typedef struct cpu_mask {
        uint64_t bits[CPU_MASK_MAX / 64];
} cpu_mask;

static inline bool cpu_mask_test(const cpu_mask *m, unsigned cpu) {
        return cpu < CPU_MASK_MAX && (m->bits[cpu / 64] >> (cpu % 64)) & 1;
}
static inline void cpu_mask_set(cpu_mask *m, unsigned cpu) {
        if (cpu < CPU_MASK_MAX)
                m->bits[cpu / 64] |= UINT64_C(1) << (cpu % 64);
}

/*
 * Parse a CPU list ("0-3,8"); whitespace around items is allowed, an empty
 * list is not.  -EINVAL with @msg saying what is wrong.
 */
int cpu_mask_parse(const char *s, cpu_mask *ret, char *msg, size_t size);
/* "0-3,8" (empty string for an empty mask). */
const char *cpu_mask_format(const cpu_mask *m, char *buf, size_t size);
/* Is every CPU of @a also in @b?  The first CPU that is not, in *ret_cpu. */
bool cpu_mask_subset(const cpu_mask *a, const cpu_mask *b, unsigned *ret_cpu);

void cpu_mask_to_set(const cpu_mask *m, cpu_set_t *set);
void cpu_mask_from_set(const cpu_set_t *set, cpu_mask *m);
