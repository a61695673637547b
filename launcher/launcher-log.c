/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * launcher-log.c - the launcher's progress messages on stdout, prefixed
 * with the VM's name ("delegate-launcher[vm]: ...").
 */
#include <stdarg.h>
#include <stdio.h>

#include "launcher.h"

void launcher_say(const vm_spec *s, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stdout, "delegate-launcher[%s]: ", s && s->name ? s->name : "-");
        vfprintf(stdout, fmt, ap);
        fputc('\n', stdout);
        fflush(stdout);
        va_end(ap);
}
