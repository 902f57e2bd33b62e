/* SPDX-License-Identifier: MIT */
/*
 * check_secret.c - SPOOL_SECRET's wiping, watched from inside: the
 * library compiled in with its fault-injection seam, whose munmap()
 * lets this test look at every block of a secret spool just before it
 * goes back to the kernel. Every byte must be zero then: the image's
 * blocks as it grows (a new block each time, never realloc()), shrinks,
 * is joined for a view, rolls over and is closed; stdio's buffer at
 * fclose(); and all of it again with each call on the way failing in
 * turn. A leak check counts the process's secret mappings (VmFlags
 * "dd" in /proc/self/smaps) before and after.
 */
#include "config.h"

#include "testutil.h"

#include <stdint.h>

#include "../lib/spool-internal.h"

#define KiB ((size_t)1024)
#define MiB (1024 * KiB)

static char *dir;
static long unmaps, dirty, iobufs;

/* The seam calls this with each mapping it is about to unmap. */
static void inspect(const void *p, size_t len)
{
	const unsigned char *b = p;
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);

	unmaps++;
	for (size_t i = 0; i < len; i++) {
		if (b[i] != 0) {
			dirty++;
			break;
		}
	}
	iobufs += len == (BUFSIZ + pg - 1) / pg * pg;
}

/* Mappings marked "dd" (the secret spools' blocks, nothing else here). */
static int secret_maps(void)
{
	FILE *f = fopen("/proc/self/smaps", "re");
	char line[512];
	int n = 0;

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f) != NULL)
		n += strncmp(line, "VmFlags:", 8) == 0 &&
		     strstr(line, " dd") != NULL;
	fclose(f);
	return n;
}

static int maps_before;

static void setup(void)
{
	dir = tu_mkdtemp();
	unmaps = dirty = iobufs = 0;
	spool__faults = (struct spool__faults){.on_munmap = inspect};
	maps_before = secret_maps();
}

static void teardown(void)
{
	spool__faults = (struct spool__faults){0};
	ck_assert_int_eq(secret_maps(), maps_before); /* none leaked */
	tu_rmdir(dir);
}

static unsigned char pat(size_t i)
{
	return (unsigned char)(i * 131 + 7 + (i >> 16)) | 1; /* never 0 */
}

static int put(FILE *fp, size_t from, size_t n, size_t step)
{
	unsigned char buf[8192];

	while (n > 0) {
		size_t k = n < step ? n : step;

		if (k > sizeof(buf))
			k = sizeof(buf);
		for (size_t i = 0; i < k; i++)
			buf[i] = pat(from + i);
		if (fwrite(buf, 1, k, fp) != k)
			return -1;
		from += k;
		n -= k;
	}
	return fflush(fp) == 0 ? 0 : -1;
}

static FILE *open_secret(size_t threshold)
{
	struct spool_options o = {
	    .threshold = threshold, .dir = dir, .flags = SPOOL_SECRET};

	return spool_fopen_opts(&o, "w+");
}

/*
 * A secret spool's life: growth in uneven pieces (the head moves, then
 * segments come), a view that pins the head while it grows on, cuts
 * that free segments and shrink the head, then a rollover and fclose.
 * Returns how far it got; stops at the first failure (a fault).
 */
static int life(void)
{
	const void *data;
	size_t len;
	FILE *fp = open_secret(SIZE_MAX);
	int step = 0;

	if (fp == NULL)
		return step;
	if (put(fp, 0, 100 * KiB, 777) == 0 && ++step &&
	    spool_view(fp, &data, &len) == 0 && ++step &&
	    put(fp, 100 * KiB, 2 * MiB, 3001) == 0 && ++step &&
	    spool_unview(fp) == 0 && spool_truncate(fp, 300 * KiB) == 0 &&
	    ++step && spool_truncate(fp, 1000) == 0 && ++step &&
	    spool_rollover(fp) == 0 && ++step)
		(void)put(fp, 1000, 10 * KiB, 100);
	fclose(fp);
	return step;
}

START_TEST(test_secret_life_wipes_everything)
{
	ck_assert_int_eq(life(), 6);
	ck_assert_int_eq(dirty, 0);
	ck_assert_int_gt(unmaps, 20); /* the head moved, segments came */
	ck_assert_int_ge(iobufs, 1);  /* stdio's buffer went back too */
	printf("secret life: %ld blocks unmapped, all zero\n", unmaps);
}
END_TEST

/* The check above can fail: a spool that is not secret uses no such
 * blocks, and a secret one's block holds the pattern until wiped. */
START_TEST(test_secret_blocks_hold_contents_until_freed)
{
	FILE *fp = open_secret(SIZE_MAX);
	const void *data;
	size_t len;

	ck_assert_ptr_nonnull(fp);
	ck_assert_int_eq(put(fp, 0, 5000, 100), 0);
	ck_assert_int_eq(spool_view(fp, &data, &len), 0);
	ck_assert_uint_eq(((const unsigned char *)data)[4999], pat(4999));
	ck_assert_int_eq(spool_unview(fp), 0);
	ck_assert_int_eq(dirty, 0);
	ck_assert_int_eq(fclose(fp), 0);
	ck_assert_int_eq(dirty, 0);
	ck_assert_int_ge(unmaps, 2);
}
END_TEST

/* The same life with the Nth call failing, for every N it reaches. */
START_TEST(test_secret_life_under_faults)
{
	long n, total;

	spool__faults.armed = 1;
	(void)life();
	total = spool__faults.calls;
	spool__faults.armed = 0;
	for (n = 1; n <= total; n++) {
		spool__faults.calls = 0;
		spool__faults.fail_at = n;
		spool__faults.armed = 1;
		(void)life();
		spool__faults.armed = 0;
		ck_assert_msg(
		    dirty == 0,
		    "fault at call %ld (%s) left a "
		    "block unwiped",
		    n, spool__faults.hit_name ? spool__faults.hit_name : "-");
		ck_assert_int_eq(secret_maps(), maps_before);
	}
	printf("secret life under %ld faults: every block wiped\n", total);
}
END_TEST

static Suite *secret_suite(void)
{
	Suite *s = suite_create("secret");
	TCase *tc = tcase_create("wipe");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_secret_life_wipes_everything);
	tcase_add_test(tc, test_secret_blocks_hold_contents_until_freed);
	tcase_add_test(tc, test_secret_life_under_faults);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(secret_suite());
}
