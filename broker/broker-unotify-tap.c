/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-unotify-tap.c - TAP devices for unmodified programs: the
 * ioctl(TUNSETIFF) that creates one, and the SIOCSIFHWADDR, SIOCSIFFLAGS
 * and SIOCSIFMTU that follow, intercepted by delegate-run(1)'s filter.
 *
 * TUNSETIFF is decided as tap.create {name, queues, vnet_hdr} and carried
 * out on a copy of the caller's own /dev/net/tun fd (pidfd_getfd()), so
 * the device appears where the caller opened that fd and its queue is the
 * caller's fd, as without interception.  The creation is exclusive
 * (IFF_TUN_EXCL): a device that already exists is never taken over, the
 * call goes back to the kernel, which lets the caller attach to a device
 * its uid owns (a pre-made TAP) and refuses the rest.  A device this
 * session made gets more queues (IFF_MULTI_QUEUE) up to the rule's
 * max_queues.  The device is owned by the session's uid and recorded in
 * the session like tap.create's: removed when the session ends.
 *
 * The SIOCSIF* requests are carried out only on a device this session
 * created, by name and ifindex in the network namespace of the caller's
 * socket, decided as tap.create {name, mtu} / {name, mac} / {name}; on any
 * other device the kernel judges them (EPERM without CAP_NET_ADMIN).
 */
#include <fcntl.h>
#include <inttypes.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <syslog.h>

#include "broker-unotify.h"

#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL
#endif
#ifndef SIOCGSKNS
#define SIOCGSKNS 0x894C
#endif

#define TAP_FLAGS_KNOWN (IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE | IFF_VNET_HDR | IFF_ONE_QUEUE | IFF_TUN_EXCL)

typedef struct tun_out {
        int err;      /* 0, or a positive errno */
        bool exists;  /* the name is taken: the kernel judges the call */
        bool full;    /* the session holds as many devices as it may: the kernel judges the call */
        uint64_t gone; /* the session's records whose devices vanished (their fds were closed) */
        char name[IFNAMSIZ];
        int ifindex;
        char msg[128];
} tun_out;

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
                safe_close(copy);
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

/* In the helper, root in the caller's network namespace: TUNSETIFF on the copy. */
static ssize_t tun_step(void *arg, void *out, size_t size, int *fds, size_t *n_fds) {
        unotify_call *call = arg;
        tun_out *o = out;
        struct ifreq ifr = {};
        if (size < sizeof(*o))
                return -ENOBUFS;
        memset(o, 0, sizeof(*o));
        if (!call->tap_attach) {
                /* devices whose last fd was closed are gone: they free the quota */
                unsigned live = tap_prune(call->sess, &o->gone);
                if (live + TS(call->sess)->tap_inflight > call->max_devices) { /* tap_inflight counts this one */
                        o->full = true;
                        return sizeof(*o);
                }
        }
        memcpy(ifr.ifr_name, call->devname, IFNAMSIZ);
        ifr.ifr_flags = (short) (call->ifr.ifr_flags | (call->tap_attach ? 0 : IFF_TUN_EXCL));
        if (ioctl(call->tun_fd, TUNSETIFF, &ifr) < 0) {
                o->exists = errno == EBUSY && !call->tap_attach;
                o->err = o->exists ? 0 : errno;
                snprintf(o->msg, sizeof(o->msg), "TUNSETIFF '%s': %s", call->devname, strerror(errno));
                return sizeof(*o);
        }
        snprintf(o->name, sizeof(o->name), "%s", ifr.ifr_name);
        if (!call->tap_attach && ioctl(call->tun_fd, TUNSETOWNER, (unsigned long) call->owner) < 0) {
                o->err = errno;
                snprintf(o->msg, sizeof(o->msg), "TUNSETOWNER: %s", strerror(errno));
                return sizeof(*o);
        }
        /* where the device is: the netns the caller opened /dev/net/tun in */
        int ns = ioctl(call->tun_fd, TUNGETDEVNETNS);
        if (ns < 0 || setns(ns, CLONE_NEWNET) < 0) {
                o->err = errno;
                snprintf(o->msg, sizeof(o->msg), "cannot enter the device's network namespace: %s", strerror(errno));
                safe_close(ns);
                return sizeof(*o);
        }
        o->ifindex = (int) if_nametoindex(o->name);
        fds[(*n_fds)++] = ns;
        return sizeof(*o);
}

static void tun_done(request *req, int status, const void *out, size_t len) {
        unotify_call *call = req->origin_data;
        client *c = req->c;
        tun_out o;
        if (status < 0)
                return request_reply_error(req, ERR_SYSTEM, -status, NULL, "TUNSETIFF helper: %s", strerror(-status));
        if (len < sizeof(o))
                return request_reply_error(req, ERR_SYSTEM, EIO, NULL, "the helper returned a short answer");
        memcpy(&o, out, sizeof(o));
        o.msg[sizeof(o.msg) - 1] = 0;
        o.name[sizeof(o.name) - 1] = 0;
        if (c && o.gone && TS(c)->gen == call->tap_gen)
                tap_forget_gone(c, o.gone);
        if (o.full) {
                call->tap_continue = true;
                return request_reply_error(req, ERR_DENIED, EDQUOT, req->rule,
                                           "the session holds %u TAP device(s), the most it may", call->max_devices);
        }
        if (o.exists) {
                /* not ours to take: what the caller may do with it, the kernel says */
                call->tap_continue = true;
                return request_reply_error(req, ERR_EXISTS, EEXIST, NULL, "device '%s' exists", call->devname);
        }
        if (o.err)
                return request_reply_error(req, ERR_SYSTEM, o.err, NULL, "%s", o.msg);
        if (req->helper_n_fds != 1 || o.ifindex <= 0)
                return request_reply_error(req, ERR_SYSTEM, EIO, NULL, "the helper did not find the new device");
        if (call->tap_attach) {
                tap_record *rec = session_device(c, o.name);
                if (rec)
                        rec->queues++;
        } else {
                tap_record rec = { .ifindex = o.ifindex, .netns_fd = TAKE_FD(req->helper_fds[0]), .via_seccomp = true,
                                   .queues = 1 };
                snprintf(rec.name, sizeof(rec.name), "%s", o.name);
                if (!c || TS(c)->n >= SESSION_MAX_TAP) { /* the session ended meanwhile: nothing may outlive it */
                        tap_remove_detached(req->b, "TUNSETIFF finished after its session ended", &rec, 1);
                        safe_close(rec.netns_fd);
                        return request_reply_error(req, ERR_SYSTEM, ECONNRESET, NULL, "the session ended");
                }
                TS(c)->rec[TS(c)->n++] = rec;
                TS(c)->gen++;
                c->state_dirty = true;
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

/* tap.create allowed it: act (the device count as tap.create counts it) */
static void tun_run(request *req, void *args _unused_, const policy_decision *d) {
        unotify_call *call = req->origin_data;
        client *c = req->c;
        if (!call->tap_attach) {
                /* counted now, checked by the helper once vanished devices are pruned */
                unsigned used = TS(c)->bridge_inflight, max_tap = req->b->limits.max_tap;
                for (size_t i = 0; i < TS(c)->n; i++)
                        used += TS(c)->rec[i].bridge;
                call->max_devices = d->rule->tap.max_devices;
                unsigned room = used < max_tap ? max_tap - used : 0;
                if (room < call->max_devices)
                        call->max_devices = room;
                TS(c)->tap_inflight++;
                req->tap_create.counted = true;
        }
        call->sess = c;
        call->tap_gen = TS(c)->gen;
        int r = helper_run_netns(req, c->pidfd, tun_step, call, tun_done);
        if (r < 0)
                return request_reply_error(req, ERR_SYSTEM, -r, NULL, "cannot start the helper: %s", strerror(-r));
}

void unotify_tunsetiff(unotify_call *call, uint64_t fd, uint64_t arg) {
        client *c = call->u->c;
        struct stat st;
        char args[160];
        call->ioctl_cmd = TUNSETIFF;
        call->ifr_ptr = arg;
        call->owner = c->cred.uid;
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
        if (call->tun_fd < 0)
                return unotify_call_free(call); /* gone */
        /* not /dev/net/tun, already attached, a TUN, flags we do not know: the kernel's to judge */
        struct ifreq probe = {};
        if (fstat(call->tun_fd, &st) < 0 || !S_ISCHR(st.st_mode) || major(st.st_rdev) != 10 ||
            minor(st.st_rdev) != 200 || ioctl(call->tun_fd, TUNGETIFF, &probe) == 0 ||
            (flags & (IFF_TUN | IFF_TAP)) != IFF_TAP || (flags & ~TAP_FLAGS_KNOWN))
                return unotify_continue(call), unotify_call_free(call);
        if (!call->devname[0])
                snprintf(call->devname, sizeof(call->devname), "tap%%d"); /* the kernel's default */
        if (strchr(call->devname, '%') ? !tap_template_valid(call->devname) : !tap_name_valid(call->devname))
                return unotify_continue(call), unotify_call_free(call);

        tap_record *rec = session_device(c, call->devname);
        unsigned queues = 1;
        if (rec) {
                /* another queue of a device this session made */
                if (!(flags & IFF_MULTI_QUEUE))
                        return unotify_continue(call), unotify_call_free(call);
                call->tap_attach = true;
                queues = rec->queues + 1;
        }
        snprintf(args, sizeof(args), "{\"name\":\"%s\",\"queues\":%u,\"vnet_hdr\":%s}", call->devname, queues,
                 flags & IFF_VNET_HDR ? "true" : "false");
        if (unotify_dispatch(call, "tap.create", args, tun_run) < 0)
                return unotify_answer(call, 0, ENOMEM), unotify_call_free(call);
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
                return unotify_call_free(call);
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
        if (unotify_dispatch(call, "tap.create", args, netdev_run) < 0)
                return unotify_answer(call, 0, ENOMEM), unotify_call_free(call);
}

void unotify_tap_reply(request *req, const reply_info *r) {
        unotify_call *call = req->origin_data;
        if (!r->ok) {
                /* TUNSETIFF the policy does not give, or of a device that exists: the kernel judges it
                 * with the caller's own rights (EPERM, unless it may use that device).  Not another
                 * queue of a device of this session: its uid owns it, the kernel would allow that. */
                if (call->ioctl_cmd == TUNSETIFF && !call->tap_attach && (call->tap_continue || r->code == ERR_DENIED))
                        return unotify_continue(call);
                int e = r->code == ERR_DENIED ? EPERM : r->errno_value > 0 && r->errno_value < 4096 ? r->errno_value : EPERM;
                if (r->code == ERR_BAD_REQUEST)
                        e = EINVAL;
                return unotify_answer(call, 0, e);
        }
        if (call->ioctl_cmd == TUNSETIFF && unotify_write(call, call->ifr_ptr, call->devname, IFNAMSIZ) < 0)
                return unotify_answer(call, 0, EFAULT);
        unotify_answer(call, 0, 0);
}
