/* SPDX-License-Identifier: MIT */
/*
 * tsan-filelock.c - tell ThreadSanitizer about glibc's FILE lock.
 * Linked only into the ThreadSanitizer build of run-tsan.sh.
 *
 * Every stdio call takes the stream's lock inside libc with inline
 * atomics that TSan does not see, and so do flockfile()/funlockfile().
 * The spool's state is guarded by exactly that lock (the cookie
 * callbacks run under it, the public functions take it), so without
 * help TSan reports every access to a spool shared between threads as
 * a race. A suppression file cannot tell those apart from a real race
 * (a public function that forgot the lock looks the same), so instead
 * this file models the lock: taking it is an acquire on the FILE*,
 * dropping it a release, for the cookie callbacks (by wrapping the
 * functions given to fopencookie) and for flockfile()/funlockfile().
 * Code that touches a spool without the lock still gets no
 * happens-before edge and is still reported.
 */
#include "config.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

void __tsan_acquire(void *addr);
void __tsan_release(void *addr);

static void (*real_flockfile)(FILE *);
static void (*real_funlockfile)(FILE *);
static FILE *(*real_fopencookie)(void *, const char *, cookie_io_functions_t);

/* The real functions, found behind ours (TSan's own fopencookie
 * interceptor is a weak symbol, which this file replaces). */
static void *next(const char *name)
{
	void *f = dlsym(RTLD_NEXT, name);

	if (f == NULL)
		abort();
	return f;
}

/* Before main(), so that no thread races to fill the pointers in. */
__attribute__((constructor)) static void find_real(void)
{
	real_flockfile = (void (*)(FILE *))next("flockfile");
	real_funlockfile = (void (*)(FILE *))next("funlockfile");
	real_fopencookie =
	    (FILE * (*)(void *, const char *, cookie_io_functions_t))
		next("fopencookie");
}

void flockfile(FILE *fp)
{
	real_flockfile(fp);
	__tsan_acquire(fp);
}

void funlockfile(FILE *fp)
{
	__tsan_release(fp);
	real_funlockfile(fp);
}

/* The caller's cookie and functions, and the stream they belong to. */
struct wrap {
	void *cookie;
	cookie_io_functions_t io;
	FILE *fp;
};

static ssize_t wrap_read(void *c, char *buf, size_t n)
{
	struct wrap *w = c;
	ssize_t r;

	__tsan_acquire(w->fp);
	r = w->io.read(w->cookie, buf, n);
	__tsan_release(w->fp);
	return r;
}

static ssize_t wrap_write(void *c, const char *buf, size_t n)
{
	struct wrap *w = c;
	ssize_t r;

	__tsan_acquire(w->fp);
	r = w->io.write(w->cookie, buf, n);
	__tsan_release(w->fp);
	return r;
}

static int wrap_seek(void *c, off64_t *off, int whence)
{
	struct wrap *w = c;
	int r;

	__tsan_acquire(w->fp);
	r = w->io.seek(w->cookie, off, whence);
	__tsan_release(w->fp);
	return r;
}

static int wrap_close(void *c)
{
	struct wrap *w = c;
	int r;

	__tsan_acquire(w->fp);
	r = w->io.close(w->cookie);
	__tsan_release(w->fp);
	free(w);
	return r;
}

/* Only streams with all four functions are wrapped: libspool's are. */
FILE *fopencookie(void *cookie, const char *mode, cookie_io_functions_t io)
{
	const cookie_io_functions_t mine = {
	    .read = wrap_read,
	    .write = wrap_write,
	    .seek = wrap_seek,
	    .close = wrap_close,
	};
	struct wrap *w;
	FILE *fp;

	if (!io.read || !io.write || !io.seek || !io.close)
		return real_fopencookie(cookie, mode, io);
	w = malloc(sizeof(*w));
	if (w == NULL)
		return NULL;
	w->cookie = cookie;
	w->io = io;
	fp = real_fopencookie(w, mode, mine);
	if (fp == NULL)
		free(w);
	else
		w->fp = fp; /* before any callback can run */
	return fp;
}
