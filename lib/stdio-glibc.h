/* SPDX-License-Identifier: MIT */
/*
 * stdio-glibc.h - the glibc seam: the only place in lib/ that names a
 * field of glibc's private FILE or one of its private flag values
 * (stdio-glibc.c; tests/check-seam.sh keeps it so).
 *
 * It offers the rest of the library a few named operations on a stream:
 * lend stdio a buffer to write into, take it back, say where a read may
 * land, swap in a bigger buffer, forget the cached offset, drop the lock
 * mark, and spot a stream that C's undefined orderings have confused. It
 * never calls the memory image or the disk code; they never call it.
 *
 * Every operation is safe to call on every stream: where the internals
 * are not engaged (a glibc the project has not tested, a failed probe,
 * SPOOL_STDIO=portable, or a build with --disable-glibc-internals) it
 * does nothing and answers as plain stdio would have it.
 */
#ifndef SPOOL_STDIO_GLIBC_H
#define SPOOL_STDIO_GLIBC_H

#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

/* The seam's per-stream state, inside struct spool. */
struct spool_stdio {
	unsigned char fast;	  /* the internals path, for this stream */
	unsigned char fix_offset; /* the _offset workaround (probed) */
	unsigned big_len;	  /* what big holds */
	char *big;		  /* the bigger buffer swapped in, or NULL */
	char *own;		  /* stdio's own buffer while it writes
				     into a lent one; NULL otherwise */
	size_t own_len;
	char *lent; /* the buffer lent to stdio */
};

/* The shortest buffer worth lending: shorter ones cost a flush too soon. */
#ifndef SPOOL_TINY_SEGMENTS
#define SPOOL_LEND_MIN ((size_t)1024)
#else
#define SPOOL_LEND_MIN ((size_t)1) /* tests: lend pieces of a few bytes */
#endif

/* Before a stream is opened: what the gate decided for this process. */
void spool__stdio_init(struct spool_stdio *io);
/* Re-read SPOOL_STDIO and probe again (white-box tests only). */
void spool__stdio_regate(void);
/* Is glibc `version` ("2.41") one the project's CI has tested? */
int spool__stdio_tested(const char *version);
/* After fopencookie(): a spool in a single-threaded process locks as a
 * fopen() stream does. */
void spool__stdio_opened(const struct spool_stdio *io, FILE *fp);

/* May stdio be lent a buffer now (fully buffered, byte-oriented, no
 * pushback, markers or buffer of the caller's)? */
int spool__stdio_may_lend(struct spool_stdio *io, FILE *fp);
/* Make [to, to + len) stdio's buffer; a len below SPOOL_LEND_MIN gives it
 * its own back. Only inside a write callback, after which glibc sets
 * every pointer from the buffer anyway. */
void spool__stdio_lend(struct spool_stdio *io, FILE *fp, char *to, size_t len);
/* Give stdio its own buffer back, every pointer and pending byte moved
 * along; a no-op when nothing is lent. Returns where p, a pointer into
 * the lent buffer, now points (p itself if it pointed elsewhere). */
char *spool__stdio_take_back_lent(struct spool_stdio *io, FILE *fp, char *p);
static inline char *spool__stdio_take_back(struct spool_stdio *io, FILE *fp,
					   char *p)
{
	/* Nothing lent, the common case: no call (open-close pays it
	 * several times per spool). */
	return io->own == NULL ? p : spool__stdio_take_back_lent(io, fp, p);
}
/* The buffer a write comes from most of the time, so the image can be
 * placed to copy from it fast; NULL when unknown or lent. */
const void *spool__stdio_flush_source(const struct spool_stdio *io,
				      const FILE *fp);
/* Where a read callback asked to fill [buf, buf + *n) may write: never a
 * lent buffer, never past the end of stdio's own; *n may be cut. */
char *spool__stdio_read_target(struct spool_stdio *io, FILE *fp, char *buf,
			       size_t *n);
/* A buffer of `len` bytes to replace stdio's (glibc's default one, or
 * the bigger one cut short by spool__stdio_fit(), which is reused) while
 * [buf, buf + n) is its whole buffer being refilled (refill) or flushed
 * full; NULL: not now. Install it with spool__stdio_swap(). */
char *spool__stdio_bigger(const struct spool_stdio *io, FILE *fp,
			  const char *buf, size_t n, size_t len, int refill);
void spool__stdio_swap(struct spool_stdio *io, FILE *fp, char *big, size_t len);
/* Inside a write callback: cut the bigger buffer to its first len bytes
 * (at most what it holds), so that stdio's next full flush ends where
 * the caller wants it; a no-op before a swap. A refill through
 * spool__stdio_bigger() makes it whole again. */
void spool__stdio_fit(const struct spool_stdio *io, FILE *fp, size_t len);
/* After a write callback: glibc's cached offset is stale (glibc bug). */
void spool__stdio_forget_offset(const struct spool_stdio *io, FILE *fp);
/* Is this seek, asked of the seek callback, one glibc makes to write
 * from inside an ungetc() backup area, which only C-undefined orderings
 * produce and which glibc then mishandles? */
int spool__stdio_confused(const struct spool_stdio *io, const FILE *fp,
			  off_t off, int whence);

#endif /* SPOOL_STDIO_GLIBC_H */
