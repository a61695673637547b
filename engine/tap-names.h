/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tap-names.h - interface names, templates and MAC addresses (tap-names.c): a leaf below
 * the tap operations (ops-tap.c) and the "tap" and "bridge" sections (policy-tap.c). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TAP_NAME_MAX 15 /* IFNAMSIZ - 1 */

/* 1-15 characters of [A-Za-z0-9._-], neither "." nor "..". */
bool tap_name_valid(const char *s);
/* Exactly one "%d", otherwise tap_name_valid() characters, index 0 fits. */
bool tap_template_valid(const char *s);
/* @tmpl with "%d" replaced by @idx; -ENAMETOOLONG when it exceeds 15 characters. */
int tap_template_expand(const char *tmpl, unsigned idx, char *buf, size_t size);
/* Does @name fit policy pattern @pattern ("%d": a decimal index without
 * leading zeros; without "%d": equality)? */
bool tap_pattern_matches(const char *pattern, const char *name);
/* "52:54:00:12:34:56" -> 6 bytes; -EINVAL unless a unicast, non-zero MAC. */
int tap_mac_parse(const char *s, uint8_t ret[6]);
const char *tap_mac_format(const uint8_t mac[6], char *buf, size_t size);
