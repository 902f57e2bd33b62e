/* SPDX-License-Identifier: MIT */
/*
 * registry.c - the set of live spools, keyed by their FILE*.
 *
 * stdio gives no way to reach a cookie from its FILE*, and the public
 * functions must refuse stdin, a tmpfile() or a closed spool's reused
 * address with EINVAL instead of reading foreign memory. So every spool
 * is entered here at open and removed by its close callback.
 *
 * Every public query looks its spool up here, so one process-wide lock
 * made two threads querying two spools slower together than one alone
 * (12-17 M calls/s against 31-40 M on two cores). The set is therefore
 * split into stripes by the pointer's hash, each a small hash table of
 * its own under its own mutex, on its own cache line: threads working on
 * different spools meet only when their spools share a stripe. A rwlock
 * would not do: its reader count is one cache line that every lookup
 * writes.
 *
 * Lock order: a FILE lock may be held when a stripe lock is taken (the
 * close callback runs under it), never the other way round, and no
 * thread holds two stripe locks except fork_prepare.
 *
 * fork(): every stripe lock is taken before the fork, in index order,
 * and released on both sides after it, so that a child never inherits
 * one locked by a thread that does not exist there (its first
 * spool_fopen() hung forever: 7 of 6,000 children forked while another
 * thread opened and closed spools).
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>

#include "spool-internal.h"

#define STRIPE_BITS 6 /* 64 stripes */
#define STRIPES (1 << STRIPE_BITS)
#define FIRST_BUCKETS 8 /* a stripe's first table, inside the stripe */

/*
 * The lock and the table's header fill one cache line on LP64 (a 40-byte
 * mutex and three words), the first table the next: a lookup writes only
 * its own stripe's lines. The first table lives here, not on the heap,
 * so that a few open spools cost no allocation at all (the stripes are
 * 8 KiB of zeroed static memory, resident only where used), and so that
 * which stripe a spool lands in never changes how many allocations an
 * open makes (tests/check_inject.c fails each of them in turn).
 */
struct stripe {
	alignas(64) pthread_mutex_t lock;
	struct spool **buckets; /* first, or a larger table on the heap */
	size_t nbuckets;	/* 0 (not yet set up) or a power of two */
	size_t count;
	struct spool *first[FIRST_BUCKETS];
};

static struct stripe stripes[STRIPES] = {
    [0 ... STRIPES - 1] = {.lock = PTHREAD_MUTEX_INITIALIZER},
};

static void fork_prepare(void)
{
	int i;

	for (i = 0; i < STRIPES; i++)
		pthread_mutex_lock(&stripes[i].lock);
}

static void fork_done(void)
{
	int i;

	for (i = STRIPES - 1; i >= 0; i--)
		pthread_mutex_unlock(&stripes[i].lock);
}

/* At load, before any spool can exist. The result is not checked: it
 * fails only with ENOMEM, which leaves fork() as it was before. */
__attribute__((constructor)) static void registry_init(void)
{
	(void)pthread_atfork(fork_prepare, fork_done, fork_done);
}

/* Fibonacci hashing of the pointer; allocators align FILEs, so the low
 * bits alone would crowd a few buckets. */
static uint64_t hash(const FILE *fp)
{
	return (uint64_t)(uintptr_t)fp * UINT64_C(0x9E3779B97F4A7C15);
}

/* The top bits, the best mixed, pick the stripe. */
static struct stripe *stripe_of(uint64_t h)
{
	return &stripes[h >> (64 - STRIPE_BITS)];
}

/* The bits below the stripe's pick the bucket: the stripe's own bits
 * are the same for all its spools and would spread nothing. */
static size_t slot(uint64_t h, size_t n)
{
	return (size_t)(h >> (64 - STRIPE_BITS - 32)) & (n - 1);
}

/* Double the stripe's table (from its first, FIRST_BUCKETS) so chains
 * stay about one entry long. */
static int grow(struct stripe *st)
{
	size_t n = st->nbuckets * 2, i;
	struct spool **b;

	if (st->nbuckets == 0) {
		st->buckets = st->first;
		st->nbuckets = FIRST_BUCKETS;
		return 0;
	}
	b = spool__calloc(n, sizeof(*b));
	if (b == NULL)
		return -1;
	for (i = 0; i < st->nbuckets; i++) {
		while (st->buckets[i] != NULL) {
			struct spool *s = st->buckets[i];
			size_t k = slot(hash(s->fp), n);

			st->buckets[i] = s->next;
			s->next = b[k];
			b[k] = s;
		}
	}
	if (st->buckets != st->first)
		free(st->buckets);
	st->buckets = b;
	st->nbuckets = n;
	return 0;
}

int spool__register(struct spool *s)
{
	uint64_t h = hash(s->fp);
	struct stripe *st = stripe_of(h);
	int rc = 0;
	size_t k;

	pthread_mutex_lock(&st->lock);
	if (st->count >= st->nbuckets && grow(st) < 0) {
		rc = -1;
		errno = ENOMEM;
	} else {
		k = slot(h, st->nbuckets);
		s->next = st->buckets[k];
		st->buckets[k] = s;
		st->count++;
	}
	pthread_mutex_unlock(&st->lock);
	return rc;
}

void spool__unregister(struct spool *s)
{
	uint64_t h = hash(s->fp);
	struct stripe *st = stripe_of(h);
	struct spool **pp;

	pthread_mutex_lock(&st->lock);
	pp = st->nbuckets > 0 ? &st->buckets[slot(h, st->nbuckets)] : NULL;
	for (; pp != NULL && *pp != NULL; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			st->count--;
			break;
		}
	}
	pthread_mutex_unlock(&st->lock);
}

struct spool *spool__lookup(FILE *fp)
{
	uint64_t h = hash(fp);
	struct stripe *st = stripe_of(h);
	struct spool *s = NULL;

	if (fp == NULL)
		return NULL;
	pthread_mutex_lock(&st->lock);
	if (st->nbuckets > 0) {
		for (s = st->buckets[slot(h, st->nbuckets)]; s; s = s->next) {
			if (s->fp == fp)
				break;
		}
	}
	pthread_mutex_unlock(&st->lock);
	return s;
}
