/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-bus-args.c - D-Bus marshalling shared by the operations' methods
 * (broker_bus_method) and broker-bus.c: JSON text in, JSON text out.
 */
#include "broker-op.h"

int bus_args_json(const char *text, json_value **ret, sd_bus_error *error) {
        json_parse_error je;
        if (!*text) {
                *ret = NULL;
                return 0;
        }
        int r = json_parse(text, strlen(text), false, ret, &je);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "args: line %u, column %u: %s", je.line,
                                         je.column, je.message);
        if ((*ret)->type != JSON_OBJECT) {
                const char *t = json_type_name((*ret)->type);
                json_free(*ret);
                *ret = NULL;
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "args must be a JSON object, not %s", t);
        }
        return 0;
}

int bus_read_json_args(sd_bus_message *m, json_value **ret, sd_bus_error *error) {
        const char *text;
        int r = sd_bus_message_read(m, "s", &text);
        if (r < 0)
                return r;
        return bus_args_json(text, ret, error);
}

int bus_reply_json(sd_bus_message *call, const json_value *res) {
        _cleanup_free_ char *text = NULL;
        if (json_dump(res, &text) < 0)
                return -ENOMEM;
        return sd_bus_reply_method_return(call, "s", text);
}
