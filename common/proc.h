/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * proc.h - reading process facts from /proc: cgroup, parent, pid
 * namespaces, credentials; resource limits.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#define PROC_MAX_NSPID 32

/* How much of each /proc file the readers below take in (NUL included). */
#define PROC_CGROUP_FILE_MAX 8192   /* /proc/PID[/task/TID]/cgroup */
#define PROC_STATUS_FILE_MAX 4096   /* /proc/PID/status, /proc/self/fdinfo/PIDFD */
#define PROC_STAT_FILE_MAX 1024     /* /proc/PID/stat */
#define PROC_LIMITS_FILE_MAX 3072   /* /proc/PID/limits (17 lines: a header and 16 limits, about 1.3 KiB) */
#define PROC_CHILDREN_FILE_MAX 4096 /* /proc/PID/task/TID/children */
#define PROC_MOUNTINFO_LINE_MAX 4096 /* one line of /proc/self/mountinfo */

/* The cgroup v2 path of @pid ("0::" line of /proc/PID/cgroup), malloc'd. */
int proc_cgroup(pid_t pid, char **ret);

/* Is @path equal to @root or below it ("/a/b" is below "/a", "/ab" is not)? */
bool path_below(const char *path, const char *root);

/* NSpid: the pid of @pid in each pid namespace, outermost (ours) first. */
int proc_nspid(pid_t pid, pid_t *ret, size_t max, size_t *ret_n);
/* The same for the process of @pidfd, from its fdinfo: a few lines, not a
 * whole /proc/PID/status, and of that process whatever its pid became.
 * -ESRCH when it exited. */
int pidfd_nspid(int pidfd, pid_t *ret, size_t max, size_t *ret_n);

int proc_ppid(pid_t pid, pid_t *ret);
/* Field 22 of /proc/PID/stat (clock ticks since boot): with the pid, names a process across time. */
int proc_starttime(pid_t pid, uint64_t *ret);
/* Has @pid exited without being reaped yet (a zombie, still holding its number)? */
bool proc_is_zombie(pid_t pid);

/* Real, effective, saved uid and gid. */
typedef struct proc_creds {
        uid_t uid[3];
        gid_t gid[3];
} proc_creds;
int proc_creds_read(pid_t pid, proc_creds *ret);
/* Are the real, effective and saved ids all the same (uid[0], gid[0])? */
static inline bool proc_ids_all_same(const uid_t uid[3], const gid_t gid[3]) {
        return uid[0] == uid[1] && uid[0] == uid[2] && gid[0] == gid[1] && gid[0] == gid[2];
}

/* Children of every thread of @pid, appended to @list (bounded by @max). */
int proc_children(pid_t pid, pid_t *list, size_t max, size_t *n);

/* Is @cap in this process's effective set? */
bool have_effective_cap(int cap);

/* rlimit <-> our limit values (RLIM_INFINITY <-> UINT64_MAX) */
static inline uint64_t rlim_to_u64(rlim_t r) {
        return r == RLIM_INFINITY ? UINT64_MAX : (uint64_t) r;
}
static inline rlim_t u64_to_rlim(uint64_t v) {
        return v == UINT64_MAX ? RLIM_INFINITY : (rlim_t) v;
}

/* RLIMIT_MEMLOCK of @pid from /proc/PID/limits (readable without privilege). */
int proc_memlock_limits(pid_t pid, uint64_t *ret_soft, uint64_t *ret_hard);
/* RLIMIT_RTTIME of @pid in microseconds (UINT64_MAX: unlimited). */
int proc_rttime_limits(pid_t pid, uint64_t *ret_soft, uint64_t *ret_hard);

/* The cgroup v2 path of thread @tid of process @tgid. */
int proc_task_cgroup(pid_t tgid, pid_t tid, char **ret);
/* The same, and in *@ret_cpu_v1 (unless NULL) its cgroup v1 "cpu" path (NULL: none), from one read of the
 * file, kept open in *@fd (proc_kept_read(); NULL: not kept). */
int proc_task_cgroups_kept(pid_t tgid, pid_t tid, int *fd, char **ret, char **ret_cpu_v1);
/* The id of thread @tid (of @tgid) in the pid namespace at @level of its NSpid. */
int proc_task_nstid(pid_t tgid, pid_t tid, size_t level, pid_t *ret);
/*
 * What the kernel says of the task of @pidfd (a process or, opened with
 * PIDFD_THREAD, a thread) with one ioctl, PIDFD_GET_INFO (Linux 6.13):
 * its pid (the thread's id for a thread), its process, that process's
 * parent, all in our pid namespace, and the id of its cgroup v2 (the
 * inode number of that cgroup's directory; 0 when the kernel gave none).
 * Of the task pinned by the pidfd, whatever its number became.  -ESRCH
 * when it exited; -EOPNOTSUPP on kernels without the ioctl.
 */
typedef struct pidfd_facts {
        pid_t pid, tgid, ppid;
        uint64_t cgroupid;
        uid_t uid[3]; /* real, effective, saved (as seen from our user namespace) */
        gid_t gid[3];
} pidfd_facts;
int pidfd_facts_get(int pidfd, pidfd_facts *ret);
/* Its ioctl request number (the broker's seccomp allowlist names it). */
unsigned long proc_pidfd_get_info_request(void);

/*
 * A /proc or cgroup file kept open in *@fd (< 0: none yet) and read anew from offset 0 (as the readers above:
 * once, cut at @size - 1).  When there is none or that read fails (its process or group is gone), the old one
 * is closed and @path opened, read and kept instead; *@ret_opened (may be NULL) then says so.  The length
 * read, or -errno of the open or read of @path (*@fd is then < 0).
 */
int proc_kept_read(int *fd, const char *path, char *buf, size_t size, bool *ret_opened);

/* The process a thread id belongs to. */
int proc_tgid(pid_t tid, pid_t *ret);

/* Where a cgroup v1 hierarchy is mounted (cgroup_v1_mount_find()). */
#define CGROUP_V1_KEPT 8
typedef struct cgroup_v1_mount {
        bool found;
        char root[1024]; /* the cgroup it shows as its root */
        char mnt[1024];  /* its mount point */
        /* groups' cpu.rt_runtime_us kept open (proc_cgroup_rt_budget()), round robin */
        struct {
                char *group;
                int fd;     /* < 0: none open */
                dev_t dev;  /* of the file kept open */
                ino_t ino;
        } kept[CGROUP_V1_KEPT];
        unsigned next;
} cgroup_v1_mount;
/* Close what proc_cgroup_rt_budget() kept open, and free @m (NULL is fine). */
void cgroup_v1_mount_free(cgroup_v1_mount *m);
/* The first mount of the v1 hierarchy holding @controller, from
 * /proc/self/mountinfo: 0, or -ENOMEDIUM (ret->found false) when none. */
int cgroup_v1_mount_find(const char *controller, cgroup_v1_mount *ret);

/**
 * proc_cgroup_rt_budget() - the realtime budget the kernel gives the cgroup
 * v1 "cpu" group @cg of a thread (from proc_task_cgroups_kept(); NULL: it has
 * none), with CONFIG_RT_GROUP_SCHED: its cpu.rt_runtime_us, @cpu being
 * where that hierarchy is mounted (found once with
 * cgroup_v1_mount_find("cpu")).  Returns 0 with the budget in microseconds
 * in *ret_us (-1: unlimited) and the group's path in @path; -ENOENT when
 * the kernel gives cgroups no RT budget here (no v1 cpu hierarchy mounted
 * or no group in it, then nothing is read, or no cpu.rt_runtime_us in it).
 * The file of each group is kept open in @cpu and read anew with pread(),
 * after a stat() of its path: a group removed since (ENODEV), or renamed
 * (another file at that path now), is opened again by its path (a group of
 * that name made since is another group, with its own budget).
 */
int proc_cgroup_rt_budget(cgroup_v1_mount *cpu, const char *cg, char *path, size_t size, int64_t *ret_us);

/* A file holding one decimal integer (a sysctl, a cgroup setting). */
int proc_read_i64(const char *path, int64_t *ret);

/* Where cgroup v2 is mounted (its root, from /proc/self/mountinfo). */
int cgroup2_mount(char *buf, size_t size);
/* The root field of the first cgroup v2 mount as this process's cgroup
 * namespace sees it: "/" normally, "/../.." when the namespace's root lies
 * below the mount's root (a container's private cgroup namespace). */
int cgroup2_mount_root(char *buf, size_t size);

/*
 * The parsers behind the readers above, on text already read (NUL-terminated
 * @buf): pure, so that unit tests and tests/fuzz/fuzz-proc.c drive them.
 * Same returns as the readers.  Those taking a non-const @buf cut it into
 * lines in place; *ret and the returned pointers point into it or are malloc'd
 * as the reader says.
 */
int proc_cgroup_parse(char *buf, char **ret);
/* The value after "FIELD:" (tab included) of a status-like file, cut at @size. */
int proc_status_field(const char *buf, const char *field, char *out, size_t size);
/* Whitespace-separated decimal ids; at most @max kept, all counted in *ret_n up to @max. */
int proc_ids_parse(const char *s, long *ret, size_t max, size_t *ret_n);
int proc_nspid_parse(const char *line, pid_t *ret, size_t max, size_t *ret_n);
int proc_creds_parse(const char *buf, proc_creds *ret);
/* *ret_fields: the space before field 3 of a /proc/PID/stat line, after the (any) command name. */
int proc_stat_fields(char *buf, char **ret_fields);
/* Field 22 from what proc_stat_fields() returned. */
int proc_stat_starttime(char *fields, uint64_t *ret);
int proc_limits_parse(const char *buf, const char *name, uint64_t *ret_soft, uint64_t *ret_hard);
void proc_children_parse(const char *buf, pid_t *list, size_t max, size_t *n);
/* One mountinfo line: 0 with root and mount point unescaped when it is the mount looked for, else -ENOENT. */
int proc_mountinfo_cgroup(const char *line, const char *v1_controller, char *root, size_t root_size, char *mnt,
                          size_t mnt_size);
/* The path of the cgroup v1 hierarchy holding @controller in a cgroup file, or NULL. */
const char *proc_cgroup_v1_path(char *buf, const char *controller);
int proc_i64_parse(const char *buf, int64_t *ret);
