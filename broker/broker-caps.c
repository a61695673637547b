/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-caps.c - the capabilities the broker keeps.
 *
 * The broker's privilege stages (see also broker-seccomp.c and SECURITY in
 * delegate-broker(8)):
 *
 * 1. Setup, as root with whatever the service manager granted: options,
 *    policy, the listening socket (bound, its directory created, chmod),
 *    the cgroup2 root opened.
 * 2. broker_caps_drop(): the permitted and effective sets become exactly the
 *    keep-mask below, intersected with what the process held at start (a
 *    capability missing from the bounding set cannot be kept and is logged
 *    once, with the operations that degrade); the inheritable, ambient and
 *    bounding sets are cleared.
 * 3. broker_seccomp_install(): PR_SET_NO_NEW_PRIVS, then the allowlist.
 * 4. The event loop.  Helper processes fork from here and inherit all of
 *    it; the memlock helper's setresuid() to the target's user also drops
 *    what is left (the kernel clears the sets when no id is 0 any more).
 *
 * The broker stays uid 0: files it creates or owns (the socket and its
 * directory, cgroup directories it makes below root-owned pod cgroups)
 * need no DAC capability.
 */
#include <cap-ng.h>
#include <ctype.h>
#include <linux/capability.h>
#include <stdio.h>
#include <syslog.h>

#include "broker.h"

typedef struct cap_want {
        int cap;
        const char *ops; /* the operations that need it */
        const char *why;
        int only_without; /* >= 0: wanted only when this capability is unavailable */
} cap_want;

/*
 * The keep-mask, each capability with the operation that needs it.  Found
 * by running the functional suite without each one (CAP_KILL from the
 * kernel's rules for kill(2): no test hangs a helper): nothing else is
 * needed (reading /proc/PID/{status,limits,cgroup,task/...} of other users'
 * processes, pidfd_open() and writing cgroup.procs/cgroup.threads of
 * root-owned cgroups need no capability for uid 0).
 */
static const cap_want wants[] = {
        /* prlimit() on another user's process; raising a hard limit */
        { CAP_SYS_RESOURCE, "memlock.set", "hard limits cannot be raised; soft changes run as the target's user", -1 },
        /* without CAP_SYS_RESOURCE the helper takes the target's ids:
         * setgroups(), setresgid(), setresuid() */
        { CAP_SETUID, "memlock.set", "soft limits of other users' processes cannot be changed", CAP_SYS_RESOURCE },
        { CAP_SETGID, "memlock.set", "soft limits of other users' processes cannot be changed", CAP_SYS_RESOURCE },
        /* ... and SIGKILL to such a helper that timed out: it runs as the
         * target's user, no longer ours */
        { CAP_KILL, "memlock.set", "a hung helper cannot be killed", CAP_SYS_RESOURCE },
        /* sched_setattr() (realtime policies, other users' threads) and
         * sched_setaffinity() of other users' threads */
        { CAP_SYS_NICE, "sched.set", "other users' threads cannot be changed", -1 },
        /* TUNSETIFF, TUNSETOWNER, TUNSETGROUP, TUNSETPERSIST; rtnetlink
         * link changes and deletion, in the peer's network namespace */
        { CAP_NET_ADMIN, "tap.create, tap.destroy", "TAP devices cannot be created or removed", -1 },
        /* setns(CLONE_NEWNET) into the peer's network namespace (helpers) */
        { CAP_SYS_ADMIN, "tap.create, tap.destroy", "the peer's network namespace cannot be entered", -1 },
        /* setns() through the peer's pidfd checks ptrace read access to it
         * (PTRACE_MODE_READ_REALCREDS): the peer is another user; unotify:
         * process_vm_readv()/writev() of an intercepted call's arguments and
         * pidfd_getfd() of its fds check ptrace attach access to the caller */
        { CAP_SYS_PTRACE, "tap.create, unotify.attach",
          "the peer's network namespace cannot be entered; intercepted syscalls cannot be read", -1 },
};

/* "CAP_SYS_NICE" for CAP_SYS_NICE (libcap-ng says "sys_nice"). */
static const char *cap_name(int cap, char *buf, size_t size) {
        const char *n = capng_capability_to_name(cap);
        size_t i = 0;
        snprintf(buf, size, "CAP_%s", n ? n : "?");
        for (i = 0; buf[i]; i++)
                buf[i] = (char) toupper((unsigned char) buf[i]);
        return buf;
}

static bool cap_available(int cap) {
        return capng_have_capability(CAPNG_PERMITTED, cap) == 1;
}

/* Log each wanted capability the process was not granted, once. */
static void log_unavailable(broker *b) {
        char name[64];
        for (size_t i = 0; i < ELEMENTSOF(wants); i++) {
                const cap_want *w = &wants[i];
                if (cap_available(w->cap))
                        continue;
                if (w->only_without >= 0 && cap_available(w->only_without))
                        continue; /* not wanted here */
                log_msg(b, LOG_NOTICE, "%s is not available (not in the bounding or permitted set at start): %s: %s",
                        cap_name(w->cap, name, sizeof(name)), w->ops, w->why);
        }
}

/* The mask of what will be kept: wanted and available. */
static uint64_t keep_mask(void) {
        uint64_t m = 0;
        for (size_t i = 0; i < ELEMENTSOF(wants); i++) {
                const cap_want *w = &wants[i];
                if (!cap_available(w->cap))
                        continue;
                if (w->only_without >= 0 && cap_available(w->only_without))
                        continue;
                m |= UINT64_C(1) << w->cap;
        }
        return m;
}

static void mask_names(uint64_t m, char *buf, size_t size) {
        char name[64];
        size_t l = 0;
        buf[0] = 0;
        for (int cap = 0; cap < 64; cap++)
                if ((m & (UINT64_C(1) << cap)) && l < size)
                        l += snprintf(buf + l, size - l, "%s%s", l ? " " : "", cap_name(cap, name, sizeof(name)));
        if (!buf[0])
                snprintf(buf, size, "(none)");
}

int broker_caps_drop(broker *b) {
        char names[512];

        capng_clear(CAPNG_SELECT_ALL);
        if (capng_get_caps_process() < 0) {
                log_msg(b, LOG_ERR, "cannot read the broker's capabilities");
                return -EIO;
        }
        log_unavailable(b);
        uint64_t keep = keep_mask();
        bool setpcap = capng_have_capability(CAPNG_EFFECTIVE, CAP_SETPCAP) == 1;

        /* inheritable, ambient and bounding sets: empty */
        capng_clear(CAPNG_SELECT_ALL);
        for (int cap = 0; cap < 64; cap++)
                if (keep & (UINT64_C(1) << cap))
                        capng_update(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED, cap);
        /* the bounding set can only shrink while CAP_SETPCAP is effective;
         * a broker started without it keeps the bounding set it was given */
        int r = capng_apply(setpcap ? CAPNG_SELECT_ALL : CAPNG_SELECT_CAPS | CAPNG_SELECT_AMBIENT);
        if (r < 0) {
                log_msg(b, LOG_ERR, "cannot drop capabilities (libcap-ng error %d)", r);
                return -EPERM;
        }
        if (!setpcap)
                log_msg(b, LOG_WARNING, "CAP_SETPCAP is not available: the bounding set stays as it was given");
        b->caps_kept = keep;
        mask_names(keep, names, sizeof(names));
        log_msg(b, LOG_INFO, "keeping capabilities: %s", names);
        return 0;
}
