/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-op-tap.c - tap.create and tap.destroy: TAP devices in the peer's
 * own network namespace, handed over as fds; the session's record of them.
 *
 * parse args -> (policy, in the dispatcher) -> in the netns worker thread
 * (broker-netns-worker.c), or a helper process when it is busy, that
 * entered the peer's network namespace with setns(pidfd): check the
 * session quota, pick or check the name, create the queues, owner and
 * group, link setup with libnl-route-3 (MTU, MAC, master, up), persist ->
 * read the link back and verify -> fds to the client.
 *
 * The broker's loops never change namespace.  A device is created
 * with IFF_TUN_EXCL, so the kernel itself refuses a name that exists; a
 * pre-existing device is attached to only when the rule says
 * adopt_existing.  Every device the session created is recorded with its
 * ifindex and an fd of its network namespace; when the session ends the
 * ones still there are removed (tap_session_end()), by the netns worker
 * when it is idle, else (and as the broker exits) in a detached process;
 * nothing waits for either.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <linux/if_tun.h>
#include <stdarg.h>
#include <net/if.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/route.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <syslog.h>

#include "broker-closer.h"
#include "broker-netns-worker.h"
#include "broker-tap.h"
#include "broker-op.h"

#define TEMPLATE_MAX_INDEX 4096
/* the refusal over --max-tap (delegate-broker(8)): operation, devices held, " and creates more" or "", limit */
#define MAX_TAP_FULL                                                                                                   \
        "%s: the session holds %u device(s) (TAP devices and bridges)%s, the most any session may (--max-tap %u)"

ssize_t tap_fail(tap_out *o, err_code code, int err, const char *fmt, ...) {
        va_list ap;
        o->error = (op_error) { .code = code, .errno_value = err > 0 ? err : EIO };
        va_start(ap, fmt);
        vsnprintf(o->error.message, sizeof(o->error.message), fmt, ap);
        va_end(ap);
        return sizeof(*o);
}

/*
 * In the helper: delete @name/@ifindex from the current netns; 1 removed,
 * 0 gone already.  Only a TUN/TAP device ("tun" kind) of that name and
 * index counts: a record (or a forged state file) naming a bridge or any
 * other device never removes it.
 */
static int link_remove(const char *name, int ifindex) {
        _cleanup_nl_sock_ struct nl_sock *sk = NULL;
        _cleanup_rtnl_link_ struct rtnl_link *l = NULL;
        int r = tap_nl_open(&sk);
        if (r < 0)
                return -tap_nl_errno(r);
        if (ifindex <= 0 || rtnl_link_get_kernel(sk, ifindex, NULL, &l) < 0 ||
            !streq_ptr(rtnl_link_get_name(l), name) || !streq_ptr(rtnl_link_get_type(l), "tun"))
                return 0;
        r = rtnl_link_delete(sk, l);
        if (r < 0)
                return r == -NLE_NODEV || r == -NLE_OBJ_NOTFOUND ? 0 : -tap_nl_errno(r);
        return 1;
}

static int tun_open(const char *name, short flags) {
        _cleanup_close_ int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
        struct ifreq ifr = { .ifr_flags = flags };
        if (fd < 0)
                return negative_errno();
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
        if (ioctl(fd, TUNSETIFF, &ifr) < 0)
                return negative_errno();
        return TAKE_FD(fd);
}

/* In a helper: the records whose devices vanished (QEMU closed a transient device) in bit i of *@ret_gone;
 * how many TAP devices (@ret_live[0]) and bridges (@ret_live[1]) are still there. */
static void prune(const tap_step_in *in, uint64_t *ret_gone, unsigned ret_live[2]) {
        *ret_gone = 0;
        ret_live[0] = ret_live[1] = 0;
        for (size_t i = 0; i < in->n; i++) {
                _cleanup_nl_sock_ struct nl_sock *sk = NULL;
                if (setns(in->rec[i].netns_fd, CLONE_NEWNET) == 0 && tap_nl_open(&sk) == 0 &&
                    !tap_link_is(sk, in->rec[i].name, in->rec[i].ifindex))
                        *ret_gone |= UINT64_C(1) << i;
                else
                        ret_live[in->rec[i].bridge]++;
        }
}

/* Link setup through libnl-route-3, then read back and verify. */
static ssize_t link_setup(const tap_create_args *a, tap_out *o) {
        _cleanup_nl_sock_ struct nl_sock *sk = NULL;
        _cleanup_rtnl_link_ struct rtnl_link *link = NULL, *br = NULL, *change = NULL, *now = NULL;
        int r = tap_nl_open(&sk);
        if (r < 0)
                return tap_fail(o, ERR_SYSTEM, tap_nl_errno(r), "netlink: %s", nl_geterror(r));
        r = rtnl_link_get_kernel(sk, 0, o->name, &link);
        if (r < 0)
                return tap_fail(o, ERR_SYSTEM, tap_nl_errno(r), "cannot read back link '%s': %s", o->name, nl_geterror(r));
        if (a->bridge[0]) {
                r = rtnl_link_get_kernel(sk, 0, a->bridge, &br);
                if (r < 0)
                        return tap_fail(o, ERR_NOT_FOUND, ENODEV,
                                    "bridge '%s' does not exist in the caller's network namespace", a->bridge);
                if (!streq_ptr(rtnl_link_get_type(br), "bridge"))
                        return tap_fail(o, ERR_BAD_REQUEST, EINVAL, "'%s' is a %s device, not a bridge", a->bridge,
                                    rtnl_link_get_type(br) ? rtnl_link_get_type(br) : "plain");
        }
        if (!(change = rtnl_link_alloc()))
                return tap_fail(o, ERR_SYSTEM, ENOMEM, "out of memory");
        if (a->mtu)
                rtnl_link_set_mtu(change, a->mtu);
        if (a->has_mac) {
                struct nl_addr *addr = nl_addr_build(AF_LLC, a->mac, 6);
                if (!addr)
                        return tap_fail(o, ERR_SYSTEM, ENOMEM, "out of memory");
                rtnl_link_set_addr(change, addr);
                nl_addr_put(addr);
        }
        if (br)
                rtnl_link_set_master(change, rtnl_link_get_ifindex(br));
        rtnl_link_set_flags(change, IFF_UP);
        r = rtnl_link_change(sk, link, change, 0);
        if (r < 0)
                return tap_fail(o, ERR_SYSTEM, tap_nl_errno(r), "setting up link '%s' (mtu, mac, master, up): %s", o->name,
                            nl_geterror(r));

        r = rtnl_link_get_kernel(sk, 0, o->name, &now);
        if (r < 0)
                return tap_fail(o, ERR_SYSTEM, tap_nl_errno(r), "cannot read back link '%s': %s", o->name, nl_geterror(r));
        struct nl_addr *addr = rtnl_link_get_addr(now);
        o->ifindex = rtnl_link_get_ifindex(now);
        o->mtu = rtnl_link_get_mtu(now);
        if (addr && nl_addr_get_len(addr) == 6)
                memcpy(o->mac, nl_addr_get_binary_addr(addr), 6);
        if ((a->mtu && o->mtu != a->mtu) || (a->has_mac && memcmp(o->mac, a->mac, 6) != 0) ||
            (br && rtnl_link_get_master(now) != rtnl_link_get_ifindex(br)) || !(rtnl_link_get_flags(now) & IFF_UP))
                return tap_fail(o, ERR_SYSTEM, EIO, "link '%s' does not show the requested settings after setup",
                            o->name);
        return 0;
}

/* tap.destroy's and bridge.destroy's scratch: the record, a copy (the netns fd stays the session's) */
typedef struct destroy_scratch {
        tap_record rec;
} destroy_scratch;

static destroy_scratch *DESTROY(const request *req) {
        return req->scratch;
}

/*
 * Prune first, then count: the session's records whose devices vanished
 * are marked gone (forgotten by tap_create_answer()) and free both limits.
 * --max-tap counts the TAP devices and bridges still there and the other
 * creations in progress; the rule's max_devices those of this kind.
 */
ssize_t tap_step_quota(const tap_step_in *in, tap_out *o, bool bridges) {
        unsigned live[2], max_tap = in->max_tap;
        prune(in, &o->gone, live);
        if (setns(in->pidfd, CLONE_NEWNET) < 0) /* back from the records' namespaces */
                return tap_fail(o, ERR_NOT_FOUND, ESRCH, "the caller exited");
        /* this creation is counted in its inflight (tap_device_start()) */
        unsigned pending = in->tap_inflight + in->bridge_inflight - 1;
        if (live[0] + live[1] + pending >= max_tap)
                return tap_fail(o, ERR_DENIED, EDQUOT, MAX_TAP_FULL, in->op, live[0] + live[1],
                                pending ? " and creates more" : "", max_tap);
        unsigned others = (bridges ? in->bridge_inflight : in->tap_inflight) - 1;
        if (live[bridges] + others >= in->max_devices)
                return tap_fail(o, ERR_DENIED, EDQUOT,
                                "%s: the session already holds %u %s%s, the rule's %s max_devices is %" PRIu32, in->op,
                                live[bridges], bridges ? "bridge(s)" : "TAP device(s)",
                                others ? " and creates more" : "", bridges ? "bridge" : "tap", in->max_devices);
        return 0;
}

/* tap.create's helper step, in the peer's network namespace, as root. */
static ssize_t create_step(void *arg, void *out, size_t size, int *fds, size_t *n_fds) {
        const tap_step_in *in = arg;
        const tap_create_args *a = &in->a.tap;
        tap_out *o = out;
        _cleanup_close_ int first = -EBADF;
        short flags = IFF_TAP | IFF_NO_PI | (a->vnet_hdr ? IFF_VNET_HDR : 0) | (a->queues > 1 ? IFF_MULTI_QUEUE : 0);
        size_t n = 0;

        if (size < sizeof(*o))
                return -ENOBUFS;
        memset(o, 0, sizeof(*o));
        ssize_t quota = tap_step_quota(in, o, false);
        if (quota != 0)
                return quota;

        /* the name: IFF_TUN_EXCL makes the kernel refuse an existing one */
        if (a->is_template) {
                for (unsigned i = 0;; i++) {
                        if (i == TEMPLATE_MAX_INDEX ||
                            tap_template_expand(a->name, i, o->name, sizeof(o->name)) == -ENAMETOOLONG)
                                return tap_fail(o, ERR_EXISTS, ENOSPC, "no free name for template '%s'", a->name);
                        first = tun_open(o->name, flags | IFF_TUN_EXCL);
                        if (first != -EBUSY)
                                break;
                }
        } else {
                memcpy(o->name, a->name, sizeof(o->name) - 1); /* an exact name: at most 15 */
                first = tun_open(o->name, flags | IFF_TUN_EXCL);
                if (first == -EBUSY) {
                        if (!in->adopt_existing)
                                return tap_fail(o, ERR_EXISTS, EEXIST, "interface '%s' already exists", o->name);
                        first = tun_open(o->name, flags);
                        o->adopted = true;
                        if (first < 0)
                                return tap_fail(o, ERR_SYSTEM, -first,
                                            "cannot attach to the existing interface '%s' as a TAP device with "
                                            "these flags: %s",
                                            o->name, strerror(-first));
                }
        }
        if (first < 0)
                return tap_fail(o, ERR_SYSTEM, -first, "cannot create TAP device '%s': %s", o->name, strerror(-first));

        if (ioctl(first, TUNSETOWNER, (unsigned long) in->uid) < 0 || ioctl(first, TUNSETGROUP, (unsigned long) in->gid) < 0)
                return tap_fail(o, ERR_SYSTEM, errno, "setting owner and group of '%s': %m", o->name);
        fds[n++] = TAKE_FD(first);
        while (n < a->queues) {
                int q = tun_open(o->name, flags);
                if (q < 0) {
                        close_fds(fds, n);
                        return tap_fail(o, ERR_SYSTEM, -q, "opening queue %zu of '%s': %s", n, o->name, strerror(-q));
                }
                fds[n++] = q;
        }
        /* not made persistent here: the broker does that once the device is
         * recorded in the session's state file (create_done()) */
        ssize_t r = link_setup(a, o);
        if (r == 0 && (fds[n] = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)) < 0)
                r = tap_fail(o, ERR_SYSTEM, errno, "cannot open the network namespace: %m");
        else if (r == 0)
                n++;
        /* vhost-net: one fd per queue after the netns fd; QEMU's VHOST_SET_OWNER binds each to itself */
        for (size_t v = 0; r == 0 && a->vhost && v < a->queues; v++) {
                int fd = open("/dev/vhost-net", O_RDWR | O_CLOEXEC);
                if (fd >= 0)
                        fds[n++] = fd;
                else if (errno == ENOENT || errno == ENODEV || errno == ENXIO)
                        r = tap_fail(o, ERR_UNSUPPORTED, errno,
                                 "tap.create: vhost: /dev/vhost-net is not available on this node (%m): load the "
                                 "vhost_net module, or ask without \"vhost\"");
                else
                        r = tap_fail(o, ERR_SYSTEM, errno, "tap.create: vhost: cannot open /dev/vhost-net: %m");
        }
        if (r != 0) {
                close_fds(fds, n); /* a transient device goes with its last fd */
                return r;
        }
        *n_fds = n;
        return sizeof(*o);
}

/* The removal process, reaped when it exits (or as the loop is freed). */
typedef struct cleanup_proc {
        pid_t pid;
        int pidfd;
} cleanup_proc;

static void cleanup_reap(void *userdata) {
        cleanup_proc *p = userdata;
        while (waitpid(p->pid, NULL, 0) < 0 && errno == EINTR)
                ;
        safe_close(p->pidfd);
        free(p);
}

static int on_cleanup_exit(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        sd_event_source_disable_unref(s); /* the loop's reference, the last: cleanup_reap() runs as it goes */
        return 0;
}

/* Reap @pid when it exits, without blocking the loop; at exit, now (it has an alarm). */
static void cleanup_watch(broker *b, pid_t pid) {
        cleanup_proc *p = calloc(1, sizeof(*p));
        sd_event_source *src = NULL;
        if (p) {
                *p = (cleanup_proc) { .pid = pid, .pidfd = pidfd_open(pid, 0) };
                fcntl(p->pidfd, F_SETFD, FD_CLOEXEC);
        }
        if (!p || p->pidfd < 0 || sd_event_get_state(b->event) == SD_EVENT_FINISHED ||
            sd_event_add_io(b->event, &src, p->pidfd, EPOLLIN, on_cleanup_exit, p) < 0) {
                if (p)
                        cleanup_reap(p);
                else
                        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                                ;
                return;
        }
        sd_event_source_set_destroy_callback(src, cleanup_reap);
        sd_event_source_set_floating(src, true);
        sd_event_source_unref(src);
}

/* What the netns worker removes: the records not adopted, each with its own dup of its namespace. */
typedef struct removal {
        size_t n;
        tap_record rec[SESSION_MAX_TAP];
} removal;

static void removal_free(void *arg) {
        removal *rm = arg;
        for (size_t i = 0; rm && i < rm->n; i++)
                safe_close(rm->rec[i].netns_fd);
        free(rm);
}

/* Remove @recs (not adopted) where they still exist, each in its own network namespace. */
static void remove_all(const tap_record *recs, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (!recs[i].adopted && setns(recs[i].netns_fd, CLONE_NEWNET) == 0)
                        recs[i].bridge ? bridge_remove(&recs[i], NULL, 0) : link_remove(recs[i].name, recs[i].ifindex);
}

static ssize_t removal_step(void *arg, void *out _unused_, size_t size _unused_, int *fds _unused_,
                            size_t *n_fds _unused_) {
        const removal *rm = arg;
        remove_all(rm->rec, rm->n);
        return 0;
}

/* On the netns worker when it is idle (no fork of the broker), else (and as the broker exits: the child
 * outlives it) in a child process: remove @recs (not adopted) where they still exist. */
void tap_remove_detached(broker *b, const char *why, const tap_record *recs, size_t n) {
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
                k += !recs[i].adopted;
        if (k == 0)
                return;
        removal *rm = b->exiting ? NULL : calloc(1, sizeof(*rm));
        for (size_t i = 0; rm && i < n; i++)
                if (!recs[i].adopted) {
                        rm->rec[rm->n] = recs[i];
                        if ((rm->rec[rm->n].netns_fd = fcntl(recs[i].netns_fd, F_DUPFD_CLOEXEC, 3)) < 0)
                                break;
                        rm->n++;
                }
        if (!rm || rm->n < k || netns_worker_detached(rm->rec[0].netns_fd, removal_step, rm, removal_free) < 0) {
                removal_free(rm);
                pid_t pid = fork();
                if (pid < 0) {
                        log_msg(b, LOG_ERR, "%s: cannot fork to remove TAP devices: %m", why);
                        return;
                }
                if (pid == 0) {
                        sigset_t all;
                        sigemptyset(&all);
                        sigprocmask(SIG_SETMASK, &all, NULL);
                        alarm(HELPER_TIMEOUT_USEC / 1000000);
                        remove_all(recs, n);
                        _exit(0);
                }
                cleanup_watch(b, pid);
        }
        char taps[SESSION_MAX_TAP * (TAP_NAME_MAX + 2)] = "", bridges[sizeof(taps)] = "";
        for (size_t i = 0; i < n; i++) {
                char *l = recs[i].bridge ? bridges : taps;
                if (!recs[i].adopted)
                        snprintf(l + strlen(l), sizeof(taps) - strlen(l), "%s%s", l[0] ? " " : "", recs[i].name);
        }
        log_msg(b, LOG_INFO, "%s: removing %s%s%s%s%s (where still present)%s", why, taps[0] ? "TAP device(s) " : "",
                taps, taps[0] && bridges[0] ? " and " : "", bridges[0] ? "bridge(s) " : "", bridges,
                bridges[0] ? "; a bridge gives the addresses and routes it took over back to their interface" : "");
}

void tap_session_end(client *c) {
        char why[64];
        snprintf(why, sizeof(why), "session %llu ended", (unsigned long long) c->session);
        tap_remove_detached(c->b, why, TS(c)->rec, TS(c)->n);
        for (size_t i = 0; i < TS(c)->n; i++)
                safe_close(TS(c)->rec[i].netns_fd);
        TS(c)->n = 0;
        TS(c)->gen++;
        c->state_dirty = true;
}

static void forget(client *c, size_t i) {
        safe_close(TS(c)->rec[i].netns_fd);
        memmove(&TS(c)->rec[i], &TS(c)->rec[i + 1], sizeof(TS(c)->rec[0]) * (TS(c)->n - i - 1));
        TS(c)->n--;
        TS(c)->gen++;
        c->state_dirty = true;
}

void tap_forget_gone(client *c, uint64_t gone) {
        for (size_t i = TS(c)->n; i-- > 0;)
                if (gone & (UINT64_C(1) << i))
                        forget(c, i);
}

static void step_in_free(void *arg) {
        tap_step_in *in = arg;
        if (!in)
                return;
        safe_close(in->pidfd);
        for (size_t i = 0; i < in->n; i++)
                safe_close(in->rec[i].netns_fd);
        if (in->call)
                safe_close(in->tun.fd);
        free(in);
}

/* @in's copy for the netns worker, with fds of its own; NULL: none (the step forks). */
static tap_step_in *step_in_dup(const tap_step_in *in) {
        tap_step_in *d = malloc(sizeof(*d));
        if (!d)
                return NULL;
        *d = *in;
        d->n = 0;
        d->tun.fd = in->call ? fcntl(in->tun.fd, F_DUPFD_CLOEXEC, 3) : -EBADF;
        d->pidfd = fcntl(in->pidfd, F_DUPFD_CLOEXEC, 3);
        for (size_t i = 0; d->pidfd >= 0 && i < in->n; i++, d->n++)
                if (in->rec[i].netns_fd >= 0 && (d->rec[i].netns_fd = fcntl(in->rec[i].netns_fd, F_DUPFD_CLOEXEC, 3)) < 0)
                        break;
        if (d->pidfd < 0 || d->n < in->n || (in->call && d->tun.fd < 0)) {
                step_in_free(d);
                return NULL;
        }
        return d;
}

/* A creation's step (DC(req)->step, its answer to DC(req)->done) in the caller's network namespace, seeing
 * the session's records as they are now: in the netns worker when it is idle (an intercepted TUNSETIFF's
 * creation too, on its own dup of the caller's /dev/net/tun), else in a forked helper; answered when neither
 * can start. */
static void device_step_run(request *req) {
        client *c = req->c;
        tap_step_in *in = &DC(req)->in;
        DC(req)->gen = TS(c)->gen;
        snprintf(in->op, sizeof(in->op), "%s", req->op);
        in->uid = c->cred.uid;
        in->gid = c->cred.gid;
        in->pidfd = c->pidfd;
        in->n = TS(c)->n;
        memcpy(in->rec, TS(c)->rec, sizeof(in->rec[0]) * in->n);
        in->tap_inflight = TS(c)->tap_inflight;
        in->bridge_inflight = TS(c)->bridge_inflight;
        in->max_tap = req->b->limits.max_tap;
        in->max_devices = DC(req)->max_devices;
        in->adopt_existing = DC(req)->adopt_existing;
        int r = -EBUSY;
        tap_step_in *copy = in->tun.attach || !netns_worker_idle() ? NULL : step_in_dup(in);
        if (copy && (r = netns_worker_run(req, c->pidfd, DC(req)->step, copy, step_in_free, DC(req)->done)) < 0)
                step_in_free(copy);
        if (r < 0)
                r = helper_run_netns(req, c->pidfd, DC(req)->step, in, DC(req)->done);
        if (r < 0)
                request_reply_error(req, ERR_SYSTEM, -r, NULL, "cannot start the helper: %s", strerror(-r));
}

/* The closer's fence fell, or the wait for it ended: the step again. */
static void again_go(request *req) {
        req->helper_src = sd_event_source_disable_unref(req->helper_src); /* the fence with it */
        req->timeout_src = sd_event_source_disable_unref(req->timeout_src);
        if (!req->c) /* the session ended while it waited */
                return request_reply_error(req, ERR_SYSTEM, ECONNRESET, NULL, "the session ended");
        device_step_run(req);
}

static int on_again(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        again_go(userdata);
        return 0;
}

static int on_again_time(sd_event_source *s, uint64_t usec, void *userdata) {
        again_go(userdata);
        return 0;
}

/* @req's step again once the fds queued for the closer thread by now are closed (closer_fence(), in the
 * request's helper sources: a request freed meanwhile lets them go), TAP_AGAIN_WAIT_USEC at most */
static void again_after_closer(request *req) {
        int fence = closer_fence();
        if (fence < 0)
                return device_step_run(req);
        int r = sd_event_add_io(req->b->event, &req->helper_src, fence, EPOLLIN, on_again, req);
        if (r < 0)
                safe_close(fence);
        else {
                sd_event_source_set_io_fd_own(req->helper_src, true);
                r = sd_event_add_time_relative(req->b->event, &req->timeout_src, CLOCK_MONOTONIC, TAP_AGAIN_WAIT_USEC,
                                               0, on_again_time, req);
        }
        if (r < 0) {
                helper_cancel(req);
                request_reply_error(req, ERR_SYSTEM, -r, NULL, "cannot start the helper: %s", strerror(-r));
        }
}

/*
 * A create helper's answer in @o, the session's records that vanished
 * meanwhile forgotten (when its records are still those the helper saw,
 * @gen); false when it failed, answered already, or when its step runs
 * again once the closer's queue is closed (the name taken or the limit
 * reached while the closer had fds to close).
 */
bool tap_create_answer(request *req, int status, const void *out, size_t len, uint64_t gen, tap_out *o) {
        client *c = req->c;
        if (status == -ETIMEDOUT)
                return request_reply_error(req, ERR_SYSTEM, ETIMEDOUT, NULL,
                                           "the helper in the caller's network namespace did not finish in time"),
                       false;
        if (status == -ESRCH || status == -ENOENT)
                return request_reply_error(req, ERR_NOT_FOUND, ESRCH, NULL, "the caller exited"), false;
        if (status < 0)
                return request_reply_error(req, ERR_SYSTEM, -status, NULL,
                                           "cannot enter the caller's network namespace: %s", strerror(-status)),
                       false;
        if (len < sizeof(*o))
                return request_reply_error(req, ERR_SYSTEM, EIO, NULL, "the helper returned a short answer"), false;
        memcpy(o, out, sizeof(*o));
        o->name[sizeof(o->name) - 1] = o->error.message[sizeof(o->error.message) - 1] = 0;
        if (c && TS(c)->gen == gen)
                tap_forget_gone(c, o->gone);
        /* The name taken or the limit reached while the closer thread had fds to close (or closed some since
         * the step started): the broker's copy of a TAP queue may have been the last of a device its client
         * let go (the client closed its own first), and that device goes when the thread gets to it.  Once
         * more, then, after those. */
        if ((o->error.code == ERR_EXISTS || (o->error.code == ERR_DENIED && o->error.errno_value == EDQUOT)) && c &&
            DC(req)->step && !DC(req)->again &&
            (closer_pending() > 0 || closer_released() != DC(req)->released)) {
                DC(req)->again = true;
                again_after_closer(req);
                return false;
        }
        if (o->error.errno_value) {
                if (o->error.code == ERR_DENIED)
                        snprintf(o->error.rule, sizeof(o->error.rule), "%s", req->rule);
                request_fail(req, &o->error);
                return false;
        }
        return true;
}

/*
 * Record @rec, the device @req created, in its session (the netns fd is
 * taken).  When the session ended meanwhile, or its records are full (a
 * race of creations whose helpers saw different records), the device is
 * removed and @req answered: -ECONNRESET or -EDQUOT.
 */
int tap_record_add(request *req, tap_record *rec) {
        client *c = req->c;
        unsigned max_tap = req->b->limits.max_tap;
        if (c && TS(c)->n < max_tap) {
                TS(c)->rec[TS(c)->n++] = *rec; /* --max-tap <= SESSION_MAX_TAP */
                TS(c)->gen++;
                c->state_dirty = true;
                rec->netns_fd = -EBADF;
                return 0;
        }
        char why[96];
        snprintf(why, sizeof(why), "%s finished after its session %s", req->op, c ? "was full" : "ended");
        tap_remove_detached(req->b, why, rec, 1); /* nothing may outlive the session or its limit */
        rec->netns_fd = safe_close(rec->netns_fd);
        if (!c) {
                request_reply_error(req, ERR_SYSTEM, ECONNRESET, NULL, "the session ended");
                return -ECONNRESET;
        }
        request_reply_error(req, ERR_DENIED, EDQUOT, req->rule, MAX_TAP_FULL, req->op, (unsigned) TS(c)->n, "",
                            max_tap);
        return -EDQUOT;
}

static void create_done(request *req, int status, const void *out, size_t len) {
        const tap_create_args *a = req->op_args;
        client *c = req->c;
        tap_out o;
        char mac[32];

        if (!tap_create_answer(req, status, out, len, DC(req)->gen, &o))
                return;
        size_t n_vhost = a->vhost ? a->queues : 0;
        if (req->helper_n_fds != a->queues + 1 + n_vhost)
                return request_reply_error(req, ERR_SYSTEM, EIO, NULL, "the helper returned %zu fds, not %zu",
                                           req->helper_n_fds, a->queues + 1 + n_vhost);
        tap_record rec = { .ifindex = o.ifindex, .queues = a->queues, .persist = a->persist, .adopted = o.adopted,
                           .netns_fd = TAKE_FD(req->helper_fds[a->queues]) };
        snprintf(rec.name, sizeof(rec.name), "%s", o.name);
        /* the reply's fds: the TAP queues, then the vhost-net fds */
        memmove(&req->helper_fds[a->queues], &req->helper_fds[a->queues + 1], n_vhost * sizeof(int));
        req->helper_n_fds--;
        /* intent, act, confirm: a persistent device outlives every fd, so it
         * is on disk before it becomes persistent; until then it goes with
         * the fds (a broker killed meanwhile leaves nothing behind) */
        if (tap_record_add(req, &rec) < 0)
                return;
        if (a->persist) {
                int r = state_save(c);
                if (r >= 0 && ioctl(req->helper_fds[0], TUNSETPERSIST, 1UL) < 0)
                        r = negative_errno();
                if (r < 0) {
                        forget(c, TS(c)->n - 1);
                        return request_reply_error(req, ERR_SYSTEM, -r, NULL,
                                                   "cannot make '%s' persistent: %s (the device goes with its fds)",
                                                   o.name, strerror(-r));
                }
        }
        log_msg(c->b, LOG_INFO, "session %llu: TAP device '%s' (ifindex %d, %u queue(s)%s%s) %s", (unsigned long long)
                c->session, o.name, o.ifindex, a->queues, a->persist ? ", persistent" : "",
                a->bridge[0] ? ", on a bridge" : "", o.adopted ? "adopted" : "created");

        _cleanup_json_gen_ json_gen *g = json_gen_new();
        if (!g)
                return request_reply_error(req, ERR_SYSTEM, ENOMEM, NULL, "out of memory");
        json_gen_map_open(g);
        json_gen_kv_str(g, "name", o.name);
        json_gen_kv_i64(g, "ifindex", o.ifindex);
        json_gen_kv_u64(g, "queues", a->queues);
        json_gen_kv_bool(g, "vnet_hdr", a->vnet_hdr);
        json_gen_kv_bool(g, "persist", a->persist);
        json_gen_kv_u64(g, "mtu", o.mtu);
        json_gen_kv_str(g, "mac", tap_mac_format(o.mac, mac, sizeof(mac)));
        json_gen_str(g, "bridge");
        a->bridge[0] ? json_gen_str(g, a->bridge) : json_gen_null(g);
        json_gen_kv_bool(g, "adopted", o.adopted);
        json_gen_kv_bool(g, "vhost", a->vhost);
        json_gen_map_close(g);
        (void) request_reply_gen(req, g, req->helper_fds, a->queues + n_vhost);
}

/*
 * Start a creation of one more device of the session, a TAP device or a
 * bridge, counted in *@inflight until the request is freed: its @step (in
 * the peer's network namespace) checks the limits with tap_step_quota()
 * once vanished devices are pruned, @done takes the answer with
 * tap_create_answer() and records the device with tap_record_add().
 */
void tap_device_start(request *req, uint32_t max_devices, bool adopt_existing, unsigned *inflight, helper_fn step,
                      void (*done)(request *req, int status, const void *out, size_t len)) {
        DC(req)->max_devices = max_devices;
        DC(req)->adopt_existing = adopt_existing;
        (*inflight)++;
        DC(req)->counted = true;
        DC(req)->step = step;
        DC(req)->done = done;
        DC(req)->released = closer_released();
        device_step_run(req);
}

static void tap_create(request *req, void *args, const policy_decision *d) {
        DC(req)->in.a.tap = *(const tap_create_args *) args;
        tap_device_start(req, d->rule->tap.max_devices, d->rule->tap.adopt_existing, &TS(req->c)->tap_inflight,
                         create_step, create_done);
}

static ssize_t destroy_step(void *arg, void *out, size_t size, int *fds, size_t *n_fds) {
        const tap_record *rec = arg; /* a copy, its netns_fd -EBADF: the step runs in that namespace */
        tap_out *o = out;
        char why[256] = "";
        if (size < sizeof(*o))
                return -ENOBUFS;
        memset(o, 0, sizeof(*o));
        int r = rec->bridge ? bridge_remove(rec, why, sizeof(why)) : link_remove(rec->name, rec->ifindex);
        if (r < 0)
                return why[0] ? tap_fail(o, ERR_SYSTEM, -r, "%s", why)
                              : tap_fail(o, ERR_SYSTEM, -r, "cannot remove '%s': %s", rec->name, strerror(-r));
        o->removed = r > 0;
        return sizeof(*o);
}

static void destroy_done(request *req, int status, const void *out, size_t len) {
        const tap_record *rec = &DESTROY(req)->rec;
        client *c = req->c;
        tap_out o;
        if (status == -ETIMEDOUT)
                return request_reply_error(req, ERR_SYSTEM, ETIMEDOUT, NULL,
                                           "the helper in the device's network namespace did not finish in time");
        if (status < 0)
                return request_reply_error(req, ERR_SYSTEM, -status, NULL,
                                           "cannot enter the device's network namespace: %s", strerror(-status));
        if (len < sizeof(o))
                return request_reply_error(req, ERR_SYSTEM, EIO, NULL, "the helper returned a short answer");
        memcpy(&o, out, sizeof(o));
        o.error.message[sizeof(o.error.message) - 1] = 0;
        if (o.error.errno_value)
                return request_fail(req, &o.error);
        for (size_t i = 0; c && i < TS(c)->n; i++)
                if (streq(TS(c)->rec[i].name, rec->name) && TS(c)->rec[i].ifindex == rec->ifindex) {
                        forget(c, i);
                        break;
                }
        if (c)
                log_msg(c->b, LOG_INFO, "session %llu: %s '%s' %s", (unsigned long long) c->session,
                        rec->bridge ? "bridge" : "TAP device",
                        rec->name, o.removed ? "removed" : "was already gone");
        char res[96];
        snprintf(res, sizeof(res), "{\"name\":\"%s\",\"removed\":%s}", rec->name, o.removed ? "true" : "false");
        request_reply_result(req, res, NULL, 0);
}

/* tap.destroy and bridge.destroy: a record of this session, of that kind. */
static void destroy(request *req, const tap_destroy_args *a, bool bridge) {
        client *c = req->c;

        size_t i;
        for (i = 0; i < TS(c)->n && (TS(c)->rec[i].bridge != bridge || !streq(TS(c)->rec[i].name, a->name)); i++)
                ;
        if (i == TS(c)->n)
                return request_reply_error(req, ERR_NOT_FOUND, ENODEV, NULL, "no %s '%s' was created by this session",
                                           bridge ? "bridge" : "TAP device", a->name);
        if (bridge && TS(c)->rec[i].adopted)
                return request_reply_error(req, ERR_DENIED, EPERM, NULL,
                                           "bridge '%s' was adopted, not created by this session: it stays", a->name);
        DESTROY(req)->rec = TS(c)->rec[i];
        DESTROY(req)->rec.netns_fd = -EBADF; /* the step runs in it: the worker's dup, or a helper's copy */
        int r = -EBUSY;
        tap_record *copy = netns_worker_idle() ? malloc(sizeof(*copy)) : NULL;
        if (copy && (*copy = DESTROY(req)->rec,
                     r = netns_worker_run(req, TS(c)->rec[i].netns_fd, destroy_step, copy, free, destroy_done)) < 0)
                free(copy);
        if (r < 0)
                r = helper_run_netns(req, TS(c)->rec[i].netns_fd, destroy_step, &DESTROY(req)->rec, destroy_done);
        if (r < 0)
                return request_reply_error(req, ERR_SYSTEM, -r, NULL, "cannot start the helper: %s", strerror(-r));
}

static void tap_destroy(request *req, void *args, const policy_decision *d) {
        destroy(req, args, false);
}

static void bridge_destroy(request *req, void *args, const policy_decision *d) {
        destroy(req, args, true);
}

static void tap_create_request_free(request *req) {
        if (DC(req)->counted && req->c)
                TS(req->c)->tap_inflight--;
}

const broker_op bop_tap_create = { .op = &op_tap_create,
                                   .act = tap_create,
                                   .scratch_size = sizeof(device_create),
                                   .request_free = tap_create_request_free };
const broker_op bop_tap_destroy = { .op = &op_tap_destroy, .act = tap_destroy, .scratch_size = sizeof(destroy_scratch) };
const broker_op bop_bridge_destroy = { .op = &op_bridge_destroy,
                                       .act = bridge_destroy,
                                       .scratch_size = sizeof(destroy_scratch) };
