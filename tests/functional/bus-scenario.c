/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bus-scenario.c - what the D-Bus scenarios share (test-dbus, test-threads):
 * a connection to the private bus and waiting for the broker's name.
 */
#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "bus-scenario.h"
#include "harness.h"

uint64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

sd_bus *bus_open(void) {
        sd_bus *bus = NULL;
        if (sd_bus_new(&bus) < 0 || sd_bus_set_address(bus, HARNESS_BUS_ADDRESS) < 0 ||
            sd_bus_set_bus_client(bus, 1) < 0 || sd_bus_start(bus) < 0) {
                sd_bus_unref(bus);
                return NULL;
        }
        return bus;
}

/* Wait until the broker owns its name (up to @ms). */
bool wait_name(sd_bus *bus, int ms) {
        uint64_t t0 = now_ms();
        do {
                sd_bus_message *reply = NULL;
                int has = 0;
                if (sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                       "NameHasOwner", NULL, &reply, "s", DEST) >= 0)
                        sd_bus_message_read(reply, "b", &has);
                sd_bus_message_unref(reply);
                if (has)
                        return true;
                usleep(50000);
        } while (now_ms() - t0 < (uint64_t) ms);
        return false;
}
