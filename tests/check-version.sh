#!/bin/sh
# SPDX-License-Identifier: MIT
# The version is written in three places a release must change together:
# configure.ac's AC_INIT, lib/spool.h's SPOOL_VERSION* macros and every
# man page's .TH line. Fail when any of them disagrees with AC_INIT.
set -u
: "${top_srcdir:=.}"
fail=0
want=$(sed -n 's/^AC_INIT(\[libspool\], \[\([^]]*\)\].*/\1/p' \
	"$top_srcdir/configure.ac")
if [ -z "$want" ]; then
	echo "check-version: no version in configure.ac's AC_INIT" >&2
	exit 1
fi
h=$top_srcdir/lib/spool.h
macro() { sed -n "s/^#define SPOOL_VERSION$1 \"*\([^\"]*\)\"*\$/\1/p" "$h"; }
parts="$(macro _MAJOR).$(macro _MINOR).$(macro _MICRO)"
for got in "$(macro '')" "$parts"; do
	if [ "$got" != "$want" ]; then
		echo "check-version: lib/spool.h says $got, configure.ac $want" >&2
		fail=1
	fi
done
n=0
for page in "$top_srcdir"/docs/*.[0-9]; do
	n=$((n + 1))
	got=$(sed -n 's/^\.TH .*"libspool \([^"]*\)".*/\1/p' "$page")
	if [ "$got" != "$want" ]; then
		echo "check-version: $(basename "$page") says '${got}', configure.ac $want" >&2
		fail=1
	fi
done
[ "$fail" -eq 0 ] &&
	echo "check-version: $want in configure.ac, lib/spool.h and $n man pages"
exit "$fail"
