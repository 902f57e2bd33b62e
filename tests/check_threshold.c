/* SPDX-License-Identifier: MIT */
/*
 * check_threshold.c - the threshold rule, memory use, the limit and
 * initial data. The control functions have tests/check_control.c.
 *
 * The rule under test (issue 2): contents stay in memory while their size
 * is at most `threshold`; the write that would make them larger moves
 * them to disk first, and a spool never moves back. Writes reach the
 * spool only when stdio flushes, so every assertion about where the
 * contents are follows an fflush() or uses an unbuffered stream.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio_ext.h>
#include <sys/stat.h>

#include "testutil.h"

#define KiB ((size_t)1024)
#define MiB (1024 * KiB)

static const char letters[] = "abcdefghijklmnopqrstuvwxyz";

/* Byte i of every test pattern; never 0 so a zero gap would show. */
static unsigned char pattern_byte(size_t i)
{
	return (unsigned char)(1 + (i * 7 + i / 251) % 255);
}

static unsigned char *pattern(size_t n)
{
	unsigned char *p = malloc(n + 1);
	size_t i;

	ck_assert_ptr_nonnull(p);
	for (i = 0; i < n; i++)
		p[i] = pattern_byte(i);
	return p;
}

/* ---- the boundary: threshold-1, threshold, threshold+1 ---- */

struct boundary {
	size_t threshold;
	size_t size;
};

/* SIZE_MAX has no feasible threshold-1 neighbourhood: 10 MiB must stay
 * in memory instead. */
static const struct boundary boundaries[] = {
    {0, 0},	    {0, 1},	{1, 0},		{1, 1},
    {1, 2},	    {100, 99},	{100, 100},	{100, 101},
    {MiB, MiB - 1}, {MiB, MiB}, {MiB, MiB + 1}, {SIZE_MAX, 10 * MiB},
};
#define N_BOUNDARIES ((int)(sizeof(boundaries) / sizeof(boundaries[0])))

static void expect_boundary(FILE *fp, const struct boundary *b,
			    const unsigned char *data)
{
	/* 0 bytes stored: no file even for threshold 0 */
	ck_assert_int_eq(spool_is_rolled(fp), b->size > b->threshold);
	ck_assert_int_eq(spool_size(fp), (off_t)b->size);
	tu_expect_contents(fp, data, b->size);
	ck_assert_int_eq(spool_is_rolled(fp), b->size > b->threshold);
	ck_assert_int_eq(fclose(fp), 0);
}

/* (a) one fwrite, then fflush */
START_TEST(test_threshold_boundary_fwrite_fflush)
{
	const struct boundary *b = &boundaries[_i];
	unsigned char *data = pattern(b->size);
	FILE *fp = spool_fopen(b->threshold, "w+");

	ck_assert_ptr_nonnull(fp);
	ck_assert_uint_eq(fwrite(data, 1, b->size, fp), b->size);
	ck_assert_int_eq(fflush(fp), 0);
	expect_boundary(fp, b, data);
	free(data);
}
END_TEST

/* (b) unbuffered, byte by byte: every byte reaches the spool alone */
START_TEST(test_threshold_boundary_unbuffered_bytes)
{
	const struct boundary *b = &boundaries[_i];
	unsigned char *data = pattern(b->size);
	FILE *fp = spool_fopen(b->threshold, "w+");
	size_t i;

	ck_assert_ptr_nonnull(fp);
	ck_assert_int_eq(setvbuf(fp, NULL, _IONBF, 0), 0);
	for (i = 0; i < b->size; i++) {
		if (putc(data[i], fp) != data[i])
			ck_abort_msg("putc %zu failed", i);
		if (i + 1 == b->threshold) /* exactly the threshold */
			ck_assert_int_eq(spool_is_rolled(fp), 0);
	}
	expect_boundary(fp, b, data);
	free(data);
}
END_TEST

/* A cookie that only counts what glibc hands to its write callback. */
struct counter {
	size_t calls;
	size_t largest;
};

static ssize_t count_write(void *cookie, const char *buf, size_t n)
{
	struct counter *c = cookie;

	(void)buf;
	c->calls++;
	if (n > c->largest)
		c->largest = n;
	return (ssize_t)n;
}

/* Checks the premise of (c): an unbuffered cookie stream gets one
 * fwrite of any size in a single write call. */
static void expect_one_piece(const void *data, size_t n)
{
	cookie_io_functions_t io = {.write = count_write};
	struct counter c = {0, 0};
	FILE *fp = fopencookie(&c, "w", io);

	ck_assert_ptr_nonnull(fp);
	ck_assert_int_eq(setvbuf(fp, NULL, _IONBF, 0), 0);
	ck_assert_uint_eq(fwrite(data, 1, n, fp), n);
	ck_assert_int_eq(fclose(fp), 0);
	ck_assert_uint_eq(c.calls, n > 0);
	ck_assert_uint_eq(c.largest, n);
}

/* (c) one fwrite that glibc passes to the write callback in one piece */
START_TEST(test_threshold_boundary_one_piece)
{
	const struct boundary *b = &boundaries[_i];
	unsigned char *data = pattern(b->size);
	FILE *fp = spool_fopen(b->threshold, "w+");

	expect_one_piece(data, b->size);
	ck_assert_ptr_nonnull(fp);
	ck_assert_int_eq(setvbuf(fp, NULL, _IONBF, 0), 0);
	ck_assert_uint_eq(fwrite(data, 1, b->size, fp), b->size);
	expect_boundary(fp, b, data);
	free(data);
}
END_TEST

/* Crossing in two steps: the second write rolls before it lands, and
 * the first write's bytes move along with it. */
START_TEST(test_threshold_rollover_mid_write)
{
	unsigned char *data = pattern(300);
	FILE *fp = spool_fopen(100, "w+");

	ck_assert_ptr_nonnull(fp);
	ck_assert_int_eq(setvbuf(fp, NULL, _IONBF, 0), 0);
	ck_assert_uint_eq(fwrite(data, 1, 60, fp), 60);
	ck_assert_int_eq(spool_is_rolled(fp), 0);
	ck_assert_uint_eq(fwrite(data + 60, 1, 240, fp), 240);
	ck_assert_int_eq(spool_is_rolled(fp), 1);
	tu_expect_contents(fp, data, 300);
	tu_expect_fd_contents(fp, data, 300);
	ck_assert_int_eq(fclose(fp), 0);
	free(data);
}
END_TEST

/* ---- memory: never more than the threshold for the contents ---- */

/* What the margin allows on top of the threshold: the 8 KiB stdio
 * buffer, the struct spool, registry and FILE, malloc's page rounding
 * of mmapped chunks (about 12 KiB measured in all). Small enough that a
 * buffer grown by a quarter past a 1 MiB threshold shows. */
#define MARGIN (64 * KiB)

/* 10 MiB in 64 KiB fwrites through a 1 MiB spool, checked after each. */
START_TEST(test_threshold_memory_bounded_stepwise)
{
	size_t chunk = 64 * KiB, done, base;
	unsigned char *data = pattern(10 * MiB);
	FILE *fp;

	if (!tu_heap_measurable()) {
		free(data);
		return;
	}
	fp = spool_fopen(MiB, "w+");
	ck_assert_ptr_nonnull(fp);
	base = tu_heap_used();
	for (done = 0; done < 10 * MiB; done += chunk) {
		ck_assert_uint_eq(fwrite(data + done, 1, chunk, fp), chunk);
		ck_assert_msg(tu_heap_used() <= base + MiB + MARGIN,
			      "%zu bytes in use after %zu written",
			      tu_heap_used() - base, done + chunk);
	}
	ck_assert_int_eq(spool_is_rolled(fp), 1);
	tu_expect_fd_contents(fp, data, 10 * MiB);
	ck_assert_int_eq(fclose(fp), 0);
	free(data);
}
END_TEST

/*
 * The peak inside one call cannot be read afterwards, so make the heap
 * remember it: no mmap, no trimming. Then the arena only grows, and
 * anything allocated during the call, even if freed again, is bounded
 * by (arena afterwards) - (bytes in use before).
 * Two things would count there that nothing allocated: the free top of
 * the heap before the call (about 130 KiB in these tests), so it is
 * trimmed first, and M_TOP_PAD, which every sbrk() of a growing heap
 * adds to the request (128 KiB by default: glibc malloc.c, sysmalloc()),
 * so it is 0 meanwhile. With the pad, a call that grows the heap by the
 * threshold read as the threshold plus 128 KiB.
 */
static size_t peak_begin(void)
{
	ck_assert_int_eq(mallopt(M_MMAP_MAX, 0), 1);
	ck_assert_int_eq(mallopt(M_TRIM_THRESHOLD, INT_MAX), 1);
	ck_assert_int_eq(mallopt(M_TOP_PAD, 0), 1);
	malloc_trim(0);
	return mallinfo2().uordblks;
}

/* Back to glibc's defaults (mallopt(3)): under CK_FORK=no the next test
 * runs in this process. */
static size_t peak_end(size_t in_use_before)
{
	size_t arena = mallinfo2().arena;

	mallopt(M_MMAP_MAX, 65536);
	mallopt(M_TRIM_THRESHOLD, 128 * 1024);
	mallopt(M_TOP_PAD, 128 * 1024);
	return arena - in_use_before;
}

enum { ONE_FWRITE, ONE_FPRINTF };

/* The heap peak during one call on fp of `how`, with n bytes of data
 * (a string), and the fflush() after it. fprintf's result is used:
 * unused, gcc turns fprintf(fp, "%s", s) into fputs(s, fp). */
static size_t call_peak(FILE *fp, int how, const unsigned char *data, size_t n)
{
	size_t before = peak_begin();

	if (how == ONE_FWRITE)
		ck_assert_uint_eq(fwrite(data, 1, n, fp), n);
	else
		ck_assert_int_eq(fprintf(fp, "%s", (const char *)data), (int)n);
	ck_assert_int_eq(fflush(fp), 0);
	return peak_end(before);
}

/* A cookie stream that keeps nothing: what it costs is stdio's. */
static ssize_t discard_write(void *cookie, const char *buf, size_t n)
{
	(void)cookie;
	(void)buf;
	return (ssize_t)n;
}

/*
 * One 10 MiB fwrite, or one fprintf("%s") of a 10 MiB string. glibc up
 * to 2.36 hands either to the spool as one write, which goes straight to
 * disk. Since 2.37 printf writes into stdio's buffer and flushes it in
 * 8 KiB pieces (stdio-common/printf_buffer_to_file.c), so the image
 * fills up to the threshold first, and the write that would pass it
 * rolls over. The spool's share is the peak less what the same call
 * costs on a stream that keeps nothing, measured here on the same glibc:
 * its 8 KiB buffer, and whatever printf itself allocates (nothing for
 * "%s" in 2.36-2.43). That cost must stay small, or a spool could hide
 * behind memory printf frees before the spool fills its image.
 */
START_TEST(test_threshold_memory_bounded_one_call)
{
	cookie_io_functions_t io = {.write = discard_write};
	size_t n = 10 * MiB, stdio_cost, peak;
	unsigned char *data = pattern(n);
	FILE *fp;

	data[n] = '\0';
	if (!tu_heap_measurable()) {
		free(data);
		return;
	}
	fp = fopencookie(NULL, "w", io);
	ck_assert_ptr_nonnull(fp);
	stdio_cost = call_peak(fp, _i, data, n);
	ck_assert_int_eq(fclose(fp), 0);
	ck_assert_msg(stdio_cost <= MARGIN,
		      "peak %zu bytes for a stream that keeps nothing",
		      stdio_cost);

	fp = spool_fopen(MiB, "w+");
	ck_assert_ptr_nonnull(fp);
	peak = call_peak(fp, _i, data, n);
	ck_assert_msg(peak <= stdio_cost + MiB + MARGIN,
		      "peak %zu bytes for a 1 MiB spool, %zu for a stream "
		      "that keeps nothing",
		      peak, stdio_cost);
	ck_assert_int_eq(spool_is_rolled(fp), 1);
	tu_expect_fd_contents(fp, data, n);
	ck_assert_int_eq(fclose(fp), 0);
	free(data);
}
END_TEST

/* After the rollover the memory image is freed, not kept around. */
START_TEST(test_threshold_memory_released_on_rollover)
{
	unsigned char *data = pattern(MiB + 1);
	size_t base, full, after;
	FILE *fp;

	if (!tu_heap_measurable()) {
		free(data);
		return;
	}
	fp = spool_fopen(MiB, "w+");
	ck_assert_ptr_nonnull(fp);
	base = tu_heap_used();
	ck_assert_uint_eq(fwrite(data, 1, MiB, fp), MiB);
	ck_assert_int_eq(fflush(fp), 0);
	ck_assert_int_eq(spool_is_rolled(fp), 0);
	full = tu_heap_used();
	ck_assert_uint_ge(full, base + MiB); /* the contents are held */
	ck_assert_int_eq(fputc(data[MiB], fp), data[MiB]);
	ck_assert_int_eq(fflush(fp), 0);
	ck_assert_int_eq(spool_is_rolled(fp), 1);
	after = tu_heap_used();
	ck_assert_msg(after + MiB <= full, "%zu bytes still in use",
		      after - base);
	tu_expect_contents(fp, data, MiB + 1);
	ck_assert_int_eq(fclose(fp), 0);
	free(data);
}
END_TEST

/*
 * In memory N bytes cost at most N + 25% and a few hundred bytes, both
 * for one write and for many small ones (growth by a quarter). Chunks
 * of 128 KiB and more are mmapped and rounded to a page by malloc.
 */
/* Past 256 KiB the image grows by segments (lib/spool.c, mem_reserve);
 * 5 MiB and 20 MiB hold a dozen or more of them. */
static const size_t held_sizes[] = {
    1,	   255,	      256,	 257,	   1000,	4096,
    65536, 200 * KiB, 300 * KiB, MiB + 17, 5 * MiB + 3, 20 * MiB,
};

static size_t held_bound(size_t n)
{
	return n + n / 4 + 512 + (n >= 128 * KiB ? 4096 : 0);
}

START_TEST(test_threshold_memory_in_memory_overhead)
{
	unsigned char *data = pattern(20 * MiB);
	size_t i, n, done, step, base, used;
	FILE *fp;

	if (!tu_heap_measurable()) {
		free(data);
		return;
	}
	for (i = 0; i < sizeof(held_sizes) / sizeof(held_sizes[0]); i++) {
		n = held_sizes[i];
		fp = spool_fopen(SIZE_MAX, "w+");
		ck_assert_ptr_nonnull(fp);
		/* unbuffered: no 8 KiB stdio buffer in the figures */
		ck_assert_int_eq(setvbuf(fp, NULL, _IONBF, 0), 0);
		base = tu_heap_used();
		step = _i == 0 ? n : 100;
		for (done = 0; done < n; done += step) {
			if (step > n - done)
				step = n - done;
			ck_assert_uint_eq(fwrite(data + done, 1, step, fp),
					  step);
		}
		used = tu_heap_used() - base;
		ck_assert_msg(used <= held_bound(n),
			      "%zu bytes held cost %zu (bound %zu)", n, used,
			      held_bound(n));
		/* mallinfo2 counts chunks parked in the tcache (up to
		 * 1032 bytes) as in use, so a small buffer taken from it
		 * is invisible; a larger one must show. */
		if (n > 1032)
			ck_assert_uint_ge(used, n);
		ck_assert_int_eq(spool_is_rolled(fp), 0);
		ck_assert_int_eq(fclose(fp), 0);
	}
	free(data);
}
END_TEST

/* ---- limit: a hard cap on the size ---- */

/* The loop index picks memory, disk, or a rollover before the limit. */
static size_t limit_threshold(int i)
{
	return i == 0 ? SIZE_MAX : i == 1 ? 0 : 4;
}

START_TEST(test_threshold_limit_unbuffered)
{
	FILE *fp = tu_open_opts(limit_threshold(_i), 10, "w+", NULL, 0);

	ck_assert_int_eq(setvbuf(fp, NULL, _IONBF, 0), 0);
	ck_assert_uint_eq(fwrite(letters, 1, 8, fp), 8);
	errno = 0;
	ck_assert_uint_eq(fwrite(letters + 8, 1, 5, fp), 2); /* cut */
	ck_assert_int_eq(errno, EFBIG);
	ck_assert_int_ne(ferror(fp), 0);
	clearerr(fp);
	errno = 0;
	ck_assert_int_eq(fputc('!', fp), EOF);
	ck_assert_int_eq(errno, EFBIG);
	ck_assert_int_ne(ferror(fp), 0);
	clearerr(fp);
	ck_assert_int_eq(spool_size(fp), 10);
	ck_assert_int_eq(spool_is_rolled(fp), _i != 0);
	tu_expect_contents(fp, letters, 10);
	/* overwriting inside the limit still works */
	ck_assert_int_eq(fseeko(fp, 0, SEEK_SET), 0);
	ck_assert_int_eq(fputc('A', fp), 'A');
	tu_expect_contents(fp, "Abcdefghij", 10);
	ck_assert_int_eq(fclose(fp), 0);
}
END_TEST

START_TEST(test_threshold_limit_buffered)
{
	FILE *fp = tu_open_opts(limit_threshold(_i), 10, "w+", NULL, 0);

	ck_assert_uint_eq(fwrite(letters, 1, 8, fp), 8);
	ck_assert_int_eq(fflush(fp), 0); /* acknowledged: must stay */
	ck_assert_uint_eq(fwrite(letters + 8, 1, 5, fp), 5); /* buffered */
	errno = 0;
	ck_assert_int_eq(fflush(fp), EOF);
	ck_assert_int_eq(errno, EFBIG);
	ck_assert_int_ne(ferror(fp), 0);
	clearerr(fp);
	ck_assert_int_eq(spool_size(fp), 10);
	tu_expect_contents(fp, letters, 10);
	/* a seek past the limit and a write: refused, size unchanged */
	ck_assert_int_eq(fseeko(fp, 20, SEEK_SET), 0);
	ck_assert_int_eq(fputc('x', fp), 'x');
	errno = 0;
	ck_assert_int_eq(fflush(fp), EOF);
	ck_assert_int_eq(errno, EFBIG);
	clearerr(fp);
	ck_assert_int_eq(spool_size(fp), 10);
	ck_assert_int_eq(spool_is_rolled(fp), _i != 0);
	ck_assert_int_eq(fclose(fp), 0);
}
END_TEST

START_TEST(test_threshold_limit_exact_and_append)
{
	FILE *fp = tu_open_opts(limit_threshold(_i), 10, "w", NULL, 0);

	ck_assert_uint_eq(fwrite(letters, 1, 10, fp), 10);
	ck_assert_int_eq(fflush(fp), 0); /* exactly the limit is fine */
	ck_assert_int_eq(ferror(fp), 0);
	ck_assert_int_eq(spool_size(fp), 10);
	ck_assert_int_eq(fclose(fp), 0);

	fp = tu_open_opts(limit_threshold(_i), 8, "a+", "abcdef", 6);
	ck_assert_int_eq(fseeko(fp, 0, SEEK_SET), 0);
	ck_assert_int_ge(fputs("XYZ", fp), 0); /* append: lands at 6 */
	errno = 0;
	ck_assert_int_eq(fflush(fp), EOF);
	ck_assert_int_eq(errno, EFBIG);
	clearerr(fp);
	tu_expect_contents(fp, "abcdefXY", 8);
	ck_assert_int_eq(fclose(fp), 0);
}
END_TEST

START_TEST(test_threshold_limit_initial_data)
{
	struct spool_options o = {
	    .threshold = limit_threshold(_i),
	    .limit = 5,
	    .data = "abcdef",
	    .data_len = 6,
	};
	FILE *fp;

	errno = 0;
	ck_assert_ptr_null(spool_fopen_opts(&o, "r"));
	ck_assert_int_eq(errno, EFBIG);
	o.data_len = 5;
	fp = spool_fopen_opts(&o, "r+");
	ck_assert_ptr_nonnull(fp);
	tu_expect_contents(fp, "abcde", 5);
	ck_assert_int_eq(fclose(fp), 0);
}
END_TEST

/* ---- initial data ---- */

START_TEST(test_threshold_initial_data_placement)
{
	static const char *const modes[] = {"r", "r+", "a", "a+", "rb", "a+e"};
	const char *m = modes[_i];
	FILE *fp;

	fp = tu_open_opts(4, 0, m, "abcd", 4); /* exactly the threshold */
	ck_assert_int_eq(spool_is_rolled(fp), 0);
	tu_expect_fd_contents(fp, "abcd", 4);
	ck_assert_int_eq(fclose(fp), 0);

	fp = tu_open_opts(4, 0, m, "abcde", 5); /* straight to disk */
	ck_assert_int_eq(spool_is_rolled(fp), 1);
	tu_expect_fd_contents(fp, "abcde", 5);
	ck_assert_int_eq(fclose(fp), 0);

	fp = tu_open_opts(0, 0, m, NULL, 0); /* empty: no file */
	ck_assert_int_eq(spool_is_rolled(fp), 0);
	ck_assert_int_eq(fclose(fp), 0);
}
END_TEST

START_TEST(test_threshold_initial_data_refused_for_w)
{
	static const char *const modes[] = {"w", "w+", "wb", "w+e"};
	struct spool_options o = {.threshold = 100, .data = "x", .data_len = 1};
	size_t i;

	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		errno = 0;
		ck_assert_ptr_null(spool_fopen_opts(&o, modes[i]));
		ck_assert_int_eq(errno, EINVAL);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("threshold");
	TCase *tc;

	tc = tu_tcase(s, "boundary");
	tcase_add_loop_test(tc, test_threshold_boundary_fwrite_fflush, 0,
			    N_BOUNDARIES);
	tcase_add_loop_test(tc, test_threshold_boundary_unbuffered_bytes, 0,
			    N_BOUNDARIES);
	tcase_add_loop_test(tc, test_threshold_boundary_one_piece, 0,
			    N_BOUNDARIES);
	tcase_add_test(tc, test_threshold_rollover_mid_write);

	tc = tu_tcase(s, "memory");
	tcase_add_test(tc, test_threshold_memory_bounded_stepwise);
	tcase_add_loop_test(tc, test_threshold_memory_bounded_one_call,
			    ONE_FWRITE, ONE_FPRINTF + 1);
	tcase_add_test(tc, test_threshold_memory_released_on_rollover);
	tcase_add_loop_test(tc, test_threshold_memory_in_memory_overhead, 0, 2);

	tc = tu_tcase(s, "limit");
	tcase_add_loop_test(tc, test_threshold_limit_unbuffered, 0, 3);
	tcase_add_loop_test(tc, test_threshold_limit_buffered, 0, 3);
	tcase_add_loop_test(tc, test_threshold_limit_exact_and_append, 0, 3);
	tcase_add_loop_test(tc, test_threshold_limit_initial_data, 0, 3);

	tc = tu_tcase(s, "initial_data");
	tcase_add_loop_test(tc, test_threshold_initial_data_placement, 0, 6);
	tcase_add_test(tc, test_threshold_initial_data_refused_for_w);
	return tu_run(s);
}
