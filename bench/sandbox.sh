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
# The pids of $1's descendants (a background in_pod's launcher runs below its subshell).
descendants() {
        local c
        for c in $(pgrep -P "$1"); do
                echo "$c"
                descendants "$c"
        done
}
# The broker on CPUs $1, with its helpers: every thread of it, and of its
# descendants (the forker, its spare and the memlock helpers it forked, which
# are not the broker's threads; before the forker they were its children,
# forked after the pin, and inherited it).  Helpers forked later inherit it
# from the forker.
pin_broker() {
        local p
        taskset -a -p -c "$1" $BROKER >/dev/null
        for p in $(descendants $BROKER); do
                taskset -a -p -c "$1" "$p" >/dev/null 2>&1 || true # one may have ended meanwhile
        done
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
        pin_broker 0
        BENCH_CPU=0 in_pod "$B/bench/bench-roundtrip" "$N" "client and broker on CPU 0"
        pin_broker 1
        BENCH_CPU=0 in_pod "$B/bench/bench-roundtrip" "$N" "client on CPU 0, broker on CPU 1"
        pin_broker 0-$(($(nproc) - 1))
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
        pin_broker 0
        BENCH_OPS="$ops" BENCH_CPU=0 in_pod "$B/bench/bench-roundtrip" "$N" "client and broker on CPU 0"
        pin_broker 0-$(($(nproc) - 1))
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

# The middle of a repeated row's runs by p99 (column 5): the lower middle of an even count.
middle_row() {
        sort -t'|' -k6,6g "$1" | sed -n "$(( ($(wc -l < "$1") + 1) / 2 ))p"
}

# The load rows with targets (LOAD_REPEATED, 64 and 256 clients) run LOAD_REPEAT times (5), the
# broker's row and the echo floor's alternated, each pair after a probe of what the machine itself
# took from its CPUs (bench-load stalls): one 3-second window's p99 is the slowest 1% of its
# requests, about 30 ms of it, the size of what a stall of the host can take (several ms at a time
# on this VM); the table gives each row's middle run by p99, and the next table every run
section_load() {
        local reps=${LOAD_REPEAT:-5} runs=$OUT/load-runs
        rm -rf "$runs"
        mkdir -p "$runs"
        echo "## Throughput (pod clients, one session each, back-to-back requests for ${SECS:-3} s)"
        echo
        echo "| clients | op | requests/s | median us | p99 us | worst client's p99 us | fewest requests of a client | broker CPU us per request | CPUs busy % |"
        echo "|---|---|---|---|---|---|---|---|---|"
        for c in ${LOAD_CLIENTS:-1 8 64 256}; do
                local k=1 r
                case " ${LOAD_REPEATED-64 256} " in *" $c "*) k=$reps ;; esac
                for r in $(seq "$k"); do
                        # PERF=1: the broker's profile under 64 clients (PERF_CLIENTS), $OUT/perf-load-64.txt
                        local st=
                        if [ -n "${PERF:-}" ] && [ "$c" = "${PERF_CLIENTS:-64}" ] && [ "$r" = 1 ]; then
                                perf record -q -F 5000 -g -o "$OUT/perf-load-64.data" -p "$BROKER" 2>/dev/null &
                                st=$!
                        fi
                        # STRACE=1: the broker's system calls under 64 clients, $OUT/strace-load-64.txt
                        if [ -n "${STRACE:-}" ] && [ "$c" = 64 ] && [ "$r" = 1 ]; then
                                strace -c -f -o "$OUT/strace-load-64.txt" -p "$BROKER" 2>/dev/null &
                                st=$!
                                sleep 0.5
                        fi
                        [ "$k" -gt 1 ] && in_pod "$B/bench/bench-load" stalls 1000 >> "$runs/stalls-$c"
                        in_pod "$B/bench/bench-load" throughput $c "${SECS:-3}" ping "$BROKER" >> "$runs/ping-$c"
                        if [ -n "$st" ] && [ -n "${STRACE:-}" ]; then
                                kill -INT $st; wait $st || true
                        elif [ -n "$st" ]; then
                                kill -INT $st; wait $st || true
                                perf report -q --no-children --percent-limit 0.5 --stdio -g none \
                                        -i "$OUT/perf-load-64.data" > "$OUT/perf-load-64.txt" 2>/dev/null || true
                                perf report -q --children --percent-limit 2 --stdio -g none \
                                        -i "$OUT/perf-load-64.data" > "$OUT/perf-load-64-children.txt" 2>/dev/null || true
                        fi
                        # the echo floor of a repeated row right after it, the same machine's state
                        if [ "$k" -gt 1 ] && [[ " ${LOAD_ECHO-echo echo2} " == *" echo "* ]]; then
                                in_pod "$B/bench/bench-load" throughput $c "${SECS:-3}" echo >> "$runs/echo-$c"
                        fi
                done
                middle_row "$runs/ping-$c"
        done
        # the floor of these rows: the same clients against a minimal epoll echo server (no broker),
        # one event loop thread and two; what this machine can do at all
        for e in ${LOAD_ECHO-echo echo2}; do
                for c in ${LOAD_CLIENTS:-1 8 64 256}; do
                        if [ ! -s "$runs/$e-$c" ]; then
                                in_pod "$B/bench/bench-load" throughput $c "${SECS:-3}" $e
                        else
                                middle_row "$runs/$e-$c"
                        fi
                done
        done
        for c in ${LOAD_MEMLOCK-1 64}; do
                in_pod "$B/bench/bench-load" throughput $c "${SECS:-3}" memlock.set "$BROKER"
        done
        echo
        ls "$runs"/stalls-* > /dev/null 2>&1 || return 0
        echo "## Throughput, every run of the repeated rows (ping, then the one-thread echo floor right after it)"
        echo
        echo "| clients | run | ping requests/s | ping p99 us | worst client's p99 us | broker CPU us per request | echo floor requests/s | echo floor p99 us | the CPUs taken from us in the second before (ms of 1000, longest) |"
        echo "|---|---|---|---|---|---|---|---|---|"
        for c in ${LOAD_CLIENTS:-1 8 64 256}; do
                [ -s "$runs/stalls-$c" ] || continue
                # paste the three files' lines side by side: ping row | echo row (or none) | stalls
                local -a pr er sr
                mapfile -t pr < "$runs/ping-$c"
                mapfile -t sr < "$runs/stalls-$c"
                er=()
                [ -s "$runs/echo-$c" ] && mapfile -t er < "$runs/echo-$c"
                for r in "${!pr[@]}"; do
                        awk -F' *\\| *' -v c="$c" -v r=$((r + 1)) -v e="${er[$r]:-}" -v s="${sr[$r]:-}" '{
                                ok = split(e, f, / *\| */) > 6 # an echo row came
                                printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", c, r, $4, $6, $7, $9,
                                        (ok ? f[4] : "-"), (ok ? f[6] : "-"), s }' <<< "${pr[$r]}"
                done
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
        local d=/run/vm-bench runs=${VM_RUNS:-50} i l memlock=$(( $(ulimit -l) * 1024 )) rttime=200000
        mkdir -p $d && chown $POD_UID:$POD_UID $d
        # memlock: what the pod already has (no CAP_SYS_RESOURCE here to go above the hard limit)
        cat > $d/spec.json <<JSON
{ "name": "vm-bench", "qemu": "qemu-system-x86_64", "accel": "tcg", "memory": "64M", "vcpus": 2,
  "realtime": { "vcpus": "1", "priority": 1, "rttime_us": $rttime }, "housekeeping": "housekeeping",
  "mem_lock": false, "memlock": $memlock,
  "nics": [ { "id": "net0", "bridge": "br0", "queues": 2 } ], "shutdown_timeout": 1 }
JSON
        : > $d/launcher.txt
        : > $d/direct.jsonl
        : > $d/broker-writes.txt
        # The broker's write(2)s and their durations, where perf is there: the housekeeping step's first
        # cgroup.threads write waits for an RCU grace period (cgroup_threadgroup_rwsem), a wait of the
        # kernel's that the direct start has too (vm-start.py times its own writes); the table names it
        local pt=
        if perf trace -e write -- true >/dev/null 2>&1; then
                perf trace -o $d/broker-writes.txt -e write -p "$BROKER" 2>/dev/null &
                pt=$!
                sleep 1
        fi
        vm_direct() {
                as_root_in_pod python3 bench/vm-start.py "$POD_IN" br0 "$memlock" 1 $rttime >> $d/direct.jsonl ||
                        echo '{"failed": '$1'}' >> $d/direct.jsonl
        }
        # pair i: the launcher's run i and the direct start's run i, one right after the other, in turn
        # first (so that neither side always follows the other's QEMU)
        for i in $(seq "$runs"); do
                if [ $((i % 2)) = 0 ]; then vm_direct $i; fi
                in_pod "$B/launcher/delegate-launcher" --spec $d/spec.json > $d/l$i.log 2>&1 &
                l=$!
                for _ in $(seq 3000); do grep -q "guest running" $d/l$i.log && break; sleep 0.02; done
                grep -o "guest running.*" $d/l$i.log >> $d/launcher.txt || { cat $d/l$i.log >&2; echo "run $i failed" >> $d/launcher.txt; }
                # the launcher itself, not $l (in_pod's subshell, whose death would leave the launcher and
                # its QEMU running into the next runs): its SIGTERM ends QEMU (system_powerdown, quit after
                # shutdown_timeout) unless QEMU is gone already (RLIMIT_RTTIME, see the spec)
                for p in $(descendants $l); do
                        [ "$(cat /proc/$p/comm 2>/dev/null)" = delegate-launch ] && kill -TERM $p 2>/dev/null
                done
                wait $l || true
                # and the broker's end of that session (TAP and cgroup removed, its state files with them)
                for _ in $(seq 500); do
                        compgen -G "/run/delegate/state/session-*" >/dev/null || break
                        sleep 0.01
                done
                if [ $((i % 2)) = 1 ]; then vm_direct $i; fi
        done
        if [ -n "$pt" ]; then kill -INT $pt; wait $pt || true; fi
        echo "## VM start, like for like: QEMU started directly by root doing the same steps, and through delegate-launcher"
        echo
        cp $d/launcher.txt $d/direct.jsonl $d/broker-writes.txt $OUT/
        python3 - $d/launcher.txt $d/direct.jsonl $d/broker-writes.txt "$runs" <<'PY'
import json, re, statistics, sys
lines = open(sys.argv[1]).read().splitlines()
direct = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
runs = int(sys.argv[4])
if len(lines) != runs or len(direct) != runs:
    # one line per run on each side (a failed run writes one too): anything else cannot be paired
    print(f"No table: {len(lines)} launcher lines and {len(direct)} direct lines for {runs} runs, not one each.")
    sys.exit(0)
STEPS = {"total": r"running ([0-9.]+) ms after the launcher started",
         "exec_to_cont": r"([0-9.]+) ms after QEMU's exec",
         "start": r"\(start ([0-9.]+) ms",
         "session": r"session ([0-9.]+) ms",
         "taps": r"TAPs ([0-9.]+) ms",
         "fork": r"fork ([0-9.]+) ms",
         "memlock": r"memlock ([0-9.]+) ms before exec",
         "housekeeping": r"housekeeping ([0-9.]+) ms",
         "realtime": r"realtime ([0-9.]+) ms after QMP",
         "cpus": r"query-cpus-fast ([0-9.]+) ms",
         "status": r"query-status ([0-9.]+) ms",
         "cont": r"cont ([0-9.]+) ms\)"}
def parse(l):  # None: a failed run, or a line without every step (counted as a failed pair)
    m = {k: re.search(p, l) for k, p in STEPS.items()}
    return {k: float(v.group(1)) for k, v in m.items()} if l.startswith("guest running") and all(m.values()) else None
parsed = [parse(l) for l in lines]
# run i of each side is a pair; a pair where either side failed is left out (said below)
keep = [p is not None and "total" in r for p, r in zip(parsed, direct)]
launcher_ok = all(l.startswith("guest running") for l in lines)
n = sum(keep)
parsed, direct = [p for p, k in zip(parsed, keep) if k], [r for r, k in zip(direct, keep) if k]
if n == 0:
    print(f"No table: none of the {runs} pairs has both sides' figures.")
    sys.exit(0)
med = statistics.median
L = {k: [p[k] for p in parsed] for k in STEPS}
D = {k: [r[k] for r in direct] for k in ("total", "exec_to_cont", "taps", "fork", "memlock", "housekeeping",
                                         "realtime", "cpus", "status", "cont")}
D["start"] = D["session"] = [0.0] * n
for X in (L, D):
    X["qmp"] = [e - c - h - r - s - o for e, c, h, r, s, o in
                zip(X["exec_to_cont"], X["cpus"], X["housekeeping"], X["realtime"], X["status"], X["cont"])]
# The grace period: the longest of the housekeeping step's writes of thread ids.  The broker's from
# perf trace: a run's writes of thread ids are those before the next longer write (the decision's line
# on the broker's stderr, after the moves; or, with the journal, a pause of 20 ms and another fd)
writes = []
for l in open(sys.argv[3], errors="replace"):
    m = re.match(r"\s*([0-9.]+) \(\s*([0-9.]+) ms\): .*write\(fd: ([0-9]+).*count: ([0-9]+)", l)
    if m:
        writes.append((float(m.group(1)), float(m.group(2)), int(m.group(3)), int(m.group(4))))
clusters, closed = [], True
for t, dur, fd, count in sorted(writes):
    if count > 8:  # a line; 8: an eventfd's counter; up to 7: a thread id (pid_max has 7 digits at most)
        closed = True
    elif count < 8:
        last = clusters[-1][-1] if clusters else None
        if closed or t - (last[0] + last[1]) > 20 and fd != last[2]:
            clusters.append([])
        clusters[-1].append((t, dur, fd))
        closed = False
# one group per launcher run (a failed one: not used), every direct run's writes timed
gp = len(clusters) == runs and launcher_ok and all(r.get("hk_writes") for r in direct)
# QEMU's command line and fork are the same work on both sides (Python's fork is slower): not delegation's
DELEGATED = ("start", "session", "taps", "memlock", "housekeeping", "realtime")
def costs():
    return [sum(L[k][i] - D[k][i] for k in DELEGATED) for i in range(n)]
cost_all = costs()  # every delegated step, the grace period's difference included (needs neither perf nor
if gp:              # attribution: the target is judged on it)
    L["gp"] = [max(d for _, d, _ in c) for c, k in zip(clusters, keep) if k]
    D["gp"] = [max(r["hk_writes"]) for r in direct]
    for X in (L, D):
        X["housekeeping"] = [h - g for h, g in zip(X["housekeeping"], X["gp"])]
    cost_but_gp = costs()
rows = [("start", "the launcher's own start: capabilities dropped, the spec read (direct: nothing)"),
        ("session", "the launcher's session with the broker (direct: nothing)"),
        ("taps", "TAP (2 queues, on br0, up)"),
        ("fork", "the same work: QEMU's command line, its process forked to its gate"),
        ("memlock", "RLIMIT_MEMLOCK of QEMU's pid, then exec"),
        ("qmp", "QEMU itself: exec to QMP ready (its own start, qmp_capabilities)"),
        ("cpus", "QEMU itself: query-cpus-fast (a QMP round trip)"),
        ("housekeeping", "housekeeping: a threaded cgroup, QEMU's non-vCPU threads moved into it" +
                         (", but for the wait below" if gp else "")),
        ("gp", "the kernel itself: the first cgroup.threads write waits for an RCU grace period"),
        ("realtime", "SCHED_FIFO for vCPU 1"),
        ("status", "QEMU itself: query-status (a QMP round trip)"),
        ("cont", "QEMU itself: cont (a QMP round trip)"),
        ("total", "**start to cont answered**")]
rows = [r for r in rows if r[0] in L]
def spread(v):
    q = statistics.quantiles(v, n=4) if len(v) > 1 else [v[0]] * 3
    return f"{q[0]:+.2f} .. {q[2]:+.2f}"
diff = {k: [l - d for l, d in zip(L[k], D[k])] for k, _ in rows}
print("| step | direct, as root (median ms) | through delegate-launcher (median ms) | "
      "difference per pair (median ms) | its middle half (ms) |")
print("|---|---|---|---|---|")
for k, what in rows:
    print(f"| {what} | {med(D[k]):.2f} | {med(L[k]):.2f} | {med(diff[k]):+.2f} | {spread(diff[k])} |")
print(f"| **delegation's cost: every delegated step's difference, summed per pair** | | | **{med(cost_all):+.2f}** "
      f"| {spread(cost_all)} |")
if gp:
    print(f"| delegation's cost but for the difference of the kernel's grace-period wait | | | "
          f"{med(cost_but_gp):+.2f} | {spread(cost_but_gp)} |")
print()
print(f"{n} pairs of runs ({runs - n} left out: a side failed, or the launcher's line lacked a step),")
print("one side right after the other, each side first in turn.  A difference is one pair's, the launcher's")
print("time minus the direct start's; the table gives their median and middle half (quartiles).  The rows")
print("\"QEMU itself\" and \"the same work\" are the same work either way (QEMU's own start and its answers on")
print("QMP; QEMU's command line and fork, where the launcher's C is faster than vm-start.py's Python): their")
print("differences are not delegation's.  Delegation's cost is, per pair, the sum of the other steps'")
print("differences (the launcher's start and session, the TAP, memlock, housekeeping, SCHED_FIFO); over the")
print(f"pairs it ranged {min(cost_all):+.1f} .. {max(cost_all):+.1f} ms.  It still flatters delegation a little: the direct")
print("TAP and memlock steps pay Python's overhead on their ioctl(2)s and prlimit(2).  The issue's target is")
print("judged on the first cost row, every delegated step, which needs neither perf nor attribution.")
if gp:
    print("The row \"the kernel itself\" is the RCU grace period that the first write to cgroup.threads waits for")
    print("(percpu_down_write -> rcu_sync_enter -> synchronize_rcu, on a cgroup2 mount without favordynmods), the")
    print("same wait on both sides: the longest of the housekeeping writes on each side, the broker's from")
    print("\"perf trace -e write\" on the broker (its other steps pay that tracing too), the direct start's timed by")
    print("bench/vm-start.py itself.  The second cost row leaves its difference out.")
else:
    print(f"The grace period is inside the housekeeping row here (no perf trace of the broker's writes, or not one")
    print(f"group of writes per run: {len(clusters)} for {runs} runs).")
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
