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
sleep 0.2
say "done; the sandbox (mount namespace, /run, pod cgroup) is torn down"
