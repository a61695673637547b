#!/bin/bash
# The README's test command: install, build, run every suite in three
# build directories, name each failed test (its build directory, name and
# first "not ok" lines), and end with one line "N passed, N failed, N
# skipped" summing meson's results of all of them: a CI log kept only by its
# end still says what failed.
#   build/          gcc: unit, functional, fuzz (seed replay), system (a real
#                   systemd booted with systemd-nspawn; tests/system/), runtime
#                   (the shipped Kubernetes examples in podman; tests/runtime/),
#                   guest (a real Linux guest through the launcher; tests/guest/),
#                   libvirt (Debian's libvirtd as a pod uid; tests/libvirt/);
#                   the Go client's tests are meson tests of these suites
#                   (tests/go/), so they count in the closing line like any other
#   build-sanitize/ gcc, ASan+UBSan: the same suites but system, runtime,
#                   guest and libvirt, the broker with its default client
#                   loops (DELEGATE_TEST_BROKER_THREADS=default); any report fails
#   build-fuzz/     clang, libFuzzer+ASan+UBSan: the fuzz suite, briefly
#                   (DELEGATE_FUZZ_SECONDS per target, default 20; also
#                   go test -fuzz for the Go client's reply decoder)
# Arguments go to the first two "meson test" runs (e.g. --suite unit).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
tools/build.sh
status=0
meson test -C build --print-errorlogs "$@" || status=$?

# Sanitizers: halt on the first report so that it fails the test that
# caused it (the harness checks the broker's exit status; helpers and
# clients exit non-zero).  Leak checking stays on: a leak is a bug.
export ASAN_OPTIONS=halt_on_error=1:abort_on_error=0:detect_leaks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
if [ ! -f build-sanitize/build.ninja ]; then
        meson setup build-sanitize -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
fi
ninja --quiet -C build-sanitize
# the broker's own default number of client loops here (one below four CPUs, what small nodes
# run), where the gcc build ran the harness's --threads 2
DELEGATE_TEST_BROKER_THREADS=${DELEGATE_TEST_BROKER_THREADS:-default} \
        meson test -C build-sanitize --print-errorlogs --no-suite system --no-suite runtime --no-suite guest --no-suite libvirt "$@" || status=$?

if [ ! -f build-fuzz/build.ninja ]; then
        CC=clang meson setup build-fuzz -Dfuzz=enabled -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
fi
ninja --quiet -C build-fuzz
DELEGATE_FUZZ_SECONDS=${DELEGATE_FUZZ_SECONDS:-20} meson test -C build-fuzz --print-errorlogs --suite fuzz || status=$?

python3 - build/meson-logs/testlog.json build-sanitize/meson-logs/testlog.json \
        build-fuzz/meson-logs/testlog.json <<'PY' || status=1
import json, re, sys
# a sanitizer report that did not make its test fail still fails it here
report = re.compile(r"runtime error:|ERROR: AddressSanitizer|ERROR: LeakSanitizer|SUMMARY: UndefinedBehaviorSanitizer")
passed = failed = skipped = 0
named = []  # the failed tests, said again right before the last line: a log kept only by its end names them
for path in sys.argv[1:]:
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            t = json.loads(line)
            r = t.get("result", "")
            out = (t.get("stdout") or "") + (t.get("stderr") or "")
            if r in ("OK", "EXPECTEDFAIL") and report.search(out):
                print(f"{path}: {t.get('name')}: a sanitizer report in a passing test", file=sys.stderr)
                r = "FAIL"
            if r in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif r == "SKIP":
                skipped += 1
            else:
                failed += 1
                notok = [l for l in (t.get("stdout") or "").splitlines() if l.startswith("not ok")]
                named.append(f"FAILED {path.split('/')[0]}: {t.get('name')} ({r})"
                             + "".join(f"\n    {l[:200]}" for l in notok[:3])
                             + (f"\n    (+{len(notok) - 3} more)" if len(notok) > 3 else ""))
for line in named:
    print(line)
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed else 0)
PY
exit $status
