#!/bin/sh
# SPDX-License-Identifier: MIT
# Every source file, script, build file and man page carries an SPDX
# licence line (MIT, as COPYING says) in its first three lines.
set -u
: "${top_srcdir:=.}"
cd "$top_srcdir" || exit 1
files=$(find lib tests cmd tools fuzz examples bench docs m4 .ci \
	\( -name '*.[ch]' -o -name '*.sh' -o -name '*.[137]' \
	-o -name 'spool_*.m4' -o -name '*.supp' -o -name '*.map' \
	-o -name run \) -type f 2>/dev/null | sort)
files="$files configure.ac Makefile.am autogen.sh libspool.pc.in"
n=0 bad=0
for f in $files; do
	[ -f "$f" ] || continue
	n=$((n + 1))
	if ! head -n 3 "$f" | grep -q 'SPDX-License-Identifier: MIT'; then
		echo "check-spdx: $f has no SPDX-License-Identifier line" >&2
		bad=$((bad + 1))
	fi
done
if [ "$n" -lt 50 ]; then
	echo "check-spdx: only $n files found under $(pwd)" >&2
	exit 1
fi
[ "$bad" -eq 0 ] || exit 1
echo "check-spdx: $n files carry SPDX-License-Identifier: MIT"
