/* SPDX-License-Identifier: MIT */
/*
 * check_stdio.c - a spool gives the same stdio results as a regular file.
 *
 * Each scenario runs twice: first on a regular file, a nameless temp
 * file (the oracle: glibc stdio over a real file), then on a spool
 * opened with the same mode and initial data. Every observable result
 * (return values, positions, EOF and error flags, errno after a failure,
 * contents) is recorded, and the two records must agree entry by entry.
 * On top of that each scenario asserts what the peer suites
 * (shared/reference/peer-tests.md, case IDs in the comments) or POSIX
 * state, so a wrong oracle would show as well.
 *
 * Every test is a loop test over three spool thresholds: SIZE_MAX (the
 * contents stay in memory), 0 (on disk from the first byte) and a small
 * one picked per scenario so that the rollover happens in its middle:
 * from a write crossing it, or from spool_rollover() where the scenario
 * never grows the contents. The spool run also asserts where the
 * contents are before and after that point.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio_ext.h>
#include <sys/stat.h>

#include "testutil.h"

enum variant { V_MEM, V_DISK, V_MID, V_COUNT };

#define LOG_MAX 16384

/* One run of a scenario, on the regular file or on the spool. */
struct run {
	FILE *fp;
	const char *mode;
	int spool; /* 0: the reference regular file */
	enum variant v;
	size_t mid;	 /* the V_MID threshold of this scenario */
	const void *arg; /* scenario parameters */
	size_t n;
	long long val[LOG_MAX];
	int line[LOG_MAX];
};

typedef void scenario(struct run *r);

static long long rec_at(struct run *r, long long v, int line)
{
	ck_assert_msg(r->n < LOG_MAX, "record full at line %d", line);
	r->val[r->n] = v;
	r->line[r->n++] = line;
	return v;
}

/*
 * REC records a result and yields it. CALLE also records the errno the
 * call left; only for calls that fail, since errno after a success is
 * unspecified and does differ between a file and a cookie stream (glibc
 * probes a file with isatty(), which leaves ENOTTY).
 */
#define REC(r, x) rec_at((r), (long long)(x), __LINE__)
#define CALLE(r, x)                                                            \
	({                                                                     \
		long long v_;                                                  \
		errno = 0;                                                     \
		v_ = (long long)(x);                                           \
		rec_at((r), v_, __LINE__);                                     \
		rec_at((r), errno, __LINE__);                                  \
		v_;                                                            \
	})
#define FLAGS(r, fp)                                                           \
	do {                                                                   \
		REC((r), feof(fp) != 0);                                       \
		REC((r), ferror(fp) != 0);                                     \
	} while (0)

static long long hash(const unsigned char *p, size_t n)
{
	uint64_t h = UINT64_C(14695981039346656037);

	while (n-- > 0)
		h = (h ^ *p++) * UINT64_C(1099511628211);
	return (long long)h;
}

static size_t threshold_of(enum variant v, size_t mid)
{
	return v == V_MEM ? SIZE_MAX : v == V_DISK ? 0 : mid;
}

static int readable(const char *mode)
{
	return mode[0] == 'r' || strchr(mode, '+') != NULL;
}

/*
 * A regular file holding `len` bytes of `data`, opened with `mode`. It
 * never has a name: an O_TMPFILE file in $TMPDIR (or /tmp), reopened
 * with the wanted mode through /proc, so even a test that fails half
 * way leaves nothing behind.
 */
static FILE *open_ref(const char *mode, const void *data, size_t len)
{
	const char *dir = getenv("TMPDIR");
	char path[64];
	FILE *fp;
	int fd;

	if (dir == NULL || *dir == '\0')
		dir = "/tmp";
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR)) {
		/* no O_TMPFILE here: a name that lives for one call */
		char *name;

		ck_assert_int_ne(asprintf(&name, "%s/spooltest-XXXXXX", dir),
				 -1);
		fd = mkostemp(name, O_CLOEXEC);
		if (fd >= 0)
			ck_assert_int_eq(unlink(name), 0);
		free(name);
	}
	ck_assert_msg(fd >= 0, "temp file in %s: %s", dir, strerror(errno));
	if (len > 0)
		ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	fp = fopen(path, mode);
	ck_assert_ptr_nonnull(fp);
	ck_assert_int_eq(close(fd), 0);
	return fp;
}

static FILE *open_spool(size_t threshold, const char *mode, const void *data,
			size_t len)
{
	struct spool_options o = {.threshold = threshold};
	FILE *fp;

	if (len > 0) {
		o.data = data;
		o.data_len = len;
	}
	fp = spool_fopen_opts(&o, mode);
	ck_assert_ptr_nonnull(fp);
	return fp;
}

/* Another stream of the same kind as r's (spool or regular file). */
static FILE *open_like(const struct run *r, size_t mid, const char *mode,
		       const void *data, size_t len)
{
	if (r->spool)
		return open_spool(threshold_of(r->v, mid), mode, data, len);
	return open_ref(mode, data, len);
}

/* On the spool run: the contents are in memory for V_MEM, on disk for
 * V_DISK, and where `mid` says for V_MID. */
static void backend_at(const struct run *r, FILE *fp, int mid, int line)
{
	int want;

	if (!r->spool)
		return;
	want = r->v == V_MEM ? 0 : r->v == V_DISK ? 1 : mid;
	ck_assert_msg(spool_is_rolled(fp) == want,
		      "line %d: spool_is_rolled is %d, expected %d", line,
		      spool_is_rolled(fp), want);
}
#define BACKEND(r, mid) backend_at((r), (r)->fp, (mid), __LINE__)

/* V_MID scenarios that never grow their contents roll over here. */
static void roll_mid(const struct run *r)
{
	if (!r->spool || r->v != V_MID)
		return;
	ck_assert_int_eq(spool_is_rolled(r->fp), 0);
	ck_assert_int_eq(spool_rollover(r->fp), 0);
	ck_assert_int_eq(spool_is_rolled(r->fp), 1);
}

/* The descriptor behind the stream. On a spool this rolls over, so a
 * scenario asks for it last, or where the spool is on disk anyway. */
static int fd_of(const struct run *r, FILE *fp)
{
	int fd = r->spool ? spool_fileno(fp) : fileno(fp);

	ck_assert_int_ge(fd, 0);
	return fd;
}

/* A descriptor that can read the contents of a write-only stream: the
 * spool's own (it is O_RDWR), or the file's reopened for reading
 * through /proc (the caller closes that one). */
static int read_fd(const struct run *r, FILE *fp)
{
	char path[64];
	int fd;

	if (r->spool)
		return fd_of(r, fp);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fileno(fp));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	return fd;
}

/* Cut or zero-extend the contents: spool_truncate(), or on the file
 * what that is documented to do, a full fflush() and ftruncate(). */
static int resize(const struct run *r, off_t len)
{
	if (r->spool)
		return spool_truncate(r->fp, len);
	if (fflush(r->fp) == EOF)
		return -1;
	return ftruncate(fileno(r->fp), len);
}

/* The whole contents, recorded as length and hash; the caller frees.
 * Readable streams are read through stdio from offset 0 (which leaves
 * the position at the end), write-only ones through the descriptor. */
static unsigned char *contents_at(struct run *r, FILE *fp, const char *mode,
				  size_t *len, int line)
{
	unsigned char *buf;
	struct stat st;
	int fd;

	if (readable(mode)) {
		buf = tu_slurp(fp, len);
	} else {
		ck_assert_int_eq(fflush(fp), 0);
		fd = read_fd(r, fp);
		ck_assert_int_eq(fstat(fd, &st), 0);
		*len = (size_t)st.st_size;
		buf = malloc(*len + 1);
		ck_assert_ptr_nonnull(buf);
		ck_assert_int_eq(pread(fd, buf, *len, 0), (ssize_t)*len);
		if (!r->spool)
			ck_assert_int_eq(close(fd), 0);
	}
	rec_at(r, (long long)*len, line);
	rec_at(r, hash(buf, *len), line);
	return buf;
}

static void expect_at(struct run *r, FILE *fp, const char *mode,
		      const void *want, size_t want_len, int line)
{
	size_t len;
	unsigned char *buf = contents_at(r, fp, mode, &len, line);

	ck_assert_msg(len == want_len && memcmp(buf, want, len) == 0,
		      "line %d: contents differ (%zu bytes, expected %zu)",
		      line, len, want_len);
	free(buf);
}
#define EXPECT(r, s, n) expect_at((r), (r)->fp, (r)->mode, (s), (n), __LINE__)
#define EXPECT_STR(r, s) EXPECT((r), (s), sizeof(s) - 1)

static void run_one(struct run *r, int spool, int v, size_t mid,
		    const char *mode, const void *data, size_t len,
		    scenario *fn, const void *arg)
{
	r->spool = spool;
	r->mode = mode;
	r->v = (enum variant)v;
	r->mid = mid;
	r->arg = arg;
	r->n = 0;
	r->fp = spool ? open_spool(threshold_of(r->v, mid), mode, data, len)
		      : open_ref(mode, data, len);
	fn(r);
	ck_assert_int_eq(fclose(r->fp), 0);
}

/* Run fn on a regular file and on a spool opened alike, and compare. */
static void run_pair(int v, size_t mid, const char *mode, const void *data,
		     size_t len, scenario *fn, const void *arg)
{
	static struct run ref, sp;
	size_t i;

	run_one(&ref, 0, v, mid, mode, data, len, fn, arg);
	run_one(&sp, 1, v, mid, mode, data, len, fn, arg);
	for (i = 0; i < ref.n && i < sp.n; i++)
		ck_assert_msg(
		    ref.line[i] == sp.line[i] && ref.val[i] == sp.val[i],
		    "mode %s: at line %d the file gave %lld, "
		    "the spool %lld (line %d)",
		    mode, ref.line[i], ref.val[i], sp.val[i], sp.line[i]);
	ck_assert_uint_eq(ref.n, sp.n);
}

static const char letters[] = "abcdefghijklmnopqrstuvwxyz";

/* Write n bytes of s and record the count. */
static size_t put(struct run *r, const void *s, size_t n)
{
	return (size_t)REC(r, fwrite(s, 1, n, r->fp));
}

/* ---- C-G02: the read offset after getc, ungetc and a clearing call */

#define RO_LEN (2 * BUFSIZ)
static unsigned char ro_data[RO_LEN];

enum { RO_FSEEK, RO_FSEEKO, RO_FSEEKO64, RO_SETPOS_BEFORE, RO_SETPOS_AFTER };

struct ro_case {
	size_t n;   /* bytes read with getc */
	int k;	    /* ungetc calls */
	int backup; /* push back the bytes just read, or other ones */
	int how;    /* RO_* */
	int d;	    /* the relative seek of the fseek variants */
};

static int ro_clear(FILE *fp, const struct ro_case *c, fpos_t *before,
		    fpos_t *after)
{
	switch (c->how) {
	case RO_FSEEK:
		return fseek(fp, c->d, SEEK_CUR);
	case RO_FSEEKO:
		return fseeko(fp, c->d, SEEK_CUR);
	case RO_FSEEKO64:
		return fseeko64(fp, c->d, SEEK_CUR);
	case RO_SETPOS_BEFORE:
		return fsetpos(fp, before);
	default:
		return fsetpos(fp, after);
	}
}

static long long ro_target(const struct ro_case *c)
{
	if (c->how == RO_SETPOS_BEFORE)
		return (long long)c->n;
	if (c->how == RO_SETPOS_AFTER)
		return (long long)c->n - c->k;
	return (long long)c->n - c->k + c->d;
}

static void scen_read_offset(struct run *r)
{
	const struct ro_case *c = r->arg;
	long long want = ro_target(c), i;
	FILE *fp = r->fp;
	fpos_t before, after;
	int j, ch;

	for (i = 0; i < (long long)c->n; i++) /* unlocked: valgrind speed */
		if (getc_unlocked(fp) != ro_data[i])
			ck_abort_msg("getc at %lld", i);
	REC(r, fgetpos(fp, &before));
	for (j = 0; j < c->k; j++) {
		ch = c->backup ? ro_data[c->n - 1 - (size_t)j] : 'A' + j;
		ck_assert_int_eq(REC(r, ungetc(ch, fp)), ch);
	}
	REC(r, fgetpos(fp, &after));
	roll_mid(r);
	if (want < 0) {
		ck_assert_int_eq(CALLE(r, ro_clear(fp, c, &before, &after)),
				 -1);
		ck_assert_int_eq(errno, EINVAL);
		REC(r, ftello(fp));
		return;
	}
	ck_assert_int_eq(REC(r, ro_clear(fp, c, &before, &after)), 0);
	ck_assert_int_eq(REC(r, ftell(fp)), want);
	ck_assert_int_eq(ftello(fp), want);
	ck_assert_int_eq(ftello64(fp), want);
	for (i = want; i < want + 3; i++)
		ck_assert_int_eq(REC(r, getc(fp)),
				 i < RO_LEN ? ro_data[i] : EOF);
}

/* Every pushback and clearing variant after n bytes were read. */
static void read_offset_after(int v, size_t n)
{
	struct ro_case c = {.n = n};

	for (c.k = 0; c.k <= 2 && (size_t)c.k <= n; c.k++)
		for (c.backup = 0; c.backup <= (c.k > 0); c.backup++)
			for (c.how = RO_FSEEK; c.how <= RO_SETPOS_AFTER;
			     c.how++)
				for (c.d = -1; c.d <= 1; c.d++)
					if (c.how <= RO_FSEEKO64 || c.d == 0)
						run_pair(v, RO_LEN, "r",
							 ro_data, RO_LEN,
							 scen_read_offset, &c);
}

/* C-G02: N over {0, blksize, BUFSIZ, 2*BUFSIZ} and -2..+3 around them. */
START_TEST(test_stdio_read_offset_after_ungetc)
{
	static const long long base[] = {0, 4096, BUFSIZ, RO_LEN};
	size_t b, i;
	long long n;

	for (i = 0; i < RO_LEN; i++)
		ro_data[i] = (unsigned char)(i % 256);
	for (b = 0; b < sizeof(base) / sizeof(base[0]); b++)
		for (n = base[b] - 2; n <= base[b] + 3; n++)
			if (n >= 0 && n <= RO_LEN)
				read_offset_after(_i, (size_t)n);
}
END_TEST

/* ---- C-G03: fscanf %lf on "+.e" fails and leaves 'e' unread ---- */

static void scen_scanf_lf(struct run *r)
{
	double d = 42.0;

	BACKEND(r, 0);
	ck_assert_int_eq(REC(r, fscanf(r->fp, "%lf", &d)), 0);
	FLAGS(r, r->fp);
	roll_mid(r);
	ck_assert_int_eq(REC(r, fgetc(r->fp)), 'e');
	ck_assert_int_eq(REC(r, fgetc(r->fp)), EOF);
	FLAGS(r, r->fp);
}

START_TEST(test_stdio_fscanf_lf_matching_failure)
{
	run_pair(_i, 3, "r", "+.e", 3, scen_scanf_lf, NULL);
}
END_TEST

/* ---- C-M01: musl's ungetc test, on "w+" ---- */

static void scen_musl_ungetc(struct run *r)
{
	FILE *fp = r->fp;
	char a[100], b[100];

	ck_assert_int_eq(REC(r, fprintf(fp, "hello, world\n")), 13);
	ck_assert_int_eq(REC(r, fseek(fp, 0, SEEK_SET)), 0);
	ck_assert_int_eq(REC(r, feof(fp)), 0);
	BACKEND(r, 0);
	ck_assert_int_eq(REC(r, fgetc(fp)), 'h');
	ck_assert_int_eq(REC(r, ftell(fp)), 1);
	ck_assert_int_eq(REC(r, ungetc('x', fp)), 'x');
	ck_assert_int_eq(REC(r, ftell(fp)), 0);
	roll_mid(r);
	ck_assert_int_eq(REC(r, fscanf(fp, "%[h]", a)), 0);
	ck_assert_int_eq(REC(r, ftell(fp)), 0);
	ck_assert_int_eq(REC(r, fgetc(fp)), 'x');
	ck_assert_int_eq(REC(r, ftell(fp)), 1);
	ck_assert_int_eq(REC(r, fseek(fp, 0, SEEK_SET)), 0);
	ck_assert_int_eq(REC(r, ungetc('x', fp)), 'x');
	ck_assert_int_eq(REC(r, fread(b, 1, sizeof(b), fp)), 14);
	ck_assert_int_eq(memcmp(b, "xhello, world\n", 14), 0);
	ck_assert_int_eq(REC(r, fseek(fp, 0, SEEK_SET)), 0);
	ck_assert_int_eq(REC(r, fscanf(fp, "%[x]", a)), 0);
	ck_assert_int_eq(REC(r, ungetc('x', fp)), 'x');
	ck_assert_int_eq(REC(r, fgetc(fp)), 'x');
	ck_assert_int_eq(REC(r, fgetc(fp)), 'h');
	BACKEND(r, 1);
}

START_TEST(test_stdio_ungetc_musl)
{
	run_pair(_i, 64, "w+", NULL, 0, scen_musl_ungetc, NULL);
}
END_TEST

/* ---- C-U01: fflush on a reading stream keeps the position ---- */

static void scen_fflush_reading(struct run *r)
{
	FILE *fp = r->fp;
	char buf[5];

	BACKEND(r, 0);
	ck_assert_int_eq(REC(r, fread(buf, 1, 5, fp)), 5);
	ck_assert_int_eq(REC(r, fflush(fp)), 0);
	ck_assert_int_eq(REC(r, fseeko(fp, 0, SEEK_CUR)), 0);
	ck_assert_int_eq(REC(r, ftello(fp)), 5);
	if (r->v == V_DISK) /* the descriptor is at the logical position */
		ck_assert_int_eq(REC(r, lseek(fd_of(r, fp), 0, SEEK_CUR)), 5);
	ck_assert_int_eq(REC(r, fgetc(fp)), '6');
	roll_mid(r);
	ck_assert_int_eq(REC(r, fflush(fp)), 0);
	ck_assert_int_eq(REC(r, fseeko(fp, 0, SEEK_CUR)), 0);
	ck_assert_int_eq(REC(r, ftello(fp)), 6);
	if (r->v != V_MEM)
		ck_assert_int_eq(REC(r, lseek(fd_of(r, fp), 0, SEEK_CUR)), 6);
	ck_assert_int_eq(REC(r, fgetc(fp)), '7');
	BACKEND(r, 1);
}

START_TEST(test_stdio_fflush_reading_keeps_position)
{
	run_pair(_i, 17, "r", "1234567890ABCDEFG", 17, scen_fflush_reading,
		 NULL);
}
END_TEST

/* ---- C-U02: fflush after ungetc on a reading stream ---- */

static void scen_fflush_ungetc_same(struct run *r)
{
	FILE *fp = r->fp;

	ck_assert_int_eq(REC(r, fgetc(fp)), '#');
	ck_assert_int_eq(REC(r, fgetc(fp)), '!');
	ck_assert_int_eq(REC(r, ungetc('!', fp)), '!');
	roll_mid(r);
	ck_assert_int_eq(REC(r, fflush(fp)), 0);
	ck_assert_int_eq(REC(r, fgetc(fp)), '!');
	ck_assert_int_eq(REC(r, fgetc(fp)), '/');
	BACKEND(r, 1);
}

/* gnulib expects '!' after the flush; glibc drops the pushback and goes
 * back to offset 2 on a file. Assert only "the '@' is gone". */
static void scen_fflush_ungetc_other(struct run *r)
{
	FILE *fp = r->fp;

	ck_assert_int_eq(REC(r, fgetc(fp)), '#');
	ck_assert_int_eq(REC(r, fgetc(fp)), '!');
	ck_assert_int_eq(REC(r, ungetc('@', fp)), '@');
	roll_mid(r);
	ck_assert_int_eq(REC(r, fflush(fp)), 0);
	ck_assert_int_ne(REC(r, fgetc(fp)), '@');
	REC(r, fgetc(fp));
	REC(r, ftello(fp));
}

START_TEST(test_stdio_fflush_after_ungetc)
{
	run_pair(_i, 9, "r", "#!/bin/sh", 9, scen_fflush_ungetc_same, NULL);
	run_pair(_i, 9, "r", "#!/bin/sh", 9, scen_fflush_ungetc_other, NULL);
}
END_TEST

/* ---- C-U03: ftello after EOF, then a write straight after it ---- */

static void scen_ftello_eof_write(struct run *r)
{
	FILE *fp = r->fp;

	BACKEND(r, 0);
	ck_assert_int_eq(REC(r, fseek(fp, -1, SEEK_END)), 0);
	ck_assert_int_eq(REC(r, getc(fp)), 'h');
	ck_assert_int_eq(REC(r, getc(fp)), EOF);
	ck_assert_int_eq(REC(r, ftello(fp)), 8);
	ck_assert_int_eq(REC(r, ftello(fp)), 8);
	ck_assert_int_eq(REC(r, putc('!', fp)), '!');
	ck_assert_int_eq(REC(r, ftello(fp)), 9);
	BACKEND(r, 0); /* "!" is still in the stdio buffer */
	ck_assert_int_eq(REC(r, fflush(fp)), 0);
	BACKEND(r, 1); /* 9 bytes > the V_MID threshold of 8 */
	EXPECT_STR(r, "foogarsh!");
}

START_TEST(test_stdio_ftello_at_eof_then_write)
{
	run_pair(_i, 8, "r+", "foogarsh", 8, scen_ftello_eof_write, NULL);
}
END_TEST

/* ---- C-U04: __fpurge drops pending output and read-ahead ---- */

static void scen_fpurge_write(struct run *r)
{
	FILE *fp = r->fp;

	ck_assert_int_eq(REC(r, fseek(fp, 3, SEEK_CUR)), 0);
	ck_assert_int_eq(put(r, "g", 1), 1);
	ck_assert_int_eq(REC(r, fflush(fp)), 0);
	roll_mid(r);
	ck_assert_int_eq(put(r, "bz", 2), 2);
	__fpurge(fp);
	ck_assert_int_eq(REC(r, ftell(fp)), 4);
	EXPECT_STR(r, "foogarsh");
}

static void scen_fpurge_read(struct run *r)
{
	FILE *fp = r->fp;
	char buf[8] = "";

	ck_assert_int_eq(REC(r, fread(buf, 1, 7, fp)), 7);
	ck_assert_str_eq(buf, "foogars");
	ck_assert_int_eq(REC(r, ftell(fp)), 7);
	roll_mid(r);
	__fpurge(fp);
	ck_assert_int_eq(REC(r, ftell(fp)), 8);
	ck_assert_int_eq(REC(r, getc(fp)), EOF);
	FLAGS(r, fp);
}

static void scen_fpurge_eof_write(struct run *r)
{
	FILE *fp = r->fp;

	ck_assert_int_eq(REC(r, fseek(fp, -1, SEEK_END)), 0);
	ck_assert_int_eq(REC(r, getc(fp)), 'h');
	ck_assert_int_eq(REC(r, getc(fp)), EOF);
	ck_assert_int_eq(REC(r, ftell(fp)), 8);
	__fpurge(fp);
	ck_assert_int_eq(REC(r, ftell(fp)), 8);
	BACKEND(r, 0);
	ck_assert_int_eq(REC(r, putc('!', fp)), '!');
	ck_assert_int_eq(REC(r, ftell(fp)), 9);
	ck_assert_int_eq(REC(r, fflush(fp)), 0);
	BACKEND(r, 1);
	EXPECT_STR(r, "foogarsh!");
}

START_TEST(test_stdio_fpurge)
{
	run_pair(_i, 8, "r+", "foobarsh", 8, scen_fpurge_write, NULL);
	run_pair(_i, 8, "r", "foogarsh", 8, scen_fpurge_read, NULL);
	run_pair(_i, 8, "r+", "foogarsh", 8, scen_fpurge_eof_write, NULL);
}
END_TEST

/* ---- C-U05: switching between reading and writing ---- */

static void scen_freading_pass1(struct run *r)
{
	FILE *fp = r->fp;

	ck_assert_int_eq(REC(r, fgetc(fp)), 'f');
	ck_assert_int_eq(REC(r, fseek(fp, 2, SEEK_CUR)), 0);
	ck_assert_int_eq(REC(r, fgetc(fp)), 'b');
	roll_mid(r);
	ck_assert_int_eq(REC(r, fseek(fp, 0, SEEK_CUR)), 0);
	ck_assert_int_eq(REC(r, fputc('x', fp)), 'x');
	EXPECT_STR(r, "foobxrsh");
}

static void scen_freading_pass2(struct run *r)
{
	FILE *fp = r->fp;

	ck_assert_int_eq(REC(r, fgetc(fp)), 'f');
	ck_assert_int_eq(REC(r, fseek(fp, 2, SEEK_CUR)), 0);
	ck_assert_int_eq(REC(r, fgetc(fp)), 'b');
	ck_assert_int_eq(REC(r, fflush(fp)), 0);
	roll_mid(r);
	ck_assert_int_eq(REC(r, fgetc(fp)), 'x');
	ck_assert_int_eq(REC(r, fseek(fp, 0, SEEK_CUR)), 0);
	ck_assert_int_eq(REC(r, fputc('z', fp)), 'z');
	EXPECT_STR(r, "foobxzsh");
}

static void scen_freading_append(struct run *r)
{
	BACKEND(r, 0);
	ck_assert_int_eq(REC(r, fputs("bla", r->fp)) >= 0, 1);
	ck_assert_int_eq(REC(r, fflush(r->fp)), 0);
	BACKEND(r, 1);
	EXPECT_STR(r, "foobxzshbla");
}

START_TEST(test_stdio_read_write_switch)
{
	run_pair(_i, 8, "r+", "foobarsh", 8, scen_freading_pass1, NULL);
	run_pair(_i, 8, "r+", "foobxrsh", 8, scen_freading_pass2, NULL);
	run_pair(_i, 10, "a", "foobxzsh", 8, scen_freading_append, NULL);
}
END_TEST

/* ---- C-U06: getdelim and getline ---- */

/* Read one record with getdelim (delim 'n') or getline (delim '\n'). */
static ssize_t get_rec(struct run *r, char **line, size_t *len, int delim)
{
	ssize_t n = delim == '\n' ? getline(line, len, r->fp)
				  : getdelim(line, len, delim, r->fp);

	REC(r, n);
	if (n > 0) {
		ck_assert_int_eq((*line)[n], '\0');
		ck_assert_uint_gt(*len, (size_t)n);
		REC(r, hash((unsigned char *)*line, (size_t)n));
	}
	return n;
}

static void scen_getdelim(struct run *r)
{
	int delim = *(const int *)r->arg;
	char *line = NULL;
	size_t len = 0;

	ck_assert_int_eq(get_rec(r, &line, &len, delim), 2);
	ck_assert_int_eq(memcmp(line, delim == 'n' ? "an" : "a\n", 2), 0);
	free(line);
	line = NULL;
	len = (size_t)-1;
	ck_assert_int_eq(get_rec(r, &line, &len, delim), 2);
	ck_assert_int_eq(memcmp(line, delim == 'n' ? "An" : "A\n", 2), 0);
	free(line);
	line = malloc(1);
	ck_assert_ptr_nonnull(line);
	len = 1;
	ck_assert_int_eq(get_rec(r, &line, &len, delim), 3);
	ck_assert_int_eq(memcmp(line, delim == 'n' ? "bcn" : "bc\n", 3), 0);
	roll_mid(r);
	ck_assert_int_eq(get_rec(r, &line, &len, delim), 3);
	ck_assert_int_eq(memcmp(line, "d\0f", 4), 0); /* embedded NUL kept */
	ck_assert_int_eq(get_rec(r, &line, &len, delim), -1);
	FLAGS(r, r->fp);
	free(line);
}

START_TEST(test_stdio_getdelim_getline)
{
	static const int nl = '\n', en = 'n';

	run_pair(_i, 10, "r", "anAnbcnd\0f", 10, scen_getdelim, &en);
	run_pair(_i, 10, "r", "a\nA\nbc\nd\0f", 10, scen_getdelim, &nl);
}
END_TEST

/* ---- C-X07: ungetc rules ---- */

static void scen_ungetc_rules(struct run *r)
{
	FILE *fp = r->fp;

	ck_assert_int_eq(REC(r, fputs("abc", fp)) >= 0, 1);
	rewind(fp);
	BACKEND(r, 0);
	ck_assert_int_eq(REC(r, getc(fp)), 'a');
	ck_assert_int_eq(REC(r, ungetc('1', fp)), '1');
	ck_assert_int_eq(REC(r, ungetc('2', fp)), '2');
	ck_assert_int_eq(REC(r, getc(fp)), '2'); /* LIFO */
	ck_assert_int_eq(REC(r, getc(fp)), '1');
	ck_assert_int_eq(REC(r, getc(fp)), 'b');
	ck_assert_int_eq(REC(r, getc(fp)), 'c');
	ck_assert_int_eq(REC(r, getc(fp)), EOF);
	ck_assert_int_ne(feof(fp), 0);
	ck_assert_int_eq(REC(r, ungetc('z', fp)), 'z');
	ck_assert_int_eq(REC(r, feof(fp)), 0); /* ungetc clears EOF */
	ck_assert_int_eq(REC(r, getc(fp)), 'z');
	ck_assert_int_eq(REC(r, getc(fp)), EOF);
	ck_assert_int_eq(REC(r, ungetc(EOF, fp)), EOF);
	ck_assert_int_ne(REC(r, feof(fp)), 0); /* ungetc(EOF) does nothing */
	/* grow past the V_MID threshold of 8: the rest runs on disk */
	ck_assert_int_eq(REC(r, fseek(fp, 0, SEEK_END)), 0);
	ck_assert_int_eq(REC(r, fputs("defghij", fp)) >= 0, 1);
	rewind(fp);
	BACKEND(r, 1);
	ck_assert_int_eq(REC(r, getc(fp)), 'a');
	ck_assert_int_eq(REC(r, ungetc('q', fp)), 'q');
	ck_assert_int_eq(REC(r, fseek(fp, 0, SEEK_CUR)), 0);
	ck_assert_int_eq(REC(r, getc(fp)), 'a'); /* the pushback is gone */
	ck_assert_int_eq(REC(r, ungetc('1', fp)), '1');
	ck_assert_int_eq(REC(r, ungetc('2', fp)), '2');
	ck_assert_int_eq(REC(r, getc(fp)), '2');
	ck_assert_int_eq(REC(r, getc(fp)), '1');
	ck_assert_int_eq(REC(r, getc(fp)), 'b');
	EXPECT_STR(r, "abcdefghij");
}

START_TEST(test_stdio_ungetc_rules)
{
	run_pair(_i, 8, "w+", NULL, 0, scen_ungetc_rules, NULL);
}
END_TEST

/* ---- C-X09: a write straight after getc returned EOF ---- */

static void scen_write_after_eof(struct run *r)
{
	FILE *fp = r->fp;

	ck_assert_int_eq(REC(r, fputs("abc", fp)) >= 0, 1);
	rewind(fp);
	BACKEND(r, 0);
	ck_assert_int_eq(REC(r, getc(fp)), 'a');
	ck_assert_int_eq(REC(r, getc(fp)), 'b');
	ck_assert_int_eq(REC(r, getc(fp)), 'c');
	ck_assert_int_eq(REC(r, getc(fp)), EOF);
	ck_assert_int_eq(REC(r, fputc('d', fp)), 'd');
	ck_assert_int_eq(REC(r, ftello(fp)), 4);
	ck_assert_int_eq(REC(r, fflush(fp)), 0);
	BACKEND(r, 1);
	EXPECT_STR(r, "abcd");
}

START_TEST(test_stdio_write_after_eof)
{
	run_pair(_i, 3, "w+", NULL, 0, scen_write_after_eof, NULL);
}
END_TEST

/* ---- A-G13: fflush does not reset the position of an r+ stream ---- */

static void scen_fflush_keeps_position(struct run *r)
{
	FILE *fp = r->fp;

	BACKEND(r, 0);
	ck_assert_int_eq(put(r, "test", 5), 5);
	ck_assert_int_eq(REC(r, ftell(fp)), 5);
	roll_mid(r); /* flushes the pending output, then rolls */
	ck_assert_int_eq(REC(r, fflush(fp)), 0);
	ck_assert_int_eq(REC(r, ftell(fp)), 5);
	EXPECT(r, "test\0\0", 6);
}

START_TEST(test_stdio_fflush_keeps_position)
{
	static char data[500] = "x";

	run_pair(_i, 500, "r+", data, 6, scen_fflush_keeps_position, NULL);
}
END_TEST

/* ---- A-M03: fgets reads a NUL as data and leaves s alone at EOF ---- */

static void scen_fgets_eof(struct run *r)
{
	char s[10];

	BACKEND(r, 0);
	ck_assert_int_eq(REC(r, fgets(s, sizeof(s), r->fp) == s), 1);
	ck_assert_str_eq(s, "test");
	roll_mid(r);
	ck_assert_int_eq(REC(r, fgets(s, sizeof(s), r->fp) == NULL), 1);
	ck_assert_int_eq(s[0], 't');
	FLAGS(r, r->fp);
}

START_TEST(test_stdio_fgets_at_eof)
{
	run_pair(_i, 5, "r", "test", 5, scen_fgets_eof, NULL);
}
END_TEST

/* ---- A-O01: copy with getc/putc, then read the copy back ---- */

static void scen_copy(struct run *r)
{
	static const char src[] = "This is a 21-byte str";
	char buf[1023];
	FILE *dst = open_like(r, 10, "w+", NULL, 0);
	int c, i = 0;

	while ((c = getc(r->fp)) != EOF) {
		ck_assert_int_eq(REC(r, putc(c, dst)), c);
		if (++i == 10)
			roll_mid(r);
	}
	ck_assert_int_eq(REC(r, ftell(dst)), 21);
	/* All of it is still in the stdio buffer: no file yet, even with
	 * threshold 0, as nothing has reached the spool. */
	if (r->spool)
		ck_assert_int_eq(spool_is_rolled(dst), 0);
	ck_assert_int_eq(REC(r, fseek(dst, 0, SEEK_SET)), 0);
	backend_at(r, dst, 1, __LINE__);
	ck_assert_int_eq(REC(r, ftell(dst)), 0);
	ck_assert_int_eq(REC(r, fread(buf, 1, sizeof(buf), dst)), 21);
	ck_assert_int_eq(memcmp(buf, src, 21), 0);
	ck_assert_int_eq(fclose(dst), 0);
}

START_TEST(test_stdio_copy_with_getc_putc)
{
	run_pair(_i, 21, "r", "This is a 21-byte str", 21, scen_copy, NULL);
}
END_TEST

/* ---- A-F07: "r" rejects writes, "w" and "a" reject reads ---- */

static void scen_reject_write(struct run *r)
{
	FILE *fp = r->fp;

	BACKEND(r, 0);
	ck_assert_int_eq(CALLE(r, fwrite("hello", 1, 5, fp)), 0);
	ck_assert_int_eq(errno, EBADF);
	ck_assert_int_ne(REC(r, ferror(fp)), 0);
	clearerr(fp);
	roll_mid(r);
	ck_assert_int_eq(CALLE(r, fputc('x', fp)), EOF);
	ck_assert_int_eq(errno, EBADF);
	ck_assert_int_ne(REC(r, ferror(fp)), 0);
	clearerr(fp);
	EXPECT_STR(r, "input data");
}

static void scen_reject_read(struct run *r)
{
	FILE *fp = r->fp;
	char buf[16];

	ck_assert_int_eq(CALLE(r, fread(buf, 1, sizeof(buf), fp)), 0);
	ck_assert_int_eq(errno, EBADF);
	ck_assert_int_ne(REC(r, ferror(fp)), 0);
	clearerr(fp);
	ck_assert_int_eq(REC(r, fputs("written", fp)) >= 0, 1);
	ck_assert_int_eq(REC(r, fflush(fp)), 0);
	BACKEND(r, 1);
	ck_assert_int_eq(CALLE(r, fgetc(fp)), EOF);
	ck_assert_int_eq(errno, EBADF);
	ck_assert_int_ne(REC(r, ferror(fp)), 0);
	clearerr(fp);
}

START_TEST(test_stdio_access_mode_enforced)
{
	run_pair(_i, 10, "r", "input data", 10, scen_reject_write, NULL);
	run_pair(_i, 4, "w", NULL, 0, scen_reject_read, NULL);
	run_pair(_i, 8, "a", "data", 4, scen_reject_read, NULL);
}
END_TEST

/* ---- every mode: start position, access, append, contents ---- */

static const char *const all_modes[] = {
    "r",   "rb",  "re",	 "r+", "rb+", "r+b", "r+e", "w",   "wb",  "we",	 "w+",
    "wb+", "w+b", "w+e", "a",  "ab",  "ae",  "a+",  "ab+", "a+b", "a+e",
};

/* A write at `at` (fseek) of `s`; in "a" modes it lands at the end. */
static void write_at(struct run *r, off_t at, const char *s)
{
	FILE *fp = r->fp;
	int ro = r->mode[0] == 'r' && strchr(r->mode, '+') == NULL;
	size_t n = strlen(s);

	ck_assert_int_eq(REC(r, fseeko(fp, at, SEEK_SET)), 0);
	ck_assert_uint_eq(CALLE(r, fwrite(s, 1, n, fp)), ro ? 0 : n);
	if (ro) {
		ck_assert_int_eq(errno, EBADF);
		ck_assert_int_ne(REC(r, ferror(fp)), 0);
		clearerr(fp);
	}
	ck_assert_int_eq(REC(r, fflush(fp)), 0);
	REC(r, ftello(fp));
}

static void scen_mode(struct run *r)
{
	const char *m = r->mode;
	FILE *fp = r->fp;
	int c;

	/* fopen: "a" starts at the end, "a+" reads from 0, r/w at 0 */
	ck_assert_int_eq(REC(r, ftello(fp)),
			 m[0] == 'a' && !strchr(m, '+') ? 10 : 0);
	if (m[0] == 'w')
		ck_assert_int_eq(put(r, "0123456789", 10), 10);
	c = CALLE(r, fgetc(fp));
	if (readable(m)) {
		ck_assert_int_eq(c, m[0] == 'w' ? EOF : '0');
	} else {
		ck_assert_int_eq(c, EOF);
		ck_assert_int_eq(errno, EBADF);
		ck_assert_int_ne(ferror(fp), 0);
	}
	FLAGS(r, fp);
	clearerr(fp);
	write_at(r, 0, "XY");
	BACKEND(r, 0);
	roll_mid(r);
	write_at(r, 1, "PQR");
	write_at(r, 20, "S"); /* past the end: zero fill, or append */
	BACKEND(r, 1);
	if (m[0] == 'a')
		EXPECT_STR(r, "0123456789XYPQRS");
	else if (m[0] == 'r' && !strchr(m, '+'))
		EXPECT_STR(r, "0123456789");
	else
		EXPECT(r, "XPQR456789\0\0\0\0\0\0\0\0\0\0S", 21);
}

START_TEST(test_stdio_modes)
{
	size_t i;

	for (i = 0; i < sizeof(all_modes) / sizeof(all_modes[0]); i++) {
		const char *m = all_modes[i];

		if (m[0] == 'w')
			run_pair(_i, 12, m, NULL, 0, scen_mode, NULL);
		else
			run_pair(_i, 12, m, "0123456789", 10, scen_mode, NULL);
	}
}
END_TEST

/* ---- "a+": every write goes to the end, in memory and on disk ---- */

static void scen_append_always_at_end(struct run *r)
{
	FILE *fp = r->fp;
	char c;

	ck_assert_int_eq(REC(r, fseek(fp, 0, SEEK_SET)), 0);
	ck_assert_int_eq(REC(r, fread(&c, 1, 1, fp)), 1);
	ck_assert_int_eq(c, 'h');
	ck_assert_int_eq(REC(r, fseek(fp, 0, SEEK_SET)), 0);
	ck_assert_int_eq(REC(r, fprintf(fp, "X")), 1);
	ck_assert_int_eq(REC(r, fflush(fp)), 0);
	ck_assert_int_eq(REC(r, ftell(fp)), 6);
	BACKEND(r, 0);
	ck_assert_int_eq(REC(r, fseek(fp, 2, SEEK_SET)), 0);
	ck_assert_int_eq(REC(r, fprintf(fp, "YZ")), 2); /* crosses 6 */
	ck_assert_int_eq(REC(r, fflush(fp)), 0);
	BACKEND(r, 1);
	ck_assert_int_eq(REC(r, ftell(fp)), 8);
	ck_assert_int_eq(REC(r, fseek(fp, 100, SEEK_SET)), 0);
	ck_assert_int_eq(REC(r, fputc('!', fp)), '!');
	ck_assert_int_eq(REC(r, fflush(fp)), 0);
	ck_assert_int_eq(REC(r, ftell(fp)), 9);
	EXPECT_STR(r, "helloXYZ!");
}

START_TEST(test_stdio_append_writes_at_end)
{
	run_pair(_i, 6, "a+", "hello", 5, scen_append_always_at_end, NULL);
	run_pair(_i, 6, "ab+", "hello", 5, scen_append_always_at_end, NULL);
}
END_TEST

/* ---- D-R03: explicit rollover keeps the position ---- */

static void roll_now(const struct run *r)
{
	if (!r->spool)
		return;
	ck_assert_int_eq(spool_rollover(r->fp), 0);
	ck_assert_int_eq(spool_is_rolled(r->fp), 1);
}

static void scen_explicit_rollover(struct run *r)
{
	FILE *fp = r->fp;
	char buf[32];

	ck_assert_int_eq(put(r, letters, 26), 26);
	ck_assert_int_eq(REC(r, ftello(fp)), 26);
	ck_assert_int_eq(REC(r, fflush(fp)), 0);
	BACKEND(r, 0);
	roll_now(r);
	ck_assert_int_eq(REC(r, ftello(fp)), 26);
	ck_assert_int_eq(REC(r, fread(buf, 1, sizeof(buf), fp)), 0);
	FLAGS(r, fp);
	ck_assert_int_eq(REC(r, fseek(fp, 0, SEEK_SET)), 0);
	ck_assert_int_eq(REC(r, fread(buf, 1, sizeof(buf), fp)), 26);
	ck_assert_int_eq(memcmp(buf, letters, 26), 0);
	ck_assert_int_eq(REC(r, ftello(fp)), 26);
}

START_TEST(test_stdio_explicit_rollover)
{
	run_pair(_i, 100, "w+", NULL, 0, scen_explicit_rollover, NULL);
}
END_TEST

/* ---- D-R04: seeking; past the end is allowed, before 0 is not ---- */

static void seek_rec(struct run *r, off_t off, int whence, long long want)
{
	int rc = (int)CALLE(r, fseeko(r->fp, off, whence));

	if (want < 0) {
		ck_assert_int_eq(rc, -1);
		ck_assert_int_eq(errno, EINVAL);
	} else {
		ck_assert_int_eq(rc, 0);
		ck_assert_int_eq(REC(r, ftello(r->fp)), want);
	}
}

static void scen_seek(struct run *r)
{
	FILE *fp = r->fp;

	ck_assert_int_eq(put(r, letters, 13), 13);
	ck_assert_int_eq(REC(r, fflush(fp)), 0);
	BACKEND(r, 0);
	ck_assert_int_eq(put(r, letters + 13, 13), 13);
	seek_rec(r, -1, SEEK_CUR, 25); /* flushes: 26 > 20 rolls */
	BACKEND(r, 1);
	seek_rec(r, 1, SEEK_CUR, 26);
	seek_rec(r, 1, SEEK_CUR, 27);
	seek_rec(r, -27, SEEK_CUR, 0);
	seek_rec(r, -1, SEEK_CUR, -1);
	ck_assert_int_eq(REC(r, ftello(fp)), 0);
	seek_rec(r, -1245, SEEK_CUR, -1);
	ck_assert_int_eq(REC(r, ftello(fp)), 0);
	seek_rec(r, 0, SEEK_SET, 0);
	seek_rec(r, 1, SEEK_SET, 1);
	seek_rec(r, 26, SEEK_SET, 26);
	seek_rec(r, 27, SEEK_SET, 27);
	seek_rec(r, 0, SEEK_END, 26);
	seek_rec(r, -1, SEEK_END, 25);
	seek_rec(r, -26, SEEK_END, 0);
	seek_rec(r, -27, SEEK_END, -1);
	seek_rec(r, -99, SEEK_END, -1);
	ck_assert_int_eq(REC(r, ftello(fp)), 0);
	seek_rec(r, 1, SEEK_END, 27);
	seek_rec(r, 1, SEEK_END, 27); /* seeking did not grow it */
	EXPECT(r, letters, 26);
}

START_TEST(test_stdio_seek)
{
	run_pair(_i, 20, "w+", NULL, 0, scen_seek, NULL);
}
END_TEST

/* ---- negative targets fail with EINVAL and leave the position ---- */

static void negative_seeks(struct run *r, long long pos)
{
	seek_rec(r, -1, SEEK_SET, -1);
	ck_assert_int_eq(REC(r, ftello(r->fp)), pos);
	seek_rec(r, -pos - 1, SEEK_CUR, -1);
	ck_assert_int_eq(REC(r, ftello(r->fp)), pos);
	seek_rec(r, -27, SEEK_END, -1);
	ck_assert_int_eq(REC(r, ftello(r->fp)), pos);
	FLAGS(r, r->fp);
}

static void scen_negative_seek(struct run *r)
{
	FILE *fp = r->fp;

	ck_assert_int_eq(put(r, letters, 10), 10);
	ck_assert_int_eq(REC(r, fflush(fp)), 0);
	BACKEND(r, 0);
	ck_assert_int_eq(put(r, letters + 10, 16), 16);
	negative_seeks(r, 26); /* with 16 bytes pending */
	ck_assert_int_eq(REC(r, fflush(fp)), 0);
	BACKEND(r, 1);
	seek_rec(r, 5, SEEK_SET, 5);
	ck_assert_int_eq(REC(r, getc(fp)), 'f');
	negative_seeks(r, 6); /* with read-ahead buffered */
	ck_assert_int_eq(REC(r, getc(fp)), 'g');
	seek_rec(r, 40, SEEK_SET, 40);
	negative_seeks(r, 40); /* past the end */
	EXPECT(r, letters, 26);
}

START_TEST(test_stdio_negative_seek_fails)
{
	run_pair(_i, 20, "w+", NULL, 0, scen_negative_seek, NULL);
}
END_TEST

/* ---- SEEK_END is relative to the current size ---- */

static void scen_seek_end(struct run *r)
{
	FILE *fp = r->fp;

	ck_assert_int_eq(put(r, letters, 10), 10);
	seek_rec(r, -3, SEEK_END, 7); /* the pending bytes count */
	BACKEND(r, 0);
	ck_assert_int_eq(REC(r, getc(fp)), 'h');
	ck_assert_int_eq(REC(r, resize(r, 20)), 0); /* rolls past 16 */
	BACKEND(r, 1);
	seek_rec(r, 0, SEEK_END, 20);
	seek_rec(r, -12, SEEK_END, 8);
	ck_assert_int_eq(REC(r, getc(fp)), 'i');
	ck_assert_int_eq(REC(r, resize(r, 4)), 0);
	seek_rec(r, 0, SEEK_END, 4);
	seek_rec(r, 10, SEEK_END, 14);
	ck_assert_int_eq(put(r, "!", 1), 1);
	seek_rec(r, -1, SEEK_END, 14);
	ck_assert_int_eq(REC(r, getc(fp)), '!');
	EXPECT(r, "abcd\0\0\0\0\0\0\0\0\0\0!", 15);
}

START_TEST(test_stdio_seek_end_follows_size)
{
	run_pair(_i, 16, "w+", NULL, 0, scen_seek_end, NULL);
}
END_TEST

/* ---- D-R05: reading after seeks ---- */

static void scen_seek_read(struct run *r)
{
	FILE *fp = r->fp;
	char buf[32];

	ck_assert_int_eq(put(r, letters, 26), 26);
	ck_assert_int_eq(REC(r, fread(buf, 1, sizeof(buf), fp)), 0);
	FLAGS(r, fp);
	BACKEND(r, 1); /* the switch to reading flushed 26 > 20 */
	ck_assert_int_eq(REC(r, fseek(fp, 0, SEEK_SET)), 0);
	ck_assert_int_eq(REC(r, fread(buf, 1, sizeof(buf), fp)), 26);
	ck_assert_int_eq(memcmp(buf, letters, 26), 0);
	ck_assert_int_eq(REC(r, ftello(fp)), 26);
	ck_assert_int_eq(REC(r, fread(buf, 1, sizeof(buf), fp)), 0);
	ck_assert_int_eq(REC(r, fseek(fp, 5, SEEK_SET)), 0);
	ck_assert_int_eq(REC(r, fread(buf, 1, 5, fp)), 5);
	ck_assert_int_eq(memcmp(buf, "fghij", 5), 0);
	ck_assert_int_eq(REC(r, ftello(fp)), 10);
	ck_assert_int_eq(REC(r, fread(buf, 1, 5, fp)), 5);
	ck_assert_int_eq(memcmp(buf, "klmno", 5), 0);
	ck_assert_int_eq(REC(r, fread(buf, 1, 15, fp)), 11);
	ck_assert_int_eq(memcmp(buf, "pqrstuvwxyz", 11), 0);
	ck_assert_int_ne(REC(r, feof(fp)), 0);
}

START_TEST(test_stdio_seek_read)
{
	run_pair(_i, 20, "w+", NULL, 0, scen_seek_read, NULL);
}
END_TEST

/* ---- D-R06..R08: overwrite in the middle, overwrite and extend ---- */

static void scen_overwrite_middle(struct run *r)
{
	ck_assert_int_eq(put(r, letters, 26), 26);
	ck_assert_int_eq(REC(r, fseek(r->fp, 10, SEEK_SET)), 0);
	BACKEND(r, 0); /* exactly the threshold of 26 */
	roll_mid(r);
	ck_assert_int_eq(put(r, "0123456789", 10), 10);
	EXPECT_STR(r, "abcdefghij0123456789uvwxyz");
}

static void scen_overwrite_extend(struct run *r)
{
	ck_assert_int_eq(put(r, letters, 26), 26);
	ck_assert_int_eq(REC(r, fseek(r->fp, -5, SEEK_END)), 0);
	ck_assert_int_eq(REC(r, ftello(r->fp)), 21);
	BACKEND(r, 0);
	ck_assert_int_eq(put(r, "0123456789", 10), 10);
	ck_assert_int_eq(REC(r, fflush(r->fp)), 0);
	BACKEND(r, 1);
	EXPECT_STR(r, "abcdefghijklmnopqrstu0123456789");
}

static void scen_overwrite_extend_rollover(struct run *r)
{
	FILE *fp = r->fp;

	ck_assert_int_eq(put(r, "abcdefghijklmno", 15), 15);
	ck_assert_int_eq(REC(r, fflush(fp)), 0);
	BACKEND(r, 0);
	ck_assert_int_eq(REC(r, fseek(fp, -5, SEEK_END)), 0);
	ck_assert_int_eq(REC(r, ftello(fp)), 10);
	BACKEND(r, 0);
	ck_assert_int_eq(put(r, "0123456789)!@#$%^&*(", 20), 20);
	ck_assert_int_eq(REC(r, fflush(fp)), 0);
	BACKEND(r, 1);
	ck_assert_int_eq(REC(r, ftello(fp)), 30);
	EXPECT_STR(r, "abcdefghij0123456789)!@#$%^&*(");
}

START_TEST(test_stdio_overwrite)
{
	run_pair(_i, 26, "w+", NULL, 0, scen_overwrite_middle, NULL);
	run_pair(_i, 26, "w+", NULL, 0, scen_overwrite_extend, NULL);
	run_pair(_i, 20, "w+", NULL, 0, scen_overwrite_extend_rollover, NULL);
}
END_TEST

/* ---- D-R09/R10, D-P09: a gap left by a seek reads as zeros ---- */

static void scen_sparse(struct run *r)
{
	FILE *fp = r->fp;

	ck_assert_int_eq(put(r, "abcde", 5), 5);
	ck_assert_int_eq(REC(r, fflush(fp)), 0);
	BACKEND(r, 0);
	ck_assert_int_eq(REC(r, fseek(fp, 5, SEEK_CUR)), 0);
	ck_assert_int_eq(REC(r, ftello(fp)), 10);
	ck_assert_int_eq(REC(r, fflush(fp)), 0);
	BACKEND(r, 0); /* seeking alone never rolls over */
	ck_assert_int_eq(put(r, "klmno", 5), 5);
	ck_assert_int_eq(REC(r, fflush(fp)), 0);
	BACKEND(r, 1);
	EXPECT(r, "abcde\0\0\0\0\0klmno", 15);
}

/* A seek on an empty spool stores nothing, whatever the threshold. */
static void scen_seek_empty(struct run *r)
{
	FILE *fp = r->fp;

	ck_assert_int_eq(REC(r, fseek(fp, 100, SEEK_SET)), 0);
	ck_assert_int_eq(REC(r, ftello(fp)), 100);
	ck_assert_int_eq(REC(r, fflush(fp)), 0);
	if (r->spool)
		ck_assert_int_eq(spool_is_rolled(fp), 0);
	ck_assert_int_eq(REC(r, fputc('x', fp)), 'x');
	ck_assert_int_eq(REC(r, fflush(fp)), 0);
	BACKEND(r, 1);
	ck_assert_int_eq(REC(r, ftello(fp)), 101);
}

#define GAP (1 << 20)

/* A megabyte gap: zeros in memory; on disk as sparse as a file gets. */
static void scen_big_gap(struct run *r)
{
	FILE *fp = r->fp;
	unsigned char *buf;
	struct stat st;
	size_t len, i;

	ck_assert_int_eq(put(r, "head", 4), 4);
	ck_assert_int_eq(REC(r, fflush(fp)), 0);
	BACKEND(r, 0);
	ck_assert_int_eq(REC(r, fseeko(fp, GAP, SEEK_SET)), 0);
	ck_assert_int_eq(put(r, "tail", 4), 4);
	ck_assert_int_eq(REC(r, fflush(fp)), 0);
	BACKEND(r, 1);
	if (r->v != V_MEM) {
		ck_assert_int_eq(fstat(fd_of(r, fp), &st), 0);
		REC(r, (long long)st.st_blocks * 512 < GAP / 2);
	}
	buf = contents_at(r, fp, r->mode, &len, __LINE__);
	ck_assert_uint_eq(len, GAP + 4);
	ck_assert_int_eq(memcmp(buf, "head", 4), 0);
	for (i = 4; i < GAP; i++)
		if (buf[i] != 0)
			ck_abort_msg("byte %zu of the gap is %d", i, buf[i]);
	ck_assert_int_eq(memcmp(buf + GAP, "tail", 4), 0);
	free(buf);
}

START_TEST(test_stdio_seek_past_end_zero_fills)
{
	run_pair(_i, 10, "w+", NULL, 0, scen_sparse, NULL);
	run_pair(_i, 12, "w+", NULL, 0, scen_sparse, NULL);
	run_pair(_i, 30, "w+", NULL, 0, scen_seek_empty, NULL);
	run_pair(_i, 4096, "w+", NULL, 0, scen_big_gap, NULL);
}
END_TEST

/* ---- D-R11: truncation keeps the position ---- */

static void scen_set_len(struct run *r)
{
	FILE *fp = r->fp;
	char buf[64];

	ck_assert_int_eq(put(r, letters, 26), 26);
	ck_assert_int_eq(REC(r, resize(r, 10)), 0);
	ck_assert_int_eq(REC(r, ftello(fp)), 26);
	ck_assert_int_eq(REC(r, fread(buf, 1, sizeof(buf), fp)), 0);
	ck_assert_int_eq(REC(r, ftello(fp)), 26);
	ck_assert_int_eq(REC(r, fseek(fp, 0, SEEK_SET)), 0);
	ck_assert_int_eq(REC(r, fread(buf, 1, sizeof(buf), fp)), 10);
	ck_assert_int_eq(memcmp(buf, letters, 10), 0);
	clearerr(fp);
	ck_assert_int_eq(REC(r, fseek(fp, 0, SEEK_SET)), 0);
	ck_assert_int_eq(REC(r, fread(buf, 1, 10, fp)), 10);
	BACKEND(r, 0);
	ck_assert_int_eq(REC(r, resize(r, 40)), 0);
	BACKEND(r, 1);
	ck_assert_int_eq(REC(r, ftello(fp)), 10);
	EXPECT(r,
	       "abcdefghij\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"
	       "\0\0\0\0\0\0\0\0\0\0",
	       40);
}

START_TEST(test_stdio_truncate_keeps_position)
{
	run_pair(_i, 30, "w+", NULL, 0, scen_set_len, NULL);
}
END_TEST

/* ---- D-P06..P08, P12: what makes a spool roll over ---- */

static void scen_rewrite_small(struct run *r)
{
	FILE *fp = r->fp;
	int i;

	for (i = 0; i < 5; i++) {
		ck_assert_int_eq(REC(r, fseek(fp, 0, SEEK_SET)), 0);
		ck_assert_int_eq(put(r, letters, 20), 20);
		ck_assert_int_eq(REC(r, fflush(fp)), 0);
		BACKEND(r, 0); /* the size, not the bytes written, counts */
	}
	ck_assert_int_eq(REC(r, fseek(fp, 0, SEEK_END)), 0);
	ck_assert_int_eq(put(r, letters, 11), 11);
	ck_assert_int_eq(REC(r, fflush(fp)), 0);
	BACKEND(r, 1);
	ck_assert_int_eq(REC(r, ftello(fp)), 31);
}

static void scen_write_sequential(struct run *r)
{
	ck_assert_int_eq(put(r, letters, 20), 20);
	ck_assert_int_eq(REC(r, fflush(r->fp)), 0);
	BACKEND(r, 0);
	ck_assert_int_eq(put(r, letters, 10), 10);
	ck_assert_int_eq(REC(r, fflush(r->fp)), 0);
	BACKEND(r, 0); /* 30 == threshold */
	ck_assert_int_eq(put(r, "z", 1), 1);
	ck_assert_int_eq(REC(r, fflush(r->fp)), 0);
	BACKEND(r, 1);
	EXPECT_STR(r, "abcdefghijklmnopqrstabcdefghijz");
}

static void scen_bound_methods(struct run *r)
{
	char a[35], b[35], buf[80];

	memset(a, 'a', sizeof(a));
	memset(b, 'b', sizeof(b));
	ck_assert_int_eq(put(r, a, 35), 35);
	ck_assert_int_eq(REC(r, fflush(r->fp)), 0);
	BACKEND(r, 1);
	ck_assert_int_eq(put(r, b, 35), 35);
	ck_assert_int_eq(REC(r, fseek(r->fp, 0, SEEK_SET)), 0);
	ck_assert_int_eq(REC(r, fread(buf, 1, sizeof(buf), r->fp)), 70);
	ck_assert_int_eq(memcmp(buf, a, 35), 0);
	ck_assert_int_eq(memcmp(buf + 35, b, 35), 0);
}

START_TEST(test_stdio_rollover_rule)
{
	run_pair(_i, 30, "w+", NULL, 0, scen_rewrite_small, NULL);
	run_pair(_i, 30, "w+", NULL, 0, scen_write_sequential, NULL);
	run_pair(_i, 30, "w+", NULL, 0, scen_bound_methods, NULL);
}
END_TEST

/* ---- D-P13..P15: every byte value round-trips across the switch ---- */

static void scen_binary_exact(struct run *r)
{
	unsigned char all[256 + 32];
	size_t i;

	for (i = 0; i < 256; i++)
		all[i] = (unsigned char)i;
	memcpy(all + 256,
	       "\xce\x9b\r\nfoo\x1a"
	       "bar\n\r\0\xff",
	       16);
	ck_assert_int_eq(put(r, all, 100), 100);
	ck_assert_int_eq(REC(r, fflush(r->fp)), 0);
	BACKEND(r, 0);
	for (i = 100; i < 272; i++)
		ck_assert_int_eq(REC(r, fputc(all[i], r->fp)), all[i]);
	ck_assert_int_eq(REC(r, fflush(r->fp)), 0);
	BACKEND(r, 1);
	EXPECT(r, all, 272);
}

START_TEST(test_stdio_binary_exact)
{
	run_pair(_i, 100, "w+", NULL, 0, scen_binary_exact, NULL);
	run_pair(_i, 100, "wb+", NULL, 0, scen_binary_exact, NULL);
}
END_TEST

/* ---- ftello never rolls over and never changes anything ---- */

static void scen_ftello_no_rollover(struct run *r)
{
	FILE *fp = r->fp;
	char blk[100];

	memset(blk, 'x', sizeof(blk));
	ck_assert_int_eq(put(r, blk, 100), 100);
	ck_assert_int_eq(REC(r, fflush(fp)), 0);
	BACKEND(r, 0); /* exactly the threshold */
	ck_assert_int_eq(REC(r, fputs("xyz", fp)) >= 0, 1);
	/* 3 bytes pending that would roll the spool when flushed */
	ck_assert_int_eq(REC(r, ftello(fp)), 103);
	BACKEND(r, 0);
	ck_assert_int_eq(REC(r, ftello(fp)), 103);
	BACKEND(r, 0);
	if (r->spool)
		ck_assert_int_eq(__fpending(fp), 3);
	ck_assert_int_eq(REC(r, fflush(fp)), 0);
	BACKEND(r, 1);
	ck_assert_int_eq(REC(r, ftello(fp)), 103);
}

/* Also no rollover for a position past the end: only a write grows. */
static void scen_ftello_past_end(struct run *r)
{
	FILE *fp = r->fp;
	char blk[100];

	memset(blk, 'x', sizeof(blk));
	ck_assert_int_eq(put(r, blk, 100), 100);
	ck_assert_int_eq(REC(r, fseeko(fp, 150, SEEK_SET)), 0);
	ck_assert_int_eq(REC(r, ftello(fp)), 150);
	ck_assert_int_eq(REC(r, ftello(fp)), 150);
	BACKEND(r, 0);
	if (r->spool)
		ck_assert_int_eq(spool_size(fp), 100);
	ck_assert_int_eq(REC(r, fputc('!', fp)), '!');
	ck_assert_int_eq(REC(r, ftello(fp)), 151);
	BACKEND(r, 0);
	ck_assert_int_eq(REC(r, fflush(fp)), 0);
	BACKEND(r, 1);
}

START_TEST(test_stdio_ftello_never_rolls_over)
{
	static const char *const modes[] = {"w+", "w", "r+"};
	size_t i;

	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		run_pair(_i, 100, modes[i], NULL, 0, scen_ftello_no_rollover,
			 NULL);
		run_pair(_i, 100, modes[i], NULL, 0, scen_ftello_past_end,
			 NULL);
	}
	/* In append mode ftello asks the cookie for SEEK_END instead. */
	run_pair(_i, 100, "a", NULL, 0, scen_ftello_no_rollover, NULL);
	run_pair(_i, 100, "a+", NULL, 0, scen_ftello_no_rollover, NULL);
}
END_TEST

/* ---- large formatted and line I/O crossing the threshold ---- */

static void scen_fprintf_fscanf(struct run *r)
{
	static const char *const words[] = {"alpha", "beta", "gamma", "x"};
	FILE *fp = r->fp;
	double d;
	char w[64];
	int i, n;

	for (i = 0; i < 3000; i++)
		REC(r, fprintf(fp, "%d %.3f %s\n", i, i * 0.5, words[i % 4]));
	BACKEND(r, 1);
	rewind(fp);
	for (i = 0; i < 3000; i++) {
		ck_assert_int_eq(REC(r, fscanf(fp, "%d %lf %63s", &n, &d, w)),
				 3);
		ck_assert_int_eq(n, i);
		ck_assert(d == i * 0.5);
		ck_assert_str_eq(w, words[i % 4]);
	}
	ck_assert_int_eq(REC(r, fscanf(fp, "%d", &n)), EOF);
	FLAGS(r, fp);
}

#define LONG_LINE 100000

static void scen_getline_fgets(struct run *r)
{
	FILE *fp = r->fp;
	char *line = NULL, part[1000];
	size_t cap = 0, got = 0, i;

	/* per-byte checks by hand: a passing ck_assert costs a message
	 * to the parent process */
	for (i = 0; i < LONG_LINE; i++)
		if (putc('a' + (int)(i % 26), fp) == EOF)
			ck_abort_msg("putc %zu", i);
	ck_assert_int_eq(REC(r, fputs("\nshort\n", fp)) >= 0, 1);
	rewind(fp);
	BACKEND(r, 1);
	ck_assert_int_eq(REC(r, getline(&line, &cap, fp)), LONG_LINE + 1);
	for (i = 0; i < LONG_LINE; i++)
		if (line[i] != 'a' + (int)(i % 26))
			ck_abort_msg("byte %zu of the line", i);
	ck_assert_int_eq(REC(r, getline(&line, &cap, fp)), 6);
	ck_assert_str_eq(line, "short\n");
	ck_assert_int_eq(REC(r, getline(&line, &cap, fp)), -1);
	free(line);
	rewind(fp);
	while (fgets(part, sizeof(part), fp) != NULL) {
		size_t n = strlen(part);

		REC(r, n);
		for (i = 0; i < n && got < LONG_LINE; i++, got++)
			if (part[i] != 'a' + (int)(got % 26))
				ck_abort_msg("byte %zu from fgets", got);
		if (part[n - 1] == '\n')
			break;
	}
	ck_assert_uint_eq(got, LONG_LINE);
	ck_assert_ptr_nonnull(fgets(part, sizeof(part), fp));
	ck_assert_str_eq(part, "short\n");
	ck_assert_ptr_null(fgets(part, sizeof(part), fp));
	FLAGS(r, fp);
}

static void scen_fprintf_huge(struct run *r)
{
	size_t n = 1 << 20, len, i;
	unsigned char *buf;
	char *s = malloc(n + 1);

	ck_assert_ptr_nonnull(s);
	for (i = 0; i < n; i++)
		s[i] = (char)('A' + i % 23);
	s[n] = '\0';
	ck_assert_int_eq(REC(r, fprintf(r->fp, "<%s>", s)), (int)n + 2);
	ck_assert_int_eq(REC(r, fflush(r->fp)), 0);
	BACKEND(r, 1);
	buf = contents_at(r, r->fp, r->mode, &len, __LINE__);
	ck_assert_uint_eq(len, n + 2);
	ck_assert_int_eq(buf[0], '<');
	ck_assert_int_eq(memcmp(buf + 1, s, n), 0);
	ck_assert_int_eq(buf[n + 1], '>');
	free(buf);
	free(s);
}

START_TEST(test_stdio_large_formatted_io)
{
	run_pair(_i, 4096, "w+", NULL, 0, scen_fprintf_fscanf, NULL);
	run_pair(_i, 4096, "w+", NULL, 0, scen_getline_fgets, NULL);
	run_pair(_i, 65536, "w+", NULL, 0, scen_fprintf_huge, NULL);
	run_pair(_i, 65536, "w", NULL, 0, scen_fprintf_huge, NULL);
}
END_TEST

/* ---- fclose: 0, or EOF when the final flush fails ---- */

START_TEST(test_stdio_fclose_reports_failed_flush)
{
	struct spool_options o = {.threshold = threshold_of(_i, 4),
				  .limit = 10};
	FILE *fp = spool_fopen_opts(&o, "w+");

	ck_assert_ptr_nonnull(fp);
	ck_assert_int_eq(fwrite(letters, 1, 20, fp), 20); /* buffered */
	ck_assert_int_eq(ferror(fp), 0);
	errno = 0;
	ck_assert_int_eq(fclose(fp), EOF);
	ck_assert_int_eq(errno, EFBIG);

	fp = spool_fopen_opts(&o, "w+");
	ck_assert_ptr_nonnull(fp);
	ck_assert_int_eq(fwrite(letters, 1, 10, fp), 10);
	ck_assert_int_eq(fclose(fp), 0); /* exactly the limit */
}
END_TEST

/*
 * ---- Orderings C leaves undefined: input straight after output ----
 *
 * ISO C requires an fflush or a positioning call between output and
 * input on an update stream; real programs skip it, ungetc included.
 * The sequences below write 81 x 1000 bytes, fflush, write 3000 more
 * (pending in stdio's buffer) and then read or ungetc at once.
 *
 * fread alone is harmless: glibc flushes the pending bytes and reads at
 * the end, on a spool (either path) as on a regular file, so it runs
 * against tmpfile() like the scenarios above.
 *
 * ungetc is not. The pushback goes into a buffer of its own, and glibc's
 * cookie streams flush from inside it: new_do_write() seeks by the
 * distance between that buffer and stdio's, two unrelated blocks, and if
 * the seek succeeds fclose() frees stdio's buffer twice. tmpfile() aborts
 * on the same calls (a regular file has the bug too), so there is no
 * oracle. With the glibc seam's internals (lib/stdio-glibc.c,
 * spool__stdio_confused()) the spool refuses that seek, so every write
 * from there fails with EINVAL, in memory or on disk, and the stream
 * closes without harm; a positioning call gets rid of the pushback and
 * the pending bytes land. On the portable path the outcome depends on
 * where malloc put the two buffers: glibc's malloc here gives a
 * negative target, which the spool refuses in memory, AddressSanitizer's
 * a positive one (a double free), and on disk any target is accepted.
 * Nothing is deterministic there, so those tests need the internals.
 */
#define UO_WRITES 81
#define UO_CHUNK 1000
#define UO_TAIL 3000
#define UO_SIZE (UO_WRITES * UO_CHUNK + UO_TAIL)

/* Byte i of what the sequences write. */
static unsigned char uo_byte(size_t i)
{
	return i < UO_WRITES * UO_CHUNK ? (unsigned char)letters[i % 26]
					: (unsigned char)('0' + i % 10);
}

/* The 81 writes and the fflush; the 3000 bytes after them stay in
 * stdio's buffer. */
static void uo_write(FILE *fp)
{
	unsigned char buf[UO_TAIL];
	size_t i, at;

	for (at = 0; at < UO_SIZE; at += i) {
		size_t n = at < UO_WRITES * UO_CHUNK ? UO_CHUNK : UO_TAIL;

		for (i = 0; i < n; i++)
			buf[i] = uo_byte(at + i);
		ck_assert_uint_eq(fwrite(buf, 1, n, fp), n);
		if (at + n == UO_WRITES * UO_CHUNK)
			ck_assert_int_eq(fflush(fp), 0);
	}
}

static void scen_fread_after_output(struct run *r)
{
	unsigned char buf[10], *want = malloc(UO_SIZE);
	size_t i;

	ck_assert_ptr_nonnull(want);
	uo_write(r->fp);
	ck_assert_int_eq(REC(r, fread(buf, 1, sizeof(buf), r->fp)), 0);
	FLAGS(r, r->fp);
	ck_assert_int_ne(feof(r->fp), 0);
	ck_assert_int_eq(REC(r, ftello(r->fp)), UO_SIZE);
	BACKEND(r, 1);
	for (i = 0; i < UO_SIZE; i++)
		want[i] = uo_byte(i);
	EXPECT(r, want, UO_SIZE);
	free(want);
}

START_TEST(test_stdio_undefined_fread_after_output)
{
	run_pair(_i, 40000, "w+", NULL, 0, scen_fread_after_output, NULL);
}
END_TEST

/* The spool: 1 MiB in memory; rolled over before the first
 * write; rolled over by the writes (40000). */
static FILE *uo_open(int v, int unbuffered)
{
	FILE *fp = spool_fopen(v == V_MID ? 40000 : (size_t)1 << 20, "w+");

	ck_assert_ptr_nonnull(fp);
	if (unbuffered)
		ck_assert_int_eq(setvbuf(fp, NULL, _IONBF, 0), 0);
	if (v == V_DISK)
		ck_assert_int_eq(spool_rollover(fp), 0);
	return fp;
}

/* Every byte of the sequences' writes, read back through stdio. */
static void uo_expect_all(FILE *fp)
{
	unsigned char *got;
	size_t len, i;

	got = tu_slurp(fp, &len);
	ck_assert_uint_eq(len, UO_SIZE);
	for (i = 0; i < len; i++)
		if (got[i] != uo_byte(i))
			ck_abort_msg("byte %zu", i);
	free(got);
}

/* Only on the internals path (see above): say so, or skip saying why. */
static int uo_internals(void)
{
	if (tu_fast_path_expected())
		return 1;
	printf("skipped: ungetc straight after output: the glibc "
	       "internals path is not engaged here, and on the portable "
	       "path glibc's outcome depends on the heap layout\n");
	return 0;
}

/* The sequence: fflush and fclose report the refused seek. */
START_TEST(test_stdio_undefined_ungetc_after_output)
{
	FILE *fp;

	if (!uo_internals())
		return;
	fp = uo_open(_i, 0);
	uo_write(fp);
	ck_assert_int_eq(ungetc('X', fp), 'X');
	errno = 0;
	ck_assert_int_eq(fflush(fp), EOF);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(ferror(fp), 0); /* a failed seek, no failed write */
	ck_assert_int_eq(spool_is_rolled(fp), _i != V_MEM);
	errno = 0;
	ck_assert_int_eq(fclose(fp), EOF);
	ck_assert_int_eq(errno, EINVAL);
}
END_TEST

/*
 * ungetc after output, then fread: the pushed-back byte comes back, then
 * stdio flushes from the pushback area to read on, which fails as above
 * (a file returns the byte and end of file instead). A seek drops the
 * pushback; the pending bytes land and the stream is whole again.
 */
START_TEST(test_stdio_undefined_ungetc_then_fread)
{
	unsigned char buf[10];
	FILE *fp;

	if (!uo_internals())
		return;
	fp = uo_open(_i, 0);
	uo_write(fp);
	ck_assert_int_eq(ungetc('X', fp), 'X');
	errno = 0;
	ck_assert_uint_eq(fread(buf, 1, sizeof(buf), fp), 1);
	ck_assert_int_eq(buf[0], 'X');
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(ferror(fp), 0);
	ck_assert_int_eq(feof(fp), 0);
	errno = 0;
	ck_assert_int_eq(ftello(fp), -1); /* the same flush, refused */
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(fseeko(fp, 0, SEEK_END), 0);
	ck_assert_int_eq(ftello(fp), UO_SIZE);
	uo_expect_all(fp);
	ck_assert_int_eq(spool_is_rolled(fp), _i != V_MEM);
	ck_assert_int_eq(fclose(fp), 0);
}
END_TEST

/*
 * The same on an unbuffered stream: nothing is ever pending, and a
 * write after the ungetc goes straight from the caller's bytes, after
 * the same seek (found by fuzzing; it freed stdio's one-byte buffer at
 * fclose). The write fails with EINVAL; ftello, which counts the
 * pushback, still works, and the stream is whole.
 */
START_TEST(test_stdio_undefined_ungetc_unbuffered)
{
	FILE *fp;

	if (!uo_internals())
		return;
	fp = uo_open(_i, 1);
	uo_write(fp);
	ck_assert_int_eq(ungetc('X', fp), 'X');
	errno = 0;
	ck_assert_uint_eq(fwrite("abc", 1, 3, fp), 0);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(ferror(fp), 0);
	ck_assert_int_eq(ftello(fp), UO_SIZE - 1);
	uo_expect_all(fp);
	ck_assert_int_eq(spool_is_rolled(fp), _i != V_MEM);
	ck_assert_int_eq(fclose(fp), 0);
}
END_TEST

static void add(Suite *s, const char *name, const TTest *t)
{
	TCase *tc = tcase_create(name);

	tcase_add_loop_test(tc, t, V_MEM, V_COUNT);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
}

int main(void)
{
	Suite *s = suite_create("stdio");

	add(s, "read_offset", test_stdio_read_offset_after_ungetc);
	add(s, "scanf", test_stdio_fscanf_lf_matching_failure);
	add(s, "ungetc_musl", test_stdio_ungetc_musl);
	add(s, "fflush_reading", test_stdio_fflush_reading_keeps_position);
	add(s, "fflush_ungetc", test_stdio_fflush_after_ungetc);
	add(s, "ftello_eof", test_stdio_ftello_at_eof_then_write);
	add(s, "fpurge", test_stdio_fpurge);
	add(s, "rw_switch", test_stdio_read_write_switch);
	add(s, "getdelim", test_stdio_getdelim_getline);
	add(s, "ungetc_rules", test_stdio_ungetc_rules);
	add(s, "write_after_eof", test_stdio_write_after_eof);
	add(s, "fflush_position", test_stdio_fflush_keeps_position);
	add(s, "fgets_eof", test_stdio_fgets_at_eof);
	add(s, "copy", test_stdio_copy_with_getc_putc);
	add(s, "access", test_stdio_access_mode_enforced);
	add(s, "modes", test_stdio_modes);
	add(s, "append", test_stdio_append_writes_at_end);
	add(s, "explicit_rollover", test_stdio_explicit_rollover);
	add(s, "seek", test_stdio_seek);
	add(s, "negative_seek", test_stdio_negative_seek_fails);
	add(s, "seek_end", test_stdio_seek_end_follows_size);
	add(s, "seek_read", test_stdio_seek_read);
	add(s, "overwrite", test_stdio_overwrite);
	add(s, "zero_fill", test_stdio_seek_past_end_zero_fills);
	add(s, "truncate", test_stdio_truncate_keeps_position);
	add(s, "rollover_rule", test_stdio_rollover_rule);
	add(s, "binary", test_stdio_binary_exact);
	add(s, "ftello", test_stdio_ftello_never_rolls_over);
	add(s, "large_io", test_stdio_large_formatted_io);
	add(s, "fclose", test_stdio_fclose_reports_failed_flush);
	add(s, "undefined_fread", test_stdio_undefined_fread_after_output);
	add(s, "undefined_ungetc", test_stdio_undefined_ungetc_after_output);
	add(s, "undefined_ungetc_fread",
	    test_stdio_undefined_ungetc_then_fread);
	add(s, "undefined_ungetc_unbuffered",
	    test_stdio_undefined_ungetc_unbuffered);
	return tu_run(s);
}
