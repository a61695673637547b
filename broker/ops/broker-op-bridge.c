/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-op-bridge.c - bridge.create: a bridge in the peer's own network
 * namespace that takes over the pod interfaces it enslaves, with their
 * addresses and routes (given back when it is removed).  bridge.destroy
 * shares tap.destroy's path (broker-op-tap.c); both share the session's
 * device records and --max-tap with tap.create.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <net/if.h>
#include <netlink/route/addr.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/route.h>
#include <sched.h>
#include <stdio.h>
#include <syslog.h>

#include "broker-tap.h"
#include "broker-op.h"

/* The helper's step for bridge.create, in the peer's network namespace, as root. */
static ssize_t bridge_create_step(void *arg, void *out, size_t size, int *fds, size_t *n_fds) {
        const tap_step_in *in = arg;
        const bridge_create_args *a = &in->a.bridge;
        tap_out *o = out;
        _cleanup_nl_sock_ struct nl_sock *sk = NULL;
        _cleanup_rtnl_link_ struct rtnl_link *br = NULL, *now = NULL;
        tap_record rec = { .bridge = true };
        moved m = {};
        int r;

        if (size < sizeof(*o))
                return -ENOBUFS;
        memset(o, 0, sizeof(*o));
        ssize_t q = tap_step_quota(in, o, true);
        if (q != 0)
                return q;
        if ((r = tap_nl_open(&sk)) < 0)
                return tap_fail(o, ERR_SYSTEM, tap_nl_errno(r), "netlink: %s", nl_geterror(r));
        snprintf(o->name, sizeof(o->name), "%s", a->name);

        /* the interfaces to enslave: present, not enslaved yet, at most one with addresses */
        int slaves[BRIDGE_MAX_ENSLAVE];
        for (size_t i = 0; i < a->n_enslave; i++) {
                _cleanup_rtnl_link_ struct rtnl_link *l = NULL;
                if (rtnl_link_get_kernel(sk, 0, a->enslave[i], &l) < 0)
                        return tap_fail(o, ERR_NOT_FOUND, ENODEV,
                                        "interface '%s' to enslave does not exist in the caller's network namespace",
                                        a->enslave[i]);
                if (rtnl_link_get_master(l) > 0)
                        return tap_fail(o, ERR_EXISTS, EBUSY, "interface '%s' is already on a bridge", a->enslave[i]);
                slaves[i] = rtnl_link_get_ifindex(l);
                moved here = {};
                r = bridge_collect(sk, slaves[i], &here);
                size_t n = here.n_addrs;
                bridge_moved_done(&here);
                if (r < 0)
                        return tap_fail(o, ERR_SYSTEM, -r, "reading the addresses and routes of '%s': %s",
                                        a->enslave[i], strerror(-r));
                if (n > 0 && rec.addr_from)
                        return tap_fail(o, ERR_BAD_REQUEST, EINVAL,
                                        "more than one interface to enslave has addresses: the bridge takes over the "
                                        "addresses and routes of one");
                if (n > 0)
                        rec.addr_from = slaves[i];
        }

        r = rtnl_link_get_kernel(sk, 0, a->name, &br);
        if (r == 0) {
                if (!in->adopt_existing)
                        return tap_fail(o, ERR_EXISTS, EEXIST, "interface '%s' already exists", a->name);
                if (!streq_ptr(rtnl_link_get_type(br), "bridge"))
                        return tap_fail(o, ERR_EXISTS, EEXIST, "'%s' exists and is a %s device, not a bridge", a->name,
                                        rtnl_link_get_type(br) ? rtnl_link_get_type(br) : "plain");
                if (a->n_enslave > 0)
                        return tap_fail(o, ERR_BAD_REQUEST, EINVAL,
                                        "bridge '%s' exists and is adopted as it is: the "
                                        "broker enslaves interfaces only to a bridge it creates",
                                        a->name);
                o->adopted = true;
        } else {
                _cleanup_rtnl_link_ struct rtnl_link *n = rtnl_link_bridge_alloc();
                if (!n)
                        return tap_fail(o, ERR_SYSTEM, ENOMEM, "out of memory");
                rtnl_link_set_name(n, a->name);
                if (a->mtu)
                        rtnl_link_set_mtu(n, a->mtu);
                r = rtnl_link_add(sk, n, NLM_F_CREATE | NLM_F_EXCL);
                if (r < 0)
                        return tap_fail(o, r == -NLE_EXIST ? ERR_EXISTS : ERR_SYSTEM, tap_nl_errno(r),
                                        "cannot create bridge '%s': %s", a->name, nl_geterror(r));
                if ((r = rtnl_link_get_kernel(sk, 0, a->name, &br)) < 0)
                        return tap_fail(o, ERR_SYSTEM, tap_nl_errno(r), "cannot read back bridge '%s': %s", a->name,
                                        nl_geterror(r));
        }
        snprintf(rec.name, sizeof(rec.name), "%s", a->name);
        rec.ifindex = rtnl_link_get_ifindex(br);
        rec.adopted = o->adopted;

        /* enslave; the addresses and routes of the one that has them move to the bridge */
        ssize_t ret = 0;
        if (rec.addr_from && (r = bridge_collect(sk, rec.addr_from, &m)) < 0)
                ret = tap_fail(o, ERR_SYSTEM, -r, "reading addresses and routes: %s", strerror(-r));
        for (size_t i = 0; ret == 0 && i < a->n_enslave; i++) {
                _cleanup_rtnl_link_ struct rtnl_link *l = NULL, *change = rtnl_link_alloc();
                if (!change || (r = rtnl_link_get_kernel(sk, slaves[i], NULL, &l)) < 0) {
                        ret = tap_fail(o, ERR_SYSTEM, change ? tap_nl_errno(r) : ENOMEM, "cannot read '%s' again",
                                       a->enslave[i]);
                        break;
                }
                rtnl_link_set_master(change, rec.ifindex);
                rtnl_link_set_flags(change, IFF_UP);
                if ((r = rtnl_link_change(sk, l, change, 0)) < 0)
                        ret = tap_fail(o, ERR_SYSTEM, tap_nl_errno(r), "cannot put '%s' on bridge '%s': %s",
                                       a->enslave[i], a->name, nl_geterror(r));
                else
                        rec.enslaved[rec.n_enslaved++] = slaves[i];
        }
        for (size_t i = 0; ret == 0 && i < m.n_addrs; i++)
                if ((r = rtnl_addr_delete(sk, m.addrs[i], 0)) < 0 && r != -NLE_NOADDR)
                        ret = tap_fail(o, ERR_SYSTEM, tap_nl_errno(r), "cannot remove an address from '%s': %s",
                                       a->enslave[0], nl_geterror(r));
        if (ret == 0 && (r = bridge_link_up(sk, rec.ifindex, o->adopted ? 0 : a->mtu)) < 0)
                ret = tap_fail(o, ERR_SYSTEM, -r, "cannot set bridge '%s' up: %s", a->name, strerror(-r));
        if (ret == 0 && (r = bridge_place(sk, &m, rec.ifindex)) < 0)
                ret = tap_fail(o, ERR_SYSTEM, -r, "cannot move the addresses and routes to bridge '%s': %s", a->name,
                               strerror(-r));

        /* read back and verify */
        if (ret == 0 && (r = rtnl_link_get_kernel(sk, rec.ifindex, NULL, &now)) < 0)
                ret = tap_fail(o, ERR_SYSTEM, tap_nl_errno(r), "cannot read back bridge '%s': %s", a->name,
                               nl_geterror(r));
        if (ret == 0 && (!streq_ptr(rtnl_link_get_name(now), a->name) || !streq_ptr(rtnl_link_get_type(now), "bridge") ||
                         !(rtnl_link_get_flags(now) & IFF_UP) || (a->mtu && !o->adopted && rtnl_link_get_mtu(now) != a->mtu)))
                ret = tap_fail(o, ERR_SYSTEM, EIO,
                               "bridge '%s' does not show the requested settings after setup "
                               "(type %s, flags 0x%x, MTU %u)",
                               a->name, rtnl_link_get_type(now) ? rtnl_link_get_type(now) : "-",
                               rtnl_link_get_flags(now), rtnl_link_get_mtu(now));
        for (unsigned i = 0; ret == 0 && i < rec.n_enslaved; i++) {
                _cleanup_rtnl_link_ struct rtnl_link *l = NULL;
                if (rtnl_link_get_kernel(sk, rec.enslaved[i], NULL, &l) < 0 || rtnl_link_get_master(l) != rec.ifindex)
                        ret = tap_fail(o, ERR_SYSTEM, EIO, "'%s' is not on bridge '%s' after setup", a->enslave[i],
                                       a->name);
        }
        if (ret == 0 && rec.addr_from) {
                moved on = {};
                r = bridge_collect(sk, rec.ifindex, &on);
                if (r < 0 || on.n_addrs != m.n_addrs)
                        ret = tap_fail(o, ERR_SYSTEM, EIO, "bridge '%s' holds %zu of the %zu addresses moved to it",
                                       a->name, on.n_addrs, m.n_addrs);
                bridge_moved_done(&on);
        }
        if (ret == 0 && (fds[0] = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)) < 0)
                ret = tap_fail(o, ERR_SYSTEM, errno, "cannot open the network namespace: %m");
        if (ret != 0) {
                if (!rec.adopted) { /* undo: the interface gets back what it had */
                        tap_record undo = rec;
                        undo.addr_from = 0;
                        bridge_remove(&undo, NULL, 0);
                        if (rec.addr_from) {
                                bridge_link_up(sk, rec.addr_from, 0);
                                bridge_place(sk, &m, rec.addr_from);
                        }
                }
                bridge_moved_done(&m);
                return ret;
        }
        bridge_moved_done(&m);
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

        if (!tap_create_answer(req, status, out, len, DC(req)->gen, &o))
                return;
        if (req->helper_n_fds != 1)
                return request_reply_error(req, ERR_SYSTEM, EIO, NULL, "the helper returned %zu fds, not 1",
                                           req->helper_n_fds);
        tap_record rec = { .ifindex = o.ifindex, .adopted = o.adopted, .bridge = true, .addr_from = o.addr_from,
                           .n_enslaved = o.n_enslaved, .netns_fd = TAKE_FD(req->helper_fds[0]) };
        memcpy(rec.enslaved, o.enslaved, sizeof(rec.enslaved));
        snprintf(rec.name, sizeof(rec.name), "%s", o.name);
        req->helper_n_fds = 0;
        if (tap_record_add(req, &rec) < 0)
                return;
        log_msg(c->b, LOG_INFO, "session %llu: bridge '%s' (ifindex %d, %u interface(s) enslaved%s) %s",
                (unsigned long long) c->session, o.name, o.ifindex, o.n_enslaved,
                o.addr_from ? ", their addresses and routes moved to it" : "", o.adopted ? "adopted" : "created");

        _cleanup_json_gen_ json_gen *g = json_gen_new();
        if (!g)
                return request_reply_error(req, ERR_SYSTEM, ENOMEM, NULL, "out of memory");
        json_gen_map_open(g);
        json_gen_kv_str(g, "name", o.name);
        json_gen_kv_i64(g, "ifindex", o.ifindex);
        json_gen_kv_u64(g, "mtu", o.mtu);
        json_gen_str(g, "enslaved");
        json_gen_array_open(g);
        for (size_t i = 0; i < a->n_enslave && i < o.n_enslaved; i++)
                json_gen_str(g, a->enslave[i]);
        json_gen_array_close(g);
        json_gen_kv_bool(g, "addresses_moved", o.addr_from != 0);
        json_gen_kv_bool(g, "adopted", o.adopted);
        json_gen_map_close(g);
        (void) request_reply_gen(req, g, NULL, 0);
}

static void bridge_create(request *req, void *args, const policy_decision *d) {
        DC(req)->in.a.bridge = *(const bridge_create_args *) args;
        tap_device_start(req, d->rule->bridge.max_devices, d->rule->bridge.adopt_existing, &TS(req->c)->bridge_inflight,
                         bridge_create_step, bridge_create_done);
}


static void bridge_create_request_free(request *req) {
        if (DC(req)->counted && req->c)
                TS(req->c)->bridge_inflight--;
}

const broker_op bop_bridge_create = { .op = &op_bridge_create,
                                      .scratch_size = sizeof(device_create),
                                      .act = bridge_create,
                                      .request_free = bridge_create_request_free };
