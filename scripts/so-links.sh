#!/usr/bin/env bash
# scripts/so-links.sh DIR...: makes a library built by cargo usable by programs
# linked against it in place.
#
# libprossntp.so carries the soname libprossntp.so.1 (build.rs), so a program
# linked with `-LDIR -lprossntp` records NEEDED libprossntp.so.1 and the
# dynamic loader looks for that name at run time. cargo writes only
# libprossntp.so: this adds the link libprossntp.so.1 -> libprossntp.so in each
# DIR (named after the SONAME the library really has; nothing to do for a
# library without one). Idempotent; call it after every build, before linking
# or running. `make install` does not need it (it installs its own links).
set -euo pipefail
for dir in "$@"; do
    so=$dir/libprossntp.so
    if [[ ! -e $so ]]; then
        echo "so-links: $so is missing (build it first)" >&2
        exit 1
    fi
    soname=$(readelf -d "$so" 2>/dev/null | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
    if [[ -n $soname && $soname != libprossntp.so ]]; then
        ln -sfn libprossntp.so "$dir/$soname"
    fi
done
