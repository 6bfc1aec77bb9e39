#!/usr/bin/env bash
# Runs a command where it can neither change this machine's clock nor send a
# packet off the machine: CAP_SYS_TIME dropped, inside a private network
# namespace with only loopback, with a real chronyd serving time on
# 127.0.0.1 and ::1 (port 11123, -x: it never touches the clock).
#   scripts/testnet.sh CMD [ARGS...]
# Exports PROSSNTP_CHRONYD_V4 and PROSSNTP_CHRONYD_V6 to CMD.
set -euo pipefail

if [ "${PROSSNTP_IN_TESTNET:-}" != 1 ]; then
    export PROSSNTP_IN_TESTNET=1
    exec setpriv --bounding-set=-sys_time --inh-caps=-sys_time \
        unshare -n "$0" "$@"
fi

ip link set lo up
port=11123
dir=$(mktemp -d)
chronyd_pid=
cleanup() {
    if [ -n "$chronyd_pid" ]; then
        kill "$chronyd_pid" 2>/dev/null || true
        wait "$chronyd_pid" 2>/dev/null || true
    fi
    rm -rf "$dir"
}
trap cleanup EXIT

if [ "${PROSSNTP_NO_CHRONYD:-}" != 1 ]; then
    command -v chronyd >/dev/null || { echo "testnet: chronyd not found (apt-get install chrony)" >&2; exit 1; }
    cat > "$dir/chrony.conf" <<CONF
port $port
bindaddress 127.0.0.1
bindaddress ::1
local stratum 8
allow 127.0.0.1
allow ::1
cmdport 0
bindcmdaddress /
pidfile $dir/chronyd.pid
CONF
    chronyd -x -d -u root -f "$dir/chrony.conf" > "$dir/chronyd.log" 2>&1 &
    chronyd_pid=$!
    # Wait until it answers an SNTP request (about a second).
    python3 - "$port" <<'PY'
import socket, sys, time
port = int(sys.argv[1])
deadline = time.time() + 15
while time.time() < deadline:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.3)
    try:
        s.sendto(b"\x23" + b"\0" * 39 + b"\x01" * 8, ("127.0.0.1", port))
        data = s.recv(512)
        if len(data) >= 48 and data[0] >> 6 != 3 and 0 < data[1] < 16:
            sys.exit(0)
    except OSError:
        pass
    time.sleep(0.2)
sys.exit("testnet: chronyd did not answer")
PY
    export PROSSNTP_CHRONYD_V4="127.0.0.1:$port" PROSSNTP_CHRONYD_V6="[::1]:$port"
fi

"$@"
