/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "proc.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <cap-ng.h>

#include "util.h"

/*
 * The files read here (/proc/PID/..., /proc/sys, cgroup settings) are
 * generated whole by the kernel when read from offset 0 (seq_file): one
 * read with a buffer larger than the text returns all of it, so the
 * second read that would only answer 0 is not made.  Text longer than
 * @size - 1 is cut there, as before.  From offset 0 with pread(), so that
 * a descriptor kept open reads the file anew each time.
 */
static int read_whole(int fd, char *buf, size_t size) {
        ssize_t k;
        do
                k = pread(fd, buf, size - 1, 0);
        while (k < 0 && errno == EINTR);
        if (k < 0)
                return negative_errno();
        buf[k] = 0;
        return (int) k;
}

static int read_small_file(const char *path, char *buf, size_t size) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        return read_whole(fd, buf, size);
}

int proc_kept_read(int *fd, const char *path, char *buf, size_t size, bool *ret_opened) {
        int r = *fd >= 0 ? read_whole(*fd, buf, size) : -EBADF;
        if (ret_opened)
                *ret_opened = r < 0;
        if (r >= 0)
                return r;
        *fd = safe_close(*fd);
        _cleanup_close_ int f = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (f < 0)
                return negative_errno();
        r = read_whole(f, buf, size);
        if (r >= 0)
                *fd = TAKE_FD(f);
        return r;
}

static int cgroup_file_parse(const char *path, char **ret) {
        char buf[PROC_CGROUP_FILE_MAX];
        int r = read_small_file(path, buf, sizeof(buf));
        if (r < 0)
                return r;
        return proc_cgroup_parse(buf, ret);
}

int proc_cgroup_parse(char *buf, char **ret) {
        for (char *line = buf; line && *line;) {
                char *nl = strchr(line, '\n');
                if (nl)
                        *nl = 0;
                if (strncmp(line, "0::", 3) == 0) {
                        /* "/../x": outside this process's cgroup namespace; such a path
                         * names nothing below our cgroup mount and must match no rule */
                        const char *p = line + 3;
                        if (strncmp(p, "/..", 3) == 0 && (p[3] == '/' || p[3] == 0))
                                return -EXDEV;
                        char *s = strdup(line + 3);
                        if (!s)
                                return -ENOMEM;
                        /* a cgroup removed under a process reads "/x (deleted)" */
                        *ret = s;
                        return 0;
                }
                line = nl ? nl + 1 : NULL;
        }
        return -ENOMEDIUM; /* no cgroup v2 hierarchy */
}

int proc_cgroup(pid_t pid, char **ret) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/cgroup", (int) pid);
        return cgroup_file_parse(path, ret);
}

bool path_below(const char *path, const char *root) {
        if (streq(root, "/"))
                return path[0] == '/';
        size_t n = strlen(root);
        return strncmp(path, root, n) == 0 && (path[n] == 0 || path[n] == '/');
}

static int status_line_path(const char *path, const char *field, char *out, size_t size) {
        char buf[PROC_STATUS_FILE_MAX];
        int r = read_small_file(path, buf, sizeof(buf));
        if (r < 0)
                return r;
        return proc_status_field(buf, field, out, size);
}

int proc_status_field(const char *buf, const char *field, char *out, size_t size) {
        size_t fl = strlen(field);
        for (const char *line = buf; line && *line;) {
                const char *nl = strchr(line, '\n');
                if (strncmp(line, field, fl) == 0 && line[fl] == ':') {
                        const char *v = line + fl + 1;
                        size_t n = nl ? (size_t) (nl - v) : strlen(v);
                        snprintf(out, size, "%.*s", (int) (n < size ? n : size - 1), v);
                        return 0;
                }
                line = nl ? nl + 1 : NULL;
        }
        return -ENODATA;
}

static int status_line(pid_t pid, const char *field, char *out, size_t size) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
        return status_line_path(path, field, out, size);
}

int proc_ids_parse(const char *s, long *ret, size_t max, size_t *ret_n) {
        size_t n = 0;
        while (*s) {
                char *end;
                while (*s == ' ' || *s == '\t')
                        s++;
                if (!*s)
                        break;
                errno = 0;
                long v = strtol(s, &end, 10);
                if (errno || end == s)
                        return -EINVAL;
                if (n < max)
                        ret[n++] = v;
                s = end;
        }
        *ret_n = n;
        return 0;
}

static int nspid_at(const char *path, pid_t *ret, size_t max, size_t *ret_n) {
        char line[512];
        int r = status_line_path(path, "NSpid", line, sizeof(line));
        if (r < 0)
                return r;
        return proc_nspid_parse(line, ret, max, ret_n);
}

int proc_nspid_parse(const char *line, pid_t *ret, size_t max, size_t *ret_n) {
        long ids[PROC_MAX_NSPID];
        size_t n;
        int r = proc_ids_parse(line, ids, PROC_MAX_NSPID, &n);
        if (r < 0)
                return r;
        if (n == 0)
                return -ENODATA;
        for (size_t i = 0; i < n && i < max; i++) {
                if (ids[i] <= 0)
                        return -ESRCH; /* a pidfd's process that exited reads -1 */
                if (ids[i] > INT_MAX)
                        return -EINVAL; /* no pid: as a pid_t it would name another process */
        }
        for (size_t i = 0; i < n && i < max; i++)
                ret[i] = (pid_t) ids[i];
        *ret_n = n < max ? n : max;
        return 0;
}

int proc_nspid(pid_t pid, pid_t *ret, size_t max, size_t *ret_n) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
        return nspid_at(path, ret, max, ret_n);
}

int pidfd_nspid(int pidfd, pid_t *ret, size_t max, size_t *ret_n) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", pidfd);
        return nspid_at(path, ret, max, ret_n);
}

int proc_ppid(pid_t pid, pid_t *ret) {
        char line[64];
        int r = status_line(pid, "PPid", line, sizeof(line));
        if (r < 0)
                return r;
        *ret = (pid_t) strtol(line, NULL, 10);
        return 0;
}

/*
 * /proc/@pid/stat into @buf; *ret_fields points at the space before field 3
 * (the state), after the command name, which may hold anything (its last ')').
 */
static int stat_read(pid_t pid, char *buf, size_t size, char **ret_fields) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        ssize_t n = read(fd, buf, size - 1);
        if (n <= 0)
                return n < 0 ? negative_errno() : -EIO;
        buf[n] = 0;
        return proc_stat_fields(buf, ret_fields);
}

int proc_stat_fields(char *buf, char **ret_fields) {
        char *p = strrchr(buf, ')');
        if (!p || p[1] != ' ')
                return -EIO;
        *ret_fields = p + 1;
        return 0;
}

bool proc_is_zombie(pid_t pid) {
        char buf[PROC_STAT_FILE_MAX], *p;
        return stat_read(pid, buf, sizeof(buf), &p) >= 0 && (p[1] == 'Z' || p[1] == 'X');
}

int proc_starttime(pid_t pid, uint64_t *ret) {
        char buf[PROC_STAT_FILE_MAX], *p;
        int r = stat_read(pid, buf, sizeof(buf), &p);
        if (r < 0)
                return r;
        return proc_stat_starttime(p, ret);
}

int proc_stat_starttime(char *p, uint64_t *ret) {
        for (int field = 3; field < 22; field++) { /* p: the space before field 3 */
                p = strchr(p + 1, ' ');
                if (!p)
                        return -EIO;
        }
        char *end;
        errno = 0;
        unsigned long long v = strtoull(p + 1, &end, 10);
        if (errno || end == p + 1)
                return -EIO;
        *ret = v;
        return 0;
}

int proc_creds_read(pid_t pid, proc_creds *ret) {
        char buf[PROC_STATUS_FILE_MAX], path[64];
        snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
        int r = read_small_file(path, buf, sizeof(buf));
        if (r < 0)
                return r;
        return proc_creds_parse(buf, ret);
}

/* uid_t and gid_t hold them as they are (a larger one would alias another id) */
static bool ids_are_u32(const long *ids, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (ids[i] < 0 || (unsigned long) ids[i] > UINT32_MAX)
                        return false;
        return true;
}

int proc_creds_parse(const char *buf, proc_creds *ret) {
        char uid[128], gid[128];
        long ids[4];
        size_t n;
        proc_creds c;
        int r = proc_status_field(buf, "Uid", uid, sizeof(uid));
        if (r < 0)
                return r;
        r = proc_status_field(buf, "Gid", gid, sizeof(gid));
        if (r < 0)
                return r;
        if (proc_ids_parse(uid, ids, 4, &n) < 0 || n < 3 || !ids_are_u32(ids, 3))
                return -EINVAL;
        for (int i = 0; i < 3; i++)
                c.uid[i] = (uid_t) ids[i];
        if (proc_ids_parse(gid, ids, 4, &n) < 0 || n < 3 || !ids_are_u32(ids, 3))
                return -EINVAL;
        for (int i = 0; i < 3; i++)
                c.gid[i] = (gid_t) ids[i];
        *ret = c;
        return 0;
}

int proc_children(pid_t pid, pid_t *list, size_t max, size_t *n) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/task", (int) pid);
        DIR *d = opendir(path);
        if (!d)
                return negative_errno();
        struct dirent *de;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                char p2[384], buf[PROC_CHILDREN_FILE_MAX];
                snprintf(p2, sizeof(p2), "/proc/%d/task/%s/children", (int) pid, de->d_name);
                if (read_small_file(p2, buf, sizeof(buf)) < 0)
                        continue;
                proc_children_parse(buf, list, max, n);
        }
        closedir(d);
        return 0;
}

void proc_children_parse(const char *buf, pid_t *list, size_t max, size_t *n) {
        for (const char *s = buf; *s;) {
                char *end;
                long v = strtol(s, &end, 10);
                if (end == s)
                        break;
                if (*n < max)
                        list[(*n)++] = (pid_t) v;
                s = end;
                while (*s == ' ' || *s == '\n')
                        s++;
        }
}

bool have_effective_cap(int cap) {
        capng_clear(CAPNG_SELECT_BOTH);
        if (capng_get_caps_process() < 0)
                return false;
        return capng_have_capability(CAPNG_EFFECTIVE, cap) == 1;
}

static int parse_limit_word(const char **s, uint64_t *ret) {
        while (**s == ' ')
                (*s)++;
        if (strncmp(*s, "unlimited", 9) == 0) {
                *s += 9;
                *ret = UINT64_MAX;
                return 0;
        }
        char *end;
        errno = 0;
        unsigned long long v = strtoull(*s, &end, 10);
        if (errno || end == *s)
                return -EINVAL;
        *s = end;
        *ret = v;
        return 0;
}

static int proc_limits(pid_t pid, const char *name, uint64_t *ret_soft, uint64_t *ret_hard) {
        char path[64], buf[PROC_LIMITS_FILE_MAX];
        snprintf(path, sizeof(path), "/proc/%d/limits", (int) pid);
        int r = read_small_file(path, buf, sizeof(buf));
        if (r < 0)
                return r;
        return proc_limits_parse(buf, name, ret_soft, ret_hard);
}

int proc_limits_parse(const char *buf, const char *name, uint64_t *ret_soft, uint64_t *ret_hard) {
        char key[64];
        snprintf(key, sizeof(key), "\n%s ", name);
        const char *line = strstr(buf, key);
        if (!line)
                return -ENODATA;
        const char *s = line + strlen(key);
        uint64_t soft, hard;
        if (parse_limit_word(&s, &soft) < 0 || parse_limit_word(&s, &hard) < 0)
                return -EINVAL;
        *ret_soft = soft;
        *ret_hard = hard;
        return 0;
}

int proc_memlock_limits(pid_t pid, uint64_t *ret_soft, uint64_t *ret_hard) {
        return proc_limits(pid, "Max locked memory", ret_soft, ret_hard);
}

int proc_rttime_limits(pid_t pid, uint64_t *ret_soft, uint64_t *ret_hard) {
        return proc_limits(pid, "Max realtime timeout", ret_soft, ret_hard);
}

int proc_task_cgroup(pid_t tgid, pid_t tid, char **ret) {
        char path[96];
        snprintf(path, sizeof(path), "/proc/%d/task/%d/cgroup", (int) tgid, (int) tid);
        return cgroup_file_parse(path, ret);
}

int proc_task_cgroups_kept(pid_t tgid, pid_t tid, int *fd, char **ret, char **ret_cpu_v1) {
        char path[96], buf[PROC_CGROUP_FILE_MAX], copy[PROC_CGROUP_FILE_MAX];
        _cleanup_close_ int once = -EBADF;
        snprintf(path, sizeof(path), "/proc/%d/task/%d/cgroup", (int) tgid, (int) tid);
        int r = proc_kept_read(fd ? fd : &once, path, buf, sizeof(buf), NULL);
        if (r < 0)
                return r;
        char *v1 = NULL;
        if (ret_cpu_v1) {
                memcpy(copy, buf, (size_t) r + 1); /* both parsers cut their buffer into lines */
                const char *cpu = proc_cgroup_v1_path(copy, "cpu");
                if (cpu && !(v1 = strdup(cpu)))
                        return -ENOMEM;
        }
        r = proc_cgroup_parse(buf, ret);
        if (r < 0) {
                free(v1);
                return r;
        }
        if (ret_cpu_v1)
                *ret_cpu_v1 = v1;
        return 0;
}

int proc_task_nstid(pid_t tgid, pid_t tid, size_t level, pid_t *ret) {
        char path[96];
        pid_t ids[PROC_MAX_NSPID];
        size_t n;
        snprintf(path, sizeof(path), "/proc/%d/task/%d/status", (int) tgid, (int) tid);
        int r = nspid_at(path, ids, PROC_MAX_NSPID, &n); /* the same checks as every NSpid: ids in 1..INT_MAX */
        if (r < 0)
                return r;
        if (level >= n)
                return -ENOENT;
        *ret = ids[level];
        return 0;
}

int proc_tgid(pid_t tid, pid_t *ret) {
        char buf[32];
        int r = status_line(tid, "Tgid", buf, sizeof(buf));
        if (r < 0)
                return r;
        *ret = (pid_t) atoi(buf);
        return *ret > 0 ? 0 : -EINVAL;
}

/* mountinfo escapes space, tab, newline and backslash as \ooo */
static void mountinfo_unescape(const char *in, char *buf, size_t size) {
        size_t o = 0;
        for (const char *p = in; *p && o + 1 < size; p++) {
                if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' && p[3] >= '0' &&
                    p[3] <= '7') {
                        buf[o++] = (char) ((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
                        p += 3;
                } else
                        buf[o++] = *p;
        }
        buf[o] = 0;
}

/* Is @item one of the comma-separated words of @list? */
static bool list_has(const char *list, const char *item) {
        size_t n = strlen(item);
        for (const char *p = list; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
                if (strncmp(p, item, n) == 0 && (p[n] == ',' || p[n] == 0 || p[n] == '\n'))
                        return true;
        return false;
}

/*
 * The first cgroup mount of cgroup2 (@v1_controller NULL) or of the v1
 * hierarchy holding @v1_controller: its mount point in @mnt and the cgroup
 * it shows as its root in @root.
 */
static int cgroup_mount_find(const char *v1_controller, char *root, size_t root_size, char *mnt, size_t mnt_size) {
        _cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
        char line[PROC_MOUNTINFO_LINE_MAX];
        if (!f)
                return negative_errno();
        while (fgets(line, sizeof(line), f))
                if (proc_mountinfo_cgroup(line, v1_controller, root, root_size, mnt, mnt_size) == 0)
                        return 0;
        return -ENOMEDIUM;
}

int proc_mountinfo_cgroup(const char *line, const char *v1_controller, char *root, size_t root_size, char *mnt,
                          size_t mnt_size) {
        /* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS */
        const char *sep = strstr(line, " - ");
        char r[1024], m[1024], opts[1024];
        if (!sep)
                return -ENOENT;
        if (v1_controller ? strncmp(sep + 3, "cgroup ", 7) != 0 ||
                                    sscanf(sep + 3, "%*s %*s %1023s", opts) != 1 ||
                                    !list_has(opts, v1_controller)
                          : strncmp(sep + 3, "cgroup2 ", 8) != 0)
                return -ENOENT;
        if (sscanf(line, "%*s %*s %*s %1023s %1023s", r, m) != 2)
                return -ENOENT;
        mountinfo_unescape(r, root, root_size);
        mountinfo_unescape(m, mnt, mnt_size);
        return 0;
}

int cgroup2_mount(char *buf, size_t size) {
        char root[1024];
        int r = cgroup_mount_find(NULL, root, sizeof(root), buf, size);
        if (r >= 0 && !streq(root, "/"))
                return -ENOMEDIUM; /* a bind mount of a subtree: paths would not line up */
        return r;
}

int cgroup_v1_mount_find(const char *controller, cgroup_v1_mount *ret) {
        int r = cgroup_mount_find(controller, ret->root, sizeof(ret->root), ret->mnt, sizeof(ret->mnt));
        ret->found = r >= 0;
        return r;
}

const char *proc_cgroup_v1_path(char *buf, const char *controller) {
        const char *cg = NULL;
        /* "N:cpu,cpuacct:/path": the v1 hierarchy with the cpu controller */
        for (char *line = buf; line && *line && !cg;) {
                char *nl = strchr(line, '\n'), *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
                if (nl)
                        *nl = 0;
                if (c2) {
                        *c2 = 0;
                        if (list_has(c1 + 1, controller))
                                cg = c2 + 1;
                }
                line = nl ? nl + 1 : NULL;
        }
        return cg;
}

/*
 * @group's cpu.rt_runtime_us read into @buf through its descriptor kept in @cpu.  A group removed since answers
 * ENODEV; one renamed (v1 allows it within its parent) still reads, so the file its path names now is checked
 * to be the one kept (one stat per request; opening it anew would be two calls more).
 */
static int rt_budget_read(cgroup_v1_mount *cpu, const char *group, char *buf, size_t size) {
        _cleanup_free_ char *path = NULL;
        struct stat st;
        bool opened;
        size_t i;
        if (asprintf(&path, "%s%s/cpu.rt_runtime_us", cpu->mnt,
                     group + (streq(cpu->root, "/") ? 0 : strlen(cpu->root))) < 0)
                return -ENOMEM;
        if (stat(path, &st) < 0)
                return negative_errno(); /* -ENOENT: no CONFIG_RT_GROUP_SCHED */
        for (i = 0; i < CGROUP_V1_KEPT; i++)
                if (cpu->kept[i].group && streq(cpu->kept[i].group, group))
                        break;
        if (i == CGROUP_V1_KEPT) {
                char *g = strdup(group);
                if (!g)
                        return -ENOMEM;
                i = cpu->next;
                cpu->next = (cpu->next + 1) % CGROUP_V1_KEPT;
                if (cpu->kept[i].group)
                        safe_close(cpu->kept[i].fd);
                free(cpu->kept[i].group);
                cpu->kept[i].group = g;
                cpu->kept[i].fd = -EBADF;
        } else if (cpu->kept[i].dev != st.st_dev || cpu->kept[i].ino != st.st_ino)
                cpu->kept[i].fd = safe_close(cpu->kept[i].fd); /* another group has that name now */
        int r = proc_kept_read(&cpu->kept[i].fd, path, buf, size, &opened);
        if (r >= 0 && opened) {
                if (fstat(cpu->kept[i].fd, &st) < 0)
                        return negative_errno();
                cpu->kept[i].dev = st.st_dev;
                cpu->kept[i].ino = st.st_ino;
        }
        return r;
}

int proc_cgroup_rt_budget(cgroup_v1_mount *cpu, const char *cg, char *path, size_t size, int64_t *ret_us) {
        char buf[64];
        if (!cpu->found)
                return -ENOENT; /* no v1 cpu hierarchy: no RT budget per group */
        if (!cg)
                return -ENOENT; /* cgroup v2 only: it has no RT budget per group */
        if (!path_below(cg, cpu->root))
                return -ENOENT; /* its group is not visible in our mount */
        snprintf(path, size, "%s", cg);
        int r = rt_budget_read(cpu, cg, buf, sizeof(buf));
        if (r < 0)
                return r;
        return proc_i64_parse(buf, ret_us);
}

void cgroup_v1_mount_free(cgroup_v1_mount *m) {
        if (!m)
                return;
        for (size_t i = 0; i < CGROUP_V1_KEPT; i++)
                if (m->kept[i].group) {
                        free(m->kept[i].group);
                        safe_close(m->kept[i].fd);
                }
        free(m);
}

int proc_read_i64(const char *path, int64_t *ret) {
        char buf[64];
        int r = read_small_file(path, buf, sizeof(buf));
        if (r < 0)
                return r;
        return proc_i64_parse(buf, ret);
}

int proc_i64_parse(const char *buf, int64_t *ret) {
        char *end;
        errno = 0;
        long long v = strtoll(buf, &end, 10);
        if (errno || end == buf)
                return -EBADMSG;
        *ret = v;
        return 0;
}

int cgroup2_mount_root(char *buf, size_t size) {
        char mnt[1024];
        return cgroup_mount_find(NULL, buf, size, mnt, sizeof(mnt));
}

/* The kernel's ABI (include/uapi/linux/pidfd.h, Linux 6.13), for C library headers older than it. */
struct proc_pidfd_info {
        uint64_t mask;
        uint64_t cgroupid;
        uint32_t pid, tgid, ppid, ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
        uint32_t spare0[1];
};
#define PROC_PIDFD_GET_INFO _IOWR(0xFF, 11, struct proc_pidfd_info)
#define PROC_PIDFD_INFO_CGROUPID (1UL << 2)

unsigned long proc_pidfd_get_info_request(void) {
        return PROC_PIDFD_GET_INFO;
}

int pidfd_facts_get(int pidfd, pidfd_facts *ret) {
        struct proc_pidfd_info i = { .mask = PROC_PIDFD_INFO_CGROUPID };
        if (ioctl(pidfd, PROC_PIDFD_GET_INFO, &i) < 0) {
                /* ENOTTY (no such ioctl: before 6.13), EINVAL (an older layout) */
                if (errno == ENOTTY || errno == EINVAL || errno == EOPNOTSUPP)
                        return -EOPNOTSUPP;
                return negative_errno();
        }
        if (i.pid == 0 || i.tgid == 0 || i.pid > INT_MAX || i.tgid > INT_MAX || i.ppid > INT_MAX)
                return -ESRCH; /* not in our pid namespace, or gone */
        *ret = (pidfd_facts) {
                .pid = (pid_t) i.pid,
                .tgid = (pid_t) i.tgid,
                .ppid = (pid_t) i.ppid,
                .cgroupid = i.mask & PROC_PIDFD_INFO_CGROUPID ? i.cgroupid : 0,
                .uid = { i.ruid, i.euid, i.suid },
                .gid = { i.rgid, i.egid, i.sgid },
        };
        return 0;
}
