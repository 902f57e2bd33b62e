#!/bin/sh
# SPDX-License-Identifier: MIT
# Build and run every test libspool has, the way CI does:
#   0. every C file formatted as .clang-format says (tools/check-format.sh);
#   1. the Check suites and scripts (make check), then make distcheck;
#   2. the same suites built with AddressSanitizer + UBSan;
#   3. every Check binary under valgrind (CK_FORK=no);
#   4. every Check binary and the fuzz corpus replays on the system's
#      glibc and on those of Debian 13 and unstable, fetched from the
#      archive (tools/glibc-matrix.sh; skipped when out of reach);
#   5. the threads test under ThreadSanitizer;
#   6. the fuzz harness for FUZZ_SECONDS (default 120) on the seed corpus,
#      then as long again on a build with tiny memory segments.
# (The core tests on musl run inside make check: tests/run-musl.sh.)
# Each step's result is printed; the script fails if any step failed,
# after running them all. Run from the top of a git checkout.
set -u
cd "$(dirname "$0")/.."
# As root, first install what the tests need; a user without root skips it.
[ "$(id -u)" -ne 0 ] || tools/install-deps.sh --tests || exit 1
jobs=$(nproc 2>/dev/null || echo 2)
failed=""

step() {
	name=$1
	shift
	printf '\n==== %s\n' "$name"
	if "$@"; then
		printf '==== %s: ok\n' "$name"
	else
		printf '==== %s: FAILED\n' "$name"
		failed="$failed $name"
	fi
}

main_build() {
	./autogen.sh && ./configure --enable-werror && make -j"$jobs" &&
		make -j"$jobs" check && make distcheck
}

# The tree is configured in place, which rules out a second build from
# it; so the sanitizer build works on a clean copy made by make distdir.
sanitizer_build() {
	rm -rf _san && make distdir distdir=_san >/dev/null && cd _san &&
		./configure --enable-werror --enable-sanitizers --disable-shared &&
		make -j"$jobs" && make -j"$jobs" check
	rc=$?
	cd ..
	[ "$rc" -eq 0 ] || cat _san/tests/test-suite.log 2>/dev/null
	return "$rc"
}

step "format (clang-format 14)" tools/check-format.sh
step "make check + distcheck" main_build
if [ -f test-suite.log ] && grep -q '^# \(FAIL\|ERROR\): *[1-9]' test-suite.log; then
	cat test-suite.log
fi
step "sanitizers (ASan+UBSan)" sanitizer_build
step "valgrind" tools/valgrind-check.sh .
# The system glibc's fast path is make check's, above: not again.
step "glibc matrix" env GLIBC_MATRIX_SYSTEM_FAST_DONE=1 tools/glibc-matrix.sh
step "ThreadSanitizer" tests/run-tsan.sh .
step "fuzzing" fuzz/run-fuzz.sh "${FUZZ_SECONDS:-120}"
step "fuzzing (tiny segments)" env FUZZ_CPPFLAGS=-DSPOOL_TINY_SEGMENTS \
	fuzz/run-fuzz.sh "${FUZZ_SECONDS:-120}"

printf '\n'
tools/test-summary.sh . || failed="$failed summary"
if [ -n "$failed" ]; then
	echo "check-all: FAILED:$failed"
	exit 1
fi
echo "check-all: every step passed"
