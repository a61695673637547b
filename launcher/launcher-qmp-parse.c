/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * launcher-qmp-parse.c - the pure half of the QMP client: cutting QEMU's
 * byte stream into lines, telling greetings, events and replies apart,
 * reading a command's answer and the vCPU thread table.  No I/O and no
 * clock, so tests/fuzz/fuzz-qmp.c drives it without a socket.
 */
#include <stdio.h>

#include "launcher.h"

int qmp_take_line(char *buf, size_t *len, json_value **ret) {
        char *nl = memchr(buf, '\n', *len);
        if (!nl)
                return -EAGAIN;
        size_t n = nl - buf;
        json_parse_error je;
        json_value *v = NULL;
        int r = json_parse(buf, n, false, &v, &je);
        /* the line is consumed and erased whether or not it parsed */
        memmove(buf, nl + 1, *len - n - 1);
        *len -= n + 1;
        explicit_bzero(buf + *len, n + 1);
        if (r < 0)
                return -EBADMSG;
        if (v->type != JSON_OBJECT) {
                json_free(v);
                return -EBADMSG;
        }
        *ret = v;
        return 0;
}

qmp_kind qmp_classify(const json_value *v) {
        if (json_get(v, "event"))
                return QMP_EVENT;
        if (json_get(v, "QMP"))
                return QMP_GREETING;
        return QMP_REPLY;
}

bool qmp_is_event(const json_value *v, const char *name) {
        const json_value *e = json_get(v, "event");
        return json_is_string(e) && streq(e->string.str, name);
}

bool qmp_is_shutdown_event(const json_value *v) {
        return qmp_is_event(v, "SHUTDOWN");
}

int qmp_reply_parse(json_value *v, const char *cmd, uint64_t id, json_value **ret, char *err, size_t size) {
        uint64_t got;
        if (json_to_u64(json_get(v, "id"), &got) < 0 || got != id)
                return -EAGAIN;
        const json_value *e = json_get(v, "error");
        if (e) {
                const json_value *d = json_get(e, "desc");
                snprintf(err, size, "QMP %s failed: %s", cmd, json_is_string(d) ? d->string.str : "(no description)");
                return -EIO;
        }
        json_member *m = NULL;
        for (size_t i = 0; i < v->object.n; i++)
                if (streq(v->object.members[i].key, "return"))
                        m = &v->object.members[i];
        if (!m) {
                snprintf(err, size, "QMP %s: the answer has no \"return\"", cmd);
                return -EBADMSG;
        }
        if (ret) {
                *ret = m->value;
                m->value = NULL; /* taken: json_free() skips it */
        }
        return 0;
}

int qmp_vcpu_threads_parse(const json_value *v, pid_t *tids, size_t max, size_t *ret_n) {
        size_t n = 0;
        if (!v || v->type != JSON_ARRAY)
                return -EBADMSG;
        for (size_t i = 0; i < max; i++)
                tids[i] = 0;
        for (size_t i = 0; i < v->array.n; i++) {
                const json_value *c = v->array.items[i];
                uint64_t idx, tid;
                if (json_to_u64(json_get(c, "cpu-index"), &idx) < 0 || json_to_u64(json_get(c, "thread-id"), &tid) < 0)
                        return -EBADMSG;
                if (idx >= max || tid == 0 || tid > INT32_MAX || tids[idx] != 0)
                        return -EBADMSG;
                tids[idx] = (pid_t) tid;
                if (idx + 1 > n)
                        n = idx + 1;
        }
        for (size_t i = 0; i < n; i++)
                if (tids[i] == 0)
                        return -EBADMSG; /* a hole: vCPU i has no thread */
        *ret_n = n;
        return 0;
}
