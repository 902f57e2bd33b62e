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
# Every exported symbol must carry a version from the map.
if nm -D --defined-only "$so" | grep ' spool_' | grep -qv '@@LIBSPOOL_'; then
	echo "check-exports: unversioned spool_ symbol" >&2
	exit 1
fi
echo "check-exports: $(wc -l <"$tmp/map") symbols match lib/libspool.map"
