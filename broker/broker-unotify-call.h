/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-unotify-call.h - syscalls of unmodified programs, delegated through
 * seccomp user notification (delegate-run(1)): a session's listener and
 * one call being served (broker-unotify-call.c), below the listener loop
 * (broker-unotify.c) and the TAP calls (broker-unotify-tap.c).
 */
#pragma once

#include <linux/seccomp.h>
#include <net/if.h>
#include <stdint.h>

#include "broker-op.h"
#include "broker-tap.h"

#include <linux/if_tun.h>

#define UNOTIFY_MAX_INFLIGHT 16 /* notifications one session's listener may have in progress */
#define UNOTIFY_BATCH 8         /* notifications taken per wake-up, so that sessions take turns */

typedef struct unotify_call unotify_call;

/* A session's listener. */
typedef struct unotify {
        client *c;
        int fd;
        sd_event_source *src;
        unotify_call *calls; /* in progress (linked by next), counted in inflight */
        unsigned inflight;
        uint64_t n_notified, n_continued;
        log_burst refusals; /* why calls were refused, logged at most once a window per listener */
} unotify;

/* session_part_unotify: c->part[SESSION_PART_unotify] */
typedef struct unotify_session {
        unotify *listener; /* NULL until unotify.attach, and once its programs are gone */
} unotify_session;

static inline unotify_session *US(const client *c) {
        return c->part[SESSION_PART_unotify];
}

/* One notification being served: the origin data of its request. */
struct unotify_call {
        unotify *u;           /* NULL once the session's listener is gone */
        unotify_call *prev, *next; /* in u->calls */
        int listener;         /* our own dup: the answer goes out even if the session ended */
        struct seccomp_notif n;
        pid_t tgid;           /* the caller's process (our pid namespace) */
        const char *syscall;  /* for messages */
        /* what to do with a successful answer */
        uint64_t old_ptr;     /* prlimit64: where the old limits go (0: nowhere) */
        uint64_t ifr_ptr;     /* TUNSETIFF: where the name goes back */
        char devname[16];      /* the ifreq's device name, NUL-terminated */
        int tun_fd;           /* TUNSETIFF: our copy of the caller's fd */
        bool tun_device;      /* tun_fd is /dev/net/tun, checked: closed at once, before the answer (send_resp()) */
        int sock_fd;          /* SIOCSIF*: our copy of the caller's socket */
        uint32_t ioctl_cmd;
        struct ifreq ifr;     /* TUNSETIFF, SIOCSIF*: the request as read, once */
        uid_t owner;          /* TUNSETIFF: the session's uid, which owns the device */
        gid_t group;          /* ... and its gid (an attach runs as both) */
        bool tap_attach;      /* TUNSETIFF: another queue of a device this session made */
        bool tap_probed;      /* ... whose record was checked against the kernel first */
        int tap_ifindex;      /* ... its recorded ifindex: the only device the queue may join */
        /* set by the code that dispatches the call when it answers by itself (broker-unotify-tap.c) */
        void (*on_reply)(request *req, const reply_info *r);
        /* is a refusal @r "let the kernel judge it" (not logged as refused)? */
        bool (*to_kernel)(const unotify_call *call, const reply_info *r);
};

/* Read @len bytes at @addr of the caller of @call into @buf; -EFAULT and friends. */
int unotify_read(const unotify_call *call, uint64_t addr, void *buf, size_t len);
/* Write them back (the results a syscall returns through a pointer). */
int unotify_write(const unotify_call *call, uint64_t addr, const void *buf, size_t len);
/* Is the notification still waiting (its caller has not gone or been interrupted)? */
bool unotify_valid(const unotify_call *call);
/* Answer: @error 0 and @val, or a positive errno. Consumes nothing. */
void unotify_answer(unotify_call *call, int64_t val, int error);
/* Let the kernel judge the call as if nothing intercepted it. */
void unotify_continue(unotify_call *call);
/* A call the broker cannot serve (its caller's fd or process could not be read): if it still waits, the
 * kernel judges it (a caller is never left blocked); either way @call is freed. */
void unotify_gone_or_continue(unotify_call *call);
/*
 * A request for @op with @args_json (built by the caller, its values
 * checked) acting for @call's session, decided and carried out like the
 * same operation over the socket; @call becomes the request's (answered by
 * unotify_reply() unless @run is given, which then runs instead of the
 * operation's own step with the decision).  Returns 0, or -errno when no
 * request could be made (then @call is still the caller's).
 */
int unotify_dispatch(unotify_call *call, const char *op, const char *args_json,
                     void (*act)(request *req, void *args, const policy_decision *d));
/* The errno a refused call returns to its caller (@r not ok): what its program knows from that syscall. */
int unotify_errno(const reply_info *r);
/* Free @call (its request ended). */
void unotify_call_free(unotify_call *call);
/* A call of @n for listener @u, counted in its calls in progress. */
unotify_call *unotify_call_new(unotify *u, const struct seccomp_notif *n);
/* Count @call against @u (NULL: nobody) / no longer against its listener. */
void unotify_call_link(unotify *u, unotify_call *call);
void unotify_call_unlink(unotify_call *call);
