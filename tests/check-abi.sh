#!/bin/sh
# SPDX-License-Identifier: MIT
# A program built as against libspool 0.1 (tests/abi01.c: the shorter
# struct spool_options, bound to spool_fopen_opts@LIBSPOOL_0.1) must run
# with the shared library built here. Also: a new program binds to the
# default version, which reads the longer struct.
set -eu
: "${top_srcdir:=.}" "${top_builddir:=.}"
so=$(ls "$top_builddir"/lib/.libs/libspool.so.* 2>/dev/null | head -n 1)
if [ -z "$so" ]; then
	echo "check-abi: SKIPPED: no shared library built (configure --disable-shared?)"
	exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
libdir=$(cd "$top_builddir/lib/.libs" && pwd)
${CC:-cc} -o "$tmp/abi01" "$top_srcdir/tests/abi01.c" -L"$libdir" -lspool
# The reference really is to the old version.
if ! objdump -T "$tmp/abi01" | grep -q '(LIBSPOOL_0\.1) *spool_fopen_opts$'; then
	echo "check-abi: abi01 is not bound to spool_fopen_opts@LIBSPOOL_0.1" >&2
	objdump -T "$tmp/abi01" | grep spool_ >&2
	exit 1
fi
LD_LIBRARY_PATH=$libdir "$tmp/abi01"
# And a program built today binds to LIBSPOOL_0.3.
printf '#include <spool.h>\nint main(void) { struct spool_options o = {0}; FILE *f = spool_fopen_opts(&o, "w"); return f == NULL || fclose(f) != 0; }\n' >"$tmp/new.c"
${CC:-cc} -o "$tmp/new" "$tmp/new.c" -I"$top_srcdir/lib" -L"$libdir" -lspool
if ! objdump -T "$tmp/new" | grep -q '(LIBSPOOL_0\.3) *spool_fopen_opts$'; then
	echo "check-abi: a new program is not bound to LIBSPOOL_0.3" >&2
	exit 1
fi
LD_LIBRARY_PATH=$libdir "$tmp/new"
echo "check-abi: old and new spool_fopen_opts both work"
