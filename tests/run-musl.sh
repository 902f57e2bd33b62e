#!/bin/sh
# SPDX-License-Identifier: MIT
# run-musl.sh - build libspool and tests/musl-driver.c with musl-gcc and
# run the driver: the library's core on musl's fopencookie(). Exit status
# is the driver's; 77 (automake's SKIP) when musl-gcc is missing.
# Debian: apt-get install musl-tools.
#
# Everything happens in a temporary directory; the source and build trees
# are left alone. config.h comes from the real ./configure run with
# CC=musl-gcc, so the feature checks are musl's own. Check does not exist
# for musl and the driver does not need it: CHECK_CFLAGS/CHECK_LIBS are
# preset, which makes configure's PKG_CHECK_MODULES([CHECK]) skip the
# pkg-config lookup (a host check.pc would be glibc's anyway).
set -eu

CC=${MUSL_CC:-musl-gcc}
if ! command -v "$CC" >/dev/null 2>&1; then
	echo "SKIP: $CC not installed (Debian: apt-get install musl-tools)"
	exit 77
fi
src=$(cd "$(dirname "$0")/.." && pwd)
[ -x "$src/configure" ] || { echo "$0: run ./autogen.sh first" >&2; exit 2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/spool-musl.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

# configure refuses a second build from a source tree configured in
# place, so it runs from a copy of just what it reads.
mkdir "$tmp/src" "$tmp/src/lib"
cp -R "$src/configure" "$src/config.h.in" "$src/Makefile.in" \
	"$src/libspool.pc.in" "$src/build-aux" "$tmp/src/"
cp "$src/lib/spool.c" "$tmp/src/lib/"
(cd "$tmp" && "$tmp/src/configure" -q CC="$CC" \
	CHECK_CFLAGS=-DSPOOL_NO_CHECK CHECK_LIBS=-DSPOOL_NO_CHECK) \
	>"$tmp/configure.out" 2>&1 || {
	cat "$tmp/configure.out" "$tmp/config.log" >&2
	echo "$0: configure with CC=$CC failed" >&2
	exit 1
}

# The flags of configure --enable-werror. Every file of lib/: sys.c
# must compile to nothing without SPOOL_FAULT_INJECTION, and the glibc
# seam to its portable path on musl.
warn="-Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
-Wpointer-arith -Wformat=2 -Werror"
# shellcheck disable=SC2086
"$CC" -std=gnu11 -O2 -g $warn -I"$tmp" -I"$src/lib" \
	-o "$tmp/musl-driver" "$src/tests/musl-driver.c" \
	"$src"/lib/*.c -lpthread

# Proof that this is a musl binary, not glibc's by accident.
if command -v readelf >/dev/null 2>&1; then
	interp=$(readelf -l "$tmp/musl-driver" |
		sed -n 's/.*interpreter: \(.*\)]/\1/p')
	case "$interp" in
	*musl*) echo "musl: interpreter $interp" ;;
	"") echo "musl: static binary" ;;
	*) echo "$0: $interp is not musl's loader" >&2; exit 1 ;;
	esac
fi
TMPDIR="$tmp" "$tmp/musl-driver"
