#!/usr/bin/env bash
# Accuracy benchmark: prossntp, chronyd and ntpdig measure, side by side and
# at the same time, a server known to be exactly 37 ms ahead, under seven
# conditions (plain loopback; a relay adding 1 ms of uniform jitter each way;
# the same relay with a path 2 ms longer upstream than downstream; then four
# hard networks: heavy-tailed queueing both ways, bursts of one-sided
# congestion, a symmetric route change, 20 % loss each way with jitter).
# Prints a markdown table to stdout and writes it to FILE.
#
#   scripts/bench-accuracy.sh [-o FILE]      (default bench/results/accuracy.md)
#
# Needs root, and on Debian: chrony ntpsec-ntpdig python3 iproute2 util-linux
# gcc cargo. Builds what it needs first, then runs everything inside a
# private network namespace (loopback only) with CAP_SYS_TIME dropped: no
# client can touch the clock (prossntp measures only, chronyd runs with -x,
# ntpdig is never given -s/-S) and no packet leaves the machine. Takes about
# 28 minutes. Environment knobs (defaults in brackets):
#   BENCH_POLL [1]         request interval 2^POLL s for prossntp and chronyd
#                          (ntpdig runs every 2^POLL s too)
#   BENCH_WARMUP [20]      seconds of each condition left out
#   BENCH_SAMPLES [60]     samples per client and condition after the warm-up
#   BENCH_RUNS [3]         runs of condition 2 (seeds 2, 3, ...), pooled
#   BENCH_BASE_MS [1]      relay base delay each way
#   BENCH_JITTER_MS [1]    relay uniform jitter each way
#   BENCH_ASYM_MS [2]      extra upstream delay in condition 3
#   BENCH_CONDITIONS [1 2 3 4 5 6 7]  which conditions to run
#   BENCH_KEEP=DIR         keep the raw samples and logs in DIR
#   BENCH_SERVER=PATH      another test server binary with the same options
#                          (to try a changed server) [target/release/prossntp-testserver]
#   BENCH_LIBDIR=DIR       link the prossntp client with DIR/libprossntp.a
#                          (to try a changed library) [target/release]
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

usage() { echo "usage: $0 [-o FILE]" >&2; exit 2; }
out=bench/results/accuracy.md
while getopts o:h opt; do
    case $opt in
        o) out=$OPTARG ;;
        *) usage ;;
    esac
done
shift $((OPTIND - 1))
[ $# -eq 0 ] || usage

poll=${BENCH_POLL:-1}
interval=$((1 << poll))
warmup=${BENCH_WARMUP:-20}
samples=${BENCH_SAMPLES:-60}
runs=${BENCH_RUNS:-3}
base_ms=${BENCH_BASE_MS:-1}
jitter_ms=${BENCH_JITTER_MS:-1}
asym_ms=${BENCH_ASYM_MS:-2}
bin=build/bench
server_ip=127.0.0.2

if [ "${PROSSNTP_BENCH_INNER:-}" != 1 ]; then
    [ "$(id -u)" = 0 ] || { echo "bench-accuracy: must run as root (network namespace)" >&2; exit 1; }
    missing=()
    for tool in chronyd chronyc ntpdig python3 setpriv unshare ip cargo cc; do
        command -v "$tool" >/dev/null || missing+=("$tool")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "bench-accuracy: missing ${missing[*]} (apt-get install -y chrony ntpsec-ntpdig python3 iproute2 util-linux gcc)" >&2
        exit 1
    fi
    # Build outside the namespace (it has no network). Private copies, so
    # that a rebuild elsewhere during the run changes nothing.
    nice -n 10 cargo build --release --features __internal-api --lib --bin prossntp-testserver --example replay_samples
    mkdir -p "$bin"
    cp "${BENCH_SERVER:-target/release/prossntp-testserver}" "$bin/prossntp-testserver"
    cp target/release/examples/replay_samples "$bin/replay_samples"
    cflags=(-std=c99 -O2 -Wall -Wextra -Iinclude)
    link=("${BENCH_LIBDIR:-target/release}/libprossntp.a" -lpthread -ldl -lm)
    # The prossntp client is the project's monitor (measure only, -b none).
    ${CC:-cc} "${cflags[@]}" examples-c/prossntp_monitor.c "${link[@]}" -o "$bin/prossntp-monitor"
    case $out in /*) ;; *) out=$PWD/$out ;; esac
    export PROSSNTP_BENCH_INNER=1
    exec setpriv --bounding-set=-sys_time --inh-caps=-sys_time unshare -n "$0" -o "$out"
fi

# --- inside the namespace, CAP_SYS_TIME dropped -----------------------------
ip link set lo up
run=$(mktemp -d /tmp/bench-accuracy.XXXXXX)
server_pid= relay_pid= collector_pid=
stop_pid() { # PID: terminate and reap one process of ours
    if [ -n "$1" ] && kill -0 "$1" 2>/dev/null; then
        kill "$1" 2>/dev/null || true
        wait "$1" 2>/dev/null || true
    fi
}
cleanup() {
    stop_pid "$collector_pid"
    stop_pid "$relay_pid"
    stop_pid "$server_pid"
    if [ -n "${BENCH_KEEP:-}" ]; then
        mkdir -p "$BENCH_KEEP" && cp -r "$run"/. "$BENCH_KEEP"/ && echo "raw data kept in $BENCH_KEEP" >&2
    fi
    rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# (Its stderr in server.out; scripts/lib.sh reads "listening ..." and "ready".)
started=1
testserver_start "$bin/prossntp-testserver" "$run/server.out" --listen "$server_ip:123" --offset 0.037 \
    --lifetime 3600 || started=0
server_pid=$TESTSERVER_PID
[ "$started" = 1 ] || { echo "bench-accuracy: the test server did not start" >&2; cat "$run/server.out" >&2; exit 1; }

# One line per valid reply: "... sample n=N offset=S sample_offset=S delay=S ...".
# Each client sends from an address of its own, so the relay gives each the
# same sequence of delays (bench/relay.py: common random numbers); ntpdig,
# which cannot choose, sends from 127.0.0.1.
prossntp_source=127.0.0.11 chronyd_source=127.0.0.12
client_cmd=("$bin/prossntp-monitor" -b none -p 123 -l "$prossntp_source" -n $((interval * 1000)) -r $((interval * 1000)))

version() { "$@" 2>&1 | head -1 || true; }
python3 bench/accuracy_meta.py "$run/meta.json" \
    "date=$(date -u '+%Y-%m-%d %H:%M UTC')" \
    "machine=$(nproc) CPUs, $(uname -m), $(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")" \
    "kernel=$(uname -r)" \
    "load=load average (1, 5, 15 min) at the start $(cut -d' ' -f1-3 /proc/loadavg)" \
    "prossntp=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(GIT_OPTIONAL_LOCKS=0 git diff --quiet HEAD -- src include examples-c build.rs Cargo.toml 2>/dev/null || echo ' with uncommitted changes'), client examples-c/prossntp_monitor linked with ${BENCH_LIBDIR:-target/release}/libprossntp.a (PROSSNTP_CLOCK=none)" \
    "chronyd=$(version chronyd --version)" \
    "ntpdig=$(version ntpdig --version)" \
    "python=$(version python3 --version)" \
    "setup=server ${BENCH_SERVER:-target/release/prossntp-testserver} on $server_ip:123, offset +0.037 s" \
    "interval=$interval" "poll=$poll" "warmup=$warmup"

# condition DIR LABEL ADDR DESCRIPTION [relay args] -- [collect args]
condition() {
    local name=$1 label=$2 addr=$3 desc=$4
    shift 4
    local relay_args=() collect_args=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do relay_args+=("$1"); shift; done
    [ $# -gt 0 ] && shift
    collect_args=("$@")
    mkdir -p "$run/$name"
    relay_pid=
    if [ ${#relay_args[@]} -gt 0 ]; then
        python3 bench/relay.py --listen "$addr:123" --server "$server_ip:123" "${relay_args[@]}" \
            --stats "$run/$name/relay.json" --log "$run/$name/relay.csv" > "$run/$name/relay.out" 2>&1 &
        relay_pid=$!
        for _ in $(seq 100); do grep -q '^ready' "$run/$name/relay.out" && break; sleep 0.05; done
        grep -q '^ready' "$run/$name/relay.out" || { cat "$run/$name/relay.out" >&2; exit 1; }
    fi
    echo "bench-accuracy: $label: $desc" >&2
    python3 bench/accuracy.py collect --addr "$addr" --out "$run/$name" --label "$label" \
        --description "$desc" --interval "$interval" --poll "$poll" --warmup "$warmup" \
        --samples "$samples" --chronyd-source "$chronyd_source" --max-seconds $((warmup + samples * interval * 2 + 30)) "${collect_args[@]}" \
        -- "${client_cmd[@]}" "$addr" &
    collector_pid=$!
    wait "$collector_pid"
    collector_pid=
    # The paired rows: prossntp's discipline on chronyd's raw samples.
    "$bin/replay_samples" --emit prossntp@chronyd "$run/$name/samples.csv" chronyd > "$run/$name/paired.csv"
    cat "$run/$name/paired.csv" >> "$run/$name/samples.csv"
    stop_pid "$relay_pid"
    relay_pid=
}

want() { case " ${BENCH_CONDITIONS:-1 2 3 4 5 6 7} " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
want 1 && condition cond1 "1 loopback" "$server_ip" "plain loopback, straight to the server" -- --loopback
# Condition 2 decides two targets on medians of correlated estimates: it is
# run BENCH_RUNS times with other seeds and pooled.
if want 2; then
    for k in $(seq "$runs"); do
        condition "cond2$([ "$k" = 1 ] || echo ".$k")" "2 jitter" 127.0.0.3 \
            "through bench/relay.py, ${base_ms} ms + uniform(0, ${jitter_ms}) ms each way" \
            --up-ms "$base_ms" --down-ms "$base_ms" --jitter-ms "$jitter_ms" --seed $((k + 1)) -- --seed $((k + 1))
    done
fi
up3=$(python3 -c "print($base_ms + $asym_ms)")
want 3 && condition cond3 "3 asymmetric" 127.0.0.4 \
    "through bench/relay.py, up ${up3} ms, down ${base_ms} ms, + uniform(0, ${jitter_ms}) ms each way (path ${asym_ms} ms longer upstream)" \
    --up-ms "$up3" --down-ms "$base_ms" --jitter-ms "$jitter_ms" --seed 3 \
    -- --seed 3 --expected-us "$(python3 -c "print(round($asym_ms * 500))")"

# The hard networks (bench/relay.py documents each option). Longer runs where
# the event needs room: bursts every 80 s, the route change at 80 s.
long=$((samples * 3 / 2))
long_max=$((warmup + long * interval * 2 + 30))
want 4 && condition cond4 "4 heavy tail" 127.0.0.5 \
    "through bench/relay.py, ${base_ms} ms + Lomax(scale 0.2 ms, shape 1.5) each way (heavy-tailed queueing)" \
    --up-ms "$base_ms" --down-ms "$base_ms" --tail-ms 0.2 --tail-shape 1.5 --seed 5 -- --seed 5 --hard
want 5 && condition cond5 "5 bursts" 127.0.0.6 \
    "through bench/relay.py, ${base_ms} ms + uniform(0, 0.2) ms each way; from 20 s, every 80 s, 40 s of upstream congestion: 80 % of requests wait 2.5-5 ms more" \
    --up-ms "$base_ms" --down-ms "$base_ms" --jitter-ms 0.2 --burst-every 80 --burst-for 40 --burst-ms 5 --seed 6 \
    -- --seed 6 --hard --samples "$long" --max-seconds "$long_max"
want 6 && condition cond6 "6 route change" 127.0.0.7 \
    "through bench/relay.py, ${base_ms} ms + uniform(0, 0.5) ms each way; from 80 s both ways 3 ms longer (symmetric route change)" \
    --up-ms "$base_ms" --down-ms "$base_ms" --jitter-ms 0.5 --route-at 80 --route-ms 3 --seed 7 \
    -- --seed 7 --hard --split-at 80 --samples "$long" --max-seconds "$long_max"
want 7 && condition cond7 "7 loss" 127.0.0.8 \
    "through bench/relay.py, ${base_ms} ms + uniform(0, ${jitter_ms}) ms each way, 20 % of datagrams lost each way" \
    --up-ms "$base_ms" --down-ms "$base_ms" --jitter-ms "$jitter_ms" --loss 0.2 --seed 8 -- --seed 8 --hard

python3 bench/accuracy.py report --dir "$run" --out "$out"
echo "bench-accuracy: written to $out" >&2
