/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * no-openat2 - run $NO_OPENAT2_EXEC (with this program's argv) with
 * openat2(2) failing with ENOSYS, as systemd's RestrictSUIDSGID= makes it
 * fail in a service: its filter cannot read the mode inside struct
 * open_how, so it refuses every openat2().  The harness starts the broker
 * through it (DELEGATE_BROKER) for the cgroup-move-no-openat2 scenario.
 */
#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv) {
        const char *exe = getenv("NO_OPENAT2_EXEC");
        if (!exe || argc < 1) {
                fprintf(stderr, "no-openat2: set NO_OPENAT2_EXEC to the program to run\n");
                return 127;
        }
        scmp_filter_ctx c = seccomp_init(SCMP_ACT_ALLOW);
        if (!c || seccomp_rule_add(c, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(openat2), 0) < 0 || seccomp_load(c) < 0) {
                fprintf(stderr, "no-openat2: cannot install the filter\n");
                return 127;
        }
        seccomp_release(c);
        execv(exe, argv);
        fprintf(stderr, "no-openat2: cannot execute %s: %m\n", exe);
        return 127;
}
