/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-cgroup-kept - the threaded cgroup.move targets a session keeps open
 * (broker-cgroup-open.c): a slot emptied after ENODEV is filled before a
 * live target is evicted.  Real descriptors (of /dev/null) stand for the
 * cgroup.threads files; their numbers say which are still open.
 */
#include <fcntl.h>
#include <unistd.h>

#include "broker.h"
#include "tap.h"
#include "unit-util.h"

static int open_null(void) {
        return open("/dev/null", O_RDONLY | O_CLOEXEC);
}

int main(void) {
        cgroup_kept k[2] = { { .threads_fd = -EBADF }, { .threads_fd = -EBADF } };
        unsigned next = 0;
        int fd = open_null();
        cgroup_kept_put(k, 2, &next, "a", &fd, 1);
        fd = open_null();
        cgroup_kept_put(k, 2, &next, "b", &fd, 2);
        tap_ok(cgroup_kept_find(k, 2, "a") && cgroup_kept_find(k, 2, "b"), "a and b are kept");
        /* b is removed (its read answered ENODEV): dropped, then opened again by its path and kept */
        cgroup_kept_drop(cgroup_kept_find(k, 2, "b"));
        fd = open_null();
        cgroup_kept_put(k, 2, &next, "b", &fd, 3);
        tap_ok(cgroup_kept_find(k, 2, "a") != NULL, "a, still live, is still kept");
        cgroup_kept *b = cgroup_kept_find(k, 2, "b");
        tap_ok(b && b->id == 3, "b is kept with its new id");
        int a_fd = cgroup_kept_find(k, 2, "a") ? cgroup_kept_find(k, 2, "a")->threads_fd : -1;
        tap_ok(a_fd >= 0 && fcntl(a_fd, F_GETFD) >= 0, "a's descriptor is open");
        cgroup_kept_drop(&k[0]);
        cgroup_kept_drop(&k[1]);
        return tap_done();
}
