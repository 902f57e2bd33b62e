#!/bin/sh
# SPDX-License-Identifier: MIT
# The release tarball must follow its own README. Unpack TARBALL (from
# make dist) in a temporary directory and check that
#   - every file the README's two commands name is in it, and every
#     script or source file those scripts name in turn (transitively);
#   - .ci/run runs those two commands;
#   - the first command builds and runs the demo there, minus its first
#     step, tools/install-deps.sh, which would run apt-get as root.
# make distcheck runs this as its distcheck-hook (Makefile.am), so it
# builds once per distcheck and never inside distcheck's make check.
# Usage: tests/check-dist.sh TARBALL
set -u
[ "$#" -eq 1 ] || { echo "usage: $0 TARBALL" >&2; exit 2; }
case $1 in
/*) tarball=$1 ;;
*) tarball=$PWD/$1 ;;
esac
tmp=$(mktemp -d "${TMPDIR:-/tmp}/check-dist.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
failures=0
pass() { echo "PASS: $1"; }
fail() { failures=$((failures + 1)); echo "FAIL: $1"; }

(cd "$tmp" && tar xf "$tarball") || { echo "ERROR: cannot unpack $1"; exit 99; }
set -- "$tmp"/*/
[ "$#" -eq 1 ] && [ -d "$1" ] || { echo "ERROR: $tarball: not one top directory"; exit 99; }
top=${1%/}

# The README starts with the two commands, each indented by four spaces.
first=$(grep -m 2 '^    [^ ]' "$top/README" | sed -n '1s/^    //p')
second=$(grep -m 2 '^    [^ ]' "$top/README" | sed -n '2s/^    //p')
if [ -n "$first" ] && [ -n "$second" ]; then
	pass "README's commands: '$first' and '$second'"
else
	echo "ERROR: no two indented commands at the top of README"
	exit 99
fi
build=${first#tools/install-deps.sh && }
if [ "$build" != "$first" ]; then
	pass "the first command starts with tools/install-deps.sh &&"
else
	fail "the first command does not start with 'tools/install-deps.sh &&'"
fi

# Paths in the commands (they contain a slash). ./configure and the demo
# come from the build, so they are looked for after it.
named=$(printf '%s\n%s\n' "$first" "$second" | tr ' ' '\n' | grep / |
	sed 's|^\./||' | sort -u)

# The scripts they run, and .ci/run, which README names; then what those
# scripts name, transitively: paths under the tree's top directories
# that end in .sh, .c, .h or .supp, also after "$src/". Build products
# such as fuzz/replay do not end so and are not followed.
names() {
	grep -oP '(?<![\w.$-])(\./)?(\.ci|tools|tests|fuzz|lib|examples|bench|docs)/[\w-][\w.-]*\.(sh|c|h|supp)(?!\w|\.\w)' "$1" |
		sed 's|^\./||'
}
todo=$(printf '%s\n.ci/run\n' "$named" | grep -E '\.sh$|^\.ci/run$')
seen=""
missing=""
unrunnable=""
while [ -n "$todo" ]; do
	set -- $todo
	f=$1
	shift
	todo=$*
	case " $seen " in *" $f "*) continue ;; esac
	seen="$seen $f"
	if [ ! -f "$top/$f" ]; then
		missing="$missing $f"
		continue
	fi
	case $f in
	*.sh | .ci/run)
		# They are run by name, not through sh.
		[ -x "$top/$f" ] || unrunnable="$unrunnable $f"
		todo="$todo $(names "$top/$f" | tr '\n' ' ')"
		;;
	esac
done
if [ -z "$missing" ]; then
	pass "in the tarball:$seen"
else
	fail "not in the tarball:$missing"
fi
if [ -z "$unrunnable" ]; then
	pass "its scripts are executable"
else
	fail "not executable in the tarball:$unrunnable"
fi

# CI is to run exactly what the README says: each command is a line of
# .ci/run, alone or followed by "|| exit 1".
runs() {
	sed 's/ || exit 1$//' "$top/.ci/run" 2>/dev/null | grep -Fqx -- "$1"
}
if runs "$first" && runs "$second"; then
	pass ".ci/run runs the README's two commands"
else
	fail ".ci/run does not run the README's two commands as they stand"
fi

# The build, as a user runs it: not as a part of this make.
unset MAKEFLAGS MFLAGS MAKELEVEL DESTDIR
if (cd "$top" && sh -c "$build") >"$tmp/build.log" 2>&1; then
	pass "in the unpacked tarball: $build"
	tail -n 3 "$tmp/build.log"
else
	tail -n 40 "$tmp/build.log"
	fail "in the unpacked tarball: $build"
fi
for f in $named; do
	case " $seen " in *" $f "*) continue ;; esac
	[ -e "$top/$f" ] || fail "$f: not in the tarball, nor built"
done

[ "$failures" -eq 0 ] && echo "check-dist: the tarball follows its README"
[ "$failures" -eq 0 ]
