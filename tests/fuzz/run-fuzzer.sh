#!/bin/bash
# run-fuzzer.sh EXE SEEDS WORKDIR SECONDS MAX_LEN [DICT] - one libFuzzer run
# for the fuzz suite (-Dfuzz=enabled), in TAP, with inputs up to MAX_LEN bytes
# (the real reader's limit, from tests/fuzz/meson.build) and the target's
# dictionary of tokens when it has one (tests/fuzz/<target>.dict).  The seeds
# directory is only read: new inputs go to WORKDIR/corpus, crashes to
# WORKDIR/artifacts, the log to WORKDIR/log.  DELEGATE_FUZZ_SECONDS overrides
# SECONDS.
set -u
exe=$1 seeds=$2 work=$3 max_len=$5 dict=()
[ -n "${6:-}" ] && dict=(-dict="$6")
secs=${DELEGATE_FUZZ_SECONDS:-$4}
name=$(basename "$exe")
rm -rf "$work"
mkdir -p "$work/corpus" "$work/artifacts"
echo "1..1"
# -timeout: an input taking 10 s is a finding; -rss_limit_mb: so is 2 GiB
"$exe" "${dict[@]}" -max_total_time="$secs" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$work/artifacts/" "$work/corpus" "$seeds" >"$work/log" 2>&1
rc=$?
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
if [ $rc -eq 0 ]; then
        cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$work/log" | tail -n 1)
        echo "ok 1 - $name: ${runs:-?} inputs in ${secs} s (${cov:-cov: ?}, -max_len=$max_len${6:+, -dict=$(basename "$6")}), no finding"
        exit 0
fi
tail -n 60 "$work/log" | sed 's/^/# /'
echo "# reproducer(s): $(ls "$work/artifacts" | sed "s|^|$work/artifacts/|" | tr '\n' ' ')"
echo "not ok 1 - $name: libFuzzer exited $rc (see $work/log)"
exit 1
