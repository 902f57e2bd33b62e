/*
 * check_api.c - argument checking: modes, options, and every public
 * function refusing a FILE* that is not a live spool.
 */
#include "testutil.h"

#include <stdint.h>

/*
 * Modes fopen() accepts that a spool must accept too. The second half
 * used to be refused; glibc's fopen() takes them (repeats, its 'x',
 * 'm' and 'c', and unknown letters are ignored), so a spool does now.
 * The "glibc" tcase below compares every short mode with fopen().
 */
static const char *const good_modes[] = {
	"r", "r+", "w", "w+", "a", "a+", "rb", "rb+", "r+b", "wb", "w+b",
	"wb+", "ab", "a+b", "ab+", "re", "r+e", "we", "w+e", "ae", "a+e",
	"rbe", "reb", "r+be", "wbe+", "a+eb",
	"rw", "r++", "rbb", "ree", "w+x", "wx", "r ", "rm", "rc", "a+b+",
};

/* EINVAL: no r, w or a first, or a ",ccs=" charset, which would make
 * fopen()'s stream wide; a spool is byte-oriented only. */
static const char *const bad_modes[] = {
	"", "x", "+", "b", "R", " r", "r,ccs=UTF-8", "w+,ccs=UTF-8",
	"rb,ccs=x",
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
	struct spool_options o = { .threshold = 16 };

	expect_opts_fail(NULL, "w+", EINVAL);
	o.flags = 1;
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
 * the caller may reuse them at once. */
START_TEST(test_opts_copied_at_open)
{
	char data[] = "initial", dir[256];
	struct spool_options o = { .threshold = 4, .data = data,
				   .data_len = 7 };
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
	ck_assert_int_eq(spool_is_rolled(fp), 1); /* 7 > 4: on disk */
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
	return s;
}

int main(void)
{
	return tu_run(api_suite());
}
