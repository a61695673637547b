/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-restart.c - sessions across a broker restart (broker-state.c):
 * a launcher resumes its session after SIGTERM + restart and the broker
 * still knows its TAP device and cgroup; after kill -9, the sessions whose
 * launcher died meanwhile are undone (the TAP is removed from the pod's
 * network namespace, the cgroup removed, the state file dropped); a live
 * launcher that never resumes is undone after --resume-timeout; a request
 * retried with the same id after the restart gets its first answer and is
 * not redone; a session whose last save failed leaves no file for the
 * next broker once it ended (its two state files across kill -9:
 * test-restart-slots.c).  Assertions read the kernel (ip link, the cgroup
 * tree, getrlimit) and the state directory.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define POD_A "kubepods.slice/pod-a"
#define STATE_DIR "/run/delegate/state"

static const char policy_restart[] =
        "{ \"version\": 1,\n"
        "  \"rules\": [\n"
        "    { \"name\": \"pod-a\",\n"
        "      \"match\": { \"uid\": 1000, \"cgroup\": \"/kubepods.slice/pod-a\" },\n"
        "      \"memlock\": { \"max\": \"1G\" },\n"
        "      \"cgroup\": { \"targets\": \"housekeeping\", \"create\": true },\n"
        "      \"bridge\": { \"names\": \"br0\", \"enslave\": \"eth0\" },\n"
        "      \"tap\": { \"persist\": true, \"bridges\": \"br0\" } },\n"
        "    { \"name\": \"pod-a-containers\",\n"
        "      \"match\": { \"uid\": 1000, \"cgroup\": \"/kubepods.slice/pod-a/*\" },\n"
        "      \"memlock\": { \"max\": \"1G\" },\n"
        "      \"cgroup\": { \"targets\": \"housekeeping\", \"create\": true },\n"
        "      \"tap\": { \"persist\": true } },\n"
        "    { \"name\": \"node-root\",\n"
        "      \"match\": { \"uid\": 0 },\n"
        "      \"memlock\": { \"max\": \"1G\" } }\n"
        "  ]\n"
        "}\n";

static bool link_exists(const char *name) {
        return harness_sh(NULL, "ip -n pod-a link show dev %s >/dev/null 2>&1", name) == 0;
}

static int count_links(void) {
        char *out = NULL;
        int n = -1;
        if (harness_sh(&out, "ip -n pod-a -o link show | wc -l") == 0 && out)
                n = atoi(out);
        free(out);
        return n;
}

static bool cgroup_exists(harness *h, const char *rel) {
        char p[700];
        harness_cgroup_path(h, rel, p, sizeof(p));
        return access(p, F_OK) == 0;
}

static bool state_file(uint64_t session) {
        char p[128];
        snprintf(p, sizeof(p), STATE_DIR "/session-%" PRIu64 ".json", session);
        return access(p, F_OK) == 0;
}

/*
 * A launcher stand-in in pod-a with a housekeeping cgroup (its child moved
 * there) and a TAP device; returns its session.  With @persist the device
 * is persistent and its fds are closed, so only the broker's records keep
 * track of it.
 */
static uint64_t session_with_things(tclient *a, pid_t *ret_child, bool persist) {
        char *r = tclient_call(a, "ping");
        uint64_t session = (uint64_t) jint(r, "session");
        tap_is_int(jint(r, "ok"), 1, "the launcher opens session %" PRIu64, session);
        free(r);
        r = tclient_call(a, "child");
        pid_t child = (pid_t) jint(r, "pid");
        free(r);
        r = tclient_call(a, "call cgroup.move {\"tids\":[%d],\"target\":\"housekeeping\",\"create\":true}",
                         (int) child);
        tap_is_int(jint(r, "result.moved"), 1, "its child moves into a created housekeeping cgroup (%s)", r);
        free(r);
        r = tclient_call(a, "call tap.create {\"name\":\"vnet%%d\",\"persist\":%s}", persist ? "true" : "false");
        tap_is_str(jstr(r, "result.name"), "vnet0", "it gets TAP vnet0 (%s)", r);
        if (persist)
                free(tclient_call(a, "close %" PRIi64, jint(r, "slot")));
        free(r);
        tap_ok(state_file(session), "the session's state file exists");
        *ret_child = child;
        return session;
}

static void restart_resume(harness *h) {
        tclient a;
        pid_t pause = harness_pod_with_pause(h, POD_A, "pod-a"), child;
        if (tclient_start_netns(h, &a, POD_A, "pod-a", 1000, 1000, "vm-a") < 0)
                tap_ok(0, "start the launcher stand-in");
        uint64_t session = session_with_things(&a, &child, false);
        char *r = tclient_call(&a, "state");
        tap_is_int(jint(r, "state.requests.quiet"), 1, "state.get counts the ping before it (%s)", r);
        free(r);

        int st = harness_stop_broker(h);
        tap_ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the broker stops on SIGTERM");
        tap_ok(harness_log_contains("kept for the next broker"), "it keeps the session for the next broker");
        char want[128];
        snprintf(want, sizeof(want), "session %" PRIu64 " closed (kept): 2 allowed, 0 denied, 2 ping and state.get",
                 session);
        tap_ok(harness_log_contains(want), "its end record says kept, with its counts: %s", want);
        tap_ok(link_exists("vnet0") && cgroup_exists(h, POD_A "/housekeeping"),
               "the VM's TAP and cgroup are left alone");
        tap_ok(state_file(session), "the state file stays");

        tap_is_int(harness_start_broker(h), 0, "a new broker starts");
        tap_ok(harness_log_contains("recovered: waiting 90 s for its launcher"), "it recovers the session");
        r = tclient_call(&a, "connect");
        tap_ok(jint(r, "resumed") == 1 && (uint64_t) jint(r, "session") == session,
               "the launcher reconnects and resumes session %" PRIu64 " (%s)", session, r);
        free(r);
        r = tclient_call(&a, "state");
        tap_is_str(jstr(r, "state.tap.0.name"), "vnet0", "state.get still lists vnet0 (%s)", r);
        tap_has_str(jstr(r, "state.cgroups_created.0"), "/kubepods.slice/pod-a/housekeeping",
                    "and the created cgroup");
        tap_is_int(jint(r, "state.requests.allowed"), 2, "and the counts");
        tap_is_int(jint(r, "state.requests.quiet"), 2, "... the ping and state.get too, saved with the session");
        free(r);
        r = tclient_call(&a, "call memlock.set {\"pid\":0,\"soft\":%" PRIu64 "}", harness_hard / 4);
        tap_is_int(jint(r, "ok"), 1, "the resumed session is served (%s)", r);
        free(r);

        /* the session ends for good: what it created is undone */
        free(tclient_call(&a, "reap %d", (int) child));
        tclient_stop(&a);
        tap_ok(WAIT_FOR(!link_exists("vnet0")), "when the launcher exits, vnet0 goes");
        tap_ok(WAIT_FOR(!cgroup_exists(h, POD_A "/housekeeping")), "and the housekeeping cgroup");
        tap_ok(WAIT_FOR(!state_file(session)), "and the state file");
        snprintf(want, sizeof(want),
                 "session %" PRIu64 " closed (disconnected): 3 allowed, 0 denied, 3 ping and state.get", session);
        tap_ok(harness_log_contains(want), "its end record counts its whole life, across the restart: %s", want);
        kill(pause, SIGKILL);
        waitpid(pause, NULL, 0);
}

/* The broker stops with no state directory: the session is undone, and its end record says so. */
static void restart_no_state(harness *h) {
        harness_stop_broker(h);
        const char *const extra[] = { "--state-dir", "none", NULL };
        tap_is_int(harness_start_broker_args(h, extra), 0, "a broker with --state-dir none");
        tclient a;
        tap_ok(tclient_start(h, &a, POD_A, 1000, 1000, "vm-a") == 0, "a client");
        char *r = tclient_call(&a, "ping");
        uint64_t session = (uint64_t) jint(r, "session");
        free(r);
        int st = harness_stop_broker(h);
        tap_ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the broker stops on SIGTERM");
        char want[128];
        snprintf(want, sizeof(want),
                 "session %" PRIu64 " closed (broker-stopped): 0 allowed, 0 denied, 1 ping and state.get", session);
        tap_ok(harness_log_contains(want), "its end record says the stopping broker ended it: %s", want);
        tclient_stop(&a);
        tap_is_int(harness_start_broker(h), 0, "a broker again, for the harness to stop");
}

static void restart_dead(harness *h) {
        tclient a;
        pid_t pause = harness_pod_with_pause(h, POD_A, "pod-a"), child;
        int links0 = count_links();
        if (tclient_start_netns(h, &a, POD_A, "pod-a", 1000, 1000, "vm-a") < 0)
                tap_ok(0, "start the launcher stand-in");
        uint64_t session = session_with_things(&a, &child, true);
        free(tclient_call(&a, "reap %d", (int) child)); /* the cgroup is empty, removable */

        harness_kill_broker(h);
        tclient_stop(&a);
        tap_ok(link_exists("vnet0") && cgroup_exists(h, POD_A "/housekeeping") && state_file(session),
               "kill -9 of the broker, then of the launcher: the persistent TAP, cgroup and state remain");

        tap_is_int(harness_start_broker(h), 0, "a new broker starts");
        tap_ok(harness_log_contains("its launcher exited while the broker was down"),
               "it finds the launcher gone");
        char want[128];
        /* the counts as last saved, before the TAP was made (kill -9 since): its tap.create is not in them */
        snprintf(want, sizeof(want),
                 "session %" PRIu64 " closed (not-resumed): 1 allowed, 0 denied, 1 ping and state.get", session);
        tap_ok(harness_log_contains(want), "the session's end record, with the counts saved: %s", want);
        tap_ok(WAIT_FOR(!link_exists("vnet0")), "and removes vnet0 from pod-a's netns");
        tap_ok(WAIT_FOR(!cgroup_exists(h, POD_A "/housekeeping")), "and the housekeeping cgroup");
        tap_ok(!state_file(session), "and the state file");
        tap_is_int(count_links(), links0, "pod-a has as many links as before (%d)", links0);
        kill(pause, SIGKILL);
        waitpid(pause, NULL, 0);
}

/*
 * As a container runtime lays a pod out: the launcher's container and the
 * pause (infra) container are siblings below the pod's cgroup, so the
 * launcher's cgroup holds no other process in the pod's netns.  The
 * launcher dies while the broker is down: the new broker must still find
 * the netns (held by the pause container) and remove the persistent TAP.
 */
static void restart_dead_sibling(harness *h) {
        char p[700];
        tclient a;
        tap_is_int(harness_netns_add("pod-a"), 0, "pod-a gets its own network namespace");
        harness_cgroup_path(h, POD_A "/ctr", p, sizeof(p));
        tap_is_int(mkdir(p, 0755), 0, "the launcher's container cgroup pod-a/ctr");
        harness_cgroup_path(h, POD_A "/pause", p, sizeof(p));
        tap_is_int(mkdir(p, 0755), 0, "and its sibling pod-a/pause");
        char *const argv[] = { "/bin/sleep", "1000", NULL };
        pid_t pause = harness_spawn_in_pod(h, POD_A "/pause", "pod-a", 65534, 65534, "/run/delegate-test/pause.log",
                                           argv);
        tap_ok(pause > 0 && harness_in_netns(pause, "pod-a", 5000),
               "a pause process in the sibling cgroup holds pod-a's netns");
        /* only the pause process keeps the netns: not the test's bind mount */
        tap_is_int(harness_sh(NULL, "umount /run/netns/pod-a"), 0, "the netns is held by processes only");
        char ns[64];
        snprintf(ns, sizeof(ns), "/proc/%d/ns/net", (int) pause);
        tap_is_int(harness_sh(NULL, "mount --bind %s /run/netns/pod-a", ns), 0, "(ip -n pod-a reaches it through the pause process)");
        pid_t child;
        if (tclient_start_netns(h, &a, POD_A "/ctr", "pod-a", 1000, 1000, "vm-a") < 0)
                tap_ok(0, "start the launcher stand-in");
        uint64_t session = session_with_things(&a, &child, true);
        free(tclient_call(&a, "reap %d", (int) child));
        harness_kill_broker(h);
        tclient_stop(&a);
        tap_ok(link_exists("vnet0") && state_file(session), "kill -9 of the broker, then of the launcher: vnet0 remains");
        tap_is_int(harness_sh(NULL, "umount /run/netns/pod-a"), 0, "again only the pause process holds the netns");
        tap_is_int(harness_start_broker(h), 0, "a new broker starts");
        tap_ok(harness_log_contains("its launcher exited while the broker was down"), "it finds the launcher gone");
        tap_is_int(harness_sh(NULL, "mount --bind %s /run/netns/pod-a", ns), 0, "(ip -n pod-a again)");
        tap_ok(WAIT_FOR(!link_exists("vnet0")), "it finds the netns through the pause container and removes vnet0");
        tap_ok(!harness_log_contains("went with it"), "and does not claim the TAP went with the namespace");
        tap_ok(WAIT_FOR(!state_file(session)), "the state file is removed");
        kill(pause, SIGKILL);
        waitpid(pause, NULL, 0);
}

/* A bridge that took over eth0's address and route is resumed by a restarted
 * broker (SIGTERM), and undone by one started after kill -9 of the broker and
 * then of the launcher: eth0 gets its address and default route back. */
static void restart_bridge(harness *h) {
        tclient a;
        pid_t pause = harness_pod_with_pause(h, POD_A, "pod-a");
        tap_is_int(harness_sh(NULL, "ip link add eth0-rb type veth peer name eth0 netns pod-a && "
                                    "ip -n pod-a addr add 10.244.9.5/24 dev eth0 && ip -n pod-a link set eth0 up && "
                                    "ip -n pod-a route add default via 10.244.9.1 dev eth0"),
                   0, "pod-a has eth0 with an address and a default route");
        if (tclient_start_netns(h, &a, POD_A, "pod-a", 1000, 1000, "vm-a") < 0)
                tap_ok(0, "start the launcher stand-in");
        char *r = tclient_call(&a, "call bridge.create {\"name\":\"br0\",\"enslave\":[\"eth0\"]}");
        tap_is_int(jint(r, "ok"), 1, "bridge.create br0 enslaving eth0 (%s)", r);
        free(r);
        r = tclient_call(&a, "ping");
        uint64_t session = (uint64_t) jint(r, "session");
        free(r);
        tap_ok(state_file(session), "the session's state file exists");

        int st = harness_stop_broker(h);
        tap_ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the broker stops on SIGTERM");
        tap_ok(link_exists("br0") && harness_sh_has("10.244.9.5", "ip -n pod-a -o addr show dev br0"),
               "br0 and its address stay while the broker is away");
        tap_is_int(harness_start_broker(h), 0, "a new broker starts");
        r = tclient_call(&a, "connect");
        tap_ok(jint(r, "resumed") == 1 && (uint64_t) jint(r, "session") == session, "the launcher resumes (%s)",
               r ? r : "no answer");
        free(r);
        r = tclient_call(&a, "state");
        tap_has_str(r, "\"kind\":\"bridge\"", "the resumed session still holds the bridge (%s)",
                    r ? r : "no answer");
        free(r);

        harness_kill_broker(h);
        tclient_stop(&a);
        tap_ok(link_exists("br0"), "kill -9 of the broker, then of the launcher: br0 remains");
        tap_is_int(harness_start_broker(h), 0, "a third broker starts");
        tap_ok(WAIT_FOR(!link_exists("br0")), "it removes br0");
        tap_ok(WAIT_FOR(harness_sh_has("10.244.9.5/24", "ip -n pod-a -o addr show dev eth0")), "eth0 has its address again");
        tap_ok(harness_sh_has("default via 10.244.9.1 dev eth0", "ip -n pod-a route show"), "and its default route");
        tap_ok(WAIT_FOR(!state_file(session)), "the state file is removed");
        harness_sh(NULL, "ip link del eth0-rb");
        kill(pause, SIGKILL);
        waitpid(pause, NULL, 0);
}

static void restart_timeout(harness *h) {
        tclient a;
        pid_t pause = harness_pod_with_pause(h, POD_A, "pod-a"), child;
        if (tclient_start_netns(h, &a, POD_A, "pod-a", 1000, 1000, "vm-a") < 0)
                tap_ok(0, "start the launcher stand-in");
        uint64_t session = session_with_things(&a, &child, true);
        free(tclient_call(&a, "reap %d", (int) child));

        harness_kill_broker(h);
        const char *const extra[] = { "--resume-timeout", "2", NULL };
        tap_is_int(harness_start_broker_args(h, extra), 0, "a new broker starts with --resume-timeout 2");
        tap_ok(harness_log_contains("recovered: waiting 2 s"), "it waits for the live launcher");
        tap_ok(link_exists("vnet0"), "meanwhile vnet0 stays");
        tap_ok(harness_log_contains("did not resume it in time"), "the launcher never resumes: undone");
        char want[128];
        /* the counts as last saved, before the TAP was made (kill -9 since): its tap.create is not in them */
        snprintf(want, sizeof(want),
                 "session %" PRIu64 " closed (not-resumed): 1 allowed, 0 denied, 1 ping and state.get", session);
        tap_ok(harness_log_contains(want), "the session's end record, with the counts saved: %s", want);
        tap_ok(WAIT_FOR(!link_exists("vnet0")), "vnet0 is removed");
        tap_ok(WAIT_FOR(!cgroup_exists(h, POD_A "/housekeeping")), "and the housekeeping cgroup");
        tap_ok(!state_file(session), "and the state file");
        char *r = tclient_call(&a, "connect");
        tap_ok(jint(r, "ok") == 1 && jint(r, "resumed") == 0 && (uint64_t) jint(r, "session") != session,
               "a late reconnect gets a new session (%s)", r);
        free(r);
        tclient_stop(&a);
        kill(pause, SIGKILL);
        waitpid(pause, NULL, 0);
}

static uint64_t soft_memlock(void) {
        struct rlimit rl;
        getrlimit(RLIMIT_MEMLOCK, &rl);
        return rl.rlim_cur;
}

static void restart_same_id(harness *h) {
        char buf[512], token[80] = "";
        int fd = raw_connect();
        {
                const char *hello = "{\"type\":\"hello\",\"api\":1,\"client\":\"raw\"}";
                raw_send(fd, hello, strlen(hello));
        }
        char *w = raw_recv(fd, 5000);
        uint64_t session = (uint64_t) jint(w, "session");
        snprintf(token, sizeof(token), "%s", jstr(w, "resume_token"));
        tap_is_int((int) strlen(token), 32, "the welcome carries a 128-bit resume token");
        free(w);
        /* an answer quoting a key with a quote, a backslash and a control character: saved with the next change */
        const char *odd = "{\"id\":6,\"op\":\"memlock.set\",\"args\":{\"pid\":0,\"soft\":1,\"a\\\"b\\\\c\\u0001\":1}}";
        raw_send(fd, odd, strlen(odd));
        char *refused = raw_recv(fd, 5000);
        tap_is_str(jstr(refused, "error.code"), "bad-request", "request 6 with an odd key is refused (%s)", refused);
        snprintf(buf, sizeof(buf), "{\"id\":7,\"op\":\"memlock.set\",\"args\":{\"pid\":0,\"soft\":%" PRIu64 "}}",
                 harness_hard / 4);
        raw_send(fd, buf, strlen(buf));
        char *first = raw_recv(fd, 5000);
        tap_is_int(jint(first, "ok"), 1, "request 7 raises the soft limit to H/4 (%s)", first);
        tap_is_int(soft_memlock(), harness_hard / 4, "the kernel shows H/4");

        harness_kill_broker(h);
        close(fd);
        tap_is_int(harness_start_broker(h), 0, "a new broker starts after kill -9");
        fd = raw_connect();
        snprintf(buf, sizeof(buf), "{\"type\":\"hello\",\"api\":1,\"client\":\"raw\",\"resume\":{\"session\":%" PRIu64
                 ",\"token\":\"%s\"}}", session, token);
        raw_send(fd, buf, strlen(buf));
        w = raw_recv(fd, 5000);
        tap_ok(jint(w, "resumed") == 1 && (uint64_t) jint(w, "session") == session, "resumed session %" PRIu64 " (%s)",
               session, w);
        free(w);
        /* the same id again, with other args: the first answer, nothing redone */
        snprintf(buf, sizeof(buf), "{\"id\":7,\"op\":\"memlock.set\",\"args\":{\"pid\":0,\"soft\":%" PRIu64 "}}",
                 harness_hard / 2);
        raw_send(fd, buf, strlen(buf));
        char *again = raw_recv(fd, 5000);
        tap_is_str(again, first, "request 7 retried after the restart gets the first answer");
        raw_send(fd, odd, strlen(odd));
        char *refused_again = raw_recv(fd, 5000);
        tap_is_str(refused_again, refused, "request 6 retried after the restart gets its answer, escapes and all");
        free(refused);
        free(refused_again);
        tap_is_int(soft_memlock(), harness_hard / 4, "and is not redone: the kernel still shows H/4");
        snprintf(buf, sizeof(buf), "{\"id\":8,\"op\":\"memlock.set\",\"args\":{\"pid\":0,\"soft\":%" PRIu64 "}}",
                 harness_hard / 2);
        raw_send(fd, buf, strlen(buf));
        char *next = raw_recv(fd, 5000);
        tap_is_int(jint(next, "ok"), 1, "a new id is done");
        tap_is_int(soft_memlock(), harness_hard / 2, "the kernel shows H/2");
        free(first);
        free(again);
        free(next);
        close(fd);

        /* resuming is for the session's own process, with its token */
        fd = raw_connect();
        snprintf(buf, sizeof(buf), "{\"type\":\"hello\",\"api\":1,\"resume\":{\"session\":%" PRIu64
                 ",\"token\":\"00000000000000000000000000000000\"}}", session + 100);
        raw_send(fd, buf, strlen(buf));
        w = raw_recv(fd, 5000);
        tap_is_str(jstr(w, "code"), "not-found", "an unknown session cannot be resumed (%s)", w);
        free(w);
        close(fd);
}

/*
 * A save that fails leaves the version before it in the state file: when
 * the session then ends, that file is removed all the same, so the next
 * broker recovers nothing.  The save fails for real: the state directory
 * made read-only for its owner (the broker holds no CAP_DAC_OVERRIDE), so
 * the rename that publishes a new version is refused.
 */
static void restart_save_failed(harness *h) {
        tclient a;
        struct stat st;
        if (tclient_start(h, &a, POD_A, 1000, 1000, "vm-a") < 0)
                tap_ok(0, "start the launcher stand-in");
        char *r = tclient_call(&a, "call memlock.set {\"pid\":0,\"soft\":%" PRIu64 "}", harness_hard / 4);
        tap_is_int(jint(r, "ok"), 1, "memlock.set is served (%s)", r);
        free(r);
        r = tclient_call(&a, "ping");
        uint64_t session = (uint64_t) jint(r, "session");
        free(r);
        tap_ok(state_file(session), "session %" PRIu64 "'s state file exists", session);
        tap_is_int(stat(STATE_DIR, &st), 0, "stat the state directory");
        tap_is_int(chmod(STATE_DIR, 0500), 0, "the state directory made read-only (0500)");
        r = tclient_call(&a, "call memlock.set {\"pid\":0,\"soft\":%" PRIu64 "}", harness_hard / 2);
        tap_is_int(jint(r, "ok"), 1, "the next memlock.set is served (%s)", r);
        free(r);
        tap_ok(harness_log_contains("cannot save its state"), "its save failed, as logged");
        tap_is_int(chmod(STATE_DIR, st.st_mode & 07777), 0, "the directory writable again");
        tap_ok(state_file(session), "the file still holds the version before");
        tclient_stop(&a);
        tap_ok(WAIT_FOR(!state_file(session)), "the session ended: its state file is removed all the same");
        int s = harness_stop_broker(h);
        tap_ok(WIFEXITED(s) && WEXITSTATUS(s) == 0, "the broker stops on SIGTERM");
        tap_is_int(harness_start_broker(h), 0, "a new broker starts");
        char again[64];
        snprintf(again, sizeof(again), "session %" PRIu64 " (vm", session);
        tap_ok(!harness_log_contains(again), "it finds no file of session %" PRIu64 " to recover or undo", session);
}

static const scenario scenarios[] = {
        { "restart-resume", policy_restart, restart_resume },
        { "restart-no-state", policy_restart, restart_no_state },
        { "restart-dead", policy_restart, restart_dead },
        { "restart-dead-sibling", policy_restart, restart_dead_sibling },
        { "restart-timeout", policy_restart, restart_timeout },
        { "restart-bridge", policy_restart, restart_bridge },
        { "restart-same-id", policy_restart, restart_same_id },
        { "restart-save-failed", policy_restart, restart_save_failed },
};

int main(int argc, char **argv) {
        return harness_main(argc, argv, scenarios, sizeof(scenarios) / sizeof(scenarios[0]));
}
