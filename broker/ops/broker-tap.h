/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-tap.h - what tap.create, tap.destroy, bridge.create and
 * bridge.destroy share in the broker: the devices a session holds
 * (session_part_tap, broker-op-tap-session.c) and the netlink steps
 * (broker-tap-net.c).  Types and prototypes only, no module of its own:
 * broker-tap-net.c is below broker-op-tap.c, which is below
 * broker-op-bridge.c and broker-op-tap-session.c.
 */
#pragma once

#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/route.h>

#include "broker.h"

/* A TAP device or bridge this session created (or adopted), until destroyed. */
typedef struct tap_record {
        char name[TAP_NAME_MAX + 1];
        int ifindex;
        int netns_fd; /* the network namespace it was created in (nsfs fd) */
        bool persist;
        bool adopted; /* pre-existing: never removed at session end */
        bool bridge;  /* bridge.create: a bridge, with the pod's interfaces it enslaved */
        int enslaved[BRIDGE_MAX_ENSLAVE];
        unsigned n_enslaved;
        int addr_from; /* the enslaved interface whose addresses and routes it took over, 0: none */
        unsigned queues; /* TAP devices: the queues made so far (tap.create, or an intercepted TUNSETIFF) */
} tap_record;

/* session_part_tap: c->part[SESSION_PART_tap] */
typedef struct tap_session {
        tap_record rec[SESSION_MAX_TAP];
        size_t n;
        unsigned tap_inflight;    /* tap.create requests in progress */
        unsigned bridge_inflight; /* bridge.create requests in progress */
        uint64_t gen;             /* bumped whenever rec[] changes */
} tap_session;

static inline tap_session *TS(const client *c) {
        return c->part[SESSION_PART_tap];
}

/* The session ends: remove the devices it created that still exist, in a
 * detached process, and forget them (broker-op-tap.c). */
void tap_session_end(client *c);

/* --- shared by broker-op-tap.c and broker-op-bridge.c (the netlink steps: broker-tap-net.c) --- */

/* how long a creation run again waits for the fds queued for the closer before it (tap_create_answer()) */
#define TAP_AGAIN_WAIT_USEC (250 * 1000ULL)

/*
 * What a creation's step reads, the loop's view as the step started: a
 * forked helper reads its own copy of the request's, the netns worker a
 * copy with fds of its own (device_step_run()): the loop may change the
 * session's records, or end the request, while the step runs.
 */
typedef struct tap_step_in {
        char op[32]; /* for messages: "tap.create", "bridge.create" */
        uid_t uid;   /* the session's */
        gid_t gid;
        int pidfd; /* the caller's: its network namespace */
        tap_record rec[SESSION_MAX_TAP];
        size_t n;
        unsigned tap_inflight, bridge_inflight; /* the session's, this creation counted */
        unsigned max_tap;                       /* --max-tap */
        uint32_t max_devices;                   /* the rule's, of this kind */
        bool adopt_existing;
        union {
                tap_create_args tap;
                bridge_create_args bridge;
        } a;
        /* an intercepted TUNSETIFF (broker-unotify-tap.c): its unotify_call, read only by a forked helper's
         * attach step (which changes ids: never on the worker); and what the creation reads of it, with the
         * broker's copy of the caller's /dev/net/tun (the worker's copy of this struct has a dup of its own) */
        const void *call;
        struct {
                int fd;
                bool attach;
                char devname[16];
                short flags;
                uid_t owner;
        } tun;
} tap_step_in;

/* A creation's scratch (tap.create, bridge.create): req->scratch */
typedef struct device_create {
        uint32_t max_devices;
        bool adopt_existing;
        bool counted; /* in the session's tap_inflight or bridge_inflight */
        uint64_t gen; /* the session's device generation when the helper started */
        /* the step and its answer's handler, run again once (again) when the name was taken or the limit
         * reached while the closer had fds to close, or closed some meanwhile: tap_create_answer() */
        helper_fn step;
        void (*done)(request *req, int status, const void *out, size_t len);
        bool again;
        unsigned long released; /* closer_released() as the step started */
        tap_step_in in;         /* the step's view: args and call filled by the operation, the rest at each start */
} device_create;

static inline device_create *DC(const request *req) {
        return req->scratch;
}

static inline void nl_socket_freep(struct nl_sock **p) {
        if (*p)
                nl_socket_free(*p);
}
static inline void rtnl_link_putp(struct rtnl_link **p) {
        if (*p)
                rtnl_link_put(*p);
}
#define _cleanup_nl_sock_ _cleanup_(nl_socket_freep)
#define _cleanup_rtnl_link_ _cleanup_(rtnl_link_putp)

/* What a helper sends back (a few hundred bytes at most: helper_out). */
typedef struct tap_out {
        op_error error; /* error.errno_value 0: none */
        char name[TAP_NAME_MAX + 1];
        int ifindex;
        uint32_t mtu;
        uint8_t mac[6];
        bool adopted, removed;
        uint64_t gone; /* bit i: the session's record i no longer exists */
        int enslaved[BRIDGE_MAX_ENSLAVE]; /* bridge.create */
        unsigned n_enslaved;
        int addr_from;
} tap_out;

/* In a helper: fill @o's error; returns sizeof(*o). */
ssize_t tap_fail(tap_out *o, err_code code, int err, const char *fmt, ...) _printf_(4, 5);
/* A libnl error as a positive errno. */
int tap_nl_errno(int nle);
int tap_nl_open(struct nl_sock **ret);
/* Is @name still the link @ifindex? */
bool tap_link_is(struct nl_sock *sk, const char *name, int ifindex);
/* In the loop, while TS(c)->gen is still what the helper saw: drop the records a helper found gone. */
void tap_forget_gone(client *c, uint64_t gone);
/* A helper's answer for a creation started at generation @gen, the records it found gone forgotten: false
 * when it failed (answered), or when the step runs again once the closer's queue is closed (the name taken
 * or the limit reached while the closer had fds to close). */
bool tap_create_answer(request *req, int status, const void *out, size_t len, uint64_t gen, tap_out *o);
/* In a creation helper: prune first (mark the session's records whose devices vanished in o->gone), return
 * to the peer's network namespace, then check --max-tap and the rule's max_devices of this kind; 0, or the
 * size of @o's error. */
ssize_t tap_step_quota(const tap_step_in *in, tap_out *o, bool bridges);
/* Start a device creation (counted in *@inflight) whose @step runs in the peer's network namespace. */
void tap_device_start(request *req, uint32_t max_devices, bool adopt_existing, unsigned *inflight, helper_fn step,
                      void (*done)(request *req, int status, const void *out, size_t len));
/* Record the device @req created (its netns fd taken): 0, or -errno after removing it and answering. */
int tap_record_add(request *req, tap_record *rec);
/* In a detached child: remove @recs (not adopted) where they still exist. */
void tap_remove_detached(broker *b, const char *why, const tap_record *recs, size_t n);
static inline void nl_cache_freep(struct nl_cache **p) {
        if (*p)
                nl_cache_free(*p);
}
#define _cleanup_nl_cache_ _cleanup_(nl_cache_freep)
static inline void rtnl_addr_putp(struct rtnl_addr **p) {
        if (*p)
                rtnl_addr_put(*p);
}
static inline void rtnl_route_putp(struct rtnl_route **p) {
        if (*p)
                rtnl_route_put(*p);
}

/* What a bridge binding moves from an interface to the bridge, and back (broker-tap-net.c). */
typedef struct moved {
        struct rtnl_addr *addrs[16];
        size_t n_addrs;
        struct rtnl_route *routes[32];
        size_t n_routes;
} moved;

void bridge_moved_done(moved *m);
/* What @ifindex holds that a bridge binding moves, as clones. */
int bridge_collect(struct nl_sock *sk, int ifindex, moved *m);
/* Put the collected addresses, then routes, on @ifindex (the link must be up for routes). */
int bridge_place(struct nl_sock *sk, const moved *m, int ifindex);
int bridge_link_up(struct nl_sock *sk, int ifindex, uint32_t mtu);
/* Remove the bridge of @rec, giving back what it took over (broker-tap-net.c); 1 removed, 0 gone, -errno
 * with @msg. */
int bridge_remove(const tap_record *rec, char *msg, size_t size);
