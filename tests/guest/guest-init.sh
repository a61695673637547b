#!/bin/busybox sh
# /init of the test guest (tests/guest/build-guest.sh puts it into the
# initramfs with busybox-static and the kernel package's virtio modules).
# It runs one fixed sequence and reports each step on the console as a line
# "DT: ...", which the host reads from the serial log.  Parameters come from
# the kernel command line:
#   dt.ip=ADDR/LEN   the guest's address on eth0
#   dt.host=ADDR     the pod's bridge (ping target, bulk transfer peer)
#   dt.mib=N         MiB per bulk transfer (0: none)
#   dt.busy=S        keep vCPU 1 busy for S seconds (0: no)
#   dt.probe=1       power off right after the first line (can KVM run us?)
/bin/busybox mkdir -p /proc /sys /dev /tmp /bin /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs tmpfs /tmp
exec </dev/console >/dev/console 2>&1
say() { echo "DT: $*"; }
up() { cut -d' ' -f1 /proc/uptime; }
ip= host= mib=0 busy=0
for w in $(cat /proc/cmdline); do
        case $w in
        dt.ip=*) ip=${w#dt.ip=} ;;
        dt.host=*) host=${w#dt.host=} ;;
        dt.mib=*) mib=${w#dt.mib=} ;;
        dt.busy=*) busy=${w#dt.busy=} ;;
        dt.probe=1) probe=1 ;;
        esac
done
say "init at $(up) s, $(nproc) cpus, kernel $(uname -r)"
[ -n "$probe" ] && poweroff -f
# dependencies first (the order build-guest.sh wrote)
for m in $(cat /lib/modules/order); do
        insmod /lib/modules/$m.ko || say "insmod $m failed"
done
i=0
while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
# a disk, when the spec gives one: what the guest reads from it (QEMU decrypts it)
[ -e /sys/block/vda ] && say "disk vda $(wc -c </dev/vda) bytes $(sha256sum </dev/vda | cut -d' ' -f1)"
[ -e /sys/class/net/eth0 ] || { say "no eth0"; poweroff -f; }
ip link set lo up
ip link set eth0 up
ip addr add "$ip" dev eth0
say "queues $(ls /sys/class/net/eth0/queues | tr '\n' ' ')"
# the first ping may wait for the bridge to learn the port
n=0
until ping -c 1 -W 1 "$host" >/dev/null 2>&1; do
        n=$((n + 1))
        [ $n -ge 30 ] && break
done
if ping -c 3 -W 2 "$host" >/tmp/ping 2>&1; then
        say "network up at $(up) s: $(grep -o '[0-9]* packets received' /tmp/ping) from $host"
else
        say "ping $host failed: $(tail -n 2 /tmp/ping | tr '\n' ' ')"
fi
if [ "$mib" -gt 0 ]; then
        # host to guest: the host's listener on port 5001 sends, then closes.
        # busybox nc stops at EOF on its stdin: give it one that stays open.
        mkfifo /tmp/hold
        exec 3<>/tmp/hold
        t0=$(up)
        n=0
        until nc "$host" 5001 <&3 >/tmp/in 2>/dev/null && [ -s /tmp/in ]; do
                n=$((n + 1)); [ $n -ge 50 ] && break; sleep 0.2; t0=$(up)
        done
        exec 3>&-
        t1=$(up)
        say "rx $(wc -c </tmp/in) bytes $(sha256sum </tmp/in | cut -d' ' -f1) in $t0 $t1"
        rm -f /tmp/in
        # guest to host: port 5002; the host counts the bytes and closes
        dd if=/dev/urandom of=/tmp/out bs=1M count="$mib" 2>/dev/null
        say "tx-sum $(wc -c </tmp/out) bytes $(sha256sum </tmp/out | cut -d' ' -f1)"
        t0=$(up)
        n=0
        until nc "$host" 5002 </tmp/out 2>/dev/null; do
                n=$((n + 1)); [ $n -ge 50 ] && break; sleep 0.2; t0=$(up)
        done
        t1=$(up)
        say "tx done in $t0 $t1"
        rm -f /tmp/out
fi
if [ "$busy" -gt 0 ]; then
        # a polling loop on vCPU 1, as a realtime guest's worker would run
        say "busy start on cpu 1 for $busy s at $(up)"
        taskset 2 sh -c 'while :; do :; done' &
        pid=$!
        sleep "$busy"
        kill $pid
        say "busy end at $(up)"
        ping -c 1 -W 2 "$host" >/dev/null 2>&1 && say "after busy: ping ok" || say "after busy: ping failed"
fi
say "done"
poweroff -f
