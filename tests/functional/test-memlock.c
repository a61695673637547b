/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-memlock - memlock.set end to end: soft and hard raises, the rule's
 * maximum, targets in another pod or not descending from the caller, dead
 * and zombie targets, the long-lived helper per target user that acts
 * without CAP_SYS_RESOURCE, and which ids it acts with.  Assertions read /proc/PID/limits, not the
 * broker's claim.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <dirent.h>
#include <grp.h>
#include <time.h>
#include <unistd.h>

#include "foundation-scenario.h"

static void memlock_raise(harness *h) {
        tclient a;
        uint64_t s0, h0, s, hd;
        start_client(h, &a, "kubepods.slice/pod-a", 1000, "vm-a");
        pid_t c = spawn_child(&a);
        tap_ok(c > 0, "launcher spawned a QEMU stand-in (pid %d)", (int) c);
        tap_is_int(read_memlock(c, &s0, &h0), 0, "read its limits from /proc");
        tap_is_int(s0, H / 8, "its soft RLIMIT_MEMLOCK starts at H/8");

        char *r = tclient_call(&a, "memlock %d %" PRIu64 " keep", (int) c, H / 2);
        tap_is_int(jint(r, "ok"), 1, "memlock.set to H/2 within policy succeeds (%s)", r);
        tap_is_str(jstr(r, "route"), "broker", "it went through the broker");
        tap_is_int(jint(r, "soft"), H / 2, "the reply carries the soft limit read back");
        tap_is_int(jint(r, "old_soft"), H / 8, "the reply carries the old soft limit");
        free(r);
        tap_is_int(read_memlock(c, &s, &hd), 0, "read limits again");
        tap_is_int(s, H / 2, "the kernel shows soft = H/2");
        tap_is_int(hd, h0, "the hard limit is unchanged");

        r = tclient_call(&a, "memlock 0 %" PRIu64 " keep", H / 4);
        tap_is_int(jint(r, "ok"), 1, "memlock.set on the launcher itself (pid 0) succeeds");
        free(r);
        tap_is_int(read_memlock(a.pid, &s, &hd), 0, "read the launcher's limits");
        tap_is_int(s, H / 4, "the kernel shows the launcher's soft = H/4");
        tap_ok(harness_log_contains("ALLOW memlock.set"), "the decision is in the audit log");
        tap_ok(harness_log_contains("rule=pod-launchers"), "the audit names the deciding rule");
        /* the whole record, field by field, as delegate-broker(8) gives it (no journald here: the stderr line) */
        char line[1024];
        snprintf(line, sizeof(line), " pid=%d uid=1000 cgroup=/kubepods.slice/pod-a vm=vm-a via=socket args={\"pid\":%d,"
                 "\"soft\":%" PRIu64 "} rule=pod-launchers: requested 4 MiB is within the rule's memlock max 1 GiB; "
                 "RLIMIT_MEMLOCK of pid %d is now soft 4 MiB, hard %" PRIu64 " MiB\n", (int) a.pid, (int) c, (uint64_t) (H / 2),
                 (int) c, (uint64_t) (h0 / MiB));
        tap_ok(harness_log_contains("\ndelegate-broker: ALLOW memlock.set session=") && harness_log_contains(line),
               "the record holds the caller, its pod, the args, the rule, the reason and what the kernel now says");
        tclient_stop(&a);
}

static void memlock_hard_raise(harness *h) {
        tclient a;
        uint64_t s0, h0, s, hd;
        bool cap = prctl(PR_CAPBSET_READ, CAP_SYS_RESOURCE, 0, 0, 0) == 1;
        tap_diag("CAP_SYS_RESOURCE is %s the bounding set", cap ? "in" : "not in");
        start_client(h, &a, "kubepods.slice/pod-a", 1000, "vm-a");
        pid_t c = spawn_child(&a);
        read_memlock(c, &s0, &h0);
        uint64_t want = h0 + 1 * MiB;

        char *r = tclient_call(&a, "memlock %d %" PRIu64 " %" PRIu64, (int) c, want, want);
        if (cap) {
                tap_is_int(jint(r, "ok"), 1, "hard raise succeeds where CAP_SYS_RESOURCE exists (%s)", r);
                read_memlock(c, &s, &hd);
                tap_is_int(hd, want, "the kernel shows the raised hard limit");
                tap_is_int(s, want, "the kernel shows the raised soft limit");
        } else {
                tap_is_int(jint(r, "ok"), 0, "hard raise fails without CAP_SYS_RESOURCE (%s)", r);
                tap_is_str(jstr(r, "code"), "system", "error code is 'system'");
                tap_is_int(jint(r, "errno"), EPERM, "errno is EPERM");
                tap_has_str(jstr(r, "message"), "CAP_SYS_RESOURCE", "the message names the missing capability");
                read_memlock(c, &s, &hd);
                tap_is_int(hd, h0, "the kernel's hard limit is unchanged");
                tap_is_int(s, s0, "the kernel's soft limit is unchanged");
        }
        free(r);
        /* a soft raise up to the hard limit works either way */
        r = tclient_call(&a, "memlock %d %" PRIu64 " keep", (int) c, h0);
        tap_is_int(jint(r, "ok"), 1, "soft raise up to the hard limit works (%s)", r);
        free(r);
        read_memlock(c, &s, &hd);
        tap_is_int(s, cap ? h0 : h0, "the kernel shows soft = the old hard limit");
        tclient_stop(&a);
}

static void memlock_over_max(harness *h) {
        tclient a, n, x;
        uint64_t s0, h0, s, hd;
        start_client(h, &a, "kubepods.slice/pod-a", 1000, "vm-a");
        pid_t c = spawn_child(&a);
        read_memlock(c, &s0, &h0);
        char *r = tclient_call(&a, "memlock %d 2G 2G", (int) c);
        tap_is_int(jint(r, "ok"), 0, "2 GiB over the rule's 1 GiB max is refused");
        tap_is_str(jstr(r, "code"), "denied", "error code is 'denied'");
        tap_is_str(jstr(r, "rule"), "pod-launchers", "the error names the deciding rule");
        tap_has_str(jstr(r, "message"), "exceeds the rule's memlock max 1 GiB", "the message says why");
        free(r);
        read_memlock(c, &s, &hd);
        tap_ok(s == s0 && hd == h0, "the kernel's limits are unchanged");
        tap_ok(harness_log_contains("DENY memlock.set"), "the denial is in the audit log");

        start_client(h, &n, "kubepods.slice/pod-a", 3000, "vm-n");
        r = tclient_call(&n, "memlock 0 %" PRIu64 " keep", H / 4);
        tap_is_str(jstr(r, "code"), "denied", "a rule without a memlock section denies");
        tap_has_str(jstr(r, "message"), "has no section for memlock.set", "and says so");
        tap_is_str(jstr(r, "rule"), "no-memlock", "naming that rule");
        free(r);

        start_client(h, &x, "kubepods.slice/pod-a", 5000, "vm-x");
        r = tclient_call(&x, "memlock 0 %" PRIu64 " keep", H / 4);
        tap_is_str(jstr(r, "code"), "denied", "no matching rule: default deny");
        tap_is_str(jstr(r, "rule"), "(default deny)", "the rule is '(default deny)'");
        free(r);

        r = tclient_call(&a, "ping");
        tap_is_int(jint(r, "ok"), 1, "the denied client's session goes on");
        free(r);
        tclient_stop(&a);
        tclient_stop(&n);
        tclient_stop(&x);
}

/* @c (pod-a's launcher) asks for @pid (as it names it: 0 is itself; @host ours), moved into pod-b: refused,
 * naming the pod cgroup, its limits untouched. */
static void refused_outside_pod(tclient *c, pid_t pid, pid_t host, const char *what) {
        uint64_t s0, h0, s, hd;
        read_memlock(host, &s0, &h0);
        char *r = tclient_call(c, "memlock %d %" PRIu64 " keep", (int) pid, H / 2);
        tap_is_str(jstr(r, "code"), "denied", "%s is refused (%s)", what, r);
        tap_has_str(jstr(r, "message"), "outside the caller's pod cgroup '/kubepods.slice/pod-a'",
                    "the message names the pod cgroup");
        free(r);
        read_memlock(host, &s, &hd);
        tap_ok(s == s0 && hd == h0, "its limits are untouched");
}

static void memlock_other_pod(harness *h) {
        tclient a, b;
        uint64_t s0, h0, s, hd;
        start_client(h, &a, "kubepods.slice/pod-a", 1000, "vm-a");
        start_client(h, &b, "kubepods.slice/pod-b", 1000, "vm-b");
        pid_t cb = spawn_child(&b);
        read_memlock(cb, &s0, &h0);
        char *r = tclient_call(&a, "memlock %d %" PRIu64 " keep", (int) cb, H / 2);
        tap_is_str(jstr(r, "code"), "denied", "a pid of another pod is refused");
        free(r);
        read_memlock(cb, &s, &hd);
        tap_ok(s == s0 && hd == h0, "the other pod's process is untouched");

        /* a descendant of A that has been moved into pod-b */
        pid_t ca = spawn_child(&a);
        tap_is_int(harness_move(h, ca, "kubepods.slice/pod-b"), 0, "move A's child into pod-b");
        refused_outside_pod(&a, ca, ca, "A's own child outside A's pod cgroup");
        tap_ok(harness_log_contains("target refused"), "the refusal is audited");
        /* decided once: the policy allowed it, acting found the target refused; one line, a denial */
        tap_ok(!harness_log_contains("ALLOW memlock.set"), "and audited once, as a denial (no allow line first)");
        r = tclient_call(&a, "state");
        tap_ok(r && strstr(r, "\"allowed\":0,\"denied\":2"), "counted once, as denials (%s)", r ? r : "");
        free(r);
        tclient_stop(&a);
        tclient_stop(&b);
}

/* /proc/@pid/cgroup reads as @text (a file bind-mounted over it, in the broker's mount namespace, which
 * is ours) while @on; false when that could not be done. */
static bool fake_cgroup_file(pid_t pid, const char *text, bool on) {
        char path[64];
        static const char fake[] = "/run/delegate-test/fake-cgroup";
        snprintf(path, sizeof(path), "/proc/%d/cgroup", (int) pid);
        if (!on)
                return umount2(path, MNT_DETACH) == 0;
        return harness_write_file(fake, text) == 0 && mount(fake, path, NULL, MS_BIND, NULL) == 0;
}

static bool pidfd_info_denied; /* the broker runs with PIDFD_GET_INFO failing (deny_pidfd_info()) */

/* Does the kernel answer PIDFD_GET_INFO (Linux 6.13), and the broker may ask it? */
static bool broker_has_pidfd_info(void) {
        unsigned char info[64] = { 0 };
        int fd = (int) syscall(SYS_pidfd_open, getpid(), 0);
        /* _IOWR(0xFF, 11, struct pidfd_info) (include/uapi/linux/pidfd.h); request mask 0: nothing asked */
        bool ok = fd >= 0 && ioctl(fd, 0xc040ff0b, info) == 0;
        if (fd >= 0)
                close(fd);
        return ok && !pidfd_info_denied;
}

/* memlock.set on @pid (as @c names it; @host ours) twice: the first reads its cgroup path and learns the
 * id; for the second its /proc/PID/cgroup says pod-b, which a read would refuse: it succeeds, no path read
 * (refused where the kernel gives no cgroup id: the path is read each time). */
static void twice_no_path_read(tclient *c, pid_t pid, pid_t host, const char *what) {
        bool info = broker_has_pidfd_info();
        char *r = tclient_call(c, "memlock %d %" PRIu64 " keep", (int) pid, H / 4);
        tap_is_int(jint(r, "ok"), 1, "memlock.set on %s in pod-a, first time, succeeds (%s)", what, r);
        free(r);
        tap_ok(fake_cgroup_file(host, "0::/kubepods.slice/pod-b\n", true),
               "its /proc/PID/cgroup now reads pod-b (a file bind-mounted over it)");
        r = tclient_call(c, "memlock %d %" PRIu64 " keep", (int) pid, H / 8);
        if (info)
                tap_is_int(jint(r, "ok"), 1, "the second time succeeds: its cgroup id is known, no path read (%s)", r);
        else
                tap_is_str(jstr(r, "code"), "denied", "without PIDFD_GET_INFO the path is read again: refused (%s)", r);
        free(r);
        tap_ok(fake_cgroup_file(host, NULL, false), "its /proc/PID/cgroup is its own again");
}

/*
 * The pod check of a target whose cgroup id the broker already found in the
 * pod on this connection (PIDFD_GET_INFO gives it; no path read then): a
 * child and the launcher itself, each changed twice (the first request
 * reads the path and learns the id, the second finds it known: its
 * /proc/PID/cgroup, made to name pod-b meanwhile, is not read), then moved
 * into pod-b, are refused: they have another cgroup id now, checked again.
 */
static void memlock_moved_out(harness *h) {
        tclient a, b;
        start_client(h, &a, "kubepods.slice/pod-a", 1000, "vm-a");
        start_client(h, &b, "kubepods.slice/pod-b", 1000, "vm-b");
        pid_t c = spawn_child(&a);
        twice_no_path_read(&a, c, c, "A's child");
        tap_is_int(harness_move(h, c, "kubepods.slice/pod-b"), 0, "move A's child into pod-b");
        refused_outside_pod(&a, c, c, "then the child");

        twice_no_path_read(&a, 0, a.pid, "the launcher itself");
        tap_is_int(harness_move(h, a.pid, "kubepods.slice/pod-b"), 0, "move the launcher itself into pod-b");
        refused_outside_pod(&a, 0, a.pid, "then its own memlock.set");
        ping_ok(&b, "pod-b's client is served meanwhile");
        tclient_stop(&a);
        tclient_stop(&b);
}

static void memlock_not_descendant(harness *h) {
        tclient a, a2;
        uint64_t s0, h0, s, hd;
        start_client(h, &a, "kubepods.slice/pod-a", 1000, "vm-a");
        start_client(h, &a2, "kubepods.slice/pod-a", 1000, "vm-a2");
        pid_t sib = spawn_child(&a2);
        read_memlock(sib, &s0, &h0);
        char *r = tclient_call(&a, "memlock %d %" PRIu64 " keep", (int) sib, H / 2);
        tap_is_str(jstr(r, "code"), "denied", "a same-uid, same-pod process that is not a descendant is refused");
        tap_has_str(jstr(r, "message"), "neither the caller", "the message says it is not ours");
        free(r);
        read_memlock(sib, &s, &hd);
        tap_ok(s == s0 && hd == h0, "the sibling's limits are untouched");

        r = tclient_call(&a, "memlock %d %" PRIu64 " keep", (int) getpid(), H / 2);
        tap_is_str(jstr(r, "code"), "denied", "the harness's own (root) pid is refused");
        free(r);
        r = tclient_call(&a, "memlock 1 %" PRIu64 " keep", H / 4);
        tap_is_str(jstr(r, "code"), "denied", "pid 1 is refused");
        free(r);
        tclient_stop(&a);
        tclient_stop(&a2);
}

/*
 * memlock.set on the client's child once it is gone: reaped, or (@zombie)
 * killed but not reaped yet, as QEMU dying at its gate is: signal 0 still
 * reaches a zombie, and prlimit() still acts on it, so the broker must
 * tell it from a live process.
 */
static void memlock_gone(harness *h, bool zombie) {
        tclient a;
        start_client(h, &a, "kubepods.slice/pod-a", 1000, "vm-a");
        pid_t c = spawn_child(&a);
        char *r = tclient_call(&a, "%s %d", zombie ? "kill" : "reap", (int) c);
        tap_is_int(jint(r, "ok"), 1, "the child was killed and %s", zombie ? "is a zombie" : "reaped");
        free(r);
        r = tclient_call(&a, "memlock %d %" PRIu64 " keep", (int) c, H / 2);
        tap_is_str(jstr(r, "code"), "not-found", "a %s pid gives not-found (%s)", zombie ? "zombie" : "dead", r);
        tap_is_int(jint(r, "errno"), ESRCH, "errno is ESRCH");
        free(r);
        if (zombie)
                free(tclient_call(&a, "reap %d", (int) c));
        ping_ok(&a, "after not-found");
        tclient_stop(&a);
}

static void memlock_dead_pid(harness *h) {
        memlock_gone(h, false);
}

static void memlock_zombie(harness *h) {
        memlock_gone(h, true);
}

/* The broker's children running as @uid (its memlock helpers for that uid). */
static size_t broker_children_as(harness *h, uid_t uid, pid_t *ret, size_t max) {
        return harness_children_as(h->broker_pid, uid, ret, max);
}

/* Run @fn(@arg) in a child process holding @uid's ids; its exit status. */
static int as_uid(uid_t uid, int (*fn)(pid_t), pid_t arg) {
        pid_t p = fork();
        if (p == 0) {
                if (setgroups(0, NULL) < 0 || setresgid(uid, uid, uid) < 0 || setresuid(uid, uid, uid) < 0)
                        _exit(100);
                _exit(fn(arg));
        }
        int st = 0;
        waitpid(p, &st, 0);
        return WIFEXITED(st) ? WEXITSTATUS(st) : 101;
}

static int kill_it(pid_t pid) {
        return kill(pid, SIGKILL) == 0 ? 0 : errno;
}
static int stop_it(pid_t pid) {
        return kill(pid, SIGSTOP) == 0 ? 0 : errno;
}
static int open_its_fds(pid_t pid) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/fd", (int) pid);
        DIR *d = opendir(path);
        if (d)
                closedir(d);
        return d ? 0 : errno;
}

/* Gone and reaped (a zombie still answers signal 0) within @ms? */
static bool reaped(pid_t pid, int ms) {
        for (int t = 0; t < ms; t += 10) {
                if (kill(pid, 0) < 0 && errno == ESRCH)
                        return true;
                usleep(10000);
        }
        return false;
}

static bool broker_alive(harness *h) {
        return kill(h->broker_pid, 0) == 0 && waitpid(h->broker_pid, NULL, WNOHANG) == 0;
}

/* Wait until the broker has @want children as @uid; their count then. */
static size_t helpers_settle(harness *h, uid_t uid, size_t want, pid_t *ret) {
        size_t n = 0;
        for (int i = 0; i < 200 && (n = broker_children_as(h, uid, ret, 8)) != want; i++)
                usleep(10000);
        return n;
}

/*
 * Without CAP_SYS_RESOURCE, memlock.set runs in a helper holding the
 * target's ids: one long-lived process per uid and pod cgroup, reused by
 * every request and session of that pod, ended with its last session; the
 * pod's uid may kill or stop it, which fails its requests alone, never the
 * broker, nor another pod's of the same uid (every KubeVirt pod runs as 107).
 */
static void memlock_helper(harness *h) {
        if (prctl(PR_CAPBSET_READ, CAP_SYS_RESOURCE, 0, 0, 0) == 1) {
                tap_diag("CAP_SYS_RESOURCE is in the bounding set: the broker calls prlimit() itself");
                tap_skip_all("the helper is only used without CAP_SYS_RESOURCE");
        }
        tclient a, a2, b;
        pid_t hp[8], hp2[8];
        uint64_t s, hd;
        start_client(h, &a, "kubepods.slice/pod-a", 1000, "vm-a");
        start_client(h, &a2, "kubepods.slice/pod-a", 1000, "vm-a2");
        pid_t c = spawn_child(&a);

        char *r = tclient_call(&a, "memlock %d %" PRIu64 " keep", (int) c, H / 2);
        tap_is_int(jint(r, "ok"), 1, "memlock.set through the helper succeeds (%s)", r);
        free(r);
        tap_is_int(broker_children_as(h, 1000, hp, 8), 1, "one helper runs as uid 1000 (pid %d)", (int) hp[0]);
        for (int i = 0; i < 20; i++) {
                r = tclient_call(&a, "memlock %d %" PRIu64 " keep", (int) c, i % 2 ? H / 4 : H / 2);
                free(r);
        }
        read_memlock(c, &s, &hd);
        tap_is_int(s, H / 4, "20 more requests applied (the kernel shows the last)");
        r = tclient_call(&a2, "memlock 0 %" PRIu64 " keep", H / 4);
        tap_is_int(jint(r, "ok"), 1, "another session of the same uid and pod succeeds (%s)", r);
        free(r);
        tap_is_int(broker_children_as(h, 1000, hp2, 8), 1, "still one helper for uid 1000");
        tap_is_int(hp2[0], hp[0], "the same process served every request of both sessions");
        start_client(h, &b, "kubepods.slice/pod-b", 1000, "vm-b");
        r = tclient_call(&b, "memlock 0 %" PRIu64 " keep", H / 4);
        tap_is_int(jint(r, "ok"), 1, "a session of the same uid in another pod succeeds (%s)", r);
        free(r);
        tap_is_int(broker_children_as(h, 1000, hp2, 8), 2, "with a helper of its own: two for uid 1000");
        pid_t hb = hp2[0] == hp[0] ? hp2[1] : hp2[0];
        tap_ok(harness_fd_count(hp[0]) <= 4, "the helper holds no fd of the broker's but its socket (%d open)",
               harness_fd_count(hp[0]));
        tap_is_int(as_uid(1000, open_its_fds, hp[0]), EACCES, "uid 1000 cannot open the helper's fds (not dumpable)");

        /* the pod's uid kills the helper: the broker lives, the next request gets a new one */
        tap_is_int(as_uid(1000, kill_it, hp[0]), 0, "uid 1000 may SIGKILL the helper");
        tap_ok(reaped(hp[0], 2000), "the helper is gone (reaped by the broker)");
        tap_ok(broker_alive(h), "the broker survives its helper's death");
        ping_ok(&a, "after the helper was killed");
        r = tclient_call(&a, "memlock %d %" PRIu64 " keep", (int) c, H / 2);
        tap_is_int(jint(r, "ok"), 1, "memlock.set works again (%s)", r);
        free(r);
        read_memlock(c, &s, &hd);
        tap_is_int(s, H / 2, "the kernel shows it");
        tap_is_int(broker_children_as(h, 1000, hp2, 8), 2, "pod-a has a helper again");
        if (hp2[0] == hb) /* hp2[0]: pod-a's */
                hp2[0] = hp2[1];
        tap_ok(hp2[0] != hp[0] && hp2[0] != hb, "a new one (pid %d)", (int) hp2[0]);

        /* stopped: its request times out, the helper is killed, the broker serves on.  The timer was
         * armed by the request 2 s before, at that one's deadline: this one still gets its own 5 s */
        sleep(2);
        tap_is_int(as_uid(1000, stop_it, hp2[0]), 0, "uid 1000 stops pod-a's helper (SIGSTOP)");
        /* pod-b's helper is its own: a request of pod-b is answered, not stalled behind pod-a's (5 s) */
        r = tclient_call(&b, "memlock 0 %" PRIu64 " keep", H / 8);
        tap_is_int(jint(r, "ok"), 1, "pod-b's memlock.set, same uid, is served by its own helper (%s)", r);
        free(r);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        r = tclient_call(&a, "memlock %d %" PRIu64 " keep", (int) c, H / 4);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        tap_is_int(jint(r, "errno"), ETIMEDOUT, "the request times out (%s)", r);
        free(r);
        double waited = (double) (t1.tv_sec - t0.tv_sec) + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9;
        tap_ok(waited >= 4.9, "after its own 5 s, not at the deadline of the request before it (%.2f s)", waited);
        tap_ok(reaped(hp2[0], 2000), "the stopped helper was killed and reaped");
        tap_ok(broker_alive(h), "the broker survives");
        r = tclient_call(&a2, "memlock 0 %" PRIu64 " keep", H / 8);
        tap_is_int(jint(r, "ok"), 1, "and the next request of pod-a starts a new helper (%s)", r);
        free(r);

        /* it ends with the last session that used it */
        tclient_stop(&a);
        tap_is_int(helpers_settle(h, 1000, 2, hp), 2, "one session of pod-a left: both helpers stay");
        tclient_stop(&a2);
        tap_is_int(helpers_settle(h, 1000, 1, hp), 1, "pod-a's last session ended: so did its helper");
        tap_is_int(hp[0], hb, "pod-b's stays");
        tclient_stop(&b);
        tap_is_int(helpers_settle(h, 1000, 0, hp), 0, "the last session ended: so did the helper");
        tap_ok(harness_log_contains("memlock helper for uid 1000"), "the broker logged the helper's loss");
}

static bool uids_are(pid_t pid, const char *want, int ms);

/* Start @c's session (test-client connects at its first command) and see a request of it answered: the
 * broker's work at the session's start (after the welcome left) is done then. */
static void settled(tclient *c) {
        free(tclient_call(c, "ping"));
        usleep(200 * 1000); /* a helper forked then holds the broker's ids until its id change */
}

/*
 * The helper is started when a session that may use it begins, not at its
 * first memlock.set (a VM's start waited there for the fork and the id
 * change): right after the hello of a session whose rule has a memlock
 * section, and not for one whose rule has none or that no rule matches.
 * That same process serves the first memlock.set; two sessions of the pod
 * share it; it ends with the last of them, though that one never asked.
 */
static void memlock_helper_prestart(harness *h) {
        if (prctl(PR_CAPBSET_READ, CAP_SYS_RESOURCE, 0, 0, 0) == 1)
                tap_skip_all("the helper is only used without CAP_SYS_RESOURCE");
        tclient a, a2, n, x;
        pid_t hp[8], hp2[8];
        start_client(h, &n, "kubepods.slice/pod-a", 3000, "vm-n");
        start_client(h, &x, "kubepods.slice/pod-a", 1000, "other-vm");
        settled(&n);
        settled(&x);
        tap_is_int(broker_children_as(h, 3000, hp, 8), 0, "no helper for a session whose rule has no memlock section");
        tap_is_int(broker_children_as(h, 1000, hp, 8), 0, "nor for one no rule matches (default deny)");

        start_client(h, &a2, "kubepods.slice/pod-a", 1000, "vm-a2");
        settled(&a2);
        tap_is_int(helpers_settle(h, 1000, 1, hp), 1, "right after the hello of a session whose rule allows "
                                                      "memlock.set, its helper runs as uid 1000 (pid %d)",
                   (int) hp[0]);
        tap_ok(uids_are(hp[0], "1000 1000 1000", 2000), "holding uid 1000 as real, effective and saved id");
        start_client(h, &a, "kubepods.slice/pod-a", 1000, "vm-a");
        settled(&a);
        tap_is_int(broker_children_as(h, 1000, hp2, 8), 1, "a second session of the pod shares it");
        tap_is_int(hp2[0], hp[0], "the same process");
        char *r = tclient_call(&a, "memlock 0 %" PRIu64 " keep", H / 2);
        tap_is_int(jint(r, "ok"), 1, "the first memlock.set succeeds (%s)", r);
        free(r);
        usleep(200 * 1000);
        tap_is_int(broker_children_as(h, 1000, hp2, 8), 1, "no second helper started for it");
        tap_is_int(hp2[0], hp[0], "the helper started with the sessions served it (pid %d)", (int) hp2[0]);

        tclient_stop(&a);
        usleep(100 * 1000);
        tap_is_int(helpers_settle(h, 1000, 1, hp2), 1, "the session that used it ended: it stays for the other");
        tclient_stop(&a2);
        tap_ok(reaped(hp[0], 2000), "the last session ended without a memlock.set: its helper ended and was reaped");
        tap_is_int(helpers_settle(h, 1000, 0, hp2), 0, "no helper of uid 1000 is left");

        /* killed by its uid before any request: reported, and the first memlock.set starts another (in pod-b:
         * two sessions of pod-a ending within 10 s of their start are what the crash-loop back-off counts) */
        start_client(h, &a, "kubepods.slice/pod-b", 1000, "vm-b");
        settled(&a);
        tap_is_int(helpers_settle(h, 1000, 1, hp), 1, "a session of pod-b starts its helper (pid %d)", (int) hp[0]);
        tap_is_int(as_uid(1000, kill_it, hp[0]), 0, "uid 1000 kills it before any request");
        tap_ok(reaped(hp[0], 2000), "it is gone (reaped by the broker)");
        char lost[128];
        snprintf(lost, sizeof(lost), "memlock helper for uid 1000 of cgroup '/kubepods.slice/pod-b' (pid %d) ended",
                 (int) hp[0]);
        tap_ok(WAIT_FOR(harness_log_contains(lost)), "the broker logged its loss ('%s')", lost);
        r = tclient_call(&a, "memlock 0 %" PRIu64 " keep", H / 2);
        tap_is_int(jint(r, "ok"), 1, "the first memlock.set still succeeds (%s)", r);
        free(r);
        tap_is_int(broker_children_as(h, 1000, hp2, 8), 1, "through a new helper");
        tap_ok(hp2[0] != hp[0], "not the killed one (pid %d)", (int) hp2[0]);
        tclient_stop(&a);
        tap_ok(reaped(hp2[0], 2000), "which ends with the session");
        tap_ok(broker_alive(h), "the broker lives");
        ping_ok(&n, "after the helpers came and went");
        tclient_stop(&n);
        tclient_stop(&x);
}

static int cont_it(pid_t pid) {
        return kill(pid, SIGCONT) == 0 ? 0 : 1;
}

/*
 * A memlock.set on the caller itself borrows the caller's own pidfd (no
 * copy).  The caller drops its connection (but lives on) while its request
 * waits on the helper (stopped by its uid); other clients connect, so the
 * broker's fd numbers of the one that left are taken again; then the helper
 * is let go.  Its prlimit() on the live caller succeeds: the audit record
 * says what the kernel now shows, not that the process exited, and the
 * broker serves the next caller.
 */
static void memlock_caller_leaves(harness *h) {
        tclient a, b, more[3];
        pid_t hp[8];
        uint64_t s, hd;
        char want[96];
        start_client(h, &a, "kubepods.slice/pod-a", 1000, "vm-a");
        start_client(h, &b, "kubepods.slice/pod-a", 1000, "vm-b");
        char *r = tclient_call(&b, "memlock 0 %" PRIu64 " keep", H / 4);
        tap_is_int(jint(r, "ok"), 1, "memlock.set of another session starts pod-a's helper (%s)", r);
        free(r);
        tap_is_int(helpers_settle(h, 1000, 1, hp), 1, "one helper");
        tap_is_int(as_uid(1000, stop_it, hp[0]), 0, "uid 1000 stops it (SIGSTOP)");
        r = tclient_call(&a, "memlock-leave 0 %" PRIu64 " 300", H / 2);
        tap_is_int(jint(r, "ok"), 1, "the caller asks for itself and drops its connection, living on (%s)", r);
        free(r);
        usleep(100 * 1000); /* the broker sees the hang-up before the connections below */
        for (int i = 0; i < 3; i++)
                start_client(h, &more[i], "kubepods.slice/pod-b", 1000, "vm-more");
        tap_is_int(as_uid(1000, cont_it, hp[0]), 0, "other clients connected; the helper goes on (SIGCONT)");
        tap_ok(WAIT_FOR(read_memlock(a.pid, &s, &hd) == 0 && s == H / 2), "the kernel shows the caller's soft H/2");
        snprintf(want, sizeof(want), "RLIMIT_MEMLOCK of pid %d is now soft", (int) a.pid);
        tap_ok(harness_log_contains(want), "the audit record says the change was made ('%s')", want);
        /* written after the caller left: the names it borrowed from the connection are its own by then */
        snprintf(want, sizeof(want), "pid=%d uid=1000 cgroup=/kubepods.slice/pod-a vm=vm-a via=socket", (int) a.pid);
        tap_ok(harness_log_contains(want), "and names the gone caller's cgroup and VM ('%s')", want);
        tap_ok(broker_alive(h), "the broker lives");
        r = tclient_call(&b, "memlock 0 %" PRIu64 " keep", H / 2);
        tap_is_int(jint(r, "ok"), 1, "the next caller is served (%s)", r);
        tap_is_int(jint(r, "old_soft"), H / 4, "its own limits, not the gone caller's (%s)", r);
        free(r);
        for (int i = 0; i < 3; i++)
                tclient_stop(&more[i]);
        tclient_stop(&a);
        tclient_stop(&b);
}

/* The policy of the scenarios below: a root launcher in a pod too. */
static const char policy_ids[] =
        "{ \"version\": 1,\n"
        "  \"rules\": [\n"
        "    { \"name\": \"pod-launchers\",\n"
        "      \"match\": { \"uid\": \"1000-1999\", \"cgroup\": \"/kubepods.slice/*\", \"vm\": \"vm-*\" },\n"
        "      \"memlock\": { \"max\": \"1G\" } },\n"
        "    { \"name\": \"pod-root\",\n"
        "      \"match\": { \"uid\": 0, \"cgroup\": \"/kubepods.slice/*\", \"vm\": \"vm-*\" },\n"
        "      \"memlock\": { \"max\": \"1G\" } }\n"
        "  ]\n"
        "}\n";

/* Its Uid: line as "R E S" (real, effective, saved), within @ms. */
static bool uids_are(pid_t pid, const char *want, int ms) {
        char path[64], buf[4096], got[64];
        snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
        for (int t = 0; t <= ms; t += 10) {
                harness_read_file(path, buf, sizeof(buf));
                const char *u = strstr(buf, "\nUid:");
                unsigned r, e, s;
                if (u && sscanf(u + 5, "%u %u %u", &r, &e, &s) == 3) {
                        snprintf(got, sizeof(got), "%u %u %u", r, e, s);
                        if (!strcmp(got, want))
                                return true;
                }
                usleep(10000);
        }
        return false;
}

static pid_t child_with_ids(tclient *c, uid_t r, uid_t e, uid_t s, gid_t g) {
        char *out = tclient_call(c, "childids %u %u %u %u", (unsigned) r, (unsigned) e, (unsigned) s, (unsigned) g);
        pid_t p = jint(out, "ok") == 1 ? (pid_t) jint(out, "pid") : -1;
        free(out);
        return p;
}

/*
 * Which ids act: the broker first tries those of the one who asks, and the
 * kernel's own check (the helper's or its own first prlimit()) says whether
 * they are the target's.  A root launcher's child running as uid 1000 is
 * changed by uid 1000's helper after that check fails (the ids then read
 * from /proc); a child whose real, effective and saved ids differ is
 * refused, after the checks against its hard limit, as documented.
 */
static void memlock_ids(harness *h) {
        if (prctl(PR_CAPBSET_READ, CAP_SYS_RESOURCE, 0, 0, 0) == 1)
                tap_skip_all("CAP_SYS_RESOURCE is in the bounding set: the broker calls prlimit() itself, ids do "
                             "not matter");
        tclient a;
        pid_t hp[8];
        uint64_t s0, h0, s, hd;
        start_client(h, &a, "kubepods.slice/pod-a", 0, "vm-a");
        char *r = tclient_call(&a, "memlock 0 %" PRIu64 " keep", H / 2);
        tap_is_int(jint(r, "ok"), 1, "a root launcher sets its own limit (%s)", r);
        free(r);
        tap_is_int(broker_children_as(h, 1000, hp, 8), 0, "the broker did it itself: its own ids, no helper");

        pid_t c = child_with_ids(&a, 1000, 1000, 1000, 1000);
        tap_ok(c > 0 && uids_are(c, "1000 1000 1000", 2000), "its child runs as uid 1000 (pid %d)", (int) c);
        read_memlock(c, &s0, &h0);
        r = tclient_call(&a, "memlock %d %" PRIu64 " keep", (int) c, H / 4);
        tap_is_int(jint(r, "ok"), 1, "memlock.set on it succeeds though the asker's ids are not its own (%s)", r);
        tap_is_int(jint(r, "old_soft"), s0, "the old soft limit is the kernel's before");
        free(r);
        read_memlock(c, &s, &hd);
        tap_is_int(s, H / 4, "the kernel shows soft = H/4");
        tap_is_int(broker_children_as(h, 1000, hp, 8), 1, "uid 1000's helper did it");
        r = tclient_call(&a, "memlock %d %" PRIu64 " keep", (int) c, h0 + 4096);
        tap_is_str(jstr(r, "code"), "bad-request", "soft above its hard limit, through the helper: bad-request");
        tap_has_str(jstr(r, "message"), "raise 'hard' too", "saying so (%s)", r);
        free(r);
        r = tclient_call(&a, "memlock %d %" PRIu64 " %" PRIu64, (int) c, H / 4, h0 + 4096);
        tap_is_int(jint(r, "errno"), EPERM, "a hard raise through the helper: EPERM (%s)", r);
        tap_has_str(jstr(r, "message"), "needs CAP_SYS_RESOURCE", "naming the capability");
        tap_is_str(jstr(r, "rule"), "pod-root", "and the rule that allowed it");
        free(r);

        pid_t d = child_with_ids(&a, 1000, 1001, 1000, 1000);
        tap_ok(d > 0 && uids_are(d, "1000 1001 1000", 2000), "another child runs as uids 1000/1001/1000 (pid %d)",
               (int) d);
        read_memlock(d, &s0, &h0);
        r = tclient_call(&a, "memlock %d %" PRIu64 " keep", (int) d, H / 4);
        tap_is_int(jint(r, "errno"), EPERM, "differing ids: refused with EPERM (%s)", r);
        tap_has_str(jstr(r, "message"), "differing real/effective/saved ids", "saying why");
        free(r);
        r = tclient_call(&a, "memlock %d %" PRIu64 " keep", (int) d, h0 + 4096);
        tap_is_str(jstr(r, "code"), "bad-request", "but soft above its hard limit is reported first (%s)", r);
        free(r);
        read_memlock(d, &s, &hd);
        tap_ok(s == s0 && hd == h0, "its limits are untouched");
        tclient_stop(&a);
}

/*
 * A target in a user namespace its user owns: that user's helper passes the
 * kernel's check there by owning the namespace, whatever the target's ids,
 * so the broker reads them first.  Here they differ (1000/1001/1000 seen
 * from the broker): refused, where trusting the kernel's check alone would
 * have changed the limits.
 */
static void memlock_userns(harness *h) {
        if (prctl(PR_CAPBSET_READ, CAP_SYS_RESOURCE, 0, 0, 0) == 1)
                tap_skip_all("CAP_SYS_RESOURCE is in the bounding set: the broker calls prlimit() itself");
        tclient a;
        uint64_t s0, h0, s, hd;
        char path[64];
        start_client(h, &a, "kubepods.slice/pod-a", 1000, "vm-a");
        char *r = tclient_call(&a, "childns");
        pid_t c = (pid_t) jint(r, "pid");
        if (jint(r, "ok") != 1) {
                tap_diag("unshare(CLONE_NEWUSER) as uid 1000: errno %d", (int) jint(r, "errno"));
                tclient_stop(&a);
                tap_skip_all("user namespaces are not available to unprivileged users on this kernel");
        }
        free(r);
        snprintf(path, sizeof(path), "/proc/%d/gid_map", (int) c);
        tap_is_int(harness_write_file(path, "0 1000 1\n"), 0, "its gid 0 is 1000");
        snprintf(path, sizeof(path), "/proc/%d/uid_map", (int) c);
        tap_is_int(harness_write_file(path, "0 1000 1\n1 1001 1\n"), 0, "its uids 0 and 1 are 1000 and 1001");
        tap_ok(uids_are(c, "1000 1001 1000", 2000), "the child in its own user namespace has uids 1000/1001/1000");
        read_memlock(c, &s0, &h0);
        r = tclient_call(&a, "memlock %d %" PRIu64 " keep", (int) c, H / 4);
        tap_is_int(jint(r, "errno"), EPERM, "memlock.set on it is refused with EPERM (%s)", r);
        tap_has_str(jstr(r, "message"), "differing real/effective/saved ids", "its ids differ");
        free(r);
        read_memlock(c, &s, &hd);
        tap_ok(s == s0 && hd == h0, "its limits are untouched");
        tclient_stop(&a);
}

/* PIDFD_GET_INFO failing with ENOTTY, as before Linux 6.13: the broker resolves targets through /proc and
 * tries the asker's ids first, with every check as strict.  (The refusals first: memlock-other-pod wants no
 * allowed memlock.set in the log before it.) */
static void deny_pidfd_info(harness *h) {
        /* PIDFD_GET_INFO: _IOWR(0xFF, 11, struct pidfd_info) (include/uapi/linux/pidfd.h) */
        setenv("DENY_CALLS", "ioctl:0xc040ff0b", 1);
        tap_is_int(harness_restart_broker_through(h, "DELEGATE_DENY_CALLS", "DENY_CALLS_EXEC"), 0,
                   "the broker runs with PIDFD_GET_INFO failing with ENOTTY");
        pidfd_info_denied = true;
}

static void memlock_no_pidfd_info(harness *h) {
        deny_pidfd_info(h);
        memlock_other_pod(h);
        memlock_not_descendant(h);
        memlock_dead_pid(h);
        memlock_zombie(h);
        deny_pidfd_info(h); /* a new broker: the refusals above leave uid 1000 no crash-loop back-off */
        memlock_raise(h);
        memlock_moved_out(h);
}

static void memlock_ids_no_pidfd_info(harness *h) {
        deny_pidfd_info(h);
        memlock_ids(h);
        memlock_userns(h);
}

/*
 * A broker in a user namespace that maps only uid and gid 0 (as a broker in
 * a container might run): a root launcher's child running as uid 1000, which
 * that namespace cannot name, reads there as the overflow id (65534) from
 * PIDFD_GET_INFO and from /proc alike.  memlock.set on it is refused,
 * saying so, rather than acted on by a helper running as 65534.
 */
static void memlock_unnamed_ids(harness *h) {
        static const char wrap[] = "/run/delegate-test/userns-broker";
        if (prctl(PR_CAPBSET_READ, CAP_SYS_RESOURCE, 0, 0, 0) == 1)
                tap_skip_all("CAP_SYS_RESOURCE is in the bounding set: the broker calls prlimit() itself, ids do "
                             "not matter");
        if (access("/usr/bin/unshare", X_OK) < 0)
                tap_skip_all("unshare(1) (util-linux) is missing");
        tap_is_int(harness_write_file(wrap, "#!/bin/sh\nexec /usr/bin/unshare --user --map-root-user -- "
                                            "\"$USERNS_BROKER_EXEC\" \"$@\"\n"),
                   0, "a wrapper starting the broker in a user namespace mapping uid and gid 0 only");
        chmod(wrap, 0755);
        setenv("USERNS_BROKER", wrap, 1);
        tap_is_int(harness_restart_broker_through(h, "USERNS_BROKER", "USERNS_BROKER_EXEC"), 0,
                   "the broker runs in it");
        tclient a;
        uint64_t s0, h0, s, hd;
        start_client(h, &a, "kubepods.slice/pod-a", 0, "vm-a");
        pid_t c = child_with_ids(&a, 1000, 1000, 1000, 1000);
        tap_ok(c > 0 && uids_are(c, "1000 1000 1000", 2000), "its child runs as uid 1000 (pid %d)", (int) c);
        read_memlock(c, &s0, &h0);
        char *r = tclient_call(&a, "memlock %d %" PRIu64 " keep", (int) c, H / 4);
        tap_is_int(jint(r, "errno"), EPERM, "memlock.set on it is refused with EPERM (%s)", r);
        tap_has_str(jstr(r, "message"), "ids the broker's user namespace cannot name", "saying why");
        tap_has_str(jstr(r, "message"), "overflow uid 65534", "naming the overflow id");
        free(r);
        read_memlock(c, &s, &hd);
        tap_ok(s == s0 && hd == h0, "its limits are untouched");
        tap_ok(!harness_log_contains("memlock helper for uid 65534"), "no helper was started as 65534");
        r = tclient_call(&a, "memlock 0 %" PRIu64 " keep", H / 4);
        tap_is_int(jint(r, "ok"), 1, "the launcher's own limit, ids the namespace names, is still served (%s)", r);
        free(r);
        tclient_stop(&a);
}

static const scenario scenarios[] = {
        { "memlock-raise", policy_main, memlock_raise },
        { "memlock-hard-raise", policy_main, memlock_hard_raise },
        { "memlock-over-max", policy_main, memlock_over_max },
        { "memlock-other-pod", policy_main, memlock_other_pod },
        { "memlock-not-descendant", policy_main, memlock_not_descendant },
        { "memlock-dead-pid", policy_main, memlock_dead_pid },
        { "memlock-zombie", policy_main, memlock_zombie },
        { "memlock-helper", policy_main, memlock_helper },
        { "memlock-helper-prestart", policy_main, memlock_helper_prestart },
        { "memlock-ids", policy_ids, memlock_ids },
        { "memlock-userns", policy_ids, memlock_userns },
        { "memlock-moved-out", policy_main, memlock_moved_out },
        { "memlock-caller-leaves", policy_main, memlock_caller_leaves },
        { "memlock-no-pidfd-info", policy_main, memlock_no_pidfd_info },
        { "memlock-ids-no-pidfd-info", policy_ids, memlock_ids_no_pidfd_info },
        { "memlock-unnamed-ids", policy_ids, memlock_unnamed_ids },
};

int main(int argc, char **argv) {
        return harness_main(argc, argv, scenarios, sizeof(scenarios) / sizeof(scenarios[0]));
}
