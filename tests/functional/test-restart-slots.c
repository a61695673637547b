/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-restart-slots.c - a session's two state files (broker-state.c,
 * broker-state-save.c) across kill -9 of the broker: a broker killed right
 * after a reply leaves the change it reported on record, also when the new
 * version is shorter than the one written over (covered with spaces) or
 * much shorter (cut); a save killed half way leaves the version before it
 * to be taken; a new session's first save removes a stale file of its
 * number from the other slot; a file that cannot be read is left for the
 * next broker, with the one beside it.  Real files in the real state
 * directory; assertions read the kernel (getrlimit) and the files.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define POD_A "kubepods.slice/pod-a"
#define STATE_DIR "/run/delegate/state"

static const char policy_slots[] =
        "{ \"version\": 1,\n"
        "  \"rules\": [\n"
        "    { \"name\": \"pod-a\",\n"
        "      \"match\": { \"uid\": 1000, \"cgroup\": \"/kubepods.slice/pod-a\" },\n"
        "      \"memlock\": { \"max\": \"1G\" } }\n"
        "  ]\n"
        "}\n";

/* Where the object that @t begins with ends (strings and their escapes skipped): its length, 0 if it does not. */
static size_t object_length(const char *t) {
        int depth = 0;
        bool str = false, esc = false;
        for (size_t i = 0; t[i]; i++) {
                char ch = t[i];
                if (str) {
                        if (esc)
                                esc = false;
                        else if (ch == '\\')
                                esc = true;
                        else if (ch == '"')
                                str = false;
                } else if (ch == '"')
                        str = true;
                else if (ch == '{' || ch == '[')
                        depth++;
                else if ((ch == '}' || ch == ']') && --depth == 0)
                        return i + 1;
        }
        return 0;
}

/* Session @session's state file in slot @slot (0: session-N.json, 1: session-N.b.json). */
static void slot_path(uint64_t session, int slot, char *buf, size_t size) {
        snprintf(buf, size, STATE_DIR "/session-%" PRIu64 "%s.json", session, slot ? ".b" : "");
}

/* The generation a state file's text names at its start, 0 if none. */
static uint64_t generation_of(const char *text) {
        const char *p = strstr(text, "{\"generation\":");
        return p == text ? strtoull(text + 14, NULL, 10) : 0;
}

/* Which slot holds the newer version of @session's state (the higher generation), read into @text. */
static int newest_slot(uint64_t session, char *text, size_t size) {
        char path[128], other[65536];
        slot_path(session, 0, path, sizeof(path));
        harness_read_file(path, text, size);
        slot_path(session, 1, path, sizeof(path));
        harness_read_file(path, other, sizeof(other));
        if (generation_of(other) <= generation_of(text))
                return 0;
        snprintf(text, size, "%s", other);
        return 1;
}

/* A launcher stand-in in pod-a with a child (*@ret_child); its session. */
static uint64_t launcher_with_child(harness *h, tclient *a, pid_t *ret_child) {
        if (tclient_start(h, a, POD_A, 1000, 1000, "vm-a") < 0)
                tap_ok(0, "start the launcher stand-in");
        char *r = tclient_call(a, "child");
        *ret_child = (pid_t) jint(r, "pid");
        free(r);
        r = tclient_call(a, "ping");
        uint64_t session = (uint64_t) jint(r, "session");
        free(r);
        return session;
}

/* A new broker starts; @a reconnects and resumes @session, and the broker knows soft limit @soft for @child. */
static void resumes_knowing(harness *h, tclient *a, uint64_t session, pid_t child, uint64_t soft) {
        tap_is_int(harness_start_broker(h), 0, "a new broker starts");
        char *r = tclient_call(a, "connect");
        tap_ok(jint(r, "resumed") == 1 && (uint64_t) jint(r, "session") == session, "session %" PRIu64 " resumes (%s)",
               session, r);
        free(r);
        r = tclient_call(a, "state");
        tap_ok(jint(r, "state.memlock.0.pid") == child && (uint64_t) jint(r, "state.memlock.0.soft") == soft,
               "the new broker knows soft %" PRIu64 " for pid %d (%s)", soft, (int) child, r);
        free(r);
}

/*
 * What a reply reports is on disk before the client reads it: the broker
 * is killed (SIGKILL) as soon as each of several memlock.set replies
 * arrives (the helper's answer comes back in a later turn of the loop than
 * the request), and the next broker resumes the session knowing the
 * limits of the last one.  /run is tmpfs here: the files are written
 * without fsync (delegate-broker(8), SESSIONS AND RESTARTS).
 */
static void restart_kill9_reply(harness *h) {
        tclient a;
        struct statfs sf;
        if (statfs(STATE_DIR, &sf) == 0)
                tap_diag("the state directory is %s", sf.f_type == TMPFS_MAGIC ? "on tmpfs: no fsync" : "not on tmpfs: fsync");
        pid_t child;
        uint64_t session = launcher_with_child(h, &a, &child);
        char *r;
        for (int i = 0; i < 4; i++) {
                uint64_t soft = harness_hard / 8 + 4096 * (uint64_t) (i + 1), s, hd;
                r = tclient_call(&a, "memlock %d %" PRIu64 " keep", (int) child, soft);
                harness_kill_broker(h);
                tap_is_int(jint(r, "soft"), soft, "round %d: memlock.set answers soft %" PRIu64 ", then kill -9 (%s)", i,
                           soft, r);
                free(r);
                resumes_knowing(h, &a, session, child, soft);
                tap_ok(read_memlock(child, &s, &hd) == 0 && s == soft, "as the kernel does");
        }
        /* the same limits again change nothing kept: no write, the files keep their bytes */
        char file[2][128], before[2][16384], after[2][16384];
        for (int k = 0; k < 2; k++) {
                slot_path(session, k, file[k], sizeof(file[k]));
                harness_read_file(file[k], before[k], sizeof(before[k]));
        }
        uint64_t last = harness_hard / 8 + 4096 * 4;
        r = tclient_call(&a, "memlock %d %" PRIu64 " keep", (int) child, last);
        tap_is_int(jint(r, "soft"), last, "the same limits again (%s)", r);
        free(r);
        for (int k = 0; k < 2; k++) {
                harness_read_file(file[k], after[k], sizeof(after[k]));
                tap_is_str(after[k], before[k], "leave %s as it was: nothing kept changed", file[k]);
        }
        tap_ok(access(file[1], F_OK) == 0, "the version before the last is kept beside it (the next save writes over it)");
        tclient_stop(&a);
        tap_ok(WAIT_FOR(access(file[0], F_OK) < 0 && access(file[1], F_OK) < 0),
               "the session ends: both its state files are removed");
}

/*
 * On tmpfs a session's saves after its first two write over the older of
 * its two files through a descriptor kept open, and cover the rest of a
 * longer version with spaces instead of cutting it.  A record shorter than
 * the one written over (soft 0 after many 7-digit limits, the retry cache
 * full of equally long answers), the broker killed right after its reply:
 * the newer file holds it whole, its newline, spaces after it, and the
 * next broker reads it back.
 */
static void restart_kill9_shorter(harness *h) {
        tclient a;
        struct statfs sf;
        bool tmpfs = statfs(STATE_DIR, &sf) == 0 && (sf.f_type == TMPFS_MAGIC || sf.f_type == RAMFS_MAGIC);
        pid_t child;
        uint64_t session = launcher_with_child(h, &a, &child);
        char *r;
        bool all = true;
        for (int i = 0; i < 40; i++) { /* more than the 32 answers the retry cache keeps */
                uint64_t soft = harness_hard / 8 + 4096 * (uint64_t) (i % 2 + 1);
                r = tclient_call(&a, "memlock %d %" PRIu64 " keep", (int) child, soft);
                all = all && (uint64_t) jint(r, "soft") == soft;
                free(r);
        }
        tap_ok(all, "40 memlock.set, each a save of a record as long as the last");
        r = tclient_call(&a, "memlock %d 0 keep", (int) child);
        harness_kill_broker(h);
        tap_is_int(jint(r, "ok"), 1, "then soft 0, a shorter record, answered; then kill -9 (%s)", r);
        free(r);
        char text[65536] = "";
        newest_slot(session, text, sizeof(text));
        size_t n = strlen(text), m = object_length(text);
        if (!tmpfs)
                tap_diag("the state directory is not on tmpfs: saved the usual way (written, synced, renamed), no spaces");
        else
                tap_ok(m > 0 && m + 1 < n && text[m] == '\n' && strspn(text + m + 1, " ") == n - m - 1,
                       "the newer slot holds it, its newline, then spaces where the longer version was (%zu bytes, %zu "
                       "of them spaces)", n, n - m - 1);
        resumes_knowing(h, &a, session, child, 0);
        uint64_t s, hd;
        tap_ok(read_memlock(child, &s, &hd) == 0 && s == 0, "as the kernel does");
        tclient_stop(&a);
}

/*
 * The same when the version written over is more than 4 KiB longer: cut to
 * length, not covered.  16 state.get answers (about 500 bytes each, in the
 * retry cache) are in the second save's file; 33 pings push them out of
 * the cache; the fourth save writes over that file, kill -9 after its
 * reply: the file ends with the record, and the next broker reads it back.
 */
static void restart_kill9_cut(harness *h) {
        tclient a;
        pid_t child;
        uint64_t session = launcher_with_child(h, &a, &child), soft[2] = { harness_hard / 8 + 4096, harness_hard / 4 };
        free(tclient_call(&a, "memlock %d %" PRIu64 " keep", (int) child, soft[0]));
        for (int i = 0; i < 16; i++)
                free(tclient_call(&a, "state"));
        free(tclient_call(&a, "memlock %d %" PRIu64 " keep", (int) child, soft[1]));
        free(tclient_call(&a, "memlock %d %" PRIu64 " keep", (int) child, soft[0]));
        for (int i = 0; i < 33; i++)
                free(tclient_call(&a, "ping"));
        char *r = tclient_call(&a, "memlock %d %" PRIu64 " keep", (int) child, soft[1]);
        harness_kill_broker(h);
        tap_is_int(jint(r, "soft"), soft[1], "the fourth save, over a file 16 answers longer; then kill -9 (%s)", r);
        free(r);
        char text[65536] = "";
        newest_slot(session, text, sizeof(text));
        size_t n = strlen(text);
        tap_ok(n > 0 && object_length(text) == n - 1 && text[n - 1] == '\n',
               "the newer slot is the record and its newline, nothing after it: cut, not covered (%zu bytes)", n);
        resumes_knowing(h, &a, session, child, soft[1]);
        tclient_stop(&a);
}

/*
 * A save killed half way (a write stops between pages on SIGKILL) leaves
 * its file cut: the next broker takes the whole version in the other file,
 * never the newer cut one.  Real files: 60 memlock.set fill the retry cache
 * with answers of one length, both files are copied, one more memlock.set
 * (soft S3) writes the older file again; after kill -9 that file is made
 * what a write stopped at each page boundary leaves (the new version's
 * pages before it, the old one's after: of the same length, so the splice
 * is valid JSON and only the generations at its ends tell; or nothing
 * after it, as a file cut there), the other file
 * put back, and each time a new broker must resume the session with the
 * soft limit of the other file's version, and log the cut one.  The whole
 * new version, put back last, gives S3.
 */
static void restart_kill9_torn(harness *h) {
        tclient a;
        pid_t child;
        uint64_t session = launcher_with_child(h, &a, &child), s3 = harness_hard / 8 + 4096 * 3;
        char *r;
        bool all = true;
        /* more than a page, whatever the answers' sizes: memlock records of six more children, the same in
         * every version (the retry cache alone, answers copied in unquoted, stays just under 4 KiB), after
         * the child's own (state.memlock.0, read below) */
        r = tclient_call(&a, "memlock %d %" PRIu64 " keep", (int) child, harness_hard / 8 + 4096);
        all = jint(r, "ok") == 1;
        free(r);
        for (int i = 0; i < 6; i++) {
                r = tclient_call(&a, "child");
                pid_t other = (pid_t) jint(r, "pid");
                free(r);
                r = tclient_call(&a, "memlock %d %" PRIu64 " keep", (int) other, harness_hard / 8 + 4096);
                all = all && jint(r, "ok") == 1;
                free(r);
        }
        for (int i = 0; i < 60; i++) { /* the retry cache then holds no id of one digit: answers of one length */
                uint64_t soft = harness_hard / 8 + 4096 * (uint64_t) (i % 2 + 1);
                r = tclient_call(&a, "memlock %d %" PRIu64 " keep", (int) child, soft);
                all = all && (uint64_t) jint(r, "soft") == soft;
                free(r);
        }
        tap_ok(all, "1 + 6 + 60 memlock.set answered");
        static char older[65536], newer_whole[65536], other[65536], torn[65536];
        int slot = !newest_slot(session, other, sizeof(other)); /* the older one: the next save writes it */
        char path[128], other_path[128];
        slot_path(session, slot, path, sizeof(path));
        slot_path(session, !slot, other_path, sizeof(other_path));
        harness_read_file(path, older, sizeof(older));
        r = tclient_call(&a, "memlock %d %" PRIu64 " keep", (int) child, s3);
        harness_kill_broker(h);
        tap_is_int(jint(r, "soft"), s3, "then soft %" PRIu64 ", into %s; kill -9 (%s)", s3, path, r);
        free(r);
        harness_read_file(path, newer_whole, sizeof(newer_whole));
        uint64_t g_old = generation_of(older), g_other = generation_of(other), g_new = generation_of(newer_whole);
        size_t n = strlen(newer_whole);
        tap_ok(g_old > 0 && g_other == g_old + 1 && g_new == g_other + 1,
               "generations %" PRIu64 " (written over), %" PRIu64 " (beside it), %" PRIu64 " (the new one)", g_old,
               g_other, g_new);
        tap_ok(strlen(older) == n && n > 4096,
               "the new version is as long as the one it was written over, more than a page (%zu and %zu bytes)", n,
               strlen(older));
        uint64_t want = (uint64_t) jint(other, "state.memlock.0.soft");
        tap_ok(want && want != s3, "the version beside it says soft %" PRIu64, want);
        size_t pages = 0, good = 0;
        for (size_t i = 0; 4096 * (i / 2 + 1) < n; i++) { /* each boundary twice: the older version after it, nothing */
                size_t cut = 4096 * (i / 2 + 1);
                memcpy(torn, newer_whole, cut);
                memcpy(torn + cut, older + cut, n - cut + 1);
                if (i % 2)
                        torn[cut] = 0; /* the file cut there */
                pages++;
                if (harness_write_file(path, torn) < 0 || harness_write_file(other_path, other) < 0)
                        tap_ok(0, "write the state files");
                if (harness_start_broker(h) < 0)
                        break;
                r = tclient_call(&a, "connect");
                bool resumed = jint(r, "resumed") == 1 && (uint64_t) jint(r, "session") == session;
                free(r);
                r = tclient_call(&a, "state");
                uint64_t got = (uint64_t) jint(r, "state.memlock.0.soft");
                free(r);
                char logged[160];
                snprintf(logged, sizeof(logged), "generation %" PRIu64 " was cut short", g_new);
                bool said = harness_log_contains(logged);
                harness_kill_broker(h);
                tap_ok(resumed && got == want && said,
                       "cut at byte %zu%s: the session resumes with soft %" PRIu64 " (want %" PRIu64 "), the cut one logged",
                       cut, i % 2 ? ", nothing after it" : ", the older version after it", got, want);
                good += resumed && got == want && said;
        }
        tap_ok(pages > 0 && good == pages, "at each page boundary (%zu cuts) the version before is taken", pages);
        if (harness_write_file(path, newer_whole) < 0 || harness_write_file(other_path, other) < 0)
                tap_ok(0, "write the state files");
        tap_is_int(harness_start_broker(h), 0, "the new version whole again: a new broker starts");
        r = tclient_call(&a, "connect");
        free(r);
        r = tclient_call(&a, "state");
        tap_is_int(jint(r, "state.memlock.0.soft"), s3, "it takes the new version: soft %" PRIu64 " (%s)", s3, r);
        free(r);
        tclient_stop(&a);
}

/* @text (a framed state file) with generation @gen at both ends, into @out; false if it is not framed. */
static bool reframe(const char *text, uint64_t gen, char *out, size_t size) {
        const char *inner = strstr(text, ",\"state\":"), *end = strrchr(text, ',');
        if (generation_of(text) == 0 || !inner || !end || end < inner || strncmp(end, ",\"end\":", 7) != 0)
                return false;
        int n = snprintf(out, size, "{\"generation\":%" PRIu64 "%.*s,\"end\":%" PRIu64 "}\n", gen,
                         (int) (end - inner), inner, gen);
        return n > 0 && (size_t) n < size;
}

/*
 * A file of an earlier session of the same number, left in the second
 * slot (a broker that could neither recover nor move it aside), whole and
 * of a high generation: a new session of that number, its first save (in
 * the first slot, generation 1), kill -9; the next broker must take the
 * new session's file, not the stale one.  Real files: the stale one is the
 * saved state of an ended session (soft S1, its launcher gone) with
 * generation 57 at both ends, planted after the broker started (so it saw
 * no file) and before the new session's first save (soft S2).
 */
static void restart_stale_slot(harness *h) {
        tclient a, b;
        pid_t child;
        uint64_t s1 = harness_hard / 8 + 4096, s2 = harness_hard / 8 + 8192;
        uint64_t session = launcher_with_child(h, &a, &child);
        char *r = tclient_call(&a, "memlock %d %" PRIu64 " keep", (int) child, s1);
        tap_is_int(jint(r, "soft"), s1, "session %" PRIu64 ": soft %" PRIu64 " (%s)", session, s1, r);
        free(r);
        static char text[65536], stale[65536];
        newest_slot(session, text, sizeof(text));
        tap_ok(reframe(text, 57, stale, sizeof(stale)), "its saved state, made generation 57");
        char path[128], first[128];
        slot_path(session, 1, path, sizeof(path));
        slot_path(session, 0, first, sizeof(first));
        tclient_stop(&a);
        tap_ok(WAIT_FOR(access(first, F_OK) < 0 && access(path, F_OK) < 0), "the session ends: its files are removed");
        int st = harness_stop_broker(h);
        tap_ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the broker stops on SIGTERM");
        tap_is_int(harness_start_broker(h), 0, "a new broker starts (no state file: sessions count from 1 again)");
        tap_is_int(harness_write_file(path, stale), 0, "the stale file planted as %s", path);
        uint64_t again = launcher_with_child(h, &b, &child);
        tap_is_int(again, session, "a new launcher gets session %" PRIu64 " again", session);
        r = tclient_call(&b, "memlock %d %" PRIu64 " keep", (int) child, s2);
        harness_kill_broker(h);
        tap_is_int(jint(r, "soft"), s2, "its first save: soft %" PRIu64 "; then kill -9 (%s)", s2, r);
        free(r);
        tap_ok(access(first, F_OK) == 0 && access(path, F_OK) < 0,
               "the first save wrote %s and removed the stale file beside it", first);
        resumes_knowing(h, &b, session, child, s2); /* the new session's state, not the stale file's */
        tclient_stop(&b);
}

/*
 * A state file that cannot be read for a reason other than what it holds
 * (no memory, a read error, a short read) is not a bad file: the newer of
 * a session's two files failing so must not make the broker move it aside
 * and take the older one (whatever was granted since would be forgotten).
 * The read fails for real: the broker runs under deny-calls with read()s
 * of exactly the newer file's size failing with EPERM.  Both files stay as
 * they were, nothing is moved aside, a new session takes another number;
 * the next broker, reading normally, resumes the session with the newer
 * file's soft limit.
 */
static void restart_unreadable_slot(harness *h) {
        tclient a, b;
        pid_t child;
        uint64_t session = launcher_with_child(h, &a, &child), s1 = harness_hard / 8 + 4096, s2 = harness_hard / 4;
        free(tclient_call(&a, "memlock %d %" PRIu64 " keep", (int) child, s1));
        char *r = tclient_call(&a, "memlock %d %" PRIu64 " keep", (int) child, s2);
        harness_kill_broker(h);
        tap_is_int(jint(r, "soft"), s2, "soft %" PRIu64 ", then %" PRIu64 ", each saved; then kill -9 (%s)", s1, s2, r);
        free(r);
        static char newer[65536], older[65536], now[65536];
        int slot = newest_slot(session, newer, sizeof(newer));
        char path[128], other[128], deny[64];
        slot_path(session, slot, path, sizeof(path));
        slot_path(session, !slot, other, sizeof(other));
        harness_read_file(other, older, sizeof(older));
        tap_ok(strlen(newer) != strlen(older) && strlen(newer) != 832,
               "the newer version in %s, %zu bytes (the older %zu; the dynamic loader reads 832)", path, strlen(newer),
               strlen(older));
        snprintf(deny, sizeof(deny), "read:%zu", strlen(newer));
        setenv("DENY_CALLS", deny, 1);
        tap_is_int(harness_restart_broker_through(h, "DELEGATE_DENY_CALLS", "DENY_CALLS_EXEC"), 0,
                   "a new broker starts with read()s of %zu bytes failing (EPERM)", strlen(newer));
        char logged[200];
        snprintf(logged, sizeof(logged), "state '" STATE_DIR "/%s': cannot be read: %s; the session's files are left",
                 strrchr(path, '/') + 1, strerror(EPERM));
        tap_ok(harness_log_contains(logged), "it logs: %s", logged);
        harness_read_file(path, now, sizeof(now));
        tap_is_str(now, newer, "%s is left as it was", path);
        harness_read_file(other, now, sizeof(now));
        tap_is_str(now, older, "so is %s", other);
        tap_ok(harness_sh(NULL, "ls " STATE_DIR " | grep -q rejected") != 0, "nothing is moved aside");
        if (tclient_start(h, &b, POD_A, 1000, 1000, "vm-b") < 0)
                tap_ok(0, "start a second launcher stand-in");
        r = tclient_call(&b, "ping");
        tap_ok((uint64_t) jint(r, "session") > session, "a new session takes a number above %" PRIu64 " (%s)", session,
               r);
        free(r);
        tclient_stop(&b);
        harness_kill_broker(h);
        resumes_knowing(h, &a, session, child, s2); /* reading normally: the newer file's limit */
        tclient_stop(&a);
}

static const scenario scenarios[] = {
        { "restart-kill9-reply", policy_slots, restart_kill9_reply },
        { "restart-kill9-shorter", policy_slots, restart_kill9_shorter },
        { "restart-kill9-cut", policy_slots, restart_kill9_cut },
        { "restart-kill9-torn", policy_slots, restart_kill9_torn },
        { "restart-stale-slot", policy_slots, restart_stale_slot },
        { "restart-unreadable-slot", policy_slots, restart_unreadable_slot },
};

int main(int argc, char **argv) {
        return harness_main(argc, argv, scenarios, sizeof(scenarios) / sizeof(scenarios[0]));
}
