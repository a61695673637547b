/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

/* "delegatectl kvmi run ..." (delegatectl(1)); returns the exit status. */
int cmd_kvmi(int argc, char **argv, const char *socket, const char *vm, bool json);
