/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-kvmi - functional scenarios of kvmi.*: a real broker against the
 * simulated QEMU + kernel (kvmi-peer, which encodes KVMI v12 itself).  The
 * scenario process plays the launcher (root in the node's system cgroup):
 * it listens on a socket, the peer connects and reconnects to it as QEMU
 * does, and every accepted connection is handed to the broker with
 * kvmi.connect.  Assertions compare the peer's access maps (what the
 * "kernel" held when each connection ended) with what was asked.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kvmi-scenario.h"

/* --- scenarios --- */

static void handshakes(harness *h) {
        char *r, *s;
        peer p;
        delegate_ctx *c = open_ctx("vm-a");
        tap_diag("the peer is a simulated QEMU + kernel: Debian's QEMU has no introspection object and no kernel "
                 "here has KVMI");

        /* unkeyed: QEMU connects, the broker answers, sets up, enables UNHOOK */
        attach(c, false, NULL, 0);
        r = call(c, "kvmi.set-page-access", "{\"entries\":[[4096,\"r\"]]}", NULL, 0, NULL);
        tap_has_str(fs(r, "error.message"), "no connection from QEMU right now", "before QEMU connects: not connected");
        free(r);
        peer_start(&p, "vm-a", NULL, NULL);
        r = connect_next(c);
        tap_is_int(fi(r, "ok"), 1, "kvmi.connect: the handed-over connection becomes ready (%s)", r);
        tap_is_int(fi(r, "result.version"), 1, "KVMI version 1 from v12's 16-byte GET_VERSION reply");
        tap_is_int(fi(r, "result.max_gpa"), (int64_t) PAGES << 12, "max_gpa read from QEMU's 104-byte hello");
        tap_is_int(fi(r, "result.unhook"), 1, "the UNHOOK event is enabled");
        tap_is_int(fi(r, "result.connection"), 1, "connection 1");
        free(r);
        tap_ok(peer_said(&p, "unhook-enabled 1 1"), "the kernel saw VM_CONTROL_EVENTS(UNHOOK, enable)");
        s = call(c, "state.get", NULL, NULL, 0, NULL);
        tap_is_str(fs(s, "result.kvmi.channel"), "ready", "state.get: ready");
        tap_is_int(fi(s, "result.kvmi.vcpus"), 2, "vCPU count learned from VM_GET_INFO");
        tap_is_int(fi(s, "result.kvmi.max_msg_size"), 8184, "max_msg_size learned");
        free(s);
        r = call(c, "kvmi.set-page-access", "{\"entries\":[[4096,\"r--\"],[\"0x2000\",\"---\"],[12288,5],[4096,\"rw\"]]}",
                 NULL, 0, NULL);
        tap_is_int(fi(r, "ok"), 1, "4 inline entries are applied (%s)", r);
        tap_is_int(fi(r, "result.shadow_pages"), 3, "the shadow holds 3 restricted pages");
        free(r);
        tap_is_int(peer_stop(&p), 0, "QEMU shuts down");
        tap_ok(peer_said(&p, "unhook-event 1"), "on shutdown QEMU sent the UNHOOK event");
        tap_ok(peer_said(&p, "closed 1 by-tool-after-unhook"), "and the broker closed the connection in answer");
        s = wait_idle(c);
        tap_has_str(fs(s, "result.kvmi.closed_because"), "QEMU unhooked", "state.get says QEMU unhooked");
        tap_is_int(fi(s, "result.kvmi.unhooks"), 1, "one unhook counted");
        free(s);
        uint8_t *want = blank_map();
        want[1] = 3;
        want[2] = 0;
        want[3] = 5;
        compare_maps(&p, 1, want, "the 4 entries applied in order");

        /* keyed, with a longer hello than v12's (fields a later QEMU appends) */
        tap_ok(attach_connect(c, &p, "vm-a", true, NULL, "--hello-extra", "100"),
               "keyed handshake with a 204-byte hello: ready");
        tap_ok(peer_said(&p, "answer 1 ok"), "QEMU found the SHA-1 of the secret in the answer");
        r = call(c, "kvmi.set-page-access", "{\"entries\":[[8192,\"x\"]]}", NULL, 0, NULL);
        tap_is_int(fi(r, "ok"), 1, "an entry is applied over the keyed channel (%s)", r ? r : "no reply");
        free(r);
        peer_stop(&p);

        /* a secret QEMU already holds (a restarted broker): given back to kvmi.attach */
        static const char held[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        r = call(c, "kvmi.attach", "{\"keyed\":true,\"secret\":\"0123\"}", NULL, 0, NULL);
        tap_has_str(fs(r, "error.message"), "secret' must be 64 lowercase hex characters",
                    "a malformed secret is a bad request");
        free(r);
        r = call(c, "kvmi.attach", "{\"keyed\":true,\"secret\":\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"}",
                 NULL, 0, NULL);
        tap_is_str(fs(r, "result.secret"), held, "kvmi.attach keeps the secret given");
        free(r);
        peer_start(&p, "vm-a", held, NULL);
        r = connect_next(c);
        tap_is_int(fi(r, "ok"), 1, "QEMU holding that secret finds its hash in the answer");
        free(r);
        peer_stop(&p);

        /* a wrong secret: QEMU drops the connection and reconnects with a fresh hello */
        attach(c, true, NULL, 0);
        peer_start(&p, "vm-a", "not-the-secret", NULL);
        r = connect_next(c);
        tap_is_int(fi(r, "ok"), 0, "a wrong cookie: kvmi.connect fails");
        tap_has_str(fs(r, "error.message"), "closed the connection", "as QEMU closes the connection");
        free(r);
        tap_ok(peer_said(&p, "answer 1 cookie-mismatch"), "QEMU refused the cookie");
        r = connect_next(c);
        tap_ok(peer_said(&p, "connect 2"), "QEMU reconnected by itself with a fresh hello");
        free(r);
        peer_stop(&p);

        /* the VM name in the hello must be the session's */
        attach(c, false, NULL, 0);
        peer_start(&p, "vm-other", NULL, NULL);
        r = connect_next(c);
        tap_has_str(fs(r, "error.message"), "'vm-other' in QEMU's hello is not the session's VM 'vm-a'",
                    "a hello naming another VM is refused");
        free(r);
        peer_stop(&p);

        /* a pre-v12 kernel: GET_VERSION with 8 bytes of data */
        attach(c, false, NULL, 0);
        peer_start(&p, "vm-a", NULL, "--old-version", NULL);
        r = connect_next(c);
        tap_has_str(fs(r, "error.message"), "v12 answers with 8 + 16", "a pre-v12 GET_VERSION reply is named as such");
        free(r);
        peer_stop(&p);

        /* a rule with require_key refuses unkeyed attaches */
        delegate_ctx *k = open_ctx("keyed-b");
        r = call(k, "kvmi.attach", "{\"keyed\":false}", NULL, 0, NULL);
        tap_is_str(fs(r, "error.code"), "denied", "unkeyed attach under require_key is denied");
        tap_is_str(fs(r, "error.rule"), "kvmi-keyed", "the denial names the rule");
        free(r);
        r = call(k, "kvmi.connect", "{\"socket\":0}", NULL, 0, NULL);
        tap_has_str(fs(r, "error.message"), "carried 0 fds", "kvmi.connect without an fd is refused");
        free(r);

        /* the session ends with the connection: the channel closes */
        tap_ok(attach_connect(k, &p, "keyed-b", true, NULL, NULL, NULL), "keyed-b is ready");
        delegate_ctx_free(k);
        tap_ok(peer_said(&p, "closed 1 by-tool"), "closing the session closes QEMU's connection");
        peer_stop(&p);
        delegate_ctx_free(c);
        free(want);
}

static void inline_100k(harness *h) {
        const size_t n = 100000;
        kvmi_page_access_entry *e = calloc(n, sizeof(*e));
        gen_entries(e, n, 1);
        delegate_ctx *c = open_ctx("vm-a");
        peer p;
        attach_connect(c, &p, "vm-a", false, NULL, NULL, NULL);
        size_t reqs;
        double t0 = now_s();
        char *r = send_inline(c, e, n, 2500, &reqs);
        double dt = now_s() - t0;
        tap_ok(!r, "100000 inline entries in %zu requests of 2500 are applied (%s)", reqs, r ? r : "ok");
        tap_diag("100000 inline entries: %.3f s, %.0f entries/s", dt, n / dt);
        free(r);
        uint8_t *want = blank_map();
        apply(want, e, n, SIZE_MAX);
        char *s = call(c, "state.get", NULL, NULL, 0, NULL);
        tap_is_int(fi(s, "result.kvmi.shadow.pages"), restricted(want), "state.get: the shadow counts the restricted pages");
        free(s);
        r = send_inline(c, e, 4000, 4000, &reqs);
        tap_ok(r && (!strcmp(fs(r, "error.code"), "too-large")), "4000 inline entries exceed one datagram: too-large (%s)",
               r ? r : "");
        free(r);
        tap_is_int(peer_stop(&p), 0, "peer done");
        compare_maps(&p, 1, want, "100000 inline entries applied in order");
        delegate_ctx_free(c);
        free(want);
        free(e);
}

static void memfd_1m(harness *h) {
        const size_t n = 1048576;
        kvmi_page_access_entry *e = calloc(n, sizeof(*e));
        gen_entries(e, n, 7);
        delegate_ctx *c = open_ctx("vm-a");
        peer p;
        attach_connect(c, &p, "vm-a", false, NULL, NULL, NULL);
        int mfd = make_memfd(e, 16, false);
        char *r = call(c, "kvmi.set-page-access", "{\"memfd\":0}", &mfd, 1, NULL);
        tap_is_str(fs(r, "error.code"), "bad-request", "an unsealed memfd is refused");
        tap_has_str(fs(r, "error.message"), "F_SEAL_WRITE", "the message names the seals");
        free(r);
        close(mfd);
        /* sized, sealed, but never written: its holes would be allocated by the broker's reads */
        mfd = memfd_create("kvmi-sparse", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        tap_ok(mfd >= 0 && ftruncate(mfd, 1024 * 16) == 0 &&
                       fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) == 0,
               "a sealed memfd of 1024 entries, never written");
        r = call(c, "kvmi.set-page-access", "{\"memfd\":0}", &mfd, 1, NULL);
        tap_is_str(fs(r, "error.code"), "bad-request", "a sparse memfd is refused");
        tap_has_str(fs(r, "error.message"), "the memfd (fd 0) is sparse: 0 of its 16384 bytes are allocated",
                    "the message names the fd and what is allocated");
        free(r);
        close(mfd);
        mfd = make_memfd(e, n, true);
        double t0 = now_s();
        r = call(c, "kvmi.set-page-access", "{\"memfd\":0}", &mfd, 1, NULL);
        double dt = now_s() - t0;
        close(mfd);
        tap_is_int(fi(r, "ok"), 1, "1048576 entries via a sealed memfd are applied");
        tap_is_int(fi(r, "result.messages"), (n + 510) / 511, "in ceil(n / 511) messages");
        tap_diag("1048576 memfd entries: %.3f s, %.0f entries/s", dt, n / dt);
        free(r);
        uint8_t *want = blank_map();
        apply(want, e, n, SIZE_MAX);
        tap_is_int(peer_stop(&p), 0, "peer done");
        compare_maps(&p, 1, want, "1048576 memfd entries applied in order");
        delegate_ctx_free(c);
        free(want);
        free(e);
}

/*
 * kvmi.connect: the channel owns the descriptor the request carried.  A dup
 * of it kept beside the request's own left that one to the closing thread,
 * which empties an AF_UNIX socket before it closes it: what QEMU sent then
 * (an answer, the UNHOOK event) was read there and lost, and the channel
 * timed out (kvmi-handshakes failed so, 1 run in ~60 on a busy machine).
 * With the thread holding each descriptor 2 s, the broker holds the
 * connection once, and requests over it go on being answered past then.
 */
static void connect_owned(harness *h) {
        tap_is_int(harness_restart_broker_env(h, "DELEGATE_TEST_CLOSER_DELAY_MS", "2000"), 0,
                   "the broker restarts, its closing thread waiting 2 s before each descriptor");
        const size_t n = 2500;
        kvmi_page_access_entry *e = calloc(n, sizeof(*e));
        gen_entries(e, n, 5);
        delegate_ctx *c = open_ctx("vm-a");
        peer p;
        tap_ok(attach_connect(c, &p, "vm-a", false, NULL, NULL, NULL), "QEMU's connection is handed over: ready");
        static char fds[8192];
        char link[64];
        harness_fd_list(h->broker_pid, fds, sizeof(fds));
        snprintf(link, sizeof(link), ":socket:[%lu]", connect_ino);
        int copies = 0;
        for (const char *q = fds; (q = strstr(q, link)); q += strlen(link))
                copies++;
        if (!tap_is_int(copies, 1, "the broker holds QEMU's connection once (none waits for the closing thread)"))
                tap_diag("%s: %s", link, fds);
        /* past the 2 s, with QEMU's answers coming all the time */
        int ok = 0, tries = 0;
        for (double t0 = now_s(); now_s() - t0 < 3; tries++) {
                size_t reqs;
                char *r = send_inline(c, e, n, n, &reqs);
                if (!r)
                        ok++;
                else if (tries - ok == 0)
                        tap_diag("refused: %s", r);
                free(r);
        }
        tap_is_int(ok, tries, "%d requests of 2500 entries over 3 s are all applied", tries);
        tap_is_int(peer_stop(&p), 0, "QEMU shuts down");
        char *s = wait_channel(c, "closed");
        tap_has_str(fs(s, "result.kvmi.closed_because"), "QEMU unhooked", "the broker read its UNHOOK event (%s)",
                    fs(s, "result.kvmi.closed_because"));
        free(s);
        delegate_ctx_free(c);
        free(e);
}

static void first_error(harness *h) {
        const size_t n = 2000;
        kvmi_page_access_entry *e = calloc(n, sizeof(*e));
        gen_entries(e, n, 3);
        /* gfns 1000000-1000099 are invisible to the kernel though inside the guest's RAM */
        e[700].gpa = (uint64_t) 1000005 << 12;
        e[700].access = 1;
        e[1500].gpa = (uint64_t) 1000009 << 12;
        e[600] = (kvmi_page_access_entry) { .gpa = 77 << 12, .access = 1 };
        e[800] = (kvmi_page_access_entry) { .gpa = 77 << 12, .access = 2 }; /* overrides 600 */
        for (size_t i = 0; i < n; i++)
                if (i != 700 && i != 1500 && (e[i].gpa >> 12) >= 1000000 && (e[i].gpa >> 12) < 1000100)
                        e[i].gpa = 5 << 12;
        delegate_ctx *c = open_ctx("vm-a");
        peer p;
        attach_connect(c, &p, "vm-a", false, NULL, "--hole", "1000000-1000100");

        /* a page beyond max_gpa: refused before anything is sent */
        char *s = call(c, "state.get", NULL, NULL, 0, NULL);
        int64_t sent = fi(s, "result.kvmi.messages_sent");
        free(s);
        kvmi_page_access_entry beyond[2] = { { .gpa = 0x1000, .access = 1 },
                                              { .gpa = (uint64_t) (PAGES + 5) << 12, .access = 1 } };
        int mfd = make_memfd(beyond, 2, true);
        char *r = call(c, "kvmi.set-page-access", "{\"memfd\":0}", &mfd, 1, NULL);
        close(mfd);
        tap_is_int(fi(r, "error.errno"), ERANGE, "an entry beyond the guest's RAM is refused (ERANGE)");
        tap_has_str(fs(r, "error.message"), "entry 1: gpa 0x200005000 is beyond the guest's RAM (QEMU's hello: max_gpa "
                                            "0x200000000); nothing was sent",
                    "naming the entry and max_gpa");
        free(r);
        s = call(c, "state.get", NULL, NULL, 0, NULL);
        tap_is_int(fi(s, "result.kvmi.messages_sent"), sent, "nothing was sent to the kernel");
        free(s);

        mfd = make_memfd(e, n, true);
        r = call(c, "kvmi.set-page-access", "{\"memfd\":0}", &mfd, 1, NULL);
        close(mfd);
        tap_is_int(fi(r, "ok"), 0, "a batch with invisible gfns fails");
        tap_is_int(fi(r, "error.errno"), EINVAL, "with the kernel's EINVAL");
        tap_has_str(fs(r, "error.message"), "refused entry 700 ", "the error names the first failing entry, 700");
        tap_has_str(fs(r, "error.message"), "2 refused in all, the other 1998 entries were applied",
                    "and says how many were refused and applied");
        free(r);
        uint8_t *want = blank_map();
        for (size_t i = 0; i < n; i++)
                if (i != 700 && i != 1500)
                        want[e[i].gpa >> 12] = e[i].access;
        stop_and_compare(&p, want, "every valid entry applied, a later entry still overriding an earlier one");
        delegate_ctx_free(c);
        free(e);
}

static void policy_refusals(harness *h) {
        delegate_ctx *c = open_ctx("vm-a");
        peer p;
        attach_connect(c, &p, "vm-a", false, NULL, NULL, NULL);
        char *s = call(c, "state.get", NULL, NULL, 0, NULL);
        int64_t sent = fi(s, "result.kvmi.messages_sent");
        free(s);
        char *r = call(c, "kvmi.set-page-access", "{\"entries\":[[4096,\"r\"],[\"0x280000000\",\"r\"]]}", NULL, 0, NULL);
        tap_is_str(fs(r, "error.code"), "denied", "an entry outside the rule's gpa ranges is denied");
        tap_has_str(fs(r, "error.message"), "entry 1: page of gpa 0x280000000 is outside", "naming the entry");
        tap_is_str(fs(r, "error.rule"), "kvmi-test", "and the rule");
        free(r);
        kvmi_page_access_entry e[3] = { { .gpa = 0x1000, .access = 1 }, { .gpa = 0x2000, .access = 1 },
                                         { .gpa = 0x3ffffffff000ULL + 0x1000, .access = 1 } };
        int mfd = make_memfd(e, 3, true);
        r = call(c, "kvmi.set-page-access", "{\"memfd\":0}", &mfd, 1, NULL);
        close(mfd);
        tap_is_str(fs(r, "error.code"), "denied", "a memfd entry outside the ranges is denied");
        tap_has_str(fs(r, "error.message"), "entry 2", "naming entry 2");
        free(r);
        e[2].gpa = 0x3000;
        e[2].padding[3] = 1;
        mfd = make_memfd(e, 3, true);
        r = call(c, "kvmi.set-page-access", "{\"memfd\":0}", &mfd, 1, NULL);
        close(mfd);
        tap_has_str(fs(r, "error.message"), "memfd entry 2: padding is not zero", "nonzero entry padding is refused");
        free(r);
        r = call(c, "kvmi.set-page-access", "{\"entries\":[[4096,\"rwxx\"]]}", NULL, 0, NULL);
        tap_is_str(fs(r, "error.code"), "bad-request", "a malformed access string is a bad request");
        free(r);
        s = call(c, "state.get", NULL, NULL, 0, NULL);
        tap_is_int(fi(s, "result.kvmi.messages_sent"), sent, "nothing was sent to the peer for refused requests");
        free(s);
        stop_and_compare(&p, blank_map(), "an untouched map");

        delegate_ctx *k = open_ctx("keyed-b");
        r = call(k, "kvmi.set-page-access", "{\"entries\":[[4096,\"r-x\"]]}", NULL, 0, NULL);
        tap_has_str(fs(r, "error.message"), "access 'r-x' has bits outside the rule's kvmi access 'rw-'",
                    "access bits outside the rule are denied");
        free(r);
        kvmi_page_access_entry *many = calloc(1001, sizeof(*many));
        mfd = make_memfd(many, 1001, true);
        r = call(k, "kvmi.set-page-access", "{\"memfd\":0}", &mfd, 1, NULL);
        close(mfd);
        tap_is_str(fs(r, "error.code"), "too-large", "1001 memfd entries over max_entries 1000: too-large");
        free(r);
        free(many);
        r = call(k, "kvmi.set-page-access", "{\"entries\":[[4096,\"r\"]]}", NULL, 0, NULL);
        tap_is_str(fs(r, "error.code"), "not-found", "set-page-access before any attach: not-found");
        tap_has_str(fs(r, "error.message"), "kvmi.attach first", "the message says what to do");
        free(r);
        delegate_ctx_free(k);
        delegate_ctx_free(c);
}

static void peer_close(harness *h) {
        const size_t n = 5000;
        kvmi_page_access_entry *e = calloc(n, sizeof(*e));
        gen_entries(e, n, 11);
        delegate_ctx *c = open_ctx("vm-a");
        peer p;
        attach_connect(c, &p, "vm-a", false, NULL, "--close-after", "3");
        char *r = spa_memfd(c, e, n, NULL);
        tap_is_int(fi(r, "error.errno"), EPIPE, "a kernel closing mid-batch fails the request with EPIPE");
        tap_has_str(fs(r, "error.message"), "closed the connection", "saying the peer closed the connection");
        free(r);
        uint8_t *want = blank_map();
        apply(want, e, 3 * 511, SIZE_MAX);
        compare_maps(&p, 1, want, "the 3 answered messages");
        /* QEMU reconnects by itself: the shadow (what the kernel confirmed) is re-applied */
        r = connect_next(c);
        tap_is_int(fi(r, "ok"), 1, "QEMU's reconnection is handed over and ready");
        tap_is_int(fi(r, "result.reapplied.pages"), restricted(want), "the shadow holds the 3 answered messages");
        tap_is_int(fi(r, "result.reapplied.applied"), restricted(want), "all re-applied");
        free(r);
        peer_stop(&p);
        compare_maps(&p, 2, want, "the re-applied shadow on connection 2");
        free(want);
        delegate_ctx_free(c);
        free(e);
}

/*
 * The broker sends a batch's entries from the batch itself (no copy), so an
 * answer must not end a batch whose messages still wait to be sent: a
 * kernel answering commands it has not read yet (the broker's socket buffer
 * made small, so that most of the 64 in flight wait in the broker) is a
 * protocol error, and nothing is sent from a batch that ended.
 */
static void answer_ahead(harness *h) {
        const size_t n = 100000;
        kvmi_page_access_entry *e = calloc(n, sizeof(*e));
        gen_entries(e, n, 13);
        delegate_ctx *c = open_ctx("vm-a");
        peer p;
        connect_sndbuf = 16384;
        attach_connect(c, &p, "vm-a", false, NULL, "--answer-ahead", "63");
        connect_sndbuf = 0;
        char *r = spa_memfd(c, e, n, NULL);
        tap_ok(peer_said(&p, "answered-ahead 1 63"), "the kernel answered 63 commands before reading them");
        tap_is_int(fi(r, "error.errno"), EPROTO, "an answer to a command not sent whole fails the request (%s)", r);
        tap_has_str(fs(r, "error.message"), "before it was sent whole", "saying so");
        free(r);
        char *s = wait_idle(c);
        tap_is_str(fs(s, "result.kvmi.channel"), "closed", "the connection is closed");
        tap_ok(fi(s, "result.kvmi.shadow.pages") < (int64_t) n, "the shadow holds only answered messages sent whole");
        free(s);
        s = call(c, "ping", NULL, NULL, 0, NULL);
        tap_is_int(fi(s, "ok"), 1, "the broker goes on");
        free(s);
        peer_stop(&p);
        delegate_ctx_free(c);
        free(e);
}

static void reattach(harness *h) {
        const size_t n = 10000;
        kvmi_page_access_entry *e = calloc(n, sizeof(*e));
        gen_entries(e, n, 5);
        delegate_ctx *c = open_ctx("vm-a");
        peer p;
        attach_connect(c, &p, "vm-a", false, NULL, NULL, NULL);
        size_t reqs;
        char *r = send_inline(c, e, n, 2500, &reqs);
        tap_ok(!r, "10000 entries applied");
        free(r);
        kill(p.pid, SIGKILL); /* QEMU dies */
        waitpid(p.pid, NULL, 0);
        char *s = wait_channel(c, "closed");
        tap_is_str(fs(s, "result.kvmi.channel"), "closed", "the broker notices QEMU is gone");
        tap_has_str(fs(s, "result.kvmi.closed_because"), "closed the connection", "state.get: QEMU closed it");
        free(s);
        peer_start(&p, "vm-a", NULL, NULL); /* a new QEMU (say, the migration target) */
        r = connect_next(c);
        uint8_t *want = blank_map();
        apply(want, e, n, SIZE_MAX);
        tap_is_int(fi(r, "result.reapplied.applied"), restricted(want), "the new connection gets the shadow");
        free(r);
        r = call(c, "kvmi.detach", NULL, NULL, 0, NULL);
        tap_is_int(fi(r, "result.forgotten_pages"), restricted(want), "kvmi.detach drops the shadow");
        free(r);
        peer_stop(&p);
        compare_maps(&p, 1, want, "the shadow re-applied to a new QEMU");
        attach_connect(c, &p, "vm-a", false, NULL, NULL, NULL);
        peer_stop(&p);
        memset(want, 7, PAGES);
        compare_maps(&p, 1, want, "nothing re-applied after a detach");
        delegate_ctx_free(c);
        free(want);
        free(e);
}

static void timeout(harness *h) {
        const size_t n = 3000;
        kvmi_page_access_entry *e = calloc(n, sizeof(*e));
        gen_entries(e, n, 13);
        delegate_ctx *c = open_ctx("vm-a");
        peer p;
        attach_connect(c, &p, "vm-a", false, NULL, "--silent-after", "2");
        int mfd = make_memfd(e, n, true);
        pid_t pinger = fork();
        if (pinger == 0) { /* another client is served while the peer is silent */
                delegate_ctx *o = open_ctx("vm-z");
                usleep(500000);
                char *x = call(o, "ping", NULL, NULL, 0, NULL);
                _exit(fi(x, "ok") == 1 ? 0 : 1);
        }
        double t0 = now_s();
        char *r = call(c, "kvmi.set-page-access", "{\"memfd\":0}", &mfd, 1, NULL);
        double dt = now_s() - t0;
        close(mfd);
        tap_is_int(fi(r, "error.errno"), ETIMEDOUT, "a silent kernel fails the request with ETIMEDOUT");
        tap_has_str(fs(r, "error.message"), "did not answer VM_SET_PAGE_ACCESS", "naming the command");
        tap_ok(dt >= 4.0 && dt < 15.0, "after the 5 s without progress (%.1f s)", dt);
        free(r);
        int st;
        waitpid(pinger, &st, 0);
        tap_ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "another client was answered meanwhile");
        peer_stop(&p);
        delegate_ctx_free(c);
        free(e);
}

/* A kernel slower than 5 s / 64 per message, but making progress: no timeout. */
static void slow(harness *h) {
        const size_t n = 70 * 511;
        kvmi_page_access_entry *e = calloc(n, sizeof(*e));
        gen_entries(e, n, 17);
        delegate_ctx *c = open_ctx("vm-a");
        peer p;
        attach_connect(c, &p, "vm-a", false, NULL, "--delay-ms", "100");
        double dt;
        char *r = spa_memfd(c, e, n, &dt);
        tap_is_int(fi(r, "ok"), 1, "70 messages at 100 ms each (64 in flight) finish in %.1f s (%s)", dt, r);
        free(r);
        uint8_t *want = blank_map();
        apply(want, e, n, SIZE_MAX);
        stop_and_compare(&p, want, "every entry applied");
        delegate_ctx_free(c);
        free(e);
}

/* QEMU hooks the socket, then grants permissions: -KVM_EPERM for a while. */
static void eperm(harness *h) {
        delegate_ctx *c = open_ctx("vm-a");
        peer p;
        attach(c, false, NULL, 0);
        peer_start(&p, "vm-a", NULL, "--eperm-ms", "700", "--deny-info", NULL);
        char *r = connect_next(c);
        tap_is_int(fi(r, "ok"), 1, "commands answered -KVM_EPERM at first are retried: ready (%s)", r);
        tap_ok(fi(r, "result.eperm_retries") > 0, "after %" PRIi64 " retries", fi(r, "result.eperm_retries"));
        tap_is_int(fi(r, "result.unhook"), 1, "UNHOOK enabled once granted");
        tap_is_int(fi(r, "result.vcpus"), 0, "VM_GET_INFO, never allowed here, is not needed");
        free(r);
        tap_ok(peer_said(&p, "eperm 1 4") || peer_said(&p, "eperm 1 10"), "the kernel did answer -KVM_EPERM");
        r = call(c, "kvmi.set-page-access", "{\"entries\":[[4096,\"r\"]]}", NULL, 0, NULL);
        tap_is_int(fi(r, "ok"), 1, "pages are programmed");
        free(r);
        uint8_t *want = blank_map();
        want[1] = 1;
        stop_and_compare(&p, want, "the page");
        delegate_ctx_free(c);
}

static void enoent(harness *h) {
        delegate_ctx *c = open_ctx("vm-a");
        peer p;
        attach(c, false, NULL, 0);
        peer_start(&p, "vm-a", NULL, "--no-spa", NULL);
        char *r = connect_next(c);
        tap_is_int(fi(r, "error.errno"), EOPNOTSUPP, "VM_CHECK_COMMAND -KVM_ENOENT: EOPNOTSUPP");
        tap_has_str(fs(r, "error.message"), "does not support VM_SET_PAGE_ACCESS (VM_CHECK_COMMAND: -KVM_ENOENT)",
                    "reported as unsupported");
        tap_ok(!strstr(fs(r, "error.message"), "not allowed"), "not as 'not allowed'");
        free(r);
        peer_stop(&p);
        /* permissions never granted: that one is 'not allowed', once the retries are over */
        attach(c, false, NULL, 0);
        peer_start(&p, "vm-a", NULL, "--eperm-ms", "600000", NULL);
        r = connect_next(c);
        tap_is_int(fi(r, "error.errno"), EPERM, "VM_CHECK_COMMAND -KVM_EPERM for good: EPERM");
        tap_has_str(fs(r, "error.message"), "VM_SET_PAGE_ACCESS is not allowed for this VM", "reported as not allowed");
        tap_has_str(fs(r, "error.message"), "command=20", "naming what QEMU must allow");
        free(r);
        peer_stop(&p);
        delegate_ctx_free(c);
}

/* Pause, resume, reset: UNHOOK, reconnection, the shadow re-applied each time. */
static void unhook(harness *h) {
        const size_t n = 3000;
        kvmi_page_access_entry *e = calloc(n, sizeof(*e));
        gen_entries(e, n, 19);
        delegate_ctx *c = open_ctx("vm-a");
        peer p;
        attach_connect(c, &p, "vm-a", false, NULL, NULL, NULL);
        int mfd = make_memfd(e, n, true);
        free(call(c, "kvmi.set-page-access", "{\"memfd\":0}", &mfd, 1, NULL));
        close(mfd);
        uint8_t *want = blank_map();
        apply(want, e, n, SIZE_MAX);
        kill(p.pid, SIGUSR1); /* pause */
        tap_ok(peer_said(&p, "closed 1 by-tool-after-unhook"), "pause: UNHOOK event, the broker closes at once");
        compare_maps(&p, 1, want, "the restrictions held until the unhook");
        char *s = wait_idle(c);
        tap_has_str(fs(s, "result.kvmi.closed_because"), "QEMU unhooked", "state.get: unhooked");
        tap_is_int(fi(s, "result.kvmi.shadow.pages"), restricted(want), "the shadow stays");
        free(s);
        kill(p.pid, SIGUSR2); /* resume: QEMU reconnects */
        char *r = connect_next(c);
        tap_is_int(fi(r, "result.connection"), 2, "resume: QEMU reconnects with a fresh hello");
        tap_is_int(fi(r, "result.reapplied.applied"), restricted(want), "the shadow is re-applied");
        free(r);
        kill(p.pid, SIGHUP); /* guest reset: dropped without warning */
        r = connect_next(c);
        tap_is_int(fi(r, "result.connection"), 3, "reset: QEMU reconnects again");
        tap_is_int(fi(r, "result.reapplied.applied"), restricted(want), "re-applied again");
        free(r);
        tap_is_int(peer_stop(&p), 0, "shutdown");
        compare_maps(&p, 2, want, "after resume");
        compare_maps(&p, 3, want, "after reset");
        free(want);
        delegate_ctx_free(c);
        free(e);
}

/* Pages the kernel refuses (or beyond the RAM) on a re-apply leave the shadow, and the client is told. */
static void reapply_refused(harness *h) {
        const size_t n = 400;
        kvmi_page_access_entry e[400];
        for (size_t i = 0; i < n; i++) /* 200 low, 100 in the new QEMU's hole, 100 beyond its RAM */
                e[i] = (kvmi_page_access_entry) {
                        .gpa = (uint64_t) (i < 200 ? 10 + i : i < 300 ? 500000 + i : PAGES - 1000 + i) << 12,
                        .access = 1 };
        delegate_ctx *c = open_ctx("vm-a");
        peer p;
        attach_connect(c, &p, "vm-a", false, NULL, NULL, NULL);
        char *r = spa_memfd(c, e, n, NULL);
        tap_is_int(fi(r, "result.shadow_pages"), 400, "400 pages programmed");
        free(r);
        kill(p.pid, SIGKILL);
        waitpid(p.pid, NULL, 0);
        char *s = wait_channel(c, "closed");
        tap_is_str(fs(s, "result.kvmi.channel"), "closed", "the broker notices QEMU is gone");
        free(s);
        char pages[32];
        snprintf(pages, sizeof(pages), "%u", PAGES - 800);
        peer_start(&p, "vm-a", NULL, "--hole", "500000-501000", "--pages", pages, NULL);
        r = connect_next(c);
        tap_is_int(fi(r, "result.reapplied.pages"), 400, "re-apply: 400 shadow pages");
        tap_is_int(fi(r, "result.reapplied.beyond_ram"), 100, "100 beyond the new max_gpa, not sent");
        tap_is_int(fi(r, "result.reapplied.refused"), 100, "100 refused by the kernel");
        tap_is_int(fi(r, "result.reapplied.applied"), 200, "200 applied");
        tap_is_int(fi(r, "result.shadow_pages"), 200, "the shadow keeps only what the kernel holds");
        free(r);
        s = call(c, "state.get", NULL, NULL, 0, NULL);
        tap_is_int(fi(s, "result.kvmi.shadow.pages"), 200, "state.get agrees: 200");
        tap_is_int(fi(s, "result.kvmi.last_reapply.refused"), 100, "and reports the refusals");
        free(s);
        uint8_t *want = blank_map();
        for (size_t i = 0; i < 200; i++)
                want[10 + i] = 1;
        stop_and_compare(&p, want, "the 200 pages the kernel holds");
        delegate_ctx_free(c);
}

/*
 * --max-kvmi-pages counts the requests under way: three requests of 40 pages sent back to back
 * (the kernel answers each message after 300 ms, so the first is still in flight when the third
 * arrives) against a limit of 100: the third could take the shadow to 120 and is refused.
 */
static void queued_limit(harness *h) {
        harness_stop_broker(h);
        const char *const args[] = { "--max-kvmi-pages", "100", NULL };
        tap_is_int(harness_start_broker_args(h, args), 0, "the broker restarts with --max-kvmi-pages 100");
        delegate_ctx *c = open_ctx("vm-a");
        peer p;
        attach_connect(c, &p, "vm-a", false, NULL, "--delay-ms", "300");
        int fd = delegate_ctx_fd(c);
        uint8_t *want = blank_map();
        for (int k = 0; k < 3; k++) {
                char req[2048];
                int len = snprintf(req, sizeof(req), "{\"id\":%d,\"op\":\"kvmi.set-page-access\",\"args\":{\"entries\":[",
                                   9001 + k);
                for (int i = 0; i < 40; i++)
                        len += snprintf(req + len, sizeof(req) - len, "%s[%d,\"r\"]", i ? "," : "", (k * 40 + i + 1) * 4096);
                snprintf(req + len, sizeof(req) - len, "]}}");
                tap_is_int(raw_send(fd, req, strlen(req)), 0, "request %d of 40 pages sent without waiting", k + 1);
                for (int i = 0; i < 40 && k < 2; i++)
                        want[k * 40 + i + 1] = 1;
        }
        int ok[3] = { -1, -1, -1 };
        for (int k = 0; k < 3; k++) {
                char *r = raw_recv(fd, 5000);
                int64_t id = r ? fi(r, "id") - 9001 : -1;
                if (id < 0 || id > 2) {
                        tap_diag("unexpected reply %s", r ? r : "(none)");
                        free(r);
                        continue;
                }
                ok[id] = strstr(r, "\"error\"") == NULL;
                if (id == 2) {
                        tap_is_int(fi(r, "error.errno"), ENOSPC, "the third, crossing the limit, is refused: ENOSPC (%s)", r);
                        tap_is_str(fs(r, "error.code"), "too-large", "too-large");
                        tap_has_str(fs(r, "error.message"), "could exceed its limit of 100 (--max-kvmi-pages)",
                                    "naming the limit");
                }
                free(r);
        }
        tap_ok(ok[0] == 1 && ok[1] == 1, "the first two (80 pages) are applied");
        char *s = wait_idle(c);
        tap_is_int(fi(s, "result.kvmi.shadow.pages"), 80, "state.get: the shadow holds 80 pages, within the limit");
        free(s);
        stop_and_compare(&p, want, "the kernel holds the 80 pages of the first two");
        delegate_ctx_free(c);
}

/* delegatectl kvmi run: the program it starts connects to $DELEGATE_KVMI_SOCKET like QEMU. */
static void ctl_run(harness *h) {
        char *out = NULL;
        int r = harness_sh(&out,
                           "(sleep 1; printf 'set 0x1000 r-- 0x2000 ---\\nstate\\n') | %s --socket %s --vm vm-a kvmi run "
                           "--unkeyed -- sh -c 'exec %s --connect \"$DELEGATE_KVMI_SOCKET\" --name vm-a --pages 1024 "
                           "--connections 1 --map /run/delegate-test/ctl-map' 2>&1",
                           getenv("DELEGATECTL"), HARNESS_SOCKET, getenv("DELEGATE_KVMI_PEER"));
        tap_is_int(r, 0, "delegatectl kvmi run succeeds");
        tap_has_str(out ? out : "", "\"connection\":1", "it handed the program's connection over (kvmi.connect)");
        tap_has_str(out ? out : "", "\"shadow_pages\":2", "and programmed 2 pages");
        free(out);
        uint8_t m[1024];
        FILE *f = fopen("/run/delegate-test/ctl-map.1", "re");
        tap_ok(f && fread(m, 1, sizeof(m), f) == sizeof(m) && m[1] == 1 && m[2] == 0 && m[3] == 7,
               "the kernel held page 1 r--, page 2 ---");
        if (f)
                fclose(f);
}

/*
 * A session saved with a keyed channel's kvmi.attach answer in its retry
 * cache: the state files hold no "secret" (the channel is not kept across
 * restarts, so neither is its answer; the broker's files are read as
 * they are on disk, the session saved as the broker stops with it).
 */
static void state_file(harness *h) {
        delegate_ctx *c = open_ctx("vm-a");
        char *r = call(c, "kvmi.attach", "{\"keyed\":true}", NULL, 0, NULL);
        const char *secret = fs(r, "result.secret");
        char held[80];
        snprintf(held, sizeof(held), "%s", secret ? secret : "");
        tap_is_int(fi(r, "ok"), 1, "kvmi.attach (keyed): the secret in the answer (%zu characters)", strlen(held));
        free(r);
        r = call(c, "ping", NULL, NULL, 0, NULL);
        int64_t session = fi(r, "result.session");
        free(r);
        int st = harness_stop_broker(h);
        tap_ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "SIGTERM stops the broker, the session saved");
        char path[128], text[65536] = "", other[65536] = "";
        snprintf(path, sizeof(path), "/run/delegate/state/session-%" PRId64 ".json", session);
        harness_read_file(path, text, sizeof(text));
        snprintf(path, sizeof(path), "/run/delegate/state/session-%" PRId64 ".b.json", session);
        harness_read_file(path, other, sizeof(other));
        tap_ok(strstr(text, "\"sent\":[") || strstr(other, "\"sent\":["), "session %" PRId64 "'s state file is there",
               session);
        tap_ok(held[0] && !strstr(text, held) && !strstr(other, held) && !strstr(text, "\"secret\"") &&
                       !strstr(other, "\"secret\""),
               "  and holds neither the secret nor a \"secret\" key");
        tap_ok(strstr(text, "\"pong\":true") || strstr(other, "\"pong\":true"), "  (the ping's answer is in it)");
        delegate_ctx_free(c);
        tap_is_int(harness_start_broker(h), 0, "the broker starts again");
}

static const scenario scenarios[] = {
        { "kvmi-handshakes", policy_kvmi, handshakes },
        { "kvmi-inline-100k", policy_kvmi, inline_100k },
        { "kvmi-memfd-1m", policy_kvmi, memfd_1m },
        { "kvmi-connect-owned", policy_kvmi, connect_owned },
        { "kvmi-first-error", policy_kvmi, first_error },
        { "kvmi-policy", policy_kvmi, policy_refusals },
        { "kvmi-peer-close", policy_kvmi, peer_close },
        { "kvmi-answer-ahead", policy_kvmi, answer_ahead },
        { "kvmi-reattach", policy_kvmi, reattach },
        { "kvmi-timeout", policy_kvmi, timeout },
        { "kvmi-slow", policy_kvmi, slow },
        { "kvmi-eperm", policy_kvmi, eperm },
        { "kvmi-enoent", policy_kvmi, enoent },
        { "kvmi-unhook", policy_kvmi, unhook },
        { "kvmi-reapply-refused", policy_kvmi, reapply_refused },
        { "kvmi-delegatectl", policy_kvmi, ctl_run },
        { "kvmi-queued-limit", policy_kvmi, queued_limit },
        { "kvmi-state-file", policy_kvmi, state_file },
};

int main(int argc, char **argv) {
        return harness_main(argc, argv, scenarios, sizeof(scenarios) / sizeof(scenarios[0]));
}
