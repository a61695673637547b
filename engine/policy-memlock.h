/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * policy-memlock.h - the "memlock" section of a policy rule (policy-memlock.c).  Below the operation:
 * ops-memlock.c names the section in its descriptor, the section knows nothing
 * of the operation.
 */
#pragma once

#include "opdesc.h"

extern const policy_section policy_section_memlock;
