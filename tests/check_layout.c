/*
 * check_layout.c - where the bytes go: speed measures that change
 * memory layout rather than results, proven not to change results.
 *
 * - Placement (lib/spool.c, mem_realloc()): each time the memory block
 *   lands at a new page offset, the image starts 0 or 64 bytes into it,
 *   so that the write being stored is not 1-63 bytes past its source
 *   modulo 4 KiB (4K aliasing). White-box: the library is compiled in,
 *   and the test reads struct spool through the registry.
 */
#include "testutil.h"

#include <malloc.h>
#include <stdint.h>

#include "spool-internal.h"

#define KiB ((size_t)1024)

static unsigned char byte_at(size_t i, unsigned seed)
{
	return (unsigned char)(seed * 131 + i * 7 + (i >> 9));
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = byte_at(i, seed);
}

/* (dst - src) mod 4096 in 1..63: the slow window. */
static int in_window(const void *dst, const void *src)
{
	uintptr_t d = ((uintptr_t)dst - (uintptr_t)src) & 4095;

	return d >= 1 && d <= 63;
}

static void expect_image(FILE *fp, const unsigned char *want, size_t n)
{
	size_t len;
	unsigned char *got = tu_slurp(fp, &len);

	ck_assert_uint_eq(len, n);
	ck_assert_msg(memcmp(got, want, n) == 0, "contents differ");
	free(got);
}

/* ---- placement ---- */

/* Source pages, so that a source can sit at any offset in a page. */
static unsigned char *src_pages(size_t n)
{
	unsigned char *p = aligned_alloc(4096, n + 4096);

	ck_assert_ptr_nonnull(p);
	return p;
}

/*
 * Source offsets to try: every 16th byte of a page, round and round until
 * the window has been met `enough` times. glibc's malloc returns the same
 * block each round, so 3 of the first 256 offsets meet it; valgrind's
 * returns a new one each time, hence the retries.
 */
#define OFFSET_TRIES 8192

/*
 * The first block: one unbuffered write (so stdio hands our bytes over
 * in place) from a source at offset k must land outside the window, and
 * the image must start at 64 exactly when 0 would have been in it.
 */
START_TEST(test_place_first_block)
{
	size_t n = 4 * KiB;
	unsigned char *pages = src_pages(n);
	int shifted = 0, tries;

	for (tries = 0; tries < OFFSET_TRIES && shifted < 3; tries++) {
		size_t k = (size_t)tries * 16 % 4096;
		unsigned char *src = pages + k, *block;
		FILE *fp = spool_fopen(SIZE_MAX, "w+");
		struct spool *s;

		ck_assert_ptr_nonnull(fp);
		ck_assert_int_eq(setvbuf(fp, NULL, _IONBF, 0), 0);
		fill(src, n, (unsigned)k);
		ck_assert_uint_eq(fwrite(src, 1, n, fp), n);
		s = spool__lookup(fp);
		ck_assert_ptr_nonnull(s);
		block = s->buf - s->skew;
		ck_assert_msg(!in_window(s->buf, src),
			      "source offset %zu: image %lu bytes past it", k,
			      (unsigned long)(((uintptr_t)s->buf -
					       (uintptr_t)src) & 4095));
		ck_assert_uint_eq(s->skew, in_window(block, src) ? 64 : 0);
		shifted += s->skew != 0;
		expect_image(fp, src, n);
		ck_assert_int_eq(fclose(fp), 0);
	}
	ck_assert_msg(shifted >= 1, "no shift in %d tries", tries);
	free(pages);
}
END_TEST

/*
 * A block that moves: heap only, a fence chunk after the block so that
 * growth cannot happen in place. Whenever the move puts the image in the
 * window for the write at hand, it is shifted with the bytes already
 * held; every byte must survive, from any source offset.
 */
START_TEST(test_place_moved_block)
{
	size_t head = 1000, n = 8 * KiB;
	unsigned char *pages = src_pages(n), *want = malloc(head + n);
	int shifted = 0, tries;

	ck_assert_ptr_nonnull(want);
	ck_assert_int_eq(mallopt(M_MMAP_MAX, 0), 1);
	for (tries = 0; tries < OFFSET_TRIES && shifted < 3; tries++) {
		size_t k = (size_t)tries * 16 % 4096;
		FILE *fp = spool_fopen(SIZE_MAX, "w+");
		struct spool *s;
		size_t before;
		void *fence;

		ck_assert_ptr_nonnull(fp);
		ck_assert_int_eq(setvbuf(fp, NULL, _IONBF, 0), 0);
		fill(want, head, 1);
		ck_assert_uint_eq(fwrite(want, 1, head, fp), head);
		s = spool__lookup(fp);
		before = s->skew;
		fence = malloc(64);
		ck_assert_ptr_nonnull(fence);
		fill(pages + k, n, (unsigned)k);
		memcpy(want + head, pages + k, n);
		ck_assert_uint_eq(fwrite(pages + k, 1, n, fp), n);
		ck_assert_msg(!in_window(s->buf + head, pages + k),
			      "source offset %zu: in the window after a move",
			      k);
		shifted += s->skew != before;
		expect_image(fp, want, head + n);
		ck_assert_int_eq(fclose(fp), 0);
		free(fence);
	}
	ck_assert_int_eq(mallopt(M_MMAP_MAX, 65536), 1);
	ck_assert_msg(shifted >= 1, "the image never moved over in %d tries",
		      tries);
	free(want);
	free(pages);
}
END_TEST

/* Shrinking (a truncate to under half) keeps the placement and bytes;
 * a cut to nothing frees the block. */
START_TEST(test_place_shrink)
{
	size_t n = 150 * KiB;
	unsigned char *pages = src_pages(n);

	for (size_t k = 0; k < 4096; k += 16) {
		FILE *fp = spool_fopen(SIZE_MAX, "w+");
		struct spool *s;
		size_t skew;

		ck_assert_ptr_nonnull(fp);
		ck_assert_int_eq(setvbuf(fp, NULL, _IONBF, 0), 0);
		fill(pages + k, n, (unsigned)k);
		ck_assert_uint_eq(fwrite(pages + k, 1, n, fp), n);
		s = spool__lookup(fp);
		skew = s->skew;
		ck_assert_int_eq(spool_truncate(fp, 1000), 0);
		ck_assert_uint_eq(s->cap, 1000);
		ck_assert_uint_eq(s->skew, skew);
		expect_image(fp, pages + k, 1000);
		ck_assert_int_eq(spool_truncate(fp, 0), 0);
		ck_assert_ptr_null(s->buf);
		ck_assert_uint_eq(s->skew, 0);
		ck_assert_int_eq(fclose(fp), 0);
	}
	free(pages);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("layout");
	TCase *tc = tcase_create("placement");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_place_first_block);
	tcase_add_test(tc, test_place_moved_block);
	tcase_add_test(tc, test_place_shrink);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
