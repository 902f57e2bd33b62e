#!/bin/sh
# SPDX-License-Identifier: MIT
# make install DESTDIR=... must install exactly the header, the library,
# spool.pc, the man pages and the spool command; then a program built
# outside the source tree with nothing but pkg-config's flags must run
# against that installed copy.
set -u
: "${top_srcdir:=.}" "${top_builddir:=.}"
MAKE=${MAKE:-make}
CC=${CC:-cc}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/check-install.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
checks=0
failures=0
pass() { checks=$((checks + 1)); echo "PASS: $1"; }
fail() { checks=$((checks + 1)); failures=$((failures + 1)); echo "FAIL: $1"; }
finish() {
	pct=$(( (checks - failures) * 100 / (checks ? checks : 1) ))
	echo "$pct%: Checks: $checks, Failures: $failures, Errors: 0"
	[ "$failures" -eq 0 ]
	exit
}

# Under make check this is make run from inside make: do not inherit the
# parent's flags (job server, -k, a DESTDIR of distcheck's).
unset MAKEFLAGS MFLAGS DESTDIR
# The directories as configured, read from the Makefile itself.
cat >"$tmp/dirs.mk" <<'END'
print-dirs:
	@echo 'prefix=$(prefix) bindir=$(bindir) libdir=$(libdir)'
	@echo 'includedir=$(includedir) mandir=$(mandir)'
	@echo 'pkgconfigdir=$(pkgconfigdir) ltver=$(LIBSPOOL_LT_VERSION)'
	@echo 'san="$(SAN_CFLAGS)"'
END
vars=$($MAKE -s -C "$top_builddir" -f Makefile -f "$tmp/dirs.mk" print-dirs) || {
	echo "ERROR: cannot read the install directories from the Makefile"
	exit 99
}
eval "$vars"
case $prefix in
/*) ;;
*) echo "ERROR: prefix '$prefix' is not absolute"; exit 99 ;;
esac

if $MAKE -s -C "$top_builddir" install DESTDIR="$tmp/root" >"$tmp/log" 2>&1; then
	pass "make install DESTDIR=..."
else
	cat "$tmp/log"
	fail "make install DESTDIR=... failed"
	finish
fi

# What must be there. The library's file names follow from the libtool
# version current:revision:age: libspool.so.(current-age).age.revision.
# libtool also installs libspool.la; it is kept (libtool's default,
# harmless; distributions delete it).
shared=$("$top_builddir/libtool" --config | sed -n 's/^build_libtool_libs=//p')
static=$("$top_builddir/libtool" --config | sed -n 's/^build_old_libs=//p')
IFS=: read -r cur rev age <<END
$ltver
END
major=$((cur - age))
{
	echo "$includedir/spool.h"
	echo "$libdir/libspool.la"
	if [ "$shared" = yes ]; then
		echo "$libdir/libspool.so"
		echo "$libdir/libspool.so.$major"
		echo "$libdir/libspool.so.$major.$age.$rev"
	fi
	[ "$static" = yes ] && echo "$libdir/libspool.a"
	echo "$pkgconfigdir/spool.pc"
	for page in spool_fopen spool_fopen_opts spool_rollover \
		spool_is_rolled spool_fileno spool_size spool_truncate \
		spool_getvalue spool_view spool_unview spool_send \
		spool_persist spool_set_budget spool_budget_used spool_stat; do
		echo "$mandir/man3/$page.3"
	done
	echo "$mandir/man7/libspool.7"
	echo "$mandir/man1/spool.1"
	echo "$bindir/spool"
} | LC_ALL=C sort >"$tmp/want"
(cd "$tmp/root" && find . ! -type d | sed 's/^\.//') | LC_ALL=C sort >"$tmp/got"
if cmp -s "$tmp/want" "$tmp/got"; then
	pass "installed exactly $(wc -l <"$tmp/want") files"
else
	comm -23 "$tmp/want" "$tmp/got" | sed 's/^/    missing: /'
	comm -13 "$tmp/want" "$tmp/got" | sed 's/^/    extra:   /'
	fail "installed files differ from the expected list"
fi
[ -x "$tmp/root$bindir/spool" ] && pass "spool is executable" ||
	fail "$bindir/spool is not executable"

# A consumer outside the source tree: only pkg-config's flags, only the
# installed copy (PKG_CONFIG_SYSROOT_DIR prefixes the -I and -L paths).
mkdir "$tmp/consumer"
cat >"$tmp/consumer/use.c" <<'END'
#include <spool.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
	FILE *fp = spool_fopen(16, "w+");
	char line[64];
	int rolled;

	if (fp == NULL)
		return 1;
	fprintf(fp, "installed libspool %s works\n", SPOOL_VERSION);
	fflush(fp);	/* spool_is_rolled() does not flush stdio's buffer */
	rolled = spool_is_rolled(fp);
	rewind(fp);
	if (fgets(line, sizeof(line), fp) == NULL)
		return 1;
	printf("%s", line);
	printf("%s\n", rolled == 1 ? "spilled" : "not spilled");
	return fclose(fp) == 0 ? 0 : 1;
}
END
if flags=$(PKG_CONFIG_PATH="$tmp/root$pkgconfigdir" PKG_CONFIG_LIBDIR= \
	PKG_CONFIG_SYSROOT_DIR="$tmp/root" pkg-config --cflags --libs spool); then
	pass "pkg-config --cflags --libs spool: $flags"
else
	fail "pkg-config does not find the installed spool.pc"
	finish
fi
# The sanitizer flags only when the library was built with them (a
# static ASan library needs its runtime).
if (cd "$tmp/consumer" && $CC $san -o use use.c $flags) >"$tmp/log" 2>&1; then
	pass "compiled a program against the installed copy"
else
	cat "$tmp/log"
	fail "compiling against the installed copy failed"
	finish
fi
out=$(cd "$tmp/consumer" && LD_LIBRARY_PATH="$tmp/root$libdir" ./use 2>&1)
status=$?
want=$(printf 'installed libspool %s works\nspilled' \
	"$(sed -n 's/^Version: //p' "$tmp/root$pkgconfigdir/spool.pc")")
if [ "$status" -eq 0 ] && [ "$out" = "$want" ]; then
	pass "the program ran against the installed library"
else
	printf '%s\n' "$out"
	fail "the program failed (status $status)"
fi
# It must really have used the installed library, not the build tree's.
if [ "$shared" = yes ]; then
	if (cd "$tmp/consumer" && LD_LIBRARY_PATH="$tmp/root$libdir" ldd ./use) |
		grep -q "=> $tmp/root$libdir/libspool.so.$major "; then
		pass "ldd: libspool.so.$major resolved in the DESTDIR"
	else
		fail "ldd: libspool.so.$major not resolved in the DESTDIR"
	fi
fi
# A fully static program: pkg-config --static adds Libs.private.
if [ "$static" = yes ] && [ -z "$san" ]; then
	sflags=$(PKG_CONFIG_PATH="$tmp/root$pkgconfigdir" PKG_CONFIG_LIBDIR= \
		PKG_CONFIG_SYSROOT_DIR="$tmp/root" pkg-config --static --cflags --libs spool)
	if (cd "$tmp/consumer" && $CC -static -o use-static use.c $sflags) \
		>"$tmp/log" 2>&1 &&
		[ "$(cd "$tmp/consumer" && ./use-static 2>&1)" = "$want" ]; then
		pass "a -static program built with pkg-config --static works"
	else
		cat "$tmp/log"
		fail "static link with pkg-config --static failed"
	fi
else
	echo "skipped: static link check: no static library, or a sanitizer build"
fi
finish
