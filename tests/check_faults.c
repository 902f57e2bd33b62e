/* SPDX-License-Identifier: MIT */
/*
 * check_faults.c - real failures under a spool: a full disk (a 1 MiB
 * tmpfs in a private mount namespace), RLIMIT_FSIZE, descriptor
 * exhaustion, address-space exhaustion (RLIMIT_AS), a missing, a
 * read-only (EROFS) and an unwritable (EACCES) directory, one removed
 * after open, and signals arriving during large writes and reads. Each
 * must leave every acknowledged byte intact, keep the stream's state,
 * report the cause through the stream or spool_rollover(), and let a
 * later try succeed.
 *
 * Scenarios that change process-wide limits or mounts run in a child
 * forked here by tu_in_child(), which reports by exit status; they
 * check with TU_REQUIRE (testutil.h says why).
 */
#include "config.h"

#include "testutil.h"

#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <sys/wait.h>

#define KiB ((size_t)1024)
#define MiB (1024 * KiB)

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

/* Open descriptors of this process (opendir's own one included). */
static int fd_count(void)
{
	return tu_entries("/proc/self/fd");
}

/* ---- a private 1 MiB tmpfs ---- */

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

	TU_REQUIRE(tu_private_tmpfs(arg, MiB) == 0);
	fp = spool_fopen_opts(&o, "w+");
	TU_REQUIRE(fp != NULL);
	/* 40 KiB steps do not divide 1 MiB: the failing step is cut short
	 * by the kernel, and its stored head must read back too. */
	acked = fill(fp, 0, 2 * MiB, 40 * KiB);
	TU_REQUIRE(errno == ENOSPC);
	TU_REQUIRE(ferror(fp));
	TU_REQUIRE(acked > 512 * KiB && acked < MiB);
	TU_REQUIRE(spool_is_rolled(fp) == 1);
	clearerr(fp);
	size = spool_size(fp);
	TU_REQUIRE(size >= (off_t)acked && size <= (off_t)MiB);
	TU_REQUIRE(has_pat(fp, (size_t)size));
	TU_REQUIRE(tu_entries(arg) == 0);
	TU_REQUIRE(fclose(fp) == 0);
	TU_REQUIRE(tu_free_bytes(arg) == (long long)MiB);
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

	TU_REQUIRE(tu_private_tmpfs(arg, MiB) == 0);
	TU_REQUIRE((filler = make_filler(arg, 768 * KiB)) != NULL);
	room = tu_free_bytes(arg);
	fds = fd_count();
	fp = spool_fopen_opts(&o, "w+");
	TU_REQUIRE(fp != NULL);
	TU_REQUIRE(fill(fp, 0, BIG_N, 64 * KiB) == BIG_N);
	TU_REQUIRE(spool_is_rolled(fp) == 0);
	TU_REQUIRE(put_pat(fp, BIG_N, BIG_N + 200) == 0); /* buffered */
	errno = 0;
	TU_REQUIRE(fflush(fp) == EOF && errno == ENOSPC && ferror(fp));
	TU_REQUIRE(spool_is_rolled(fp) == 0);
	TU_REQUIRE(ftello(fp) == (off_t)BIG_N);
	TU_REQUIRE(spool_size(fp) == (off_t)BIG_N);
	TU_REQUIRE(tu_entries(arg) == 1 && tu_free_bytes_back(arg, room));
	TU_REQUIRE(fd_count() == fds);
	errno = 0;
	TU_REQUIRE(spool_rollover(fp) == -1 && errno == ENOSPC);
	TU_REQUIRE(spool_is_rolled(fp) == 0 && tu_free_bytes_back(arg, room));
	clearerr(fp);
	TU_REQUIRE(has_pat(fp, BIG_N));
	TU_REQUIRE(unlink(filler) == 0);
	TU_REQUIRE(fseeko(fp, 0, SEEK_END) == 0);
	TU_REQUIRE(put_pat(fp, BIG_N, BIG_N + 200) == 0);
	TU_REQUIRE(fflush(fp) == 0 && spool_is_rolled(fp) == 1);
	TU_REQUIRE(has_pat(fp, BIG_N + 200));
	TU_REQUIRE(fclose(fp) == 0);
	TU_REQUIRE(tu_entries(arg) == 0);
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

	TU_REQUIRE(tu_private_tmpfs(arg, MiB) == 0);
	TU_REQUIRE((filler = make_filler(arg, 768 * KiB)) != NULL);
	room = tu_free_bytes(arg);
	fp = spool_fopen_opts(&o, "w+");
	TU_REQUIRE(fp != NULL);
	TU_REQUIRE(fill(fp, 0, BIG_N, 64 * KiB) == BIG_N);
	TU_REQUIRE(put_pat(fp, BIG_N, BIG_N + 200) == 0);
	errno = 0;
	TU_REQUIRE(fclose(fp) == EOF && errno == ENOSPC);
	TU_REQUIRE(tu_entries(arg) == 1 && tu_free_bytes_back(arg, room));
	TU_REQUIRE(unlink(filler) == 0);
	free(filler);
	return 0;
}

/* On disk, the disk fills while bytes sit in the stdio buffer: the
 * final flush fails, so fclose returns EOF with ENOSPC. */
static int full_on_disk_at_fclose(void *arg)
{
	struct spool_options o = {.threshold = 4 * KiB, .dir = arg};
	FILE *fp;

	TU_REQUIRE(tu_private_tmpfs(arg, MiB) == 0);
	fp = spool_fopen_opts(&o, "w+");
	TU_REQUIRE(fp != NULL);
	TU_REQUIRE(fill(fp, 0, MiB - 2 * KiB, 64 * KiB) == MiB - 2 * KiB);
	TU_REQUIRE(spool_is_rolled(fp) == 1);
	TU_REQUIRE(put_pat(fp, MiB - 2 * KiB, MiB + 2 * KiB) == 0);
	errno = 0;
	TU_REQUIRE(fclose(fp) == EOF && errno == ENOSPC);
	TU_REQUIRE(tu_entries(arg) == 0 &&
		   tu_free_bytes(arg) == (long long)MiB);
	return 0;
}

START_TEST(test_faults_disk_full_after_rollover)
{
	tu_in_child(full_after_rollover, dir);
}
END_TEST

START_TEST(test_faults_disk_full_during_rollover)
{
	tu_in_child(full_during_rollover, dir);
}
END_TEST

START_TEST(test_faults_disk_full_at_fclose)
{
	tu_in_child(full_at_fclose, dir);
}
END_TEST

START_TEST(test_faults_disk_full_on_disk_at_fclose)
{
	tu_in_child(full_on_disk_at_fclose, dir);
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

	TU_REQUIRE(fp != NULL);
	TU_REQUIRE(limit_file_size(64 * KiB) == 0);
	TU_REQUIRE(fill(fp, 0, 100 * KiB, 16 * KiB) == 100 * KiB);
	errno = 0;
	TU_REQUIRE(spool_rollover(fp) == -1 && errno == EFBIG);
	TU_REQUIRE(spool_is_rolled(fp) == 0 && !ferror(fp));
	TU_REQUIRE(fd_count() == fds); /* the half-written file is closed */
	/* 200 buffered bytes, 100 over the threshold: fflush must roll */
	TU_REQUIRE(fill(fp, 100 * KiB, 100 * KiB + 200, 200) == 100 * KiB);
	TU_REQUIRE(errno == EFBIG && ferror(fp));
	TU_REQUIRE(spool_is_rolled(fp) == 0);
	TU_REQUIRE(spool_size(fp) == (off_t)(100 * KiB));
	clearerr(fp);
	TU_REQUIRE(has_pat(fp, 100 * KiB));
	TU_REQUIRE(tu_entries(arg) == 0);
	TU_REQUIRE(fclose(fp) == 0);
	return 0;
}

/* The same with a 2 MiB image, a head and segments written by writev():
 * the limit cuts it 3 bytes into a segment, the short count is
 * retried, the retry fails with EFBIG, and nothing is lost. */
static int fsize_rollover_segments(void *arg)
{
	struct spool_options o = {.threshold = 4 * MiB, .dir = arg};
	FILE *fp = spool_fopen_opts(&o, "w+");
	int fds = fd_count();

	TU_REQUIRE(fp != NULL);
	TU_REQUIRE(fill(fp, 0, 2 * MiB, 64 * KiB) == 2 * MiB);
	TU_REQUIRE(fflush(fp) == 0);
	TU_REQUIRE(limit_file_size(MiB + 3) == 0);
	errno = 0;
	TU_REQUIRE(spool_rollover(fp) == -1 && errno == EFBIG);
	TU_REQUIRE(spool_is_rolled(fp) == 0 && !ferror(fp));
	TU_REQUIRE(fd_count() == fds);
	TU_REQUIRE(spool_size(fp) == (off_t)(2 * MiB));
	TU_REQUIRE(has_pat(fp, 2 * MiB));
	TU_REQUIRE(tu_entries(arg) == 0);
	TU_REQUIRE(fclose(fp) == 0);
	return 0;
}

/* On disk, the write past the limit fails with EFBIG through the
 * stream; the 64 KiB below the limit are all there. */
static int fsize_on_disk(void *arg)
{
	struct spool_options o = {.threshold = KiB, .dir = arg};
	FILE *fp = spool_fopen_opts(&o, "w+");

	TU_REQUIRE(fp != NULL);
	TU_REQUIRE(limit_file_size(64 * KiB) == 0);
	TU_REQUIRE(fill(fp, 0, 100 * KiB, 4 * KiB) == 64 * KiB);
	TU_REQUIRE(errno == EFBIG && ferror(fp));
	TU_REQUIRE(spool_is_rolled(fp) == 1);
	TU_REQUIRE(spool_size(fp) == (off_t)(64 * KiB));
	clearerr(fp);
	TU_REQUIRE(has_pat(fp, 64 * KiB));
	TU_REQUIRE(fclose(fp) == 0);
	return 0;
}

START_TEST(test_faults_fsize_rollover_fails_efbig)
{
	tu_in_child(fsize_rollover, dir);
	tu_in_child(fsize_rollover_segments, dir);
}
END_TEST

START_TEST(test_faults_fsize_write_on_disk_efbig)
{
	tu_in_child(fsize_on_disk, dir);
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

	TU_REQUIRE(fp != NULL && fill(fp, 0, 40, 40) == 40);
	TU_REQUIRE(getrlimit(RLIMIT_NOFILE, &rl) == 0);
	if (rl.rlim_cur > (rlim_t)highest_fd() + 17)
		rl.rlim_cur = (rlim_t)highest_fd() + 17; /* a short loop */
	TU_REQUIRE(setrlimit(RLIMIT_NOFILE, &rl) == 0);
	TU_REQUIRE((n = exhaust_fds(&fds)) > 0);
	errno = 0;
	TU_REQUIRE(spool_rollover(fp) == -1 && errno == EMFILE);
	TU_REQUIRE(spool_is_rolled(fp) == 0);
	TU_REQUIRE(fill(fp, 40, 70, 30) == 40 && errno == EMFILE && ferror(fp));
	TU_REQUIRE(spool_is_rolled(fp) == 0);
	clearerr(fp);
	TU_REQUIRE(has_pat(fp, 40));
	close(fds[--n]);
	TU_REQUIRE(fill(fp, 40, 70, 30) == 70);
	TU_REQUIRE(spool_is_rolled(fp) == 1 && has_pat(fp, 70));
	TU_REQUIRE(fclose(fp) == 0);
	while (n > 0)
		close(fds[--n]);
	free(fds);
	return 0;
}

START_TEST(test_faults_emfile_then_retry)
{
	tu_in_child(emfile, dir);
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

/* ---- RLIMIT_AS: memory runs out before the threshold ---- */

#define AS_ROOM (16 * MiB)  /* address space left to the child */
#define AS_TOTAL (32 * MiB) /* more than AS_ROOM: cannot all be in memory */

/* Let this (child) process map only `room` more bytes than it has now. */
static int limit_address_space(size_t room)
{
	struct rlimit rl;
	long pages = -1;
	FILE *f = fopen("/proc/self/statm", "re");

	if (f == NULL)
		return -1;
	if (fscanf(f, "%ld", &pages) != 1)
		pages = -1;
	fclose(f);
	if (pages < 0 || getrlimit(RLIMIT_AS, &rl) < 0)
		return -1;
	rl.rlim_cur = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + room;
	return setrlimit(RLIMIT_AS, &rl);
}

static int unlimit_address_space(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_AS, &rl) < 0)
		return -1;
	rl.rlim_cur = rl.rlim_max;
	return setrlimit(RLIMIT_AS, &rl);
}

/* fill() with a buffer allocated beforehand, so that only the spool
 * asks for memory while the address space is limited. */
static size_t fill_with(FILE *fp, unsigned char *buf, size_t from, size_t to,
			size_t chunk)
{
	size_t at = from, n, i;

	while (at < to) {
		n = at + chunk < to ? chunk : to - at;
		for (i = 0; i < n; i++)
			buf[i] = pat(at + i);
		if (fwrite(buf, 1, n, fp) != n || fflush(fp) == EOF)
			break;
		at += n;
	}
	return at;
}

/*
 * threshold SIZE_MAX: only memory can make this spool roll over. When
 * realloc fails (ENOMEM under RLIMIT_AS), the write is not failed: the
 * spool moves to disk early, and every byte is there.
 */
static int as_rolls_early(void *arg)
{
	struct spool_options o = {.threshold = SIZE_MAX, .dir = arg};
	unsigned char *buf = malloc(MiB);
	FILE *fp = spool_fopen_opts(&o, "w+");

	TU_REQUIRE(fp != NULL && buf != NULL);
	/* first use allocates stdio's buffer, before the limit */
	TU_REQUIRE(fill_with(fp, buf, 0, 64 * KiB, 64 * KiB) == 64 * KiB);
	TU_REQUIRE(limit_address_space(AS_ROOM) == 0);
	TU_REQUIRE(fill_with(fp, buf, 64 * KiB, AS_TOTAL, MiB) == AS_TOTAL);
	TU_REQUIRE(!ferror(fp));
	TU_REQUIRE(spool_is_rolled(fp) == 1);
	TU_REQUIRE(spool_size(fp) == (off_t)AS_TOTAL);
	TU_REQUIRE(has_pat(fp, AS_TOTAL));
	TU_REQUIRE(tu_entries(arg) == 0);
	TU_REQUIRE(fclose(fp) == 0);
	free(buf);
	return 0;
}

/*
 * The same, but the rollover is impossible too (missing directory): the
 * write that needed memory fails through the stream with ENOMEM, not
 * with the directory's error; everything up to the last good fflush is
 * intact (glibc may have passed on the head of the failing fwrite
 * before the part that failed: that may be there too, and nothing
 * else). Once memory is available again, writing goes on, in memory.
 */
static int as_enomem(void *arg)
{
	struct spool_options o = {.threshold = SIZE_MAX, .dir = arg};
	unsigned char *buf = malloc(MiB);
	FILE *fp = spool_fopen_opts(&o, "w+");
	size_t acked;
	off_t size;

	TU_REQUIRE(fp != NULL && buf != NULL);
	TU_REQUIRE(fill_with(fp, buf, 0, 64 * KiB, 64 * KiB) == 64 * KiB);
	TU_REQUIRE(limit_address_space(AS_ROOM) == 0);
	acked = fill_with(fp, buf, 64 * KiB, AS_TOTAL, MiB);
	TU_REQUIRE(acked < AS_TOTAL && errno == ENOMEM && ferror(fp));
	TU_REQUIRE(spool_is_rolled(fp) == 0);
	size = spool_size(fp);
	TU_REQUIRE(size >= (off_t)acked && size < (off_t)(acked + MiB));
	TU_REQUIRE(ftello(fp) == size);
	clearerr(fp);
	TU_REQUIRE(has_pat(fp, (size_t)size));
	TU_REQUIRE(unlimit_address_space() == 0);
	TU_REQUIRE(fill_with(fp, buf, (size_t)size, AS_TOTAL, MiB) == AS_TOTAL);
	TU_REQUIRE(spool_is_rolled(fp) == 0 && has_pat(fp, AS_TOTAL));
	TU_REQUIRE(fclose(fp) == 0);
	free(buf);
	return 0;
}

/* AddressSanitizer reserves terabytes of address space up front and
 * aborts when RLIMIT_AS stops its own mappings: no RLIMIT_AS under it. */
static int skip_rlimit_as(void)
{
#ifdef TU_UNDER_ASAN
	printf("SKIP: RLIMIT_AS test: AddressSanitizer cannot run under "
	       "RLIMIT_AS\n");
	return 1;
#else
	return 0;
#endif
}

START_TEST(test_faults_enomem_rolls_over_early)
{
	if (skip_rlimit_as())
		return;
	tu_in_child(as_rolls_early, dir);
	ck_assert_int_eq(tu_count_entries(dir), 0);
}
END_TEST

START_TEST(test_faults_enomem_without_rollover_reported)
{
	char *missing;

	if (skip_rlimit_as())
		return;
	ck_assert_int_ne(asprintf(&missing, "%s/missing", dir), -1);
	tu_in_child(as_enomem, missing);
	free(missing);
}
END_TEST

/* ---- a temp directory that cannot be written ---- */

/* The directory holding fd's file, from /proc: 1 if it is `d`. */
static int fd_in_dir(int fd, const char *d)
{
	char link[64], path[PATH_MAX + 32], *want = realpath(d, NULL), *end;
	ssize_t n;
	int same;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	if (want == NULL || n <= 0) {
		free(want);
		return 0;
	}
	path[n] = '\0';
	end = strrchr(path, '/');
	if (end != NULL)
		*end = '\0';
	same = end != NULL && strcmp(path, want) == 0;
	free(want);
	return same;
}

/* A $TMPDIR the spool cannot use is passed over for P_tmpdir. */
static int tmpdir_falls_back(const char *bad)
{
	FILE *fp;
	int ok;

	if (setenv("TMPDIR", bad, 1) < 0 || (fp = spool_fopen(0, "w+")) == NULL)
		return 0;
	ok = fputs("x", fp) >= 0 && fflush(fp) == 0 &&
	     spool_is_rolled(fp) == 1 && fd_in_dir(spool_fileno(fp), P_tmpdir);
	return fclose(fp) == 0 && ok;
}

/*
 * The rollover into `d` fails with `err`, by spool_rollover() and by
 * the write that needs it; the spool stays in memory with its 40 bytes.
 * Returns the spool for the caller to clear the fault and go on.
 */
static FILE *denied_rollover(const char *d, int err)
{
	struct spool_options o = {.threshold = 64, .dir = d};
	FILE *fp = spool_fopen_opts(&o, "w+");
	int fds = fd_count();

	if (fp == NULL || fill(fp, 0, 40, 40) != 40)
		return NULL;
	errno = 0;
	if (spool_rollover(fp) != -1 || errno != err)
		return NULL;
	if (fill(fp, 40, 100, 60) != 40 || errno != err || !ferror(fp))
		return NULL;
	if (spool_is_rolled(fp) != 0 || spool_size(fp) != 40 ||
	    ftello(fp) != 40 || fd_count() != fds || tu_entries(d) != 0)
		return NULL;
	clearerr(fp);
	return has_pat(fp, 40) ? fp : NULL;
}

/* Remount the tmpfs at path read-only (MS_RDONLY) or writable (0). */
static int remount(const char *path, unsigned long rdonly)
{
	return mount("tmpfs", path, "tmpfs",
		     MS_REMOUNT | MS_NOSUID | MS_NODEV | rdonly, NULL);
}

/*
 * A read-only file system (a private tmpfs remounted read-only; as root
 * permission bits would not stop us): EROFS, intact, reported. As
 * $TMPDIR it is not usable, so P_tmpdir is used. Once it is writable
 * again the next write rolls over and nothing is lost.
 */
static int rofs(void *arg)
{
	FILE *fp;

	TU_REQUIRE(tu_private_tmpfs(arg, MiB) == 0);
	TU_REQUIRE(remount(arg, MS_RDONLY) == 0);
	TU_REQUIRE((fp = denied_rollover(arg, EROFS)) != NULL);
	TU_REQUIRE(tmpdir_falls_back(arg));
	TU_REQUIRE(remount(arg, 0) == 0);
	TU_REQUIRE(fill(fp, 40, 100, 60) == 100);
	TU_REQUIRE(spool_is_rolled(fp) == 1 &&
		   fd_in_dir(spool_fileno(fp), arg));
	TU_REQUIRE(has_pat(fp, 100) && tu_entries(arg) == 0);
	TU_REQUIRE(fclose(fp) == 0);
	return 0;
}

START_TEST(test_faults_read_only_dir_erofs)
{
	tu_in_child(rofs, dir);
}
END_TEST

#define NOBODY 65534

/*
 * A directory without write permission, as a user the bits apply to:
 * root drops to nobody first (root itself is never refused). EACCES,
 * intact, reported; as $TMPDIR it is passed over (the check uses the
 * effective ids); after chmod the next write rolls over.
 */
static int eacces(void *arg)
{
	FILE *fp;

	if (geteuid() == 0)
		TU_REQUIRE(setgroups(0, NULL) == 0 && setgid(NOBODY) == 0 &&
			   setuid(NOBODY) == 0);
	if (access(arg, X_OK) != 0 ||
	    faccessat(AT_FDCWD, arg, W_OK, AT_EACCESS) == 0) {
		printf("SKIP: EACCES test: %s is %s for uid %u\n", (char *)arg,
		       errno == EACCES ? "unreachable" : "writable",
		       (unsigned)geteuid());
		fflush(stdout);
		return TU_SKIPPED;
	}
	TU_REQUIRE((fp = denied_rollover(arg, EACCES)) != NULL);
	TU_REQUIRE(tmpdir_falls_back(arg));
	TU_REQUIRE(chmod(arg, 0755) == 0);
	TU_REQUIRE(fill(fp, 40, 100, 60) == 100);
	TU_REQUIRE(spool_is_rolled(fp) == 1 &&
		   fd_in_dir(spool_fileno(fp), arg));
	TU_REQUIRE(has_pat(fp, 100) && tu_entries(arg) == 0);
	TU_REQUIRE(fclose(fp) == 0);
	return 0;
}

START_TEST(test_faults_unwritable_dir_eacces)
{
	char *sub;

	ck_assert_int_ne(asprintf(&sub, "%s/ro", dir), -1);
	ck_assert_int_eq(mkdir(sub, 0555), 0);
	ck_assert_int_eq(chmod(sub, 0555), 0); /* whatever the umask */
	if (geteuid() == 0) {
		/* nobody owns it (so may chmod it) and may reach it */
		ck_assert_int_eq(chown(sub, NOBODY, NOBODY), 0);
		ck_assert_int_eq(chmod(dir, 0711), 0);
	}
	tu_in_child_skip(eacces, sub);
	ck_assert_int_eq(chmod(dir, 0700), 0);
	ck_assert_int_eq(tu_count_entries(sub), 0);
	ck_assert_int_eq(rmdir(sub), 0);
	free(sub);
}
END_TEST

/* ---- the temp directory removed after open ---- */

/* Before the rollover: it fails with ENOENT, in memory and intact, and
 * works once the directory is back. */
START_TEST(test_faults_dir_removed_before_rollover)
{
	struct spool_options o = {.threshold = 64};
	char *sub;
	FILE *fp;

	ck_assert_int_ne(asprintf(&sub, "%s/sub", dir), -1);
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	o.dir = sub;
	fp = spool_fopen_opts(&o, "w+");
	ck_assert_ptr_nonnull(fp);
	ck_assert_uint_eq(fill(fp, 0, 40, 40), 40);
	ck_assert_int_eq(rmdir(sub), 0);
	errno = 0;
	ck_assert_uint_eq(fill(fp, 40, 100, 60), 40);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_int_ne(ferror(fp), 0);
	ck_assert_int_eq(spool_is_rolled(fp), 0);
	ck_assert_int_eq(spool_size(fp), 40);
	clearerr(fp);
	ck_assert(has_pat(fp, 40));
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	ck_assert_uint_eq(fill(fp, 40, 100, 60), 100);
	ck_assert_int_eq(spool_is_rolled(fp), 1);
	ck_assert(fd_in_dir(spool_fileno(fp), sub));
	ck_assert(has_pat(fp, 100));
	ck_assert_int_eq(fclose(fp), 0);
	ck_assert_int_eq(rmdir(sub), 0);
	free(sub);
}
END_TEST

/* After the rollover: the file is open and nameless, so the directory
 * can be removed (it is empty) and the spool does not notice. */
START_TEST(test_faults_dir_removed_after_rollover)
{
	struct spool_options o = {.threshold = 64};
	char *sub;
	FILE *fp;

	ck_assert_int_ne(asprintf(&sub, "%s/sub", dir), -1);
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	o.dir = sub;
	fp = spool_fopen_opts(&o, "w+");
	ck_assert_ptr_nonnull(fp);
	ck_assert_uint_eq(fill(fp, 0, 100, 100), 100);
	ck_assert_int_eq(spool_is_rolled(fp), 1);
	ck_assert_int_eq(rmdir(sub), 0);
	ck_assert_uint_eq(fill(fp, 100, MiB, 64 * KiB), MiB);
	ck_assert_int_eq(ferror(fp), 0);
	ck_assert(has_pat(fp, MiB));
	ck_assert_int_eq(spool_truncate(fp, 500), 0);
	ck_assert(has_pat(fp, 500));
	ck_assert_int_eq(fclose(fp), 0);
	free(sub);
}
END_TEST

/* ---- signals during large writes and reads ---- */

/*
 * Writes and reads on a regular file are not normally interrupted by a
 * signal (the kernel finishes them; only slow devices, FUSE or NFS
 * mounted "intr" return EINTR or a short count), and none of those is
 * available here. So this proves less than EINTR handling: it proves
 * that signals arriving all the time, with handlers installed without
 * SA_RESTART, break nothing: no short fwrite/fread, no error flag, every
 * byte exact, through a rollover and on disk. The retry loops for EINTR
 * and short counts in lib/spool.c are exercised by the fault-injection
 * tests.
 */
#define SIG_TOTAL (64 * MiB)

static volatile sig_atomic_t ticks;

static void on_tick(int sig)
{
	(void)sig;
	ticks++;
}

/* SIGALRM every 100 us, its handler installed without SA_RESTART. */
static int start_ticks(void)
{
	struct sigaction sa = {.sa_handler = on_tick};
	struct itimerval it = {{0, 100}, {0, 100}};

	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;
	if (sigaction(SIGALRM, &sa, NULL) < 0)
		return -1;
	return setitimer(ITIMER_REAL, &it, NULL);
}

static int stop_ticks(void)
{
	struct itimerval it = {{0, 0}, {0, 0}};

	return setitimer(ITIMER_REAL, &it, NULL);
}

/* Odd sizes, none a multiple of stdio's buffer; the second one crosses
 * the 1 MiB threshold inside a single write. */
static const size_t sig_steps[] = {
    512 * KiB, 8 * MiB + 3, 5 * MiB + 7777, 3 * MiB + 1, 7 * MiB + 4095,
};

/* Pattern bytes [at, at + n) into buf. */
static void pat_fill(unsigned char *buf, size_t at, size_t n)
{
	for (size_t i = 0; i < n; i++)
		buf[i] = pat(at + i);
}

static int pat_cmp(const unsigned char *buf, size_t at, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (buf[i] != pat(at + i))
			return -1;
	return 0;
}

static size_t sig_step(size_t k, size_t at)
{
	size_t n = sig_steps[k % (sizeof(sig_steps) / sizeof(sig_steps[0]))];

	return n < SIG_TOTAL - at ? n : SIG_TOTAL - at;
}

static int signals(void *arg)
{
	struct spool_options o = {.threshold = MiB, .dir = arg};
	unsigned char *buf = malloc(9 * MiB);
	size_t at, n, k;
	FILE *fp;

	/* a tmpfs when the machine allows it: it is faster */
	if (tu_private_tmpfs(arg, SIG_TOTAL + 8 * MiB) != 0)
		printf("note: signals test on %s itself\n", (char *)arg);
	TU_REQUIRE(buf != NULL && (fp = spool_fopen_opts(&o, "w+")) != NULL);
	TU_REQUIRE(start_ticks() == 0);
	for (at = 0, k = 0; at < SIG_TOTAL; at += n, k++) {
		n = sig_step(k, at);
		pat_fill(buf, at, n);
		TU_REQUIRE(fwrite(buf, 1, n, fp) == n);
	}
	TU_REQUIRE(fflush(fp) == 0 && !ferror(fp));
	TU_REQUIRE(spool_is_rolled(fp) == 1);
	rewind(fp);
	for (at = 0, k = 1; at < SIG_TOTAL; at += n, k++) {
		n = sig_step(k, at);
		TU_REQUIRE(fread(buf, 1, n, fp) == n);
		TU_REQUIRE(pat_cmp(buf, at, n) == 0);
	}
	TU_REQUIRE(getc(fp) == EOF && feof(fp) && !ferror(fp));
	TU_REQUIRE(stop_ticks() == 0);
	printf("signals: %d SIGALRMs during %zu MiB out and back\n", (int)ticks,
	       SIG_TOTAL / MiB);
	fflush(stdout);
	TU_REQUIRE(ticks >= 10); /* or the test proved nothing */
	TU_REQUIRE(fclose(fp) == 0);
	TU_REQUIRE(tu_entries(arg) == 0);
	free(buf);
	return 0;
}

/*
 * Under valgrind a signal that arrives while it checks a syscall's
 * buffer makes it start the syscall over, checks included; a multi-MiB
 * write takes longer to check than 100 us, so it never completes. The
 * test is for the library, not for valgrind: it runs natively only.
 */
START_TEST(test_faults_signals_during_large_io)
{
	if (tu_under_valgrind()) {
		printf("SKIP: signals test: not under valgrind (it cannot "
		       "finish a large syscall under 100 us signals)\n");
		return;
	}
	tu_in_child(signals, dir);
}
END_TEST

static TCase *tcase(const char *name)
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	return tc;
}

static Suite *faults_suite(void)
{
	Suite *s = suite_create("faults");
	char why[128];
	TCase *tc;

	/* Check has no per-test skip: without a private mount the
	 * disk-full cases are left out, loudly, and the rest still run. */
	if (tu_have_private_tmpfs(why, sizeof(why))) {
		tc = tcase("diskfull");
		tcase_add_test(tc, test_faults_disk_full_after_rollover);
		tcase_add_test(tc, test_faults_disk_full_during_rollover);
		tcase_add_test(tc, test_faults_disk_full_at_fclose);
		tcase_add_test(tc, test_faults_disk_full_on_disk_at_fclose);
		suite_add_tcase(s, tc);
		tc = tcase("mounts");
		tcase_add_test(tc, test_faults_read_only_dir_erofs);
		suite_add_tcase(s, tc);
	} else {
		printf("SKIP: 4 disk-full tests and the EROFS test: %s\n", why);
	}

	tc = tcase("limits");
	tcase_add_test(tc, test_faults_fsize_rollover_fails_efbig);
	tcase_add_test(tc, test_faults_fsize_write_on_disk_efbig);
	tcase_add_test(tc, test_faults_emfile_then_retry);
	tcase_add_test(tc, test_faults_enomem_rolls_over_early);
	tcase_add_test(tc, test_faults_enomem_without_rollover_reported);
	suite_add_tcase(s, tc);

	tc = tcase("dirs");
	tcase_add_test(tc, test_faults_unwritable_dir_eacces);
	tcase_add_test(tc, test_faults_dir_removed_before_rollover);
	tcase_add_test(tc, test_faults_dir_removed_after_rollover);
	suite_add_tcase(s, tc);

	tc = tcase("signals");
	tcase_add_test(tc, test_faults_signals_during_large_io);
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
