/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * delegatectl-util.c - what every delegatectl command shares: the global
 * options, usage errors, error reports and the connection to the broker.
 */
#include <stdarg.h>
#include <stdio.h>

#include "delegatectl-util.h"
#include "json.h"
#include "wire.h"

const char *arg_socket = NULL;
const char *arg_vm = NULL;
bool arg_json = false;
const char *arg_bus = "system";

int usage_error(const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "delegatectl: ");
        vfprintf(stderr, fmt, ap);
        fprintf(stderr, "\nTry 'delegatectl --help'.\n");
        va_end(ap);
        return 2;
}

void print_json_string(const char *s) {
        _cleanup_json_gen_ json_gen *g = json_gen_new();
        _cleanup_erase_free_ char *out = NULL;
        if (g)
                json_gen_str(g, s);
        /* without memory for it, null: what is around it stays JSON */
        fputs(g && json_gen_take(g, &out, NULL) == 0 ? out : "null", stdout);
}

int report_error(const char *op, const delegate_error *e) {
        if (arg_json) {
                printf("{\"ok\":false,\"error\":{\"code\":");
                print_json_string(e->code);
                printf(",\"errno\":%d,\"message\":", e->errno_value);
                print_json_string(e->message);
                if (e->rule[0]) {
                        printf(",\"rule\":");
                        print_json_string(e->rule);
                }
                printf("}}\n");
        } else {
                fprintf(stderr, "delegatectl: %s failed: %s", op, e->code);
                if (e->errno_value)
                        fprintf(stderr, " (errno %d, %s)", e->errno_value, strerror(e->errno_value));
                if (e->rule[0])
                        fprintf(stderr, ", rule '%s'", e->rule);
                fprintf(stderr, ": %s\n", e->message);
        }
        return 1;
}

int open_ctx(delegate_ctx **ret, delegate_error *err) {
        delegate_ctx *c;
        int r = delegate_ctx_new(DELEGATE_API_VERSION, &c, err);
        if (r < 0)
                return r;
        if ((r = delegate_ctx_set_socket(c, arg_socket)) < 0 ||
            (r = delegate_ctx_set_identity(c, "delegatectl", arg_vm)) < 0) {
                delegate_ctx_free(c);
                return error_set(err, r, "local", -r, "invalid socket path or VM name");
        }
        delegate_ctx_set_mode(c, DELEGATE_MODE_BROKER);
        r = delegate_connect(c, err);
        if (r < 0) {
                delegate_ctx_free(c);
                return r;
        }
        *ret = c;
        return 0;
}

int parse_id(int opt, const char *arg, uint32_t *ret) {
        char *end;
        errno = 0;
        unsigned long v = strtoul(arg, &end, 10);
        if (errno || *end || v >= UINT32_MAX) {
                usage_error("--%s '%s' is not a numeric id", opt == 'u' ? "uid" : "gid", arg);
                return -EINVAL;
        }
        *ret = (uint32_t) v;
        return 0;
}
