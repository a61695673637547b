/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* kvmi-scenario - see kvmi-scenario.h. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kvmi-scenario.h"


const char policy_kvmi[] =
        "{ \"version\": 1, \"rules\": [\n"
        "  { \"name\": \"kvmi-keyed\", \"match\": { \"uid\": 0, \"vm\": \"keyed-*\" },\n"
        "    \"kvmi\": { \"gpa\": [\"0-0xfffffff\"], \"access\": \"rw\", \"max_entries\": 1000 } },\n"
        "  { \"name\": \"kvmi-test\", \"match\": { \"uid\": 0, \"cgroup\": \"/system\", \"vm\": \"vm-*\" },\n"
        "    \"kvmi\": { \"gpa\": [\"0-0x27fffffff\", \"0x300000000-0x3ffffffff\"], \"access\": \"rwx\",\n"
        "              \"max_entries\": 1048576, \"require_key\": false } }\n"
        "] }\n";


static int n_peers;
static char sock_path[108];
static int lfd = -1;

/* The launcher's side: a socket QEMU connects to (made once per scenario). */
void listen_once(void) {
        if (lfd >= 0)
                return;
        snprintf(sock_path, sizeof(sock_path), "/run/delegate-test/kvmi-%d.sock", (int) getpid());
        unlink(sock_path);
        lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        strcpy(sa.sun_path, sock_path);
        if (lfd < 0 || bind(lfd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(lfd, 4) < 0)
                tap_diag("cannot listen on %s: %m", sock_path);
}

delegate_ctx *open_ctx(const char *vm) {
        delegate_ctx *c = NULL;
        delegate_error e;
        if (delegate_open(DELEGATE_API_VERSION, HARNESS_SOCKET, "test-kvmi", vm, &c, &e) < 0)
                tap_diag("delegate_open: %s", e.message);
        return c;
}

/* One call; returns a JSON text: {"ok":true,"result":...} or {"ok":false,"error":{...}}. */
char *call(delegate_ctx *c, const char *op, const char *args, const int *in_fds, size_t n_in, int *ret_fd) {
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

int64_t fi(const char *json, const char *path) {
        int64_t v = -1;
        json_field_i64(json, path, &v);
        return v;
}

const char *fs(const char *json, const char *path) {
        static char buf[4][700];
        static int k;
        char *b = buf[k++ % 4];
        if (!json_field_str(json, path, b, sizeof(buf[0])))
                snprintf(b, sizeof(buf[0]), "(missing %s)", path);
        return b;
}

/* Start kvmi-peer (QEMU + kernel) connecting to our socket; @extra: more options, NULL-terminated. */
void peer_start(peer *p, const char *name, const char *secret, ...) {
        listen_once();
        int k = n_peers++;
        snprintf(p->map, sizeof(p->map), "/run/delegate-test/map-%d", k);
        snprintf(p->status, sizeof(p->status), "/run/delegate-test/status-%d", k);
        unlink(p->status);
        const char *argv[32] = { "kvmi-peer", "--connect", sock_path, "--name", name, "--map", p->map, "--status",
                                 p->status, "--reconnect-ms", "100" };
        int n = 11;
        char pages[32];
        snprintf(pages, sizeof(pages), "%u", PAGES);
        argv[n++] = "--pages";
        argv[n++] = pages;
        if (secret) {
                argv[n++] = "--secret";
                argv[n++] = secret;
        }
        va_list ap;
        va_start(ap, secret);
        for (const char *x; n < 30 && (x = va_arg(ap, const char *));)
                argv[n++] = x;
        va_end(ap);
        argv[n] = NULL;
        p->pid = fork();
        if (p->pid == 0) {
                execv(getenv("DELEGATE_KVMI_PEER"), (char **) argv);
                _exit(127);
        }
}

/* Wait for the peer to exit; its exit code, -1 on timeout. */
int peer_wait(peer *p, int timeout_ms) {
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

/* Shut the guest down: UNHOOK if enabled, the tool closes, the peer exits. */
int peer_stop(peer *p) {
        kill(p->pid, SIGTERM);
        int r = peer_wait(p, 10000);
        /* connections it left in the listen queue are no one's */
        for (struct pollfd pf = { lfd, POLLIN, 0 }; poll(&pf, 1, 0) > 0;) {
                int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
                if (fd < 0)
                        break;
                close(fd);
        }
        return r;
}

uint8_t *peer_map(peer *p, int conn) {
        char path[160];
        snprintf(path, sizeof(path), "%s.%d", p->map, conn);
        uint8_t *m = malloc(PAGES);
        FILE *f = fopen(path, "re");
        size_t n = m && f ? fread(m, 1, PAGES, f) : 0;
        if (f)
                fclose(f);
        if (n == 0) {
                free(m);
                return NULL;
        }
        memset(m + n, 7, PAGES - n); /* a guest with less RAM */
        return m;
}

bool peer_said(peer *p, const char *line) {
        return harness_file_contains(p->status, line, 5000);
}

/* Accept QEMU's next connection and hand it over; kvmi.connect's reply (answered once ready). */
int connect_sndbuf;
unsigned long connect_ino;

char *connect_next(delegate_ctx *c) {
        struct pollfd pf = { lfd, POLLIN, 0 };
        if (poll(&pf, 1, 10000) <= 0)
                return strdup("{\"ok\":false,\"error\":{\"message\":\"QEMU did not connect\"}}");
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd >= 0 && connect_sndbuf > 0)
                setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &connect_sndbuf, sizeof(connect_sndbuf));
        struct stat st;
        connect_ino = fd >= 0 && fstat(fd, &st) == 0 ? (unsigned long) st.st_ino : 0;
        char *r = call(c, "kvmi.connect", "{\"socket\":0}", &fd, 1, NULL);
        close(fd);
        return r;
}


/* Attach, start the peer, hand over its first connection: ok or not. */
bool attach_connect(delegate_ctx *c, peer *p, const char *vm, bool keyed, const char *peer_secret_override,
                           const char *extra1, const char *extra2) {
        char secret[128] = "";
        attach(c, keyed, secret, sizeof(secret));
        peer_start(p, vm, peer_secret_override ? peer_secret_override : keyed ? secret : NULL, extra1, extra2, NULL);
        char *r = connect_next(c);
        bool ok = fi(r, "ok") == 1;
        if (!ok)
                tap_diag("kvmi.connect: %s", r);
        free(r);
        return ok;
}

/* Poll state.get until the channel is ready and idle (or closed). */
char *wait_idle(delegate_ctx *c) {
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

/*
 * Poll state.get until the channel is @want: the broker learns that QEMU's
 * connection ended from its own event loop, and another loop may answer
 * state.get before that.  The bound (2000 polls, over 20 s) only keeps a
 * broker that never notices from hanging the test; it measures no speed.
 */
char *wait_channel(delegate_ctx *c, const char *want) {
        const int tries = 2000;
        char *s = NULL;
        for (int i = 0; i < tries; i++) {
                free(s);
                s = call(c, "state.get", NULL, NULL, 0, NULL);
                if (!strcmp(fs(s, "result.kvmi.channel"), want))
                        return s;
                usleep(10000);
        }
        tap_diag("the KVMI channel was still '%s', not '%s', after %d state.get polls 10 ms apart; the last: %s",
                 fs(s, "result.kvmi.channel"), want, tries, s);
        return s;
}

int attach(delegate_ctx *c, bool keyed, char *secret, size_t size) {
        char *r = call(c, "kvmi.attach", keyed ? "{\"keyed\":true}" : "{\"keyed\":false}", NULL, 0, NULL);
        if (!tap_ok(fi(r, "ok") == 1, "kvmi.attach (%s) opens the channel", keyed ? "keyed" : "unkeyed"))
                tap_diag("%s", r);
        if (secret)
                snprintf(secret, size, "%s", keyed ? fs(r, "result.secret") : "");
        free(r);
        return 0;
}

/* Entries i = 0..n-1 with a pattern that revisits pages and uses every access value. */
void gen_entries(kvmi_page_access_entry *e, size_t n, uint64_t seed) {
        for (size_t i = 0; i < n; i++) {
                uint64_t gfn = (i * 2654435761u + seed) % PAGES;
                if (i % 10 == 9)
                        gfn = ((i - 5) * 2654435761u + seed) % PAGES; /* a page set again, later */
                e[i] = (kvmi_page_access_entry) { .gpa = gfn << 12 | (i & 0xfff), .access = (uint8_t) (i % 8) };
        }
}

void apply(uint8_t *m, const kvmi_page_access_entry *e, size_t n, size_t skip) {
        for (size_t i = 0; i < n; i++)
                if (i != skip)
                        m[e[i].gpa >> 12] = e[i].access;
}

uint8_t *blank_map(void) {
        uint8_t *m = malloc(PAGES);
        memset(m, 7, PAGES);
        return m;
}

size_t restricted(const uint8_t *m) {
        size_t n = 0;
        for (size_t i = 0; i < PAGES; i++)
                n += m[i] != 7;
        return n;
}

void compare_maps(peer *p, int conn, const uint8_t *want, const char *what) {
        uint8_t *got = peer_map(p, conn);
        size_t diff = 0, first = SIZE_MAX;
        for (size_t i = 0; got && i < PAGES; i++)
                if (got[i] != want[i]) {
                        diff++;
                        if (first == SIZE_MAX)
                                first = i;
                }
        if (!tap_ok(got && diff == 0, "connection %d: the kernel's access map equals %s (%zu restricted pages)", conn,
                    what, restricted(want)))
                tap_diag("%s; %zu pages differ, first gfn %zu: got %d want %d", got ? "map read" : "no map", diff,
                         first, got && first != SIZE_MAX ? got[first] : -1, first != SIZE_MAX ? want[first] : -1);
        free(got);
}

/* QEMU shuts down; the kernel's map of its (only) connection must be @want, which is freed. */
void stop_and_compare(peer *p, uint8_t *want, const char *what) {
        peer_stop(p);
        compare_maps(p, 1, want, what);
        free(want);
}

/* Send @n entries inline in requests of @chunk; the first failing reply or NULL. */
char *send_inline(delegate_ctx *c, const kvmi_page_access_entry *e, size_t n, size_t chunk, size_t *ret_reqs) {
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

int make_memfd(const kvmi_page_access_entry *e, size_t n, bool seal) {
        int fd = memfd_create("kvmi-entries", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        size_t len = n * sizeof(*e);
        if (fd < 0 || write(fd, e, len) != (ssize_t) len)
                return -1;
        if (seal)
                fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE);
        return fd;
}

double now_s(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* kvmi.set-page-access of @n entries through a sealed memfd; its reply, and how long it took in *ret_dt. */
char *spa_memfd(delegate_ctx *c, const kvmi_page_access_entry *e, size_t n, double *ret_dt) {
        int mfd = make_memfd(e, n, true);
        double t0 = now_s();
        char *r = call(c, "kvmi.set-page-access", "{\"memfd\":0}", &mfd, 1, NULL);
        if (ret_dt)
                *ret_dt = now_s() - t0;
        close(mfd);
        return r;
}
