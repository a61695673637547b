/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-unotify - unmodified programs under delegate-run(1): Debian's
 * prlimit and chrt run as a pod uid with their privileged syscalls
 * delegated through seccomp user notification.  Each allowed and denied
 * case is checked in the kernel (/proc/PID/limits, sched_getattr(2) of the
 * thread), and each is also run without delegate-run to show the kernel
 * refuses it there.  Hostile callers: memory changed after the
 * notification, a tid outside the pod, a flood of notifications while
 * another client's ping round trip is measured; the listener handed over
 * again after a broker restart; the shipped unit without its drop-in.  TAP
 * devices (ip tuntap, ifconfig) are test-unotify-tap's.
 */
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "unotify-scenario.h"

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
        { "unotify-toctou", policy_none, unotify_toctou },
        { "unotify-flood", policy_none, unotify_flood },
        { "unotify-resume", policy_none, unotify_resume },
        { "unotify-unit-filter", policy_none, unotify_unit_filter },
};

int main(int argc, char **argv) {
        return harness_main(argc, argv, scenarios, sizeof(scenarios) / sizeof(scenarios[0]));
}
