/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-harden - the broker's least privilege, read from the kernel:
 *   harden-caps     /proc/BROKER/status after setup: exactly the capabilities
 *                   its operations need (of those this machine granted),
 *                   empty inheritable/bounding/ambient sets, no_new_privs,
 *                   a seccomp filter; and an operation still works.
 *   harden-threads  the same on every thread of a broker with --threads 4,
 *                   and the signals blocked on all but the main thread.
 *   harden-seccomp  syscalls outside the allowlist (getpgid, access), and clone() with
 *                   CLONE_NEWUSER, kill the broker with SIGSYS (the test
 *                   hook of builds with -Dtest_hooks=true), and the kernel
 *                   logs it (audit type 1326).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define BIT(c) (UINT64_C(1) << (c))

static const char policy_main[] =
        "{ \"version\": 1,\n"
        "  \"rules\": [\n"
        "    { \"name\": \"pod-launchers\",\n"
        "      \"match\": { \"uid\": \"1000-1999\", \"cgroup\": \"/kubepods.slice/*\", \"vm\": \"vm-*\" },\n"
        "      \"memlock\": { \"max\": \"1G\" } } ] }\n";

/* A "Key:\t<hex or decimal>" line of /proc/PID/task/TID/status; UINT64_MAX when absent. */
static uint64_t task_status_field(pid_t pid, pid_t tid, const char *key, int base) {
        char path[96], buf[8192];
        snprintf(path, sizeof(path), "/proc/%d/task/%d/status", (int) pid, (int) tid);
        harness_read_file(path, buf, sizeof(buf));
        size_t kl = strlen(key);
        for (char *l = buf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
                if (strncmp(l, key, kl) == 0 && l[kl] == ':')
                        return strtoull(l + kl + 1, NULL, base);
        return UINT64_MAX;
}

/* The same of /proc/PID/status (its main thread). */
static uint64_t status_field(pid_t pid, const char *key, int base) {
        return task_status_field(pid, pid, key, base);
}

/* The harness sees the socket before the broker finishes setup: wait for
 * the last privilege stage (the seccomp filter) to be in place. */
static bool wait_sandboxed(pid_t pid) {
        for (int i = 0; i < 500; i++) {
                if (status_field(pid, "Seccomp", 10) == 2)
                        return true;
                usleep(10000);
        }
        return false;
}

/*
 * What the broker should keep (broker-caps.c), of what it could have: a
 * root broker started by this harness gets our bounding set.
 */
static uint64_t expected_caps(void) {
        uint64_t avail = status_field(getpid(), "CapBnd", 16);
        uint64_t want = BIT(CAP_SYS_NICE) | BIT(CAP_NET_ADMIN) | BIT(CAP_SYS_ADMIN) | BIT(CAP_SYS_PTRACE);
        if (avail & BIT(CAP_SYS_RESOURCE))
                want |= BIT(CAP_SYS_RESOURCE);
        else /* the memlock helper switches to the target's ids instead */
                want |= BIT(CAP_SETUID) | BIT(CAP_SETGID) | BIT(CAP_KILL);
        return want & avail;
}

static void harden_caps(harness *h) {
        pid_t b = h->broker_pid;
        uint64_t want = expected_caps();
        tap_ok(wait_sandboxed(b), "the broker finishes setup");
        tap_diag("CAP_SYS_RESOURCE is %s our bounding set; expecting CapEff %016" PRIx64,
                 status_field(getpid(), "CapBnd", 16) & BIT(CAP_SYS_RESOURCE) ? "in" : "not in", want);
        tap_is_int(status_field(b, "CapInh", 16), 0, "CapInh is empty");
        tap_ok(status_field(b, "CapPrm", 16) == want, "CapPrm is exactly the keep-mask (%016" PRIx64 ")",
               status_field(b, "CapPrm", 16));
        tap_ok(status_field(b, "CapEff", 16) == want, "CapEff is exactly the keep-mask (%016" PRIx64 ")",
               status_field(b, "CapEff", 16));
        tap_is_int(status_field(b, "CapBnd", 16), 0, "CapBnd is empty");
        tap_is_int(status_field(b, "CapAmb", 16), 0, "CapAmb is empty");
        tap_is_int(status_field(b, "NoNewPrivs", 10), 1, "NoNewPrivs is set");
        tap_is_int(status_field(b, "Seccomp", 10), 2, "Seccomp is 2 (filter mode)");
        tap_is_int(status_field(b, "Seccomp_filters", 10), 1, "one seccomp filter");
        tap_ok(harness_log_contains("keeping capabilities: "), "the broker logs what it keeps");
        if (!(status_field(getpid(), "CapBnd", 16) & BIT(CAP_SYS_RESOURCE)))
                tap_ok(harness_log_contains("CAP_SYS_RESOURCE is not available") &&
                               harness_log_contains("memlock.set"),
                       "the broker logs the missing CAP_SYS_RESOURCE and the operation it degrades");

        /* an operation through a helper still works under all this */
        tclient c;
        if (tclient_start(h, &c, "kubepods.slice/pod-a", 1000, 1000, "vm-1") < 0) {
                tap_ok(0, "start test-client");
                return;
        }
        char *r = tclient_call(&c, "memlock 0 %" PRIu64 " keep", harness_hard / 4);
        tap_is_int(jint(r, "ok"), 1, "memlock.set works with the reduced privileges (%s)", r);
        free(r);
        tclient_stop(&c);
        tap_ok(kill(b, 0) == 0, "the broker is alive");
}

/* Is there a kernel log record of a seccomp kill (audit type 1326) of @pid, syscall @nr? */
static bool kmsg_has_kill(pid_t pid, long nr) {
        char pid_s[32], nr_s[32], rec[2048];
        snprintf(pid_s, sizeof(pid_s), " pid=%d ", (int) pid);
        snprintf(nr_s, sizeof(nr_s), " syscall=%ld ", nr);
        for (int attempt = 0; attempt < 50; attempt++) {
                int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
                if (fd < 0)
                        return false;
                ssize_t n;
                bool found = false;
                while (!found && ((n = read(fd, rec, sizeof(rec) - 1)) > 0 || (n < 0 && errno == EPIPE))) {
                        if (n <= 0)
                                continue; /* EPIPE: records were overwritten; go on */
                        rec[n] = 0;
                        found = strstr(rec, "type=1326") && strstr(rec, pid_s) && strstr(rec, nr_s);
                }
                close(fd);
                if (found)
                        return true;
                usleep(100000);
        }
        return false;
}

/*
 * Restart the broker with the test hook @mode, send SIGUSR1 and expect it
 * to die by SIGSYS in syscall @nr; then a broker without the hook again
 * (the harness checks a clean SIGTERM stop at the end).
 */
static void expect_kill(harness *h, const char *mode, long nr, const char *what) {
        int st = harness_stop_broker(h);
        tap_ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the running broker stops cleanly");

        setenv("DELEGATE_TEST_SECCOMP_TRIGGER", mode, 1);
        int r = harness_start_broker(h);
        unsetenv("DELEGATE_TEST_SECCOMP_TRIGGER");
        if (!tap_ok(r == 0, "a broker with the test hook '%s' starts (%s)", mode, strerror(-r)))
                return;
        pid_t b = h->broker_pid;
        if (!harness_log_contains("test hook armed")) {
                tap_ok(1, "# SKIP the broker was built with -Dtest_hooks=false");
        } else {
                tap_ok(wait_sandboxed(b), "the broker runs under its seccomp filter");
                kill(b, SIGUSR1);
                int status = 0;
                pid_t w = 0;
                for (int i = 0; i < 500 && w == 0; i++) {
                        w = waitpid(b, &status, WNOHANG);
                        if (w == 0)
                                usleep(10000);
                }
                if (w == b)
                        h->broker_pid = 0;
                tap_ok(w == b && WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS,
                       "%s killed the broker with SIGSYS (status 0x%x)", what, status);
                static char log[65536];
                harness_read_file(HARNESS_BROKER_LOG, log, sizeof(log));
                tap_ok(!strstr(log, "still alive after"), "nothing ran after the call");
                tap_ok(kmsg_has_kill(b, nr), "the kernel log has the seccomp kill (audit type 1326, pid %d, syscall %ld)",
                       (int) b, nr);
        }
        if (h->broker_pid > 0) {
                st = harness_stop_broker(h);
                tap_ok(WIFEXITED(st), "the hooked broker stops");
        }
        tap_ok(harness_start_broker(h) == 0, "a broker without the hook starts again");
}

static void harden_seccomp(harness *h) {
        expect_kill(h, "unlisted", SYS_getpgid, "getpgid(2), not on the list,");
        /* access(2) left the list once nothing called it after setup (checked with strace over the suite) */
        expect_kill(h, "access", SYS_access, "access(2), not on the list,");
        /* the log is appended to: the second broker's lines are checked by their pid in kmsg */
        expect_kill(h, "newuser", SYS_clone, "clone(CLONE_NEWUSER), refused by its arguments,");
}

/*
 * Every thread of a broker with client loop threads (--threads 4): the same
 * capabilities as the main thread, no_new_privs and the one filter (the
 * kernel installed it on all of them at once, TSYNC), and every signal
 * blocked but on the main thread (its signalfd takes them).
 */
static void harden_threads(harness *h) {
        harness_stop_broker(h);
        const char *args[] = { "--threads", "4", NULL };
        tap_is_int(harness_start_broker_args(h, args), 0, "the broker starts with --threads 4");
        pid_t b = h->broker_pid;
        tap_ok(wait_sandboxed(b), "the broker finishes setup");
        static const char *const same[] = { "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb" };
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/task", (int) b);
        DIR *d = opendir(path);
        int n = 0, bad_caps = 0, bad_filter = 0, bad_mask = 0;
        uint64_t want_blocked = BIT(SIGHUP - 1) | BIT(SIGINT - 1) | BIT(SIGTERM - 1) | BIT(SIGCHLD - 1) |
                                BIT(SIGUSR1 - 1) | BIT(SIGUSR2 - 1) | BIT(SIGPIPE - 1);
        for (struct dirent *de; d && (de = readdir(d));) {
                if (de->d_name[0] == '.')
                        continue;
                pid_t t = (pid_t) atoi(de->d_name);
                n++;
                for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++)
                        if (task_status_field(b, t, same[i], 16) != status_field(b, same[i], 16) && bad_caps++ < 3)
                                tap_diag("thread %d: %s %016" PRIx64 ", the main thread's %016" PRIx64, (int) t,
                                         same[i], task_status_field(b, t, same[i], 16), status_field(b, same[i], 16));
                if ((task_status_field(b, t, "NoNewPrivs", 10) != 1 || task_status_field(b, t, "Seccomp", 10) != 2 ||
                     task_status_field(b, t, "Seccomp_filters", 10) != 1) &&
                    bad_filter++ < 3)
                        tap_diag("thread %d: NoNewPrivs %" PRIu64 " Seccomp %" PRIu64 " Seccomp_filters %" PRIu64,
                                 (int) t, task_status_field(b, t, "NoNewPrivs", 10),
                                 task_status_field(b, t, "Seccomp", 10), task_status_field(b, t, "Seccomp_filters", 10));
                if (t != b && (task_status_field(b, t, "SigBlk", 16) & want_blocked) != want_blocked && bad_mask++ < 3)
                        tap_diag("thread %d: SigBlk %016" PRIx64, (int) t, task_status_field(b, t, "SigBlk", 16));
        }
        if (d)
                closedir(d);
        /* 4 loop threads, the closer, the netns worker and the main thread; sanitizer runtimes may add one */
        tap_ok(n >= 7, "the broker has its 4 loop threads, the closer, the netns worker and the main thread (%d tasks)",
               n);
        tap_is_int(bad_caps, 0, "every thread holds exactly the main thread's capability sets");
        tap_is_int(bad_filter, 0, "every thread has no_new_privs and the one seccomp filter");
        tap_is_int(bad_mask, 0, "every other thread blocks the signals the main thread handles");

        /* sessions on several loops: an operation through a helper works on each */
        tclient c[4];
        for (int i = 0; i < 4; i++) {
                char vm[16];
                snprintf(vm, sizeof(vm), "vm-%d", i);
                if (tclient_start(h, &c[i], "kubepods.slice/pod-a", 1000, 1000, vm) < 0) {
                        tap_ok(0, "start test-client %d", i);
                        return;
                }
        }
        for (int i = 0; i < 4; i++) {
                char *r = tclient_call(&c[i], "memlock 0 %" PRIu64 " keep", harness_hard / 4);
                tap_is_int(jint(r, "ok"), 1, "session %d: memlock.set works (%s)", i, r);
                free(r);
        }
        for (int i = 0; i < 4; i++)
                tclient_stop(&c[i]);
        tap_ok(kill(b, 0) == 0, "the broker is alive");
}

static const scenario scenarios[] = {
        { "harden-caps", policy_main, harden_caps },
        { "harden-threads", policy_main, harden_threads },
        { "harden-seccomp", policy_main, harden_seccomp },
};

int main(int argc, char **argv) {
        return harness_main(argc, argv, scenarios, sizeof(scenarios) / sizeof(scenarios[0]));
}
