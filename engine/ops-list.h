/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ops-list.h - the registry: every operation of API version 1, once, in the
 * order op_names() and the "allowed" lists give them.  Each line names the
 * descriptor `op_<id>` its own file (ops-*.c) defines.  Included by ops.h
 * and ops.c only, with DELEGATE_OP defined.
 */
DELEGATE_OP(ping)
DELEGATE_OP(state_get)
DELEGATE_OP(memlock_set)
DELEGATE_OP(cgroup_move)
DELEGATE_OP(sched_set)
DELEGATE_OP(tap_create)
DELEGATE_OP(tap_destroy)
DELEGATE_OP(bridge_create)
DELEGATE_OP(bridge_destroy)
DELEGATE_OP(kvmi_attach)
DELEGATE_OP(kvmi_connect)
DELEGATE_OP(kvmi_set_page_access)
DELEGATE_OP(kvmi_detach)
DELEGATE_OP(unotify_attach)
DELEGATE_OP(manage_inspect)
DELEGATE_OP(manage_evaluate)
DELEGATE_OP(manage_reload)
DELEGATE_OP(manage_revoke)
