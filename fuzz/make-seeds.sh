#!/bin/sh
# Write the hand-made seed inputs into fuzz/corpus (or DIR): every mode,
# three thresholds (0, 16, SIZE_MAX), both harness modes (differential
# and limit), each with one script of calls that touches every op kind;
# and that script on a 512 KiB spool rolled over first.
# The byte layout is described at the top of fuzz_spool.c. Run it again
# after changing the layout; fuzzing-found inputs live beside these.
#
#   fuzz/make-seeds.sh [DIR]
set -eu
dir=${1:-$(dirname "$0")/corpus}
mkdir -p "$dir"

# seed NAME HEXBYTE...: write the bytes to DIR/NAME.
seed() {
	name=$1
	shift
	fmt=
	for h in "$@"; do
		fmt="$fmt\\$(printf %03o "0x$h")"
	done
	printf "$fmt" >"$dir/$name"
}

# One op byte is kind | variant << 4; the arguments follow it.
script="
00 1e 34 12
02 78
0e 39 30 05 00 01
06 05
01 0a
05 71
03
04 13
26 fd
00 02 41 42
0b 0c 00
16 64
02 7a
0d
1c
87
09
0f
00 e8 00 00
07
00 d0 00 20 00 00
08
0b f4 01
66 30 00
01 ff ff
12 0a
0c
2e 07 00 09 00 00
"

modes="r r+ w w+ a a+"
i=0
k=0
for m in $modes; do
	for t in 0 16 max; do
		case $t in
		0) th="00 00" ;;
		16) th="10 00" ;;
		max) th="ff ff" ;;
		esac
		# byte 0: mode index, buffering from the seed number.
		b0=$(printf %02x $((i | (k % 4) << 6)))
		extra=
		[ $((k % 4)) -eq 2 ] && extra=04 # _IOFBF, 16 bytes
		k=$((k + 1))
		# data: 20 bytes from the payload (ignored for "w" modes).
		seed "seed-$m-t$t" $b0 $th 14 05 $extra $script
		# limit mode (bit 3): limit 40 bytes.
		b0=$(printf %02x $((0x$b0 | 8)))
		seed "seed-$m-t$t-limit" $b0 $th 14 05 $extra 27 00 $script
	done
	i=$((i + 1))
done
# The threshold boundary, unbuffered so every byte reaches the spool at
# once: a truncate to thr (stays in memory) and back to 0, then thr-1
# bytes, then one more at a time, spool_size after each; then a
# truncate to thr-1 and a snapshot. With initial data of thr (header
# byte e8: in memory) or thr+1 (e9: on disk) for "r+" and "a+".
boundary="cb 08 00 0d 0b 00 00 00 e7 00 00 0d 02 41 0d 02 42 0d cb 07 00 87 0d"
for m in 1 3 5; do
	mname=$(echo $modes | cut -d' ' -f$((m + 1)))
	for th in "10 00" "40 00" "2c 01"; do
		lo=${th% *}
		hi=${th#* }
		base=seed-boundary-$mname-t$((0x$hi$lo))
		b0=$(printf %02x $((m | 1 << 6)))
		seed "$base" $b0 $th 00 00 $boundary
		[ $m -eq 3 ] && continue
		seed "$base-data" $b0 $th e8 00 $boundary
		seed "$base-data1" $b0 $th e9 00 $boundary
	done
done
# A 512 KiB threshold, rolled over first: the reads that follow swap in
# the 64 KiB stdio buffer (lib/spool.c, read_bigger()).
for m in 1 3 5; do
	mname=$(echo $modes | cut -d' ' -f$((m + 1)))
	seed "seed-$mname-t512k-rolled" $(printf %02x $m) 00 fe 14 05 0c $script
done
echo "make-seeds: $(ls "$dir" | grep -c '^seed-') seeds in $dir"
