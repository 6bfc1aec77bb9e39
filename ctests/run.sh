#!/usr/bin/env bash
# ctests/run.sh: builds the C test harness against libprossntp and runs it.
#
# Run it from anywhere; it works from the repository root. It must already be
# inside a loopback-only network namespace with CAP_SYS_TIME dropped (the
# caller arranges that: scripts/testnet.sh does); it refuses to run if a
# harmless probe says this process may set the clock.
#
# Environment:
#   CC                          C compiler (cc)
#   PROSSNTP_LIB_DIR            where libprossntp.so/.a are (target/debug)
#   PROSSNTP_BUILD_DIR          where the test programs go (build/ctests)
#   PROSSNTP_TESTSERVER         the test server (target/debug/prossntp-testserver)
#   PROSSNTP_CHRONYD_V4/_V6     a chronyd serving on loopback, e.g.
#                               127.0.0.1:11123 and [::1]:11123; unset is a
#                               failure unless PROSSNTP_ALLOW_NO_CHRONYD=1
#                               (then those cases are skipped)
#   PROSSNTP_CTESTS_VERBOSE=1   print every check, not only failures and notes
#
# The last line is "ctests: N passed, M failed"; the exit status is non-zero
# if any case failed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

CC=${CC:-cc}
LIB_DIR=${PROSSNTP_LIB_DIR:-target/debug}
BUILD_DIR=${PROSSNTP_BUILD_DIR:-build/ctests}
TESTSERVER=${PROSSNTP_TESTSERVER:-target/debug/prossntp-testserver}
CHRONYD_V4=${PROSSNTP_CHRONYD_V4:-}
CHRONYD_V6=${PROSSNTP_CHRONYD_V6:-}
VERBOSE=${PROSSNTP_CTESTS_VERBOSE:-0}
CASE_TIMEOUT=120

CFLAGS=(-std=c99 -Wall -Wextra -Werror -pedantic -D_GNU_SOURCE -Iinclude -Ictests)

LOGS=$BUILD_DIR/logs
mkdir -p "$LOGS"
rm -f "$LOGS"/*.log "$LOGS"/*.err

# ---------------------------------------------------------------- safety first

if ! "$CC" "${CFLAGS[@]}" ctests/clock_probe.c -o "$BUILD_DIR/clock_probe"; then
    echo "ctests: cannot build the clock probe (ctests/clock_probe.c); refusing to run" >&2
    exit 1
fi
if ! "$BUILD_DIR/clock_probe"; then
    echo "ctests: refusing to run: this process may set the clock." >&2
    echo "ctests: run inside 'setpriv --bounding-set=-sys_time --inh-caps=-sys_time unshare -n ...' (see scripts/testnet.sh)" >&2
    exit 1
fi
# Every client measures only, unless a test chooses otherwise (flow eperm).
export PROSSNTP_CLOCK=none

for f in "$LIB_DIR/libprossntp.so" "$LIB_DIR/libprossntp.a" "$TESTSERVER"; do
    if [[ ! -e $f ]]; then
        echo "ctests: $f is missing (run cargo build first)" >&2
        exit 1
    fi
done
LIB_ABS=$(cd "$LIB_DIR" && pwd)
SO=$LIB_ABS/libprossntp.so
# Programs linked with -lprossntp need the library's soname (libprossntp.so.1) at run time.
scripts/so-links.sh "$LIB_ABS"
LINK=(-L"$LIB_ABS" -lprossntp -Wl,-rpath,"$LIB_ABS" -pthread)

# ---------------------------------------------------------------- bookkeeping

passed=0
failed=0
skipped=0
failed_names=()
server_pids=()

cleanup() {
    local pid
    for pid in "${server_pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP PIPE

pass() {
    passed=$((passed + 1))
    echo "PASS  $1"
}

fail() {
    failed=$((failed + 1))
    failed_names+=("$1")
    echo "FAIL  $1${2:+: $2}"
}

skip() {
    skipped=$((skipped + 1))
    echo "SKIP  $1: $2"
}

# Shows a case's log: everything when verbose, else all but the passing checks.
show() {
    if [[ $VERBOSE == 1 ]]; then
        sed 's/^/    /' "$1"
    else
        grep -v '^  ok ' "$1" | sed 's/^/    /' || true
    fi
}

# build NAME SOURCE [compiler and linker arguments...]
build() {
    local name=$1 src=$2
    shift 2
    rm -f "$BUILD_DIR/$name"
    if ! "$CC" "${CFLAGS[@]}" "$src" "$@" -o "$BUILD_DIR/$name" >"$LOGS/build-$name.log" 2>&1; then
        echo "build of $name failed:" >&2
        sed 's/^/    /' "$LOGS/build-$name.log" >&2
    fi
}

# run_case NAME PROGRAM [ARGS...]: runs a built program with a time limit.
run_case() {
    local name=$1 prog=$2 rc=0
    shift 2
    if [[ ! -x $BUILD_DIR/$prog ]]; then
        fail "$name" "$prog was not built (see $LOGS/build-$prog.log)"
        return 0
    fi
    timeout "$CASE_TIMEOUT" "$BUILD_DIR/$prog" "$@" >"$LOGS/$name.log" 2>&1 || rc=$?
    show "$LOGS/$name.log"
    if [[ $rc == 0 ]]; then
        pass "$name"
    elif [[ $rc == 124 ]]; then
        fail "$name" "timed out after $CASE_TIMEOUT s"
    else
        fail "$name" "exit status $rc"
    fi
}

# start_server: a fresh test server on 127.0.0.1 and ::1 (random ports);
# reads its "listening ..." lines up to "ready" and sets TS_V4 and TS_V6.
start_server() {
    local ok=1
    testserver_start "$TESTSERVER" "$LOGS/testserver.err" --listen 127.0.0.1:0 --listen '[::1]:0' \
        --offset 0.25 --lifetime 300 || ok=0
    server_pids+=("$TESTSERVER_PID")
    TS_V4=$TESTSERVER_V4
    TS_V6=$TESTSERVER_V6
    if [[ $ok == 0 ]]; then
        echo "ctests: the test server did not start (pid $TESTSERVER_PID; see $LOGS/testserver.err)" >&2
        return 1
    fi
}

# ---------------------------------------------------------------- build

echo "ctests: building into $BUILD_DIR with $CC against $LIB_ABS"
build abi_layout ctests/abi_layout.c "${LINK[@]}"
build undecorated ctests/undecorated.c -DTiNG_USE_UNDECORATED_NAMES "${LINK[@]}"
build undecorated_static ctests/undecorated.c -DTiNG_USE_UNDECORATED_NAMES "$LIB_ABS/libprossntp.a" \
    -pthread -ldl -lm -lrt
build dlopen_names ctests/dlopen_names.c -ldl
build dlclose ctests/dlclose.c -ldl
build fork ctests/fork.c -pthread "${LINK[@]}"
build stress ctests/stress.c -pthread "${LINK[@]}"
build leakcycle ctests/leakcycle.c -pthread "${LINK[@]}"
build bad_input ctests/bad_input.c "${LINK[@]}"
build flow ctests/flow.c "${LINK[@]}"
build own_clock ctests/own_clock.c -pthread -lm "${LINK[@]}"
build interval ctests/interval.c -pthread -lm "${LINK[@]}"
build leap ctests/leap.c -lm "${LINK[@]}"
build chronyd_restart ctests/chronyd_restart.c -lm "${LINK[@]}"
build auth ctests/auth.c "${LINK[@]}"
# The raw clock frozen but in the library's sleeps and polls (LD_PRELOAD).
build frozen_raw_preload.so ctests/frozen_raw_preload.c -shared -fPIC -ldl
build nospin ctests/nospin.c -ldl "${LINK[@]}"

# ---------------------------------------------------------------- header and symbols

# The header must survive a second inclusion.
if "$CC" "${CFLAGS[@]}" ctests/header_twice.c "${LINK[@]}" -o "$BUILD_DIR/header_twice" \
    >"$LOGS/header_twice.log" 2>&1; then
    pass "header-included-twice"
else
    head -n 6 "$LOGS/header_twice.log" | sed 's/^/    /'
    fail "header-included-twice" "prossntp.h does not compile when included twice (full log: $LOGS/header_twice.log)"
fi

# The header defines the API's names and no others (a drop-in must not
# collide with a program's own macros and identifiers).
check_header_namespace() {
    local sys hdr extra internals
    sys=$(printf '#include <stdarg.h>\n#include <netinet/in.h>\n' | "$CC" -E -dM -x c - |
        awk '{ sub(/\(.*/, "", $2); print $2 }' | LC_ALL=C sort -u)
    hdr=$("$CC" -E -dM -Iinclude -x c include/prossntp.h | awk '{ sub(/\(.*/, "", $2); print $2 }' | LC_ALL=C sort -u)
    extra=$(LC_ALL=C comm -23 <(echo "$hdr") <(echo "$sys") |
        grep -Ev '^(PROSSNTP_H|ACUAPI|ACUTiNG_WINAPI|kSMNullModuleId|ERR_SM_[A-Z_]+|SM_SNTP_[A-Z0-9_]+_NAME|sm_sntp_(config|config_ipv6|create|destroy|get_event|status))$' |
        tr '\n' ' ' || true)
    internals=$(grep -Eo 'prossntp_call_showtrace|struct Ntp[A-Za-z]+' include/prossntp.h | LC_ALL=C sort -u | tr '\n' ' ' || true)
    if [[ -z $extra && -z $internals ]]; then
        pass "header-namespace"
    else
        [[ -n $extra ]] && echo "    macros not part of the API: $extra"
        [[ -n $internals ]] && echo "    internal declarations: $internals"
        fail "header-namespace" "prossntp.h defines names that are not part of the API"
    fi
}
check_header_namespace

# C++ programs include the header too.
CXX_BIN=${CXX:-c++}
if command -v "$CXX_BIN" >/dev/null 2>&1; then
    if printf '#include "prossntp.h"\nint main() { SM_SNTP_DESTROY_FN f = sm_sntp_destroy; return f(0); }\n' |
        "$CXX_BIN" -std=c++11 -Wall -Wextra -Werror -pedantic -Iinclude -fsyntax-only -x c++ - \
            >"$LOGS/header_cxx.log" 2>&1; then
        pass "header-c++"
    else
        head -n 6 "$LOGS/header_cxx.log" | sed 's/^/    /'
        fail "header-c++" "prossntp.h does not compile as C++"
    fi
else
    skip "header-c++" "no C++ compiler ($CXX_BIN)"
fi

plain_names=(sm_sntp_config sm_sntp_config_ipv6 sm_sntp_create sm_sntp_destroy sm_sntp_get_event sm_sntp_status)
decorated_names=(sm_sntp_config_iPsSNTPtSAdiUiUi_ sm_sntp_config_ipv6_iPsSNTPtSA6dUiUi_
    sm_sntp_create_iPsSNTPtMte1_2_SIdSI6d_ sm_sntp_destroy_iSNTPt sm_sntp_get_event_iPsSNTPtEt_
    sm_sntp_status_iPsSNTPte1_3_usi___)

ext_names=(prossntp_get_stats prossntp_gettime prossntp_now prossntp_surely_past prossntp_surely_future prossntp_past
    prossntp_wait_bound prossntp_set_drift_floor prossntp_config_key prossntp_config_keyfile prossntp_config_nts
    prossntp_version prossntp_strerror prossntp_reject_text)

# exports: NAME TYPE-LETTERS for each symbol the .so must define.
check_exports() {
    local table problems=() name
    table=$(nm -D --defined-only "$SO" | awk 'NF >= 3 { print $3, $2 }')
    for name in "${plain_names[@]}" "${decorated_names[@]}" "${ext_names[@]}"; do
        grep -qx "$name [Ti]" <<<"$table" || problems+=("$name (function)")
    done
    for name in TiNGtrace TiNG_showtrace; do
        grep -qx "$name [BDGS]" <<<"$table" || problems+=("$name (data)")
    done
    if ((${#problems[@]} == 0)); then
        echo "    the .so exports all 17 function names and TiNGtrace, TiNG_showtrace"
        pass "exports"
    else
        fail "exports" "not exported: ${problems[*]}"
    fi
}
check_exports

# Nothing else may leak from the .so: no Rust internals, no C shim, no
# dependency's symbols (rustc's cdylib export list; the library has no
# symbol versions of its own, see the README).
check_exports_only_api() {
    local expected extra
    expected=$(printf '%s\n' "${plain_names[@]}" "${decorated_names[@]}" "${ext_names[@]}" TiNGtrace TiNG_showtrace |
        LC_ALL=C sort)
    extra=$(nm -D --defined-only "$SO" | awk 'NF >= 3 { print $3 }' | sed 's/@.*//' | LC_ALL=C sort -u |
        LC_ALL=C comm -23 - <(echo "$expected") | tr '\n' ' ')
    if [[ -z $extra ]]; then
        echo "    the .so defines no other dynamic symbol"
        pass "exports-only-api"
    else
        fail "exports-only-api" "the .so also exports: $extra"
    fi
}
check_exports_only_api

# references PROGRAM WANTED-SET UNWANTED-SET: the program's undefined symbols.
check_references() {
    local case=$1 prog=$2 want=$3 unwanted=$4 undefined problems=() name
    if [[ ! -x $BUILD_DIR/$prog ]]; then
        fail "$case" "$prog was not built"
        return 0
    fi
    undefined=$(nm -u "$BUILD_DIR/$prog" | awk '{ print $NF }')
    local -n want_ref=$want unwanted_ref=$unwanted
    for name in "${want_ref[@]}"; do
        grep -qx "$name" <<<"$undefined" || problems+=("does not reference $name")
    done
    for name in "${unwanted_ref[@]}"; do
        grep -qx "$name" <<<"$undefined" && problems+=("references $name")
    done
    if ((${#problems[@]} == 0)); then
        pass "$case"
    else
        fail "$case" "${problems[*]}"
    fi
}

# ---------------------------------------------------------------- the cases

run_case abi-layout abi_layout
check_references abi-layout-links-decorated abi_layout decorated_names plain_names
run_case undecorated undecorated
check_references undecorated-links-plain undecorated plain_names decorated_names
run_case undecorated-static undecorated_static
run_case dlopen-names dlopen_names "$SO"
run_case bad-input bad_input

if start_server; then
    run_case flow-testserver-v4 flow basic "$TS_V4"
    run_case flow-testserver-v6 flow basic "$TS_V6"
    run_case own-clock-v4 own_clock "$TS_V4"
    run_case own-clock-v6 own_clock "$TS_V6"
    # A raw clock that moves only while the library sleeps: publishing the
    # own clock must sleep, not spin (about a second).
    if [[ -f $BUILD_DIR/frozen_raw_preload.so ]]; then
        run_case nospin-v4 nospin "$BUILD_DIR/frozen_raw_preload.so" "$TS_V4"
    else
        fail nospin-v4 "frozen_raw_preload.so was not built (see $LOGS/build-frozen_raw_preload.so.log)"
    fi
else
    fail flow-testserver-v4 "no test server"
    fail flow-testserver-v6 "no test server"
    fail nospin-v4 "no test server"
fi

chronyd_case() {
    local name=$1 var=$2 addr=$3
    if [[ -n $addr ]]; then
        run_case "$name" flow basic "$addr"
    elif [[ ${PROSSNTP_ALLOW_NO_CHRONYD:-} == 1 ]]; then
        skip "$name" "$var is not set (PROSSNTP_ALLOW_NO_CHRONYD=1)"
    else
        fail "$name" "$var is not set (set PROSSNTP_ALLOW_NO_CHRONYD=1 to skip)"
    fi
}
chronyd_case flow-chronyd-v4 PROSSNTP_CHRONYD_V4 "$CHRONYD_V4"
chronyd_case flow-chronyd-v6 PROSSNTP_CHRONYD_V6 "$CHRONYD_V6"
# Symmetric keys against chronyd's key file (scripts/testnet.sh).
if [[ -n $CHRONYD_V4 && -n ${PROSSNTP_CHRONYD_KEYS:-} ]]; then
    nts_v4=() nts_v6=()
    if [[ -n ${PROSSNTP_NTS_CA:-} ]]; then
        nts_v4=("$PROSSNTP_NTS_CA" 127.0.0.1 "${PROSSNTP_NTS_KE_PORT:-4460}")
        nts_v6=("$PROSSNTP_NTS_CA" ::1 "${PROSSNTP_NTS_KE_PORT:-4460}")
    fi
    run_case auth-chronyd-v4 auth "$CHRONYD_V4" "$PROSSNTP_CHRONYD_KEYS" "${nts_v4[@]}"
    run_case auth-chronyd-v6 auth "$CHRONYD_V6" "$PROSSNTP_CHRONYD_KEYS" "${nts_v6[@]}"
elif [[ ${PROSSNTP_ALLOW_NO_CHRONYD:-} == 1 ]]; then
    skip auth-chronyd "PROSSNTP_CHRONYD_KEYS is not set (PROSSNTP_ALLOW_NO_CHRONYD=1)"
else
    fail auth-chronyd "PROSSNTP_CHRONYD_KEYS is not set (run through scripts/testnet.sh)"
fi

# Each scenario switches the server's mode: each gets a fresh server.
if start_server; then
    run_case fork-v4 fork "$TS_V4"
else
    fail fork-v4 "no test server"
fi
if start_server; then
    run_case dlclose-v4 dlclose "$SO" "$TS_V4"
else
    fail dlclose-v4 "no test server"
fi
# 32 threads on shared and separate handles for 5 s; 10,000 create/config/destroy cycles.
# The interval read, waits for a bound, holdover (a test server of its own; 30 s).
run_case interval interval
# A leap second the test server announces and makes (25 s).
run_case leap leap
# Holdover while a chronyd of the test's own is stopped, then synchronised (30 s).
if command -v chronyd >/dev/null; then
    run_case chronyd-restart chronyd_restart 11141
elif [[ ${PROSSNTP_ALLOW_NO_CHRONYD:-} == 1 ]]; then
    skip chronyd-restart "chronyd is not installed (PROSSNTP_ALLOW_NO_CHRONYD=1)"
else
    fail chronyd-restart "chronyd is not installed (set PROSSNTP_ALLOW_NO_CHRONYD=1 to skip)"
fi
run_case stress stress 5
run_case leakcycle leakcycle 10000

for scenario in loss kod-deny kod-rstr kod-rate reconfig eperm tos many threads; do
    if ! start_server; then
        fail "$scenario-v4" "no test server"
        fail "$scenario-v6" "no test server"
        continue
    fi
    run_case "$scenario-v4" flow "$scenario" "$TS_V4"
    run_case "$scenario-v6" flow "$scenario" "$TS_V6"
done

# ---------------------------------------------------------------- summary

echo
echo "measured:"
grep -E '^ *(stress:|leakcycle:|calls|descriptors|threads|heap|first sync after|lost sync after|regained sync after|sync [0-9.]+ s after|kod-rate:|many:|threads:|bad-input cases:|nospin:|destroy took|threads: [0-9]+ calls from)' \
    "$LOGS"/*.log 2>/dev/null | sed -E "s|^$LOGS/||; s|\.log: *|: |; s|^|    |" || true
if ((skipped > 0)); then
    echo "skipped: $skipped"
fi
if ((failed > 0)); then
    echo "failed: ${failed_names[*]}"
fi
echo "ctests: $passed passed, $failed failed"
if ((failed > 0)); then
    exit 1
fi
