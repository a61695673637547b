/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The generator (json-gen.c) out of memory: the Nth malloc() fails (this
 * program is linked with --wrap=malloc), for every N until a generation
 * succeeds with none failing: the generator's own (a thread's first, or a
 * second while the thread's kept one is in use), its first buffer, each
 * growth, the copy json_gen_take() hands out.  Each failure is NULL from
 * json_gen_new() or -ENOMEM from json_gen_take() with nothing handed out,
 * never a crash or a cut text; and the next generation, with room again,
 * gives the whole text.  yajl 2.1's generator wrote through a NULL buffer
 * at the first two of these.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include "json-gen.h"
#include "tap.h"
#include "wrap-malloc.h"

/* a map with @n items, each with a string of 100 bytes that need escaping: about 900 bytes an item */
static void doc(json_gen *g, unsigned n) {
        char s[101];
        for (int i = 0; i < 100; i++)
                s[i] = (char) (i % 3 ? '\n' : 'x');
        s[100] = 0;
        json_gen_map_open(g);
        json_gen_str(g, "items");
        json_gen_array_open(g);
        for (unsigned i = 0; i < n; i++) {
                json_gen_map_open(g);
                json_gen_kv_u64(g, "i", i);
                json_gen_kv_str(g, "s", s);
                json_gen_kv_bool(g, "ok", true);
                json_gen_str(g, "none");
                json_gen_null(g);
                json_gen_map_close(g);
        }
        json_gen_array_close(g);
        json_gen_map_close(g);
}

static char *expected(unsigned n) {
        json_gen *g = json_gen_new();
        char *out = NULL;
        if (!g)
                return NULL;
        doc(g, n);
        if (json_gen_take(g, &out, NULL) < 0)
                out = NULL;
        json_gen_free(g);
        return out;
}

typedef struct attempt {
        unsigned n;
        bool second; /* a second generator, made while the thread's kept one is held */
        int r;
        char *out;
} attempt;

/* One generation of @a->n items, armed: its result in @a->r and @a->out. */
static void *run_attempt(void *arg) {
        attempt *a = arg;
        json_gen *held = a->second ? json_gen_new() : NULL;
        seen = 0;
        armed = true;
        json_gen *g = json_gen_new();
        a->r = -ENOMEM;
        if (g) {
                doc(g, a->n);
                a->r = json_gen_take(g, &a->out, NULL);
        }
        armed = false;
        json_gen_free(g);
        json_gen_free(held);
        return NULL;
}

/* Generate @n items with each allocation failing in turn; with @thread each time in a new thread (its first generator). */
static void each_failure(const char *what, unsigned n, bool second, bool thread) {
        unsigned failures = 0, bad = 0;
        char *want = expected(n);
        if (!want) {
                printf("Bail out! no memory\n");
                exit(1);
        }
        for (fail_at = 1; fail_at < 1000; fail_at++) {
                attempt a = { .n = n, .second = second, .out = (char *) "untouched" };
                pthread_t t;
                if (!thread)
                        run_attempt(&a);
                else if (pthread_create(&t, NULL, run_attempt, &a) != 0 || pthread_join(t, NULL) != 0) {
                        printf("Bail out! no thread\n");
                        exit(1);
                }
                if (a.r == 0) {
                        if (!streq(a.out, want)) {
                                bad++;
                                tap_diag("  %s: malloc %u failing: a text that is not the whole one", what, fail_at);
                        }
                        free(a.out);
                        if (seen < fail_at)
                                break; /* no allocation failed: all were tried */
                        continue;
                }
                failures++;
                if (a.r != -ENOMEM || !streq(a.out, "untouched")) {
                        bad++;
                        tap_diag("  %s: malloc %u failing: %d%s", what, fail_at, a.r,
                                 streq(a.out, "untouched") ? "" : ", and a text handed out");
                }
                /* with room again, this thread's generator gives the whole text */
                char *again = expected(n);
                if (!again || !streq(again, want)) {
                        bad++;
                        tap_diag("  %s: after malloc %u failed, the next generation differs", what, fail_at);
                }
                free(again);
        }
        tap_ok(fail_at < 1000 && failures > 0 && bad == 0,
               "%s: %u of %u allocations failing: NULL or -ENOMEM, no text handed out, the next one whole", what,
               failures, fail_at - 1);
        free(want);
}

int main(void) {
        each_failure("the kept generator, 1 item", 1, false, false);
        each_failure("the kept generator, 40 items (8 KiB: grown)", 40, false, false);
        each_failure("a second generator, 1 item", 1, true, false);
        each_failure("a second generator, 40 items", 40, true, false);
        each_failure("a new thread's first generator, 40 items", 40, false, true);
        return tap_done();
}
