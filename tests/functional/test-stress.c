/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-stress.c - the broker does not leak: 100k connect/hello/disconnect
 * cycles and two rounds of 10k concurrent sessions leave its fd count where
 * it was and its RSS flat (the second round costs no more than the first).
 * Bounded in time by the suite's timeout, not by assertions on speed.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "harness.h"

/* the broker sees 10k closes in a while on 2 cores */
#define SETTLE_MS 60000
#define CYCLES 100000 /* $DELEGATE_STRESS_CYCLES overrides (the sanitizer build runs fewer) */
/* Each session costs the broker two fds (socket, pidfd); this machine's hard
 * RLIMIT_NOFILE is 20000, which the broker cannot raise, so 10000 sessions
 * would not fit next to its own fds. */
#define SESSIONS 9900

static const char policy_stress[] = "{ \"version\": 1, \"rules\": [] }\n";

/* Hellos in flight at once: the broker and this process work side by side
 * instead of taking turns, which on 2 busy cores is most of the time. */
#define BATCH 64

/* Connect and say hello; the fd, or -1. */
static int session_start(void) {
        static const char hello[] = "{\"type\":\"hello\",\"api\":1,\"client\":\"stress\"}";
        int fd = raw_connect();
        if (fd >= 0 && raw_send(fd, hello, sizeof(hello) - 1) < 0) {
                close(fd);
                fd = -1;
        }
        return fd;
}

/* The welcome of a session_start(): the fd, or -1 (closed). */
static int session_finish(int fd) {
        if (fd < 0)
                return -1;
        char *w = raw_recv(fd, 10000);
        bool ok = w && strstr(w, "\"welcome\"");
        free(w);
        if (!ok) {
                close(fd);
                return -1;
        }
        return fd;
}

/* @n sessions into @fds, BATCH at a time; returns how many failed. */
static int open_sessions(int *fds, int n) {
        int failed = 0;
        for (int i = 0; i < n; i += BATCH) {
                int k = n - i < BATCH ? n - i : BATCH;
                for (int j = 0; j < k; j++)
                        fds[i + j] = session_start();
                for (int j = 0; j < k; j++)
                        if ((fds[i + j] = session_finish(fds[i + j])) < 0)
                                failed++;
        }
        return failed;
}

static bool round_of_sessions(pid_t b, int fds0, int *fds) {
        int failed = open_sessions(fds, SESSIONS);
        int held = harness_fd_count(b);
        tap_is_int(failed, 0, "%d sessions open at once", SESSIONS);
        tap_ok(held >= fds0 + 2 * SESSIONS, "the broker holds a socket and a pidfd for each (%d fds)", held);
        for (int i = 0; i < SESSIONS; i++)
                if (fds[i] >= 0)
                        close(fds[i]);
        return failed == 0;
}

static void stress_sessions(harness *h) {
        struct rlimit nofile;
        getrlimit(RLIMIT_NOFILE, &nofile);
        nofile.rlim_cur = nofile.rlim_max;
        if (nofile.rlim_max < SESSIONS + 100 || setrlimit(RLIMIT_NOFILE, &nofile) < 0)
                tap_skip_all("the RLIMIT_NOFILE hard limit is too low for 9900 sessions");

        harness_stop_broker(h);
        const char *const extra[] = { "--bus", "none", "--max-clients", "20000", "--max-sessions-per-uid", "20000",
                                      "--hello-timeout", "0", NULL };
        tap_is_int(harness_start_broker_args(h, extra), 0, "the broker starts with room for %d clients", SESSIONS);
        pid_t b = h->broker_pid;
        int fd = session_finish(session_start()); /* one session first: lazily allocated things exist */
        close(fd);
        int fds0 = harness_fd_count_steady(b); /* the start-up probe and this session gone */
        long rss0 = harness_rss_kib(b);
        tap_diag("broker at start: %d fds, RSS %ld KiB", fds0, rss0);

        int failed = 0, cycles = CYCLES;
        const char *env = getenv("DELEGATE_STRESS_CYCLES");
        if (env && atoi(env) > 0)
                cycles = atoi(env);
        for (int i = 0; i < cycles; i += BATCH) {
                int batch[BATCH], k = cycles - i < BATCH ? cycles - i : BATCH;
                failed += open_sessions(batch, k);
                for (int j = 0; j < k; j++)
                        if (batch[j] >= 0)
                                close(batch[j]);
        }
        tap_is_int(failed, 0, "%d connect/hello/close cycles all welcomed", cycles);
        tap_is_int(harness_fd_count_settle(b, fds0, SETTLE_MS), fds0, "the broker's fd count is back to %d", fds0);
        long rss1 = harness_rss_kib(b);
        bool rss = !getenv("DELEGATE_STRESS_RSS") || atoi(getenv("DELEGATE_STRESS_RSS"));
        if (rss)
                tap_ok(rss1 - rss0 < 1024, "its RSS grew by less than 1 MiB (%ld -> %ld KiB)", rss0, rss1);
        else
                tap_diag("RSS %ld -> %ld KiB, not checked: a sanitizer build's quarantine keeps freed memory", rss0,
                         rss1);

        int *fds = calloc(SESSIONS, sizeof(int));
        round_of_sessions(b, fds0, fds);
        tap_is_int(harness_fd_count_settle(b, fds0, SETTLE_MS), fds0, "all closed: fds back to %d", fds0);
        long rss2 = harness_rss_kib(b);
        round_of_sessions(b, fds0, fds);
        tap_is_int(harness_fd_count_settle(b, fds0, SETTLE_MS), fds0, "a second round: fds back to %d", fds0);
        long rss3 = harness_rss_kib(b);
        tap_diag("RSS after the first round of %d sessions %ld KiB, after the second %ld KiB", SESSIONS, rss2, rss3);
        if (rss)
                tap_ok(rss3 - rss2 < 1024, "the second round leaves RSS flat (+%ld KiB)", rss3 - rss2);
        char *out = NULL;
        harness_sh(&out, "ls /run/delegate/state | wc -l");
        tap_is_int(out ? atoi(out) : -1, 0, "no state file is left behind");
        free(out);
        free(fds);
}

static const scenario scenarios[] = {
        { "stress-sessions", policy_stress, stress_sessions },
};

int main(int argc, char **argv) {
        return harness_main(argc, argv, scenarios, sizeof(scenarios) / sizeof(scenarios[0]));
}
