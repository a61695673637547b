/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-request-reuse - a freed request (broker-reply.c) is erased back to
 * all zero, its reason and its helper's output included, before it is kept
 * for the next request; no more than a few are kept, and the broker's end
 * frees them.  The request is filled the way the broker fills one: the
 * reason by appending, the helper's output by a helper whose length was
 * then reset (a timeout after a partial answer), the op name in the
 * request itself or allocated.
 */
#include <fcntl.h>
#include <sanitizer/asan_interface.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "broker.h"
#include "tap.h"

#define MARKER "Xreuse-5b1e"

static void done(request *req, int status, const void *out, size_t len) {
        (void) req, (void) status, (void) out, (void) len;
}

/* every byte of @req is zero (a kept request is poisoned under ASan: looked at here, on purpose) */
static bool all_zero(const request *req) {
        const unsigned char *p = (const unsigned char *) req;
        ASAN_UNPOISON_MEMORY_REGION(req, sizeof(*req));
        for (size_t i = 0; i < sizeof(*req); i++)
                if (p[i])
                        return false;
        return true;
}

int main(void) {
        broker b = {};
        request *req = request_new(&b, NULL);
        tap_ok(req && req->helper_fd == -EBADF && req->own_pidfd == -EBADF && b.requests == req,
               "a new request: no fds, listed");
        req->id = 42;
        snprintf(req->rule, sizeof(req->rule), "rule-" MARKER);
        request_reason_append(req, "allowed by " MARKER);
        request_reason_append(req, "; and then " MARKER);
        req->who.cgroup = strdup("/pod-" MARKER);
        req->op = strdup("op-" MARKER);
        req->helper_done = done;
        memset(req->helper_out, 0x5a, sizeof(req->helper_out));
        req->helper_len = 0;
        req->counted = req->allowed = req->audited = true;
        request *kept = req;
        request_free(req);
        tap_is_int(b.n_spare_requests, 1, "the freed request is kept");
        tap_ok(b.spare_requests == kept && all_zero(kept),
               "erased back to all zero: reason, rule, names and the helper's whole output");
        req = request_new(&b, NULL);
        tap_ok(req == kept, "the next request reuses it");
        tap_ok(req->reason[0] == 0 && req->rule[0] == 0 && req->id == 0 && !req->helper_done && !req->who.cgroup,
               "starting empty");
        tap_is_int(b.n_spare_requests, 0, "none kept meanwhile");

        request *many[20];
        for (size_t i = 0; i < 20; i++) {
                many[i] = request_new(&b, NULL);
                request_reason_append(many[i], "reason %zu " MARKER, i);
                /* a socket request's op name in the request itself, or allocated (a long one, the bus's) */
                many[i]->op = i % 2 ? strcpy(many[i]->op_inline, "op-" MARKER) : strdup("op-" MARKER);
        }
        for (size_t i = 0; i < 20; i++)
                request_free(many[i]);
        tap_ok(b.n_spare_requests > 0 && b.n_spare_requests <= 8, "at most 8 are kept (%u)", b.n_spare_requests);
        bool zero = true;
        for (request *r = b.spare_requests; r; r = r->next) {
                request *next = r->next;
                r->next = NULL; /* the list's own link */
                zero = zero && all_zero(r);
                r->next = next;
        }
        tap_ok(zero, "every kept one is erased");
#if defined(__SANITIZE_ADDRESS__) || (defined(__has_feature) && __has_feature(address_sanitizer))
        /* a kept request is poisoned: reading one after request_free() is reported, as a freed one would be */
        fflush(stdout);
        pid_t p = fork();
        if (p == 0) {
                int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
                dup2(null, 2);
                request *gone = request_new(&b, NULL);
                request_free(gone);
                _exit(*(volatile uint64_t *) &gone->id == 0 ? 0 : 3);
        }
        int st = 0;
        waitpid(p, &st, 0);
        tap_ok(WIFEXITED(st) && WEXITSTATUS(st) != 0 && WEXITSTATUS(st) != 3,
               "ASan reports a read of a request after request_free() (0x%x)", st);
#else
        printf("# not built with ASan: a read after request_free() is not checked\n");
#endif
        request_free_all(&b);
        tap_ok(!b.spare_requests && !b.requests, "the broker's end frees them all (the one in use too)");
        req = request_new(&b, NULL);
        request_free(req);
        tap_ok(!b.spare_requests, "a request freed after the end is not kept");
        return tap_done();
}
