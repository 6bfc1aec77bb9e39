#!/usr/bin/env bash
# Runs a command where it can neither change this machine's clock nor send a
# packet off the machine: CAP_SYS_TIME dropped, inside a private network
# namespace with only loopback, with a real chronyd serving time on
# 127.0.0.1 and ::1 (port 11123, -x: it never touches the clock), keyed NTP
# too (one key of each type the library supports).
#   scripts/testnet.sh CMD [ARGS...]
# Exports PROSSNTP_CHRONYD_V4 and PROSSNTP_CHRONYD_V6 to CMD, the server's key
# file as PROSSNTP_CHRONYD_KEYS and its command socket (for chronyc -h) as
# PROSSNTP_CHRONYC_SOCKET. chronyd also serves NTS (key exchange on port
# 4460) with a leaf certificate for localhost, 127.0.0.1 and ::1 from a test
# CA: PROSSNTP_NTS_CA is that CA, PROSSNTP_NTS_OTHER_CA one that did not sign
# it, PROSSNTP_NTS_KE_PORT the port; PROSSNTP_NTS_KEY, _CHAIN and
# _EXPIRED_CHAIN the leaf's key, its chain and an expired one, for tests that
# start a chronyd of their own.
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
    command -v openssl >/dev/null || { echo "testnet: openssl not found (apt-get install openssl)" >&2; exit 1; }
    # The NTS test CA (and another), and chronyd's leaf: EC P-256, 30 days.
    ca() { # NAME
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$dir/$1.key" \
            -out "$dir/$1.crt" -days 30 -subj "/CN=prossntp $1" \
            -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
    }
    ca test-ca && ca other-ca
    printf '%s\n' basicConstraints=critical,CA:FALSE extendedKeyUsage=serverAuth \
        'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1' > "$dir/leaf.ext"
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$dir/leaf.key" \
        -out "$dir/leaf.csr" -subj /CN=localhost 2>/dev/null
    openssl x509 -req -in "$dir/leaf.csr" -CA "$dir/test-ca.crt" -CAkey "$dir/test-ca.key" -CAcreateserial \
        -out "$dir/leaf.crt" -days 30 -extfile "$dir/leaf.ext" 2>/dev/null
    cat "$dir/leaf.crt" "$dir/test-ca.crt" > "$dir/chain.crt"
    # The same leaf, expired (valid for January 2020 only), for tests that start a chronyd of their own.
    touch "$dir/index.txt" && echo 01 > "$dir/serial"
    printf '[ca]\ndefault_ca=d\n[d]\ndatabase=%s/index.txt\nnew_certs_dir=%s\nserial=%s/serial\ndefault_md=sha256\npolicy=p\n[p]\ncommonName=supplied\n' \
        "$dir" "$dir" "$dir" > "$dir/ca.cnf"
    openssl ca -batch -config "$dir/ca.cnf" -cert "$dir/test-ca.crt" -keyfile "$dir/test-ca.key" -in "$dir/leaf.csr" \
        -out "$dir/expired.crt" -startdate 20200101000000Z -enddate 20200201000000Z -extfile "$dir/leaf.ext" -notext 2>/dev/null
    cat "$dir/expired.crt" "$dir/test-ca.crt" > "$dir/expired-chain.crt"
    mkdir -p "$dir/nts"
    cat > "$dir/chrony.conf" <<CONF
port $port
bindaddress 127.0.0.1
bindaddress ::1
local stratum 8
allow 127.0.0.1
allow ::1
cmdport 0
bindcmdaddress $dir/cmd.sock
keyfile $dir/chrony.keys
ntsserverkey $dir/leaf.key
ntsservercert $dir/chain.crt
ntsport 4460
ntsdumpdir $dir/nts
ntsprocesses 0
pidfile $dir/chronyd.pid
CONF
    # Test keys (IDs 1-6); tests/auth.rs and ctests/auth.c know them by ID.
    cat > "$dir/chrony.keys" <<'KEYS'
1 MD5 HEX:6B1E3C0F9A2D4E5B7C8D9E0F1A2B3C4D5E6F7A8B
2 SHA1 HEX:933F62BE1D604E68A81B557F18CFA200483F5B70
3 SHA256 HEX:0F1E2D3C4B5A69788796A5B4C3D2E1F00112233445566778899AABBCCDDEEFF0
4 AES128 HEX:7EA62AE64D190114D46D5A082F948EC1
5 AES256 HEX:37DDCBC67BB902BCB8E995977FAB4D2B5642F5B32EBCEEE421921D97E5CBFE39
6 ASCII:crocus
KEYS
    chronyd -x -d -u root -f "$dir/chrony.conf" > "$dir/chronyd.log" 2>&1 &
    chronyd_pid=$!
    # Wait until it answers an SNTP request (about a second).
    python3 "$(dirname "$0")/testnet-wait.py" "$port"
    export PROSSNTP_CHRONYD_V4="127.0.0.1:$port" PROSSNTP_CHRONYD_V6="[::1]:$port"
    export PROSSNTP_CHRONYD_KEYS="$dir/chrony.keys" PROSSNTP_CHRONYC_SOCKET="$dir/cmd.sock"
    export PROSSNTP_NTS_CA="$dir/test-ca.crt" PROSSNTP_NTS_OTHER_CA="$dir/other-ca.crt" PROSSNTP_NTS_KE_PORT=4460
    export PROSSNTP_NTS_KEY="$dir/leaf.key" PROSSNTP_NTS_CHAIN="$dir/chain.crt" PROSSNTP_NTS_EXPIRED_CHAIN="$dir/expired-chain.crt"
fi

"$@"
