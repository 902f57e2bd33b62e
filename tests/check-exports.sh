#!/bin/sh
# SPDX-License-Identifier: MIT
# The version script is the ABI: fail when the shared library's dynamic
# symbols and lib/libspool.map disagree, in either direction.
set -eu
: "${top_srcdir:=.}" "${top_builddir:=.}"
so=$(ls "$top_builddir"/lib/.libs/libspool.so.* 2>/dev/null | head -n 1)
if [ -z "$so" ]; then
	echo "check-exports: no shared library built; skipping (configure --disable-shared?)"
	exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
nm -D --defined-only "$so" | awk '$2 ~ /^[TDBRVW]$/ { print $3 }' |
	sed 's/@.*//' | grep -v '^LIBSPOOL_' | sort -u >"$tmp/exported"
sed -n 's/^[[:space:]]*\([a-z_][a-z0-9_]*\);.*/\1/p' \
	"$top_srcdir/lib/libspool.map" | sort -u >"$tmp/map"
if ! diff -u "$tmp/map" "$tmp/exported"; then
	echo "check-exports: exported symbols differ from lib/libspool.map" >&2
	exit 1
fi
# Every exported symbol must carry a version from the map, and exactly
# one of each name is the default (@@): older ones (@) serve old binaries.
if nm -D --defined-only "$so" | grep ' spool_' | grep -qv '@LIBSPOOL_'; then
	echo "check-exports: unversioned spool_ symbol" >&2
	exit 1
fi
dup=$(nm -D --defined-only "$so" | awk '$3 ~ /@@LIBSPOOL_/ { sub(/@.*/, "", $3); print $3 }' |
	sort | uniq -d)
if [ -n "$dup" ]; then
	echo "check-exports: more than one default version of: $dup" >&2
	exit 1
fi
# spool_fopen_opts keeps its 0.1 version for 0.1's shorter struct.
if ! nm -D --defined-only "$so" | grep -q ' spool_fopen_opts@LIBSPOOL_0\.1$'; then
	echo "check-exports: spool_fopen_opts@LIBSPOOL_0.1 is missing" >&2
	exit 1
fi
echo "check-exports: $(wc -l <"$tmp/map") symbols match lib/libspool.map"
