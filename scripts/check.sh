#!/usr/bin/env bash
# The fast tier (`make check`, a few minutes): what a developer runs all day.
# Builds first (the namespace has no network), then runs the Rust unit and
# integration tests and the C harness inside scripts/testnet.sh: CAP_SYS_TIME
# dropped, loopback only, a real chronyd on 127.0.0.1 and ::1. `make test`
# runs these and everything else (it sources this file, then goes on).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

for tool in cargo cargo-clippy cc chronyd setpriv unshare ip python3 nm pkg-config; do
    command -v "$tool" >/dev/null || { echo "check: $tool is missing (see .ci/run for what to install)" >&2; exit 1; }
done
. scripts/tally.sh

step build bash -c 'cargo build --features __internal-api --lib --bins && cargo test --no-run --quiet'
# Lints as errors: clippy on everything, and on the library alone, where
# the dead-code lint sees what only the crate's own tests use; the docs.
step lint bash -c 'cargo clippy --quiet --all-targets -- -D warnings && cargo clippy --quiet --lib -- -D warnings &&
    RUSTDOCFLAGS="-D warnings" cargo doc --quiet --no-deps --lib --features __internal-api'
export PROSSNTP_REQUIRE_CHRONYD=1
step cargo-test scripts/testnet.sh cargo test --offline
step ctests scripts/testnet.sh ctests/run.sh
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    tally_end check
fi
