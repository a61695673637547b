/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * harness-wire.c - the broker's socket spoken raw (hello, one call), and fields of its JSON replies
 * (see harness.h).
 */

#include "harness.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "json.h"

int raw_connect(void) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        strcpy(sa.sun_path, HARNESS_SOCKET);
        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

int raw_send(int fd, const void *buf, size_t len) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        return n == (ssize_t) len ? 0 : -errno;
}

char *raw_recv(int fd, int timeout_ms) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, timeout_ms) != 1)
                return NULL;
        char *buf = malloc(65537);
        if (!buf)
                return NULL;
        ssize_t n = recv(fd, buf, 65536, 0);
        if (n <= 0) {
                free(buf);
                return NULL;
        }
        buf[n] = 0;
        return buf;
}

char *raw_call(int fd, const char *msg) {
        if (raw_send(fd, msg, strlen(msg)) < 0)
                return NULL;
        return raw_recv(fd, 5000);
}

int raw_hello(void) {
        int fd = raw_connect();
        if (fd < 0)
                return -1;
        char *w = raw_call(fd, "{\"type\":\"hello\",\"api\":1,\"client\":\"raw\"}");
        bool ok = w && strcmp(jstr(w, "type"), "welcome") == 0;
        free(w);
        if (!ok) {
                close(fd);
                return -1;
        }
        return fd;
}

int64_t jint(const char *json, const char *path) {
        int64_t v = -1;
        json_field_i64(json, path, &v);
        return v;
}

const char *jstr(const char *json, const char *path) {
        static char buf[8][600];
        static int k;
        char *b = buf[k++ % 8];
        if (!json_field_str(json, path, b, sizeof(buf[0])))
                snprintf(b, sizeof(buf[0]), "(missing %s)", path);
        return b;
}

static const json_value *walk(const json_value *v, const char *path) {
        char buf[256];
        snprintf(buf, sizeof(buf), "%s", path);
        for (char *k = strtok(buf, "."); k && v; k = strtok(NULL, ".")) {
                if (v->type == JSON_ARRAY) { /* "threads.0.tid" */
                        char *end;
                        unsigned long i = strtoul(k, &end, 10);
                        v = *end == 0 && i < v->array.n ? v->array.items[i] : NULL;
                } else
                        v = json_get(v, k);
        }
        return v;
}

bool json_field_str(const char *json, const char *path, char *buf, size_t size) {
        json_value *root = NULL;
        json_parse_error e;
        if (!json || json_parse(json, strlen(json), false, &root, &e) < 0)
                return false;
        const json_value *v = walk(root, path);
        bool ok = v && v->type == JSON_STRING;
        if (ok)
                snprintf(buf, size, "%s", v->string.str);
        json_free(root);
        return ok;
}

bool json_field_i64(const char *json, const char *path, int64_t *ret) {
        json_value *root = NULL;
        json_parse_error e;
        if (!json || json_parse(json, strlen(json), false, &root, &e) < 0)
                return false;
        const json_value *v = walk(root, path);
        bool ok = v && json_to_i64(v, ret) == 0;
        if (v && v->type == JSON_BOOL) {
                *ret = v->boolean;
                ok = true;
        }
        json_free(root);
        return ok;
}

/*
 * A TCP socket whose close waits @linger_s seconds: connected over lo to a
 * peer that never reads, its send queue full, SO_LINGER on.  The last
 * close(2) of it waits until the queue drains or the time passes (tcp_close);
 * -errno when it cannot be made.
 */
int harness_lingering_socket(int linger_s, int *ret_peer) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t l = sizeof(sa);
        int small = 4096, r = 0;
        int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        *ret_peer = -1;
        if (ls < 0 || s < 0 || bind(ls, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(ls, 1) < 0 ||
            getsockname(ls, (struct sockaddr *) &sa, &l) < 0 ||
            setsockopt(s, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)) < 0 ||
            connect(s, (struct sockaddr *) &sa, sizeof(sa)) < 0 || (*ret_peer = accept4(ls, NULL, NULL, SOCK_CLOEXEC)) < 0 ||
            setsockopt(*ret_peer, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)) < 0)
                r = -errno;
        if (ls >= 0)
                close(ls);
        if (r < 0) {
                if (s >= 0)
                        close(s);
                return r;
        }
        static char junk[65536];
        size_t queued = 0;
        for (ssize_t n; (n = send(s, junk, sizeof(junk), MSG_DONTWAIT | MSG_NOSIGNAL)) > 0;)
                queued += (size_t) n;
        struct linger lg = { .l_onoff = 1, .l_linger = linger_s };
        if (queued == 0 || setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) < 0) {
                close(s);
                return -EIO;
        }
        return s;
}
