/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * policy.h - the policy engine: JSON-with-comments rule files, default deny,
 * first matching rule decides.  Format: delegate-policy(5).
 *
 * Shared by the broker (decisions), delegatectl (offline explain/check) and
 * the unit tests.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cpus.h"
#include "json.h"
#include "names.h"

#define POLICY_VERSION 1
#define POLICY_MAX_FILE_SIZE (1024 * 1024)
#define POLICY_MAX_RULES 4096

/* How a request reached the broker (match key "via"). */
typedef enum policy_via {
        POLICY_VIA_SOCKET = 0, /* the default: the broker's socket */
        POLICY_VIA_DBUS = 1,   /* a D-Bus method call */
        POLICY_VIA_SECCOMP = 2, /* a syscall of a program run by delegate-run(1), seccomp user notification */
} policy_via;

/* What a "manage" section may grant to D-Bus callers (delegate-policy(5)). */
enum {
        MANAGE_INSPECT = 1 << 0,  /* ListSessions, GetSession */
        MANAGE_EVALUATE = 1 << 1, /* Evaluate */
        MANAGE_RELOAD = 1 << 2,   /* ReloadPolicy */
        MANAGE_REVOKE = 1 << 3,   /* RevokeSession */
};

typedef struct id_range {
        uint32_t lo, hi;
} id_range;

/* A guest-physical address range, bytes, both ends inclusive. */
typedef struct gpa_range {
        uint64_t lo, hi;
} gpa_range;

#define KVMI_POLICY_DEFAULT_MAX_ENTRIES 65536
#define KVMI_POLICY_MAX_MAX_ENTRIES (16 * 1024 * 1024)
#define KVMI_POLICY_MAX_RANGES 256

/*
 * How a rule keeps realtime (fifo/rr) threads from starving the node:
 *   RTTIME     the target runs under a finite hard RLIMIT_RTTIME no larger
 *              than max_rttime_us: the kernel kills a thread that runs that
 *              long without sleeping (rtkit's rule, for threads that sleep);
 *   DEDICATED  the thread is confined to the rule's "cpus", and only while
 *              the kernel's RT throttling is in force (sched_rt_runtime_us
 *              below its period): a busy vCPU keeps running, and the other
 *              tasks of its CPU keep the rest of each period.
 */
typedef enum policy_rt_safety {
        RT_SAFETY_RTTIME,
        RT_SAFETY_DEDICATED,
} policy_rt_safety;

const char *policy_rt_safety_name(policy_rt_safety s);

typedef struct policy_rule {
        char *name;
        char *file;
        unsigned line, column;
        /* match: an absent key matches anything */
        bool has_uid, has_gid;
        id_range *uids, *gids;
        size_t n_uids, n_gids;
        char **cgroups; /* globs */
        size_t n_cgroups;
        char **vms; /* globs */
        size_t n_vms;
        unsigned via_mask; /* 1 << policy_via; 0: any */
        /* operation sections; an absent section denies the operation */
        struct {
                bool present;
                uint64_t max;
                bool unlimited_max; /* "unlimited": "max": a request for unlimited gets max instead of a denial */
        } memlock;
        struct {
                bool present;
                char **targets; /* globs of paths relative to the peer's cgroup */
                size_t n_targets;
                bool create; /* may the broker create a missing target? */
                bool has_cpus;
                cpu_mask cpus; /* what cpuset.cpus of a created target may hold */
        } cgroup;
        struct {
                bool present;
                unsigned policies; /* bit (1 << SCHED_*) per allowed policy */
                int max_priority;  /* ceiling for fifo/rr */
                int min_nice;      /* lowest nice for other/batch */
                bool has_cpus;
                cpu_mask cpus; /* allowed affinity */
                policy_rt_safety safety; /* what keeps a realtime thread from starving the node */
                uint64_t max_rttime_us; /* rttime: the target's hard RLIMIT_RTTIME may not exceed it */
                unsigned burst_n;       /* at most burst_n sched.set per burst_usec per session; 0: none */
                uint64_t burst_usec;
        } sched;
        struct {
                bool present;
                char **templates; /* "vnet%d" (one %d) or exact names */
                size_t n_templates;
                char **bridges; /* exact names */
                size_t n_bridges;
                uint32_t max_devices; /* per session */
                uint32_t max_queues;
                uint32_t mtu_min, mtu_max;
                bool vnet_hdr, persist, adopt_existing;
                bool vhost; /* may hand out /dev/vhost-net fds (default false) */
        } tap;
        struct {
                bool present;
                char **names; /* exact bridge names the subject may create */
                size_t n_names;
                char **enslave; /* exact names of pod interfaces it may put on them */
                size_t n_enslave;
                uint32_t max_devices; /* per session */
                uint32_t mtu_min, mtu_max;
                bool adopt_existing;
        } bridge;
        struct {
                bool present;
                gpa_range *ranges; /* an entry's page must lie in one of them */
                size_t n_ranges;
                uint8_t access;       /* bits an entry may hold (R=1 W=2 X=4) */
                uint64_t max_entries; /* per kvmi.set-page-access request */
                bool require_key;     /* kvmi.attach must use a keyed handshake */
        } kvmi;
        struct {
                bool present;
                unsigned actions; /* MANAGE_* */
        } manage;
} policy_rule;

typedef struct policy {
        policy_rule *rules;
        size_t n_rules;
        size_t n_files;
} policy;

typedef struct policy_error {
        char file[1024];
        unsigned line, column; /* 0 when the error is not about a position */
        char message[512];
} policy_error;

typedef struct policy_subject {
        uid_t uid;
        gid_t gid;
        const char *cgroup; /* the pod cgroup, as "/a/b" */
        const char *vm;
        policy_via via;
} policy_subject;

typedef struct policy_decision {
        bool allowed;
        const policy_rule *rule; /* the rule that decided, NULL: default deny */
        char reason[512];
} policy_decision;

policy *policy_new(void);
void policy_free(policy *p);
static inline void policy_freep(policy **p) {
        policy_free(*p);
}
#define _cleanup_policy_ _cleanup_(policy_freep)

/**
 * policy_load_dir() - load every "*.json" file of @dir in lexical order.
 * Returns 0 with a new policy in *ret, or -errno with @err naming file,
 * line and column.  Nothing is returned on error.
 */
int policy_load_dir(const char *dir, policy **ret, policy_error *err);

/* Parse one file's text and append its rules to @p (tests, --check-policy). */
int policy_load_text(policy *p, const char *file, const char *text, size_t len, policy_error *err);

/* "FILE:LINE:COLUMN: MESSAGE" */
const char *policy_error_string(const policy_error *err, char *buf, size_t size);

/* Called for each rule examined by policy_match(): why it matched or not. */
typedef void (*policy_explain_fn)(const policy_rule *r, bool matched, const char *why, void *userdata);

/* The first rule whose match block accepts @s, or NULL. */
const policy_rule *policy_match(const policy *p, const policy_subject *s, policy_explain_fn fn, void *userdata);

bool glob_match(const char *pattern, const char *s);

/* "fifo" -> SCHED_FIFO etc.; -1 for an unknown name. */
int sched_policy_from_name(const char *s);
const char *sched_policy_name(int policy);
/* The names, for messages: "other, batch, idle, fifo, rr". */
#define SCHED_POLICY_NAMES "other, batch, idle, fifo, rr"

/* Section limits and defaults, see delegate-policy(5). */
#define POLICY_TAP_MAX_LIST 32
#define POLICY_TAP_MAX_DEVICES 64
#define POLICY_TAP_MAX_QUEUES 16
#define POLICY_TAP_DEFAULT_TEMPLATE "vnet%d"
#define POLICY_TAP_DEFAULT_MAX_DEVICES 4
#define POLICY_TAP_MTU_MIN 68
#define POLICY_TAP_MTU_MAX 65535
#define POLICY_BRIDGE_DEFAULT_MAX_DEVICES 1
/* "socket", "dbus", "seccomp" */
const char *policy_via_name(policy_via v);
/* -EINVAL for anything but "socket", "dbus" or "seccomp" */
int policy_via_from_name(const char *s, policy_via *ret);

/*
 * Where a section parser reports an error (policy_section in opdesc.h):
 * the position of the offending value and a message.
 */
typedef struct policy_where {
        unsigned *line, *column;
        char *msg;
        size_t size;
} policy_where;

/* Point @w at @v with a message; returns -EINVAL. */
int policy_err(policy_where *w, const json_value *v, const char *fmt, ...) _printf_(3, 4);
/* The same at an explicit position (an object member's key). */
int policy_err_at(policy_where *w, unsigned line, unsigned column, const char *fmt, ...) _printf_(4, 5);
/* A section value must be an object ("\"memlock\" must be an object, not ..."). */
int policy_expect_object(policy_where *w, const json_value *v, const char *key);
int policy_get_bool(policy_where *w, const json_value *v, const char *what, bool *ret);
int policy_get_int(policy_where *w, const json_value *v, const char *what, int64_t lo, int64_t hi, int64_t *ret);
int policy_get_cpus(policy_where *w, const json_value *v, const char *what, cpu_mask *ret);
/* A string or an array of strings; each must be one of @names (NULL-terminated); bit i for names[i]. */
int policy_get_name_set(policy_where *w, const json_value *v, const char *what, const char *const *names,
                        unsigned *ret);
void policy_strv_free(char **v, size_t n);
/* A glob string or a non-empty array of them (with @need_slash each starts with '/'). */
int policy_get_globs(policy_where *w, const json_value *v, const char *what, bool need_slash, char ***ret,
                     size_t *ret_n);

