/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-wire.c - datagrams with fds over SOCK_SEQPACKET (common/wire.c),
 * protocol error codes, and sizes (common/size.c).
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "size.h"
#include "tap.h"
#include "unit-util.h"
#include "wire.h"

static char buf[DELEGATE_MAX_MESSAGE];

static bool same_file(int a, int b) {
        struct stat sa, sb;
        return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static bool is_cloexec(int fd) {
        int f = fcntl(fd, F_GETFD);
        return f >= 0 && (f & FD_CLOEXEC);
}

static void test_round_trip(int a, int b) {
        size_t n_fds = 99;
        bool eof = true;
        int fds[4] = { -1, -1, -1, -1 };

        tap_is_int(wire_send(a, "hello", 5, NULL, 0), 0, "send 5 bytes, no fds");
        ssize_t n = wire_recv(b, buf, sizeof(buf), fds, 4, &n_fds, &eof);
        tap_is_int(n, 5, "receive 5 bytes");
        tap_ok(n == 5 && memcmp(buf, "hello", 5) == 0 && n_fds == 0 && !eof, "same bytes, no fds, not eof");

        /* three fds: both ends of a pipe and /dev/null */
        int p[2], devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (pipe2(p, O_CLOEXEC) < 0 || devnull < 0)
                unit_bail("pipe2/open: %m");
        int out[3] = { p[0], p[1], devnull };
        tap_is_int(wire_send(a, "{\"fds\":3}", 9, out, 3), 0, "send with 3 fds");
        n = wire_recv(b, buf, sizeof(buf), fds, 4, &n_fds, &eof);
        tap_ok(n == 9 && memcmp(buf, "{\"fds\":3}", 9) == 0 && !eof, "receive the message that carried 3 fds");
        tap_is_int(n_fds, 3, "3 fds received");
        bool valid = n_fds == 3, cloexec = n_fds == 3, same = n_fds == 3;
        for (size_t i = 0; i < n_fds && i < 3; i++) {
                valid = valid && fcntl(fds[i], F_GETFD) >= 0 && fds[i] != out[0] && fds[i] != out[1] && fds[i] != out[2];
                cloexec = cloexec && is_cloexec(fds[i]);
                same = same && same_file(fds[i], out[i]);
        }
        tap_ok(valid, "received fds are valid new descriptors");
        tap_ok(cloexec, "received fds have FD_CLOEXEC");
        tap_ok(same, "received fds refer to the sent files, in order");
        char c = 0;
        tap_ok(n_fds == 3 && write(fds[1], "x", 1) == 1 && read(p[0], &c, 1) == 1 && c == 'x',
               "received pipe end works");
        close_fds(fds, n_fds);
        tap_ok(fds[0] == -EBADF && fds[1] == -EBADF && fds[2] == -EBADF, "close_fds leaves -EBADF behind");
        close_fds(out, 3);
}

static void test_limits(int a, int b) {
        size_t n_fds;
        bool eof;
        int fds[4];
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                unit_bail("pipe2: %m");
        int before = unit_count_fds();

        /* larger than the receive buffer: dropped with its fds, the next one still arrives */
        memset(buf, 'a', 100);
        tap_is_int(wire_send(a, buf, 100, p, 2), 0, "send 100 bytes with 2 fds");
        tap_is_int(wire_send(a, "next", 4, NULL, 0), 0, "send a second datagram");
        char small[10];
        ssize_t n = wire_recv(b, small, sizeof(small), fds, 4, &n_fds, &eof);
        tap_is_int(n, -EMSGSIZE, "datagram larger than the buffer: -EMSGSIZE");
        tap_ok(n_fds == 0 && !eof, "... with no fds and not eof");
        tap_is_int(unit_count_fds(), before, "... and the fds it carried are closed");
        n = wire_recv(b, small, sizeof(small), fds, 4, &n_fds, &eof);
        tap_ok(n == 4 && memcmp(small, "next", 4) == 0, "the next datagram still arrives");

        /* more fds than max_fds: all closed */
        int three[3] = { p[0], p[1], p[0] };
        tap_is_int(wire_send(a, "three", 5, three, 3), 0, "send 3 fds");
        n = wire_recv(b, buf, sizeof(buf), fds, 2, &n_fds, &eof);
        tap_is_int(n, -ETOOMANYREFS, "3 fds with max_fds 2: -ETOOMANYREFS");
        tap_is_int(n_fds, 0, "... reports no fds");
        tap_is_int(unit_count_fds(), before, "... and every received fd is closed");
        tap_is_int(wire_send(a, "one", 3, p, 1), 0, "send 1 fd");
        n = wire_recv(b, buf, sizeof(buf), NULL, 0, &n_fds, &eof);
        tap_is_int(n, -ETOOMANYREFS, "1 fd with max_fds 0: -ETOOMANYREFS");
        tap_is_int(unit_count_fds(), before, "... and it is closed");
        tap_is_int(wire_send(a, "after", 5, NULL, 0), 0, "send after the dropped ones");
        n = wire_recv(b, buf, sizeof(buf), NULL, 0, &n_fds, &eof);
        tap_ok(n == 5 && memcmp(buf, "after", 5) == 0, "the next datagram still arrives");

        /* sender side limits */
        int many[DELEGATE_MAX_FDS + 1];
        for (size_t i = 0; i < ELEMENTSOF(many); i++)
                many[i] = p[0];
        tap_is_int(wire_send(a, "x", 1, many, DELEGATE_MAX_FDS + 1), -ETOOMANYREFS,
                   "wire_send of DELEGATE_MAX_FDS + 1 fds: -ETOOMANYREFS");
        static char big[DELEGATE_MAX_MESSAGE + 1];
        tap_is_int(wire_send(a, big, sizeof(big), NULL, 0), -EMSGSIZE,
                   "wire_send of DELEGATE_MAX_MESSAGE + 1 bytes: -EMSGSIZE");
        n = wire_recv(b, buf, sizeof(buf), NULL, 0, &n_fds, &eof);
        tap_is_int(n, -EAGAIN, "... and nothing was sent");
        memset(big, 'z', sizeof(big));
        tap_is_int(wire_send(a, big, DELEGATE_MAX_MESSAGE, NULL, 0), 0, "wire_send of DELEGATE_MAX_MESSAGE bytes");
        n = wire_recv(b, buf, sizeof(buf), NULL, 0, &n_fds, &eof);
        tap_ok(n == DELEGATE_MAX_MESSAGE && memcmp(buf, big, DELEGATE_MAX_MESSAGE) == 0,
               "a DELEGATE_MAX_MESSAGE datagram arrives whole");
        close_fds(p, 2);
}

static void test_empty_and_eof(int a, int b) {
        size_t n_fds;
        bool eof = true;

        ssize_t n = wire_recv(b, buf, sizeof(buf), NULL, 0, &n_fds, &eof);
        tap_ok(n == -EAGAIN && !eof, "nothing queued: -EAGAIN");

        tap_is_int(wire_send(a, "", 0, NULL, 0), 0, "send an empty datagram");
        eof = true;
        n = wire_recv(b, buf, sizeof(buf), NULL, 0, &n_fds, &eof);
        tap_ok(n == 0 && !eof, "empty datagram: 0, eof false (got %zd, %s)", n, eof ? "true" : "false");

        tap_is_int(wire_send(a, "", 0, NULL, 0), 0, "send an empty datagram, then one more");
        tap_is_int(wire_send(a, "z", 1, NULL, 0), 0, "send 1 byte");
        eof = true;
        n = wire_recv(b, buf, sizeof(buf), NULL, 0, &n_fds, &eof);
        tap_ok(n == 0 && !eof, "empty datagram before another: 0, eof false");
        n = wire_recv(b, buf, sizeof(buf), NULL, 0, &n_fds, &eof);
        tap_ok(n == 1 && buf[0] == 'z' && !eof, "then the next datagram");

        tap_is_int(wire_send(a, "last", 4, NULL, 0), 0, "send a last datagram");
        close(a);
        n = wire_recv(b, buf, sizeof(buf), NULL, 0, &n_fds, &eof);
        tap_ok(n == 4 && !eof, "data queued before the close arrives first");
        n = wire_recv(b, buf, sizeof(buf), NULL, 0, &n_fds, &eof);
        tap_ok(n == 0 && eof, "peer closed: 0, eof true");
        n = wire_recv(b, buf, sizeof(buf), NULL, 0, &n_fds, &eof);
        tap_ok(n == 0 && eof, "peer closed: still eof");
}

static void test_err_codes(void) {
        static const char *const names[] = { "bad-request", "api-mismatch", "denied",      "not-found", "exists",
                                             "too-large",   "rate-limited", "unsupported", "system" };
        tap_is_int(ELEMENTSOF(names), _ERR_MAX, "9 protocol error codes");
        for (int c = 0; c < _ERR_MAX; c++) {
                const char *n = err_code_name(c);
                tap_ok(n && streq(n, names[c]) && err_code_from_name(n) == c, "error code %d is '%s' and back", c,
                       names[c]);
        }
        tap_is_int(err_code_from_name("nope"), -1, "unknown code name: -1");
        tap_is_int(err_code_from_name(""), -1, "empty code name: -1");
        tap_is_int(err_code_from_name("Denied"), -1, "code names are case-sensitive");
        tap_is_str(err_code_name(_ERR_MAX), "system", "out-of-range code is 'system'");

        delegate_error e;
        memset(&e, 0x55, sizeof(e));
        int r = error_set(&e, -EACCES, "denied", EACCES, "rule '%s' says %d", "r1", 7);
        tap_ok(r == -EACCES && streq(e.code, "denied") && e.errno_value == EACCES && streq(e.message, "rule 'r1' says 7") &&
                       e.rule[0] == 0,
               "error_set fills code, errno, message and clears rule");
        tap_is_int(error_set(NULL, -EIO, "system", EIO, "x"), -EIO, "error_set(NULL) returns its ret");
}

static void test_sizes(void) {
        static const struct {
                const char *s;
                int r;
                uint64_t v;
        } t[] = {
                { "64G", 0, UINT64_C(64) << 30 },
                { "512M", 0, UINT64_C(512) << 20 },
                { "1K", 0, 1024 },
                { "1KiB", 0, 1024 },
                { "1KB", 0, 1024 },
                { "1k", 0, 1024 },
                { "2 MiB", 0, UINT64_C(2) << 20 },
                { "3GiB", 0, UINT64_C(3) << 30 },
                { "1T", 0, UINT64_C(1) << 40 },
                { "0", 0, 0 },
                { "4096", 0, 4096 },
                { "4096B", 0, 4096 },
                { "unlimited", 0, UINT64_MAX },
                { "infinity", 0, UINT64_MAX },
                { "Unlimited", 0, UINT64_MAX },
                { "18446744073709551615", 0, UINT64_MAX },
                { "16777215T", 0, UINT64_C(16777215) << 40 },
                { "12X", -EINVAL, 0 },
                { "", -EINVAL, 0 },
                { "G", -EINVAL, 0 },
                { "-1", -EINVAL, 0 },
                { " 1", -EINVAL, 0 },
                { "1.5G", -EINVAL, 0 },
                { "1GG", -EINVAL, 0 },
                { "1P", -EINVAL, 0 },
                { "99999999999T", -ERANGE, 0 },
                { "16777216T", -ERANGE, 0 },
                { "18446744073709551616", -ERANGE, 0 },
                { "17179869184G", -ERANGE, 0 },
        };
        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                uint64_t v = 7;
                int r = parse_size(t[i].s, &v);
                tap_ok(r == t[i].r && v == (r == 0 ? t[i].v : 7), "parse_size('%s') = %d, %" PRIu64, t[i].s, t[i].r,
                       t[i].r == 0 ? t[i].v : 7);
                if (r != t[i].r)
                        tap_diag("  got %d, %" PRIu64, r, v);
        }
        uint64_t v = 7;
        tap_ok(parse_size(NULL, &v) == -EINVAL && v == 7, "parse_size(NULL) = -EINVAL");
        tap_ok(delegate_parse_size("64G", &v) == 0 && v == UINT64_C(64) << 30, "delegate_parse_size is parse_size");

        /* json_to_size: numbers and size strings */
        const char *text = "[\"64G\", 1048576, true, \"nope\", -1]";
        _cleanup_json_ json_value *a = NULL;
        json_parse_error je;
        if (json_parse(text, strlen(text), false, &a, &je) < 0 || a->array.n != 5) {
                tap_ok(false, "json_to_size test input parses");
                return;
        }
        tap_ok(json_to_size(a->array.items[0], &v) == 0 && v == UINT64_C(64) << 30, "json_to_size(\"64G\")");
        tap_ok(json_to_size(a->array.items[1], &v) == 0 && v == 1048576, "json_to_size(1048576)");
        tap_is_int(json_to_size(a->array.items[2], &v), -EINVAL, "json_to_size(true) = -EINVAL");
        tap_is_int(json_to_size(a->array.items[3], &v), -EINVAL, "json_to_size(\"nope\") = -EINVAL");
        tap_is_int(json_to_size(a->array.items[4], &v), -ERANGE, "json_to_size(-1) = -ERANGE");

        static const struct {
                uint64_t v;
                const char *s;
        } f[] = {
                { 0, "0 B" },
                { 1023, "1023 B" },
                { 1024, "1 KiB" },
                { 1025, "1.0 KiB" },
                { 1536, "1.5 KiB" },
                { UINT64_C(8) << 20, "8 MiB" },
                { (UINT64_C(1) << 53) - (UINT64_C(1) << 50), "7 PiB" },
                { (UINT64_C(1) << 53) - (UINT64_C(1) << 40), "8.0 PiB" },
                { (UINT64_C(1) << 53) + 2, "8.0 PiB" },
                { (UINT64_C(1) << 60) + 1, "1 EiB" },
                { 4096, "4 KiB" },
                { UINT64_C(3) << 19, "1.5 MiB" },
                { UINT64_C(512) << 20, "512 MiB" },
                { UINT64_C(64) << 30, "64 GiB" },
                { UINT64_C(1) << 40, "1 TiB" },
                { UINT64_C(1) << 50, "1 PiB" },
                { UINT64_C(1) << 60, "1 EiB" },
                { UINT64_MAX, "unlimited" },
        };
        for (size_t i = 0; i < ELEMENTSOF(f); i++) {
                char b[32];
                tap_is_str(format_size(f[i].v, b, sizeof(b)), f[i].s, "format_size(%" PRIu64 ") = '%s'", f[i].v, f[i].s);
        }
        /* format and parse agree on whole units */
        char b[32];
        uint64_t back = 0;
        format_size(UINT64_C(64) << 30, b, sizeof(b));
        tap_ok(parse_size(b, &back) == 0 && back == UINT64_C(64) << 30, "parse_size(format_size(64G)) = 64G");

        _cleanup_json_gen_ json_gen *g = json_gen_new();
        _cleanup_free_ char *out = NULL;
        json_gen_array_open(g);
        json_gen_limit(g, 5);
        json_gen_limit(g, UINT64_MAX);
        json_gen_limit(g, UINT64_MAX - 1);
        json_gen_array_close(g);
        tap_ok(json_gen_take(g, &out, NULL) == 0 && out && streq(out, "[5,\"unlimited\",18446744073709551614]"),
               "json_gen_limit writes numbers and \"unlimited\" (got %s)", out ? out : "(null)");
}

int main(void) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
                unit_bail("socketpair: %m");
        test_round_trip(sv[0], sv[1]);
        test_limits(sv[0], sv[1]);
        test_empty_and_eof(sv[0], sv[1]); /* closes sv[0] */
        close(sv[1]);
        test_err_codes();
        test_sizes();
        return tap_done();
}
