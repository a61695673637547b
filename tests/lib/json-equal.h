/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * json-equal.h - deep equality of two JSON trees for tests (numbers compare
 * as written).  @ordered: object members must also come in the same order
 * (round trips); otherwise they match by key (messages from two encoders).
 */
#pragma once

#include <stdbool.h>
#include <string.h>

#include "json.h"

static inline bool json_tree_equal(const json_value *a, const json_value *b, bool ordered) {
        if (!a || !b || a->type != b->type)
                return false;
        switch (a->type) {
        case JSON_NULL:
                return true;
        case JSON_BOOL:
                return a->boolean == b->boolean;
        case JSON_NUMBER:
                return strcmp(a->number, b->number) == 0;
        case JSON_STRING:
                return a->string.len == b->string.len && memcmp(a->string.str, b->string.str, a->string.len) == 0;
        case JSON_ARRAY:
                if (a->array.n != b->array.n)
                        return false;
                for (size_t i = 0; i < a->array.n; i++)
                        if (!json_tree_equal(a->array.items[i], b->array.items[i], ordered))
                                return false;
                return true;
        case JSON_OBJECT:
                if (a->object.n != b->object.n)
                        return false;
                for (size_t i = 0; i < a->object.n; i++) {
                        const json_member *m = &a->object.members[i];
                        const json_value *other = json_get(b, m->key);
                        if (ordered && strcmp(m->key, b->object.members[i].key) != 0)
                                return false;
                        if (!json_tree_equal(m->value, other, ordered))
                                return false;
                }
                return true;
        }
        return false;
}
