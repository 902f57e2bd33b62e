#!/bin/sh
# SPDX-License-Identifier: MIT
# Run every built example and check its exit status and what it printed.
# Examples that need an optional library are skipped, with the reason,
# when configure did not find it (then they were not built).
set -u
: "${top_srcdir:=.}" "${top_builddir:=.}"
ex="$top_builddir/examples"
checks=0
failures=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/check-examples.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT

pass() { checks=$((checks + 1)); echo "PASS: $1"; }
fail() { checks=$((checks + 1)); failures=$((failures + 1)); echo "FAIL: $1"; }

# run NAME PATTERN... : run the command, which must exit 0 and print a
# line matching each extended regular expression.
run() {
	name=$1
	shift
	"$ex/$name" $args >"$tmp/out" 2>&1
	status=$?
	sed 's/^/    /' "$tmp/out"
	if [ "$status" -ne 0 ]; then
		fail "$name $args: exit status $status"
		return
	fi
	for pattern in "$@"; do
		if ! grep -Eq -- "$pattern" "$tmp/out"; then
			fail "$name $args: no line matching '$pattern'"
			return
		fi
	done
	pass "$name $args"
}

# The report: there are 1229 primes below 10000 and 25 below 100. With a
# 1 KiB threshold the first spills, with 1 MiB it stays in memory.
args="10000 1024"
run report '^report: 1229 primes below 10000, [0-9]+ bytes, spilled' \
	'^read back: 1229 primes, [0-9]+ bytes, all correct$'
args="100 1048576"
run report '^report: 25 primes below 100, [0-9]+ bytes, kept in memory' \
	'^read back: 25 primes, [0-9]+ bytes, all correct$'

if test -x "$ex/with-libpng"; then
	args="64 4096"
	run with-libpng \
		'^with-libpng: wrote a 64x64 RGBA PNG of [0-9]+ bytes, spilled' \
		'; read back: all pixels equal$'
	args="2 1048576"
	run with-libpng \
		'^with-libpng: wrote a 2x2 RGBA PNG of [0-9]+ bytes, kept in' \
		'; read back: all pixels equal$'
else
	echo "SKIP: with-libpng: libpng not found by configure"
fi

if test -x "$ex/with-libxml2"; then
	args="500 4096"
	run with-libxml2 \
		'^with-libxml2: dumped 500 items, [0-9]+ bytes, spilled to disk' \
		'; bytes identical; parsed back from .*: same tree$'
	args="3 1048576"
	run with-libxml2 \
		'^with-libxml2: dumped 3 items, [0-9]+ bytes, kept in memory' \
		'; bytes identical; parsed back from .*: same tree$'
else
	echo "SKIP: with-libxml2: libxml-2.0 not found by configure"
fi

if test -x "$ex/with-zlib"; then
	args="20000 4096"
	run with-zlib '^with-zlib: gzipped [0-9]+ bytes into [0-9]+ bytes ' \
		'\), on disk \(threshold 4096\)' \
		'fread\+inflate: identical; gzdopen: identical$'
else
	echo "SKIP: with-zlib: zlib not found by configure"
fi

# open_memstream() replaced by a spool: byte-identical output, both below
# the 64 KiB threshold (in memory) and far above it (spilled).
for rows in 0 10 100000; do
	name="memstream-before/after $rows rows"
	if ! "$ex/memstream-before" "$rows" >"$tmp/before" ||
	   ! "$ex/memstream-after" "$rows" >"$tmp/after"; then
		fail "$name: a program failed"
		continue
	fi
	# The header must give the body's real length, and the body must
	# hold every row.
	all=$(wc -c <"$tmp/before")
	head=$(sed -n 1p "$tmp/before" | wc -c)
	want=$((all - head - 1))
	if ! cmp "$tmp/before" "$tmp/after"; then
		fail "$name: outputs differ"
	elif [ "$(sed -n 1p "$tmp/after")" != "Content-Length: $want" ]; then
		fail "$name: header is not 'Content-Length: $want'"
	elif [ "$(tail -n +3 "$tmp/after" | wc -l)" -ne $((rows + 1)) ]; then
		fail "$name: body does not have $((rows + 1)) lines"
	else
		pass "$name: identical output, Content-Length: $want"
	fi
done

# send-body: the body that memstream-before builds, sent with
# spool_send() after "Content-Length: N\r\n\r\n". The whole output must
# be exactly that header, with N the body's real length, and that body,
# byte for byte: empty-ish, small and large bodies, in memory (up to
# 256 KiB in one piece; with the SIZE_MAX threshold 2.6 MB in several
# pieces) and on disk (threshold 0 and 64 KiB).
# body ROWS: memstream-before's body for ROWS rows, into $tmp/body.
body() {
	"$ex/memstream-before" "$1" >"$tmp/before" &&
		tail -n +3 "$tmp/before" >"$tmp/body"
}
# send_check NAME WHERE: compare $tmp/sent with the header and $tmp/body,
# and $tmp/err with "from WHERE" (memory or disk).
send_check() {
	size=$(wc -c <"$tmp/body")
	{ printf 'Content-Length: %s\r\n\r\n' "$size"; cat "$tmp/body"; } \
		>"$tmp/want"
	sed 's/^/    /' "$tmp/err"
	if ! cmp "$tmp/want" "$tmp/sent"; then
		fail "$1: output is not the header and the $size-byte body"
	elif ! grep -Eq "^send-body: $size bytes sent from $2;" "$tmp/err"
	then
		fail "$1: stderr does not say '$size bytes sent from $2'"
	else
		pass "$1: Content-Length: $size and the body, sent from $2"
	fi
}
for case in "0 65536 memory" "10 65536 memory" "100000 65536 disk" \
	"10 0 disk" "100000 18446744073709551615 memory"; do
	set -- $case
	name="send-body $1 $2"
	if ! body "$1" ||
	   ! "$ex/send-body" "$1" "$2" >"$tmp/sent" 2>"$tmp/err"; then
		sed 's/^/    /' "$tmp/err"
		fail "$name: a program failed"
		continue
	fi
	send_check "$name" "$3"
done
# -n: standard output non-blocking after the header, and a reader that
# waits a second, so the 64 KiB pipe fills: spool_send() must stop with
# EAGAIN at least once and the example's poll() loop go on from the
# offset it reached, losing and repeating nothing.
name="send-body -n 100000 4096 to a slow non-blocking pipe"
if body 100000 && { "$ex/send-body" -n 100000 4096 2>"$tmp/err"; \
	echo $? >"$tmp/status"; } | { sleep 1; cat; } >"$tmp/sent" &&
   [ "$(cat "$tmp/status")" -eq 0 ]; then
	send_check "$name" disk
	if grep -Eq ' waits: [1-9][0-9]*$' "$tmp/err"; then
		pass "$name: spool_send() stopped with EAGAIN and went on"
	else
		fail "$name: spool_send() never stopped with EAGAIN"
	fi
else
	sed 's/^/    /' "$tmp/err"
	fail "$name: a program failed"
fi

# Memory: 400000 rows make a body of about 11 MB. open_memstream's peak
# RSS must grow by at least 10 MiB (which shows the measurement works).
# memstream-after, the drop-in, ends holding the body in one buffer from
# spool_getvalue(), as open_memstream does: it may grow by the body plus
# 2 MiB (the 64 KiB threshold, stdio buffers), no more. send-body never
# holds the body: it may grow by 2 MiB at most.
maxrss() { # KiB
	/usr/bin/time -f '%M' -o "$tmp/rss" "$@" >/dev/null 2>&1 &&
		tail -n 1 "$tmp/rss"
}
if [ -x /usr/bin/time ]; then
	body 400000
	kib=$(($(wc -c <"$tmp/body") / 1024))
	b0=$(maxrss "$ex/memstream-before" 0) &&
	b1=$(maxrss "$ex/memstream-before" 400000) &&
	a0=$(maxrss "$ex/memstream-after" 0) &&
	a1=$(maxrss "$ex/memstream-after" 400000) &&
	s0=$(maxrss "$ex/send-body" 0) &&
	s1=$(maxrss "$ex/send-body" 400000) || b0=
	name="peak RSS growth for 400000 rows ($kib KiB of body)"
	if [ -z "$b0" ]; then
		fail "$name: could not measure"
	elif [ $((b1 - b0)) -lt 10240 ]; then
		fail "$name: open_memstream grew $((b1 - b0)) KiB: no measure?"
	elif [ $((a1 - a0)) -gt $((kib + 2048)) ]; then
		fail "$name: memstream-after grew $((a1 - a0)) KiB, over the body + 2 MiB"
	elif [ $((s1 - s0)) -gt 2048 ]; then
		fail "$name: send-body grew $((s1 - s0)) KiB, over 2 MiB"
	else
		pass "$name: open_memstream $((b1 - b0)) KiB, memstream-after (spool_getvalue) $((a1 - a0)) KiB, send-body (spool_send) $((s1 - s0)) KiB"
	fi
else
	echo "SKIP: peak RSS: /usr/bin/time not installed"
fi

pct=$(( (checks - failures) * 100 / (checks ? checks : 1) ))
echo "$pct%: Checks: $checks, Failures: $failures, Errors: 0"
[ "$failures" -eq 0 ]
