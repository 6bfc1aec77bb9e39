#!/usr/bin/env bash
# man-lint: checks the man pages in man/.
#
#   scripts/man-lint.sh
#
# Fails (exit 1) on any of:
# - a warning from `groff -man -ww -z` (default device and -Tutf8), or from
#   `mandoc -Tlint` when mandoc is installed (Debian: apt-get install mandoc);
# - a page whose .TH title or section does not match its file name, whose
#   .TH source is not "prossntp VERSION" (Cargo.toml), or whose NAME section
#   does not list the name;
# - a link page that is not exactly `.so man3/PAGE.3` naming a page that
#   exists and lists the link's name in its NAME section;
# - a C function exported by src/ffi/api.rs or src/ffi/ext.rs without a page,
#   or whose page's SYNOPSIS does not show its prototype from include/;
# - a declaration in a SYNOPSIS (prototype, struct, enum, union, typedef,
#   #define, #include) that differs from include/prossntp.h or
#   include/prossntp_ext.h;
# - an ERR_SM_* or PROSSNTP_* constant of the headers that no page mentions,
#   or an ERR_SM_* code missing from prossntp.7;
# - a rendered line wider than 80 columns (a long line in an .EX block);
# - an EXAMPLES program (an .EX block starting with #include) that does not
#   compile with `cc -Wall -Wextra -Werror` against include/ (skipped, with a
#   note, when cc is missing).
# Prints `man-lint: N pages ok` when all pass.
set -euo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C.UTF-8

command -v groff >/dev/null || { echo "man-lint: groff is needed (Debian: groff)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "man-lint: python3 is needed" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# A man hierarchy, so that `.so man3/...` resolves as it does once installed.
mkdir -p "$tmp/man3" "$tmp/man7"
shopt -s nullglob
pages=(man/*.3 man/*.7)
[ ${#pages[@]} -gt 0 ] || { echo "man-lint: no pages in man/" >&2; exit 1; }
for p in "${pages[@]}"; do
    cp "$p" "$tmp/man${p##*.}/"
done

failed=0
fail() {
    echo "man-lint: $*" >&2
    failed=1
}

have_mandoc=0
if command -v mandoc >/dev/null; then
    have_mandoc=1
else
    echo "man-lint: mandoc not installed, mandoc -Tlint skipped (Debian: apt-get install mandoc)" >&2
fi

for p in "${pages[@]}"; do
    rel="man${p##*.}/$(basename "$p")"
    out=$(cd "$tmp" && groff -man -ww -z "$rel" 2>&1) || fail "$p: groff failed"
    [ -z "$out" ] || fail "$p: groff warnings:"$'\n'"$out"
    out=$(cd "$tmp" && groff -man -ww -z -Tutf8 "$rel" 2>&1) || fail "$p: groff -Tutf8 failed"
    [ -z "$out" ] || fail "$p: groff -Tutf8 warnings:"$'\n'"$out"
    if [ "$have_mandoc" = 1 ]; then
        # A link page draws mandoc's one advice against .so; the structure
        # checks below vet link pages instead.
        out=$(cd "$tmp" && mandoc -Tlint "$rel" 2>&1 | grep -v ': WARNING: \.so is fragile, better use ln(1): so ' || true)
        [ -z "$out" ] || fail "$p: mandoc -Tlint:"$'\n'"$out"
    fi
done

# Structure, API coverage, synopses, constants and examples.
python3 scripts/man-lint.py "$tmp" "${pages[@]}" || failed=1

if [ "$failed" != 0 ]; then
    echo "man-lint: FAILED" >&2
    exit 1
fi
echo "man-lint: ${#pages[@]} pages ok"
