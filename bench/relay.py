#!/usr/bin/env python3
"""UDP delay relay for the accuracy benchmark (loopback, inside a namespace).

    relay.py --listen 127.0.0.3:123 [--listen ...] --server 127.0.0.2:123
             [--up-ms MS] [--down-ms MS] [--jitter-ms MS] [--seed N]
             [--tail-ms MS --tail-shape A] [--loss P]
             [--burst-every S --burst-for S --burst-ms MS [--burst-share P]]
             [--route-at S --route-ms MS] [--stats FILE]

Each datagram from a client to a --listen address is forwarded to --server
from a socket of that client's own (so the replies find their way back),
--up-ms + uniform(0, --jitter-ms) after it arrived; each reply goes back to
the client --down-ms + uniform(0, --jitter-ms) after it arrived.

Harder networks, each optional:
  --tail-ms, --tail-shape  heavy-tailed queueing both ways: each leg also
                           waits tail-ms x (U^(-1/shape) - 1), a Lomax
                           (Pareto II) draw, capped at 100 x tail-ms;
  --burst-every/-for/-ms   one-sided congestion: in the windows
                           [k x every + for/2, k x every + 3 for/2) seconds
                           after the relay started, a share --burst-share
                           (default 0.8) of upstream legs waits another
                           burst-ms x (0.5 + U/2);
  --route-at, --route-ms   a symmetric route change: from route-at seconds
                           after the start, both legs wait route-ms more;
  --loss                   each leg is dropped with probability P.

Common random numbers: the jitter comes from one random stream per client
IP address, each seeded with --seed, so clients on different addresses that
send at the same pace see the same sequence of delays (the n-th request of
each, and its reply, are delayed alike) and their errors can be compared
draw for draw rather than luck against luck. Every datagram takes the same
four draws from its stream, in a fixed order (jitter, tail, burst, loss),
whichever options are on, so the streams stay aligned.

Symmetry: both directions go through the same scheduler. A datagram's send
time is computed from the kernel's receive timestamp (SO_TIMESTAMPNS), not
from when Python got round to reading it, so the relay's own reading latency
is hidden as long as it stays below the base delay. Sends wait in one heap
ordered by deadline; the loop sleeps in select() until shortly before the first
deadline (timer slack set to 1 ns) and spins the rest, so both directions
are late by the same small amount. What remains is measured: for every
datagram, how late its send was against its schedule, per direction; the
offset bias this relay adds is half the difference of the two directions'
lateness. Printed as JSON to --stats (or stderr) on SIGTERM/SIGINT.

Prints "listening ADDR:PORT" per socket, then "ready".
"""

import argparse
import ctypes
import heapq
import json
import random
import select
import signal
import socket
import struct
import sys
import time

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
PR_SET_TIMERSLACK = 29
SPIN = 0.0003  # seconds spent spinning before a deadline
SESSION_IDLE = 60.0  # seconds before an idle client's upstream socket closes


def addr(text):
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


def quantiles(values):
    if not values:
        return {"count": 0}
    v = sorted(values)

    def q(p):
        x = p * (len(v) - 1)
        i = int(x)
        return v[i] if i + 1 >= len(v) else v[i] + (v[i + 1] - v[i]) * (x - i)

    return {
        "count": len(v),
        "mean_us": round(sum(v) / len(v) * 1e6, 2),
        "median_us": round(q(0.5) * 1e6, 2),
        "p95_us": round(q(0.95) * 1e6, 2),
        "max_us": round(v[-1] * 1e6, 2),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--listen", action="append", required=True, type=addr)
    ap.add_argument("--server", required=True, type=addr)
    ap.add_argument("--up-ms", type=float, default=1.0)
    ap.add_argument("--down-ms", type=float, default=1.0)
    ap.add_argument("--jitter-ms", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--tail-ms", type=float, default=0.0)
    ap.add_argument("--tail-shape", type=float, default=1.5)
    ap.add_argument("--burst-every", type=float, default=0.0)
    ap.add_argument("--burst-for", type=float, default=0.0)
    ap.add_argument("--burst-ms", type=float, default=0.0)
    ap.add_argument("--burst-share", type=float, default=0.8)
    ap.add_argument("--route-at", type=float, default=None)
    ap.add_argument("--route-ms", type=float, default=0.0)
    ap.add_argument("--loss", type=float, default=0.0)
    ap.add_argument("--stats")
    ap.add_argument("--log", help="CSV of every datagram: client,direction,held_s")
    a = ap.parse_args()
    streams = {}  # client IP -> its own random.Random(seed)

    def extra(client, direction, arrived):
        """Seconds this leg waits beyond its base delay, or None: dropped."""
        rng = streams.get(client[0])
        if rng is None:
            rng = streams[client[0]] = random.Random(a.seed)
        u_jit, u_tail, u_burst, u_loss = (rng.random() for _ in range(4))
        if u_loss < a.loss:
            return None
        wait = u_jit * jit
        if a.tail_ms > 0:
            wait += min(tail * ((1.0 - u_tail) ** (-1.0 / a.tail_shape) - 1.0), 100 * tail)
        if direction == "up" and a.burst_every > 0:
            phase = (arrived - t_start) % a.burst_every
            if a.burst_for / 2 <= phase < 1.5 * a.burst_for and u_burst < a.burst_share:
                wait += burst * (0.5 + 0.5 * u_burst / a.burst_share)
        if a.route_at is not None and arrived - t_start >= a.route_at:
            wait += route
        return wait

    up, down, jit = a.up_ms / 1e3, a.down_ms / 1e3, a.jitter_ms / 1e3
    tail, burst, route = a.tail_ms / 1e3, a.burst_ms / 1e3, a.route_ms / 1e3
    t_start = time.monotonic()
    dropped = {"up": 0, "down": 0}

    try:  # precise poll() timeouts (default slack is 50 us)
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_TIMERSLACK, ctypes.c_ulong(1), 0, 0, 0)
    except (OSError, AttributeError):
        pass

    owner = {}  # fd -> ("listen", sock) | ("up", session key)
    listeners = []
    for la in a.listen:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        s.bind(la)
        s.setblocking(False)
        listeners.append(s)
        owner[s.fileno()] = ("listen", s)
        print("listening %s:%d" % s.getsockname(), flush=True)
    print("ready", flush=True)

    sessions = {}  # (listen fd, client addr) -> [upstream sock, listen sock, client addr, last use]
    heap = []  # (deadline monotonic, seq, sock, data, dest, direction)
    seq = [0]
    late = {"up": [], "down": []}  # send time - scheduled time, seconds
    held = []  # (client IP, direction, send time - kernel receive time), in order
    pickup = {"up": [], "down": []}  # read time - kernel receive time, seconds
    missed = {"up": 0, "down": 0}  # read after the deadline had already passed

    class Stop(BaseException):
        pass

    def on_signal(signum, frame):
        raise Stop()

    def receive(sock):
        """All pending datagrams of sock: (data, sender, kernel receive time on
        the monotonic clock, age at read), seconds."""
        out = []
        while True:
            try:
                data, anc, _flags, sender = sock.recvmsg(2048, socket.CMSG_SPACE(16))
            except (BlockingIOError, InterruptedError):
                return out
            except OSError:  # e.g. ICMP port unreachable from a gone client
                continue
            # The kernel's receive time on the monotonic clock: both clocks
            # read together, right after the datagram was read (reading the
            # monotonic clock later, after more Python, would move the
            # arrival late by that time, and more so on a cold wake-up).
            real, mono = time.time(), time.monotonic()
            age = 0.0
            for level, kind, payload in anc:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(payload) >= 16:
                    sec, nsec = struct.unpack("qq", payload[:16])
                    age = max(0.0, real - (sec + nsec * 1e-9))
            out.append((data, sender, mono - age, age))

    def schedule(sock, data, dest, direction, arrived, age, base, client):
        now = time.monotonic()
        wait = extra(client, direction, arrived)
        pickup[direction].append(age)
        if wait is None:
            dropped[direction] += 1
            return
        deadline = arrived + base + wait
        if deadline < now:
            missed[direction] += 1
        seq[0] += 1
        heapq.heappush(heap, (deadline, seq[0], sock, data, dest, direction, arrived, client[0]))

    def send_due():
        now = time.monotonic()
        while heap and heap[0][0] - now <= SPIN:
            deadline, _, sock, data, dest, direction, arrived, client = heapq.heappop(heap)
            while time.monotonic() < deadline:
                pass
            t = time.monotonic()
            try:
                if dest is None:
                    sock.send(data)
                else:
                    sock.sendto(data, dest)
            except OSError:
                pass
            late[direction].append(t - deadline)
            held.append((client, direction, t - arrived))
            now = time.monotonic()
        return now

    def serve():
        while True:
            now = send_due()
            # select() takes microseconds (poll and epoll round up to milliseconds).
            timeout = None if not heap else max(0.0, heap[0][0] - now - SPIN)
            ready, _, _ = select.select(list(owner), [], [], timeout)
            for fd in ready:
                kind, obj = owner.get(fd, (None, None))
                if kind == "listen":
                    for data, client, arrived, age in receive(obj):
                        key = (fd, client)
                        sess = sessions.get(key)
                        if sess is None:
                            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                            u.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
                            u.bind((obj.getsockname()[0], 0))
                            u.connect(a.server)
                            u.setblocking(False)
                            sess = sessions[key] = [u, obj, client, 0.0]
                            owner[u.fileno()] = ("up", key)
                        sess[3] = time.monotonic()
                        schedule(sess[0], data, None, "up", arrived, age, up, client)
                elif kind == "up":
                    sess = sessions.get(obj)
                    if sess is not None:
                        for data, _server, arrived, age in receive(sess[0]):
                            schedule(sess[1], data, sess[2], "down", arrived, age, down, sess[2])
            # Forget clients idle for a while (ntpdig uses a new port each run).
            now = time.monotonic()
            pending = {id(h[2]) for h in heap}
            for key, sess in list(sessions.items()):
                if now - sess[3] > SESSION_IDLE and id(sess[0]) not in pending:
                    del owner[sess[0].fileno()]
                    sess[0].close()
                    del sessions[key]

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        serve()
    except Stop:
        pass

    stats = {
        "up_ms": a.up_ms,
        "down_ms": a.down_ms,
        "jitter_ms": a.jitter_ms,
        "tail_ms": a.tail_ms,
        "tail_shape": a.tail_shape,
        "burst": [a.burst_every, a.burst_for, a.burst_ms, a.burst_share],
        "route": [a.route_at, a.route_ms],
        "loss": a.loss,
        "dropped": dropped,
        "send_lateness": {d: quantiles(v) for d, v in late.items()},
        "pickup_age": {d: quantiles(v) for d, v in pickup.items()},
        "picked_up_after_deadline": missed,
        "client_addresses": sorted(streams),
    }
    if a.log:
        with open(a.log, "w") as f:
            f.write("client,direction,held_s\n")
            for client, direction, h in held:
                f.write("%s,%s,%.9f\n" % (client, direction, h))
    text = json.dumps(stats, indent=1)
    if a.stats:
        with open(a.stats, "w") as f:
            f.write(text + "\n")
    else:
        print(text, file=sys.stderr)


if __name__ == "__main__":
    main()
