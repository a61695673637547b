/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-threads-fair - the turns of one client loop (--threads 1), seen
 * from outside: the broker is stopped (SIGSTOP) while work queues, and
 * the kernel's time stamps of the replies (SO_TIMESTAMPNS) or strace(1)
 * show in which order it was done once it goes on.
 *   threads-accept-fair  --threads 1: while the broker is stopped, 16 new
 *                        connections queue a hello each, then a pinger 8
 *                        pings; by the kernel's time stamps, at most k + 1
 *                        welcomes go out before the k-th pong, and at
 *                        least k - 2 from the 3rd on (one connection
 *                        accepted per turn of the clients, no fewer).
 *   threads-accept-idle  --threads 1, an idle client: 16 connections
 *                        that say nothing, queued while the broker is
 *                        stopped, are accepted 8 a dispatch (strace(1)).
 *   threads-one-wait     --threads 1: 200 pings one after another cost
 *                        the broker one epoll_wait(2) each, not sd-event's
 *                        wait and then the client set's (strace(1)).
 *   threads-tap-no-fork  --threads 1: 20 tap.create one after another,
 *                        and the removal at the session's end, fork
 *                        nothing: the netns worker thread runs each step
 *                        (strace(1) counts the loop's clones).
 *   threads-large-fair   --threads 1: while the broker is stopped (SIGSTOP),
 *                        3 streamers queue 24 requests of 40 kB each, then a
 *                        pinger 4 pings; once it goes on, the kernel's time
 *                        stamps of the replies show that at most 5 of a
 *                        streamer's were sent before the last pong (one
 *                        message per ready connection per turn, whatever
 *                        their size), in each of 3 rounds; every reply has
 *                        its own id and the expected answer.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "foundation-scenario.h"

/* --- threads-large-fair --- */

#define FAIR_STREAMERS 3
#define FAIR_QUEUED 24 /* large requests each streamer has waiting when the pings come */
#define FAIR_PINGS 4
#define FAIR_ROUNDS 3
#define FAIR_PAD 40000

/* One datagram from @fd (waiting up to 5 s) into @buf, and when the kernel queued it (SO_TIMESTAMPNS); -1: none. */
static ssize_t recv_stamped(int fd, char *buf, size_t size, struct timespec *ts) {
        union {
                struct cmsghdr h;
                char space[CMSG_SPACE(sizeof(struct timespec))];
        } ctl;
        struct iovec iov = { .iov_base = buf, .iov_len = size - 1 };
        struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &ctl, .msg_controllen = sizeof(ctl) };
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, 5000) != 1)
                return -1;
        ssize_t n = recvmsg(fd, &m, 0);
        if (n <= 0)
                return -1;
        buf[n] = 0;
        *ts = (struct timespec) { 0 };
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS)
                        memcpy(ts, CMSG_DATA(c), sizeof(*ts));
        return n;
}

static bool ts_before(const struct timespec *a, const struct timespec *b) {
        return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/*
 * One round: the broker stopped, each streamer queues FAIR_QUEUED requests
 * of 40 kB, then the pinger FAIR_PINGS pings; the broker goes on.  A fair
 * turn reads one message of every ready connection, the pinger's among
 * them, so the last pong goes out in the FAIR_PINGS-th turn (one more if a
 * turn was under way), and before it at most one request per streamer per
 * turn is answered.  The kernel's receive time stamps order the replies
 * (one loop thread sends them all), whatever the test's own scheduling.
 * Returns the most of a streamer's requests answered before the last pong.
 */
static unsigned fair_round(harness *h, int pinger, const int *fd, int round, char *msg, unsigned *bad) {
        char buf[4096];
        tap_is_int(kill(h->broker_pid, SIGSTOP), 0, "round %d: the broker is stopped", round);
        tap_ok(harness_all_stopped(h->broker_pid), "round %d: all its threads are", round);
        unsigned queued = 0;
        int len = 0;
        for (int i = 0; i < FAIR_STREAMERS; i++)
                for (int k = 1; k <= FAIR_QUEUED; k++) {
                        len = snprintf(msg, FAIR_PAD + 128, "{\"id\":%d,\"op\":\"ping\",\"args\":{\"pad\":\"%0*d\"}}",
                                       round * 1000 + k, FAIR_PAD, 0);
                        queued += send(fd[i], msg, (size_t) len, MSG_DONTWAIT | MSG_NOSIGNAL) == len;
                }
        for (int k = 1; k <= FAIR_PINGS; k++) {
                int n = snprintf(buf, sizeof(buf), "{\"id\":%d,\"op\":\"ping\"}", round * 1000 + k);
                queued += raw_send(pinger, buf, (size_t) n) == 0;
        }
        tap_is_int((int) queued, FAIR_STREAMERS * FAIR_QUEUED + FAIR_PINGS,
                   "round %d: %d requests of %d bytes from each of %d streamers wait, then %d pings", round,
                   FAIR_QUEUED, len, FAIR_STREAMERS, FAIR_PINGS);
        tap_is_int(kill(h->broker_pid, SIGCONT), 0, "round %d: the broker goes on", round);

        struct timespec last = { 0 }, ts;
        for (int k = 1; k <= FAIR_PINGS; k++) {
                ssize_t n = recv_stamped(pinger, buf, sizeof(buf), &ts);
                if (n < 0 || jint(buf, "id") != round * 1000 + k || jint(buf, "result.pong") != 1 || !ts.tv_sec) {
                        if ((*bad)++ < 5)
                                tap_diag("round %d: ping %d answered with %s", round, k, n < 0 ? "nothing" : buf);
                } else
                        last = ts;
        }
        unsigned most = 0;
        for (int i = 0; i < FAIR_STREAMERS; i++) {
                unsigned before = 0;
                for (int k = 1; k <= FAIR_QUEUED; k++) {
                        ssize_t n = recv_stamped(fd[i], buf, sizeof(buf), &ts);
                        if (n < 0 || jint(buf, "id") != round * 1000 + k ||
                            strcmp(jstr(buf, "error.code"), "bad-request") != 0 || jint(buf, "error.errno") != EINVAL ||
                            !ts.tv_sec) {
                                if ((*bad)++ < 5)
                                        tap_diag("round %d: streamer %d's request %d answered with %.300s", round,
                                                 i + 1, k, n < 0 ? "nothing" : buf);
                        } else
                                before += ts_before(&ts, &last);
                }
                tap_diag("round %d: streamer %d: %u of its %d requests answered before the last pong", round, i + 1,
                         before, FAIR_QUEUED);
                most = before > most ? before : most;
        }
        return most;
}

static void threads_large_fair(harness *h) {
        harness_stop_broker(h);
        const char *args[] = { "--threads", "1", "--bus", "none", "--rate", "0", NULL };
        tap_is_int(harness_start_broker_args(h, args), 0, "the broker starts with --threads 1 --rate 0");
        int fd[FAIR_STREAMERS + 1], welcomed = 0, stamped = 0, one = 1;
        for (int i = 0; i <= FAIR_STREAMERS; i++) {
                fd[i] = raw_hello();
                welcomed += fd[i] >= 0;
                /* room for the queued requests while the broker is stopped (root may exceed wmem_max) */
                int room = 4 << 20;
                if (fd[i] >= 0 && setsockopt(fd[i], SOL_SOCKET, SO_SNDBUFFORCE, &room, sizeof(room)) < 0)
                        (void) setsockopt(fd[i], SOL_SOCKET, SO_SNDBUF, &room, sizeof(room));
                stamped += fd[i] >= 0 && setsockopt(fd[i], SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one)) == 0;
        }
        tap_is_int(welcomed, FAIR_STREAMERS + 1, "%d streamers and a pinger are welcomed", FAIR_STREAMERS);
        tap_is_int(stamped, FAIR_STREAMERS + 1, "their replies are time-stamped by the kernel (SO_TIMESTAMPNS)");
        char *msg = malloc(FAIR_PAD + 128);
        if (welcomed != FAIR_STREAMERS + 1 || !msg) {
                free(msg);
                return;
        }
        unsigned bad = 0, most = 0;
        for (int round = 1; round <= FAIR_ROUNDS; round++) {
                unsigned m = fair_round(h, fd[FAIR_STREAMERS], fd, round, msg, &bad);
                most = m > most ? m : most;
        }
        free(msg);
        for (int i = 0; i <= FAIR_STREAMERS; i++)
                close(fd[i]);
        /* each large one: a ping with an argument, "pad", which ping does not take, read whole and refused */
        tap_is_int((int) bad, 0, "every request is answered once, with its own id: a pong, or bad-request, EINVAL");
        tap_ok(most <= FAIR_PINGS + 1, "the pings do not wait behind the streamers: at most %u of a streamer's "
               "requests answered before the last pong (a fair turn: at most %d)", most, FAIR_PINGS + 1);
}

/* --- threads-accept-fair --- */

#define ACCEPT_NEW 16   /* connections waiting to be accepted, each with its hello */
#define ACCEPT_PINGS 8 /* pings waiting on a connection already served */

/*
 * --threads 1: the clients' turns and the accepting share the main thread.
 * While the broker is stopped, ACCEPT_NEW connections queue a hello each
 * (sent before the broker accepts them), then a welcomed pinger
 * ACCEPT_PINGS pings; once it goes on, a turn answers one ping (one message
 * per ready connection), so the pongs count the turns, and the welcomes
 * before the k-th pong (by the kernel's time stamps) are the connections
 * accepted before the k-th turn: one a turn (k + 1 with one accepted
 * before the first), not a burst of them.
 */
static void threads_accept_fair(harness *h) {
        harness_stop_broker(h);
        const char *args[] = { "--threads", "1", "--bus", "none", "--rate", "0", NULL };
        tap_is_int(harness_start_broker_args(h, args), 0, "the broker starts with --threads 1 --rate 0");
        int one = 1, pinger = raw_hello(), fd[ACCEPT_NEW];
        tap_ok(pinger >= 0 && setsockopt(pinger, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one)) == 0,
               "a pinger is welcomed, its replies time-stamped by the kernel (SO_TIMESTAMPNS)");
        tap_is_int(kill(h->broker_pid, SIGSTOP), 0, "the broker is stopped");
        tap_ok(harness_all_stopped(h->broker_pid), "all its threads are");
        static const char hello[] = "{\"type\":\"hello\",\"api\":1,\"client\":\"raw\"}";
        int queued = 0;
        for (int i = 0; i < ACCEPT_NEW; i++) {
                fd[i] = raw_connect();
                queued += fd[i] >= 0 && setsockopt(fd[i], SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one)) == 0 &&
                          raw_send(fd[i], hello, sizeof(hello) - 1) == 0;
        }
        char buf[4096];
        for (int k = 1; k <= ACCEPT_PINGS; k++) {
                int n = snprintf(buf, sizeof(buf), "{\"id\":%d,\"op\":\"ping\"}", k);
                queued += pinger >= 0 && raw_send(pinger, buf, (size_t) n) == 0;
        }
        tap_is_int(queued, ACCEPT_NEW + ACCEPT_PINGS, "%d connections wait to be accepted, with their hellos, then %d "
                   "pings", ACCEPT_NEW, ACCEPT_PINGS);
        tap_is_int(kill(h->broker_pid, SIGCONT), 0, "the broker goes on");

        struct timespec pong[ACCEPT_PINGS] = { 0 }, ts;
        int bad = 0;
        for (int k = 1; k <= ACCEPT_PINGS; k++) {
                ssize_t n = pinger >= 0 ? recv_stamped(pinger, buf, sizeof(buf), &ts) : -1;
                if (n < 0 || jint(buf, "id") != k || jint(buf, "result.pong") != 1 || !ts.tv_sec) {
                        if (bad++ < 5)
                                tap_diag("ping %d answered with %s", k, n < 0 ? "nothing" : buf);
                } else
                        pong[k - 1] = ts;
        }
        int before[ACCEPT_PINGS] = { 0 };
        for (int i = 0; i < ACCEPT_NEW; i++) {
                ssize_t n = fd[i] >= 0 ? recv_stamped(fd[i], buf, sizeof(buf), &ts) : -1;
                if (n < 0 || strcmp(jstr(buf, "type"), "welcome") != 0 || !ts.tv_sec) {
                        if (bad++ < 5)
                                tap_diag("connection %d: its hello answered with %s", i + 1, n < 0 ? "nothing" : buf);
                        continue;
                }
                for (int k = 0; k < ACCEPT_PINGS; k++)
                        before[k] += ts_before(&ts, &pong[k]);
        }
        tap_is_int(bad, 0, "every ping is answered with a pong, every hello with a welcome");
        int worst = 0, starved = 0;
        for (int k = 1; k <= ACCEPT_PINGS; k++) {
                tap_diag("welcomes before pong %d: %d", k, before[k - 1]);
                worst = before[k - 1] - k > worst ? before[k - 1] - k : worst;
                starved += k >= 3 && before[k - 1] < k - 2;
        }
        tap_ok(worst <= 1, "one connection accepted a turn: at most k + 1 welcomes before the k-th pong (%d more)",
               worst);
        /* and no fewer: a turn of the clients does not keep the accepting from its own turn */
        tap_ok(!starved, "a connection accepted every turn: at least k - 2 welcomes before the k-th pong from the "
               "3rd on (%d pongs with fewer)", starved);
        for (int i = 0; i < ACCEPT_NEW; i++)
                if (fd[i] >= 0)
                        close(fd[i]);
        if (pinger >= 0)
                close(pinger);
}

/* --- threads-accept-idle --- */

/*
 * --threads 1 with no client waiting: a connection flood is accepted up to
 * LIMIT_ACCEPT_BURST (8) a turn, not one.  While the broker is stopped, a
 * welcomed client stays idle and ACCEPT_NEW connections wait to be accepted,
 * saying nothing; strace(1) then follows the broker's accept4(2) and
 * epoll_wait(2) calls: a dispatch of the listening socket is the successful
 * accept4() calls with no epoll_wait() between them (the main thread waits
 * in the loop's set before each turn, sd-event's fd one of its members).
 */
static void threads_accept_idle(harness *h) {
        harness_stop_broker(h);
        const char *args[] = { "--threads", "1", "--bus", "none", "--rate", "0", NULL };
        tap_is_int(harness_start_broker_args(h, args), 0, "the broker starts with --threads 1 --rate 0");
        int idle = raw_hello(), fd[ACCEPT_NEW];
        tap_ok(idle >= 0, "a client is welcomed, and then says nothing");
        int base = harness_fd_count_steady(h->broker_pid);
        tap_is_int(kill(h->broker_pid, SIGSTOP), 0, "the broker is stopped");
        tap_ok(harness_all_stopped(h->broker_pid), "all its threads are");
        int queued = 0;
        for (int i = 0; i < ACCEPT_NEW; i++)
                queued += (fd[i] = raw_connect()) >= 0;
        tap_is_int(queued, ACCEPT_NEW, "%d connections wait to be accepted, saying nothing", ACCEPT_NEW);

        char log[] = "/tmp/threads-accept-idle.XXXXXX";
        int lfd = mkstemp(log);
        pid_t tracer = lfd < 0 ? -1 : harness_strace_follow(h, "trace=accept4,epoll_wait", log, "the accepting");
        tap_is_int(kill(h->broker_pid, SIGCONT), 0, "the broker goes on");
        /* every connection accepted: the broker holds a socket for each, and its fd count stays put */
        int fds = harness_fd_count(h->broker_pid), same = 0;
        for (int i = 0; i < 500 && (fds < base + ACCEPT_NEW || same < 5); i++) {
                usleep(10000);
                int now = harness_fd_count(h->broker_pid);
                same = now == fds ? same + 1 : 0;
                fds = now;
        }
        tap_ok(fds >= base + ACCEPT_NEW, "the broker holds them (fds %d, %d before)", fds, base);
        if (tracer > 0) {
                kill(tracer, SIGINT); /* it detaches */
                waitpid(tracer, NULL, 0);
                FILE *f = fdopen(lfd, "re");
                char line[512];
                int run = 0, most = 0, accepted = 0;
                while (f && fgets(line, sizeof(line), f)) {
                        const char *eq = strrchr(line, '=');
                        if (strncmp(line, "accept4(", 8) == 0 && eq && atoi(eq + 1) >= 0 && eq[1] == ' ' &&
                            eq[2] != '-') {
                                run++;
                                accepted++;
                        } else if (strncmp(line, "accept4(", 8) == 0 || strncmp(line, "epoll_wait(", 11) == 0)
                                run = 0; /* a failed accept4 (EAGAIN) ends the dispatch too */
                        most = run > most ? run : most;
                }
                if (f)
                        fclose(f);
                else
                        close(lfd);
                tap_is_int(accepted, ACCEPT_NEW, "strace saw %d connections accepted", ACCEPT_NEW);
                tap_is_int(most, 8, "no client waiting: up to 8 accepted in one dispatch, not one a turn (most: %d)",
                           most);
        } else if (lfd >= 0)
                close(lfd);
        if (lfd >= 0)
                unlink(log);
        for (int i = 0; i < ACCEPT_NEW; i++)
                if (fd[i] >= 0)
                        close(fd[i]);
        if (idle >= 0)
                close(idle);
}

/* --- threads-one-wait --- */

#define ONE_WAIT_PINGS 200

/*
 * --threads 1: the main thread waits in the client loop's epoll set, where
 * sd-event's fd is a member, so a ping that finds the broker waiting costs
 * it one epoll_wait(2).  A pinger waits for each pong before the next ping,
 * so the broker waits before each; strace(1) counts the waits.  With
 * sd-event waiting on the set as one of its sources there were two a ping.
 */
static void threads_one_wait(harness *h) {
        harness_stop_broker(h);
        const char *args[] = { "--threads", "1", "--bus", "none", "--rate", "0", NULL };
        tap_is_int(harness_start_broker_args(h, args), 0, "the broker starts with --threads 1 --rate 0");
        int pinger = raw_hello();
        tap_ok(pinger >= 0, "a pinger is welcomed");
        char log[] = "/tmp/threads-one-wait.XXXXXX";
        int lfd = mkstemp(log);
        pid_t tracer = lfd < 0 || pinger < 0 ? -1 : harness_strace_follow(h, "trace=epoll_wait", log, "the waiting");
        int pongs = 0;
        for (int k = 0; pinger >= 0 && k < ONE_WAIT_PINGS; k++) {
                char req[64];
                snprintf(req, sizeof(req), "{\"id\":%d,\"op\":\"ping\"}", k + 1);
                char *reply = raw_call(pinger, req);
                pongs += reply && strstr(reply, "\"ok\":true") != NULL;
                free(reply);
        }
        tap_is_int(pongs, ONE_WAIT_PINGS, "%d pings, one after another, each answered", ONE_WAIT_PINGS);
        if (tracer > 0) {
                const char *const calls[] = { "epoll_wait(", NULL };
                int waits = harness_strace_count(tracer, lfd, calls);
                lfd = -1;
                /* a few more: strace's attaching and detaching, a wake of the loop's own */
                tap_ok(waits >= ONE_WAIT_PINGS / 2 && waits <= ONE_WAIT_PINGS + ONE_WAIT_PINGS / 10,
                       "the broker waited %d times for %d pings: one wait a ping (want %d to %d)", waits,
                       ONE_WAIT_PINGS, ONE_WAIT_PINGS / 2, ONE_WAIT_PINGS + ONE_WAIT_PINGS / 10);
        }
        if (lfd >= 0)
                close(lfd);
        unlink(log);
        if (pinger >= 0)
                close(pinger);
}

/* --- threads-tap-no-fork --- */

#define NO_FORK_TAPS 20

static const char policy_tap[] = "{ \"version\": 1, \"rules\": [ { \"name\": \"node-root\",\n"
                                 "  \"match\": { \"uid\": 0, \"cgroup\": \"/system\" }, \"tap\": {} } ] }\n";

/*
 * Each TAP step runs in the netns worker thread when it is idle: requests
 * one after another find it idle, so the loop forks no helper for them
 * (before it, each step forked one).  strace(1) on the loop's thread
 * counts clone(2) and its kin.
 */
static void threads_tap_no_fork(harness *h) {
        harness_stop_broker(h);
        const char *args[] = { "--threads", "1", NULL };
        tap_is_int(harness_start_broker_args(h, args), 0, "the broker starts with --threads 1");
        int fd = raw_hello();
        tap_ok(fd >= 0, "a node client is welcomed");
        char log[64];
        int lfd = -1;
        pid_t tracer = fd < 0 ? -1 : harness_forks_follow(h, log, sizeof(log), &lfd);
        int made = 0;
        for (int k = 0; fd >= 0 && k < NO_FORK_TAPS; k++) {
                char req[128]; /* the queue's fd is dropped with the reply: the device goes */
                snprintf(req, sizeof(req), "{\"id\":%d,\"op\":\"tap.create\",\"args\":{\"name\":\"vnet%%d\"}}", k + 1);
                char *reply = raw_call(fd, req);
                made += reply && strstr(reply, "\"ok\":true") != NULL;
                if (k == 0 && !(reply && strstr(reply, "\"ok\":true")))
                        tap_diag("the first reply: %s", reply ? reply : "none");
                free(reply);
        }
        tap_is_int(made, NO_FORK_TAPS, "%d TAP devices created one after another", NO_FORK_TAPS);
        /* the session ends: the removal of what it recorded runs on the worker too */
        if (fd >= 0)
                close(fd);
        tap_ok(WAIT_FOR(harness_log_contains("ended: removing TAP device(s)")), "the session ended, its devices removed");
        usleep(100 * 1000); /* the worker's removal runs after that line */
        int forks = harness_forks_count(tracer, lfd, log);
        if (tracer > 0)
                tap_is_int(forks, 0, "the loop forked %d times for %d tap.create and the session's end (the netns worker "
                           "ran them)", forks, NO_FORK_TAPS);
}

static const scenario scenarios[] = {
        { "threads-large-fair", policy_main, threads_large_fair },
        { "threads-accept-fair", policy_main, threads_accept_fair },
        { "threads-accept-idle", policy_main, threads_accept_idle },
        { "threads-one-wait", policy_main, threads_one_wait },
        { "threads-tap-no-fork", policy_tap, threads_tap_no_fork },
};

int main(int argc, char **argv) {
        return harness_main(argc, argv, scenarios, sizeof(scenarios) / sizeof(scenarios[0]));
}
