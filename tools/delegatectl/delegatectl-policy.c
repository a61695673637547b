/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * delegatectl-policy.c - delegatectl's offline policy commands: policy
 * check and policy explain, with the library's own policy engine.  See
 * delegatectl(1).
 */
#include <getopt.h>
#include <stdio.h>

#include "delegatectl-policy.h"
#include "delegatectl-util.h"
#include "json.h"
#include "ops.h"
#include "policy.h"

int cmd_policy_check(int argc, char **argv) {
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
        json_gen *g;
} explain_ctx;

static void explain_rule(const policy_rule *r, bool matched, const char *why, void *userdata) {
        explain_ctx *x = userdata;
        if (x->g) {
                json_gen_map_open(x->g);
                json_gen_kv_str(x->g, "rule", r->name);
                json_gen_kv_str(x->g, "file", r->file);
                json_gen_kv_u64(x->g, "line", r->line);
                json_gen_kv_bool(x->g, "matched", matched);
                json_gen_kv_str(x->g, "why", why);
                json_gen_map_close(x->g);
        } else
                printf("  rule '%s' (%s:%u): %s: %s\n", r->name, r->file, r->line, matched ? "matches" : "skipped",
                       why);
}

int cmd_policy_explain(int argc, char **argv) {
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
                switch (ch) {
                case 'd':
                        dir = optarg;
                        break;
                case 'u':
                        if (parse_id(ch, optarg, &s.uid) < 0)
                                return 2;
                        break;
                case 'g':
                        if (parse_id(ch, optarg, &s.gid) < 0)
                                return 2;
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
                json_gen_map_open(x.g);
                json_gen_str(x.g, "rules");
                json_gen_array_open(x.g);
        } else
                printf("%s by uid %u gid %u, cgroup '%s', vm '%s':\n", op, (unsigned) s.uid, (unsigned) s.gid,
                       s.cgroup, s.vm ? s.vm : "");
        int r = policy_decide(p, &s, op, args, &d, msg, sizeof(msg), explain_rule, &x);
        if (x.g) {
                json_gen_array_close(x.g);
                if (r < 0) {
                        json_gen_kv_str(x.g, "error", msg);
                } else {
                        json_gen_kv_bool(x.g, "allowed", d.allowed);
                        json_gen_str(x.g, "rule");
                        d.rule ? json_gen_str(x.g, d.rule->name) : json_gen_null(x.g);
                        json_gen_kv_str(x.g, "reason", d.reason);
                }
                json_gen_map_close(x.g);
                _cleanup_erase_free_ char *out = NULL;
                if (json_gen_take(x.g, &out, NULL) == 0)
                        printf("%s\n", out);
                json_gen_free(x.g);
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
