/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* delegatectl-bus.h - the commands over D-Bus (delegatectl-bus.c) */
#pragma once

/* status, sessions, reload; session ID, revoke ID: the command's words from its name on. */
int cmd_bus(int argc, char **argv);
/* explain --uid U [--gid G] --cgroup C [--vm V] [--via V] OP [ARGS]. */
int cmd_bus_explain(int argc, char **argv);
