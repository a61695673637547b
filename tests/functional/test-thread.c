/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-thread - functional scenarios of thread placement: cgroup.move into
 * a created threaded "housekeeping" cgroup, and sched.set (SCHED_FIFO for
 * vCPU-like threads) with rtkit's safety set.  A pod's test-client spawns a
 * child with several threads, standing for QEMU's emulator and vCPU
 * threads.  Assertions read the kernel: /proc/PID/task/TID/cgroup,
 * cgroup.threads, cgroup.type, sched_getattr(2), sched_getaffinity(2).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define POD_A "kubepods.slice/pod-a"
#define POD_B "kubepods.slice/pod-b"

static const char policy_main[] =
        "{ \"version\": 1,\n"
        "  \"rules\": [\n"
        "    { \"name\": \"pod-launchers\",\n"
        "      \"match\": { \"uid\": \"1000-1999\", \"cgroup\": \"/kubepods.slice/*\" },\n"
        "      // housekeeping for QEMU's non-vCPU threads; evil/* only to prove links are not followed\n"
        "      \"cgroup\": { \"targets\": [\"housekeeping\", \"vcpu*\", \"plain\", \"evil/*\", \"missing\"],\n"
        "                  \"create\": true, \"cpus\": \"0\" },\n"
        "      \"sched\": { \"policies\": [\"other\", \"batch\", \"fifo\", \"rr\"], \"max_priority\": 10,\n"
        "                 \"min_nice\": 0, \"cpus\": \"0\", \"max_rttime_us\": 200000 } }\n"
        "  ]\n"
        "}\n";

static const char policy_burst[] =
        "{ \"version\": 1,\n"
        "  \"rules\": [\n"
        "    { \"name\": \"bursty\",\n"
        "      \"match\": { \"uid\": \"1000-1999\" },\n"
        "      \"sched\": { \"policies\": [\"fifo\"], \"max_priority\": 10, \"max_rttime_us\": 200000,\n"
        "                 \"burst\": \"3/60s\" } }\n"
        "  ]\n"
        "}\n";

/* --- helpers --- */

typedef struct threads {
        pid_t pid;
        pid_t tid[8]; /* tid[0] is the main thread */
        int n;
} threads;

static threads spawn_threads(tclient *c, int n) {
        threads t = { 0 };
        char *r = tclient_call(c, "threads %d", n);
        t.pid = (pid_t) jint(r, "pid");
        for (int i = 0; i <= n && i < 8; i++) {
                char path[32];
                snprintf(path, sizeof(path), "tids.%d", i);
                t.tid[i] = (pid_t) jint(r, path);
                t.n += t.tid[i] > 0;
        }
        tap_ok(t.pid > 0 && t.n == n + 1, "the launcher spawned a QEMU stand-in with %d threads (%s)", n + 1, r);
        free(r);
        return t;
}

static void start_client(harness *h, tclient *c, const char *pod, uid_t uid) {
        if (tclient_start(h, c, pod, uid, uid, "vm-a") < 0)
                tap_ok(0, "start test-client in %s as uid %u", pod, (unsigned) uid);
}

static bool file_has_id(const char *path, pid_t id) {
        char line[64];
        bool found = false;
        FILE *f = fopen(path, "re");
        while (f && fgets(line, sizeof(line), f))
                found = found || atoi(line) == id;
        if (f)
                fclose(f);
        return found;
}

/* --- cgroup.move --- */

static void cgroup_move_threads(harness *h) {
        tclient a;
        char path[512], buf[256], want[128];
        start_client(h, &a, POD_A, 1000);
        threads t = spawn_threads(&a, 3);
        snprintf(want, sizeof(want), "/%s/housekeeping", POD_A);

        char *r = tclient_call(&a, "call cgroup.move {\"tids\": [%d, %d], \"target\": \"housekeeping\", \"create\": true}",
                       (int) t.tid[1], (int) t.tid[2]);
        tap_is_int(jint(r, "ok"), 1, "moving 2 threads to a created housekeeping cgroup succeeds (%s)", r);
        tap_is_int(jint(r, "result.moved"), 2, "the reply says 2 moved");
        tap_is_int(jint(r, "result.failed"), 0, "and none failed");
        tap_is_int(jint(r, "result.created"), 1, "and that the broker created the target");
        tap_is_str(jstr(r, "result.type"), "threaded", "the target is a threaded cgroup");
        tap_is_int(jint(r, "result.threads.0.tid"), t.tid[1], "per-thread report names the first tid");
        tap_is_str(jstr(r, "result.threads.0.cgroup"), want, "and where the kernel put it");
        free(r);

        tap_is_str(harness_task_cgroup(t.pid, t.tid[1]), want, "kernel: thread 1 is in housekeeping");
        tap_is_str(harness_task_cgroup(t.pid, t.tid[2]), want, "kernel: thread 2 is in housekeeping");
        tap_is_str(harness_task_cgroup(t.pid, t.tid[0]), "/" POD_A, "kernel: the main thread stayed in the pod cgroup");
        tap_is_str(harness_task_cgroup(t.pid, t.tid[3]), "/" POD_A, "kernel: thread 3 (a vCPU) stayed too");
        harness_cgroup_path(h, POD_A "/housekeeping/cgroup.threads", path, sizeof(path));
        tap_ok(file_has_id(path, t.tid[1]) && file_has_id(path, t.tid[2]), "cgroup.threads lists both threads");
        tap_ok(!file_has_id(path, t.tid[0]), "cgroup.threads does not list the main thread");
        harness_cgroup_path(h, POD_A "/housekeeping/cgroup.type", path, sizeof(path));
        harness_read_line(path, buf, sizeof(buf));
        tap_is_str(buf, "threaded", "cgroup.type of housekeeping is threaded");

        /* into the existing target, without create */
        r = tclient_call(&a, "call cgroup.move {\"tids\": [%d], \"target\": \"housekeeping\"}", (int) t.tid[0]);
        tap_is_int(jint(r, "ok"), 1, "moving the main thread into the existing target succeeds (%s)", r);
        tap_is_int(jint(r, "result.created"), 0, "and says it created nothing");
        free(r);
        tap_is_str(harness_task_cgroup(t.pid, t.tid[0]), want, "kernel: the main thread is in housekeeping now");

        r = tclient_call(&a, "state");
        tap_is_str(jstr(r, "state.cgroups_created.0"), want, "state.get lists the cgroup the session created");
        tap_is_int(jint(r, "state.threads_moved"), 3, "state.get counts 3 threads moved");
        free(r);

        /* the session ends with the cgroup empty: the broker removes it */
        free(tclient_call(&a, "reap %d", (int) t.pid));
        tclient_stop(&a);
        harness_cgroup_path(h, POD_A "/housekeeping", path, sizeof(path));
        bool gone = false;
        for (int i = 0; i < 500 && !gone; i++) {
                gone = access(path, F_OK) < 0 && errno == ENOENT;
                if (!gone)
                        usleep(10000);
        }
        tap_ok(gone, "the created cgroup is removed when the session ends");
        tap_ok(harness_log_contains("removed cgroup /" POD_A "/housekeeping"), "the broker logs the removal");
}

static void cgroup_move_process(harness *h) {
        tclient a;
        char path[512], buf[64];
        start_client(h, &a, POD_A, 1000);
        threads t = spawn_threads(&a, 1);

        char *r = tclient_call(&a, "call cgroup.move {\"pid\": %d, \"target\": \"plain\", \"create\": true}", (int) t.pid);
        tap_is_int(jint(r, "ok"), 1, "moving a whole process to a created cgroup succeeds (%s)", r);
        tap_is_str(jstr(r, "result.type"), "domain", "a whole-process target is a domain cgroup");
        tap_is_int(jint(r, "result.processes.0.pid"), t.pid, "the report names the pid");
        free(r);
        tap_is_str(harness_task_cgroup(t.pid, t.tid[0]), "/" POD_A "/plain", "kernel: the main thread moved");
        tap_is_str(harness_task_cgroup(t.pid, t.tid[1]), "/" POD_A "/plain", "kernel: so did its other thread");
        harness_cgroup_path(h, POD_A "/plain/cgroup.type", path, sizeof(path));
        harness_read_line(path, buf, sizeof(buf));
        tap_is_str(buf, "domain", "cgroup.type of plain is domain");

        r = tclient_call(&a, "call cgroup.move {\"tids\": [%d], \"target\": \"plain\"}", (int) t.tid[1]);
        tap_is_str(jstr(r, "code"), "bad-request", "threads cannot move into a domain cgroup (%s)", r);
        tap_has_str(jstr(r, "message"), "threaded", "the message says a threaded cgroup is needed");
        free(r);
        free(tclient_call(&a, "reap %d", (int) t.pid));
        tclient_stop(&a);
}

static void cgroup_move_refused(harness *h) {
        tclient a, b;
        char path[512];
        start_client(h, &a, POD_A, 1000);
        start_client(h, &b, POD_B, 1001);
        threads t = spawn_threads(&a, 2);
        threads o = spawn_threads(&b, 1);

        char *r = tclient_call(&a, "call cgroup.move {\"tids\": [%d], \"target\": \"../pod-b\"}", (int) t.tid[1]);
        tap_is_str(jstr(r, "code"), "bad-request", "target ../pod-b is refused (%s)", r);
        tap_has_str(jstr(r, "message"), "'..'", "the message names the '..' component");
        free(r);

        r = tclient_call(&a, "call cgroup.move {\"tids\": [%d], \"target\": \"/" POD_B "\"}", (int) t.tid[1]);
        tap_is_str(jstr(r, "code"), "bad-request", "an absolute target is refused (%s)", r);
        tap_has_str(jstr(r, "message"), "absolute", "the message says it is absolute");
        free(r);

        /* a link inside the pod's cgroup can only come with a foreign mount: both refused */
        harness_cgroup_path(h, POD_A "/evil", path, sizeof(path));
        tap_is_int(mkdir(path, 0755), 0, "a cgroup 'evil' inside pod-a");
        tap_is_int(mount("tmpfs", path, "tmpfs", 0, "size=64k"), 0, "with a tmpfs mounted over it");
        char link[600];
        snprintf(link, sizeof(link), "%s/link", path);
        tap_is_int(symlink("../../pod-b", link), 0, "holding a symlink to pod-b");
        r = tclient_call(&a, "call cgroup.move {\"tids\": [%d], \"target\": \"evil/link\"}", (int) t.tid[1]);
        tap_is_str(jstr(r, "code"), "denied", "a target through the mount and symlink is refused (%s)", r);
        tap_has_str(jstr(r, "message"), "outside the cgroup tree", "the message says why");
        free(r);
        umount(path);
        rmdir(path);
        tap_is_str(harness_task_cgroup(t.pid, t.tid[1]), "/" POD_A, "kernel: the thread did not move");

        r = tclient_call(&a, "call cgroup.move {\"tids\": [%d, %d], \"target\": \"housekeeping\", \"create\": true}",
                 (int) t.tid[1], (int) o.tid[1]);
        tap_is_str(jstr(r, "code"), "denied", "a thread of another pod is refused (%s)", r);
        tap_has_str(jstr(r, "message"), "not a thread of the caller", "the message says whose it is not");
        free(r);
        tap_is_str(harness_task_cgroup(t.pid, t.tid[1]), "/" POD_A, "all or nothing: the caller's own thread did not move");
        harness_cgroup_path(h, POD_A "/housekeeping", path, sizeof(path));
        tap_ok(access(path, F_OK) < 0, "and nothing was created");

        r = tclient_call(&a, "call cgroup.move {\"tids\": [%d], \"target\": \"housekeeping\", \"create\": true}",
                 (int) h->broker_pid);
        tap_is_str(jstr(r, "code"), "denied", "the broker's own tid is refused (%s)", r);
        free(r);

        r = tclient_call(&a, "call cgroup.move {\"tids\": [%d], \"target\": \"elsewhere\", \"create\": true}",
                 (int) t.tid[1]);
        tap_is_str(jstr(r, "code"), "denied", "a target outside the rule's patterns is denied (%s)", r);
        tap_is_str(jstr(r, "rule"), "pod-launchers", "naming the rule");
        free(r);

        r = tclient_call(&a, "call cgroup.move {\"tids\": [%d], \"target\": \"missing\"}", (int) t.tid[1]);
        tap_is_str(jstr(r, "code"), "not-found", "a missing target without create is not-found (%s)", r);
        free(r);

        r = tclient_call(&a, "call cgroup.move {\"tids\": [%d], \"target\": \"vcpu0\", \"create\": true, \"cpus\": \"1\"}",
                 (int) t.tid[1]);
        tap_is_str(jstr(r, "code"), "denied", "cpuset cpus outside the rule's cpus are denied (%s)", r);
        free(r);

        /* this node's cgroup v2 has no cpuset controller (hybrid mount): say so exactly */
        harness_cgroup_path(h, POD_A "/cgroup.controllers", path, sizeof(path));
        char ctl[256];
        harness_read_line(path, ctl, sizeof(ctl));
        r = tclient_call(&a, "call cgroup.move {\"tids\": [%d], \"target\": \"vcpu0\", \"create\": true, \"cpus\": \"0\"}",
                 (int) t.tid[1]);
        harness_cgroup_path(h, POD_A "/vcpu0", path, sizeof(path));
        if (!strstr(ctl, "cpuset")) {
                tap_is_str(jstr(r, "code"), "unsupported",
                           "cpuset.cpus without a v2 cpuset controller is unsupported (%s)", r);
                tap_has_str(jstr(r, "message"), "cpuset controller is not available", "the message says why");
                tap_ok(access(path, F_OK) < 0, "and vcpu0 was not created");
        } else {
                /* a node whose cgroup v2 has cpuset: the created target gets the cpus */
                char cpus[64], file[600];
                tap_is_int(jint(r, "ok"), 1, "with a v2 cpuset controller, a created target gets cpus (%s)", r);
                snprintf(file, sizeof(file), "%s/cpuset.cpus", path);
                harness_read_line(file, cpus, sizeof(cpus));
                tap_is_str(cpus, "0", "kernel: cpuset.cpus of vcpu0 is 0");
                free(tclient_call(&a, "call cgroup.move {\"tids\": [%d], \"target\": \"vcpu0\"}", (int) t.tid[0]));
        }
        free(r);

        r = tclient_call(&a, "call cgroup.move {\"tids\": [%d], \"pid\": %d, \"target\": \"housekeeping\"}", (int) t.tid[1],
                 (int) t.pid);
        tap_is_str(jstr(r, "code"), "bad-request", "tids and pid together are a bad request (%s)", r);
        free(r);

        free(tclient_call(&a, "reap %d", (int) t.pid));
        free(tclient_call(&b, "reap %d", (int) o.pid));
        tclient_stop(&a);
        tclient_stop(&b);
}

/* --- sched.set --- */

/*
 * RT group scheduling (cgroup v1's cpu controller here): a thread whose cpu
 * cgroup has cpu.rt_runtime_us = 0, as container runtimes create them,
 * cannot become SCHED_FIFO whatever the broker's privilege.  The error must
 * say so, naming the cgroup.
 */
static void sched_rt_budget(harness *h) {
        char dir[256], mnt[200] = "", line[4096];
        FILE *f = fopen("/proc/self/mountinfo", "re");
        while (f && !mnt[0] && fgets(line, sizeof(line), f)) {
                char m[200], type[32], src[64], opts[512];
                const char *sep = strstr(line, " - ");
                if (sep && sscanf(sep + 3, "%31s %63s %511s", type, src, opts) == 3 && !strcmp(type, "cgroup") &&
                    (strstr(opts, ",cpu,") || !strncmp(opts, "cpu,", 4) || strstr(opts, ",cpu\0") ||
                     !strcmp(opts, "cpu") || (strlen(opts) > 4 && !strcmp(opts + strlen(opts) - 4, ",cpu"))) &&
                    sscanf(line, "%*s %*s %*s %*s %199s", m) == 1)
                        snprintf(mnt, sizeof(mnt), "%s", m);
        }
        if (f)
                fclose(f);
        if (!mnt[0])
                tap_skip_all("no cgroup v1 cpu hierarchy: the kernel's RT group scheduling is not in use here");
        snprintf(dir, sizeof(dir), "%s/delegate-test-rt-%d", mnt, (int) getpid());
        char probe[300];
        snprintf(probe, sizeof(probe), "%s/cpu.rt_runtime_us", mnt);
        if (access(probe, F_OK) < 0)
                tap_skip_all("the kernel has no RT group scheduling (no cpu.rt_runtime_us)");
        tap_is_int(harness_sh(NULL, "mkdir %s && echo 0 > %s/cpu.rt_runtime_us", dir, dir), 0,
                   "a cpu cgroup with cpu.rt_runtime_us = 0, as a container runtime makes");
        tclient a;
        start_client(h, &a, POD_A, 1000);
        free(tclient_call(&a, "rttime 100000"));
        threads t = spawn_threads(&a, 1);
        tap_is_int(harness_sh(NULL, "echo %d > %s/tasks", (int) t.tid[1], dir), 0, "the thread is moved into it");
        char *r = tclient_call(&a, "call sched.set {\"tid\": %d, \"policy\": \"fifo\", \"priority\": 1}", (int) t.tid[1]);
        tap_is_int(jint(r, "errno"), EPERM, "SCHED_FIFO fails with EPERM (%s)", r);
        tap_has_str(jstr(r, "message"), "cpu.rt_runtime_us = 0, no realtime budget",
                    "the message names the missing RT budget");
        tap_has_str(jstr(r, "message"), "delegate-test-rt-", "and the cgroup");
        free(r);
        tap_is_int(harness_sched_getattr(t.tid[1]).sched_policy, SCHED_OTHER, "kernel: the thread is still SCHED_OTHER");
        harness_sh(NULL, "echo %d > %s/../tasks", (int) t.tid[1], dir);
        tclient_stop(&a);
        harness_sh(NULL, "rmdir %s", dir);
}

static void sched_fifo(harness *h) {
        tclient a;
        start_client(h, &a, POD_A, 1000);
        free(tclient_call(&a, "rttime 100000"));
        threads t = spawn_threads(&a, 2);

        char *r = tclient_call(&a, "call sched.set {\"tid\": %d, \"policy\": \"fifo\", \"priority\": 5}", (int) t.tid[1]);
        tap_is_int(jint(r, "ok"), 1, "SCHED_FIFO priority 5 for a vCPU thread succeeds (%s)", r);
        tap_is_str(jstr(r, "result.policy"), "fifo", "the reply reads back fifo");
        tap_is_int(jint(r, "result.priority"), 5, "and priority 5");
        tap_is_int(jint(r, "result.reset_on_fork"), 1, "and SCHED_RESET_ON_FORK");
        free(r);
        harness_sched_attr x = harness_sched_getattr(t.tid[1]);
        tap_is_int(x.sched_policy, SCHED_FIFO, "kernel: the thread is SCHED_FIFO");
        tap_is_int(x.sched_priority, 5, "kernel: priority 5");
        tap_ok(x.sched_flags & 1 /* SCHED_FLAG_RESET_ON_FORK */, "kernel: reset-on-fork is set");
        x = harness_sched_getattr(t.tid[2]);
        tap_is_int(x.sched_policy, SCHED_OTHER, "kernel: the other thread is untouched");

        r = tclient_call(&a, "call sched.set {\"tid\": %d, \"policy\": \"fifo\", \"priority\": 11}", (int) t.tid[2]);
        tap_is_str(jstr(r, "code"), "denied", "priority above the ceiling is denied (%s)", r);
        tap_has_str(jstr(r, "message"), "max_priority 10", "the message names the ceiling");
        free(r);
        tap_is_int(harness_sched_getattr(t.tid[2]).sched_policy, SCHED_OTHER, "kernel: still SCHED_OTHER");

        r = tclient_call(&a, "call sched.set {\"tid\": %d, \"policy\": \"batch\", \"nice\": 5, \"cpus\": \"0\"}",
                 (int) t.tid[2]);
        tap_is_int(jint(r, "ok"), 1, "SCHED_BATCH nice 5 on CPU 0 succeeds (%s)", r);
        tap_is_str(jstr(r, "result.cpus"), "0", "the reply reads back the affinity");
        free(r);
        x = harness_sched_getattr(t.tid[2]);
        tap_is_int(x.sched_policy, SCHED_BATCH, "kernel: SCHED_BATCH");
        tap_is_int(x.sched_nice, 5, "kernel: nice 5");
        cpu_set_t set;
        CPU_ZERO(&set);
        tap_is_int(sched_getaffinity(t.tid[2], sizeof(set), &set), 0, "read the affinity");
        tap_ok(CPU_ISSET(0, &set) && CPU_COUNT(&set) == 1, "kernel: the thread runs on CPU 0 only");

        r = tclient_call(&a, "call sched.set {\"tid\": %d, \"policy\": \"other\", \"cpus\": \"1\"}", (int) t.tid[2]);
        tap_is_str(jstr(r, "code"), "denied", "affinity outside the allowed cpus is denied (%s)", r);
        tap_has_str(jstr(r, "message"), "CPU 1", "the message names the CPU");
        free(r);

        r = tclient_call(&a, "call sched.set {\"tid\": %d, \"policy\": \"other\", \"nice\": -5}", (int) t.tid[2]);
        tap_is_str(jstr(r, "code"), "denied", "nice below min_nice is denied (%s)", r);
        free(r);

        r = tclient_call(&a, "call sched.set {\"tid\": %d, \"policy\": \"idle\"}", (int) t.tid[2]);
        tap_is_str(jstr(r, "code"), "denied", "a policy the rule does not list is denied (%s)", r);
        free(r);

        r = tclient_call(&a, "call sched.set {\"tid\": %d, \"policy\": \"fifo\", \"priority\": 1}", (int) h->broker_pid);
        tap_is_str(jstr(r, "code"), "denied", "the broker's own thread is refused (%s)", r);
        free(r);
        tap_is_int(harness_sched_getattr(h->broker_pid).sched_policy, SCHED_OTHER, "kernel: the broker is still SCHED_OTHER");

        r = tclient_call(&a, "call sched.set {\"tid\": %d, \"policy\": \"fifo\"}", (int) t.tid[2]);
        tap_is_str(jstr(r, "code"), "bad-request", "fifo without a priority is a bad request (%s)", r);
        free(r);

        free(tclient_call(&a, "reap %d", (int) t.pid));
        tclient_stop(&a);
}

static void sched_rttime(harness *h) {
        tclient a;
        start_client(h, &a, POD_A, 1000);
        threads t = spawn_threads(&a, 1);
        char *r = tclient_call(&a, "call sched.set {\"tid\": %d, \"policy\": \"fifo\", \"priority\": 1}", (int) t.tid[1]);
        tap_is_str(jstr(r, "code"), "denied", "fifo for a process without RLIMIT_RTTIME is denied (%s)", r);
        tap_has_str(jstr(r, "message"), "RLIMIT_RTTIME", "the message names RLIMIT_RTTIME");
        tap_has_str(jstr(r, "message"), "unlimited", "and what the process has");
        free(r);
        tap_is_int(harness_sched_getattr(t.tid[1]).sched_policy, SCHED_OTHER, "kernel: still SCHED_OTHER");

        free(tclient_call(&a, "rttime 300000"));
        threads u = spawn_threads(&a, 1);
        r = tclient_call(&a, "call sched.set {\"tid\": %d, \"policy\": \"rr\", \"priority\": 1}", (int) u.tid[1]);
        tap_is_str(jstr(r, "code"), "denied", "an RLIMIT_RTTIME above max_rttime_us is denied (%s)", r);
        tap_has_str(jstr(r, "message"), "300000 us", "the message names the process's limit");
        free(r);

        free(tclient_call(&a, "rttime 200000"));
        threads v = spawn_threads(&a, 1);
        r = tclient_call(&a, "call sched.set {\"tid\": %d, \"policy\": \"rr\", \"priority\": 2}", (int) v.tid[1]);
        tap_is_int(jint(r, "ok"), 1, "with RLIMIT_RTTIME at max_rttime_us, SCHED_RR is granted (%s)", r);
        free(r);
        tap_is_int(harness_sched_getattr(v.tid[1]).sched_policy, SCHED_RR, "kernel: SCHED_RR");
        free(tclient_call(&a, "reap %d", (int) t.pid));
        free(tclient_call(&a, "reap %d", (int) u.pid));
        free(tclient_call(&a, "reap %d", (int) v.pid));
        tclient_stop(&a);
}

static void sched_burst(harness *h) {
        tclient a;
        start_client(h, &a, POD_A, 1000);
        free(tclient_call(&a, "rttime 100000"));
        threads t = spawn_threads(&a, 4);
        for (int i = 1; i <= 3; i++) {
                char *r = tclient_call(&a, "call sched.set {\"tid\": %d, \"policy\": \"fifo\", \"priority\": 1}",
                               (int) t.tid[i]);
                tap_is_int(jint(r, "ok"), 1, "change %d of the burst of 3 succeeds", i);
                free(r);
        }
        char *r = tclient_call(&a, "call sched.set {\"tid\": %d, \"policy\": \"fifo\", \"priority\": 1}", (int) t.tid[4]);
        tap_is_str(jstr(r, "code"), "rate-limited", "the 4th change within 60 s is rate-limited (%s)", r);
        tap_has_str(jstr(r, "message"), "retry in", "the message says when to retry");
        tap_is_str(jstr(r, "rule"), "bursty", "and names the rule");
        free(r);
        tap_is_int(harness_sched_getattr(t.tid[4]).sched_policy, SCHED_OTHER, "kernel: the 4th thread is still SCHED_OTHER");
        free(tclient_call(&a, "reap %d", (int) t.pid));
        tclient_stop(&a);
}

/* The same cgroup.move checks with openat2() failing with ENOSYS, as under
 * the unit's RestrictSUIDSGID=: the broker's component walk must be as strict. */
static void cgroup_move_no_openat2(harness *h) {
        char real[4096];
        snprintf(real, sizeof(real), "%s", getenv("DELEGATE_BROKER"));
        harness_stop_broker(h);
        setenv("NO_OPENAT2_EXEC", real, 1);
        setenv("DELEGATE_BROKER", getenv("DELEGATE_NO_OPENAT2"), 1);
        tap_is_int(harness_start_broker(h), 0, "the broker runs with openat2() failing with ENOSYS");
        setenv("DELEGATE_BROKER", real, 1);
        cgroup_move_threads(h);
        cgroup_move_refused(h);
}

static const scenario scenarios[] = {
        { "sched-rt-budget", policy_main, sched_rt_budget },
        { "cgroup-move-threads", policy_main, cgroup_move_threads },
        { "cgroup-move-process", policy_main, cgroup_move_process },
        { "cgroup-move-refused", policy_main, cgroup_move_refused },
        { "cgroup-move-no-openat2", policy_main, cgroup_move_no_openat2 },
        { "sched-fifo", policy_main, sched_fifo },
        { "sched-rttime", policy_main, sched_rttime },
        { "sched-burst", policy_burst, sched_burst },
};

int main(int argc, char **argv) {
        return harness_main(argc, argv, scenarios, sizeof(scenarios) / sizeof(scenarios[0]));
}
