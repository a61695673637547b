/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-audit - the broker's audit record of one decision, as a ping
 * writes it (debug level, every field of delegate-broker(8), AUDIT AND
 * LOGGING), through the broker's own log sinks: N records, the mean time
 * per record.  Run it under callgrind for instructions per record, which
 * a loaded machine does not move:
 *   bench-audit N          prints the mean microseconds per record
 * The sink runs at debug level (as with DELEGATE_LOG_LEVEL=debug: at the
 * default level a ping's record is not written, only counted).  With no
 * journald (as in bench/sandbox.sh) the journal socket's connect fails and
 * the sink backs off; the formatting is what is measured.
 */
#include <stdio.h>
#include <stdlib.h>
#include <syslog.h>
#include <time.h>

#include "broker-log.h"

int main(int argc, char **argv) {
        long n = argc > 1 ? atol(argv[1]) : 100000;
        const log_decision d = {
                .op = "ping",
                .allowed = true,
                .quiet = true,
                .rule = "(no policy needed)",
                .reason = "ping concerns only the caller",
                .args = NULL,
                .via = "socket",
                .session = 12345,
                .pid = 4242,
                .uid = 1000,
                .gid = 1000,
                .cgroup = "/delegate-bench.1234/kubepods.slice/pod-bench",
                .vm = "bench",
                .client = "bench-roundtrip",
        };
        struct timespec a, b;
        log_set_level(LOG_DEBUG);
        clock_gettime(CLOCK_MONOTONIC, &a);
        for (long i = 0; i < n; i++)
                log_decision_emit(&d);
        clock_gettime(CLOCK_MONOTONIC, &b);
        double ns = ((double) (b.tv_sec - a.tv_sec) * 1e9 + (double) (b.tv_nsec - a.tv_nsec)) / (double) n;
        printf("%.2f\n", ns / 1000);
        return 0;
}
