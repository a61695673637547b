/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-threads - the broker's client loops (--threads) under concurrency:
 *   threads-stress       48 connections over 3 loops, each one request at
 *                        a time (ping, state.get, a denied memlock.set),
 *                        while a D-Bus client lists, inspects and revokes
 *                        sessions and reloads the policy (D-Bus and
 *                        SIGHUP), and some clients leave with a request in
 *                        flight and come back: the broker lives, every
 *                        request is answered with its own id, only revoked
 *                        sessions end (EOF), every denial has its record
 *                        and no log line is torn, and it stops cleanly.
 *   threads-stale-clock  memlock.set of a session on each loop, after the main
 *                        thread waited 8 s, meets a stopped helper: its 5 s
 *                        deadline is counted from sd-event's clock, which a
 *                        loop thread reads again (without that, the request
 *                        timed out at once).
 *   threads-flood        a well-behaved client pings 3000 times while a
 *                        connect/close flood and a garbage sender (as uid
 *                        65534) hammer a broker with --threads 2: every
 *                        ping is answered, none after more than 2 s (a
 *                        liveness bound, not a speed check: the main
 *                        thread, accepting all the time, kept the broker
 *                        lock from the loop threads, and pings waited
 *                        seconds), and the broker's fds come back to
 *                        their count before the flood.
 *   threads-affinity     without --threads, a broker confined to 1, 2
 *                        or 3 CPUs (its affinity) runs one loop, to
 *                        exactly 4 two (3 and 4 where the machine has
 *                        them: a SKIP line says when it has not).
 * The turns of one loop: test-threads-fair.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <systemd/sd-bus.h>
#include <time.h>
#include <unistd.h>

#include "bus-scenario.h"
#include "foundation-scenario.h"

#define N_CLIENTS 48
#define ROUNDS 300
#define DEADLINE_MS 90000 /* a hang fails the test instead of its timeout; not a speed check */

static const char policy_admin[] =
        "{ \"version\": 1,\n"
        "  \"rules\": [\n"
        "    { \"name\": \"node-admin\",\n"
        "      \"match\": { \"uid\": 0, \"via\": \"dbus\" },\n"
        "      \"manage\": [ \"inspect\", \"evaluate\", \"reload\", \"revoke\" ] } ] }\n";
static const char policy_admin_b[] =
        "{ \"version\": 1,\n"
        "  \"rules\": [\n"
        "    { \"name\": \"node-admin-b\",\n"
        "      \"match\": { \"uid\": 0, \"via\": \"dbus\" },\n"
        "      \"manage\": [ \"inspect\", \"evaluate\", \"reload\", \"revoke\" ] } ] }\n";

/* --- threads-stress --- */

enum kind { DENIER, REVOCABLE, LEAVER, PLAIN };

typedef struct conn {
        int fd;
        enum kind kind;
        int index;
        unsigned done;    /* requests answered */
        uint64_t want_id; /* 0: waiting for the welcome */
        bool revoked;     /* EOF seen (a revocable one) */
        bool finished;
} conn;

static unsigned denials, wrong, unexpected_eof, reconnects;

static void conn_open(conn *c) {
        char hello[160];
        c->fd = raw_connect();
        snprintf(hello, sizeof(hello), "{\"type\":\"hello\",\"api\":1,\"client\":\"t\",\"vm\":\"vm-%s-%d\"}",
                 c->kind == REVOCABLE ? "rev" : "t", c->index);
        if ((c->fd < 0 || raw_send(c->fd, hello, strlen(hello)) < 0) && wrong++ < 5)
                tap_diag("connection %d: cannot connect or say hello: %m", c->index);
        c->want_id = 0;
}

static void conn_next(conn *c) {
        static const char *const ops[] = { "ping", "state.get", "memlock.set" };
        char m[200];
        unsigned k = c->done % (c->kind == DENIER ? 3 : 2);
        c->want_id = c->done + 1 + (uint64_t) c->index * 1000000;
        if (k == 2)
                snprintf(m, sizeof(m), "{\"id\":%" PRIu64 ",\"op\":\"memlock.set\",\"args\":{\"pid\":0,\"soft\":\"64K\"}}",
                         c->want_id);
        else
                snprintf(m, sizeof(m), "{\"id\":%" PRIu64 ",\"op\":\"%s\"}", c->want_id, ops[k]);
        if (raw_send(c->fd, m, strlen(m)) < 0 && c->kind != REVOCABLE && wrong++ < 5)
                tap_diag("connection %d: cannot send request %" PRIu64 ": %m", c->index, c->want_id);
        /* a revoked one: its EOF follows */
}

/* A reply (or EOF) on @c. */
static void conn_input(conn *c) {
        char buf[65536];
        ssize_t n = recv(c->fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return;
        if (n <= 0) {
                close(c->fd);
                c->fd = -1;
                if (c->kind == REVOCABLE)
                        c->revoked = true;
                else
                        unexpected_eof++;
                c->finished = true;
                return;
        }
        buf[n] = 0;
        if (c->want_id == 0) {
                if (strcmp(jstr(buf, "type"), "welcome") != 0) {
                        tap_diag("connection %d: not welcomed: %s", c->index, buf);
                        wrong++;
                }
        } else {
                int64_t id = -1;
                json_field_i64(buf, "id", &id);
                const char *code = jstr(buf, "error.code");
                bool memlock = c->kind == DENIER && c->done % 3 == 2;
                if ((uint64_t) id != c->want_id || (memlock ? strcmp(code, "denied") != 0 : jint(buf, "ok") != 1)) {
                        if (wrong++ < 5)
                                tap_diag("connection %d: request %" PRIu64 " answered with %s", c->index, c->want_id,
                                         buf);
                }
                denials += memlock && strcmp(code, "denied") == 0;
                c->done++;
        }
        if (c->done >= ROUNDS) {
                c->finished = true;
                return;
        }
        /* a leaver goes with a request in flight every 50 requests, and comes back as a new session */
        if (c->kind == LEAVER && c->done > 0 && c->done % 50 == 0 && c->want_id != 0) {
                conn_next(c);
                close(c->fd);
                c->done++;
                reconnects++;
                conn_open(c);
                return;
        }
        conn_next(c);
}

/* The D-Bus side, in a child: lists, inspects, revokes "vm-rev-*" sessions, reloads; exits with its failures. */
static _Noreturn void chaos(pid_t broker) {
        sd_bus *bus = bus_open();
        int failed = 0, revoked = 0;
        if (!bus)
                _exit(100);
        for (int i = 0; i < 400; i++) {
                sd_bus_message *reply = NULL;
                sd_bus_error e = SD_BUS_ERROR_NULL;
                char revoke[32] = "", inspect[32] = "";
                if (sd_bus_call_method(bus, DEST, PATH, IFACE, "ListSessions", &e, &reply, "") < 0) {
                        fprintf(stderr, "ListSessions: %s\n", e.message ? e.message : "");
                        failed++;
                } else {
                        sd_bus_message_enter_container(reply, 'a', "(ssuusa{st})");
                        while (sd_bus_message_enter_container(reply, 'r', "ssuusa{st}") > 0) {
                                const char *sid, *svm, *cg;
                                uint32_t pid, uid;
                                sd_bus_message_read(reply, "ssuus", &sid, &svm, &pid, &uid, &cg);
                                sd_bus_message_skip(reply, "a{st}");
                                sd_bus_message_exit_container(reply);
                                snprintf(inspect, sizeof(inspect), "%s", sid);
                                if (strncmp(svm, "vm-rev-", 7) == 0 && i % 8 == 0 && !revoke[0])
                                        snprintf(revoke, sizeof(revoke), "%s", sid);
                        }
                }
                sd_bus_message_unref(reply);
                sd_bus_error_free(&e);
                reply = NULL;
                /* a session may end between the list and the call: only a missing one is not a failure */
                if (inspect[0] && sd_bus_call_method(bus, DEST, PATH, IFACE, "GetSession", &e, &reply, "s", inspect) < 0 &&
                    !strstr(e.name ? e.name : "", "NoSuchSession")) {
                        fprintf(stderr, "GetSession %s: %s %s\n", inspect, e.name, e.message);
                        failed++;
                }
                sd_bus_message_unref(reply);
                sd_bus_error_free(&e);
                if (revoke[0]) {
                        if (sd_bus_call_method(bus, DEST, PATH, IFACE, "RevokeSession", &e, NULL, "s", revoke) < 0) {
                                if (!strstr(e.name ? e.name : "", "NoSuchSession")) {
                                        fprintf(stderr, "RevokeSession %s: %s %s\n", revoke, e.name, e.message);
                                        failed++;
                                }
                        } else
                                revoked++;
                        sd_bus_error_free(&e);
                }
                if (i % 20 == 5) {
                        harness_write_policy("10-scenario.json", i % 40 == 5 ? policy_admin_b : policy_admin);
                        if (i % 40 == 5)
                                kill(broker, SIGHUP);
                        else if (sd_bus_call_method(bus, DEST, PATH, IFACE, "ReloadPolicy", &e, NULL, "") < 0) {
                                fprintf(stderr, "ReloadPolicy: %s\n", e.message ? e.message : "");
                                failed++;
                        }
                        sd_bus_error_free(&e);
                }
                usleep(2000);
        }
        sd_bus_unref(bus);
        fprintf(stderr, "chaos: %d revoked\n", revoked);
        _exit(failed > 99 ? 99 : failed);
}

/* Every line of the broker's log is whole: "delegate-broker: ..."; the number of lines holding @needle. */
static int log_check(const char *needle, int *torn) {
        FILE *f = fopen(HARNESS_BROKER_LOG, "re");
        char line[8192];
        int n = 0;
        *torn = 0;
        if (!f)
                return -1;
        while (fgets(line, sizeof(line), f)) {
                if (strncmp(line, "delegate-broker: ", 17) != 0 && (*torn)++ < 3)
                        tap_diag("torn log line: %.120s", line);
                n += strstr(line, needle) != NULL;
        }
        fclose(f);
        return n;
}

static void threads_stress(harness *h) {
        tap_is_int(harness_start_dbus(h), 0, "the private dbus-daemon starts");
        harness_stop_broker(h);
        const char *args[] = { "--bus", HARNESS_BUS_ADDRESS, "--threads", "3", "--rate", "0", NULL };
        tap_is_int(harness_start_broker_args(h, args), 0, "the broker starts with --threads 3 on the private bus");
        sd_bus *bus = bus_open();
        tap_ok(bus && wait_name(bus, 10000), "the broker owns " DEST);

        static conn cs[N_CLIENTS];
        for (int i = 0; i < N_CLIENTS; i++) {
                cs[i] = (conn) { .index = i, .kind = (enum kind) (i % 4) };
                conn_open(&cs[i]);
        }
        pid_t ch = fork();
        if (ch == 0)
                chaos(h->broker_pid);

        uint64_t t0 = now_ms();
        int left = N_CLIENTS;
        while (left > 0 && now_ms() - t0 < DEADLINE_MS) {
                struct pollfd p[N_CLIENTS];
                int idx[N_CLIENTS], n = 0;
                for (int i = 0; i < N_CLIENTS; i++)
                        if (!cs[i].finished) {
                                p[n] = (struct pollfd) { .fd = cs[i].fd, .events = POLLIN };
                                idx[n++] = i;
                        }
                if (poll(p, (nfds_t) n, 1000) <= 0)
                        continue;
                for (int k = 0; k < n; k++)
                        if (p[k].revents)
                                conn_input(&cs[idx[k]]);
                left = 0;
                for (int i = 0; i < N_CLIENTS; i++)
                        left += !cs[i].finished;
        }
        int st = -1;
        waitpid(ch, &st, 0);
        unsigned revoked = 0, completed = 0;
        for (int i = 0; i < N_CLIENTS; i++) {
                revoked += cs[i].revoked;
                completed += cs[i].done >= ROUNDS;
        }
        tap_is_int(left, 0, "every connection finished: its %d requests answered, or its session revoked", ROUNDS);
        tap_is_int(wrong, 0, "every reply carries the id of its request and the expected answer");
        tap_is_int(unexpected_eof, 0, "no connection but a revoked one was closed by the broker");
        tap_ok(revoked > 0, "sessions were revoked meanwhile (%u; %u connections completed, %u came back anew)",
               revoked, completed, reconnects);
        tap_ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "every D-Bus call of the other side succeeded (status 0x%x)", st);
        tap_ok(kill(h->broker_pid, 0) == 0, "the broker is alive");

        int fd = raw_hello();
        char *r = fd >= 0 ? raw_call(fd, "{\"id\":1,\"op\":\"ping\"}") : NULL;
        tap_is_int(r ? jint(r, "ok") : 0, 1, "a new session is served");
        free(r);

        /* what is left open: the clients that did not end and that new session, nothing else (the new
         * session stays open until it is counted: a connection just closed is listed until its loop has
         * read the end of it) */
        sd_bus_message *reply = NULL;
        int open_sessions = -1;
        if (bus && sd_bus_call_method(bus, DEST, PATH, IFACE, "ListSessions", NULL, &reply, "") >= 0) {
                open_sessions = 0;
                sd_bus_message_enter_container(reply, 'a', "(ssuusa{st})");
                while (sd_bus_message_enter_container(reply, 'r', "ssuusa{st}") > 0) {
                        sd_bus_message_skip(reply, "ssuusa{st}");
                        sd_bus_message_exit_container(reply);
                        open_sessions++;
                }
        }
        sd_bus_message_unref(reply);
        int still = fd >= 0;
        for (int i = 0; i < N_CLIENTS; i++)
                still += cs[i].fd >= 0;
        if (fd >= 0)
                close(fd);
        /* a revocable connection that finished may have been revoked after its last answer */
        tap_ok(open_sessions <= still && open_sessions >= still - (N_CLIENTS / 4),
               "ListSessions lists the open connections (%d listed, %d open)", open_sessions, still);
        for (int i = 0; i < N_CLIENTS; i++)
                if (cs[i].fd >= 0)
                        close(cs[i].fd);
        sd_bus_unref(bus);

        int torn = 0;
        int records = log_check("DENY memlock.set", &torn);
        tap_ok(records >= (int) denials && denials > 0, "every denial has its record (%d records, %u denials)",
               records, denials);
        int revocations = log_check("revoked by D-Bus caller", &torn);
        tap_ok(revocations >= (int) revoked, "every revocation is logged (%d; %u seen as EOF)", revocations, revoked);
        tap_is_int(torn, 0, "no line of the broker's log is torn");
}

/* --- threads-stale-clock --- */

/* The broker's child running as @uid (its memlock helper), or 0. */
static pid_t helper_of(harness *h, uid_t uid) {
        pid_t p = 0;
        return harness_children_as(h->broker_pid, uid, &p, 1) == 1 ? p : 0;
}

/* After the main thread waited 8 s, @c's memlock.set meets a stopped helper: it must get its full 5 s. */
static void stopped_helper_after_idle(harness *h, tclient *c, const char *who) {
        char *r = tclient_call(c, "memlock 0 %" PRIu64 " keep", H / 4);
        tap_is_int(jint(r, "ok"), 1, "%s: memlock.set through the helper (%s)", who, r);
        free(r);
        pid_t hp = helper_of(h, 1000);
        tap_ok(hp > 0 && kill(hp, SIGSTOP) == 0, "%s: its helper (pid %d) is stopped", who, (int) hp);
        /* the main thread waits: the helper's timer, armed for the first call's 5 s deadline, fires once
         * meanwhile and finds nothing queued; after it nothing is due (--bus none), so sd-event's clock is
         * 3 s old when the next call comes */
        sleep(8);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        r = tclient_call(c, "memlock 0 %" PRIu64 " keep", H / 8);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double waited = (double) (t1.tv_sec - t0.tv_sec) + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9;
        tap_is_int(jint(r, "errno"), ETIMEDOUT, "%s: the request times out (%s)", who, r);
        free(r);
        /* a lower bound, not a speed: a deadline counted from a clock read seconds before had passed early */
        tap_ok(waited >= 4.9, "%s: after its own 5 s (%.2f s), not at once", who, waited);
        /* the broker killed it: gone, before the next call starts another (a dying one would still be listed
         * among the forker's children, and helper_of() would name it) */
        tap_ok(WAIT_FOR(kill(hp, 0) < 0 && errno == ESRCH), "%s: the helper that did not answer is killed and gone",
               who);
}

static void threads_stale_clock(harness *h) {
        if (prctl(PR_CAPBSET_READ, CAP_SYS_RESOURCE, 0, 0, 0) == 1)
                tap_skip_all("CAP_SYS_RESOURCE is in the bounding set: memlock.set runs no helper, arms no timer");
        harness_stop_broker(h);
        /* no bus: nothing wakes the main thread (a bus not reachable is retried every 5 s) */
        const char *args[] = { "--threads", "2", "--bus", "none", NULL };
        tap_is_int(harness_start_broker_args(h, args), 0, "the broker starts with --threads 2 --bus none");
        tclient a, b;
        /* a new connection goes to the loop with the fewest: one of the two to each loop */
        start_client(h, &a, "kubepods.slice/pod-a", 1000, "vm-a");
        start_client(h, &b, "kubepods.slice/pod-a", 1000, "vm-b");
        ping_ok(&a, "a");
        ping_ok(&b, "b");
        stopped_helper_after_idle(h, &a, "a");
        stopped_helper_after_idle(h, &b, "b");
        tclient_stop(&a);
        tclient_stop(&b);
}

/* --- threads-flood --- */

#define FLOOD_PINGS 3000
#define FLOOD_BOUND_MS 2000

/* A hostile child as uid 65534: connect and close at once, or say hello and send garbage. */
static pid_t flooder(bool garbage) {
        pid_t pid = fork();
        if (pid != 0)
                return pid;
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0)
                _exit(1);
        char junk[512], drain[4096];
        for (size_t i = 0; i < sizeof(junk); i++)
                junk[i] = (char) (i * 131 + 7);
        for (;;) {
                int fd = garbage ? raw_hello() : raw_connect();
                if (fd < 0) {
                        usleep(1000);
                        continue;
                }
                while (garbage && raw_send(fd, junk, sizeof(junk)) >= 0)
                        while (recv(fd, drain, sizeof(drain), MSG_DONTWAIT) > 0)
                                ;
                close(fd);
        }
}

static void threads_flood(harness *h) {
        harness_stop_broker(h);
        const char *args[] = { "--threads", "2", "--bus", "none", "--rate", "0", NULL };
        tap_is_int(harness_start_broker_args(h, args), 0, "the broker starts with --threads 2");
        int fd = raw_hello();
        tap_ok(fd >= 0, "the well-behaved client is welcomed");
        /* once the start's probe connection is gone and the session's memlock helper is held */
        int fds_before = harness_fd_count_steady(h->broker_pid);
        static char list_before[8192], list_after[8192];
        harness_fd_list(h->broker_pid, list_before, sizeof(list_before));
        pid_t kids[] = { flooder(false), flooder(true) };
        usleep(300 * 1000); /* the flood builds up */
        unsigned answered = 0, late = 0;
        uint64_t worst = 0;
        uint64_t start = now_ms();
        /* the meson timeout is 180 s: a broker that answers but too slowly fails here instead */
        for (int i = 0; i < FLOOD_PINGS && fd >= 0 && now_ms() - start < 60000; i++) {
                char msg[64];
                snprintf(msg, sizeof(msg), "{\"id\":%d,\"op\":\"ping\"}", i + 1);
                uint64_t t0 = now_ms();
                char *r = raw_call(fd, msg);
                uint64_t took = now_ms() - t0;
                if (r && jint(r, "ok") == 1 && jint(r, "id") == i + 1)
                        answered++;
                else if (answered + 5 > (unsigned) i)
                        tap_diag("ping %d: %s", i + 1, r ? r : "no answer within 5 s");
                free(r);
                late += took > FLOOD_BOUND_MS;
                worst = took > worst ? took : worst;
        }
        for (size_t i = 0; i < sizeof(kids) / sizeof(kids[0]); i++) {
                kill(kids[i], SIGKILL);
                waitpid(kids[i], NULL, 0);
        }
        tap_is_int((int) answered, FLOOD_PINGS, "every ping is answered under the flood");
        tap_is_int((int) late, 0, "no ping waited more than %d ms (the slowest %" PRIu64 " ms)", FLOOD_BOUND_MS,
                   worst);
        int fds_after = harness_fd_count_settle(h->broker_pid, fds_before, 10000);
        if (!tap_is_int(fds_after, fds_before, "the broker's fds come back to their count before the flood")) {
                harness_fd_list(h->broker_pid, list_after, sizeof(list_after));
                tap_diag("before: %s", list_before);
                tap_diag("after: %s", list_after);
        }
        if (fd >= 0)
                close(fd);
}

/* --- threads-affinity --- */

/* @pid's threads, once it served a hello (its loop threads are all running by then). */
static int tasks_of(pid_t pid) {
        char path[64];
        int fd = raw_hello();
        if (fd < 0)
                return -1;
        close(fd);
        snprintf(path, sizeof(path), "/proc/%d/task", (int) pid);
        DIR *d = opendir(path);
        int n = 0;
        if (!d)
                return -1;
        for (struct dirent *e; (e = readdir(d));)
                n += e->d_name[0] != '.';
        closedir(d);
        return n;
}

/* The broker started without --threads, confined to the first @k CPUs of @all: its threads */
static int tasks_confined(harness *h, const cpu_set_t *all, int k) {
        cpu_set_t some;
        CPU_ZERO(&some);
        for (int cpu = 0, n = 0; n < k && cpu < CPU_SETSIZE; cpu++)
                if (CPU_ISSET(cpu, all)) {
                        CPU_SET(cpu, &some);
                        n++;
                }
        harness_stop_broker(h);
        tap_is_int(sched_setaffinity(0, sizeof(some), &some), 0, "confined to %d CPU(s)", k);
        const char *args[] = { "--bus", "none", NULL };
        tap_is_int(harness_start_broker_args(h, args), 0, "the broker starts without --threads (inheriting that)");
        sched_setaffinity(0, sizeof(*all), all);
        return tasks_of(h->broker_pid);
}

/*
 * The default --threads counts the CPUs the broker may run on: below four it runs one loop (on the main
 * thread), from four on two loop threads; and always the thread that closes clients' fds (broker-closer.c)
 * and the netns worker, which runs TAP steps in pods' network namespaces (broker-netns-worker.c).
 * What this machine has decides how much of that is seen.
 */
static void threads_affinity(harness *h) {
        cpu_set_t all;
        if (sched_getaffinity(0, sizeof(all), &all) < 0 || CPU_COUNT(&all) < 2)
                tap_skip_all("fewer than 2 CPUs to run on: the default is one loop anyway");
        int cpus = CPU_COUNT(&all);
        setenv("DELEGATE_TEST_BROKER_THREADS", "default", 1); /* the harness would say --threads otherwise */
        tap_is_int(tasks_confined(h, &all, 1), 3, "on 1 CPU it runs three threads: one loop, on the main thread, the "
                   "closer and the netns worker");
        tap_is_int(tasks_confined(h, &all, 2), 3, "on 2 CPUs it runs three threads: one loop, on the main thread, the "
                   "closer and the netns worker");
        /* the boundary: 3 CPUs still one loop, exactly 4 two */
        if (cpus >= 3)
                tap_is_int(tasks_confined(h, &all, 3), 3, "on 3 CPUs it runs three threads: one loop, on the "
                           "main thread, the closer and the netns worker");
        else
                tap_ok(1, "# SKIP %d CPUs here: the broker on 3 CPUs (still one loop) is not seen", cpus);
        if (cpus >= 4) {
                /* at least: a sanitizer's runtime may start a thread of its own along with the second (TSan
                 * does) */
                int four = tasks_confined(h, &all, 4);
                tap_ok(four >= 5, "on 4 CPUs it runs the main thread, two loop threads, the closer and the netns "
                       "worker (%d threads)", four);
        } else
                tap_ok(1, "# SKIP %d CPUs here: the broker on 4 CPUs (two loop threads) is not seen", cpus);
}

static const scenario scenarios[] = {
        { "threads-stress", policy_admin, threads_stress },
        { "threads-stale-clock", policy_main, threads_stale_clock },
        { "threads-flood", policy_main, threads_flood },
        { "threads-affinity", policy_main, threads_affinity },
};

int main(int argc, char **argv) {
        return harness_main(argc, argv, scenarios, sizeof(scenarios) / sizeof(scenarios[0]));
}
