/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * launcher-spec.c - the VM spec (JSON, see delegate-launcher(1)): parsing,
 * validation with FILE:LINE:COLUMN errors, and the memlock computation.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>

#include "launcher.h"
#include "names.h"
#include "size.h"

typedef struct spec_ctx {
        const char *file;
        char *err;
        size_t size;
} spec_ctx;

static int serr(spec_ctx *c, const json_value *v, const char *fmt, ...) _printf_(3, 4);
static int serr(spec_ctx *c, const json_value *v, const char *fmt, ...) {
        int n = v ? snprintf(c->err, c->size, "%s:%u:%u: ", c->file, v->line, v->column)
                  : snprintf(c->err, c->size, "%s: ", c->file);
        va_list ap;
        va_start(ap, fmt);
        if (n >= 0 && (size_t) n < c->size)
                vsnprintf(c->err + n, c->size - n, fmt, ap);
        va_end(ap);
        return -EINVAL;
}

static int get_str(spec_ctx *c, const json_value *v, const char *what, size_t max, char **ret) {
        if (v->type != JSON_STRING || v->string.len == 0 || v->string.len > max || strlen(v->string.str) != v->string.len)
                return serr(c, v, "%s must be a non-empty string of at most %zu bytes", what, max);
        char *s = strdup(v->string.str);
        if (!s)
                return -ENOMEM;
        free(*ret);
        *ret = s;
        return 0;
}

static int get_uint(spec_ctx *c, const json_value *v, const char *what, uint64_t lo, uint64_t hi, uint64_t *ret) {
        if (v->type != JSON_NUMBER || json_to_u64(v, ret) < 0 || *ret < lo || *ret > hi)
                return serr(c, v, "%s must be an integer from %" PRIu64 " to %" PRIu64, what, lo, hi);
        return 0;
}

static int get_bool(spec_ctx *c, const json_value *v, const char *what, bool *ret) {
        if (v->type != JSON_BOOL)
                return serr(c, v, "%s must be true or false", what);
        *ret = v->boolean;
        return 0;
}

static int unknown(spec_ctx *c, const json_member *m, const char *where, const char *allowed) {
        return serr(c, m->value, "unknown %s key '%s' (allowed: %s)", where, m->key, allowed);
}

static bool mac_valid(const char *s) {
        if (strlen(s) != 17)
                return false;
        for (int i = 0; i < 17; i++)
                if (i % 3 == 2 ? s[i] != ':' : !strchr("0123456789abcdefABCDEF", s[i]))
                        return false;
        return true;
}

static int parse_realtime(spec_ctx *c, const json_value *v, vm_spec *s) {
        char msg[256];
        const json_value *vcpus = NULL, *rttime = NULL, *cpus = NULL;
        if (v->type != JSON_OBJECT)
                return serr(c, v, "\"realtime\" must be an object like {\"vcpus\": \"1\", \"priority\": 1, "
                                  "\"safety\": \"dedicated\", \"cpus\": \"1\"}");
        s->realtime = true;
        s->rt_priority = 1;
        s->rt_rttime_us = 200000;
        for (size_t i = 0; i < v->object.n; i++) {
                const json_member *m = &v->object.members[i];
                uint64_t x;
                int r = 0;
                if (streq(m->key, "vcpus")) {
                        if (m->value->type != JSON_STRING ||
                            cpu_mask_parse(m->value->string.str, &s->rt_vcpus, msg, sizeof(msg)) < 0)
                                return serr(c, m->value, "realtime \"vcpus\" must be a list of vCPU indices like \"0-1\"");
                        vcpus = m->value;
                } else if (streq(m->key, "priority")) {
                        r = get_uint(c, m->value, "realtime \"priority\"", 1, 99, &x);
                        s->rt_priority = (int) x;
                } else if (streq(m->key, "safety")) {
                        const json_value *y = m->value;
                        if (y->type != JSON_STRING || (!streq(y->string.str, "rttime") && !streq(y->string.str, "dedicated")))
                                return serr(c, y, "realtime \"safety\" must be \"rttime\" or \"dedicated\", as the "
                                                  "broker's policy rule says (delegate-policy(5))");
                        s->rt_dedicated = streq(y->string.str, "dedicated");
                } else if (streq(m->key, "cpus")) {
                        if (m->value->type != JSON_STRING ||
                            cpu_mask_parse(m->value->string.str, &s->rt_cpus, msg, sizeof(msg)) < 0)
                                return serr(c, m->value, "realtime \"cpus\" must be a list of host CPUs like \"1\" or \"2-3\"");
                        cpus = m->value;
                } else if (streq(m->key, "rttime_us")) {
                        r = get_uint(c, m->value, "realtime \"rttime_us\"", 1000, 60000000, &x);
                        s->rt_rttime_us = x;
                        rttime = m->value;
                } else
                        r = unknown(c, m, "realtime", "vcpus, priority, safety, cpus, rttime_us");
                if (r < 0)
                        return r;
        }
        if (!vcpus)
                return serr(c, v, "\"realtime\" needs \"vcpus\"");
        if (s->rt_dedicated && !cpus)
                return serr(c, v, "realtime \"safety\": \"dedicated\" needs \"cpus\": the host CPUs the realtime "
                                  "vCPUs run on (within the policy rule's sched cpus)");
        if (s->rt_dedicated && rttime)
                return serr(c, rttime, "realtime \"rttime_us\" applies to safety \"rttime\" only: with \"dedicated\" "
                                       "QEMU runs without RLIMIT_RTTIME");
        if (!s->rt_dedicated && cpus)
                return serr(c, cpus, "realtime \"cpus\" applies to safety \"dedicated\" only");
        return 0;
}

/* "bridge_create": true, or { "enslave": [ "eth0" ] } */
static int parse_bridge_create(spec_ctx *c, const json_value *x, nic_spec *n) {
        if (x->type == JSON_BOOL) {
                n->bridge_create = x->boolean;
                return 0;
        }
        const json_value *e = json_get(x, "enslave");
        if (x->type != JSON_OBJECT || x->object.n != (e ? 1u : 0u))
                return serr(c, x, "nic \"bridge_create\" must be true, false or an object with only \"enslave\"");
        if (e && (e->type != JSON_ARRAY || e->array.n > ELEMENTSOF(n->enslave)))
                return serr(c, e, "bridge_create \"enslave\" must be an array of at most %zu interface names",
                            ELEMENTSOF(n->enslave));
        for (size_t i = 0; e && i < e->array.n; i++) {
                const json_value *s = e->array.items[i];
                if (s->type != JSON_STRING || s->string.len == 0 || s->string.len >= sizeof(n->enslave[0]))
                        return serr(c, s, "bridge_create \"enslave\" names interfaces of 1-15 bytes");
                snprintf(n->enslave[i], sizeof(n->enslave[i]), "%s", s->string.str);
                n->n_enslave++;
        }
        n->bridge_create = true;
        return 0;
}

static int parse_nic(spec_ctx *c, const json_value *v, nic_spec *n, size_t index) {
        if (v->type != JSON_OBJECT)
                return serr(c, v, "each of \"nics\" must be an object with \"id\"");
        snprintf(n->id, sizeof(n->id), "net%zu", index);
        n->queues = 1;
        for (size_t i = 0; i < v->object.n; i++) {
                const json_member *m = &v->object.members[i];
                const json_value *x = m->value;
                uint64_t u;
                int r = 0;
                if (streq(m->key, "id")) {
                        if (x->type != JSON_STRING || x->string.len == 0 || x->string.len >= sizeof(n->id) ||
                            strspn(x->string.str, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") !=
                                    x->string.len)
                                return serr(c, x, "nic \"id\" must be 1-31 characters of [A-Za-z0-9_-]");
                        snprintf(n->id, sizeof(n->id), "%s", x->string.str);
                } else if (streq(m->key, "bridge")) {
                        if (x->type != JSON_STRING || x->string.len == 0 || x->string.len >= sizeof(n->bridge))
                                return serr(c, x, "nic \"bridge\" must be an interface name of 1-15 bytes");
                        snprintf(n->bridge, sizeof(n->bridge), "%s", x->string.str);
                } else if (streq(m->key, "queues")) {
                        r = get_uint(c, x, "nic \"queues\"", 1, NIC_MAX_QUEUES, &u);
                        n->queues = (unsigned) u;
                } else if (streq(m->key, "mtu")) {
                        r = get_uint(c, x, "nic \"mtu\"", 68, 65535, &u);
                        n->mtu = (unsigned) u;
                } else if (streq(m->key, "mac")) {
                        if (x->type != JSON_STRING || !mac_valid(x->string.str))
                                return serr(c, x, "nic \"mac\" must look like \"52:54:00:12:34:56\"");
                        snprintf(n->mac, sizeof(n->mac), "%s", x->string.str);
                } else if (streq(m->key, "bridge_create")) {
                        r = parse_bridge_create(c, x, n);
                } else if (streq(m->key, "vhost")) {
                        if (x->type == JSON_BOOL)
                                n->vhost = x->boolean ? NIC_VHOST_ON : NIC_VHOST_OFF;
                        else if (json_is_string(x) && streq(x->string.str, "optional"))
                                n->vhost = NIC_VHOST_OPTIONAL;
                        else
                                return serr(c, x, "nic \"vhost\" must be true, false or \"optional\"");
                } else
                        r = unknown(c, m, "nic", "id, bridge, bridge_create, queues, mtu, mac, vhost");
                if (r < 0)
                        return r;
        }
        if (n->vhost != NIC_VHOST_OFF && n->queues > NIC_MAX_QUEUES / 2)
                return serr(c, v, "nic '%s': with \"vhost\", at most %d queues (a TAP and a vhost-net fd each)", n->id,
                            NIC_MAX_QUEUES / 2);
        if (n->bridge_create && !n->bridge[0])
                return serr(c, v, "nic \"bridge_create\" needs \"bridge\": the name of the bridge to create");
        return 0;
}

static bool id_valid(const json_value *x, size_t max) {
        return x->type == JSON_STRING && x->string.len > 0 && x->string.len < max &&
               strspn(x->string.str, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == x->string.len;
}

/* A path in the pod: absolute, no NUL, at most PATH_MAX. */
static int get_path(spec_ctx *c, const json_value *v, const char *what, char **ret) {
        if (!json_is_string(v) || v->string.str[0] != '/')
                return serr(c, v, "%s must be an absolute path in the pod", what);
        return get_str(c, v, what, 4095, ret);
}

static int pick(spec_ctx *c, const json_value *v, const char *what, const char *const *names, size_t n, int *ret) {
        char allowed[256] = "";
        for (size_t i = 0; json_is_string(v) && i < n; i++)
                if (streq(v->string.str, names[i])) {
                        *ret = (int) i;
                        return 0;
                }
        for (size_t i = 0; i < n; i++)
                snprintf(allowed + strlen(allowed), sizeof(allowed) - strlen(allowed), "%s\"%s\"", i ? ", " : "",
                         names[i]);
        return serr(c, v, "%s must be one of %s", what, allowed);
}

static const char *const disk_formats[] = { [DISK_RAW] = "raw", [DISK_QCOW2] = "qcow2" };
static const char *const disk_buses[] = { [DISK_VIRTIO_BLK] = "virtio-blk", [DISK_VIRTIO_SCSI] = "virtio-scsi" };
static const char *const disk_caches[] = { [DISK_CACHE_WRITEBACK] = "writeback", [DISK_CACHE_NONE] = "none",
                                           [DISK_CACHE_WRITETHROUGH] = "writethrough",
                                           [DISK_CACHE_DIRECTSYNC] = "directsync", [DISK_CACHE_UNSAFE] = "unsafe" };

static int parse_encryption(spec_ctx *c, const json_value *v, disk_spec *d) {
        const json_value *f = NULL;
        if (v->type != JSON_OBJECT)
                return serr(c, v, "disk \"encryption\" must be an object like {\"format\": \"luks\", \"key_file\": PATH}");
        for (size_t i = 0; i < v->object.n; i++) {
                const json_member *m = &v->object.members[i];
                int r;
                if (streq(m->key, "format")) {
                        f = m->value;
                        r = json_is_string(f) && streq(f->string.str, "luks")
                                    ? 0
                                    : serr(c, f, "disk encryption \"format\" must be \"luks\"");
                } else if (streq(m->key, "key_file"))
                        r = get_path(c, m->value, "disk encryption \"key_file\"", &d->key_file);
                else
                        r = unknown(c, m, "disk encryption", "format, key_file");
                if (r < 0)
                        return r;
        }
        if (!f || !d->key_file)
                return serr(c, v, "disk \"encryption\" needs \"format\": \"luks\" and \"key_file\"");
        return 0;
}

static int parse_disk(spec_ctx *c, const json_value *v, disk_spec *d, size_t index) {
        if (v->type != JSON_OBJECT)
                return serr(c, v, "each of \"disks\" must be an object with \"path\"");
        snprintf(d->id, sizeof(d->id), "disk%zu", index);
        for (size_t i = 0; i < v->object.n; i++) {
                const json_member *m = &v->object.members[i];
                const json_value *x = m->value;
                int r, e;
                if (streq(m->key, "id")) {
                        r = id_valid(x, sizeof(d->id) - 8) ? 0
                                                           : serr(c, x, "disk \"id\" must be 1-23 characters of [A-Za-z0-9_-]");
                        if (r >= 0)
                                snprintf(d->id, sizeof(d->id), "%s", x->string.str);
                } else if (streq(m->key, "path"))
                        r = get_path(c, x, "disk \"path\"", &d->path);
                else if (streq(m->key, "format")) {
                        r = pick(c, x, "disk \"format\"", disk_formats, ELEMENTSOF(disk_formats), &e);
                        d->format = (disk_format) e;
                } else if (streq(m->key, "bus")) {
                        r = pick(c, x, "disk \"bus\"", disk_buses, ELEMENTSOF(disk_buses), &e);
                        d->bus = (disk_bus) e;
                } else if (streq(m->key, "cache")) {
                        r = pick(c, x, "disk \"cache\"", disk_caches, ELEMENTSOF(disk_caches), &e);
                        d->cache = (disk_cache) e;
                } else if (streq(m->key, "readonly"))
                        r = get_bool(c, x, "disk \"readonly\"", &d->readonly);
                else if (streq(m->key, "boot"))
                        r = get_bool(c, x, "disk \"boot\"", &d->boot);
                else if (streq(m->key, "encryption"))
                        r = parse_encryption(c, x, d);
                else
                        r = unknown(c, m, "disk", "id, path, format, bus, cache, readonly, boot, encryption");
                if (r < 0)
                        return r;
        }
        if (!d->path)
                return serr(c, v, "a disk needs \"path\"");
        return 0;
}

static int parse_console(spec_ctx *c, const json_value *v, console_spec *con) {
        if (v->type != JSON_OBJECT || v->object.n != 1)
                return serr(c, v, "\"console\" must be an object with one of \"file\" or \"socket\", like "
                                  "{\"file\": \"/var/log/vm/console.log\"}");
        const json_member *m = &v->object.members[0];
        if (streq(m->key, "file"))
                return get_path(c, m->value, "console \"file\"", &con->file);
        if (streq(m->key, "socket")) {
                if (json_is_string(m->value) && m->value->string.len >= 108)
                        return serr(c, m->value, "console \"socket\" must be shorter than 108 bytes (a unix socket path)");
                return get_path(c, m->value, "console \"socket\"", &con->socket);
        }
        return unknown(c, m, "console", "file, socket");
}

int vm_spec_parse(const char *file, const char *text, size_t len, vm_spec *ret, char *err, size_t size) {
        spec_ctx c = { file, err, size };
        _cleanup_json_ json_value *root = NULL;
        json_parse_error je;
        vm_spec s = { .accel = NULL, .vcpus = 1, .memlock_auto = true, .shutdown_timeout_s = 30 };
        bool have_mem_lock = false, have_memory = false;
        int r = json_parse(text, len, true, &root, &je);
        if (r < 0) {
                snprintf(err, size, "%s:%u:%u: %s", file, je.line, je.column, je.message);
                return r;
        }
        if (root->type != JSON_OBJECT)
                return serr(&c, root, "the spec must be a JSON object");
        for (size_t i = 0; i < root->object.n && r >= 0; i++) {
                const json_member *m = &root->object.members[i];
                const json_value *v = m->value;
                uint64_t x;
                if (streq(m->key, "name")) {
                        if (v->type != JSON_STRING || !vm_name_valid(v->string.str))
                                r = serr(&c, v, "\"name\" must be 1-253 characters of [A-Za-z0-9._-]");
                        else
                                r = get_str(&c, v, "\"name\"", 253, &s.name);
                } else if (streq(m->key, "qemu"))
                        r = get_str(&c, v, "\"qemu\"", 4096, &s.qemu);
                else if (streq(m->key, "accel")) {
                        r = get_str(&c, v, "\"accel\"", 8, &s.accel);
                        if (r >= 0 && !streq(s.accel, "auto") && !streq(s.accel, "kvm") && !streq(s.accel, "tcg"))
                                r = serr(&c, v, "\"accel\" must be \"auto\", \"kvm\" or \"tcg\"");
                } else if (streq(m->key, "memory")) {
                        if (json_to_size(v, &s.memory) < 0 || s.memory < (16ULL << 20) || s.memory > SPEC_MAX_MEMORY ||
                            s.memory % (1ULL << 20))
                                r = serr(&c, v, "\"memory\" must be a size from 16M to 4096T (x86-64's physical address "
                                                "space) in whole MiB, like \"512M\"");
                        have_memory = true;
                } else if (streq(m->key, "vcpus")) {
                        r = get_uint(&c, v, "\"vcpus\"", 1, SPEC_MAX_VCPUS, &x);
                        s.vcpus = (unsigned) x;
                } else if (streq(m->key, "realtime")) {
                        if (v->type != JSON_NULL)
                                r = parse_realtime(&c, v, &s);
                } else if (streq(m->key, "housekeeping")) {
                        char msg[384];
                        if (v->type == JSON_NULL)
                                continue;
                        if (v->type != JSON_STRING || cgroup_target_check(v->string.str, false, msg, sizeof(msg)) < 0)
                                r = serr(&c, v, "\"housekeeping\" must be a cgroup path relative to the launcher's own, "
                                                "like \"housekeeping\"");
                        else
                                r = get_str(&c, v, "\"housekeeping\"", 255, &s.housekeeping);
                } else if (streq(m->key, "memlock")) {
                        if (v->type == JSON_STRING && streq(v->string.str, "auto"))
                                s.memlock_auto = true;
                        else if (json_to_size(v, &s.memlock) < 0)
                                r = serr(&c, v, "\"memlock\" must be \"auto\", bytes, or a size like \"2G\"");
                        else
                                s.memlock_auto = false;
                } else if (streq(m->key, "mem_lock")) {
                        r = get_bool(&c, v, "\"mem_lock\"", &s.mem_lock);
                        have_mem_lock = true;
                } else if (streq(m->key, "nics")) {
                        if (v->type != JSON_ARRAY || v->array.n > SPEC_MAX_NICS)
                                r = serr(&c, v, "\"nics\" must be an array of at most %d objects", SPEC_MAX_NICS);
                        for (size_t k = 0; r >= 0 && k < v->array.n; k++) {
                                r = parse_nic(&c, v->array.items[k], &s.nics[k], k);
                                for (size_t j = 0; r >= 0 && j < k; j++)
                                        if (streq(s.nics[j].id, s.nics[k].id))
                                                r = serr(&c, v->array.items[k], "nic id '%s' is used twice", s.nics[k].id);
                                s.n_nics = k + 1;
                        }
                } else if (streq(m->key, "kvmi")) {
                        s.kvmi_keyed = true;
                        s.kvmi_reconnect_s = 1;
                        if (v->type != JSON_OBJECT || !json_get(v, "enabled"))
                                r = serr(&c, v, "\"kvmi\" must be an object like {\"enabled\": true, \"keyed\": true, "
                                                "\"reconnect\": 1}");
                        for (size_t k = 0; r >= 0 && v->type == JSON_OBJECT && k < v->object.n; k++) {
                                const json_member *km = &v->object.members[k];
                                if (streq(km->key, "enabled"))
                                        r = get_bool(&c, km->value, "kvmi \"enabled\"", &s.kvmi);
                                else if (streq(km->key, "keyed"))
                                        r = get_bool(&c, km->value, "kvmi \"keyed\"", &s.kvmi_keyed);
                                else if (streq(km->key, "reconnect")) {
                                        r = get_uint(&c, km->value, "kvmi \"reconnect\" (seconds)", 1, 60, &x);
                                        s.kvmi_reconnect_s = (unsigned) x;
                                } else
                                        r = serr(&c, km->value, "unknown kvmi key '%s' (allowed: enabled, keyed, reconnect)",
                                                 km->key);
                        }
                } else if (streq(m->key, "kernel"))
                        r = get_path(&c, v, "\"kernel\"", &s.kernel);
                else if (streq(m->key, "initrd"))
                        r = get_path(&c, v, "\"initrd\"", &s.initrd);
                else if (streq(m->key, "cmdline"))
                        r = get_str(&c, v, "\"cmdline\"", 4096, &s.cmdline);
                else if (streq(m->key, "disks")) {
                        if (v->type != JSON_ARRAY || v->array.n > SPEC_MAX_DISKS)
                                r = serr(&c, v, "\"disks\" must be an array of at most %d objects", SPEC_MAX_DISKS);
                        for (size_t k = 0; r >= 0 && k < v->array.n; k++) {
                                s.disks[k].key_fd = -EBADF;
                                s.n_disks = k + 1;
                                r = parse_disk(&c, v->array.items[k], &s.disks[k], k);
                                for (size_t j = 0; r >= 0 && j < k; j++)
                                        if (streq(s.disks[j].id, s.disks[k].id))
                                                r = serr(&c, v->array.items[k], "disk id '%s' is used twice", s.disks[k].id);
                                        else if (s.disks[j].boot && s.disks[k].boot)
                                                r = serr(&c, v->array.items[k], "only one disk can have \"boot\": true "
                                                         "(disk '%s' has it already)", s.disks[j].id);
                        }
                } else if (streq(m->key, "console"))
                        r = parse_console(&c, v, &s.console);
                else if (streq(m->key, "firmware_log"))
                        r = get_str(&c, v, "\"firmware_log\"", 4096, &s.firmware_log);
                else if (streq(m->key, "shutdown_timeout")) {
                        r = get_uint(&c, v, "\"shutdown_timeout\"", 1, 3600, &x);
                        s.shutdown_timeout_s = (unsigned) x;
                } else if (streq(m->key, "extra_args")) {
                        if (v->type != JSON_ARRAY || v->array.n > SPEC_MAX_EXTRA_ARGS)
                                r = serr(&c, v, "\"extra_args\" must be an array of at most %d strings",
                                         SPEC_MAX_EXTRA_ARGS);
                        for (size_t k = 0; r >= 0 && k < v->array.n; k++) {
                                r = get_str(&c, v->array.items[k], "each of \"extra_args\"", 4096, &s.extra_args[k]);
                                s.n_extra_args = k + 1;
                        }
                } else if (streq(m->key, "comment"))
                        r = v->type == JSON_STRING ? 0 : serr(&c, v, "\"comment\" must be a string");
                else
                        r = serr(&c, v,
                                 "unknown spec key '%s' (allowed: name, qemu, accel, memory, vcpus, realtime, "
                                 "housekeeping, memlock, mem_lock, nics, kvmi, kernel, initrd, cmdline, disks, console, "
                                 "firmware_log, shutdown_timeout, extra_args, comment)",
                                 m->key);
        }
        if (r >= 0 && !s.name)
                r = serr(&c, root, "the spec needs \"name\"");
        if (r >= 0 && !have_memory)
                r = serr(&c, root, "the spec needs \"memory\" (guest RAM, like \"512M\")");
        if (r >= 0 && s.realtime) {
                for (unsigned cpu = s.vcpus; cpu < CPU_MASK_MAX && r >= 0; cpu++)
                        if (cpu_mask_test(&s.rt_vcpus, cpu))
                                r = serr(&c, json_get(root, "realtime"), "realtime vCPU %u does not exist (\"vcpus\" is %u)",
                                         cpu, s.vcpus);
        }
        if (r >= 0 && !s.kernel && (s.initrd || s.cmdline))
                r = serr(&c, json_get(root, s.initrd ? "initrd" : "cmdline"),
                         "\"%s\" needs \"kernel\" (direct kernel boot)", s.initrd ? "initrd" : "cmdline");
        if (r >= 0 && !s.qemu && !(s.qemu = strdup("qemu-system-x86_64")))
                r = -ENOMEM;
        if (r >= 0 && !s.accel && !(s.accel = strdup("auto")))
                r = -ENOMEM;
        if (!have_mem_lock)
                s.mem_lock = s.realtime; /* realtime guests must not page */
        if (r >= 0 && s.mem_lock && !s.memlock_auto && s.memlock < s.memory) {
                char b1[32], b2[32];
                r = serr(&c, json_get(root, "memlock"),
                         "\"memlock\" (%s) is smaller than guest RAM (\"memory\": %s) while QEMU locks its memory "
                         "(\"mem_lock\": true): QEMU would fail to start; use \"auto\" or guest RAM + overhead",
                         format_size(s.memlock, b1, sizeof(b1)), format_size(s.memory, b2, sizeof(b2)));
        }
        if (r < 0) {
                vm_spec_done(&s);
                return r;
        }
        *ret = s;
        return 0;
}

int vm_spec_load(const char *path, vm_spec *ret, char *err, size_t size) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0) {
                snprintf(err, size, "%s: cannot read the spec: %m", path);
                return negative_errno();
        }
        if (st.st_size > 1024 * 1024) {
                snprintf(err, size, "%s: the spec is larger than 1 MiB", path);
                return -EFBIG;
        }
        _cleanup_free_ char *text = malloc(st.st_size + 1);
        if (!text)
                return -ENOMEM;
        ssize_t n = read(fd, text, st.st_size);
        if (n < 0) {
                snprintf(err, size, "%s: cannot read the spec: %m", path);
                return negative_errno();
        }
        text[n] = 0;
        return vm_spec_parse(path, text, (size_t) n, ret, err, size);
}

void vm_spec_done(vm_spec *s) {
        free(s->name);
        free(s->qemu);
        free(s->accel);
        free(s->housekeeping);
        free(s->firmware_log);
        free(s->kernel);
        free(s->initrd);
        free(s->cmdline);
        free(s->console.file);
        free(s->console.socket);
        for (size_t i = 0; i < s->n_disks; i++) {
                free(s->disks[i].path);
                free(s->disks[i].key_file);
                safe_close(s->disks[i].key_fd);
        }
        for (size_t i = 0; i < s->n_extra_args; i++)
                free(s->extra_args[i]);
        memset(s, 0, sizeof(*s));
}

uint64_t vm_spec_memlock(const vm_spec *s) {
        if (!s->memlock_auto)
                return s->memlock;
        if (!s->mem_lock)
                return 0;
        return s->memory + MEMLOCK_OVERHEAD_BASE + (uint64_t) s->vcpus * MEMLOCK_OVERHEAD_PER_VCPU;
}
