/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * unit-util.h - small helpers shared by the unit tests: giving up in TAP
 * terms, a private temporary directory, a file's contents, counting our
 * open fds.
 */
#pragma once

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* The test cannot go on (a setup step failed): "Bail out!" and exit 1. */
__attribute__((format(printf, 1, 2), noreturn)) static inline void unit_bail(const char *fmt, ...) {
        va_list ap;
        printf("Bail out! ");
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        printf("\n");
        fflush(stdout);
        exit(1);
}

/* Create "$TMPDIR/@name-XXXXXX" (/tmp without $TMPDIR) into @buf. */
static inline void unit_tmpdir(char *buf, size_t size, const char *name) {
        const char *t = getenv("TMPDIR");
        snprintf(buf, size, "%s/%s-XXXXXX", t && *t ? t : "/tmp", name);
        if (!mkdtemp(buf))
                unit_bail("mkdtemp %s: %m", buf);
}

/* @dir/@name's contents (at most 1 MiB, not empty), NUL-terminated, its length in *@ret_len; free() it. */
static inline char *unit_slurp(const char *dir, const char *name, size_t *ret_len) {
        char path[4200];
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        FILE *f = fopen(path, "re");
        if (!f)
                unit_bail("%s: %m", path);
        char *buf = calloc(1, 1 << 20);
        size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
        fclose(f);
        if (!buf || n == 0)
                unit_bail("%s: empty", path);
        *ret_len = n;
        return buf;
}

/* How many fds this process has open (from /proc/self/fd). */
static inline int unit_count_fds(void) {
        DIR *d = opendir("/proc/self/fd");
        int n = 0;
        if (!d)
                unit_bail("opendir /proc/self/fd: %m");
        for (struct dirent *de; (de = readdir(d));)
                if (de->d_name[0] != '.')
                        n++;
        closedir(d);
        return n - 1; /* the directory's own fd */
}
