/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-server.c - the event loop: listening socket (bound or socket
 * activated), accepting clients, non-blocking per-client I/O with bounded
 * queues, signals (SIGHUP reloads, SIGTERM/SIGINT stop).
 *
 * No client can stall another: every socket is non-blocking, replies that
 * do not fit are queued (bounded), and a client that stops reading stops
 * being read from until its queue drains.  The clients' sockets are served
 * by the client loops (broker-loop.c).
 */
#include <fcntl.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <systemd/sd-daemon.h>

#include "broker-op.h"
#include "broker-closer.h"
#include "broker-forker.h"
#include "broker-netns-worker.h"
#include "broker.h"
#include "proc.h"

int broker_new(broker **ret) {
        /* the signals the loop handles are blocked from the start: one that
         * arrives during setup (before broker_run()) waits for the loop
         * instead of killing a half-set-up broker */
        sigset_t ss;
        sigemptyset(&ss);
        sigaddset(&ss, SIGHUP);
        sigaddset(&ss, SIGTERM);
        sigaddset(&ss, SIGINT);
        sigprocmask(SIG_BLOCK, &ss, NULL);

        broker *b = calloc(1, sizeof(*b));
        if (!b)
                return -ENOMEM;
        b->listen_fd = -EBADF;
        b->state_fd = -EBADF;
        b->main_wake_fd = -EBADF;
        b->next_session = 1;
        limits_default(&b->limits);
        b->cpu_v1 = calloc(1, sizeof(*b->cpu_v1));
        int r = b->cpu_v1 ? sd_event_new(&b->event) : -ENOMEM;
        if (r < 0) {
                cgroup_v1_mount_free(b->cpu_v1);
                free(b);
                return r;
        }
        /* the node's cgroup mounts do not move while it runs: not read per request */
        (void) cgroup_v1_mount_find("cpu", b->cpu_v1);
        b->cap_sys_resource = have_effective_cap(CAP_SYS_RESOURCE);
        b->cap_setids = have_effective_cap(CAP_SETUID) && have_effective_cap(CAP_SETGID);
        b->cgroup_fd = -EBADF;
        char cg[1024];
        if (cgroup2_mount(cg, sizeof(cg)) == 0) {
                b->cgroup_root = strdup(cg);
                b->cgroup_fd = open(cg, O_PATH | O_DIRECTORY | O_CLOEXEC);
        }
        *ret = b;
        return 0;
}

void broker_free(broker *b) {
        if (!b)
                return;
        if (b->n_loops) { /* a setup step that failed after the loop threads started: stop them first */
                pthread_mutex_lock(&b->lock);
                loops_stop(b);
                pthread_mutex_unlock(&b->lock);
        }
        log_flush();
        b->exiting = true; /* saved sessions are kept, not undone */
        while (b->clients)
                client_free(b->clients);
        state_free_detached(b);
        request_free_all(b); /* what the clients left in flight: helpers killed and reaped */
        uid_helpers_free(b);
        forker_stop();
        safe_close(b->state_fd);
        free(b->state_dir);
        cgroup_reap_all_free(b);
        bus_free(b);
        limits_free(b);
        sd_event_source_unref(b->listen_src);
        loops_free(b); /* the ended clients' sockets handed over */
        netns_worker_stop();
        /* the clients' last fds, handed over above, closed; what is closed from here on is the broker's own */
        if (closer_stop() < 0)
                log_msg(b, LOG_WARNING, "a client's descriptor was still being closed after %d s (its release "
                        "waits); exiting all the same", CLOSER_STOP_WAIT_SEC);
        safe_close(b->main_wake_fd);
        if (b->n_loops)
                pthread_mutex_destroy(&b->lock);
        if (b->listen_owned && b->socket_path)
                unlink(b->socket_path);
        safe_close(b->listen_fd);
        sd_event_unref(b->event);
        policy_free(b->policy);
        safe_close(b->cgroup_fd);
        free(b->cgroup_root);
        cgroup_v1_mount_free(b->cpu_v1);
        limits_backoff_free(b);
        free(b->socket_path);
        free(b->policy_dir);
        free(b);
}

static int on_hello_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        client *c = userdata;
        c->hello_timer = sd_event_source_disable_unref(c->hello_timer);
        if (c->welcomed || c->closing || c->dead)
                return 0;
        client_refuse_retry(c, ERR_BAD_REQUEST, ETIMEDOUT, 0,
                            "no hello within %llu s of connecting (--hello-timeout); closing",
                            (unsigned long long) (c->b->limits.hello_timeout_usec / 1000000ULL));
        return 0;
}

/* --hello-timeout: a connection that says nothing is refused (armed at accept, disarmed by the welcome). */
static int hello_timer_start(client *c) {
        broker *b = c->b;
        if (!b->limits.hello_timeout_usec)
                return 0;
        return sd_event_add_time_relative(b->event, &c->hello_timer, CLOCK_MONOTONIC, b->limits.hello_timeout_usec, 0,
                                          on_hello_timeout, c);
}

static int on_accept(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        broker *b = userdata;
        /* a bounded number per wakeup, so that a connection flood cannot starve the clients: up to
         * LIMIT_ACCEPT_BURST while no client waits, one while one does, so that its request waits for one
         * connection's setup at most, not a burst's (loops_clients_waiting() says how each is seen) */
        bool waiting = loops_clients_waiting(b, true);
        for (int i = 0; i < LIMIT_ACCEPT_BURST && (i == 0 || !(waiting || loops_clients_waiting(b, false))); i++) {
                int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (cfd < 0) {
                        if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                                limits_accept_failed(b, errno);
                        return 0;
                }
                /* refused: by the closer (broker-closer.c), since datagrams with fds may wait in its queue */
                if (limits_admit(b, cfd) < 0) {
                        close_fds(&cfd, 1);
                        continue;
                }
                client *c = calloc(1, sizeof(*c));
                if (!c) {
                        close_fds(&cfd, 1);
                        return 0;
                }
                c->b = b;
                c->fd = cfd;
                c->pidfd = -EBADF;
                c->loop = loops_pick(b);
                c->loop->n_clients++;
                c->session = state_session_next(b);
                c->next = b->clients;
                if (b->clients)
                        b->clients->prev = c;
                b->clients = c;
                b->n_clients++;
                int r = session_parts_new(c);
                if (r >= 0)
                        r = client_update_events(c);
                if (r < 0) {
                        client_free(c);
                        continue;
                }
                op_error err;
                r = peer_identify(c, &err);
                if (r < 0) {
                        log_burst_msg(b, &b->log_refused, LOG_WARNING, "rejecting client: %s", err.message);
                        client_refuse_retry(c, err.code, err.errno_value, 0, "%s", err.message);
                        continue;
                }
                r = hello_timer_start(c);
                if (r >= 0)
                        r = limits_client_start(c);
                if (r < 0)
                        client_refuse_retry(c, ERR_SYSTEM, -r, 0, "cannot set up the connection: %s", strerror(-r));
        }
        return 0;
}

/* Bind @path, refusing to steal it from a live broker. */
static int bind_path(broker *b, const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (strlen(path) >= sizeof(sa.sun_path)) {
                log_msg(b, LOG_ERR, "socket path '%s' is longer than %zu bytes", path, sizeof(sa.sun_path) - 1);
                return -ENAMETOOLONG;
        }
        strcpy(sa.sun_path, path);

        /* create the parent directory (one level, like /run/delegate) */
        _cleanup_free_ char *dir = strdup(path);
        if (!dir)
                return -ENOMEM;
        char *slash = strrchr(dir, '/');
        if (slash && slash != dir) {
                *slash = 0;
                if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
                        log_msg(b, LOG_ERR, "cannot create socket directory '%s': %m", dir);
                        return negative_errno();
                }
        }

        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return negative_errno();
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                if (errno != EADDRINUSE) {
                        log_msg(b, LOG_ERR, "cannot bind '%s': %m", path);
                        return negative_errno();
                }
                /* stale socket, or a live broker? */
                _cleanup_close_ int probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
                if (probe >= 0 && connect(probe, (struct sockaddr *) &sa, sizeof(sa)) == 0) {
                        log_msg(b, LOG_ERR, "another broker is listening on '%s'", path);
                        return -EADDRINUSE;
                }
                struct stat st;
                if (lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode)) {
                        log_msg(b, LOG_ERR, "'%s' exists and is not a socket; not removing it", path);
                        return -EEXIST;
                }
                unlink(path);
                if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                        log_msg(b, LOG_ERR, "cannot bind '%s': %m", path);
                        return negative_errno();
                }
        }
        /* anyone may connect: who may do what is the policy's decision */
        if (chmod(path, 0666) < 0) {
                log_msg(b, LOG_ERR, "chmod '%s': %m", path);
                unlink(path);
                return negative_errno();
        }
        if (listen(fd, SOMAXCONN) < 0) {
                unlink(path);
                return negative_errno();
        }
        b->listen_owned = true;
        return TAKE_FD(fd);
}

int broker_listen(broker *b, const char *path) {
        int fd, r;
        int n = sd_listen_fds(true);
        if (n > 1) {
                log_msg(b, LOG_ERR, "socket activation passed %d sockets; expected one SOCK_SEQPACKET socket", n);
                return -EINVAL;
        }
        if (n == 1) {
                fd = SD_LISTEN_FDS_START;
                if (sd_is_socket_unix(fd, SOCK_SEQPACKET, 1, NULL, 0) <= 0) {
                        log_msg(b, LOG_ERR, "the socket-activated fd is not a listening AF_UNIX SOCK_SEQPACKET socket");
                        return -EINVAL;
                }
                fcntl(fd, F_SETFD, FD_CLOEXEC);
                fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
                log_msg(b, LOG_INFO, "listening on the socket passed by the service manager");
        } else {
                fd = bind_path(b, path);
                if (fd < 0)
                        return fd;
                log_msg(b, LOG_INFO, "listening on '%s' (API %d)", path, DELEGATE_API_VERSION);
        }
        b->listen_fd = fd;
        if (!(b->socket_path = strdup(path)))
                return -ENOMEM;
        r = sd_event_add_io(b->event, &b->listen_src, fd, EPOLLIN, on_accept, b);
        return r;
}

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        broker *b = userdata;
        log_msg(b, LOG_INFO, "SIGHUP: reloading policy from '%s'", b->policy_dir);
        broker_policy_reload(b, NULL, 0);
        return 0;
}

static int on_stop(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        broker *b = userdata;
        log_msg(b, LOG_INFO, "signal %u: stopping", si->ssi_signo);
        return sd_event_exit(b->event, 0);
}

int broker_run(broker *b) {
        sigset_t ss;
        sigemptyset(&ss);
        sigaddset(&ss, SIGHUP);
        sigaddset(&ss, SIGTERM);
        sigaddset(&ss, SIGINT);
        sigprocmask(SIG_BLOCK, &ss, NULL);
        signal(SIGPIPE, SIG_IGN);

        int r = sd_event_add_signal(b->event, NULL, SIGHUP, on_sighup, b);
        if (r >= 0)
                r = sd_event_add_signal(b->event, NULL, SIGTERM, on_stop, b);
        if (r >= 0)
                r = sd_event_add_signal(b->event, NULL, SIGINT, on_stop, b);
        /* WatchdogSec=: WATCHDOG=1 from the loop itself, so a stuck loop is noticed */
        if (r >= 0)
                r = sd_event_set_watchdog(b->event, true);
        if (r < 0)
                return r;
        if (!b->bus)
                broker_notify_ready(b); /* else once the bus name is ours (broker-bus.c) */
        r = loops_run_main(b);
        sd_notify(false, "STOPPING=1");
        return r;
}
