/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * json_parse_flags() out of memory: the Nth malloc() of a parse fails (this
 * program is linked with --wrap=malloc, which reroutes the calls of our own
 * code and of yajl through our allocator), for every N until a parse
 * succeeds with none failing.  Each failure is -ENOMEM with *err filled
 * ("out of memory", no position), whichever allocation it was: the arena's
 * first chunk, a later one, the list of an array's items.  A parse without
 * positions that fails parses again to locate the error: there an
 * allocation failing once is recovered from.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include "json.h"
#include "tap.h"
#include "wrap-malloc.h"


static void each_failure(const char *name, const char *text, unsigned flags) {
        unsigned failures = 0, bad = 0;
        for (fail_at = 1; fail_at < 1000; fail_at++) {
                json_value *v = NULL;
                json_parse_error err;
                memset(&err, 0x5a, sizeof(err)); /* what a caller that did not clear it holds */
                seen = 0;
                armed = true;
                int r = json_parse_flags(text, strlen(text), flags, &v, &err);
                armed = false;
                if (r == 0) {
                        json_free(v);
                        if (seen < fail_at)
                                break; /* no allocation failed: all were tried */
                        continue;  /* recovered (the retry that locates an error, with room again) */
                }
                failures++;
                if (r != -ENOMEM || err.line != 0 || err.column != 0 || strcmp(err.message, "out of memory") != 0) {
                        bad++;
                        tap_diag("  %s: malloc %u failing: %d, line %u, column %u, '%.40s'", name, fail_at, r,
                                 err.line, err.column, memchr(err.message, 0, sizeof(err.message)) ? err.message : "(unterminated)");
                }
        }
        tap_ok(fail_at < 1000 && failures > 0 && bad == 0,
               "%s: %u of %u allocations failing: -ENOMEM with err 'out of memory'", name, failures, fail_at - 1);
}

int main(void) {
        char big[8192];
        size_t n = 0;
        big[n++] = '[';
        for (int i = 0; i < 600; i++)
                n += (size_t) snprintf(big + n, sizeof(big) - n, "%s{\"k%d\":%d}", i ? "," : "", i, i);
        big[n++] = ']';
        big[n] = 0;

        each_failure("small object", "{\"a\":1}", 0);
        each_failure("small object, no positions", "{\"a\":1}", JSON_PARSE_NO_POSITIONS);
        each_failure("600 objects in an array", big, 0);
        each_failure("600 objects in an array, no positions", big, JSON_PARSE_NO_POSITIONS);
        return tap_done();
}
