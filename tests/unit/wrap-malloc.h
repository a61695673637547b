/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * wrap-malloc.h - for a test linked with -Wl,--wrap=malloc (our code's
 * and yajl's allocations, through json-gen's allocator): while @armed, the
 * @fail_at-th call counted in @seen returns NULL.  Included by one file of
 * the program.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

void *__real_malloc(size_t size);
void *__wrap_malloc(size_t size);

static bool armed;
static unsigned fail_at, seen;

void *__wrap_malloc(size_t size) {
        if (armed && ++seen == fail_at)
                return NULL;
        return __real_malloc(size);
}
