/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * delegatectl's --json error report (delegatectl-util.c, compiled in)
 * out of memory: the Nth malloc() fails (this program is linked with
 * --wrap=malloc), for every N until a report is written with none failing.
 * Each report, written to a memfd in place of stdout, must be one JSON
 * object that our parser (yajl's) reads, with a string or null for each of
 * "code", "message" and "rule"; a string escaped without memory used to be
 * nothing at all ("code":,).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "delegatectl-util.h"
#include "json.h"
#include "tap.h"
#include "unit-util.h"
#include "wrap-malloc.h"

static bool string_or_null(const json_value *v) {
        return v && (v->type == JSON_STRING || v->type == JSON_NULL);
}

int main(void) {
        delegate_error e = { .code = "denied", .errno_value = EPERM };
        snprintf(e.message, sizeof(e.message), "cgroup target '../x\"\n' escapes the pod cgroup");
        snprintf(e.rule, sizeof(e.rule), "rule \"one\"");
        arg_json = true;
        tap_diag("each malloc() of a --json error report failing in turn"); /* stdout's buffer exists from here */
        unsigned bad = 0, nulls = 0, n;
        for (n = 1;; n++) {
                int fd = memfd_create("report", MFD_CLOEXEC), saved = dup(1);
                if (fd < 0 || saved < 0 || fflush(stdout) != 0 || dup2(fd, 1) < 0)
                        unit_bail("memfd_create/dup: %m");
                seen = 0, fail_at = n, armed = true;
                report_error("kvmi.set_page_access", &e);
                armed = false;
                fflush(stdout);
                dup2(saved, 1);
                close(saved);
                char text[2048] = "";
                ssize_t len = pread(fd, text, sizeof(text) - 1, 0);
                close(fd);
                json_value *v = NULL, *err;
                json_parse_error perr;
                bool good = len > 0 && json_parse(text, (size_t) len, false, &v, &perr) == 0 &&
                            (err = json_get(v, "error")) && string_or_null(json_get(err, "code")) &&
                            string_or_null(json_get(err, "message")) && string_or_null(json_get(err, "rule"));
                nulls += good && strstr(text, "null") != NULL;
                if (!good && bad++ < 5)
                        tap_diag("  malloc #%u failing: '%s'", n, text);
                json_free(v);
                if (seen < n) /* none failed: the whole report */
                        break;
        }
        tap_ok(bad == 0 && nulls > 0, "%u reports, each with one malloc() failing: all JSON (%u not), %u with null", n - 1,
               bad, nulls);
        return tap_done();
}
