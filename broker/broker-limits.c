/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-limits.c - the limits a client, or a crowd of them, runs into
 * (delegate-broker(8), LIMITS):
 *
 *   connections     --max-clients, --max-sessions-per-uid: checked on
 *                   accept, before anything is allocated; the refused
 *                   connection gets one rate-limited error and is closed.
 *   hello           --hello-timeout: a connection that does not say hello
 *                   in time gets an error and is closed.
 *   in flight       --max-inflight: the broker stops reading from a
 *                   connection while that many of its requests run (flow
 *                   control, nothing is dropped).
 *   rate            --rate/--burst: a token bucket per peer process (shared
 *                   by its connections) and per D-Bus caller uid; a request
 *                   without a token is answered rate-limited with
 *                   retry_after_ms.  uid 0 is not rate-limited.
 *   fds             RLIMIT_NOFILE raised to its hard limit at start; out of
 *                   fds, accepting pauses instead of spinning.
 *   crash loops     a session that ends within 10 s of its start after an
 *                   error reply counts as failed; from the third such
 *                   session in a row of a uid and pod cgroup, the next hello
 *                   (not a resume) waits 1 s, 2 s, 4 s ... 60 s: refused
 *                   rate-limited with retry_after_ms until then.
 *
 * Every refusal that a flood can repeat is logged at most once per
 * LIMIT_LOG_WINDOW_USEC, with the count of those suppressed.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/resource.h>
#include <syslog.h>
#include <time.h>

#include "broker-closer.h"
#include "broker.h"
#include "proc.h"

#define ACCEPT_PAUSE_USEC (100 * 1000ULL)
#define MAX_BUS_BUCKETS 1024
#define MICRO 1000000ULL

void limits_default(broker_limits *l) {
        *l = (broker_limits) {
                .max_clients = LIMIT_DEFAULT_MAX_CLIENTS,
                .max_sessions_per_uid = LIMIT_DEFAULT_SESSIONS_PER_UID,
                .max_inflight = LIMIT_DEFAULT_INFLIGHT,
                .rate = LIMIT_DEFAULT_RATE,
                .burst = LIMIT_DEFAULT_BURST,
                .hello_timeout_usec = LIMIT_DEFAULT_HELLO_TIMEOUT_USEC,
                .max_message = DELEGATE_MAX_MESSAGE,
                .max_tap = SESSION_MAX_TAP,
                .max_kvmi_pages = SESSION_MAX_KVMI_PAGES,
        };
}

/* A decimal integer from @min to @max, nothing else. */
static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *ret) {
        char *end;
        if (*s < '0' || *s > '9')
                return -EINVAL;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno || *end || v < min || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

static const struct limit_def {
        const char *name;
        uint64_t min, max;
        const char *unit;
} limit_defs[] = {
        { "max-clients", 1, 65536, "connections" },
        { "max-sessions-per-uid", 1, 65536, "connections of one uid" },
        { "max-inflight", 1, LIMIT_MAX_INFLIGHT, "requests per connection" },
        { "rate", 0, 1000000, "requests per second (0: unlimited)" },
        { "burst", 1, 1000000, "requests" },
        { "hello-timeout", 0, 3600, "seconds (0: none)" },
        { "max-message", LIMIT_MIN_MESSAGE, DELEGATE_MAX_MESSAGE, "bytes" },
        { "max-tap", 0, SESSION_MAX_TAP, "TAP devices per session" },
        { "max-kvmi-pages", 0, SESSION_MAX_KVMI_PAGES, "pages per session" },
};

int limits_set(broker_limits *l, const char *name, const char *value, char *err, size_t size) {
        const struct limit_def *d = NULL;
        uint64_t v;
        for (size_t i = 0; i < ELEMENTSOF(limit_defs); i++)
                if (streq(limit_defs[i].name, name))
                        d = &limit_defs[i];
        if (!d)
                return -ENOENT;
        /* "--rate 50/s" reads as it is meant */
        char buf[32];
        snprintf(buf, sizeof(buf), "%s", value);
        if (streq(name, "rate") && strlen(buf) > 2 && streq(buf + strlen(buf) - 2, "/s"))
                buf[strlen(buf) - 2] = 0;
        if (parse_u64(buf, d->min, d->max, &v) < 0) {
                snprintf(err, size, "--%s '%s': expected an integer from %" PRIu64 " to %" PRIu64 " (%s)", name,
                         value, d->min, d->max, d->unit);
                return -EINVAL;
        }
        if (streq(name, "max-clients"))
                l->max_clients = (unsigned) v;
        else if (streq(name, "max-sessions-per-uid"))
                l->max_sessions_per_uid = (unsigned) v;
        else if (streq(name, "max-inflight"))
                l->max_inflight = (unsigned) v;
        else if (streq(name, "rate"))
                l->rate = (unsigned) v;
        else if (streq(name, "burst"))
                l->burst = (unsigned) v;
        else if (streq(name, "hello-timeout"))
                l->hello_timeout_usec = v * MICRO;
        else if (streq(name, "max-message"))
                l->max_message = (size_t) v;
        else if (streq(name, "max-tap"))
                l->max_tap = (unsigned) v;
        else
                l->max_kvmi_pages = v;
        return 0;
}

void log_burst_msg(broker *b, log_burst *lb, int prio, const char *fmt, ...) {
        uint64_t now = now_usec();
        if (lb->start && now - lb->start < LIMIT_LOG_WINDOW_USEC) {
                lb->suppressed++;
                return;
        }
        char msg[768];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        if (lb->suppressed)
                log_msg(b, prio, "%s (and %u more like it in the last %llu s)", msg, lb->suppressed,
                        (unsigned long long) ((now - lb->start) / MICRO));
        else
                log_msg(b, prio, "%s", msg);
        lb->start = now;
        lb->suppressed = 0;
}

/* a connection: its socket, its pidfd, a request read ahead of its turn (broker-loop.c), its requests in flight;
 * the closer's queue (broker-closer.c) and, per loop, the fds of the two datagrams a receive may take before it
 * hands them on */
uint64_t limits_fd_need(const broker_limits *l, unsigned loops) {
        return (uint64_t) l->max_clients *
                       (2 + BROKER_MAX_FDS_IN + SESSION_KEPT_FDS + LIMIT_FDS_UID_HELPER + l->max_tap + l->max_inflight) +
               CGROUP_V1_KEPT + 64 + LIMIT_FDS_FORKER + LIMIT_FDS_NETNS_WORKER + CLOSER_BACKLOG +
               (uint64_t) (loops ? loops : 1) * 2 * WIRE_FDS_PER_DATAGRAM;
}

void limits_fd_budget(broker *b) {
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
                return;
        if (rl.rlim_cur < rl.rlim_max) {
                /* we use epoll, never select(): a large table is fine */
                rl.rlim_cur = rl.rlim_max;
                setrlimit(RLIMIT_NOFILE, &rl);
                getrlimit(RLIMIT_NOFILE, &rl);
        }
        uint64_t need = limits_fd_need(&b->limits, b->n_loops);
        if (rl.rlim_cur != RLIM_INFINITY && need > rl.rlim_cur)
                log_msg(b, LOG_WARNING,
                        "RLIMIT_NOFILE is %llu, but %u clients with %u requests in flight and %u TAP devices each may "
                        "need %" PRIu64 " fds; lower --max-clients, --max-inflight or --max-tap, or raise LimitNOFILE=",
                        (unsigned long long) rl.rlim_cur, b->limits.max_clients, b->limits.max_inflight,
                        b->limits.max_tap, need);
}

/* {"type":"error","code":...,"errno":...,"message":...}: a refusal before there is a client (malloc'd, erase
 * it); NULL: out of memory.  Once there is one, client_refuse() answers. */
static char *limits_refusal_json(err_code code, int errno_value, const char *msg, size_t *ret_len) {
        _cleanup_json_gen_ json_gen *g = json_gen_new();
        char *out = NULL;
        if (!g)
                return NULL;
        json_gen_map_open(g);
        json_gen_kv_str(g, "type", "error");
        json_gen_kv_str(g, "code", err_code_name(code));
        json_gen_kv_i64(g, "errno", errno_value);
        json_gen_kv_str(g, "message", msg);
        json_gen_map_close(g);
        if (json_gen_take(g, &out, ret_len) < 0)
                return NULL;
        return out;
}

static unsigned sessions_of_uid(broker *b, uid_t uid) {
        unsigned n = 0;
        for (client *c = b->clients; c; c = c->next)
                n += c->cred.uid == uid && c->cred.pid > 0;
        return n;
}

int limits_admit(broker *b, int cfd) {
        struct ucred cred = {};
        socklen_t l = sizeof(cred);
        char msg[256];
        int r, e;

        if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &l) < 0)
                return 0; /* peer_identify() reports it */
        if (b->n_clients >= b->limits.max_clients) {
                snprintf(msg, sizeof(msg),
                         "the broker serves at most %u clients (--max-clients); try again later",
                         b->limits.max_clients);
                r = -EAGAIN;
                e = EAGAIN;
        } else if (b->n_clients >= b->limits.max_sessions_per_uid && /* else no uid can be over: no scan */
                   sessions_of_uid(b, cred.uid) >= b->limits.max_sessions_per_uid) {
                snprintf(msg, sizeof(msg),
                         "uid %u already has %u connections to the broker (--max-sessions-per-uid); close one first",
                         (unsigned) cred.uid, b->limits.max_sessions_per_uid);
                r = -EUSERS;
                e = EUSERS;
        } else
                return 0;

        log_burst_msg(b, &b->log_refused, LOG_WARNING, "refused a connection from pid %d uid %u: %s",
                      (int) cred.pid, (unsigned) cred.uid, msg);
        size_t len;
        _cleanup_erase_free_ char *out = limits_refusal_json(ERR_RATE_LIMITED, e, msg, &len);
        if (out)
                (void) wire_send(cfd, out, len, NULL, 0); /* a fresh socket: room for one datagram */
        return r;
}

static int on_accept_resume(sd_event_source *s, uint64_t usec, void *userdata) {
        broker *b = userdata;
        b->accept_pause = sd_event_source_disable_unref(b->accept_pause);
        sd_event_source_set_enabled(b->listen_src, SD_EVENT_ON);
        return 0;
}

void limits_accept_failed(broker *b, int error) {
        if (error != EMFILE && error != ENFILE && error != ENOBUFS && error != ENOMEM) {
                log_burst_msg(b, &b->log_nofds, LOG_WARNING, "accept: %s", strerror(error));
                return;
        }
        /* the connection stays in the backlog; spinning on it would only burn the loop */
        log_burst_msg(b, &b->log_nofds, LOG_ERR,
                      "accept: %s with %zu clients; not accepting for %llu ms", strerror(error), b->n_clients,
                      ACCEPT_PAUSE_USEC / 1000);
        if (b->accept_pause)
                return;
        if (sd_event_add_time_relative(b->event, &b->accept_pause, CLOCK_MONOTONIC, ACCEPT_PAUSE_USEC, 0,
                                       on_accept_resume, b) >= 0)
                sd_event_source_set_enabled(b->listen_src, SD_EVENT_OFF);
}

static rate_bucket *bucket_get(broker *b, bool bus, uint32_t key) {
        for (rate_bucket *k = b->buckets; k; k = k->next)
                if (k->bus == bus && k->key == key)
                        return k;
        rate_bucket *k = calloc(1, sizeof(*k));
        if (!k)
                return NULL;
        *k = (rate_bucket) { .next = b->buckets, .bus = bus, .key = key, .micro = (uint64_t) b->limits.burst * MICRO,
                             .last = now_usec() };
        b->buckets = k;
        return k;
}

static void bucket_unlink(broker *b, rate_bucket *k) {
        for (rate_bucket **p = &b->buckets; *p; p = &(*p)->next)
                if (*p == k) {
                        *p = k->next;
                        free(k);
                        return;
                }
}

void limits_free(broker *b) {
        b->accept_pause = sd_event_source_disable_unref(b->accept_pause);
        while (b->buckets) {
                rate_bucket *k = b->buckets;
                b->buckets = k->next;
                free(k);
        }
        b->n_bus_buckets = 0;
}

int limits_client_start(client *c) {
        broker *b = c->b;
        if (b->limits.rate && c->cred.uid != 0) {
                c->bucket = bucket_get(b, false, (uint32_t) c->cred.pid);
                if (!c->bucket)
                        return -ENOMEM;
                c->bucket->refs++;
        }
        return 0;
}

void limits_client_welcomed(client *c) {
        c->hello_timer = sd_event_source_disable_unref(c->hello_timer);
        c->opened_usec = now_usec();
}

void limits_client_end(client *c) {
        c->hello_timer = sd_event_source_disable_unref(c->hello_timer);
        if (c->bucket && --c->bucket->refs == 0)
                bucket_unlink(c->b, c->bucket);
        c->bucket = NULL;
}

bool limits_may_read(const client *c) {
        return !c->closing && c->n_out < CLIENT_MAX_OUTQ && c->out_bytes < LIMIT_OUTQ_BYTES &&
               c->n_pending < c->b->limits.max_inflight;
}

/* Refill @k and take one token; false with the wait until one is there. */
/* @k's tokens at @now: @num / @den micro-tokens a microsecond since its last refill, at most @cap. */
static void bucket_refill(rate_bucket *k, uint64_t now, uint64_t num, uint64_t den, uint64_t cap) {
        uint64_t dt = now - k->last;
        /* idle for at least the time it takes to fill up from empty: full (and dt * num cannot overflow) */
        if (dt >= cap / num * den + den)
                k->micro = cap;
        else if ((k->micro += dt * num / den) > cap)
                k->micro = cap;
        k->last = now;
}

static bool bucket_take(const broker_limits *l, rate_bucket *k, uint64_t *ret_retry_ms) {
        bucket_refill(k, now_usec(), l->rate, 1, (uint64_t) l->burst * MICRO);
        if (k->micro >= MICRO) {
                k->micro -= MICRO;
                return true;
        }
        /* (MICRO - micro) / rate microseconds, rounded up to ms */
        uint64_t wait_us = (MICRO - k->micro + l->rate - 1) / l->rate;
        *ret_retry_ms = (wait_us + 999) / 1000;
        return false;
}

bool limits_rate_take(client *c, uint64_t *ret_retry_ms) {
        if (!c->bucket || !c->b->limits.rate)
                return true;
        if (bucket_take(&c->b->limits, c->bucket, ret_retry_ms))
                return true;
        log_burst_msg(c->b, &c->b->log_rate, LOG_NOTICE,
                      "session %llu (pid %d, uid %u): over %u requests/s (burst %u); answering rate-limited",
                      (unsigned long long) c->session, (int) c->cred.pid, (unsigned) c->cred.uid, c->b->limits.rate,
                      c->b->limits.burst);
        return false;
}

/* Forget D-Bus buckets that are full again: they hold nothing a new one would not. */
static void bus_buckets_prune(broker *b) {
        uint64_t now = now_usec(), cap = (uint64_t) b->limits.burst * MICRO;
        for (rate_bucket **p = &b->buckets; *p;) {
                rate_bucket *k = *p;
                if (k->bus && k->micro + (now - k->last) * b->limits.rate >= cap) {
                        *p = k->next;
                        free(k);
                        b->n_bus_buckets--;
                } else
                        p = &k->next;
        }
}

bool limits_rate_take_uid(broker *b, uid_t uid, uint64_t *ret_retry_ms) {
        if (!b->limits.rate || uid == 0)
                return true;
        rate_bucket *k = NULL;
        for (rate_bucket *i = b->buckets; i; i = i->next)
                if (i->bus && i->key == uid)
                        k = i;
        if (!k) {
                if (b->n_bus_buckets >= MAX_BUS_BUCKETS)
                        bus_buckets_prune(b);
                if (b->n_bus_buckets >= MAX_BUS_BUCKETS) {
                        *ret_retry_ms = 1000;
                        return false; /* that many distinct uids all busy at once */
                }
                k = bucket_get(b, true, (uint32_t) uid);
                if (!k)
                        return true; /* out of memory is not the caller's fault */
                b->n_bus_buckets++;
        }
        if (bucket_take(&b->limits, k, ret_retry_ms))
                return true;
        log_burst_msg(b, &b->log_rate, LOG_NOTICE, "D-Bus caller uid %u: over %u requests/s (burst %u); answering "
                      "RateLimited", (unsigned) uid, b->limits.rate, b->limits.burst);
        return false;
}

/* --- crash-loop back-off --- */

#define LIMIT_BACKOFF_SHORT_USEC (10 * MICRO) /* a session shorter than this that failed counts */
#define LIMIT_BACKOFF_FREE 2                  /* failed sessions in a row let through at once */
#define LIMIT_BACKOFF_MAX_USEC (60 * MICRO)
#define LIMIT_BACKOFF_FORGET_USEC (600 * MICRO) /* an entry idle this long is dropped */
#define LIMIT_BACKOFF_SLOTS 256

static crash_backoff *backoff_find(broker *b, uid_t uid, const char *cgroup) {
        for (size_t i = 0; i < b->n_backoffs; i++)
                if (b->backoffs[i].uid == uid && streq(b->backoffs[i].cgroup, cgroup))
                        return &b->backoffs[i];
        return NULL;
}

static void backoff_drop(broker *b, size_t i) {
        free(b->backoffs[i].cgroup);
        b->backoffs[i] = b->backoffs[--b->n_backoffs];
        if (b->n_backoffs == 0) {
                free(b->backoffs);
                b->backoffs = NULL;
        }
}

bool limits_prestart_take(broker *b, uint64_t now, bool take) {
        const uint64_t full = (uint64_t) LIMIT_PRESTART_BURST * MICRO;
        if (b->prestart.last == 0) /* the broker's first look: a full bucket */
                b->prestart = (rate_bucket) { .micro = full, .last = now };
        bucket_refill(&b->prestart, now, MICRO, LIMIT_PRESTART_EVERY_USEC, full);
        if (b->prestart.micro < MICRO)
                return false;
        if (take)
                b->prestart.micro -= MICRO;
        return true;
}

uint64_t limits_backoff_ms(client *c, unsigned *ret_fails) {
        crash_backoff *e = c->cgroup ? backoff_find(c->b, c->cred.uid, c->cgroup) : NULL;
        uint64_t now = now_usec();
        if (!e || e->until_usec <= now)
                return 0;
        *ret_fails = e->fails;
        return (e->until_usec - now + 999) / 1000;
}

void limits_session_end(client *c) {
        broker *b = c->b;
        uint64_t now = now_usec();
        for (size_t i = b->n_backoffs; i-- > 0;) /* forget the idle ones */
                if (now - b->backoffs[i].last_usec > LIMIT_BACKOFF_FORGET_USEC)
                        backoff_drop(b, i);
        if (!c->cgroup)
                return;
        crash_backoff *e = backoff_find(b, c->cred.uid, c->cgroup);
        if (!c->failed || now - c->opened_usec >= LIMIT_BACKOFF_SHORT_USEC) {
                if (e) /* it ran, or did nothing wrong: start afresh */
                        backoff_drop(b, (size_t) (e - b->backoffs));
                return;
        }
        if (!e) {
                if (b->n_backoffs == LIMIT_BACKOFF_SLOTS)
                        return; /* full of crash loops: the per-process rate limit still applies */
                crash_backoff *n = realloc(b->backoffs, (b->n_backoffs + 1) * sizeof(*n));
                char *cg = strdup(c->cgroup);
                if (!n || !cg) {
                        if (n)
                                b->backoffs = n;
                        free(cg);
                        return;
                }
                b->backoffs = n;
                e = &b->backoffs[b->n_backoffs++];
                *e = (crash_backoff) { .uid = c->cred.uid, .cgroup = cg };
        }
        e->fails++;
        e->last_usec = now;
        if (e->fails > LIMIT_BACKOFF_FREE) {
                unsigned k = e->fails - LIMIT_BACKOFF_FREE - 1;
                uint64_t d = k >= 6 ? LIMIT_BACKOFF_MAX_USEC : MICRO << k;
                e->until_usec = now + (d > LIMIT_BACKOFF_MAX_USEC ? LIMIT_BACKOFF_MAX_USEC : d);
                log_burst_msg(b, &b->log_hello, LOG_NOTICE,
                              "uid %u in cgroup '%s': %u sessions in a row failed within 10 s of their start (a "
                              "crash-looping launcher?); its next session waits %" PRIu64 " ms",
                              (unsigned) c->cred.uid, c->cgroup, e->fails, (e->until_usec - now) / 1000);
        }
}

void limits_backoff_free(broker *b) {
        while (b->n_backoffs > 0)
                backoff_drop(b, b->n_backoffs - 1);
}
