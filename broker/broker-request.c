/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-request.c - from datagram to decision: parse, handshake, validate,
 * ask policy, audit, dispatch to the operation; and the socket's replies
 * (a request's life and its answer: broker-reply.c, below the operations).
 *
 * A client's mistake is always an error reply on its own connection,
 * never a crash and never anybody else's problem.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>

#include "broker-frame.h"
#include "broker-op.h"
#include "broker.h"
#include "config.h"

/* @src into @dst of @size bytes, cut to fit and terminated (snprintf's "%s" without its formatting) */
static void copy_str(char *dst, size_t size, const char *src) {
        size_t n = strnlen(src, size - 1);
        memcpy(dst, src, n);
        dst[n] = 0;
}

static char *gen_error_retry(bool has_id, uint64_t id, err_code code, int errno_value, const char *rule,
                             const char *msg, uint64_t retry_after_ms, size_t *ret_len) {
        _cleanup_json_gen_ json_gen *g = json_gen_new();
        char *out = NULL;
        if (!g)
                return NULL;
        json_gen_map_open(g);
        if (!has_id) {
                json_gen_str(g, "id");
                json_gen_null(g);
        } else
                json_gen_kv_u64(g, "id", id);
        json_gen_kv_bool(g, "ok", false);
        json_gen_str(g, "error");
        json_gen_map_open(g);
        json_gen_kv_str(g, "code", err_code_name(code));
        json_gen_kv_i64(g, "errno", errno_value);
        json_gen_kv_str(g, "message", msg);
        if (rule)
                json_gen_kv_str(g, "rule", rule);
        if (retry_after_ms)
                json_gen_kv_u64(g, "retry_after_ms", retry_after_ms);
        json_gen_map_close(g);
        json_gen_map_close(g);
        if (json_gen_take(g, &out, ret_len) < 0)
                return NULL;
        return out;
}

static char *gen_error(bool has_id, uint64_t id, err_code code, int errno_value, const char *rule, const char *msg,
                       size_t *ret_len) {
        return gen_error_retry(has_id, id, code, errno_value, rule, msg, 0, ret_len);
}

/*
 * @c is over its request rate: answer the message in @buf without acting,
 * with its id when it has a usable one.  Not remembered for retries.
 */
static void reply_rate_limited(client *c, const char *buf, size_t len, uint64_t retry_ms) {
        _cleanup_json_ json_value *m = NULL;
        json_parse_error je;
        uint64_t id = 0;
        bool has_id = false;
        char msg[256], *out;
        size_t out_len;
        if (json_parse(buf, len, false, &m, &je) == 0 && m->type == JSON_OBJECT) {
                const json_value *idv = json_get(m, "id");
                has_id = idv && json_to_u64(idv, &id) == 0 && id <= FRAME_MAX_ID;
        }
        snprintf(msg, sizeof(msg),
                 "more than %u requests per second (burst %u) from pid %d; not carried out, retry after %" PRIu64
                 " ms",
                 c->b->limits.rate, c->b->limits.burst, (int) c->ns_pid, retry_ms);
        out = gen_error_retry(has_id, id, ERR_RATE_LIMITED, EAGAIN, NULL, msg, retry_ms, &out_len);
        if (out)
                client_send(c, out, out_len, NULL, 0);
}

void client_reply_error_noid(client *c, err_code code, int errno_value, const char *fmt, ...) {
        char msg[512];
        size_t len;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        char *out = gen_error(false, 0, code, errno_value, NULL, msg, &len);
        if (out)
                client_send(c, out, len, NULL, 0);
}

static void refuse(client *c, err_code code, int errno_value, uint64_t retry_ms, const char *msg);

/* Handshake-phase error: {"type":"error",...}; the connection then closes. */
void client_refuse(client *c, err_code code, const char *fmt, ...) {
        char msg[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        refuse(c, code, 0, 0, msg);
}

/* The same with an errno and "retry_after_ms". */
void client_refuse_retry(client *c, err_code code, int errno_value, uint64_t retry_ms, const char *fmt, ...) {
        char msg[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        refuse(c, code, errno_value, retry_ms, msg);
}

static void refuse(client *c, err_code code, int errno_value, uint64_t retry_ms, const char *msg) {
        _cleanup_json_gen_ json_gen *g = json_gen_new();
        char *out;
        size_t len;
        log_burst_msg(c->b, &c->b->log_hello, LOG_NOTICE, "session %llu (pid %d, uid %u): handshake refused: %s",
                      (unsigned long long) c->session, (int) c->cred.pid, (unsigned) c->cred.uid, msg);
        c->closing = true;
        if (!g)
                return client_flush(c); /* nothing to send: closes now */
        json_gen_map_open(g);
        json_gen_kv_str(g, "type", "error");
        json_gen_kv_str(g, "code", err_code_name(code));
        if (errno_value)
                json_gen_kv_i64(g, "errno", errno_value);
        if (retry_ms)
                json_gen_kv_u64(g, "retry_after_ms", retry_ms);
        json_gen_kv_str(g, "message", msg);
        json_gen_map_close(g);
        if (json_gen_take(g, &out, &len) == 0)
                client_send(c, out, len, NULL, 0); /* closes once sent */
        else
                client_flush(c); /* nothing to send: closes now */
}

/*
 * The socket origin: the answer goes to the client, and into its cache.
 * The cache's answers are copied into the session's state file as they
 * are (broker-state-save.c), between its frame's lines: each must be one
 * valid JSON object on one line (no raw newline, valid UTF-8, its
 * strings escaped).  gen_error() escapes the message; a result must be
 * such an object itself (request_reply_result()).  Answers with fds or a
 * secret (req->reply_unsaved) are cached but never written to the file.
 */
static void socket_reply(request *req, const reply_info *r) {
        outmsg *m;
        if (!req->c) /* the client left meanwhile */
                return;
        if (r->ok) {
                /* {"id":ID,"ok":true,"result":RESULT}, put together without printf, in the message itself */
                static const char head[] = "{\"id\":", mid[] = ",\"ok\":true,\"result\":";
                size_t rlen = strlen(r->result_json), len = 0;
                m = outmsg_new(sizeof(head) - 1 + JSON_U64_MAX + sizeof(mid) - 1 + rlen + 1);
                if (!m)
                        return;
                memcpy(m->buf, head, sizeof(head) - 1);
                len += sizeof(head) - 1;
                len += json_format_u64(m->buf + len, req->id);
                memcpy(m->buf + len, mid, sizeof(mid) - 1);
                len += sizeof(mid) - 1;
                memcpy(m->buf + len, r->result_json, rlen);
                len += rlen;
                m->buf[len++] = '}';
                m->buf[len] = 0;
                m->len = len; /* the id's digits took what they needed of JSON_U64_MAX */
        } else {
                const op_error *e = r->error;
                size_t len;
                char *buf = gen_error(true, req->id, e->code, e->errno_value, e->rule[0] ? e->rule : NULL, e->message,
                                      &len);
                if (!buf)
                        return;
                client_cache_store(req->c, req->id, buf, len, r->n_fds > 0 || req->reply_unsaved);
                return client_send(req->c, buf, len, r->fds, r->n_fds);
        }
        client_cache_store(req->c, req->id, m->buf, m->len, r->n_fds > 0 || req->reply_unsaved);
        /* what a delegation changed is on disk before the client hears of it */
        if (r->ok && req->counted && req->c->state_dirty)
                state_save(req->c);
        client_send_msg(req->c, m, r->fds, r->n_fds);
}

static const request_origin socket_origin = { .reply = socket_reply, .saves_state = true };

void request_dispatch(request *req) {
        request_dispatch_act(req, NULL);
}

void request_dispatch_act(request *req, void (*act)(request *req, void *args, const policy_decision *d)) {
        const broker_op *bop = broker_op_lookup(req->op);
        char msg[512];
        if (!bop) {
                const op_desc *o = op_lookup(req->op);
                if (o && !(o->flags & OP_BUS_ONLY))
                        return request_reply_error(req, ERR_UNSUPPORTED, EOPNOTSUPP, NULL,
                                                   "operation '%s' is not implemented by this broker", req->op);
                return request_reply_error(req, ERR_BAD_REQUEST, EOPNOTSUPP, NULL,
                                           "unknown operation '%.64s' (API %d knows: %s)", req->op,
                                           DELEGATE_API_VERSION, op_names());
        }
        const op_desc *o = bop->op;
        if (req->n_fds > 0 && !(o->flags & OP_TAKES_FDS)) {
                /* closed before the answer leaves, so the client never sees them still held */
                size_t n = req->n_fds, k;
                char takers[256] = "";
                const broker_op *const *all = broker_op_registry(&k);
                close_fds(req->fds, req->n_fds);
                req->n_fds = 0;
                for (size_t i = 0; i < k; i++)
                        if (all[i]->op->flags & OP_TAKES_FDS)
                                snprintf(takers + strlen(takers), sizeof(takers) - strlen(takers), "%s%s",
                                         takers[0] ? ", " : "", all[i]->op->name);
                return request_reply_error(req, ERR_BAD_REQUEST, EBADF, NULL,
                                           "operation '%.64s' accepts no file descriptors (only %s take one); the %zu "
                                           "received were closed",
                                           req->op, takers, n);
        }
        req->bop = bop;
        if (bop->scratch_size && !(req->scratch = calloc(1, bop->scratch_size)))
                return request_reply_error(req, ERR_SYSTEM, ENOMEM, NULL, "out of memory");
        if (bop->request_init)
                bop->request_init(req);
        int r = op_args_parse(o, req->args, &req->op_args, msg, sizeof(msg));
        if (r == -ENOMEM)
                return request_reply_error(req, ERR_SYSTEM, ENOMEM, NULL, "out of memory");
        if (r < 0)
                return request_reply_error(req, ERR_BAD_REQUEST, EINVAL, NULL, "%s", msg);

        policy_subject subj = caller_subject(&req->who);
        policy_decision d;
        policy_decide_parsed(req->b->policy, &subj, o, req->op_args, &d, NULL, NULL);
        /* decided once: audited and counted with the answer (audit_outcome()) */
        req->decided = true;
        req->allowed = d.allowed;
        req->counted = o->needs_policy; /* delegations, not pings */
        copy_str(req->reason, sizeof(req->reason), d.reason);
        if (d.rule)
                copy_str(req->rule, sizeof(req->rule), d.rule->name);
        if (!d.allowed)
                return request_reply_error(req, ERR_DENIED, EPERM, d.rule ? d.rule->name : "(default deny)", "%s: %s",
                                           req->op, d.reason);
        (act ? act : bop->act)(req, req->op_args, &d);
}

static void handle_hello(client *c, const json_value *m) {
        hello_frame h;
        err_code code;
        char msg[512];
        if (hello_frame_parse(m, &h, &code, msg, sizeof(msg)) < 0)
                return client_refuse(c, code, "%s", msg);
        const json_value *resume = h.resume;
        if ((h.client && !(c->name = strdup(h.client))) || (h.vm && !(c->vm = strdup(h.vm))))
                return client_refuse(c, ERR_SYSTEM, "out of memory");
        if (resume) {
                uint64_t fresh = c->session;
                if (state_resume(c, resume, &code, msg, sizeof(msg)) < 0) {
                        log_msg(c->b, LOG_NOTICE, "pid %d: %s", (int) c->cred.pid, msg);
                        return client_refuse(c, code, "%s", msg);
                }
                log_msg(c->b, LOG_NOTICE, "session %llu resumed by pid %d (connection %llu)",
                        (unsigned long long) c->session, (int) c->cred.pid, (unsigned long long) fresh);
        } else {
                unsigned fails = 0;
                uint64_t wait_ms = limits_backoff_ms(c, &fails);
                if (wait_ms > 0)
                        return client_refuse_retry(c, ERR_RATE_LIMITED, EAGAIN, wait_ms,
                                                   "the last %u sessions of uid %u in cgroup '%s' failed within 10 s "
                                                   "of their start (a crash loop?); back-off: retry in %" PRIu64 " ms",
                                                   fails, (unsigned) c->cred.uid, c->cgroup, wait_ms);
                if (state_token_new(c) < 0)
                        return client_refuse(c, ERR_SYSTEM, "no random bytes for a session token");
        }
        c->welcomed = true;
        c->begin_pending = !resume; /* a resumed session's VM runs already: its memlock was set long ago */
        if (resume)
                state_save(c); /* the file is this session's now; others are saved once they hold something */
        limits_client_welcomed(c);

        _cleanup_json_gen_ json_gen *g = json_gen_new();
        char *out;
        size_t len;
        if (!g)
                return;
        json_gen_map_open(g);
        json_gen_kv_str(g, "type", "welcome");
        json_gen_kv_i64(g, "api", DELEGATE_API_VERSION);
        json_gen_kv_str(g, "broker", DELEGATE_VERSION);
        json_gen_kv_u64(g, "session", c->session);
        json_gen_kv_i64(g, "pid", c->ns_pid);
        json_gen_kv_u64(g, "uid", c->cred.uid);
        json_gen_kv_u64(g, "gid", c->cred.gid);
        json_gen_kv_str(g, "cgroup", c->cgroup);
        json_gen_kv_u64(g, "policy_generation", c->b->policy_generation);
        json_gen_kv_str(g, "resume_token", c->token);
        json_gen_kv_bool(g, "resumed", resume != NULL);
        json_gen_map_close(g);
        if (json_gen_take(g, &out, &len) == 0)
                client_send(c, out, len, NULL, 0);
        audit_session_opened(c);
}

void client_handle_message(client *c, char *buf, size_t len, int *fds, size_t n_fds) {
        _cleanup_json_ json_value *m = NULL;

        uint64_t retry_ms;
        if (c->welcomed && !limits_rate_take(c, &retry_ms))
                return reply_rate_limited(c, buf, len, retry_ms);
        if (!c->welcomed && n_fds > 0) {
                close_fds(fds, n_fds);
                return client_refuse(c, ERR_BAD_REQUEST, "the hello carried %zu file descriptor(s); a hello takes "
                                     "none (they were closed)", n_fds);
        }
        char msg[512];
        if (frame_parse(buf, len, !c->welcomed, &m, msg, sizeof(msg)) < 0) {
                if (!c->welcomed)
                        return client_refuse(c, ERR_BAD_REQUEST, "%s", msg);
                return client_reply_error_noid(c, ERR_BAD_REQUEST, EINVAL, "%s", msg);
        }
        if (!c->welcomed)
                return handle_hello(c, m);

        uint64_t id;
        if (request_id_parse(m, &id, msg, sizeof(msg)) < 0)
                return client_reply_error_noid(c, ERR_BAD_REQUEST, EINVAL, "%s", msg);

        /* a retried id gets the first answer again, and nothing is redone */
        const cached_reply *cached = client_cache_find(c, id);
        if (cached) {
                char *copy = strndup(cached->buf, cached->len);
                if (copy)
                        client_send(c, copy, cached->len, NULL, 0);
                return;
        }
        for (request *p = c->pending; p; p = p->next)
                if (p->id == id) {
                        char *out = gen_error(true, id, ERR_BAD_REQUEST, EBUSY, NULL,
                                              "request id is already being processed", &len);
                        if (out)
                                client_send(c, out, len, NULL, 0);
                        return;
                }

        request *req = request_new(c->b, &socket_origin);
        if (!req || caller_from_client(&req->who, c) < 0) {
                request_free(req);
                return client_reply_error_noid(c, ERR_SYSTEM, ENOMEM, "out of memory");
        }
        req->id = id;
        req->c = c;
        for (size_t i = 0; i < n_fds; i++)
                req->fds[req->n_fds++] = TAKE_FD(fds[i]);
        req->peer = client_peer(c);
        req->has_peer = true;
        req->next = c->pending;
        c->pending = req;
        c->n_pending++;

        const char *op;
        const json_value *args;
        if (request_body_parse(m, &op, &args, msg, sizeof(msg)) < 0)
                return request_reply_error(req, ERR_BAD_REQUEST, EINVAL, NULL, "%s", msg);
        size_t op_len = strlen(op);
        if (op_len < sizeof(req->op_inline))
                req->op = memcpy(req->op_inline, op, op_len + 1); /* erased with the request */
        else if (!(req->op = strdup(op)))
                return request_reply_error(req, ERR_SYSTEM, ENOMEM, NULL, "out of memory");

        /* the request keeps the args: detach them from the message tree */
        for (size_t i = 0; args && i < m->object.n; i++)
                if (m->object.members[i].value == args)
                        m->object.members[i].value = NULL;
        req->args = (json_value *) args;
        request_dispatch(req);
}
