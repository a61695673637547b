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

#include "json.h"

#define POLICY_VERSION 1
#define POLICY_MAX_FILE_SIZE (1024 * 1024)
#define POLICY_MAX_RULES 4096

/* How a request reached the broker (match key "via"). */
typedef enum policy_via {
        POLICY_VIA_SOCKET = 0, /* the default: the broker's socket */
        POLICY_VIA_DBUS = 1,   /* a D-Bus method call */
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
        } memlock;
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

/* "socket", "dbus" */
const char *policy_via_name(policy_via v);
/* -EINVAL for anything but "socket" or "dbus" */
int policy_via_from_name(const char *s, policy_via *ret);

/* Validate a VM name: 1-253 characters of [A-Za-z0-9._-]. */
bool vm_name_valid(const char *s);
