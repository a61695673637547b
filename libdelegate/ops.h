/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ops.h - the operations of API version 1: argument parsing and the policy
 * check of each, shared by the broker (which then acts), delegatectl
 * (offline explain) and the library (local execution).
 */
#pragma once

#include <sys/types.h>

#include "json.h"
#include "policy.h"

typedef struct memlock_args {
        pid_t pid;     /* as the client names it (its own pid namespace) */
        uint64_t soft; /* UINT64_MAX = unlimited */
        uint64_t hard; /* DELEGATE_LIMIT_KEEP = leave as it is */
} memlock_args;

/* Parse memlock.set args; -EINVAL with @msg saying what is wrong. */
int memlock_args_parse(const json_value *args, memlock_args *ret, char *msg, size_t size);

typedef struct op_desc {
        const char *name;
        /* Does this operation need a policy rule's section? (ping does not) */
        bool needs_policy;
        /*
         * Parse @args and check them against @rule (which matched the
         * subject).  Returns -EINVAL with @msg for malformed args, else 0
         * with @d filled (allowed or denied with a reason).
         */
        int (*check)(const policy_rule *rule, const json_value *args, policy_decision *d, char *msg, size_t size);
} op_desc;

/* manage.*: the broker's own management, decided like operations but only
 * ever asked over D-Bus, never a socket request. */
bool op_is_bus_only(const char *name);

/* NULL for an unknown operation. */
const op_desc *op_lookup(const char *name);
/* "ping, state.get, memlock.set" */
const char *op_names(void);

/**
 * policy_decide() - the whole decision for @op with @args from @s: parse the
 * args, find the first matching rule, check the op's section.
 * Returns -EINVAL (bad args, @msg set), -EOPNOTSUPP (unknown op), or 0 with
 * @d filled.  @fn (may be NULL) hears about every rule examined.
 */
int policy_decide(const policy *p, const policy_subject *s, const char *op, const json_value *args,
                  policy_decision *d, char *msg, size_t size, policy_explain_fn fn, void *userdata);
