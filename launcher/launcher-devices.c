/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * launcher-devices.c - what a VM boots from and what it stores on: direct
 * kernel boot, disks as -blockdev chains, LUKS keys handed to QEMU as
 * secret objects through sealed memfds, and the serial console.
 *
 * A disk key is read from its file (a Kubernetes Secret volume) into one
 * buffer, written into a sealed memfd (secret_memfd(), which the KVMI
 * secret uses too) and erased at once; QEMU gets
 * "-object secret,file=/dev/fd/N" and reads the memfd itself.  The key is
 * never on QEMU's command line, in its environment or in the launcher's
 * log, and no launcher buffer keeps it.
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "launcher.h"

/* The host's page cache is bypassed (O_DIRECT) in these modes. */
static bool cache_direct(disk_cache c) {
        return c == DISK_CACHE_NONE || c == DISK_CACHE_DIRECTSYNC;
}

/* The guest sees a write cache unless the mode writes through. */
static bool cache_write_cache(disk_cache c) {
        return c != DISK_CACHE_WRITETHROUGH && c != DISK_CACHE_DIRECTSYNC;
}

/* @path must be a regular file the launcher's uid can read (and write, for @rw). */
static int check_file(const char *what, const char *path, bool rw, char *err, size_t size) {
        _cleanup_close_ int fd = open(path, (rw ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        struct stat st;
        if (fd < 0) {
                snprintf(err, size, "%s '%s' cannot be opened for %s by uid %u: %m", what, path,
                         rw ? "reading and writing" : "reading", (unsigned) getuid());
                return negative_errno();
        }
        if (fstat(fd, &st) < 0) {
                snprintf(err, size, "%s '%s': fstat: %m", what, path);
                return negative_errno();
        }
        if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
                snprintf(err, size, "%s '%s' is not a regular file or block device", what, path);
                return -EINVAL;
        }
        return 0;
}

int secret_memfd(const char *name, const void *data, size_t len, const char *what, char *err, size_t size) {
        _cleanup_close_ int mfd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (mfd < 0) {
                snprintf(err, size, "%s: memfd_create: %m", what);
                return negative_errno();
        }
        if (write(mfd, data, len) != (ssize_t) len) {
                snprintf(err, size, "%s: cannot write the secret's memfd: %m", what);
                return -EIO;
        }
        if (fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0) {
                snprintf(err, size, "%s: sealing the secret's memfd: %m", what);
                return negative_errno();
        }
        return TAKE_FD(mfd);
}

/**
 * key_memfd() - the key in @path as a sealed memfd (returned), read
 * through one buffer that is erased on every path.
 */
static int key_memfd(const disk_spec *d, char *err, size_t size) {
        _cleanup_close_ int fd = open(d->key_file, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0) {
                snprintf(err, size, "disk '%s': key file '%s' cannot be read by uid %u: %m", d->id, d->key_file,
                         (unsigned) getuid());
                return negative_errno();
        }
        if (!S_ISREG(st.st_mode) || st.st_size <= 0 || st.st_size > SPEC_KEY_MAX) {
                snprintf(err, size, "disk '%s': key file '%s' must be a regular file of 1 to %d bytes", d->id,
                         d->key_file, SPEC_KEY_MAX);
                return -EINVAL;
        }
        char *buf = malloc(SPEC_KEY_MAX), what[64];
        if (!buf)
                return -ENOMEM;
        snprintf(what, sizeof(what), "disk '%s'", d->id);
        ssize_t n = read(fd, buf, SPEC_KEY_MAX);
        int r;
        if (n <= 0) {
                snprintf(err, size, "disk '%s': key file '%s': %s", d->id, d->key_file, n < 0 ? strerror(errno) : "empty");
                r = n < 0 ? negative_errno() : -EINVAL;
        } else
                r = secret_memfd("delegate-disk-key", buf, (size_t) n, what, err, size);
        explicit_bzero(buf, SPEC_KEY_MAX);
        free(buf);
        return r;
}

int devices_prepare(vm_spec *s, char *err, size_t size) {
        int r;
        if (s->kernel && (r = check_file("kernel", s->kernel, false, err, size)) < 0)
                return r;
        if (s->initrd && (r = check_file("initrd", s->initrd, false, err, size)) < 0)
                return r;
        for (size_t i = 0; i < s->n_disks; i++) {
                disk_spec *d = &s->disks[i];
                char what[64];
                snprintf(what, sizeof(what), "disk '%s': image", d->id);
                if ((r = check_file(what, d->path, !d->readonly, err, size)) < 0)
                        return r;
                if (d->key_file) {
                        if ((r = key_memfd(d, err, size)) < 0)
                                return r;
                        d->key_fd = r;
                }
        }
        return 0;
}

void devices_close_keys(vm_spec *s) {
        for (size_t i = 0; i < s->n_disks; i++)
                s->disks[i].key_fd = safe_close(s->disks[i].key_fd);
}

/* A path as one QemuOpts value: commas doubled. */
static int opts_path(const char *path, char **ret) {
        size_t n = strlen(path), commas = 0;
        for (size_t i = 0; i < n; i++)
                commas += path[i] == ',';
        char *o = malloc(n + commas + 1), *p = o;
        if (!o)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                *p++ = path[i];
                if (path[i] == ',')
                        *p++ = ',';
        }
        *p = 0;
        *ret = o;
        return 0;
}

/* -blockdev in QEMU's JSON syntax: paths need no escaping there. */
static int blockdev_json(const disk_spec *d, bool file_node, char **ret) {
        _cleanup_json_gen_ json_gen *g = json_gen_new();
        char node[48], child[48], secret[48];
        if (!g)
                return -ENOMEM;
        snprintf(node, sizeof(node), "%s-%s", d->id, file_node ? "file" : "format");
        snprintf(child, sizeof(child), "%s-file", d->id);
        snprintf(secret, sizeof(secret), "%s-key", d->id);
        json_gen_map_open(g);
        json_gen_kv_str(g, "node-name", node);
        json_gen_kv_bool(g, "read-only", d->readonly);
        json_gen_str(g, "cache");
        json_gen_map_open(g);
        json_gen_kv_bool(g, "direct", cache_direct(d->cache));
        json_gen_kv_bool(g, "no-flush", d->cache == DISK_CACHE_UNSAFE);
        json_gen_map_close(g);
        if (file_node) {
                json_gen_kv_str(g, "driver", "file");
                json_gen_kv_str(g, "filename", d->path);
        } else {
                json_gen_kv_str(g, "file", child);
                if (d->format == DISK_QCOW2) {
                        json_gen_kv_str(g, "driver", "qcow2");
                        if (d->key_file) {
                                json_gen_str(g, "encrypt");
                                json_gen_map_open(g);
                                json_gen_kv_str(g, "format", "luks");
                                json_gen_kv_str(g, "key-secret", secret);
                                json_gen_map_close(g);
                        }
                } else if (d->key_file) {
                        /* a raw LUKS volume: QEMU's luks driver over the file */
                        json_gen_kv_str(g, "driver", "luks");
                        json_gen_kv_str(g, "key-secret", secret);
                } else
                        json_gen_kv_str(g, "driver", "raw");
        }
        json_gen_map_close(g);
        return json_gen_take(g, ret, NULL);
}

static int disk_argv(const disk_spec *d, bool *scsi_added, qemu_proc *q) {
        _cleanup_erase_free_ char *file = NULL, *format = NULL;
        int r = 0;
        if (blockdev_json(d, true, &file) < 0 || blockdev_json(d, false, &format) < 0)
                return -ENOMEM;
        if (d->key_file) {
                /* QEMU opens /dev/fd/N: a fresh description of the sealed memfd */
                r |= qemu_arg(q, "-object");
                r |= qemu_arg(q, "secret,id=%s-key,format=raw,file=/dev/fd/%d", d->id, d->key_fd);
        }
        r |= qemu_arg(q, "-blockdev");
        r |= qemu_arg(q, "%s", file);
        r |= qemu_arg(q, "-blockdev");
        r |= qemu_arg(q, "%s", format);
        if (d->bus == DISK_VIRTIO_SCSI) {
                if (!*scsi_added) {
                        r |= qemu_arg(q, "-device");
                        r |= qemu_arg(q, "virtio-scsi-pci,id=scsi0");
                        *scsi_added = true;
                }
                r |= qemu_arg(q, "-device");
                r |= qemu_arg(q, "scsi-hd,bus=scsi0.0,drive=%s-format,id=%s,write-cache=%s%s", d->id, d->id,
                              cache_write_cache(d->cache) ? "on" : "off", d->boot ? ",bootindex=1" : "");
        } else {
                r |= qemu_arg(q, "-device");
                r |= qemu_arg(q, "virtio-blk-pci,drive=%s-format,id=%s,write-cache=%s%s", d->id, d->id,
                              cache_write_cache(d->cache) ? "on" : "off", d->boot ? ",bootindex=1" : "");
        }
        return r < 0 ? -ENOMEM : 0;
}

int devices_argv(const vm_spec *s, qemu_proc *q) {
        int r = 0;
        bool scsi = false;
        if (s->kernel) {
                r |= qemu_arg(q, "-kernel");
                r |= qemu_arg(q, "%s", s->kernel);
                if (s->initrd) {
                        r |= qemu_arg(q, "-initrd");
                        r |= qemu_arg(q, "%s", s->initrd);
                }
                if (s->cmdline) {
                        r |= qemu_arg(q, "-append");
                        r |= qemu_arg(q, "%s", s->cmdline);
                }
        }
        for (size_t i = 0; r >= 0 && i < s->n_disks; i++)
                r = disk_argv(&s->disks[i], &scsi, q);
        if (r >= 0 && (s->console.file || s->console.socket)) {
                _cleanup_erase_free_ char *path = NULL;
                if (opts_path(s->console.file ? s->console.file : s->console.socket, &path) < 0)
                        return -ENOMEM;
                r |= qemu_arg(q, "-chardev");
                if (s->console.file)
                        r |= qemu_arg(q, "file,id=console,path=%s,append=on", path);
                else
                        r |= qemu_arg(q, "socket,id=console,path=%s,server=on,wait=off", path);
                r |= qemu_arg(q, "-serial");
                r |= qemu_arg(q, "chardev:console");
        }
        return r < 0 ? -ENOMEM : 0;
}
