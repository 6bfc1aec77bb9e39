#!/usr/bin/env bash
# Coverage-guided fuzzing of the sans-IO core with cargo-fuzz (libFuzzer).
#
#   scripts/fuzz.sh [RUNS] [TARGET...]
#
# Runs every target in fuzz/ (or the ones named) for RUNS executions each
# (default 10,000,000), at the lowest CPU priority, growing fuzz/corpus/<target>/.
# libFuzzer stops a target at its first crash and writes the input to
# fuzz/artifacts/<target>/. Prints a table of executions, crashes and time
# per target at the end; exits 1 if any target crashed or failed.
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz --locked`).
# The checks themselves are in tests/fuzz_checks/mod.rs; tests/fuzz_replay.rs
# replays the corpus on stable `cargo test`. Minimise the corpus afterwards with
# `cargo +nightly fuzz cmin <target> -- -max_len=512`.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${1:-10000000}
shift || true
[[ $runs =~ ^[0-9]+$ ]] || { echo "usage: $0 [RUNS] [TARGET...]" >&2; exit 2; }
command -v cargo-fuzz >/dev/null || { echo "fuzz: cargo-fuzz is missing: cargo install cargo-fuzz --locked" >&2; exit 1; }

if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo +nightly fuzz list)
fi

nice -n 19 cargo +nightly fuzz build
logs=$(mktemp -d "${TMPDIR:-/tmp}/prossntp-fuzz.XXXXXX")
rows=()
failed=0
for t in "${targets[@]}"; do
    log="$logs/$t.log"
    echo "== $t: $runs runs (log: $log)"
    start=$SECONDS
    status=0
    nice -n 19 cargo +nightly fuzz run "$t" -- -runs="$runs" -max_len=512 -print_final_stats=1 >"$log" 2>&1 || status=$?
    secs=$(( SECONDS - start ))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    crashes=$(grep -c 'Test unit written to' "$log" || true)
    artifact=$(sed -n 's/.*Test unit written to //p' "$log" | tail -n 1)
    if [ "$status" -ne 0 ] && [ "$crashes" -eq 0 ]; then
        artifact="failed with status $status: see $log"
    fi
    if [ "$status" -ne 0 ]; then
        failed=1
        grep -m 2 -A 1 'panicked at' "$log" || tail -n 5 "$log"
    fi
    rows+=("$(printf '%-12s %12s %8s %8s  %s' "$t" "${execs:-?}" "$crashes" "$secs" "${artifact:-}")")
done

echo
printf '%-12s %12s %8s %8s  %s\n' target executions crashes seconds artifact
for r in "${rows[@]}"; do
    echo "$r"
done
for t in "${targets[@]}"; do
    printf 'corpus %-12s %5d files %8d bytes\n' "$t" "$(find "fuzz/corpus/$t" -type f | wc -l)" \
        "$(find "fuzz/corpus/$t" -type f -printf '%s\n' | awk '{ n += $1 } END { print n + 0 }')"
done
exit "$failed"
