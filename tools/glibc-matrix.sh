#!/bin/sh
# SPDX-License-Identifier: MIT
# Run the Check suites and the fuzz corpus replays on every glibc Debian
# ships: the system's (2.36 on Debian 12), Debian 13's (trixie) and
# unstable's (sid). libspool reaches into glibc's private FILE fields,
# so a newer glibc can break it where the system's passes; this is where
# that shows before users on newer distributions see it.
#
# The newer glibcs are the libc6 packages of the archive this machine
# already uses, fetched with apt-get download (own lists and cache under
# GLIBC_MATRIX_DIR, so the system's apt state stays untouched) and
# unpacked with dpkg-deb, never installed. Each glibc gets its own build
# from a clean copy of the tree (make distdir) in _glibc-<suite>, linked
# with that glibc's loader and an rpath to it, so that the test programs,
# their re-exec through /proc/self/exe and Check's forked children all
# run on it. A small program printing gnu_get_libc_version(), built the
# same way, and the loader's own list of what each test program loads
# prove it. Every suite runs twice: as is ("fast") and with
# SPOOL_STDIO=portable, which forces the library's portable stdio path.
#
# One line per glibc and path: PASS, FAIL (the failing run's
# test-suite.log is printed) or SKIPPED with the reason. A glibc that
# cannot be reached (no network, package absent) is skipped, never
# counted as passed, and does not fail the script; a failing test does.
# x86_64 only. Run from a checkout; configured in place if it is not.
#
# Environment:
#   GLIBC_MATRIX_DIR     downloads and unpacked packages, reused when
#                        there (default /tmp/libspool-glibc; remove it to
#                        fetch what the archive offers now)
#   GLIBC_MATRIX_SUITES  the Debian suites to fetch (default "trixie sid")
#   GLIBC_MATRIX_SYSTEM_FAST_DONE  set (by tools/check-all.sh, after its
#                        make check): skip the system glibc's fast run
set -u
cd "$(dirname "$0")/.." || exit 1
top=$(pwd)
jobs=$(nproc 2>/dev/null || echo 2)
cache=${GLIBC_MATRIX_DIR:-/tmp/libspool-glibc}
suites=${GLIBC_MATRIX_SUITES-trixie sid}
multiarch=usr/lib/x86_64-linux-gnu
loader=ld-linux-x86-64.so.2
failed=0
start=$(date +%s)
# Absolute: it ends up in rpaths. (Unwritable: fetch() says so.)
if mkdir -p "$cache" 2>/dev/null; then
	cache=$(cd "$cache" && pwd)
fi
# The result lines, also those printed in the subshells of matrix().
summary=$(mktemp "${TMPDIR:-/tmp}/glibc-matrix.XXXXXX") || exit 1
trap 'rm -f "$summary"' EXIT
trap 'exit 1' INT TERM

say() {
	echo "glibc-matrix: $*"
}

# A result line, printed now and again in the summary at the end.
result() {
	say "$*"
	echo "glibc-matrix: $*" >>"$summary"
}

# ---- Fetching

# The archive this machine installs from: the deb822 file the recipe
# reads, then the one-line format, then Debian's own. Security archives
# carry no libc6 of other suites, so they are passed over.
archive_uri() {
	uri=""
	f=/etc/apt/sources.list.d/debian.sources
	if [ -r "$f" ]; then
		uri=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++)
			if ($i !~ /security/) { print $i; exit } }' "$f")
	fi
	if [ -z "$uri" ] && [ -r /etc/apt/sources.list ]; then
		uri=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++)
			if ($i ~ /^[a-z+]+:\/\//) {
				if ($i !~ /security/) { print $i; exit }
				break
			} }' /etc/apt/sources.list)
	fi
	echo "${uri:-http://deb.debian.org/debian}"
}

# apt-get on the extra suites only: no system sources or preferences,
# lists and caches of its own; never more than 10 minutes.
xapt() {
	timeout 600 apt-get -o Dir::Etc::SourceList=/dev/null \
		-o "Dir::Etc::SourceParts=$cache/sources.list.d" \
		-o Dir::Etc::Preferences=/dev/null \
		-o "Dir::Etc::PreferencesParts=$cache/preferences.d" \
		-o "Dir::State=$cache/state" -o "Dir::Cache=$cache/cache" \
		-o Dir::State::status=/var/lib/dpkg/status \
		-o Acquire::Retries=2 -o Acquire::http::Timeout=30 \
		-o Acquire::https::Timeout=30 "$@"
}

# apt's first error or warning in log $1 that names suite $2, for a
# SKIPPED line. (Without network apt-get update exits 0 with warnings.)
apt_error() {
	grep -E '^(E|W):' "$1" | grep -v -e 'Some index files' -e unsandboxed |
		grep -F -e " $2 " -e "/$2/" -e "'$2'" | head -n 1 | cut -c 1-200
}

# Fetch the lists of every suite once (run on the first need only, so a
# cache that holds every suite never touches the network).
updated=""
apt_update() {
	[ -n "$updated" ] && return 0
	updated=yes
	mkdir -p "$cache/state/lists/partial" "$cache/cache/archives/partial" \
		"$cache/sources.list.d" "$cache/preferences.d" || return 1
	printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: %s\n' \
		"$(archive_uri)" "$suites" \
		/usr/share/keyrings/debian-archive-keyring.gpg \
		>"$cache/sources.list.d/glibc-matrix.sources" || return 1
	say "fetching the lists of $suites from $(archive_uri)"
	xapt -q update >"$cache/update.log" 2>&1 || true
}

# fetch SUITE: the suite's libc6 unpacked in $cache/SUITE, its Debian
# version in $cache/SUITE.version; or 1 with the reason in $why.
fetch() {
	suite=$1
	dir=$cache/$suite
	why=""
	if [ -s "$dir.version" ] && [ -x "$dir/$multiarch/$loader" ]; then
		say "$suite: reusing libc6 $(cat "$dir.version") in $dir"
		return 0
	fi
	for tool in apt-get dpkg-deb timeout; do
		command -v "$tool" >/dev/null && continue
		why="no $tool on this machine"
		return 1
	done
	if [ "$(dpkg --print-architecture 2>/dev/null)" != amd64 ]; then
		why="only amd64 is wired up (ld-linux-x86-64.so.2)"
		return 1
	fi
	apt_update || { why="cannot write to $cache"; return 1; }
	debs=$cache/debs-$suite
	rm -rf "$dir" "$dir.version" "$debs" && mkdir -p "$debs" || {
		why="cannot write to $cache"
		return 1
	}
	log=$debs/download.log
	if ! (cd "$debs" && xapt -q download "libc6/$suite") >"$log" 2>&1; then
		why="apt-get download libc6/$suite failed:"
		why="$why $(apt_error "$log" "$suite")"
		lists=$(apt_error "$cache/update.log" "$suite")
		[ -z "$lists" ] || why="$why (apt-get update: $lists)"
		return 1
	fi
	set -- "$debs"/libc6_*.deb
	if [ ! -f "$1" ] || ! dpkg-deb -x "$1" "$dir" ||
		! dpkg-deb -f "$1" Version >"$dir.version.new"; then
		why="could not unpack $1"
		return 1
	fi
	mv "$dir.version.new" "$dir.version"
	say "$suite: fetched $(basename "$1")"
}

# ---- Building and running

# The version a program built with LDFLAGS $1 really runs on.
probe_version() {
	cat >glibc-probe.c <<'EOF'
#include <gnu/libc-version.h>
#include <stdio.h>

int main(void)
{
	puts(gnu_get_libc_version());
	return 0;
}
EOF
	# shellcheck disable=SC2086 # the flags are words
	${CC:-cc} $1 -o glibc-probe glibc-probe.c && ./glibc-probe
}

# Every program in $progs must load each library that glibc dir $1 has
# from there (none from the system's glibc), and libspool from this
# build; the loader's own trace tells. With $1 empty: the system glibc.
check_loads() {
	ok=0
	for p in $progs; do
		LD_TRACE_LOADED_OBJECTS=1 "./$p" >"$p.loads" 2>&1 || {
			say "$label: $p: the loader could not list its libraries"
			cat "$p.loads"
			ok=1
			continue
		}
		# Lines: "name => path (address)" or "path (address)".
		while read -r name arrow path rest; do
			[ "$arrow" = "=>" ] || { path=$name; name=$(basename "$name"); }
			case $name in
			libspool.so*) want=$(pwd)/lib/.libs/$name ;;
			*)
				# Not glibc's: Check, libsubunit, the vDSO.
				[ -n "$1" ] && [ -e "$1/$name" ] || continue
				want=$1/$name
				;;
			esac
			[ "$path" = "$want" ] && continue
			say "$label: $p loads $name from $path, not $want"
			ok=1
		done <"$p.loads"
	done
	return "$ok"
}

# One run of the suites in the configured build in the current directory;
# $1 names the path ("fast" or "portable"). Prints the result line.
run_suites() {
	path=$1
	t0=$(date +%s)
	rm -f test-suite.log
	if [ "$path" = portable ]; then
		SPOOL_STDIO=portable timeout 1800 make -j"$jobs" check \
			TESTS="$tests" >"check-$path.log" 2>&1
	else
		(unset SPOOL_STDIO && timeout 1800 make -j"$jobs" check \
			TESTS="$tests") >"check-$path.log" 2>&1
	fi
	rc=$?
	secs=$(($(date +%s) - t0))
	rm -rf "logs-$path" && mkdir "logs-$path" &&
		cp tests/*.log tests/*.trs "logs-$path/" 2>/dev/null
	counts=$("$top/tools/test-summary.sh" . 2>&1 | sed -n 's/^tests: //p')
	# shellcheck disable=SC2046 # "P passed, F failed": two numbers
	set -- $(echo "$counts" | sed 's/[^0-9]/ /g') 0 0
	n=$(($1 + $2))
	bad=""
	for trs in tests/*.trs; do
		[ -f "$trs" ] || continue
		case $(sed -n 's/^:test-result: //p' "$trs" | sort -u | tr '\n' ' ') in
		*FAIL* | *ERROR*) bad="$bad $(basename "$trs" .trs)" ;;
		esac
	done
	if [ "$rc" -eq 0 ] && [ -z "$bad" ]; then
		result "$label $path: PASS ($n checks, ${secs}s)"
		return 0
	fi
	if [ -n "$bad" ]; then
		result "$label $path: FAIL ($2 of $n checks failed, in:$bad; ${secs}s)"
	else
		result "$label $path: FAIL (make check exited $rc; ${secs}s)"
	fi
	if [ -f test-suite.log ]; then
		cat test-suite.log
	else
		tail -n 60 "check-$path.log"
	fi
	return 1
}

# matrix NAME LABEL GLIBC_DIR: build a clean copy of the tree in
# _glibc-NAME for the glibc in GLIBC_DIR (empty: the system's), prove
# what it runs on, then run the suites on both paths.
matrix() {
	name=$1 label=$2 g=$3
	want=${label%% *}
	build=_glibc-$name
	say "$label: building in $build"
	t0=$(date +%s)
	rm -rf "$build" && make distdir distdir="$build" >/dev/null || {
		result "$label fast: FAIL (make distdir)"
		result "$label portable: FAIL (make distdir)"
		return 1
	}
	# Exit status of the subshell: 0 passed, 1 a run failed (its line
	# is out), 2 the build failed, 3 not on the wanted glibc.
	(
		cd "$build" || exit 2
		flags=""
		if [ -n "$g" ]; then
			# The build's lib/.libs first: libtool appends its own
			# rpath to it after these, which puts it behind
			# /usr/lib/x86_64-linux-gnu, where an installed libspool
			# would be tested instead (check_loads below verifies).
			flags="-Wl,--dynamic-linker=$g/$loader -Wl,-rpath,"
			flags="$flags$(pwd)/lib/.libs:$g:/usr/lib/x86_64-linux-gnu"
		fi
		./configure --disable-static ${flags:+"LDFLAGS=$flags"} \
			>configure.out 2>&1 &&
			make -j"$jobs" all >build.log 2>&1 || {
			tail -n 40 configure.out build.log 2>/dev/null
			exit 2
		}
		# The lists, from the Makefile: the tests are every Check
		# binary and the corpus replays; the build every program
		# they run.
		list() {
			# shellcheck disable=SC2016 # make expands it
			printf 'glibc-matrix-list:\n\t@echo $(%s)\n' "$1" |
				make -s -f Makefile -f - glibc-matrix-list
		}
		progs=$(list check_PROGRAMS)
		# shellcheck disable=SC2016 # make expands it
		tests=$(list 'filter tests/check_%,$(check_PROGRAMS)')
		tests="$tests tests/check-fuzz-corpus.sh"
		case " $(list TESTS) " in
		*" tests/check-fuzz-corpus.sh "*) ;;
		*) echo "tests/check-fuzz-corpus.sh is not in TESTS"; exit 2 ;;
		esac
		# shellcheck disable=SC2086 # a list of programs
		make -j"$jobs" $progs >>build.log 2>&1 || {
			tail -n 40 build.log
			exit 2
		}
		say "$label: built in $(($(date +%s) - t0))s"
		# What it runs on.
		got=$(probe_version "$flags")
		say "$label: runs on glibc ${got:-?} (gnu_get_libc_version)"
		if [ "$got" != "$want" ]; then
			say "$label: expected glibc $want"
			exit 3
		fi
		check_loads "$g" || exit 3
		say "$label: the test programs load glibc from" \
			"${g:-the system} and libspool from $build"
		rc=0
		# tools/check-all.sh has run make check, these suites
		# included, on the system glibc's fast path already.
		if [ "$build" = _glibc-system ] &&
			[ -n "${GLIBC_MATRIX_SYSTEM_FAST_DONE:-}" ]; then
			result "$label fast: not run again here: tools/check-all.sh's make check ran these suites on it"
		else
			run_suites fast || rc=1
		fi
		run_suites portable || rc=1
		exit "$rc"
	)
	rc=$?
	case $rc in
	0 | 1) ;;
	2)
		result "$label fast: FAIL (build)"
		result "$label portable: FAIL (build)"
		;;
	3)
		result "$label fast: FAIL (not running on glibc $want)"
		result "$label portable: FAIL (not running on glibc $want)"
		;;
	*)
		result "$label fast: FAIL (exit status $rc)"
		result "$label portable: FAIL (exit status $rc)"
		;;
	esac
	[ "$rc" -eq 0 ]
}

if [ ! -f Makefile ]; then
	say "configuring the tree (make distdir needs it)"
	{ ./autogen.sh && ./configure; } >/dev/null || exit 1
fi

# Fetch first, so that an unreachable archive shows at once.
rows=""
for suite in $suites; do
	if fetch "$suite"; then
		rows="$rows $suite"
	else
		result "$suite fast: SKIPPED: $why"
		result "$suite portable: SKIPPED: $why"
	fi
done

sys=$(getconf GNU_LIBC_VERSION 2>/dev/null | sed -n 's/^glibc //p')
matrix system "${sys:-?} (system)" "" || failed=1
for suite in $rows; do
	version=$(sed -e 's/^[0-9]*://' -e 's/-[^-]*$//' "$cache/$suite.version")
	matrix "$suite" "$version ($suite)" "$cache/$suite/$multiarch" ||
		failed=1
done

printf '\n'
cat "$summary"
say "took $(($(date +%s) - start))s"
exit "$failed"
