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
/* In a helper (it enters each record's netns): bit i of *@ret_gone for record i of @c that no longer
 * exists; returns how many TAP devices (not bridges) still do.  Then, in the loop, while TS(c)->gen
 * is still what the helper saw, tap_forget_gone() drops those records. */
unsigned tap_prune(client *c, uint64_t *ret_gone);
void tap_forget_gone(client *c, uint64_t gone);
/* Remove @recs (not adopted) where they still exist, in a detached process (@why: for the log). */
void tap_remove_detached(broker *b, const char *why, const tap_record *recs, size_t n);
