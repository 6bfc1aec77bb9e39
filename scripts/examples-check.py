#!/usr/bin/env python3
# The output checks of scripts/examples-test.sh, one per example (stdlib only).
"""Checks an example's output. usage: examples-check.py KIND LOG [key=value...]"""
import re
import sys

kind, path = sys.argv[1], sys.argv[2]
opts = dict(a.split("=", 1) for a in sys.argv[3:])
lines = open(path, encoding="utf-8", errors="replace").read().splitlines()
problems = []


def need(cond, what):
    if not cond:
        problems.append(what)
    return cond


def near(value, want, tol, what):
    return need(abs(value - want) <= tol, f"{what} {value:+.9f} is not within {tol} s of {want}")


TOL = float(opts.get("tol", "0.005"))
WANT = float(opts.get("offset", "0"))

if kind == "monitor":
    STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
    FIELD = re.compile(r'([A-Za-z_][A-Za-z0-9_.]*)=("[^"]*"|[^\s"=]+)')
    SIGNED = re.compile(r"[+-]\d+\.\d{9}$")
    UNSIGNED = re.compile(r"\d+\.\d{9}$")
    SAMPLE_KEYS = ("n offset sample_offset delay jitter freq_ppm stratum refid leap poll server backend "
                   "steering rejected kod steps slews role not_steering server_time own_offset own_error_bound").split()
    records = []
    for i, line in enumerate(lines, 1):
        m = re.match(rf"({STAMP}) (start |sample |summary )?(.*)$", line)
        if not need(m, f"line {i} has no timestamp: {line!r}"):
            continue
        kind_word = (m.group(2) or "").strip()
        rest = m.group(3)
        fields = []
        pos = 0
        while pos < len(rest):
            f = FIELD.match(rest, pos)
            if not f:
                break
            fields.append((f.group(1), f.group(2).strip('"')))
            pos = f.end()
            if pos < len(rest):
                if rest[pos] != " ":
                    break
                pos += 1
        if not need(pos == len(rest) and fields, f"line {i} is not key=value fields: {line!r}"):
            continue
        if not kind_word:
            if not need(fields[0][0] == "status", f"line {i}: neither start, sample, summary nor status"):
                continue
            kind_word = "status"
        records.append((kind_word, [k for k, _ in fields], dict(fields), line))
    starts = [r for r in records if r[0] == "start"]
    samples = [r for r in records if r[0] == "sample"]
    statuses = [r for r in records if r[0] == "status"]
    summaries = [r for r in records if r[0] == "summary"]
    need(len(starts) == 1 and records and records[0][0] == "start", "one start line, first")
    need(len(summaries) == 1 and records and records[-1][0] == "summary", "one summary line, last")
    START_KEYS = "version server local no_reply_ms had_reply_ms clock".split()
    for _, keys, f, line in starts:
        need(keys == START_KEYS, f"start fields {keys} are not {START_KEYS}")
        for k in ("server", "local"):
            if k in opts:
                need(f.get(k) == opts[k], f"start {k}={f.get(k)}, want {opts[k]}")
    for _, keys, f, line in samples:
        if not need(keys == SAMPLE_KEYS, f"sample fields {keys} are not {SAMPLE_KEYS}"):
            continue
        for k in ("offset", "sample_offset"):
            need(SIGNED.match(f[k]), f"{k}={f[k]} is not a signed 9-decimal number")
        for k in ("delay", "jitter"):
            need(UNSIGNED.match(f[k]), f"{k}={f[k]} is not a 9-decimal number")
        need(re.match(r"[+-]\d+\.\d{3}$", f["freq_ppm"]), f"freq_ppm={f['freq_ppm']}")
        stratum = int(f["stratum"])
        if stratum == 1:
            need(re.match(r"[!-~]{1,4}$", f["refid"]), f"stratum 1 refid {f['refid']} is not ASCII")
        else:
            need(re.match(r"\d{1,3}(\.\d{1,3}){3}$", f["refid"]), f"refid {f['refid']} is not a dotted quad")
        if "stratum" in opts:
            need(f["stratum"] == opts["stratum"], f"stratum={f['stratum']}, want {opts['stratum']}")
        if "refid" in opts:
            need(f["refid"] == opts["refid"], f"refid={f['refid']}, want {opts['refid']}")
        if "server" in opts:
            need(f["server"] == opts["server"], f"server={f['server']}, want {opts['server']}")
        need(f["backend"] == "none" and f["steering"] == "0", "backend=none steering=0")
        need(f["role"] == "measuring" and f["not_steering"] == "1", "role=measuring not_steering=1 (PROSSNTP_CLOCK=none)")
        need(f["leap"] == "0", f"leap={f['leap']}")
        need(float(f["delay"]) < 0.05, f"delay {f['delay']} on loopback")
        near(float(f["offset"]), WANT, TOL, "offset")
        near(float(f["sample_offset"]), WANT, TOL, "sample_offset")
        # The own clock (prossntp_gettime): the server's time, and its error bound.
        need(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$", f["server_time"]),
             f"server_time={f['server_time']} is not UTC with nanoseconds")
        need(SIGNED.match(f["own_offset"]), f"own_offset={f['own_offset']} is not a signed 9-decimal number")
        need(UNSIGNED.match(f["own_error_bound"]) and 0 < float(f["own_error_bound"]) < 1,
             f"own_error_bound={f['own_error_bound']}")
        near(float(f["own_offset"]), WANT, TOL, "own_offset")
    ns = [int(r[2]["n"]) for r in samples if "n" in r[2]]
    need(ns == sorted(set(ns)), f"sample numbers {ns} do not increase")
    want_samples = int(opts.get("samples", "0"))
    if opts.get("quiet") == "1":
        need(not samples, "sample lines despite -q")
    else:
        need(len(samples) >= want_samples, f"{len(samples)} sample lines, want {want_samples} or more")
    if "status" in opts:
        want = opts["status"]
        got = [" ".join(f"{k}={r[2][k]}" for k in ("status", "has_sync", "state")) for r in statuses]
        need(any(g == want for g in got), f"no status line '{want}' (got {got})")
    if summaries:
        s = summaries[0][2]
        if "end" in opts:
            need(s.get("end") == opts["end"], f"summary end={s.get('end')}, want {opts['end']}")
        try:
            replies, requests = int(s["replies"]), int(s["requests"])
            need(int(s["samples"]) >= want_samples, f"summary samples={s['samples']}")
            need(requests >= replies, "requests < replies")
            by_reason = sum(int(v) for k, v in s.items() if re.match(r"rejected\.[a-z_0-9]+$", k))
            need(by_reason == int(s["rejected"]), f"rejections by reason add up to {by_reason}, not {s['rejected']}")
            for k in s:
                if re.match(r"rejected\.[a-z_0-9]+$", k):
                    need(s.get(k + ".text"), f"{k} has no text")
        except (KeyError, ValueError) as e:
            need(False, f"summary: {e!r}")
        for k in ("kod", "reject", "error"):
            if k in opts:
                key = {"kod": "kod", "reject": "rejected." + opts.get("reject", ""), "error": "last_error"}[k]
                if k == "error":
                    need(opts["error"] in s.get("last_error", ""), f"last_error {s.get('last_error')!r}")
                elif k == "kod":
                    need(s.get("kod") == opts["kod"], f"kod={s.get('kod')}, want {opts['kod']}")
                else:
                    need(int(s.get(key, "0")) > 0, f"no {key} count in the summary")
    if samples:
        print(f"  {len(samples)} samples, last offset {samples[-1][2]['offset']} delay {samples[-1][2]['delay']}")

elif kind in ("poll", "sd_event"):
    syncs = [l for l in lines if re.search(r"\d s: sync, has_sync = 1$", l)]
    need(syncs, "no 'sync, has_sync = 1' line")
    measured = [l for l in lines if "measured:" in l]
    need(measured, "no 'measured:' line after the status change")
    offsets = []
    for l in measured:
        m = re.search(r"offset[ =]([+-]\d+\.\d{9})", l)
        if need(m, f"no offset in the stats read right after the Sync message (stale stats: the library must publish them before queuing Sync): {l.strip()}"):
            offsets.append(float(m.group(1)))
    for o in offsets:
        near(o, WANT, TOL, "measured offset")
    if kind == "sd_event":
        interval = float(opts.get("interval", "0.5"))
        ticks = [re.match(r"(\d+\.\d{3}) s: periodic \(due (\d+\.\d{3}) s\): (.*)$", l) for l in lines]
        ticks = [t for t in ticks if t]
        need(len(ticks) >= int(opts.get("ticks", "1")), f"{len(ticks)} periodic lines, want {opts.get('ticks')}")
        for k, t in enumerate(ticks, 1):
            at, due = float(t.group(1)), float(t.group(2))
            near(due, k * interval, 0.0015, f"periodic line {k} due")
            need(0 <= at - due < 0.1, f"periodic line {k} ran at {at}, due {due}")
            m = re.search(r"offset=([+-]\d+\.\d{9})", t.group(3))
            if "has_sync=1" in t.group(3) and need(m, f"periodic line {k} has no offset"):
                near(float(m.group(1)), WANT, TOL, f"periodic line {k} offset")
        if ticks:
            print(f"  {len(ticks)} periodic lines, due every {interval} s, last: {ticks[-1].group(3)}")
    elif offsets:
        print(f"  measured offset {offsets[-1]:+.9f}")
    if "end" in opts:
        need(any(opts["end"] in l for l in lines), f"no '{opts['end']}' line")

elif kind == "gate" and "closed" in opts:
    closed = [re.match(r"not ready after (\d+\.\d{3}) s: unsynchronised, bound inf s", l) for l in lines]
    closed = [m for m in closed if m]
    if need(closed, "no 'not ready after ... unsynchronised' line"):
        near(float(closed[0].group(1)), 2.0, 0.5, "the gate's wait")

elif kind == "gate":
    ready = [re.match(r"ready after (\d+\.\d{3}) s: synchronised, bound (\d+\.\d{6}) s$", l) for l in lines]
    ready = [m for m in ready if m]
    if need(ready, "no 'ready after ... synchronised' line"):
        need(float(ready[0].group(2)) <= float(opts.get("bound", "0.010")), f"bound {ready[0].group(2)} over the gate")
    stamp = [re.search(r"event stamped \[(\d+)\.(\d{9}), (\d+)\.(\d{9})\] UTC \(synchronised", l) for l in lines]
    stamp = [m for m in stamp if m]
    if need(stamp, "no 'event stamped' line"):
        m = stamp[0]
        lo, hi = int(m.group(1)) + int(m.group(2)) / 1e9, int(m.group(3)) + int(m.group(4)) / 1e9
        need(lo < hi, "earliest not before latest")
    waits = [re.match(r"commit-wait (\d+\.\d{3}) ms \((\d+) checks\)", l) for l in lines]
    waits = [m for m in waits if m]
    if need(waits, "no 'commit-wait' line") and ready and stamp:
        print(f"  {ready[0].group(0)}; {waits[0].group(0)}")

elif kind == "dlopen":
    need(any(l == "resolved all 10 names" for l in lines), "not all 10 names resolved")
    need(sum(l.startswith("resolved ") for l in lines) == 11, "not 10 'resolved' lines")
    need(any(l == f"loaded {opts['loaded']}" for l in lines), f"did not load {opts['loaded']}")
    if opts.get("fallback") == "1":
        need(any("trying libprossntp.so" in l for l in lines), "no fallback to libprossntp.so")
    need(any(re.search(r"sync, has_sync = 1$", l) for l in lines), "no sync")
    m = [re.match(r"stats: offset ([+-]\d+\.\d{9}) s", l) for l in lines]
    m = [x for x in m if x]
    st = [l for l in lines if l.startswith("stats: backend")]
    if need(st and " 0 replies" not in st[0], f"the stats read right after the Sync message show no reply (stale: the library must publish them before queuing Sync): {st}"):
        if need(m, "no stats offset line"):
            near(float(m[0].group(1)), WANT, TOL, "stats offset")
            print(f"  stats offset {m[0].group(1)}")
    need(lines and lines[-1] == "dlclose done", "no 'dlclose done' at the end")
else:
    sys.exit(f"unknown kind {kind}")

try:
    err = open(path + ".err", encoding="utf-8", errors="replace").read()
except FileNotFoundError:
    err = ""
if "stderr" in opts:
    need(opts["stderr"] in err, f"stderr does not say {opts['stderr']!r}")
elif kind == "monitor":
    need(err == "", "unexpected stderr output")

for p in problems:
    print(f"  problem: {p}")
sys.exit(1 if problems else 0)
