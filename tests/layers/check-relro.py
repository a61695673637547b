#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""check-relro.py - the installed binaries and libdelegate are linked with
full RELRO: a PT_GNU_RELRO segment and BIND_NOW (every symbol bound at load,
no lazy binding later, which would leave bytes of a request in the vector
registers the dynamic linker saves on the stack at a first call).

Reads the ELF files with readelf(1), not the build's own flags; TAP output.
Usage: check-relro.py FILE...
"""
import subprocess
import sys


def main():
    files = sys.argv[1:]
    print("1..%d" % (2 * len(files)))
    n = 0
    bad = 0
    for f in files:
        try:
            out = subprocess.run(["readelf", "-W", "-d", "-l", f], check=True, capture_output=True,
                                 text=True).stdout
        except (OSError, subprocess.CalledProcessError) as e:
            out = ""
            print("# readelf %s failed: %s" % (f, e))
        relro = any(line.split()[:1] == ["GNU_RELRO"] for line in out.splitlines())
        now = any(("(BIND_NOW)" in line) or ("(FLAGS_1)" in line and " NOW" in line) or
                  ("(FLAGS)" in line and "BIND_NOW" in line) for line in out.splitlines())
        for ok, what in ((relro, "a GNU_RELRO segment"), (now, "BIND_NOW (no lazy binding)")):
            n += 1
            bad += not ok
            print("%s %d - %s has %s" % ("ok" if ok else "not ok", n, f, what))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
