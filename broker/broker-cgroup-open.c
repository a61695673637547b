/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-cgroup-open.c - opening a path strictly beneath a cgroup
 * directory: openat2(RESOLVE_STRICT), or an equally strict walk where
 * openat2() answers ENOSYS.  A leaf: the peer (its own cgroup) and
 * cgroup.move (its target) both use it.
 */
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "broker.h"

#define RESOLVE_STRICT (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)

static int mount_id(int fd, uint64_t *ret) {
        struct statx stx;
        if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_MNT_ID, &stx) < 0)
                return negative_errno();
        if (!(stx.stx_mask & STATX_MNT_ID))
                return -EOPNOTSUPP;
        *ret = stx.stx_mnt_id;
        return 0;
}

/*
 * RESOLVE_STRICT without openat2(): one component at a time from @dirfd, each
 * opened with O_NOFOLLOW (a symlink, magic or not, is never followed: ELOOP),
 * ".." refused outright (EXDEV; stricter than RESOLVE_BENEATH, which allows a
 * ".." that stays below), an absolute path refused (EXDEV), and every step
 * checked to stay on @dirfd's mount (EXDEV).  Each step is relative to the
 * descriptor of the last, so a concurrent rename cannot lead the walk out.
 */
static int open_beneath_walk(int dirfd, const char *path) {
        uint64_t root_mnt, mnt;
        int r = mount_id(dirfd, &root_mnt);
        if (r < 0)
                return r;
        if (path[0] == '/')
                return -EXDEV;
        _cleanup_close_ int cur = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
        if (cur < 0)
                return negative_errno();
        for (const char *p = path; *p;) {
                size_t l = strcspn(p, "/");
                char comp[NAME_MAX + 1];
                if (l > NAME_MAX)
                        return -ENAMETOOLONG;
                memcpy(comp, p, l);
                comp[l] = 0;
                p += l;
                p += strspn(p, "/");
                if (l == 0 || streq(comp, "."))
                        continue;
                if (streq(comp, ".."))
                        return -EXDEV;
                int fd = openat(cur, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0) {
                        struct stat st;
                        r = negative_errno();
                        if (r == -ENOTDIR && fstatat(cur, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
                                r = -ELOOP;
                        return r;
                }
                safe_close(cur);
                cur = fd;
                r = mount_id(cur, &mnt);
                if (r < 0)
                        return r;
                if (mnt != root_mnt)
                        return -EXDEV;
        }
        return TAKE_FD(cur);
}

int cgroup_open_beneath(int dirfd, const char *path) {
        struct open_how how = {
                .flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
                .resolve = RESOLVE_STRICT,
        };
        int fd = (int) syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
        if (fd >= 0)
                return fd;
        /* ENOSYS: a kernel before 5.6, or systemd's RestrictSUIDSGID=, whose filter
         * cannot read the mode inside struct open_how and so refuses every openat2() */
        return errno == ENOSYS ? open_beneath_walk(dirfd, path) : negative_errno();
}

/*
 * A target kept open for a session: the cgroup.threads of a threaded
 * cgroup it moved threads into, and that cgroup's id.  A threaded cgroup
 * stays threaded and keeps its place in the tree while it exists (cgroup
 * v2 cannot rename or move one); once removed, a write to its kept
 * cgroup.threads fails with ENODEV (kernfs), and the target is opened and
 * checked again by its path, where a cgroup made since under that name is
 * another one.
 */
cgroup_kept *cgroup_kept_find(cgroup_kept *k, size_t n, const char *target) {
        for (size_t i = 0; i < n; i++)
                if (k[i].target && streq(k[i].target, target))
                        return &k[i];
        return NULL;
}

void cgroup_kept_drop(cgroup_kept *e) {
        if (!e->target)
                return;
        free(e->target);
        safe_close(e->threads_fd);
        *e = (cgroup_kept) { .threads_fd = -EBADF };
}

void cgroup_kept_put(cgroup_kept *k, size_t n, unsigned *next, const char *target, int *threads_fd, uint64_t id) {
        cgroup_kept *e = cgroup_kept_find(k, n, target);
        char *t = strdup(target);
        if (!t || *threads_fd < 0 || !id) {
                free(t);
                return;
        }
        for (size_t i = 0; !e && i < n; i++)
                if (!k[i].target) /* an empty slot (one dropped after ENODEV), before evicting a live one */
                        e = &k[i];
        if (!e) {
                e = &k[*next % n];
                *next = (*next + 1) % n;
        }
        cgroup_kept_drop(e);
        *e = (cgroup_kept) { .target = t, .threads_fd = TAKE_FD(*threads_fd), .id = id };
}
