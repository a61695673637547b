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

/*
 * The retry cache as the state file's "sent" array, oldest first (so
 * that restoring keeps the order): [REPLY,...], each answer as it was sent,
 * a JSON object that names its own id; at @out (room: replies_room()); its
 * length.  Each is the broker's own answer (json_gen made it, or a restore
 * took it from json_dump(): valid JSON on one line), so it goes in as it
 * is, not quoted as a string: a save copies the cache, it does not
 * escape it byte by byte.  Answers that carried fds are left out: they
 * cannot be sent again, such requests are redone.  "replies" beside it is
 * always written empty: brokers before this one read only that key (each
 * answer quoted in it) and would refuse these answers there, so an older
 * broker resumes the session without its retry cache (such requests are
 * redone), rather than rejecting the file and undoing the session.
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
                memcpy(out + o, r->buf, r->len);
                o += r->len;
        }
        out[o++] = ']';
        return o;
}

/* The room replies() needs for @c's retry cache. */
static size_t replies_room(const client *c) {
        size_t room = 2;
        for (size_t k = 0; k < CLIENT_REPLY_CACHE; k++)
                if (c->cache[k].buf)
                        room += c->cache[k].len + 1; /* REPLY, */
        return room;
}

/* The record's first fields, which never change in a session: who it is, its peer; the map left open. */
static void gen_head(const client *c, json_gen *g) {
        json_gen_map_open(g);
        json_gen_kv_i64(g, "version", STATE_VERSION);
        json_gen_kv_u64(g, "session", c->session);
        json_gen_kv_str(g, "token_sha256", c->token_hash);
        json_gen_kv_str(g, "client", c->name ? c->name : "");
        json_gen_kv_str(g, "vm", c->vm ? c->vm : "");
        json_gen_str(g, "peer");
        json_gen_map_open(g);
        json_gen_kv_i64(g, "pid", c->cred.pid);
        json_gen_kv_u64(g, "starttime", c->starttime);
        json_gen_kv_u64(g, "uid", c->cred.uid);
        json_gen_kv_u64(g, "gid", c->cred.gid);
        json_gen_kv_str(g, "cgroup", c->cgroup ? c->cgroup : "");
        json_gen_kv_u64(g, "netns_dev", c->netns_dev);
        json_gen_kv_u64(g, "netns_ino", c->netns_ino);
        json_gen_map_close(g);
}

/* The fields after it but "replies": the counts, what each session part holds. */
static void gen_rest(const client *c, json_gen *g) {
        json_gen_kv_u64(g, "allowed", c->n_allowed);
        json_gen_kv_u64(g, "denied", c->n_denied);
        json_gen_kv_u64(g, "quiet", c->n_quiet);
        size_t n;
        const session_part *const *parts = session_part_registry(&n);
        for (size_t i = 0; i < n; i++)
                if (parts[i]->save)
                        parts[i]->save(c, g);
}

static void gen_fields(const client *c, json_gen *g) {
        gen_head(c, g);
        gen_rest(c, g);
}

/*
 * @c's head (gen_head()) as text, "{...,"peer":{...}" without the map's
 * end, made at its first save and kept for the next ones: its strings
 * (the token's hash, client, VM, pod cgroup) are not escaped again for
 * every delegation.  Not kept while the peer's identity is unknown (it
 * may still be read at the next save): then the caller's, in *@ret_once,
 * to erase and free.  Forgotten by state_kept_close() (a resume gives the
 * client another session and token); NULL without memory.
 */
static const char *head_of(client *c, size_t *ret_len, char **ret_once) {
        if (c->state_head) {
                *ret_len = c->state_head_len;
                return c->state_head;
        }
        _cleanup_json_gen_ json_gen *g = json_gen_new();
        char *text = NULL;
        size_t len;
        if (!g)
                return NULL;
        gen_head(c, g);
        json_gen_map_close(g);
        if (json_gen_take(g, &text, &len) < 0)
                return NULL;
        len--; /* its '}': the fields after it follow */
        if (c->starttime) {
                c->state_head = text;
                c->state_head_len = len;
        } else
                *ret_once = text;
        *ret_len = len;
        return text;
}

void state_gen(const client *c, json_gen *g) {
        gen_fields(c, g);
        json_gen_str(g, "replies"); /* empty: an older broker reads it (see replies()) */
        json_gen_array_open(g);
        json_gen_array_close(g);
        json_gen_str(g, "sent");
        /* each answer as it is (json_gen_number() takes raw text), as replies() writes them */
        json_gen_array_open(g);
        for (size_t k = 0; k < CLIENT_REPLY_CACHE; k++) {
                const cached_reply *r = &c->cache[(c->cache_next + k) % CLIENT_REPLY_CACHE];
                if (r->buf && !r->has_fds)
                        json_gen_number(g, r->buf, r->len);
        }
        json_gen_array_close(g);
        json_gen_map_close(g);
}

/* The two slots of session @session's state: session-N.json, session-N.b.json. */
static int file_name(uint64_t session, int slot, char *buf, size_t size) {
        return snprintf(buf, size, "session-%" PRIu64 "%s.json", session, slot ? ".b" : "") < (int) size ? 0
                                                                                                          : -ENAMETOOLONG;
}

static void tmp_name(uint64_t session, char *buf, size_t size) {
        snprintf(buf, size, ".session-%" PRIu64 ".json.tmp", session);
}

/* The slots' files kept open (on tmpfs), closed; the head stays. */
static void kept_fds_close(client *c) {
        if (!c->state_kept)
                return;
        c->state_kept_fd[0] = safe_close(c->state_kept_fd[0]);
        c->state_kept_fd[1] = safe_close(c->state_kept_fd[1]);
        c->state_kept = false;
}

void state_kept_close(client *c) {
        erase_free(c->state_head);
        c->state_head = NULL;
        kept_fds_close(c);
}

/* Spaces: what covers the rest of a longer version written over (the reader stops at the frame's newline). */
#define STATE_PAD_MAX 4096
static const char spaces[STATE_PAD_MAX] = { [0 ... STATE_PAD_MAX - 1] = ' ' };

/* @iov[0..@n) (the frame's start, the record in pieces, its end), all of it from offset 0 of @fd; -errno. */
static int write_iov(int fd, const struct iovec *iov, int n) {
        size_t want = 0;
        for (int i = 0; i < n; i++)
                want += iov[i].iov_len;
        ssize_t w;
        do
                w = pwritev(fd, iov, n, 0);
        while (w < 0 && errno == EINTR);
        if (w < 0)
                return negative_errno();
        return (size_t) w == want ? 0 : -EIO; /* regular files write all, but for a full disk */
}

/*
 * On tmpfs, with the slot's file kept open: @iov written over the older
 * version in it, in one pwritev(), the rest of that version (longer)
 * covered with spaces, or cut off when much longer.  A broker killed
 * during the write leaves the slot cut (state_unframe() sees it), the
 * other slot whole: the next broker reads that one.
 */
static int save_in_place(client *c, int slot, struct iovec *iov, int n, size_t len) {
        int fd = c->state_kept_fd[slot];
        size_t pad = c->state_kept_len[slot] > len ? c->state_kept_len[slot] - len : 0;
        if (pad > STATE_PAD_MAX) {
                if (ftruncate(fd, (off_t) len) < 0)
                        return negative_errno();
                pad = 0;
        }
        iov[n] = (struct iovec) { (void *) spaces, pad }; /* @iov has room for it */
        int r = write_iov(fd, iov, pad ? n + 1 : n);
        if (r < 0)
                return r;
        c->state_kept_len[slot] = len + pad;
        return 0;
}

/*
 * A new file for the slot: written as .tmp, synced unless on tmpfs, renamed
 * over the slot, the directory synced unless on tmpfs (the rename on disk
 * before the next save renames over the other slot); on tmpfs its fd kept
 * for the saves after it.  The way of every save in a persistent
 * directory: a power loss can leave pages of a file written in place in
 * any order, which the frame would not always see.
 */
static int save_new(client *c, int slot, const struct iovec *iov, int n, size_t len, int *dir_err) {
        broker *b = c->b;
        char name[64], tmp[80];
        if (!c->state_saved) {
                /* a session's first save: a file of an earlier session of this number left in the other slot
                 * (not recovered, not removed) might name a higher generation, and win at the next start */
                file_name(c->session, !slot, name, sizeof(name));
                if (unlinkat(b->state_fd, name, 0) < 0 && errno != ENOENT)
                        return negative_errno();
        }
        file_name(c->session, slot, name, sizeof(name));
        tmp_name(c->session, tmp, sizeof(tmp));
        _cleanup_close_ int fd = openat(b->state_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        int r = fd < 0 ? negative_errno() : write_iov(fd, iov, n);
        if (r >= 0 && b->state_sync && fsync(fd) < 0)
                r = negative_errno();
        if (r >= 0 && renameat(b->state_fd, tmp, b->state_fd, name) < 0)
                r = negative_errno();
        if (r < 0) {
                unlinkat(b->state_fd, tmp, 0);
                return r;
        }
        c->state_saved = true;
        if (b->state_sync) {
                if (fsync(b->state_fd) < 0)
                        *dir_err = negative_errno();
                return 0;
        }
        if (!c->state_kept) {
                c->state_kept = true;
                c->state_kept_fd[0] = c->state_kept_fd[1] = -EBADF;
        }
        safe_close(c->state_kept_fd[slot]);
        c->state_kept_fd[slot] = TAKE_FD(fd);
        c->state_kept_len[slot] = len;
        return 0;
}

/* @before, the generation's @dl digits, @after at @out (room for them): the frame's start or end; its length. */
static size_t frame_part(char *out, const char *before, const char *digits, size_t dl, const char *after) {
        size_t b = strlen(before), a = strlen(after);
        memcpy(out, before, b);
        memcpy(out + b, digits, dl);
        memcpy(out + b + dl, after, a);
        return b + dl + a;
}

/*
 * Each save writes the slot that does not hold the newest whole version,
 * with the next generation: a save killed half way leaves that one whole.
 * On tmpfs, once both slots are kept open, a save is one pwritev().
 */
int state_save(client *c) {
        broker *b = c->b;
        if (b->state_fd < 0 || !c->welcomed)
                return 0;
        state_peer_identity(c); /* best effort: a session without it saves, it just cannot be resumed */
        /* what state_gen() writes, in pieces: the head as kept (head_of()), the other fields through the
         * generator (a small buffer, which it grows, copies and erases no more), then the replies array as
         * replies() writes it */
        _cleanup_json_gen_ json_gen *g = json_gen_new();
        _cleanup_erase_free_ char *text = NULL;
        size_t head_len, len, room = replies_room(c);
        if (!g)
                return -ENOMEM;
        _cleanup_erase_free_ char *head_once = NULL;
        const char *head_text = head_of(c, &head_len, &head_once);
        if (!head_text)
                return -ENOMEM;
        json_gen_map_open(g);
        gen_rest(c, g);
        json_gen_map_close(g);
        int r = json_gen_take(g, &text, &len);
        if (r < 0)
                return r;
        _cleanup_free_ char *rep = malloc(room);
        if (!rep)
                return -ENOMEM;
        size_t rep_len = replies(c, rep);
        /* a generation is used once, whatever becomes of the write (a failed one may leave part of it) */
        uint64_t gen = ++c->state_generation;
        int slot = c->state_next, dir_err = 0;
        char head[64], end[48], digits[JSON_U64_MAX];
        size_t dl = json_format_u64(digits, gen);
        size_t hl = frame_part(head, STATE_FRAME_HEAD, digits, dl, STATE_FRAME_STATE);
        size_t el = frame_part(end, "}" STATE_FRAME_END, digits, dl, "}\n");
        /* the rest's map: its '{' becomes the comma after the head, its '}' goes after the replies */
        text[0] = ',';
        /* six pieces, and a seventh slot: save_in_place()'s room for the padding after them */
        struct iovec iov[7] = { { head, hl }, { (void *) head_text, head_len }, { text, len - 1 },
                                { (void *) ",\"replies\":[],\"sent\":", 21 }, { rep, rep_len }, { end, el } };
        size_t total = 0;
        for (int i = 0; i < 6; i++)
                total += iov[i].iov_len;
        r = -EBADF;
        if (c->state_kept && c->state_kept_fd[slot] >= 0 && (r = save_in_place(c, slot, iov, 6, total)) < 0)
                kept_fds_close(c); /* anew, then kept again (iov[1] may be the kept head: it stays) */
        if (r < 0)
                r = save_new(c, slot, iov, 6, total, &dir_err);
        explicit_bzero(rep, rep_len); /* it held answers */
        if (r >= 0)
                c->state_next = !slot;
        if (dir_err < 0) { /* renamed, but maybe not yet on disk */
                r = dir_err;
                if (!c->state_error_logged)
                        log_msg(b, LOG_WARNING, "session %" PRIu64 ": cannot sync the state directory '%s': %s",
                                c->session, b->state_dir, strerror(-r));
                c->state_error_logged = true;
                return r; /* still dirty: the next change saves again */
        }
        if (r < 0) {
                if (!c->state_error_logged)
                        log_msg(b, LOG_WARNING, "session %" PRIu64 ": cannot save its state in '%s': %s; it will not "
                                "survive a broker restart", c->session, b->state_dir, strerror(-r));
                c->state_error_logged = true;
                return r; /* the other slot, if saved before, still holds the version before */
        }
        c->state_dirty = false;
        return 0;
}

void state_drop(client *c) {
        char name[64], tmp[80];
        state_kept_close(c);
        if (c->b->state_fd < 0 || !c->state_saved)
                return;
        tmp_name(c->session, tmp, sizeof(tmp));
        unlinkat(c->b->state_fd, tmp, 0);
        for (int slot = 1; slot >= 0; slot--) {
                file_name(c->session, slot, name, sizeof(name));
                if (unlinkat(c->b->state_fd, name, 0) < 0 && errno != ENOENT)
                        log_msg(c->b, LOG_WARNING, "session %" PRIu64 ": cannot remove its state file '%s': %m",
                                c->session, name);
        }
        c->state_saved = false;
        c->state_next = 0;
}
