/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-util.c - the small shared helpers of common/util.h that carry a
 * rule the man pages state: the reconnect back-off of delegate-launcher(1),
 * delegate-run(1) and delegatectl(1), "100 ms, doubling up to 2 s".
 */
#include <stdio.h>

#include "tap.h"
#include "util.h"

static void test_backoff(void) {
        static const unsigned want[] = { 100, 200, 400, 800, 1600, 2000, 2000, 2000 };
        unsigned d = 0, total = 0;
        char got[128] = "";
        bool same = true;
        for (size_t i = 0; i < ELEMENTSOF(want); i++) {
                d = backoff_next_ms(d);
                total += d;
                snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%u", i ? " " : "", d);
                same = same && d == want[i];
        }
        tap_ok(same, "the waits: 100 ms, doubling, never above 2 s (%s)", got);
        tap_is_int(total, 9100, "8 attempts wait 9.1 s in all");
        tap_is_int(backoff_next_ms(1000), 2000, "after 1 s: 2 s");
        tap_is_int(backoff_next_ms(1001), 2000, "after just over 1 s: 2 s, not more");
        tap_is_int(backoff_next_ms(5000), 2000, "after a longer wait (a broker's retry_after_ms): 2 s");
}

int main(void) {
        test_backoff();
        return tap_done();
}
