/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-op.c - the broker's operation registry, as the layers below the
 * operations see it: the tables are named only by broker-ops-table.c (at
 * the top, beside main.c), which hands them over at start with
 * broker_ops_set(); everything else walks them through the functions here,
 * so that nothing an operation calls has to name the operations.
 */
#include "broker-op.h"

static const broker_op *const *registry;
static size_t n_registry;
static const session_part *const *parts;
static size_t n_parts;

void broker_ops_set(const broker_op *const *ops, size_t n_ops, const session_part *const *session_parts,
                    size_t n_session_parts) {
        registry = ops;
        n_registry = n_ops;
        parts = session_parts;
        n_parts = n_session_parts;
}

const broker_op *const *broker_op_registry(size_t *ret_n) {
        *ret_n = n_registry;
        return registry;
}

const broker_op *broker_op_lookup(const char *name) {
        for (size_t i = 0; i < n_registry; i++)
                if (streq(registry[i]->op->name, name))
                        return registry[i];
        return NULL;
}

const session_part *const *session_part_registry(size_t *ret_n) {
        *ret_n = n_parts;
        return parts;
}

int session_parts_new(client *c) {
        for (size_t i = 0; i < n_parts; i++) {
                const session_part *p = parts[i];
                if (!(c->part[p->slot] = calloc(1, p->size)))
                        return -ENOMEM;
                if (p->init)
                        p->init(c->part[p->slot]);
        }
        return 0;
}

void session_parts_free(client *c) {
        for (size_t i = 0; i < n_parts; i++) {
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

void session_parts_begin(client *c) {
        for (size_t i = 0; i < n_parts; i++)
                if (parts[i]->begin && c->part[parts[i]->slot])
                        parts[i]->begin(c);
}

void session_parts_end(client *c) {
        for (size_t i = 0; i < n_parts; i++)
                if (parts[i]->end && c->part[parts[i]->slot])
                        parts[i]->end(c);
}

void session_parts_swap(client *to, client *from) {
        for (size_t i = 0; i < n_parts; i++) {
                unsigned s = parts[i]->slot;
                void *t = to->part[s];
                to->part[s] = from->part[s];
                from->part[s] = t;
        }
}
