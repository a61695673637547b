/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz.h - the entry point every fuzz target defines.  Linked with
 * libFuzzer (-Dfuzz=enabled, clang) or with fuzz-driver.c, which replays
 * files and directories of inputs (the default build's fuzz suite).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* abort() with a message when @cond is false: a broken invariant is a finding. */
#define FUZZ_ASSERT(cond)                                                                   \
        do {                                                                                \
                if (!(cond)) {                                                              \
                        fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond); \
                        abort();                                                            \
                }                                                                           \
        } while (0)
