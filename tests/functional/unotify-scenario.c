/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * unotify-scenario.c - what test-unotify and test-unotify-tap share (unotify-scenario.h).
 */
#include "unotify-scenario.h"

#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

static const char policy_template[] =
        "{ \"version\": 1,\n"
        "  \"rules\": [\n"
        "    { \"name\": \"seccomp-clamp\",\n"
        "      \"match\": { \"uid\": \"1000-1999\", \"vm\": \"vm-a\", \"via\": \"seccomp\" },\n"
        "      \"memlock\": { \"max\": %llu, \"unlimited\": \"max\" },\n"
        "      \"sched\": { \"policies\": [\"fifo\", \"rr\"], \"max_priority\": 10, \"max_rttime_us\": 200000 },\n"
        "      \"tap\": { \"template\": [\"utap%%d\", \"mq0\", \"mq1\"], \"max_devices\": 4, \"max_queues\": 2,\n"
        "                 \"mtu\": \"1280-9000\" } },\n"
        "    { \"name\": \"seccomp-mq4\",\n"
        "      \"match\": { \"uid\": \"1000-1999\", \"vm\": \"vm-c\", \"via\": \"seccomp\" },\n"
        "      \"tap\": { \"template\": [\"mqr0\", \"mqr1\"], \"max_devices\": 4, \"max_queues\": 4 } },\n"
        "    { \"name\": \"seccomp-deny-unlimited\",\n"
        "      \"match\": { \"uid\": \"1000-1999\", \"vm\": \"vm-b\", \"via\": \"seccomp\" },\n"
        "      \"memlock\": { \"max\": %llu, \"unlimited\": \"deny\" } },\n"
        "    { \"name\": \"socket-tap\",\n"
        "      \"match\": { \"uid\": \"1000-1999\", \"vm\": \"vm-t\", \"via\": \"socket\" },\n"
        "      \"tap\": { \"template\": \"stap%%d\", \"max_devices\": 4 } },\n"
        "    { \"name\": \"sockets\",\n"
        "      \"match\": { \"uid\": \"1000-1999\", \"via\": \"socket\" } }\n"
        "  ]\n"
        "}\n";

const char policy_none[] = "{ \"version\": 1, \"rules\": [] }\n";

void write_policy(void) {
        char text[sizeof(policy_template) + 64];
        unsigned long long max = H / 2;
        snprintf(text, sizeof(text), policy_template, max, max);
        harness_write_policy("10-scenario.json", text);
}

void use_policy(harness *h) {
        write_policy();
        kill(h->broker_pid, SIGHUP);
        tap_ok(harness_log_contains("policy generation 2 loaded"), "the scenario's policy is loaded (max H/2)");
}

const char *dr(void) {
        const char *p = getenv("DELEGATE_RUN");
        if (!p)
                tap_skip_all("DELEGATE_RUN is not set (meson sets it)");
        return p;
}

const char *caller_prog(void) {
        const char *p = getenv("DELEGATE_UNOTIFY_CALLER");
        if (!p)
                tap_skip_all("DELEGATE_UNOTIFY_CALLER is not set (meson sets it)");
        return p;
}

void need(const char *prog) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null", prog);
        if (harness_sh(NULL, "%s", cmd) != 0) {
                char why[160];
                snprintf(why, sizeof(why), "Debian's %s is not installed (tools/install-deps.sh installs it)", prog);
                tap_skip_all(why);
        }
}

int in_pod(harness *h, const char *pod, const char *netns, char **ret, const char *cmd) {
        int st = harness_sh_in_pod(h, pod, netns, UID, UID, ret, "%s 2>&1", cmd);
        for (char *p = ret && *ret ? *ret : NULL; p && *p; p++)
                if (*p == '\n')
                        *p = ' '; /* one TAP line per assertion */
        return st;
}

pid_t child_running(pid_t parent, const char *comm) {
        for (int i = 0; i < 200; i++) {
                char path[64], buf[256], c[64];
                snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int) parent, (int) parent);
                harness_read_file(path, buf, sizeof(buf));
                pid_t p = (pid_t) atoi(buf);
                if (p > 0) {
                        snprintf(path, sizeof(path), "/proc/%d/comm", (int) p);
                        harness_read_line(path, c, sizeof(c));
                        if (streq(c, comm))
                                return p;
                }
                usleep(25000);
        }
        return -1;
}

bool gone(pid_t pid, int timeout_ms) {
        for (int t = 0; t < timeout_ms; t += 50) {
                char path[64], buf[512];
                snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
                buf[0] = 0;
                harness_read_file(path, buf, sizeof(buf));
                const char *e = strrchr(buf, ')');
                if (!buf[0] || (e && e[1] == ' ' && e[2] == 'Z'))
                        return true;
                waitpid(pid, NULL, WNOHANG);
                usleep(50000);
        }
        return false;
}

pid_t spawn_dr(harness *h, const char *pod, const char *netns, const char *log, const char *vm,
                      char *const *prog) {
        char *argv[32] = { (char *) dr(), "--vm", (char *) vm, "--" };
        size_t n = 4;
        for (size_t i = 0; prog[i] && n < 31; i++)
                argv[n++] = prog[i];
        argv[n] = NULL;
        return harness_spawn_in_pod(h, pod, netns, UID, UID, log, argv);
}

int stop_pid(pid_t p) {
        int st = 0;
        kill(p, SIGTERM);
        if (harness_wait_exit(p, 5000) < 0) {
                kill(p, SIGKILL);
                waitpid(p, &st, 0);
        }
        return st;
}

bool link_has(const char *netns, const char *dev, const char *needle) {
        char cmd[256];
        snprintf(cmd, sizeof(cmd), "ip -n %s -d -j link show dev %s", netns, dev);
        return harness_sh_has(needle, cmd);
}

bool link_exists(const char *netns, const char *dev) {
        char cmd[256];
        snprintf(cmd, sizeof(cmd), "ip -n %s link show dev %s >/dev/null 2>&1", netns, dev);
        return harness_sh(NULL, "%s", cmd) == 0;
}

/*
 * A pod is given /dev/net/tun usable by its uid (device plugins and
 * runtimes do so; Debian's udev makes it 0666).  This machine's is 0600:
 * in the scenario's own mount namespace a 0666 node of the same device is
 * bound over it, from a tmpfs that allows device nodes.
 */
void pod_tun(void) {
        struct stat st;
        if (stat("/dev/net/tun", &st) == 0 && (st.st_mode & 0006) == 0006)
                return;
        mkdir("/run/delegate-test/dev", 0755);
        bool ok = mount("tmpfs", "/run/delegate-test/dev", "tmpfs", MS_NOSUID, "mode=0755") == 0 &&
                  mknod("/run/delegate-test/dev/tun", S_IFCHR | 0666, makedev(10, 200)) == 0 &&
                  chmod("/run/delegate-test/dev/tun", 0666) == 0 &&
                  mount("/run/delegate-test/dev/tun", "/dev/net/tun", NULL, MS_BIND, NULL) == 0;
        tap_ok(ok, "the pod gets a /dev/net/tun its uid may open (here: a 0666 node bound over it) (%s)",
               ok ? "ok" : strerror(errno));
}

pid_t pod_a_for_taps(harness *h) {
        need("ip");
        pod_tun();
        return harness_pod_with_pause(h, POD_A, "pod-a");
}

void pod_a_end(pid_t pause) {
        kill(pause, SIGKILL);
        waitpid(pause, NULL, 0);
}

void user_needle(uid_t uid, char *buf, size_t size) {
        struct passwd *pw = getpwuid(uid);
        if (pw)
                snprintf(buf, size, "\"user\":\"%s\"", pw->pw_name);
        else
                snprintf(buf, size, "\"user\":%u", (unsigned) uid);
}
