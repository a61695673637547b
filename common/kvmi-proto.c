/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "kvmi-proto.h"

#include <errno.h>
#include <limits.h>
#include <nettle/sha1.h>
#include <stdio.h>
#include <string.h>

int kvmi_build_msg(void *buf, uint16_t id, uint32_t seq, const void *payload, size_t payload_len) {
        if (payload_len > KVMI_MAX_MSG_SIZE)
                return -EMSGSIZE;
        kvmi_msg_hdr h = { .id = id, .size = (uint16_t) payload_len, .seq = seq };
        memcpy(buf, &h, sizeof(h));
        if (payload_len)
                memcpy((uint8_t *) buf + sizeof(h), payload, payload_len);
        return (int) (sizeof(h) + payload_len);
}

int kvmi_set_page_access_head(void *buf, uint32_t seq, size_t n) {
        if (n == 0 || n > KVMI_PAGE_ACCESS_MAX_ENTRIES)
                return -EINVAL;
        size_t payload = sizeof(kvmi_vm_set_page_access) + n * sizeof(kvmi_page_access_entry);
        kvmi_msg_hdr h = { .id = KVMI_VM_SET_PAGE_ACCESS, .size = (uint16_t) payload, .seq = seq };
        kvmi_vm_set_page_access cmd = { .count = (uint16_t) n };
        memcpy(buf, &h, sizeof(h));
        memcpy((uint8_t *) buf + sizeof(h), &cmd, sizeof(cmd));
        return KVMI_PAGE_ACCESS_HEAD_SIZE;
}

int kvmi_parse_reply(const void *payload, size_t len, int32_t *ret_err, void *data, size_t data_len) {
        kvmi_error_code ec;
        if (len < sizeof(ec))
                return -EPROTO;
        memcpy(&ec, payload, sizeof(ec));
        if (ec.err > 0)
                return -EPROTO;
        if (ec.err == 0) {
                /* a newer kernel may append fields: at least what we know */
                if (len < sizeof(ec) + data_len)
                        return -EPROTO;
                if (data_len)
                        memcpy(data, (const uint8_t *) payload + sizeof(ec), data_len);
        } else if (len != sizeof(ec))
                return -EPROTO;
        *ret_err = ec.err;
        return 0;
}

int kvmi_hello_parse(const void *buf, size_t len, kvmi_hello *ret, char *msg, size_t size) {
        const uint8_t *p = buf;
        if (len < KVMI_HELLO_FIXED) {
                snprintf(msg, size, "hello of %zu bytes is shorter than the %d bytes of QEMU's v12 hello", len,
                         KVMI_HELLO_FIXED);
                return -EPROTO;
        }
        memset(ret, 0, sizeof(*ret));
        /* u32 struct_size; u8 uuid[16]; u32 padding; s64 start_time; char name[64]; u64 max_gpa */
        memcpy(&ret->struct_size, p, 4);
        memcpy(ret->uuid, p + 4, 16);
        memcpy(&ret->start_time, p + 24, 8);
        if (!memchr(p + 32, 0, KVMI_HELLO_NAME_SIZE)) {
                snprintf(msg, size, "the VM name in the hello is not NUL-terminated");
                return -EPROTO;
        }
        memcpy(ret->name, p + 32, KVMI_HELLO_NAME_SIZE);
        memcpy(&ret->max_gpa, p + 96, 8);
        return 0;
}

void kvmi_sha1(const void *data, size_t len, uint8_t ret[KVMI_COOKIE_HASH_SIZE]) {
        struct sha1_ctx ctx;
        sha1_init(&ctx);
        sha1_update(&ctx, len, data);
        sha1_digest(&ctx, KVMI_COOKIE_HASH_SIZE, ret);
        explicit_bzero(&ctx, sizeof(ctx));
}

void kvmi_hello_reply_build(uint8_t buf[KVMI_HELLO_REPLY_SIZE], const char *secret) {
        uint32_t size = KVMI_HELLO_REPLY_SIZE;
        memset(buf, 0, KVMI_HELLO_REPLY_SIZE);
        memcpy(buf, &size, 4);
        if (secret)
                kvmi_sha1(secret, strlen(secret), buf + 4);
}

int kvmi_access_parse(const char *s) {
        int bits = 0;
        if (strlen(s) > 3)
                return -EINVAL;
        for (; *s; s++) {
                int b = *s == 'r' ? KVMI_PAGE_ACCESS_R : *s == 'w' ? KVMI_PAGE_ACCESS_W : *s == 'x' ? KVMI_PAGE_ACCESS_X : 0;
                if (*s == '-')
                        continue;
                if (!b || (bits & b))
                        return -EINVAL;
                bits |= b;
        }
        return bits;
}

const char *kvmi_access_format(uint8_t a, char *buf) {
        buf[0] = a & KVMI_PAGE_ACCESS_R ? 'r' : '-';
        buf[1] = a & KVMI_PAGE_ACCESS_W ? 'w' : '-';
        buf[2] = a & KVMI_PAGE_ACCESS_X ? 'x' : '-';
        buf[3] = 0;
        return buf;
}

const char *kvmi_msg_name(uint16_t id) {
        switch (id) {
        case KVMI_GET_VERSION:
                return "GET_VERSION";
        case KVMI_VM_CHECK_COMMAND:
                return "VM_CHECK_COMMAND";
        case KVMI_VM_CHECK_EVENT:
                return "VM_CHECK_EVENT";
        case KVMI_VM_GET_INFO:
                return "VM_GET_INFO";
        case KVMI_VM_CONTROL_EVENTS:
                return "VM_CONTROL_EVENTS";
        case KVMI_VM_SET_PAGE_ACCESS:
                return "VM_SET_PAGE_ACCESS";
        default:
                return "unknown";
        }
}

int kvmi_memfd_size_check(size_t len, char *msg, size_t size) {
        if (len == 0 || len % sizeof(kvmi_page_access_entry) || len / sizeof(kvmi_page_access_entry) > SSIZE_MAX)
                return snprintf(msg, size, "the memfd's size %zu is not a positive multiple of 16 bytes", len), -EINVAL;
        return 0;
}

int kvmi_memfd_entry_invalid(const kvmi_page_access_entry *e, size_t i, char *msg, size_t size) {
        const char *why = e->access > KVMI_PAGE_ACCESS_RWX ? "access has bits other than r, w, x" : "padding is not zero";
        return snprintf(msg, size, "memfd entry %zu: %s", i, why), -EINVAL;
}

ssize_t kvmi_memfd_decode(const void *buf, size_t len, char *msg, size_t size) {
        int r = kvmi_memfd_size_check(len, msg, size);
        if (r < 0)
                return r;
        const kvmi_page_access_entry *entries = buf;
        size_t n = len / sizeof(kvmi_page_access_entry);
        for (size_t i = 0; i < n; i++)
                if (!kvmi_entry_valid(&entries[i]))
                        return kvmi_memfd_entry_invalid(&entries[i], i, msg, size);
        return (ssize_t) n;
}
