/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* delegatectl-ops.h - the commands over the broker socket (delegatectl-ops.c) */
#pragma once

/* Each takes its words from the command's last one on; returns the exit status. */
int cmd_ping(int argc, char **argv);
int cmd_state(int argc, char **argv);
int cmd_memlock(int argc, char **argv);
int cmd_tap_create(int argc, char **argv);
int cmd_tap_destroy(int argc, char **argv);
int cmd_cgroup_move(int argc, char **argv);
int cmd_sched(int argc, char **argv);
