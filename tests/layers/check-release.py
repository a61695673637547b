#!/usr/bin/env python3
"""check-release.py - every C source of the project compiles as a release
build would compile it: each translation unit of the build's
compile_commands.json (the tests' too) is compiled again with its own
command, -Werror kept, at -O3 (meson's --buildtype=release) and at -Os
(minsize), the object thrown away.  gcc's -O3 and -Os passes warn about
things -O2 does not see (a "may be used uninitialized" through an inlined
error path, a format's possible truncation, an access outside an object),
and under -Werror a user's release build then fails where ours built.

Arguments: SOURCE_ROOT BUILD_ROOT.  Registered only for a build without
sanitizers (tests/meson.build): their instrumentation changes what the
optimizer warns about, and the same sources are checked by that build.
"""
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from compile_args import compile_args  # noqa: E402

src, build = os.path.realpath(sys.argv[1]), os.path.realpath(sys.argv[2])
LEVELS = ("-O3", "-Os")

with open(os.path.join(build, "compile_commands.json")) as f:
    entries = json.load(f)


def argv_at(entry, level):
    """The entry's compiler command at optimization @level, writing no object."""
    return compile_args(entry, lambda a: a.startswith("-O") and len(a) <= 3) + [level, "-o", os.devnull]


sources = {}
for e in entries:
    path = os.path.realpath(os.path.join(e["directory"], e["file"]))
    rel = os.path.relpath(path, src)
    if rel.endswith(".c") and not rel.startswith("..") and rel not in sources:
        sources[rel] = e
if not sources:
    print("1..0 # SKIP no C sources in compile_commands.json")
    sys.exit(77)


def check(job):
    rel, level = job
    e = sources[rel]
    r = subprocess.run(argv_at(e, level), cwd=e["directory"], capture_output=True, text=True)
    return rel, level, r


jobs = [(rel, level) for level in LEVELS for rel in sorted(sources)]
n = failed = 0
with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
    for rel, level, r in pool.map(check, jobs):
        n += 1
        if r.returncode == 0:
            print("ok %d - %s compiles at %s" % (n, rel, level))
            continue
        failed += 1
        print("not ok %d - %s compiles at %s" % (n, rel, level))
        errors = [l for l in r.stderr.splitlines() if " error: " in l or l.startswith("error:")]
        for l in (errors or r.stderr.splitlines())[:10]:
            print("#   " + l)
print("1..%d" % n)
sys.exit(1 if failed else 0)
