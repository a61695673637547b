/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * kvmi-peer - a simulated QEMU (KVM-VMI's kvmi-v12 introspection object)
 * plus the kernel's side of KVMI v12, written from the texts alone
 * (kvmi.rst and the uapi of the v12 series, vmi.c's
 * behaviour).  It shares no header, struct or constant with libdelegate/
 * or broker/: every structure is encoded and decoded here, byte by byte,
 * so that it can disagree with the broker.
 *
 * As QEMU it is the client of a socket the tool listens on: it connects,
 * sends the 104-byte hello (plus --hello-extra appended bytes), reads the
 * 24-byte answer and checks the SHA-1 of the secret, "hooks" the socket
 * and grants the command permissions --eperm-ms later (until then the
 * kernel answers -KVM_EPERM).  After every drop it reconnects with a fresh
 * hello.  Signals play the guest's life: SIGUSR1 pause, SIGUSR2 resume,
 * SIGHUP reset, SIGTERM shutdown; pause and shutdown send the UNHOOK event
 * when the tool enabled it and wait for the tool to close, else unhook at
 * once.  Unhooking clears every page restriction, as the kernel does.
 *
 * Run as QEMU (argv[1] starts with '-'): it reads the introspection
 * options from a QEMU command line (-chardev socket,...,reconnect=N,
 * -object introspection,chardev=...,key=..., -object secret,file=...,
 * -name), forks itself as the introspection client and execs the real
 * QEMU ($DELEGATE_REAL_QEMU) with those options removed: Debian's QEMU has
 * no introspection object.  $KVMI_PEER_STATUS and $KVMI_PEER_MAP stand for
 * --status and --map there.
 *
 *   kvmi-peer --connect PATH --name VM [--pages N] [--map PREFIX]
 *             [--status FILE] [--secret S | --secret-file F]
 *             [--hello-extra N] [--reconnect-ms N] [--eperm-ms N] [--no-spa]
 *             [--old-version] [--deny-info] [--hole FIRST-END] [--delay-ms N]
 *             [--close-after N] [--silent-after N] [--answer-ahead N] [--connections N]
 *
 * --close-after N drops the first connection at its (N+1)th SET_PAGE_ACCESS
 * message; --silent-after N applies but never answers from the (N+1)th on;
 * --answer-ahead N answers, right after the first SET_PAGE_ACCESS message, the
 * N commands the tool will send after it (their seqs guessed: one more
 * each) before reading them, and does not answer them again (a kernel that
 * lies, or a tool that must not take an answer as proof that it sent a
 * message whole).
 *
 * --map PREFIX writes PREFIX.N when connection N ends: one byte per page
 * (R=1 W=2 X=4, 7 = no restriction), the kernel's state just before the
 * unhook cleared it.  --status FILE gets one line per event.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <nettle/sha1.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/close_range.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* From the v12 uapi and kvmi.rst (our own spelling). */
enum {
        MSG_VM_EVENT = 0,
        MSG_GET_VERSION = 1 << 1,
        MSG_CHECK_COMMAND = 2 << 1,
        MSG_CHECK_EVENT = 3 << 1,
        MSG_GET_INFO = 4 << 1,
        MSG_CONTROL_EVENTS = 5 << 1,
        MSG_SET_PAGE_ACCESS = 10 << 1,
        EV_UNHOOK = 0,
        K_EPERM = 1,
        K_ENOENT = 2,
        K_EINVAL = 22,
        K_ENOSYS = 1000,
        MAX_PAYLOAD = 4096 * 2 - 8,
        HELLO_SIZE = 104, /* u32 size; u8 uuid[16]; u32 pad; s64 start; char name[64]; u64 max_gpa */
        ANSWER_SIZE = 24, /* u32 size; u8 cookie_hash[20] */
};

static const char *arg_connect, *arg_name = "", *arg_map, *arg_status, *arg_secret;
static uint64_t arg_pages = 1024, arg_hole_first, arg_hole_end;
static size_t arg_hello_extra;
static long arg_reconnect_ms = 200, arg_eperm_ms, arg_delay_ms, arg_close_after = -1, arg_silent_after = -1,
            arg_connections = -1, arg_answer_ahead;
static uint32_t ahead_first, ahead_last; /* seqs answered ahead (none when equal) */
static bool arg_no_spa, arg_old_version, arg_deny_info;

static uint8_t *map;
static long conn_no, spa_msgs;
static uint32_t ev_seq = 1u << 31;

static void status(const char *fmt, ...) {
        if (!arg_status)
                return;
        FILE *f = fopen(arg_status, "ae");
        if (!f)
                return;
        va_list ap;
        va_start(ap, fmt);
        vfprintf(f, fmt, ap);
        va_end(ap);
        fputc('\n', f);
        fclose(f);
}

static int64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint16_t get16(const uint8_t *p) {
        uint16_t v;
        memcpy(&v, p, 2);
        return v;
}
static uint32_t get32(const uint8_t *p) {
        uint32_t v;
        memcpy(&v, p, 4);
        return v;
}
static uint64_t get64(const uint8_t *p) {
        uint64_t v;
        memcpy(&v, p, 8);
        return v;
}
static void put16(uint8_t *p, uint16_t v) {
        memcpy(p, &v, 2);
}
static void put32(uint8_t *p, uint32_t v) {
        memcpy(p, &v, 4);
}
static void put64(uint8_t *p, uint64_t v) {
        memcpy(p, &v, 8);
}

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

/* One message, one send (kvmi.rst: header and data with one sendmsg()). */
static int send_msg(int fd, const void *buf, size_t n) {
        ssize_t k = send(fd, buf, n, MSG_NOSIGNAL);
        return k == (ssize_t) n ? 0 : -EPIPE;
}

static void write_map(void) {
        if (!arg_map)
                return;
        char path[4096], tmp[4200];
        snprintf(path, sizeof(path), "%s.%ld", arg_map, conn_no);
        snprintf(tmp, sizeof(tmp), "%s.tmp", path);
        FILE *f = fopen(tmp, "we");
        if (!f || fwrite(map, 1, arg_pages, f) != arg_pages || fclose(f) != 0 || rename(tmp, path) < 0)
                fprintf(stderr, "kvmi-peer: cannot write the map to %s: %m\n", path);
}

/* --- the kernel --- */

typedef struct kernel {
        int fd;
        int64_t granted_at; /* permissions granted from then on */
        bool unhook_enabled;
} kernel;

static bool granted(const kernel *k) {
        return now_ms() >= k->granted_at;
}

/* A reply: header (same id and seq), s32 err, u32 padding, data only if err == 0. */
static int reply(int fd, const uint8_t *hdr, int32_t err, const uint8_t *data, size_t len) {
        uint8_t buf[8 + 8 + 64] = { 0 };
        if (err)
                len = 0;
        memcpy(buf, hdr, 2);
        put16(buf + 2, (uint16_t) (8 + len));
        memcpy(buf + 4, hdr + 4, 4);
        memcpy(buf + 8, &err, 4);
        if (len)
                memcpy(buf + 16, data, len);
        return send_msg(fd, buf, 16 + len);
}

static bool known_command(uint16_t id) {
        return id == MSG_GET_VERSION || id == MSG_CHECK_COMMAND || id == MSG_CHECK_EVENT || id == MSG_GET_INFO ||
               id == MSG_CONTROL_EVENTS || (id == MSG_SET_PAGE_ACCESS && !arg_no_spa);
}

static bool always_allowed(uint16_t id) {
        return id == MSG_GET_VERSION || id == MSG_CHECK_COMMAND || id == MSG_CHECK_EVENT;
}

static bool visible(uint64_t gfn) {
        return gfn < arg_pages && !(gfn >= arg_hole_first && gfn < arg_hole_end);
}

/* Returns 1 to close the connection without a reply (a count larger than the message). */
static int set_page_access(const uint8_t *p, size_t size, int32_t *ret_err) {
        if (size < 8) {
                *ret_err = -K_EINVAL;
                return 0;
        }
        uint16_t count = get16(p);
        if (8 + (size_t) count * 16 > size)
                return 1;
        if (get16(p + 2) || get32(p + 4)) {
                *ret_err = -K_EINVAL;
                return 0;
        }
        int32_t err = 0;
        for (size_t i = 0; i < count; i++) {
                const uint8_t *e = p + 8 + i * 16;
                uint64_t gfn = get64(e) >> 12;
                uint8_t access = e[8];
                bool pad = false;
                for (int k = 9; k < 16; k++)
                        pad |= e[k] != 0;
                if ((access & ~7) || pad || !visible(gfn)) {
                        if (!err)
                                err = -K_EINVAL;
                        continue;
                }
                map[gfn] = access;
        }
        *ret_err = err;
        return 0;
}

/* Serve one message; < 0 to drop the connection. */
static int kernel_serve(kernel *k) {
        static uint8_t payload[65536];
        uint8_t hdr[8];
        if (read_all(k->fd, hdr, 8) < 0)
                return -EPIPE;
        uint16_t id = get16(hdr), size = get16(hdr + 2);
        if (size > MAX_PAYLOAD) {
                status("violation %ld size %u", conn_no, size);
                return -EPROTO;
        }
        if (read_all(k->fd, payload, size) < 0)
                return -EPIPE;
        int32_t err = 0;
        uint8_t data[16] = { 0 };
        size_t len = 0;
        if (!known_command(id) && id != MSG_SET_PAGE_ACCESS)
                return reply(k->fd, hdr, -K_ENOSYS, NULL, 0);
        if (!always_allowed(id) && !granted(k)) {
                status("eperm %ld %u", conn_no, id);
                return reply(k->fd, hdr, -K_EPERM, NULL, 0);
        }
        switch (id) {
        case MSG_GET_VERSION:
                put32(data, 1);            /* version */
                put32(data + 4, MAX_PAYLOAD); /* max_msg_size; then features { u8 singlestep; u8 padding[7] } */
                len = arg_old_version ? 8 : 16;
                break;
        case MSG_CHECK_COMMAND:
        case MSG_CHECK_EVENT: {
                if (size < 8 || get16(payload + 2) || get32(payload + 4)) {
                        err = -K_EINVAL;
                        break;
                }
                uint16_t what = get16(payload);
                if (id == MSG_CHECK_EVENT)
                        err = what == EV_UNHOOK ? (granted(k) ? 0 : -K_EPERM) : -K_ENOENT;
                else if (!known_command(what))
                        err = -K_ENOENT;
                else if (!always_allowed(what) && !granted(k))
                        err = -K_EPERM;
                if (err == -K_EPERM)
                        status("eperm %ld %u", conn_no, id);
                break;
        }
        case MSG_GET_INFO:
                if (arg_deny_info)
                        err = -K_EPERM;
                put32(data, 2); /* vcpu_count; u32 padding[3] */
                len = 16;
                break;
        case MSG_CONTROL_EVENTS:
                if (size < 8 || payload[3] || get32(payload + 4) || payload[2] > 1 || get16(payload) != EV_UNHOOK)
                        err = -K_EINVAL;
                else {
                        k->unhook_enabled = payload[2];
                        status("unhook-enabled %ld %d", conn_no, payload[2]);
                }
                break;
        case MSG_SET_PAGE_ACCESS:
                if (arg_no_spa) {
                        err = -K_ENOSYS;
                        break;
                }
                if (arg_close_after >= 0 && spa_msgs >= arg_close_after) {
                        status("close-after %ld %ld", conn_no, spa_msgs);
                        arg_close_after = -1; /* once: the next connection is served */
                        return -ECONNABORTED;
                }
                if (set_page_access(payload, size, &err)) {
                        status("violation %ld count", conn_no);
                        return -EPROTO;
                }
                spa_msgs++;
                if (arg_delay_ms)
                        usleep(arg_delay_ms * 1000);
                uint32_t seq = get32(hdr + 4);
                if (ahead_first != ahead_last && seq - ahead_first < ahead_last - ahead_first)
                        return 0; /* answered ahead */
                if (arg_answer_ahead > 0 && spa_msgs == 1) {
                        uint8_t h[8];
                        memcpy(h, hdr, 8);
                        ahead_first = seq + 1;
                        ahead_last = ahead_first + (uint32_t) arg_answer_ahead;
                        /* said first: the tool may answer its client before this process goes on */
                        status("answered-ahead %ld %ld", conn_no, arg_answer_ahead);
                        for (uint32_t s = ahead_first; s != ahead_last; s++) {
                                put32(h + 4, s);
                                if (reply(k->fd, h, 0, NULL, 0) < 0)
                                        return -EPIPE;
                        }
                }
                if (arg_silent_after >= 0 && spa_msgs > arg_silent_after)
                        return 0; /* applied, never answered */
                break;
        }
        return reply(k->fd, hdr, err, data, len);
}

/* --- QEMU --- */

static int qemu_connect(void) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (fd < 0 || strlen(arg_connect) >= sizeof(sa.sun_path)) {
                if (fd >= 0)
                        close(fd);
                return -EINVAL;
        }
        strcpy(sa.sun_path, arg_connect);
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                close(fd);
                return -errno;
        }
        return fd;
}

/* Hello, answer, hook: 0 hooked, < 0 dropped. */
static int qemu_handshake(int fd, kernel *k) {
        size_t n = HELLO_SIZE + arg_hello_extra;
        uint8_t *h = calloc(1, n);
        if (!h)
                return -ENOMEM;
        put32(h, (uint32_t) n);
        memcpy(h + 4, "\x6b\x76\x6d\x69\x2d\x70\x65\x65\x72\x00\x00\x00\x00\x00\x00\x01", 16);
        put64(h + 24, 1700000000);
        snprintf((char *) h + 32, 64, "%s", arg_name);
        put64(h + 96, arg_pages << 12); /* max_gpa: end of the highest RAM entry */
        for (size_t i = HELLO_SIZE; i < n; i++)
                h[i] = 0xa5; /* fields of a later QEMU */
        int r = send_msg(fd, h, n);
        free(h);
        if (r < 0)
                return r;
        uint8_t a[ANSWER_SIZE];
        struct pollfd p = { fd, POLLIN, 0 };
        if (poll(&p, 1, 10000) <= 0) { /* HANDSHAKE_TIMEOUT_SEC */
                status("answer %ld timeout", conn_no);
                return -ETIMEDOUT;
        }
        if (read_all(fd, a, 4) < 0 || get32(a) < ANSWER_SIZE || read_all(fd, a + 4, ANSWER_SIZE - 4) < 0) {
                status("answer %ld bad-size", conn_no);
                return -EPROTO;
        }
        /* discard what a later tool appends */
        for (uint32_t left = get32(a) - ANSWER_SIZE; left > 0; left--) {
                uint8_t x;
                if (read_all(fd, &x, 1) < 0)
                        return -EPIPE;
        }
        if (arg_secret) {
                struct sha1_ctx c;
                uint8_t want[20];
                sha1_init(&c);
                sha1_update(&c, strlen(arg_secret), (const uint8_t *) arg_secret);
                sha1_digest(&c, 20, want);
                if (memcmp(want, a + 4, 20)) {
                        status("answer %ld cookie-mismatch", conn_no);
                        return -EACCES;
                }
        }
        status("answer %ld ok", conn_no);
        *k = (kernel) { .fd = fd, .granted_at = now_ms() + arg_eperm_ms };
        return 0;
}

/* The unhook: the kernel forgets every restriction (kvmi_clear_mem_access). */
static void unhook(kernel *k, const char *how) {
        write_map(); /* first: whoever sees the close or the status line finds it */
        status("closed %ld %s spa=%ld", conn_no, how, spa_msgs);
        close(k->fd);
        k->fd = -1;
        memset(map, 7, arg_pages);
}

static int send_unhook_event(kernel *k) {
        uint8_t m[16] = { 0 };
        put16(m, MSG_VM_EVENT);
        put16(m + 2, 8);
        put32(m + 4, ev_seq++);
        put16(m + 8, EV_UNHOOK); /* struct kvmi_event_hdr { u16 event; u16 padding[3]; } */
        return send_msg(k->fd, m, sizeof(m));
}

/* Pause or shutdown: warn the tool when it asked for it and wait for it to close. */
static void pre_unhook(kernel *k, int sfd) {
        if (!k->unhook_enabled || send_unhook_event(k) < 0) {
                unhook(k, "unhooked-at-once");
                return;
        }
        status("unhook-event %ld", conn_no);
        int64_t until = now_ms() + 5000;
        while (k->fd >= 0 && now_ms() < until) {
                struct pollfd p = { k->fd, POLLIN, 0 };
                if (poll(&p, 1, (int) (until - now_ms())) <= 0)
                        break;
                if (kernel_serve(k) < 0) {
                        unhook(k, "by-tool-after-unhook");
                        return;
                }
        }
        if (k->fd >= 0)
                unhook(k, "unhook-timeout");
}

static int run(void) {
        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGUSR1);
        sigaddset(&mask, SIGUSR2);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGTERM);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
        map = malloc(arg_pages);
        if (sfd < 0 || !map)
                return 1;
        memset(map, 7, arg_pages);
        kernel k = { .fd = -1 };
        bool paused = false;
        status("pid %d", (int) getpid());
        int64_t connect_at = now_ms();
        for (;;) {
                if (arg_connections >= 0 && conn_no >= arg_connections && k.fd < 0)
                        return 0;
                if (k.fd < 0 && !paused && now_ms() >= connect_at) {
                        int fd = qemu_connect();
                        if (fd >= 0) {
                                conn_no++;
                                status("connect %ld", conn_no);
                                int r = qemu_handshake(fd, &k);
                                if (r < 0) {
                                        close(fd);
                                        k.fd = -1;
                                        status("closed %ld handshake-failed", conn_no);
                                }
                        }
                        if (k.fd < 0)
                                connect_at = now_ms() + arg_reconnect_ms;
                }
                struct pollfd p[2] = { { sfd, POLLIN, 0 }, { k.fd, POLLIN, 0 } };
                int64_t wait = -1;
                if (k.fd < 0 && !paused)
                        wait = connect_at > now_ms() ? connect_at - now_ms() : 0;
                if (poll(p, 2, (int) wait) < 0 && errno != EINTR)
                        return 1;
                if (p[0].revents & POLLIN) {
                        struct signalfd_siginfo si;
                        if (read(sfd, &si, sizeof(si)) != sizeof(si))
                                continue;
                        if (si.ssi_signo == SIGTERM) {
                                status("shutdown %ld", conn_no);
                                if (k.fd >= 0)
                                        pre_unhook(&k, sfd);
                                return 0;
                        }
                        if (si.ssi_signo == SIGUSR1 && !paused) {
                                status("pause %ld", conn_no);
                                if (k.fd >= 0)
                                        pre_unhook(&k, sfd);
                                paused = true;
                        } else if (si.ssi_signo == SIGUSR2 && paused) {
                                status("resume %ld", conn_no);
                                paused = false;
                                connect_at = now_ms();
                        } else if (si.ssi_signo == SIGHUP && k.fd >= 0) {
                                status("reset %ld", conn_no);
                                unhook(&k, "reset");
                                connect_at = now_ms() + arg_reconnect_ms;
                        }
                        continue;
                }
                if (k.fd >= 0 && p[1].revents) {
                        int r = kernel_serve(&k);
                        if (r < 0) {
                                unhook(&k, r == -EPIPE ? "by-tool" : "by-kernel");
                                connect_at = now_ms() + arg_reconnect_ms;
                        }
                }
        }
}

/* --- run as QEMU: take the introspection options, exec the real QEMU without them --- */

static bool same(const char *a, const char *b) {
        return strcmp(a, b) == 0;
}

static char *opt_value(const char *opts, const char *key) {
        size_t kl = strlen(key);
        for (const char *p = opts; p && *p;) {
                const char *end = strchr(p, ',');
                size_t l = end ? (size_t) (end - p) : strlen(p);
                if (l > kl && !strncmp(p, key, kl) && p[kl] == '=')
                        return strndup(p + kl + 1, l - kl - 1);
                p = end ? end + 1 : NULL;
        }
        return NULL;
}

static int as_qemu(int argc, char **argv) {
        char **out = calloc(argc + 1, sizeof(char *));
        char *chardev = NULL, *key = NULL, *path = NULL, *reconnect = NULL, *secret_file = NULL, *secret_id = NULL;
        const char *chardev_opts[8] = { 0 }, *secret_opts[8] = { 0 };
        size_t n_chr = 0, n_sec = 0;
        int n = 0;
        out[n++] = getenv("DELEGATE_REAL_QEMU") ? getenv("DELEGATE_REAL_QEMU") : "qemu-system-x86_64";
        bool intro = false;
        for (int i = 1; i < argc; i++) {
                if (i + 1 < argc && same(argv[i], "-object") && !strncmp(argv[i + 1], "introspection,", 14)) {
                        chardev = opt_value(argv[i + 1], "chardev");
                        key = opt_value(argv[i + 1], "key");
                        intro = true;
                        i++;
                        continue;
                }
                if (i + 1 < argc && same(argv[i], "-object") && !strncmp(argv[i + 1], "secret,", 7) && n_sec < 8) {
                        secret_opts[n_sec++] = argv[++i];
                        continue;
                }
                if (i + 1 < argc && same(argv[i], "-chardev") && !strncmp(argv[i + 1], "socket,", 7) &&
                    strstr(argv[i + 1], "reconnect=") && n_chr < 8) {
                        chardev_opts[n_chr++] = argv[++i];
                        continue;
                }
                if (i + 1 < argc && same(argv[i], "-name")) {
                        char *g = opt_value(argv[i + 1], "guest");
                        arg_name = g ? g : argv[i + 1];
                }
                out[n++] = argv[i];
        }
        if (intro) {
                for (size_t i = 0; i < n_chr; i++) {
                        char *id = opt_value(chardev_opts[i], "id");
                        if (id && chardev && !strcmp(id, chardev)) {
                                path = opt_value(chardev_opts[i], "path");
                                reconnect = opt_value(chardev_opts[i], "reconnect");
                        }
                        free(id);
                }
                for (size_t i = 0; i < n_sec; i++) {
                        char *id = opt_value(secret_opts[i], "id");
                        if (id && key && !strcmp(id, key)) {
                                secret_id = id;
                                secret_file = opt_value(secret_opts[i], "file");
                        } else
                                free(id);
                }
                /* vmi.c's checks */
                if (!path || !reconnect || atoi(reconnect) <= 0) {
                        fprintf(stderr, "kvmi-peer (as QEMU): VM introspection needs a socket chardev with path= "
                                        "and reconnect=N for '%s'\n",
                                chardev ? chardev : "(no chardev=)");
                        return 1;
                }
                if (key && !secret_file) {
                        fprintf(stderr, "kvmi-peer (as QEMU): key '%s' names no -object secret,file=\n", key);
                        return 1;
                }
                static char secret[256];
                if (secret_file) {
                        FILE *f = fopen(secret_file, "re");
                        size_t l = f ? fread(secret, 1, sizeof(secret) - 1, f) : 0;
                        if (f)
                                fclose(f);
                        if (l == 0) {
                                fprintf(stderr, "kvmi-peer (as QEMU): cannot read secret '%s' from %s\n", secret_id,
                                        secret_file);
                                return 1;
                        }
                        secret[l] = 0;
                        arg_secret = secret;
                }
                arg_connect = path;
                arg_reconnect_ms = atoi(reconnect) * 1000L;
                fprintf(stderr, "kvmi-peer (as QEMU): introspection over %s (reconnect=%s, %s); the real QEMU "
                                "(Debian's, no introspection object) runs without those options\n",
                        path, reconnect, key ? "keyed" : "unkeyed");
                pid_t parent = getpid();
                pid_t pid = fork();
                if (pid < 0)
                        return 1;
                if (pid == 0) {
                        /* the introspection client dies with QEMU: shutdown */
                        prctl(PR_SET_PDEATHSIG, SIGTERM);
                        if (getppid() != parent)
                                _exit(0);
                        close_range(3, ~0U, 0); /* QMP, TAPs: QEMU's, not ours */
                        arg_status = getenv("KVMI_PEER_STATUS");
                        arg_map = getenv("KVMI_PEER_MAP");
                        _exit(run());
                }
        }
        out[n] = NULL;
        execvp(out[0], out);
        fprintf(stderr, "kvmi-peer (as QEMU): cannot run %s: %m\n", out[0]);
        return 127;
}

int main(int argc, char **argv) {
        if (argc > 1 && argv[1][0] == '-' && argv[1][1] != '-')
                return as_qemu(argc, argv);
        static const struct option options[] = {
                { "connect", required_argument, NULL, 'C' },      { "name", required_argument, NULL, 'n' },
                { "pages", required_argument, NULL, 'p' },        { "map", required_argument, NULL, 'm' },
                { "status", required_argument, NULL, 'S' },       { "secret", required_argument, NULL, 's' },
                { "hello-extra", required_argument, NULL, 'e' },  { "reconnect-ms", required_argument, NULL, 'r' },
                { "eperm-ms", required_argument, NULL, 'P' },     { "no-spa", no_argument, NULL, 'N' },
                { "old-version", no_argument, NULL, 'O' },        { "deny-info", no_argument, NULL, 'I' },
                { "hole", required_argument, NULL, 'H' },         { "delay-ms", required_argument, NULL, 'd' },
                { "close-after", required_argument, NULL, 'c' },  { "silent-after", required_argument, NULL, 'q' },
                { "connections", required_argument, NULL, 'k' },  { "answer-ahead", required_argument, NULL, 'A' },
                {},
        };
        int c;
        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0) {
                switch (c) {
                case 'C':
                        arg_connect = optarg;
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
                case 'S':
                        arg_status = optarg;
                        break;
                case 's':
                        arg_secret = optarg;
                        break;
                case 'e':
                        arg_hello_extra = strtoul(optarg, NULL, 0);
                        break;
                case 'r':
                        arg_reconnect_ms = atol(optarg);
                        break;
                case 'P':
                        arg_eperm_ms = atol(optarg);
                        break;
                case 'N':
                        arg_no_spa = true;
                        break;
                case 'O':
                        arg_old_version = true;
                        break;
                case 'I':
                        arg_deny_info = true;
                        break;
                case 'H':
                        if (sscanf(optarg, "%" SCNu64 "-%" SCNu64, &arg_hole_first, &arg_hole_end) != 2)
                                return 1;
                        break;
                case 'd':
                        arg_delay_ms = atol(optarg);
                        break;
                case 'c':
                        arg_close_after = atol(optarg);
                        break;
                case 'q':
                        arg_silent_after = atol(optarg);
                        break;
                case 'k':
                        arg_connections = atol(optarg);
                        break;
                case 'A':
                        arg_answer_ahead = atol(optarg);
                        break;
                default:
                        return 1;
                }
        }
        if (!arg_connect) {
                fprintf(stderr, "kvmi-peer: --connect PATH is required\n");
                return 1;
        }
        return run();
}
