#!/bin/sh
# SPDX-License-Identifier: MIT
# Run every Check binary of a configured, built tree under valgrind's
# memcheck, without Check's fork (CK_FORK=no) so valgrind sees the test
# code, and fail on any error or leak.
# Usage: tools/valgrind-check.sh BUILD_DIR
set -eu
build=${1:?usage: valgrind-check.sh BUILD_DIR}
top=$(cd "$(dirname "$0")/.." && pwd)
# glibc's own leaks only (tests/valgrind.supp says which and why).
supp=--suppressions=$top/tests/valgrind.supp
status=0
for t in "$build"/tests/check_*; do
	case "$t" in *.log | *.trs | *.o) continue ;; esac
	[ -x "$t" ] || continue
	name=$(basename "$t")
	if CK_FORK=no SPOOL_DIFF_SEEDS=${SPOOL_DIFF_SEEDS:-20} \
		timeout 900 valgrind -q --error-exitcode=99 --leak-check=full \
		--errors-for-leak-kinds=definite,indirect,possible "$supp" \
		"$t" >"$build/$name.valgrind.log" 2>&1; then
		echo "valgrind: $name: $(grep -E '^[0-9]+%: Checks' "$build/$name.valgrind.log" | tail -n 1)"
	else
		echo "valgrind: $name: FAILED" >&2
		tail -n 40 "$build/$name.valgrind.log" >&2
		status=1
	fi
done
# The fuzz harness over its corpus, the same way, on both builds.
for r in replay replay-seg; do
	[ -x "$build/fuzz/$r" ] || continue
	if timeout 900 valgrind -q --error-exitcode=99 --leak-check=full \
		"$build/fuzz/$r" "$top/fuzz/corpus" >"$build/$r.valgrind.log" 2>&1; then
		echo "valgrind: fuzz/$r: $(tail -n 1 "$build/$r.valgrind.log")"
	else
		echo "valgrind: fuzz/$r: FAILED" >&2
		tail -n 40 "$build/$r.valgrind.log" >&2
		status=1
	fi
done
exit "$status"
