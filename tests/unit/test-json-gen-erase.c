/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The generator's buffers are erased before they go back to the allocator
 * (json-gen.c): this program is linked with --wrap=free (and --wrap=malloc,
 * wrap-malloc.h, to fail an allocation), and every block our code frees is
 * scanned, all of it (wrap-free.h), for a marker that each string written
 * carries.  The old buffer a growth leaves, a buffer over 4 KiB that
 * json_gen_free() drops, a generator freed while the thread keeps another
 * (gen_destroy()), the one a thread keeps, freed when the thread ends, after
 * a take, after an abandoned document, after a failed growth (gen_fail()).
 * And a document of plain strings under the first buffer's 2 KiB never
 * grows it: no block is freed from json_gen_new() to json_gen_free().
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "json-gen.h"
#include "tap.h"
#include "wrap-free.h"
#include "wrap-malloc.h"

#define MARKER "json-gen-erase-marker"

static void count_reset(void) {
        n_freed = n_marked = 0;
}

/* @n strings of @size bytes (at most 2000), each with the marker: plain ASCII, or every fourth byte a newline */
static void doc(json_gen *g, unsigned n, size_t size, bool escapes) {
        char s[2001];
        for (size_t i = 0; i < size; i++)
                s[i] = escapes && i % 4 == 3 ? '\n' : (char) ('a' + i % 26);
        memcpy(s + size / 2, MARKER, sizeof(MARKER) - 1);
        s[size] = 0;
        json_gen_array_open(g);
        for (unsigned i = 0; i < n; i++)
                json_gen_str(g, s);
        json_gen_array_close(g);
        explicit_bzero(s, sizeof(s));
}

/* the text taken, erased and freed by us, not counted */
static int take_and_drop(json_gen *g) {
        char *out = NULL;
        size_t len = 0;
        int r = json_gen_take(g, &out, &len);
        if (out)
                explicit_bzero(out, len);
        __real_free(out);
        return r;
}

static void test_growth_and_drop(bool take) {
        json_gen *g = json_gen_new();
        count_reset();
        doc(g, 20, 500, false); /* 10 kB: 2048 -> 4096 -> 8192 -> 16384 */
        unsigned grown = n_freed, marked = n_marked;
        int r = take ? take_and_drop(g) : 0;
        json_gen_free(g); /* kept, but its 16 KiB buffer dropped */
        tap_ok(r == 0 && grown >= 3 && marked == 0, "growth: %u old buffers freed, %u with the marker", grown, marked);
        tap_ok(n_freed > grown && n_marked == 0,
               "json_gen_free() of a buffer over 4 KiB, its document %s: %u freed, %u with the marker",
               take ? "taken" : "abandoned", n_freed - grown, n_marked - marked);
}

/* a second generator, freed while the thread keeps the first: destroyed (its document abandoned or taken) */
static void test_destroy(bool take) {
        json_gen *held = json_gen_new(), *g = json_gen_new(), *other = json_gen_new();
        json_gen_free(other); /* now the thread's kept one: g is destroyed at its free */
        count_reset();
        doc(g, 2, 300, true);
        int r = take ? take_and_drop(g) : 0;
        json_gen_free(g);
        tap_ok(r == 0 && n_freed >= 2 && n_marked == 0, "a generator destroyed after its document was %s: %u freed, %u with the marker",
               take ? "taken" : "abandoned", n_freed, n_marked);
        json_gen_free(held);
}

typedef struct thread_case {
        bool take;
        unsigned during; /* frees from json_gen_new() to json_gen_free() */
} thread_case;

/* a thread's own generator: kept at json_gen_free(), freed when the thread ends */
static void *thread_gen(void *arg) {
        thread_case *t = arg;
        json_gen *g = json_gen_new();
        doc(g, 1, 330, false);
        doc(g, 0, 0, false); /* a second top-level value: refused, the first dropped */
        take_and_drop(g);
        json_gen_array_open(g);
        json_gen_str(g, MARKER);
        char s[1501];
        memset(s, 'p', 1500);
        s[1500] = 0;
        json_gen_str(g, s); /* 330 + 1500 plain bytes: under the first buffer's 2048 */
        json_gen_array_close(g);
        if (t->take)
                take_and_drop(g);
        t->during = n_freed;
        json_gen_free(g);
        return NULL;
}

static void test_thread(bool take) {
        thread_case t = { .take = take };
        pthread_t th;
        count_reset();
        if (pthread_create(&th, NULL, thread_gen, &t) != 0 || pthread_join(th, NULL) != 0) {
                printf("Bail out! pthread_create\n");
                exit(1);
        }
        tap_ok(n_freed >= 2 && n_marked == 0, "a thread's kept generator, its document %s, freed at the thread's end: %u freed, %u with the marker",
               take ? "taken" : "abandoned", n_freed, n_marked);
        tap_ok(t.during == 0, "  plain strings of 330 and 1500 bytes: the first buffer not outgrown (%u blocks freed before json_gen_free())",
               t.during);
}

/* the Nth allocation failing, for each N a growth makes: what was written is erased at the failure */
static void test_failure(void) {
        unsigned bad = 0, failed = 0, n;
        for (n = 1;; n++) {
                json_gen *held = json_gen_new(); /* the kept one: g is a new one, destroyed at its free */
                seen = 0, fail_at = n, armed = true;
                json_gen *g = json_gen_new();
                if (g)
                        doc(g, 8, 500, n % 2);
                armed = false;
                count_reset();
                int r = g ? take_and_drop(g) : -ENOMEM;
                json_gen_free(held); /* kept again: g is destroyed */
                json_gen_free(g);
                failed += r == -ENOMEM;
                bad += n_marked;
                if (seen < n)
                        break;
        }
        tap_ok(bad == 0 && failed == n - 1 && failed >= 3, "%u documents, each with one allocation failing: %u blocks with the marker",
               failed, bad);
}

int main(void) {
        free_marker = MARKER;
        test_growth_and_drop(true);
        test_growth_and_drop(false);
        test_destroy(false);
        test_destroy(true);
        test_thread(false);
        test_thread(true);
        test_failure();
        return tap_done();
}
