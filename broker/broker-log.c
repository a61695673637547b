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
 * Journal entries are built here, field by field, and sent with
 * sd_journal_sendv(): sd_journal_send() formats through vasprintf(), whose
 * growing buffers are freed without being erased, and these fields carry
 * request content (arguments, client and VM names).  Each field is
 * formatted into an exactly sized buffer and erased after sending.
 */
typedef struct journal_entry {
        struct iovec iov[20];
        size_t n;
} journal_entry;

_printf_(2, 3) static void field(journal_entry *j, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        int len = vsnprintf(NULL, 0, fmt, ap);
        va_end(ap);
        char *s = len >= 0 && j->n < ELEMENTSOF(j->iov) ? malloc((size_t) len + 1) : NULL;
        if (!s)
                return;
        va_start(ap, fmt);
        vsnprintf(s, (size_t) len + 1, fmt, ap);
        va_end(ap);
        j->iov[j->n++] = (struct iovec) { s, (size_t) len };
}

static int journal_send_erase(journal_entry *j) {
        int r = j->n ? sd_journal_sendv(j->iov, (int) j->n) : -ENOMEM;
        for (size_t i = 0; i < j->n; i++) {
                explicit_bzero(j->iov[i].iov_base, j->iov[i].iov_len);
                free(j->iov[i].iov_base);
        }
        j->n = 0;
        return r;
}

/* --- the journal sink, always first --- */

static bool foreground;

void log_set_foreground(bool on) {
        foreground = on;
}

static void journal_message(_unused_ void *userdata, int prio, const char *text) {
        journal_entry j = {};
        field(&j, "MESSAGE=%s", text);
        field(&j, "PRIORITY=%i", prio);
        field(&j, "SYSLOG_IDENTIFIER=delegate-broker");
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
        journal_entry j = {};
        field(&j, "MESSAGE=%s %s for pid %d uid %u (vm %s, via %s): rule %s: %s", d->allowed ? "allow" : "deny",
              d->op, (int) d->pid, (unsigned) d->uid, *vm ? vm : "-", d->via, d->rule, d->reason);
        field(&j, "PRIORITY=%i", prio);
        field(&j, "SYSLOG_IDENTIFIER=delegate-broker");
        field(&j, "DELEGATE_OP=%s", d->op);
        field(&j, "DELEGATE_DECISION=%s", d->allowed ? "allow" : "deny");
        field(&j, "DELEGATE_RULE=%s", d->rule);
        field(&j, "DELEGATE_REASON=%s", d->reason);
        field(&j, "DELEGATE_ARGS=%s", args);
        field(&j, "DELEGATE_SESSION=%llu", (unsigned long long) d->session);
        field(&j, "DELEGATE_PEER_PID=%d", (int) d->pid);
        field(&j, "DELEGATE_PEER_UID=%u", (unsigned) d->uid);
        field(&j, "DELEGATE_PEER_GID=%u", (unsigned) d->gid);
        field(&j, "DELEGATE_POD_CGROUP=%s", d->cgroup ? d->cgroup : "");
        field(&j, "DELEGATE_VM=%s", vm);
        field(&j, "DELEGATE_CLIENT=%s", d->client ? d->client : "");
        field(&j, "DELEGATE_VIA=%s", d->via);
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
