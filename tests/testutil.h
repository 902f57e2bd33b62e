/*
 * testutil.h - small helpers shared by the Check binaries.
 */
#ifndef SPOOL_TESTUTIL_H
#define SPOOL_TESTUTIL_H

#include "config.h" /* first: feature macros such as _GNU_SOURCE */

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spool.h"

/* Built with AddressSanitizer (gcc defines the first, clang answers the
 * second): some tests must then change how they ask for memory. */
#if defined(__SANITIZE_ADDRESS__)
#define TU_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TU_UNDER_ASAN 1
#endif
#endif

/*
 * The glibc seam (lib/stdio-glibc.c). Built with its internals, the
 * _offset workaround is on whenever its probe passes (everywhere CI
 * runs), and the internals path is on where the running glibc is in the
 * tested range, unless SPOOL_STDIO=portable; SPOOL_STDIO=fast lifts the
 * range. Tests that look at what that path does say which one they
 * expect, and fail when the library's gate decided otherwise.
 */
#ifdef SPOOL_GLIBC_INTERNALS
#include <gnu/libc-version.h>
#define TU_OFFSET_FIX 1
#else
#define TU_OFFSET_FIX 0
#endif

static inline int tu_fast_path_expected(void)
{
#ifdef SPOOL_GLIBC_INTERNALS
	const char *env = getenv("SPOOL_STDIO");
	unsigned major = 0, minor = 0, v;

	if (env != NULL && strcmp(env, "portable") == 0)
		return 0;
	if (env != NULL && strcmp(env, "fast") == 0)
		return 1;
	if (sscanf(gnu_get_libc_version(), "%u.%u", &major, &minor) != 2)
		return 0;
	v = major * 1000 + minor;
	return v >= SPOOL_GLIBC_TESTED_MIN && v <= SPOOL_GLIBC_TESTED_MAX;
#else
	return 0;
#endif
}

/* Is this process running under valgrind? Its preload library says so. */
static inline int tu_under_valgrind(void)
{
	const char *p = getenv("LD_PRELOAD");

	return p != NULL && strstr(p, "/vgpreload_") != NULL;
}

/* Run one suite; the exit status is what automake's test driver wants. */
static inline int tu_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* A fresh private directory under $TMPDIR (or /tmp); caller removes it
 * with tu_rmdir(). */
static inline char *tu_mkdtemp(void)
{
	const char *base = getenv("TMPDIR");
	char *path;

	if (base == NULL || *base == '\0')
		base = "/tmp";
	ck_assert_int_ne(asprintf(&path, "%s/spooltest-XXXXXX", base), -1);
	ck_assert_ptr_nonnull(mkdtemp(path));
	return path;
}

/* Tests that change TMPDIR save it first and put it back after: under
 * CK_FORK=no every test runs in one process. */
static inline char *tu_save_tmpdir(void)
{
	const char *t = getenv("TMPDIR");

	return t != NULL ? strdup(t) : NULL;
}

/* Put back what tu_save_tmpdir() returned (NULL: unset), and free it. */
static inline void tu_restore_tmpdir(char *saved)
{
	ck_assert_int_eq(saved != NULL ? setenv("TMPDIR", saved, 1)
				       : unsetenv("TMPDIR"), 0);
	free(saved);
}

/* Number of entries in `dir` other than . and .. */
static inline int tu_count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	}
	closedir(d);
	return n;
}

/* Remove an (expected empty) test directory. */
static inline void tu_rmdir(char *dir)
{
	ck_assert_int_eq(rmdir(dir), 0);
	free(dir);
}

/* Read the whole contents of fp from offset 0 into a malloc'd buffer;
 * the position is left at the end. */
static inline unsigned char *tu_slurp(FILE *fp, size_t *len)
{
	size_t cap = 4096, n = 0, r;
	unsigned char *buf = malloc(cap);

	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(fseeko(fp, 0, SEEK_SET), 0);
	while ((r = fread(buf + n, 1, cap - n, fp)) > 0) {
		n += r;
		if (n == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			ck_assert_ptr_nonnull(buf);
		}
	}
	ck_assert(!ferror(fp));
	*len = n;
	return buf;
}

#endif /* SPOOL_TESTUTIL_H */
