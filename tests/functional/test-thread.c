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
#include <sched.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "thread-scenario.h"

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
        tap_ok(harness_log_contains("; moved 2 of 2 threads to cgroup /" POD_A "/housekeeping"),
               "the request's audit record says what was moved");

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

/*
 * The broker keeps a session's threaded targets open (their cgroup.threads)
 * and writes there without walking and checking the path again while the
 * target exists.  Removed and made again under the same name, as a domain
 * cgroup, it is another cgroup: threads are refused there, and moved into
 * it once it is threaded.
 */
static void cgroup_target_recreated(harness *h) {
        tclient a;
        char path[600], hk[512], want[128], ids[64];
        start_client(h, &a, POD_A, 1000);
        threads t = spawn_threads(&a, 2);
        snprintf(want, sizeof(want), "/%s/housekeeping", POD_A);
        harness_cgroup_path(h, POD_A "/housekeeping", hk, sizeof(hk));

        char *r = tclient_call(&a, "call cgroup.move {\"tids\": [%d], \"target\": \"housekeeping\", \"create\": true}",
                               (int) t.tid[1]);
        tap_is_int(jint(r, "result.moved"), 1, "thread 1 moves into a created housekeeping (%s)", r);
        free(r);
        r = tclient_call(&a, "call cgroup.move {\"tids\": [%d], \"target\": \"housekeeping\"}", (int) t.tid[2]);
        tap_is_int(jint(r, "result.moved"), 1, "thread 2 moves into the same target (%s)", r);
        tap_is_str(jstr(r, "result.threads.0.cgroup"), want, "read back there");
        free(r);
        tap_is_str(harness_task_cgroup(t.pid, t.tid[2]), want, "kernel: thread 2 is in housekeeping");

        /* root: both back to the pod cgroup, housekeeping removed and made again (a domain cgroup) */
        harness_cgroup_path(h, POD_A "/cgroup.threads", path, sizeof(path));
        for (int i = 1; i <= 2; i++) {
                snprintf(ids, sizeof(ids), "%d", (int) t.tid[i]);
                tap_is_int(harness_write_file(path, ids), 0, "root moves thread %d back to the pod cgroup", i);
        }
        tap_is_int(rmdir(hk), 0, "root removes housekeeping");
        tap_is_int(mkdir(hk, 0755), 0, "and makes it again");
        snprintf(path, sizeof(path), "%s/cgroup.type", hk);
        harness_read_line(path, ids, sizeof(ids));
        tap_is_str(ids, "domain", "kernel: the new housekeeping is a domain cgroup");

        r = tclient_call(&a, "call cgroup.move {\"tids\": [%d], \"target\": \"housekeeping\"}", (int) t.tid[1]);
        tap_is_str(jstr(r, "code"), "bad-request", "threads are refused by the new, domain housekeeping (%s)", r);
        tap_has_str(jstr(r, "message"), "threaded", "saying a threaded cgroup is needed");
        free(r);
        tap_is_str(harness_task_cgroup(t.pid, t.tid[1]), "/" POD_A, "kernel: thread 1 stayed in the pod cgroup");

        tap_is_int(harness_write_file(path, "threaded"), 0, "root makes the new housekeeping threaded");
        r = tclient_call(&a, "call cgroup.move {\"tids\": [%d], \"target\": \"housekeeping\"}", (int) t.tid[1]);
        tap_is_int(jint(r, "result.moved"), 1, "now thread 1 moves into it (%s)", r);
        tap_is_int(jint(r, "result.created"), 0, "which the broker did not create");
        free(r);
        tap_is_str(harness_task_cgroup(t.pid, t.tid[1]), want, "kernel: thread 1 is in the new housekeeping");
        free(tclient_call(&a, "reap %d", (int) t.pid));
        tclient_stop(&a);
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
        char rec[160];
        snprintf(rec, sizeof(rec), "safety rttime; thread %d is now fifo priority 5 nice 0 on CPUs ", (int) t.tid[1]);
        tap_ok(harness_log_contains(rec), "the request's audit record says what the kernel read back (%s)", rec);
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

/*
 * The broker keeps the last thread a session named pinned (its pidfd and
 * /proc cgroup file) for the next request.  That thread exits and its id
 * goes to a thread of another pod (through /proc/sys/kernel/ns_last_pid,
 * tried up to 100 times): the id is resolved anew and refused, and the
 * other pod's thread is left alone.
 */
static void sched_tid_reused(harness *h) {
        tclient a, b;
        start_client(h, &a, POD_A, 1000);
        start_client(h, &b, POD_B, 1001);
        free(tclient_call(&a, "rttime 100000"));
        threads t = spawn_threads(&a, 1);
        for (int i = 0; i < 2; i++) {
                char *r = tclient_call(&a, "call sched.set {\"tid\": %d, \"policy\": \"%s\"%s}", (int) t.tid[1],
                                       i ? "fifo" : "batch", i ? ", \"priority\": 1" : "");
                tap_is_int(jint(r, "ok"), 1, "sched.set %s of a thread in the pod succeeds (%s)", i ? "fifo" : "batch", r);
                free(r);
        }
        free(tclient_call(&a, "reap %d", (int) t.pid));

        /* pod-b's new process (its main thread) or its second thread gets the id */
        pid_t T = t.tid[1];
        int tries;
        threads u = spawn_with_id(&b, T, true, &tries);
        tap_ok(u.tid[0] == T || u.tid[1] == T, "a thread of pod-b got tid %d again (%d tries)", (int) T, tries);
        for (int i = 0; i < 2; i++) {
                char *r = tclient_call(&a, "call sched.set {\"tid\": %d, \"policy\": \"%s\"%s}", (int) t.tid[1],
                                       i ? "fifo" : "batch", i ? ", \"priority\": 1" : "");
                tap_is_str(jstr(r, "code"), "denied", "pod-a naming that tid again is refused (%s)", r);
                tap_has_str(jstr(r, "message"), "not a thread of the caller", "it is not pod-a's");
                free(r);
        }
        harness_sched_attr x = harness_sched_getattr(T);
        tap_is_int(x.sched_policy, SCHED_OTHER, "kernel: pod-b's thread is still SCHED_OTHER");
        free(tclient_call(&b, "reap %d", (int) u.pid));
        tclient_stop(&a);
        tclient_stop(&b);
}

/* The same cgroup.move checks with openat2() failing with ENOSYS, as under
 * the unit's RestrictSUIDSGID=: the broker's component walk must be as strict. */
static void cgroup_move_no_openat2(harness *h) {
        tap_is_int(harness_restart_broker_through(h, "DELEGATE_NO_OPENAT2", "NO_OPENAT2_EXEC"), 0,
                   "the broker runs with openat2() failing with ENOSYS");
        cgroup_move_threads(h);
        cgroup_move_refused(h);
}

static bool runs_only_on(pid_t tid, int cpu) {
        cpu_set_t set;
        CPU_ZERO(&set);
        return sched_getaffinity(tid, sizeof(set), &set) == 0 && CPU_ISSET(cpu, &set) && CPU_COUNT(&set) == 1;
}

static void sched_dedicated(harness *h) {
        if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
                tap_skip_all("safety \"dedicated\" on CPU 1 needs 2 online CPUs");
        tclient a;
        start_client(h, &a, POD_A, 1000);
        threads t = spawn_threads(&a, 3);
        /* no RLIMIT_RTTIME at all: the test-client runs with the default (unlimited) */
        char *r = tclient_call(&a, "call sched.set {\"tid\": %d, \"policy\": \"fifo\", \"priority\": 3}", (int) t.tid[1]);
        tap_is_int(jint(r, "ok"), 1, "fifo without RLIMIT_RTTIME is granted under safety dedicated (%s)", r);
        tap_is_str(jstr(r, "result.cpus"), "1", "the reply reads back the rule's CPU 1");
        free(r);
        harness_sched_attr x = harness_sched_getattr(t.tid[1]);
        tap_is_int(x.sched_policy, SCHED_FIFO, "kernel: SCHED_FIFO");
        tap_is_int(x.sched_priority, 3, "kernel: priority 3");
        tap_ok(x.sched_flags & 1, "kernel: reset-on-fork");
        tap_ok(runs_only_on(t.tid[1], 1), "kernel: the broker confined the thread to CPU 1");

        r = tclient_call(&a, "call sched.set {\"tid\": %d, \"policy\": \"fifo\", \"priority\": 3, \"cpus\": \"0\"}",
                         (int) t.tid[2]);
        tap_is_str(jstr(r, "code"), "denied", "realtime on a CPU the rule does not list is denied (%s)", r);
        tap_has_str(jstr(r, "message"), "CPU 0", "the message names the CPU");
        free(r);
        r = tclient_call(&a, "call sched.set {\"tid\": %d, \"policy\": \"fifo\", \"priority\": 11}", (int) t.tid[2]);
        tap_is_str(jstr(r, "code"), "denied", "the priority ceiling still holds (%s)", r);
        free(r);
        tap_is_int(harness_sched_getattr(t.tid[2]).sched_policy, SCHED_OTHER, "kernel: still SCHED_OTHER");

        /* RT throttling off.  The sysctl is global and other work shares this machine, so the
         * kernel's -1 is shown to the broker by a file mounted over it in this scenario's
         * private mount namespace, which the broker shares; the real sysctl is untouched. */
        const char *sysctl = "/proc/sys/kernel/sched_rt_runtime_us";
        tap_is_int(harness_sh(NULL, "echo -1 > /run/delegate-test/rt_runtime_off && mount --bind "
                                    "/run/delegate-test/rt_runtime_off %s", sysctl), 0,
                   "sched_rt_runtime_us reads -1 in this scenario's mount namespace");
        r = tclient_call(&a, "call sched.set {\"tid\": %d, \"policy\": \"fifo\", \"priority\": 3}", (int) t.tid[3]);
        tap_is_str(jstr(r, "code"), "denied", "with RT throttling off, realtime is denied (%s)", r);
        tap_has_str(jstr(r, "message"), "RT throttling is off (sched_rt_runtime_us is -1)", "saying why");
        free(r);
        tap_is_int(harness_sched_getattr(t.tid[3]).sched_policy, SCHED_OTHER, "kernel: still SCHED_OTHER");
        tap_is_int(harness_sh(NULL, "umount %s", sysctl), 0, "the kernel's value is back");
        /* read at each decision: the same request now goes through */
        r = tclient_call(&a, "call sched.set {\"tid\": %d, \"policy\": \"fifo\", \"priority\": 3}", (int) t.tid[3]);
        tap_is_int(jint(r, "ok"), 1, "with throttling in force again it is granted (%s)", r);
        free(r);
        tap_ok(runs_only_on(t.tid[3], 1), "kernel: on CPU 1");

        /* a thread that is not realtime is not confined */
        r = tclient_call(&a, "call sched.set {\"tid\": %d, \"policy\": \"other\"}", (int) t.tid[2]);
        tap_is_int(jint(r, "ok"), 1, "SCHED_OTHER is granted (%s)", r);
        free(r);
        tap_ok(!runs_only_on(t.tid[2], 1), "kernel: a SCHED_OTHER thread keeps its affinity");
        free(tclient_call(&a, "reap %d", (int) t.pid));
        tclient_stop(&a);
}

/*
 * The pod check of a named thread, once the broker has seen that thread
 * in the pod: the broker keeps the ids of cgroups it found in the pod and
 * reads no path for a thread whose cgroup id (PIDFD_GET_INFO) is one of
 * them.  A thread moved out of the pod between two requests has another
 * cgroup id, so the second request is still checked and refused.
 */
static void thread_moved_out(harness *h) {
        tclient a;
        char path[512], pid[32];
        start_client(h, &a, POD_A, 1000);
        threads t = spawn_threads(&a, 2);

        char *r = tclient_call(&a, "call sched.set {\"tid\": %d, \"policy\": \"batch\"}", (int) t.tid[1]);
        tap_is_int(jint(r, "ok"), 1, "sched.set of a thread in the pod succeeds (%s)", r);
        free(r);
        r = tclient_call(&a, "call cgroup.move {\"tids\": [%d], \"target\": \"housekeeping\", \"create\": true}",
                         (int) t.tid[2]);
        tap_is_int(jint(r, "ok"), 1, "cgroup.move of another into housekeeping succeeds (%s)", r);
        free(r);
        r = tclient_call(&a, "call sched.set {\"tid\": %d, \"policy\": \"batch\"}", (int) t.tid[2]);
        tap_is_int(jint(r, "ok"), 1, "sched.set of the thread now in housekeeping succeeds (%s)", r);
        free(r);

        /* root moves the whole process into pod-b (its housekeeping thread first: threaded
         * cgroups keep their domain's process) */
        harness_cgroup_path(h, POD_A "/cgroup.threads", path, sizeof(path));
        snprintf(pid, sizeof(pid), "%d", (int) t.tid[2]);
        tap_is_int(harness_write_file(path, pid), 0, "root moves the housekeeping thread back to the pod cgroup");
        harness_cgroup_path(h, POD_B "/cgroup.procs", path, sizeof(path));
        snprintf(pid, sizeof(pid), "%d", (int) t.pid);
        tap_is_int(harness_write_file(path, pid), 0, "root moves the threads' process into pod-b");
        tap_is_str(harness_task_cgroup(t.pid, t.tid[1]), "/" POD_B, "kernel: the thread is in pod-b");

        for (int i = 1; i <= 2; i++) {
                r = tclient_call(&a, "call sched.set {\"tid\": %d, \"policy\": \"other\", \"nice\": 3}", (int) t.tid[i]);
                tap_is_str(jstr(r, "code"), "denied", "sched.set of thread %d, now outside the pod, is refused (%s)", i, r);
                tap_has_str(jstr(r, "message"), "outside the caller's cgroup", "saying where it is");
                free(r);
                tap_is_int(harness_sched_getattr(t.tid[i]).sched_policy, SCHED_BATCH, "kernel: thread %d is still SCHED_BATCH", i);
        }
        r = tclient_call(&a, "call cgroup.move {\"tids\": [%d], \"target\": \"housekeeping\"}", (int) t.tid[2]);
        tap_is_str(jstr(r, "code"), "denied", "cgroup.move of it back into the pod is refused (%s)", r);
        free(r);
        tap_is_str(harness_task_cgroup(t.pid, t.tid[2]), "/" POD_B, "kernel: it stayed in pod-b");
        free(tclient_call(&a, "reap %d", (int) t.pid));
        tclient_stop(&a);
}

/* The thread scenarios with PIDFD_GET_INFO failing with ENOTTY, as before Linux 6.13: the broker
 * resolves thread ids through /proc, with every check as strict. */
static void threads_no_pidfd_info(harness *h) {
        /* PIDFD_GET_INFO: _IOWR(0xFF, 11, struct pidfd_info) (include/uapi/linux/pidfd.h) */
        setenv("DENY_CALLS", "ioctl:0xc040ff0b", 1);
        tap_is_int(harness_restart_broker_through(h, "DELEGATE_DENY_CALLS", "DENY_CALLS_EXEC"), 0,
                   "the broker runs with PIDFD_GET_INFO failing with ENOTTY");
        sched_fifo(h);
        cgroup_move_threads(h);
        cgroup_move_refused(h);
        thread_moved_out(h);
        sched_tid_reused(h);
}

/* /proc/PID/limits unreadable (reads of 3071 bytes, its reader's, fail): a system error naming it, not "exited".
 * The broker reads it only without CAP_SYS_RESOURCE (else prlimit()): it runs without. */
static void thread_file_unreadable(harness *h) {
        tclient a;
        threads t;
        char *r = sched_fifo_denied(h, "pread64:3071", "the broker's 3071-byte reads fail with EPERM", 0, &a, &t);
        tap_ok(!strcmp(jstr(r, "code"), "system") && jint(r, "errno") == EPERM &&
               strstr(jstr(r, "message"), "cannot read /proc/PID/limits of thread"), "a system error naming it (%s)", r);
        free(r);
        free(tclient_call(&a, "reap %d", (int) t.pid));
        tclient_stop(&a);
}

static const scenario scenarios[] = {
        { "cgroup-move-threads", policy_main, cgroup_move_threads },
        { "cgroup-move-process", policy_main, cgroup_move_process },
        { "cgroup-move-refused", policy_main, cgroup_move_refused },
        { "cgroup-move-no-openat2", policy_main, cgroup_move_no_openat2 },
        { "sched-fifo", policy_main, sched_fifo },
        { "sched-dedicated", policy_dedicated, sched_dedicated },
        { "thread-file-unreadable", policy_main, thread_file_unreadable },
        { "thread-moved-out", policy_main, thread_moved_out },
        { "cgroup-target-recreated", policy_main, cgroup_target_recreated },
        { "sched-tid-reused", policy_main, sched_tid_reused },
        { "threads-no-pidfd-info", policy_main, threads_no_pidfd_info },
};

int main(int argc, char **argv) {
        return harness_main(argc, argv, scenarios, sizeof(scenarios) / sizeof(scenarios[0]));
}
