#!/bin/sh
# SPDX-License-Identifier: MIT
# The spool command (cmd/spool), side by side with moreutils sponge(1):
# the same inputs must give the same bytes and the same file modes. Then
# what spool promises on its own: bounded memory, FILE untouched when
# input or spilling fails, nothing left behind, usage and exit codes.
# Without sponge the comparisons are skipped (with a message) and the
# rest still runs. Exit: 0 pass, 1 fail.
set -u
: "${top_srcdir:=.}" "${top_builddir:=.}"

if [ ! -x "$top_builddir/cmd/spool" ]; then
	echo "check-spool-cmd: $top_builddir/cmd/spool is not built" >&2
	exit 1
fi
SPOOL=$(cd "$top_builddir/cmd" && pwd)/spool
version=$(sed -n 's/^#define SPOOL_VERSION "\(.*\)"$/\1/p' \
	"$top_srcdir/lib/spool.h")

tmp=$(mktemp -d "${TMPDIR:-/tmp}/check-spool-cmd.XXXXXX") || exit 1
shm=
cleanup() {
	[ -n "$shm" ] && rm -rf "$shm"
	chattr -i "$tmp/ro" 2>/dev/null
	chmod -R u+w "$tmp" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

# Each program spills into its own private directory, checked at the end.
mkdir "$tmp/spill" "$tmp/sponge-spill" "$tmp/data"
TMPDIR=$tmp/spill
export TMPDIR
LC_ALL=C
export LC_ALL

pass=0 fail=0 skipped=0
# check DESCRIPTION COMMAND...: one PASS or FAIL line. (Shell functions
# share variables: this one uses only its arguments.)
check() {
	if (shift && "$@"); then
		pass=$((pass + 1))
		echo "PASS: $1"
	else
		fail=$((fail + 1))
		echo "FAIL: $1"
	fi
}
skip() {
	skipped=$((skipped + 1))
	echo "SKIP: $*"
}

have_sponge=no
if command -v sponge >/dev/null 2>&1; then
	have_sponge=yes
else
	echo "SKIP: sponge (moreutils) not installed: the side-by-side" \
		"comparisons are skipped; spool's own checks still run"
fi
sponge_run() {
	TMPDIR=$tmp/sponge-spill sponge "$@"
}

mode() { stat -c %a "$1"; }
entries() { ls -A "$1" | wc -l; }
# Everything that "untouched" means: same inode, mode, size, mtime, bytes.
snapshot() { stat -c '%i %a %s %Y' "$1" && cksum <"$1"; }
first_line_is() { head -n 1 "$1" | grep -q "$2"; }
mode_for_umask() { printf '%o' $((0666 & ~0$1)); }

# Inputs: empty, small text, binary with NUL bytes, 5 MiB of random bytes.
D=$tmp/data
: >"$D/empty"
printf 'pear\napple\nfig\n' >"$D/small"
{ printf 'a\000b\000\000c\377\n\000'; head -c 70000 /dev/urandom; } >"$D/nul"
head -c 5242880 /dev/urandom >"$D/big5"
awk 'BEGIN { for (i = 0; i < 20000; i++) print (i * 7919) % 20011, "x" i }' \
	>"$D/lines"

# ---------------------------------------------------------------------
# Side by side: vs_sponge DESC INPUT UMASK SETUP [SPOOL_OPTIONS...]
# (Input redirections stay inside the subshells: dash 0.5.12 can drop
# those of a subshell inside a redirected group.)
# SETUP "new": FILE does not exist; an octal mode: FILE exists with
# other contents and that mode. The oracle is the input itself and the
# mode open(2)/chmod would give; sponge must agree with spool.
vs_sponge() {
	desc=$1 input=$2 um=$3 setup=$4
	shift 4
	d=$tmp/cmp
	rm -rf "$d"
	mkdir "$d" "$d/a" "$d/b"
	if [ "$setup" = new ]; then
		want=$(mode_for_umask "$um")
	else
		for f in "$d/a/f" "$d/b/f"; do
			printf 'old contents\n' >"$f"
			chmod "$setup" "$f"
		done
		want=$setup
	fi
	(umask "$um" && exec "$SPOOL" "$@" "$d/a/f" <"$input")
	check "$desc: spool exits 0" test $? -eq 0
	check "$desc: FILE holds the input" cmp -s "$d/a/f" "$input"
	check "$desc: mode is $want" test "$(mode "$d/a/f")" = "$want"
	check "$desc: nothing else in FILE's directory" \
		test "$(entries "$d/a")" -eq 1
	[ "$have_sponge" = yes ] || return 0
	(umask "$um" && TMPDIR=$tmp/sponge-spill exec sponge "$d/b/f" <"$input")
	check "$desc: sponge exits 0 too" test $? -eq 0
	check "$desc: same bytes as sponge" cmp -s "$d/a/f" "$d/b/f"
	check "$desc: same mode as sponge" \
		test "$(mode "$d/a/f")" = "$(mode "$d/b/f")"
}

vs_sponge "empty input, new FILE, umask 022" "$D/empty" 022 new
vs_sponge "text, new FILE, umask 077" "$D/small" 077 new
vs_sponge "text, FILE mode 0640" "$D/small" 022 640
vs_sponge "binary with NULs, FILE mode 0604" "$D/nul" 022 604
vs_sponge "5 MiB, -m 64K (spilled), FILE 0640, umask 027" \
	"$D/big5" 027 640 -m 64K
vs_sponge "binary, -m 0 (all on disk), FILE 0755" "$D/nul" 022 755 -m 0
vs_sponge "5 MiB, -m 64K (spilled), new FILE, umask 077" \
	"$D/big5" 077 new -m 64K

# In-place rewrites: `cmd f | spool f` and `cmd < f | spool f`. The oracle
# is the command's output computed into another file beforehand.
inplace() {
	desc=$1 cmd=$2
	shift 2
	d=$tmp/inplace
	rm -rf "$d"
	mkdir "$d"
	cp "$D/lines" "$d/a"
	cp "$D/lines" "$d/b"
	sh -c "$cmd" <"$D/lines" >"$d/want"
	sh -c "$cmd | \"\$0\" \"\$@\"" "$SPOOL" "$@" "$d/a" <"$d/a"
	check "$desc: spool exits 0" test $? -eq 0
	check "$desc: FILE holds the command's output" cmp -s "$d/a" "$d/want"
	[ "$have_sponge" = yes ] || return 0
	sh -c "$cmd | TMPDIR=\$1 sponge \"\$0\"" "$d/b" "$tmp/sponge-spill" \
		<"$d/b"
	check "$desc: same bytes as sponge" cmp -s "$d/a" "$d/b"
}
inplace "sort f | spool -m 16K f" "sort" -m 16K
inplace "tr < f | spool f" "tr a-z A-Z"
# The literal form, f named on sort's command line:
d=$tmp/inplace2
mkdir "$d"
cp "$D/lines" "$d/f"
sort "$D/lines" >"$d/want"
sort "$d/f" | "$SPOOL" "$d/f"
check "sort f | spool f: FILE sorted in place" cmp -s "$d/f" "$d/want"

# -a: old contents kept, input appended (sponge -a); a new FILE is created
# with 0666 & ~umask.
append_case() {
	desc=$1 input=$2 um=$3 setup=$4
	shift 4
	d=$tmp/append
	rm -rf "$d"
	mkdir "$d" "$d/a" "$d/b"
	: >"$d/want"
	if [ "$setup" = new ]; then
		want=$(mode_for_umask "$um")
	else
		for f in "$d/a/f" "$d/b/f" "$d/want"; do
			printf 'old line 1\nold line 2\n' >"$f"
		done
		chmod "$setup" "$d/a/f" "$d/b/f"
		want=$setup
	fi
	cat "$input" >>"$d/want"
	(umask "$um" && exec "$SPOOL" -a "$@" "$d/a/f" <"$input")
	check "$desc: spool -a exits 0" test $? -eq 0
	check "$desc: old contents, then the input" cmp -s "$d/a/f" "$d/want"
	check "$desc: mode is $want" test "$(mode "$d/a/f")" = "$want"
	[ "$have_sponge" = yes ] || return 0
	(umask "$um" && TMPDIR=$tmp/sponge-spill exec sponge -a "$d/b/f" \
		<"$input")
	check "$desc: same bytes as sponge -a" cmp -s "$d/a/f" "$d/b/f"
	check "$desc: same mode as sponge -a" \
		test "$(mode "$d/a/f")" = "$(mode "$d/b/f")"
}
append_case "-a text to FILE 0640" "$D/small" 022 640
append_case "-a to a new FILE, umask 077" "$D/small" 077 new
append_case "-a 5 MiB with -m 64K" "$D/big5" 022 600 -m 64K

# No FILE: standard output.
to_stdout() {
	desc=$1 input=$2
	shift 2
	"$SPOOL" "$@" <"$input" >"$tmp/out"
	check "$desc: exit 0" test $? -eq 0
	check "$desc: output is the input" cmp -s "$tmp/out" "$input"
	[ "$have_sponge" = yes ] || return 0
	sponge_run <"$input" >"$tmp/out.sponge"
	check "$desc: same bytes as sponge" cmp -s "$tmp/out" "$tmp/out.sponge"
}
to_stdout "stdout, empty" "$D/empty"
to_stdout "stdout, binary" "$D/nul"
to_stdout "stdout, 5 MiB with -m 64K" "$D/big5" -m 64K

# Standard output goes through spool_send(): the kernel copies from the
# spill file (sendfile or copy_file_range) or one writev() from memory.
# Byte-exact to a pipe, and to a file at the descriptor's own position
# (after what the shell wrote before).
"$SPOOL" -m 64K <"$D/big5" | cat >"$tmp/out"
check "stdout, spilled 5 MiB into a pipe: byte-exact" cmp -s "$tmp/out" "$D/big5"
{ printf 'head\n' && "$SPOOL" -m 64K <"$D/big5"; } >"$tmp/out"
{ printf 'head\n' && cat "$D/big5"; } >"$tmp/want"
check "stdout, spilled 5 MiB into a file at its offset: byte-exact" \
	cmp -s "$tmp/out" "$tmp/want"
# A non-blocking pipe whose reader is slow: spool waits (EAGAIN, poll)
# instead of failing.
if command -v python3 >/dev/null 2>&1; then
	python3 -c '
import fcntl, os, subprocess, sys, time
r, w = os.pipe()
fcntl.fcntl(w, fcntl.F_SETFL, fcntl.fcntl(w, fcntl.F_GETFL) | os.O_NONBLOCK)
with open(sys.argv[2], "rb") as i:
    p = subprocess.Popen(sys.argv[3:], stdin=i, stdout=w)
os.close(w)
with open(sys.argv[1], "wb") as o:
    time.sleep(0.3)
    while True:
        b = os.read(r, 65536)
        if not b:
            break
        o.write(b)
        time.sleep(0.001)
sys.exit(p.wait())' "$tmp/out" "$D/big5" "$SPOOL" -m 64K
	check "stdout, non-blocking slow pipe: exit 0" test $? -eq 0
	check "stdout, non-blocking slow pipe: byte-exact" \
		cmp -s "$tmp/out" "$D/big5"
else
	skip "stdout, non-blocking pipe: python3 not installed"
fi

# A symlink is written through and kept; the target keeps its inode and
# mode.
symlink_case() {
	prog=$1
	shift
	d=$tmp/link-$prog
	mkdir "$d"
	printf 'old\n' >"$d/target"
	chmod 640 "$d/target"
	ln -s target "$d/link"
	inode=$(stat -c %i "$d/target")
	"$@" "$d/link" <"$D/small"
	check "symlink ($prog): exit 0" test $? -eq 0
	check "symlink ($prog): link kept" test -L "$d/link"
	check "symlink ($prog): target holds the input" \
		cmp -s "$d/target" "$D/small"
	check "symlink ($prog): target keeps inode and mode 640" \
		test "$(stat -c '%i %a' "$d/target")" = "$inode 640"
}
symlink_case spool "$SPOOL"
if [ "$have_sponge" = yes ]; then
	symlink_case sponge sponge_run
else
	skip "symlink (sponge): sponge not installed"
fi

# ---------------------------------------------------------------------
# spool only.

# Atomic replacement: a reader that opened FILE before still sees the
# old contents in full; FILE is a new inode with the new contents.
d=$tmp/atomic
mkdir "$d"
cp "$D/lines" "$d/f"
inode=$(stat -c %i "$d/f")
{ "$SPOOL" "$d/f" <"$D/small" && cat <&3 >"$d/seen"; } 3<"$d/f"
check "atomic: an open reader still reads the old contents" \
	cmp -s "$d/seen" "$D/lines"
check "atomic: FILE has the new contents" cmp -s "$d/f" "$D/small"
check "atomic: FILE is a new inode (renamed over)" \
	test "$(stat -c %i "$d/f")" != "$inode"

# The owner is kept when allowed (root): input copied from memory, and
# input that spilled (its temp file is linked in, see below).
if [ "$(id -u)" -eq 0 ]; then
	for m in 8M 64K; do
		cp "$D/small" "$d/owned"
		chown 4321:4322 "$d/owned"
		chmod 2750 "$d/owned"
		"$SPOOL" -m $m "$d/owned" <"$D/big5"
		check "owner, -m $m: root keeps uid:gid and set-gid mode" \
			test "$(stat -c '%u:%g %a' "$d/owned")" = "4321:4322 2750"
		check "owner, -m $m: contents" cmp -s "$d/owned" "$D/big5"
	done
else
	skip "owner: needs root to give a file away"
fi

# Input that spilled is not copied again when its temp file is on FILE's
# file system: spool_persist() links the temp file itself in beside FILE
# and it is renamed over it, with no byte copied (seen with strace when
# available). Input in memory is sent (writev) into a nameless O_TMPFILE
# file beside FILE, named only once complete. With the temp file on
# another file system (-d on a tmpfs), it is copied.
if command -v strace >/dev/null 2>&1 &&
	strace -f -o /dev/null true 2>/dev/null; then
	strace -f -e trace=linkat,copy_file_range,sendfile,splice \
		-o "$tmp/trace" "$SPOOL" -m 64K "$d/f" <"$D/big5" 2>/dev/null
	check "spilled, same file system: temp file linked in (strace)" \
		grep -q 'linkat(.*) = 0' "$tmp/trace"
	check "spilled, same file system: no byte copied (strace)" \
		eval '! grep -Eq "copy_file_range|sendfile|splice" "$tmp/trace"'
	check "spilled, same file system: contents" cmp -s "$d/f" "$D/big5"
	strace -f -e trace=openat,writev -o "$tmp/trace" \
		"$SPOOL" -m 8M "$d/f" <"$D/big5" 2>/dev/null
	check "in memory: sent into an O_TMPFILE file (strace)" \
		eval 'grep -q "O_TMPFILE.* = [0-9]" "$tmp/trace" &&
		grep -q "^[0-9]* *writev(" "$tmp/trace"'
	check "in memory: contents" cmp -s "$d/f" "$D/big5"
else
	skip "link-in check: strace missing or not permitted"
fi
if [ -d /dev/shm ] && [ -w /dev/shm ] &&
	[ "$(stat -c %d /dev/shm)" != "$(stat -c %d "$tmp")" ]; then
	shm=$(mktemp -d /dev/shm/check-spool-cmd.XXXXXX) || shm=
fi
if [ -n "$shm" ]; then
	chmod 604 "$d/f"
	"$SPOOL" -m 64K -d "$shm" "$d/f" <"$D/nul"
	check "spilled to another file system: exit 0" test $? -eq 0
	check "spilled to another file system: contents" \
		cmp -s "$d/f" "$D/nul"
	check "spilled to another file system: mode kept" \
		test "$(mode "$d/f")" = 604
	check "spilled to another file system: -d DIR empty" \
		test "$(entries "$shm")" -eq 0
	rmdir "$shm" && shm=
else
	skip "spill to another file system: no separate writable /dev/shm"
fi
check "atomic and link-in runs: nothing else beside FILE" \
	test "$(ls -A "$d" | grep -c '^\.spool-')" -eq 0

# FIFO target: written to, still a FIFO afterwards.
d=$tmp/fifo
mkdir "$d"
if mkfifo "$d/p" 2>/dev/null; then
	# Bounded, so that a spool that never opens the FIFO fails the
	# check instead of hanging the test.
	if command -v timeout >/dev/null 2>&1; then
		timeout 20 cat "$d/p" >"$d/got" &
	else
		cat "$d/p" >"$d/got" &
	fi
	reader=$!
	"$SPOOL" "$d/p" <"$D/nul"
	rc=$?
	wait "$reader"
	check "FIFO: exit 0" test $rc -eq 0
	check "FIFO: the reader got the input" cmp -s "$d/got" "$D/nul"
	check "FIFO: still a FIFO" test -p "$d/p"
else
	skip "FIFO: mkfifo failed"
fi

# A directory that refuses new entries: fall back to writing in place.
d=$tmp/ro
mkdir "$d"
printf 'old\n' >"$d/f"
chmod 640 "$d/f"
inode=$(stat -c %i "$d/f")
locked=no
if [ "$(id -u)" -eq 0 ]; then
	chattr +i "$d" 2>/dev/null && locked="chattr +i"
else
	chmod 555 "$d" && locked="chmod 555"
fi
if [ "$locked" != no ]; then
	"$SPOOL" "$d/f" <"$D/nul"
	check "locked dir ($locked): exit 0" test $? -eq 0
	check "locked dir: FILE holds the input" cmp -s "$d/f" "$D/nul"
	check "locked dir: written in place (same inode, mode 640)" \
		test "$(stat -c '%i %a' "$d/f")" = "$inode 640"
	check "locked dir: nothing else in it" test "$(entries "$d")" -eq 1
	chattr -i "$d" 2>/dev/null
	chmod 755 "$d"
else
	skip "locked dir: cannot make a directory refuse entries here"
fi

# Failures: FILE is left exactly as it was, nothing is left behind.
d=$tmp/fail
mkdir "$d"
cp "$D/lines" "$d/f"
chmod 640 "$d/f"
before=$(snapshot "$d/f")
untouched() { test "$(snapshot "$d/f")" = "$before"; }

"$SPOOL" "$d/f" </ 2>"$tmp/err"
check "read error (stdin a directory): exit 1" test $? -eq 1
check "read error: message names standard input" \
	first_line_is "$tmp/err" '^spool: standard input: '
check "read error: FILE untouched" untouched
if [ "$have_sponge" = yes ]; then
	sponge_run "$d/f" </ 2>/dev/null
	check "read error: sponge fails too" test $? -ne 0
fi

"$SPOOL" -m 1K -d "$tmp/missing" "$d/f" <"$D/nul" 2>"$tmp/err"
check "spill fails midway (-d missing): exit 1" test $? -eq 1
check "spill fails midway: message names the directory" \
	first_line_is "$tmp/err" "^spool: temporary file in $tmp/missing: "
check "spill fails midway: FILE untouched" untouched

# The threshold is exact: 1024 bytes with -m 1k stay in memory (so the
# missing directory is never needed), 1025 bytes must spill and fail.
head -c 1024 "$D/big5" >"$tmp/1024"
head -c 1025 "$D/big5" >"$tmp/1025"
"$SPOOL" -m 1k -d "$tmp/missing" <"$tmp/1024" >"$tmp/out"
check "-m 1k: 1024 bytes stay in memory" test $? -eq 0
check "-m 1k: 1024 bytes written" cmp -s "$tmp/out" "$tmp/1024"
"$SPOOL" -m 1k -d "$tmp/missing" <"$tmp/1025" >"$tmp/out" 2>/dev/null
check "-m 1k: 1025 bytes spill (and fail here)" test $? -eq 1
check "-m 1k: nothing written after the failure" test ! -s "$tmp/out"

# Writing the replacement fails (file size limit): with SIGXFSZ ignored
# the error path runs, else the signal kills spool; FILE untouched and
# no temp file left either way.
(ulimit -f 8 && trap '' XFSZ && exec "$SPOOL" "$d/f" <"$D/big5" \
	2>"$tmp/err")
check "write error (EFBIG): exit 1" test $? -eq 1
check "write error: message names FILE" \
	first_line_is "$tmp/err" "^spool: $d/f: "
check "write error: FILE untouched" untouched
check "write error: no temp file left" test "$(entries "$d")" -eq 1
# (A child sh, not a subshell: then neither dash nor bash prints a note
# on the signal.)
sh -c 'ulimit -f 8; "$0" "$1" <"$2"' "$SPOOL" "$d/f" "$D/big5" 2>/dev/null
check "killed by SIGXFSZ: not a success" test $? -ne 0
check "killed by SIGXFSZ: FILE untouched" untouched
check "killed by SIGXFSZ: temp file removed" test "$(entries "$d")" -eq 1

# Unwritable targets.
"$SPOOL" "$d/nodir/f" <"$D/small" 2>"$tmp/err"
check "missing directory: exit 1" test $? -eq 1
check "missing directory: message names FILE" \
	first_line_is "$tmp/err" "^spool: $d/nodir/f: "
mkdir "$d/adir"
"$SPOOL" "$d/adir" <"$D/small" 2>"$tmp/err"
check "FILE is a directory: exit 1" test $? -eq 1
check "FILE is a directory: message names it" \
	first_line_is "$tmp/err" "^spool: $d/adir: "
check "FILE is a directory: still empty" test "$(entries "$d/adir")" -eq 0
check "failures: nothing left beside FILE" test "$(entries "$d")" -eq 2

# SIGKILL cannot be caught, so nothing may have a name that spool would
# have to remove: the new contents are written into a nameless
# (O_TMPFILE) file, and a new FILE is linked in only once complete.
# strace kills spool on entry to the call that would give the file its
# first name, or while it writes. (Between that name and the rename over
# an existing FILE a window remains: spool(1) BUGS.)
kill_at() { # kill_at DESC SYSCALL SPOOL_ARGS...
	desc=$1 call=$2
	shift 2
	# (A DESC starting with "new": FILE does not exist yet.)
	rm -rf "$tmp/kill"
	mkdir "$tmp/kill"
	if [ "${desc#new}" = "$desc" ]; then
		cp "$D/lines" "$tmp/kill/f"
		chmod 640 "$tmp/kill/f"
	fi
	before=$(snapshot "$tmp/kill/f" 2>/dev/null)
	# (In a child sh, so that the shell prints no note on the signal.)
	sh -c '"$@" 2>/dev/null; exit $?' sh strace -f -o /dev/null \
		-e trace="$call" -e inject="$call":signal=KILL \
		"$SPOOL" "$@" "$tmp/kill/f" <"$D/big5"
	check "SIGKILL at $call ($desc): spool died" test $? -ne 0
	check "SIGKILL at $call ($desc): FILE as it was" \
		test "$(snapshot "$tmp/kill/f" 2>/dev/null)" = "$before"
	check "SIGKILL at $call ($desc): nothing left beside FILE" \
		test "$(ls -A "$tmp/kill" | grep -c '^\.spool-')" -eq 0
}
if command -v strace >/dev/null 2>&1 &&
	strace -f -o /dev/null -e inject=getpid:signal=KILL true 2>/dev/null
then
	kill_at "new FILE, in memory" linkat
	kill_at "new FILE, spilled" linkat -m 64K
	kill_at "from memory" writev
	kill_at "from memory" linkat
	kill_at "spilled, linked in" linkat -m 64K
	check "SIGKILL runs: spool's TMPDIR empty" \
		test "$(entries "$tmp/spill")" -eq 0
else
	skip "SIGKILL: strace missing or cannot inject signals"
fi

# -d: the spill file is nameless; the directory stays empty.
mkdir "$tmp/spilldir"
"$SPOOL" -m 64K -d "$tmp/spilldir" <"$D/big5" >"$tmp/out"
check "-d DIR: output is the input" cmp -s "$tmp/out" "$D/big5"
check "-d DIR: DIR empty afterwards" test "$(entries "$tmp/spilldir")" -eq 0

# Usage: --help, --version, exit codes, sizes.
"$SPOOL" --help >"$tmp/out" 2>"$tmp/err"
check "--help: exit 0" test $? -eq 0
check "--help: usage on stdout, nothing on stderr" \
	eval 'first_line_is "$tmp/out" "^Usage: spool " && test ! -s "$tmp/err"'
"$SPOOL" -h >"$tmp/out2"
check "-h: same as --help" cmp -s "$tmp/out" "$tmp/out2"
"$SPOOL" --version >"$tmp/out"
check "--version: exit 0" test $? -eq 0
check "--version: prints 'spool (libspool) $version'" \
	test "$(cat "$tmp/out")" = "spool (libspool) $version"

usage_error() {
	desc=$1
	shift
	rm -f "$tmp/u"
	"$SPOOL" "$@" <"$D/small" >"$tmp/out" 2>"$tmp/err"
	check "$desc: exit 2" test $? -eq 2
	check "$desc: 'spool: ' message, no output, FILE not created" eval \
		'first_line_is "$tmp/err" "^spool: " && test ! -s "$tmp/out" &&
		test ! -e "$tmp/u"'
}
usage_error "bad option -x" -x "$tmp/u"
usage_error "bad option --nope" --nope "$tmp/u"
usage_error "-m without argument" "$tmp/u" -m
usage_error "-m 12Q" -m 12Q "$tmp/u"
usage_error "-m ''" -m '' "$tmp/u"
usage_error "-m -1" -m -1 "$tmp/u"
usage_error "-m 1.5M" -m 1.5M "$tmp/u"
usage_error "-m 1MB" -m 1MB "$tmp/u"
usage_error "-m past SIZE_MAX" -m 17179869184G "$tmp/u"
usage_error "two FILEs" "$tmp/u" "$tmp/u2"

for m in 0 4096 4k 4K 2M 1G; do
	"$SPOOL" -m "$m" <"$D/nul" >"$tmp/out"
	check "-m $m: exit 0" test $? -eq 0
	check "-m $m: output intact" cmp -s "$tmp/out" "$D/nul"
done

# ---------------------------------------------------------------------
# A nearly full file system (a private 1 MiB tmpfs, from unshare -rm):
# with no room for a second copy beside FILE, spool rewrites FILE in
# place when its own blocks hold the new contents (a regular file with
# one link and no hole before the new size); otherwise it refuses and
# FILE is untouched, even where (unlike here) emptying FILE would free
# room enough: a rewrite must not be able to fail half-way.
# The inner shell prints "DESCRIPTION<TAB>0" for what holds, "...<TAB>1"
# for what does not; the checks are counted out here.
full_fs() {
	mnt=$tmp/fullfs
	mkdir -p "$mnt"
	head -c 614400 "$D/big5" >"$D/k600"
	tail -c 1048576 "$D/big5" | head -c 512000 >"$D/k500"
	head -c 716800 /dev/urandom >"$D/k700"
	head -c 307200 /dev/urandom >"$D/k300"
	unshare -rm sh -c '
	set -u
	mnt=$1 SPOOL=$2 D=$3
	mount -t tmpfs -o size=1M tmpfs "$mnt" || exit 77
	say() { printf "%s\t%s\n" "$1" "$2"; }
	ino() { stat -c "%i %a %h" "$1"; }
	sum() { stat -c "%i %a %s %Y" "$1" && cksum <"$1"; }
	others() { ls -A "$mnt" | grep -vc "^t$\|^t2$"; }
	setup() { rm -f "$mnt/t" "$mnt/t2"; cp "$D/k600" "$mnt/t";
		chmod 604 "$mnt/t"; }
	# refused DESC INPUT: exit 1 for lack of room, FILE untouched.
	refused() {
		before=$(sum "$mnt/t")
		"$SPOOL" "$mnt/t" <"$2" 2>"$mnt/../fullfs.err"
		test $? -eq 1
		say "$1: refused (exit 1)" $?
		grep -q "^spool: $mnt/t: No space left on device" \
			"$mnt/../fullfs.err"
		say "$1: the message says no space" $?
		test "$(sum "$mnt/t")" = "$before"
		say "$1: FILE untouched" $?
		test "$(others)" -eq 0
		say "$1: nothing left beside FILE" $?
	}

	setup
	before=$(ino "$mnt/t")
	"$SPOOL" "$mnt/t" <"$D/k500" 2>/dev/null
	say "600K FILE, 500K input, no room for a copy: exit 0" $?
	cmp -s "$mnt/t" "$D/k500"
	say "500K input: FILE holds it" $?
	test "$(ino "$mnt/t")" = "$before"
	say "500K input: rewritten in place (same inode, mode 604)" $?
	test "$(others)" -eq 0
	say "500K input: nothing else on the file system" $?

	setup
	refused "700K input, past the blocks FILE has" "$D/k700"
	setup
	ln "$mnt/t" "$mnt/t2"
	refused "500K input, FILE has two links" "$D/k500"
	rm -f "$mnt/t2" "$mnt/t"
	dd if="$D/k600" of="$mnt/t" bs=1024 seek=100 2>/dev/null
	refused "500K input, FILE with a hole before 500K" "$D/k500"

	setup
	before=$(ino "$mnt/t")
	"$SPOOL" "$mnt/t" <"$D/k300" 2>/dev/null
	say "300K input, room for a copy: exit 0" $?
	cmp -s "$mnt/t" "$D/k300" && test "$(ino "$mnt/t")" != "$before"
	say "300K input: replaced atomically (new inode)" $?
	' sh "$mnt" "$SPOOL" "$D" >"$tmp/fullfs.out"
}
if ! command -v unshare >/dev/null 2>&1; then
	skip "full file system: unshare missing"
else
	full_fs
	rc=$?
	if [ $rc -eq 0 ] && [ -s "$tmp/fullfs.out" ]; then
		tab=$(printf '\t')
		while IFS=$tab read -r desc ok; do
			check "full fs: $desc" test "$ok" = 0
		done <"$tmp/fullfs.out"
	else
		skip "full file system: no private tmpfs here (unshare -rm," \
			"mount: status $rc)"
	fi
	rm -f "$D/k300" "$D/k500" "$D/k600" "$D/k700"
fi

# ---------------------------------------------------------------------
# Peak memory: 64 MiB through -m 4M must cost no more than a run with a
# few bytes plus the threshold and a small constant (8 MiB for stdio and
# libc), and no more than a run whose input just fills the threshold:
# memory does not grow with the input. Through -m 256M the same input is
# held in memory, which shows that -m 4M really spilled. Peak RSS comes
# from wait4(2) via GNU time, else python3's getrusage(RUSAGE_CHILDREN);
# it includes the libtool wrapper shell, hence the tiny-input baseline
# and a threshold (4 MiB) well above a shell's own size.
peak_kib() { # peak_kib INPUT OUTPUT SPOOL_OPTIONS...
	in=$1 out=$2
	shift 2
	if [ -x /usr/bin/time ]; then
		/usr/bin/time -f %M -o "$tmp/rss" "$SPOOL" "$@" <"$in" >"$out" ||
			return 1
		tail -n 1 "$tmp/rss"
	else
		python3 -c '
import resource, subprocess, sys
with open(sys.argv[1], "rb") as i, open(sys.argv[2], "wb") as o:
    rc = subprocess.call(sys.argv[3:], stdin=i, stdout=o)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(rc)' "$in" "$out" "$SPOOL" "$@"
	fi
}
if grep -q '^SAN_CFLAGS = .*-fsanitize' "$top_builddir/Makefile" 2>/dev/null
then
	skip "peak memory: sanitizer build, RSS is not the program's"
elif [ ! -x /usr/bin/time ] && ! command -v python3 >/dev/null 2>&1; then
	skip "peak memory: neither /usr/bin/time nor python3 installed"
else
	head -c 67108864 /dev/zero | tr '\0' 'z' >"$D/big64"
	head -c 4194304 "$D/big64" >"$D/full4"
	base=$(peak_kib "$D/small" /dev/null -m 4M)
	full=$(peak_kib "$D/full4" /dev/null -m 4M)
	big=$(peak_kib "$D/big64" "$tmp/out64" -m 4M)
	check "64 MiB with -m 4M: output intact" cmp -s "$tmp/out64" "$D/big64"
	rm -f "$tmp/out64"
	large=$(peak_kib "$D/big64" /dev/null -m 256M)
	echo "peak RSS (KiB): tiny input $base, 4 MiB -m 4M $full," \
		"64 MiB -m 4M $big, 64 MiB -m 256M $large"
	check "4 MiB with -m 4M: the measurement sees the buffer" \
		test "$full" -ge $((base + 1024))
	check "64 MiB with -m 4M: peak RSS <= baseline + 4 MiB + 8 MiB" \
		test "$big" -le $((base + 4096 + 8192))
	check "64 MiB with -m 4M: peak RSS <= 4 MiB input's + 2 MiB" \
		test "$big" -le $((full + 2048))
	check "64 MiB with -m 256M: peak RSS >= baseline + 48 MiB (in memory)" \
		test "$large" -ge $((base + 49152))
	rm -f "$D/big64" "$D/full4"
fi

# Nothing left in either spill directory.
check "spool's TMPDIR is empty at the end" test "$(entries "$tmp/spill")" -eq 0
if [ "$have_sponge" = yes ]; then
	check "sponge's TMPDIR is empty at the end" \
		test "$(entries "$tmp/sponge-spill")" -eq 0
fi

echo "check-spool-cmd: $pass passed, $fail failed, $skipped skipped"
# The same closing line as a Check binary, for tools/test-summary.sh.
echo "$((pass * 100 / (pass + fail)))%: Checks: $((pass + fail))," \
	"Failures: $fail, Errors: 0"
[ "$fail" -eq 0 ]
