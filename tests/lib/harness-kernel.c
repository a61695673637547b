/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * harness-kernel.c - what the kernel holds, read directly: files, a task's cgroup and scheduling, a
 * process's fds and RSS, QEMU's vCPU threads and TAP queues, the network namespace a process is in,
 * erase reports (see harness.h).
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

int harness_fd_count(pid_t pid) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/fd", (int) pid);
        DIR *d = opendir(path);
        int n = 0;
        if (!d)
                return -1;
        while (readdir(d))
                n++;
        closedir(d);
        return n - 2; /* . and .. */
}

void harness_fd_list(pid_t pid, char *buf, size_t size) {
        char path[64], link[320], target[256];
        size_t used = 0;
        buf[0] = 0;
        snprintf(path, sizeof(path), "/proc/%d/fd", (int) pid);
        DIR *d = opendir(path);
        for (struct dirent *e; d && (e = readdir(d));) {
                if (e->d_name[0] == '.')
                        continue;
                snprintf(link, sizeof(link), "%s/%.32s", path, e->d_name);
                ssize_t n = readlink(link, target, sizeof(target) - 1);
                target[n > 0 ? n : 0] = 0;
                int k = snprintf(buf + used, size - used, "%s%s:%s", used ? " " : "", e->d_name, target);
                if (k < 0 || (size_t) k >= size - used)
                        break;
                used += (size_t) k;
        }
        if (d)
                closedir(d);
}

bool harness_all_stopped(pid_t pid) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/task", (int) pid);
        for (int i = 0; i < 500; i++, usleep(10 * 1000)) {
                DIR *d = opendir(path);
                bool all = d != NULL;
                for (struct dirent *e; d && (e = readdir(d));) {
                        char stat[128], buf[512];
                        if (e->d_name[0] == '.')
                                continue;
                        snprintf(stat, sizeof(stat), "%s/%.32s/stat", path, e->d_name);
                        harness_read_file(stat, buf, sizeof(buf));
                        char *q = strrchr(buf, ')');
                        all &= q && q[1] == ' ' && q[2] == 'T';
                }
                if (d)
                        closedir(d);
                if (all)
                        return true;
        }
        return false;
}

int harness_fd_count_settle(pid_t pid, int want, int timeout_ms) {
        int n = harness_fd_count(pid);
        for (int i = 0; i < timeout_ms / 10 && n != want; i++) {
                usleep(10000);
                n = harness_fd_count(pid);
        }
        return n;
}

int harness_fd_count_steady(pid_t pid) {
        int n = harness_fd_count(pid);
        for (int i = 0, prev = -1; i < 50 && n != prev; i++) {
                usleep(200 * 1000);
                prev = n;
                n = harness_fd_count(pid);
        }
        return n;
}

long harness_rss_kib(pid_t pid) {
        char path[64], line[256];
        long kib = -1;
        snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
        FILE *f = fopen(path, "re");
        while (f && fgets(line, sizeof(line), f))
                if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
                        break;
        if (f)
                fclose(f);
        return kib;
}

int read_memlock(pid_t pid, uint64_t *soft, uint64_t *hard) {
        char path[64], line[256];
        snprintf(path, sizeof(path), "/proc/%d/limits", (int) pid);
        FILE *f = fopen(path, "re");
        if (!f)
                return -errno;
        int r = -ENODATA;
        while (fgets(line, sizeof(line), f)) {
                char s[32], hd[32];
                if (sscanf(line, "Max locked memory %31s %31s", s, hd) == 2) {
                        *soft = strcmp(s, "unlimited") == 0 ? UINT64_MAX : strtoull(s, NULL, 10);
                        *hard = strcmp(hd, "unlimited") == 0 ? UINT64_MAX : strtoull(hd, NULL, 10);
                        r = 0;
                        break;
                }
        }
        fclose(f);
        return r;
}

void harness_read_file(const char *path, char *buf, size_t size) {
        snprintf(buf, size, "(unreadable)");
        FILE *f = fopen(path, "re");
        if (f) {
                size_t n = fread(buf, 1, size - 1, f);
                buf[n] = 0;
                fclose(f);
        }
}

/* The children of every thread of @pid, as they are. */
static void children_raw(pid_t pid, char *buf, size_t size) {
        char path[320];
        size_t used = 0;
        buf[0] = 0;
        snprintf(path, sizeof(path), "/proc/%d/task", (int) pid);
        DIR *d = opendir(path);
        if (!d)
                return;
        for (struct dirent *de; (de = readdir(d));) {
                if (de->d_name[0] == '.' || used + 1 >= size)
                        continue;
                snprintf(path, sizeof(path), "/proc/%d/task/%s/children", (int) pid, de->d_name);
                harness_read_file(path, buf + used, size - used);
                if (strncmp(buf + used, "(unreadable)", 12) == 0)
                        buf[used] = 0;
                used += strlen(buf + used);
        }
        closedir(d);
}

/* The name of process @pid (its comm) into @comm. */
static void comm_of(long pid, char *comm, size_t size) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
        harness_read_line(path, comm, size);
}

/* The first child of @pid that @match takes; 0 when none does. */
static pid_t first_child(pid_t pid, bool (*match)(long child)) {
        char buf[4096];
        if (pid <= 0)
                return 0;
        children_raw(pid, buf, sizeof(buf));
        for (char *p = buf, *end;; p = end) {
                long child = strtol(p, &end, 10);
                if (end == p)
                        return 0;
                if (match(child))
                        return (pid_t) child;
        }
}

static bool is_forker(long pid) {
        char comm[64];
        comm_of(pid, comm, sizeof(comm));
        return strcmp(comm, "delegate-forker") == 0;
}

pid_t harness_forker(pid_t broker) {
        return first_child(broker, is_forker);
}

/* The nice value of process @pid; 0 when it cannot be read. */
static int nice_of(long pid) {
        char path[64], stat[1024];
        snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
        harness_read_file(path, stat, sizeof(stat));
        char *p = strrchr(stat, ')'); /* the name may hold spaces and parentheses */
        for (int field = 3; p && field <= 19; field++) /* ")" ends field 2; a space starts each next one */
                p = strchr(p + 1, ' ');
        return p ? (int) strtol(p + 1, NULL, 10) : 0; /* nice is field 19 */
}

/*
 * Is @pid, a child of the forker, its spare?  The forker forks it at nice 19 (named after the forker until
 * it names itself delegate-spare) and sets it to nice 0 before it sends it its role, so that a spare that
 * took its role is a helper here at once, before it has run to rename itself.
 */
static bool is_spare(long pid) {
        char comm[64];
        comm_of(pid, comm, sizeof(comm));
        return (strcmp(comm, "delegate-spare") == 0 || strcmp(comm, "delegate-forker") == 0) && nice_of(pid) == 19;
}

pid_t harness_spare(pid_t broker) {
        return first_child(harness_forker(broker), is_spare);
}

/* The children of @pid but @forker (the broker's) and the forker's spare, after the @*used bytes of @buf. */
static void append_helpers(pid_t pid, pid_t forker, char *buf, size_t size, size_t *used) {
        char raw[4096];
        children_raw(pid, raw, sizeof(raw));
        for (char *p = raw, *end;; p = end) {
                long child = strtol(p, &end, 10);
                if (end == p)
                        return;
                if (child == forker || (pid == forker && is_spare(child)))
                        continue;
                int k = snprintf(buf + *used, size - *used, "%ld ", child);
                if (k < 0 || (size_t) k >= size - *used) {
                        buf[*used] = 0;
                        return;
                }
                *used += (size_t) k;
        }
}

void harness_children(pid_t pid, char *buf, size_t size) {
        pid_t forker = harness_forker(pid);
        size_t used = 0;
        buf[0] = 0;
        append_helpers(pid, forker, buf, size, &used);
        if (forker > 0)
                append_helpers(forker, forker, buf, size, &used);
}

size_t harness_children_all(pid_t pid, pid_t *ret, size_t max) {
        char buf[4096];
        size_t n = 0;
        harness_children(pid, buf, sizeof(buf));
        for (char *p = buf, *end;; p = end) {
                long child = strtol(p, &end, 10);
                if (end == p)
                        break;
                if (n < max)
                        ret[n] = (pid_t) child;
                n++;
        }
        return n;
}

size_t harness_children_as(pid_t pid, uid_t uid, pid_t *ret, size_t max) {
        pid_t all[512];
        size_t k = harness_children_all(pid, all, sizeof(all) / sizeof(all[0])), n = 0;
        for (size_t i = 0; i < k && i < sizeof(all) / sizeof(all[0]); i++) {
                char status[64], text[4096];
                snprintf(status, sizeof(status), "/proc/%d/status", (int) all[i]);
                harness_read_file(status, text, sizeof(text));
                char *u = strstr(text, "\nUid:");
                if (u && (uid_t) strtoul(u + 5, NULL, 10) == uid && n < max)
                        ret[n++] = all[i];
        }
        return n;
}

void harness_read_line(const char *path, char *buf, size_t size) {
        harness_read_file(path, buf, size);
        buf[strcspn(buf, "\n")] = 0;
}

const char *harness_task_cgroup(pid_t pid, pid_t tid) {
        static char out[4][512];
        static int k;
        char *o = out[k++ % 4], path[96], buf[4096];
        snprintf(path, sizeof(path), "/proc/%d/task/%d/cgroup", (int) pid, (int) tid);
        harness_read_file(path, buf, sizeof(buf));
        snprintf(o, 512, "(unreadable)");
        for (char *l = buf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
                if (strncmp(l, "0::", 3) == 0) {
                        snprintf(o, 512, "%.*s", (int) strcspn(l + 3, "\n"), l + 3);
                        break;
                }
        return o;
}

harness_sched_attr harness_sched_getattr(pid_t tid) {
        harness_sched_attr a = { 0 };
        if (syscall(SYS_sched_getattr, tid, &a, sizeof(a), 0) < 0)
                a.sched_policy = 999;
        return a;
}

bool harness_sh_has(const char *needle, const char *cmd) {
        char *out = NULL;
        bool has = harness_sh(&out, "%s", cmd) == 0 && out && strstr(out, needle);
        free(out);
        return has;
}

char *harness_erase_report(const char *path) {
        FILE *f = fopen(path, "re");
        if (!f)
                return strdup("");
        char *buf = NULL;
        size_t n = 0;
        ssize_t k = getdelim(&buf, &n, '\0', f);
        fclose(f);
        if (k < 0) {
                free(buf);
                return strdup("");
        }
        return buf;
}

unsigned harness_erase_findings(const char *report, const char *who) {
        unsigned n = 0;
        char *copy = strdup(report), *save = NULL;
        bool in = false; /* backtrace lines follow their finding */
        for (char *l = copy ? strtok_r(copy, "\n", &save) : NULL; l; l = strtok_r(NULL, "\n", &save)) {
                char pat[64];
                snprintf(pat, sizeof(pat), " %s ", who);
                bool head = !strncmp(l, "FREED ", 6) || !strncmp(l, "REALLOC-MOVED ", 14) || !strncmp(l, "LIVE ", 5);
                if (head)
                        in = strstr(l, pat) != NULL;
                else if (!strncmp(l, "SCAN-DONE ", 10))
                        in = false;
                if (in) {
                        if (head)
                                n++;
                        tap_diag("  %s", l);
                }
        }
        free(copy);
        return n;
}

pid_t harness_vcpu_thread(pid_t q, int n) {
        char path[96], comm[64], want[16];
        snprintf(path, sizeof(path), "/proc/%d/task", (int) q);
        snprintf(want, sizeof(want), "CPU %d/", n);
        DIR *d = opendir(path);
        pid_t r = -1;
        for (struct dirent *de; d && (de = readdir(d));) {
                pid_t t = atoi(de->d_name);
                char cpath[128];
                if (t <= 0)
                        continue;
                snprintf(cpath, sizeof(cpath), "%s/%d/comm", path, (int) t);
                harness_read_line(cpath, comm, sizeof(comm));
                if (strncmp(comm, want, strlen(want)) == 0)
                        r = t;
        }
        if (d)
                closedir(d);
        return r;
}

pid_t harness_qemu_pid_in(const char *log) {
        FILE *f = fopen(log, "re");
        char line[1024];
        pid_t p = -1;
        while (f && fgets(line, sizeof(line), f)) {
                const char *k = strstr(line, "QEMU pid ");
                if (k)
                        p = (pid_t) atoi(k + 9);
        }
        if (f)
                fclose(f);
        return p;
}

int harness_tap_fds(pid_t q, const char *dev) {
        char path[96], want[64], buf[4096];
        snprintf(path, sizeof(path), "/proc/%d/fdinfo", (int) q);
        snprintf(want, sizeof(want), "iff:\t%s\n", dev);
        DIR *d = opendir(path);
        int n = 0;
        for (struct dirent *de; d && (de = readdir(d));) {
                char p2[400];
                if (de->d_name[0] == '.')
                        continue;
                snprintf(p2, sizeof(p2), "%s/%s", path, de->d_name);
                harness_read_file(p2, buf, sizeof(buf));
                n += strstr(buf, want) != NULL;
        }
        if (d)
                closedir(d);
        return n;
}

bool harness_in_netns(pid_t pid, const char *netns, int timeout_ms) {
        char mine[64], want[300];
        snprintf(mine, sizeof(mine), "/proc/%d/ns/net", (int) pid);
        snprintf(want, sizeof(want), "/run/netns/%s", netns);
        for (int t = 0;; t += 10) {
                struct stat a, b;
                if (stat(mine, &a) == 0 && stat(want, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
                        return true;
                if (t >= timeout_ms)
                        return false;
                usleep(10000);
        }
}
