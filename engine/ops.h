/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ops.h - the operations of API version 1: the registry (ops-list.h) and
 * the one decision every front-end makes with it (the broker's socket and
 * D-Bus, delegatectl's offline explain, the library's local route).
 * What one operation is: opdesc.h and its own ops-*.h.
 */
#pragma once

#include "opdesc.h"
#include "ops-cgroup.h"
#include "ops-kvmi.h"
#include "ops-memlock.h"
#include "ops-sched.h"
#include "ops-tap.h"

#define DELEGATE_OP(id) extern const op_desc op_##id;
#include "ops-list.h"
#undef DELEGATE_OP

/* NULL for an unknown operation. */
const op_desc *op_lookup(const char *name);
/* The names of the socket operations (not the bus-only ones), comma-separated, in registry order. */
const char *op_names(void);
/* manage.*: decided like operations but only ever asked over D-Bus. */
bool op_is_bus_only(const char *name);

/* The distinct policy sections of the registry's operations, in registry order. */
const policy_section *const *policy_sections(size_t *ret_n);
const policy_section *policy_section_find(const char *key);
/* "memlock, cgroup, ..." */
const char *policy_section_keys(void);

/*
 * Parse @json for @o into a new argument block (*ret; NULL for an
 * operation without arguments): 0, -ENOMEM, or -EINVAL with @msg.
 * Free with op_args_free().
 */
int op_args_parse(const op_desc *o, const json_value *json, void **ret, char *msg, size_t size);
void op_args_free(const op_desc *o, void *args);

/**
 * policy_decide_parsed() - the decision for @o with parsed @args from @s:
 * find the first matching rule, check the op's section.  Fills @d
 * (allowed, or denied with a reason).  @fn (may be NULL) hears about every
 * rule examined.
 */
void policy_decide_parsed(const policy *p, const policy_subject *s, const op_desc *o, const void *args,
                          policy_decision *d, policy_explain_fn fn, void *userdata);

/**
 * policy_decide() - the same from the operation's name and JSON args:
 * returns -EINVAL (bad args, @msg set), -EOPNOTSUPP (unknown op, @msg
 * set), -ENOMEM, or 0 with @d filled.
 */
int policy_decide(const policy *p, const policy_subject *s, const char *op, const json_value *args,
                  policy_decision *d, char *msg, size_t size, policy_explain_fn fn, void *userdata);
