/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * harness.c - see harness.h.
 */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "json.h"

static char node_outside[512]; /* NODE as seen before the namespaces */
uint64_t harness_hard;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...) {
        va_list ap;
        printf("Bail out! ");
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        printf(" (%s)\n", strerror(errno));
        fflush(stdout);
        exit(1);
}

int harness_write_file(const char *path, const char *text) {
        int fd = open(path, O_WRONLY | O_CLOEXEC | O_CREAT | O_TRUNC, 0644);
        if (fd < 0)
                return -errno;
        ssize_t n = write(fd, text, strlen(text));
        int r = n == (ssize_t) strlen(text) ? 0 : -errno;
        close(fd);
        return r;
}

/* The cgroup2 mount point, from mountinfo (never hard-coded). */
static int find_cgroup2(char *buf, size_t size) {
        FILE *f = fopen("/proc/self/mountinfo", "re");
        char line[4096];
        if (!f)
                return -errno;
        while (fgets(line, sizeof(line), f)) {
                char *sep = strstr(line, " - ");
                char mnt[1024];
                if (!sep || strncmp(sep + 3, "cgroup2 ", 8) != 0)
                        continue;
                if (sscanf(line, "%*s %*s %*s %*s %1023s", mnt) == 1) {
                        fclose(f);
                        if (strlen(mnt) >= size)
                                return -ENAMETOOLONG;
                        memcpy(buf, mnt, strlen(mnt) + 1);
                        return 0;
                }
        }
        fclose(f);
        return -ENOENT;
}

void harness_cgroup_path(harness *h, const char *rel, char *buf, size_t size) {
        snprintf(buf, size, "%s/%s", h->cgroot, rel);
}

int harness_move(harness *h, pid_t pid, const char *rel) {
        char path[512], num[32];
        snprintf(path, sizeof(path), "%s/%s/cgroup.procs", h->cgroot, rel);
        snprintf(num, sizeof(num), "%d", (int) pid);
        return harness_write_file(path, num);
}

void harness_write_policy(const char *name, const char *text) {
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", HARNESS_POLICY_DIR, name);
        if (harness_write_file(path, text) < 0)
                die("cannot write policy %s", path);
}

static uint64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int harness_start_broker(harness *h) {
        return harness_start_broker_bus(h, NULL);
}

int harness_start_dbus(harness *h) {
        const char *conf = getenv("DELEGATE_DBUS_CONFIG");
        char arg[600];
        if (!conf)
                die("DELEGATE_DBUS_CONFIG is not set (meson sets it)");
        if (access("/usr/bin/dbus-daemon", X_OK) < 0)
                tap_skip_all("dbus-daemon is not installed");
        mkdir("/run/dbus-test", 0755);
        unlink("/run/dbus-test/bus");
        snprintf(arg, sizeof(arg), "--config-file=%s", conf);
        pid_t pid = fork();
        if (pid < 0)
                die("fork");
        if (pid == 0) {
                int fd = open("/run/delegate-test/dbus.log", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
                if (fd >= 0) {
                        dup2(fd, 1);
                        dup2(fd, 2);
                }
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                execl("/usr/bin/dbus-daemon", "dbus-daemon", arg, "--nofork", "--nopidfile", (char *) NULL);
                _exit(127);
        }
        h->dbus_pid = pid;
        uint64_t t0 = now_ms();
        while (now_ms() - t0 < 10000) {
                struct stat st;
                if (stat("/run/dbus-test/bus", &st) == 0)
                        return 0;
                if (waitpid(pid, NULL, WNOHANG) == pid) {
                        h->dbus_pid = 0;
                        return -ECHILD;
                }
                usleep(10000);
        }
        return -ETIMEDOUT;
}

void harness_stop_dbus(harness *h) {
        if (h->dbus_pid <= 0)
                return;
        kill(h->dbus_pid, SIGTERM);
        waitpid(h->dbus_pid, NULL, 0);
        h->dbus_pid = 0;
}

int harness_restart_broker_through(harness *h, const char *wrapper_var, const char *exec_var) {
        char real[4096];
        const char *wrapper = getenv(wrapper_var);
        snprintf(real, sizeof(real), "%s", getenv("DELEGATE_BROKER"));
        harness_stop_broker(h);
        if (!wrapper)
                return -ENOENT;
        setenv(exec_var, real, 1);
        setenv("DELEGATE_BROKER", wrapper, 1);
        int r = harness_start_broker(h);
        setenv("DELEGATE_BROKER", real, 1);
        return r;
}

int harness_restart_broker_env(harness *h, const char *name, const char *value) {
        harness_stop_broker(h);
        setenv(name, value, 1);
        int r = harness_start_broker(h);
        unsetenv(name);
        return r;
}

int harness_start_broker_bus(harness *h, const char *bus) {
        const char *extra[] = { "--bus", bus, NULL };
        return harness_start_broker_args(h, bus ? extra : NULL);
}

bool harness_broker_foreground = true;

/* The start's probe connection @fd, half-closed and read until the broker closes its end: a test that
 * counts the broker's fds or clients right after the start must not find the probe still held. */
static int probe_released(int fd, uint64_t deadline) {
        shutdown(fd, SHUT_WR);
        char buf[4096];
        int r = -ETIMEDOUT;
        for (uint64_t t; r == -ETIMEDOUT && (t = now_ms()) < deadline;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                if (poll(&p, 1, (int) (deadline - t)) <= 0)
                        continue;
                ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
                if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
                        r = 0; /* the broker closed its end */
        }
        close(fd);
        return r;
}

int harness_start_broker_args(harness *h, const char *const *extra) {
        const char *broker = getenv("DELEGATE_BROKER");
        const char *argv[32] = { "delegate-broker", "--socket", HARNESS_SOCKET, "--policy-dir", HARNESS_POLICY_DIR };
        size_t n = 5;
        if (harness_broker_foreground)
                argv[n++] = "--foreground";
        if (!broker)
                die("DELEGATE_BROKER is not set (meson sets it)");
        bool threads = false;
        for (size_t i = 0; extra && extra[i]; i++) {
                if (n + 1 >= sizeof(argv) / sizeof(argv[0]))
                        die("too many broker arguments");
                threads |= strcmp(extra[i], "--threads") == 0;
                argv[n++] = extra[i];
        }
        /* DELEGATE_TEST_BROKER_THREADS: the whole suite against another number of client loops (--threads),
         * where a scenario does not choose its own; unset, two loop threads (the concurrent loops, which the
         * broker's own default runs only from 4 CPUs on); "default": no --threads, the broker's default */
        const char *t = getenv("DELEGATE_TEST_BROKER_THREADS");
        if (!t || !*t)
                t = "2";
        if (strcmp(t, "default") != 0 && !threads && n + 2 < sizeof(argv) / sizeof(argv[0])) {
                argv[n++] = "--threads";
                argv[n++] = t;
        }
        argv[n] = NULL;
        pid_t pid = fork();
        if (pid < 0)
                die("fork");
        if (pid == 0) {
                int fd = open(HARNESS_BROKER_LOG, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
                if (fd < 0)
                        _exit(127);
                dup2(fd, 1);
                dup2(fd, 2);
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                execv(broker, (char *const *) argv);
                _exit(127);
        }
        h->broker_pid = pid;
        uint64_t t0 = now_ms();
        while (now_ms() - t0 < 10000) {
                int fd = raw_connect();
                if (fd >= 0)
                        return probe_released(fd, t0 + 10000);
                if (waitpid(pid, NULL, WNOHANG) == pid) {
                        h->broker_pid = 0;
                        return -ECHILD;
                }
                usleep(10000);
        }
        return -ETIMEDOUT;
}

int harness_kill_broker(harness *h) {
        pid_t pid = h->broker_pid;
        h->broker_pid = 0;
        if (pid <= 0)
                return -ECHILD;
        if (kill(pid, SIGKILL) < 0)
                return -errno;
        return waitpid(pid, NULL, 0) == pid ? 0 : -errno;
}

int harness_stop_broker(harness *h) {
        int status = 0;
        if (h->broker_pid <= 0)
                return -ECHILD;
        kill(h->broker_pid, SIGTERM);
        for (int i = 0; i < 500; i++) {
                if (waitpid(h->broker_pid, &status, WNOHANG) == h->broker_pid) {
                        h->broker_pid = 0;
                        return status;
                }
                usleep(10000);
        }
        kill(h->broker_pid, SIGKILL);
        waitpid(h->broker_pid, &status, 0);
        h->broker_pid = 0;
        return status;
}

static char *read_all(const char *path) {
        FILE *f = fopen(path, "re");
        if (!f)
                return NULL;
        size_t cap = 1 << 16, n = 0;
        char *buf = malloc(cap);
        size_t k;
        while (buf && (k = fread(buf + n, 1, cap - n - 1, f)) > 0) {
                n += k;
                if (n + 1 == cap) {
                        char *nb = realloc(buf, cap *= 2);
                        if (!nb) {
                                free(buf);
                                buf = NULL;
                        } else
                                buf = nb;
                }
        }
        fclose(f);
        if (buf)
                buf[n] = 0;
        return buf;
}

bool harness_log_contains(const char *needle) {
        uint64_t t0 = now_ms();
        do {
                char *log = read_all(HARNESS_BROKER_LOG);
                bool found = log && strstr(log, needle);
                free(log);
                if (found)
                        return true;
                usleep(20000);
        } while (now_ms() - t0 < 5000);
        return false;
}

void harness_dump_file(const char *path, const char *title) {
        char *text = read_all(path);
        if (!text)
                return;
        tap_diag("---- %s ----", title ? title : path);
        for (char *l = strtok(text, "\n"); l; l = strtok(NULL, "\n"))
                tap_diag("%s", l);
        free(text);
}

void harness_dump_log(void) {
        harness_dump_file(HARNESS_BROKER_LOG, "broker log");
}

int harness_wait_exit(pid_t pid, int timeout_ms) {
        for (int t = 0; t < timeout_ms; t += 50) {
                int st;
                if (waitpid(pid, &st, WNOHANG) == pid)
                        return st;
                usleep(50000);
        }
        return -ETIMEDOUT;
}

static void lo_up(void) {
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        struct ifreq ifr = { 0 };
        if (fd < 0)
                return;
        strcpy(ifr.ifr_name, "lo");
        if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
                ifr.ifr_flags |= IFF_UP;
                ioctl(fd, SIOCSIFFLAGS, &ifr);
        }
        close(fd);
}

/* In a forked child: join @netns (NULL: stay). */
static int join_netns(const char *netns) {
        char path[256];
        if (!netns)
                return 0;
        snprintf(path, sizeof(path), "/run/netns/%s", netns);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || setns(fd, CLONE_NEWNET) < 0)
                return -errno;
        close(fd);
        return 0;
}

int harness_netns_add(const char *name) {
        char path[256];
        mkdir("/run/netns", 0755);
        snprintf(path, sizeof(path), "/run/netns/%s", name);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
        if (fd < 0)
                return -errno;
        close(fd);
        pid_t pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                /* same mount namespace as the scenario: the bind mount is seen there */
                if (unshare(CLONE_NEWNET) < 0 || mount("/proc/self/ns/net", path, NULL, MS_BIND, NULL) < 0)
                        _exit(1);
                lo_up();
                _exit(0);
        }
        int st;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
                ;
        return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -EIO;
}

static int run_sh(harness *h, const char *pod, const char *netns, uid_t uid, gid_t gid, char **ret,
                  const char *cmd) {
        int out[2];
        if (pipe2(out, O_CLOEXEC) < 0)
                return -errno;
        pid_t pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (pod && harness_move(h, getpid(), pod) < 0)
                        _exit(126);
                if (join_netns(netns) < 0)
                        _exit(124);
                if (pod && (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0))
                        _exit(125);
                dup2(out[1], 1);
                setenv("DELEGATE_SOCKET", HARNESS_SOCKET, 1);
                execl("/bin/sh", "sh", "-c", cmd, (char *) NULL);
                _exit(127);
        }
        close(out[1]);
        size_t cap = 1 << 16, len = 0;
        char *buf = malloc(cap);
        ssize_t k;
        while (buf && (k = read(out[0], buf + len, cap - len - 1)) > 0) {
                len += k;
                if (len + 1 == cap) {
                        char *nb = realloc(buf, cap *= 2);
                        if (!nb)
                                free(buf);
                        buf = nb;
                }
        }
        close(out[0]);
        if (buf)
                buf[len] = 0;
        int st;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
                ;
        if (ret)
                *ret = buf;
        else
                free(buf);
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int harness_sh(char **ret, const char *fmt, ...) {
        char cmd[2048];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(cmd, sizeof(cmd), fmt, ap);
        va_end(ap);
        return run_sh(NULL, NULL, NULL, 0, 0, ret, cmd);
}

int harness_sh_in_pod(harness *h, const char *pod, const char *netns, uid_t uid, gid_t gid, char **ret,
                      const char *fmt, ...) {
        char cmd[2048];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(cmd, sizeof(cmd), fmt, ap);
        va_end(ap);
        return run_sh(h, pod, netns, uid, gid, ret, cmd);
}

pid_t harness_spawn_in_pod(harness *h, const char *pod, const char *netns, uid_t uid, gid_t gid, const char *log,
                           char *const *argv) {
        pid_t pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                if (fd < 0 || harness_move(h, getpid(), pod) < 0)
                        _exit(126);
                if (join_netns(netns) < 0)
                        _exit(124);
                if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
                        _exit(125);
                dup2(fd, 1);
                dup2(fd, 2);
                setenv("DELEGATE_SOCKET", HARNESS_SOCKET, 1);
                execv(argv[0], argv);
                _exit(127);
        }
        return pid;
}

bool harness_file_contains(const char *path, const char *needle, int timeout_ms) {
        for (int waited = 0;; waited += 50) {
                FILE *f = fopen(path, "re");
                char line[4096];
                bool found = false;
                while (f && !found && fgets(line, sizeof(line), f))
                        found = strstr(line, needle) != NULL;
                if (f)
                        fclose(f);
                if (found)
                        return true;
                if (waited >= timeout_ms)
                        return false;
                usleep(50000);
        }
}

int tclient_start(harness *h, tclient *c, const char *pod, uid_t uid, gid_t gid, const char *vm) {
        return tclient_start_netns(h, c, pod, NULL, uid, gid, vm);
}

int tclient_start_netns(harness *h, tclient *c, const char *pod, const char *netns, uid_t uid, gid_t gid,
                        const char *vm) {
        const char *exe = getenv("DELEGATE_TEST_CLIENT");
        int in[2], out[2];
        if (!exe)
                die("DELEGATE_TEST_CLIENT is not set (meson sets it)");
        if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
                die("pipe");
        pid_t pid = fork();
        if (pid < 0)
                die("fork");
        if (pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (harness_move(h, getpid(), pod) < 0)
                        _exit(126);
                if (join_netns(netns) < 0)
                        _exit(124);
                if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
                        _exit(125);
                dup2(in[0], 0);
                dup2(out[1], 1);
                setenv("DELEGATE_SOCKET", HARNESS_SOCKET, 1);
                execl(exe, "test-client", vm ? vm : "", (char *) NULL);
                _exit(127);
        }
        close(in[0]);
        close(out[1]);
        c->pid = pid;
        c->in = in[1];
        c->out = out[0];
        return 0;
}

int tclient_cmd(tclient *c, char **ret, const char *fmt, ...) {
        char line[1024];
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
        va_end(ap);
        line[n++] = '\n';
        if (write(c->in, line, n) != n)
                return -EPIPE;
        size_t cap = 70000, len = 0;
        char *buf = malloc(cap);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                struct pollfd p = { .fd = c->out, .events = POLLIN };
                if (poll(&p, 1, 15000) != 1) {
                        free(buf);
                        return -ETIMEDOUT;
                }
                ssize_t k = read(c->out, buf + len, 1);
                if (k <= 0) {
                        free(buf);
                        return -EPIPE;
                }
                if (buf[len] == '\n')
                        break;
                if (++len + 1 >= cap) {
                        free(buf);
                        return -E2BIG;
                }
        }
        buf[len] = 0;
        *ret = buf;
        return 0;
}

char *tclient_call(tclient *c, const char *fmt, ...) {
        char line[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        char *out = NULL;
        int r = tclient_cmd(c, &out, "%s", line);
        if (r < 0) {
                tap_diag("test-client command '%s' failed: %s", line, strerror(-r));
                return strdup("{}");
        }
        return out;
}

void tclient_stop(tclient *c) {
        if (c->pid <= 0)
                return;
        close(c->in);
        close(c->out);
        for (int i = 0; i < 300; i++) {
                if (waitpid(c->pid, NULL, WNOHANG) == c->pid) {
                        c->pid = 0;
                        return;
                }
                usleep(10000);
        }
        kill(c->pid, SIGKILL);
        waitpid(c->pid, NULL, 0);
        c->pid = 0;
}

/* Inside the namespaces: set up, run the scenario, tear down the broker. */
static int run_inside(const scenario *s, const char *cg_mount) {
        harness h = { 0 };
        snprintf(h.cgroot, sizeof(h.cgroot), "%s", cg_mount);

        if (unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWCGROUP) < 0) {
                if (errno == EPERM || errno == EINVAL || errno == ENOSYS)
                        tap_skip_all("cannot create mount/network/cgroup namespaces here");
                die("unshare");
        }
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                die("making / private");
        if (mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") < 0)
                die("mounting a private /run");
        /* remount cgroup2 so that NODE is its root, as in a real pod node */
        if (umount2(cg_mount, MNT_DETACH) < 0)
                die("unmounting the outer cgroup2 view at %s", cg_mount);
        if (mount("cgroup2", cg_mount, "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
                die("mounting cgroup2 at %s", cg_mount);
        if (harness_move(&h, getpid(), "system") < 0)
                die("joining the node's system cgroup");
        lo_up();
        /* known starting limits for every process of the scenario: hard H
         * (what we have, at most 64 MiB; lowering needs no privilege) and
         * soft H/8.  Scenarios express their values relative to H. */
        struct rlimit rl;
        if (getrlimit(RLIMIT_MEMLOCK, &rl) < 0)
                die("getrlimit");
        if (rl.rlim_max == RLIM_INFINITY || rl.rlim_max > 64 << 20)
                rl.rlim_max = 64 << 20;
        if (rl.rlim_max < 64 << 10)
                tap_skip_all("the hard RLIMIT_MEMLOCK here is below 64 KiB");
        rl.rlim_max &= ~(rlim_t) 4095;
        rl.rlim_cur = rl.rlim_max / 8;
        if (setrlimit(RLIMIT_MEMLOCK, &rl) < 0)
                die("setrlimit");
        harness_hard = rl.rlim_max;
        tap_diag("RLIMIT_MEMLOCK for this scenario: soft %llu, hard %llu", (unsigned long long) rl.rlim_cur,
                 (unsigned long long) rl.rlim_max);
        if (mkdir("/run/delegate-test", 0755) < 0 || mkdir(HARNESS_POLICY_DIR, 0755) < 0)
                die("mkdir /run/delegate-test");
        harness_write_policy("10-scenario.json", s->policy);

        int r = harness_start_broker(&h);
        if (r < 0) {
                tap_ok(0, "broker starts (%s)", strerror(-r));
                harness_dump_log();
                return tap_done() ? 1 : 1;
        }
        s->fn(&h);
        /* under sanitizers a leak or error makes the broker exit non-zero */
        int st = harness_stop_broker(&h);
        tap_ok(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "the broker stops cleanly on SIGTERM (status 0x%x)",
               st);
        harness_stop_dbus(&h);
        if (tap_failed_)
                harness_dump_log();
        return tap_done();
}

static void remove_tree(const char *path) {
        DIR *d = opendir(path);
        if (d) {
                struct dirent *de;
                while ((de = readdir(d))) {
                        if (de->d_type != DT_DIR || de->d_name[0] == '.')
                                continue;
                        char sub[1024];
                        snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
                        remove_tree(sub);
                }
                closedir(d);
        }
        for (int i = 0; i < 100 && rmdir(path) < 0 && errno == EBUSY; i++)
                usleep(20000);
}

static void kill_node(void) {
        char path[600], events[256];
        snprintf(path, sizeof(path), "%s/cgroup.kill", node_outside);
        harness_write_file(path, "1");
        snprintf(path, sizeof(path), "%s/cgroup.events", node_outside);
        for (int i = 0; i < 250; i++) {
                FILE *f = fopen(path, "re");
                bool populated = true;
                if (!f)
                        break;
                while (fgets(events, sizeof(events), f))
                        if (strncmp(events, "populated 0", 11) == 0)
                                populated = false;
                fclose(f);
                if (!populated)
                        break;
                usleep(20000);
        }
        remove_tree(node_outside);
}

int harness_main(int argc, char **argv, const scenario *list, size_t n) {
        const scenario *s = NULL;
        char cg[256];

        setvbuf(stdout, NULL, _IOLBF, 0);
        if (argc != 2) {
                fprintf(stderr, "usage: %s SCENARIO\n", argv[0]);
                return 2;
        }
        for (size_t i = 0; i < n; i++)
                if (strcmp(list[i].name, argv[1]) == 0)
                        s = &list[i];
        if (!s) {
                fprintf(stderr, "%s: no scenario '%s'\n", argv[0], argv[1]);
                return 2;
        }
        if (geteuid() != 0)
                tap_skip_all("functional scenarios need root (namespaces, cgroups, a root broker)");
        if (find_cgroup2(cg, sizeof(cg)) < 0)
                tap_skip_all("no cgroup v2 hierarchy is mounted");

        snprintf(node_outside, sizeof(node_outside), "%s/delegate-test.%d.%s", cg, (int) getpid(), s->name);
        char p[700];
        const char *dirs[] = { "", "/system", "/kubepods.slice", "/kubepods.slice/pod-a", "/kubepods.slice/pod-b" };
        for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
                snprintf(p, sizeof(p), "%s%s", node_outside, dirs[i]);
                if (mkdir(p, 0755) < 0) {
                        if (errno == EROFS || errno == EACCES || errno == EPERM)
                                tap_skip_all("cannot create cgroups in the v2 hierarchy");
                        remove_tree(node_outside);
                        die("mkdir %s", p);
                }
        }

        pid_t pid = fork();
        if (pid < 0)
                die("fork");
        if (pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                /* join NODE itself: the cgroup namespace is rooted where we
                 * stand when unsharing; run_inside() then moves to system */
                snprintf(p, sizeof(p), "%s/cgroup.procs", node_outside);
                if (harness_write_file(p, "0") < 0)
                        die("joining %s", p);
                fflush(stdout);
                _exit(run_inside(s, cg));
        }
        int status = 0;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        kill_node();
        if (WIFSIGNALED(status)) {
                printf("Bail out! scenario '%s' died from signal %d\n", s->name, WTERMSIG(status));
                return 1;
        }
        return WEXITSTATUS(status);
}

pid_t harness_pod_with_pause(harness *h, const char *pod, const char *netns) {
        tap_is_int(harness_netns_add(netns), 0, "%s gets its own network namespace", netns);
        char *const argv[] = { "/bin/sleep", "1000", NULL };
        pid_t pause = harness_spawn_in_pod(h, pod, netns, 65534, 65534, "/run/delegate-test/pause.log", argv);
        tap_ok(pause > 0 && harness_in_netns(pause, netns, 5000), "a pause process holds %s's netns", netns);
        return pause;
}
