/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-client.c - the public client API (libdelegate/delegate-client.c):
 * API version checks, the handler model, the local route and local-only
 * mode, and the broker protocol against fake brokers served from a thread
 * on a SEQPACKET socket in a temporary directory.  No root needed.
 */
#define DELEGATE_INTERNAL_UNSTABLE_API_OPT_IN
#include "delegate/delegate-internal.h"

#include <fcntl.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <poll.h>
#include <pthread.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "config.h"
#include "json-equal.h"
#include "json.h"
#include "tap.h"
#include "fake-broker.h"
#include "unit-util.h"
#include "wire.h"

char tmpdir[200]; /* fake-broker.h */

static delegate_ctx *new_ctx(const char *socket, delegate_mode mode) {
        delegate_ctx *c = NULL;
        delegate_error e;
        if (delegate_ctx_new(DELEGATE_API_VERSION, &c, &e) < 0 || delegate_ctx_set_socket(c, socket) < 0 ||
            delegate_ctx_set_identity(c, "unit-test", "vm-7") < 0 || delegate_ctx_set_mode(c, mode) < 0)
                unit_bail("delegate context: %m");
        return c;
}

static struct rlimit get_memlock(void) {
        struct rlimit rl;
        if (getrlimit(RLIMIT_MEMLOCK, &rl) < 0)
                unit_bail("getrlimit: %m");
        return rl;
}

static uint64_t lim(rlim_t r) {
        return r == RLIM_INFINITY ? DELEGATE_LIMIT_INFINITY : (uint64_t) r;
}

/* Is CAP_SYS_RESOURCE in our effective set?  Asked of the kernel directly. */
static bool have_cap_sys_resource(void) {
        struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
        struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3] = {};
        if (syscall(SYS_capget, &h, d) < 0)
                unit_bail("capget: %m");
        return d[CAP_TO_INDEX(CAP_SYS_RESOURCE)].effective & CAP_TO_MASK(CAP_SYS_RESOURCE);
}

/* Did anyone connect?  A connection to a listening unix socket is queued by
 * connect() itself, so a zero-timeout poll answers without waiting. */
static bool nobody_connected(int listen_fd) {
        struct pollfd p = { .fd = listen_fd, .events = POLLIN };
        return poll(&p, 1, 0) == 0;
}

/* A string member of a JSON object text, or NULL. */
static const char *json_str(const json_value *v, const char *key) {
        const json_value *m = json_get(v, key);
        return json_is_string(m) ? m->string.str : NULL;
}

static json_value *parse_or_null(const char *text) {
        json_value *v = NULL;
        json_parse_error e;
        if (json_parse(text, strlen(text), false, &v, &e) < 0)
                return NULL;
        return v;
}

/* --- tests --- */

static void test_api_version(void) {
        delegate_ctx *c = (delegate_ctx *) 0x1;
        delegate_error e = {};
        int r = delegate_ctx_new(DELEGATE_API_VERSION + 1, &c, &e);
        tap_is_int(r, -EPROTO, "ctx_new with API %d: -EPROTO", DELEGATE_API_VERSION + 1);
        tap_is_str(e.code, "api-mismatch", "... code api-mismatch");
        tap_is_int(e.errno_value, EPROTO, "... errno EPROTO");
        tap_is_str(e.message, "caller speaks API 2, libdelegate speaks API 1", "... message names both versions");
        tap_ok(c == (delegate_ctx *) 0x1, "... context untouched");
        r = delegate_open(DELEGATE_API_VERSION - 1, "/nonexistent", NULL, NULL, &c, &e);
        tap_ok(r == -EPROTO && streq(e.code, "api-mismatch") && c == (delegate_ctx *) 0x1,
               "delegate_open with API 0: -EPROTO, api-mismatch");

        r = delegate_ctx_new(DELEGATE_API_VERSION, &c, &e);
        tap_ok(r == 0 && c && c != (delegate_ctx *) 0x1, "ctx_new with API %d", DELEGATE_API_VERSION);
        tap_is_int(delegate_ctx_set_mode(c, (delegate_mode) 7), -EINVAL, "set_mode rejects an unknown mode");
        char longpath[200];
        memset(longpath, 'x', sizeof(longpath) - 1);
        longpath[sizeof(longpath) - 1] = 0;
        tap_is_int(delegate_ctx_set_socket(c, longpath), -ENAMETOOLONG, "set_socket rejects a path too long");
        tap_ok(delegate_ctx_broker_api(c) == 0 && delegate_ctx_session(c) == 0 && !delegate_ctx_pod_cgroup(c) &&
                       delegate_ctx_next_id(c) == 1,
               "fresh context: not connected, next id 1");
        delegate_ctx_free(c);
        delegate_ctx_free(NULL);
}

typedef struct handler_state {
        int calls;
        char op[64];
        char args[256];
        void *userdata;
        int ret;
        const char *result; /* strdup'd into *ret_result_json */
        bool fill_err;
} handler_state;

static int handler(delegate_ctx *ctx, const char *op, const char *args_json, char **ret_result_json,
                   delegate_error *err, void *userdata) {
        handler_state *h = userdata;
        h->calls++;
        h->userdata = userdata;
        snprintf(h->op, sizeof(h->op), "%s", op);
        snprintf(h->args, sizeof(h->args), "%s", args_json);
        if (h->ret < 0) {
                if (h->fill_err) {
                        snprintf(err->code, sizeof(err->code), "denied");
                        snprintf(err->message, sizeof(err->message), "handler says no");
                        err->errno_value = -h->ret;
                }
                return h->ret;
        }
        if (h->result)
                *ret_result_json = strdup(h->result);
        return h->ret;
}

static void test_handlers(const char *nosocket) {
        delegate_ctx *c = new_ctx(nosocket, DELEGATE_MODE_AUTO);
        handler_state h = { .result = "{\"done\":true}" };
        delegate_error e = {};
        delegate_route route = 0;
        char *res = NULL;
        size_t n_fds = 99;
        struct rlimit before = get_memlock();

        tap_is_int(delegate_set_handler(c, "memlock.set", handler, &h), 0, "install a memlock.set handler");
        const char *args = "{\"pid\":0,\"soft\":1,\"hard\":\"unlimited\"}";
        int r = delegate_call(c, "memlock.set", args, &res, NULL, 0, &n_fds, &route, &e);
        tap_is_int(r, 0, "call routed to the handler succeeds");
        tap_is_int(route, DELEGATE_ROUTE_HANDLER, "... route HANDLER");
        tap_ok(h.calls == 1 && streq(h.op, "memlock.set") && h.userdata == &h, "... handler called once with op and userdata");
        tap_is_str(h.args, args, "... handler got the args as passed");
        tap_is_str(res, "{\"done\":true}", "... its result is passed back");
        tap_is_int(n_fds, 0, "... no fds");
        delegate_free_string(res);
        res = NULL;
        struct rlimit now = get_memlock();
        tap_ok(now.rlim_cur == before.rlim_cur && now.rlim_max == before.rlim_max, "... and the limit was not touched");

        /* a handler without a result gives "{}"; no args give "{}" */
        h.result = NULL;
        r = delegate_call(c, "memlock.set", NULL, &res, NULL, 0, NULL, NULL, &e);
        tap_ok(r == 0 && res && streq(res, "{}") && streq(h.args, "{}"), "no result and no args: \"{}\" both ways");
        delegate_free_string(res);
        res = NULL;

        /* delegate_memlock_set() through the handler: args built, result parsed */
        h.result = "{\"pid\":0,\"soft\":4096,\"hard\":\"unlimited\",\"old\":{\"soft\":1,\"hard\":\"2K\"}}";
        delegate_memlock_result mr = {};
        r = delegate_memlock_set(c, 0, 4096, DELEGATE_LIMIT_KEEP, &mr, &e);
        tap_is_int(r, 0, "delegate_memlock_set via the handler");
        tap_is_str(h.args, "{\"pid\":0,\"soft\":4096}", "... args: pid and soft, hard left out to keep");
        tap_ok(mr.route == DELEGATE_ROUTE_HANDLER && mr.soft == 4096 && mr.hard == DELEGATE_LIMIT_INFINITY &&
                       mr.old_soft == 1 && mr.old_hard == 2048,
               "... result parsed (route, soft, hard, old soft, old hard)");
        r = delegate_memlock_set(c, 12, DELEGATE_LIMIT_INFINITY, DELEGATE_LIMIT_INFINITY, NULL, &e);
        tap_is_str(h.args, "{\"pid\":12,\"soft\":\"unlimited\",\"hard\":\"unlimited\"}",
                   "... unlimited limits are sent as \"unlimited\"");

        /* handler errors propagate */
        h.ret = -EPERM;
        h.fill_err = true;
        memset(&e, 0, sizeof(e));
        r = delegate_call(c, "memlock.set", "{}", &res, NULL, 0, NULL, NULL, &e);
        tap_ok(r == -EPERM && streq(e.code, "denied") && streq(e.message, "handler says no") && e.errno_value == EPERM &&
                       !res,
               "handler error with its own delegate_error propagates");
        h.ret = -EIO;
        h.fill_err = false;
        r = delegate_call(c, "memlock.set", "{}", &res, NULL, 0, NULL, NULL, &e);
        tap_ok(r == -EIO && streq(e.code, "system") && e.errno_value == EIO, "handler error without one: code system");
        tap_is_str(e.message, "handler for memlock.set failed: Input/output error", "... message names the op");
        r = delegate_memlock_set(c, 0, 4096, DELEGATE_LIMIT_KEEP, &mr, &e);
        tap_is_int(r, -EIO, "delegate_memlock_set passes the handler's error on");

        /* the handler sees no malformed args */
        int calls = h.calls;
        r = delegate_call(c, "memlock.set", "{", NULL, NULL, 0, NULL, NULL, &e);
        tap_ok(r == -EINVAL && streq(e.code, "bad-request") && h.calls == calls, "malformed args: bad-request, no handler call");
        tap_is_str(e.message, "args: line 1, column 2: premature EOF", "... message with position");
        r = delegate_call(c, "memlock.set", "[1]", NULL, NULL, 0, NULL, NULL, &e);
        tap_ok(r == -EINVAL && streq(e.message, "args must be a JSON object, not array"), "args not an object");
        /* yajl's lexer takes \v and \f for blanks; RFC 8259 does not, and the args go as written */
        static const char *const blanks[][3] = { { "\v{}", "line 1, column 1", "a vertical tab" },
                                                 { "{\f}", "line 1, column 2", "a form feed" },
                                                 { "{ \"pid\" : 0\n\f}", "line 2, column 1", "a form feed" } };
        for (size_t i = 0; i < ELEMENTSOF(blanks); i++) {
                char want[256];
                snprintf(want, sizeof(want),
                         "args: %s: %s is not a JSON blank (those are space, tab, line feed and carriage return)",
                         blanks[i][1], blanks[i][2]);
                r = delegate_call(c, "memlock.set", blanks[i][0], NULL, NULL, 0, NULL, NULL, &e);
                tap_ok(r == -EINVAL && streq(e.code, "bad-request") && h.calls == calls,
                       "args with %s: bad-request, no handler call", blanks[i][2]);
                tap_is_str(e.message, want, "... says where and what is allowed");
        }
        r = delegate_call(c, "", NULL, NULL, NULL, 0, NULL, NULL, &e);
        tap_ok(r == -EINVAL && streq(e.code, "bad-request") && streq(e.message, "no operation named"), "empty op name");

        /* removing it: the next call runs locally (same soft limit, hard kept) */
        tap_is_int(delegate_set_handler(c, "memlock.set", NULL, NULL), 0, "remove the handler");
        tap_is_int(delegate_set_handler(c, "memlock.set", NULL, NULL), 0, "removing it again is fine");
        h = (handler_state) {};
        mr = (delegate_memlock_result) {};
        r = delegate_memlock_set(c, 0, lim(before.rlim_cur), DELEGATE_LIMIT_KEEP, &mr, &e);
        tap_ok(r == 0 && h.calls == 0 && mr.route == DELEGATE_ROUTE_LOCAL, "after removal: not the handler, route LOCAL");
        if (r < 0)
                tap_diag("  %d %s: %s", r, e.code, e.message);

        /* a table of at most 32 handlers */
        tap_is_int(delegate_set_handler(c, "", handler, &h), -EINVAL, "handler for an empty op name: -EINVAL");
        int ok = 0;
        char op[16];
        for (int i = 0; i < 32; i++) {
                snprintf(op, sizeof(op), "op%d", i);
                ok += delegate_set_handler(c, op, handler, &h) == 0;
        }
        tap_ok(ok == 32 && delegate_set_handler(c, "op32", handler, &h) == -ENOSPC, "32 handlers fit, the 33rd: -ENOSPC");
        tap_ok(delegate_set_handler(c, "op5", handler, NULL) == 0, "replacing a handler needs no new slot");
        r = delegate_call(c, "op31", NULL, NULL, NULL, 0, NULL, &route, &e);
        tap_ok(r == 0 && route == DELEGATE_ROUTE_HANDLER && h.calls == 1 && streq(h.op, "op31"),
               "handler for an op the library does not know");
        delegate_ctx_free(c);
}

static void test_local(const char *nosocket) {
        delegate_ctx *c = new_ctx(nosocket, DELEGATE_MODE_AUTO);
        delegate_error e = {};
        delegate_memlock_result mr = {};
        struct rlimit before = get_memlock();
        uint64_t soft = lim(before.rlim_cur), hard = lim(before.rlim_max);
        uint64_t lower = soft == DELEGATE_LIMIT_INFINITY ? (hard == DELEGATE_LIMIT_INFINITY ? 64 << 20 : hard / 2) : soft / 2;

        /* lowering the soft limit needs nothing: done here, no broker (none listens) */
        int r = delegate_memlock_set(c, 0, lower, DELEGATE_LIMIT_KEEP, &mr, &e);
        tap_is_int(r, 0, "auto mode: lowering the soft limit succeeds without a broker");
        if (r < 0)
                tap_diag("  %s: %s", e.code, e.message);
        tap_is_int(mr.route, DELEGATE_ROUTE_LOCAL, "... route LOCAL");
        struct rlimit now = get_memlock();
        tap_ok(lim(now.rlim_cur) == lower && now.rlim_max == before.rlim_max, "... getrlimit: soft %" PRIu64 ", hard kept",
               lower);
        tap_ok(mr.soft == lower && mr.hard == hard && mr.old_soft == soft && mr.old_hard == hard,
               "... result: new and old limits as the kernel read them");
        r = delegate_memlock_set(c, 0, soft, DELEGATE_LIMIT_KEEP, &mr, &e);
        now = get_memlock();
        tap_ok(r == 0 && mr.route == DELEGATE_ROUTE_LOCAL && now.rlim_cur == before.rlim_cur &&
                       now.rlim_max == before.rlim_max,
               "auto mode: raising it back to where it was is local too");

        /* local errors are final: a pid that does not exist */
        char *res = NULL;
        r = delegate_call(c, "memlock.set", "{\"pid\":2147483647,\"soft\":0}", &res, NULL, 0, NULL, NULL, &e);
        tap_ok(r == -ESRCH && streq(e.code, "not-found") && !res, "auto mode: no such pid: -ESRCH, not-found");
        r = delegate_call(c, "memlock.set", "{\"pid\":0}", &res, NULL, 0, NULL, NULL, &e);
        tap_ok(r == -EINVAL && streq(e.code, "bad-request") && strstr(e.message, "missing \"soft\""),
               "auto mode: bad args are a local bad-request");
        delegate_ctx_free(c);
}

static void test_local_only(void) {
        char path[300];
        int lfd = listen_at("local-only.sock", path, sizeof(path));
        delegate_ctx *c = new_ctx(path, DELEGATE_MODE_LOCAL);
        delegate_error e = {};

        if (have_cap_sys_resource()) {
                for (int i = 0; i < 5; i++)
                        tap_ok(true, "local-only hard raise # SKIP CAP_SYS_RESOURCE is held: the raise would succeed");
        } else {
                /* make sure there is a finite hard limit to raise */
                struct rlimit rl = get_memlock();
                if (rl.rlim_max == RLIM_INFINITY) {
                        rl.rlim_max = 16 << 20;
                        if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > rl.rlim_max)
                                rl.rlim_cur = rl.rlim_max;
                        if (setrlimit(RLIMIT_MEMLOCK, &rl) < 0)
                                unit_bail("setrlimit: %m");
                }
                struct rlimit before = get_memlock();
                delegate_memlock_result mr = {};
                int r = delegate_memlock_set(c, 0, before.rlim_cur, (uint64_t) before.rlim_max + 4096, &mr, &e);
                tap_is_int(r, -EPERM, "local-only mode: raising the hard limit without CAP_SYS_RESOURCE fails");
                tap_is_str(e.code, "unsupported", "... code unsupported");
                tap_is_str(e.message, "memlock.set cannot be performed locally by this caller (mode is local-only)",
                           "... message says why");
                tap_ok(nobody_connected(lfd), "... and no broker was tried");
                struct rlimit now = get_memlock();
                tap_ok(now.rlim_cur == before.rlim_cur && now.rlim_max == before.rlim_max, "... limits unchanged");
        }
        delegate_ctx_free(c);
        close(lfd);
        unlink(path);
}

static void test_no_broker(const char *nosocket) {
        delegate_ctx *c = new_ctx(nosocket, DELEGATE_MODE_BROKER);
        delegate_error e = {};
        char want[600];
        struct rlimit before = get_memlock();

        /* would be local in auto mode; broker mode insists on the broker */
        int r = delegate_memlock_set(c, 0, lim(before.rlim_cur), DELEGATE_LIMIT_KEEP, NULL, &e);
        tap_is_int(r, -ENOENT, "broker mode, no socket file: -ENOENT");
        snprintf(want, sizeof(want), "cannot connect to the broker at '%s'", nosocket);
        tap_has_str(e.message, want, "... message names the path");
        tap_is_str(e.code, "local", "... code local");
        delegate_ctx_free(c);

        /* a socket file nobody listens on any more */
        char path[300];
        int fd = listen_at("dead.sock", path, sizeof(path));
        close(fd);
        c = new_ctx(path, DELEGATE_MODE_BROKER);
        r = delegate_ping(c, &e);
        tap_is_int(r, -ECONNREFUSED, "broker mode, nothing listening: -ECONNREFUSED");
        snprintf(want, sizeof(want), "cannot connect to the broker at '%s': ", path);
        tap_has_str(e.message, want, "... message names the path");
        r = delegate_connect(c, &e);
        tap_ok(r == -ECONNREFUSED && delegate_ctx_broker_api(c) == 0, "delegate_connect: the same");
        delegate_ctx_free(c);
        unlink(path);

        /* the path from the environment */
        char env[300];
        snprintf(env, sizeof(env), "%s/from-env.sock", tmpdir);
        setenv(DELEGATE_SOCKET_ENV, env, 1);
        c = new_ctx(NULL, DELEGATE_MODE_BROKER);
        r = delegate_ping(c, &e);
        snprintf(want, sizeof(want), "'%s'", env);
        tap_ok(r == -ENOENT && strstr(e.message, want), "socket path from $%s", DELEGATE_SOCKET_ENV);
        delegate_ctx_free(c);
        unsetenv(DELEGATE_SOCKET_ENV);

        delegate_ctx *o = (delegate_ctx *) 0x1;
        r = delegate_open(DELEGATE_API_VERSION, nosocket, "x", NULL, &o, &e);
        tap_ok(r == -ENOENT && o == (delegate_ctx *) 0x1, "delegate_open with no broker fails, nothing returned");
}

static void check_hello(const fake *f, const char *what) {
        _cleanup_json_ json_value *h = parse_or_null(f->hello);
        int64_t api = 0;
        tap_ok(h && streq_ptr(json_str(h, "type"), "hello") && json_to_i64(json_get(h, "api"), &api) == 0 &&
                       api == DELEGATE_API_VERSION && streq_ptr(json_str(h, "client"), "unit-test") &&
                       streq_ptr(json_str(h, "vm"), "vm-7"),
               "%s: hello has type, api 1, client and vm (%s)", what, f->hello);
}

static void test_fake_api_mismatch(void) {
        fake f = { .welcome = "{\"type\":\"welcome\",\"api\":2}", .reply_fd = -1 };
        fake_start(&f, "mismatch.sock");
        delegate_ctx *c = new_ctx(f.path, DELEGATE_MODE_BROKER);
        delegate_error e = {};
        int r = delegate_connect(c, &e);
        tap_is_int(r, -EPROTO, "broker welcomes with API 2: -EPROTO");
        tap_is_str(e.code, "api-mismatch", "... code api-mismatch");
        tap_is_str(e.message, "client speaks API 1, broker speaks API 2", "... message names both versions");
        tap_is_int(delegate_ctx_broker_api(c), 0, "... not connected");
        delegate_ctx_free(c);
        fake_stop(&f);
        tap_is_int(f.accepted, 1, "... one connection");
        check_hello(&f, "api mismatch");

        fake g = { .welcome = "{\"type\":\"error\",\"code\":\"api-mismatch\","
                              "\"message\":\"client speaks API 1, broker speaks API 9\"}",
                   .reply_fd = -1 };
        fake_start(&g, "error.sock");
        c = new_ctx(g.path, DELEGATE_MODE_BROKER);
        memset(&e, 0, sizeof(e));
        r = delegate_connect(c, &e);
        tap_is_int(r, -EPROTO, "broker answers the hello with an api-mismatch error: -EPROTO");
        tap_is_str(e.code, "api-mismatch", "... code api-mismatch");
        tap_is_str(e.message, "client speaks API 1, broker speaks API 9", "... the broker's message");
        delegate_ctx_free(c);
        fake_stop(&g);

        fake h = { .welcome = "{\"type\":\"hi\"}", .reply_fd = -1 };
        fake_start(&h, "nowelcome.sock");
        c = new_ctx(h.path, DELEGATE_MODE_BROKER);
        r = delegate_connect(c, &e);
        tap_ok(r == -EBADMSG && streq(e.code, "local") && streq(e.message, "the broker's answer to hello is not a welcome"),
               "an answer that is not a welcome: -EBADMSG");
        delegate_ctx_free(c);
        fake_stop(&h);

        fake m = { .welcome = "{\"id\":null,\"ok\":false,\"error\":{\"code\":\"rate-limited\",\"errno\":11,"
                              "\"message\":\"too many sessions\"}}",
                   .reply_fd = -1 };
        fake_start(&m, "refused.sock");
        c = new_ctx(m.path, DELEGATE_MODE_BROKER);
        r = delegate_connect(c, &e);
        tap_ok(r == -EBUSY && streq(e.code, "rate-limited") && streq(e.message, "too many sessions") && e.errno_value == 11,
               "a refusal shaped like a reply: -EBUSY, rate-limited, the broker's message");
        delegate_ctx_free(c);
        fake_stop(&m);

        fake k = { .welcome = "not json", .reply_fd = -1 };
        fake_start(&k, "garbage.sock");
        c = new_ctx(k.path, DELEGATE_MODE_BROKER);
        r = delegate_connect(c, &e);
        tap_ok(r == -EBADMSG && strstr(e.message, "malformed reply from the broker"), "a malformed answer: -EBADMSG");
        delegate_ctx_free(c);
        fake_stop(&k);
}

static void test_fake_ping(void) {
        fake f = {
                .welcome = "{\"type\":\"welcome\",\"api\":1,\"session\":7,\"cgroup\":\"/pods/a\"}",
                .reply_fmt = "{\"id\":%llu,\"ok\":true,\"result\":{\"pong\":true}}",
                .reply_fd = -1,
        };
        fake_start(&f, "ping.sock");
        delegate_ctx *c = new_ctx(f.path, DELEGATE_MODE_LOCAL); /* ping goes to the broker in any mode */
        delegate_error e = {};
        int r = delegate_ping(c, &e);
        tap_is_int(r, 0, "ping answered by a fake broker");
        if (r < 0)
                tap_diag("  %s: %s", e.code, e.message);
        tap_ok(delegate_ctx_broker_api(c) == 1 && delegate_ctx_session(c) == 7 &&
                       streq_ptr(delegate_ctx_pod_cgroup(c), "/pods/a"),
               "... welcome read: api 1, session 7, cgroup /pods/a");
        tap_is_int(delegate_ctx_next_id(c), 2, "... next id is 2");
        delegate_ctx_free(c);
        fake_stop(&f);
        check_hello(&f, "ping");
        _cleanup_json_ json_value *q = parse_or_null(f.request);
        uint64_t id = 0;
        tap_ok(q && json_to_u64(json_get(q, "id"), &id) == 0 && id == 1, "request has \"id\": 1 (%s)", f.request);
        tap_ok(q && streq_ptr(json_str(q, "op"), "ping") && !json_get(q, "args"), "request has \"op\":\"ping\", no args");
}

static void on_alarm(_unused_ int sig) { }

/* fork(); in the child (0 returned) system calls @nr1 and @nr2 (-1: none) fail with @err (exit 2 if not) */
static pid_t fork_denying(int err, int nr1, int nr2) {
        pid_t pid = fork();
        if (pid < 0)
                unit_bail("fork: %m");
        scmp_filter_ctx sc = pid == 0 ? seccomp_init(SCMP_ACT_ALLOW) : NULL;
        if (pid == 0 && (!sc || seccomp_rule_add(sc, SCMP_ACT_ERRNO(err), nr1, 0) < 0 ||
                         (nr2 >= 0 && seccomp_rule_add(sc, SCMP_ACT_ERRNO(err), nr2, 0) < 0) || seccomp_load(sc) < 0))
                _exit(2);
        return pid;
}

/* A call waits for its reply in one receive (SO_RCVTIMEO: 30 s), not a receive, a poll() and a receive:
 * with poll() and ppoll() failing, pings answered after 150 ms succeed, one interrupted by a signal too. */
static void test_fake_wait(void) {
        fake f = {
                .welcome = "{\"type\":\"welcome\",\"api\":1}",
                .reply_fmt = "{\"id\":%llu,\"ok\":true,\"result\":{}}",
                .reply_fd = -1,
                .rounds = 3,
                .requests = 2,
                .delay_ms = 150,
        };
        fake_start(&f, "wait.sock");
        delegate_ctx *c = new_ctx(f.path, DELEGATE_MODE_BROKER);
        delegate_error e = {};
        tap_is_int(delegate_connect(c, &e), 0, "connected to a fake broker that answers after 150 ms");
        pid_t pid = fork_denying(ENOSYS, SCMP_SYS(poll), SCMP_SYS(ppoll));
        struct sigaction sa = { .sa_handler = on_alarm }; /* no SA_RESTART */
        struct itimerval it = { .it_value = { .tv_usec = 50000 } };
        if (pid == 0) /* 3: the first ping failed; 4: the second */
                _exit(delegate_ping(c, &e) < 0                                                           ? 3
                      : sigaction(SIGALRM, &sa, NULL) < 0 || setitimer(ITIMER_REAL, &it, NULL) < 0 ? 2
                      : delegate_ping(c, &e) < 0                                                       ? 4
                                                                                                       : 0);
        int status = 0;
        waitpid(pid, &status, 0);
        tap_ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
               "... in a child whose poll() and ppoll() fail, a ping and one interrupted by SIGALRM (status 0x%x)", status);
        delegate_ctx_free(c);
        /* a caller whose seccomp filter refuses setsockopt (EPERM): the wait is a poll(), still 30 s at most */
        if ((pid = fork_denying(EPERM, SCMP_SYS(setsockopt), -1)) == 0)
                _exit(delegate_ping(new_ctx(f.path, DELEGATE_MODE_BROKER), &e) < 0 ? 3 : 0);
        waitpid(pid, &status, 0);
        tap_ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
               "a caller whose setsockopt() fails connects and waits for its reply with poll() (status 0x%x)", status);
        /* a caller that made the socket non-blocking (it may only poll it; this must not break the call) */
        c = new_ctx(f.path, DELEGATE_MODE_BROKER);
        tap_is_int(delegate_connect(c, &e), 0, "connected again");
        int fd = delegate_ctx_fd(c);
        tap_ok(fd >= 0 && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == 0, "... its socket made non-blocking");
        tap_is_int(delegate_ping(c, &e), 0, "... a ping still waits for its reply (%s)", e.message);
        delegate_ctx_free(c);
        fake_stop(&f);
}

/*
 * A call has one deadline: a broker that never answers in time, a stale
 * reply, and SIGALRM every 100 ms must not keep the call waiting past it
 * (each wait was its full length again after every interruption).  The
 * limit is cut to 1.5 s (DELEGATE_TEST_CLIENT_TIMEOUT_MS, test builds only);
 * the fake sends a stale reply at once and the real one after 3 s, which
 * the call must not see: -ETIMEDOUT.  Not a speed: the 3 s show whether
 * the call ended at its deadline or waited on.
 */
static void test_fake_deadline(void) {
#if DELEGATE_TEST_HOOKS
        fake f = {
                .welcome = "{\"type\":\"welcome\",\"api\":1}",
                .stale = "{\"id\":999999,\"ok\":true,\"result\":{}}",
                .reply_fmt = "{\"id\":%llu,\"ok\":true,\"result\":{}}",
                .reply_fd = -1,
                .delay_ms = 3000,
        };
        fake_start(&f, "deadline.sock");
        setenv("DELEGATE_TEST_CLIENT_TIMEOUT_MS", "1500", 1);
        delegate_ctx *c = new_ctx(f.path, DELEGATE_MODE_BROKER);
        unsetenv("DELEGATE_TEST_CLIENT_TIMEOUT_MS");
        delegate_error e = {};
        tap_is_int(delegate_connect(c, &e), 0, "connected to a fake broker that answers after 3 s");
        pid_t pid = fork();
        if (pid == 0) {
                struct sigaction sa = { .sa_handler = on_alarm }; /* no SA_RESTART */
                struct itimerval it = { .it_value = { .tv_usec = 100000 }, .it_interval = { .tv_usec = 100000 } };
                if (sigaction(SIGALRM, &sa, NULL) < 0 || setitimer(ITIMER_REAL, &it, NULL) < 0)
                        _exit(2);
                int r = delegate_ping(c, &e);
                _exit(r == -ETIMEDOUT && strstr(e.message, "within 1500 ms") ? 0 : r == 0 ? 3 : 4);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        tap_ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
               "a ping with a stale reply and SIGALRM every 100 ms times out at its 1.5 s (status 0x%x; 3: answered "
               "after 3 s)",
               status);
        delegate_ctx_free(c);
        fake_stop(&f);
#else
        tap_ok(1, "# SKIP the call's deadline needs a test build (-Dtest_hooks=true)");
#endif
}

/* The fake hangs up after each answer: the call after that fails, the next one connects afresh. */
static void test_fake_reconnect(void) {
        fake f = {
                .welcome = "{\"type\":\"welcome\",\"api\":1}",
                .reply_fmt = "{\"id\":%llu,\"ok\":true,\"result\":{}}",
                .reply_fd = -1,
                .rounds = 2,
        };
        fake_start(&f, "reconnect.sock");
        delegate_ctx *c = new_ctx(f.path, DELEGATE_MODE_BROKER);
        delegate_error e = {};
        tap_is_int(delegate_ping(c, &e), 0, "first ping");
        int r = delegate_ping(c, &e);
        tap_ok(r == -EPIPE || r == -ECONNRESET, "ping after the broker hung up fails (got %d: %s)", r, e.message);
        r = delegate_ping(c, &e);
        tap_is_int(r, 0, "the next ping connects afresh");
        delegate_ctx_free(c);
        fake_stop(&f);
        tap_is_int(f.accepted, 2, "... on a second connection");
}

/* The answer is lost with the connection: the reconnect resumes the session
 * with its token, and the same request goes again with the same id. */
static void test_fake_resume(void) {
        fake f = {
                .welcome = "{\"type\":\"welcome\",\"api\":1,\"session\":5,"
                           "\"resume_token\":\"00112233445566778899aabbccddeeff\"}",
                .welcome2 = "{\"type\":\"welcome\",\"api\":1,\"session\":5,\"resumed\":true,"
                            "\"resume_token\":\"00112233445566778899aabbccddeeff\"}",
                .reply_fmt = "{\"id\":%llu,\"ok\":true,\"result\":{}}",
                .reply_fd = -1,
                .rounds = 2,
                .drop_rounds = 1,
        };
        fake_start(&f, "resume.sock");
        delegate_ctx *c = new_ctx(f.path, DELEGATE_MODE_BROKER);
        delegate_error e = {};
        tap_is_int(delegate_ping(c, &e), -ECONNRESET, "the broker dies before answering (%s)", e.message);
        tap_ok(!delegate_ctx_resumed(c), "... nothing resumed yet");
        tap_is_int(delegate_ping(c, &e), 0, "the same call again, after a reconnect");
        tap_ok(delegate_ctx_resumed(c) && delegate_ctx_session(c) == 5, "... resumed session 5");
        delegate_ctx_free(c);
        fake_stop(&f);
        tap_has_str(f.hello, "\"resume\":{\"session\":5,\"token\":\"00112233445566778899aabbccddeeff\"}",
                    "the second hello asks to resume with the token");
        tap_ok(request_id(f.first_request) == 1 && request_id(f.request) == 1,
               "the retried request carries the same id (%" PRIu64 ", %" PRIu64 ")", request_id(f.first_request),
               request_id(f.request));
}

/* A broker that no longer holds the session: the context opens a new one, and ids move on. */
static void test_fake_resume_refused(void) {
        fake f = {
                .welcome = "{\"type\":\"welcome\",\"api\":1,\"session\":5,"
                           "\"resume_token\":\"00112233445566778899aabbccddeeff\"}",
                .welcome2 = "{\"type\":\"error\",\"code\":\"not-found\",\"errno\":2,"
                            "\"message\":\"session 5 cannot be resumed\"}",
                .reply_fmt = "{\"id\":%llu,\"ok\":true,\"result\":{}}",
                .reply_fd = -1,
                .rounds = 3,
                .drop_rounds = 1,
        };
        fake_start(&f, "refused.sock");
        delegate_ctx *c = new_ctx(f.path, DELEGATE_MODE_BROKER);
        delegate_error e = {};
        tap_is_int(delegate_ping(c, &e), -ECONNRESET, "the broker dies before answering");
        tap_is_int(delegate_ping(c, &e), 0, "the same call again: resume refused, a new session serves it (%s)",
                   e.message);
        tap_ok(!delegate_ctx_resumed(c), "... not resumed");
        delegate_ctx_free(c);
        fake_stop(&f);
        tap_is_int(f.accepted, 3, "three connections: the lost one, the refused resume, the new session");
        tap_ok(!strstr(f.hello, "\"resume\""), "the last hello does not ask to resume");
        tap_is_int(request_id(f.request), 2, "a new session: the request gets a new id");
}

static void test_fake_denied(void) {
        fake f = {
                .welcome = "{\"type\":\"welcome\",\"api\":1}",
                .reply_fmt = "{\"id\":%llu,\"ok\":false,\"error\":{\"code\":\"denied\",\"errno\":1,\"message\":\"m\",\"rule\":\"r\"}}",
                .reply_fd = -1,
        };
        fake_start(&f, "denied.sock");
        delegate_ctx *c = new_ctx(f.path, DELEGATE_MODE_BROKER);
        delegate_error e = {};
        delegate_memlock_result mr = { .soft = 5 };
        int r = delegate_memlock_set(c, 0, 4096, 8192, &mr, &e);
        tap_is_int(r, -EACCES, "memlock.set denied by the broker: -EACCES");
        tap_is_str(e.code, "denied", "... code denied");
        tap_is_str(e.rule, "r", "... rule r");
        tap_ok(streq(e.message, "m") && e.errno_value == 1, "... message m, errno 1");
        tap_ok(mr.soft == 5, "... result untouched");
        delegate_ctx_free(c);
        fake_stop(&f);
        _cleanup_json_ json_value *q = parse_or_null(f.request);
        const json_value *a = json_get(q, "args");
        uint64_t soft = 0, hard = 0;
        int64_t pid = -1;
        tap_ok(q && streq_ptr(json_str(q, "op"), "memlock.set") && json_to_i64(json_get(a, "pid"), &pid) == 0 &&
                       pid == 0 && json_to_u64(json_get(a, "soft"), &soft) == 0 && soft == 4096 &&
                       json_to_u64(json_get(a, "hard"), &hard) == 0 && hard == 8192 && a->object.n == 3,
               "request: op memlock.set, args pid 0, soft 4096, hard 8192 (%s)", f.request);
}

static void test_fake_success(void) {
        /* a memlock.set result through the broker */
        fake f = {
                .welcome = "{\"type\":\"welcome\",\"api\":1}",
                .reply_fmt = "{\"id\":%llu,\"ok\":true,\"result\":{\"pid\":0,\"soft\":4096,\"hard\":\"unlimited\","
                             "\"old\":{\"soft\":\"64K\",\"hard\":65536}}}",
                .reply_fd = -1,
        };
        fake_start(&f, "ok.sock");
        delegate_ctx *c = new_ctx(f.path, DELEGATE_MODE_BROKER);
        delegate_error e = {};
        delegate_memlock_result mr = {};
        int r = delegate_memlock_set(c, 0, 4096, DELEGATE_LIMIT_INFINITY, &mr, &e);
        tap_ok(r == 0 && mr.route == DELEGATE_ROUTE_BROKER && mr.soft == 4096 && mr.hard == DELEGATE_LIMIT_INFINITY &&
                       mr.old_soft == 65536 && mr.old_hard == 65536,
               "memlock.set through the broker: route BROKER, result parsed");
        delegate_ctx_free(c);
        fake_stop(&f);

        /* a stale answer is skipped; the real one carries an fd */
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                unit_bail("pipe2: %m");
        fake g = {
                .welcome = "{\"type\":\"welcome\",\"api\":1}",
                .stale = "{\"id\":999,\"ok\":false,\"error\":{\"code\":\"denied\",\"message\":\"stale\"}}",
                .reply_fmt = "{\"id\":%llu,\"ok\":true,\"result\":{\"x\":[1,\"two\"]}}",
                .reply_fd = p[1],
        };
        fake_start(&g, "fd.sock");
        c = new_ctx(g.path, DELEGATE_MODE_AUTO);
        int fds[2] = { -1, -1 };
        size_t n_fds = 0;
        delegate_route route = 0;
        char *res = NULL;
        r = delegate_call(c, "state.get", NULL, &res, fds, 2, &n_fds, &route, &e);
        tap_ok(r == 0 && route == DELEGATE_ROUTE_BROKER, "state.get through the broker, stale answer skipped");
        if (r < 0)
                tap_diag("  %s: %s", e.code, e.message);
        tap_is_str(res, "{\"x\":[1,\"two\"]}", "... result passed back as JSON text");
        struct stat a, b;
        int fl = n_fds == 1 ? fcntl(fds[0], F_GETFD) : -1;
        tap_ok(n_fds == 1 && fl >= 0 && (fl & FD_CLOEXEC) && fstat(fds[0], &a) == 0 && fstat(p[1], &b) == 0 &&
                       a.st_ino == b.st_ino && a.st_dev == b.st_dev,
               "... one fd received, O_CLOEXEC, the one sent");
        if (n_fds == 1)
                close(fds[0]);
        delegate_free_string(res);
        delegate_ctx_free(c);
        fake_stop(&g);

        /* an fd the caller does not take is closed, not leaked */
        int before = unit_count_fds();
        fake h = {
                .welcome = "{\"type\":\"welcome\",\"api\":1}",
                .reply_fmt = "{\"id\":%llu,\"ok\":true}",
                .reply_fd = p[1],
        };
        fake_start(&h, "fd0.sock");
        c = new_ctx(h.path, DELEGATE_MODE_BROKER);
        r = delegate_call(c, "state.get", NULL, NULL, NULL, 0, NULL, NULL, &e);
        tap_ok(r == -ETOOMANYREFS && streq(e.code, "local"), "a reply with an fd the caller does not take: -ETOOMANYREFS");
        delegate_ctx_free(c);
        fake_stop(&h);
        tap_is_int(unit_count_fds(), before, "... and the fd is closed");
        close(p[0]);
        close(p[1]);
}

/*
 * The request as the broker reads it: an op name that needs escaping (quote, backslash, control
 * character, non-ASCII) arrives as it was given, args with blanks and escapes arrive equal to what
 * the caller wrote, one long enough not to fit the library's stack buffer too.
 */
static void test_fake_request_text(void) {
        static const char *const ops[] = { "state.get", "we\"ird\\op\t\xc3\xa9", "ping" };
        char big[1200];
        int n = snprintf(big, sizeof(big), "{ \"pad\" :\n \"");
        while (n < (int) sizeof(big) - 16)
                big[n++] = 'p';
        snprintf(big + n, sizeof(big) - n, "\" }");
        const char *const args[] = { "{ \"a\" : [ 1 , \"x\\u00e9\\n\" ] ,\n \"b\":{} }", NULL, big };
        for (size_t i = 0; i < ELEMENTSOF(ops); i++) {
                fake f = {
                        .welcome = "{\"type\":\"welcome\",\"api\":1}",
                        .reply_fmt = "{\"id\":%llu,\"ok\":true,\"result\":{}}",
                        .reply_fd = -1,
                };
                fake_start(&f, "text.sock");
                delegate_ctx *c = new_ctx(f.path, DELEGATE_MODE_BROKER);
                delegate_error e = {};
                int r = delegate_call(c, ops[i], args[i], NULL, NULL, 0, NULL, NULL, &e);
                delegate_ctx_free(c);
                fake_stop(&f);
                _cleanup_json_ json_value *q = parse_or_null(f.request);
                _cleanup_json_ json_value *want = args[i] ? parse_or_null(args[i]) : NULL;
                const json_value *got = json_get(q, "args");
                uint64_t id = 0;
                tap_ok(r == 0 && streq_ptr(json_str(q, "op"), ops[i]) && json_to_u64(json_get(q, "id"), &id) == 0 &&
                               id == 1 && (args[i] ? json_tree_equal(got, want, true) : !got) &&
                               q->object.n == (args[i] ? 3u : 2u),
                       "request %zu: op and args as given", i);
                if (!q)
                        tap_diag("  the broker read: %s", f.request);
        }
}

int main(void) {
        unit_tmpdir(tmpdir, sizeof(tmpdir), "test-client");
        char nosocket[300];
        snprintf(nosocket, sizeof(nosocket), "%s/nobody-here.sock", tmpdir);

        test_api_version();
        test_handlers(nosocket);
        test_local(nosocket);
        test_no_broker(nosocket);
        test_fake_api_mismatch();
        test_fake_ping();
        test_fake_reconnect();
        test_fake_wait();
        test_fake_deadline();
        test_fake_resume();
        test_fake_resume_refused();
        test_fake_denied();
        test_fake_success();
        test_fake_request_text();
        test_local_only(); /* last: may lower the hard limit for good */

        rmdir(tmpdir);
        return tap_done();
}
