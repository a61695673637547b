/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-foundation - functional scenarios of the foundation: memlock.set
 * end to end, target ownership, API mismatch, malformed input, policy
 * reload, state and retries.  Each scenario runs in its own namespaces with
 * its own broker (tests/lib/harness.h); assertions read the kernel's state
 * (/proc/PID/limits, /proc/PID/fd), not the broker's claim.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <dirent.h>
#include <grp.h>
#include <unistd.h>

#include "harness.h"

#define MiB (1024ULL * 1024ULL)
#define H harness_hard /* the scenario's hard limit; soft starts at H / 8 */

static const char policy_main[] =
        "// scenario policy: pods' launchers may lock up to 1 GiB\n"
        "{ \"version\": 1,\n"
        "  \"rules\": [\n"
        "    { \"name\": \"pod-launchers\",\n"
        "      \"match\": { \"uid\": \"1000-1999\", \"cgroup\": \"/kubepods.slice/*\", \"vm\": \"vm-*\" },\n"
        "      \"memlock\": { \"max\": \"1G\" } },\n"
        "    { \"name\": \"no-memlock\",\n"
        "      \"match\": { \"uid\": 3000 } },\n"
        "    { \"name\": \"node-root\",\n"
        "      \"match\": { \"uid\": 0, \"cgroup\": \"/system\" },\n"
        "      \"memlock\": { \"max\": \"1G\" } }\n"
        "  ]\n"
        "}\n";

/* --- small helpers --- */

static pid_t spawn_child(tclient *c) {
        char *r = tclient_call(c, "child");
        pid_t p = (pid_t) jint(r, "pid");
        free(r);
        return p;
}

static void start_client(harness *h, tclient *c, const char *pod, uid_t uid, const char *vm) {
        if (tclient_start(h, c, pod, uid, uid, vm) < 0)
                tap_ok(0, "start test-client in %s as uid %u", pod, (unsigned) uid);
}

static void ping_ok(tclient *c, const char *when) {
        char *r = tclient_call(c, "ping");
        tap_is_int(jint(r, "ok"), 1, "another client is still served %s", when);
        free(r);
}

/* --- scenarios --- */

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
        read_memlock(ca, &s0, &h0);
        r = tclient_call(&a, "memlock %d %" PRIu64 " keep", (int) ca, H / 2);
        tap_is_str(jstr(r, "code"), "denied", "A's own child outside A's pod cgroup is refused");
        tap_has_str(jstr(r, "message"), "outside the caller's pod cgroup '/kubepods.slice/pod-a'",
                    "the message names the pod cgroup");
        free(r);
        read_memlock(ca, &s, &hd);
        tap_ok(s == s0 && hd == h0, "its limits are untouched");
        tap_ok(harness_log_contains("target refused"), "the refusal is audited");
        /* decided once: the policy allowed it, acting found the target refused; one line, a denial */
        tap_ok(!harness_log_contains("ALLOW memlock.set"), "and audited once, as a denial (no allow line first)");
        r = tclient_call(&a, "state");
        tap_ok(r && strstr(r, "\"allowed\":0,\"denied\":2"), "counted once, as denials (%s)", r ? r : "");
        free(r);
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
        char path[96], buf[4096];
        size_t n = 0;
        snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int) h->broker_pid, (int) h->broker_pid);
        harness_read_file(path, buf, sizeof(buf));
        for (char *p = buf, *end; *p; p = end) {
                long pid = strtol(p, &end, 10);
                if (end == p)
                        break;
                char status[96], line[4096];
                snprintf(status, sizeof(status), "/proc/%ld/status", pid);
                harness_read_file(status, line, sizeof(line));
                char *u = strstr(line, "\nUid:");
                if (u && (uid_t) strtoul(u + 5, NULL, 10) == uid && n < max)
                        ret[n++] = (pid_t) pid;
        }
        return n;
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
 * target's ids: one long-lived process per uid, reused by every request and
 * session, ended with the last session; the pod's uid may kill or stop it,
 * which fails its requests alone, never the broker.
 */
static void memlock_helper(harness *h) {
        if (prctl(PR_CAPBSET_READ, CAP_SYS_RESOURCE, 0, 0, 0) == 1) {
                tap_diag("CAP_SYS_RESOURCE is in the bounding set: the broker calls prlimit() itself");
                tap_skip_all("the helper is only used without CAP_SYS_RESOURCE");
        }
        tclient a, b;
        pid_t hp[8], hp2[8];
        uint64_t s, hd;
        start_client(h, &a, "kubepods.slice/pod-a", 1000, "vm-a");
        start_client(h, &b, "kubepods.slice/pod-b", 1000, "vm-b");
        pid_t c = spawn_child(&a);
        tap_is_int(broker_children_as(h, 1000, hp, 8), 0, "no helper before the first memlock.set");

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
        r = tclient_call(&b, "memlock 0 %" PRIu64 " keep", H / 4);
        tap_is_int(jint(r, "ok"), 1, "another session of the same uid succeeds (%s)", r);
        free(r);
        tap_is_int(broker_children_as(h, 1000, hp2, 8), 1, "still one helper for uid 1000");
        tap_is_int(hp2[0], hp[0], "the same process served every request of both sessions");
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
        tap_is_int(broker_children_as(h, 1000, hp2, 8), 1, "one helper again");
        tap_ok(hp2[0] != hp[0], "a new one (pid %d)", (int) hp2[0]);

        /* stopped: its request times out, the helper is killed, the broker serves on */
        tap_is_int(as_uid(1000, stop_it, hp2[0]), 0, "uid 1000 stops the helper (SIGSTOP)");
        r = tclient_call(&a, "memlock %d %" PRIu64 " keep", (int) c, H / 4);
        tap_is_int(jint(r, "errno"), ETIMEDOUT, "the request times out (%s)", r);
        free(r);
        tap_ok(reaped(hp2[0], 2000), "the stopped helper was killed and reaped");
        tap_ok(broker_alive(h), "the broker survives");
        r = tclient_call(&b, "memlock 0 %" PRIu64 " keep", H / 8);
        tap_is_int(jint(r, "ok"), 1, "and the next request starts a new helper (%s)", r);
        free(r);

        /* it ends with the last session that used it */
        tclient_stop(&a);
        tap_is_int(helpers_settle(h, 1000, 1, hp), 1, "one session left: the helper stays");
        tclient_stop(&b);
        tap_is_int(helpers_settle(h, 1000, 0, hp), 0, "the last session ended: so did the helper");
        tap_ok(harness_log_contains("memlock helper for uid 1000"), "the broker logged the helper's loss");
}

/*
 * A peer whose cgroup lies outside the broker's cgroup namespace reads as
 * "/../x" in /proc/PID/cgroup: the broker refuses it by name instead of
 * matching rules against a path that names nothing in its tree.  The peer
 * is put there through the host's cgroup namespace (the whole tree).
 */
static void cgroup_outside(harness *h) {
        int pfd[2];
        tap_is_int(pipe2(pfd, O_CLOEXEC), 0, "pipe");
        pid_t p = fork();
        if (p == 0) {
                char dir[128], procs[160], pid[32], msg[1024] = "";
                /* the host's cgroup namespace: kthreadd's (pid 1 may be non-dumpable) */
                int fd = open("/proc/2/ns/cgroup", O_RDONLY | O_CLOEXEC);
                if (fd < 0 || setns(fd, CLONE_NEWCGROUP) < 0 || unshare(CLONE_NEWNS) < 0 ||
                    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                        _exit(2);
                mkdir("/run/delegate-test/hostcg", 0755);
                if (mount("cgroup2", "/run/delegate-test/hostcg", "cgroup2", 0, NULL) < 0)
                        _exit(3);
                snprintf(dir, sizeof(dir), "/run/delegate-test/hostcg/delegate-test-outside-%d", (int) getpid());
                snprintf(procs, sizeof(procs), "%s/cgroup.procs", dir);
                snprintf(pid, sizeof(pid), "%d", (int) getpid());
                int c = -1;
                if (mkdir(dir, 0755) == 0 && (c = open(procs, O_WRONLY | O_CLOEXEC)) >= 0 &&
                    write(c, pid, strlen(pid)) > 0) {
                        /* the broker identifies a peer when it accepts it: the refusal comes unasked
                         * (sending a hello could race with the close that follows it) */
                        int s = raw_connect();
                        char *r = s >= 0 ? raw_recv(s, 5000) : NULL;
                        snprintf(msg, sizeof(msg), "%s", r ? r : "(no answer)");
                        free(r);
                }
                if (c >= 0)
                        close(c);
                /* back to the host's root cgroup, and remove ours */
                c = open("/run/delegate-test/hostcg/cgroup.procs", O_WRONLY | O_CLOEXEC);
                if (c >= 0 && write(c, pid, strlen(pid)) < 0)
                        msg[0] = 0;
                rmdir(dir);
                if (write(pfd[1], msg, strlen(msg)) < 0)
                        _exit(4);
                _exit(0);
        }
        close(pfd[1]);
        char buf[1024] = "";
        ssize_t n = read(pfd[0], buf, sizeof(buf) - 1);
        buf[n > 0 ? n : 0] = 0;
        close(pfd[0]);
        int st;
        waitpid(p, &st, 0);
        tap_ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "a client in a cgroup outside the broker's namespace ran (0x%x)",
               st);
        tap_is_str(jstr(buf, "type"), "error", "it is refused (%s)", buf);
        tap_has_str(jstr(buf, "message"), "lies outside the broker's cgroup namespace",
                    "the message says the cgroup lies outside the broker's cgroup namespace");
        tap_ok(!harness_log_contains("session 1 opened"), "no session was opened for '/../...'");
        (void) h;
}

/*
 * The broker started in a private cgroup namespace below the root of the
 * cgroup mount (as in a container): peers' cgroups would read as "/../...".
 * It joins the host's cgroup namespace; here (the test's own cgroup tree is
 * mounted, not the whole hierarchy) that still does not line the paths up,
 * so it must refuse to start with a clear message, not serve.
 */
static void broker_cgroupns(harness *h) {
        char path[512];
        tap_ok(WIFEXITED(harness_stop_broker(h)), "the scenario's broker stops");
        harness_cgroup_path(h, "system/cgns", path, sizeof(path));
        tap_is_int(mkdir(path, 0755), 0, "a cgroup system/cgns for the broker");
        const char *broker = getenv("DELEGATE_BROKER");
        pid_t p = fork();
        if (p == 0) {
                int fd = open(HARNESS_BROKER_LOG, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
                if (fd < 0 || harness_move(h, getpid(), "system/cgns") < 0 || unshare(CLONE_NEWCGROUP) < 0)
                        _exit(126);
                dup2(fd, 1);
                dup2(fd, 2);
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                execl(broker, "delegate-broker", "--foreground", "--socket", HARNESS_SOCKET, "--policy-dir",
                      HARNESS_POLICY_DIR, (char *) NULL);
                _exit(127);
        }
        int st = -1;
        for (int i = 0; i < 200 && waitpid(p, &st, WNOHANG) != p; i++, st = -1)
                usleep(25000);
        if (st == -1) {
                kill(p, SIGKILL);
                waitpid(p, NULL, 0);
        }
        tap_ok(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) != 0 && WEXITSTATUS(st) < 126,
               "a broker in a private cgroup namespace refuses to start (0x%x)", st);
        tap_ok(harness_log_contains("the cgroup v2 mount's root is still"), "it says why: the paths do not line up");
        tap_ok(harness_log_contains("run the broker with hostPID"), "and what the node needs");
        rmdir(path);
        tap_is_int(harness_start_broker(h), 0, "the scenario's broker starts again");
}

static void api_mismatch(harness *h) {
        int fd = raw_connect();
        tap_ok(fd >= 0, "connect");
        const char *hello = "{\"type\":\"hello\",\"api\":2,\"client\":\"future\"}";
        raw_send(fd, hello, strlen(hello));
        char *r = raw_recv(fd, 5000);
        tap_is_str(jstr(r, "type"), "error", "hello with API 2 is answered with an error");
        tap_is_str(jstr(r, "code"), "api-mismatch", "code api-mismatch");
        tap_is_str(jstr(r, "message"), "client speaks API 2, broker speaks API 1", "message names both versions");
        free(r);
        r = raw_recv(fd, 5000);
        tap_ok(r == NULL, "the broker closes the connection");
        free(r);
        close(fd);
        tap_ok(harness_log_contains("client speaks API 2, broker speaks API 1"), "the broker logs the mismatch too");

        fd = raw_connect();
        hello = "{\"type\":\"hello\",\"api\":\"1\"}";
        raw_send(fd, hello, strlen(hello));
        r = raw_recv(fd, 5000);
        tap_is_str(jstr(r, "code"), "bad-request", "a string api is a bad request");
        free(r);
        close(fd);

        fd = raw_connect();
        const char *req = "{\"id\":1,\"op\":\"ping\"}";
        raw_send(fd, req, strlen(req));
        r = raw_recv(fd, 5000);
        tap_is_str(jstr(r, "code"), "bad-request", "a request before hello is refused");
        tap_has_str(jstr(r, "message"), "first message must be", "saying hello comes first");
        free(r);
        r = raw_recv(fd, 5000);
        tap_ok(r == NULL, "and the connection is closed");
        free(r);
        close(fd);
        tclient a;
        start_client(h, &a, "kubepods.slice/pod-a", 1000, "vm-a");
        ping_ok(&a, "after refused handshakes");
        tclient_stop(&a);
}

static int count_fds(pid_t pid) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/fd", (int) pid);
        DIR *d = opendir(path);
        int n = 0;
        if (!d)
                return -1;
        while (readdir(d))
                n++;
        closedir(d);
        return n;
}

static void malformed_input(harness *h) {
        tclient a;
        start_client(h, &a, "kubepods.slice/pod-a", 1000, "vm-a");
        ping_ok(&a, "at the start");
        int fd = raw_hello();
        tap_ok(fd >= 0, "raw client completes the handshake");

        char *r = raw_call(fd, "{not json");
        tap_is_str(jstr(r, "error.code"), "bad-request", "malformed JSON: bad-request");
        tap_has_str(jstr(r, "error.message"), "line 1, column 2", "with the position");
        free(r);
        ping_ok(&a, "after malformed JSON");

        size_t big = 100 * 1024;
        char *huge = malloc(big);
        memset(huge, ' ', big);
        huge[0] = '{';
        huge[big - 1] = '}';
        raw_send(fd, huge, big);
        free(huge);
        r = raw_recv(fd, 5000);
        tap_is_str(jstr(r, "error.code"), "too-large", "a 100 KiB datagram: too-large");
        free(r);
        ping_ok(&a, "after an oversized datagram");

        static const struct {
                const char *msg, *want;
        } cases[] = {
                { "[1,2]", "must be a JSON object" },
                { "{\"id\":1,\"op\":\"nope\"}", "unknown operation 'nope'" },
                { "{\"id\":\"x\",\"op\":\"ping\"}", "\"id\" must be an integer" },
                { "{\"id\":-4,\"op\":\"ping\"}", "\"id\" must be an integer" },
                { "{\"op\":\"ping\"}", "without \"id\"" },
                { "{\"id\":2,\"op\":7}", "\"op\" must be a string" },
                { "{\"id\":3,\"op\":\"ping\",\"args\":[1]}", "\"args\" must be an object" },
                { "{\"id\":4,\"op\":\"memlock.set\",\"args\":{\"pid\":\"x\",\"soft\":1}}", "\"pid\" must be" },
                { "{\"id\":5,\"op\":\"memlock.set\",\"args\":{\"pid\":0}}", "missing \"soft\"" },
                { "{\"id\":6,\"op\":\"memlock.set\",\"args\":{\"pid\":0,\"soft\":\"lots\"}}", "\"soft\" must be" },
                { "{\"id\":7,\"op\":\"memlock.set\",\"args\":{\"pid\":0,\"soft\":1,\"x\":1}}", "unknown argument 'x'" },
                { "{\"id\":8,\"op\":\"ping\",\"extra\":1}", "unknown request key 'extra'" },
                { "{\"id\":9,\"op\":\"ping\",\"id\":10}", "duplicate key 'id'" },
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                r = raw_call(fd, cases[i].msg);
                tap_is_str(jstr(r, "error.code"), "bad-request", "%s: bad-request", cases[i].msg);
                tap_has_str(jstr(r, "error.message"), cases[i].want, "  saying %s", cases[i].want);
                free(r);
        }
        raw_send(fd, "", 0);
        r = raw_recv(fd, 5000);
        tap_has_str(jstr(r, "error.message"), "empty message", "an empty datagram: bad-request");
        free(r);

        /* fds sent to the broker are refused and not kept */
        int before = count_fds(h->broker_pid);
        int pfd[2];
        pipe2(pfd, O_CLOEXEC);
        for (int k = 0; k < 3; k++) {
                const char *msg = "{\"id\":20,\"op\":\"ping\"}";
                struct iovec iov = { .iov_base = (void *) msg, .iov_len = strlen(msg) };
                char ctl[CMSG_SPACE(sizeof(int) * 2)];
                struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl) };
                struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
                cm->cmsg_level = SOL_SOCKET;
                cm->cmsg_type = SCM_RIGHTS;
                cm->cmsg_len = CMSG_LEN(sizeof(int) * 2);
                memcpy(CMSG_DATA(cm), pfd, sizeof(int) * 2);
                sendmsg(fd, &mh, 0);
                r = raw_recv(fd, 5000);
                if (k == 0)
                        tap_has_str(jstr(r, "error.message"), "file descriptor",
                                    "fds sent to the broker are refused");
                free(r);
        }
        close(pfd[0]);
        close(pfd[1]);
        /* "not kept": the broker may still be closing them as the answer arrives */
        int after = count_fds(h->broker_pid);
        for (int i = 0; i < 100 && after != before; i++) {
                usleep(10000);
                after = count_fds(h->broker_pid);
        }
        if (after != before) {
                char *ls = NULL;
                harness_sh(&ls, "ls -l /proc/%d/fd", (int) h->broker_pid);
                tap_diag("broker fds: %s", ls ? ls : "?");
                free(ls);
        }
        tap_is_int(after, before, "the broker holds no more fds than before");

        r = raw_call(fd, "{\"id\":30,\"op\":\"ping\"}");
        tap_is_int(jint(r, "ok"), 1, "the misbehaving client itself is still served");
        free(r);
        close(fd);
        ping_ok(&a, "at the end");
        tclient_stop(&a);
}

static void reload_broken_policy(harness *h) {
        tclient a;
        uint64_t s, hd;
        start_client(h, &a, "kubepods.slice/pod-a", 1000, "vm-a");
        pid_t c = spawn_child(&a);
        char *r = tclient_call(&a, "memlock %d %" PRIu64 " keep", (int) c, H / 2);
        tap_is_int(jint(r, "ok"), 1, "allowed under generation 1");
        free(r);

        harness_write_policy("20-broken.json", "{ \"version\": 1,\n  \"rules\": [\n    { \"name\": \"x\", \"bogus\": 1 } ] }\n");
        kill(h->broker_pid, SIGHUP);
        tap_ok(harness_log_contains("20-broken.json:3:20: unknown rule key 'bogus'"),
               "the reload error names file, line and column");
        tap_ok(harness_log_contains("generation 1 stays in force"), "the broker says the old policy stays");
        r = tclient_call(&a, "memlock %d %" PRIu64 " keep", (int) c, H / 2);
        tap_is_int(jint(r, "ok"), 1, "the old policy still decides");
        free(r);
        read_memlock(c, &s, &hd);
        tap_is_int(s, H / 2, "the kernel shows H/2");

        unlink(HARNESS_POLICY_DIR "/20-broken.json");
        char tight[256];
        snprintf(tight, sizeof(tight),
                 "{ \"version\": 1, \"rules\": [ { \"name\": \"tight\", \"match\": { \"uid\": 1000 },"
                 " \"memlock\": { \"max\": %" PRIu64 " } } ] }",
                 H / 2);
        harness_write_policy("10-scenario.json", tight);
        kill(h->broker_pid, SIGHUP);
        tap_ok(harness_log_contains("policy generation 2 loaded"), "a good policy loads as generation 2");
        r = tclient_call(&a, "memlock %d %" PRIu64 " keep", (int) c, H * 3 / 4);
        tap_is_str(jstr(r, "code"), "denied", "the new policy decides");
        tap_is_str(jstr(r, "rule"), "tight", "naming its rule");
        free(r);
        read_memlock(c, &s, &hd);
        tap_is_int(s, H / 2, "the kernel still shows H/2");
        tclient_stop(&a);
}

static void state_and_retry(harness *h) {
        tclient a;
        start_client(h, &a, "kubepods.slice/pod-a", 1000, "vm-a");
        pid_t c = spawn_child(&a);
        char *r = tclient_call(&a, "memlock %d %" PRIu64 " keep", (int) c, H / 2);
        free(r);
        r = tclient_call(&a, "state");
        tap_is_str(jstr(r, "state.vm"), "vm-a", "state.get names the VM");
        tap_is_str(jstr(r, "state.peer.cgroup"), "/kubepods.slice/pod-a", "and the pod cgroup");
        tap_is_int(jint(r, "state.requests.allowed"), 1, "one request allowed so far");
        tap_has_str(r, "\"memlock\":[{\"pid\":", "and lists the memlock delegation");
        char want[64];
        snprintf(want, sizeof(want), "{\"pid\":%d,\"soft\":%" PRIu64, (int) c, H / 2);
        tap_has_str(r, want, "for the child, at H/2");
        free(r);

        /* a retried id returns the first answer and does not act again */
        int fd = raw_hello();
        struct rlimit rl;
        getrlimit(RLIMIT_MEMLOCK, &rl);
        char req[128];
        snprintf(req, sizeof(req), "{\"id\":77,\"op\":\"memlock.set\",\"args\":{\"pid\":0,\"soft\":%" PRIu64 "}}",
                 H / 2);
        char *first = raw_call(fd, req);
        tap_is_int(jint(first, "ok"), 1, "raw memlock.set on itself succeeds (%s)", first);
        uint64_t s, hd;
        read_memlock(getpid(), &s, &hd);
        tap_is_int(s, H / 2, "the kernel shows H/2");
        rl.rlim_cur = H / 4;
        setrlimit(RLIMIT_MEMLOCK, &rl);
        char *second = raw_call(fd, req);
        tap_is_str(second, first, "the retried id gets the identical first answer");
        read_memlock(getpid(), &s, &hd);
        tap_is_int(s, H / 4, "and nothing was done again (the kernel still shows H/4)");
        free(first);
        free(second);
        close(fd);
        tclient_stop(&a);
}


/*
 * erase-request-buffers: run with tests/lib/erase-check.c preloaded (see
 * meson.build): every block the broker or delegatectl frees, and every
 * private writable mapping of the broker once the session is over, is
 * scanned for a marker that this scenario sends in every part of a
 * request it can: the hello, keys, values, malformed and oversized
 * datagrams, a retried id, a reply that echoes it.  None may remain.
 * This process frees a reply holding the marker without erasing it, on
 * purpose: the control that proves the hook sees unerased frees.
 */
#define MARKER "Xerase-7f3a9c1d"
#define ERASE_REPORT "/run/delegate-test/erase-report"

static void erase_request_buffers(harness *h) {
        if (!getenv("DELEGATE_ERASE_MARKER") || strcmp(getenv("DELEGATE_ERASE_MARKER"), MARKER) != 0) {
                tap_ok(0, "DELEGATE_ERASE_MARKER is '" MARKER "' (meson sets it with LD_PRELOAD)");
                return;
        }
        int fd = raw_connect();
        tap_ok(fd >= 0, "raw client connects");
        const char *hello = "{\"type\":\"hello\",\"api\":1,\"client\":\"c-" MARKER "\",\"vm\":\"vm-" MARKER "\"}";
        raw_send(fd, hello, strlen(hello));
        char *w = raw_recv(fd, 5000);
        tap_is_str(jstr(w, "type"), "welcome", "a hello naming the marker is welcomed");
        free(w);

        static const char *const requests[] = {
                "{\"id\":1,\"op\":\"ping\",\"args\":{\"" MARKER "\":\"" MARKER "\"}}",
                "{\"id\":2,\"op\":\"memlock.set\",\"args\":{\"pid\":0,\"soft\":\"" MARKER "\"}}",
                "{\"id\":3,\"op\":\"memlock.set\",\"args\":{\"pid\":0,\"soft\":\"1M\",\"" MARKER "\":1}}",
                "{\"id\":4,\"op\":\"memlock.set\",\"args\":{\"pid\":0,\"soft\":\"64K\"},\"note\":\"" MARKER "\"}",
                "{\"id\":5,\"op\":\"" MARKER "\"}",
                "{\"id\":6,\"op\":\"tap.create\",\"args\":{\"name\":\"" MARKER "\"}}",
                "{\"id\":7,\"op\":\"cgroup.move\",\"args\":{\"tids\":[1],\"target\":\"" MARKER "\"}}",
                "{\"id\":8,\"op\":\"sched.set\",\"args\":{\"tid\":0,\"policy\":\"" MARKER "\"}}",
                "{\"id\":9,\"op\":\"kvmi.set-page-access\",\"args\":{\"entries\":[[\"" MARKER "\",\"rw\"]]}}",
                "{\"id\":10,\"op\":\"memlock.set\",\"args\":{\"pid\":0,\"soft\":\"64K\",\"hard\":\"keep\"}}",
                "{\"id\":11,\"op\":\"state.get\"}",
                "{\"id\":11,\"op\":\"state.get\",\"args\":{\"retry\":\"" MARKER "\"}}",
                "{\"id\":12,\"op\":\"" MARKER "\" \"not json",
                "[\"" MARKER "\"]",
        };
        unsigned answered = 0, echoed = 0;
        for (size_t i = 0; i < sizeof(requests) / sizeof(requests[0]); i++) {
                raw_send(fd, requests[i], strlen(requests[i]));
                char *r = raw_recv(fd, 5000);
                answered += r != NULL;
                echoed += r && strstr(r, MARKER);
                free(r); /* not erased: the control */
        }
        tap_is_int(answered, sizeof(requests) / sizeof(requests[0]), "every request is answered");
        tap_ok(echoed > 0, "some replies echo the marker (%u): reply buffers are covered too", echoed);

        size_t big = 80 * 1024;
        char *huge = malloc(big);
        memset(huge, ' ', big);
        memcpy(huge, "{\"x\":\"" MARKER "\"", 6 + strlen(MARKER) + 1);
        huge[big - 1] = '}';
        raw_send(fd, huge, big);
        explicit_bzero(huge, big);
        free(huge);
        w = raw_recv(fd, 5000);
        tap_is_str(jstr(w, "error.code"), "too-large", "an oversized datagram holding the marker: too-large");
        free(w);
        close(fd);

        /* the library's buffers: delegatectl with the marker in its hello and replies */
        pid_t pid = fork();
        if (pid == 0) {
                int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
                dup2(null, 1);
                execl(getenv("DELEGATECTL"), "delegatectl", "--vm", "vm-" MARKER, "state", (char *) NULL);
                _exit(127);
        }
        int st = -1;
        waitpid(pid, &st, 0);
        tap_ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "delegatectl state for vm-" MARKER " succeeds");

        /* the session is over: nothing of it may remain in the broker's memory */
        usleep(300 * 1000);
        kill(h->broker_pid, SIGUSR2);
        bool scanned = false;
        for (int i = 0; i < 500 && !scanned; i++) {
                char *t = harness_erase_report(ERASE_REPORT);
                scanned = strstr(t, "SCAN-DONE") != NULL;
                free(t);
                if (!scanned)
                        usleep(10000);
        }
        tap_ok(scanned, "the broker's memory was scanned after the session closed");
        st = harness_stop_broker(h);
        tap_ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the broker exits cleanly (frees scanned too)");

        char *t = harness_erase_report(ERASE_REPORT);
        tap_ok(harness_erase_findings(t, "test-foundation") > 0,
               "control: the hook reports this test's own unerased frees of replies");
        tap_is_int(harness_erase_findings(t, "delegate-broker"), 0,
                   "no block the broker freed, and nothing live after the session, holds request content");
        tap_is_int(harness_erase_findings(t, "delegatectl"), 0, "no block libdelegate freed in delegatectl holds request content");
        free(t);
        /* the harness stops the broker at the end of every scenario */
        tap_ok(harness_start_broker(h) == 0, "the broker restarts");
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
        { "cgroup-outside", policy_main, cgroup_outside },
        { "broker-cgroupns", policy_main, broker_cgroupns },
        { "api-mismatch", policy_main, api_mismatch },
        { "malformed-input", policy_main, malformed_input },
        { "reload-broken-policy", policy_main, reload_broken_policy },
        { "state-and-retry", policy_main, state_and_retry },
        { "erase-request-buffers", policy_main, erase_request_buffers },
};

int main(int argc, char **argv) {
        return harness_main(argc, argv, scenarios, sizeof(scenarios) / sizeof(scenarios[0]));
}
