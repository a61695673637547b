/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * local.h - the library's local route: operations the caller may perform
 * itself, without the broker.
 */
#pragma once

#include "json.h"
#include "wire.h"

/**
 * local_try() - perform @op locally if this process may.
 * Returns 1 when done (*ret_result set when non-NULL), 0 when the caller
 * lacks what it needs or the op has no local implementation (forward it),
 * -errno on a definitive failure (@err filled: bad arguments, no such pid).
 */
int local_try(const char *op, const json_value *args, char **ret_result, delegate_error *err);
