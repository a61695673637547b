/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-bus.c - the D-Bus interface org.delegate.Broker1 on
 * /org/delegate/Broker1, on the same sd-event loop as the socket.  The
 * only file that touches sd-bus.  API: delegate-broker(8), "D-BUS".
 *
 * Every method identifies its caller with sd_bus_query_sender_creds()
 * (uid, gid, pid; cgroup from /proc/PID/cgroup) and asks the policy, with
 * via "dbus": management methods as the operations manage.*, privileged
 * operations through request_dispatch(), exactly as a socket request.
 *
 * The bus may be missing or go away: the broker then says so once, keeps
 * serving its socket, and tries again every BUS_RETRY_USEC.
 */
#include <inttypes.h>
#include <stdio.h>
#include <syslog.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>

#include "broker-op.h"
#include "broker.h"
#include "config.h"
#include "proc.h"
#include "size.h"

#define BUS_NAME "org.delegate.Broker1"
#define BUS_PATH "/org/delegate/Broker1"
#define BUS_IFACE "org.delegate.Broker1"
#define BUS_ERROR_DENIED BUS_IFACE ".Error.Denied"
#define BUS_ERROR_NO_SESSION BUS_IFACE ".Error.NoSuchSession"
#define BUS_ERROR_POLICY BUS_IFACE ".Error.PolicyInvalid"
#define BUS_RETRY_USEC (5 * 1000000ULL)

struct bus_state {
        broker *b;
        char *address;
        sd_bus *bus;
        sd_event_source *retry;
        bool complained; /* the current outage has been reported */
};

static inline void bus_unrefp(sd_bus **p) {
        sd_bus_flush_close_unref(*p);
}
static inline void bus_creds_unrefp(sd_bus_creds **p) {
        sd_bus_creds_unref(*p);
}
static inline void bus_message_unrefp(sd_bus_message **p) {
        sd_bus_message_unref(*p);
}
static inline void callerp(caller *w) {
        caller_clear(w);
}

/* --- who is calling --- */

/* The caller of @m, as the policy sees it (via dbus, no session yet). */
static int bus_caller(sd_bus_message *m, caller *ret, sd_bus_error *error) {
        _cleanup_(bus_creds_unrefp) sd_bus_creds *creds = NULL;
        uid_t uid;
        gid_t gid;
        pid_t pid;
        int r = sd_bus_query_sender_creds(m, SD_BUS_CREDS_PID | SD_BUS_CREDS_EUID | SD_BUS_CREDS_EGID |
                                                     SD_BUS_CREDS_AUGMENT, &creds);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "cannot identify the caller: %s", strerror(-r));
        if (sd_bus_creds_get_euid(creds, &uid) < 0 || sd_bus_creds_get_pid(creds, &pid) < 0)
                return sd_bus_error_set(error, SD_BUS_ERROR_ACCESS_DENIED,
                                        "the bus did not say which user and process is calling");
        if (sd_bus_creds_get_egid(creds, &gid) < 0) {
                proc_creds cr;
                if (proc_creds_read(pid, &cr) < 0)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED, "caller pid %d is gone",
                                                 (int) pid);
                gid = cr.gid[1];
        }
        caller w = { .via_bus = true, .uid = uid, .gid = gid, .pid = pid };
        const char *sender = sd_bus_message_get_sender(m);
        r = proc_cgroup(pid, &w.cgroup);
        if (r < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED, "cannot read the cgroup of caller pid %d: %s",
                                         (int) pid, strerror(-r));
        if (!(w.name = strdup(sender ? sender : ""))) {
                caller_clear(&w);
                return -ENOMEM;
        }
        *ret = w;
        return 0;
}

/* Ask the policy whether @who may do the management action @op; audit it. */
static int authorize(broker *b, const caller *who, const op_desc *op, sd_bus_error *error) {
        policy_subject s = caller_subject(who);
        policy_decision d;
        policy_decide_parsed(b->policy, &s, op, NULL, &d, NULL, NULL);
        audit_decision(b, who, op, NULL, &d);
        if (!d.allowed)
                return sd_bus_error_setf(error, BUS_ERROR_DENIED, "%s: %s (rule '%s')", op->name, d.reason,
                                         d.rule ? d.rule->name : "(default deny)");
        return 0;
}

/* The caller of @m, allowed to do @op, or an error reply. */
static int caller_may(sd_bus_message *m, broker *b, const op_desc *op, caller *ret, sd_bus_error *error) {
        int r = bus_caller(m, ret, error);
        if (r < 0)
                return r;
        r = authorize(b, ret, op, error);
        if (r < 0)
                caller_clear(ret);
        return r;
}

static int find_session(broker *b, const char *id, client **ret, sd_bus_error *error) {
        *ret = NULL; /* on error too: the compiler cannot see that sd_bus_error_setf() returns < 0 */
        if (!*id || strspn(id, "0123456789") != strlen(id) || strlen(id) > 19)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "session id '%.64s' is not a session number (see ListSessions)", id);
        client *c = session_find(b, id);
        if (!c)
                return sd_bus_error_setf(error, BUS_ERROR_NO_SESSION, "no session '%s'", id);
        *ret = c;
        return 0;
}

/* --- sessions --- */

static int append_counts(sd_bus_message *reply, const client *c) {
        int r = sd_bus_message_open_container(reply, 'a', "{st}");
        if (r >= 0)
                r = sd_bus_message_append(reply, "{st}{st}", "allowed", c->n_allowed, "denied", c->n_denied);
        SESSION_HOOKS_FOREACH(h)
                if (r >= 0)
                        r = sd_bus_message_append(reply, "{st}", h->name, (uint64_t) h->count(c));
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        return r;
}

static int method_list_sessions(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        broker *b = userdata;
        _cleanup_(callerp) caller who = {};
        _cleanup_(bus_message_unrefp) sd_bus_message *reply = NULL;
        int r = caller_may(m, b, &op_manage_inspect, &who, error);
        if (r < 0)
                return r;
        r = sd_bus_message_new_method_return(m, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "(ssuusa{st})");
        for (client *c = b->clients; r >= 0 && c; c = c->next) {
                if (!c->welcomed || c->dead)
                        continue;
                char id[24];
                snprintf(id, sizeof(id), "%" PRIu64, c->session);
                r = sd_bus_message_open_container(reply, 'r', "ssuusa{st}");
                if (r >= 0)
                        r = sd_bus_message_append(reply, "ssuus", id, c->vm ? c->vm : "", (uint32_t) c->cred.pid,
                                                  (uint32_t) c->cred.uid, c->cgroup);
                if (r >= 0)
                        r = append_counts(reply, c);
                if (r >= 0)
                        r = sd_bus_message_close_container(reply);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_get_session(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        broker *b = userdata;
        _cleanup_(callerp) caller who = {};
        _cleanup_(bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_json_gen_ json_gen *g = NULL;
        _cleanup_free_ char *state = NULL;
        const char *id;
        client *c;
        int r = sd_bus_message_read(m, "s", &id);
        if (r < 0)
                return r;
        r = caller_may(m, b, &op_manage_inspect, &who, error);
        if (r < 0)
                return r;
        r = find_session(b, id, &c, error);
        if (r < 0)
                return r;
        if (!(g = json_gen_new()))
                return -ENOMEM;
        session_state_gen(c, g);
        r = json_gen_take(g, &state, NULL);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "cannot write the reply: %s", strerror(-r));
        r = sd_bus_message_new_method_return(m, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "{sv}");
        if (r >= 0)
                r = sd_bus_message_append(reply, "{sv}{sv}{sv}{sv}{sv}{sv}{sv}{sv}{sv}{sv}", "Id", "s", id, "Client",
                                          "s", c->name ? c->name : "", "Vm", "s", c->vm ? c->vm : "", "Pid", "u",
                                          (uint32_t) c->cred.pid, "Uid", "u", (uint32_t) c->cred.uid, "Gid", "u",
                                          (uint32_t) c->cred.gid, "Cgroup", "s", c->cgroup, "Allowed", "t",
                                          c->n_allowed, "Denied", "t", c->n_denied, "State", "s", state);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'e', "sv");
        if (r >= 0)
                r = sd_bus_message_append(reply, "s", "Delegated");
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'v', "a{st}");
        if (r >= 0)
                r = append_counts(reply, c);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_revoke_session(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        broker *b = userdata;
        _cleanup_(callerp) caller who = {};
        const char *id;
        client *c;
        char by[128];
        int r = sd_bus_message_read(m, "s", &id);
        if (r < 0)
                return r;
        r = caller_may(m, b, &op_manage_revoke, &who, error);
        if (r < 0)
                return r;
        r = find_session(b, id, &c, error);
        if (r < 0)
                return r;
        snprintf(by, sizeof(by), "D-Bus caller %s (uid %u, pid %d)", who.name, (unsigned) who.uid, (int) who.pid);
        session_revoke(c, by);
        return sd_bus_reply_method_return(m, NULL);
}

/* --- policy --- */

static int method_reload_policy(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        broker *b = userdata;
        _cleanup_(callerp) caller who = {};
        char msg[1100];
        int r = bus_caller(m, &who, error);
        if (r < 0)
                return r;
        if (who.uid == 0) {
                /* root may send SIGHUP anyway: no rule needed (systemctl reload runs
                 * "delegatectl reload" as root, and must work with any policy) */
                policy_decision d = { .allowed = true };
                snprintf(d.reason, sizeof(d.reason), "uid 0 may always reload (as with SIGHUP)");
                audit_decision(b, &who, &op_manage_reload, NULL, &d);
        } else if ((r = authorize(b, &who, &op_manage_reload, error)) < 0)
                return r;
        log_msg(b, LOG_INFO, "D-Bus caller %s (uid %u): reloading policy from '%s'", who.name, (unsigned) who.uid,
                b->policy_dir);
        if (broker_policy_reload(b, msg, sizeof(msg)) < 0)
                return sd_bus_error_setf(error, BUS_ERROR_POLICY, "%s; generation %" PRIu64 " stays in force", msg,
                                         b->policy_generation);
        return sd_bus_reply_method_return(m, "t", b->policy_generation);
}

/* Read the Evaluate subject a{sv}: uid and cgroup required. */
int bus_read_subject(sd_bus_message *m, policy_subject *s, sd_bus_error *error) {
        bool have_uid = false, have_gid = false;
        int r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *key, *contents, *str;
                r = sd_bus_message_read(m, "s", &key);
                if (r < 0)
                        return r;
                r = sd_bus_message_peek_type(m, NULL, &contents);
                if (r < 0)
                        return r;
                bool is_u = streq(contents, "u"), is_s = streq(contents, "s");
                if (streq(key, "uid") || streq(key, "gid")) {
                        uint32_t v;
                        if (!is_u)
                                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                         "subject '%s' must be a 'u', not '%s'", key, contents);
                        r = sd_bus_message_read(m, "v", "u", &v);
                        if (r < 0)
                                return r;
                        if (streq(key, "uid"))
                                s->uid = v, have_uid = true;
                        else
                                s->gid = v, have_gid = true;
                } else if (streq(key, "cgroup") || streq(key, "vm") || streq(key, "via")) {
                        if (!is_s)
                                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                         "subject '%s' must be an 's', not '%s'", key, contents);
                        r = sd_bus_message_read(m, "v", "s", &str);
                        if (r < 0)
                                return r;
                        if (streq(key, "cgroup")) {
                                if (str[0] != '/')
                                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                                 "subject cgroup '%.200s' must start with '/'", str);
                                s->cgroup = str;
                        } else if (streq(key, "vm")) {
                                if (*str && !vm_name_valid(str))
                                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                                 "subject vm '%.64s' is not a VM name "
                                                                 "(1-253 characters of [A-Za-z0-9._-])", str);
                                s->vm = str;
                        } else if (policy_via_from_name(str, &s->via) < 0)
                                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                         "subject via '%.64s' must be 'socket', 'dbus' or 'seccomp'", str);
                } else
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                 "unknown subject key '%.64s' (allowed: uid, gid, cgroup, vm, via)",
                                                 key);
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;
        if (!have_uid || !s->cgroup)
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS,
                                        "the subject needs at least 'uid' (u) and 'cgroup' (s)");
        if (!have_gid)
                s->gid = s->uid;
        return 0;
}

static int method_evaluate(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        broker *b = userdata;
        _cleanup_(callerp) caller who = {};
        _cleanup_json_ json_value *args = NULL;
        const char *op, *args_text;
        policy_subject s = { .vm = "" };
        policy_decision d;
        char msg[512];
        int r = sd_bus_message_read(m, "ss", &op, &args_text);
        if (r < 0)
                return r;
        r = bus_read_subject(m, &s, error);
        if (r < 0)
                return r;
        r = bus_args_json(args_text, &args, error);
        if (r < 0)
                return r;
        r = caller_may(m, b, &op_manage_evaluate, &who, error);
        if (r < 0)
                return r;
        r = policy_decide(b->policy, &s, op, args, &d, msg, sizeof(msg), NULL, NULL);
        if (r < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "%s", msg);
        const char *rule = d.rule ? d.rule->name : d.allowed ? "(no policy needed)" : "(default deny)";
        return sd_bus_reply_method_return(m, "bss", d.allowed, rule, d.reason);
}

/* --- operations: each broker_op with a D-Bus method (broker-op.h) --- */

/* D-Bus error names for the protocol's error codes. */
static const char *error_name(err_code code, int errno_value) {
        switch (code) {
        case ERR_BAD_REQUEST:
                return errno_value == EOPNOTSUPP ? SD_BUS_ERROR_NOT_SUPPORTED : SD_BUS_ERROR_INVALID_ARGS;
        case ERR_DENIED:
                return BUS_ERROR_DENIED;
        case ERR_NOT_FOUND:
                return BUS_IFACE ".Error.NotFound";
        case ERR_EXISTS:
                return BUS_IFACE ".Error.Exists";
        case ERR_TOO_LARGE:
                return BUS_IFACE ".Error.TooLarge";
        case ERR_RATE_LIMITED:
                return BUS_IFACE ".Error.RateLimited";
        case ERR_UNSUPPORTED:
                return SD_BUS_ERROR_NOT_SUPPORTED;
        default:
                return BUS_IFACE ".Error.System";
        }
}

static void op_reply(request *req, const reply_info *ri) {
        sd_bus_message *call = req->origin_data;
        const broker_bus_method *o = req->bop ? req->bop->bus : NULL;
        int r;
        if (ri->ok && o) {
                _cleanup_json_ json_value *res = NULL;
                json_parse_error je;
                r = json_parse(ri->result_json, strlen(ri->result_json), false, &res, &je);
                if (r >= 0)
                        r = (o->reply ? o->reply : bus_reply_json)(call, res);
        } else if (ri->ok)
                r = -EPROTO;
        else {
                _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
                const op_error *oe = ri->error;
                if (oe->code == ERR_DENIED)
                        sd_bus_error_setf(&e, BUS_ERROR_DENIED, "%s (rule '%s')", oe->message,
                                          oe->rule[0] ? oe->rule : "(default deny)");
                else if (oe->code == ERR_SYSTEM)
                        sd_bus_error_setf(&e, error_name(oe->code, oe->errno_value), "%s (errno %d)", oe->message,
                                          oe->errno_value);
                else
                        sd_bus_error_setf(&e, error_name(oe->code, oe->errno_value), "%s", oe->message);
                r = sd_bus_reply_method_error(call, &e);
        }
        if (r < 0)
                log_msg(req->b, LOG_DEBUG, "cannot answer D-Bus %s: %s", req->op, strerror(-r));
}

static void op_release(request *req) {
        req->origin_data = sd_bus_message_unref(req->origin_data);
}

static const request_origin bus_origin = { .reply = op_reply, .release = op_release };

/*
 * A privileged operation: (s session, ...).  session "" acts for the caller
 * itself (targets: the caller and its descendants); a session id acts for
 * that session's launcher (its processes, its VM name, its counts).
 */
static int method_op(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        broker *b = userdata;
        const char *member = sd_bus_message_get_member(m), *session;
        const broker_op *o = NULL;
        json_value *args = NULL;
        client *c = NULL;
        size_t n;
        const broker_op *const *all = broker_op_registry(&n);
        for (size_t i = 0; i < n && !o; i++)
                if (all[i]->bus && streq(all[i]->bus->member, member))
                        o = all[i];
        if (!o)
                return sd_bus_error_setf(error, SD_BUS_ERROR_UNKNOWN_METHOD, "no method '%s'", member);
        int r = sd_bus_message_read(m, "s", &session);
        if (r < 0)
                return r;
        if (*session && (r = find_session(b, session, &c, error)) < 0)
                return r;
        r = (o->bus->args ? o->bus->args : bus_read_json_args)(m, &args, error);
        if (r < 0)
                return r;
        request *req = request_new(b, &bus_origin);
        if (!req) {
                json_free(args);
                return -ENOMEM;
        }
        req->args = args;
        r = bus_caller(m, &req->who, error);
        if (r < 0)
                goto fail;
        if (!(req->op = strdup(o->op->name))) {
                r = -ENOMEM;
                goto fail;
        }
        if (c) {
                free(req->who.vm);
                if (c->vm && !(req->who.vm = strdup(c->vm))) {
                        r = -ENOMEM;
                        goto fail;
                }
                req->who.session = c->session;
                req->c = c;
                req->peer = client_peer(c);
                req->next = c->acting;
                c->acting = req;
        } else {
                op_error err;
                r = peer_from_pid(req->who.pid, req->who.uid, req->who.gid, &req->peer, &req->own_pidfd,
                                  &req->own_cgroup, &err);
                if (r < 0) {
                        r = sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED, "%s", err.message);
                        goto fail;
                }
        }
        req->has_peer = true;
        req->origin_data = sd_bus_message_ref(m);
        request_dispatch(req); /* answers now or later, and frees req */
        return 1;
fail:
        request_free(req);
        return r;
}

/* --- properties --- */

static int prop_api(sd_bus *bus, const char *path, const char *iface, const char *property, sd_bus_message *reply,
                    void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "u", (uint32_t) DELEGATE_API_VERSION);
}

static int prop_generation(sd_bus *bus, const char *path, const char *iface, const char *property,
                           sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        broker *b = userdata;
        return sd_bus_message_append(reply, "t", b->policy_generation);
}

static int prop_sessions(sd_bus *bus, const char *path, const char *iface, const char *property,
                         sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        broker *b = userdata;
        return sd_bus_message_append(reply, "u", (uint32_t) session_count(b));
}

/* The interface: the broker's own members, then a method per operation that has one. */
static const sd_bus_vtable vtable_head[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("ApiVersion", "u", prop_api, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("PolicyGeneration", "t", prop_generation, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("SessionCount", "u", prop_sessions, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_METHOD_WITH_ARGS("ListSessions", SD_BUS_NO_ARGS, SD_BUS_RESULT("a(ssuusa{st})", sessions),
                                method_list_sessions, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetSession", SD_BUS_ARGS("s", id), SD_BUS_RESULT("a{sv}", state), method_get_session,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Evaluate", SD_BUS_ARGS("s", op, "s", args_json, "a{sv}", subject),
                                SD_BUS_RESULT("b", allowed, "s", rule, "s", reason), method_evaluate,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ReloadPolicy", SD_BUS_NO_ARGS, SD_BUS_RESULT("t", generation), method_reload_policy,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("RevokeSession", SD_BUS_ARGS("s", id), SD_BUS_NO_RESULT, method_revoke_session,
                                SD_BUS_VTABLE_UNPRIVILEGED),
};

static const sd_bus_vtable vtable_tail[] = {
        SD_BUS_SIGNAL_WITH_ARGS("SessionOpened", SD_BUS_ARGS("s", id, "s", vm, "u", pid, "u", uid, "s", cgroup), 0),
        SD_BUS_SIGNAL_WITH_ARGS("SessionClosed", SD_BUS_ARGS("s", id, "s", vm, "s", reason), 0),
        SD_BUS_SIGNAL_WITH_ARGS("Decision",
                                SD_BUS_ARGS("s", op, "a{sv}", subject, "b", allowed, "s", rule, "s", reason), 0),
        SD_BUS_VTABLE_END,
};

/* Built once from the registry: sd-bus keeps pointing at it. */
static sd_bus_vtable *broker_vtable(void) {
        static sd_bus_vtable *vt;
        size_t n, k = 0;
        const broker_op *const *all = broker_op_registry(&n);
        if (vt)
                return vt;
        vt = calloc(ELEMENTSOF(vtable_head) + n + ELEMENTSOF(vtable_tail), sizeof(sd_bus_vtable));
        if (!vt)
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(vtable_head); i++)
                vt[k++] = vtable_head[i];
        for (size_t i = 0; i < n; i++) {
                const broker_bus_method *m = all[i]->bus;
                if (m)
                        vt[k++] = (sd_bus_vtable) SD_BUS_METHOD_WITH_NAMES_OFFSET(
                                m->member, m->signature, "", m->result, "", method_op, 0, SD_BUS_VTABLE_UNPRIVILEGED);
                if (m) /* the names are one NUL-separated list: arguments, then results */
                        vt[k - 1].x.method.names = m->names;
        }
        for (size_t i = 0; i < ELEMENTSOF(vtable_tail); i++)
                vt[k++] = vtable_tail[i];
        return vt;
}

/* --- signals: the D-Bus sink of broker-log.h --- */

static sd_bus *live_bus(bus_state *s) {
        return s->bus && sd_bus_is_open(s->bus) > 0 ? s->bus : NULL;
}

static void emit_session_opened(void *userdata, const log_session *e) {
        sd_bus *bus = live_bus(userdata);
        char id[24];
        if (!bus)
                return;
        snprintf(id, sizeof(id), "%" PRIu64, e->session);
        sd_bus_emit_signal(bus, BUS_PATH, BUS_IFACE, "SessionOpened", "ssuus", id, e->vm ? e->vm : "",
                           (uint32_t) e->pid, (uint32_t) e->uid, e->cgroup ? e->cgroup : "");
        sd_bus_emit_properties_changed(bus, BUS_PATH, BUS_IFACE, "SessionCount", NULL);
}

static void emit_session_closed(void *userdata, const log_session *e) {
        sd_bus *bus = live_bus(userdata);
        char id[24];
        if (!bus)
                return;
        snprintf(id, sizeof(id), "%" PRIu64, e->session);
        sd_bus_emit_signal(bus, BUS_PATH, BUS_IFACE, "SessionClosed", "sss", id, e->vm ? e->vm : "", e->reason);
        sd_bus_emit_properties_changed(bus, BUS_PATH, BUS_IFACE, "SessionCount", NULL);
}

static void emit_decision(void *userdata, const log_decision *d) {
        sd_bus *bus = live_bus(userdata);
        /* a ping or state.get is signalled, as journaled, only at debug level (the session counts it):
         * log_decision_emit() hands a sink no other */
        if (!bus)
                return;
        sd_bus_emit_signal(bus, BUS_PATH, BUS_IFACE, "Decision", "sa{sv}bss", d->op, 7, "via", "s", d->via, "uid",
                           "u", (uint32_t) d->uid, "gid", "u", (uint32_t) d->gid, "pid", "u", (uint32_t) d->pid,
                           "cgroup", "s", d->cgroup ? d->cgroup : "", "vm", "s", d->vm ? d->vm : "", "session", "t",
                           d->session, d->allowed, d->rule, d->reason);
}

static void emit_policy_changed(void *userdata, _unused_ uint64_t generation) {
        sd_bus *bus = live_bus(userdata);
        if (bus)
                sd_bus_emit_properties_changed(bus, BUS_PATH, BUS_IFACE, "PolicyGeneration", NULL);
}

static const log_sink bus_sink = {
        .decision = emit_decision,
        .session_opened = emit_session_opened,
        .session_closed = emit_session_closed,
        .policy_changed = emit_policy_changed,
};

/* --- connection, and retries --- */

static int bus_connect(bus_state *s);

static void retry_later(bus_state *s, uint64_t usec);

static int on_retry(sd_event_source *es, uint64_t usec, void *userdata) {
        bus_state *s = userdata;
        s->retry = sd_event_source_disable_unref(s->retry);
        if (s->bus) { /* the dead connection */
                sd_bus_detach_event(s->bus);
                s->bus = sd_bus_flush_close_unref(s->bus);
        }
        int r = bus_connect(s);
        if (r < 0) {
                if (!s->complained)
                        log_msg(s->b, LOG_WARNING,
                                "D-Bus at '%s' is not reachable (%s); serving the socket only, retrying every %d s",
                                s->address, strerror(-r), (int) (BUS_RETRY_USEC / 1000000));
                s->complained = true;
                retry_later(s, BUS_RETRY_USEC);
        }
        return 0;
}

static void retry_later(bus_state *s, uint64_t usec) {
        s->retry = sd_event_source_disable_unref(s->retry);
        if (sd_event_add_time_relative(s->b->event, &s->retry, CLOCK_MONOTONIC, usec, 0, on_retry, s) < 0)
                log_msg(s->b, LOG_ERR, "cannot arm the D-Bus retry timer; D-Bus stays off");
}

/* A method call of our interface over its caller's rate: answered here (1), else 0. */
static int rate_limited(broker *b, sd_bus_message *m) {
        _cleanup_(bus_creds_unrefp) sd_bus_creds *creds = NULL;
        uid_t uid;
        uint64_t retry_ms;
        if (!sd_bus_message_is_method_call(m, BUS_IFACE, NULL))
                return 0;
        if (sd_bus_query_sender_creds(m, SD_BUS_CREDS_EUID, &creds) < 0 || sd_bus_creds_get_euid(creds, &uid) < 0)
                return 0; /* bus_caller() refuses it with the reason */
        if (limits_rate_take_uid(b, uid, &retry_ms))
                return 0;
        sd_bus_reply_method_errorf(m, BUS_IFACE ".Error.RateLimited",
                                   "uid %u: more than %u calls per second (burst %u); not carried out, retry after "
                                   "%" PRIu64 " ms",
                                   (unsigned) uid, b->limits.rate, b->limits.burst, retry_ms);
        return 1;
}

/* Every incoming message passes here first: the rate limit; notice a lost connection. */
static int on_bus_message(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        bus_state *s = userdata;
        if (rate_limited(s->b, m))
                return 1;
        if (!sd_bus_message_is_signal(m, "org.freedesktop.DBus.Local", "Disconnected"))
                return 0;
        if (!s->complained)
                log_msg(s->b, LOG_WARNING, "lost the D-Bus connection to '%s'; serving the socket only, retrying",
                        s->address);
        s->complained = true;
        retry_later(s, 0); /* drop the dead bus outside its own dispatch */
        return 1;
}

static int on_name(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        bus_state *s = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);
        if (e) {
                log_msg(s->b, LOG_ERR, "cannot own the D-Bus name " BUS_NAME " on '%s': %s", s->address, e->message);
                return 0;
        }
        s->complained = false;
        log_msg(s->b, LOG_INFO, "D-Bus: serving " BUS_NAME " on '%s'", s->address);
        broker_notify_ready(s->b);
        return 0;
}

static int bus_connect(bus_state *s) {
        _cleanup_(bus_unrefp) sd_bus *bus = NULL;
        int r = sd_bus_new(&bus);
        if (r >= 0)
                r = sd_bus_set_address(bus, s->address);
        if (r >= 0)
                r = sd_bus_set_bus_client(bus, true);
        /* no method takes an fd, and the last close of one could wait (broker-closer.c): dbus-daemon refuses to
         * pass one to a connection that did not negotiate them */
        if (r >= 0)
                r = sd_bus_negotiate_fds(bus, false);
        if (r >= 0)
                r = sd_bus_set_description(bus, "delegate-broker");
        if (r >= 0)
                r = sd_bus_start(bus);
        if (r >= 0)
                r = sd_bus_add_filter(bus, NULL, on_bus_message, s);
        if (r >= 0)
                r = broker_vtable() ? sd_bus_add_object_vtable(bus, NULL, BUS_PATH, BUS_IFACE, broker_vtable(), s->b)
                                    : -ENOMEM;
        if (r >= 0)
                r = sd_bus_request_name_async(bus, NULL, BUS_NAME, 0, on_name, s);
        if (r >= 0)
                r = sd_bus_attach_event(bus, s->b->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return r;
        s->bus = TAKE_PTR(bus);
        return 0;
}

static int resolve_address(const char *spec, char **ret) {
        const char *e;
        if (streq(spec, "system")) {
                e = getenv("DBUS_SYSTEM_BUS_ADDRESS");
                *ret = strdup(e && *e ? e : "unix:path=/run/dbus/system_bus_socket");
        } else if (streq(spec, "session")) {
                e = getenv("DBUS_SESSION_BUS_ADDRESS");
                if (e && *e)
                        *ret = strdup(e);
                else if ((e = getenv("XDG_RUNTIME_DIR")) && *e) {
                        if (asprintf(ret, "unix:path=%s/bus", e) < 0)
                                *ret = NULL;
                } else
                        return -ENXIO;
        } else if (strchr(spec, ':'))
                *ret = strdup(spec);
        else
                return -EINVAL;
        return *ret ? 0 : -ENOMEM;
}

int bus_setup(broker *b, const char *spec) {
        _cleanup_free_ char *address = NULL;
        if (streq(spec, "none"))
                return 0;
        int r = resolve_address(spec, &address);
        if (r == -ENXIO) {
                log_msg(b, LOG_ERR, "--bus session: neither $DBUS_SESSION_BUS_ADDRESS nor $XDG_RUNTIME_DIR is set");
                return r;
        }
        if (r == -EINVAL) {
                log_msg(b, LOG_ERR, "--bus '%s' is none of system, session, none or a D-Bus address "
                                    "(like unix:path=/run/dbus/system_bus_socket)", spec);
                return r;
        }
        if (r < 0)
                return r;
        bus_state *s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->b = b;
        s->address = TAKE_PTR(address);
        r = log_sink_add(&bus_sink, s);
        if (r < 0) {
                free(s->address);
                free(s);
                return r;
        }
        b->bus = s;
        on_retry(NULL, 0, s); /* the first attempt, now */
        return 0;
}

bool bus_write_queued(broker *b) {
        uint64_t n = 0;
        return b->bus && b->bus->bus && sd_bus_get_n_queued_write(b->bus->bus, &n) >= 0 && n > 0;
}

void bus_free(broker *b) {
        bus_state *s = b->bus;
        if (!s)
                return;
        log_sink_remove(&bus_sink, s);
        sd_event_source_disable_unref(s->retry);
        if (s->bus)
                sd_bus_detach_event(s->bus);
        sd_bus_flush_close_unref(s->bus);
        free(s->address);
        free(s);
        b->bus = NULL;
}

/* Here, not in the server: the bus calls it once its name is ours, and the server is above the bus. */
void broker_notify_ready(broker *b) {
        if (b->ready_sent)
                return;
        b->ready_sent = true;
        sd_notify(false, b->bus ? "READY=1\nSTATUS=serving the socket and org.delegate.Broker1"
                                : "READY=1\nSTATUS=serving the socket");
}
