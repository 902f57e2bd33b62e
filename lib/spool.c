/* SPDX-License-Identifier: MIT */
/*
 * spool.c - spool_fopen() and the four cookie callbacks behind it: the
 * policy that ties the memory image (image.c), the temp file (disk.c)
 * and stdio (the glibc seam, stdio-glibc.c) together. Which bytes go
 * where, when to roll over, and when stdio may write straight into the
 * image are decided here; none of the layers below calls another.
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
#include <sys/stat.h>
#include <unistd.h>

#include "spool.h"
#include "spool-internal.h"

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

/* Give stdio its own buffer back before the image moves, shrinks or is
 * read elsewhere: see lend(). */
static void take_back(struct spool *s)
{
	(void)spool__stdio_take_back(&s->io, s->fp, NULL);
}

/*
 * Writing in place. Stored from stdio's buffer, every byte is copied
 * twice: by stdio from the caller into its buffer, then by the write
 * callback from the buffer into the image; fmemopen() and
 * open_memstream() do the same. So while a spool is in memory and stdio
 * appends at the end, the seam lends stdio the stretch of the image just
 * past the end as its buffer: stdio copies each byte to where it
 * belongs, and the flush that follows only counts the bytes
 * (spool__img_put() skips a copy onto itself). Measured: bench/README.
 * The stretch lies in the image's room (so under the threshold and the
 * limit), past the contents, within one piece, and is at most LEND_MAX
 * long: with 256 KiB a 64 KiB fwrite() is mostly one copy and no
 * callback. So a flush from it always fits: no growth, no rollover, no
 * failure. Anything that would move the position away from the end,
 * read, move or free the image, or close the stream takes it back first
 * (take_back()); the seam says why that is safe (stdio-glibc.c).
 */
#define LEND_MAX ((size_t)256 << 10)

/* After a write stored in memory: lend stdio the image just past the
 * end, or give it its own buffer back when that cannot be. */
static void lend(struct spool *s)
{
	size_t len = 0;
	unsigned char *p = NULL;

	/* A secret spool's stdio buffer is its own, to be wiped. */
	if ((s->flags & SPOOL_SECRET) ||
	    !spool__stdio_may_lend(&s->io, s->fp)) {
		take_back(s); /* moves the pushback pointers too */
		return;
	}
	if (s->pos == s->size && (size_t)s->pos < spool__img_room(s) &&
	    (s->limit == 0 || s->pos < s->limit)) {
		p = spool__img_piece(s, (size_t)s->pos, &len);
		if (len > LEND_MAX)
			len = LEND_MAX;
		/* Past the limit stdio writes into its own buffer, and the
		 * flush reports EFBIG as soon as it would without this. */
		if (s->limit > 0 && len > (uintmax_t)(s->limit - s->pos))
			len = (size_t)(s->limit - s->pos);
	}
	spool__stdio_lend(&s->io, s->fp, (char *)p, len);
}

/* Tell the caller's on_rollover hook, under fp's lock (the callbacks
 * and the public functions all hold it here). While it runs,
 * spool_stat() must not flush: fp's buffer may be mid-flush. */
static void rolled(struct spool *s)
{
	int err = errno;

	if (s->more == NULL || s->more->on_rollover == NULL || s->fp == NULL)
		return;
	s->in_hook = 1;
	s->more->on_rollover(s->fp, s->more->on_rollover_arg);
	s->in_hook = 0;
	errno = err;
}

int spool__roll(struct spool *s)
{
	int fd;

	if (s->fd >= 0)
		return 0;
	fd = spool__disk_create(s, NULL, (size_t)s->size);
	if (fd < 0) {
		s->roll_failures++;
		s->last_error = errno;
		return -1;
	}
	take_back(s);
	spool__img_free(s);
	s->fd = fd;
	rolled(s);
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

/* After an image call failed with rc: past the budget, roll over as past
 * the threshold, reporting the rollover's own error; out of memory, as
 * spool__roll_instead(). */
int spool__roll_after(struct spool *s, int rc)
{
	return rc == SPOOL_OVER_BUDGET ? spool__roll(s)
				       : spool__roll_instead(s);
}

/* Do `n` more bytes at `at` still fit under the threshold? Written as a
 * subtraction so that neither side can overflow. */
static int fits(const struct spool *s, off_t at, size_t n)
{
	return (uintmax_t)at <= s->threshold &&
	       n <= s->threshold - (uintmax_t)at;
}

/* Grow or cut the memory image to `length` (<= threshold); new bytes,
 * including any gap left by a seek past the end, read as zero. */
int spool__mem_resize(struct spool *s, off_t length)
{
	take_back(s);
	return spool__img_resize(s, length);
}

/* Join the image into one block for a view (image.c). */
int spool__mem_join(struct spool *s)
{
	take_back(s);
	return spool__img_join(s);
}

/* write(2) to the temp file; s->pos follows the offset, as a hint for
 * write_bigger(). */
static size_t disk_write(struct spool *s, const char *buf, size_t n)
{
	size_t done = spool__fd_write(s->fd, buf, n);

	s->pos += (off_t)done;
	return done;
}

/*
 * Store n bytes at `at` in memory. When they would pass the threshold, or
 * memory runs out before it, roll over first and write to the file
 * instead: running out of memory must not lose the write. The position
 * moves only when bytes are stored, as with write(2).
 */
static size_t mem_store(struct spool *s, off_t at, const char *buf, size_t n)
{
	int rc;

	if (n == 0)
		return 0;
	if (fits(s, at, n)) {
		struct store w = {buf, at, n,
				  spool__stdio_flush_source(&s->io, s->fp)};

		/* Growth may move the head: stdio must not write there. A
		 * lent stretch is never the source then (see lend()). */
		if ((size_t)at + n > spool__img_room(s))
			take_back(s);
		rc = spool__img_store(s, &w);
		if (rc == 0) {
			/* A budget lowered below what is held: move now, the
			 * write stored first (it may come from a lent stretch
			 * of the image, which the rollover frees). Failing,
			 * the spool stays in memory and tries again at its
			 * next write; spool_stat() counts the failure. */
			if (spool__over_budget())
				(void)spool__roll(s);
			return n;
		}
		if (spool__roll_after(s, rc) < 0)
			return 0;
	} else if (spool__roll(s) < 0) {
		return 0;
	}
	return disk_write(s, buf, n);
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

/*
 * On disk, a 64 KiB stdio buffer instead of glibc's 8 KiB: the seam
 * swaps it in the first time stdio refills its whole, empty buffer, or
 * flushes it full (stdio-glibc.c says why that is safe). glibc reads a
 * cookie stream only through its stdio buffer (_IO_default_xsgetn; a
 * file stream reads big requests straight into the caller's memory): a
 * 64 KiB fread() on disk is eight read(2)s plus a copy. Writing, 8 KiB
 * at a time is eight write(2)s per 64 KiB, and a file written in small
 * pieces is slower to read back (ext4 caches it in small folios);
 * bench/README has the figures. setvbuf() works only before the first
 * I/O, while the spool is still in memory, and would make every small
 * spool pay for the big buffer. Only for spools whose threshold is at
 * least 512 KiB: the buffer is at most 1/8 of the memory allowed.
 */
#define BIG_IOBUF ((size_t)64 << 10)

/* May this spool have the 64 KiB buffer? Not a secret one: stdio's
 * buffer is then the library's wiped one (secret.c). */
static int wants_big_iobuf(const struct spool *s)
{
	return s->threshold >= 8 * BIG_IOBUF && !(s->flags & SPOOL_SECRET);
}

/* Read into a new 64 KiB stdio buffer; -2: not now, read as usual. */
static ssize_t read_bigger(struct spool *s, char *buf, size_t n)
{
	char *big;
	ssize_t r;

	if (!wants_big_iobuf(s) ||
	    (big = spool__stdio_bigger(&s->io, s->fp, buf, n, BIG_IOBUF, 1)) ==
		NULL)
		return -2;
	r = spool__fd_read(s->fd, big, BIG_IOBUF);
	if (r <= 0) {
		int err = errno;

		if (big != buf) /* not the big buffer cut short, reused */
			free(big);
		errno = err;
		return r;
	}
	spool__stdio_swap(&s->io, s->fp, big, BIG_IOBUF);
	return r;
}

/* After a write to disk: a 64 KiB buffer from glibc's first full flush
 * on, whose next full flush ends on a 64 KiB boundary of the file (the
 * seam's spool__stdio_fit() says why). buf is the buffer just written,
 * no longer needed; if the block cannot be had, the old buffer stays. */
static void write_bigger(struct spool *s, const char *buf, size_t n)
{
	char *big;

	if (!wants_big_iobuf(s))
		return;
	big = spool__stdio_bigger(&s->io, s->fp, buf, n, BIG_IOBUF, 0);
	if (big != NULL)
		spool__stdio_swap(&s->io, s->fp, big, BIG_IOBUF);
	spool__stdio_fit(&s->io, s->fp, BIG_IOBUF - (size_t)s->pos % BIG_IOBUF);
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
	buf = spool__stdio_read_target(&s->io, s->fp, buf, &n);
	if (s->fd >= 0) {
		r = read_bigger(s, buf, n);
		if (r == -2)
			r = spool__fd_read(s->fd, buf, n);
		if (r > 0)
			s->pos += r; /* the offset hint: see write_bigger() */
		else if (r < 0)
			s->last_error = errno;
		return r;
	}
	if (s->pos >= s->size)
		return 0;
	if ((uintmax_t)n > (uintmax_t)(s->size - s->pos))
		n = (size_t)(s->size - s->pos);
	spool__img_get(s, (size_t)s->pos, buf, n);
	s->pos += (off_t)n;
	spool__img_read_ahead(s);
	return (ssize_t)n;
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
		done = spool__unshare(s) < 0 ? 0 : disk_write(s, buf, want);
	}
	if (done == want && want < n)
		errno = EFBIG;
	if (done < n)
		s->last_error = errno;
	/* glibc bug: its cached offset misses this write (seam). */
	spool__stdio_forget_offset(&s->io, s->fp);
	if (s->fd < 0)
		lend(s);
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

	/* A seek glibc should never make: refuse it (seam). */
	if (spool__stdio_confused(&s->io, s->fp, *off, whence)) {
		errno = EINVAL;
		return -1;
	}
	if (s->fd >= 0) {
		off_t r = spool__lseek(s->fd, *off, whence);

		if (r < 0)
			return -1;
		*off = s->pos = r;
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
	/* stdio's buffer in the image belongs at the end: see lend(). */
	if (base + *off != s->pos)
		take_back(s);
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

	if (s->fd >= 0) {
		if (s->flags & SPOOL_SECRET)
			spool__secret_wipe_file(s->fd);
		close(s->fd);
	}
	/* At fclose() glibc frees its buffer after the close callback, so
	 * that must be its own, not the image's. */
	take_back(s);
	spool__img_free(s);
	spool__view_end(s);
	/* glibc and musl touch only the pointers after the close callback,
	 * never a user buffer's bytes. */
	if (s->more != NULL) {
		if (s->more->iobuf != NULL)
			spool__secret_free(s->more->iobuf, BUFSIZ);
		free(s->more->dir);
		free(s->more);
	}
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

struct spool_more *spool__more(struct spool *s)
{
	if (s->more == NULL) {
		s->more = spool__malloc(sizeof(*s->more));
		if (s->more != NULL)
			*s->more = (struct spool_more){0};
	}
	return s->more;
}

/* The options only some spools have go to s->more (spool-internal.h). */
static int set_more(struct spool *s, const struct spool_options *o)
{
	if (o->dir == NULL && o->on_rollover == NULL &&
	    !(o->flags & SPOOL_SECRET))
		return 0;
	if (spool__more(s) == NULL)
		return -1;
	s->more->on_rollover = o->on_rollover;
	s->more->on_rollover_arg = o->on_rollover_arg;
	if (o->dir != NULL && (s->more->dir = spool__strdup(o->dir)) == NULL)
		return -1;
	return 0;
}

/* Reject what no spool can honour before allocating anything. */
static int check_opts(const struct spool_options *o, unsigned m)
{
	if (o == NULL || m == 0 || (o->flags & ~SPOOL_SECRET) != 0 ||
	    o->limit < 0 || (o->data == NULL && o->data_len != 0) ||
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
		s->fd = spool__disk_create(s, data, len);
		return s->fd < 0 ? -1 : 0;
	}
	spool__img_put(s, 0, data, len);
	return 0;
}
FILE *spool_fopen_opts(const struct spool_options *opts, const char *mode)
{
	unsigned m = spool__parse_mode(mode);
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
	    .flags = (unsigned char)opts->flags,
	};
	spool__stdio_init(&s->io);
	if (set_more(s, opts) < 0)
		goto fail;
	if (load(s, opts->data, opts->data_len) < 0)
		goto fail;
	s->fp = spool__fopencookie(s, stdio_mode(m), spool_io);
	if (s->fp == NULL)
		goto fail;
	spool__stdio_opened(&s->io, s->fp);
	if (((s->flags & SPOOL_SECRET) && spool__secret_setbuf(s) < 0) ||
	    spool__register(s) < 0) {
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

/*
 * spool_fopen_opts@LIBSPOOL_0.1, for programs built against 0.1, whose
 * struct spool_options ends at `flags`: read only that much. Symbol
 * versioning, as glibc and libbsd do it: the version script gives the
 * plain name to LIBSPOOL_0.3, this alias keeps the old version.
 */
struct spool_options_0_1 {
	size_t threshold;
	off_t limit;
	const char *dir;
	const void *data;
	size_t data_len;
	unsigned flags;
};
_Static_assert(sizeof(struct spool_options_0_1) ==
		   offsetof(struct spool_options, on_rollover),
	       "0.1's options are a prefix of today's");

FILE *spool__fopen_opts_0_1(const struct spool_options_0_1 *opts,
			    const char *mode);
#if defined(__ELF__) && defined(PIC)
__asm__(".symver spool__fopen_opts_0_1, spool_fopen_opts@LIBSPOOL_0.1");
__asm__(".symver spool_fopen_opts, spool_fopen_opts@@@LIBSPOOL_0.3");
#endif

FILE *spool__fopen_opts_0_1(const struct spool_options_0_1 *opts,
			    const char *mode)
{
	struct spool_options o = {0};

	if (opts == NULL) {
		errno = EINVAL;
		return NULL;
	}
	memcpy(&o, opts, sizeof(*opts));
	return spool_fopen_opts(&o, mode);
}

FILE *spool_fopen(size_t threshold, const char *mode)
{
	struct spool_options o = {.threshold = threshold};

	return spool_fopen_opts(&o, mode);
}
