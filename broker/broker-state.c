/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-state.c - sessions outlive the broker process.
 *
 * Each session that holds something is written to STATE_DIR/session-N.json
 * (write to a temporary file, fsync, rename: a crash leaves the old file or
 * the new one, never half of one): the peer's identity, a SHA-256 of its
 * resume token, what it was granted (memlock records, created cgroups, TAP
 * devices, counts) and the answers it was last given (the retry cache).
 *
 * A broker that starts with files there (after kill -9, or a restart with
 * SIGTERM, which keeps sessions rather than tearing down running VMs)
 * recovers them:
 *   - the launcher is gone: what the session created is undone now (TAP
 *     devices removed in the pod's network namespace, found through a
 *     process still in the pod cgroup; created cgroups removed);
 *   - the launcher is alive: the session waits, detached, for the launcher
 *     to reconnect with {"resume":{"session":N,"token":T}} in its hello,
 *     for --resume-timeout seconds, then is undone as if it had died.
 * The retry cache comes back with the session, so a request retried with
 * the same id after the restart gets its first answer and is not redone.
 *
 * Not kept: KVMI channels (the broker's end of the socketpair dies with the
 * broker; QEMU sees EOF) and their shadows - a launcher re-attaches.
 */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <nettle/sha2.h>
#include <sched.h>
#include <stdio.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "broker.h"
#include "proc.h"

#define STATE_VERSION 1
#define STATE_MAX_FILE (1024 * 1024)

/* --- tokens --- */

static void token_hash(const char *token, char out[2 * SHA256_DIGEST_SIZE + 1]) {
        struct sha256_ctx ctx;
        uint8_t d[SHA256_DIGEST_SIZE];
        sha256_init(&ctx);
        sha256_update(&ctx, strlen(token), (const uint8_t *) token);
        sha256_digest(&ctx, sizeof(d), d);
        hex_format(d, sizeof(d), out);
        explicit_bzero(&ctx, sizeof(ctx));
}

int state_token_new(client *c) {
        if (random_hex(STATE_TOKEN_BYTES, c->token) < 0)
                return -EIO;
        token_hash(c->token, c->token_hash);
        return 0;
}

/* Constant-time: the hash of a guess tells nothing about how close it was. */
static bool hash_equal(const char *a, const char *b) {
        unsigned char d = 0;
        for (size_t i = 0; i < 2 * SHA256_DIGEST_SIZE; i++)
                d |= (unsigned char) (a[i] ^ b[i]);
        return d == 0;
}

/* --- identity of a peer across restarts --- */

/*
 * The peer's start time and network namespace, for recognising it after a
 * restart.  Read when first needed (the first save, or a resume), not at
 * accept: most connections never need it, and while connected the peer is
 * pinned by its pidfd.
 */
static int peer_identity(client *c) {
        if (c->starttime)
                return 0;
        char path[64];
        struct stat st;
        int r = proc_starttime(c->cred.pid, &c->starttime);
        if (r < 0)
                return r;
        snprintf(path, sizeof(path), "/proc/%d/ns/net", (int) c->cred.pid);
        if (stat(path, &st) == 0) {
                c->netns_dev = st.st_dev;
                c->netns_ino = st.st_ino;
        }
        return 0;
}

/* --- writing --- */

static int file_name(uint64_t session, char *buf, size_t size) {
        return snprintf(buf, size, "session-%" PRIu64 ".json", session) < (int) size ? 0 : -ENAMETOOLONG;
}

static void gen_state(const client *c, yajl_gen g) {
        yajl_gen_map_open(g);
        json_gen_kv_i64(g, "version", STATE_VERSION);
        json_gen_kv_u64(g, "session", c->session);
        json_gen_kv_str(g, "token_sha256", c->token_hash);
        json_gen_kv_str(g, "client", c->name ? c->name : "");
        json_gen_kv_str(g, "vm", c->vm ? c->vm : "");
        json_gen_str(g, "peer");
        yajl_gen_map_open(g);
        json_gen_kv_i64(g, "pid", c->cred.pid);
        json_gen_kv_u64(g, "starttime", c->starttime);
        json_gen_kv_u64(g, "uid", c->cred.uid);
        json_gen_kv_u64(g, "gid", c->cred.gid);
        json_gen_kv_str(g, "cgroup", c->cgroup ? c->cgroup : "");
        json_gen_kv_u64(g, "netns_dev", c->netns_dev);
        json_gen_kv_u64(g, "netns_ino", c->netns_ino);
        yajl_gen_map_close(g);
        json_gen_kv_u64(g, "allowed", c->n_allowed);
        json_gen_kv_u64(g, "denied", c->n_denied);
        json_gen_kv_u64(g, "threads_moved", c->n_threads_moved);
        json_gen_kv_u64(g, "sched_changes", c->n_sched_changes);
        json_gen_str(g, "memlock");
        yajl_gen_array_open(g);
        for (size_t i = 0; i < c->n_memlock; i++) {
                yajl_gen_map_open(g);
                json_gen_kv_i64(g, "pid", c->memlock[i].pid);
                json_gen_kv_i64(g, "host_pid", c->memlock[i].host_pid);
                json_gen_kv_u64(g, "soft", c->memlock[i].soft);
                json_gen_kv_u64(g, "hard", c->memlock[i].hard);
                yajl_gen_map_close(g);
        }
        yajl_gen_array_close(g);
        /* as state.get shows them */
        static const char *const kinds[] = { "cgroups_created", "tap" };
        for (size_t i = 0; i < ELEMENTSOF(kinds); i++) {
                json_gen_str(g, kinds[i]);
                session_hook_find(kinds[i])->state(c, g);
        }
        json_gen_str(g, "replies");
        yajl_gen_array_open(g);
        for (size_t k = 0; k < CLIENT_REPLY_CACHE; k++) {
                /* oldest first, so that restoring keeps the order */
                const cached_reply *r = &c->cache[(c->cache_next + k) % CLIENT_REPLY_CACHE];
                if (!r->buf || r->has_fds)
                        continue; /* fds cannot be sent again: such requests are redone */
                yajl_gen_map_open(g);
                json_gen_kv_u64(g, "id", r->id);
                json_gen_kv_str(g, "reply", r->buf);
                yajl_gen_map_close(g);
        }
        yajl_gen_array_close(g);
        yajl_gen_map_close(g);
}

static int write_all(int fd, const char *buf, size_t len) {
        while (len > 0) {
                ssize_t n = write(fd, buf, len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return negative_errno();
                buf += n;
                len -= (size_t) n;
        }
        return 0;
}

int state_save(client *c) {
        broker *b = c->b;
        char name[64], tmp[80];
        if (b->state_fd < 0 || !c->welcomed)
                return 0;
        peer_identity(c); /* best effort: a session without it saves, it just cannot be resumed */
        _cleanup_json_gen_ yajl_gen g = json_gen_new();
        _cleanup_erase_free_ char *text = NULL;
        size_t len;
        if (!g)
                return -ENOMEM;
        gen_state(c, g);
        int r = json_gen_take(g, &text, &len);
        if (r < 0)
                return r;
        file_name(c->session, name, sizeof(name));
        snprintf(tmp, sizeof(tmp), ".%s.tmp", name);
        _cleanup_close_ int fd = openat(b->state_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                r = negative_errno();
        else if ((r = write_all(fd, text, len)) >= 0 && fsync(fd) < 0)
                r = negative_errno();
        if (r >= 0 && renameat(b->state_fd, tmp, b->state_fd, name) < 0)
                r = negative_errno();
        if (r < 0) {
                unlinkat(b->state_fd, tmp, 0);
                if (!c->state_error_logged)
                        log_msg(b, LOG_WARNING, "session %" PRIu64 ": cannot save its state in '%s': %s; it will not "
                                "survive a broker restart", c->session, b->state_dir, strerror(-r));
                c->state_error_logged = true;
                c->state_saved = false;
                return r;
        }
        c->state_saved = true;
        c->state_dirty = false;
        return 0;
}

void state_drop(client *c) {
        char name[64];
        if (c->b->state_fd < 0 || !c->state_saved)
                return;
        file_name(c->session, name, sizeof(name));
        if (unlinkat(c->b->state_fd, name, 0) < 0 && errno != ENOENT)
                log_msg(c->b, LOG_WARNING, "session %" PRIu64 ": cannot remove its state file: %m", c->session);
        c->state_saved = false;
}

/*
 * An nsfs fd for the network namespace (@dev, @ino), from any process in it.
 * All of /proc, not the session's cgroup: in a real pod the namespace is
 * held by the pause (infra) container, a sibling of the launcher's cgroup.
 */
static int netns_holder(uint64_t dev, uint64_t ino) {
        _cleanup_(closedirp) DIR *d = opendir("/proc");
        if (!d)
                return negative_errno();
        for (struct dirent *de; (de = readdir(d));) {
                char ns[64];
                struct stat st;
                if (de->d_name[0] < '1' || de->d_name[0] > '9')
                        continue;
                snprintf(ns, sizeof(ns), "/proc/%.20s/ns/net", de->d_name);
                if (stat(ns, &st) == 0 && st.st_dev == dev && st.st_ino == ino) {
                        int fd = open(ns, O_RDONLY | O_CLOEXEC);
                        if (fd >= 0)
                                return fd;
                }
        }
        return -ENOENT;
}

/* --- reading --- */

static char *dup_str(const json_value *v) {
        return strdup(json_is_string(v) ? v->string.str : "");
}

static uint64_t get_u64(const json_value *o, const char *k) {
        uint64_t x = 0;
        const json_value *v = json_get(o, k);
        if (v)
                json_to_u64(v, &x);
        return x;
}

static int64_t get_i64(const json_value *o, const char *k) {
        int64_t x = 0;
        const json_value *v = json_get(o, k);
        if (v)
                json_to_i64(v, &x);
        return x;
}

/* A detached client from a state file: everything but a connection. */
static int client_from_state(broker *b, const json_value *s, client **ret, char *msg, size_t size) {
        const json_value *pv = json_get(s, "peer"), *hash = json_get(s, "token_sha256");
        if (get_i64(s, "version") != STATE_VERSION || !pv || !json_is_string(hash) ||
            strlen(hash->string.str) != 2 * SHA256_DIGEST_SIZE || get_u64(s, "session") == 0) {
                snprintf(msg, size, "not a version %d session state", STATE_VERSION);
                return -EINVAL;
        }
        client *c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->b = b;
        c->fd = c->pidfd = -EBADF;
        c->detached = true;
        c->welcomed = true;
        c->state_saved = true;
        c->session = get_u64(s, "session");
        snprintf(c->token_hash, sizeof(c->token_hash), "%s", hash->string.str);
        c->name = dup_str(json_get(s, "client"));
        c->vm = dup_str(json_get(s, "vm"));
        c->cgroup = dup_str(json_get(pv, "cgroup"));
        c->cred.pid = (pid_t) get_i64(pv, "pid");
        c->cred.uid = (uid_t) get_u64(pv, "uid");
        c->cred.gid = (gid_t) get_u64(pv, "gid");
        c->starttime = get_u64(pv, "starttime");
        c->netns_dev = get_u64(pv, "netns_dev");
        c->netns_ino = get_u64(pv, "netns_ino");
        c->n_allowed = get_u64(s, "allowed");
        c->n_denied = get_u64(s, "denied");
        c->n_threads_moved = get_u64(s, "threads_moved");
        c->n_sched_changes = get_u64(s, "sched_changes");
        if (!c->name || !c->vm || !c->cgroup || c->cgroup[0] != '/') {
                client_free(c);
                snprintf(msg, size, "no pod cgroup");
                return -EINVAL;
        }
        const json_value *a = json_get(s, "memlock");
        for (size_t i = 0; a && a->type == JSON_ARRAY && i < a->array.n && c->n_memlock < SESSION_MAX_MEMLOCK; i++) {
                const json_value *m = a->array.items[i];
                c->memlock[c->n_memlock++] = (memlock_record) { (pid_t) get_i64(m, "pid"),
                                                                (pid_t) get_i64(m, "host_pid"), get_u64(m, "soft"),
                                                                get_u64(m, "hard") };
        }
        a = json_get(s, "cgroups_created");
        for (size_t i = 0; a && a->type == JSON_ARRAY && i < a->array.n && c->n_cgroups_created < SESSION_MAX_CGROUPS;
             i++) {
                const json_value *p = a->array.items[i];
                /* only below the session's own cgroup: a forged file cannot make us remove others */
                if (!json_is_string(p) || !path_below(p->string.str, c->cgroup) || streq(p->string.str, c->cgroup) ||
                    strstr(p->string.str, "/../") || strstr(p->string.str, "/./"))
                        continue;
                char *dup = strdup(p->string.str);
                if (dup)
                        c->cgroups_created[c->n_cgroups_created++] = dup;
        }
        a = json_get(s, "tap");
        for (size_t i = 0; a && a->type == JSON_ARRAY && i < a->array.n && c->n_tap < SESSION_MAX_TAP; i++) {
                const json_value *t = a->array.items[i], *name = json_get(t, "name"), *p = json_get(t, "persist"),
                                 *ad = json_get(t, "adopted");
                if (!json_is_string(name) || strlen(name->string.str) > TAP_NAME_MAX)
                        continue;
                tap_record *rec = &c->tap[c->n_tap++];
                *rec = (tap_record) { .ifindex = (int) get_i64(t, "ifindex"), .netns_fd = -EBADF,
                                      .persist = p && p->type == JSON_BOOL && p->boolean,
                                      .adopted = ad && ad->type == JSON_BOOL && ad->boolean };
                snprintf(rec->name, sizeof(rec->name), "%s", name->string.str);
                const json_value *kind = json_get(t, "kind"), *sl = json_get(t, "enslaved");
                rec->bridge = json_is_string(kind) && streq(kind->string.str, "bridge");
                for (size_t k = 0; rec->bridge && sl && sl->type == JSON_ARRAY && k < sl->array.n &&
                                   rec->n_enslaved < BRIDGE_MAX_ENSLAVE;
                     k++) {
                        uint64_t x;
                        if (json_to_u64(sl->array.items[k], &x) == 0 && x > 0 && x <= INT32_MAX)
                                rec->enslaved[rec->n_enslaved++] = (int) x;
                }
                if (rec->bridge)
                        rec->addr_from = (int) get_i64(t, "addresses_from");
        }
        a = json_get(s, "replies");
        for (size_t i = 0; a && a->type == JSON_ARRAY && i < a->array.n; i++) {
                const json_value *r = a->array.items[i], *text = json_get(r, "reply");
                if (!json_is_string(text))
                        continue;
                cached_reply *slot = &c->cache[c->cache_next];
                c->cache_next = (c->cache_next + 1) % CLIENT_REPLY_CACHE;
                erase_free(slot->buf);
                slot->buf = strdup(text->string.str);
                slot->len = slot->buf ? strlen(slot->buf) : 0;
                slot->id = get_u64(r, "id");
                c->cache_bytes += slot->len;
        }
        *ret = c;
        return 0;
}

/* Give the TAP records an nsfs fd, from @fd_source (a pid) or any process in the pod. */
static void reopen_netns(client *c, pid_t pid) {
        if (c->n_tap == 0)
                return;
        int fd = -ENOENT;
        if (pid > 0) {
                char ns[64];
                struct stat st;
                snprintf(ns, sizeof(ns), "/proc/%d/ns/net", (int) pid);
                if (stat(ns, &st) == 0 && st.st_dev == c->netns_dev && st.st_ino == c->netns_ino)
                        fd = open(ns, O_RDONLY | O_CLOEXEC);
        }
        if (fd < 0)
                fd = netns_holder(c->netns_dev, c->netns_ino);
        for (size_t i = 0; i < c->n_tap; i++) {
                safe_close(c->tap[i].netns_fd);
                c->tap[i].netns_fd = fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 3) : -EBADF;
        }
        safe_close(fd);
}

static bool peer_alive(const client *c) {
        uint64_t t;
        return c->cred.pid > 0 && proc_starttime(c->cred.pid, &t) == 0 && t == c->starttime;
}

/* Undo what a detached session holds, drop its file, free it. */
static void detached_end(client *c, const char *why) {
        broker *b = c->b;
        log_msg(b, LOG_NOTICE, "session %" PRIu64 " (vm '%s', pid %d): %s; undoing what it created (%zu TAP "
                "device(s), %zu cgroup(s))", c->session, c->vm, (int) c->cred.pid, why, c->n_tap,
                c->n_cgroups_created);
        if (c->n_tap > 0 && c->tap[0].netns_fd < 0)
                log_msg(b, LOG_INFO, "session %" PRIu64 ": no process is in its network namespace any more (all "
                        "of /proc searched); its TAP devices cannot be reached and are not removed by the broker "
                        "(they go with the namespace unless a mount keeps it)", c->session);
        /* unlink from the detached list */
        for (client **p = &b->detached; *p; p = &(*p)->next)
                if (*p == c) {
                        *p = c->next;
                        break;
                }
        c->next = NULL;
        client_free(c);
}

static int on_resume_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        client *c = userdata;
        detached_end(c, "its launcher did not resume it in time");
        return 0;
}

static void recover_one(broker *b, const char *name) {
        char msg[256];
        _cleanup_close_ int fd = openat(b->state_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > STATE_MAX_FILE) {
                log_msg(b, LOG_WARNING, "state '%s/%s': not a regular file of at most %d bytes; removed", b->state_dir,
                        name, STATE_MAX_FILE);
                unlinkat(b->state_fd, name, 0);
                return;
        }
        _cleanup_erase_free_ char *text = malloc((size_t) st.st_size + 1);
        ssize_t n = text ? read(fd, text, (size_t) st.st_size) : -1;
        if (text)
                text[n > 0 ? n : 0] = 0; /* erase_free() measures it */
        _cleanup_json_ json_value *s = NULL;
        json_parse_error je;
        client *c = NULL;
        int r = n == st.st_size ? json_parse(text, (size_t) n, false, &s, &je) : -EIO;
        if (r < 0)
                snprintf(msg, sizeof(msg), "%s", r == -EIO ? "short read" : je.message);
        else
                r = client_from_state(b, s, &c, msg, sizeof(msg));
        if (r < 0) {
                log_msg(b, LOG_WARNING, "state '%s/%s': %s; removed", b->state_dir, name, msg);
                unlinkat(b->state_fd, name, 0);
                return;
        }
        char want[64];
        file_name(c->session, want, sizeof(want));
        if (!streq(want, name)) {
                log_msg(b, LOG_WARNING, "state '%s/%s' names session %" PRIu64 "; removed", b->state_dir, name,
                        c->session);
                c->state_saved = false;
                client_free(c);
                unlinkat(b->state_fd, name, 0);
                return;
        }
        if (c->session >= b->next_session)
                b->next_session = c->session + 1;
        c->next = b->detached;
        b->detached = c;
        if (!peer_alive(c)) {
                reopen_netns(c, 0);
                return detached_end(c, "its launcher exited while the broker was down");
        }
        reopen_netns(c, c->cred.pid);
        r = sd_event_add_time_relative(b->event, &c->resume_timer, CLOCK_MONOTONIC, b->resume_timeout_usec, 0,
                                       on_resume_timeout, c);
        if (r < 0)
                return detached_end(c, "no timer to wait for its launcher");
        log_msg(b, LOG_NOTICE, "session %" PRIu64 " (vm '%s', pid %d) recovered: waiting %" PRIu64 " s for its "
                "launcher to resume it", c->session, c->vm, (int) c->cred.pid, b->resume_timeout_usec / 1000000);
}

int state_setup(broker *b, const char *dir) {
        b->state_fd = -EBADF;
        if (!dir || streq(dir, "none"))
                return 0;
        if (!(b->state_dir = strdup(dir)))
                return -ENOMEM;
        /* parents like /run/delegate 0755 (the socket's directory); the state itself root only */
        _cleanup_free_ char *parent = strdup(dir);
        if (!parent)
                return -ENOMEM;
        for (char *sl = strchr(parent + 1, '/'); sl; sl = strchr(sl + 1, '/')) {
                *sl = 0;
                if (mkdir(parent, 0755) < 0 && errno != EEXIST) {
                        log_msg(b, LOG_ERR, "cannot create '%s' for the state directory: %m", parent);
                        return negative_errno();
                }
                *sl = '/';
        }
        if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
                log_msg(b, LOG_ERR, "cannot create the state directory '%s': %m", dir);
                return negative_errno();
        }
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0) {
                log_msg(b, LOG_ERR, "cannot open the state directory '%s': %m", dir);
                safe_close(fd);
                return negative_errno();
        }
        if (st.st_uid != geteuid() || (st.st_mode & 077)) {
                log_msg(b, LOG_ERR, "state directory '%s' must be owned by uid %u with mode 0700 (it is uid %u, "
                        "mode %04o)", dir, (unsigned) geteuid(), (unsigned) st.st_uid, st.st_mode & 07777);
                safe_close(fd);
                return -EPERM;
        }
        b->state_fd = fd;
        _cleanup_close_ int dfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        _cleanup_(closedirp) DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
        if (!d)
                return 0;
        dfd = -EBADF;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.') {
                        if (strstr(de->d_name, ".tmp"))
                                unlinkat(fd, de->d_name, 0); /* a write the crash interrupted */
                        continue;
                }
                if (!strncmp(de->d_name, "session-", 8))
                        recover_one(b, de->d_name);
        }
        return 0;
}

/* --- resuming --- */

int state_resume(client *c, const json_value *resume, err_code *ret_code, char *msg, size_t size) {
        broker *b = c->b;
        const json_value *sv = json_get(resume, "session"), *tv = json_get(resume, "token");
        uint64_t id;
        if (!resume || resume->type != JSON_OBJECT || !sv || json_to_u64(sv, &id) < 0 || !json_is_string(tv) ||
            strlen(tv->string.str) != 2 * STATE_TOKEN_BYTES) {
                *ret_code = ERR_BAD_REQUEST;
                snprintf(msg, size, "hello: \"resume\" must be {\"session\": N, \"token\": \"%d hex digits\"}",
                         2 * STATE_TOKEN_BYTES);
                return -EINVAL;
        }
        client *z = NULL;
        for (z = b->detached; z && z->session != id; z = z->next)
                ;
        if (!z) {
                *ret_code = ERR_NOT_FOUND;
                snprintf(msg, size, "session %" PRIu64 " cannot be resumed: this broker does not hold it (it ended, "
                         "or was never saved); connect without \"resume\" for a new session", id);
                return -ENOENT;
        }
        peer_identity(c);
        char h[2 * SHA256_DIGEST_SIZE + 1];
        token_hash(tv->string.str, h);
        if (!hash_equal(h, z->token_hash)) {
                *ret_code = ERR_DENIED;
                snprintf(msg, size, "session %" PRIu64 " cannot be resumed: wrong token", id);
                return -EACCES;
        }
        if (c->cred.pid != z->cred.pid || c->starttime != z->starttime || c->cred.uid != z->cred.uid ||
            c->cred.gid != z->cred.gid) {
                *ret_code = ERR_DENIED;
                snprintf(msg, size, "session %" PRIu64 " belongs to pid %d (uid %u); only that process may resume it",
                         id, (int) z->cred.pid, (unsigned) z->cred.uid);
                return -EACCES;
        }
        /* take over what it holds */
        for (client **p = &b->detached; *p; p = &(*p)->next)
                if (*p == z) {
                        *p = z->next;
                        break;
                }
        z->resume_timer = sd_event_source_disable_unref(z->resume_timer);
        c->session = z->session;
        memcpy(c->token_hash, z->token_hash, sizeof(c->token_hash));
        snprintf(c->token, sizeof(c->token), "%s", tv->string.str);
        c->n_allowed = z->n_allowed;
        c->n_denied = z->n_denied;
        c->n_threads_moved = z->n_threads_moved;
        c->n_sched_changes = z->n_sched_changes;
        memcpy(c->memlock, z->memlock, sizeof(c->memlock));
        c->n_memlock = z->n_memlock;
        memcpy(c->cgroups_created, z->cgroups_created, sizeof(c->cgroups_created));
        c->n_cgroups_created = z->n_cgroups_created;
        z->n_cgroups_created = 0;
        memcpy(c->tap, z->tap, sizeof(c->tap));
        c->n_tap = z->n_tap;
        z->n_tap = 0;
        for (size_t i = 0; i < CLIENT_REPLY_CACHE; i++) {
                c->cache[i] = z->cache[i];
                z->cache[i].buf = NULL;
        }
        c->cache_next = z->cache_next;
        c->cache_bytes = z->cache_bytes;
        c->state_saved = true;
        z->state_saved = false; /* the file is the resumed session's now */
        z->detached_keep = true;
        client_free(z);
        return 0;
}

void state_free_detached(broker *b) {
        while (b->detached) {
                client *c = b->detached;
                b->detached = c->next;
                c->next = NULL;
                c->detached_keep = true; /* still recoverable by the next broker */
                client_free(c);
        }
}
