#!/bin/bash
# image-root.sh ROOT BUILDDIR - a container image's root file system from
# this host's own files (no registry is reachable here): the build tree's
# delegate-broker, delegate-launcher, delegatectl and libdelegate, Debian's
# QEMU with its firmware, option ROMs and TCG module, and the shared libraries all of
# them load (ldd).
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
# QEMU's firmware path on Debian: its data, SeaBIOS, and iPXE's option ROMs (virtio-net needs one)
cp -a /usr/share/qemu /usr/share/seabios "$root/usr/share/"
mkdir -p "$root/usr/lib/ipxe"
cp -a /usr/lib/ipxe/qemu "$root/usr/lib/ipxe/"
# QEMU's loadable modules (Debian builds TCG as one: accel-tcg-x86_64.so) and what they load
mods=/usr/lib/x86_64-linux-gnu/qemu
mkdir -p "$root$mods"
cp -a "$mods/accel-tcg-x86_64.so" "$root$mods/"
for lib in $(ldd "$mods/accel-tcg-x86_64.so" | grep -o '/[^ ]*\.so[^ ]*' | sort -u); do
        [ -e "$root$lib" ] || copy "$lib"
done
# QEMU's firmware links point into seabios; anything else may dangle harmlessly
echo "root:x:0:0:root:/root:/bin/sh" >"$root/etc/passwd"
echo "root:x:0:" >"$root/etc/group"
