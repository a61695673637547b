/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-unotify - unmodified programs under delegate-run(1): Debian's
 * prlimit, chrt, ip tuntap and ifconfig run as a pod uid with their
 * privileged syscalls delegated through seccomp user notification.  Each
 * allowed and denied case is checked in the kernel (/proc/PID/limits,
 * sched_getattr(2) of the thread, a netlink link dump of the pod's netns
 * with ip -d -j), and each is also run without delegate-run to show the
 * kernel refuses it there.  Hostile callers: memory changed after the
 * notification, a tid outside the pod, TUNSETIFF on an existing device, a
 * flood of notifications while another client's ping round trip is
 * measured; and the listener handed over again after a broker restart.
 * A TAP made again under the same session after its first incarnation
 * vanished (libvirt's domain destroyed and started again) is a new device,
 * owned and counted, and one root made with that name meanwhile is never
 * attached to on the caller's behalf.  --max-tap holds for a TUNSETIFF as
 * for a tap.create over the socket: devices still there fill it, vanished
 * ones are pruned first.
 */
#include <errno.h>
#include <inttypes.h>
#include <pwd.h>
#include <signal.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static bool streq(const char *a, const char *b) {
        return strcmp(a, b) == 0;
}

#define POD_A "kubepods.slice/pod-a"
#define POD_B "kubepods.slice/pod-b"
#define UID 1000
#define H ((unsigned long long) harness_hard) /* 64 MiB at most, known once the scenario runs */

/* The scenario's policy, written once H (harness.c) is known: the rules' memlock max is H/2. */
static const char policy_template[] =
        "{ \"version\": 1,\n"
        "  \"rules\": [\n"
        "    { \"name\": \"seccomp-clamp\",\n"
        "      \"match\": { \"uid\": \"1000-1999\", \"vm\": \"vm-a\", \"via\": \"seccomp\" },\n"
        "      \"memlock\": { \"max\": %llu, \"unlimited\": \"max\" },\n"
        "      \"sched\": { \"policies\": [\"fifo\", \"rr\"], \"max_priority\": 10, \"max_rttime_us\": 200000 },\n"
        "      \"tap\": { \"template\": [\"utap%%d\", \"mq0\", \"mq1\"], \"max_devices\": 4, \"max_queues\": 2,\n"
        "                 \"mtu\": \"1280-9000\" } },\n"
        "    { \"name\": \"seccomp-mq4\",\n"
        "      \"match\": { \"uid\": \"1000-1999\", \"vm\": \"vm-c\", \"via\": \"seccomp\" },\n"
        "      \"tap\": { \"template\": [\"mqr0\", \"mqr1\"], \"max_devices\": 4, \"max_queues\": 4 } },\n"
        "    { \"name\": \"seccomp-deny-unlimited\",\n"
        "      \"match\": { \"uid\": \"1000-1999\", \"vm\": \"vm-b\", \"via\": \"seccomp\" },\n"
        "      \"memlock\": { \"max\": %llu, \"unlimited\": \"deny\" } },\n"
        "    { \"name\": \"socket-tap\",\n"
        "      \"match\": { \"uid\": \"1000-1999\", \"vm\": \"vm-t\", \"via\": \"socket\" },\n"
        "      \"tap\": { \"template\": \"stap%%d\", \"max_devices\": 4 } },\n"
        "    { \"name\": \"sockets\",\n"
        "      \"match\": { \"uid\": \"1000-1999\", \"via\": \"socket\" } }\n"
        "  ]\n"
        "}\n";

/* until use_policy(): nothing is allowed */
static const char policy_none[] = "{ \"version\": 1, \"rules\": [] }\n";

static void write_policy(void) {
        char text[sizeof(policy_template) + 64];
        unsigned long long max = H / 2;
        snprintf(text, sizeof(text), policy_template, max, max);
        harness_write_policy("10-scenario.json", text);
}

static void use_policy(harness *h) {
        write_policy();
        kill(h->broker_pid, SIGHUP);
        tap_ok(harness_log_contains("policy generation 2 loaded"), "the scenario's policy is loaded (max H/2)");
}

static const char *dr(void) {
        const char *p = getenv("DELEGATE_RUN");
        if (!p)
                tap_skip_all("DELEGATE_RUN is not set (meson sets it)");
        return p;
}

static const char *caller_prog(void) {
        const char *p = getenv("DELEGATE_UNOTIFY_CALLER");
        if (!p)
                tap_skip_all("DELEGATE_UNOTIFY_CALLER is not set (meson sets it)");
        return p;
}

static void need(const char *prog) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null", prog);
        if (harness_sh(NULL, "%s", cmd) != 0) {
                char why[160];
                snprintf(why, sizeof(why), "Debian's %s is not installed (tools/install-deps.sh installs it)", prog);
                tap_skip_all(why);
        }
}

/* Run @cmd with sh as UID in @pod (@netns); its output (stdout and stderr) in *ret; the exit status. */
static int in_pod(harness *h, const char *pod, const char *netns, char **ret, const char *cmd) {
        int st = harness_sh_in_pod(h, pod, netns, UID, UID, ret, "%s 2>&1", cmd);
        for (char *p = ret && *ret ? *ret : NULL; p && *p; p++)
                if (*p == '\n')
                        *p = ' '; /* one TAP line per assertion */
        return st;
}

/* The pid of @parent's first child (delegate-run's program), waiting for it to run @comm. */
static pid_t child_running(pid_t parent, const char *comm) {
        for (int i = 0; i < 200; i++) {
                char path[64], buf[256], c[64];
                snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int) parent, (int) parent);
                harness_read_file(path, buf, sizeof(buf));
                pid_t p = (pid_t) atoi(buf);
                if (p > 0) {
                        snprintf(path, sizeof(path), "/proc/%d/comm", (int) p);
                        harness_read_line(path, c, sizeof(c));
                        if (streq(c, comm))
                                return p;
                }
                usleep(25000);
        }
        return -1;
}

/* Has @pid (not necessarily our child) exited, within @timeout_ms? */
static bool gone(pid_t pid, int timeout_ms) {
        for (int t = 0; t < timeout_ms; t += 50) {
                char path[64], buf[512];
                snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
                buf[0] = 0;
                harness_read_file(path, buf, sizeof(buf));
                const char *e = strrchr(buf, ')');
                if (!buf[0] || (e && e[1] == ' ' && e[2] == 'Z'))
                        return true;
                waitpid(pid, NULL, WNOHANG);
                usleep(50000);
        }
        return false;
}

static pid_t spawn_dr(harness *h, const char *pod, const char *netns, const char *log, const char *vm,
                      char *const *prog) {
        char *argv[32] = { (char *) dr(), "--vm", (char *) vm, "--" };
        size_t n = 4;
        for (size_t i = 0; prog[i] && n < 31; i++)
                argv[n++] = prog[i];
        argv[n] = NULL;
        return harness_spawn_in_pod(h, pod, netns, UID, UID, log, argv);
}

static int stop_pid(pid_t p) {
        int st = 0;
        kill(p, SIGTERM);
        if (harness_wait_exit(p, 5000) < 0) {
                kill(p, SIGKILL);
                waitpid(p, &st, 0);
        }
        return st;
}

/* --- RLIMIT_MEMLOCK: prlimit --- */

static void unotify_prlimit(harness *h) {
        char *out = NULL, cmd[512], a1[64], a2[64];
        uint64_t s, hd;
        need("prlimit");
        use_policy(h);

        /* without interception the kernel refuses the unlimited request a pod uid makes */
        int st = in_pod(h, POD_A, NULL, &out, "prlimit --memlock=unlimited:unlimited true");
        tap_ok(st != 0 && out && strstr(out, "Operation not permitted"),
               "without delegate-run, prlimit --memlock=unlimited fails with EPERM (%s)", out ? out : "");
        free(out);

        /* allowed: soft H/4, hard kept at H, within the rule's H/2 */
        snprintf(a1, sizeof(a1), "--memlock=%llu:%llu", H / 4, H);
        char *const raise[] = { "/usr/bin/prlimit", a1, "/bin/sleep", "30", NULL };
        pid_t d = spawn_dr(h, POD_A, NULL, "/run/delegate-test/dr-prlimit.log", "vm-a", raise);
        pid_t p = child_running(d, "sleep");
        tap_ok(p > 0, "delegate-run runs prlimit %s, which execs sleep (pid %d)", a1, (int) p);
        tap_is_int(read_memlock(p, &s, &hd), 0, "read /proc/%d/limits", (int) p);
        tap_is_int(s, H / 4, "the kernel shows soft RLIMIT_MEMLOCK H/4");
        tap_is_int(hd, H, "and the hard limit H");
        tap_ok(harness_log_contains("ALLOW memlock.set") && harness_log_contains("via=seccomp") &&
                       harness_log_contains("rule=seccomp-clamp"),
               "the audit says ALLOW memlock.set via=seccomp with the rule");
        stop_pid(d);

        /* denied: above the rule's max, though the kernel alone would allow 3H/4 <= H */
        snprintf(cmd, sizeof(cmd), "%s --vm vm-a -- prlimit --memlock=%llu:%llu true", dr(), 3 * H / 4, H);
        st = in_pod(h, POD_A, NULL, &out, cmd);
        tap_ok(st != 0 && out && strstr(out, "Operation not permitted"),
               "soft 3H/4 above the rule's max: prlimit gets EPERM (%s)", out ? out : "");
        free(out);
        tap_ok(harness_log_contains("DENY memlock.set") && harness_log_contains("exceeds the rule's memlock max"),
               "the audit says DENY and why");
        /* ... and the kernel kept the limit: a shell asks for its own, then stays as sleep */
        char sh[256];
        snprintf(sh, sizeof(sh), "prlimit --pid $$ --memlock=%llu:%llu; echo TRIED; exec sleep 30", 3 * H / 4, H);
        char *const deny[] = { "/bin/sh", "-c", sh, NULL };
        d = spawn_dr(h, POD_A, NULL, "/run/delegate-test/dr-deny.log", "vm-a", deny);
        p = child_running(d, "sleep");
        tap_ok(p > 0 && harness_file_contains("/run/delegate-test/dr-deny.log", "Operation not permitted", 100),
               "prlimit --pid of its shell is refused too");
        tap_is_int(read_memlock(p, &s, &hd), 0, "read /proc/%d/limits", (int) p);
        tap_ok(s == H / 8 && hd == H, "the kernel still shows soft H/8, hard H");
        stop_pid(d);

        /* unlimited, rule "max": the rule's max is set and success reported */
        snprintf(a2, sizeof(a2), "--memlock=unlimited:unlimited");
        char *const unl[] = { "/usr/bin/prlimit", a2, "/bin/sleep", "30", NULL };
        d = spawn_dr(h, POD_A, NULL, "/run/delegate-test/dr-unl.log", "vm-a", unl);
        p = child_running(d, "sleep");
        tap_ok(p > 0, "prlimit --memlock=unlimited:unlimited succeeds under delegate-run (vm-a) and execs sleep");
        tap_is_int(read_memlock(p, &s, &hd), 0, "read /proc/%d/limits", (int) p);
        tap_is_int(s, H / 2, "the kernel shows soft = the rule's max H/2");
        tap_is_int(hd, H / 2, "and hard = H/2");
        tap_ok(harness_log_contains("sets its memlock max"), "the audit says the rule answered unlimited with its max");
        stop_pid(d);

        /* unlimited, rule "deny" */
        snprintf(cmd, sizeof(cmd), "%s --vm vm-b -- prlimit --memlock=unlimited:unlimited true", dr());
        st = in_pod(h, POD_A, NULL, &out, cmd);
        tap_ok(st != 0 && out && strstr(out, "Operation not permitted"),
               "vm-b's rule denies unlimited: EPERM (%s)", out ? out : "");
        free(out);
        tap_ok(harness_log_contains("rule=seccomp-deny-unlimited"), "the audit names the denying rule");

        /* a read of the limit is left to the kernel */
        snprintf(cmd, sizeof(cmd), "%s --vm vm-a -- prlimit --memlock --noheadings --raw", dr());
        st = in_pod(h, POD_A, NULL, &out, cmd);
        tap_ok(st == 0 && out && strstr(out, "MEMLOCK"), "prlimit reading the limit works (%s)", out ? out : "");
        free(out);
}

/* --- realtime: chrt --- */

static void unotify_chrt(harness *h) {
        char *out = NULL, cmd[512];
        use_policy(h);
        need("chrt");

        /* without interception: EPERM */
        int st = in_pod(h, POD_A, NULL, &out, "prlimit --rttime=100000:100000 chrt -f 5 true");
        tap_ok(st != 0 && out && strstr(out, "Operation not permitted"),
               "without delegate-run, chrt -f 5 fails with EPERM (%s)", out ? out : "");
        free(out);

        /* allowed: fifo 5 under a finite RLIMIT_RTTIME, the rule's safety */
        char *const fifo[] = { "/usr/bin/prlimit", "--rttime=100000:100000", "/usr/bin/chrt", "-f", "5",
                               "/bin/sleep", "30", NULL };
        pid_t d = spawn_dr(h, POD_A, NULL, "/run/delegate-test/dr-chrt.log", "vm-a", fifo);
        pid_t p = child_running(d, "sleep");
        tap_ok(p > 0, "chrt -f 5 sleep runs under delegate-run (pid %d)", (int) p);
        harness_sched_attr a = harness_sched_getattr(p);
        tap_is_int(a.sched_policy, SCHED_FIFO, "the kernel shows SCHED_FIFO");
        tap_is_int(a.sched_priority, 5, "priority 5");
        tap_ok(a.sched_flags & 1, "with SCHED_RESET_ON_FORK, always");
        tap_ok(harness_log_contains("ALLOW sched.set"), "the audit says ALLOW sched.set");

        /* hostile: a tid outside the pod (pod-b's sleep, same uid) */
        char *const other[] = { "/bin/sleep", "30", NULL };
        pid_t q = harness_spawn_in_pod(h, POD_B, NULL, UID, UID, "/run/delegate-test/other.log", other);
        usleep(100000);
        snprintf(cmd, sizeof(cmd), "%s --vm vm-a -- chrt -f -p 5 %d", dr(), (int) q);
        st = in_pod(h, POD_A, NULL, &out, cmd);
        tap_ok(st != 0 && out && strstr(out, "Operation not permitted"),
               "chrt -p on a process of another pod: EPERM (%s)", out ? out : "");
        free(out);
        tap_is_int(harness_sched_getattr(q).sched_policy, SCHED_OTHER, "the kernel shows it untouched");
        tap_ok(harness_log_contains("outside the caller's") || harness_log_contains("not a thread of the caller"),
               "the broker says why");
        kill(q, SIGKILL);
        waitpid(q, NULL, 0);
        stop_pid(d);

        /* denied: above the rule's priority ceiling */
        snprintf(cmd, sizeof(cmd), "%s --vm vm-a -- prlimit --rttime=100000:100000 chrt -f 50 true", dr());
        st = in_pod(h, POD_A, NULL, &out, cmd);
        tap_ok(st != 0 && out && strstr(out, "Operation not permitted"), "chrt -f 50: EPERM (%s)", out ? out : "");
        free(out);
        tap_ok(harness_log_contains("DENY sched.set"), "the audit says DENY sched.set");
        char *const deny[] = { "/usr/bin/prlimit", "--rttime=100000:100000", "/bin/sh", "-c",
                               "chrt -f -p 50 $$; exec sleep 30", NULL };
        d = spawn_dr(h, POD_A, NULL, "/run/delegate-test/dr-chrt-deny.log", "vm-a", deny);
        p = child_running(d, "sleep");
        a = harness_sched_getattr(p);
        tap_ok(p > 0 && a.sched_policy == SCHED_OTHER, "the kernel shows the shell refused fifo 50 still SCHED_OTHER");
        stop_pid(d);

        /* the rule's safety "rttime": a target without a finite hard RLIMIT_RTTIME is refused */
        snprintf(cmd, sizeof(cmd), "prlimit --rttime=unlimited:unlimited true && %s --vm vm-a -- chrt -f 5 true",
                 dr());
        st = in_pod(h, POD_A, NULL, &out, cmd);
        tap_ok(st != 0 && out && strstr(out, "Operation not permitted"),
               "chrt -f 5 without a finite RLIMIT_RTTIME: EPERM (%s)", out ? out : "");
        free(out);
        tap_ok(harness_log_contains("sched_setscheduler of tid") && harness_log_contains("RLIMIT_RTTIME no larger than"),
               "the broker logs that the rule's rttime safety refused it");

        /* not realtime: the kernel judges (and allows) */
        snprintf(cmd, sizeof(cmd), "%s --vm vm-a -- chrt -b 0 true", dr());
        tap_is_int(in_pod(h, POD_A, NULL, NULL, cmd), 0, "chrt -b 0 (batch) is left to the kernel, which allows it");
}

/* --- a caller in a nested pid namespace names a sibling by its id there --- */

static void unotify_pidns(harness *h) {
        use_policy(h);
        need("chrt");
        need("unshare");
        if (harness_sh(NULL, "setpriv --reuid %d --regid %d --clear-groups -- unshare -Upfr true", UID, UID) != 0)
                tap_skip_all("no unprivileged user and pid namespaces here (unshare -Upfr fails)");
        /* sleep is pid 2 there; chrt, pid 3, is not its parent: the id is read in the caller's namespace */
        char *const prog[] = { "/usr/bin/prlimit", "--rttime=100000:100000", "/usr/bin/unshare", "-Upfr", "/bin/sh", "-c",
                               "sleep 30 & sleep 0.2; chrt -f -p 4 $!; echo RC=$? INNER=$!; wait", NULL };
        pid_t d = spawn_dr(h, POD_A, NULL, "/run/delegate-test/dr-pidns.log", "vm-a", prog);
        bool done = harness_file_contains("/run/delegate-test/dr-pidns.log", "RC=", 5000);
        harness_dump_file("/run/delegate-test/dr-pidns.log", "delegate-run");
        tap_ok(done && harness_file_contains("/run/delegate-test/dr-pidns.log", "RC=0 INNER=2", 100),
               "chrt -f -p 4 2 inside a new pid namespace succeeds");
        char cmd[128], *out = NULL;
        snprintf(cmd, sizeof(cmd), "pgrep -n -x sleep -u %d", UID);
        harness_sh(&out, "%s", cmd);
        pid_t s = out ? (pid_t) atoi(out) : -1;
        free(out);
        harness_sched_attr a = harness_sched_getattr(s);
        tap_ok(s > 0 && a.sched_policy == SCHED_FIFO && a.sched_priority == 4,
               "the kernel shows that sleep (pid %d here, 2 there) at SCHED_FIFO 4", (int) s);
        stop_pid(d);
}

/* --- TAP: ip tuntap, ifconfig --- */

static bool link_has(const char *netns, const char *dev, const char *needle) {
        char cmd[256];
        snprintf(cmd, sizeof(cmd), "ip -n %s -d -j link show dev %s", netns, dev);
        return harness_sh_has(needle, cmd);
}

static bool link_exists(const char *netns, const char *dev) {
        char cmd[256];
        snprintf(cmd, sizeof(cmd), "ip -n %s link show dev %s >/dev/null 2>&1", netns, dev);
        return harness_sh(NULL, "%s", cmd) == 0;
}

/*
 * A pod is given /dev/net/tun usable by its uid (device plugins and
 * runtimes do so; Debian's udev makes it 0666).  This machine's is 0600:
 * in the scenario's own mount namespace a 0666 node of the same device is
 * bound over it, from a tmpfs that allows device nodes.
 */
static void pod_tun(void) {
        struct stat st;
        if (stat("/dev/net/tun", &st) == 0 && (st.st_mode & 0006) == 0006)
                return;
        mkdir("/run/delegate-test/dev", 0755);
        bool ok = mount("tmpfs", "/run/delegate-test/dev", "tmpfs", MS_NOSUID, "mode=0755") == 0 &&
                  mknod("/run/delegate-test/dev/tun", S_IFCHR | 0666, makedev(10, 200)) == 0 &&
                  chmod("/run/delegate-test/dev/tun", 0666) == 0 &&
                  mount("/run/delegate-test/dev/tun", "/dev/net/tun", NULL, MS_BIND, NULL) == 0;
        tap_ok(ok, "the pod gets a /dev/net/tun its uid may open (here: a 0666 node bound over it) (%s)",
               ok ? "ok" : strerror(errno));
}

/* What a TAP scenario needs: Debian's ip, a /dev/net/tun the pod uid may open, pod-a's network namespace held
 * by its pause process (returned: stop it with pod_a_end()). */
static pid_t pod_a_for_taps(harness *h) {
        need("ip");
        pod_tun();
        return harness_pod_with_pause(h, POD_A, "pod-a");
}

static void pod_a_end(pid_t pause) {
        kill(pause, SIGKILL);
        waitpid(pause, NULL, 0);
}

static void unotify_tuntap(harness *h) {
        char *out = NULL, cmd[512];
        use_policy(h);
        need("ifconfig");
        pid_t pause = pod_a_for_taps(h);

        int st = in_pod(h, POD_A, "pod-a", &out, "ip tuntap add dev utap0 mode tap");
        tap_ok(st != 0 && out && strstr(out, "Operation not permitted"),
               "without delegate-run, ip tuntap add fails with EPERM (%s)", out ? out : "");
        free(out);

        /* allowed: the device appears in the pod's netns, owned by the pod uid, and stays while the session lives */
        char *const add[] = { "/bin/sh", "-c",
                              "ip tuntap add dev utap0 mode tap && ifconfig utap0 mtu 1400 hw ether 52:54:00:12:34:56 up"
                              " && echo READY && exec sleep 30",
                              NULL };
        pid_t d = spawn_dr(h, POD_A, "pod-a", "/run/delegate-test/dr-tap.log", "vm-a", add);
        bool ready = harness_file_contains("/run/delegate-test/dr-tap.log", "READY", 5000);
        if (!ready)
                harness_dump_file("/run/delegate-test/dr-tap.log", "delegate-run");
        tap_ok(ready, "ip tuntap add and ifconfig succeed under delegate-run");
        tap_ok(link_has("pod-a", "utap0", "\"type\":\"tap\""), "netlink shows utap0 in pod-a's netns, a TAP");
        tap_ok(link_has("pod-a", "utap0", "\"user\":\"" ) || link_has("pod-a", "utap0", "\"user\":1000"),
               "owned by the pod's uid");
        tap_ok(link_has("pod-a", "utap0", "\"mtu\":1400"), "the MTU set by ifconfig (SIOCSIFMTU)");
        tap_ok(link_has("pod-a", "utap0", "\"address\":\"52:54:00:12:34:56\""), "the MAC (SIOCSIFHWADDR)");
        tap_ok(link_has("pod-a", "utap0", "\"UP\""), "and up (SIOCSIFFLAGS)");

        /* SIOCSIF* on a device the session did not create: the kernel refuses */
        snprintf(cmd, sizeof(cmd), "%s --vm vm-a -- ifconfig lo mtu 1300", dr());
        st = in_pod(h, POD_A, "pod-a", &out, cmd);
        tap_ok(st != 0 && out && (strstr(out, "Operation not permitted") || strstr(out, "SIOCSIFMTU")),
               "ifconfig lo mtu 1300 (not the session's device): refused (%s)", out ? out : "");
        free(out);
        tap_ok(!link_has("pod-a", "lo", "\"mtu\":1300"), "lo's MTU is untouched");

        /* denied: a name the rule does not give */
        snprintf(cmd, sizeof(cmd), "%s --vm vm-a -- ip tuntap add dev bad0 mode tap", dr());
        st = in_pod(h, POD_A, "pod-a", &out, cmd);
        tap_ok(st != 0 && out && strstr(out, "Operation not permitted"), "bad0 is refused: EPERM (%s)",
               out ? out : "");
        free(out);
        tap_ok(!link_exists("pod-a", "bad0"), "no bad0 in the kernel");
        tap_ok(harness_log_contains("DENY tap.create"), "the audit says DENY tap.create");

        /* hostile: TUNSETIFF naming an existing device (root's, a name the rule gives) */
        tap_is_int(harness_sh(NULL, "ip -n pod-a tuntap add dev utap7 mode tap && ip -n pod-a link set utap7 mtu 1500"),
                   0, "root pre-creates utap7 in pod-a");
        snprintf(cmd, sizeof(cmd), "%s --vm vm-a -- ip tuntap add dev utap7 mode tap", dr());
        st = in_pod(h, POD_A, "pod-a", &out, cmd);
        /* ip asks IFF_TUN_EXCL: the kernel's answer for an existing device is EBUSY */
        tap_ok(st != 0 && out && strstr(out, "Device or resource busy"),
               "TUNSETIFF on root's existing utap7 is left to the kernel: EBUSY (%s)", out ? out : "");
        free(out);
        tap_ok(!link_has("pod-a", "utap7", "\"user\""), "utap7 is still root's (no owner set)");

        /* multi-queue: two queues of mq0, held by one process */
        char *const mq[] = { "/bin/sh", "-c",
                             "ip tuntap add dev mq0 mode tap multi_queue && echo MQ && exec sleep 30", NULL };
        pid_t d2 = spawn_dr(h, POD_A, "pod-a", "/run/delegate-test/dr-mq.log", "vm-a", mq);
        tap_ok(harness_file_contains("/run/delegate-test/dr-mq.log", "MQ", 5000), "ip tuntap add multi_queue works");
        tap_ok(link_has("pod-a", "mq0", "\"multi_queue\""), "mq0 is a multi-queue TAP");
        stop_pid(d2);

        /* a third queue of the session's own device, beyond max_queues 2: refused, not left to the
         * kernel (which would let the owning uid attach it) */
        snprintf(cmd, sizeof(cmd), "%s --vm vm-a -- %s mq mq1 3", dr(), caller_prog());
        st = in_pod(h, POD_A, "pod-a", &out, cmd);
        tap_ok(st == 0 && out && strstr(out, "queues=2") && strstr(out, "Operation not permitted"),
               "mq1: 2 queues, the third refused with EPERM (%s)", out ? out : "");
        free(out);

        /* transient devices (gone with their fd) free the rule's max_devices (4) again */
        snprintf(cmd, sizeof(cmd), "%s --vm vm-a -- %s tun 6", dr(), caller_prog());
        st = in_pod(h, POD_A, "pod-a", &out, cmd);
        tap_ok(st == 0 && out && strstr(out, "created=6"),
               "6 TAP devices made and closed one after another, with max_devices 4 (%s)", out ? out : "");
        free(out);

        /* the session ends: its devices go, root's stays */
        stop_pid(d);
        bool gone = false;
        for (int i = 0; i < 100 && !gone; i++, usleep(50000))
                gone = !link_exists("pod-a", "utap0") && !link_exists("pod-a", "mq0");
        tap_ok(gone, "when delegate-run's session ends, utap0 and mq0 are removed");
        tap_ok(link_exists("pod-a", "utap7"), "root's utap7 stays");
        harness_sh(NULL, "ip -n pod-a link del utap7");
        pod_a_end(pause);
}

/* The "user" link_has() shows for a TAP owned by @uid. */
static void user_needle(uid_t uid, char *buf, size_t size) {
        struct passwd *pw = getpwuid(uid);
        if (pw)
                snprintf(buf, size, "\"user\":\"%s\"", pw->pw_name);
        else
                snprintf(buf, size, "\"user\":%u", (unsigned) uid);
}

/*
 * One session, two rounds of a 2-queue TAP @dev (utap*: 1 queue, not multi-queue): the first round's queues
 * closed (the transient device vanishes, as when libvirt destroys a domain), the second round's asked at once
 * (@between NULL), or once the device vanished and root ran @between.  Returns what the second round printed
 * ("second=K"), or "" (free()d by the caller); delegate-run, holding the second round's queues, in *@ret_pid.
 */
static char *tap_twice(harness *h, const char *vm, const char *dev, const char *between, pid_t *ret_pid) {
        bool vanished = false, single = strncmp(dev, "utap", 4) == 0; /* single-queue: the rule's utap%d */
        char go[128], log[128], line[4096], *out = NULL;
        snprintf(go, sizeof(go), "/run/delegate-test/go-%s", dev);
        snprintf(log, sizeof(log), "/run/delegate-test/dr-again-%s.log", dev);
        if (!between) /* at once */
                harness_write_file(go, "");
        char *const prog[] = { (char *) caller_prog(), "mq-again", (char *) dev, go, single ? "single" : NULL, NULL };
        pid_t d = *ret_pid = spawn_dr(h, POD_A, "pod-a", log, vm, prog);
        bool first = harness_file_contains(log, single ? "first=1" : "first=2", 5000);
        if (!tap_ok(first, "%s: the first round gets its queue(s) under delegate-run (--vm %s)", dev, vm))
                harness_dump_file(log, "delegate-run");
        tap_ok(harness_file_contains(log, "gone=1", 5000), "%s: gone once its queues closed (no helper holds one)", dev);
        for (int i = 0; between && i < 100 && !vanished; i++, usleep(50000))
                vanished = !link_exists("pod-a", dev);
        if (between && tap_ok(vanished, "%s: its queues closed, the transient device vanished", dev))
                tap_is_int(harness_sh(NULL, "%s", between), 0, "meanwhile root: %s", between);
        harness_write_file(go, "");
        for (int i = 0; i < 100; i++, usleep(50000)) {
                if (!harness_file_contains(log, "second=", 50))
                        continue;
                harness_read_file(log, line, sizeof(line)); /* "first=2\n...second=K" */
                const char *p = strstr(line, "second=");
                out = strndup(p ? p : "", p ? strcspn(p, "\n") : 0);
                break;
        }
        if (!out) {
                kill(d, SIGTERM);
                harness_dump_file(log, "delegate-run");
                out = strdup("");
        }
        return out;
}

/*
 * The same TAP made again at once as the first closes (libvirt's domain destroyed and started again): a new
 * creation, owned and counted, not another queue of the record; a device root made with that name meanwhile
 * is never attached to for the caller.  The closer's releases held 200 ms (a test build's hook): the broker's
 * copy of a queue it checked is closed at once, or the second round finds the first device (EBUSY, or the
 * kernel's EPERM).
 */
static void unotify_tap_again(harness *h) {
        char owner[96], root[96];
        pid_t d;
        tap_is_int(harness_restart_broker_env(h, "DELEGATE_TEST_CLOSER_DELAY_MS", "200"), 0, "the broker restarts");
        use_policy(h);
        pid_t pause = pod_a_for_taps(h);
        user_needle(UID, owner, sizeof(owner));
        user_needle(0, root, sizeof(root));

        /* max_queues 2: the second round's first queue is not "queue 3" of the vanished device */
        char *out = tap_twice(h, "vm-a", "mq0", NULL, &d);
        tap_ok(streq(out, "second=2"), "mq0 made again under the same session: 2 queues (%s)", out);
        free(out);
        tap_ok(link_has("pod-a", "mq0", "\"numqueues\":2") && link_has("pod-a", "mq0", "\"multi_queue\":true"),
               "the kernel shows mq0 multi-queue with 2 queues attached");
        tap_ok(link_has("pod-a", "mq0", owner), "owned by the pod's uid (%s)", owner);
        tap_ok(harness_log_contains("'mq0'") && harness_log_contains("vanished with its queues: forgotten"),
               "the broker says it forgot the vanished mq0");
        stop_pid(d);

        /* a single-queue TAP made again: not left to the kernel (which would refuse to create it) */
        out = tap_twice(h, "vm-a", "utap5", NULL, &d);
        tap_ok(streq(out, "second=1"), "utap5 (single queue) made again under the same session (%s)", out);
        free(out);
        tap_ok(link_has("pod-a", "utap5", "\"multi_queue\":false") && link_has("pod-a", "utap5", owner),
               "the kernel shows utap5, a single-queue TAP owned by the pod's uid");
        stop_pid(d);

        /* max_queues 4: room for "queues 3 and 4" of the vanished record; still a creation, owned */
        out = tap_twice(h, "vm-c", "mqr1", NULL, &d);
        tap_ok(streq(out, "second=2"), "mqr1 (max_queues 4) made again: 2 queues (%s)", out);
        free(out);
        tap_ok(link_has("pod-a", "mqr1", "\"numqueues\":2"), "the kernel shows 2 queues of mqr1");
        tap_ok(link_has("pod-a", "mqr1", owner), "mqr1 is owned by the pod's uid, not an unowned device root made");
        stop_pid(d);

        /* hostile: root takes the name between the rounds (its device, owned by root) */
        out = tap_twice(h, "vm-c", "mqr0", "ip -n pod-a tuntap add dev mqr0 mode tap multi_queue user 0", &d);
        tap_ok(streq(out, "second=0"), "root's mqr0 is not attached: the kernel refuses the pod uid (%s)", out);
        free(out);
        tap_ok(link_has("pod-a", "mqr0", "\"numqueues\":0"), "root's mqr0 has no queue attached");
        tap_ok(link_has("pod-a", "mqr0", root), "and is still root's");
        stop_pid(d);
        harness_sh(NULL, "ip -n pod-a link del mqr0");

        pod_a_end(pause);
}

/*
 * --max-tap is applied alike to tap.create over the socket and to an
 * intercepted TUNSETIFF: the session's devices that vanished are pruned
 * first and free it; those still there fill it, whatever the rule's
 * max_devices (4) says.
 */
static void unotify_max_tap(harness *h) {
        char *out = NULL, cmd[512];
        write_policy();
        harness_stop_broker(h);
        const char *const max1[] = { "--max-tap", "1", NULL };
        tap_is_int(harness_start_broker_args(h, max1), 0, "the broker runs with --max-tap 1 (the rules allow 4)");
        pid_t pause = pod_a_for_taps(h);

        /* tap.create over the socket */
        tclient t;
        tap_is_int(tclient_start_netns(h, &t, POD_A, "pod-a", UID, UID, "vm-t"), 0, "a socket client in pod-a");
        char *r = tclient_call(&t, "call tap.create {\"name\":\"stap%%d\"}");
        int64_t slot = jint(r, "slot");
        tap_is_str(jstr(r, "result.name"), "stap0", "tap.create: stap0 (%s)", r);
        free(r);
        r = tclient_call(&t, "call tap.create {\"name\":\"stap%%d\"}");
        tap_is_int(jint(r, "errno"), EDQUOT, "tap.create while stap0 is there: over --max-tap 1, EDQUOT (%s)", r);
        tap_has_str(jstr(r, "message"), "(--max-tap 1)", "naming the limit");
        free(r);
        tap_ok(!link_exists("pod-a", "stap1"), "kernel: no stap1");
        free(tclient_call(&t, "close %" PRIi64, slot));
        tap_ok(WAIT_FOR(!link_exists("pod-a", "stap0")), "its fds closed, the transient stap0 vanished");
        r = tclient_call(&t, "call tap.create {\"name\":\"stap%%d\"}");
        tap_is_int(jint(r, "ok"), 1, "tap.create once stap0 vanished: the vanished device is pruned first (%s)", r);
        tap_ok(link_exists("pod-a", jstr(r, "result.name")), "kernel: %s is there", jstr(r, "result.name"));
        free(r);
        tclient_stop(&t);

        /* an intercepted TUNSETIFF (ip tuntap), the same way */
        snprintf(cmd, sizeof(cmd),
                 "%s --vm vm-a -- /bin/sh -c 'ip tuntap add dev utap0 mode tap; echo A=$?; "
                 "ip tuntap add dev utap1 mode tap; echo B=$?; ip tuntap del dev utap0 mode tap; echo C=$?; "
                 "ip tuntap add dev utap1 mode tap; echo D=$?; ip -j -d link show dev utap1'",
                 dr());
        int st = in_pod(h, POD_A, "pod-a", &out, cmd);
        tap_ok(st == 0 && out && strstr(out, "A=0"), "TUNSETIFF: utap0 is created (%s)", out ? out : "");
        tap_ok(out && strstr(out, "Operation not permitted") && strstr(out, "B=1"),
               "TUNSETIFF of utap1 while utap0 is there: over --max-tap 1, left to the kernel: EPERM");
        tap_ok(out && strstr(out, "C=0"), "utap0 deleted (its persistence dropped by its owner)");
        tap_ok(out && strstr(out, "D=0") && strstr(out, "\"ifname\":\"utap1\""),
               "TUNSETIFF of utap1 once utap0 vanished: created, the vanished device pruned first");
        free(out);
        tap_ok(harness_log_contains("rule=seccomp-clamp: target refused: tap.create: the session holds 1 device(s) "
                                    "(TAP devices and bridges), the most any session may (--max-tap 1)"),
               "the audit names --max-tap for the refused TUNSETIFF, as for tap.create");
        tap_ok(WAIT_FOR(!link_exists("pod-a", "utap1") && !link_exists("pod-a", "stap1")),
               "the sessions ended: their devices are removed");
        pod_a_end(pause);
}

/* --- hostile: memory changed after the notification --- */

static void unotify_toctou(harness *h) {
        char *out = NULL, cmd[512];
        use_policy(h);
        /* OK: H/4 (within the rule's H/2), BAD: 3H/4 (within H: the kernel alone would allow it) */
        snprintf(cmd, sizeof(cmd), "%s --vm vm-a -- %s race-memlock %llu %llu %llu 300", dr(), caller_prog(),
                 H / 4, 3 * H / 4, H);
        int st = in_pod(h, POD_A, NULL, &out, cmd);
        tap_is_int(st, 0, "the racing caller ran (%s)", out ? out : "");
        int ok = -1, denied = -1, bad = -1;
        if (out)
                sscanf(out, "ok=%d denied=%d bad=%d", &ok, &denied, &bad);
        tap_diag("setrlimit calls: %d allowed, %d denied", ok, denied);
        tap_ok(ok + denied == 300, "every call was answered");
        tap_ok(ok > 0, "calls that read the allowed value were carried out (%d)", ok);
        tap_is_int(bad, 0, "the kernel never held the over-max 3H/4: the broker acted on what it read and checked");
        free(out);
}

/* --- hostile: a flood while another client's round trip is measured --- */

static void unotify_flood(harness *h) {
        tclient b;
        char cmd[512];
        use_policy(h);
        if (tclient_start(h, &b, POD_B, 1001, 1001, "vm-b") < 0)
                tap_ok(0, "start another pod's client");
        snprintf(cmd, sizeof(cmd), "%s", caller_prog());
        char *const flood[] = { cmd, "flood", "8", "4", NULL };
        pid_t d = spawn_dr(h, POD_A, NULL, "/run/delegate-test/dr-flood.log", "vm-a", flood);
        usleep(300000);
        int served = 0;
        double worst = 0;
        for (int i = 0; i < 50; i++) {
                struct timespec t0, t1;
                clock_gettime(CLOCK_MONOTONIC, &t0);
                char *r = tclient_call(&b, "ping");
                clock_gettime(CLOCK_MONOTONIC, &t1);
                served += jint(r, "ok") == 1;
                free(r);
                double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
                if (ms > worst)
                        worst = ms;
                usleep(20000);
        }
        tap_is_int(served, 50, "all 50 pings of pod-b's client were answered during the flood");
        tap_diag("worst ping round trip during the flood: %.2f ms (measured, not asserted)", worst);
        tap_ok(harness_wait_exit(d, 20000) >= 0, "the flooding program ends");
        tap_ok(harness_file_contains("/run/delegate-test/dr-flood.log", "calls=", 100), "and reports its calls");
        harness_dump_file("/run/delegate-test/dr-flood.log", "flood");

        /* the session's process dies while its program's calls are in progress */
        d = spawn_dr(h, POD_A, NULL, "/run/delegate-test/dr-flood2.log", "vm-a", flood);
        pid_t prog = child_running(d, "unotify-caller");
        usleep(500000);
        kill(d, SIGKILL);
        waitpid(d, NULL, 0);
        tap_ok(harness_log_contains("session") && prog > 0, "delegate-run killed during a flood (program pid %d)",
               (int) prog);
        char *r = tclient_call(&b, "ping");
        tap_is_int(jint(r, "ok"), 1, "the broker still serves pod-b");
        free(r);
        tap_ok(prog > 0 && gone(prog, 20000), "the orphaned program ends (its calls fail alone)");
        tclient_stop(&b);
}

/* --- the listener is handed over again after a broker restart --- */

static void unotify_resume(harness *h) {
        use_policy(h);
        need("chrt");
        char *const loop[] = { "/bin/sh", "-c",
                               "while ! [ -e /run/delegate-test/go ]; do sleep 0.1; done; "
                               "exec prlimit --rttime=100000:100000 chrt -f 3 sleep 30",
                               NULL };
        pid_t d = spawn_dr(h, POD_A, NULL, "/run/delegate-test/dr-resume.log", "vm-a", loop);
        tap_ok(harness_log_contains("seccomp listener attached"), "delegate-run attached its listener");
        int st = harness_stop_broker(h);
        tap_ok(WIFEXITED(st), "the broker stops");
        tap_is_int(harness_start_broker(h), 0, "a new broker starts");
        tap_ok(harness_file_contains("/run/delegate-test/dr-resume.log", "listener handed over again", 10000),
               "delegate-run hands the listener over again");
        harness_write_file("/run/delegate-test/go", "");
        pid_t p = child_running(d, "sleep");
        tap_ok(p > 0, "the program goes on (pid %d)", (int) p);
        tap_is_int(harness_sched_getattr(p).sched_policy, SCHED_FIFO, "its chrt after the restart was served: FIFO");
        stop_pid(d);
}

/*
 * A TAP record's queue count survives a broker restart: mq0 made with 2
 * queues (the rule's max_queues), the broker restarted, a third queue is
 * still one too many.
 */
static void unotify_tap_restart(harness *h) {
        const char *log = "/run/delegate-test/dr-more.log", *go = "/run/delegate-test/go-more";
        use_policy(h);
        pid_t pause = pod_a_for_taps(h);
        char *const prog[] = { (char *) caller_prog(), "mq-more", "mq0", (char *) go, NULL };
        pid_t d = spawn_dr(h, POD_A, "pod-a", log, "vm-a", prog);
        bool two = harness_file_contains(log, "queues=2", 5000);
        if (!two)
                harness_dump_file(log, "delegate-run");
        tap_ok(two, "mq0 made with 2 queues under delegate-run (max_queues 2)");
        tap_ok(link_has("pod-a", "mq0", "\"numqueues\":2"), "the kernel shows 2 queues of mq0");
        int st = harness_stop_broker(h);
        tap_ok(WIFEXITED(st), "the broker stops");
        tap_is_int(harness_start_broker(h), 0, "a new broker starts");
        tap_ok(harness_file_contains(log, "listener handed over again", 10000),
               "delegate-run hands the listener over again");
        harness_write_file(go, "");
        bool more = harness_file_contains(log, "more=", 5000);
        harness_dump_file(log, "delegate-run");
        tap_ok(more && harness_file_contains(log, "more=0 Operation not permitted", 100),
               "a third queue after the restart: over max_queues 2, EPERM");
        tap_ok(link_has("pod-a", "mq0", "\"numqueues\":2"), "the kernel still shows 2 queues of mq0");
        tap_ok(harness_log_contains("3 queues exceed the rule's tap max_queues 2"),
               "the audit counts the restored record's 2 queues and this one");
        stop_pid(d);
        pod_a_end(pause);
}

/* --- the shipped unit without its unotify.conf drop-in: @debug calls fail with EPERM --- */

static void unotify_unit_filter(harness *h) {
        char real[4096], cmd[512], *out = NULL;
        use_policy(h);
        snprintf(real, sizeof(real), "%s", getenv("DELEGATE_BROKER"));
        harness_stop_broker(h);
        setenv("DENY_CALLS_EXEC", real, 1);
        setenv("DENY_CALLS", "process_vm_readv process_vm_writev pidfd_getfd", 1);
        setenv("DELEGATE_BROKER", getenv("DELEGATE_DENY_CALLS"), 1);
        tap_is_int(harness_start_broker(h), 0, "the broker runs with process_vm_readv/writev and pidfd_getfd denied");
        setenv("DELEGATE_BROKER", real, 1);
        snprintf(cmd, sizeof(cmd), "%s --vm vm-a -- true", dr());
        int st = in_pod(h, POD_A, NULL, &out, cmd);
        tap_is_int(st, 125, "delegate-run fails before running the program (%s)", out ? out : "");
        tap_ok(out && strstr(out, "may not call process_vm_readv") && strstr(out, "unotify.conf"),
               "the refusal names the missing call and the drop-in");
        free(out);
}

static const scenario scenarios[] = {
        { "unotify-prlimit", policy_none, unotify_prlimit },
        { "unotify-chrt", policy_none, unotify_chrt },
        { "unotify-pidns", policy_none, unotify_pidns },
        { "unotify-tuntap", policy_none, unotify_tuntap },
        { "unotify-tap-again", policy_none, unotify_tap_again },
        { "unotify-max-tap", policy_none, unotify_max_tap },
        { "unotify-toctou", policy_none, unotify_toctou },
        { "unotify-flood", policy_none, unotify_flood },
        { "unotify-resume", policy_none, unotify_resume },
        { "unotify-tap-restart", policy_none, unotify_tap_restart },
        { "unotify-unit-filter", policy_none, unotify_unit_filter },
};

int main(int argc, char **argv) {
        return harness_main(argc, argv, scenarios, sizeof(scenarios) / sizeof(scenarios[0]));
}
