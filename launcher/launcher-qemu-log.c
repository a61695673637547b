/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * launcher-qemu-log.c - QEMU's stderr, through the launcher: forwarded to
 * the launcher's own stderr as it comes, its last bytes kept, so that a
 * QEMU that exits early is reported with its exit status and its last
 * words ("mlockall: Cannot allocate memory") rather than as a closed QMP
 * socket.
 */
#include <poll.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>

#include "launcher.h"

int qemu_status_code(int st) {
        if (WIFEXITED(st))
                return WEXITSTATUS(st);
        if (WIFSIGNALED(st))
                return 128 + WTERMSIG(st);
        return 1;
}

static void tail_add(qemu_proc *q, const char *p, size_t n) {
        if (n >= sizeof(q->tail)) {
                p += n - sizeof(q->tail);
                n = sizeof(q->tail);
        }
        if (q->tail_len + n > sizeof(q->tail)) {
                size_t drop = q->tail_len + n - sizeof(q->tail);
                memmove(q->tail, q->tail + drop, q->tail_len - drop);
                q->tail_len -= drop;
        }
        memcpy(q->tail + q->tail_len, p, n);
        q->tail_len += n;
}

int qemu_stderr_pump(qemu_proc *q) {
        char buf[4096];
        while (q->err_fd >= 0) {
                ssize_t n = read(q->err_fd, buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return 0;
                if (n <= 0) {
                        q->err_fd = safe_close(q->err_fd);
                        return -EPIPE;
                }
                tail_add(q, buf, (size_t) n);
                /* best effort: QEMU's words reach the pod's log even if ours cannot be written */
                (void) !write(STDERR_FILENO, buf, (size_t) n);
        }
        return -EPIPE;
}

void qemu_stderr_drain(qemu_proc *q) {
        /* QEMU is gone: what is left in the pipe is all it said, up to EOF; bounded, in case
         * something QEMU left behind still holds the pipe */
        for (int t = 0; t < 2000 && q->err_fd >= 0; t += 50) {
                if (qemu_stderr_pump(q) < 0)
                        return;
                struct pollfd p = { q->err_fd, POLLIN, 0 };
                if (poll(&p, 1, 50) < 0 && errno != EINTR)
                        return;
        }
}

const char *qemu_last_words(const qemu_proc *q, unsigned lines, char *buf, size_t size) {
        size_t end = q->tail_len;
        while (end > 0 && (q->tail[end - 1] == '\n' || q->tail[end - 1] == '\r'))
                end--;
        size_t start = end;
        for (unsigned k = 0; start > 0; start--)
                if (q->tail[start - 1] == '\n' && ++k == lines)
                        break;
        size_t o = 0;
        for (size_t i = start; i < end && o + 4 < size; i++) {
                char ch = q->tail[i];
                if (ch == '\n') {
                        buf[o++] = ' ';
                        buf[o++] = '|';
                        buf[o++] = ' ';
                } else
                        buf[o++] = (ch >= 0x20 && ch < 0x7f) ? ch : '?';
        }
        buf[o] = 0;
        return o ? buf : "(nothing)";
}

bool qemu_exit_report(const vm_spec *s, qemu_proc *q, int wait_ms) {
        int st = 0;
        pid_t w = 0;
        if (q->pid <= 0)
                return false;
        for (int t = 0;; t += 20) {
                /* its stderr first: a full pipe would keep it from exiting */
                (void) qemu_stderr_pump(q);
                w = waitpid(q->pid, &st, WNOHANG);
                if (w != 0 || t >= wait_ms)
                        break;
                struct pollfd p = { q->err_fd, POLLIN, 0 };
                if (poll(&p, 1, 20) < 0 && errno != EINTR)
                        break;
        }
        if (w != q->pid)
                return false;
        qemu_stderr_drain(q);
        char words[1024];
        fprintf(stderr, "delegate-launcher[%s]: QEMU exited with status %d before the guest was resumed; its last "
                "words on stderr: %s\n", s->name, qemu_status_code(st), qemu_last_words(q, 4, words, sizeof(words)));
        q->pid = -1;
        return true;
}
