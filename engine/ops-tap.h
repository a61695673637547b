/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ops-tap.h - tap.create, tap.destroy, bridge.create, bridge.destroy (ops-tap.c, ops-bridge.c,
 * policy-tap.c). */
#pragma once

#include "opdesc.h"
#include "policy-tap.h"
#include "tap-names.h"
#include "wire.h" /* DELEGATE_MAX_FDS */

/* --- tap.create / tap.destroy (ops-tap.c) --- */

typedef struct tap_create_args {
        char name[TAP_NAME_MAX + 2]; /* a template with one "%d", or an exact name */
        bool is_template;
        uint32_t queues;   /* 1 (default) to POLICY_TAP_MAX_QUEUES */
        bool vnet_hdr;     /* default false */
        uint32_t mtu;      /* 0 (default): the kernel's */
        bool has_mac;      /* default: the kernel picks a random one */
        uint8_t mac[6];
        char bridge[TAP_NAME_MAX + 1]; /* "" (default): no master */
        bool persist;      /* default false */
        bool vhost;        /* default false: also one /dev/vhost-net fd per queue */
} tap_create_args;

/* With vhost, a reply carries 2 fds per queue: at most this many queues. */
#define TAP_VHOST_MAX_QUEUES (DELEGATE_MAX_FDS / 2)

typedef struct tap_destroy_args {
        char name[TAP_NAME_MAX + 1];
} tap_destroy_args;

/* --- bridge.create / bridge.destroy (ops-tap.c) --- */

#define BRIDGE_MAX_ENSLAVE 4

typedef struct bridge_create_args {
        char name[TAP_NAME_MAX + 1]; /* an exact name */
        uint32_t mtu;                /* 0 (default): the kernel's */
        char enslave[BRIDGE_MAX_ENSLAVE][TAP_NAME_MAX + 1]; /* the pod's interfaces to put on it */
        size_t n_enslave;
} bridge_create_args;

int bridge_create_args_parse(const json_value *args, bridge_create_args *ret, char *msg, size_t size);
/* bridge.destroy takes {"name"} like tap.destroy (tap_destroy_args) */
int bridge_destroy_args_parse(const json_value *args, tap_destroy_args *ret, char *msg, size_t size);

int tap_create_args_parse(const json_value *args, tap_create_args *ret, char *msg, size_t size);
int tap_destroy_args_parse(const json_value *args, tap_destroy_args *ret, char *msg, size_t size);
