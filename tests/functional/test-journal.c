/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-journal - the broker's audit records as journald receives them.
 * Each scenario runs in its own namespaces with its own broker
 * (tests/lib/harness.h), whose private /run holds our journal socket.
 */
#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"
#include "size.h"

static const char policy_main[] =
        "{ \"version\": 1,\n"
        "  \"rules\": [\n"
        "    { \"name\": \"pod-launchers\",\n"
        "      \"match\": { \"uid\": \"1000-1999\", \"cgroup\": \"/kubepods.slice/*\", \"vm\": \"vm-*\" },\n"
        "      \"memlock\": { \"max\": \"1G\" } }\n"
        "  ]\n"
        "}\n";

/*
 * journal-record: the audit record as journald receives it, read by a
 * journal socket of our own in the scenario's private /run, decoding
 * journald's native protocol (docs: "Native Journal Protocol"): KEY=VALUE
 * lines, or KEY, a newline, a little-endian 64-bit length and the value.
 * Every field of delegate-broker(8), AUDIT AND LOGGING, once, for a ping
 * (debug: the broker runs with DELEGATE_LOG_LEVEL=debug) and an allowed
 * memlock.set (info), with a VM name of the longest allowed length (a
 * record of more than a kilobyte); the memlock.set's record is there
 * before its reply (a ping's may follow its reply: the records of one loop
 * iteration go out together).  test-journald.c checks the same datagrams
 * against a real systemd-journald.
 */
#define JFIELDS 24
typedef struct jrecord {
        size_t n, bytes;
        char key[JFIELDS][32];
        char *val[JFIELDS];
} jrecord;

static void jrecord_free(jrecord *j) {
        for (size_t i = 0; i < j->n; i++)
                free(j->val[i]);
        j->n = 0;
}

static bool jrecord_parse(jrecord *j, const char *p, size_t len) {
        const char *end = p + len;
        j->n = 0;
        j->bytes = len;
        while (p < end) {
                const char *k = p;
                const char *nl = memchr(p, '\n', (size_t) (end - p)), *eq = memchr(p, '=', (size_t) (end - p));
                if (!nl || j->n >= JFIELDS)
                        return false;
                size_t klen, vlen;
                const char *v;
                if (eq && eq < nl) {
                        klen = (size_t) (eq - p), v = eq + 1, vlen = (size_t) (nl - v);
                        p = nl + 1;
                } else {
                        uint64_t l = 0;
                        klen = (size_t) (nl - p);
                        if (end - (nl + 1) < 8)
                                return false;
                        for (int i = 7; i >= 0; i--)
                                l = l << 8 | (unsigned char) nl[1 + i];
                        v = nl + 9;
                        if (l > (uint64_t) (end - v) || (uint64_t) (end - v) - l < 1 || v[l] != '\n')
                                return false;
                        vlen = (size_t) l, p = v + l + 1;
                }
                if (klen == 0 || klen >= sizeof(j->key[0]))
                        return false;
                memcpy(j->key[j->n], k, klen);
                j->key[j->n][klen] = 0;
                j->val[j->n] = strndup(v, vlen);
                j->n++;
        }
        return true;
}

/* the value of @key, NULL if absent; *count: how often it is there */
static const char *jget(const jrecord *j, const char *key, int *count) {
        const char *r = NULL;
        *count = 0;
        for (size_t i = 0; i < j->n; i++)
                if (strcmp(j->key[i], key) == 0) {
                        r = j->val[i];
                        ++*count;
                }
        return r;
}

/* the next record from the broker whose DELEGATE_OP is @op, waiting at most @timeout_ms for each datagram */
static bool jrecord_wait(int fd, const char *op, jrecord *j, int timeout_ms) {
        static char buf[65536];
        for (;;) {
                struct pollfd pfd = { fd, POLLIN, 0 };
                if (poll(&pfd, 1, timeout_ms) <= 0)
                        return false;
                ssize_t n = recv(fd, buf, sizeof(buf), 0);
                if (n < 0)
                        return false;
                if (!jrecord_parse(j, buf, (size_t) n)) {
                        tap_ok(0, "a journal datagram parses (%zd bytes)", n);
                        return false;
                }
                int c;
                const char *o = jget(j, "DELEGATE_OP", &c);
                if (o && strcmp(o, op) == 0)
                        return true;
                jrecord_free(j);
        }
}

/*
 * A journal socket of our own in the private /run, then the broker started
 * again (with @level in DELEGATE_LOG_LEVEL, NULL: none) so that it finds the
 * socket at its first record, not after a back-off.
 */
static int journal_socket(harness *h, struct sockaddr_un *sa, const char *level) {
        tap_ok(mkdir("/run/systemd", 0755) == 0 && mkdir("/run/systemd/journal", 0755) == 0,
               "a private /run/systemd/journal");
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        *sa = (struct sockaddr_un) { .sun_family = AF_UNIX, .sun_path = "/run/systemd/journal/socket" };
        int big = 1 << 20;
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
        tap_ok(fd >= 0 && bind(fd, (struct sockaddr *) sa, sizeof(*sa)) == 0, "a journal socket of our own");
        if (level)
                setenv("DELEGATE_LOG_LEVEL", level, 1);
        else
                unsetenv("DELEGATE_LOG_LEVEL"); /* the default (info), whatever the caller's environment says */
        harness_stop_broker(h);
        tap_is_int(harness_start_broker(h), 0, "the broker started again%s%s", level ? ", DELEGATE_LOG_LEVEL=" : "",
                   level ? level : "");
        unsetenv("DELEGATE_LOG_LEVEL");
        return fd;
}

static void journal_record(harness *h) {
        struct sockaddr_un sa;
        int fd = journal_socket(h, &sa, "debug");

        char vm[254];
        memset(vm, 'v', 253);
        memcpy(vm, "vm-", 3);
        vm[253] = 0;
        tclient a;
        tap_ok(tclient_start(h, &a, "kubepods.slice/pod-a", 1000, 1000, vm) == 0, "a client with a VM name of 253 characters");
        char *r = tclient_call(&a, "ping");
        free(r);
        jrecord j = { 0 };
        char want[512];
        int c;
        /* a ping's record may wait for the end of the broker's loop iteration: waited for */
        tap_ok(jrecord_wait(fd, "ping", &j, 5000), "the ping's record reaches the journal socket");
        tap_diag("the ping's record: %zu fields, %zu bytes", j.n, j.bytes);
        tap_ok(j.bytes > 1024, "it is longer than a kilobyte (%zu bytes)", j.bytes);
        static const char *const keys[] = { "MESSAGE", "PRIORITY", "SYSLOG_IDENTIFIER", "DELEGATE_OP",
                "DELEGATE_DECISION", "DELEGATE_RULE", "DELEGATE_REASON", "DELEGATE_ARGS", "DELEGATE_SESSION",
                "DELEGATE_PEER_PID", "DELEGATE_PEER_UID", "DELEGATE_PEER_GID", "DELEGATE_POD_CGROUP", "DELEGATE_VM",
                "DELEGATE_CLIENT", "DELEGATE_VIA" };
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
                jget(&j, keys[i], &c);
                tap_is_int(c, 1, "%s is in the record once", keys[i]);
        }
        tap_is_str(jget(&j, "PRIORITY", &c), "7", "ping is at debug level");
        tap_is_str(jget(&j, "SYSLOG_IDENTIFIER", &c), "delegate-broker", "SYSLOG_IDENTIFIER");
        tap_is_str(jget(&j, "DELEGATE_DECISION", &c), "allow", "DELEGATE_DECISION");
        tap_is_str(jget(&j, "DELEGATE_RULE", &c), "(no policy needed)", "DELEGATE_RULE");
        tap_is_str(jget(&j, "DELEGATE_ARGS", &c), "{}", "DELEGATE_ARGS");
        tap_is_str(jget(&j, "DELEGATE_VM", &c), vm, "DELEGATE_VM, all 253 characters");
        tap_is_str(jget(&j, "DELEGATE_PEER_UID", &c), "1000", "DELEGATE_PEER_UID");
        tap_is_str(jget(&j, "DELEGATE_PEER_GID", &c), "1000", "DELEGATE_PEER_GID");
        snprintf(want, sizeof(want), "%d", (int) a.pid);
        tap_is_str(jget(&j, "DELEGATE_PEER_PID", &c), want, "DELEGATE_PEER_PID");
        tap_is_str(jget(&j, "DELEGATE_POD_CGROUP", &c), "/kubepods.slice/pod-a", "DELEGATE_POD_CGROUP");
        tap_is_str(jget(&j, "DELEGATE_VIA", &c), "socket", "DELEGATE_VIA");
        const char *msg = jget(&j, "MESSAGE", &c);
        snprintf(want, sizeof(want), "allow ping for pid %d uid 1000 (vm %s, via socket): rule (no policy needed): ",
                 (int) a.pid, vm);
        tap_ok(msg && strncmp(msg, want, strlen(want)) == 0, "MESSAGE: %.80s...", msg ? msg : "(none)");
        jrecord_free(&j);

        r = tclient_call(&a, "child");
        pid_t ch = (pid_t) jint(r, "pid");
        free(r);
        r = tclient_call(&a, "memlock %d %" PRIu64 " keep", (int) ch, harness_hard / 2);
        tap_is_int(jint(r, "ok"), 1, "memlock.set succeeds");
        free(r);
        /* a policy decision's record leaves before its reply: already there, no waiting */
        tap_ok(jrecord_wait(fd, "memlock.set", &j, 0),
               "the memlock.set's record is in the journal socket when its reply arrives");
        tap_is_str(jget(&j, "PRIORITY", &c), "6", "an allowed memlock.set is at info level");
        tap_is_str(jget(&j, "DELEGATE_RULE", &c), "pod-launchers", "DELEGATE_RULE names the rule");
        snprintf(want, sizeof(want), "\"pid\":%d", (int) ch);
        tap_has_str(jget(&j, "DELEGATE_ARGS", &c), want, "DELEGATE_ARGS has the request's arguments");
        tap_has_str(jget(&j, "DELEGATE_REASON", &c), "; RLIMIT_MEMLOCK of pid ",
                    "DELEGATE_REASON goes on with what the kernel now holds (%s)", jget(&j, "DELEGATE_REASON", &c));
        char sz[32];
        snprintf(want, sizeof(want), " is now soft %s, hard ", format_size(harness_hard / 2, sz, sizeof(sz)));
        tap_has_str(jget(&j, "DELEGATE_REASON", &c), want, "the soft limit as the kernel reads it back");
        jget(&j, "DELEGATE_SESSION", &c);
        tap_is_int(c, 1, "DELEGATE_SESSION once");
        jrecord_free(&j);

        /* no rule either, but not quiet: only ping and state.get are (delegate-broker(8)) */
        static const char *const unruled[][2] = { { "kvmi.detach", "" }, { "unotify.attach", "{\"listener\":0}" } };
        for (size_t i = 0; i < 2; i++) {
                free(tclient_call(&a, "call %s %s", unruled[i][0], unruled[i][1]));
                tap_ok(jrecord_wait(fd, unruled[i][0], &j, 0),
                       "the %s's record is in the journal socket when its reply arrives", unruled[i][0]);
                tap_is_str(jget(&j, "PRIORITY", &c), "6", "%s is at info level", unruled[i][0]);
                tap_is_str(jget(&j, "DELEGATE_RULE", &c), "(no policy needed)", "%s needs no rule", unruled[i][0]);
                jrecord_free(&j);
        }
        tclient_stop(&a);
        unlink(sa.sun_path);
        close(fd);
}

/* Read every datagram waiting on @fd; how many. */
static int drain(int fd) {
        char buf[65536];
        int n = 0;
        while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) >= 0)
                n++;
        return n;
}

/*
 * With the journal socket's queue full (our datagrams), send @line: no reply
 * while @op's record cannot leave; our datagrams, then the record, then the
 * reply with error @code.
 */
static void journal_blocks_reply(tclient *a, int fd, const struct sockaddr_un *sa, const char *line, const char *op,
                                 const char *code) {
        drain(fd);
        int filler = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        int filled = 0;
        if (connect(filler, (const struct sockaddr *) sa, sizeof(*sa)) == 0)
                while (send(filler, "MESSAGE=filler\n", 15, MSG_DONTWAIT) == 15)
                        filled++;
        tap_ok(filled > 0, "the journal's queue is full (%d datagrams of ours)", filled);

        size_t n = strlen(line);
        tap_ok(write(a->in, line, n) == (ssize_t) n, "%s sent", op);
        struct pollfd p = { .fd = a->out, .events = POLLIN };
        tap_is_int(poll(&p, 1, 500), 0, "no %s reply while its record cannot reach the journal", op);

        /* only up to our last: the broker's record may follow them at once.  A datagram the broker sent
         * before ours (after the drain) may come first: the record can only follow, the queue being FIFO */
        char buf[64];
        int ours = 0, before = 0;
        while (ours < filled && before < 8) {
                ssize_t got = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
                if (got < 0)
                        break;
                if (got == 15 && memcmp(buf, "MESSAGE=filler", 14) == 0)
                        ours++;
                else
                        before++;
        }
        tap_is_int(ours, filled, "our datagrams read (%d of the broker's before them)", before);
        jrecord j = { 0 };
        int c;
        tap_ok(jrecord_wait(fd, op, &j, 5000), "then the %s's record comes", op);
        tap_is_str(jget(&j, "DELEGATE_DECISION", &c), strcmp(code, "denied") ? "allow" : "deny", "decision %s",
                   jget(&j, "DELEGATE_DECISION", &c));
        jrecord_free(&j);
        char reply[4096];
        size_t len = 0;
        while (len < sizeof(reply) - 1 && poll(&p, 1, 5000) == 1 && read(a->out, reply + len, 1) == 1 &&
               reply[len] != '\n')
                len++;
        reply[len] = 0;
        tap_is_str(jstr(reply, "code"), code, "and then its reply: %s", code);
        close(filler);
}

/*
 * A kvmi.detach (needs no rule, recorded at info) asked for; where its
 * record is once the reply is there, read without waiting: 1 in the
 * journal socket @fd (-1: none), 2 a new line on the broker's stderr (its
 * log: @seen lines of kvmi.detach counted so far), 0 neither, 3 both.
 */
static int detach_recorded(tclient *a, int fd, size_t *seen) {
        free(tclient_call(a, "call kvmi.detach"));
        int where = 0;
        char buf[65536];
        ssize_t n;
        jrecord j = { 0 };
        int c;
        while (fd >= 0 && (n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) >= 0 && jrecord_parse(&j, buf, (size_t) n)) {
                const char *op = jget(&j, "DELEGATE_OP", &c);
                if (op && !strcmp(op, "kvmi.detach"))
                        where |= 1;
                jrecord_free(&j);
        }
        static char log[1 << 20];
        harness_read_file(HARNESS_BROKER_LOG, log, sizeof(log));
        size_t lines = 0;
        for (const char *p = log; (p = strstr(p, " kvmi.detach session=")); p++)
                lines++;
        if (lines > *seen)
                where |= 2;
        *seen = lines;
        return where;
}

/*
 * journal-before-reply: a policy decision's record leaves before its reply,
 * to the journal or, when the journal does not take it, to stderr (the
 * broker runs without --foreground here, as the shipped unit does): with
 * no journal socket, on stderr; once the socket appears, in one of the two
 * (the broker may still wait before it tries again); after the longest
 * wait (2 s), in the journal.  Then the journal socket's queue is made full (a datagram queue of 2 in this
 * scenario's network namespace, filled by the test), so the broker's
 * journal send blocks: the memlock.set's reply must not arrive while the
 * record cannot leave, and arrives once the journal is read.  A broker
 * that wrote the record after the reply would answer at once.  The same
 * for unotify.attach, which needs no rule but is no ping.
 */
static void journal_before_reply(harness *h) {
        harness_broker_foreground = false; /* as the shipped unit runs it: stderr only for what the journal did not take */
        harness_stop_broker(h);
        tap_is_int(harness_start_broker(h), 0, "the broker started again, without --foreground");
        tap_ok(harness_write_file("/proc/sys/net/unix/max_dgram_qlen", "1") == 0,
               "a journal socket that holds 2 datagrams (net.unix.max_dgram_qlen in our network namespace)");
        tap_ok(mkdir("/run/systemd", 0755) == 0 && mkdir("/run/systemd/journal", 0755) == 0,
               "a private /run/systemd/journal");

        /* set up before the journal socket exists: the records of these steps are dropped, none can
         * fill the small queue and hold the broker (and a slow client's calls) up */
        tclient a;
        tap_ok(tclient_start(h, &a, "kubepods.slice/pod-a", 1000, 1000, "vm-a") == 0, "a client");
        char *r = tclient_call(&a, "ping");
        tap_is_int(jint(r, "ok"), 1, "its ping is answered");
        free(r);
        r = tclient_call(&a, "child");
        pid_t ch = (pid_t) jint(r, "pid");
        free(r);
        tap_ok(ch > 0, "a child of the client");

        /* every decision's record is in the journal or on stderr before its reply: without a journal,
         * on stderr (no --foreground: only what the journal did not take) */
        size_t seen = 0;
        tap_is_int(detach_recorded(&a, -1, &seen), 2, "kvmi.detach's record is on stderr before its reply (no journal)");
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un sa = { .sun_family = AF_UNIX, .sun_path = "/run/systemd/journal/socket" };
        tap_ok(fd >= 0 && bind(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0, "a journal socket of our own");
        /* the broker may still wait (back-off, up to 2 s) before it tries the socket: then on stderr */
        int w = detach_recorded(&a, fd, &seen);
        tap_ok(w == 1 || w == 2, "the next one's is in the journal or on stderr before its reply (%s)",
               w == 1 ? "journal" : w == 2 ? "stderr" : "neither");
        /* after the longest back-off the broker has tried the socket again: from then on, the journal */
        usleep(2000000 + 300000);
        tap_is_int(detach_recorded(&a, fd, &seen), 1, "after the longest back-off (2 s), the next one's is in the journal");

        /*
         * Over the rule's max: denied by the policy, a decision whose only
         * record is its audit record.  unotify.attach (no rule, allowed;
         * the missing listener fails it without a message): not quiet either.
         */
        char line[256];
        snprintf(line, sizeof(line), "memlock %d %" PRIu64 " keep\n", (int) ch, (uint64_t) 2 << 30);
        journal_blocks_reply(&a, fd, &sa, line, "memlock.set", "denied");
        journal_blocks_reply(&a, fd, &sa, "call unotify.attach {\"listener\":0}\n", "unotify.attach", "bad-request");
        tclient_stop(&a);
        unlink(sa.sun_path);
        close(fd);
}

/*
 * journal-quiet: at the default level (info) pings and state.get requests
 * are not recorded one by one: none of their records comes before the
 * next policy decision's (records leave in order), and the session counts
 * them: state.get's "requests" has "quiet", and the session's end record
 * (MESSAGE "session N closed (disconnected): ...", DELEGATE_QUIET) says
 * how many there were.
 */
static void journal_quiet(harness *h) {
        struct sockaddr_un sa;
        int fd = journal_socket(h, &sa, NULL);
        tclient a;
        tap_ok(tclient_start(h, &a, "kubepods.slice/pod-a", 1000, 1000, "vm-quiet") == 0, "a client");
        for (int i = 0; i < 3; i++)
                free(tclient_call(&a, "ping"));
        char *r = tclient_call(&a, "state");
        tap_is_int(jint(r, "state.requests.quiet"), 3, "state.get counts the 3 pings before it (%s)", r);
        free(r);
        /* over the rule's max: denied by the policy (no child holding the client's socket open) */
        r = tclient_call(&a, "memlock 0 %" PRIu64 " keep", (uint64_t) 2 << 30);
        tap_is_str(jstr(r, "code"), "denied", "a memlock.set is denied");
        free(r);
        jrecord j = { 0 };
        int c, quiet = 0;
        char buf[65536];
        ssize_t n;
        /* every datagram up to the memlock.set's record, which is there before its reply */
        bool found = false;
        while (!found && (n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) >= 0) {
                if (!jrecord_parse(&j, buf, (size_t) n))
                        break;
                const char *op = jget(&j, "DELEGATE_OP", &c);
                quiet += op && (!strcmp(op, "ping") || !strcmp(op, "state.get"));
                found = op && !strcmp(op, "memlock.set");
                jrecord_free(&j);
        }
        tap_ok(found, "the memlock.set's record is there");
        tap_is_int(quiet, 0, "no record of a ping or state.get before it");
        tclient_stop(&a);
        bool closed = false;
        while (!closed) {
                struct pollfd p = { fd, POLLIN, 0 };
                if (poll(&p, 1, 5000) <= 0 || (n = recv(fd, buf, sizeof(buf), 0)) < 0 || !jrecord_parse(&j, buf, (size_t) n))
                        break;
                const char *m = jget(&j, "MESSAGE", &c), *op = jget(&j, "DELEGATE_OP", &c);
                quiet += op && (!strcmp(op, "ping") || !strcmp(op, "state.get"));
                if (m && strstr(m, " closed (disconnected): ")) {
                        closed = true;
                        tap_has_str(m, ": 0 allowed, 1 denied, 4 ping and state.get", "the session's end record: %s", m);
                        tap_is_str(jget(&j, "DELEGATE_QUIET", &c), "4", "DELEGATE_QUIET");
                        tap_is_str(jget(&j, "DELEGATE_VM", &c), "vm-quiet", "DELEGATE_VM");
                        tap_is_str(jget(&j, "PRIORITY", &c), "6", "at info level");
                }
                jrecord_free(&j);
        }
        tap_ok(closed, "the session's end record comes when its client leaves");
        tap_is_int(quiet, 0, "no record of a ping or state.get at all");
        unlink(sa.sun_path);
        close(fd);
}

static const scenario scenarios[] = {
        { "journal-record", policy_main, journal_record },
        { "journal-quiet", policy_main, journal_quiet },
        { "journal-before-reply", policy_main, journal_before_reply },
};

int main(int argc, char **argv) {
        return harness_main(argc, argv, scenarios, sizeof(scenarios) / sizeof(scenarios[0]));
}
