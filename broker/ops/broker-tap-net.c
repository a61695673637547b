/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-tap-net.c - the netlink steps tap.create, bridge.create and their
 * removal share, run in a helper inside the peer's network namespace:
 * opening rtnetlink, checking a link is still the recorded one, moving a
 * bridged interface's addresses and routes, and removing a bridge.  Below
 * broker-op-tap.c (which removes bridges as a session ends) and
 * broker-op-bridge.c (which builds on tap.create's path).
 */
#include <net/if.h>
#include <netlink/route/addr.h>
#include <netlink/route/route.h>
#include <stdio.h>

#include "broker-tap.h"

int tap_nl_errno(int nle) {
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

int tap_nl_open(struct nl_sock **ret) {
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
bool tap_link_is(struct nl_sock *sk, const char *name, int ifindex) {
        _cleanup_rtnl_link_ struct rtnl_link *l = NULL;
        return rtnl_link_get_kernel(sk, ifindex, NULL, &l) == 0 && streq_ptr(rtnl_link_get_name(l), name);
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

void bridge_moved_done(moved *m) {
        for (size_t i = 0; i < m->n_addrs; i++)
                rtnl_addr_put(m->addrs[i]);
        for (size_t i = 0; i < m->n_routes; i++)
                rtnl_route_put(m->routes[i]);
        m->n_addrs = m->n_routes = 0;
}

/* What @ifindex holds that a bridge binding moves, as clones. */
int bridge_collect(struct nl_sock *sk, int ifindex, moved *m) {
        _cleanup_nl_cache_ struct nl_cache *ac = NULL, *rc = NULL;
        int r = rtnl_addr_alloc_cache(sk, &ac);
        if (r < 0 || (r = rtnl_route_alloc_cache(sk, AF_UNSPEC, 0, &rc)) < 0)
                return -tap_nl_errno(r);
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
int bridge_place(struct nl_sock *sk, const moved *m, int ifindex) {
        _cleanup_rtnl_link_ struct rtnl_link *l = NULL;
        int r = rtnl_link_get_kernel(sk, ifindex, NULL, &l);
        if (r < 0)
                return -tap_nl_errno(r);
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
                        r = -tap_nl_errno(q);
        }
        for (size_t i = 0; i < m->n_routes; i++) {
                _cleanup_(rtnl_route_putp) struct rtnl_route *rt = route_through(m->routes[i], ifindex);
                if (!rt)
                        return -ENOMEM;
                int q = rtnl_route_add(sk, rt, NLM_F_CREATE | NLM_F_REPLACE);
                if (q < 0 && r == 0)
                        r = -tap_nl_errno(q);
        }
        return r;
}

/* IFF_UP on @ifindex, and MTU @mtu unless 0 (a bridge takes its first port's MTU when it enslaves it). */
int bridge_link_up(struct nl_sock *sk, int ifindex, uint32_t mtu) {
        _cleanup_rtnl_link_ struct rtnl_link *l = NULL, *change = rtnl_link_alloc();
        if (!change)
                return -ENOMEM;
        int r = rtnl_link_get_kernel(sk, ifindex, NULL, &l);
        if (r < 0)
                return -tap_nl_errno(r);
        rtnl_link_set_flags(change, IFF_UP);
        if (mtu)
                rtnl_link_set_mtu(change, mtu);
        r = rtnl_link_change(sk, l, change, 0);
        return r < 0 ? -tap_nl_errno(r) : 0;
}

/*
 * In the bridge's netns: remove bridge @rec, then give what it took over
 * (addresses and routes, read from the bridge itself) back to the
 * interface they came from.  1 removed, 0 gone already, -errno.
 */
int bridge_remove(const tap_record *rec, char *msg, size_t size) {
        _cleanup_nl_sock_ struct nl_sock *sk = NULL;
        _cleanup_rtnl_link_ struct rtnl_link *l = NULL, *from = NULL;
        moved m = {};
        int r = tap_nl_open(&sk);
        if (r < 0)
                return -tap_nl_errno(r);
        if (!tap_link_is(sk, rec->name, rec->ifindex))
                return 0;
        if (rec->addr_from > 0 && rtnl_link_get_kernel(sk, rec->addr_from, NULL, &from) == 0 &&
            rtnl_link_get_master(from) == rec->ifindex)
                r = bridge_collect(sk, rec->ifindex, &m);
        if (r == 0 && rtnl_link_get_kernel(sk, rec->ifindex, NULL, &l) == 0) {
                int q = rtnl_link_delete(sk, l); /* releases the enslaved interfaces */
                if (q < 0 && q != -NLE_NODEV && q != -NLE_OBJ_NOTFOUND)
                        r = -tap_nl_errno(q);
        }
        if (r == 0 && from) {
                bridge_link_up(sk, rec->addr_from, 0);
                r = bridge_place(sk, &m, rec->addr_from);
        }
        if (r < 0 && msg)
                snprintf(msg, size, "removing bridge '%s' and giving its addresses back: %s", rec->name,
                         strerror(-r));
        bridge_moved_done(&m);
        return r < 0 ? r : 1;
}
