/* SPDX-License-Identifier: MIT */
/*
 * image.c - the memory image: where a spool's contents live until it
 * rolls over. A head block that grows by a quarter at a time up to
 * HEAD_MAX, then segments that never move; each placed so that copies
 * into it avoid 4K aliasing. It knows nothing of stdio: whoever may have
 * lent a piece of it to stdio takes it back before calling anything here
 * that moves or frees memory (spool.c, take_back()).
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "spool.h"
#include "spool-internal.h"

/*
 * The memory image lives `skew` bytes into an allocation of cap + SKEW.
 * Why: on x86 a copy whose destination lies 1 to 63 bytes past its
 * source, counted modulo 4 KiB, runs about a quarter slower (each load
 * waits for earlier stores at the same page offset: "4K aliasing"), and
 * glibc's malloc makes that likely, not rare: a buffer growing at the top
 * of the heap sits exactly 16 bytes past the stdio buffer that fills it.
 * So each time the block lands at a new page offset, the image starts at
 * 0 or SKEW, whichever keeps the write being stored, and then the stdio
 * buffer's next flush, out of that window.
 */
#define SKEW 64

static int aliased(uintptr_t dst, const void *src)
{
	return (((dst - (uintptr_t)src) & 4095) - 1) < SKEW - 1;
}

/* How slow the image would be with this skew, for a block whose image
 * byte 0 would sit at `base` (a segment's lies before the block: only
 * page offsets matter here, so the sums are on integers): the write at
 * hand counts double, the stdio buffer's next flush (at its end) once. */
static int penalty(uintptr_t base, size_t skew, const struct store *w)
{
	const void *sb = w->next;
	uintptr_t img = base + skew + (uintptr_t)w->at;

	return 2 * aliased(img, w->src) +
	       (sb != NULL && sb != w->src && aliased(img + w->n, sb));
}

static void *mem_block(const struct spool *s)
{
	return s->buf == NULL ? NULL : s->buf - s->skew;
}

/* A block for `len` bytes of contents (plus SKEW); a secret spool's is
 * wiped when freed (secret.c). The memory it is counted for is claimed
 * first (budget.c), by the callers. */
static void *blk_alloc(const struct spool *s, size_t len)
{
	if (s->flags & SPOOL_SECRET)
		return spool__secret_alloc(len + SKEW);
	return spool__malloc(len + SKEW);
}

static void blk_free(const struct spool *s, void *p, size_t len)
{
	if (s->flags & SPOOL_SECRET)
		spool__secret_free(p, len + SKEW);
	else
		free(p);
}

static void seg_free(struct spool *s, struct spool_seg *g)
{
	blk_free(s, g->p - g->skew, g->len);
	spool__mem_give(s, g->len);
}

/* Free the segments from the nth on; the table too when none is left. */
static void segs_cut(struct spool *s, size_t n)
{
	struct spool_segs *t = s->segs;

	if (t == NULL)
		return;
	while (t->n > n) {
		seg_free(s, &t->seg[--t->n]);
		t->room -= t->seg[t->n].len;
	}
	t->cur = 0;
	if (n == 0) {
		free(t);
		s->segs = NULL;
	}
}

/* Free a head block of `cap` bytes the image no longer uses; a live
 * view keeps the one it points into (spool-internal.h, struct
 * spool_view), which stays counted until spool_unview(). */
static void block_drop(struct spool *s, void *block, size_t cap)
{
	struct spool_view *v = spool__view(s);

	if (block == NULL)
		return;
	if (v != NULL && block == v->block) {
		v->own = block;
		v->own_len = cap;
		v->block = NULL;
		return;
	}
	blk_free(s, block, cap);
	spool__mem_give(s, cap);
}

void spool__img_drop_view_block(struct spool *s)
{
	struct spool_view *v = spool__view(s);

	if (v == NULL || v->own == NULL)
		return;
	blk_free(s, v->own, v->own_len);
	spool__mem_give(s, v->own_len);
	v->own = NULL;
	v->own_len = 0;
}

void spool__img_free(struct spool *s)
{
	segs_cut(s, 0);
	block_drop(s, mem_block(s), s->cap);
	s->buf = NULL;
	s->cap = s->skew = 0;
}

/* Bytes the image can hold without growing. */
size_t spool__img_room(const struct spool *s)
{
	return s->segs != NULL ? s->segs->room : s->cap;
}

/* The skew for a block whose image byte 0 would sit at `base`: `skew`,
 * or the other one if that is less slow for the write w. */
static size_t place(uintptr_t base, size_t skew, const struct store *w)
{
	return penalty(base, SKEW - skew, w) < penalty(base, skew, w)
		   ? SKEW - skew
		   : skew;
}

/* realloc() by hand, for a head block a view points into (the view
 * keeps the old one) and for a secret spool (the old one is wiped): the
 * image moves to a new block, at the same skew. */
static unsigned char *moved(struct spool *s, size_t cap)
{
	unsigned char *p = blk_alloc(s, cap);
	size_t keep = (size_t)s->size < cap ? (size_t)s->size : cap;

	if (p == NULL)
		return NULL;
	if (keep > 0)
		memcpy(p + s->skew, s->buf, keep);
	block_drop(s, mem_block(s), s->cap);
	return p;
}

/*
 * Resize the block to hold `cap` bytes, keeping the image; `w` is the
 * write about to be stored (NULL: none). Only a block that moved to a new
 * page offset is placed again, so the image is never shifted back and
 * forth between writes from different sources; a shift is one memmove
 * after a move that copied the image anyway (mremap keeps the offset).
 */
static int mem_realloc(struct spool *s, size_t cap, const struct store *w)
{
	unsigned char *old = mem_block(s), *p;
	uintptr_t was = (uintptr_t)old;
	size_t skew = s->skew, grow;
	const struct spool_view *v = spool__view(s);
	int by_hand = (old != NULL && v != NULL && old == v->block) ||
		      (s->flags & SPOOL_SECRET);

	/* No allocator hands out more than PTRDIFF_MAX bytes; asking would
	 * only pass realloc a size that looks negative. */
	if (cap > PTRDIFF_MAX - SKEW) {
		errno = ENOMEM;
		return -1;
	}
	/* By hand, old and new are both held for a moment. */
	grow = by_hand ? cap : cap > s->cap ? cap - s->cap : 0;
	if (spool__mem_take(s, grow) < 0)
		return SPOOL_OVER_BUDGET;
	p = by_hand ? moved(s, cap) : spool__realloc(old, cap + SKEW);
	if (p == NULL) {
		spool__mem_give(s, grow);
		return -1;
	}
	if (!by_hand && cap < s->cap)
		spool__mem_give(s, s->cap - cap);
	if (w != NULL && (old == NULL || ((uintptr_t)p ^ was) & 4095))
		skew = place((uintptr_t)p, skew, w);
	if (skew != s->skew)
		memmove(p + skew, p + s->skew, (size_t)s->size);
	s->buf = p + skew;
	s->skew = skew;
	s->cap = cap;
	return 0;
}

/*
 * Past HEAD_MAX the image grows by new segments, not by a bigger block.
 * Why: a growing block moves now and then (in the heap realloc copies
 * it; a mapping is moved page by page by mremap), and a spool cannot
 * know its final size up front as fmemopen() does; a new segment is one
 * malloc, and never moves (bench/README, "Figures behind lib/'s
 * comments", has what a moving block cost).
 */
#ifndef SPOOL_TINY_SEGMENTS
#define HEAD_MAX ((size_t)256 << 10)

/* The next segment's length: 15/64 of the room so far, so that with
 * each block's overhead a spool still costs under N + 25%, trimmed so
 * that its block (len + SKEW + malloc's header) fills whole pages. */
static size_t seg_len(size_t room)
{
	return ((room / 64 * 15) & ~(size_t)4095) - SKEW - 16;
}
#else
/* Tests only: segments of a few bytes from the 64th on, so that the
 * differential tests and the fuzz corpus cross them all the time. */
#define HEAD_MAX ((size_t)64)

static size_t seg_len(size_t room)
{
	return room / 8 + 1;
}
#endif

/* The segment holding image byte `at` (cap <= at < room). Access is
 * mostly sequential, so the one used last is tried first. */
static struct spool_seg *seg_at(struct spool_segs *t, size_t at)
{
	struct spool_seg *g = &t->seg[t->cur];
	size_t lo = 0, hi = t->n, mid;

	if (at - g->start < g->len)
		return g;
	while (hi - lo > 1) {
		mid = lo + (hi - lo) / 2;
		if (t->seg[mid].start <= at)
			lo = mid;
		else
			hi = mid;
	}
	t->cur = lo;
	return &t->seg[lo];
}

/* Where image byte `at` (< room) lives; *len: the bytes from there on
 * that are contiguous. */
unsigned char *spool__img_piece(struct spool *s, size_t at, size_t *len)
{
	struct spool_seg *g;

	if (at < s->cap) {
		*len = s->cap - at;
		return s->buf + at;
	}
	g = seg_at(s->segs, at);
	*len = g->start + g->len - at;
	return g->p + (at - g->start);
}

/* Store n bytes from src at image offset `at`; zeros if src is NULL.
 * src may lie in the image (stdio may write in place: spool.c, lend()). */
void spool__img_put(struct spool *s, size_t at, const void *src, size_t n)
{
	const unsigned char *from = src;
	unsigned char *p;
	size_t len;

	for (; n > 0; at += len, n -= len) {
		p = spool__img_piece(s, at, &len);
		if (len > n)
			len = n;
		if (from == NULL) {
			memset(p, 0, len);
		} else {
			/* p == from: stdio wrote these bytes in place. */
			if (p != from)
				memmove(p, from, len);
			from += len;
		}
	}
}

/* Copy n bytes out from image offset `at`. */
void spool__img_get(struct spool *s, size_t at, void *dst, size_t n)
{
	unsigned char *to = dst;
	const unsigned char *p;
	size_t len;

	for (; n > 0; at += len, n -= len, to += len) {
		p = spool__img_piece(s, at, &len);
		if (len > n)
			len = n;
		memcpy(to, p, len);
	}
}

/* A write will store image bytes [from, end): map the fresh segments'
 * pages from there, or from where the window ended, to AHEAD past end,
 * a sliding window, so that the resident memory stays the contents plus
 * AHEAD (prefault.c says why). */
#define AHEAD ((size_t)1 << 20)

static void map_ahead(struct spool *s, size_t from, size_t end)
{
	struct spool_segs *t = s->segs;
	size_t stop = t->room - end < AHEAD ? t->room : end + AHEAD, lo, hi;
	struct spool_seg *g;

	if (from < t->ahead)
		from = t->ahead;
	if (from < s->cap)
		from = s->cap;
	t->ahead = stop;
	for (; from < stop; from = hi) {
		g = seg_at(t, from);
		lo = from - g->start;
		hi = g->start + g->len < stop ? g->start + g->len : stop;
		if (g->fresh)
			spool__populate(g->p + lo, hi - from);
	}
}

/*
 * The segment table holds 64 at first (enough for 256 KiB to 180 GB) and
 * doubles from there. One allocation, not one per segment: small blocks
 * freed in between would sit in glibc's per-thread cache between the
 * segments, and a spool opened after this one could not reuse the
 * memory in the same places: more resident memory after repeated big
 * spools in one heap (bench/README, "Figures behind lib/'s comments").
 * A spool that never passes the head has no table, and struct spool
 * only a pointer to it.
 */
#define SEGS_MIN 64

static size_t segs_cap(size_t n)
{
	size_t cap = SEGS_MIN;

	while (cap < n)
		cap *= 2;
	return cap;
}

/* Append a segment of len bytes to the image, placed for the write at
 * hand as mem_realloc() places the head. */
static int seg_add(struct spool *s, size_t len, const struct store *w)
{
	struct spool_segs *t = s->segs;
	size_t n = t != NULL ? t->n : 0, skew = 0, at = spool__img_room(s);
	unsigned char *p;

	if (len > PTRDIFF_MAX - SKEW) {
		errno = ENOMEM;
		return -1;
	}
	if (spool__mem_take(s, len) < 0)
		return SPOOL_OVER_BUDGET;
	if (t == NULL || (n >= SEGS_MIN && (n & (n - 1)) == 0)) {
		t = spool__realloc(t, sizeof(*t) +
					  segs_cap(n + 1) * sizeof(t->seg[0]));
		if (t == NULL) {
			spool__mem_give(s, len);
			return -1;
		}
		if (s->segs == NULL)
			*t = (struct spool_segs){.room = at, .ahead = at};
		s->segs = t;
	}
	p = blk_alloc(s, len);
	if (p == NULL) {
		spool__mem_give(s, len);
		if (n == 0)
			segs_cut(s, 0);
		return -1;
	}
	if (w != NULL)
		skew = place((uintptr_t)p - at, 0, w);
	t->seg[t->n++] = (struct spool_seg){
	    .p = p + skew,
	    .start = at,
	    .len = len,
	    .skew = skew,
	    .fresh = spool__fresh(p, len + SKEW),
	};
	t->room += len;
	return 0;
}

/*
 * Write image bytes [*at, end) to fd, looping over EINTR and short
 * counts; 0 on success, -1 with errno, *at past what was written either
 * way (spool_send() resumes from there after EAGAIN). One writev(2)
 * takes up to IOV_BATCH pieces: a write(2) per segment made a segmented
 * image's rollover slower than tmpfile() (bench/README, "Figures behind
 * lib/'s comments").
 */
#define IOV_BATCH 64

int spool__img_send(struct spool *s, int fd, off_t *at, size_t end)
{
	struct iovec iov[IOV_BATCH];
	size_t a, n;
	ssize_t w;
	int k;

	while ((size_t)*at < end) {
		for (k = 0, a = (size_t)*at; a < end && k < IOV_BATCH;
		     k++, a += n) {
			iov[k].iov_base = spool__img_piece(s, a, &n);
			if (n > end - a)
				n = end - a;
			iov[k].iov_len = n;
		}
		w = spool__writev(fd, iov, k);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO; /* no progress: never spin */
			return -1;
		}
		*at += w;
	}
	return 0;
}

/* The first len bytes of the image to fd (a rollover, a persist). */
int spool__img_write(struct spool *s, int fd, size_t len)
{
	off_t at = 0;

	return spool__img_send(s, fd, &at, len);
}

/*
 * Make room for `need` bytes (need <= threshold). Growth is by a quarter
 * at most, so a spool holding N bytes costs at most N + 25%, and never
 * passes the threshold: the head grows until it reaches HEAD_MAX, then
 * segments are added.
 */
static int reserve(struct spool *s, size_t need, const struct store *w)
{
	size_t cap = s->cap + s->cap / 4, len, have = spool__img_room(s);

	if (s->segs == NULL && s->cap < HEAD_MAX) {
		if (cap < need)
			cap = need;
		if (cap < 256)
			cap = 256;
		if (cap > s->threshold)
			cap = s->threshold;
		return mem_realloc(s, cap, w);
	}
	len = seg_len(have);
	if (len < need - have)
		len = need - have;
	if (len > s->threshold - have)
		len = s->threshold - have;
	return seg_add(s, len, w);
}

/* The step by which the image would grow passes the budget: grow by
 * what the write needs, no more, before giving up on memory. */
static int reserve_exact(struct spool *s, size_t need, const struct store *w)
{
	size_t have = spool__img_room(s);

	if (s->segs == NULL && s->cap < HEAD_MAX)
		return mem_realloc(s, need, w);
	return seg_add(s, need - have, w);
}

int spool__img_reserve(struct spool *s, size_t need, const struct store *w)
{
	int rc;

	if (need <= spool__img_room(s))
		return 0;
	rc = reserve(s, need, w);
	if (rc == SPOOL_OVER_BUDGET)
		rc = reserve_exact(s, need, w);
	return rc;
}

/*
 * Store the write w in the image, growing it first; 0, or -1 with errno
 * when memory ran out (nothing stored then). A seek past the end left a
 * gap, which reads as 0. The position moves past the bytes stored.
 */
int spool__img_store(struct spool *s, const struct store *w)
{
	size_t end = (size_t)w->at + w->n;
	int rc = spool__img_reserve(s, end, w);

	if (rc < 0)
		return rc;
	if (s->segs != NULL && end > s->segs->ahead)
		map_ahead(s, w->at < s->size ? (size_t)w->at : (size_t)s->size,
			  end);
	if (w->at > s->size)
		spool__img_put(s, (size_t)s->size, NULL,
			       (size_t)(w->at - s->size));
	spool__img_put(s, (size_t)w->at, w->src, w->n);
	s->pos = (off_t)end;
	if (s->pos > s->size)
		s->size = s->pos;
	return 0;
}

/*
 * Make the image one block, for a view: a head and segments become one
 * new block of exactly the contents (one copy; for its duration the
 * memory held is twice the contents). The spool keeps that block, so a
 * later view needs no copy while the contents still fit in it; writes
 * past it add segments after it again. No live view may point into the
 * image now.
 */
int spool__img_join(struct spool *s)
{
	size_t size = (size_t)s->size;
	unsigned char *p;

	if (s->segs == NULL || size <= s->cap)
		return 0;
	if (spool__mem_take(s, size) < 0)
		return SPOOL_OVER_BUDGET;
	p = blk_alloc(s, size);
	if (p == NULL) {
		spool__mem_give(s, size);
		return -1;
	}
	spool__img_get(s, 0, p, size);
	segs_cut(s, 0);
	block_drop(s, mem_block(s), s->cap);
	s->buf = p;
	s->skew = 0;
	s->cap = size;
	return 0;
}

/* Cut the last segment to its first `keep` bytes (keep < len/2). A
 * secret spool's keeps its block, the bytes cut wiped: realloc() would
 * free them unwiped. */
static void seg_shrink(struct spool *s, size_t keep)
{
	struct spool_segs *t = s->segs;
	struct spool_seg *g = &t->seg[t->n - 1];
	unsigned char *p;

	if (s->flags & SPOOL_SECRET) {
		explicit_bzero(g->p + keep, g->len - keep);
		return;
	}
	p = spool__realloc(g->p - g->skew, keep + SKEW);
	if (p == NULL)
		return;
	g->p = p + g->skew;
	t->room -= g->len - keep;
	spool__mem_give(s, g->len - keep);
	g->len = keep;
}

/* Give memory back after a cut: the segments past the end, and a block
 * that is now less than half used, so a truncated spool does not keep
 * its peak. Failing to shrink is harmless. */
static void img_shrink(struct spool *s)
{
	size_t size = (size_t)s->size, n = 0;
	struct spool_segs *t = s->segs;
	const struct spool_seg *g;

	if (size == 0) {
		spool__img_free(s);
		return;
	}
	if (t != NULL) {
		while (n < t->n && t->seg[n].start < size)
			n++;
		segs_cut(s, n);
	}
	if (s->segs == NULL) {
		if (size < s->cap / 2)
			(void)mem_realloc(s, size, NULL);
		return;
	}
	if (t->ahead > size)
		t->ahead = size;
	g = &t->seg[t->n - 1];
	if (size - g->start < g->len / 2)
		seg_shrink(s, size - g->start);
}

/* Grow or cut the memory image to `length` (<= threshold); new bytes,
 * including any gap left by a seek past the end, read as zero. */
int spool__img_resize(struct spool *s, off_t length)
{
	if (length > s->size) {
		int rc = spool__img_reserve(s, (size_t)length, NULL);

		if (rc < 0)
			return rc;
		spool__img_put(s, (size_t)s->size, NULL,
			       (size_t)(length - s->size));
		s->size = length;
	} else {
		s->size = length;
		img_shrink(s);
	}
	return 0;
}

/*
 * A read in memory asks the CPU to start loading what the next one will
 * copy: the next READ_AHEAD bytes of the image (within one piece). Its
 * hardware prefetchers stop at every 4 KiB page; a hint runs across
 * them. 16 KiB did better than 32 KiB (bench/README, "Figures behind
 * lib/'s comments"). Only a hint: nothing changes.
 */
#define READ_AHEAD ((size_t)16 << 10)

void spool__img_read_ahead(struct spool *s)
{
#if defined(__GNUC__) || defined(__clang__)
	const unsigned char *p;
	size_t len, k;

	if (s->pos >= s->size)
		return;
	p = spool__img_piece(s, (size_t)s->pos, &len);
	if (len > (size_t)(s->size - s->pos))
		len = (size_t)(s->size - s->pos);
	if (len > READ_AHEAD)
		len = READ_AHEAD;
	for (k = 0; k < len; k += 64)
		__builtin_prefetch(p + k);
#else
	(void)s;
#endif
}
