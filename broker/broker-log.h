/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-log.h - where the broker's messages and events go: a leaf.
 *
 * Messages (log_msg), decisions and session events are handed to SINKS.
 * The journal sink is always there (with stderr under --foreground); a
 * front-end that wants events (D-Bus) registers its own sink when it starts
 * and removes it when it stops.  This file knows nothing of the broker above
 * it: an event arrives as a record of plain fields, filled in by whoever
 * knows the broker's structures (broker-audit.c).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "util.h"

typedef struct broker broker;

/* One decision: allowed or denied, for whom, by which rule. */
typedef struct log_decision {
        const char *op;
        bool allowed;
        bool quiet;         /* concerns only the caller (ping, state.get): journal at debug level */
        const char *rule;   /* the deciding rule, or "(default deny)", "(no policy needed)" */
        const char *reason;
        const char *args;   /* the request's arguments as JSON text, NULL: none */
        const char *via;    /* "socket" or "dbus" */
        uint64_t session;   /* 0: none */
        pid_t pid;
        uid_t uid;
        gid_t gid;
        const char *cgroup; /* the caller's pod cgroup, NULL: unknown */
        const char *vm;     /* NULL: none */
        const char *client; /* the client's name from the hello, or the bus sender; NULL: none */
} log_decision;

/* A session opened or closed. */
typedef struct log_session {
        uint64_t session;
        pid_t pid;
        uid_t uid;
        const char *cgroup;
        const char *client;
        const char *vm;
        const char *reason; /* closed: "disconnected", "revoked", "broker-stopped", "kept", "not-resumed" */
        uint64_t allowed, denied; /* closed: its decisions so far */
        uint64_t quiet;           /* closed: its ping and state.get requests (recorded one by one only at debug) */
} log_session;

/*
 * A sink: each callback may be NULL (not interested).  Callbacks must not
 * log (a message from a sink would come back to it) and must not keep the
 * record's strings.
 */
typedef struct log_sink {
        void (*message)(void *userdata, int prio, const char *text);
        void (*decision)(void *userdata, const log_decision *d);
        void (*session_opened)(void *userdata, const log_session *s);
        void (*session_closed)(void *userdata, const log_session *s);
        void (*policy_changed)(void *userdata, uint64_t generation);
} log_sink;

#define LOG_MAX_SINKS 4

/* Also write messages and decisions to stderr (--foreground). */
void log_set_foreground(bool foreground);
/*
 * The journal sink's level (syslog priority, LOG_INFO unless
 * $DELEGATE_LOG_LEVEL, read at start, says otherwise): messages above it
 * are not written, and the records of ping and state.get only at
 * LOG_DEBUG; a policy decision's record always.  Set before the loop
 * starts; log_level_parse(): a name (emerg ... debug) or digit, or -EINVAL.
 */
void log_set_level(int level);
int log_get_level(void);
int log_level_parse(const char *s);
/* Add @sink (static storage) with @userdata after the journal; -ENOSPC beyond LOG_MAX_SINKS. */
int log_sink_add(const log_sink *sink, void *userdata);
/* Remove what log_sink_add(@sink, @userdata) added; nothing if it is not there. */
void log_sink_remove(const log_sink *sink, void *userdata);

/*
 * log_msg() - a message at syslog priority @prio to every sink.  @b is not
 * read: the log is per process, as the journal is.  The argument stays so
 * that the call sites do not change while the operation registry lands;
 * it can go with one sed.
 */
void log_msg(broker *b, int prio, const char *fmt, ...) _printf_(3, 4);
/* A decision to every sink: a quiet one (ping, state.get) only at LOG_DEBUG, where every sink records
 * those; log_decision_wanted(): whether one is handed on, so that a caller need not make it for nothing */
void log_decision_emit(const log_decision *d);
bool log_decision_wanted(bool quiet);
/*
 * log_batch_begin(), log_batch_end() - around a turn of the event loop
 * that serves clients, on the thread that serves it: the journal records
 * of ping and state.get that thread writes in between wait, and go out together at its end (or ahead of the next
 * record that does not wait).  log_flush() sends what waits now.
 */
void log_batch_begin(void);
void log_batch_end(void);
void log_flush(void);
void log_session_opened(const log_session *s);
void log_session_closed(const log_session *s);
void log_policy_changed(uint64_t generation);
