#!/bin/sh
# SPDX-License-Identifier: MIT
# run-tsan.sh BUILDDIR - build libspool and tests/check_threads.c with
# ThreadSanitizer and run them; exit non-zero on any report.
#
# BUILDDIR is a configured build directory: only its config.h is used.
# Everything is compiled from the sources straight into a temporary
# directory, so the build tree is left alone. Needs clang and
# llvm-symbolizer (Debian: apt-get install clang llvm).
#
# glibc's FILE lock is invisible to TSan; tests/tsan-filelock.c models it
# and tests/tsan.supp holds the one suppression left (see both files).
# Before the real run a deliberately racy canary must be reported, with
# its function names: it proves that a report fails this script and that
# the suppression, which matches by name, can work.
set -eu

usage() {
	echo "usage: $0 BUILDDIR (a configured libspool build directory)" >&2
	exit 2
}

[ $# -eq 1 ] || usage
build=$(cd "$1" && pwd) || usage
[ -f "$build/config.h" ] || { echo "$0: no config.h in $build" >&2; exit 2; }
src=$(cd "$(dirname "$0")/.." && pwd)
CC=${TSAN_CC:-clang}
command -v "$CC" >/dev/null || { echo "$0: $CC not found" >&2; exit 1; }

# The suppression matches function names: reports must be symbolized.
symbolizer=$(command -v llvm-symbolizer || true)
if [ -z "$symbolizer" ]; then
	for s in /usr/lib/llvm-*/bin/llvm-symbolizer; do
		[ -x "$s" ] && symbolizer=$s
	done
fi
[ -n "$symbolizer" ] || { echo "$0: llvm-symbolizer not found" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/spool-tsan.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

TSAN_OPTIONS="halt_on_error=1 exitcode=66 second_deadlock_stack=1"
TSAN_OPTIONS="$TSAN_OPTIONS suppressions=$src/tests/tsan.supp"
TSAN_OPTIONS="$TSAN_OPTIONS external_symbolizer_path=$symbolizer"
export TSAN_OPTIONS

# Run "$@", retrying without ASLR when this clang's TSan cannot cope with
# the kernel's address layout (it then aborts before main).
run() {
	if "$@" >"$tmp/out" 2>&1; then
		cat "$tmp/out"
		return 0
	fi
	if grep -q "unexpected memory mapping" "$tmp/out" &&
	    command -v setarch >/dev/null; then
		setarch "$(uname -m)" -R "$@"
		return $?
	fi
	cat "$tmp/out"
	return 1
}

# 1. The canary: two threads bump a counter without a lock.
cat >"$tmp/canary.c" <<'EOF'
#include <pthread.h>
#include <stdio.h>

static int counter;

static void *canary_writer(void *arg)
{
	(void)arg;
	counter++;
	return NULL;
}

int main(void)
{
	pthread_t a, b;

	pthread_create(&a, NULL, canary_writer, NULL);
	pthread_create(&b, NULL, canary_writer, NULL);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	printf("%d\n", counter);
	return 0;
}
EOF
"$CC" -fsanitize=thread -g -O0 -pthread -o "$tmp/canary" "$tmp/canary.c"
if run "$tmp/canary" >"$tmp/canary.out" 2>&1; then
	cat "$tmp/canary.out"
	echo "$0: FAIL: the canary's race was not reported" >&2
	exit 1
fi
if ! grep -q "data race" "$tmp/canary.out" ||
    ! grep -q "canary_writer" "$tmp/canary.out"; then
	cat "$tmp/canary.out"
	echo "$0: FAIL: the canary's report is missing or not symbolized" >&2
	exit 1
fi
echo "run-tsan: canary race reported as expected"

# 2. The library and the thread tests, all built with -fsanitize=thread.
# shellcheck disable=SC2046 # pkg-config's output is a list of words
"$CC" -fsanitize=thread -g -O1 -pthread -Wall -Wextra \
	-I "$src/lib" -I "$build" -include "$build/config.h" \
	"$src"/lib/*.c "$src/tests/check_threads.c" \
	"$src/tests/tsan-filelock.c" \
	$(pkg-config --cflags --libs check) -ldl \
	-o "$tmp/check_threads"

CK_FORK=no
export CK_FORK
if ! run "$tmp/check_threads"; then
	echo "$0: FAIL: check_threads under ThreadSanitizer" >&2
	exit 1
fi
echo "run-tsan: check_threads clean under ThreadSanitizer"

# 3. The server tests: the budget's counter, shared by threads that open,
# grow, roll and close spools at once.
# shellcheck disable=SC2046 # pkg-config's output is a list of words
"$CC" -fsanitize=thread -g -O1 -pthread -Wall -Wextra \
	-I "$src/lib" -I "$build" -include "$build/config.h" \
	"$src"/lib/*.c "$src/tests/check_server.c" \
	"$src/tests/tsan-filelock.c" \
	$(pkg-config --cflags --libs check) -ldl \
	-o "$tmp/check_server"
if ! run "$tmp/check_server"; then
	echo "$0: FAIL: check_server under ThreadSanitizer" >&2
	exit 1
fi
echo "run-tsan: check_server clean under ThreadSanitizer"
