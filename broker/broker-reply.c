/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-reply.c - a request's life below the operations: made, answered
 * exactly once through its origin (the socket's, in broker-request.c, or
 * D-Bus's), audited with its outcome, freed.  The operations end in
 * request_reply_result(), request_reply_error() or request_fail() here; it
 * calls nothing that dispatches (broker-request.c is above it).
 */
#include <sanitizer/asan_interface.h> /* ASAN_*_MEMORY_REGION: nothing unless built with ASan */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <syslog.h>

#include "broker-op.h"
#include "broker.h"

/*
 * A request is 2 KiB, most of it the reason and the helper's output, which
 * few requests fill: a freed request is erased where it was written (see
 * request_erase()), so that it is all zero again, and kept for the next
 * one (at most REQUEST_SPARE of them, under the broker lock like every
 * request) instead of calloc() clearing 2 KiB and free() returning it.
 * Under ASan a kept request is poisoned but for its link, so that a use
 * after request_free() is still reported as long as it is not reused.
 */
#define REQUEST_SPARE 8

request *request_new(broker *b, const request_origin *origin) {
        request *req = b->spare_requests;
        if (req) {
                ASAN_UNPOISON_MEMORY_REGION(req, sizeof(*req));
                b->spare_requests = req->next;
                b->n_spare_requests--;
                req->next = NULL;
        } else if (!(req = calloc(1, sizeof(*req))))
                return NULL;
        req->b = b;
        req->all_next = b->requests;
        if (b->requests)
                b->requests->all_prev = req;
        b->requests = req;
        req->origin = origin;
        req->helper_fd = -EBADF;
        req->own_pidfd = -EBADF;
        return req;
}

/*
 * Erase @req back to all zero, the bytes it used only: every field but the
 * two large buffers; the reason up to its end (only ever written by
 * appending a string to what is there: copy_str(), request_reason_append());
 * the helper's output only when a helper was asked (its length is reset
 * before the answer is read, so the whole buffer).
 */
static void request_erase(request *req) {
        const size_t r0 = offsetof(request, reason), r1 = r0 + sizeof(req->reason);
        const size_t h0 = offsetof(request, helper_out), h1 = h0 + sizeof(req->helper_out);
        bool helper = req->helper_done;
        char *p = (char *) req;
        explicit_bzero(req->reason, strnlen(req->reason, sizeof(req->reason)));
        if (helper)
                explicit_bzero(req->helper_out, sizeof(req->helper_out));
        _Static_assert(offsetof(request, reason) < offsetof(request, helper_out), "the ranges below are in order");
        explicit_bzero(p, r0);
        explicit_bzero(p + r1, h0 - r1);
        explicit_bzero(p + h1, sizeof(*req) - h1);
}

static void request_release(request *req) {
        broker *b = req->b;
        request_erase(req);
        if (b->n_spare_requests >= REQUEST_SPARE)
                return free(req);
        req->next = b->spare_requests;
        b->spare_requests = req;
        b->n_spare_requests++;
        ASAN_POISON_MEMORY_REGION(req, offsetof(request, next));
        ASAN_POISON_MEMORY_REGION((char *) req + offsetof(request, next) + sizeof(req->next),
                                  sizeof(*req) - offsetof(request, next) - sizeof(req->next));
}

/*
 * A request of a client's lives in its pending or acting list while the
 * client does, and the client's names do not change meanwhile (they are
 * set by its hello or its state file, before any request): the request
 * borrows them rather than copying three strings per request.
 */
int caller_from_client(caller *who, const client *c) {
        *who = (caller) { .uid = c->cred.uid, .gid = c->cred.gid, .pid = c->cred.pid, .session = c->session,
                          .borrowed = true, .cgroup = c->cgroup ? c->cgroup : (char *) "", .vm = c->vm,
                          .name = c->name };
        return 0;
}

int caller_own(caller *who) {
        if (!who->borrowed)
                return 0;
        char *cgroup = strdup(who->cgroup), *vm = who->vm ? strdup(who->vm) : NULL,
             *name = who->name ? strdup(who->name) : NULL;
        if (!cgroup || (who->vm && !vm) || (who->name && !name)) {
                erase_free(cgroup);
                erase_free(vm);
                erase_free(name);
                who->cgroup = (char *) ""; /* still borrowed: a constant, never freed */
                who->vm = who->name = NULL;
                return -ENOMEM;
        }
        who->borrowed = false;
        who->cgroup = cgroup;
        who->vm = vm;
        who->name = name;
        return 0;
}

/* The names came from a request (hello, bus caller): erased like it. */
void caller_clear(caller *who) {
        if (!who->borrowed) {
                erase_free(who->cgroup);
                erase_free(who->vm);
                erase_free(who->name);
        }
        *who = (caller) {};
}

policy_subject caller_subject(const caller *who) {
        return (policy_subject) { .uid = who->uid, .gid = who->gid, .cgroup = who->cgroup, .vm = who->vm,
                                  .via = who->via_bus       ? POLICY_VIA_DBUS
                                         : who->via_seccomp ? POLICY_VIA_SECCOMP
                                                            : POLICY_VIA_SOCKET };
}

/*
 * The audit line of a decided request, once, when its outcome is known: the
 * policy's decision, unless acting found the target refused (a denial, said
 * by @e with ERR_DENIED), or @e is NULL and the request ended unanswered.
 * Counted in the session (delegations only) at the same time.
 */
static void audit_outcome(request *req, const op_error *e) {
        char refused[512];
        const char *reason = req->reason;
        bool allowed = req->allowed;
        if (!req->decided || req->audited)
                return;
        req->audited = true;
        if (req->allowed && e && e->code == ERR_DENIED) {
                allowed = false;
                snprintf(refused, sizeof(refused), "target refused: %.400s", e->message);
                reason = refused;
        }
        /* decided: its operation was found.  A ping's record is written at debug level only (counted below) */
        if (log_decision_wanted(req->bop->op->quiet))
                audit_record(&req->who, req->bop->op, req->args, allowed, req->rule[0] ? req->rule : NULL, reason);
        if (reason == refused) /* it quoted what the operation found, from the request's own data */
                explicit_bzero(refused, sizeof(refused));
        if (req->c && req->counted) {
                req->c->n_allowed += allowed;
                req->c->n_denied += !allowed;
        }
        if (req->c && req->bop->op->quiet)
                req->c->n_quiet++;
}

static void request_reply(request *req, const reply_info *r) {
        /* for the crash-loop back-off; a program's refused syscall is not its launcher failing */
        if (!r->ok && req->c && r->error->code != ERR_RATE_LIMITED && !req->who.via_seccomp)
                req->c->failed = true;
        audit_outcome(req, r->ok ? NULL : r->error);
        /* what a delegation changed is on disk, counted, before the caller hears of it */
        if (r->ok && req->c && req->counted && req->c->state_dirty && !(req->origin && req->origin->saves_state))
                state_save(req->c);
        if (req->origin && req->origin->reply)
                req->origin->reply(req, r);
        request_free(req);
}

/*
 * @result_json must be one valid JSON object on one line (valid UTF-8, no
 * raw control character, strings escaped, no NaN): the socket's answer is
 * cached and copied as it is into the session's state file, whose framing
 * and parse rely on it (socket_reply()).  Hand-built results (printf,
 * memcpy) must hold to it as json_gen's do.
 */
void request_reply_result(request *req, const char *result_json, const int *fds, size_t n_fds) {
        reply_info r = { .ok = true, .result_json = result_json, .fds = fds, .n_fds = n_fds };
        request_reply(req, &r);
}

int request_reply_gen(request *req, json_gen *g, const int *fds, size_t n_fds) {
        _cleanup_erase_free_ char *res = NULL;
        int r = json_gen_take(g, &res, NULL);
        if (r < 0)
                request_reply_error(req, ERR_SYSTEM, -r, NULL, "cannot write the reply: %s", strerror(-r));
        else
                request_reply_result(req, res, fds, n_fds);
        return r;
}

void request_reply_error(request *req, err_code code, int errno_value, const char *rule, const char *fmt, ...) {
        op_error e = { .code = code, .errno_value = errno_value };
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e.message, sizeof(e.message), fmt, ap);
        va_end(ap);
        snprintf(e.rule, sizeof(e.rule), "%s", rule ? rule : "");
        request_fail(req, &e);
        explicit_bzero(&e, sizeof(e)); /* the message may quote the request */
}

void request_reason_append(request *req, const char *fmt, ...) {
        size_t l = strlen(req->reason);
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(req->reason + l, sizeof(req->reason) - l, fmt, ap);
        va_end(ap);
}

void request_fail(request *req, const op_error *e) {
        reply_info r = { .error = e };
        request_reply(req, &r);
}

static bool unlink_from(request **list, request *req) {
        for (request **p = list; *p; p = &(*p)->next)
                if (*p == req) {
                        *p = req->next;
                        return true;
                }
        return false;
}

void request_free(request *req) {
        if (!req)
                return;
        helper_cancel(req);
        if (req->all_prev)
                req->all_prev->all_next = req->all_next;
        else if (req->b->requests == req)
                req->b->requests = req->all_next;
        if (req->all_next)
                req->all_next->all_prev = req->all_prev;
        client *c = req->c;
        if (c) {
                if (unlink_from(&c->pending, req)) {
                        c->n_pending--;
                        if (!c->dead)
                                client_update_events(c); /* room again: resume reading */
                } else
                        unlink_from(&c->acting, req);
        }
        if (req->origin && req->origin->release)
                req->origin->release(req);
        audit_outcome(req, NULL); /* unanswered (the broker stops): it was allowed and under way */
        if (req->bop && req->bop->request_free && (req->scratch || !req->bop->scratch_size))
                req->bop->request_free(req);
        if (req->bop && req->scratch) {
                explicit_bzero(req->scratch, req->bop->scratch_size);
                free(req->scratch);
        }
        if (req->bop)
                op_args_free(req->bop->op, req->op_args);
        close_fds(req->fds, req->n_fds);
        safe_close(req->own_pidfd);
        free(req->own_cgroup);
        caller_clear(&req->who);
        if (req->op != req->op_inline)
                erase_free(req->op);
        json_free(req->args);
        request_release(req);
}

/* What the operation of @r borrowed from its client (the client's pidfd) becomes the request's own. */
static void request_detach(request *r) {
        if (r->bop && r->bop->request_detach && r->scratch)
                r->bop->request_detach(r);
}

/* @r keeps its caller's names, borrowed from @c until now */
static void request_own_names(request *r, client *c) {
        if (caller_own(&r->who) < 0)
                log_msg(c->b, LOG_WARNING,
                        "session %llu: out of memory: a request in flight loses its caller's cgroup, VM and client "
                        "names (its audit record names the session, pid and uid only)",
                        (unsigned long long) c->session);
}

void request_detach_all(client *c) {
        /* requests that borrowed the client's peer lose it with the client */
        for (request *r = c->pending; r; r = r->next) {
                request_own_names(r, c);
                request_detach(r);
                r->c = NULL;
                r->has_peer = false;
        }
        for (request *r = c->acting; r; r = r->next) {
                request_own_names(r, c);
                request_detach(r);
                r->c = NULL;
                if (r->own_pidfd < 0)
                        r->has_peer = false;
        }
        c->pending = c->acting = NULL;
        c->n_pending = 0;
}

void request_free_all(broker *b) {
        while (b->requests)
                request_free(b->requests);
        while (b->spare_requests) {
                request *req = b->spare_requests;
                b->spare_requests = req->next;
                ASAN_UNPOISON_MEMORY_REGION(req, sizeof(*req));
                free(req);
        }
        b->n_spare_requests = REQUEST_SPARE; /* the broker ends: a request freed after this is not kept */
}
