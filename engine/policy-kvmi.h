/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * policy-kvmi.h - the "kvmi" section of a policy rule (policy-kvmi.c).  Below the operation:
 * ops-kvmi.c names the section in its descriptor, the section knows nothing
 * of the operation.
 */
#pragma once

#include "opdesc.h"

extern const policy_section policy_section_kvmi;
