/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-kvmi - functional scenarios of kvmi.*: a real broker against the
 * simulated KVMI peer (kvmi-peer, playing QEMU + the kernel).  The
 * scenario process is the launcher (root in the node's system cgroup); the
 * peer gets the socket the broker hands out.  Assertions compare the
 * peer's access map (what the "kernel" holds) with what was asked.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DELEGATE_INTERNAL_UNSTABLE_API_OPT_IN
#include <delegate/delegate-internal.h>

#include "harness.h"
#include "kvmi-proto.h"

#define PAGES (2u * 1024 * 1024) /* guest memory of the peer: 8 GiB */

static const char policy_kvmi[] =
        "{ \"version\": 1, \"rules\": [\n"
        "  { \"name\": \"kvmi-keyed\", \"match\": { \"uid\": 0, \"vm\": \"keyed-*\" },\n"
        "    \"kvmi\": { \"gpa\": [\"0-0xfffffff\"], \"access\": \"rw\", \"max_entries\": 1000 } },\n"
        "  { \"name\": \"kvmi-test\", \"match\": { \"uid\": 0, \"cgroup\": \"/system\", \"vm\": \"vm-*\" },\n"
        "    \"kvmi\": { \"gpa\": [\"0-0x27fffffff\", \"0x300000000-0x3ffffffff\"], \"access\": \"rwx\",\n"
        "              \"max_entries\": 1048576, \"require_key\": false } }\n"
        "] }\n";

typedef struct peer {
        pid_t pid;
        char map[128];
} peer;

static int n_peers;

static delegate_ctx *open_ctx(const char *vm) {
        delegate_ctx *c = NULL;
        delegate_error e;
        if (delegate_open(DELEGATE_API_VERSION, HARNESS_SOCKET, "test-kvmi", vm, &c, &e) < 0)
                tap_diag("delegate_open: %s", e.message);
        return c;
}

/* One call; returns a JSON text: {"ok":true,"result":...} or {"ok":false,"error":{...}}. */
static char *call(delegate_ctx *c, const char *op, const char *args, const int *in_fds, size_t n_in, int *ret_fd) {
        char *res = NULL, *out = NULL;
        int fds[DELEGATE_MAX_FDS];
        size_t n = 0;
        delegate_error e;
        int r = delegate_call_with_fds(c, op, args, in_fds, n_in, &res, fds, DELEGATE_MAX_FDS, &n, &e);
        if (r < 0) {
                for (char *p = e.message; *p; p++)
                        if (*p == '"' || *p == '\\')
                                *p = '\'';
                if (asprintf(&out, "{\"ok\":false,\"error\":{\"code\":\"%s\",\"errno\":%d,\"rule\":\"%s\",\"message\":\"%s\"}}",
                             e.code, e.errno_value, e.rule, e.message) < 0)
                        out = NULL;
                return out;
        }
        for (size_t i = 0; i < n; i++) {
                if (i == 0 && ret_fd)
                        *ret_fd = fds[0];
                else
                        close(fds[i]);
        }
        if (asprintf(&out, "{\"ok\":true,\"result\":%s}", res ? res : "{}") < 0)
                out = NULL;
        delegate_free_string(res);
        return out;
}

static int64_t fi(const char *json, const char *path) {
        int64_t v = -1;
        json_field_i64(json, path, &v);
        return v;
}

static const char *fs(const char *json, const char *path) {
        static char buf[4][700];
        static int k;
        char *b = buf[k++ % 4];
        if (!json_field_str(json, path, b, sizeof(buf[0])))
                snprintf(b, sizeof(buf[0]), "(missing %s)", path);
        return b;
}

/* Start kvmi-peer on @fd (closed here); @extra: more options or NULL. */
static void peer_start(peer *p, int fd, const char *name, const char *secret, const char *extra1, const char *extra2) {
        snprintf(p->map, sizeof(p->map), "/run/delegate-test/map-%d", n_peers++);
        unlink(p->map);
        p->pid = fork();
        if (p->pid == 0) {
                char pages[32];
                snprintf(pages, sizeof(pages), "%u", PAGES);
                if (dup2(fd, 3) < 0)
                        _exit(1);
                const char *argv[16] = { "kvmi-peer", "--fd", "3", "--name", name, "--pages", pages, "--map", p->map };
                int n = 9;
                if (secret) {
                        argv[n++] = "--secret";
                        argv[n++] = secret;
                }
                if (extra1)
                        argv[n++] = extra1;
                if (extra2)
                        argv[n++] = extra2;
                argv[n] = NULL;
                execv(getenv("DELEGATE_KVMI_PEER"), (char **) argv);
                _exit(127);
        }
        close(fd);
}

/* Wait for the peer to exit (it does on end of stream); its exit code, -1 on timeout. */
static int peer_wait(peer *p, int timeout_ms) {
        for (int t = 0; t < timeout_ms; t += 10) {
                int st;
                pid_t r = waitpid(p->pid, &st, WNOHANG);
                if (r == p->pid)
                        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
                usleep(10000);
        }
        kill(p->pid, SIGKILL);
        waitpid(p->pid, NULL, 0);
        return -1;
}

static uint8_t *peer_map(peer *p) {
        uint8_t *m = malloc(PAGES);
        FILE *f = fopen(p->map, "re");
        if (!m || !f || fread(m, 1, PAGES, f) != PAGES) {
                if (f)
                        fclose(f);
                free(m);
                return NULL;
        }
        fclose(f);
        return m;
}

/* Poll state.get until the channel is ready and idle (or closed). */
static char *wait_idle(delegate_ctx *c) {
        char *s = NULL;
        for (int i = 0; i < 1000; i++) {
                free(s);
                s = call(c, "state.get", NULL, NULL, 0, NULL);
                const char *ch = fs(s, "result.kvmi.channel");
                if (!strcmp(ch, "closed") || !strcmp(ch, "detached"))
                        return s;
                if (!strcmp(ch, "ready") && fi(s, "result.kvmi.batches_pending") == 0 &&
                    fi(s, "result.kvmi.commands_in_flight") == 0)
                        return s;
                usleep(10000);
        }
        return s;
}

static int attach(delegate_ctx *c, bool keyed, char *secret, size_t size) {
        int fd = -1;
        char *r = call(c, "kvmi.attach", keyed ? "{\"keyed\":true}" : "{\"keyed\":false}", NULL, 0, &fd);
        if (!tap_ok(fi(r, "ok") == 1 && fd >= 0, "kvmi.attach (%s) hands over a socket", keyed ? "keyed" : "unkeyed"))
                tap_diag("%s", r);
        if (secret)
                snprintf(secret, size, "%s", fs(r, "result.secret"));
        free(r);
        return fd;
}

/* Entries i = 0..n-1 with a pattern that revisits pages and uses every access value. */
static void gen_entries(kvmi_page_access_entry *e, size_t n, uint64_t seed) {
        for (size_t i = 0; i < n; i++) {
                uint64_t gfn = (i * 2654435761u + seed) % PAGES;
                if (i % 10 == 9)
                        gfn = ((i - 5) * 2654435761u + seed) % PAGES; /* a page set again, later */
                e[i] = (kvmi_page_access_entry) { .gpa = gfn << 12 | (i & 0xfff), .access = (uint8_t) (i % 8) };
        }
}

static void apply(uint8_t *m, const kvmi_page_access_entry *e, size_t n, size_t skip) {
        for (size_t i = 0; i < n; i++)
                if (i != skip)
                        m[e[i].gpa >> 12] = e[i].access;
}

static uint8_t *blank_map(void) {
        uint8_t *m = malloc(PAGES);
        memset(m, 7, PAGES);
        return m;
}

static size_t restricted(const uint8_t *m) {
        size_t n = 0;
        for (size_t i = 0; i < PAGES; i++)
                n += m[i] != 7;
        return n;
}

static void compare_maps(peer *p, const uint8_t *want, const char *what) {
        uint8_t *got = peer_map(p);
        size_t diff = 0, first = SIZE_MAX;
        for (size_t i = 0; got && i < PAGES; i++)
                if (got[i] != want[i]) {
                        diff++;
                        if (first == SIZE_MAX)
                                first = i;
                }
        if (!tap_ok(got && diff == 0, "the peer's access map equals %s (%zu restricted pages)", what, restricted(want)))
                tap_diag("%s; %zu pages differ, first gfn %zu: got %d want %d", got ? "map read" : "no map", diff,
                         first, got && first != SIZE_MAX ? got[first] : -1, first != SIZE_MAX ? want[first] : -1);
        free(got);
}

/* Send @n entries inline in requests of @chunk; the first failing reply or NULL. */
static char *send_inline(delegate_ctx *c, const kvmi_page_access_entry *e, size_t n, size_t chunk, size_t *ret_reqs) {
        size_t reqs = 0, cap = 4 * DELEGATE_MAX_MESSAGE; /* room to build one too large, too */
        char *buf = malloc(cap);
        for (size_t at = 0; at < n; at += chunk) {
                size_t k = n - at < chunk ? n - at : chunk, len = 0;
                char a[4];
                len += snprintf(buf + len, cap - len, "{\"entries\":[");
                for (size_t i = at; i < at + k && len < cap - 64; i++)
                        len += snprintf(buf + len, cap - len, "%s[%" PRIu64 ",\"%s\"]", i == at ? "" : ",", e[i].gpa,
                                        kvmi_access_format(e[i].access, a));
                snprintf(buf + len, cap - len, "]}");
                char *r = call(c, "kvmi.set-page-access", buf, NULL, 0, NULL);
                reqs++;
                if (fi(r, "ok") != 1) {
                        free(buf);
                        *ret_reqs = reqs;
                        return r;
                }
                free(r);
        }
        free(buf);
        *ret_reqs = reqs;
        return NULL;
}

static int make_memfd(const kvmi_page_access_entry *e, size_t n, bool seal) {
        int fd = memfd_create("kvmi-entries", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        size_t len = n * sizeof(*e);
        if (fd < 0 || write(fd, e, len) != (ssize_t) len)
                return -1;
        if (seal)
                fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE);
        return fd;
}

static double now_s(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* --- scenarios --- */

static void handshakes(harness *h) {
        char secret[128], *r, *s;
        peer p;
        delegate_ctx *c = open_ctx("vm-a");

        /* unkeyed */
        int fd = attach(c, false, NULL, 0);
        peer_start(&p, fd, "vm-a", NULL, NULL, NULL);
        s = wait_idle(c);
        tap_is_str(fs(s, "result.kvmi.channel"), "ready", "unkeyed handshake: the channel becomes ready");
        tap_is_int(fi(s, "result.kvmi.version"), 1, "KVMI version 1 learned from GET_VERSION");
        tap_is_int(fi(s, "result.kvmi.max_msg_size"), KVMI_MAX_MSG_SIZE, "max_msg_size learned");
        tap_is_int(fi(s, "result.kvmi.vcpus"), 2, "vCPU count learned from VM_GET_INFO");
        free(s);
        r = call(c, "kvmi.set-page-access", "{\"entries\":[[4096,\"r--\"],[\"0x2000\",\"---\"],[12288,5],[4096,\"rw\"]]}",
                 NULL, 0, NULL);
        tap_is_int(fi(r, "ok"), 1, "4 inline entries are applied (%s)", r);
        tap_is_int(fi(r, "result.shadow_pages"), 3, "the shadow holds 3 restricted pages");
        free(r);
        r = call(c, "kvmi.detach", NULL, NULL, 0, NULL);
        tap_is_int(fi(r, "result.forgotten_pages"), 3, "kvmi.detach forgets the 3 pages");
        free(r);
        tap_is_int(peer_wait(&p, 5000), 0, "the peer sees the channel close");
        uint8_t *want = blank_map();
        want[1] = 3;
        want[2] = 0;
        want[3] = 5;
        compare_maps(&p, want, "the 4 entries applied in order");

        /* keyed, with a larger hello than we know */
        fd = attach(c, true, secret, sizeof(secret));
        tap_is_int(strlen(secret), 64, "a keyed attach returns a 64-character secret");
        peer_start(&p, fd, "vm-a", secret, "--hello-extra", "100");
        s = wait_idle(c);
        tap_is_str(fs(s, "result.kvmi.channel"), "ready", "keyed handshake with the right cookie: ready");
        tap_is_int(fi(s, "result.kvmi.keyed"), 1, "state.get says keyed");
        free(s);
        r = call(c, "kvmi.set-page-access", "{\"entries\":[[8192,\"x\"]]}", NULL, 0, NULL);
        tap_is_int(fi(r, "ok"), 1, "an entry is applied over the keyed channel");
        free(r);

        /* a second attach replaces the channel: the shadow is re-applied on the new one */
        peer p2;
        fd = attach(c, true, secret, sizeof(secret));
        tap_is_int(peer_wait(&p, 5000), 0, "the replaced channel's peer sees it close");
        peer_start(&p2, fd, "vm-a", "not-the-secret", NULL, NULL);
        tap_is_int(peer_wait(&p2, 5000), 3, "the peer refuses a wrong cookie and closes");
        s = wait_idle(c);
        tap_is_str(fs(s, "result.kvmi.channel"), "closed", "the broker sees the channel closed");
        free(s);
        r = call(c, "kvmi.set-page-access", "{\"entries\":[[8192,\"r\"]]}", NULL, 0, NULL);
        tap_is_str(fs(r, "error.code"), "not-found", "set-page-access on a closed channel: not-found");
        tap_has_str(fs(r, "error.message"), "kvmi.attach first", "the message says what to do");
        free(r);

        /* the VM name in the hello must be the session's */
        fd = attach(c, false, NULL, 0);
        peer_start(&p, fd, "vm-other", NULL, NULL, NULL);
        s = wait_idle(c);
        tap_has_str(fs(s, "result.kvmi.closed_because"), "'vm-other' in QEMU's hello is not the session's VM 'vm-a'",
                    "a hello naming another VM closes the channel");
        free(s);
        peer_wait(&p, 5000);

        /* a rule with require_key refuses unkeyed attaches */
        delegate_ctx *k = open_ctx("keyed-b");
        r = call(k, "kvmi.attach", "{\"keyed\":false}", NULL, 0, NULL);
        tap_is_str(fs(r, "error.code"), "denied", "unkeyed attach under require_key is denied");
        tap_is_str(fs(r, "error.rule"), "kvmi-keyed", "the denial names the rule");
        free(r);

        /* the session ends with the connection: the channel closes */
        fd = attach(k, true, secret, sizeof(secret));
        peer_start(&p, fd, "keyed-b", secret, NULL, NULL);
        s = wait_idle(k);
        tap_is_str(fs(s, "result.kvmi.channel"), "ready", "keyed-b is ready");
        free(s);
        delegate_ctx_free(k);
        tap_is_int(peer_wait(&p, 5000), 0, "closing the session closes the KVMI channel");
        delegate_ctx_free(c);
        free(want);
}

static void inline_100k(harness *h) {
        const size_t n = 100000;
        kvmi_page_access_entry *e = calloc(n, sizeof(*e));
        gen_entries(e, n, 1);
        delegate_ctx *c = open_ctx("vm-a");
        peer p;
        int fd = attach(c, false, NULL, 0);
        peer_start(&p, fd, "vm-a", NULL, NULL, NULL);
        free(wait_idle(c));
        size_t reqs;
        double t0 = now_s();
        char *r = send_inline(c, e, n, 2500, &reqs);
        double dt = now_s() - t0;
        tap_ok(!r, "100000 inline entries in %zu requests of 2500 are applied (%s)", reqs, r ? r : "ok");
        tap_diag("100000 inline entries: %.3f s, %.0f entries/s", dt, n / dt);
        free(r);
        uint8_t *want = blank_map();
        apply(want, e, n, SIZE_MAX);
        char *s = call(c, "state.get", NULL, NULL, 0, NULL);
        tap_is_int(fi(s, "result.kvmi.shadow.pages"), restricted(want), "state.get: the shadow counts the restricted pages");
        tap_is_int(fi(s, "result.kvmi.messages_sent") >= 0, 1, "state.get counts messages");
        free(s);
        /* more than 64 KiB of JSON in one request does not fit a datagram */
        char *big = NULL;
        r = send_inline(c, e, 4000, 4000, &reqs);
        tap_ok(r && (!strcmp(fs(r, "error.code"), "too-large")), "4000 inline entries exceed one datagram: too-large (%s)",
               r ? r : "");
        free(r);
        free(big);
        free(call(c, "kvmi.detach", NULL, NULL, 0, NULL));
        tap_is_int(peer_wait(&p, 10000), 0, "peer done");
        compare_maps(&p, want, "100000 inline entries applied in order");
        delegate_ctx_free(c);
        free(want);
        free(e);
}

static void memfd_1m(harness *h) {
        const size_t n = 1048576;
        kvmi_page_access_entry *e = calloc(n, sizeof(*e));
        gen_entries(e, n, 7);
        delegate_ctx *c = open_ctx("vm-a");
        peer p;
        int fd = attach(c, false, NULL, 0);
        peer_start(&p, fd, "vm-a", NULL, NULL, NULL);
        free(wait_idle(c));

        int mfd = make_memfd(e, 16, false);
        char *r = call(c, "kvmi.set-page-access", "{\"memfd\":0}", &mfd, 1, NULL);
        tap_is_str(fs(r, "error.code"), "bad-request", "an unsealed memfd is refused");
        tap_has_str(fs(r, "error.message"), "F_SEAL_WRITE", "the message names the seals");
        free(r);
        close(mfd);
        mfd = memfd_create("odd", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (write(mfd, e, 24) != 24)
                tap_diag("write failed");
        fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE);
        r = call(c, "kvmi.set-page-access", "{\"memfd\":0}", &mfd, 1, NULL);
        tap_has_str(fs(r, "error.message"), "multiple of 16", "a memfd of 24 bytes is refused");
        free(r);
        close(mfd);
        r = call(c, "kvmi.set-page-access", "{\"memfd\":0}", NULL, 0, NULL);
        tap_has_str(fs(r, "error.message"), "carried 0 fds", "\"memfd\" without an fd is refused");
        free(r);

        mfd = make_memfd(e, n, true);
        double t0 = now_s();
        r = call(c, "kvmi.set-page-access", "{\"memfd\":0}", &mfd, 1, NULL);
        double dt = now_s() - t0;
        close(mfd);
        tap_is_int(fi(r, "ok"), 1, "1048576 entries via a sealed memfd are applied");
        tap_is_int(fi(r, "result.messages"), (n + 510) / 511, "in ceil(n / 511) messages");
        tap_diag("1048576 memfd entries: %.3f s, %.0f entries/s", dt, n / dt);
        free(r);
        uint8_t *want = blank_map();
        apply(want, e, n, SIZE_MAX);
        char *s = call(c, "state.get", NULL, NULL, 0, NULL);
        tap_is_int(fi(s, "result.kvmi.shadow.pages"), restricted(want), "the shadow counts the restricted pages");
        free(s);
        free(call(c, "kvmi.detach", NULL, NULL, 0, NULL));
        tap_is_int(peer_wait(&p, 20000), 0, "peer done");
        compare_maps(&p, want, "1048576 memfd entries applied in order");
        delegate_ctx_free(c);
        free(want);
        free(e);
}

static void first_error(harness *h) {
        const size_t n = 2000;
        kvmi_page_access_entry *e = calloc(n, sizeof(*e));
        gen_entries(e, n, 3);
        e[700].gpa = (uint64_t) (PAGES + 5) << 12; /* allowed by policy, beyond guest memory */
        e[700].access = 1;
        e[1500].gpa = (uint64_t) (PAGES + 9) << 12;
        e[600] = (kvmi_page_access_entry) { .gpa = 77 << 12, .access = 1 };
        e[800] = (kvmi_page_access_entry) { .gpa = 77 << 12, .access = 2 }; /* overrides 600 */
        delegate_ctx *c = open_ctx("vm-a");
        peer p;
        int fd = attach(c, false, NULL, 0);
        peer_start(&p, fd, "vm-a", NULL, NULL, NULL);
        free(wait_idle(c));
        int mfd = make_memfd(e, n, true);
        char *r = call(c, "kvmi.set-page-access", "{\"memfd\":0}", &mfd, 1, NULL);
        close(mfd);
        tap_is_int(fi(r, "ok"), 0, "a batch with gfns beyond guest memory fails");
        tap_is_int(fi(r, "error.errno"), EINVAL, "with the kernel's EINVAL");
        tap_has_str(fs(r, "error.message"), "refused entry 700 ", "the error names the first failing entry, 700");
        tap_has_str(fs(r, "error.message"), "2 refused in all, the other 1998 entries were applied",
                    "and says how many were refused and applied");
        free(r);
        uint8_t *want = blank_map();
        for (size_t i = 0; i < n; i++)
                if (i != 700 && i != 1500)
                        want[e[i].gpa >> 12] = e[i].access;
        free(call(c, "kvmi.detach", NULL, NULL, 0, NULL));
        peer_wait(&p, 5000);
        compare_maps(&p, want, "every valid entry applied, a later entry still overriding an earlier one");
        delegate_ctx_free(c);
        free(want);
        free(e);
}

static void policy_refusals(harness *h) {
        delegate_ctx *c = open_ctx("vm-a");
        peer p;
        int fd = attach(c, false, NULL, 0);
        peer_start(&p, fd, "vm-a", NULL, NULL, NULL);
        free(wait_idle(c));
        char *s = call(c, "state.get", NULL, NULL, 0, NULL);
        int64_t sent = fi(s, "result.kvmi.messages_sent");
        free(s);
        char *r = call(c, "kvmi.set-page-access", "{\"entries\":[[4096,\"r\"],[\"0x280000000\",\"r\"]]}", NULL, 0, NULL);
        tap_is_str(fs(r, "error.code"), "denied", "an entry outside the rule's gpa ranges is denied");
        tap_has_str(fs(r, "error.message"), "entry 1: page of gpa 0x280000000 is outside", "naming the entry");
        tap_is_str(fs(r, "error.rule"), "kvmi-test", "and the rule");
        free(r);
        kvmi_page_access_entry e[3] = { { .gpa = 0x1000, .access = 1 }, { .gpa = 0x2000, .access = 1 },
                                         { .gpa = 0x3ffffffff000ULL + 0x1000, .access = 1 } };
        int mfd = make_memfd(e, 3, true);
        r = call(c, "kvmi.set-page-access", "{\"memfd\":0}", &mfd, 1, NULL);
        close(mfd);
        tap_is_str(fs(r, "error.code"), "denied", "a memfd entry outside the ranges is denied");
        tap_has_str(fs(r, "error.message"), "entry 2", "naming entry 2");
        free(r);
        e[2].gpa = 0x3000;
        e[2].padding[3] = 1;
        mfd = make_memfd(e, 3, true);
        r = call(c, "kvmi.set-page-access", "{\"memfd\":0}", &mfd, 1, NULL);
        close(mfd);
        tap_has_str(fs(r, "error.message"), "memfd entry 2: padding is not zero", "nonzero entry padding is refused");
        free(r);
        r = call(c, "kvmi.set-page-access", "{\"entries\":[[4096,\"rwxx\"]]}", NULL, 0, NULL);
        tap_is_str(fs(r, "error.code"), "bad-request", "a malformed access string is a bad request");
        free(r);
        s = call(c, "state.get", NULL, NULL, 0, NULL);
        tap_is_int(fi(s, "result.kvmi.messages_sent"), sent, "nothing was sent to the peer for refused requests");
        free(s);
        free(call(c, "kvmi.detach", NULL, NULL, 0, NULL));
        peer_wait(&p, 5000);
        uint8_t *want = blank_map();
        compare_maps(&p, want, "an untouched map");
        free(want);

        /* the keyed rule: access "rw", max_entries 1000 */
        delegate_ctx *k = open_ctx("keyed-b");
        r = call(k, "kvmi.set-page-access", "{\"entries\":[[4096,\"r-x\"]]}", NULL, 0, NULL);
        tap_has_str(fs(r, "error.message"), "access 'r-x' has bits outside the rule's kvmi access 'rw-'",
                    "access bits outside the rule are denied");
        free(r);
        kvmi_page_access_entry *many = calloc(1001, sizeof(*many));
        mfd = make_memfd(many, 1001, true);
        r = call(k, "kvmi.set-page-access", "{\"memfd\":0}", &mfd, 1, NULL);
        close(mfd);
        tap_is_str(fs(r, "error.code"), "too-large", "1001 memfd entries over max_entries 1000: too-large");
        free(r);
        free(many);
        r = call(k, "kvmi.set-page-access", "{\"entries\":[[4096,\"r\"]]}", NULL, 0, NULL);
        tap_is_str(fs(r, "error.code"), "not-found", "set-page-access before any attach: not-found");
        free(r);
        delegate_ctx_free(k);
        delegate_ctx_free(c);
}

static void peer_close(harness *h) {
        const size_t n = 5000;
        kvmi_page_access_entry *e = calloc(n, sizeof(*e));
        gen_entries(e, n, 11);
        delegate_ctx *c = open_ctx("vm-a");
        peer p;
        int fd = attach(c, false, NULL, 0);
        peer_start(&p, fd, "vm-a", NULL, "--close-after", "3");
        free(wait_idle(c));
        int mfd = make_memfd(e, n, true);
        char *r = call(c, "kvmi.set-page-access", "{\"memfd\":0}", &mfd, 1, NULL);
        close(mfd);
        tap_is_int(fi(r, "error.errno"), EPIPE, "a peer closing mid-batch fails the request with EPIPE");
        tap_has_str(fs(r, "error.message"), "closed the connection", "saying the peer closed the connection");
        free(r);
        tap_is_int(peer_wait(&p, 5000), 0, "peer gone");
        r = call(c, "ping", NULL, NULL, 0, NULL);
        tap_is_int(fi(r, "ok"), 1, "the broker still answers");
        free(r);
        /* the shadow holds what the kernel confirmed: the first 3 messages */
        uint8_t *want = blank_map();
        apply(want, e, 3 * 511, SIZE_MAX);
        char *s = call(c, "state.get", NULL, NULL, 0, NULL);
        tap_is_int(fi(s, "result.kvmi.shadow.pages"), restricted(want), "the shadow holds the 3 answered messages");
        free(s);
        /* re-attach: the shadow is programmed on the new channel */
        fd = attach(c, false, NULL, 0);
        peer_start(&p, fd, "vm-a", NULL, NULL, NULL);
        s = wait_idle(c);
        tap_is_str(fs(s, "result.kvmi.channel"), "ready", "re-attached");
        free(s);
        free(call(c, "kvmi.set-page-access", "{\"entries\":[[0,\"r\"]]}", NULL, 0, NULL));
        want[0] = 1;
        delegate_ctx_free(c); /* the session ends: the channel closes */
        tap_is_int(peer_wait(&p, 5000), 0, "peer done");
        compare_maps(&p, want, "the re-applied shadow plus the new entry");
        free(want);
        free(e);
}

static void reattach(harness *h) {
        const size_t n = 10000;
        kvmi_page_access_entry *e = calloc(n, sizeof(*e));
        gen_entries(e, n, 5);
        delegate_ctx *c = open_ctx("vm-a");
        peer p;
        int fd = attach(c, false, NULL, 0);
        peer_start(&p, fd, "vm-a", NULL, NULL, NULL);
        free(wait_idle(c));
        size_t reqs;
        char *r = send_inline(c, e, n, 2500, &reqs);
        tap_ok(!r, "10000 entries applied");
        free(r);
        kill(p.pid, SIGKILL); /* QEMU dies */
        waitpid(p.pid, NULL, 0);
        char *s = wait_idle(c);
        tap_is_str(fs(s, "result.kvmi.channel"), "closed", "the broker notices the peer is gone");
        free(s);
        fd = attach(c, false, NULL, 0);
        peer_start(&p, fd, "vm-a", NULL, NULL, NULL);
        s = wait_idle(c);
        tap_is_str(fs(s, "result.kvmi.channel"), "ready", "the new channel is ready after re-applying");
        free(s);
        r = call(c, "kvmi.detach", NULL, NULL, 0, NULL);
        uint8_t *want = blank_map();
        apply(want, e, n, SIZE_MAX);
        tap_is_int(fi(r, "result.forgotten_pages"), restricted(want), "kvmi.detach drops the shadow");
        free(r);
        peer_wait(&p, 5000);
        compare_maps(&p, want, "the shadow re-applied to a new peer");
        s = call(c, "state.get", NULL, NULL, 0, NULL);
        tap_is_int(fi(s, "result.kvmi.shadow.pages"), 0, "after kvmi.detach the shadow is empty");
        free(s);
        fd = attach(c, false, NULL, 0);
        peer_start(&p, fd, "vm-a", NULL, NULL, NULL);
        free(wait_idle(c));
        free(call(c, "kvmi.detach", NULL, NULL, 0, NULL));
        peer_wait(&p, 5000);
        memset(want, 7, PAGES);
        compare_maps(&p, want, "nothing re-applied after a detach");
        delegate_ctx_free(c);
        free(want);
        free(e);
}

static void timeout(harness *h) {
        const size_t n = 3000;
        kvmi_page_access_entry *e = calloc(n, sizeof(*e));
        gen_entries(e, n, 13);
        delegate_ctx *c = open_ctx("vm-a");
        peer p;
        int fd = attach(c, false, NULL, 0);
        peer_start(&p, fd, "vm-a", NULL, "--silent-after", "2");
        free(wait_idle(c));
        int mfd = make_memfd(e, n, true);
        pid_t pinger = fork();
        if (pinger == 0) { /* another client is served while the peer is silent */
                delegate_ctx *o = open_ctx("vm-z");
                usleep(500000);
                char *x = call(o, "ping", NULL, NULL, 0, NULL);
                _exit(fi(x, "ok") == 1 ? 0 : 1);
        }
        double t0 = now_s();
        char *r = call(c, "kvmi.set-page-access", "{\"memfd\":0}", &mfd, 1, NULL);
        double dt = now_s() - t0;
        close(mfd);
        tap_is_int(fi(r, "error.errno"), ETIMEDOUT, "a silent peer fails the request with ETIMEDOUT");
        tap_has_str(fs(r, "error.message"), "did not answer VM_SET_PAGE_ACCESS", "naming the command");
        tap_ok(dt >= 4.0 && dt < 15.0, "after the 5 s command timeout (%.1f s)", dt);
        free(r);
        int st;
        waitpid(pinger, &st, 0);
        tap_ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "another client was answered meanwhile");
        delegate_ctx_free(c);
        peer_wait(&p, 5000);
        free(e);
}

static const scenario scenarios[] = {
        { "kvmi-handshakes", policy_kvmi, handshakes },
        { "kvmi-inline-100k", policy_kvmi, inline_100k },
        { "kvmi-memfd-1m", policy_kvmi, memfd_1m },
        { "kvmi-first-error", policy_kvmi, first_error },
        { "kvmi-policy", policy_kvmi, policy_refusals },
        { "kvmi-peer-close", policy_kvmi, peer_close },
        { "kvmi-reattach", policy_kvmi, reattach },
        { "kvmi-timeout", policy_kvmi, timeout },
};

int main(int argc, char **argv) {
        return harness_main(argc, argv, scenarios, sizeof(scenarios) / sizeof(scenarios[0]));
}
