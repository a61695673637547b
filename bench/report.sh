#!/bin/bash
# bench/report.sh SECTIONS.md OUT_DIR: write OUT_DIR/RESULTS.md and
# OUT_DIR/results.png from the sections bench/sandbox.sh printed, with a
# "Targets" section computed from the same figures.
set -euo pipefail
IN=$1 DIR=$2
# column @2 (1-based, after the leading "|") of the row whose name is @1
col() { awk -F' *\\| *' -v n="$1" -v c="$2" '$2 == n { print $(c + 1); exit }' "$IN"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "n/a" }'; }
verdict() { awk -v x="$1" -v op="$2" -v y="$3" 'BEGIN { ok = op == "<" ? x < y : x >= y; print ok ? "**met**" : "**missed**" }'; }

echo_same=$(col "SEQPACKET echo, both ends on CPU 0" 4)
echo_cross=$(col "SEQPACKET echo, ends on CPU 0 and 1" 4)
echo_any=$(col "SEQPACKET echo, unpinned" 4)
prl=$(col "memlock: prlimit()" 4)
sch=$(col "sched: sched_setattr() fifo/other" 4)
cgw=$(col "cgroup: write tid to cgroup.threads" 4)
png=$(col "ping, client and broker on CPU 0" 4)
ml=$(col "memlock.set, client and broker on CPU 0" 4)
ss=$(col "sched.set fifo/other, client and broker on CPU 0" 4)
cm=$(col "cgroup.move one thread, client and broker on CPU 0" 4)
rt=$(col "SCHED_FIFO 1 via rtkit MakeThreadRealtime" 4)
rtb=$(col "SCHED_FIFO 1 via broker sched.set" 4)
tap=$(col "tap.create + bridge, unpinned" 4)
qbh=$(col "tap + bridge via qemu-bridge-helper" 4)
load() { awk -F' *\\| *' -v c="$1" -v k="$2" '$2 == c && $3 == "ping" { print $(k + 1) }' "$IN"; }
rps64=$(load 64 3) p99_64=$(load 64 5) worst64=$(load 64 6) p99_256=$(load 256 5) worst256=$(load 256 6)
# the same clients against a bare echo server (bench-load echo|echo2): what the machine can do at all
echo_load() { awk -F' *\\| *' -v c="$1" -v t="$2" -v k="$3" \
        '$2 == c && $3 == "SEQPACKET echo, " t ", no broker (floor)" { print $(k + 1) }' "$IN"; }
# the repeated load rows (sandbox.sh section_load): the table above holds each row's middle run by p99;
# " (of N runs, the middle by p99; the N: X-Y; M met the target)" from the every-run table's column @2
runs() { awk -F' *\\| *' -v c="$1" -v k="$2" -v op="$3" -v y="$4" -v u="$5" '
        NF == 11 && $2 == c && $3 ~ /^[0-9]+$/ { v = $(k + 1) + 0; n++; m += (op == "<") ? (v < y) : (v >= y)
                if (n == 1 || v < lo) lo = v; if (n == 1 || v > hi) hi = v }
        END { if (n > 1) printf " (of %d runs, the middle by p99; the %d: %s-%s%s; %d met the target)", n, n, lo, hi, u, m }' "$IN"; }
runs_rps64=$(runs 64 3 ">=" 100000 /s) runs_p99_64=$(runs 64 4 "<" 1000 " us") runs_p99_256=$(runs 256 4 "<" 5000 " us")
erps64=$(echo_load 64 "1 thread" 3) erps64b=$(echo_load 64 "2 threads" 3)
ep99_64=$(echo_load 64 "1 thread" 5) ep99_256=$(echo_load 256 "1 thread" 5)
memfd=$(awk -F' *\\| *' '$2 == "sealed memfd, one request" { print $5 * 1000 }' "$IN")
idle=$(awk -F' *\\| *' '$2 ~ /^broker RSS idle/ { print $3 + 0 }' "$IN")
per=$(awk -F' *\\| *' '$2 == "per session" { print $3 + 0 }' "$IN")
# the first of the VM start's two cost rows: every delegated step (the other leaves out the difference of
# the kernel's grace-period wait, which needs perf and an attribution)
vm_cost=$(awk -F' *\\| *' '$2 ~ /delegation.s cost: every delegated step/ { gsub(/[*+]/, "", $5); print $5 }' "$IN")
# the floor of each row and the ratio to it (client and broker on one CPU, like the echo)
floor() { awk -v a="$echo_same" -v b="${1:-0}" 'BEGIN { print a + b }'; }
x() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
{
cat <<HDR
# Benchmark results

Machine: $(nproc) CPUs ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo),
Linux $(uname -r), $(. /etc/os-release; echo "$PRETTY_NAME"); $(date -u '+%Y-%m-%d %H:%M UTC').
Produced by \`bench/run\` (an -O2 build in \`build-bench/\`; N=${N:-5000} iterations per latency row,
fewer where noted by n).  This machine is a shared VM: other work may have run at the same time,
which shows mostly in the p99 columns.

Every broker row is a **pod client**: uid 1000 in the pod cgroup
\`NODE/kubepods.slice/pod-bench\` and its own netns (with bridge \`br0\`), talking to a root broker
whose policy (\`bench/policy.d\`) matches that uid and cgroup -- the path a launcher takes.  The
*path* column says what each row goes through.  The broker logs as the shipped unit has it (no
\`--foreground\`).  $(if [ -n "${BENCH_JOURNALD:-}" ]; then
echo "A real systemd-journald runs in the sandbox and stores every record."; else
echo "No journald runs (\`BENCH_JOURNALD=1\` starts one), so the broker's journal writes fail fast."; fi)

HDR
cat "$IN"
cat <<PLOT
![median round-trip latency, log scale](results.png)

## Targets

| target | figures | verdict |
|---|---|---|
| ping <= 2.5x the SEQPACKET echo | ${png} us vs ${echo_same} us: $(x "$png" "$echo_same")x | $(verdict "$(x "$png" "$echo_same")" "<" 2.501) |
| sched.set <= 4x (echo + sched_setattr) | ${ss} us vs $(floor "$sch") us: $(x "$ss" "$(floor "$sch")")x | $(verdict "$(x "$ss" "$(floor "$sch")")" "<" 4.001) |
| cgroup.move <= 4x (echo + write to cgroup.threads) | ${cm} us vs $(floor "$cgw") us: $(x "$cm" "$(floor "$cgw")")x | $(verdict "$(x "$cm" "$(floor "$cgw")")" "<" 4.001) |
| memlock.set <= 5x (echo + prlimit), no CAP_SYS_RESOURCE | ${ml} us vs $(floor "$prl") us: $(x "$ml" "$(floor "$prl")")x | $(verdict "$(x "$ml" "$(floor "$prl")")" "<" 5.001) |
| sched.set >= 10x faster than rtkit | rtkit ${rt} us, broker ${rtb} us: $(ratio "$rt" "$rtb")x | $(verdict "$(ratio "$rt" "$rtb")" ">=" 10) |
| tap.create >= 5x faster than qemu-bridge-helper | helper ${qbh} us, broker ${tap} us: $(ratio "$qbh" "$tap")x | $(verdict "$(ratio "$qbh" "$tap")" ">=" 5) |
| >= 100k requests/s with 64 clients | ${rps64} ping/s${runs_rps64} (echo floor: ${erps64}/s one thread, ${erps64b}/s two) | $(verdict "${rps64:-0}" ">=" 100000) |
| p99 < 1 ms with 64 clients | ${p99_64} us${runs_p99_64} (worst client ${worst64} us; echo floor ${ep99_64} us) | $(verdict "${p99_64:-1e9}" "<" 1000) |
| p99 < 5 ms with 256 clients | ${p99_256} us${runs_p99_256} (worst client ${worst256} us; echo floor ${ep99_256} us) | $(verdict "${p99_256:-1e9}" "<" 5000) |
| 1M KVMI entries via memfd < 40 ms | ${memfd} ms | $(verdict "${memfd:-1e9}" "<" 40) |
| < 8 MiB RSS idle | ${idle} KiB | $(verdict "${idle:-1e9}" "<" 8192) |
| < 16 KiB per session | ${per} KiB | $(verdict "${per:-1e9}" "<" 16) |
| delegation adds < 3 ms to a VM start (like for like) | ${vm_cost:-no figure} ms: every delegated step's difference, summed per pair (median) | $(verdict "${vm_cost:-1e9}" "<" 3) |

The SEQPACKET echo is ${echo_same} us with both ends on one CPU, ${echo_cross} us across two, and
${echo_any} us unpinned (waking a task on the other CPU costs an IPI and the idle exit of a vCPU on
this VM).  The ratios are like for like: client and broker both on CPU 0, against the echo with both
ends on CPU 0 plus the operation's own system call made in-process.
PLOT
cat bench/NOTES.md
} > "$DIR/RESULTS.md"

# the plot: medians of the latency rows (unpinned where there is a choice), log scale
awk -F' *\\| *' 'NF >= 7 && $5 ~ /^[0-9.]+$/ && $4 ~ /^[0-9]+$/ && $3 !~ /^[0-9]+$/ && $2 !~ /^[0-9]+$/ && $2 !~ /CPU 0/ {
        gsub(/"/, "", $2); printf "\"%s\" %s\n", $2, $5 }' "$IN" > "$DIR/.plot.dat"
gnuplot <<GP
set terminal pngcairo size 1100,600 font ",9" noenhanced
set output "$DIR/results.png"
set title "Median round trip (us, log scale): broker operations against floors and alternatives"
set style fill solid 0.7
set logscale x
set xlabel "microseconds"
set yrange [-1:*] reverse
set ytics nomirror
set grid xtics
unset key
plot "$DIR/.plot.dat" using 2:0:(0):2:(\$0-0.35):(\$0+0.35):ytic(1) with boxxyerrorbars lc rgb "#4a7ab5"
GP
rm -f "$DIR/.plot.dat"
