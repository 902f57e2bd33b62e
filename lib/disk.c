/* SPDX-License-Identifier: MIT */
/*
 * disk.c - the temp file a spool moves to: creating it with the contents
 * already in, and reading and writing its descriptor. Once a spool is on
 * disk the file's offset and size are the truth, so these are thin.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include "spool.h"
#include "spool-internal.h"

/* write(2), looping over EINTR and short counts. Returns the bytes
 * written; fewer than n means an error, with errno set. */
size_t spool__fd_write(int fd, const void *buf, size_t n)
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

/* read(2), looping over EINTR. */
ssize_t spool__fd_read(int fd, void *buf, size_t n)
{
	ssize_t r;

	do
		r = spool__read(fd, buf, n);
	while (r < 0 && errno == EINTR);
	return r;
}

/* pread(2), looping over EINTR. */
ssize_t spool__fd_pread(int fd, void *buf, size_t n, off_t at)
{
	ssize_t r;

	do
		r = spool__pread(fd, buf, n, at);
	while (r < 0 && errno == EINTR);
	return r;
}

/*
 * A temp file holding `len` bytes of `data` (NULL: of the memory image),
 * its offset at s->pos. Everything is written before anyone sees the
 * descriptor, so a failure leaves the caller's state untouched and the
 * file is simply closed.
 */
int spool__disk_create(struct spool *s, const void *data, size_t len)
{
	int fd, err, ok;

	fd = spool__tmpfile(spool__dir(s), (s->mode & SPOOL_M_APPEND) != 0);
	if (fd < 0)
		return -1;
	ok = data != NULL ? spool__fd_write(fd, data, len) == len
			  : spool__img_write(s, fd, len) == 0;
	if (ok && spool__lseek(fd, s->pos, SEEK_SET) >= 0)
		return fd;
	err = errno;
	if (s->flags & SPOOL_SECRET)
		spool__secret_wipe_file(fd);
	close(fd);
	errno = err;
	return -1;
}

/* The kernel's ways to copy between descriptors, best first. */
enum { BY_COPY_RANGE, BY_SENDFILE, BY_READ_WRITE };

/* Is err a "this way cannot copy to that target" answer, so that the
 * next way should be tried? copy_file_range(2): EXDEV across file
 * systems (before Linux 5.19 also between types), EINVAL for a pipe or
 * socket, EBADF for an O_APPEND target, EOPNOTSUPP or ENOSYS where it
 * is missing. sendfile(2): EINVAL for an O_APPEND target or one it
 * cannot splice to, ENOSYS. A real error is reported as it is. */
static int try_next(int how, int err)
{
	if (how == BY_COPY_RANGE)
		return err == EXDEV || err == EINVAL || err == EBADF ||
		       err == EOPNOTSUPP || err == ENOSYS;
	return err == EINVAL || err == ENOSYS;
}

/* The last way: pread(2) 64 KiB, then write(2) it; *off advances by
 * what was written, so a short or failed write loses nothing. */
#define COPY_BUF ((size_t)64 << 10)

static ssize_t read_write(int in, off_t *off, size_t n, int out)
{
	unsigned char *buf;
	ssize_t r;
	size_t done;

	if (n > COPY_BUF)
		n = COPY_BUF;
	buf = spool__malloc(n);
	if (buf == NULL)
		return -1;
	r = spool__fd_pread(in, buf, n, *off);
	if (r > 0) {
		done = spool__fd_write(out, buf, (size_t)r);
		/* The bytes may be a secret spool's: never left in a freed
		 * block (cheap next to the copy). */
		explicit_bzero(buf, (size_t)r);
		*off += (off_t)done;
		if (done < (size_t)r)
			r = done > 0 ? (ssize_t)done : -1;
	}
	free(buf);
	return r;
}

/* The most one kernel call is asked to copy: the kernel cuts every call
 * to about 2 GiB anyway, and a smaller piece lets a signal in sooner. */
#define COPY_MAX ((size_t)1 << 30)

int spool__fd_send(int in, off_t *off, off_t end, int out)
{
	int how = BY_COPY_RANGE;
	size_t n;
	ssize_t w;

	while (*off < end) {
		n = end - *off < (off_t)COPY_MAX ? (size_t)(end - *off)
						 : COPY_MAX;
		if (how == BY_COPY_RANGE)
			w = spool__copy_file_range(in, off, out, NULL, n, 0);
		else if (how == BY_SENDFILE)
			w = spool__sendfile(out, in, off, n);
		else
			w = read_write(in, off, n, out);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && how < BY_READ_WRITE && try_next(how, errno)) {
			how++;
			continue;
		}
		if (w <= 0) {
			if (w == 0)
				errno = EIO; /* the file ended early */
			return -1;
		}
	}
	return 0;
}
