/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * launcher-cmdline.c - QEMU's command line for a VM spec: paused (-S or
 * -incoming defer), QMP on an inherited fd, the NICs on the broker's TAP
 * fds, the firmware log, the boot source and disks (launcher-devices.c),
 * then the sandbox and the spec's extra arguments.
 */
#include <stdio.h>

#include "launcher.h"

int qemu_build_argv(const vm_spec *s, const char *accel, int qmp_fd, int *const *tap_fds, const size_t *n_tap_fds,
                    const char *incoming, qemu_proc *q) {
        int r = 0;
        r |= qemu_arg(q, "%s", s->qemu);
        r |= qemu_arg(q, "-name");
        r |= qemu_arg(q, "guest=%s,debug-threads=on", s->name);
        /* paused: every delegated step happens before the guest runs */
        if (incoming) {
                r |= qemu_arg(q, "-incoming");
                r |= qemu_arg(q, "defer");
        } else
                r |= qemu_arg(q, "-S");
        r |= qemu_arg(q, "-nodefaults");
        r |= qemu_arg(q, "-no-user-config");
        r |= qemu_arg(q, "-display");
        r |= qemu_arg(q, "none");
        r |= qemu_arg(q, "-accel");
        r |= qemu_arg(q, "%s", accel);
        r |= qemu_arg(q, "-m");
        r |= qemu_arg(q, "%llu", (unsigned long long) (s->memory >> 20));
        r |= qemu_arg(q, "-smp");
        r |= qemu_arg(q, "%u", s->vcpus);
        if (s->mem_lock) {
                r |= qemu_arg(q, "-overcommit");
                r |= qemu_arg(q, "mem-lock=on");
        }
        r |= qemu_arg(q, "-chardev");
        r |= qemu_arg(q, "socket,id=qmp,fd=%d", qmp_fd);
        r |= qemu_arg(q, "-mon");
        r |= qemu_arg(q, "chardev=qmp,mode=control");
        for (size_t i = 0; i < s->n_nics; i++) {
                const nic_spec *n = &s->nics[i];
                char fds[256] = "", vhostfds[256] = "";
                /* with vhost the broker sent 2 fds per queue: the TAP queues, then the vhost-net fds */
                bool vhost = n->vhost != NIC_VHOST_OFF && n_tap_fds[i] == 2 * (size_t) n->queues;
                size_t queues = vhost ? n->queues : n_tap_fds[i];
                for (size_t k = 0; k < queues; k++) {
                        snprintf(fds + strlen(fds), sizeof(fds) - strlen(fds), "%s%d", k ? ":" : "", tap_fds[i][k]);
                        if (vhost)
                                snprintf(vhostfds + strlen(vhostfds), sizeof(vhostfds) - strlen(vhostfds), "%s%d",
                                         k ? ":" : "", tap_fds[i][queues + k]);
                }
                r |= qemu_arg(q, "-netdev");
                if (vhost)
                        r |= qemu_arg(q, "tap,id=%s,fds=%s,vhost=on,vhostfds=%s", n->id, fds, vhostfds);
                else
                        r |= qemu_arg(q, "tap,id=%s,fds=%s,vhost=off", n->id, fds);
                r |= qemu_arg(q, "-device");
                r |= qemu_arg(q, "virtio-net-pci,netdev=%s,id=%s-dev%s%s%s", n->id, n->id, n->mac[0] ? ",mac=" : "",
                              n->mac, queues > 1 ? ",mq=on" : "");
        }
        if (s->firmware_log) {
                /* SeaBIOS writes its log to I/O port 0x402: proof the guest ran */
                r |= qemu_arg(q, "-chardev");
                r |= qemu_arg(q, "file,id=fwlog,path=%s", s->firmware_log);
                r |= qemu_arg(q, "-device");
                r |= qemu_arg(q, "isa-debugcon,iobase=0x402,chardev=fwlog");
        }
        r |= devices_argv(s, q);
        r |= qemu_arg(q, "-sandbox");
        r |= qemu_arg(q, "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");
        for (size_t i = 0; i < s->n_extra_args; i++)
                r |= qemu_arg(q, "%s", s->extra_args[i]);
        return r < 0 ? -ENOMEM : 0;
}
