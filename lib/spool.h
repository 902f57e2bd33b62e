/* SPDX-License-Identifier: MIT */
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
#define SPOOL_VERSION_MINOR 3
#define SPOOL_VERSION_MICRO 0
#define SPOOL_VERSION "0.3.0"

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
FILE *spool_fopen(size_t threshold,
		  const char *mode) SPOOL_ATTR_MALLOC SPOOL_ATTR_WUR;

struct spool_options {
	size_t threshold; /* most bytes of content held in memory */
	off_t limit;	  /* most bytes the spool may ever hold; 0 = no cap */
	const char *dir;  /* directory for the temp file; NULL = $TMPDIR,
			     else P_tmpdir; copied at open */
	const void *data; /* initial contents, copied at open; NULL = empty */
	size_t data_len;  /* bytes at `data` */
	unsigned flags;	  /* 0 or SPOOL_SECRET */
	/* Since 0.3: called after each successful rollover, on the thread
	 * that caused it, with fp's lock held (spool_fopen_opts(3)). */
	void (*on_rollover)(FILE *fp, void *arg);
	void *on_rollover_arg;
};

/*
 * Programs built against 0.1 pass a shorter struct spool_options (up to
 * `flags`): they are bound to spool_fopen_opts@LIBSPOOL_0.1, which reads
 * only that much. A member is only ever added at the end, with a new
 * version of spool_fopen_opts, so older binaries keep working.
 */

/* struct spool_options.flags: wipe what the spool held
 * (spool_fopen_opts(3)). */
#define SPOOL_SECRET 0x1u

/*
 * Open a spool as spool_fopen() does, with the settings in `opts` (read
 * once; neither it nor `dir` nor `data` need outlive the call). Initial
 * data is allowed with "r", "r+", "a" and "a+" and goes straight to disk
 * when larger than the threshold. Returns the stream, or NULL with errno
 * set (EINVAL, ENOMEM, EFBIG, or the temp file's error).
 */
FILE *spool_fopen_opts(const struct spool_options *opts,
		       const char *mode) SPOOL_ATTR_MALLOC SPOOL_ATTR_WUR;

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

/* Contents out. Each flushes pending output first, takes the FILE lock,
 * keeps the position, the EOF and error indicators and ungetc pushback,
 * works in every mode, in memory and on disk, and fails with -1 (NULL
 * for spool_getvalue()) and errno set: EINVAL for a NULL or foreign
 * stream, as above. */

/*
 * A new malloc() buffer with the whole contents and a NUL after them;
 * *len (when len is not NULL) is their size, without the NUL. The caller
 * frees it. NULL with errno set: EINVAL, EOVERFLOW when the size does not
 * fit a size_t less one, ENOMEM, or the temp file's read error.
 */
char *spool_getvalue(FILE *fp, size_t *len) SPOOL_ATTR_WUR;

/*
 * A read-only view of the whole contents: *data points at *len bytes
 * (never NULL, also when empty) that stay readable until spool_unview()
 * or fclose(). In memory it is the memory image itself when the contents
 * lie in one piece (else they are first joined into one: spool_view(3));
 * on disk, a read-only mapping of the temp file. One view at a time:
 * EBUSY while one is live. Returns 0, or -1 with errno set (EINVAL,
 * EBUSY, ENOMEM, or mmap()'s error).
 */
int spool_view(FILE *fp, const void **data, size_t *len);

/* End the live view; its pointer is invalid from then on. Returns 0, or
 * -1 with errno EINVAL (also when no view is live). */
int spool_unview(FILE *fp);

/*
 * Write the contents from byte *offset to the end to fd, at fd's own
 * position as write(2) does, advancing *offset by what was written.
 * Returns 0 once *offset is the size, or -1 with errno set (EAGAIN on a
 * non-blocking fd: call again with the same *offset; EINVAL for a NULL
 * offset or one below 0 or past the size; or write(2)'s error). On disk
 * the kernel copies (copy_file_range, sendfile); in memory one writev(2)
 * covers many pieces.
 */
int spool_send(FILE *fp, int fd, off_t *offset);

/* spool_persist() flags: SPOOL_REPLACE, an existing path may be
 * replaced; SPOOL_SYNC, fsync the file and its directory. */
#define SPOOL_REPLACE 0x1u
#define SPOOL_SYNC 0x2u

/*
 * Give the contents a name, atomically: on success `path` holds them all
 * (mode 0666 & ~umask, as fopen() creates); on failure it is untouched
 * and nothing is left beside it. An existing path gives EEXIST unless
 * SPOOL_REPLACE (then it is replaced as rename(2) replaces). SPOOL_SYNC:
 * durable before returning. On disk, on path's file system, the temp
 * file itself is linked into place (no copy). The spool stays open; its
 * later writes never change the file at path. Returns 0, or -1 with
 * errno set (EINVAL for NULL or unknown flags, EEXIST, or the file
 * system's error).
 */
int spool_persist(FILE *fp, const char *path, unsigned flags);

/* Servers: a memory budget for all spools, and statistics. */

/*
 * Bound the memory held for contents by all open spools together: a
 * write that would pass it moves its spool to disk first. 0: no budget
 * (the default). A lower budget takes effect at each spool's next
 * write. Returns 0.
 */
int spool_set_budget(size_t bytes);

/* The memory held for contents by all open spools, in bytes. */
size_t spool_budget_used(void);

/*
 * What spool_stat() reports. Members are only ever added at the end,
 * with a new version of spool_stat (symbol versioning, as for
 * spool_fopen_opts), so a program built against an older header gets
 * the struct it knows.
 */
struct spool_stat {
	off_t size;		    /* bytes of contents */
	size_t mem_bytes;	    /* memory held now for the contents */
	size_t mem_peak;	    /* the most it ever held */
	int rolled;		    /* 1 on disk, 0 in memory */
	unsigned rollover_failures; /* rollovers tried that failed */
	int last_error;		    /* errno of the last failure, 0 if none */
	int tmp_in_memory;	    /* 1 when the temp file's file system is
				       RAM-backed (tmpfs, ramfs); 0 on disk
				       or not rolled */
};

/*
 * Fill *st for fp, under its lock, after a flush of pending output (none
 * inside on_rollover). Returns 0, or -1 with errno set (EINVAL for NULL
 * or a foreign stream, or the flush's or fstatfs(2)'s error).
 */
int spool_stat(FILE *fp, struct spool_stat *st);

#ifdef __cplusplus
}
#endif

#endif /* SPOOL_H */
