#!/usr/bin/env bash
# clknetsim-check.sh: runs prossntp (a small C client, node 2) against chronyd
# (node 1, "local stratum 1") under chrony's clock and network simulator
# clknetsim, in the settings of chrony's test/simulation scripts
# (001-defaults, 003-largefreqoffset, 007-largewander), and optionally
# chronyd itself as the client for comparison. Not part of the test suite:
# it needs clknetsim's sources (https://github.com/mlichvar/clknetsim, built
# with make) and chronyd.
#
#   CLKNETSIM_PATH=/path/to/clknetsim scripts/clknetsim-check.sh [SCENARIO...]
#
# SCENARIO: default | freq+5e-3 | freq-5e-3 | freq+5e-2 | freq-5e-2 | wander
#   (default: default freq-5e-3 freq+5e-3 wander)
# Environment: MODE=plain|shim (default plain: the library with clknetsim.so
# alone; shim: with scripts/clknetsim/mt_shim.c preloaded before it, which
# works around clknetsim's single-threaded client, see that file),
# CLIENT=prossntp|chronyd|both (default both), LIMIT (simulated
# seconds, 10000), POLL_MS (prossntp had_reply_delay, 64000), CHRONY_POLL
# (chronyd minpoll/maxpoll, "minpoll 6 maxpoll 6"), OUT (results directory,
# /tmp/clknetsim-check), CHRONYD (/usr/sbin/chronyd).
#
# Results land in $OUT/<scenario>.<client>/ (stats: clknetsim's per-node
# statistics, reset after the sync time as chrony's tests do; log.offset,
# log.freq: the true offset and frequency error per second; log.2: the
# client's output with the library trace) and one line each in $OUT/summary.
# In plain mode sm_sntp_create fails (-101): clknetsim's socket() rejects
# SOCK_CLOEXEC, which the library's socket carries.
#
# Safety: every simulated process runs with CAP_SYS_TIME dropped from its
# bounding and inheritable sets and in a fresh network namespace (unshare -n,
# loopback only); clock calls go to clknetsim.so's fakes and never reach the
# kernel.
set -u
HERE=$(cd "$(dirname "$0")/.." && pwd)
CLKNETSIM_PATH=${CLKNETSIM_PATH:-/tmp/clknetsim}
CHRONYD=${CHRONYD:-/usr/sbin/chronyd}
CLIENT=${CLIENT:-both}
LIMIT=${LIMIT:-10000}
POLL_MS=${POLL_MS:-64000}
CHRONY_POLL=${CHRONY_POLL:-minpoll 6 maxpoll 6}
OUT=${OUT:-/tmp/clknetsim-check}
MODE=${MODE:-plain}
# The library rejects server times before its build date: clknetsim's default
# start (2010-01-01) is moved to a day after now (the build time, unless
# SOURCE_DATE_EPOCH was set).
START_DATE=${START_DATE:-$(( ($(date +%s) / 86400 + 1) * 86400 ))}
LIBDIR=${LIBDIR:-$HERE/target/debug}

[ -x "$CLKNETSIM_PATH/clknetsim" ] && [ -f "$CLKNETSIM_PATH/clknetsim.so" ] || {
    echo "build clknetsim first (make in $CLKNETSIM_PATH)" >&2; exit 2; }
[ -f "$LIBDIR/libprossntp.so" ] || { echo "cargo build --lib first" >&2; exit 2; }

mkdir -p "$OUT"
CC=${CC:-cc}
$CC -std=c99 -Wall -Wextra -O2 -g -I"$HERE/include" "$HERE/scripts/clknetsim/sim_client.c" \
    -D_GNU_SOURCE -L"$LIBDIR" -Wl,-rpath,"$LIBDIR" -lprossntp -pthread -o "$OUT/sim_client" || exit 1
$CC -O2 -Wall -shared -fPIC -o "$OUT/mt_shim.so" "$HERE/scripts/clknetsim/mt_shim.c" -ldl -lpthread || exit 1
if [ "$MODE" = shim ]; then PRE=$OUT/mt_shim.so:; WAIT=wait; else PRE=; WAIT=; fi

# Everything below runs as: no CAP_SYS_TIME, own network namespace.
SAFE=(setpriv --bounding-set=-sys_time --inh-caps=-sys_time unshare -n)

# run_one NAME CLIENT FREQ_OFFSET TIME_OFFSET WANDER SYNC_TIME
run_one() {
    local name=$1 client=$2 freq=$3 toff=$4 wander=$5 sync=$6
    local d="$OUT/$name.$client"
    rm -rf "$d"; mkdir -p "$d"
    {
        for i in 1 2; do echo "node${i}_shift_pll = 2"; done
        echo "node1_delay2 = (+ 1e-4 (* 1e-4 (exponential)))"
        echo "node2_delay1 = (+ 1e-4 (* 1e-4 (exponential)))"
        echo "node1_offset = 0.0"
        echo "node1_start = 0.0"
        echo "node2_freq = (+ $freq (sum (* $wander (normal))))"
        echo "node2_offset = $toff"
        echo "node2_start = 0.0"
    } > "$d/conf"
    cat > "$d/conf.1" <<-CONF
	pidfile $d/pidfile.1
	allow
	local stratum 1
	CONF
    cat > "$d/conf.2" <<-CONF
	pidfile $d/pidfile.2
	deny
	server 192.168.123.1 $CHRONY_POLL
	CONF
    # The whole simulation in one namespace (clknetsim talks over a UNIX
    # socket; the simulated network never touches a real interface).
    "${SAFE[@]}" bash -c '
        d=$1 client=$2 cns=$3 chronyd=$4 out=$5 poll_ms=$6 limit=$7 sync=$8 pre=$9 wait=${10}
        # The library keeps its clock-owner record in a host-wide lock file
        # (/run/prossntp.lock): each run gets its own.
        export CLKNETSIM_SOCKET=$d/sock CLKNETSIM_START_DATE=${11} PROSSNTP_LOCK_FILE=$d/prossntp.lock
        LD_PRELOAD=$cns/clknetsim.so CLKNETSIM_NODE=1 \
            $chronyd -d -f $d/conf.1 > $d/log.1 2>&1 &
        p1=$!
        if [ "$client" = chronyd ]; then
            LD_PRELOAD=$cns/clknetsim.so CLKNETSIM_NODE=2 \
                $chronyd -d -f $d/conf.2 > $d/log.2 2>&1 &
        else
            LD_PRELOAD=$pre$cns/clknetsim.so CLKNETSIM_NODE=2 \
                TiNGtrace=1 $out/sim_client 192.168.123.1 $poll_ms 1000 $wait > $d/log.2 2>&1 &
        fi
        p2=$!
        timeout 600 $cns/clknetsim -n 1 -o $d/log.offset -f $d/log.freq -p $d/log.packets \
            -r $sync -l $limit -s $d/sock $d/conf 2 > $d/stats 2> $d/log
        echo "clknetsim rc=$?" >> $d/log
        kill $p1 $p2 2>/dev/null
        for p in $p1 $p2; do
            for i in $(seq 50); do kill -0 $p 2>/dev/null || break; sleep 0.1; done
            kill -0 $p 2>/dev/null && { echo "node pid $p did not terminate, KILL" >> $d/log; kill -9 $p; }
        done
        wait
    ' _ "$d" "$client" "$CLKNETSIM_PATH" "$CHRONYD" "$OUT" "$POLL_MS" "$LIMIT" "$sync" "$PRE" "$WAIT" "$START_DATE"
    summarize "$name" "$client" "$d"
}

stat() { # stat FILE LABEL NODE
    awk -v l="$2" -v n="$3" '/^-+ Node / { node = $3 } node == n && index($0, l) == 1 { split($0, a, ":"); gsub(/[ \t]/, "", a[2]); print a[2]; exit }' "$1"
}

summarize() {
    local name=$1 client=$2 d=$3
    [ $client = prossntp ] && client=prossntp-$MODE
    printf '%-10s %-14s rms_offset=%-10s max_offset=%-10s rms_freq=%-10s max_freq=%-10s (%s)\n' \
        "$name" "$client" "$(stat $d/stats 'RMS offset' 2)" "$(stat $d/stats 'Maximum absolute offset' 2)" \
        "$(stat $d/stats 'RMS frequency' 2)" "$(stat $d/stats 'Maximum absolute frequency' 2)" \
        "$(tail -1 $d/log)" | tee -a "$OUT/summary"
}

scenario() {
    local s=$1 c
    for c in $([ "$CLIENT" = both ] && echo "prossntp chronyd" || echo "$CLIENT"); do
        case $s in
        default) run_one default $c 1e-4 1e-1 1e-9 210 ;;
        freq[+-]*)
            f=${s#freq}; f=${f#+}
            run_one "$s" $c "$f" "$(awk "BEGIN {print -($f * 130)}")" 1e-9 1000 ;;
        wander) run_one wander $c 1e-4 1e-1 1e-7 210 ;;
        *) echo "unknown scenario $s" >&2; return 2 ;;
        esac
    done
}

[ $# -gt 0 ] || set -- default freq-5e-3 freq+5e-3 wander
for s in "$@"; do scenario "$s"; done
