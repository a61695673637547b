/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-audit.c - what a decision or a session event says: the broker's
 * structures (caller, client, policy decision) turned into the plain
 * records that broker-log.c hands to its sinks (journal, D-Bus).
 */
#include "broker.h"

void audit_decision(_unused_ broker *b, const caller *who, const op_desc *op, const json_value *args,
                    const policy_decision *d) {
        _cleanup_erase_free_ char *args_text = NULL;

        if (args)
                json_dump(args, &args_text);
        log_decision_emit(&(log_decision) {
                .op = op->name,
                .allowed = d->allowed,
                /* ping and state.get only: not kvmi.detach, unotify.attach (no rule either, but they act) */
                .quiet = op->quiet,
                .rule = d->rule ? d->rule->name : d->allowed ? "(no policy needed)" : "(default deny)",
                .reason = d->reason,
                .args = args_text,
                .via = who->via_bus ? "dbus" : who->via_seccomp ? "seccomp" : "socket",
                .session = who->session,
                .pid = who->pid,
                .uid = who->uid,
                .gid = who->gid,
                .cgroup = who->cgroup,
                .vm = who->vm,
                .client = who->name,
        });
}

static log_session session_record(const client *c, const char *reason) {
        return (log_session) {
                .session = c->session,
                .pid = c->cred.pid,
                .uid = c->cred.uid,
                .cgroup = c->cgroup,
                .client = c->name,
                .vm = c->vm,
                .reason = reason,
        };
}

void audit_session_opened(const client *c) {
        log_session s = session_record(c, NULL);
        log_session_opened(&s);
}

void audit_session_closed(const client *c, const char *reason) {
        log_session s = session_record(c, reason);
        log_session_closed(&s);
}

void audit_policy_changed(const broker *b) {
        log_policy_changed(b->policy_generation);
}
