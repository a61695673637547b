/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-conformance - libdelegate's codec against the conformance vectors
 * (tests/conformance/vectors.json, argv[1]), the same file the Go client's
 * tests read.  A scripted peer on a SEQPACKET socket plays the broker: it
 * records the hello and the request libdelegate sends and answers with the
 * vector's welcome or reply, byte for byte.  Checked: hellos and requests
 * as JSON values, welcomes and handshake errors, results and error replies
 * field by field (code, errno, rule, message, retry_after_ms), and how
 * libdelegate treats each invalid reply ("libdelegate" in the vector).
 */
#define DELEGATE_INTERNAL_UNSTABLE_API_OPT_IN
#include "delegate/delegate-internal.h"

#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "json-equal.h"
#include "json.h"
#include "tap.h"
#include "unit-util.h"

static char sock_path[sizeof(((struct sockaddr_un *) NULL)->sun_path)];
static int listen_fd = -1;

/* What the peer says and saw, for one connection. */
typedef struct script {
        const char *welcome;
        size_t welcome_len;
        const char *reply; /* NULL: no request expected */
        size_t reply_len;
        const char *then; /* a second reply, may be NULL */
        char hello[4096];
        char request[70000];
} script;

static void *peer_main(void *arg) {
        script *s = arg;
        int c = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0)
                return NULL;
        ssize_t n = recv(c, s->hello, sizeof(s->hello) - 1, 0);
        if (n > 0 && send(c, s->welcome, s->welcome_len, MSG_NOSIGNAL) >= 0 && s->reply) {
                s->hello[n] = 0;
                n = recv(c, s->request, sizeof(s->request) - 1, 0);
                if (n > 0) {
                        s->request[n] = 0;
                        send(c, s->reply, s->reply_len, MSG_NOSIGNAL);
                        if (s->then)
                                send(c, s->then, strlen(s->then), MSG_NOSIGNAL);
                }
        } else if (n > 0)
                s->hello[n] = 0;
        char b[16];
        while (recv(c, b, sizeof(b), 0) > 0) /* until the client closes */
                ;
        close(c);
        return NULL;
}

static json_value *parse(const char *text, size_t len) {
        json_value *v = NULL;
        json_parse_error e;
        if (json_parse(text, len, false, &v, &e) < 0)
                return NULL;
        return v;
}

static bool json_equal(const json_value *a, const json_value *b) {
        return json_tree_equal(a, b, false);
}

static bool text_equal(const char *a, const char *b) {
        _cleanup_json_ json_value *x = parse(a, strlen(a)), *y = parse(b, strlen(b));
        return json_equal(x, y);
}

static const char *str_of(const json_value *v, const char *key) {
        const json_value *s = json_get(v, key);
        return json_is_string(s) ? s->string.str : NULL;
}

static int64_t int_of(const json_value *v, const char *key, int64_t dflt) {
        int64_t x;
        const json_value *n = json_get(v, key);
        return n && json_to_i64(n, &x) == 0 ? x : dflt;
}

/* Run @fn with a peer following @s. */
static void with_peer(script *s, void (*fn)(script *s, const json_value *vec, void *data), const json_value *vec,
                      void *data) {
        pthread_t t;
        if (pthread_create(&t, NULL, peer_main, s) != 0)
                unit_bail("pthread_create");
        fn(s, vec, data);
        pthread_join(t, NULL);
}

static delegate_ctx *open_ctx(const char *client, const char *vm, delegate_error *e, int *ret) {
        delegate_ctx *c = NULL;
        *ret = delegate_open(DELEGATE_API_VERSION, sock_path, client, vm, &c, e);
        return c;
}

static void check_error(const char *name, int r, const delegate_error *e, const json_value *want) {
        int64_t en = int_of(want, "errno", -1), retry = int_of(want, "retry_after_ms", 0);
        const char *rule = str_of(want, "rule");
        tap_ok(r < 0 && streq(e->code, str_of(want, "code")) && streq(e->message, str_of(want, "message")) &&
                       (en < 0 || e->errno_value == en) && streq(e->rule, rule ? rule : "") &&
                       e->retry_after_ms == retry,
               "%s: libdelegate reports %s errno %d rule '%s' retry %u: %s", name, e->code, e->errno_value, e->rule,
               e->retry_after_ms, e->message);
}

/* --- hello and welcome --- */

static void do_hello(script *s, const json_value *vec, void *data) {
        (void) data;
        const char *vm = str_of(vec, "vm");
        delegate_error e = {};
        int r;
        delegate_ctx *c = open_ctx(str_of(vec, "client"), vm, &e, &r);
        tap_ok(r == 0, "%s: connects (%s)", str_of(vec, "name"), e.message);
        delegate_ctx_free(c);
        tap_ok(text_equal(s->hello, str_of(vec, "wire")), "%s: the hello is %s", str_of(vec, "name"), s->hello);
}

static void do_welcome(script *s, const json_value *vec, void *data) {
        (void) s, (void) data;
        delegate_error e = {};
        int r;
        delegate_ctx *c = open_ctx("conformance", "vm-7", &e, &r);
        const char *name = str_of(vec, "name");
        const json_value *want = json_get(vec, "error");
        if (want)
                check_error(name, r, &e, want);
        else
                tap_ok(r == 0 && delegate_ctx_session(c) == (uint64_t) int_of(vec, "session", 0) &&
                               streq(delegate_ctx_pod_cgroup(c), str_of(vec, "cgroup")) &&
                               delegate_ctx_resumed(c) == (json_get(vec, "resumed")->boolean),
                       "%s: session %" PRIu64 ", cgroup '%s', resumed %d", name, c ? delegate_ctx_session(c) : 0,
                       c ? delegate_ctx_pod_cgroup(c) : "", c ? delegate_ctx_resumed(c) : -1);
        delegate_ctx_free(c);
}

/* --- requests --- */

static void do_request(script *s, const json_value *vec, void *data) {
        (void) data;
        const char *name = str_of(vec, "name"), *op = str_of(vec, "op");
        const json_value *args = json_get(vec, "args");
        _cleanup_free_ char *args_text = NULL;
        if (args && json_dump(args, &args_text) < 0)
                unit_bail("json_dump");
        delegate_error e = {};
        int r;
        delegate_ctx *c = open_ctx("conformance", "vm-7", &e, &r);
        if (r == 0 && int_of(vec, "fds", 0) == 1) {
                int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
                r = delegate_call_with_fds(c, op, args_text, &fd, 1, NULL, NULL, 0, NULL, &e);
                close(fd);
        } else if (r == 0 && streq(op, "memlock.set")) {
                /* the typed call: limits as integers or "unlimited" */
                const json_value *hard = json_get(args, "hard");
                uint64_t soft = (uint64_t) int_of(args, "soft", 0);
                uint64_t h = !hard ? DELEGATE_LIMIT_KEEP
                             : json_is_string(hard) ? DELEGATE_LIMIT_INFINITY
                                                    : (uint64_t) int_of(args, "hard", 0);
                r = delegate_memlock_set(c, (pid_t) int_of(args, "pid", 0), soft, h, NULL, &e);
        } else if (r == 0) {
                delegate_ctx_set_mode(c, DELEGATE_MODE_BROKER);
                r = delegate_call(c, op, args_text, NULL, NULL, 0, NULL, NULL, &e);
        }
        tap_ok(r == 0, "%s: the call succeeds (%s)", name, e.message);
        delegate_ctx_free(c);
        _cleanup_json_ json_value *got = parse(s->request, strlen(s->request));
        const char *wire = str_of(vec, "wire");
        _cleanup_json_ json_value *want = parse(wire, strlen(wire));
        bool same = got && want && json_equal(json_get(got, "op"), json_get(want, "op")) &&
                    ((!json_get(got, "args") && !json_get(want, "args")) ||
                     json_equal(json_get(got, "args"), json_get(want, "args"))) &&
                    got->object.n == want->object.n &&
                    (int_of(vec, "id", 0) != 1 || json_equal(json_get(got, "id"), json_get(want, "id")));
        tap_ok(same, "%s: libdelegate sends %s", name, s->request);
}

/* --- replies --- */

/* Connect and call @op without args at the broker; its result (or NULL) in *ret_res. */
static int call_broker(const char *op, char **ret_res, delegate_error *e) {
        int r;
        delegate_ctx *c = open_ctx("conformance", "vm-7", e, &r);
        if (r == 0) {
                int fds[DELEGATE_MAX_FDS];
                size_t nfds = 0;
                delegate_ctx_set_mode(c, DELEGATE_MODE_BROKER);
                r = delegate_call(c, op, NULL, ret_res, fds, DELEGATE_MAX_FDS, &nfds, NULL, e);
                for (size_t i = 0; i < nfds; i++)
                        close(fds[i]);
        }
        delegate_ctx_free(c);
        return r;
}

static void do_reply(script *s, const json_value *vec, void *data) {
        (void) s, (void) data;
        const char *name = str_of(vec, "name"), *op = str_of(vec, "op");
        delegate_error e = {};
        _cleanup_free_ char *res = NULL;
        int r = call_broker(op ? op : "ping", &res, &e);
        const json_value *want = json_get(vec, "error");
        if (want) {
                check_error(name, r, &e, want);
                return;
        }
        _cleanup_json_ json_value *got = r == 0 ? parse(res, strlen(res)) : NULL;
        tap_ok(r == 0 && json_equal(got, json_get(vec, "result")), "%s: result %s (%s)", name, res ? res : "-",
               e.message);
}

static void do_invalid(script *s, const json_value *vec, void *data) {
        (void) s, (void) data;
        const char *name = str_of(vec, "name"), *how = str_of(vec, "libdelegate");
        delegate_error e = {};
        _cleanup_free_ char *res = NULL;
        int r = call_broker("ping", &res, &e);
        if (streq(how, "rejects"))
                tap_ok(r == -EBADMSG && streq(e.code, "local") && e.errno_value == EBADMSG,
                       "%s: libdelegate rejects it as malformed (%d, %s: %s)", name, r, e.code, e.message);
        else if (streq(how, "fails"))
                tap_ok(r < 0, "%s: libdelegate fails the call (%d, %s: %s)", name, r, e.code, e.message);
        else if (streq(how, "accepts"))
                tap_ok(r == 0, "%s: libdelegate accepts it (result %s) [laxer than the protocol]", name,
                       res ? res : "-");
        else if (streq(how, "ignores"))
                tap_ok(r == 0 && res && strstr(res, "\"after\""),
                       "%s: libdelegate ignores it and takes the next reply (%s)", name, res ? res : e.message);
        else
                tap_ok(0, "%s: unknown expectation '%s'", name, how ? how : "(none)");
}

static char *unhex(const char *hex, size_t *ret_len) {
        size_t n = strlen(hex) / 2;
        char *b = malloc(n + 1);
        if (!b)
                unit_bail("out of memory");
        for (size_t i = 0; i < n; i++) {
                unsigned x;
                if (sscanf(hex + 2 * i, "%2x", &x) != 1)
                        unit_bail("bad wire_hex");
                b[i] = (char) x;
        }
        b[n] = 0;
        *ret_len = n;
        return b;
}

static const json_value *section(const json_value *v, const char *name) {
        const json_value *a = json_get(v, name);
        if (!a || a->type != JSON_ARRAY || a->array.n == 0)
                unit_bail("vectors: no '%s' array", name);
        return a;
}

int main(int argc, char **argv) {
        if (argc != 2)
                unit_bail("usage: %s VECTORS.json", argv[0]);
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        FILE *f = fopen(argv[1], "re");
        if (!f || getdelim(&text, &len, '\0', f) < 0)
                unit_bail("cannot read %s: %m", argv[1]);
        fclose(f);
        _cleanup_json_ json_value *v = parse(text, strlen(text));
        if (!v || int_of(v, "api", 0) != DELEGATE_API_VERSION)
                unit_bail("%s is not conformance vectors for API %d", argv[1], DELEGATE_API_VERSION);

        char dir[64];
        unit_tmpdir(dir, sizeof(dir), "delegate-conformance");
        if ((size_t) snprintf(sock_path, sizeof(sock_path), "%s/broker.sock", dir) >= sizeof(sock_path))
                unit_bail("socket path too long: %s", dir);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        memcpy(sa.sun_path, sock_path, sizeof(sock_path));
        listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(listen_fd, 4) < 0)
                unit_bail("listening socket: %m");

        const json_value *wl = section(v, "welcome");
        const char *welcome = str_of(wl->array.items[0], "wire");

        const json_value *a = section(v, "hello");
        for (size_t i = 0; i < a->array.n; i++) {
                if (json_get(a->array.items[i], "resume"))
                        continue; /* libdelegate resumes only after a lost connection: see test-client */
                script s = { .welcome = welcome, .welcome_len = strlen(welcome) };
                with_peer(&s, do_hello, a->array.items[i], NULL);
        }
        for (size_t i = 0; i < wl->array.n; i++) {
                const char *w = str_of(wl->array.items[i], "wire");
                script s = { .welcome = w, .welcome_len = strlen(w) };
                with_peer(&s, do_welcome, wl->array.items[i], NULL);
        }
        static const char ok_reply[] = "{\"id\":1,\"ok\":true,\"result\":{}}";
        a = section(v, "requests");
        for (size_t i = 0; i < a->array.n; i++) {
                script s = { .welcome = welcome, .welcome_len = strlen(welcome), .reply = ok_reply,
                             .reply_len = strlen(ok_reply) };
                with_peer(&s, do_request, a->array.items[i], NULL);
        }
        a = section(v, "replies");
        for (size_t i = 0; i < a->array.n; i++) {
                const char *w = str_of(a->array.items[i], "wire");
                script s = { .welcome = welcome, .welcome_len = strlen(welcome), .reply = w, .reply_len = strlen(w) };
                with_peer(&s, do_reply, a->array.items[i], NULL);
        }
        a = section(v, "replies_invalid");
        for (size_t i = 0; i < a->array.n; i++) {
                const json_value *vec = a->array.items[i];
                _cleanup_free_ char *bytes = NULL;
                size_t n;
                const char *w = str_of(vec, "wire");
                if (!w) {
                        bytes = unhex(str_of(vec, "wire_hex"), &n);
                        w = bytes;
                } else
                        n = strlen(w);
                script s = { .welcome = welcome, .welcome_len = strlen(welcome), .reply = w, .reply_len = n };
                if (streq(str_of(vec, "libdelegate"), "ignores"))
                        s.then = "{\"id\":1,\"ok\":true,\"result\":{\"after\":true}}";
                with_peer(&s, do_invalid, vec, NULL);
        }
        close(listen_fd);
        unlink(sock_path);
        rmdir(dir);
        return tap_done();
}
