/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "local.h"

#include "ops.h"

int local_try(const char *op, const json_value *args, char **ret_result, delegate_error *err) {
        const op_desc *o = op_lookup(op);
        void *a;
        char msg[256];
        if (!o || !o->local)
                return 0;
        int r = op_args_parse(o, args, &a, msg, sizeof(msg));
        if (r == -ENOMEM)
                return error_set(err, r, "system", ENOMEM, "out of memory");
        if (r < 0)
                return error_set(err, r, "bad-request", EINVAL, "%s", msg);
        r = o->local(a, ret_result, err);
        op_args_free(o, a);
        return r;
}
