/*
 * spool.h - a stdio FILE* that keeps its contents in memory up to a
 * threshold, then moves them once, without loss, to an anonymous
 * temporary file.
 *
 * Every FILE* returned here is a glibc/musl fopencookie() stream: all of
 * stdio works on it, with two limits inherited from cookie streams:
 * fileno() returns -1 (use spool_fileno()), and the stream is
 * byte-oriented only (wide-character I/O such as fwprintf() or fgetwc()
 * is unsupported and crashes inside glibc).
 */
#ifndef SPOOL_H
#define SPOOL_H

#define SPOOL_VERSION_MAJOR 0
#define SPOOL_VERSION_MINOR 1
#define SPOOL_VERSION_MICRO 0
#define SPOOL_VERSION "0.1.0"

#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library is built with 64-bit off_t; so must its callers be (on
 * 32-bit systems: -D_FILE_OFFSET_BITS=64). */
#if defined(__cplusplus) && __cplusplus >= 201103L
static_assert(sizeof(off_t) == 8, "libspool needs a 64-bit off_t");
#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
_Static_assert(sizeof(off_t) == 8, "libspool needs a 64-bit off_t");
#endif

/* Compiler annotations: they vanish where the compiler lacks them. */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11
#define SPOOL_ATTR_MALLOC __attribute__((__malloc__, __malloc__(fclose, 1)))
#elif defined(__GNUC__)
#define SPOOL_ATTR_MALLOC __attribute__((__malloc__))
#else
#define SPOOL_ATTR_MALLOC
#endif
#if defined(__GNUC__)
#define SPOOL_ATTR_WUR __attribute__((__warn_unused_result__))
#else
#define SPOOL_ATTR_WUR
#endif

/* Opening */

/*
 * Open an empty spool. Contents stay in memory while they are at most
 * `threshold` bytes; the write that would make them larger first moves
 * them to a nameless temporary file in $TMPDIR (else P_tmpdir).
 * `mode` is as for fopen(): "r", "r+", "w", "w+", "a" or "a+", optionally
 * with 'b' and 'e'. The caller owns the stream and releases it with
 * fclose(). Returns the stream, or NULL with errno set (EINVAL, ENOMEM).
 */
FILE *spool_fopen(size_t threshold, const char *mode)
	SPOOL_ATTR_MALLOC SPOOL_ATTR_WUR;

struct spool_options {
	size_t threshold;  /* most bytes of content held in memory */
	off_t limit;       /* most bytes the spool may ever hold; 0 = no cap */
	const char *dir;   /* directory for the temp file; NULL = $TMPDIR,
			      else P_tmpdir; copied at open */
	const void *data;  /* initial contents, copied at open; NULL = empty */
	size_t data_len;   /* bytes at `data` */
	unsigned flags;    /* reserved for later features; must be 0 */
};

/*
 * Open a spool as spool_fopen() does, with the settings in `opts` (read
 * once; neither it nor `dir` nor `data` need outlive the call). Initial
 * data is allowed with "r", "r+", "a" and "a+" and goes straight to disk
 * when larger than the threshold. Returns the stream, or NULL with errno
 * set (EINVAL, ENOMEM, EFBIG, or the temp file's error).
 */
FILE *spool_fopen_opts(const struct spool_options *opts, const char *mode)
	SPOOL_ATTR_MALLOC SPOOL_ATTR_WUR;

/* Queries and control. Each takes the FILE lock; a NULL or foreign
 * stream gives -1 with errno EINVAL. */

/*
 * Flush pending output and move the contents to the temp file now.
 * Position, EOF/error indicators and ungetc pushback are kept.
 * Returns 0 (also when already on disk), or -1 with errno set (EINVAL,
 * or the flush's or temp file's error; the spool then stays in memory).
 */
int spool_rollover(FILE *fp);

/* Returns 1 when the contents are on disk, 0 in memory, -1 (EINVAL). */
int spool_is_rolled(FILE *fp);

/*
 * Flush pending output, roll over if still in memory, and return the
 * temp file's descriptor. The spool keeps owning it: do not close it;
 * it stays valid until fclose(fp). Its offset is the stream's
 * underlying position. Returns the descriptor, or -1 with errno set
 * (EINVAL, or as for spool_rollover()).
 */
int spool_fileno(FILE *fp);

/*
 * Flush pending output and return the size of the contents. Returns the
 * size, or -1 with errno set (EINVAL, or the flush's error).
 */
off_t spool_size(FILE *fp);

/*
 * Flush pending output, then cut the contents to `length` bytes or
 * extend them with zero bytes; the position is unchanged. A length past
 * the threshold rolls over first. Returns 0, or -1 with errno set
 * (EINVAL for a negative length, EBADF on a spool opened "r", EFBIG past
 * the limit, ENOMEM, or the temp file's error).
 */
int spool_truncate(FILE *fp, off_t length);

#ifdef __cplusplus
}
#endif

#endif /* SPOOL_H */
