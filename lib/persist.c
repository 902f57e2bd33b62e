/* SPDX-License-Identifier: MIT */
/*
 * persist.c - spool_persist(): give the contents a name, atomically, and
 * keep the spool from ever changing the named file afterwards.
 *
 * On disk, when the temp file lives on the file system of the path, the
 * temp file itself gets the name (linkat(2) of the O_TMPFILE file): no
 * byte is copied. The spool and the name then share one file until the
 * spool's next change, which first moves the spool to a copy
 * (spool__unshare()): a spool that is persisted and closed, the common
 * case, never pays for that copy. Otherwise a new nameless file is
 * written beside the path and then named. Either way the name appears
 * only once the file is complete, by link(2) (never replaces: EEXIST)
 * or rename(2) (SPOOL_REPLACE), and a failure leaves nothing behind but
 * what already was there.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "spool.h"
#include "spool-internal.h"

#define KNOWN_FLAGS (SPOOL_REPLACE | SPOOL_SYNC)

/* Where the file is going: the path, and its directory for the
 * temporary name, the O_TMPFILE file and the fsync. */
struct target {
	const char *path;
	char dir[PATH_MAX];
	unsigned flags;
	int dirfd; /* SPOOL_SYNC: the directory, opened before any change */
};

static int target_init(struct target *t, const char *path, unsigned flags)
{
	const char *slash = strrchr(path, '/');
	size_t n = slash == NULL || slash == path ? 1 : (size_t)(slash - path);

	if (n >= sizeof(t->dir)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (slash == NULL)
		memcpy(t->dir, ".", 2);
	else {
		memcpy(t->dir, path, n);
		t->dir[n] = '\0';
	}
	t->path = path;
	t->flags = flags;
	t->dirfd = -1;
	if (!(flags & SPOOL_SYNC))
		return 0;
	t->dirfd = spool__open(t->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	return t->dirfd < 0 ? -1 : 0;
}

static void close_keep_errno(int fd)
{
	int err = errno;

	close(fd);
	errno = err;
}

static void unlink_keep_errno(const char *name)
{
	int err = errno;

	(void)spool__unlink(name);
	errno = err;
}

/* A name in the target's directory that nothing has yet: tries a new
 * one while link(2) says it exists. `make` creates the name. */
static int temp_name(const struct target *t, char *name, size_t size,
		     int (*make)(const char *, void *), void *arg)
{
	static unsigned long counter;
	unsigned long x;
	int tries, n;

	for (tries = 0; tries < 100; tries++) {
		x = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED) *
			2654435761u ^
		    (unsigned long)getpid() ^ (unsigned long)time(NULL);
		n = snprintf(name, size, "%s/.spool-%08lx", t->dir,
			     x & 0xffffffffu);
		if (n < 0 || (size_t)n >= size) {
			errno = ENAMETOOLONG;
			return -1;
		}
		if (make(name, arg) == 0)
			return 0;
		if (errno != EEXIST)
			return -1;
	}
	return -1;
}

/* link(2) a nameless O_TMPFILE file to `name`: through the descriptor
 * itself where allowed (CAP_DAC_READ_SEARCH), else through /proc. */
static int link_fd(int fd, const char *name)
{
	char proc[64];

	if (spool__linkat(fd, "", AT_FDCWD, name, AT_EMPTY_PATH) == 0)
		return 0;
	if (errno != ENOENT && errno != EPERM)
		return -1;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	return spool__linkat(AT_FDCWD, proc, AT_FDCWD, name, AT_SYMLINK_FOLLOW);
}

static int link_fd_cb(const char *name, void *arg)
{
	return link_fd(*(int *)arg, name);
}

/* SPOOL_SYNC: make the new name durable. The one failure that comes
 * after the path changed: the man page says so. */
static int sync_dir(const struct target *t)
{
	return t->dirfd < 0 ? 0 : spool__fsync(t->dirfd);
}

/* Move the complete file at `temp` to the path: rename(2) replaces,
 * link(2) does not; the temporary name goes either way. */
static int place(const struct target *t, const char *temp)
{
	int rc;

	if (t->flags & SPOOL_REPLACE)
		rc = spool__rename(temp, t->path);
	else
		rc = spool__linkat(AT_FDCWD, temp, AT_FDCWD, t->path, 0);
	if (rc < 0 || !(t->flags & SPOOL_REPLACE))
		unlink_keep_errno(temp);
	return rc;
}

/* Name the complete nameless file fd: at the path itself when nothing
 * may be replaced (link fails with EEXIST), else under a temporary name
 * that is then renamed over it. */
static int name_fd(const struct target *t, int fd)
{
	char temp[PATH_MAX];

	if (!(t->flags & SPOOL_REPLACE))
		return link_fd(fd, t->path);
	if (temp_name(t, temp, sizeof(temp), link_fd_cb, &fd) < 0)
		return -1;
	return place(t, temp);
}

/* The mode fopen() would give a new file there: 0666 less the umask,
 * or what the directory's default ACL says. Asked of the kernel by
 * creating a nameless file: umask(2) cannot be read without changing
 * it, which races with other threads. */
static int new_file_mode(const struct target *t, mode_t *mode)
{
	struct stat st;
	int fd = spool__open(t->dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666);

	if (fd < 0)
		return -1;
	if (spool__fstat(fd, &st) < 0) {
		close_keep_errno(fd);
		return -1;
	}
	close(fd);
	*mode = st.st_mode & 07777;
	return 0;
}

/*
 * No copy: the spool's own temp file gets the name. Works only on the
 * path's file system, for a file made with O_TMPFILE (not linked yet);
 * returns 1 when this way does not apply, so the caller copies.
 */
static int link_in_place(struct spool *s, const struct target *t)
{
	struct stat st, dst;
	mode_t mode;

	if (s->fd < 0 || s->linked)
		return 1;
	if (spool__fstat(s->fd, &st) < 0 || spool__stat(t->dir, &dst) < 0)
		return -1;
	if (st.st_dev != dst.st_dev || new_file_mode(t, &mode) < 0)
		return 1;
	if (spool__fchmod(s->fd, mode) < 0)
		return -1;
	if (((t->flags & SPOOL_SYNC) && spool__fsync(s->fd) < 0) ||
	    name_fd(t, s->fd) < 0) {
		/* Still nameless: the temp file's own mode (0600) again. */
		int err = errno;

		(void)spool__fchmod(s->fd, st.st_mode & 07777);
		errno = err;
		/* A file made without O_TMPFILE cannot be linked: copy. */
		return errno == ENOENT || errno == EXDEV ? 1 : -1;
	}
	s->linked = 1;
	return sync_dir(t);
}

/* Write the contents to fd, from the image or from the temp file. */
static int write_contents(struct spool *s, int fd)
{
	off_t off = 0, size;

	if (s->fd < 0)
		return spool__img_write(s, fd, (size_t)s->size);
	size = spool__contents_size(s);
	return size < 0 ? -1 : spool__fd_send(s->fd, &off, size, fd);
}

static int open_named(const char *name, void *arg)
{
	int *fd = arg;

	*fd = spool__open(name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	return *fd < 0 ? -1 : 0;
}

/* A copy beside the path: a nameless file where the file system has
 * O_TMPFILE, else one under a temporary name; written whole, made
 * durable if asked, then named. Created with 0666, so the kernel applies
 * the umask or default ACL, as fopen() does. */
static int copy_beside(struct spool *s, const struct target *t)
{
	char temp[PATH_MAX] = "";
	int fd, rc;

	fd = spool__open(t->dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666);
	if (fd < 0) {
		/* EISDIR: a kernel without O_TMPFILE; EOPNOTSUPP: a file
		 * system without it (as in tmpfile.c). */
		if (errno != EISDIR && errno != EOPNOTSUPP)
			return -1;
		if (temp_name(t, temp, sizeof(temp), open_named, &fd) < 0)
			return -1;
	}
	rc = write_contents(s, fd);
	if (rc == 0 && (t->flags & SPOOL_SYNC))
		rc = spool__fsync(fd);
	if (rc == 0)
		rc = temp[0] != '\0' ? place(t, temp) : name_fd(t, fd);
	else if (temp[0] != '\0')
		unlink_keep_errno(temp);
	close_keep_errno(fd);
	return rc < 0 ? -1 : sync_dir(t);
}

int spool_persist(FILE *fp, const char *path, unsigned flags)
{
	struct target t;
	struct spool *s;
	int rc;

	if (path == NULL || (flags & ~KNOWN_FLAGS) != 0) {
		errno = EINVAL;
		return -1;
	}
	s = spool__acquire(fp);
	if (s == NULL)
		return -1;
	/* A name would outlive the wiping at fclose(). */
	if (s->flags & SPOOL_SECRET) {
		errno = EPERM;
		return spool__release(s, -1);
	}
	if (spool__flush_output(fp) < 0 || target_init(&t, path, flags) < 0)
		return spool__release(s, -1);
	rc = link_in_place(s, &t);
	if (rc == 1)
		rc = copy_beside(s, &t);
	if (t.dirfd >= 0)
		close_keep_errno(t.dirfd);
	return spool__release(s, rc);
}

/*
 * A spool whose temp file was given a name moves to a copy of it before
 * its first change, at the same offset and under the same descriptor
 * number, and lets the name have the original: the kernel copies
 * (copy_file_range(2): shared extents where the file system can, such as XFS or
 * Btrfs).
 */
int spool__unshare(struct spool *s)
{
	off_t pos, off = 0, size;
	int fd;

	if (!s->linked)
		return 0;
	pos = spool__lseek(s->fd, 0, SEEK_CUR);
	if (pos < 0 || (size = spool__contents_size(s)) < 0)
		return -1;
	/* Not O_APPEND yet: copy_file_range(2) refuses such a target. */
	fd = spool__tmpfile(spool__dir(s), 0);
	if (fd < 0)
		return -1;
	if (spool__fd_send(s->fd, &off, size, fd) < 0 ||
	    spool__lseek(fd, pos, SEEK_SET) < 0) {
		close_keep_errno(fd);
		return -1;
	}
	/* Setting O_APPEND on a descriptor of ours cannot fail. */
	if (s->mode & SPOOL_M_APPEND)
		(void)fcntl(fd, F_SETFL, O_APPEND);
	/* The copy takes the old descriptor's number, which spool_fileno()
	 * promises stays the same until fclose(). */
	if (spool__dup3(fd, s->fd, O_CLOEXEC) < 0) {
		close_keep_errno(fd);
		return -1;
	}
	close(fd);
	s->linked = 0;
	return 0;
}
