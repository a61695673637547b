/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-go - the Go client (bindings/go) against a real broker.  Each
 * scenario runs a compiled Go program as an unprivileged uid in pod-a's
 * cgroup and network namespace: the package's test binary (go test -c,
 * $DELEGATE_GO_TEST), whose TestBroker* tests assert the kernel's state
 * themselves, or the example node agent ($DELEGATE_GO_NODE_AGENT), which
 * starts QEMU with a raised RLIMIT_MEMLOCK and a 2-queue TAP.  Every
 * "--- PASS/FAIL" line of go test -v becomes a TAP line here.  The Go side
 * asks us over a pipe to stop, freeze, kill and restart the broker.  After
 * the Go program exits we check what its session left behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define POD_A "kubepods.slice/pod-a"
#define UID_GO 1000
#define GO_LOG "/run/delegate-test/go.log"

static const char policy_go[] =
        "{ \"version\": 1,\n"
        "  \"rules\": [\n"
        "    { \"name\": \"go-pods\",\n"
        "      \"match\": { \"uid\": 1000, \"cgroup\": \"/kubepods.slice/pod-a\" },\n"
        "      \"memlock\": { \"max\": \"64G\" },\n"
        "      \"cgroup\": { \"targets\": [\"go-housekeeping\"], \"create\": true },\n"
        "      \"sched\": { \"policies\": [\"other\", \"fifo\"], \"max_priority\": 10, \"max_rttime_us\": 200000 },\n"
        "      \"tap\": { \"template\": [\"vnet%d\"], \"max_queues\": 2, \"bridges\": [\"br0\"], \"mtu\": \"1280-9000\" },\n"
        "      \"kvmi\": { \"gpa\": [\"0-0x3ffffff\"], \"access\": \"rwx\" } }\n"
        "  ]\n"
        "}\n";

static void __attribute__((noreturn)) bail(const char *what) {
        printf("Bail out! %s: %s\n", what, strerror(errno));
        exit(1);
}

static bool link_exists(const char *name) {
        return harness_sh(NULL, "ip -n pod-a link show dev %s >/dev/null 2>&1", name) == 0;
}

static bool cgroup_exists(harness *h, const char *rel) {
        char p[700];
        harness_cgroup_path(h, rel, p, sizeof(p));
        return access(p, F_OK) == 0;
}

static void pod_netns(void) {
        tap_is_int(harness_netns_add("pod-a"), 0, "pod-a gets its own network namespace");
        tap_is_int(harness_sh(NULL, "ip -n pod-a link add br0 type bridge && ip -n pod-a link set br0 up"), 0,
                   "bridge br0 exists in pod-a");
}

/* One command from the Go side; the answer is "ok" or "fail". */
static bool broker_ctl(harness *h, const char *cmd) {
        static bool stopped; /* waitpid(WUNTRACED) reports a stop once: a second "stop" must not wait for another */
        if (!strcmp(cmd, "stop")) { /* acked once every thread stopped: kill() returns before they do */
                int st = 0;
                if (stopped)
                        return true;
                stopped = kill(h->broker_pid, SIGSTOP) == 0 && waitpid(h->broker_pid, &st, WUNTRACED) == h->broker_pid &&
                          WIFSTOPPED(st);
                return stopped;
        }
        if (!strcmp(cmd, "cont")) {
                stopped = false;
                return kill(h->broker_pid, SIGCONT) == 0;
        }
        /* a stopped broker would not act on "term"'s SIGTERM; "kill" leaves it stopped until SIGKILL */
        if (stopped && h->broker_pid > 0 && !strcmp(cmd, "term"))
                kill(h->broker_pid, SIGCONT);
        stopped = false;
        if (!strcmp(cmd, "kill"))
                return harness_kill_broker(h) == 0;
        if (!strcmp(cmd, "term")) {
                int st = harness_stop_broker(h);
                return WIFEXITED(st) && WEXITSTATUS(st) == 0;
        }
        if (!strcmp(cmd, "start"))
                return harness_start_broker(h) == 0;
        return false;
}

/*
 * Run @argv in pod-a as UID_GO with a control pipe, serving broker_ctl()
 * until it exits (at most @timeout_s); returns its wait status.
 */
static int run_go(harness *h, char *const *argv, int timeout_s) {
        int ctl[2], ack[2];
        char env[32];
        if (pipe2(ctl, O_CLOEXEC) < 0 || pipe2(ack, O_CLOEXEC) < 0)
                bail("pipe2");
        /* the Go side's ends cross exec */
        if (fcntl(ctl[1], F_SETFD, 0) < 0 || fcntl(ack[0], F_SETFD, 0) < 0)
                bail("fcntl");
        snprintf(env, sizeof(env), "%d", ctl[1]);
        setenv("DELEGATE_GO_CTL_FD", env, 1);
        snprintf(env, sizeof(env), "%d", ack[0]);
        setenv("DELEGATE_GO_ACK_FD", env, 1);
        setenv("DELEGATE_GO_HARNESS", "1", 1);
        pid_t pid = harness_spawn_in_pod(h, POD_A, "pod-a", UID_GO, UID_GO, GO_LOG, argv);
        close(ctl[1]);
        close(ack[0]);
        tap_ok(pid > 0, "start %s as uid %d in pod-a", argv[0], UID_GO);
        int status = -1;
        char line[128];
        size_t len = 0;
        time_t deadline = time(NULL) + timeout_s;
        while (time(NULL) < deadline) {
                struct pollfd p = { .fd = ctl[0], .events = POLLIN };
                if (poll(&p, 1, 100) > 0) {
                        ssize_t n = read(ctl[0], line + len, sizeof(line) - 1 - len);
                        if (n > 0)
                                len += (size_t) n;
                        else if (n == 0) { /* the Go side closed its end: poll only the child */
                                close(ctl[0]);
                                ctl[0] = -1;
                        }
                        line[len] = 0;
                        char *nl;
                        while ((nl = strchr(line, '\n'))) {
                                *nl = 0;
                                bool ok = broker_ctl(h, line);
                                tap_diag("go asked: %s -> %s", line, ok ? "ok" : "fail");
                                if (write(ack[1], ok ? "ok\n" : "fail\n", ok ? 3 : 5) < 0)
                                        tap_diag("ack: %m");
                                len -= (size_t) (nl + 1 - line);
                                memmove(line, nl + 1, len + 1);
                        }
                }
                if (waitpid(pid, &status, WNOHANG) == pid)
                        goto done;
        }
        tap_diag("%s did not finish within %d s; killing it", argv[0], timeout_s);
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
done:
        if (ctl[0] >= 0)
                close(ctl[0]);
        close(ack[1]);
        return status;
}

/* Every "--- PASS/FAIL/SKIP: Name" line of go test -v as a TAP line; returns how many passed. */
static int report_go_tests(void) {
        FILE *f = fopen(GO_LOG, "re");
        char line[4096];
        int passed = 0;
        while (f && fgets(line, sizeof(line), f)) {
                char *s = line + strspn(line, " \t");
                line[strcspn(line, "\n")] = 0;
                if (strncmp(s, "--- PASS: ", 10) == 0) {
                        tap_ok(1, "go: %s", s + 10);
                        passed++;
                } else if (strncmp(s, "--- FAIL: ", 10) == 0)
                        tap_ok(0, "go: %s", s + 10);
                else if (strncmp(s, "--- SKIP: ", 10) == 0)
                        tap_ok(0, "go: %s was skipped, which here hides a failure", s + 10);
        }
        if (f)
                fclose(f);
        return passed;
}

static void dump_go_log(void) {
        FILE *f = fopen(GO_LOG, "re");
        char line[4096];
        while (f && fgets(line, sizeof(line), f))
                tap_diag("go| %s", strtok(line, "\n") ? line : "");
        if (f)
                fclose(f);
}

static void run_go_test(harness *h, const char *test) {
        const char *bin = getenv("DELEGATE_GO_TEST");
        if (!bin)
                tap_skip_all("DELEGATE_GO_TEST is not set: the Go toolchain was not found when meson configured the build");
        char run[128];
        const char *only = getenv("DELEGATE_GO_RUN"); /* by hand: a subtest pattern, e.g. 'TestBrokerOps/^ping$' */
        snprintf(run, sizeof(run), "-test.run=%s%s%s", only ? "" : "^", only ? only : test, only ? "" : "$");
        char *const argv[] = { (char *) bin, "-test.v", "-test.count=1", run, NULL };
        int st = run_go(h, argv, 240);
        int passed = report_go_tests();
        bool ok = tap_ok(WIFEXITED(st) && WEXITSTATUS(st) == 0 && passed > 0,
                         "go test %s passes (%d passed; exit status %d, signal %d)", test, passed,
                         WIFEXITED(st) ? WEXITSTATUS(st) : -1, WIFSIGNALED(st) ? WTERMSIG(st) : 0);
        if (!ok)
                dump_go_log();
}

static void go_broker_ops(harness *h) {
        pod_netns();
        run_go_test(h, "TestBrokerOps");
        /* the session ended with the Go program: what it created is undone */
        tap_ok(WAIT_FOR(!cgroup_exists(h, POD_A "/go-housekeeping")), "the created go-housekeeping cgroup is removed");
        tap_ok(!link_exists("vnet0") && !link_exists("vnet1"), "no TAP device is left in pod-a");
}

static void go_broker_restart(harness *h) {
        pod_netns();
        run_go_test(h, "TestBrokerRestart");
        tap_ok(h->broker_pid > 0 && kill(h->broker_pid, 0) == 0, "the restarted broker runs on");
}

/* pid of a process named @comm (first 15 characters) whose parent is @ppid, or 0 */
static pid_t child_named(pid_t ppid, const char *comm) {
        char *out = NULL;
        pid_t pid = 0;
        if (harness_sh(&out, "ps -o pid=,comm= --ppid %d", (int) ppid) == 0 && out) {
                char *save, *l = strtok_r(out, "\n", &save);
                for (; l && !pid; l = strtok_r(NULL, "\n", &save)) {
                        int p;
                        char c[64];
                        if (sscanf(l, "%d %63s", &p, c) == 2 && strncmp(c, comm, 15) == 0)
                                pid = p;
                }
        }
        free(out);
        return pid;
}

/* How many fds of @pid are TAP queues of @dev (fdinfo "iff:" lines). */
static int tap_fds_of(pid_t pid, const char *dev) {
        char *out = NULL;
        int n = -1;
        if (harness_sh(&out, "grep -l '^iff:[[:space:]]*%s$' /proc/%d/fdinfo/* 2>/dev/null | wc -l", dev, (int) pid) ==
                    0 &&
            out)
                n = atoi(out);
        free(out);
        return n;
}

static void go_node_agent(harness *h) {
        const char *agent = getenv("DELEGATE_GO_NODE_AGENT"), *qemu = "/usr/bin/qemu-system-x86_64";
        if (!agent)
                tap_skip_all("DELEGATE_GO_NODE_AGENT is not set: the Go toolchain was not found when meson configured the build");
        if (access(qemu, X_OK) < 0)
                tap_skip_all("qemu-system-x86_64 is not installed");
        pod_netns();
        uint64_t want = harness_hard / 2;
        char mem[32];
        snprintf(mem, sizeof(mem), "%" PRIu64, want);
        /* QEMU paused (-S) with TCG: the netdev opens both queues at start-up, no guest needed */
        char *const argv[] = { (char *) agent, "-vm", "vm-go", "-memlock", mem, "-queues", "2", "-bridge", "br0", "--",
                               (char *) qemu, "-S", "-nodefaults", "-display", "none", "-machine", "q35,accel=tcg",
                               "-netdev", "tap,id=n0,fds=@TAPFDS@,vhost=off", "-device",
                               "virtio-net-pci,netdev=n0,mq=on,vectors=6", NULL };
        pid_t pid = harness_spawn_in_pod(h, POD_A, "pod-a", UID_GO, UID_GO, GO_LOG, argv);
        tap_ok(pid > 0, "the node agent starts as uid %d in pod-a", UID_GO);
        pid_t q = 0;
        for (int i = 0; i < 300 && !q; i++) {
                q = child_named(pid, "qemu-system-x86");
                if (!q)
                        usleep(50000);
        }
        if (!tap_ok(q > 0, "the agent's child became QEMU (pid %d)", (int) q)) {
                dump_go_log();
                kill(pid, SIGKILL);
                waitpid(pid, NULL, 0);
                return;
        }
        uint64_t soft = 0, hard = 0;
        tap_is_int(read_memlock(q, &soft, &hard), 0, "read /proc/%d/limits", (int) q);
        tap_is_int(soft, want, "kernel: QEMU's RLIMIT_MEMLOCK soft limit is what the agent asked for");
        tap_ok(WAIT_FOR(tap_fds_of(q, "vnet0") == 2), "kernel: QEMU holds both queues of vnet0 (%d)",
               tap_fds_of(q, "vnet0"));
        char *out = NULL;
        harness_sh(&out, "ip -n pod-a -d link show dev vnet0");
        tap_has_str(out, "multi_queue", "vnet0 in pod-a is a multi-queue TAP (%s)", out ? out : "");
        tap_has_str(out, "master br0", "enslaved to br0");
        free(out);
        out = NULL;
        harness_sh(&out, "ps -o comm= -p %d", (int) pid);
        tap_has_str(out, "node-agent", "the agent stays as QEMU's parent");
        free(out);

        kill(pid, SIGTERM); /* the agent stops QEMU and ends its session */
        int st;
        waitpid(pid, &st, 0);
        tap_ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the agent exits cleanly on SIGTERM (status %d)", st);
        tap_ok(WAIT_FOR(kill(q, 0) < 0), "QEMU is gone");
        tap_ok(WAIT_FOR(!link_exists("vnet0")), "and with the session, vnet0");
}

static const scenario scenarios[] = {
        { "go-broker-ops", policy_go, go_broker_ops },
        { "go-broker-restart", policy_go, go_broker_restart },
        { "go-node-agent", policy_go, go_node_agent },
};

int main(int argc, char **argv) {
        return harness_main(argc, argv, scenarios, sizeof(scenarios) / sizeof(scenarios[0]));
}
