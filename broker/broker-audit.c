/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-audit.c - what a decision or a session event says: the broker's
 * structures (caller, client, policy decision) turned into the plain
 * records that broker-log.c hands to its sinks (journal, D-Bus).
 */
#include "broker.h"

void audit_decision(_unused_ broker *b, const caller *who, const op_desc *op, const json_value *args,
                    const policy_decision *d) {
        audit_record(who, op, args, d->allowed, d->rule ? d->rule->name : NULL, d->reason);
}

void audit_record(const caller *who, const op_desc *op, const json_value *args, bool allowed, const char *rule,
                  const char *reason) {
        _cleanup_erase_free_ char *args_text = NULL;

        if (args)
                json_dump(args, &args_text);
        log_decision_emit(&(log_decision) {
                .op = op->name,
                .allowed = allowed,
                /* ping and state.get only: not kvmi.detach, unotify.attach (no rule either, but they act) */
                .quiet = op->quiet,
                .rule = rule ? rule : allowed ? "(no policy needed)" : "(default deny)",
                .reason = reason,
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
                .allowed = c->n_allowed,
                .denied = c->n_denied,
                .quiet = c->n_quiet,
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
