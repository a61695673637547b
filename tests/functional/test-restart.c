/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-restart.c - sessions across a broker restart (broker-state.c):
 * a launcher resumes its session after SIGTERM + restart and the broker
 * still knows its TAP device and cgroup; after kill -9, the sessions whose
 * launcher died meanwhile are undone (the TAP is removed from the pod's
 * network namespace, the cgroup removed, the state file dropped); a live
 * launcher that never resumes is undone after --resume-timeout; a request
 * retried with the same id after the restart gets its first answer and is
 * not redone; a broker killed right after a reply leaves the change it
 * reported on record; a session whose last save failed leaves no file for
 * the next broker once it ended.  Assertions read the kernel (ip link, the cgroup tree,
 * getrlimit) and the state directory.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
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

static void kill9_broker(harness *h) {
        kill(h->broker_pid, SIGKILL);
        waitpid(h->broker_pid, NULL, 0);
        h->broker_pid = 0;
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

        kill9_broker(h);
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
        kill9_broker(h);
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
        tap_ok(jint(r, "resumed") == 1 && (uint64_t) jint(r, "session") == session, "the launcher resumes (%s)", r);
        free(r);
        r = tclient_call(&a, "state");
        tap_has_str(r, "\"kind\":\"bridge\"", "the resumed session still holds the bridge (%s)", r);
        free(r);

        kill9_broker(h);
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

        kill9_broker(h);
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

        kill9_broker(h);
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

/* Where the object that @t begins with ends (strings and their escapes skipped): its length, 0 if it does not. */
static size_t object_length(const char *t) {
        int depth = 0;
        bool str = false, esc = false;
        for (size_t i = 0; t[i]; i++) {
                char ch = t[i];
                if (str) {
                        if (esc)
                                esc = false;
                        else if (ch == '\\')
                                esc = true;
                        else if (ch == '"')
                                str = false;
                } else if (ch == '"')
                        str = true;
                else if (ch == '{' || ch == '[')
                        depth++;
                else if ((ch == '}' || ch == ']') && --depth == 0)
                        return i + 1;
        }
        return 0;
}

/* Session @session's state file in slot @slot (0: session-N.json, 1: session-N.b.json). */
static void slot_path(uint64_t session, int slot, char *buf, size_t size) {
        snprintf(buf, size, STATE_DIR "/session-%" PRIu64 "%s.json", session, slot ? ".b" : "");
}

/* The generation a state file's text names at its start, 0 if none. */
static uint64_t generation_of(const char *text) {
        const char *p = strstr(text, "{\"generation\":");
        return p == text ? strtoull(text + 14, NULL, 10) : 0;
}

/* Which slot holds the newer version of @session's state (the higher generation), read into @text. */
static int newest_slot(uint64_t session, char *text, size_t size) {
        char path[128], other[65536];
        slot_path(session, 0, path, sizeof(path));
        harness_read_file(path, text, size);
        slot_path(session, 1, path, sizeof(path));
        harness_read_file(path, other, sizeof(other));
        if (generation_of(other) <= generation_of(text))
                return 0;
        snprintf(text, size, "%s", other);
        return 1;
}

/* A launcher stand-in in pod-a with a child (*@ret_child); its session. */
static uint64_t launcher_with_child(harness *h, tclient *a, pid_t *ret_child) {
        if (tclient_start(h, a, POD_A, 1000, 1000, "vm-a") < 0)
                tap_ok(0, "start the launcher stand-in");
        char *r = tclient_call(a, "child");
        *ret_child = (pid_t) jint(r, "pid");
        free(r);
        r = tclient_call(a, "ping");
        uint64_t session = (uint64_t) jint(r, "session");
        free(r);
        return session;
}

/*
 * What a reply reports is on disk before the client reads it: the broker
 * is killed (SIGKILL) as soon as each of several memlock.set replies
 * arrives (the helper's answer comes back in a later turn of the loop than
 * the request), and the next broker resumes the session knowing the
 * limits of the last one.  /run is tmpfs here: the files are written
 * without fsync (delegate-broker(8), SESSIONS AND RESTARTS).
 */
static void restart_kill9_reply(harness *h) {
        tclient a;
        struct statfs sf;
        if (statfs(STATE_DIR, &sf) == 0)
                tap_diag("the state directory is %s", sf.f_type == TMPFS_MAGIC ? "on tmpfs: no fsync" : "not on tmpfs: fsync");
        pid_t child;
        uint64_t session = launcher_with_child(h, &a, &child);
        char *r;
        for (int i = 0; i < 4; i++) {
                uint64_t soft = harness_hard / 8 + 4096 * (uint64_t) (i + 1), s, hd;
                r = tclient_call(&a, "memlock %d %" PRIu64 " keep", (int) child, soft);
                kill9_broker(h);
                tap_is_int(jint(r, "soft"), soft, "round %d: memlock.set answers soft %" PRIu64 ", then kill -9 (%s)", i,
                           soft, r);
                free(r);
                tap_is_int(harness_start_broker(h), 0, "a new broker starts");
                r = tclient_call(&a, "connect");
                tap_ok(jint(r, "resumed") == 1 && (uint64_t) jint(r, "session") == session, "the session resumes (%s)",
                       r);
                free(r);
                r = tclient_call(&a, "state");
                tap_ok(jint(r, "state.memlock.0.pid") == child && (uint64_t) jint(r, "state.memlock.0.soft") == soft,
                       "the new broker knows soft %" PRIu64 " for pid %d (%s)", soft, (int) child, r);
                free(r);
                tap_ok(read_memlock(child, &s, &hd) == 0 && s == soft, "as the kernel does");
        }
        /* the same limits again change nothing kept: no write, the files keep their bytes */
        char file[2][128], before[2][16384], after[2][16384];
        for (int k = 0; k < 2; k++) {
                slot_path(session, k, file[k], sizeof(file[k]));
                harness_read_file(file[k], before[k], sizeof(before[k]));
        }
        uint64_t last = harness_hard / 8 + 4096 * 4;
        r = tclient_call(&a, "memlock %d %" PRIu64 " keep", (int) child, last);
        tap_is_int(jint(r, "soft"), last, "the same limits again (%s)", r);
        free(r);
        for (int k = 0; k < 2; k++) {
                harness_read_file(file[k], after[k], sizeof(after[k]));
                tap_is_str(after[k], before[k], "leave %s as it was: nothing kept changed", file[k]);
        }
        tap_ok(access(file[1], F_OK) == 0, "the version before the last is kept beside it (the next save writes over it)");
        tclient_stop(&a);
        tap_ok(WAIT_FOR(!state_file(session) && access(file[1], F_OK) < 0),
               "the session ends: both its state files are removed");
}

/*
 * On tmpfs a session's saves after its first two write over the older of
 * its two files through a descriptor kept open, and cover the rest of a
 * longer version with spaces instead of cutting it.  A record shorter than
 * the one written over (soft 0 after many 7-digit limits, the retry cache
 * full of equally long answers), the broker killed right after its reply:
 * the newer file holds it whole, its newline, spaces after it, and the
 * next broker reads it back.
 */
static void restart_kill9_shorter(harness *h) {
        tclient a;
        struct statfs sf;
        bool tmpfs = statfs(STATE_DIR, &sf) == 0 && (sf.f_type == TMPFS_MAGIC || sf.f_type == RAMFS_MAGIC);
        pid_t child;
        uint64_t session = launcher_with_child(h, &a, &child);
        char *r;
        bool all = true;
        for (int i = 0; i < 40; i++) { /* more than the 32 answers the retry cache keeps */
                uint64_t soft = harness_hard / 8 + 4096 * (uint64_t) (i % 2 + 1);
                r = tclient_call(&a, "memlock %d %" PRIu64 " keep", (int) child, soft);
                all = all && (uint64_t) jint(r, "soft") == soft;
                free(r);
        }
        tap_ok(all, "40 memlock.set, each a save of a record as long as the last");
        r = tclient_call(&a, "memlock %d 0 keep", (int) child);
        kill9_broker(h);
        tap_is_int(jint(r, "ok"), 1, "then soft 0, a shorter record, answered; then kill -9 (%s)", r);
        free(r);
        char text[65536] = "";
        newest_slot(session, text, sizeof(text));
        size_t n = strlen(text), m = object_length(text);
        if (!tmpfs)
                tap_diag("the state directory is not on tmpfs: saved the usual way (written, synced, renamed), no spaces");
        else
                tap_ok(m > 0 && m + 1 < n && text[m] == '\n' && strspn(text + m + 1, " ") == n - m - 1,
                       "the newer slot holds it, its newline, then spaces where the longer version was (%zu bytes, %zu "
                       "of them spaces)", n, n - m - 1);
        tap_is_int(harness_start_broker(h), 0, "a new broker starts");
        r = tclient_call(&a, "connect");
        tap_ok(jint(r, "resumed") == 1 && (uint64_t) jint(r, "session") == session, "the session resumes (%s)", r);
        free(r);
        r = tclient_call(&a, "state");
        tap_ok(jint(r, "state.memlock.0.pid") == child && jint(r, "state.memlock.0.soft") == 0,
               "the new broker knows soft 0 for pid %d (%s)", (int) child, r);
        free(r);
        uint64_t s, hd;
        tap_ok(read_memlock(child, &s, &hd) == 0 && s == 0, "as the kernel does");
        tclient_stop(&a);
}

/*
 * The same when the version written over is more than 4 KiB longer: cut to
 * length, not covered.  16 state.get answers (about 500 bytes each, in the
 * retry cache) are in the second save's file; 33 pings push them out of
 * the cache; the fourth save writes over that file, kill -9 after its
 * reply: the file ends with the record, and the next broker reads it back.
 */
static void restart_kill9_cut(harness *h) {
        tclient a;
        pid_t child;
        uint64_t session = launcher_with_child(h, &a, &child), soft[2] = { harness_hard / 8 + 4096, harness_hard / 4 };
        free(tclient_call(&a, "memlock %d %" PRIu64 " keep", (int) child, soft[0]));
        for (int i = 0; i < 16; i++)
                free(tclient_call(&a, "state"));
        free(tclient_call(&a, "memlock %d %" PRIu64 " keep", (int) child, soft[1]));
        free(tclient_call(&a, "memlock %d %" PRIu64 " keep", (int) child, soft[0]));
        for (int i = 0; i < 33; i++)
                free(tclient_call(&a, "ping"));
        char *r = tclient_call(&a, "memlock %d %" PRIu64 " keep", (int) child, soft[1]);
        kill9_broker(h);
        tap_is_int(jint(r, "soft"), soft[1], "the fourth save, over a file 16 answers longer; then kill -9 (%s)", r);
        free(r);
        char text[65536] = "";
        newest_slot(session, text, sizeof(text));
        size_t n = strlen(text);
        tap_ok(n > 0 && object_length(text) == n - 1 && text[n - 1] == '\n',
               "the newer slot is the record and its newline, nothing after it: cut, not covered (%zu bytes)", n);
        tap_is_int(harness_start_broker(h), 0, "a new broker starts");
        r = tclient_call(&a, "connect");
        tap_ok(jint(r, "resumed") == 1 && (uint64_t) jint(r, "session") == session, "the session resumes (%s)", r);
        free(r);
        r = tclient_call(&a, "state");
        tap_ok((uint64_t) jint(r, "state.memlock.0.soft") == soft[1], "the new broker knows the last soft limit (%s)", r);
        free(r);
        tclient_stop(&a);
}

/*
 * A save killed half way (a write stops between pages on SIGKILL) leaves
 * its file cut: the next broker takes the whole version in the other file,
 * never the newer cut one.  Real files: 60 memlock.set fill the retry cache
 * with answers of one length, both files are copied, one more memlock.set
 * (soft S3) writes the older file again; after kill -9 that file is made
 * what a write stopped at each page boundary leaves (the new version's
 * pages before it, the old one's after: of the same length, so the splice
 * is valid JSON and only the generations at its ends tell; or nothing
 * after it, as a file cut there), the other file
 * put back, and each time a new broker must resume the session with the
 * soft limit of the other file's version, and log the cut one.  The whole
 * new version, put back last, gives S3.
 */
static void restart_kill9_torn(harness *h) {
        tclient a;
        pid_t child;
        uint64_t session = launcher_with_child(h, &a, &child), s3 = harness_hard / 8 + 4096 * 3;
        char *r;
        bool all = true;
        for (int i = 0; i < 60; i++) { /* the retry cache then holds no id of one digit: answers of one length */
                uint64_t soft = harness_hard / 8 + 4096 * (uint64_t) (i % 2 + 1);
                r = tclient_call(&a, "memlock %d %" PRIu64 " keep", (int) child, soft);
                all = all && (uint64_t) jint(r, "soft") == soft;
                free(r);
        }
        tap_ok(all, "60 memlock.set answered");
        static char older[65536], newer_whole[65536], other[65536], torn[65536];
        int slot = !newest_slot(session, other, sizeof(other)); /* the older one: the next save writes it */
        char path[128], other_path[128];
        slot_path(session, slot, path, sizeof(path));
        slot_path(session, !slot, other_path, sizeof(other_path));
        harness_read_file(path, older, sizeof(older));
        r = tclient_call(&a, "memlock %d %" PRIu64 " keep", (int) child, s3);
        kill9_broker(h);
        tap_is_int(jint(r, "soft"), s3, "then soft %" PRIu64 ", into %s; kill -9 (%s)", s3, path, r);
        free(r);
        harness_read_file(path, newer_whole, sizeof(newer_whole));
        uint64_t g_old = generation_of(older), g_other = generation_of(other), g_new = generation_of(newer_whole);
        size_t n = strlen(newer_whole);
        tap_ok(g_old > 0 && g_other == g_old + 1 && g_new == g_other + 1,
               "generations %" PRIu64 " (written over), %" PRIu64 " (beside it), %" PRIu64 " (the new one)", g_old,
               g_other, g_new);
        tap_ok(strlen(older) == n && n > 4096,
               "the new version is as long as the one it was written over, more than a page (%zu and %zu bytes)", n,
               strlen(older));
        uint64_t want = (uint64_t) jint(other, "state.memlock.0.soft");
        tap_ok(want && want != s3, "the version beside it says soft %" PRIu64, want);
        size_t pages = 0, good = 0;
        for (size_t i = 0; 4096 * (i / 2 + 1) < n; i++) { /* each boundary twice: the older version after it, nothing */
                size_t cut = 4096 * (i / 2 + 1);
                memcpy(torn, newer_whole, cut);
                memcpy(torn + cut, older + cut, n - cut + 1);
                if (i % 2)
                        torn[cut] = 0; /* the file cut there */
                pages++;
                if (harness_write_file(path, torn) < 0 || harness_write_file(other_path, other) < 0)
                        tap_ok(0, "write the state files");
                if (harness_start_broker(h) < 0)
                        break;
                r = tclient_call(&a, "connect");
                bool resumed = jint(r, "resumed") == 1 && (uint64_t) jint(r, "session") == session;
                free(r);
                r = tclient_call(&a, "state");
                uint64_t got = (uint64_t) jint(r, "state.memlock.0.soft");
                free(r);
                char logged[160];
                snprintf(logged, sizeof(logged), "generation %" PRIu64 " was cut short", g_new);
                bool said = harness_log_contains(logged);
                kill9_broker(h);
                tap_ok(resumed && got == want && said,
                       "cut at byte %zu%s: the session resumes with soft %" PRIu64 " (want %" PRIu64 "), the cut one logged",
                       cut, i % 2 ? ", nothing after it" : ", the older version after it", got, want);
                good += resumed && got == want && said;
        }
        tap_ok(pages > 0 && good == pages, "at each page boundary (%zu cuts) the version before is taken", pages);
        if (harness_write_file(path, newer_whole) < 0 || harness_write_file(other_path, other) < 0)
                tap_ok(0, "write the state files");
        tap_is_int(harness_start_broker(h), 0, "the new version whole again: a new broker starts");
        r = tclient_call(&a, "connect");
        free(r);
        r = tclient_call(&a, "state");
        tap_is_int(jint(r, "state.memlock.0.soft"), s3, "it takes the new version: soft %" PRIu64 " (%s)", s3, r);
        free(r);
        tclient_stop(&a);
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
        { "restart-kill9-reply", policy_restart, restart_kill9_reply },
        { "restart-kill9-shorter", policy_restart, restart_kill9_shorter },
        { "restart-kill9-cut", policy_restart, restart_kill9_cut },
        { "restart-kill9-torn", policy_restart, restart_kill9_torn },
        { "restart-save-failed", policy_restart, restart_save_failed },
};

int main(int argc, char **argv) {
        return harness_main(argc, argv, scenarios, sizeof(scenarios) / sizeof(scenarios[0]));
}
