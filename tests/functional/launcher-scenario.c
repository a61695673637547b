/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* launcher-scenario.c - see launcher-scenario.h. */

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
#include "launcher-scenario.h"

const char policy_all[] =
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
const char policy_no_sched[] =
        "{ \"version\": 1,\n"
        "  \"rules\": [\n"
        "    { \"name\": \"no-realtime\",\n"
        "      \"match\": { \"uid\": 1000 },\n"
        "      \"memlock\": { \"max\": \"1G\" },\n"
        "      \"cgroup\": { \"targets\": \"housekeeping\", \"create\": true },\n"
        "      \"tap\": { \"bridges\": \"br0\", \"max_queues\": 4 } }\n"
        "  ]\n"
        "}\n";

void write_file(const char *path, const char *text) {
        if (harness_write_file(path, text) < 0)
                tap_ok(0, "write %s", path);
}

/* The pod's own network namespace @netns with a bridge br0. */
void pod_net(const char *netns) {
        tap_is_int(harness_netns_add(netns), 0, "%s gets its own network namespace", netns);
        tap_is_int(harness_sh(NULL, "ip -n %s link add br0 type bridge && ip -n %s link set br0 up", netns, netns), 0,
                   "with a bridge br0");
}

/* A small VM (SeaBIOS idles without a disk); source and target of a
 * migration differ only in what is outside the guest's device model. */
void write_spec(const char *path, const spec_opts *o) {
        char spec[2048], rt[256] = "", extra[256] = "";
        if (o->steps)
                snprintf(rt, sizeof(rt),
                         "  \"realtime\": { \"vcpus\": \"1\", \"priority\": 1, \"rttime_us\": 30000000 },\n"
                         "  \"housekeeping\": \"housekeeping\",\n");
        if (o->qmp)
                snprintf(extra, sizeof(extra), "  \"extra_args\": [ \"-qmp\", \"unix:%s,server=on,wait=off\" ],\n",
                         o->qmp);
        snprintf(spec, sizeof(spec),
                 "// a small VM: SeaBIOS idles without a disk\n"
                 "{ \"name\": \"%s\", \"qemu\": \"qemu-system-x86_64\", \"accel\": \"auto\",\n"
                 "  \"memory\": \"64M\", \"vcpus\": 2,\n"
                 "%s"
                 "  \"mem_lock\": false, \"memlock\": %" PRIu64 ",\n"
                 "  \"nics\": [ { \"id\": \"net0\", \"bridge\": \"br0\", \"queues\": 2, \"mtu\": 1400,\n"
                 "              \"mac\": \"52:54:00:12:34:56\" } ],\n"
                 "  \"firmware_log\": \"%s\",\n"
                 "%s"
                 "  \"shutdown_timeout\": 2 }\n",
                 o->name, rt, o->memlock, o->fwlog, extra);
        write_file(path, spec);
}

void vm_dir(void) {
        mkdir(VMDIR, 0755);
        if (chown(VMDIR, 1000, 1000) < 0)
                tap_ok(0, "chown " VMDIR);
}

/* pod-a with br0, and VMDIR/vm.json for vm-a (realtime, housekeeping; @qmp: a test monitor) */
void prepare_qmp(harness *h, uint64_t memlock, const char *qmp) {
        pod_net("pod-a");
        vm_dir();
        spec_opts o = { "vm-a", memlock, true, VMDIR "/firmware.log", qmp };
        write_spec(VMDIR "/vm.json", &o);
        (void) h;
}

void prepare(harness *h, uint64_t memlock) {
        prepare_qmp(h, memlock, NULL);
}

/* delegate-launcher --spec @spec [--incoming @incoming] as uid 1000 in @pod and @netns */
pid_t spawn_launcher(harness *h, const char *pod, const char *netns, const char *spec, const char *log,
                            const char *incoming) {
        const char *exe = getenv("DELEGATE_LAUNCHER");
        char *argv[] = { (char *) exe, "--spec", (char *) spec, incoming ? "--incoming" : NULL, (char *) incoming,
                         NULL };
        if (!exe)
                tap_ok(0, "DELEGATE_LAUNCHER is set (meson sets it)");
        return harness_spawn_in_pod(h, pod, netns, 1000, 1000, log, argv);
}

pid_t start_launcher(harness *h) {
        return spawn_launcher(h, POD_A, "pod-a", VMDIR "/vm.json", LOG, NULL);
}

void dump_launcher_log(void) {
        harness_dump_file(LOG, NULL);
}

pid_t qemu_pid_from_log(void) {
        return harness_qemu_pid_in(LOG);
}

const char *status_field(pid_t pid, const char *field) {
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

/*
 * QEMU's threads, from the kernel: the 2 vCPUs stay in the pod cgroup, every
 * other thread is in housekeeping, vCPU 1 is SCHED_FIFO 1 with reset-on-fork
 * and vCPU 0 is untouched.  @when prefixes the descriptions.
 */
void check_threads(pid_t q, const char *when) {
        char path[96], want[256];
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
        tap_is_int(n_vcpu, 2, "%sQEMU has 2 vCPU threads (named by debug-threads=on)", when);
        tap_ok(n_other >= 1, "%sand %d other threads", when, n_other);
        tap_is_int(misplaced, 0,
                   "%skernel: vCPU threads stayed in the pod cgroup, every other thread is in housekeeping", when);
        tap_ok(fifo_ok, "%skernel: vCPU 1 is SCHED_FIFO priority 1 with reset-on-fork; vCPU 0 is untouched", when);
}

/* Gone, or a zombie nobody reaped yet: either way it runs no more. */
bool pid_gone(pid_t pid) {
        char path[64], buf[512];
        if (kill(pid, 0) < 0 && errno == ESRCH)
                return true;
        snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
        harness_read_file(path, buf, sizeof(buf));
        const char *p = strrchr(buf, ')');
        return p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
}

bool wait_gone(pid_t pid, int timeout_ms) {
        for (int t = 0; t < timeout_ms && !pid_gone(pid); t += 50)
                usleep(50000);
        return pid_gone(pid);
}

bool link_exists(const char *netns, const char *dev) {
        return harness_sh(NULL, "ip -n %s link show %s >/dev/null 2>&1", netns, dev) == 0;
}

bool cgroup_exists(harness *h, const char *rel) {
        char path[512];
        harness_cgroup_path(h, rel, path, sizeof(path));
        return access(path, F_OK) == 0;
}

/* The broker's clean-up is asynchronous to the test: wait (bounded) for it. */
bool wait_link_gone(const char *netns, const char *dev) {
        for (int i = 0; i < 200 && link_exists(netns, dev); i++)
                usleep(50000);
        return !link_exists(netns, dev);
}

bool wait_cgroup_gone(harness *h, const char *rel) {
        for (int i = 0; i < 200 && cgroup_exists(h, rel); i++)
                usleep(50000);
        return !cgroup_exists(h, rel);
}

/* Nothing of the VM is left: no TAP device in @netns, no housekeeping cgroup, no process in the pod. */
void nothing_left(harness *h, const char *netns) {
        char procs[512], path[256];
        tap_ok(wait_link_gone(netns, "vnet0"), "vnet0 is removed from %s's netns", netns);
        tap_ok(wait_cgroup_gone(h, POD_A "/housekeeping"), "the housekeeping cgroup the broker created is removed");
        harness_cgroup_path(h, POD_A "/cgroup.procs", path, sizeof(path));
        harness_read_file(path, procs, sizeof(procs));
        tap_is_str(procs, "", "no process is left in the pod");
}

/* Line number (from 1) of the first line of @log containing @needle; 0 when absent. */
int log_line(const char *log, const char *needle) {
        FILE *f = fopen(log, "re");
        char line[1024];
        int n = 0, found = 0;
        while (f && !found && fgets(line, sizeof(line), f)) {
                n++;
                if (strstr(line, needle))
                        found = n;
        }
        if (f)
                fclose(f);
        return found;
}

/* Start vm-a in pod-a and wait until the launcher says it runs; its QEMU pid, or -1. */
pid_t start_running(harness *h, pid_t *ret_launcher) {
        pid_t l = start_launcher(h);
        *ret_launcher = l;
        tap_ok(l > 0, "delegate-launcher started as uid 1000 in pod-a");
        if (!harness_file_contains(LOG, "guest running", 60000)) {
                tap_ok(0, "the launcher reports the guest running");
                dump_launcher_log();
                return -1;
        }
        pid_t q = qemu_pid_from_log();
        tap_ok(q > 0 && !pid_gone(q), "the guest runs, QEMU pid %d", (int) q);
        return q;
}

void stop_launcher(pid_t l) {
        if (l > 0 && waitpid(l, NULL, WNOHANG) == 0) {
                kill(l, SIGKILL);
                waitpid(l, NULL, 0);
        }
}
