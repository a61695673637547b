/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-state-save.c - writing a session's state file, and its resume
 * token (what the files are: broker-state.c).  Below the operations, which
 * save what they changed, and below client_free(); it frees nothing.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <syslog.h>
#include <unistd.h>

#include "broker-op.h"
#include "broker.h"
#include "proc.h"

/* --- tokens --- */

void state_token_hash(const char *token, char out[2 * SHA256_DIGEST_SIZE + 1]) {
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
        state_token_hash(c->token, c->token_hash);
        return 0;
}

/* --- identity of a peer across restarts --- */

/*
 * The peer's start time and network namespace, for recognising it after a
 * restart.  Read when first needed (the first save, or a resume), not at
 * accept: most connections never need it, and while connected the peer is
 * pinned by its pidfd.
 */
int state_peer_identity(client *c) {
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

/*
 * @s (@len bytes, the broker's own JSON answer: valid UTF-8, as json_gen
 * made it or json_parse checked it) as a JSON string literal, quotes
 * included, at @out (room for 6 * @len + 2 bytes); its length.
 */
static size_t quote(const char *s, size_t len, char *out) {
        static const char hex[] = "0123456789abcdef";
        size_t o = 0;
        out[o++] = '"';
        for (size_t i = 0; i < len; i++) {
                unsigned char ch = (unsigned char) s[i];
                if (ch == '"' || ch == '\\') {
                        out[o++] = '\\';
                        out[o++] = (char) ch;
                } else if (ch < 0x20) {
                        memcpy(out + o, "\\u00", 4);
                        out[o + 4] = hex[ch >> 4];
                        out[o + 5] = hex[ch & 15];
                        o += 6;
                } else
                        out[o++] = (char) ch;
        }
        out[o++] = '"';
        return o;
}

/*
 * The retry cache as the state file's "replies" array, oldest first (so
 * that restoring keeps the order): [{"id":N,"reply":"..."},...], at @out
 * (room for 6 * len + 48 bytes per answer, and 2); its length.  Answers
 * that carried fds are left out: they cannot be sent again, such requests
 * are redone.
 */
static size_t replies(const client *c, char *out) {
        size_t o = 0;
        out[o++] = '[';
        for (size_t k = 0; k < CLIENT_REPLY_CACHE; k++) {
                const cached_reply *r = &c->cache[(c->cache_next + k) % CLIENT_REPLY_CACHE];
                if (!r->buf || r->has_fds)
                        continue;
                if (o > 1)
                        out[o++] = ',';
                memcpy(out + o, "{\"id\":", 6);
                o += 6;
                o += json_format_u64(out + o, r->id);
                memcpy(out + o, ",\"reply\":", 9);
                o += 9;
                o += quote(r->buf, strnlen(r->buf, r->len), out + o);
                out[o++] = '}';
        }
        out[o++] = ']';
        return o;
}

void state_gen(const client *c, yajl_gen g) {
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
        json_gen_kv_u64(g, "quiet", c->n_quiet);
        size_t n;
        const session_part *const *parts = session_part_registry(&n);
        for (size_t i = 0; i < n; i++)
                if (parts[i]->save)
                        parts[i]->save(c, g);
        json_gen_str(g, "replies");
        size_t room = 2;
        for (size_t k = 0; k < CLIENT_REPLY_CACHE; k++)
                if (c->cache[k].buf)
                        room += 6 * c->cache[k].len + 48; /* {"id":...,"reply":""}, */
        char *q = malloc(room);
        if (q) { /* the array as is, where yajl would take 6 calls per answer and escape it byte by byte */
                size_t used = replies(c, q);
                yajl_gen_number(g, q, used);
                explicit_bzero(q, used); /* it held answers */
                free(q);
        } else {
                yajl_gen_array_open(g);
                for (size_t k = 0; k < CLIENT_REPLY_CACHE; k++) {
                        const cached_reply *r = &c->cache[(c->cache_next + k) % CLIENT_REPLY_CACHE];
                        if (!r->buf || r->has_fds)
                                continue;
                        yajl_gen_map_open(g);
                        json_gen_kv_u64(g, "id", r->id);
                        json_gen_kv_str(g, "reply", r->buf);
                        yajl_gen_map_close(g);
                }
                yajl_gen_array_close(g);
        }
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

/*
 * Put @tmp in place of @name at once.  RENAME_EXCHANGE leaves the old file
 * as @tmp, for the next save to write over (once the directory is synced):
 * no inode made and another freed per save (on tmpfs a save costs a third
 * less).  The session's first save, or a file system without it, renames.
 * 1 when exchanged, 0 when renamed.
 */
static int replace(broker *b, const char *tmp, const char *name) {
        if (!b->state_no_exchange) {
                if (renameat2(b->state_fd, tmp, b->state_fd, name, RENAME_EXCHANGE) == 0)
                        return 1;
                if (errno == EINVAL || errno == ENOSYS)
                        b->state_no_exchange = true;
                else if (errno != ENOENT)
                        return negative_errno();
        }
        return renameat(b->state_fd, tmp, b->state_fd, name) < 0 ? negative_errno() : 0;
}

static void tmp_name(const char *name, char *buf, size_t size) {
        snprintf(buf, size, ".%s.tmp", name);
}

void state_kept_close(client *c) {
        if (!c->state_kept)
                return;
        safe_close(c->state_kept_fd[0]);
        safe_close(c->state_kept_fd[1]);
        c->state_kept = false;
}

/*
 * After a save the usual way on tmpfs: keep @fd, the state file now, and
 * the one it was exchanged with, the version before it now (a rename
 * removed that one), for the next saves to write without open or close.
 */
static void keep(client *c, int fd, size_t len, bool exchanged) {
        int was = c->state_kept ? c->state_kept_fd[0] : -EBADF;
        size_t was_len = c->state_kept_len[0];
        if (c->state_kept)
                safe_close(c->state_kept_fd[1]);
        if (!exchanged)
                was = safe_close(was);
        c->state_kept = true;
        c->state_kept_fd[0] = fd;
        c->state_kept_len[0] = len;
        c->state_kept_fd[1] = was;
        c->state_kept_len[1] = was_len;
}

/* Spaces, which JSON allows after the object: what covers the rest of a longer version written over. */
#define STATE_PAD_MAX 4096
static const char spaces[STATE_PAD_MAX] = { [0 ... STATE_PAD_MAX - 1] = ' ' };

/*
 * A save on tmpfs with both files kept (keep()): @text written over the
 * version before the last through its kept descriptor, the rest of that
 * (longer) version covered with spaces rather than cut off (much longer:
 * cut), and the file exchanged with the current one, as the usual way
 * does: @name still shows the old version whole until the exchange, and
 * the new one whole after it, whenever the broker is killed.  Two system
 * calls.  -errno: nothing was exchanged, the caller saves the usual way.
 */
static int save_kept(client *c, const char *text, size_t len, const char *tmp, const char *name) {
        int fd = c->state_kept_fd[1];
        size_t pad = c->state_kept_len[1] > len ? c->state_kept_len[1] - len : 0;
        if (pad > STATE_PAD_MAX) {
                if (ftruncate(fd, (off_t) len) < 0)
                        return negative_errno();
                pad = 0;
        }
        struct iovec iov[2] = { { (void *) text, len }, { (void *) spaces, pad } };
        ssize_t n = pwritev(fd, iov, pad ? 2 : 1, 0);
        if (n < 0)
                return negative_errno();
        if ((size_t) n != len + pad)
                return -EIO;
        if (renameat2(c->b->state_fd, tmp, c->b->state_fd, name, RENAME_EXCHANGE) < 0)
                return negative_errno();
        c->state_kept_fd[1] = c->state_kept_fd[0];
        c->state_kept_len[1] = c->state_kept_len[0];
        c->state_kept_fd[0] = fd;
        c->state_kept_len[0] = len + pad;
        return 0;
}

int state_save(client *c) {
        broker *b = c->b;
        char name[64], tmp[80];
        if (b->state_fd < 0 || !c->welcomed)
                return 0;
        state_peer_identity(c); /* best effort: a session without it saves, it just cannot be resumed */
        _cleanup_json_gen_ yajl_gen g = json_gen_new();
        _cleanup_erase_free_ char *text = NULL;
        size_t len;
        if (!g)
                return -ENOMEM;
        state_gen(c, g);
        int r = json_gen_take(g, &text, &len);
        if (r < 0)
                return r;
        file_name(c->session, name, sizeof(name));
        tmp_name(name, tmp, sizeof(tmp));
        if (c->state_kept && c->state_kept_fd[1] >= 0) {
                if (save_kept(c, text, len, tmp, name) >= 0) {
                        c->state_saved = true;
                        c->state_dirty = false;
                        return 0;
                }
                state_kept_close(c); /* the usual way, then kept again */
        }
        /* the version before the last, if there is one, is written over and cut to length: its pages are
         * reused (O_TRUNC would free them and the write allocate them again) */
        _cleanup_close_ int fd = openat(b->state_fd, tmp, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                r = negative_errno();
        else if ((r = write_all(fd, text, len)) >= 0 &&
                 (ftruncate(fd, (off_t) len) < 0 || (b->state_sync && fsync(fd) < 0)))
                r = negative_errno();
        int exchanged = r >= 0 ? replace(b, tmp, name) : r;
        if (exchanged < 0)
                r = exchanged;
        if (r < 0) {
                unlinkat(b->state_fd, tmp, 0);
                if (!c->state_error_logged)
                        log_msg(b, LOG_WARNING, "session %" PRIu64 ": cannot save its state in '%s': %s; it will not "
                                "survive a broker restart", c->session, b->state_dir, strerror(-r));
                c->state_error_logged = true;
                return r; /* state_saved unchanged: a file saved before still holds the version before */
        }
        c->state_saved = true;
        if (!b->state_sync && !b->state_no_exchange) /* tmpfs: the next saves write through kept descriptors */
                keep(c, TAKE_FD(fd), len, exchanged > 0);
        /* the exchange on disk before the next save writes over the old file, now @tmp: else a power loss
         * could leave @name naming it half written over */
        if (b->state_sync && fsync(b->state_fd) < 0) {
                r = negative_errno();
                if (!c->state_error_logged)
                        log_msg(b, LOG_WARNING, "session %" PRIu64 ": cannot sync the state directory '%s': %s",
                                c->session, b->state_dir, strerror(-r));
                c->state_error_logged = true;
                return r; /* still dirty: the next change saves again */
        }
        c->state_dirty = false;
        return 0;
}

void state_drop(client *c) {
        char name[64], tmp[80];
        state_kept_close(c);
        if (c->b->state_fd < 0 || !c->state_saved)
                return;
        file_name(c->session, name, sizeof(name));
        tmp_name(name, tmp, sizeof(tmp));
        unlinkat(c->b->state_fd, tmp, 0); /* the version before the last, if any */
        if (unlinkat(c->b->state_fd, name, 0) < 0 && errno != ENOENT)
                log_msg(c->b, LOG_WARNING, "session %" PRIu64 ": cannot remove its state file: %m", c->session);
        c->state_saved = false;
}
