/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-op-tap.h - what tap.create, tap.destroy, bridge.create and
 * bridge.destroy share in the broker: the devices a session holds
 * (session_part_tap, broker-op-tap-session.c).
 */
#pragma once

#include "broker.h"

/* session_part_tap: c->part[SESSION_PART_tap] */
typedef struct tap_session {
        tap_record rec[SESSION_MAX_TAP];
        size_t n;
        unsigned tap_inflight;    /* tap.create requests in progress */
        unsigned bridge_inflight; /* bridge.create requests in progress */
        uint64_t gen;             /* bumped whenever rec[] changes */
} tap_session;

static inline tap_session *TS(const client *c) {
        return c->part[SESSION_PART_tap];
}

/* The session ends: remove the devices it created that still exist, in a
 * detached process, and forget them (broker-op-tap.c). */
void tap_session_end(client *c);
