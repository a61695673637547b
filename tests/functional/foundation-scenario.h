/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * foundation-scenario.h - what test-foundation, test-memlock and
 * test-memlock-prestart share: the scenario policy and a few test-client
 * steps (foundation-scenario.c).
 */
#pragma once

#include <sys/types.h>

#include "harness.h"

#define MiB (1024ULL * 1024ULL)
#define H harness_hard /* the scenario's hard limit; soft starts at H / 8 */

/* pods' launchers may lock up to 1 GiB; uid 3000 has no memlock section; root in /system may */
extern const char policy_main[];

/* The test client forks a child; its pid. */
pid_t spawn_child(tclient *c);
/* The test client as @uid in @pod for @vm (a failure is a failed check). */
void start_client(harness *h, tclient *c, const char *pod, uid_t uid, const char *vm);
/* Another client is still served (@when says after what). */
void ping_ok(tclient *c, const char *when);
