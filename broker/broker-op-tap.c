/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-op-tap.c - tap.create and tap.destroy: TAP devices in the peer's
 * own network namespace, handed over as fds; the session's record of them.
 *
 * parse args -> (policy, in the dispatcher) -> in a helper process that
 * entered the peer's network namespace with setns(pidfd): check the
 * session quota, pick or check the name, create the queues, owner and
 * group, link setup with libnl-route-3 (MTU, MAC, master, up), persist ->
 * read the link back and verify -> fds to the client.
 *
 * The broker's own threads never change namespace.  A device is created
 * with IFF_TUN_EXCL, so the kernel itself refuses a name that exists; a
 * pre-existing device is attached to only when the rule says
 * adopt_existing.  Every device the session created is recorded with its
 * ifindex and an fd of its network namespace; when the session ends the
 * ones still there are removed (tap_session_end()), in a detached process.
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
#include <sys/ioctl.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <syslog.h>

#include "broker-op-tap.h"
#include "broker-op.h"

#define TEMPLATE_MAX_INDEX 4096

static inline void nl_socket_freep(struct nl_sock **p) {
        if (*p)
                nl_socket_free(*p);
}
static inline void rtnl_link_putp(struct rtnl_link **p) {
        if (*p)
                rtnl_link_put(*p);
}
#define _cleanup_nl_sock_ _cleanup_(nl_socket_freep)
#define _cleanup_rtnl_link_ _cleanup_(rtnl_link_putp)

/* What a helper sends back (a few hundred bytes at most: helper_out). */
typedef struct tap_out {
        int err;      /* 0, or a positive errno */
        int code;     /* err_code when err != 0 */
        char name[TAP_NAME_MAX + 1];
        int ifindex;
        uint32_t mtu;
        uint8_t mac[6];
        bool adopted, removed;
        uint64_t gone; /* bit i: the session's record i no longer exists */
        int enslaved[BRIDGE_MAX_ENSLAVE]; /* bridge.create */
        unsigned n_enslaved;
        int addr_from;
        char msg[160];
} tap_out;

static ssize_t fail(tap_out *o, err_code code, int err, const char *fmt, ...) _printf_(4, 5);
static ssize_t fail(tap_out *o, err_code code, int err, const char *fmt, ...) {
        va_list ap;
        o->code = code;
        o->err = err > 0 ? err : EIO;
        va_start(ap, fmt);
        vsnprintf(o->msg, sizeof(o->msg), fmt, ap);
        va_end(ap);
        return sizeof(*o);
}

static int nl_errno(int nle) {
        switch (nle < 0 ? -nle : nle) {
        case NLE_NODEV:
        case NLE_OBJ_NOTFOUND:
                return ENODEV;
        case NLE_EXIST:
                return EEXIST;
        case NLE_PERM:
                return EPERM;
        case NLE_INVAL:
                return EINVAL;
        case NLE_RANGE:
                return ERANGE;
        case NLE_BUSY:
                return EBUSY;
        case NLE_NOMEM:
                return ENOMEM;
        case NLE_NOACCESS:
                return EACCES;
        default:
                return EIO;
        }
}

static int nl_open(struct nl_sock **ret) {
        struct nl_sock *sk = nl_socket_alloc();
        if (!sk)
                return -NLE_NOMEM;
        int r = nl_connect(sk, NETLINK_ROUTE);
        if (r < 0) {
                nl_socket_free(sk);
                return r;
        }
        *ret = sk;
        return 0;
}

/* Is the device @name still the one with @ifindex in the current netns? */
static bool link_is(struct nl_sock *sk, const char *name, int ifindex) {
        _cleanup_rtnl_link_ struct rtnl_link *l = NULL;
        return rtnl_link_get_kernel(sk, ifindex, NULL, &l) == 0 && streq_ptr(rtnl_link_get_name(l), name);
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
        int r = nl_open(&sk);
        if (r < 0)
                return -nl_errno(r);
        if (ifindex <= 0 || rtnl_link_get_kernel(sk, ifindex, NULL, &l) < 0 ||
            !streq_ptr(rtnl_link_get_name(l), name) || !streq_ptr(rtnl_link_get_type(l), "tun"))
                return 0;
        r = rtnl_link_delete(sk, l);
        if (r < 0)
                return r == -NLE_NODEV || r == -NLE_OBJ_NOTFOUND ? 0 : -nl_errno(r);
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

/* Records that vanished (QEMU closed a transient device): they free quota.
 * Returns how many of kind @bridges are still there. */
static unsigned prune(client *c, uint64_t *ret_gone, bool bridges) {
        unsigned live = 0;
        *ret_gone = 0;
        for (size_t i = 0; i < TS(c)->n; i++) {
                _cleanup_nl_sock_ struct nl_sock *sk = NULL;
                if (setns(TS(c)->rec[i].netns_fd, CLONE_NEWNET) == 0 && nl_open(&sk) == 0 &&
                    !link_is(sk, TS(c)->rec[i].name, TS(c)->rec[i].ifindex))
                        *ret_gone |= UINT64_C(1) << i;
                else
                        live += TS(c)->rec[i].bridge == bridges;
        }
        return live;
}

/* Link setup through libnl-route-3, then read back and verify. */
static ssize_t link_setup(const tap_create_args *a, tap_out *o) {
        _cleanup_nl_sock_ struct nl_sock *sk = NULL;
        _cleanup_rtnl_link_ struct rtnl_link *link = NULL, *br = NULL, *change = NULL, *now = NULL;
        int r = nl_open(&sk);
        if (r < 0)
                return fail(o, ERR_SYSTEM, nl_errno(r), "netlink: %s", nl_geterror(r));
        r = rtnl_link_get_kernel(sk, 0, o->name, &link);
        if (r < 0)
                return fail(o, ERR_SYSTEM, nl_errno(r), "cannot read back link '%s': %s", o->name, nl_geterror(r));
        if (a->bridge[0]) {
                r = rtnl_link_get_kernel(sk, 0, a->bridge, &br);
                if (r < 0)
                        return fail(o, ERR_NOT_FOUND, ENODEV,
                                    "bridge '%s' does not exist in the caller's network namespace", a->bridge);
                if (!streq_ptr(rtnl_link_get_type(br), "bridge"))
                        return fail(o, ERR_BAD_REQUEST, EINVAL, "'%s' is a %s device, not a bridge", a->bridge,
                                    rtnl_link_get_type(br) ? rtnl_link_get_type(br) : "plain");
        }
        if (!(change = rtnl_link_alloc()))
                return fail(o, ERR_SYSTEM, ENOMEM, "out of memory");
        if (a->mtu)
                rtnl_link_set_mtu(change, a->mtu);
        if (a->has_mac) {
                struct nl_addr *addr = nl_addr_build(AF_LLC, a->mac, 6);
                if (!addr)
                        return fail(o, ERR_SYSTEM, ENOMEM, "out of memory");
                rtnl_link_set_addr(change, addr);
                nl_addr_put(addr);
        }
        if (br)
                rtnl_link_set_master(change, rtnl_link_get_ifindex(br));
        rtnl_link_set_flags(change, IFF_UP);
        r = rtnl_link_change(sk, link, change, 0);
        if (r < 0)
                return fail(o, ERR_SYSTEM, nl_errno(r), "setting up link '%s' (mtu, mac, master, up): %s", o->name,
                            nl_geterror(r));

        r = rtnl_link_get_kernel(sk, 0, o->name, &now);
        if (r < 0)
                return fail(o, ERR_SYSTEM, nl_errno(r), "cannot read back link '%s': %s", o->name, nl_geterror(r));
        struct nl_addr *addr = rtnl_link_get_addr(now);
        o->ifindex = rtnl_link_get_ifindex(now);
        o->mtu = rtnl_link_get_mtu(now);
        if (addr && nl_addr_get_len(addr) == 6)
                memcpy(o->mac, nl_addr_get_binary_addr(addr), 6);
        if ((a->mtu && o->mtu != a->mtu) || (a->has_mac && memcmp(o->mac, a->mac, 6) != 0) ||
            (br && rtnl_link_get_master(now) != rtnl_link_get_ifindex(br)) || !(rtnl_link_get_flags(now) & IFF_UP))
                return fail(o, ERR_SYSTEM, EIO, "link '%s' does not show the requested settings after setup",
                            o->name);
        return 0;
}

/* The helper's step, in the peer's network namespace, as root. */
static ssize_t create_step(void *arg, void *out, size_t size, int *fds, size_t *n_fds) {
        request *req = arg;
        client *c = req->c;
        const tap_create_args *a = req->op_args;
        tap_out *o = out;
        _cleanup_close_ int first = -EBADF;
        short flags = IFF_TAP | IFF_NO_PI | (a->vnet_hdr ? IFF_VNET_HDR : 0) | (a->queues > 1 ? IFF_MULTI_QUEUE : 0);
        size_t n = 0;

        if (size < sizeof(*o))
                return -ENOBUFS;
        memset(o, 0, sizeof(*o));
        unsigned live = prune(c, &o->gone, false);
        if (setns(c->pidfd, CLONE_NEWNET) < 0) /* back from the records' namespaces */
                return fail(o, ERR_NOT_FOUND, ESRCH, "the caller exited");
        unsigned others = TS(c)->tap_inflight - 1;
        if (live + others >= req->tap_create.max_devices)
                return fail(o, ERR_DENIED, EDQUOT,
                            "tap.create: the session already holds %u TAP device(s)%s, the rule's tap max_devices is "
                            "%" PRIu32,
                            live, others ? " and creates more" : "", req->tap_create.max_devices);

        /* the name: IFF_TUN_EXCL makes the kernel refuse an existing one */
        if (a->is_template) {
                for (unsigned i = 0;; i++) {
                        if (i == TEMPLATE_MAX_INDEX ||
                            tap_template_expand(a->name, i, o->name, sizeof(o->name)) == -ENAMETOOLONG)
                                return fail(o, ERR_EXISTS, ENOSPC, "no free name for template '%s'", a->name);
                        first = tun_open(o->name, flags | IFF_TUN_EXCL);
                        if (first != -EBUSY)
                                break;
                }
        } else {
                memcpy(o->name, a->name, sizeof(o->name) - 1); /* an exact name: at most 15 */
                first = tun_open(o->name, flags | IFF_TUN_EXCL);
                if (first == -EBUSY) {
                        if (!req->tap_create.adopt_existing)
                                return fail(o, ERR_EXISTS, EEXIST, "interface '%s' already exists", o->name);
                        first = tun_open(o->name, flags);
                        o->adopted = true;
                        if (first < 0)
                                return fail(o, ERR_SYSTEM, -first,
                                            "cannot attach to the existing interface '%s' as a TAP device with "
                                            "these flags: %s",
                                            o->name, strerror(-first));
                }
        }
        if (first < 0)
                return fail(o, ERR_SYSTEM, -first, "cannot create TAP device '%s': %s", o->name, strerror(-first));

        if (ioctl(first, TUNSETOWNER, (unsigned long) c->cred.uid) < 0 ||
            ioctl(first, TUNSETGROUP, (unsigned long) c->cred.gid) < 0)
                return fail(o, ERR_SYSTEM, errno, "setting owner and group of '%s': %m", o->name);
        fds[n++] = TAKE_FD(first);
        while (n < a->queues) {
                int q = tun_open(o->name, flags);
                if (q < 0) {
                        close_fds(fds, n);
                        return fail(o, ERR_SYSTEM, -q, "opening queue %zu of '%s': %s", n, o->name, strerror(-q));
                }
                fds[n++] = q;
        }
        /* not made persistent here: the broker does that once the device is
         * recorded in the session's state file (create_done()) */
        ssize_t r = link_setup(a, o);
        if (r == 0 && (fds[n] = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)) < 0)
                r = fail(o, ERR_SYSTEM, errno, "cannot open the network namespace: %m");
        else if (r == 0)
                n++;
        /* vhost-net: one fd per queue after the netns fd; QEMU's VHOST_SET_OWNER binds each to itself */
        for (size_t v = 0; r == 0 && a->vhost && v < a->queues; v++) {
                int fd = open("/dev/vhost-net", O_RDWR | O_CLOEXEC);
                if (fd >= 0)
                        fds[n++] = fd;
                else if (errno == ENOENT || errno == ENODEV || errno == ENXIO)
                        r = fail(o, ERR_UNSUPPORTED, errno,
                                 "tap.create: vhost: /dev/vhost-net is not available on this node (%m): load the "
                                 "vhost_net module, or ask without \"vhost\"");
                else
                        r = fail(o, ERR_SYSTEM, errno, "tap.create: vhost: cannot open /dev/vhost-net: %m");
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

static int bridge_remove(const tap_record *rec, char *msg, size_t size);

/* In a child process: remove @recs (not adopted) where they still exist. */
static void remove_detached(broker *b, const char *why, const tap_record *recs, size_t n) {
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
                k += !recs[i].adopted;
        if (k == 0)
                return;
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
                for (size_t i = 0; i < n; i++)
                        if (!recs[i].adopted && setns(recs[i].netns_fd, CLONE_NEWNET) == 0)
                                recs[i].bridge ? bridge_remove(&recs[i], NULL, 0) : link_remove(recs[i].name, recs[i].ifindex);
                _exit(0);
        }
        cleanup_watch(b, pid);
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

void tap_remove_detached(broker *b, const char *why, const tap_record *recs, size_t n) {
        remove_detached(b, why, recs, n);
}

void tap_session_end(client *c) {
        char why[64];
        snprintf(why, sizeof(why), "session %llu ended", (unsigned long long) c->session);
        remove_detached(c->b, why, TS(c)->rec, TS(c)->n);
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

unsigned tap_prune(client *c, uint64_t *ret_gone) {
        return prune(c, ret_gone, false);
}

void tap_forget_gone(client *c, uint64_t gone) {
        for (size_t i = TS(c)->n; i-- > 0;)
                if (gone & (UINT64_C(1) << i))
                        forget(c, i);
}

/*
 * A create helper's answer in @o, the session's records that vanished
 * meanwhile forgotten (when its records are still those the helper saw,
 * @gen); false when it failed, answered already.
 */
static bool create_answer(request *req, int status, const void *out, size_t len, uint64_t gen, tap_out *o) {
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
        o->name[sizeof(o->name) - 1] = o->msg[sizeof(o->msg) - 1] = 0;
        if (c && TS(c)->gen == gen)
                for (size_t i = TS(c)->n; i-- > 0;)
                        if (o->gone & (UINT64_C(1) << i))
                                forget(c, i);
        if (o->err) {
                delegate_error e = { .errno_value = o->err };
                snprintf(e.code, sizeof(e.code), "%s", err_code_name(o->code));
                snprintf(e.message, sizeof(e.message), "%s", o->msg);
                if (o->code == ERR_DENIED)
                        snprintf(e.rule, sizeof(e.rule), "%s", req->rule);
                request_reply_delegate_error(req, &e);
                return false;
        }
        return true;
}

static void create_done(request *req, int status, const void *out, size_t len) {
        const tap_create_args *a = req->op_args;
        client *c = req->c;
        tap_out o;
        char mac[32];

        if (!create_answer(req, status, out, len, req->tap_create.gen, &o))
                return;
        size_t n_vhost = a->vhost ? a->queues : 0;
        if (req->helper_n_fds != a->queues + 1 + n_vhost)
                return request_reply_error(req, ERR_SYSTEM, EIO, NULL, "the helper returned %zu fds, not %zu",
                                           req->helper_n_fds, a->queues + 1 + n_vhost);
        tap_record rec = { .ifindex = o.ifindex, .persist = a->persist, .adopted = o.adopted,
                           .netns_fd = TAKE_FD(req->helper_fds[a->queues]) };
        snprintf(rec.name, sizeof(rec.name), "%s", o.name);
        /* the reply's fds: the TAP queues, then the vhost-net fds */
        memmove(&req->helper_fds[a->queues], &req->helper_fds[a->queues + 1], n_vhost * sizeof(int));
        req->helper_n_fds--;
        if (!c) { /* the session ended meanwhile: nothing may outlive it */
                remove_detached(req->b, "tap.create finished after its session ended", &rec, 1);
                safe_close(rec.netns_fd);
                return request_reply_error(req, ERR_SYSTEM, ECONNRESET, NULL, "the session ended");
        }
        /* intent, act, confirm: a persistent device outlives every fd, so it
         * is on disk before it becomes persistent; until then it goes with
         * the fds (a broker killed meanwhile leaves nothing behind) */
        TS(c)->rec[TS(c)->n++] = rec; /* room: device_admit() counted it, within --max-tap <= SESSION_MAX_TAP */
        TS(c)->gen++;
        c->state_dirty = true;
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

        _cleanup_json_gen_ yajl_gen g = json_gen_new();
        _cleanup_erase_free_ char *res = NULL;
        if (!g)
                return request_reply_error(req, ERR_SYSTEM, ENOMEM, NULL, "out of memory");
        yajl_gen_map_open(g);
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
        yajl_gen_map_close(g);
        if (json_gen_take(g, &res, NULL) < 0)
                return request_reply_error(req, ERR_SYSTEM, ENOMEM, NULL, "out of memory");
        request_reply_result(req, res, req->helper_fds, a->queues + n_vhost);
}

/*
 * Admit one more device of the session, a TAP device or a bridge: they share
 * the records and --max-tap, and the creations still in progress count too,
 * so the records have room for every one that finishes.  0 with *@inflight
 * and *@counted raised, or -EDQUOT after replying.
 */
static int device_admit(request *req, const policy_decision *d, unsigned *inflight, bool *counted) {
        client *c = req->c;
        unsigned pending = TS(c)->tap_inflight + TS(c)->bridge_inflight;
        if (TS(c)->n + pending >= req->b->limits.max_tap) {
                request_reply_error(req, ERR_DENIED, EDQUOT, d->rule->name,
                                    "%s: the session holds %zu device(s) (TAP devices and bridges)%s, the most any "
                                    "session may (--max-tap %u)",
                                    req->op, TS(c)->n, pending ? " and creates more" : "", req->b->limits.max_tap);
                return -EDQUOT;
        }
        (*inflight)++;
        *counted = true;
        return 0;
}

static void tap_create(request *req, void *args, const policy_decision *d) {
        client *c = req->c;

        req->tap_create.max_devices = d->rule->tap.max_devices;
        req->tap_create.adopt_existing = d->rule->tap.adopt_existing;
        if (device_admit(req, d, &TS(c)->tap_inflight, &req->tap_create.counted) < 0)
                return;
        req->tap_create.gen = TS(c)->gen;
        int r = helper_run_netns(req, c->pidfd, create_step, req, create_done);
        if (r < 0)
                return request_reply_error(req, ERR_SYSTEM, -r, NULL, "cannot start the helper: %s", strerror(-r));
}

static ssize_t destroy_step(void *arg, void *out, size_t size, int *fds, size_t *n_fds) {
        request *req = arg;
        const tap_record *rec = &req->tap_destroy.rec;
        tap_out *o = out;
        char why[sizeof(o->msg)] = "";
        if (size < sizeof(*o))
                return -ENOBUFS;
        memset(o, 0, sizeof(*o));
        int r = rec->bridge ? bridge_remove(rec, why, sizeof(why)) : link_remove(rec->name, rec->ifindex);
        if (r < 0)
                return why[0] ? fail(o, ERR_SYSTEM, -r, "%s", why)
                              : fail(o, ERR_SYSTEM, -r, "cannot remove '%s': %s", rec->name, strerror(-r));
        o->removed = r > 0;
        return sizeof(*o);
}

static void destroy_done(request *req, int status, const void *out, size_t len) {
        const tap_record *rec = &req->tap_destroy.rec;
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
        o.msg[sizeof(o.msg) - 1] = 0;
        if (o.err)
                return request_reply_error(req, (err_code) o.code, o.err, NULL, "%s", o.msg);
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
        req->tap_destroy.rec = TS(c)->rec[i];
        req->tap_destroy.rec.netns_fd = -EBADF; /* the helper uses the session's, by fd number */
        int r = helper_run_netns(req, TS(c)->rec[i].netns_fd, destroy_step, req, destroy_done);
        if (r < 0)
                return request_reply_error(req, ERR_SYSTEM, -r, NULL, "cannot start the helper: %s", strerror(-r));
}

static void tap_destroy(request *req, void *args, const policy_decision *d) {
        destroy(req, args, false);
}

static void bridge_destroy(request *req, void *args, const policy_decision *d) {
        destroy(req, args, true);
}

/* --- bridge.create / bridge.destroy --- */

static inline void nl_cache_freep(struct nl_cache **p) {
        if (*p)
                nl_cache_free(*p);
}
#define _cleanup_nl_cache_ _cleanup_(nl_cache_freep)
static inline void rtnl_addr_putp(struct rtnl_addr **p) {
        if (*p)
                rtnl_addr_put(*p);
}
static inline void rtnl_route_putp(struct rtnl_route **p) {
        if (*p)
                rtnl_route_put(*p);
}

/* Addresses that move with a bridge binding: not IPv6 link-local (each link keeps its own). */
static bool addr_moves(struct rtnl_addr *a) {
        struct nl_addr *l = rtnl_addr_get_local(a);
        if (!l)
                return false;
        if (rtnl_addr_get_family(a) == AF_INET6) {
                const uint8_t *b = nl_addr_get_binary_addr(l);
                return !(nl_addr_get_len(l) == 16 && b[0] == 0xfe && (b[1] & 0xc0) == 0x80);
        }
        return rtnl_addr_get_family(a) == AF_INET;
}

/* Routes that move: in the main table, through @ifindex only, not made by the kernel for an address. */
static bool route_moves(struct rtnl_route *rt, int ifindex) {
        if (rtnl_route_get_table(rt) != RT_TABLE_MAIN || rtnl_route_get_protocol(rt) == RTPROT_KERNEL ||
            rtnl_route_get_nnexthops(rt) != 1)
                return false;
        return rtnl_route_nh_get_ifindex(rtnl_route_nexthop_n(rt, 0)) == ifindex;
}

typedef struct moved {
        struct rtnl_addr *addrs[16];
        size_t n_addrs;
        struct rtnl_route *routes[32];
        size_t n_routes;
} moved;

static void moved_done(moved *m) {
        for (size_t i = 0; i < m->n_addrs; i++)
                rtnl_addr_put(m->addrs[i]);
        for (size_t i = 0; i < m->n_routes; i++)
                rtnl_route_put(m->routes[i]);
        m->n_addrs = m->n_routes = 0;
}

/* What @ifindex holds that a bridge binding moves, as clones. */
static int collect(struct nl_sock *sk, int ifindex, moved *m) {
        _cleanup_nl_cache_ struct nl_cache *ac = NULL, *rc = NULL;
        int r = rtnl_addr_alloc_cache(sk, &ac);
        if (r < 0 || (r = rtnl_route_alloc_cache(sk, AF_UNSPEC, 0, &rc)) < 0)
                return -nl_errno(r);
        for (struct nl_object *o = nl_cache_get_first(ac); o; o = nl_cache_get_next(o)) {
                struct rtnl_addr *a = (struct rtnl_addr *) o;
                if (rtnl_addr_get_ifindex(a) != ifindex || !addr_moves(a))
                        continue;
                if (m->n_addrs == ELEMENTSOF(m->addrs))
                        return -E2BIG;
                m->addrs[m->n_addrs++] = (struct rtnl_addr *) nl_object_clone(o);
        }
        for (struct nl_object *o = nl_cache_get_first(rc); o; o = nl_cache_get_next(o)) {
                if (!route_moves((struct rtnl_route *) o, ifindex))
                        continue;
                if (m->n_routes == ELEMENTSOF(m->routes))
                        return -E2BIG;
                m->routes[m->n_routes++] = (struct rtnl_route *) nl_object_clone(o);
        }
        for (size_t i = 0; i < m->n_addrs; i++)
                if (!m->addrs[i])
                        return -ENOMEM;
        for (size_t i = 0; i < m->n_routes; i++)
                if (!m->routes[i])
                        return -ENOMEM;
        return 0;
}

/* A new route like @from through @ifindex (libnl does not build a message from a cached route). */
static struct rtnl_route *route_through(struct rtnl_route *from, int ifindex) {
        struct rtnl_route *rt = rtnl_route_alloc();
        struct rtnl_nexthop *nh = rtnl_route_nh_alloc(), *old = rtnl_route_nexthop_n(from, 0);
        if (!rt || !nh) {
                if (rt)
                        rtnl_route_put(rt);
                if (nh)
                        rtnl_route_nh_free(nh);
                return NULL;
        }
        rtnl_route_set_family(rt, rtnl_route_get_family(from));
        rtnl_route_set_table(rt, RT_TABLE_MAIN);
        rtnl_route_set_dst(rt, rtnl_route_get_dst(from));
        rtnl_route_set_protocol(rt, rtnl_route_get_protocol(from));
        rtnl_route_set_scope(rt, rtnl_route_get_scope(from));
        rtnl_route_set_priority(rt, rtnl_route_get_priority(from));
        rtnl_route_set_type(rt, rtnl_route_get_type(from));
        if (rtnl_route_get_pref_src(from))
                rtnl_route_set_pref_src(rt, rtnl_route_get_pref_src(from));
        rtnl_route_nh_set_ifindex(nh, ifindex);
        if (rtnl_route_nh_get_gateway(old))
                rtnl_route_nh_set_gateway(nh, rtnl_route_nh_get_gateway(old));
        rtnl_route_add_nexthop(rt, nh);
        return rt;
}

/* Put the collected addresses, then routes, on @ifindex (the link must be up for routes). */
static int place(struct nl_sock *sk, const moved *m, int ifindex) {
        _cleanup_rtnl_link_ struct rtnl_link *l = NULL;
        int r = rtnl_link_get_kernel(sk, ifindex, NULL, &l);
        if (r < 0)
                return -nl_errno(r);
        for (size_t i = 0; i < m->n_addrs; i++) {
                _cleanup_(rtnl_addr_putp) struct rtnl_addr *a = (struct rtnl_addr *) nl_object_clone(
                        (struct nl_object *) m->addrs[i]);
                if (!a)
                        return -ENOMEM;
                rtnl_addr_set_ifindex(a, ifindex);
                if (rtnl_addr_get_family(a) == AF_INET) /* an IPv4 label must start with its link's name */
                        rtnl_addr_set_label(a, rtnl_link_get_name(l));
                int q = rtnl_addr_add(sk, a, NLM_F_REPLACE);
                if (q < 0 && r == 0)
                        r = -nl_errno(q);
        }
        for (size_t i = 0; i < m->n_routes; i++) {
                _cleanup_(rtnl_route_putp) struct rtnl_route *rt = route_through(m->routes[i], ifindex);
                if (!rt)
                        return -ENOMEM;
                int q = rtnl_route_add(sk, rt, NLM_F_CREATE | NLM_F_REPLACE);
                if (q < 0 && r == 0)
                        r = -nl_errno(q);
        }
        return r;
}

/* IFF_UP on @ifindex, and MTU @mtu unless 0 (a bridge takes its first port's MTU when it enslaves it). */
static int link_up(struct nl_sock *sk, int ifindex, uint32_t mtu) {
        _cleanup_rtnl_link_ struct rtnl_link *l = NULL, *change = rtnl_link_alloc();
        if (!change)
                return -ENOMEM;
        int r = rtnl_link_get_kernel(sk, ifindex, NULL, &l);
        if (r < 0)
                return -nl_errno(r);
        rtnl_link_set_flags(change, IFF_UP);
        if (mtu)
                rtnl_link_set_mtu(change, mtu);
        r = rtnl_link_change(sk, l, change, 0);
        return r < 0 ? -nl_errno(r) : 0;
}

/*
 * In the bridge's netns: remove bridge @rec, then give what it took over
 * (addresses and routes, read from the bridge itself) back to the
 * interface they came from.  1 removed, 0 gone already, -errno.
 */
static int bridge_remove(const tap_record *rec, char *msg, size_t size) {
        _cleanup_nl_sock_ struct nl_sock *sk = NULL;
        _cleanup_rtnl_link_ struct rtnl_link *l = NULL, *from = NULL;
        moved m = {};
        int r = nl_open(&sk);
        if (r < 0)
                return -nl_errno(r);
        if (!link_is(sk, rec->name, rec->ifindex))
                return 0;
        if (rec->addr_from > 0 && rtnl_link_get_kernel(sk, rec->addr_from, NULL, &from) == 0 &&
            rtnl_link_get_master(from) == rec->ifindex)
                r = collect(sk, rec->ifindex, &m);
        if (r == 0 && rtnl_link_get_kernel(sk, rec->ifindex, NULL, &l) == 0) {
                int q = rtnl_link_delete(sk, l); /* releases the enslaved interfaces */
                if (q < 0 && q != -NLE_NODEV && q != -NLE_OBJ_NOTFOUND)
                        r = -nl_errno(q);
        }
        if (r == 0 && from) {
                link_up(sk, rec->addr_from, 0);
                r = place(sk, &m, rec->addr_from);
        }
        if (r < 0 && msg)
                snprintf(msg, size, "removing bridge '%s' and giving its addresses back: %s", rec->name,
                         strerror(-r));
        moved_done(&m);
        return r < 0 ? r : 1;
}

/* The helper's step for bridge.create, in the peer's network namespace, as root. */
static ssize_t bridge_create_step(void *arg, void *out, size_t size, int *fds, size_t *n_fds) {
        request *req = arg;
        client *c = req->c;
        const bridge_create_args *a = req->op_args;
        tap_out *o = out;
        _cleanup_nl_sock_ struct nl_sock *sk = NULL;
        _cleanup_rtnl_link_ struct rtnl_link *br = NULL, *now = NULL;
        tap_record rec = { .bridge = true };
        moved m = {};
        int r;

        if (size < sizeof(*o))
                return -ENOBUFS;
        memset(o, 0, sizeof(*o));
        unsigned live = prune(c, &o->gone, true);
        if (setns(c->pidfd, CLONE_NEWNET) < 0)
                return fail(o, ERR_NOT_FOUND, ESRCH, "the caller exited");
        unsigned others = TS(c)->bridge_inflight - 1;
        if (live + others >= req->bridge_create.max_devices)
                return fail(o, ERR_DENIED, EDQUOT,
                            "bridge.create: the session already holds %u bridge(s)%s, the rule's bridge max_devices is "
                            "%" PRIu32,
                            live, others ? " and creates more" : "", req->bridge_create.max_devices);
        if ((r = nl_open(&sk)) < 0)
                return fail(o, ERR_SYSTEM, nl_errno(r), "netlink: %s", nl_geterror(r));
        snprintf(o->name, sizeof(o->name), "%s", a->name);

        /* the interfaces to enslave: present, not enslaved yet, at most one with addresses */
        int slaves[BRIDGE_MAX_ENSLAVE];
        for (size_t i = 0; i < a->n_enslave; i++) {
                _cleanup_rtnl_link_ struct rtnl_link *l = NULL;
                if (rtnl_link_get_kernel(sk, 0, a->enslave[i], &l) < 0)
                        return fail(o, ERR_NOT_FOUND, ENODEV,
                                    "interface '%s' to enslave does not exist in the caller's network namespace",
                                    a->enslave[i]);
                if (rtnl_link_get_master(l) > 0)
                        return fail(o, ERR_EXISTS, EBUSY, "interface '%s' is already on a bridge", a->enslave[i]);
                slaves[i] = rtnl_link_get_ifindex(l);
                moved here = {};
                r = collect(sk, slaves[i], &here);
                size_t n = here.n_addrs;
                moved_done(&here);
                if (r < 0)
                        return fail(o, ERR_SYSTEM, -r, "reading the addresses and routes of '%s': %s", a->enslave[i],
                                    strerror(-r));
                if (n > 0 && rec.addr_from)
                        return fail(o, ERR_BAD_REQUEST, EINVAL,
                                    "more than one interface to enslave has addresses: the bridge takes over the "
                                    "addresses and routes of one");
                if (n > 0)
                        rec.addr_from = slaves[i];
        }

        r = rtnl_link_get_kernel(sk, 0, a->name, &br);
        if (r == 0) {
                if (!req->bridge_create.adopt_existing)
                        return fail(o, ERR_EXISTS, EEXIST, "interface '%s' already exists", a->name);
                if (!streq_ptr(rtnl_link_get_type(br), "bridge"))
                        return fail(o, ERR_EXISTS, EEXIST, "'%s' exists and is a %s device, not a bridge", a->name,
                                    rtnl_link_get_type(br) ? rtnl_link_get_type(br) : "plain");
                if (a->n_enslave > 0)
                        return fail(o, ERR_BAD_REQUEST, EINVAL, "bridge '%s' exists and is adopted as it is: the "
                                    "broker enslaves interfaces only to a bridge it creates", a->name);
                o->adopted = true;
        } else {
                _cleanup_rtnl_link_ struct rtnl_link *n = rtnl_link_bridge_alloc();
                if (!n)
                        return fail(o, ERR_SYSTEM, ENOMEM, "out of memory");
                rtnl_link_set_name(n, a->name);
                if (a->mtu)
                        rtnl_link_set_mtu(n, a->mtu);
                r = rtnl_link_add(sk, n, NLM_F_CREATE | NLM_F_EXCL);
                if (r < 0)
                        return fail(o, r == -NLE_EXIST ? ERR_EXISTS : ERR_SYSTEM, nl_errno(r),
                                    "cannot create bridge '%s': %s", a->name, nl_geterror(r));
                if ((r = rtnl_link_get_kernel(sk, 0, a->name, &br)) < 0)
                        return fail(o, ERR_SYSTEM, nl_errno(r), "cannot read back bridge '%s': %s", a->name,
                                    nl_geterror(r));
        }
        snprintf(rec.name, sizeof(rec.name), "%s", a->name);
        rec.ifindex = rtnl_link_get_ifindex(br);
        rec.adopted = o->adopted;

        /* enslave; the addresses and routes of the one that has them move to the bridge */
        ssize_t ret = 0;
        if (rec.addr_from && (r = collect(sk, rec.addr_from, &m)) < 0)
                ret = fail(o, ERR_SYSTEM, -r, "reading addresses and routes: %s", strerror(-r));
        for (size_t i = 0; ret == 0 && i < a->n_enslave; i++) {
                _cleanup_rtnl_link_ struct rtnl_link *l = NULL, *change = rtnl_link_alloc();
                if (!change || (r = rtnl_link_get_kernel(sk, slaves[i], NULL, &l)) < 0) {
                        ret = fail(o, ERR_SYSTEM, change ? nl_errno(r) : ENOMEM, "cannot read '%s' again",
                                   a->enslave[i]);
                        break;
                }
                rtnl_link_set_master(change, rec.ifindex);
                rtnl_link_set_flags(change, IFF_UP);
                if ((r = rtnl_link_change(sk, l, change, 0)) < 0)
                        ret = fail(o, ERR_SYSTEM, nl_errno(r), "cannot put '%s' on bridge '%s': %s", a->enslave[i],
                                   a->name, nl_geterror(r));
                else
                        rec.enslaved[rec.n_enslaved++] = slaves[i];
        }
        for (size_t i = 0; ret == 0 && i < m.n_addrs; i++)
                if ((r = rtnl_addr_delete(sk, m.addrs[i], 0)) < 0 && r != -NLE_NOADDR)
                        ret = fail(o, ERR_SYSTEM, nl_errno(r), "cannot remove an address from '%s': %s",
                                   a->enslave[0], nl_geterror(r));
        if (ret == 0 && (r = link_up(sk, rec.ifindex, o->adopted ? 0 : a->mtu)) < 0)
                ret = fail(o, ERR_SYSTEM, -r, "cannot set bridge '%s' up: %s", a->name, strerror(-r));
        if (ret == 0 && (r = place(sk, &m, rec.ifindex)) < 0)
                ret = fail(o, ERR_SYSTEM, -r, "cannot move the addresses and routes to bridge '%s': %s", a->name,
                           strerror(-r));

        /* read back and verify */
        if (ret == 0 && (r = rtnl_link_get_kernel(sk, rec.ifindex, NULL, &now)) < 0)
                ret = fail(o, ERR_SYSTEM, nl_errno(r), "cannot read back bridge '%s': %s", a->name, nl_geterror(r));
        if (ret == 0 && (!streq_ptr(rtnl_link_get_name(now), a->name) || !streq_ptr(rtnl_link_get_type(now), "bridge") ||
                         !(rtnl_link_get_flags(now) & IFF_UP) || (a->mtu && !o->adopted && rtnl_link_get_mtu(now) != a->mtu)))
                ret = fail(o, ERR_SYSTEM, EIO, "bridge '%s' does not show the requested settings after setup "
                           "(type %s, flags 0x%x, MTU %u)", a->name, rtnl_link_get_type(now) ? rtnl_link_get_type(now) : "-",
                           rtnl_link_get_flags(now), rtnl_link_get_mtu(now));
        for (unsigned i = 0; ret == 0 && i < rec.n_enslaved; i++) {
                _cleanup_rtnl_link_ struct rtnl_link *l = NULL;
                if (rtnl_link_get_kernel(sk, rec.enslaved[i], NULL, &l) < 0 || rtnl_link_get_master(l) != rec.ifindex)
                        ret = fail(o, ERR_SYSTEM, EIO, "'%s' is not on bridge '%s' after setup", a->enslave[i], a->name);
        }
        if (ret == 0 && rec.addr_from) {
                moved on = {};
                r = collect(sk, rec.ifindex, &on);
                if (r < 0 || on.n_addrs != m.n_addrs)
                        ret = fail(o, ERR_SYSTEM, EIO, "bridge '%s' holds %zu of the %zu addresses moved to it",
                                   a->name, on.n_addrs, m.n_addrs);
                moved_done(&on);
        }
        if (ret == 0 && (fds[0] = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)) < 0)
                ret = fail(o, ERR_SYSTEM, errno, "cannot open the network namespace: %m");
        if (ret != 0) {
                if (!rec.adopted) { /* undo: the interface gets back what it had */
                        tap_record undo = rec;
                        undo.addr_from = 0;
                        bridge_remove(&undo, NULL, 0);
                        if (rec.addr_from) {
                                link_up(sk, rec.addr_from, 0);
                                place(sk, &m, rec.addr_from);
                        }
                }
                moved_done(&m);
                return ret;
        }
        moved_done(&m);
        o->ifindex = rec.ifindex;
        o->mtu = rtnl_link_get_mtu(now);
        o->n_enslaved = rec.n_enslaved;
        memcpy(o->enslaved, rec.enslaved, sizeof(o->enslaved));
        o->addr_from = rec.addr_from;
        *n_fds = 1;
        return sizeof(*o);
}

static void bridge_create_done(request *req, int status, const void *out, size_t len) {
        const bridge_create_args *a = req->op_args;
        client *c = req->c;
        tap_out o;

        if (!create_answer(req, status, out, len, req->bridge_create.gen, &o))
                return;
        if (req->helper_n_fds != 1)
                return request_reply_error(req, ERR_SYSTEM, EIO, NULL, "the helper returned %zu fds, not 1",
                                           req->helper_n_fds);
        tap_record rec = { .ifindex = o.ifindex, .adopted = o.adopted, .bridge = true, .addr_from = o.addr_from,
                           .n_enslaved = o.n_enslaved, .netns_fd = TAKE_FD(req->helper_fds[0]) };
        memcpy(rec.enslaved, o.enslaved, sizeof(rec.enslaved));
        snprintf(rec.name, sizeof(rec.name), "%s", o.name);
        req->helper_n_fds = 0;
        if (!c || TS(c)->n >= SESSION_MAX_TAP) { /* the session ended meanwhile: nothing may outlive it */
                remove_detached(req->b, "bridge.create finished after its session ended", &rec, 1);
                safe_close(rec.netns_fd);
                return request_reply_error(req, ERR_SYSTEM, c ? EDQUOT : ECONNRESET, NULL,
                                           c ? "the session holds too many devices" : "the session ended");
        }
        TS(c)->rec[TS(c)->n++] = rec;
        TS(c)->gen++;
        c->state_dirty = true;
        log_msg(c->b, LOG_INFO, "session %llu: bridge '%s' (ifindex %d, %u interface(s) enslaved%s) %s",
                (unsigned long long) c->session, o.name, o.ifindex, o.n_enslaved,
                o.addr_from ? ", their addresses and routes moved to it" : "", o.adopted ? "adopted" : "created");

        _cleanup_json_gen_ yajl_gen g = json_gen_new();
        _cleanup_erase_free_ char *res = NULL;
        if (!g)
                return request_reply_error(req, ERR_SYSTEM, ENOMEM, NULL, "out of memory");
        yajl_gen_map_open(g);
        json_gen_kv_str(g, "name", o.name);
        json_gen_kv_i64(g, "ifindex", o.ifindex);
        json_gen_kv_u64(g, "mtu", o.mtu);
        json_gen_str(g, "enslaved");
        yajl_gen_array_open(g);
        for (size_t i = 0; i < a->n_enslave && i < o.n_enslaved; i++)
                json_gen_str(g, a->enslave[i]);
        yajl_gen_array_close(g);
        json_gen_kv_bool(g, "addresses_moved", o.addr_from != 0);
        json_gen_kv_bool(g, "adopted", o.adopted);
        yajl_gen_map_close(g);
        if (json_gen_take(g, &res, NULL) < 0)
                return request_reply_error(req, ERR_SYSTEM, ENOMEM, NULL, "out of memory");
        request_reply_result(req, res, NULL, 0);
}

static void bridge_create(request *req, void *args, const policy_decision *d) {
        client *c = req->c;

        req->bridge_create.max_devices = d->rule->bridge.max_devices;
        req->bridge_create.adopt_existing = d->rule->bridge.adopt_existing;
        if (device_admit(req, d, &TS(c)->bridge_inflight, &req->bridge_create.counted) < 0)
                return;
        req->bridge_create.gen = TS(c)->gen;
        int r = helper_run_netns(req, c->pidfd, bridge_create_step, req, bridge_create_done);
        if (r < 0)
                return request_reply_error(req, ERR_SYSTEM, -r, NULL, "cannot start the helper: %s", strerror(-r));
}


static void tap_create_request_free(request *req) {
        if (req->tap_create.counted && req->c)
                TS(req->c)->tap_inflight--;
}

static void bridge_create_request_free(request *req) {
        if (req->bridge_create.counted && req->c)
                TS(req->c)->bridge_inflight--;
}

const broker_op bop_tap_create = { .op = &op_tap_create, .act = tap_create, .request_free = tap_create_request_free };
const broker_op bop_tap_destroy = { .op = &op_tap_destroy, .act = tap_destroy };
const broker_op bop_bridge_create = { .op = &op_bridge_create,
                                      .act = bridge_create,
                                      .request_free = bridge_create_request_free };
const broker_op bop_bridge_destroy = { .op = &op_bridge_destroy, .act = bridge_destroy };
