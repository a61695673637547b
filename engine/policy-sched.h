/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * policy-sched.h - the "sched" section of a policy rule (policy-sched.c).  Below the operation:
 * ops-sched.c names the section in its descriptor, the section knows nothing
 * of the operation.
 */
#pragma once

#include "opdesc.h"

extern const policy_section policy_section_sched;
