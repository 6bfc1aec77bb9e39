#!/bin/busybox sh
# /init of the VM clock-test guest (busybox sh, static). Built into the
# initramfs by scripts/vm-test.sh. Mounts the pseudo file systems, loads the
# virtio network modules, configures eth0 for qemu's user network (the host
# side's loopback servers are at 198.51.100.1 / 2001:db8:51::1), runs
# /bin/clocktest with the vmtest.* parameters of the kernel command line,
# prints VMTEST-DONE and powers off. Whatever happens, the guest powers off.
/bin/busybox mkdir -p /proc /sys /dev /tmp /run /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null || true
mount -t tmpfs tmpfs /tmp
# The clock-owner lock file lives in /run (as on any Linux host).
mount -t tmpfs tmpfs /run

echo "VMINIT kernel $(uname -r), cmdline: $(cat /proc/cmdline)"

# No modules.dep: load in dependency order.
for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci \
         failover net_failover virtio_net; do
    if [ -f "/lib/modules/$m.ko" ]; then
        insmod "/lib/modules/$m.ko" || echo "VMINIT insmod $m failed"
    fi
done

# Wait (bounded) for eth0 to appear.
i=0
while [ ! -d /sys/class/net/eth0 ] && [ $i -lt 50 ]; do
    sleep 0.1
    i=$((i + 1))
done

ip link set lo up
if [ -d /sys/class/net/eth0 ]; then
    # busybox ip has no "nodad": turn duplicate address detection off first.
    echo 0 > /proc/sys/net/ipv6/conf/eth0/accept_dad
    echo 0 > /proc/sys/net/ipv6/conf/eth0/autoconf
    ip link set eth0 up
    ip addr add 198.51.100.2/24 dev eth0
    ip -6 addr add 2001:db8:51::2/64 dev eth0
    ip route add default via 198.51.100.1 dev eth0
    ip -6 route add default via 2001:db8:51::1 dev eth0 2>/dev/null || true
    echo "VMINIT network up: $(ip -o addr show dev eth0 | awk '{print $4}' | tr '\n' ' ')"
else
    echo "VMINIT no eth0"
fi

# The vmtest.* words of the kernel command line are clocktest's parameters.
args=
for w in $(cat /proc/cmdline); do
    case "$w" in
        vmtest.*) args="$args $w" ;;
    esac
done

if grep -qw vmtest.shell /proc/cmdline; then
    # Debugging: an interactive shell on the console instead of the tests.
    setsid cttyhack sh
else
    # shellcheck disable=SC2086
    /bin/clocktest $args
    echo "VMINIT clocktest exited with status $?"
fi

# When the kernel's random pool became ready: until then getrandom() blocks.
echo "VMINIT $(dmesg | grep -m1 'crng init done' || echo 'crng init not reported')"
echo "VMTEST-DONE"
sync
poweroff -f
