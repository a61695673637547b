/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-reply-stack - what a request's error said leaves no copy in the
 * broker's dead stack frames once it is answered (broker-reply.c): the
 * message request_reply_error() formats, and the "target refused: ..."
 * reason audit_outcome() puts together for a refusal found while acting.
 * The stack below the caller is zeroed first, the request answered through
 * a frame that keeps the answering frames below the scan's own, then every
 * byte down to there is searched for the marker the message carried (the
 * decision's line on stderr, written when no journal takes it, included); a
 * copy left on purpose is the control that the search finds one.
 */
#include <errno.h>
#include <string.h>

#include "broker-op.h"
#include "broker.h"
#include "tap.h"

#define MARKER "Xstack-3e8d2b"
#define DEPTH (64 * 1024) /* the stack searched below the caller: the answer's frames are well within */

static bool answered;

static void on_reply(request *req, const reply_info *r) {
        (void) req;
        answered = !r->ok && r->error && strstr(r->error->message, MARKER);
}

static const request_origin origin = { .reply = on_reply };
static const op_desc desc = { .name = "test.op" };
static const broker_op bop = { .op = &desc };
static broker b = {};

/* zero the DEPTH bytes of stack below the caller (and make sure they are mapped) */
static __attribute__((noinline)) void stack_clear(void) {
        volatile char area[DEPTH];
        memset((char *) area, 0, sizeof(area));
        __asm__ volatile("" : : "r"(area) : "memory");
}

/* how many times the marker is in the stack below the caller's frame; reads dead frames on purpose
 * (outside any object: gcc's -Warray-bounds, at -O3, says so) */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Warray-bounds"
static __attribute__((noinline, no_sanitize("address"))) size_t stack_hits(void) {
        volatile char here = 0;
        const volatile char *top = &here - 256, *p = top - DEPTH + 512;
        size_t hits = 0, m = strlen(MARKER);
        for (; p + m < top; p++) {
                size_t i = 0;
                while (i < m && p[i] == MARKER[i])
                        i++;
                hits += i == m;
        }
        return hits;
}
#pragma GCC diagnostic pop

/* the answering frames lie below this one's padding, which the scan's own frame then takes */
static __attribute__((noinline)) void answer_error(void) {
        volatile char pad[2048];
        pad[0] = 0;
        __asm__ volatile("" : : "r"(pad) : "memory");
        request *req = request_new(&b, &origin);
        if (!req)
                return;
        request_reply_error(req, ERR_BAD_REQUEST, EINVAL, NULL, "argument %s is wrong", "\"" MARKER "\"");
}

static __attribute__((noinline)) void answer_refused(void) {
        volatile char pad[2048];
        pad[0] = 0;
        __asm__ volatile("" : : "r"(pad) : "memory");
        request *req = request_new(&b, &origin);
        op_error *e = calloc(1, sizeof(*e)); /* not on the stack: only the broker's copies are searched */
        if (!req || !e)
                return free(e);
        req->bop = &bop;
        req->decided = req->allowed = true;
        e->code = ERR_DENIED;
        e->errno_value = EPERM;
        snprintf(e->message, sizeof(e->message), "the kernel says no to %s", MARKER);
        request_fail(req, e);
        explicit_bzero(e, sizeof(*e));
        free(e);
}

/* the control: a copy of the marker that a frame leaves behind */
static __attribute__((noinline)) void control_copy(void) {
        volatile char pad[2048];
        pad[0] = 0;
        char copy[64];
        snprintf(copy, sizeof(copy), "%s", MARKER);
        __asm__ volatile("" : : "r"(pad), "r"(copy) : "memory");
}

int main(void) {
        /* with no journal here, each answer's decision record falls back to a line on stderr
         * (broker-log.c), which is searched for too: stdio's unbuffered fprintf() would leave the
         * line in a stack buffer of the C library's */
        stack_clear();
        tap_is_int(stack_hits(), 0, "the stack below starts without the marker");

        answered = false;
        stack_clear();
        answer_error();
        tap_ok(answered, "request_reply_error(): the answer carries the message with the marker");
        tap_is_int(stack_hits(), 0, "  and its formatted message is erased from the stack once answered");

        answered = false;
        stack_clear();
        answer_refused();
        tap_ok(answered, "a refusal found while acting is answered with the marker");
        tap_is_int(stack_hits(), 0, "  and the audit's \"target refused\" reason is erased from the stack");

        /* the control: a copy left on the stack is found */
        stack_clear();
        control_copy();
        tap_ok(stack_hits() > 0, "control: a copy left in a dead frame is found");
        request_free_all(&b);
        return tap_done();
}
