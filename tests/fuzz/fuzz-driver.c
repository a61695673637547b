/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-driver.c - main() for fuzz targets built without libFuzzer: feeds
 * every file named on the command line, and every regular file of every
 * directory named (sorted, not recursive), to LLVMFuzzerTestOneInput()
 * once, and speaks TAP.  A crash or abort fails the test; so does an
 * argument that cannot be read or a directory without inputs.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

static unsigned n_tests;

static int run_file(int dfd, const char *name, const char *shown) {
        int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0) {
                printf("not ok %u - %s: %s\n", ++n_tests, shown, strerror(errno));
                if (fd >= 0)
                        close(fd);
                return -1;
        }
        size_t size = (size_t) st.st_size;
        /* an exact-size heap copy, so that ASan sees reads past the input */
        uint8_t *buf = malloc(size ? size : 1);
        size_t got = 0;
        while (buf && got < size) {
                ssize_t k = read(fd, buf + got, size - got);
                if (k <= 0)
                        break;
                got += (size_t) k;
        }
        close(fd);
        if (!buf || got != size) {
                printf("not ok %u - %s: short read\n", ++n_tests, shown);
                free(buf);
                return -1;
        }
        fflush(stdout);
        LLVMFuzzerTestOneInput(buf, size);
        free(buf);
        printf("ok %u - %s (%zu bytes)\n", ++n_tests, shown, size);
        return 0;
}

static int cmp(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static int run_dir(const char *path) {
        DIR *d = opendir(path);
        if (!d) {
                printf("not ok %u - %s: %s\n", ++n_tests, path, strerror(errno));
                return -1;
        }
        char **names = NULL;
        size_t n = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                char **nn = realloc(names, (n + 1) * sizeof(*names));
                if (!nn)
                        abort();
                names = nn;
                if (!(names[n++] = strdup(de->d_name)))
                        abort();
        }
        qsort(names, n, sizeof(*names), cmp);
        int ret = n > 0 ? 0 : -1;
        if (n == 0)
                printf("not ok %u - %s: no inputs\n", ++n_tests, path);
        for (size_t i = 0; i < n; i++) {
                char shown[4096];
                snprintf(shown, sizeof(shown), "%s/%s", path, names[i]);
                if (run_file(dirfd(d), names[i], shown) < 0)
                        ret = -1;
                free(names[i]);
        }
        free(names);
        closedir(d);
        return ret;
}

int main(int argc, char **argv) {
        int ret = 0;
        if (argc < 2) {
                fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
                return 2;
        }
        for (int i = 1; i < argc; i++) {
                struct stat st;
                if (argv[i][0] == '-')
                        continue; /* libFuzzer flags: ignored here */
                if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
                        ret |= run_dir(argv[i]) < 0;
                else
                        ret |= run_file(AT_FDCWD, argv[i], argv[i]) < 0;
        }
        printf("1..%u\n", n_tests);
        return ret;
}
