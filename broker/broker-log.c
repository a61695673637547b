/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-log.c - messages and the audit trail go out through sinks
 * (broker-log.h): the journal with structured fields (and stderr when
 * running in the foreground) always, and whatever a front-end registers.
 * A leaf: it calls nothing of the broker.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
/* the fallback below gets the CODE_* fields from us, like every other entry */
#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>
#include <unistd.h>

#include "broker-log.h"
#include "json.h"

/*
 * Journal entries are built here, field by field, into one buffer (on the
 * stack; on the heap only when an entry outgrows it), then written into
 * the journal queue below as one datagram: sd_journal_send() formats
 * through vasprintf(), whose growing buffers are freed without being
 * erased, and these fields carry request content (arguments, client and
 * VM names).  Fields are put together from strings and integers without
 * printf; the buffer and the queue are erased after sending.
 */
#define JOURNAL_FIELDS 20
#define JOURNAL_STACK 1024

typedef struct journal_entry {
        char *buf; /* stack, or a heap copy once it outgrew it */
        size_t size, used, start;
        size_t off[JOURNAL_FIELDS], len[JOURNAL_FIELDS];
        size_t n;
        bool failed; /* out of memory or fields: the entry is not sent */
        char stack[JOURNAL_STACK];
} journal_entry;

#define JOURNAL_ENTRY_INIT(j) ((j)->buf = (j)->stack, (j)->size = sizeof((j)->stack), (j)->used = (j)->n = 0, (j)->failed = false)

/* Room for @need more bytes; false (entry failed) without memory. */
static bool journal_reserve(journal_entry *j, size_t need) {
        if (j->failed)
                return false;
        if (need <= j->size - j->used)
                return true;
        size_t size = j->size;
        while (size - j->used < need)
                size *= 2;
        char *b = malloc(size);
        if (!b)
                return !(j->failed = true);
        memcpy(b, j->buf, j->used);
        explicit_bzero(j->buf, j->used);
        if (j->buf != j->stack)
                free(j->buf);
        j->buf = b;
        j->size = size;
        return true;
}

static void put(journal_entry *j, const char *s, size_t len) {
        if (!journal_reserve(j, len))
                return;
        memcpy(j->buf + j->used, s, len);
        j->used += len;
}

static void put_str(journal_entry *j, const char *s) {
        put(j, s, strlen(s));
}

static void put_u64(journal_entry *j, uint64_t v) {
        char tmp[JSON_U64_MAX];
        put(j, tmp, json_format_u64(tmp, v));
}

static void put_i64(journal_entry *j, int64_t v) {
        if (v < 0)
                put(j, "-", 1);
        put_u64(j, v < 0 ? -(uint64_t) v : (uint64_t) v);
}

static void field_open(journal_entry *j, const char *name) {
        if (j->n >= JOURNAL_FIELDS)
                j->failed = true;
        j->start = j->used;
        put_str(j, name);
}

static void field_close(journal_entry *j) {
        if (j->failed)
                return;
        j->off[j->n] = j->start;
        j->len[j->n++] = j->used - j->start;
}

/* @name (with its '=') followed by @value */
static void field_str(journal_entry *j, const char *name, const char *value) {
        field_open(j, name);
        put_str(j, value);
        field_close(j);
}

static void field_u64(journal_entry *j, const char *name, uint64_t value) {
        field_open(j, name);
        put_u64(j, value);
        field_close(j);
}

static void field_int(journal_entry *j, const char *name, int64_t value) {
        field_open(j, name);
        put_i64(j, value);
        field_close(j);
}

/*
 * The journal connection.  Entries go out in journald's native protocol
 * (the "Native Journal Protocol" of systemd's documentation: a datagram of
 * KEY=VALUE lines, or KEY, a newline, the value's length as a
 * little-endian 64-bit number, the value and a newline when the value
 * holds a newline) on a datagram socket connected once, not looked up by
 * path for every entry; a send that finds the journal gone (journald
 * restarted, its socket made anew) connects again at once and sends again.
 *
 * Records of ping and state.get (debug level, quiet: written only when
 * the log level is debug, log_level below) written while the loop serves
 * a turn of clients (between log_batch_begin() and log_batch_end(), on
 * the thread of that loop: the flag is the thread's own, so that a record
 * written by the main thread or another loop meanwhile does not wait for
 * this turn, and one loop's end does not end another's turn) wait
 * in a queue (shared, under the broker lock) and go out together with one sendmmsg() at its end, at most
 * JOURNAL_BATCH of them; every other entry (and a quiet one outside a
 * turn) flushes the queue ahead of itself and is sent before the caller
 * goes on, so a policy decision's record leaves before its reply.  While
 * no journal socket can be reached, the next attempt to connect waits:
 * 100 ms after the first failure, doubling up to 2 s (backoff_next_ms());
 * entries in between are not sent (no system call): a policy decision's
 * record and an error go to stderr instead (their send fails), other
 * messages and the quiet records are dropped.  An entry larger than the queue goes through
 * sd_journal_sendv(), which passes what a datagram cannot carry in a
 * memfd.
 */
#define JOURNAL_SOCKET "/run/systemd/journal/socket"
#define JOURNAL_BATCH 32
#define JOURNAL_QUEUE_BYTES 65536
#define JOURNAL_SNDBUF (8 * 1024 * 1024) /* as sd-journal's own socket */
/* where the entry is sent from, as sd_journal_sendv() adds it */
#define JOURNAL_CODE_FIELDS 3
#define JOURNAL_STR_(x) #x
#define JOURNAL_STR(x) JOURNAL_STR_(x)

static struct {
        int fd;            /* the journal socket, made once; -1: not (yet) */
        bool connected;
        uint64_t retry_ns; /* not connected: no attempt before (CLOCK_MONOTONIC) */
        unsigned backoff_ms; /* the wait after the last failed attempt, 0: none failed */
        bool atfork;       /* log_flush() registered to run before fork() */
        size_t used, n;
        size_t off[JOURNAL_BATCH], len[JOURNAL_BATCH];
        char buf[JOURNAL_QUEUE_BYTES]; /* the queued datagrams, back to back; erased once sent */
} jq = { .fd = -1 };
/* this thread serves a turn of its loop's clients: between log_batch_begin() and log_batch_end() */
static _Thread_local bool batching;

/*
 * Connect the journal socket (made on first use, kept: a datagram socket
 * may connect again, so a failed attempt costs one connect()); 0 or
 * -errno.  After a failure no attempt is made for the back-off's wait
 * (-ENOTCONN then, without a system call).
 */
static int journal_connect(void) {
        static const struct sockaddr_un sa = { .sun_family = AF_UNIX, .sun_path = JOURNAL_SOCKET };
        if (jq.backoff_ms && now_nsec() < jq.retry_ns)
                return -ENOTCONN; /* no journal a moment ago: not asked again yet */
        if (jq.fd < 0) {
                jq.fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
                if (jq.fd < 0)
                        return -errno;
                int size = JOURNAL_SNDBUF;
                (void) setsockopt(jq.fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
        }
        if (connect(jq.fd, (const struct sockaddr *) &sa, sizeof(sa)) == 0) {
                jq.connected = true;
                jq.backoff_ms = 0;
                return 0;
        }
        int r = -errno;
        jq.backoff_ms = backoff_next_ms(jq.backoff_ms);
        jq.retry_ns = now_nsec() + jq.backoff_ms * 1000000ULL;
        return r;
}

/* journald went away under a connected socket: connect again */
static bool journal_gone(int r) {
        return r == -ECONNREFUSED || r == -ENOTCONN || r == -ECONNRESET || r == -EPIPE;
}

/*
 * Send the queue with sendmmsg(), in order, and erase it.  Returns 0 when
 * the last entry went, else -errno (an entry the journal refused is
 * skipped; on any other error the rest is dropped).
 */
static int journal_flush(void) {
        struct mmsghdr mm[JOURNAL_BATCH];
        struct iovec iov[JOURNAL_BATCH];
        size_t done = 0;
        bool reconnected = false;
        int r = 0;
        while (done < jq.n) {
                if (!jq.connected && (r = journal_connect()) < 0)
                        break;
                size_t k = jq.n - done;
                for (size_t i = 0; i < k; i++) {
                        iov[i] = (struct iovec) { jq.buf + jq.off[done + i], jq.len[done + i] };
                        mm[i] = (struct mmsghdr) { .msg_hdr = { .msg_iov = &iov[i], .msg_iovlen = 1 } };
                }
                int sent = sendmmsg(jq.fd, mm, (unsigned) k, MSG_NOSIGNAL);
                if (sent > 0) {
                        done += (size_t) sent;
                        r = 0; /* what is said is whether the last (the caller's own) went */
                        continue;
                }
                r = sent < 0 ? -errno : -EIO;
                if (r == -EINTR)
                        continue;
                if (journal_gone(r) && !reconnected) {
                        jq.connected = false;
                        reconnected = true;
                        continue;
                }
                if (r == -EMSGSIZE) { /* this one cannot go; the others may */
                        done++;
                        continue;
                }
                break;
        }
        explicit_bzero(jq.buf, jq.used);
        jq.used = jq.n = 0;
        return r;
}

void log_flush(void) {
        if (jq.n)
                (void) journal_flush();
}

void log_batch_begin(void) {
        batching = true;
}

void log_batch_end(void) {
        batching = false;
        log_flush();
}

/* The datagram's size: each field as KEY=VALUE\n, or in the binary form when its value holds a newline. */
static size_t journal_wire_size(const struct iovec *iov, size_t n) {
        size_t size = 0;
        for (size_t i = 0; i < n; i++)
                size += iov[i].iov_len + 1 + (memchr(iov[i].iov_base, '\n', iov[i].iov_len) ? 8 : 0);
        return size;
}

/* Append one field to the queue's last datagram (room checked by the caller). */
static void journal_wire_put(const struct iovec *f) {
        char *p = jq.buf + jq.used;
        const char *field = f->iov_base, *eq = memchr(field, '=', f->iov_len);
        if (!memchr(field, '\n', f->iov_len) || !eq) {
                memcpy(p, field, f->iov_len);
                p += f->iov_len;
        } else {
                size_t klen = (size_t) (eq - field);
                uint64_t vlen = f->iov_len - klen - 1;
                memcpy(p, field, klen);
                p += klen;
                *p++ = '\n';
                for (int b = 0; b < 8; b++)
                        *p++ = (char) (vlen >> (8 * b));
                memcpy(p, eq + 1, vlen);
                p += vlen;
        }
        *p++ = '\n';
        jq.used = (size_t) (p - jq.buf);
}

/*
 * Send @j's fields, as one journal entry, and erase it: queued when @quiet
 * and the loop serves a turn (sent by log_batch_end(), or by the next
 * entry that is not quiet), else sent now with whatever waits before it.
 * Returns 0 or -errno (not sent).
 */
static int journal_send_erase(journal_entry *j, bool quiet) {
        struct iovec iov[JOURNAL_FIELDS + JOURNAL_CODE_FIELDS];
        size_t n = 0;
        int r = 0;
        quiet = quiet && batching;
        for (size_t i = 0; i < j->n; i++)
                iov[n++] = (struct iovec) { j->buf + j->off[i], j->len[i] };
        static const char file[] = "CODE_FILE=" __FILE__, line[] = "CODE_LINE=" JOURNAL_STR(__LINE__),
                          func[] = "CODE_FUNC=journal_send_erase";
        iov[n++] = (struct iovec) { (char *) file, sizeof(file) - 1 };
        iov[n++] = (struct iovec) { (char *) line, sizeof(line) - 1 };
        iov[n++] = (struct iovec) { (char *) func, sizeof(func) - 1 };
        size_t size = journal_wire_size(iov, n);

        if (!jq.atfork) /* a forked helper must not send the queue a second time */
                jq.atfork = pthread_atfork(log_flush, NULL, NULL) == 0;
        if (j->failed || !j->n)
                r = -ENOMEM;
        else if (!jq.connected && (r = journal_connect()) < 0) {
                /* nothing listens: whatever waits in the queue goes (is dropped) with it */
                explicit_bzero(jq.buf, jq.used);
                jq.used = jq.n = 0;
        } else if (size > sizeof(jq.buf)) {
                log_flush();
                r = sd_journal_sendv(iov, (int) n);
        } else {
                if (jq.n == JOURNAL_BATCH || size > sizeof(jq.buf) - jq.used)
                        log_flush();
                jq.off[jq.n] = jq.used;
                for (size_t i = 0; i < n; i++)
                        journal_wire_put(&iov[i]);
                jq.len[jq.n++] = size;
                if (!quiet)
                        r = journal_flush();
        }
        explicit_bzero(j->buf, j->used);
        if (j->buf != j->stack)
                free(j->buf);
        JOURNAL_ENTRY_INIT(j);
        return r;
}

/* --- the journal sink, always first --- */

static bool foreground;
/* set once at start ($DELEGATE_LOG_LEVEL, log_set_level()), read-only after */
static int log_level = LOG_INFO;

void log_set_foreground(bool on) {
        foreground = on;
}

void log_set_level(int level) {
        log_level = level < LOG_EMERG ? LOG_EMERG : level > LOG_DEBUG ? LOG_DEBUG : level;
}

int log_get_level(void) {
        return log_level;
}

int log_level_parse(const char *s) {
        static const char *const names[] = { "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug" };
        if (s[0] >= '0' && s[0] <= '7' && !s[1])
                return s[0] - '0';
        for (int i = 0; i < (int) ELEMENTSOF(names); i++)
                if (streq(s, names[i]))
                        return i;
        return -EINVAL;
}

/* $DELEGATE_LOG_LEVEL, read before main() runs: no thread reads log_level before it is set */
static void __attribute__((constructor)) log_level_from_env(void) {
        const char *e = getenv("DELEGATE_LOG_LEVEL");
        if (!e || !*e)
                return;
        int l = log_level_parse(e);
        if (l >= 0)
                log_level = l;
        else
                fprintf(stderr,
                        "delegate-broker: DELEGATE_LOG_LEVEL='%.32s' is not a level (emerg, alert, crit, err, warning, "
                        "notice, info, debug or 0-7); using info\n",
                        e);
}

/* @len bytes at @buf to stderr, all of them (but for an error). */
static void stderr_write(const char *buf, size_t len) {
        for (size_t off = 0; off < len;) {
                ssize_t w = write(STDERR_FILENO, buf + off, len - off);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0)
                        break;
                off += (size_t) w;
        }
}

/*
 * One line on stderr, formatted into a buffer of ours and erased after the
 * write(): a decision's line holds a request's args and reason, and stdio's
 * unbuffered stderr would format it in a stack buffer of the C library's
 * that nothing erases.  A line longer than the stack buffer is formatted on
 * the heap (erased and freed); out of memory, it is cut.
 */
static void __attribute__((format(printf, 1, 2))) stderr_line(const char *fmt, ...) {
        char small[2048], *buf = small;
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(small, sizeof(small), fmt, ap);
        va_end(ap);
        if (n < 0)
                return;
        size_t len = (size_t) n;
        if (len >= sizeof(small)) {
                char *big = malloc(len + 1);
                if (big) {
                        va_start(ap, fmt);
                        (void) vsnprintf(big, len + 1, fmt, ap);
                        va_end(ap);
                        buf = big;
                } else
                        len = sizeof(small) - 1;
        }
        stderr_write(buf, len);
        if (buf == small)
                explicit_bzero(small, len + 1 < sizeof(small) ? len + 1 : sizeof(small));
        else {
                explicit_bzero(buf, len + 1);
                free(buf);
        }
}

static void journal_message(_unused_ void *userdata, int prio, const char *text) {
        if (prio > log_level)
                return;
        journal_entry j;
        JOURNAL_ENTRY_INIT(&j);
        field_str(&j, "MESSAGE=", text);
        field_int(&j, "PRIORITY=", prio);
        field_str(&j, "SYSLOG_IDENTIFIER=", "delegate-broker");
        /* stderr with --foreground; else only an error the journal did not take
         * (no journald: a broker started by hand must not fail silently).  Under
         * systemd stderr goes to the journal too: never both. */
        if (journal_send_erase(&j, false) < 0 ? foreground || prio <= LOG_ERR : foreground)
                stderr_line("delegate-broker: %s\n", text);
}

/*
 * "delegate-broker: ALLOW|DENY OP session=... rule=R: REASON" on stderr,
 * put together from strings and integers as the journal's fields are (a
 * record for every decision the journal does not take: no printf), in an
 * entry's buffer, erased after the write.  Out of memory: through
 * stderr_line(), cut to its buffer.
 */
static void decision_stderr(const log_decision *d) {
        journal_entry j;
        JOURNAL_ENTRY_INIT(&j);
        put_str(&j, d->allowed ? "delegate-broker: ALLOW " : "delegate-broker: DENY ");
        put_str(&j, d->op);
        put_str(&j, " session=");
        put_u64(&j, d->session);
        put_str(&j, " pid=");
        put_i64(&j, d->pid);
        put_str(&j, " uid=");
        put_u64(&j, d->uid);
        put_str(&j, " cgroup=");
        put_str(&j, d->cgroup ? d->cgroup : "");
        put_str(&j, " vm=");
        put_str(&j, d->vm && *d->vm ? d->vm : "-");
        put_str(&j, " via=");
        put_str(&j, d->via);
        put_str(&j, " args=");
        put_str(&j, d->args ? d->args : "{}");
        put_str(&j, " rule=");
        put_str(&j, d->rule);
        put_str(&j, ": ");
        put_str(&j, d->reason);
        put(&j, "\n", 1);
        if (!j.failed)
                stderr_write(j.buf, j.used);
        else
                stderr_line("delegate-broker: %s %s session=%llu pid=%d uid=%u cgroup=%s vm=%s via=%s args=%s "
                            "rule=%s: %s\n", d->allowed ? "ALLOW" : "DENY", d->op, (unsigned long long) d->session,
                            (int) d->pid, (unsigned) d->uid, d->cgroup ? d->cgroup : "",
                            d->vm && *d->vm ? d->vm : "-", d->via, d->args ? d->args : "{}", d->rule, d->reason);
        explicit_bzero(j.buf, j.used);
        if (j.buf != j.stack)
                free(j.buf);
}

static void journal_decision(_unused_ void *userdata, const log_decision *d) {
        const char *vm = d->vm ? d->vm : "", *args = d->args ? d->args : "{}";
        /* a ping's or state.get's record comes only at debug (log_decision_emit()); a policy decision's always */
        int prio = d->quiet ? LOG_DEBUG : d->allowed ? LOG_INFO : LOG_WARNING;

        if (foreground && !d->quiet)
                decision_stderr(d);
        journal_entry j;
        JOURNAL_ENTRY_INIT(&j);
        /* "allow|deny OP for pid P uid U (vm V, via VIA): rule R: REASON" */
        field_open(&j, "MESSAGE=");
        put_str(&j, d->allowed ? "allow " : "deny ");
        put_str(&j, d->op);
        put_str(&j, " for pid ");
        put_i64(&j, d->pid);
        put_str(&j, " uid ");
        put_u64(&j, d->uid);
        put_str(&j, " (vm ");
        put_str(&j, *vm ? vm : "-");
        put_str(&j, ", via ");
        put_str(&j, d->via);
        put_str(&j, "): rule ");
        put_str(&j, d->rule);
        put_str(&j, ": ");
        put_str(&j, d->reason);
        field_close(&j);
        field_int(&j, "PRIORITY=", prio);
        field_str(&j, "SYSLOG_IDENTIFIER=", "delegate-broker");
        field_str(&j, "DELEGATE_OP=", d->op);
        field_str(&j, "DELEGATE_DECISION=", d->allowed ? "allow" : "deny");
        field_str(&j, "DELEGATE_RULE=", d->rule);
        field_str(&j, "DELEGATE_REASON=", d->reason);
        field_str(&j, "DELEGATE_ARGS=", args);
        field_u64(&j, "DELEGATE_SESSION=", d->session);
        field_int(&j, "DELEGATE_PEER_PID=", d->pid);
        field_int(&j, "DELEGATE_PEER_UID=", d->uid);
        field_int(&j, "DELEGATE_PEER_GID=", d->gid);
        field_str(&j, "DELEGATE_POD_CGROUP=", d->cgroup ? d->cgroup : "");
        field_str(&j, "DELEGATE_VM=", vm);
        field_str(&j, "DELEGATE_CLIENT=", d->client ? d->client : "");
        field_str(&j, "DELEGATE_VIA=", d->via);
        /* a policy decision the journal did not take (none, backing off, send failed) goes to stderr:
         * every decision is recorded somewhere, before its reply */
        if (journal_send_erase(&j, d->quiet) < 0 && !d->quiet && !foreground)
                decision_stderr(d);
}

static void journal_session_opened(void *userdata, const log_session *s) {
        char msg[1024];
        snprintf(msg, sizeof(msg), "session %llu opened: pid %d uid %u cgroup '%s' client '%s' vm '%s'",
                 (unsigned long long) s->session, (int) s->pid, (unsigned) s->uid, s->cgroup ? s->cgroup : "",
                 s->client ? s->client : "", s->vm ? s->vm : "");
        journal_message(userdata, LOG_INFO, msg);
        explicit_bzero(msg, sizeof(msg));
}

/* "session N closed (REASON): A allowed, D denied, Q ping and state.get", with its fields */
static void journal_session_closed(_unused_ void *userdata, const log_session *s) {
        if (LOG_INFO > log_level)
                return;
        journal_entry j;
        JOURNAL_ENTRY_INIT(&j);
        field_open(&j, "MESSAGE=");
        put_str(&j, "session ");
        put_u64(&j, s->session);
        put_str(&j, " closed (");
        put_str(&j, s->reason ? s->reason : "");
        put_str(&j, "): ");
        put_u64(&j, s->allowed);
        put_str(&j, " allowed, ");
        put_u64(&j, s->denied);
        put_str(&j, " denied, ");
        put_u64(&j, s->quiet);
        put_str(&j, " ping and state.get");
        field_close(&j);
        if (foreground && !j.failed)
                stderr_line("delegate-broker: %.*s\n", (int) (j.len[0] - strlen("MESSAGE=")),
                        j.buf + j.off[0] + strlen("MESSAGE="));
        field_int(&j, "PRIORITY=", LOG_INFO);
        field_str(&j, "SYSLOG_IDENTIFIER=", "delegate-broker");
        field_u64(&j, "DELEGATE_SESSION=", s->session);
        field_str(&j, "DELEGATE_CLOSED=", s->reason ? s->reason : "");
        field_u64(&j, "DELEGATE_ALLOWED=", s->allowed);
        field_u64(&j, "DELEGATE_DENIED=", s->denied);
        field_u64(&j, "DELEGATE_QUIET=", s->quiet);
        field_int(&j, "DELEGATE_PEER_PID=", s->pid);
        field_int(&j, "DELEGATE_PEER_UID=", s->uid);
        field_str(&j, "DELEGATE_POD_CGROUP=", s->cgroup ? s->cgroup : "");
        field_str(&j, "DELEGATE_VM=", s->vm ? s->vm : "");
        field_str(&j, "DELEGATE_CLIENT=", s->client ? s->client : "");
        journal_send_erase(&j, false);
}

static const log_sink journal_sink = {
        .message = journal_message,
        .decision = journal_decision,
        .session_opened = journal_session_opened,
        .session_closed = journal_session_closed,
};

/* --- the sinks --- */

static struct {
        const log_sink *sink;
        void *userdata;
} sinks[LOG_MAX_SINKS] = { { &journal_sink, NULL } };
static size_t n_sinks = 1;

int log_sink_add(const log_sink *sink, void *userdata) {
        if (n_sinks >= ELEMENTSOF(sinks))
                return -ENOSPC;
        sinks[n_sinks].sink = sink;
        sinks[n_sinks].userdata = userdata;
        n_sinks++;
        return 0;
}

void log_sink_remove(const log_sink *sink, void *userdata) {
        for (size_t i = 1; i < n_sinks; i++)
                if (sinks[i].sink == sink && sinks[i].userdata == userdata) {
                        memmove(sinks + i, sinks + i + 1, (n_sinks - i - 1) * sizeof(sinks[0]));
                        n_sinks--;
                        return;
                }
}

#define EACH_SINK(cb, ...)                                                          \
        for (size_t _i = 0; _i < n_sinks; _i++)                                     \
                if (sinks[_i].sink->cb)                                             \
                        sinks[_i].sink->cb(sinks[_i].userdata, __VA_ARGS__)

void log_msg(_unused_ broker *b, int prio, const char *fmt, ...) {
        char msg[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        EACH_SINK(message, prio, msg);
        explicit_bzero(msg, sizeof(msg));
}

bool log_decision_wanted(bool quiet) {
        return !quiet || log_level >= LOG_DEBUG;
}

void log_decision_emit(const log_decision *d) {
        if (log_decision_wanted(d->quiet))
                EACH_SINK(decision, d);
}

void log_session_opened(const log_session *s) {
        EACH_SINK(session_opened, s);
}

void log_session_closed(const log_session *s) {
        EACH_SINK(session_closed, s);
}

void log_policy_changed(uint64_t generation) {
        EACH_SINK(policy_changed, generation);
}
