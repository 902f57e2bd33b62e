/* SPDX-License-Identifier: MIT */
/*
 * registry.c - the set of live spools, keyed by their FILE*.
 *
 * stdio gives no way to reach a cookie from its FILE*, and the public
 * functions must refuse stdin, a tmpfile() or a closed spool's reused
 * address with EINVAL instead of reading foreign memory. So every spool
 * is entered here at open and removed by its close callback.
 *
 * Lock order: a FILE lock may be held when this mutex is taken (the
 * close callback runs under it), never the other way round.
 *
 * fork(): the mutex is taken before the fork and released on both sides
 * after it, so that a child never inherits it locked by a thread that
 * does not exist there (its first spool_fopen() hung forever: 7 of
 * 6,000 children forked while another thread opened and closed spools).
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "spool-internal.h"

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct spool **buckets;
static size_t nbuckets; /* 0 or a power of two */
static size_t count;

static void fork_prepare(void)
{
	pthread_mutex_lock(&reg_lock);
}

static void fork_done(void)
{
	pthread_mutex_unlock(&reg_lock);
}

/* At load, before any spool can exist. The result is not checked: it
 * fails only with ENOMEM, which leaves fork() as it was before. */
__attribute__((constructor)) static void registry_init(void)
{
	(void)pthread_atfork(fork_prepare, fork_done, fork_done);
}

/* Fibonacci hashing of the pointer; allocators align FILEs, so the low
 * bits alone would crowd a few buckets. */
static size_t slot(const FILE *fp, size_t n)
{
	uint64_t h = (uint64_t)(uintptr_t)fp * UINT64_C(0x9E3779B97F4A7C15);

	return (size_t)(h >> 32) & (n - 1);
}

/* Double the table (from 64) so chains stay about one entry long. */
static int grow(void)
{
	size_t n = nbuckets ? nbuckets * 2 : 64, i;
	struct spool **b = spool__calloc(n, sizeof(*b));

	if (b == NULL)
		return -1;
	for (i = 0; i < nbuckets; i++) {
		while (buckets[i] != NULL) {
			struct spool *s = buckets[i];
			size_t k = slot(s->fp, n);

			buckets[i] = s->next;
			s->next = b[k];
			b[k] = s;
		}
	}
	free(buckets);
	buckets = b;
	nbuckets = n;
	return 0;
}

int spool__register(struct spool *s)
{
	int rc = 0;
	size_t k;

	pthread_mutex_lock(&reg_lock);
	if (count >= nbuckets && grow() < 0) {
		rc = -1;
		errno = ENOMEM;
	} else {
		k = slot(s->fp, nbuckets);
		s->next = buckets[k];
		buckets[k] = s;
		count++;
	}
	pthread_mutex_unlock(&reg_lock);
	return rc;
}

void spool__unregister(struct spool *s)
{
	struct spool **pp;

	pthread_mutex_lock(&reg_lock);
	pp = nbuckets > 0 ? &buckets[slot(s->fp, nbuckets)] : NULL;
	for (; pp != NULL && *pp != NULL; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			count--;
			break;
		}
	}
	pthread_mutex_unlock(&reg_lock);
}

struct spool *spool__lookup(FILE *fp)
{
	struct spool *s = NULL;

	if (fp == NULL)
		return NULL;
	pthread_mutex_lock(&reg_lock);
	if (nbuckets > 0) {
		for (s = buckets[slot(fp, nbuckets)]; s; s = s->next) {
			if (s->fp == fp)
				break;
		}
	}
	pthread_mutex_unlock(&reg_lock);
	return s;
}
