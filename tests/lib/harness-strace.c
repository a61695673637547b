/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * harness-strace.c - strace(1) following a broker's system calls, and what it saw (see harness.h).
 */

#include "harness.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * strace(1) following the broker's system calls @what (its -e) into @log:
 * its pid once /proc says the broker is traced (strace attaches while the
 * broker is stopped, too), or -1, having said why (a skip when strace is
 * not installed: then @followed is not followed).
 */
pid_t harness_strace_follow(harness *h, const char *what, const char *log, const char *followed) {
        char pid[16];
        snprintf(pid, sizeof(pid), "%d", (int) h->broker_pid);
        pid_t tracer = fork();
        if (tracer == 0) {
                int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
                dup2(null, 1);
                dup2(null, 2);
                execlp("strace", "strace", "-qq", "-o", log, "-e", what, "-p", pid, (char *) NULL);
                _exit(127);
        }
        bool traced = false;
        for (int i = 0; tracer > 0 && i < 500 && !traced; i++) {
                char path[64], line[256];
                snprintf(path, sizeof(path), "/proc/%d/status", (int) h->broker_pid);
                FILE *f = fopen(path, "re");
                while (f && fgets(line, sizeof(line), f))
                        traced |= strncmp(line, "TracerPid:", 10) == 0 && atoi(line + 10) > 0;
                if (f)
                        fclose(f);
                int st;
                if (!traced && waitpid(tracer, &st, WNOHANG) == tracer) {
                        if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
                                tap_ok(1, "# SKIP strace(1) is not installed: %s is not followed", followed);
                        else
                                tap_ok(0, "strace(1) could not follow the broker (status %d)", st);
                        return -1;
                }
                if (!traced)
                        usleep(10000);
        }
        if (tracer > 0)
                tap_ok(traced, "strace(1) follows the broker");
        return tracer;
}

/* Stop @tracer (it detaches), then count the lines of its log @lfd (closed) that begin with one of @calls. */
int harness_strace_count(pid_t tracer, int lfd, const char *const *calls) {
        kill(tracer, SIGINT);
        waitpid(tracer, NULL, 0);
        FILE *f = fdopen(lfd, "re");
        char line[512];
        int n = 0;
        while (f && fgets(line, sizeof(line), f))
                for (const char *const *c = calls; *c; c++)
                        n += strncmp(line, *c, strlen(*c)) == 0;
        if (f)
                fclose(f);
        else
                close(lfd);
        return n;
}

pid_t harness_forks_follow(harness *h, char *log, size_t size, int *ret_lfd) {
        snprintf(log, size, "/tmp/delegate-forks.XXXXXX");
        *ret_lfd = mkstemp(log);
        if (*ret_lfd < 0) {
                tap_ok(0, "a log file for strace(1): %s", strerror(errno));
                return -1;
        }
        return harness_strace_follow(h, "trace=clone,clone3,fork,vfork", log, "its forks");
}

int harness_forks_count(pid_t tracer, int lfd, const char *log) {
        static const char *const calls[] = { "clone(", "clone3(", "fork(", "vfork(", NULL };
        int forks = -1;
        if (tracer > 0)
                forks = harness_strace_count(tracer, lfd, calls); /* closes lfd */
        else if (lfd >= 0)
                close(lfd);
        if (lfd >= 0)
                unlink(log);
        return forks;
}
