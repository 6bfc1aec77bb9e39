#!/usr/bin/env bash
# The demo: the test server serves true time + 0.25 s on loopback; the example
# program (measure only) syncs to it and prints status changes and the
# measured offset. Runs inside scripts/testnet.sh (no clock changes, no
# packets off the machine).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${PROSSNTP_BUILD_DIR:-build}
lib=target/release

if [ "${PROSSNTP_IN_TESTNET:-}" != 1 ]; then
    cargo build --release --features __internal-api --lib --bin prossntp-testserver
    scripts/so-links.sh "$lib"
    mkdir -p "$build"
    ${CC:-cc} -std=c99 -Wall -Wextra -Werror -Iinclude examples-c/sntp_poll.c \
        -L"$lib" -Wl,-rpath,"$PWD/$lib" -lprossntp -o "$build/sntp_poll"
    PROSSNTP_NO_CHRONYD=1 exec scripts/testnet.sh "$0" "$@"
fi

. scripts/lib.sh
started=1
testserver_start "$lib/prossntp-testserver" - --listen 127.0.0.1:0 --offset 0.25 --lifetime 60 || started=0
trap 'kill $TESTSERVER_PID 2>/dev/null || true' EXIT
[ "$started" = 1 ] || { echo "demo: the test server did not start" >&2; exit 1; }
addr=$TESTSERVER_V4
echo "test server on $addr, serving true time + 0.250 s"
PROSSNTP_CLOCK=none "$build/sntp_poll" -v -t "${DEMO_SECONDS:-7}" "${addr%:*}" "${addr##*:}" \
    | grep -v -e 'sm_sntp_status(' -e 'prossntp_get_stats('
