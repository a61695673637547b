/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-launcher - delegate-launcher runs a real QEMU VM (TCG: the pod's uid
 * cannot open /dev/kvm here) from an unprivileged pod through the broker.
 * Assertions read the kernel: QEMU's limits, each thread's cgroup and
 * scheduling, the TAP device through netlink and QEMU's fds, the launcher's
 * seccomp and capability state, and what is left after shutdown.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "launcher-scenario.h"

/*
 * The launcher's timing line names each step apart: the delegated ones (the launcher's own start, the
 * session, TAPs, QEMU's fork, memlock, housekeeping, realtime) and QEMU's own answers on QMP (query-cpus-fast,
 * query-status, cont), whose sums are the two totals it gives; bench/sandbox.sh reads it this way.
 */
static double absd(double x) {
        return x < 0 ? -x : x;
}

static void check_timing_line(void) {
        static char log[65536];
        harness_read_file(LOG, log, sizeof(log));
        const char *line = strstr(log, "guest running ");
        double total = -1, after_exec = -1, delegated = -1, start = -1, session = -1, taps = -1, qfork = -1,
               memlock = -1, hk = -1, rt = -1, answers = -1, cpus = -1, status = -1, cont = -1;
        int n = line ? sscanf(line, "guest running %lf ms after the launcher started, %lf ms after QEMU's exec; "
                              "the delegated steps took %lf ms (start %lf ms, session %lf ms, TAPs %lf ms, fork %lf "
                              "ms, memlock %lf ms before exec; housekeeping %lf ms, realtime %lf ms after QMP was "
                              "ready); QEMU's QMP answers took %lf ms (query-cpus-fast %lf ms, query-status %lf "
                              "ms, cont %lf ms)",
                              &total, &after_exec, &delegated, &start, &session, &taps, &qfork, &memlock, &hk, &rt,
                              &answers, &cpus, &status, &cont) : 0;
        tap_is_int(n, 14, "the timing line gives each step: the launcher's start, the session, TAPs, fork, "
                   "memlock, housekeeping, realtime, query-cpus-fast, query-status, cont");
        /* each figure is rounded to 0.1 ms: a sum of k of them is within k * 0.05 of its total (and 0.01 more
         * for the sum's own binary rounding) */
        tap_ok(n == 14 && absd(delegated - (start + session + taps + qfork + memlock + hk + rt)) <= 0.41,
               "the delegated steps' total (%.1f ms) is the sum of its seven steps", delegated);
        tap_ok(n == 14 && absd(answers - (cpus + status + cont)) <= 0.21,
               "QEMU's QMP answers' total (%.1f ms) is the sum of its three", answers);
        tap_ok(n == 14 && after_exec + 0.35 >= hk + rt + answers &&
                       total + 0.6 >= after_exec + start + session + taps + qfork + memlock,
               "the steps after exec fit in the time after exec (%.1f ms), and every step in the total (%.1f ms)",
               after_exec, total);
}

static void launcher_vm(harness *h) {
        char buf[8192];
        uint64_t want_memlock = harness_hard / 2;
        prepare(h, want_memlock);
        pid_t l = start_launcher(h);
        tap_ok(l > 0, "delegate-launcher started as uid 1000 in pod-a");
        bool running = harness_file_contains(LOG, "guest running", 60000);
        tap_ok(running, "the launcher reports the guest running");
        if (!running) {
                dump_launcher_log();
                kill(l, SIGKILL);
                waitpid(l, NULL, 0);
                return;
        }
        pid_t q = qemu_pid_from_log();
        tap_ok(q > 0, "QEMU's pid is in the launcher's log (%d)", (int) q);
        check_timing_line();

        /* the launcher: no capabilities, no_new_privs, seccomp filter */
        tap_is_str(status_field(l, "CapEff"), "0000000000000000", "launcher: no effective capabilities");
        tap_is_str(status_field(l, "CapPrm"), "0000000000000000", "launcher: no permitted capabilities");
        tap_is_str(status_field(l, "CapAmb"), "0000000000000000", "launcher: no ambient capabilities");
        tap_is_str(status_field(l, "NoNewPrivs"), "1", "launcher: no_new_privs");
        /* the filter goes on after the line "guest running" (launcher-main.c): looked for until it is there */
        for (int i = 0; i < 500 && strcmp(status_field(l, "Seccomp"), "2") != 0; i++)
                usleep(10000);
        tap_is_str(status_field(l, "Seccomp"), "2", "launcher: confined by a seccomp filter");
        tap_is_str(status_field(q, "NoNewPrivs"), "1", "QEMU inherits no_new_privs");
        tap_is_str(status_field(q, "Uid"), "1000\t1000\t1000\t1000", "QEMU runs as the pod's uid");

        /* memlock, before QEMU ran */
        uint64_t soft = 0, hard = 0;
        tap_is_int(read_memlock(q, &soft, &hard), 0, "read QEMU's limits");
        tap_is_int(soft, want_memlock, "kernel: QEMU's soft RLIMIT_MEMLOCK is what the spec asked");
        char path[96];
        snprintf(path, sizeof(path), "/proc/%d/limits", (int) q);
        harness_read_file(path, buf, sizeof(buf));
        tap_has_str(buf, "Max realtime timeout      30000000             30000000             us",
                    "kernel: QEMU runs under RLIMIT_RTTIME 30 s (TCG vCPUs may spin)");

        check_threads(q, "");

        /* the TAP device, in the pod's netns, held by QEMU */
        char *out = NULL;
        tap_is_int(harness_sh(&out, "ip -n pod-a -d -j link show vnet0"), 0, "vnet0 exists in pod-a's netns");
        tap_has_str(out, "\"master\":\"br0\"", "kernel: vnet0 is on br0");
        tap_has_str(out, "\"mtu\":1400", "kernel: MTU 1400");
        tap_has_str(out, "\"address\":\"52:54:00:12:34:56\"", "kernel: the spec's MAC");
        tap_has_str(out, "\"multi_queue\"", "kernel: multi-queue");
        free(out);
        tap_ok(harness_sh(NULL, "ip link show vnet0 >/dev/null 2>&1") != 0, "vnet0 is not in the broker's netns");
        int tapfds = harness_tap_fds(q, "vnet0");
        tap_is_int(tapfds, 2, "QEMU holds both queues of vnet0");

        tap_ok(harness_file_contains(VMDIR "/firmware.log", "SeaBIOS", 20000), "the guest's firmware ran (SeaBIOS log)");

        /* SIGTERM: system_powerdown, then quit after the timeout; exit with QEMU's status */
        kill(l, SIGTERM);
        int st = harness_wait_exit(l, 30000);
        /* QEMU quits (0), unless the kernel's RLIMIT_RTTIME watchdog killed a realtime vCPU
         * that spun under TCG (137): either way the launcher exits with QEMU's status */
        char exited[64];
        snprintf(exited, sizeof(exited), "QEMU exited (status %d)", st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1);
        tap_ok(st >= 0 && WIFEXITED(st) && (WEXITSTATUS(st) == 0 || WEXITSTATUS(st) == 137),
               "the launcher exits after SIGTERM (0x%x)", st);
        tap_ok(harness_file_contains(LOG, exited, 0), "with QEMU's own status (%s)", exited);
        tap_ok(harness_file_contains(LOG, "system_powerdown", 0), "it asked the guest to power down first");
        tap_ok(kill(q, 0) < 0 && errno == ESRCH, "QEMU is gone");

        /* the session ended: the broker removed what it created */
        harness_cgroup_path(h, POD_A "/housekeeping", path, sizeof(path));
        bool gone = false;
        for (int i = 0; i < 100 && !gone; i++, usleep(50000))
                gone = access(path, F_OK) < 0;
        tap_ok(gone, "the housekeeping cgroup is removed");
        gone = false;
        for (int i = 0; i < 100 && !gone; i++, usleep(50000))
                gone = harness_sh(NULL, "ip -n pod-a link show vnet0 >/dev/null 2>&1") != 0;
        tap_ok(gone, "vnet0 is removed");
        if (tap_failed_)
                dump_launcher_log();
}

static void launcher_denied(harness *h) {
        prepare(h, harness_hard / 4);
        pid_t l = start_launcher(h);
        int st = harness_wait_exit(l, 60000);
        tap_ok(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 1, "without realtime in the policy the launcher fails (0x%x)",
               st);
        tap_ok(harness_file_contains(LOG, "sched.set failed", 0), "saying sched.set failed");
        tap_ok(harness_file_contains(LOG, "rule 'no-realtime' has no section for sched.set", 0),
               "and which rule decided");
        pid_t q = qemu_pid_from_log();
        tap_ok(q > 0 && kill(q, 0) < 0 && errno == ESRCH, "QEMU was not left running");
        char procs[512], path[256];
        harness_cgroup_path(h, POD_A "/cgroup.procs", path, sizeof(path));
        harness_read_file(path, procs, sizeof(procs));
        tap_is_str(procs, "", "no process is left in the pod");
        if (tap_failed_)
                dump_launcher_log();
}

/* A launcher that fails right after it starts, restarted by its runtime at
 * once (a crash loop): from the third failed session in a row the broker
 * makes the next one wait, and the launcher waits as told. */
static void launcher_crash_loop(harness *h) {
        prepare(h, harness_hard / 4);
        for (int i = 1; i <= 3; i++) {
                char log[96];
                snprintf(log, sizeof(log), VMDIR "/run%d.log", i);
                pid_t l = spawn_launcher(h, POD_A, "pod-a", VMDIR "/vm.json", log, NULL);
                int st = harness_wait_exit(l, 60000);
                tap_ok(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 1, "run %d fails at sched.set (0x%x)", i, st);
                tap_ok(!harness_file_contains(log, "the broker asks to wait", 0), "run %d did not have to wait", i);
        }
        tap_ok(harness_log_contains("sessions in a row failed within 10 s"), "the broker notices the crash loop");
        pid_t l = spawn_launcher(h, POD_A, "pod-a", VMDIR "/vm.json", VMDIR "/run4.log", NULL);
        int st = harness_wait_exit(l, 60000);
        tap_ok(harness_file_contains(VMDIR "/run4.log", "the broker asks to wait", 0),
               "run 4 is told to wait (back-off)");
        tap_ok(harness_file_contains(VMDIR "/run4.log", "back-off: retry in", 0), "and why");
        tap_ok(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 1, "then it runs, and fails as before (0x%x)", st);
        tap_ok(harness_file_contains(VMDIR "/run4.log", "sched.set failed", 0), "at sched.set");
        if (tap_failed_)
                harness_dump_file(VMDIR "/run4.log", NULL);
}

static void launcher_bad_spec(harness *h) {
        char *argv[] = { (char *) getenv("DELEGATE_LAUNCHER"), "--spec", VMDIR "/vm.json", NULL };
        mkdir(VMDIR, 0755);
        write_file(VMDIR "/vm.json", "{ \"name\": \"vm-a\",\n  \"memory\": \"64M\",\n  \"vcpus\": 0 }\n");
        pid_t l = harness_spawn_in_pod(h, POD_A, NULL, 1000, 1000, LOG, argv);
        int st = harness_wait_exit(l, 10000);
        tap_ok(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 1, "a bad spec makes the launcher exit 1");
        tap_ok(harness_file_contains(LOG, VMDIR "/vm.json:3:12: \"vcpus\" must be an integer from 1 to 256", 0),
               "with FILE:LINE:COLUMN and what is allowed");
        /* what cannot work is refused before anything starts: QEMU cannot lock 64 MiB within 32 MiB */
        write_file(VMDIR "/vm.json", "{ \"name\": \"vm-a\", \"memory\": \"64M\",\n"
                                     "  \"mem_lock\": true, \"memlock\": \"32M\" }\n");
        l = harness_spawn_in_pod(h, POD_A, NULL, 1000, 1000, LOG, argv);
        st = harness_wait_exit(l, 10000);
        tap_ok(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 1, "memlock below guest RAM with mem_lock: exit 1");
        tap_ok(harness_file_contains(LOG, VMDIR "/vm.json:2:32: \"memlock\" (32 MiB) is smaller than guest RAM "
                                          "(\"memory\": 64 MiB) while QEMU locks its memory", 0),
               "saying memlock is smaller than guest RAM, where");
        tap_ok(!harness_file_contains(LOG, "QEMU pid", 0), "QEMU was never started");
        /* realtime "dedicated" without its CPUs */
        write_file(VMDIR "/vm.json", "{ \"name\": \"vm-a\", \"memory\": \"64M\", \"vcpus\": 2,\n"
                                     "  \"realtime\": { \"vcpus\": \"1\", \"safety\": \"dedicated\" } }\n");
        l = harness_spawn_in_pod(h, POD_A, NULL, 1000, 1000, LOG, argv);
        st = harness_wait_exit(l, 10000);
        tap_ok(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 1, "safety dedicated without cpus: exit 1");
        tap_ok(harness_file_contains(LOG, "\"dedicated\" needs \"cpus\"", 0), "saying it needs cpus");
        if (tap_failed_)
                dump_launcher_log();
}

/* QEMU exits before it is resumed: the launcher says how it ended, not that QMP closed */
static void launcher_qemu_early_exit(harness *h) {
        char *argv[] = { (char *) getenv("DELEGATE_LAUNCHER"), "--spec", VMDIR "/vm.json", NULL };
        vm_dir();
        write_file(VMDIR "/vm.json", "{ \"name\": \"vm-a\", \"memory\": \"64M\", \"accel\": \"tcg\",\n"
                                     "  \"extra_args\": [ \"-kernel\", \"" VMDIR "/no-such-kernel\" ] }\n");
        pid_t l = harness_spawn_in_pod(h, POD_A, NULL, 1000, 1000, LOG, argv);
        int st = harness_wait_exit(l, 60000);
        tap_ok(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 1, "the launcher exits 1 (0x%x)", st);
        tap_ok(harness_file_contains(LOG, "QEMU exited with status 1 before the guest was resumed", 0),
               "its error names QEMU's exit status");
        tap_ok(harness_file_contains(LOG, "its last words on stderr: qemu: could not open kernel file '"
                                          VMDIR "/no-such-kernel'", 0),
               "and QEMU's last words");
        tap_ok(!harness_file_contains(LOG, "closed QMP", 0), "not a closed QMP socket");
        /* QEMU's stderr still reaches the log as it was written */
        tap_ok(harness_file_contains(LOG, "qemu: could not open kernel file", 0), "QEMU's own line is in the log");
        pid_t q = qemu_pid_from_log();
        tap_ok(q > 0 && pid_gone(q), "QEMU is gone");
        if (tap_failed_)
                dump_launcher_log();
}

/* --- QEMU's and the launcher's end, the broker's clean-up, a restarted broker, migration --- */

/* The launcher is SIGKILLed: QEMU dies with it (PR_SET_PDEATHSIG), the broker
 * ends the session and removes the TAP device and, once QEMU's threads are
 * gone, the housekeeping cgroup. */
static void launcher_killed(harness *h) {
        prepare(h, harness_hard / 2);
        pid_t l, q = start_running(h, &l);
        if (q <= 0) {
                stop_launcher(l);
                return;
        }
        tap_ok(link_exists("pod-a", "vnet0"), "before: vnet0 exists in pod-a's netns");
        tap_ok(cgroup_exists(h, POD_A "/housekeeping"), "before: the housekeeping cgroup exists");

        kill(l, SIGKILL);
        int st = harness_wait_exit(l, 10000);
        tap_ok(st >= 0 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "the launcher died from SIGKILL (0x%x)", st);
        tap_ok(wait_gone(q, 10000), "QEMU does not outlive the launcher");
        nothing_left(h, "pod-a");
        tap_ok(harness_log_contains("removed cgroup"), "the broker says it removed the cgroup");
        tap_diag("QEMU's threads %s when the session ended",
                 harness_log_contains("removing it once empty") ? "were still in the cgroup" : "had left the cgroup");
        if (tap_failed_)
                dump_launcher_log();
}

/* QEMU ends on its own, the launcher asked nothing: "quit" on the test's own
 * QMP monitor, or SIGKILL.  The launcher exits with QEMU's status and
 * nothing is left behind. */
static void qemu_exits(harness *h, bool quit) {
        prepare_qmp(h, harness_hard / 2, VMDIR "/qmp.sock");
        pid_t l, q = start_running(h, &l);
        if (q <= 0) {
                stop_launcher(l);
                return;
        }
        int want;
        if (quit) {
                int fd = harness_qmp_open(VMDIR "/qmp.sock", 10000);
                tap_ok(fd >= 0, "the test reaches QEMU's second QMP monitor (%s)", fd < 0 ? strerror(-fd) : "ok");
                char *r = fd >= 0 ? harness_qmp(fd, "{\"execute\":\"quit\"}") : NULL;
                tap_ok(r && strstr(r, "\"return\""), "QEMU accepts quit");
                free(r);
                if (fd >= 0)
                        close(fd);
                want = 0;
        } else {
                tap_is_int(kill(q, SIGKILL), 0, "SIGKILL to QEMU");
                want = 128 + SIGKILL;
        }
        int st = harness_wait_exit(l, 30000);
        tap_ok(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == want, "the launcher exits with QEMU's status %d (0x%x)",
               want, st);
        char exited[64];
        snprintf(exited, sizeof(exited), "QEMU exited (status %d)", want);
        tap_ok(harness_file_contains(LOG, exited, 0), "its log says '%s'", exited);
        tap_ok(!harness_file_contains(LOG, "system_powerdown", 0), "the launcher did not start the shutdown");
        tap_ok(pid_gone(q), "QEMU is gone");
        nothing_left(h, "pod-a");
        if (tap_failed_)
                dump_launcher_log();
}

static void launcher_qemu_quit(harness *h) {
        qemu_exits(h, true);
}

static void launcher_qemu_killed(harness *h) {
        qemu_exits(h, false);
}

/* The launcher as PID 1 of its own pid namespace, as a container's entrypoint
 * is: QEMU's child must not take getppid() == 1 for its parent's death. */
static void launcher_pid1(harness *h) {
        prepare(h, harness_hard / 2);
        const char *exe = getenv("DELEGATE_LAUNCHER");
        char *argv[] = { "/usr/bin/unshare", "--pid", "--fork", "--kill-child", "/usr/bin/setpriv", "--reuid=1000",
                         "--regid=1000", "--clear-groups", (char *) exe, "--spec", VMDIR "/vm.json", NULL };
        pid_t u = harness_spawn_in_pod(h, POD_A, "pod-a", 0, 0, LOG, argv);
        tap_ok(u > 0, "unshare --pid started the launcher as PID 1 of a new pid namespace");
        bool running = harness_file_contains(LOG, "guest running", 60000);
        tap_ok(running, "the launcher as PID 1 reports the guest running");
        tap_ok(harness_file_contains(VMDIR "/firmware.log", "SeaBIOS", 20000), "QEMU ran the guest's firmware");
        tap_ok(link_exists("pod-a", "vnet0"), "vnet0 exists in pod-a's netns");
        /* setpriv's change of ids cleared --kill-child's death signal: kill the launcher itself */
        char path[64], kids[64] = "";
        snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int) u, (int) u);
        harness_read_line(path, kids, sizeof(kids));
        pid_t l = atoi(kids);
        tap_ok(l > 0 && kill(l, SIGKILL) == 0, "SIGKILL to the launcher (pid %d here)", (int) l);
        waitpid(u, NULL, 0);
        nothing_left(h, "pod-a");
        if (tap_failed_)
                dump_launcher_log();
}

/* "reconnected to the broker after N attempt(s); state.get: session S: T TAP device(s), C cgroup(s) created" */
static bool reconnect_summary(uint64_t *session, unsigned *taps, unsigned *cgroups) {
        FILE *f = fopen(LOG, "re");
        char line[1024];
        bool ok = false;
        while (f && !ok && fgets(line, sizeof(line), f)) {
                const char *k = strstr(line, "state.get: session ");
                ok = strstr(line, "reconnected to the broker") && k &&
                     sscanf(k, "state.get: session %" SCNu64 ": %u TAP device(s), %u cgroup(s) created", session, taps,
                            cgroups) == 3;
        }
        if (f)
                fclose(f);
        return ok;
}

/* How many sessions the broker's log shows pid @l opening. */
static int sessions_of(pid_t l) {
        static char log[1 << 16];
        char needle[64];
        int n = 0;
        harness_read_file(HARNESS_BROKER_LOG, log, sizeof(log));
        snprintf(needle, sizeof(needle), " opened: pid %d ", (int) l);
        for (const char *p = log; (p = strstr(p, needle)); p++)
                n++;
        return n;
}

static uint64_t first_session(void) {
        FILE *f = fopen(LOG, "re");
        char line[1024];
        uint64_t n = 0;
        while (f && !n && fgets(line, sizeof(line), f)) {
                const char *k = strstr(line, "]: session ");
                if (k && strstr(k, "with the broker"))
                        n = strtoull(k + 11, NULL, 10);
        }
        if (f)
                fclose(f);
        return n;
}

/*
 * The broker restarts while the VM runs.  The VM is unaffected (same QEMU,
 * running, vCPU 1 still SCHED_FIFO, threads still in housekeeping) and the
 * launcher notices, reconnects and re-reads state.get.  What the broker
 * undoes when it stops is asserted as the restarted broker reports it:
 * today a stopping broker ends every session and removes its TAP devices
 * (the restarted one knows nothing of them); a broker that keeps sessions
 * across restarts reports the device, and then it must still exist.
 */
static void launcher_broker_restart(harness *h) {
        prepare_qmp(h, harness_hard / 2, VMDIR "/qmp.sock");
        pid_t l, q = start_running(h, &l);
        if (q <= 0) {
                stop_launcher(l);
                return;
        }
        uint64_t s1 = first_session();
        tap_ok(s1 > 0, "the launcher's first session is %" PRIu64, s1);
        tap_ok(link_exists("pod-a", "vnet0"), "before: vnet0 exists in pod-a's netns");
        int fd = harness_qmp_open(VMDIR "/qmp.sock", 10000);
        tap_ok(fd >= 0, "the test reaches QEMU's second QMP monitor");

        int st = harness_stop_broker(h);
        tap_ok(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "the broker stops on SIGTERM (0x%x)", st);
        tap_ok(harness_file_contains(LOG, "the broker went away", 10000), "the launcher notices the broker went away");
        tap_is_int(harness_start_broker(h), 0, "the broker starts again");
        bool back = harness_file_contains(LOG, "reconnected to the broker", 30000);
        tap_ok(back, "the launcher reconnects to the restarted broker");

        tap_is_int(waitpid(l, NULL, WNOHANG), 0, "the launcher is still running");
        tap_ok(!pid_gone(q), "QEMU (pid %d) is still running", (int) q);
        tap_is_int(qemu_pid_from_log(), q, "and it is the same QEMU: the launcher started no other");
        char *status = fd >= 0 ? harness_qmp_status(fd) : strdup("(no QMP)");
        tap_is_str(status, "running", "QMP query-status: the guest runs");
        free(status);
        check_threads(q, "after the restart: ");

        uint64_t s2 = 0;
        unsigned taps = 99, cgroups = 99;
        tap_ok(reconnect_summary(&s2, &taps, &cgroups), "the launcher logs what state.get of its new session says");
        tap_ok(s2 == s1, "it resumed its session %" PRIu64 " (now %" PRIu64 ")", s1, s2);
        tap_ok(harness_file_contains(LOG, " resumed", 1000), "the launcher logs that it resumed");
        tap_ok(harness_log_contains("kept for the next broker") && harness_log_contains("resumed by pid"),
               "the broker's log: kept by the stopping broker, resumed with the next");
        tap_is_int(taps, 1, "the resumed session still holds its TAP device");
        tap_is_int(cgroups, 1, "and its created cgroup");
        tap_ok(link_exists("pod-a", "vnet0"), "vnet0 was never removed: the guest's NIC stayed connected");
        tap_ok(cgroup_exists(h, POD_A "/housekeeping"), "the housekeeping cgroup exists");

        char *r = fd >= 0 ? harness_qmp(fd, "{\"execute\":\"quit\"}") : NULL;
        free(r);
        if (fd >= 0)
                close(fd);
        st = harness_wait_exit(l, 30000);
        tap_ok(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "after quit the launcher exits 0 (0x%x)", st);
        tap_ok(wait_link_gone("pod-a", "vnet0"), "vnet0 is gone");
        tap_ok(wait_cgroup_gone(h, POD_A "/housekeeping"), "the housekeeping cgroup is removed");
        stop_launcher(l);
        if (tap_failed_)
                dump_launcher_log();
}

#define SRC_LOG VMDIR "/source.log"
#define SRC_QMP VMDIR "/source-qmp.sock"
#define DST_QMP VMDIR "/qmp.sock"
#define MIG_URI "unix:" VMDIR "/migrate.sock"

/* query-migrate on the source until it is done; its last answer (malloc'd). */
static char *wait_migration(int fd) {
        char *r = NULL;
        for (int i = 0; i < 600; i++, usleep(100000)) {
                free(r);
                r = harness_qmp(fd, "{\"execute\":\"query-migrate\"}");
                const char *st = r ? jstr(r, "return.status") : "(no answer)";
                if (!r || strcmp(st, "completed") == 0 || strcmp(st, "failed") == 0 || strcmp(st, "cancelled") == 0)
                        break;
        }
        return r;
}

static char *wait_status(int fd, const char *want) {
        char *st = NULL;
        for (int i = 0; i < 300; i++, usleep(100000)) {
                free(st);
                st = harness_qmp_status(fd);
                if (strcmp(st, want) == 0)
                        break;
        }
        return st;
}

/* The launcher's steps were logged in order, all before the guest ran. */
static void check_step_order(void) {
        static const char *const steps[] = {
                "TAP vnet0 for nic net0",
                "QEMU pid ",
                "memlock of QEMU",
                "housekeeping: ",
                "vCPU 1 (tid ",
                "every step done while QEMU is paused (query-status: inmigrate)",
                "incoming migration from " MIG_URI,
                "incoming migration completed: guest running",
        };
        int prev = 0;
        bool ordered = true;
        for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
                int n = log_line(LOG, steps[i]);
                if (n <= prev) {
                        tap_diag("'%s' is at line %d, after line %d", steps[i], n, prev);
                        ordered = false;
                }
                prev = n;
        }
        tap_ok(ordered, "the launcher's log: TAP, QEMU, memlock, housekeeping, SCHED_FIFO, paused (inmigrate), "
                        "migrate-incoming, guest running, in this order");
}

/* While the target waits for the migration stream, everything is in place in the kernel. */
static void check_target_paused(harness *h, pid_t q, int dst) {
        char *st = harness_qmp_status(dst);
        tap_is_str(st, "inmigrate", "target: QEMU waits for the migration stream (query-status)");
        free(st);
        uint64_t soft = 0, hard = 0;
        tap_is_int(read_memlock(q, &soft, &hard), 0, "read the target QEMU's limits");
        tap_is_int(soft, harness_hard / 2, "target, paused: kernel: QEMU's soft RLIMIT_MEMLOCK is the spec's");
        check_threads(q, "target, paused: ");
        tap_ok(link_exists("pod-a", "vnet0"), "target, paused: vnet0 exists in pod-a's netns");
        tap_ok(!harness_file_contains(VMDIR "/firmware.log", "SeaBIOS", 0),
               "target, paused: no guest code ran here yet (its firmware log is empty)");
        st = harness_qmp_status(dst);
        tap_is_str(st, "inmigrate", "target: still waiting after those checks");
        free(st);
        (void) h;
}

/*
 * A real live migration into a launcher started with --incoming: a source
 * VM (the same guest, started by a launcher in pod-b) runs the firmware and
 * is migrated with QMP "migrate" over a unix socket to the target, whose
 * TAP, memlock, housekeeping cgroup and SCHED_FIFO vCPU are all in place
 * while QEMU is still "inmigrate".  The guest then runs on the target.
 */
static void launcher_incoming(harness *h) {
        pod_net("pod-a");
        pod_net("pod-b");
        vm_dir();
        spec_opts src = { "vm-src", harness_hard / 2, false, VMDIR "/source-firmware.log", SRC_QMP };
        spec_opts dst = { "vm-a", harness_hard / 2, true, VMDIR "/firmware.log", DST_QMP };
        write_spec(VMDIR "/source.json", &src);
        write_spec(VMDIR "/vm.json", &dst);

        pid_t ls = spawn_launcher(h, "kubepods.slice/pod-b", "pod-b", VMDIR "/source.json", SRC_LOG, NULL), ld = -1;
        int sfd = -1, dfd = -1;
        bool ok = harness_file_contains(SRC_LOG, "guest running", 60000);
        tap_ok(ok, "source: a launcher in pod-b runs the guest");
        tap_ok(ok && harness_file_contains(VMDIR "/source-firmware.log", "SeaBIOS", 20000),
               "source: the guest's firmware ran there");
        sfd = harness_qmp_open(SRC_QMP, 10000);
        tap_ok(sfd >= 0, "source: the test reaches its QMP monitor");
        if (!ok || sfd < 0)
                goto out;

        ld = spawn_launcher(h, POD_A, "pod-a", VMDIR "/vm.json", LOG, MIG_URI);
        ok = harness_file_contains(LOG, "incoming migration from", 60000);
        tap_ok(ok, "target: the launcher in pod-a did every step and asked for migrate-incoming");
        pid_t q = qemu_pid_from_log();
        dfd = harness_qmp_open(DST_QMP, 10000);
        tap_ok(dfd >= 0, "target: the test reaches its QMP monitor");
        if (!ok || dfd < 0 || q <= 0)
                goto out;
        check_target_paused(h, q, dfd);

        char *r = harness_qmp(sfd, "{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"" MIG_URI "\"}}");
        tap_ok(r && strstr(r, "\"return\""), "source: QMP migrate to the target accepted");
        free(r);
        r = wait_migration(sfd);
        tap_is_str(r ? jstr(r, "return.status") : "(no answer)", "completed", "source: the migration completed");
        tap_ok(r && jint(r, "return.ram.transferred") > 0, "source: guest RAM was transferred (%lld bytes)",
               r ? (long long) jint(r, "return.ram.transferred") : -1LL);
        free(r);
        char *st = harness_qmp_status(sfd);
        tap_is_str(st, "postmigrate", "source: the guest stopped there");
        free(st);
        st = wait_status(dfd, "running");
        tap_is_str(st, "running", "target: the guest runs (query-status)");
        free(st);
        tap_ok(harness_file_contains(LOG, "incoming migration completed: guest running", 10000),
               "target: the launcher says the guest runs once the migration completed");
        tap_is_int(qemu_pid_from_log(), q, "target: the same QEMU");
        check_threads(q, "target, running: ");
        check_step_order();

        r = harness_qmp(dfd, "{\"execute\":\"quit\"}");
        free(r);
        int wst = harness_wait_exit(ld, 30000);
        tap_ok(wst >= 0 && WIFEXITED(wst) && WEXITSTATUS(wst) == 0, "target: the launcher exits 0 after quit (0x%x)",
               wst);
        ld = -1;
        nothing_left(h, "pod-a");
out:
        if (sfd >= 0) {
                free(harness_qmp(sfd, "{\"execute\":\"quit\"}"));
                close(sfd);
                int sst = harness_wait_exit(ls, 30000);
                tap_ok(sst >= 0 && WIFEXITED(sst) && WEXITSTATUS(sst) == 0, "source: the launcher exits 0 after quit");
        }
        if (dfd >= 0)
                close(dfd);
        stop_launcher(ld);
        stop_launcher(ls);
        tap_ok(wait_link_gone("pod-b", "vnet0"), "source: vnet0 is removed from pod-b's netns");
        if (tap_failed_) {
                harness_dump_file(SRC_LOG, NULL);
                dump_launcher_log();
        }
}

/* exec: would have QEMU spawn a process, which its -sandbox forbids: refused before anything is asked. */
static void launcher_incoming_exec(harness *h) {
        pod_net("pod-a");
        vm_dir();
        spec_opts o = { "vm-a", harness_hard / 2, true, VMDIR "/firmware.log", NULL };
        write_spec(VMDIR "/vm.json", &o);
        pid_t l = spawn_launcher(h, POD_A, "pod-a", VMDIR "/vm.json", LOG, "exec:cat " VMDIR "/state");
        int st = harness_wait_exit(l, 10000);
        tap_ok(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 2, "--incoming exec:... is a usage error (0x%x)", st);
        tap_ok(harness_file_contains(LOG, "exec: migration needs QEMU to spawn a process", 0), "saying why");
        tap_is_int(sessions_of(l), 0, "the launcher asked the broker for nothing");
        tap_is_int(qemu_pid_from_log(), -1, "and started no QEMU");
        if (tap_failed_)
                dump_launcher_log();
}

static const scenario scenarios[] = {
        { "launcher-vm", policy_all, launcher_vm },
        { "launcher-denied", policy_no_sched, launcher_denied },
        { "launcher-crash-loop", policy_no_sched, launcher_crash_loop },
        { "launcher-bad-spec", policy_all, launcher_bad_spec },
        { "launcher-qemu-early-exit", policy_all, launcher_qemu_early_exit },
        { "launcher-killed", policy_all, launcher_killed },
        { "launcher-pid1", policy_all, launcher_pid1 },
        { "launcher-qemu-quit", policy_all, launcher_qemu_quit },
        { "launcher-qemu-killed", policy_all, launcher_qemu_killed },
        { "launcher-broker-restart", policy_all, launcher_broker_restart },
        { "launcher-incoming", policy_all, launcher_incoming },
        { "launcher-incoming-exec", policy_all, launcher_incoming_exec },
};

int main(int argc, char **argv) {
        return harness_main(argc, argv, scenarios, sizeof(scenarios) / sizeof(scenarios[0]));
}
