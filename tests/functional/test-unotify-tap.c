/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-unotify-tap - TAP devices made by unmodified programs under
 * delegate-run(1): Debian's ip tuntap and ifconfig, and a hostile program,
 * as a pod uid, their TUNSETIFF and SIOCSIF* calls delegated through
 * seccomp user notification.  Each case is checked in a netlink link dump
 * of the pod's netns (ip -d -j) and run without delegate-run to show the
 * kernel refuses it there; TUNSETIFF on an existing device is left to the
 * kernel.  A TAP made again under the same session after its first
 * incarnation vanished (libvirt's domain destroyed and started again) is
 * a new device, owned and counted, and one root made with that name
 * meanwhile is never attached to on the caller's behalf.  --max-tap holds
 * for a TUNSETIFF as for a tap.create over the socket.  A record's queue
 * count survives a broker restart.  A TUNSETIFF that creates a device runs
 * on the broker's netns worker: the broker forks nothing for it.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "unotify-scenario.h"

static void unotify_tuntap(harness *h) {
        char *out = NULL, cmd[512];
        use_policy(h);
        need("ifconfig");
        pid_t pause = pod_a_for_taps(h);

        int st = in_pod(h, POD_A, "pod-a", &out, "ip tuntap add dev utap0 mode tap");
        tap_ok(st != 0 && out && strstr(out, "Operation not permitted"),
               "without delegate-run, ip tuntap add fails with EPERM (%s)", out ? out : "");
        free(out);

        /* allowed: the device appears in the pod's netns, owned by the pod uid, and stays while the session lives */
        char *const add[] = { "/bin/sh", "-c",
                              "ip tuntap add dev utap0 mode tap && ifconfig utap0 mtu 1400 hw ether 52:54:00:12:34:56 up"
                              " && echo READY && exec sleep 30",
                              NULL };
        pid_t d = spawn_dr(h, POD_A, "pod-a", "/run/delegate-test/dr-tap.log", "vm-a", add);
        bool ready = harness_file_contains("/run/delegate-test/dr-tap.log", "READY", 5000);
        if (!ready)
                harness_dump_file("/run/delegate-test/dr-tap.log", "delegate-run");
        tap_ok(ready, "ip tuntap add and ifconfig succeed under delegate-run");
        tap_ok(link_has("pod-a", "utap0", "\"type\":\"tap\""), "netlink shows utap0 in pod-a's netns, a TAP");
        tap_ok(link_has("pod-a", "utap0", "\"user\":\"" ) || link_has("pod-a", "utap0", "\"user\":1000"),
               "owned by the pod's uid");
        tap_ok(link_has("pod-a", "utap0", "\"mtu\":1400"), "the MTU set by ifconfig (SIOCSIFMTU)");
        tap_ok(link_has("pod-a", "utap0", "\"address\":\"52:54:00:12:34:56\""), "the MAC (SIOCSIFHWADDR)");
        tap_ok(link_has("pod-a", "utap0", "\"UP\""), "and up (SIOCSIFFLAGS)");

        /* SIOCSIF* on a device the session did not create: the kernel refuses */
        snprintf(cmd, sizeof(cmd), "%s --vm vm-a -- ifconfig lo mtu 1300", dr());
        st = in_pod(h, POD_A, "pod-a", &out, cmd);
        tap_ok(st != 0 && out && (strstr(out, "Operation not permitted") || strstr(out, "SIOCSIFMTU")),
               "ifconfig lo mtu 1300 (not the session's device): refused (%s)", out ? out : "");
        free(out);
        tap_ok(!link_has("pod-a", "lo", "\"mtu\":1300"), "lo's MTU is untouched");

        /* denied: a name the rule does not give */
        snprintf(cmd, sizeof(cmd), "%s --vm vm-a -- ip tuntap add dev bad0 mode tap", dr());
        st = in_pod(h, POD_A, "pod-a", &out, cmd);
        tap_ok(st != 0 && out && strstr(out, "Operation not permitted"), "bad0 is refused: EPERM (%s)",
               out ? out : "");
        free(out);
        tap_ok(!link_exists("pod-a", "bad0"), "no bad0 in the kernel");
        tap_ok(harness_log_contains("DENY tap.create"), "the audit says DENY tap.create");

        /* hostile: TUNSETIFF naming an existing device (root's, a name the rule gives) */
        tap_is_int(harness_sh(NULL, "ip -n pod-a tuntap add dev utap7 mode tap && ip -n pod-a link set utap7 mtu 1500"),
                   0, "root pre-creates utap7 in pod-a");
        snprintf(cmd, sizeof(cmd), "%s --vm vm-a -- ip tuntap add dev utap7 mode tap", dr());
        st = in_pod(h, POD_A, "pod-a", &out, cmd);
        /* ip asks IFF_TUN_EXCL: the kernel's answer for an existing device is EBUSY */
        tap_ok(st != 0 && out && strstr(out, "Device or resource busy"),
               "TUNSETIFF on root's existing utap7 is left to the kernel: EBUSY (%s)", out ? out : "");
        free(out);
        tap_ok(!link_has("pod-a", "utap7", "\"user\""), "utap7 is still root's (no owner set)");

        /* hostile: TUNSETIFF on a socket of the program's with bytes waiting in it.  The broker's copy of that
         * socket is closed as it is: the bytes stay the program's to read (its closing thread empties a
         * socket handed to the broker before it closes it, never a copy of one that is still in use) */
        snprintf(cmd, sizeof(cmd), "%s --vm vm-a -- %s sock-tunsetiff", dr(), caller_prog());
        st = in_pod(h, POD_A, "pod-a", &out, cmd);
        tap_ok(st == 0 && out && strstr(out, "tunsetiff=-1 (Inappropriate ioctl for device)"),
               "TUNSETIFF on an AF_UNIX socket is left to the kernel: ENOTTY (%s)", out ? out : "");
        tap_ok(out && strstr(out, "kept=4"), "the 4 bytes waiting in that socket are still there 1 s later (%s)",
               out ? out : "");
        free(out);

        /* multi-queue: two queues of mq0, held by one process */
        char *const mq[] = { "/bin/sh", "-c",
                             "ip tuntap add dev mq0 mode tap multi_queue && echo MQ && exec sleep 30", NULL };
        pid_t d2 = spawn_dr(h, POD_A, "pod-a", "/run/delegate-test/dr-mq.log", "vm-a", mq);
        tap_ok(harness_file_contains("/run/delegate-test/dr-mq.log", "MQ", 5000), "ip tuntap add multi_queue works");
        tap_ok(link_has("pod-a", "mq0", "\"multi_queue\""), "mq0 is a multi-queue TAP");
        stop_pid(d2);

        /* a third queue of the session's own device, beyond max_queues 2: refused, not left to the
         * kernel (which would let the owning uid attach it) */
        snprintf(cmd, sizeof(cmd), "%s --vm vm-a -- %s mq mq1 3", dr(), caller_prog());
        st = in_pod(h, POD_A, "pod-a", &out, cmd);
        tap_ok(st == 0 && out && strstr(out, "queues=2") && strstr(out, "Operation not permitted"),
               "mq1: 2 queues, the third refused with EPERM (%s)", out ? out : "");
        free(out);

        /* transient devices (gone with their fd) free the rule's max_devices (4) again */
        snprintf(cmd, sizeof(cmd), "%s --vm vm-a -- %s tun 6", dr(), caller_prog());
        st = in_pod(h, POD_A, "pod-a", &out, cmd);
        tap_ok(st == 0 && out && strstr(out, "created=6"),
               "6 TAP devices made and closed one after another, with max_devices 4 (%s)", out ? out : "");
        free(out);

        /* the session ends: its devices go, root's stays */
        stop_pid(d);
        bool gone = false;
        for (int i = 0; i < 100 && !gone; i++, usleep(50000))
                gone = !link_exists("pod-a", "utap0") && !link_exists("pod-a", "mq0");
        tap_ok(gone, "when delegate-run's session ends, utap0 and mq0 are removed");
        tap_ok(link_exists("pod-a", "utap7"), "root's utap7 stays");
        harness_sh(NULL, "ip -n pod-a link del utap7");
        pod_a_end(pause);
}

/*
 * One session, two rounds of a 2-queue TAP @dev (utap*: 1 queue, not multi-queue): the first round's queues
 * closed (the transient device vanishes, as when libvirt destroys a domain), the second round's asked at once
 * (@between NULL), or once the device vanished and root ran @between.  Returns what the second round printed
 * ("second=K"), or "" (free()d by the caller); delegate-run, holding the second round's queues, in *@ret_pid.
 */
static char *tap_twice(harness *h, const char *vm, const char *dev, const char *between, pid_t *ret_pid) {
        bool vanished = false, single = strncmp(dev, "utap", 4) == 0; /* single-queue: the rule's utap%d */
        char go[128], log[128], line[4096], *out = NULL;
        snprintf(go, sizeof(go), "/run/delegate-test/go-%s", dev);
        snprintf(log, sizeof(log), "/run/delegate-test/dr-again-%s.log", dev);
        if (!between) /* at once */
                harness_write_file(go, "");
        char *const prog[] = { (char *) caller_prog(), "mq-again", (char *) dev, go, single ? "single" : NULL, NULL };
        pid_t d = *ret_pid = spawn_dr(h, POD_A, "pod-a", log, vm, prog);
        bool first = harness_file_contains(log, single ? "first=1" : "first=2", 5000);
        if (!tap_ok(first, "%s: the first round gets its queue(s) under delegate-run (--vm %s)", dev, vm))
                harness_dump_file(log, "delegate-run");
        tap_ok(harness_file_contains(log, "gone=1", 5000), "%s: gone once its queues closed (no helper holds one)", dev);
        for (int i = 0; between && i < 100 && !vanished; i++, usleep(50000))
                vanished = !link_exists("pod-a", dev);
        if (between && tap_ok(vanished, "%s: its queues closed, the transient device vanished", dev))
                tap_is_int(harness_sh(NULL, "%s", between), 0, "meanwhile root: %s", between);
        harness_write_file(go, "");
        for (int i = 0; i < 100; i++, usleep(50000)) {
                if (!harness_file_contains(log, "second=", 50))
                        continue;
                harness_read_file(log, line, sizeof(line)); /* "first=2\n...second=K" */
                const char *p = strstr(line, "second=");
                out = strndup(p ? p : "", p ? strcspn(p, "\n") : 0);
                break;
        }
        if (!out) {
                kill(d, SIGTERM);
                harness_dump_file(log, "delegate-run");
                out = strdup("");
        }
        return out;
}

/*
 * The same TAP made again at once as the first closes (libvirt's domain destroyed and started again): a new
 * creation, owned and counted, not another queue of the record; a device root made with that name meanwhile
 * is never attached to for the caller.  The closer's releases held 200 ms (a test build's hook): the broker's
 * copy of a queue it checked is closed at once, or the second round finds the first device (EBUSY, or the
 * kernel's EPERM).
 */
static void unotify_tap_again(harness *h) {
        char owner[96], root[96];
        pid_t d;
        tap_is_int(harness_restart_broker_env(h, "DELEGATE_TEST_CLOSER_DELAY_MS", "200"), 0, "the broker restarts");
        use_policy(h);
        pid_t pause = pod_a_for_taps(h);
        user_needle(UID, owner, sizeof(owner));
        user_needle(0, root, sizeof(root));

        /* max_queues 2: the second round's first queue is not "queue 3" of the vanished device */
        char *out = tap_twice(h, "vm-a", "mq0", NULL, &d);
        tap_ok(streq(out, "second=2"), "mq0 made again under the same session: 2 queues (%s)", out);
        free(out);
        tap_ok(link_has("pod-a", "mq0", "\"numqueues\":2") && link_has("pod-a", "mq0", "\"multi_queue\":true"),
               "the kernel shows mq0 multi-queue with 2 queues attached");
        tap_ok(link_has("pod-a", "mq0", owner), "owned by the pod's uid (%s)", owner);
        tap_ok(harness_log_contains("'mq0'") && harness_log_contains("vanished with its queues: forgotten"),
               "the broker says it forgot the vanished mq0");
        stop_pid(d);

        /* a single-queue TAP made again: not left to the kernel (which would refuse to create it) */
        out = tap_twice(h, "vm-a", "utap5", NULL, &d);
        tap_ok(streq(out, "second=1"), "utap5 (single queue) made again under the same session (%s)", out);
        free(out);
        tap_ok(link_has("pod-a", "utap5", "\"multi_queue\":false") && link_has("pod-a", "utap5", owner),
               "the kernel shows utap5, a single-queue TAP owned by the pod's uid");
        stop_pid(d);

        /* max_queues 4: room for "queues 3 and 4" of the vanished record; still a creation, owned */
        out = tap_twice(h, "vm-c", "mqr1", NULL, &d);
        tap_ok(streq(out, "second=2"), "mqr1 (max_queues 4) made again: 2 queues (%s)", out);
        free(out);
        tap_ok(link_has("pod-a", "mqr1", "\"numqueues\":2"), "the kernel shows 2 queues of mqr1");
        tap_ok(link_has("pod-a", "mqr1", owner), "mqr1 is owned by the pod's uid, not an unowned device root made");
        stop_pid(d);

        /* hostile: root takes the name between the rounds (its device, owned by root) */
        out = tap_twice(h, "vm-c", "mqr0", "ip -n pod-a tuntap add dev mqr0 mode tap multi_queue user 0", &d);
        tap_ok(streq(out, "second=0"), "root's mqr0 is not attached: the kernel refuses the pod uid (%s)", out);
        free(out);
        tap_ok(link_has("pod-a", "mqr0", "\"numqueues\":0"), "root's mqr0 has no queue attached");
        tap_ok(link_has("pod-a", "mqr0", root), "and is still root's");
        stop_pid(d);
        harness_sh(NULL, "ip -n pod-a link del mqr0");

        pod_a_end(pause);
}

/*
 * --max-tap is applied alike to tap.create over the socket and to an
 * intercepted TUNSETIFF: the session's devices that vanished are pruned
 * first and free it; those still there fill it, whatever the rule's
 * max_devices (4) says.
 */
static void unotify_max_tap(harness *h) {
        char *out = NULL, cmd[512];
        write_policy();
        harness_stop_broker(h);
        const char *const max1[] = { "--max-tap", "1", NULL };
        tap_is_int(harness_start_broker_args(h, max1), 0, "the broker runs with --max-tap 1 (the rules allow 4)");
        pid_t pause = pod_a_for_taps(h);

        /* tap.create over the socket */
        tclient t;
        tap_is_int(tclient_start_netns(h, &t, POD_A, "pod-a", UID, UID, "vm-t"), 0, "a socket client in pod-a");
        char *r = tclient_call(&t, "call tap.create {\"name\":\"stap%%d\"}");
        int64_t slot = jint(r, "slot");
        tap_is_str(jstr(r, "result.name"), "stap0", "tap.create: stap0 (%s)", r);
        free(r);
        r = tclient_call(&t, "call tap.create {\"name\":\"stap%%d\"}");
        tap_is_int(jint(r, "errno"), EDQUOT, "tap.create while stap0 is there: over --max-tap 1, EDQUOT (%s)", r);
        tap_has_str(jstr(r, "message"), "(--max-tap 1)", "naming the limit");
        free(r);
        tap_ok(!link_exists("pod-a", "stap1"), "kernel: no stap1");
        free(tclient_call(&t, "close %" PRIi64, slot));
        tap_ok(WAIT_FOR(!link_exists("pod-a", "stap0")), "its fds closed, the transient stap0 vanished");
        r = tclient_call(&t, "call tap.create {\"name\":\"stap%%d\"}");
        tap_is_int(jint(r, "ok"), 1, "tap.create once stap0 vanished: the vanished device is pruned first (%s)", r);
        tap_ok(link_exists("pod-a", jstr(r, "result.name")), "kernel: %s is there", jstr(r, "result.name"));
        free(r);
        tclient_stop(&t);

        /* an intercepted TUNSETIFF (ip tuntap), the same way */
        snprintf(cmd, sizeof(cmd),
                 "%s --vm vm-a -- /bin/sh -c 'ip tuntap add dev utap0 mode tap; echo A=$?; "
                 "ip tuntap add dev utap1 mode tap; echo B=$?; ip tuntap del dev utap0 mode tap; echo C=$?; "
                 "ip tuntap add dev utap1 mode tap; echo D=$?; ip -j -d link show dev utap1'",
                 dr());
        int st = in_pod(h, POD_A, "pod-a", &out, cmd);
        tap_ok(st == 0 && out && strstr(out, "A=0"), "TUNSETIFF: utap0 is created (%s)", out ? out : "");
        tap_ok(out && strstr(out, "Operation not permitted") && strstr(out, "B=1"),
               "TUNSETIFF of utap1 while utap0 is there: over --max-tap 1, left to the kernel: EPERM");
        tap_ok(out && strstr(out, "C=0"), "utap0 deleted (its persistence dropped by its owner)");
        tap_ok(out && strstr(out, "D=0") && strstr(out, "\"ifname\":\"utap1\""),
               "TUNSETIFF of utap1 once utap0 vanished: created, the vanished device pruned first");
        free(out);
        tap_ok(harness_log_contains("rule=seccomp-clamp: target refused: tap.create: the session holds 1 device(s) "
                                    "(TAP devices and bridges), the most any session may (--max-tap 1)"),
               "the audit names --max-tap for the refused TUNSETIFF, as for tap.create");
        tap_ok(WAIT_FOR(!link_exists("pod-a", "utap1") && !link_exists("pod-a", "stap1")),
               "the sessions ended: their devices are removed");
        pod_a_end(pause);
}

/*
 * A TAP record's queue count survives a broker restart: mq0 made with 2
 * queues (the rule's max_queues), the broker restarted, a third queue is
 * still one too many.
 */
static void unotify_tap_restart(harness *h) {
        const char *log = "/run/delegate-test/dr-more.log", *go = "/run/delegate-test/go-more";
        use_policy(h);
        pid_t pause = pod_a_for_taps(h);
        char *const prog[] = { (char *) caller_prog(), "mq-more", "mq0", (char *) go, NULL };
        pid_t d = spawn_dr(h, POD_A, "pod-a", log, "vm-a", prog);
        bool two = harness_file_contains(log, "queues=2", 5000);
        if (!two)
                harness_dump_file(log, "delegate-run");
        tap_ok(two, "mq0 made with 2 queues under delegate-run (max_queues 2)");
        tap_ok(link_has("pod-a", "mq0", "\"numqueues\":2"), "the kernel shows 2 queues of mq0");
        int st = harness_stop_broker(h);
        tap_ok(WIFEXITED(st), "the broker stops");
        tap_is_int(harness_start_broker(h), 0, "a new broker starts");
        tap_ok(harness_file_contains(log, "listener handed over again", 10000),
               "delegate-run hands the listener over again");
        harness_write_file(go, "");
        bool more = harness_file_contains(log, "more=", 5000);
        harness_dump_file(log, "delegate-run");
        tap_ok(more && harness_file_contains(log, "more=0 Operation not permitted", 100),
               "a third queue after the restart: over max_queues 2, EPERM");
        tap_ok(link_has("pod-a", "mq0", "\"numqueues\":2"), "the kernel still shows 2 queues of mq0");
        tap_ok(harness_log_contains("3 queues exceed the rule's tap max_queues 2"),
               "the audit counts the restored record's 2 queues and this one");
        stop_pid(d);
        pod_a_end(pause);
}

/* --- unotify-tap-no-fork --- */

#define NO_FORK_TAPS 6

/*
 * An intercepted TUNSETIFF that creates a device runs on the netns worker
 * thread when it is idle, as a tap.create over the socket does
 * (threads-tap-no-fork): the broker's loop (the main thread, --threads 1)
 * forks nothing for NO_FORK_TAPS devices made and closed one after another
 * (each pruned as the next is made, within the rule's max_devices 4), nor
 * for the session's end.  strace(1) counts clone(2) and its kin.  A queue
 * attached to an existing device still forks (its step changes ids): not
 * asked here.
 */
static void unotify_tap_no_fork(harness *h) {
        char *out = NULL, cmd[512], log[64];
        int lfd;
        write_policy();
        harness_stop_broker(h);
        const char *const args[] = { "--threads", "1", NULL };
        tap_is_int(harness_start_broker_args(h, args), 0, "the broker starts with --threads 1");
        pid_t pause = pod_a_for_taps(h);
        pid_t tracer = harness_forks_follow(h, log, sizeof(log), &lfd);
        snprintf(cmd, sizeof(cmd), "%s --vm vm-a -- %s tun %d", dr(), caller_prog(), NO_FORK_TAPS);
        int st = in_pod(h, POD_A, "pod-a", &out, cmd);
        tap_ok(st == 0 && out && strstr(out, "created=6"),
               "%d TAP devices made and closed one after another by TUNSETIFF under delegate-run (%s)", NO_FORK_TAPS,
               out ? out : "");
        free(out);
        tap_ok(WAIT_FOR(harness_log_contains("closed (disconnected)")), "delegate-run's session ended");
        usleep(100 * 1000); /* what the session's end hands the worker runs after that line */
        int forks = harness_forks_count(tracer, lfd, log);
        if (tracer > 0)
                tap_is_int(forks, 0, "the loop forked %d times for %d intercepted TUNSETIFF and the session's end (the "
                           "netns worker ran them)", forks, NO_FORK_TAPS);
        pod_a_end(pause);
}

static const scenario scenarios[] = {
        { "unotify-tuntap", policy_none, unotify_tuntap },
        { "unotify-tap-again", policy_none, unotify_tap_again },
        { "unotify-max-tap", policy_none, unotify_max_tap },
        { "unotify-tap-restart", policy_none, unotify_tap_restart },
        { "unotify-tap-no-fork", policy_none, unotify_tap_no_fork },
};

int main(int argc, char **argv) {
        return harness_main(argc, argv, scenarios, sizeof(scenarios) / sizeof(scenarios[0]));
}
