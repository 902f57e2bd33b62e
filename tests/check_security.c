/* SPDX-License-Identifier: MIT */
/*
 * check_security.c - a spool in a hostile environment and at the edges
 * of its numbers.
 *
 * Environment: $TMPDIR or opts->dir that is a symbolic link (to a
 * directory, to a file, dangling), a file, or a world-writable directory
 * without the sticky bit, with another user working in it. The temp
 * file is made with O_TMPFILE: nothing is ever created by name, so there
 * is no name to predict, pre-create or swap for a link, and a link on
 * the way to the directory only decides which directory that is.
 * (The mkostemp() fallback, used where a file system lacks O_TMPFILE,
 * cannot be forced from outside the library, so it is not tested here;
 * it opens with O_CREAT | O_EXCL, which does not follow a planted link
 * either.) The basics (no name in the directory, 0600, close-on-exec,
 * TMPDIR and opts->dir honoured, fallback for an unusable TMPDIR) are in
 * check_tmpfile.c.
 *
 * Numbers: seeks to and past OFF_MAX from every origin, writes and
 * truncation at the largest offsets, threshold and limit at their
 * extremes, initial data longer than any spool can hold. They must fail
 * with EINVAL, EFBIG or EOVERFLOW (or the kernel's own error where the
 * file system decides), never wrap to a small or negative position, and
 * never store more than a file would. For a spool on disk the oracle is
 * a regular file in the same directory, given the same calls; in memory
 * it is the file-like rule the spool documents: every position from 0
 * to OFF_MAX is valid, nothing past it, and a write that would end past
 * OFF_MAX is refused whole with EINVAL, as write(2) refuses it.
 */
#include "testutil.h"

#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define KiB ((size_t)1024)
#define MiB (1024 * KiB)
#define OFF_MAX INT64_MAX
#define NOBODY 65534
#define SKIPPED 77 /* a child's exit status: the facility is missing */

/*
 * Some of these tests make the library ask for more memory than exists
 * (a threshold of SIZE_MAX and an offset near OFF_MAX); it must get NULL
 * back and roll over or report ENOMEM. AddressSanitizer aborts on such a
 * request unless told to return NULL, as malloc does.
 */
#ifdef TU_UNDER_ASAN
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "allocator_may_return_null=1";
}
#endif

/* The byte at offset i of every test stream. */
static unsigned char pat(size_t i)
{
	return (unsigned char)(i * 131 + 7 + (i >> 16));
}

/* Write pattern bytes [from, to) in one fwrite. */
static void buffer_pat(FILE *fp, size_t from, size_t to)
{
	unsigned char *b = malloc(to - from);

	ck_assert_ptr_nonnull(b);
	for (size_t i = from; i < to; i++)
		b[i - from] = pat(i);
	ck_assert_uint_eq(fwrite(b, 1, to - from, fp), to - from);
	free(b);
}

/* The same, flushed. */
static void put_pat(FILE *fp, size_t from, size_t to)
{
	buffer_pat(fp, from, to);
	ck_assert_int_eq(fflush(fp), 0);
}

/* The whole stream is exactly pattern bytes [0, n). */
static void assert_pat(FILE *fp, size_t n)
{
	size_t len, i;
	unsigned char *got = tu_slurp(fp, &len);

	ck_assert_uint_eq(len, n);
	for (i = 0; i < n && got[i] == pat(i); i++)
		;
	ck_assert_msg(i == n, "byte %zu differs", i);
	free(got);
}

/* The whole stream is exactly the n bytes at want. */
static void assert_contents(FILE *fp, const char *want, size_t n)
{
	size_t len;
	unsigned char *got = tu_slurp(fp, &len);

	ck_assert_uint_eq(len, n);
	ck_assert_mem_eq(got, want, n);
	free(got);
}

static int fd_count(void)
{
	return tu_count_entries("/proc/self/fd");
}

/* fd's file is nameless and lives in `dir` (compared after resolving
 * every link in `dir`): the kernel's name for it is "DIR/#N (deleted)". */
static void assert_fd_in(int fd, const char *dir)
{
	char link[64], got[PATH_MAX + 32], *want = realpath(dir, NULL), *slash;
	ssize_t n;

	ck_assert_ptr_nonnull(want);
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, got, sizeof(got) - 1);
	ck_assert_int_gt(n, 0);
	got[n] = '\0';
	ck_assert_msg(strstr(got, " (deleted)") != NULL, "a name: %s", got);
	slash = strrchr(got, '/');
	ck_assert_ptr_nonnull(slash);
	*slash = '\0';
	ck_assert_str_eq(got, want);
	free(want);
}

/* ---- a symbolic link as the directory ---- */

/*
 * TMPDIR (even _i) or opts->dir (odd _i) is a link to tu_dir_a, kept in
 * tu_dir_b. Opening O_TMPFILE through it creates nothing by name, so this
 * is no symlink attack: the file lands in the link's target, nameless,
 * no entry appears in either directory while the data is on disk, and
 * the link itself is left as it was.
 */
START_TEST(test_security_symlinked_dir_lands_in_target)
{
	struct spool_options o = {.threshold = 16};
	char *link, target[PATH_MAX];
	ssize_t n;
	FILE *fp;

	ck_assert_int_ne(asprintf(&link, "%s/link", tu_dir_b), -1);
	ck_assert_int_eq(symlink(tu_dir_a, link), 0);
	if (_i % 2 == 0)
		ck_assert_int_eq(setenv("TMPDIR", link, 1), 0);
	else
		o.dir = link;
	fp = spool_fopen_opts(&o, "w+");
	ck_assert_ptr_nonnull(fp);
	put_pat(fp, 0, 19);
	ck_assert_int_eq(spool_is_rolled(fp), 1);
	for (size_t at = 19; at < 19 + 64 * KiB; at += 4 * KiB) {
		put_pat(fp, at, at + 4 * KiB);
		ck_assert_int_eq(tu_count_entries(tu_dir_a), 0);
		ck_assert_int_eq(tu_count_entries(tu_dir_b), 1);
	}
	assert_fd_in(spool_fileno(fp), tu_dir_a);
	assert_pat(fp, 19 + 64 * KiB);
	ck_assert_int_eq(fclose(fp), 0);
	n = readlink(link, target, sizeof(target) - 1);
	ck_assert_int_gt(n, 0);
	target[n] = '\0';
	ck_assert_str_eq(target, tu_dir_a);
	ck_assert_int_eq(unlink(link), 0);
	free(link);
}
END_TEST

/* Hostile things to point TMPDIR or opts->dir at. The victim is a file
 * in tu_dir_a with contents; a link lives in tu_dir_b. */
enum {
	H_ENV_LINK_TO_FILE, /* TMPDIR -> link -> victim */
	H_ENV_FILE,	    /* TMPDIR = victim */
	H_ENV_DANGLING,	    /* TMPDIR -> link -> tu_dir_a/absent */
	H_DIR_LINK_TO_FILE, /* opts->dir -> link -> victim */
	H_DIR_FILE,	    /* opts->dir = victim */
	H_DIR_DANGLING,	    /* opts->dir -> link -> tu_dir_a/absent */
	H_KINDS
};

#define VICTIM_DATA "precious contents\n"

static int hostile_errno(int k)
{
	return k == H_DIR_DANGLING ? ENOENT : ENOTDIR;
}

/* The victim has not changed in any way. */
static void assert_same_file(const char *path, const struct stat *before)
{
	struct stat st;
	char buf[64];
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_uint_eq(st.st_ino, before->st_ino);
	ck_assert_int_eq(st.st_size, before->st_size);
	ck_assert_uint_eq(st.st_mode, before->st_mode);
	ck_assert_uint_eq(st.st_nlink, before->st_nlink);
	ck_assert_int_eq(st.st_mtim.tv_sec, before->st_mtim.tv_sec);
	ck_assert_int_eq(st.st_mtim.tv_nsec, before->st_mtim.tv_nsec);
	ck_assert_int_eq(read(fd, buf, sizeof(buf)), strlen(VICTIM_DATA));
	ck_assert_mem_eq(buf, VICTIM_DATA, strlen(VICTIM_DATA));
	close(fd);
}

/*
 * A link to a file, a file, a dangling link: never followed into
 * creating, truncating or writing anything. As TMPDIR each is unusable,
 * so P_tmpdir is used; as opts->dir the rollover fails with the
 * directory's error (ENOTDIR, ENOENT) and the spool keeps its bytes.
 * The victim is untouched and the dangling link's target never appears.
 */
START_TEST(test_security_link_or_file_never_written)
{
	struct spool_options o = {.threshold = 16};
	char *victim, *absent, *link, *path;
	int env = _i < H_DIR_LINK_TO_FILE, dangling, fds;
	struct stat before;
	FILE *fp;

	ck_assert_int_ne(asprintf(&victim, "%s/victim", tu_dir_a), -1);
	ck_assert_int_ne(asprintf(&absent, "%s/absent", tu_dir_a), -1);
	ck_assert_int_ne(asprintf(&link, "%s/link", tu_dir_b), -1);
	fp = fopen(victim, "we");
	ck_assert_ptr_nonnull(fp);
	ck_assert_int_ge(fputs(VICTIM_DATA, fp), 0);
	ck_assert_int_eq(fclose(fp), 0);
	ck_assert_int_eq(stat(victim, &before), 0);
	dangling = _i == H_ENV_DANGLING || _i == H_DIR_DANGLING;
	if (_i == H_ENV_FILE || _i == H_DIR_FILE) {
		path = victim;
	} else {
		path = link;
		ck_assert_int_eq(symlink(dangling ? absent : victim, link), 0);
	}
	if (env)
		ck_assert_int_eq(setenv("TMPDIR", path, 1), 0);
	else
		o.dir = path;
	fds = fd_count();
	fp = spool_fopen_opts(&o, "w+");
	ck_assert_ptr_nonnull(fp);
	put_pat(fp, 0, 10);
	buffer_pat(fp, 10, 20); /* past the threshold: the flush rolls */
	errno = 0;
	if (env) {
		ck_assert_int_eq(fflush(fp), 0);
		ck_assert_int_eq(spool_is_rolled(fp), 1);
		assert_fd_in(spool_fileno(fp), P_tmpdir);
		assert_pat(fp, 20);
	} else {
		ck_assert_int_eq(fflush(fp), EOF);
		ck_assert_int_eq(errno, hostile_errno(_i));
		errno = 0;
		ck_assert_int_eq(spool_rollover(fp), -1);
		ck_assert_int_eq(errno, hostile_errno(_i));
		ck_assert_int_eq(spool_is_rolled(fp), 0);
		ck_assert_int_eq(fd_count(), fds);
		clearerr(fp);
		assert_pat(fp, 10);
	}
	ck_assert_int_eq(fclose(fp), 0);
	assert_same_file(victim, &before);
	ck_assert_int_eq(access(absent, F_OK), -1);
	ck_assert_int_eq(tu_count_entries(tu_dir_a), 1);
	ck_assert_int_eq(tu_count_entries(tu_dir_b), path == link);
	if (path == link)
		ck_assert_int_eq(unlink(link), 0);
	ck_assert_int_eq(unlink(victim), 0);
	free(victim);
	free(absent);
	free(link);
}
END_TEST

/* ---- a world-writable directory without the sticky bit ---- */

/*
 * What another user can do in such a directory: remove or rename any
 * entry and plant new ones. Run as nobody when we are root (else as
 * ourselves, who could do all that anyway). It removes every entry it
 * finds, plants a file and a link, and, as a different user, must not
 * reach the spool's file through /proc either.
 */
static int attacker(const char *dir, pid_t victim, int fd)
{
	uid_t victim_uid = geteuid();
	char path[PATH_MAX];
	struct dirent *e;
	DIR *d;
	int f;

	if (geteuid() == 0 && (setgroups(0, NULL) != 0 || setgid(NOBODY) != 0 ||
			       setuid(NOBODY) != 0))
		return 1;
	d = opendir(dir);
	if (d == NULL)
		return errno == EACCES ? SKIPPED : 2;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (unlink(path) != 0)
			return 3;
	}
	closedir(d);
	snprintf(path, sizeof(path), "%s/junk", dir);
	f = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
	if (f < 0)
		return 4;
	close(f);
	snprintf(path, sizeof(path), "%s/.spool-AAAAAA", dir);
	if (symlink("/etc/passwd", path) != 0)
		return 5;
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)victim, fd);
	f = open(path, O_RDWR | O_CLOEXEC);
	if (getuid() != victim_uid && f >= 0)
		return 6;
	if (f >= 0)
		close(f);
	return 0;
}

/* Fork the attacker and wait; 1 if it ran, 0 if it could not reach
 * the directory at all (it then says so). */
static int run_attacker(const char *dir, int fd)
{
	pid_t me = getpid(), pid;
	int status;

	fflush(NULL);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(attacker(dir, me, fd));
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	if (WEXITSTATUS(status) == SKIPPED) {
		printf("SKIP: attacker part: nobody cannot reach %s\n", dir);
		return 0;
	}
	ck_assert_msg(WEXITSTATUS(status) == 0, "attacker step %d",
		      WEXITSTATUS(status));
	return 1;
}

/*
 * Mode 0777 without the sticky bit is usable, and safe for a nameless
 * file: no entry appears while the data is on disk; the file is ours
 * and 0600; another user who empties the directory and plants entries
 * cannot touch it; the spool keeps working on the same file.
 */
START_TEST(test_security_world_writable_dir)
{
	struct stat st, st2;
	char *junk, *planted;
	FILE *fp;
	int fd;

	ck_assert_int_eq(chmod(tu_dir_a, 0777), 0);
	ck_assert_int_eq(stat(tu_dir_a, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0777); /* no S_ISVTX */
	ck_assert_int_eq(setenv("TMPDIR", tu_dir_a, 1), 0);
	fp = spool_fopen(4 * KiB, "w+");
	ck_assert_ptr_nonnull(fp);
	for (size_t at = 0; at < 256 * KiB; at += 16 * KiB) {
		put_pat(fp, at, at + 16 * KiB);
		ck_assert_int_eq(tu_count_entries(tu_dir_a), 0);
	}
	ck_assert_int_eq(spool_is_rolled(fp), 1);
	fd = spool_fileno(fp);
	assert_fd_in(fd, tu_dir_a);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	ck_assert_uint_eq(st.st_uid, geteuid());
	ck_assert_uint_eq(st.st_nlink, 0);
	if (run_attacker(tu_dir_a, fd))
		ck_assert_int_eq(tu_count_entries(tu_dir_a), 2);
	put_pat(fp, 256 * KiB, 320 * KiB);
	ck_assert_int_eq(spool_fileno(fp), fd);
	ck_assert_int_eq(fstat(fd, &st2), 0);
	ck_assert_uint_eq(st2.st_ino, st.st_ino);
	assert_pat(fp, 320 * KiB);
	ck_assert_int_eq(fclose(fp), 0);
	ck_assert_int_ne(asprintf(&junk, "%s/junk", tu_dir_a), -1);
	ck_assert_int_ne(asprintf(&planted, "%s/.spool-AAAAAA", tu_dir_a), -1);
	unlink(junk);
	unlink(planted);
	free(junk);
	free(planted);
	ck_assert_int_eq(chmod(tu_dir_a, 0700), 0);
}
END_TEST

/* ---- seeks at the edges of off_t ---- */

static const struct {
	off_t off;
	int whence;
} seeks[] = {
    {OFF_MAX - 1, SEEK_SET}, {OFF_MAX, SEEK_SET},     {INT64_MIN, SEEK_SET},
    {-1, SEEK_SET},	     {OFF_MAX, SEEK_CUR},     {OFF_MAX - 4, SEEK_CUR},
    {OFF_MAX - 5, SEEK_CUR}, {INT64_MIN, SEEK_CUR},   {-6, SEEK_CUR},
    {OFF_MAX, SEEK_END},     {OFF_MAX - 9, SEEK_END}, {OFF_MAX - 10, SEEK_END},
    {INT64_MIN, SEEK_END},   {-11, SEEK_END},
};

#define NSEEKS (sizeof(seeks) / sizeof(seeks[0]))

/*
 * Every stream here holds "0123456789" and is put at position 5, either
 * plainly (a seek) or with read-ahead buffered (a getc() after a seek to
 * 4), which takes glibc through its other seek path.
 */
static void at_five(FILE *fp, int readahead)
{
	clearerr(fp);
	if (readahead) {
		ck_assert_int_eq(fseeko(fp, 4, SEEK_SET), 0);
		ck_assert_int_eq(getc(fp), '4');
	} else {
		ck_assert_int_eq(fseeko(fp, 5, SEEK_SET), 0);
	}
	ck_assert_int_eq(ftello(fp), 5);
}

static FILE *ten_bytes(FILE *fp)
{
	ck_assert_ptr_nonnull(fp);
	ck_assert_uint_eq(fwrite("0123456789", 1, 10, fp), 10);
	ck_assert_int_eq(fflush(fp), 0);
	return fp;
}

static FILE *spool_ten(size_t threshold, off_t limit)
{
	struct spool_options o = {.threshold = threshold, .limit = limit};

	o.dir = tu_dir_a;
	return ten_bytes(spool_fopen_opts(&o, "w+"));
}

/*
 * In memory: a seek succeeds exactly when its target, computed without
 * overflow, lies in [0, OFF_MAX], and then lands there; otherwise it
 * fails with EINVAL (or EOVERFLOW) and the position, read-ahead
 * included, is where it was. Nothing rolls over, nothing is stored.
 * _i: threshold 16 or SIZE_MAX, times plain or read-ahead.
 */
START_TEST(test_security_seek_extremes_in_memory)
{
	FILE *fp = spool_ten(_i / 2 ? SIZE_MAX : 16, 0);
	int readahead = _i % 2, ok;
	off_t base, target;

	for (size_t k = 0; k < NSEEKS; k++) {
		at_five(fp, readahead);
		base = seeks[k].whence == SEEK_SET   ? 0
		       : seeks[k].whence == SEEK_CUR ? 5
						     : 10;
		ok = !__builtin_add_overflow(base, seeks[k].off, &target) &&
		     target >= 0;
		errno = 0;
		if (ok) {
			ck_assert_msg(
			    fseeko(fp, seeks[k].off, seeks[k].whence) == 0,
			    "seek %zu: %s", k, strerror(errno));
			ck_assert_int_eq(ftello(fp), target);
		} else {
			ck_assert_msg(
			    fseeko(fp, seeks[k].off, seeks[k].whence) == -1,
			    "seek %zu succeeded", k);
			ck_assert(errno == EINVAL || errno == EOVERFLOW);
			ck_assert_int_eq(ftello(fp), 5);
			ck_assert_int_eq(getc(fp), '5');
		}
		ck_assert_int_eq(spool_is_rolled(fp), 0);
	}
	ck_assert_int_eq(spool_size(fp), 10);
	assert_contents(fp, "0123456789", 10);
	ck_assert_int_eq(fclose(fp), 0);
}
END_TEST

/* On disk the file system decides which offsets exist: a regular file
 * in the same directory, given the same calls, is the oracle. */
START_TEST(test_security_seek_extremes_on_disk)
{
	char *path;
	FILE *fp = spool_ten(0, 0), *ref;
	int readahead = _i, rc, ref_rc, err, ref_err;

	ck_assert_int_ne(asprintf(&path, "%s/oracle", tu_dir_a), -1);
	ref = ten_bytes(fopen(path, "w+e"));
	ck_assert_int_eq(spool_is_rolled(fp), 1);
	for (size_t k = 0; k < NSEEKS; k++) {
		at_five(fp, readahead);
		at_five(ref, readahead);
		errno = 0;
		ref_rc = fseeko(ref, seeks[k].off, seeks[k].whence);
		ref_err = errno;
		errno = 0;
		rc = fseeko(fp, seeks[k].off, seeks[k].whence);
		err = errno;
		ck_assert_msg(rc == ref_rc && (rc == 0 || err == ref_err),
			      "seek %zu: %d (%s), a file: %d (%s)", k, rc,
			      strerror(err), ref_rc, strerror(ref_err));
		ck_assert_int_eq(ftello(fp), ftello(ref));
		ck_assert_int_ge(ftello(fp), 0);
		ck_assert_int_eq(getc(fp), getc(ref));
	}
	ck_assert_int_eq(fclose(ref), 0);
	ck_assert_int_eq(unlink(path), 0);
	assert_contents(fp, "0123456789", 10);
	ck_assert_int_eq(fclose(fp), 0);
	free(path);
}
END_TEST

/* ---- writes at the largest offsets ---- */

static const struct {
	size_t threshold;
	off_t limit;
} edges[] = {
    {16, 0},	   {SIZE_MAX, 0},	{SIZE_MAX - 1, 0},
    {16, OFF_MAX}, {SIZE_MAX, OFF_MAX}, {SIZE_MAX - 1, OFF_MAX},
};

#define NEDGES (sizeof(edges) / sizeof(edges[0]))

/*
 * What write(2) says to n bytes at `at` on a regular file in tu_dir_a
 * (pwrite, so that no seek is needed: some file systems cannot seek
 * there). A write whose end would pass OFF_MAX is refused whole, with
 * EINVAL, by the VFS on every file system; the oracle shows it here.
 */
static int file_write_errno(off_t at, size_t n)
{
	char *path;
	int fd, err;

	ck_assert_int_ne(asprintf(&path, "%s/oracle", tu_dir_a), -1);
	fd = open(path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	errno = 0;
	ck_assert_int_eq(pwrite(fd, "abcd", n, at), -1);
	err = errno;
	ck_assert_int_eq(lseek(fd, 0, SEEK_END), 0); /* nothing stored */
	close(fd);
	ck_assert_int_eq(unlink(path), 0);
	free(path);
	return err;
}

/*
 * A write at OFF_MAX can store nothing: its first byte would end past
 * the largest offset. A spool in memory answers as write(2) on a file
 * does (the oracle), or EFBIG where a limit cuts the write first (the
 * limit rule), by both roads a write takes (through stdio's buffer, and
 * straight to the spool for a write larger than the buffer); nothing is
 * stored, the position stays, nothing rolls over.
 */
START_TEST(test_security_write_at_off_max_refused)
{
	FILE *fp = spool_ten(edges[_i].threshold, edges[_i].limit);
	int want = edges[_i].limit ? EFBIG : file_write_errno(OFF_MAX, 4);
	static const char big[64 * 1024];

	ck_assert_int_eq(fseeko(fp, OFF_MAX, SEEK_SET), 0);
	ck_assert_int_eq(ftello(fp), OFF_MAX);
	ck_assert_uint_eq(fwrite("abcd", 1, 4, fp), 4); /* buffered */
	errno = 0;
	ck_assert_int_eq(fflush(fp), EOF);
	ck_assert_int_eq(errno, want);
	ck_assert_int_ne(ferror(fp), 0);
	ck_assert_int_eq(ftello(fp), OFF_MAX);
	clearerr(fp);
	errno = 0;
	ck_assert_uint_lt(fwrite(big, 1, sizeof(big), fp), sizeof(big));
	ck_assert_int_eq(errno, want);
	ck_assert_int_ne(ferror(fp), 0);
	ck_assert_int_eq(spool_is_rolled(fp), 0);
	ck_assert_int_eq(spool_size(fp), 10);
	clearerr(fp);
	assert_contents(fp, "0123456789", 10);
	ck_assert_int_eq(fclose(fp), 0);
	ck_assert_int_eq(tu_count_entries(tu_dir_a), 0);
}
END_TEST

/*
 * A write that starts below OFF_MAX and would end past it. Without a
 * limit it is refused whole, as write(2) refuses it (the oracle):
 * nothing stored, no rollover, the position unchanged. With the limit
 * at OFF_MAX the limit rule cuts it to the bytes below OFF_MAX, which
 * then need a file that large; the file system may refuse (ext4 stops
 * at 16 TiB). Either way the call fails, the position never wraps, the
 * first bytes are intact, and anything stored is the head of the
 * write, ending exactly at OFF_MAX.
 */
START_TEST(test_security_write_across_off_max_no_wrap)
{
	FILE *fp = spool_ten(edges[_i].threshold, edges[_i].limit);
	unsigned char got[2];
	off_t size, pos;
	int err;

	ck_assert_int_eq(fseeko(fp, OFF_MAX - 2, SEEK_SET), 0);
	ck_assert_uint_eq(fwrite("abcd", 1, 4, fp), 4);
	errno = 0;
	ck_assert_int_eq(fflush(fp), EOF);
	err = errno;
	clearerr(fp);
	pos = ftello(fp);
	size = spool_size(fp);
	if (edges[_i].limit == 0) {
		ck_assert_int_eq(err, file_write_errno(OFF_MAX - 2, 4));
		ck_assert_int_eq(pos, OFF_MAX - 2);
		ck_assert_int_eq(size, 10);
		ck_assert_int_eq(spool_is_rolled(fp), 0);
	}
	ck_assert_msg(err == EFBIG || err == EINVAL || err == ENOMEM,
		      "errno %d (%s)", err, strerror(err));
	ck_assert(pos == OFF_MAX - 2 || pos == OFF_MAX);
	ck_assert(size == 10 || size == OFF_MAX);
	if (size == OFF_MAX) {
		/* pread: stdio would ask for a whole buffer, and read(2)
		 * refuses a read whose end would pass OFF_MAX */
		ck_assert_int_eq(pread(spool_fileno(fp), got, 2, OFF_MAX - 2),
				 2);
		ck_assert_mem_eq(got, "ab", 2);
		ck_assert_int_eq(spool_truncate(fp, 10), 0);
	}
	assert_contents(fp, "0123456789", 10);
	ck_assert_int_eq(fclose(fp), 0);
	ck_assert_int_eq(tu_count_entries(tu_dir_a), 0);
}
END_TEST

/* The largest offset lseek() accepts on a file in dir: the file
 * system's maximum file size. */
static off_t fs_max_offset(int fd)
{
	off_t lo = 0, hi = OFF_MAX, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2 + 1;
		if (lseek(fd, mid, SEEK_SET) == mid)
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo;
}

struct outcome {
	size_t n;
	int flush, err, error;
	off_t pos, size;
};

/* "0123456789", then 4 bytes at `at` and a flush: what happened. */
static struct outcome write_at(FILE *fp, off_t at)
{
	struct outcome r;

	errno = 0;
	ck_assert_msg(fseeko(fp, at, SEEK_SET) == 0, "seek to %lld: %s",
		      (long long)at, strerror(errno));
	r.n = fwrite("abcd", 1, 4, fp);
	errno = 0;
	r.flush = fflush(fp);
	r.err = errno;
	r.error = ferror(fp) != 0;
	clearerr(fp);
	r.pos = ftello(fp);
	ck_assert_int_eq(fseeko(fp, 0, SEEK_END), 0);
	r.size = ftello(fp);
	return r;
}

/*
 * At the file system's own maximum M (found with lseek), writes at M - 2
 * and at M behave on a spool, rolled or rolling over for them, exactly
 * as on a regular file in the same directory: same counts, errors,
 * positions and sizes. _i: the spool starts on disk or in memory.
 */
START_TEST(test_security_write_at_fs_max_like_a_file)
{
	char *path;
	FILE *ref, *fp;
	struct outcome a, b;
	off_t max;

	ck_assert_int_ne(asprintf(&path, "%s/oracle", tu_dir_a), -1);
	ref = ten_bytes(fopen(path, "w+e"));
	max = fs_max_offset(fileno(ref));
	ck_assert_int_gt(max, 10);
	for (int k = 0; k < 2; k++) {
		off_t at = k == 0 ? max - 2 : max; /* max + 2 would wrap */

		fp = spool_ten(_i ? 16 : 0, 0);
		a = write_at(ref, at);
		b = write_at(fp, at);
		ck_assert_msg(a.n == b.n && a.flush == b.flush &&
				  a.err == b.err && a.error == b.error,
			      "at M%+lld: file %zu/%d/%s, spool %zu/%d/%s",
			      (long long)(at - max), a.n, a.flush,
			      strerror(a.err), b.n, b.flush, strerror(b.err));
		ck_assert_int_eq(b.pos, a.pos);
		ck_assert_int_eq(b.size, a.size);
		ck_assert_int_eq(spool_size(fp), a.size);
		ck_assert_int_eq(spool_truncate(fp, 10), 0);
		ck_assert_int_eq(ftruncate(fileno(ref), 10), 0);
		assert_contents(fp, "0123456789", 10);
		ck_assert_int_eq(fclose(fp), 0);
	}
	ck_assert_int_eq(fclose(ref), 0);
	ck_assert_int_eq(unlink(path), 0);
	free(path);
}
END_TEST

/* ---- truncation at the edges ---- */

/*
 * spool_truncate(OFF_MAX) does what ftruncate() does to a regular file
 * in the same directory (ext4 refuses with EFBIG, tmpfs makes a sparse
 * file); on failure nothing changed. A negative length, the most
 * negative included, is EINVAL and changes nothing. The position is
 * never moved. _i: thresholds 0, 16, SIZE_MAX, with a limit of OFF_MAX
 * on the odd ones.
 */
START_TEST(test_security_truncate_extremes)
{
	static const size_t thresholds[] = {0, 16, SIZE_MAX};
	FILE *fp = spool_ten(thresholds[_i / 2], _i % 2 ? OFF_MAX : 0);
	int fd, rc, ref_rc, err, ref_err;
	char *path;

	ck_assert_int_ne(asprintf(&path, "%s/oracle", tu_dir_a), -1);
	fd = open(path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fseeko(fp, 3, SEEK_SET), 0);
	errno = 0;
	ck_assert_int_eq(spool_truncate(fp, INT64_MIN), -1);
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_int_eq(spool_truncate(fp, -1), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(spool_size(fp), 10);
	errno = 0;
	ref_rc = ftruncate(fd, OFF_MAX);
	ref_err = errno;
	errno = 0;
	rc = spool_truncate(fp, OFF_MAX);
	err = errno;
	ck_assert_msg(rc == ref_rc && (rc == 0 || err == ref_err),
		      "spool %d (%s), file %d (%s)", rc, strerror(err), ref_rc,
		      strerror(ref_err));
	ck_assert_int_eq(ftello(fp), 3);
	ck_assert_int_eq(spool_size(fp), rc == 0 ? OFF_MAX : 10);
	if (rc == 0)
		ck_assert_int_eq(spool_truncate(fp, 10), 0);
	assert_contents(fp, "0123456789", 10);
	ck_assert_int_eq(fclose(fp), 0);
	close(fd);
	ck_assert_int_eq(unlink(path), 0);
	free(path);
}
END_TEST

/* ---- limit and threshold at their extremes ---- */

/*
 * limit 1: one byte, and not one more, by any road: a longer write is
 * cut with EFBIG, truncation past it and a write at the largest offset
 * (OFF_MAX, or the file system's maximum on disk) are EFBIG,
 * and none of them rolls a spool in memory over. _i: threshold 0, 16,
 * SIZE_MAX.
 */
START_TEST(test_security_limit_one)
{
	static const size_t thresholds[] = {0, 16, SIZE_MAX};
	FILE *fp;
	struct spool_options o = {.threshold = thresholds[_i], .limit = 1};
	off_t far;

	o.dir = tu_dir_a;
	fp = spool_fopen_opts(&o, "w+");
	ck_assert_ptr_nonnull(fp);
	ck_assert_uint_eq(fwrite("ab", 1, 2, fp), 2);
	errno = 0;
	ck_assert_int_eq(fflush(fp), EOF);
	ck_assert_int_eq(errno, EFBIG);
	clearerr(fp);
	ck_assert_int_eq(spool_size(fp), 1);
	errno = 0;
	ck_assert_int_eq(spool_truncate(fp, 2), -1);
	ck_assert_int_eq(errno, EFBIG);
	errno = 0;
	ck_assert_int_eq(spool_truncate(fp, OFF_MAX), -1);
	ck_assert_int_eq(errno, EFBIG);
	/* on disk the file system may stop short of OFF_MAX */
	if (fseeko(fp, OFF_MAX, SEEK_SET) != 0) {
		ck_assert_int_eq(spool_is_rolled(fp), 1);
		far = fs_max_offset(spool_fileno(fp));
		ck_assert_int_eq(fseeko(fp, far, SEEK_SET), 0);
	}
	errno = 0;
	ck_assert_int_eq(fputc('z', fp), 'z');
	ck_assert_int_eq(fflush(fp), EOF);
	ck_assert_int_eq(errno, EFBIG);
	clearerr(fp);
	ck_assert_int_eq(spool_is_rolled(fp), thresholds[_i] == 0);
	assert_contents(fp, "a", 1);
	ck_assert_int_eq(fclose(fp), 0);
}
END_TEST

/* The thresholds next to SIZE_MAX: the "fits" arithmetic must not wrap,
 * so 1 MiB + 1 byte, written in odd pieces, stays in memory, exact. */
START_TEST(test_security_threshold_near_size_max)
{
	FILE *fp = spool_fopen(SIZE_MAX - (size_t)_i, "w+");

	ck_assert_ptr_nonnull(fp);
	for (size_t at = 0; at < MiB + 1; at += 65537)
		put_pat(fp, at, at + 65537 < MiB + 1 ? at + 65537 : MiB + 1);
	ck_assert_int_eq(spool_is_rolled(fp), 0);
	ck_assert_int_eq(spool_size(fp), MiB + 1);
	assert_pat(fp, MiB + 1);
	ck_assert_int_eq(fclose(fp), 0);
}
END_TEST

/*
 * Initial data longer than any spool can hold (more than OFF_MAX bytes)
 * is refused before a byte of it is read: `data` points to one byte,
 * so reading more would be caught by valgrind or crash. EFBIG, or
 * EINVAL for "w" modes, which take no data; no descriptor, no file.
 */
START_TEST(test_security_huge_data_len_refused)
{
	static const size_t lens[] = {SIZE_MAX, SIZE_MAX - 1,
				      (size_t)OFF_MAX + 1};
	static const size_t thresholds[] = {0, 16, SIZE_MAX};
	static const off_t limits[] = {0, 1, OFF_MAX};
	static const char *const modes[] = {"r", "r+", "a", "a+", "w+"};
	static const char one = 'x';
	struct spool_options o = {.data = &one};
	int fds = fd_count();

	ck_assert_int_eq(setenv("TMPDIR", tu_dir_a, 1), 0);
	o.threshold = thresholds[_i % 3];
	o.limit = limits[_i / 3];
	for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
		o.data_len = lens[l];
		for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
			errno = 0;
			ck_assert_ptr_null(spool_fopen_opts(&o, modes[m]));
			ck_assert_int_eq(errno,
					 modes[m][0] == 'w' ? EINVAL : EFBIG);
		}
	}
	ck_assert_int_eq(fd_count(), fds);
	ck_assert_int_eq(tu_count_entries(tu_dir_a), 0);
}
END_TEST

static TCase *tcase(Suite *s, const char *name)
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, tu_dirs_setup, tu_dirs_teardown);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	return tc;
}

static Suite *security_suite(void)
{
	Suite *s = suite_create("security");
	TCase *tc;

	tc = tcase(s, "hostile_dir");
	tcase_add_loop_test(tc, test_security_symlinked_dir_lands_in_target, 0,
			    2);
	tcase_add_loop_test(tc, test_security_link_or_file_never_written, 0,
			    H_KINDS);
	tcase_add_test(tc, test_security_world_writable_dir);

	tc = tcase(s, "overflow");
	tcase_add_loop_test(tc, test_security_seek_extremes_in_memory, 0, 4);
	tcase_add_loop_test(tc, test_security_seek_extremes_on_disk, 0, 2);
	tcase_add_loop_test(tc, test_security_write_at_off_max_refused, 0,
			    NEDGES);
	tcase_add_loop_test(tc, test_security_write_across_off_max_no_wrap, 0,
			    NEDGES);
	tcase_add_loop_test(tc, test_security_write_at_fs_max_like_a_file, 0,
			    2);
	tcase_add_loop_test(tc, test_security_truncate_extremes, 0, 6);
	tcase_add_loop_test(tc, test_security_limit_one, 0, 3);
	tcase_add_loop_test(tc, test_security_threshold_near_size_max, 0, 2);
	tcase_add_loop_test(tc, test_security_huge_data_len_refused, 0, 9);
	return s;
}

int main(void)
{
	return tu_run(security_suite());
}
