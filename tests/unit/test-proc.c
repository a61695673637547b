/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-proc.c - the /proc parsers (common/proc.c): on texts in the
 * kernel's formats, edge cases included, and the readers against what the
 * kernel says through other means (getpid(), getrlimit(), a sscanf of
 * /proc/self/stat written here).
 */
#include <inttypes.h>
#include <stdio.h>
#include <sys/resource.h>

#include "proc.h"
#include "tap.h"
#include "unit-util.h"
#include "util.h"

static void test_cgroup(void) {
        static const struct {
                const char *file, *what;
                int ret;
                const char *path;
        } cases[] = {
                { "12:cpu,cpuacct:/system.slice\n1:name=systemd:/init.scope\n0::/kubepods.slice/pod-a\n",
                  "hybrid cgroup file: the 0:: line, without its newline", 0, "/kubepods.slice/pod-a" },
                { "0::/pod-a/vcpu0 (deleted)", "a last line without a newline; a removed cgroup keeps its suffix", 0,
                  "/pod-a/vcpu0 (deleted)" },
                { "0::/../../other-pod\n", "'/../..' (outside our cgroup namespace): -EXDEV", -EXDEV, NULL },
                { "0::/..", "'/..' alone: -EXDEV", -EXDEV, NULL },
                { "0::/..pod\n", "'/..pod' is a name, not a parent", 0, "/..pod" },
                { "12:cpu,cpuacct:/a\n", "v1 only: -ENOMEDIUM", -ENOMEDIUM, NULL },
                { "", "empty file: -ENOMEDIUM", -ENOMEDIUM, NULL },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char buf[256], *path = NULL;
                snprintf(buf, sizeof(buf), "%s", cases[i].file);
                int r = proc_cgroup_parse(buf, &path);
                tap_ok(r == cases[i].ret && (cases[i].path ? path && streq(path, cases[i].path) : !path), "%s",
                       cases[i].what);
                if (r != cases[i].ret || (cases[i].path && (!path || !streq(path, cases[i].path))))
                        tap_diag("  got %d, '%s'", r, path ? path : "(untouched)");
                free(path);
        }

        char v1[] = "13:cpuset:/x\n12:cpu,cpuacct:/kube/pod\n0::/p\n";
        tap_is_str(proc_cgroup_v1_path(v1, "cpu"), "/kube/pod", "v1 cpu hierarchy: 'cpu' among 'cpu,cpuacct'");
        char v1b[] = "12:cpuacct:/kube/pod\n";
        tap_ok(proc_cgroup_v1_path(v1b, "cpu") == NULL, "'cpuacct' alone is not 'cpu'");
}

static void test_status(void) {
        const char *status = "Name:\tqemu\nUmask:\t0022\nTgid:\t812\nPPid:\t1\n"
                             "Uid:\t1000\t1001\t1002\t1003\nGid:\t2000\t2001\t2002\t2003\nNSpid:\t812\t45\t1\n";
        char v[64];
        tap_is_int(proc_status_field(status, "PPid", v, sizeof(v)), 0, "status: PPid found");
        tap_is_str(v, "\t1", "  its value, tab included, without the newline");
        tap_is_int(proc_status_field(status, "Pid", v, sizeof(v)), -ENODATA, "'Pid' is not 'PPid' nor 'NSpid'");
        char tiny[4];
        tap_is_int(proc_status_field(status, "Name", tiny, sizeof(tiny)), 0, "a value longer than the room");
        tap_is_str(tiny, "\tqe", "  is cut at the room");

        proc_creds c;
        tap_is_int(proc_creds_parse(status, &c), 0, "Uid/Gid parse");
        tap_ok(c.uid[0] == 1000 && c.uid[1] == 1001 && c.uid[2] == 1002, "  real, effective, saved uid");
        tap_ok(c.gid[0] == 2000 && c.gid[1] == 2001 && c.gid[2] == 2002, "  real, effective, saved gid");
        tap_is_int(proc_creds_parse("Uid:\t1\t2\nGid:\t1\t2\t3\t4\n", &c), -EINVAL, "two uids: -EINVAL");
        tap_is_int(proc_creds_parse("Uid:\t1\t2\t3\t4\n", &c), -ENODATA, "no Gid line: -ENODATA");

        pid_t ns[PROC_MAX_NSPID];
        size_t n = 0;
        tap_is_int(proc_nspid_parse("\t812\t45\t1", ns, PROC_MAX_NSPID, &n), 0, "NSpid of a nested pid namespace");
        tap_ok(n == 3 && ns[0] == 812 && ns[1] == 45 && ns[2] == 1, "  812 45 1, outermost first");
        tap_is_int(proc_nspid_parse("\t812\t45\t1", ns, 2, &n), 0, "room for 2 of 3");
        tap_is_int(n, 2, "  two kept");
        tap_is_int(proc_nspid_parse("\t-1", ns, PROC_MAX_NSPID, &n), -ESRCH, "a pidfd's exited process (-1): -ESRCH");
        tap_is_int(proc_nspid_parse("\t", ns, PROC_MAX_NSPID, &n), -ENODATA, "no ids: -ENODATA");
        tap_is_int(proc_nspid_parse("\t12x", ns, PROC_MAX_NSPID, &n), -EINVAL, "garbage: -EINVAL");
        /* as a pid_t, 4294967297 would be pid 1 (found by fuzz-proc) */
        ns[0] = 77;
        tap_is_int(proc_nspid_parse("\t4294967297", ns, PROC_MAX_NSPID, &n), -EINVAL, "an id above INT_MAX: -EINVAL");
        tap_is_int(ns[0], 77, "  ret untouched");
        tap_is_int(proc_creds_parse("Uid:\t4294968296\t0\t0\nGid:\t0\t0\t0\n", &c), -EINVAL,
                   "a uid above UINT32_MAX (it would read as 1000): -EINVAL");

        long ids[2];
        tap_is_int(proc_ids_parse(" 5\t6 7 ", ids, 2, &n), 0, "ids: spaces and tabs");
        tap_ok(n == 2 && ids[0] == 5 && ids[1] == 6, "  the first two kept");
}

static void test_stat(void) {
        /* a command name holding ") S (" must not shift the fields */
        char stat[] = "4242 (a) S (b)) R 1 4242 4242 0 -1 4194560 10 0 0 0 0 0 0 0 20 0 1 0 987654321 1000 100\n";
        char *f;
        uint64_t t = 0;
        tap_is_int(proc_stat_fields(stat, &f), 0, "stat: fields after the last ')'");
        tap_ok(f[0] == ' ' && f[1] == 'R', "  field 3 is the state 'R'");
        tap_is_int(proc_stat_starttime(f, &t), 0, "start time found");
        tap_ok(t == 987654321, "  field 22: 987654321 (got %" PRIu64 ")", t);
        char cut[] = "4242 (a) S 1 4242 4242 0 -1 4194560 10";
        tap_is_int(proc_stat_fields(cut, &f), 0, "a stat cut before field 22");
        tap_is_int(proc_stat_starttime(f, &t), -EIO, "  -EIO");
        char noparen[] = "4242 a S 1";
        tap_is_int(proc_stat_fields(noparen, &f), -EIO, "no ')': -EIO");
}

static void test_limits(void) {
        const char *limits = "Limit                     Soft Limit           Hard Limit           Units     \n"
                             "Max locked memory         8388608              unlimited            bytes     \n"
                             "Max realtime timeout      200000               400000               us        \n";
        uint64_t soft = 0, hard = 0;
        tap_is_int(proc_limits_parse(limits, "Max locked memory", &soft, &hard), 0, "limits: memlock");
        tap_ok(soft == 8388608 && hard == UINT64_MAX, "  8388608 / unlimited");
        tap_is_int(proc_limits_parse(limits, "Max realtime timeout", &soft, &hard), 0, "limits: rttime");
        tap_ok(soft == 200000 && hard == 400000, "  200000 / 400000");
        tap_is_int(proc_limits_parse(limits, "Max processes", &soft, &hard), -ENODATA, "absent line: -ENODATA");
        tap_is_int(proc_limits_parse("\nMax locked memory  x y\n", "Max locked memory", &soft, &hard), -EINVAL,
                   "not a number: -EINVAL");
}

static void test_children_mountinfo(void) {
        pid_t list[3] = {};
        size_t n = 1;
        proc_children_parse("812 813 1024 2048\n", list, 3, &n);
        tap_is_int(n, 3, "children appended up to the room");
        tap_ok(list[1] == 812 && list[2] == 813, "  after what the list held");

        char root[256], mnt[256];
        const char *v2 = "35 25 0:30 / /sys/fs/cgroup/unified rw,nosuid,nodev - cgroup2 cgroup2 rw,nsdelegate\n";
        tap_is_int(proc_mountinfo_cgroup(v2, NULL, root, sizeof(root), mnt, sizeof(mnt)), 0, "mountinfo: cgroup2");
        tap_is_str(mnt, "/sys/fs/cgroup/unified", "  its mount point");
        tap_is_str(root, "/", "  its root");
        tap_is_int(proc_mountinfo_cgroup(v2, "cpu", root, sizeof(root), mnt, sizeof(mnt)), -ENOENT,
                   "  not the v1 cpu hierarchy");
        const char *v1 = "40 25 0:35 /kube\\040pods /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n";
        tap_is_int(proc_mountinfo_cgroup(v1, "cpu", root, sizeof(root), mnt, sizeof(mnt)), 0, "v1 cpu hierarchy");
        tap_is_str(root, "/kube pods", "  \\040 unescaped to a space");
        tap_is_str(mnt, "/sys/fs/cgroup/cpu,cpuacct", "  its mount point");
        const char *opt = "36 25 0:31 / /sys/fs/cgroup/unified rw shared:9 master:2 - cgroup2 none rw\n";
        tap_is_int(proc_mountinfo_cgroup(opt, NULL, root, sizeof(root), mnt, sizeof(mnt)), 0,
                   "optional fields before ' - '");

        int64_t v;
        tap_is_int(proc_i64_parse("-1\n", &v), 0, "sysctl -1 (unlimited RT)");
        tap_is_int(v, -1, "  -1");
        tap_is_int(proc_i64_parse("\n", &v), -EBADMSG, "empty: -EBADMSG");
}

/* The readers on this process, against the kernel's own answers. */
static void test_self(void) {
        pid_t ns[PROC_MAX_NSPID];
        size_t n;
        tap_is_int(proc_nspid(getpid(), ns, PROC_MAX_NSPID, &n), 0, "proc_nspid(self)");
        tap_ok(n >= 1 && ns[0] == getpid(), "  outermost id is getpid()");

        proc_creds c;
        tap_is_int(proc_creds_read(getpid(), &c), 0, "proc_creds_read(self)");
        tap_ok(c.uid[0] == getuid() && c.uid[1] == geteuid() && c.gid[0] == getgid() && c.gid[1] == getegid(),
               "  uid/euid/gid/egid as getuid() & co say");

        struct rlimit rl;
        uint64_t soft, hard;
        getrlimit(RLIMIT_MEMLOCK, &rl);
        tap_is_int(proc_memlock_limits(getpid(), &soft, &hard), 0, "proc_memlock_limits(self)");
        tap_ok(soft == rlim_to_u64(rl.rlim_cur) && hard == rlim_to_u64(rl.rlim_max), "  as getrlimit() says");

        /* field 22 found independently: after the last ')', skip 19 fields */
        char buf[1024];
        FILE *f = fopen("/proc/self/stat", "re");
        if (!f || !fgets(buf, sizeof(buf), f))
                unit_bail("/proc/self/stat: %m");
        fclose(f);
        unsigned long long want;
        tap_is_int(sscanf(strrchr(buf, ')') + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d "
                                                 "%*d %*d %*d %llu",
                          &want),
                   1, "sscanf of /proc/self/stat");
        uint64_t t;
        tap_is_int(proc_starttime(getpid(), &t), 0, "proc_starttime(self)");
        tap_ok(t == want, "  %" PRIu64 " == %llu", t, want);
}

int main(void) {
        test_cgroup();
        test_status();
        test_stat();
        test_limits();
        test_children_mountinfo();
        test_self();
        return tap_done();
}
