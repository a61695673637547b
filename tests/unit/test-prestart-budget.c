/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-prestart-budget - the broker forks memlock helpers ahead of a
 * request (at a session's start) at most LIMIT_PRESTART_BURST times per
 * LIMIT_PRESTART_WINDOW_USEC, broker-wide (limits_prestart_take(),
 * broker-limits.c): a loop of connections, which no rate limit slows, gets
 * its first ones started early and the rest at their first request; the
 * next window has the whole budget again.
 */
#include <stdio.h>
#include <string.h>

#include "broker.h"
#include "tap.h"

int main(void) {
        broker_limits l;
        memset(&l, 0, sizeof(l));
        const uint64_t t0 = 5 * LIMIT_PRESTART_WINDOW_USEC; /* CLOCK_MONOTONIC: any value, never 0 here */
        unsigned n = 0;
        for (unsigned i = 0; i < 3 * LIMIT_PRESTART_BURST; i++)
                n += limits_prestart_take(&l, t0 + i * 1000); /* a session's start each millisecond */
        tap_is_int((int) n, LIMIT_PRESTART_BURST, "%d sessions in %d ms: %u helpers forked ahead (budget %d)",
                   3 * LIMIT_PRESTART_BURST, 3 * LIMIT_PRESTART_BURST, n, LIMIT_PRESTART_BURST);
        tap_ok(!limits_prestart_take(&l, t0 + LIMIT_PRESTART_WINDOW_USEC - 1), "none until the window ends");
        n = 0;
        for (unsigned i = 0; i < 2 * LIMIT_PRESTART_BURST; i++)
                n += limits_prestart_take(&l, t0 + LIMIT_PRESTART_WINDOW_USEC + i);
        tap_is_int((int) n, LIMIT_PRESTART_BURST, "the next window has the whole budget again (%u)", n);
        memset(&l, 0, sizeof(l));
        tap_ok(limits_prestart_take(&l, 1), "a broker that just started has its budget (time 1 us)");
        return tap_done();
}
