#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""VM start without delegation, like for like: root does itself, in the
same order, every step delegate-launcher asks the broker for, and starts
QEMU with the arguments the launcher gives it (same machine, memory,
vCPUs, -S, QMP on a socket pair, a 2-queue virtio-net NIC on TAP fds):

  taps     a 2-queue TAP (vnet_hdr) opened on /dev/net/tun, put on the
           bridge and up
  fork     QEMU forked and held at a gate (as the launcher holds it) with
           the fds and the QMP socket, under RLIMIT_RTTIME (the same work
           as the launcher's, in Python: slower, not counted as delegation's)
  memlock  prlimit(RLIMIT_MEMLOCK) of QEMU's pid, then the gate opens (exec)
  qmp      QMP greeting and qmp_capabilities
  after    query-cpus-fast; QEMU's non-vCPU threads into a threaded
           housekeeping cgroup below the pod's (cgroup.threads); the
           realtime vCPU SCHED_FIFO 1 with SCHED_RESET_ON_FORK; query-status;
           cont

usage: vm-start.py POD_CGROUP_DIR BRIDGE MEMLOCK_BYTES RT_VCPU RTTIME_US
       (one run, in the pod's cgroup and network namespace, as root;
       QEMU runs under RLIMIT_RTTIME RTTIME_US, as the launcher's spec
       "rttime_us" has it)
prints one JSON line: each step's milliseconds, "total" (first step to
cont answered) and "exec_to_cont", the launcher's own figures' names; the
"after" step by its parts, as the launcher's timing line gives them:
"cpus" (query-cpus-fast), "housekeeping", "realtime", "status"
(query-status), "cont"; and the housekeeping's own parts: "hk_mkdir",
"hk_type" (cgroup.type) and "hk_writes", each cgroup.threads write (the
first one waits for an RCU grace period, cgroup_threadgroup_rwsem)."""
import fcntl, json, os, resource, socket, struct, sys, time

from qmpc import qmp

pod, bridge, memlock, rt_vcpu, rttime = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
TUNSETIFF, SIOCBRADDIF, SIOCGIFFLAGS, SIOCSIFFLAGS = 0x400454CA, 0x89A2, 0x8913, 0x8914
IFF_TAP, IFF_NO_PI, IFF_VNET_HDR, IFF_MULTI_QUEUE, IFF_UP = 0x2, 0x1000, 0x4000, 0x100, 0x1
QUEUES = 2
ms = lambda a, b: (b - a) * 1000


def tap(name):
    fds = []
    for _ in range(QUEUES):
        fd = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC)
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(),
                                                IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE))
        fds.append(fd)
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        fcntl.ioctl(s, SIOCBRADDIF, struct.pack("16si", bridge.encode(), socket.if_nametoindex(name)))
        flags = struct.unpack("16sH", fcntl.ioctl(s, SIOCGIFFLAGS, struct.pack("16sH", name.encode(), 0)))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH", name.encode(), flags | IFF_UP))
    return fds


def main():
    hk = os.path.join(pod, "housekeeping-direct.%d" % os.getpid())
    t_start = time.monotonic()
    fds = tap("bdirect%d" % (os.getpid() % 10000))
    t_fork = time.monotonic()
    qmp_ours, qmp_qemu = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    gate_r, gate_w = os.pipe()
    argv = ["qemu-system-x86_64", "-name", "guest=bench-direct,debug-threads=on", "-S", "-nodefaults",
            "-no-user-config", "-display", "none", "-accel", "tcg", "-m", "64", "-smp", "2",
            "-chardev", "socket,id=qmp,fd=%d" % qmp_qemu.fileno(), "-mon", "chardev=qmp,mode=control",
            "-netdev", "tap,id=net0,fds=%s,vhost=off" % ":".join(str(f) for f in fds),
            "-device", "virtio-net-pci,netdev=net0,id=net0-dev,mq=on",
            "-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"]
    # held at a gate until its memlock is set, as the launcher holds it
    pid = os.fork()
    if pid == 0:
        try:
            os.close(gate_w)
            devnull = os.open("/dev/null", os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(devnull, fd)
            resource.setrlimit(resource.RLIMIT_RTTIME, (rttime, rttime))  # as the launcher's child does
            for fd in fds + [qmp_qemu.fileno()]:
                os.set_inheritable(fd, True)
            if os.read(gate_r, 1) == b"x":
                os.execvp(argv[0], argv)
        finally:
            os._exit(127)
    t_gate = time.monotonic()
    qmp_qemu.close()
    os.close(gate_r)
    for fd in fds:
        os.close(fd)
    resource.prlimit(pid, resource.RLIMIT_MEMLOCK, (memlock, memlock))
    t_exec = time.monotonic()
    os.write(gate_w, b"x")
    os.close(gate_w)
    try:
        f = qmp_ours.makefile("r")
        f.readline()  # greeting
        qmp(qmp_ours, f, "qmp_capabilities")
        t_qmp = time.monotonic()
        cpus = qmp(qmp_ours, f, "query-cpus-fast")["return"]
        vcpus = {c["cpu-index"]: c["thread-id"] for c in cpus}
        t_cpus = time.monotonic()
        os.mkdir(hk)
        t_mkdir = time.monotonic()
        with open(os.path.join(hk, "cgroup.type"), "w") as t:
            t.write("threaded")
        t_type = time.monotonic()
        writes = []
        with open(os.path.join(hk, "cgroup.threads"), "w") as t:
            for tid in os.listdir("/proc/%d/task" % pid):
                if int(tid) not in vcpus.values():
                    w = time.monotonic()
                    t.write(tid)
                    t.flush()
                    writes.append(ms(w, time.monotonic()))
        t_hk = time.monotonic()
        os.sched_setscheduler(vcpus[rt_vcpu], os.SCHED_FIFO | os.SCHED_RESET_ON_FORK, os.sched_param(1))
        t_rt = time.monotonic()
        if qmp(qmp_ours, f, "query-status")["return"]["status"] != "prelaunch":
            sys.exit("QEMU is not paused")
        t_status = time.monotonic()
        r = qmp(qmp_ours, f, "cont")
        t_run = time.monotonic()
        if "error" in r:
            sys.exit("cont: %s" % r)
        qmp(qmp_ours, f, "quit")
    except BaseException:
        os.kill(pid, 9)
        raise
    finally:
        os.waitpid(pid, 0)
        qmp_ours.close()
        for _ in range(100):
            try:
                os.rmdir(hk)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.01)
    print(json.dumps({"total": ms(t_start, t_run), "exec_to_cont": ms(t_exec, t_run), "taps": ms(t_start, t_fork),
                      "fork": ms(t_fork, t_gate),
                      "memlock": ms(t_gate, t_exec), "qmp": ms(t_exec, t_qmp), "after": ms(t_qmp, t_run),
                      "cpus": ms(t_qmp, t_cpus), "housekeeping": ms(t_cpus, t_hk), "realtime": ms(t_hk, t_rt),
                      "status": ms(t_rt, t_status), "cont": ms(t_status, t_run),
                      "hk_mkdir": ms(t_cpus, t_mkdir), "hk_type": ms(t_mkdir, t_type), "hk_writes": writes}))


main()
