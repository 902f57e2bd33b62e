/*
 * check_faults.c - real failures under a spool: a full disk (a 1 MiB
 * tmpfs in a private mount namespace), RLIMIT_FSIZE, descriptor
 * exhaustion and a missing directory. Each must leave every
 * acknowledged byte intact, keep the stream's state, report the cause
 * through the stream or spool_rollover(), and let a later try succeed.
 *
 * Scenarios that change process-wide limits or mounts run in a child
 * forked here, which reports by exit status. They use REQUIRE, not
 * ck_assert: under CK_FORK=no a failed ck_assert in such a child would
 * unwind into a second copy of the test runner.
 */
#include "config.h"

#include "testutil.h"

#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/wait.h>

#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC 0x01021994
#endif

#define KiB ((size_t)1024)
#define MiB (1024 * KiB)

#define REQUIRE(cond)                                                          \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: %s (errno %d: %s)\n",          \
				__FILE__, __LINE__, #cond, errno,              \
				strerror(errno));                              \
			return 1;                                              \
		}                                                              \
	} while (0)

static char *dir; /* private directory (a tmpfs mount point in children) */

static void setup(void)
{
	dir = tu_mkdtemp();
}

static void teardown(void)
{
	tu_rmdir(dir);
}

/* The byte at offset i of every test stream. */
static unsigned char pat(size_t i)
{
	return (unsigned char)(i * 131 + 7 + (i >> 16));
}

/* n pattern bytes starting at stream offset `from`, malloc'd. */
static unsigned char *pat_buf(size_t from, size_t n)
{
	unsigned char *b = malloc(n ? n : 1);

	for (size_t i = 0; b != NULL && i < n; i++)
		b[i] = pat(from + i);
	return b;
}

/* Write pattern bytes [from, to) in one fwrite; 0 if all were taken. */
static int put_pat(FILE *fp, size_t from, size_t to)
{
	unsigned char *b = pat_buf(from, to - from);
	size_t n;

	if (b == NULL)
		return -1;
	n = fwrite(b, 1, to - from, fp);
	free(b);
	return n == to - from ? 0 : -1;
}

/* The stream holds exactly pattern bytes [0, n); position left at n. */
static int has_pat(FILE *fp, size_t n)
{
	unsigned char buf[4096];
	size_t got = 0, r, i;

	if (fseeko(fp, 0, SEEK_SET) != 0)
		return 0;
	while ((r = fread(buf, 1, sizeof(buf), fp)) > 0) {
		for (i = 0; i < r; i++) {
			if (got + i >= n || buf[i] != pat(got + i))
				return 0;
		}
		got += r;
	}
	return !ferror(fp) && got == n;
}

/* Run fn(arg) in a forked child and assert that it returned 0. */
static void in_child(int (*fn)(void *), void *arg)
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
	ck_assert_msg(WEXITSTATUS(status) == 0, "child failed (%d)",
		      WEXITSTATUS(status));
}

/* Entries in d other than . and .., or -1: tu_count_entries() without
 * its ck_assert, for use in our own children. */
static int entries(const char *d)
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

/* Open descriptors of this process (opendir's own one included). */
static int fd_count(void)
{
	return entries("/proc/self/fd");
}

/* ---- a private 1 MiB tmpfs ---- */

/* Map our ids into a new user namespace, as `unshare -r` does. */
static int map_ids(uid_t uid, gid_t gid)
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
static int private_tmpfs(const char *path, size_t size)
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
		    map_ids(uid, gid) < 0)
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

/* Free bytes on the file system holding path, or -1. */
static long long free_bytes(const char *path)
{
	struct statvfs sv;

	if (statvfs(path, &sv) < 0)
		return -1;
	return (long long)sv.f_bfree * (long long)sv.f_frsize;
}

/* A file of n bytes in d, written with write(2); its malloc'd path. */
static char *make_filler(const char *d, size_t n)
{
	char *path, *zero = calloc(1, n);
	int fd;

	if (zero == NULL || asprintf(&path, "%s/filler", d) < 0) {
		free(zero);
		return NULL;
	}
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, zero, n) != (ssize_t)n) {
		free(zero);
		free(path);
		return NULL;
	}
	close(fd);
	free(zero);
	return path;
}

/* Write pattern bytes in `chunk`-sized fwrite+fflush steps from `from`
 * up to `to`; returns the end of the last step fflush acknowledged. */
static size_t fill(FILE *fp, size_t from, size_t to, size_t chunk)
{
	size_t at = from, end;

	while (at < to) {
		end = at + chunk < to ? at + chunk : to;
		if (put_pat(fp, at, end) < 0 || fflush(fp) == EOF)
			break;
		at = end;
	}
	return at;
}

/*
 * The rollover fits (512 KiB into 1 MiB), then the disk fills: the
 * error comes back as ENOSPC through the stream, and every byte up to
 * the last good fflush (and any the kernel took after it) is intact.
 */
static int full_after_rollover(void *arg)
{
	struct spool_options o = {.threshold = 512 * KiB, .dir = arg};
	size_t acked;
	off_t size;
	FILE *fp;

	REQUIRE(private_tmpfs(arg, MiB) == 0);
	fp = spool_fopen_opts(&o, "w+");
	REQUIRE(fp != NULL);
	/* 40 KiB steps do not divide 1 MiB: the failing step is cut short
	 * by the kernel, and its stored head must read back too. */
	acked = fill(fp, 0, 2 * MiB, 40 * KiB);
	REQUIRE(errno == ENOSPC);
	REQUIRE(ferror(fp));
	REQUIRE(acked > 512 * KiB && acked < MiB);
	REQUIRE(spool_is_rolled(fp) == 1);
	clearerr(fp);
	size = spool_size(fp);
	REQUIRE(size >= (off_t)acked && size <= (off_t)MiB);
	REQUIRE(has_pat(fp, (size_t)size));
	REQUIRE(entries(arg) == 0);
	REQUIRE(fclose(fp) == 0);
	REQUIRE(free_bytes(arg) == (long long)MiB);
	printf("disk-full: 1 MiB tmpfs at %s: ENOSPC after %zu "
	       "acknowledged bytes, %lld kept\n",
	       (char *)arg, acked, (long long)size);
	fflush(stdout); /* the child leaves by _exit() */
	return 0;
}

/* Memory holds 100 bytes under a 512 KiB threshold; the disk has room
 * for less than that once the 768 KiB filler is in place. */
#define BIG_T (512 * KiB)
#define BIG_N (BIG_T - 100)

/*
 * The rollover itself does not fit: the spool stays in memory with
 * every byte, fflush and spool_rollover() report ENOSPC, the partial
 * temp file is gone, and once space is freed the retry rolls over.
 */
static int full_during_rollover(void *arg)
{
	struct spool_options o = {.threshold = BIG_T, .dir = arg};
	long long room;
	char *filler;
	FILE *fp;
	int fds;

	REQUIRE(private_tmpfs(arg, MiB) == 0);
	REQUIRE((filler = make_filler(arg, 768 * KiB)) != NULL);
	room = free_bytes(arg);
	fds = fd_count();
	fp = spool_fopen_opts(&o, "w+");
	REQUIRE(fp != NULL);
	REQUIRE(fill(fp, 0, BIG_N, 64 * KiB) == BIG_N);
	REQUIRE(spool_is_rolled(fp) == 0);
	REQUIRE(put_pat(fp, BIG_N, BIG_N + 200) == 0); /* buffered */
	errno = 0;
	REQUIRE(fflush(fp) == EOF && errno == ENOSPC && ferror(fp));
	REQUIRE(spool_is_rolled(fp) == 0);
	REQUIRE(ftello(fp) == (off_t)BIG_N);
	REQUIRE(spool_size(fp) == (off_t)BIG_N);
	REQUIRE(entries(arg) == 1 && free_bytes(arg) == room);
	REQUIRE(fd_count() == fds);
	errno = 0;
	REQUIRE(spool_rollover(fp) == -1 && errno == ENOSPC);
	REQUIRE(spool_is_rolled(fp) == 0 && free_bytes(arg) == room);
	clearerr(fp);
	REQUIRE(has_pat(fp, BIG_N));
	REQUIRE(unlink(filler) == 0);
	REQUIRE(fseeko(fp, 0, SEEK_END) == 0);
	REQUIRE(put_pat(fp, BIG_N, BIG_N + 200) == 0);
	REQUIRE(fflush(fp) == 0 && spool_is_rolled(fp) == 1);
	REQUIRE(has_pat(fp, BIG_N + 200));
	REQUIRE(fclose(fp) == 0);
	REQUIRE(entries(arg) == 0);
	free(filler);
	return 0;
}

/* fclose() is the call that needs the rollover, and it does not fit:
 * fclose returns EOF with ENOSPC, and no space stays taken. */
static int full_at_fclose(void *arg)
{
	struct spool_options o = {.threshold = BIG_T, .dir = arg};
	long long room;
	char *filler;
	FILE *fp;

	REQUIRE(private_tmpfs(arg, MiB) == 0);
	REQUIRE((filler = make_filler(arg, 768 * KiB)) != NULL);
	room = free_bytes(arg);
	fp = spool_fopen_opts(&o, "w+");
	REQUIRE(fp != NULL);
	REQUIRE(fill(fp, 0, BIG_N, 64 * KiB) == BIG_N);
	REQUIRE(put_pat(fp, BIG_N, BIG_N + 200) == 0);
	errno = 0;
	REQUIRE(fclose(fp) == EOF && errno == ENOSPC);
	REQUIRE(entries(arg) == 1 && free_bytes(arg) == room);
	REQUIRE(unlink(filler) == 0);
	free(filler);
	return 0;
}

/* On disk, the disk fills while bytes sit in the stdio buffer: the
 * final flush fails, so fclose returns EOF with ENOSPC. */
static int full_on_disk_at_fclose(void *arg)
{
	struct spool_options o = {.threshold = 4 * KiB, .dir = arg};
	FILE *fp;

	REQUIRE(private_tmpfs(arg, MiB) == 0);
	fp = spool_fopen_opts(&o, "w+");
	REQUIRE(fp != NULL);
	REQUIRE(fill(fp, 0, MiB - 2 * KiB, 64 * KiB) == MiB - 2 * KiB);
	REQUIRE(spool_is_rolled(fp) == 1);
	REQUIRE(put_pat(fp, MiB - 2 * KiB, MiB + 2 * KiB) == 0);
	errno = 0;
	REQUIRE(fclose(fp) == EOF && errno == ENOSPC);
	REQUIRE(entries(arg) == 0 && free_bytes(arg) == (long long)MiB);
	return 0;
}

START_TEST(test_faults_disk_full_after_rollover)
{
	in_child(full_after_rollover, dir);
}
END_TEST

START_TEST(test_faults_disk_full_during_rollover)
{
	in_child(full_during_rollover, dir);
}
END_TEST

START_TEST(test_faults_disk_full_at_fclose)
{
	in_child(full_at_fclose, dir);
}
END_TEST

START_TEST(test_faults_disk_full_on_disk_at_fclose)
{
	in_child(full_on_disk_at_fclose, dir);
}
END_TEST

/* ---- RLIMIT_FSIZE ---- */

/* Files may not grow past n bytes; SIGXFSZ ignored so writes get EFBIG. */
static int limit_file_size(rlim_t n)
{
	struct rlimit rl = {.rlim_cur = n, .rlim_max = n};

	if (signal(SIGXFSZ, SIG_IGN) == SIG_ERR)
		return -1;
	return setrlimit(RLIMIT_FSIZE, &rl);
}

/* A 100 KiB image cannot be written under a 64 KiB file size limit:
 * spool_rollover() and the crossing write fail with EFBIG, and the
 * spool stays in memory, intact. */
static int fsize_rollover(void *arg)
{
	struct spool_options o = {.threshold = 100 * KiB + 100, .dir = arg};
	FILE *fp = spool_fopen_opts(&o, "w+");
	int fds = fd_count();

	REQUIRE(fp != NULL);
	REQUIRE(limit_file_size(64 * KiB) == 0);
	REQUIRE(fill(fp, 0, 100 * KiB, 16 * KiB) == 100 * KiB);
	errno = 0;
	REQUIRE(spool_rollover(fp) == -1 && errno == EFBIG);
	REQUIRE(spool_is_rolled(fp) == 0 && !ferror(fp));
	REQUIRE(fd_count() == fds); /* the half-written file is closed */
	/* 200 buffered bytes, 100 over the threshold: fflush must roll */
	REQUIRE(fill(fp, 100 * KiB, 100 * KiB + 200, 200) == 100 * KiB);
	REQUIRE(errno == EFBIG && ferror(fp));
	REQUIRE(spool_is_rolled(fp) == 0);
	REQUIRE(spool_size(fp) == (off_t)(100 * KiB));
	clearerr(fp);
	REQUIRE(has_pat(fp, 100 * KiB));
	REQUIRE(entries(arg) == 0);
	REQUIRE(fclose(fp) == 0);
	return 0;
}

/* On disk, the write past the limit fails with EFBIG through the
 * stream; the 64 KiB below the limit are all there. */
static int fsize_on_disk(void *arg)
{
	struct spool_options o = {.threshold = KiB, .dir = arg};
	FILE *fp = spool_fopen_opts(&o, "w+");

	REQUIRE(fp != NULL);
	REQUIRE(limit_file_size(64 * KiB) == 0);
	REQUIRE(fill(fp, 0, 100 * KiB, 4 * KiB) == 64 * KiB);
	REQUIRE(errno == EFBIG && ferror(fp));
	REQUIRE(spool_is_rolled(fp) == 1);
	REQUIRE(spool_size(fp) == (off_t)(64 * KiB));
	clearerr(fp);
	REQUIRE(has_pat(fp, 64 * KiB));
	REQUIRE(fclose(fp) == 0);
	return 0;
}

START_TEST(test_faults_fsize_rollover_fails_efbig)
{
	in_child(fsize_rollover, dir);
}
END_TEST

START_TEST(test_faults_fsize_write_on_disk_efbig)
{
	in_child(fsize_on_disk, dir);
}
END_TEST

/* ---- descriptor exhaustion ---- */

/* The highest open descriptor, from /proc/self/fd. */
static int highest_fd(void)
{
	DIR *dp = opendir("/proc/self/fd");
	struct dirent *e;
	int max = 2;

	while (dp != NULL && (e = readdir(dp)) != NULL) {
		if (e->d_name[0] != '.' && atoi(e->d_name) > max)
			max = atoi(e->d_name);
	}
	if (dp != NULL)
		closedir(dp);
	return max;
}

/* Open /dev/null until EMFILE; returns how many, their fds in *out. */
static int exhaust_fds(int **out)
{
	int n = 0, cap = 64, fd, *fds = malloc((size_t)cap * sizeof(int));

	while (fds != NULL && (fd = open("/dev/null", O_RDONLY)) >= 0) {
		if (n == cap) {
			int *p = realloc(fds, (size_t)(cap *= 2) * sizeof(int));

			if (p == NULL)
				break;
			fds = p;
		}
		fds[n++] = fd;
	}
	*out = fds;
	return errno == EMFILE ? n : -1;
}

/* With no descriptor left, the rollover fails with EMFILE, in both
 * ways it can be asked for, and succeeds once one is freed. */
static int emfile(void *arg)
{
	struct spool_options o = {.threshold = 64, .dir = arg};
	struct rlimit rl;
	FILE *fp = spool_fopen_opts(&o, "w+");
	int *fds, n;

	REQUIRE(fp != NULL && fill(fp, 0, 40, 40) == 40);
	REQUIRE(getrlimit(RLIMIT_NOFILE, &rl) == 0);
	if (rl.rlim_cur > (rlim_t)highest_fd() + 17)
		rl.rlim_cur = (rlim_t)highest_fd() + 17; /* a short loop */
	REQUIRE(setrlimit(RLIMIT_NOFILE, &rl) == 0);
	REQUIRE((n = exhaust_fds(&fds)) > 0);
	errno = 0;
	REQUIRE(spool_rollover(fp) == -1 && errno == EMFILE);
	REQUIRE(spool_is_rolled(fp) == 0);
	REQUIRE(fill(fp, 40, 70, 30) == 40 && errno == EMFILE && ferror(fp));
	REQUIRE(spool_is_rolled(fp) == 0);
	clearerr(fp);
	REQUIRE(has_pat(fp, 40));
	close(fds[--n]);
	REQUIRE(fill(fp, 40, 70, 30) == 70);
	REQUIRE(spool_is_rolled(fp) == 1 && has_pat(fp, 70));
	REQUIRE(fclose(fp) == 0);
	while (n > 0)
		close(fds[--n]);
	free(fds);
	return 0;
}

START_TEST(test_faults_emfile_then_retry)
{
	in_child(emfile, dir);
}
END_TEST

/* ---- a failed rollover keeps the stream's state ---- */

/* What the stream looks like before the rollover is asked for. */
enum { ST_POS, ST_EOF, ST_ERR, ST_UNGETC, ST_KINDS };

#define INIT_N 20

/* A "r+" spool of INIT_N pattern bytes whose temp directory is `d`. */
static FILE *state_spool(const char *d)
{
	unsigned char *data = pat_buf(0, INIT_N);
	struct spool_options o = {
	    .threshold = 32, .dir = d, .data = data, .data_len = INIT_N};
	FILE *fp = spool_fopen_opts(&o, "r+");

	free(data);
	ck_assert_ptr_nonnull(fp);
	return fp;
}

/* Put fp in state `k`. The error state comes from a failed flush that
 * needed a rollover, so it exists only with the bad directory. */
static void enter_state(FILE *fp, int k)
{
	unsigned char buf[64];

	switch (k) {
	case ST_POS:
		ck_assert_int_eq(fseeko(fp, 7, SEEK_SET), 0);
		break;
	case ST_EOF:
		ck_assert_uint_eq(fread(buf, 1, sizeof(buf), fp), INIT_N);
		ck_assert_int_ne(feof(fp), 0);
		break;
	case ST_ERR:
		ck_assert_int_eq(fseeko(fp, 0, SEEK_END), 0);
		ck_assert_int_eq(put_pat(fp, INIT_N, 40), 0);
		ck_assert_int_eq(fflush(fp), EOF);
		ck_assert_int_ne(ferror(fp), 0);
		break;
	default:
		ck_assert_int_eq(getc(fp), pat(0));
		ck_assert_int_eq(ungetc('Z', fp), 'Z');
		break;
	}
}

/* The state of enter_state(k) is still there, contents intact. */
static void check_state(FILE *fp, int k)
{
	ck_assert_int_eq(!!feof(fp), k == ST_EOF);
	ck_assert_int_eq(!!ferror(fp), k == ST_ERR);
	switch (k) {
	case ST_POS:
		ck_assert_int_eq(ftello(fp), 7);
		ck_assert_int_eq(getc(fp), pat(7));
		break;
	case ST_EOF:
	case ST_ERR:
		ck_assert_int_eq(ftello(fp), INIT_N);
		break;
	default:
		ck_assert_int_eq(ftello(fp), 0);
		ck_assert_int_eq(getc(fp), 'Z');
		ck_assert_int_eq(getc(fp), pat(1));
		ck_assert_int_eq(ftello(fp), 2);
		break;
	}
	clearerr(fp);
	ck_assert(has_pat(fp, INIT_N));
}

/*
 * spool_rollover() into a missing directory fails with ENOENT and
 * changes nothing the stream shows: position, EOF and error flags,
 * pushback, contents. The same checks after a rollover that works
 * show that the checks themselves hold on a rolled spool too.
 */
START_TEST(test_faults_failed_rollover_keeps_state)
{
	int k = _i / 2, good = _i % 2;
	char *missing;
	FILE *fp;

	if (k == ST_ERR && good)
		return; /* the error state needs a failing directory */
	ck_assert_int_ne(asprintf(&missing, "%s/missing", dir), -1);
	fp = state_spool(good ? dir : missing);
	enter_state(fp, k);
	errno = 0;
	if (good) {
		ck_assert_int_eq(spool_rollover(fp), 0);
		ck_assert_int_eq(spool_is_rolled(fp), 1);
	} else {
		ck_assert_int_eq(spool_rollover(fp), -1);
		ck_assert_int_eq(errno, ENOENT);
		ck_assert_int_eq(spool_is_rolled(fp), 0);
	}
	check_state(fp, k);
	ck_assert_int_eq(fclose(fp), 0);
	free(missing);
}
END_TEST

/* ---- fclose after a failed rollover ---- */

/* Bytes still buffered need the rollover at close: fclose says EOF. */
START_TEST(test_faults_fclose_eof_when_final_flush_fails)
{
	struct spool_options o = {.threshold = 16};
	int fds = fd_count();
	char *missing;
	FILE *fp;

	ck_assert_int_ne(asprintf(&missing, "%s/missing", dir), -1);
	o.dir = missing;
	fp = spool_fopen_opts(&o, "w+");
	ck_assert_ptr_nonnull(fp);
	ck_assert_int_eq(fill(fp, 0, 10, 10), 10);
	ck_assert_int_eq(put_pat(fp, 10, 30), 0);
	errno = 0;
	ck_assert_int_eq(fclose(fp), EOF);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_int_eq(fd_count(), fds);
	free(missing);
}
END_TEST

/* The failure was already reported and nothing is pending: fclose
 * has nothing left to fail on. */
START_TEST(test_faults_fclose_ok_after_reported_failure)
{
	struct spool_options o = {.threshold = 16};
	int fds = fd_count();
	char *missing;
	FILE *fp;

	ck_assert_int_ne(asprintf(&missing, "%s/missing", dir), -1);
	o.dir = missing;
	fp = spool_fopen_opts(&o, "w+");
	ck_assert_ptr_nonnull(fp);
	ck_assert_int_eq(fill(fp, 0, 30, 10), 10);
	ck_assert_int_ne(ferror(fp), 0);
	ck_assert_int_eq(spool_rollover(fp), -1);
	clearerr(fp);
	ck_assert_int_eq(fclose(fp), 0);
	ck_assert_int_eq(fd_count(), fds);
	free(missing);
}
END_TEST

static TCase *tcase(const char *name)
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	return tc;
}

/*
 * Can this machine give a child a private tmpfs? Tried in a throwaway
 * child on a throwaway directory; on failure `why` says why.
 */
static int have_private_tmpfs(char *why, size_t len)
{
	const char *base = getenv("TMPDIR");
	char path[PATH_MAX];
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
		_exit(private_tmpfs(path, MiB) == 0 ? 0 : errno);
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		err = EIO;
	else
		err = WEXITSTATUS(status);
	rmdir(path);
	snprintf(why, len, "no private tmpfs mount (unshare/mount: %s)",
		 strerror(err));
	return err == 0;
}

static Suite *faults_suite(void)
{
	Suite *s = suite_create("faults");
	char why[128];
	TCase *tc;

	/* Check has no per-test skip: without a private mount the
	 * disk-full cases are left out, loudly, and the rest still run. */
	if (have_private_tmpfs(why, sizeof(why))) {
		tc = tcase("diskfull");
		tcase_add_test(tc, test_faults_disk_full_after_rollover);
		tcase_add_test(tc, test_faults_disk_full_during_rollover);
		tcase_add_test(tc, test_faults_disk_full_at_fclose);
		tcase_add_test(tc, test_faults_disk_full_on_disk_at_fclose);
		suite_add_tcase(s, tc);
	} else {
		printf("SKIP: 4 disk-full tests: %s\n", why);
	}

	tc = tcase("limits");
	tcase_add_test(tc, test_faults_fsize_rollover_fails_efbig);
	tcase_add_test(tc, test_faults_fsize_write_on_disk_efbig);
	tcase_add_test(tc, test_faults_emfile_then_retry);
	suite_add_tcase(s, tc);

	tc = tcase("state");
	tcase_add_loop_test(tc, test_faults_failed_rollover_keeps_state, 0,
			    2 * ST_KINDS);
	tcase_add_test(tc, test_faults_fclose_eof_when_final_flush_fails);
	tcase_add_test(tc, test_faults_fclose_ok_after_reported_failure);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(faults_suite());
}
