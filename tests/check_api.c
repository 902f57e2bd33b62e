/* SPDX-License-Identifier: MIT */
/*
 * check_api.c - argument checking: modes (against glibc's fopen()),
 * options, and every public function refusing a FILE* that is not a
 * live spool.
 */
#include "testutil.h"

#include <fcntl.h>
#include <stdint.h>
#include <wchar.h>
#ifdef __GLIBC__
#include <gnu/libc-version.h>
#endif

/*
 * Modes fopen() accepts that a spool must accept too. The second half
 * used to be refused; glibc's fopen() takes them (repeats, its 'x',
 * 'm' and 'c', and unknown letters are ignored), so a spool does now.
 * The "glibc" tcase below compares every short mode with fopen().
 */
static const char *const good_modes[] = {
    "r",   "r+",  "w",	 "w+",	"a",   "a+",   "rb",   "rb+",  "r+b",
    "wb",  "w+b", "wb+", "ab",	"a+b", "ab+",  "re",   "r+e",  "we",
    "w+e", "ae",  "a+e", "rbe", "reb", "r+be", "wbe+", "a+eb", "rw",
    "r++", "rbb", "ree", "w+x", "wx",  "r ",   "rm",   "rc",   "a+b+",
};

/* EINVAL: no r, w or a first, or a ",ccs=" charset, which would make
 * fopen()'s stream wide; a spool is byte-oriented only. */
static const char *const bad_modes[] = {
    "", "x", "+", "b", "R", " r", "r,ccs=UTF-8", "w+,ccs=UTF-8", "rb,ccs=x",
};

START_TEST(test_open_good_modes)
{
	FILE *fp = spool_fopen(16, good_modes[_i]);

	ck_assert_msg(fp != NULL, "mode \"%s\" refused", good_modes[_i]);
	ck_assert_int_eq(spool_is_rolled(fp), 0);
	ck_assert_int_eq(fclose(fp), 0);
}
END_TEST

START_TEST(test_open_bad_modes)
{
	errno = 0;
	ck_assert_msg(spool_fopen(16, bad_modes[_i]) == NULL,
		      "mode \"%s\" accepted", bad_modes[_i]);
	ck_assert_int_eq(errno, EINVAL);
}
END_TEST

START_TEST(test_open_null_mode)
{
	errno = 0;
	ck_assert_ptr_null(spool_fopen(16, NULL));
	ck_assert_int_eq(errno, EINVAL);
}
END_TEST

/* Each bad options struct, with the errno it must give. */
static void expect_opts_fail(const struct spool_options *o, const char *mode,
			     int err)
{
	errno = 0;
	ck_assert_ptr_null(spool_fopen_opts(o, mode));
	ck_assert_int_eq(errno, err);
}

START_TEST(test_opts_invalid)
{
	struct spool_options o = {.threshold = 16};

	expect_opts_fail(NULL, "w+", EINVAL);
	o.flags = ~SPOOL_SECRET; /* unknown bits */
	expect_opts_fail(&o, "w+", EINVAL);
	o.flags = 0;
	o.limit = -1;
	expect_opts_fail(&o, "w+", EINVAL);
	o.limit = 0;
	o.data_len = 3; /* length without data */
	expect_opts_fail(&o, "r", EINVAL);
	o.data = "abc";
	expect_opts_fail(&o, "w", EINVAL);
	expect_opts_fail(&o, "w+", EINVAL);
	expect_opts_fail(&o, "wb+", EINVAL);
	o.limit = 2; /* data larger than the cap */
	expect_opts_fail(&o, "r+", EFBIG);
}
END_TEST

/* The options, the directory string and the data are copied at open:
 * the caller may reuse them at once. The data stays in memory, so the
 * rollover after the caller's changes uses the copied threshold and
 * directory. */
START_TEST(test_opts_copied_at_open)
{
	char data[] = "initial", dir[256];
	struct spool_options o = {.threshold = 8, .data = data, .data_len = 7};
	char *d = tu_mkdtemp();
	unsigned char *got;
	size_t len;
	FILE *fp;

	snprintf(dir, sizeof(dir), "%s", d);
	o.dir = dir;
	fp = spool_fopen_opts(&o, "r+");
	ck_assert_ptr_nonnull(fp);
	memset(data, 'X', sizeof(data) - 1);
	strcpy(dir, "/nonexistent/spool/dir");
	memset(&o, 0xff, sizeof(o));
	got = tu_slurp(fp, &len);
	ck_assert_uint_eq(len, 7);
	ck_assert_mem_eq(got, "initial", 7);
	free(got);
	ck_assert_int_eq(spool_is_rolled(fp), 0); /* 7 <= 8: in memory */
	ck_assert_int_ge(fputs("more", fp), 0);
	ck_assert_msg(fflush(fp) == 0, "rollover: %s", strerror(errno));
	ck_assert_int_eq(spool_is_rolled(fp), 1); /* 11 > 8: on disk */
	got = tu_slurp(fp, &len);
	ck_assert_uint_eq(len, 11);
	ck_assert_mem_eq(got, "initialmore", 11);
	free(got);
	ck_assert_int_eq(fclose(fp), 0);
	ck_assert_int_eq(tu_count_entries(d), 0);
	tu_rmdir(d);
}
END_TEST

/* Streams that are not spools, for the functions that take a FILE*. */
enum { F_NULL, F_STDIN, F_STDOUT, F_TMPFILE, F_FMEMOPEN, F_NFOREIGN };

static FILE *foreign(int which, char *membuf)
{
	switch (which) {
	case F_NULL:
		return NULL;
	case F_STDIN:
		return stdin;
	case F_STDOUT:
		return stdout;
	case F_TMPFILE:
		return tmpfile();
	default:
		return fmemopen(membuf, 16, "w+");
	}
}

static void expect_einval(int rc)
{
	ck_assert_int_eq(rc, -1);
	ck_assert_int_eq(errno, EINVAL);
}

START_TEST(test_foreign_file_einval)
{
	char membuf[16];
	FILE *fp = foreign(_i, membuf);

	errno = 0;
	expect_einval(spool_rollover(fp));
	errno = 0;
	expect_einval(spool_is_rolled(fp));
	errno = 0;
	expect_einval(spool_fileno(fp));
	errno = 0;
	ck_assert(spool_size(fp) == -1);
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	expect_einval(spool_truncate(fp, 0));
	if (_i >= F_TMPFILE)
		ck_assert_int_eq(fclose(fp), 0);
}
END_TEST

/*
 * A closed spool's address is refused, also when stdio hands the same
 * address to a new, non-spool stream (malloc reuses freed FILEs).
 */
START_TEST(test_closed_spool_address_einval)
{
	FILE *fp = spool_fopen(16, "w+"), *other;
	char membuf[16];
	int reused = 0;

	ck_assert_ptr_nonnull(fp);
	ck_assert_int_eq(fclose(fp), 0);
	for (int i = 0; i < 64 && !reused; i++) {
		/* fmemopen() is a cookie stream too: same allocation size. */
		other = i % 2 ? tmpfile() : fmemopen(membuf, 16, "w+");
		ck_assert_ptr_nonnull(other);
		reused = other == fp;
		errno = 0;
		expect_einval(spool_is_rolled(other));
		expect_einval(spool_rollover(other));
		ck_assert_int_eq(fclose(other), 0);
	}
	if (!reused)
		printf("note: stdio never reused the closed spool's address\n");
}
END_TEST

/* A new spool at a reused address is a spool again. */
START_TEST(test_reused_address_new_spool)
{
	FILE *a = spool_fopen(16, "w+"), *b;

	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(fclose(a), 0);
	b = spool_fopen(16, "w+");
	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(spool_is_rolled(b), 0);
	ck_assert(spool_size(b) == 0);
	ck_assert_int_eq(fclose(b), 0);
}
END_TEST

static int digits(int v)
{
	return v < 10 ? 1 : v < 100 ? 2 : 3;
}

/* A wide open: many spools, each found again among the others. */
START_TEST(test_many_spools_each_known)
{
	enum { N = 2000 };
	FILE **fps = calloc(N, sizeof(*fps));

	ck_assert_ptr_nonnull(fps);
	for (int i = 0; i < N; i++) {
		fps[i] = spool_fopen(8, "w+");
		ck_assert_ptr_nonnull(fps[i]);
		ck_assert_int_eq(fprintf(fps[i], "%d", i % 1000),
				 digits(i % 1000));
	}
	for (int i = N - 1; i >= 0; i -= 2) {
		ck_assert(spool_size(fps[i]) == digits(i % 1000));
		ck_assert_int_eq(fclose(fps[i]), 0);
	}
	for (int i = 0; i < N; i += 2) {
		ck_assert_int_eq(spool_is_rolled(fps[i]), 0);
		ck_assert_int_eq(fclose(fps[i]), 0);
	}
	free(fps);
}
END_TEST

/*
 * Modes against glibc's fopen(), the oracle: each mode opens a scratch
 * file and a spool, which must agree on refusal (EINVAL) and, when both
 * open, on what a read, two writes at offset 0 and a read-back do, on
 * positions and on the contents left. A mode starting with 'r' opens an
 * existing file holding MODE_DATA, and a spool given the same data with
 * spool_fopen_opts(); any other mode opens a path that does not exist
 * yet (so that 'x' holds) and spool_fopen(). fopen() modes that a spool
 * honours differently on purpose, and why:
 *  - 'x' on an existing file fails with EEXIST; a spool's file is always
 *    new, so 'x' always holds (test_mode_differs_x).
 *  - a ",ccs=" that glibc finds gives a wide stream (EINVAL for an
 *    unknown charset); a cookie stream is byte-oriented only, so the
 *    spool refuses it with EINVAL either way (mode_case, and
 *    test_mode_differs_ccs).
 *  - 'e' sets close-on-exec on fopen()'s descriptor; the spool's file
 *    has it with or without 'e' (test_mode_differs_e).
 *  - 'm' reads a file opened "r" through mmap, and 'c' keeps the
 *    file's I/O from being a cancellation point. A spool ignores both
 *    (its reads and writes of the temporary file stay cancellation
 *    points); neither shows in the calls compared here.
 */
#define MODE_DATA "0123456789"

static char *mode_dir; /* private scratch directory */
static char *mode_old; /* a file holding MODE_DATA */
static char *mode_new; /* a path that must not exist between cases */

/* The existing file holds MODE_DATA again ("r+" modes write into it). */
static void mode_reset(void)
{
	int fd = open(mode_old, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, MODE_DATA, sizeof(MODE_DATA) - 1),
			 sizeof(MODE_DATA) - 1);
	ck_assert_int_eq(close(fd), 0);
}

static void mode_setup(void)
{
	mode_dir = tu_mkdtemp();
	ck_assert_int_ne(asprintf(&mode_old, "%s/old", mode_dir), -1);
	ck_assert_int_ne(asprintf(&mode_new, "%s/new", mode_dir), -1);
	mode_reset();
}

static void mode_teardown(void)
{
	ck_assert_int_eq(unlink(mode_old), 0);
	free(mode_old);
	free(mode_new);
	tu_rmdir(mode_dir);
}

/* What the calls returned, in order; both streams get the same calls. */
enum {
	MR_GETC,
	MR_GETC_ERR,
	MR_GETC_EOF,
	MR_SEEK1,
	MR_PUT1,
	MR_FLUSH1,
	MR_ERR1,
	MR_POS1,
	MR_SEEK2,
	MR_PUT2,
	MR_FLUSH2,
	MR_ERR2,
	MR_POS2,
	MR_SEEK3,
	MR_BACK,
	MR_LEN,
	MR_N
};
static const char *const mr_name[MR_N] = {
    "fgetc",
    "fgetc errno",
    "feof",
    "fseeko",
    "fputc 'X' at 0",
    "fflush",
    "errno after 'X'",
    "ftello after 'X'",
    "fseeko",
    "fputc 'Y' at 0",
    "fflush",
    "errno after 'Y'",
    "ftello after 'Y'",
    "fseeko",
    "fgetc at 0",
    "length",
};

/* errno if the stream's error indicator is set, else 0; then clear it. */
static int stream_error(FILE *fp, int err)
{
	int e = ferror(fp) ? err : 0;

	clearerr(fp);
	return e;
}

/* A read, a write at 0, another at 0 (an append lands after the first),
 * and a read at 0, each with its position and error. */
static void mode_run(FILE *fp, long r[MR_N])
{
	errno = 0;
	r[MR_GETC] = fgetc(fp);
	r[MR_GETC_EOF] = feof(fp) != 0;
	r[MR_GETC_ERR] = stream_error(fp, errno);
	r[MR_SEEK1] = fseeko(fp, 0, SEEK_SET);
	errno = 0;
	r[MR_PUT1] = fputc('X', fp);
	r[MR_FLUSH1] = fflush(fp);
	r[MR_ERR1] = stream_error(fp, errno);
	r[MR_POS1] = (long)ftello(fp);
	r[MR_SEEK2] = fseeko(fp, 0, SEEK_SET);
	errno = 0;
	r[MR_PUT2] = fputc('Y', fp);
	r[MR_FLUSH2] = fflush(fp);
	r[MR_ERR2] = stream_error(fp, errno);
	r[MR_POS2] = (long)ftello(fp);
	r[MR_SEEK3] = fseeko(fp, 0, SEEK_SET);
	errno = 0;
	r[MR_BACK] = fgetc(fp);
	clearerr(fp);
}

/* The bytes at fd, at most cap of them, from offset 0. */
static size_t fd_contents(int fd, char *buf, size_t cap)
{
	ssize_t n;

	ck_assert_int_ge(fd, 0);
	n = pread(fd, buf, cap, 0);
	ck_assert_int_ge(n, 0);
	return (size_t)n;
}

/* The spool of the same mode: opened as the scratch file was. */
static FILE *mode_spool(const char *mode)
{
	struct spool_options o = {.threshold = 16,
				  .data = MODE_DATA,
				  .data_len = sizeof(MODE_DATA) - 1};

	return mode[0] == 'r' ? spool_fopen_opts(&o, mode)
			      : spool_fopen(16, mode);
}

/* Both streams are open: same results, same contents. */
static void mode_compare(const char *mode, FILE *file, FILE *spool)
{
	long rf[MR_N], rs[MR_N];
	char cf[32], cs[32];
	int fd, i;

	mode_run(file, rf);
	mode_run(spool, rs);
	fd = open(mode[0] == 'r' ? mode_old : mode_new, O_RDONLY);
	rf[MR_LEN] = (long)fd_contents(fd, cf, sizeof(cf));
	ck_assert_int_eq(close(fd), 0);
	rs[MR_LEN] = (long)fd_contents(spool_fileno(spool), cs, sizeof(cs));
	for (i = 0; i < MR_N; i++)
		ck_assert_msg(rf[i] == rs[i],
			      "mode \"%s\": %s: file %ld, spool %ld", mode,
			      mr_name[i], rf[i], rs[i]);
	ck_assert_msg(memcmp(cf, cs, (size_t)rf[MR_LEN]) == 0,
		      "mode \"%s\": file \"%.*s\", spool \"%.*s\"", mode,
		      (int)rf[MR_LEN], cf, (int)rs[MR_LEN], cs);
}

/* One mode through fopen() and a spool; returns 1 if compared. */
static int mode_case(const char *mode)
{
	const char *path = mode[0] == 'r' ? mode_old : mode_new;
	FILE *file, *spool;
	int ferr, serr;

	if (mode[0] == 'r')
		mode_reset();
	errno = 0;
	file = fopen(path, mode);
	ferr = errno;
	errno = 0;
	spool = mode_spool(mode);
	serr = errno;
	if (file == NULL) {
		/* r, w or a missing, or an unknown ",ccs=" charset */
		ck_assert_msg(ferr == EINVAL, "mode \"%s\": fopen: %s", mode,
			      strerror(ferr));
	} else if (fwide(file, 0) > 0) {
		/* a known ",ccs=" charset: fopen()'s stream is wide */
		ck_assert_int_eq(fclose(file), 0);
		file = NULL;
	}
	if (file == NULL) {
		ck_assert_msg(spool == NULL, "mode \"%s\": spool opened", mode);
		ck_assert_msg(serr == EINVAL, "mode \"%s\": spool: %s", mode,
			      strerror(serr));
	} else {
		ck_assert_msg(spool != NULL, "mode \"%s\": spool: %s", mode,
			      strerror(serr));
		mode_compare(mode, file, spool);
		ck_assert_int_eq(fclose(file), 0);
		ck_assert_int_eq(fclose(spool), 0);
	}
	if (unlink(mode_new) < 0)
		ck_assert_int_eq(errno, ENOENT);
	return 1;
}

/* Every string of _i characters (1 to 4) over these: 22620 modes. */
static const char mode_alphabet[] = "rwa+bxmcetz,";

START_TEST(test_mode_like_fopen_all_short)
{
	size_t k = sizeof(mode_alphabet) - 1, total = 1, n, j;
	char mode[5];
	int len = _i;

	for (j = 0; j < (size_t)len; j++)
		total *= k;
	mode[len] = '\0';
	for (n = 0; n < total; n++) {
		size_t v = n;

		for (j = 0; j < (size_t)len; j++, v /= k)
			mode[j] = mode_alphabet[v % k];
		mode_case(mode);
	}
}
END_TEST

/*
 * Where glibc stops: a '+' after 0 to 9 other characters (only mode[1]
 * to mode[6] are read), and ",ccs=" after 0 to 9 of them (found past
 * the last '+', 'x' or 'b' read, however far into the string).
 */
START_TEST(test_mode_like_fopen_positions)
{
	static const char first[] = "rwa";
	static const char fill[] = "mbx+t,e";
	static const char *const tail[] = {
	    "+",	  ",ccs=UTF-8",	 ",ccs=ISO-8859-1", ",ccs=BOGUS",
	    ",ccs=",	  ",ccs=UTF-8+", "+,ccs=UTF-8",	    "ccs=UTF-8",
	    ",CCS=UTF-8", ",ccs=+",	 ",ccs=x",	    ",ccs=b",
	    ",ccs=m",	  ",ccs=e",
	};
	char mode[32];
	size_t f, c, k, t;

	for (f = 0; f < sizeof(first) - 1; f++)
		for (c = 0; c < sizeof(fill) - 1; c++)
			for (k = 0; k <= 9; k++)
				for (t = 0; t < sizeof(tail) / sizeof(tail[0]);
				     t++) {
					mode[0] = first[f];
					memset(mode + 1, fill[c], k);
					strcpy(mode + 1 + k, tail[t]);
					mode_case(mode);
				}
}
END_TEST

/* Shapes the generated modes miss. */
static const char *const mode_picked[] = {
    "",
    "x",
    "R",
    " r",
    "r b",
    "r\t+",
    "rw+",
    "wr",
    "ar",
    "r,+",
    "r,ccs=+ISO-8859-1", /* 2.36: '+' is mode[6], ",ccs=" not found */
    "rb,ccs=x",
    "w+b,ccs=UTF-8",
    "a,ccs=UTF-16",
    "r+,ccs=UTF-8",
    "r++++++,ccs=UTF-8",
    "rmmmmmmm,ccs=UTF-8",
    "r\xff+",
    "r\n+",
    "rbbbbbb+",
    "rbbbbb+",
    "a+,ccs=UTF-8,x",
    "w,ccs=UTF-8,ccs=BOGUS",
    "ra",
    "wa+",
    "a+r",
    "rrrrrrrrr+",
};

START_TEST(test_mode_like_fopen_picked)
{
	ck_assert_int_eq(mode_case(mode_picked[_i]), 1);
}
END_TEST

/* 'x': fopen() refuses an existing file; a spool's is always new. */
START_TEST(test_mode_differs_x)
{
	static const char *const modes[] = {"wx", "ax", "w+x", "a+bx"};
	FILE *fp;

	errno = 0;
	ck_assert_ptr_null(fopen(mode_old, modes[_i]));
	ck_assert_int_eq(errno, EEXIST);
	fp = spool_fopen(16, modes[_i]);
	ck_assert_ptr_nonnull(fp);
	ck_assert_int_eq(fputc('x', fp), 'x');
	ck_assert_int_eq(fclose(fp), 0);
}
END_TEST

/* ",ccs=": fopen() gives a wide stream; a spool cannot be one. */
START_TEST(test_mode_differs_ccs)
{
	FILE *fp = fopen(mode_old, "r,ccs=UTF-8");

	ck_assert_ptr_nonnull(fp);
	ck_assert_int_gt(fwide(fp, 0), 0);
	ck_assert_int_eq(fclose(fp), 0);
	errno = 0;
	ck_assert_ptr_null(spool_fopen(16, "r,ccs=UTF-8"));
	ck_assert_int_eq(errno, EINVAL);
}
END_TEST

/* 'e': close-on-exec on fopen()'s descriptor only with it; always on the
 * spool's file. */
START_TEST(test_mode_differs_e)
{
	const char *mode = _i ? "we" : "w";
	FILE *fp = fopen(mode_new, mode);

	ck_assert_ptr_nonnull(fp);
	ck_assert_int_eq(fcntl(fileno(fp), F_GETFD) & FD_CLOEXEC,
			 _i ? FD_CLOEXEC : 0);
	ck_assert_int_eq(fclose(fp), 0);
	ck_assert_int_eq(unlink(mode_new), 0);
	fp = spool_fopen(16, mode);
	ck_assert_ptr_nonnull(fp);
	ck_assert_int_eq(fcntl(spool_fileno(fp), F_GETFD) & FD_CLOEXEC,
			 FD_CLOEXEC);
	ck_assert_int_eq(fclose(fp), 0);
}
END_TEST

static Suite *api_suite(void)
{
	Suite *s = suite_create("api");
	TCase *tc = tcase_create("open");

	tcase_add_loop_test(tc, test_open_good_modes, 0,
			    sizeof(good_modes) / sizeof(good_modes[0]));
	tcase_add_loop_test(tc, test_open_bad_modes, 0,
			    sizeof(bad_modes) / sizeof(bad_modes[0]));
	tcase_add_test(tc, test_open_null_mode);
	tcase_add_test(tc, test_opts_invalid);
	tcase_add_test(tc, test_opts_copied_at_open);
	suite_add_tcase(s, tc);

	tc = tcase_create("foreign");
	tcase_add_loop_test(tc, test_foreign_file_einval, 0, F_NFOREIGN);
	tcase_add_test(tc, test_closed_spool_address_einval);
	tcase_add_test(tc, test_reused_address_new_spool);
	tcase_add_test(tc, test_many_spools_each_known);
	suite_add_tcase(s, tc);

	tc = tcase_create("glibc");
	tcase_add_checked_fixture(tc, mode_setup, mode_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_mode_like_fopen_all_short, 1, 5);
	tcase_add_test(tc, test_mode_like_fopen_positions);
	tcase_add_loop_test(tc, test_mode_like_fopen_picked, 0,
			    sizeof(mode_picked) / sizeof(mode_picked[0]));
	tcase_add_loop_test(tc, test_mode_differs_x, 0, 4);
	tcase_add_test(tc, test_mode_differs_ccs);
	tcase_add_loop_test(tc, test_mode_differs_e, 0, 2);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(api_suite());
}
