/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * launcher-kvmi.c - QEMU's introspection channel (KVM-VMI's QEMU, branch
 * kvmi-v12), handed over to the broker, which plays the introspection tool.
 *
 * That QEMU's introspection object wants a socket chardev with reconnect=N
 * (and refuses reconnect with fd=): QEMU is the client.  So the launcher
 * listens on a socket in a private directory of the pod (no privilege
 * needed), gives QEMU
 *   -chardev socket,id=kvmi-chr,path=SOCK,reconnect=N
 *   -object secret,id=kvmi-key,format=raw,file=/dev/fd/N (keyed: a sealed
 *                                                          memfd, as disk keys)
 *   -object introspection,id=kvmi,chardev=kvmi-chr[,key=kvmi-key]
 * and hands every connection QEMU makes (the first, and each reconnection
 * after a reset, a resume or a dropped handshake) to the broker with
 * kvmi.connect.  The broker answers the hello, enables the UNHOOK event,
 * re-applies the pages it programmed, and replies with what it did.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "launcher.h"

static int add_arg(vm_spec *s, const char *text) {
        if (s->n_extra_args >= SPEC_MAX_EXTRA_ARGS)
                return -E2BIG;
        char *a = strdup(text);
        if (!a)
                return -ENOMEM;
        s->extra_args[s->n_extra_args++] = a;
        return 0;
}

int kvmi_hand_prepare(delegate_ctx *ctx, vm_spec *s, kvmi_hand *k, char *err, size_t size) {
        delegate_error e;
        char *res = NULL, args[64], opt[256];
        json_value *v = NULL;
        int r;
        snprintf(args, sizeof(args), "{\"keyed\":%s}", s->kvmi_keyed ? "true" : "false");
        r = delegate_call(ctx, DELEGATE_OP_KVMI_ATTACH, args, &res, NULL, 0, NULL, NULL, &e);
        if (r < 0) {
                snprintf(err, size, "kvmi.attach: %s", e.message);
                return r;
        }
        json_parse_error pe;
        r = json_parse(res, strlen(res), false, &v, &pe);
        explicit_bzero(res, strlen(res));
        delegate_free_string(res);
        const json_value *sec = r >= 0 ? json_get(v, "secret") : NULL;
        if (s->kvmi_keyed && (!sec || sec->type != JSON_STRING)) {
                json_free(v);
                snprintf(err, size, "kvmi.attach: the broker's answer has no secret");
                return -EPROTO;
        }
        const char *tmp = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
        if (strlen(tmp) > 40) { /* the socket's path must fit sun_path, and ours */
                json_free(v);
                snprintf(err, size, "$TMPDIR '%s' is longer than 40 characters: no room for the socket's path", tmp);
                return -ENAMETOOLONG;
        }
        snprintf(k->dir, sizeof(k->dir), "%s/delegate-kvmi-XXXXXX", tmp);
        if (!mkdtemp(k->dir)) {
                json_free(v);
                snprintf(err, size, "cannot make a private directory in %s: %m", tmp);
                return -errno;
        }
        snprintf(k->sock, sizeof(k->sock), "%s/kvmi.sock", k->dir);
        if (s->kvmi_keyed) {
                size_t len = strlen(sec->string.str);
                k->key_fd = secret_memfd("delegate-kvmi-key", sec->string.str, len, "the KVMI secret", err, size);
                snprintf(k->secret, sizeof(k->secret), "%s", sec->string.str);
                explicit_bzero(sec->string.str, len);
                if (k->key_fd < 0) {
                        json_free(v);
                        return k->key_fd;
                }
        }
        json_free(v);
        k->keyed = s->kvmi_keyed;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", k->sock);
        k->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (k->lfd < 0 || bind(k->lfd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(k->lfd, 4) < 0) {
                snprintf(err, size, "cannot listen on %s: %m", k->sock);
                return -errno;
        }
        snprintf(opt, sizeof(opt), "socket,id=kvmi-chr,path=%s,reconnect=%u", k->sock, s->kvmi_reconnect_s);
        r = add_arg(s, "-chardev");
        if (r >= 0)
                r = add_arg(s, opt);
        if (r >= 0 && s->kvmi_keyed) {
                snprintf(opt, sizeof(opt), "secret,id=kvmi-key,format=raw,file=/dev/fd/%d", k->key_fd);
                r = add_arg(s, "-object");
                if (r >= 0)
                        r = add_arg(s, opt);
        }
        snprintf(opt, sizeof(opt), "introspection,id=kvmi,chardev=kvmi-chr%s", s->kvmi_keyed ? ",key=kvmi-key" : "");
        if (r >= 0)
                r = add_arg(s, "-object");
        if (r >= 0)
                r = add_arg(s, opt);
        if (r < 0) {
                snprintf(err, size, "too many QEMU arguments for the introspection options");
                return r;
        }
        return 0;
}

void kvmi_hand_reattach(delegate_ctx *ctx, const vm_spec *s, kvmi_hand *k) {
        delegate_error e;
        char args[128];
        if (k->keyed)
                snprintf(args, sizeof(args), "{\"keyed\":true,\"secret\":\"%s\"}", k->secret);
        else
                snprintf(args, sizeof(args), "{\"keyed\":false}");
        int r = delegate_call(ctx, DELEGATE_OP_KVMI_ATTACH, args, NULL, NULL, 0, NULL, NULL, &e);
        explicit_bzero(args, sizeof(args));
        if (r < 0)
                launcher_say(s, "KVMI: kvmi.attach with the restarted broker failed: %s; QEMU's connections will be "
                             "refused",
                             e.message);
        else
                launcher_say(s, "KVMI: channel opened again with the restarted broker (the secret QEMU holds); "
                             "QEMU's next connection is handed over");
}

void kvmi_hand_forget_key(kvmi_hand *k) {
        k->key_fd = safe_close(k->key_fd);
}

void kvmi_hand_accept(delegate_ctx *ctx, const vm_spec *s, kvmi_hand *k) {
        int fd = accept4(k->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
                return;
        delegate_error e;
        char *res = NULL;
        k->handed++;
        int r = delegate_call_with_fds(ctx, DELEGATE_OP_KVMI_CONNECT, "{\"socket\":0}", &fd, 1, &res, NULL, 0, NULL,
                                       &e);
        close(fd);
        if (r < 0)
                launcher_say(s, "KVMI: QEMU's connection %u: the broker could not take it over: %s (QEMU reconnects "
                             "by itself)",
                             k->handed, e.message);
        else
                launcher_say(s, "KVMI: QEMU's connection %u handed to the broker: %s", k->handed, res);
        delegate_free_string(res);
}

void kvmi_hand_done(kvmi_hand *k) {
        if (k->lfd >= 0)
                close(k->lfd);
        k->lfd = -1;
        kvmi_hand_forget_key(k);
        if (k->sock[0])
                unlink(k->sock);
        if (k->dir[0])
                rmdir(k->dir);
        explicit_bzero(k->secret, sizeof(k->secret));
        k->dir[0] = k->sock[0] = 0;
}
