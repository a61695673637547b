/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * wrap-free.h - for a test linked with -Wl,--wrap=free: every block our
 * code frees (and yajl's, through json-gen's allocator) is counted in
 * @n_freed and scanned, all of it (malloc_usable_size()), for @free_marker
 * (when set): @n_marked counts the blocks that still held it.  Included by
 * one file of the program.
 */
#pragma once

#include <malloc.h>
#include <string.h>

void __real_free(void *p);
void __wrap_free(void *p);

static const char *free_marker;
static unsigned n_freed, n_marked;

void __wrap_free(void *p) {
        if (p) {
                n_freed++;
                n_marked += free_marker && memmem(p, malloc_usable_size(p), free_marker, strlen(free_marker)) != NULL;
        }
        __real_free(p);
}
