/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-journald - the broker's journal sink (broker/broker-log.c) against
 * a real systemd-journald: the datagrams it writes in journald's native
 * protocol, queued and sent together with sendmmsg(), must be parsed by
 * journald itself, field for field, and read back with journalctl.
 *
 * journald runs in a mount namespace of this test's own: a private /run
 * (its sockets and the volatile journal under /run/log/journal) and a
 * private /var/log, so that nothing reaches the host's journal.  Skipped
 * (77) when systemd-journald is not installed.
 *
 *   journald-native    a message with a newline (the protocol's binary
 *                      form), three quiet records (ping) at the default
 *                      level (not written) and three at debug level
 *                      (queued in a turn of the loop, log_batch_begin()),
 *                      one policy decision (sent at once, behind the
 *                      queue) and a session's end record with its counts,
 *                      each with every field of delegate-broker(8), AUDIT
 *                      AND LOGGING
 *   journald-restart   journald stopped and started again (a new socket
 *                      at the same path): the records after it reach the
 *                      new journald through a new connection
 *   journald-later     no journal at first (the sink backs off: 100 ms
 *                      doubling to 2 s between attempts; the policy
 *                      decisions go to stderr), then journald starts:
 *                      records reach it again within the longest wait
 *                      (2 s, plus 0.5 s for this test's wake-ups), and
 *                      every decision is in the journal or on stderr
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "broker-log.h"
#include "json.h"
#include "tap.h"

static const char *journald_binary(void) {
        static const char *const paths[] = { "/usr/lib/systemd/systemd-journald", "/lib/systemd/systemd-journald" };
        for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
                if (access(paths[i], X_OK) == 0)
                        return paths[i];
        return NULL;
}

static pid_t journald_start(const char *bin) {
        unlink("/run/systemd/journal/socket");
        pid_t pid = fork();
        if (pid == 0) {
                int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
                if (fd >= 0) {
                        dup2(fd, 1);
                        dup2(fd, 2);
                }
                execl(bin, bin, (char *) NULL);
                _exit(127);
        }
        struct stat st;
        for (int i = 0; i < 500 && stat("/run/systemd/journal/socket", &st) < 0; i++)
                usleep(10000);
        return pid;
}

/*
 * A datagram of our own sent to journald, then waited for in the journal
 * (10 s at most): journald read its socket up to it, so everything sent
 * before it is written too.  Without it a SIGTERM could come first: a
 * journald still starting (its socket is bound before it takes signals)
 * died of it with a record in its queue (journald-restart, beside two busy
 * loops).
 */
static void journald_settle(void) {
        static unsigned serial;
        char msg[96], cmd[200];
        int len = snprintf(msg, sizeof(msg), "MESSAGE=settle %u\nSYSLOG_IDENTIFIER=test-journald-settle\n", ++serial);
        struct sockaddr_un sa = { .sun_family = AF_UNIX, .sun_path = "/run/systemd/journal/socket" };
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || sendto(fd, msg, (size_t) len, 0, (struct sockaddr *) &sa, sizeof(sa)) != len) {
                tap_diag("cannot send to journald: %m");
                if (fd >= 0)
                        close(fd);
                return;
        }
        close(fd);
        snprintf(cmd, sizeof(cmd),
                 "journalctl -D /run/log/journal -o cat --no-pager SYSLOG_IDENTIFIER=test-journald-settle | "
                 "grep -qx 'settle %u'", serial);
        for (int i = 0; i < 500; i++, usleep(20000))
                if (system(cmd) == 0)
                        return;
        tap_diag("journald did not write 'settle %u' within 10 s", serial);
}

/* SIGTERM once it read what was sent: journald writes what it received and exits */
static int journald_stop(pid_t pid) {
        int st = 0;
        journald_settle();
        kill(pid, SIGTERM);
        waitpid(pid, &st, 0);
        return st;
}

static const log_decision base = {
        .op = "ping",
        .allowed = true,
        .quiet = true,
        .rule = "(no policy needed)",
        .reason = "ping concerns only the caller",
        .via = "socket",
        .session = 4242,
        .pid = 77,
        .uid = 1000,
        .gid = 1001,
        .cgroup = "/kubepods.slice/pod-j",
        .client = "test-journald",
};

/* Every entry of ours in the journal, oldest first: journalctl's JSON, one object per line. */
static size_t read_journal(json_value **out, size_t max) {
        FILE *f = popen("journalctl -D /run/log/journal -o json --no-pager SYSLOG_IDENTIFIER=delegate-broker", "r");
        char *line = NULL;
        size_t cap = 0, n = 0;
        ssize_t len;
        json_parse_error je;
        while (f && (len = getline(&line, &cap, f)) > 0 && n < max)
                if (json_parse(line, (size_t) len, false, &out[n], &je) == 0)
                        n++;
        free(line);
        if (f)
                pclose(f);
        return n;
}

static const char *field(const json_value *e, const char *key) {
        const json_value *v = json_get(e, key);
        return json_is_string(v) ? v->string.str : NULL;
}

static const json_value *find_vm(json_value **e, size_t n, const char *vm) {
        for (size_t i = 0; i < n; i++) {
                const char *v = field(e[i], "DELEGATE_VM");
                if (v && strcmp(v, vm) == 0)
                        return e[i];
        }
        return NULL;
}

static size_t index_of(json_value **e, size_t n, const json_value *x) {
        for (size_t i = 0; i < n; i++)
                if (e[i] == x)
                        return i;
        return n;
}

static void journald_native(const char *bin) {
        pid_t j = journald_start(bin);
        tap_ok(j > 0, "systemd-journald runs on a private /run (pid %d)", (int) j);

        log_msg(NULL, LOG_NOTICE, "first line of a message\nsecond line, 'quoted'");
        tap_is_int(log_get_level(), LOG_INFO, "the default level is info");
        tap_ok(log_level_parse("debug") == LOG_DEBUG && log_level_parse("7") == LOG_DEBUG &&
                       log_level_parse("err") == LOG_ERR && log_level_parse("0") == LOG_EMERG,
               "DELEGATE_LOG_LEVEL's names and numbers");
        tap_ok(log_level_parse("warn") == -EINVAL && log_level_parse("8") == -EINVAL &&
                       log_level_parse("77") == -EINVAL && log_level_parse("") == -EINVAL,
               "anything else is refused");
        /* at info, a ping's record is not written (its session counts it) */
        static const char *const hidden[] = { "vm-hidden-1", "vm-hidden-2", "vm-hidden-3" };
        log_batch_begin();
        for (size_t i = 0; i < 3; i++) {
                log_decision d = base;
                d.vm = hidden[i];
                log_decision_emit(&d);
        }
        log_batch_end();
        log_msg(NULL, LOG_DEBUG, "a debug message at info level");
        log_set_level(LOG_DEBUG); /* DELEGATE_LOG_LEVEL=debug */
        log_batch_begin(); /* as the loop does around a turn of clients */
        static const char *const vms[] = { "vm-quiet-1", "vm-quiet-2", "vm-quiet-3" };
        for (size_t i = 0; i < 3; i++) {
                log_decision d = base;
                d.vm = vms[i];
                log_decision_emit(&d);
        }
        log_decision policy = base;
        policy.op = "memlock.set";
        policy.quiet = false;
        policy.rule = "pod-launchers";
        policy.reason = "requested 1 MiB is within the rule's memlock max 1 GiB";
        policy.args = "{\"pid\":77,\"soft\":1048576}";
        policy.vm = "vm-policy";
        log_decision_emit(&policy);
        log_batch_end();
        log_set_level(LOG_INFO);
        log_session_closed(&(log_session) { .session = 4242, .pid = 77, .uid = 1000, .cgroup = "/kubepods.slice/pod-j",
                                            .client = "test-journald", .vm = "vm-closed", .reason = "disconnected",
                                            .allowed = 5, .denied = 2, .quiet = 1234 });

        int st = journald_stop(j);
        tap_ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "journald exits cleanly (status 0x%x)", st);

        json_value *e[64] = { 0 };
        size_t n = read_journal(e, 64);
        tap_is_int(n, 6, "journalctl reads back the 6 entries sent (not the pings' at info level)");
        for (size_t i = 0; i < 3; i++)
                tap_ok(!find_vm(e, n, hidden[i]), "no record of %s's ping at info level", hidden[i]);
        bool dbg = false;
        for (size_t i = 0; i < n; i++)
                dbg |= field(e[i], "MESSAGE") && strstr(field(e[i], "MESSAGE"), "a debug message") != NULL;
        tap_ok(!dbg, "no debug message at info level");
        const json_value *cl = find_vm(e, n, "vm-closed");
        tap_is_str(cl ? field(cl, "MESSAGE") : NULL, "session 4242 closed (disconnected): 5 allowed, 2 denied, 1234 ping and state.get",
                   "the session's end record counts its pings and state.get requests");
        static const char *const closed[][2] = { { "PRIORITY", "6" }, { "DELEGATE_SESSION", "4242" },
                { "DELEGATE_CLOSED", "disconnected" }, { "DELEGATE_ALLOWED", "5" }, { "DELEGATE_DENIED", "2" },
                { "DELEGATE_QUIET", "1234" }, { "DELEGATE_PEER_PID", "77" }, { "DELEGATE_PEER_UID", "1000" },
                { "DELEGATE_POD_CGROUP", "/kubepods.slice/pod-j" }, { "DELEGATE_CLIENT", "test-journald" } };
        for (size_t i = 0; i < sizeof(closed) / sizeof(closed[0]); i++)
                tap_is_str(cl ? field(cl, closed[i][0]) : NULL, closed[i][1], "the end record's %s", closed[i][0]);
        const json_value *m = NULL;
        for (size_t i = 0; i < n; i++)
                if (field(e[i], "MESSAGE") && strstr(field(e[i], "MESSAGE"), "first line"))
                        m = e[i];
        tap_is_str(m ? field(m, "MESSAGE") : NULL, "first line of a message\nsecond line, 'quoted'",
                   "a MESSAGE with a newline comes back whole (the binary form)");
        tap_is_str(m ? field(m, "PRIORITY") : NULL, "5", "its PRIORITY");

        const json_value *q[3], *p = find_vm(e, n, "vm-policy");
        for (size_t i = 0; i < 3; i++) {
                q[i] = find_vm(e, n, vms[i]);
                tap_ok(q[i] != NULL, "the queued ping record of %s is in the journal", vms[i]);
        }
        tap_ok(q[0] && q[1] && q[2] && p && index_of(e, n, q[0]) < index_of(e, n, q[1]) &&
                       index_of(e, n, q[1]) < index_of(e, n, q[2]) && index_of(e, n, q[2]) < index_of(e, n, p),
               "in the order they were written: the queue goes out ahead of the policy decision");
        if (q[0]) {
                tap_is_str(field(q[0], "PRIORITY"), "7", "ping: PRIORITY 7");
                tap_is_str(field(q[0], "DELEGATE_OP"), "ping", "ping: DELEGATE_OP");
                tap_is_str(field(q[0], "DELEGATE_ARGS"), "{}", "ping: DELEGATE_ARGS");
                tap_is_str(field(q[0], "DELEGATE_RULE"), "(no policy needed)", "ping: DELEGATE_RULE");
        }
        if (p) {
                static const char *const want[][2] = {
                        { "MESSAGE", "allow memlock.set for pid 77 uid 1000 (vm vm-policy, via socket): rule "
                                     "pod-launchers: requested 1 MiB is within the rule's memlock max 1 GiB" },
                        { "PRIORITY", "6" },
                        { "SYSLOG_IDENTIFIER", "delegate-broker" },
                        { "DELEGATE_OP", "memlock.set" },
                        { "DELEGATE_DECISION", "allow" },
                        { "DELEGATE_RULE", "pod-launchers" },
                        { "DELEGATE_REASON", "requested 1 MiB is within the rule's memlock max 1 GiB" },
                        { "DELEGATE_ARGS", "{\"pid\":77,\"soft\":1048576}" },
                        { "DELEGATE_SESSION", "4242" },
                        { "DELEGATE_PEER_PID", "77" },
                        { "DELEGATE_PEER_UID", "1000" },
                        { "DELEGATE_PEER_GID", "1001" },
                        { "DELEGATE_POD_CGROUP", "/kubepods.slice/pod-j" },
                        { "DELEGATE_VM", "vm-policy" },
                        { "DELEGATE_CLIENT", "test-journald" },
                        { "DELEGATE_VIA", "socket" },
                        { "_TRANSPORT", "journal" },
                };
                for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
                        tap_is_str(field(p, want[i][0]), want[i][1], "the policy decision's %s", want[i][0]);
                tap_ok(field(p, "CODE_FILE") && field(p, "CODE_LINE") && field(p, "CODE_FUNC"),
                       "CODE_FILE, CODE_LINE and CODE_FUNC, as sd_journal_sendv() adds them");
        }
        for (size_t i = 0; i < n; i++)
                json_free(e[i]);
}

static void journald_restart(const char *bin) {
        pid_t j = journald_start(bin);
        log_decision d = base;
        d.vm = "vm-before";
        d.quiet = false;
        log_decision_emit(&d); /* connects */
        journald_stop(j);
        j = journald_start(bin); /* the old socket is gone; a new one at the same path */
        tap_ok(j > 0, "journald started again");
        d.vm = "vm-after";
        log_decision_emit(&d);
        d.vm = "vm-after-quiet";
        d.quiet = true;
        log_set_level(LOG_DEBUG);
        log_batch_begin();
        log_decision_emit(&d);
        log_batch_end();
        journald_stop(j);
        json_value *e[64] = { 0 };
        size_t n = read_journal(e, 64);
        tap_ok(find_vm(e, n, "vm-before") != NULL, "the record before the restart is there");
        tap_ok(find_vm(e, n, "vm-after") != NULL, "the record after it reaches the new journald (connected again)");
        tap_ok(find_vm(e, n, "vm-after-quiet") != NULL, "and the queued one after it");
        for (size_t i = 0; i < n; i++)
                json_free(e[i]);
}

/* Does @text hold the stderr line of the decision about @vm ("... vm=VM via=...")? */
static bool stderr_has_vm(const char *text, const char *vm) {
        char needle[64];
        snprintf(needle, sizeof(needle), " vm=%s via=", vm);
        return strstr(text, needle) != NULL;
}

/*
 * No journal: the sink's attempts back off (100 ms doubling to 2 s), so
 * records written while it waits are not sent, without a connect(); a
 * policy decision's record then goes to stderr (not --foreground here),
 * every one of them.  Then journald starts: one message and one policy
 * decision every 50 ms for 4 s (longer than the longest wait); messages
 * reach it again from some point on, all of them after that point, and
 * each decision is in the journal or on stderr, in exactly one of them.
 */
static void journald_later(const char *bin) {
        int efd = memfd_create("stderr", MFD_CLOEXEC), saved = dup(2);
        tap_ok(efd >= 0 && saved >= 0 && dup2(efd, 2) == 2, "stderr into a file we read back");
        log_decision d = base;
        d.op = "memlock.set";
        d.quiet = false;
        d.rule = "pod-launchers";
        d.reason = "requested 1 MiB is within the rule's memlock max 1 GiB";
        char vm[32];
        d.vm = vm;
        enum { EARLY = 70 };
        /* 3.5 s without a journal: the wait has grown to its longest, 2 s (after 0.1 + 0.2 + ... + 1.6 s) */
        for (int i = 0; i < EARLY; i++) {
                log_msg(NULL, LOG_NOTICE, "no journal yet %d", i);
                snprintf(vm, sizeof(vm), "vm-early-%d", i);
                log_decision_emit(&d);
                usleep(50000);
        }
        pid_t j = journald_start(bin);
        struct timespec up;
        clock_gettime(CLOCK_MONOTONIC, &up);
        tap_ok(j > 0, "systemd-journald starts later (pid %d)", (int) j);
        enum { N = 80 };
        long sent_ms[N]; /* message i's time, after journald's socket appeared */
        for (int i = 0; i < N; i++) {
                struct timespec t;
                clock_gettime(CLOCK_MONOTONIC, &t);
                sent_ms[i] = (t.tv_sec - up.tv_sec) * 1000 + (t.tv_nsec - up.tv_nsec) / 1000000;
                log_msg(NULL, LOG_NOTICE, "journal back %d", i);
                snprintf(vm, sizeof(vm), "vm-back-%d", i);
                log_decision_emit(&d);
                usleep(50000);
        }
        journald_stop(j);
        dup2(saved, 2);
        close(saved);
        char *err = calloc(1, 1 << 20);
        ssize_t elen = err ? pread(efd, err, (1 << 20) - 1, 0) : -1;
        tap_ok(elen > 0, "stderr read back (%zd bytes)", elen);
        close(efd);

        json_value *e[512] = { 0 };
        size_t n = read_journal(e, 512);
        int first = -1, got = 0, before = 0, early_err = 0, both = 0, neither = 0, in_journal = 0;
        for (size_t i = 0; i < n; i++) {
                const char *m = field(e[i], "MESSAGE"), *v = field(e[i], "DELEGATE_VM");
                int k;
                if (m && sscanf(m, "journal back %d", &k) == 1) {
                        if (first < 0)
                                first = k;
                        got++;
                } else if (v && strncmp(v, "vm-early-", 9) == 0)
                        before++;
        }
        for (int i = 0; i < EARLY && err; i++) {
                snprintf(vm, sizeof(vm), "vm-early-%d", i);
                early_err += stderr_has_vm(err, vm);
        }
        for (int i = 0; i < N && err; i++) {
                snprintf(vm, sizeof(vm), "vm-back-%d", i);
                bool jr = find_vm(e, n, vm) != NULL, er = stderr_has_vm(err, vm);
                in_journal += jr;
                both += jr && er;
                neither += !jr && !er;
        }
        tap_is_int(early_err, EARLY, "each of the %d decisions made while no journal listened is on stderr", EARLY);
        tap_is_int(before, 0, "... and none of them in the journal");
        tap_is_int(neither, 0, "every decision after journald started is recorded (%d in the journal)", in_journal);
        tap_is_int(both, 0, "... each once: in the journal or, while the sink waited, on stderr");
        /* a bound on what is lost, not a speed: the wait before the next attempt is at most 2 s
         * (delegate-broker(8)), so the first message sent 2 s after the socket appeared gets there;
         * 2.5 s leaves room for a late wake-up of this test */
        tap_ok(first >= 0 && sent_ms[first] <= 2500,
               "records reach the journald that appeared within the longest back-off, 2 s (the first: message %d, "
               "sent %ld ms after its socket appeared)",
               first, first >= 0 ? sent_ms[first] : -1L);
        tap_is_int(got, first >= 0 ? N - first : -1, "... and every one after it");
        free(err);
        for (size_t i = 0; i < n; i++)
                json_free(e[i]);
}

int main(int argc, char **argv) {
        setvbuf(stdout, NULL, _IOLBF, 0);
        /* the sink reads $DELEGATE_LOG_LEVEL before main() and the scenarios expect the default (info):
         * without it, from the start */
        if (getenv("DELEGATE_LOG_LEVEL")) {
                unsetenv("DELEGATE_LOG_LEVEL");
                execv("/proc/self/exe", argv);
                fprintf(stderr, "cannot run again without DELEGATE_LOG_LEVEL: %s\n", strerror(errno));
                return 1;
        }
        const char *bin = journald_binary();
        if (!bin)
                tap_skip_all("systemd-journald is not installed");
        if (geteuid() != 0)
                tap_skip_all("needs root (a mount namespace of its own for journald)");
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                tap_skip_all("cannot create a mount namespace here");
        if (mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") < 0 ||
            mount("tmpfs", "/var/log", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") < 0 ||
            mkdir("/run/systemd", 0755) < 0 || mkdir("/run/systemd/journal", 0755) < 0) {
                tap_ok(0, "a private /run and /var/log: %s", strerror(errno));
                return tap_done();
        }
        if (argc > 1 && strcmp(argv[1], "journald-restart") == 0)
                journald_restart(bin);
        else if (argc > 1 && strcmp(argv[1], "journald-later") == 0)
                journald_later(bin);
        else
                journald_native(bin);
        return tap_done();
}
