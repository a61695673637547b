/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-qmp.c - QEMU's side of a QMP session as the launcher reads it
 * (launcher/launcher-qmp-parse.c): the bytes arrive in chunks, are cut
 * into lines, classified (greeting, event, reply), and replies are read
 * as the answers to the launcher's commands in order: qmp_capabilities
 * (id 1), query-cpus-fast (id 2, whose table is parsed), then others.
 *
 * Seeds: tests/fuzz/corpus/qmp (sessions as QEMU 7.2 sends them).
 */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"
#include "launcher.h"

#define FUZZ_QMP_BUF 8192 /* smaller than QMP_BUF: the same code, faster */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size == 0)
                return 0;
        /* the first byte picks the chunk size the socket hands over */
        size_t chunk = 1 + (size_t) data[0] * 4;
        data++;
        size--;
        char *buf = malloc(FUZZ_QMP_BUF);
        if (!buf)
                return 0;
        size_t len = 0, off = 0;
        uint64_t next_id = 1;
        bool greeted = false, shutdown = false;
        while (off < size) {
                size_t n = size - off < chunk ? size - off : chunk;
                if (n > FUZZ_QMP_BUF - len)
                        n = FUZZ_QMP_BUF - len;
                if (n == 0)
                        break; /* a line longer than the buffer: the launcher gives up (-E2BIG) */
                memcpy(buf + len, data + off, n);
                len += n;
                off += n;
                for (;;) {
                        json_value *v = NULL;
                        int r = qmp_take_line(buf, &len, &v);
                        FUZZ_ASSERT(r == 0 || r == -EAGAIN || r == -EBADMSG || r == -ENOMEM);
                        FUZZ_ASSERT(len <= FUZZ_QMP_BUF);
                        if (r == -EAGAIN)
                                break;
                        if (r < 0)
                                continue;
                        switch (qmp_classify(v)) {
                        case QMP_EVENT:
                                shutdown |= qmp_is_shutdown_event(v);
                                break;
                        case QMP_GREETING:
                                greeted = true;
                                break;
                        case QMP_REPLY: {
                                char err[512];
                                json_value *ret = NULL;
                                const char *cmd = next_id == 1 ? "qmp_capabilities"
                                                : next_id == 2 ? "query-cpus-fast" : "cont";
                                r = qmp_reply_parse(v, cmd, next_id, &ret, err, sizeof(err));
                                FUZZ_ASSERT(r == 0 || r == -EAGAIN || r == -EIO || r == -EBADMSG);
                                if (r != -EAGAIN)
                                        next_id++;
                                if (r == 0 && cmd[0] == 'q' && cmd[1] == 'u') {
                                        pid_t tids[SPEC_MAX_VCPUS];
                                        size_t n_vcpus = 0;
                                        if (qmp_vcpu_threads_parse(ret, tids, SPEC_MAX_VCPUS, &n_vcpus) == 0) {
                                                FUZZ_ASSERT(n_vcpus <= SPEC_MAX_VCPUS);
                                                for (size_t i = 0; i < n_vcpus; i++)
                                                        FUZZ_ASSERT(tids[i] > 0);
                                        }
                                }
                                json_free(ret);
                                break;
                        }
                        }
                        json_free(v);
                }
        }
        (void) greeted;
        (void) shutdown;
        explicit_bzero(buf, FUZZ_QMP_BUF);
        free(buf);
        return 0;
}
