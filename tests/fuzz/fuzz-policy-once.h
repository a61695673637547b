/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-policy-once.h - a target's own fixed policy, loaded at its first
 * input and kept: a policy that does not load is the target's bug (abort
 * with the loader's message), never a finding about the input.
 */
#pragma once

#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"
#include "policy.h"

static inline const policy *fuzz_policy_once(policy **p, const char *text, size_t len) {
        if (!*p) {
                policy_error err;
                *p = policy_new();
                FUZZ_ASSERT(*p);
                if (policy_load_text(*p, "fuzz.json", text, len, &err) < 0) {
                        fprintf(stderr, "the target's policy: %u:%u: %s\n", err.line, err.column, err.message);
                        abort();
                }
        }
        return *p;
}
