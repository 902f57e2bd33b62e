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

/* Release the lock and pass rc through, errno intact. */
int spool__release(FILE *fp, int rc)
{
	int err = errno;

	funlockfile(fp);
	errno = err;
	return rc;
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
		return spool__release(fp, -1);
	return spool__release(fp, 0);
}

int spool_is_rolled(FILE *fp)
{
	struct spool *s = spool__acquire(fp);

	if (s == NULL)
		return -1;
	return spool__release(fp, s->fd >= 0);
}

int spool_fileno(FILE *fp)
{
	struct spool *s = spool__acquire(fp);

	if (s == NULL)
		return -1;
	if (spool__flush_output(fp) < 0 || spool__roll(s) < 0 ||
	    spool__unshare(s) < 0)
		return spool__release(fp, -1);
	return spool__release(fp, s->fd);
}

off_t spool_size(FILE *fp)
{
	struct spool *s = spool__acquire(fp);
	struct stat st;
	off_t size;

	if (s == NULL)
		return -1;
	if (spool__flush_output(fp) < 0)
		return spool__release(fp, -1);
	if (s->fd < 0) {
		size = s->size;
	} else {
		if (spool__fstat(s->fd, &st) < 0)
			return spool__release(fp, -1);
		size = st.st_size;
	}
	spool__release(fp, 0);
	return size;
}

/* Resize the contents wherever they are; past the threshold, or when
 * memory runs out, that means rolling over first. */
static int resize(struct spool *s, off_t length)
{
	int rc;

	if (s->fd < 0 && (uintmax_t)length <= s->threshold) {
		if (spool__mem_resize(s, length) == 0)
			return 0;
		if (spool__roll_instead(s) < 0)
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

	if (s == NULL)
		return -1;
	if (length < 0) {
		errno = EINVAL;
		return spool__release(fp, -1);
	}
	if (!(s->mode & SPOOL_M_WRITE)) {
		errno = EBADF;
		return spool__release(fp, -1);
	}
	if (s->limit > 0 && length > s->limit) {
		errno = EFBIG;
		return spool__release(fp, -1);
	}
	/* A mapping past a file's end faults: keep the viewed bytes. */
	if (s->view.live && (uintmax_t)length < s->view.len) {
		errno = EBUSY;
		return spool__release(fp, -1);
	}
	/* A full flush: read-ahead past the new end must not survive. */
	if (fflush(fp) == EOF || resize(s, length) < 0)
		return spool__release(fp, -1);
	return spool__release(fp, 0);
}
