/* SPDX-License-Identifier: MIT */
/*
 * check_inject.c - every failure path, by injection.
 *
 * The library is compiled into this binary with SPOOL_FAULT_INJECTION,
 * so every call that can fail (allocation, open, mkostemp, unlink, stat,
 * read, write, lseek, fstat, ftruncate, fopencookie) goes through
 * lib/sys.c. Each scenario runs once to count those calls, then once per
 * call N with call N failing. After every run:
 *   - a step that failed is the step the fault hit, with its errno;
 *   - a step that succeeded is in the model, and the contents equal the
 *     model: every byte of every step that reported success, in place,
 *     nothing else;
 *   - with the fault gone the spool goes on working (a rollover that
 *     failed once succeeds later);
 *   - fclose() returns 0 and the temp directory is empty.
 * Leaks on these paths are caught by running this binary under valgrind
 * and AddressSanitizer in CI.
 */
#include "testutil.h"

#include <stdint.h>
#include <sys/mman.h>

#include "spool-internal.h"

#define F spool__faults

enum { MAXM = 6 << 20 };

/* The spool under test and the model of what it must hold. */
static struct run {
	FILE *fp;
	char *dir;
	const char *scenario;
	unsigned char *model; /* model_bytes: not cleared for every run */
	off_t mlen;
	off_t pos;
	int append;
	int failures;
	unsigned char *named; /* what spool_persist() last named, or NULL */
	size_t named_len;
	const void *view; /* a live view, and its bytes when taken */
	unsigned char *viewed;
	size_t view_len;
} R;

/* A step reported failure: the fault must have hit during it. */
static void expect_fault(long before, int err, const char *what)
{
	ck_assert_msg(F.hit != 0 && F.fail_at > before && F.fail_at <= F.calls,
		      "%s: %s failed with errno %d but no fault hit it "
		      "(fail_at %ld, calls %ld..%ld)",
		      R.scenario, what, err, F.fail_at, before, F.calls);
	ck_assert_msg(err == F.hit, "%s: %s: errno %d, injected %d into %s",
		      R.scenario, what, err, F.hit, F.hit_name);
	R.failures++;
}

/* Bytes stored at the position (at the end in append mode). */
static void model_put(const void *p, size_t n)
{
	off_t at = R.append ? R.mlen : R.pos;

	if (n == 0)
		return;
	ck_assert_int_le(at + (off_t)n, MAXM);
	if (at > R.mlen)
		memset(R.model + R.mlen, 0, (size_t)(at - R.mlen));
	memcpy(R.model + at, p, n);
	R.pos = at + (off_t)n;
	if (R.pos > R.mlen)
		R.mlen = R.pos;
}

static const unsigned char *pattern(size_t n, unsigned seed)
{
	static unsigned char buf[MAXM];

	ck_assert_uint_le(n, sizeof(buf));
	for (size_t i = 0; i < n; i++)
		buf[i] = (unsigned char)(seed * 131 + i * 7 + (i >> 8));
	return buf;
}

/* Unbuffered streams only: fwrite's count is exactly what was stored. */
static void op_write(size_t n, unsigned seed)
{
	const unsigned char *p = pattern(n, seed);
	long before = F.calls;
	size_t w;
	int err;

	errno = 0;
	w = fwrite(p, 1, n, R.fp);
	err = errno;
	model_put(p, w);
	if (w < n) {
		expect_fault(before, err, "fwrite");
		clearerr(R.fp);
	}
}

/* Buffered streams: small writes that stay in stdio's buffer, then
 * fflush. They reach the spool as one call: stored whole or not at all. */
static void op_batch(const char *line, int times)
{
	char buf[2 * BUFSIZ];
	size_t len = strlen(line) * (size_t)times;
	long before = F.calls;
	int rc, err;

	ck_assert_uint_lt(len, sizeof(buf));
	buf[0] = '\0';
	for (int i = 0; i < times; i++) {
		strcat(buf, line);
		ck_assert_int_ge(fputs(line, R.fp), 0);
	}
	errno = 0;
	rc = fflush(R.fp);
	err = errno;
	if (rc == 0) {
		model_put(buf, len);
		return;
	}
	expect_fault(before, err, "fflush");
	clearerr(R.fp);
}

static void op_tell(void)
{
	long before = F.calls;
	off_t at;

	errno = 0;
	at = ftello(R.fp);
	if (at < 0)
		expect_fault(before, errno, "ftello");
	else
		ck_assert_msg(at == R.pos,
			      "%s: ftello %lld, model %lld (fault at %ld: %s)",
			      R.scenario, (long long)at, (long long)R.pos,
			      F.fail_at, F.hit_name ? F.hit_name : "none");
}

/* After a failed seek the position is unknown: seek again, unfaulted
 * (one fault per run), to the same target. */
static void op_seek(off_t off, int whence)
{
	off_t base = whence == SEEK_SET	  ? 0
		     : whence == SEEK_CUR ? R.pos
					  : R.mlen;
	long before = F.calls;

	errno = 0;
	if (fseeko(R.fp, off, whence) != 0) {
		expect_fault(before, errno, "fseeko");
		clearerr(R.fp);
		ck_assert_int_eq(fseeko(R.fp, base + off, SEEK_SET), 0);
	}
	R.pos = base + off;
	op_tell();
}

static void op_read(size_t n)
{
	static unsigned char buf[MAXM];
	size_t want = 0, got;
	long before = F.calls;
	int err;

	if (R.pos < R.mlen)
		want =
		    (size_t)(R.mlen - R.pos) < n ? (size_t)(R.mlen - R.pos) : n;
	errno = 0;
	got = fread(buf, 1, n, R.fp);
	err = errno;
	ck_assert_uint_le(got, want);
	ck_assert_msg(got == 0 || memcmp(buf, R.model + R.pos, got) == 0,
		      "%s: fread returned wrong bytes", R.scenario);
	if (got < want) {
		ck_assert(ferror(R.fp));
		expect_fault(before, err, "fread");
	}
	clearerr(R.fp);
	/* Where a failed read leaves stdio's read-ahead is glibc's affair:
	 * put the position where the caller has consumed to. */
	R.pos += (off_t)got;
	if (got < want)
		ck_assert_int_eq(fseeko(R.fp, R.pos, SEEK_SET), 0);
	op_tell();
}

static void op_truncate(off_t len)
{
	long before = F.calls;

	errno = 0;
	if (spool_truncate(R.fp, len) != 0) {
		expect_fault(before, errno, "spool_truncate");
		return;
	}
	if (len > R.mlen)
		memset(R.model + R.mlen, 0, (size_t)(len - R.mlen));
	R.mlen = len;
}

static void op_rollover(void)
{
	long before = F.calls;

	errno = 0;
	if (spool_rollover(R.fp) != 0)
		expect_fault(before, errno, "spool_rollover");
	else
		ck_assert_int_eq(spool_is_rolled(R.fp), 1);
}

static void op_size(void)
{
	long before = F.calls;
	off_t size;

	errno = 0;
	size = spool_size(R.fp);
	if (size < 0)
		expect_fault(before, errno, "spool_size");
	else
		ck_assert_int_eq(size, R.mlen);
}

/* spool_stat() agrees with the model: the size, where the contents
 * are, and memory held only in memory. */
static void op_stat(void)
{
	long before = F.calls;
	struct spool_stat st;

	errno = 0;
	if (spool_stat(R.fp, &st) < 0) {
		expect_fault(before, errno, "spool_stat");
		return;
	}
	ck_assert_int_eq(st.size, R.mlen);
	ck_assert_int_eq(st.rolled, spool_is_rolled(R.fp));
	if (st.rolled)
		ck_assert_uint_eq(st.mem_bytes, 0);
	else
		ck_assert_uint_ge(st.mem_bytes, (size_t)R.mlen);
	ck_assert_uint_ge(st.mem_peak, st.mem_bytes);
	ck_assert_uint_eq(spool_budget_used(), st.mem_bytes);
}

static void op_fileno(void)
{
	long before = F.calls;

	errno = 0;
	if (spool_fileno(R.fp) < 0)
		expect_fault(before, errno, "spool_fileno");
}

/* The contents out (contents.c, persist.c): each step that succeeds
 * gives exactly the model; one that fails was hit by the fault. */
static void op_getvalue(void)
{
	long before = F.calls;
	size_t len;
	char *v;

	errno = 0;
	v = spool_getvalue(R.fp, &len);
	if (v == NULL) {
		expect_fault(before, errno, "spool_getvalue");
		return;
	}
	ck_assert_uint_eq(len, (size_t)R.mlen);
	ck_assert(memcmp(v, R.model, len) == 0 && v[len] == '\0');
	free(v);
}

/* Take a view and keep it: op_view_check() compares it with the bytes
 * it showed, op_unview() ends it. */
static void op_view(void)
{
	long before = F.calls;
	size_t len;

	errno = 0;
	if (spool_view(R.fp, &R.view, &len) != 0) {
		expect_fault(before, errno, "spool_view");
		R.view = NULL;
		return;
	}
	ck_assert_uint_eq(len, (size_t)R.mlen);
	ck_assert(memcmp(R.view, R.model, len) == 0);
	R.viewed = malloc(len + 1);
	ck_assert_ptr_nonnull(R.viewed);
	memcpy(R.viewed, R.model, len);
	R.view_len = len;
}

static void op_view_check(void)
{
	if (R.view != NULL)
		ck_assert_msg(memcmp(R.view, R.viewed, R.view_len) == 0,
			      "%s: the viewed bytes changed", R.scenario);
}

static void op_unview(void)
{
	if (R.view == NULL)
		return;
	op_view_check();
	ck_assert_int_eq(spool_unview(R.fp), 0);
	free(R.viewed);
	R.view = R.viewed = NULL;
}

/* Send to a memfd: the bytes that arrived are the model's, from 0 to
 * wherever a failure stopped the send. */
static void op_send(void)
{
	long before = F.calls;
	int fd = memfd_create("inject-send", MFD_CLOEXEC);
	unsigned char *got = malloc((size_t)R.mlen + 1);
	off_t off = 0;
	int rc, err;

	ck_assert_int_ge(fd, 0);
	ck_assert_ptr_nonnull(got);
	errno = 0;
	rc = spool_send(R.fp, fd, &off);
	err = errno;
	ck_assert_int_le(off, R.mlen);
	ck_assert_int_eq(pread(fd, got, (size_t)R.mlen + 1, 0), off);
	ck_assert(memcmp(got, R.model, (size_t)off) == 0);
	if (rc != 0)
		expect_fault(before, err, "spool_send");
	else
		ck_assert_int_eq(off, R.mlen);
	free(got);
	close(fd);
}

/* Does the file at path hold exactly the n bytes at p? */
static int same_file(const char *path, const unsigned char *p, size_t n)
{
	FILE *f = fopen(path, "r");
	unsigned char *got;
	size_t len;
	int same;

	if (f == NULL)
		return 0;
	got = tu_slurp(f, &len);
	fclose(f);
	same = len == n && memcmp(got, p, n) == 0;
	free(got);
	return same;
}

/* Where the persist scenarios name the contents; the caller frees it. */
static char *named_path(void)
{
	char *path;

	ck_assert_int_ne(asprintf(&path, "%s/named", R.dir), -1);
	return path;
}

/* The persisted file: what was last named, whatever failed since. */
static void check_named(void)
{
	char *path;

	path = named_path();
	if (R.named == NULL)
		ck_assert_msg(access(path, F_OK) != 0,
			      "%s: a failed persist left a file", R.scenario);
	else
		ck_assert_msg(
		    same_file(path, R.named, R.named_len),
		    "%s: the persisted file changed (fault %ld in %s)",
		    R.scenario, F.fail_at, F.hit_name ? F.hit_name : "none");
	free(path);
}

static void op_persist(unsigned flags)
{
	long before = F.calls;
	char *path;
	int rc;

	path = named_path();
	errno = 0;
	rc = spool_persist(R.fp, path, flags);
	if (rc != 0)
		expect_fault(before, errno, "spool_persist");
	/* The one failure after the path changed: the directory's fsync
	 * (spool_persist(3)). The file's own fsync comes before. */
	if (rc != 0 && strcmp(F.hit_name, "fsync") == 0 &&
	    same_file(path, R.model, (size_t)R.mlen))
		rc = 0;
	if (rc == 0) {
		free(R.named);
		R.named = malloc((size_t)R.mlen + 1);
		ck_assert_ptr_nonnull(R.named);
		memcpy(R.named, R.model, (size_t)R.mlen);
		R.named_len = (size_t)R.mlen;
	}
	free(path);
	check_named();
}

/* The scenarios: sequences of steps over the failure paths. */
static void body_small_writes(void)
{
	for (int i = 0; i < 12; i++)
		op_batch("a line of the small-writes scenario\n", 3);
	op_seek(100, SEEK_SET);
	op_batch("OVER", 1);
	op_tell();
	op_size();
}

static void body_large_writes(void)
{
	op_write(10000, 1);
	op_write(3000, 2);
	op_seek(0, SEEK_SET);
	op_read(200);		  /* unbuffered reads cost one call per byte */
	op_seek(20000, SEEK_SET); /* a hole */
	op_write(1, 3);
	op_size();
}

static void body_cross_threshold(void)
{
	op_write(600, 1);
	op_write(600, 2); /* crosses 1000: rollover */
	op_write(600, 3);
	op_seek(-100, SEEK_END);
	op_read(200);
	op_size();
}

static void body_explicit_rollover(void)
{
	op_write(700, 1);
	op_rollover();
	op_tell();
	op_write(300, 2);
	op_fileno();
	op_seek(0, SEEK_SET);
	op_read(150);
}

static void body_truncate(void)
{
	op_write(800, 1);
	op_truncate(300);
	op_truncate(1500); /* past the threshold: rolls */
	op_truncate(100);
	op_write(50, 2);
	op_truncate(0);
	op_write(10, 3);
	op_size();
}

/* Past 256 KiB the image grows by segments, and segments of 1 MiB and
 * more are mapped ahead of the writes into them (lib/spool.c,
 * map_ahead(): mincore and madvise, hints whose failure must change
 * nothing). Then a cut that drops segments, and growth again. */
static void body_segments(void)
{
	for (unsigned i = 1; i <= 5; i++)
		op_write((1 << 20) + 4097, i);
	op_seek(300000, SEEK_SET);
	op_read(3000);
	op_truncate(2 << 20);
	op_seek(0, SEEK_END);
	op_write(1 << 20, 6);
	op_size();
}

static void body_reads(void)
{
	op_read(100);
	op_seek(50, SEEK_CUR);
	op_read(5000); /* to the end */
	op_seek(-10, SEEK_END);
	op_read(10);
	op_seek(0, SEEK_SET);
	op_read(3000);
}

/* On disk with a threshold of 512 KiB: the first refill swaps in the
 * 64 KiB stdio buffer (lib/spool.c, read_bigger()), so its allocation
 * and its read are failure points too. */
static void body_big_buffer_reads(void)
{
	op_rollover();
	op_read(100);
	op_seek(20000, SEEK_SET);
	op_read(40000); /* across the first 64 KiB refill */
	op_seek(-10, SEEK_END);
	op_read(10);
	op_seek(0, SEEK_SET);
	op_read(65536);
}

/* On disk with a threshold of 512 KiB: fflush() of a full 8 KiB buffer
 * swaps in the 64 KiB one (lib/spool.c, write_bigger()); its allocation
 * is a failure point, which must cost nothing but the swap. */
static void body_big_buffer_writes(void)
{
	static const char line[] = "sixty-four bytes, a whole number of "
				   "them fills 8 KiB exactly...\n";

	ck_assert_uint_eq(sizeof(line) - 1, 64);
	op_rollover();
	op_batch(line, 8192 / 64); /* exactly full, flushed by fflush */
	op_batch(line, 100);
	op_tell();
	op_seek(0, SEEK_SET);
	op_read(20000);
}

static void body_append(void)
{
	op_write(500, 1);
	op_seek(0, SEEK_SET);
	op_read(100);
	op_write(500, 2); /* at the end, crossing the threshold */
	op_tell();
	op_seek(0, SEEK_SET);
	op_read(150);
}

/* fclose with buffered bytes and the fault still armed: it reports the
 * failure with EOF or succeeds, and frees everything either way. */
static void body_close(void)
{
	long before;
	int rc, err;

	op_batch("kept\n", 150); /* 750 bytes, in memory */
	ck_assert_int_ge(fputs("pending bytes that fclose must flush\n", R.fp),
			 0);
	ck_assert_int_ge(fprintf(R.fp, "%0400d\n", 7), 0); /* crosses */
	before = F.calls;
	errno = 0;
	rc = fclose(R.fp);
	err = errno;
	R.fp = NULL;
	if (rc != 0)
		expect_fault(before, err, "fclose");
}

/* Each way out, in memory and on disk: the second persist replaces the
 * first, which the writes after it must not change. */
static void body_contents_out(void)
{
	op_write(700, 1);
	op_getvalue();
	op_send();
	op_persist(0);
	op_write(600, 2); /* crosses 1000: rollover */
	op_getvalue();
	op_send();
	op_persist(SPOOL_REPLACE | SPOOL_SYNC);
	op_write(100, 3);
	op_truncate(200);
	op_size();
}

/* A view stays readable and unchanged across growth and rollover. */
static void body_view(void)
{
	op_write(700, 1);
	op_view();
	op_write(600, 2); /* crosses 1000: the image goes, the view stays */
	op_view_check();
	op_unview();
	op_view(); /* a mapping now */
	op_write(300, 3);
	op_view_check();
	op_unview();
}

/* A view of an image in segments joins them first; it stays as later
 * writes add segments again. */
static void body_view_segments(void)
{
	op_write(300000, 1);
	op_view();
	op_write(300000, 2);
	op_view_check();
	op_unview();
}

/* Servers (issue 15): a budget rollover, a secret spool's growth, cut
 * and rollover, and spool_stat() along the way. */
static void body_server(void)
{
	op_write(600, 1);
	op_stat();
	op_write(900, 2); /* past the budget (1000), under the threshold */
	op_stat();
	op_truncate(100);
	op_write(300, 3);
	op_stat();
}

static void body_secret(void)
{
	op_write(600, 1);
	op_write(5000, 2); /* the image moves, wiped */
	op_truncate(300);  /* the head shrinks: a new block */
	op_stat();
	op_rollover();
	op_write(700, 3);
	op_truncate(200);
	op_stat();
}

struct scenario {
	const char *name;
	const char *mode;
	size_t threshold;
	int unbuffered;
	size_t data_len; /* initial data, from pattern(.., 9) */
	off_t limit;
	int use_tmpdir; /* dir from $TMPDIR instead of opts.dir */
	void (*body)(void);
	unsigned flags; /* struct spool_options.flags */
	size_t budget;	/* spool_set_budget() for the run; 0: none */
};

static const struct scenario scenarios[] = {
    {"small-writes", "w+", 1000, 0, 0, 0, 0, body_small_writes, 0, 0},
    {"large-writes", "w+", 4096, 1, 0, 0, 0, body_large_writes, 0, 0},
    {"cross", "w+", 1000, 1, 0, 0, 0, body_cross_threshold, 0, 0},
    {"rollover", "w+", 5000, 1, 0, 0, 0, body_explicit_rollover, 0, 0},
    {"truncate", "w+", 1000, 1, 0, 0, 0, body_truncate, 0, 0},
    {"reads-on-disk", "r+", 1000, 0, 3000, 0, 0, body_reads, 0, 0},
    {"reads-in-memory", "r", 8000, 0, 3000, 0, 0, body_reads, 0, 0},
    {"reads-big-buffer", "r+", 1 << 19, 0, 60000, 0, 0, body_big_buffer_reads,
     0, 0},
    {"writes-big-buffer", "w+", 1 << 19, 0, 0, 0, 0, body_big_buffer_writes, 0,
     0},
    {"append", "a+", 1000, 1, 300, 0, 0, body_append, 0, 0},
    {"limit", "w+", 1000, 1, 0, 1 << 20, 0, body_cross_threshold, 0, 0},
    {"tmpdir", "w+", 100, 1, 0, 0, 1, body_cross_threshold, 0, 0},
    {"close", "w+", 1000, 0, 0, 0, 0, body_close, 0, 0},
    {"segments", "w+", 8 << 20, 1, 0, 0, 0, body_segments, 0, 0},
    {"contents-out", "w+", 1000, 1, 0, 0, 0, body_contents_out, 0, 0},
    {"contents-out-append", "a+", 1000, 1, 300, 0, 0, body_contents_out, 0, 0},
    {"view", "w+", 1000, 1, 0, 0, 0, body_view, 0, 0},
    {"view-segments", "w+", 1 << 20, 1, 0, 0, 0, body_view_segments, 0, 0},
    {"budget", "w+", 1 << 20, 1, 0, 0, 0, body_server, 0, 1000},
    {"secret", "w+", 1 << 20, 1, 0, 0, 0, body_secret, SPOOL_SECRET, 0},
    {"secret-data", "r+", 1 << 20, 1, 3000, 0, 0, body_secret, SPOOL_SECRET, 0},
};
#define NSCENARIOS (sizeof(scenarios) / sizeof(scenarios[0]))

static int open_run(const struct scenario *sc)
{
	struct spool_options o = {
	    .threshold = sc->threshold, .limit = sc->limit, .flags = sc->flags};
	long before = F.calls;

	if (!sc->use_tmpdir)
		o.dir = R.dir;
	if (sc->data_len > 0) {
		o.data = pattern(sc->data_len, 9);
		o.data_len = sc->data_len;
		memcpy(R.model, o.data, sc->data_len);
		R.mlen = (off_t)sc->data_len;
	}
	R.append = sc->mode[0] == 'a';
	R.pos = strcmp(sc->mode, "a") == 0 ? R.mlen : 0;
	errno = 0;
	R.fp = spool_fopen_opts(&o, sc->mode);
	if (R.fp == NULL) {
		expect_fault(before, errno, "spool_fopen_opts");
		return -1;
	}
	if (sc->unbuffered)
		ck_assert_int_eq(setvbuf(R.fp, NULL, _IONBF, 0), 0);
	return 0;
}

/* The stream still reads what the model says: READ_BACK bytes from
 * `at`. Bounded, as an unbuffered spool on disk reads a byte per
 * read(2): a whole 6 MiB spool took seconds per run. */
#define READ_BACK ((off_t)256)

static void read_back(off_t at)
{
	static unsigned char buf[READ_BACK];
	size_t want =
	    (size_t)(R.mlen - at < READ_BACK ? R.mlen - at : READ_BACK);

	ck_assert_int_eq(fseeko(R.fp, at, SEEK_SET), 0);
	ck_assert_uint_eq(fread(buf, 1, want, R.fp), want);
	ck_assert_msg(memcmp(buf, R.model + at, want) == 0,
		      "%s: read back at %lld differs from the model",
		      R.scenario, (long long)at);
}

/* With the fault gone: the contents equal the model (spool_getvalue,
 * whole; the stream, at both ends), and the spool still takes writes
 * (a failed rollover is retried) and closes. */
static void verify_and_continue(void)
{
	const char tail[] = "written after the fault";
	unsigned char *got;
	size_t len;

	F.armed = 0;
	op_unview();
	if (R.fp == NULL)
		return;
	clearerr(R.fp);
	got = (unsigned char *)spool_getvalue(R.fp, &len);
	ck_assert_ptr_nonnull(got);
	ck_assert_msg(len == (size_t)R.mlen, "%s: size %zu, model %lld",
		      R.scenario, len, (long long)R.mlen);
	ck_assert_msg(memcmp(got, R.model, len) == 0,
		      "%s: contents differ from the model (fault at call %ld, "
		      "%s)",
		      R.scenario, F.fail_at, F.hit_name ? F.hit_name : "none");
	free(got);
	read_back(0);
	read_back(R.mlen > READ_BACK ? R.mlen - READ_BACK : 0);
	if (strcmp(R.scenario, "reads-in-memory") != 0) {
		R.pos = R.mlen;
		ck_assert_uint_eq(fwrite(tail, 1, sizeof(tail), R.fp),
				  sizeof(tail));
		ck_assert_int_eq(fflush(R.fp), 0);
		model_put(tail, sizeof(tail));
		ck_assert_int_eq(spool_size(R.fp), R.mlen);
	}
	ck_assert_int_eq(fclose(R.fp), 0);
	R.fp = NULL;
	check_named(); /* the writes since did not change it */
	if (R.named != NULL) {
		char *path;

		path = named_path();
		ck_assert_int_eq(unlink(path), 0);
		free(path);
		free(R.named);
		R.named = NULL;
	}
}

static void run_once(const struct scenario *sc, long fail_at, int err)
{
	static unsigned char model_bytes[MAXM];
	char *dir = R.dir, *saved = NULL;

	memset(&R, 0, sizeof(R));
	R.model = model_bytes;
	R.dir = dir;
	R.scenario = sc->name;
	if (sc->use_tmpdir) {
		saved = tu_save_tmpdir();
		ck_assert_int_eq(setenv("TMPDIR", dir, 1), 0);
	}
	spool_set_budget(sc->budget);
	F = (struct spool__faults){.armed = 1, .fail_at = fail_at, .err = err};
	if (open_run(sc) == 0) {
		sc->body();
		verify_and_continue();
	}
	F.armed = 0;
	spool_set_budget(0);
	ck_assert_uint_eq(spool_budget_used(), 0);
	if (sc->use_tmpdir)
		tu_restore_tmpdir(saved);
	if (fail_at > 0)
		ck_assert_msg(F.hit != 0,
			      "%s: call %ld was never made (%ld calls)",
			      sc->name, fail_at, F.calls);
	ck_assert_int_le(R.failures, 1);
	ck_assert_int_eq(tu_count_entries(dir), 0);
}

/* errno for the injected failure: 0 is each call's realistic default
 * (ENOMEM, EMFILE, ENOSPC, EIO, ...); EOPNOTSUPP on open() drives the
 * mkostemp+unlink fallback; EINTR must be retried where it can occur. */
static const int fault_errnos[] = {0, EOPNOTSUPP, EINTR};

START_TEST(test_inject_every_call)
{
	const struct scenario *sc = &scenarios[_i / 3];
	int err = fault_errnos[_i % 3];
	const char *only = getenv("SPOOL_INJECT_ONLY");
	long n;

	/* For debugging one scenario; never set in CI. */
	if (only != NULL && strcmp(only, sc->name) != 0) {
		printf("%s: skipped: SPOOL_INJECT_ONLY=%s\n", sc->name, only);
		return;
	}
	R.dir = tu_mkdtemp();
	/* Twice: the first spool of a process also allocates the registry,
	 * a call that later runs do not make. */
	run_once(sc, 0, 0);
	run_once(sc, 0, 0);
	n = F.calls;
	ck_assert_int_gt(n, 0);
	for (long k = 1; k <= n; k++)
		run_once(sc, k, err);
	printf("%s (errno %d): %ld failure points\n", sc->name, err, n);
	tu_rmdir(R.dir);
	R.dir = NULL;
}
END_TEST

int main(void)
{
	Suite *s = suite_create("inject");
	TCase *tc = tcase_create("every call");

	/* A hang guard, not a timing: a scenario takes seconds alone, but
	 * minutes under ASan on a loaded two-core machine. */
	tcase_set_timeout(tc, 600);
	tcase_add_loop_test(tc, test_inject_every_call, 0, NSCENARIOS * 3);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
