/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-unotify-tap.c - TAP devices for unmodified programs: the
 * ioctl(TUNSETIFF) that creates one, and the SIOCSIFHWADDR, SIOCSIFFLAGS
 * and SIOCSIFMTU that follow, intercepted by delegate-run(1)'s filter.
 *
 * TUNSETIFF is decided as tap.create {name, queues, vnet_hdr} and carried
 * out on a copy of the caller's own /dev/net/tun fd (pidfd_getfd()), so
 * the device appears where the caller opened that fd and its queue is the
 * caller's fd, as without interception.  It is admitted, counted and
 * recorded by tap.create's own steps (tap_device_start(), tap_step_quota():
 * vanished devices pruned first, then --max-tap and max_devices;
 * tap_create_answer(), tap_record_add()).  The creation is exclusive
 * (IFF_TUN_EXCL): a device that already exists is never taken over, the
 * call goes back to the kernel, which lets the caller attach to a device
 * its uid owns (a pre-made TAP) and refuses the rest.  A device this
 * session made gets more queues (IFF_MULTI_QUEUE) up to the rule's
 * max_queues.  The device is owned by the session's uid and recorded in
 * the session like tap.create's: removed when the session ends.
 *
 * A record can outlive its device: a transient device goes with its last
 * queue (QEMU exits, libvirt starts the domain again under the same
 * session).  So before a TUNSETIFF naming a recorded device is decided, a
 * helper in that network namespace looks whether the device with that name
 * AND ifindex is still there; if not, the record is forgotten and the call
 * is a new creation (exclusive, owned, counted; a device that took the
 * name meanwhile is the kernel's to judge).  Another queue is attached with
 * the session's uid and gid, not as root: the kernel creates nothing then
 * and attaches only to a device they may use; the queue is kept only if
 * it joined the device with the recorded ifindex.
 *
 * The SIOCSIF* requests are carried out only on a device this session
 * created, by name and ifindex in the network namespace of the caller's
 * socket, decided as tap.create {name, mtu} / {name, mac} / {name}; on any
 * other device the kernel judges them (EPERM without CAP_NET_ADMIN).
 */
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <syslog.h>

#include "broker-closer.h"
#include "broker-unotify-tap.h"

#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL
#endif
#ifndef SIOCGSKNS
#define SIOCGSKNS 0x894C
#endif

#define TAP_FLAGS_KNOWN (IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE | IFF_VNET_HDR | IFF_ONE_QUEUE | IFF_TUN_EXCL)

/* A copy of the caller's fd @fd, or -errno; the notification is checked to be pending after it. */
static int caller_fd(const unotify_call *call, uint64_t fd) {
        _cleanup_close_ int pidfd = pidfd_open(call->n.pid, PIDFD_THREAD);
        if (pidfd < 0 && (pid_t) call->n.pid == call->tgid)
                pidfd = pidfd_open(call->tgid, 0);
        if (pidfd < 0)
                return negative_errno();
        if (fd > INT32_MAX)
                return -EBADF;
        int copy = pidfd_getfd(pidfd, (int) fd, 0);
        if (copy < 0)
                return negative_errno();
        if (!unotify_valid(call)) { /* the thread id may name another task by now */
                close_copies(&copy, 1); /* a copy of the caller's: by the closer, as it is (broker-closer.h) */
                return -ESRCH;
        }
        return copy;
}

static bool same_netns(int a, int b) {
        struct stat sa, sb;
        return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* This session's record of a device it created (not adopted, not a bridge) named @name, or NULL. */
static tap_record *session_device(client *c, const char *name) {
        for (size_t i = 0; c && i < TS(c)->n; i++)
                if (!TS(c)->rec[i].adopted && !TS(c)->rec[i].bridge && streq(TS(c)->rec[i].name, name))
                        return &TS(c)->rec[i];
        return NULL;
}

/* In the helper: enter the network namespace of nsfs fd @ns (kept in @fds for the loop); 0, or the size of
 * @o with the error. */
static ssize_t enter_netns(int ns, tap_out *o, int *fds, size_t *n_fds) {
        if (ns < 0 || setns(ns, CLONE_NEWNET) < 0) {
                int e = errno;
                safe_close(ns);
                return tap_fail(o, ERR_SYSTEM, e, "cannot enter the device's network namespace: %s", strerror(e));
        }
        fds[(*n_fds)++] = ns;
        return 0;
}

/*
 * In the helper: another queue of the recorded device, joined as the session's uid and gid.  Without
 * CAP_NET_ADMIN the kernel creates no device (the recorded one vanished meanwhile: EPERM) and attaches
 * only to one they may use; the queue stays only if it joined the device with the recorded ifindex.
 */
static ssize_t attach_step(const unotify_call *call, tap_out *o, int *fds, size_t *n_fds) {
        struct ifreq ifr = {}, got = {};
        /* names resolve where the caller opened /dev/net/tun: the record's netns (checked by the loop) */
        ssize_t r = enter_netns(ioctl(call->tun_fd, SIOCGSKNS), o, fds, n_fds);
        if (r != 0)
                return r;
        if (prctl(PR_SET_DUMPABLE, 0) < 0 || setgroups(0, NULL) < 0 ||
            setresgid(call->group, call->group, call->group) < 0 ||
            setresuid(call->owner, call->owner, call->owner) < 0)
                return tap_fail(o, ERR_SYSTEM, errno, "cannot become uid %u: %m", (unsigned) call->owner);
        memcpy(ifr.ifr_name, call->devname, IFNAMSIZ);
        ifr.ifr_flags = (short) (call->ifr.ifr_flags & ~IFF_TUN_EXCL);
        if (ioctl(call->tun_fd, TUNSETIFF, &ifr) < 0)
                return tap_fail(o, ERR_SYSTEM, errno,
                                "TUNSETIFF '%s' as uid %u: %m (the device of ifindex %d is gone?)", call->devname,
                                (unsigned) call->owner, call->tap_ifindex);
        /* the queue pins the device it joined: its name gives its ifindex */
        if (ioctl(call->tun_fd, TUNGETIFF, &got) < 0 || (int) if_nametoindex(got.ifr_name) != call->tap_ifindex) {
                struct ifreq off = { .ifr_flags = IFF_DETACH_QUEUE };
                ioctl(call->tun_fd, TUNSETQUEUE, &off);
                return tap_fail(o, ERR_SYSTEM, EBUSY,
                                "'%s' is no longer the device of ifindex %d: its queue was detached", call->devname,
                                call->tap_ifindex);
        }
        memcpy(o->name, got.ifr_name, IFNAMSIZ);
        o->name[IFNAMSIZ - 1] = 0;
        o->ifindex = call->tap_ifindex;
        return sizeof(*o);
}

/*
 * In the helper, root in the caller's network namespace: TUNSETIFF on the copy, after tap.create's own
 * quota step (prune first, then --max-tap and the rule's max_devices).  A name that exists: ERR_EXISTS,
 * the kernel's to judge (unotify_tap_to_kernel()).
 */
static ssize_t tun_step(void *arg, void *out, size_t size, int *fds, size_t *n_fds) {
        const tap_step_in *in = arg; /* a forked helper's copy (the call's fds are the loop's), or the worker's */
        tap_out *o = out;
        struct ifreq ifr = {};
        if (size < sizeof(*o))
                return -ENOBUFS;
        memset(o, 0, sizeof(*o));
        if (in->tun.attach) /* a forked helper only: it changes ids */
                return attach_step(in->call, o, fds, n_fds);
        ssize_t quota = tap_step_quota(in, o, false);
        if (quota != 0)
                return quota;
        memcpy(ifr.ifr_name, in->tun.devname, IFNAMSIZ);
        ifr.ifr_flags = (short) (in->tun.flags | IFF_TUN_EXCL);
        if (ioctl(in->tun.fd, TUNSETIFF, &ifr) < 0)
                return tap_fail(o, errno == EBUSY ? ERR_EXISTS : ERR_SYSTEM, errno, "TUNSETIFF '%s': %m",
                                in->tun.devname);
        snprintf(o->name, sizeof(o->name), "%s", ifr.ifr_name);
        if (ioctl(in->tun.fd, TUNSETOWNER, (unsigned long) in->tun.owner) < 0)
                return tap_fail(o, ERR_SYSTEM, errno, "TUNSETOWNER: %m");
        /* where the device is: the netns the caller opened /dev/net/tun in */
        ssize_t r = enter_netns(ioctl(in->tun.fd, TUNGETDEVNETNS), o, fds, n_fds);
        if (r != 0)
                return r;
        o->ifindex = (int) if_nametoindex(o->name);
        return sizeof(*o);
}

static void tun_done(request *req, int status, const void *out, size_t len) {
        unotify_call *call = req->origin_data;
        client *c = req->c;
        tap_out o;
        if (!tap_create_answer(req, status, out, len, DC(req)->gen, &o))
                return;
        if (req->helper_n_fds != 1 || o.ifindex <= 0)
                return request_reply_error(req, ERR_SYSTEM, EIO, NULL, "the helper did not find the new device");
        if (call->tap_attach) {
                tap_record *rec = session_device(c, o.name);
                if (rec && rec->ifindex == o.ifindex) {
                        rec->queues++;
                        c->state_dirty = true;
                }
        } else {
                tap_record rec = { .ifindex = o.ifindex, .netns_fd = TAKE_FD(req->helper_fds[0]), .queues = 1 };
                snprintf(rec.name, sizeof(rec.name), "%s", o.name);
                if (tap_record_add(req, &rec) < 0)
                        return;
        }
        if (c)
                log_msg(c->b, LOG_INFO, "session %llu: seccomp: TUNSETIFF of pid %d: TAP device '%s' (ifindex %d) %s",
                        (unsigned long long) c->session, (int) call->tgid, o.name, o.ifindex,
                        call->tap_attach ? "got another queue" : "created");
        /* the kernel writes the name back (a template's "%d" filled in) */
        snprintf(call->devname, sizeof(call->devname), "%s", o.name);
        char res[64];
        snprintf(res, sizeof(res), "{\"name\":\"%s\",\"ifindex\":%d}", o.name, o.ifindex);
        request_reply_result(req, res, NULL, 0);
}

/* tap.create allowed it: act, a creation admitted as tap.create admits one */
static void tun_run(request *req, void *args _unused_, const policy_decision *d) {
        unotify_call *call = req->origin_data;
        client *c = req->c;
        tap_step_in *in = &DC(req)->in;
        in->call = call;
        in->tun.fd = call->tun_fd;
        in->tun.attach = call->tap_attach; /* a forked helper: device_step_run() or below */
        memcpy(in->tun.devname, call->devname, sizeof(in->tun.devname));
        in->tun.flags = call->ifr.ifr_flags;
        in->tun.owner = call->owner;
        if (!call->tap_attach)
                return tap_device_start(req, d->rule->tap.max_devices, false, &TS(c)->tap_inflight, tun_step, tun_done);
        int r = helper_run_netns(req, c->pidfd, tun_step, in, tun_done);
        if (r < 0)
                return request_reply_error(req, ERR_SYSTEM, -r, NULL, "cannot start the helper: %s", strerror(-r));
}

static void tun_decide(unotify_call *call, client *c);

/* What the probe of a recorded device found, in its network namespace. */
typedef struct probe_out {
        bool there; /* the device of that name and ifindex exists */
} probe_out;

static ssize_t probe_step(void *arg, void *out, size_t size, int *fds _unused_, size_t *n_fds _unused_) {
        const unotify_call *call = arg;
        probe_out *o = out;
        _cleanup_nl_sock_ struct nl_sock *sk = NULL;
        if (size < sizeof(*o))
                return -ENOBUFS;
        memset(o, 0, sizeof(*o));
        int r = tap_nl_open(&sk);
        if (r < 0)
                return -tap_nl_errno(r);
        o->there = tap_link_is(sk, call->devname, call->tap_ifindex);
        return sizeof(*o);
}

static void probe_release(request *req) {
        unotify_call *call = TAKE_PTR(req->origin_data);
        if (!call)
                return;
        unotify_answer(call, 0, req->b->exiting ? EINTR : EIO);
        unotify_call_free(call);
}

/* The probe's request: no operation, never decided nor audited, only the helper's carrier. */
static const request_origin probe_origin = { .release = probe_release };

static void probe_done(request *req, int status, const void *out, size_t len) {
        unotify_call *call = TAKE_PTR(req->origin_data);
        client *c = req->c;
        probe_out o = {};
        bool ok = status >= 0 && len >= sizeof(o);
        if (ok)
                memcpy(&o, out, sizeof(o));
        request_free(req);
        if (!c) /* the session ended meanwhile */
                return unotify_answer(call, 0, ECONNRESET), unotify_call_free(call);
        if (!ok) {
                log_msg(c->b, LOG_WARNING, "session %llu: seccomp: TUNSETIFF '%s': cannot look for the recorded device: %s",
                        (unsigned long long) c->session, call->devname, strerror(status < 0 ? -status : EIO));
                return unotify_answer(call, 0, EIO), unotify_call_free(call);
        }
        for (size_t i = 0; !o.there && i < TS(c)->n; i++)
                if (!TS(c)->rec[i].adopted && !TS(c)->rec[i].bridge && TS(c)->rec[i].ifindex == call->tap_ifindex &&
                    streq(TS(c)->rec[i].name, call->devname)) {
                        log_msg(c->b, LOG_INFO,
                                "session %llu: seccomp: TAP device '%s' (ifindex %d) vanished with its queues: "
                                "forgotten, TUNSETIFF of pid %d creates it anew",
                                (unsigned long long) c->session, call->devname, call->tap_ifindex, (int) call->tgid);
                        tap_forget_gone(c, UINT64_C(1) << i);
                        break;
                }
        tun_decide(call, c);
}

/* Is the recorded device of this TUNSETIFF still there?  A helper in its network namespace says. */
static void probe_start(unotify_call *call, client *c, const tap_record *rec) {
        call->tap_probed = true;
        call->tap_ifindex = rec->ifindex;
        request *req = request_new(c->b, &probe_origin);
        if (!req)
                return unotify_answer(call, 0, ENOMEM), unotify_call_free(call);
        req->c = c;
        req->next = c->acting;
        c->acting = req;
        req->origin_data = call;
        int r = helper_run_netns(req, rec->netns_fd, probe_step, call, probe_done);
        if (r < 0)
                request_free(req); /* probe_release() answers EIO */
}

/* Decide the TUNSETIFF of @call: another queue of a device of this session, or a creation. */
static void tun_decide(unotify_call *call, client *c) {
        uint16_t flags = (uint16_t) call->ifr.ifr_flags;
        char args[160];
        tap_record *rec = session_device(c, call->devname);
        unsigned queues = 1;
        if (rec && !call->tap_probed) {
                /* the name is the record's only where the caller opened /dev/net/tun in the record's netns */
                _cleanup_close_ int ns = ioctl(call->tun_fd, SIOCGSKNS);
                if (ns >= 0 && same_netns(ns, rec->netns_fd))
                        return probe_start(call, c, rec);
                rec = NULL;
        }
        if (rec && rec->ifindex != call->tap_ifindex)
                rec = NULL; /* not the device the probe found: a creation, exclusive */
        if (rec) {
                /* another queue of a device this session made */
                if (!(flags & IFF_MULTI_QUEUE))
                        return unotify_continue(call), unotify_call_free(call);
                call->tap_attach = true;
                queues = rec->queues + 1;
        }
        snprintf(args, sizeof(args), "{\"name\":\"%s\",\"queues\":%u,\"vnet_hdr\":%s}", call->devname, queues,
                 flags & IFF_VNET_HDR ? "true" : "false");
        int r = unotify_dispatch(call, DELEGATE_OP_TAP_CREATE, args, tun_run);
        if (r < 0) /* ECONNRESET: the session's listener went while the probe ran */
                return unotify_answer(call, 0, -r), unotify_call_free(call);
}

void unotify_tunsetiff(unotify_call *call, uint64_t fd, uint64_t arg) {
        client *c = call->u->c;
        struct stat st;
        call->ioctl_cmd = TUNSETIFF;
        call->on_reply = unotify_tap_reply;
        call->to_kernel = unotify_tap_to_kernel;
        call->ifr_ptr = arg;
        call->owner = c->cred.uid;
        call->group = c->cred.gid;
        if (unotify_read(call, arg, &call->ifr, sizeof(call->ifr)) < 0)
                return unotify_answer(call, 0, EFAULT), unotify_call_free(call);
        if (!unotify_valid(call))
                return unotify_call_free(call);
        memcpy(call->devname, call->ifr.ifr_name, IFNAMSIZ);
        call->devname[IFNAMSIZ - 1] = 0; /* as the kernel does */
        uint16_t flags = (uint16_t) call->ifr.ifr_flags;
        call->tun_fd = caller_fd(call, fd);
        if (call->tun_fd == -EBADF)
                return unotify_answer(call, 0, EBADF), unotify_call_free(call);
        if (call->tun_fd < 0) /* gone, or its fd cannot be copied: then the kernel judges, never a hang */
                return unotify_gone_or_continue(call);
        /* not /dev/net/tun, already attached, a TUN, flags we do not know: the kernel's to judge */
        struct ifreq probe = {};
        if (fstat(call->tun_fd, &st) < 0 || !S_ISCHR(st.st_mode) || major(st.st_rdev) != 10 ||
            minor(st.st_rdev) != 200 || ioctl(call->tun_fd, TUNGETIFF, &probe) == 0 ||
            (flags & (IFF_TUN | IFF_TAP)) != IFF_TAP || (flags & ~TAP_FLAGS_KNOWN))
                return unotify_continue(call), unotify_call_free(call);
        call->tun_device = true;
        if (!call->devname[0])
                snprintf(call->devname, sizeof(call->devname), "tap%%d"); /* the kernel's default */
        if (strchr(call->devname, '%') ? !tap_template_valid(call->devname) : !tap_name_valid(call->devname))
                return unotify_continue(call), unotify_call_free(call);
        tun_decide(call, c);
}

/* The decision allowed it: carry out the request on our copy of the caller's socket. */
static void netdev_run(request *req, void *args _unused_, const policy_decision *d) {
        unotify_call *call = req->origin_data;
        struct ifreq ifr, idx = {};
        ifr = call->ifr;
        memcpy(idx.ifr_name, call->devname, IFNAMSIZ);
        tap_record *rec = session_device(req->c, call->devname);
        /* still the device we made: same name, same ifindex */
        if (!rec || ioctl(call->sock_fd, SIOCGIFINDEX, &idx) < 0 || idx.ifr_ifindex != rec->ifindex)
                return request_reply_error(req, ERR_NOT_FOUND, ENODEV, NULL, "device '%s' is gone", call->devname);
        if (ioctl(call->sock_fd, call->ioctl_cmd, &ifr) < 0)
                return request_reply_error(req, ERR_SYSTEM, errno, NULL, "%s on '%s': %m", call->syscall,
                                           call->devname);
        request_reply_result(req, "{}", NULL, 0);
}

void unotify_netdev(unotify_call *call, uint64_t fd, uint64_t arg) {
        client *c = call->u->c;
        char args[160];
        call->ioctl_cmd = (uint32_t) call->n.data.args[1];
        call->on_reply = unotify_tap_reply;
        call->to_kernel = unotify_tap_to_kernel;
        call->syscall = call->ioctl_cmd == SIOCSIFHWADDR ? "ioctl(SIOCSIFHWADDR)"
                        : call->ioctl_cmd == SIOCSIFFLAGS ? "ioctl(SIOCSIFFLAGS)"
                                                          : "ioctl(SIOCSIFMTU)";
        if (unotify_read(call, arg, &call->ifr, sizeof(call->ifr)) < 0)
                return unotify_answer(call, 0, EFAULT), unotify_call_free(call);
        if (!unotify_valid(call))
                return unotify_call_free(call);
        memcpy(call->devname, call->ifr.ifr_name, IFNAMSIZ);
        call->devname[IFNAMSIZ - 1] = 0;
        tap_record *rec = session_device(c, call->devname);
        if (!rec) /* not a device of this session: the kernel judges */
                return unotify_continue(call), unotify_call_free(call);
        call->sock_fd = caller_fd(call, fd);
        if (call->sock_fd == -EBADF)
                return unotify_answer(call, 0, EBADF), unotify_call_free(call);
        if (call->sock_fd < 0)
                return unotify_gone_or_continue(call);
        _cleanup_close_ int ns = ioctl(call->sock_fd, SIOCGSKNS);
        if (ns < 0 || !same_netns(ns, rec->netns_fd)) /* a socket of another netns names another device */
                return unotify_continue(call), unotify_call_free(call);
        const struct ifreq *ifr = &call->ifr;
        if (call->ioctl_cmd == SIOCSIFMTU)
                snprintf(args, sizeof(args), "{\"name\":\"%s\",\"mtu\":%d}", call->devname, ifr->ifr_mtu);
        else if (call->ioctl_cmd == SIOCSIFHWADDR) {
                char mac[32];
                tap_mac_format((const uint8_t *) ifr->ifr_hwaddr.sa_data, mac, sizeof(mac));
                snprintf(args, sizeof(args), "{\"name\":\"%s\",\"mac\":\"%s\"}", call->devname, mac);
        } else
                snprintf(args, sizeof(args), "{\"name\":\"%s\"}", call->devname);
        if (unotify_dispatch(call, DELEGATE_OP_TAP_CREATE, args, netdev_run) < 0)
                return unotify_answer(call, 0, ENOMEM), unotify_call_free(call);
}

/*
 * TUNSETIFF the policy does not give, or of a device that exists: the kernel judges it with the
 * caller's own rights (EPERM, unless it may use that device).  Not another queue of a device of this
 * session: its uid owns it, the kernel would allow that.
 */
bool unotify_tap_to_kernel(const unotify_call *call, const reply_info *r) {
        return !r->ok && call->ioctl_cmd == TUNSETIFF && !call->tap_attach &&
               (r->error->code == ERR_DENIED || r->error->code == ERR_EXISTS);
}

void unotify_tap_reply(request *req, const reply_info *r) {
        unotify_call *call = req->origin_data;
        if (!r->ok) {
                if (unotify_tap_to_kernel(call, r))
                        return unotify_continue(call);
                return unotify_answer(call, 0, unotify_errno(r));
        }
        if (call->ioctl_cmd == TUNSETIFF && unotify_write(call, call->ifr_ptr, call->devname, IFNAMSIZ) < 0)
                return unotify_answer(call, 0, EFAULT);
        unotify_answer(call, 0, 0);
}
