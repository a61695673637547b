/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * deny-calls - run $DENY_CALLS_EXEC (with this program's argv) with each
 * syscall named in $DENY_CALLS (space-separated) failing with EPERM, as a
 * systemd unit's SystemCallFilter= does with SystemCallErrorNumber=EPERM.
 * test-unotify.c starts the broker through it to stand for the shipped
 * unit without its unotify.conf drop-in.  An entry "ioctl:REQUEST" (a
 * number, e.g. 0xc040ff0b) makes that ioctl request fail with ENOTTY
 * whatever its size bits, as a kernel without it answers: test-thread.c
 * stands for kernels before 6.13 with PIDFD_GET_INFO's.  "pread64:COUNT"
 * makes only the pread64 calls asking for COUNT bytes fail with EPERM, so
 * that one of the broker's readers (by its buffer size) meets an error
 * other than its file being gone while the dynamic loader still works;
 * "read:COUNT" the same for read() (test-restart-slots.c: a state file read
 * whole, by its size, fails);
 * "pidfd_open:FLAGS" only the pidfd_open calls with those flags (0: of a
 * process, not of a thread).
 */
#include <errno.h>
#include <linux/ioctl.h>
#include <seccomp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* "NAME:VALUE": only the calls whose argument number arg is VALUE fail with EPERM */
static const struct {
        const char *name;
        unsigned arg;
} by_arg[] = {
        { "pread64", 2 },    /* reads of that many bytes: one reader's buffer */
        { "read", 2 },       /* the same for read(): a file read whole by its size */
        { "pidfd_open", 1 }, /* pidfds with these flags */
};

static int deny_by_arg(scmp_filter_ctx c, char *n) {
        char *value = strchr(n, ':');
        *value++ = '\0';
        for (size_t i = 0; i < sizeof(by_arg) / sizeof(by_arg[0]); i++)
                if (!strcmp(n, by_arg[i].name)) {
                        struct scmp_arg_cmp cmp = { .arg = by_arg[i].arg, .op = SCMP_CMP_EQ,
                                                    .datum_a = strtoull(value, NULL, 0) };
                        return seccomp_rule_add(c, SCMP_ACT_ERRNO(EPERM), seccomp_syscall_resolve_name(n), 1, cmp);
                }
        return -EINVAL;
}

int main(int argc, char **argv) {
        const char *exe = getenv("DENY_CALLS_EXEC"), *calls = getenv("DENY_CALLS");
        if (!exe || !calls || argc < 1) {
                fprintf(stderr, "deny-calls: set DENY_CALLS_EXEC and DENY_CALLS\n");
                return 127;
        }
        scmp_filter_ctx c = seccomp_init(SCMP_ACT_ALLOW);
        char *list = strdup(calls), *save = NULL;
        for (char *n = list ? strtok_r(list, " ", &save) : NULL; c && n; n = strtok_r(NULL, " ", &save)) {
                if (!strncmp(n, "ioctl:", 6)) {
                        uint32_t mask = ~(uint32_t) (_IOC_SIZEMASK << _IOC_SIZESHIFT);
                        uint32_t req = (uint32_t) strtoul(n + 6, NULL, 0);
                        if (seccomp_rule_add(c, SCMP_ACT_ERRNO(ENOTTY), SCMP_SYS(ioctl), 1,
                                             SCMP_A1(SCMP_CMP_MASKED_EQ, mask, req & mask)) < 0) {
                                fprintf(stderr, "deny-calls: cannot deny '%s'\n", n);
                                return 127;
                        }
                        continue;
                }
                if (strchr(n, ':')) {
                        if (deny_by_arg(c, n) < 0) {
                                fprintf(stderr, "deny-calls: cannot deny '%s'\n", n);
                                return 127;
                        }
                        continue;
                }
                int nr = seccomp_syscall_resolve_name(n);
                if (nr == __NR_SCMP_ERROR || seccomp_rule_add(c, SCMP_ACT_ERRNO(EPERM), nr, 0) < 0) {
                        fprintf(stderr, "deny-calls: cannot deny '%s'\n", n);
                        return 127;
                }
        }
        if (!c || !list || seccomp_load(c) < 0) {
                fprintf(stderr, "deny-calls: cannot install the filter\n");
                return 127;
        }
        seccomp_release(c);
        free(list);
        execv(exe, argv);
        fprintf(stderr, "deny-calls: cannot execute %s: %m\n", exe);
        return 127;
}
