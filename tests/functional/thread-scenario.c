/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * thread-scenario.c - the pods' policies and the helpers of the thread
 * scenarios (thread-scenario.h).
 */
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>

#include "thread-scenario.h"

const char policy_main[] =
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

const char policy_burst[] =
        "{ \"version\": 1,\n"
        "  \"rules\": [\n"
        "    { \"name\": \"bursty\",\n"
        "      \"match\": { \"uid\": \"1000-1999\" },\n"
        "      \"sched\": { \"policies\": [\"fifo\"], \"max_priority\": 10, \"max_rttime_us\": 200000,\n"
        "                 \"burst\": \"3/60s\" } }\n"
        "  ]\n"
        "}\n";

const char policy_dedicated[] =
        "{ \"version\": 1,\n"
        "  \"rules\": [\n"
        "    { \"name\": \"dedicated\",\n"
        "      \"match\": { \"uid\": \"1000-1999\" },\n"
        "      \"sched\": { \"policies\": [\"other\", \"fifo\"], \"max_priority\": 10,\n"
        "                 \"safety\": \"dedicated\", \"cpus\": \"1\" } }\n"
        "  ]\n"
        "}\n";

threads spawn_threads_rttime(tclient *c, int n, unsigned long rttime) {
        threads t = { 0 };
        char *r = tclient_call(c, "threads %d %lu", n, rttime);
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

threads spawn_threads(tclient *c, int n) {
        return spawn_threads_rttime(c, n, 0);
}

threads spawn_with_id(tclient *c, pid_t id, bool thread_too, int *ret_tries) {
        threads u = { 0 };
        char last[32];
        int tries = 0;
        for (; tries < 100 && u.tid[0] != id && !(thread_too && u.tid[1] == id); tries++) {
                if (u.pid > 0)
                        free(tclient_call(c, "reap %d", (int) u.pid));
                snprintf(last, sizeof(last), "%d", (int) id - 1 - (thread_too ? tries % 2 : 0));
                if (harness_write_file("/proc/sys/kernel/ns_last_pid", last) < 0)
                        break;
                char *s = tclient_call(c, "threads 1");
                u = (threads) { .pid = (pid_t) jint(s, "pid"), .tid = { (pid_t) jint(s, "tids.0"), (pid_t) jint(s, "tids.1") } };
                free(s);
        }
        *ret_tries = tries;
        return u;
}

void start_client(harness *h, tclient *c, const char *pod, uid_t uid) {
        if (tclient_start(h, c, pod, uid, uid, "vm-a") < 0)
                tap_ok(0, "start test-client in %s as uid %u", pod, (unsigned) uid);
}

/* Is capability @cap in the effective set of process @pid (/proc/PID/status)? */
static bool has_effective_cap(pid_t pid, int cap) {
        char path[64], line[256];
        unsigned long long eff = 0;
        bool found = false;
        snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
        FILE *f = fopen(path, "re");
        while (f && !found && fgets(line, sizeof(line), f))
                found = sscanf(line, "CapEff: %llx", &eff) == 1;
        if (f)
                fclose(f);
        return found && (eff >> cap & 1);
}

void broker_without_sys_resource(harness *h, const char *wrapper_var, const char *exec_var) {
        tap_diag("the broker was started with%s CAP_SYS_RESOURCE", has_effective_cap(h->broker_pid, CAP_SYS_RESOURCE)
                 ? "" : "out");
        tap_is_int(prctl(PR_CAPBSET_DROP, CAP_SYS_RESOURCE, 0, 0, 0), 0, "CAP_SYS_RESOURCE leaves the bounding set");
        int r;
        if (wrapper_var)
                r = harness_restart_broker_through(h, wrapper_var, exec_var);
        else {
                harness_stop_broker(h);
                r = harness_start_broker(h);
        }
        tap_is_int(r, 0, "the broker restarts without it");
        tap_ok(r == 0 && !has_effective_cap(h->broker_pid, CAP_SYS_RESOURCE), "the broker lacks CAP_SYS_RESOURCE");
        tap_diag("path under test: RLIMIT_RTTIME read from /proc/PID/limits and kept per session, not prlimit() "
                 "(a pod's process has another uid than the broker)");
}

char *sched_fifo_denied(harness *h, const char *deny, const char *what, unsigned long rttime, tclient *c,
                        threads *t) {
        setenv("DENY_CALLS", deny, 1);
        broker_without_sys_resource(h, "DELEGATE_DENY_CALLS", "DENY_CALLS_EXEC");
        tap_diag("%s", what);
        start_client(h, c, POD_A, 1000);
        *t = spawn_threads_rttime(c, 1, rttime);
        return tclient_call(c, "call sched.set {\"tid\": %d, \"policy\": \"fifo\", \"priority\": 1}", (int) t->tid[1]);
}
