/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* delegatectl-policy.h - the offline policy commands (delegatectl-policy.c) */
#pragma once

int cmd_policy_check(int argc, char **argv);
int cmd_policy_explain(int argc, char **argv);
