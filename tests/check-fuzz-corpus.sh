#!/bin/sh
# SPDX-License-Identifier: MIT
# Replay every input in fuzz/corpus (seeds and regression inputs)
# through the fuzz harness, built without libFuzzer as fuzz/replay. Any
# difference between a spool and a regular file, a broken invariant, a
# leak or a crash fails the test.
set -eu
: "${top_srcdir:=.}" "${top_builddir:=.}"
# replay-seg is the same harness on the library compiled in with tiny
# memory segments (lib/spool.c, SPOOL_TINY_SEGMENTS).
for replay in "$top_builddir/fuzz/replay" "$top_builddir/fuzz/replay-seg"; do
	if [ ! -x "$replay" ]; then
		echo "check-fuzz-corpus: $replay not built" >&2
		exit 99
	fi
	# replay prints "replay: N inputs replayed" and fails when N is 0.
	"$replay" "$top_srcdir/fuzz/corpus"
done
