/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-ops-list.h - the operations this broker carries out, once each:
 * `bop_<id>`, defined beside the operation's act (broker-op-*.c).
 * Included by broker-op.h and broker-op.c only, with BROKER_OP defined.
 */
BROKER_OP(ping)
BROKER_OP(state_get)
BROKER_OP(memlock_set)
BROKER_OP(cgroup_move)
BROKER_OP(sched_set)
BROKER_OP(tap_create)
BROKER_OP(tap_destroy)
BROKER_OP(bridge_create)
BROKER_OP(bridge_destroy)
BROKER_OP(kvmi_attach)
BROKER_OP(kvmi_connect)
BROKER_OP(kvmi_set_page_access)
BROKER_OP(kvmi_detach)
