/* SPDX-License-Identifier: MIT */
/*
 * sys.c - the fault-injection seam. Every call in lib/ that can fail is
 * made through a spool__ name. In the installed library those names are
 * macros for the libc functions themselves (spool-internal.h), so this
 * file is empty there; a white-box test compiles the library with
 * SPOOL_FAULT_INJECTION and makes the Nth call fail with a realistic
 * errno (tests/check_inject.c).
 */
#include "config.h"

#include "spool-internal.h"

#ifdef SPOOL_FAULT_INJECTION

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/uio.h>
#include <unistd.h>

struct spool__faults spool__faults;

/* Count the call; fail it when it is the chosen one. Tests arm this
 * only while one thread runs, so plain fields are enough. */
static int inject(const char *name, int err)
{
	struct spool__faults *f = &spool__faults;

	if (!f->armed || ++f->calls != f->fail_at)
		return 0;
	f->hit = f->err != 0 ? f->err : err;
	f->hit_name = name;
	errno = f->hit;
	return 1;
}

void *spool__calloc(size_t n, size_t size)
{
	return inject("calloc", ENOMEM) ? NULL : calloc(n, size);
}

void *spool__malloc(size_t n)
{
	return inject("malloc", ENOMEM) ? NULL : malloc(n);
}

void *spool__realloc(void *p, size_t n)
{
	return inject("realloc", ENOMEM) ? NULL : realloc(p, n);
}

char *spool__strdup(const char *s)
{
	return inject("strdup", ENOMEM) ? NULL : strdup(s);
}

FILE *spool__fopencookie(void *cookie, const char *mode,
			 cookie_io_functions_t io)
{
	return inject("fopencookie", ENOMEM) ? NULL
					     : fopencookie(cookie, mode, io);
}

int spool__open(const char *path, int flags, mode_t mode)
{
	return inject("open", EMFILE) ? -1 : open(path, flags, mode);
}

int spool__mkostemp(char *tmpl, int flags)
{
	return inject("mkostemp", EMFILE) ? -1 : mkostemp(tmpl, flags);
}

int spool__unlink(const char *path)
{
	return inject("unlink", EACCES) ? -1 : unlink(path);
}

int spool__stat(const char *path, struct stat *st)
{
	return inject("stat", EACCES) ? -1 : stat(path, st);
}

int spool__faccessat(int dirfd, const char *path, int mode, int flags)
{
	if (inject("faccessat", EACCES))
		return -1;
	return faccessat(dirfd, path, mode, flags);
}

ssize_t spool__read(int fd, void *buf, size_t n)
{
	return inject("read", EIO) ? -1 : read(fd, buf, n);
}

ssize_t spool__write(int fd, const void *buf, size_t n)
{
	return inject("write", ENOSPC) ? -1 : write(fd, buf, n);
}

ssize_t spool__writev(int fd, const struct iovec *iov, int n)
{
	return inject("writev", ENOSPC) ? -1 : writev(fd, iov, n);
}

off_t spool__lseek(int fd, off_t off, int whence)
{
	return inject("lseek", EINVAL) ? -1 : lseek(fd, off, whence);
}

int spool__fstat(int fd, struct stat *st)
{
	return inject("fstat", EIO) ? -1 : fstat(fd, st);
}

int spool__ftruncate(int fd, off_t length)
{
	return inject("ftruncate", EIO) ? -1 : ftruncate(fd, length);
}

/* Every page reads as not resident here: whether malloc handed out fresh
 * or reused memory must not change which calls a run makes. */
int spool__mincore(void *p, size_t len, unsigned char *vec)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	if (inject("mincore", ENOMEM) || mincore(p, len, vec) < 0)
		return -1;
	memset(vec, 0, (len + page - 1) / page);
	return 0;
}

int spool__madvise(void *p, size_t len, int advice)
{
	return inject("madvise", ENOMEM) ? -1 : madvise(p, len, advice);
}

ssize_t spool__pread(int fd, void *buf, size_t n, off_t at)
{
	return inject("pread", EIO) ? -1 : pread(fd, buf, n, at);
}

void *spool__mmap(void *p, size_t len, int prot, int flags, int fd, off_t at)
{
	return inject("mmap", ENOMEM) ? MAP_FAILED
				      : mmap(p, len, prot, flags, fd, at);
}

ssize_t spool__copy_file_range(int in, off_t *in_off, int out, off_t *out_off,
			       size_t n, unsigned flags)
{
	if (inject("copy_file_range", ENOSPC))
		return -1;
	return copy_file_range(in, in_off, out, out_off, n, flags);
}

ssize_t spool__sendfile(int out, int in, off_t *off, size_t n)
{
	return inject("sendfile", ENOSPC) ? -1 : sendfile(out, in, off, n);
}

int spool__linkat(int olddir, const char *old, int newdir, const char *new,
		  int flags)
{
	if (inject("linkat", ENOSPC))
		return -1;
	return linkat(olddir, old, newdir, new, flags);
}

int spool__rename(const char *old, const char *new)
{
	return inject("rename", ENOSPC) ? -1 : rename(old, new);
}

int spool__fsync(int fd)
{
	return inject("fsync", EIO) ? -1 : fsync(fd);
}

int spool__fchmod(int fd, mode_t mode)
{
	return inject("fchmod", EPERM) ? -1 : fchmod(fd, mode);
}

int spool__dup3(int old, int new, int flags)
{
	return inject("dup3", EBUSY) ? -1 : dup3(old, new, flags);
}

/* Not injected (it does not fail on a mapping of our own); a test may
 * look at what is unmapped first: a secret spool's wiping. */
int spool__munmap(void *p, size_t len)
{
	if (spool__faults.on_munmap != NULL)
		spool__faults.on_munmap(p, len);
	return munmap(p, len);
}

int spool__fstatfs(int fd, struct statfs *st)
{
	return inject("fstatfs", EIO) ? -1 : fstatfs(fd, st);
}

#endif /* SPOOL_FAULT_INJECTION */
