#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""
rt-budget-hook.py - an OCI prestart hook, as a node with RT group scheduling
needs one (README, "Deploy on Kubernetes"; delegate-broker(8), REALTIME
BUDGET): container runtimes create cpu cgroups with cpu.rt_runtime_us = 0,
where no thread can be SCHED_FIFO.  For a container whose annotations carry
delegate.example/rt-runtime-us (the VM pod's), give its cpu cgroup that
budget, raising its ancestors' first to what their children then need
together (top-down: the kernel refuses a child more than its parent has).  The runtime passes the container's state on stdin.
"""
import json
import os
import sys

ANNOTATION = "delegate.example/rt-runtime-us"


def main():
    state = json.load(sys.stdin)
    budget = int(state.get("annotations", {}).get(ANNOTATION, "0"))
    if budget <= 0:
        return 0
    mnt = root = None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields, _, tail = line.partition(" - ")
            t = tail.split()
            if len(t) >= 3 and t[0] == "cgroup" and "cpu" in t[2].split(","):
                root, mnt = fields.split()[3], fields.split()[4]
                break
    if not mnt:
        return 0  # no cgroup v1 cpu hierarchy: no RT group scheduling to satisfy
    path = None
    with open("/proc/%d/cgroup" % state["pid"]) as f:
        for line in f:
            _, ctl, p = line.rstrip("\n").split(":", 2)
            if "cpu" in ctl.split(","):
                path = p
    if path is None:
        return 0
    if root != "/":
        path = path[len(root):]
    parts = [p for p in path.split("/") if p]

    def rt(d):
        with open(os.path.join(d, "cpu.rt_runtime_us")) as r:
            return int(r.read())

    # bottom-up: what each level on the path needs (its children's budgets together, ours
    # included); then top-down, raise each level that has less (a child never gets more
    # than its parent has room for)
    dirs = [os.path.join(mnt, *parts[:i]) for i in range(1, len(parts) + 1)]
    need = [0] * len(dirs)
    need[-1] = budget
    for i in range(len(dirs) - 2, -1, -1):
        others = sum(rt(os.path.join(dirs[i], c)) for c in os.listdir(dirs[i])
                     if os.path.isdir(os.path.join(dirs[i], c)) and os.path.join(dirs[i], c) != dirs[i + 1])
        need[i] = need[i + 1] + others
    for d, n in zip(dirs, need):
        if rt(d) < n:
            try:
                with open(os.path.join(d, "cpu.rt_runtime_us"), "w") as w:
                    w.write(str(n))
            except OSError as e:
                sib = {c: rt(os.path.join(os.path.dirname(d), c)) for c in os.listdir(os.path.dirname(d))
                       if os.path.isdir(os.path.join(os.path.dirname(d), c))}
                raise OSError(e.errno, "cannot give %s a realtime budget of %d us: %s (its parent has %d, the "
                              "parent's children %s)" % (d, n, e.strerror, rt(os.path.dirname(d)), sib))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except OSError as e:
        print("rt-budget-hook: %s" % e, file=sys.stderr)
        sys.exit(1)
