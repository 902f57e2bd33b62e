/* SPDX-License-Identifier: MIT */
/*
 * check_layout.c - where the bytes go: the two speed measures that
 * change memory layout rather than results, proven not to change results.
 *
 * - Placement (lib/spool.c, mem_realloc()): each time the memory block
 *   lands at a new page offset, the image starts 0 or 64 bytes into it,
 *   so that the write being stored is not 1-63 bytes past its source
 *   modulo 4 KiB (4K aliasing). White-box: the library is compiled in,
 *   and the test reads struct spool through the registry.
 * - The stdio buffer (lib/spool.c, read_bigger(), write_bigger()): on
 *   glibc, the first refill or full flush of a spool on disk whose
 *   threshold is at least 512 KiB swaps glibc's 8 KiB buffer for 64 KiB; never
 * in memory, never below that threshold, never a buffer or mode chosen with
 * setvbuf(). While writing, that buffer is cut to end on a 64 KiB boundary
 * of the file; a refill makes it whole. Every case is run side by side with
 * tmpfile() and must read and write the same.
 * - Writing in place (lib/spool.c, lend()): stdio's buffer is the image
 *   past the end while a spool in memory appends; the cases that must
 *   take it back out, or leave it harmlessly, against tmpfile().
 */
#include "testutil.h"

#include <malloc.h>
#include <stdio_ext.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "spool-internal.h"

#define KiB ((size_t)1024)

#ifdef SPOOL_GLIBC_INTERNALS
/* Is the glibc seam's internals path engaged in this process
 * (lib/stdio-glibc.c)? What it does to stdio's buffer is tested only
 * then; the other tests run on either path. Built without the
 * internals, no test asks. */
static int fast_path(void)
{
	struct spool_stdio io;

	spool__stdio_init(&io);
	return io.fast;
}

#define NOT_FAST                                                               \
	"skipped: the glibc internals path is not engaged here "               \
	"(SPOOL_STDIO=portable, an untested glibc or a failed probe): "        \
	"stdio keeps its own buffer"

/* In a test that looks at what the internals path does: skip, saying
 * why, where it is not engaged. */
#define NEED_FAST_PATH()                                                       \
	do {                                                                   \
		if (!fast_path()) {                                            \
			puts(NOT_FAST);                                        \
			return;                                                \
		}                                                              \
	} while (0)
#endif

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
		ck_assert_msg(
		    !in_window(s->buf, src),
		    "source offset %zu: image %lu bytes past it", k,
		    (unsigned long)(((uintptr_t)s->buf - (uintptr_t)src) &
				    4095));
		ck_assert_uint_eq(s->skew, in_window(block, src) ? 64 : 0);
		shifted += s->skew != 0;
		expect_image(fp, src, n);
		ck_assert_int_eq(fclose(fp), 0);
	}
	ck_assert_msg(shifted >= 1, "no shift in %d tries", tries);
	free(pages);
}
END_TEST

#ifdef SPOOL_GLIBC_INTERNALS
/*
 * Two sources: a direct write (16 KiB, more than the stdio buffer) from
 * offset k2, then flushes of a caller's stdio buffer at offset k1. The
 * image must keep the direct write out of the window, and the stdio
 * buffer too whenever one of the two starts allows both.
 */
START_TEST(test_place_two_sources)
{
	NEED_FAST_PATH(); /* before anything is opened */
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
 * a cut to nothing frees the block: 256 spools leave the heap as it
 * was (a block kept by each is 256 KB). */
START_TEST(test_place_shrink)
{
	size_t n = 150 * KiB, heap = 0;
	unsigned char *pages = src_pages(n);
	int measurable = tu_heap_measurable();

	for (size_t k = 0; k < 4096; k += 16) {
		FILE *fp;
		struct spool *s;
		size_t skew;

		if (k == 16) /* the first one set up stdio and the registry */
			heap = tu_heap_used();
		fp = spool_fopen(SIZE_MAX, "w+");
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
	if (measurable)
		ck_assert_msg(tu_heap_used() < heap + 64 * KiB,
			      "the heap grew by %zu bytes over 256 cuts to 0",
			      tu_heap_used() - heap);
	free(pages);
}
END_TEST

/* ---- the stdio buffer ---- */

#ifdef SPOOL_GLIBC_INTERNALS
static size_t bufsize(const FILE *fp)
{
	return (size_t)(fp->_IO_buf_end - fp->_IO_buf_base);
}

/* The block under stdio's buffer: the spool's 64 KiB one, which writing
 * may cut short (lib/stdio-glibc.c, spool__stdio_fit()), or glibc's. */
static size_t block_of(FILE *fp)
{
	struct spool *s = spool__lookup(fp);

	ck_assert_ptr_nonnull(s);
	if (s->io.big != NULL && fp->_IO_buf_base == s->io.big)
		return s->io.big_len;
	return bufsize(fp);
}

/* While writing: stdio's buffer ends on a 64 KiB boundary of the file,
 * so its next full flush ends there too. */
static void assert_ends_on_boundary(FILE *fp)
{
	off_t first =
	    ftello(fp) - (off_t)(fp->_IO_write_ptr - fp->_IO_write_base);

	ck_assert_ptr_eq(fp->_IO_write_end, fp->_IO_buf_end);
	ck_assert_msg((first + (off_t)bufsize(fp)) % (off_t)(64 * KiB) == 0,
		      "the buffer holds the file's [%lld, %lld)",
		      (long long)first, (long long)(first + bufsize(fp)));
}
#endif

#define NO_BUF_FIELDS                                                          \
	"skipped: built without the glibc internals path; the spool keeps "    \
	"the stdio buffer it is given"

/* A spool and tmpfile() get the same calls; every result must agree. */
struct pair {
	FILE *sp, *tf;
};

static struct pair pair_open(size_t threshold, size_t n, unsigned seed)
{
	struct pair p = {spool_fopen(threshold, "w+"), tmpfile()};
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

#ifdef SPOOL_GLIBC_INTERNALS
/* n bytes in 40-byte fwrite()s: stdio flushes its buffer full. Only the
 * internals path's tests need it. */
static void pair_records(struct pair *p, size_t n, unsigned seed)
{
	unsigned char rec[40];
	size_t done, k;

	for (done = 0; done < n; done += k) {
		k = n - done < sizeof(rec) ? n - done : sizeof(rec);
		fill(rec, k, seed + (unsigned)done);
		ck_assert_uint_eq(fwrite(rec, 1, k, p->sp), k);
		ck_assert_uint_eq(fwrite(rec, 1, k, p->tf), k);
	}
	ck_assert_int_eq(ftello(p->sp), ftello(p->tf));
}
#endif

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
#ifdef SPOOL_GLIBC_INTERNALS
	NEED_FAST_PATH(); /* before anything is opened */
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
	puts(NO_BUF_FIELDS);
#endif
}
END_TEST

/* On disk, 512 KiB threshold, writing: the first flush of a full buffer
 * brings 64 KiB, and writing, overwriting and reading back agree with
 * tmpfile(). A partial flush (fflush(), a seek) does not. */
START_TEST(test_iobuf_grows_writing)
{
#ifdef SPOOL_GLIBC_INTERNALS
	NEED_FAST_PATH(); /* before anything is opened */
	struct pair p = pair_open(512 * KiB, 600 * KiB, 7);

	ck_assert_int_eq(spool_is_rolled(p.sp), 1);
	ck_assert_int_eq(fflush(p.sp), 0);
	ck_assert_int_eq(fflush(p.tf), 0);
	ck_assert_uint_eq(bufsize(p.sp), 8 * KiB); /* glibc's, until now */
	pair_records(&p, 100, 8);		   /* not a full buffer yet */
	pair_seek(&p, 0, SEEK_CUR);
	ck_assert_uint_eq(bufsize(p.sp), 8 * KiB);
	pair_records(&p, 20 * KiB, 9);
	ck_assert_uint_eq(block_of(p.sp), 64 * KiB);
	pair_records(&p, 300 * KiB, 10);
	pair_seek(&p, 1000, SEEK_SET);
	pair_records(&p, 70 * KiB, 11); /* overwrite, across flushes */
	pair_seek(&p, 0, SEEK_CUR);
	pair_read(&p, 100 * KiB);
	pair_seek(&p, -5, SEEK_END);
	pair_read(&p, 10);
	pair_records(&p, 3 * KiB, 12); /* after EOF, no seek */
	ck_assert_uint_eq(block_of(p.sp), 64 * KiB);
	pair_close(&p);
#else
	puts(NO_BUF_FIELDS);
#endif
}
END_TEST

/*
 * On disk, 512 KiB threshold: once the 64 KiB block is in, every write
 * leaves stdio's buffer ending on a 64 KiB boundary of the file, so
 * that full flushes and fwrite()'s whole-buffer writes land on them
 * (ext4 then caches the file in 64 KiB folios: bench/README). It starts
 * 8 KiB past one, as the benchmark found it (glibc's first
 * full flush), and is pushed off again by odd fwrite()s and fflush().
 * A refill makes the block whole again; one that finds end of file
 * keeps it (valgrind and ASan would see it freed). Results agree with
 * tmpfile() throughout.
 */
START_TEST(test_iobuf_ends_on_boundary)
{
#ifdef SPOOL_GLIBC_INTERNALS
	NEED_FAST_PATH(); /* before anything is opened */
	struct pair p = pair_open(512 * KiB, MiB + 64 * KiB, 17);
	int i;

	ck_assert_int_eq(spool_is_rolled(p.sp), 1);
	ck_assert_int_eq(fflush(p.sp), 0);
	ck_assert_int_eq(fflush(p.tf), 0);
	pair_write(&p, 8 * KiB + 1, 18); /* glibc's buffer, flushed full */
	ck_assert_uint_eq(block_of(p.sp), 64 * KiB);
	ck_assert_uint_eq(bufsize(p.sp), 56 * KiB);
	assert_ends_on_boundary(p.sp);
	for (i = 0; i < 12; i++) {
		pair_write(&p, 64 * KiB, 19 + (unsigned)i);
		assert_ends_on_boundary(p.sp);
	}
	pair_write(&p, 200 * KiB + 5, 40); /* odd whole-buffer writes */
	assert_ends_on_boundary(p.sp);
	pair_records(&p, 100 * KiB, 41);
	assert_ends_on_boundary(p.sp);
	pair_records(&p, 1000, 42);
	ck_assert_int_eq(fflush(p.sp), 0);
	ck_assert_int_eq(fflush(p.tf), 0);
	assert_ends_on_boundary(p.sp);
	ck_assert_uint_lt(bufsize(p.sp), 64 * KiB);
	pair_seek(&p, 0, SEEK_END); /* a refill at end of file */
	pair_read(&p, 10);
	ck_assert_uint_lt(bufsize(p.sp), 64 * KiB);
	ck_assert_uint_eq(block_of(p.sp), 64 * KiB);
	pair_seek(&p, 70001, SEEK_SET); /* a refill with data */
	pair_read(&p, 10);
	ck_assert_uint_eq(bufsize(p.sp), 64 * KiB);
	pair_seek(&p, 0, SEEK_END);
	pair_records(&p, 150 * KiB, 43);
	assert_ends_on_boundary(p.sp);
	pair_close(&p);
#else
	puts(NO_BUF_FIELDS);
#endif
}
END_TEST

/*
 * The same from the first byte, through a 1 MiB threshold: fwrite()s of
 * 40 bytes, then of 64 KiB and of sizes that are no multiple of it, so
 * that the write that rolls over (the rest of a write that did not fit,
 * straight to the new file) moves the offset the buffer is fitted to.
 */
START_TEST(test_iobuf_boundary_through_rollover)
{
#ifdef SPOOL_GLIBC_INTERNALS
	NEED_FAST_PATH(); /* before anything is opened */
	struct pair p = {spool_fopen(MiB, "w+"), tmpfile()};
	int i, fitted = 0;

	ck_assert_ptr_nonnull(p.sp);
	ck_assert_ptr_nonnull(p.tf);
	pair_records(&p, MiB - 300 * KiB, 99);
	for (i = 0; i < 40; i++) {
		pair_write(&p, i % 3 ? 64 * KiB : 56 * KiB + 40, (unsigned)i);
		if (block_of(p.sp) == 64 * KiB) {
			assert_ends_on_boundary(p.sp);
			fitted++;
		}
	}
	ck_assert_int_eq(spool_is_rolled(p.sp), 1);
	ck_assert_int_ge(fitted, 20);
	pair_seek(&p, 0, SEEK_SET);
	pair_read(&p, 3 * MiB);
	pair_close(&p);
#else
	puts(NO_BUF_FIELDS);
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
#ifdef SPOOL_GLIBC_INTERNALS
	NEED_FAST_PATH(); /* before anything is opened */
	static char ubuf_sp[4096], ubuf_tf[4096];
	size_t threshold = _i == KEEP_MEMORY  ? SIZE_MAX
			   : _i == KEEP_SMALL ? 512 * KiB - 1
					      : 512 * KiB;
	struct pair p = {spool_fopen(threshold, "w+"), tmpfile()};
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
	pair_records(&p, 100 * KiB, 7); /* full flushes, on disk too */
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
	puts(NO_BUF_FIELDS);
#endif
}
END_TEST

/* Reading from the end: nothing to read and no swap; a refill that
 * finds end of file frees the new block (measured below). */
START_TEST(test_iobuf_at_eof)
{
#ifdef SPOOL_GLIBC_INTERNALS
	NEED_FAST_PATH(); /* before anything is opened */
	struct pair p = pair_open(512 * KiB, MiB, 7);

	pair_seek(&p, 0, SEEK_END);
	pair_read(&p, 10);
	ck_assert_uint_eq(bufsize(p.sp), 8 * KiB);
	pair_seek(&p, -1, SEEK_END);
	pair_read(&p, 10);
	ck_assert_uint_eq(bufsize(p.sp), 64 * KiB);
	pair_close(&p);
#else
	puts(NO_BUF_FIELDS);
#endif
}
END_TEST

#ifdef SPOOL_GLIBC_INTERNALS
/* One spool through the swap: on disk, one byte read, so the refill
 * swaps in the 64 KiB buffer (at_end: the read finds end of file, and
 * the new block goes back at once). */
static void swap_once(int at_end)
{
	FILE *fp = spool_fopen(512 * KiB, "w+");

	ck_assert_ptr_nonnull(fp);
	ck_assert_int_ge(fputs("x", fp), 0);
	ck_assert_int_eq(spool_rollover(fp), 0);
	if (at_end)
		ck_assert_int_eq(fseeko(fp, 0, SEEK_END), 0);
	else
		rewind(fp);
	ck_assert_int_eq(fgetc(fp), at_end ? EOF : 'x');
	if (!at_end)
		ck_assert_uint_eq(bufsize(fp), 64 * KiB);
	ck_assert_int_eq(fclose(fp), 0);
}
#endif

/*
 * The swap frees what it replaces: glibc's own 8 KiB buffer after a
 * refill into the new block, the new block after a refill that found
 * end of file. 1,000 spools each way must leave the heap as it was
 * (a leak of either is 8 or 64 MB here).
 */
START_TEST(test_iobuf_swap_leaves_heap)
{
#ifdef SPOOL_GLIBC_INTERNALS
	NEED_FAST_PATH();
	size_t before, grew;
	int at_end, i;

	if (!tu_heap_measurable())
		return;
	for (at_end = 0; at_end < 2; at_end++) {
		swap_once(at_end); /* the registry and stdio set up */
		before = tu_heap_used();
		for (i = 0; i < 1000; i++)
			swap_once(at_end);
		grew = tu_heap_used() - before;
		ck_assert_msg(tu_heap_used() < before + 64 * KiB,
			      "the heap grew by %zu bytes over 1,000 swaps%s",
			      grew, at_end ? " at end of file" : "");
	}
#else
	puts(NO_BUF_FIELDS);
#endif
}
END_TEST

/* ---- segments ---- */

/*
 * The shape of an image in memory (lib/spool.c, mem_reserve()): a head
 * of at least 256 KiB once segments exist, the segments in order with
 * no gap, room = head + their lengths, each grown segment under a
 * quarter of what precedes it, and at most N / 4 bytes unused.
 */
static size_t nsegs_of(const struct spool *s)
{
	return s->segs != NULL ? s->segs->n : 0;
}

static const struct spool_seg *seg(const struct spool *s, size_t k)
{
	ck_assert_uint_lt(k, nsegs_of(s));
	return &s->segs->seg[k];
}

static size_t room_of(const struct spool *s)
{
	return s->segs != NULL ? s->segs->room : s->cap;
}

static void expect_shape(FILE *fp, int grown)
{
	struct spool *s = spool__lookup(fp);
	size_t at, k;

	ck_assert_ptr_nonnull(s);
	ck_assert_int_lt(s->fd, 0);
	at = s->cap;
	if (s->segs != NULL) {
		ck_assert_uint_ge(s->segs->n, 1);
		ck_assert_uint_ge(s->cap, 256 * KiB);
	}
	for (k = 0; k < nsegs_of(s); k++) {
		const struct spool_seg *g = seg(s, k);

		ck_assert_uint_eq(g->start, at);
		ck_assert_uint_gt(g->len, 0);
		ck_assert(g->skew == 0 || g->skew == 64);
		if (grown)
			ck_assert_uint_le(g->len, g->start / 4);
		at += g->len;
	}
	ck_assert_uint_eq(room_of(s), at);
	ck_assert_uint_le((size_t)s->size, at);
	if (grown)
		ck_assert_uint_le(at - (size_t)s->size, (size_t)s->size / 4);
}

static size_t nsegs(FILE *fp)
{
	return nsegs_of(spool__lookup(fp));
}

/*
 * 6 MiB in memory, in 40-byte writes through the stdio buffer: about
 * twenty segments. Then reads, seeks and writes that straddle segment
 * ends, side by side with tmpfile().
 */
START_TEST(test_seg_grow)
{
	struct pair p = pair_open(SIZE_MAX, 0, 0);
	size_t done, k;

	for (done = 0; done < 6 * MiB; done += 40)
		pair_write(&p, 40, (unsigned)done);
	ck_assert_int_eq(fflush(p.sp), 0);
	expect_shape(p.sp, 1);
	ck_assert_uint_ge(nsegs(p.sp), 15);
	for (k = 0; k < nsegs(p.sp); k++) {
		off_t end = (off_t)seg(spool__lookup(p.sp), k)->start;

		pair_seek(&p, end - 3000, SEEK_SET);
		pair_read(&p, 6000);
		pair_seek(&p, end - 5, SEEK_SET);
		pair_write(&p, 10, (unsigned)k);
		pair_seek(&p, end - 70000, SEEK_SET);
		pair_write(&p, 140000, (unsigned)k + 1);
	}
	expect_shape(p.sp, 1);
	pair_close(&p);
}
END_TEST

/*
 * Cuts drop the segments past the end and halve a segment left less
 * than half used; a cut into the head frees every segment (the heap
 * gives their bytes back); growing again, by truncate and by a write
 * past the end, reads as zeros.
 */
START_TEST(test_seg_truncate)
{
	int measurable = tu_heap_measurable();
	struct pair p = pair_open(SIZE_MAX, 0, 0);
	struct spool *s = spool__lookup(p.sp);
	const struct spool_seg *g;
	size_t n, segs_len, cap, heap;

	for (n = 0; n < 5 * MiB; n += 64 * KiB)
		pair_write(&p, 64 * KiB, (unsigned)n);
	ck_assert_int_eq(fflush(p.sp), 0);
	ck_assert_uint_ge(nsegs_of(s), 4);
	/* Just past the start of the third segment: it is cut to 1 byte. */
	g = seg(s, 2);
	n = g->start + 1;
	ck_assert_int_eq(spool_truncate(p.sp, (off_t)n), 0);
	ck_assert_int_eq(ftruncate(fileno(p.tf), (off_t)n), 0);
	ck_assert_uint_eq(nsegs_of(s), 3);
	ck_assert_uint_eq(seg(s, 2)->len, 1);
	expect_shape(p.sp, 0);
	/* Three quarters into the second: kept whole. */
	g = seg(s, 1);
	n = g->start + g->len * 3 / 4;
	ck_assert_int_eq(spool_truncate(p.sp, (off_t)n), 0);
	ck_assert_int_eq(ftruncate(fileno(p.tf), (off_t)n), 0);
	ck_assert_uint_eq(nsegs_of(s), 2);
	ck_assert_uint_eq(seg(s, 1)->start + seg(s, 1)->len, room_of(s));
	ck_assert_uint_gt(room_of(s), n);
	expect_shape(p.sp, 0);
	pair_seek(&p, 0, SEEK_SET);
	pair_read(&p, n + 1);
	/* Into the head: no segments left, and their memory back (with
	 * what the head gives back as it shrinks; 16 KiB for rounding). */
	segs_len = room_of(s) - s->cap;
	cap = s->cap;
	heap = tu_heap_used();
	ck_assert_int_eq(spool_truncate(p.sp, 100 * KiB), 0);
	ck_assert_int_eq(ftruncate(fileno(p.tf), 100 * KiB), 0);
	ck_assert_uint_eq(nsegs_of(s), 0);
	if (measurable)
		ck_assert_msg(tu_heap_used() + segs_len + (cap - s->cap) <=
				  heap + 16 * KiB,
			      "%zu bytes of segments and %zu of head cut, "
			      "the heap gave back %zd",
			      segs_len, cap - s->cap,
			      (ssize_t)(heap - tu_heap_used()));
	expect_shape(p.sp, 0);
	/* Grow by truncate (the head, cut to 100 KiB, takes it all), then
	 * by a write past the end (a segment). */
	ck_assert_int_eq(spool_truncate(p.sp, 3 * MiB), 0);
	ck_assert_int_eq(ftruncate(fileno(p.tf), 3 * MiB), 0);
	ck_assert_uint_eq(nsegs_of(s), 0);
	ck_assert_uint_eq(s->cap, 3 * MiB);
	pair_seek(&p, 4 * MiB + 3, SEEK_SET);
	pair_write(&p, 5000, 3);
	ck_assert_int_eq(fflush(p.sp), 0);
	ck_assert_uint_eq(nsegs_of(s), 1);
	expect_shape(p.sp, 0);
	pair_seek(&p, 100 * KiB - 10, SEEK_SET);
	pair_read(&p, 4 * MiB);
	ck_assert_int_eq(spool_rollover(p.sp), 0);
	ck_assert_ptr_null(s->segs);
	ck_assert_ptr_null(s->buf);
	pair_close(&p);
}
END_TEST

/*
 * A new segment is placed as the head is: an unbuffered 64 KiB write
 * from a source at offset k that opens a segment must not land 1-63
 * bytes past its source there, and the segment starts at 64 exactly
 * when 0 would have.
 */
START_TEST(test_seg_place)
{
	size_t n = 64 * KiB, head = 256 * KiB;
	unsigned char *pages = src_pages(n), *lead = malloc(head);
	int shifted = 0, tries;

	ck_assert_ptr_nonnull(lead);
	fill(lead, head, 5);
	for (tries = 0; tries < OFFSET_TRIES && shifted < 3; tries++) {
		size_t k = (size_t)tries * 16 % 4096, at = head - 1000;
		unsigned char *src = pages + k;
		const struct spool_seg *g;
		FILE *fp = spool_fopen(SIZE_MAX, "w+");
		struct spool *s;

		ck_assert_ptr_nonnull(fp);
		ck_assert_int_eq(setvbuf(fp, NULL, _IONBF, 0), 0);
		ck_assert_uint_eq(fwrite(lead, 1, head, fp), head);
		ck_assert_int_eq(fseeko(fp, (off_t)at, SEEK_SET), 0);
		s = spool__lookup(fp);
		ck_assert_uint_eq(nsegs_of(s), 0);
		ck_assert_uint_eq(s->cap, head);
		fill(src, n, (unsigned)k);
		ck_assert_uint_eq(fwrite(src, 1, n, fp), n);
		ck_assert_uint_eq(nsegs_of(s), 1);
		g = seg(s, 0);
		ck_assert_msg(!in_window(g->p, src + 1000),
			      "source offset %zu: in the window", k);
		ck_assert_uint_eq(
		    g->skew, in_window(g->p - g->skew, src + 1000) ? 64 : 0);
		shifted += g->skew != 0;
		ck_assert_int_eq(fseeko(fp, (off_t)at, SEEK_SET), 0);
		{
			unsigned char *got = malloc(n);

			ck_assert_ptr_nonnull(got);
			ck_assert_uint_eq(fread(got, 1, n, fp), n);
			ck_assert(memcmp(got, src, n) == 0);
			free(got);
		}
		ck_assert_int_eq(fclose(fp), 0);
	}
	ck_assert_msg(shifted >= 1, "no shift in %d tries", tries);
	free(lead);
	free(pages);
}
END_TEST

/*
 * Mapping ahead (lib/spool.c, map_ahead()): writes into a fresh segment
 * of 1 MiB or more map its pages in one call, up to 1 MiB past the end of
 * the write and no further, so resident memory stays near the contents.
 * Fresh: glibc's mmap threshold is pinned at 128 KiB, so every segment
 * is a new mapping.
 */
START_TEST(test_seg_map_ahead)
{
	size_t chunk = 64 * KiB, page = (size_t)sysconf(_SC_PAGESIZE), n = 0;
	unsigned char *want = malloc(20 * MiB), vec;
	const struct spool_seg *g = NULL;
	uintptr_t end;
	struct spool *s;
	FILE *fp;

	ck_assert_ptr_nonnull(want);
#ifndef MADV_POPULATE_WRITE
	printf("skipped: map ahead: no MADV_POPULATE_WRITE here\n");
	free(want);
	return;
#endif
	if (tu_under_valgrind() || mallopt(M_MMAP_THRESHOLD, 128 * KiB) != 1) {
		printf("skipped: map ahead: needs glibc's own malloc (not "
		       "valgrind's or a sanitizer's) for fresh mappings\n");
		free(want);
		return;
	}
	fp = spool_fopen(SIZE_MAX, "w+");
	ck_assert_ptr_nonnull(fp);
	ck_assert_int_eq(setvbuf(fp, NULL, _IONBF, 0), 0);
	s = spool__lookup(fp);
	/* Until a segment of 3 MiB or more has just been opened. */
	while (g == NULL || g->len < 3 * MiB || n - g->start > chunk) {
		ck_assert_uint_lt(n + chunk, 20 * MiB);
		fill(want + n, chunk, (unsigned)n);
		ck_assert_uint_eq(fwrite(want + n, 1, chunk, fp), chunk);
		n += chunk;
		g = nsegs_of(s) > 0 ? seg(s, nsegs_of(s) - 1) : NULL;
	}
	ck_assert_int_eq(g->fresh, 1);
	end = (uintptr_t)g->p + (n - g->start);
	ck_assert_int_eq(
	    mincore((void *)((end + 512 * KiB) & ~(page - 1)), page, &vec), 0);
	ck_assert_msg(vec & 1, "not mapped ahead");
	ck_assert_int_eq(
	    mincore((void *)((end + MiB + 2 * page) & ~(page - 1)), page, &vec),
	    0);
	ck_assert_msg(!(vec & 1), "mapped more than 1 MiB ahead");
	/* A write that ends past the window moves it. */
	fill(want + n, MiB + chunk, 99);
	ck_assert_uint_eq(fwrite(want + n, 1, MiB + chunk, fp), MiB + chunk);
	n += MiB + chunk;
	ck_assert_int_eq(
	    mincore((void *)((end + MiB + 2 * page) & ~(page - 1)), page, &vec),
	    0);
	ck_assert_msg(vec & 1, "the window did not move");
	expect_image(fp, want, n);
	ck_assert_int_eq(fclose(fp), 0);
	free(want);
}
END_TEST

/*
 * Writing in place (lib/spool.c, lend()): while a spool in memory appends,
 * stdio's buffer is the image past the end. Every case runs the same
 * calls on a spool and on tmpfile(), checks every result is the same,
 * and then that both hold the same bytes. The calls are the ones that
 * must take stdio's buffer back out of the image or leave it there
 * harmlessly: discarded output, pushback, a buffer or mode set after
 * I/O, reading without a seek, rollover, truncation, ftell and seeks.
 */
#define IP_BASE 17000 /* the head then has 3480 bytes free past the end */
#define NIP 9

/* Append IP_BASE bytes and flush: on glibc the spool now writes in place. */
static void ip_start(FILE *fp, int spool)
{
	static unsigned char b[IP_BASE];

	fill(b, sizeof(b), 3);
	for (size_t i = 0; i < sizeof(b); i += 40)
		ck_assert_uint_eq(fwrite(b + i, 1, 40, fp), 40);
	ck_assert_int_eq(fflush(fp), 0);
#ifdef SPOOL_GLIBC_INTERNALS
	if (spool && fast_path()) {
		struct spool *s = spool__lookup(fp);

		ck_assert_msg(s->io.lent != NULL &&
				  fp->_IO_buf_base == s->io.lent,
			      "stdio does not write in place");
	}
#else
	(void)spool;
#endif
}

static char ip_userbuf[2][4096];

/* Case k on fp; returns a value that must be the same on both streams. */
static unsigned long ip_case(FILE *fp, int spool, int k)
{
	unsigned char b[9000];
	unsigned long r = 0;
	int i;

	fill(b, sizeof(b), (unsigned)k + 5);
	ip_start(fp, spool);
	switch (k) {
	case 0: /* discarded output never reaches the contents */
		ck_assert_uint_eq(fwrite(b, 1, 3000, fp), 3000);
		__fpurge(fp);
		ck_assert_uint_eq(fwrite(b + 5, 1, 100, fp), 100);
		break;
	case 1: /* pushback after writing (not while output is pending:
		 * glibc 2.36 then frees a bad pointer even on a file) */
		ck_assert_uint_eq(fwrite(b, 1, 10, fp), 10);
		ck_assert_int_eq(fseek(fp, 0, SEEK_CUR), 0);
		ck_assert_int_eq(ungetc('q', fp), 'q');
		r = (unsigned long)getc(fp);
		ck_assert_int_eq(fseek(fp, 0, SEEK_CUR), 0);
		ck_assert_uint_eq(fwrite(b, 1, 50, fp), 50);
		break;
	case 2: /* a buffer of the caller's, set after I/O */
		ck_assert_int_eq(setvbuf(fp, ip_userbuf[spool], _IOFBF,
					 sizeof(ip_userbuf[0])),
				 0);
		ck_assert_uint_eq(fwrite(b, 1, 9000, fp), 9000);
		break;
	case 3: /* unbuffered, set after I/O */
		ck_assert_int_eq(setvbuf(fp, NULL, _IONBF, 0), 0);
		ck_assert_uint_eq(fwrite(b, 1, 700, fp), 700);
		break;
	case 4: /* reading straight after writing, then writing again */
		ck_assert_uint_eq(fwrite(b, 1, 100, fp), 100);
		r = (unsigned long)getc(fp);
		ck_assert_int_eq(fseek(fp, -50, SEEK_CUR), 0);
		r = r * 1000 + (unsigned long)getc(fp);
		ck_assert_int_eq(fseek(fp, 0, SEEK_CUR), 0);
		ck_assert_uint_eq(fwrite(b, 1, 5000, fp), 5000);
		break;
	case 5: /* rollover with output pending */
		ck_assert_uint_eq(fwrite(b, 1, 500, fp), 500);
		if (spool)
			ck_assert_int_eq(spool_rollover(fp), 0);
		ck_assert_uint_eq(fwrite(b, 1, 1000, fp), 1000);
		break;
	case 6: /* truncation, then appending after it */
		ck_assert_uint_eq(fwrite(b, 1, 300, fp), 300);
		ck_assert_int_eq(fflush(fp), 0);
		if (spool)
			ck_assert_int_eq(spool_truncate(fp, 5000), 0);
		else
			ck_assert_int_eq(ftruncate(fileno(fp), 5000), 0);
		ck_assert_int_eq(fseek(fp, 0, SEEK_END), 0);
		ck_assert_uint_eq(fwrite(b, 1, 2000, fp), 2000);
		break;
	case 7: /* ftell between writes keeps stdio in place */
		for (i = 0; i < 300; i++) {
			ck_assert_uint_eq(fwrite(b + i, 1, 40, fp), 40);
			r = r * 3 + (unsigned long)ftell(fp);
		}
		break;
	case 8: /* overwriting earlier bytes, then appending */
		ck_assert_uint_eq(fwrite(b, 1, 2000, fp), 2000);
		ck_assert_int_eq(fseek(fp, 100, SEEK_SET), 0);
		ck_assert_uint_eq(fwrite(b + 7, 1, 3000, fp), 3000);
		ck_assert_int_eq(fseek(fp, 0, SEEK_END), 0);
		ck_assert_uint_eq(fwrite(b, 1, 4000, fp), 4000);
		break;
	}
	return r * 100000 + (unsigned long)ftell(fp);
}

/* Everything in fp, from the start. */
static size_t ip_contents(FILE *fp, unsigned char *out, size_t max)
{
	ck_assert_int_eq(fflush(fp), 0);
	ck_assert_int_eq(fseek(fp, 0, SEEK_SET), 0);
	return fread(out, 1, max, fp);
}

START_TEST(test_in_place)
{
	static unsigned char a[64 * KiB], b[64 * KiB];
	FILE *sp = spool_fopen(SIZE_MAX, "w+"), *ref = tmpfile();
	size_t na, nb;

	ck_assert_ptr_nonnull(sp);
	ck_assert_ptr_nonnull(ref);
	ck_assert_uint_eq(ip_case(sp, 1, _i), ip_case(ref, 0, _i));
	na = ip_contents(sp, a, sizeof(a));
	nb = ip_contents(ref, b, sizeof(b));
	ck_assert_uint_eq(na, nb);
	ck_assert_msg(memcmp(a, b, na) == 0, "case %d: contents differ", _i);
	ck_assert_int_eq(fclose(sp), 0);
	ck_assert_int_eq(fclose(ref), 0);
}
END_TEST

/*
 * The image's stretch that stdio writes into can be longer than stdio's
 * own buffer (lib/spool.c, AIM_MAX). Reads glibc sizes by it must land
 * in its own buffer, cut to that buffer's length: a seek that reads
 * ahead (_IO_new_file_seekoff), a read right after writing. Against
 * tmpfile(), at distances from 1 byte to 300 KiB back from the end.
 */
START_TEST(test_in_place_long)
{
#ifdef SPOOL_GLIBC_INTERNALS
	struct pair p = pair_open(SIZE_MAX, MiB + 777, 5);
	off_t back, end;
	int longer = 0;

	for (back = 1; back < 300 * (off_t)KiB; back = back * 3 / 2 + 999) {
		pair_seek(&p, 0, SEEK_END);
		pair_records(&p, 40, (unsigned)back);
		ck_assert_int_eq(fflush(p.sp), 0);
		ck_assert_int_eq(fflush(p.tf), 0);
		longer |= bufsize(p.sp) > 8 * KiB;
		/* SEEK_SET: glibc reads ahead only for that (a cookie
		 * stream has no size for SEEK_END). */
		end = ftello(p.sp);
		pair_seek(&p, end - back, SEEK_SET);
		pair_read(&p, 100);
		pair_seek(&p, 0, SEEK_CUR);
		pair_records(&p, 40, (unsigned)back + 1);
		pair_seek(&p, 0, SEEK_END);
		pair_records(&p, 40, (unsigned)back + 2);
		pair_read(&p, 10); /* at the end, no seek between */
	}
	ck_assert_msg(longer || !fast_path(),
		      "stdio never wrote in place past the length "
		      "of its own buffer");
	pair_close(&p);
#else
	puts(NO_BUF_FIELDS);
#endif
}
END_TEST

/* With a limit, the stretch ends at the limit: past it stdio writes
 * into its own buffer, so a write over the limit fails as soon as it did
 * before the stretch could be longer than that buffer. */
START_TEST(test_in_place_limit)
{
#ifdef SPOOL_GLIBC_INTERNALS
	NEED_FAST_PATH(); /* before anything is opened */
	const off_t limit = 5 * (off_t)MiB + 12345;
	struct spool_options o = {.threshold = SIZE_MAX, .limit = limit};
	FILE *fp = spool_fopen_opts(&o, "w+");
	struct spool *s;
	unsigned char rec[40];
	size_t done = 0;

	ck_assert_ptr_nonnull(fp);
	s = spool__lookup(fp);
	fill(rec, sizeof(rec), 1);
	while (done + sizeof(rec) <= (size_t)limit - 100000) {
		ck_assert_uint_eq(fwrite(rec, 1, sizeof(rec), fp), sizeof(rec));
		done += sizeof(rec);
		if (s->io.lent != NULL && fp->_IO_buf_base == s->io.lent)
			ck_assert_uint_le(s->pos + (off_t)bufsize(fp), limit);
	}
	ck_assert_int_eq(fflush(fp), 0);
	ck_assert_msg(s->io.lent != NULL, "stdio does not write in place");
	ck_assert_uint_le(s->pos + (off_t)bufsize(fp), limit);
	/* Over the limit: stored up to it, then EFBIG, as on any spool. */
	while (done < (size_t)limit + 20000 &&
	       fwrite(rec, 1, sizeof(rec), fp) == sizeof(rec))
		done += sizeof(rec);
	ck_assert_int_ne(fflush(fp) == 0 && !ferror(fp), 1);
	ck_assert_int_eq(errno, EFBIG);
	ck_assert_int_eq(spool_size(fp), limit);
	ck_assert_int_eq(fclose(fp), 0);
#else
	puts(NO_BUF_FIELDS);
#endif
}
END_TEST

/* ---- the gate (lib/stdio-glibc.c) ---- */

/* The tested range, fixed at build time: its ends are in, the versions
 * either side and anything unreadable are out. */
START_TEST(test_gate_range)
{
#ifdef SPOOL_GLIBC_INTERNALS
	unsigned lo = SPOOL_GLIBC_TESTED_MIN, hi = SPOOL_GLIBC_TESTED_MAX;
	char v[32];

	snprintf(v, sizeof(v), "%u.%u", lo / 1000, lo % 1000);
	ck_assert_msg(spool__stdio_tested(v), "%s", v);
	snprintf(v, sizeof(v), "%u.%u", hi / 1000, hi % 1000);
	ck_assert_msg(spool__stdio_tested(v), "%s", v);
	snprintf(v, sizeof(v), "%u.%u", hi / 1000, hi % 1000 + 1);
	ck_assert_msg(!spool__stdio_tested(v), "%s", v);
	snprintf(v, sizeof(v), "%u.%u", hi / 1000 + 1, 0);
	ck_assert_msg(!spool__stdio_tested(v), "%s", v);
	if (lo % 1000 > 0) {
		snprintf(v, sizeof(v), "%u.%u", lo / 1000, lo % 1000 - 1);
		ck_assert_msg(!spool__stdio_tested(v), "%s", v);
	}
	ck_assert(!spool__stdio_tested(""));
	ck_assert(!spool__stdio_tested("glibc"));
	ck_assert(!spool__stdio_tested("2"));
#else
	puts(NO_BUF_FIELDS);
#endif
}
END_TEST

/* Which path a spool opened now takes, and whether it lends stdio the
 * image once it has appended IP_BASE bytes (see ip_start()). */
static void gate_opens(int fast)
{
	static unsigned char b[IP_BASE];
	FILE *fp = spool_fopen(SIZE_MAX, "w+");
	struct spool *s;

	ck_assert_ptr_nonnull(fp);
	s = spool__lookup(fp);
	ck_assert_int_eq(s->io.fast, fast);
	ck_assert_int_eq(s->io.fix_offset, TU_OFFSET_FIX);
	fill(b, sizeof(b), 9);
	for (size_t i = 0; i < sizeof(b); i += 40)
		ck_assert_uint_eq(fwrite(b + i, 1, 40, fp), 40);
	ck_assert_int_eq(fflush(fp), 0);
	ck_assert_int_eq(s->io.lent != NULL, fast);
	expect_image(fp, b, sizeof(b));
	ck_assert_int_eq(fclose(fp), 0);
}

/* SPOOL_STDIO: "portable" forces the portable path, "fast" lifts the
 * version check (the probe still runs: it passes here), anything else
 * or nothing leaves the gate to the range. Spools already open keep the
 * path they were opened with. */
START_TEST(test_gate_env)
{
	const char *was = getenv("SPOOL_STDIO");
	char *saved = was != NULL ? strdup(was) : NULL;
	FILE *old = spool_fopen(SIZE_MAX, "w+");
	int old_fast = spool__lookup(old)->io.fast;

	ck_assert_int_eq(setenv("SPOOL_STDIO", "portable", 1), 0);
	spool__stdio_regate();
	gate_opens(0);
	ck_assert_int_eq(setenv("SPOOL_STDIO", "fast", 1), 0);
	spool__stdio_regate();
	gate_opens(TU_OFFSET_FIX);
	ck_assert_int_eq(setenv("SPOOL_STDIO", "quick", 1), 0);
	spool__stdio_regate();
	gate_opens(unsetenv("SPOOL_STDIO") == 0 && tu_fast_path_expected());
	spool__stdio_regate();
	gate_opens(tu_fast_path_expected());
	ck_assert_int_eq(spool__lookup(old)->io.fast, old_fast);
	ck_assert_int_eq(fclose(old), 0);
	if (saved != NULL)
		ck_assert_int_eq(setenv("SPOOL_STDIO", saved, 1), 0);
	free(saved);
	spool__stdio_regate();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("layout");
	TCase *tc = tcase_create("placement");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_place_first_block);
#ifdef SPOOL_GLIBC_INTERNALS
	tcase_add_test(tc, test_place_two_sources);
#else
	printf(
	    "skipped: two sources: this libc's FILE does not show its "
	    "stdio buffer, so the spool places for the write at hand only\n");
#endif
	tcase_add_test(tc, test_place_moved_block);
	tcase_add_test(tc, test_place_shrink);
	suite_add_tcase(s, tc);
	tc = tcase_create("stdio buffer");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_iobuf_grows_on_disk);
	tcase_add_test(tc, test_iobuf_grows_writing);
	tcase_add_test(tc, test_iobuf_ends_on_boundary);
	tcase_add_test(tc, test_iobuf_boundary_through_rollover);
	tcase_add_loop_test(tc, test_iobuf_kept, 0, NKEEP);
	tcase_add_test(tc, test_iobuf_at_eof);
	tcase_add_test(tc, test_iobuf_swap_leaves_heap);
	suite_add_tcase(s, tc);
	tc = tcase_create("segments");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_seg_grow);
	tcase_add_test(tc, test_seg_truncate);
	tcase_add_test(tc, test_seg_place);
	tcase_add_test(tc, test_seg_map_ahead);
	suite_add_tcase(s, tc);
	tc = tcase_create("in place");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_in_place, 0, NIP);
	tcase_add_test(tc, test_in_place_long);
	tcase_add_test(tc, test_in_place_limit);
	suite_add_tcase(s, tc);
	tc = tcase_create("gate");
	tcase_add_test(tc, test_gate_range);
	tcase_add_test(tc, test_gate_env);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
