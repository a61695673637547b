/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ops-tap.h - tap.create, tap.destroy, bridge.create, bridge.destroy (ops-tap.c, ops-bridge.c,
 * policy-tap.c). */
#pragma once

#include "opdesc.h"
#include "wire.h" /* DELEGATE_MAX_FDS */

/* --- tap.create / tap.destroy (ops-tap.c) --- */

#define TAP_NAME_MAX 15 /* IFNAMSIZ - 1 */

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
/* bridge.destroy takes {"name"} like tap.destroy */
int bridge_destroy_args_parse(const json_value *args, tap_destroy_args *ret, char *msg, size_t size);

/* 1-15 characters of [A-Za-z0-9._-], neither "." nor "..". */
bool tap_name_valid(const char *s);
/* Exactly one "%d", otherwise tap_name_valid() characters, index 0 fits. */
bool tap_template_valid(const char *s);
/* @tmpl with "%d" replaced by @idx; -ENAMETOOLONG when it exceeds 15 characters. */
int tap_template_expand(const char *tmpl, unsigned idx, char *buf, size_t size);
/* Does @name fit policy pattern @pattern ("%d": a decimal index without
 * leading zeros; without "%d": equality)? */
bool tap_pattern_matches(const char *pattern, const char *name);
/* "52:54:00:12:34:56" -> 6 bytes; -EINVAL unless a unicast, non-zero MAC. */
int tap_mac_parse(const char *s, uint8_t ret[6]);
const char *tap_mac_format(const uint8_t mac[6], char *buf, size_t size);

int tap_create_args_parse(const json_value *args, tap_create_args *ret, char *msg, size_t size);
int tap_destroy_args_parse(const json_value *args, tap_destroy_args *ret, char *msg, size_t size);

/* The rule's "tap" and "bridge" sections (policy-tap.c). */
extern const policy_section policy_section_tap, policy_section_bridge;
