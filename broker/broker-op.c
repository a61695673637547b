/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* broker-op.c - the broker's operation registry (broker-ops-list.h). */
#include "broker-op.h"

#define BROKER_OP(id) &bop_##id,
#define SESSION_PART(id)
static const broker_op *const registry[] = {
#include "broker-ops-list.h"
};
#undef BROKER_OP
#undef SESSION_PART

#define BROKER_OP(id)
#define SESSION_PART(id) &session_part_##id,
static const session_part *const parts[] = {
#include "broker-ops-list.h"
};
#undef BROKER_OP
#undef SESSION_PART

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

const session_part *const *session_part_registry(size_t *ret_n) {
        *ret_n = ELEMENTSOF(parts);
        return parts;
}

int session_parts_new(client *c) {
        for (size_t i = 0; i < ELEMENTSOF(parts); i++) {
                const session_part *p = parts[i];
                if (!(c->part[p->slot] = calloc(1, p->size)))
                        return -ENOMEM;
                if (p->init)
                        p->init(c->part[p->slot]);
        }
        return 0;
}

void session_parts_free(client *c) {
        for (size_t i = 0; i < ELEMENTSOF(parts); i++) {
                const session_part *p = parts[i];
                if (!c->part[p->slot])
                        continue;
                if (p->release)
                        p->release(c);
                explicit_bzero(c->part[p->slot], p->size);
                free(c->part[p->slot]);
                c->part[p->slot] = NULL;
        }
}

void session_parts_end(client *c) {
        for (size_t i = 0; i < ELEMENTSOF(parts); i++)
                if (parts[i]->end && c->part[parts[i]->slot])
                        parts[i]->end(c);
}

void session_parts_swap(client *to, client *from) {
        for (size_t i = 0; i < ELEMENTSOF(parts); i++) {
                unsigned s = parts[i]->slot;
                void *t = to->part[s];
                to->part[s] = from->part[s];
                from->part[s] = t;
        }
}
