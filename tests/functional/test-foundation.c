/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-foundation - functional scenarios of the foundation: cgroup targets
 * outside the pod, a broker in a cgroup namespace, API mismatch, malformed
 * input, policy reload, state and retries, erased request buffers
 * (memlock.set end to end is test-memlock.c).  Each scenario runs in its own namespaces with
 * its own broker (tests/lib/harness.h); assertions read the kernel's state
 * (/proc/PID/limits, /proc/PID/fd), not the broker's claim.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <dirent.h>
#include <grp.h>
#include <unistd.h>

#include "foundation-scenario.h"

/* --- scenarios --- */

/*
 * A peer whose cgroup lies outside the broker's cgroup namespace reads as
 * "/../x" in /proc/PID/cgroup: the broker refuses it by name instead of
 * matching rules against a path that names nothing in its tree.  The peer
 * is put there through the host's cgroup namespace (the whole tree).
 */
static void cgroup_outside(harness *h) {
        int pfd[2];
        tap_is_int(pipe2(pfd, O_CLOEXEC), 0, "pipe");
        pid_t p = fork();
        if (p == 0) {
                char dir[128], procs[160], pid[32], msg[1024] = "";
                /* the host's cgroup namespace: kthreadd's (pid 1 may be non-dumpable) */
                int fd = open("/proc/2/ns/cgroup", O_RDONLY | O_CLOEXEC);
                if (fd < 0 || setns(fd, CLONE_NEWCGROUP) < 0 || unshare(CLONE_NEWNS) < 0 ||
                    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                        _exit(2);
                mkdir("/run/delegate-test/hostcg", 0755);
                if (mount("cgroup2", "/run/delegate-test/hostcg", "cgroup2", 0, NULL) < 0)
                        _exit(3);
                snprintf(dir, sizeof(dir), "/run/delegate-test/hostcg/delegate-test-outside-%d", (int) getpid());
                snprintf(procs, sizeof(procs), "%s/cgroup.procs", dir);
                snprintf(pid, sizeof(pid), "%d", (int) getpid());
                int c = -1;
                if (mkdir(dir, 0755) == 0 && (c = open(procs, O_WRONLY | O_CLOEXEC)) >= 0 &&
                    write(c, pid, strlen(pid)) > 0) {
                        /* the broker identifies a peer when it accepts it: the refusal comes unasked
                         * (sending a hello could race with the close that follows it) */
                        int s = raw_connect();
                        char *r = s >= 0 ? raw_recv(s, 5000) : NULL;
                        snprintf(msg, sizeof(msg), "%s", r ? r : "(no answer)");
                        free(r);
                }
                if (c >= 0)
                        close(c);
                /* back to the host's root cgroup, and remove ours */
                c = open("/run/delegate-test/hostcg/cgroup.procs", O_WRONLY | O_CLOEXEC);
                if (c >= 0 && write(c, pid, strlen(pid)) < 0)
                        msg[0] = 0;
                rmdir(dir);
                if (write(pfd[1], msg, strlen(msg)) < 0)
                        _exit(4);
                _exit(0);
        }
        close(pfd[1]);
        char buf[1024] = "";
        ssize_t n = read(pfd[0], buf, sizeof(buf) - 1);
        buf[n > 0 ? n : 0] = 0;
        close(pfd[0]);
        int st;
        waitpid(p, &st, 0);
        tap_ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "a client in a cgroup outside the broker's namespace ran (0x%x)",
               st);
        tap_is_str(jstr(buf, "type"), "error", "it is refused (%s)", buf);
        tap_has_str(jstr(buf, "message"), "lies outside the broker's cgroup namespace",
                    "the message says the cgroup lies outside the broker's cgroup namespace");
        tap_is_int(jint(buf, "errno"), EXDEV, "and its errno is EXDEV");
        tap_ok(!harness_log_contains("session 1 opened"), "no session was opened for '/../...'");
        (void) h;
}

/*
 * The broker started in a private cgroup namespace below the root of the
 * cgroup mount (as in a container): peers' cgroups would read as "/../...".
 * It joins the host's cgroup namespace; here (the test's own cgroup tree is
 * mounted, not the whole hierarchy) that still does not line the paths up,
 * so it must refuse to start with a clear message, not serve.
 */
static void broker_cgroupns(harness *h) {
        char path[512];
        tap_ok(WIFEXITED(harness_stop_broker(h)), "the scenario's broker stops");
        harness_cgroup_path(h, "system/cgns", path, sizeof(path));
        tap_is_int(mkdir(path, 0755), 0, "a cgroup system/cgns for the broker");
        const char *broker = getenv("DELEGATE_BROKER");
        pid_t p = fork();
        if (p == 0) {
                int fd = open(HARNESS_BROKER_LOG, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
                if (fd < 0 || harness_move(h, getpid(), "system/cgns") < 0 || unshare(CLONE_NEWCGROUP) < 0)
                        _exit(126);
                dup2(fd, 1);
                dup2(fd, 2);
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                execl(broker, "delegate-broker", "--foreground", "--socket", HARNESS_SOCKET, "--policy-dir",
                      HARNESS_POLICY_DIR, (char *) NULL);
                _exit(127);
        }
        int st = -1;
        for (int i = 0; i < 200 && waitpid(p, &st, WNOHANG) != p; i++, st = -1)
                usleep(25000);
        if (st == -1) {
                kill(p, SIGKILL);
                waitpid(p, NULL, 0);
        }
        tap_ok(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) != 0 && WEXITSTATUS(st) < 126,
               "a broker in a private cgroup namespace refuses to start (0x%x)", st);
        tap_ok(harness_log_contains("the cgroup v2 mount's root is still"), "it says why: the paths do not line up");
        tap_ok(harness_log_contains("run the broker with hostPID"), "and what the node needs");
        rmdir(path);
        tap_is_int(harness_start_broker(h), 0, "the scenario's broker starts again");
}

static void api_mismatch(harness *h) {
        int fd = raw_connect();
        tap_ok(fd >= 0, "connect");
        const char *hello = "{\"type\":\"hello\",\"api\":2,\"client\":\"future\"}";
        raw_send(fd, hello, strlen(hello));
        char *r = raw_recv(fd, 5000);
        tap_is_str(jstr(r, "type"), "error", "hello with API 2 is answered with an error");
        tap_is_str(jstr(r, "code"), "api-mismatch", "code api-mismatch");
        tap_is_str(jstr(r, "message"), "client speaks API 2, broker speaks API 1", "message names both versions");
        free(r);
        r = raw_recv(fd, 5000);
        tap_ok(r == NULL, "the broker closes the connection");
        free(r);
        close(fd);
        tap_ok(harness_log_contains("client speaks API 2, broker speaks API 1"), "the broker logs the mismatch too");

        fd = raw_connect();
        hello = "{\"type\":\"hello\",\"api\":\"1\"}";
        raw_send(fd, hello, strlen(hello));
        r = raw_recv(fd, 5000);
        tap_is_str(jstr(r, "code"), "bad-request", "a string api is a bad request");
        free(r);
        close(fd);

        fd = raw_connect();
        const char *req = "{\"id\":1,\"op\":\"ping\"}";
        raw_send(fd, req, strlen(req));
        r = raw_recv(fd, 5000);
        tap_is_str(jstr(r, "code"), "bad-request", "a request before hello is refused");
        tap_has_str(jstr(r, "message"), "first message must be", "saying hello comes first");
        free(r);
        r = raw_recv(fd, 5000);
        tap_ok(r == NULL, "and the connection is closed");
        free(r);
        close(fd);
        tclient a;
        start_client(h, &a, "kubepods.slice/pod-a", 1000, "vm-a");
        ping_ok(&a, "after refused handshakes");
        tclient_stop(&a);
}

static void malformed_input(harness *h) {
        tclient a;
        start_client(h, &a, "kubepods.slice/pod-a", 1000, "vm-a");
        ping_ok(&a, "at the start");
        int fd = raw_hello();
        tap_ok(fd >= 0, "raw client completes the handshake");

        char *r = raw_call(fd, "{not json");
        tap_is_str(jstr(r, "error.code"), "bad-request", "malformed JSON: bad-request");
        tap_has_str(jstr(r, "error.message"), "line 1, column 2", "with the position");
        free(r);
        ping_ok(&a, "after malformed JSON");

        size_t big = 100 * 1024;
        char *huge = malloc(big);
        memset(huge, ' ', big);
        huge[0] = '{';
        huge[big - 1] = '}';
        raw_send(fd, huge, big);
        free(huge);
        r = raw_recv(fd, 5000);
        tap_is_str(jstr(r, "error.code"), "too-large", "a 100 KiB datagram: too-large");
        free(r);
        ping_ok(&a, "after an oversized datagram");

        static const struct {
                const char *msg, *want;
        } cases[] = {
                { "[1,2]", "must be a JSON object" },
                { "{\"id\":1,\"op\":\"nope\"}", "unknown operation 'nope'" },
                { "{\"id\":\"x\",\"op\":\"ping\"}", "\"id\" must be an integer" },
                { "{\"id\":-4,\"op\":\"ping\"}", "\"id\" must be an integer" },
                { "{\"op\":\"ping\"}", "without \"id\"" },
                { "{\"id\":2,\"op\":7}", "\"op\" must be a string" },
                { "{\"id\":3,\"op\":\"ping\",\"args\":[1]}", "\"args\" must be an object" },
                { "{\"id\":4,\"op\":\"memlock.set\",\"args\":{\"pid\":\"x\",\"soft\":1}}", "\"pid\" must be" },
                { "{\"id\":5,\"op\":\"memlock.set\",\"args\":{\"pid\":0}}", "missing \"soft\"" },
                { "{\"id\":6,\"op\":\"memlock.set\",\"args\":{\"pid\":0,\"soft\":\"lots\"}}", "\"soft\" must be" },
                { "{\"id\":7,\"op\":\"memlock.set\",\"args\":{\"pid\":0,\"soft\":1,\"x\":1}}", "unknown argument 'x'" },
                { "{\"id\":8,\"op\":\"ping\",\"extra\":1}", "unknown request key 'extra'" },
                { "{\"id\":9,\"op\":\"ping\",\"id\":10}", "duplicate key 'id'" },
                /* a string not closed after the request (yajl alone took the text) */
                { "{\"id\":11,\"op\":\"ping\"} \"", "malformed JSON at line 1, column 23: trailing garbage" },
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                r = raw_call(fd, cases[i].msg);
                tap_is_str(jstr(r, "error.code"), "bad-request", "%s: bad-request", cases[i].msg);
                tap_has_str(jstr(r, "error.message"), cases[i].want, "  saying %s", cases[i].want);
                free(r);
        }
        raw_send(fd, "", 0);
        r = raw_recv(fd, 5000);
        tap_has_str(jstr(r, "error.message"), "empty message", "an empty datagram: bad-request");
        free(r);

        /* fds sent to the broker are refused and not kept */
        int before = harness_fd_count(h->broker_pid);
        int pfd[2];
        pipe2(pfd, O_CLOEXEC);
        for (int k = 0; k < 3; k++) {
                const char *msg = "{\"id\":20,\"op\":\"ping\"}";
                struct iovec iov = { .iov_base = (void *) msg, .iov_len = strlen(msg) };
                char ctl[CMSG_SPACE(sizeof(int) * 2)];
                struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl) };
                struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
                cm->cmsg_level = SOL_SOCKET;
                cm->cmsg_type = SCM_RIGHTS;
                cm->cmsg_len = CMSG_LEN(sizeof(int) * 2);
                memcpy(CMSG_DATA(cm), pfd, sizeof(int) * 2);
                sendmsg(fd, &mh, 0);
                r = raw_recv(fd, 5000);
                if (k == 0)
                        tap_has_str(jstr(r, "error.message"), "file descriptor",
                                    "fds sent to the broker are refused");
                free(r);
        }
        close(pfd[0]);
        close(pfd[1]);
        /* "not kept": the broker may still be closing them as the answer arrives */
        int after = harness_fd_count(h->broker_pid);
        for (int i = 0; i < 100 && after != before; i++) {
                usleep(10000);
                after = harness_fd_count(h->broker_pid);
        }
        if (after != before) {
                char *ls = NULL;
                harness_sh(&ls, "ls -l /proc/%d/fd", (int) h->broker_pid);
                tap_diag("broker fds: %s", ls ? ls : "?");
                free(ls);
        }
        tap_is_int(after, before, "the broker holds no more fds than before");

        r = raw_call(fd, "{\"id\":30,\"op\":\"ping\"}");
        tap_is_int(jint(r, "ok"), 1, "the misbehaving client itself is still served");
        free(r);
        close(fd);
        ping_ok(&a, "at the end");
        tclient_stop(&a);
}

static void reload_broken_policy(harness *h) {
        tclient a;
        uint64_t s, hd;
        start_client(h, &a, "kubepods.slice/pod-a", 1000, "vm-a");
        pid_t c = spawn_child(&a);
        char *r = tclient_call(&a, "memlock %d %" PRIu64 " keep", (int) c, H / 2);
        tap_is_int(jint(r, "ok"), 1, "allowed under generation 1");
        free(r);

        harness_write_policy("20-broken.json", "{ \"version\": 1,\n  \"rules\": [\n    { \"name\": \"x\", \"bogus\": 1 } ] }\n");
        kill(h->broker_pid, SIGHUP);
        tap_ok(harness_log_contains("20-broken.json:3:20: unknown rule key 'bogus'"),
               "the reload error names file, line and column");
        tap_ok(harness_log_contains("generation 1 stays in force"), "the broker says the old policy stays");
        r = tclient_call(&a, "memlock %d %" PRIu64 " keep", (int) c, H / 2);
        tap_is_int(jint(r, "ok"), 1, "the old policy still decides");
        free(r);
        read_memlock(c, &s, &hd);
        tap_is_int(s, H / 2, "the kernel shows H/2");

        unlink(HARNESS_POLICY_DIR "/20-broken.json");
        char tight[256];
        snprintf(tight, sizeof(tight),
                 "{ \"version\": 1, \"rules\": [ { \"name\": \"tight\", \"match\": { \"uid\": 1000 },"
                 " \"memlock\": { \"max\": %" PRIu64 " } } ] }",
                 H / 2);
        harness_write_policy("10-scenario.json", tight);
        kill(h->broker_pid, SIGHUP);
        tap_ok(harness_log_contains("policy generation 2 loaded"), "a good policy loads as generation 2");
        r = tclient_call(&a, "memlock %d %" PRIu64 " keep", (int) c, H * 3 / 4);
        tap_is_str(jstr(r, "code"), "denied", "the new policy decides");
        tap_is_str(jstr(r, "rule"), "tight", "naming its rule");
        free(r);
        read_memlock(c, &s, &hd);
        tap_is_int(s, H / 2, "the kernel still shows H/2");
        tclient_stop(&a);
}

static void state_and_retry(harness *h) {
        tclient a;
        start_client(h, &a, "kubepods.slice/pod-a", 1000, "vm-a");
        pid_t c = spawn_child(&a);
        char *r = tclient_call(&a, "memlock %d %" PRIu64 " keep", (int) c, H / 2);
        free(r);
        r = tclient_call(&a, "state");
        tap_is_str(jstr(r, "state.vm"), "vm-a", "state.get names the VM");
        tap_is_str(jstr(r, "state.peer.cgroup"), "/kubepods.slice/pod-a", "and the pod cgroup");
        tap_is_int(jint(r, "state.requests.allowed"), 1, "one request allowed so far");
        tap_has_str(r, "\"memlock\":[{\"pid\":", "and lists the memlock delegation");
        char want[64];
        snprintf(want, sizeof(want), "{\"pid\":%d,\"soft\":%" PRIu64, (int) c, H / 2);
        tap_has_str(r, want, "for the child, at H/2");
        free(r);

        /* ping's answer (put together by hand, not by the generator the welcome comes from): what the
         * welcome said, and parsed back */
        int fd = raw_connect();
        char *w = raw_call(fd, "{\"type\":\"hello\",\"api\":1,\"client\":\"pinger\"}");
        char *p = raw_call(fd, "{\"id\":9007199254740991,\"op\":\"ping\"}");
        tap_is_str(jstr(w, "type"), "welcome", "a raw client is welcomed");
        tap_is_int(jint(p, "id"), 9007199254740991LL, "ping's answer has the request's id (%s)", p);
        tap_is_int(jint(p, "ok"), 1, "ok");
        tap_is_int(jint(p, "result.pong"), 1, "pong");
        tap_is_int(jint(p, "result.api"), jint(w, "api"), "the API of the welcome");
        tap_is_str(jstr(p, "result.broker"), jstr(w, "broker"), "the broker version of the welcome");
        tap_is_int(jint(p, "result.session"), jint(w, "session"), "the session of the welcome");
        tap_is_int(jint(p, "result.policy_generation"), jint(w, "policy_generation"),
                   "the policy generation of the welcome");
        char *again = raw_call(fd, "{\"id\":9007199254740991,\"op\":\"ping\"}");
        tap_is_str(again, p, "a retried ping id gets the same bytes again");
        free(again);
        /* 40 state.get answers (each counts the one before): the ring of 32 remembered answers comes
         * round, the buffers of the first 8 (long ids) taking the last 8 (short ids) */
        char *answers[40];
        unsigned same = 0;
        for (unsigned i = 0; i < 40; i++) {
                char req[96];
                snprintf(req, sizeof(req), "{\"id\":%u,\"op\":\"state.get\"}", i >= 32 ? 1000 + i : 1000000000 + i);
                answers[i] = raw_call(fd, req);
        }
        for (unsigned i = 8; i < 40; i++) {
                char req[96];
                snprintf(req, sizeof(req), "{\"id\":%u,\"op\":\"state.get\"}", i >= 32 ? 1000 + i : 1000000000 + i);
                again = raw_call(fd, req);
                same += again && answers[i] && !strcmp(again, answers[i]);
                free(again);
        }
        for (unsigned i = 0; i < 40; i++)
                free(answers[i]);
        tap_is_int(same, 32, "the last 32 of them, retried, get their first answers byte for byte");
        free(p);
        free(w);
        close(fd);

        /* a retried id returns the first answer and does not act again */
        fd = raw_hello();
        struct rlimit rl;
        getrlimit(RLIMIT_MEMLOCK, &rl);
        char req[128];
        snprintf(req, sizeof(req), "{\"id\":77,\"op\":\"memlock.set\",\"args\":{\"pid\":0,\"soft\":%" PRIu64 "}}",
                 H / 2);
        char *first = raw_call(fd, req);
        tap_is_int(jint(first, "ok"), 1, "raw memlock.set on itself succeeds (%s)", first);
        uint64_t s, hd;
        read_memlock(getpid(), &s, &hd);
        tap_is_int(s, H / 2, "the kernel shows H/2");
        rl.rlim_cur = H / 4;
        setrlimit(RLIMIT_MEMLOCK, &rl);
        char *second = raw_call(fd, req);
        tap_is_str(second, first, "the retried id gets the identical first answer");
        read_memlock(getpid(), &s, &hd);
        tap_is_int(s, H / 4, "and nothing was done again (the kernel still shows H/4)");
        free(first);
        free(second);
        close(fd);
        tclient_stop(&a);
}


/*
 * erase-request-buffers: run with tests/lib/erase-check.c preloaded (see
 * meson.build): every block the broker or delegatectl frees, and every
 * private writable mapping of the broker once the session is over, is
 * scanned for a marker that this scenario sends in every part of a
 * request it can: the hello, keys, values, malformed and oversized
 * datagrams, a retried id, a reply that echoes it.  None may remain.
 * This process frees a reply holding the marker without erasing it, on
 * purpose: the control that proves the hook sees unerased frees.
 */
#define MARKER "Xerase-7f3a9c1d"
#define ERASE_REPORT "/run/delegate-test/erase-report"

static void erase_request_buffers(harness *h) {
        if (!getenv("DELEGATE_ERASE_MARKER") || strcmp(getenv("DELEGATE_ERASE_MARKER"), MARKER) != 0) {
                tap_ok(0, "DELEGATE_ERASE_MARKER is '" MARKER "' (meson sets it with LD_PRELOAD)");
                return;
        }
        int fd = raw_connect();
        tap_ok(fd >= 0, "raw client connects");
        const char *hello = "{\"type\":\"hello\",\"api\":1,\"client\":\"c-" MARKER "\",\"vm\":\"vm-" MARKER "\"}";
        raw_send(fd, hello, strlen(hello));
        char *w = raw_recv(fd, 5000);
        tap_is_str(jstr(w, "type"), "welcome", "a hello naming the marker is welcomed");
        free(w);

        static const char *const requests[] = {
                "{\"id\":1,\"op\":\"ping\",\"args\":{\"" MARKER "\":\"" MARKER "\"}}",
                "{\"id\":2,\"op\":\"memlock.set\",\"args\":{\"pid\":0,\"soft\":\"" MARKER "\"}}",
                "{\"id\":3,\"op\":\"memlock.set\",\"args\":{\"pid\":0,\"soft\":\"1M\",\"" MARKER "\":1}}",
                "{\"id\":4,\"op\":\"memlock.set\",\"args\":{\"pid\":0,\"soft\":\"64K\"},\"note\":\"" MARKER "\"}",
                "{\"id\":5,\"op\":\"" MARKER "\"}",
                "{\"id\":6,\"op\":\"tap.create\",\"args\":{\"name\":\"" MARKER "\"}}",
                "{\"id\":7,\"op\":\"cgroup.move\",\"args\":{\"tids\":[1],\"target\":\"" MARKER "\"}}",
                "{\"id\":8,\"op\":\"sched.set\",\"args\":{\"tid\":0,\"policy\":\"" MARKER "\"}}",
                "{\"id\":9,\"op\":\"kvmi.set-page-access\",\"args\":{\"entries\":[[\"" MARKER "\",\"rw\"]]}}",
                "{\"id\":10,\"op\":\"memlock.set\",\"args\":{\"pid\":0,\"soft\":\"64K\",\"hard\":\"keep\"}}",
                "{\"id\":11,\"op\":\"state.get\"}",
                "{\"id\":11,\"op\":\"state.get\",\"args\":{\"retry\":\"" MARKER "\"}}",
                "{\"id\":12,\"op\":\"" MARKER "\" \"not json",
                /* its answer names the marker further in than a ping's answer reaches (below) */
                "{\"id\":13,\"op\":\"padding-padding-padding-padding-padding-" MARKER "\"}",
                "[\"" MARKER "\"]",
        };
        unsigned answered = 0, echoed = 0;
        for (size_t i = 0; i < sizeof(requests) / sizeof(requests[0]); i++) {
                raw_send(fd, requests[i], strlen(requests[i]));
                char *r = raw_recv(fd, 5000);
                answered += r != NULL;
                echoed += r && strstr(r, MARKER);
                free(r); /* not erased: the control */
        }
        tap_is_int(answered, sizeof(requests) / sizeof(requests[0]), "every request is answered");
        tap_ok(echoed > 0, "some replies echo the marker (%u): reply buffers are covered too", echoed);
        /* shorter answers after them: the ring of remembered answers comes round, and the buffers of those
         * that echoed the marker take the new ones (erased before: nothing is left past their end) */
        unsigned pongs = 0;
        for (unsigned i = 0; i < 40; i++) {
                char ping[64];
                snprintf(ping, sizeof(ping), "{\"id\":%u,\"op\":\"ping\"}", 100 + i);
                char *r = raw_call(fd, ping);
                pongs += jint(r, "result.pong") == 1;
                free(r);
        }
        tap_is_int(pongs, 40, "40 pings after them are answered");

        size_t big = 80 * 1024;
        char *huge = malloc(big);
        memset(huge, ' ', big);
        memcpy(huge, "{\"x\":\"" MARKER "\"", 6 + strlen(MARKER) + 1);
        huge[big - 1] = '}';
        raw_send(fd, huge, big);
        explicit_bzero(huge, big);
        free(huge);
        w = raw_recv(fd, 5000);
        tap_is_str(jstr(w, "error.code"), "too-large", "an oversized datagram holding the marker: too-large");
        free(w);
        close(fd);

        /* the library's buffers: delegatectl with the marker in its hello and replies */
        pid_t pid = fork();
        if (pid == 0) {
                int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
                dup2(null, 1);
                execl(getenv("DELEGATECTL"), "delegatectl", "--vm", "vm-" MARKER, "state", (char *) NULL);
                _exit(127);
        }
        int st = -1;
        waitpid(pid, &st, 0);
        tap_ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "delegatectl state for vm-" MARKER " succeeds");

        /* the session is over: nothing of it may remain in the broker's memory */
        usleep(300 * 1000);
        kill(h->broker_pid, SIGUSR2);
        bool scanned = false;
        for (int i = 0; i < 500 && !scanned; i++) {
                char *t = harness_erase_report(ERASE_REPORT);
                scanned = strstr(t, "SCAN-DONE") != NULL;
                free(t);
                if (!scanned)
                        usleep(10000);
        }
        tap_ok(scanned, "the broker's memory was scanned after the session closed");
        st = harness_stop_broker(h);
        tap_ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the broker exits cleanly (frees scanned too)");

        char *t = harness_erase_report(ERASE_REPORT);
        tap_ok(harness_erase_findings(t, "test-foundation") > 0,
               "control: the hook reports this test's own unerased frees of replies");
        tap_is_int(harness_erase_findings(t, "delegate-broker"), 0,
                   "no block the broker freed, and nothing live after the session, holds request content");
        tap_is_int(harness_erase_findings(t, "delegatectl"), 0, "no block libdelegate freed in delegatectl holds request content");
        free(t);
        /* the harness stops the broker at the end of every scenario */
        tap_ok(harness_start_broker(h) == 0, "the broker restarts");
}

static const scenario scenarios[] = {
        { "cgroup-outside", policy_main, cgroup_outside },
        { "broker-cgroupns", policy_main, broker_cgroupns },
        { "api-mismatch", policy_main, api_mismatch },
        { "malformed-input", policy_main, malformed_input },
        { "reload-broken-policy", policy_main, reload_broken_policy },
        { "state-and-retry", policy_main, state_and_retry },
        { "erase-request-buffers", policy_main, erase_request_buffers },
};

int main(int argc, char **argv) {
        return harness_main(argc, argv, scenarios, sizeof(scenarios) / sizeof(scenarios[0]));
}
