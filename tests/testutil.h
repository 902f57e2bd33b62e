/* SPDX-License-Identifier: MIT */
/*
 * testutil.h - small helpers shared by the Check binaries.
 */
#ifndef SPOOL_TESTUTIL_H
#define SPOOL_TESTUTIL_H

#include "config.h" /* first: feature macros such as _GNU_SOURCE */

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <time.h>
#include <sys/wait.h>
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
	ck_assert_int_eq(
	    saved != NULL ? setenv("TMPDIR", saved, 1) : unsetenv("TMPDIR"), 0);
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

/* spool_fopen_opts() with these options; it must succeed. */
static inline FILE *tu_open_opts(size_t threshold, off_t limit,
				 const char *mode, const void *data, size_t len)
{
	struct spool_options o = {
	    .threshold = threshold,
	    .limit = limit,
	    .data = data,
	    .data_len = len,
	};
	FILE *fp = spool_fopen_opts(&o, mode);

	ck_assert_ptr_nonnull(fp);
	return fp;
}

/* The whole contents read through the stream equal want[0..n). */
static inline void tu_expect_contents(FILE *fp, const void *want, size_t n)
{
	size_t len;
	unsigned char *got = tu_slurp(fp, &len);

	ck_assert_uint_eq(len, n);
	ck_assert_msg(memcmp(got, want, n) == 0, "contents differ");
	free(got);
}

/* The same through the descriptor (any mode); the spool rolls over. */
static inline void tu_expect_fd_contents(FILE *fp, const void *want, size_t n)
{
	int fd = spool_fileno(fp);
	unsigned char *got = malloc(n + 1);
	struct stat st;

	ck_assert_int_ge(fd, 0);
	ck_assert_ptr_nonnull(got);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_eq(st.st_size, (off_t)n);
	ck_assert_int_eq(pread(fd, got, n, 0), (ssize_t)n);
	ck_assert_msg(memcmp(got, want, n) == 0, "file contents differ");
	free(got);
}

/* A test case of suite s, with time for the slow tests. */
static inline TCase *tu_tcase(Suite *s, const char *name)
{
	TCase *tc = tcase_create(name);

	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);
	return tc;
}

/* ---- the fixture of tests that change TMPDIR or the umask ---- */

/* Two private directories, empty again at teardown. */
static char *tu_dir_a, *tu_dir_b;
static char *tu_saved_tmpdir; /* the caller's TMPDIR */
static mode_t tu_saved_umask;

static inline void tu_dirs_setup(void)
{
	tu_saved_tmpdir = tu_save_tmpdir();
	tu_saved_umask = umask(022); /* reading it means setting it */
	umask(tu_saved_umask);
	tu_dir_a = tu_mkdtemp();
	tu_dir_b = tu_mkdtemp();
}

/* CK_FORK=no runs every test in one process: put TMPDIR and the umask
 * back so that one test's environment cannot leak into the next. */
static inline void tu_dirs_teardown(void)
{
	tu_restore_tmpdir(tu_saved_tmpdir);
	umask(tu_saved_umask);
	tu_rmdir(tu_dir_a);
	tu_rmdir(tu_dir_b);
}

/* ---- children: scenarios that change limits, ids or mounts ---- */

/*
 * Such a scenario runs in a child forked by tu_in_child() and reports by
 * exit status. It checks with TU_REQUIRE, not ck_assert: under
 * CK_FORK=no a failed ck_assert in the child would unwind into a second
 * copy of the test runner.
 */
#define TU_REQUIRE(cond)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: %s (errno %d: %s)\n",          \
				__FILE__, __LINE__, #cond, errno,              \
				strerror(errno));                              \
			return 1;                                              \
		}                                                              \
	} while (0)

#define TU_SKIPPED 77 /* a child's exit status: the facility is missing */

/* Run fn(arg) in a forked child and assert that it returned 0, or
 * TU_SKIPPED when skip_ok (the child has printed why). */
static inline void tu_in_child_status(int (*fn)(void *), void *arg, int skip_ok)
{
	int status;
	pid_t pid;

	fflush(NULL); /* the child must not write the parent's buffers */
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(fn(arg));
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status), "child died (status %#x)", status);
	ck_assert_msg(WEXITSTATUS(status) == 0 ||
			  (skip_ok && WEXITSTATUS(status) == TU_SKIPPED),
		      "child failed (%d)", WEXITSTATUS(status));
}

static inline void tu_in_child(int (*fn)(void *), void *arg)
{
	tu_in_child_status(fn, arg, 0);
}

/* tu_in_child(), except that TU_SKIPPED from the child is no failure. */
static inline void tu_in_child_skip(int (*fn)(void *), void *arg)
{
	tu_in_child_status(fn, arg, 1);
}

/* Entries in d other than . and .., or -1: tu_count_entries() without
 * its ck_assert, for use in children. */
static inline int tu_entries(const char *d)
{
	DIR *dp = opendir(d);
	struct dirent *e;
	int n = 0;

	if (dp == NULL)
		return -1;
	while ((e = readdir(dp)) != NULL)
		n +=
		    strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	closedir(dp);
	return n;
}

/* Free bytes on the file system holding path, or -1. */
static inline long long tu_free_bytes(const char *path)
{
	struct statvfs sv;

	if (statvfs(path, &sv) < 0)
		return -1;
	return (long long)sv.f_bfree * (long long)sv.f_frsize;
}

/* Is the free space on path's file system `want` again? Polled for up
 * to 2 s: the last close of a nameless file hands its blocks back on
 * the kernel's own time (seen once in some thousand runs). */
static inline int tu_free_bytes_back(const char *path, long long want)
{
	struct timespec ten_ms = {0, 10 * 1000 * 1000};

	for (int i = 0; i < 200; i++) {
		if (tu_free_bytes(path) == want)
			return 1;
		nanosleep(&ten_ms, NULL);
	}
	return 0;
}

#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC 0x01021994
#endif

/* Map our ids into a new user namespace, as `unshare -r` does. */
static inline int tu_map_ids(uid_t uid, gid_t gid)
{
	char line[64];
	int fd, n;
	const char *file[] = {"/proc/self/setgroups", "/proc/self/uid_map",
			      "/proc/self/gid_map"};

	for (int i = 0; i < 3; i++) {
		if (i == 0)
			n = snprintf(line, sizeof(line), "deny");
		else
			n = snprintf(line, sizeof(line), "0 %u 1",
				     i == 1 ? (unsigned)uid : (unsigned)gid);
		fd = open(file[i], O_WRONLY | O_CLOEXEC);
		if (fd < 0 && i == 0 && errno == ENOENT)
			continue; /* kernels before 3.19 */
		if (fd < 0 || write(fd, line, (size_t)n) != n)
			return -1;
		close(fd);
	}
	return 0;
}

/*
 * In this (child) process only: a new mount namespace with private
 * propagation, so that nothing mounted here is seen outside, and a
 * tmpfs of `size` bytes on `path`. The mount goes away with the child.
 */
static inline int tu_private_tmpfs(const char *path, size_t size)
{
	char opt[64];
	struct statfs sf;

	if (geteuid() == 0) {
		if (unshare(CLONE_NEWNS) < 0)
			return -1;
	} else {
		uid_t uid = getuid();
		gid_t gid = getgid();

		if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0 ||
		    tu_map_ids(uid, gid) < 0)
			return -1;
	}
	if (mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0)
		return -1;
	snprintf(opt, sizeof(opt), "size=%zu,mode=0700", size);
	if (mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, opt) < 0)
		return -1;
	/* Prove it: the directory is now a tmpfs of exactly that size. */
	if (statfs(path, &sf) < 0 || sf.f_type != TMPFS_MAGIC ||
	    (size_t)sf.f_blocks * (size_t)sf.f_bsize != size) {
		errno = EXDEV;
		return -1;
	}
	return 0;
}

/*
 * Can this machine give a child a private tmpfs? Tried in a throwaway
 * child on a throwaway directory; on failure `why` says why.
 */
static inline int tu_have_private_tmpfs(char *why, size_t len)
{
	const char *base = getenv("TMPDIR");
	char path[4096];
	int status, err = 0;
	pid_t pid;

	if (base == NULL || *base == '\0')
		base = "/tmp";
	snprintf(path, sizeof(path), "%s/spoolprobe-XXXXXX", base);
	if (mkdtemp(path) == NULL) {
		snprintf(why, len, "mkdtemp: %s", strerror(errno));
		return 0;
	}
	fflush(NULL);
	pid = fork();
	if (pid == 0)
		_exit(tu_private_tmpfs(path, 1 << 20) == 0 ? 0 : errno);
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		err = EIO;
	else
		err = WEXITSTATUS(status);
	rmdir(path);
	snprintf(why, len, "no private tmpfs mount (unshare/mount: %s)",
		 strerror(err));
	return err == 0;
}

/* Bytes in use on the glibc heap, mmapped chunks included. */
static inline size_t tu_heap_used(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

/* mallinfo2() sees only glibc's own allocator: under valgrind or
 * another malloc it reports nothing, and a test cannot measure. */
static inline int tu_heap_measurable(void)
{
	size_t before = tu_heap_used(), after;
	char *p = malloc(1 << 20);

	ck_assert_ptr_nonnull(p);
	memset(p, 1, 1 << 20);
	after = tu_heap_used();
	free(p);
	if (after >= before + (1 << 20))
		return 1;
	printf("SKIP %s: mallinfo2() does not see malloc "
	       "(valgrind or a sanitizer)\n",
	       tcase_name());
	return 0;
}

#endif /* SPOOL_TESTUTIL_H */
