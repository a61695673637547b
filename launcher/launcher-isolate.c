/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * launcher-isolate.c - the launcher's privilege stages.
 *
 * 1. At start: no capabilities at all (libcap-ng clears every set, should
 *    the pod have granted any) and PR_SET_NO_NEW_PRIVS, inherited by QEMU.
 * 2. Once QEMU runs and every delegated step is done: a libseccomp
 *    allowlist for the supervisor, default action kill (setsockopt other
 *    than SO_RCVTIMEO: EPERM).  From then on the
 *    launcher only waits for signals and QEMU's exit, talks QMP, and
 *    (re)connects to the broker.
 */
#include <cap-ng.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>

#include "launcher.h"

int launcher_drop_privileges(char *err, size_t size) {
        /* The bounding set can only be cleared with CAP_SETPCAP.  Without it (an
         * unprivileged pod) it is left alone: asking libcap-ng anyway only makes it
         * warn on stderr, and no_new_privs below keeps any bit in it unreachable. */
        bool setpcap = capng_have_capability(CAPNG_EFFECTIVE, CAP_SETPCAP);
        capng_select_t what = setpcap ? CAPNG_SELECT_ALL : CAPNG_SELECT_CAPS;
        if (capng_have_capabilities(CAPNG_SELECT_CAPS) != CAPNG_NONE ||
            (setpcap && capng_have_capabilities(CAPNG_SELECT_BOUNDS) != CAPNG_NONE)) {
                capng_clear(what);
                int r = capng_apply(what);
                if (r < 0) {
                        snprintf(err, size, "cannot drop capabilities (libcap-ng error %d)", r);
                        return -EPERM;
                }
        }
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
                snprintf(err, size, "PR_SET_NO_NEW_PRIVS: %m");
                return negative_errno();
        }
        return 0;
}

static void seccomp_releasep(scmp_filter_ctx *c) {
        if (*c)
                seccomp_release(*c);
}

int launcher_seccomp(char *err, size_t size) {
        static const struct {
                const char *name;
                const char *why;
        } allow[] = {
                { "read", "QMP, signalfd, /proc" },
                { "write", "stderr" },
                { "writev", "stderr through stdio" },
                { "recvmsg", "broker replies with fds" },
                { "sendmsg", "broker requests" },
                { "recvfrom", "QMP" },
                { "sendto", "QMP" },
                { "socket", "reconnecting to the broker" },
                { "connect", "reconnecting to the broker" },
                { "getsockopt", "library connection checks" },
                { "accept4", "QEMU's introspection connections (launcher-kvmi.c)" },
                { "unlink", "the KVMI socket and secret file at exit" },
                { "unlinkat", "the KVMI socket and secret file at exit" },
                { "rmdir", "the KVMI directory at exit" },
                { "poll", "waiting" },
                { "ppoll", "waiting" },
                { "wait4", "reaping QEMU" },
                { "waitid", "reaping QEMU" },
                { "kill", "SIGKILL to QEMU after the shutdown timeout" },
                { "close", "fds" },
                { "openat", "/proc reads" },
                { "fstat", "stdio" },
                { "newfstatat", "stdio" },
                { "lseek", "stdio" },
                { "fcntl", "fd flags" },
                { "clock_gettime", "timeouts" },
                { "clock_nanosleep", "reconnect backoff" },
                { "nanosleep", "reconnect backoff" },
                { "getpid", "library" },
                { "gettid", "library" },
                { "getrandom", "library" },
                { "brk", "malloc" },
                { "mmap", "malloc" },
                { "munmap", "malloc" },
                { "mremap", "realloc" },
                { "madvise", "free" },
                { "futex", "stdio locks" },
                { "rt_sigprocmask", "signal mask" },
                { "rt_sigreturn", "signal handlers" },
                { "rt_sigaction", "signal setup" },
                { "restart_syscall", "interrupted sleeps" },
                { "exit", "exit" },
                { "exit_group", "exit" },
#ifdef __SANITIZE_ADDRESS__
                /* ASan/LSan builds only: the leak check at exit runs a tracer thread */
                { "clone", "LSan" },          { "clone3", "LSan" },         { "ptrace", "LSan" },
                { "prctl", "LSan" },          { "sched_yield", "LSan" },    { "sigaltstack", "ASan" },
                { "getrlimit", "ASan" },      { "prlimit64", "ASan" },      { "readlink", "ASan" },
                { "readlinkat", "ASan" },     { "mprotect", "ASan" },       { "getppid", "LSan" },
                { "set_robust_list", "LSan" }, { "rseq", "LSan" },          { "rt_sigtimedwait", "LSan" },
                { "waitpid", "LSan" },        { "dup", "ASan" },            { "dup2", "ASan" },
                { "pipe", "LSan" },           { "pipe2", "LSan" },          { "uname", "ASan" },
                { "open", "ASan reads /proc/self/maps" }, { "stat", "ASan" },    { "sched_getaffinity", "LSan" },
                { "getdents", "LSan" },       { "getdents64", "LSan" },     { "tgkill", "LSan" },
                { "lstat", "ASan" },          { "access", "ASan" },         { "faccessat", "ASan" },
#endif
        };
        _cleanup_(seccomp_releasep) scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
        if (!ctx) {
                snprintf(err, size, "seccomp_init failed");
                return -ENOMEM;
        }
        for (size_t i = 0; i < ELEMENTSOF(allow); i++) {
                int nr = seccomp_syscall_resolve_name(allow[i].name);
                if (nr == __NR_SCMP_ERROR)
                        continue; /* not on this architecture */
                int r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
                if (r < 0) {
                        snprintf(err, size, "seccomp: cannot allow %s: %s", allow[i].name, strerror(-r));
                        return r;
                }
        }
        /* libdelegate's wait for a reply on a new connection (SO_RCVTIMEO, set once per connection; glibc on
         * 32-bit time64 systems may use SO_RCVTIMEO_OLD or _NEW) is allowed; any other setsockopt fails with
         * EPERM (the library then waits with poll()), it does not kill the launcher.  An unconditional EPERM
         * rule would override the allowing ones, and libseccomp takes one comparison per argument: EPERM
         * for another level, and for each option below, between (one by one: 45 on x86-64) and above the
         * allowed ones (kept sorted). */
        const scmp_datum_t rcvtimeo[] = { SO_RCVTIMEO, /* an expression on 32-bit: not for #if */
#ifdef SO_RCVTIMEO_OLD
                                          SO_RCVTIMEO_OLD,
#endif
#ifdef SO_RCVTIMEO_NEW
                                          SO_RCVTIMEO_NEW,
#endif
        };
        scmp_datum_t v[ELEMENTSOF(rcvtimeo)];
        size_t n = 0;
        for (size_t i = 0; i < ELEMENTSOF(rcvtimeo); i++) { /* insertion sort of 3 at most, without duplicates */
                size_t k = n;
                for (; k > 0 && v[k - 1] > rcvtimeo[i]; k--)
                        ;
                if (k > 0 && v[k - 1] == rcvtimeo[i])
                        continue;
                memmove(v + k + 1, v + k, (n - k) * sizeof(v[0]));
                v[k] = rcvtimeo[i];
                n++;
        }
        const uint32_t eperm = SCMP_ACT_ERRNO(EPERM), nr = (uint32_t) SCMP_SYS(setsockopt);
        const struct scmp_arg_cmp sol = SCMP_A1(SCMP_CMP_EQ, SOL_SOCKET, 0);
        int r = seccomp_rule_add(ctx, eperm, (int) nr, 1, SCMP_A1(SCMP_CMP_NE, SOL_SOCKET, 0));
        if (r >= 0)
                r = seccomp_rule_add(ctx, eperm, (int) nr, 2, sol, SCMP_A2(SCMP_CMP_LT, v[0], 0));
        if (r >= 0)
                r = seccomp_rule_add(ctx, eperm, (int) nr, 2, sol, SCMP_A2(SCMP_CMP_GT, v[n - 1], 0));
        for (size_t i = 0; r >= 0 && i < n; i++) {
                r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, (int) nr, 2, sol, SCMP_A2(SCMP_CMP_EQ, v[i], 0));
                for (scmp_datum_t o = v[i] + 1; r >= 0 && i + 1 < n && o < v[i + 1]; o++)
                        r = seccomp_rule_add(ctx, eperm, (int) nr, 2, sol, SCMP_A2(SCMP_CMP_EQ, o, 0));
        }
        if (r < 0) {
                snprintf(err, size, "seccomp: cannot add the setsockopt rules: %s", strerror(-r));
                return r;
        }
        r = seccomp_load(ctx);
        if (r < 0) {
                snprintf(err, size, "seccomp_load: %s", strerror(-r));
                return r;
        }
        return 0;
}
