/*
 * spool.c - spool_fopen() and the four cookie callbacks behind it.
 *
 * While in memory the spool keeps its own position and size; once rolled
 * over, the temp file's offset and size are the truth and every call goes
 * straight to the descriptor, so the stream then behaves exactly as stdio
 * on a regular file (the kernel does append, sparse gaps and SEEK_END).
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "spool.h"
#include "spool-internal.h"

/* write(2), looping over EINTR and short counts. Returns the bytes
 * written; fewer than n means an error, with errno set. */
static size_t fd_write(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	size_t done = 0;

	while (done < n) {
		ssize_t w = spool__write(fd, p + done, n - done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		done += (size_t)w;
	}
	return done;
}

/* Where the next write lands: the end in append mode. On disk that costs
 * a system call, so it is asked only when a limit must be enforced. */
static off_t write_offset(const struct spool *s)
{
	struct stat st;

	if (s->fd < 0)
		return (s->mode & SPOOL_M_APPEND) ? s->size : s->pos;
	if (!(s->mode & SPOOL_M_APPEND))
		return spool__lseek(s->fd, 0, SEEK_CUR);
	return spool__fstat(s->fd, &st) < 0 ? -1 : st.st_size;
}

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

#if defined(HAVE_STRUCT__IO_FILE__IO_BUF_BASE) && defined(__GLIBC__)
/* glibc's FILE flags this file looks at (libio/libio.h). */
#define GLIBC_USER_BUF 0x0001	/* _IO_USER_BUF */
#define GLIBC_UNBUFFERED 0x0002 /* _IO_UNBUFFERED */
#define GLIBC_IN_BACKUP 0x0100	/* _IO_IN_BACKUP */
#define GLIBC_LINE_BUF 0x0200	/* _IO_LINE_BUF */
#define STDIO_BUFFER 1
#endif

static void stdio_off_image(struct spool *s);

/* The stdio buffer, where most writes come from; NULL: unknown, too
 * small to matter (unbuffered: one byte), or the image itself (stdio
 * writes in place: see aim()). */
static const void *stdio_buffer(const struct spool *s)
{
#ifdef STDIO_BUFFER
	const FILE *fp = s->fp;

	if (fp == NULL || s->iobuf != NULL ||
	    fp->_IO_buf_end - fp->_IO_buf_base < 4096)
		return NULL;
	return fp->_IO_buf_base;
#else
	(void)s;
	return NULL;
#endif
}

/* A write about to be stored: n bytes from src at `at`. */
struct store {
	const void *src;
	off_t at;
	size_t n;
};

/* How slow the image would be with this skew, for a block whose image
 * byte 0 would sit at `base` (a segment's lies before the block: only
 * page offsets matter here, so the sums are on integers): the write at
 * hand counts double, the stdio buffer's next flush (at its end) once. */
static int penalty(const struct spool *s, uintptr_t base, size_t skew,
		   const struct store *w)
{
	const void *sb = stdio_buffer(s);
	uintptr_t img = base + skew + (uintptr_t)w->at;

	return 2 * aliased(img, w->src) +
	       (sb != NULL && sb != w->src && aliased(img + w->n, sb));
}

static void *mem_block(const struct spool *s)
{
	return s->buf == NULL ? NULL : s->buf - s->skew;
}

static void seg_free(struct spool_seg *g)
{
	free(g->p - g->skew);
}

/* Free the segments from the nth on; the table too when none is left. */
static void segs_cut(struct spool *s, size_t n)
{
	struct spool_segs *t = s->segs;

	if (t == NULL)
		return;
	while (t->n > n) {
		seg_free(&t->seg[--t->n]);
		t->room -= t->seg[t->n].len;
	}
	t->cur = 0;
	if (n == 0) {
		free(t);
		s->segs = NULL;
	}
}

static void mem_free(struct spool *s)
{
	/* At fclose() too (destroy()): glibc frees its buffer after the
	 * close callback, so that must be its own, not the image's. */
	stdio_off_image(s);
	segs_cut(s, 0);
	free(mem_block(s));
	s->buf = NULL;
	s->cap = s->skew = 0;
}

/* Bytes the image can hold without growing. */
static size_t room(const struct spool *s)
{
	return s->segs != NULL ? s->segs->room : s->cap;
}

/* The skew for a block whose image byte 0 would sit at `base`: `skew`,
 * or the other one if that is less slow for the write w. */
static size_t place(const struct spool *s, uintptr_t base, size_t skew,
		    const struct store *w)
{
	return penalty(s, base, SKEW - skew, w) < penalty(s, base, skew, w)
		       ? SKEW - skew
		       : skew;
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
	size_t skew = s->skew;

	/* No allocator hands out more than PTRDIFF_MAX bytes; asking would
	 * only pass realloc a size that looks negative. */
	if (cap > PTRDIFF_MAX - SKEW) {
		errno = ENOMEM;
		return -1;
	}
	stdio_off_image(s);
	p = spool__realloc(old, cap + SKEW);
	if (p == NULL)
		return -1;
	if (w != NULL && (old == NULL || ((uintptr_t)p ^ was) & 4095))
		skew = place(s, (uintptr_t)p, skew, w);
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
 * know its final size up front as fmemopen() does. Measured in a cold
 * 64 MiB fill: 9 of 28 growth steps moved the block, 1.4% of the time;
 * a new segment is one malloc. A segment never moves.
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
static unsigned char *piece(struct spool *s, size_t at, size_t *len)
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
 * src may lie in the image (stdio's buffer may be: see aim()). */
static void img_put(struct spool *s, size_t at, const void *src, size_t n)
{
	const unsigned char *from = src;
	unsigned char *p;
	size_t len;

	for (; n > 0; at += len, n -= len) {
		p = piece(s, at, &len);
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
static void img_get(struct spool *s, size_t at, void *dst, size_t n)
{
	unsigned char *to = dst;
	const unsigned char *p;
	size_t len;

	for (; n > 0; at += len, n -= len, to += len) {
		p = piece(s, at, &len);
		if (len > n)
			len = n;
		memcpy(to, p, len);
	}
}

/*
 * Writing in place. Stored from stdio's buffer, every byte is copied
 * twice: by stdio from the caller into its buffer, then by the write
 * callback from the buffer into the image; fmemopen() and
 * open_memstream() do the same. So while a spool is in memory and stdio
 * appends at the end, stdio's buffer is the stretch of the image just
 * past the end: stdio copies each byte to where it belongs, and the
 * flush that follows only counts the bytes (img_put() skips a copy onto
 * itself). Measured: bench/README.
 *
 * How stdio is handed the buffer, and why that is safe (glibc 2.36,
 * libio/fileops.c and genops.c):
 * - Only a write callback points stdio at the image. Its only caller is
 *   new_do_write(), which afterwards sets every get and put pointer from
 *   _IO_buf_base/_IO_buf_end. The buffer so handed out lies in the
 *   image's room (so under the threshold), past the contents, and
 *   within one piece, and is at most AIM_MAX long, which may be more
 *   than stdio's own buffer: with 256 KiB a 64 KiB fwrite() is mostly
 *   one copy and no callback (measured: bench/README).
 * - Bytes stdio holds there and never flushes (__fpurge(), a write cut
 *   by the limit) lie past the end of the contents, where nothing reads.
 *   A flush of them always fits: no growth, no rollover, no failure.
 * - Anything that would move the position away from the end, read, move
 *   or free the image, or close the stream first hands stdio its own
 *   buffer back (stdio_off_image()), moving every pointer and every
 *   pending byte along, so stdio's state is exactly as if that buffer
 *   had been its buffer all along. The exception is the position staying
 *   put (ftell()): that changes nothing. glibc flushes before each of
 *   these (a seek, a switch to reading, fclose(), and the library's own
 *   calls, which flush first), so no byte is pending then that its own
 *   buffer could not hold; only inside the write callback are bytes
 *   pending, and they are the ones being written, which glibc drops
 *   once the callback returns. A read glibc asks for into the image's
 *   stretch goes into its own buffer, cut to that buffer's length.
 * - While stdio writes in place its own buffer is kept here and the
 *   FILE is marked _IO_USER_BUF, so glibc never frees the image; the
 *   mark is taken off when the buffer goes back, so glibc frees its own
 *   buffer at fclose() as usual. If the caller replaces the buffer with
 *   setvbuf() meanwhile, stdio's own one is freed here.
 * - Wide streams, unbuffered and line-buffered ones, pushback in
 *   progress and a buffer the caller chose are left alone.
 */
#ifdef STDIO_BUFFER
#define AIM_MAX ((size_t)256 << 10)
#ifndef SPOOL_TINY_SEGMENTS
#define AIM_MIN ((size_t)1024)
#else
#define AIM_MIN ((size_t)1) /* tests: aim at pieces of a few bytes */
#endif

/* Is stdio writing into the image? Forgets that, and frees stdio's own
 * buffer, once the caller has replaced the buffer (setvbuf()). */
static int in_place(struct spool *s)
{
	if (s->iobuf == NULL)
		return 0;
	if (s->fp->_IO_buf_base == s->aim)
		return 1;
	free(s->iobuf);
	s->iobuf = NULL;
	s->aim = NULL;
	return 0;
}

/*
 * Give stdio the buffer [to, to + len). Every pointer into the old buffer
 * (the get and put areas, and the main get area saved during pushback)
 * moves along at the same distance from the start, and the bytes up to
 * the furthest content pointer are copied over. len is at least the old
 * length wherever a pointer could be past it.
 */
static void rebase(FILE *fp, char *to, size_t len)
{
	char **ptr[] = {
	    &fp->_IO_read_base, &fp->_IO_read_ptr,  &fp->_IO_read_end,
	    &fp->_IO_save_base, &fp->_IO_save_end,  &fp->_IO_write_base,
	    &fp->_IO_write_ptr, &fp->_IO_write_end,
	};
	uintptr_t lo = (uintptr_t)fp->_IO_buf_base,
		  hi = (uintptr_t)fp->_IO_buf_end, d;
	size_t i, used = 0;

	for (i = 0; i < sizeof(ptr) / sizeof(ptr[0]); i++) {
		d = (uintptr_t)*ptr[i] - lo;
		if (*ptr[i] == NULL || d > hi - lo)
			continue;
		if (d > len)
			d = len;
		/* Content ends there; _IO_write_end only marks room. */
		if (ptr[i] != &fp->_IO_write_end && d > used)
			used = d;
		*ptr[i] = to + d;
	}
	if (used > 0)
		memcpy(to, (char *)lo, used);
	fp->_IO_buf_base = to;
	fp->_IO_buf_end = to + len;
}

/* stdio's own buffer is its buffer again, which glibc frees at fclose(). */
static void let_go(struct spool *s)
{
	s->fp->_flags &= ~GLIBC_USER_BUF;
	s->iobuf = NULL;
	s->aim = NULL;
}

/* Hand stdio its own buffer back; returns where a pointer p into the
 * image's buffer now points (p if it was elsewhere). */
static char *unaim(struct spool *s, char *p)
{
	FILE *fp = s->fp;
	char *own = s->iobuf;
	uintptr_t d = (uintptr_t)p - (uintptr_t)fp->_IO_buf_base;
	int inside = d <= (uintptr_t)(fp->_IO_buf_end - fp->_IO_buf_base);

	rebase(fp, own, s->iolen);
	let_go(s);
	return inside ? own + d : p;
}

static void stdio_off_image(struct spool *s)
{
	if (in_place(s))
		(void)unaim(s, NULL);
}

/*
 * Where a read into buf goes. stdio reads into its buffer; if that is
 * the image, into its own instead. And never past the end of stdio's
 * buffer: glibc may have sized the read by the image's stretch, which
 * can be longer than its own buffer, before a seek in the same call
 * gave its own back (_IO_new_file_seekoff reads `delta` bytes).
 */
static char *read_buffer(struct spool *s, char *buf, size_t *n)
{
	const FILE *fp = s->fp;
	uintptr_t d;

	if (in_place(s))
		buf = unaim(s, buf);
	if (fp == NULL)
		return buf;
	d = (uintptr_t)buf - (uintptr_t)fp->_IO_buf_base;
	if (d < (uintptr_t)(fp->_IO_buf_end - fp->_IO_buf_base) &&
	    *n > (uintptr_t)(fp->_IO_buf_end - buf))
		*n = (size_t)(fp->_IO_buf_end - buf);
	return buf;
}

/* Fully buffered, no pushback in progress, no markers: the stdio
 * states in which the spool may swap its buffer (aim(), *_bigger()). */
static int plain_buffering(const FILE *fp)
{
	return fp->_markers == NULL &&
	       !(fp->_flags &
		 (GLIBC_UNBUFFERED | GLIBC_LINE_BUF | GLIBC_IN_BACKUP));
}

/* May stdio's buffer be moved into the image? `was`: it is there now. */
static int aimable(const FILE *fp, int was)
{
	return fp->_mode < 0 && plain_buffering(fp) &&
	       (was ||
		(!(fp->_flags & GLIBC_USER_BUF) && fp->_IO_buf_base != NULL &&
		 (size_t)(fp->_IO_buf_end - fp->_IO_buf_base) >= AIM_MIN));
}

/*
 * Make [to, to + len) stdio's buffer, every get and put pointer at its
 * start. Only inside a callback after which glibc sets every pointer
 * from _IO_buf_base anyway: a write (new_do_write()), where what stdio
 * held is the data just written, and a refill of the whole, empty
 * buffer (read_bigger()). Nothing is lost, and rebase(), the general
 * case, costs ten times as much at every flush.
 */
static void aim_at(FILE *fp, char *to, size_t len)
{
	fp->_IO_read_base = fp->_IO_read_ptr = fp->_IO_read_end = to;
	fp->_IO_write_base = fp->_IO_write_ptr = fp->_IO_write_end = to;
	fp->_IO_buf_base = to;
	fp->_IO_buf_end = to + len;
}

/* After a write stored in memory: point stdio's buffer at the image
 * just past the end, or give it its own back when it cannot be. */
static void aim(struct spool *s)
{
	FILE *fp = s->fp;
	int was = in_place(s);
	size_t len = 0;
	unsigned char *p = NULL;

	if (fp == NULL || !aimable(fp, was)) {
		stdio_off_image(s); /* moves the pushback pointers too */
		return;
	}
	if (s->pos == s->size && (size_t)s->pos < room(s) &&
	    (s->limit == 0 || s->pos < s->limit)) {
		p = piece(s, (size_t)s->pos, &len);
		if (len > AIM_MAX)
			len = AIM_MAX;
		/* Past the limit stdio writes into its own buffer, and the
		 * flush reports EFBIG as soon as it would without this. */
		if (s->limit > 0 && len > (uintmax_t)(s->limit - s->pos))
			len = (size_t)(s->limit - s->pos);
	}
	if (len < AIM_MIN) {
		/* No room at the end: stdio's own buffer, and nothing to
		 * copy into it, as with aim_at(). */
		if (was) {
			aim_at(fp, s->iobuf, s->iolen);
			let_go(s);
		}
		return;
	}
	if (!was) {
		s->iobuf = fp->_IO_buf_base;
		s->iolen = (size_t)(fp->_IO_buf_end - fp->_IO_buf_base);
		fp->_flags |= GLIBC_USER_BUF;
	}
	aim_at(fp, (char *)p, len);
	s->aim = (char *)p;
}
#else
static char *read_buffer(struct spool *s, char *buf, size_t *n)
{
	(void)s;
	(void)n;
	return buf;
}

static void stdio_off_image(struct spool *s)
{
	(void)s;
}

static void aim(struct spool *s)
{
	(void)s;
}
#endif

/*
 * Fresh memory costs a page fault per 4 KiB page at first touch, most of
 * the time of a cold fill here (24 ms for 64 MiB, where copying onto
 * mapped pages takes 2). MADV_POPULATE_WRITE (Linux 5.14) maps a range
 * inside the kernel in one call instead: a cold 64 MiB fwrite in 64 KiB
 * blocks went from 0.99x to 1.2x fmemopen (bench/README).
 * So writes into a fresh segment map the pages up to AHEAD bytes past
 * their end first; a sliding window, so that the spool's resident memory
 * stays its contents plus AHEAD, not its whole capacity. A segment is
 * fresh when its middle page is not resident: memory that malloc reuses
 * is mapped already, and the call would walk it for nothing (5 ms per
 * 64 MiB). Blocks under PREFAULT_MIN are not worth the mincore(). Both
 * calls are hints: if one fails, pages are mapped at first touch.
 */
#define PREFAULT_MIN ((size_t)1 << 20)
#define AHEAD ((size_t)1 << 20)

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

static int fresh(const void *p, size_t len)
{
	uintptr_t page = page_size();

	return len >= PREFAULT_MIN && page != 0 &&
	       absent((uintptr_t)p + len / 2, page);
}

/* Map the whole pages of [p, p + len), unless the first is mapped: then
 * this stretch was written before, in a block malloc reused. */
static void populate(unsigned char *p, size_t len)
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
static int fresh(const void *p, size_t len)
{
	(void)p;
	(void)len;
	return 0;
}

static void populate(unsigned char *p, size_t len)
{
	(void)p;
	(void)len;
}
#endif

/* A write will store image bytes [from, end): map the fresh segments'
 * pages from there, or from where the window ended, to AHEAD past end. */
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
			populate(g->p + lo, hi - from);
	}
}

/*
 * The segment table holds 64 at first (enough for 256 KiB to 180 GB) and
 * doubles from there. One allocation, not one per segment: small blocks
 * freed in between would sit in glibc's per-thread cache between the
 * segments, and a spool opened after this one could not reuse the
 * memory in the same places (measured: 75 against 67 MB resident after
 * repeated 64 MiB spools in one heap). A spool that never passes the
 * head has no table, and struct spool only a pointer to it.
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
	size_t n = t != NULL ? t->n : 0, skew = 0, at = room(s);
	unsigned char *p;

	if (len > PTRDIFF_MAX - SKEW) {
		errno = ENOMEM;
		return -1;
	}
	if (t == NULL || (n >= SEGS_MIN && (n & (n - 1)) == 0)) {
		t = spool__realloc(t, sizeof(*t) + segs_cap(n + 1) *
							   sizeof(t->seg[0]));
		if (t == NULL)
			return -1;
		if (s->segs == NULL)
			*t = (struct spool_segs){ .room = at, .ahead = at };
		s->segs = t;
	}
	p = spool__malloc(len + SKEW);
	if (p == NULL) {
		if (n == 0)
			segs_cut(s, 0);
		return -1;
	}
	if (w != NULL)
		skew = place(s, (uintptr_t)p - at, 0, w);
	t->seg[t->n++] = (struct spool_seg){
		.p = p + skew,
		.start = at,
		.len = len,
		.skew = skew,
		.fresh = fresh(p, len + SKEW),
	};
	t->room += len;
	return 0;
}

/*
 * Write the first len bytes of the memory image to fd, looping over EINTR
 * and short counts; 0 on success, -1 with errno. One writev(2) takes up
 * to IOV_BATCH pieces: a write(2) per segment made the rollover of a
 * 1 MiB image (eight pieces) cost 1.02x tmpfile() where one block cost
 * 0.78x.
 */
#define IOV_BATCH 64

static int img_write(struct spool *s, int fd, size_t len)
{
	struct iovec iov[IOV_BATCH];
	size_t at = 0, a, n;
	ssize_t w;
	int k;

	while (at < len) {
		for (k = 0, a = at; a < len && k < IOV_BATCH; k++, a += n) {
			iov[k].iov_base = piece(s, a, &n);
			if (n > len - a)
				n = len - a;
			iov[k].iov_len = n;
		}
		w = spool__writev(fd, iov, k);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		at += (size_t)w;
	}
	return 0;
}

/*
 * A temp file holding `len` bytes of `data` (NULL: of the memory image),
 * its offset at s->pos. Everything is written before anyone sees the
 * descriptor, so a failure leaves the caller's state untouched and the
 * file is simply closed.
 */
static int disk_create(struct spool *s, const void *data, size_t len)
{
	int fd, err, ok;

	fd = spool__tmpfile(s->dir, (s->mode & SPOOL_M_APPEND) != 0);
	if (fd < 0)
		return -1;
	ok = data != NULL ? fd_write(fd, data, len) == len
			  : img_write(s, fd, len) == 0;
	if (ok && spool__lseek(fd, s->pos, SEEK_SET) >= 0)
		return fd;
	err = errno;
	close(fd);
	errno = err;
	return -1;
}

int spool__roll(struct spool *s)
{
	int fd;

	if (s->fd >= 0)
		return 0;
	fd = disk_create(s, NULL, (size_t)s->size);
	if (fd < 0)
		return -1;
	mem_free(s);
	s->fd = fd;
	return 0;
}

/* Memory ran out (errno says so): move to disk instead, so the caller's
 * operation still succeeds. If that fails too, the memory error is the
 * one reported: it is what stopped the operation. */
int spool__roll_instead(struct spool *s)
{
	int err = errno;

	if (spool__roll(s) == 0)
		return 0;
	errno = err;
	return -1;
}

/* Do `n` more bytes at `at` still fit under the threshold? Written as a
 * subtraction so that neither side can overflow. */
static int fits(const struct spool *s, off_t at, size_t n)
{
	return (uintmax_t)at <= s->threshold &&
	       n <= s->threshold - (uintmax_t)at;
}

/*
 * Make room for `need` bytes (need <= threshold). Growth is by a quarter
 * at most, so a spool holding N bytes costs at most N + 25%, and never
 * passes the threshold: the head grows until it reaches HEAD_MAX, then
 * segments are added.
 */
static int mem_reserve(struct spool *s, size_t need, const struct store *w)
{
	size_t cap = s->cap + s->cap / 4, len, have = room(s);

	if (need <= have)
		return 0;
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

/* Cut the last segment to its first `keep` bytes (keep < len/2). */
static void seg_shrink(struct spool_segs *t, size_t keep)
{
	struct spool_seg *g = &t->seg[t->n - 1];
	unsigned char *p = spool__realloc(g->p - g->skew, keep + SKEW);

	if (p == NULL)
		return;
	g->p = p + g->skew;
	t->room -= g->len - keep;
	g->len = keep;
}

/* Give memory back after a cut: the segments past the end, and a block
 * that is now less than half used, so a truncated spool does not keep
 * its peak. Failing to shrink is harmless. */
static void mem_shrink(struct spool *s)
{
	size_t size = (size_t)s->size, n = 0;
	struct spool_segs *t = s->segs;
	const struct spool_seg *g;

	if (size == 0) {
		mem_free(s);
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
		seg_shrink(t, size - g->start);
}

/* Grow or cut the memory image to `length` (<= threshold); new bytes,
 * including any gap left by a seek past the end, read as zero. */
int spool__mem_resize(struct spool *s, off_t length)
{
	stdio_off_image(s);
	if (length > s->size) {
		if (mem_reserve(s, (size_t)length, NULL) < 0)
			return -1;
		img_put(s, (size_t)s->size, NULL, (size_t)(length - s->size));
		s->size = length;
	} else {
		s->size = length;
		mem_shrink(s);
	}
	return 0;
}

/*
 * Store n bytes at `at` in memory. When they would pass the threshold, or
 * memory runs out before it, roll over first and write to the file
 * instead: running out of memory must not lose the write. The position
 * moves only when bytes are stored, as with write(2).
 */
static size_t mem_store(struct spool *s, off_t at, const char *buf, size_t n)
{
	if (n == 0)
		return 0;
	if (fits(s, at, n)) {
		size_t end = (size_t)at + n;
		struct store w = { buf, at, n };

		if (mem_reserve(s, end, &w) == 0) {
			if (s->segs != NULL && end > s->segs->ahead)
				map_ahead(s, at < s->size ? (size_t)at
							  : (size_t)s->size,
					  end);
			/* A seek past the end left a gap: it reads as 0. */
			if (at > s->size)
				img_put(s, (size_t)s->size, NULL,
					(size_t)(at - s->size));
			img_put(s, (size_t)at, buf, n);
			s->pos = (off_t)end;
			if (s->pos > s->size)
				s->size = s->pos;
			return n;
		}
		if (spool__roll_instead(s) < 0)
			return 0;
	} else if (spool__roll(s) < 0) {
		return 0;
	}
	return fd_write(s->fd, buf, n);
}

/* Cut *n so that the write ends at the limit at the latest. */
static int clamp_to_limit(const struct spool *s, size_t *n)
{
	off_t at = write_offset(s);

	if (at < 0)
		return -1;
	if (at >= s->limit)
		*n = 0;
	else if ((uintmax_t)*n > (uintmax_t)(s->limit - at))
		*n = (size_t)(s->limit - at);
	return 0;
}

static ssize_t fd_read(int fd, void *buf, size_t n)
{
	ssize_t r;

	do
		r = spool__read(fd, buf, n);
	while (r < 0 && errno == EINTR);
	return r;
}

#ifdef STDIO_BUFFER
/*
 * On disk, a 64 KiB stdio buffer. glibc reads a cookie stream only
 * through its stdio buffer, 8 KiB (_IO_default_xsgetn; a file stream
 * reads big requests straight into the caller's memory): a 64 KiB fread()
 * on disk is eight read(2)s plus a copy, 0.6x the speed of tmpfile().
 * Writing, 8 KiB at a time is eight write(2)s per 64 KiB, and a file
 * written in small pieces is slower to read back: ext4 caches it in
 * small folios (probe: 64 MiB read in 64 KiB reads at 13-15 GB/s when
 * written 4-8 KiB at a time, 23-25 GB/s when written 64 KiB at a time).
 * setvbuf() works only before the first I/O, while the spool is still in
 * memory, and would make every small spool pay for the big buffer. So
 * the first time stdio refills its whole, empty buffer, or flushes it
 * full, on a spool that is on disk and whose threshold is at least 512
 * KiB (so the buffer is at most 1/8 of the memory the caller allowed),
 * a new 64 KiB block replaces glibc's. Why that is safe: glibc points
 * every buffer pointer at the buffer's start around the call and sets
 * them again from the FILE afterwards (libio/fileops.c: the read in
 * _IO_new_file_underflow, the write in new_do_write, which is also the
 * only caller of the write callback; _IO_new_file_seekoff likewise), and
 * a buffer without _IO_USER_BUF is malloc's, which glibc frees at
 * fclose(). A buffer or buffering mode the caller chose with setvbuf()
 * is left alone.
 */
#define BIG_IOBUF ((size_t)64 << 10)

/* Is stdio's buffer glibc's own, in a mode it chose, without pushback
 * or markers, and smaller than ours? */
static int default_buffer(const FILE *fp)
{
	return !(fp->_flags & GLIBC_USER_BUF) && plain_buffering(fp) &&
	       fp->_mode <= 0 &&
	       (size_t)(fp->_IO_buf_end - fp->_IO_buf_base) < BIG_IOBUF;
}

/* Is this glibc refilling its whole buffer, every pointer at its start? */
static int whole_refill(const FILE *fp, const char *buf, size_t n)
{
	return buf == fp->_IO_buf_base &&
	       n == (size_t)(fp->_IO_buf_end - fp->_IO_buf_base) &&
	       fp->_IO_read_base == buf && fp->_IO_read_ptr == buf &&
	       fp->_IO_read_end == buf && fp->_IO_write_base == buf &&
	       fp->_IO_write_ptr == buf && fp->_IO_write_end == buf &&
	       default_buffer(fp);
}

/* Read into a new 64 KiB stdio buffer; -2: not now, read as usual. */
static ssize_t read_bigger(struct spool *s, char *buf, size_t n)
{
	FILE *fp = s->fp;
	char *big;
	ssize_t r;

	if (s->threshold < 8 * BIG_IOBUF || !whole_refill(fp, buf, n) ||
	    (big = spool__malloc(BIG_IOBUF)) == NULL)
		return -2;
	r = fd_read(s->fd, big, BIG_IOBUF);
	if (r <= 0) {
		int err = errno;

		free(big);
		errno = err;
		return r;
	}
	aim_at(fp, big, BIG_IOBUF);
	free(buf);
	return r;
}

/* After glibc's buffer was flushed full to disk: a 64 KiB one from now
 * on. buf is that buffer, written and no longer needed; if the block
 * cannot be had, the old buffer stays. */
static void write_bigger(struct spool *s, const char *buf, size_t n)
{
	FILE *fp = s->fp;
	char *big;

	if (fp == NULL || s->threshold < 8 * BIG_IOBUF ||
	    buf != fp->_IO_buf_base ||
	    n != (size_t)(fp->_IO_buf_end - fp->_IO_buf_base) ||
	    !default_buffer(fp) || (big = spool__malloc(BIG_IOBUF)) == NULL)
		return;
	aim_at(fp, big, BIG_IOBUF);
	free((char *)buf);
}
#else
static ssize_t read_bigger(struct spool *s, char *buf, size_t n)
{
	(void)s;
	(void)buf;
	(void)n;
	return -2;
}

static void write_bigger(struct spool *s, const char *buf, size_t n)
{
	(void)s;
	(void)buf;
	(void)n;
}
#endif

/*
 * A read in memory asks the CPU to start loading what the next one will
 * copy: the next READ_AHEAD bytes of the image (within one piece). Its
 * hardware prefetchers stop at every 4 KiB page; a hint runs across
 * them. Warm 64 MiB, interleaved with fmemopen in one process: fgets
 * 0.999x -> 1.039x, and a 64 KiB fread 15-16 -> 20-23 GB/s; 32 KiB of
 * hints did worse for fgets (1.020x). Only a hint: nothing changes.
 */
#define READ_AHEAD ((size_t)16 << 10)

static void read_ahead(struct spool *s)
{
#if defined(__GNUC__) || defined(__clang__)
	const unsigned char *p;
	size_t len, k;

	if (s->pos >= s->size)
		return;
	p = piece(s, (size_t)s->pos, &len);
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

/*
 * glibc: read returns the bytes read, 0 at end of data, -1 on error.
 * Reads may start past the end (read-ahead after a seek): end of data.
 */
static ssize_t spool_read(void *cookie, char *buf, size_t n)
{
	struct spool *s = cookie;
	ssize_t r;

	if (!(s->mode & SPOOL_M_READ)) {
		errno = EBADF;
		return -1;
	}
	buf = read_buffer(s, buf, &n);
	if (s->fd >= 0) {
		r = read_bigger(s, buf, n);
		return r != -2 ? r : fd_read(s->fd, buf, n);
	}
	if (s->pos >= s->size)
		return 0;
	if ((uintmax_t)n > (uintmax_t)(s->size - s->pos))
		n = (size_t)(s->size - s->pos);
	img_get(s, (size_t)s->pos, buf, n);
	s->pos += (off_t)n;
	read_ahead(s);
	return (ssize_t)n;
}

/*
 * glibc bug (2.36, every cookie stream, fmemopen too): before flushing
 * output written into a buffer that still holds read-ahead, glibc seeks
 * back and records the resulting offset in fp->_offset; file writes then
 * advance it, cookie writes do not. A later fseeko(fp, 0, SEEK_CUR) -
 * the idiom for switching from writing to reading - lands before the
 * bytes just written. Marking the offset unknown (-1, _IO_pos_BAD) makes
 * glibc ask the seek callback instead, as it does for ftell().
 */
static void forget_offset(FILE *fp)
{
#ifdef HAVE_STRUCT__IO_FILE__OFFSET
	if (fp != NULL)
		fp->_offset = -1;
#else
	(void)fp;
#endif
}

/*
 * What stdio is told about a write of n bytes that stored `done`. musl's
 * stdio (1.2.3) ignores a short count, 0 included: fflush() and fclose()
 * then succeed and silently drop the rest of the buffer; only -1 sets
 * the error flag there. glibc reports any short count and crashes on -1
 * (below). configure tells which stdio this is.
 */
static ssize_t written(size_t done, size_t n)
{
#ifdef COOKIE_SHORT_WRITE_IGNORED
	if (done < n)
		return -1;
#else
	(void)n;
#endif
	return (ssize_t)done;
}

/*
 * glibc: write returns the bytes stored; any count below n sets the error
 * flag and drops the rest of stdio's buffer. Never return -1: glibc adds
 * the count to a size_t and fwrite then crashes (glibc 2.36). So a
 * failure returns what was stored, 0 included, with errno set (-1 where
 * stdio ignores short counts: see written()).
 * stdio does not enforce append mode on cookie streams; we do.
 */
static ssize_t spool_write(void *cookie, const char *buf, size_t n)
{
	struct spool *s = cookie;
	size_t want = n > SSIZE_MAX ? SSIZE_MAX : n, done;

	if (!(s->mode & SPOOL_M_WRITE)) {
		errno = EBADF;
		return written(0, n);
	}
	if (s->limit > 0 && clamp_to_limit(s, &want) < 0)
		return written(0, n);
	if (s->fd < 0) {
		off_t at = write_offset(s);

		/* Overflow guard: a write that would end past OFF_MAX is
		 * refused whole with EINVAL, as write(2) refuses it on any
		 * file (on disk the kernel does this itself). */
		if ((uintmax_t)want > (uintmax_t)(SPOOL_OFF_MAX - at)) {
			errno = EINVAL;
			done = 0;
		} else {
			done = mem_store(s, at, buf, want);
		}
	} else {
		done = fd_write(s->fd, buf, want);
	}
	if (done == want && want < n)
		errno = EFBIG;
	forget_offset(s->fp);
	if (s->fd < 0)
		aim(s);
	else if (done == n)
		write_bigger(s, buf, n);
	return written(done, n);
}

/*
 * glibc: store the new absolute offset in *off and return 0, or -1 with
 * errno. ftell() calls this with (0, SEEK_CUR) every time, so it has no
 * side effects. Every target >= 0 is accepted, as a file does: glibc's
 * fseek on a readable stream ends with a relative seek it cannot undo.
 * The offset is an off_t, not glibc's off64_t: both are 64 bits here
 * (AC_SYS_LARGEFILE), musl's cookie_seek_function_t takes an off_t, and
 * musl >= 1.2.4 has no off64_t without _LARGEFILE64_SOURCE.
 */
static int spool_seek(void *cookie, off_t *off, int whence)
{
	struct spool *s = cookie;
	off_t base;

	if (s->fd >= 0) {
		off_t r = spool__lseek(s->fd, *off, whence);

		if (r < 0)
			return -1;
		*off = r;
		return 0;
	}
	switch (whence) {
	case SEEK_SET:
		base = 0;
		break;
	case SEEK_CUR:
		base = s->pos;
		break;
	case SEEK_END:
		base = s->size;
		break;
	default:
		errno = EINVAL;
		return -1;
	}
	/* Overflow guard: a target past OFF_MAX fails as lseek(2) does. */
	if ((*off > 0 && base > SPOOL_OFF_MAX - *off) || base + *off < 0) {
		errno = EINVAL;
		return -1;
	}
	/* stdio's buffer in the image belongs at the end: see aim(). */
	if (base + *off != s->pos)
		stdio_off_image(s);
	s->pos = base + *off;
	*off = s->pos;
	return 0;
}

/*
 * glibc: called exactly once by fclose(), after the final flush, even
 * when that failed; fclose() returns our value when it is non-zero.
 * A close(2) error on a temp file that is being thrown away tells the
 * caller nothing, so it is not reported.
 */
static void destroy(struct spool *s)
{
	int err = errno;

	if (s->fd >= 0)
		close(s->fd);
	mem_free(s);
	free(s->dir);
	free(s);
	errno = err;
}

static int spool_close(void *cookie)
{
	spool__unregister(cookie);
	destroy(cookie);
	return 0;
}

static const cookie_io_functions_t spool_io = {
	.read = spool_read,
	.write = spool_write,
	.seek = spool_seek,
	.close = spool_close,
};

/*
 * fopen()'s modes: r, w or a, then at most one each of '+', 'b', 'e' in
 * any order. Returns the SPOOL_M_* bits, or 0 for anything else.
 */
static unsigned parse_mode(const char *mode)
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

/* The mode glibc needs: it only reads r/w/a and '+' from it. */
static const char *stdio_mode(unsigned m)
{
	int plus = (m & SPOOL_M_READ) && (m & SPOOL_M_WRITE);

	if (m & SPOOL_M_APPEND)
		return plus ? "a+" : "a";
	if (m & SPOOL_M_TRUNC)
		return plus ? "w+" : "w";
	return plus ? "r+" : "r";
}

/* Reject what no spool can honour before allocating anything. */
static int check_opts(const struct spool_options *o, unsigned m)
{
	if (o == NULL || m == 0 || o->flags != 0 || o->limit < 0 ||
	    (o->data == NULL && o->data_len != 0) ||
	    ((m & SPOOL_M_TRUNC) && o->data != NULL)) {
		errno = EINVAL;
		return -1;
	}
	/* Overflow guard: initial data must fit in an off_t and the limit. */
	if ((uintmax_t)o->data_len > (uintmax_t)SPOOL_OFF_MAX ||
	    (o->limit > 0 && (uintmax_t)o->data_len > (uintmax_t)o->limit)) {
		errno = EFBIG;
		return -1;
	}
	return 0;
}

/*
 * Copy the initial contents in, to memory or, past the threshold,
 * straight to disk. "a" starts at the end, as fopen() does; the other
 * modes at 0.
 */
static int load(struct spool *s, const void *data, size_t len)
{
	if ((s->mode & SPOOL_M_APPEND) && !(s->mode & SPOOL_M_READ))
		s->pos = (off_t)len;
	if (len == 0)
		return 0;
	/* Past the threshold, or when memory runs out: straight to disk. */
	if (len > s->threshold || spool__mem_resize(s, (off_t)len) < 0) {
		s->fd = disk_create(s, data, len);
		return s->fd < 0 ? -1 : 0;
	}
	img_put(s, 0, data, len);
	return 0;
}

#if defined(HAVE_STRUCT__IO_FILE__FLAGS2) && \
    defined(HAVE_SYS_SINGLE_THREADED_H) && defined(__GLIBC__)
#include <sys/single_threaded.h>

#define GLIBC_NEED_LOCK 128 /* _IO_FLAGS2_NEED_LOCK, libio/libio.h */

/*
 * While a process has one thread, glibc skips the stream lock in putc(),
 * getc(), ungetc(), feof() and ferror(), except on streams marked
 * _IO_FLAGS2_NEED_LOCK - and it marks every cookie stream, because a
 * caller's callback might create a thread in the middle of such a call
 * (libio/genops.c, _IO_enable_locks). A spool's callbacks are the
 * library's own and never do. So a spool opened by a single-threaded
 * process drops the mark, as a fopen() stream has it: putc() then costs
 * no atomic operations (5x faster). The first pthread_create() marks
 * every stream on glibc's list again, spools included (fopencookie links
 * them in), and streams opened after that keep the mark.
 */
static void lock_like_a_file(FILE *fp)
{
	if (__libc_single_threaded)
		fp->_flags2 &= ~GLIBC_NEED_LOCK;
}
#else
static void lock_like_a_file(FILE *fp)
{
	(void)fp;
}
#endif

FILE *spool_fopen_opts(const struct spool_options *opts, const char *mode)
{
	unsigned m = parse_mode(mode);
	struct spool *s;

	if (check_opts(opts, m) < 0)
		return NULL;
	/* malloc, not calloc: glibc 2.36's calloc skips the per-thread
	 * cache, and was the largest cost of a short-lived spool. */
	s = spool__malloc(sizeof(*s));
	if (s == NULL)
		return NULL;
	*s = (struct spool){
		.fd = -1,
		.mode = m,
		.threshold = opts->threshold,
		.limit = opts->limit,
	};
	if (opts->dir != NULL && (s->dir = spool__strdup(opts->dir)) == NULL)
		goto fail;
	if (load(s, opts->data, opts->data_len) < 0)
		goto fail;
	s->fp = spool__fopencookie(s, stdio_mode(m), spool_io);
	if (s->fp == NULL)
		goto fail;
	lock_like_a_file(s->fp);
	if (spool__register(s) < 0) {
		int err = errno;
		FILE *fp = s->fp;

		s = NULL; /* fclose() runs spool_close(), which frees it */
		fclose(fp);
		errno = err;
		return NULL;
	}
	return s->fp;
fail:
	destroy(s);
	return NULL;
}

FILE *spool_fopen(size_t threshold, const char *mode)
{
	struct spool_options o = { .threshold = threshold };

	return spool_fopen_opts(&o, mode);
}
