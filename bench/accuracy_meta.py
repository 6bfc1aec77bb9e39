#!/usr/bin/env python3
# scripts/bench-accuracy.sh: writes meta.json, what a run ran on (read back by
# `accuracy.py report`). The shell gathers the values; the CPU model is read
# here. Keys are written in the order below; interval, poll and warmup are
# numbers, the rest text.
#   accuracy_meta.py OUT date=... machine=... kernel=... load=... prossntp=...
#                    chronyd=... ntpdig=... python=... setup=...
#                    interval=N poll=N warmup=N
import ast, json, sys

args = dict(a.split("=", 1) for a in sys.argv[2:])
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
meta = {"date": args["date"], "machine": args["machine"], "cpu": cpu}
for key in ("kernel", "load", "prossntp", "chronyd", "ntpdig", "python", "setup"):
    meta[key] = args[key]
for key in ("interval", "poll", "warmup"):
    meta[key] = ast.literal_eval(args[key])
json.dump(meta, open(sys.argv[1], "w"), indent=1)
