/*
 * mode.c - fopen()'s mode string, read as glibc reads it, turned into
 * what a spool can do (SPOOL_M_* bits). The cookie never sees the mode.
 */
#include "config.h"

#include "spool-internal.h"

/*
 * fopen()'s modes: r, w or a, then at most one each of '+', 'b', 'e' in
 * any order. Returns the SPOOL_M_* bits, or 0 for anything else.
 */
unsigned spool__parse_mode(const char *mode)
{
	unsigned m, seen = 0, bit;

	if (mode == NULL)
		return 0;
	switch (*mode) {
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
	while (*++mode != '\0') {
		switch (*mode) {
		case '+':
			bit = 1;
			break;
		case 'b':
			bit = 2;
			break;
		case 'e':
			bit = 4;
			break;
		default:
			return 0;
		}
		if (seen & bit)
			return 0;
		seen |= bit;
	}
	return (seen & 1) ? m | SPOOL_M_READ | SPOOL_M_WRITE : m;
}

