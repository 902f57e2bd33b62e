#!/bin/sh
# SPDX-License-Identifier: MIT
# Build the libFuzzer harness straight from lib/*.c with clang and fuzz
# for a bounded time on a copy of the seed corpus (the repository is not
# touched). Exits non-zero on any finding, after printing the crashing
# input's path and a hex dump.
#
#   fuzz/run-fuzz.sh [SECONDS] [extra libFuzzer flags...]
#
# SECONDS defaults to 180. Environment: CC (default clang), FUZZ_WORKDIR
# (keep the build, corpus and artifacts there instead of a temp dir that
# is removed at exit), FUZZ_JOBS (parallel fuzzing processes, default 1),
# FUZZ_SAVE_CORPUS (a directory to copy the grown corpus into),
# FUZZ_CPPFLAGS (added to the build: -DSPOOL_TINY_SEGMENTS cuts the
# memory image into segments of a few bytes, see lib/spool.c),
# FUZZ_SANITIZE (the sanitizers besides libFuzzer's own, default
# address,undefined; "undefined" keeps glibc's malloc, whose layout the
# portable path of undefined mode survives more often: fuzz/README).
# On a finding the work dir is kept and its path printed.
set -eu

secs=${1:-180}
[ $# -gt 0 ] && shift
case $secs in
'' | *[!0-9]*) echo "usage: $0 [SECONDS] [libFuzzer flags...]" >&2; exit 2 ;;
esac

src=$(cd "$(dirname "$0")/.." && pwd)
cc=${CC:-clang}
jobs=${FUZZ_JOBS:-1}
sanitize=${FUZZ_SANITIZE-address,undefined}

if [ -n "${FUZZ_WORKDIR:-}" ]; then
	work=$FUZZ_WORKDIR
	mkdir -p "$work"
else
	work=$(mktemp -d "${TMPDIR:-/tmp}/spool-fuzz.XXXXXX")
	trap 'rm -rf "$work"' EXIT
	trap 'exit 130' INT TERM
fi
mkdir -p "$work/corpus" "$work/artifacts" "$work/tmp"

# The library's sources want the config.h that configure writes; these
# are the macros they use, the glibc FILE fields included, so that the
# glibc seam's internals path (stdio writing in place, the _offset
# workaround, the bigger read buffer, the lock mark) is fuzzed too, with
# configure's default tested range (m4/spool_glibc.m4, --with-tested-glibc). It lives in the work
# dir, so it can never shadow the real one in an autotools build.
cat >"$work/config.h" <<'EOF'
#define _GNU_SOURCE 1
#define _FILE_OFFSET_BITS 64
#define HAVE_SECURE_GETENV 1
#include <features.h>
#ifdef __GLIBC__
#define SPOOL_GLIBC_INTERNALS 1
#define SPOOL_GLIBC_TESTED_MIN 2036
#define SPOOL_GLIBC_TESTED_MAX 2043
#endif
EOF

echo "run-fuzz: building with $cc, -fsanitize=fuzzer${sanitize:+,$sanitize}"
"$cc" -g -O1 -fno-omit-frame-pointer \
	-fsanitize=fuzzer${sanitize:+,$sanitize} -fno-sanitize-recover=all \
	${FUZZ_CPPFLAGS:-} -I"$work" -I"$src/lib" -I"$src/tests" \
	"$src"/lib/*.c "$src/fuzz/fuzz_spool.c" "$src/tests/engine.c" -lpthread \
	-o "$work/fuzz_spool"

cp "$src"/fuzz/corpus/* "$work/corpus/" 2>/dev/null || true

n=$(ls "$work/corpus" | wc -l)
echo "run-fuzz: fuzzing for ${secs}s with $jobs job(s), corpus $n inputs"
status=0
# TMPDIR: the harness and the spools write only in a private directory
# under the work dir, removed with it.
if [ "$jobs" -gt 1 ]; then
	(cd "$work" && TMPDIR="$work/tmp" ./fuzz_spool -max_total_time="$secs" \
		-timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$work/artifacts/" -fork="$jobs" \
		-ignore_crashes=0 "$@" corpus) || status=$?
else
	(cd "$work" && TMPDIR="$work/tmp" ./fuzz_spool -max_total_time="$secs" \
		-timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$work/artifacts/" "$@" corpus) || status=$?
fi

if [ -n "${FUZZ_SAVE_CORPUS:-}" ]; then
	mkdir -p "$FUZZ_SAVE_CORPUS"
	cp "$work"/corpus/* "$FUZZ_SAVE_CORPUS/"
fi

found=0
for f in "$work"/artifacts/*; do
	[ -f "$f" ] || continue
	found=1
	echo "run-fuzz: FINDING: $f ($(wc -c <"$f") bytes)"
	od -A x -t x1z -v "$f"
done
if [ "$status" -ne 0 ] || [ "$found" -ne 0 ]; then
	# Keep the work dir: it holds the inputs and the binary to rerun
	# them (./fuzz_spool INPUT, or fuzz/replay INPUT after make check).
	trap - EXIT
	echo "run-fuzz: FAILED (libFuzzer exit status $status);" \
		"inputs kept in $work/artifacts" >&2
	exit 1
fi
echo "run-fuzz: no findings"
