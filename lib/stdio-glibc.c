/* SPDX-License-Identifier: MIT */
/*
 * stdio-glibc.c - the glibc seam. Everything libspool does to glibc's
 * private FILE is here, in named operations (stdio-glibc.h), and engaged
 * only where it is known to hold:
 *   - built with the internals (configure's --disable-glibc-internals
 *     leaves them out; so does any libc but glibc),
 *   - on a glibc whose version the project's CI has run the whole test
 *     suite on (SPOOL_GLIBC_TESTED_MIN..MAX, fixed at build time), and
 *   - after a self-probe at first use, on throwaway cookie streams, has
 *     seen glibc do exactly what the operations rely on.
 * Otherwise every spool takes the portable path: plain cookie callbacks,
 * and only the _offset workaround, which has a probe of its own.
 * SPOOL_STDIO=portable forces the portable path; SPOOL_STDIO=fast skips
 * the version check (to prove a new glibc), never the probe.
 *
 * The flag values and fields are glibc's (libio/libio.h,
 * bits/types/struct_FILE.h); as gnulib says of its stdio-impl.h: do not
 * rely on glibc internals without a probe and a fallback.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spool-internal.h"
#include "stdio-glibc.h"

#ifdef SPOOL_GLIBC_INTERNALS
#include <gnu/libc-version.h>
#include <pthread.h>
#include <sys/single_threaded.h>

#ifndef HAVE_SECURE_GETENV
#define secure_getenv getenv
#endif

/* glibc's FILE flags the seam looks at (libio/libio.h), each once. */
#define GLIBC_MAGIC_MASK 0xFFFF0000u /* _IO_MAGIC_MASK */
#define GLIBC_MAGIC 0xFBAD0000u	     /* _IO_MAGIC */
#define GLIBC_USER_BUF 0x0001	     /* _IO_USER_BUF */
#define GLIBC_UNBUFFERED 0x0002	     /* _IO_UNBUFFERED */
#define GLIBC_IN_BACKUP 0x0100	     /* _IO_IN_BACKUP */
#define GLIBC_LINE_BUF 0x0200	     /* _IO_LINE_BUF */
#define GLIBC_NEED_LOCK 128	     /* _IO_FLAGS2_NEED_LOCK (_flags2) */
#define GLIBC_POS_BAD ((off_t)-1)    /* _IO_pos_BAD */

/*
 * Lending stdio a buffer: spool.c lends it the stretch of the memory
 * image past the end, so that stdio writes in place.
 *
 * How stdio is handed the buffer, and why that is safe (glibc 2.36,
 * libio/fileops.c and genops.c):
 * - Only a write callback points stdio at the image. Its only caller is
 *   new_do_write(), which afterwards sets every get and put pointer from
 *   _IO_buf_base/_IO_buf_end. The buffer so handed out lies in the
 *   image's room (so under the threshold), past the contents, and
 *   within one piece, and may be longer than stdio's own buffer
 *   (spool.c, LEND_MAX).
 * - Bytes stdio holds there and never flushes (__fpurge(), a write cut
 *   by the limit) lie past the end of the contents, where nothing reads.
 *   A flush of them always fits: no growth, no rollover, no failure.
 * - Anything that would move the position away from the end, read, move
 *   or free the image, or close the stream first hands stdio its own
 *   buffer back (spool__stdio_take_back()), moving every pointer and every
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

/* Is stdio writing into a lent buffer? Forgets that, and frees stdio's
 * own buffer, once the caller has replaced the buffer (setvbuf()). */
static int lent(struct spool_stdio *io, const FILE *fp)
{
	if (io->own == NULL)
		return 0;
	if (fp->_IO_buf_base == io->lent)
		return 1;
	free(io->own);
	io->own = NULL;
	io->lent = NULL;
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
static void let_go(struct spool_stdio *io, FILE *fp)
{
	fp->_flags &= ~GLIBC_USER_BUF;
	io->own = NULL;
	io->lent = NULL;
}

char *spool__stdio_take_back_lent(struct spool_stdio *io, FILE *fp, char *p)
{
	char *own = io->own;
	uintptr_t d;
	int inside;

	if (!lent(io, fp))
		return p;
	d = (uintptr_t)p - (uintptr_t)fp->_IO_buf_base;
	inside = d <= (uintptr_t)(fp->_IO_buf_end - fp->_IO_buf_base);
	rebase(fp, own, io->own_len);
	let_go(io, fp);
	return inside ? own + d : p;
}

/* Fully buffered, no pushback in progress, no markers: the stdio
 * states in which the seam may swap its buffer. */
static int plain_buffering(const FILE *fp)
{
	return fp->_markers == NULL &&
	       !(fp->_flags &
		 (GLIBC_UNBUFFERED | GLIBC_LINE_BUF | GLIBC_IN_BACKUP));
}

int spool__stdio_may_lend(struct spool_stdio *io, FILE *fp)
{
	if (!io->fast || fp == NULL)
		return 0;
	return fp->_mode < 0 && plain_buffering(fp) &&
	       (lent(io, fp) ||
		(!(fp->_flags & GLIBC_USER_BUF) && fp->_IO_buf_base != NULL &&
		 (size_t)(fp->_IO_buf_end - fp->_IO_buf_base) >=
		     SPOOL_LEND_MIN));
}

/*
 * Make [to, to + len) stdio's buffer, every get and put pointer at its
 * start. Only inside a callback after which glibc sets every pointer
 * from _IO_buf_base anyway: a write (new_do_write()), where what stdio
 * held is the data just written, and a refill of the whole, empty
 * buffer (spool__stdio_bigger()). Nothing is lost, and rebase(), the
 * general case, costs ten times as much at every flush.
 */
static void point_at(FILE *fp, char *to, size_t len)
{
	fp->_IO_read_base = fp->_IO_read_ptr = fp->_IO_read_end = to;
	fp->_IO_write_base = fp->_IO_write_ptr = fp->_IO_write_end = to;
	fp->_IO_buf_base = to;
	fp->_IO_buf_end = to + len;
}

void spool__stdio_lend(struct spool_stdio *io, FILE *fp, char *to, size_t len)
{
	if (!io->fast || fp == NULL)
		return;
	if (len < SPOOL_LEND_MIN) {
		/* No room to lend: stdio's own buffer, and nothing to copy
		 * into it, as with point_at(). */
		if (lent(io, fp)) {
			point_at(fp, io->own, io->own_len);
			let_go(io, fp);
		}
		return;
	}
	if (!lent(io, fp)) {
		io->own = fp->_IO_buf_base;
		io->own_len = (size_t)(fp->_IO_buf_end - fp->_IO_buf_base);
		fp->_flags |= GLIBC_USER_BUF;
	}
	point_at(fp, to, len);
	io->lent = to;
}

const void *spool__stdio_flush_source(const struct spool_stdio *io,
				      const FILE *fp)
{
	if (!io->fast || fp == NULL || io->own != NULL ||
	    fp->_IO_buf_end - fp->_IO_buf_base < 4096)
		return NULL;
	return fp->_IO_buf_base;
}

/*
 * Where a read into buf goes. stdio reads into its buffer; if that is
 * a lent one, into its own instead. And never past the end of stdio's
 * buffer: glibc may have sized the read by the lent stretch, which can
 * be longer than its own buffer, before a seek in the same call gave its
 * own back (_IO_new_file_seekoff reads `delta` bytes).
 */
char *spool__stdio_read_target(struct spool_stdio *io, FILE *fp, char *buf,
			       size_t *n)
{
	uintptr_t d;

	if (!io->fast || fp == NULL)
		return buf;
	buf = spool__stdio_take_back(io, fp, buf);
	d = (uintptr_t)buf - (uintptr_t)fp->_IO_buf_base;
	if (d < (uintptr_t)(fp->_IO_buf_end - fp->_IO_buf_base) &&
	    *n > (uintptr_t)(fp->_IO_buf_end - buf))
		*n = (size_t)(fp->_IO_buf_end - buf);
	return buf;
}

/*
 * A bigger stdio buffer (spool.c swaps one in on disk, and says why).
 * Why swapping is safe: glibc points every buffer pointer at the
 * buffer's start around the call and sets them again from the FILE
 * afterwards (libio/fileops.c: the read in _IO_new_file_underflow, the
 * write in new_do_write, which is also the only caller of the write
 * callback; _IO_new_file_seekoff likewise), and a buffer without
 * _IO_USER_BUF is malloc's, which glibc frees at fclose(). A buffer or
 * buffering mode the caller chose with setvbuf() is left alone.
 */
/* Is stdio's buffer glibc's own, in a mode it chose, without pushback
 * or markers, and smaller than len? */
static int default_buffer(const FILE *fp, size_t len)
{
	return !(fp->_flags & GLIBC_USER_BUF) && plain_buffering(fp) &&
	       fp->_mode <= 0 &&
	       (size_t)(fp->_IO_buf_end - fp->_IO_buf_base) < len;
}

/* Is this glibc refilling its whole buffer, every pointer at its start? */
static int whole_refill(const FILE *fp, const char *buf)
{
	return fp->_IO_read_base == buf && fp->_IO_read_ptr == buf &&
	       fp->_IO_read_end == buf && fp->_IO_write_base == buf &&
	       fp->_IO_write_ptr == buf && fp->_IO_write_end == buf;
}

char *spool__stdio_bigger(const struct spool_stdio *io, FILE *fp,
			  const char *buf, size_t n, size_t len, int refill)
{
	if (!io->fast || fp == NULL || buf != fp->_IO_buf_base ||
	    n != (size_t)(fp->_IO_buf_end - fp->_IO_buf_base) ||
	    !default_buffer(fp, len) || (refill && !whole_refill(fp, buf)))
		return NULL;
	if (buf == io->big && len <= io->big_len)
		return io->big;
	return spool__malloc(len);
}

/* Swap big in for stdio's buffer, which is freed unless it is big. */
static void swap_in(FILE *fp, char *big, size_t len)
{
	char *old = fp->_IO_buf_base;

	point_at(fp, big, len);
	if (old != big)
		free(old);
}

void spool__stdio_swap(struct spool_stdio *io, FILE *fp, char *big, size_t len)
{
	swap_in(fp, big, len);
	io->big = big;
	io->big_len = (unsigned)len;
}

/*
 * Why a buffer is cut short: a full flush writes the whole buffer, and
 * glibc's fwrite() writes whole multiples of the buffer's length
 * straight from the caller's bytes, so once one flush ends off a
 * boundary every later one does too (the first flush after a spool
 * moves to disk is glibc's 8 KiB buffer: 64 KiB writes then land 8 KiB
 * past each 64 KiB boundary, and ext4 caches such a file in 8-32 KiB
 * folios, slower to read and to splice; bench/README). glibc reads the
 * buffer's length again after each flush (_IO_new_file_xsputn), so a
 * buffer that ends on a boundary lines up both.
 */
void spool__stdio_fit(const struct spool_stdio *io, FILE *fp, size_t len)
{
	if (!io->fast || fp == NULL || io->big == NULL ||
	    fp->_IO_buf_base != io->big || len == 0 || len > io->big_len ||
	    (fp->_flags & GLIBC_USER_BUF) || !plain_buffering(fp))
		return;
	point_at(fp, io->big, len);
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
void spool__stdio_forget_offset(const struct spool_stdio *io, FILE *fp)
{
	if (io->fix_offset && fp != NULL)
		fp->_offset = GLIBC_POS_BAD;
}

/*
 * ungetc() straight after output (undefined in ISO C) leaves glibc in
 * put mode while its get area is the pushback area. Any write then -
 * a flush of pending output, or a write straight from the caller's
 * bytes (unbuffered, or an fwrite() past the buffer) with nothing
 * pending - first seeks by the distance between two unrelated buffers
 * (new_do_write(), _IO_write_base - _IO_read_end) and, should that seek
 * succeed, resets the get area over the saved one, so fclose() frees
 * stdio's buffer or its one-byte _shortbuf; a regular file aborts the
 * same way. The spool refuses that seek (EINVAL), and, while output is
 * pending, every other one (ftell() would count from the pushback area),
 * so the write fails and the stream closes cleanly. The seeks glibc
 * makes there for a reason - ftell()'s (0, SEEK_CUR), fflush()'s back
 * over the pushback - stay within the pushback area and pass.
 */
int spool__stdio_confused(const struct spool_stdio *io, const FILE *fp,
			  off_t off, int whence)
{
	off_t to_write_base;

	if (!io->fast || fp == NULL || !(fp->_flags & GLIBC_IN_BACKUP))
		return 0;
	if (fp->_IO_write_ptr > fp->_IO_write_base)
		return 1;
	to_write_base = (off_t)((uintptr_t)fp->_IO_write_base -
				(uintptr_t)fp->_IO_read_end);
	return whence == SEEK_CUR && off == to_write_base && off != 0;
}

/*
 * While a process has one thread, glibc skips the stream lock in putc(),
 * getc(), ungetc(), feof() and ferror(), except on streams marked
 * _IO_FLAGS2_NEED_LOCK - and it marks every cookie stream, because a
 * caller's callback might create a thread in the middle of such a call
 * (libio/genops.c, _IO_enable_locks). A spool's callbacks are the
 * library's own and never do. So a spool opened by a single-threaded
 * process drops the mark, as a fopen() stream has it: putc() then costs
 * no atomic operations (bench/README, "Figures behind lib/'s
 * comments"). The first pthread_create() marks
 * every stream on glibc's list again, spools included (fopencookie links
 * them in), and streams opened after that keep the mark.
 */
void spool__stdio_opened(const struct spool_stdio *io, FILE *fp)
{
	if (io->fast && __libc_single_threaded)
		fp->_flags2 &= ~GLIBC_NEED_LOCK;
}

/*
 * The self-probe. Two throwaway cookie streams over a small buffer of
 * their own, run once per process before the first spool opens, replay
 * what the operations above rely on and check every field they touch.
 * The checks read before they write: a FILE whose magic, orientation,
 * buffer or pointers are not where they should be is never written to.
 */
struct probe {
	char data[64];
	size_t pos, size;
	off_t last_seek; /* the last offset the seek callback returned */
	int offset_seen; /* the write callback found _offset == last_seek */
	int writes;
	int lend_ok; /* every pointer where it belongs after a lend */
	FILE *fp;
	char *own;
	size_t own_len;
	char *big; /* a buffer the read callback swaps in */
	char block[1024];
};

static ssize_t probe_read(void *cookie, char *buf, size_t n)
{
	struct probe *p = cookie;

	if (p->pos >= p->size)
		return 0;
	if (n > p->size - p->pos)
		n = p->size - p->pos;
	memcpy(buf, p->data + p->pos, n);
	p->pos += n;
	return (ssize_t)n;
}

static ssize_t probe_write(void *cookie, const char *buf, size_t n)
{
	struct probe *p = cookie;

	if (n > sizeof(p->data) - p->pos)
		return 0;
	memcpy(p->data + p->pos, buf, n);
	p->pos += n;
	if (p->pos > p->size)
		p->size = p->pos;
	p->writes++;
	return (ssize_t)n;
}

static int probe_seek(void *cookie, off_t *off, int whence)
{
	struct probe *p = cookie;
	off_t base = whence == SEEK_SET	  ? 0
		     : whence == SEEK_CUR ? (off_t)p->pos
					  : (off_t)p->size;

	if (whence != SEEK_SET && whence != SEEK_CUR && whence != SEEK_END)
		return -1;
	if (base + *off < 0 || base + *off > (off_t)sizeof(p->data))
		return -1;
	p->pos = (size_t)(base + *off);
	p->last_seek = *off = (off_t)p->pos;
	return 0;
}

static int probe_close(void *cookie)
{
	(void)cookie;
	return 0;
}

/* The _offset probe's write callback: glibc has just sought back over
 * its read-ahead and cached the result in _offset; it will not advance
 * it for this write (the bug). Check that, then apply the workaround. */
static ssize_t probe_offset_write(void *cookie, const char *buf, size_t n)
{
	struct probe *p = cookie;

	if (p->fp->_offset == p->last_seek && p->last_seek >= 0) {
		p->offset_seen = 1;
		p->fp->_offset = GLIBC_POS_BAD;
	}
	return probe_write(cookie, buf, n);
}

/* Read "abc", write after the read-ahead, and ask where the stream is:
 * 2 with the workaround (glibc says 1 without it). */
static int probe_offset(void)
{
	cookie_io_functions_t io = {probe_read, probe_offset_write, probe_seek,
				    probe_close};
	struct probe p = {.data = "abc", .size = 3, .last_seek = -1};
	int ok;

	p.fp = fopencookie(&p, "r+", io);
	if (p.fp == NULL)
		return 0;
	ok = fgetc(p.fp) == 'a' && fputc('X', p.fp) == 'X' &&
	     fseeko(p.fp, 0, SEEK_CUR) == 0 && p.offset_seen &&
	     ftello(p.fp) == 2 && memcmp(p.data, "aXc", 3) == 0;
	return (fclose(p.fp) == 0) & ok;
}

/* The lend probe's write callback: the first flush lends stdio the
 * probe's block, the second gives stdio its own buffer back. */
static ssize_t probe_lend_write(void *cookie, const char *buf, size_t n)
{
	struct probe *p = cookie;
	FILE *fp = p->fp;

	if (p->writes == 0 && buf == fp->_IO_buf_base && n == 3 &&
	    fp->_IO_write_ptr == buf + 3) {
		p->own = fp->_IO_buf_base;
		p->own_len = (size_t)(fp->_IO_buf_end - fp->_IO_buf_base);
		fp->_flags |= GLIBC_USER_BUF;
		point_at(fp, p->block, sizeof(p->block));
	} else if (p->writes == 1 && p->own != NULL && buf == p->block &&
		   n == 1) {
		point_at(fp, p->own, p->own_len);
		fp->_flags &= ~GLIBC_USER_BUF;
		p->own = NULL;
	}
	return probe_write(cookie, buf, n);
}

/* Every pointer at the start of [to, to + len), as glibc leaves them
 * after a write callback, but for _IO_write_end at the end. */
static int reset_to(const FILE *fp, const char *to, size_t len)
{
	return fp->_IO_buf_base == to && fp->_IO_buf_end == to + len &&
	       fp->_IO_read_base == to && fp->_IO_read_ptr == to &&
	       fp->_IO_read_end == to && fp->_IO_write_base == to &&
	       fp->_IO_write_ptr == to && fp->_IO_write_end == to + len;
}

/* A fresh cookie stream: glibc's magic, byte-oriented, no buffer yet,
 * marked as needing its lock, and none of the flags the seam tests. */
static int fresh_stream(const FILE *fp)
{
	return ((unsigned)fp->_flags & GLIBC_MAGIC_MASK) == GLIBC_MAGIC &&
	       fp->_mode < 0 && fp->_IO_buf_base == NULL &&
	       fp->_markers == NULL && (fp->_flags2 & GLIBC_NEED_LOCK) &&
	       !(fp->_flags & (GLIBC_USER_BUF | GLIBC_UNBUFFERED |
			       GLIBC_IN_BACKUP | GLIBC_LINE_BUF));
}

/* The lend probe's read callback swaps in a bigger buffer, as a spool
 * on disk does (spool.c, read_bigger()). */
static ssize_t probe_lend_read(void *cookie, char *buf, size_t n)
{
	struct probe *p = cookie;
	FILE *fp = p->fp;

	if (p->big != NULL && buf == fp->_IO_buf_base &&
	    n == (size_t)(fp->_IO_buf_end - fp->_IO_buf_base) &&
	    whole_refill(fp, buf)) {
		swap_in(fp, p->big, 2 * n);
		buf = p->big;
		p->big = NULL;
	}
	return probe_read(cookie, buf, n);
}

/* Write, flush, write in the lent block, flush, take it back, then
 * refill through a bigger buffer swapped in by the read callback. */
static int probe_lend_steps(struct probe *p)
{
	FILE *fp = p->fp;
	char *big;

	if (!fresh_stream(fp) || fwrite("abc", 1, 3, fp) != 3 ||
	    fp->_IO_buf_base == NULL ||
	    fp->_IO_write_ptr != fp->_IO_buf_base + 3 ||
	    fp->_IO_buf_end - fp->_IO_buf_base < (ptrdiff_t)SPOOL_LEND_MIN)
		return 0;
	if (fflush(fp) != 0 || p->own == NULL ||
	    !reset_to(fp, p->block, sizeof(p->block)))
		return 0;
	if (fputc('d', fp) != 'd' || p->block[0] != 'd' ||
	    fp->_IO_write_ptr != p->block + 1)
		return 0;
	if (fflush(fp) != 0 || p->own != NULL || p->writes != 2 ||
	    memcmp(p->data, "abcd", 4) != 0 || fp->_IO_buf_base == p->block)
		return 0;
	/* The lock mark can go, and stdio still works. */
	fp->_flags2 &= ~GLIBC_NEED_LOCK;
	big = malloc(2 * (size_t)(fp->_IO_buf_end - fp->_IO_buf_base));
	if (big == NULL)
		return 0;
	p->big = big;
	if (fseeko(fp, 0, SEEK_SET) != 0 || fgetc(fp) != 'a' ||
	    p->big != NULL) {
		free(p->big);
		p->big = NULL;
		return 0;
	}
	return fp->_IO_buf_base == big && fp->_IO_read_base == big &&
	       fp->_IO_read_ptr == big + 1 && fp->_IO_read_end == big + 4;
}

static int probe_lend(void)
{
	cookie_io_functions_t io = {probe_lend_read, probe_lend_write,
				    probe_seek, probe_close};
	struct probe p = {.last_seek = -1};
	int ok;

	p.fp = fopencookie(&p, "w+", io);
	if (p.fp == NULL)
		return 0;
	ok = probe_lend_steps(&p);
	if (p.own != NULL) { /* a step failed while the block was lent */
		point_at(p.fp, p.own, p.own_len);
		p.fp->_flags &= ~GLIBC_USER_BUF;
	}
	return (fclose(p.fp) == 0) & ok;
}

int spool__stdio_tested(const char *version)
{
	unsigned major = 0, minor = 0, v;

	if (sscanf(version, "%u.%u", &major, &minor) != 2 || minor >= 1000)
		return 0;
	v = major * 1000 + minor;
	return v >= SPOOL_GLIBC_TESTED_MIN && v <= SPOOL_GLIBC_TESTED_MAX;
}

static struct {
	unsigned char fast, fix_offset;
} gate;
static pthread_once_t gate_once = PTHREAD_ONCE_INIT;

void spool__stdio_regate(void)
{
	const char *env = secure_getenv("SPOOL_STDIO");
	int err = errno;
	int portable = env != NULL && strcmp(env, "portable") == 0;
	int forced = env != NULL && strcmp(env, "fast") == 0;
	int tested = forced || spool__stdio_tested(gnu_get_libc_version());

	gate.fix_offset = (unsigned char)probe_offset();
	gate.fast = (unsigned char)(!portable && tested && gate.fix_offset &&
				    probe_lend());
	errno = err;
}

void spool__stdio_init(struct spool_stdio *io)
{
	pthread_once(&gate_once, spool__stdio_regate);
	*io = (struct spool_stdio){.fast = gate.fast,
				   .fix_offset = gate.fix_offset};
}
#else /* !SPOOL_GLIBC_INTERNALS: the portable path, always */
void spool__stdio_init(struct spool_stdio *io)
{
	*io = (struct spool_stdio){0};
}

void spool__stdio_regate(void)
{
}

int spool__stdio_tested(const char *version)
{
	(void)version;
	return 0;
}

void spool__stdio_opened(const struct spool_stdio *io, FILE *fp)
{
	(void)io;
	(void)fp;
}

int spool__stdio_may_lend(struct spool_stdio *io, FILE *fp)
{
	(void)io;
	(void)fp;
	return 0;
}

void spool__stdio_lend(struct spool_stdio *io, FILE *fp, char *to, size_t len)
{
	(void)io;
	(void)fp;
	(void)to;
	(void)len;
}

char *spool__stdio_take_back_lent(struct spool_stdio *io, FILE *fp, char *p)
{
	(void)io;
	(void)fp;
	return p;
}

const void *spool__stdio_flush_source(const struct spool_stdio *io,
				      const FILE *fp)
{
	(void)io;
	(void)fp;
	return NULL;
}

char *spool__stdio_read_target(struct spool_stdio *io, FILE *fp, char *buf,
			       size_t *n)
{
	(void)io;
	(void)fp;
	(void)n;
	return buf;
}

char *spool__stdio_bigger(const struct spool_stdio *io, FILE *fp,
			  const char *buf, size_t n, size_t len, int refill)
{
	(void)io;
	(void)fp;
	(void)buf;
	(void)n;
	(void)len;
	(void)refill;
	return NULL;
}

void spool__stdio_swap(struct spool_stdio *io, FILE *fp, char *big, size_t len)
{
	(void)io;
	(void)fp;
	(void)big;
	(void)len;
}

void spool__stdio_fit(const struct spool_stdio *io, FILE *fp, size_t len)
{
	(void)io;
	(void)fp;
	(void)len;
}

void spool__stdio_forget_offset(const struct spool_stdio *io, FILE *fp)
{
	(void)io;
	(void)fp;
}

int spool__stdio_confused(const struct spool_stdio *io, const FILE *fp,
			  off_t off, int whence)
{
	(void)io;
	(void)fp;
	(void)off;
	(void)whence;
	return 0;
}
#endif
