/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * thread-scenario.c - the pods' policies and the helpers of the thread
 * scenarios (thread-scenario.h).
 */
#include <stdio.h>
#include <stdlib.h>

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
