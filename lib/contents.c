/* SPDX-License-Identifier: MIT */
/*
 * contents.c - getting the contents out: a copy (spool_getvalue), a view
 * with no copy (spool_view, spool_unview) and a send to a descriptor
 * (spool_send). spool_persist() is persist.c's. Each works under the
 * FILE lock on the contents as they are after a flush of pending output,
 * and touches neither the stream's position nor its flags or pushback:
 * in memory it reads the image, on disk the temp file at explicit
 * offsets (pread, mmap, the kernel's copies), never through its offset.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spool.h"
#include "spool-internal.h"

/* pread(2) of exactly n bytes, looping over EINTR and short counts; a
 * file that ends early (cut through spool_fileno()) gives EIO. */
static int pread_all(int fd, unsigned char *p, size_t n, off_t at)
{
	ssize_t r;

	while (n > 0) {
		r = spool__fd_pread(fd, p, n, at);
		if (r <= 0) {
			if (r == 0)
				errno = EIO;
			return -1;
		}
		p += r;
		n -= (size_t)r;
		at += r;
	}
	return 0;
}

static char *getvalue(struct spool *s, size_t *len)
{
	off_t size = spool__contents_size(s);
	unsigned char *p;

	if (size < 0)
		return NULL;
	if ((uintmax_t)size > SIZE_MAX - 1) {
		errno = EOVERFLOW;
		return NULL;
	}
	p = spool__malloc((size_t)size + 1);
	if (p == NULL)
		return NULL;
	if (s->fd < 0) {
		spool__img_get(s, 0, p, (size_t)size);
	} else if (pread_all(s->fd, p, (size_t)size, 0) < 0) {
		int err = errno;

		free(p);
		errno = err;
		return NULL;
	}
	p[size] = '\0';
	if (len != NULL)
		*len = (size_t)size;
	return (char *)p;
}

char *spool_getvalue(FILE *fp, size_t *len)
{
	struct spool *s = spool__acquire(fp);
	char *p = NULL;

	if (s != NULL) {
		if (spool__flush_output(fp) == 0)
			p = getvalue(s, len);
		spool__release(s, 0);
	}
	return p;
}

/* What an empty view points at: any valid address will do. */
static const unsigned char nothing[1];

/* A view of the memory image: its head block (view() joined the pieces
 * into it first). */
static const void *view_image(struct spool *s, struct spool_view *v)
{
	if (s->size == 0)
		return nothing;
	v->block = s->buf - s->skew;
	return s->buf;
}

/* A view of the temp file: a read-only mapping of its `size` bytes.
 * Shared, so it needs no memory of its own and a later write through
 * the stream shows in it, as the man page allows. */
static const void *view_file(struct spool *s, struct spool_view *v, off_t size)
{
	void *p;

	if (size == 0)
		return nothing;
	if ((uintmax_t)size > SIZE_MAX) {
		errno = EOVERFLOW;
		return NULL;
	}
	p = spool__mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, s->fd, 0);
	if (p == MAP_FAILED)
		return NULL;
	v->map = p;
	v->map_len = (size_t)size;
	return p;
}

static int view(struct spool *s, struct spool_view *v, const void **data,
		size_t *len)
{
	off_t size = spool__contents_size(s);
	const void *p;
	int rc;

	if (size < 0)
		return -1;
	/* Joining would pass the memory budget: view the file instead. */
	if (s->fd < 0 && (rc = spool__mem_join(s)) < 0 &&
	    (rc != SPOOL_OVER_BUDGET || spool__roll(s) < 0))
		return -1;
	p = s->fd < 0 ? view_image(s, v) : view_file(s, v, size);
	if (p == NULL)
		return -1;
	v->live = 1;
	v->len = (size_t)size;
	*data = p;
	*len = (size_t)size;
	return 0;
}

int spool_view(FILE *fp, const void **data, size_t *len)
{
	struct spool *s;

	if (data == NULL || len == NULL) {
		errno = EINVAL;
		return -1;
	}
	s = spool__acquire(fp);
	if (s == NULL)
		return -1;
	if (spool__live_view(s) != NULL) {
		errno = EBUSY;
		return spool__release(s, -1);
	}
	if (spool__flush_output(fp) < 0 || spool__more(s) == NULL ||
	    view(s, &s->more->view, data, len) < 0)
		return spool__release(s, -1);
	return spool__release(s, 0);
}

/* Release what the view holds: a block the image gave up, a mapping. */
void spool__view_end(struct spool *s)
{
	struct spool_view *v = spool__view(s);

	if (v == NULL)
		return;
	spool__img_drop_view_block(s);
	if (v->map != NULL)
		munmap(v->map, v->map_len);
	*v = (struct spool_view){0};
}

int spool_unview(FILE *fp)
{
	struct spool *s = spool__acquire(fp);

	if (s == NULL)
		return -1;
	if (spool__live_view(s) == NULL) {
		errno = EINVAL;
		return spool__release(s, -1);
	}
	spool__view_end(s);
	return spool__release(s, 0);
}

int spool_send(FILE *fp, int fd, off_t *offset)
{
	struct spool *s = spool__acquire(fp);
	off_t size, off;
	int rc;

	if (s == NULL)
		return -1;
	if (spool__flush_output(fp) < 0 || (size = spool__contents_size(s)) < 0)
		return spool__release(s, -1);
	if (offset == NULL || *offset < 0 || *offset > size) {
		errno = EINVAL;
		return spool__release(s, -1);
	}
	off = *offset;
	rc = s->fd < 0 ? spool__img_send(s, fd, &off, (size_t)size)
		       : spool__fd_send(s->fd, &off, size, fd);
	*offset = off;
	return spool__release(s, rc);
}
