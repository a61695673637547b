/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "json.h"

/*
 * parse_size() - "1048576", "64K", "512M", "64G", "1T" (binary multiples;
 * "KiB"/"MiB"/... and "k" accepted too), "unlimited"/"infinity" (UINT64_MAX).
 * Returns 0, -EINVAL for malformed text, -ERANGE on overflow.
 */
int parse_size(const char *s, uint64_t *ret);

/* A JSON number or size string, e.g. in a policy or request. */
int json_to_size(const json_value *v, uint64_t *ret);

/* "64 GiB", "1.5 MiB", "unlimited", "4096 B"; @buf of at least 32 bytes. */
const char *format_size(uint64_t v, char *buf, size_t size);

/* Emit a limit: a number, or the string "unlimited" for UINT64_MAX. */
void json_gen_limit(json_gen *g, uint64_t v);
