/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * harness-qmp.c - a test's own QMP client, for QEMU monitors a scenario
 * adds with "-qmp unix:PATH,server=on,wait=off": the test asks QEMU
 * directly (query-status, migrate, quit) instead of trusting the launcher.
 */
#include <errno.h>
#include <stdio.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static int64_t qmp_now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One line from @fd (byte by byte: no read-ahead to keep), malloc'd; NULL on EOF or timeout. */
static char *read_line(int fd, int timeout_ms) {
        int64_t deadline = qmp_now_ms() + timeout_ms;
        size_t cap = 4096, len = 0;
        char *buf = malloc(cap);
        while (buf) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                int64_t left = deadline - qmp_now_ms();
                if (left <= 0 || poll(&p, 1, (int) left) != 1)
                        break;
                ssize_t k = read(fd, buf + len, 1);
                if (k <= 0)
                        break;
                if (buf[len] == '\n') {
                        buf[len] = 0;
                        return buf;
                }
                if (++len + 1 >= cap) {
                        char *nb = realloc(buf, cap *= 2);
                        if (!nb)
                                break;
                        buf = nb;
                }
        }
        free(buf);
        return NULL;
}

int harness_qmp_open(const char *path, int timeout_ms) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        for (int64_t deadline = qmp_now_ms() + timeout_ms;; usleep(20000)) {
                int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (fd < 0)
                        return -errno;
                if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0) {
                        char *greeting = read_line(fd, timeout_ms);
                        bool ok = greeting && strstr(greeting, "\"QMP\"");
                        free(greeting);
                        char *r = ok ? harness_qmp(fd, "{\"execute\":\"qmp_capabilities\"}") : NULL;
                        ok = r && strstr(r, "\"return\"");
                        free(r);
                        if (ok)
                                return fd;
                        close(fd);
                        return -EPROTO;
                }
                int e = errno;
                close(fd);
                if (qmp_now_ms() >= deadline)
                        return -e;
        }
}

char *harness_qmp(int fd, const char *command_json) {
        /* one send, no SIGPIPE: QEMU runs a command as soon as the object is
         * complete, and after "quit" it may close before a second write */
        char *cmd = NULL;
        int n = asprintf(&cmd, "%s\n", command_json);
        if (n < 0)
                return NULL;
        ssize_t k = send(fd, cmd, (size_t) n, MSG_NOSIGNAL);
        free(cmd);
        if (k != n)
                return NULL;
        for (;;) {
                char *line = read_line(fd, 30000);
                if (!line || !strstr(line, "\"event\""))
                        return line; /* the answer, or NULL */
                free(line);
        }
}

char *harness_qmp_status(int fd) {
        char *r = harness_qmp(fd, "{\"execute\":\"query-status\"}");
        char *s = strdup(r ? jstr(r, "return.status") : "(no answer)");
        free(r);
        return s;
}
