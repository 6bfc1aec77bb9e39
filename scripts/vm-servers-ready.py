#!/usr/bin/env python3
# scripts/vm-test.sh: waits (25 s at most) until each of its seven chronyd
# servers serves, over IPv4 and IPv6, with the offset it is configured with.
#   vm-servers-ready.py TRUE STEP SLEW A1 A2 A3 FALSE   (their ports)
import socket, sys, time
true_port, step_port, slew_port, a1, a2, a3, false_port = map(int, sys.argv[1:8])
want = {true_port: 0.0, step_port: 0.5, slew_port: 0.02, a1: 0.1, a2: 0.1, a3: 0.1, false_port: 0.3}
EPOCH = 2208988800

def query(family, addr, port):
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.settimeout(0.3)
    try:
        req = bytearray(48)
        req[0] = 0x23
        t1 = time.time()
        req[40:48] = int((t1 + EPOCH) * 2**32).to_bytes(8, "big")
        s.sendto(bytes(req), (addr, port))
        data = s.recv(512)
        t4 = time.time()
    except OSError:
        return None
    finally:
        s.close()
    if len(data) < 48 or data[0] >> 6 == 3 or not 0 < data[1] < 16 or data[24:32] != req[40:48]:
        return None
    t2 = int.from_bytes(data[32:40], "big") / 2**32 - EPOCH
    t3 = int.from_bytes(data[40:48], "big") / 2**32 - EPOCH
    return ((t2 - t1) + (t3 - t4)) / 2

deadline = time.time() + 25
pending = {(f, a, p) for p in want for f, a in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1"))}
while pending and time.time() < deadline:
    for key in sorted(pending):
        off = query(*key)
        if off is not None and abs(off - want[key[2]]) < 0.002:
            print(f"vm-test: server [{key[1]}]:{key[2]} serves offset {off:+.6f} s")
            pending.discard(key)
    time.sleep(0.2)
if pending:
    sys.exit(f"vm-test: servers not ready: {sorted((a, p) for _, a, p in pending)}")
