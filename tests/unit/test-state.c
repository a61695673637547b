/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-state.c - the session state file (broker/broker-state.c:
 * state_parse(), state_gen()) on files a real broker wrote
 * (tests/fuzz/corpus/state, read from the source tree) and on edits of
 * them: what is read, what is refused with which reason, what a refused
 * file still yields for undoing, and that saving what was read gives back
 * the broker's own bytes; files an older broker wrote are read too; the
 * frame that tells a whole file from one a killed save cut; and
 * state_save() writing into a directory, syncing it as strace(1) sees.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "broker-op.h"
#include "broker.h"
#include "tap.h"
#include "unit-util.h"

static broker b = { .state_fd = -EBADF };
static char corpus[4096];

static char *slurp(const char *name, size_t *ret_len) {
        return unit_slurp(corpus, name, ret_len);
}

static void drop(client *c) {
        if (!c)
                return;
        c->detached_keep = true;
        client_free(c);
}

static char *gen(const client *c) {
        json_gen *g = json_gen_new();
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

/* What state.get shows of @c (session_state_gen()), parsed. */
static json_value *shown(const client *c) {
        json_gen *g = json_gen_new();
        char *text = NULL;
        json_value *v = NULL;
        json_parse_error je;
        session_state_gen(c, g);
        json_gen_take(g, &text, NULL);
        json_gen_freep(&g);
        if (!text || json_parse(text, strlen(text), false, &v, &je) < 0)
                unit_bail("session_state_gen() gave no JSON: %s", text ? text : "(null)");
        free(text);
        return v;
}

/* @v.@key[@i].@field as an integer, or -1 */
static int64_t at(const json_value *v, const char *key, size_t i, const char *field) {
        const json_value *a = json_get(v, key);
        int64_t x;
        if (!a || a->type != JSON_ARRAY || i >= a->array.n)
                return -1;
        const json_value *e = field ? json_get(a->array.items[i], field) : a->array.items[i];
        return e && json_to_i64(e, &x) == 0 ? x : -1;
}

static const char *at_str(const json_value *v, const char *key, size_t i, const char *field) {
        const json_value *a = json_get(v, key);
        if (!a || a->type != JSON_ARRAY || i >= a->array.n)
                return NULL;
        const json_value *e = field ? json_get(a->array.items[i], field) : a->array.items[i];
        return json_is_string(e) ? e->string.str : NULL;
}

static size_t count(const json_value *v, const char *key) {
        const json_value *a = json_get(v, key);
        return a && a->type == JSON_ARRAY ? a->array.n : SIZE_MAX;
}

/* Does saving @c (NULL: no) give @want's @len bytes?  Says so as @what; drops @c. */
static void saved_as(client *c, const char *want, size_t len, const char *what) {
        char *again = c ? gen(c) : NULL;
        tap_ok(again && strlen(again) == len && memcmp(again, want, len) == 0, "%s", what);
        free(again);
        drop(c);
}

/* Parse @text with @from replaced by @to: -EINVAL with @want expected; the client it yields (to drop). */
static client *refused_edit(const char *text, const char *from, const char *to, const char *what, const char *want) {
        char msg[256] = "";
        client *c = NULL;
        char *t = edit(text, from, to);
        tap_is_int(state_parse(&b, t, strlen(t), &c, msg, sizeof(msg)), -EINVAL, "%s: -EINVAL", what);
        tap_is_str(msg, want, "  says so");
        free(t);
        return c;
}

static void test_real_file(void) {
        size_t len;
        char *text = slurp("broker-all-records.json", &len);
        client *c = NULL;
        char msg[256] = "";
        tap_is_int(state_parse(&b, text, len, &c, msg, sizeof(msg)), 0, "a file the broker wrote is read");
        tap_ok(c && c->detached && c->welcomed, "  as a detached session");
        tap_is_int(c->session, 1, "  session 1");
        tap_is_str(c->vm, "vm-seed3", "  vm");
        tap_is_str(c->name, "test-client", "  client");
        tap_is_str(c->cgroup, "/fuzzseed-15038/pod", "  pod cgroup");
        tap_ok(c->cred.pid == 4884 && c->cred.uid == 0 && c->starttime == 1005912, "  pid 4884, uid 0, start 1005912");
        json_value *v = shown(c);
        tap_ok(count(v, "memlock") == 1 && at(v, "memlock", 0, "pid") == 0 && at(v, "memlock", 0, "soft") == 4194304 &&
                       at(v, "memlock", 0, "hard") == 8388608,
               "  state.get shows the memlock record: pid 0 (itself), soft 4M, hard 8M");
        tap_ok(count(v, "cgroups_created") == 1 &&
                       streq(at_str(v, "cgroups_created", 0, NULL), "/fuzzseed-15038/pod/housekeeping"),
               "  the cgroup it created");
        tap_ok(count(v, "tap") == 2 && streq(at_str(v, "tap", 0, "name"), "vnet0") && at(v, "tap", 1, "ifindex") == 3,
               "  and two TAP records: vnet0, vnet1 at ifindex 3");
        tap_ok(at(v, "tap", 0, "queues") == 1 && at(v, "tap", 1, "queues") == 2,
               "  with their queues made so far: 1 and 2 (counted against max_queues after the restart)");
        json_free(v);
        size_t replies = 0;
        for (size_t i = 0; i < CLIENT_REPLY_CACHE; i++)
                replies += c->cache[i].buf != NULL;
        tap_is_int(replies, 3, "  three cached replies");
        bool sized = true;
        for (size_t i = 0; i < CLIENT_REPLY_CACHE; i++)
                if (c->cache[i].buf)
                        sized = sized && c->cache[i].len == strlen(c->cache[i].buf) &&
                                c->cache[i].size == c->cache[i].len + 1;
        tap_ok(sized, "  each of their buffers' sizes known: its length and a NUL (what a reuse may fill)");
        tap_ok(c->n_allowed == 4 && c->n_denied == 0 && c->n_quiet == 2,
               "  its counts, the pings and state.get requests too: 4 allowed, 0 denied, 2 quiet");
        saved_as(c, text, len, "  saved again: the broker's own bytes, unchanged");

        drop(refused_edit(text, "\"session\":1,", "\"session\":9007199254740992,", "session 2^53",
                          "\"session\" must be an integer from 1 to 9007199254740991"));

        c = refused_edit(text, "\"cgroup\":\"/fuzzseed-15038/pod\"", "\"cgroup\":\"/../other-pod\"",
                         "a peer cgroup with '..'", "peer cgroup '/../other-pod' is not a cgroup below the root");
        /* what it still holds, as it would be saved (state.get never shows a rejected session) */
        char *kept = c ? gen(c) : NULL;
        json_parse_error je;
        v = NULL;
        if (kept)
                json_parse(kept, strlen(kept), false, &v, &je);
        tap_ok(c && !c->cgroup && count(v, "tap") == 2,
               "  the client keeps no cgroup, still its TAP records (to undo)");
        json_free(v);
        free(kept);
        drop(c);

        c = refused_edit(text, "\"cgroups_created\":[\"/fuzzseed-15038/pod/housekeeping\"]",
                         "\"cgroups_created\":[\"/fuzzseed-15038/pod/vcpu0\",\"/fuzzseed-15038/podx/a\","
                         "\"/fuzzseed-15038/pod/../x\"]",
                         "created cgroups beside or above the pod",
                         "cgroups_created[1] is not a cgroup below the session's pod cgroup");
        v = c ? shown(c) : NULL;
        tap_ok(c && count(v, "cgroups_created") == 1 &&
                       streq(at_str(v, "cgroups_created", 0, NULL), "/fuzzseed-15038/pod/vcpu0"),
               "  only the one below the pod is kept, for removal");
        json_free(v);
        drop(c);

        /* the client name as the hello takes it (client_name_valid(), common/names.c): 1-64 printable */
        char long_name[96];
        snprintf(long_name, sizeof(long_name), "\"client\":\"%065d\"", 0);
        drop(refused_edit(text, "\"client\":\"test-client\"", long_name, "a client name of 65 characters",
                          "\"client\" is not a valid string for it"));
        drop(refused_edit(text, "\"client\":\"test-client\"", "\"client\":\"test\\u0007client\"",
                          "a client name with a control character", "\"client\" is not a valid string for it"));

        drop(refused_edit(text, "\"queues\":2}", "\"queues\":17}", "a TAP record with 17 queues",
                          "tap[1]: \"queues\" must be an integer from 1 to 16"));

        drop(refused_edit(text, "\"token_sha256\":\"99a5", "\"token_sha256\":\"99A5", "an upper-case token hash",
                          "\"token_sha256\" must be 64 lower-case hex digits"));

        c = NULL;
        tap_is_int(state_parse(&b, "[]", 2, &c, msg, sizeof(msg)), -EBADMSG, "an array: -EBADMSG");
        tap_ok(c == NULL, "  no client");
        tap_is_int(state_parse(&b, text, len - 1, &c, msg, sizeof(msg)), -EBADMSG, "a file cut short: -EBADMSG");
        free(text);
}

/* A file an older broker wrote (its keys in another order): read, and saved in today's form stably. */
static void test_older_file(void) {
        size_t len;
        char *text = slurp("older-broker-memlock-replies.json", &len);
        client *c = NULL, *c2 = NULL;
        char msg[256] = "";
        tap_is_int(state_parse(&b, text, len, &c, msg, sizeof(msg)), 0, "a file the previous broker wrote is read");
        json_value *v = c ? shown(c) : NULL;
        tap_ok(count(v, "memlock") == 1 && at(v, "memlock", 0, "soft") == 4194304 && count(v, "tap") == 2,
               "  with its memlock record and both TAP records");
        tap_ok(at(v, "tap", 0, "queues") == 1 && at(v, "tap", 1, "queues") == 1,
               "  whose queues it did not keep: the first of each");
        json_free(v);
        char *t1 = gen(c);
        tap_is_int(state_parse(&b, t1, strlen(t1), &c2, msg, sizeof(msg)), 0, "  saved by this broker, read again");
        char *t2 = gen(c2);
        tap_is_str(t2, t1, "  and saved the same");
        free(t1);
        free(t2);
        drop(c2);
        drop(c);
        free(text);
}

/*
 * The retry cache in the file: this broker writes each answer unquoted,
 * as it was sent (a save copies it, it does not escape it); the file of
 * the broker before it (the same session, each answer quoted in
 * {"id":N,"reply":"..."}) is read to the same cache and saved as this
 * broker's file, to the byte.  An answer that is not an object naming
 * its id, or an older file's text that is not JSON or answers another id,
 * is refused.
 */
static void test_replies(void) {
        size_t len, new_len;
        char *text = slurp("older-broker-quoted-replies.json", &len), *now = slurp("broker-all-records.json", &new_len);
        client *c = NULL;
        char msg[256] = "";
        tap_ok(strstr(now, "\"replies\":[],\"sent\":[{\"id\":1,\"ok\":true,\"result\":{\"pong\":true,") != NULL,
               "this broker's file holds the answers unquoted in \"sent\", \"replies\" empty");
        tap_is_int(state_parse(&b, text, len, &c, msg, sizeof(msg)), 0, "the previous broker's file, answers quoted, is read");
        const cached_reply *r = c ? client_cache_find(c, 2) : NULL;
        tap_ok(r && streq(r->buf, "{\"id\":2,\"ok\":true,\"result\":{\"pid\":0,\"soft\":4194304,\"hard\":8388608,"
                                  "\"old\":{\"soft\":8388608,\"hard\":8388608}}}") && r->len == strlen(r->buf),
               "  the answer to id 2 in the cache, as it was sent");
        saved_as(c, now, new_len, "  saved again: this broker's file of the same session, to the byte");

        drop(refused_edit(now, "{\"id\":2,\"ok\"", "{\"ok\"", "an answer without its id",
                          "\"id\" must be an integer from 0 to 9007199254740991"));
        drop(refused_edit(now, "\"sent\":[{\"id\":1,", "\"sent\":[7,{\"id\":1,", "an answer that is a number",
                          "sent[0] is not a reply object"));
        drop(refused_edit(text, "{\"id\":2,\"reply\":\"{\\\"id\\\":2,", "{\"id\":2,\"reply\":\"{\\\"id\\\":5,",
                          "an older file's answer to another id", "replies[1]: its reply answers id 5, not 2"));
        drop(refused_edit(text, "{\"id\":2,\"reply\":\"{", "{\"id\":2,\"reply\":\"{{",
                          "an older file's answer that is not JSON",
                          "replies[1]: its reply is not JSON: invalid object key (must be a string)"));

        /* what a broker before this one sees: "replies" empty, "sent" a key it does not know (it has no
         * check for unknown keys); here the same file without "sent": the session, no retry cache */
        char *cut = edit(now, ",\"sent\":[", ",\"unread\":[");
        c = NULL;
        tap_is_int(state_parse(&b, cut, strlen(cut), &c, msg, sizeof(msg)), 0,
                   "this broker's file without \"sent\" (an older broker's view): read (%s)", msg);
        tap_ok(c && c->session == 1 && !client_cache_find(c, 2) && c->name && streq(c->vm, "vm-seed3"),
               "  its session, without the retry cache");
        drop(c);
        free(cut);
        free(text);
        free(now);
}

/* @dir/@name's bytes, or NULL. */
static char *read_at(int dir, const char *name) {
        int fd = openat(dir, name, O_RDONLY | O_CLOEXEC);
        char *buf = fd >= 0 ? calloc(1, 1 << 16) : NULL;
        ssize_t n = buf ? read(fd, buf, (1 << 16) - 1) : -1;
        if (fd >= 0)
                close(fd);
        if (n < 0) {
                free(buf);
                return NULL;
        }
        return buf;
}

/* @text framed as generation @gen: what a state file holds. */
static char *framed(const char *text, uint64_t gen) {
        char *out = NULL;
        if (asprintf(&out, "{\"generation\":%" PRIu64 ",\"state\":%s,\"end\":%" PRIu64 "}\n", gen, text, gen) < 0)
                unit_bail("asprintf");
        return out;
}

/*
 * The cached answers go into the file as they are, between the frame's
 * lines: each must be valid JSON on one line.  A refusal that quotes a
 * hostile op name (quote, backslash, newline, a byte 0xff, U+2028, a
 * frame's end, a cut inside a character), answered for real by
 * client_handle_message() (the byte 0xff is refused before the request's
 * id is read: that answer is not cached), and each
 * result the broker puts together by hand (tap.destroy's, a seccomp
 * TUNSETIFF's, kvmi.set-page-access's), cached: the save is framed whole
 * (state_unframe() 1), reads back (state_parse() 0), each answer the same.
 */
static void test_cached_answers(void) {
        char dir[4096], msg[256] = "", req[512];
        size_t len;
        char *text = slurp("broker-all-records.json", &len);
        client *c = NULL;
        unit_tmpdir(dir, sizeof(dir), "test-state-answers");
        b.state_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (b.state_fd < 0 || state_parse(&b, text, len, &c, msg, sizeof(msg)) < 0)
                unit_bail("setting up a session: %s", msg);
        c->io_busy = true; /* answers queue (no connection): client_free() drops them */
        /* the op as JSON escapes it in the request; the answer's message quotes it */
        static const char *const ops[] = {
                "a\\\"b\\\\c\\nd\xff\\u2028,\\\"end\\\":1}", /* with a byte 0xff, raw */
                "a\\\"b\\\\c\\nd\xe2\x80\xa8,\\\"end\\\":1}", /* U+2028 raw */
                /* the refusal quotes 64 bytes of the op: here the cut falls inside a U+2028 */
                "ab\xe2\x80\xa8\xe2\x80\xa8\xe2\x80\xa8\xe2\x80\xa8\xe2\x80\xa8\xe2\x80\xa8\xe2\x80\xa8\xe2\x80\xa8"
                "\xe2\x80\xa8\xe2\x80\xa8\xe2\x80\xa8\xe2\x80\xa8\xe2\x80\xa8\xe2\x80\xa8\xe2\x80\xa8\xe2\x80\xa8"
                "\xe2\x80\xa8\xe2\x80\xa8\xe2\x80\xa8\xe2\x80\xa8\xe2\x80\xa8\xe2\x80\xa8\xe2\x80\xa8\xe2\x80\xa8",
        };
        uint64_t id = 40;
        for (size_t i = 0; i < ELEMENTSOF(ops); i++, id++) {
                int n = snprintf(req, sizeof(req), "{\"id\":%" PRIu64 ",\"op\":\"%s\"}", id, ops[i]);
                client_handle_message(c, req, (size_t) n, NULL, 0);
                const cached_reply *r = client_cache_find(c, id);
                if (i == 0) { /* not UTF-8: refused before its id is read, so answered without one, not cached */
                        tap_ok(!r && c->out_tail && strstr(c->out_tail->buf, "{\"id\":null,") &&
                                       strstr(c->out_tail->buf, "invalid bytes in UTF8"),
                               "a hostile op name with a byte 0xff: refused as not UTF-8, not cached");
                        continue;
                }
                tap_ok(r && strstr(r->buf, "\"ok\":false") && !memchr(r->buf, '\n', r->len),
                       "a hostile op name %zu: its refusal is cached, on one line (%s)", i + 1, r ? r->buf : "none");
        }
        char res[512];
        /* the formats of broker-op-tap.c (tap.destroy), broker-unotify-tap.c (TUNSETIFF), broker-kvmi.c
         * (kvmi.set-page-access), at their widest */
        snprintf(res, sizeof(res), "{\"id\":50,\"ok\":true,\"result\":{\"name\":\"%s\",\"removed\":%s}}",
                 "vnet_-.012345678", "false");
        client_cache_store(c, 50, res, strlen(res), false);
        snprintf(res, sizeof(res), "{\"id\":51,\"ok\":true,\"result\":{\"name\":\"%s\",\"ifindex\":%d}}",
                 "tap-2147483647x", INT32_MAX);
        client_cache_store(c, 51, res, strlen(res), false);
        snprintf(res, sizeof(res), "{\"id\":52,\"ok\":true,\"result\":{\"entries\":%zu,\"messages\":%zu,\"applied\":"
                 "%zu,\"shadow_pages\":%zu,\"seconds\":%.6f}}", SIZE_MAX, SIZE_MAX, SIZE_MAX, SIZE_MAX, 1e300);
        client_cache_store(c, 52, res, strlen(res), false);
        tap_is_int(state_save(c), 0, "saved with these answers cached");
        char *file = read_at(b.state_fd, "session-1.json");
        const char *inner = NULL;
        size_t inner_len = 0;
        uint64_t gen;
        tap_is_int(file ? state_unframe(file, strlen(file), &inner, &inner_len, &gen) : -1, 1,
                   "  the file is framed whole");
        client *again = NULL;
        tap_is_int(inner ? state_parse(&b, inner, inner_len, &again, msg, sizeof(msg)) : -1, 0,
                   "  and reads back (%s)", msg);
        bool same = again != NULL;
        for (uint64_t k = 40; same && k <= 52; k++) {
                const cached_reply *x = client_cache_find(c, k), *y = client_cache_find(again, k);
                same = !x == !y && (!x || (x->len == y->len && memcmp(x->buf, y->buf, x->len) == 0));
        }
        tap_ok(same, "  each answer as it was cached");
        free(file);
        drop(again);
        state_drop(c);
        drop(c);
        free(text);
        close(b.state_fd);
        b.state_fd = -EBADF;
        rmdir(dir);
}

/*
 * state_save() into a directory of its own: the saves go to the two slots
 * in turn, each the record state_gen() writes, exactly, framed with its
 * generation, the version before it whole in the other slot.
 */
static void test_save(void) {
        char dir[4096];
        size_t len;
        char *text = slurp("broker-all-records.json", &len);
        client *c = NULL;
        char msg[256] = "";
        unit_tmpdir(dir, sizeof(dir), "test-state");
        b.state_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        b.state_sync = true;
        if (b.state_fd < 0 || state_parse(&b, text, len, &c, msg, sizeof(msg)) < 0)
                unit_bail("setting up a session to save: %s", msg);
        static const char *const slot[] = { "session-1.json", "session-1.b.json" };
        static const size_t pad_len[] = { 200, 100, 1, 150 };
        char *prev = NULL;
        for (size_t i = 0; i < ELEMENTSOF(pad_len); i++) {
                /* versions of other lengths: the newest answer in the retry cache (a session's name never changes) */
                char reply[256];
                snprintf(reply, sizeof(reply), "{\"id\":%zu,\"ok\":true,\"result\":{\"pad\":\"%0*d\"}}", 10 + i,
                         (int) pad_len[i], 0);
                client_cache_store(c, 10 + i, reply, strlen(reply), false);
                tap_is_int(state_save(c), 0, "save %zu, an answer of %zu bytes cached", i + 1, strlen(reply));
                char *rec = gen(c), *want = framed(rec, i + 1), *got = read_at(b.state_fd, slot[i % 2]),
                     *before = read_at(b.state_fd, slot[(i + 1) % 2]);
                tap_ok(got && want && streq(got, want), "  %s is what state_gen() writes, to the byte, framed as "
                       "generation %zu", slot[i % 2], i + 1);
                if (prev)
                        tap_ok(before && streq(before, prev), "  the version before it is whole in %s",
                               slot[(i + 1) % 2]);
                else
                        tap_ok(!before, "  the first save leaves nothing beside it");
                free(rec);
                free(prev);
                prev = want;
                free(got);
                free(before);
        }
        /* the head of the record is made at the first save and kept; what forgets the files kept (a resume:
         * another session number and token) forgets it too, and the next save makes it anew */
        static const char head1[] = "{\"version\":1,\"session\":1,";
        tap_ok(c->state_head && strncmp(c->state_head, head1, strlen(head1)) == 0,
               "the record's head is kept after the first save");
        state_kept_close(c);
        c->session = 7;
        tap_ok(!c->state_head, "state_kept_close() forgets it");
        tap_is_int(state_save(c), 0, "a save after it, the client now session 7");
        char *rec = gen(c), *want = framed(rec, 5), *got = read_at(b.state_fd, "session-7.json");
        tap_ok(got && want && streq(got, want) && strstr(got, "\"session\":7,"),
               "  session-7.json is what state_gen() writes, to the byte: session 7");
        free(rec);
        free(want);
        free(got);
        unlinkat(b.state_fd, "session-7.json", 0);
        c->session = 1;
        state_kept_close(c);
        free(prev);
        state_drop(c);
        tap_ok(!read_at(b.state_fd, slot[0]) && !read_at(b.state_fd, slot[1]), "state_drop(): both files are gone");
        drop(c);
        free(text);
        close(b.state_fd);
        b.state_fd = -EBADF;
        rmdir(dir);
}

/*
 * state_unframe(): a whole file gives the record; an older broker's file
 * (no frame) is all record, generation 0; a file cut anywhere, or a newer
 * version cut at any page boundary over an older one of the same length
 * (the older one's end, newline included, after it: a write killed
 * between pages), is cut (-EBADMSG), and says the newer generation.
 */
static void test_unframe(void) {
        size_t len;
        char *file = slurp("broker-all-records.json", &len), pad[10040];
        /* longer than two pages (with the retry cache full of memlock answers, state files are about 4 KiB) */
        snprintf(pad, sizeof(pad), "\"pad\":\"%09999d\",\"client\":", 0);
        char *rec = edit(file, "\"client\":", pad);
        len = strlen(rec);
        free(file);
        const char *inner;
        size_t inner_len;
        uint64_t g;
        /* two versions of the same length: the generations have as many digits, as in the runs that matter */
        char *older = framed(rec, 41), *newer = framed(rec, 43);
        newer[strlen(newer) / 2] = older[strlen(older) / 2] == 'x' ? 'y' : 'x'; /* they differ inside too */
        size_t n = strlen(newer);
        tap_is_int(state_unframe(older, n, &inner, &inner_len, &g), 1, "a whole file: whole");
        tap_ok(g == 41 && inner_len == len && memcmp(inner, rec, len) == 0, "  generation 41, the record as written");
        tap_is_int(state_unframe(rec, len, &inner, &inner_len, &g), 0, "an older broker's file: not framed");
        tap_ok(g == 0 && inner == rec && inner_len == len, "  all of it the record, generation 0");
        size_t cut_ok = 0;
        for (size_t k = 0; k < n; k++)
                cut_ok += state_unframe(newer, k, &inner, &inner_len, &g) == -EBADMSG;
        tap_is_int(cut_ok, n, "cut at each of its %zu bytes: cut", n);
        char *torn = malloc(n + 1);
        size_t pages = 0, torn_ok = 0;
        for (size_t k = 4096; k < n; k += 4096, pages++) {
                memcpy(torn, newer, k);
                memcpy(torn + k, older + k, n - k + 1);
                torn_ok += state_unframe(torn, n, &inner, &inner_len, &g) == -EBADMSG && g == 43;
        }
        tap_ok(pages >= 1 && torn_ok == pages,
               "generation 43 written over 41 and stopped at each of its %zu page boundaries: cut, of generation 43",
               pages);
        memcpy(torn, newer, n + 1);
        tap_is_int(state_unframe(torn, n, &inner, &inner_len, &g), 1, "  written to its end: whole");
        char *spaced = NULL;
        if (asprintf(&spaced, "%s      %s", newer, older + n / 2) < 0)
                unit_bail("asprintf");
        tap_is_int(state_unframe(spaced, strlen(spaced), &inner, &inner_len, &g), 1,
                   "a version followed by spaces and the rest of an older one: whole (it ends at its newline)");
        free(spaced);
        free(torn);
        free(older);
        free(newer);
        free(rec);
}

/*
 * test_save() again under strace(1), its output thrown away: each rename
 * or exchange of a state file is followed by an fsync(2) of its directory
 * before the next one, which writes over the old file it left as .tmp (a
 * power loss must not find the name on the half-written file).
 */
static void test_save_syncs_dir(const char *self) {
        char log[4096];
        snprintf(log, sizeof(log), "%s/strace.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        int lfd = mkstemp(log);
        pid_t pid = lfd < 0 ? -1 : fork();
        if (pid == 0) {
                int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
                dup2(null, 1);
                dup2(null, 2);
                /* LeakSanitizer cannot run under ptrace (in the sanitizer build) */
                char asan[1024];
                snprintf(asan, sizeof(asan), "%s%sdetect_leaks=0", getenv("ASAN_OPTIONS") ?: "",
                         getenv("ASAN_OPTIONS") ? ":" : "");
                setenv("ASAN_OPTIONS", asan, 1);
                execlp("strace", "strace", "-qq", "-o", log, "-e", "trace=fsync,renameat,renameat2", self, corpus,
                       "save", (char *) NULL);
                _exit(127);
        }
        int st = 0;
        if (pid < 0 || waitpid(pid, &st, 0) < 0)
                unit_bail("running strace: %m");
        if (WIFEXITED(st) && WEXITSTATUS(st) == 127) {
                tap_ok(1, "# SKIP strace(1) is not installed: the directory's fsync is not checked");
                unlink(log);
                close(lfd);
                return;
        }
        FILE *f = fdopen(lfd, "r");
        char line[1024];
        int renames = 0, unsynced = -1, bad = 0;
        while (f && fgets(line, sizeof(line), f)) {
                int dir;
                const char *eq = strrchr(line, '=');
                bool ok = eq && strncmp(eq, "= 0", 3) == 0; /* strace pads short calls: ")        = 0" */
                if ((sscanf(line, "renameat2(%d,", &dir) == 1 || sscanf(line, "renameat(%d,", &dir) == 1) && ok) {
                        renames++;
                        bad += unsynced >= 0; /* the one before was never synced */
                        unsynced = dir;
                } else if (sscanf(line, "fsync(%d)", &dir) == 1 && dir == unsynced && ok)
                        unsynced = -1;
        }
        if (f)
                fclose(f);
        unlink(log);
        tap_ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the saves under strace pass too");
        tap_ok(renames >= 4 && bad == 0 && unsynced < 0,
               "each of the %d renames and exchanges is followed by an fsync of the directory (%d were not)", renames,
               bad + (unsynced >= 0));
}

int main(int argc, char **argv) {
        if (argc < 2)
                unit_bail("usage: %s CORPUS-DIR [save]", argv[0]);
        snprintf(corpus, sizeof(corpus), "%s", argv[1]);
        broker_ops_register(); /* the session parts the state files name, as main() hands them over */
        if (argc > 2 && streq(argv[2], "save")) {
                test_save();
                return tap_done();
        }
        test_save_syncs_dir(argv[0]);
        test_real_file();
        test_older_file();
        test_replies();
        test_unframe();
        test_save();
        test_cached_answers();
        return tap_done();
}
