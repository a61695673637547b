/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-kvmi-chan.h - inside a session's KVMI channel, shared by
 * broker-kvmi-chan.c (the connection: output queue, failing it, its timer),
 * broker-kvmi.c (the reader, page-access batches, the session's interface)
 * and broker-kvmi-setup.c (each connection's hello, setup and
 * re-application of the shadow), and the session's KVMI state
 * (broker-op-kvmi.c).  Layers: chan, then setup, then broker-kvmi.c.  Not
 * for other files: they use broker.h's kvmi_*().
 */
#pragma once

#include <time.h>

#include "broker.h"
#include "kvmi-proto.h"

/* session_part_kvmi: c->part[SESSION_PART_kvmi] */
typedef struct kvmi_session {
        kvmi_channel *ch;   /* NULL until kvmi.attach, and after kvmi.detach */
        kvmi_shadow shadow; /* what we programmed; survives a re-attach */
} kvmi_session;

static inline kvmi_session *KS(const client *c) {
        return c->part[SESSION_PART_kvmi];
}

typedef enum ch_state { CH_WAITING, CH_HELLO, CH_SETUP, CH_READY, CH_CLOSED } ch_state;

/* The setup commands, in order, after the hello is answered. */
typedef enum setup_step { STEP_VERSION, STEP_CHECK, STEP_UNHOOK, STEP_INFO, STEP_DONE } setup_step;

typedef struct range {
        size_t first, n;
} range;

typedef struct kbatch {
        struct kbatch *next;
        request *req; /* NULL: re-application of the shadow */
        kvmi_page_access_entry *e;
        size_t n;
        uint64_t top_gpa; /* the highest gpa among the entries */
        void *map; /* e points into this memfd mapping, or NULL: e is owned */
        size_t map_len;
        int memfd; /* a memfd batch's own copy of the memfd (map set; else unused) */
        /*
         * A memfd batch's main pass is sent and recorded from here, never through the mapping: two
         * halves of STAGE_MSGS messages' entries, each read from the memfd (pread(), the kernel's copy
         * of its pages) when all the messages of the half's previous window were answered.  A user
         * space first touch of each page of a new mapping costs a page walk, and on a hypervisor that
         * shadows the guest's page tables an exit (1.2-1.5 us a page on this project's VMs); the
         * mapping is touched only by the rare paths (probing a refused message, naming an entry).
         */
        kvmi_page_access_entry *stage;
        size_t stage_half;    /* entries a half holds: STAGE_MSGS * per_msg */
        size_t stage_win[2];  /* the window (first entry / stage_half) a half holds; SIZE_MAX: none */
        size_t stage_busy[2]; /* its messages in flight */
        size_t next_entry; /* main pass: next entry to send */
        size_t in_flight;
        size_t n_msgs, n_answered;
        range *failed; /* messages the kernel refused, to probe */
        size_t n_failed, cap_failed;
        size_t probe_msg, probe_entry; /* probe pass position */
        uint64_t *last_gfn_index; /* sorted (gfn, last index) pairs, built when probing */
        size_t err_index; /* SIZE_MAX: none */
        int32_t err;
        size_t applied; /* entries recorded in the shadow */
        size_t refused; /* entries the kernel refused (found by probing) */
        uint64_t started;
} kbatch;

typedef struct kcmd {
        struct kcmd *next;
        uint64_t end; /* the output queue's byte count (tx_queued) once this command is in it */
        uint16_t id;
        uint32_t seq;
        kbatch *b;
        size_t first, n;
        const kvmi_page_access_entry *src; /* where its entries were sent from, and are recorded from */
        int half; /* the half of b's stage src lies in; -1: none */
        bool probe;
} kcmd;

/* Messages whose entries a half of a memfd batch's stage holds: two halves fill KVMI_WINDOW. */
#define STAGE_MSGS (KVMI_WINDOW / 2)

#define RX_CAP (KVMI_HDR_SIZE + KVMI_MAX_MSG_SIZE)
#define SETUP_RETRY_USEC (50 * 1000ULL) /* between tries of a setup command answered -KVM_EPERM */
#define SETUP_LAST_TRY_USEC (1000 * 1000ULL) /* the last try leaves this much of the setup time for its reply */

/*
 * A piece of the output queue: @len bytes of ch->tx (ext NULL: the queue's
 * own bytes, in order from tx_off), or of a batch's entries, sent from
 * where they are (the batch outlives them: it ends only when every command
 * it queued was answered, and only a command sent whole may be).
 */
typedef struct txseg {
        const uint8_t *ext;
        size_t len;
} txseg;

typedef struct reapply_report {
        size_t pages, applied, refused, beyond_ram;
} reapply_report;

struct kvmi_channel {
        client *c;
        int fd;
        sd_event_source *io, *timer;
        ch_state state;
        char why[320];
        bool keyed;
        char secret[65];
        uint8_t rx[RX_CAP];
        size_t rx_len;
        uint32_t hello_size;
        size_t hello_got;
        kvmi_hello hello;
        uint8_t *tx; /* the queue's own bytes: headers, setup commands, the hello's answer */
        size_t tx_len, tx_off, tx_cap;
        txseg *segs; /* the queue, in order: segs[seg_head] from its byte seg_skip on */
        size_t seg_head, seg_n, seg_cap, seg_skip;
        uint64_t tx_queued, tx_sent; /* bytes put in the queue and sent, since the connection began */
        /* a send found the peer gone (EPIPE, ECONNRESET): nothing more is sent, and the channel fails once
         * the answers the peer sent before it went are read (ch_io()) */
        bool peer_gone;
        kcmd *head, *tail;
        size_t n_cmds;
        uint64_t progress_at; /* last reply, or the send that started the in-flight set */
        uint32_t seq;
        setup_step step;
        uint64_t phase_deadline; /* hello and setup must finish by then */
        uint64_t retry_at;       /* re-send the current setup command then (0: none) */
        size_t eperm_retries;
        uint32_t version, max_msg_size, vcpus;
        bool unhook_enabled;
        size_t per_msg;
        kbatch *bhead, *btail;
        request *connect_req; /* kvmi.connect, answered when the connection is ready and the shadow re-applied */
        bool reapplying;
        reapply_report last_reapply;
        uint64_t connections, unhooks;
        uint64_t msgs_sent, entries_sent;
};

/* broker-kvmi-chan.c */
/* pread() of @len bytes at @off of a memfd, whole: 0, or -errno (-EIO: it ended early, which its seals forbid). */
int memfd_read(int fd, void *buf, size_t len, off_t off);
void batch_free(kbatch *b);
/* Fail @b's request (if any) with @why, and free @b. */
void batch_fail(kbatch *b, err_code code, int errno_value, const char *why);
/*
 * Queue a KVMI_VM_SET_PAGE_ACCESS of the @n entries at @src (entries @first.. of batch @b, in @b's stage
 * half @half, or -1), its head built in place in the output queue, its entries sent from @src.
 */
int ch_queue_page_access(kvmi_channel *ch, kbatch *b, const kvmi_page_access_entry *src, size_t first, size_t n,
                         int half, bool probe);
/* Wait for output only while some is queued. */
void ch_update_io(kvmi_channel *ch);
/* Close the connection and fail everything pending with @why (errno @e); the channel stays. */
void ch_fail(kvmi_channel *ch, int e, const char *fmt, ...) _printf_(3, 4);
/* Queue a command of @len bytes of payload at @payload (no batch) with a fresh seq. */
int ch_send_simple(kvmi_channel *ch, uint16_t id, const void *payload, size_t len);
/* Room for @n more bytes in the output queue: 0 or -ENOMEM. */
int tx_reserve(kvmi_channel *ch, size_t n);
/* Queue the @n bytes written at ch->tx + ch->tx_len (room made with tx_reserve()): 0 or -ENOMEM. */
int tx_commit(kvmi_channel *ch, size_t n);
void ch_flush(kvmi_channel *ch);
/* recv() without blocking: > 0 bytes read, 0 when nothing is there, -EPIPE at end of stream, or -errno. */
ssize_t ch_recv(kvmi_channel *ch, void *buf, size_t len);
/* (Re)arm the channel's timer for its next deadline. */
void ch_arm(kvmi_channel *ch);

/* broker-kvmi-setup.c */
/* Read QEMU's hello; answered and the setup started once complete.  0, or -errno to drop. */
int read_hello(kvmi_channel *ch);
/* Send the command of the current setup step. */
void setup_send(kvmi_channel *ch);
/* A setup command's answer: next step, retry on -KVM_EPERM, or fail. */
void setup_reply(kvmi_channel *ch, uint16_t id, int32_t err);
/* A KVMI_VM_EVENT message: UNHOOK closes the connection. */
void handle_event(kvmi_channel *ch, const kvmi_msg_hdr *h, const uint8_t *payload);
/* Answer kvmi.connect with what the connection did, once ready and re-applied. */
void connect_reply(kvmi_channel *ch);
