/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-memlock-prestart - the memlock helper forked when a session begins
 * (right after its hello's welcome), against a real broker and its real
 * helper processes: the broker-wide budget of such forks (a token bucket of
 * 8, one more every 1.25 s) and the sessions that use none of it, a resumed
 * session (none forked at its hello), and a broker without CAP_SETUID and
 * CAP_SETGID (none forked: the helper could not take the ids); the forker
 * that forks them, and the broker forking them itself once the forker was
 * killed.  The basic behaviour is memlock-helper-prestart (test-memlock.c).
 *
 * Helpers are counted as the broker's helper processes, every one whatever
 * its ids (a child just forked may still hold the broker's): the children
 * of its forker (harness_children()).  The forker forks a session's helper
 * after the welcome, while the session goes on, so a count that should
 * grow is waited for; one that should not is read at once, and the exact
 * counts after the next memlock.set (which waits for its helper) would see
 * a fork that came late.  Zombies are still children: a count of 0 means
 * every helper was reaped.
 */
#include <errno.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "foundation-scenario.h"

#define POD_A "kubepods.slice/pod-a"
#define POD_B "kubepods.slice/pod-b"
#define BUDGET 8 /* LIMIT_PRESTART_BURST, as delegate-broker(8) documents it */

/* Without CAP_SYS_RESOURCE the broker acts through helpers; with it, it calls prlimit() itself. */
static void need_helpers(void) {
        if (prctl(PR_CAPBSET_READ, CAP_SYS_RESOURCE, 0, 0, 0) == 1)
                tap_skip_all("CAP_SYS_RESOURCE is in the bounding set: the broker calls prlimit() itself, no helper");
}

/* Every child process of the broker, whatever its ids. */
static size_t children(harness *h) {
        return harness_children_all(h->broker_pid, NULL, 0);
}

/* @c's session begins (test-client connects at its first command) with a ping, answered. */
static void hello(tclient *c, const char *who) {
        char *r = tclient_call(c, "ping");
        if (jint(r, "ok") != 1)
                tap_ok(0, "the session of %s begins (%s)", who, r);
        free(r);
}

/* memlock.set of @c's own soft limit to @soft succeeds, and the kernel shows it. */
static void set_own(tclient *c, uint64_t soft, const char *who) {
        uint64_t s = 0, hd = 0;
        char *r = tclient_call(c, "memlock 0 %" PRIu64 " keep", soft);
        tap_is_int(jint(r, "ok"), 1, "memlock.set of %s succeeds (%s)", who, r);
        free(r);
        int k = read_memlock(c->pid, &s, &hd);
        tap_ok(k == 0 && s == soft, "the kernel shows its soft limit %" PRIu64 " (%" PRIu64 ")", soft, s);
}

static double now_s(void) {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        return (double) t.tv_sec + (double) t.tv_nsec / 1e9;
}

/*
 * Sessions of uid 1000, each allowed memlock.set by the policy: seven pods
 * take seven of the 8 early forks; more sessions of the first pod, whose
 * helper runs, fork none and take none; so an eighth pod still gets its
 * helper at its hello, and a ninth, past the budget, does not: its first
 * memlock.set forks it, as without the early start.  Every helper ends, and
 * is reaped, with its pod's last session.  The clients are started first
 * (test-client connects at its first command) and their hellos sent one
 * after another: well within the 1.25 s a new token takes.
 */
#define N_PODS (BUDGET + 1)
#define N_MORE 4
static void memlock_prestart_budget(harness *h) {
        need_helpers();
        tclient pod[N_PODS], more[N_MORE];
        char rel[N_PODS][64], path[700], who[80];
        for (int i = 0; i < N_PODS; i++) {
                snprintf(rel[i], sizeof(rel[i]), "kubepods.slice/pod-%d", i + 1);
                harness_cgroup_path(h, rel[i], path, sizeof(path));
                if (mkdir(path, 0755) < 0 && errno != EEXIST)
                        tap_ok(0, "create pod cgroup %s: %s", rel[i], strerror(errno));
                snprintf(who, sizeof(who), "vm-%d", i + 1);
                start_client(h, &pod[i], rel[i], 1000, who);
        }
        for (int j = 0; j < N_MORE; j++)
                start_client(h, &more[j], rel[0], 1000, "vm-1-more");
        tap_is_int(children(h), 0, "%d pods' clients and %d more of pod-1 run, none connected: the broker has no child",
                   N_PODS, N_MORE);

        double t0 = now_s();
        for (int i = 0; i < BUDGET - 1; i++) {
                snprintf(who, sizeof(who), "pod-%d", i + 1);
                hello(&pod[i], who);
                tap_ok(WAIT_FOR(children(h) == (size_t) i + 1), "after the hello of %s's session: %d helper(s) (%zu)",
                       who, i + 1, children(h));
        }
        for (int j = 0; j < N_MORE; j++) {
                hello(&more[j], "pod-1");
                tap_is_int(children(h), BUDGET - 1, "another session of pod-1, whose helper runs: none forked (%d)",
                           BUDGET - 1);
        }
        hello(&pod[BUDGET - 1], "pod-8");
        tap_ok(WAIT_FOR(children(h) == BUDGET), "pod-8's hello still forks its helper: pod-1's sessions took none "
                                                "of the budget (%d)", BUDGET);
        hello(&pod[BUDGET], "pod-9");
        double took = now_s() - t0;
        tap_is_int(children(h), BUDGET, "pod-9's hello, past the budget of %d, forks none", BUDGET);
        tap_diag("the %d hellos took %.3f s (a token comes back every 1.25 s)", N_PODS + N_MORE, took);
        pid_t hp[16];
        tap_ok(WAIT_FOR(harness_children_as(h->broker_pid, 1000, hp, 16) == BUDGET),
               "the %d helpers run as uid 1000", BUDGET);

        set_own(&pod[BUDGET], H / 2, "pod-9's client");
        tap_is_int(children(h), BUDGET + 1, "through a helper forked for it at that request");
        set_own(&more[0], H / 4, "a later session of pod-1");
        set_own(&pod[BUDGET - 1], H / 4, "pod-8's client");
        tap_is_int(children(h), BUDGET + 1, "through the helpers forked at the hellos: no other fork");

        for (int j = 0; j < N_MORE; j++)
                tclient_stop(&more[j]);
        tclient_stop(&pod[0]);
        tap_ok(WAIT_FOR(children(h) == BUDGET), "pod-1's sessions ended: its helper was reaped, the others run");
        for (int i = 1; i < N_PODS; i++)
                tclient_stop(&pod[i]);
        tap_ok(WAIT_FOR(children(h) == 0), "every session ended: every helper ended and was reaped");
}

/*
 * A session resumed after a broker restart: its VM runs, its memlock was
 * set long ago, so no helper is forked at its hello (a new session's is, at
 * the same broker); its next memlock.set forks one, as it would without
 * the early start.
 */
static void memlock_prestart_resume(harness *h) {
        need_helpers();
        tclient a, b;
        start_client(h, &a, POD_A, 1000, "vm-a");
        char *r = tclient_call(&a, "ping");
        uint64_t session = (uint64_t) jint(r, "session");
        free(r);
        tap_ok(WAIT_FOR(children(h) == 1), "a new session: its helper is forked at its hello (%zu)", children(h));
        set_own(&a, H / 4, "the session");

        int st = harness_stop_broker(h);
        tap_ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the broker stops on SIGTERM (status 0x%x)", st);
        tap_ok(harness_log_contains("kept for the next broker"), "keeping the session for the next broker");
        tap_is_int(harness_start_broker(h), 0, "a new broker starts");
        tap_is_int(children(h), 0, "it has no child");
        r = tclient_call(&a, "connect");
        tap_ok(jint(r, "resumed") == 1 && (uint64_t) jint(r, "session") == session,
               "the client reconnects and resumes session %" PRIu64 " (%s)", session, r);
        free(r);
        hello(&a, "the resumed session");
        tap_is_int(children(h), 0, "right after the resumed session's hello and a ping: no helper forked");

        set_own(&a, H / 2, "the resumed session");
        tap_is_int(children(h), 1, "its first memlock.set forked the helper");
        pid_t hp[4];
        tap_ok(WAIT_FOR(harness_children_as(h->broker_pid, 1000, hp, 4) == 1), "running as uid 1000");

        start_client(h, &b, POD_B, 1000, "vm-b");
        hello(&b, "pod-b");
        tap_ok(WAIT_FOR(children(h) == 2), "a new session's hello at this broker forks its helper: the budget is there "
                                           "(%zu)", children(h));
        tclient_stop(&a);
        tclient_stop(&b);
        tap_ok(WAIT_FOR(children(h) == 0), "the sessions ended: their helpers were reaped");
}

/*
 * A broker started without CAP_SETUID and CAP_SETGID (dropped from the
 * bounding set by setpriv(1), as a unit's CapabilityBoundingSet= would):
 * a helper could not take a session's ids, so none is forked at the
 * hello (a helper that failed its id change would end at once, and the
 * broker log its end).  The first memlock.set still tries one, as without
 * the early start, and fails; the broker serves on.
 */
static void memlock_prestart_nocaps(harness *h) {
        static const char wrap[] = "/run/delegate-test/nocaps-broker";
        need_helpers();
        if (access("/usr/bin/setpriv", X_OK) < 0)
                tap_skip_all("setpriv(1) (util-linux) is missing");
        tap_is_int(harness_write_file(wrap, "#!/bin/sh\nexec /usr/bin/setpriv --bounding-set -setuid,-setgid "
                                            "--inh-caps -setuid,-setgid -- \"$NOCAPS_BROKER_EXEC\" \"$@\"\n"),
                   0, "a wrapper starting the broker without CAP_SETUID and CAP_SETGID in its bounding set");
        chmod(wrap, 0755);
        setenv("NOCAPS_BROKER", wrap, 1);
        tap_is_int(harness_restart_broker_through(h, "NOCAPS_BROKER", "NOCAPS_BROKER_EXEC"), 0, "the broker runs so");
        tap_ok(harness_log_contains("CAP_SETUID is not available") && harness_log_contains("CAP_SETGID is not available"),
               "it says it lacks CAP_SETUID and CAP_SETGID");

        tclient a;
        uint64_t s0, h0, s, hd;
        start_client(h, &a, POD_A, 1000, "vm-a");
        hello(&a, "pod-a");
        tap_is_int(children(h), 0, "right after the hello of a session its rule allows memlock.set: no helper forked");
        tap_ok(!harness_log_contains("memlock helper for uid 1000"), "and none ended (no such line in 5 s)");

        read_memlock(a.pid, &s0, &h0);
        char *r = tclient_call(&a, "memlock 0 %" PRIu64 " keep", H / 2);
        tap_is_int(jint(r, "ok"), 0, "its memlock.set fails (%s)", r);
        tap_ok(strstr(r, "neither CAP_SYS_RESOURCE nor CAP_SETUID and CAP_SETGID") != NULL && jint(r, "errno") == EPERM,
               "with EPERM, naming the capabilities the broker lacks");
        free(r);
        tap_is_int(children(h), 0, "without forking a helper that could not take the ids");
        read_memlock(a.pid, &s, &hd);
        tap_ok(s == s0 && hd == h0, "the kernel's limits are unchanged");
        ping_ok(&a, "after the failed memlock.set");
        tclient_stop(&a);
        tap_ok(WAIT_FOR(children(h) == 0), "the broker has no child left");
}

/* The PPid: line of @pid's status; 0 when it is gone. */
static pid_t parent_of(pid_t pid) {
        char path[64], text[4096];
        snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
        harness_read_file(path, text, sizeof(text));
        const char *p = strstr(text, "\nPPid:");
        return p ? (pid_t) atoi(p + 6) : 0;
}

/* The fds @pid holds above stderr: how many, and how many of them are sockets and pidfds. */
static int fds_above_stdio(pid_t pid, int *sockets, int *pidfds) {
        char path[64], link[128];
        int n = 0;
        *sockets = *pidfds = 0;
        for (int fd = 3; fd < 1024; fd++) {
                snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int) pid, fd);
                ssize_t k = readlink(path, link, sizeof(link) - 1);
                if (k < 0)
                        continue;
                link[k] = 0;
                n++;
                *sockets += strncmp(link, "socket:", 7) == 0;
                *pidfds += strcmp(link, "anon_inode:[pidfd]") == 0;
        }
        return n;
}

/* The Uid: line of @pid's status (its real uid); -1 when it is gone. */
static long uid_of(pid_t pid) {
        char path[64], text[4096];
        snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
        harness_read_file(path, text, sizeof(text));
        const char *p = strstr(text, "\nUid:");
        return p ? strtol(p + 5, NULL, 10) : -1;
}

/*
 * The memlock helpers are forked by the broker's forker, a child forked
 * once at start that holds nothing of the broker's: a session's helper is
 * the forker's spare, forked ahead and waiting as root with no fd but its
 * socket, which takes the session's ids at its hello (no fork then, by
 * either); another spare follows.  Once the forker is killed, the broker
 * says so and forks its helpers itself: the next memlock.set works,
 * through a helper that is its own child, and so does a new session's
 * early start.
 */
static void memlock_prestart_forker(harness *h) {
        need_helpers();
        pid_t fk = 0, sp = 0;
        int nfd, socks = 0, pidfds = 0;
        tap_ok(WAIT_FOR((fk = harness_forker(h->broker_pid)) > 0),
               "the broker has a child named delegate-forker (pid %d; forked once it serves)", (int) fk);
        tap_ok(WAIT_FOR((sp = harness_spare(h->broker_pid)) > 0), "the forker has a spare, delegate-spare (pid %d)",
               (int) sp);
        nfd = fk > 0 ? fds_above_stdio(fk, &socks, &pidfds) : -1;
        tap_ok(nfd == 3 && socks == 2 && pidfds == 1,
               "the forker holds its socket, and the spare's socket and pidfd, beside stdio (%d: %d sockets, %d pidfds)",
               nfd, socks, pidfds);
        nfd = sp > 0 ? fds_above_stdio(sp, &socks, &pidfds) : -1;
        tap_ok(nfd == 1 && socks == 1, "the spare holds its socket only beside stdio (%d, %d sockets)", nfd, socks);
        tap_is_int(uid_of(sp), 0, "the spare has taken no ids yet");
        tclient a, b;
        pid_t hp[4];
        start_client(h, &a, POD_A, 1000, "vm-a");
        hello(&a, "pod-a");
        tap_ok(WAIT_FOR(harness_children_as(h->broker_pid, 1000, hp, 4) == 1), "pod-a's helper runs as uid 1000");
        tap_is_int(hp[0], sp, "it is the spare that was waiting: nothing was forked for it");
        tap_is_int(parent_of(hp[0]), fk, "the forker's child, not the broker's (%d)", (int) h->broker_pid);
        pid_t sp2 = 0;
        tap_ok(WAIT_FOR((sp2 = harness_spare(h->broker_pid)) > 0 && sp2 != sp), "another spare follows (pid %d)",
               (int) sp2);
        set_own(&a, H / 4, "pod-a's client");

        if (fk <= 0)
                return;
        tap_is_int(kill(fk, SIGKILL), 0, "the forker is killed (SIGKILL)");
        tap_ok(WAIT_FOR(harness_log_contains("the forker (pid") &&
                        harness_log_contains("the broker forks its memlock helpers itself from now on")),
               "the broker says it forks its helpers itself from now on");
        char ended[96];
        snprintf(ended, sizeof(ended), "(pid %d) ended; 0 request(s) in flight fail", (int) hp[0]);
        tap_ok(WAIT_FOR(harness_children_as(h->broker_pid, 1000, hp, 4) == 0 && harness_log_contains(ended)),
               "pod-a's helper ended with the forker (PR_SET_PDEATHSIG), and the broker saw it end");
        set_own(&a, H / 2, "pod-a's client again");
        tap_is_int(harness_children_as(h->broker_pid, 1000, hp, 4), 1, "through a new helper");
        tap_is_int(parent_of(hp[0]), h->broker_pid, "the broker's own child (pid %d)", (int) hp[0]);
        start_client(h, &b, POD_B, 1000, "vm-b");
        hello(&b, "pod-b");
        tap_ok(WAIT_FOR(harness_children_as(h->broker_pid, 1000, hp, 4) == 2),
               "a new session of pod-b still gets its helper at its hello");
        set_own(&b, H / 4, "pod-b's client");
        tclient_stop(&a);
        tclient_stop(&b);
        tap_ok(WAIT_FOR(children(h) == 0), "the sessions ended: their helpers were reaped");
        tap_ok(kill(h->broker_pid, 0) == 0, "the broker runs on");
}

static const scenario scenarios[] = {
        { "memlock-prestart-budget", policy_main, memlock_prestart_budget },
        { "memlock-prestart-resume", policy_main, memlock_prestart_resume },
        { "memlock-prestart-nocaps", policy_main, memlock_prestart_nocaps },
        { "memlock-prestart-forker", policy_main, memlock_prestart_forker },
};

int main(int argc, char **argv) {
        return harness_main(argc, argv, scenarios, sizeof(scenarios) / sizeof(scenarios[0]));
}
