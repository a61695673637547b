#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""check-docs - the docs tell the truth about the binaries (TAP output).

What the built binaries say is compared with what the man pages say:
  - every long option a binary's --help lists is documented in its man
    page, and every option the man page documents is in --help;
  - every operation the broker knows (asked from delegatectl's offline
    policy explain, which answers an unknown operation with the list the
    library was built with) has its own section in delegate-protocol(7)
    and is named in delegatectl(1), delegate-broker(8) and the README;
  - no page or README points outside the repository (../shared/...).

Arguments: SOURCE_ROOT BUILD_ROOT.
"""
import os
import re
import subprocess
import sys

src, build = sys.argv[1], sys.argv[2]
n = 0
failed = 0


def ok(cond, what, diag=None):
    global n, failed
    n += 1
    print(("ok %d - %s" if cond else "not ok %d - %s") % (n, what))
    if not cond:
        failed += 1
        for line in (diag or "").splitlines():
            print("#   " + line)


def read(rel):
    with open(os.path.join(src, rel), encoding="utf-8") as f:
        return f.read()


def run(argv):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    return p.stdout


OPT = re.compile(r"(?<![\w-])--([a-z][a-z0-9-]+)")


def help_options(exe):
    return set(OPT.findall(run([exe, "--help"])))


def man_options(page, defined_only):
    """Options written *--name* in the page; with @defined_only, those of definition-list
    terms (lines starting with *-), not the ones prose mentions in passing (another
    binary's, say)."""
    text = read("man/" + page)
    if defined_only:
        lines = text.splitlines() + [""]
        text = "\n".join(l for l, nxt in zip(lines, lines[1:]) if l.startswith("*-") and nxt.startswith("\t"))
    return set(re.findall(r"\*--([a-z][a-z0-9-]+)", text))


binaries = [
    ("broker/delegate-broker", "delegate-broker.8.scd"),
    ("launcher/delegate-launcher", "delegate-launcher.1.scd"),
    ("tools/delegatectl", "delegatectl.1.scd"),
    ("tools/delegate-run", "delegate-run.1.scd"),
]
for exe, page in binaries:
    have = help_options(os.path.join(build, exe))
    doc = man_options(page, False)
    defined = man_options(page, True)
    name = os.path.basename(exe)
    ok(len(have) > 0, "%s --help lists options (%d)" % (name, len(have)))
    missing = sorted(have - doc)
    ok(not missing, "every option of %s --help is documented in %s" % (name, page),
       "undocumented: " + " ".join("--" + o for o in missing))
    extra = sorted(defined - have)
    ok(not extra, "every option %s documents is in %s --help" % (page, name),
       "not in --help: " + " ".join("--" + o for o in extra))

# delegatectl's commands: each one --help lists is in the man page's SYNOPSIS
usage = run([os.path.join(build, "tools/delegatectl"), "--help"])
verbs = sorted(set(re.findall(r"^  ([a-z][a-z-]*(?: (?:create|destroy|run|check|explain))?)(?=\s)", usage, re.M)))
ctl_page = read("man/delegatectl.1.scd")
synopsis = ctl_page[ctl_page.index("# SYNOPSIS"):ctl_page.index("# DESCRIPTION")]
ok(len(verbs) >= 10, "delegatectl --help lists its commands (%s)" % ", ".join(verbs))
for v in verbs:
    ok("*%s*" % v in synopsis, "delegatectl(1)'s SYNOPSIS has '%s'" % v)

# the operations, from the binary
out = run([os.path.join(build, "tools/delegatectl"), "policy", "explain", "--policy-dir",
           os.path.join(src, "policy/examples"), "--uid", "107", "--cgroup", "/kubepods.slice/x", "--vm", "v",
           "no-such.op", "{}"])
m = re.search(r"API \d+ knows: ([^)]*)\)", out)
ops = [o.strip() for o in m.group(1).split(",")] if m else []
ok(len(ops) >= 5, "the library names the operations it knows (%s)" % ", ".join(ops), out)
protocol = read("man/delegate-protocol.7.scd")
ctl = read("man/delegatectl.1.scd")
broker = read("man/delegate-broker.8.scd")
m = re.search(r"The operations of API version \d+ are (.*?)\(see", broker, re.S)
listed = re.findall(r"\*([a-z][a-z.-]+)\*", m.group(1)) if m else []
ok(sorted(listed) == sorted(ops), "delegate-broker(8)'s DESCRIPTION lists exactly the operations",
   "listed: %s\nknown: %s" % (", ".join(listed), ", ".join(ops)))
readme = read("README.md")
for op in ops:
    ok(re.search(r"^## %s$" % re.escape(op), protocol, re.M) is not None,
       "delegate-protocol(7) has a section '## %s'" % op)
    for text, where in ((ctl, "delegatectl(1)"), (broker, "delegate-broker(8)"), (readme, "README.md")):
        ok(re.search(r"(?<![\w.-])%s(?![\w-])" % re.escape(op), text) is not None, "%s names %s" % (where, op))

# nothing points outside the repository
for rel in ["README.md"] + ["man/" + p for p in sorted(os.listdir(os.path.join(src, "man"))) if p.endswith(".scd")]:
    text = read(rel)
    ok("../shared" not in text and "DESIGN.md" not in text, "%s points nowhere outside the repository" % rel)

print("1..%d" % n)
sys.exit(1 if failed else 0)
