/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-state-read.c - the checked reads of a state file's fields, for
 * broker-state.c and each session part's restore (broker-op.h), and of
 * its frame (state_unframe(): is the file whole?).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "broker-op.h"

void state_bad(state_check *ck, const char *fmt, ...) {
        if (ck->msg[0])
                return;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ck->msg, sizeof(ck->msg), fmt, ap);
        va_end(ap);
}

/* @o.@k: an integer from @min to @max (absent: 0 when @optional). */
uint64_t state_get_u64(state_check *ck, const json_value *o, const char *k, uint64_t min, uint64_t max,
                      bool optional) {
        uint64_t x = 0;
        const json_value *v = json_get(o, k);
        if (!v && optional)
                return 0;
        if (!v || json_to_u64(v, &x) < 0 || x < min || x > max) {
                state_bad(ck, "\"%s\" must be an integer from %" PRIu64 " to %" PRIu64, k, min, max);
                return 0;
        }
        return x;
}

bool state_get_bool(state_check *ck, const json_value *o, const char *k) {
        const json_value *v = json_get(o, k);
        if (!v || v->type != JSON_BOOL) {
                state_bad(ck, "\"%s\" must be true or false", k);
                return false;
        }
        return v->boolean;
}

const json_value *state_get_array(state_check *ck, const json_value *o, const char *k, size_t max) {
        const json_value *a = json_get(o, k);
        if (!a || a->type != JSON_ARRAY || a->array.n > max) {
                state_bad(ck, "\"%s\" must be an array of at most %zu entries", k, max);
                return NULL;
        }
        return a;
}


/* The decimal number at @p (at most 20 digits, no leading zero) as *@x; its length, 0 if none. */
static size_t digits(const char *p, const char *end, uint64_t *x) {
        size_t n = 0;
        uint64_t v = 0;
        while (p + n < end && n < 21 && p[n] >= '0' && p[n] <= '9') {
                unsigned d = (unsigned) (p[n] - '0');
                if (v > (UINT64_MAX - d) / 10)
                        return 0;
                v = v * 10 + d;
                n++;
        }
        if (n == 0 || n > 20 || (n > 1 && p[0] == '0'))
                return 0;
        *x = v;
        return n;
}

/*
 * Why the generation at both ends proves the file whole: a save writes
 * the record with one write, from its first byte, and a write that a
 * signal stops stops between pages, the pages before written, those after
 * not (a save killed half way); the start then names the new generation,
 * while the first newline is the end of the old record, or none.  The
 * number at the end equals the start's only when the write reached it:
 * no version ever written to either slot of a session had the same
 * generation (the next broker goes on from the highest it read, torn ones
 * too).
 */
int state_unframe(const char *text, size_t len, const char **inner, size_t *inner_len, uint64_t *gen) {
        const size_t head = strlen(STATE_FRAME_HEAD), mid = strlen(STATE_FRAME_STATE), tail = strlen(STATE_FRAME_END);
        const char *end = text + len;
        *gen = 0;
        if (len < head && memcmp(text, STATE_FRAME_HEAD, len) == 0)
                return -EBADMSG; /* cut before its generation (empty: cut at once) */
        if (len < head || memcmp(text, STATE_FRAME_HEAD, head) != 0) {
                *inner = text;
                *inner_len = len;
                return 0;
        }
        const char *g = text + head;
        size_t n = digits(g, end, gen);
        if (n == 0 || (size_t) (end - (g + n)) < mid || memcmp(g + n, STATE_FRAME_STATE, mid) != 0)
                return -EBADMSG;
        const char *obj = g + n + mid, *nl = memchr(obj, '\n', (size_t) (end - obj));
        /* before the newline: ,"end":G} with G the same digits */
        if (!nl || (size_t) (nl - obj) < tail + n + 1 + 2 || nl[-1] != '}')
                return -EBADMSG;
        const char *t = nl - 1 - n - tail;
        if (memcmp(t, STATE_FRAME_END, tail) != 0 || memcmp(t + tail, g, n) != 0)
                return -EBADMSG;
        *inner = obj;
        *inner_len = (size_t) (t - obj);
        return 1;
}
