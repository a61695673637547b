/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* opdesc.c - helpers the operation files share (opdesc.h). */
#include "opdesc.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int ops_bad(char *msg, size_t size, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, size, fmt, ap);
        va_end(ap);
        return -EINVAL;
}

int ops_check_keys(const json_value *args, const char *op, const char *const *allowed, char *msg, size_t size) {
        for (size_t i = 0; i < args->object.n; i++) {
                const char *k = args->object.members[i].key;
                bool ok = false;
                for (const char *const *a = allowed; *a; a++)
                        ok = ok || streq(*a, k);
                if (!ok) {
                        char list[256] = "";
                        for (const char *const *a = allowed; *a; a++)
                                snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
                                         a == allowed ? "" : ", ", *a);
                        return ops_bad(msg, size, "%s: unknown argument '%.64s' (allowed: %s)", op, k, list);
                }
        }
        return 0;
}

int ops_deny(policy_decision *d, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(d->reason, sizeof(d->reason), fmt, ap);
        va_end(ap);
        d->allowed = false;
        return 0;
}

void ops_allow(policy_decision *d, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(d->reason, sizeof(d->reason), fmt, ap);
        va_end(ap);
        d->allowed = true;
}

void ops_allow_text(policy_decision *d, const char *reason) {
        size_t n = strnlen(reason, sizeof(d->reason) - 1);
        memcpy(d->reason, reason, n);
        d->reason[n] = 0;
        d->allowed = true;
}

int ops_parse_pid(const json_value *v, const char *op, const char *what, pid_t *ret, char *msg, size_t size) {
        int64_t x;
        if (v->type != JSON_NUMBER || json_to_i64(v, &x) < 0 || x < 0 || x > INT32_MAX)
                return ops_bad(msg, size, "%s: \"%s\" must be a %s id (0 for the caller itself)", op, what,
                               streq(what, "pid") ? "process" : "thread");
        *ret = (pid_t) x;
        return 0;
}

int ops_parse_cpus(const json_value *v, const char *op, cpu_mask *ret, char *msg, size_t size) {
        char m[256];
        if (v->type != JSON_STRING)
                return ops_bad(msg, size, "%s: \"cpus\" must be a CPU list string like \"0-3,8\"", op);
        if (cpu_mask_parse(v->string.str, ret, m, sizeof(m)) < 0)
                return ops_bad(msg, size, "%s: %s", op, m);
        return 0;
}

bool ops_args_empty(const json_value *args) {
        return !args || args->type == JSON_NULL || (args->type == JSON_OBJECT && args->object.n == 0);
}

bool ops_cpus_allowed(const cpu_mask *cpus, bool has_allowed, const cpu_mask *allowed, const char *section,
                      const char *none_reason, policy_decision *d) {
        char c1[256], c2[256];
        unsigned cpu;
        if (!has_allowed) {
                snprintf(d->reason, sizeof(d->reason), "%s", none_reason);
                return false;
        }
        if (!cpu_mask_subset(cpus, allowed, &cpu)) {
                snprintf(d->reason, sizeof(d->reason), "cpus '%s' include CPU %u, outside the rule's %s cpus '%s'",
                         cpu_mask_format(cpus, c1, sizeof(c1)), cpu, section, cpu_mask_format(allowed, c2, sizeof(c2)));
                return false;
        }
        return true;
}
