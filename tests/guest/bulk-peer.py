#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The host's end of the guest's bulk transfers, hashing what it sends or
receives itself (hashlib), independent of the guest's busybox sha256sum.

  bulk-peer.py send ADDR PORT MIB   listen, send MIB MiB of random bytes to
                                    the first connection, close
  bulk-peer.py recv ADDR PORT       listen, read the first connection to EOF

Prints one JSON line when done: {"bytes": N, "sha256": "...", "seconds": S}
(seconds from the connection's accept to the last byte)."""
import hashlib, json, os, socket, sys, time

mode, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((addr, port))
ls.listen(1)
c, _ = ls.accept()
h, n, t0 = hashlib.sha256(), 0, time.monotonic()
if mode == "send":
    left = int(sys.argv[4]) << 20
    while left > 0:
        b = os.urandom(min(left, 1 << 20))
        h.update(b)
        c.sendall(b)
        n += len(b)
        left -= len(b)
    c.shutdown(socket.SHUT_WR)
    c.recv(1)  # the guest closes when it has read everything
else:
    while True:
        b = c.recv(1 << 20)
        if not b:
            break
        h.update(b)
        n += len(b)
t1 = time.monotonic()
c.close()
print(json.dumps({"bytes": n, "sha256": h.hexdigest(), "seconds": round(t1 - t0, 4)}), flush=True)
