#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A real guest (tests/guest/build-guest.sh) started two ways, like for like:

  guest-bench.py launcher DIR VMLINUZ INITRD MIB UID LAUNCHER
      delegate-launcher as the pod's uid (setpriv), its steps through the broker
  guest-bench.py direct DIR VMLINUZ INITRD MIB
      QEMU started directly by root doing the same steps itself: its own
      2-queue TAP, -S, QMP (query-cpus-fast, query-status), the TAP onto br0,
      cont
  launcher-vhost, direct-vhost: the same with vhost-net (the broker's
      /dev/vhost-net fds, or QEMU opening it as root), where the node has it

Run as root in the pod's cgroup and netns (br0 at 10.0.0.1/24).  Measures,
on the host's clock, start to the guest's "network up" console line
(boot to network: the guest pinged the bridge), and the guest's bulk
transfers of MIB MiB each way through tests/guest/bulk-peer.py.  Prints one
JSON line."""
import json, os, subprocess, sys, time

from qmpc import connect, qmp

mode, d, vmlinuz, initrd, mib = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
here = os.path.dirname(os.path.abspath(__file__))
peer = os.path.join(here, "..", "tests", "guest", "bulk-peer.py")
console = os.path.join(d, "console-%s.log" % mode)
append = "console=ttyS0 quiet panic=-1 dt.ip=10.0.0.2/24 dt.host=10.0.0.1 dt.mib=%d dt.busy=0" % mib
guest = ["-no-reboot", "-serial", "file:" + console, "-kernel", vmlinuz, "-initrd", initrd, "-append", append]
vhost = mode.endswith("-vhost")
for f in (console,):
    if os.path.exists(f):
        os.unlink(f)


def console_has(text):
    try:
        with open(console, errors="replace") as f:
            return text in f.read()
    except FileNotFoundError:
        return False


send = subprocess.Popen([sys.executable, peer, "send", "10.0.0.1", "5001", str(mib)], stdout=subprocess.PIPE)
recv = subprocess.Popen([sys.executable, peer, "recv", "10.0.0.1", "5002"], stdout=subprocess.PIPE)
time.sleep(0.3)
t0 = time.monotonic()
if mode.startswith("launcher"):
    uid, launcher = sys.argv[6], sys.argv[7]
    spec = os.path.join(d, "guest.json")
    with open(spec, "w") as f:
        json.dump({"name": "vm-guest", "accel": "tcg", "memory": "256M", "vcpus": 2, "mem_lock": False,
                   "nics": [{"id": "net0", "bridge": "br0", "queues": 2, "vhost": vhost}], "shutdown_timeout": 5,
                   "kernel": vmlinuz, "initrd": initrd, "cmdline": append, "console": {"file": console},
                   "extra_args": ["-no-reboot"]}, f)
    vm = subprocess.Popen(["setpriv", "--reuid", uid, "--regid", uid, "--clear-groups", "--", launcher,
                           "--spec", spec], stdout=open(os.path.join(d, "guest-launcher.log"), "w"),
                          stderr=subprocess.STDOUT)
else:
    path = os.path.join(d, "guest-direct.sock")
    argv = ["qemu-system-x86_64", "-name", "guest=guest-direct,debug-threads=on", "-S", "-nodefaults",
            "-no-user-config", "-display", "none", "-accel", "tcg", "-m", "256", "-smp", "2",
            "-chardev", "socket,id=qmp,path=%s,server=on,wait=off" % path, "-mon", "chardev=qmp,mode=control",
            "-netdev", "tap,id=net0,ifname=bgdirect0,script=no,downscript=no,queues=2,vhost=%s" % ("on" if vhost else "off"),
            "-device", "virtio-net-pci,netdev=net0,id=net0-dev,mq=on",
            "-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"] + guest
    vm = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    s, f = connect(path, vm)
    qmp(s, f, "qmp_capabilities")
    qmp(s, f, "query-cpus-fast")
    subprocess.run(["ip", "link", "set", "bgdirect0", "master", "br0", "up"], check=True)
    qmp(s, f, "query-status")
    qmp(s, f, "cont")
while not console_has("DT: network up") and vm.poll() is None and time.monotonic() - t0 < 300:
    time.sleep(0.005)
t_net = time.monotonic() - t0
ok = console_has("DT: network up")
vm.wait(timeout=600)
a = json.loads(send.stdout.readline() or "{}") if ok else {}
b = json.loads(recv.stdout.readline() or "{}") if ok else {}
for p in (send, recv):
    p.kill()
    p.wait()
print(json.dumps({"mode": mode, "ok": ok and console_has("DT: done"), "boot_to_network_s": round(t_net, 3),
                  "host_to_guest_MBps": round(a.get("bytes", 0) / 1e6 / a["seconds"], 1) if a.get("seconds") else 0,
                  "guest_to_host_MBps": round(b.get("bytes", 0) / 1e6 / b["seconds"], 1) if b.get("seconds") else 0}),
      flush=True)
