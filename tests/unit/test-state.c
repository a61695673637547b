/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-state.c - the session state file (broker/broker-state.c:
 * state_parse(), state_gen()) on files a real broker wrote
 * (tests/fuzz/corpus/state, read from the source tree) and on edits of
 * them: what is read, what is refused with which reason, what a refused
 * file still yields for undoing, and that saving what was read gives back
 * the broker's own bytes.
 */
#include <fcntl.h>
#include <stdio.h>

#include "broker.h"
#include "tap.h"
#include "unit-util.h"

static broker b = { .state_fd = -EBADF };
static char corpus[4096];

static char *slurp(const char *name, size_t *ret_len) {
        char path[4200];
        snprintf(path, sizeof(path), "%s/%s", corpus, name);
        FILE *f = fopen(path, "re");
        if (!f)
                unit_bail("%s: %m", path);
        char *buf = calloc(1, 1 << 20);
        size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
        fclose(f);
        if (!buf || n == 0)
                unit_bail("%s: empty", path);
        *ret_len = n;
        return buf;
}

static void drop(client *c) {
        if (!c)
                return;
        c->detached_keep = true;
        client_free(c);
}

static char *gen(const client *c) {
        yajl_gen g = json_gen_new();
        char *text = NULL;
        state_gen(c, g);
        json_gen_take(g, &text, NULL);
        json_gen_freep(&g);
        return text;
}

/* @text with the first @from replaced by @to */
static char *edit(const char *text, const char *from, const char *to) {
        const char *p = strstr(text, from);
        if (!p)
                unit_bail("'%s' not in the file", from);
        char *out = NULL;
        if (asprintf(&out, "%.*s%s%s", (int) (p - text), text, to, p + strlen(from)) < 0)
                unit_bail("asprintf");
        return out;
}

static void test_real_file(void) {
        size_t len;
        char *text = slurp("broker-memlock-replies.json", &len);
        client *c = NULL;
        char msg[256] = "";
        tap_is_int(state_parse(&b, text, len, &c, msg, sizeof(msg)), 0, "a file the broker wrote is read");
        tap_ok(c && c->detached && c->welcomed, "  as a detached session");
        tap_is_int(c->session, 1, "  session 1");
        tap_is_str(c->vm, "vm-seed2", "  vm");
        tap_is_str(c->name, "test-client", "  client");
        tap_is_str(c->cgroup, "/fuzzseed-15038/pod", "  pod cgroup");
        tap_ok(c->cred.pid == 13807 && c->cred.uid == 0 && c->starttime == 971209, "  pid 13807, uid 0, start 971209");
        tap_ok(c->n_memlock == 1 && c->memlock[0].host_pid == 13807 && c->memlock[0].soft == 4194304 &&
                       c->memlock[0].hard == 8388608,
               "  the memlock record: pid 13807, soft 4M, hard 8M");
        tap_ok(c->n_tap == 2 && streq(c->tap[0].name, "vnet0") && c->tap[0].persist && c->tap[1].ifindex == 3,
               "  two TAP records: vnet0 persistent, vnet1 ifindex 3");
        size_t replies = 0;
        for (size_t i = 0; i < CLIENT_REPLY_CACHE; i++)
                replies += c->cache[i].buf != NULL;
        tap_is_int(replies, 3, "  three cached replies");
        char *again = gen(c);
        tap_ok(again && strlen(again) == len && memcmp(again, text, len) == 0,
               "  saved again: the broker's own bytes, unchanged");
        free(again);
        drop(c);

        char *t2 = edit(text, "\"session\":1,", "\"session\":9007199254740992,");
        c = NULL;
        tap_is_int(state_parse(&b, t2, strlen(t2), &c, msg, sizeof(msg)), -EINVAL, "session 2^53: -EINVAL");
        tap_is_str(msg, "\"session\" must be an integer from 1 to 9007199254740991", "  says so");
        drop(c);
        free(t2);

        t2 = edit(text, "\"cgroup\":\"/fuzzseed-15038/pod\"", "\"cgroup\":\"/../other-pod\"");
        c = NULL;
        tap_is_int(state_parse(&b, t2, strlen(t2), &c, msg, sizeof(msg)), -EINVAL, "a peer cgroup with '..': -EINVAL");
        tap_is_str(msg, "peer cgroup '/../other-pod' is not a cgroup below the root", "  says so");
        tap_ok(c && !c->cgroup && c->n_tap == 2, "  the client keeps no cgroup, still its TAP records (to undo)");
        drop(c);
        free(t2);

        t2 = edit(text, "\"cgroups_created\":[]",
                  "\"cgroups_created\":[\"/fuzzseed-15038/pod/vcpu0\",\"/fuzzseed-15038/podx/a\","
                  "\"/fuzzseed-15038/pod/../x\"]");
        c = NULL;
        tap_is_int(state_parse(&b, t2, strlen(t2), &c, msg, sizeof(msg)), -EINVAL,
                   "created cgroups beside or above the pod: -EINVAL");
        tap_is_str(msg, "cgroups_created[1] is not a cgroup below the session's pod cgroup", "  names the first");
        tap_ok(c && c->n_cgroups_created == 1 && streq(c->cgroups_created[0], "/fuzzseed-15038/pod/vcpu0"),
               "  only the one below the pod is kept, for removal");
        drop(c);
        free(t2);

        t2 = edit(text, "\"token_sha256\":\"a2cf", "\"token_sha256\":\"A2CF");
        c = NULL;
        tap_is_int(state_parse(&b, t2, strlen(t2), &c, msg, sizeof(msg)), -EINVAL, "an upper-case token hash: -EINVAL");
        tap_is_str(msg, "\"token_sha256\" must be 64 lower-case hex digits", "  says so");
        drop(c);
        free(t2);

        c = NULL;
        tap_is_int(state_parse(&b, "[]", 2, &c, msg, sizeof(msg)), -EBADMSG, "an array: -EBADMSG");
        tap_ok(c == NULL, "  no client");
        tap_is_int(state_parse(&b, text, len - 1, &c, msg, sizeof(msg)), -EBADMSG, "a file cut short: -EBADMSG");
        free(text);
}

int main(int argc, char **argv) {
        if (argc < 2)
                unit_bail("usage: %s CORPUS-DIR", argv[0]);
        snprintf(corpus, sizeof(corpus), "%s", argv[1]);
        test_real_file();
        return tap_done();
}
