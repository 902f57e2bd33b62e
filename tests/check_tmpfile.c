/* SPDX-License-Identifier: MIT */
/*
 * check_tmpfile.c - the file a spool rolls over to: created only when
 * needed, never visible by name, 0600, close-on-exec, in the directory
 * the spec picks (opts->dir, else a usable $TMPDIR read at rollover
 * time, else P_tmpdir), sparse for a seek far past the end.
 */
#include "config.h"

#include "testutil.h"

#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define GiB ((off_t)1 << 30)

/* The byte at offset i of every test stream, so any loss or shift shows. */
static unsigned char pat(size_t i)
{
	return (unsigned char)(i * 131 + 7);
}

/* Write bytes [from, to) of the pattern with fwrite. */
static void put_pat(FILE *fp, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++) {
		unsigned char c = pat(i);

		ck_assert_uint_eq(fwrite(&c, 1, 1, fp), 1);
	}
}

/* The whole stream is exactly pattern bytes [0, n). */
static void assert_pat(FILE *fp, size_t n)
{
	size_t len, i;
	unsigned char *got = tu_slurp(fp, &len);

	ck_assert_uint_eq(len, n);
	for (i = 0; i < n; i++)
		ck_assert_msg(got[i] == pat(i), "byte %zu differs", i);
	free(got);
}

/* Open descriptors of this process (opendir's own one included, the
 * same in every call). */
static int fd_count(void)
{
	return tu_count_entries("/proc/self/fd");
}

/*
 * The directory a spool's file was created in, from the kernel's name
 * for the descriptor: "/dir/#1234 (deleted)" for O_TMPFILE,
 * "/dir/.spool-XXXXXX (deleted)" for an unlinked mkostemp() file.
 */
static void fd_dir(int fd, char *out, size_t len)
{
	char link[64];
	ssize_t n;
	char *slash;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, out, len - 1);
	ck_assert_int_gt(n, 0);
	out[n] = '\0';
	ck_assert_msg(strstr(out, " (deleted)") != NULL,
		      "temp file has a name: %s", out);
	slash = strrchr(out, '/');
	ck_assert_ptr_nonnull(slash);
	*slash = '\0';
}

/* fd's file lives in `dir`: by path, and on the same device. */
static void assert_fd_in(int fd, const char *dir)
{
	char got[PATH_MAX + 32];
	char *want = realpath(dir, NULL);
	struct stat fs, ds;

	ck_assert_ptr_nonnull(want);
	fd_dir(fd, got, sizeof(got));
	ck_assert_str_eq(got, want);
	ck_assert_int_eq(fstat(fd, &fs), 0);
	ck_assert_int_eq(stat(dir, &ds), 0);
	ck_assert_uint_eq(fs.st_dev, ds.st_dev);
	free(want);
}

/* A spool with 3 bytes over a 16-byte threshold, rolled by the write. */
static FILE *rolled_spool(const char *dir, const char *mode)
{
	struct spool_options o = {.threshold = 16, .dir = dir};
	FILE *fp = spool_fopen_opts(&o, mode);

	ck_assert_ptr_nonnull(fp);
	put_pat(fp, 0, 19);
	ck_assert_int_eq(fflush(fp), 0);
	ck_assert_int_eq(spool_is_rolled(fp), 1);
	return fp;
}

START_TEST(test_tmpfile_no_name_in_opts_dir)
{
	FILE *fp = rolled_spool(tu_dir_a, "w+");

	ck_assert_int_eq(tu_count_entries(tu_dir_a), 0);
	put_pat(fp, 19, 5000);
	ck_assert_int_eq(fflush(fp), 0);
	ck_assert_int_eq(tu_count_entries(tu_dir_a), 0);
	assert_fd_in(spool_fileno(fp), tu_dir_a);
	assert_pat(fp, 5000);
	ck_assert_int_eq(fclose(fp), 0);
	ck_assert_int_eq(tu_count_entries(tu_dir_a), 0);
}
END_TEST

START_TEST(test_tmpfile_no_name_in_tmpdir)
{
	FILE *fp;

	ck_assert_int_eq(setenv("TMPDIR", tu_dir_a, 1), 0);
	fp = rolled_spool(NULL, "w+");
	ck_assert_int_eq(tu_count_entries(tu_dir_a), 0);
	assert_fd_in(spool_fileno(fp), tu_dir_a);
	assert_pat(fp, 19);
	ck_assert_int_eq(fclose(fp), 0);
	ck_assert_int_eq(tu_count_entries(tu_dir_a), 0);
}
END_TEST

/* A process killed while its spool is on disk leaves nothing behind:
 * the file never had a name, so there is nothing to clean up. */
START_TEST(test_tmpfile_nothing_left_after_kill)
{
	int p[2], status;
	char c;
	pid_t pid;

	ck_assert_int_eq(pipe(p), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct spool_options o = {.threshold = 0, .dir = tu_dir_a};
		FILE *fp = spool_fopen_opts(&o, "w+");

		if (fp == NULL || fputs("data", fp) < 0 || fflush(fp) != 0 ||
		    spool_is_rolled(fp) != 1)
			_exit(1);
		(void)!write(p[1], "r", 1);
		pause();
		_exit(2);
	}
	close(p[1]);
	ck_assert_int_eq(read(p[0], &c, 1), 1);
	ck_assert_int_eq(tu_count_entries(tu_dir_a), 0);
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFSIGNALED(status));
	close(p[0]);
	ck_assert_int_eq(tu_count_entries(tu_dir_a), 0);
}
END_TEST

/* Modes, with and without 'e': the file is the same in all of them. */
static const char *const fd_modes[] = {"w+", "w+e", "wb", "a+", "ae", "r+"};

/* umask 0 so that a file created 0666 or 0644 would show as such. */
START_TEST(test_tmpfile_fd_private_unlinked_cloexec)
{
	struct spool_options o = {
	    .threshold = 4, .dir = tu_dir_a, .data = "xy", .data_len = 2};
	struct stat st;
	FILE *fp;
	int fd;

	umask(0);
	if (fd_modes[_i][0] == 'w') { /* "w" refuses initial data */
		o.data = NULL;
		o.data_len = 0;
	}
	fp = spool_fopen_opts(&o, fd_modes[_i]);
	ck_assert_ptr_nonnull(fp);
	fd = spool_fileno(fp);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	ck_assert_uint_eq(st.st_nlink, 0);
	ck_assert_int_eq(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	ck_assert_int_eq(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDWR);
	ck_assert_int_eq(fclose(fp), 0);
}
END_TEST

/* Exit status of `sh -c 'test -e /proc/self/fd/N'` run by fork+exec:
 * 0 when the new program has descriptor N, 1 when it has not. */
static int child_has_fd(int fd)
{
	char num[16];
	int status;
	pid_t pid;

	snprintf(num, sizeof(num), "%d", fd);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", "test -e /proc/self/fd/$0", num,
		      (char *)NULL);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/* A dup() of the descriptor is inheritable: it proves the probe sees
 * inherited descriptors, so its "not there" for the spool's is real. */
START_TEST(test_tmpfile_fd_not_inherited_by_exec)
{
	FILE *fp = rolled_spool(tu_dir_a, "w+");
	int fd = spool_fileno(fp), copy;

	ck_assert_int_ge(fd, 0);
	copy = dup(fd);
	ck_assert_int_ge(copy, 0);
	ck_assert_int_eq(child_has_fd(copy), 0);
	ck_assert_int_eq(child_has_fd(fd), 1);
	close(copy);
	ck_assert_int_eq(fclose(fp), 0);
}
END_TEST

START_TEST(test_tmpfile_dir_opts_beats_tmpdir)
{
	FILE *fp;

	ck_assert_int_eq(setenv("TMPDIR", tu_dir_a, 1), 0);
	fp = rolled_spool(tu_dir_b, "w+");
	assert_fd_in(spool_fileno(fp), tu_dir_b);
	ck_assert_int_eq(tu_count_entries(tu_dir_a), 0);
	ck_assert_int_eq(fclose(fp), 0);
}
END_TEST

/* The spool is opened under one TMPDIR and rolls over under another:
 * the directory is looked up at rollover time. A second spool rolled
 * after TMPDIR changes again shows the first lookup was not kept. */
START_TEST(test_tmpfile_tmpdir_read_at_rollover)
{
	FILE *fp, *fp2;

	ck_assert_int_eq(setenv("TMPDIR", tu_dir_a, 1), 0);
	fp = spool_fopen(16, "w+");
	fp2 = spool_fopen(16, "w+");
	ck_assert_ptr_nonnull(fp);
	ck_assert_ptr_nonnull(fp2);
	put_pat(fp, 0, 10);
	ck_assert_int_eq(fflush(fp), 0);
	ck_assert_int_eq(setenv("TMPDIR", tu_dir_b, 1), 0);
	put_pat(fp, 10, 40);
	ck_assert_int_eq(fflush(fp), 0);
	ck_assert_int_eq(spool_is_rolled(fp), 1);
	assert_fd_in(spool_fileno(fp), tu_dir_b);
	assert_pat(fp, 40);
	ck_assert_int_eq(setenv("TMPDIR", tu_dir_a, 1), 0);
	ck_assert_int_eq(spool_rollover(fp2), 0);
	assert_fd_in(spool_fileno(fp2), tu_dir_a);
	ck_assert_int_eq(fclose(fp), 0);
	ck_assert_int_eq(fclose(fp2), 0);
}
END_TEST

/* Unset at open, set before spool_rollover(): still seen. */
START_TEST(test_tmpfile_tmpdir_set_after_open)
{
	FILE *fp;

	ck_assert_int_eq(unsetenv("TMPDIR"), 0);
	fp = spool_fopen(16, "w+");
	ck_assert_ptr_nonnull(fp);
	put_pat(fp, 0, 10);
	ck_assert_int_eq(setenv("TMPDIR", tu_dir_a, 1), 0);
	ck_assert_int_eq(spool_rollover(fp), 0);
	assert_fd_in(spool_fileno(fp), tu_dir_a);
	assert_pat(fp, 10);
	ck_assert_int_eq(fclose(fp), 0);
}
END_TEST

/* Kinds of unusable TMPDIR: each must fall back to P_tmpdir. */
enum { BAD_MISSING, BAD_REGULAR, BAD_EMPTY, BAD_REMOVED, BAD_KINDS };

/* Point TMPDIR at something unusable of kind `k`; returns a path to
 * remove afterwards, or NULL. */
static char *set_bad_tmpdir(int k)
{
	char *path = NULL;
	int fd;

	switch (k) {
	case BAD_MISSING:
		ck_assert_int_ne(asprintf(&path, "%s/missing", tu_dir_a), -1);
		ck_assert_int_eq(setenv("TMPDIR", path, 1), 0);
		free(path);
		return NULL;
	case BAD_REGULAR:
		ck_assert_int_ne(asprintf(&path, "%s/file", tu_dir_a), -1);
		fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
		ck_assert_int_ge(fd, 0);
		close(fd);
		ck_assert_int_eq(setenv("TMPDIR", path, 1), 0);
		return path;
	case BAD_EMPTY:
		ck_assert_int_eq(setenv("TMPDIR", "", 1), 0);
		return NULL;
	default: /* a directory that existed and was removed */
		ck_assert_int_ne(asprintf(&path, "%s/gone", tu_dir_a), -1);
		ck_assert_int_eq(mkdir(path, 0700), 0);
		ck_assert_int_eq(setenv("TMPDIR", path, 1), 0);
		ck_assert_int_eq(rmdir(path), 0);
		free(path);
		return NULL;
	}
}

START_TEST(test_tmpfile_bad_tmpdir_falls_back)
{
	char *cleanup = set_bad_tmpdir(_i);
	FILE *fp = spool_fopen(16, "w+");

	ck_assert_ptr_nonnull(fp);
	put_pat(fp, 0, 100);
	ck_assert_int_eq(fflush(fp), 0);
	ck_assert_int_eq(ferror(fp), 0);
	ck_assert_int_eq(spool_is_rolled(fp), 1);
	assert_fd_in(spool_fileno(fp), P_tmpdir);
	assert_pat(fp, 100);
	ck_assert_int_eq(fclose(fp), 0);
	if (cleanup != NULL) {
		ck_assert_int_eq(unlink(cleanup), 0);
		free(cleanup);
	}
}
END_TEST

/* Unusable opts->dir values and the errno the rollover must report. */
static const struct {
	const char *name; /* under tu_dir_a; "" means the empty path */
	int kind;	  /* 0 missing, 1 regular file, 2 empty string */
	int err;
} bad_dirs[] = {
    {"missing", 0, ENOENT},
    {"missing/deeper", 0, ENOENT},
    {"file", 1, ENOTDIR},
    {"", 2, ENOENT},
};

static char *make_bad_dir(int i)
{
	char *path;
	int fd;

	if (bad_dirs[i].kind == 2)
		return strdup("");
	ck_assert_int_ne(asprintf(&path, "%s/%s", tu_dir_a, bad_dirs[i].name),
			 -1);
	if (bad_dirs[i].kind == 1) {
		fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
		ck_assert_int_ge(fd, 0);
		close(fd);
	}
	return path;
}

static void remove_bad_dir(int i, char *path)
{
	if (bad_dirs[i].kind == 1)
		ck_assert_int_eq(unlink(path), 0);
	free(path);
}

/*
 * A bad opts->dir does not stop the open (no file is made until one is
 * needed) but fails every rollover with the directory's own errno, with
 * no fallback: a usable TMPDIR (tu_dir_b) stays empty and unused.
 */
START_TEST(test_tmpfile_bad_dir_rollover_fails)
{
	char *bad = make_bad_dir(_i);
	struct spool_options o = {.threshold = 16, .dir = bad};
	int fds = fd_count();
	FILE *fp;

	ck_assert_int_eq(setenv("TMPDIR", tu_dir_b, 1), 0);
	fp = spool_fopen_opts(&o, "w+");
	ck_assert_ptr_nonnull(fp);
	ck_assert_int_eq(fd_count(), fds);
	put_pat(fp, 0, 10);
	ck_assert_int_eq(fflush(fp), 0);
	errno = 0;
	ck_assert_int_eq(spool_rollover(fp), -1);
	ck_assert_int_eq(errno, bad_dirs[_i].err);
	errno = 0;
	ck_assert_int_eq(spool_fileno(fp), -1);
	ck_assert_int_eq(errno, bad_dirs[_i].err);
	ck_assert_int_eq(spool_is_rolled(fp), 0);
	ck_assert_int_eq(ferror(fp), 0);
	ck_assert_int_eq(fd_count(), fds);
	ck_assert_int_eq(tu_count_entries(tu_dir_b), 0);
	assert_pat(fp, 10);
	ck_assert_int_eq(fclose(fp), 0);
	remove_bad_dir(_i, bad);
}
END_TEST

/*
 * The write that needs the rollover fails through the stream: fflush
 * EOF, ferror, errno from the directory. The bytes of the last good
 * fflush stay readable; the failed bytes are not stored anywhere.
 */
START_TEST(test_tmpfile_bad_dir_write_fails_through_stream)
{
	char *bad = make_bad_dir(_i);
	struct spool_options o = {.threshold = 16, .dir = bad};
	FILE *fp;

	ck_assert_int_eq(setenv("TMPDIR", tu_dir_b, 1), 0);
	fp = spool_fopen_opts(&o, "w+");
	ck_assert_ptr_nonnull(fp);
	put_pat(fp, 0, 10);
	ck_assert_int_eq(fflush(fp), 0);
	put_pat(fp, 10, 30); /* buffered: fwrite cannot know yet */
	errno = 0;
	ck_assert_int_eq(fflush(fp), EOF);
	ck_assert_int_eq(errno, bad_dirs[_i].err);
	ck_assert_int_ne(ferror(fp), 0);
	ck_assert_int_eq(spool_is_rolled(fp), 0);
	ck_assert_int_eq(spool_size(fp), 10);
	ck_assert_int_eq(ftello(fp), 10);
	ck_assert_int_eq(tu_count_entries(tu_dir_b), 0);
	clearerr(fp);
	assert_pat(fp, 10);
	ck_assert_int_eq(fclose(fp), 0);
	remove_bad_dir(_i, bad);
}
END_TEST

/* opts->dir is copied at open, so "fixing" it means creating it: the
 * next write after clearerr() tries again, rolls, and loses nothing
 * that the failed flush had not already reported lost. */
START_TEST(test_tmpfile_bad_dir_retry_after_mkdir)
{
	struct spool_options o = {.threshold = 16};
	char *path;
	FILE *fp;

	ck_assert_int_ne(asprintf(&path, "%s/later", tu_dir_a), -1);
	o.dir = path;
	fp = spool_fopen_opts(&o, "w+");
	ck_assert_ptr_nonnull(fp);
	put_pat(fp, 0, 10);
	ck_assert_int_eq(fflush(fp), 0);
	put_pat(fp, 10, 30);
	ck_assert_int_eq(fflush(fp), EOF);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	clearerr(fp);
	ck_assert_int_eq(ftello(fp), 10);
	put_pat(fp, 10, 30);
	ck_assert_int_eq(fflush(fp), 0);
	ck_assert_int_eq(spool_is_rolled(fp), 1);
	assert_fd_in(spool_fileno(fp), path);
	ck_assert_int_eq(tu_count_entries(path), 0);
	assert_pat(fp, 30);
	ck_assert_int_eq(fclose(fp), 0);
	ck_assert_int_eq(rmdir(path), 0);
	free(path);
}
END_TEST

#define MANY 5000

/* Thousands of small spools cost no descriptor and no file. */
START_TEST(test_tmpfile_5000_spools_hold_no_fd)
{
	FILE **fps = calloc(MANY, sizeof(*fps));
	int fds = fd_count(), i, n;
	char line[32];

	ck_assert_ptr_nonnull(fps);
	ck_assert_int_eq(setenv("TMPDIR", tu_dir_a, 1), 0);
	for (i = 0; i < MANY; i++) {
		fps[i] = spool_fopen(64, "w+");
		ck_assert_ptr_nonnull(fps[i]);
		ck_assert_int_gt(fprintf(fps[i], "spool %d\n", i), 0);
		ck_assert_int_eq(fflush(fps[i]), 0);
	}
	ck_assert_int_eq(fd_count(), fds);
	ck_assert_int_eq(tu_count_entries(tu_dir_a), 0);
	for (i = 0; i < MANY; i++) {
		ck_assert_int_eq(spool_is_rolled(fps[i]), 0);
		rewind(fps[i]);
		ck_assert_ptr_nonnull(fgets(line, sizeof(line), fps[i]));
		ck_assert_int_eq(sscanf(line, "spool %d", &n), 1);
		ck_assert_int_eq(n, i);
	}
	for (i = 0; i < MANY; i++)
		ck_assert_int_eq(fclose(fps[i]), 0);
	ck_assert_int_eq(fd_count(), fds);
	free(fps);
}
END_TEST

/*
 * A 4-byte write at 5 GiB on disk: the gap stays a hole, so the file
 * allocates a few blocks, not gigabytes. The hole reads as zeros.
 */
START_TEST(test_tmpfile_sparse_5gib_on_disk)
{
	struct spool_options o = {.threshold = 4096, .dir = tu_dir_a};
	const off_t at = 5 * GiB;
	unsigned char got[8];
	struct stat st;
	FILE *fp = spool_fopen_opts(&o, "w+");

	ck_assert_ptr_nonnull(fp);
	ck_assert_int_eq(fseeko(fp, at, SEEK_SET), 0);
	ck_assert_int_eq(spool_is_rolled(fp), 0);
	ck_assert_uint_eq(fwrite("abcd", 1, 4, fp), 4);
	ck_assert_int_eq(ftello(fp), at + 4);
	ck_assert_int_eq(fflush(fp), 0);
	ck_assert_int_eq(spool_is_rolled(fp), 1);
	ck_assert_int_eq(spool_size(fp), at + 4);
	ck_assert_int_eq(fstat(spool_fileno(fp), &st), 0);
	ck_assert_int_eq(st.st_size, at + 4);
	ck_assert_int_lt(st.st_blocks, 2048); /* 1 MiB in 512-byte units */
	ck_assert_int_eq(fseeko(fp, at - 1, SEEK_SET), 0);
	ck_assert_uint_eq(fread(got, 1, sizeof(got), fp), 5);
	ck_assert_mem_eq(got, "\0abcd", 5);
	ck_assert_int_ne(feof(fp), 0);
	ck_assert_int_eq(ftello(fp), at + 4);
	rewind(fp);
	ck_assert_uint_eq(fread(got, 1, sizeof(got), fp), sizeof(got));
	ck_assert_mem_eq(got, "\0\0\0\0\0\0\0\0", sizeof(got));
	ck_assert_int_eq(fclose(fp), 0);
}
END_TEST

/* In memory a seek is only a number: nothing rolls, nothing grows,
 * and reading there finds the end of the data. */
START_TEST(test_tmpfile_seek_5gib_in_memory)
{
	const off_t at = 5 * GiB;
	size_t before;
	FILE *fp = spool_fopen(1 << 20, "w+");
	char c;

	ck_assert_ptr_nonnull(fp);
	ck_assert_int_eq(setenv("TMPDIR", tu_dir_a, 1), 0);
	before = mallinfo2().uordblks;
	ck_assert_int_eq(fseeko(fp, at, SEEK_SET), 0);
	ck_assert_int_eq(ftello(fp), at);
	ck_assert_uint_eq(fread(&c, 1, 1, fp), 0);
	ck_assert_int_ne(feof(fp), 0);
	ck_assert_int_eq(ftello(fp), at);
	/* stdio may allocate its 8 KiB buffer; anything near the offset
	 * would be megabytes. */
	ck_assert_uint_lt(mallinfo2().uordblks - before, 64 * 1024);
	ck_assert_int_eq(spool_is_rolled(fp), 0);
	ck_assert_int_eq(spool_size(fp), 0);
	ck_assert_int_eq(tu_count_entries(tu_dir_a), 0);
	ck_assert_int_eq(fclose(fp), 0);
}
END_TEST

static TCase *tcase(const char *name)
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, tu_dirs_setup, tu_dirs_teardown);
	tcase_set_timeout(tc, 30);
	return tc;
}

static Suite *tmpfile_suite(void)
{
	Suite *s = suite_create("tmpfile");
	TCase *tc;

	tc = tcase("name");
	tcase_add_test(tc, test_tmpfile_no_name_in_opts_dir);
	tcase_add_test(tc, test_tmpfile_no_name_in_tmpdir);
	tcase_add_test(tc, test_tmpfile_nothing_left_after_kill);
	suite_add_tcase(s, tc);

	tc = tcase("fd");
	tcase_add_loop_test(tc, test_tmpfile_fd_private_unlinked_cloexec, 0,
			    sizeof(fd_modes) / sizeof(fd_modes[0]));
	tcase_add_test(tc, test_tmpfile_fd_not_inherited_by_exec);
	suite_add_tcase(s, tc);

	tc = tcase("dir");
	tcase_add_test(tc, test_tmpfile_dir_opts_beats_tmpdir);
	tcase_add_test(tc, test_tmpfile_tmpdir_read_at_rollover);
	tcase_add_test(tc, test_tmpfile_tmpdir_set_after_open);
	tcase_add_loop_test(tc, test_tmpfile_bad_tmpdir_falls_back, 0,
			    BAD_KINDS);
	tcase_add_loop_test(tc, test_tmpfile_bad_dir_rollover_fails, 0,
			    sizeof(bad_dirs) / sizeof(bad_dirs[0]));
	tcase_add_loop_test(tc, test_tmpfile_bad_dir_write_fails_through_stream,
			    0, sizeof(bad_dirs) / sizeof(bad_dirs[0]));
	tcase_add_test(tc, test_tmpfile_bad_dir_retry_after_mkdir);
	suite_add_tcase(s, tc);

	tc = tcase("scale");
	tcase_add_test(tc, test_tmpfile_5000_spools_hold_no_fd);
	tcase_add_test(tc, test_tmpfile_sparse_5gib_on_disk);
	tcase_add_test(tc, test_tmpfile_seek_5gib_in_memory);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(tmpfile_suite());
}
