/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * kvmi-peer - the simulated peer of the KVMI tests: plays QEMU (the
 * introspection hello and the cookie check) and then the kernel (KVMI v12
 * commands) on a connected stream socket, with the v12 rules of
 * DESIGN.md §7.  On end of stream it writes the guest's access map: one
 * byte per page (R=1 W=2 X=4; 7 = no restriction), and exits.
 *
 *   kvmi-peer --fd N --name VM --pages N --map PATH [--secret S]
 *             [--hello-extra BYTES] [--close-after MSGS] [--silent-after MSGS]
 *             [--version V]
 *
 * Exit status: 0 end of stream, 3 wrong cookie (connection closed),
 * 4 protocol violation that closes the connection (count larger than the
 * payload, size above 8184), 1 other errors.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kvmi-proto.h"

static int arg_fd = 3;
static const char *arg_name = "";
static uint64_t arg_pages = 1024;
static const char *arg_map = NULL;
static const char *arg_secret = NULL;
static size_t arg_hello_extra = 0;
static long arg_close_after = -1, arg_silent_after = -1;
static uint32_t arg_version = KVMI_VERSION;

static uint8_t *map;
static long spa_msgs;

static int read_all(int fd, void *buf, size_t n) {
        uint8_t *p = buf;
        while (n > 0) {
                ssize_t k = read(fd, p, n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        return k == 0 ? -EPIPE : -errno;
                p += k;
                n -= k;
        }
        return 0;
}

static int write_all(int fd, const void *buf, size_t n) {
        const uint8_t *p = buf;
        while (n > 0) {
                ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                p += k;
                n -= k;
        }
        return 0;
}

static void write_map(void) {
        if (!arg_map)
                return;
        char tmp[4096];
        snprintf(tmp, sizeof(tmp), "%s.tmp", arg_map);
        FILE *f = fopen(tmp, "we");
        if (!f || fwrite(map, 1, arg_pages, f) != arg_pages || fclose(f) != 0 || rename(tmp, arg_map) < 0)
                fprintf(stderr, "kvmi-peer: cannot write the map to %s: %m\n", arg_map);
}

static int reply(int fd, const kvmi_msg_hdr *h, int32_t err, const void *data, size_t len) {
        uint8_t buf[KVMI_HDR_SIZE + 8 + 64];
        kvmi_error_code ec = { .err = err };
        if (err)
                len = 0;
        kvmi_msg_hdr r = { .id = h->id, .size = (uint16_t) (sizeof(ec) + len), .seq = h->seq };
        memcpy(buf, &r, sizeof(r));
        memcpy(buf + sizeof(r), &ec, sizeof(ec));
        if (len)
                memcpy(buf + sizeof(r) + sizeof(ec), data, len);
        return write_all(fd, buf, sizeof(r) + sizeof(ec) + len);
}

/* SET_PAGE_ACCESS with the v12 rules; returns -1 to close without a reply. */
static int set_page_access(const uint8_t *p, size_t size, int32_t *ret_err) {
        kvmi_vm_set_page_access req;
        if (size < sizeof(req)) {
                *ret_err = -EINVAL;
                return 0;
        }
        memcpy(&req, p, sizeof(req));
        if (sizeof(req) + (size_t) req.count * sizeof(kvmi_page_access_entry) > size)
                return -1; /* the kernel treats this as a hard error */
        if (req.padding1 || req.padding2) {
                *ret_err = -EINVAL;
                return 0;
        }
        int32_t err = 0;
        for (size_t i = 0; i < req.count; i++) {
                kvmi_page_access_entry e;
                static const uint8_t zero[7];
                memcpy(&e, p + sizeof(req) + i * sizeof(e), sizeof(e));
                uint64_t gfn = e.gpa >> KVMI_PAGE_SHIFT;
                if ((e.access & ~KVMI_PAGE_ACCESS_RWX) || memcmp(e.padding, zero, sizeof(zero)) || gfn >= arg_pages) {
                        if (!err)
                                err = -EINVAL;
                        continue;
                }
                map[gfn] = e.access;
        }
        *ret_err = err;
        return 0;
}

static int serve(int fd) {
        static uint8_t payload[65536];
        for (;;) {
                kvmi_msg_hdr h;
                int r = read_all(fd, &h, sizeof(h));
                if (r == -EPIPE)
                        return 0;
                if (r < 0)
                        return 1;
                if (h.size > KVMI_MAX_MSG_SIZE) {
                        fprintf(stderr, "kvmi-peer: message size %u above %d: closing\n", h.size, KVMI_MAX_MSG_SIZE);
                        return 4;
                }
                if (read_all(fd, payload, h.size) < 0)
                        return 0;
                int32_t err = 0;
                switch (h.id) {
                case KVMI_GET_VERSION: {
                        kvmi_get_version_reply v = { .version = arg_version, .max_msg_size = KVMI_MAX_MSG_SIZE };
                        r = reply(fd, &h, 0, &v, sizeof(v));
                        break;
                }
                case KVMI_VM_CHECK_COMMAND: {
                        kvmi_vm_check_command c;
                        if (h.size != sizeof(c))
                                err = -EINVAL;
                        else {
                                memcpy(&c, payload, sizeof(c));
                                if (c.padding1 || c.padding2)
                                        err = -EINVAL;
                                else if (c.id != KVMI_GET_VERSION && c.id != KVMI_VM_CHECK_COMMAND &&
                                         c.id != KVMI_VM_GET_INFO && c.id != KVMI_VM_SET_PAGE_ACCESS)
                                        err = -KVMI_KVM_ENOSYS;
                        }
                        r = reply(fd, &h, err, NULL, 0);
                        break;
                }
                case KVMI_VM_GET_INFO: {
                        kvmi_vm_get_info_reply i = { .vcpu_count = 2 };
                        r = reply(fd, &h, 0, &i, sizeof(i));
                        break;
                }
                case KVMI_VM_SET_PAGE_ACCESS:
                        if (arg_close_after >= 0 && spa_msgs >= arg_close_after) {
                                fprintf(stderr, "kvmi-peer: closing after %ld SET_PAGE_ACCESS messages\n", spa_msgs);
                                return 0;
                        }
                        if (set_page_access(payload, h.size, &err) < 0) {
                                fprintf(stderr, "kvmi-peer: count larger than the payload: closing\n");
                                return 4;
                        }
                        spa_msgs++;
                        if (arg_silent_after >= 0 && spa_msgs > arg_silent_after)
                                continue; /* applied, never answered */
                        r = reply(fd, &h, err, NULL, 0);
                        break;
                default:
                        r = reply(fd, &h, -KVMI_KVM_ENOSYS, NULL, 0);
                }
                if (r < 0)
                        return 0;
        }
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                { "fd", required_argument, NULL, 'f' },          { "name", required_argument, NULL, 'n' },
                { "pages", required_argument, NULL, 'p' },       { "map", required_argument, NULL, 'm' },
                { "secret", required_argument, NULL, 's' },      { "hello-extra", required_argument, NULL, 'e' },
                { "close-after", required_argument, NULL, 'c' }, { "silent-after", required_argument, NULL, 'q' },
                { "version", required_argument, NULL, 'v' },     {},
        };
        int c;
        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0) {
                switch (c) {
                case 'f':
                        arg_fd = atoi(optarg);
                        break;
                case 'n':
                        arg_name = optarg;
                        break;
                case 'p':
                        arg_pages = strtoull(optarg, NULL, 0);
                        break;
                case 'm':
                        arg_map = optarg;
                        break;
                case 's':
                        arg_secret = optarg;
                        break;
                case 'e':
                        arg_hello_extra = strtoul(optarg, NULL, 0);
                        break;
                case 'c':
                        arg_close_after = atol(optarg);
                        break;
                case 'q':
                        arg_silent_after = atol(optarg);
                        break;
                case 'v':
                        arg_version = (uint32_t) atoi(optarg);
                        break;
                default:
                        return 1;
                }
        }
        map = malloc(arg_pages);
        if (!map)
                return 1;
        memset(map, KVMI_PAGE_ACCESS_RWX, arg_pages);

        /* QEMU's side: hello with one RAM e820 entry covering the guest */
        uint8_t uuid[16] = { 0x6b, 0x76, 0x6d, 0x69 };
        kvmi_e820_entry e820 = { .address = 0, .length = arg_pages << KVMI_PAGE_SHIFT, .type = 1 };
        size_t hello_len = KVMI_HELLO_FIXED + KVMI_HELLO_E820_SIZE + arg_hello_extra;
        uint8_t *hello = calloc(1, hello_len);
        if (!hello)
                return 1;
        kvmi_hello_build(hello, uuid, 1, 1700000000, arg_name, &e820, 1);
        uint32_t ss = (uint32_t) hello_len;
        memcpy(hello, &ss, 4);
        int w = write_all(arg_fd, hello, hello_len);
        free(hello);
        if (w < 0) {
                fprintf(stderr, "kvmi-peer: sending the hello failed: %s\n", strerror(-w));
                return 1;
        }
        uint8_t got[KVMI_HELLO_REPLY_SIZE], want[KVMI_HELLO_REPLY_SIZE];
        if (read_all(arg_fd, got, sizeof(got)) < 0) {
                fprintf(stderr, "kvmi-peer: no hello reply\n");
                write_map();
                return 1;
        }
        uint32_t rs;
        memcpy(&rs, got, 4);
        if (rs != KVMI_HELLO_REPLY_SIZE) {
                fprintf(stderr, "kvmi-peer: hello reply struct_size %u\n", rs);
                return 1;
        }
        if (arg_secret) {
                kvmi_hello_reply_build(want, arg_secret);
                if (memcmp(got + 4, want + 4, KVMI_COOKIE_HASH_SIZE)) {
                        fprintf(stderr, "kvmi-peer: wrong cookie hash: closing\n");
                        close(arg_fd);
                        return 3;
                }
        }
        /* the kernel's side from here on */
        int r = serve(arg_fd);
        close(arg_fd);
        write_map();
        fprintf(stderr, "kvmi-peer: %ld SET_PAGE_ACCESS messages served\n", spa_msgs);
        return r;
}
