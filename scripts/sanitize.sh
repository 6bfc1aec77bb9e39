#!/usr/bin/env bash
# scripts/sanitize.sh: the misuse and concurrency suites of the C harness
# under AddressSanitizer (+ LeakSanitizer), ThreadSanitizer and valgrind's
# memcheck.
#
#   nice -n 10 scripts/sanitize.sh   (as root on Debian 12)
#
# Time on a 2-core VM: 108 s with the three cargo builds from scratch
# (crates already downloaded; 68 s builds, 40 s runs), about 60 s when the
# builds are up to date.
#
# 1. Checks that the tools are there (.ci/run installs them; this script
#    names what is missing and stops): clang (clang 14 on Debian 12),
#    libclang-rt-14-dev, llvm-14 (llvm-symbolizer, for symbolised reports and
#    TSan suppressions by function name), valgrind, iproute2.
# 2. Builds libprossntp three times into $TARGET_DIR (target/sanitize), copying
#    each result to $OUT (build/sanitize)/{plain,asan,tsan}:
#      plain  cargo build --lib --bins (the default toolchain; also gives the
#             test server)
#      asan   RUSTFLAGS=-Zsanitizer=address cargo +nightly build --lib
#      tsan   RUSTFLAGS=-Zsanitizer=thread  cargo +nightly build --lib
#    (always --target x86_64-unknown-linux-gnu, so build scripts and proc
#    macros are not instrumented). With nightly's rust-src component installed
#    (rustup component list --toolchain nightly --installed) it adds
#    -Zbuild-std, so std is instrumented too. Without it, only this crate and
#    its dependencies are instrumented, std is not:
#      - ASan: std's own memory accesses are unchecked; every allocation still
#        goes through the instrumented allocator, so leaks, double frees and
#        use-after-free in this crate's code are found;
#      - TSan: -Cunsafe-allow-abi-mismatch=sanitizer is needed (rustc refuses
#        to mix a TSan crate with an uninstrumented std otherwise), and std's
#        synchronisation is invisible to TSan, which gives false reports:
#          * std's Once/LazyLock initialisation and the release of an Arc's
#            contents (alloc's Arc::drop uses fence(Acquire), which TSan does
#            not model; std built with -Zsanitizer=thread uses a load instead)
#            are suppressed ($OUT/tsan.supp, written below); the number of
#            reports each suppression swallowed is printed;
#          * std::sync::Mutex/RwLock acquired after contention (their
#            *_contended paths are precompiled): a data race report whose two
#            accesses are BOTH in the library's std-locked sections is not
#            counted (see STD_LOCKED_NAMES and tsan_count below; a name
#            the source no longer has stops the script); the number
#            filtered is printed per run. Any race with an access outside
#            those sections still counts.
#        With -Zbuild-std nothing is suppressed or filtered.
#    Without a nightly toolchain it falls back to the default toolchain with
#    RUSTC_BOOTSTRAP=1 (the same -Z flags; say so in the output).
# 3. Compiles ctests/bad_input.c, flow.c, stress.c and leakcycle.c with clang
#    and -fsanitize=address / -fsanitize=thread, linked against the sanitized
#    library, and with cc -g against the plain one (for valgrind). The C
#    programs are instrumented by clang 14, the library by rustc's newer LLVM;
#    the sanitizer runtime linked in is the Rust toolchain's
#    (librustc-*_rt.{asan,tsan}.a, the library's LLVM version): clang 14's TSan
#    runtime lacks __tsan_memcpy/__tsan_memmove, which rustc's LLVM emits.
#    -Wl,--export-dynamic lets libprossntp.so bind to the runtime in the
#    executable.
# 4. Inside scripts/testnet.sh (CAP_SYS_TIME dropped, loopback only, no
#    chronyd needed: PROSSNTP_NO_CHRONYD=1), PROSSNTP_CLOCK=none, runs for each
#    tool (asan, tsan, valgrind) the suites
#      bad_input        every call with bad input (misuse)
#      stress           32 threads, every function, $STRESS_SECONDS s
#      flow-threads-v4  status/get_event from 4 threads while reconfiguring,
#      flow-threads-v6  then destroy (IPv4 and IPv6)
#      leakcycle        $LEAK_CYCLES create/config/destroy cycles (reduced
#                       from the default 10,000)
#    each against a fresh test server on 127.0.0.1/::1 (the plain build's,
#    unsanitized). valgrind runs
#      valgrind --tool=memcheck --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99
#    on the plain build.
#
# Errors counted per run: ASan "ERROR: AddressSanitizer" reports plus
# LeakSanitizer "Direct/Indirect leak" records; TSan "WARNING: ThreadSanitizer"
# reports (after the suppressions and the std-lock filter); valgrind's ERROR
# SUMMARY count. A run passes
# when it has no errors and the program itself passed (exit status 0).
# Prints a table (tool, suite, errors, result, seconds), the figures the
# programs print, and as the last line "sanitize: N passed, M failed"; exits
# non-zero if any run failed. Logs: $OUT/logs/TOOL-SUITE.log.
#
# Environment: PROSSNTP_SANITIZE_DIR (build/sanitize),
# PROSSNTP_SANITIZE_TARGET_DIR (target/sanitize),
# PROSSNTP_SANITIZE_STRESS_SECONDS (5), PROSSNTP_SANITIZE_LEAK_CYCLES (1000),
# PROSSNTP_SANITIZE_TOOLS ("asan tsan valgrind").
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here/.."
ROOT=$PWD
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

OUT=${PROSSNTP_SANITIZE_DIR:-build/sanitize}
TARGET_DIR=${PROSSNTP_SANITIZE_TARGET_DIR:-target/sanitize}
STRESS_SECONDS=${PROSSNTP_SANITIZE_STRESS_SECONDS:-5}
LEAK_CYCLES=${PROSSNTP_SANITIZE_LEAK_CYCLES:-1000}
TOOLS=${PROSSNTP_SANITIZE_TOOLS:-asan tsan valgrind}
TRIPLE=x86_64-unknown-linux-gnu
SUITES=(bad_input stress flow-threads-v4 flow-threads-v6 leakcycle)
CFLAGS=(-std=c99 -Wall -Wextra -Werror -pedantic -D_GNU_SOURCE -Iinclude -Ictests -g -O1 -fno-omit-frame-pointer)

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

# The library's functions that run under a std lock, whose TSan data race
# reports tsan_count (run phase) does not count when both accesses are in
# them: "MODULE::Type>::fn" is a method, "MODULE::fn" a function, "MODULE::"
# every function of a module (paths under prossntp::). STD_LOCKED, the regex
# tsan_count matches frames with, is made from this list.
STD_LOCKED_NAMES=(
    'worker::status::StatusBoard>::update' 'worker::status::StatusBoard>::is_dead'
    'worker::status::StatusBoard>::take' 'worker::status::StatusBoard>::push_sync'
    'worker::status::StatusBoard>::configure' 'worker::status::StatusBoard>::pause'
    'worker::status::StatusBoard>::kill' 'worker::status::StatusBoard>::state'
    'sys::notify::Notifier>::raise' 'sys::notify::Notifier>::lower'
    'ffi::registry::get' 'ffi::registry::insert' 'ffi::registry::remove'
    'worker::Worker>::configure' 'worker::Worker>::shutdown'
    'worker::Shared>::clock_changed' 'worker::Worker>::wait_for_bound' 'worker::Worker>::past'
    'worker::event_loop::Loop>::take_commands' 'worker::event_loop::Loop>::watch_clocks'
    'worker::event_loop::Loop>::own_clock_sample'
    'sys::lock::'
)
STD_LOCKED="^<?prossntp::($(IFS='|' && echo "${STD_LOCKED_NAMES[*]}"))"

# std_locked_stale: prints each STD_LOCKED_NAMES entry the source no longer
# has (its module's file under src/, an `impl` of its type there, a `fn` of
# its name there). A renamed or moved function must fail the script, not
# silently drop out of (or, renamed back later, slip into) the filter.
std_locked_stale() {
    local name mod ty fn file
    for name in "${STD_LOCKED_NAMES[@]}"; do
        ty= fn=
        if [[ $name == *'>::'* ]]; then
            fn=${name##*>::}
            mod=${name%>::*}
            ty=${mod##*::}
            mod=${mod%::*}
        elif [[ $name == *:: ]]; then
            mod=${name%::}
        else
            fn=${name##*::}
            mod=${name%::*}
        fi
        file=src/${mod//:://}.rs
        [[ -f $file ]] || file=src/${mod//:://}/mod.rs
        if [[ ! -f $file ]]; then
            echo "$name: no module prossntp::$mod (src/${mod//:://}.rs or /mod.rs)"
        elif [[ -n $ty ]] && ! grep -Eq "^[[:space:]]*impl(<[^>]*>)?[[:space:]]+$ty([^[:alnum:]_]|\$)" "$file"; then
            echo "$name: no \`impl $ty\` in $file"
        elif [[ -n $fn ]] && ! grep -Eq "^[[:space:]]*(pub(\([a-z]+\))?[[:space:]]+)?(unsafe[[:space:]]+)?fn[[:space:]]+$fn[^[:alnum:]_]" "$file"; then
            echo "$name: no \`fn $fn\` in $file"
        fi
    done
}

# ====================================================================== run phase
# (inside scripts/testnet.sh)

if [[ ${PROSSNTP_SANITIZE_RUN:-} == 1 && ${PROSSNTP_IN_TESTNET:-} == 1 ]]; then
    LOGS=$OUT/logs
    mkdir -p "$LOGS"
    rm -f "$LOGS"/*.log "$LOGS"/*.err
    # shellcheck disable=SC1091
    source "$OUT/env.sh" # SYMBOLIZER and TSAN_FILTER, written by the build phase

    if ! "$OUT/clock_probe" >/dev/null; then
        echo "sanitize: refusing to run: this process may set the clock" >&2
        exit 1
    fi
    export PROSSNTP_CLOCK=none
    export PROSSNTP_TESTSERVER=$OUT/plain/prossntp-testserver

    server_pid=
    stop_server() {
        if [[ -n $server_pid ]]; then
            kill "$server_pid" 2>/dev/null || true
            wait "$server_pid" 2>/dev/null || true
            server_pid=
        fi
    }
    trap stop_server EXIT

    # A fresh test server on 127.0.0.1 and ::1 (random ports), as ctests/run.sh
    # starts it; sets TS_V4 and TS_V6.
    start_server() {
        local rc=0
        testserver_start "$PROSSNTP_TESTSERVER" "$LOGS/testserver.err" --listen 127.0.0.1:0 --listen '[::1]:0' \
            --offset 0.25 --lifetime 900 || rc=$?
        server_pid=$TESTSERVER_PID
        TS_V4=$TESTSERVER_V4
        TS_V6=$TESTSERVER_V6
        return $rc
    }

    # tsan_count LOG: "REPORTED FILTERED". Without -Zbuild-std, std's locks
    # are invisible to TSan: std::sync::Mutex/RwLock take the lock with an
    # instrumented atomic only on their uncontended path; after contention
    # (lock_contended, read_contended, write_contended: precompiled, not
    # instrumented) TSan never sees the acquisition, and reports the accesses
    # made under the lock as racing with the previous holder's. Such a data
    # race report is filtered (not counted) when BOTH accesses are made
    # directly in one of the library's functions that run under a std lock
    # (the innermost frame of the crate's own code, not counting its std
    # trait impls such as a derived PartialEq, matches STD_LOCKED below).
    # A race with any access outside those sections still counts. With
    # -Zbuild-std (std instrumented) nothing is filtered.
    # (STD_LOCKED: from STD_LOCKED_NAMES, at the top.)
    tsan_count() {
        awk -v locked="$STD_LOCKED" -v filter="$TSAN_FILTER" '
            /^WARNING: ThreadSanitizer:/ {
                inrep = 1; race = ($0 ~ /data race/); nacc = 0; stack = 0
                found[1] = found[2] = lk[1] = lk[2] = 0
                next
            }
            !inrep { next }
            /^  (Previous )?([Aa]tomic )?([Rr]ead|[Ww]rite) of size/ { nacc++; stack = nacc; next }
            /^    #[0-9]+ / {
                if (stack >= 1 && stack <= 2 && !found[stack]) {
                    f = $0
                    sub(/^    #[0-9]+ /, "", f)
                    # The crate'"'"'s own code; its std trait impls (derived
                    # PartialEq, Clone, ...) are helpers: look past them.
                    if (f ~ /^<?prossntp::/ && f !~ /^<prossntp::[^ ]* as (core|alloc|std)::/) {
                        found[stack] = 1
                        lk[stack] = (f ~ locked)
                    }
                }
                next
            }
            /^  [A-Z]/ { stack = 0; next }
            /^SUMMARY: ThreadSanitizer/ {
                inrep = 0
                if (filter == 1 && race && nacc >= 2 && lk[1] && lk[2]) filtered++
                else reported++
            }
            END { print reported + 0, filtered + 0 }' "$1"
    }

    # count_errors TOOL LOG: sets err_n, the number of errors the tool
    # reported in LOG, and err_filtered (TSan reports filtered as above).
    count_errors() {
        local tool=$1 log=$2 n=0 a b=0
        case $tool in
        asan)
            a=$(grep -c 'ERROR: AddressSanitizer' "$log" || true)
            b=$(grep -Ec '^(Direct|Indirect) leak of' "$log" || true)
            n=$((a + b))
            # LeakSanitizer could not run (e.g. ptrace refused): count it.
            if grep -q 'LeakSanitizer has encountered a fatal error' "$log"; then n=$((n + 1)); fi
            ;;
        tsan)
            read -r n b < <(tsan_count "$log")
            ;;
        valgrind)
            n=$(sed -n 's/^==[0-9]*== ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$log" | awk '{ s += $1 } END { print s + 0 }')
            if ! grep -q 'ERROR SUMMARY:' "$log"; then n=$((n + 1)); fi
            ;;
        esac
        err_n=$n
        err_filtered=$b
    }
    tsan_filtered=0

    rows=()
    passed=0
    failed=0
    failed_names=()

    # run_suite TOOL SUITE
    run_suite() {
        local tool=$1 suite=$2 dir log rc=0 t0 t1 n note result limit=180
        local -a cmd wrap=()
        dir=$OUT/$tool
        [[ $tool == valgrind ]] && dir=$OUT/plain
        log=$LOGS/$tool-$suite.log
        if ! start_server; then
            echo "  $tool $suite: the test server did not start (see $LOGS/testserver.err)" >"$log"
            rc=125
        fi
        case $suite in
        bad_input) cmd=("$dir/bad_input") ;;
        stress) cmd=("$dir/stress" "$STRESS_SECONDS" "$TS_V4" "$TS_V6") ;;
        flow-threads-v4) cmd=("$dir/flow" threads "$TS_V4") ;;
        flow-threads-v6) cmd=("$dir/flow" threads "$TS_V6") ;;
        leakcycle) cmd=("$dir/leakcycle" "$LEAK_CYCLES" "$TS_V4" "$TS_V6") ;;
        esac
        case $tool in
        asan)
            export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:detect_stack_use_after_return=1:external_symbolizer_path=$SYMBOLIZER"
            ;;
        tsan)
            # exitcode=0: the reports are counted here (some may be filtered, above).
            export TSAN_OPTIONS="suppressions=$OUT/tsan.supp:print_suppressions=1:halt_on_error=0:exitcode=0:second_deadlock_stack=1:external_symbolizer_path=$SYMBOLIZER"
            ;;
        valgrind)
            # --fair-sched=yes: valgrind runs one thread at a time, and its
            # default hand-over lock is not fair: a thread spinning on
            # uncontended locks can keep taking it back and starve the others
            # for minutes (the threads scenario once hung past 600 s so).
            wrap=(valgrind --tool=memcheck --fair-sched=yes --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99)
            # Calls are many times slower under valgrind: stretch the stress
            # test's promptness bounds (destroy 2 s, hang 10 s) to match.
            export PROSSNTP_STRESS_TIME_SCALE=5
            limit=600
            ;;
        esac
        t0=$(date +%s.%N)
        if [[ $rc == 0 ]]; then
            timeout "$limit" "${wrap[@]}" "${cmd[@]}" >"$log" 2>&1 || rc=$?
        fi
        t1=$(date +%s.%N)
        unset ASAN_OPTIONS TSAN_OPTIONS PROSSNTP_STRESS_TIME_SCALE
        stop_server
        count_errors "$tool" "$log"
        n=$err_n
        note=
        if ((err_filtered > 0)); then
            note=" ($err_filtered std-lock reports filtered)"
            tsan_filtered=$((tsan_filtered + err_filtered))
        fi
        if [[ $rc == 0 && $n == 0 ]]; then
            result=pass
            passed=$((passed + 1))
        else
            if [[ $rc == 124 ]]; then
                result="FAIL (timed out after $limit s)"
            elif [[ $rc != 0 ]]; then
                result="FAIL (exit status $rc)"
            else
                result="FAIL"
            fi
            failed=$((failed + 1))
            failed_names+=("$tool/$suite")
        fi
        rows+=("$(printf '%-9s %-16s %6s  %-30s %7.1f%s' "$tool" "$suite" "$n" "$result" \
            "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" "$note")")
        printf '  %-9s %-16s errors %s, %s%s\n' "$tool" "$suite" "$n" "$result" "$note"
    }

    run_t0=$(date +%s)
    echo "sanitize: running (logs in $LOGS)"
    for tool in $TOOLS; do
        for suite in "${SUITES[@]}"; do
            run_suite "$tool" "$suite"
        done
    done
    run_t1=$(date +%s)

    echo
    echo "figures:"
    for tool in $TOOLS; do
        for f in "$LOGS/$tool-stress.log" "$LOGS/$tool-leakcycle.log" "$LOGS/$tool-flow-threads-v4.log" \
            "$LOGS/$tool-flow-threads-v6.log" "$LOGS/$tool-bad_input.log"; do
            [[ -f $f ]] || continue
            grep -E '^(stress: calls|stress: destroys|stress: config WRONG|leakcycle: [0-9]+ cycles in|leakcycle: (fds|threads|heap)|threads: [0-9]+ calls|bad-input cases:)' "$f" |
                sed "s|^|    $tool $(basename "$f" .log | sed "s/^$tool-//"): |" || true
        done
    done
    if ((tsan_filtered > 0)); then
        echo
        echo "TSan data-race reports filtered as std-lock blindness (both accesses inside the library's"
        echo "std::sync-locked sections; std not instrumented): $tsan_filtered in all"
    fi
    if [[ " $TOOLS " == *" tsan "* ]] && [[ -s $OUT/tsan.supp ]]; then
        echo
        echo "TSan reports swallowed by suppressions (std not instrumented), all tsan runs:"
        cat "$LOGS"/tsan-*.log 2>/dev/null |
            awk '/^ThreadSanitizer: Matched [0-9]+ suppressions/ { on = 1; next }
                 on && /^[0-9]+ [a-z]+:/ { n[$2] += $1; next }
                 { on = 0 }
                 END { for (k in n) printf "    %8d  %s\n", n[k], k }' | sort -k2
    fi

    echo
    printf '%-9s %-16s %6s  %-30s %7s\n' tool suite errors result seconds
    printf '%s\n' "${rows[@]}"
    echo
    if [[ -n ${SANITIZE_T0:-} ]]; then
        echo "time: builds $((SANITIZE_BUILD_T1 - SANITIZE_T0)) s, runs $((run_t1 - run_t0)) s, total $((run_t1 - SANITIZE_T0)) s"
    fi
    if ((failed > 0)); then
        echo "failed: ${failed_names[*]}"
    fi
    echo "sanitize: $passed passed, $failed failed"
    ((failed == 0))
    exit
fi

# ====================================================================== build phase

SANITIZE_T0=$(date +%s)
export SANITIZE_T0

# The std-locked functions TSan's filter names must all still exist.
stale=$(std_locked_stale)
if [[ -n $stale ]]; then
    echo "sanitize: STD_LOCKED_NAMES (the TSan std-lock filter) names functions the source no longer has:" >&2
    echo "$stale" | sed 's/^/  /' >&2
    echo "sanitize: update the list in scripts/sanitize.sh to the new names, or drop them" >&2
    exit 1
fi

# ---------------------------------------------------------------- packages

need=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
command -v clang >/dev/null || command -v clang-14 >/dev/null || need+=(clang-14)
have_pkg libclang-rt-14-dev || need+=(libclang-rt-14-dev)
[[ -x /usr/lib/llvm-14/bin/llvm-symbolizer ]] || command -v llvm-symbolizer >/dev/null || need+=(llvm-14)
command -v valgrind >/dev/null || need+=(valgrind)
command -v ip >/dev/null || need+=(iproute2)
command -v cc >/dev/null || need+=(gcc libc6-dev)
command -v setpriv >/dev/null && command -v unshare >/dev/null || need+=(util-linux)
if ((${#need[@]} > 0)); then
    echo "sanitize: missing ${need[*]}: install them (apt-get install ${need[*]}; .ci/run does)" >&2
    exit 1
fi
CLANG=$(command -v clang || command -v clang-14)
if [[ -x /usr/lib/llvm-14/bin/llvm-symbolizer ]]; then
    SYMBOLIZER=/usr/lib/llvm-14/bin/llvm-symbolizer
else
    SYMBOLIZER=$(command -v llvm-symbolizer)
fi
echo "SYMBOLIZER=$SYMBOLIZER" >"$OUT/env.sh"  # TSAN_FILTER is appended below

# ---------------------------------------------------------------- toolchain

SAN_CARGO=(cargo)
SAN_ENV=()
if command -v rustup >/dev/null && rustup toolchain list | grep -q '^nightly'; then
    SAN_CARGO=(cargo +nightly)
    toolchain=nightly
else
    # No nightly (none can be fetched here): the same -Z flags on the default
    # toolchain, unlocked with RUSTC_BOOTSTRAP=1.
    SAN_ENV=(RUSTC_BOOTSTRAP=1)
    toolchain="$(rustc --version) with RUSTC_BOOTSTRAP=1 (no nightly toolchain)"
fi
if [[ $toolchain == nightly ]]; then
    sysroot=$(rustc +nightly --print sysroot)
else
    sysroot=$(rustc --print sysroot)
fi
RTDIR=$sysroot/lib/rustlib/$TRIPLE/lib
BUILD_STD=()
ABI=(-Cunsafe-allow-abi-mismatch=sanitizer)
if [[ $toolchain == nightly ]] && rustup component list --toolchain nightly --installed 2>/dev/null | grep -q '^rust-src'; then
    BUILD_STD=(-Zbuild-std)
    ABI=()
    std_note="std instrumented too (-Zbuild-std)"
else
    std_note="std NOT instrumented (no rust-src for -Zbuild-std): TSan uses $OUT/tsan.supp"
fi
rt() {
    local f
    f=$(ls "$RTDIR"/librustc-*_rt."$1".a 2>/dev/null | head -n 1)
    [[ -n $f ]] || {
        echo "sanitize: no $1 runtime (librustc-*_rt.$1.a) in $RTDIR" >&2
        exit 1
    }
    echo "$f"
}
RT_ASAN=$(rt asan)
RT_TSAN=$(rt tsan)
echo "sanitize: toolchain $toolchain; $std_note"
echo "sanitize: C compiler $CLANG ($("$CLANG" --version | head -n 1)); runtimes from $RTDIR"

# TSan suppressions: std's synchronisation that TSan cannot see while std is
# not instrumented. Nothing of this crate or its dependencies is listed.
if ((${#BUILD_STD[@]} == 0)); then
    cat >"$OUT/tsan.supp" <<'SUPP'
# std's Once / LazyLock (futex-based, uninstrumented): the initialising write
# and later readers are ordered by std's futex, which TSan does not see.
race:std::sync::once::Once
race:std::sys::sync::once
race:std::sync::lazy_lock
# alloc's Arc<T>::drop ends with fence(Acquire) unless alloc itself was
# compiled with -Zsanitizer=thread; TSan does not model fences, so freeing the
# contents after the last reference is reported as racing with the accesses
# made under the other (already dropped) references.
race:alloc::sync::Arc*drop_slow
SUPP
else
    : >"$OUT/tsan.supp"
fi

if ((${#BUILD_STD[@]} == 0)); then
    echo "TSAN_FILTER=1" >>"$OUT/env.sh"
else
    echo "TSAN_FILTER=0" >>"$OUT/env.sh"
fi

# ---------------------------------------------------------------- library builds

build_lib() { # NAME RUSTFLAGS...
    local name=$1 t0
    shift
    t0=$(date +%s)
    mkdir -p "$OUT/$name"
    if [[ $name == plain ]]; then
        env -u RUSTFLAGS CARGO_TARGET_DIR="$TARGET_DIR" cargo build --quiet --features __internal-api --lib --bins --target "$TRIPLE"
        cp "$TARGET_DIR/$TRIPLE/debug/prossntp-testserver" "$OUT/plain/"
    else
        env "${SAN_ENV[@]}" RUSTFLAGS="$*" CARGO_TARGET_DIR="$TARGET_DIR" \
            "${SAN_CARGO[@]}" build --quiet --lib --target "$TRIPLE" "${BUILD_STD[@]}"
    fi
    cp "$TARGET_DIR/$TRIPLE/debug/libprossntp.so" "$OUT/$name/"
    scripts/so-links.sh "$OUT/$name"
    echo "sanitize: built $name library in $(($(date +%s) - t0)) s${*:+ (RUSTFLAGS=$*)}"
}
build_lib plain
build_lib asan -Zsanitizer=address "${ABI[@]}"
build_lib tsan -Zsanitizer=thread "${ABI[@]}"

# ---------------------------------------------------------------- C programs

cc -std=c99 -Wall -Wextra -Werror ctests/clock_probe.c -o "$OUT/clock_probe"
compile() { # VARIANT PROGRAM
    local v=$1 p=$2 lib=$OUT/$1
    case $v in
    plain)
        cc "${CFLAGS[@]}" "ctests/$p.c" -L"$lib" -lprossntp -Wl,-rpath,"$lib" -pthread -o "$lib/$p"
        ;;
    asan | tsan)
        local flag=address runtime=$RT_ASAN
        [[ $v == tsan ]] && flag=thread runtime=$RT_TSAN
        "$CLANG" "${CFLAGS[@]}" -fsanitize=$flag -fno-sanitize-link-runtime "ctests/$p.c" \
            -L"$lib" -lprossntp -Wl,-rpath,"$lib" \
            -Wl,--whole-archive "$runtime" -Wl,--no-whole-archive -Wl,--export-dynamic \
            -pthread -ldl -lrt -lm -o "$lib/$p"
        ;;
    esac
}
for v in plain asan tsan; do
    for p in bad_input flow stress leakcycle; do
        compile "$v" "$p"
    done
done
echo "sanitize: compiled bad_input, flow, stress, leakcycle for plain (cc), asan and tsan (clang)"

SANITIZE_BUILD_T1=$(date +%s)
export SANITIZE_BUILD_T1 PROSSNTP_SANITIZE_DIR=$OUT
PROSSNTP_SANITIZE_RUN=1 PROSSNTP_NO_CHRONYD=1 exec scripts/testnet.sh "$ROOT/scripts/sanitize.sh"
