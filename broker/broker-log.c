/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-log.c - messages and the audit trail: the journal with structured
 * fields, and stderr when running in the foreground.
 */
#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>
#include <systemd/sd-journal.h>

#include "broker.h"

void log_msg(broker *b, int prio, const char *fmt, ...) {
        char msg[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        if (!b || b->foreground || prio <= LOG_ERR)
                fprintf(stderr, "delegate-broker: %s\n", msg);
        sd_journal_send("MESSAGE=%s", msg, "PRIORITY=%i", prio, "SYSLOG_IDENTIFIER=delegate-broker", NULL);
}

void audit_decision(broker *b, const caller *who, const char *op, const json_value *args, const policy_decision *d) {
        _cleanup_erase_free_ char *args_text = NULL;
        const char *rule = d->rule ? d->rule->name : d->allowed ? "(no policy needed)" : "(default deny)";
        const char *via = who->via_bus ? "dbus" : "socket", *vm = who->vm ? who->vm : "";
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
        sd_journal_send("MESSAGE=%s %s for pid %d uid %u (vm %s, via %s): rule %s: %s", d->allowed ? "allow" : "deny",
                        op, (int) who->pid, (unsigned) who->uid, *vm ? vm : "-", via, rule, d->reason, "PRIORITY=%i",
                        prio, "SYSLOG_IDENTIFIER=delegate-broker", "DELEGATE_OP=%s", op, "DELEGATE_DECISION=%s",
                        d->allowed ? "allow" : "deny", "DELEGATE_RULE=%s", rule, "DELEGATE_REASON=%s", d->reason,
                        "DELEGATE_ARGS=%s", args_text ? args_text : "{}", "DELEGATE_SESSION=%llu",
                        (unsigned long long) who->session, "DELEGATE_PEER_PID=%d", (int) who->pid,
                        "DELEGATE_PEER_UID=%u", (unsigned) who->uid, "DELEGATE_PEER_GID=%u", (unsigned) who->gid,
                        "DELEGATE_POD_CGROUP=%s", who->cgroup ? who->cgroup : "", "DELEGATE_VM=%s", vm,
                        "DELEGATE_CLIENT=%s", who->name ? who->name : "", "DELEGATE_VIA=%s", via, NULL);
        bus_emit_decision(b, who, op, d);
}
