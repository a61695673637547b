/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-prestart-budget - the broker forks memlock helpers ahead of a
 * request (at a session's start) from a token bucket, broker-wide
 * (limits_prestart_take(), broker-limits.c): LIMIT_PRESTART_BURST at once,
 * then one every LIMIT_PRESTART_EVERY_USEC.  A loop of connections, which
 * no rate limit slows, gets its first ones started early and the rest at
 * their first request; looking at the bucket takes nothing.
 */
#include <stdio.h>
#include <string.h>

#include "broker.h"
#include "tap.h"

static broker b; /* only its bucket is used */

int main(void) {
        const uint64_t t0 = 1000 * 1000000ULL, every = LIMIT_PRESTART_EVERY_USEC;
        tap_ok(limits_prestart_take(&b, t0, false), "a broker that just started has its budget");
        tap_ok(limits_prestart_take(&b, t0, false), "looking takes nothing");
        unsigned n = 0;
        for (unsigned i = 0; i < 3 * LIMIT_PRESTART_BURST; i++)
                n += limits_prestart_take(&b, t0 + i * 1000, true); /* a session's start each millisecond */
        tap_is_int((int) n, LIMIT_PRESTART_BURST, "%d sessions in %d ms: %u helpers forked ahead (burst %d)",
                   3 * LIMIT_PRESTART_BURST, 3 * LIMIT_PRESTART_BURST, n, LIMIT_PRESTART_BURST);
        uint64_t t = t0 + 3 * LIMIT_PRESTART_BURST * 1000;
        tap_ok(!limits_prestart_take(&b, t + every / 2, true), "none half a refill later");
        tap_ok(limits_prestart_take(&b, t + every, true), "one a whole refill later");
        tap_ok(!limits_prestart_take(&b, t + every + 1000, true), "and only one");
        /* a steady loop: one session a millisecond for 20 refills gets about one helper per refill */
        n = 0;
        for (uint64_t u = 0; u < 20 * every; u += 1000)
                n += limits_prestart_take(&b, t + every + 1000 + u, true);
        tap_ok(n >= 19 && n <= 21, "a loop of 20 refills' length: %u forked ahead, one per refill", n);
        /* idle for a whole bucket's time: full again, not more */
        t += 100 * every;
        n = 0;
        for (unsigned i = 0; i < 2 * LIMIT_PRESTART_BURST; i++)
                n += limits_prestart_take(&b, t + i, true);
        tap_is_int((int) n, LIMIT_PRESTART_BURST, "after a long idle time the burst again, not more (%u)", n);
        return tap_done();
}
