#!/bin/bash
# Install what bench/run needs beyond the build dependencies: the
# alternatives it compares against (rtkit + polkit, qemu-bridge-helper,
# dbus-daemon) and gnuplot for the plot.  Only installs what is missing.
set -euo pipefail
pkgs=(rtkit polkitd dbus-daemon qemu-system-x86 gnuplot-nox iproute2 libsystemd-dev)
missing=()
for p in "${pkgs[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
