/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-log.c - messages and the audit trail: the journal with structured
 * fields, and stderr when running in the foreground.
 */
#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>
#include <systemd/sd-journal.h>

#include <sys/uio.h>

#include "broker.h"

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

void log_msg(broker *b, int prio, const char *fmt, ...) {
        char msg[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        journal_entry j = {};
        field(&j, "MESSAGE=%s", msg);
        field(&j, "PRIORITY=%i", prio);
        field(&j, "SYSLOG_IDENTIFIER=delegate-broker");
        /* stderr with --foreground; else only an error the journal did not take
         * (no journald: a broker started by hand must not fail silently).  Under
         * systemd stderr goes to the journal too: never both. */
        bool foreground = b && b->foreground;
        if (journal_send_erase(&j) < 0 ? foreground || prio <= LOG_ERR : foreground)
                fprintf(stderr, "delegate-broker: %s\n", msg);
        explicit_bzero(msg, sizeof(msg));
}

void audit_decision(broker *b, const caller *who, const char *op, const json_value *args, const policy_decision *d) {
        _cleanup_erase_free_ char *args_text = NULL;
        const char *rule = d->rule ? d->rule->name : d->allowed ? "(no policy needed)" : "(default deny)";
        const char *via = who->via_bus ? "dbus" : who->via_seccomp ? "seccomp" : "socket", *vm = who->vm ? who->vm : "";
        /* ping and state.get concern only the caller: journal at debug level */
        bool quiet = !op_lookup(op) || !op_lookup(op)->needs_policy;
        int prio = quiet ? LOG_DEBUG : d->allowed ? LOG_INFO : LOG_WARNING;

        if (args)
                json_dump(args, &args_text);
        if (b->foreground && !quiet)
                fprintf(stderr,
                        "delegate-broker: %s %s session=%llu pid=%d uid=%u cgroup=%s vm=%s via=%s args=%s rule=%s: %s\n",
                        d->allowed ? "ALLOW" : "DENY", op, (unsigned long long) who->session, (int) who->pid,
                        (unsigned) who->uid, who->cgroup ? who->cgroup : "", *vm ? vm : "-", via,
                        args_text ? args_text : "{}", rule, d->reason);
        journal_entry j = {};
        field(&j, "MESSAGE=%s %s for pid %d uid %u (vm %s, via %s): rule %s: %s", d->allowed ? "allow" : "deny", op,
              (int) who->pid, (unsigned) who->uid, *vm ? vm : "-", via, rule, d->reason);
        field(&j, "PRIORITY=%i", prio);
        field(&j, "SYSLOG_IDENTIFIER=delegate-broker");
        field(&j, "DELEGATE_OP=%s", op);
        field(&j, "DELEGATE_DECISION=%s", d->allowed ? "allow" : "deny");
        field(&j, "DELEGATE_RULE=%s", rule);
        field(&j, "DELEGATE_REASON=%s", d->reason);
        field(&j, "DELEGATE_ARGS=%s", args_text ? args_text : "{}");
        field(&j, "DELEGATE_SESSION=%llu", (unsigned long long) who->session);
        field(&j, "DELEGATE_PEER_PID=%d", (int) who->pid);
        field(&j, "DELEGATE_PEER_UID=%u", (unsigned) who->uid);
        field(&j, "DELEGATE_PEER_GID=%u", (unsigned) who->gid);
        field(&j, "DELEGATE_POD_CGROUP=%s", who->cgroup ? who->cgroup : "");
        field(&j, "DELEGATE_VM=%s", vm);
        field(&j, "DELEGATE_CLIENT=%s", who->name ? who->name : "");
        field(&j, "DELEGATE_VIA=%s", via);
        journal_send_erase(&j);
        bus_emit_decision(b, who, op, d);
}
