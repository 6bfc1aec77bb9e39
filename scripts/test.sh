#!/usr/bin/env bash
# Runs every test (`make test`, what CI runs): the fast tier of
# scripts/check.sh, then the platform cross-check, the man pages, the C
# examples, an install, the sanitizers, the VM and both benchmarks
# shortened. The last line counts the tests that ran, summed from the
# runners (scripts/tally.sh); the exit status is non-zero if any failed.
set -euo pipefail
. "$(dirname "$0")/check.sh"
step cross-check scripts/cross-check.sh
step man-lint scripts/man-lint.sh
step examples scripts/testnet.sh scripts/examples-test.sh
# make install into a temporary prefix, then build and run programs against it as a user would.
step install scripts/install-test.sh
# The misuse and concurrency suites again under ASan, TSan and valgrind.
step sanitize scripts/sanitize.sh
# The clock really disciplined: each backend in a qemu VM (the host clock is never touched).
step vm scripts/vm-test.sh
# The benchmark commands of BENCHMARKS.md still run (shortened; figures not judged).
step bench scripts/bench.sh --quick
step bench-accuracy bash -c 'BENCH_WARMUP=4 BENCH_SAMPLES=4 scripts/bench-accuracy.sh -o target/bench/accuracy-quick.md >/dev/null'
tally_end test
