#!/bin/sh
# SPDX-License-Identifier: MIT
# Print every Check binary's result line from the automake test logs,
# then one closing line "N passed, N failed" that counts single checks.
# Usage: tools/test-summary.sh BUILD_DIR
set -eu
dir=${1:-.}
passed=0 failed=0
for log in "$dir"/tests/*.log; do
	[ "$log" = "$dir/tests/test-suite.log" ] && continue
	line=$(grep -E '^[0-9]+%: Checks: ' "$log" | tail -n 1) || true
	result=$(sed -n 's/^:test-result: //p' "$dir/tests/$(basename "$log" .log).trs" 2>/dev/null | head -n 1)
	if [ -n "$line" ]; then
		printf '%-28s %s\n' "$(basename "$log" .log)" "$line"
		n=$(echo "$line" | sed 's/.*Checks: \([0-9]*\), Failures: \([0-9]*\), Errors: \([0-9]*\).*/\1 \2 \3/')
		set -- $n
		passed=$((passed + $1 - $2 - $3))
		failed=$((failed + $2 + $3))
	else
		printf '%-28s %s\n' "$(basename "$log" .log)" "$result"
		case "$result" in
		PASS) passed=$((passed + 1)) ;;
		SKIP) ;;
		*) failed=$((failed + 1)) ;;
		esac
	fi
done
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
