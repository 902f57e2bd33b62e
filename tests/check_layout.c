/*
 * check_layout.c - where the bytes go: the two speed measures that
 * change memory layout rather than results, proven not to change results.
 *
 * - Placement (lib/spool.c, mem_realloc()): each time the memory block
 *   lands at a new page offset, the image starts 0 or 64 bytes into it,
 *   so that the write being stored is not 1-63 bytes past its source
 *   modulo 4 KiB (4K aliasing). White-box: the library is compiled in,
 *   and the test reads struct spool through the registry.
 * - The stdio buffer (lib/spool.c, read_bigger()): on glibc, the first
 *   refill of a spool on disk whose threshold is at least 512 KiB swaps
 *   glibc's 8 KiB buffer for 64 KiB; never in memory, never below that
 *   threshold, never a buffer or mode chosen with setvbuf(). Every case is
 *   run side by side with tmpfile() and must read and write the same.
 */
#include "testutil.h"

#include <malloc.h>
#include <stdint.h>

#include "spool-internal.h"

#define KiB ((size_t)1024)
#define MiB (1024 * KiB)

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
	void *p = NULL;

	ck_assert_int_eq(posix_memalign(&p, 4096, n + 4096), 0);
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

#ifdef HAVE_STRUCT__IO_FILE__IO_BUF_BASE
/*
 * Two sources: a direct write (16 KiB, more than the stdio buffer) from
 * offset k2, then flushes of a caller's stdio buffer at offset k1. The
 * image must keep the direct write out of the window, and the stdio
 * buffer too whenever one of the two starts allows both.
 */
START_TEST(test_place_two_sources)
{
	size_t n = 16 * KiB;
	unsigned char *pages = src_pages(n), *sbuf = src_pages(8 * KiB);
	unsigned char *want = malloc(n + 100);
	int decided = 0; /* cases where only one start suits both */

	ck_assert_ptr_nonnull(want);
	for (size_t k1 = 0; k1 < 4096; k1 += 16 * 7) {
		for (size_t k2 = 0; k2 < 4096; k2 += 16) {
			FILE *fp = spool_fopen(SIZE_MAX, "w+");
			unsigned char *block;
			struct spool *s;
			int fine[2];

			ck_assert_ptr_nonnull(fp);
			ck_assert_int_eq(
			    setvbuf(fp, (char *)sbuf + k1, _IOFBF, 4096), 0);
			fill(want, n + 100, (unsigned)k2);
			memcpy(pages + k2, want, n);
			ck_assert_uint_eq(fwrite(pages + k2, 1, n, fp), n);
			s = spool__lookup(fp);
			block = s->buf - s->skew;
			ck_assert(!in_window(s->buf, pages + k2));
			for (int i = 0; i < 2; i++)
				fine[i] =
				    !in_window(block + 64 * i, pages + k2) &&
				    !in_window(block + 64 * i + n, sbuf + k1);
			if (fine[0] || fine[1])
				ck_assert(!in_window(s->buf + n, sbuf + k1));
			decided += fine[0] != fine[1];
			ck_assert_uint_eq(fwrite(want + n, 1, 100, fp), 100);
			expect_image(fp, want, n + 100);
			ck_assert_int_eq(fclose(fp), 0);
		}
	}
	ck_assert_int_ge(decided, 1);
	free(want);
	free(sbuf);
	free(pages);
}
END_TEST
#endif

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
	int shifted = 0, tries, heap_only;

	ck_assert_ptr_nonnull(want);
	/* glibc: heap only, so the fence really stops growth in place.
	 * ASan's allocator has no mallopt() and moves every realloc. */
	heap_only = mallopt(M_MMAP_MAX, 0) == 1;
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
	if (heap_only)
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

/* ---- the stdio buffer ---- */

#ifdef HAVE_STRUCT__IO_FILE__IO_BUF_BASE
static size_t bufsize(const FILE *fp)
{
	return (size_t)(fp->_IO_buf_end - fp->_IO_buf_base);
}
#endif

/* A spool and tmpfile() get the same calls; every result must agree. */
struct pair {
	FILE *sp, *tf;
};

static struct pair pair_open(size_t threshold, size_t n, unsigned seed)
{
	struct pair p = { spool_fopen(threshold, "w+"), tmpfile() };
	unsigned char *data = malloc(n);

	ck_assert_ptr_nonnull(p.sp);
	ck_assert_ptr_nonnull(p.tf);
	ck_assert_ptr_nonnull(data);
	fill(data, n, seed);
	ck_assert_uint_eq(fwrite(data, 1, n, p.sp), n);
	ck_assert_uint_eq(fwrite(data, 1, n, p.tf), n);
	free(data);
	return p;
}

static void pair_seek(struct pair *p, off_t off, int whence)
{
	ck_assert_int_eq(fseeko(p->sp, off, whence), 0);
	ck_assert_int_eq(fseeko(p->tf, off, whence), 0);
	ck_assert_int_eq(ftello(p->sp), ftello(p->tf));
}

static void pair_read(struct pair *p, size_t n)
{
	unsigned char *a = malloc(n + 1), *b = malloc(n + 1);
	size_t ra, rb;

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ra = fread(a, 1, n, p->sp);
	rb = fread(b, 1, n, p->tf);
	ck_assert_uint_eq(ra, rb);
	ck_assert_msg(memcmp(a, b, ra) == 0, "fread of %zu differs", n);
	ck_assert_int_eq(feof(p->sp), feof(p->tf));
	ck_assert_int_eq(ftello(p->sp), ftello(p->tf));
	clearerr(p->sp);
	clearerr(p->tf);
	free(a);
	free(b);
}

static void pair_write(struct pair *p, size_t n, unsigned seed)
{
	unsigned char *d = malloc(n);

	ck_assert_ptr_nonnull(d);
	fill(d, n, seed);
	ck_assert_uint_eq(fwrite(d, 1, n, p->sp), n);
	ck_assert_uint_eq(fwrite(d, 1, n, p->tf), n);
	ck_assert_int_eq(ftello(p->sp), ftello(p->tf));
	free(d);
}

/* Close both, after comparing the whole contents. */
static void pair_close(struct pair *p)
{
	size_t la, lb;
	unsigned char *a = tu_slurp(p->sp, &la), *b = tu_slurp(p->tf, &lb);

	ck_assert_uint_eq(la, lb);
	ck_assert_msg(memcmp(a, b, la) == 0, "contents differ");
	free(a);
	free(b);
	ck_assert_int_eq(fclose(p->sp), 0);
	ck_assert_int_eq(fclose(p->tf), 0);
}

/* On disk, 512 KiB threshold: the first refill brings 64 KiB; then a
 * mixed sequence (reads across refills, seeks inside and outside the
 * buffer, ungetc, writes into read-ahead, fgets) agrees with tmpfile(). */
START_TEST(test_iobuf_grows_on_disk)
{
#ifdef HAVE_STRUCT__IO_FILE__IO_BUF_BASE
	struct pair p = pair_open(512 * KiB, MiB + 12345, 3);
	char la[200], lb[200];

	ck_assert_int_eq(spool_is_rolled(p.sp), 1);
	pair_seek(&p, 0, SEEK_SET);
	ck_assert_uint_eq(bufsize(p.sp), 8 * KiB); /* glibc's, until now */
	pair_read(&p, 100);
	ck_assert_uint_eq(bufsize(p.sp), 64 * KiB);
	pair_read(&p, 64 * KiB);
	pair_read(&p, 200 * KiB);
	pair_seek(&p, 5000, SEEK_CUR);
	ck_assert_int_eq(fgetc(p.sp), fgetc(p.tf));
	ck_assert_int_eq(ungetc('Q', p.sp), 'Q');
	ck_assert_int_eq(ungetc('Q', p.tf), 'Q');
	pair_read(&p, 70 * KiB);
	pair_seek(&p, -3000, SEEK_CUR); /* inside the buffer */
	pair_read(&p, 10);
	pair_seek(&p, 0, SEEK_CUR);
	pair_write(&p, 100 * KiB, 4); /* into the read-ahead */
	pair_seek(&p, 0, SEEK_CUR);
	pair_read(&p, 1000);
	ck_assert_ptr_nonnull(fgets(la, sizeof(la), p.sp));
	ck_assert_ptr_nonnull(fgets(lb, sizeof(lb), p.tf));
	ck_assert_str_eq(la, lb);
	ck_assert_int_eq(ftello(p.sp), ftello(p.tf));
	pair_seek(&p, -10, SEEK_END);
	pair_read(&p, 64 * KiB); /* to the end */
	pair_seek(&p, 0, SEEK_END);
	pair_write(&p, 3 * KiB, 5);
	ck_assert_uint_eq(bufsize(p.sp), 64 * KiB);
	pair_close(&p);
#else
	printf("skipped: this libc's FILE has no _IO_buf_base; the spool "
	       "keeps the stdio buffer it is given\n");
#endif
}
END_TEST

/*
 * Where the buffer must stay as it is: in memory, below a 512 KiB
 * threshold, and after setvbuf() with a caller's buffer, line buffering
 * or none. Results agree with tmpfile() given the same setvbuf().
 */
enum { KEEP_MEMORY, KEEP_SMALL, KEEP_USERBUF, KEEP_LINE, KEEP_NONE, NKEEP };

START_TEST(test_iobuf_kept)
{
#ifdef HAVE_STRUCT__IO_FILE__IO_BUF_BASE
	static char ubuf_sp[4096], ubuf_tf[4096];
	size_t threshold = _i == KEEP_MEMORY ? SIZE_MAX
			   : _i == KEEP_SMALL ? 512 * KiB - 1
					      : 512 * KiB;
	struct pair p = { spool_fopen(threshold, "w+"), tmpfile() };
	size_t before;

	ck_assert_ptr_nonnull(p.sp);
	ck_assert_ptr_nonnull(p.tf);
	if (_i == KEEP_USERBUF) {
		ck_assert_int_eq(setvbuf(p.sp, ubuf_sp, _IOFBF, 4096), 0);
		ck_assert_int_eq(setvbuf(p.tf, ubuf_tf, _IOFBF, 4096), 0);
	} else if (_i == KEEP_LINE || _i == KEEP_NONE) {
		int mode = _i == KEEP_LINE ? _IOLBF : _IONBF;

		ck_assert_int_eq(setvbuf(p.sp, NULL, mode, 0), 0);
		ck_assert_int_eq(setvbuf(p.tf, NULL, mode, 0), 0);
	}
	pair_write(&p, MiB, 6);
	ck_assert_int_eq(spool_is_rolled(p.sp), _i != KEEP_MEMORY);
	pair_seek(&p, 0, SEEK_SET);
	pair_read(&p, 100);
	before = bufsize(p.sp);
	if (_i == KEEP_USERBUF)
		ck_assert_ptr_eq(p.sp->_IO_buf_base, ubuf_sp);
	ck_assert_uint_lt(before, 64 * KiB);
	pair_read(&p, 300 * KiB);
	pair_seek(&p, 7, SEEK_SET);
	pair_read(&p, 64 * KiB);
	ck_assert_uint_eq(bufsize(p.sp), before);
	pair_close(&p);
#else
	printf("skipped: this libc's FILE has no _IO_buf_base\n");
#endif
}
END_TEST

/* Reading from the end: nothing to read, no swap and no leak (the new
 * block is freed when the refill finds end of file). */
START_TEST(test_iobuf_at_eof)
{
#ifdef HAVE_STRUCT__IO_FILE__IO_BUF_BASE
	struct pair p = pair_open(512 * KiB, MiB, 7);

	pair_seek(&p, 0, SEEK_END);
	pair_read(&p, 10);
	ck_assert_uint_eq(bufsize(p.sp), 8 * KiB);
	pair_seek(&p, -1, SEEK_END);
	pair_read(&p, 10);
	ck_assert_uint_eq(bufsize(p.sp), 64 * KiB);
	pair_close(&p);
#else
	printf("skipped: this libc's FILE has no _IO_buf_base\n");
#endif
}
END_TEST

int main(void)
{
	Suite *s = suite_create("layout");
	TCase *tc = tcase_create("placement");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_place_first_block);
#ifdef HAVE_STRUCT__IO_FILE__IO_BUF_BASE
	tcase_add_test(tc, test_place_two_sources);
#else
	printf("skipped: two sources: this libc's FILE does not show its "
	       "stdio buffer, so the spool places for the write at hand only\n");
#endif
	tcase_add_test(tc, test_place_moved_block);
	tcase_add_test(tc, test_place_shrink);
	suite_add_tcase(s, tc);
	tc = tcase_create("stdio buffer");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_iobuf_grows_on_disk);
	tcase_add_loop_test(tc, test_iobuf_kept, 0, NKEEP);
	tcase_add_test(tc, test_iobuf_at_eof);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
