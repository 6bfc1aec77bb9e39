#!/usr/bin/env bash
# scripts/examples-test.sh: builds the C examples in examples-c/ with strict
# warnings and runs each against the project's test server (serving true time
# + 0.25 s) and a real chronyd, over IPv4 and IPv6, inside scripts/testnet.sh
# (CAP_SYS_TIME dropped, loopback only) with PROSSNTP_CLOCK=none.
#
# Checks real behaviour: every example reaches Sync; the monitor's lines parse
# and its offsets are within 5 ms of 0.25 s (test server) or of 0 (chronyd);
# it stops on -c, -t, SIGTERM and a kiss-o'-death with the documented exit
# status and summary; the sd-event example prints its periodic lines on time;
# the dlopen example resolves all ten names (and falls back to
# libprossntp.so).
#
# Environment:
#   CC                         C compiler (cc)
#   PROSSNTP_EXAMPLES_BUILD    where the programs and logs go (build/examples)
#   PROSSNTP_LIB_DIR           where libprossntp.so is (target/debug)
#   PROSSNTP_TESTSERVER        the test server (LIB_DIR/prossntp-testserver)
#   PROSSNTP_EXAMPLES_NO_CARGO=1  do not run cargo build first
#
# The last line is "examples-test: N passed, M failed"; the exit status is
# non-zero if any case failed. A missing libsystemd-dev is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

OUT=${PROSSNTP_EXAMPLES_BUILD:-build/examples}
LIB_DIR=${PROSSNTP_LIB_DIR:-target/debug}
TESTSERVER=${PROSSNTP_TESTSERVER:-$LIB_DIR/prossntp-testserver}
CASE_TIMEOUT=60
# Offsets must be within this many seconds of the server's (0.25 s or 0).
TOLERANCE=0.005

# Outside the namespace (it has no network): build the library and server.
if [[ ${PROSSNTP_IN_TESTNET:-} != 1 && ${PROSSNTP_EXAMPLES_NO_CARGO:-} != 1 ]]; then
    cargo build --features __internal-api --lib --bins
fi
# The library's soname is libprossntp.so.1; cargo writes only libprossntp.so.
if [[ -e $LIB_DIR/libprossntp.so && ! -e $LIB_DIR/libprossntp.so.1 ]]; then
    if [[ -x scripts/so-links.sh ]]; then
        scripts/so-links.sh "$LIB_DIR"
    fi
    [[ -e $LIB_DIR/libprossntp.so.1 ]] || ln -sf libprossntp.so "$LIB_DIR/libprossntp.so.1"
fi
# Everything else runs in a loopback-only namespace without CAP_SYS_TIME.
if [[ ${PROSSNTP_IN_TESTNET:-} != 1 ]]; then
    exec scripts/testnet.sh "$0" "$@"
fi

# ---------------------------------------------------------------- set-up

mkdir -p "$OUT/logs"
OUT=$(cd "$OUT" && pwd)
LOGS=$OUT/logs
rm -f "$LOGS"/*.log "$LOGS"/*.err

passed=0
failed=0
failed_names=()
server_pids=()

cleanup() {
    local pid
    for pid in "${server_pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

pass() {
    passed=$((passed + 1))
    echo "PASS  $1"
}

# fail NAME REASON [LOG]: counts a failure and shows the log (and LOG.err).
fail() {
    failed=$((failed + 1))
    failed_names+=("$1")
    echo "FAIL  $1: $2"
    if [[ -n ${3:-} && -s $3 ]]; then
        sed 's/^/    | /' "$3"
    fi
    if [[ -n ${3:-} && -s $3.err ]]; then
        sed 's/^/    stderr| /' "$3.err"
    fi
}

# Safety first: this process must not be able to set the clock.
if ! ${CC:-cc} -std=c99 -Wall -Wextra -Werror ctests/clock_probe.c -o "$OUT/clock_probe" ||
    ! "$OUT/clock_probe" >/dev/null; then
    echo "examples-test: refusing to run: this process may set the clock (or the probe failed)" >&2
    exit 1
fi
export PROSSNTP_CLOCK=none
LIB_ABS=$(cd "$LIB_DIR" && pwd)
export LD_LIBRARY_PATH=$LIB_ABS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

for f in "$LIB_DIR/libprossntp.so" "$TESTSERVER"; do
    if [[ ! -e $f ]]; then
        echo "examples-test: $f is missing (cargo build --features __internal-api --lib --bins)" >&2
        exit 1
    fi
done

# ---------------------------------------------------------------- build

# Each example on its own, so that one failing to build fails only its cases.
built=()
for prog in prossntp-monitor sntp_poll sntp_sd_event sntp_dlopen gate_on_bound; do
    rm -f "$OUT/$prog"
    if make -s -C examples-c "$prog" CC="${CC:-cc}" OUT="$OUT" LIBDIR="$LIB_ABS" \
        >"$LOGS/build-$prog.log" 2>&1; then
        pass "build-$prog"
        built+=("$prog")
    elif [[ $prog == sntp_sd_event ]] && ! pkg-config --exists libsystemd 2>/dev/null; then
        fail "build-$prog" "libsystemd is missing: install libsystemd-dev and pkg-config (apt-get install -y libsystemd-dev pkg-config)" \
            "$LOGS/build-$prog.log"
    else
        fail "build-$prog" "does not build with -std=c99 -Wall -Wextra -Werror -pedantic" "$LOGS/build-$prog.log"
    fi
done

is_built() {
    local p
    for p in "${built[@]}"; do
        [[ $p == "$1" ]] && return 0
    done
    return 1
}

# ---------------------------------------------------------------- servers

# start_server MODE: a test server on 127.0.0.1 and ::1 (random ports)
# serving true time + 0.25 s in MODE; sets SRV_V4 and SRV_V6 (ADDR:PORT).
start_server() {
    local rc=0
    testserver_start "$TESTSERVER" "$LOGS/testserver.err" --listen 127.0.0.1:0 --listen '[::1]:0' \
        --offset 0.25 --mode "$1" --lifetime 600 || rc=$?
    server_pids+=("$TESTSERVER_PID")
    SRV_V4=$TESTSERVER_V4
    SRV_V6=$TESTSERVER_V6
    return $rc
}

if ! start_server normal; then
    echo "examples-test: the test server did not start (see $LOGS/testserver.err)" >&2
    exit 1
fi
TS_V4=$SRV_V4
TS_V6=$SRV_V6
CH_V4=${PROSSNTP_CHRONYD_V4:-}
CH_V6=${PROSSNTP_CHRONYD_V6:-}
echo "examples-test: test server on $TS_V4 and $TS_V6 (+0.25 s); chronyd on ${CH_V4:-none} and ${CH_V6:-none}"

host() { local a=${1%:*}; a=${a#[}; echo "${a%]}"; }
port() { echo "${1##*:}"; }

# The output checks, one per example (python3: stdlib only).
CHECK=$PWD/scripts/examples-check.py

# run NAME WANT_STATUS CHECK_KIND CHECK_ARGS -- PROGRAM ARGS...: runs a built
# example with a time limit, wants exit status WANT_STATUS, then checks its
# standard output with scripts/examples-check.py (stderr goes to LOG.err).
run() {
    local name=$1 want=$2 kind=$3 rc=0 prog log
    shift 3
    local args=()
    while [[ $1 != -- ]]; do
        args+=("$1")
        shift
    done
    shift
    prog=$1
    shift
    log=$LOGS/$name.log
    if ! is_built "$prog"; then
        fail "$name" "$prog was not built"
        return 0
    fi
    timeout "$CASE_TIMEOUT" "$OUT/$prog" "$@" >"$log" 2>"$log.err" || rc=$?
    finish "$name" "$want" "$rc" "$kind" "$log" "${args[@]}"
}

# finish NAME WANT RC KIND LOG CHECK_ARGS...
finish() {
    local name=$1 want=$2 rc=$3 kind=$4 log=$5 out
    shift 5
    if [[ $rc == 124 ]]; then
        fail "$name" "timed out after $CASE_TIMEOUT s" "$log"
    elif [[ $rc != "$want" ]]; then
        fail "$name" "exit status $rc, want $want" "$log"
    elif ! out=$(python3 "$CHECK" "$kind" "$log" tol="$TOLERANCE" "$@" 2>&1); then
        fail "$name" "output check failed" "$log"
        echo "$out"
    else
        pass "$name"
        [[ -n $out ]] && echo "$out"
    fi
    return 0
}

need_chronyd() {
    if [[ -z $CH_V4 || -z $CH_V6 ]]; then
        fail "$1" "no chronyd (PROSSNTP_CHRONYD_V4/V6 unset: scripts/testnet.sh starts one unless PROSSNTP_NO_CHRONYD=1)"
        return 1
    fi
}

# ---------------------------------------------------------------- prossntp-monitor

M=prossntp-monitor
# Usage: -h is 0, bad usage 2, both without starting a client.
if is_built $M; then
    rc=0
    "$OUT/$M" -h >"$LOGS/monitor-usage.log" 2>&1 || rc=$?
    bad=()
    [[ $rc == 0 ]] && grep -q '^usage: prossntp-monitor' "$LOGS/monitor-usage.log" || bad+=("-h exit $rc")
    for argv in "" "-x 127.0.0.1" "-p 0 127.0.0.1" "-p 70000 127.0.0.1" "-c 0 127.0.0.1" "-t -1 127.0.0.1" \
        "-n 2000 -r 1000 127.0.0.1" "-6 127.0.0.1" "not-an-address" "127.0.0.1 extra" "-l ::1 127.0.0.1"; do
        rc=0
        # shellcheck disable=SC2086
        "$OUT/$M" $argv >>"$LOGS/monitor-usage.log" 2>&1 || rc=$?
        [[ $rc == 2 ]] || bad+=("'$argv' exit $rc, want 2")
    done
    if [[ ${#bad[@]} == 0 ]]; then pass monitor-usage; else fail monitor-usage "${bad[*]}" "$LOGS/monitor-usage.log"; fi
else
    fail monitor-usage "$M was not built"
fi

# Samples until -c 4 (four requests 1 s apart), IPv4 and IPv6, test server and chronyd.
run monitor-testserver-v4 0 monitor offset=0.25 samples=4 stratum=1 refid=PSNT server="$TS_V4" local=127.0.0.1 end=count \
    status="status=Sync has_sync=1 state=running" -- $M -b none -l 127.0.0.1 -p "$(port "$TS_V4")" -n 500 -r 1000 -c 4 -t 20 \
    "$(host "$TS_V4")"
run monitor-testserver-v6 0 monitor offset=0.25 samples=4 stratum=1 refid=PSNT server="$TS_V6" local=::1 end=count \
    status="status=Sync has_sync=1 state=running" -- $M -6 -l ::1 -p "$(port "$TS_V6")" -n 500 -r 1000 -c 4 -t 20 \
    "$(host "$TS_V6")"
if need_chronyd monitor-chronyd-v4; then
    run monitor-chronyd-v4 0 monitor offset=0 samples=3 server="$CH_V4" end=count \
        status="status=Sync has_sync=1 state=running" -- $M -p "$(port "$CH_V4")" -n 500 -r 1000 -c 3 -t 20 \
        "$(host "$CH_V4")"
fi
if need_chronyd monitor-chronyd-v6; then
    run monitor-chronyd-v6 0 monitor offset=0 samples=3 server="$CH_V6" end=count \
        status="status=Sync has_sync=1 state=running" -- $M -p "$(port "$CH_V6")" -n 500 -r 1000 -c 3 -t 20 \
        "$(host "$CH_V6")"
fi

# -q and SIGTERM: status lines only, then a clean exit 0 with the summary.
if is_built $M; then
    log=$LOGS/monitor-quiet-sigterm.log
    "$OUT/$M" -q -p "$(port "$TS_V4")" -n 500 -r 1000 "$(host "$TS_V4")" >"$log" 2>"$log.err" &
    pid=$!
    sleep 2.5
    kill -TERM "$pid" 2>/dev/null || true
    rc=0
    wait "$pid" || rc=$?
    finish monitor-quiet-sigterm 0 "$rc" monitor "$log" quiet=1 samples=2 end=signal \
        status="status=Sync has_sync=1 state=running"
else
    fail monitor-quiet-sigterm "$M was not built"
fi

# No server: -t ends the run before -c samples (exit 1); the summary names the error.
run monitor-no-server 1 monitor samples=0 end=time error="Connection refused" stderr="2 samples wanted, 0 received" -- \
    $M -p 9 -n 300 -r 1000 -c 2 -t 2 127.0.0.1

# A DENY kiss stops the client: status Stopped, exit 1, kod=1.
if start_server kod-deny; then
    run monitor-kod-deny 1 monitor samples=0 end=stopped kod=1 status="status=Stopped has_sync=0 state=stopped" \
        stderr="the server sent a DENY or RSTR kiss-o'-death" -- \
        $M -p "$(port "$SRV_V4")" -n 300 -r 1000 -t 10 "$(host "$SRV_V4")"
else
    fail monitor-kod-deny "the kod-deny test server did not start"
fi
# Replies with the wrong origin are all rejected: counted by reason, with its text.
if start_server wrong-origin; then
    run monitor-rejected 1 monitor samples=0 end=time reject=bad_origin stderr="1 samples wanted" -- \
        $M -6 -p "$(port "$SRV_V6")" -n 300 -r 1000 -c 1 -t 2 "$(host "$SRV_V6")"
else
    fail monitor-rejected "the wrong-origin test server did not start"
fi

# ---------------------------------------------------------------- sntp_poll

run poll-testserver-v4 0 poll offset=0.25 -- sntp_poll -t 3 "$(host "$TS_V4")" "$(port "$TS_V4")"
run poll-testserver-v6 0 poll offset=0.25 -- sntp_poll -6 -t 3 "$(host "$TS_V6")" "$(port "$TS_V6")"
if need_chronyd poll-chronyd-v4; then
    run poll-chronyd-v4 0 poll offset=0 -- sntp_poll -t 3 "$(host "$CH_V4")" "$(port "$CH_V4")"
fi
if need_chronyd poll-chronyd-v6; then
    run poll-chronyd-v6 0 poll offset=0 -- sntp_poll -6 -t 3 "$(host "$CH_V6")" "$(port "$CH_V6")"
fi

# ---------------------------------------------------------------- gate_on_bound

# The gate on a 10 ms bound (reached at the first reply on loopback), an event
# stamped with its interval, the commit-wait; and a gate no server opens
# (port 9, nothing listening: exit status 1 after 2 s, unsynchronised).
run gate-testserver-v4 0 gate bound=0.010 -- gate_on_bound -b 10 -w 20 "$(host "$TS_V4")" "$(port "$TS_V4")"
run gate-no-server 1 gate closed=1 -- gate_on_bound -b 10 -w 2 127.0.0.1 9
if need_chronyd gate-chronyd-v6; then
    run gate-chronyd-v6 0 gate bound=0.010 -- gate_on_bound -6 -b 10 -w 20 "$(host "$CH_V6")" "$(port "$CH_V6")"
fi

# ---------------------------------------------------------------- sntp_sd_event

# -i 0.5 -t 3.2: six periodic lines, due at 0.5 s steps from the start.
run sd-event-testserver-v4 0 sd_event offset=0.25 interval=0.5 ticks=6 end="time limit reached" -- \
    sntp_sd_event -i 0.5 -t 3.2 "$(host "$TS_V4")" "$(port "$TS_V4")"
run sd-event-testserver-v6 0 sd_event offset=0.25 interval=0.5 ticks=6 end="time limit reached" -- \
    sntp_sd_event -6 -i 0.5 -t 3.2 "$(host "$TS_V6")" "$(port "$TS_V6")"
if need_chronyd sd-event-chronyd-v4; then
    run sd-event-chronyd-v4 0 sd_event offset=0 interval=0.5 ticks=6 end="time limit reached" -- \
        sntp_sd_event -i 0.5 -t 3.2 "$(host "$CH_V4")" "$(port "$CH_V4")"
fi
if need_chronyd sd-event-chronyd-v6; then
    run sd-event-chronyd-v6 0 sd_event offset=0 interval=0.5 ticks=6 end="time limit reached" -- \
        sntp_sd_event -6 -i 0.5 -t 3.2 "$(host "$CH_V6")" "$(port "$CH_V6")"
fi
# SIGINT through sd_event_add_signal ends the loop cleanly.
if is_built sntp_sd_event; then
    log=$LOGS/sd-event-sigint.log
    "$OUT/sntp_sd_event" -i 0.5 "$(host "$TS_V4")" "$(port "$TS_V4")" >"$log" 2>"$log.err" &
    pid=$!
    sleep 1.8
    kill -INT "$pid" 2>/dev/null || true
    rc=0
    wait "$pid" || rc=$?
    finish sd-event-sigint 0 "$rc" sd_event "$log" offset=0.25 interval=0.5 ticks=3 end="signal, stopping"
else
    fail sd-event-sigint "sntp_sd_event was not built"
fi

# ---------------------------------------------------------------- sntp_dlopen

run dlopen-testserver-v4 0 dlopen offset=0.25 loaded=libprossntp.so.1 -- \
    sntp_dlopen "$(host "$TS_V4")" "$(port "$TS_V4")"
run dlopen-testserver-v6-path 0 dlopen offset=0.25 loaded="$LIB_ABS/libprossntp.so" -- \
    sntp_dlopen -6 "$(host "$TS_V6")" "$(port "$TS_V6")" "$LIB_ABS/libprossntp.so"
if need_chronyd dlopen-chronyd-v4; then
    run dlopen-chronyd-v4 0 dlopen offset=0 loaded=libprossntp.so.1 -- \
        sntp_dlopen "$(host "$CH_V4")" "$(port "$CH_V4")"
fi
if need_chronyd dlopen-chronyd-v6; then
    run dlopen-chronyd-v6 0 dlopen offset=0 loaded=libprossntp.so.1 -- \
        sntp_dlopen -6 "$(host "$CH_V6")" "$(port "$CH_V6")"
fi
# Only libprossntp.so on the search path: falls back to it.
fallback=$OUT/fallback-lib
rm -rf "$fallback"
mkdir -p "$fallback"
ln -s "$LIB_ABS/libprossntp.so" "$fallback/libprossntp.so"
LD_LIBRARY_PATH=$fallback run dlopen-fallback 0 dlopen offset=0.25 loaded=libprossntp.so fallback=1 -- \
    sntp_dlopen "$(host "$TS_V4")" "$(port "$TS_V4")"

# ---------------------------------------------------------------- summary

if [[ $failed != 0 ]]; then
    echo "failed: ${failed_names[*]} (logs in $LOGS)"
fi
echo "examples-test: $passed passed, $failed failed"
[[ $failed == 0 ]]
