/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * kvmi-proto.h - the KVMI v12 wire format (the kvmi.* operations of delegate-protocol(7)), byte for byte:
 * QEMU's introspection handshake, the message header, the commands the
 * broker uses, and their replies.  Shared by the broker (tool side), the
 * simulated peer of the tests (QEMU + kernel side) and the unit tests.
 *
 * Everything is in host byte order, as the kernel and QEMU use it.  Nothing
 * here does I/O except kvmi_sha1() (a library call, no fds).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

/* Message ids of VM commands: the command number shifted left by one. */
#define KVMI_GET_VERSION 2
#define KVMI_VM_CHECK_COMMAND 4
#define KVMI_VM_CHECK_EVENT 6
#define KVMI_VM_GET_INFO 8
#define KVMI_VM_CONTROL_EVENTS 10
#define KVMI_VM_SET_PAGE_ACCESS 20
/* Message id of the kernel's VM events (KVMI_VM_EVENT); no reply is expected. */
#define KVMI_VM_EVENT 0
/* VM event ids (in struct kvmi_event_hdr): the event id shifted left by one. */
#define KVMI_VM_EVENT_UNHOOK 0

#define KVMI_VERSION 1
/* Largest payload after the header: 4096 * 2 - 8. */
#define KVMI_MAX_MSG_SIZE (4096 * 2 - 8)
#define KVMI_HDR_SIZE 8
/* Entries one SET_PAGE_ACCESS message holds: (8184 - 8) / 16. */
#define KVMI_PAGE_ACCESS_MAX_ENTRIES 511

#define KVMI_PAGE_ACCESS_R 1
#define KVMI_PAGE_ACCESS_W 2
#define KVMI_PAGE_ACCESS_X 4
#define KVMI_PAGE_ACCESS_RWX 7

#define KVMI_PAGE_SHIFT 12
/* The kernel's error codes in KVMI replies (negated): KVM_ENOSYS is its own,
 * the others are the host's errno values. */
#define KVMI_KVM_ENOSYS 1000
#define KVMI_KVM_EPERM 1
#define KVMI_KVM_ENOENT 2

/* QEMU's hello (kvmi-v12 vmi-handshake.h): 104 bytes today, later fields appended. */
#define KVMI_HELLO_FIXED 104
#define KVMI_HELLO_NAME_SIZE 64
/* The tool's answer: u32 struct_size + 20-byte SHA-1 cookie hash. */
#define KVMI_HELLO_REPLY_SIZE 24
#define KVMI_COOKIE_HASH_SIZE 20
/* The most we read of a hello whose struct_size is larger than we know. */
#define KVMI_HELLO_MAX_SIZE (1024 * 1024)

typedef struct kvmi_msg_hdr {
        uint16_t id;
        uint16_t size; /* bytes after the header */
        uint32_t seq;
} kvmi_msg_hdr;

typedef struct kvmi_error_code {
        int32_t err; /* 0 or a negative errno */
        uint32_t padding;
} kvmi_error_code;

typedef struct kvmi_features {
        uint8_t singlestep;
        uint8_t padding[7];
} kvmi_features;

/* v12's reply: 16 bytes of data after the error code. */
typedef struct kvmi_get_version_reply {
        uint32_t version;
        uint32_t max_msg_size;
        kvmi_features features;
} kvmi_get_version_reply;

typedef struct kvmi_vm_control_events {
        uint16_t event_id;
        uint8_t enable;
        uint8_t padding1;
        uint32_t padding2;
} kvmi_vm_control_events;

/* The data of a KVMI_VM_EVENT message. */
typedef struct kvmi_event_hdr {
        uint16_t event;
        uint16_t padding[3];
} kvmi_event_hdr;

typedef struct kvmi_vm_check_command {
        uint16_t id;
        uint16_t padding1;
        uint32_t padding2;
} kvmi_vm_check_command;

typedef struct kvmi_vm_get_info_reply {
        uint32_t vcpu_count;
        uint32_t padding[3];
} kvmi_vm_get_info_reply;

typedef struct kvmi_page_access_entry {
        uint64_t gpa;
        uint8_t access;
        uint8_t padding[7];
} kvmi_page_access_entry;

typedef struct kvmi_vm_set_page_access {
        uint16_t count;
        uint16_t padding1;
        uint32_t padding2;
        /* kvmi_page_access_entry entries[count]; */
} kvmi_vm_set_page_access;

_Static_assert(sizeof(kvmi_msg_hdr) == KVMI_HDR_SIZE, "kvmi_msg_hdr");
_Static_assert(sizeof(kvmi_get_version_reply) == 16, "kvmi_get_version_reply");
_Static_assert(sizeof(kvmi_vm_control_events) == 8, "kvmi_vm_control_events");
_Static_assert(sizeof(kvmi_event_hdr) == 8, "kvmi_event_hdr");
_Static_assert(sizeof(kvmi_page_access_entry) == 16, "kvmi_page_access_entry");
_Static_assert(sizeof(kvmi_vm_set_page_access) == 8, "kvmi_vm_set_page_access");
_Static_assert(8 + KVMI_PAGE_ACCESS_MAX_ENTRIES * 16 <= KVMI_MAX_MSG_SIZE, "511 entries fit one message");

/* The access byte inside an entry's second 8 bytes (access, then 7 bytes of padding), host byte order. */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define KVMI_ENTRY_ACCESS_BITS UINT64_C(0x7)
#else
#define KVMI_ENTRY_ACCESS_BITS (UINT64_C(0x7) << 56)
#endif

/* An entry as the memfd may hold it: access within rwx and its padding zero (one 8-byte load). */
static inline bool kvmi_entry_valid(const kvmi_page_access_entry *e) {
        uint64_t w;
        memcpy(&w, &e->access, sizeof(w));
        return (w & ~KVMI_ENTRY_ACCESS_BITS) == 0;
}

/* The memfd's size: a positive multiple of 16 bytes.  0, or -EINVAL with @msg. */
int kvmi_memfd_size_check(size_t len, char *msg, size_t size);
/* Why entry @i (@e, not kvmi_entry_valid()) is refused: -EINVAL with @msg ("memfd entry N: why"). */
int kvmi_memfd_entry_invalid(const kvmi_page_access_entry *e, size_t i, char *msg, size_t size);

/**
 * kvmi_memfd_decode() - the packed entries of kvmi.set-page-access's memfd
 * (@len bytes at @buf, 8-byte aligned: a mapping) as entries: a positive
 * multiple of 16 bytes, each entry's access within rwx and its padding zero.
 * Returns the number of entries (kvmi_page_access_entry, at @buf), or
 * -EINVAL with @msg naming the first bad entry ("memfd entry N: why").  Pure.
 * (The broker checks the entries against its rule in the same pass:
 * kvmi_memfd_check() of engine/ops-kvmi.h.)
 */
ssize_t kvmi_memfd_decode(const void *buf, size_t len, char *msg, size_t size);

/* The parsed hello (what the broker keeps of it). */
typedef struct kvmi_hello {
        uint32_t struct_size;
        uint8_t uuid[16];
        int64_t start_time;
        char name[KVMI_HELLO_NAME_SIZE + 1]; /* NUL-terminated copy */
        uint64_t max_gpa; /* end of the highest E820 RAM entry; 0: QEMU did not say */
} kvmi_hello;

/**
 * kvmi_build_msg() - write a header (@id, @seq, @payload_len) and @payload
 * to @buf, which holds at least KVMI_HDR_SIZE + @payload_len bytes.
 * Returns the message length, or -EMSGSIZE when @payload_len exceeds
 * KVMI_MAX_MSG_SIZE.
 */
int kvmi_build_msg(void *buf, uint16_t id, uint32_t seq, const void *payload, size_t payload_len);

/* What a KVMI_VM_SET_PAGE_ACCESS message holds before its entries: the header and the count. */
#define KVMI_PAGE_ACCESS_HEAD_SIZE (KVMI_HDR_SIZE + 8)

/**
 * kvmi_set_page_access_head() - the first KVMI_PAGE_ACCESS_HEAD_SIZE bytes
 * of a KVMI_VM_SET_PAGE_ACCESS message of @n entries into @buf: its
 * header (size counting the entries) and the command's count and zero
 * padding.  The @n entries follow as kvmi_page_access_entry, 16 bytes
 * each with zero padding: the channel sends them from where they are (a
 * sealed memfd whose padding was checked, or entries it built zeroed).
 * Returns KVMI_PAGE_ACCESS_HEAD_SIZE, or -EINVAL when @n is 0 or above 511.
 */
int kvmi_set_page_access_head(void *buf, uint32_t seq, size_t n);

/**
 * kvmi_parse_reply() - check a reply's payload (the @len bytes after its
 * header): at least the 8-byte error code; when err is 0, at least
 * @data_len bytes of data follow (copied to @data, may be NULL when 0;
 * bytes a newer kernel appends are ignored).
 * Returns 0 with *ret_err set (0 or the peer's negative errno), or -EPROTO
 * for a malformed reply.
 */
int kvmi_parse_reply(const void *payload, size_t len, int32_t *ret_err, void *data, size_t data_len);

/**
 * kvmi_hello_parse() - parse the first @len bytes of a hello whose
 * struct_size is *(u32 *)@buf: { u32 struct_size; u8 uuid[16]; u32 padding;
 * s64 start_time; char name[64]; u64 max_gpa; } and whatever later QEMUs
 * append (ignored).  Returns 0, or -EPROTO with @msg saying why (fewer than
 * 104 bytes, name not NUL-terminated).
 */
int kvmi_hello_parse(const void *buf, size_t len, kvmi_hello *ret, char *msg, size_t size);

/**
 * kvmi_sha1() - SHA-1 of @len bytes at @data into @ret (20 bytes), with
 * nettle (the kernel's AF_ALG is not available everywhere: containers and
 * seccomp profiles often refuse the socket family).
 */
void kvmi_sha1(const void *data, size_t len, uint8_t ret[KVMI_COOKIE_HASH_SIZE]);

/* The hello reply: struct_size 24 and SHA-1 of @secret (zeros when NULL). */
void kvmi_hello_reply_build(uint8_t buf[KVMI_HELLO_REPLY_SIZE], const char *secret);

/**
 * kvmi_access_parse() - "rwx", "r-x", "rw", "---", "" (letters r, w, x and
 * '-' in any order, each letter at most once).  Returns the bits, or
 * -EINVAL.
 */
int kvmi_access_parse(const char *s);
/* "rwx"-style, always three characters: "r-x"; @buf of at least 4. */
const char *kvmi_access_format(uint8_t access, char *buf);

/* "GET_VERSION", "SET_PAGE_ACCESS", ... for messages; "unknown" otherwise. */
const char *kvmi_msg_name(uint16_t id);
