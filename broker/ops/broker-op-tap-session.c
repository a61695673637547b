/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * broker-op-tap-session.c - session_part_tap: the TAP devices and bridges
 * a session created or adopted, as state.get shows them, as RevokeSession
 * and the session's end remove them, and across broker restarts.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <syslog.h>

#include "broker-tap.h"
#include "broker-op.h"

static size_t count(const client *c) {
        return TS(c)->n;
}

static void state(const client *c, json_gen *g) {
        const tap_session *s = TS(c);
        json_gen_array_open(g);
        for (size_t i = 0; i < s->n; i++) {
                json_gen_map_open(g);
                json_gen_kv_str(g, "name", s->rec[i].name);
                json_gen_kv_i64(g, "ifindex", s->rec[i].ifindex);
                json_gen_kv_bool(g, "persist", s->rec[i].persist);
                json_gen_kv_bool(g, "adopted", s->rec[i].adopted);
                if (!s->rec[i].bridge)
                        json_gen_kv_u64(g, "queues", s->rec[i].queues);
                if (s->rec[i].bridge) {
                        json_gen_kv_str(g, "kind", "bridge");
                        json_gen_str(g, "enslaved");
                        json_gen_array_open(g);
                        for (unsigned k = 0; k < s->rec[i].n_enslaved; k++)
                                json_gen_i64(g, s->rec[i].enslaved[k]);
                        json_gen_array_close(g);
                        json_gen_kv_i64(g, "addresses_from", s->rec[i].addr_from);
                }
                json_gen_map_close(g);
        }
        json_gen_array_close(g);
}

/* Every device the session created goes (adopted ones stay): QEMU's fds
 * then see the device vanish. */
static int tap_revoke(client *c) {
        int n = 0;
        for (size_t i = 0; i < TS(c)->n; i++)
                n += !TS(c)->rec[i].adopted;
        tap_session_end(c);
        return n;
}

static void init(void *state) {
        tap_session *s = state;
        for (size_t i = 0; i < ELEMENTSOF(s->rec); i++)
                s->rec[i].netns_fd = -EBADF;
}

static void release(client *c) {
        for (size_t i = 0; i < TS(c)->n; i++)
                TS(c)->rec[i].netns_fd = safe_close(TS(c)->rec[i].netns_fd);
}

/* as state.get shows them */
static void save(const client *c, json_gen *g) {
        json_gen_str(g, "tap");
        state(c, g);
}

static void restore(client *c, const json_value *st, state_check *ck) {
        tap_session *s = TS(c);
        const json_value *a = state_get_array(ck, st, "tap", SESSION_MAX_TAP);
        for (size_t i = 0; a && i < a->array.n; i++) {
                const json_value *t = a->array.items[i], *name = json_get(t, "name");
                state_check one = {};
                int ifindex = (int) state_get_u64(&one, t, "ifindex", 1, INT32_MAX, false);
                bool persist = state_get_bool(&one, t, "persist"), adopted = state_get_bool(&one, t, "adopted");
                const json_value *kind = json_get(t, "kind"), *sl = json_get(t, "enslaved");
                bool bridge = json_is_string(kind) && streq(kind->string.str, "bridge");
                int addr_from = bridge ? (int) state_get_u64(&one, t, "addresses_from", 0, INT32_MAX, true) : 0;
                /* a TAP device's queues made so far count against max_queues after a restart too; a file
                 * of an older broker has none: the first */
                unsigned queues = bridge ? 0 : 1;
                if (!bridge && json_get(t, "queues"))
                        queues = (unsigned) state_get_u64(&one, t, "queues", 1, POLICY_TAP_MAX_QUEUES, false);
                if (!json_is_string(name) || !tap_name_valid(name->string.str))
                        state_bad(&one, "no valid interface name");
                if (one.msg[0]) {
                        state_bad(ck, "tap[%zu]: %s", i, one.msg);
                        continue;
                }
                tap_record *rec = &s->rec[s->n++];
                *rec = (tap_record) { .ifindex = ifindex, .netns_fd = -EBADF, .persist = persist, .adopted = adopted,
                                      .queues = queues };
                snprintf(rec->name, sizeof(rec->name), "%s", name->string.str);
                rec->bridge = bridge;
                for (size_t k = 0; rec->bridge && sl && sl->type == JSON_ARRAY && k < sl->array.n &&
                                   rec->n_enslaved < BRIDGE_MAX_ENSLAVE;
                     k++) {
                        uint64_t x;
                        if (json_to_u64(sl->array.items[k], &x) == 0 && x > 0 && x <= INT32_MAX)
                                rec->enslaved[rec->n_enslaved++] = (int) x;
                }
                rec->addr_from = addr_from;
        }
}

/*
 * An nsfs fd for the network namespace (@dev, @ino), from any process in it.
 * All of /proc, not the session's cgroup: in a real pod the namespace is
 * held by the pause (infra) container, a sibling of the launcher's cgroup.
 */
static int netns_holder(uint64_t dev, uint64_t ino) {
        _cleanup_(closedirp) DIR *d = opendir("/proc");
        if (!d)
                return negative_errno();
        for (struct dirent *de; (de = readdir(d));) {
                char ns[64];
                struct stat st;
                if (de->d_name[0] < '1' || de->d_name[0] > '9')
                        continue;
                snprintf(ns, sizeof(ns), "/proc/%.20s/ns/net", de->d_name);
                if (stat(ns, &st) == 0 && st.st_dev == dev && st.st_ino == ino) {
                        int fd = open(ns, O_RDONLY | O_CLOEXEC);
                        if (fd >= 0)
                                return fd;
                }
        }
        return -ENOENT;
}

/* Give the TAP records an nsfs fd, from @fd_source (a pid) or any process in the pod. */
static void recovered(client *c, pid_t pid) {
        if (TS(c)->n == 0)
                return;
        int fd = -ENOENT;
        if (pid > 0) {
                char ns[64];
                struct stat st;
                snprintf(ns, sizeof(ns), "/proc/%d/ns/net", (int) pid);
                if (stat(ns, &st) == 0 && st.st_dev == c->netns_dev && st.st_ino == c->netns_ino)
                        fd = open(ns, O_RDONLY | O_CLOEXEC);
        }
        if (fd < 0)
                fd = netns_holder(c->netns_dev, c->netns_ino);
        for (size_t i = 0; i < TS(c)->n; i++) {
                safe_close(TS(c)->rec[i].netns_fd);
                TS(c)->rec[i].netns_fd = fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 3) : -EBADF;
        }
        safe_close(fd);
}

/* Without a valid pod cgroup there is no pod to find the network namespace in. */
static void salvage(client *c, const policy_rule *rule _unused_) {
        if (!c->cgroup)
                TS(c)->n = 0;
}

static const session_hook hooks[] = {
        { "tap", count, state, tap_revoke },
};

const session_part session_part_tap = {
        .slot = SESSION_PART_tap,
        .size = sizeof(tap_session),
        .init = init,
        .hooks = hooks,
        .n_hooks = ELEMENTSOF(hooks),
        .end = tap_session_end,
        .release = release,
        .save = save,
        .restore = restore,
        .recovered = recovered,
        .salvage = salvage,
};
