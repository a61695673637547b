/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-seccomp.c - the broker's last privilege stage: PR_SET_NO_NEW_PRIVS
 * and a libseccomp allowlist, default action SCMP_ACT_KILL_PROCESS.
 *
 * Installed after setup (the socket is bound, the policy loaded, the
 * capabilities dropped: broker-caps.c) and before the event loop.  The
 * netns worker thread (broker-netns-worker.c: TAP steps in the peer's
 * network namespace) gets it with TSYNC; the helper processes
 * (broker-helper.c: memlock as the target's user, TAP steps while the
 * worker is busy), the forker that forks the memlock helpers
 * (broker-forker.c) and the detached TAP cleanup processes are forked from
 * the broker and inherit it, so the list covers them too.  Each syscall says who needs it; a few are allowed only
 * with certain arguments, where that is cheap and shuts a door:
 *
 *   socket()      AF_UNIX, and AF_NETLINK with NETLINK_ROUTE only
 *   socketpair()  AF_UNIX only
 *   ioctl()       the TUN requests of tap.create, TCGETS (isatty()), and
 *                 PIDFD_GET_INFO (what a pinned thread or process target
 *                 is: its process, parent, cgroup id and ids)
 *   clone()       fork-like only: no new namespace (so no CLONE_NEWUSER),
 *                 no thread (the client loop threads are started before
 *                 the filter, which TSYNC installs on all of them); clone3()
 *                 fails with ENOSYS (its flags sit
 *                 behind a pointer seccomp cannot read), so the C library
 *                 falls back to clone()
 *   setns()       network namespaces only
 *   prctl()       PR_SET_PDEATHSIG and PR_SET_DUMPABLE 0 only (helpers),
 *                 PR_GET_NAME and PR_SET_NAME (naming the forker)
 *   kill()        signal 0 (does it exist?) and SIGKILL (a hung helper)
 *   pidfd_send_signal()  signal 0 (is it alive?) and SIGKILL (a hung
 *                 helper of the forker's)
 *   setgroups()   to the empty list only
 *   mmap(), mprotect()  never PROT_EXEC: no new code after setup
 *
 * A syscall outside the list kills the whole broker with SIGSYS (the kernel
 * logs it as audit type 1326); a helper that strays dies alone and its
 * request fails.  Builds with AddressSanitizer need more for the sanitizer
 * runtime; those are added only under __SANITIZE_ADDRESS__.
 */
/* libseccomp's SCMP_A0_32() and friends leave datum_b to zero-initialisation,
 * which is what we mean; clang's -Wextra calls that a missing initializer. */
#if defined(__clang__)
#pragma clang diagnostic ignored "-Wmissing-field-initializers"
#endif
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/nsfs.h>
#include <linux/seccomp.h>
#include <linux/sockios.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <syslog.h>

#include "broker.h"
#include "config.h"
#include "proc.h"

typedef struct allowed {
        const char *name;
        const char *why;
} allowed;

/* Allowed with any arguments. */
static const allowed allow[] = {
        /* I/O on client sockets, helper sockets, KVMI channels, files */
        { "read", "signalfd, timerfd, /proc and policy files" },
        { "pread64", "/proc and cgroup files read whole from offset 0, some kept open (sched.set); KVMI memfd entries" },
        { "write", "stderr, cgroup files" },
        { "writev", "stderr through stdio; journal entries too large for one datagram" },
        { "recvmsg", "client requests with fds, helper answers, netlink" },
        { "recvmmsg", "client requests: one and, if it follows already, the next (broker-loop.c)" },
        { "sendmsg", "replies with fds, helper answers, journal, netlink" },
        { "sendmmsg", "the journal records of one loop iteration (broker-log.c)" },
        { "recvfrom", "KVMI channel, netlink (libnl)" },
        { "sendto", "replies without fds (send), KVMI channel, netlink (libnl), sd_notify" },
        { "accept4", "new clients" },
        { "connect", "journal and sd_notify sockets" },
        { "bind", "netlink sockets (libnl binds its port)" },
        { "getsockname", "netlink sockets (libnl)" },
        { "getsockopt", "SO_PEERCRED, SO_PEERPIDFD of clients" },
        { "setsockopt", "netlink buffer sizes (libnl), journal socket" },
        { "shutdown", "libsystemd (sd-bus closing its connection)" },
        { "close", "everything" },
        { "close_range", "a TAP helper closes what it inherited before saying it holds nothing (broker-helper.c)" },
        { "fcntl", "F_DUPFD_CLOEXEC, F_GET_SEALS (KVMI memfd), F_SETFD" },
        /* files and directories */
        { "openat", "/proc, policy files, cgroup files, /dev/net/tun" },
        { "openat2", "cgroup targets with RESOLVE_BENEATH (moving threads)" },
        { "newfstatat", "stat of files" },
        { "readlinkat", "memlock.set: the target's user namespace (/proc/PID/ns/user); ASan reports" },
        { "statx", "libsystemd" },
        { "fstatfs", "cgroup v2 check (moving threads)" },
        { "lseek", "stdio (fclose of a partly read stream), libsystemd" },
        { "getdents64", "/proc/PID/task, policy directory" },
        { "faccessat", "libsystemd" },
        { "fsync", "session state files (write, fsync unless on tmpfs, rename)" },
        { "renameat", "session state files (a new one renamed into place, a rejected one moved aside)" },
        { "renameat2", "session state files: renameat() where the kernel has no renameat (riscv64)" },
        { "ftruncate", "session state files on tmpfs (a version more than 4 KiB longer written over: cut to length)" },
        { "pwritev", "session state files on tmpfs (the older of a session's two files written over, both kept open)" },
        { "mkdirat", "creating cgroup targets" },
        { "unlinkat", "removing created cgroups (AT_REMOVEDIR), state files" },
        { "unlink", "the socket at exit" },
        /* memory */
        { "brk", "malloc" },
        { "munmap", "malloc, KVMI memfd" },
        { "mremap", "realloc" },
        { "madvise", "free; huge pages for a KVMI shadow table of 2 MiB or more (MADV_HUGEPAGE, MADV_POPULATE_WRITE)" },
        { "memfd_create", "journal: entries too large for a datagram travel as a sealed memfd" },
        /* event loop (sd-event) */
        { "epoll_create1", "sd-event" },
        { "epoll_ctl", "sd-event" },
        { "epoll_wait", "sd-event" },
        { "epoll_pwait2", "sd-event of newer libsystemd" },
        { "timerfd_create", "sd-event timers" },
        { "timerfd_settime", "sd-event timers" },
        { "signalfd4", "sd-event signals (SIGHUP, SIGTERM, SIGINT)" },
        { "inotify_init1", "sd-event inotify: cgroup.events of created cgroups, reaped when empty" },
        { "inotify_add_watch", "the same" },
        { "inotify_rm_watch", "the same" },
        { "poll", "wire: hang-up check" },
        { "ppoll", "wire: hang-up check" },
        { "clock_gettime", "timeouts, burst windows" },
        { "sched_yield", "the main thread lets a loop thread that waits for the broker lock have it first" },
        { "getrandom", "KVMI secrets, resume tokens, hash seeds" },
        { "sysinfo", "qsort() of large arrays (KVMI probing) asks for the memory size" },
        { "futex", "C library locks" },
        { "rt_sigprocmask", "signal masks (loop, helpers)" },
        { "rt_sigaction", "SIGPIPE ignored" },
        { "rt_sigreturn", "signal handlers" },
        { "restart_syscall", "interrupted sleeps" },
        { "alarm", "detached TAP cleanup bounds its own run time" },
        /* processes: helpers and detached cleanup */
        { "wait4", "reaping helpers" },
        { "waitid", "libsystemd" },
        { "exit", "C library" },
        { "exit_group", "exit" },
        { "set_robust_list", "the C library in a forked child" },
        { "getpid", "C library, sd-event" },
        { "gettid", "C library, sd-event" },
        { "getppid", "libsystemd" },
        { "getuid", "memlock: same ids as the target?" },
        { "getgid", "memlock: same ids as the target?" },
        { "geteuid", "C library, libsystemd" },
        { "getegid", "C library, libsystemd" },
        { "setresuid", "memlock helper: the target's uid; unotify: another TAP queue joined as the session's uid" },
        { "setresgid", "memlock helper: the target's gid; unotify: ... and gid" },
        { "pidfd_open", "pinning peers and targets" },
        { "pidfd_getfd", "unotify: a copy of the caller's /dev/net/tun fd (TUNSETIFF) or socket (SIOCSIF*)" },
        { "process_vm_readv", "unotify: the arguments of an intercepted syscall, read once from the caller" },
        { "process_vm_writev", "unotify: what the syscall returns through a pointer (old limits, device name)" },
        /* the operations themselves */
        { "prlimit64", "RLIMIT_MEMLOCK raises (and their read-back)" },
        { "sched_getattr", "scheduling changes: the old attributes" },
        { "sched_setattr", "scheduling changes" },
        { "sched_getaffinity", "scheduling changes: the old affinity" },
        { "sched_setaffinity", "scheduling changes: cpus" },
#ifdef __SANITIZE_THREAD__
        /* TSan builds only (found by the kernel's audit records of SIGSYS kills over test-threads): its
         * runtime reads the time, yields and sleeps while it synchronises its own state */
        { "gettimeofday", "TSan" }, { "nanosleep", "TSan" }, /* sched_yield: allowed above */
        { "clock_nanosleep", "TSan" },
        { "fstat", "TSan" }, { "open", "TSan reports: /proc/self/maps" }, { "readlink", "TSan reports" },
        { "getdents", "TSan reports" },
#endif
#ifdef __SANITIZE_ADDRESS__
        /* ASan/LSan builds only (found with SCMP_ACT_LOG over the suite): the
         * leak check at exit runs a tracer task (clone with CLONE_VM, then
         * prctl and ptrace of the broker's threads), reads /proc/self/maps
         * and /proc/self/task; reports read /proc/self/exe.  clone() loses
         * only its CLONE_VM/CLONE_THREAD check, prctl() its argument check. */
        { "ptrace", "LSan tracer" },      { "sigaltstack", "ASan" }, /* sched_yield: allowed above */
        { "open", "ASan: /proc/self/maps" }, { "getdents", "LSan: /proc/self/task" },
        { "readlink", "ASan reports" },
#endif
};

static void seccomp_releasep(scmp_filter_ctx *c) {
        if (*c)
                seccomp_release(*c);
}

/* Distinct syscalls allowed (with or without argument checks), for the log. */
static int allowed_nrs[512];
static size_t n_allowed_nrs;

static void count_allowed(int nr) {
        for (size_t i = 0; i < n_allowed_nrs; i++)
                if (allowed_nrs[i] == nr)
                        return;
        if (n_allowed_nrs < ELEMENTSOF(allowed_nrs))
                allowed_nrs[n_allowed_nrs++] = nr;
}

static int rule(broker *b, scmp_filter_ctx ctx, uint32_t action, const char *name, unsigned n,
                const struct scmp_arg_cmp *cmp) {
        int nr = seccomp_syscall_resolve_name(name);
        if (nr == __NR_SCMP_ERROR)
                return 0; /* not on this architecture */
        int r = seccomp_rule_add_array(ctx, action, nr, n, cmp);
        if (r < 0)
                log_msg(b, LOG_ERR, "seccomp: cannot add the rule for %s: %s", name, strerror(-r));
        else if (action == SCMP_ACT_ALLOW)
                count_allowed(nr);
        return r;
}

#define ALLOW_IF(b, ctx, name, ...)                                                                             \
        rule(b, ctx, SCMP_ACT_ALLOW, name, ELEMENTSOF(((struct scmp_arg_cmp[]) { __VA_ARGS__ })),              \
             (struct scmp_arg_cmp[]) { __VA_ARGS__ })

/* The syscalls allowed only with some arguments; see the top of the file. */
static int add_restricted(broker *b, scmp_filter_ctx ctx) {
        /* TUN requests of tap.create (fds of /dev/net/tun); TCGETS, a query,
         * for isatty() in libsystemd's /proc readers (sd-bus credentials).
         * ioctl's request is an int: compare the low 32 bits. */
        static const unsigned long ioctls[] = { TUNSETIFF, TUNSETOWNER, TUNSETGROUP, TUNSETPERSIST, TCGETS,
                /* unotify (broker-unotify*.c): the listener; the device and socket of an
                 * intercepted TUNSETIFF or SIOCSIF* request, carried out on copies of the caller's fds */
                SECCOMP_IOCTL_NOTIF_RECV, SECCOMP_IOCTL_NOTIF_SEND, SECCOMP_IOCTL_NOTIF_ID_VALID, TUNGETIFF,
                TUNGETDEVNETNS, SIOCGSKNS, SIOCGIFINDEX, SIOCSIFHWADDR, SIOCSIFFLAGS, SIOCSIFMTU,
                /* unotify: a queue that joined another device than the recorded one is detached */
                TUNSETQUEUE,
                /* unotify: a caller's pid namespace and those above it, to read the ids it names */
                NS_GET_PARENT,
                /* the closer (broker-closer.c): what a client's AF_UNIX socket still holds before it is closed */
                SIOCINQ };
        /* no new namespace of any kind, so no user namespace */
        const uint64_t new_ns = CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |
                                CLONE_NEWPID | CLONE_NEWNET;
#ifndef __SANITIZE_ADDRESS__
        /* and no thread: the broker's own are started before the filter */
        const uint64_t clone_refused = new_ns | CLONE_THREAD | CLONE_VM;
#else
        /* ASan builds: LSan's tracer task is a clone(CLONE_VM) */
        const uint64_t clone_refused = new_ns;
#endif
        int r = 0;

        /* sockets: clients, journal, sd_notify (AF_UNIX); libnl in TAP helpers */
        r = r ?: ALLOW_IF(b, ctx, "socket", SCMP_A0(SCMP_CMP_EQ, AF_UNIX));
        r = r ?: ALLOW_IF(b, ctx, "socket", SCMP_A0(SCMP_CMP_EQ, AF_NETLINK), SCMP_A2(SCMP_CMP_EQ, NETLINK_ROUTE));
        /* helper answers */
        r = r ?: ALLOW_IF(b, ctx, "socketpair", SCMP_A0(SCMP_CMP_EQ, AF_UNIX));
        for (size_t i = 0; i < ELEMENTSOF(ioctls); i++)
                r = r ?: ALLOW_IF(b, ctx, "ioctl", SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, ioctls[i]));
        /* thread and process targets (broker-peer.c): what a pidfd's task is, in one call */
        r = r ?: ALLOW_IF(b, ctx, "ioctl", SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, proc_pidfd_get_info_request()));
        /* fork() of helpers and cleanup processes */
        r = r ?: ALLOW_IF(b, ctx, "clone", SCMP_A0(SCMP_CMP_MASKED_EQ, clone_refused, 0));
#ifndef __SANITIZE_ADDRESS__
        /* helpers set PR_SET_PDEATHSIG */
        r = r ?: ALLOW_IF(b, ctx, "prctl", SCMP_A0(SCMP_CMP_EQ, PR_SET_PDEATHSIG));
        /* the uid helper makes itself undumpable (no ptrace by the uid it runs as) */
        r = r ?: ALLOW_IF(b, ctx, "prctl", SCMP_A0(SCMP_CMP_EQ, PR_SET_DUMPABLE), SCMP_A1(SCMP_CMP_EQ, 0));
        /* the forker is named at its fork, and its helpers after it (broker-forker.c) */
        r = r ?: ALLOW_IF(b, ctx, "prctl", SCMP_A0(SCMP_CMP_EQ, PR_SET_NAME));
        r = r ?: ALLOW_IF(b, ctx, "prctl", SCMP_A0(SCMP_CMP_EQ, PR_GET_NAME));
#else
        /* ASan builds: LSan's tracer uses other prctl()s too */
        r = r ?: rule(b, ctx, SCMP_ACT_ALLOW, "prctl", 0, NULL);
#endif
        /* peer_resolve_target() probes with signal 0; a hung helper gets SIGKILL */
        r = r ?: ALLOW_IF(b, ctx, "kill", SCMP_A1(SCMP_CMP_EQ, 0));
        r = r ?: ALLOW_IF(b, ctx, "kill", SCMP_A1(SCMP_CMP_EQ, SIGKILL));
        /* malloc, the KVMI memfd mapping: never executable */
        r = r ?: ALLOW_IF(b, ctx, "mmap", SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
        r = r ?: ALLOW_IF(b, ctx, "mprotect", SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
        /* memlock helper, unotify TAP queue helper: setgroups(0, NULL) */
        r = r ?: ALLOW_IF(b, ctx, "setgroups", SCMP_A0(SCMP_CMP_EQ, 0));
        /* pidfd_alive(): signal 0 */
        r = r ?: ALLOW_IF(b, ctx, "pidfd_send_signal", SCMP_A1(SCMP_CMP_EQ, 0));
        /* a memlock helper of the forker's, ended through its pidfd */
        r = r ?: ALLOW_IF(b, ctx, "pidfd_send_signal", SCMP_A1(SCMP_CMP_EQ, SIGKILL));
        /* TAP helpers and cleanup enter network namespaces, no other kind */
        r = r ?: ALLOW_IF(b, ctx, "setns", SCMP_A1(SCMP_CMP_EQ, CLONE_NEWNET));
        /* clone3's flags are behind a pointer: make the C library use clone() */
        r = r ?: rule(b, ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, NULL);
        return r;
}

#if DELEGATE_TEST_HOOKS
/*
 * Test builds only (meson option test_hooks): with DELEGATE_TEST_SECCOMP_TRIGGER
 * set in its environment at start, the broker answers SIGUSR1 with a call
 * its filter refuses, so the test suite can see the filter kill it:
 *   "unlisted"  getpgid(2), a harmless query that is not on the list;
 *   "access"    access(2), off the list since nothing calls it after setup;
 *   "newuser"   clone(CLONE_NEWUSER), a listed call with refused arguments
 *               (were it allowed, the child would exit at once).
 * Production builds (-Dtest_hooks=false) have no such code.
 */
static const char *hook_mode;

static const char *hook_call(void) {
        if (streq(hook_mode, "newuser"))
                return "clone(CLONE_NEWUSER)";
        return streq(hook_mode, "access") ? "access(2)" : "getpgid(2)";
}

static int on_sigusr1(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        log_msg(userdata, LOG_WARNING, "test hook: calling %s, which the seccomp filter does not allow", hook_call());
        if (streq(hook_mode, "newuser")) {
                long pid = syscall(SYS_clone, (unsigned long) (CLONE_NEWUSER | SIGCHLD), NULL, NULL, NULL, 0UL);
                if (pid == 0)
                        _exit(0);
                if (pid > 0)
                        waitpid((pid_t) pid, NULL, 0);
        } else if (streq(hook_mode, "access"))
                syscall(SYS_access, "/", F_OK);
        else
                syscall(SYS_getpgid, 0);
        log_msg(userdata, LOG_ERR, "test hook: still alive after the call");
        return 0;
}

static int test_hook_setup(broker *b) {
        const char *e = getenv("DELEGATE_TEST_SECCOMP_TRIGGER");
        if (!e || !*e)
                return 0;
        hook_mode = e;
        sigset_t ss;
        sigemptyset(&ss);
        sigaddset(&ss, SIGUSR1);
        sigprocmask(SIG_BLOCK, &ss, NULL);
        log_msg(b, LOG_WARNING, "test hook armed: SIGUSR1 makes the broker call %s, outside its filter", hook_call());
        return sd_event_add_signal(b->event, NULL, SIGUSR1, on_sigusr1, b);
}
#else
static int test_hook_setup(broker *b) {
        return 0;
}
#endif

int broker_seccomp_install(broker *b) {
        int r = test_hook_setup(b);
        if (r < 0) {
                log_msg(b, LOG_ERR, "cannot set up the seccomp test hook: %s", strerror(-r));
                return r;
        }
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
                log_msg(b, LOG_ERR, "PR_SET_NO_NEW_PRIVS: %m");
                return negative_errno();
        }
        _cleanup_(seccomp_releasep) scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
        if (!ctx) {
                log_msg(b, LOG_ERR, "seccomp_init failed");
                return -ENOMEM;
        }
        for (size_t i = 0; i < ELEMENTSOF(allow); i++) {
                r = rule(b, ctx, SCMP_ACT_ALLOW, allow[i].name, 0, NULL);
                if (r < 0)
                        return r;
        }
        r = add_restricted(b, ctx);
        if (r < 0)
                return r;
        /* the client loop threads (broker-loop.c) exist already: the kernel installs the filter, and
         * no_new_privs, on every thread of the broker at once, or fails */
        r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
        if (r < 0) {
                log_msg(b, LOG_ERR, "seccomp: cannot ask for the filter on every thread (TSYNC): %s", strerror(-r));
                return r;
        }
        r = seccomp_load(ctx);
        if (r < 0) {
                log_msg(b, LOG_ERR, "seccomp_load: %s", strerror(-r));
                return r;
        }
        log_msg(b, LOG_INFO, "seccomp filter installed: %zu syscalls allowed, anything else kills the broker",
                n_allowed_nrs);
        return 0;
}
