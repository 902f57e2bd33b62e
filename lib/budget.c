/* SPDX-License-Identifier: MIT */
/*
 * budget.c - the memory held for contents, per spool and for all spools
 * together, and the process-wide budget on it (spool_set_budget(3)).
 *
 * A spool's `mem` is the capacity of every block it holds for contents:
 * the head, the segments, and a block a live view keeps. Every change
 * to it goes through take/give here, which also keep the process total,
 * so the total equals the sum of the spools' `mem` whenever no call is
 * between the two. Only growth and release touch the shared counter: a
 * write that fits in the image touches nothing here but one relaxed load
 * (spool__over_budget()).
 */
#include "config.h"

#include <stdatomic.h>

#include "spool.h"
#include "spool-internal.h"

static atomic_size_t used;
static atomic_size_t budget; /* 0: none */

int spool_set_budget(size_t bytes)
{
	atomic_store_explicit(&budget, bytes, memory_order_relaxed);
	return 0;
}

size_t spool_budget_used(void)
{
	return atomic_load_explicit(&used, memory_order_relaxed);
}

/* Claim n more bytes for s; -1 (errno untouched) when that would pass
 * the budget. A compare-and-swap, so that two spools growing at once
 * can never pass it together. */
int spool__mem_take(struct spool *s, size_t n)
{
	size_t cur = atomic_load_explicit(&used, memory_order_relaxed), lim;

	do {
		lim = atomic_load_explicit(&budget, memory_order_relaxed);
		if (lim != 0 && (cur > lim || n > lim - cur))
			return -1;
	} while (!atomic_compare_exchange_weak_explicit(
	    &used, &cur, cur + n, memory_order_relaxed, memory_order_relaxed));
	s->mem += n;
	if (s->mem > s->mem_peak)
		s->mem_peak = s->mem;
	return 0;
}

void spool__mem_give(struct spool *s, size_t n)
{
	s->mem -= n;
	atomic_fetch_sub_explicit(&used, n, memory_order_relaxed);
}

/* Is more held than the budget allows (it was lowered)? */
int spool__over_budget(void)
{
	size_t lim = atomic_load_explicit(&budget, memory_order_relaxed);

	return lim != 0 &&
	       atomic_load_explicit(&used, memory_order_relaxed) > lim;
}
