#!/usr/bin/env python3
"""Accuracy benchmark helper for scripts/bench-accuracy.sh (read that first).

    accuracy.py collect --addr IP --out DIR --label TEXT [options] -- PROSSNTP_CMD...
    accuracy.py report --dir RUN_DIR [--out FILE]

collect: runs three clients at once against one server address for one
condition, none of which touches the clock, and writes DIR/samples.csv
(client,t,offset,sample_offset,delay,freq; seconds, t from the start, freq in
ppm, nan where the client gives none):
  - prossntp: PROSSNTP_CMD (examples-c/prossntp_monitor, measure only), one
    line per valid reply with key=value fields n= offset= sample_offset=
    delay=;
  - chronyd -x (never controls the clock) with its own config in DIR, read
    through one chronyc process over a unix socket every 0.1 s; one sample
    per clock update (see NOTES below for the figure used);
  - ntpdig -j, run every --interval seconds.
It stops once each client has --samples samples after --warmup seconds (or
after --max-seconds) and stops every process it started. Must run inside the
benchmark's network namespace with CAP_SYS_TIME dropped.

report: reads RUN_DIR/meta.json and RUN_DIR/cond*/ and prints the markdown
results table (and writes it to --out).
"""

import argparse
import csv
import ctypes
import json
import math
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

TRUE_OFFSET = 0.037
NTPDIG_PHI = 15e-6  # ntpdig's drift allowance in its distance figure
SERVER_PRECISION = 2.0**-20  # what prossntp-testserver announces
PR_SET_PDEATHSIG = 1

CHRONYD_NOTE = (
    "chronyd's figure is `chronyc tracking` \"System time\" (CSV field 5, positive = local clock "
    "slow = server ahead), read right after each clock update. With `-x` chronyd's null clock driver "
    "never applies a correction: it accumulates every offset and frequency correction it would have "
    "made, and \"System time\" reports that whole pending correction, i.e. chronyd's estimate of "
    "(server - this clock) extrapolated to the moment of the query. \"Last offset\", `sourcestats` "
    "and `ntpdata` offsets are measured against chronyd's internally corrected (virtual) clock and "
    "converge to about 0 whatever the real offset, so they are not comparable. chronyd's raw-sample "
    "column is `ntpdata` \"Offset\" (that measurement against the virtual clock) plus the System time "
    "read just before that update."
)


def pdeathsig():
    """In a child: die with SIGTERM when the collector dies."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass


class Collector:
    def __init__(self, a):
        self.a = a
        self.t0 = time.monotonic()
        self.lock = threading.Lock()
        self.samples = {c: [] for c in CLIENTS if c != PAIRED}  # the paired rows come after
        self.stop = threading.Event()
        self.procs = []
        self.errors = []

    def now(self):
        return time.monotonic() - self.t0

    def add(self, client, offset, sample_offset, delay, freq=math.nan):
        with self.lock:
            self.samples[client].append((self.now(), offset, sample_offset, delay, freq))

    def counted(self):
        with self.lock:
            return {c: sum(1 for s in v if s[0] >= self.a.warmup) for c, v in self.samples.items()}

    def spawn(self, cmd, **kw):
        p = subprocess.Popen(cmd, preexec_fn=pdeathsig, **kw)
        self.procs.append(p)
        return p

    # prossntp ------------------------------------------------------------
    def run_prossntp(self, cmd):
        err = open(os.path.join(self.a.out, "prossntp.err"), "w")
        p = self.spawn(cmd, stdout=subprocess.PIPE, stderr=err, text=True, bufsize=1,
                       env=dict(os.environ, PROSSNTP_CLOCK="none"))
        seen = set()
        for line in p.stdout:
            if not re.search(r"(^|\s)sample\s", line):
                continue
            kv = dict(m.groups() for m in re.finditer(r"(\w+)=(\S+)", line))
            try:
                n = kv.get("n")
                if n in seen:
                    continue
                seen.add(n)
                self.add("prossntp", float(kv["offset"]), float(kv["sample_offset"]), float(kv["delay"]),
                         float(kv.get("freq_ppm", "nan")))
                # The own clock (prossntp_gettime) less the host clock, read just after.
                if "own_offset" in kv:
                    self.add("prossntp-own", float(kv["own_offset"]), math.nan, float(kv["delay"]))
            except (KeyError, ValueError):
                self.errors.append("prossntp: cannot parse %r" % line.strip())

    # chronyd -------------------------------------------------------------
    def run_chronyd(self):
        a = self.a
        sockdir = tempfile.mkdtemp(prefix="chronyd.", dir=a.out)  # 0700, as chronyd requires
        sock = os.path.join(sockdir, "chronyd.sock")
        conf = os.path.join(a.out, "chrony.conf")
        with open(conf, "w") as f:
            f.write(
                "server %s port 123 iburst minpoll %d maxpoll %d\n"
                "bindacqaddress %s\n"
                "port 0\n"  # client only: no NTP server socket
                "cmdport 0\n"
                "bindcmdaddress %s\n"
                "pidfile %s/chronyd.pid\n" % (a.addr, a.poll, a.poll, a.chronyd_source, sock, sockdir)
            )
        log = open(os.path.join(a.out, "chronyd.log"), "w")
        self.chronyd = self.spawn(["chronyd", "-x", "-d", "-u", "root", "-f", conf], stdout=log, stderr=log)
        deadline = time.monotonic() + 10
        while not os.path.exists(sock):
            if time.monotonic() > deadline or self.chronyd.poll() is not None:
                self.errors.append("chronyd: no command socket (see chronyd.log)")
                return
            time.sleep(0.05)
        c = self.spawn(["chronyc", "-c", "-h", sock], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, bufsize=1)

        def ask(cmd):
            c.stdin.write(cmd + "\n")
            c.stdin.flush()
            return c.stdout.readline().strip().split(",")

        prev_tr = None  # (reftime, systime)
        rx = None
        raw = None  # raw offset of the latest measurement
        while not self.stop.is_set():
            try:
                tr = ask("tracking")
                nd = ask("ntpdata %s" % a.addr)
            except (BrokenPipeError, OSError):
                self.errors.append("chronyc: connection lost")
                return
            if len(tr) < 14 or len(nd) < 34:
                time.sleep(0.1)
                continue
            reftime, systime = float(tr[3]), float(tr[4])
            cur = (reftime, systime)
            updated = prev_tr is not None and reftime != prev_tr[0] and reftime > 0
            if nd[31] != rx:
                rx = nd[31]
                # The correction in force when that measurement was made:
                # the last System time read before the update it caused.
                before = prev_tr[1] if updated else systime
                raw = before + float(nd[18])
            if updated:
                self.add("chronyd", systime, raw if raw is not None else math.nan, float(nd[19]), float(tr[7]))
            prev_tr = cur
            time.sleep(0.1)

    # ntpdig --------------------------------------------------------------
    def run_ntpdig(self):
        a = self.a
        k = 0
        while not self.stop.is_set():
            # Half an interval after the others' start, to spread the load.
            due = self.t0 + a.interval * (k + 0.5)
            k += 1
            if self.stop.wait(max(0.0, due - time.monotonic())):
                return
            try:
                r = subprocess.run(["ntpdig", "-j", "-t", "1", a.addr], capture_output=True, text=True,
                                   timeout=5, preexec_fn=pdeathsig)
            except subprocess.TimeoutExpired:
                continue
            for line in r.stdout.splitlines():
                if line.startswith("{"):
                    try:
                        j = json.loads(line)
                        # "precision" is really ntpdig's distance:
                        # delay/2 + PHI*(t4-t1) + server precision.
                        delay = 2 * (j["precision"] - SERVER_PRECISION) / (1 + 2 * NTPDIG_PHI)
                        self.add("ntpdig", j["offset"], j["offset"], max(delay, 0.0))
                    except (ValueError, KeyError):
                        self.errors.append("ntpdig: cannot parse %r" % line)

    def finish(self):
        self.stop.set()
        for p in reversed(self.procs):
            if p.poll() is None:
                try:
                    if p.stdin:
                        p.stdin.close()
                except OSError:
                    pass
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def collect(a):
    os.makedirs(a.out, exist_ok=True)
    c = Collector(a)

    def on_term(signum, frame):
        raise SystemExit(1)

    signal.signal(signal.SIGTERM, on_term)
    threads = [
        threading.Thread(target=c.run_chronyd, daemon=True),
        threading.Thread(target=c.run_prossntp, args=(a.cmd,), daemon=True),
        threading.Thread(target=c.run_ntpdig, daemon=True),
    ]
    try:
        for t in threads:
            t.start()
        last = -1
        while c.now() < a.max_seconds:
            counts = c.counted()
            if all(n >= a.samples for n in counts.values()):
                break
            if int(c.now()) // 15 != last:
                last = int(c.now()) // 15
                print("  %s: t=%3.0f s, samples after warm-up: %s" % (
                    a.label, c.now(), " ".join("%s=%d" % kv for kv in counts.items())), file=sys.stderr)
            time.sleep(0.5)
    finally:
        c.finish()
        for t in threads:
            t.join(timeout=5)
    with open(os.path.join(a.out, "samples.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["client", "t", "offset", "sample_offset", "delay", "freq"])
        for client, rows in c.samples.items():
            for r in rows:
                w.writerow([client, "%.3f" % r[0]] + ["%.9f" % x for x in r[1:]])
    with open(os.path.join(a.out, "condition.json"), "w") as f:
        json.dump({"label": a.label, "description": a.description, "expected_us": a.expected_us, "seed": a.seed,
                   "loopback": a.loopback, "hard": a.hard, "split_at": a.split_at, "interval": a.interval, "poll": a.poll,
                   "warmup": a.warmup, "duration": round(c.now(), 1), "errors": c.errors[:20]}, f, indent=1)
    for e in c.errors[:5]:
        print("  %s: %s" % (a.label, e), file=sys.stderr)


# ---------------------------------------------------------------------------
def quantile(v, p):
    v = sorted(v)
    if not v:
        return math.nan
    x = p * (len(v) - 1)
    i = int(x)
    return v[i] if i + 1 >= len(v) else v[i] + (v[i + 1] - v[i]) * (x - i)


def median_ci(v, rounds=2000):
    """95 % bootstrap interval of the median of v (fixed seed: reproducible)."""
    if len(v) < 2:
        return (math.nan, math.nan)
    rng = random.Random(12345)
    meds = sorted(quantile([rng.choice(v) for _ in v], 0.5) for _ in range(rounds))
    return (quantile(meds, 0.025), quantile(meds, 0.975))


def fmt(x, digits=1):
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else "%.*f" % (digits, x)


CLIENTS = ["prossntp", "prossntp-own", "chronyd", "prossntp@chronyd", "ntpdig"]
# prossntp's measuring discipline fed chronyd's raw samples afterwards
# (examples/replay_samples --emit): both estimators judged on the same
# measurements, free of the luck that the relay's own lateness deals each
# client's datagrams differently.
PAIRED = "prossntp@chronyd"
JUDGED = ("prossntp", PAIRED)
EXCURSION = 5  # hard networks: the largest error at most this many medians
FREQ_FLOOR_PPM = 1.0  # frequency p95 allowed whatever chronyd reads


SOURCES = {"prossntp": "127.0.0.11", "chronyd": "127.0.0.12", "ntpdig": "127.0.0.1"}


def timestamp_bias(cd):
    """Each client's raw sample error less the asymmetry the relay itself
    held each round trip to ((up - down) / 2, from relay.csv): what remains is
    the client's own timestamping plus the hops outside the relay's hold.
    Round trips are matched to samples in order, allowing for a client's
    extra requests before its first sample. {client: (median us, n, median
    |held asymmetry| us: the error a perfect client would have read)}."""
    path = os.path.join(cd, "relay.csv")
    if not os.path.exists(path):
        return {}
    if json.load(open(os.path.join(cd, "relay.json"))).get("loss", 0) > 0:
        return {}  # lost legs break the pairing of up and down
    held = list(csv.DictReader(open(path)))
    samples = list(csv.DictReader(open(os.path.join(cd, "samples.csv"))))
    out = {}
    for c, ip in SOURCES.items():
        ups = [float(h["held_s"]) for h in held if h["client"] == ip and h["direction"] == "up"]
        downs = [float(h["held_s"]) for h in held if h["client"] == ip and h["direction"] == "down"]
        asym = [(u - d) / 2 * 1e6 for u, d in zip(ups, downs)]
        errs = [(float(r["sample_offset"]) - TRUE_OFFSET) * 1e6 for r in samples
                if r["client"] == c and r["sample_offset"] != "nan"]
        best = None
        for shift in range(8):
            m = min(len(errs), len(asym) - shift)
            if m < 10:
                continue
            diffs = [errs[i] - asym[i + shift] for i in range(m)]
            med = quantile(diffs, 0.5)
            spread = sum(abs(x - med) for x in diffs) / m
            if best is None or spread < best[0]:
                best = (spread, med, m)
        if best is not None:
            out[c] = (best[1], best[2], quantile([abs(x) for x in asym], 0.5))
    return out


def summarise(rows):
    err = [abs(r["offset"] - TRUE_OFFSET) * 1e6 for r in rows]
    freq = [abs(r["freq"]) for r in rows if not math.isnan(r.get("freq", math.nan))]
    signed = [(r["offset"] - TRUE_OFFSET) * 1e6 for r in rows]
    raw = [abs(r["sample_offset"] - TRUE_OFFSET) * 1e6 for r in rows if not math.isnan(r["sample_offset"])]
    return {
        "n": len(rows),
        "med": quantile(err, 0.5),
        "ci": median_ci(err),
        "p95": quantile(err, 0.95),
        "signed": quantile(signed, 0.5),
        "raw_med": quantile(raw, 0.5),
        "raw_p95": quantile(raw, 0.95),
        "delay_ms": quantile([r["delay"] * 1e3 for r in rows], 0.5),
        "max": max(err) if err else math.nan,
        "freq_p95": quantile(freq, 0.95),
    }


def report(a):
    meta = json.load(open(os.path.join(a.dir, "meta.json")))
    conds = sorted(d for d in os.listdir(a.dir) if d.startswith("cond") and os.path.isdir(os.path.join(a.dir, d)))
    # Repeated runs of a condition (condN, condN.2, condN.3, ...) are pooled.
    groups = {}
    for d in conds:
        groups.setdefault(d.split(".")[0], []).append(d)
    out = []
    say = out.append
    say("# prossntp accuracy benchmark")
    say("")
    say("Three clients measure, at the same time and without touching the clock, a server known to be "
        "exactly **+37 ms** ahead (`prossntp-testserver --offset 0.037`), inside a private network "
        "namespace (loopback only, CAP_SYS_TIME dropped). Error = |measured offset - 0.037 s|.")
    say("")
    try:
        meta["load"] = meta.get("load", "") + "; at the end %s" % " ".join(open("/proc/loadavg").read().split()[:3])
    except OSError:
        pass
    for k in ["date", "machine", "cpu", "kernel", "load", "prossntp", "chronyd", "ntpdig", "python", "setup"]:
        if k in meta:
            say("- **%s**: %s" % (k, meta[k]))
    say("")
    say("| condition | client | samples | median error (us) | 95 % CI of median | p95 error (us) | max error (us) "
        "| median signed (us) | raw sample median (us) | raw sample p95 (us) | median delay (ms) "
        "| frequency p95 (ppm) | target |")
    say("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    verdicts = []
    relay_notes = []
    base_delay = {}
    for g, runs in groups.items():
        cd = os.path.join(a.dir, runs[0])
        info = json.load(open(os.path.join(cd, "condition.json")))
        rows = {c: [] for c in CLIENTS}
        per_run = []
        for d in runs:
            run_rows = {c: [] for c in CLIENTS}
            with open(os.path.join(a.dir, d, "samples.csv")) as f:
                for r in csv.DictReader(f):
                    if float(r["t"]) < info["warmup"]:
                        continue
                    row = {k: float(r[k]) for k in ("offset", "sample_offset", "delay")}
                    row["freq"] = float(r.get("freq") or "nan")
                    row["t"] = float(r["t"])
                    run_rows[r["client"]].append(row)
            for c in CLIENTS:
                rows[c] += run_rows[c]
            per_run.append({c: quantile([abs(r["offset"] - TRUE_OFFSET) * 1e6 for r in run_rows[c]], 0.5)
                            for c in CLIENTS})
        s = {c: summarise(rows[c]) for c in CLIENTS}
        if len(runs) > 1:
            relay_notes.append("- %s: %d runs pooled (seeds %s); median error of each run: %s." % (
                info["label"], len(runs), ", ".join(str(json.load(open(os.path.join(a.dir, d, "condition.json")))
                                                           .get("seed", "?")) for d in runs),
                "; ".join("%s %s" % (c, " / ".join(fmt(pr[c]) for pr in per_run)) for c in CLIENTS)))
        if g == "cond1":
            base_delay = {c: s[c]["delay_ms"] for c in CLIENTS}
        for c in CLIENTS:
            x = s[c]
            notes = []
            if c in JUDGED and info.get("expected_us") is None:
                checks = []
                refs = [("chronyd", 1.0, "<= chronyd")]
                if not info.get("hard") and c == "prossntp":
                    refs.append(("ntpdig", 0.5, "<= ntpdig/2"))
                for ref, scale, text in refs:
                    y = s[ref]
                    ok = x["med"] <= y["med"] * scale
                    # Overlapping 95 % intervals: the difference is within the noise.
                    close = not ok and x["ci"][0] <= y["ci"][1] * scale
                    checks.append(("%s (%s)" % (text, fmt(y["med"] * scale)), ok, close))
                if info.get("loopback") and c == "prossntp":
                    checks.append(("<= 20 us", x["med"] <= 20, not x["med"] <= 20 and x["ci"][0] <= 20))
                if info.get("hard"):
                    # No capture: the worst estimate within a few times the typical one.
                    checks.append(("max <= %d x median (%s)" % (EXCURSION, fmt(EXCURSION * x["med"])),
                                   x["max"] <= EXCURSION * x["med"], False))
                    # Frequency wander: the true frequency is 0 (one host clock).
                    lim = max(s["chronyd"]["freq_p95"], FREQ_FLOOR_PPM)
                    checks.append(("frequency p95 <= max(chronyd, %g ppm) (%s)" % (FREQ_FLOOR_PPM, fmt(lim, 2)),
                                   x["freq_p95"] <= lim, False))
                notes += ["%s: **%s**%s" % (t, "pass" if ok else "FAIL", " (within noise)" if close else "")
                          for t, ok, close in checks]
                verdicts += [("%s %s" % (info["label"], c), t, ok) for t, ok, _ in checks]
            elif c in JUDGED:
                notes.append("physics: about %d us for every client (not a target)" % info["expected_us"])
            if info.get("split_at") is not None:
                t0 = info["split_at"]
                parts = [[abs(r["offset"] - TRUE_OFFSET) * 1e6 for r in rows[c] if (r["t"] >= t0) == after]
                         for after in (False, True)]
                notes.append("median before / after %g s: %s / %s" % (
                    t0, fmt(quantile(parts[0], 0.5)), fmt(quantile(parts[1], 0.5))))
            if x["n"] < 30:
                notes.append("only %d samples" % x["n"])
            raw = (fmt(x["med"]), fmt(x["p95"])) if c == "ntpdig" else (fmt(x["raw_med"]), fmt(x["raw_p95"]))
            say("| %s | %s | %d | %s | %s-%s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                info["label"] if c == CLIENTS[0] else "", c, x["n"], fmt(x["med"]), fmt(x["ci"][0]),
                fmt(x["ci"][1]), fmt(x["p95"]), fmt(x["max"]), fmt(x["signed"]), raw[0], raw[1],
                fmt(x["delay_ms"], 3), fmt(x["freq_p95"], 2), "; ".join(notes)))
        rs = os.path.join(cd, "relay.json")
        if os.path.exists(rs):
            r = json.load(open(rs))
            lu, ld = r["send_lateness"]["up"], r["send_lateness"]["down"]
            pu, pd = r["pickup_age"]["up"], r["pickup_age"]["down"]
            nominal = r["up_ms"] + r["down_ms"] + r["jitter_ms"]  # median of the added round trip
            own = ", ".join("%s %s" % (c, fmt((s[c]["delay_ms"] - base_delay.get(c, math.nan) - nominal) * 1e3, 0))
                            for c in CLIENTS)
            bias = (lu.get("median_us", math.nan) - ld.get("median_us", math.nan)) / 2
            relay_notes.append(
                "- %s: relay up %.1f ms, down %.1f ms, + uniform(0, %.1f) ms each way. Its sends were late "
                "against their schedule by median %s / p95 %s us upstream and %s / %s us downstream "
                "(scheduling asymmetry: offset bias %s us; both legs leave through the same sendto path); datagrams read later than their send time "
                "was due: %d up, %d down (read latency median %s / %s us). Round-trip delay beyond the "
                "configured median (%.1f ms), per client, against plain loopback: %s us. Client addresses "
                "the relay saw (one delay stream each): %s." % (
                    info["label"], r["up_ms"], r["down_ms"], r["jitter_ms"], fmt(lu.get("median_us")),
                    fmt(lu.get("p95_us")), fmt(ld.get("median_us")), fmt(ld.get("p95_us")), fmt(bias),
                    r["picked_up_after_deadline"]["up"], r["picked_up_after_deadline"]["down"],
                    fmt(pu.get("median_us"), 0), fmt(pd.get("median_us"), 0), nominal, own,
                    ", ".join(r.get("client_addresses", [])) or "?"))
        bias = timestamp_bias(cd)
        if bias:
            relay_notes.append(
                "- %s: timestamp bias against the relay's own record (median of each raw sample's error "
                "less the asymmetry the relay held for that round trip; the hops outside the relay are "
                "in it for every client alike): %s us." % (
                    info["label"], ", ".join("%s %+.1f (%d)" % (c, b, n) for c, (b, n, _) in bias.items())))
            relay_notes.append(
                "- %s: luck, the median |asymmetry| the relay really held for each client's round trips "
                "(configured alike, but its own lateness falls on each client's datagrams differently; a "
                "perfect client's raw samples would be this far off): %s us." % (
                    info["label"], ", ".join("%s %.1f" % (c, luck) for c, (_, _, luck) in bias.items())))
        if info.get("errors"):
            relay_notes.append("- %s: collector messages: %s" % (info["label"], "; ".join(info["errors"][:3])))
    say("")
    say("Targets (prossntp's estimate, live and paired): median error no worse than chronyd's in every "
        "condition but the asymmetric one (physics), at most half of ntpdig's in conditions 1 and 2, and "
        "within 20 us on plain loopback; on the hard networks (conditions 4 on) no capture, the largest "
        "error at most %d times the median, and no frequency wander, p95 of |frequency| at most chronyd's "
        "or %g ppm (the true frequency is 0: server and clients read one host clock). The paired rows "
        "(*%s*) hold prossntp's discipline to chronyd's on chronyd's own samples: median, excursion "
        "and frequency against chronyd's estimate. %d of %d met%s." % (EXCURSION, FREQ_FLOOR_PPM, PAIRED,
            sum(ok for _, _, ok in verdicts), len(verdicts),
            "" if all(ok for _, _, ok in verdicts) else
            " (missed: " + ", ".join("%s %s" % (l, t) for l, t, ok in verdicts if not ok) + ")"))
    say("")
    say("Notes:")
    say("")
    say("- Conditions: " + "; ".join(
        "%s = %s" % (json.load(open(os.path.join(a.dir, runs[0], "condition.json")))["label"],
                     json.load(open(os.path.join(a.dir, runs[0], "condition.json")))["description"])
        for runs in groups.values()) + ".")
    say("- *median error* is for each client's own estimate: prossntp's `offset` from prossntp_get_stats "
        "(the filtered estimate, what the targets apply to), chronyd's estimate (below), ntpdig's single "
        "measurement. *raw sample* is each reply on its own: prossntp's `sample_offset`; for ntpdig it "
        "is the same figure. *median signed* shows the bias (positive: measured more than 37 ms). "
        "*95 % CI of median*: bootstrap interval of the median error; a missed target whose interval "
        "overlaps the reference's is marked *within noise*. Successive filtered estimates are "
        "correlated (each is a fit over the last samples), so these intervals are optimistic.")
    say("- *%s* is not a client on the network: it is prossntp's measuring discipline as it is in this "
        "build (examples/replay_samples --emit) fed chronyd's raw samples of the same run, in order, with "
        "their times, offsets and delays. It compares the two estimators on identical measurements; "
        "the live rows also compare the clients' timestamps and each one's luck with the relay "
        "(see *luck* below)." % PAIRED)
    say("- *prossntp-own* is the same client's own clock, `prossntp_gettime` (the server's time from "
        "CLOCK_MONOTONIC_RAW and the client's estimate against it), less the host clock read just after, "
        "at each sample: its error is that of the time a program reads, not a target here.")
    say("- Common random numbers: the relay draws each client's delays from a stream of its own, "
        "keyed by the client's address and seeded alike (prossntp sends from 127.0.0.11, chronyd from "
        "127.0.0.12, ntpdig from 127.0.0.1), so the n-th request of every client meets the same "
        "delays and the clients are compared on the same luck.")
    say("- " + CHRONYD_NOTE)
    say("- ntpdig reads T1 in Python before creating its socket and T4 in Python after recvfrom (no "
        "kernel timestamps), prints microseconds, and gives no delay in its JSON: its delay here is "
        "derived from the JSON \"precision\" field, which is really its distance "
        "delay/2 + 15 ppm x (T4 - T1) + server precision (2^-20 s).")
    say("- Timestamps: prossntp takes T4 from the kernel's receive timestamp and, on Linux, T1 from the "
        "kernel's software transmit timestamp (before that change it read the clock just before "
        "sendto, which counted the send path as flight time); chronyd uses kernel receive and "
        "transmit timestamps too. prossntp-testserver takes T2 from the kernel's receive timestamp "
        "(before that change it read the clock after its thread woke up, which biased every client "
        "by about half that wake-up latency, 5-30 us here) and T3 just before send_to, so every "
        "client reads a small negative bias on loopback (about half the server's send path).")
    say("- Every client starts afresh in each condition; samples from the first %s s (warm-up) are "
        "left out. Request interval %s s for prossntp (no_reply = had_reply = %d ms) and chronyd "
        "(minpoll = maxpoll = %s); ntpdig runs every %s s." % (
            meta.get("warmup"), meta.get("interval"), int(float(meta.get("interval", 0)) * 1000),
            meta.get("poll"), meta.get("interval")))
    out.extend(relay_notes)
    text = "\n".join(out) + "\n"
    sys.stdout.write(text)
    if a.out:
        os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
        with open(a.out, "w") as f:
            f.write(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    c = sub.add_parser("collect")
    c.add_argument("--addr", required=True)
    c.add_argument("--out", required=True)
    c.add_argument("--label", required=True)
    c.add_argument("--description", default="")
    c.add_argument("--expected-us", type=int, default=None)
    c.add_argument("--loopback", action="store_true")
    c.add_argument("--hard", action="store_true", help="a hard network: judge excursions and frequency too")
    c.add_argument("--split-at", type=float, default=None, help="seconds: also report before and after")
    c.add_argument("--seed", type=int, default=None, help="the relay's seed (recorded only)")
    c.add_argument("--interval", type=float, default=2.0)
    c.add_argument("--poll", type=int, default=1)
    c.add_argument("--warmup", type=float, default=20.0)
    c.add_argument("--samples", type=int, default=60)
    c.add_argument("--chronyd-source", default="127.0.0.1", help="address chronyd sends from (bindacqaddress)")
    c.add_argument("--max-seconds", type=float, default=150.0)
    c.add_argument("cmd", nargs=argparse.REMAINDER)
    r = sub.add_parser("report")
    r.add_argument("--dir", required=True)
    r.add_argument("--out")
    a = ap.parse_args()
    if a.what == "collect":
        if a.cmd and a.cmd[0] == "--":
            a.cmd = a.cmd[1:]
        if not a.cmd:
            ap.error("collect needs the prossntp client command after --")
        collect(a)
    else:
        report(a)


if __name__ == "__main__":
    main()
