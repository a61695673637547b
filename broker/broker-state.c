/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-state.c - sessions outlive the broker process.
 *
 * Each session that holds something is written to one of two files,
 * STATE_DIR/session-N.json and session-N.b.json, in turn, each version
 * framed with its generation at both ends (broker-state-save.c): a save
 * killed half way leaves its file cut, which the next broker sees, and the
 * other file whole: the peer's identity, a SHA-256 of its
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
 * Not kept: KVMI channels (QEMU's connection dies with the broker; QEMU
 * sees EOF, unhooks and reconnects to the launcher) and their shadows - a
 * launcher attaches again and hands the next connection over.
 */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <nettle/sha2.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <syslog.h>
#include <unistd.h>

#include "broker-frame.h"
#include "broker-op.h"
#include "broker.h"
#include "proc.h"

_Static_assert(2 * STATE_TOKEN_BYTES == FRAME_TOKEN_HEX, "a resume token is the welcome's token");
#define STATE_MAX_FILE (1024 * 1024)

/* --- the resume token --- */

/* Constant-time: the hash of a guess tells nothing about how close it was. */
static bool hash_equal(const char *a, const char *b) {
        unsigned char d = 0;
        for (size_t i = 0; i < 2 * SHA256_DIGEST_SIZE; i++)
                d |= (unsigned char) (a[i] ^ b[i]);
        return d == 0;
}

/* --- reading --- */

/*
 * A state file is root's own, but a bug, a stale file from another version
 * or a hand edit must never turn into damage: every field is checked for
 * type and range, and a file with any field wrong is not recovered.  It is
 * moved aside (*.rejected) and reported; what it names that can still be
 * identified safely is undone (recover_one()).
 */
#define bad state_bad
#define get_u64 state_get_u64
#define get_bool state_get_bool
#define get_array state_get_array

/* A pod cgroup as /proc/PID/cgroup writes it: absolute, not the root, no
 * empty, "." or ".." component, printable. */
static bool pod_cgroup_valid(const char *p) {
        if (p[0] != '/' || !p[1] || strlen(p) >= STATE_MAX_PATH)
                return false;
        for (const char *q = p; *q; q++)
                if ((unsigned char) *q < 0x20 || *q == 0x7f)
                        return false;
        for (const char *q = p + 1; *q;) {
                size_t l = strcspn(q, "/");
                if (l == 0 || (l == 1 && q[0] == '.') || (l == 2 && q[0] == '.' && q[1] == '.'))
                        return false;
                q += l;
                if (*q == '/' && !*++q)
                        return false; /* trailing slash */
        }
        return true;
}

static char *get_str(state_check *ck, const json_value *o, const char *k, bool (*valid)(const char *)) {
        const json_value *v = json_get(o, k);
        if (!json_is_string(v) || (v->string.str[0] && valid && !valid(v->string.str))) {
                bad(ck, "\"%s\" is not a valid string for it", k);
                return strdup("");
        }
        return strdup(v->string.str);
}

/*
 * An answer of the retry cache, @r (entry @i of @key), into @c's retry
 * cache.  This broker writes each answer as it was sent, a JSON object
 * naming its own "id", in "sent" (and "replies" empty, so that an older
 * broker, which reads only "replies", resumes the session without its retry
 * cache rather than rejecting the file); brokers before it wrote "replies"
 * of {"id":N,"reply":"TEXT"}, the answer quoted (@quoted), which is parsed
 * here and must name the same id.  Either way the answer is kept as
 * json_dump() writes it again: valid JSON on one line, as every save then
 * copies it into the file unquoted, whatever the file held.  0, or
 * -ENOMEM (nothing else: a wrong entry is reported in *@ck).
 */
static int restore_reply(client *c, const json_value *r, const char *key, size_t i, bool quoted, state_check *ck) {
        _cleanup_json_ json_value *parsed = NULL;
        const json_value *reply = r, *text = quoted ? json_get(r, "reply") : NULL;
        uint64_t id = 0, own;
        json_parse_error je;
        if (quoted) { /* an older broker's */
                id = get_u64(ck, r, "id", 0, STATE_MAX_SESSION, false);
                if (!json_is_string(text) || text->string.len > LIMIT_CACHE_BYTES) {
                        bad(ck, "%s[%zu] has no reply text", key, i);
                        return 0;
                }
                int k = json_parse(text->string.str, text->string.len, false, &parsed, &je);
                if (k == -ENOMEM)
                        return k;
                if (k < 0) {
                        bad(ck, "%s[%zu]: its reply is not JSON: %s", key, i, je.message);
                        return 0;
                }
                reply = parsed;
        }
        if (!reply || reply->type != JSON_OBJECT) {
                bad(ck, "%s[%zu] is not a reply object", key, i);
                return 0;
        }
        own = get_u64(ck, reply, "id", 0, STATE_MAX_SESSION, false);
        if (!quoted)
                id = own;
        else if (own != id) {
                bad(ck, "%s[%zu]: its reply answers id %" PRIu64 ", not %" PRIu64, key, i, own, id);
                return 0;
        }
        _cleanup_erase_free_ char *dump = NULL;
        if (json_dump(reply, &dump) < 0)
                return -ENOMEM;
        size_t len = strlen(dump);
        if (len > LIMIT_CACHE_BYTES) {
                bad(ck, "%s[%zu] is longer than %d bytes", key, i, LIMIT_CACHE_BYTES);
                return 0;
        }
        /* as the broker stored it (and within LIMIT_CACHE_BYTES in all, whatever the file says) */
        client_cache_store(c, id, dump, len, false);
        return 0;
}

/*
 * A detached client from a state file: everything but a connection.  With
 * any field wrong, *@ck says which; the client then holds only the records
 * that were valid on their own (cgroups below a valid pod cgroup, TAP
 * records of a valid name and index), for undoing, and must not be resumed.
 */
static int client_from_state(broker *b, const json_value *s, client **ret, state_check *ck) {
        const json_value *pv = json_get(s, "peer"), *hash = json_get(s, "token_sha256");
        client *c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->b = b;
        c->fd = c->pidfd = -EBADF;
        if (session_parts_new(c) < 0) {
                c->detached = c->detached_keep = true; /* on no list, nothing of it undone */
                client_free(c);
                return -ENOMEM;
        }
        c->detached = true;
        c->welcomed = true;
        c->state_saved = true;
        if (get_u64(ck, s, "version", STATE_VERSION, STATE_VERSION, false) != STATE_VERSION)
                bad(ck, "not a version %d session state", STATE_VERSION);
        c->session = get_u64(ck, s, "session", 1, STATE_MAX_SESSION, false);
        if (!json_is_string(hash) || strlen(hash->string.str) != 2 * SHA256_DIGEST_SIZE ||
            strspn(hash->string.str, "0123456789abcdef") != 2 * SHA256_DIGEST_SIZE)
                bad(ck, "\"token_sha256\" must be %d lower-case hex digits", 2 * SHA256_DIGEST_SIZE);
        else
                snprintf(c->token_hash, sizeof(c->token_hash), "%s", hash->string.str);
        c->name = get_str(ck, s, "client", client_name_valid);
        c->vm = get_str(ck, s, "vm", vm_name_valid);
        if (!pv || pv->type != JSON_OBJECT)
                bad(ck, "no \"peer\" object");
        c->cgroup = get_str(ck, pv, "cgroup", NULL);
        if (c->cgroup && !pod_cgroup_valid(c->cgroup)) {
                bad(ck, "peer cgroup '%.200s' is not a cgroup below the root", c->cgroup);
                free(c->cgroup);
                c->cgroup = NULL; /* nothing below it can be trusted either */
        }
        c->cred.pid = (pid_t) get_u64(ck, pv, "pid", 1, STATE_MAX_PID, false);
        c->cred.uid = (uid_t) get_u64(ck, pv, "uid", 0, UINT32_MAX - 1, false);
        c->cred.gid = (gid_t) get_u64(ck, pv, "gid", 0, UINT32_MAX - 1, false);
        c->starttime = get_u64(ck, pv, "starttime", 0, UINT64_MAX, false);
        c->netns_dev = get_u64(ck, pv, "netns_dev", 0, UINT64_MAX, false);
        c->netns_ino = get_u64(ck, pv, "netns_ino", 0, UINT64_MAX, false);
        c->n_allowed = get_u64(ck, s, "allowed", 0, UINT64_MAX, false);
        c->n_denied = get_u64(ck, s, "denied", 0, UINT64_MAX, false);
        c->n_quiet = get_u64(ck, s, "quiet", 0, UINT64_MAX, true); /* absent in files of older brokers: 0 */
        if (!c->name || !c->vm) {
                c->detached_keep = true; /* nothing undone, no file dropped: left for the next start */
                client_free(c);
                return -ENOMEM;
        }

        size_t n;
        const session_part *const *parts = session_part_registry(&n);
        for (size_t i = 0; i < n; i++)
                if (parts[i]->restore)
                        parts[i]->restore(c, s, ck);
        /* "sent" (this broker's) or else "replies" (quoted, an older broker's; beside "sent", empty) */
        const json_value *a = get_array(ck, s, "replies", CLIENT_REPLY_CACHE);
        bool quoted = !json_get(s, "sent");
        const char *key = quoted ? "replies" : "sent";
        if (!quoted)
                a = get_array(ck, s, key, CLIENT_REPLY_CACHE);
        for (size_t i = 0; a && i < a->array.n; i++)
                if (restore_reply(c, a->array.items[i], key, i, quoted, ck) == -ENOMEM) {
                        c->detached_keep = true; /* the parts restored: nothing undone, no file dropped */
                        client_free(c);
                        return -ENOMEM;
                }
        *ret = c;
        return 0;
}

/* A restored session: every part reopens what it needs, through @pid (0: anything). */
static void recovered(client *c, pid_t pid) {
        size_t n;
        const session_part *const *parts = session_part_registry(&n);
        for (size_t i = 0; i < n; i++)
                if (parts[i]->recovered)
                        parts[i]->recovered(c, pid);
}

static bool peer_alive(const client *c) {
        uint64_t t;
        return c->cred.pid > 0 && proc_starttime(c->cred.pid, &t) == 0 && t == c->starttime;
}

/* Undo what a detached session holds, drop its file, free it. */
static void detached_end(client *c, const char *why) {
        broker *b = c->b;
        char what[256] = "";
        SESSION_HOOKS_FOREACH(h)
                if (h->revoke)
                        snprintf(what + strlen(what), sizeof(what) - strlen(what), "%s%s %zu", what[0] ? ", " : "",
                                 h->name, h->count(c));
        log_msg(b, LOG_NOTICE, "session %" PRIu64 " (vm '%s', pid %d): %s; undoing what it created (%s)", c->session,
                c->vm, (int) c->cred.pid, why, what);
        /* unlink from the detached list */
        for (client **p = &b->detached; *p; p = &(*p)->next)
                if (*p == c) {
                        *p = c->next;
                        break;
                }
        c->next = NULL;
        audit_session_closed(c, "not-resumed"); /* its end record: the counts of its whole life */
        client_free(c);
}

static int on_resume_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        client *c = userdata;
        detached_end(c, "its launcher did not resume it in time");
        return 0;
}

/* Move @name aside as NAME.rejected (replacing an older one) and say why. */
static void reject_file(broker *b, const char *name, const char *why) {
        char aside[300];
        snprintf(aside, sizeof(aside), "%s.rejected", name);
        if (renameat(b->state_fd, name, b->state_fd, aside) < 0) {
                log_msg(b, LOG_ERR, "state '%s/%s': %s; cannot move it aside: %m", b->state_dir, name, why);
                return;
        }
        log_msg(b, LOG_WARNING, "state '%s/%s': %s; not recovered, moved aside to '%s'", b->state_dir, name, why,
                aside);
}

/*
 * Undo what a rejected file names, where that is safe: TAP devices by name,
 * index and kind ("tun") in the network namespace of a process still in its
 * pod cgroup (link_remove() checks all three), and cgroups below its pod
 * cgroup when a rule of the policy lets that pod's launchers create cgroups.
 */
static void salvage(client *c) {
        broker *b = c->b;
        c->state_saved = false; /* the file was moved aside: nothing to remove */
        policy_subject subj = { .uid = c->cred.uid, .gid = c->cred.gid, .cgroup = c->cgroup, .vm = c->vm,
                                .via = POLICY_VIA_SOCKET };
        const policy_rule *rule = c->cgroup && b->policy ? policy_match(b->policy, &subj, NULL, NULL) : NULL;
        size_t n, left = 0;
        const session_part *const *parts = session_part_registry(&n);
        for (size_t i = 0; i < n; i++)
                if (parts[i]->salvage)
                        parts[i]->salvage(c, rule);
        SESSION_HOOKS_FOREACH(h)
                if (h->revoke)
                        left += h->count(c);
        if (left == 0)
                return client_free(c);
        recovered(c, 0);
        detached_end(c, "its state file was rejected");
}

int state_parse(broker *b, const char *text, size_t len, client **ret, char *msg, size_t size) {
        _cleanup_json_ json_value *s = NULL;
        json_parse_error je;
        state_check ck = {};
        int r = json_parse(text, len, false, &s, &je);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return snprintf(msg, size, "%s", je.message), -EBADMSG;
        if (s->type != JSON_OBJECT)
                return snprintf(msg, size, "not a JSON object"), -EBADMSG;
        r = client_from_state(b, s, ret, &ck);
        if (r < 0)
                return r;
        if (ck.msg[0])
                return snprintf(msg, size, "%s", ck.msg), -EINVAL;
        return 0;
}

/* A session read from its state file: kept, detached, until its launcher resumes it or is gone. */
static void recovered_one(broker *b, client *c) {
        int r;
        c->next = b->detached;
        b->detached = c;
        if (!peer_alive(c)) {
                recovered(c, 0);
                return detached_end(c, "its launcher exited while the broker was down");
        }
        if (b->end_saved) {
                recovered(c, c->cred.pid);
                return detached_end(c, "the broker was stopped for good (--end-sessions)");
        }
        recovered(c, c->cred.pid);
        r = sd_event_add_time_relative(b->event, &c->resume_timer, CLOCK_MONOTONIC, b->resume_timeout_usec, 0,
                                       on_resume_timeout, c);
        if (r < 0)
                return detached_end(c, "no timer to wait for its launcher");
        log_msg(b, LOG_NOTICE, "session %" PRIu64 " (vm '%s', pid %d) recovered: waiting %" PRIu64 " s for its "
                "launcher to resume it", c->session, c->vm, (int) c->cred.pid, b->resume_timeout_usec / 1000000);
}

/* One slot of a session's state as the start finds it. */
typedef struct slot_text {
        char name[64];
        char *text; /* NULL: absent, or moved aside */
        size_t len;
        const char *inner; /* the record in it */
        size_t inner_len;
        uint64_t gen;
        int whole; /* state_unframe(): 1 whole, 0 an older broker's file (whole), -EBADMSG cut */
} slot_text;

/* A file that could not be read for a reason other than its content: it and its other slot stay for the next start. */
static int left(broker *b, const char *name, const char *why, int r) {
        log_msg(b, LOG_ERR, "state '%s/%s': cannot be read: %s; the session's files are left for the next start",
                b->state_dir, name, why);
        return r;
}

/*
 * Read @s->name into @s (absent: nothing); a file that is not of the kind the broker writes is moved aside.
 * -errno when it could not be read for another reason (no memory or descriptors, a read error, a short read:
 * it changed while read): nothing is known to be wrong with it, so it is left for the next start.
 */
static int read_slot(broker *b, slot_text *s) {
        char msg[160];
        /* O_NONBLOCK: a FIFO of that name must not hang the start; O_NOFOLLOW: no symlink */
        _cleanup_close_ int fd = openat(b->state_fd, s->name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
        struct stat st;
        if (fd < 0 && errno == ENOENT)
                return 0;
        if (fd < 0 && (errno == ENOMEM || errno == EMFILE || errno == ENFILE)) {
                int r = negative_errno();
                return left(b, s->name, strerror(-r), r);
        }
        if (fd < 0 || fstat(fd, &st) < 0) {
                snprintf(msg, sizeof(msg), "cannot be opened: %m");
                reject_file(b, s->name, msg);
                return 0;
        }
        if (!S_ISREG(st.st_mode) || st.st_size > STATE_MAX_FILE || st.st_uid != geteuid() || st.st_nlink != 1) {
                snprintf(msg, sizeof(msg), "not a regular file of at most %d bytes with one link, owned by uid %u",
                         STATE_MAX_FILE, (unsigned) geteuid());
                reject_file(b, s->name, msg);
                return 0;
        }
        s->text = malloc((size_t) st.st_size + 1);
        if (!s->text)
                return left(b, s->name, strerror(ENOMEM), -ENOMEM);
        ssize_t n = read(fd, s->text, (size_t) st.st_size);
        int r = n < 0 ? negative_errno() : n != st.st_size ? -EIO : 0;
        s->text[n > 0 ? n : 0] = 0; /* erase_free() measures it */
        if (r < 0) {
                erase_free(s->text);
                s->text = NULL;
                if (n < 0)
                        snprintf(msg, sizeof(msg), "%s", strerror(-r));
                else
                        snprintf(msg, sizeof(msg), "%zd of %jd bytes read (it changed meanwhile)", n,
                                 (intmax_t) st.st_size);
                return left(b, s->name, msg, r);
        }
        s->len = (size_t) n;
        s->whole = state_unframe(s->text, s->len, &s->inner, &s->inner_len, &s->gen);
        return 0;
}

/*
 * Session @num's two slots (broker-state-save.c): the whole version of the
 * highest generation is recovered.  A slot cut short (its save killed half
 * way) is passed over, and written over by the session's next save; the
 * next generation is above every one either slot names, cut ones too.
 */
static void recover_one(broker *b, const char *name) {
        uint64_t num;
        int used = 0;
        /* the name itself: session-N.json or session-N.b.json, N as the broker writes it */
        if (sscanf(name, "session-%" SCNu64 "%n", &num, &used) != 1 ||
            (!streq(name + used, ".json") && !streq(name + used, ".b.json")) || num == 0 ||
            num > STATE_MAX_SESSION || name[8] < '1' || name[8] > '9') {
                if (!strstr(name, ".rejected"))
                        reject_file(b, name, "not a name the broker writes (session-N.json, session-N.b.json)");
                return;
        }
        /* a new session never takes the number of a file seen here, recovered or not: one left in place (no
         * memory, or it could not be moved aside) would otherwise stand beside the new session's files */
        if (num >= b->next_session)
                b->next_session = num + 1;
        for (client *z = b->detached; z; z = z->next)
                if (z->session == num)
                        return; /* read with its other slot */
        slot_text sl[2] = {};
        int best = -1;
        uint64_t top = 0;
        for (int k = 0; k < 2; k++) {
                snprintf(sl[k].name, sizeof(sl[k].name), "session-%" PRIu64 "%s.json", num, k ? ".b" : "");
                if (read_slot(b, &sl[k]) < 0)
                        goto out; /* the other file may be the older version: neither taken, neither moved aside */
                if (!sl[k].text)
                        continue;
                if (sl[k].gen > top)
                        top = sl[k].gen;
                if (sl[k].whole >= 0 && (best < 0 || sl[k].gen > sl[best].gen))
                        best = k;
        }
        if (best < 0) {
                for (int k = 0; k < 2; k++)
                        if (sl[k].text)
                                reject_file(b, sl[k].name, "cut short (a save killed half way), and no whole version "
                                            "beside it");
                goto out;
        }
        slot_text *s = &sl[best], *o = &sl[!best];
        if (o->text && o->whole < 0 && o->gen > s->gen)
                log_msg(b, LOG_NOTICE, "state '%s/%s': generation %" PRIu64 " was cut short (a save killed half way); "
                        "the version before it, generation %" PRIu64 " in '%s', is recovered", b->state_dir, o->name,
                        o->gen, s->gen, s->name);
        client *c = NULL;
        state_check ck = {};
        int r = state_parse(b, s->inner, s->inner_len, &c, ck.msg, sizeof(ck.msg));
        if (r < 0 && r != -EINVAL && r != -EBADMSG) {
                log_msg(b, LOG_ERR, "state '%s/%s': %s; left for the next start", b->state_dir, s->name, strerror(-r));
                goto out;
        }
        if (r == -EBADMSG && !ck.msg[0])
                snprintf(ck.msg, sizeof(ck.msg), "not JSON");
        if (!ck.msg[0] && c->session != num)
                snprintf(ck.msg, sizeof(ck.msg), "it names session %" PRIu64, c->session);
        if (ck.msg[0]) {
                reject_file(b, s->name, ck.msg);
                if (o->text) /* else the next start would take it */
                        reject_file(b, o->name, "the version before a rejected one");
                if (c)
                        salvage(c);
                goto out;
        }
        c->state_generation = top;
        c->state_next = !best;
        for (int k = 0; k < 2; k++)
                erase_free(sl[k].text);
        return recovered_one(b, c);
out:
        for (int k = 0; k < 2; k++)
                erase_free(sl[k].text);
}

uint64_t state_session_next(broker *b) {
        static bool wrapped = false; /* only then may a live session hold a number ahead */
        for (;;) {
                uint64_t id = b->next_session++;
                if (id == 0 || id > STATE_MAX_SESSION) {
                        b->next_session = 1; /* 2^53 sessions later: ids of ended sessions are free again */
                        wrapped = true;
                        continue;
                }
                bool taken = false;
                for (client *z = b->detached; z && !taken; z = z->next)
                        taken = z->session == id;
                for (client *z = wrapped ? b->clients : NULL; z && !taken; z = z->next)
                        taken = z->session == id;
                if (!taken)
                        return id;
        }
}

/*
 * Does a state file in @dir_fd need fsync() to survive what it is for?  A
 * broker killed at any point loses nothing it wrote: write() and rename()
 * are done in the kernel when they return, and the next broker reads the
 * same page cache.  fsync() only matters if the machine itself goes down,
 * and on tmpfs or ramfs (/run, the default) it does nothing - the file does
 * not outlive a reboot, nor do the VMs it describes - so it is skipped
 * there.  Anywhere else (or when unknown) each file is synced.
 */
static bool state_dir_persistent(int dir_fd) {
        struct statfs sf;
        if (fstatfs(dir_fd, &sf) < 0)
                return true;
        return (uint32_t) sf.f_type != TMPFS_MAGIC && (uint32_t) sf.f_type != RAMFS_MAGIC; /* int on 32-bit */
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
        b->state_sync = state_dir_persistent(fd);
        _cleanup_close_ int dfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        _cleanup_(closedirp) DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
        if (!d)
                return 0;
        dfd = -EBADF;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.') {
                        if (strstr(de->d_name, ".tmp"))
                                unlinkat(fd, de->d_name, 0); /* a write the crash interrupted, or the version before */
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
        uint64_t id;
        const char *token;
        if (resume_frame_parse(resume, &id, &token, msg, size) < 0) {
                *ret_code = ERR_BAD_REQUEST;
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
        state_peer_identity(c);
        char h[2 * SHA256_DIGEST_SIZE + 1];
        state_token_hash(token, h);
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
        snprintf(c->token, sizeof(c->token), "%s", token);
        c->n_allowed = z->n_allowed;
        c->n_denied = z->n_denied;
        c->n_quiet = z->n_quiet;
        session_parts_swap(c, z);
        client_cache_move(c, z);
        state_kept_close(c); /* of its own number, if it saved one: the files of z's are its own now */
        c->state_saved = true;
        c->state_generation = z->state_generation;
        c->state_next = z->state_next;
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
