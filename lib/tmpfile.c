/* SPDX-License-Identifier: MIT */
/*
 * tmpfile.c - the file a spool rolls over to: never visible by name,
 * mode 0600, close-on-exec. Not tmpfile(3): it ignores TMPDIR and leaves
 * the descriptor inheritable.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spool-internal.h"

#ifndef HAVE_SECURE_GETENV
#define secure_getenv getenv
#endif

static int usable_dir(const char *dir)
{
	struct stat st;

	return spool__stat(dir, &st) == 0 && S_ISDIR(st.st_mode) &&
	       spool__faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) == 0;
}

/*
 * The caller's directory as given (an unusable one is an error, not a
 * reason to write elsewhere); else $TMPDIR when it names a usable
 * directory; else P_tmpdir. Looked up at every rollover, never cached,
 * so a TMPDIR changed or removed since the open is seen.
 */
static const char *pick_dir(const char *dir)
{
	const char *env;

	if (dir != NULL)
		return dir;
	env = secure_getenv("TMPDIR");
	if (env != NULL && *env != '\0' && usable_dir(env))
		return env;
	return P_tmpdir;
}

/* For file systems without O_TMPFILE: a unique name, unlinked at once.
 * The name exists only between mkostemp() and unlink(). */
static int named_then_unlinked(const char *dir, int flags)
{
	char path[PATH_MAX];
	int n, fd, err;

	n = snprintf(path, sizeof(path), "%s/.spool-XXXXXX", dir);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = spool__mkostemp(path, flags);
	if (fd < 0)
		return -1;
	if (spool__unlink(path) == 0)
		return fd;
	err = errno;
	close(fd);
	errno = err;
	return -1;
}

int spool__tmpfile(const char *dir, int append)
{
	const char *d = pick_dir(dir);
	int flags = O_CLOEXEC | (append ? O_APPEND : 0);
	int fd;

#ifdef O_TMPFILE
	do
		fd = spool__open(d, O_TMPFILE | O_RDWR | flags, 0600);
	while (fd < 0 && errno == EINTR);
	/* EISDIR: a kernel older than O_TMPFILE; EOPNOTSUPP: a file
	 * system without it. Any other error is the directory's own. */
	if (fd >= 0 || (errno != EISDIR && errno != EOPNOTSUPP))
		return fd;
#endif
	return named_then_unlinked(d, flags);
}
