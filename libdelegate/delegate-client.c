/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * delegate-client.c - the public client API: context, handshake, calls,
 * handler model.  The library never logs: every failure is a -errno and a
 * filled delegate_error.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "config.h"
#include "client-msg.h"
#include "json.h"
#include "local.h"
#include "ops.h"
#include "size.h"
#include "wire.h"

#define CLIENT_TIMEOUT_MS 30000
#define MAX_HANDLERS 32

typedef struct handler {
        char *op;
        delegate_handler_fn fn;
        void *userdata;
} handler;

struct delegate_ctx {
        int api;
        char *socket_path;
        char *client;
        char *vm;
        delegate_mode mode;
        int fd;
        int broker_api;
        uint64_t session;
        char *pod_cgroup;
        uint64_t next_id;
        /* resuming after a lost connection */
        uint64_t resume_session;
        char resume_token[72];
        bool resumed;
        uint64_t lost_id;  /* the request whose answer was lost, 0: none */
        char *lost_req;    /* its op, args and fd count, to recognise it when retried */
        char *rbuf;        /* DELEGATE_MAX_MESSAGE bytes for replies, made at the first; erased after each */
        bool rcvtimeo;     /* the socket's SO_RCVTIMEO is the wait's limit: receives block */
        bool rcvtimeo_cut; /* ... set shorter (what was left of a call): set back at the next call */
        bool waited;       /* this call has spent a wait: the next one is only for what is left */
        int timeout_ms;    /* a call's limit, CLIENT_TIMEOUT_MS */
        bool in_call;      /* a call connects: its deadline covers the hello too */
        uint64_t deadline; /* the call's end (CLOCK_MONOTONIC, ns) */
        handler handlers[MAX_HANDLERS];
        size_t n_handlers;
};

static int client_timeout_ms(void);

static int api_check(int api, delegate_error *err) {
        if (api != DELEGATE_API_VERSION)
                return error_set(err, -EPROTO, "api-mismatch", EPROTO, "caller speaks API %d, libdelegate speaks API %d",
                                 api, DELEGATE_API_VERSION);
        return 0;
}

int delegate_ctx_new(int api_version, delegate_ctx **ret, delegate_error *err) {
        int r = api_check(api_version, err);
        if (r < 0)
                return r;
        delegate_ctx *c = calloc(1, sizeof(*c));
        if (!c)
                return error_set(err, -ENOMEM, "local", ENOMEM, "out of memory");
        c->api = api_version;
        c->fd = -EBADF;
        c->timeout_ms = client_timeout_ms();
        c->next_id = 1;
        *ret = c;
        return 0;
}

static void disconnect(delegate_ctx *c) {
        c->fd = safe_close(c->fd);
        c->broker_api = 0;
        c->session = 0;
        free(c->pod_cgroup);
        c->pod_cgroup = NULL;
}

void delegate_ctx_free(delegate_ctx *c) {
        if (!c)
                return;
        disconnect(c);
        erase_free(c->lost_req);
        if (c->rbuf) /* erased after each reply already; once more for good measure */
                explicit_bzero(c->rbuf, DELEGATE_MAX_MESSAGE);
        free(c->rbuf);
        free(c->socket_path);
        /* the identity travels in every hello: request content */
        erase_free(c->client);
        erase_free(c->vm);
        for (size_t i = 0; i < c->n_handlers; i++)
                free(c->handlers[i].op);
        explicit_bzero(c, sizeof(*c));
        free(c);
}

static int replace_str(char **dst, const char *src) {
        char *n = NULL;
        if (src && !(n = strdup(src)))
                return -ENOMEM;
        erase_free(*dst);
        *dst = n;
        return 0;
}

int delegate_ctx_set_socket(delegate_ctx *c, const char *path) {
        if (path && strlen(path) >= sizeof(((struct sockaddr_un *) NULL)->sun_path))
                return -ENAMETOOLONG;
        return replace_str(&c->socket_path, path);
}

int delegate_ctx_set_identity(delegate_ctx *c, const char *client, const char *vm) {
        int r = replace_str(&c->client, client);
        return r < 0 ? r : replace_str(&c->vm, vm);
}

int delegate_ctx_set_mode(delegate_ctx *c, delegate_mode mode) {
        if (mode != DELEGATE_MODE_AUTO && mode != DELEGATE_MODE_LOCAL && mode != DELEGATE_MODE_BROKER)
                return -EINVAL;
        c->mode = mode;
        return 0;
}

int delegate_ctx_broker_api(delegate_ctx *c) {
        return c->broker_api;
}

uint64_t delegate_ctx_session(delegate_ctx *c) {
        return c->session;
}

const char *delegate_ctx_pod_cgroup(delegate_ctx *c) {
        return c->pod_cgroup;
}

bool delegate_ctx_resumed(delegate_ctx *c) {
        return c->resumed;
}

int delegate_ctx_fd(delegate_ctx *c) {
        return c->fd >= 0 ? c->fd : -ENOTCONN;
}

uint64_t delegate_ctx_next_id(delegate_ctx *c) {
        return c->next_id;
}

void delegate_free_string(char *s) {
        erase_free(s);
}

static const char *socket_path(delegate_ctx *c) {
        if (c->socket_path)
                return c->socket_path;
        const char *e = getenv(DELEGATE_SOCKET_ENV);
        return e && *e ? e : DEFAULT_SOCKET_PATH; /* meson's socket_path option */
}

/*
 * A call's limit: CLIENT_TIMEOUT_MS; in test builds (meson option
 * test_hooks) $DELEGATE_TEST_CLIENT_TIMEOUT_MS, read when the context is
 * made, so that a test sees a call time out without waiting 30 s.
 */
static int client_timeout_ms(void) {
#if DELEGATE_TEST_HOOKS
        const char *e = getenv("DELEGATE_TEST_CLIENT_TIMEOUT_MS");
        char *end;
        long v = e && *e ? strtol(e, &end, 10) : 0;
        if (v > 0 && v <= CLIENT_TIMEOUT_MS && !*end)
                return (int) v;
#endif
        return CLIENT_TIMEOUT_MS;
}

static int timed_out(delegate_ctx *c, delegate_error *err) {
        if (c->timeout_ms % 1000)
                return error_set(err, -ETIMEDOUT, "local", ETIMEDOUT, "the broker did not answer within %d ms",
                                 c->timeout_ms);
        return error_set(err, -ETIMEDOUT, "local", ETIMEDOUT, "the broker did not answer within %d seconds",
                         c->timeout_ms / 1000);
}

static int set_rcvtimeo(int fd, int ms) {
        struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
        return setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

/*
 * A call's one deadline: every wait of it (for room to send, for its
 * reply, again after a signal or a stale reply) is for what is left of
 * it.  The socket's SO_RCVTIMEO, cut short by the last call, is set back.
 */
static void call_begin(delegate_ctx *c) {
        if (c->rcvtimeo_cut && set_rcvtimeo(c->fd, c->timeout_ms) == 0)
                c->rcvtimeo_cut = false;
        c->waited = false;
        c->deadline = now_nsec() + (uint64_t) c->timeout_ms * 1000000;
}

/* What is left of the call in ms, rounded up; 0: nothing */
static int left_ms(const delegate_ctx *c) {
        uint64_t now = now_nsec();
        return now >= c->deadline ? 0 : (int) ((c->deadline - now + 999999) / 1000000);
}

static int wait_fd(delegate_ctx *c, short events, delegate_error *err) {
        struct pollfd p = { .fd = c->fd, .events = events };
        c->waited = true;
        for (;;) {
                int left = left_ms(c);
                if (left == 0)
                        return timed_out(c, err);
                int r = poll(&p, 1, left);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return error_set(err, negative_errno(), "local", errno, "poll on the broker socket: %m");
                if (r > 0)
                        return 0;
        }
}

static int send_msg(delegate_ctx *c, const char *buf, size_t len, const int *fds, size_t n_fds,
                    delegate_error *err) {
        for (;;) {
                int r = wire_send(c->fd, buf, len, fds, n_fds);
                if (r == -EAGAIN) {
                        r = wait_fd(c, POLLOUT, err);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (r == -EMSGSIZE)
                        return error_set(err, r, "too-large", EMSGSIZE, "request of %zu bytes exceeds the %d-byte limit",
                                         len, DELEGATE_MAX_MESSAGE);
                if (r < 0)
                        return error_set(err, r, "local", -r, "sending to the broker: %s", strerror(-r));
                return 0;
        }
}

/*
 * Receive one message and parse it; fds into @fds.  The socket blocks
 * (only sends say MSG_DONTWAIT) and carries the wait's limit as its
 * SO_RCVTIMEO, set at connect: one recvmsg() a reply.  -EAGAIN is that
 * limit passing, or a socket the caller made non-blocking (a poll then).
 * A wait after the call's first (a signal, a stale reply, a wait to send)
 * is for what is left of the call: SO_RCVTIMEO cut to it, or a poll().
 */
static int recv_msg(delegate_ctx *c, json_value **ret, int *fds, size_t max_fds, size_t *ret_n_fds,
                    delegate_error *err) {
        if (!c->rbuf && !(c->rbuf = malloc(DELEGATE_MAX_MESSAGE)))
                return error_set(err, -ENOMEM, "local", ENOMEM, "out of memory");
        char *buf = c->rbuf;
        for (;;) {
                bool eof;
                bool block = c->rcvtimeo;
                if (block && c->waited) {
                        int left = left_ms(c);
                        if (left == 0)
                                return timed_out(c, err);
                        block = set_rcvtimeo(c->fd, left) == 0;
                        c->rcvtimeo_cut = true;
                }
                ssize_t n;
                if (block) {
                        n = wire_recv_wait(c->fd, buf, DELEGATE_MAX_MESSAGE, fds, max_fds, ret_n_fds, &eof);
                        c->waited = true;
                } else
                        n = wire_recv(c->fd, buf, DELEGATE_MAX_MESSAGE, fds, max_fds, ret_n_fds, &eof);
                if (n == -EINTR)
                        continue; /* the wait goes on, for what is left of the call */
                if (n == -EAGAIN) {
                        int fl = block ? fcntl(c->fd, F_GETFL) : O_NONBLOCK;
                        if (fl < 0 || !(fl & O_NONBLOCK))
                                return timed_out(c, err);
                        int r = wait_fd(c, POLLIN, err);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (n == -ETOOMANYREFS)
                        return error_set(err, -ETOOMANYREFS, "local", ETOOMANYREFS,
                                         "the broker sent more than %zu fds", max_fds);
                if (n < 0)
                        return error_set(err, (int) n, "local", (int) -n, "receiving from the broker: %s",
                                         strerror((int) -n));
                if (n == 0 && eof)
                        return error_set(err, -ECONNRESET, "local", ECONNRESET, "the broker closed the connection");
                json_parse_error je;
                int r = json_parse_flags(buf, n, JSON_PARSE_NO_POSITIONS, ret, &je);
                explicit_bzero(buf, n);
                if (r < 0 || (*ret)->type != JSON_OBJECT) {
                        if (r == 0) {
                                json_free(*ret);
                                *ret = NULL;
                        }
                        close_fds(fds, *ret_n_fds);
                        return error_set(err, -EBADMSG, "local", EBADMSG, "malformed reply from the broker: %s",
                                         r < 0 ? je.message : "not an object");
                }
                return 0;
        }
}

static int connect_once(delegate_ctx *c, bool resume, delegate_error *err) {
        const char *path = socket_path(c);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        /* before the first "goto fail": its cleanup runs at every exit */
        _cleanup_json_ json_value *w = NULL;
        int r;

        disconnect(c);
        if (strlen(path) >= sizeof(sa.sun_path))
                return error_set(err, -ENAMETOOLONG, "local", ENAMETOOLONG, "socket path '%s' is too long", path);
        strcpy(sa.sun_path, path);
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return error_set(err, negative_errno(), "local", errno, "socket: %m");
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return error_set(err, negative_errno(), "local", errno, "cannot connect to the broker at '%s': %m", path);
        /* the wait for each reply (recv_msg()); set once per connection, not per call.  Refused (a
         * seccomp filter of the caller's saying EPERM): each wait is a poll() before the receive */
        c->rcvtimeo = set_rcvtimeo(fd, c->timeout_ms) == 0;
        c->rcvtimeo_cut = false;
        c->fd = TAKE_FD(fd);
        if (!c->in_call)
                call_begin(c); /* the hello's wait; a call that connects counts it in its own */

        _cleanup_json_gen_ json_gen *g = json_gen_new();
        _cleanup_erase_free_ char *hello = NULL;
        size_t len;
        if (!g)
                return error_set(err, -ENOMEM, "local", ENOMEM, "out of memory");
        json_gen_map_open(g);
        json_gen_kv_str(g, "type", "hello");
        json_gen_kv_i64(g, "api", c->api);
        json_gen_kv_str(g, "client", c->client ? c->client : program_invocation_short_name);
        if (c->vm)
                json_gen_kv_str(g, "vm", c->vm);
        if (resume) {
                json_gen_str(g, "resume");
                json_gen_map_open(g);
                json_gen_kv_u64(g, "session", c->resume_session);
                json_gen_kv_str(g, "token", c->resume_token);
                json_gen_map_close(g);
        }
        json_gen_map_close(g);
        r = json_gen_take(g, &hello, &len);
        if (r < 0)
                return error_set(err, r, "local", -r, "cannot build hello");
        r = send_msg(c, hello, len, NULL, 0, err);
        /* refused on connect (too many clients): the broker said why, then closed */
        bool refused = r == -EPIPE || r == -ECONNRESET;
        if (r < 0 && !refused)
                goto fail;

        size_t nfds;
        delegate_error recv_err;
        int rr = recv_msg(c, &w, NULL, 0, &nfds, refused ? &recv_err : err);
        if (rr == -ECONNRESET && !w) {
                /* closed with our hello unread: the reset is reported before the refusal queued for us */
                refused = true;
                r = rr;
                rr = recv_msg(c, &w, NULL, 0, &nfds, &recv_err);
        }
        if (rr < 0) {
                r = refused ? r : rr;
                goto fail;
        }
        const json_value *type = json_get(w, "type");
        if (json_is_string(type) && streq(type->string.str, "error")) {
                r = reply_error(w, err);
                goto fail;
        }
        if (json_get(w, "error")) { /* a refusal in request shape */
                r = reply_error(json_get(w, "error"), err);
                goto fail;
        }
        const json_value *api = json_get(w, "api");
        int64_t bapi = 0;
        if (!json_is_string(type) || !streq(type->string.str, "welcome") || json_to_i64(api, &bapi) < 0) {
                r = error_set(err, -EBADMSG, "local", EBADMSG, "the broker's answer to hello is not a welcome");
                goto fail;
        }
        if (bapi != c->api) {
                r = error_set(err, -EPROTO, "api-mismatch", EPROTO, "client speaks API %d, broker speaks API %" PRIi64,
                              c->api, bapi);
                goto fail;
        }
        c->broker_api = (int) bapi;
        const json_value *v = json_get(w, "session");
        if (v)
                json_to_u64(v, &c->session);
        v = json_get(w, "cgroup");
        if (json_is_string(v))
                c->pod_cgroup = strdup(v->string.str);
        v = json_get(w, "resumed");
        c->resumed = v && v->type == JSON_BOOL && v->boolean;
        v = json_get(w, "resume_token");
        if (json_is_string(v) && strlen(v->string.str) < sizeof(c->resume_token)) {
                snprintf(c->resume_token, sizeof(c->resume_token), "%s", v->string.str);
                c->resume_session = c->session;
        }
        if (!c->resumed) {
                /* a new session: nothing of the old one can be retried */
                c->lost_id = 0;
                erase_free(c->lost_req);
                c->lost_req = NULL;
        }
        return 0;
fail:
        disconnect(c);
        return r;
}

int delegate_connect(delegate_ctx *c, delegate_error *err) {
        if (c->resume_session && c->resume_token[0]) {
                int r = connect_once(c, true, err);
                /* the broker does not hold that session (-ESRCH), or not for us (-EACCES): a new one */
                if (r != -ESRCH && r != -EACCES)
                        return r;
                c->resume_session = 0;
                explicit_bzero(c->resume_token, sizeof(c->resume_token));
        }
        return connect_once(c, false, err);
}

int delegate_open(int api_version, const char *socket_path, const char *client, const char *vm, delegate_ctx **ret,
                  delegate_error *err) {
        delegate_ctx *c;
        int r = delegate_ctx_new(api_version, &c, err);
        if (r < 0)
                return r;
        if ((r = delegate_ctx_set_socket(c, socket_path)) < 0 || (r = delegate_ctx_set_identity(c, client, vm)) < 0) {
                delegate_ctx_free(c);
                return error_set(err, r, "local", -r, "invalid socket path or identity: %s", strerror(-r));
        }
        r = delegate_connect(c, err);
        if (r < 0) {
                delegate_ctx_free(c);
                return r;
        }
        *ret = c;
        return 0;
}

int delegate_set_handler(delegate_ctx *c, const char *op, delegate_handler_fn fn, void *userdata) {
        if (!op || !*op)
                return -EINVAL;
        for (size_t i = 0; i < c->n_handlers; i++) {
                if (!streq(c->handlers[i].op, op))
                        continue;
                if (fn) {
                        c->handlers[i].fn = fn;
                        c->handlers[i].userdata = userdata;
                } else {
                        free(c->handlers[i].op);
                        c->handlers[i] = c->handlers[--c->n_handlers];
                }
                return 0;
        }
        if (!fn)
                return 0;
        if (c->n_handlers >= MAX_HANDLERS)
                return -ENOSPC;
        char *o = strdup(op);
        if (!o)
                return -ENOMEM;
        c->handlers[c->n_handlers++] = (handler) { o, fn, userdata };
        return 0;
}

static void remember_lost(delegate_ctx *c, uint64_t id, char **key, const char *op, const json_value *args,
                          size_t n_fds) {
        if (!*key)
                *key = lost_key(op, args, n_fds);
        erase_free(c->lost_req);
        c->lost_req = *key;
        *key = NULL;
        c->lost_id = c->lost_req ? id : 0;
}

/* What a call reads of a reply, found in one pass over its members */
typedef struct reply_parts {
        const json_value *id, *ok, *error;
        json_value **result; /* its slot in the reply, to be taken out of the tree */
} reply_parts;

static reply_parts reply_split(json_value *rep) {
        reply_parts p = {};
        for (size_t i = 0; i < rep->object.n; i++) {
                json_member *m = &rep->object.members[i];
                if (json_key_is(m, "id"))
                        p.id = m->value;
                else if (json_key_is(m, "ok"))
                        p.ok = m->value;
                else if (json_key_is(m, "result"))
                        p.result = &m->value;
                else if (json_key_is(m, "error"))
                        p.error = m->value;
        }
        return p;
}

/* The result of a call as text (*@ret_result) or as a tree (*@ret_tree: NULL when the reply has none) */
static int broker_call(delegate_ctx *c, const char *op, const json_value *args, const char *args_text,
                       size_t args_len, const int *in_fds, size_t n_in_fds, char **ret_result, json_value **ret_tree,
                       int *ret_fds, size_t max_fds, size_t *ret_n_fds, delegate_error *err) {
        int r;
        call_begin(c); /* one deadline for the whole call, a connect included */
        if (c->fd < 0) {
                c->in_call = true;
                r = delegate_connect(c, err);
                c->in_call = false;
                if (r < 0)
                        return r;
        }
        /* what identifies the request for a retry: made only when one is owed, or when its answer is lost */
        _cleanup_erase_free_ char *key = c->lost_id && c->lost_req ? lost_key(op, args, n_in_fds) : NULL;
        uint64_t id;
        if (key && streq(key, c->lost_req)) {
                id = c->lost_id; /* the retry of a request whose answer was lost */
                c->lost_id = 0;
                erase_free(c->lost_req);
                c->lost_req = NULL;
        } else
                id = c->next_id++;
        _cleanup_erase_free_ char *heap = NULL;
        char small[256];
        size_t len;
        const char *req = request_text(id, op, args_text, args_len, small, sizeof(small), &heap, &len);
        if (!req)
                return error_set(err, -ENOMEM, "local", ENOMEM, "cannot build the request: out of memory");
        r = send_msg(c, req, len, in_fds, n_in_fds, err);
        explicit_bzero(req == small ? small : heap, len);
        if (r < 0) {
                if (r == -EPIPE || r == -ECONNRESET || r == -ENOTCONN) {
                        disconnect(c); /* the next call connects afresh */
                        remember_lost(c, id, &key, op, args, n_in_fds);
                }
                return r;
        }

        for (;;) {
                _cleanup_json_ json_value *rep = NULL;
                int fds[DELEGATE_MAX_FDS];
                size_t nfds = 0;
                r = recv_msg(c, &rep, fds, DELEGATE_MAX_FDS, &nfds, err);
                if (r < 0) {
                        if (r == -ECONNRESET) {
                                disconnect(c);
                                remember_lost(c, id, &key, op, args, n_in_fds);
                        }
                        return r;
                }
                uint64_t rid;
                reply_parts part = reply_split(rep);
                bool null_id = !part.id || part.id->type == JSON_NULL;
                if (!null_id && (json_to_u64(part.id, &rid) < 0 || rid != id)) {
                        close_fds(fds, nfds); /* a late answer to an abandoned request */
                        continue;
                }
                if (!part.ok || part.ok->type != JSON_BOOL || !part.ok->boolean) {
                        close_fds(fds, nfds);
                        return reply_error(part.error ? part.error : rep, err);
                }
                if (nfds > max_fds || (nfds > 0 && !ret_fds)) {
                        close_fds(fds, nfds);
                        return error_set(err, -ETOOMANYREFS, "local", ETOOMANYREFS,
                                         "the reply carried %zu fds, the caller takes %zu", nfds, max_fds);
                }
                if (ret_result) {
                        const json_value *res = part.result ? *part.result : NULL;
                        if (res) {
                                r = json_dump(res, ret_result);
                                if (r < 0) {
                                        close_fds(fds, nfds);
                                        return error_set(err, r, "local", -r, "out of memory");
                                }
                        } else if (!(*ret_result = strdup("{}"))) {
                                close_fds(fds, nfds);
                                return error_set(err, -ENOMEM, "local", ENOMEM, "out of memory");
                        }
                }
                /* taken out of the reply's tree, which is freed without it */
                if (ret_tree)
                        *ret_tree = part.result ? TAKE_PTR(*part.result) : NULL;
                for (size_t i = 0; i < nfds; i++)
                        ret_fds[i] = fds[i];
                if (ret_n_fds)
                        *ret_n_fds = nfds;
                return 0;
        }
}

/* A handler's or the local route's result text as a tree, for call(); @text is erased and freed */
static int result_tree(char *text, json_value **ret, delegate_error *err) {
        json_parse_error je;
        int r = json_parse_flags(text ? text : "{}", text ? strlen(text) : 2, JSON_PARSE_NO_POSITIONS, ret, &je);
        erase_free(text);
        return r < 0 ? error_set(err, -EBADMSG, "local", EBADMSG, "malformed result: %s", je.message) : 0;
}

/* delegate_call(); its result as text (*@ret_result_json) or instead as a tree (*@ret_tree: the library's own calls) */
static int call(delegate_ctx *c, const char *op, const char *args_json, char **ret_result_json, json_value **ret_tree,
                int *ret_fds, size_t max_fds, size_t *ret_n_fds, delegate_route *ret_route, delegate_error *err) {
        _cleanup_json_ json_value *args = NULL;
        int r;

        if (ret_n_fds)
                *ret_n_fds = 0;
        if (!op || !*op)
                return error_set(err, -EINVAL, "bad-request", EINVAL, "no operation named");
        size_t args_len = 0;
        if (args_json && (r = args_parse(args_json, &args, &args_len, err)) < 0)
                return r;

        for (size_t i = 0; i < c->n_handlers; i++) {
                if (!streq(c->handlers[i].op, op))
                        continue;
                char *res = NULL;
                if (err)
                        memset(err, 0, sizeof(*err));
                r = c->handlers[i].fn(c, op, args_json ? args_json : "{}", &res, err, c->handlers[i].userdata);
                if (r < 0) {
                        erase_free(res);
                        if (err && !err->code[0])
                                error_set(err, r, "system", -r, "handler for %s failed: %s", op, strerror(-r));
                        return r;
                }
                if (ret_tree) {
                        if (result_tree(res, ret_tree, err) < 0)
                                return -EBADMSG;
                } else if (ret_result_json) {
                        *ret_result_json = res ? res : strdup("{}");
                        if (!*ret_result_json)
                                return error_set(err, -ENOMEM, "local", ENOMEM, "out of memory");
                } else
                        erase_free(res);
                if (ret_route)
                        *ret_route = DELEGATE_ROUTE_HANDLER;
                return 0;
        }

        if (c->mode != DELEGATE_MODE_BROKER) {
                char *text = NULL;
                r = local_try(op, args, ret_tree ? &text : ret_result_json, err);
                if (r > 0 && ret_tree && result_tree(text, ret_tree, err) < 0)
                        return -EBADMSG;
                if (r > 0) {
                        if (ret_route)
                                *ret_route = DELEGATE_ROUTE_LOCAL;
                        return 0;
                }
                if (r < 0)
                        return r;
                if (c->mode == DELEGATE_MODE_LOCAL)
                        return error_set(err, -EPERM, "unsupported", EPERM,
                                         "%s cannot be performed locally by this caller (mode is local-only)", op);
        }
        r = broker_call(c, op, args, args_json, args_len, NULL, 0, ret_result_json, ret_tree, ret_fds, max_fds,
                        ret_n_fds, err);
        if (r >= 0 && ret_route)
                *ret_route = DELEGATE_ROUTE_BROKER;
        return r;
}

int delegate_call(delegate_ctx *c, const char *op, const char *args_json, char **ret_result_json, int *ret_fds,
                  size_t max_fds, size_t *ret_n_fds, delegate_route *ret_route, delegate_error *err) {
        return call(c, op, args_json, ret_result_json, NULL, ret_fds, max_fds, ret_n_fds, ret_route, err);
}

int delegate_call_with_fds(delegate_ctx *c, const char *op, const char *args_json, const int *fds, size_t n_fds,
                           char **ret_result_json, int *ret_fds, size_t max_fds, size_t *ret_n_fds,
                           delegate_error *err) {
        _cleanup_json_ json_value *args = NULL;
        if (ret_n_fds)
                *ret_n_fds = 0;
        if (!op || !*op)
                return error_set(err, -EINVAL, "bad-request", EINVAL, "no operation named");
        if (n_fds > DELEGATE_MAX_FDS)
                return error_set(err, -ETOOMANYREFS, "local", ETOOMANYREFS, "at most %d fds travel with a request",
                                 DELEGATE_MAX_FDS);
        size_t args_len = 0;
        int r;
        if (args_json && (r = args_parse(args_json, &args, &args_len, err)) < 0)
                return r;
        return broker_call(c, op, args, args_json, args_len, fds, n_fds, ret_result_json, NULL, ret_fds, max_fds,
                           ret_n_fds, err);
}

int delegate_ping(delegate_ctx *c, delegate_error *err) {
        delegate_mode saved = c->mode;
        c->mode = DELEGATE_MODE_BROKER; /* ping is about the broker */
        int r = delegate_call(c, op_ping.name, NULL, NULL, NULL, 0, NULL, NULL, err);
        c->mode = saved;
        return r;
}

int delegate_state_get(delegate_ctx *c, char **ret_json, delegate_error *err) {
        return delegate_call(c, op_state_get.name, NULL, ret_json, NULL, 0, NULL, NULL, err);
}

static void gen_limit_arg(json_gen *g, const char *k, uint64_t v) {
        json_gen_str(g, k);
        json_gen_limit(g, v);
}

static uint64_t limit_of(const json_value *v) {
        uint64_t x = 0;
        json_to_size(v, &x);
        return x;
}

int delegate_memlock_set(delegate_ctx *c, pid_t pid, uint64_t soft, uint64_t hard, delegate_memlock_result *ret,
                         delegate_error *err) {
        _cleanup_json_gen_ json_gen *g = json_gen_new();
        _cleanup_erase_free_ char *args = NULL;
        _cleanup_json_ json_value *rv = NULL;
        delegate_route route = 0;
        int r;

        if (!g)
                return error_set(err, -ENOMEM, "local", ENOMEM, "out of memory");
        json_gen_map_open(g);
        json_gen_kv_i64(g, "pid", pid);
        gen_limit_arg(g, "soft", soft);
        if (hard != DELEGATE_LIMIT_KEEP)
                gen_limit_arg(g, "hard", hard);
        json_gen_map_close(g);
        r = json_gen_take(g, &args, NULL);
        if (r < 0)
                return error_set(err, r, "local", -r, "out of memory");
        /* the result as a tree: not written out as text and parsed again */
        r = call(c, op_memlock_set.name, args, NULL, ret ? &rv : NULL, NULL, 0, NULL, &route, err);
        if (r < 0)
                return r;
        if (ret) {
                const json_value *old = json_get(rv, "old");
                *ret = (delegate_memlock_result) {
                        .soft = limit_of(json_get(rv, "soft")),
                        .hard = limit_of(json_get(rv, "hard")),
                        .old_soft = limit_of(json_get(old, "soft")),
                        .old_hard = limit_of(json_get(old, "hard")),
                        .route = route,
                };
        }
        return 0;
}
