/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tap.h - minimal TAP (Test Anything Protocol) output for meson's
 * protocol: 'tap'.  Shared by unit and functional tests.
 *
 *   tap_plan(3);
 *   tap_ok(x == 1, "x is one");
 *   tap_is_int(r, 0, "call succeeds");
 *   return tap_done();
 *
 * tap_skip_all("reason") prints "1..0 # SKIP reason" and exits 77.
 */
#pragma once

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* weak, so that every file of one test program shares the counters */
__attribute__((weak)) int tap_n_ = 0;
__attribute__((weak)) int tap_failed_ = 0;
__attribute__((weak)) int tap_planned_ = -1;

static inline void tap_plan(int n) {
        tap_planned_ = n;
        printf("1..%d\n", n);
        fflush(stdout);
}

/*
 * Prints @prefix and the text @fmt makes as one TAP line: a newline inside
 * it (a command's output, say) would end the line, and meson refuses what
 * follows as unknown TAP; @more ("# " for a diagnostic, NULL to join the
 * lines with a space) starts each further line instead.
 */
static inline void tap_line_(const char *prefix, const char *more, const char *fmt, va_list ap) {
        char *text = NULL;
        if (vasprintf(&text, fmt, ap) < 0)
                text = NULL;
        fputs(prefix, stdout);
        size_t len = text ? strlen(text) : 0;
        while (len > 0 && text[len - 1] == '\n')
                len--;
        for (size_t i = 0; i < len; i++) {
                if (text[i] != '\n')
                        putchar(text[i]);
                else if (more)
                        printf("\n%s", more);
                else
                        putchar(' ');
        }
        putchar('\n');
        fflush(stdout);
        free(text);
}

__attribute__((format(printf, 2, 3))) static inline int tap_ok(int cond, const char *fmt, ...) {
        va_list ap;
        char prefix[32];
        tap_n_++;
        if (!cond)
                tap_failed_++;
        snprintf(prefix, sizeof(prefix), "%s %d - ", cond ? "ok" : "not ok", tap_n_);
        va_start(ap, fmt);
        tap_line_(prefix, NULL, fmt, ap);
        va_end(ap);
        return cond;
}

__attribute__((format(printf, 1, 2))) static inline void tap_diag(const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        tap_line_("# ", "# ", fmt, ap);
        va_end(ap);
}

#define tap_is_int(got, want, ...)                                                                  \
        ({                                                                                          \
                long long g_ = (long long) (got), w_ = (long long) (want);                          \
                int ok_ = tap_ok(g_ == w_, __VA_ARGS__);                                            \
                if (!ok_)                                                                           \
                        tap_diag("  got %lld, want %lld", g_, w_);                                  \
                ok_;                                                                                \
        })

#define tap_is_str(got, want, ...)                                                                  \
        ({                                                                                          \
                const char *g_ = (got), *w_ = (want);                                               \
                int ok_ = tap_ok(g_ && w_ && strcmp(g_, w_) == 0, __VA_ARGS__);                     \
                if (!ok_)                                                                           \
                        tap_diag("  got '%s', want '%s'", g_ ? g_ : "(null)", w_ ? w_ : "(null)");  \
                ok_;                                                                                \
        })

/* Does @hay contain @needle?  Reports both on failure. */
#define tap_has_str(hay, needle, ...)                                                               \
        ({                                                                                          \
                const char *h_ = (hay), *n_ = (needle);                                             \
                int ok_ = tap_ok(h_ && n_ && strstr(h_, n_) != NULL, __VA_ARGS__);                  \
                if (!ok_)                                                                           \
                        tap_diag("  '%s' does not contain '%s'", h_ ? h_ : "(null)", n_);           \
                ok_;                                                                                \
        })

static inline __attribute__((noreturn)) void tap_skip_all(const char *reason) {
        printf("1..0 # SKIP %s\n", reason);
        fflush(stdout);
        exit(77);
}

static inline int tap_done(void) {
        if (tap_planned_ < 0)
                printf("1..%d\n", tap_n_);
        else if (tap_planned_ != tap_n_)
                printf("# planned %d tests, ran %d\n", tap_planned_, tap_n_);
        fflush(stdout);
        return tap_failed_ || (tap_planned_ >= 0 && tap_planned_ != tap_n_) ? 1 : 0;
}
