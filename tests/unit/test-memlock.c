/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-memlock.c - memlock_change() (common/memlock.c), the three prlimit()
 * calls behind every memlock.set: here on a child of this process (the
 * kernel lets a process change the limits of one with its own ids), each
 * result checked with a prlimit() of the test's own.  With may_raise_hard
 * it is what the broker runs itself when it holds CAP_SYS_RESOURCE; the
 * hard raise then succeeds where the capability is, and the kernel refuses
 * it (EPERM) where it is not - the test says which it saw.
 */
#include <errno.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "memlock.h"
#include "size.h"
#include "proc.h"
#include "tap.h"
#include "unit-util.h"
#include "util.h"
#include "wire.h"

static void test_verdict(void) {
        static const struct {
                uint64_t old_hard, soft, hard;
                bool may_raise;
                memlock_verdict want;
                const char *what;
        } cases[] = {
                { 100, 50, DELEGATE_LIMIT_KEEP, false, MEMLOCK_CHANGED, "soft below the hard limit kept" },
                { 100, 100, DELEGATE_LIMIT_KEEP, false, MEMLOCK_CHANGED, "soft up to the hard limit kept" },
                { 100, 101, DELEGATE_LIMIT_KEEP, false, MEMLOCK_SOFT_OVER_HARD, "soft above the hard limit kept" },
                { 100, 50, 80, false, MEMLOCK_CHANGED, "lowering the hard limit needs nothing" },
                { 100, 90, 80, false, MEMLOCK_SOFT_OVER_HARD, "soft above the new, lower hard limit" },
                { 100, 50, 200, false, MEMLOCK_HARD_RAISE, "a hard raise, not allowed" },
                { 100, 50, 200, true, MEMLOCK_CHANGED, "a hard raise, allowed" },
                { 100, 250, 200, true, MEMLOCK_SOFT_OVER_HARD, "soft above the raised hard limit: soft first" },
                { 100, 250, 200, false, MEMLOCK_SOFT_OVER_HARD, "soft over hard comes before the raise" },
                { UINT64_MAX, UINT64_MAX, DELEGATE_LIMIT_KEEP, false, MEMLOCK_CHANGED, "unlimited under unlimited" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                tap_is_int(memlock_verdict_of(cases[i].old_hard, cases[i].soft, cases[i].hard, cases[i].may_raise),
                           cases[i].want, "memlock_verdict_of: %s", cases[i].what);
}

/* A child that waits to be killed, as @uid when >= 0 (set before this returns). */
static pid_t child(int uid) {
        int p[2];
        char ok = 0;
        if (pipe(p) < 0)
                unit_bail("pipe: %m");
        pid_t pid = fork();
        if (pid < 0)
                unit_bail("fork: %m");
        if (pid == 0) {
                ok = uid < 0 || (setresgid(uid, uid, uid) == 0 && setresuid(uid, uid, uid) == 0);
                if (write(p[1], &ok, 1) != 1)
                        _exit(1);
                for (;;)
                        pause();
        }
        close(p[1]);
        if (read(p[0], &ok, 1) != 1 || !ok)
                unit_bail("the child could not take uid %d", uid);
        close(p[0]);
        return pid;
}

static void reap(pid_t pid) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
}

static bool limits_are(pid_t pid, uint64_t soft, uint64_t hard) {
        struct rlimit rl;
        return prlimit(pid, RLIMIT_MEMLOCK, NULL, &rl) == 0 && rlim_to_u64(rl.rlim_cur) == soft &&
               rlim_to_u64(rl.rlim_max) == hard;
}

static bool have_cap_sys_resource(void) {
        struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
        struct __user_cap_data_struct d[2] = {};
        return syscall(SYS_capget, &h, d) == 0 && (d[CAP_SYS_RESOURCE / 32].effective & (1u << (CAP_SYS_RESOURCE % 32)));
}

static void test_change(void) {
        struct rlimit rl, old = {}, now = {};
        if (getrlimit(RLIMIT_MEMLOCK, &rl) < 0)
                unit_bail("getrlimit: %m");
        bool cap = have_cap_sys_resource();
        tap_diag("CAP_SYS_RESOURCE is %s", cap ? "effective: hard raises succeed" : "not held: hard raises fail");
        pid_t c = child(-1);
        /* H: a finite hard limit to work under (lowering needs no capability) */
        uint64_t h0 = rlim_to_u64(rl.rlim_max), H = h0 < (UINT64_C(64) << 20) ? h0 & ~(uint64_t) 4095 : UINT64_C(64) << 20;
        int r = memlock_change(c, H / 2, H, false, &old, &now);
        tap_is_int(r, MEMLOCK_CHANGED, "soft H/2, hard H (at most what it had): changed");
        tap_ok(rlim_to_u64(old.rlim_cur) == rlim_to_u64(rl.rlim_cur) && rlim_to_u64(old.rlim_max) == h0,
               "the old limits are the child's before");
        tap_ok(rlim_to_u64(now.rlim_cur) == H / 2 && rlim_to_u64(now.rlim_max) == H, "the new ones are read back");
        tap_ok(limits_are(c, H / 2, H), "and the kernel holds them");

        r = memlock_change(c, H, DELEGATE_LIMIT_KEEP, false, &old, &now);
        tap_ok(r == MEMLOCK_CHANGED && rlim_to_u64(now.rlim_cur) == H && rlim_to_u64(now.rlim_max) == H &&
               rlim_to_u64(old.rlim_cur) == H / 2, "soft up to the kept hard limit");

        old = (struct rlimit) {};
        r = memlock_change(c, H + 4096, DELEGATE_LIMIT_KEEP, false, &old, &now);
        tap_is_int(r, MEMLOCK_SOFT_OVER_HARD, "soft above the hard limit: refused");
        tap_ok(rlim_to_u64(old.rlim_max) == H && limits_are(c, H, H), "with the old limits, nothing changed");

        old = (struct rlimit) {};
        r = memlock_change(c, H / 4, H + 4096, false, &old, &now);
        tap_is_int(r, MEMLOCK_HARD_RAISE, "a hard raise, not allowed: refused before any change");
        tap_ok(rlim_to_u64(old.rlim_max) == H && limits_are(c, H, H), "with the old limits, nothing changed");

        /* what the broker does with CAP_SYS_RESOURCE: the kernel judges the raise */
        r = memlock_change(c, H / 4, H + 4096, true, &old, &now);
        if (cap)
                tap_ok(r == MEMLOCK_CHANGED && rlim_to_u64(now.rlim_max) == H + 4096 && limits_are(c, H / 4, H + 4096),
                       "a hard raise, allowed, with CAP_SYS_RESOURCE: the kernel holds it");
        else
                tap_ok(r == -EPERM && limits_are(c, H, H),
                       "a hard raise, allowed, without CAP_SYS_RESOURCE: the kernel refuses (EPERM), nothing changed");

        r = memlock_change(c, H / 8, H / 2, false, &old, &now);
        tap_ok(r == MEMLOCK_CHANGED && limits_are(c, H / 8, H / 2), "lowering the hard limit");
        tap_is_int(memlock_apply(c, H, DELEGATE_LIMIT_KEEP, &old, &now), -EINVAL,
                   "memlock_apply: soft above the hard limit is -EINVAL");

        reap(c);
        tap_is_int(memlock_change(c, H / 8, DELEGATE_LIMIT_KEEP, false, &old, &now), -ESRCH, "a reaped child: -ESRCH");
}

/* Another user's process: without CAP_SYS_RESOURCE the kernel refuses even to read its limits. */
static void test_other_ids(void) {
        struct rlimit old, now;
        if (geteuid() != 0) {
                tap_diag("not root: no child of another uid to try");
                return;
        }
        pid_t c = child(65534);
        int r = memlock_change(c, 4096, DELEGATE_LIMIT_KEEP, false, &old, &now);
        if (have_cap_sys_resource())
                tap_is_int(r, MEMLOCK_CHANGED, "another uid's process, with CAP_SYS_RESOURCE: changed");
        else {
                tap_is_int(r, MEMLOCK_NOT_PERMITTED, "another uid's process, without CAP_SYS_RESOURCE: not permitted");
                tap_is_int(memlock_apply(c, 4096, DELEGATE_LIMIT_KEEP, &old, &now), -EPERM,
                           "memlock_apply: -EPERM");
        }
        reap(c);
}

/* The result object through the generator, the test's oracle */
static void result_gen(json_gen *g, pid_t pid, const struct rlimit *old, const struct rlimit *now) {
        json_gen_map_open(g);
        json_gen_kv_i64(g, "pid", pid);
        json_gen_str(g, "soft");
        json_gen_limit(g, rlim_to_u64(now->rlim_cur));
        json_gen_str(g, "hard");
        json_gen_limit(g, rlim_to_u64(now->rlim_max));
        json_gen_str(g, "old");
        json_gen_map_open(g);
        json_gen_str(g, "soft");
        json_gen_limit(g, rlim_to_u64(old->rlim_cur));
        json_gen_str(g, "hard");
        json_gen_limit(g, rlim_to_u64(old->rlim_max));
        json_gen_map_close(g);
        json_gen_map_close(g);
}

/*
 * memlock_result_format(), memlock.set's result wherever it is written
 * (the broker, libdelegate's local route, delegatectl), gives the bytes the
 * generator gives for the same object, for pids and limits at their ends:
 * 0, a page, the largest finite rlim_t, RLIM_INFINITY ("unlimited").
 */
static void test_result_format(void) {
        static const rlim_t lim[] = { 0, 4096, 8388608, RLIM_INFINITY - 1, RLIM_INFINITY };
        static const pid_t pids[] = { 0, 1, 4194304, INT32_MAX, -1 };
        size_t n = 0, same = 0, longest = 0;
        char first_bad[512] = "";
        for (size_t p = 0; p < ELEMENTSOF(pids); p++)
                for (size_t i = 0; i < ELEMENTSOF(lim) * ELEMENTSOF(lim); i++) {
                        struct rlimit old = { lim[i % ELEMENTSOF(lim)], lim[i / ELEMENTSOF(lim)] },
                                      now = { lim[i / ELEMENTSOF(lim)], lim[(i + 2) % ELEMENTSOF(lim)] };
                        json_gen *g = json_gen_new();
                        char *want = NULL, got[MEMLOCK_RESULT_MAX];
                        result_gen(g, pids[p], &old, &now);
                        json_gen_take(g, &want, NULL);
                        json_gen_freep(&g);
                        size_t len = memlock_result_format(got, pids[p], &old, &now);
                        n++;
                        longest = len > longest ? len : longest;
                        if (want && len == strlen(got) && streq(got, want))
                                same++;
                        else if (!first_bad[0])
                                snprintf(first_bad, sizeof(first_bad), "got %s, want %s", got, want ? want : "(none)");
                        free(want);
                }
        tap_is_int(same, n, "memlock_result_format() writes what the generator does, for %zu pids and limits",
                   n);
        if (first_bad[0])
                tap_diag("%s", first_bad);
        tap_ok(longest < MEMLOCK_RESULT_MAX, "  the longest of them, %zu bytes, fits its buffer", longest);
}

int main(void) {
        test_result_format();
        test_verdict();
        test_change();
        test_other_ids();
        return tap_done();
}
