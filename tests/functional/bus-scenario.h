/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bus-scenario.h - what the D-Bus scenarios share (bus-scenario.c).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#define DEST "org.delegate.Broker1"
#define PATH "/org/delegate/Broker1"
#define IFACE "org.delegate.Broker1"

/* CLOCK_MONOTONIC in milliseconds. */
uint64_t now_ms(void);
/* A root connection to the private bus (HARNESS_BUS_ADDRESS), or NULL. */
sd_bus *bus_open(void);
/* Wait until the broker owns its name (up to @ms). */
bool wait_name(sd_bus *bus, int ms);
