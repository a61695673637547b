/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ops-kvmi.h - kvmi.attach, kvmi.connect, kvmi.set-page-access, kvmi.detach (ops-kvmi.c, policy-kvmi.c). */
#pragma once

#include "kvmi-proto.h"
#include "opdesc.h"
#include "policy-kvmi.h"

/*
 * kvmi.attach: {"keyed": true|false (default true), "secret": 64 hex chars
 * (optional: QEMU already holds it)}.  *ret_secret (may be NULL) points into
 * @args, or is NULL.
 */
int kvmi_attach_args_parse(const json_value *args, bool *ret_keyed, const char **ret_secret, char *msg, size_t size);

typedef struct kvmi_attach_args {
        bool keyed;
        const char *secret; /* points into the request's JSON, or NULL */
} kvmi_attach_args;

/* kvmi.connect: {"socket": N}, the index of QEMU's connection among the request's fds. */
int kvmi_connect_args_parse(const json_value *args, int64_t *ret_index, char *msg, size_t size);

typedef struct kvmi_connect_args {
        int64_t socket;
} kvmi_connect_args;

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

/*
 * kvmi_memfd_check() - a memfd's @len bytes of packed entries at @buf (a
 * mapping): what kvmi_memfd_decode() checks (-EINVAL with @msg naming the
 * first malformed entry, whatever else is wrong), and what
 * kvmi_entries_check() checks against @rule (@d, denied naming the first
 * entry it refuses), and the highest gpa (*@ret_top_gpa).  One pass without
 * branches when every entry is well-formed and allowed with all their pages
 * in one of the rule's ranges; else a second, in order, finds the first
 * entry that is not.  Returns the number of entries (at @buf), or -EINVAL.
 */
ssize_t kvmi_memfd_check(const policy_rule *rule, const void *buf, size_t len, policy_decision *d,
                         uint64_t *ret_top_gpa, char *msg, size_t size);

/*
 * kvmi_memfd_scan - kvmi_memfd_check()'s pass without branches, fed chunk
 * by chunk (entries read from the memfd into a buffer, never mapped):
 * start zeroed but for lo = UINT64_MAX (KVMI_MEMFD_SCAN_INIT), add every
 * entry once, in any chunks.  kvmi_memfd_scan_check() then gives the
 * verdict of the common case: the count of entries (@d allowed, the
 * highest gpa in *@ret_top_gpa) when the @n entries are within @rule and
 * all well-formed, else 0: kvmi_memfd_check() over the entries must find
 * the first that is not (and say why).
 */
typedef struct kvmi_memfd_scan {
        uint64_t words, lo, hi; /* OR of the entries' access words; lowest and highest gpa */
        uint8_t access;
} kvmi_memfd_scan;
#define KVMI_MEMFD_SCAN_INIT ((kvmi_memfd_scan) { .lo = UINT64_MAX })
void kvmi_memfd_scan_add(kvmi_memfd_scan *s, const kvmi_page_access_entry *e, size_t n);
size_t kvmi_memfd_scan_check(const policy_rule *rule, const kvmi_memfd_scan *s, size_t n, policy_decision *d,
                             uint64_t *ret_top_gpa);
