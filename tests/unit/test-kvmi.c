/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-kvmi.c - KVMI v12 message building and reply parsing, the hello
 * and cookie (common/kvmi-proto.c), the page-access shadow
 * (kvmi-shadow.c), the "kvmi" policy section and the kvmi.* argument
 * checks (policy-kvmi.c, ops-kvmi.c).
 */
#include <inttypes.h>
#include <stdio.h>

#include "kvmi-proto.h"
#include "kvmi-shadow.h"
#include "ops.h"
#include "policy.h"
#include "tap.h"
#include "unit-util.h"

static uint8_t buf[KVMI_HDR_SIZE + KVMI_MAX_MSG_SIZE];

static void test_messages(void) {
        kvmi_vm_check_command cc = { .id = KVMI_VM_SET_PAGE_ACCESS };
        int n = kvmi_build_msg(buf, KVMI_VM_CHECK_COMMAND, 0x01020304, &cc, sizeof(cc));
        tap_is_int(n, 16, "VM_CHECK_COMMAND is 8 + 8 bytes");
        uint16_t u16;
        uint32_t u32;
        memcpy(&u16, buf, 2);
        tap_is_int(u16, 4, "header id 4 (2 << 1)");
        memcpy(&u16, buf + 2, 2);
        tap_is_int(u16, 8, "header size counts the bytes after the header");
        memcpy(&u32, buf + 4, 4);
        tap_is_int(u32, 0x01020304, "header seq, host byte order");
        memcpy(&u16, buf + 8, 2);
        tap_is_int(u16, 20, "the checked command is SET_PAGE_ACCESS (20)");
        tap_is_int(kvmi_build_msg(buf, 2, 1, NULL, 0), 8, "GET_VERSION is a bare header");
        tap_is_int(kvmi_build_msg(buf, 2, 1, buf, KVMI_MAX_MSG_SIZE + 1), -EMSGSIZE, "payload above 8184: -EMSGSIZE");

        memset(buf, 0xff, 16);
        n = kvmi_set_page_access_head(buf, 9, KVMI_PAGE_ACCESS_MAX_ENTRIES);
        tap_is_int(n, 16, "a page-access message's head: 8 + 8 bytes before its entries");
        memcpy(&u16, buf, 2);
        tap_is_int(u16, KVMI_VM_SET_PAGE_ACCESS, "id SET_PAGE_ACCESS (10 << 1)");
        memcpy(&u16, buf + 2, 2);
        tap_is_int(u16, KVMI_MAX_MSG_SIZE, "511 entries: the size counts them, exactly the limit 8184");
        memcpy(&u32, buf + 4, 4);
        tap_is_int(u32, 9, "seq");
        memcpy(&u16, buf + 8, 2);
        tap_is_int(u16, 511, "count 511");
        bool pad_zero = true;
        for (size_t i = 8 + 2; i < 8 + 8; i++)
                pad_zero = pad_zero && buf[i] == 0;
        tap_ok(pad_zero, "the command's padding is zero");
        kvmi_set_page_access_head(buf, 10, 1);
        memcpy(&u16, buf + 2, 2);
        tap_is_int(u16, 8 + 16, "one entry: size 24");
        tap_is_int(kvmi_set_page_access_head(buf, 9, 512), -EINVAL, "512 entries do not fit one message");
        tap_is_int(kvmi_set_page_access_head(buf, 9, 0), -EINVAL, "0 entries is no message");
}

static void test_replies(void) {
        int32_t err = 99;
        kvmi_get_version_reply v;
        uint8_t r[32] = { 0 };
        uint32_t one = 1, max = 8184;
        memcpy(r + 8, &one, 4);
        memcpy(r + 12, &max, 4);
        r[16] = 1; /* features.singlestep */
        tap_is_int(kvmi_parse_reply(r, 24, &err, &v, sizeof(v)), 0, "v12 GET_VERSION reply (8 + 16 bytes) parses");
        tap_ok(err == 0 && v.version == 1 && v.max_msg_size == 8184 && v.features.singlestep == 1,
               "version 1, max_msg_size 8184, singlestep");
        tap_is_int(kvmi_parse_reply(r, 16, &err, &v, sizeof(v)), -EPROTO, "the pre-v12 8-byte data: -EPROTO");
        tap_is_int(kvmi_parse_reply(r, 32, &err, &v, sizeof(v)), 0, "fields a newer kernel appends are ignored");
        tap_is_int(kvmi_parse_reply(r, 4, &err, NULL, 0), -EPROTO, "no error code: -EPROTO");
        int32_t e = -22;
        memcpy(r, &e, 4);
        tap_is_int(kvmi_parse_reply(r, 8, &err, &v, sizeof(v)), 0, "an error reply carries no data");
        tap_is_int(err, -22, "err -EINVAL");
        tap_is_int(kvmi_parse_reply(r, 24, &err, &v, sizeof(v)), -EPROTO, "an error reply with data: -EPROTO");
        e = 5;
        memcpy(r, &e, 4);
        tap_is_int(kvmi_parse_reply(r, 8, &err, NULL, 0), -EPROTO, "a positive err: -EPROTO");
        e = 0;
        memcpy(r, &e, 4);
        tap_is_int(kvmi_parse_reply(r, 8, &err, NULL, 0), 0, "SET_PAGE_ACCESS success: 8 bytes");
}

/* QEMU's v12 hello, written byte by byte from vmi-handshake.h's layout. */
static size_t hello_bytes(uint8_t *h, uint32_t size, const char *name, uint64_t max_gpa) {
        memset(h, 0, size);
        memcpy(h, &size, 4);
        for (int i = 0; i < 16; i++)
                h[4 + i] = (uint8_t) (i + 1);
        int64_t t = 1234567;
        memcpy(h + 24, &t, 8);
        memcpy(h + 32, name, strlen(name));
        memcpy(h + 96, &max_gpa, 8);
        return size;
}

static void test_hello(void) {
        uint8_t h[104 + 40];
        kvmi_hello p;
        char msg[256];
        size_t n = hello_bytes(h, 104, "vm-a", 0x240000000ULL + 0x7f); /* byte 96 is not zero */
        tap_is_int(kvmi_hello_parse(h, n, &p, msg, sizeof(msg)), 0, "a 104-byte v12 hello parses (%s)", msg);
        tap_ok(p.max_gpa == 0x24000007fULL && p.start_time == 1234567 && streq(p.name, "vm-a") && p.uuid[2] == 3 &&
                       p.struct_size == 104,
               "uuid at 4, start_time at 24, name at 32, max_gpa at 96");
        tap_is_int(kvmi_hello_parse(h, 100, &p, msg, sizeof(msg)), -EPROTO, "fewer than 104 bytes: -EPROTO");
        n = hello_bytes(h, 104 + 40, "vm-a", 0x80000000);
        tap_is_int(kvmi_hello_parse(h, n, &p, msg, sizeof(msg)), 0, "fields a later QEMU appends are ignored");
        tap_ok(p.max_gpa == 0x80000000 && p.struct_size == 144, "max_gpa still read");
        memset(h + 32, 'a', 64);
        tap_is_int(kvmi_hello_parse(h, n, &p, msg, sizeof(msg)), -EPROTO, "a name without NUL: -EPROTO");
        uint32_t ss;

        uint8_t d[20], reply[KVMI_HELLO_REPLY_SIZE];
        static const uint8_t abc[20] = { 0xa9, 0x99, 0x3e, 0x36, 0x47, 0x06, 0x81, 0x6a, 0xba, 0x3e,
                                         0x25, 0x71, 0x78, 0x50, 0xc2, 0x6c, 0x9c, 0xd0, 0xd8, 0x9d };
        kvmi_sha1("abc", 3, d);
        tap_ok(!memcmp(d, abc, 20), "SHA-1(\"abc\") is the FIPS 180 test vector");
        kvmi_hello_reply_build(reply, "abc");
        memcpy(&ss, reply, 4);
        tap_ok(ss == 24 && !memcmp(reply + 4, abc, 20), "hello reply: struct_size 24, SHA-1 of the secret");
        kvmi_hello_reply_build(reply, NULL);
        static const uint8_t zero[20];
        tap_ok(!memcmp(reply + 4, zero, 20), "unkeyed: zero cookie");
}

/* kvmi.set-page-access's memfd: packed 16-byte entries, written here byte by byte */
static void test_memfd_decode(void) {
        static uint64_t words[3 * 2]; /* 8-byte aligned, as a mapping is */
        uint8_t *b = (uint8_t *) words;
        char msg[128] = "";
        for (int i = 0; i < 3; i++) {
                uint64_t gpa = 0x1000 * (i + 1);
                memcpy(b + 16 * i, &gpa, 8);
                b[16 * i + 8] = (uint8_t) (i + 1);
        }
        tap_is_int(kvmi_memfd_decode(b, 48, msg, sizeof(msg)), 3, "memfd: 48 bytes are 3 entries");
        const kvmi_page_access_entry *e = (const kvmi_page_access_entry *) b;
        tap_ok(e[2].gpa == 0x3000 && e[2].access == 3, "  entry 2 reads gpa 0x3000, access 3 (rw)");
        tap_is_int(kvmi_memfd_decode(b, 0, msg, sizeof(msg)), -EINVAL, "empty: -EINVAL");
        tap_is_int(kvmi_memfd_decode(b, 40, msg, sizeof(msg)), -EINVAL, "40 bytes: -EINVAL");
        tap_has_str(msg, "not a positive multiple of 16", "  says why");
        b[16 * 1 + 15] = 1;
        tap_is_int(kvmi_memfd_decode(b, 48, msg, sizeof(msg)), -EINVAL, "last padding byte of entry 1 set: -EINVAL");
        tap_is_str(msg, "memfd entry 1: padding is not zero", "  names entry 1");
        b[16 * 1 + 15] = 0;
        b[16 * 2 + 8] = 8;
        tap_is_int(kvmi_memfd_decode(b, 48, msg, sizeof(msg)), -EINVAL, "access 8 in entry 2: -EINVAL");
        tap_is_str(msg, "memfd entry 2: access has bits other than r, w, x", "  names entry 2");
        b[16 * 2 + 8] = 7;
        tap_is_int(kvmi_memfd_decode(b, 48, msg, sizeof(msg)), 3, "access 7 (rwx: forget) is valid");
}

static void test_access(void) {
        char a[4];
        tap_is_int(kvmi_access_parse("rwx"), 7, "rwx");
        tap_is_int(kvmi_access_parse("r-x"), 5, "r-x");
        tap_is_int(kvmi_access_parse("xw"), 6, "xw");
        tap_is_int(kvmi_access_parse("---"), 0, "---");
        tap_is_int(kvmi_access_parse(""), 0, "empty");
        tap_is_int(kvmi_access_parse("rr"), -EINVAL, "a letter twice");
        tap_is_int(kvmi_access_parse("rwxx"), -EINVAL, "too long");
        tap_is_int(kvmi_access_parse("q"), -EINVAL, "unknown letter");
        tap_is_str(kvmi_access_format(3, a), "rw-", "format 3");
}

/* Bytes the shadow's tables take. */
static size_t shadow_bytes(const kvmi_shadow *s) {
        return s->bcap * sizeof(kvmi_shadow_block) + s->cap * sizeof(uint64_t);
}

/* Random settings of a few blocks' gfns against a plain array: pages move between the tables. */
static void test_shadow_model(void) {
        enum { GFNS = KVMI_SHADOW_BLOCK_GFNS * 20 };
        static uint8_t model[GFNS];
        kvmi_shadow s = { .max = 0 };
        memset(model, 7, sizeof(model));
        uint64_t x = 88172645463325252ull;
        bool ok = true;
        size_t blocks_seen = 0, pages_seen = 0;
        for (size_t step = 0; step < 400000 && ok; step++) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                /* mostly few pages a block (the page table), sometimes many (block slots) */
                uint64_t gfn = step % 50000 < 25000 ? (x >> 8) % GFNS
                                                    : ((x >> 8) % 20) * KVMI_SHADOW_BLOCK_GFNS + (x >> 32) % 12;
                uint8_t a = (uint8_t) ((x >> 40) % 9 < 3 ? 7 : (x >> 44) % 7);
                ok = kvmi_shadow_set(&s, gfn, a) == 0;
                model[gfn] = a;
                if (step % 997 == 0) {
                        size_t n = 0, by[8] = { 0 };
                        for (size_t g = 0; g < GFNS; g++) {
                                ok = ok && kvmi_shadow_get(&s, g) == model[g];
                                n += model[g] != 7;
                                by[model[g]]++;
                        }
                        ok = ok && s.n == n && s.nslots + 0 <= n;
                        for (int i = 0; i < 7; i++)
                                ok = ok && s.by_access[i] == by[i];
                        size_t pos = 0, walked = 0;
                        uint64_t g;
                        uint8_t acc;
                        while (kvmi_shadow_next(&s, &pos, &g, &acc) > 0)
                                ok = ok && g < GFNS && model[g] == acc && ++walked <= n;
                        ok = ok && walked == n;
                        /* at most 16 bytes a page in use: a block slot holds 8 pages or more, and counts them */
                        for (size_t i = 0; i < s.bcap; i++)
                                if (s.blocks[i].key) {
                                        int pages = 0;
                                        for (unsigned j = 0; j < KVMI_SHADOW_BLOCK_GFNS; j++)
                                                pages += (s.blocks[i].field[j / 21] >> (j % 21 * 3) & 7) != 7;
                                        ok = ok && pages >= KVMI_SHADOW_BLOCK_MIN &&
                                             (uint64_t) pages == s.blocks[i].key >> KVMI_SHADOW_COUNT_SHIFT;
                                }
                        blocks_seen += s.nblocks > 0;
                        pages_seen += s.nslots > 0;
                }
        }
        tap_ok(ok, "400000 random settings read back as a plain array holds them (get, n, by_access, the walk)");
        tap_ok(blocks_seen > 0 && pages_seen > 0, "both tables were used (%zu, %zu checks)", blocks_seen, pages_seen);
        for (size_t g = 0; g < GFNS; g++)
                kvmi_shadow_set(&s, g, 7);
        tap_ok(s.n == 0 && s.nblocks == 0 && s.nslots == 0, "all forgotten: both tables empty");
        kvmi_shadow_clear(&s);
}

/* A batch recorded message by message after kvmi_shadow_reserve(), then settled. */
static void test_shadow_batch(void) {
        enum { DENSE = 200000, SPARSE = 1000, N = DENSE + SPARSE };
        kvmi_page_access_entry *e = calloc(N, sizeof(*e));
        /* scattered over 1M gfns as bench-kvmi does, then pages alone in blocks far away */
        for (size_t i = 0; i < DENSE; i++)
                e[i] = (kvmi_page_access_entry) { .gpa = (uint64_t) ((i * 2654435761u) % (1u << 20)) << 12,
                                                  .access = (uint8_t) (i % 7) };
        for (size_t i = 0; i < SPARSE; i++)
                e[DENSE + i] = (kvmi_page_access_entry) { .gpa = ((UINT64_C(1) << 30) + i * KVMI_SHADOW_BLOCK_GFNS) << 12,
                                                          .access = 1 };
        kvmi_shadow s = { .max = 0 };
        tap_is_int(kvmi_shadow_reserve(&s, N), 0, "reserve for a batch of %d", N);
        size_t failed = 0, first = 0;
        for (size_t at = 0; at < N; at += 511)
                failed += kvmi_shadow_record(&s, e + at, N - at < 511 ? N - at : 511, &first);
        tap_is_int(failed, 0, "recorded message by message");
        tap_ok(s.nslots == 0 && s.underfull >= SPARSE, "the batch's pages went to block slots at once (%zu short)",
               s.underfull);
        kvmi_shadow_settle(&s);
        tap_ok(s.underfull == 0 && s.nslots == SPARSE, "settled: the lone pages moved to the page table");
        bool ok = true;
        for (size_t i = 0; i < s.bcap; i++)
                ok = ok && (!s.blocks[i].key || s.blocks[i].key >> KVMI_SHADOW_COUNT_SHIFT >= KVMI_SHADOW_BLOCK_MIN);
        tap_ok(ok, "no block slot holds fewer than 8 pages");
        ok = true;
        /* the permutation visits each gfn once: no entry is overridden */
        for (size_t i = 0; i < N; i++)
                ok = ok && kvmi_shadow_get(&s, e[i].gpa >> 12) == e[i].access;
        tap_ok(ok, "every page reads back");
        tap_is_int(s.n, N, "n counts them");
        kvmi_shadow_settle(&s);
        tap_is_int(s.n, N, "settling again changes nothing");
        kvmi_shadow_clear(&s);
        free(e);
}

/*
 * Batches always one queued behind the one recorded (a client that never lets the queue empty),
 * each page alone in its block: the block slots each batch takes for them go back to the page
 * table when that batch ends, so the slots in use stay within 8 bytes a page plus 8 per entry of
 * the batches under way (16 and 16 in tables at most half full).
 */
static void test_shadow_queued(void) {
        enum { BATCHES = 40, N = 64 };
        kvmi_shadow s = { .max = 0 };
        static kvmi_page_access_entry e[BATCHES][N];
        for (size_t k = 0; k < BATCHES; k++)
                for (size_t i = 0; i < N; i++)
                        e[k][i] = (kvmi_page_access_entry) { .gpa = (uint64_t) (k * N + i) * KVMI_SHADOW_BLOCK_GFNS << 12,
                                                             .access = 1 };
        bool ok = kvmi_shadow_reserve(&s, N) == 0, within = true;
        size_t worst = 0, first = 0;
        for (size_t k = 0; k < BATCHES; k++) {
                bool queued = k + 1 < BATCHES;
                if (queued)
                        ok = ok && kvmi_shadow_reserve(&s, N) == 0;
                ok = ok && kvmi_shadow_record(&s, e[k], N, &first) == 0;
                kvmi_shadow_batch_done(&s, N);
                size_t used = s.nblocks * sizeof(kvmi_shadow_block) + s.nslots * sizeof(uint64_t);
                size_t bound = 8 * s.n + 8 * (queued ? N : 0);
                worst = used > worst ? used : worst;
                within = within && used <= bound && s.loose <= (queued ? N / KVMI_SHADOW_BLOCK_MIN : 0);
                if (used > bound)
                        tap_diag("after batch %zu: %zu bytes of slots in use for %zu pages, bound %zu", k, used, s.n,
                                 bound);
        }
        tap_ok(ok, "%d batches of %d scattered pages recorded, one always queued behind", BATCHES, N);
        tap_ok(within, "after each batch: slots in use within 8 bytes a page + 8 per queued entry (worst %zu)", worst);
        tap_ok(s.n == BATCHES * N && s.nblocks == 0 && s.underfull == 0 && s.reserved == 0,
               "all ended: the lone pages are in the page table, nothing reserved");
        bool back = true;
        for (size_t k = 0; k < BATCHES; k++)
                back = back && kvmi_shadow_get(&s, e[k][N - 1].gpa >> 12) == 1;
        tap_ok(back, "and read back");
        kvmi_shadow_clear(&s);
}

static void test_shadow(void) {
        kvmi_shadow s = { .max = 0 };
        tap_is_int(kvmi_shadow_get(&s, 5), 7, "empty shadow: rwx");
        size_t n = 1000000;
        bool ok = true;
        for (size_t i = 0; i < n; i++)
                ok = ok && kvmi_shadow_set(&s, i * 3, (uint8_t) (i % 7)) == 0;
        tap_ok(ok && s.n == n, "a million pages recorded");
        ok = true;
        for (size_t i = 0; i < n; i++)
                ok = ok && kvmi_shadow_get(&s, i * 3) == i % 7 && kvmi_shadow_get(&s, i * 3 + 1) == 7;
        tap_ok(ok, "each reads back; others are rwx");
        tap_ok(shadow_bytes(&s) <= n * 8, "a page in three: in blocks of 128 gfns, at most 8 bytes a page (%zu bytes)",
               shadow_bytes(&s));
        for (size_t i = 0; i < n; i += 2)
                kvmi_shadow_set(&s, i * 3, 7);
        tap_is_int(s.n, n / 2, "rwx forgets: half are gone");
        ok = true;
        for (size_t i = 0; i < n; i++)
                ok = ok && kvmi_shadow_get(&s, i * 3) == (i % 2 ? i % 7 : 7);
        tap_ok(ok, "deletion keeps every other entry findable");
        size_t pos = 0, walked = 0, sum = 0;
        uint64_t gfn;
        uint8_t acc;
        while (kvmi_shadow_next(&s, &pos, &gfn, &acc) > 0) {
                walked++;
                sum += s.by_access[acc] > 0;
        }
        tap_ok(walked == n / 2 && sum == walked, "the walk visits each recorded page once");
        size_t total = 0;
        for (int i = 0; i < 8; i++)
                total += s.by_access[i];
        tap_is_int(total, n / 2, "by_access counts add up");
        kvmi_shadow_clear(&s);

        /* one page every 128 gfns: no block fills, each page in the page table */
        ok = true;
        for (size_t i = 0; i < n; i++)
                ok = ok && kvmi_shadow_set(&s, i * 128 + i % 128, (uint8_t) (i % 7)) == 0;
        tap_ok(ok && s.nblocks == 0 && s.nslots == n, "scattered pages: a slot each");
        tap_ok(shadow_bytes(&s) <= n * 32, "at most 32 bytes a page (%zu bytes)", shadow_bytes(&s));
        ok = true;
        for (size_t i = 0; i < n; i++)
                ok = ok && kvmi_shadow_get(&s, i * 128 + i % 128) == i % 7 &&
                     kvmi_shadow_get(&s, i * 128 + (i + 1) % 128) == 7;
        tap_ok(ok, "each reads back");

        /* a reserved shadow takes a dense batch that many more without growing, and holds it right */
        size_t before = s.n;
        tap_is_int(kvmi_shadow_reserve(&s, 640000), 0, "reserve room for 640000 dense pages (5000 blocks)");
        size_t bcap = s.bcap, cap = s.cap;
        tap_ok(bcap >= 2 * 5000, "the block table is at most half full with them (%zu slots)", bcap);
        ok = true;
        for (uint64_t i = 0; i < 640000; i++) {
                kvmi_shadow_prefetch(&s, (UINT64_C(1) << 40) + i);
                ok = ok && kvmi_shadow_set(&s, (UINT64_C(1) << 40) + i, (uint8_t) (i % 7)) == 0;
        }
        tap_ok(ok && s.bcap == bcap && s.cap == cap && s.n == before + 640000 && s.nblocks == 5000,
               "recorded without growing, in 5000 blocks");
        ok = true;
        for (uint64_t i = 0; i < 640000; i++)
                ok = ok && kvmi_shadow_get(&s, (UINT64_C(1) << 40) + i) == i % 7;
        tap_ok(ok, "and each reads back");
        tap_is_int(kvmi_shadow_reserve(&s, 640000), 0, "reserving what it holds");
        tap_ok(s.bcap == bcap && s.cap == cap, "adds nothing (a batch re-applying them needs no room)");
        kvmi_shadow_clear(&s);
        tap_ok(s.n == 0 && kvmi_shadow_get(&s, 3) == 7, "clear");
        s.max = 2;
        tap_is_int(kvmi_shadow_reserve(&s, 1000000), 0, "reserve beyond the maximum");
        tap_ok(s.cap <= 1024 && s.bcap <= 1024, "takes no more than the maximum needs (%zu, %zu slots)", s.cap, s.bcap);
        kvmi_shadow_set(&s, 1, 0);
        kvmi_shadow_set(&s, 2, 0);
        tap_is_int(kvmi_shadow_set(&s, 3, 0), -ENOSPC, "the limit holds");
        tap_is_int(kvmi_shadow_set(&s, 2, 1), 0, "changing a recorded page is fine at the limit");
        tap_is_int(kvmi_shadow_set(&s, KVMI_SHADOW_MAX_GFN + 1, 0), -ERANGE, "gfn out of range");
        kvmi_shadow_clear(&s);
        /* the limit in a block slot too */
        s.max = 9;
        for (uint64_t g = 0; g < 9; g++)
                kvmi_shadow_set(&s, g, 1);
        tap_ok(s.nblocks == 1 && s.n == 9, "nine pages of one block: a block slot");
        tap_is_int(kvmi_shadow_set(&s, 9, 0), -ENOSPC, "the limit holds in a block");
        tap_is_int(kvmi_shadow_set(&s, 4, 7), 0, "forgetting one");
        tap_is_int(kvmi_shadow_set(&s, 9, 0), 0, "makes room for another");
        kvmi_shadow_clear(&s);
}

static policy *load(const char *text, policy_error *err) {
        policy *p = policy_new();
        if (policy_load_text(p, "t.json", text, strlen(text), err) < 0) {
                policy_free(p);
                return NULL;
        }
        return p;
}

static void test_policy(void) {
        policy_error err;
        policy *p = load("{\"version\":1,\"rules\":[{\"name\":\"k\",\"kvmi\":{\"gpa\":[\"0-0xfffff\",\"0x200000-3145727\"],"
                         "\"access\":\"rw\",\"max_entries\":4}}]}",
                         &err);
        tap_ok(p != NULL, "a kvmi section loads");
        if (!p)
                return;
        const policy_rule *r = &p->rules[0];
        tap_ok(r->kvmi.present && r->kvmi.n_ranges == 2 && r->kvmi.ranges[1].lo == 0x200000 &&
                       r->kvmi.ranges[1].hi == 3145727 && r->kvmi.access == 3 && r->kvmi.max_entries == 4 &&
                       r->kvmi.require_key,
               "ranges, access, max_entries; require_key defaults to true");
        policy_decision d = { 0 };
        kvmi_page_access_entry e[5] = { { .gpa = 0x1000, .access = 1 }, { .gpa = 0xff000 }, { .gpa = 0x200000 } };
        kvmi_entries_check(r, e, 3, &d);
        tap_ok(d.allowed, "entries inside the ranges are allowed (%s)", d.reason);
        e[1].gpa = 0x100000;
        kvmi_entries_check(r, e, 3, &d);
        tap_ok(!d.allowed, "a page outside the ranges is denied");
        tap_has_str(d.reason, "entry 1: page of gpa 0x100000", "naming the entry");
        e[1].gpa = 0xfffff; /* the page 0xff000-0xfffff is inside */
        e[2].access = 4;
        kvmi_entries_check(r, e, 3, &d);
        tap_has_str(d.reason, "entry 2: access '--x' has bits outside the rule's kvmi access 'rw-'", "access bits");
        kvmi_entries_check(r, e, 5, &d);
        tap_has_str(d.reason, "5 entries exceed the rule's kvmi max_entries 4", "max_entries");

        json_value *args = NULL;
        json_parse_error je;
        const char *a = "{\"entries\":[[4096,\"r\"],[\"0x2000\",\"r\"]]}";
        json_parse(a, strlen(a), false, &args, &je);
        char msg[256];
        policy_subject s = { .cgroup = "/pod" };
#define kvmi_spa_check(r, args, d, msg, size) policy_decide(p, &s, "kvmi.set-page-access", args, d, msg, size, NULL, NULL)
#define kvmi_attach_check(r, args, d, msg, size) policy_decide(p, &s, "kvmi.attach", args, d, msg, size, NULL, NULL)
        tap_is_int(kvmi_spa_check(r, args, &d, msg, sizeof(msg)), 0, "kvmi.set-page-access inline args check");
        tap_ok(d.allowed, "and are allowed");
        json_free(args);
        a = "{\"entries\":[[4096,\"r\"]],\"memfd\":0}";
        json_parse(a, strlen(a), false, &args, &je);
        tap_is_int(kvmi_spa_check(r, args, &d, msg, sizeof(msg)), -EINVAL, "entries and memfd together: -EINVAL");
        json_free(args);
        a = "{\"entries\":[[-1,\"r\"]]}";
        json_parse(a, strlen(a), false, &args, &je);
        tap_is_int(kvmi_spa_check(r, args, &d, msg, sizeof(msg)), -EINVAL, "a negative gpa: -EINVAL");
        tap_has_str(msg, "entry 0: GPA must be", "says which entry");
        json_free(args);
        a = "{\"keyed\":false}";
        json_parse(a, strlen(a), false, &args, &je);
        kvmi_attach_check(r, args, &d, msg, sizeof(msg));
        tap_ok(!d.allowed, "unkeyed attach under require_key is denied");
        json_free(args);
#undef kvmi_spa_check
#undef kvmi_attach_check
        policy_free(p);

        static const struct {
                const char *kvmi, *want;
        } bad[] = {
                { "{}", "kvmi section needs \"gpa\"" },
                { "{\"gpa\":[\"5-4\"]}", "kvmi gpa range must be" },
                { "{\"gpa\":[]}", "kvmi gpa must list 1-256 ranges" },
                { "{\"gpa\":\"0-1\",\"access\":\"rwq\"}", "kvmi access must be" },
                { "{\"gpa\":\"0-1\",\"max_entries\":0}", "kvmi max_entries must be 1-16777216" },
                { "{\"gpa\":\"0-1\",\"require_key\":1}", "kvmi require_key must be true or false" },
                { "{\"gpa\":\"0-1\",\"ranges\":1}", "unknown kvmi key 'ranges'" },
                { "[]", "\"kvmi\" must be an object" },
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                char text[256];
                snprintf(text, sizeof(text), "{\"version\":1,\"rules\":[{\"name\":\"k\",\"kvmi\":%s}]}", bad[i].kvmi);
                p = load(text, &err);
                tap_ok(!p, "kvmi %s is refused", bad[i].kvmi);
                tap_has_str(err.message, bad[i].want, "  with '%s'", bad[i].want);
                policy_free(p);
        }
}

int main(void) {
        test_messages();
        test_replies();
        test_hello();
        test_memfd_decode();
        test_access();
        test_shadow();
        test_shadow_model();
        test_shadow_batch();
        test_shadow_queued();
        test_policy();
        return tap_done();
}
