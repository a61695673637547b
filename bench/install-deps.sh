#!/bin/bash
# Install what bench/run needs beyond the build dependencies: the
# alternatives it compares against (rtkit + polkit, qemu-bridge-helper,
# dbus-daemon), gnuplot for the plot, and what tests/guest/build-guest.sh
# needs for the real-guest section (kmod, cpio, python3), strace for the
# syscalls section, valgrind for the instructions section, and linux-perf
# when PERF=1 asks for profiles.  Only
# installs what is missing.
set -euo pipefail
pkgs=(rtkit polkitd dbus-daemon qemu-system-x86 gnuplot-nox iproute2 libsystemd-dev kmod cpio python3 strace valgrind)
[ -n "${PERF:-}" ] && pkgs+=(linux-perf)
missing=()
for p in "${pkgs[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=900 update -qq
apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
