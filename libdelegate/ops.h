/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ops.h - the operations of API version 1: argument parsing and the policy
 * check of each, shared by the broker (which then acts), delegatectl
 * (offline explain) and the library (local execution).
 */
#pragma once

#include <sys/types.h>

#include "json.h"
#include "wire.h" /* DELEGATE_MAX_FDS */
#include "kvmi-proto.h"
#include "policy.h"

typedef struct memlock_args {
        pid_t pid;     /* as the client names it (its own pid namespace) */
        uint64_t soft; /* UINT64_MAX = unlimited */
        uint64_t hard; /* DELEGATE_LIMIT_KEEP = leave as it is */
} memlock_args;

/* Parse memlock.set args; -EINVAL with @msg saying what is wrong. */
int memlock_args_parse(const json_value *args, memlock_args *ret, char *msg, size_t size);
/* A rule with "unlimited": "max": an unlimited soft or hard limit in @a becomes the rule's max. */
void memlock_args_clamp(const policy_rule *rule, memlock_args *a);

#define CGROUP_MOVE_MAX_TIDS 1024

typedef struct cgroup_move_args {
        bool by_pid;   /* "pid": move the whole process, else "tids" */
        pid_t pid;     /* as the client names it */
        pid_t *tids;   /* malloc'd, n_tids of them, as the client names them */
        size_t n_tids;
        char target[256]; /* relative to the caller's cgroup, checked by cgroup_target_check() */
        bool create;
        bool has_cpus;
        cpu_mask cpus; /* cpuset.cpus for a created target */
} cgroup_move_args;

/* Parse cgroup.move args; -EINVAL with @msg.  Free with cgroup_move_args_done(). */
int cgroup_move_args_parse(const json_value *args, cgroup_move_args *ret, char *msg, size_t size);
void cgroup_move_args_done(cgroup_move_args *a);

typedef struct sched_args {
        pid_t tid;    /* as the client names it; 0: the caller's main thread */
        int policy;   /* SCHED_* */
        int priority; /* fifo/rr: 1-99, else 0 */
        int nice;     /* other/batch: -20..19, else 0 */
        bool has_cpus;
        cpu_mask cpus;
} sched_args;

int sched_args_parse(const json_value *args, sched_args *ret, char *msg, size_t size);
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
int bridge_create_check(const policy_rule *rule, const json_value *args, policy_decision *d, char *msg, size_t size);
int bridge_destroy_check(const policy_rule *rule, const json_value *args, policy_decision *d, char *msg, size_t size);

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
int tap_create_check(const policy_rule *rule, const json_value *args, policy_decision *d, char *msg, size_t size);
int tap_destroy_check(const policy_rule *rule, const json_value *args, policy_decision *d, char *msg, size_t size);

/* Shared by the op files: printf into @msg, return -EINVAL. */
int ops_bad(char *msg, size_t size, const char *fmt, ...) _printf_(3, 4);
/* Reject keys outside @allowed (NULL-terminated). */
int ops_check_keys(const json_value *args, const char *op, const char *const *allowed, char *msg, size_t size);
/*
 * kvmi.attach: {"keyed": true|false (default true), "secret": 64 hex chars
 * (optional: QEMU already holds it)}.  *ret_secret (may be NULL) points into
 * @args, or is NULL.
 */
int kvmi_attach_args_parse(const json_value *args, bool *ret_keyed, const char **ret_secret, char *msg, size_t size);

/* kvmi.connect: {"socket": N}, the index of QEMU's connection among the request's fds. */
int kvmi_connect_args_parse(const json_value *args, int64_t *ret_index, char *msg, size_t size);

/* kvmi.set-page-access args: inline entries, or the index of a memfd. */
typedef struct kvmi_spa_args {
        kvmi_page_access_entry *entries; /* inline: malloc'd, n entries */
        size_t n;
        int memfd_index; /* -1: inline */
} kvmi_spa_args;

/*
 * Parse kvmi.set-page-access args: {"entries": [[GPA, ACCESS], ...]} with
 * GPA a number or "0x..." string and ACCESS "rwx"-style or 0-7, or
 * {"memfd": 0}.  -EINVAL with @msg; the caller frees ret->entries.
 */
int kvmi_spa_args_parse(const json_value *args, kvmi_spa_args *ret, char *msg, size_t size);

/*
 * Check @n entries against @rule's kvmi section: count against
 * max_entries, each entry's page inside a gpa range, its bits inside the
 * allowed access.  Fills @d (denied names the first failing index).
 */
void kvmi_entries_check(const policy_rule *rule, const kvmi_page_access_entry *e, size_t n, policy_decision *d);

typedef struct op_desc {
        const char *name;
        /* Does this operation need a policy rule's section? (ping does not) */
        bool needs_policy;
        /*
         * Parse @args and check them against @rule (which matched the
         * subject).  Returns -EINVAL with @msg for malformed args, else 0
         * with @d filled (allowed or denied with a reason).
         */
        int (*check)(const policy_rule *rule, const json_value *args, policy_decision *d, char *msg, size_t size);
} op_desc;

/* the kvmi.* rows of the op table (ops-kvmi.c) */
int kvmi_attach_check(const policy_rule *rule, const json_value *args, policy_decision *d, char *msg, size_t size);
int kvmi_connect_check(const policy_rule *rule, const json_value *args, policy_decision *d, char *msg, size_t size);
int kvmi_spa_check(const policy_rule *rule, const json_value *args, policy_decision *d, char *msg, size_t size);
int kvmi_detach_check(const policy_rule *rule, const json_value *args, policy_decision *d, char *msg, size_t size);
/* unotify.attach (ops-unotify.c): {"listener": N}, the index of delegate-run's seccomp listener among the fds */
int unotify_attach_args_parse(const json_value *args, int64_t *ret_index, char *msg, size_t size);
int unotify_attach_check(const policy_rule *rule, const json_value *args, policy_decision *d, char *msg,
                         size_t size);
/* manage.*: the broker's own management, decided like operations but only
 * ever asked over D-Bus, never a socket request. */
bool op_is_bus_only(const char *name);

/* NULL for an unknown operation. */
const op_desc *op_lookup(const char *name);
/* "ping, state.get, memlock.set, ..." */
const char *op_names(void);

/**
 * policy_decide() - the whole decision for @op with @args from @s: parse the
 * args, find the first matching rule, check the op's section.
 * Returns -EINVAL (bad args, @msg set), -EOPNOTSUPP (unknown op), or 0 with
 * @d filled.  @fn (may be NULL) hears about every rule examined.
 */
int policy_decide(const policy *p, const policy_subject *s, const char *op, const json_value *args,
                  policy_decision *d, char *msg, size_t size, policy_explain_fn fn, void *userdata);
