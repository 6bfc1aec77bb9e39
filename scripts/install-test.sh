#!/usr/bin/env bash
# scripts/install-test.sh: checks `make install` as a user of the library sees it.
#
# 1. `make install PREFIX=$tmp/prefix WITH_TING=1` and `make install
#    DESTDIR=$tmp/dest PREFIX=/usr/local WITH_TING=1`: checks each layout
#    (files, links, headers, prossntp.pc, man pages, nothing else), then
#    `make uninstall` on the DESTDIR one leaves no file behind.
# 2. From a directory outside the tree, builds ctests/install/sync.c three ways:
#      sync_pc      cc sync.c $(pkg-config --cflags --libs prossntp), with prossntp_ext.h
#      sync_ting    cc sync.c -I$prefix/include -L$prefix/lib -lTiNG, Aculab's header only
#      sync_static  libprossntp.a with $(pkg-config --static --libs prossntp)
#    and checks with readelf: the library's SONAME is libprossntp.so.MAJOR, the
#    two dynamic programs need exactly that name, the static one needs no
#    libprossntp; pkg-config --modversion is the header's PROSSNTP_VERSION_*;
#    the installed .so exports the API and nothing else.
# 3. Inside scripts/testnet.sh (CAP_SYS_TIME dropped, loopback only;
#    PROSSNTP_CLOCK=none), runs the three against the project's test server
#    (true time + 0.25 s) with LD_LIBRARY_PATH=$prefix/lib: each must reach
#    Sync within 10 s; the offset the ext programs print must be 0.25 s +- 50 ms.
#
# The last line is "install-test: ok", else the script fails with a message.
# Needs cargo, make, cc, pkg-config (Debian: pkgconf), readelf and nm
# (binutils). PROSSNTP_KEEP=1 keeps the temporary directory.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$here/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
CC=${CC:-cc}

die() {
    echo "install-test: FAILED: $*" >&2
    exit 1
}
say() { echo "install-test: $*"; }

# ---------------------------------------------------------------- 3. run (inside testnet)

if [[ -n ${PROSSNTP_INSTALL_TEST_DIR:-} ]]; then
    tmp=$PROSSNTP_INSTALL_TEST_DIR
    server_pid=
    cleanup() {
        [[ -z $server_pid ]] || kill "$server_pid" 2>/dev/null || true
        [[ ${PROSSNTP_KEEP:-} == 1 ]] || rm -rf "$tmp"
    }
    trap cleanup EXIT
    export PROSSNTP_CLOCK=none

    # The clock must be out of reach (scripts/testnet.sh drops CAP_SYS_TIME).
    if grep -q '^CapBnd:' /proc/self/status &&
        (($(printf '%d' "0x$(awk '/^CapBnd:/ { print $2 }' /proc/self/status)") >> 25 & 1)); then
        die "CAP_SYS_TIME is still in the bounding set: run this script directly, it enters scripts/testnet.sh itself"
    fi

    ok=1
    testserver_start "$PROSSNTP_TESTSERVER" "$tmp/testserver.err" --listen 127.0.0.1:0 --offset 0.25 --lifetime 120 ||
        ok=0
    server_pid=$TESTSERVER_PID
    addr=$TESTSERVER_V4
    [[ $ok == 1 ]] || die "the test server did not start ($(cat "$tmp/testserver.err"))"
    say "test server on $addr (true time + 0.250 s)"

    cd "$tmp/work"
    for prog in sync_pc sync_ting sync_static; do
        rc=0
        LD_LIBRARY_PATH=$tmp/prefix/lib timeout 30 "./$prog" "${addr%:*}" "${addr##*:}" >"$prog.out" 2>&1 || rc=$?
        sed "s/^/    $prog: /" "$prog.out"
        ((rc == 0)) || die "$prog exited with status $rc"
        grep -q "^prossntp $PROSSNTP_VERSION: sync after" "$prog.out" || die "$prog did not report version $PROSSNTP_VERSION and sync"
        if [[ $prog != sync_ting ]]; then
            offset=$(sed -n 's/^offset \([-0-9.]*\) s.*/\1/p' "$prog.out")
            [[ -n $offset ]] || die "$prog printed no offset"
            awk -v o="$offset" 'BEGIN { exit !(o > 0.2 && o < 0.3) }' ||
                die "$prog measured offset $offset s, expected 0.25 s +- 50 ms"
        fi
    done
    say "ok"
    exit 0
fi

# ---------------------------------------------------------------- 1. install

for tool in cargo make "$CC" pkg-config readelf nm; do
    command -v "$tool" >/dev/null || die "$tool is missing (pkg-config: apt-get install pkgconf; readelf, nm: binutils)"
done
cd "$ROOT"

version_part() { sed -n "s/^#define PROSSNTP_VERSION_$1 \([0-9][0-9]*\)$/\1/p" include/prossntp_ext.h; }
MAJOR=$(version_part MAJOR)
VERSION=$MAJOR.$(version_part MINOR).$(version_part PATCH)
[[ $VERSION =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "no PROSSNTP_VERSION_* in include/prossntp_ext.h"
SONAME=libprossntp.so.$MAJOR
cargo_version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
[[ $cargo_version == "$VERSION" ]] ||
    say "note: Cargo.toml says version $cargo_version, the header (what gets installed) $VERSION"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/prossntp-install.XXXXXX")
handed_over=0
trap '[[ $handed_over == 1 || ${PROSSNTP_KEEP:-} == 1 ]] || rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

# The files a WITH_TING=1 install puts under its prefix: "path" for a file,
# "path -> target" for a symbolic link.
expected_layout() {
    local f
    printf '%s\n' "include/prossntp.h" "include/prossntp_ext.h" \
        "lib/libTiNG.a -> libprossntp.a" "lib/libTiNG.so -> $SONAME" \
        "lib/libprossntp.a" "lib/libprossntp.so -> $SONAME" "lib/$SONAME -> libprossntp.so.$VERSION" \
        "lib/libprossntp.so.$VERSION" "lib/pkgconfig/prossntp.pc"
    for f in man/*.3 man/*.7; do
        [[ -f $f ]] && echo "share/man/man${f##*.}/${f##*/}"
    done
    return 0
}

# check_layout ROOT PREFIX-IN-PC: what an install left under ROOT.
check_layout() {
    local root=$1 pc_prefix=$2 actual expected f
    actual=$(cd "$root" && find . \( -type f -o -type l \) -printf '%P\n' | while read -r f; do
        if [[ -L $f ]]; then echo "$f -> $(readlink "$f")"; else echo "$f"; fi
    done | LC_ALL=C sort)
    expected=$(expected_layout | LC_ALL=C sort)
    if [[ $actual != "$expected" ]]; then
        diff <(echo "$expected") <(echo "$actual") | sed 's/^/    /' >&2 || true
        die "$root: the installed files differ from the expected ones (<: expected, >: installed)"
    fi
    [[ -x $root/lib/libprossntp.so.$VERSION ]] || die "$root/lib/libprossntp.so.$VERSION is not executable"
    for f in prossntp.h prossntp_ext.h; do
        cmp -s "include/$f" "$root/include/$f" || die "$root/include/$f differs from include/$f"
    done
    for f in man/*.3 man/*.7; do
        [[ -f $f ]] || continue
        cmp -s "$f" "$root/share/man/man${f##*.}/${f##*/}" || die "the installed ${f##*/} differs from $f"
    done
    grep -qx "prefix=$pc_prefix" "$root/lib/pkgconfig/prossntp.pc" || die "$root/lib/pkgconfig/prossntp.pc: prefix is not $pc_prefix"
    grep -qx "Version: $VERSION" "$root/lib/pkgconfig/prossntp.pc" || die "prossntp.pc: Version is not $VERSION"
    grep -Eqx 'Libs.private: .*-lpthread.*' "$root/lib/pkgconfig/prossntp.pc" || die "prossntp.pc: Libs.private lacks -lpthread"
    if grep -q '@[A-Z_]*@' "$root/lib/pkgconfig/prossntp.pc"; then
        die "prossntp.pc has unsubstituted @...@ fields"
    fi
}

say "make install PREFIX=$prefix WITH_TING=1"
make --no-print-directory install PREFIX="$prefix" WITH_TING=1 LDCONFIG=: >"$tmp/install.log" 2>&1 ||
    { sed 's/^/    /' "$tmp/install.log" >&2; die "make install failed"; }
check_layout "$prefix" "$prefix"
say "layout under PREFIX ok: $(expected_layout | wc -l) files and links"

say "make install DESTDIR=$tmp/dest PREFIX=/usr/local WITH_TING=1, then make uninstall"
make --no-print-directory install DESTDIR="$tmp/dest" PREFIX=/usr/local WITH_TING=1 LDCONFIG=: \
    >"$tmp/install-destdir.log" 2>&1 || { sed 's/^/    /' "$tmp/install-destdir.log" >&2; die "make install DESTDIR= failed"; }
[[ $(ls -A "$tmp/dest") == usr && $(ls -A "$tmp/dest/usr") == local ]] ||
    die "DESTDIR install wrote outside DESTDIR/usr/local: $(ls -A "$tmp/dest")"
check_layout "$tmp/dest/usr/local" /usr/local
make --no-print-directory uninstall DESTDIR="$tmp/dest" PREFIX=/usr/local LDCONFIG=: >"$tmp/uninstall.log" 2>&1 ||
    { sed 's/^/    /' "$tmp/uninstall.log" >&2; die "make uninstall failed"; }
left=$(cd "$tmp/dest" && find . \( -type f -o -type l \) -printf '%P ')
[[ -z $left ]] || die "make uninstall left: $left"
say "DESTDIR layout ok, make uninstall removed everything"

# ---------------------------------------------------------------- 2. build as a user

work=$tmp/work
mkdir -p "$work"
cp ctests/install/sync.c "$work/"
cd "$work"
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
modversion=$(pkg-config --modversion prossntp) || die "pkg-config does not find prossntp in $PKG_CONFIG_PATH"
[[ $modversion == "$VERSION" ]] || die "pkg-config --modversion says $modversion, the header $VERSION"
CFLAGS=(-std=c99 -Wall -Wextra -Werror -pedantic)
# shellcheck disable=SC2046 # pkg-config output is meant to be split
"$CC" "${CFLAGS[@]}" -DWITH_EXT sync.c $(pkg-config --cflags --libs prossntp) -o sync_pc ||
    die "cc sync.c \$(pkg-config --cflags --libs prossntp) failed"
"$CC" "${CFLAGS[@]}" sync.c -I"$prefix/include" -L"$prefix/lib" -lTiNG -o sync_ting ||
    die "cc sync.c -I$prefix/include -L$prefix/lib -lTiNG failed"
static_libs=$(pkg-config --static --libs prossntp)
# -lprossntp from libprossntp.a, the rest (Libs.private) from the system.
# shellcheck disable=SC2046,SC2086
"$CC" "${CFLAGS[@]}" -DWITH_EXT sync.c $(pkg-config --cflags prossntp) \
    ${static_libs/-lprossntp/-Wl,-Bstatic -lprossntp -Wl,-Bdynamic} -o sync_static ||
    die "static link with \$(pkg-config --static --libs prossntp) ($static_libs) failed"
say "built sync_pc, sync_ting, sync_static outside the tree (static: $static_libs)"

needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\].*/\1/p'; }
soname=$(readelf -d "$prefix/lib/libprossntp.so.$VERSION" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
[[ $soname == "$SONAME" ]] || die "libprossntp.so.$VERSION has SONAME '$soname', expected $SONAME"
for prog in sync_pc sync_ting; do
    libs=$(needed "$prog" | grep -E 'prossntp|TiNG' || true)
    [[ $libs == "$SONAME" ]] || die "$prog needs '$libs', expected $SONAME"
done
! needed sync_static | grep -Eq 'prossntp|TiNG' || die "sync_static needs a shared libprossntp"
say "SONAME $SONAME; sync_pc and sync_ting need $SONAME, sync_static no shared libprossntp"

exports=$(nm -D --defined-only "$prefix/lib/libprossntp.so.$VERSION" | awk 'NF >= 3 { print $3 }' | LC_ALL=C sort)
expected_exports=$(printf '%s\n' TiNG_showtrace TiNGtrace prossntp_config_key prossntp_config_keyfile prossntp_config_nts \
    prossntp_get_stats prossntp_gettime prossntp_now prossntp_past prossntp_reject_text prossntp_set_drift_floor \
    prossntp_strerror prossntp_surely_future prossntp_surely_past prossntp_wait_bound \
    prossntp_version sm_sntp_config sm_sntp_config_iPsSNTPtSAdiUiUi_ sm_sntp_config_ipv6 \
    sm_sntp_config_ipv6_iPsSNTPtSA6dUiUi_ sm_sntp_create sm_sntp_create_iPsSNTPtMte1_2_SIdSI6d_ sm_sntp_destroy \
    sm_sntp_destroy_iSNTPt sm_sntp_get_event sm_sntp_get_event_iPsSNTPtEt_ sm_sntp_status \
    sm_sntp_status_iPsSNTPte1_3_usi___ | LC_ALL=C sort)
if [[ $exports != "$expected_exports" ]]; then
    diff <(echo "$expected_exports") <(echo "$exports") | sed 's/^/    /' >&2 || true
    die "the installed .so's dynamic symbols differ from the API (<: expected, >: exported)"
fi
say "the installed .so exports the $(wc -l <<<"$exports") API symbols and nothing else"

# ---------------------------------------------------------------- 3. run, inside testnet

cd "$ROOT"
TESTSERVER=${PROSSNTP_TESTSERVER:-}
if [[ -z $TESTSERVER ]]; then
    cargo build --quiet --features __internal-api --bin prossntp-testserver
    TESTSERVER=$ROOT/target/debug/prossntp-testserver
fi
handed_over=1
PROSSNTP_INSTALL_TEST_DIR=$tmp PROSSNTP_TESTSERVER=$TESTSERVER PROSSNTP_VERSION=$VERSION PROSSNTP_NO_CHRONYD=1 \
    exec scripts/testnet.sh "$here/install-test.sh"
