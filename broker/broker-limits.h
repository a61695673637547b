/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-limits.h - the broker's runtime limits (delegate-broker(8),
 * LIMITS): how many clients, sessions per uid, requests in flight,
 * message size, request rate, hello timeout, TAP devices and KVMI pages
 * per session.  broker-limits.c parses and enforces them.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Defaults (documented in delegate-broker(8), LIMITS). */
#define LIMIT_DEFAULT_MAX_CLIENTS 1024
#define LIMIT_DEFAULT_SESSIONS_PER_UID 256
#define LIMIT_DEFAULT_INFLIGHT 8
#define LIMIT_DEFAULT_RATE 200  /* requests per second per peer process (D-Bus: per uid) */
#define LIMIT_DEFAULT_BURST 1000
#define LIMIT_DEFAULT_HELLO_TIMEOUT_USEC (10 * 1000000ULL)
#define LIMIT_MAX_INFLIGHT 64
#define LIMIT_MIN_MESSAGE 1024
#define LIMIT_OUTQ_BYTES (256 * 1024) /* queued reply bytes per client before we stop reading */
#define LIMIT_CACHE_BYTES (128 * 1024) /* remembered reply bytes per client */
#define LIMIT_ACCEPT_BURST 8           /* connections accepted per wakeup while no client waits (else 1) */
#define LIMIT_LOG_WINDOW_USEC (10 * 1000000ULL)
/* memlock helpers forked at a session's start, ahead of a request (hellos are not rate-limited: a
 * connect/close loop must not make the broker fork at its pace): a token bucket, broker-wide, of
 * LIMIT_PRESTART_BURST, one more every LIMIT_PRESTART_EVERY_USEC; past it a session's helper is forked at
 * its first request, as without the early start */
#define LIMIT_PRESTART_BURST 8
#define LIMIT_PRESTART_EVERY_USEC (1250 * 1000ULL)
/* Descriptors in limits_fd_need(): a memlock helper's in the broker, its socket and pidfd (one helper per
 * pod: at most one a session); the forker's socket; what the netns worker holds during a step at most, its copy
 * of the step's input (the caller's pidfd, a network namespace per TAP record: SESSION_MAX_TAP), its socket
 * pair and its dup of the target namespace, the step's answer (DELEGATE_MAX_FDS + 1) and its netlink socket */
#define LIMIT_FDS_UID_HELPER 2
#define LIMIT_FDS_FORKER 1
#define LIMIT_FDS_NETNS_WORKER (1 + SESSION_MAX_TAP + 3 + DELEGATE_MAX_FDS + 1 + 1)

typedef struct broker_limits {
        unsigned max_clients;          /* --max-clients */
        unsigned max_sessions_per_uid; /* --max-sessions-per-uid */
        unsigned max_inflight;         /* --max-inflight, per connection */
        unsigned rate;                 /* --rate, requests/s; 0: unlimited */
        unsigned burst;                /* --burst, bucket size */
        uint64_t hello_timeout_usec;   /* --hello-timeout; 0: none */
        size_t max_message;            /* --max-message, bytes, at most DELEGATE_MAX_MESSAGE */
        unsigned max_tap;              /* --max-tap, devices per session */
        uint64_t max_kvmi_pages;       /* --max-kvmi-pages, shadow pages per session */
} broker_limits;

/* A token bucket: of a peer process (socket) or of a uid (D-Bus). */
typedef struct rate_bucket {
        struct rate_bucket *next;
        bool bus;        /* keyed by uid (D-Bus callers), else by peer pid */
        uint32_t key;
        unsigned refs;   /* socket clients sharing it; D-Bus buckets: 0 */
        uint64_t micro;  /* tokens * 1e6 */
        uint64_t last;   /* CLOCK_MONOTONIC us of the last refill */
} rate_bucket;

/* Once per window for a repeating event; the rest are counted. */
typedef struct log_burst {
        uint64_t start;
        unsigned suppressed;
} log_burst;

void limits_default(broker_limits *l);
/**
 * limits_set() - set the limit named by the long option @name (without
 * "--") from @value.  Returns 0, -ENOENT for an unknown name, -EINVAL
 * with @err (@size bytes) saying what is allowed.
 */
int limits_set(broker_limits *l, const char *name, const char *value, char *err, size_t size);
