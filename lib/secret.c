/* SPDX-License-Identifier: MIT */
/*
 * secret.c - SPOOL_SECRET: the contents' memory is wiped before it is
 * freed, locked in RAM where the process may, and kept out of core
 * dumps; the temp file is overwritten with zeros before it is closed.
 *
 * Blocks are mapped, not malloc()ed: mlock(2) and MADV_DONTDUMP work on
 * whole pages, and a malloc()ed block shares its pages with the heap's
 * other blocks. So a secret spool costs at least a page per block.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spool.h"
#include "spool-internal.h"

static size_t pages(size_t n)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);

	return (n + pg - 1) / pg * pg;
}

/* Best effort: mlock() fails past RLIMIT_MEMLOCK (64 KiB for most
 * users), which is no reason to refuse the memory (spool_fopen_opts(3)
 * says how to tell). */
void *spool__secret_alloc(size_t n)
{
	size_t len = pages(n);
	void *p;

	if (len < n) {
		errno = ENOMEM;
		return NULL;
	}
	p = spool__mmap(NULL, len, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	(void)mlock(p, len);
	(void)madvise(p, len, MADV_DONTDUMP);
	return p;
}

void spool__secret_free(void *p, size_t n)
{
	if (p == NULL)
		return;
	explicit_bzero(p, n);
	(void)spool__munmap(p, pages(n));
}

/* stdio's buffer, which holds contents on their way in and out: one of
 * ours, so that it is wiped too. Before any I/O, as setvbuf() needs. */
int spool__secret_setbuf(struct spool *s)
{
	char *buf = spool__secret_alloc(BUFSIZ);

	if (buf == NULL)
		return -1;
	s->more->iobuf = buf; /* a secret spool has s->more (spool.c) */
	if (setvbuf(s->fp, buf, _IOFBF, BUFSIZ) != 0) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

/* Zeros over the whole temp file, pushed to the disk: it is about to be
 * closed, and its blocks freed. Best effort: nothing can be reported
 * from fclose()'s close callback. A cut (spool_truncate()) frees blocks
 * unzeroed: zeroing first would lose the bytes if the cut then failed. */
void spool__secret_wipe_file(int fd)
{
	static const unsigned char zeros[1 << 16];
	struct stat st;
	off_t at = 0;
	size_t n;
	ssize_t w;

	if (spool__fstat(fd, &st) < 0)
		return;
	while (at < st.st_size) {
		n = st.st_size - at < (off_t)sizeof(zeros)
			? (size_t)(st.st_size - at)
			: sizeof(zeros);
		w = pwrite(fd, zeros, n, at);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		at += w;
	}
	(void)fdatasync(fd);
}
