/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-state.c - a session state file as a starting broker reads it
 * (broker/broker-state.c: state_unframe(), then state_parse() of the record
 * when the file is whole, the whole broker linked): a file
 * that is no JSON object is refused with a reason; one with a bad field
 * yields a client holding only what is valid on its own, with the reason;
 * an accepted one must come back unchanged: what state_gen() writes for it
 * is accepted again and written again byte for byte (the next broker reads
 * what this one saves), and holds no newline, which ends the frame around
 * it: framed, it unframes to itself.  Clients are freed as state_free_detached() does:
 * nothing is undone.
 *
 * Seeds: tests/fuzz/corpus/state (files a real broker wrote: a session with
 * a created cgroup and two TAP devices, one with a memlock record and the
 * retry cache; edits of them; one framed as this broker writes it, and
 * that one cut in half).
 * -max_len: 1048576, STATE_MAX_FILE (a larger file is rejected unread).
 */
#include <stdio.h>
#include <stdlib.h>

#include "broker-op.h"
#include "broker.h"
#include "fuzz.h"

#define STATE_FILE_MAX (1024 * 1024)

static broker the_broker = { .state_fd = -EBADF };

static void drop(client *c) {
        c->detached_keep = true; /* as state_free_detached(): nothing undone */
        client_free(c);
}

static char *gen(const client *c, size_t *ret_len) {
        json_gen *g = json_gen_new();
        char *text = NULL;
        FUZZ_ASSERT(g);
        state_gen(c, g);
        FUZZ_ASSERT(json_gen_take(g, &text, ret_len) == 0);
        json_gen_freep(&g);
        return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size > STATE_FILE_MAX)
                return 0;
        broker_ops_register(); /* the registry, as the broker's main() hands it over */
        /* recover_one() reads the file into a buffer one byte larger, NUL-terminated */
        char *text = malloc(size + 1);
        FUZZ_ASSERT(text);
        memcpy(text, data, size);
        text[size] = 0;
        client *c = NULL;
        char msg[256] = "";
        const char *inner;
        size_t inner_len;
        uint64_t g;
        int r = state_unframe(text, size, &inner, &inner_len, &g);
        FUZZ_ASSERT(r == 1 || r == 0 || r == -EBADMSG);
        if (r < 0) { /* cut: passed over for the other file */
                free(text);
                return 0;
        }
        FUZZ_ASSERT(inner >= text && inner + inner_len <= text + size);
        r = state_parse(&the_broker, inner, inner_len, &c, msg, sizeof(msg));
        free(text);
        FUZZ_ASSERT(r == 0 || r == -EBADMSG || r == -EINVAL || r == -ENOMEM);
        if (r == -EBADMSG || r == -ENOMEM) {
                FUZZ_ASSERT(!c && (r == -ENOMEM || msg[0]));
                return 0;
        }
        FUZZ_ASSERT(c && c->detached && c->b == &the_broker);
        if (r == -EINVAL) {
                FUZZ_ASSERT(msg[0] && memchr(msg, 0, sizeof(msg)));
                drop(c);
                return 0;
        }
        /* accepted: what this broker would save for it, the next one reads back the same */
        size_t l1, l2;
        char *t1 = gen(c, &l1);
        client *c2 = NULL;
        r = state_parse(&the_broker, t1, l1, &c2, msg, sizeof(msg));
        if (r != 0) {
                fprintf(stderr, "a saved state is refused (%d: %s):\n%s\n", r, msg, t1);
                abort();
        }
        FUZZ_ASSERT(!memchr(t1, '\n', l1));
        char *framed = NULL;
        int fl = asprintf(&framed, STATE_FRAME_HEAD "7" STATE_FRAME_STATE "%s" STATE_FRAME_END "7}\n", t1);
        FUZZ_ASSERT(fl > 0);
        FUZZ_ASSERT(state_unframe(framed, (size_t) fl, &inner, &inner_len, &g) == 1 && g == 7 &&
                    inner_len == l1 && memcmp(inner, t1, l1) == 0);
        free(framed);
        char *t2 = gen(c2, &l2);
        if (l1 != l2 || memcmp(t1, t2, l1) != 0) {
                fprintf(stderr, "saved state changes on reading:\n%s\n%s\n", t1, t2);
                abort();
        }
        free(t1);
        free(t2);
        drop(c2);
        drop(c);
        return 0;
}
