#!/usr/bin/env bash
# What prossntp costs its host program: Rust-level criterion benchmarks
# (benches/) and the C benchmark through the public ABI (bench/cbench.c),
# run inside scripts/testnet.sh (loopback only, CAP_SYS_TIME dropped) with
# PROSSNTP_CLOCK=none. Writes a markdown report.
#
#   scripts/bench.sh            full run (about 4 minutes): bench/results/cost.md
#   scripts/bench.sh --quick    shortened (under 2 minutes once built), to prove the
#                               commands work (CI): target/bench/cost-quick.md
#   scripts/bench.sh --out F    write the report to F instead
#   scripts/bench.sh --report-only [--quick]   rewrite the report from the last
#                               run's logs (target/bench/logs) without running
#
# Figures are reported with their targets; a missed target does not fail the
# script (only a command that fails does). BENCH_NICE (default 10) is the nice
# level of the runs; BENCH_NOTE is added to the report (e.g. who else used the
# machine).
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
out=
report_only=0
while [ $# -gt 0 ]; do
    case $1 in
        --quick) quick=1 ;;
        --out) out=$2; shift ;;
        --report-only) report_only=1 ;;
        *) echo "usage: scripts/bench.sh [--quick] [--out FILE] [--report-only]" >&2; exit 2 ;;
    esac
    shift
done
if [ -z "$out" ]; then
    if [ $quick = 1 ]; then out=target/bench/cost-quick.md; else out=bench/results/cost.md; fi
fi
nice_level=${BENCH_NICE:-10}
q=()
[ $quick = 1 ] && q=(--quick)

for tool in cargo cc chronyd setpriv unshare ip python3; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is missing (see .ci/run for what to install)" >&2; exit 1; }
done

work=target/bench
mkdir -p "$work" "$(dirname "$out")"
logs=$work/logs
# Builds, runs everything and records the run in $logs.
run_benchmarks() {
    rm -rf "$logs"
    mkdir -p "$logs"
    started=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
    load_start=$(cut -d' ' -f1-3 /proc/loadavg)
    t0=$(date +%s)

    # --- build (outside the namespace: it has no network)
    cargo fetch >/dev/null 2>&1 || echo "bench: cargo fetch failed; trying offline" >&2
    benches=(--bench proto --bench discipline --bench client --bench ffi)
    nice -n "$nice_level" cargo build --release --offline --features __internal-api --lib --bins
    nice -n "$nice_level" cargo bench --offline --no-run "${benches[@]}" >"$logs/build.log" 2>&1 || {
        cat "$logs/build.log" >&2
        exit 1
    }
    cc -O2 -Wall -D_GNU_SOURCE -Iinclude bench/cbench.c target/release/libprossntp.a -lpthread -ldl -lm -o "$work/cbench"

    # --- criterion benchmarks
    crit=(--warm-up-time 0.5 --measurement-time 2)
    [ $quick = 1 ] && crit=(--warm-up-time 0.1 --measurement-time 0.2 --sample-size 10)
    rm -rf target/criterion/proto target/criterion/auth target/criterion/discipline target/criterion/client target/criterion/ffi
    echo "bench: criterion (${crit[*]})"
    PROSSNTP_CLOCK=none scripts/testnet.sh nice -n "$nice_level" \
        cargo bench --offline "${benches[@]}" -- "${crit[@]}" >"$logs/criterion.log" 2>&1 || {
        tail -30 "$logs/criterion.log" >&2
        echo "bench: criterion benchmarks failed (log: $logs/criterion.log)" >&2
        exit 1
    }

    # --- C benchmark, one subcommand per namespace
    export PROSSNTP_CLOCK=none PROSSNTP_TESTSERVER=target/release/prossntp-testserver
    for cmd in calls cycle destroy first-sync wakeups many; do
        echo "bench: cbench $cmd ${q[*]}"
        if [ $cmd = first-sync ]; then chronyd_off=0; else chronyd_off=1; fi
        PROSSNTP_NO_CHRONYD=$chronyd_off scripts/testnet.sh nice -n "$nice_level" \
            "$work/cbench" $cmd "${q[@]}" >"$logs/$cmd.txt" 2>"$logs/$cmd.err" || {
            cat "$logs/$cmd.err" >&2
            echo "bench: cbench $cmd failed" >&2
            exit 1
        }
    done

    # What the report says about the run.
    {
        printf 'BENCH_STARTED=%q\n' "$started"
        printf 'BENCH_LOAD_START=%q\n' "$load_start"
        printf 'BENCH_LOAD_END=%q\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
        printf 'BENCH_SECONDS=%q\n' "$(($(date +%s) - t0))"
        printf 'BENCH_QUICK=%q\n' "$quick"
        printf 'BENCH_NICE_LEVEL=%q\n' "$nice_level"
        printf 'BENCH_COMMIT=%q\n' "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
        printf 'BENCH_RUSTC=%q\n' "$(rustc --version)"
        printf 'BENCH_CC=%q\n' "$(cc --version | head -n 1)"
        printf 'BENCH_NOTE=%q\n' "${BENCH_NOTE:-}"
    } >"$logs/meta.env"
}

if [ $report_only = 0 ]; then
    run_benchmarks
fi

# --- report
[ -f "$logs/meta.env" ] || { echo "bench: no logs in $logs: run scripts/bench.sh first" >&2; exit 1; }
set -a
# shellcheck source=/dev/null
. "$logs/meta.env"
set +a
export BENCH_LOGS=$logs
python3 bench/report.py "$out"
