/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * no-pidfd-info - run $NO_PIDFD_INFO_EXEC (with this program's argv) with
 * ioctl(PIDFD_GET_INFO) failing with ENOTTY, as on kernels before 6.13
 * (which have PIDFD_THREAD, 6.9, but not that ioctl).  The harness starts
 * the broker through it (DELEGATE_BROKER) for the threads-no-pidfd-info
 * scenario: thread ids are then resolved through /proc, and every check
 * must hold as before.
 */
#include <errno.h>
#include <linux/ioctl.h>
#include <seccomp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* include/uapi/linux/pidfd.h: _IOWR(PIDFS_IOCTL_MAGIC 0xFF, 11, struct pidfd_info), 64 bytes in 6.13 */
#define GET_INFO_64 _IOC(_IOC_READ | _IOC_WRITE, 0xFF, 11, 64)

int main(int argc, char **argv) {
        const char *exe = getenv("NO_PIDFD_INFO_EXEC");
        if (!exe || argc < 1) {
                fprintf(stderr, "no-pidfd-info: set NO_PIDFD_INFO_EXEC to the program to run\n");
                return 127;
        }
        scmp_filter_ctx c = seccomp_init(SCMP_ACT_ALLOW);
        /* any size of the struct: the request's size bits masked off */
        uint32_t mask = ~(uint32_t) (_IOC_SIZEMASK << _IOC_SIZESHIFT);
        if (!c || seccomp_rule_add(c, SCMP_ACT_ERRNO(ENOTTY), SCMP_SYS(ioctl), 1,
                                   SCMP_A1(SCMP_CMP_MASKED_EQ, mask, GET_INFO_64 & mask)) < 0 ||
            seccomp_load(c) < 0) {
                fprintf(stderr, "no-pidfd-info: cannot install the filter\n");
                return 127;
        }
        seccomp_release(c);
        execv(exe, argv);
        fprintf(stderr, "no-pidfd-info: cannot execute %s: %m\n", exe);
        return 127;
}
