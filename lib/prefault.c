/* SPDX-License-Identifier: MIT */
/*
 * prefault.c - mapping fresh memory ahead of the writes that will touch
 * it. The memory image (image.c) asks two things: is this new block
 * fresh (its pages not resident), and map these pages now. Both are
 * hints: when a call fails, pages are mapped at first touch as usual.
 */
#include "config.h"

#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "spool-internal.h"

/*
 * Fresh memory costs a page fault per 4 KiB page at first touch, most of
 * the time of a cold fill. MADV_POPULATE_WRITE (Linux 5.14) maps a range
 * inside the kernel in one call instead, which made cold fills faster
 * than fmemopen's (bench/README, "Figures behind lib/'s comments").
 * So writes into a fresh segment map the pages up to AHEAD bytes past
 * their end first (image.c, map_ahead()); a sliding window, so that the
 * spool's resident memory stays its contents plus AHEAD, not its whole
 * capacity. A segment is
 * fresh when its middle page is not resident: memory that malloc reuses
 * is mapped already, and the call would walk it for nothing. Blocks
 * under PREFAULT_MIN are not worth the mincore(). Both
 * calls are hints: if one fails, pages are mapped at first touch.
 */
#define PREFAULT_MIN ((size_t)1 << 20)

#ifdef MADV_POPULATE_WRITE
static uintptr_t page_size(void)
{
	long page = sysconf(_SC_PAGESIZE);

	return page > 0 && (page & (page - 1)) == 0 ? (uintptr_t)page : 0;
}

/* Is the page holding address a known not to be resident? */
static int absent(uintptr_t a, uintptr_t page)
{
	unsigned char vec;

	return spool__mincore((void *)(a & ~(page - 1)), page, &vec) == 0 &&
	       !(vec & 1);
}

int spool__fresh(const void *p, size_t len)
{
	uintptr_t page = page_size();

	return len >= PREFAULT_MIN && page != 0 &&
	       absent((uintptr_t)p + len / 2, page);
}

/* Map the whole pages of [p, p + len), unless the first is mapped: then
 * this stretch was written before, in a block malloc reused. */
void spool__populate(unsigned char *p, size_t len)
{
	uintptr_t page = page_size(), a, e;

	if (page == 0)
		return;
	a = ((uintptr_t)p + page - 1) & ~(page - 1);
	e = ((uintptr_t)p + len) & ~(page - 1);
	if (e > a && absent(a, page))
		(void)spool__madvise((void *)a, e - a, MADV_POPULATE_WRITE);
}
#else
/* Without MADV_POPULATE_WRITE no segment is fresh: nothing is mapped. */
int spool__fresh(const void *p, size_t len)
{
	(void)p;
	(void)len;
	return 0;
}

void spool__populate(unsigned char *p, size_t len)
{
	(void)p;
	(void)len;
}
#endif
