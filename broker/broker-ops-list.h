/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-ops-list.h - the operations this broker carries out, once each:
 * `bop_<id>`, defined beside the operation's act (broker-op-*.c).
 * Then what sessions hold, once each: `session_part_<id>`, defined beside
 * the operations that fill it.  Included with BROKER_OP and SESSION_PART
 * defined (broker.h, broker-op.h, broker-ops-table.c).
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
BROKER_OP(unotify_attach)

SESSION_PART(memlock)
SESSION_PART(cgroup)
SESSION_PART(sched)
SESSION_PART(tap)
SESSION_PART(kvmi)
SESSION_PART(unotify)
