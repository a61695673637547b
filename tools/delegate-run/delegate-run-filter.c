/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * delegate-run-filter.c - the syscalls delegate-run hands to the broker.
 *
 * The filter is as narrow as the arguments in registers allow, so that
 * the program's other calls never wait for the broker: the broker still
 * looks at each notified call and lets the kernel judge (CONTINUE) what it
 * does not act on (a get of a limit behind a pointer, a non-realtime
 * policy in sched_setattr's struct, a TUN instead of a TAP).
 */
#if defined(__clang__)
#pragma clang diagnostic ignored "-Wmissing-field-initializers"
#endif
#include <errno.h>
#include <sys/ioctl.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "delegate-run-filter.h"

#ifndef SCHED_RESET_ON_FORK
#define SCHED_RESET_ON_FORK 0x40000000
#endif

static void seccomp_releasep(scmp_filter_ctx *c) {
        if (*c)
                seccomp_release(*c);
}

#define NOTIFY(ctx, name, ...)                                                                                   \
        seccomp_rule_add_array(ctx, SCMP_ACT_NOTIFY, seccomp_syscall_resolve_name(name),                        \
                               sizeof((struct scmp_arg_cmp[]) { __VA_ARGS__ }) / sizeof(struct scmp_arg_cmp),  \
                               (struct scmp_arg_cmp[]) { __VA_ARGS__ })

int unotify_filter_install(int *ret_listener, char *msg, size_t size) {
        __attribute__((cleanup(seccomp_releasep))) scmp_filter_ctx ctx = NULL;
        /* ioctl's request is an int: compare the low 32 bits */
        static const unsigned long ioctls[] = { TUNSETIFF, SIOCSIFHWADDR, SIOCSIFFLAGS, SIOCSIFMTU };
        int r = 0;

        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
                snprintf(msg, size, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
                return -errno;
        }
        ctx = seccomp_init(SCMP_ACT_ALLOW);
        if (!ctx) {
                snprintf(msg, size, "seccomp_init: out of memory");
                return -ENOMEM;
        }
        /* prlimit64(pid, RLIMIT_MEMLOCK, new != NULL, old): a change of the limit */
        r = r ?: NOTIFY(ctx, "prlimit64", SCMP_A1(SCMP_CMP_EQ, RLIMIT_MEMLOCK), SCMP_A2(SCMP_CMP_NE, 0));
        /* setrlimit(RLIMIT_MEMLOCK, rlim) */
        r = r ?: NOTIFY(ctx, "setrlimit", SCMP_A0(SCMP_CMP_EQ, RLIMIT_MEMLOCK));
        /* sched_setscheduler(tid, SCHED_FIFO or SCHED_RR [| SCHED_RESET_ON_FORK], param) */
        r = r ?: NOTIFY(ctx, "sched_setscheduler",
                        SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu & ~(unsigned) SCHED_RESET_ON_FORK, SCHED_FIFO));
        r = r ?: NOTIFY(ctx, "sched_setscheduler",
                        SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu & ~(unsigned) SCHED_RESET_ON_FORK, SCHED_RR));
        /* sched_setattr(tid, attr, flags): the policy is behind the pointer */
        r = r ?: seccomp_rule_add(ctx, SCMP_ACT_NOTIFY, seccomp_syscall_resolve_name("sched_setattr"), 0);
        for (size_t i = 0; i < sizeof(ioctls) / sizeof(ioctls[0]); i++)
                r = r ?: NOTIFY(ctx, "ioctl", SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, ioctls[i]));
        if (r < 0) {
                snprintf(msg, size, "cannot build the seccomp filter: %s", strerror(-r));
                return r;
        }
        r = seccomp_load(ctx);
        if (r < 0) {
                snprintf(msg, size, "cannot load the seccomp filter with a listener (seccomp_unotify(2) needs "
                                    "Linux 5.0): %s", strerror(-r));
                return r;
        }
        int fd = seccomp_notify_fd(ctx);
        if (fd < 0) {
                snprintf(msg, size, "the seccomp filter has no listener");
                return -ENOTCONN;
        }
        /* the kernel made it O_CLOEXEC: the program never holds it */
        *ret_listener = fd;
        return 0;
}
