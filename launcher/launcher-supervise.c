/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * launcher-supervise.c - the VM runs: one poll loop over the signals, QMP,
 * the broker connection, QEMU's KVMI connections and QEMU's stderr, until
 * QEMU exits.  SIGTERM/SIGINT ask the guest to power down (system_powerdown),
 * then quit, then SIGKILL; a broker that goes away is reconnected while the
 * VM keeps running.
 */
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/signalfd.h>
#include <sys/wait.h>

#include "launcher.h"

/*
 * The broker connection while the VM runs.  The broker never speaks unasked,
 * so its socket turning readable means it went away (a restart): the VM
 * keeps running and the launcher reconnects with backoff for as long as
 * QEMU runs, then re-reads state.get.
 */
typedef struct broker_watch {
        delegate_ctx *ctx;
        int64_t retry_at; /* -1: connected */
        unsigned delay_ms;
        unsigned attempts;
} broker_watch;

static int broker_watch_fd(const broker_watch *w) {
        return w->retry_at < 0 ? delegate_ctx_fd(w->ctx) : -1;
}

/* "session 4: 1 TAP device(s), 1 cgroup(s) created", from a state.get answer */
static void state_summary(const char *st, char *buf, size_t size) {
        _cleanup_json_ json_value *v = NULL;
        json_parse_error je;
        const json_value *tap = NULL, *cg = NULL;
        uint64_t session = 0;
        if (json_parse(st, strlen(st), false, &v, &je) == 0) {
                json_to_u64(json_get(v, "session"), &session);
                tap = json_get(v, "tap");
                cg = json_get(v, "cgroups_created");
        }
        snprintf(buf, size, "session %" PRIu64 ": %zu TAP device(s), %zu cgroup(s) created", session,
                 tap && tap->type == JSON_ARRAY ? tap->array.n : 0, cg && cg->type == JSON_ARRAY ? cg->array.n : 0);
}

/* The socket turned readable: make sure the broker is gone before reconnecting
 * (a new session would end the old one and with it the VM's TAP devices). */
static void broker_watch_event(broker_watch *w, const vm_spec *s) {
        delegate_error e;
        char *st = NULL;
        int r = delegate_state_get(w->ctx, &st, &e);
        delegate_free_string(st);
        if (r >= 0)
                return;
        launcher_say(s, "the broker went away (%s); the VM keeps running; reconnecting", e.message);
        w->retry_at = mono_ms();
        w->delay_ms = 0;
        w->attempts = 0;
}

static void broker_watch_retry(broker_watch *w, const vm_spec *s) {
        delegate_error e;
        char *st = NULL, sum[160];
        w->attempts++;
        if (delegate_connect(w->ctx, &e) < 0 || delegate_state_get(w->ctx, &st, &e) < 0) {
                if (w->attempts == 1)
                        launcher_say(s, "the broker is not back yet (%s); retrying while the VM runs", e.message);
                w->delay_ms = backoff_next_ms(w->delay_ms);
                w->retry_at = mono_ms() + w->delay_ms;
                return;
        }
        state_summary(st, sum, sizeof(sum));
        delegate_free_string(st);
        launcher_say(s, "reconnected to the broker after %u attempt(s), %s; state.get: %s", w->attempts,
                     delegate_ctx_resumed(w->ctx) ? "session resumed" : "in a new session (the broker had not kept the old one)",
                     sum);
        w->retry_at = -1;
}

typedef struct supervisor {
        const vm_spec *s;
        qmp *q;
        qemu_proc *qp; /* its stderr */
        pid_t qemu;
        int sfd;
        broker_watch broker;
        kvmi_hand *kvmi; /* NULL: no introspection */
        bool incoming;   /* say when the incoming migration completes */
        int64_t quit_at, kill_at;
} supervisor;

static int next_timeout(const supervisor *v) {
        int64_t next = -1, now = mono_ms();
        const int64_t at[] = { v->quit_at, v->kill_at, v->broker.retry_at };
        for (size_t i = 0; i < ELEMENTSOF(at); i++)
                if (at[i] >= 0 && (next < 0 || at[i] < next))
                        next = at[i];
        return next < 0 ? -1 : next > now ? (int) (next - now) : 0;
}

static void shutdown_timers(supervisor *v) {
        char err[512];
        int64_t now = mono_ms();
        if (v->quit_at >= 0 && now >= v->quit_at) {
                launcher_say(v->s, "QEMU did not power down within %u s: quit", v->s->shutdown_timeout_s);
                if (v->q->fd >= 0)
                        qmp_execute(v->q, "quit", NULL, NULL, 5000, err, sizeof(err));
                v->quit_at = -1;
                v->kill_at = now + 10000;
        } else if (v->kill_at >= 0 && now >= v->kill_at) {
                launcher_say(v->s, "QEMU still runs: SIGKILL");
                kill(v->qemu, SIGKILL);
                v->kill_at = -1;
        }
}

/* A signal: > 0 (QEMU's exit status + 1) when QEMU exited, else 0. */
static int on_signal(supervisor *v) {
        char err[512];
        struct signalfd_siginfo si;
        if (read(v->sfd, &si, sizeof(si)) != sizeof(si))
                return 0;
        if (si.ssi_signo == SIGCHLD) {
                int st;
                pid_t w;
                while ((w = waitpid(-1, &st, WNOHANG)) > 0)
                        if (w == v->qemu) {
                                char words[1024];
                                qemu_stderr_drain(v->qp); /* everything it said before it went */
                                if (qemu_status_code(st) == 0)
                                        launcher_say(v->s, "QEMU exited (status 0)");
                                else
                                        launcher_say(v->s, "QEMU exited (status %d); its last words on stderr: %s",
                                                     qemu_status_code(st), qemu_last_words(v->qp, 4, words, sizeof(words)));
                                return qemu_status_code(st) + 1;
                        }
        } else if (v->quit_at < 0 && v->kill_at < 0) {
                launcher_say(v->s, "signal %u: asking the guest to power down (system_powerdown)", si.ssi_signo);
                if (v->q->fd < 0 || qmp_execute(v->q, "system_powerdown", NULL, NULL, 5000, err, sizeof(err)) < 0)
                        v->kill_at = mono_ms();
                else
                        v->quit_at = mono_ms() + (int64_t) v->s->shutdown_timeout_s * 1000;
        }
        return 0;
}

static int supervise_loop(supervisor *v) {
        for (;;) {
                if (v->incoming && v->q->resume_seen) {
                        launcher_say(v->s, "incoming migration completed: guest running");
                        v->incoming = false;
                }
                struct pollfd p[5] = { { v->sfd, POLLIN, 0 }, { v->q->fd, POLLIN, 0 },
                                       { broker_watch_fd(&v->broker), POLLIN, 0 },
                                       { v->kvmi ? v->kvmi->lfd : -1, POLLIN, 0 }, { v->qp->err_fd, POLLIN, 0 } };
                int r = poll(p, 5, next_timeout(v)); /* negative fds are ignored */
                if (r < 0 && errno != EINTR)
                        return 1;
                shutdown_timers(v);
                if (v->broker.retry_at >= 0 && mono_ms() >= v->broker.retry_at) {
                        broker_watch_retry(&v->broker, v->s);
                        if (v->broker.retry_at < 0 && v->kvmi) /* back: KVMI channels do not survive */
                                kvmi_hand_reattach(v->broker.ctx, v->s, v->kvmi);
                }
                if (p[2].fd >= 0 && p[2].revents)
                        broker_watch_event(&v->broker, v->s);
                if (p[3].fd >= 0 && (p[3].revents & POLLIN))
                        kvmi_hand_accept(v->broker.ctx, v->s, v->kvmi);
                if (p[4].fd >= 0 && p[4].revents)
                        (void) qemu_stderr_pump(v->qp);
                if (v->q->fd >= 0 && p[1].revents && qmp_drain(v->q) < 0)
                        v->q->fd = safe_close(v->q->fd); /* QEMU is going; wait for its exit */
                if ((p[0].revents & POLLIN) && (r = on_signal(v)) > 0)
                        return r - 1;
        }
}

int supervise(launch *l, int sfd) {
        supervisor v = { .s = l->s, .q = &l->q, .qp = &l->qp, .qemu = l->qp.pid, .sfd = sfd,
                         .incoming = l->incoming != NULL, .broker = { .ctx = l->ctx, .retry_at = -1 },
                         .kvmi = l->s->kvmi ? &l->kh : NULL, .quit_at = -1, .kill_at = -1 };
        int r = supervise_loop(&v);
        l->qp.pid = -1; /* reaped */
        return r;
}
