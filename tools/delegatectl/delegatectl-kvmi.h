/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* delegatectl-kvmi.h - the kvmi command (delegatectl-kvmi.c) */
#pragma once

/* "delegatectl kvmi run ..." (delegatectl(1)), from "run" on; returns the exit status. */
int cmd_kvmi(int argc, char **argv);
