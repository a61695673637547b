#!/bin/bash
# Install what delegate needs to build, test and demo on Debian 12.
set -euo pipefail
if [ "$(id -u)" != 0 ]; then
        echo "install-deps: run as root (apt-get)" >&2
        exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# other installs may run at the same time: wait for the dpkg lock
apt-get -o DPkg::Lock::Timeout=900 update -qq
# kmod (modinfo) and cpio: the guest suite builds its initramfs (tests/guest/build-guest.sh)
# util-linux (prlimit, chrt), iproute2 and net-tools (ifconfig): the unmodified programs
# tests/functional/test-unotify.c runs under delegate-run
# libvirt-*: the libvirt suite runs Debian's libvirtd unmodified (tests/libvirt/)
# strace: tests/unit/test-state.c sees the state directory's fsync(2)
# libc6-dev-i386 and gcc-multilib: tests/layers/check-32bit.py compiles the broker for a 32-bit target
# (the second gives -m32 the kernel's asm/ headers: without it <sys/socket.h> does not compile there)
apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends \
        meson ninja-build pkg-config gcc libc6-dev libc6-dev-i386 gcc-multilib clang libclang-rt-14-dev \
        libyajl-dev nettle-dev libsystemd-dev libcap-ng-dev libseccomp-dev libnl-3-dev libnl-route-3-dev \
        scdoc util-linux iproute2 net-tools python3 strace \
        qemu-system-x86 qemu-utils dbus golang-go kmod cpio \
        systemd-container debootstrap podman runc python3-yaml \
        libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients >/dev/null
