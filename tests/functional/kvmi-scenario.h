/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * kvmi-scenario - what the kvmi.* scenarios share: the launcher's side of
 * the socket QEMU connects to, the calls to the broker, the simulated QEMU +
 * kernel (kvmi-peer) started, stopped and read back, and access maps to
 * compare with what the kernel held.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define DELEGATE_INTERNAL_UNSTABLE_API_OPT_IN
#include <delegate/delegate-internal.h>

#include "harness.h"
#include "kvmi-proto.h"

#define PAGES (2u * 1024 * 1024) /* guest memory of the peer: 8 GiB */

extern const char policy_kvmi[];

typedef struct peer {
        pid_t pid;
        char map[128];    /* prefix: the peer writes map.N when connection N ends */
        char status[128]; /* its event lines */
} peer;

/* The launcher's side: a socket QEMU connects to (made once per scenario). */
void listen_once(void);
delegate_ctx *open_ctx(const char *vm);
/* One call; returns a JSON text: {"ok":true,"result":...} or {"ok":false,"error":{...}}. */
char *call(delegate_ctx *c, const char *op, const char *args, const int *in_fds, size_t n_in, int *ret_fd);
int64_t fi(const char *json, const char *path);
const char *fs(const char *json, const char *path);
/* Start kvmi-peer (QEMU + kernel) connecting to our socket; @extra: more options, NULL-terminated. */
void peer_start(peer *p, const char *name, const char *secret, ...);
/* Wait for the peer to exit; its exit code, -1 on timeout. */
int peer_wait(peer *p, int timeout_ms);
/* Shut the guest down: UNHOOK if enabled, the tool closes, the peer exits. */
int peer_stop(peer *p);
uint8_t *peer_map(peer *p, int conn);
bool peer_said(peer *p, const char *line);
/* Accept QEMU's next connection and hand it over; kvmi.connect's reply (answered once ready). */
char *connect_next(delegate_ctx *c);
/* SO_SNDBUF of the broker's end of the connections connect_next() hands over (0: the default). */
extern int connect_sndbuf;
/* The inode of the broker's end of the last connection connect_next() handed over. */
extern unsigned long connect_ino;
/* Attach, start the peer, hand over its first connection: ok or not. */
bool attach_connect(delegate_ctx *c, peer *p, const char *vm, bool keyed, const char *peer_secret_override,
                  const char *extra1, const char *extra2);
/* Poll state.get until the channel is ready and idle (or closed). */
char *wait_idle(delegate_ctx *c);
/* Poll state.get until the channel is @want (a bounded wait, then a diagnostic naming what it was). */
char *wait_channel(delegate_ctx *c, const char *want);
int attach(delegate_ctx *c, bool keyed, char *secret, size_t size);
/* Entries i = 0..n-1 with a pattern that revisits pages and uses every access value. */
void gen_entries(kvmi_page_access_entry *e, size_t n, uint64_t seed);
void apply(uint8_t *m, const kvmi_page_access_entry *e, size_t n, size_t skip);
uint8_t *blank_map(void);
size_t restricted(const uint8_t *m);
void compare_maps(peer *p, int conn, const uint8_t *want, const char *what);
/* QEMU shuts down; the kernel's map of its (only) connection must be @want, which is freed. */
void stop_and_compare(peer *p, uint8_t *want, const char *what);
/* Send @n entries inline in requests of @chunk; the first failing reply or NULL. */
char *send_inline(delegate_ctx *c, const kvmi_page_access_entry *e, size_t n, size_t chunk, size_t *ret_reqs);
int make_memfd(const kvmi_page_access_entry *e, size_t n, bool seal);
double now_s(void);
/* kvmi.set-page-access of @n entries through a sealed memfd; its reply, and how long it took in *ret_dt. */
char *spa_memfd(delegate_ctx *c, const kvmi_page_access_entry *e, size_t n, double *ret_dt);
