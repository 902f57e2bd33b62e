#!/bin/sh
# SPDX-License-Identifier: MIT
# Fail when a C source file differs from what clang-format makes of it
# with the project's .clang-format. Only clang-format 14 (Debian 12's)
# is trusted: other versions format some constructs differently, so
# with another one the check says so and skips.
# Usage: tools/check-format.sh (from anywhere in the tree)
set -u
cd "$(dirname "$0")/.." || exit 1
cf=
for c in clang-format-14 clang-format; do
	if command -v "$c" >/dev/null 2>&1; then
		cf=$c
		break
	fi
done
if [ -z "$cf" ]; then
	echo "check-format: SKIPPED: no clang-format (package clang-format)"
	exit 0
fi
case $("$cf" --version) in
*" version 14."*) ;;
*)
	echo "check-format: SKIPPED: $("$cf" --version | head -n 1) is not version 14"
	exit 0
	;;
esac
if [ -d .git ] && command -v git >/dev/null 2>&1; then
	files=$(git ls-files '*.c' '*.h')
else
	files=$(find lib tests cmd tools fuzz examples bench -name '*.[ch]' | sort)
fi
bad=0 n=0
for f in $files; do
	n=$((n + 1))
	if ! "$cf" --style=file "$f" | cmp -s - "$f"; then
		echo "check-format: $f is not formatted (run: $cf -i $f)" >&2
		"$cf" --style=file "$f" | diff -u "$f" - | head -n 20 >&2
		bad=$((bad + 1))
	fi
done
if [ "$bad" -ne 0 ]; then
	echo "check-format: $bad of $n files differ from .clang-format" >&2
	exit 1
fi
echo "check-format: $n files formatted as .clang-format says"
