/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * delegatectl-kvmi.c - "delegatectl kvmi run [--unkeyed] [--] PROG [ARG...]":
 * attach a KVMI channel, listen on a socket in a private directory and
 * start PROG with its path in $DELEGATE_KVMI_SOCKET and the secret in
 * $DELEGATE_KVMI_SECRET (the part QEMU plays: it connects, and reconnects
 * after every drop); every connection is handed to the broker with
 * kvmi.connect and its reply printed.  Meanwhile commands are read from
 * stdin until end of input; then it detaches.  The session lives as long
 * as this command: the channel closes when it exits.
 *
 *   set GPA ACCESS [GPA ACCESS ...]   inline entries
 *   file PATH                         packed {u64 gpa; u8 access; u8 pad[7]} entries, via a sealed memfd
 *   state                             the session's KVMI state
 *   detach
 */
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <stdlib.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "delegatectl-kvmi.h"
#include "delegatectl-util.h"
#include "json.h"
#include "wire.h"

static int print_reply(int r, const char *res, const delegate_error *e, bool json) {
        if (r >= 0) {
                printf("%s%s%s\n", json ? "{\"ok\":true,\"result\":" : "", res ? res : "{}", json ? "}" : "");
                return 0;
        }
        if (json)
                printf("{\"ok\":false,\"error\":{\"code\":\"%s\",\"errno\":%d}}\n", e->code, e->errno_value);
        fprintf(stderr, "delegatectl: kvmi: %s (%s, errno %d)%s%s\n", e->message, e->code, e->errno_value,
                e->rule[0] ? ", rule " : "", e->rule);
        fflush(stdout);
        return 1;
}

/* Copy @path into a memfd sealed against shrink, grow and write. */
static int sealed_copy(const char *path) {
        _cleanup_close_ int in = open(path, O_RDONLY | O_CLOEXEC);
        _cleanup_close_ int fd = memfd_create("delegatectl-kvmi", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        char buf[65536];
        if (in < 0 || fd < 0)
                return -errno;
        for (;;) {
                ssize_t n = read(in, buf, sizeof(buf));
                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                if (write(fd, buf, n) != n)
                        return -EIO;
        }
        if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0)
                return -errno;
        return TAKE_FD(fd);
}

static int command(delegate_ctx *c, char *line, bool json) {
        delegate_error e = { 0 };
        _cleanup_erase_free_ char *res = NULL;
        char *save, *w = strtok_r(line, " \t\n", &save);
        if (!w)
                return 0;
        if (streq(w, "state") || streq(w, "detach")) {
                int r = delegate_call_with_fds(c, streq(w, "state") ? DELEGATE_OP_STATE_GET : DELEGATE_OP_KVMI_DETACH,
                                               NULL, NULL, 0, &res, NULL, 0, NULL, &e);
                return print_reply(r, res, &e, json);
        }
        if (streq(w, "file")) {
                const char *path = strtok_r(NULL, " \t\n", &save);
                int fd = path ? sealed_copy(path) : -EINVAL;
                if (fd < 0) {
                        fprintf(stderr, "delegatectl: kvmi: file '%s': %s\n", path ? path : "", strerror(-fd));
                        return 1;
                }
                int r = delegate_call_with_fds(c, DELEGATE_OP_KVMI_SET_PAGE_ACCESS, "{\"memfd\":0}", &fd, 1, &res, NULL,
                                               0, NULL, &e);
                close(fd);
                return print_reply(r, res, &e, json);
        }
        if (streq(w, "set")) {
                _cleanup_json_gen_ json_gen *g = json_gen_new();
                _cleanup_erase_free_ char *args = NULL;
                if (!g) {
                        fprintf(stderr, "delegatectl: kvmi: set: %s\n", strerror(ENOMEM));
                        return 1;
                }
                json_gen_map_open(g);
                json_gen_str(g, "entries");
                json_gen_array_open(g);
                for (char *gpa; (gpa = strtok_r(NULL, " \t\n", &save));) {
                        char *acc = strtok_r(NULL, " \t\n", &save);
                        if (!acc) {
                                fprintf(stderr, "delegatectl: kvmi: set takes GPA ACCESS pairs\n");
                                return 1;
                        }
                        json_gen_array_open(g);
                        if (!strncmp(gpa, "0x", 2))
                                json_gen_str(g, gpa);
                        else
                                json_gen_u64(g, strtoull(gpa, NULL, 10));
                        json_gen_str(g, acc);
                        json_gen_array_close(g);
                }
                json_gen_array_close(g);
                json_gen_map_close(g);
                int r = json_gen_take(g, &args, NULL);
                if (r < 0) {
                        fprintf(stderr, "delegatectl: kvmi: set: cannot write the arguments: %s\n", strerror(-r));
                        return 1;
                }
                r = delegate_call_with_fds(c, DELEGATE_OP_KVMI_SET_PAGE_ACCESS, args, NULL, 0, &res, NULL, 0, NULL,
                                               &e);
                return print_reply(r, res, &e, json);
        }
        fprintf(stderr, "delegatectl: kvmi: unknown command '%s' (set, file, state, detach)\n", w);
        return 1;
}

int cmd_kvmi(int argc, char **argv) {
        static const struct option options[] = { { "unkeyed", no_argument, NULL, 'u' }, {} };
        bool keyed = true;
        int ch;
        optind = 1;
        while ((ch = getopt_long(argc, argv, "+", options, NULL)) >= 0) {
                if (ch != 'u')
                        return 2;
                keyed = false;
        }
        if (optind >= argc) {
                fprintf(stderr, "delegatectl: kvmi run needs the program that plays QEMU's part\n");
                return 2;
        }
        delegate_ctx *c;
        delegate_error e;
        if (delegate_open(DELEGATE_API_VERSION, arg_socket, "delegatectl", arg_vm, &c, &e) < 0)
                return print_reply(-1, NULL, &e, arg_json);
        _cleanup_erase_free_ char *res = NULL;
        int r = delegate_call_with_fds(c, DELEGATE_OP_KVMI_ATTACH, keyed ? "{\"keyed\":true}" : "{\"keyed\":false}",
                                       NULL, 0, &res, NULL, 0, NULL, &e);
        if (r < 0) {
                delegate_ctx_free(c);
                return print_reply(r, NULL, &e, arg_json);
        }
        _cleanup_json_ json_value *v = NULL;
        json_parse_error je;
        json_parse(res, strlen(res), false, &v, &je);
        const json_value *secret = json_get(v, "secret");
        char dir[] = "/tmp/delegatectl-kvmi-XXXXXX";
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (!mkdtemp(dir) || lfd < 0) {
                fprintf(stderr, "delegatectl: kvmi: cannot make a socket in /tmp: %m\n");
                delegate_ctx_free(c);
                return 1;
        }
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/kvmi.sock", dir);
        if (bind(lfd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(lfd, 4) < 0) {
                fprintf(stderr, "delegatectl: kvmi: cannot listen on %s: %m\n", sa.sun_path);
                rmdir(dir);
                delegate_ctx_free(c);
                return 1;
        }
        pid_t pid = fork();
        if (pid < 0) {
                fprintf(stderr, "delegatectl: kvmi: cannot start '%s': fork: %m\n", argv[optind]);
                delegate_call_with_fds(c, DELEGATE_OP_KVMI_DETACH, NULL, NULL, 0, NULL, NULL, 0, NULL, &e);
                delegate_ctx_free(c);
                unlink(sa.sun_path);
                rmdir(dir);
                return 1;
        }
        if (pid == 0) {
                setenv("DELEGATE_KVMI_SOCKET", sa.sun_path, 1);
                if (json_is_string(secret))
                        setenv("DELEGATE_KVMI_SECRET", secret->string.str, 1);
                execvp(argv[optind], argv + optind);
                fprintf(stderr, "delegatectl: kvmi: cannot run '%s': %m\n", argv[optind]);
                _exit(127);
        }
        char line[4096];
        int rc = 0;
        /* poll() sees only what is still in the pipe: stdio must not read lines ahead of fgets() */
        setvbuf(stdin, NULL, _IONBF, 0);
        for (;;) {
                struct pollfd p[2] = { { STDIN_FILENO, POLLIN, 0 }, { lfd, POLLIN, 0 } };
                if (poll(p, 2, -1) < 0 && errno != EINTR)
                        break;
                if (p[1].revents & POLLIN) {
                        _cleanup_close_ int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
                        _cleanup_free_ char *cres = NULL;
                        if (fd >= 0) {
                                r = delegate_call_with_fds(c, DELEGATE_OP_KVMI_CONNECT, "{\"socket\":0}", &fd, 1, &cres,
                                                           NULL, 0, NULL, &e);
                                print_reply(r, cres, &e, arg_json);
                                fflush(stdout);
                        }
                }
                if (p[0].revents) {
                        if (!fgets(line, sizeof(line), stdin))
                                break;
                        rc |= command(c, line, arg_json);
                        fflush(stdout);
                }
        }
        delegate_error e2;
        delegate_call_with_fds(c, DELEGATE_OP_KVMI_DETACH, NULL, NULL, 0, NULL, NULL, 0, NULL, &e2);
        delegate_ctx_free(c);
        unlink(sa.sun_path);
        rmdir(dir);
        int st = 0;
        if (pid > 0)
                waitpid(pid, &st, 0);
        return rc;
}
