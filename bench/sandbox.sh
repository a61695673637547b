#!/bin/bash
# The benchmark world, entered by bench/run through
#   unshare --mount --net --propagation private
# so that nothing here reaches the host: a tmpfs /run, a network namespace
# of our own for the broker, and a "node" cgroup below the cgroup v2 mount
# (found from /proc/self/mountinfo) that is killed and removed on exit.
#
#   NODE/system                     the broker and the root-side tools
#   NODE/kubepods.slice/pod-bench   the pod: uid 1000, its own netns with br0
#
# Each section prints markdown to stdout; bench/run turns it into RESULTS.md.
#
# BENCH_USERNS=1 (bench/run starts this through bench/userns.sh then): all of
# the above inside a user namespace owned by root with identity uid/gid maps,
# where the broker holds CAP_SYS_RESOURCE (its creator's full capability set)
# over the pod's processes and so changes a soft RLIMIT_MEMLOCK itself, with
# no helper: the "with CAP_SYS_RESOURCE" memlock.set row, which this node's
# initial namespace cannot give (CAP_SYS_RESOURCE is not in its bounding set).
# Only the roundtrip and syscalls sections and only the echo, ping and
# memlock.set rows run in there (the others need capabilities of the initial
# namespace: SCHED_FIFO, mknod; or are not measured this way); every row says
# it was measured in the user namespace.
set -euo pipefail
USERNS=${BENCH_USERNS:-}
USERNS_OPS="echo ping memlock.set"
if [ -n "$USERNS" ] && { [ -z "${BENCH_USERNS_OUTER:-}" ] || [ "$(readlink /proc/self/ns/user)" = "$BENCH_USERNS_OUTER" ]; }; then
        echo "BENCH_USERNS=1: not in a user namespace of its own (start it through bench/userns.sh, as bench/run does)" >&2
        exit 1
fi
B=${BENCH_BUILD:?}
N=${N:-20000}
POD_UID=1000
OUT=$B/bench-logs  # daemon logs, kept after the run
mount -t tmpfs -o mode=0755 tmpfs /run
rm -rf $OUT && mkdir -p $OUT /run/delegate /run/netns
CG=$(awk '$0 ~ / - cgroup2 / { print $5; exit }' /proc/self/mountinfo)
[ -n "$CG" ] || { echo "no cgroup v2 hierarchy mounted" >&2; exit 1; }
NODE=$CG/delegate-bench.$$
POD=$NODE/kubepods.slice/pod-bench
ORIG=$CG$(sed -n 's/^0:://p' /proc/self/cgroup)
BROKER=
capeff=

cleanup() {
        set +e
        [ -n "$BROKER" ] && kill "$BROKER" 2>/dev/null && wait "$BROKER" 2>/dev/null
        echo $$ > "$ORIG/cgroup.procs"
        echo 1 > "$NODE/cgroup.kill" 2>/dev/null
        for _ in $(seq 50); do grep -q "populated 0" "$NODE/cgroup.events" && break; sleep 0.1; done
        find "$NODE" -depth -type d -exec rmdir {} + 2>/dev/null
        ip netns delete pod-bench 2>/dev/null
}
trap cleanup EXIT
trap "exit 1" INT TERM HUP
mkdir -p "$POD" "$NODE/system"
echo $$ > "$NODE/system/cgroup.procs"
# "ip netns exec" mounts a fresh /sys: the pod's cgroup as seen from in there
mkdir /run/cgroup2 && mount --bind "$CG" /run/cgroup2
POD_IN=/run/cgroup2/${POD#$CG/}

ip link set lo up
ip netns add pod-bench
ip -n pod-bench link set lo up
ip -n pod-bench link add br0 type bridge
ip -n pod-bench link set br0 up

# Run "$@" as the pod's uid, in its cgroup and netns.
in_pod() {
        bash -c 'echo $$ > "$1/cgroup.procs"; shift; exec ip netns exec pod-bench setpriv --reuid '$POD_UID' \
                --regid '$POD_UID' --clear-groups -- "$@"' in-pod "$POD" "$@"
}
# Run "$@" as root in the pod's cgroup and netns (the floors, the alternatives).
as_root_in_pod() {
        bash -c 'echo $$ > "$1/cgroup.procs"; shift; exec ip netns exec pod-bench "$@"' as-root "$POD" "$@"
}

# BENCH_JOURNALD=1: a real systemd-journald on the private /run (its journal in /run/log/journal,
# /var/log hidden), so that the broker's records are received and stored as on a node; without it
# nothing listens on the journal socket: messages and ping/state.get records are dropped, and each
# policy decision's line goes to the broker's stderr, $OUT/broker.log (a file, never a pipe that could fill)
start_journald() {
        local j
        for j in /usr/lib/systemd/systemd-journald /lib/systemd/systemd-journald; do [ -x $j ] && break; done
        mount -t tmpfs -o mode=0755 tmpfs /var/log
        mkdir -p /run/systemd/journal
        $j >>$OUT/journald.log 2>&1 &
        for _ in $(seq 100); do [ -S /run/systemd/journal/socket ] && return 0; sleep 0.05; done
        echo "systemd-journald did not start" >&2
        exit 1
}

start_broker() {
        # the limits are lifted for the load sections: 256 clients of one uid,
        # 1000 sessions, back-to-back requests (the defaults would rate-limit
        # them, which is what section_hostile shows instead).  Its logging is the
        # shipped unit's (deploy/systemd: no --foreground): records go to the
        # journal only; what the journal does not take of LOG_ERR and worse, and
        # every policy decision it does not take (no BENCH_JOURNALD: all of
        # them, one write each), to broker.log, a file: a pipe could fill and
        # block the broker.  --foreground would add a line per decision always.
        "$B/broker/delegate-broker" --policy-dir bench/policy.d \
                --socket /run/delegate/broker.sock --bus none --state-dir /run/delegate/state \
                --rate 0 --max-clients 4096 --max-sessions-per-uid 4096 ${BROKER_ARGS:-} 2>>$OUT/broker.log &
        BROKER=$!
        for _ in $(seq 100); do [ -S /run/delegate/broker.sock ] && return 0; sleep 0.05; done
        echo "the broker did not start" >&2
        exit 1
}
export DELEGATE_SOCKET=/run/delegate/broker.sock

section_roundtrip() {
        echo "## Round trip latency (microseconds)"
        echo
        echo "| what | path | n | median | p99 |"
        echo "|---|---|---|---|---|"
        as_root_in_pod "$B/bench/bench-floor" "$N" "$POD_IN" br0
        in_pod "$B/bench/bench-roundtrip" "$N" "unpinned"
        taskset -a -p -c 0 $BROKER >/dev/null
        BENCH_CPU=0 in_pod "$B/bench/bench-roundtrip" "$N" "client and broker on CPU 0"
        taskset -a -p -c 1 $BROKER >/dev/null
        BENCH_CPU=0 in_pod "$B/bench/bench-roundtrip" "$N" "client on CPU 0, broker on CPU 1"
        taskset -a -p -c 0-$(($(nproc) - 1)) $BROKER >/dev/null
        # syscalls of an unmodified program, intercepted (delegate-run(1), bench/bench-unotify.c);
        # the pod's uid opens /dev/net/tun, as a device plugin lets it
        mknod -m 0666 /run/tun-pod c 10 200 && mount --bind /run/tun-pod /dev/net/tun
        in_pod "$B/tools/delegate-run" --vm bench -- "$B/bench/bench-unotify" "$N" "unpinned"
        echo
}

# BENCH_USERNS=1: what the memlock.set rows are called, from the broker's effective capabilities
userns_memlock_row() {
        capeff=$(awk '/^CapEff:/ { print $2 }' /proc/$BROKER/status)
        if (( (16#$capeff >> 24) & 1 )); then # CAP_SYS_RESOURCE
                export BENCH_MEMLOCK_ROW="memlock.set with CAP_SYS_RESOURCE (identity-mapped user namespace)"
                export BENCH_MEMLOCK_PATH="pod uid -> broker, its own prlimit() (no helper)"
        else
                export BENCH_MEMLOCK_ROW="memlock.set without CAP_SYS_RESOURCE (identity-mapped user namespace)"
        fi
}

# BENCH_USERNS=1: the pod client and the broker on CPU 0, in the identity-mapped user namespace
section_roundtrip_userns() {
        local ops=${BENCH_OPS:-$USERNS_OPS} op
        for op in $ops; do
                [[ " $USERNS_OPS " == *" $op "* ]] && continue
                echo "BENCH_USERNS=1: $op is not measured in the user namespace (only $USERNS_OPS)" >&2
                exit 1
        done
        echo "## Round trip latency in an identity-mapped user namespace (microseconds)"
        echo
        echo "BENCH_USERNS=1: the broker, the pod and the floors run in a user namespace owned by root whose uid and"
        echo "gid maps are the identity (bench/userns.sh), not in the initial one.  The broker holds every capability"
        echo "over the processes of that namespace (its CapEff: $capeff), CAP_SYS_RESOURCE among them, which this"
        echo "node's initial namespace does not give; a hard limit above the current one would still be refused."
        echo
        echo "| what | path | n | median | p99 |"
        echo "|---|---|---|---|---|"
        BENCH_OPS="$ops" as_root_in_pod "$B/bench/bench-floor" "$N" "$POD_IN" br0
        # the echo rows (bench-roundtrip prints them when not pinned)
        [[ " $ops " == *" echo "* ]] && BENCH_OPS=echo in_pod "$B/bench/bench-roundtrip" "$N"
        taskset -a -p -c 0 $BROKER >/dev/null
        BENCH_OPS="$ops" BENCH_CPU=0 in_pod "$B/bench/bench-roundtrip" "$N" "client and broker on CPU 0"
        taskset -a -p -c 0-$(($(nproc) - 1)) $BROKER >/dev/null
        echo
}

section_alternatives() {
        echo "## Against the alternatives (microseconds)"
        echo
        echo "| what | path | n | median | p99 |"
        echo "|---|---|---|---|---|"
        # a private system bus on the private /run, polkit with a rule for the
        # pod user (no logind here), rtkit with its rate limits opened up
        mkdir -p /run/dbus
        # /etc as an overlay whose upper layer is on the private /run: the
        # polkit rule and qemu-bridge-helper's ACL exist only in here
        mkdir -p /run/etc-upper /run/etc-work
        mount -t overlay overlay -o lowerdir=/etc,upperdir=/run/etc-upper,workdir=/run/etc-work /etc
        sed "s/@POD_USER@/$(id -nu $POD_UID)/" bench/polkit/50-bench-rtkit.rules > /etc/polkit-1/rules.d/50-bench-rtkit.rules
        chmod 0644 /etc/polkit-1/rules.d/50-bench-rtkit.rules
        mkdir -p /etc/qemu && echo "allow br0" > /etc/qemu/bridge.conf
        dbus-daemon --config-file=bench/dbus-bench.conf --nofork --nopidfile 2>>$OUT/dbus.log &
        for _ in $(seq 100); do [ -S /run/dbus/system_bus_socket ] && break; sleep 0.05; done
        export DBUS_SYSTEM_BUS_ADDRESS=unix:path=/run/dbus/system_bus_socket
        # polkitd starts as root and changes to user polkitd itself
        /usr/lib/polkit-1/polkitd --no-debug 2>>$OUT/polkit.log &
        /usr/libexec/rtkit-daemon --stderr --no-canary --scheduling-policy=FIFO --actions-burst-sec=1 --actions-per-burst-max=1000000 \
                --threads-per-user-max=1000 \
                2> >(cat >>$OUT/rtkit.log) & # not a file: rtkit sets RLIMIT_FSIZE 0 on itself
        "$B/bench/bench-dbus" server 2>>$OUT/dbus.log &
        for _ in $(seq 100); do
                dbus-send --system --print-reply --dest=org.freedesktop.DBus / org.freedesktop.DBus.ListNames \
                        2>/dev/null | grep -q PolicyKit1 && break
                sleep 0.05
        done
        sleep 0.3
        in_pod "$B/bench/bench-dbus" echo "$N"
        in_pod "$B/bench/bench-dbus" rtkit "$((N / 10))"
        # qemu-bridge-helper with an ACL for br0 (in the /etc overlay)
        as_root_in_pod "$B/bench/bench-bridge-helper" /usr/lib/qemu/qemu-bridge-helper br0 "$N"
        echo
}

section_load() {
        echo "## Throughput (pod clients, one session each, back-to-back requests for ${SECS:-3} s)"
        echo
        echo "| clients | op | requests/s | median us | p99 us | worst client's p99 us | fewest requests of a client | broker CPU us per request | CPUs busy % |"
        echo "|---|---|---|---|---|---|---|---|---|"
        for c in ${LOAD_CLIENTS:-1 8 64 256}; do
                # PERF=1: the broker's profile under 64 clients (PERF_CLIENTS), $OUT/perf-load-64.txt
                local st=
                if [ -n "${PERF:-}" ] && [ "$c" = "${PERF_CLIENTS:-64}" ]; then
                        perf record -q -F 5000 -g -o "$OUT/perf-load-64.data" -p "$BROKER" 2>/dev/null &
                        st=$!
                fi
                # STRACE=1: the broker's system calls under 64 clients, $OUT/strace-load-64.txt
                if [ -n "${STRACE:-}" ] && [ "$c" = 64 ]; then
                        strace -c -f -o "$OUT/strace-load-64.txt" -p "$BROKER" 2>/dev/null &
                        st=$!
                        sleep 0.5
                fi
                in_pod "$B/bench/bench-load" throughput $c "${SECS:-3}" ping "$BROKER"
                if [ -n "$st" ] && [ -n "${STRACE:-}" ]; then
                        kill -INT $st; wait $st || true
                elif [ -n "$st" ]; then
                        kill -INT $st; wait $st || true
                        perf report -q --no-children --percent-limit 0.5 --stdio -g none \
                                -i "$OUT/perf-load-64.data" > "$OUT/perf-load-64.txt" 2>/dev/null || true
                        perf report -q --children --percent-limit 2 --stdio -g none \
                                -i "$OUT/perf-load-64.data" > "$OUT/perf-load-64-children.txt" 2>/dev/null || true
                fi
        done
        # the floor of these rows: the same clients against a minimal epoll echo server (no broker),
        # one event loop thread and two; what this machine can do at all
        for e in ${LOAD_ECHO-echo echo2}; do
                for c in ${LOAD_CLIENTS:-1 8 64 256}; do
                        in_pod "$B/bench/bench-load" throughput $c "${SECS:-3}" $e
                done
        done
        for c in ${LOAD_MEMLOCK-1 64}; do
                in_pod "$B/bench/bench-load" throughput $c "${SECS:-3}" memlock.set "$BROKER"
        done
        echo
}

section_memory() {
        echo "## Broker memory"
        echo
        echo "| what | value |"
        echo "|---|---|"
        in_pod "$B/bench/bench-load" sessions 1000 "$BROKER"
        echo
}

section_kvmi() {
        echo "## kvmi.set-page-access throughput (median of 5)"
        echo
        echo "| how | entries | requests | seconds | entries/s |"
        echo "|---|---|---|---|---|"
        local st=
        # PERF=1: the broker's profile over the section, $OUT/perf-kvmi.txt
        if [ -n "${PERF:-}" ]; then
                perf record -q -F 10000 -g -o "$OUT/perf-kvmi.data" -p "$BROKER" 2>/dev/null &
                st=$!
                sleep 0.5
        fi
        in_pod "$B/bench/bench-kvmi" "$B/tests/functional/kvmi-peer" 1048576 5 2>>$OUT/kvmi-peer.log
        if [ -n "$st" ]; then
                kill -INT $st; wait $st || true
                perf report -q --no-children --percent-limit 1 --stdio -g none -i "$OUT/perf-kvmi.data" \
                        > "$OUT/perf-kvmi.txt" 2>/dev/null || true
        fi
        echo
}

# delegate-launcher's own account of a start, and QEMU started directly by
# root doing the same steps itself (bench/vm-start.py), runs alternating
section_vmstart() {
        local d=/run/vm-bench runs=${VM_RUNS:-9} i l memlock=$(( $(ulimit -l) * 1024 ))
        mkdir -p $d && chown $POD_UID:$POD_UID $d
        # memlock: what the pod already has (no CAP_SYS_RESOURCE here to go above the hard limit)
        cat > $d/spec.json <<JSON
{ "name": "vm-bench", "qemu": "qemu-system-x86_64", "accel": "tcg", "memory": "64M", "vcpus": 2,
  "realtime": { "vcpus": "1", "priority": 1, "rttime_us": 200000 }, "housekeeping": "housekeeping",
  "mem_lock": false, "memlock": $memlock,
  "nics": [ { "id": "net0", "bridge": "br0", "queues": 2 } ], "shutdown_timeout": 1 }
JSON
        : > $d/launcher.txt
        : > $d/direct.jsonl
        for i in $(seq "$runs"); do
                in_pod "$B/launcher/delegate-launcher" --spec $d/spec.json > $d/l$i.log 2>&1 &
                l=$!
                for _ in $(seq 600); do grep -q "guest running" $d/l$i.log && break; sleep 0.1; done
                grep -o "guest running.*" $d/l$i.log >> $d/launcher.txt || { cat $d/l$i.log >&2; }
                kill -TERM $l; wait $l || true
                as_root_in_pod python3 bench/vm-start.py "$POD_IN" br0 "$memlock" 1 >> $d/direct.jsonl
        done
        cp $d/launcher.txt $d/direct.jsonl $OUT/
        python3 - $d/launcher.txt $d/direct.jsonl <<'PY'
import json, re, statistics, sys
lines = open(sys.argv[1]).read().splitlines()
direct = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
med = statistics.median
def launcher(pat):
    return [float(re.search(pat, l).group(1)) for l in lines]
L = {"total": launcher(r"running ([0-9.]+) ms after the launcher started"),
     "exec_to_cont": launcher(r"([0-9.]+) ms after QEMU's exec"),
     "taps": launcher(r"TAPs \+ fork ([0-9.]+) ms"),
     "memlock": launcher(r"memlock ([0-9.]+) ms before exec"),
     "after": launcher(r"status ([0-9.]+) ms before cont")}
L["qmp"] = [e - a for e, a in zip(L["exec_to_cont"], L["after"])]
L["before"] = [t - (a + b + e) for t, a, b, e in zip(L["total"], L["taps"], L["memlock"], L["exec_to_cont"])]
D = {k: [r[k] for r in direct] for k in ("total", "exec_to_cont", "taps", "memlock", "qmp", "after")}
D["before"] = [0.0 for _ in direct]
rows = [("before", "before the first step: the launcher's session with the broker (direct: nothing)"),
        ("taps", "TAP (2 queues, on br0, up) + QEMU forked to its gate"),
        ("memlock", "RLIMIT_MEMLOCK of QEMU's pid, then exec"),
        ("qmp", "QEMU's exec to QMP ready (QEMU itself)"),
        ("after", "query-cpus-fast, housekeeping cgroup, SCHED_FIFO vCPU, query-status, cont"),
        ("total", "**start to cont answered**")]
print("| step | direct, as root (median ms) | through delegate-launcher (median ms) | delegation's cost (ms) |")
print("|---|---|---|---|")
for k, what in rows:
    d, l = med(D[k]), med(L[k])
    print(f"| {what} | {d:.1f} | {l:.1f} | {l - d:+.1f} |")
steps = sum(med(L[k]) - med(D[k]) for k in ("before", "taps", "memlock", "after"))
print(f"| **delegation's cost: the delegated steps' differences (all but QEMU's own start)** | | | **{steps:+.1f}** |")
print()
print(f"{len(lines)} launcher runs and {len(direct)} direct runs, alternating.  Each row is the median of that step;")
print("the total's median is not the sum of the steps' medians.  QEMU's own start (exec to QMP ready) is the same")
print("work either way and its difference is noise (TCG on a shared 2-CPU VM), so delegation's cost is the sum of")
print("the other steps' differences.")
PY
        echo
        echo "TCG, 64 MiB, 2 vCPUs (vCPU 1 SCHED_FIFO), one 2-queue NIC on br0; the pod's uid runs the launcher."
        echo
}

# A real guest (tests/guest/build-guest.sh, built by bench/run): QEMU
# started directly by root doing the same steps itself vs through the
# launcher; boot to network and the guest's network throughput both ways
section_guest() {
        local d=/run/guest-bench runs=${GUEST_RUNS:-3} i
        [ -n "${BENCH_GUEST_VMLINUZ:-}" ] || { echo "no guest (bench/run builds it)" >&2; return 0; }
        mkdir -p $d && chown $POD_UID:$POD_UID $d
        ip -n pod-bench addr add 10.0.0.1/24 dev br0
        : > $d/runs.jsonl
        # vhost-net on and off in the same run, where the node has /dev/vhost-net
        local modes="launcher direct"
        [ -c /dev/vhost-net ] && modes="$modes launcher-vhost direct-vhost"
        for i in $(seq "$runs"); do
                for m in $modes; do
                        as_root_in_pod python3 bench/guest-bench.py $m $d "$BENCH_GUEST_VMLINUZ" "$BENCH_GUEST_INITRD" \
                                "${GUEST_MIB:-64}" $POD_UID "$B/launcher/delegate-launcher" >> $d/runs.jsonl
                done
        done
        cp $d/runs.jsonl $OUT/guest-runs.jsonl
        echo "## A real guest: boot to network and network throughput"
        echo
        python3 - $d/runs.jsonl <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
vals = lambda mode, k: [r[k] for r in runs if r["mode"] == mode and r["ok"]]
n = lambda mode: len(vals(mode, "ok"))
def cell(mode, k, fmt):
    v = vals(mode, k)
    return (f"{statistics.median(v):{fmt}} ({min(v):{fmt}}-{max(v):{fmt}})") if v else "-"
print("| what (median, range) | QEMU started directly by root | through delegate-launcher | runs ok |")
print("|---|---|---|---|")
print(f"| boot to network, s (start to the guest's ping of the bridge) | {cell('direct', 'boot_to_network_s', '.2f')} "
      f"| {cell('launcher', 'boot_to_network_s', '.2f')} | {n('direct')} / {n('launcher')} |")
for k, what in (("host_to_guest_MBps", "host to guest, MB/s"), ("guest_to_host_MBps", "guest to host, MB/s")):
    print(f"| {what} | {cell('direct', k, '.1f')} | {cell('launcher', k, '.1f')} | {n('direct')} / {n('launcher')} |")
    if n('direct-vhost') or n('launcher-vhost'):
        print(f"| {what}, vhost-net | {cell('direct-vhost', k, '.1f')} | {cell('launcher-vhost', k, '.1f')} "
              f"| {n('direct-vhost')} / {n('launcher-vhost')} |")
PY
        [ -c /dev/vhost-net ] || echo "vhost-net rows: not measured, this node has no /dev/vhost-net (its kernel has no vhost_net)."
        echo
        echo "Debian's kernel and busybox (tests/guest/build-guest.sh) under TCG (this host's KVM cannot run a guest"
        echo "kernel), 256 MiB, 2 vCPUs, one 2-queue virtio-net NIC (vnet_hdr) on br0; ${GUEST_MIB:-64} MiB each way"
        echo "with busybox nc in the guest and tests/guest/bulk-peer.py on the bridge; $runs runs each, alternating."
        echo "Direct: QEMU opens its own TAP and root puts it on br0 between QMP and cont; the launcher: the pod's"
        echo "uid, TAP fds, memlock and the rest from the broker."
        echo
}

# The broker's system calls per request (strace -c -f on the broker while
# one pod client sends NS requests of one op): repeatable where the
# latencies are not, and the profile that says where a row's time goes.
section_syscalls() {
        local ns=${NS:-500} op f ops="ping memlock.set sched.set cgroup.move" name
        [ -n "$USERNS" ] && ops="ping memlock.set"
        echo "## Broker system calls per request (strace -c -f, $ns requests of one op, the broker and its helpers)${USERNS:+, in an identity-mapped user namespace}"
        echo
        echo "| op | syscalls per request | the most frequent (calls per request) |"
        echo "|---|---|---|"
        for op in $ops; do
                f=$OUT/strace-$op.txt
                name=$op
                [ "$op" = memlock.set ] && name=${BENCH_MEMLOCK_ROW:-$op}
                strace -c -f -o "$f" -p "$BROKER" 2>/dev/null &
                local st=$!
                sleep 0.5
                BENCH_CPU=0 BENCH_OPS=$op in_pod "$B/bench/bench-roundtrip" "$ns" >/dev/null
                kill -INT $st; wait $st || true
                awk -v n="$ns" -v op="$name" '
                        $1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" { c = $4; name = $NF; tot += c; if (c >= n / 2) top = top sprintf("%s %.1f, ", name, c / n) }
                        END { sub(/, $/, "", top); printf "| %s | %.1f | %s |\n", op, tot / n, top }' "$f"
                # PERF=1: where the broker's CPU time goes, $OUT/perf-OP.txt
                if [ -n "${PERF:-}" ]; then
                        perf record -q -F 10000 -g -o "$OUT/perf-$op.data" -p "$BROKER" 2>/dev/null &
                        st=$!
                        sleep 0.5
                        BENCH_CPU=0 BENCH_OPS=$op in_pod "$B/bench/bench-roundtrip" "$ns" >/dev/null
                        kill -INT $st; wait $st || true
                        perf report -q --no-children --percent-limit 1 --stdio -i "$OUT/perf-$op.data" \
                                > "$OUT/perf-$op.txt" 2>/dev/null || true
                fi
                # and every call of 3 requests, to read: $OUT/trace-OP.txt
                strace -f -tt -o "$OUT/trace-$op.txt" -p "$BROKER" 2>/dev/null &
                st=$!
                sleep 0.5
                BENCH_CPU=0 BENCH_OPS=$op in_pod "$B/bench/bench-roundtrip" 3 >/dev/null
                kill -INT $st; wait $st || true
        done
        echo
}

# Instructions per audit record under callgrind (bench/bench-audit.c): a
# count that a loaded machine does not move, where times do.  The
# difference of NI and 6*NI records leaves the program's start out.
section_instructions() {
        local ni=${NI:-1000} n f ir=()
        echo "## Instructions per audit record (callgrind, bench-audit: a ping's record through the broker's log sinks)"
        echo
        echo "| what | instructions per record | mean us per record (200000, not under callgrind) |"
        echo "|---|---|---|"
        for n in $ni $((6 * ni)); do
                f=$OUT/callgrind-audit-$n.out
                valgrind -q --tool=callgrind --callgrind-out-file="$f" "$B/bench/bench-audit" "$n" >/dev/null
                ir+=("$(awk '/^(summary|totals):/ { print $2; exit }' "$f")")
        done
        echo "| audit record of a ping | $(( (ir[1] - ir[0]) / (5 * ni) )) | $("$B/bench/bench-audit" 200000) |"
        echo
}

section_hostile() {
        echo "## A well-behaved client while hostile clients flood the broker (microseconds)"
        echo
        echo "Hostile clients run as uid 65534 under the default rate limit of this broker (--rate 0 here:"
        echo "unlimited), so this shows the event loop's fairness, not the token bucket.  The last two rows"
        echo "time a new client instead, connect(2) to the broker's welcome, alone and with 64 clients pinging."
        echo
        echo "| what | n | median | p99 | broker fds | broker RSS KiB |"
        echo "|---|---|---|---|---|---|"
        "$B/bench/bench-hostile" "$N"
        echo
}

[ -n "${BENCH_JOURNALD:-}" ] && start_journald
start_broker
if [ -n "$USERNS" ]; then
        userns_memlock_row
        for s in ${SECTIONS:-roundtrip syscalls}; do
                case $s in
                roundtrip) section_roundtrip_userns ;;
                syscalls) section_syscalls ;;
                *) echo "BENCH_USERNS=1: section $s skipped (only roundtrip and syscalls run in the user namespace)" >&2 ;;
                esac
        done
        exit 0
fi
for s in ${SECTIONS:-memory roundtrip syscalls instructions alternatives load kvmi vmstart guest hostile}; do
        "section_$s"
done
