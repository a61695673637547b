/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-state-read.c - the checked reads of a state file's fields, for
 * broker-state.c and each session part's restore (broker-op.h).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

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

