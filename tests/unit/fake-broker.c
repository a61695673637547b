/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fake-broker.c - see fake-broker.h.
 */
#include "fake-broker.h"

#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "json.h"
#include "unit-util.h"
#include "wire.h"

int listen_at(const char *name, char *ret_path, size_t size) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        snprintf(ret_path, size, "%s/%s", tmpdir, name);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", ret_path);
        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(fd, 4) < 0)
                unit_bail("listening socket: %m");
        return fd;
}

uint64_t request_id(const char *request) {
        _cleanup_json_ json_value *v = NULL;
        json_parse_error e;
        uint64_t id = 0;
        if (json_parse(request, strlen(request), false, &v, &e) == 0)
                json_to_u64(json_get(v, "id"), &id);
        return id;
}

/* One request on connection @c: -1 when the connection is to end. */
static int serve_request(fake *f, int c) {
        char reply[4096];
        ssize_t n = recv(c, f->request, sizeof(f->request) - 1, 0);
        if (n <= 0)
                return -1;
        f->request[n] = 0;
        if (f->accepted == 1 && !f->first_request[0])
                memcpy(f->first_request, f->request, sizeof(f->request));
        if (f->accepted <= f->drop_rounds)
                return -1; /* the "broker" dies before it answers */
        if (f->stale && send(c, f->stale, strlen(f->stale), MSG_NOSIGNAL) < 0)
                return -1;
        if (f->delay_ms)
                poll(NULL, 0, f->delay_ms);
        snprintf(reply, sizeof(reply), f->reply_fmt, (unsigned long long) request_id(f->request));
        return wire_send(c, reply, strlen(reply), &f->reply_fd, f->reply_fd >= 0 ? 1 : 0);
}

static void fake_serve(fake *f) {
        int c = accept4(f->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0)
                return; /* the listening socket was shut down */
        f->accepted++;
        ssize_t n = recv(c, f->hello, sizeof(f->hello) - 1, 0);
        if (n <= 0)
                goto out;
        f->hello[n] = 0;
        const char *w = f->welcome2 && f->accepted == 2 ? f->welcome2 : f->welcome;
        if (send(c, w, strlen(w), MSG_NOSIGNAL) < 0 || !f->reply_fmt)
                goto out;
        for (int i = 0; i < (f->requests > 0 ? f->requests : 1); i++)
                if (serve_request(f, c) < 0)
                        break;
out:
        close(c);
}

static void *fake_main(void *arg) {
        fake *f = arg;
        for (int i = 0; i < (f->rounds > 0 ? f->rounds : 1); i++)
                fake_serve(f);
        return NULL;
}

void fake_start(fake *f, const char *name) {
        f->listen_fd = listen_at(name, f->path, sizeof(f->path));
        int r = pthread_create(&f->thread, NULL, fake_main, f);
        if (r != 0)
                unit_bail("pthread_create: %s", strerror(r));
}

void fake_stop(fake *f) {
        shutdown(f->listen_fd, SHUT_RDWR); /* wakes accept() if nobody came */
        pthread_join(f->thread, NULL);
        close(f->listen_fd);
        unlink(f->path);
}

