/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * erase-check.c - an LD_PRELOAD test allocator hook that proves request
 * and secret buffers are erased (tests/functional/test-foundation.c,
 * scenario erase-request-buffers).
 *
 * In a process named in DELEGATE_ERASE_ONLY (comma-separated short
 * program names; all processes when unset), every block handed to free(),
 * and the old block of a realloc() that moves it, is scanned for the
 * marker string DELEGATE_ERASE_MARKER before it goes back to the real
 * allocator (its size from malloc_usable_size()).  A block still holding
 * the marker is a finding: one line "FREED pid size offset context" and a
 * backtrace are appended to DELEGATE_ERASE_REPORT.
 *
 * SIGUSR2 scans every private writable mapping except the stacks (dead
 * frames: the main thread's, and the other threads' found by their stack
 * pointers in /proc/self/task/TID/syscall) (heap,
 * anonymous mmaps such as the broker's receive buffer) for the marker and
 * appends "LIVE address context" per occurrence, then "SCAN-DONE pid N"
 * with the count: with no session open, no request content may remain.
 *
 * Only async-signal-safe calls and no allocation in the hooks, so the
 * hooks never recurse into themselves.
 */
#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static void (*real_free)(void *);
static void *(*real_realloc)(void *, size_t);
static const char *marker; /* points into the environment, on the stack */

/* The stack pointers of the process's other threads, blocked in a system call (/proc/self/task/TID/syscall
 * ends with the stack and instruction pointers); with only system calls, for the signal handler. */
static size_t thread_stack_pointers(unsigned long *sps, size_t max) {
        char dents[4096];
        size_t n = 0;
        int dfd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        long k;
        while (dfd >= 0 && (k = syscall(SYS_getdents64, dfd, dents, sizeof(dents))) > 0)
                for (long off = 0; off < k;) {
                        struct linux_dirent64 {
                                unsigned long long d_ino;
                                long long d_off;
                                unsigned short d_reclen;
                                unsigned char d_type;
                                char d_name[];
                        } *d = (void *) (dents + off);
                        off += d->d_reclen;
                        if (d->d_name[0] == '.' || atoi(d->d_name) == (int) syscall(SYS_gettid) || n == max)
                                continue;
                        char path[64], text[512];
                        snprintf(path, sizeof(path), "/proc/self/task/%s/syscall", d->d_name);
                        int fd = open(path, O_RDONLY | O_CLOEXEC);
                        ssize_t r = fd >= 0 ? read(fd, text, sizeof(text) - 1) : -1;
                        if (fd >= 0)
                                close(fd);
                        if (r <= 0)
                                continue;
                        text[r] = 0;
                        /* "NR a1 ... a6 SP PC": the second last field */
                        char *last = strrchr(text, ' ');
                        if (!last)
                                continue;
                        *last = 0;
                        char *sp = strrchr(text, ' ');
                        if (sp)
                                sps[n++] = strtoul(sp + 1, NULL, 16);
                }
        if (dfd >= 0)
                close(dfd);
        return n;
}
static size_t marker_len;
static const char *report;
static bool active;
static __thread bool busy;

static void say(const char *line, size_t n) {
        int fd = open(report, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0)
                return;
        (void) !write(fd, line, n);
        close(fd);
}

/* "context": up to 40 bytes from the match, non-printables as '.' */
static size_t context(char *dst, const unsigned char *p, size_t avail) {
        size_t n = avail < 40 ? avail : 40;
        for (size_t i = 0; i < n; i++)
                dst[i] = p[i] >= 0x20 && p[i] < 0x7f ? (char) p[i] : '.';
        return n;
}

static void finding(const char *what, const void *block, size_t size, size_t off) {
        char line[256], ctx[48];
        size_t c = context(ctx, (const unsigned char *) block + off, size - off);
        int n = snprintf(line, sizeof(line), "%s pid %d %s size %zu offset %zu: %.*s\n", what, (int) getpid(),
                         program_invocation_short_name, size, off, (int) c, ctx);
        say(line, (size_t) n);
        void *bt[32];
        int k = backtrace(bt, 32);
        int fd = open(report, O_WRONLY | O_APPEND | O_CLOEXEC);
        if (fd >= 0) {
                backtrace_symbols_fd(bt, k, fd);
                close(fd);
        }
}

static void scan_block(const char *what, void *p) {
        if (!p || !active || busy)
                return;
        busy = true;
        size_t size = malloc_usable_size(p);
        const char *hit = memmem(p, size, marker, marker_len);
        if (hit)
                finding(what, p, size, (size_t) (hit - (const char *) p));
        busy = false;
}

void free(void *p) {
        if (!real_free)
                real_free = (void (*)(void *)) dlsym(RTLD_NEXT, "free");
        scan_block("FREED", p);
        real_free(p);
}

void *realloc(void *p, size_t n) {
        if (!real_realloc)
                real_realloc = (void *(*) (void *, size_t)) dlsym(RTLD_NEXT, "realloc");
        if (!p || !active)
                return real_realloc(p, n);
        size_t old = malloc_usable_size(p);
        const char *hit = memmem(p, old, marker, marker_len);
        size_t off = hit ? (size_t) (hit - (const char *) p) : 0;
        char saved[48];
        size_t c = hit ? context(saved, (const unsigned char *) hit, old - off) : 0;
        void *q = real_realloc(p, n);
        if (hit && q && q != p && !busy) {
                /* the old block went back to malloc with the marker in it */
                busy = true;
                char line[256];
                int k = snprintf(line, sizeof(line), "REALLOC-MOVED pid %d %s size %zu offset %zu: %.*s\n",
                                 (int) getpid(), program_invocation_short_name, old, off, (int) c, saved);
                say(line, (size_t) k);
                busy = false;
        }
        return q;
}

void *reallocarray(void *p, size_t n, size_t size) {
        if (size && n > (size_t) -1 / size) {
                errno = ENOMEM;
                return NULL;
        }
        return realloc(p, n * size);
}

static unsigned long hex(const char **s) {
        unsigned long v = 0;
        for (;; (*s)++) {
                char c = **s;
                int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
                if (d < 0)
                        return v;
                v = v * 16 + (unsigned long) d;
        }
}

static void on_scan(int sig) {
        int saved = errno;
        unsigned found = 0;
        int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
        static char maps[1 << 16];
        size_t len = 0;
        ssize_t k;
        while (fd >= 0 && len < sizeof(maps) - 1 && (k = read(fd, maps + len, sizeof(maps) - 1 - len)) > 0)
                len += (size_t) k;
        if (fd >= 0)
                close(fd);
        maps[len] = 0;
        unsigned long sps[16];
        size_t n_sps = thread_stack_pointers(sps, 16);
        for (char *l = maps; l && *l;) {
                char *nl = strchr(l, '\n');
                if (nl)
                        *nl = 0;
                const char *s = l;
                unsigned long lo = hex(&s);
                s++;
                unsigned long hi = hex(&s);
                s++;
                bool rw = s[0] == 'r' && s[1] == 'w' && s[3] == 'p';
                /* the stack holds the environment (the marker itself) and dead frames; so do the stacks of
                 * the other threads (the broker's client loops), anonymous mappings found by their threads'
                 * stack pointers */
                bool thread_stack = false;
                for (size_t i = 0; i < n_sps; i++)
                        thread_stack |= sps[i] >= lo && sps[i] < hi;
                if (rw && !thread_stack && !strstr(l, "[stack]") && !strstr(l, "[vvar]") && !strstr(l, "[vsyscall]")) {
                        const char *p = (const char *) lo, *end = (const char *) hi;
                        while (p < end) {
                                const char *hit = memmem(p, (size_t) (end - p), marker, marker_len);
                                if (!hit)
                                        break;
                                /* skip the scanner's own copy of the maps text */
                                if (hit < maps || hit >= maps + sizeof(maps)) {
                                        char line[256], ctx[48];
                                        size_t c = context(ctx, (const unsigned char *) hit,
                                                           (size_t) (end - hit));
                                        int n = snprintf(line, sizeof(line), "LIVE pid %d %s at %p: %.*s\n",
                                                         (int) getpid(), program_invocation_short_name,
                                                         (const void *) hit, (int) c, ctx);
                                        say(line, (size_t) n);
                                        found++;
                                }
                                p = hit + 1;
                        }
                }
                l = nl ? nl + 1 : NULL;
        }
        char line[64];
        int n = snprintf(line, sizeof(line), "SCAN-DONE pid %d %u\n", (int) getpid(), found);
        say(line, (size_t) n);
        errno = saved;
}

__attribute__((constructor)) static void init(void) {
        marker = getenv("DELEGATE_ERASE_MARKER");
        report = getenv("DELEGATE_ERASE_REPORT");
        const char *only = getenv("DELEGATE_ERASE_ONLY");
        if (!marker || !*marker || !report)
                return;
        marker_len = strlen(marker);
        if (only) {
                size_t n = strlen(program_invocation_short_name);
                const char *p = only;
                bool match = false;
                while (*p && !match) {
                        size_t k = strcspn(p, ",");
                        match = k == n && !strncmp(p, program_invocation_short_name, n);
                        p += k + (p[k] == ',');
                }
                if (!match)
                        return;
        }
        /* load libgcc's unwinder now, not inside a hook */
        void *bt[1];
        backtrace(bt, 1);
        struct sigaction sa = { .sa_handler = on_scan, .sa_flags = SA_RESTART };
        sigaction(SIGUSR2, &sa, NULL);
        active = true;
}
