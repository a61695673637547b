/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * kvmi-proto.h - the KVMI v12 wire format (DESIGN.md §7), byte for byte:
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

/* Message ids of VM commands: the command number shifted left by one. */
#define KVMI_GET_VERSION 2
#define KVMI_VM_CHECK_COMMAND 4
#define KVMI_VM_GET_INFO 8
#define KVMI_VM_SET_PAGE_ACCESS 20

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
/* The kernel's "function not implemented" in KVMI replies. */
#define KVMI_KVM_ENOSYS 1000

/* QEMU's hello: 104 fixed bytes, then e820_count entries of 24 bytes. */
#define KVMI_HELLO_FIXED 104
#define KVMI_HELLO_E820_SIZE 24
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

typedef struct kvmi_get_version_reply {
        uint32_t version;
        uint32_t max_msg_size;
} kvmi_get_version_reply;

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
_Static_assert(sizeof(kvmi_page_access_entry) == 16, "kvmi_page_access_entry");
_Static_assert(sizeof(kvmi_vm_set_page_access) == 8, "kvmi_vm_set_page_access");
_Static_assert(8 + KVMI_PAGE_ACCESS_MAX_ENTRIES * 16 <= KVMI_MAX_MSG_SIZE, "511 entries fit one message");

typedef struct kvmi_e820_entry {
        uint64_t address;
        uint64_t length;
        uint32_t type;
} kvmi_e820_entry;

/* The parsed hello (what the broker keeps of it). */
typedef struct kvmi_hello {
        uint32_t struct_size;
        uint8_t uuid[16];
        uint8_t cpu_type; /* 0 i386, 1 x86_64, 255 unknown */
        int64_t start_time;
        char name[KVMI_HELLO_NAME_SIZE + 1]; /* NUL-terminated copy */
        uint8_t e820_count;
        kvmi_e820_entry e820[255];
} kvmi_hello;

/**
 * kvmi_build_msg() - write a header (@id, @seq, @payload_len) and @payload
 * to @buf, which holds at least KVMI_HDR_SIZE + @payload_len bytes.
 * Returns the message length, or -EMSGSIZE when @payload_len exceeds
 * KVMI_MAX_MSG_SIZE.
 */
int kvmi_build_msg(void *buf, uint16_t id, uint32_t seq, const void *payload, size_t payload_len);

/**
 * kvmi_build_set_page_access() - a KVMI_VM_SET_PAGE_ACCESS message of the
 * @n entries at @e into @buf (at least KVMI_HDR_SIZE + KVMI_MAX_MSG_SIZE
 * bytes).  Padding is written as zero whatever @e holds.
 * Returns the length, or -EINVAL when @n is 0 or above 511.
 */
int kvmi_build_set_page_access(void *buf, uint32_t seq, const kvmi_page_access_entry *e, size_t n);

/**
 * kvmi_parse_reply() - check a reply's payload (the @len bytes after its
 * header): at least the 8-byte error code; when err is 0, exactly
 * @data_len bytes of data follow (copied to @data, may be NULL when 0).
 * Returns 0 with *ret_err set (0 or the peer's negative errno), or -EPROTO
 * for a malformed reply.
 */
int kvmi_parse_reply(const void *payload, size_t len, int32_t *ret_err, void *data, size_t data_len);

/**
 * kvmi_hello_parse() - parse the first @len bytes of a hello whose
 * struct_size is *(u32 *)@buf.  @len is min(struct_size, what the caller
 * kept); bytes past the e820 table are ignored.  Returns 0, or -EPROTO with
 * @msg saying why (struct_size smaller than 104 + 24 * e820_count, name not
 * NUL-terminated).
 */
int kvmi_hello_parse(const void *buf, size_t len, kvmi_hello *ret, char *msg, size_t size);

/* Build a hello (as QEMU sends it) into @buf (>= 104 + 24 * n); returns its length. */
size_t kvmi_hello_build(void *buf, const uint8_t uuid[16], uint8_t cpu_type, int64_t start_time, const char *name,
                        const kvmi_e820_entry *e820, uint8_t n);

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
