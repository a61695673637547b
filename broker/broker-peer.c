/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-peer.c - who is asking, and may they name that process?
 *
 * At accept: SO_PEERCRED, a pidfd (SO_PEERPIDFD, else pidfd_open() checked
 * against the peer's start), the peer's cgroup v2 path (its pod) and pid
 * namespace level.  For each request naming a pid: the pid is read in the
 * peer's pid namespace, found among the peer's descendants, pinned with a
 * pidfd, and checked to be inside the pod cgroup; callers re-check the pidfd
 * after acting.
 */
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "broker.h"
#include "proc.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

#define MAX_DESCENDANTS 4096
#define MAX_ANCESTRY 128

/*
 * A pidfd polls readable once its process (or thread) has exited, zombie
 * or not: signal 0 would still reach a zombie.  Only where poll() fails,
 * signal 0: EPERM means the process exists but is another user's and the
 * broker holds no CAP_KILL for it (still alive), ESRCH that it is gone.
 */
bool pidfd_alive(int pidfd) {
        return pidfds_alive(&pidfd, 1);
}

bool broker_ids_are(uid_t uid, gid_t gid) {
        static uid_t u = (uid_t) -1;
        static gid_t g;
        if (u == (uid_t) -1) {
                u = getuid();
                g = getgid();
        }
        return uid == u && gid == g;
}

/* The number in file @path (a sysctl), or @def. */
static int64_t number_in(const char *path, int64_t def) {
        int64_t v;
        return proc_read_i64(path, &v) < 0 ? def : v;
}

/* Does @path (/proc/self/uid_map, gid_map) map every id, as the initial user namespace's does? */
static bool maps_all(const char *path) {
        char buf[128] = "";
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
        unsigned long in, out, count;
        char rest;
        if (n <= 0)
                return false;
        buf[n] = 0;
        return sscanf(buf, " %lu %lu %lu %c", &in, &out, &count, &rest) == 3 && in == 0 && out == 0 &&
               count == 4294967295UL;
}

bool broker_ids_unnamed(const uid_t uid[3], const gid_t gid[3], uid_t *ret_uid, gid_t *ret_gid) {
        static bool read_once, all;
        static uid_t ou;
        static gid_t og;
        if (!read_once) { /* once: none of it changes while the broker runs */
                all = maps_all("/proc/self/uid_map") && maps_all("/proc/self/gid_map");
                ou = (uid_t) number_in("/proc/sys/kernel/overflowuid", 65534);
                og = (gid_t) number_in("/proc/sys/kernel/overflowgid", 65534);
                read_once = true;
        }
        *ret_uid = ou;
        *ret_gid = og;
        if (all)
                return false;
        for (size_t i = 0; i < 3; i++)
                if (uid[i] == ou || gid[i] == og)
                        return true;
        return false;
}

bool pidfds_alive(const int *pidfds, size_t n) {
        struct pollfd few[8];
        _cleanup_free_ struct pollfd *many = n > ELEMENTSOF(few) ? calloc(n, sizeof(struct pollfd)) : NULL;
        struct pollfd *p = n > ELEMENTSOF(few) ? many : few;
        int r = -1;
        if (p) {
                for (size_t i = 0; i < n; i++)
                        p[i] = (struct pollfd) { .fd = pidfds[i], .events = POLLIN };
                r = poll(p, n, 0);
        }
        if (r >= 0)
                return r == 0;
        for (size_t i = 0; i < n; i++)
                if (pidfd_send_signal(pidfds[i], 0, NULL, 0) < 0 && errno != EPERM)
                        return false;
        return true;
}

int peer_identify(client *c, op_error *err) {
        socklen_t l = sizeof(c->cred);
        if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &c->cred, &l) < 0)
                return op_error_set(err, negative_errno(), ERR_SYSTEM, errno, "SO_PEERCRED: %m");
        if (c->cred.pid <= 0)
                return op_error_set(err, -ESRCH, ERR_SYSTEM, ESRCH,
                                 "the peer's pid is not visible in the broker's pid namespace");

        int pidfd = -EBADF;
        l = sizeof(pidfd);
        if (getsockopt(c->fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &l) < 0) {
                if (errno != ENOPROTOOPT && errno != EINVAL)
                        return op_error_set(err, negative_errno(), ERR_SYSTEM, errno, "SO_PEERPIDFD: %m");
                /* older kernel: pin it now and re-check below that it is alive */
                pidfd = pidfd_open(c->cred.pid, 0);
                if (pidfd < 0)
                        return op_error_set(err, negative_errno(), ERR_SYSTEM, errno, "pidfd_open(%d): %m",
                                         (int) c->cred.pid);
        }
        c->pidfd = pidfd;
        fcntl(pidfd, F_SETFD, FD_CLOEXEC);
        /* alive before /proc is read: a pid that was recycled would describe someone else's process,
         * and nothing about it may reach the refusal; alive after: what was read was the peer's */
        if (!pidfd_alive(c->pidfd))
                return op_error_set(err, -ESRCH, ERR_SYSTEM, ESRCH, "the peer exited before it was accepted");

        int r = proc_cgroup(c->cred.pid, &c->cgroup);
        if (r == -EXDEV)
                return op_error_set(err, r, ERR_DENIED, EXDEV,
                                 "the cgroup of peer pid %d lies outside the broker's cgroup namespace (it reads as "
                                 "'/../...'); no rule can match it", (int) c->cred.pid);
        if (r < 0)
                return op_error_set(err, r, ERR_SYSTEM, -r, "cannot read the cgroup of peer pid %d: %s",
                                 (int) c->cred.pid, strerror(-r));
        pid_t ns[PROC_MAX_NSPID];
        size_t n;
        r = pidfd_nspid(c->pidfd, ns, PROC_MAX_NSPID, &n);
        if (r < 0)
                return op_error_set(err, r, ERR_SYSTEM, -r, "cannot read the pid namespaces of peer pid %d: %s",
                                 (int) c->cred.pid, strerror(-r));
        c->ns_level = n - 1;
        c->ns_pid = ns[n - 1];
        if (!pidfd_alive(c->pidfd))
                return op_error_set(err, -ESRCH, ERR_SYSTEM, ESRCH, "the peer exited while connecting");
        return 0;
}

peer client_peer(client *c) {
        return (peer) { .cred = c->cred, .pidfd = c->pidfd, .cgroup = c->cgroup, .ns_level = c->ns_level,
                        .ns_pid = c->ns_pid, .pod_ids = &c->pod_ids, .cgroup_root = c->b->cgroup_fd };
}

int peer_from_pid(pid_t pid, uid_t uid, gid_t gid, peer *ret, int *ret_pidfd, char **ret_cgroup,
                  op_error *err) {
        if (pid <= 0)
                return op_error_set(err, -ESRCH, ERR_SYSTEM, ESRCH, "the caller's pid is not known");
        _cleanup_close_ int pidfd = pidfd_open(pid, 0);
        if (pidfd < 0)
                return op_error_set(err, negative_errno(), ERR_NOT_FOUND, errno, "pidfd_open(%d): %m", (int) pid);
        fcntl(pidfd, F_SETFD, FD_CLOEXEC);
        /* pinned: check the pid still is the process the bus described */
        proc_creds cr;
        if (proc_creds_read(pid, &cr) < 0 || cr.uid[1] != uid)
                return op_error_set(err, -ESRCH, ERR_NOT_FOUND, ESRCH,
                                 "caller pid %d exited or changed identity while being identified", (int) pid);
        _cleanup_free_ char *cg = NULL;
        int r = proc_cgroup(pid, &cg);
        if (r == -EXDEV)
                return op_error_set(err, r, ERR_DENIED, EXDEV,
                                 "the cgroup of caller pid %d lies outside the broker's cgroup namespace (it reads "
                                 "as '/../...'); no rule can match it", (int) pid);
        if (r < 0)
                return op_error_set(err, r, ERR_SYSTEM, -r, "cannot read the cgroup of caller pid %d: %s", (int) pid,
                                 strerror(-r));
        pid_t ns[PROC_MAX_NSPID];
        size_t n;
        r = proc_nspid(pid, ns, PROC_MAX_NSPID, &n);
        if (r < 0)
                return op_error_set(err, r, ERR_SYSTEM, -r, "cannot read the pid namespaces of caller pid %d: %s",
                                 (int) pid, strerror(-r));
        if (!pidfd_alive(pidfd))
                return op_error_set(err, -ESRCH, ERR_NOT_FOUND, ESRCH, "caller pid %d exited", (int) pid);
        *ret = (peer) { .cred = { .pid = pid, .uid = uid, .gid = gid }, .pidfd = pidfd, .cgroup = cg,
                        .ns_level = n - 1, .ns_pid = ns[n - 1], .cgroup_root = -EBADF };
        *ret_pidfd = TAKE_FD(pidfd);
        *ret_cgroup = TAKE_PTR(cg);
        return 0;
}

/* Is @pid (ours) the peer or below it in the process tree? */
static bool descends_from_peer(const peer *c, pid_t pid) {
        for (int i = 0; i < MAX_ANCESTRY; i++) {
                if (pid == c->cred.pid)
                        return true;
                if (pid <= 1 || proc_ppid(pid, &pid) < 0)
                        return false;
        }
        return false;
}

/* Find the descendant of the peer that the peer calls @pid. */
static pid_t find_descendant(const peer *c, pid_t pid) {
        _cleanup_free_ pid_t *q = malloc(sizeof(pid_t) * MAX_DESCENDANTS);
        size_t head = 0, n = 0;
        if (!q)
                return -ENOMEM;
        proc_children(c->cred.pid, q, MAX_DESCENDANTS, &n);
        while (head < n) {
                pid_t p = q[head++];
                pid_t ns[PROC_MAX_NSPID];
                size_t k;
                if (proc_nspid(p, ns, PROC_MAX_NSPID, &k) == 0 && k > c->ns_level && ns[c->ns_level] == pid)
                        return p;
                proc_children(p, q, MAX_DESCENDANTS, &n);
        }
        return -ESRCH;
}

int request_resolve_target(request *req, pid_t pid, pid_t *ret_pid, int *ret_pidfd, op_error *err) {
        if (!req->has_peer)
                return op_error_set(err, -EACCES, ERR_DENIED, EACCES, "this request has no process to act for");
        return peer_resolve_target(&req->peer, pid, ret_pid, ret_pidfd, err);
}

static int not_ours(const peer *c, pid_t pid, op_error *err) {
        return op_error_set(err, -EACCES, ERR_DENIED, EACCES,
                         "pid %d is neither the caller (pid %d) nor one of its descendants", (int) pid, (int) c->ns_pid);
}

static int exited(pid_t pid, op_error *err) {
        return op_error_set(err, -ESRCH, ERR_NOT_FOUND, ESRCH, "process %d exited", (int) pid);
}

/* The pid the peer names (0: itself) in our pid namespace, found among its descendants. */
static int target_host(const peer *c, pid_t pid, pid_t *ret, op_error *err) {
        if (pid == 0 || pid == c->ns_pid) {
                *ret = c->cred.pid;
                return 0;
        }
        pid_t host = find_descendant(c, pid);
        if (host == -ENOMEM)
                return op_error_set(err, -ENOMEM, ERR_SYSTEM, ENOMEM, "out of memory");
        if (host < 0) {
                /* same pid namespace: we can tell a stranger from a ghost */
                if (c->ns_level == 0 && (kill(pid, 0) == 0 || errno == EPERM))
                        return not_ours(c, pid, err);
                return op_error_set(err, -ESRCH, ERR_NOT_FOUND, ESRCH,
                                 "no process %d among the caller's own processes (it may have exited)", (int) pid);
        }
        *ret = host;
        return 0;
}

/* pidfd_open() or the dup of the peer's pidfd failed for target @pid (ours: @host). */
static int pin_failed(pid_t pid, pid_t host, op_error *err) {
        if (errno == ESRCH)
                return exited(pid, err);
        return op_error_set(err, negative_errno(), ERR_SYSTEM, errno, "pidfd_open(%d): %m", (int) host);
}

static int outside_pod(const peer *c, pid_t pid, const char *cg, op_error *err) {
        return op_error_set(err, -EACCES, ERR_DENIED, EACCES,
                         "pid %d is in cgroup '%s', outside the caller's pod cgroup '%s'", (int) pid, cg, c->cgroup);
}

int peer_resolve_target(const peer *c, pid_t pid, pid_t *ret_pid, int *ret_pidfd, op_error *err) {
        pid_t host;
        int r = target_host(c, pid, &host, err);
        if (r < 0)
                return r;
        _cleanup_close_ int pidfd = host == c->cred.pid ? fcntl(c->pidfd, F_DUPFD_CLOEXEC, 3) : pidfd_open(host, 0);
        if (pidfd < 0)
                return pin_failed(pid, host, err);
        /* with the process pinned, check what the pid now refers to */
        if (!descends_from_peer(c, host))
                return not_ours(c, pid, err);
        _cleanup_free_ char *cg = NULL;
        if (proc_cgroup(host, &cg) < 0)
                return exited(pid, err);
        if (!path_below(cg, c->cgroup))
                return outside_pod(c, pid, cg, err);
        if (!pidfd_alive(pidfd) || !pidfd_alive(c->pidfd))
                return exited(pid, err);
        *ret_pid = host;
        *ret_pidfd = TAKE_FD(pidfd);
        return 0;
}

#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL /* Linux 6.9: a pidfd for one thread */
#endif

void peer_threads_done(peer_thread *t, size_t n) {
        for (size_t i = 0; i < n; i++) {
                t[i].pidfd = t[i].borrowed ? -EBADF : safe_close(t[i].pidfd);
        }
}

static bool pod_id_known(const pod_cgroup_ids *ids, uint64_t id) {
        for (size_t i = 0; ids && id && i < POD_CGROUP_IDS; i++)
                if (ids->id[i] == id)
                        return true;
        return false;
}

void peer_pod_cgroup_known(const peer *c, uint64_t id) {
        if (!c->pod_ids || !id || pod_id_known(c->pod_ids, id))
                return;
        c->pod_ids->id[c->pod_ids->next] = id;
        c->pod_ids->next = (c->pod_ids->next + 1) % POD_CGROUP_IDS;
}

/*
 * The thread's cgroup @path (in the pod) was read after the kernel gave its
 * id as @id: remember @id only if @path, looked up now on the cgroup2
 * mount, is that cgroup (the thread may have moved in between).
 */
static void pod_id_learn(const peer *c, const char *path, uint64_t id) {
        struct stat st;
        if (!c->pod_ids || !id || c->cgroup_root < 0)
                return;
        if (c->pod_ids->dev == 0 && fstat(c->cgroup_root, &st) == 0)
                c->pod_ids->dev = st.st_dev;
        const char *rel = path[1] ? path + 1 : ".";
        if (fstatat(c->cgroup_root, rel, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode) &&
            st.st_dev == c->pod_ids->dev && (uint64_t) st.st_ino == id)
                peer_pod_cgroup_known(c, id);
}

/*
 * Like peer_resolve_target(), with what the kernel says of the pinned
 * process (PIDFD_GET_INFO, Linux 6.13) where it answers: its parent, its
 * cgroup v2 id (one this connection already found in the pod needs no
 * path read) and its ids.  The peer itself is not pinned again: its own
 * pidfd is lent (@ret->borrowed), valid while the request has its peer.
 * What was read by number from /proc (the cgroup file, parents beyond the
 * first) is of the pinned process if it and the peer still live after it:
 * one poll() of both, which also refuses an exited (zombie) target.
 */
int peer_resolve_pinned(const peer *c, pid_t pid, peer_target *ret, op_error *err) {
        pid_t host;
        int r = target_host(c, pid, &host, err);
        if (r < 0)
                return r;
        bool self = host == c->cred.pid;
        _cleanup_close_ int own = self ? -EBADF : pidfd_open(host, 0);
        if (!self && own < 0)
                return pin_failed(pid, host, err);
        int pidfd = self ? c->pidfd : own;
        pidfd_facts f;
        r = pidfd_facts_get(pidfd, &f);
        if (r == -ESRCH || (r >= 0 && f.tgid != host))
                return exited(pid, err);
        bool facts = r >= 0; /* else (before 6.13) all from /proc */
        if (!self && !descends_from_peer(c, facts ? f.ppid : host))
                return not_ours(c, pid, err);
        if (!facts || !pod_id_known(c->pod_ids, f.cgroupid)) {
                _cleanup_free_ char *cg = NULL;
                if (proc_cgroup(host, &cg) < 0)
                        return exited(pid, err);
                if (!path_below(cg, c->cgroup))
                        return outside_pod(c, pid, cg, err);
                if (facts)
                        pod_id_learn(c, cg, f.cgroupid);
        }
        int both[2] = { pidfd, c->pidfd };
        if (!pidfds_alive(both, self ? 1 : 2))
                return exited(pid, err);
        *ret = (peer_target) { .host_pid = host, .pidfd = self ? c->pidfd : TAKE_FD(own), .borrowed = self,
                               .have_ids = facts };
        if (facts) {
                memcpy(ret->uid, f.uid, sizeof(ret->uid));
                memcpy(ret->gid, f.gid, sizeof(ret->gid));
        }
        return 0;
}

int request_resolve_pinned(request *req, pid_t pid, peer_target *ret, op_error *err) {
        if (!req->has_peer)
                return op_error_set(err, -EACCES, ERR_DENIED, EACCES, "this request has no process to act for");
        return peer_resolve_pinned(&req->peer, pid, ret, err);
}

/*
 * Is @t, pinned, a live thread of a process that descends from the peer, in
 * the pod?  Its process and that one's parent come from the kernel's answer
 * about the pidfd where it gave one (t->ppid > 0), else from /proc.  Its
 * cgroup: where the kernel gave its id and that id is known to lie in the
 * pod, nothing is read; else its cgroup file, read once, says whether it
 * lives (it is gone with the thread).
 */
int thread_read_failed(op_error *err, int r, pid_t tid, const char *file) {
        if (r == -ENOENT || r == -ESRCH) /* the file is gone with the thread */
                return op_error_set(err, -ESRCH, ERR_NOT_FOUND, ESRCH, "thread %d exited", (int) tid);
        return op_error_set(err, r, ERR_SYSTEM, -r, "cannot read %s of thread %d: %s", file, (int) tid,
                            strerror(-r));
}

static int thread_owned(const peer *c, peer_thread *t, op_error *err) {
        _cleanup_free_ char *cg = NULL;
        bool known = pod_id_known(c->pod_ids, t->cgroupid);
        int r = known ? 0 : proc_task_cgroups_kept(t->host_tgid, t->host_tid, t->cgroup_fd, &cg, NULL);
        if (r == -ENOENT || r == -ESRCH)
                return thread_read_failed(err, r, t->tid, PEER_THREAD_CGROUP_FILE);
        if (!(t->host_tgid == c->cred.pid || (t->ppid > 0 ? descends_from_peer(c, t->ppid)
                                                             : descends_from_peer(c, t->host_tgid))))
                return op_error_set(err, -EACCES, ERR_DENIED, EACCES,
                                 "tid %d is not a thread of the caller (pid %d) or of its descendants", (int) t->tid,
                                 (int) c->ns_pid);
        if (r < 0)
                return thread_read_failed(err, r, t->tid, PEER_THREAD_CGROUP_FILE);
        if (known)
                return 0;
        if (!path_below(cg, c->cgroup))
                return op_error_set(err, -EACCES, ERR_DENIED, EACCES,
                                 "tid %d is in cgroup '%s', outside the caller's cgroup '%s'", (int) t->tid, cg,
                                 c->cgroup);
        pod_id_learn(c, cg, t->cgroupid);
        return 0;
}

/*
 * A tid of our own pid namespace, pinned first and then asked about: one
 * pidfd_open(PIDFD_THREAD) and one PIDFD_GET_INFO give the thread's
 * process, that one's parent and its cgroup id, all of the pinned thread,
 * never of whatever had or will have that number.  1 when done so; 0 where
 * the kernel cannot (PIDFD_THREAD is Linux 6.9, PIDFD_GET_INFO 6.13): then
 * its process comes from /proc/TID/status before it is pinned, and the
 * checks after pinning (the task's own cgroup file exists only while that
 * thread of that process lives) catch a number that changed hands.
 */
/* @t (asked as @t->tid) from what the kernel says of its pidfd @pidfd. */
static void thread_from_facts(peer_thread *t, const pidfd_facts *f, int pidfd) {
        *t = (peer_thread) { .tid = t->tid, .host_tid = f->pid, .host_tgid = f->tgid, .ppid = f->ppid,
                             .cgroupid = f->cgroupid, .have_ids = true, .pidfd = pidfd };
        memcpy(t->uid, f->uid, sizeof(t->uid));
        memcpy(t->gid, f->gid, sizeof(t->gid));
}

static int thread_pin_by_info(peer_thread *t) {
        _cleanup_close_ int fd = pidfd_open(t->tid, PIDFD_THREAD);
        if (fd < 0)
                return errno == ESRCH ? -ESRCH : 0;
        pidfd_facts f;
        int r = pidfd_facts_get(fd, &f);
        if (r == -EOPNOTSUPP)
                return 0;
        if (r < 0)
                return r;
        thread_from_facts(t, &f, TAKE_FD(fd));
        return 1;
}

void peer_thread_kept_drop(peer_thread_kept *k) {
        if (k->tid) {
                safe_close(k->pidfd);
                safe_close(k->cgroup_fd);
        }
        *k = (peer_thread_kept) { .pidfd = -EBADF, .cgroup_fd = -EBADF };
}

/*
 * The kept thread @k, when it is the one asked for as @t->tid and still
 * there: the kernel's answer about its pidfd (ESRCH once it exited, and
 * of that thread only) says so and gives the rest.  1 when @t was filled
 * from it; 0 when it is another id, or it exited (then @k is dropped).
 */
static int thread_pin_kept(peer_thread_kept *k, peer_thread *t) {
        pidfd_facts f;
        if (!k || !k->tid || k->tid != t->tid)
                return 0;
        if (pidfd_facts_get(k->pidfd, &f) < 0 || f.pid != k->tid) {
                peer_thread_kept_drop(k);
                return 0;
        }
        thread_from_facts(t, &f, k->pidfd);
        t->borrowed = true;
        t->cgroup_fd = &k->cgroup_fd;
        return 1;
}

int peer_resolve_threads(const peer *c, const pid_t *tids, size_t n, peer_thread_kept *kept, peer_thread *ret,
                         op_error *err) {
        _cleanup_free_ pid_t *procs = NULL;
        _cleanup_free_ int *alive = NULL;
        size_t n_procs = 0, found = 0;
        int r;

        for (size_t i = 0; i < n; i++)
                ret[i] = (peer_thread) { .tid = tids[i], .pidfd = -EBADF };
        for (size_t i = 0; i < n; i++)
                if (tids[i] == 0 || tids[i] == c->ns_pid) {
                        ret[i].host_tid = ret[i].host_tgid = c->cred.pid;
                        found++;
                }
        /* the peer in our pid namespace: a tid is ours too; whether its
         * process descends from the peer, in the pod, is checked below once
         * the thread is pinned, as for any */
        for (size_t i = 0; i < n && c->ns_level == 0; i++) {
                pid_t tgid;
                if (ret[i].host_tid != 0 || tids[i] <= 0)
                        continue;
                r = n == 1 ? thread_pin_kept(kept, &ret[i]) : 0;
                if (r == 0)
                        r = thread_pin_by_info(&ret[i]);
                if (r > 0)
                        found++;
                else if (r == 0 && proc_tgid(tids[i], &tgid) == 0) {
                        ret[i].host_tid = tids[i];
                        ret[i].host_tgid = tgid;
                        found++;
                }
        }
        /* else the peer and every descendant, then each one's threads by their id in the peer's namespace */
        if (found < n && c->ns_level > 0) {
                procs = malloc(sizeof(pid_t) * MAX_DESCENDANTS);
                if (!procs) {
                        r = op_error_set(err, -ENOMEM, ERR_SYSTEM, ENOMEM, "out of memory");
                        goto fail;
                }
                procs[n_procs++] = c->cred.pid;
                for (size_t head = 0; head < n_procs; head++)
                        proc_children(procs[head], procs, MAX_DESCENDANTS, &n_procs);
        }
        for (size_t p = 0; p < n_procs && found < n; p++) {
                char path[64];
                snprintf(path, sizeof(path), "/proc/%d/task", (int) procs[p]);
                _cleanup_(closedirp) DIR *d = opendir(path);
                if (!d)
                        continue; /* exited */
                struct dirent *de;
                while ((de = readdir(d)) && found < n) {
                        pid_t t = (pid_t) atoi(de->d_name), ns_tid;
                        if (t <= 0)
                                continue;
                        if (proc_task_nstid(procs[p], t, c->ns_level, &ns_tid) < 0)
                                continue;
                        for (size_t i = 0; i < n; i++)
                                if (ret[i].host_tid == 0 && tids[i] == ns_tid) {
                                        ret[i].host_tid = t;
                                        ret[i].host_tgid = procs[p];
                                        found++;
                                }
                }
        }

        alive = malloc(sizeof(int) * (n + 1));
        if (!alive) {
                r = op_error_set(err, -ENOMEM, ERR_SYSTEM, ENOMEM, "out of memory");
                goto fail;
        }
        for (size_t i = 0; i < n; i++) {
                peer_thread *t = &ret[i];
                if (t->host_tid == 0) {
                        pid_t tgid;
                        /* same pid namespace: a stranger's thread is told from a ghost */
                        if (c->ns_level == 0 && proc_tgid(t->tid, &tgid) == 0)
                                r = op_error_set(err, -EACCES, ERR_DENIED, EACCES,
                                              "tid %d is not a thread of the caller (pid %d) or of its descendants",
                                              (int) t->tid, (int) c->ns_pid);
                        else
                                r = op_error_set(err, -ESRCH, ERR_NOT_FOUND, ESRCH,
                                              "no thread %d among the caller's own processes (it may have exited)",
                                              (int) t->tid);
                        goto fail;
                }
                /* pin the thread (unless pinned above), then check what the number now refers to */
                if (t->pidfd < 0)
                        t->pidfd = pidfd_open(t->host_tid, PIDFD_THREAD);
                if (t->pidfd < 0 && errno == EINVAL && t->host_tid == t->host_tgid)
                        t->pidfd = pidfd_open(t->host_tid, 0); /* kernel without PIDFD_THREAD */
                if (t->pidfd < 0) {
                        r = errno == ESRCH ? op_error_set(err, -ESRCH, ERR_NOT_FOUND, ESRCH, "thread %d exited", (int) t->tid)
                                           : op_error_set(err, negative_errno(), ERR_SYSTEM, errno, "pidfd_open(%d): %m",
                                                       (int) t->host_tid);
                        goto fail;
                }
                r = thread_owned(c, t, err);
                if (r < 0)
                        goto fail;
                alive[i] = t->pidfd;
        }
        /* what was read was theirs: every thread, and the caller, still there */
        alive[n] = c->pidfd;
        if (!pidfds_alive(alive, n + 1)) {
                r = op_error_set(err, -ESRCH, ERR_NOT_FOUND, ESRCH, "the caller exited");
                for (size_t i = 0; i < n; i++)
                        if (!pidfd_alive(ret[i].pidfd)) {
                                op_error_set(err, -ESRCH, ERR_NOT_FOUND, ESRCH, "thread %d exited", (int) ret[i].tid);
                                break;
                        }
                goto fail;
        }
        /* one thread pinned through the kernel's answer: kept for the session's next request */
        if (kept && n == 1 && !ret[0].borrowed && ret[0].have_ids) {
                peer_thread_kept_drop(kept);
                *kept = (peer_thread_kept) { .tid = ret[0].host_tid, .pidfd = ret[0].pidfd, .cgroup_fd = -EBADF };
                ret[0].borrowed = true;
                ret[0].cgroup_fd = &kept->cgroup_fd;
        }
        return 0;
fail:
        peer_threads_done(ret, n);
        return r;
}

int peer_cgroup_open(const peer *c, int cgroup_fd, op_error *err) {
        if (cgroup_fd < 0)
                return op_error_set(err, -ENOMEDIUM, ERR_UNSUPPORTED, ENOMEDIUM,
                                 "the broker found no cgroup v2 mount on this node");
        const char *rel = c->cgroup[1] ? c->cgroup + 1 : ".";
        int fd = cgroup_open_beneath(cgroup_fd, rel);
        if (fd < 0)
                return op_error_set(err, fd, ERR_SYSTEM, -fd, "cannot open the caller's cgroup '%s': %s", c->cgroup,
                                 strerror(-fd));
        return fd;
}

int request_resolve_threads(request *req, const pid_t *tids, size_t n, peer_thread_kept *kept, peer_thread *ret,
                            op_error *err) {
        if (!req->has_peer)
                return op_error_set(err, -EACCES, ERR_DENIED, EACCES, "this request has no process to act for");
        return peer_resolve_threads(&req->peer, tids, n, kept, ret, err);
}

int request_cgroup_open(request *req, op_error *err) {
        if (!req->has_peer)
                return op_error_set(err, -EACCES, ERR_DENIED, EACCES, "this request has no process to act for");
        return peer_cgroup_open(&req->peer, req->b->cgroup_fd, err);
}
