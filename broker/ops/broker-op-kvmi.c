/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-op-kvmi.c - kvmi.attach, kvmi.connect, kvmi.set-page-access,
 * kvmi.detach.
 *
 * parse args -> (policy, in the dispatcher) -> act: open the channel (and
 * make its secret); adopt a connection QEMU made to the launcher's socket;
 * or read and check the entries (inline, or from a sealed memfd) and queue
 * them on the channel, which answers when the kernel has answered every
 * message (broker-kvmi.c).
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <syslog.h>

#include "broker-kvmi-chan.h"
#include "broker-op.h"

static void kvmi_attach(request *req, void *args, const policy_decision *d) {
        client *c = req->c;
        const kvmi_attach_args *a = args;
        bool keyed = a->keyed;
        const char *given = a->secret;
        if (!c->vm)
                return request_reply_error(req, ERR_BAD_REQUEST, EINVAL, NULL,
                                           "kvmi.attach: the session has no VM name; send \"vm\" in the hello "
                                           "(QEMU's introspection hello is checked against it)");
        if (strlen(c->vm) >= KVMI_HELLO_NAME_SIZE)
                return request_reply_error(req, ERR_BAD_REQUEST, EINVAL, NULL,
                                           "kvmi.attach: VM name '%s' is longer than the %d characters QEMU's "
                                           "introspection hello carries",
                                           c->vm, KVMI_HELLO_NAME_SIZE - 1);
        _cleanup_erase_free_ char *secret = NULL;
        int r = kvmi_channel_open(c, keyed, given, &secret);
        if (r < 0)
                return request_reply_error(req, ERR_SYSTEM, -r, NULL, "kvmi.attach: cannot open the channel: %s",
                                           strerror(-r));
        _cleanup_json_gen_ json_gen *g = json_gen_new();
        if (!g)
                return request_reply_error(req, ERR_SYSTEM, ENOMEM, NULL, "out of memory");
        json_gen_map_open(g);
        json_gen_kv_str(g, "vm", c->vm);
        json_gen_kv_bool(g, "keyed", keyed);
        if (secret)
                json_gen_kv_str(g, "secret", secret);
        json_gen_kv_u64(g, "shadow_pages", KS(c)->shadow.n);
        json_gen_kv_u64(g, "timeout_ms", KVMI_TIMEOUT_USEC / 1000);
        json_gen_map_close(g);
        log_msg(c->b, LOG_INFO,
                "session %llu: KVMI channel opened for vm '%s' (%s handshake, %zu shadow pages); waiting for QEMU's "
                "connections (kvmi.connect)",
                (unsigned long long) c->session, c->vm, keyed ? "keyed" : "unkeyed", KS(c)->shadow.n);
        req->reply_unsaved = true; /* KVMI channels are not kept across restarts: nor is the answer (its secret) */
        (void) request_reply_gen(req, g, NULL, 0);
}

static void kvmi_connect(request *req, void *args, const policy_decision *d) {
        char msg[256];
        int64_t idx = ((const kvmi_connect_args *) args)->socket;
        if ((size_t) idx >= req->n_fds)
                return request_reply_error(req, ERR_BAD_REQUEST, EBADF, NULL,
                                           "kvmi.connect: \"socket\" is fd %" PRIi64 " but the request carried %zu fds",
                                           idx, req->n_fds);
        int fd = req->fds[idx], type = 0, domain = 0;
        socklen_t l = sizeof(type);
        struct stat st;
        if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode) || getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) < 0 ||
            type != SOCK_STREAM || (l = sizeof(domain), getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &l) < 0) ||
            domain != AF_UNIX)
                return request_reply_error(req, ERR_BAD_REQUEST, ENOTSOCK, NULL,
                                           "kvmi.connect: the fd is not a connected AF_UNIX stream socket (QEMU's "
                                           "introspection chardev connects with one)");
        int r = kvmi_channel_connect(req, &req->fds[idx], msg, sizeof(msg));
        if (r == -ENOTCONN)
                return request_reply_error(req, ERR_NOT_FOUND, ENOTCONN, NULL, "%s", msg);
        if (r < 0)
                return request_reply_error(req, ERR_SYSTEM, -r, NULL, "%s", msg);
        /* answered by the channel */
}

/* Map the sealed memfd of packed entries (descriptor @idx of the request); -errno with @msg. */
static int map_memfd(int fd, int idx, uint64_t max_entries, void **ret_map, size_t *ret_len, char *msg, size_t size) {
        struct stat st;
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
                return snprintf(msg, size, "the fd is not a memfd (not a regular file)"), -EINVAL;
        int seals = fcntl(fd, F_GET_SEALS);
        int need = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;
        if (seals < 0 || (seals & need) != need)
                return snprintf(msg, size,
                                "the memfd must be sealed with F_SEAL_SHRINK, F_SEAL_GROW and F_SEAL_WRITE "
                                "(seals: 0x%x)",
                                seals < 0 ? 0 : seals),
                       -EINVAL;
        if (st.st_size == 0 || st.st_size % sizeof(kvmi_page_access_entry))
                return snprintf(msg, size, "the memfd's size %lld is not a positive multiple of 16 bytes",
                                (long long) st.st_size),
                       -EINVAL;
        uint64_t n = st.st_size / sizeof(kvmi_page_access_entry);
        if (n > max_entries)
                return snprintf(msg, size, "%" PRIu64 " entries exceed the rule's kvmi max_entries %" PRIu64, n,
                                max_entries),
                       -E2BIG;
        /*
         * Every byte written: reading a hole of a sealed memfd would allocate its pages now, charged
         * to the broker's memory cgroup, not the client's (up to max_entries * 16 bytes a request).
         */
        if ((uint64_t) st.st_blocks * 512 < (uint64_t) st.st_size)
                return snprintf(msg, size,
                                "the memfd (fd %d) is sparse: %lld of its %lld bytes are allocated; write every "
                                "entry before sealing it (holes are refused)",
                                idx, (long long) st.st_blocks * 512, (long long) st.st_size),
                       -EINVAL;
        /*
         * Not populated: the common path reads the entries with pread() (check_memfd(), and the batch's
         * stage as they are sent), only the rare ones through the mapping.
         */
        void *m = mmap(NULL, st.st_size, PROT_READ, MAP_SHARED, fd, 0);
        if (m == MAP_FAILED)
                return snprintf(msg, size, "cannot map the memfd: %m"), negative_errno();
        *ret_map = m;
        *ret_len = st.st_size;
        return 0;
}

/*
 * kvmi_memfd_check() of the memfd @fd's @len bytes, mapped at @map: the common case's pass read through a
 * buffer on the stack with pread() (the kernel's copy of the memfd's pages, against a first touch of each
 * page of a new mapping: see kbatch in broker-kvmi-chan.h); the pass in order through the mapping when
 * that pass does not allow them all, or a read fails.
 */
static ssize_t check_memfd(const policy_rule *rule, int fd, const void *map, size_t len, policy_decision *d,
                           uint64_t *ret_top, char *msg, size_t size) {
        kvmi_page_access_entry buf[4096]; /* 64 KiB */
        kvmi_memfd_scan sc = KVMI_MEMFD_SCAN_INIT;
        size_t n = len / sizeof(*buf), at = 0, allowed = 0;
        while (at < n) {
                size_t k = n - at < ELEMENTSOF(buf) ? n - at : ELEMENTSOF(buf);
                if (memfd_read(fd, buf, k * sizeof(*buf), (off_t) (at * sizeof(*buf))) < 0)
                        break;
                kvmi_memfd_scan_add(&sc, buf, k);
                at += k;
        }
        if (at == n && len % sizeof(*buf) == 0)
                allowed = kvmi_memfd_scan_check(rule, &sc, n, d, ret_top);
        explicit_bzero(buf, sizeof(buf));
        return allowed > 0 ? (ssize_t) allowed : kvmi_memfd_check(rule, map, len, d, ret_top, msg, size);
}

static void kvmi_set_page_access(request *req, void *args, const policy_decision *d) {
        char msg[256];
        kvmi_spa_args a = *(kvmi_spa_args *) args;
        void *map = NULL;
        size_t map_len = 0;
        uint64_t top = 0;

        ((kvmi_spa_args *) args)->entries = NULL; /* ours now: kvmi_submit() takes them */
        if (a.memfd_index < 0) {
                /* checked against the rule by the policy check; built zeroed by the parser */
                for (size_t i = 0; i < a.n; i++)
                        top = a.entries[i].gpa > top ? a.entries[i].gpa : top;
                return kvmi_submit(req, a.entries, a.n, NULL, 0, -EBADF, top);
        }
        if ((size_t) a.memfd_index >= req->n_fds)
                return request_reply_error(req, ERR_BAD_REQUEST, EBADF, NULL,
                                           "kvmi.set-page-access: \"memfd\" is fd %d but the request carried "
                                           "%zu fds",
                                           a.memfd_index, req->n_fds);
        int r = map_memfd(req->fds[a.memfd_index], a.memfd_index, d->rule->kvmi.max_entries, &map, &map_len, msg, sizeof(msg));
        if (r == -E2BIG)
                return request_reply_error(req, ERR_TOO_LARGE, E2BIG, d->rule->name, "kvmi.set-page-access: %s", msg);
        if (r < 0)
                return request_reply_error(req, ERR_BAD_REQUEST, -r, NULL, "kvmi.set-page-access: %s", msg);
        /* one pass: each entry decoded and checked against the rule before anything is sent */
        policy_decision ed = { .rule = d->rule };
        int fd = req->fds[a.memfd_index];
        ssize_t n = check_memfd(d->rule, fd, map, map_len, &ed, &top, msg, sizeof(msg));
        if (n < 0) {
                munmap(map, map_len);
                return request_reply_error(req, ERR_BAD_REQUEST, EINVAL, NULL, "kvmi.set-page-access: %s", msg);
        }
        if (!ed.allowed) {
                munmap(map, map_len);
                return request_reply_error(req, ERR_DENIED, EPERM, d->rule->name, "%s: %s", req->op, ed.reason);
        }
        int own = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (own < 0) {
                int e = errno;
                munmap(map, map_len);
                return request_reply_error(req, ERR_SYSTEM, e, NULL, "kvmi.set-page-access: cannot keep the memfd: %s",
                                           strerror(e));
        }
        kvmi_submit(req, map, (size_t) n, map, map_len, own, top);
}

static void kvmi_detach(request *req, void *args, const policy_decision *d) {
        client *c = req->c;
        bool was = KS(c)->ch != NULL;
        size_t pages = KS(c)->shadow.n;
        kvmi_session_end(c);
        char res[128];
        snprintf(res, sizeof(res), "{\"detached\":%s,\"forgotten_pages\":%zu}", was ? "true" : "false", pages);
        log_msg(c->b, LOG_INFO, "session %llu: KVMI detached, %zu shadow pages forgotten",
                (unsigned long long) c->session, pages);
        request_reply_result(req, res, NULL, 0);
}

const broker_op bop_kvmi_attach = { .op = &op_kvmi_attach, .act = kvmi_attach };
const broker_op bop_kvmi_connect = { .op = &op_kvmi_connect, .act = kvmi_connect };
const broker_op bop_kvmi_set_page_access = { .op = &op_kvmi_set_page_access, .act = kvmi_set_page_access };
const broker_op bop_kvmi_detach = { .op = &op_kvmi_detach, .act = kvmi_detach };

/* --- what a session holds: its channel and the shadow of what it programmed --- */

static size_t count(const client *c) {
        return KS(c)->shadow.n; /* pages programmed */
}

/* Detaches the channel and forgets the shadow (pages already programmed in
 * the guest stay as they are: KVMI has no "undo" but a new program). */
static int kvmi_revoke(client *c) {
        int n = KS(c)->ch ? 1 : 0;
        kvmi_session_end(c);
        return n;
}

static const session_hook hooks[] = {
        { "kvmi", count, kvmi_state_gen, kvmi_revoke },
};

/* Not kept across restarts: QEMU's connection dies with the broker, and a launcher attaches again. */
const session_part session_part_kvmi = {
        .slot = SESSION_PART_kvmi,
        .size = sizeof(kvmi_session),
        .hooks = hooks,
        .n_hooks = ELEMENTSOF(hooks),
        .release = kvmi_session_end,
};
