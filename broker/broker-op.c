/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* broker-op.c - the broker's operation registry (broker-ops-list.h). */
#include "broker-op.h"

#define BROKER_OP(id) &bop_##id,
static const broker_op *const registry[] = {
#include "broker-ops-list.h"
};
#undef BROKER_OP

const broker_op *const *broker_op_registry(size_t *ret_n) {
        *ret_n = ELEMENTSOF(registry);
        return registry;
}

const broker_op *broker_op_lookup(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(registry); i++)
                if (streq(registry[i]->op->name, name))
                        return registry[i];
        return NULL;
}
