/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-policy.c - policy files (engine/policy*.c): good and broken
 * files with exact FILE:LINE:COLUMN, directory loading, glob_match(),
 * policy_match() and policy_decide() (engine/ops.c); the cgroup,
 * sched, via and manage sections are in test-policy-ops.c.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>

#define DELEGATE_INTERNAL_UNSTABLE_API_OPT_IN
#include "delegate/delegate-internal.h"
#include "opdesc.h"
#include "ops.h"
#include "policy.h"
#include "tap.h"
#include "policy-util.h"
#include "unit-util.h"


/* --- good files --- */

static const char good_policy[] =
        "// a policy file: JSON with comments\n"                                                       /* 1 */
        "{\n"                                                                                           /* 2 */
        "  \"version\": 1,\n"                                                                           /* 3 */
        "  \"comment\": \"top-level comment\",\n"                                                       /* 4 */
        "  /* block\n"                                                                                  /* 5 */
        "     comment */\n"                                                                             /* 6 */
        "  \"rules\": [\n"                                                                              /* 7 */
        "    { \"name\": \"one-uid\", \"comment\": \"x\", \"match\": { \"uid\": 1000 }, \"memlock\": { \"max\": \"64G\" } },\n"
        "    { \"name\": \"uid-range\", \"match\": { \"uid\": \"2000-2999\", \"gid\": 100 }, \"memlock\": { \"max\": 1048576 } },\n"
        "    { \"name\": \"id-lists\", \"match\": { \"uid\": [3000, \"4000-4010\", 5000], \"gid\": [\"10-20\", 30] },\n"
        "      \"memlock\": { \"max\": \"unlimited\" } },\n"                                            /* 11 */
        "    { \"name\": \"cg.string\", \"match\": { \"cgroup\": \"/machine.slice/*.scope\" } },\n"     /* 12 */
        "    { \"name\": \"cg_list\", \"match\": { \"cgroup\": [\"/a/**\", \"/b/?\"], \"vm\": \"web-*\" } },\n"
        "    { \"name\": \"vm-list\", \"match\": { \"vm\": [\"db-?\", \"cache*\"] }, \"memlock\": { \"max\": \"512M\" } },\n"
        "    { \"name\": \"Any-0\" } // matches anyone, allows nothing\n"                             /* 15 */
        "  ]\n"
        "}\n";

static void test_good(void) {
        _cleanup_policy_ policy *p = policy_new();
        policy_error err = {};
        int r = load(p, "good.json", good_policy, &err);
        if (!tap_is_int(r, 0, "good policy loads")) {
                char buf[2048];
                tap_diag("%s", policy_error_string(&err, buf, sizeof(buf)));
        }
        tap_is_int(p->n_rules, 7, "good policy: 7 rules");
        tap_is_int(p->n_files, 1, "good policy: 1 file");
        if (p->n_rules != 7)
                return;

        const policy_rule *r0 = &p->rules[0], *r1 = &p->rules[1], *r2 = &p->rules[2], *r3 = &p->rules[3],
                          *r4 = &p->rules[4], *r5 = &p->rules[5], *r6 = &p->rules[6];
        tap_ok(streq(r0->name, "one-uid") && streq(r1->name, "uid-range") && streq(r2->name, "id-lists") &&
                       streq(r3->name, "cg.string") && streq(r4->name, "cg_list") && streq(r5->name, "vm-list") &&
                       streq(r6->name, "Any-0"),
               "rules keep file order and names");
        tap_ok(streq(r0->file, "good.json") && r0->line == 8 && r0->column == 5 && r6->line == 15 && r6->column == 5,
               "rules record file, line and column (8:5, 15:5)");

        tap_ok(r0->has_uid && r0->n_uids == 1 && r0->uids[0].lo == 1000 && r0->uids[0].hi == 1000 && !r0->has_gid,
               "uid number");
        tap_ok(r0->memlock.present && r0->memlock.max == 64 * GiB, "memlock max \"64G\"");
        tap_ok(r1->n_uids == 1 && r1->uids[0].lo == 2000 && r1->uids[0].hi == 2999, "uid range string");
        tap_ok(r1->has_gid && r1->n_gids == 1 && r1->gids[0].lo == 100 && r1->gids[0].hi == 100, "gid number");
        tap_ok(r1->memlock.present && r1->memlock.max == 1048576, "memlock max as a number");
        tap_ok(r2->n_uids == 3 && r2->uids[0].lo == 3000 && r2->uids[0].hi == 3000 && r2->uids[1].lo == 4000 &&
                       r2->uids[1].hi == 4010 && r2->uids[2].lo == 5000 && r2->uids[2].hi == 5000,
               "uid list of numbers and ranges");
        tap_ok(r2->n_gids == 2 && r2->gids[0].lo == 10 && r2->gids[0].hi == 20 && r2->gids[1].lo == 30,
               "gid list");
        tap_ok(r2->memlock.present && r2->memlock.max == UINT64_MAX, "memlock max \"unlimited\"");
        tap_ok(!r3->has_uid && !r3->has_gid && r3->n_cgroups == 1 && streq(r3->cgroups[0], "/machine.slice/*.scope") &&
                       r3->n_vms == 0,
               "cgroup glob string");
        tap_ok(!r3->memlock.present, "no memlock section: not present");
        tap_ok(r4->n_cgroups == 2 && streq(r4->cgroups[0], "/a/**") && streq(r4->cgroups[1], "/b/?") &&
                       r4->n_vms == 1 && streq(r4->vms[0], "web-*"),
               "cgroup glob list and vm glob string");
        tap_ok(r5->n_vms == 2 && streq(r5->vms[0], "db-?") && streq(r5->vms[1], "cache*") &&
                       r5->memlock.max == 512 * MiB,
               "vm glob list, memlock max \"512M\"");
        tap_ok(!r6->has_uid && !r6->has_gid && !r6->n_cgroups && !r6->n_vms && !r6->memlock.present,
               "rule with only a name");

        /* a second file appends */
        r = load(p, "more.json", "{\"version\":1,\"rules\":[{\"name\":\"later\",\"match\":{\"uid\":\"0\"}}]}", &err);
        tap_ok(r == 0 && p->n_rules == 8 && p->n_files == 2 && streq(p->rules[7].file, "more.json") &&
                       p->rules[7].uids[0].lo == 0 && p->rules[7].uids[0].hi == 0,
               "second file appends its rules (uid as a string \"0\")");

        /* an empty rule list is fine */
        r = load(p, "empty.json", "{\"rules\":[],\"version\":1}", &err);
        tap_ok(r == 0 && p->n_rules == 8 && p->n_files == 3, "file with no rules loads");
}

/* --- broken files --- */


static void test_broken(void) {
        /* top level */
        broken("{\n  \"version\": 1,\n  \"rules\": [],\n  \"rulez\": []\n}", 4, 3,
               "unknown top-level key 'rulez'", "unknown top-level key");
        broken("{\"version\": 1, \"comment\": [\"x\"], \"rules\": []}", 1, 27, "\"comment\" must be a string, not array",
               "top-level comment not a string");
        broken("{\n  \"version\": 2,\n  \"rules\": []\n}", 2, 14,
               "unsupported policy version (this broker reads version 1)", "version 2");
        broken("{\"version\": \"1\", \"rules\": []}", 1, 13, "unsupported policy version", "version as a string");
        broken("{\"version\": 1.0, \"rules\": []}", 1, 13, "unsupported policy version", "version 1.0");
        broken("\n  {\"rules\": []}", 2, 3, "missing \"version\" (this broker reads version 1)", "missing version");
        broken("{\"version\": 1}", 1, 1, "missing \"rules\"", "missing rules");
        broken("{\"version\": 1, \"rules\": {}}", 1, 25, "\"rules\" must be an array, not object", "rules not an array");
        broken("[]", 1, 1, "the top level must be an object, not array", "top level not an object");
        broken("{\n  \"version\": 1,\n  \"version\": 1\n}", 3, 3, "duplicate key 'version' (first at line 2, column 3)",
               "JSON error: duplicate key");
        broken("{\n  \"version\": 1,\n  \"rules\": [\n}", 4, 1, "unallowed token", "JSON error: syntax");
        broken("", 1, 1, "premature EOF", "empty file");

        /* rules */
        broken(RULE("{ \"name\": \"a\", \"allow\": true }"), 3, 28,
               "unknown rule key 'allow' (allowed: name, comment, match, memlock, cgroup, sched, tap, bridge, kvmi, manage)",
               "unknown rule key");
        broken(RULE("{ \"name\": \"a\", \"match\": { \"user\": 1000 } }"), 3, 39,
               "unknown match key 'user' (allowed: uid, gid, cgroup, vm, via)", "unknown match key");
        broken(RULE("{ \"name\": \"a\", \"match\": { \"uid\": \"5-1\" } }"), 3, 46, "uid range '5-1' is empty: 5 > 1",
               "uid range 5-1");
        broken(RULE("{ \"name\": \"a\", \"match\": { \"uid\": \"abc\" } }"), 3, 46,
               "uid 'abc' is neither an id nor a range like \"1000-1999\"", "uid string abc");
        broken(RULE("{ \"name\": \"a\", \"match\": { \"uid\": [1, \"7-\"] } }"), 3, 50,
               "uid '7-' is neither an id nor a range", "uid string 7-");
        broken(RULE("{ \"name\": \"a\", \"match\": { \"gid\": 4294967295 } }"), 3, 46,
               "gid '4294967295' is not an id (0-4294967294)", "gid 4294967295");
        broken(RULE("{ \"name\": \"a\", \"match\": { \"uid\": -1 } }"), 3, 46, "uid '-1' is not an id",
               "negative uid");
        broken(RULE("{ \"name\": \"a\", \"match\": { \"uid\": true } }"), 3, 46,
               "uid must be a number or a \"LOW-HIGH\" string, not boolean", "uid of the wrong type");
        broken(RULE("{ \"name\": \"a\", \"match\": { \"uid\": [] } }"), 3, 46,
               "uid list is empty (leave the key out to match any)", "empty uid list");
        broken(RULE("{ \"name\": \"a\", \"match\": { \"cgroup\": \"machine.slice\" } }"), 3, 49,
               "cgroup glob 'machine.slice' must start with '/'", "cgroup glob without a leading slash");
        broken(RULE("{ \"name\": \"a\", \"match\": { \"cgroup\": [\"/ok\", \"rel/*\"] } }"), 3, 57,
               "cgroup glob 'rel/*' must start with '/'", "relative cgroup glob in a list");
        broken(RULE("{ \"name\": \"a\", \"match\": { \"vm\": [] } }"), 3, 45, "vm list is empty", "empty vm list");
        broken(RULE("{ \"name\": \"a\", \"match\": { \"vm\": \"\" } }"), 3, 45, "vm glob is empty", "empty vm glob");
        broken(RULE("{ \"name\": \"a\", \"match\": [] }"), 3, 37, "\"match\" must be an object, not array",
               "match not an object");
        broken(RULE("{ \"name\": \"a\", \"memlock\": {} }"), 3, 39, "memlock section needs \"max\"",
               "memlock without max");
        broken(RULE("{ \"name\": \"a\", \"memlock\": { \"max\": \"12X\" } }"), 3, 48,
               "memlock max must be bytes or a size like \"64G\" or \"unlimited\"", "bad size 12X");
        broken(RULE("{ \"name\": \"a\", \"memlock\": { \"max\": -1 } }"), 3, 48, "memlock max must be bytes",
               "negative size");
        broken(RULE("{ \"name\": \"a\", \"memlock\": { \"max\": \"1G\", \"min\": 0 } }"), 3, 54,
               "unknown memlock key 'min' (allowed: max, unlimited)", "unknown memlock key");
        broken(RULE("{ \"name\": \"bad name!\" }"), 3, 23, "rule name must be 1-64 characters of [A-Za-z0-9._-]",
               "rule name with a space");
        broken(RULE("{ \"name\": \"\" }"), 3, 23, "rule name must be 1-64 characters", "empty rule name");
        broken(RULE("{ \"name\": \"x1234567890123456789012345678901234567890123456789012345678901234\" }"), 3, 23,
               "rule name must be 1-64 characters", "rule name of 65 characters");
        broken(RULE("{ \"name\": 5 }"), 3, 23, "rule name must be 1-64 characters", "rule name not a string");
        broken(RULE("{ \"match\": {} }"), 3, 13, "rule has no \"name\"", "rule without a name");
        broken(RULE("{ \"name\": \"a\" }, { \"name\": \"a\" }"), 3, 40, "duplicate rule name 'a' (first in bad.json:3)",
               "duplicate rule name in one file");
        broken(RULE("{ \"name\": \"a\", \"comment\": 1 }"), 3, 39, "\"comment\" must be a string, not number",
               "comment not a string");
        broken(RULE("{ \"name\": \"ok\" }, 7"), 3, 31, "a rule must be an object, not number", "rule not an object");

        /* 64 characters is the longest name */
        _cleanup_policy_ policy *p64 = policy_new();
        tap_is_int(load(p64, "n.json", RULE("{ \"name\": \"x123456789012345678901234567890123456789012345678901234567890123\" }"),
                        NULL),
                   0, "rule name of 64 characters loads");

        /* duplicate rule names across two loads into one policy; the failed load adds nothing */
        _cleanup_policy_ policy *p = policy_new();
        tap_is_int(load(p, "a.json", "{\"version\":1,\n\"rules\":[\n  {\"name\":\"x\"},\n  {\"name\":\"shared\"}]}", NULL),
                   0, "first file loads");
        broken_into(p, "b.json", "{\"version\": 1,\n \"rules\": [\n  {\"name\": \"y\"},\n  {\"name\": \"shared\"}\n]}", 4, 12,
                    "duplicate rule name 'shared' (first in a.json:4)", "duplicate rule name across files");
        tap_ok(p->n_rules == 2 && rule_named(p, "x") && rule_named(p, "shared") && !rule_named(p, "y"),
               "the failed file's earlier rule 'y' was dropped");
        tap_is_int(load(p, "c.json", "{\"version\":1,\"rules\":[{\"name\":\"y\"}]}", NULL), 0,
                   "'y' can be loaded later from another file");

        /* policy_error_string() */
        policy_error e = { .file = "f.json", .line = 3, .column = 7, .message = "boom" };
        char buf[1600];
        tap_is_str(policy_error_string(&e, buf, sizeof(buf)), "f.json:3:7: boom", "policy_error_string with a position");
        e.line = e.column = 0;
        tap_is_str(policy_error_string(&e, buf, sizeof(buf)), "f.json: boom", "policy_error_string without a position");
}

/* --- directories --- */

static char tmpdir[256];

static void write_file(const char *dir, const char *name, const char *text) {
        char path[512];
        if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int) sizeof(path))
                unit_bail("path %s/%s is too long", dir, name);
        FILE *f = fopen(path, "we");
        if (!f || fputs(text, f) < 0 || fclose(f) != 0)
                unit_bail("cannot write %s", path);
}

static void remove_dir(const char *dir, const char *const *names) {
        char path[512];
        for (const char *const *n = names; *n; n++) {
                if (snprintf(path, sizeof(path), "%s/%s", dir, *n) < (int) sizeof(path))
                        unlink(path);
        }
        rmdir(dir);
}

static void test_dir(void) {
        static const char *const files[] = { "20-second.json", "10-first.json", "README", "30-notes.txt",
                                             "40-x.json.bak", ".hidden.json", "00-z.jsonx", NULL };
        char dir[512], missing[600];
        snprintf(dir, sizeof(dir), "%s/good", tmpdir);
        if (mkdir(dir, 0700) < 0)
                unit_bail("mkdir %s: %m", dir);
        /* written in reverse order so directory order is unlikely to be lexical */
        write_file(dir, "20-second.json",
                   "{\"version\":1,\"rules\":[{\"name\":\"second\",\"match\":{\"uid\":1000},\"memlock\":{\"max\":\"2G\"}},"
                   "{\"name\":\"second-only\",\"match\":{\"uid\":2000}}]}");
        write_file(dir, "10-first.json",
                   "// first\n{\"version\":1,\"rules\":[{\"name\":\"first\",\"match\":{\"uid\":1000},\"memlock\":{\"max\":\"1G\"}}]}");
        write_file(dir, "README", "not json");
        write_file(dir, "30-notes.txt", "{ broken");
        write_file(dir, "40-x.json.bak", "{ broken");
        write_file(dir, ".hidden.json", "{ broken");
        write_file(dir, "00-z.jsonx", "{ broken");

        policy *p = NULL;
        policy_error err = {};
        int r = policy_load_dir(dir, &p, &err);
        if (!tap_is_int(r, 0, "policy_load_dir loads a directory")) {
                char buf[2048];
                tap_diag("%s", policy_error_string(&err, buf, sizeof(buf)));
        }
        tap_ok(p && p->n_files == 2 && p->n_rules == 3, "only the two *.json files are read");
        tap_ok(p && p->n_rules == 3 && streq(p->rules[0].name, "first") && streq(p->rules[1].name, "second") &&
                       streq(p->rules[2].name, "second-only"),
               "files are read in lexical order");
        char path[600];
        snprintf(path, sizeof(path), "%s/10-first.json", dir);
        tap_ok(p && p->n_rules == 3 && streq(p->rules[0].file, path) && p->rules[0].line == 2,
               "rules record the file's path and line");
        policy_subject s = { .uid = 1000, .cgroup = "/c" };
        const policy_rule *m = policy_match(p, &s, NULL, NULL);
        tap_ok(m && streq(m->name, "first") && m->memlock.max == GiB, "first match wins across files");
        s.uid = 2000;
        m = policy_match(p, &s, NULL, NULL);
        tap_ok(m && streq(m->name, "second-only"), "a rule of the second file matches");
        policy_free(p);

        /* a broken second file fails the whole load */
        write_file(dir, "15-broken.json", "{\"version\":1,\n \"rules\":[{\"name\":\"b\",\n  \"match\":{\"uid\":\"9-3\"}}]}");
        p = (policy *) 0x1;
        err = (policy_error) {};
        r = policy_load_dir(dir, &p, &err);
        tap_is_int(r, -EINVAL, "a broken file fails the load");
        tap_ok(p == (policy *) 0x1, "no policy returned on failure");
        snprintf(path, sizeof(path), "%s/15-broken.json", dir);
        tap_is_str(err.file, path, "error names the broken file");
        tap_ok(err.line == 3 && err.column == 18, "error at 3:18 (got %u:%u)", err.line, err.column);
        tap_has_str(err.message, "uid range '9-3' is empty", "error message");
        snprintf(path, sizeof(path), "%s/15-broken.json", dir);
        unlink(path);

        /* a directory called *.json is not a policy file */
        snprintf(path, sizeof(path), "%s/50-dir.json", dir);
        mkdir(path, 0700);
        p = NULL;
        r = policy_load_dir(dir, &p, &err);
        tap_ok(r == -EINVAL && streq(err.file, path) && err.line == 0 && strstr(err.message, "not a regular file"),
               "a directory named *.json fails the load");
        policy_free(p);
        rmdir(path);

        /* missing directory */
        snprintf(missing, sizeof(missing), "%s/does-not-exist", tmpdir);
        p = (policy *) 0x1;
        err = (policy_error) {};
        r = policy_load_dir(missing, &p, &err);
        tap_is_int(r, -ENOENT, "missing directory: -ENOENT");
        tap_ok(p == (policy *) 0x1 && streq(err.file, missing) && err.line == 0,
               "missing directory: error names it, no position");
        tap_has_str(err.message, "cannot open policy directory", "missing directory: message");

        /* an empty directory is an empty policy: everything denied */
        snprintf(path, sizeof(path), "%s/empty", tmpdir);
        mkdir(path, 0700);
        p = NULL;
        r = policy_load_dir(path, &p, &err);
        tap_ok(r == 0 && p && p->n_rules == 0 && p->n_files == 0, "empty directory: empty policy");
        policy_free(p);
        rmdir(path);

        remove_dir(dir, files);
}

/* --- glob_match --- */

static void test_glob(void) {
        static const struct {
                const char *pattern, *s;
                bool match;
        } g[] = {
                { "/a/b", "/a/b", true },
                { "/a/b", "/a/bc", false },
                { "/a/b", "/a", false },
                { "", "", true },
                { "", "x", false },
                { "x", "", false },
                { "*", "", true },
                { "*", "abc", true },
                { "*", "a/b", false },
                { "*", "/", false },
                { "/a/*", "/a/b", true },
                { "/a/*", "/a/", true },
                { "/a/*", "/a/b/c", false },
                { "/a/*/c", "/a/b/c", true },
                { "/a/*/c", "/a/b/x/c", false },
                { "/machine.slice/*.scope", "/machine.slice/vm-1.scope", true },
                { "/machine.slice/*.scope", "/machine.slice/sub/vm-1.scope", false },
                { "a*b*c", "axxbyyc", true },
                { "a*b*c", "axxbyy", false },
                { "/a/**", "/a/b/c/d", true },
                { "/a/**", "/a/", true },
                { "/a/**", "/a", false },
                { "/**/x.scope", "/a/b/x.scope", true },
                { "/**/x.scope", "/a/b/y.scope", false },
                { "**", "", true },
                { "**", "/any/thing", true },
                { "/a/**c", "/a/b/c", true },
                { "/a/?", "/a/b", true },
                { "/a/?", "/a/bc", false },
                { "/a/?", "/a/", false },
                { "/a?b", "/a/b", false },
                { "?", "", false },
                { "web-?", "web-1", true },
                { "web-?", "web-12", false },
        };
        for (size_t i = 0; i < ELEMENTSOF(g); i++)
                tap_ok(glob_match(g[i].pattern, g[i].s) == g[i].match, "glob_match('%s', '%s') is %s", g[i].pattern,
                       g[i].s, g[i].match ? "true" : "false");
}

/* --- policy_match --- */

static const char match_policy[] = "{\"version\":1,\"rules\":[\n"
                                   "{\"name\":\"uid-range\",\"match\":{\"uid\":\"1000-1999\"},\"memlock\":{\"max\":\"1G\"}},\n"
                                   "{\"name\":\"cgroup\",\"match\":{\"cgroup\":\"/pods/*.scope\"},\"memlock\":{\"max\":\"2G\"}},\n"
                                   "{\"name\":\"vm\",\"match\":{\"uid\":3000,\"vm\":[\"web-?\",\"db-*\"]}},\n"
                                   "{\"name\":\"gid\",\"match\":{\"gid\":[50,\"60-70\"]}}\n"
                                   "]}";

typedef struct explain_log {
        size_t n;
        char names[8][32];
        bool matched[8];
        char why[8][256];
} explain_log;

static void explain(const policy_rule *r, bool matched, const char *why, void *userdata) {
        explain_log *l = userdata;
        if (l->n < ELEMENTSOF(l->names)) {
                snprintf(l->names[l->n], sizeof(l->names[0]), "%s", r->name);
                l->matched[l->n] = matched;
                snprintf(l->why[l->n], sizeof(l->why[0]), "%s", why);
        }
        l->n++;
}

static const char *match_name(const policy *p, uid_t uid, gid_t gid, const char *cgroup, const char *vm) {
        policy_subject s = { .uid = uid, .gid = gid, .cgroup = cgroup, .vm = vm };
        const policy_rule *r = policy_match(p, &s, NULL, NULL);
        return r ? r->name : "(none)";
}

static void test_match(void) {
        _cleanup_policy_ policy *p = policy_new();
        int r = load(p, "m.json", match_policy, NULL);
        tap_is_int(r, 0, "match policy loads");

        tap_is_str(match_name(p, 1000, 5, "/x", NULL), "uid-range", "uid at the range's low end");
        tap_is_str(match_name(p, 1999, 5, "/x", NULL), "uid-range", "uid at the range's high end");
        tap_is_str(match_name(p, 2000, 5, "/x", NULL), "(none)", "uid just above the range: default deny");
        tap_is_str(match_name(p, 999, 5, "/pods/a.scope", NULL), "cgroup", "cgroup glob");
        tap_is_str(match_name(p, 999, 5, "/pods/x/a.scope", NULL), "(none)", "cgroup glob '*' does not cross '/'");
        tap_is_str(match_name(p, 999, 5, NULL, NULL), "(none)", "no cgroup does not match a cgroup glob");
        tap_is_str(match_name(p, 3000, 5, "/x", "web-1"), "vm", "vm glob 'web-?'");
        tap_is_str(match_name(p, 3000, 5, "/x", "db-main"), "vm", "vm glob 'db-*'");
        tap_is_str(match_name(p, 3000, 5, "/x", "web-12"), "(none)", "vm matching no glob");
        tap_is_str(match_name(p, 3001, 5, "/x", "web-1"), "(none)", "vm glob matches but uid does not");
        tap_is_str(match_name(p, 3000, 5, "/x", NULL), "(none)", "no vm does not match a vm glob");
        tap_is_str(match_name(p, 5, 50, "/x", NULL), "gid", "gid in a list");
        tap_is_str(match_name(p, 5, 65, "/x", NULL), "gid", "gid in a list's range");
        tap_is_str(match_name(p, 5, 71, "/x", NULL), "(none)", "gid outside the list");
        tap_is_str(match_name(p, 1500, 50, "/pods/a.scope", "web-1"), "uid-range", "first match wins");
        tap_is_str(match_name(p, 5, 50, "/pods/a.scope", NULL), "cgroup", "first match wins (second rule)");
        tap_is_str(match_name(NULL, 1000, 5, "/x", NULL), "(none)", "NULL policy matches nothing");

        explain_log l = {};
        policy_subject s = { .uid = 3000, .gid = 71, .cgroup = "/x", .vm = "mail" };
        tap_ok(policy_match(p, &s, explain, &l) == NULL, "explain: no match");
        tap_is_int(l.n, 4, "explain: told about all 4 rules");
        tap_ok(streq(l.names[0], "uid-range") && !l.matched[0] && streq(l.why[0], "uid 3000 is not in the rule's uid list"),
               "explain: uid reason");
        tap_ok(streq(l.names[1], "cgroup") && !l.matched[1] &&
                       streq(l.why[1], "cgroup '/x' matches none of the rule's cgroup globs"),
               "explain: cgroup reason");
        tap_ok(streq(l.names[2], "vm") && !l.matched[2] && streq(l.why[2], "vm 'mail' matches none of the rule's vm globs"),
               "explain: vm reason");
        tap_ok(streq(l.names[3], "gid") && !l.matched[3] && streq(l.why[3], "gid 71 is not in the rule's gid list"),
               "explain: gid reason");

        l = (explain_log) {};
        s = (policy_subject) { .uid = 5, .gid = 5, .cgroup = "/pods/a.scope" };
        const policy_rule *m = policy_match(p, &s, explain, &l);
        tap_ok(m && streq(m->name, "cgroup") && l.n == 2 && !l.matched[0] && l.matched[1] &&
                       streq(l.names[1], "cgroup") && streq(l.why[1], "uid, gid, cgroup, vm and via all match"),
               "explain: stops at the matching rule and says why");
}

/* --- policy_decide --- */

static const char decide_policy[] = "{\"version\":1,\"rules\":[\n"
                                    "{\"name\":\"limited\",\"match\":{\"uid\":1000},\"memlock\":{\"max\":\"1G\"}},\n"
                                    "{\"name\":\"nosection\",\"match\":{\"uid\":2000}},\n"
                                    "{\"name\":\"unlimited\",\"match\":{\"uid\":3000},\"memlock\":{\"max\":\"unlimited\"}}\n"
                                    "]}";

static void test_decide(void) {
        _cleanup_policy_ policy *p = policy_new();
        tap_is_int(load(p, "d.json", decide_policy, NULL), 0, "decide policy loads");

        /* memlock.set against a rule's max */
        decided(decide(p, 1000, "memlock.set", "{\"pid\":0,\"soft\":\"512M\"}"), true, "limited",
                "requested 512 MiB is within the rule's memlock max 1 GiB", "soft within max");
        decided(decide(p, 1000, "memlock.set", "{\"pid\":0,\"soft\":\"1G\",\"hard\":1073741824}"), true, "limited",
                "requested 1 GiB is within the rule's memlock max 1 GiB", "soft and hard exactly at max");
        decided(decide(p, 1000, "memlock.set", "{\"pid\":0,\"soft\":\"1G\",\"hard\":null}"), true, "limited",
                "within", "hard null keeps the hard limit");
        decided(decide(p, 1000, "memlock.set", "{\"pid\":0,\"soft\":1073741825}"), false, "limited",
                "exceeds the rule's memlock max 1 GiB", "soft one byte over max");
        decided(decide(p, 1000, "memlock.set", "{\"pid\":0,\"soft\":\"512M\",\"hard\":\"2G\"}"), false, "limited",
                "requested 2 GiB exceeds the rule's memlock max 1 GiB", "hard over max");
        decided(decide(p, 1000, "memlock.set", "{\"pid\":0,\"soft\":\"512M\",\"hard\":\"unlimited\"}"), false, "limited",
                "requested unlimited exceeds the rule's memlock max 1 GiB", "hard unlimited over max");
        decided(decide(p, 3000, "memlock.set", "{\"pid\":7,\"soft\":\"unlimited\",\"hard\":\"unlimited\"}"), true,
                "unlimited", "requested unlimited is within the rule's memlock max unlimited", "unlimited max");
        decided(decide(p, 2000, "memlock.set", "{\"pid\":0,\"soft\":4096}"), false, "nosection",
                "rule 'nosection' has no section for memlock.set", "rule without a memlock section");
        decide_result none = decide(p, 5, "memlock.set", "{\"pid\":0,\"soft\":4096}");
        decided(none, false, NULL, "no rule matches uid 5, cgroup '/pods/p.scope', vm 'vm1' (default deny)", "no rule");
        tap_is_int(none.n_explained, 3, "no rule: the explain callback heard about all 3 rules");
        decided(decide(NULL, 1000, "memlock.set", "{\"pid\":0,\"soft\":4096}"), false, NULL, "default deny",
                "no policy at all");

        /* bad args are -EINVAL, whoever asks and whatever the policy says */
        rejected(decide(p, 1000, "memlock.set", "{\"soft\":4096}"), -EINVAL, "memlock.set: missing \"pid\"", "missing pid");
        rejected(decide(p, 1000, "memlock.set", "{\"pid\":0}"), -EINVAL, "memlock.set: missing \"soft\"", "missing soft");
        rejected(decide(p, 1000, "memlock.set", "{\"pid\":0,\"soft\":2048,\"hard\":1024}"), -EINVAL,
                 "memlock.set: soft limit 2048 exceeds hard limit 1024", "soft > hard");
        rejected(decide(p, 1000, "memlock.set", "{\"pid\":0,\"soft\":1,\"foo\":1}"), -EINVAL,
                 "memlock.set: unknown argument 'foo' (allowed: pid, soft, hard)", "unknown arg key");
        rejected(decide(p, 1000, "memlock.set", "{\"pid\":\"0\",\"soft\":1}"), -EINVAL,
                 "\"pid\" must be a process id (0 for the caller itself)", "pid as a string");
        rejected(decide(p, 1000, "memlock.set", "{\"pid\":-1,\"soft\":1}"), -EINVAL, "\"pid\" must be a process id",
                 "negative pid");
        rejected(decide(p, 1000, "memlock.set", "{\"pid\":2147483648,\"soft\":1}"), -EINVAL,
                 "\"pid\" must be a process id", "pid above INT32_MAX");
        rejected(decide(p, 1000, "memlock.set", "{\"pid\":1.5,\"soft\":1}"), -EINVAL, "\"pid\" must be a process id",
                 "fractional pid");
        rejected(decide(p, 1000, "memlock.set", "{\"pid\":0,\"soft\":true}"), -EINVAL,
                 "\"soft\" must be bytes, a size like \"64G\", or \"unlimited\"", "soft as a boolean");
        rejected(decide(p, 1000, "memlock.set", "{\"pid\":0,\"soft\":\"12X\"}"), -EINVAL, "\"soft\" must be bytes",
                 "soft as a bad size");
        rejected(decide(p, 1000, "memlock.set", "{\"pid\":0,\"soft\":1,\"hard\":[]}"), -EINVAL,
                 "\"hard\" must be bytes, a size like \"64G\", \"unlimited\", or absent to keep", "hard as an array");
        rejected(decide(p, 1000, "memlock.set", "[1]"), -EINVAL, "\"args\" must be an object", "args an array");
        rejected(decide(p, 1000, "memlock.set", NULL), -EINVAL, "\"args\" must be an object", "no args");
        rejected(decide(p, 5, "memlock.set", "{\"soft\":1}"), -EINVAL, "missing \"pid\"",
                 "bad args with no matching rule");
        rejected(decide(p, 2000, "memlock.set", "{\"pid\":0,\"soft\":1,\"x\":0}"), -EINVAL, "unknown argument 'x'",
                 "bad args under a rule without the section");

        /* unknown operations */
        rejected(decide(p, 1000, "memlock.get", "{}"), -EOPNOTSUPP,
                 "unknown operation 'memlock.get' (API 1 knows: ping, state.get, memlock.set, cgroup.move, sched.set, "
                 "tap.create, tap.destroy, bridge.create, bridge.destroy, kvmi.attach, kvmi.connect, "
                 "kvmi.set-page-access, kvmi.detach, unotify.attach)",
                 "unknown op");

        /* ping and state.get: always allowed, no rule needed, no args taken */
        decide_result ping = decide(p, 5, "ping", NULL);
        decided(ping, true, NULL, "always allowed", "ping without args");
        tap_is_int(ping.n_explained, 0, "ping consults no rule");
        tap_is_str(ping.d.reason, "always allowed: it only concerns the caller's own session", "ping's whole reason");
        /* a reason taken as it is: the same bytes, cut at the same place, as through the format */
        char longer[sizeof(ping.d.reason) + 40];
        for (size_t i = 0; i < sizeof(longer) - 1; i++)
                longer[i] = (char) ('a' + i % 26);
        longer[sizeof(longer) - 1] = 0;
        const size_t cuts[] = { 0, 1, sizeof(ping.d.reason) - 2, sizeof(ping.d.reason) - 1, sizeof(ping.d.reason),
                                sizeof(longer) - 1 };
        for (size_t i = 0; i < ELEMENTSOF(cuts); i++) {
                char text[sizeof(longer)];
                memcpy(text, longer, cuts[i]);
                text[cuts[i]] = 0;
                policy_decision viaf, as_is;
                memset(&viaf, 'x', sizeof(viaf));
                memset(&as_is, 'y', sizeof(as_is));
                ops_allow(&viaf, "%s", text);
                ops_allow_text(&as_is, text);
                tap_ok(as_is.allowed && strlen(as_is.reason) == strlen(viaf.reason) &&
                               streq(as_is.reason, viaf.reason),
                       "ops_allow_text() of %zu bytes: %zu kept, as ops_allow() keeps", cuts[i], strlen(as_is.reason));
        }
        decided(decide(NULL, 5, "ping", "{}"), true, NULL, "always allowed", "ping with {} and no policy");
        decided(decide(p, 5, "ping", "null"), true, NULL, "always allowed", "ping with null args");
        rejected(decide(p, 5, "ping", "{\"x\":1}"), -EINVAL, "ping takes no arguments", "ping with args");
        rejected(decide(p, 5, "ping", "[]"), -EINVAL, "ping takes no arguments", "ping with an array");
        decided(decide(p, 5, "state.get", NULL), true, NULL, "always allowed", "state.get");

        /* memlock_args_parse fills every field */
        _cleanup_json_ json_value *a = NULL, *b = NULL;
        json_parse_error je;
        memlock_args ma = {};
        char msg[256];
        const char *t1 = "{\"hard\":\"unlimited\",\"soft\":\"64K\",\"pid\":42}", *t2 = "{\"pid\":0,\"soft\":5}";
        tap_ok(json_parse(t1, strlen(t1), false, &a, &je) == 0 && memlock_args_parse(a, &ma, msg, sizeof(msg)) == 0 &&
                       ma.pid == 42 && ma.soft == 65536 && ma.hard == UINT64_MAX,
               "memlock_args_parse: pid, soft \"64K\", hard \"unlimited\"");
        tap_ok(json_parse(t2, strlen(t2), false, &b, &je) == 0 && memlock_args_parse(b, &ma, msg, sizeof(msg)) == 0 &&
                       ma.pid == 0 && ma.soft == 5 && ma.hard == DELEGATE_LIMIT_KEEP,
               "memlock_args_parse: absent hard is DELEGATE_LIMIT_KEEP");
        tap_ok(op_lookup("memlock.set") && op_lookup("memlock.set")->needs_policy && op_lookup("ping") &&
                       !op_lookup("ping")->needs_policy && !op_lookup("nope"),
               "op_lookup");
}

int main(void) {
        unit_tmpdir(tmpdir, sizeof(tmpdir), "test-policy");
        test_good();
        test_broken();
        test_dir();
        test_glob();
        test_match();
        test_decide();
        rmdir(tmpdir);
        return tap_done();
}
