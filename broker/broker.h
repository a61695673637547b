/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker.h - delegate-broker's shared types: the broker, its clients
 * (one session each), and requests in flight.
 *
 * The layers (lowest first; a file calls only into its own layer and the
 * ones below; tests/layers/check-layers.py checks it, LAYERS):
 *   base        broker-log (a leaf: sinks), broker-closer (a leaf: clients' fds closed off the loops),
 *               broker-limits, broker-audit, broker-caps, broker-seccomp,
 *               broker-helper, broker-peer, broker-cgroup-open, broker-policy, broker-conn (a client's
 *               outgoing queue, the loop that owns it, its message read ahead), broker-event (what a loop
 *               thread does to sd-event), broker-reply (a request's life and its one answer),
 *               broker-state-save and broker-state-read (the state files), broker-session (what a session
 *               holds), broker-op (the registry as walked: the tables are handed over at start),
 *               broker-bus-args, broker-cache (a client's remembered answers)
 *   operations  broker-op-*.c with their channels and netlink steps (broker-kvmi*.c, broker-tap-net.c):
 *               they answer through broker-reply.c and save through broker-state-save.c
 *   sessions    broker-client (client_free, session_revoke), broker-state (recovery, resume),
 *               broker-request (hello, dispatcher)
 *   front       broker-server (accepting, signals), broker-loop (the client loops, their threads and the
 *               broker lock), broker-bus, broker-ops-table (the only file that names every operation), main
 * Nothing below calls up: what must run up there goes through a pointer
 * (a descriptor's hooks, a request's origin, a log sink).
 */
#pragma once

#include <pthread.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <systemd/sd-event.h>

#include "broker-limits.h"
#include "broker-log.h"
#include "json.h"
#include "kvmi-shadow.h"
#include "ops.h"
#include "policy.h"
#include "wire.h"

/* Limits on what one client can make the broker hold (the runtime ones: broker-limits.h). */
#define CLIENT_MAX_OUTQ 64      /* queued replies before we stop reading */
#define CLIENT_REPLY_CACHE 32   /* answers remembered for retried ids */
#define BROKER_MAX_FDS_IN 1     /* fds a request may carry: kvmi.set-page-access's memfd, kvmi.connect's socket */
#define SESSION_MAX_MEMLOCK 64  /* distinct pids with a recorded memlock */
#define SESSION_MAX_CGROUPS 32  /* cgroups the broker created for one session */
#define BROKER_MAX_REAPS 1024   /* ended sessions' busy cgroups waiting to be removed */
#define SESSION_MAX_TAP POLICY_TAP_MAX_DEVICES /* TAP devices one session may hold */
#define HELPER_TIMEOUT_USEC (5 * 1000000ULL)
#define KVMI_TIMEOUT_USEC (5 * 1000000ULL) /* KVMI: without a reply while commands wait; hello; setup */
#define KVMI_WINDOW 64                     /* KVMI messages in flight per channel */
#define SESSION_MAX_KVMI_PAGES (16 * 1024 * 1024) /* pages one session's shadow may hold */

typedef struct kvmi_channel kvmi_channel;

typedef struct broker broker;
typedef struct cgroup_reap cgroup_reap;
typedef struct client client;
typedef struct broker_loop broker_loop; /* broker-loop.c */
typedef struct read_ahead read_ahead;   /* broker-conn.c */
typedef struct request request;
typedef struct bus_state bus_state;
typedef struct uid_helper uid_helper;
typedef struct broker_op broker_op;       /* broker-op.h */
typedef struct session_part session_part; /* broker-op.h */

/* The slots of client.part[]: one per session part (broker-ops-list.h). */
enum {
#define BROKER_OP(id)
#define SESSION_PART(id) SESSION_PART_##id,
#include "broker-ops-list.h"
#undef BROKER_OP
#undef SESSION_PART
        SESSION_N_PARTS
};

/*
 * A process whose processes a request may name (CLIENT IDENTITY in delegate-broker(8)): a socket client, or a
 * D-Bus caller acting for itself.  The pidfd and cgroup are borrowed from whoever owns the peer (the client,
 * or the request).
 */
/*
 * cgroup v2 ids (their directories' inode numbers) known to be the pod cgroup or below it, so that a thread
 * whose cgroup id the kernel gives (PIDFD_GET_INFO) needs no path read for the pod check: a live cgroup v2
 * keeps its path (it cannot be renamed) and an id is not reused.  Each is put here only after its path was
 * checked and found to be that id's.
 */
#define POD_CGROUP_IDS 8
typedef struct pod_cgroup_ids {
        uint64_t id[POD_CGROUP_IDS];
        unsigned next; /* the slot to fill next, round robin */
        uint64_t dev;  /* the cgroup2 file system's device (0: not read yet) */
} pod_cgroup_ids;

typedef struct peer {
        struct ucred cred;
        int pidfd;
        const char *cgroup;
        size_t ns_level; /* index of the peer's pid namespace in NSpid */
        pid_t ns_pid;    /* the peer's pid in its own namespace */
        pod_cgroup_ids *pod_ids; /* the client's, NULL: none kept (D-Bus callers) */
        int cgroup_root;         /* the broker's cgroup2 root (O_PATH), to check a path's id */
} peer;

/* Who asks, as the policy and the audit see it.  Owned copies, or the client's own (borrowed). */
typedef struct caller {
        bool via_bus;     /* D-Bus method call (else the socket) */
        bool borrowed;    /* cgroup, vm, name are the client's (caller_from_client()) until caller_own() */
        bool via_seccomp; /* a syscall intercepted by seccomp user notification (broker-unotify.c) */
        uid_t uid;
        gid_t gid;
        pid_t pid;        /* in the broker's pid namespace */
        char *cgroup;
        char *vm;
        char *name;       /* client name from the hello, or the bus sender */
        uint64_t session; /* the session acted in or for; 0: none */
} caller;

/* One reply to a request, whatever carries it. */
typedef struct reply_info {
        bool ok;
        const char *result_json; /* ok: the result object */
        const int *fds;
        size_t n_fds;
        const op_error *error; /* !ok */
} reply_info;

/*
 * Where a request came from, and how its answer goes back: the socket (broker-request.c) or D-Bus
 * (broker-bus.c).  The op layer only calls request_reply_*() (broker-reply.c), which ends in @reply; @release
 * drops what the origin keeps in request->origin_data.  Either may be NULL.
 */
typedef struct request_origin {
        void (*reply)(request *req, const reply_info *r);
        void (*release)(request *req);
        /* @reply saves the session's state itself (the socket: after caching the reply, which the state
         * file keeps); else request_reply() saves what a delegation changed before @reply runs */
        bool saves_state;
} request_origin;

/* rtkit's burst window: at most N changes per period, counted from the first */
typedef struct burst_window {
        uint64_t start; /* CLOCK_MONOTONIC, us */
        unsigned count;
} burst_window;

typedef struct outmsg {
        struct outmsg *next;
        char *buf;
        size_t len, size; /* size: the bytes after the structure (outmsg_new()), 0 for client_send()'s */
        int fds[DELEGATE_MAX_FDS];
        size_t n_fds;
} outmsg;

typedef struct cached_reply {
        uint64_t id;
        char *buf; /* NULL: slot empty */
        size_t len;
        uint32_t size; /* allocated for buf (len + 1 or more: a reused buffer), counted in cache_bytes */
        bool has_fds;  /* the answer carried fds, or a secret (request.reply_unsaved): not kept across restarts */
} cached_reply;
/* on LP64, size and has_fds sit in the tail padding after len: 32 bytes, as without them (a 32-bit
 * build, i386 or armhf, packs the struct into 24; tests/layers/check-32bit.py compiles it there) */
_Static_assert(sizeof(cached_reply) <= 4 * sizeof(uint64_t), "32 bytes at most: 32 of them per session");

#define STATE_TOKEN_BYTES 16 /* resume tokens: 128 random bits, as hex */
#define STATE_VERSION 1      /* of the state files (broker-state-save.c writes, broker-state.c reads) */

/* A uid and pod cgroup whose sessions keep failing right after they start. */
typedef struct crash_backoff {
        uid_t uid;
        char *cgroup;
        unsigned fails;     /* consecutive sessions that failed within LIMIT_BACKOFF_SHORT_USEC */
        uint64_t until_usec; /* no new session before (CLOCK_MONOTONIC) */
        uint64_t last_usec;  /* its last session's end: old entries are dropped */
} crash_backoff;


struct client {
        broker *b;
        client *prev, *next;
        int fd;
        uint32_t io_events; /* what its loop's epoll set waits for on fd; 0: not registered */
        broker_loop *loop;  /* the event loop that owns the socket (broker-loop.c); NULL: detached */
        client *zombie_next; /* ended, its memory and fd released by its loop (broker-loop.c) */
        bool ended;          /* client_free() ran: only its loop's release remains */
        bool io_busy;        /* its loop sends its replies outside the broker lock: nobody else sends */
        read_ahead *ahead;   /* its next message, read with the one before it: served at its loop's next turn */
        client *ahead_next;  /* on its loop's list of those (ahead_queued): broker-conn.c */
        bool ahead_queued;

        /* identity, taken at accept */
        struct ucred cred;
        int pidfd;
        char *cgroup;     /* pod cgroup: the peer's cgroup v2 path */
        size_t ns_level;  /* index of the peer's pid namespace in NSpid */
        pid_t ns_pid;     /* the peer's pid in its own namespace */
        pod_cgroup_ids pod_ids; /* cgroups known to lie in its pod cgroup (broker-peer.c) */
        bool revoked;     /* closed by RevokeSession */
        uint64_t starttime;           /* of the peer (/proc/PID/stat): a pid is not enough after a restart */
        uint64_t netns_dev, netns_ino; /* the peer's network namespace */

        /* persistence (broker-state.c) */
        char token[2 * STATE_TOKEN_BYTES + 1]; /* handed to the client in the welcome */
        char token_hash[65];                   /* SHA-256 of it, hex: what the state file keeps */
        bool state_saved;        /* its state file exists (a save that failed leaves the one before) */
        bool state_kept;         /* on tmpfs: its two state files kept open (broker-state-save.c) */
        int state_kept_fd[2];    /* by slot (session-N.json, session-N.b.json); -EBADF: not open */
        size_t state_kept_len[2];
        char *state_head;        /* the record's fields that never change in a session, as saved: NULL: not made */
        size_t state_head_len;
        uint64_t state_generation; /* the highest written or read in either slot (torn ones too) */
        int state_next;          /* the slot the next save writes: not the one holding the newest whole version */
        bool state_dirty;        /* what it holds changed since the last save */
        bool state_error_logged;
        bool detached;           /* recovered from a state file, waiting for its launcher */
        bool detached_keep;      /* freed without undoing: resumed, or left for the next broker */
        sd_event_source *resume_timer;

        /* session */
        bool welcomed;
        bool begin_pending; /* its new session was welcomed: session_parts_begin() runs after (broker-loop.c) */
        bool closing; /* close once the queued replies are out */
        bool dead;    /* to be freed by the I/O callback */
        char *name;
        char *vm;
        uint64_t session;
        uint64_t n_allowed, n_denied;
        uint64_t n_quiet; /* ping and state.get answered (journaled one by one only at debug level) */
        uint64_t opened_usec; /* CLOCK_MONOTONIC at the welcome */
        bool failed;          /* a request of it was answered with an error */
        /* what it holds, per session part (broker-op.h): each part's own type, known to its own files */
        void *part[SESSION_N_PARTS];

        outmsg *out_head, *out_tail;
        size_t n_out;
        size_t out_bytes;       /* queued in out_head..., bounded by LIMIT_OUTQ_BYTES */
        sd_event_source *hello_timer; /* until the hello: --hello-timeout */
        rate_bucket *bucket;    /* the peer process's token bucket (shared) */
        request *pending;       /* its own requests, counted against --max-inflight */
        size_t n_pending;
        request *acting;        /* D-Bus requests acting for this session */
        cached_reply cache[CLIENT_REPLY_CACHE];
        size_t cache_next;
        size_t cache_bytes; /* the cache's allocated buffer sizes: bounded by LIMIT_CACHE_BYTES */
        uint64_t cache_top; /* above every id the cache has held (0: none): a larger id is not in it */
};

struct broker {
        sd_event *event;
        int listen_fd;
        /* the client event loops (broker-loop.c): one, an sd-event source of the main thread, or
         * several, each a thread; every client's socket is in the epoll set of one of them */
        broker_loop *loops;
        unsigned n_loops;
        pthread_mutex_t lock; /* the broker lock: held for everything but waiting and client socket I/O */
        int main_wake_fd;     /* eventfd: a loop thread changed sd-event sources while the main thread waits */
        bool main_parked;     /* the main thread waits outside the lock (broker-loop.c) */
        /* loop threads waiting for the lock, and how often one got it after waiting: the main thread
         * lets one of them in before it takes the lock again (broker_lock_main()) */
        _Atomic unsigned lock_waiting;
        _Atomic unsigned lock_handoffs;
        bool loops_stop;
        bool listen_owned; /* we bound it: unlink at exit */
        sd_event_source *listen_src;
        char *socket_path;
        char *policy_dir;
        policy *policy;
        uint64_t policy_generation;
        bool ready_sent; /* READY=1 went to the service manager */
        bool end_saved;  /* --end-sessions: recovered sessions are undone, none waits */
        client *clients;
        size_t n_clients;
        uint64_t next_session;
        bool cap_sys_resource; /* effective at start */
        bool cap_setids;       /* CAP_SETUID and CAP_SETGID effective at start (the memlock helper's id change) */
        rate_bucket prestart; /* limits_prestart_take(): memlock helpers that may be forked ahead; last 0: never */
        uint64_t caps_kept;    /* the capabilities kept after setup (broker-caps.c) */
        char *cgroup_root;     /* cgroup v2 mount point; NULL: none */
        int cgroup_fd;         /* O_PATH of it, or -EBADF */
        struct cgroup_v1_mount *cpu_v1; /* the v1 cpu hierarchy (RT budgets, sched.set): found once at start */
        bus_state *bus; /* broker-bus.c; NULL with --bus none */
        bool exiting;   /* stopping: saved sessions are kept for the next broker */
        char *state_dir;
        int state_fd;    /* -EBADF: --state-dir none */
        bool state_sync; /* fsync each state file: its directory is not on tmpfs/ramfs (broker-state.c) */
        client *detached; /* recovered sessions waiting to be resumed (linked by next) */
        uint64_t resume_timeout_usec;
        burst_window bus_sched_burst; /* sched.set by D-Bus callers acting for themselves */
        cgroup_reap *reaps;  /* created cgroups removed once empty (broker-op-cgroup.c) */
        size_t n_reaps;
        broker_limits limits;
        rate_bucket *buckets;         /* broker-limits.c */
        size_t n_bus_buckets;
        sd_event_source *accept_pause; /* out of fds: accepting resumes on this timer */
        log_burst log_refused, log_hello, log_nofds, log_rate;
        crash_backoff *backoffs; /* broker-limits.c: per uid and pod cgroup, sessions that failed at once */
        size_t n_backoffs;
        request *requests; /* every live request, so that a stop frees (and reaps) what is in flight */
        request *spare_requests; /* freed requests kept for the next ones, erased: all zero (broker-reply.c) */
        unsigned n_spare_requests;
        uid_helper *uid_helpers; /* broker-helper.c: long-lived helpers per target uid/gid and pod cgroup */
};

/*
 * A request being served.  c is the session it belongs to (socket) or acts for (D-Bus); NULL when there is
 * none or it went away first.  The peer is whose processes the request may name: the client's (borrowed), or
 * a D-Bus caller's own (owned: own_pidfd, own_cgroup).
 */
struct request {
        broker *b;
        client *c;
        const request_origin *origin;
        void *origin_data;
        request *next;
        request *all_prev, *all_next; /* b->requests: every request not yet freed */
        uint64_t id;
        char *op;           /* op_inline, or its own allocation (erased and freed with the request) */
        char op_inline[48]; /* a socket request's op name when it fits */
        json_value *args;
        const broker_op *bop; /* found once by the dispatcher */
        void *op_args;        /* parsed once from args (bop->op->parse), freed with the request */
        char rule[72]; /* the rule that decided it, for the audit line */
        bool decided, allowed, audited; /* the policy's decision, audited once with the outcome */
        char reason[512];
        int fds[DELEGATE_MAX_FDS]; /* received with the request (kvmi.set-page-access: the memfd) */
        size_t n_fds;
        bool counted;  /* a delegation: counted in c->n_allowed or n_denied once audited */
        bool reply_unsaved; /* its answer holds a secret (kvmi.attach): cached, but never in the state file */
        caller who;
        peer peer;
        bool has_peer;
        int own_pidfd;
        char *own_cgroup;
        /* helper process, for operations carried out with the target's ids */
        pid_t helper_pid;
        int helper_fd;
        sd_event_source *helper_src, *timeout_src;
        void (*helper_done)(request *req, int status, const void *out, size_t len);
        unsigned char helper_out[1024];
        size_t helper_len;
        int helper_fds[DELEGATE_MAX_FDS + 1]; /* fds the helper sent, owned here */
        size_t helper_n_fds;
        bool helper_answered; /* its answer came: waiting for the byte that says the child holds no fd */
        int helper_status;    /* that answer's status */
        uid_helper *uid_helper; /* the long-lived helper whose answer it waits for */
        /* the operation's own scratch: bop->scratch_size bytes, zeroed, then bop->request_init; its type
         * is known only to the operation's files */
        void *scratch;
};

/* broker-audit.c: decisions and session events, as records, to the sinks of broker-log.h */
void audit_decision(broker *b, const caller *who, const op_desc *op, const json_value *args, const policy_decision *d);
/* The same from its parts (@rule NULL: none decided). */
void audit_record(const caller *who, const op_desc *op, const json_value *args, bool allowed, const char *rule,
                  const char *reason);
void audit_session_opened(const client *c);
void audit_session_closed(const client *c, const char *reason);
void audit_policy_changed(const broker *b);

/* broker-caps.c: keep only the capabilities the operations need; clear the
 * inheritable, ambient and bounding sets.  Returns 0 or -errno (logged). */
int broker_caps_drop(broker *b);
/* broker-seccomp.c: PR_SET_NO_NEW_PRIVS and the syscall allowlist (default
 * kill), inherited by every helper.  Returns 0 or -errno (logged). */
int broker_seccomp_install(broker *b);

/* broker-server.c */
int broker_new(broker **ret);
void broker_free(broker *b);
int broker_listen(broker *b, const char *path);
int broker_run(broker *b);
/* Tell the service manager READY=1, once: the socket and (with --bus) the bus name are served (broker-bus.c). */
void broker_notify_ready(broker *b);

/* A client event loop (broker-loop.c; what it owns is kept by broker-conn.c). */
struct broker_loop {
        broker *b;
        unsigned index;
        int epfd;         /* its clients' sockets */
        int wake_fd;      /* eventfd in epfd: a client of ours ended elsewhere, or stop */
        pthread_t thread; /* with --threads 2 or more: every loop */
        bool threaded;    /* a thread of its own; else the main thread's, which also runs sd-event */
        bool outside;     /* its turns run outside sd-event's dispatch (every loop: broker-event.c) */
        bool started;
        size_t n_clients;
        char *rx;         /* DELEGATE_MAX_MESSAGE bytes: every datagram is read here, then erased */
        char *rx2;        /* the same, for the datagram after it (read ahead) */
        client *ahead_first, *ahead_last; /* clients with a message read ahead, for the next turn */
        client *serving;  /* whose message is being handled: its replies wait for client_flush_owner() */
        client *zombies;  /* ended, released at the end of the batch */
        bool touched;     /* this batch may have changed sd-event sources or queued D-Bus messages */
        sem_t running;    /* posted by the thread once started: what the C library does at a thread's
                           * start (rseq registration) is done before the seccomp filter */
};

/* broker-loop.c: the client event loops (--threads) and the broker lock */
#define BROKER_MAX_THREADS 8
/* The loops' epoll sets and loop 0's sd-event source; 0 or -errno. */
int loops_new(broker *b, unsigned n);
/* Start the loop threads (after the capabilities are final, before the seccomp filter); 0 or -errno. */
int loops_start(broker *b);
/* Stop and join them (the main thread holds the lock; it is released while they finish). */
void loops_stop(broker *b);
void loops_free(broker *b);
/* The loop a new connection goes to: the one with the fewest clients. */
broker_loop *loops_pick(broker *b);
/* Main thread, accepting: does a client wait for its turn meanwhile (@first: before the first connection)? */
bool loops_clients_waiting(broker *b, bool first);
/* The main thread's loop: sd-event run under the lock, waiting outside it; the exit code. */
int loops_run_main(broker *b);
/* Take the broker lock on a loop thread (counted while it waits: broker_lock_main() lets it in first). */
void broker_lock_loop(broker *b);

/* broker-conn.c: a client's outgoing queue, and its socket in its loop's epoll set */
/* Take the broker lock on a loop thread (counted while it waits: the main thread lets it in first). */
void broker_lock_loop(broker *b);
/* Wait for @events on @c's socket (registered on first use); 0 or -errno. */
int client_io_set(client *c, uint32_t events);
/* Stop waiting for @c (client_free, before its socket closes); a batch being served skips it. */
void client_io_stop(client *c);
/* Queue @buf (owned, erased when sent) with dups of @fds, and send what the socket takes. */
void client_send(client *c, char *buf, size_t len, const int *fds, size_t n_fds);
/* A message of @len bytes (and a NUL) to fill in before client_send_msg(), in one allocation; NULL: none. */
outmsg *outmsg_new(size_t len);
/* Queue @m (from outmsg_new(), filled in) like client_send(). */
void client_send_msg(client *c, outmsg *m, const int *fds, size_t n_fds);
/* Its loop's epoll set waits for what @c needs now (the first registration at accept too); 0 or -errno. */
int client_update_events(client *c);
/* broker-conn.c, a client's message read ahead (the datagram after the one its turn took): kept (false
 * without memory: dropped), queued for its loop's next turn if it may be read (limits_may_read()), taken
 * back as wire_recv() returns it (into @m's buffer and fds), dropped (client_free()) */
bool client_ahead_keep(client *c, wire_msg *m);
void client_ahead_queue(client *c);
void client_ahead_take(client *c, wire_msg *m);
void client_ahead_drop(client *c);
/* Send what is queued; never frees @c (marks it dead for the I/O callback). */
void client_flush(client *c);
void outmsg_free(outmsg *m);
/* The loop the calling thread runs (--threads 1: the main thread's; NULL: none, its spare messages freed). */
void loop_self_set(broker_loop *l);
/* Wake @l's thread (its wake eventfd). */
void loop_wake(broker_loop *l);
/* @c ended (client_free()): its loop releases its fd and memory where no pointer to it can remain. */
void loop_client_ended(client *c);
/* Is the caller @c's loop, serving it right now (its replies then leave after the handler)? */
bool loop_serving(const client *c);
/* The loop the calling thread runs, or NULL (the main thread with --threads 2 or more). */
broker_loop *loop_current(void);
/* Its loop, after handling a message of @c: send the queued replies outside the lock. */
void client_flush_owner(client *c);

/* broker-cache.c: remember an answer for a retried id (its buffer, in the oldest's place; LIMIT_CACHE_BYTES in all) */
void client_cache_store(client *c, uint64_t id, const char *buf, size_t len, bool has_fds);
/* The answer remembered for @id, or NULL; client_cache_move(): @to (resuming a session) takes @from's answers. */
const cached_reply *client_cache_find(const client *c, uint64_t id);
void client_cache_move(client *to, client *from);

void client_free(client *c); /* broker-client.c */
void client_release(client *c);

/* broker-limits.c */
/* Log at most once per LIMIT_LOG_WINDOW_USEC for @lb; says how many were suppressed. */
void log_burst_msg(broker *b, log_burst *lb, int prio, const char *fmt, ...) _printf_(4, 5);
/* Raise our own RLIMIT_NOFILE soft limit to the hard one; warn when the limits may not fit. */
/* The descriptors @l lets the broker hold at most: per client its socket, pidfd, SESSION_KEPT_FDS, a memlock
 * helper's, --max-tap and --max-inflight; once the v1 groups' cpu.rt_runtime_us (CGROUP_V1_KEPT), 64 of its
 * own, the forker's, the netns worker's, the closer's; per loop (@loops) two datagrams' fds. */
uint64_t limits_fd_need(const broker_limits *l, unsigned loops);
void limits_fd_budget(broker *b);
/*
 * A fresh connection @cfd: over --max-clients or --max-sessions-per-uid it is sent a rate-limited error and
 * -EUSERS/-EAGAIN is returned (the caller closes it); else 0.
 */
int limits_admit(broker *b, int cfd);
/* accept4() failed with @error: out of fds pauses accepting a little. */
void limits_accept_failed(broker *b, int error);
void limits_free(broker *b);
/* A new client's token bucket (its hello timer: broker-server.c).  Undone by limits_client_end(). */
int limits_client_start(client *c);
void limits_client_welcomed(client *c);
/* Crash-loop back-off: 0, or the ms a new session of @c's uid and pod cgroup must still wait
 * (its last sessions failed soon after they started); limits_session_end() counts them. */
uint64_t limits_backoff_ms(client *c, unsigned *ret_fails);
/* May a memlock helper be forked ahead of a request at @now (us)?  A token of the broker's bucket
 * (LIMIT_PRESTART_BURST, refilled one per LIMIT_PRESTART_EVERY_USEC): taken when @take, else only looked at. */
bool limits_prestart_take(broker *b, uint64_t now, bool take);
void limits_session_end(client *c);
void limits_backoff_free(broker *b);
void limits_client_end(client *c);
/* May the server read another message from @c (inflight and queue bounds)? */
bool limits_may_read(const client *c);
/* Take a token for one request of @c; false: none left, *ret_retry_ms says when. */
bool limits_rate_take(client *c, uint64_t *ret_retry_ms);
/* The same for a D-Bus caller of uid @uid. */
bool limits_rate_take_uid(broker *b, uid_t uid, uint64_t *ret_retry_ms);

/* broker-kvmi.c: the KVMI channel of a session (tool side of KVMI v12) */
/**
 * kvmi_channel_open() - a new channel for @c (replacing any old one, whose
 * waiting requests fail), without a connection yet.  With @keyed,
 * *ret_secret gets the shared secret (64 hex chars, malloc'd: erase_free()
 * it), the same for every connection QEMU makes: @given (checked by the
 * caller), or a new random one when NULL.  Returns 0 or -errno.
 */
int kvmi_channel_open(client *c, bool keyed, const char *given, char **ret_secret);
/**
 * kvmi_channel_connect() - adopt QEMU's connection *@fd (@req's) for its
 * session's channel, replacing a live one; *@fd is then -EBADF (no dup: the
 * closer empties a socket it closes, broker-closer.c).  The hello, setup and
 * re-application of the shadow run in the event loop; @req is answered when
 * done or failed.  Returns 0, or -errno with @msg (@req and *@fd the caller's).
 */
int kvmi_channel_connect(request *req, int *fd, char *msg, size_t size);
/* Close the channel (its requests fail with @why); the shadow stays. */
void kvmi_channel_close(client *c, const char *why);
/* The session ends: channel closed, shadow dropped. */
void kvmi_session_end(client *c);
/**
 * kvmi_submit() - program @n entries for @req (which it answers): owned @e, or in the mapping @map
 * (@map_len bytes) of the memfd @memfd, read as sent (kbatch in broker-kvmi-chan.h), both released when
 * done.  The entries' padding is zero; @top_gpa is the highest gpa among them.
 */
void kvmi_submit(request *req, kvmi_page_access_entry *e, size_t n, void *map, size_t map_len, int memfd,
                 uint64_t top_gpa);
/* The session's KVMI state as a JSON object (state.get). */
void kvmi_state_gen(const client *c, json_gen *g);

/* broker-policy.c */
int broker_policy_load(broker *b);
/* Atomic: on error the old policy stays and @err (may be NULL) says why. */
int broker_policy_reload(broker *b, char *err, size_t size);

/* broker-peer.c */
int peer_identify(client *c, op_error *err);
/* The peer view of a client (borrows its pidfd and cgroup). */
peer client_peer(client *c);
/* Identify the process @pid (a D-Bus caller): pidfd, cgroup, pid namespace. */
int peer_from_pid(pid_t pid, uid_t uid, gid_t gid, peer *ret, int *ret_pidfd, char **ret_cgroup,
                  op_error *err);
/* Resolve a pid the peer names (0: itself) to ours, with a pidfd. */
int peer_resolve_target(const peer *p, pid_t pid, pid_t *ret_pid, int *ret_pidfd, op_error *err);
/* The same, for the peer of @req (-EACCES when the request has none). */
int request_resolve_target(request *req, pid_t pid, pid_t *ret_pid, int *ret_pidfd, op_error *err);
/* A target resolved with what the kernel says of it (peer_resolve_pinned(), broker-peer.c). */
typedef struct peer_target {
        pid_t host_pid;
        int pidfd;     /* pins it: the peer's own when @borrowed (not to be closed; gone with the peer) */
        bool borrowed;
        bool have_ids; /* the kernel gave its real, effective, saved ids (PIDFD_GET_INFO) */
        uid_t uid[3];
        gid_t gid[3];
} peer_target;
int peer_resolve_pinned(const peer *p, pid_t pid, peer_target *ret, op_error *err);
int request_resolve_pinned(request *req, pid_t pid, peer_target *ret, op_error *err);
/* @id is a cgroup below the pod of @p (opened beneath it): no path read needed for it. */
void peer_pod_cgroup_known(const peer *p, uint64_t id);
/* Is the process behind @pidfd still alive? */
bool pidfd_alive(int pidfd);
/* Are @uid and @gid the broker's own (read once: it never changes them)? */
bool broker_ids_are(uid_t uid, gid_t gid);
/* Are some of @uid/@gid (real, effective, saved) ids the broker's user namespace cannot name (the kernel
 * shows them as the overflow ids, given in @ret_uid/@ret_gid)?  Never in the initial user namespace,
 * which names every id; in another, an id that reads as the overflow id may be either. */
bool broker_ids_unnamed(const uid_t uid[3], const gid_t gid[3], uid_t *ret_uid, gid_t *ret_gid);
/* Are all @n alive?  One poll() for all. */
bool pidfds_alive(const int *pidfds, size_t n);

/*
 * The last thread a session named alone, kept pinned between its requests (broker-peer.c): its pidfd, and its
 * /proc cgroup file once read (-EBADF: not open).  tid 0: none.  Both are of that thread whatever its id
 * becomes: asked again, a thread that exited answers ESRCH, and the id is resolved and pinned anew.
 */
typedef struct peer_thread_kept {
        pid_t tid;
        int pidfd;
        int cgroup_fd;
} peer_thread_kept;

/* A thread the peer named, resolved and pinned. */
typedef struct peer_thread {
        pid_t tid;       /* as the peer named it */
        pid_t host_tid;  /* in our pid namespace */
        pid_t host_tgid; /* its process */
        int pidfd;       /* of the thread itself (PIDFD_THREAD) */
        pid_t ppid;      /* its process's parent, from PIDFD_GET_INFO (0: not asked, kernel before 6.13) */
        uint64_t cgroupid; /* its cgroup v2's id from PIDFD_GET_INFO (0: not known) */
        bool have_ids;     /* uid[], gid[] from PIDFD_GET_INFO: real, effective, saved */
        uid_t uid[3];
        gid_t gid[3];
        bool borrowed;     /* pidfd is a peer_thread_kept's: not closed with the request */
        int *cgroup_fd;    /* where its /proc cgroup file is kept open (a peer_thread_kept's), or NULL */
} peer_thread;
/*
 * Resolve @n thread ids (0: the peer's main thread) that must each be a thread of the peer or of a descendant
 * inside the pod cgroup; all or nothing.  Close the pidfds with peer_threads_done().
 */
int peer_resolve_threads(const peer *p, const pid_t *tids, size_t n, peer_thread_kept *kept, peer_thread *ret,
                         op_error *err);
int request_resolve_threads(request *req, const pid_t *tids, size_t n, peer_thread_kept *kept, peer_thread *ret,
                            op_error *err);
void peer_threads_done(peer_thread *t, size_t n);
/* A thread's /proc @file could not be read (r < 0): ESRCH "thread N exited" when it is gone (-ENOENT, -ESRCH),
 * else ERR_SYSTEM with the real errno, naming the file.  Returns the error set. */
#define PEER_THREAD_CGROUP_FILE "/proc/PID/task/TID/cgroup"
int thread_read_failed(op_error *err, int r, pid_t tid, const char *file);
void peer_thread_kept_drop(peer_thread_kept *k);
/* Open the peer's own cgroup directory (O_PATH), beneath the cgroup2 root. */
int peer_cgroup_open(const peer *p, int cgroup_fd, op_error *err);
/* @path below @dirfd with openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS|RESOLVE_NO_XDEV),
 * or, where openat2() answers ENOSYS, an equally strict walk (broker-cgroup-open.c); an O_PATH fd or -errno */
int cgroup_open_beneath(int dirfd, const char *path);
/* Files a session keeps open at most besides its TAP devices' network namespaces (one per device, up to
 * --max-tap): sched.set's /proc/PID/limits and its last thread's pidfd and cgroup file, cgroup.move's 2
 * threaded targets, its KVMI connection and its seccomp listener, its two state files (limits_fd_need()). */
#define SESSION_KEPT_FDS 9
/* A threaded cgroup.move target a session keeps open (broker-cgroup-open.c): its cgroup.threads and id. */
typedef struct cgroup_kept {
        char *target; /* as the request named it; NULL: an empty slot */
        int threads_fd;
        uint64_t id;
} cgroup_kept;
cgroup_kept *cgroup_kept_find(cgroup_kept *k, size_t n, const char *target);
/* Keep @target's open cgroup.threads (*@threads_fd, taken) and id in a slot of @k: its own, the first empty one,
 * else round robin from *@next. */
void cgroup_kept_put(cgroup_kept *k, size_t n, unsigned *next, const char *target, int *threads_fd, uint64_t id);
void cgroup_kept_drop(cgroup_kept *e);
int request_cgroup_open(request *req, op_error *err);

/* broker-request.c */
/* Handle one datagram; fds it keeps are set to -EBADF in @fds, the caller closes the rest. */
void client_handle_message(client *c, char *buf, size_t len, int *fds, size_t n_fds);
/* Refuse a client before or at the handshake ({"type":"error",...}) and close. */
void client_refuse(client *c, err_code code, const char *fmt, ...) _printf_(3, 4);
void client_refuse_retry(client *c, err_code code, int errno_value, uint64_t retry_ms, const char *fmt, ...)
        _printf_(5, 6);
void client_reply_error_noid(client *c, err_code code, int errno_value, const char *fmt, ...) _printf_(4, 5);

/* broker-reply.c: a request's life, below the operations */
void request_reply_result(request *req, const char *result_json, const int *fds, size_t n_fds);
/* Reply @g's document (taken), or the take's failure ("cannot write the reply: ...", its errno); returns it. */
int request_reply_gen(request *req, json_gen *g, const int *fds, size_t n_fds);
void request_reply_error(request *req, err_code code, int errno_value, const char *rule, const char *fmt, ...)
        _printf_(5, 6);
/* Reply with @e, the error an operation found (ERR_DENIED: the target refused, audited as a denial). */
void request_fail(request *req, const op_error *e);
/* Add to the reason its audit record gives (what the kernel says after acting; cut at its size). */
void request_reason_append(request *req, const char *fmt, ...) _printf_(2, 3);
void request_free(request *req);
void request_detach_all(client *c);
/* The broker stops: every request still in flight is freed unanswered, its helper killed and reaped. */
void request_free_all(broker *b);
/* A new request from @origin (id, op and who still to fill); NULL: ENOMEM. */
request *request_new(broker *b, const request_origin *origin);
/* Fill req->who from the socket client @c: its names borrowed, valid while the request is @c's (its
 * pending or acting list), copied by request_detach_all() when @c goes. */
int caller_from_client(caller *who, const client *c);
/* Copies of borrowed names: 0, or -ENOMEM (the names are then "" and none). */
int caller_own(caller *who);
void caller_clear(caller *who);
policy_subject caller_subject(const caller *who);

/* broker-request.c, again */
/*
 * Decide and carry out @req (op, args, who and peer set): policy, audit, counting on req->c, then the
 * operation.  Always ends in exactly one reply, now or later, and frees @req then.
 */
void request_dispatch(request *req);
/* The same, with @act (when not NULL) acting instead of the operation's own, after the same parsing,
 * policy decision and audit (broker-unotify-tap.c: TUNSETIFF on the caller's own fd). */
void request_dispatch_act(request *req, void (*act)(request *req, void *args, const policy_decision *d));

/* broker-session.c */
/*
 * What an operation leaves in a session: how many things (@count), its part of the state (@state writes one
 * JSON value, under key @name), and how to undo them on RevokeSession (@revoke returns how many it undid or
 * -errno; NULL: nothing to undo).
 */
typedef struct session_hook {
        const char *name;
        size_t (*count)(const client *c);
        void (*state)(const client *c, json_gen *g);
        int (*revoke)(client *c);
} session_hook;
/* The state.get object of @c. */
void session_state_gen(const client *c, json_gen *g);
/* A welcomed session by its decimal id, or NULL. */
client *session_find(broker *b, const char *id);
size_t session_count(broker *b);
/* Undo what the hooks can undo, then close the session (frees @c; broker-client.c). */
void session_revoke(client *c, const char *by);

/* broker-state.c: sessions that survive a broker restart */
/* Open (creating) @dir ("none": no persistence) and recover the sessions saved there. */
int state_setup(broker *b, const char *dir);
/* broker-state-save.c: writing them */
/* A new resume token for @c (c->token, c->token_hash). */
int state_token_new(client *c);
/* SHA-256 of @token, hex: what a state file keeps of it. */
void state_token_hash(const char *token, char out[65]);
/* Read @c's start time and network namespace once (for recognising it after a restart). */
int state_peer_identity(client *c);
/* Write @c's state file atomically; 0 or -errno (logged once). */
int state_save(client *c);
/* Remove @c's state file (its session ended for good). */
void state_drop(client *c);
/* Close the files kept open for @c's next saves, forget its record's head (broker-state-save.c). */
void state_kept_close(client *c);
/* broker-state.c, again: recovery and resume */
/* hello's "resume": take over a detached session; -errno with *ret_code and @msg. */
int state_resume(client *c, const json_value *resume, err_code *ret_code, char *msg, size_t size);
void state_free_detached(broker *b);
/* A session number for a new connection: never 0, never one a live or recovered session holds. */
uint64_t state_session_next(broker *b);
/*
 * The state file's text, both ways (pure: no file, no clock, no /proc):
 * state_gen() writes @c's state as state_save() saves it; state_parse()
 * reads one file's @len bytes into a detached client of @b.  state_parse()
 * returns 0; -EBADMSG with @msg when the text is no JSON object (*@ret
 * untouched); -EINVAL with @msg naming the first bad field, *@ret then
 * holding only the records valid on their own (for undoing, never for
 * resuming); -ENOMEM.
 */
void state_gen(const client *c, json_gen *g);
int state_parse(broker *b, const char *text, size_t len, client **ret, char *msg, size_t size);

/*
 * A state file's frame: {"generation":G,"state":OBJECT,"end":G} and a
 * newline (the first in the file: JSON text as the broker writes it has
 * none), G the same digits at both ends.  state_unframe(): 1 with
 * *@inner the object when the file is whole; 0 when it is not framed (an
 * older broker's file: all of it is the object, generation 0); -EBADMSG
 * when cut (a save killed half way), *@gen then the generation its start
 * names (0 if none).
 */
#define STATE_FRAME_HEAD "{\"generation\":"
#define STATE_FRAME_STATE ",\"state\":"
#define STATE_FRAME_END ",\"end\":"
int state_unframe(const char *text, size_t len, const char **inner, size_t *inner_len, uint64_t *gen);

/* broker-bus.c: the D-Bus interface org.delegate.Broker1 */
/* @spec: "system", "session", "none" or an address; an unreachable bus is retried. */
int bus_setup(broker *b, const char *spec);
/* A message waits in sd-bus's write queue (the main thread asks for the socket's EPOLLOUT when it prepares). */
bool bus_write_queued(broker *b);
void bus_free(broker *b);

/* broker-helper.c */
/* A step run by a long-lived helper: @in (@in_len bytes, as the broker sent
 * it) -> at most @size bytes of @out; returns the length or -errno. */
typedef ssize_t (*uid_helper_fn)(const void *in, size_t in_len, void *out, size_t size);
#define UID_HELPER_MAX_IN 64 /* bytes of a step's input */
/**
 * uid_helper_call() - run @fn on @in in the long-lived helper process of
 * @uid/@gid (all of real, effective, saved; no supplementary groups) for
 * @req's pod cgroup (a pod that stops its helper stalls no other pod's),
 * started by uid_helper_prestart() or else at the first call, and reused;
 * it ends with the last session that used it (uid_helpers_session_end()).
 * @done runs in the event loop with status (>= 0 length, or -errno;
 * -ETIMEDOUT after HELPER_TIMEOUT_USEC, -EPIPE when the helper died) and
 * the output.
 */
int uid_helper_call(request *req, uid_t uid, gid_t gid, uid_helper_fn fn, const void *in, size_t in_len,
                    void (*done)(request *req, int status, const void *out, size_t len));
/*
 * uid_helper_prestart() - start the helper uid_helper_call() would use for @uid/@gid, @fn and @c's pod cgroup
 * now (it is @c's from now on, ended with its last session), so that @c's first call finds it running: 0 or
 * -errno (then the first call starts it).
 */
int uid_helper_prestart(client *c, uid_t uid, gid_t gid, uid_helper_fn fn, bool (*wanted)(const client *c));
/* @c ends: the helpers no other session uses end with it. */
void uid_helpers_session_end(broker *b, client *c);
/* A helper's socket is in a client loop's epoll set with this bit in its data (client pointers never have it). */
#define UID_HELPER_IO_KEY (UINT64_C(1) << 63)
/* Its event, in that loop (lock held); @key: the event's data. */
void uid_helper_loop_io(broker *b, uint64_t key);
/* The broker stops: every helper is killed and reaped. */
void uid_helpers_free(broker *b);
/*
 * A helper step that may also return fds: it stores up to ELEMENTSOF(req->helper_fds) in @fds and their count
 * in *@n_fds; they reach @done in req->helper_fds (owned by the request: take them with TAKE_FD, the rest is
 * closed with the request).
 */
typedef ssize_t (*helper_fn)(void *arg, void *out, size_t size, int *fds, size_t *n_fds);
/**
 * helper_run_netns() - like helper_run(), but the child stays root and
 * enters the network namespace of @netns_fd (a pidfd or an nsfs fd) with
 * setns() first.  The event loop's thread never changes namespace.
 */
int helper_run_netns(request *req, int netns_fd, helper_fn fn, void *arg,
                     void (*done)(request *req, int status, const void *out, size_t len));
void helper_cancel(request *req);

/* broker-op-cgroup.c: remove what the session created, as it ends */
void cgroup_session_end(client *c);
/* ... and free what still waits for a busy cgroup to empty (at exit) */
void cgroup_reap_all_free(broker *b);

