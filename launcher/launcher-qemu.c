/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * launcher-qemu.c - QEMU's command line, and starting it held at a gate:
 * the child exists (so the broker can act on its pid, e.g. RLIMIT_MEMLOCK)
 * before it execs QEMU.
 */
#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "launcher.h"

static int vadd(qemu_proc *q, const char *fmt, va_list ap) {
        char **n = realloc(q->argv, (q->argc + 2) * sizeof(char *));
        if (!n)
                return -ENOMEM;
        q->argv = n;
        if (vasprintf(&q->argv[q->argc], fmt, ap) < 0)
                return -ENOMEM;
        q->argv[++q->argc] = NULL;
        return 0;
}

int qemu_arg(qemu_proc *q, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        int r = vadd(q, fmt, ap);
        va_end(ap);
        return r;
}

#define add qemu_arg

const char *qemu_pick_accel(const vm_spec *s, char *why, size_t size) {
        if (!streq(s->accel, "auto")) {
                snprintf(why, size, "the spec asks for %s", s->accel);
                return s->accel;
        }
        _cleanup_close_ int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
        if (fd < 0) {
                snprintf(why, size, "/dev/kvm cannot be opened (%m)");
                return "tcg";
        }
        int v = ioctl(fd, KVM_GET_API_VERSION, 0);
        if (v != KVM_API_VERSION) {
                snprintf(why, size, "/dev/kvm answers API version %d", v);
                return "tcg";
        }
        snprintf(why, size, "/dev/kvm works");
        return "kvm";
}

int qemu_build_argv(const vm_spec *s, const char *accel, int qmp_fd, int *const *tap_fds, const size_t *n_tap_fds,
                    const char *incoming, qemu_proc *q) {
        int r = 0;
        r |= add(q, "%s", s->qemu);
        r |= add(q, "-name");
        r |= add(q, "guest=%s,debug-threads=on", s->name);
        /* paused: every delegated step happens before the guest runs */
        if (incoming) {
                r |= add(q, "-incoming");
                r |= add(q, "defer");
        } else
                r |= add(q, "-S");
        r |= add(q, "-nodefaults");
        r |= add(q, "-no-user-config");
        r |= add(q, "-display");
        r |= add(q, "none");
        r |= add(q, "-accel");
        r |= add(q, "%s", accel);
        r |= add(q, "-m");
        r |= add(q, "%llu", (unsigned long long) (s->memory >> 20));
        r |= add(q, "-smp");
        r |= add(q, "%u", s->vcpus);
        if (s->mem_lock) {
                r |= add(q, "-overcommit");
                r |= add(q, "mem-lock=on");
        }
        r |= add(q, "-chardev");
        r |= add(q, "socket,id=qmp,fd=%d", qmp_fd);
        r |= add(q, "-mon");
        r |= add(q, "chardev=qmp,mode=control");
        for (size_t i = 0; i < s->n_nics; i++) {
                const nic_spec *n = &s->nics[i];
                char fds[256] = "", vhostfds[256] = "";
                /* with vhost the broker sent 2 fds per queue: the TAP queues, then the vhost-net fds */
                bool vhost = n->vhost != NIC_VHOST_OFF && n_tap_fds[i] == 2 * (size_t) n->queues;
                size_t queues = vhost ? n->queues : n_tap_fds[i];
                for (size_t k = 0; k < queues; k++) {
                        snprintf(fds + strlen(fds), sizeof(fds) - strlen(fds), "%s%d", k ? ":" : "", tap_fds[i][k]);
                        if (vhost)
                                snprintf(vhostfds + strlen(vhostfds), sizeof(vhostfds) - strlen(vhostfds), "%s%d",
                                         k ? ":" : "", tap_fds[i][queues + k]);
                }
                r |= add(q, "-netdev");
                if (vhost)
                        r |= add(q, "tap,id=%s,fds=%s,vhost=on,vhostfds=%s", n->id, fds, vhostfds);
                else
                        r |= add(q, "tap,id=%s,fds=%s,vhost=off", n->id, fds);
                r |= add(q, "-device");
                r |= add(q, "virtio-net-pci,netdev=%s,id=%s-dev%s%s%s", n->id, n->id, n->mac[0] ? ",mac=" : "",
                         n->mac, queues > 1 ? ",mq=on" : "");
        }
        if (s->firmware_log) {
                /* SeaBIOS writes its log to I/O port 0x402: proof the guest ran */
                r |= add(q, "-chardev");
                r |= add(q, "file,id=fwlog,path=%s", s->firmware_log);
                r |= add(q, "-device");
                r |= add(q, "isa-debugcon,iobase=0x402,chardev=fwlog");
        }
        r |= devices_argv(s, q);
        r |= add(q, "-sandbox");
        r |= add(q, "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");
        for (size_t i = 0; i < s->n_extra_args; i++)
                r |= add(q, "%s", s->extra_args[i]);
        return r < 0 ? -ENOMEM : 0;
}

int qemu_fork(const vm_spec *s, qemu_proc *q, const int *keep_fds, size_t n_keep) {
        int gate[2], err[2];
        pid_t launcher = getpid();
        if (pipe2(gate, O_CLOEXEC) < 0)
                return negative_errno();
        /* QEMU's stderr: through us (launcher-qemu-log.c) */
        if (pipe2(err, O_CLOEXEC) < 0) {
                int e = errno;
                close(gate[0]);
                close(gate[1]);
                return -e;
        }
        pid_t pid = fork();
        if (pid < 0) {
                int e = errno;
                close(gate[0]);
                close(gate[1]);
                close(err[0]);
                close(err[1]);
                return -e;
        }
        if (pid == 0) {
                char c;
                close(gate[1]);
                close(err[0]);
                if (dup2(err[1], STDERR_FILENO) < 0) /* the copy is not close-on-exec */
                        _exit(127);
                /* die with the launcher; if it died before the prctl, our parent is no longer
                 * it (comparing with 1 would be wrong: the launcher may be a container's PID 1) */
                if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != launcher)
                        _exit(127);
                /* its own process group: terminal and group signals go to the launcher, which
                 * shuts QEMU down in order */
                setpgid(0, 0);
                sigset_t all;
                sigemptyset(&all);
                sigprocmask(SIG_SETMASK, &all, NULL);
                if (s->realtime && !s->rt_dedicated) {
                        /* safety "rttime", rtkit's rule: realtime threads run under a finite RLIMIT_RTTIME
                         * ("dedicated" leaves it unlimited: a busy vCPU never sleeps) */
                        struct rlimit rl = { s->rt_rttime_us, s->rt_rttime_us };
                        if (setrlimit(RLIMIT_RTTIME, &rl) < 0) {
                                fprintf(stderr, "delegate-launcher: setrlimit(RLIMIT_RTTIME): %m\n");
                                _exit(127);
                        }
                }
                for (size_t i = 0; i < n_keep; i++) {
                        int fl = fcntl(keep_fds[i], F_GETFD);
                        if (fl < 0 || fcntl(keep_fds[i], F_SETFD, fl & ~FD_CLOEXEC) < 0)
                                _exit(127);
                }
                /* held until the launcher has done what must precede QEMU */
                ssize_t k = read(gate[0], &c, 1);
                if (k != 0)
                        _exit(127); /* the launcher wrote: it gives up */
                execvp(q->argv[0], q->argv);
                fprintf(stderr, "delegate-launcher: cannot run '%s': %m\n", q->argv[0]);
                _exit(127);
        }
        close(gate[0]);
        close(err[1]);
        (void) fcntl(err[0], F_SETFL, O_NONBLOCK);
        /* read only between steps until QEMU runs: room for its warnings meanwhile (best effort,
         * up to fs.pipe-max-size) */
        (void) fcntl(err[0], F_SETPIPE_SZ, 1 << 20);
        q->pid = pid;
        q->gate = gate[1];
        q->err_fd = err[0];
        return 0;
}

int qemu_release(qemu_proc *q) {
        q->gate = safe_close(q->gate); /* EOF: go */
        return 0;
}

void qemu_proc_done(qemu_proc *q) {
        if (q->gate >= 0) {
                /* abort: tell the held child to exit */
                (void) !write(q->gate, "x", 1);
                q->gate = safe_close(q->gate);
        }
        q->err_fd = safe_close(q->err_fd);
        for (size_t i = 0; i < q->argc; i++)
                free(q->argv[i]);
        free(q->argv);
        q->argv = NULL;
        q->argc = 0;
}
