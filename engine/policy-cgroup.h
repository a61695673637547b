/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * policy-cgroup.h - the "cgroup" section of a policy rule (policy-cgroup.c).  Below the operation:
 * ops-cgroup.c names the section in its descriptor, the section knows nothing
 * of the operation.
 */
#pragma once

#include "opdesc.h"

extern const policy_section policy_section_cgroup;
