/* SPDX-License-Identifier: MIT */
/*
 * control.c - the public functions that act on an open spool. Each one
 * finds the spool behind the FILE*, then works under the FILE lock, the
 * lock the cookie callbacks already run under, so it is safe against
 * another thread doing stdio on the same stream.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio_ext.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "spool.h"
#include "spool-internal.h"

/* The live spool behind fp, its FILE lock taken; NULL with EINVAL for
 * NULL or any stream that is not an open spool. */
struct spool *spool__acquire(FILE *fp)
{
	struct spool *s = spool__lookup(fp);

	if (s == NULL) {
		errno = EINVAL;
		return NULL;
	}
	flockfile(fp);
	return s;
}

/* Release the lock and pass rc through, errno intact; a failure is
 * remembered for spool_stat(). */
int spool__release(struct spool *s, int rc)
{
	int err = errno;

	if (rc < 0)
		s->last_error = err;
	funlockfile(s->fp);
	errno = err;
	return rc;
}

/* The size of the contents, wherever they are; -1 with errno. */
off_t spool__contents_size(const struct spool *s)
{
	struct stat st;

	if (s->fd < 0)
		return s->size;
	return spool__fstat(s->fd, &st) < 0 ? -1 : st.st_size;
}

/*
 * Push pending output to the spool. Only output: fflush() on a stream
 * that is reading would drop ungetc() pushback, which a rollover or a
 * size query must keep.
 */
int spool__flush_output(FILE *fp)
{
	if (__fpending(fp) > 0 && fflush(fp) == EOF)
		return -1;
	return 0;
}

int spool_rollover(FILE *fp)
{
	struct spool *s = spool__acquire(fp);

	if (s == NULL)
		return -1;
	if (spool__flush_output(fp) < 0 || spool__roll(s) < 0)
		return spool__release(s, -1);
	return spool__release(s, 0);
}

int spool_is_rolled(FILE *fp)
{
	struct spool *s = spool__acquire(fp);

	if (s == NULL)
		return -1;
	return spool__release(s, s->fd >= 0);
}

int spool_fileno(FILE *fp)
{
	struct spool *s = spool__acquire(fp);

	if (s == NULL)
		return -1;
	if (spool__flush_output(fp) < 0 || spool__roll(s) < 0 ||
	    spool__unshare(s) < 0)
		return spool__release(s, -1);
	return spool__release(s, s->fd);
}

off_t spool_size(FILE *fp)
{
	struct spool *s = spool__acquire(fp);
	off_t size;

	if (s == NULL)
		return -1;
	if (spool__flush_output(fp) < 0 || (size = spool__contents_size(s)) < 0)
		return spool__release(s, -1);
	spool__release(s, 0);
	return size;
}

/* linux/magic.h's values; musl's headers lack that file. */
#define SPOOL_TMPFS_MAGIC 0x01021994
#define SPOOL_RAMFS_MAGIC 0x858458f6

/* Is the temp file on a file system that lives in RAM? */
static int tmp_in_memory(int fd, int *yes)
{
	struct statfs fs;

	*yes = 0;
	if (fd < 0)
		return 0;
	if (spool__fstatfs(fd, &fs) < 0)
		return -1;
	*yes = fs.f_type == SPOOL_TMPFS_MAGIC || fs.f_type == SPOOL_RAMFS_MAGIC;
	return 0;
}

/*
 * Inside on_rollover, fp's stdio buffer is being flushed: no flush now
 * (it would re-enter stdio), and the size leaves out what is pending.
 */
int spool_stat(FILE *fp, struct spool_stat *st)
{
	struct spool *s = spool__acquire(fp);
	struct spool_stat r = {0};

	if (s == NULL)
		return -1;
	if (st == NULL) {
		errno = EINVAL;
		return spool__release(s, -1);
	}
	if ((!s->in_hook && spool__flush_output(fp) < 0) ||
	    (r.size = spool__contents_size(s)) < 0 ||
	    tmp_in_memory(s->fd, &r.tmp_in_memory) < 0)
		return spool__release(s, -1);
	r.mem_bytes = s->mem;
	r.mem_peak = s->mem_peak;
	r.rolled = s->fd >= 0;
	r.rollover_failures = s->roll_failures;
	r.last_error = s->last_error;
	*st = r;
	return spool__release(s, 0);
}

/* Resize the contents wherever they are; past the threshold, or when
 * memory runs out, that means rolling over first. */
static int resize(struct spool *s, off_t length)
{
	int rc;

	if (s->fd < 0 && (uintmax_t)length <= s->threshold) {
		rc = spool__mem_resize(s, length);
		if (rc == 0)
			return 0;
		if (spool__roll_after(s, rc) < 0)
			return -1;
	} else if (spool__roll(s) < 0 || spool__unshare(s) < 0) {
		return -1;
	}
	do
		rc = spool__ftruncate(s->fd, length);
	while (rc < 0 && errno == EINTR);
	return rc;
}

int spool_truncate(FILE *fp, off_t length)
{
	struct spool *s = spool__acquire(fp);
	struct spool_view *v;

	if (s == NULL)
		return -1;
	if (length < 0) {
		errno = EINVAL;
		return spool__release(s, -1);
	}
	if (!(s->mode & SPOOL_M_WRITE)) {
		errno = EBADF;
		return spool__release(s, -1);
	}
	if (s->limit > 0 && length > s->limit) {
		errno = EFBIG;
		return spool__release(s, -1);
	}
	/* A mapping past a file's end faults: keep the viewed bytes. */
	if ((v = spool__live_view(s)) != NULL && (uintmax_t)length < v->len) {
		errno = EBUSY;
		return spool__release(s, -1);
	}
	/* A full flush: read-ahead past the new end must not survive. */
	if (fflush(fp) == EOF || resize(s, length) < 0)
		return spool__release(s, -1);
	return spool__release(s, 0);
}
