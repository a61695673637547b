#!/bin/bash
# Runs inside a private mount namespace (see tools/demo.sh).
set -euo pipefail
B=$PWD/build
POLICY=$PWD/policy/examples
POD_UID=107
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

mount -t tmpfs -o mode=0755 tmpfs /run
CG=$(awk '$0 ~ / - cgroup2 / { print $5; exit }' /proc/self/mountinfo)
[ -n "$CG" ] || { echo "no cgroup v2 hierarchy mounted" >&2; exit 1; }
NODE=$CG/delegate-demo.$$
POD=$NODE/kubepods.slice/pod-demo
mkdir -p "$POD"
BROKER=
cleanup() {
        [ -n "$BROKER" ] && kill "$BROKER" 2>/dev/null && wait "$BROKER" 2>/dev/null || true
        echo 1 > "$NODE/cgroup.kill" 2>/dev/null || true
        sleep 0.2
        rmdir "$POD" "$NODE/kubepods.slice" "$NODE" 2>/dev/null || true
}
trap cleanup EXIT

say "policy: $POLICY"
"$B/tools/delegatectl" policy check "$POLICY"

say "starting delegate-broker (decisions are logged below, prefixed 'delegate-broker:')"
"$B/broker/delegate-broker" --foreground --policy-dir "$POLICY" &
BROKER=$!
for _ in $(seq 100); do [ -S /run/delegate/broker.sock ] && break; sleep 0.05; done
"$B/tools/delegatectl" ping

# the pod: an unprivileged uid inside its own cgroup below kubepods.slice
in_pod() {
        bash -c 'echo $$ > "$1/cgroup.procs"; shift; exec setpriv --reuid '$POD_UID' --regid '$POD_UID' --clear-groups -- "$@"' \
                pod "$POD" "$@"
}

say "what the policy would decide (offline): pod uid $POD_UID asks for 2 GiB"
"$B/tools/delegatectl" policy explain --policy-dir "$POLICY" --uid $POD_UID \
        --cgroup "${POD#$CG}" --vm demo-vm memlock.set '{"pid":0,"soft":"2G"}' || true

# pick values below the hard limit in force here (it may be small)
HARD=$(awk '/^Max locked memory/ { print $5 }' /proc/self/limits)
[ "$HARD" = unlimited ] && HARD=$((64 << 20))
LOW_KIB=$((HARD / 4 / 1024)); WANT=$((HARD / 2))
say "pod process (uid $POD_UID, cgroup ${POD#$CG}) lowers its soft RLIMIT_MEMLOCK to $LOW_KIB KiB, then asks the broker for $WANT bytes"
in_pod bash -c "ulimit -S -l $LOW_KIB; grep 'locked' /proc/\$\$/limits; \
        '$B/tools/delegatectl' --vm demo-vm memlock --pid 0 --soft $WANT && echo '(the broker acted as the pod user: no capability was given to the pod)'"

say "the pod asks for more than the policy allows (128 GiB): denied, naming the rule"
in_pod "$B/tools/delegatectl" --vm demo-vm memlock --pid 0 --soft 128G --hard 128G || true

say "the pod asks to raise its hard limit (16 GiB): needs CAP_SYS_RESOURCE in the broker"
in_pod "$B/tools/delegatectl" --vm demo-vm memlock --pid 0 --soft 16G --hard 16G || true

say "the pod names a process that is not its own (pid 1): refused"
in_pod "$B/tools/delegatectl" --vm demo-vm memlock --pid 1 --soft $WANT || true

# --- the main job: a real VM from the unprivileged pod ---
if [ -c /dev/kvm ]; then
        say "the pod gets its own network namespace with a bridge br0, and /dev/kvm as a device plugin would give it"
else
        say "the pod gets its own network namespace with a bridge br0 (this host has no /dev/kvm: the VM will use TCG)"
fi
ip netns add pod-demo
ip -n pod-demo link set lo up
ip -n pod-demo link add br0 type bridge
ip -n pod-demo link set br0 up
if [ -c /dev/kvm ]; then
        # only in this sandbox's mount namespace
        mknod -m 0600 /run/kvm-pod c 10 232 && chown $POD_UID:$POD_UID /run/kvm-pod && mount --bind /run/kvm-pod /dev/kvm
fi
VMDIR=/run/vm-demo
mkdir -p $VMDIR && chown $POD_UID:$POD_UID $VMDIR
say "a LUKS-encrypted qcow2 boot disk (qemu-img), its passphrase in a file as a Kubernetes Secret volume gives it"
head -c 24 /dev/urandom | base64 | tr -d '\n' > $VMDIR/disk.key
# the guest: a boot sector that writes one line to the serial console and halts
# (xor ax,ax; mov ds,ax; cld; mov si,7C16h; mov dx,3F8h; lodsb; test al,al; jz +3; out dx,al; jmp -8; hlt; jmp -3)
{ printf '\x31\xc0\x8e\xd8\xfc\xbe\x16\x7c\xba\xf8\x03\xac\x84\xc0\x74\x03\xee\xeb\xf8\xf4\xeb\xfd'
  printf 'hello from the guest: booted from the encrypted disk\r\n\0'; } > $VMDIR/plain.img
printf '\x55\xaa' | dd of=$VMDIR/plain.img bs=1 seek=510 conv=notrunc status=none
truncate -s 1M $VMDIR/plain.img
# qemu-img times PBKDF2 by thread CPU time; on a tick-accounting kernel a round may count 0 ms
# ("Unable to get accurate CPU usage"): try again
for _ in 1 2 3 4 5 6 7 8; do
        qemu-img convert --object secret,id=k,file=$VMDIR/disk.key -O qcow2 \
                -o encrypt.format=luks,encrypt.key-secret=k,encrypt.iter-time=100 $VMDIR/plain.img $VMDIR/root.qcow2 \
                2>$VMDIR/qemu-img.err && break
done
[ -s $VMDIR/root.qcow2 ] || { cat $VMDIR/qemu-img.err >&2; exit 1; }
rm -f $VMDIR/plain.img
chown $POD_UID:$POD_UID $VMDIR/disk.key $VMDIR/root.qcow2 && chmod 0400 $VMDIR/disk.key
cat > $VMDIR/vm.json <<EOF
{ "name": "demo-vm", "qemu": "qemu-system-x86_64", "accel": "auto",
  "memory": "128M", "vcpus": 2,
  "realtime": { "vcpus": "1", "priority": 1, "safety": "dedicated", "cpus": "1" },
  "mem_lock": false, "memlock": $WANT,
  "housekeeping": "housekeeping",
  "nics": [ { "id": "net0", "bridge": "br0", "queues": 2, "mtu": 1500, "mac": "52:54:00:de:00:01",
              "vhost": "optional" } ],
  "disks": [ { "id": "root", "path": "$VMDIR/root.qcow2", "format": "qcow2", "boot": true,
               "encryption": { "format": "luks", "key_file": "$VMDIR/disk.key" } } ],
  "console": { "file": "$VMDIR/console.log" },
  "firmware_log": "$VMDIR/firmware.log",
  "shutdown_timeout": 3 }
EOF
say "delegate-launcher starts QEMU paused as uid $POD_UID in the pod and asks the broker for each privileged step"
cat $VMDIR/vm.json
bash -c 'echo $$ > "$1/cgroup.procs"; exec ip netns exec pod-demo setpriv --reuid '$POD_UID' --regid '$POD_UID' --clear-groups -- "$2/launcher/delegate-launcher" --spec "$3"' \
        pod "$POD" "$B" "$VMDIR/vm.json" > $VMDIR/launcher.log 2>&1 &
LAUNCHER=$!
tail -n +1 -f $VMDIR/launcher.log --pid=$LAUNCHER &
TAILER=$!
for _ in $(seq 600); do grep -q "guest running" $VMDIR/launcher.log && break; [ -d /proc/$LAUNCHER ] || break; sleep 0.1; done
# the firmware boots the disk: wait (bounded) for the guest's line on its console
for _ in $(seq 150); do grep -q "hello from the guest" $VMDIR/console.log 2>/dev/null && break; sleep 0.1; done
QEMU=$(pgrep -f "guest=demo-vm" | head -1 || true)
if [ -n "$QEMU" ]; then
        say "what the kernel says about the running VM (QEMU pid $QEMU, uid $(stat -c %u /proc/$QEMU))"
        grep -E "locked memory|realtime timeout" /proc/$QEMU/limits
        echo "threads: tid, name, cgroup v2, scheduling"
        for t in /proc/$QEMU/task/*; do
                tid=${t##*/}
                printf '  %-8s %-18s %-48s %s\n' "$tid" "$(cat $t/comm)" "$(grep '^0::' $t/cgroup | cut -c4-)" \
                        "$(chrt -p $tid | sed -n 's/.*scheduling policy: //p;s/.*scheduling priority: /prio /p' | paste -sd' ')"
        done
        echo "TAP device in the pod's netns (created by the broker, both queue fds held by QEMU):"
        ip -n pod-demo -d link show vnet0 | sed 's/^/  /'
        echo "vnet0 in the broker's netns? $(ip link show vnet0 >/dev/null 2>&1 && echo yes || echo no)"
        echo "guest firmware log: $(head -n 4 $VMDIR/firmware.log | paste -sd'|')"
        echo "guest console: $(tr -d '\r' < $VMDIR/console.log | head -n 2 | paste -sd'|')"
        echo "the disk key in QEMU's command line or environment? $(grep -qaF "$(cat $VMDIR/disk.key)" /proc/$QEMU/cmdline /proc/$QEMU/environ && echo yes || echo no) (QEMU reads it from a sealed memfd: $(ls -l /proc/$QEMU/fd | grep -c 'memfd:delegate-disk-key') fd)"
        echo "launcher: $(grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/$LAUNCHER/status | tr -s '\t' ' ' | paste -sd' ')"
        echo "broker:   $(grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/$BROKER/status | tr -s '\t' ' ' | paste -sd' ') (see SECURITY in delegate-broker(8))"
fi
say "SIGTERM to the launcher: system_powerdown, quit after the timeout; the session ends"
kill -TERM $LAUNCHER 2>/dev/null || true
wait $LAUNCHER && echo "delegate-launcher exited with status 0" || echo "delegate-launcher exited with status $?"
kill $TAILER 2>/dev/null || true
sleep 0.5
echo "left behind: housekeeping cgroup $( [ -d $POD/housekeeping ] && echo present || echo removed ), vnet0 $(ip -n pod-demo link show vnet0 >/dev/null 2>&1 && echo present || echo removed)"
ip netns delete pod-demo

sleep 0.2
say "done; the sandbox (mount namespace, /run, pod cgroup and netns) is torn down"
