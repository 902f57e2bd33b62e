#!/bin/sh
# SPDX-License-Identifier: MIT
# The glibc seam is the only file of lib/ that touches glibc's private
# FILE: no other file may name one of its fields (fp->_IO_buf_base,
# ->_flags, ->_offset, ...) or its private flag values (_IO_USER_BUF,
# _IO_FLAGS2_*, the 0xFBAD magic). Fails, naming file and line, when one
# does; the seam itself must still name them (or this check checks
# nothing).
set -u
lib=${top_srcdir:-$(dirname "$0")/..}/lib
seam=stdio-glibc.c
fields='->_(IO_[a-z_]+|flags2?|offset|old_offset|mode|markers|chain|fileno|lock|cur_column|vtable_offset|shortbuf|codecvt|wide_data|freeres_[a-z]+|unused2|short_backupbuf|total_written)\b'
private='\b_IO_(USER_BUF|UNBUFFERED|IN_BACKUP|LINE_BUF|NO_READS|NO_WRITES|EOF_SEEN|ERR_SEEN|DELETE_DONT_CLOSE|LINKED|IS_APPENDING|CURRENTLY_PUTTING|TIED_PUT_GET|IS_FILEBUF|USER_LOCK|MAGIC|MAGIC_MASK|FLAGS2_[A-Z_]+|pos_BAD)\b|0[xX][fF][bB][aA][dD]'
status=0
for f in "$lib"/*.c "$lib"/*.h; do
	[ "$(basename "$f")" = "$seam" ] && continue
	# Code lines only: a comment may name what it explains.
	if grep -nE -e "$fields|$private" "$f" |
		grep -vE '^[0-9]+:[[:space:]]*(/\*|\*)' >"${TMPDIR:-/tmp}/seam.$$"; then
		sed "s|^|check-seam: $(basename "$f"):|" "${TMPDIR:-/tmp}/seam.$$"
		status=1
	fi
done
rm -f "${TMPDIR:-/tmp}/seam.$$"
if ! grep -qE -e "$fields" "$lib/$seam" ||
	! grep -qE -e "$private" "$lib/$seam"; then
	echo "check-seam: $seam names no FILE field: is the pattern stale?"
	status=1
fi
[ "$status" -eq 0 ] && echo "check-seam: only $seam touches glibc's FILE"
exit "$status"
