/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-sched - functional scenarios of sched.set's realtime checks: the
 * rule's safety "rttime" (the target process's hard RLIMIT_RTTIME, which a
 * session reads once per process and keeps while that process lives and
 * the value is within the rule), the burst limit, and the cgroup v1 RT
 * budget (cpu.rt_runtime_us), which the kernel checks in sched_setattr()
 * and the broker explains when the kernel refuses.  Assertions read the
 * kernel: sched_getattr(2), sched_getaffinity(2).
 */
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "thread-scenario.h"

/* realtime with an affinity, a burst of 3 a minute */
static const char policy_budget[] =
        "{ \"version\": 1,\n"
        "  \"rules\": [\n"
        "    { \"name\": \"budget\",\n"
        "      \"match\": { \"uid\": \"1000-1999\" },\n"
        "      \"sched\": { \"policies\": [\"other\", \"fifo\"], \"max_priority\": 10, \"max_rttime_us\": 200000,\n"
        "                 \"cpus\": \"0\", \"burst\": \"3/60s\" } }\n"
        "  ]\n"
        "}\n";

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

/*
 * The broker keeps what it read of a session's last target process's
 * RLIMIT_RTTIME from /proc (it runs without CAP_SYS_RESOURCE here, else it
 * would ask prlimit() each time), with that process pinned by a pidfd.  That process exits
 * and its pid goes to a new process of the pod without a finite
 * RLIMIT_RTTIME: the new one's limit is what counts, not the one kept.  The
 * pid is handed out again through /proc/sys/kernel/ns_last_pid (other work
 * on the machine may take it first: tried again, up to 100 times).
 */
static void sched_rttime_pid_reused(harness *h) {
        tclient a;
        broker_without_sys_resource(h, NULL, NULL);
        start_client(h, &a, POD_A, 1000);
        threads t = spawn_threads_rttime(&a, 1, 100000);
        char *r = tclient_call(&a, "call sched.set {\"tid\": %d, \"policy\": \"fifo\", \"priority\": 1}", (int) t.tid[1]);
        tap_is_int(jint(r, "ok"), 1, "fifo for a thread of a process with RLIMIT_RTTIME 100 ms is granted (%s)", r);
        free(r);
        free(tclient_call(&a, "reap %d", (int) t.pid));

        int tries;
        threads u = spawn_with_id(&a, t.pid, false, &tries);
        tap_is_int(u.pid, t.pid, "a new process of the pod (RLIMIT_RTTIME unlimited) got pid %d again (%d tries)",
                   (int) t.pid, tries);
        r = tclient_call(&a, "call sched.set {\"tid\": %d, \"policy\": \"fifo\", \"priority\": 1}", (int) u.tid[1]);
        tap_is_str(jstr(r, "code"), "denied", "fifo for its thread is denied: its own limit counts (%s)", r);
        tap_has_str(jstr(r, "message"), "unlimited", "saying what it has");
        free(r);
        tap_is_int(harness_sched_getattr(u.tid[1]).sched_policy, SCHED_OTHER, "kernel: still SCHED_OTHER");
        free(tclient_call(&a, "reap %d", (int) u.pid));
        tclient_stop(&a);
}


/* The pod's client sets the hard (and soft) RLIMIT_RTTIME of its child @pid to @us (root may not here:
 * CAP_SYS_RESOURCE is what lets another uid's process do so). */
static bool set_rttime(tclient *c, pid_t pid, unsigned long us) {
        char *r = tclient_call(c, "rttime %lu %d", us, (int) pid);
        bool ok = jint(r, "ok") == 1;
        free(r);
        return ok;
}

/*
 * The session keeps the hard RLIMIT_RTTIME it read from /proc (the broker
 * runs without CAP_SYS_RESOURCE) of its last target process while that
 * process lives, but only a value within the rule: a
 * process may lower its limit at any time, so one found too high (or
 * unlimited) is read again at the next request, and one kept is compared
 * with the rule in force (a reload may lower max_rttime_us).
 */
static void sched_rttime_lowered(harness *h) {
        tclient a;
        broker_without_sys_resource(h, NULL, NULL);
        start_client(h, &a, POD_A, 1000);
        threads t = spawn_threads(&a, 3);
        char *r = tclient_call(&a, "call sched.set {\"tid\": %d, \"policy\": \"fifo\", \"priority\": 1}", (int) t.tid[1]);
        tap_is_str(jstr(r, "code"), "denied", "fifo for a process without RLIMIT_RTTIME is denied (%s)", r);
        tap_has_str(jstr(r, "message"), "unlimited", "saying what it has");
        free(r);
        tap_ok(set_rttime(&a, t.pid, 300000), "its hard RLIMIT_RTTIME is lowered to 300 ms");
        r = tclient_call(&a, "call sched.set {\"tid\": %d, \"policy\": \"fifo\", \"priority\": 1}", (int) t.tid[1]);
        tap_is_str(jstr(r, "code"), "denied", "still above max_rttime_us: denied (%s)", r);
        tap_has_str(jstr(r, "message"), "300000 us", "the new limit is what the broker read");
        free(r);
        tap_ok(set_rttime(&a, t.pid, 150000), "lowered again, to 150 ms, within the rule");
        r = tclient_call(&a, "call sched.set {\"tid\": %d, \"policy\": \"fifo\", \"priority\": 1}", (int) t.tid[1]);
        tap_is_int(jint(r, "ok"), 1, "the same thread is granted now (%s)", r);
        free(r);
        tap_is_int(harness_sched_getattr(t.tid[1]).sched_policy, SCHED_FIFO, "kernel: SCHED_FIFO");
        r = tclient_call(&a, "call sched.set {\"tid\": %d, \"policy\": \"fifo\", \"priority\": 1}", (int) t.tid[2]);
        tap_is_int(jint(r, "ok"), 1, "another thread of that process is granted (%s)", r);
        free(r);

        /* a reload lowers the rule's max_rttime_us below the limit the session read */
        char text[2048];
        const char *at = strstr(policy_main, "200000");
        snprintf(text, sizeof(text), "%.*s100000%s", (int) (at - policy_main), policy_main, at + 6);
        harness_write_policy("10-scenario.json", text);
        kill(h->broker_pid, SIGHUP);
        tap_ok(harness_log_contains("policy generation 2 loaded"), "a rule with max_rttime_us 100000 is loaded");
        r = tclient_call(&a, "call sched.set {\"tid\": %d, \"policy\": \"fifo\", \"priority\": 1}", (int) t.tid[3]);
        tap_is_str(jstr(r, "code"), "denied", "the rule in force decides: 150 ms is above it (%s)", r);
        tap_has_str(jstr(r, "message"), "150000 us", "naming the process's limit");
        free(r);
        tap_is_int(harness_sched_getattr(t.tid[3]).sched_policy, SCHED_OTHER, "kernel: that thread is still SCHED_OTHER");
        free(tclient_call(&a, "reap %d", (int) t.pid));
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

/*
 * For scenarios that check a refused request's affinity is put back: our
 * affinity (which the pod's threads inherit) in @set, a skip unless it
 * has CPU 0 and another, so that asking for CPU 0 alone changes it.
 */
static void affinity_wide(cpu_set_t *set) {
        char why[200];
        CPU_ZERO(set);
        if (sched_getaffinity(0, sizeof(*set), set) < 0 || !CPU_ISSET(0, set) || CPU_COUNT(set) < 2) {
                snprintf(why, sizeof(why), "the threads here may run on %d CPU(s), CPU 0 %s: asking for CPU 0 "
                         "alone would not change their affinity, so putting it back could not be seen",
                         CPU_COUNT(set), CPU_ISSET(0, set) ? "among them" : "not among them");
                tap_skip_all(why);
        }
}

/* Thread @tid's affinity is @before (checked first to differ from CPU 0 alone, what was asked for). */
static void affinity_is(pid_t tid, const cpu_set_t *before) {
        cpu_set_t after, asked;
        CPU_ZERO(&after);
        CPU_ZERO(&asked);
        CPU_SET(0, &asked);
        tap_ok(!CPU_EQUAL(before, &asked), "the requests asked for CPU 0 alone, not the thread's %d CPUs",
               CPU_COUNT(before));
        tap_is_int(sched_getaffinity(tid, sizeof(after), &after), 0, "the thread's affinity now");
        tap_ok(CPU_EQUAL(before, &after), "kernel: its affinity is as it was (%d CPUs), not CPU 0", CPU_COUNT(&after));
}

/* The v1 cpu hierarchy, when the kernel gives cgroups an RT budget (CONFIG_RT_GROUP_SCHED). */
static bool cpu_v1_mount(char *buf, size_t size) {
        FILE *f = fopen("/proc/self/mountinfo", "re");
        char line[4096], mnt[1024], opts[1024];
        bool found = false;
        while (f && !found && fgets(line, sizeof(line), f)) {
                char *sep = strstr(line, " - cgroup ");
                if (!sep || sscanf(sep + 10, "%*s %1023s", opts) != 1 || sscanf(line, "%*s %*s %*s %*s %1023s", mnt) != 1)
                        continue;
                for (char *o = strtok(opts, ","); o && !found; o = strtok(NULL, ","))
                        found = strcmp(o, "cpu") == 0;
                if (found)
                        snprintf(buf, size, "%s", mnt);
        }
        if (f)
                fclose(f);
        char p[1100];
        snprintf(p, sizeof(p), "%s/cpu.rt_runtime_us", buf);
        return found && access(p, F_OK) == 0;
}

/* Where the kernel gives cgroups an RT budget (else a skip): its mount in @mnt, the pod's client in @a
 * (RLIMIT_RTTIME 100 ms) and a child of it with @n threads. */
static threads rt_budget_start(harness *h, tclient *a, char *mnt, size_t size, int n) {
        if (!cpu_v1_mount(mnt, size))
                tap_skip_all("the kernel gives cgroups no RT budget here (no v1 cpu hierarchy with cpu.rt_runtime_us)");
        start_client(h, a, POD_A, 1000);
        free(tclient_call(a, "rttime 100000"));
        return spawn_threads(a, n);
}

static void sched_rt_budget(harness *h) {
        char mnt[1024], grp[1200];
        tclient a;
        threads t = rt_budget_start(h, &a, mnt, sizeof(mnt), 1);
        /* a new group gets no realtime time: cpu.rt_runtime_us 0 */
        snprintf(grp, sizeof(grp), "%s/delegate-rt-test.%d", mnt, (int) getpid());
        tap_is_int(mkdir(grp, 0755), 0, "a cpu cgroup of our own");
        tap_is_int(harness_sh(NULL, "cat %s/cpu.rt_runtime_us | grep -qx 0 && echo %d > %s/tasks", grp, (int) t.tid[1],
                              grp), 0, "its cpu.rt_runtime_us is 0; the thread moves in");
        char *r = tclient_call(&a, "call sched.set {\"tid\": %d, \"policy\": \"fifo\", \"priority\": 1}", (int) t.tid[1]);
        tap_is_str(jstr(r, "code"), "denied", "realtime for a thread in a group without RT budget is denied (%s)", r);
        tap_has_str(jstr(r, "message"), "cpu.rt_runtime_us is 0", "saying what is missing");
        tap_has_str(jstr(r, "message"), "/delegate-rt-test.", "and which group");
        free(r);
        /* the kernel agrees: root itself cannot make that thread realtime */
        struct sched_param sp = { .sched_priority = 1 };
        errno = 0;
        tap_ok(sched_setscheduler(t.tid[1], SCHED_FIFO, &sp) < 0 && errno == EPERM,
               "kernel: sched_setscheduler() as root fails with EPERM there too");
        tap_is_int(harness_sh(NULL, "echo %d > %s/tasks", (int) t.tid[1], mnt), 0, "the thread moves back");
        r = tclient_call(&a, "call sched.set {\"tid\": %d, \"policy\": \"fifo\", \"priority\": 1}", (int) t.tid[1]);
        tap_is_int(jint(r, "ok"), 1, "in the root group (it has a budget) it is granted (%s)", r);
        free(r);

        /* the broker keeps each group's cpu.rt_runtime_us open: a group removed and made again under
         * the same name is another group, whose budget is read, not the old one's */
        struct sched_param other = { .sched_priority = 0 };
        tap_is_int(harness_sh(NULL, "echo 10000 > %s/cpu.rt_runtime_us", grp), 0, "our group gets a budget");
        tap_is_int(sched_setscheduler(t.tid[1], SCHED_OTHER, &other), 0, "root makes the thread SCHED_OTHER again");
        tap_is_int(harness_sh(NULL, "echo %d > %s/tasks", (int) t.tid[1], grp), 0, "the thread moves into it");
        r = tclient_call(&a, "call sched.set {\"tid\": %d, \"policy\": \"fifo\", \"priority\": 1}", (int) t.tid[1]);
        tap_is_int(jint(r, "ok"), 1, "with a budget there it is granted (%s)", r);
        free(r);
        tap_is_int(sched_setscheduler(t.tid[1], SCHED_OTHER, &other), 0, "root makes it SCHED_OTHER again");
        tap_is_int(harness_sh(NULL, "echo %d > %s/tasks && rmdir %s && mkdir %s && echo %d > %s/tasks", (int) t.tid[1],
                              mnt, grp, grp, (int) t.tid[1], grp), 0,
                   "the group is removed and made again (budget 0), and the thread moves into the new one");
        r = tclient_call(&a, "call sched.set {\"tid\": %d, \"policy\": \"fifo\", \"priority\": 1}", (int) t.tid[1]);
        tap_is_str(jstr(r, "code"), "denied", "the new group's budget of 0 is what counts: denied (%s)", r);
        tap_has_str(jstr(r, "message"), "cpu.rt_runtime_us is 0", "saying what is missing");
        free(r);
        tap_is_int(harness_sched_getattr(t.tid[1]).sched_policy, SCHED_OTHER, "kernel: still SCHED_OTHER");

        tap_is_int(harness_sh(NULL, "echo 10000 > %s/cpu.rt_runtime_us", grp), 0, "our group gets a budget again");
        r = tclient_call(&a, "call sched.set {\"tid\": %d, \"policy\": \"fifo\", \"priority\": 1}", (int) t.tid[1]);
        tap_is_int(jint(r, "ok"), 1, "granted there (%s)", r);
        free(r);
        tap_is_int(sched_setscheduler(t.tid[1], SCHED_OTHER, &other), 0, "root makes it SCHED_OTHER again");
        tap_is_int(harness_sh(NULL, "echo %d > %s/tasks && mv %s %s.old && mkdir %s && echo %d > %s/tasks",
                              (int) t.tid[1], mnt, grp, grp, grp, (int) t.tid[1], grp), 0,
                   "the group is renamed, another made under its name (budget 0), and the thread moves in");
        r = tclient_call(&a, "call sched.set {\"tid\": %d, \"policy\": \"fifo\", \"priority\": 1}", (int) t.tid[1]);
        tap_is_str(jstr(r, "code"), "denied", "v1 renamed the group: the new one's budget of 0 counts (%s)", r);
        free(r);
        tap_is_int(harness_sh(NULL, "echo %d > %s/tasks && rmdir %s.old", (int) t.tid[1], mnt, grp), 0,
                   "the thread moves back; the renamed group is removed");
        free(tclient_call(&a, "reap %d", (int) t.pid));
        tclient_stop(&a);
        tap_is_int(rmdir(grp), 0, "our cpu cgroup is removed");
}

/*
 * The kernel checks the group's RT budget in sched_setattr() itself; the
 * broker reads the group only when the kernel refuses.  By then the
 * affinity the request asked for was set and a burst slot taken: both are
 * given back, so a refused request leaves the thread and the session's
 * burst as they were.
 */
static void sched_rt_budget_refused(harness *h) {
        char mnt[1024], grp[1200];
        tclient a;
        cpu_set_t before;
        affinity_wide(&before);
        threads t = rt_budget_start(h, &a, mnt, sizeof(mnt), 3);
        tap_is_int(sched_getaffinity(t.tid[1], sizeof(before), &before), 0, "the thread's affinity (%d CPUs)",
                   CPU_COUNT(&before));
        snprintf(grp, sizeof(grp), "%s/delegate-rt-refused.%d", mnt, (int) getpid());
        tap_is_int(mkdir(grp, 0755), 0, "a cpu cgroup of our own");
        tap_is_int(harness_sh(NULL, "cat %s/cpu.rt_runtime_us | grep -qx 0 && echo %d > %s/tasks", grp, (int) t.tid[1],
                              grp), 0, "its cpu.rt_runtime_us is 0; the thread moves in");
        for (int i = 1; i <= 3; i++) {
                char *r = tclient_call(&a, "call sched.set {\"tid\": %d, \"policy\": \"fifo\", \"priority\": 1, "
                                           "\"cpus\": \"0\"}", (int) t.tid[1]);
                tap_is_str(jstr(r, "code"), "denied", "request %d: denied for the group's budget (%s)", i, r);
                tap_has_str(jstr(r, "message"), "/delegate-rt-refused.", "naming the group");
                free(r);
        }
        affinity_is(t.tid[1], &before);
        tap_is_int(harness_sched_getattr(t.tid[1]).sched_policy, SCHED_OTHER, "kernel: still SCHED_OTHER");
        tap_is_int(harness_sh(NULL, "echo %d > %s/tasks && rmdir %s", (int) t.tid[1], mnt, grp), 0,
                   "the thread moves back to the root group (it has a budget); ours is removed");
        for (int i = 1; i <= 3; i++) {
                char *r = tclient_call(&a, "call sched.set {\"tid\": %d, \"policy\": \"fifo\", \"priority\": 1}",
                                       (int) t.tid[i]);
                tap_is_int(jint(r, "ok"), 1, "change %d of the burst of 3 is granted: the refusals took none (%s)", i, r);
                free(r);
        }
        free(tclient_call(&a, "reap %d", (int) t.pid));
        tclient_stop(&a);
}

/*
 * sched_setattr() refuses with EPERM for another reason than a group's RT
 * budget (here a seccomp filter, as an LSM or RLIMIT_RTPRIO without
 * CAP_SYS_NICE would): the answer is "system" with the kernel's errno,
 * never explained as a budget, the affinity set for the request is put
 * back and the refusal takes no burst slot (the 4th of a burst of 3 is
 * refused by the kernel again, not rate-limited).  Runs on every host.
 */
static void sched_setattr_refused(harness *h) {
        cpu_set_t before;
        affinity_wide(&before);
        setenv("DENY_CALLS", "sched_setattr", 1);
        tap_is_int(harness_restart_broker_through(h, "DELEGATE_DENY_CALLS", "DENY_CALLS_EXEC"), 0,
                   "the broker runs with sched_setattr() failing with EPERM");
        tclient a;
        start_client(h, &a, POD_A, 1000);
        threads t = spawn_threads_rttime(&a, 1, 100000);
        tap_is_int(sched_getaffinity(t.tid[1], sizeof(before), &before), 0, "the thread's affinity (%d CPUs)",
                   CPU_COUNT(&before));
        for (int i = 1; i <= 4; i++) {
                char *r = tclient_call(&a, "call sched.set {\"tid\": %d, \"policy\": \"fifo\", \"priority\": 1, "
                                           "\"cpus\": \"0\"}", (int) t.tid[1]);
                tap_ok(!strcmp(jstr(r, "code"), "system") && jint(r, "errno") == EPERM,
                       "request %d (the rule allows a burst of 3): system, EPERM (%s)", i, r);
                tap_ok(strstr(jstr(r, "message"), "sched_setattr") && !strstr(jstr(r, "message"), "budget") &&
                       !strstr(jstr(r, "message"), "rt_runtime"), "naming sched_setattr, not an RT budget");
                free(r);
        }
        affinity_is(t.tid[1], &before);
        tap_is_int(harness_sched_getattr(t.tid[1]).sched_policy, SCHED_OTHER, "kernel: still SCHED_OTHER");
        free(tclient_call(&a, "reap %d", (int) t.pid));
        tclient_stop(&a);
}

/*
 * The broker pins a target process with pidfd_open() before reading its
 * /proc/PID/limits (without CAP_SYS_RESOURCE); when that fails (here a
 * seccomp filter; EMFILE in life) the answer says so, not that the file
 * could not be read.
 */
static void sched_rttime_pin_fails(harness *h) {
        tclient a;
        threads t;
        char *r = sched_fifo_denied(h, "pidfd_open:0", "the broker's pidfd_open() of a process (flags 0) fails with EPERM",
                                    100000, &a, &t);
        tap_ok(!strcmp(jstr(r, "code"), "system") && jint(r, "errno") == EPERM, "system, EPERM (%s)", r);
        tap_has_str(jstr(r, "message"), "pidfd_open", "naming what failed");
        tap_ok(!strstr(jstr(r, "message"), "/proc/PID/limits"), "not the file it did not get to read");
        free(r);
        tap_is_int(harness_sched_getattr(t.tid[1]).sched_policy, SCHED_OTHER, "kernel: still SCHED_OTHER");
        free(tclient_call(&a, "reap %d", (int) t.pid));
        tclient_stop(&a);
}

static const scenario scenarios[] = {
        { "sched-rttime", policy_main, sched_rttime },
        { "sched-rttime-pid-reused", policy_main, sched_rttime_pid_reused },
        { "sched-rttime-lowered", policy_main, sched_rttime_lowered },
        { "sched-burst", policy_burst, sched_burst },
        { "sched-rt-budget", policy_main, sched_rt_budget },
        { "sched-rt-budget-refused", policy_budget, sched_rt_budget_refused },
        { "sched-setattr-refused", policy_budget, sched_setattr_refused },
        { "sched-rttime-pin-fails", policy_main, sched_rttime_pin_fails },
};

int main(int argc, char **argv) {
        return harness_main(argc, argv, scenarios, sizeof(scenarios) / sizeof(scenarios[0]));
}
