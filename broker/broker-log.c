/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-log.c - messages and the audit trail go out through sinks
 * (broker-log.h): the journal with structured fields (and stderr when
 * running in the foreground) always, and whatever a front-end registers.
 * A leaf: it calls nothing of the broker.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <systemd/sd-journal.h>

#include <sys/uio.h>

#include "broker-log.h"

/*
 * Journal entries are built here, field by field, into one buffer (on the
 * stack; on the heap only when an entry outgrows it) and sent with one
 * sd_journal_sendv(): sd_journal_send() formats through vasprintf(), whose
 * growing buffers are freed without being erased, and these fields carry
 * request content (arguments, client and VM names).  Fields are put
 * together from strings and integers without printf; the buffer is erased
 * after sending.
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
        char tmp[24], *p = tmp + sizeof(tmp);
        do
                *--p = (char) ('0' + v % 10);
        while (v /= 10);
        put(j, p, (size_t) (tmp + sizeof(tmp) - p));
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

static void field_int(journal_entry *j, const char *name, int64_t value) {
        field_open(j, name);
        put_i64(j, value);
        field_close(j);
}

static int journal_send_erase(journal_entry *j) {
        struct iovec iov[JOURNAL_FIELDS];
        for (size_t i = 0; i < j->n; i++)
                iov[i] = (struct iovec) { j->buf + j->off[i], j->len[i] };
        int r = j->failed || !j->n ? -ENOMEM : sd_journal_sendv(iov, (int) j->n);
        explicit_bzero(j->buf, j->used);
        if (j->buf != j->stack)
                free(j->buf);
        JOURNAL_ENTRY_INIT(j);
        return r;
}

/* --- the journal sink, always first --- */

static bool foreground;

void log_set_foreground(bool on) {
        foreground = on;
}

static void journal_message(_unused_ void *userdata, int prio, const char *text) {
        journal_entry j;
        JOURNAL_ENTRY_INIT(&j);
        field_str(&j, "MESSAGE=", text);
        field_int(&j, "PRIORITY=", prio);
        field_str(&j, "SYSLOG_IDENTIFIER=", "delegate-broker");
        /* stderr with --foreground; else only an error the journal did not take
         * (no journald: a broker started by hand must not fail silently).  Under
         * systemd stderr goes to the journal too: never both. */
        if (journal_send_erase(&j) < 0 ? foreground || prio <= LOG_ERR : foreground)
                fprintf(stderr, "delegate-broker: %s\n", text);
}

static void journal_decision(_unused_ void *userdata, const log_decision *d) {
        const char *vm = d->vm ? d->vm : "", *args = d->args ? d->args : "{}";
        int prio = d->quiet ? LOG_DEBUG : d->allowed ? LOG_INFO : LOG_WARNING;

        if (foreground && !d->quiet)
                fprintf(stderr,
                        "delegate-broker: %s %s session=%llu pid=%d uid=%u cgroup=%s vm=%s via=%s args=%s rule=%s: %s\n",
                        d->allowed ? "ALLOW" : "DENY", d->op, (unsigned long long) d->session, (int) d->pid,
                        (unsigned) d->uid, d->cgroup ? d->cgroup : "", *vm ? vm : "-", d->via, args, d->rule,
                        d->reason);
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
        field_open(&j, "DELEGATE_SESSION=");
        put_u64(&j, d->session);
        field_close(&j);
        field_int(&j, "DELEGATE_PEER_PID=", d->pid);
        field_int(&j, "DELEGATE_PEER_UID=", d->uid);
        field_int(&j, "DELEGATE_PEER_GID=", d->gid);
        field_str(&j, "DELEGATE_POD_CGROUP=", d->cgroup ? d->cgroup : "");
        field_str(&j, "DELEGATE_VM=", vm);
        field_str(&j, "DELEGATE_CLIENT=", d->client ? d->client : "");
        field_str(&j, "DELEGATE_VIA=", d->via);
        journal_send_erase(&j);
}

static void journal_session_opened(void *userdata, const log_session *s) {
        char msg[1024];
        snprintf(msg, sizeof(msg), "session %llu opened: pid %d uid %u cgroup '%s' client '%s' vm '%s'",
                 (unsigned long long) s->session, (int) s->pid, (unsigned) s->uid, s->cgroup ? s->cgroup : "",
                 s->client ? s->client : "", s->vm ? s->vm : "");
        journal_message(userdata, LOG_INFO, msg);
        explicit_bzero(msg, sizeof(msg));
}

static const log_sink journal_sink = {
        .message = journal_message,
        .decision = journal_decision,
        .session_opened = journal_session_opened,
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

void log_decision_emit(const log_decision *d) {
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
