#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""VM start without delegation: QEMU started directly, as root, with the
arguments delegate-launcher gives it (same machine, memory, vCPUs, a
2-queue virtio-net NIC on a TAP QEMU opens itself on br0, -S, QMP), then
the time from its exec to the answer to "cont" - what the launcher reports
as "guest running N ms after QEMU's exec".

usage: vm-start.py RUNS SOCKDIR  (in the pod's network namespace, as root)
prints one line: the median and every run, in milliseconds."""
import os, statistics, subprocess, sys, time

from qmpc import connect, qmp

runs, sockdir = int(sys.argv[1]), sys.argv[2]


def once(i):
    path = os.path.join(sockdir, "direct-%d.sock" % i)
    argv = ["qemu-system-x86_64", "-name", "guest=bench-direct,debug-threads=on", "-S", "-nodefaults",
            "-no-user-config", "-display", "none", "-accel", "tcg", "-m", "64", "-smp", "2",
            "-chardev", "socket,id=qmp,path=%s,server=on,wait=off" % path, "-mon", "chardev=qmp,mode=control",
            "-netdev", "tap,id=net0,ifname=bdirect0,script=no,downscript=no,queues=2,vhost=off",
            "-device", "virtio-net-pci,netdev=net0,id=net0-dev,mq=on",
            "-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"]
    t0 = time.monotonic()
    q = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        s, f = connect(path, q)
        qmp(s, f, "qmp_capabilities")
        qmp(s, f, "query-cpus-fast")  # the launcher asks this too
        qmp(s, f, "query-status")
        r = qmp(s, f, "cont")
        t1 = time.monotonic()
        if "error" in r:
            sys.exit("cont: %s" % r)
        subprocess.run(["ip", "link", "set", "bdirect0", "master", "br0"], check=True)
        qmp(s, f, "quit")
        s.close()
    finally:
        q.wait()
    return (t1 - t0) * 1000


ms = [once(i) for i in range(runs)]
print("%.1f %s" % (statistics.median(ms), " ".join("%.1f" % x for x in ms)))
