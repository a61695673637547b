/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * delegatectl - operator and debug client of delegate-broker.
 * See delegatectl(1).
 */
#include <getopt.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#include "config.h"
#include "delegatectl.h"
#include "json.h"
#include "memlock.h"
#include "ops.h"
#include "policy.h"
#include "proc.h"
#include "size.h"
#include "wire.h"

static const char *arg_socket = NULL;
static const char *arg_vm = NULL;
bool arg_json = false;
static const char *arg_bus = "system";

static void help(void) {
        printf("Usage: delegatectl [OPTIONS] COMMAND ...\n"
               "\n"
               "Commands:\n"
               "  ping                                  check the broker answers\n"
               "  state                                 what the broker did for this session\n"
               "  memlock --pid P --soft N [--hard N]   set RLIMIT_MEMLOCK of P (sizes: 64M, 2G, unlimited)\n"
               "  policy check DIR                      validate a policy directory\n"
               "  policy explain --policy-dir D --uid U [--gid G] --cgroup C [--vm V] OP [ARGS-JSON]\n"
               "                                        which rule decides OP, and why (offline)\n"
               "\n"
               "Over D-Bus (org.delegate.Broker1, see --bus):\n"
               "  status                                API version, policy generation, sessions\n"
               "  sessions                              list the sessions\n"
               "  session ID                            one session's state\n"
               "  explain --uid U [--gid G] --cgroup C [--vm V] [--via socket|dbus] OP [ARGS-JSON]\n"
               "                                        which rule decides OP, asked of the broker\n"
               "  reload                                reload the broker's policy\n"
               "  revoke ID                             undo a session's delegations and close it\n"
               "\n"
               "Options:\n"
               "  -s, --socket PATH   broker socket (default: $%s or %s)\n"
               "      --vm NAME       VM name sent in the hello\n"
               "  -b, --bus BUS       system (default), session, or a D-Bus address\n"
               "      --json          machine-readable output\n"
               "  -h, --help          show this help\n"
               "      --version       show the version\n",
               DELEGATE_SOCKET_ENV, DEFAULT_SOCKET_PATH);
}

static int usage_error(const char *fmt, ...) _printf_(1, 2);
static int usage_error(const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "delegatectl: ");
        vfprintf(stderr, fmt, ap);
        fprintf(stderr, "\nTry 'delegatectl --help'.\n");
        va_end(ap);
        return 2;
}

void print_json_string(const char *s) {
        _cleanup_json_gen_ yajl_gen g = json_gen_new();
        _cleanup_free_ char *out = NULL;
        json_gen_str(g, s);
        if (json_gen_take(g, &out, NULL) == 0)
                fputs(out, stdout);
}

static int report_error(const char *op, const delegate_error *e) {
        if (arg_json) {
                printf("{\"ok\":false,\"error\":{\"code\":");
                print_json_string(e->code);
                printf(",\"errno\":%d,\"message\":", e->errno_value);
                print_json_string(e->message);
                if (e->rule[0]) {
                        printf(",\"rule\":");
                        print_json_string(e->rule);
                }
                printf("}}\n");
        } else {
                fprintf(stderr, "delegatectl: %s failed: %s", op, e->code);
                if (e->errno_value)
                        fprintf(stderr, " (errno %d, %s)", e->errno_value, strerror(e->errno_value));
                if (e->rule[0])
                        fprintf(stderr, ", rule '%s'", e->rule);
                fprintf(stderr, ": %s\n", e->message);
        }
        return 1;
}

static int open_ctx(delegate_ctx **ret, delegate_error *err) {
        delegate_ctx *c;
        int r = delegate_ctx_new(DELEGATE_API_VERSION, &c, err);
        if (r < 0)
                return r;
        if ((r = delegate_ctx_set_socket(c, arg_socket)) < 0 ||
            (r = delegate_ctx_set_identity(c, "delegatectl", arg_vm)) < 0) {
                delegate_ctx_free(c);
                return error_set(err, r, "local", -r, "invalid socket path or VM name");
        }
        delegate_ctx_set_mode(c, DELEGATE_MODE_BROKER);
        r = delegate_connect(c, err);
        if (r < 0) {
                delegate_ctx_free(c);
                return r;
        }
        *ret = c;
        return 0;
}

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static const char *str_of(const json_value *v) {
        return json_is_string(v) ? v->string.str : "";
}

static uint64_t u64_of(const json_value *v) {
        uint64_t x = 0;
        json_to_size(v, &x);
        return x;
}

static int cmd_ping(void) {
        delegate_ctx *c;
        delegate_error e;
        _cleanup_free_ char *res = NULL;
        if (open_ctx(&c, &e) < 0)
                return report_error("connect", &e);
        uint64_t t0 = now_usec();
        int r = delegate_call(c, "ping", NULL, &res, NULL, 0, NULL, NULL, &e);
        uint64_t dt = now_usec() - t0;
        if (r < 0) {
                delegate_ctx_free(c);
                return report_error("ping", &e);
        }
        if (arg_json)
                printf("%s\n", res);
        else {
                _cleanup_json_ json_value *v = NULL;
                json_parse_error je;
                if (json_parse(res, strlen(res), false, &v, &je) == 0)
                        printf("broker %s speaks API %d; session %" PRIu64 ", policy generation %" PRIu64
                               ", round trip %" PRIu64 " us\n",
                               str_of(json_get(v, "broker")), delegate_ctx_broker_api(c), delegate_ctx_session(c),
                               u64_of(json_get(v, "policy_generation")), dt);
        }
        delegate_ctx_free(c);
        return 0;
}

static int cmd_state(void) {
        delegate_ctx *c;
        delegate_error e;
        _cleanup_free_ char *res = NULL;
        if (open_ctx(&c, &e) < 0)
                return report_error("connect", &e);
        int r = delegate_state_get(c, &res, &e);
        delegate_ctx_free(c);
        if (r < 0)
                return report_error("state.get", &e);
        if (arg_json) {
                printf("%s\n", res);
                return 0;
        }
        _cleanup_json_ json_value *v = NULL;
        json_parse_error je;
        if (json_parse(res, strlen(res), false, &v, &je) < 0)
                return 1;
        const json_value *peer = json_get(v, "peer"), *req = json_get(v, "requests"), *ml = json_get(v, "memlock");
        printf("session %" PRIu64 " (vm '%s'): peer pid %" PRIu64 ", uid %" PRIu64 ", cgroup %s\n",
               u64_of(json_get(v, "session")), str_of(json_get(v, "vm")), u64_of(json_get(peer, "pid")),
               u64_of(json_get(peer, "uid")), str_of(json_get(peer, "cgroup")));
        printf("requests: %" PRIu64 " allowed, %" PRIu64 " denied\n", u64_of(json_get(req, "allowed")),
               u64_of(json_get(req, "denied")));
        for (size_t i = 0; ml && ml->type == JSON_ARRAY && i < ml->array.n; i++) {
                char b1[32], b2[32];
                const json_value *m = ml->array.items[i];
                printf("memlock: pid %" PRIu64 " soft %s hard %s\n", u64_of(json_get(m, "pid")),
                       format_size(u64_of(json_get(m, "soft")), b1, sizeof(b1)),
                       format_size(u64_of(json_get(m, "hard")), b2, sizeof(b2)));
        }
        return 0;
}

static int cmd_memlock(int argc, char **argv) {
        static const struct option options[] = {
                { "pid", required_argument, NULL, 'p' },
                { "soft", required_argument, NULL, 's' },
                { "hard", required_argument, NULL, 'H' },
                {},
        };
        int64_t pid = -1;
        uint64_t soft = 0, hard = DELEGATE_LIMIT_KEEP;
        bool have_soft = false;
        int ch;
        optind = 1;
        while ((ch = getopt_long(argc, argv, "", options, NULL)) >= 0) {
                char *end;
                switch (ch) {
                case 'p':
                        errno = 0;
                        pid = strtoll(optarg, &end, 10);
                        if (errno || *end || pid < 0 || pid > INT32_MAX)
                                return usage_error("--pid '%s' is not a process id", optarg);
                        break;
                case 's':
                        if (parse_size(optarg, &soft) < 0)
                                return usage_error("--soft '%s' is not a size (e.g. 65536, 64M, 2G, unlimited)",
                                                   optarg);
                        have_soft = true;
                        break;
                case 'H':
                        if (parse_size(optarg, &hard) < 0)
                                return usage_error("--hard '%s' is not a size (e.g. 65536, 64M, 2G, unlimited)",
                                                   optarg);
                        break;
                default:
                        return usage_error("memlock takes --pid P --soft N [--hard N]");
                }
        }
        if (pid < 0 || !have_soft)
                return usage_error("memlock needs --pid and --soft");
        if (optind < argc)
                return usage_error("unexpected argument '%s'", argv[optind]);

        delegate_ctx *c;
        delegate_error e;
        delegate_memlock_result res;
        if (open_ctx(&c, &e) < 0)
                return report_error("connect", &e);
        int r = delegate_memlock_set(c, (pid_t) pid, soft, hard, &res, &e);
        delegate_ctx_free(c);
        if (r < 0)
                return report_error("memlock.set", &e);
        char b1[32], b2[32], b3[32], b4[32];
        if (arg_json) {
                /* the protocol's own result shape, from the one generator of it */
                struct rlimit old = { u64_to_rlim(res.old_soft), u64_to_rlim(res.old_hard) };
                struct rlimit now = { u64_to_rlim(res.soft), u64_to_rlim(res.hard) };
                _cleanup_json_gen_ yajl_gen g = json_gen_new();
                _cleanup_free_ char *out = NULL;
                if (!g)
                        return 1;
                memlock_result_gen(g, (pid_t) pid, &old, &now);
                if (json_gen_take(g, &out, NULL) < 0)
                        return 1;
                printf("%s\n", out);
        } else
                printf("RLIMIT_MEMLOCK of pid %" PRIi64 "%s: soft %s (was %s), hard %s (was %s)\n", pid,
                       pid == 0 ? " (delegatectl itself)" : "",
                       format_size(res.soft, b1, sizeof(b1)), format_size(res.old_soft, b2, sizeof(b2)),
                       format_size(res.hard, b3, sizeof(b3)), format_size(res.old_hard, b4, sizeof(b4)));
        return 0;
}

static int cmd_policy_check(int argc, char **argv) {
        if (argc != 2)
                return usage_error("policy check takes one directory");
        policy *p = NULL;
        policy_error err;
        char buf[1400];
        int r = policy_load_dir(argv[1], &p, &err);
        if (r < 0) {
                if (arg_json) {
                        printf("{\"valid\":false,\"file\":");
                        print_json_string(err.file);
                        printf(",\"line\":%u,\"column\":%u,\"message\":", err.line, err.column);
                        print_json_string(err.message);
                        printf("}\n");
                } else
                        fprintf(stderr, "%s\n", policy_error_string(&err, buf, sizeof(buf)));
                return 1;
        }
        if (arg_json)
                printf("{\"valid\":true,\"rules\":%zu,\"files\":%zu}\n", p->n_rules, p->n_files);
        else
                printf("%s: valid, %zu rule(s) in %zu file(s)\n", argv[1], p->n_rules, p->n_files);
        policy_free(p);
        return 0;
}

typedef struct explain_ctx {
        yajl_gen g;
} explain_ctx;

static void explain_rule(const policy_rule *r, bool matched, const char *why, void *userdata) {
        explain_ctx *x = userdata;
        if (x->g) {
                yajl_gen_map_open(x->g);
                json_gen_kv_str(x->g, "rule", r->name);
                json_gen_kv_str(x->g, "file", r->file);
                json_gen_kv_u64(x->g, "line", r->line);
                json_gen_kv_bool(x->g, "matched", matched);
                json_gen_kv_str(x->g, "why", why);
                yajl_gen_map_close(x->g);
        } else
                printf("  rule '%s' (%s:%u): %s: %s\n", r->name, r->file, r->line, matched ? "matches" : "skipped",
                       why);
}

static int cmd_policy_explain(int argc, char **argv) {
        static const struct option options[] = {
                { "policy-dir", required_argument, NULL, 'd' },
                { "uid", required_argument, NULL, 'u' },
                { "gid", required_argument, NULL, 'g' },
                { "cgroup", required_argument, NULL, 'c' },
                { "vm", required_argument, NULL, 'v' },
                {},
        };
        const char *dir = NULL;
        policy_subject s = { .uid = (uid_t) -1, .gid = (gid_t) -1 };
        int ch;
        optind = 1;
        while ((ch = getopt_long(argc, argv, "+", options, NULL)) >= 0) {
                char *end;
                unsigned long v;
                switch (ch) {
                case 'd':
                        dir = optarg;
                        break;
                case 'u':
                case 'g':
                        errno = 0;
                        v = strtoul(optarg, &end, 10);
                        if (errno || *end || v >= UINT32_MAX)
                                return usage_error("--%s '%s' is not a numeric id", ch == 'u' ? "uid" : "gid", optarg);
                        if (ch == 'u')
                                s.uid = v;
                        else
                                s.gid = v;
                        break;
                case 'c':
                        s.cgroup = optarg;
                        break;
                case 'v':
                        s.vm = optarg;
                        break;
                default:
                        return usage_error("policy explain --policy-dir D --uid U [--gid G] --cgroup C [--vm V] OP [ARGS]");
                }
        }
        if (!dir || s.uid == (uid_t) -1 || !s.cgroup)
                return usage_error("policy explain needs --policy-dir, --uid and --cgroup");
        if (s.gid == (gid_t) -1)
                s.gid = s.uid;
        if (optind >= argc)
                return usage_error("policy explain needs an operation (%s)", op_names());
        const char *op = argv[optind++];
        const char *args_text = optind < argc ? argv[optind++] : "{}";
        if (optind < argc)
                return usage_error("unexpected argument '%s'", argv[optind]);

        _cleanup_json_ json_value *args = NULL;
        json_parse_error je;
        if (json_parse(args_text, strlen(args_text), false, &args, &je) < 0)
                return usage_error("ARGS-JSON: line %u, column %u: %s", je.line, je.column, je.message);

        policy *p = NULL;
        policy_error perr;
        char buf[1400];
        if (policy_load_dir(dir, &p, &perr) < 0) {
                fprintf(stderr, "delegatectl: %s\n", policy_error_string(&perr, buf, sizeof(buf)));
                return 1;
        }
        explain_ctx x = { .g = arg_json ? json_gen_new() : NULL };
        policy_decision d;
        char msg[512] = "";
        if (x.g) {
                yajl_gen_map_open(x.g);
                json_gen_str(x.g, "rules");
                yajl_gen_array_open(x.g);
        } else
                printf("%s by uid %u gid %u, cgroup '%s', vm '%s':\n", op, (unsigned) s.uid, (unsigned) s.gid,
                       s.cgroup, s.vm ? s.vm : "");
        int r = policy_decide(p, &s, op, args, &d, msg, sizeof(msg), explain_rule, &x);
        if (x.g) {
                yajl_gen_array_close(x.g);
                if (r < 0) {
                        json_gen_kv_str(x.g, "error", msg);
                } else {
                        json_gen_kv_bool(x.g, "allowed", d.allowed);
                        json_gen_str(x.g, "rule");
                        d.rule ? json_gen_str(x.g, d.rule->name) : json_gen_null(x.g);
                        json_gen_kv_str(x.g, "reason", d.reason);
                }
                yajl_gen_map_close(x.g);
                _cleanup_free_ char *out = NULL;
                if (json_gen_take(x.g, &out, NULL) == 0)
                        printf("%s\n", out);
                yajl_gen_free(x.g);
        } else if (r < 0)
                printf("=> bad request: %s\n", msg);
        else
                printf("=> %s by %s%s%s: %s\n", d.allowed ? "ALLOWED" : "DENIED", d.rule ? "rule '" : "",
                       d.rule ? d.rule->name : d.allowed ? "no rule (none needed)" : "default deny", d.rule ? "'" : "",
                       d.reason);
        policy_free(p);
        if (r < 0)
                return 2;
        return d.allowed ? 0 : 1;
}

static int cmd_bus_explain(int argc, char **argv) {
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
                char *end;
                unsigned long v;
                switch (ch) {
                case 'u':
                case 'g':
                        errno = 0;
                        v = strtoul(optarg, &end, 10);
                        if (errno || *end || v >= UINT32_MAX)
                                return usage_error("--%s '%s' is not a numeric id", ch == 'u' ? "uid" : "gid", optarg);
                        if (ch == 'u')
                                x.uid = v;
                        else
                                x.gid = v;
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

int main(int argc, char **argv) {
        enum { ARG_JSON = 0x100, ARG_VERSION, ARG_VM };
        static const struct option options[] = {
                { "socket", required_argument, NULL, 's' },
                { "vm", required_argument, NULL, ARG_VM },
                { "bus", required_argument, NULL, 'b' },
                { "json", no_argument, NULL, ARG_JSON },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                {},
        };
        int c;
        while ((c = getopt_long(argc, argv, "+s:b:h", options, NULL)) >= 0) {
                switch (c) {
                case 's':
                        arg_socket = optarg;
                        break;
                case ARG_VM:
                        arg_vm = optarg;
                        break;
                case 'b':
                        arg_bus = optarg;
                        break;
                case ARG_JSON:
                        arg_json = true;
                        break;
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("delegatectl %s (API %d)\n", DELEGATE_VERSION, DELEGATE_API_VERSION);
                        return 0;
                default:
                        fprintf(stderr, "Try 'delegatectl --help'.\n");
                        return 2;
                }
        }
        if (optind >= argc)
                return usage_error("no command given");
        const char *cmd = argv[optind];
        int sub_argc = argc - optind;
        char **sub_argv = argv + optind;

        if (streq(cmd, "ping") && sub_argc == 1)
                return cmd_ping();
        if (streq(cmd, "state") && sub_argc == 1)
                return cmd_state();
        if (streq(cmd, "memlock"))
                return cmd_memlock(sub_argc, sub_argv);
        if (streq(cmd, "policy") && sub_argc >= 2 && streq(sub_argv[1], "check"))
                return cmd_policy_check(sub_argc - 1, sub_argv + 1);
        if (streq(cmd, "policy") && sub_argc >= 2 && streq(sub_argv[1], "explain"))
                return cmd_policy_explain(sub_argc - 1, sub_argv + 1);
        if ((streq(cmd, "status") || streq(cmd, "sessions") || streq(cmd, "reload")) && sub_argc == 1)
                return bus_command(arg_bus, cmd, NULL, NULL);
        if ((streq(cmd, "session") || streq(cmd, "revoke")) && sub_argc == 2)
                return bus_command(arg_bus, cmd, sub_argv[1], NULL);
        if (streq(cmd, "explain"))
                return cmd_bus_explain(sub_argc, sub_argv);
        return usage_error("unknown command '%s' (or wrong arguments)", cmd);
}
