/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * launcher-qemu.c - starting QEMU held at a gate: the child exists (so the
 * broker can act on its pid, e.g. RLIMIT_MEMLOCK) before it execs QEMU;
 * its argv is built with qemu_arg() (launcher-cmdline.c, launcher-devices.c).
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
                erase_free(q->argv[i]); /* the blockdev requests, the console's path, the kernel's command line */
        free(q->argv);
        q->argv = NULL;
        q->argc = 0;
}
