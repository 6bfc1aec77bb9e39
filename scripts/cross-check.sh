#!/usr/bin/env bash
# Type-checks the library for the other platforms it supports (cfg-gated
# platform code): FreeBSD, macOS, illumos. A target whose std cannot be
# installed is reported as skipped, not failed.
set -uo pipefail
cd "$(dirname "$0")/.."
failed=0
for t in x86_64-unknown-freebsd x86_64-apple-darwin x86_64-unknown-illumos; do
    if ! rustup target list --installed 2>/dev/null | grep -qx "$t"; then
        timeout 120 rustup target add "$t" >/dev/null 2>&1 || { echo "cross-check: $t skipped (target std not available)"; continue; }
    fi
    # (Not a pipe from cargo: with pipefail a failed check made the test false, "ok".)
    out=$(cargo check --quiet --features __internal-api --lib --bins --target "$t" 2>&1) && rc=0 || rc=$?
    note=
    # ring (NTS's TLS crypto) compiles C for the target; without that target's
    # C toolchain here, the rest is checked without the nts feature.
    if [ "$rc" != 0 ] && grep -q 'failed to run custom build command for `ring' <<<"$out"; then
        out=$(cargo check --quiet --no-default-features --features __internal-api --lib --bins --target "$t" 2>&1) && rc=0 || rc=$?
        note=" (without the nts feature: no C toolchain here for ring on $t)"
    fi
    if [ "$rc" != 0 ] || grep -v '^warning: prossntp@' <<<"$out" | grep -E '^(error|warning)'; then
        [ "$rc" = 0 ] || grep -E '^(error|warning)' <<<"$out" | head -20
        echo "cross-check: $t FAILED$note"; failed=1
    else
        echo "cross-check: $t ok$note"
    fi
done
exit $failed
