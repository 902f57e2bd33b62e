/*
 * disk.c - the temp file a spool moves to: creating it with the contents
 * already in, and reading and writing its descriptor. Once a spool is on
 * disk the file's offset and size are the truth, so these are thin.
 */
#include "config.h"

#include <errno.h>
#include <unistd.h>

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

/*
 * A temp file holding `len` bytes of `data` (NULL: of the memory image),
 * its offset at s->pos. Everything is written before anyone sees the
 * descriptor, so a failure leaves the caller's state untouched and the
 * file is simply closed.
 */
int spool__disk_create(struct spool *s, const void *data, size_t len)
{
	int fd, err, ok;

	fd = spool__tmpfile(s->dir, (s->mode & SPOOL_M_APPEND) != 0);
	if (fd < 0)
		return -1;
	ok = data != NULL ? spool__fd_write(fd, data, len) == len
			  : spool__img_write(s, fd, len) == 0;
	if (ok && spool__lseek(fd, s->pos, SEEK_SET) >= 0)
		return fd;
	err = errno;
	close(fd);
	errno = err;
	return -1;
}
