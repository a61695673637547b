/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-dbus - what the same round trips cost over D-Bus.
 *
 *   bench-dbus server          a tiny sd-bus service: org.delegate.BenchEcho1
 *                              with Echo(s) -> s, on the system bus
 *   bench-dbus echo N          N Echo calls: a D-Bus method round trip
 *   bench-dbus rtkit N         the same thread made SCHED_FIFO 1, N times each,
 *                              by rtkit's MakeThreadRealtime and by the
 *                              broker's sched.set (reset to SCHED_OTHER by
 *                              the thread's own process in between, untimed)
 *
 * The system bus is the private dbus-daemon bench/run starts
 * (DBUS_SYSTEM_BUS_ADDRESS); the broker is DELEGATE_SOCKET.  Prints rows as
 * described in bench-util.h.
 */
#define DELEGATE_INTERNAL_UNSTABLE_API_OPT_IN
#include <delegate/delegate-internal.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include "bench-util.h"

#define ECHO_NAME "org.delegate.BenchEcho1"
#define ECHO_PATH "/org/delegate/BenchEcho1"

static int method_echo(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *s;
        int r = sd_bus_message_read(m, "s", &s);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(m, "s", s);
}

static const sd_bus_vtable echo_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("Echo", SD_BUS_ARGS("s", text), SD_BUS_RESULT("s", text), method_echo,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};

static sd_bus *open_bus(void) {
        sd_bus *bus = NULL;
        int r = sd_bus_open_system(&bus);
        if (r < 0)
                bench_die("sd_bus_open_system", strerror(-r));
        return bus;
}

static int server(void) {
        sd_bus *bus = open_bus();
        int r = sd_bus_add_object_vtable(bus, NULL, ECHO_PATH, ECHO_NAME, echo_vtable, NULL);
        if (r >= 0)
                r = sd_bus_request_name(bus, ECHO_NAME, 0);
        if (r < 0)
                bench_die("bench-dbus server", strerror(-r));
        for (;;) {
                r = sd_bus_process(bus, NULL);
                if (r < 0)
                        bench_die("sd_bus_process", strerror(-r));
                if (r == 0 && sd_bus_wait(bus, UINT64_MAX) < 0)
                        bench_die("sd_bus_wait", "failed");
        }
}

static int echo(size_t n) {
        sd_bus *bus = open_bus();
        uint64_t *t = calloc(n, sizeof(*t));
        for (size_t i = 0; i < n; i++) {
                sd_bus_error err = SD_BUS_ERROR_NULL;
                sd_bus_message *reply = NULL;
                uint64_t t0 = bench_now_ns();
                int r = sd_bus_call_method(bus, ECHO_NAME, ECHO_PATH, ECHO_NAME, "Echo", &err, &reply, "s",
                                           "{\"id\":1,\"op\":\"ping\"}");
                t[i] = bench_now_ns() - t0;
                if (r < 0)
                        bench_die("Echo", err.message ? err.message : strerror(-r));
                sd_bus_message_unref(reply);
        }
        bench_report("D-Bus method call (sd-bus echo service)", "client -> dbus-daemon -> service", t, n);
        sd_bus_flush_close_unref(bus);
        free(t);
        return 0;
}

static int worker_tid;
static void *worker(void *arg) {
        __atomic_store_n(&worker_tid, (int) syscall(SYS_gettid), __ATOMIC_RELEASE);
        for (;;)
                pause();
        return NULL;
}

/* Back to SCHED_OTHER: lowering needs no privilege, clearing the
 * reset-on-fork flag both set would. */
static void reset_other(void) {
        struct sched_param p = { 0 };
        if (sched_setscheduler(worker_tid, SCHED_OTHER | SCHED_RESET_ON_FORK, &p) < 0)
                bench_die("sched_setscheduler", strerror(errno));
}

static void rtkit_make_rt(sd_bus *bus) {
        sd_bus_error err = SD_BUS_ERROR_NULL;
        int r = sd_bus_call_method(bus, "org.freedesktop.RealtimeKit1", "/org/freedesktop/RealtimeKit1",
                                   "org.freedesktop.RealtimeKit1", "MakeThreadRealtime", &err, NULL, "tu",
                                   (uint64_t) worker_tid, (uint32_t) 1);
        if (r < 0)
                bench_die("rtkit MakeThreadRealtime", err.message ? err.message : strerror(-r));
        if ((sched_getscheduler(worker_tid) & ~SCHED_RESET_ON_FORK) != SCHED_FIFO)
                bench_die("rtkit", "the thread is not realtime afterwards");
}

static void broker_make_rt(delegate_ctx *c) {
        char args[128];
        delegate_error e;
        snprintf(args, sizeof(args), "{\"tid\":%d,\"policy\":\"fifo\",\"priority\":1}", worker_tid);
        if (delegate_call(c, "sched.set", args, NULL, NULL, 0, NULL, NULL, &e) < 0)
                bench_die("sched.set", e.message);
}

static int rtkit(size_t n) {
        struct rlimit rt = { 200000, 200000 };
        uint64_t *t = calloc(n, sizeof(*t));
        pthread_t th;
        delegate_ctx *c;
        delegate_error e;
        if (setrlimit(RLIMIT_RTTIME, &rt) < 0 || pthread_create(&th, NULL, worker, NULL) != 0)
                bench_die("bench-dbus rtkit", "setup failed");
        while (!__atomic_load_n(&worker_tid, __ATOMIC_ACQUIRE))
                usleep(1000);
        sd_bus *bus = open_bus();
        for (size_t i = 0; i < n; i++) {
                uint64_t t0 = bench_now_ns();
                rtkit_make_rt(bus);
                t[i] = bench_now_ns() - t0;
                reset_other();
        }
        bench_report("SCHED_FIFO 1 via rtkit MakeThreadRealtime", "pod uid -> dbus-daemon -> rtkit (-> polkitd)", t, n);
        if (delegate_open(DELEGATE_API_VERSION, NULL, "bench", "bench-vm", &c, &e) < 0)
                bench_die("connect", e.message);
        for (size_t i = 0; i < n; i++) {
                uint64_t t0 = bench_now_ns();
                broker_make_rt(c);
                t[i] = bench_now_ns() - t0;
                reset_other();
        }
        bench_report("SCHED_FIFO 1 via broker sched.set", "pod uid -> broker", t, n);
        delegate_ctx_free(c);
        sd_bus_flush_close_unref(bus);
        free(t);
        return 0;
}

int main(int argc, char **argv) {
        if (argc == 2 && strcmp(argv[1], "server") == 0)
                return server();
        if (argc == 3 && strcmp(argv[1], "echo") == 0)
                return echo(strtoul(argv[2], NULL, 10));
        if (argc == 3 && strcmp(argv[1], "rtkit") == 0)
                return rtkit(strtoul(argv[2], NULL, 10));
        fprintf(stderr, "usage: bench-dbus server | echo N | rtkit N\n");
        return 2;
}
