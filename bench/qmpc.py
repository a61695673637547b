# SPDX-License-Identifier: LGPL-2.1-or-later
"""The benchmarks' own small QMP client, for QEMU started directly by root
(bench/vm-start.py, bench/guest-bench.py)."""
import json, socket, sys, time


def connect(path, proc):
    """Connect to QEMU's monitor at @path (QEMU @proc creates it), read the
    greeting; returns (socket, file).  Exits with QEMU's stderr if it died."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    while True:
        try:
            s.connect(path)
            break
        except (FileNotFoundError, ConnectionRefusedError):
            if proc.poll() is not None:
                sys.exit("QEMU exited: %s" % (proc.stderr.read().decode() if proc.stderr else proc.returncode))
            time.sleep(0.0005)
    f = s.makefile("r")
    f.readline()  # greeting
    return s, f


def qmp(s, f, cmd):
    """Run @cmd; its answer ("return" or "error"), events skipped."""
    s.sendall((json.dumps({"execute": cmd}) + "\n").encode())
    while True:
        r = json.loads(f.readline())
        if "return" in r or "error" in r:
            return r
