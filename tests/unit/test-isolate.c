/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-isolate.c - the launcher's seccomp allowlist (launcher_seccomp(),
 * the real filter loaded in a child) and setsockopt(): libdelegate's
 * SO_RCVTIMEO passes (also SO_RCVTIMEO_OLD/_NEW, which glibc uses on
 * 32-bit time64 systems), any other setsockopt fails with EPERM (the
 * library falls back to poll()), never kills the launcher.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "launcher.h"
#include "tap.h"

/* In a child under the filter: setsockopt(@level, @name) on a socket; its exit status is 0 (ok) or the errno. */
static int child_setsockopt(int level, int name, int *sig) {
        pid_t pid = fork();
        if (pid == 0) {
                int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                char err[256];
                if (fd < 0 || launcher_seccomp(err, sizeof(err)) < 0)
                        _exit(100);
                struct timeval tv = { .tv_sec = 30 };
                int big = 65536;
                void *v = name == SO_SNDBUF || level != SOL_SOCKET ? (void *) &big : (void *) &tv;
                socklen_t len = v == &big ? sizeof(big) : sizeof(tv);
                _exit(setsockopt(fd, level, name, v, len) == 0 ? 0 : errno);
        }
        int st = 0;
        waitpid(pid, &st, 0);
        *sig = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
        return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int main(void) {
        int sig;
        tap_is_int(child_setsockopt(SOL_SOCKET, SO_RCVTIMEO, &sig), 0, "SO_RCVTIMEO is allowed (signal %d)", sig);
#ifdef SO_RCVTIMEO_OLD
        tap_is_int(child_setsockopt(SOL_SOCKET, SO_RCVTIMEO_OLD, &sig), 0, "SO_RCVTIMEO_OLD is allowed (signal %d)", sig);
#endif
#ifdef SO_RCVTIMEO_NEW
        tap_is_int(child_setsockopt(SOL_SOCKET, SO_RCVTIMEO_NEW, &sig), 0, "SO_RCVTIMEO_NEW is allowed (signal %d)", sig);
#endif
        tap_is_int(child_setsockopt(SOL_SOCKET, SO_SNDBUF, &sig), EPERM,
                   "another SOL_SOCKET option fails with EPERM, the launcher lives (signal %d)", sig);
        tap_is_int(child_setsockopt(SOL_SOCKET, SO_RCVTIMEO + 1, &sig), EPERM, "the option after SO_RCVTIMEO too (signal %d)",
                   sig);
        tap_is_int(child_setsockopt(SOL_SOCKET, 46, &sig), EPERM, "SO_BUSY_POLL (46) too (signal %d)", sig);
        tap_is_int(child_setsockopt(SOL_SOCKET, 100, &sig), EPERM, "option 100 too (signal %d)", sig);
        tap_is_int(child_setsockopt(SOL_SOCKET + 1, SO_RCVTIMEO, &sig), EPERM,
                   "another level fails with EPERM (signal %d)", sig);
        return tap_done();
}
