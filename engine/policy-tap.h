/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * policy-tap.h - the "tap" and "bridge" sections of a policy rule (policy-tap.c).  Below the operation:
 * ops-tap.c names the section in its descriptor, the section knows nothing
 * of the operation.
 */
#pragma once

#include "opdesc.h"

extern const policy_section policy_section_tap, policy_section_bridge;
