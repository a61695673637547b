/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* delegatectl-util.h - shared by every delegatectl command (delegatectl-util.c) */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "wire.h"
#include "util.h"

/* the global options (delegatectl(1) OPTIONS) */
extern const char *arg_socket;
extern const char *arg_vm;
extern bool arg_json;
extern const char *arg_bus;

/* "delegatectl: <message>" and the hint to --help on stderr; returns 2, the usage exit status. */
int usage_error(const char *fmt, ...) _printf_(1, 2);
/* @s as a JSON string on stdout; null without the memory to escape it. */
void print_json_string(const char *s);
/* @op failed with @e: a JSON error object on stdout with --json, else a sentence on stderr; returns 1. */
int report_error(const char *op, const delegate_error *e);
/* Connect to the broker (--socket, --vm); 0 with *ret, or -errno with @err. */
int open_ctx(delegate_ctx **ret, delegate_error *err);
/* --uid ('u') or --gid ('g') @arg: 0 with *ret, or -EINVAL with the usage error said. */
int parse_id(int opt, const char *arg, uint32_t *ret);
