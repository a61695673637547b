/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-limits - the broker's limits against hostile and greedy clients
 * (delegate-broker(8), LIMITS): too many clients, sessions per uid,
 * requests in flight, message size, request rate (socket and D-Bus), fd
 * floods, a client that never reads, several requests waiting at once (one
 * read ahead of its turn), descriptors whose last close waits (a
 * lingering socket), the hello timeout, TAP devices and
 * KVMI pages per session, the start-up warning about descriptors.  Each
 * scenario restarts its broker with the limit set low, hits it, and checks
 * what the client sees and that the broker's fds (/proc/PID/fd) and memory
 * (VmRSS) stay bounded and other clients are still served.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static const char policy_limits[] =
        "{ \"version\": 1,\n"
        "  \"rules\": [\n"
        "    { \"name\": \"pods\",\n"
        "      \"match\": { \"uid\": \"1000-1999\", \"cgroup\": \"/kubepods.slice/*\" },\n"
        "      \"memlock\": { \"max\": \"1G\" },\n"
        "      \"tap\": { \"template\": \"vnet%d\", \"max_devices\": 3 },\n"
        "      \"bridge\": { \"names\": \"br0\" } },\n"
        "    { \"name\": \"node-raw\",\n"
        "      \"match\": { \"uid\": [0, 1000, 1001], \"cgroup\": \"/system\" },\n"
        "      \"kvmi\": { \"gpa\": [\"0-0xfffffff\"], \"access\": \"rwx\", \"max_entries\": 100000,\n"
        "                  \"require_key\": false } }\n"
        "  ]\n"
        "}\n";

/* --- helpers --- */

static uint64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Restart the broker with the limit options in the NULL-terminated list. */
static void restart(harness *h, ...) {
        const char *args[16];
        size_t n = 0;
        va_list ap;
        va_start(ap, h);
        for (const char *a; n < 15 && (a = va_arg(ap, const char *));)
                args[n++] = a;
        va_end(ap);
        args[n] = NULL;
        harness_stop_broker(h);
        int r = harness_start_broker_args(h, args);
        tap_is_int(r, 0, "the broker restarts with %s %s", args[0], n > 1 ? args[1] : "");
}

/* A raw connection whose SO_PEERCRED says @uid (the effective uid at connect). */
static int connect_as(uid_t uid) {
        if (setresuid(-1, uid, -1) < 0)
                return -errno;
        int fd = raw_connect();
        setresuid(-1, 0, -1);
        return fd;
}

static bool hello(int fd, const char *vm) {
        char msg[160];
        snprintf(msg, sizeof(msg), "{\"type\":\"hello\",\"api\":1,\"client\":\"limits\"%s%s%s}", vm ? ",\"vm\":\"" : "",
                 vm ? vm : "", vm ? "\"" : "");
        if (raw_send(fd, msg, strlen(msg)) < 0)
                return false;
        char *w = raw_recv(fd, 5000);
        bool ok = w && strcmp(jstr(w, "type"), "welcome") == 0;
        if (!ok)
                tap_diag("hello answered with %s", w ? w : "(nothing)");
        free(w);
        return ok;
}

static int hello_as(uid_t uid, const char *vm) {
        int fd = connect_as(uid);
        if (fd >= 0 && !hello(fd, vm)) {
                close(fd);
                return -1;
        }
        return fd;
}

static char *call(int fd, const char *msg) {
        if (raw_send(fd, msg, strlen(msg)) < 0)
                return NULL;
        return raw_recv(fd, 5000);
}

/* One datagram carrying @fds (SCM_RIGHTS), each once: 253 at most. */
static int send_fd_list(int fd, const char *msg, const int *fds, size_t n) {
        struct iovec iov = { .iov_base = (void *) msg, .iov_len = strlen(msg) };
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int) * 253)];
        } ctl;
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                             .msg_controllen = CMSG_SPACE(sizeof(int) * n) };
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int) * n);
        memcpy(CMSG_DATA(cm), fds, sizeof(int) * n);
        return sendmsg(fd, &mh, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

/* One datagram carrying @n copies of @pass. */
static int send_fds(int fd, const char *msg, int pass, size_t n) {
        int fds[253];
        for (size_t i = 0; i < n && i < 253; i++)
                fds[i] = pass;
        return send_fd_list(fd, msg, fds, n < 253 ? n : 253);
}

/* How many lines of the broker's log contain @needle. */
static int log_count(const char *needle) {
        char cmd[256], *out = NULL;
        snprintf(cmd, sizeof(cmd), "grep -c -- '%s' " HARNESS_BROKER_LOG, needle);
        harness_sh(&out, "%s", cmd);
        int n = out ? atoi(out) : -1;
        free(out);
        return n;
}

static void start_client(harness *h, tclient *c, uid_t uid, const char *vm) {
        if (tclient_start(h, c, "kubepods.slice/pod-a", uid, uid, vm) < 0)
                tap_ok(0, "start test-client as uid %u", (unsigned) uid);
}

static void ping_ok(tclient *c, const char *when) {
        char *r = tclient_call(c, "ping");
        tap_is_int(jint(r, "ok"), 1, "another client is still served %s (%s)", when, r);
        free(r);
}

/* --- scenarios --- */

static void limit_clients(harness *h) {
        restart(h, "--max-clients", "3", NULL);
        int fds0 = harness_fd_count(h->broker_pid); /* what it holds without clients */
        static char list0[8192], list1[8192];
        harness_fd_list(h->broker_pid, list0, sizeof(list0));
        int fd[3];
        for (int i = 0; i < 3; i++)
                fd[i] = hello_as(0, NULL);
        tap_ok(fd[0] >= 0 && fd[1] >= 0 && fd[2] >= 0, "three clients are served");

        int x = raw_connect();
        char *r = raw_recv(x, 5000);
        tap_is_str(jstr(r, "type"), "error", "the 4th connection gets an error at once, before any hello (%s)", r);
        tap_is_str(jstr(r, "code"), "rate-limited", "code rate-limited");
        tap_is_int(jint(r, "errno"), EAGAIN, "errno EAGAIN");
        tap_has_str(jstr(r, "message"), "at most 3 clients (--max-clients)", "the message names the limit");
        free(r);
        r = raw_recv(x, 2000);
        tap_ok(r == NULL, "and the connection is closed");
        free(r);
        close(x);

        for (int i = 0; i < 20; i++) {
                x = raw_connect();
                if (x >= 0)
                        close(x);
        }
        tap_ok(harness_log_contains("refused a connection"), "the refusal is logged");
        tap_is_int(log_count("refused a connection"), 1, "once for the whole burst of 21");

        tclient a;
        start_client(h, &a, 1000, "vm-a");
        r = tclient_call(&a, "ping");
        tap_is_str(jstr(r, "code"), "rate-limited", "libdelegate surfaces the refusal (%s)", r);
        tap_has_str(jstr(r, "message"), "--max-clients", "with the broker's message");
        free(r);
        close(fd[0]);
        r = NULL;
        for (int i = 0; i < 100; i++) { /* until the broker has seen the close */
                free(r);
                r = tclient_call(&a, "ping");
                if (jint(r, "ok") == 1)
                        break;
                usleep(20000);
        }
        tap_is_int(jint(r, "ok"), 1, "once a client leaves, a new one is served");
        free(r);
        tclient_stop(&a);
        close(fd[1]);
        close(fd[2]);
        if (!tap_is_int(harness_fd_count_settle(h->broker_pid, fds0, 2000), fds0,
                        "the broker holds no more fds than before")) {
                harness_fd_list(h->broker_pid, list1, sizeof(list1));
                tap_diag("before: %s", list0);
                tap_diag("after: %s", list1);
        }
}

static void limit_sessions_per_uid(harness *h) {
        restart(h, "--max-sessions-per-uid", "2", NULL);
        int a = hello_as(1000, NULL), b = hello_as(1000, NULL);
        tap_ok(a >= 0 && b >= 0, "uid 1000 opens two sessions");
        int c = connect_as(1000);
        char *r = raw_recv(c, 5000);
        tap_is_str(jstr(r, "code"), "rate-limited", "its third connection is refused: rate-limited (%s)", r);
        tap_is_int(jint(r, "errno"), EUSERS, "errno EUSERS");
        tap_has_str(jstr(r, "message"), "uid 1000 already has 2 connections", "naming the uid and the limit");
        free(r);
        close(c);
        int d = hello_as(1001, NULL);
        tap_ok(d >= 0, "uid 1001 is still served");
        r = call(a, "{\"id\":1,\"op\":\"ping\"}");
        tap_is_int(jint(r, "ok"), 1, "uid 1000's sessions go on");
        free(r);
        close(a);
        int e = -1;
        for (int i = 0; i < 100 && e < 0; i++) {
                e = hello_as(1000, NULL);
                if (e < 0)
                        usleep(20000);
        }
        tap_ok(e >= 0, "after one closes, uid 1000 may connect again");
        close(b);
        close(d);
        close(e);
}

static void limit_inflight(harness *h) {
        restart(h, "--max-inflight", "2", NULL);
        int fd = hello_as(0, "vm-l");
        tap_ok(fd >= 0, "a client with a VM name is served");
        char *r = call(fd, "{\"id\":1,\"op\":\"kvmi.attach\",\"args\":{\"keyed\":false}}");
        tap_ok(jint(r, "ok") == 1, "kvmi.attach opens the channel (%s)", r);
        free(r);
        /* a connection that never sends QEMU's hello: kvmi.connect and a page-access request wait */
        int sv[2];
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
        int qemu = sv[1];
        send_fds(fd, "{\"id\":2,\"op\":\"kvmi.connect\",\"args\":{\"socket\":0}}", sv[0], 1);
        close(sv[0]);
        raw_send(fd, "{\"id\":3,\"op\":\"kvmi.set-page-access\",\"args\":{\"entries\":[[4096,\"r\"]]}}",
                 strlen("{\"id\":3,\"op\":\"kvmi.set-page-access\",\"args\":{\"entries\":[[4096,\"r\"]]}}"));
        raw_send(fd, "{\"id\":4,\"op\":\"ping\"}", 20);
        r = raw_recv(fd, 1000);
        tap_ok(r == NULL, "with 2 requests in flight the 3rd is not read: no answer to the ping (%s)", r ? r : "");
        free(r);
        close(qemu); /* the connection closes: the waiting requests fail, reading resumes */
        int64_t order[3] = { -1, -1, -1 };
        for (int i = 0; i < 3; i++) {
                r = raw_recv(fd, 5000);
                order[i] = jint(r, "id");
                if (i < 2)
                        tap_is_int(jint(r, "ok"), 0, "request %" PRIi64 " fails as the channel closes", order[i]);
                else
                        tap_is_int(jint(r, "ok"), 1, "then the ping is answered");
                free(r);
        }
        tap_is_int(order[2], 4, "the ping's answer comes last");
        close(fd);
}

static void limit_message(harness *h) {
        restart(h, "--max-message", "2048", NULL);
        int fd = hello_as(0, NULL);
        char big[4096];
        snprintf(big, sizeof(big), "{\"id\":1,\"op\":\"ping\"%*s}", 3000, "");
        char *r = call(fd, big);
        tap_is_str(jstr(r, "error.code"), "too-large", "a 3 KiB request over --max-message 2048: too-large (%s)", r);
        tap_is_int(jint(r, "error.errno"), EMSGSIZE, "errno EMSGSIZE");
        tap_has_str(jstr(r, "error.message"), "larger than 2048 bytes (--max-message)", "naming the limit");
        free(r);
        char *huge = malloc(100 * 1024);
        memset(huge, ' ', 100 * 1024);
        raw_send(fd, huge, 100 * 1024);
        free(huge);
        r = raw_recv(fd, 5000);
        tap_is_str(jstr(r, "error.code"), "too-large", "a 100 KiB datagram: too-large");
        free(r);
        snprintf(big, sizeof(big), "{\"id\":2,\"op\":\"ping\"%*s}", 1900, "");
        r = call(fd, big);
        tap_is_int(jint(r, "ok"), 1, "a 1.9 KiB request is served on the same connection");
        free(r);
        close(fd);
}

/*
 * A client with several requests waiting at once (delegate-protocol(7) allows it): the broker handles one a
 * turn and reads the next with it (delegate-broker(8), "messages per wakeup"), so each is answered, in the
 * order sent; the one read ahead is refused or served like any other; hanging up with requests waiting
 * leaves no descriptor behind; with --max-inflight 1 reached, the requests behind wait (one of them read
 * ahead, held) and then go in order.  A read-ahead without memory (the test hook
 * DELEGATE_TEST_FAIL_READ_AHEAD): the client is told, and the connection closes.
 */
static void limit_read_ahead(harness *h) {
        restart(h, "--max-message", "2048", "--rate", "0", NULL);
        int fds0 = harness_fd_count_steady(h->broker_pid); /* once its start is over */
        int fd = hello_as(1000, NULL);
        tap_ok(fd >= 0, "a client connects");
        char req[64], big[4096];
        int sent = 0, in_order = 0;
        for (int id = 1; id <= 40; id++) {
                snprintf(req, sizeof(req), "{\"id\":%d,\"op\":\"ping\"}", id);
                sent += raw_send(fd, req, strlen(req)) == 0;
        }
        for (int id = 1; id <= 40; id++) {
                char *r = raw_recv(fd, 5000);
                in_order += jint(r, "id") == id && jint(r, "ok") == 1;
                bool none = r == NULL;
                free(r);
                if (none) /* one not answered: the rest would wait 5 s each */
                        break;
        }
        tap_is_int(sent, 40, "40 pings sent without waiting");
        tap_is_int(in_order, 40, "each is answered, in the order sent");

        /* a ping, a request over --max-message, a ping carrying a descriptor, a ping: all waiting at once */
        int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
        snprintf(big, sizeof(big), "{\"id\":42,\"op\":\"ping\"%*s}", 3000, "");
        raw_send(fd, "{\"id\":41,\"op\":\"ping\"}", strlen("{\"id\":41,\"op\":\"ping\"}"));
        raw_send(fd, big, strlen(big));
        send_fds(fd, "{\"id\":43,\"op\":\"ping\"}", devnull, 1);
        raw_send(fd, "{\"id\":44,\"op\":\"ping\"}", strlen("{\"id\":44,\"op\":\"ping\"}"));
        close(devnull);
        char *r = raw_recv(fd, 5000);
        tap_is_int(jint(r, "id"), 41, "the first ping is answered first (%s)", r ? r : "nothing");
        free(r);
        r = raw_recv(fd, 5000);
        tap_is_str(jstr(r, "error.code"), "too-large", "then the request over --max-message is refused (%s)",
                   r ? r : "nothing");
        free(r);
        r = raw_recv(fd, 5000);
        tap_is_int(jint(r, "id"), 43, "then the ping with a descriptor is answered (refused: it takes none) (%s)",
                   r ? r : "nothing");
        free(r);
        r = raw_recv(fd, 5000);
        tap_is_int(jint(r, "id"), 44, "and the last one (%s)", r ? r : "nothing");
        free(r);

        /* requests waiting, then a hang-up */
        for (int id = 45; id <= 52; id++) {
                snprintf(req, sizeof(req), "{\"id\":%d,\"op\":\"ping\"}", id);
                raw_send(fd, req, strlen(req));
        }
        close(fd);
        tap_is_int(harness_fd_count_settle(h->broker_pid, fds0, 2000), fds0,
                   "after a hang-up with 8 requests waiting the broker holds what it held before the client");
        tap_ok(kill(h->broker_pid, 0) == 0, "and runs on");

        /* --max-inflight 1: a kvmi.connect that waits for QEMU's hello holds the connection; the two pings
         * queued with it while the broker is stopped, one of them read with it, wait, then go in order */
        restart(h, "--max-inflight", "1", NULL);
        fd = hello_as(0, "vm-ra");
        r = call(fd, "{\"id\":1,\"op\":\"kvmi.attach\",\"args\":{\"keyed\":false}}");
        tap_ok(jint(r, "ok") == 1, "kvmi.attach opens the channel (%s)", r ? r : "nothing");
        free(r);
        int sv[2];
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
        kill(h->broker_pid, SIGSTOP);
        tap_ok(harness_all_stopped(h->broker_pid), "the broker is stopped, every thread of it (SIGSTOP)");
        int queued = send_fds(fd, "{\"id\":2,\"op\":\"kvmi.connect\",\"args\":{\"socket\":0}}", sv[0], 1) == 0;
        queued += raw_send(fd, "{\"id\":3,\"op\":\"ping\"}", strlen("{\"id\":3,\"op\":\"ping\"}")) == 0;
        queued += raw_send(fd, "{\"id\":4,\"op\":\"ping\"}", strlen("{\"id\":4,\"op\":\"ping\"}")) == 0;
        kill(h->broker_pid, SIGCONT);
        tap_is_int(queued, 3, "kvmi.connect and two pings queued at once");
        close(sv[0]);
        r = raw_recv(fd, 1000);
        tap_ok(r == NULL, "with kvmi.connect in flight (--max-inflight 1) no ping is answered (%s)", r ? r : "");
        free(r);
        close(sv[1]); /* QEMU's side closes: kvmi.connect fails, reading resumes */
        int64_t order[3] = { -1, -1, -1 };
        for (int i = 0; i < 3; i++) {
                r = raw_recv(fd, 5000);
                order[i] = jint(r, "id");
                free(r);
        }
        tap_ok(order[0] == 2 && order[1] == 3 && order[2] == 4,
               "then kvmi.connect's answer, the first ping's, the second's (%" PRIi64 ", %" PRIi64 ", %" PRIi64 ")",
               order[0], order[1], order[2]);
        close(fd);

        /* two pings queued while the broker is stopped, so that one read takes both; no memory for the second */
        setenv("DELEGATE_TEST_FAIL_READ_AHEAD", "1", 1);
        restart(h, "--rate", "0", NULL);
        unsetenv("DELEGATE_TEST_FAIL_READ_AHEAD");
        fd = hello_as(1000, NULL);
        kill(h->broker_pid, SIGSTOP);
        tap_ok(harness_all_stopped(h->broker_pid), "the broker is stopped, every thread of it (SIGSTOP)");
        raw_send(fd, "{\"id\":1,\"op\":\"ping\"}", strlen("{\"id\":1,\"op\":\"ping\"}"));
        raw_send(fd, "{\"id\":2,\"op\":\"ping\"}", strlen("{\"id\":2,\"op\":\"ping\"}"));
        kill(h->broker_pid, SIGCONT);
        r = raw_recv(fd, 5000);
        tap_is_int(jint(r, "id"), 1, "the first ping is answered (%s)", r ? r : "nothing");
        free(r);
        r = raw_recv(fd, 5000);
        tap_is_int(jint(r, "error.errno"), ENOMEM, "the second, read ahead without memory, is reported lost (%s)",
                   r ? r : "nothing");
        tap_has_str(jstr(r, "error.message"), "the connection closes", "saying the connection closes");
        free(r);
        struct pollfd p = { .fd = fd, .events = POLLIN };
        char byte;
        bool eof = poll(&p, 1, 3000) == 1 && recv(fd, &byte, 1, MSG_DONTWAIT) == 0;
        tap_ok(eof, "and it does close");
        close(fd);
        tap_ok(kill(h->broker_pid, 0) == 0, "the broker runs on");
}

static void limit_rate(harness *h) {
        restart(h, "--rate", "10/s", "--burst", "5", NULL);
        int fd = hello_as(1000, NULL);
        int ok = 0;
        char *r = NULL;
        for (int id = 1; id <= 6; id++) {
                char req[64];
                snprintf(req, sizeof(req), "{\"id\":%d,\"op\":\"ping\"}", id);
                free(r);
                r = call(fd, req);
                ok += jint(r, "ok") == 1;
        }
        tap_is_int(ok, 5, "uid 1000: a burst of 5 pings is served");
        tap_is_str(jstr(r, "error.code"), "rate-limited", "the 6th is rate-limited (%s)", r);
        tap_is_int(jint(r, "id"), 6, "the answer carries its id");
        tap_is_int(jint(r, "error.errno"), EAGAIN, "errno EAGAIN");
        int64_t retry = jint(r, "error.retry_after_ms");
        tap_ok(retry >= 1 && retry <= 100, "retry_after_ms is within 1/rate (%" PRIi64 ")", retry);
        free(r);
        usleep((useconds_t) (retry + 20) * 1000);
        r = call(fd, "{\"id\":6,\"op\":\"ping\"}");
        tap_is_int(jint(r, "ok"), 1, "after retry_after_ms the same id is served (the refusal was not remembered)");
        free(r);
        tap_ok(harness_log_contains("answering rate-limited"), "the broker logs it");
        close(fd);

        int root = hello_as(0, NULL);
        ok = 0;
        for (int id = 1; id <= 50; id++) {
                r = call(root, "{\"id\":1,\"op\":\"ping\"}");
                ok += jint(r, "ok") == 1;
                free(r);
        }
        tap_is_int(ok, 50, "uid 0 is not rate-limited");
        close(root);

        tclient a;
        start_client(h, &a, 1000, "vm-a");
        r = tclient_call(&a, "pings 30");
        int64_t done = jint(r, "done");
        tap_ok(done >= 5 && done < 30, "libdelegate: a burst of pings ends after about 5 (%s)", r);
        tap_is_str(jstr(r, "code"), "rate-limited", "with code rate-limited");
        tap_ok(jint(r, "retry_after_ms") > 0, "and delegate_error.retry_after_ms set");
        free(r);
        tclient_stop(&a);
}

static void limit_rate_bus(harness *h) {
        if (harness_start_dbus(h) < 0)
                tap_ok(0, "the private dbus-daemon starts");
        restart(h, "--bus", HARNESS_BUS_ADDRESS, "--rate", "1", "--burst", "3", NULL);
        char *out = NULL;
        int ok = 0;
        /* each busctl is a new process: the bucket is the uid's */
        for (int i = 0; i < 4; i++) {
                free(out);
                out = NULL;
                harness_sh(&out,
                           "setpriv --reuid 1000 --regid 1000 --clear-groups busctl --address=%s call "
                           "org.delegate.Broker1 /org/delegate/Broker1 org.delegate.Broker1 ListSessions 2>&1",
                           HARNESS_BUS_ADDRESS);
                out[strcspn(out ? out : "", "\n")] = 0;
                tap_diag("busctl as uid 1000: %s", out ? out : "(no output)");
                if (out && !strstr(out, "retry after"))
                        ok++;
        }
        tap_is_int(ok, 3, "a D-Bus caller of uid 1000 gets 3 answers (burst 3)");
        tap_has_str(out, "retry after", "the 4th call is refused with a retry time (%s)", out ? out : "");
        free(out);
        out = NULL;
        harness_sh(&out, "busctl --address=%s call org.delegate.Broker1 /org/delegate/Broker1 "
                         "org.delegate.Broker1 ListSessions 2>&1", HARNESS_BUS_ADDRESS);
        if (out)
                out[strcspn(out, "\n")] = 0;
        tap_ok(out && !strstr(out, "retry after"), "root on the bus is not limited (%s)", out ? out : "");
        free(out);
}

static void limit_fd_flood(harness *h) {
        tclient a;
        start_client(h, &a, 1000, "vm-a");
        ping_ok(&a, "at the start");
        int fd = hello_as(0, NULL);
        int before = harness_fd_count(h->broker_pid);
        long rss0 = harness_rss_kib(h->broker_pid);
        int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        int sent = 0, bad = 0;
        for (int i = 0; i < 64; i++)
                sent += send_fds(fd, "{\"id\":1,\"op\":\"ping\"}", null, 253) == 0;
        tap_is_int(sent, 64, "64 datagrams with 253 fds each are sent");
        for (int i = 0; i < 64; i++) {
                char *r = raw_recv(fd, 5000);
                bad += strcmp(jstr(r, "error.code"), "bad-request") == 0 && jint(r, "error.errno") == EBADF;
                if (i == 0)
                        tap_has_str(jstr(r, "error.message"), "every fd that arrived closed", "saying so (%s)", r);
                free(r);
        }
        tap_is_int(bad, 64, "each is answered bad-request (EBADF)");
        tap_is_int(harness_fd_count_settle(h->broker_pid, before, 2000), before, "the broker holds no more fds than before");
        send_fds(fd, "{\"id\":2,\"op\":\"ping\"}", null, 1);
        char *r = raw_recv(fd, 5000);
        tap_has_str(jstr(r, "error.message"), "accepts no file descriptors", "one fd on a ping is refused too");
        free(r);
        tap_is_int(harness_fd_count_settle(h->broker_pid, before, 2000), before, "and closed");
        close(null);
        ping_ok(&a, "during the flood");
        r = call(fd, "{\"id\":3,\"op\":\"ping\"}");
        tap_is_int(jint(r, "ok"), 1, "the flooding client itself is still served");
        free(r);
        long rss1 = harness_rss_kib(h->broker_pid);
        tap_ok(rss1 - rss0 < 4096, "the broker's memory grew by %ld KiB (< 4 MiB)", rss1 - rss0);
        close(fd);
        tclient_stop(&a);
}

/*
 * A client that sends the broker a descriptor and closes its own copy
 * leaves the broker the last close: a lingering socket's waits up to its
 * linger time.  The broker's closer thread takes it (with SO_LINGER turned
 * off, an AF_UNIX socket emptied first), so no loop waits: another client
 * is served at once, and so is the sender.  As the descriptor a request
 * carries, as one too many (with room for one, the kernel used to drop it
 * in the broker's receive), and in flight inside another socket.
 */
static void limit_fd_release(harness *h) {
        static const char *const how[] = { "as the request's one fd", "as its second fd, one too many",
                                           "in flight in an AF_UNIX datagram socket sent as the request's fd",
                                           "in flight in a SEQPACKET socket, behind 3 empty datagrams" };
        tclient a;
        start_client(h, &a, 1000, "vm-a");
        ping_ok(&a, "at the start");
        int fd = hello_as(0, NULL);
        int before = harness_fd_count(h->broker_pid);
        int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        for (int round = 0; round < 4; round++) {
                int peer, s = harness_lingering_socket(60, &peer), sp[2] = { -1, -1 };
                if (s < 0) {
                        tap_ok(0, "a lingering TCP socket over lo: %s", strerror(-s));
                        break;
                }
                if (round >= 2) { /* the socket in flight in another: its release comes with the other's */
                        socketpair(AF_UNIX, (round == 2 ? SOCK_DGRAM : SOCK_SEQPACKET) | SOCK_CLOEXEC, 0, sp);
                        for (int i = 0; round == 3 && i < 3; i++)
                                send(sp[0], "", 0, 0);
                        send_fd_list(sp[0], "x", &s, 1);
                        close(s);
                        close(sp[0]);
                        s = sp[1];
                }
                int pass[2] = { round == 1 ? null : s, s };
                int sent = send_fd_list(fd, "{\"id\":1,\"op\":\"ping\"}", pass, round == 1 ? 2 : 1);
                close(s); /* the copy in flight, then the broker's, is the last */
                tap_is_int(sent, 0, "a ping carrying a socket that lingers 60 s, %s, is sent and our copy closed",
                           how[round]);
                uint64_t t0 = now_ms();
                ping_ok(&a, "while the broker holds the last copy");
                char *r = raw_recv(fd, 5000);
                tap_is_str(jstr(r, "error.code"), "bad-request", "the sender is answered (%s) after %" PRIu64 " ms", r,
                           now_ms() - t0);
                free(r);
                r = call(fd, "{\"id\":2,\"op\":\"ping\"}");
                tap_is_int(jint(r, "ok"), 1, "and served again");
                free(r);
                tap_is_int(harness_fd_count_settle(h->broker_pid, before, 5000), before,
                           "the broker holds no more fds than before: the socket was closed, not kept");
                /* nor does the closer wait out the linger: a pipe's read end sent next is closed at once */
                int p[2];
                if (pipe2(p, O_CLOEXEC) == 0) {
                        send_fd_list(fd, "{\"id\":3,\"op\":\"ping\"}", &p[0], 1);
                        close(p[0]);
                        free(raw_recv(fd, 5000));
                        struct pollfd pw = { .fd = p[1], .events = 0 }; /* POLLERR only: no reader left */
                        tap_ok(poll(&pw, 1, 5000) == 1 && (pw.revents & POLLERR),
                               "the closer is not held: a pipe's read end sent next is closed (its writer sees POLLERR)");
                        close(p[1]);
                }
                close(peer);
        }
        close(null);
        close(fd);
        tclient_stop(&a);
}

static void limit_never_reading(harness *h) {
        tclient b;
        start_client(h, &b, 1000, "vm-b");
        ping_ok(&b, "at the start");
        int fd = hello_as(0, NULL);
        int fds0 = harness_fd_count(h->broker_pid);
        long rss0 = harness_rss_kib(h->broker_pid);
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        const char *ping = "{\"id\":1,\"op\":\"state.get\"}";
        int n = 0;
        bool blocked = false;
        for (uint64_t t0 = now_ms(); n < 200000 && now_ms() - t0 < 10000; n++)
                if (send(fd, ping, strlen(ping), MSG_NOSIGNAL) < 0) {
                        if (errno != EAGAIN)
                                break;
                        /* the broker may just be busy: wait a little, then count it */
                        struct pollfd p = { .fd = fd, .events = POLLOUT };
                        if (poll(&p, 1, 500) == 0) {
                                blocked = true;
                                break;
                        }
                }
        tap_ok(blocked, "a client that never reads is stopped after %d requests: its sends block", n);
        uint64_t worst = 0;
        int ok = 0;
        for (int i = 0; i < 20; i++) {
                uint64_t t0 = now_ms();
                char *r = tclient_call(&b, "ping");
                uint64_t dt = now_ms() - t0;
                worst = dt > worst ? dt : worst;
                ok += jint(r, "ok") == 1;
                free(r);
        }
        tap_is_int(ok, 20, "another client's 20 pings are all answered");
        tap_ok(worst < 1000, "within %" PRIu64 " ms each at worst (bound 1000 ms)", worst);
        long rss1 = harness_rss_kib(h->broker_pid);
        tap_ok(rss1 - rss0 < 8192, "the broker's memory grew by %ld KiB (< 8 MiB)", rss1 - rss0);
        tap_is_int(harness_fd_count(h->broker_pid), fds0, "and its fds did not");
        close(fd);
        ping_ok(&b, "after the non-reader left");
        tap_is_int(harness_fd_count_settle(h->broker_pid, fds0 - 2, 2000), fds0 - 2, "its socket and pidfd are closed");
        tclient_stop(&b);
}

static void limit_hello_timeout(harness *h) {
        restart(h, "--hello-timeout", "1", NULL);
        int quiet = raw_connect();
        int fine = hello_as(0, NULL);
        tap_ok(quiet >= 0 && fine >= 0, "two connections, one says hello");
        uint64_t t0 = now_ms();
        char *r = raw_recv(quiet, 5000);
        uint64_t dt = now_ms() - t0;
        tap_is_str(jstr(r, "type"), "error", "the silent one gets an error (%s)", r);
        tap_is_str(jstr(r, "code"), "bad-request", "code bad-request");
        tap_is_int(jint(r, "errno"), ETIMEDOUT, "errno ETIMEDOUT");
        tap_has_str(jstr(r, "message"), "no hello within 1 s", "saying why");
        tap_ok(dt >= 800 && dt < 3000, "after about a second (%" PRIu64 " ms)", dt);
        free(r);
        r = raw_recv(quiet, 2000);
        tap_ok(r == NULL, "and is closed");
        free(r);
        close(quiet);
        r = call(fine, "{\"id\":1,\"op\":\"ping\"}");
        tap_is_int(jint(r, "ok"), 1, "the one that said hello is served after the timeout");
        free(r);
        close(fine);
}

static void limit_tap(harness *h) {
        restart(h, "--max-tap", "1", NULL);
        tclient a;
        start_client(h, &a, 1000, "vm-a");
        char *r = tclient_call(&a, "call tap.create {\"name\":\"vnet%%d\"}");
        tap_is_int(jint(r, "ok"), 1, "the first TAP device is created (%s)", r);
        free(r);
        r = tclient_call(&a, "call tap.create {\"name\":\"vnet%%d\"}");
        tap_is_str(jstr(r, "code"), "denied", "a second one is over --max-tap 1 (the rule allows 3) (%s)", r);
        tap_is_int(jint(r, "errno"), EDQUOT, "errno EDQUOT");
        tap_has_str(jstr(r, "message"), "(--max-tap 1)", "naming the limit");
        free(r);
        /* bridges count with TAP devices (delegate-broker(8), --max-tap) */
        r = tclient_call(&a, "call bridge.create {\"name\":\"br0\"}");
        tap_is_str(jstr(r, "code"), "denied", "a bridge is over --max-tap 1 too (the rule allows one) (%s)", r);
        tap_is_int(jint(r, "errno"), EDQUOT, "errno EDQUOT");
        tap_has_str(jstr(r, "message"), "(--max-tap 1)", "naming the limit");
        free(r);
        tap_ok(harness_sh(NULL, "ip link show br0 >/dev/null 2>&1") != 0, "kernel: no br0 was made");
        tclient_stop(&a);
}

static void limit_kvmi_pages(harness *h) {
        restart(h, "--max-kvmi-pages", "100", NULL);
        int fd = hello_as(0, "vm-k");
        char *r = call(fd, "{\"id\":1,\"op\":\"kvmi.attach\",\"args\":{\"keyed\":false}}");
        tap_ok(jint(r, "ok") == 1, "kvmi.attach (%s)", r);
        free(r);
        /* the limit is checked first: no connection from QEMU is needed to hit it */
        char req[8192];
        int k = snprintf(req, sizeof(req), "{\"id\":2,\"op\":\"kvmi.set-page-access\",\"args\":{\"entries\":[");
        for (int i = 0; i < 101; i++)
                k += snprintf(req + k, sizeof(req) - k, "%s[%d,\"r\"]", i ? "," : "", i * 4096);
        snprintf(req + k, sizeof(req) - k, "]}}");
        r = call(fd, req);
        tap_is_str(jstr(r, "error.code"), "too-large", "101 pages over --max-kvmi-pages 100: too-large (%s)", r);
        tap_is_int(jint(r, "error.errno"), ENOSPC, "errno ENOSPC");
        tap_has_str(jstr(r, "error.message"), "limit of 100 (--max-kvmi-pages)", "naming the limit");
        free(r);
        close(fd);
}

/*
 * The start-up warning about descriptors: 10 clients with 4 requests in flight and 3 TAP devices each may hold
 * 10 x (socket, pidfd, the fd of a request read ahead, 9 kept files, their pod's memlock helper's socket and
 * pidfd, 3 netns fds, 4 in flight) + 8 v1 groups' cpu.rt_runtime_us + 64 + the forker's socket + the netns
 * worker's step (the caller's pidfd and 64 TAP records' namespaces copied, its socket pair and namespace, 17 fds
 * of an answer, a netlink socket: 86) + the closer's queue of 4096 and, for its one loop (--threads 1), 2
 * datagrams' 253 fds each (broker-closer.c) = 4971
 * (the kept files: sched.set's 3, cgroup.move's 2, the KVMI connection, the seccomp listener, on tmpfs the state
 * file and the version before it).
 * Counted here, not from the broker's headers; the broker raises its soft limit to the hard one we set.
 */
static void limit_fd_budget(harness *h) {
        const unsigned need = 10 * (3 + 9 + 2 + 3 + 4) + 8 + 64 + 1 + 86 + 4096 + 2 * 253;
        char lim[16], needle[64];
        struct rlimit rl = { need, need };
        tap_is_int(setrlimit(RLIMIT_NOFILE, &rl), 0, "RLIMIT_NOFILE of the broker-to-be: %u", need);
        restart(h, "--threads", "1", "--max-clients", "10", "--max-inflight", "4", "--max-tap", "3", NULL);
        snprintf(needle, sizeof(needle), "RLIMIT_NOFILE is %u,", need);
        tap_is_int(log_count(needle), 0, "%u descriptors fit: no warning", need);
        rl.rlim_cur = rl.rlim_max = need - 1;
        tap_is_int(setrlimit(RLIMIT_NOFILE, &rl), 0, "RLIMIT_NOFILE of the broker-to-be: %u", need - 1);
        restart(h, "--threads", "1", "--max-clients", "10", "--max-inflight", "4", "--max-tap", "3", NULL);
        snprintf(lim, sizeof(lim), "%u", need - 1);
        snprintf(needle, sizeof(needle), "RLIMIT_NOFILE is %s, but 10 clients", lim);
        tap_is_int(log_count(needle), 1, "one fewer: the broker warns");
        snprintf(needle, sizeof(needle), "may need %u fds", need);
        tap_is_int(log_count(needle), 1, "and says how many it may need");
        tclient a;
        start_client(h, &a, 1000, "vm-fd");
        ping_ok(&a, "after the warning");
        tclient_stop(&a);
}

static void limit_options(harness *h) {
        char *out = NULL;
        const char *broker = getenv("DELEGATE_BROKER");
        int st = harness_sh(&out, "%s --max-inflight 0 --check-policy /nonexistent 2>&1", broker);
        tap_is_int(st, 2, "--max-inflight 0 is a usage error (exit 2)");
        tap_has_str(out, "--max-inflight '0': expected an integer from 1 to 64", "saying what is allowed");
        free(out);
        out = NULL;
        st = harness_sh(&out, "%s --rate fast --check-policy /nonexistent 2>&1", broker);
        tap_has_str(out, "--rate 'fast'", "a bad --rate is named");
        free(out);
        out = NULL;
        harness_sh(&out, "%s --help", broker);
        tap_has_str(out, "--max-sessions-per-uid N", "--help lists the limits");
        free(out);
}

static const scenario scenarios[] = {
        { "limit-clients", policy_limits, limit_clients },
        { "limit-sessions-per-uid", policy_limits, limit_sessions_per_uid },
        { "limit-inflight", policy_limits, limit_inflight },
        { "limit-message", policy_limits, limit_message },
        { "limit-read-ahead", policy_limits, limit_read_ahead },
        { "limit-rate", policy_limits, limit_rate },
        { "limit-rate-bus", policy_limits, limit_rate_bus },
        { "limit-fd-flood", policy_limits, limit_fd_flood },
        { "limit-fd-release", policy_limits, limit_fd_release },
        { "limit-never-reading", policy_limits, limit_never_reading },
        { "limit-hello-timeout", policy_limits, limit_hello_timeout },
        { "limit-tap", policy_limits, limit_tap },
        { "limit-kvmi-pages", policy_limits, limit_kvmi_pages },
        { "limit-options", policy_limits, limit_options },
        { "limit-fd-budget", policy_limits, limit_fd_budget },
};

int main(int argc, char **argv) {
        return harness_main(argc, argv, scenarios, sizeof(scenarios) / sizeof(scenarios[0]));
}
