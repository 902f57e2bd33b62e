/* SPDX-License-Identifier: MIT */
/*
 * mode.c - the mode string: which modes a spool accepts, and what each
 * letter means for a stream whose file is anonymous and new.
 *
 * The rule is the running glibc's fopen() (libio/fileops.c,
 * _IO_new_file_fopen), so that code written for fopen() opens a spool
 * with the same string: the first character is r, w or a; of the next
 * six at most, '+' makes the stream read-write and every other character
 * is accepted, known or not. From glibc 2.38 a ',' ends those six (BZ
 * #18906); before, and on other libcs, they are read on.
 */
#include "config.h"

#include <string.h>
#ifdef __GLIBC__
#include <gnu/libc-version.h>
#endif

#include "spool-internal.h"

/* Does a ',' end the mode's letters, as in glibc 2.38 and later? Asked
 * of the running glibc once; a race only computes the same answer. */
static int comma_ends(void)
{
#ifdef __GLIBC__
	static volatile int known = -1;
	unsigned major = 0, minor = 0;

	if (known < 0)
		known = sscanf(gnu_get_libc_version(), "%u.%u", &major,
			       &minor) == 2 &&
			major * 1000 + minor >= 2038;
	return known;
#else
	return 0;
#endif
}

/*
 * Returns the SPOOL_M_* bits for `mode`, or 0 when fopen() would fail
 * with EINVAL or give a wide stream, which a cookie stream cannot be.
 * 'x' asks for a new file, which the temporary file always is. 'e' asks
 * for close-on-exec, which it always is. 'b', 'm' (mmap a file to read
 * it) and 'c' (no cancellation points) change nothing for a spool.
 */
unsigned spool__parse_mode(const char *mode)
{
	const char *last; /* the last '+', 'x' or 'b' among the six */
	unsigned m;
	int i;

	if (mode == NULL)
		return 0;
	switch (mode[0]) {
	case 'r':
		m = SPOOL_M_READ;
		break;
	case 'w':
		m = SPOOL_M_WRITE | SPOOL_M_TRUNC;
		break;
	case 'a':
		m = SPOOL_M_WRITE | SPOOL_M_APPEND;
		break;
	default:
		return 0;
	}
	last = mode;
	/* glibc's loop: i from 1 while i < 7, so mode[1] to mode[6]. */
	for (i = 1; i < 7 && mode[i] != '\0'; i++) {
		if (mode[i] == ',' && comma_ends())
			break;
		switch (mode[i]) {
		case '+':
			m |= SPOOL_M_READ | SPOOL_M_WRITE;
			last = mode + i;
			break;
		case 'x':
		case 'b':
			last = mode + i;
			break;
		default: /* 'm', 'c', 'e', and anything else: ignored */
			break;
		}
	}
	/*
	 * glibc looks for ",ccs=" anywhere past the last '+', 'x' or 'b'
	 * it acted on, even past the seventh character, and makes the
	 * stream wide (or fails with EINVAL for an unknown charset).
	 */
	if (last[1] != '\0' && strstr(last + 1, ",ccs=") != NULL)
		return 0;
	return m;
}
