#!/usr/bin/env python3
# scripts/testnet.sh: waits (15 s at most) until the chronyd on 127.0.0.1
# port PORT answers an SNTP request with a usable reply.
#   testnet-wait.py PORT
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
