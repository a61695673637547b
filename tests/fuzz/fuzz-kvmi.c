/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-kvmi.c - what the KVMI peer sends the broker (libdelegate/
 * kvmi-proto.c).  The first byte picks the phase:
 *   'H'  QEMU's introspection hello (u32 struct_size first), cut at what
 *        the broker keeps of it (the 104 bytes of the v12 layout);
 *   else a stream of kernel replies (8-byte header, payload), framed and
 *        read as broker-kvmi.c does: GET_VERSION and VM_GET_INFO carry
 *        data, every other command only its error code (a VM event is
 *        framed the same way).
 *
 * Seeds: tests/fuzz/corpus/kvmi (v12 hellos as the kvmi-v12 QEMU builds them, replies and events as
 * the kernel sends them).
 */
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "kvmi-proto.h"

#define HELLO_KEEP KVMI_HELLO_FIXED

static void hello(const uint8_t *p, size_t size) {
        uint32_t struct_size;
        if (size < 4)
                return;
        memcpy(&struct_size, p, 4);
        if (struct_size < KVMI_HELLO_FIXED || struct_size > KVMI_HELLO_MAX_SIZE)
                return; /* refused before parsing */
        size_t keep = struct_size < HELLO_KEEP ? struct_size : HELLO_KEEP;
        if (keep > size)
                return; /* the broker waits for the rest */
        kvmi_hello h;
        char msg[256];
        if (kvmi_hello_parse(p, keep, &h, msg, sizeof(msg)) == 0) {
                FUZZ_ASSERT(memchr(h.name, 0, sizeof(h.name)));
                FUZZ_ASSERT(h.struct_size >= KVMI_HELLO_FIXED);
                uint8_t reply[KVMI_HELLO_REPLY_SIZE];
                kvmi_hello_reply_build(reply, h.name);
        } else
                FUZZ_ASSERT(memchr(msg, 0, sizeof(msg)) && msg[0]);
}

static void replies(const uint8_t *p, size_t size) {
        size_t off = 0;
        while (size - off >= KVMI_HDR_SIZE) {
                kvmi_msg_hdr h;
                memcpy(&h, p + off, sizeof(h));
                if (h.size > KVMI_MAX_MSG_SIZE)
                        return; /* the broker drops the channel */
                if (size - off < KVMI_HDR_SIZE + (size_t) h.size)
                        return; /* incomplete: waits for more */
                const uint8_t *payload = p + off + KVMI_HDR_SIZE;
                int32_t err = 1;
                int r;
                kvmi_get_version_reply ver;
                kvmi_vm_get_info_reply info;
                switch (h.id) {
                case KVMI_GET_VERSION:
                        r = kvmi_parse_reply(payload, h.size, &err, &ver, sizeof(ver));
                        break;
                case KVMI_VM_GET_INFO:
                        r = kvmi_parse_reply(payload, h.size, &err, &info, sizeof(info));
                        break;
                default:
                        r = kvmi_parse_reply(payload, h.size, &err, NULL, 0);
                }
                FUZZ_ASSERT(r == 0 || r == -EPROTO);
                if (r == 0)
                        FUZZ_ASSERT(err <= 0);
                (void) kvmi_msg_name(h.id);
                off += KVMI_HDR_SIZE + h.size;
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size == 0)
                return 0;
        if (data[0] == 'H')
                hello(data + 1, size - 1);
        else
                replies(data + 1, size - 1);
        /* the access strings of kvmi.set-page-access, from the tail */
        char s[5] = {};
        memcpy(s, data + (size > 4 ? size - 4 : 0), size > 4 ? 4 : size);
        int bits = kvmi_access_parse(s);
        FUZZ_ASSERT(bits == -EINVAL || (bits >= 0 && bits <= KVMI_PAGE_ACCESS_RWX));
        return 0;
}
