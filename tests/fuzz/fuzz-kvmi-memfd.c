/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-kvmi-memfd.c - the sealed memfd of kvmi.set-page-access as the
 * broker reads it (broker-op-kvmi.c): the packed entries are decoded
 * (common/kvmi-proto.c: kvmi_memfd_decode(), checked against a
 * reference written here, so a faster decoder must agree with the slow
 * one) and checked against a rule's gpa ranges and access
 * (kvmi_entries_check) in the broker's one pass (kvmi_memfd_check(),
 * which must agree with both, message for message), sent as
 * SET_PAGE_ACCESS messages of at most 511 entries as the channel sends
 * them (a head, then the entries from where they are; each message read
 * back byte by byte), and recorded in the session's shadow as the channel
 * records them.
 *
 * Seeds: tests/fuzz/corpus/kvmi-memfd (entries as delegatectl and the
 * functional tests write them: rwx pages, a run of 1024, bad bits, bad
 * padding, a size that is no multiple of 16).
 * -max_len: 1048576 = 65536 entries x 16 bytes, the default kvmi
 * max_entries of a policy rule (KVMI_POLICY_DEFAULT_MAX_ENTRIES; a rule may
 * allow up to 16M entries, 256 MiB, which is past what libFuzzer mutates
 * usefully: the decoder keeps no state from one entry to the next).
 */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"
#include "fuzz-policy-once.h"
#include "kvmi-proto.h"
#include "kvmi-shadow.h"
#include "ops.h"
#include "policy.h"

static const char fuzz_policy[] =
        "{ \"version\": 1, \"rules\": [ { \"name\": \"kvmi\", \"match\": { \"uid\": 1000 },\n"
        "  \"kvmi\": { \"gpa\": [\"0-0x9ffff\", \"0x100000-0x27fffffff\"], \"access\": \"rw\", \"max_entries\": 65536 } } ] }\n";

static const policy_rule *the_rule(void) {
        static policy *p;
        return &fuzz_policy_once(&p, fuzz_policy, sizeof(fuzz_policy) - 1)->rules[0];
}

/* The memfd's rules, as delegate-protocol(7) states them. */
static ssize_t reference(const uint8_t *p, size_t len, size_t *ret_bad) {
        if (len == 0 || len % 16)
                return -EINVAL;
        for (size_t i = 0; i < len / 16; i++) {
                const uint8_t *e = p + i * 16;
                bool ok = e[8] <= 7;
                for (size_t k = 9; k < 16; k++)
                        ok = ok && e[k] == 0;
                if (!ok) {
                        *ret_bad = i;
                        return -EINVAL;
                }
        }
        return (ssize_t) (len / 16);
}

static uint8_t msg[KVMI_HDR_SIZE + KVMI_MAX_MSG_SIZE];

/* Each message as the channel sends it: its head, then its entries from where they are. */
static void send_all(const kvmi_page_access_entry *e, size_t n) {
        for (size_t first = 0; first < n; first += KVMI_PAGE_ACCESS_MAX_ENTRIES) {
                size_t k = n - first < KVMI_PAGE_ACCESS_MAX_ENTRIES ? n - first : KVMI_PAGE_ACCESS_MAX_ENTRIES;
                int head = kvmi_set_page_access_head(msg, (uint32_t) first, k);
                FUZZ_ASSERT(head == KVMI_HDR_SIZE + 8);
                memcpy(msg + head, e + first, k * 16);
                size_t len = (size_t) head + 16 * k;
                uint16_t id, size, count;
                memcpy(&id, msg, 2);
                memcpy(&size, msg + 2, 2);
                memcpy(&count, msg + 8, 2);
                FUZZ_ASSERT(id == KVMI_VM_SET_PAGE_ACCESS && size == len - KVMI_HDR_SIZE && count == k);
                FUZZ_ASSERT(size <= KVMI_MAX_MSG_SIZE);
                for (size_t i = 10; i < 16; i++)
                        FUZZ_ASSERT(msg[i] == 0);
                /* the spec's entry: u64 gpa, u8 access, 7 bytes of zero padding (checked when decoded) */
                for (size_t i = 0; i < k; i++) {
                        uint64_t gpa;
                        memcpy(&gpa, msg + 16 + 16 * i, 8);
                        FUZZ_ASSERT(gpa == e[first + i].gpa && msg[16 + 16 * i + 8] == e[first + i].access);
                        for (size_t j = 9; j < 16; j++)
                                FUZZ_ASSERT(msg[16 + 16 * i + j] == 0);
                }
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size > 65536 * 16)
                return 0;
        /* a mapping is page-aligned: an aligned, exact-size copy (ASan sees reads past it) */
        void *map = NULL;
        if (size && posix_memalign(&map, 16, size) != 0)
                return 0;
        if (size)
                memcpy(map, data, size);
        char why[256] = "", why2[256] = "";
        size_t bad = SIZE_MAX;
        ssize_t n = kvmi_memfd_decode(map, size, why, sizeof(why));
        ssize_t want = reference(data, size, &bad);
        if (n != want) {
                fprintf(stderr, "decoded %zd, the reference says %zd (%s)\n", n, want, why);
                abort();
        }
        /* the broker's one pass: the same verdict and message, and the rule's decision */
        policy_decision d2 = { .rule = the_rule() };
        uint64_t top = 0;
        ssize_t n2 = kvmi_memfd_check(d2.rule, map, size, &d2, &top, why2, sizeof(why2));
        FUZZ_ASSERT(n2 == n);
        if (n < 0) {
                /* the message names the entry the reference found bad */
                if (bad != SIZE_MAX) {
                        char at[64];
                        snprintf(at, sizeof(at), "memfd entry %zu: ", bad);
                        FUZZ_ASSERT(strncmp(why, at, strlen(at)) == 0);
                }
                FUZZ_ASSERT(why[0]);
                FUZZ_ASSERT(strcmp(why, why2) == 0);
                free(map);
                return 0;
        }
        const kvmi_page_access_entry *e = map;
        policy_decision d = { .rule = the_rule() };
        kvmi_entries_check(d.rule, e, (size_t) n, &d);
        FUZZ_ASSERT(memchr(d.reason, 0, sizeof(d.reason)));
        FUZZ_ASSERT(d.allowed == d2.allowed && strcmp(d.reason, d2.reason) == 0);
        uint64_t top_want = 0;
        for (ssize_t i = 0; i < n; i++)
                top_want = e[i].gpa > top_want ? e[i].gpa : top_want;
        FUZZ_ASSERT(top == top_want);
        if (d.allowed) {
                for (ssize_t i = 0; i < n; i++)
                        FUZZ_ASSERT((e[i].access & ~(KVMI_PAGE_ACCESS_R | KVMI_PAGE_ACCESS_W)) == 0);
                send_all(e, (size_t) n);
                /* recorded as the channel does, message by message, in a batch's reserved room */
                kvmi_shadow sh = {};
                FUZZ_ASSERT(kvmi_shadow_reserve(&sh, (size_t) n) == 0);
                for (size_t first = 0; first < (size_t) n; first += KVMI_PAGE_ACCESS_MAX_ENTRIES) {
                        size_t k = (size_t) n - first < KVMI_PAGE_ACCESS_MAX_ENTRIES ? (size_t) n - first
                                                                                   : KVMI_PAGE_ACCESS_MAX_ENTRIES;
                        size_t bad_index = 0;
                        FUZZ_ASSERT(kvmi_shadow_record(&sh, e + first, k, &bad_index) == 0);
                }
                kvmi_shadow_settle(&sh);
                /* the last setting of a page is what the shadow holds (the last 64 entries, checked) */
                for (ssize_t i = n > 64 ? n - 64 : 0; i < n; i++) {
                        bool later = false;
                        for (ssize_t j = i + 1; j < n; j++)
                                later = later || (e[j].gpa >> 12) == (e[i].gpa >> 12);
                        if (!later)
                                FUZZ_ASSERT(kvmi_shadow_get(&sh, e[i].gpa >> 12) == e[i].access);
                }
                /* settled: no block slot holds fewer than KVMI_SHADOW_BLOCK_MIN pages */
                for (size_t i = 0; i < sh.bcap; i++)
                        FUZZ_ASSERT(!sh.blocks[i].key ||
                                    sh.blocks[i].key >> KVMI_SHADOW_COUNT_SHIFT >= KVMI_SHADOW_BLOCK_MIN);
                kvmi_shadow_clear(&sh);
        }
        free(map);
        return 0;
}
