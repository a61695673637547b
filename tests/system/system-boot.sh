#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The shipped systemd deployment under a real systemd (meson suite "system").
#
# Boots systemd 252 with "systemd-nspawn -b" over a Debian 12 root file
# system that this test builds with debootstrap from the Debian mirror of
# /etc/apt/sources.list (cached in /var/cache/delegate-tests/system/,
# rebuilt when missing or when the package list changes), installs the
# project into it by running the README's "Installing on a systemd host"
# recipe (meson and ninja lines on this host, "ninja ... install" with
# DESTDIR set to the container's root; every other line inside the booted
# container), and asserts from inside: systemd-analyze verify and security,
# socket activation, the broker's privileges in /proc, D-Bus activation and
# introspection, the audit records in the journal, reload, restarts with a
# running VM (delegate-launcher, QEMU with TCG), a seccomp kill followed by
# Restart=on-failure, and delegatectl tap create --exec across a restart.
#
# This machine's PID 1 is not systemd and its cgroups are hybrid, so the
# container gets a cgroup2 hierarchy of its own: nspawn runs in a private
# mount namespace with the v2 hierarchy (found in /proc/self/mountinfo)
# mounted on /sys/fs/cgroup, from a cgroup made for this run.
#
# Output: TAP.  Exit 77 (skip) only when a kernel feature is missing.
set -u
SRC=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${DELEGATE_SYSTEM_CACHE:-/var/cache/delegate-tests/system}
ID=dsys$$
n=0
failed=0
ok() { # ok STATUS DESCRIPTION
        n=$((n + 1))
        if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed + 1)); fi
}
is() { # is GOT WANT DESCRIPTION
        if [ "$1" = "$2" ]; then ok 0 "$3"; else ok 1 "$3 (got '$1', want '$2')"; fi
}
say() { echo "# $*"; }
bail() { echo "Bail out! $*"; exit 1; }

[ "$(id -u)" = 0 ] || bail "needs root"
for t in systemd-nspawn debootstrap meson ninja unshare nsenter; do
        command -v $t >/dev/null || bail "$t is missing: run tools/install-deps.sh"
done
CG2=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
if [ -z "$CG2" ]; then
        echo "1..0 # SKIP no cgroup v2 hierarchy mounted on this machine (systemd in the container needs one)"
        exit 77
fi
grep -q overlay /proc/filesystems || { echo "1..0 # SKIP no overlayfs in this kernel"; exit 77; }

WORK=$(mktemp -d /var/tmp/delegate-system.XXXXXX)
NSPAWN=
LEADER=
cleanup() {
        if [ -n "$LEADER" ] && [ -d /proc/$LEADER ]; then
                nsenter -t "$LEADER" -a -- systemctl poweroff >/dev/null 2>&1
        fi
        if [ -n "$NSPAWN" ]; then
                for _ in $(seq 100); do kill -0 "$NSPAWN" 2>/dev/null || break; sleep 0.2; done
                kill -9 "$NSPAWN" 2>/dev/null
                wait "$NSPAWN" 2>/dev/null
        fi
        [ -d "$CG2/$ID" ] && find "$CG2/$ID" -depth -type d -exec rmdir {} + 2>/dev/null
        rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' TERM INT

# --- the README's recipe ---------------------------------------------------
# The first ```sh block after the heading "### Installing on a systemd host".
awk '/^### Installing on a systemd host/ { h = 1; next }
     h && /^```sh/ { b = 1; next }
     b && /^```/ { exit }
     b { print }' "$SRC/README.md" | sed 's/[[:space:]]*#.*//; /^[[:space:]]*$/d' >"$WORK/recipe"
[ -s "$WORK/recipe" ] || bail "README.md has no \"### Installing on a systemd host\" sh block"
say "the README's recipe:"
sed 's/^/#   /' "$WORK/recipe"

# a copy of the source tree, without build directories
mkdir "$WORK/src" "$WORK/upper" "$WORK/ovl" "$WORK/root"
tar -C "$SRC" --exclude='./build*' --exclude=./.git -cf - . | tar -C "$WORK/src" -xf - || bail "cannot copy the source"

# meson and ninja lines run here, installing into a staging root first
STAGE="$WORK/stage"
mkdir "$STAGE"
t0=$(date +%s)
while read -r line; do
        case "$line" in
        meson* | ninja*)
                say "host: $line"
                (cd "$WORK/src" && DESTDIR="$STAGE" bash -c "$line") >"$WORK/build.log" 2>&1 ||
                        { tail -30 "$WORK/build.log"; bail "the recipe's '$line' failed"; } ;;
        esac
done <"$WORK/recipe"
say "built and installed in $(($(date +%s) - t0)) s"
[ -x "$STAGE/usr/sbin/delegate-broker" ] || bail "the recipe installed no /usr/sbin/delegate-broker"
ok "$([ -d "$STAGE/etc/delegate/policy.d" ]; echo $?)" "the recipe creates the policy directory /etc/delegate/policy.d"
ok "$([ -f "$STAGE/usr/share/dbus-1/system.d/org.delegate.Broker1.conf" ]; echo $?)" \
        "the bus policy goes where dbus-daemon reads it (/usr/share/dbus-1/system.d)"

# --- the root file system ---------------------------------------------------
# Debian packages of the libraries the installed binaries link with, plus
# systemd, dbus, iproute2 and QEMU.
libpkgs=$(for f in "$STAGE"/usr/sbin/* "$STAGE"/usr/bin/*; do
        LD_LIBRARY_PATH=$(dirname "$(find "$STAGE" -name 'libdelegate.so.*' | head -1)") ldd "$f"
done | awk '$3 ~ /^\// && $1 !~ /libdelegate/ { print $3 }' | sort -u | while read -r lib; do
        # merged /usr: dpkg knows one of the two names
        dpkg -S "$lib" 2>/dev/null || dpkg -S "/usr$lib" 2>/dev/null || dpkg -S "${lib#/usr}" 2>/dev/null ||
                echo "# no package has $lib" >&2
done | sed 's/:.*//' | sort -u | tr '\n' ' ')
PKGS=$(echo "systemd systemd-sysv dbus iproute2 util-linux qemu-system-x86 $libpkgs" | tr ' ' '\n' | sed '/^$/d' | sort -u | tr '\n' ',')
PKGS=${PKGS%,}
MIRROR=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
        sed -n 's/^URIs:[[:space:]]*//p; s/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([a-z]\+:[^[:space:]]*\)[[:space:]]\+bookworm[[:space:]].*/\2/p' |
        tr ' ' '\n' | grep -v security | grep debian | head -1)
[ -n "$MIRROR" ] || bail "no Debian mirror in /etc/apt/sources.list"
KEY=$(echo "bookworm $PKGS" | sha256sum | cut -c1-16)
ROOTFS="$CACHE/bookworm-$KEY"
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9
if [ ! -f "$ROOTFS/.complete" ]; then
        say "building the root file system $ROOTFS from $MIRROR (packages: $PKGS)"
        t0=$(date +%s)
        rm -rf "$ROOTFS.tmp" "$ROOTFS"
        debootstrap --variant=minbase --include="$PKGS" bookworm "$ROOTFS.tmp" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 ||
                { tail -20 "$WORK/debootstrap.log"; bail "debootstrap failed"; }
        rm -rf "$ROOTFS.tmp/var/cache/apt/archives/"*.deb
        touch "$ROOTFS.tmp/.complete"
        mv "$ROOTFS.tmp" "$ROOTFS"
        say "root file system built in $(($(date +%s) - t0)) s"
        # older ones are not used any more
        find "$CACHE" -maxdepth 1 -name 'bookworm-*' ! -name "bookworm-$KEY" -exec rm -rf {} +
fi
flock -u 9
say "root file system: $ROOTFS"

# --- boot --------------------------------------------------------------------
mkdir "$CG2/$ID" || bail "cannot make cgroup $CG2/$ID"
echo $$ >"$CG2/$ID/cgroup.procs"
setsid unshare -m --propagation private bash -c '
        mount -t overlay overlay -o lowerdir="$1",upperdir="$2/upper",workdir="$2/ovl" "$2/root" || exit 1
        cp -a "$2/stage/." "$2/root/" || exit 1
        mount -t cgroup2 cgroup2 /sys/fs/cgroup || exit 1
        exec systemd-nspawn -q -b -D "$2/root" -M "$3" --register=no --keep-unit --private-network \
                --console=pipe >"$2/console.log" 2>&1 </dev/null' _ "$ROOTFS" "$WORK" "$ID" &
NSPAWN=$!
echo $$ >"$CG2/cgroup.procs" 2>/dev/null # this script leaves the container's cgroup
t0=$(date +%s)
for _ in $(seq 300); do
        LEADER=$(cat /proc/$NSPAWN/task/*/children 2>/dev/null | awk '{ print $1 }')
        if [ -n "$LEADER" ] && [ "$(readlink /proc/$LEADER/exe 2>/dev/null)" = "$WORK/root/usr/lib/systemd/systemd" -o \
                "$(cat /proc/$LEADER/comm 2>/dev/null)" = systemd ]; then
                break
        fi
        LEADER=
        kill -0 $NSPAWN 2>/dev/null || break
        sleep 0.1
done
[ -n "$LEADER" ] || { cat "$WORK/console.log"; bail "systemd-nspawn did not start systemd"; }
ct() { nsenter -t "$LEADER" -a -- "$@"; }
for _ in $(seq 300); do # until systemd's private bus answers
        state=$(timeout 90 nsenter -t "$LEADER" -a -- systemctl is-system-running --wait 2>&1) && break
        case "$state" in running | degraded | stopping) break ;; esac
        sleep 0.1
done
say "booted in $(($(date +%s) - t0)) s: $state"
is "$state" running "systemd in the container reaches 'running'" ||
        ct systemctl --failed --no-pager | sed 's/^/# /'
ct systemctl --version | head -1 | sed 's/^/# /'

# --- the recipe's lines for the booted system --------------------------------
while read -r line; do
        case "$line" in
        meson* | ninja*) ;;
        *)
                out=$(ct bash -c "$line" 2>&1)
                ok $? "container: $line"
                [ -n "$out" ] && echo "$out" | sed 's/^/#   /' ;;
        esac
done <"$WORK/recipe"

# client commands in units of their own (pods): systemd-run
run() { ct systemd-run --quiet --wait --pipe --collect "$@"; }

# --- the units ----------------------------------------------------------------
# (--man=no: the minimal root has no man(1); the pages are checked for below)
out=$(ct systemd-analyze verify --man=no delegate-broker.service delegate-broker.socket 2>&1)
ok $? "systemd-analyze verify of both units"
[ -n "$out" ] && echo "$out" | sed 's/^/#   /'
is "$out" "" "systemd-analyze verify says nothing"
for m in man8/delegate-broker.8 man5/delegate-policy.5; do
        ok "$(ct test -f /usr/share/man/$m; echo $?)" "the units' Documentation= $m is installed"
done
sec=$(ct systemd-analyze security --no-pager delegate-broker.service 2>&1)
echo "$sec" | grep '✗' | sed 's/^/#   /'
score=$(echo "$sec" | sed -n 's/.*Overall exposure level for delegate-broker.service: \([0-9.]*\).*/\1/p')
say "systemd-analyze security: exposure $score"
ok "$(awk -v s="$score" 'BEGIN { exit !(s != "" && s <= 2.5) }'; echo $?)" \
        "systemd-analyze security delegate-broker.service: exposure $score <= 2.5"

# --- socket activation ----------------------------------------------------------
is "$(ct systemctl is-active delegate-broker.socket)" active "the socket is listening after the recipe"
is "$(ct systemctl is-active delegate-broker.service)" inactive "the broker is not running before the first connection"
out=$(run delegatectl ping 2>&1)
ok $? "delegatectl ping on the first connection, with the empty policy directory ($out)" ||
        ct journalctl --no-pager -q -o cat -u delegate-broker.service | tail -20 | sed 's/^/#   /'
is "$(ct systemctl is-active delegate-broker.service)" active "the first connection started the broker"
BPID=$(ct systemctl show -P MainPID delegate-broker.service)
say "broker pid $BPID (in the container)"

# --- privileges -------------------------------------------------------------------
status=$(ct cat /proc/$BPID/status)
field() { echo "$status" | awk -v f="$1:" '$1 == f { print $2 }'; }
if grep -q '^CapBnd:.*' /proc/self/status && [ $((0x$(awk '$1 == "CapBnd:" { print $2 }' /proc/self/status) >> 24 & 1)) = 1 ]; then
        want_eff=0000000001a81000 # CAP_NET_ADMIN CAP_SYS_PTRACE CAP_SYS_ADMIN CAP_SYS_RESOURCE CAP_SYS_NICE
else
        want_eff=0000000000a810e0 # without CAP_SYS_RESOURCE: + CAP_KILL CAP_SETGID CAP_SETUID
fi
is "$(field CapEff)" "$want_eff" "the broker's CapEff is what its operations need"
is "$(field CapPrm)" "$want_eff" "CapPrm the same"
is "$(field CapBnd)" 0000000000000000 "its bounding set is empty"
is "$(field CapAmb)" 0000000000000000 "no ambient capabilities"
is "$(field NoNewPrivs)" 1 "NoNewPrivs"
is "$(field Seccomp)" 2 "Seccomp: filter mode (systemd's SystemCallFilter= and the broker's own)"

# --- D-Bus -------------------------------------------------------------------------
ct systemctl stop delegate-broker.service
is "$(ct systemctl is-active delegate-broker.service)" inactive "the broker stopped (the socket stays)"
out=$(ct busctl get-property org.delegate.Broker1 /org/delegate/Broker1 org.delegate.Broker1 ApiVersion 2>&1)
is "$out" "u 1" "D-Bus activation by name: ApiVersion read from a stopped broker"
is "$(ct systemctl is-active delegate-broker.service)" active "the bus started the broker through systemd"
ct busctl introspect --xml-interface org.delegate.Broker1 /org/delegate/Broker1 >"$WORK/live.xml" 2>&1
iface() { sed -n '/^ <interface name="org.delegate.Broker1">/,/^ <\/interface>/p' "$1"; }
ct cat /usr/share/dbus-1/interfaces/org.delegate.Broker1.xml >"$WORK/shipped.xml"
ok "$([ -n "$(iface "$WORK/live.xml")" ] && diff <(iface "$WORK/live.xml") <(iface "$WORK/shipped.xml") >&2; echo $?)" \
        "busctl introspect equals the installed org.delegate.Broker1.xml"

# --- a policy, and the pod -----------------------------------------------------------
POLICY='{ "version": 1,
  "rules": [
    { "name": "pods",
      "match": { "uid": 107, "cgroup": "/kubepods.slice/*", "vm": "*" },
      "memlock": { "max": "6M" },
      "cgroup": { "targets": "housekeeping", "create": true },
      "sched": { "policies": ["fifo"], "max_priority": 10, "max_rttime_us": 30000000 },
      "tap": { "template": "vnet%d", "max_devices": 4, "max_queues": 4, "bridges": "br0", "mtu": "1280-9000" } }
  ] }'
echo "$POLICY" | ct tee /etc/delegate/policy.d/10-pods.json >/dev/null
ok "$(ct systemctl reload delegate-broker.service; echo $?)" "systemctl reload with a good policy"
gen=$(ct busctl get-property org.delegate.Broker1 /org/delegate/Broker1 org.delegate.Broker1 PolicyGeneration)
is "$gen" "t 2" "policy generation 2 after the reload"
ct bash -c 'ip netns add pod1 && ip -n pod1 link set lo up && ip -n pod1 link add br0 type bridge && ip -n pod1 link set br0 up'
ok $? "pod network namespace pod1 with a bridge br0"
ct useradd --system --uid 107 --user-group --no-create-home --shell /usr/sbin/nologin pod107
ok $? "a user for the pods (uid 107)"
# a pod: uid 107, its own cgroup below kubepods.slice (owned by root, as a container runtime's), its netns
POD=(-p User=107 -p Group=107 --slice=kubepods -p NetworkNamespacePath=/run/netns/pod1
        -p LimitMEMLOCK=1M:8M -p PrivateTmp=yes)

# --- journal: an allowed and a denied request, once each ----------------------------
since=$(ct date +%s)
out=$(run --unit=$ID-ml "${POD[@]}" delegatectl --vm vm-j memlock --pid 0 --soft 2M 2>&1)
ok $? "memlock.set within the policy is allowed ($out)"
out=$(run --unit=$ID-ml2 "${POD[@]}" delegatectl --vm vm-j memlock --pid 0 --soft 7M 2>&1)
ok "$([ $? != 0 ]; echo $?)" "memlock.set over the rule's max is denied ($out)"
journal() { ct journalctl --no-pager -q -o json --since=@"$since" SYSLOG_IDENTIFIER=delegate-broker "$@"; }
sleep 1
allow=$(journal DELEGATE_OP=memlock.set DELEGATE_DECISION=allow)
deny=$(journal DELEGATE_OP=memlock.set DELEGATE_DECISION=deny)
is "$(echo "$allow" | grep -c .)" 1 "the allowed request is journaled once"
is "$(echo "$deny" | grep -c .)" 1 "the denied request is journaled once"
for f in OP DECISION RULE REASON ARGS SESSION PEER_PID PEER_UID PEER_GID POD_CGROUP VM CLIENT VIA; do
        echo "$allow" | grep -q "\"DELEGATE_$f\":\"" && echo "$deny" | grep -q "\"DELEGATE_$f\":\"" || echo "$f"
done >"$WORK/missing"
is "$(tr '\n' ' ' <"$WORK/missing")" "" "both carry all 13 DELEGATE_* fields"
is "$(echo "$allow" | grep -o '"DELEGATE_RULE":"[^"]*"')" '"DELEGATE_RULE":"pods"' "the allow names rule 'pods'"
is "$(echo "$deny" | grep -o '"DELEGATE_PEER_UID":"[^"]*"')" '"DELEGATE_PEER_UID":"107"' "the deny names uid 107"
is "$(echo "$deny" | grep -o '"DELEGATE_POD_CGROUP":"[^"]*"')" "\"DELEGATE_POD_CGROUP\":\"/kubepods.slice/$ID-ml2.service\"" \
        "and the pod's cgroup"

# --- reload with a broken policy -------------------------------------------------------
since=$(ct date +%s)
echo '{ "version": 1, "rules": [ { "name": "x", "bogus": 1 } ] }' | ct tee /etc/delegate/policy.d/20-broken.json >/dev/null
out=$(ct systemctl reload delegate-broker.service 2>&1)
ok "$([ $? != 0 ]; echo $?)" "systemctl reload with a broken policy fails"
is "$(ct busctl get-property org.delegate.Broker1 /org/delegate/Broker1 org.delegate.Broker1 PolicyGeneration)" "t 2" \
        "generation 2 stays in force"
out=$(run --unit=$ID-ml3 "${POD[@]}" delegatectl --vm vm-j memlock --pid 0 --soft 2M 2>&1)
ok $? "the old policy still decides ($out)"
sleep 1
msgs=$(ct journalctl --no-pager -q -o cat --since=@"$since" SYSLOG_IDENTIFIER=delegate-broker)
echo "$msgs" | sed 's/^/#   /'
is "$(echo "$msgs" | grep -c "20-broken.json:1:43: unknown rule key 'bogus'")" 1 "the error is journaled once (not again from stderr)"
ct rm /etc/delegate/policy.d/20-broken.json
ok "$(ct systemctl reload delegate-broker.service; echo $?)" "systemctl reload succeeds again without the broken file"

# --- a VM: tap.create, cgroup.move, sched.set under the unit ------------------------------
ct mkdir -p /run/vm1
ct bash -c 'cat >/run/vm1/vm.json' <<'EOF'
{ "name": "vm1", "qemu": "qemu-system-x86_64", "accel": "tcg",
  "memory": "64M", "vcpus": 2,
  "realtime": { "vcpus": "1", "priority": 1, "rttime_us": 30000000 },
  "housekeeping": "housekeeping",
  "mem_lock": false, "memlock": 4194304,
  "nics": [ { "id": "net0", "bridge": "br0", "queues": 2, "mtu": 1400, "mac": "52:54:00:12:34:56" } ],
  "shutdown_timeout": 2 }
EOF
ct systemd-run --quiet --unit=$ID-vm1 "${POD[@]}" delegate-launcher --spec /run/vm1/vm.json
ok $? "delegate-launcher runs as uid 107 in pod $ID-vm1"
vmlog() { ct journalctl --no-pager -q -o cat -u $ID-vm1.service; }
for _ in $(seq 300); do vmlog | grep -q "every step done" && break; sleep 0.2; done
log=$(vmlog)
echo "$log" | sed 's/^/#   /'
ok "$(vmlog | grep -q "every step done"; echo $?)" "the launcher did every step through the broker"
QEMU=$(vmlog | sed -n 's/.*QEMU pid \([0-9]*\).*/\1/p' | head -1)
say "QEMU pid $QEMU"
vmstate() {
        local tap cg fifo
        tap=$(ct ip -n pod1 -o link show master br0 2>/dev/null | grep -ow 'vnet0' | sort -u | tr '\n' ' ')
        cg=$(ct cat /sys/fs/cgroup/kubepods.slice/$ID-vm1.service/housekeeping/cgroup.threads 2>/dev/null | wc -l)
        fifo=$(for t in $(ct ls /proc/$QEMU/task 2>/dev/null); do ct chrt -p $t 2>/dev/null; done | grep -c SCHED_FIFO)
        echo "tap=[$tap] housekeeping_threads=$cg fifo_threads=$fifo"
}
before=$(vmstate)
say "kernel: $before"
ok "$(echo "$before" | grep -q 'tap=\[vnet0 \]'; echo $?)" "tap.create: vnet0 is in the pod's netns, on br0"
ok "$(echo "$before" | grep -qv 'housekeeping_threads=0 '; echo $?)" "cgroup.move: QEMU threads in the housekeeping cgroup"
ok "$(echo "$before" | grep -q 'fifo_threads=1$'; echo $?)" "sched.set: one vCPU thread runs SCHED_FIFO"
ok "$(! vmlog | grep -qi 'libcap-ng'; echo $?)" "the launcher logs no libcap-ng warning"

# --- restart with the VM running ------------------------------------------------------------
ct systemctl restart delegate-broker.service
ok $? "systemctl restart delegate-broker"
for _ in $(seq 150); do vmlog | grep -q "session resumed" && break; sleep 0.2; done
ok "$(vmlog | grep -q "session resumed"; echo $?)" "the launcher resumed its session after the restart"
is "$(vmstate)" "$before" "TAP, housekeeping cgroup and realtime vCPU are as before"
is "$(ct cat /proc/$QEMU/comm 2>/dev/null)" qemu-system-x86 "the same QEMU runs"

# --- delegatectl tap create --exec across a restart; a seccomp kill -------------------------
ct mkdir -p /run/systemd/system/delegate-broker.service.d
ct bash -c 'cat >/run/systemd/system/delegate-broker.service.d/test.conf' <<'EOF'
[Service]
Environment=DELEGATE_TEST_SECCOMP_TRIGGER=unlisted
ExecStart=
ExecStart=/usr/sbin/delegate-broker --bus system --resume-timeout 3
EOF
ct systemctl daemon-reload
ct systemctl restart delegate-broker.service
for _ in $(seq 150); do [ "$(vmlog | grep -c "session resumed")" -ge 2 ] && break; sleep 0.2; done
ct systemd-run --quiet --unit=$ID-tap "${POD[@]}" delegatectl --vm tapx tap create --name 'vnet%d' --bridge br0 \
        --exec 'echo "made $DELEGATE_TAP_NAME"; sleep 12; ip link show $DELEGATE_TAP_NAME'
taplog() { ct journalctl --no-pager -q -o cat -u $ID-tap.service; }
TX=
for _ in $(seq 50); do
        TX=$(taplog | sed -n 's/^made \(vnet[0-9]*\)$/\1/p')
        [ -n "$TX" ] && break
        sleep 0.2
done
ok "$([ -n "$TX" ] && ct ip -n pod1 link show "$TX" >/dev/null 2>&1; echo $?)" "delegatectl tap create --exec made ${TX:-a TAP}"
ct systemctl restart delegate-broker.service
sleep 6 # more than --resume-timeout
ok "$(ct ip -n pod1 link show "$TX" >/dev/null 2>&1; echo $?)" "$TX is kept past --resume-timeout: delegatectl resumed its session"
restarts=$(ct systemctl show -P NRestarts delegate-broker.service)
old=$(ct systemctl show -P MainPID delegate-broker.service)
nres=$(vmlog | grep -c "session resumed")
ct systemctl kill -s SIGUSR1 delegate-broker.service
for _ in $(seq 100); do
        new=$(ct systemctl show -P MainPID delegate-broker.service)
        [ "$new" != "$old" ] && [ "$new" != 0 ] && [ "$(ct systemctl is-active delegate-broker.service)" = active ] && break
        sleep 0.2
done
is "$(ct systemctl show -P NRestarts delegate-broker.service)" $((restarts + 1)) "the seccomp kill made Restart=on-failure restart it"
ct journalctl --no-pager -q -o cat -u delegate-broker.service | grep -i 'SYS\b\|status=31\|code=killed' | tail -2 | sed 's/^/#   /'
ok "$(ct journalctl --no-pager -q -o cat -u delegate-broker.service | grep -q 'signal=SYS\|status=31/SYS'; echo $?)" \
        "systemd saw it killed by SIGSYS"
for _ in $(seq 150); do [ "$(vmlog | grep -c "session resumed")" -gt "$nres" ] && break; sleep 0.2; done
ok "$([ "$(vmlog | grep -c "session resumed")" -gt "$nres" ]; echo $?)" "the launcher resumed its session after the kill"
is "$(vmstate)" "$before" "and the VM's TAP, cgroup and realtime vCPU are untouched"
for _ in $(seq 100); do [ "$(ct systemctl is-active $ID-tap.service)" = active ] || break; sleep 0.2; done
tapres=$(taplog)
echo "$tapres" | sed 's/^/#   /'
ok "$(echo "$tapres" | grep -q "^[0-9]*: $TX:"; echo $?)" "the --exec command still had $TX at its end"
ok "$(! echo "$tapres" | grep -q 'tap.destroy'; echo $?)" "delegatectl's tap.destroy reached the broker (no error)"
is "$(ct systemctl show -P Result $ID-tap.service)" success "delegatectl exited 0"
for _ in $(seq 25); do ct ip -n pod1 link show "$TX" >/dev/null 2>&1 || break; sleep 0.2; done
ok "$(! ct ip -n pod1 link show "$TX" >/dev/null 2>&1; echo $?)" "and $TX is gone"

# --- a final stop with the VM still running -------------------------------------------------
ct rm -rf /run/systemd/system/delegate-broker.service.d
ct systemctl daemon-reload
# a session's state: session-N.json and session-N.b.json, written in turn (delegate-broker(8))
is "$(ct bash -c 'ls /run/delegate/state' | sed -n 's/^session-\([0-9]*\)\(\.b\)\{0,1\}\.json$/\1/p' | sort -u | wc -l)" 1 \
        "the VM's session is saved in /run/delegate/state ($(ct bash -c 'ls /run/delegate/state' | tr '\n' ' '))"
ct systemctl disable --now delegate-broker.socket 2>/dev/null
is "$(ct systemctl is-active delegate-broker.service delegate-broker.socket | tr '\n' ' ')" "inactive inactive " \
        "systemctl disable --now delegate-broker.socket stops both"
is "$(ct bash -c 'ls /run/delegate/state 2>/dev/null | wc -l')" 0 "a final stop leaves no state files"
for _ in $(seq 25); do ct ip -n pod1 link show vnet0 >/dev/null 2>&1 || break; sleep 0.2; done
ok "$(! ct ip -n pod1 link show vnet0 >/dev/null 2>&1; echo $?)" "and undoes the sessions: vnet0 is removed"
ct systemctl stop $ID-vm1.service

echo "1..$n"
[ $failed = 0 ]
