#!/usr/bin/env bash
# The VM clock lab: checks that libprossntp really disciplines a kernel clock,
# for each clock backend, inside qemu guests (software emulation), the only
# place where a clock may be changed. This machine's clock is never touched:
# everything on this side runs with CAP_SYS_TIME dropped, inside a private
# network namespace with only loopback, with chronyd -x as the servers.
#
#   scripts/vm-test.sh            (as root; see vmtests/README.md)
#
# Environment:
#   BACKENDS     PROSSNTP_CLOCK values to test, one VM each ("adjtimex ntp_adjtime adjtime"; "" for none)
#   SCENARIOS    "step slew freq status"
#   ONE_CLOCK_BACKENDS   backends that also run the one-clock scenarios, in a VM
#                of their own each ("adjtimex"; "" for none)
#   ONE_CLOCK_SCENARIOS  "multi falseticker twoproc foreign ownclock leap suspend"
#   LOAD_BACKENDS  backends that run the LOAD_SCENARIOS, in a VM of their own each,
#                after the other VMs, with the host's CPUs busy ("adjtimex"; "" for none)
#   LOAD_SCENARIOS "multiload multifreq"
#   HOST_LOAD    the load around those VMs: BUSY busy loops and READERS readers of
#                /dev/urandom ("2 1"; "0 0" for none)
#   LOAD_VM_TIMEOUT  seconds one of those VMs may run (600)
#   V6_SCENARIOS scenarios whose client talks IPv6 ("slew")
#   VM_JOBS      VMs run at once (4)
#   VM_TIMEOUT   seconds one VM may run (420)
#   VM_APPEND    extra kernel command line words, e.g. "vmtest.freq_secs=60 vmtest.trace=0"
#   VERBOSE=1    stream every console line, not only the VMTEST/VMDATA ones
#   KERNEL_PKG   the kernel package (default: the one linux-image-amd64 depends on)
# Cache: build/vm/ (downloaded .debs, unpacked root, static test program,
# initramfs, console logs, results.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VM=$ROOT/build/vm
BACKENDS=${BACKENDS-adjtimex ntp_adjtime adjtime}
SCENARIOS=${SCENARIOS:-step slew freq status}
ONE_CLOCK_BACKENDS=${ONE_CLOCK_BACKENDS-adjtimex}
ONE_CLOCK_SCENARIOS=${ONE_CLOCK_SCENARIOS:-multi falseticker twoproc foreign ownclock leap suspend}
LOAD_BACKENDS=${LOAD_BACKENDS-adjtimex}
LOAD_SCENARIOS=${LOAD_SCENARIOS:-multiload multifreq}
HOST_LOAD=${HOST_LOAD:-2 1}
LOAD_VM_TIMEOUT=${LOAD_VM_TIMEOUT:-600}
V6_SCENARIOS=${V6_SCENARIOS:-slew}
VM_JOBS=${VM_JOBS:-4}
VM_TIMEOUT=${VM_TIMEOUT:-420}
VM_APPEND=${VM_APPEND:-}
VERBOSE=${VERBOSE:-0}
PORT_TRUE=11123 PORT_STEP=11124 PORT_SLEW=11125
# Three servers that agree (+0.1 s) and a falseticker (+0.3 s), for the one-clock scenarios.
PORT_AHEAD1=11126 PORT_AHEAD2=11127 PORT_AHEAD3=11128 PORT_FALSE=11129
SERVER_PORTS="$PORT_TRUE $PORT_STEP $PORT_SLEW $PORT_AHEAD1 $PORT_AHEAD2 $PORT_AHEAD3 $PORT_FALSE"
# The project's test server, for the leap second (the guest tells it what to serve).
PORT_LEAP=11130
RUN=$VM/run
LOGS=$VM/logs

say() { echo "vm-test: $*"; }
die() { echo "vm-test: $*" >&2; exit 1; }
csv() { echo "$*" | tr -s ' ' ',' | sed 's/^,//; s/,$//'; }
# The VMs to run: "NAME BACKEND SCENARIO,... LOAD" a line each (LOAD 1: under host load).
jobs() {
    local b
    for b in $BACKENDS; do echo "$b $b $(csv "$SCENARIOS") 0"; done
    for b in $ONE_CLOCK_BACKENDS; do echo "$b-oneclock $b $(csv "$ONE_CLOCK_SCENARIOS") 0"; done
    for b in $LOAD_BACKENDS; do echo "$b-load $b $(csv "$LOAD_SCENARIOS") 1"; done
}

# ------------------------------------------------------------------------
# Inside the namespace: chronyd servers on loopback, then the VMs.
# ------------------------------------------------------------------------
namespace_stage() {
    # Refuse to go on if this process could set the clock.
    local cap
    for cap in CapEff CapPrm CapBnd; do
        local v
        v=$(awk -v k="$cap:" '$1 == k {print $2}' /proc/self/status)
        if (( (16#$v >> 25) & 1 )); then
            die "CAP_SYS_TIME is still in $cap ($v): refusing to run"
        fi
    done
    [ "$(readlink /proc/self/ns/net)" != "$HOST_NETNS" ] || die "not in a private network namespace"
    ip link set lo up

    rm -rf "$RUN"
    mkdir -p "$RUN" "$LOGS"
    chrony_pids=() qemu_pidfiles=() load_pids=()
    cleanup() {
        local p f
        stop_load
        for f in "${qemu_pidfiles[@]}"; do
            [ -s "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
        done
        for p in "${chrony_pids[@]}"; do kill "$p" 2>/dev/null || true; done
        for p in "${chrony_pids[@]}"; do
            for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        done
    }
    # The host load (busy loops, /dev/urandom readers): started and killed by PID.
    start_load() {
        local busy readers i
        read -r busy readers <<< "$HOST_LOAD"
        for ((i = 0; i < ${busy:-0}; i++)); do
            bash -c 'while :; do :; done' &
            load_pids+=($!)
        done
        for ((i = 0; i < ${readers:-0}; i++)); do
            cat /dev/urandom > /dev/null &
            load_pids+=($!)
        done
        say "host load: ${busy:-0} busy loops and ${readers:-0} readers of /dev/urandom (pids ${load_pids[*]:-none})"
    }
    stop_load() {
        local p
        [ ${#load_pids[@]} -gt 0 ] || return 0
        for p in "${load_pids[@]}"; do kill "$p" 2> /dev/null || true; done
        for p in "${load_pids[@]}"; do wait "$p" 2> /dev/null || true; done
        say "host load stopped (pids ${load_pids[*]})"
        load_pids=()
    }
    trap cleanup EXIT
    trap 'exit 130' INT TERM

    # The true-time server and servers following it with an offset.
    local port
    for port in $SERVER_PORTS; do
        {
            echo "port $port"
            echo "bindaddress 127.0.0.1"
            echo "bindaddress ::1"
            case $port in
                "$PORT_TRUE") echo "local stratum 8" ;;
                "$PORT_STEP") echo "server 127.0.0.1 port $PORT_TRUE iburst minpoll -4 maxpoll -4 offset 0.5" ;;
                "$PORT_SLEW") echo "server 127.0.0.1 port $PORT_TRUE iburst minpoll -4 maxpoll -4 offset 0.02" ;;
                "$PORT_FALSE") echo "server 127.0.0.1 port $PORT_TRUE iburst minpoll -4 maxpoll -4 offset 0.3" ;;
                *) echo "server 127.0.0.1 port $PORT_TRUE iburst minpoll -4 maxpoll -4 offset 0.1" ;;
            esac
            echo "allow 127.0.0.1"
            echo "allow ::1"
            echo "cmdport 0"
            echo "bindcmdaddress /"
            echo "pidfile $RUN/chronyd-$port.pid"
        } > "$RUN/chrony-$port.conf"
        chronyd -x -d -u root -f "$RUN/chrony-$port.conf" > "$LOGS/chronyd-$port.log" 2>&1 &
        chrony_pids+=($!)
    done

    # The test server the leap scenario sets to serve 2026-12-31 23:59:20 and announce a leap second.
    "$ROOT/target/release/prossntp-testserver" --listen "127.0.0.1:$PORT_LEAP" --listen "[::1]:$PORT_LEAP" \
        --lifetime 3600 > "$LOGS/testserver-$PORT_LEAP.log" 2>&1 &
    chrony_pids+=($!)

    # Wait (bounded) until each serves, over IPv4 and IPv6, with its offset.
    if ! timeout 30 python3 "$ROOT/scripts/vm-servers-ready.py" $SERVER_PORTS
    then
        echo "vm-test: chronyd logs:" >&2
        tail -n 5 "$LOGS"/chronyd-*.log >&2 || true
        return 1
    fi

    # One VM per job, VM_JOBS at a time.
    local qemu=$VM/root/usr/bin/qemu-system-x86_64
    local libs=$VM/root/usr/lib/x86_64-linux-gnu:$VM/root/lib/x86_64-linux-gnu
    local kernel filter=. b
    kernel=$(ls "$VM"/root/boot/vmlinuz-* | head -n 1)
    [ "$VERBOSE" = 1 ] || filter='^(VMTEST |VMRUN |VMDATA |VMINFO reset|VMINIT|VMTEST-DONE|Kernel panic)'
    # Boots the VM NAME (backend B, scenarios SCENARIOS, at most TIMEOUT s) in the background.
    boot_vm() {
        local name=$1 b=$2 scenarios=$3 vm_timeout=$4
        local append="console=ttyS0 panic=-1 quiet vmtest.backends=$b vmtest.scenarios=$scenarios"
        append+=" vmtest.v6=$(csv "$V6_SCENARIOS") vmtest.server4=198.51.100.1 vmtest.server6=2001:db8:51::1"
        append+=" vmtest.port_true=$PORT_TRUE vmtest.port_step=$PORT_STEP vmtest.port_slew=$PORT_SLEW"
        append+=" vmtest.port_ahead1=$PORT_AHEAD1 vmtest.port_ahead2=$PORT_AHEAD2 vmtest.port_ahead3=$PORT_AHEAD3"
        append+=" vmtest.port_false=$PORT_FALSE vmtest.port_leap=$PORT_LEAP"
        [ -z "$VM_APPEND" ] || append+=" $VM_APPEND"
        qemu_pidfiles+=("$RUN/qemu-$name.pid")
        say "[$name] booting the VM"
        (
            start=$SECONDS
            set +e
            LD_LIBRARY_PATH=$libs timeout -k 5 "$vm_timeout" "$qemu" \
                -L "$VM/root/usr/share/qemu" -L "$VM/root/usr/share/seabios" \
                -machine q35,accel=tcg -m 256 -smp 1 -nographic -no-reboot -nodefaults \
                -serial stdio -pidfile "$RUN/qemu-$name.pid" \
                -kernel "$kernel" -initrd "$VM/initrd.gz" -append "$append" \
                -netdev user,id=n0,net=198.51.100.0/24,host=198.51.100.1,ipv6-net=2001:db8:51::/64,ipv6-host=2001:db8:51::1 \
                -device virtio-net-pci,netdev=n0,romfile= \
                < /dev/null 2>&1 \
                | sed -u -e 's/\r$//' | tee "$LOGS/console-$name.log" \
                | { grep --line-buffered -E "$filter" || true; } | sed -u "s/^/[$name] /"
            say "[$name] VM finished after $((SECONDS - start)) s"
        ) &
        vm_pids+=($!)
    }
    local vm_pids=() running p name scenarios load
    # First the VMs without host load, VM_JOBS at a time.
    while read -r name b scenarios load; do
        [ "$load" = 0 ] || continue
        # At most VM_JOBS VMs at once (wait only for VM jobs, never for chronyd).
        while :; do
            running=0
            for p in "${vm_pids[@]}"; do kill -0 "$p" 2>/dev/null && running=$((running + 1)); done
            [ "$running" -ge "$VM_JOBS" ] || break
            wait -n "${vm_pids[@]}" 2>/dev/null || true
        done
        boot_vm "$name" "$b" "$scenarios" "$VM_TIMEOUT"
    done < <(jobs)
    [ ${#vm_pids[@]} = 0 ] || wait "${vm_pids[@]}" 2>/dev/null || true
    # Then each VM under host load, alone, the load running only while it does.
    while read -r name b scenarios load; do
        [ "$load" = 1 ] || continue
        vm_pids=()
        start_load
        boot_vm "$name" "$b" "$scenarios" "$LOAD_VM_TIMEOUT"
        wait "${vm_pids[@]}" 2>/dev/null || true
        stop_load
    done < <(jobs)
    return 0
}

if [ "${VMTEST_STAGE:-}" = ns ]; then
    namespace_stage
    exit $?
fi

# ------------------------------------------------------------------------
# On the host: fetch, build, pack; then the namespace stage; then results.
# ------------------------------------------------------------------------
[ "$(id -u)" = 0 ] || die "must run as root (unshare -n, apt-get download)"
started=$SECONDS
mkdir -p "$VM" "$LOGS"
exec 9> "$VM/lock"
flock -n 9 || die "another vm-test.sh is running (build/vm/lock)"

# The host's tools: installed by .ci/run, only checked here.
need=()
command -v chronyd > /dev/null || need+=(chrony)
command -v python3 > /dev/null || need+=(python3)
command -v gcc > /dev/null || need+=(gcc libc6-dev)
command -v ip > /dev/null || need+=(iproute2)
[ ${#need[@]} -eq 0 ] || die "missing tools: install ${need[*]} (apt-get install ${need[*]}; .ci/run does)"

# (a) qemu, busybox-static and a kernel, downloaded and unpacked (never
# installed): this builds the guest's root, it installs nothing on the host,
# so it stays here rather than in .ci/run.
QEMU_PKGS=(qemu-system-x86 qemu-system-common qemu-system-data seabios ipxe-qemu libslirp0 libfdt1
    libcapstone4 libpmem1 libdaxctl1 libndctl6 librdmacm1 libibverbs1 libnl-3-200 libnl-route-3-200
    libusb-1.0-0 libspice-server1 libepoxy0 libbrlapi0.8 libcacard0 libvdeplug2 liborc-0.4-0
    libgstreamer-plugins-base1.0-0 libopus0 libsndio7.0 libusbredirparser1 libexecs0 busybox-static)
pick_kernel() {
    local k
    k=$(apt-cache depends linux-image-amd64 2> /dev/null |
        sed -n 's/^ *Depends: \(linux-image-6\.1\.0-[0-9]*-amd64\)$/\1/p' | head -n 1)
    [ -n "$k" ] || k=$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64$' 2> /dev/null |
        awk '{print $1}' | sort -V | tail -n 1)
    echo "$k"
}
if [ ! -e "$VM/root/.unpacked" ]; then
    kpkg=${KERNEL_PKG:-$(pick_kernel)}
    if [ -z "$kpkg" ]; then
        apt-get update -qq
        kpkg=$(pick_kernel)
    fi
    [ -n "$kpkg" ] || die "no linux-image-6.1.0-*-amd64 package offered by apt"
    say "downloading qemu, busybox-static and $kpkg into build/vm/debs"
    mkdir -p "$VM/debs"
    if ! (cd "$VM/debs" && apt-get download -q "${QEMU_PKGS[@]}" "$kpkg" > download.log 2>&1); then
        apt-get update -qq
        (cd "$VM/debs" && apt-get download -q "${QEMU_PKGS[@]}" "$kpkg" > download.log 2>&1) ||
            { tail "$VM/debs/download.log" >&2; die "apt-get download failed"; }
    fi
    say "unpacking into build/vm/root"
    rm -rf "$VM/root"
    mkdir -p "$VM/root"
    for deb in "$VM"/debs/*.deb; do
        case $(basename "$deb") in
            linux-image-*) case $(basename "$deb") in "${kpkg}_"*) ;; *) continue ;; esac ;;
        esac
        dpkg -x "$deb" "$VM/root"
    done
    echo "$kpkg" > "$VM/root/.unpacked"
fi
KVER=$(basename "$(ls "$VM"/root/boot/vmlinuz-* | head -n 1)")
KVER=${KVER#vmlinuz-}
[ -n "$KVER" ] || die "no kernel in build/vm/root/boot"

# (b) the library, and the static test program linked with it.
say "building target/release/libprossntp.a and the static test program"
cargo build --release --lib --quiet
cargo build --release --features __internal-api --bin prossntp-testserver --quiet
if ! gcc -static -O2 -s -Wall -Iinclude vmtests/clocktest.c target/release/libprossntp.a \
    -lpthread -ldl -lm -o "$VM/clocktest" 2> "$VM/link.log"; then
    say "plain static link failed (build/vm/link.log); building the library with crt-static"
    RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --lib --quiet \
        --target x86_64-unknown-linux-gnu --target-dir "$VM/target"
    gcc -static -O2 -s -Wall -Iinclude vmtests/clocktest.c \
        "$VM/target/x86_64-unknown-linux-gnu/release/libprossntp.a" -lpthread -ldl -lm -o "$VM/clocktest"
fi

# (c) the initramfs: busybox, the test program, the network modules, /init.
say "packing the initramfs (kernel $KVER)"
IRD=$VM/initramfs
rm -rf "$IRD"
mkdir -p "$IRD/bin" "$IRD/dev" "$IRD/lib/modules"
cp "$VM/root/bin/busybox" "$VM/clocktest" "$IRD/bin/"
cp vmtests/init.sh "$IRD/init"
chmod 755 "$IRD/init" "$IRD/bin/clocktest"
mknod "$IRD/dev/console" c 5 1
MODS=$VM/root/lib/modules/$KVER/kernel
for m in drivers/virtio/virtio_ring drivers/virtio/virtio drivers/virtio/virtio_pci_legacy_dev \
    drivers/virtio/virtio_pci_modern_dev drivers/virtio/virtio_pci net/core/failover \
    drivers/net/net_failover drivers/net/virtio_net; do
    if [ -f "$MODS/$m.ko" ]; then
        cp "$MODS/$m.ko" "$IRD/lib/modules/"
    elif [ -f "$MODS/$m.ko.xz" ]; then
        xz -dc "$MODS/$m.ko.xz" > "$IRD/lib/modules/$(basename "$m").ko"
    else
        die "module $m not found in $MODS"
    fi
done
# chronyd, as another time daemon in the guest (the one-clock "foreign"
# scenario): the host's binary and the shared libraries it loads.
if [ -n "$ONE_CLOCK_BACKENDS" ]; then
    mkdir -p "$IRD/usr/sbin" "$IRD/etc"
    cp "$(command -v chronyd)" "$IRD/usr/sbin/chronyd"
    for lib in $(ldd "$(command -v chronyd)" | awk '/=> \// {print $3} /^[[:space:]]*\/[^ ]*ld-linux/ {print $1}'); do
        mkdir -p "$IRD$(dirname "$lib")"
        cp -L "$lib" "$IRD$lib"
    done
    echo "root:x:0:0:root:/root:/bin/sh" > "$IRD/etc/passwd"
    echo "root:x:0:" > "$IRD/etc/group"
fi
(cd "$IRD" && find . | "$VM/root/bin/busybox" cpio -o -H newc 2> /dev/null) | gzip -1 > "$VM/initrd.gz"

# (d) servers and VMs, inside a private network namespace, CAP_SYS_TIME dropped.
build_secs=$((SECONDS - started))
say "built in ${build_secs} s; running backends: ${BACKENDS:-none} (scenarios: $SCENARIOS), one-clock on: ${ONE_CLOCK_BACKENDS:-none} ($ONE_CLOCK_SCENARIOS); up to $VM_JOBS VMs at once; then under host load ($HOST_LOAD): ${LOAD_BACKENDS:-none} ($LOAD_SCENARIOS)"
rm -f "$LOGS"/console-*.log
ns_rc=0
VMTEST_STAGE=ns HOST_NETNS=$(readlink /proc/self/ns/net) BACKENDS="$BACKENDS" SCENARIOS="$SCENARIOS" \
    ONE_CLOCK_BACKENDS="$ONE_CLOCK_BACKENDS" ONE_CLOCK_SCENARIOS="$ONE_CLOCK_SCENARIOS" \
    LOAD_BACKENDS="$LOAD_BACKENDS" LOAD_SCENARIOS="$LOAD_SCENARIOS" HOST_LOAD="$HOST_LOAD" \
    LOAD_VM_TIMEOUT="$LOAD_VM_TIMEOUT" \
    V6_SCENARIOS="$V6_SCENARIOS" VM_JOBS="$VM_JOBS" VM_TIMEOUT="$VM_TIMEOUT" VM_APPEND="$VM_APPEND" \
    VERBOSE="$VERBOSE" \
    setpriv --bounding-set=-sys_time --inh-caps=-sys_time unshare -n bash "$ROOT/scripts/vm-test.sh" ||
    ns_rc=$?
[ "$ns_rc" = 0 ] || say "the namespace stage failed (status $ns_rc)"

# (e) results: one row per backend and scenario.
results=$VM/results.txt
pass=0 fail=0
{
    echo "VM clock lab results, $(date -u '+%Y-%m-%d %H:%M:%S UTC'), kernel $KVER, library $(git rev-parse --short HEAD 2> /dev/null || echo '?')$(git diff --quiet HEAD -- src 2> /dev/null || echo ' (src modified)')"
    printf '%-12s %-11s %-6s %s\n' backend scenario result details
} > "$results"
while read -r name b scenarios load; do
    log=$LOGS/console-$name.log
    done_ok=0
    [ -f "$log" ] && grep -q '^VMTEST-DONE' "$log" && done_ok=1
    for s in ${scenarios//,/ }; do
        line=
        [ -f "$log" ] && line=$(grep -E "^VMTEST $s $b (PASS|FAIL) " "$log" | tail -n 1 || true)
        if [ -n "$line" ]; then
            result=$(echo "$line" | awk '{print $4}')
            details=$(echo "$line" | cut -d' ' -f5-)
        else
            result=FAIL
            if [ "$done_ok" = 1 ]; then details="no result line from the guest"
            elif [ -f "$log" ]; then details="the guest did not finish (timeout $([ "$load" = 1 ] && echo "$LOAD_VM_TIMEOUT" || echo "$VM_TIMEOUT") s or crash; see build/vm/logs/console-$name.log)"
            else details="the VM did not run"
            fi
        fi
        if [ "$result" = PASS ]; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
        printf '%-12s %-11s %-6s %s\n' "$b" "$s" "$result" "$details" >> "$results"
    done
done < <(jobs)
{
    runs=$(while read -r name b scenarios load; do
        log=$LOGS/console-$name.log
        [ -f "$log" ] || continue
        for s in ${scenarios//,/ }; do
            grep -E "^VMRUN $s $b run=" "$log" | cut -d' ' -f2- | sed 's/^/  /' || true
        done
    done < <(jobs))
    if [ -n "$runs" ]; then
        echo
        echo "Runs under host load (HOST_LOAD=\"$HOST_LOAD\": busy loops, /dev/urandom readers), one line each:"
        echo "$runs"
    fi
    echo
    echo "Offsets measured in the guests (server - guest clock, s; t from the client's start):"
    while read -r name b scenarios load; do
        log=$LOGS/console-$name.log
        [ -f "$log" ] || continue
        for s in ${scenarios//,/ }; do
            series=$(grep -E "^VMDATA $s $b " "$log" |
                sed -n 's/.* t=\([0-9.]*\) offset=\([-+0-9.a-z]*\).*/\1:\2/p' |
                awk -F: '{printf "%s%.0fs %s", (NR > 1 ? ", " : ""), $1, $2}' || true)
            [ -z "$series" ] || echo "  $b $s: $series"
        done
    done < <(jobs)
    echo
    echo "Console logs: build/vm/logs/console-<backend>[-oneclock].log; run took $((SECONDS - started)) s (build ${build_secs} s)."
} >> "$results"
echo
cat "$results"
echo "vm-test: $pass passed, $fail failed"
[ "$fail" = 0 ]
