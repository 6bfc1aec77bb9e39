#!/usr/bin/env bash
# Runs every test. Builds first (the namespace has no network), then runs the
# Rust tests and the C harness inside scripts/testnet.sh: CAP_SYS_TIME dropped,
# loopback only, a real chronyd on 127.0.0.1 and ::1.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in cargo cc chronyd setpriv unshare ip python3 nm pkg-config; do
    command -v "$tool" >/dev/null || { echo "test: $tool is missing (see .ci/run for what to install)" >&2; exit 1; }
done

cargo build --lib --bins
cargo test --no-run --quiet
scripts/cross-check.sh
scripts/man-lint.sh

export PROSSNTP_REQUIRE_CHRONYD=1
scripts/testnet.sh bash -c '
    set -euo pipefail
    cargo test --offline
    ctests/run.sh
    scripts/examples-test.sh
'
# make install into a temporary prefix, then build and run programs against it as a user would.
scripts/install-test.sh
# The misuse and concurrency suites again under ASan, TSan and valgrind.
scripts/sanitize.sh
# The clock really disciplined: each backend in a qemu VM (the host clock is never touched).
scripts/vm-test.sh
# The benchmark commands of BENCHMARKS.md still run (shortened; figures not judged).
scripts/bench.sh --quick
BENCH_WARMUP=4 BENCH_SAMPLES=4 scripts/bench-accuracy.sh -o target/bench/accuracy-quick.md >/dev/null
# set -e: reaching this line means every step above passed.
echo "test: every step passed: cross-check, man-lint, cargo test + ctests + examples, install, sanitizers, vm, both benchmarks shortened"
echo "test: 8 passed, 0 failed"
