#!/bin/bash
# Build the test guest from Debian's packages, cached in DIR (default
# /var/cache/delegate-tests/guest): the kernel of linux-image-amd64
# (vmlinuz taken out of the package with dpkg-deb, nothing installed on
# this host), busybox-static, and an initramfs (cpio, newc) holding busybox,
# tests/guest/guest-init.sh as /init and the virtio modules eth0 and vda need,
# dependencies resolved from the modules' own "depends" fields.
# Rebuilt when a file is missing or this script or the init changed.
# Prints what it has, one "key=value..." line each: the files
# (vmlinuz=... initrd=... busybox=...), kernel=PACKAGE (RELEASE), and
# accel=kvm or accel=tcg: WHY (see accel() below).
set -euo pipefail
for t in apt-get dpkg-deb modinfo cpio gzip; do
        command -v $t >/dev/null || { echo "build-guest: $t is missing (tools/install-deps.sh)" >&2; exit 1; }
done
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:-/var/cache/delegate-tests/guest}
stamp=$(cat "$here/build-guest.sh" "$here/guest-init.sh" | sha256sum | cut -c1-16)
out=$dir/$stamp
# Can this host's KVM run the guest's kernel?  (A paravirtual /dev/kvm may
# run firmware but hang in a real kernel.)  Boot it once with KVM, as root,
# and wait for its first console line; the answer is cached per host kernel
# and QEMU version.  Prints "kvm" or "tcg: why".
accel() {
        local key f log
        key=$(uname -r)-$(qemu-system-x86_64 --version | head -n1 | sha256sum | cut -c1-8)
        f=$dir/accel.$key
        if [ ! -s "$f" ]; then
                if ! [ -c /dev/kvm ]; then
                        echo "tcg: no /dev/kvm" > "$f"
                else
                        log=$(mktemp "$dir/probe.XXXXXX")
                        timeout 20 qemu-system-x86_64 -nodefaults -no-user-config -display none -accel kvm -m 256 \
                                -no-reboot -kernel "$out/vmlinuz" -initrd "$out/initrd.img" \
                                -append "console=ttyS0 quiet panic=-1 dt.probe=1" -serial "file:$log" \
                                >/dev/null 2>&1 || true
                        if grep -q "DT: init" "$log"; then
                                echo kvm > "$f"
                        else
                                echo "tcg: /dev/kvm exists, but a guest kernel booted with KVM printed nothing in 20 s" > "$f"
                        fi
                        rm -f "$log"
                fi
        fi
        cat "$f"
}
report() {
        echo "vmlinuz=$out/vmlinuz initrd=$out/initrd.img busybox=$out/busybox"
        echo "kernel=$(cat "$out/kernel")"
        echo "accel=$(accel)"
}
if [ -s "$out/vmlinuz" ] && [ -s "$out/initrd.img" ] && [ -x "$out/busybox" ] && [ -s "$out/kernel" ]; then
        report
        exit 0
fi
mkdir -p "$dir"
work=$(mktemp -d "$dir/build.XXXXXX")
chmod 0755 "$work" # apt-get download runs as _apt
trap 'rm -rf "$work"' EXIT
cd "$work"
# linux-image-amd64 is a metapackage: its dependency is the kernel
kernel_pkg() {
        apt-cache depends linux-image-amd64 | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -n1 | grep . ||
                { echo "build-guest: apt knows no linux-image-amd64" >&2; return 1; }
}
download() { apt-get -o DPkg::Lock::Timeout=900 -q download "$(kernel_pkg)" busybox-static >&2; }
if ! download; then
        # a stale package index names files the archive no longer has
        apt-get -o DPkg::Lock::Timeout=900 -q update >&2
        download
fi
kpkg=$(kernel_pkg)
dpkg-deb -x busybox-static_*.deb bb
dpkg-deb -x "$kpkg"_*.deb k
root=$work/root
mkdir -p "$root"/bin "$root"/lib/modules
cp bb/bin/busybox "$root/bin/busybox"
install -m 0755 "$here/guest-init.sh" "$root/init"
kver=$(ls k/lib/modules)
mods=k/lib/modules/$kver
modfile() { find "$mods" -name "$(echo "$1" | sed 's/[-_]/[-_]/g').ko" | head -n1; }
builtin() { grep -q "/$(echo "$1" | sed 's/[-_]/[-_]/g').ko$" "$mods/modules.builtin"; }
: > order
# depth first: a module after everything it depends on
add() {
        local m=$1 f d
        grep -qx "$m" order && return 0
        if builtin "$m"; then echo "build-guest: $m is built into the kernel" >&2; return 0; fi
        f=$(modfile "$m")
        [ -n "$f" ] || { echo "build-guest: module $m is not in $kpkg" >&2; exit 1; }
        for d in $(modinfo -F depends "$f" | tr ',' ' '); do add "$d"; done
        cp "$f" "$root/lib/modules/$m.ko"
        echo "$m" >> order
}
add virtio_pci
add virtio_net
add virtio_blk
cp order "$root/lib/modules/order"
echo "build-guest: modules $(tr '\n' ' ' < order)" >&2
(cd "$root" && find . | cpio -o -H newc --quiet) | gzip -1 > initrd.img
# older builds (another stamp) go
find "$dir" -mindepth 1 -maxdepth 1 -type d ! -name "$stamp" ! -name "build.*" -exec rm -rf {} +
rm -f "$dir"/accel.*
mkdir -p "$out.new"
cp "k/boot/vmlinuz-$kver" "$out.new/vmlinuz"
cp initrd.img "$out.new/initrd.img"
cp bb/bin/busybox "$out.new/busybox"
echo "$kpkg ($kver)" > "$out.new/kernel"
chmod -R a+rX "$out.new"
rm -rf "$out" && mv "$out.new" "$out"
report
