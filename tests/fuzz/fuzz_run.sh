#!/bin/sh
# A bounded libFuzzer run that also fails when the target's coverage has
# collapsed: a target whose code under test lost its instrumentation (or
# that stopped reaching the parser) still "runs clean", so the edges the
# run reached (libFuzzer's last "cov: N") must be at least FLOOR.
#
#     fuzz_run.sh TARGET FLOOR SECONDS WORKDIR SEEDS
#
# New inputs go to WORKDIR (emptied first, so every run starts from the
# seeds alone); crash files go there too. Exits non-zero on a crash, a
# timeout, a leak or coverage below FLOOR.
set -eu
target=$1 floor=$2 secs=$3 work=$4 seeds=$5
rm -rf "$work"
mkdir -p "$work"
log=$work.log
status=0
"$target" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$work/" "$work" "$seeds" \
    >"$log" 2>&1 || status=$?
cat "$log"
if [ "$status" -ne 0 ]; then
    echo "fuzz_run: $target failed (exit $status); inputs in $work/" >&2
    exit 1
fi
cov=$(sed -n 's/^#[0-9]*[[:space:]]*DONE[[:space:]]*cov: \([0-9]*\) .*/\1/p' "$log" |
    tail -n 1)
if [ -z "$cov" ]; then
    echo "fuzz_run: no final 'DONE cov:' line from $target" >&2
    exit 1
fi
echo "fuzz_run: $(basename "$target") reached cov: $cov (floor $floor)"
if [ "$cov" -lt "$floor" ]; then
    echo "fuzz_run: coverage collapsed: cov: $cov < floor $floor" >&2
    exit 1
fi
