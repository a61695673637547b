/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * policy-util.h - what the policy unit tests share: loading a text, finding
 * a rule, expecting a broken file's FILE:LINE:COLUMN, and deciding an
 * operation for a subject (policy-util.c).
 */
#pragma once

#define DELEGATE_INTERNAL_UNSTABLE_API_OPT_IN
#include "delegate/delegate-internal.h"
#include "ops.h"
#include "policy.h"

#define GiB (UINT64_C(1) << 30)
#define MiB (UINT64_C(1) << 20)

/* One rule in a valid file: the text @r starts at 3:13. */
#define RULE(r) "{\n  \"version\": 1,\n  \"rules\": [" r "]\n}\n"

typedef struct decide_result {
        int r;
        policy_decision d;
        char msg[256];
        size_t n_explained;
} decide_result;

const policy_rule *rule_named(const policy *p, const char *name);
int load(policy *p, const char *file, const char *text, policy_error *err);
/* @text fails to load into @p with "FILE:LINE:COLUMN" and @msg, adding nothing. */
void broken_into(policy *p, const char *file, const char *text, unsigned line, unsigned column, const char *msg,
                 const char *what);
/* ... into a fresh policy, as "bad.json". */
void broken(const char *text, unsigned line, unsigned column, const char *msg, const char *what);
void count_explain(const policy_rule *r, bool matched, const char *why, void *userdata);
/* @op with @args (JSON text or NULL) for uid/gid @uid in /pods/p.scope, vm "vm1". */
decide_result decide(const policy *p, uid_t uid, const char *op, const char *args);
/* ... for uid/gid @uid in /system, coming @via. */
decide_result decide_via(const policy *p, uid_t uid, policy_via via, const char *op, const char *args);
void decided(decide_result res, bool allowed, const char *rule, const char *reason, const char *what);
void rejected(decide_result res, int error, const char *msg, const char *what);
