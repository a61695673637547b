/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-event.c - what a client loop thread does to sd-event, the main
 * thread's (broker-loop.c): the broker's calls that change
 * when sd-event must wake up, or that read its clock, are linked to the
 * wrappers below (-Wl,--wrap, broker/meson.build), so that a loop thread
 *   - reads the clock itself for sd_event_now() and a relative timer:
 *     while the main thread waits, sd-event's cached time is as old as its
 *     wait, and a helper's 5 s deadline counted from it would have passed
 *     already (the main thread's own calls keep sd-event's time, that of
 *     its last wait, as before);
 *   - wakes the main thread after its turn when it changed a timer or an
 *     event source's state: sd-event arms its timer fds only when the main
 *     thread prepares its next wait.  (A D-Bus message left in sd-bus's
 *     write queue is looked for once at the end of the turn, broker-loop.c:
 *     sd-bus asks for its socket's EPOLLOUT also only then, and its reply
 *     functions send through its own sd_bus_send(), which --wrap cannot
 *     catch.)
 * A ping or a sched.set changes none of these: the main thread sleeps on.
 * With --threads 1 the main thread's loop is the same: its turns run
 * between sd-event's waits, not in its dispatch (broker-loop.c), and a turn
 * that changed one of these has the main thread prepare sd-event again.
 * Only inside sd-event's dispatch do the wrappers call through.
 */
#include <errno.h>
#include <time.h>

#include "broker.h"

int __real_sd_event_now(sd_event *e, clockid_t clock, uint64_t *usec);
int __real_sd_event_add_time(sd_event *e, sd_event_source **s, clockid_t clock, uint64_t usec, uint64_t accuracy,
                             sd_event_time_handler_t callback, void *userdata);
int __real_sd_event_add_time_relative(sd_event *e, sd_event_source **s, clockid_t clock, uint64_t usec,
                                      uint64_t accuracy, sd_event_time_handler_t callback, void *userdata);
int __real_sd_event_source_set_time(sd_event_source *s, uint64_t usec);
int __real_sd_event_source_set_enabled(sd_event_source *s, int enabled);
int __real_sd_event_exit(sd_event *e, int code);

int __wrap_sd_event_now(sd_event *e, clockid_t clock, uint64_t *usec);
int __wrap_sd_event_add_time(sd_event *e, sd_event_source **s, clockid_t clock, uint64_t usec, uint64_t accuracy,
                             sd_event_time_handler_t callback, void *userdata);
int __wrap_sd_event_add_time_relative(sd_event *e, sd_event_source **s, clockid_t clock, uint64_t usec,
                                      uint64_t accuracy, sd_event_time_handler_t callback, void *userdata);
int __wrap_sd_event_source_set_time(sd_event_source *s, uint64_t usec);
int __wrap_sd_event_source_set_enabled(sd_event_source *s, int enabled);
int __wrap_sd_event_exit(sd_event *e, int code);

/* In a loop's turn, the time now: sd-event's own (that of the main thread's last wait) may be seconds old. */
static bool loop_thread_now(clockid_t clock, uint64_t *usec) {
        broker_loop *l = loop_current();
        struct timespec ts;
        if (!l || !l->outside || clock_gettime(clock, &ts) < 0)
                return false;
        *usec = (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000ULL;
        return true;
}

static void touched(void) {
        broker_loop *l = loop_current();
        if (l && l->outside)
                l->touched = true;
}

int __wrap_sd_event_now(sd_event *e, clockid_t clock, uint64_t *usec) {
        return loop_thread_now(clock, usec) ? 0 : __real_sd_event_now(e, clock, usec);
}

int __wrap_sd_event_add_time(sd_event *e, sd_event_source **s, clockid_t clock, uint64_t usec, uint64_t accuracy,
                             sd_event_time_handler_t callback, void *userdata) {
        touched();
        return __real_sd_event_add_time(e, s, clock, usec, accuracy, callback, userdata);
}

int __wrap_sd_event_add_time_relative(sd_event *e, sd_event_source **s, clockid_t clock, uint64_t usec,
                                      uint64_t accuracy, sd_event_time_handler_t callback, void *userdata) {
        uint64_t now;
        if (!loop_thread_now(clock, &now))
                return __real_sd_event_add_time_relative(e, s, clock, usec, accuracy, callback, userdata);
        if (usec >= UINT64_MAX - now)
                return -EOVERFLOW;
        touched();
        return __real_sd_event_add_time(e, s, clock, now + usec, accuracy, callback, userdata);
}

int __wrap_sd_event_source_set_time(sd_event_source *s, uint64_t usec) {
        touched();
        return __real_sd_event_source_set_time(s, usec);
}

int __wrap_sd_event_source_set_enabled(sd_event_source *s, int enabled) {
        touched();
        return __real_sd_event_source_set_enabled(s, enabled);
}

int __wrap_sd_event_exit(sd_event *e, int code) {
        touched();
        return __real_sd_event_exit(e, code);
}
