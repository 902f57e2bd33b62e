#!/bin/sh
# SPDX-License-Identifier: MIT
# Lint every man page; any warning fails the test.
set -eu
: "${top_srcdir:=.}"
status=0
for page in "$top_srcdir"/docs/*.[137]; do
	out=$(LC_ALL=C.UTF-8 groff -man -ww -z "$page" 2>&1) || status=1
	if [ -n "$out" ]; then
		printf '%s:\n%s\n' "$page" "$out" >&2
		status=1
	fi
	if command -v mandoc >/dev/null 2>&1; then
		out=$(mandoc -Tlint -W warning "$page" 2>&1) || true
		if [ -n "$out" ]; then
			printf '%s\n' "$out" >&2
			status=1
		fi
	fi
done
[ "$status" -eq 0 ] && echo "check-man: all pages lint clean"
exit "$status"
