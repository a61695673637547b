#!/usr/bin/env python3
"""check-32bit.py - the broker's and its libraries' sources compile for a
32-bit target (i386: what armhf and i386 Debian builds see too): each .c of
common/, engine/, libdelegate/, broker/ and launcher/ is checked with its
own command from the build's compile_commands.json (-Werror kept, as a
distribution's 32-bit build of the project would have it), -m32
-fsyntax-only added: a _Static_assert that holds for LP64 alone, a type
that does not exist there, a constant that is an expression there (glibc's
SO_RCVTIMEO on i386 is one: not for #if), a comparison whose signedness
differs there, a format that does not fit the type there.

Skipped (77) when the compiler cannot build for -m32 here (Debian:
libc6-dev-i386 and gcc-multilib, tools/install-deps.sh).

Arguments: SOURCE_ROOT BUILD_ROOT.
"""
import json
import os
import subprocess
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from compile_args import compile_args  # noqa: E402

src, build = os.path.realpath(sys.argv[1]), os.path.realpath(sys.argv[2])
DIRS = ("common", "engine", "libdelegate", "broker", "launcher")

with open(os.path.join(build, "compile_commands.json")) as f:
    entries = json.load(f)


def argv32(entry):
    """The entry's compiler command for a syntax check of a 32-bit build."""
    return compile_args(entry, lambda a: a == "-c" or a.startswith("-fsanitize")) + ["-m32", "-fsyntax-only"]


sources = []
for e in entries:
    path = os.path.realpath(os.path.join(e["directory"], e["file"]))
    rel = os.path.relpath(path, src)
    if rel.endswith(".c") and rel.split(os.sep)[0] in DIRS and rel not in [s[0] for s in sources]:
        sources.append((rel, e))
if not sources:
    print("1..0 # SKIP no sources of %s in compile_commands.json" % ", ".join(DIRS))
    sys.exit(77)

# can this compiler build for i386 here at all?
cc = argv32(sources[0][1])[0]
# (the C library's headers and the kernel's asm/ ones, which <sys/socket.h> includes)
probe = subprocess.run([cc, "-m32", "-fsyntax-only", "-x", "c", "-"],
                       input="#include <pthread.h>\n#include <sys/socket.h>\n#include <linux/types.h>\n",
                       capture_output=True, text=True)
if probe.returncode != 0:
    print("1..0 # SKIP %s -m32 cannot compile here (no 32-bit headers: libc6-dev-i386, gcc-multilib): %s"
          % (cc, probe.stderr.strip().splitlines()[-1] if probe.stderr.strip() else "?"))
    sys.exit(77)

n = failed = 0
for rel, e in sorted(sources, key=lambda s: s[0]):
    r = subprocess.run(argv32(e), cwd=e["directory"], capture_output=True, text=True)
    n += 1
    errors = [l for l in r.stderr.splitlines() if " error: " in l or l.startswith("error:")]
    if r.returncode == 0:
        print("ok %d - %s compiles for i386" % (n, rel))
    else:
        failed += 1
        print("not ok %d - %s compiles for i386" % (n, rel))
        for l in (errors or r.stderr.splitlines())[:10]:
            print("#   " + l)
print("1..%d" % n)
sys.exit(1 if failed else 0)
