/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-op-cgroup.c - cgroup.move: threads (cgroup v2 threaded mode) or a
 * whole process of the peer into a cgroup below the peer's own, e.g. QEMU's
 * non-vCPU threads into "housekeeping".
 *
 * parse args -> (policy, in the dispatcher) -> resolve and pin every
 * thread, all or nothing -> open the target component by component with
 * openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|RESOLVE_NO_XDEV) from the
 * peer's cgroup, creating what is missing when asked and allowed (or, for
 * a threaded target the session moved threads into before and that still
 * exists, its kept cgroup.threads) -> write each id -> read each thread's
 * cgroup back (its cgroup id, else its /proc cgroup file) and report per id.
 *
 * What the broker created is recorded in the session and removed as the
 * session ends, or, while threads remain in it, once it is empty.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <linux/magic.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/inotify.h>
#include <sys/syscall.h>
#include <syslog.h>

#include "broker-op.h"
#include "proc.h"

/* session_part_cgroup: c->part[SESSION_PART_cgroup] */
#define CGROUP_SESSION_KEPT 2 /* of SESSION_KEPT_FDS */
typedef struct cgroup_session {
        /* cgroups created for this session ("/a/b/housekeeping", as in /proc/PID/cgroup), parent before
         * child; removed (when empty) as the session ends */
        char *created[SESSION_MAX_CGROUPS];
        size_t n_created;
        uint64_t n_threads_moved;
        /* threaded targets kept open (broker-cgroup-open.c): their cgroup.threads and ids */
        cgroup_kept kept[CGROUP_SESSION_KEPT];
        unsigned kept_next;
} cgroup_session;

static cgroup_session *CS(const client *c) {
        return c->part[SESSION_PART_cgroup];
}

static int read_at(int dirfd, const char *name, char *buf, size_t size) {
        _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return negative_errno();
        ssize_t k = read(fd, buf, size - 1);
        if (k < 0)
                return negative_errno();
        buf[k] = 0;
        while (k > 0 && buf[k - 1] == '\n')
                buf[--k] = 0;
        return 0;
}

static int write_fd(int fd, const char *value) {
        size_t n = strlen(value);
        ssize_t k = write(fd, value, n);
        if (k < 0)
                return negative_errno();
        return (size_t) k == n ? 0 : -EIO;
}

static int write_at(int dirfd, const char *name, const char *value) {
        _cleanup_close_ int fd = openat(dirfd, name, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return negative_errno();
        return write_fd(fd, value);
}

/* "/pod/cgroup/TARGET" (the first @len bytes of @target), as /proc/PID/cgroup writes it */
static void target_path(const char *base, const char *target, size_t len, char *buf, size_t size) {
        snprintf(buf, size, "%s/%.*s", streq(base, "/") ? "" : base, (int) len, target);
}

/*
 * Record @rel ("/pod/x/y") in @c before it is created, and save the session:
 * a broker killed at any point after this knows about it (the next broker
 * removes it, or finds it never came to exist).  At most SESSION_MAX_CGROUPS
 * per session: beyond that creating is refused, never done unrecorded.
 */
static int record_intent(client *c, const char *rel, op_error *err) {
        if (CS(c)->n_created == SESSION_MAX_CGROUPS)
                return op_error_set(err, -EDQUOT, ERR_DENIED, EDQUOT,
                                 "cannot create cgroup '%s': the session already created %d cgroups, the most one "
                                 "session may (they are removed as it ends)",
                                 rel, SESSION_MAX_CGROUPS);
        char *s = strdup(rel);
        if (!s)
                return op_error_set(err, -ENOMEM, ERR_SYSTEM, ENOMEM, "out of memory");
        CS(c)->created[CS(c)->n_created++] = s;
        c->state_dirty = true;
        int r = state_save(c);
        if (r < 0) {
                free(CS(c)->created[--CS(c)->n_created]);
                return op_error_set(err, r, ERR_SYSTEM, -r,
                                 "cannot create cgroup '%s': the session's state cannot be saved first (%s)", rel,
                                 strerror(-r));
        }
        return 0;
}

/* It was not ours to remove after all (it existed, or was not created). */
static void record_drop(client *c, const char *rel) {
        if (CS(c)->n_created > 0 && streq(CS(c)->created[CS(c)->n_created - 1], rel)) {
                free(CS(c)->created[--CS(c)->n_created]);
                c->state_dirty = true;
                state_save(c); /* a crash now must not remove what someone else made */
        }
}

typedef struct walk_result {
        int fd;
        bool created;      /* the last component */
        size_t n_created;  /* components created */
} walk_result;

/*
 * Open @target below the peer's cgroup @base component by component,
 * creating missing ones when @create (as threaded cgroups when @threaded).
 */
static int walk(request *req, int base, const cgroup_move_args *a, bool threaded, walk_result *ret,
                op_error *err) {
        const peer *c = &req->peer;
        _cleanup_close_ int owned = -EBADF; /* cur once it is no longer @base, which stays the caller's */
        int cur = base;
        const char *t = a->target;
        char comp[256], rel[1024];

        *ret = (walk_result) { .fd = -EBADF };
        for (const char *p = t; *p;) {
                size_t l = strcspn(p, "/");
                snprintf(comp, sizeof(comp), "%.*s", (int) l, p);
                int fd = cgroup_open_beneath(cur, comp);
                bool created = false;
                if (fd == -ENOENT && a->create) {
                        /* intent, act, confirm: recorded and saved before it exists */
                        target_path(c->cgroup, t, p - t + l, rel, sizeof(rel));
                        int r = record_intent(req->c, rel, err);
                        if (r < 0)
                                return r;
                        created = mkdirat(cur, comp, 0755) == 0;
                        if (!created) {
                                int e = errno;
                                record_drop(req->c, rel);
                                if (e != EEXIST)
                                        return op_error_set(err, -e, ERR_SYSTEM, e,
                                                         "cannot create cgroup '%.*s' below '%s': %s",
                                                         (int) (p - t + l), t, c->cgroup, strerror(e));
                        }
                        fd = cgroup_open_beneath(cur, comp);
                }
                switch (fd) {
                case -ENOENT:
                        return op_error_set(err, -ENOENT, ERR_NOT_FOUND, ENOENT,
                                         "cgroup '%.*s' does not exist below the caller's cgroup '%s' (with "
                                         "\"create\": true the broker creates it, where the policy allows)",
                                         (int) (p - t + l), t, c->cgroup);
                case -ELOOP:
                        return op_error_set(err, -ELOOP, ERR_DENIED, ELOOP,
                                         "cgroup target '%s': '%s' is a symbolic link, which the broker never follows",
                                         t, comp);
                case -EXDEV:
                        return op_error_set(err, -EXDEV, ERR_DENIED, EXDEV,
                                         "cgroup target '%s': '%s' crosses into another mount, outside the cgroup tree",
                                         t, comp);
                case -ENOTDIR:
                        return op_error_set(err, -ENOTDIR, ERR_BAD_REQUEST, ENOTDIR,
                                         "cgroup target '%s': '%s' is not a directory", t, comp);
                default:
                        if (fd < 0)
                                return op_error_set(err, fd, ERR_SYSTEM, -fd, "cannot open cgroup '%s' below '%s': %s", t,
                                                 c->cgroup, strerror(-fd));
                }
                safe_close(owned);
                owned = cur = fd;
                struct statfs sf;
                if (fstatfs(cur, &sf) < 0 || sf.f_type != CGROUP2_SUPER_MAGIC)
                        return op_error_set(err, -EACCES, ERR_DENIED, EACCES,
                                         "cgroup target '%s': '%s' is not a cgroup v2 directory", t, comp);
                if (created) {
                        ret->n_created++;
                        if (threaded) {
                                int r = write_at(cur, "cgroup.type", "threaded");
                                if (r < 0)
                                        return op_error_set(err, r, ERR_SYSTEM, -r,
                                                         "cannot make the new cgroup '%s' threaded: %s (a controller "
                                                         "enabled in '%s' may not support threaded mode)",
                                                         rel, strerror(-r), c->cgroup);
                        }
                }
                ret->created = created;
                p += l;
                if (*p == '/')
                        p++;
        }
        if (owned < 0 && (owned = fcntl(base, F_DUPFD_CLOEXEC, 3)) < 0)
                return op_error_set(err, negative_errno(), ERR_SYSTEM, errno, "dup: %m");
        ret->fd = TAKE_FD(owned);
        return 0;
}

/* Give a created target its cpuset.cpus: enable cpuset down to it, then write. */
static int set_cpuset(request *req, int base, const cgroup_move_args *a, int target_fd, op_error *err) {
        char cpus[1024], comp[256];
        _cleanup_close_ int cur = fcntl(base, F_DUPFD_CLOEXEC, 3);
        if (cur < 0)
                return op_error_set(err, negative_errno(), ERR_SYSTEM, errno, "dup: %m");
        for (const char *p = a->target; *p;) {
                size_t l = strcspn(p, "/");
                int r = write_at(cur, "cgroup.subtree_control", "+cpuset");
                if (r < 0 && r != -EBUSY) /* EBUSY: already enabled with processes inside */
                        return op_error_set(err, r, ERR_SYSTEM, -r,
                                         "cannot enable the cpuset controller on the way to '%s': %s", a->target,
                                         strerror(-r));
                snprintf(comp, sizeof(comp), "%.*s", (int) l, p);
                int fd = cgroup_open_beneath(cur, comp);
                if (fd < 0)
                        return op_error_set(err, fd, ERR_SYSTEM, -fd, "cannot open cgroup '%s': %s", a->target,
                                         strerror(-fd));
                safe_close(cur);
                cur = fd;
                p += l;
                if (*p == '/')
                        p++;
        }
        int r = write_at(target_fd, "cpuset.cpus", cpu_mask_format(&a->cpus, cpus, sizeof(cpus)));
        if (r < 0)
                return op_error_set(err, r, ERR_SYSTEM, -r, "cannot set cpuset.cpus of '%s' to '%s': %s", a->target, cpus,
                                 strerror(-r));
        return 0;
}

typedef struct move_outcome {
        pid_t id;   /* as the client named it */
        bool moved;
        char cgroup[512];
        int errno_value;
        char error[256];
} move_outcome;

/*
 * The pid number written to cgroup.procs named our pinned process only if
 * that process still held it after the write (a pid is not reused before
 * its process is reaped).  When it did not, a new process may have got the
 * number in between and been moved: a process now in @want that started
 * no earlier than ours is put back where a new process starts, in its
 * parent's cgroup, and the broker says so.  Start times count clock ticks
 * (10 ms): a process forked in the same tick as ours has the same one, and
 * since ours had exited when the number was read again, the process holding
 * it now is another one even then, unless it is ours not yet reaped (a
 * zombie).  An earlier start (impossible while ours held the number) is
 * left alone too.
 */
static void move_undo_stranger(broker *b, pid_t host, uint64_t started, const char *want) {
        _cleanup_free_ char *now = NULL, *back = NULL;
        uint64_t t;
        pid_t parent;
        /* our process exited (its pidfd says so): while it is a zombie the number is still
         * its own; once reaped, whoever has it is a stranger, even one started in the same tick */
        if (proc_cgroup(host, &now) < 0 || !streq(now, want) || proc_starttime(host, &t) < 0 || t < started ||
            (t == started && proc_is_zombie(host)) || proc_ppid(host, &parent) < 0 || proc_cgroup(parent, &back) < 0)
                return;
        char num[32];
        snprintf(num, sizeof(num), "%d", (int) host);
        _cleanup_close_ int dir = streq(back, "/") ? fcntl(b->cgroup_fd, F_DUPFD_CLOEXEC, 3)
                                                   : cgroup_open_beneath(b->cgroup_fd, back + 1);
        int r = dir < 0 ? dir : write_at(dir, "cgroup.procs", num);
        log_msg(b, r < 0 ? LOG_ERR : LOG_WARNING, "cgroup.move: pid %d was reused while it was moved; the new "
                "process was moved into %s and %s its parent's cgroup %s%s%s", (int) host, want,
                r < 0 ? "could not be put back into" : "was put back into", back, r < 0 ? ": " : "",
                r < 0 ? strerror(-r) : "");
}

/*
 * Where is thread @host (of @tgid, pinned by @pidfd) now?  Where the kernel
 * answers PIDFD_GET_INFO, its cgroup id, of the pinned thread itself: the
 * target's (@want_id, its directory's inode number) means it is in @want (a
 * live cgroup v2 keeps its path: it cannot be renamed, and ids are not
 * reused), any other id is looked up in the thread's cgroup file.  Else
 * that file, trusted only while the thread is still the one pinned.
 */
static int moved_where(pid_t tgid, pid_t host, int pidfd, uint64_t want_id, const char *want, char **ret) {
        pidfd_facts f;
        int r = want_id ? pidfd_facts_get(pidfd, &f) : -EOPNOTSUPP;
        if (r < 0 && r != -EOPNOTSUPP)
                return r;
        if (r >= 0 && f.cgroupid == want_id) {
                *ret = strdup(want);
                return *ret ? 0 : -ENOMEM;
        }
        r = tgid == host ? proc_cgroup(host, ret) : proc_task_cgroup(tgid, host, ret);
        if (r < 0 || !pidfd_alive(pidfd))
                return r < 0 ? r : -ESRCH;
        return 0;
}

/* Move @host into the target: @file of @target_fd, or @file_fd (that file, open) when >= 0. */
static void move_one(broker *b, int target_fd, int file_fd, const char *file, pid_t tgid, pid_t host, int pidfd,
                     uint64_t want_id, const char *want, move_outcome *o) {
        char num[32];
        _cleanup_free_ char *now = NULL;
        uint64_t started = 0;
        bool whole = streq(file, "cgroup.procs");
        /* the start time while the pidfd says the number is still ours */
        if (whole && (proc_starttime(host, &started) < 0 || !pidfd_alive(pidfd))) {
                o->errno_value = ESRCH;
                snprintf(o->error, sizeof(o->error), "exited during the move");
                return;
        }
        snprintf(num, sizeof(num), "%d", (int) host);
        int r = file_fd >= 0 ? write_fd(file_fd, num) : write_at(target_fd, file, num);
        if (r < 0) {
                o->errno_value = -r;
                snprintf(o->error, sizeof(o->error), "writing %s failed: %s", file, strerror(-r));
        }
        if (whole && r == 0 && !pidfd_alive(pidfd)) {
                move_undo_stranger(b, host, started, want);
                o->errno_value = ESRCH;
                snprintf(o->error, sizeof(o->error), "exited during the move");
                return;
        }
        /* read back, of the thread we pinned */
        if (moved_where(tgid, host, pidfd, whole ? 0 : want_id, want, &now) < 0) {
                o->errno_value = ESRCH;
                snprintf(o->error, sizeof(o->error), "exited during the move");
                return;
        }
        snprintf(o->cgroup, sizeof(o->cgroup), "%s", now);
        o->moved = r == 0 && streq(now, want);
        if (r == 0 && !o->moved) {
                o->errno_value = EIO;
                snprintf(o->error, sizeof(o->error), "the kernel accepted the write, but it is in '%s'", now);
        }
}

static void cgroup_move(request *req, void *args, const policy_decision *d) {
        client *c = req->c;
        const cgroup_move_args a = *(const cgroup_move_args *) args; /* tids stay the request's */
        op_error err;
        char want[1024], type[64];
        int r;

        size_t n = a.by_pid ? 1 : a.n_tids;
        _cleanup_free_ peer_thread *th = calloc(n, sizeof(peer_thread));
        _cleanup_free_ move_outcome *out = calloc(n, sizeof(move_outcome));
        _cleanup_close_ int base = -EBADF, pidfd = -EBADF, threads_fd = -EBADF;
        walk_result w = { .fd = -EBADF };
        pid_t host = 0;
        uint64_t want_id = 0;
        /* declared before the first goto: cleanups run on every path */
        _cleanup_json_gen_ json_gen *g = NULL;

        if (!th || !out)
                return request_reply_error(req, ERR_SYSTEM, ENOMEM, NULL, "out of memory");
        if (a.create && !c)
                return request_reply_error(req, ERR_BAD_REQUEST, EINVAL, NULL,
                                           "\"create\" needs a session: the broker removes the cgroups it creates "
                                           "when their session ends (act for a session, or create '%s' beforehand)",
                                           a.target);
        if (a.by_pid) {
                r = request_resolve_target(req, a.pid, &host, &pidfd, &err);
                if (r < 0)
                        return request_fail(req, &err);
        } else {
                r = request_resolve_threads(req, a.tids, a.n_tids, NULL, th, &err);
                if (r < 0)
                        return request_fail(req, &err);
        }

        /* a threaded target this session moved threads into, still there: no walk, no type to read */
        target_path(req->peer.cgroup, a.target, strlen(a.target), want, sizeof(want));
        cgroup_kept *k = c && !a.by_pid && !a.has_cpus ? cgroup_kept_find(CS(c)->kept, CGROUP_SESSION_KEPT, a.target)
                                                       : NULL;
        if (k) {
                for (size_t i = 0; i < n; i++) {
                        out[i].id = th[i].tid;
                        move_one(req->b, -EBADF, k->threads_fd, "cgroup.threads", th[i].host_tgid, th[i].host_tid,
                                 th[i].pidfd, k->id, want, &out[i]);
                        if (i == 0 && out[0].errno_value == ENODEV) {
                                /* removed since: open and check it again by its path */
                                cgroup_kept_drop(k);
                                k = NULL;
                                out[0] = (move_outcome) {};
                                break;
                        }
                }
        }
        if (k) {
                want_id = k->id;
                snprintf(type, sizeof(type), "threaded");
                goto acted;
        }

        base = request_cgroup_open(req, &err);
        if (base < 0)
                goto fail;
        if (a.has_cpus) {
                /* refuse before anything is created */
                char ctl[512] = "";
                r = read_at(base, "cgroup.controllers", ctl, sizeof(ctl));
                bool have = false;
                for (char *tok = ctl, *save = NULL; (tok = strtok_r(tok, " ", &save)); tok = NULL)
                        have = have || streq(tok, "cpuset");
                if (!have) {
                        request_reply_error(req, ERR_UNSUPPORTED, EOPNOTSUPP, NULL,
                                            "the cgroup v2 cpuset controller is not available below '%s' "
                                            "(cgroup.controllers: '%s'), so \"cpus\" cannot be applied on this node",
                                            req->peer.cgroup, r < 0 ? "unreadable" : ctl);
                        goto done;
                }
        }
        r = walk(req, base, &a, !a.by_pid, &w, &err);
        if (r < 0)
                goto fail;
        r = read_at(w.fd, "cgroup.type", type, sizeof(type));
        if (r < 0) {
                op_error_set(&err, r, ERR_SYSTEM, -r, "cannot read cgroup.type of '%s': %s", a.target, strerror(-r));
                goto fail;
        }
        if (!a.by_pid && !streq(type, "threaded")) {
                op_error_set(&err, -EINVAL, ERR_BAD_REQUEST, EINVAL,
                          "cgroup '%s' is a %s cgroup: threads move only into a threaded cgroup (let the broker "
                          "create it with \"create\": true, or move the whole process with \"pid\")",
                          a.target, type);
                goto fail;
        }
        if (a.by_pid && !streq(type, "domain") && !streq(type, "domain threaded")) {
                op_error_set(&err, -EINVAL, ERR_BAD_REQUEST, EINVAL,
                          "cgroup '%s' is a %s cgroup: a whole process moves only into a domain cgroup (use \"tids\" "
                          "for threads)",
                          a.target, type);
                goto fail;
        }
        if (a.has_cpus) {
                if (!w.created) {
                        op_error_set(&err, -EEXIST, ERR_EXISTS, EEXIST,
                                  "cgroup '%s' already exists; \"cpus\" is applied only to a target the broker "
                                  "creates",
                                  a.target);
                        goto fail;
                }
                r = set_cpuset(req, base, &a, w.fd, &err);
                if (r < 0)
                        goto fail;
        }

        /* act: every id, each reported */
        struct stat st;
        want_id = fstat(w.fd, &st) == 0 ? (uint64_t) st.st_ino : 0;
        if (!a.by_pid)
                threads_fd = openat(w.fd, "cgroup.threads", O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
        for (size_t i = 0; i < n; i++) {
                if (a.by_pid) {
                        out[i].id = a.pid;
                        move_one(req->b, w.fd, -EBADF, "cgroup.procs", host, host, pidfd, 0, want, &out[i]);
                } else {
                        out[i].id = th[i].tid;
                        move_one(req->b, w.fd, threads_fd, "cgroup.threads", th[i].host_tgid, th[i].host_tid,
                                 th[i].pidfd, want_id, want, &out[i]);
                }
        }
        /* kept for the session's next moves into it */
        if (c && !a.by_pid)
                cgroup_kept_put(CS(c)->kept, CGROUP_SESSION_KEPT, &CS(c)->kept_next, a.target, &threads_fd, want_id);
acted:;
        size_t moved = 0;
        for (size_t i = 0; i < n; i++)
                moved += out[i].moved;
        /* opened beneath the pod's cgroup: a thread found there later needs no path read (broker-peer.c) */
        if (moved && !a.by_pid)
                peer_pod_cgroup_known(&req->peer, want_id);
        if (c)
                CS(c)->n_threads_moved += moved;
        /* what the kernel now says, in the request's one audit record (delegate-broker(8)) */
        request_reason_append(req, "; moved %zu of %zu %s to cgroup %s", moved, n, a.by_pid ? "process" : "threads",
                              want);

        g = json_gen_new();
        if (!g) {
                request_reply_error(req, ERR_SYSTEM, ENOMEM, NULL, "out of memory");
                goto done;
        }
        json_gen_map_open(g);
        json_gen_kv_str(g, "target", a.target);
        json_gen_kv_str(g, "cgroup", want);
        json_gen_kv_str(g, "type", type);
        json_gen_kv_bool(g, "created", w.created);
        json_gen_kv_u64(g, "moved", moved);
        json_gen_kv_u64(g, "failed", n - moved);
        json_gen_str(g, a.by_pid ? "processes" : "threads");
        json_gen_array_open(g);
        for (size_t i = 0; i < n; i++) {
                json_gen_map_open(g);
                json_gen_kv_i64(g, a.by_pid ? "pid" : "tid", out[i].id);
                json_gen_kv_bool(g, "moved", out[i].moved);
                if (out[i].cgroup[0])
                        json_gen_kv_str(g, "cgroup", out[i].cgroup);
                if (!out[i].moved) {
                        json_gen_kv_i64(g, "errno", out[i].errno_value);
                        json_gen_kv_str(g, "error", out[i].error);
                }
                json_gen_map_close(g);
        }
        json_gen_array_close(g);
        json_gen_map_close(g);
        (void) request_reply_gen(req, g, NULL, 0);
        goto done;
fail:
        request_fail(req, &err);
done:
        safe_close(w.fd);
        if (!a.by_pid)
                peer_threads_done(th, n);
        (void) d;
}

/*
 * Removing what a session created.  A created cgroup may still hold threads
 * when the session ends: a launcher killed with SIGKILL closes its
 * connection before its QEMU, killed by PR_SET_PDEATHSIG, has exited.  Such
 * a cgroup (and the ones above it that the session created) is removed once
 * it is empty: an inotify watch on its cgroup.events, which the kernel
 * modifies when "populated" changes.  At most BROKER_MAX_REAPS wait at once;
 * a broker that stops leaves the waiting ones (and logs them).
 */
struct cgroup_reap {
        broker *b;
        uint64_t session;
        char *paths[SESSION_MAX_CGROUPS]; /* in removal order: deepest first */
        size_t n, next;
        sd_event_source *watch; /* on paths[watching]'s cgroup.events */
        size_t watching;
        cgroup_reap *prev, *nx;
};

/* rmdir of the created cgroup @path ("/a/b/name"): 0 (also when already gone) or -errno */
static int remove_created(broker *b, const char *path) {
        const char *slash = strrchr(path, '/');
        _cleanup_close_ int parent = -EBADF;
        if (!slash)
                return -EINVAL;
        if (slash > path) {
                _cleanup_free_ char *dir = strndup(path + 1, slash - path - 1);
                if (!dir)
                        return -ENOMEM;
                parent = cgroup_open_beneath(b->cgroup_fd, dir);
        } else
                parent = fcntl(b->cgroup_fd, F_DUPFD_CLOEXEC, 3);
        if (parent < 0)
                return parent == -ENOENT ? 0 : parent; /* the pod was removed */
        if (unlinkat(parent, slash + 1, AT_REMOVEDIR) < 0)
                return errno == ENOENT ? 0 : negative_errno();
        return 0;
}

static void reap_free(cgroup_reap *r) {
        if (!r)
                return;
        broker *b = r->b;
        if (r->prev)
                r->prev->nx = r->nx;
        else
                b->reaps = r->nx;
        if (r->nx)
                r->nx->prev = r->prev;
        b->n_reaps--;
        sd_event_source_disable_unref(r->watch);
        for (size_t i = 0; i < r->n; i++)
                free(r->paths[i]);
        free(r);
}

static int on_reap_event(sd_event_source *s, const struct inotify_event *ev, void *userdata);

/* Watch paths[i]'s cgroup.events (replacing an older watch). */
static int reap_watch(cgroup_reap *r, size_t i) {
        _cleanup_close_ int dir = cgroup_open_beneath(r->b->cgroup_fd, r->paths[i] + 1);
        if (dir < 0)
                return dir;
        _cleanup_close_ int ev = openat(dir, "cgroup.events", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (ev < 0)
                return negative_errno();
        r->watch = sd_event_source_disable_unref(r->watch);
        int k = sd_event_add_inotify_fd(r->b->event, &r->watch, ev, IN_MODIFY, on_reap_event, r);
        if (k < 0)
                return k;
        r->watching = i;
        return 0;
}

/* Remove what can be removed now; true when nothing is left to wait for. */
static bool reap_try(cgroup_reap *r) {
        broker *b = r->b;
        while (r->next < r->n) {
                const char *path = r->paths[r->next];
                int k = remove_created(b, path);
                if (k == -EBUSY && !(r->watch && r->watching == r->next)) {
                        int w = reap_watch(r, r->next);
                        if (w >= 0)
                                continue; /* once more: it may have emptied before the watch */
                        k = w;
                }
                if (k == -EBUSY)
                        return false; /* the watch tells when it empties */
                if (k < 0)
                        log_msg(b, LOG_WARNING, "session %llu: cannot remove cgroup %s it created: %s",
                                (unsigned long long) r->session, path, strerror(-k));
                else
                        log_msg(b, LOG_INFO, "session %llu: removed cgroup %s", (unsigned long long) r->session, path);
                r->next++;
        }
        return true;
}

static int on_reap_event(sd_event_source *s, const struct inotify_event *ev, void *userdata) {
        cgroup_reap *r = userdata;
        if (reap_try(r))
                reap_free(r);
        return 0;
}

void cgroup_reap_all_free(broker *b) {
        while (b->reaps) {
                cgroup_reap *r = b->reaps;
                for (size_t i = r->next; i < r->n; i++)
                        log_msg(b, LOG_WARNING, "session %llu: cgroup %s it created is still in use; left behind",
                                (unsigned long long) r->session, r->paths[i]);
                reap_free(r);
        }
}

/* Take the session's created cgroups, deepest first, and remove them now or once empty. */
static void reap_start(client *c) {
        broker *b = c->b;
        bool running = sd_event_get_state(b->event) != SD_EVENT_FINISHED;
        cgroup_reap *r = NULL;
        if (running && b->n_reaps < BROKER_MAX_REAPS)
                r = calloc(1, sizeof(*r));
        if (r) {
                *r = (cgroup_reap) { .b = b, .session = c->session, .nx = b->reaps };
                if (b->reaps)
                        b->reaps->prev = r;
                b->reaps = r;
                b->n_reaps++;
        }
        /* they were recorded parent before child */
        for (size_t i = CS(c)->n_created; i-- > 0;) {
                char *path = TAKE_PTR(CS(c)->created[i]);
                if (r) {
                        r->paths[r->n++] = path;
                        continue;
                }
                int k = remove_created(b, path); /* stopping, or too many waiting: now or never */
                if (k < 0)
                        log_msg(b, LOG_WARNING, "session %llu: cannot remove cgroup %s it created: %s",
                                (unsigned long long) c->session, path, strerror(-k));
                else
                        log_msg(b, LOG_INFO, "session %llu: removed cgroup %s", (unsigned long long) c->session, path);
                free(path);
        }
        CS(c)->n_created = 0;
        if (r && reap_try(r))
                reap_free(r);
        else if (r)
                log_msg(b, LOG_INFO, "session %llu: cgroup %s still holds threads; removing it once empty",
                        (unsigned long long) r->session, r->paths[r->next]);
}

void cgroup_session_end(client *c) {
        reap_start(c);
}

static const broker_bus_method cgroup_bus = {
        .member = "MoveThreads",
        .signature = "ss",
        .result = "s",
        .names = "session\0args_json\0result_json\0",
};

const broker_op bop_cgroup_move = { .op = &op_cgroup_move, .act = cgroup_move, .bus = &cgroup_bus };

/* --- what a session holds --- */

static size_t cgroups_count(const client *c) {
        return CS(c)->n_created;
}

static void cgroups_state(const client *c, json_gen *g) {
        json_gen_array_open(g);
        for (size_t i = 0; i < CS(c)->n_created; i++)
                json_gen_str(g, CS(c)->created[i]);
        json_gen_array_close(g);
}

/* Created cgroups are removed where empty; a revoked VM's threads still in
 * one keep it (logged), as at any session end. */
static int cgroups_revoke(client *c) {
        int n = (int) CS(c)->n_created;
        cgroup_session_end(c);
        return n;
}

static size_t threads_count(const client *c) {
        return CS(c)->n_threads_moved;
}

static void threads_state(const client *c, json_gen *g) {
        json_gen_i64(g, (int64_t) CS(c)->n_threads_moved);
}

static void release(client *c) {
        for (size_t i = 0; i < CS(c)->n_created; i++)
                free(CS(c)->created[i]);
        CS(c)->n_created = 0;
        for (size_t i = 0; i < CGROUP_SESSION_KEPT; i++)
                cgroup_kept_drop(&CS(c)->kept[i]);
}

static void save(const client *c, json_gen *g) {
        json_gen_kv_u64(g, "threads_moved", CS(c)->n_threads_moved);
        json_gen_str(g, "cgroups_created");
        cgroups_state(c, g);
}

/* A cgroup the session created: strictly below its pod cgroup, as a target would name it. */
static bool created_cgroup_valid(const char *p, const char *pod) {
        char msg[128];
        size_t n = strlen(pod);
        return strlen(p) < STATE_MAX_PATH && !strncmp(p, pod, n) && p[n] == '/' &&
               cgroup_target_check(p + n + 1, false, msg, sizeof(msg)) == 0;
}

static void restore(client *c, const json_value *st, state_check *ck) {
        cgroup_session *s = CS(c);
        s->n_threads_moved = state_get_u64(ck, st, "threads_moved", 0, UINT64_MAX, false);
        const json_value *a = state_get_array(ck, st, "cgroups_created", SESSION_MAX_CGROUPS);
        for (size_t i = 0; a && i < a->array.n; i++) {
                const json_value *p = a->array.items[i];
                if (!json_is_string(p) || !c->cgroup || !created_cgroup_valid(p->string.str, c->cgroup)) {
                        state_bad(ck, "cgroups_created[%zu] is not a cgroup below the session's pod cgroup", i);
                        continue;
                }
                char *dup = strdup(p->string.str);
                if (dup)
                        s->created[s->n_created++] = dup;
        }
}

/* Cgroups below the pod cgroup are removed only when a rule lets that pod's launchers create cgroups. */
static void salvage(client *c, const policy_rule *rule) {
        if (rule && rule->cgroup.present && rule->cgroup.create)
                return;
        if (CS(c)->n_created > 0)
                log_msg(c->b, LOG_WARNING, "rejected session %" PRIu64 ": no rule lets pod '%s' create cgroups; its "
                        "%zu cgroup(s) are left alone", c->session, c->cgroup ? c->cgroup : "(invalid)",
                        CS(c)->n_created);
        release(c);
}

/* Moved threads have nothing left to undo that would not break the running VM. */
static const session_hook hooks[] = {
        { "cgroups_created", cgroups_count, cgroups_state, cgroups_revoke },
        { "threads_moved", threads_count, threads_state, NULL },
};

const session_part session_part_cgroup = {
        .slot = SESSION_PART_cgroup,
        .size = sizeof(cgroup_session),
        .hooks = hooks,
        .n_hooks = ELEMENTSOF(hooks),
        .end = cgroup_session_end,
        .release = release,
        .save = save,
        .restore = restore,
        .salvage = salvage,
};
