/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-dbus - functional scenarios of the D-Bus interface: a private
 * dbus-daemon (tests/functional/dbus-test.conf, which includes the shipped
 * bus policy) in the scenario's private /run, the broker restarted with
 * --bus on it, the scenario process as the root orchestrator, and
 * unprivileged callers in forked children.  Assertions read the kernel
 * (/proc/PID/limits) where something is acted on.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <systemd/sd-bus.h>
#include <time.h>
#include <unistd.h>

#include "bus-scenario.h"
#include "harness.h"

#define H harness_hard
#define KEEP (UINT64_MAX - 1)

static const char policy_bus[] =
        "{ \"version\": 1,\n"
        "  \"rules\": [\n"
        "    { \"name\": \"pod-launchers\",\n"
        "      \"match\": { \"uid\": \"1000-1999\", \"cgroup\": \"/kubepods.slice/*\", \"vm\": \"vm-*\",\n"
        "                 \"via\": \"socket\" },\n"
        "      \"memlock\": { \"max\": \"1G\" } },\n"
        "    { \"name\": \"node-admin\",\n"
        "      \"match\": { \"uid\": 0, \"via\": \"dbus\" },\n"
        "      \"manage\": [ \"inspect\", \"evaluate\", \"reload\", \"revoke\" ],\n"
        "      \"memlock\": { \"max\": \"1G\" } },\n"
        "    { \"name\": \"monitor\",\n"
        "      \"match\": { \"uid\": 65534, \"via\": \"dbus\" },\n"
        "      \"manage\": \"inspect\" }\n"
        "  ]\n"
        "}\n";

/* D-Bus acting for a session's processes, and revoking what it holds */
static const char policy_bus_ops[] =
        "{ \"version\": 1,\n"
        "  \"rules\": [\n"
        "    { \"name\": \"pod-launchers\",\n"
        "      \"match\": { \"uid\": 1000, \"cgroup\": \"/kubepods.slice/pod-a\", \"via\": \"socket\" },\n"
        "      \"tap\": { \"persist\": true } },\n"
        "    { \"name\": \"node-agent\",\n"
        "      \"match\": { \"uid\": 0, \"via\": \"dbus\" },\n"
        "      \"manage\": [ \"inspect\", \"evaluate\", \"revoke\" ],\n"
        "      \"cgroup\": { \"targets\": \"housekeeping\", \"create\": true },\n"
        "      \"sched\": { \"policies\": [ \"other\", \"batch\" ], \"min_nice\": 0 } }\n"
        "  ]\n"
        "}\n";

/* --- helpers --- */

/* Restart the broker on the private bus (started first); returns a root connection. */
static sd_bus *setup(harness *h) {
        tap_is_int(harness_start_dbus(h), 0, "the private dbus-daemon starts");
        harness_stop_broker(h);
        tap_is_int(harness_start_broker_bus(h, HARNESS_BUS_ADDRESS), 0, "the broker starts with --bus ADDRESS");
        sd_bus *bus = bus_open();
        tap_ok(bus != NULL, "the test connects to the private bus as root");
        tap_ok(bus && wait_name(bus, 10000), "the broker owns " DEST);
        return bus;
}

/* Signals seen so far, "Member:arg0\n"... */
static char sigbuf[16384];

static int on_signal(sd_bus_message *m, void *userdata, sd_bus_error *e) {
        const char *member = sd_bus_message_get_member(m), *arg0 = "";
        char type;
        if (sd_bus_message_peek_type(m, &type, NULL) > 0 && type == 's')
                sd_bus_message_read(m, "s", &arg0);
        size_t n = strlen(sigbuf);
        snprintf(sigbuf + n, sizeof(sigbuf) - n, "%s:%s\n", member, arg0);
        return 0;
}

/* Process the bus until @needle shows in the signal log (up to 5 s). */
static bool wait_signal(sd_bus *bus, const char *needle) {
        uint64_t t0 = now_ms();
        do {
                while (sd_bus_process(bus, NULL) > 0)
                        ;
                if (strstr(sigbuf, needle))
                        return true;
                sd_bus_wait(bus, 100000);
        } while (now_ms() - t0 < 5000);
        return false;
}

static int call(sd_bus *bus, sd_bus_message **reply, char *ename, size_t size, const char *member, const char *types,
                ...) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        va_list ap;
        va_start(ap, types);
        int r = sd_bus_call_methodv(bus, DEST, PATH, IFACE, member, &e, reply, types, ap);
        va_end(ap);
        if (ename)
                snprintf(ename, size, "%s: %s", e.name ? e.name : "", e.message ? e.message : "");
        sd_bus_error_free(&e);
        return r;
}

/* Call @member as @uid from a forked child; its error "NAME: message" in @ename. */
static int call_as(uid_t uid, char *ename, size_t size, const char *member, const char *types, ...) {
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        pid_t pid = fork();
        if (pid == 0) {
                char buf[600] = "";
                va_list ap;
                close(p[0]);
                if (setresgid(uid, uid, uid) < 0 || setresuid(uid, uid, uid) < 0)
                        _exit(3);
                sd_bus *bus = bus_open();
                if (!bus)
                        _exit(4);
                sd_bus_error e = SD_BUS_ERROR_NULL;
                va_start(ap, types);
                int r = sd_bus_call_methodv(bus, DEST, PATH, IFACE, member, &e, NULL, types, ap);
                va_end(ap);
                snprintf(buf, sizeof(buf), "%s: %s", e.name ? e.name : "", e.message ? e.message : "");
                write(p[1], buf, strlen(buf));
                _exit(r >= 0 ? 0 : 1);
        }
        close(p[1]);
        ssize_t n = read(p[0], ename, size - 1);
        ename[n > 0 ? n : 0] = 0;
        close(p[0]);
        int st;
        waitpid(pid, &st, 0);
        return WIFEXITED(st) ? -WEXITSTATUS(st) : -100;
}

static char *cmd(tclient *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *cmd(tclient *c, const char *fmt, ...) {
        char line[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        char *out = NULL;
        if (tclient_cmd(c, &out, "%s", line) < 0)
                return strdup("{}");
        return out;
}

static int64_t field_i64(const char *json, const char *path) {
        int64_t v = -1;
        json_field_i64(json, path, &v);
        return v;
}

static const char *field_str(const char *json, const char *path) {
        static char buf[4][600];
        static int k;
        char *b = buf[k++ % 4];
        if (!json_field_str(json, path, b, sizeof(buf[0])))
                snprintf(b, sizeof(buf[0]), "(missing %s)", path);
        return b;
}

static uint64_t prop_u64(sd_bus *bus, const char *name, char type) {
        sd_bus_message *reply = NULL;
        uint64_t v = UINT64_MAX;
        uint32_t u;
        char sig[2] = { type, 0 };
        if (sd_bus_get_property(bus, DEST, PATH, IFACE, name, NULL, &reply, sig) >= 0) {
                if (type == 't')
                        sd_bus_message_read(reply, "t", &v);
                else if (sd_bus_message_read(reply, "u", &u) >= 0)
                        v = u;
        }
        sd_bus_message_unref(reply);
        return v;
}

/* ListSessions: how many sessions, and the id of the one with @vm. */
static int list_sessions(sd_bus *bus, const char *vm, char *id, size_t size, uint64_t *memlock) {
        sd_bus_message *reply = NULL;
        int n = 0;
        if (call(bus, &reply, NULL, 0, "ListSessions", "") < 0)
                return -1;
        sd_bus_message_enter_container(reply, 'a', "(ssuusa{st})");
        while (sd_bus_message_enter_container(reply, 'r', "ssuusa{st}") > 0) {
                const char *sid, *svm, *cg;
                uint32_t pid, uid;
                sd_bus_message_read(reply, "ssuus", &sid, &svm, &pid, &uid, &cg);
                bool mine = vm && strcmp(svm, vm) == 0;
                if (mine)
                        snprintf(id, size, "%s", sid);
                sd_bus_message_enter_container(reply, 'a', "{st}");
                const char *k;
                uint64_t v;
                while (sd_bus_message_read(reply, "{st}", &k, &v) > 0)
                        if (mine && memlock && strcmp(k, "memlock") == 0)
                                *memlock = v;
                sd_bus_message_exit_container(reply);
                sd_bus_message_exit_container(reply);
                n++;
        }
        sd_bus_message_unref(reply);
        return n;
}

/* ListSessions: the count @key of the session with @vm. */
static void list_sessions_count(sd_bus *bus, const char *vm, const char *key, uint64_t *ret) {
        sd_bus_message *reply = NULL;
        *ret = UINT64_MAX;
        if (call(bus, &reply, NULL, 0, "ListSessions", "") < 0)
                return;
        sd_bus_message_enter_container(reply, 'a', "(ssuusa{st})");
        while (sd_bus_message_enter_container(reply, 'r', "ssuusa{st}") > 0) {
                const char *sid, *svm, *cg, *k;
                uint32_t pid, uid;
                uint64_t v;
                sd_bus_message_read(reply, "ssuus", &sid, &svm, &pid, &uid, &cg);
                sd_bus_message_enter_container(reply, 'a', "{st}");
                while (sd_bus_message_read(reply, "{st}", &k, &v) > 0)
                        if (!strcmp(svm, vm) && !strcmp(k, key))
                                *ret = v;
                sd_bus_message_exit_container(reply);
                sd_bus_message_exit_container(reply);
        }
        sd_bus_message_unref(reply);
}

static void start_client(harness *h, tclient *c, const char *pod, uid_t uid, const char *vm) {
        if (tclient_start(h, c, pod, uid, uid, vm) < 0)
                tap_ok(0, "start test-client");
        char *r = cmd(c, "ping");
        tap_is_int(field_i64(r, "ok"), 1, "test-client for %s opens its session", vm);
        free(r);
}

static int evaluate(sd_bus *bus, const char *op, const char *args, uid_t uid, const char *cgroup, const char *vm,
                    const char *via, char *rule, char *reason, char *ename) {
        sd_bus_message *reply = NULL;
        int allowed = -1;
        const char *ru, *re;
        int r = call(bus, &reply, ename, 600, "Evaluate", "ssa{sv}", op, args, 4, "uid", "u", uid, "cgroup", "s",
                     cgroup, "vm", "s", vm, "via", "s", via);
        if (r >= 0 && sd_bus_message_read(reply, "bss", &allowed, &ru, &re) >= 0) {
                snprintf(rule, 100, "%s", ru);
                snprintf(reason, 600, "%s", re);
        }
        sd_bus_message_unref(reply);
        return r < 0 ? r : allowed;
}

/* Run delegatectl --bus ADDRESS ARGS; its stdout in @out; the exit status. */
static int ctl(char *out, size_t size, const char *args) {
        char line[1024];
        snprintf(line, sizeof(line), "%s --bus %s %s 2>&1", getenv("DELEGATECTL"), HARNESS_BUS_ADDRESS, args);
        FILE *f = popen(line, "re");
        size_t n = f ? fread(out, 1, size - 1, f) : 0;
        out[n] = 0;
        int st = f ? pclose(f) : -1;
        return st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* --- scenarios --- */

static void bus_api(harness *h) {
        sd_bus *bus = setup(h);
        char e[600], id[32] = "", rule[100] = "", reason[600] = "";
        if (!bus)
                return;
        sd_bus_match_signal(bus, NULL, DEST, PATH, IFACE, NULL, on_signal, NULL);
        sd_bus_match_signal(bus, NULL, DEST, PATH, "org.freedesktop.DBus.Properties", "PropertiesChanged", on_signal,
                            NULL);

        /* the installed introspection XML is what the broker serves */
        sd_bus_message *intro = NULL;
        const char *live = NULL;
        if (sd_bus_call_method(bus, DEST, PATH, "org.freedesktop.DBus.Introspectable", "Introspect", NULL, &intro,
                               "") >= 0)
                sd_bus_message_read(intro, "s", &live);
        FILE *xf = fopen(getenv("DELEGATE_DBUS_XML"), "re");
        static char xml[16384];
        size_t xn = xf ? fread(xml, 1, sizeof(xml) - 1, xf) : 0;
        xml[xn] = 0;
        if (xf)
                fclose(xf);
        const char *xa = live ? strstr(live, " <interface name=\"" IFACE "\">") : NULL, *xb = strstr(xml, " <interface name=\"" IFACE "\">");
        const char *ae = xa ? strstr(xa, "</interface>") : NULL, *be = xb ? strstr(xb, "</interface>") : NULL;
        tap_ok(ae && be && ae - xa == be - xb && memcmp(xa, xb, ae - xa) == 0,
               "the installed introspection XML matches the broker's interface");
        sd_bus_message_unref(intro);

        tap_is_int(prop_u64(bus, "ApiVersion", 'u'), 1, "ApiVersion is 1");
        tap_is_int(prop_u64(bus, "PolicyGeneration", 't'), 1, "PolicyGeneration is 1");
        tap_is_int(prop_u64(bus, "SessionCount", 'u'), 0, "SessionCount is 0");

        tclient a;
        start_client(h, &a, "kubepods.slice/pod-a", 1000, "vm-a");
        tap_ok(wait_signal(bus, "SessionOpened:"), "SessionOpened is signalled");
        tap_is_int(prop_u64(bus, "SessionCount", 'u'), 1, "SessionCount is 1");
        tap_is_int(list_sessions(bus, "vm-a", id, sizeof(id), NULL), 1, "ListSessions lists one session");
        tap_ok(id[0] != 0, "with vm-a (session %s)", id);
        char want[64];
        snprintf(want, sizeof(want), "SessionOpened:%s\n", id);
        tap_has_str(sigbuf, want, "SessionOpened carried its id");

        /* Evaluate, then the real request: same answer */
        char args[128];
        snprintf(args, sizeof(args), "{\"pid\":0,\"soft\":%" PRIu64 "}", H / 2);
        int ev = evaluate(bus, "memlock.set", args, 1000, "/kubepods.slice/pod-a", "vm-a", "socket", rule, reason, e);
        tap_is_int(ev, 1, "Evaluate: the launcher may raise to H/2 (%s)", e);
        tap_is_str(rule, "pod-launchers", "Evaluate names the rule");
        pid_t c = 0;
        char *r = cmd(&a, "child");
        c = (pid_t) field_i64(r, "pid");
        free(r);
        uint64_t s0, h0, s, hd;
        read_memlock(c, &s0, &h0);
        r = cmd(&a, "memlock %d %" PRIu64 " keep", (int) c, H / 2);
        tap_is_int(field_i64(r, "ok"), 1, "the real request is allowed too");
        free(r);
        ev = evaluate(bus, "memlock.set", "{\"pid\":0,\"soft\":\"2G\"}", 1000, "/kubepods.slice/pod-a", "vm-a",
                      "socket", rule, reason, e);
        tap_is_int(ev, 0, "Evaluate: 2 GiB is denied");
        tap_has_str(reason, "exceeds the rule's memlock max 1 GiB", "with the reason");
        r = cmd(&a, "memlock %d 2G 2G", (int) c);
        tap_is_str(field_str(r, "code"), "denied", "the real request is denied too");
        tap_is_str(field_str(r, "rule"), rule, "by the same rule");
        free(r);
        ev = evaluate(bus, "memlock.set", args, 1000, "/kubepods.slice/pod-a", "vm-a", "dbus", rule, reason, e);
        tap_is_int(ev, 0, "Evaluate: the same uid via dbus is not a launcher");
        tap_ok(wait_signal(bus, "Decision:memlock.set"), "Decision is signalled for real decisions");
        /* a ping and a state.get are no policy decisions: at the default level (info) no Decision signal,
         * as no journal record; the denied memlock.set after them is signalled (signals keep their order) */
        while (sd_bus_process(bus, NULL) > 0)
                ;
        sigbuf[0] = 0;
        free(cmd(&a, "ping"));
        free(cmd(&a, "state"));
        r = cmd(&a, "memlock %d 2G 2G", (int) c);
        tap_is_str(field_str(r, "code"), "denied", "a ping, a state.get, then a denied memlock.set");
        free(r);
        tap_ok(wait_signal(bus, "Decision:memlock.set"), "the memlock.set's Decision is signalled");
        tap_ok(!strstr(sigbuf, "Decision:ping") && !strstr(sigbuf, "Decision:state.get"),
               "no Decision signal for the ping or the state.get before it (at info level)");

        /* Evaluate's bad input */
        tap_ok(evaluate(bus, "memlock.set", "{\"pid\":", 1000, "/x", "", "socket", rule, reason, e) < 0, "bad JSON");
        tap_has_str(e, "org.freedesktop.DBus.Error.InvalidArgs: args: line 1", "is InvalidArgs with the position");
        tap_ok(evaluate(bus, "nope", "{}", 1000, "/x", "", "socket", rule, reason, e) < 0, "unknown op");
        tap_has_str(e, "InvalidArgs: unknown operation 'nope'", "is InvalidArgs");
        tap_ok(evaluate(bus, "memlock.set", "{}", 1000, "x", "", "socket", rule, reason, e) < 0, "relative cgroup");
        tap_has_str(e, "must start with '/'", "is InvalidArgs");
        tap_ok(evaluate(bus, "memlock.set", "{}", 1000, "/x", "", "tcp", rule, reason, e) < 0, "bad via");
        tap_has_str(e, "via 'tcp' must be 'socket', 'dbus' or 'seccomp'", "is InvalidArgs");
        tap_ok(call(bus, NULL, e, sizeof(e), "Evaluate", "ssa{sv}", "ping", "", 1, "uid", "s", "0") < 0,
               "subject uid as a string");
        tap_has_str(e, "subject 'uid' must be a 'u'", "is InvalidArgs");
        tap_ok(call(bus, NULL, e, sizeof(e), "Evaluate", "ssa{sv}", "ping", "", 1, "color", "s", "red") < 0,
               "unknown subject key");
        tap_has_str(e, "unknown subject key 'color'", "is InvalidArgs");

        /* GetSession */
        sd_bus_message *reply = NULL;
        tap_ok(call(bus, &reply, e, sizeof(e), "GetSession", "s", id) >= 0, "GetSession %s (%s)", id, e);
        const char *state = NULL, *vm = NULL;
        uint32_t uid = 0;
        if (reply && sd_bus_message_enter_container(reply, 'a', "{sv}") > 0) {
                while (sd_bus_message_enter_container(reply, 'e', "sv") > 0) {
                        const char *k;
                        sd_bus_message_read(reply, "s", &k);
                        if (!strcmp(k, "State"))
                                sd_bus_message_read(reply, "v", "s", &state);
                        else if (!strcmp(k, "Vm"))
                                sd_bus_message_read(reply, "v", "s", &vm);
                        else if (!strcmp(k, "Uid"))
                                sd_bus_message_read(reply, "v", "u", &uid);
                        else
                                sd_bus_message_skip(reply, "v");
                        sd_bus_message_exit_container(reply);
                }
        }
        tap_is_str(vm, "vm-a", "GetSession: Vm");
        tap_is_int(uid, 1000, "GetSession: Uid");
        tap_is_int(field_i64(state, "requests.allowed"), 1, "GetSession: State has one allowed request");
        tap_has_str(state, "\"memlock\":[{\"pid\":", "GetSession: State lists the memlock delegation");
        sd_bus_message_unref(reply);
        tap_ok(call(bus, NULL, e, sizeof(e), "GetSession", "s", "abc") < 0, "GetSession 'abc'");
        tap_has_str(e, "org.freedesktop.DBus.Error.InvalidArgs: session id 'abc'", "is InvalidArgs");
        tap_ok(call(bus, NULL, e, sizeof(e), "GetSession", "s", "999") < 0, "GetSession 999");
        tap_has_str(e, "org.delegate.Broker1.Error.NoSuchSession", "is NoSuchSession");

        /* SetMemlock for the session: the orchestrator acts for vm-a */
        reply = NULL;
        int rr = call(bus, &reply, e, sizeof(e), "SetMemlock", "sutt", id, (uint32_t) c, H / 4, KEEP);
        tap_ok(rr >= 0, "SetMemlock for session %s on its child (%s)", id, e);
        uint64_t os = 0, oh = 0, ns = 0, nh = 0;
        if (reply)
                sd_bus_message_read(reply, "tttt", &os, &oh, &ns, &nh);
        sd_bus_message_unref(reply);
        tap_is_int(os, H / 2, "the reply carries the old soft limit");
        tap_is_int(ns, H / 4, "and the new one");
        read_memlock(c, &s, &hd);
        tap_is_int(s, H / 4, "the kernel shows soft = H/4");
        tap_is_int(hd, h0, "hard unchanged");
        uint64_t ml = 0;
        list_sessions(bus, "vm-a", id, sizeof(id), &ml);
        tap_is_int(ml, 1, "ListSessions counts one memlock delegation");
        tap_ok(harness_log_contains("ALLOW memlock.set session=") && harness_log_contains("via=dbus"),
               "the audit records the D-Bus request");
        rr = call(bus, NULL, e, sizeof(e), "SetMemlock", "sutt", id, (uint32_t) getpid(), H / 4, KEEP);
        tap_ok(rr < 0, "SetMemlock for the session on a pid outside it fails");
        tap_has_str(e, "org.delegate.Broker1.Error.Denied", "with Denied");
        rr = call(bus, NULL, e, sizeof(e), "SetMemlock", "sutt", id, (uint32_t) c, (uint64_t) 2 << 30, KEEP);
        tap_has_str(e, "org.delegate.Broker1.Error.Denied: memlock.set: requested 2 GiB exceeds",
                    "SetMemlock over the max is Denied by policy");
        tap_has_str(e, "(rule 'node-admin')", "naming the rule");
        rr = call(bus, NULL, e, sizeof(e), "SetMemlock", "sutt", id, (uint32_t) c, (uint64_t) 8, (uint64_t) 4);
        tap_has_str(e, "org.freedesktop.DBus.Error.InvalidArgs: memlock.set: soft limit 8 exceeds hard limit 4",
                    "SetMemlock soft > hard is InvalidArgs");
        rr = call(bus, NULL, e, sizeof(e), "SetMemlock", "sutt", "", (uint32_t) 0, H / 8, KEEP);
        tap_ok(rr >= 0, "SetMemlock with no session acts on the caller itself (%s)", e);
        read_memlock(getpid(), &s, &hd);
        tap_is_int(s, H / 8, "the kernel shows the caller's soft = H/8");

        tap_ok(call(bus, NULL, e, sizeof(e), "SetScheduler", "ss", "", "[1]") < 0, "SetScheduler with a JSON array");
        tap_has_str(e, "InvalidArgs: args must be a JSON object", "is InvalidArgs");

        /* unauthorised callers */
        tap_ok(call_as(1000, e, sizeof(e), "ListSessions", "") < 0, "uid 1000 may not ListSessions");
        tap_has_str(e, "org.delegate.Broker1.Error.Denied: manage.inspect: no rule matches uid 1000",
                    "Denied, default deny via dbus");
        tap_ok(call_as(65534, e, sizeof(e), "ListSessions", "") == 0, "uid 65534 (monitor, nobody) may ListSessions (%s)", e);
        tap_ok(call_as(65534, e, sizeof(e), "RevokeSession", "s", id) < 0, "but not RevokeSession");
        tap_has_str(e, "Denied: manage.revoke: rule 'monitor' manage list does not include 'revoke'", "says why");
        tap_ok(call_as(65534, e, sizeof(e), "ReloadPolicy", "") < 0, "nor ReloadPolicy");
        tap_has_str(e, "Error.Denied", "Denied");
        tap_ok(call_as(1000, e, sizeof(e), "SetMemlock", "sutt", id, (uint32_t) c, H / 2, KEEP) < 0,
               "uid 1000 may not SetMemlock for a session over D-Bus");
        tap_has_str(e, "Error.Denied", "Denied");
        read_memlock(c, &s, &hd);
        tap_is_int(s, H / 4, "the kernel still shows H/4");
        tap_ok(harness_log_contains("DENY manage.inspect"), "denials are audited");

        /* delegatectl over D-Bus */
        char out[4096], ctlargs[256];
        tap_is_int(ctl(out, sizeof(out), "status"), 0, "delegatectl status");
        tap_has_str(out, "API 1, policy generation 1, 1 session(s)", "prints API, generation and sessions");
        tap_is_int(ctl(out, sizeof(out), "sessions"), 0, "delegatectl sessions");
        tap_has_str(out, "vm-a", "lists vm-a");
        tap_has_str(out, "memlock=1", "with its delegation count");
        snprintf(ctlargs, sizeof(ctlargs), "--json session %s", id);
        tap_is_int(ctl(out, sizeof(out), ctlargs), 0, "delegatectl --json session %s", id);
        tap_is_str(field_str(out, "vm"), "vm-a", "prints the state");
        tap_is_int(ctl(out, sizeof(out),
                       "explain --uid 1000 --cgroup /kubepods.slice/pod-a --vm vm-a memlock.set '{\"pid\":0,\"soft\":\"2G\"}'"),
                   1, "delegatectl explain: denied exits 1");
        tap_has_str(out, "=> DENIED by pod-launchers: requested 2 GiB exceeds", "and says why");
        tap_is_int(ctl(out, sizeof(out), "explain --uid 1000 --cgroup /x --via tcp ping"), 2,
                   "delegatectl explain with a bad subject exits 2");
        tap_has_str(out, "InvalidArgs", "with InvalidArgs");
        tap_is_int(ctl(out, sizeof(out), "session 999"), 1, "delegatectl session 999 fails");
        tap_has_str(out, "NoSuchSession", "naming the error");

        /* RevokeSession: undo what can be undone, close */
        tap_ok(call(bus, NULL, e, sizeof(e), "RevokeSession", "s", id) >= 0, "RevokeSession %s (%s)", id, e);
        snprintf(want, sizeof(want), "SessionClosed:%s\n", id);
        tap_ok(wait_signal(bus, want), "SessionClosed is signalled");
        tap_is_int(list_sessions(bus, NULL, NULL, 0, NULL), 0, "ListSessions is empty");
        tap_is_int(prop_u64(bus, "SessionCount", 'u'), 0, "SessionCount is 0");
        r = cmd(&a, "ping");
        tap_ok(field_i64(r, "ok") != 1, "the revoked launcher's connection is closed (%s)", r);
        free(r);
        tap_ok(harness_log_contains("revoked by D-Bus caller"), "the revocation is logged");
        tap_ok(call(bus, NULL, e, sizeof(e), "RevokeSession", "s", id) < 0, "revoking it again");
        tap_has_str(e, "NoSuchSession", "is NoSuchSession");
        tap_ok(wait_signal(bus, "PropertiesChanged:" IFACE), "SessionCount changes are signalled");

        /* the broker takes no fds on the bus (its last close of one could wait: broker-closer.c), so it does
         * not negotiate them and dbus-daemon refuses a message carrying one */
        int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        tap_ok(call(bus, NULL, e, sizeof(e), "ListSessions", "h", null) < 0, "a call carrying an fd is refused");
        tap_has_str(e, "NotSupported", "by the bus: the broker does not take fds (%s)", e);
        close(null);

        tclient_stop(&a);
        sd_bus_flush_close_unref(bus);
}

static void bus_reload(harness *h) {
        sd_bus *bus = setup(h);
        char e[600];
        sd_bus_message *reply = NULL;
        if (!bus)
                return;
        sd_bus_match_signal(bus, NULL, DEST, PATH, "org.freedesktop.DBus.Properties", "PropertiesChanged", on_signal,
                            NULL);
        harness_write_policy("20-broken.json", "{ \"version\": 1,\n  \"rules\": [ { \"name\": \"x\", \"bogus\": 1 } ] }\n");
        tap_ok(call(bus, NULL, e, sizeof(e), "ReloadPolicy", "") < 0, "ReloadPolicy with a broken file fails");
        tap_has_str(e, "org.delegate.Broker1.Error.PolicyInvalid", "with PolicyInvalid");
        tap_has_str(e, "20-broken.json:2:29: unknown rule key 'bogus'", "naming file, line and column");
        tap_has_str(e, "generation 1 stays in force", "saying the old policy stays");
        tap_is_int(prop_u64(bus, "PolicyGeneration", 't'), 1, "PolicyGeneration is still 1");
        tap_ok(call(bus, NULL, e, sizeof(e), "ListSessions", "") >= 0, "the old policy still decides (%s)", e);

        unlink(HARNESS_POLICY_DIR "/20-broken.json");
        harness_write_policy("10-scenario.json", "{ \"version\": 1, \"rules\": [ { \"name\": \"only-reload\","
                                                 " \"match\": { \"uid\": 0, \"via\": \"dbus\" }, \"manage\": \"reload\" } ] }");
        uint64_t gen = 0;
        tap_ok(call(bus, &reply, e, sizeof(e), "ReloadPolicy", "") >= 0, "ReloadPolicy with a good file (%s)", e);
        if (reply)
                sd_bus_message_read(reply, "t", &gen);
        sd_bus_message_unref(reply);
        tap_is_int(gen, 2, "it returns generation 2");
        tap_is_int(prop_u64(bus, "PolicyGeneration", 't'), 2, "PolicyGeneration is 2");
        tap_ok(wait_signal(bus, "PropertiesChanged:" IFACE), "PropertiesChanged is signalled");
        tap_ok(call(bus, NULL, e, sizeof(e), "ListSessions", "") < 0, "the new policy decides");
        tap_has_str(e, "rule 'only-reload' manage list does not include 'inspect'", "naming its rule");
        char out[2048];
        tap_is_int(ctl(out, sizeof(out), "reload"), 0, "delegatectl reload");
        tap_has_str(out, "policy generation 3 loaded", "reports the generation");
        tap_is_int(ctl(out, sizeof(out), "sessions"), 1, "delegatectl sessions is denied now");
        tap_has_str(out, "org.delegate.Broker1.Error.Denied", "with Denied");
        kill(h->broker_pid, SIGHUP);
        tap_ok(harness_log_contains("policy generation 4 loaded"), "SIGHUP still reloads");
        tap_is_int(prop_u64(bus, "PolicyGeneration", 't'), 4, "PolicyGeneration follows it");
        /* root needs no rule to reload (it may send SIGHUP anyway): systemctl reload runs
         * "delegatectl reload" as root whatever the policy says */
        harness_write_policy("10-scenario.json", "{ \"version\": 1, \"rules\": [] }");
        tap_is_int(ctl(out, sizeof(out), "reload"), 0, "delegatectl reload as root without a manage rule");
        tap_has_str(out, "policy generation 5 loaded", "loads generation 5");
        harness_write_policy("10-scenario.json", "{ \"version\": 1, \"rules\": [ { \"bogus\": 1 } ] }");
        tap_ok(ctl(out, sizeof(out), "reload") != 0, "delegatectl reload of a broken policy fails (exit status)");
        tap_has_str(out, "generation 5 stays in force", "keeping generation 5");
        sd_bus_flush_close_unref(bus);
}

/* A service manager's notification socket, as sd_notify(3) describes it. */
#define NOTIFY_PATH "/run/delegate-test/notify"
static int notify_socket(void) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX, .sun_path = NOTIFY_PATH };
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        unlink(NOTIFY_PATH);
        if (fd < 0 || bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                tap_ok(0, "notify socket: %m");
        return fd;
}

/* Count the notifications holding @what that arrive within @ms. */
static int notify_count(int fd, const char *what, int ms) {
        int n = 0;
        struct timespec t0, now;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (;;) {
                clock_gettime(CLOCK_MONOTONIC, &now);
                int left = ms - (int) ((now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000);
                struct pollfd p = { fd, POLLIN, 0 };
                if (left <= 0 || poll(&p, 1, left) <= 0)
                        return n;
                char buf[512];
                ssize_t k = recv(fd, buf, sizeof(buf) - 1, 0);
                if (k > 0) {
                        buf[k] = 0;
                        n += strstr(buf, what) != NULL;
                }
        }
}

static void bus_late(harness *h) {
        /* the broker starts first: the bus is not there */
        harness_stop_broker(h);
        int nfd = notify_socket();
        setenv("NOTIFY_SOCKET", NOTIFY_PATH, 1);
        /* pings every second: this scenario reads the socket only now and then, and a
         * datagram socket filled up over the 12 s wait below would block sd_notify() */
        setenv("WATCHDOG_USEC", "2000000", 1);
        tap_is_int(harness_start_broker_bus(h, HARNESS_BUS_ADDRESS), 0, "the broker starts without its bus");
        unsetenv("NOTIFY_SOCKET");
        unsetenv("WATCHDOG_USEC");
        tap_ok(harness_log_contains("is not reachable"), "it says the bus is not reachable");
        tap_ok(notify_count(nfd, "WATCHDOG=1", 2500) >= 2, "its event loop sends WATCHDOG=1 (WatchdogSec=)");
        tap_is_int(notify_count(nfd, "READY=1", 300), 0, "no READY=1 while its bus name is not served");
        tclient a;
        start_client(h, &a, "kubepods.slice/pod-a", 1000, "vm-a");
        tap_is_int(harness_start_dbus(h), 0, "the bus appears");
        sd_bus *bus = bus_open();
        tap_ok(bus && wait_name(bus, 12000), "the broker connects and owns its name");
        tap_is_int(notify_count(nfd, "READY=1", 2000), 1, "then READY=1, once");
        close(nfd);
        tap_ok(harness_log_contains("D-Bus: serving " DEST), "and says so");
        char *log = NULL;
        /* "says so once": one line for the whole outage */
        FILE *f = fopen(HARNESS_BROKER_LOG, "re");
        int n = 0;
        char line[1024];
        while (f && fgets(line, sizeof(line), f))
                n += strstr(line, "dbus-test/bus' is not reachable") != NULL;
        if (f)
                fclose(f);
        tap_is_int(n, 1, "the outage was reported once");
        free(log);
        sd_bus_flush_close_unref(bus);

        harness_stop_dbus(h);
        tap_ok(harness_log_contains("lost the D-Bus connection"), "losing the bus is noticed");
        char *r = cmd(&a, "ping");
        tap_is_int(field_i64(r, "ok"), 1, "the socket is still served");
        free(r);
        tap_is_int(harness_start_dbus(h), 0, "the bus comes back");
        bus = bus_open();
        tap_ok(bus && wait_name(bus, 12000), "the broker connects again");
        tap_is_int(prop_u64(bus, "SessionCount", 'u'), 1, "and still knows the session");
        sd_bus_flush_close_unref(bus);
        tclient_stop(&a);
}

static bool link_exists(const char *ns, const char *name) {
        return harness_sh(NULL, "ip -n %s link show dev %s >/dev/null 2>&1", ns, name) == 0;
}

static void bus_ops(harness *h) {
        sd_bus *bus = setup(h);
        char e[600], id[32] = "", rule[128], reason[512], args[160];
        sd_bus_message *reply = NULL;
        const char *res = NULL;
        tclient a;
        if (!bus)
                return;
        tap_is_int(harness_netns_add("pod-a"), 0, "pod-a gets its own network namespace");
        if (tclient_start_netns(h, &a, "kubepods.slice/pod-a", "pod-a", 1000, 1000, "vm-a") < 0)
                tap_ok(0, "start test-client in pod-a");
        char *r = cmd(&a, "ping");
        tap_is_int(field_i64(r, "ok"), 1, "the launcher stand-in opens its session");
        free(r);
        r = cmd(&a, "child");
        pid_t c = (pid_t) field_i64(r, "pid");
        free(r);
        tap_ok(c > 0, "the launcher stand-in has a child (pid %d)", (int) c);
        tap_is_int(list_sessions(bus, "vm-a", id, sizeof(id), NULL), 1, "one session (%s)", id);

        /* MoveThreads for the session: Evaluate first, then the real thing */
        snprintf(args, sizeof(args), "{\"tids\":[%d],\"target\":\"housekeeping\",\"create\":true}", (int) c);
        int ev = evaluate(bus, "cgroup.move", args, 0, "/system", "", "dbus", rule, reason, e);
        tap_is_int(ev, 1, "Evaluate: the node agent may move threads (%s%s)", reason, e);
        tap_ok(call(bus, &reply, e, sizeof(e), "MoveThreads", "ss", id, args) >= 0, "MoveThreads for session %s (%s)",
               id, e);
        if (reply && sd_bus_message_read(reply, "s", &res) >= 0)
                tap_is_int(field_i64(res, "moved"), 1, "the reply says one thread moved (%s)", res);
        else
                tap_ok(0, "the reply carries the result");
        sd_bus_message_unref(reply);
        reply = NULL;
        tap_has_str(harness_task_cgroup(c, c), "/kubepods.slice/pod-a/housekeeping",
                    "the kernel shows the child in pod-a/housekeeping");
        tap_ok(harness_log_contains("ALLOW cgroup.move session=") && harness_log_contains("rule=node-agent"),
               "the audit records it under the D-Bus rule");
        snprintf(args, sizeof(args), "{\"tids\":[%d],\"target\":\"other\"}", (int) c);
        tap_ok(call(bus, NULL, e, sizeof(e), "MoveThreads", "ss", id, args) < 0, "a target outside the rule");
        tap_has_str(e, "org.delegate.Broker1.Error.Denied: cgroup.move: target 'other' matches none", "is Denied");
        snprintf(args, sizeof(args), "{\"tids\":[%d],\"target\":\"housekeeping\"}", (int) getpid());
        tap_ok(call(bus, NULL, e, sizeof(e), "MoveThreads", "ss", id, args) < 0, "a thread outside the session");
        tap_has_str(e, "is not a thread of the caller", "is refused, naming why");
        tap_ok(call(bus, NULL, e, sizeof(e), "MoveThreads", "ss", "", "{\"tids\":[0],\"target\":\"housekeeping\","
                                                                       "\"create\":true}") < 0,
               "MoveThreads with create and no session");
        tap_has_str(e, "InvalidArgs: \"create\" needs a session", "is InvalidArgs: nothing would remove it");
        tap_ok(call(bus, NULL, e, sizeof(e), "MoveThreads", "ss", id, "{\"tids\":\"x\",\"target\":\"a\"}") < 0,
               "MoveThreads with tids as a string");
        tap_has_str(e, "org.freedesktop.DBus.Error.InvalidArgs: cgroup.move:", "is InvalidArgs");

        /* SetScheduler for the session */
        snprintf(args, sizeof(args), "{\"tid\":%d,\"policy\":\"batch\",\"nice\":5}", (int) c);
        tap_ok(call(bus, &reply, e, sizeof(e), "SetScheduler", "ss", id, args) >= 0, "SetScheduler batch nice 5 (%s)",
               e);
        if (reply && sd_bus_message_read(reply, "s", &res) >= 0)
                tap_is_str(field_str(res, "policy"), "batch", "the reply reads back batch");
        sd_bus_message_unref(reply);
        reply = NULL;
        harness_sched_attr at = harness_sched_getattr(c);
        tap_ok(at.sched_policy == SCHED_BATCH && at.sched_nice == 5, "the kernel shows batch, nice 5 (%u, %d)",
               at.sched_policy, at.sched_nice);
        snprintf(args, sizeof(args), "{\"tid\":%d,\"policy\":\"fifo\",\"priority\":1}", (int) c);
        tap_ok(call(bus, NULL, e, sizeof(e), "SetScheduler", "ss", id, args) < 0, "SetScheduler fifo");
        tap_has_str(e, "Error.Denied: sched.set: policy fifo is not among the rule's sched policies", "is Denied");
        uint64_t n = 0;
        list_sessions_count(bus, "vm-a", "threads_moved", &n);
        tap_is_int(n, 1, "ListSessions counts the moved thread");
        list_sessions_count(bus, "vm-a", "sched_changes", &n);
        tap_is_int(n, 1, "and the scheduler change");

        /* a persistent TAP, then RevokeSession removes it */
        r = tclient_call(&a, "call tap.create {\"name\":\"vnet%%d\",\"persist\":true}");
        tap_is_int(jint(r, "ok"), 1, "the launcher creates a persistent TAP (%s)", r);
        int64_t slot = jint(r, "slot");
        free(r);
        free(tclient_call(&a, "close %" PRIi64, slot));
        tap_ok(link_exists("pod-a", "vnet0"), "vnet0 outlives its fds in pod-a");
        list_sessions_count(bus, "vm-a", "tap", &n);
        tap_is_int(n, 1, "ListSessions counts the TAP");
        tap_ok(call(bus, NULL, e, sizeof(e), "RevokeSession", "s", id) >= 0, "RevokeSession %s (%s)", id, e);
        bool gone = false;
        for (int i = 0; i < 250 && !gone; i++) {
                gone = !link_exists("pod-a", "vnet0");
                if (!gone)
                        usleep(20000);
        }
        tap_ok(gone, "the persistent TAP is removed from pod-a");
        tap_ok(harness_log_contains("tap: 1 undone"), "the revocation logs what it undid");
        tap_is_int(list_sessions(bus, NULL, NULL, 0, NULL), 0, "no session is left");
        tclient_stop(&a);
        sd_bus_flush_close_unref(bus);
}

/* SetMemlock's answer: "soft N", or the error. */
static int on_set_memlock(sd_bus_message *m, void *out, sd_bus_error *ret_error) {
        const sd_bus_error *e = sd_bus_message_get_error(m);
        uint64_t v[4] = { 0 };
        if (e)
                snprintf(out, 600, "error %s: %s", e->name, e->message);
        else if (sd_bus_message_read(m, "tttt", &v[0], &v[1], &v[2], &v[3]) >= 0)
                snprintf(out, 600, "soft %" PRIu64, v[2]);
        return 0;
}

/* SetMemlock for a session with pid 0 acts on the session's client, borrowing its pidfd.  The client drops
 * its connection (and lives on) while the call waits on the helper (stopped); the helper let go changes the
 * client's limit: the call's reply says so, not that it exited. */
static void bus_memlock_caller_leaves(harness *h) {
        if (prctl(PR_CAPBSET_READ, CAP_SYS_RESOURCE, 0, 0, 0) == 1)
                tap_skip_all("CAP_SYS_RESOURCE is in the bounding set: the broker calls prlimit() itself, no helper");
        sd_bus *bus = setup(h);
        char id[32] = "", got[600] = "", e[600], want[64];
        uint64_t s, hd;
        tclient a;
        if (!bus)
                return;
        start_client(h, &a, "kubepods.slice/pod-a", 1000, "vm-a");
        tap_is_int(list_sessions(bus, "vm-a", id, sizeof(id), NULL), 1, "one session (%s)", id);
        /* the session's own helper (forked when it began, for requests on its socket) is not the one a D-Bus
         * call uses (keyed by the caller's cgroup): the new child is */
        pid_t before[8], after[8], hp = 0;
        size_t nb = harness_children_all(h->broker_pid, before, 8);
        tap_ok(call(bus, NULL, e, sizeof(e), "SetMemlock", "sutt", id, (uint32_t) 0, H / 4, KEEP) >= 0,
               "a first SetMemlock for the session starts the helper for uid 1000 (%s)", e);
        size_t na = harness_children_all(h->broker_pid, after, 8);
        for (size_t i = 0; i < na && !hp; i++) {
                bool old = false;
                for (size_t k = 0; k < nb; k++)
                        old |= before[k] == after[i];
                hp = old ? 0 : after[i];
        }
        tap_ok(hp > 0 && kill(hp, SIGSTOP) == 0, "the helper (pid %d) is stopped", (int) hp);
        tap_ok(sd_bus_call_method_async(bus, NULL, DEST, PATH, IFACE, "SetMemlock", on_set_memlock, got, "sutt", id,
                                        (uint32_t) 0, H / 2, KEEP) >= 0 && sd_bus_flush(bus) >= 0,
               "SetMemlock for session %s, pid 0 (its client), sent", id);
        usleep(300 * 1000); /* it reaches the helper */
        free(cmd(&a, "disconnect")); /* the session's client drops its connection, living on */
        usleep(100 * 1000);
        tap_ok(kill(hp, SIGCONT) == 0, "the client dropped its connection; the helper goes on (SIGCONT)");
        for (int i = 0; i < 250 && !got[0]; i++)
                if (sd_bus_process(bus, NULL) == 0)
                        sd_bus_wait(bus, 20000);
        snprintf(want, sizeof(want), "soft %" PRIu64, H / 2);
        tap_is_str(got, want, "the reply says the change was made");
        tap_ok(read_memlock(a.pid, &s, &hd) == 0 && s == H / 2, "the kernel shows the client's soft H/2");
        tclient_stop(&a);
        sd_bus_flush_close_unref(bus);
}

static const scenario scenarios[] = {
        { "bus-api", policy_bus, bus_api },
        { "bus-reload", policy_bus, bus_reload },
        { "bus-late", policy_bus, bus_late },
        { "bus-ops", policy_bus_ops, bus_ops },
        { "bus-memlock-caller-leaves", policy_bus, bus_memlock_caller_leaves },
};

int main(int argc, char **argv) {
        return harness_main(argc, argv, scenarios, sizeof(scenarios) / sizeof(scenarios[0]));
}
