#!/bin/bash
# image-root.sh ROOT BUILDDIR - a container image's root file system from
# this host's own files (no registry is reachable here): the build tree's
# delegate-broker, delegate-launcher, delegatectl and libdelegate, Debian's
# QEMU with its firmware, and the shared libraries all of them load (ldd).
set -euo pipefail
root=$1 build=$2
rm -rf "$root"
mkdir -p "$root"/{bin,usr/bin,usr/lib/x86_64-linux-gnu,etc,proc,sys,dev,tmp,run,var/tmp,usr/share}
copy() { # a file with its directory, symlinks followed
        mkdir -p "$root$(dirname "$1")"
        cp -L "$1" "$root$1"
}
bins=(/bin/sh /bin/sleep /bin/cat /usr/bin/qemu-system-x86_64)
for b in "${bins[@]}"; do
        copy "$b"
done
install -m 0755 "$build/broker/delegate-broker" "$build/launcher/delegate-launcher" "$build/tools/delegatectl" \
        "$root/usr/bin/"
cp -L "$build"/libdelegate/libdelegate.so.1 "$root/usr/lib/x86_64-linux-gnu/"
for lib in $(ldd "${bins[@]}" "$build/broker/delegate-broker" "$build/launcher/delegate-launcher" \
                "$build/tools/delegatectl" | grep -o '/[^ ]*\.so[^ ]*' | grep -v libdelegate | sort -u); do
        copy "$lib"
done
cp -a /usr/share/qemu /usr/share/seabios "$root/usr/share/"
# QEMU's firmware links point into seabios; anything else may dangle harmlessly
echo "root:x:0:0:root:/root:/bin/sh" >"$root/etc/passwd"
echo "root:x:0:" >"$root/etc/group"
