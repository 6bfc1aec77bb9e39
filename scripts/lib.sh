# Shell shared by the test scripts; sourced (bash), never run. Nothing here
# runs at source time.

# testserver_start SERVER ERRLOG ARGS...: starts the project's test server
# SERVER (a prossntp-testserver binary) with ARGS (its options: --listen
# ADDR:PORT, port 0 for a random one, --offset, --mode, --lifetime ...), its
# stderr appended to ERRLOG ("-": left as the caller's), and reads its
# "listening ADDR:PORT" lines up to "ready" (10 s at most for each line).
# Sets TESTSERVER_PID (the server's pid: the caller kills and reaps it),
# TESTSERVER_ADDRS (every address, in the order printed), TESTSERVER_V4 and
# TESTSERVER_V6 (the one on 127.0.0.1 and on [::1], or empty). Returns 0 when
# the server printed one address for each --listen in ARGS, else 1.
testserver_start() {
    local server=$1 errlog=$2 fd line arg want=0
    shift 2
    for arg in "$@"; do
        [[ $arg == --listen ]] && want=$((want + 1))
    done
    TESTSERVER_ADDRS=()
    TESTSERVER_V4=
    TESTSERVER_V6=
    if [[ $errlog == - ]]; then
        exec {fd}< <(exec "$server" "$@")
    else
        exec {fd}< <(exec "$server" "$@" 2>>"$errlog")
    fi
    TESTSERVER_PID=$!
    while IFS= read -r -t 10 line <&"$fd"; do
        case $line in
        "listening "*)
            TESTSERVER_ADDRS+=("${line#listening }")
            case $line in
            "listening 127.0.0.1:"*) TESTSERVER_V4=${line#listening } ;;
            "listening [::1]:"*) TESTSERVER_V6=${line#listening } ;;
            esac
            ;;
        ready) break ;;
        esac
    done
    exec {fd}<&-
    ((${#TESTSERVER_ADDRS[@]} == want))
}
