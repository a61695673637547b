#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""check-layers - the sources form layers: no import circle, no long file (TAP output).

A MODULE is a .c file together with the .h of the same name beside it
(broker/broker-log.c + broker/broker-log.h is the module broker/broker-log).
A header with no .c of its own (broker/broker.h, common/util.h,
launcher/launcher.h) is a bag of shared types and prototypes, not a module:
including it counts as including what it includes.

Module A DEPENDS on module B when
  - a file of A #includes B's header (directly, or through such a bag), or
  - A's object file references a function or variable that B's object file
    defines (read with nm from the objects compile_commands.json names),
    since one shared header such as broker.h declares the functions of
    twenty files, and an #include of it does not say which of them are used.
A circle is a set of two or more modules that depend on each other
(a strongly connected component of that graph).  The check covers
common/, engine/, libdelegate/, broker/, launcher/ and tools/, and fails on
any circle, on a folder using one it may not (FOLDERS), on
broker/broker-log not being a leaf of the broker, on a broker module
without a layer or depending on a higher layer (LAYERS), and on any source file
(.c .h .py .sh .go; man pages and Markdown are documents) over MAX_LINES
lines.

Knowingly pending parts are TAP TODO items: they are reported and do not
fail the test; once one is gone its "ok ... # TODO" is an unexpected pass
and fails the test, so that its line here is removed.

Arguments: SOURCE_ROOT BUILD_ROOT.
"""
import collections
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys

src, build = os.path.realpath(sys.argv[1]), os.path.realpath(sys.argv[2])
DIRS = ("common", "engine", "libdelegate", "broker", "launcher", "tools")  # FOLDERS below says who uses whom
MAX_LINES = 800

# Nothing is knowingly pending (issue 17 emptied both): a circle or a long
# file fails the test.  An entry that is no longer true fails it too.
PENDING_CIRCLES = []
PENDING_LONG = {}
# modules that must depend on nothing else of their directory
LEAVES = ["broker/broker-log", "broker/broker-closer"]
# The broker's layers, lowest first (the comment at the top of broker/broker.h
# says why): a module may depend on modules of its own layer or of a lower
# one, never of a higher one; every module of broker/ has a layer (fnmatch
# patterns, the first layer that matches counts).
LAYERS = [
    ("base: leaves, the connection, replies, the state file writer, the registry as walked",
     ["broker/broker-log", "broker/broker-closer", "broker/broker-limits", "broker/broker-audit", "broker/broker-caps",
      "broker/broker-seccomp", "broker/broker-forker", "broker/broker-helper", "broker/broker-netns-worker",
      "broker/broker-conn", "broker/broker-event", "broker/broker-reply",
      "broker/broker-op", "broker/broker-cgroup-open", "broker/broker-peer", "broker/broker-policy",
      "broker/broker-bus-args", "broker/broker-state-read", "broker/broker-state-save", "broker/broker-session",
      "broker/broker-frame", "broker/broker-cache"]),
    ("operations", ["broker/ops/*"]),
    ("sessions: client_free, recovery and resume, the dispatcher",
     ["broker/broker-client", "broker/broker-state", "broker/broker-request"]),
    ("front: the loop, the bus, the seccomp listener of delegate-run's programs, the registry's tables, main",
     ["broker/broker-server", "broker/broker-loop", "broker/broker-bus", "broker/broker-unotify*", "broker/broker-ops-table",
      "broker/main"]),
]

n = 0
failed = 0


def tap(cond, what, diag=None, todo=None):
    global n, failed
    n += 1
    line = ("ok %d - %s" if cond else "not ok %d - %s") % (n, what)
    if todo:
        line += " # TODO " + todo
    print(line)
    if not cond and not todo:
        failed += 1
    if not cond:
        for d in (diag or "").splitlines():
            print("#   " + d)


def sources(dirs, exts):
    for d in dirs:
        for root, subdirs, files in os.walk(os.path.join(src, d)):
            subdirs[:] = sorted(s for s in subdirs if not s.startswith("build") and s != ".git")
            for f in sorted(files):
                if f.endswith(exts):
                    yield os.path.relpath(os.path.join(root, f), src)


def module_of(rel):
    return rel[:-2]


files = list(sources(DIRS, (".c", ".h")))
stems = {module_of(f) for f in files if f.endswith(".c")}
is_module = lambda stem: stem in stems  # noqa: E731
by_suffix = collections.defaultdict(list)
for f in files:
    if f.endswith(".h"):
        parts = f.split("/")
        for i in range(len(parts)):
            by_suffix["/".join(parts[i:])].append(f)

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def includes(rel):
    """The project headers @rel includes: beside it first, else anywhere in DIRS."""
    with open(os.path.join(src, rel), encoding="utf-8") as f:
        text = f.read()
    for name in INCLUDE.findall(text):
        beside = os.path.normpath(os.path.join(os.path.dirname(rel), name))
        if beside in files:
            yield beside
        elif len(by_suffix.get(name, [])) == 1:
            yield by_suffix[name][0]
        # else generated (config.h) or outside DIRS: not a module


def header_deps(h, seen):
    """Modules reached from header @h, looking through headers that are not modules."""
    if h in seen:
        return set()
    seen.add(h)
    if is_module(module_of(h)):
        return {module_of(h)}
    out = set()
    for g in includes(h):
        out |= header_deps(g, seen)
    return out


deps = collections.defaultdict(lambda: collections.defaultdict(set))  # a -> b -> reasons
for f in files:
    a = module_of(f)
    if not is_module(a):
        continue
    for h in includes(f):
        for b in header_deps(h, set()):
            if b != a:
                deps[a][b].add("#include \"%s\" in %s" % (os.path.basename(h), f))

# symbols, from the objects of the build
nm = shutil.which("nm")
tap(nm is not None, "nm is there to read the objects' symbol tables (binutils)")
with open(os.path.join(build, "compile_commands.json"), encoding="utf-8") as fh:
    commands = json.load(fh)
defined = collections.defaultdict(set)
used = collections.defaultdict(set)
n_objects = 0
for e in commands:
    path = os.path.relpath(os.path.realpath(os.path.join(e["directory"], e["file"])), src)
    if not path.endswith(".c") or path.split("/")[0] not in DIRS:
        continue
    obj = os.path.join(e["directory"], e["output"])
    if not nm or not os.path.exists(obj):
        continue
    n_objects += 1
    out = subprocess.run([nm, "-P", obj], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
    for line in out.splitlines():
        p = line.split()
        if len(p) < 2:
            continue
        if p[1] == "U":
            used[module_of(path)].add(p[0])
        elif p[1] in "TDBRCGSVW":
            defined[p[0]].add(module_of(path))
tap(n_objects >= len(stems), "every module's object is built (%d objects for %d modules)" % (n_objects, len(stems)))
for a, syms in used.items():
    for s in syms:
        where = defined.get(s, set()) - {a}
        if len(where) > 1:  # main and the like: the one beside the user
            where = {b for b in where if os.path.dirname(b) == os.path.dirname(a)}
        for b in where:
            deps[a][b].add(s + "()")


def circles(nodes, edges):
    """Tarjan's strongly connected components with more than one node."""
    index, low, stack, on, out = {}, {}, [], set(), []
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(comp)

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def explain(comp):
    lines = []
    for a in sorted(comp):
        for b in sorted(set(deps[a]) & comp):
            lines.append("%s -> %s: %s" % (a, b, ", ".join(sorted(deps[a][b])[:4])))
    return "\n".join(lines)


print("# a module is a .c and the .h of the same name; A -> B when A includes B's header or")
print("# uses a function or variable B defines (nm of the objects); a circle is a cycle of ->")
found = circles(stems, deps)
tap(len(stems) > 20, "modules found in %s (%d)" % (", ".join(DIRS), len(stems)))
for comp in sorted(found, key=lambda c: sorted(c)):
    pending = next((p for p in PENDING_CIRCLES if comp <= p), None)
    tap(False, "no import circle among %s" % ", ".join(sorted(comp)), explain(comp),
        todo="pending, issue 17" if pending is not None else None)
for p in PENDING_CIRCLES:
    if not any(c <= p for c in found):
        tap(True, "the pending circle of %s is gone: remove it from PENDING_CIRCLES" % ", ".join(sorted(p)),
            todo="pending, issue 17")
if not found:
    tap(True, "no import circle in %s" % ", ".join(DIRS))

for leaf in LEAVES:
    mine = sorted(b for b in deps[leaf] if os.path.dirname(b) == os.path.dirname(leaf))
    tap(is_module(leaf) and not mine, "%s is a leaf: it depends on nothing else in %s/" %
        (leaf, os.path.dirname(leaf)), "\n".join("%s: %s" % (b, ", ".join(sorted(deps[leaf][b]))) for b in mine))



def layer_of(m):
    for i, (_, pats) in enumerate(LAYERS):
        if any(fnmatch.fnmatchcase(m, p) for p in pats):
            return i
    return None


broker_modules = sorted(m for m in stems if m.startswith("broker/"))
unplaced = [m for m in broker_modules if layer_of(m) is None]
tap(not unplaced, "every module of broker/ has a layer in LAYERS (%d modules, %d layers)" %
    (len(broker_modules), len(LAYERS)), "no layer: " + ", ".join(unplaced))
upward = []
for a in broker_modules:
    for b in sorted(deps[a]):
        la, lb = layer_of(a), layer_of(b)
        if la is not None and lb is not None and lb > la:
            upward.append("%s (%s) -> %s (%s): %s" % (a, LAYERS[la][0].split(":")[0], b, LAYERS[lb][0].split(":")[0],
                                                      ", ".join(sorted(deps[a][b])[:4])))
tap(not upward, "no module of broker/ depends on a higher layer", "\n".join(upward))

# The folders are layers too: what each may use besides itself.  common/ is
# what everything shares and uses nothing; engine/ is the pure policy engine
# with each operation's check; libdelegate/ is the public library; the
# broker acts on the engine's decisions; the launcher is a client of the
# public library only; the tools may use all but the broker and launcher.
FOLDERS = {
    "common": [],
    "engine": ["common"],
    "libdelegate": ["common", "engine"],
    "broker": ["common", "engine"],
    "launcher": ["common", "libdelegate"],
    "tools": ["common", "engine", "libdelegate"],
}
crossing = []
for a in sorted(stems):
    fa = a.split("/")[0]
    for b in sorted(deps[a]):
        fb = b.split("/")[0]
        if fb != fa and fb not in FOLDERS.get(fa, []):
            crossing.append("%s -> %s: %s" % (a, b, ", ".join(sorted(deps[a][b])[:4])))
tap(not crossing and set(FOLDERS) == set(DIRS),
    "each folder uses only the folders below it (%s)" %
    "; ".join("%s: %s" % (f, ", ".join(u) or "nothing") for f, u in FOLDERS.items()), "\n".join(crossing))

long_ = 0
for rel in sources(DIRS + ("tests", "bench", "bindings"), (".c", ".h", ".py", ".sh", ".go")):
    with open(os.path.join(src, rel), encoding="utf-8", errors="replace") as fh:
        lines = sum(1 for _ in fh)
    if lines > MAX_LINES:
        long_ += 1
        owner = PENDING_LONG.get(rel)
        tap(False, "%s has at most %d lines (%d)" % (rel, MAX_LINES, lines),
            todo=("pending, issue 17: " + owner) if owner else None)
for rel, owner in sorted(PENDING_LONG.items()):
    path = os.path.join(src, rel)
    if os.path.exists(path):
        with open(path, encoding="utf-8", errors="replace") as fh:
            short = sum(1 for _ in fh) <= MAX_LINES
    else:
        short = True
    if short:
        tap(True, "%s is short now: remove it from PENDING_LONG" % rel, todo="pending, issue 17: " + owner)
if not long_:
    tap(True, "no source file over %d lines" % MAX_LINES)

print("1..%d" % n)
sys.exit(1 if failed else 0)
