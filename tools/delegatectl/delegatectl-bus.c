/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * delegatectl-bus.c - delegatectl's D-Bus commands (status, sessions,
 * session, explain, reload, revoke): an sd-bus client of
 * org.delegate.Broker1.  See delegatectl(1).
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <systemd/sd-bus.h>

#include "delegatectl-bus.h"
#include "delegatectl-util.h"
#include "ops.h"
#include "policy.h"

typedef struct bus_explain {
        const char *op, *args, *cgroup, *vm, *via;
        uid_t uid;
        gid_t gid;
} bus_explain;

#define DEST "org.delegate.Broker1"
#define PATH "/org/delegate/Broker1"
#define IFACE "org.delegate.Broker1"

static void bus_unrefp(sd_bus **b) {
        sd_bus_flush_close_unref(*b);
}
static void msg_unrefp(sd_bus_message **m) {
        sd_bus_message_unref(*m);
}

static int open_bus(const char *spec, sd_bus **ret) {
        _cleanup_(bus_unrefp) sd_bus *bus = NULL;
        int r;
        if (streq(spec, "system"))
                r = sd_bus_open_system(&bus);
        else if (streq(spec, "session"))
                r = sd_bus_open_user(&bus);
        else {
                r = sd_bus_new(&bus);
                if (r >= 0)
                        r = sd_bus_set_address(bus, spec);
                if (r >= 0)
                        r = sd_bus_set_bus_client(bus, 1);
                if (r >= 0)
                        r = sd_bus_start(bus);
        }
        if (r < 0) {
                fprintf(stderr,
                        "delegatectl: cannot reach the D-Bus bus '%s': %s\n"
                        "Without a bus, 'ping', 'state', 'memlock' and 'policy check|explain' still work.\n",
                        spec, strerror(-r));
                return r;
        }
        *ret = TAKE_PTR(bus);
        return 0;
}

static int failed(const char *what, const sd_bus_error *e, int r) {
        if (e && e->name)
                fprintf(stderr, "delegatectl: %s failed: %s: %s\n", what, e->name, e->message ? e->message : "");
        else
                fprintf(stderr, "delegatectl: %s failed: %s\n", what, strerror(-r));
        return 1;
}

static int get_u64(sd_bus *bus, const char *name, const char *type, uint64_t *ret, sd_bus_error *e) {
        _cleanup_(msg_unrefp) sd_bus_message *m = NULL;
        int r = sd_bus_get_property(bus, DEST, PATH, IFACE, name, e, &m, type);
        if (r < 0)
                return r;
        if (streq(type, "t"))
                return sd_bus_message_read(m, "t", ret);
        uint32_t u;
        r = sd_bus_message_read(m, "u", &u);
        *ret = u;
        return r;
}

static int cmd_status(sd_bus *bus) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        uint64_t api, gen, n;
        int r;
        if ((r = get_u64(bus, "ApiVersion", "u", &api, &e)) < 0 || (r = get_u64(bus, "PolicyGeneration", "t", &gen, &e)) < 0 ||
            (r = get_u64(bus, "SessionCount", "u", &n, &e)) < 0)
                return failed("status", &e, r);
        if (arg_json)
                printf("{\"api\":%" PRIu64 ",\"policy_generation\":%" PRIu64 ",\"sessions\":%" PRIu64 "}\n", api, gen, n);
        else
                printf("broker on D-Bus: API %" PRIu64 ", policy generation %" PRIu64 ", %" PRIu64 " session(s)\n", api,
                       gen, n);
        return 0;
}

static int cmd_sessions(sd_bus *bus) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(msg_unrefp) sd_bus_message *m = NULL;
        int r = sd_bus_call_method(bus, DEST, PATH, IFACE, "ListSessions", &e, &m, "");
        if (r < 0)
                return failed("ListSessions", &e, r);
        if (arg_json)
                printf("[");
        else
                printf("%-8s %-20s %-8s %-8s %-40s %s\n", "SESSION", "VM", "PID", "UID", "CGROUP", "DELEGATED");
        r = sd_bus_message_enter_container(m, 'a', "(ssuusa{st})");
        for (int i = 0; r >= 0 && sd_bus_message_enter_container(m, 'r', "ssuusa{st}") > 0; i++) {
                const char *id, *vm, *cg, *k;
                uint32_t pid, uid;
                uint64_t v;
                char counts[256] = "";
                sd_bus_message_read(m, "ssuus", &id, &vm, &pid, &uid, &cg);
                if (arg_json) {
                        printf("%s{\"session\":", i ? "," : "");
                        print_json_string(id);
                        printf(",\"vm\":");
                        print_json_string(vm);
                        printf(",\"pid\":%" PRIu32 ",\"uid\":%" PRIu32 ",\"cgroup\":", pid, uid);
                        print_json_string(cg);
                        printf(",\"counts\":{");
                }
                sd_bus_message_enter_container(m, 'a', "{st}");
                for (int j = 0; sd_bus_message_read(m, "{st}", &k, &v) > 0; j++) {
                        if (arg_json) {
                                printf("%s", j ? "," : "");
                                print_json_string(k);
                                printf(":%" PRIu64, v);
                        } else
                                snprintf(counts + strlen(counts), sizeof(counts) - strlen(counts), "%s%s=%" PRIu64,
                                         j ? " " : "", k, v);
                }
                sd_bus_message_exit_container(m);
                sd_bus_message_exit_container(m);
                if (arg_json)
                        printf("}}");
                else
                        printf("%-8s %-20s %-8" PRIu32 " %-8" PRIu32 " %-40s %s\n", id, *vm ? vm : "-", pid, uid, cg,
                               counts);
        }
        if (arg_json)
                printf("]\n");
        return 0;
}

static int cmd_session(sd_bus *bus, const char *id) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(msg_unrefp) sd_bus_message *m = NULL;
        int r = sd_bus_call_method(bus, DEST, PATH, IFACE, "GetSession", &e, &m, "s", id);
        if (r < 0)
                return failed("GetSession", &e, r);
        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        while (r >= 0 && sd_bus_message_enter_container(m, 'e', "sv") > 0) {
                const char *k, *contents, *s;
                char type;
                sd_bus_message_read(m, "s", &k);
                sd_bus_message_peek_type(m, &type, &contents);
                if (streq(contents, "s")) {
                        sd_bus_message_read(m, "v", "s", &s);
                        if (arg_json && streq(k, "State"))
                                printf("%s\n", s);
                        else if (!arg_json)
                                printf("%s: %s\n", k, s);
                } else if (streq(contents, "u") || streq(contents, "t")) {
                        uint64_t v = 0;
                        uint32_t u;
                        if (streq(contents, "u") && sd_bus_message_read(m, "v", "u", &u) >= 0)
                                v = u;
                        else if (streq(contents, "t"))
                                sd_bus_message_read(m, "v", "t", &v);
                        if (!arg_json)
                                printf("%s: %" PRIu64 "\n", k, v);
                } else
                        sd_bus_message_skip(m, "v");
                sd_bus_message_exit_container(m);
        }
        return 0;
}

static int cmd_reload(sd_bus *bus) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(msg_unrefp) sd_bus_message *m = NULL;
        uint64_t gen = 0;
        int r = sd_bus_call_method(bus, DEST, PATH, IFACE, "ReloadPolicy", &e, &m, "");
        if (r < 0)
                return failed("ReloadPolicy", &e, r);
        sd_bus_message_read(m, "t", &gen);
        printf(arg_json ? "{\"policy_generation\":%" PRIu64 "}\n" : "policy generation %" PRIu64 " loaded\n", gen);
        return 0;
}

static int cmd_revoke(sd_bus *bus, const char *id) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        int r = sd_bus_call_method(bus, DEST, PATH, IFACE, "RevokeSession", &e, NULL, "s", id);
        if (r < 0)
                return failed("RevokeSession", &e, r);
        if (!arg_json)
                printf("session %s revoked\n", id);
        else
                printf("{\"revoked\":true}\n");
        return 0;
}

/* explain OP [ARGS-JSON] --uid U [--gid G] --cgroup C [--vm V] [--via socket|dbus|seccomp] */
static int cmd_explain(sd_bus *bus, const bus_explain *x) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(msg_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        int allowed = 0;
        const char *rule = "", *reason = "";
        int r = sd_bus_message_new_method_call(bus, &m, DEST, PATH, IFACE, "Evaluate");
        if (r >= 0)
                r = sd_bus_message_append(m, "ssa{sv}", x->op, x->args, 5, "uid", "u", (uint32_t) x->uid, "gid", "u",
                                          (uint32_t) x->gid, "cgroup", "s", x->cgroup, "vm", "s", x->vm ? x->vm : "",
                                          "via", "s", x->via ? x->via : "socket");
        if (r >= 0)
                r = sd_bus_call(bus, m, 0, &e, &reply);
        if (r < 0)
                return failed("Evaluate", &e, r) + 1;
        sd_bus_message_read(reply, "bss", &allowed, &rule, &reason);
        if (arg_json) {
                printf("{\"allowed\":%s,\"rule\":", allowed ? "true" : "false");
                print_json_string(rule);
                printf(",\"reason\":");
                print_json_string(reason);
                printf("}\n");
        } else
                printf("=> %s by %s: %s\n", allowed ? "ALLOWED" : "DENIED", rule, reason);
        return allowed ? 0 : 1;
}

/* status | sessions | session ID | reload | revoke ID | explain (@x) over D-Bus @spec. */
static int bus_command(const char *spec, const char *cmd, const char *id, const bus_explain *x) {
        _cleanup_(bus_unrefp) sd_bus *bus = NULL;
        if (open_bus(spec, &bus) < 0)
                return 1;
        if (streq(cmd, "status"))
                return cmd_status(bus);
        if (streq(cmd, "sessions"))
                return cmd_sessions(bus);
        if (streq(cmd, "session"))
                return cmd_session(bus, id);
        if (streq(cmd, "reload"))
                return cmd_reload(bus);
        if (streq(cmd, "revoke"))
                return cmd_revoke(bus, id);
        return cmd_explain(bus, x);
}

int cmd_bus(int argc, char **argv) {
        return bus_command(arg_bus, argv[0], argc > 1 ? argv[1] : NULL, NULL);
}

int cmd_bus_explain(int argc, char **argv) {
        static const struct option options[] = {
                { "uid", required_argument, NULL, 'u' },
                { "gid", required_argument, NULL, 'g' },
                { "cgroup", required_argument, NULL, 'c' },
                { "vm", required_argument, NULL, 'v' },
                { "via", required_argument, NULL, 'V' },
                {},
        };
        bus_explain x = { .uid = (uid_t) -1, .gid = (gid_t) -1 };
        int ch;
        optind = 1;
        while ((ch = getopt_long(argc, argv, "+", options, NULL)) >= 0) {
                switch (ch) {
                case 'u':
                        if (parse_id(ch, optarg, &x.uid) < 0)
                                return 2;
                        break;
                case 'g':
                        if (parse_id(ch, optarg, &x.gid) < 0)
                                return 2;
                        break;
                case 'c':
                        x.cgroup = optarg;
                        break;
                case 'v':
                        x.vm = optarg;
                        break;
                case 'V':
                        x.via = optarg;
                        break;
                default:
                        return usage_error("explain --uid U [--gid G] --cgroup C [--vm V] [--via V] OP [ARGS]");
                }
        }
        if (x.uid == (uid_t) -1 || !x.cgroup)
                return usage_error("explain needs --uid and --cgroup");
        if (x.gid == (gid_t) -1)
                x.gid = x.uid;
        if (optind >= argc)
                return usage_error("explain needs an operation (%s)", op_names());
        x.op = argv[optind++];
        x.args = optind < argc ? argv[optind++] : "";
        if (optind < argc)
                return usage_error("unexpected argument '%s'", argv[optind]);
        return bus_command(arg_bus, "explain", NULL, &x);
}
