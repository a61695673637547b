/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * util.h - cleanup attributes and small helpers shared by every component.
 *
 * Part of the internal static library: never installed, never exported.
 */
#pragma once

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _noreturn_ __attribute__((noreturn))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

/* Hand ownership of a pointer on: returns it and leaves NULL behind. */
#define TAKE_PTR(p)                                                         \
        ({                                                                  \
                __typeof__(p) _ptr_ = (p);                                  \
                (p) = NULL;                                                 \
                _ptr_;                                                      \
        })

/* Hand ownership of an fd on: returns it and leaves -EBADF behind. */
#define TAKE_FD(fd)                                                         \
        ({                                                                  \
                int _fd_ = (fd);                                            \
                (fd) = -EBADF;                                              \
                _fd_;                                                       \
        })

static inline void freep(void *p) {
        free(*(void **) p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline int safe_close(int fd) {
        if (fd >= 0) {
                int saved = errno;
                close(fd);
                errno = saved;
        }
        return -EBADF;
}

static inline void closep(int *fd) {
        safe_close(*fd);
}
#define _cleanup_close_ _cleanup_(closep)

/* Erase then free a NUL-terminated string (request or secret content). */
static inline void erase_free(char *s) {
        if (!s)
                return;
        explicit_bzero(s, strlen(s));
        free(s);
}
static inline void erase_freep(char **s) {
        erase_free(*s);
}
#define _cleanup_erase_free_ _cleanup_(erase_freep)

static inline void closedirp(DIR **d) {
        if (*d)
                closedir(*d);
}

static inline void fclosep(FILE **f) {
        if (*f)
                fclose(*f);
}
#define _cleanup_fclose_ _cleanup_(fclosep)

static inline bool streq(const char *a, const char *b) {
        return strcmp(a, b) == 0;
}

static inline bool streq_ptr(const char *a, const char *b) {
        if (!a || !b)
                return a == b;
        return streq(a, b);
}

/* CLOCK_MONOTONIC, in nanoseconds and in microseconds. */
static inline uint64_t now_nsec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}
static inline uint64_t now_usec(void) {
        return now_nsec() / 1000;
}

/* Returns a negative errno from errno, never 0 (EIO when errno is unset). */
static inline int negative_errno(void) {
        return errno > 0 ? -errno : -EIO;
}

/* @n bytes as 2 * @n lowercase hex digits and a NUL in @out. */
static inline void hex_format(const uint8_t *in, size_t n, char *out) {
        static const char digits[] = "0123456789abcdef";
        for (size_t i = 0; i < n; i++) {
                out[2 * i] = digits[in[i] >> 4];
                out[2 * i + 1] = digits[in[i] & 15];
        }
        out[2 * n] = 0;
}

/* A secret: @n random bytes as hex in @out (2 * @n + 1 bytes); the raw bytes are erased. */
static inline int random_hex(size_t n, char *out) {
        uint8_t raw[64];
        if (n > sizeof(raw) || getrandom(raw, n, 0) != (ssize_t) n)
                return -EIO;
        hex_format(raw, n, out);
        explicit_bzero(raw, n);
        return 0;
}

/*
 * The reconnect back-off of the launcher, delegate-run and delegatectl
 * (delegate-launcher(1), delegatectl(1)): 100 ms, doubling up to 2 s.
 * Returns the wait after a wait of @delay_ms; the first one for 0.
 */
#define BACKOFF_FIRST_MS 100u
#define BACKOFF_MAX_MS 2000u
static inline unsigned backoff_next_ms(unsigned delay_ms) {
        if (delay_ms == 0)
                return BACKOFF_FIRST_MS;
        return delay_ms >= BACKOFF_MAX_MS / 2 ? BACKOFF_MAX_MS : delay_ms * 2;
}

/* Sleep @ms milliseconds (a signal may end it early). */
static inline void sleep_ms(unsigned ms) {
        struct timespec d = { ms / 1000, (long) (ms % 1000) * 1000000L };
        nanosleep(&d, NULL);
}
