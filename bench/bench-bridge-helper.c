/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-bridge-helper - what QEMU's own way to get a bridged TAP costs:
 * fork + exec of qemu-bridge-helper, which creates the device, attaches it
 * to the bridge and passes its fd back over a socket.
 *
 *   bench-bridge-helper HELPER BRIDGE ITERATIONS
 *
 * Times from fork() until the fd has arrived and the helper has exited,
 * as QEMU waits for it.  Runs as root in the pod's netns (the helper is
 * normally setuid root; its ACL file must allow BRIDGE).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench-util.h"

#define TAP_MAX 400

/* One received fd from @sock, or -1. */
static int recv_fd(int sock) {
        char c;
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(sizeof(int))];
        } cm;
        struct iovec iov = { &c, 1 };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &cm, .msg_controllen = sizeof(cm) };
        if (recvmsg(sock, &mh, MSG_CMSG_CLOEXEC) <= 0)
                return -1;
        struct cmsghdr *h = CMSG_FIRSTHDR(&mh);
        if (!h || h->cmsg_type != SCM_RIGHTS)
                return -1;
        int fd;
        memcpy(&fd, CMSG_DATA(h), sizeof(fd));
        return fd;
}

static int once(const char *helper, const char *bridge) {
        int sv[2];
        char br[64], fdarg[32];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                return -1;
        snprintf(br, sizeof(br), "--br=%s", bridge);
        snprintf(fdarg, sizeof(fdarg), "--fd=%d", sv[1]);
        pid_t pid = fork();
        if (pid == 0) {
                fcntl(sv[1], F_SETFD, 0); /* the helper's end survives exec */
                execl(helper, "qemu-bridge-helper", br, fdarg, (char *) NULL);
                _exit(127);
        }
        close(sv[1]);
        int fd = recv_fd(sv[0]);
        int status = 0;
        waitpid(pid, &status, 0);
        close(sv[0]);
        if (fd < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
                return -1;
        close(fd);
        return 0;
}

int main(int argc, char **argv) {
        if (argc != 4)
                bench_die("usage", "bench-bridge-helper HELPER BRIDGE ITERATIONS");
        size_t n = strtoul(argv[3], NULL, 10);
        if (n > TAP_MAX)
                n = TAP_MAX;
        uint64_t *t = calloc(n ? n : 1, sizeof(*t));
        for (size_t i = 0; i < n; i++) {
                uint64_t t0 = bench_now_ns();
                if (once(argv[1], argv[2]) < 0)
                        bench_die("qemu-bridge-helper", "failed (see its stderr)");
                t[i] = bench_now_ns() - t0;
        }
        bench_report("tap + bridge via qemu-bridge-helper", "root: fork + exec helper, fd over a socket", t, n);
        free(t);
        return 0;
}
