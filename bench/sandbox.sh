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
set -euo pipefail
B=${BENCH_BUILD:?}
N=${N:-20000}
POD_UID=1000
OUT=/run/bench
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p $OUT /run/delegate /run/netns
CG=$(awk '$0 ~ / - cgroup2 / { print $5; exit }' /proc/self/mountinfo)
[ -n "$CG" ] || { echo "no cgroup v2 hierarchy mounted" >&2; exit 1; }
NODE=$CG/delegate-bench.$$
POD=$NODE/kubepods.slice/pod-bench
ORIG=$CG$(sed -n 's/^0:://p' /proc/self/cgroup)
BROKER=

cleanup() {
        set +e
        [ -n "$BROKER" ] && kill "$BROKER" 2>/dev/null && wait "$BROKER" 2>/dev/null
        echo $$ > "$ORIG/cgroup.procs"
        echo 1 > "$NODE/cgroup.kill" 2>/dev/null
        for _ in $(seq 50); do [ -s "$NODE/cgroup.procs" ] || break; sleep 0.1; done
        find "$NODE" -depth -type d -exec rmdir {} + 2>/dev/null
        ip netns delete pod-bench 2>/dev/null
}
trap cleanup EXIT
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

start_broker() {
        "$B/broker/delegate-broker" --foreground --policy-dir bench/policy.d \
                --socket /run/delegate/broker.sock 2>>$OUT/broker.log &
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
        taskset -p -c 0 $BROKER >/dev/null
        BENCH_CPU=0 in_pod "$B/bench/bench-roundtrip" "$N" "client and broker on CPU 0"
        taskset -p -c 1 $BROKER >/dev/null
        BENCH_CPU=0 in_pod "$B/bench/bench-roundtrip" "$N" "client on CPU 0, broker on CPU 1"
        taskset -p -c 0-$(($(nproc) - 1)) $BROKER >/dev/null
        echo
}

start_broker
for s in ${SECTIONS:-roundtrip}; do
        "section_$s"
done
