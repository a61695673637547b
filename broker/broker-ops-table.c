/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-ops-table.c - the registry's tables (broker-ops-list.h): the one
 * place that names every operation and session part.  It sits at the top,
 * with main.c, which hands the tables to broker-op.c at start
 * (broker_ops_register()); see the layers in broker.h.
 */
#include "broker-op.h"

#define BROKER_OP(id) &bop_##id,
#define SESSION_PART(id)
static const broker_op *const registry[] = {
#include "broker-ops-list.h"
};
#undef BROKER_OP
#undef SESSION_PART

#define BROKER_OP(id)
#define SESSION_PART(id) &session_part_##id,
static const session_part *const parts[] = {
#include "broker-ops-list.h"
};
#undef BROKER_OP
#undef SESSION_PART

void broker_ops_register(void) {
        broker_ops_set(registry, ELEMENTSOF(registry), parts, ELEMENTSOF(parts));
}
