/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-proc.c - the /proc parsers of common/proc.c on the text the
 * readers take in, cut as they cut it (at most PROC_*_FILE_MAX - 1 bytes,
 * NUL-terminated).  The first byte picks the file:
 *   'c'  /proc/PID/cgroup: the v2 path, and the v1 "cpu" hierarchy's path
 *   's'  /proc/PID/status (or a pidfd's fdinfo): NSpid, Uid/Gid, PPid, Tgid
 *   't'  /proc/PID/stat: the fields after the command name, the start time
 *   'l'  /proc/PID/limits: memlock and rttime
 *   'k'  /proc/PID/task/TID/children
 *   'm'  /proc/self/mountinfo, line by line as fgets() hands them over
 *   'i'  a file of one integer (a sysctl)
 * Any other first byte: nothing (libFuzzer finds the letters in the seeds).
 *
 * Seeds: tests/fuzz/corpus/proc (files read from this machine's /proc,
 * the selector letter prepended).
 * -max_len: 1 + PROC_CGROUP_FILE_MAX - 1 = 8192 (the largest file read).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"
#include "proc.h"
#include "util.h"

/* @data as the reader would hold it: at most @max - 1 bytes and a NUL. */
static char *as_read(const uint8_t *data, size_t size, size_t max) {
        size_t n = size < max - 1 ? size : max - 1;
        char *b = malloc(n + 1);
        if (!b)
                abort();
        memcpy(b, data, n);
        b[n] = 0;
        return b;
}

static void cgroup(const uint8_t *data, size_t size) {
        _cleanup_free_ char *buf = as_read(data, size, PROC_CGROUP_FILE_MAX);
        _cleanup_free_ char *copy = strdup(buf), *path = NULL;
        FUZZ_ASSERT(copy);
        int r = proc_cgroup_parse(buf, &path);
        FUZZ_ASSERT(r == 0 || r == -EXDEV || r == -ENOMEDIUM || r == -ENOMEM);
        if (r == 0) {
                /* outside the cgroup namespace never passes as a path */
                FUZZ_ASSERT(strncmp(path, "/../", 4) != 0 && strcmp(path, "/..") != 0);
                FUZZ_ASSERT(strlen(path) < PROC_CGROUP_FILE_MAX);
        }
        const char *v1 = proc_cgroup_v1_path(copy, "cpu");
        FUZZ_ASSERT(!v1 || (v1 >= copy && v1 < copy + PROC_CGROUP_FILE_MAX));
}

static void status(const uint8_t *data, size_t size) {
        _cleanup_free_ char *buf = as_read(data, size, PROC_STATUS_FILE_MAX);
        char line[256];
        pid_t ns[PROC_MAX_NSPID];
        size_t n = SIZE_MAX;
        /* as proc_nspid() reads it: the NSpid value, cut at 256 bytes */
        if (proc_status_field(buf, "NSpid", line, sizeof(line)) == 0) {
                FUZZ_ASSERT(strlen(line) < sizeof(line));
                for (size_t max = 1; max <= PROC_MAX_NSPID; max += PROC_MAX_NSPID - 1)
                        if (proc_nspid_parse(line, ns, max, &n) == 0) {
                                /* a pid the broker will act on: in range, never 0 or the caller's "self" */
                                FUZZ_ASSERT(n >= 1 && n <= max);
                                for (size_t i = 0; i < n; i++)
                                        FUZZ_ASSERT(ns[i] > 0);
                        }
        }
        proc_creds cr;
        (void) proc_creds_parse(buf, &cr);
        char small[8];
        if (proc_status_field(buf, "PPid", small, sizeof(small)) == 0)
                FUZZ_ASSERT(strlen(small) < sizeof(small));
}

static void stat_file(const uint8_t *data, size_t size) {
        _cleanup_free_ char *buf = as_read(data, size, PROC_STAT_FILE_MAX);
        char *fields;
        if (proc_stat_fields(buf, &fields) < 0)
                return;
        FUZZ_ASSERT(fields > buf && fields[-1] == ')' && fields[0] == ' ');
        uint64_t t;
        int r = proc_stat_starttime(fields, &t);
        FUZZ_ASSERT(r == 0 || r == -EIO);
}

static void limits(const uint8_t *data, size_t size) {
        _cleanup_free_ char *buf = as_read(data, size, PROC_LIMITS_FILE_MAX);
        uint64_t soft, hard;
        int r = proc_limits_parse(buf, "Max locked memory", &soft, &hard);
        FUZZ_ASSERT(r == 0 || r == -ENODATA || r == -EINVAL);
        r = proc_limits_parse(buf, "Max realtime timeout", &soft, &hard);
        FUZZ_ASSERT(r == 0 || r == -ENODATA || r == -EINVAL);
}

static void children(const uint8_t *data, size_t size) {
        _cleanup_free_ char *buf = as_read(data, size, PROC_CHILDREN_FILE_MAX);
        pid_t list[16];
        size_t n = 14; /* already holding some, as proc_children() appends */
        proc_children_parse(buf, list, 16, &n);
        FUZZ_ASSERT(n >= 14 && n <= 16);
}

static void mountinfo(const uint8_t *data, size_t size) {
        _cleanup_free_ char *buf = as_read(data, size, SIZE_MAX);
        /* fgets() with a PROC_MOUNTINFO_LINE_MAX buffer: lines, longer ones in pieces */
        for (char *p = buf; *p;) {
                char line[PROC_MOUNTINFO_LINE_MAX], root[64], mnt[1024];
                size_t n = strcspn(p, "\n");
                if (p[n] == '\n')
                        n++;
                if (n > sizeof(line) - 1)
                        n = sizeof(line) - 1;
                memcpy(line, p, n);
                line[n] = 0;
                p += n;
                for (int v1 = 0; v1 < 2; v1++)
                        if (proc_mountinfo_cgroup(line, v1 ? "cpu" : NULL, root, sizeof(root), mnt, sizeof(mnt)) == 0)
                                FUZZ_ASSERT(strlen(root) < sizeof(root) && strlen(mnt) < sizeof(mnt));
        }
}

static void integer(const uint8_t *data, size_t size) {
        _cleanup_free_ char *buf = as_read(data, size, 64);
        int64_t v;
        int r = proc_i64_parse(buf, &v);
        FUZZ_ASSERT(r == 0 || r == -EBADMSG);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const struct {
                char letter;
                void (*parse)(const uint8_t *data, size_t size);
        } files[] = {
                { 'c', cgroup }, { 's', status }, { 't', stat_file }, { 'l', limits },
                { 'k', children }, { 'm', mountinfo }, { 'i', integer },
        };
        for (size_t i = 0; size > 0 && i < ELEMENTSOF(files); i++)
                if (data[0] == files[i].letter)
                        files[i].parse(data + 1, size - 1);
        return 0;
}
