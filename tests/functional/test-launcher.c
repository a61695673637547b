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
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define POD_A "kubepods.slice/pod-a"
#define VMDIR "/run/delegate-test/vm"
#define LOG VMDIR "/launcher.log"

static const char policy_all[] =
        "{ \"version\": 1,\n"
        "  \"rules\": [\n"
        "    { \"name\": \"launchers\",\n"
        "      \"match\": { \"uid\": 1000, \"cgroup\": \"/kubepods.slice/*\", \"vm\": \"vm-*\" },\n"
        "      \"memlock\": { \"max\": \"1G\" },\n"
        "      \"cgroup\": { \"targets\": \"housekeeping\", \"create\": true },\n"
        "      \"sched\": { \"policies\": [\"fifo\"], \"max_priority\": 10, \"max_rttime_us\": 30000000 },\n"
        "      \"tap\": { \"template\": \"vnet%d\", \"max_queues\": 4, \"bridges\": \"br0\", \"mtu\": \"1280-9000\" } }\n"
        "  ]\n"
        "}\n";

/* the same, without realtime: a VM asking for it must not start */
static const char policy_no_sched[] =
        "{ \"version\": 1,\n"
        "  \"rules\": [\n"
        "    { \"name\": \"no-realtime\",\n"
        "      \"match\": { \"uid\": 1000 },\n"
        "      \"memlock\": { \"max\": \"1G\" },\n"
        "      \"cgroup\": { \"targets\": \"housekeeping\", \"create\": true },\n"
        "      \"tap\": { \"bridges\": \"br0\", \"max_queues\": 4 } }\n"
        "  ]\n"
        "}\n";

static void write_file(const char *path, const char *text) {
        FILE *f = fopen(path, "we");
        if (!f || fputs(text, f) < 0 || fclose(f) != 0)
                tap_ok(0, "write %s", path);
}

static void prepare(harness *h, uint64_t memlock) {
        char spec[2048];
        tap_is_int(harness_netns_add("pod-a"), 0, "pod-a gets its own network namespace");
        tap_is_int(harness_sh(NULL, "ip -n pod-a link add br0 type bridge && ip -n pod-a link set br0 up"), 0,
                   "with a bridge br0");
        mkdir(VMDIR, 0755);
        if (chown(VMDIR, 1000, 1000) < 0)
                tap_ok(0, "chown " VMDIR);
        snprintf(spec, sizeof(spec),
                 "// a small VM: SeaBIOS idles without a disk\n"
                 "{ \"name\": \"vm-a\", \"qemu\": \"qemu-system-x86_64\", \"accel\": \"auto\",\n"
                 "  \"memory\": \"64M\", \"vcpus\": 2,\n"
                 "  \"realtime\": { \"vcpus\": \"1\", \"priority\": 1, \"rttime_us\": 30000000 },\n"
                 "  \"mem_lock\": false, \"memlock\": %" PRIu64 ",\n"
                 "  \"housekeeping\": \"housekeeping\",\n"
                 "  \"nics\": [ { \"id\": \"net0\", \"bridge\": \"br0\", \"queues\": 2, \"mtu\": 1400,\n"
                 "              \"mac\": \"52:54:00:12:34:56\" } ],\n"
                 "  \"firmware_log\": \"" VMDIR "/firmware.log\",\n"
                 "  \"shutdown_timeout\": 2 }\n",
                 memlock);
        write_file(VMDIR "/vm.json", spec);
        (void) h;
}

static pid_t start_launcher(harness *h) {
        const char *exe = getenv("DELEGATE_LAUNCHER");
        char *argv[] = { (char *) exe, "--spec", VMDIR "/vm.json", NULL };
        if (!exe)
                tap_ok(0, "DELEGATE_LAUNCHER is set (meson sets it)");
        return harness_spawn_in_pod(h, POD_A, "pod-a", 1000, 1000, LOG, argv);
}

static void dump_launcher_log(void) {
        FILE *f = fopen(LOG, "re");
        char line[1024];
        tap_diag("---- launcher log ----");
        while (f && fgets(line, sizeof(line), f)) {
                line[strcspn(line, "\n")] = 0;
                tap_diag("%s", line);
        }
        if (f)
                fclose(f);
}

static pid_t qemu_pid_from_log(void) {
        FILE *f = fopen(LOG, "re");
        char line[1024];
        pid_t p = -1;
        while (f && fgets(line, sizeof(line), f)) {
                const char *k = strstr(line, "QEMU pid ");
                if (k)
                        p = (pid_t) atoi(k + 9);
        }
        if (f)
                fclose(f);
        return p;
}

static const char *status_field(pid_t pid, const char *field) {
        static char out[4][128];
        static int k;
        char *o = out[k++ % 4], path[64], buf[8192];
        snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
        harness_read_file(path, buf, sizeof(buf));
        snprintf(o, 128, "(missing)");
        char *l = strstr(buf, field);
        if (l) {
                l += strlen(field);
                while (*l == ':' || *l == '\t' || *l == ' ')
                        l++;
                snprintf(o, 128, "%.*s", (int) strcspn(l, "\n"), l);
        }
        return o;
}

static int wait_exit(pid_t pid, int timeout_ms) {
        for (int t = 0; t < timeout_ms; t += 50) {
                int st;
                if (waitpid(pid, &st, WNOHANG) == pid)
                        return st;
                usleep(50000);
        }
        return -ETIMEDOUT;
}

static void launcher_vm(harness *h) {
        char buf[8192], want[256];
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

        /* the launcher: no capabilities, no_new_privs, seccomp filter */
        tap_is_str(status_field(l, "CapEff"), "0000000000000000", "launcher: no effective capabilities");
        tap_is_str(status_field(l, "CapPrm"), "0000000000000000", "launcher: no permitted capabilities");
        tap_is_str(status_field(l, "CapAmb"), "0000000000000000", "launcher: no ambient capabilities");
        tap_is_str(status_field(l, "NoNewPrivs"), "1", "launcher: no_new_privs");
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

        /* threads: vCPUs stay, the rest goes to housekeeping; vCPU 1 is SCHED_FIFO */
        snprintf(want, sizeof(want), "/%s/housekeeping", POD_A);
        snprintf(path, sizeof(path), "/proc/%d/task", (int) q);
        DIR *d = opendir(path);
        int n_vcpu = 0, n_other = 0, misplaced = 0, fifo_ok = 0;
        for (struct dirent *de; d && (de = readdir(d));) {
                pid_t t = atoi(de->d_name);
                char comm[64], cpath[96];
                if (t <= 0)
                        continue;
                snprintf(cpath, sizeof(cpath), "/proc/%d/task/%d/comm", (int) q, (int) t);
                harness_read_line(cpath, comm, sizeof(comm));
                const char *cg = harness_task_cgroup(q, t);
                harness_sched_attr a = harness_sched_getattr(t);
                if (strncmp(comm, "CPU ", 4) == 0) {
                        n_vcpu++;
                        misplaced += strcmp(cg, "/" POD_A) != 0;
                        if (strncmp(comm, "CPU 1/", 6) == 0)
                                fifo_ok = a.sched_policy == SCHED_FIFO && a.sched_priority == 1 && (a.sched_flags & 1);
                        else if (a.sched_policy != SCHED_OTHER)
                                misplaced++;
                } else {
                        n_other++;
                        if (strcmp(cg, want) != 0) {
                                tap_diag("thread %d '%s' is in %s", (int) t, comm, cg);
                                misplaced++;
                        }
                }
        }
        if (d)
                closedir(d);
        tap_is_int(n_vcpu, 2, "QEMU has 2 vCPU threads (named by debug-threads=on)");
        tap_ok(n_other >= 1, "and %d other threads", n_other);
        tap_is_int(misplaced, 0, "kernel: vCPU threads stayed in the pod cgroup, every other thread is in housekeeping");
        tap_ok(fifo_ok, "kernel: vCPU 1 is SCHED_FIFO priority 1 with reset-on-fork; vCPU 0 is untouched");

        /* the TAP device, in the pod's netns, held by QEMU */
        char *out = NULL;
        tap_is_int(harness_sh(&out, "ip -n pod-a -d -j link show vnet0"), 0, "vnet0 exists in pod-a's netns");
        tap_has_str(out, "\"master\":\"br0\"", "kernel: vnet0 is on br0");
        tap_has_str(out, "\"mtu\":1400", "kernel: MTU 1400");
        tap_has_str(out, "\"address\":\"52:54:00:12:34:56\"", "kernel: the spec's MAC");
        tap_has_str(out, "\"multi_queue\"", "kernel: multi-queue");
        free(out);
        tap_ok(harness_sh(NULL, "ip link show vnet0 >/dev/null 2>&1") != 0, "vnet0 is not in the broker's netns");
        snprintf(path, sizeof(path), "/proc/%d/fdinfo", (int) q);
        d = opendir(path);
        int tapfds = 0;
        for (struct dirent *de; d && (de = readdir(d));) {
                char p2[400];
                if (de->d_name[0] == '.')
                        continue;
                snprintf(p2, sizeof(p2), "%s/%s", path, de->d_name);
                harness_read_file(p2, buf, sizeof(buf));
                tapfds += strstr(buf, "iff:\tvnet0") != NULL;
        }
        if (d)
                closedir(d);
        tap_is_int(tapfds, 2, "QEMU holds both queues of vnet0");

        tap_ok(harness_file_contains(VMDIR "/firmware.log", "SeaBIOS", 20000), "the guest's firmware ran (SeaBIOS log)");

        /* SIGTERM: system_powerdown, then quit after the timeout; exit with QEMU's status */
        kill(l, SIGTERM);
        int st = wait_exit(l, 30000);
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
        int st = wait_exit(l, 60000);
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

static void launcher_bad_spec(harness *h) {
        char *argv[] = { (char *) getenv("DELEGATE_LAUNCHER"), "--spec", VMDIR "/vm.json", NULL };
        mkdir(VMDIR, 0755);
        write_file(VMDIR "/vm.json", "{ \"name\": \"vm-a\",\n  \"memory\": \"64M\",\n  \"vcpus\": 0 }\n");
        pid_t l = harness_spawn_in_pod(h, POD_A, NULL, 1000, 1000, LOG, argv);
        int st = wait_exit(l, 10000);
        tap_ok(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 1, "a bad spec makes the launcher exit 1");
        tap_ok(harness_file_contains(LOG, VMDIR "/vm.json:3:12: \"vcpus\" must be an integer from 1 to 256", 0),
               "with FILE:LINE:COLUMN and what is allowed");
        if (tap_failed_)
                dump_launcher_log();
}

static const scenario scenarios[] = {
        { "launcher-vm", policy_all, launcher_vm },
        { "launcher-denied", policy_no_sched, launcher_denied },
        { "launcher-bad-spec", policy_all, launcher_bad_spec },
};

int main(int argc, char **argv) {
        return harness_main(argc, argv, scenarios, sizeof(scenarios) / sizeof(scenarios[0]));
}
