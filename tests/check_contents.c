/* SPDX-License-Identifier: MIT */
/*
 * check_contents.c - getting the contents out (issue 13): spool_getvalue(),
 * spool_view() and spool_unview(), spool_send() and spool_persist().
 *
 * First a matrix: each function in every mode, at thresholds 0, 1 and
 * SIZE_MAX, before and after spool_rollover(), empty and not, with the
 * stream in each state it can be in (a position, unflushed output, EOF,
 * error, ungetc pushback). The call must see the unflushed output and
 * keep that state. Then each function's own rules: a live view's
 * lifetime; send to a regular file, a pipe, a non-blocking pipe with a
 * slow reader, a socket pair, a broken pipe and a full disk; persist's
 * atomic name (EEXIST, replacing a file, a symlink, a directory, the mode
 * under umask, a read-only directory and file system, a full disk, the
 * same and another file system, later writes); and a differential loop
 * against stdio on a regular file.
 *
 * Tests that need mounts or other ids run in a child (tu_in_child()).
 * Every test leaves its private directory empty and the process's
 * descriptors as it found them (the fixture checks both), so a stray
 * temporary file or a leaked descriptor fails the test that left it.
 */
#include "config.h"

#include "testutil.h"

#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#define KiB ((size_t)1024)
#define MiB (1024 * KiB)
#define NOBODY 65534

static char *dir;	 /* private directory, empty at teardown */
static mode_t old_umask; /* the caller's umask, back at teardown */
static int fds_before;	 /* open descriptors at setup */

static int fd_count(void)
{
	return tu_count_entries("/proc/self/fd");
}

static void setup(void)
{
	dir = tu_mkdtemp();
	old_umask = umask(022);
	fds_before = fd_count();
}

static void teardown(void)
{
	umask(old_umask);
	ck_assert_int_eq(fd_count(), fds_before);
	tu_rmdir(dir); /* fails on anything left in it */
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

	ck_assert_ptr_nonnull(b);
	for (size_t i = 0; i < n; i++)
		b[i] = pat(from + i);
	return b;
}

/* `path` under the private directory; the caller frees it. */
static char *in_dir(const char *name)
{
	char *p;

	ck_assert_int_ne(asprintf(&p, "%s/%s", dir, name), -1);
	return p;
}

/* The whole file at fd from offset 0, malloc'd, size in *len. */
static unsigned char *fd_bytes(int fd, size_t *len)
{
	struct stat st;
	unsigned char *b;

	ck_assert_int_eq(fstat(fd, &st), 0);
	b = malloc((size_t)st.st_size + 1);
	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(pread(fd, b, (size_t)st.st_size + 1, 0), st.st_size);
	*len = (size_t)st.st_size;
	return b;
}

/* The file at path holds exactly want[0, n). */
static void assert_file(const char *path, const void *want, size_t n)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	unsigned char *got;
	size_t len;

	ck_assert_msg(fd >= 0, "%s: %s", path, strerror(errno));
	got = fd_bytes(fd, &len);
	close(fd);
	ck_assert_msg(len == n, "%s: %zu bytes, want %zu", path, len, n);
	ck_assert_msg(memcmp(got, want, n) == 0, "%s: contents differ", path);
	free(got);
}

/* A file at path with the given bytes (a file to be replaced, or not). */
static void make_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	size_t n = strlen(text);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, n), (ssize_t)n);
	ck_assert_int_eq(close(fd), 0);
}

/* The spool holds exactly want[0, n), read past stdio through its
 * descriptor (which works in every mode). Rolls the spool over. */
static void assert_spool(FILE *fp, const void *want, size_t n)
{
	unsigned char *got;
	size_t len;

	ck_assert_int_eq(spool_size(fp), (off_t)n);
	got = fd_bytes(spool_fileno(fp), &len);
	ck_assert_uint_eq(len, n);
	ck_assert_msg(memcmp(got, want, n) == 0, "spool contents differ");
	free(got);
}

/*
 * A spool in `mode` holding `n` bytes of `data`, its temp directory
 * `tdir` (NULL: $TMPDIR), capped at `limit` (0: none). "w" modes take
 * no initial data, so they get it through the stream and a fflush.
 */
static FILE *spool_with(const char *mode, size_t threshold, const char *tdir,
			const void *data, size_t n, off_t limit)
{
	struct spool_options o = {
	    .threshold = threshold, .dir = tdir, .limit = limit};
	FILE *fp;

	if (mode[0] != 'w' && n > 0) {
		o.data = data;
		o.data_len = n;
	}
	fp = spool_fopen_opts(&o, mode);
	ck_assert_msg(fp != NULL, "open \"%s\": %s", mode, strerror(errno));
	if (mode[0] == 'w' && n > 0) {
		ck_assert_uint_eq(fwrite(data, 1, n, fp), n);
		ck_assert_int_eq(fflush(fp), 0);
	}
	return fp;
}

/* Where a spool's contents live in the smaller tests. */
enum { AT_MEMORY, AT_DISK, AT_SEGMENTS, AT_KINDS };
static const char *const at_name[] = {"in memory", "on disk",
				      "in memory, segmented"};

/* A "w+" spool with pattern bytes [0, n) (AT_SEGMENTS: at least 1 MiB,
 * so that the memory image has grown past its first piece). */
static FILE *pat_spool(int at, size_t *n)
{
	unsigned char *b;
	FILE *fp;

	if (at == AT_SEGMENTS && *n < MiB)
		*n = MiB + 3;
	b = pat_buf(0, *n);
	fp = spool_with("w+", at == AT_DISK ? 0 : SIZE_MAX, dir, NULL, 0, 0);
	/* several writes, so a segmented image really has several pieces */
	for (size_t i = 0; i < *n; i += 64 * KiB) {
		size_t k = *n - i < 64 * KiB ? *n - i : 64 * KiB;

		ck_assert_uint_eq(fwrite(b + i, 1, k, fp), k);
		ck_assert_int_eq(fflush(fp), 0);
	}
	free(b);
	ck_assert_int_eq(spool_is_rolled(fp), at == AT_DISK);
	return fp;
}

/* ---- the matrix: modes, thresholds, rollover, empty, stream state ---- */

static const char *const modes[] = {"r", "r+", "w", "w+", "a", "a+"};
#define NMODES 6
static const size_t thresholds[] = {0, 1, SIZE_MAX};
#define NTHRESH 3
#define NCFG (NMODES * NTHRESH * 2 * 2)
#define N_SMALL 100  /* the contents when not empty */
#define N_PENDING 30 /* unflushed bytes in ST_PENDING */
#define LIMIT 4096   /* the cap of r+ and w+ spools in ST_ERR */

enum { ST_POS, ST_PENDING, ST_EOF, ST_ERR, ST_UNGETC, ST_KINDS };
static const char *const st_name[] = {"position", "unflushed output", "eof",
				      "error", "pushback"};

/* One spool in one state, and what it must show. */
struct cell {
	const char *mode;
	size_t threshold;
	int rolled, k;
	size_t len;    /* contents at open */
	char name[96]; /* for failure messages */
	FILE *fp;
	unsigned char want[256]; /* the contents */
	size_t want_len;
	off_t pos; /* the position */
	int push;  /* the pushed-back byte, or EOF */
};

static int readable(const char *m)
{
	return m[0] == 'r' || m[1] == '+';
}

static int writable(const char *m)
{
	return m[0] != 'r' || m[1] == '+';
}

/* States a mode can be put in: unflushed output needs writing, EOF and
 * pushback need reading (and pushback a byte to read first). */
static int applies(const char *mode, size_t len, int k)
{
	switch (k) {
	case ST_PENDING:
		return writable(mode);
	case ST_EOF:
		return readable(mode);
	case ST_UNGETC:
		return readable(mode) && len > 0;
	default:
		return 1;
	}
}

static void cell_init(struct cell *c, int i, int k)
{
	memset(c, 0, sizeof(*c));
	c->mode = modes[i % NMODES];
	c->threshold = thresholds[i / NMODES % NTHRESH];
	c->rolled = i / (NMODES * NTHRESH) % 2;
	c->len = i / (NMODES * NTHRESH * 2) % 2 ? 0 : N_SMALL;
	c->k = k;
	c->push = EOF;
	snprintf(c->name, sizeof(c->name),
		 "\"%s\" threshold %zd %s, %zu bytes, %s", c->mode,
		 c->threshold == SIZE_MAX ? (ssize_t)-1 : (ssize_t)c->threshold,
		 c->rolled ? "rolled" : "as opened", c->len, st_name[k]);
}

/* Overwrite (or append) n pattern bytes of the model at `at`. */
static void model_put(struct cell *c, size_t at, size_t n, size_t from)
{
	for (size_t i = 0; i < n; i++)
		c->want[at + i] = pat(from + i);
	if (at + n > c->want_len)
		c->want_len = at + n;
}

/*
 * The error indicator, by a real failure of each mode: a write to "r",
 * a read from "w" or "a", a write past the cap for "r+" and "w+", and
 * for "a+" an append past a cap at the end of the contents (an empty
 * "a+" spool first gets the one byte its cap of 1 allows).
 */
static void enter_error(struct cell *c)
{
	FILE *fp = c->fp;

	if (c->mode[0] == 'r' && c->mode[1] != '+') {
		ck_assert_int_eq(fputc('x', fp), EOF);
	} else if (c->mode[1] != '+') {
		ck_assert_int_eq(fgetc(fp), EOF);
	} else if (c->mode[0] == 'a') {
		if (c->len == 0) {
			ck_assert_int_eq(fputc(pat(500), fp), pat(500));
			ck_assert_int_eq(fflush(fp), 0);
			model_put(c, 0, 1, 500);
		}
		ck_assert_int_eq(fputc('x', fp), 'x');
		ck_assert_int_eq(fflush(fp), EOF);
	} else {
		ck_assert_int_eq(fseeko(fp, LIMIT, SEEK_SET), 0);
		ck_assert_int_eq(fputc('x', fp), 'x');
		ck_assert_int_eq(fflush(fp), EOF);
	}
	ck_assert_msg(ferror(fp), "%s: no error indicator", c->name);
	c->pos = (off_t)c->want_len / 2;
	ck_assert_int_eq(fseeko(fp, c->pos, SEEK_SET), 0);
}

/* Open the cell's spool and put it in its state. */
static void cell_open(struct cell *c)
{
	unsigned char *data = pat_buf(0, c->len);
	off_t limit = 0;
	FILE *fp;

	if (c->k == ST_ERR && c->mode[1] == '+')
		limit =
		    c->mode[0] == 'a' ? (c->len ? (off_t)c->len : 1) : LIMIT;
	fp = c->fp =
	    spool_with(c->mode, c->threshold, dir, data, c->len, limit);
	free(data);
	model_put(c, 0, c->len, 0);
	if (c->rolled) {
		ck_assert_int_eq(spool_rollover(fp), 0);
		ck_assert_int_eq(spool_is_rolled(fp), 1);
	}
	switch (c->k) {
	case ST_POS: /* past the end when empty */
		c->pos = (off_t)c->len / 2 + 1;
		ck_assert_int_eq(fseeko(fp, c->pos, SEEK_SET), 0);
		break;
	case ST_PENDING: {
		size_t at = c->mode[0] == 'a' ? c->len : c->len / 2;
		unsigned char *b = pat_buf(1000, N_PENDING);

		ck_assert_int_eq(fseeko(fp, (off_t)c->len / 2, SEEK_SET), 0);
		ck_assert_uint_eq(fwrite(b, 1, N_PENDING, fp), N_PENDING);
		free(b);
		model_put(c, at, N_PENDING, 1000);
		c->pos = (off_t)(at + N_PENDING);
		break;
	}
	case ST_EOF:
		ck_assert_int_eq(fseeko(fp, 0, SEEK_END), 0);
		ck_assert_int_eq(fgetc(fp), EOF);
		ck_assert(feof(fp));
		c->pos = (off_t)c->len;
		break;
	case ST_ERR:
		enter_error(c);
		break;
	default:
		ck_assert_int_eq(fseeko(fp, 0, SEEK_SET), 0);
		ck_assert_int_eq(fgetc(fp), pat(0));
		ck_assert_int_eq(ungetc('Z', fp), 'Z');
		c->push = 'Z';
		break;
	}
}

/* The state is as cell_open() left it. Reads from the stream. */
static void cell_check_state(struct cell *c)
{
	FILE *fp = c->fp;

	ck_assert_msg(!!feof(fp) == (c->k == ST_EOF), "%s: feof %d", c->name,
		      feof(fp));
	ck_assert_msg(!!ferror(fp) == (c->k == ST_ERR), "%s: ferror %d",
		      c->name, ferror(fp));
	if (c->push != EOF) {
		ck_assert_msg(fgetc(fp) == c->push, "%s: pushback lost",
			      c->name);
		ck_assert_int_eq(fgetc(fp), pat(1));
		ck_assert_int_eq(ftello(fp), 2);
		return;
	}
	ck_assert_msg(ftello(fp) == c->pos, "%s: position %jd, want %jd",
		      c->name, (intmax_t)ftello(fp), (intmax_t)c->pos);
	if (c->k == ST_POS && readable(c->mode))
		ck_assert_int_eq(fgetc(fp), (size_t)c->pos < c->want_len
						? c->want[c->pos]
						: EOF);
}

/* The state is kept, the contents are the model's, and it closes. */
static void cell_close(struct cell *c)
{
	cell_check_state(c);
	clearerr(c->fp);
	assert_spool(c->fp, c->want, c->want_len);
	ck_assert_int_eq(fclose(c->fp), 0);
}

START_TEST(test_getvalue_states)
{
	struct cell c;
	size_t len;
	char *v;

	for (int k = 0; k < ST_KINDS; k++) {
		cell_init(&c, _i, k);
		if (!applies(c.mode, c.len, k))
			continue;
		cell_open(&c);
		len = 12345;
		v = spool_getvalue(c.fp, &len);
		ck_assert_msg(v != NULL, "%s: %s", c.name, strerror(errno));
		ck_assert_msg(len == c.want_len, "%s: len %zu, want %zu",
			      c.name, len, c.want_len);
		ck_assert_msg(memcmp(v, c.want, len) == 0, "%s: differs",
			      c.name);
		ck_assert_int_eq(v[len], '\0');
		free(v);
		/* again without a length: the state the first call kept */
		v = spool_getvalue(c.fp, NULL);
		ck_assert_msg(v != NULL, "%s: %s", c.name, strerror(errno));
		ck_assert_msg(memcmp(v, c.want, c.want_len) == 0 &&
				  v[c.want_len] == '\0',
			      "%s: second call differs", c.name);
		free(v);
		cell_close(&c);
	}
}
END_TEST

START_TEST(test_view_states)
{
	const void *d, *d2;
	size_t len, len2;
	struct cell c;

	for (int k = 0; k < ST_KINDS; k++) {
		cell_init(&c, _i, k);
		if (!applies(c.mode, c.len, k))
			continue;
		cell_open(&c);
		d = NULL;
		len = 12345;
		ck_assert_msg(spool_view(c.fp, &d, &len) == 0, "%s: %s", c.name,
			      strerror(errno));
		ck_assert_msg(d != NULL, "%s: NULL view", c.name);
		ck_assert_msg(len == c.want_len, "%s: len %zu, want %zu",
			      c.name, len, c.want_len);
		ck_assert_msg(memcmp(d, c.want, len) == 0, "%s: differs",
			      c.name);
		errno = 0;
		ck_assert_int_eq(spool_view(c.fp, &d2, &len2), -1);
		ck_assert_int_eq(errno, EBUSY);
		cell_check_state(&c); /* with the view live */
		ck_assert_msg(memcmp(d, c.want, len) == 0, "%s: view changed",
			      c.name);
		ck_assert_int_eq(spool_unview(c.fp), 0);
		errno = 0;
		ck_assert_int_eq(spool_unview(c.fp), -1);
		ck_assert_int_eq(errno, EINVAL);
		clearerr(c.fp);
		assert_spool(c.fp, c.want, c.want_len);
		ck_assert_int_eq(fclose(c.fp), 0);
	}
}
END_TEST

START_TEST(test_send_states)
{
	char *path = in_dir("sent");
	unsigned char *got;
	struct cell c;
	size_t len, half;
	off_t off;
	int fd;

	for (int k = 0; k < ST_KINDS; k++) {
		cell_init(&c, _i, k);
		if (!applies(c.mode, c.len, k))
			continue;
		cell_open(&c);
		fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		ck_assert_int_ge(fd, 0);
		off = 0;
		ck_assert_msg(spool_send(c.fp, fd, &off) == 0, "%s: %s", c.name,
			      strerror(errno));
		ck_assert_int_eq(off, (off_t)c.want_len);
		/* at the end already: nothing more to write */
		ck_assert_int_eq(spool_send(c.fp, fd, &off), 0);
		ck_assert_int_eq(off, (off_t)c.want_len);
		/* the second half again, after the first copy */
		half = c.want_len / 2;
		off = (off_t)half;
		ck_assert_int_eq(spool_send(c.fp, fd, &off), 0);
		ck_assert_int_eq(off, (off_t)c.want_len);
		ck_assert_int_eq(lseek(fd, 0, SEEK_CUR),
				 (off_t)(2 * c.want_len - half));
		got = fd_bytes(fd, &len);
		ck_assert_uint_eq(len, 2 * c.want_len - half);
		ck_assert_msg(memcmp(got, c.want, c.want_len) == 0 &&
				  memcmp(got + c.want_len, c.want + half,
					 c.want_len - half) == 0,
			      "%s: sent bytes differ", c.name);
		free(got);
		close(fd);
		cell_close(&c);
	}
	ck_assert_int_eq(unlink(path), 0);
	free(path);
}
END_TEST

START_TEST(test_persist_states)
{
	char *path = in_dir("out");
	struct cell c;
	struct stat st;

	for (int k = 0; k < ST_KINDS; k++) {
		cell_init(&c, _i, k);
		if (!applies(c.mode, c.len, k))
			continue;
		cell_open(&c);
		ck_assert_msg(spool_persist(c.fp, path, 0) == 0, "%s: %s",
			      c.name, strerror(errno));
		assert_file(path, c.want, c.want_len);
		ck_assert_int_eq(stat(path, &st), 0);
		ck_assert(S_ISREG(st.st_mode));
		ck_assert_uint_eq(st.st_mode & 07777, 0644);
		errno = 0;
		ck_assert_int_eq(spool_persist(c.fp, path, 0), -1);
		ck_assert_int_eq(errno, EEXIST);
		/* the same spool again over its own first name */
		ck_assert_msg(
		    spool_persist(c.fp, path, SPOOL_REPLACE | SPOOL_SYNC) == 0,
		    "%s: replace: %s", c.name, strerror(errno));
		assert_file(path, c.want, c.want_len);
		ck_assert_int_eq(tu_count_entries(dir), 1);
		cell_close(&c);
		assert_file(path, c.want, c.want_len);
		ck_assert_int_eq(unlink(path), 0);
	}
	free(path);
}
END_TEST

/* ---- arguments ---- */

/* Streams that are not spools. */
enum { F_NULL, F_STDIN, F_TMPFILE, F_FMEMOPEN, F_KINDS };

static FILE *foreign(int which, char *membuf)
{
	FILE *fp;

	switch (which) {
	case F_NULL:
		return NULL;
	case F_STDIN:
		return stdin;
	case F_TMPFILE:
		fp = tmpfile();
		break;
	default:
		fp = fmemopen(membuf, 16, "w+");
		break;
	}
	ck_assert_ptr_nonnull(fp);
	ck_assert_int_ge(fputs("abc", fp), 0); /* something to get out */
	return fp;
}

/* Each function refuses a stream that is not a spool, with EINVAL, and
 * touches neither the descriptor nor the path it was given. */
START_TEST(test_contents_foreign_einval)
{
	char membuf[16], *path = in_dir("out");
	const void *d = NULL;
	size_t len = 7;
	FILE *fp = foreign(_i, membuf);
	off_t off = 0;
	int p[2];

	ck_assert_int_eq(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
	errno = 0;
	ck_assert_ptr_null(spool_getvalue(fp, &len));
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_uint_eq(len, 7);
	errno = 0;
	ck_assert_int_eq(spool_view(fp, &d, &len), -1);
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_int_eq(spool_unview(fp), -1);
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_int_eq(spool_send(fp, p[1], &off), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(off, 0);
	ck_assert_int_eq(read(p[0], membuf, 1), -1); /* nothing was sent */
	ck_assert_int_eq(errno, EAGAIN);
	errno = 0;
	ck_assert_int_eq(spool_persist(fp, path, SPOOL_REPLACE), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(tu_count_entries(dir), 0);
	if (_i >= F_TMPFILE)
		ck_assert_int_eq(fclose(fp), 0);
	close(p[0]);
	close(p[1]);
	free(path);
}
END_TEST

/* Bad offsets, flags, paths and descriptors, on a spool of 10 bytes. */
START_TEST(test_contents_bad_arguments)
{
	char *path = in_dir("out"), *deep = in_dir("missing/out");
	size_t n = 10;
	FILE *fp = pat_spool(_i, &n);
	static const unsigned bad_flags[] = {0x4u, 0x8u, 0x80000000u, ~0u,
					     SPOOL_REPLACE | 0x100u};
	off_t off;
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC), p[2];

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
	ck_assert_int_eq(fseeko(fp, 3, SEEK_SET), 0);
	errno = 0;
	ck_assert_int_eq(spool_send(fp, p[1], NULL), -1);
	ck_assert_int_eq(errno, EINVAL);
	for (int i = 0; i < 3; i++) {
		static const off_t bad_off[] = {-1, 11, INT64_MAX};

		off = bad_off[i];
		errno = 0;
		ck_assert_int_eq(spool_send(fp, p[1], &off), -1);
		ck_assert_int_eq(errno, EINVAL);
		ck_assert_int_eq(off, bad_off[i]);
	}
	ck_assert_int_eq(read(p[0], path, 1), -1); /* nothing was sent */
	off = 0;
	errno = 0;
	ck_assert_int_eq(spool_send(fp, -1, &off), -1);
	ck_assert_int_eq(errno, EBADF);
	ck_assert_int_eq(off, 0);
	errno = 0;
	ck_assert_int_eq(spool_send(fp, fd, &off), -1); /* read-only fd */
	ck_assert_int_eq(errno, EBADF);
	ck_assert_int_eq(off, 0);
	errno = 0;
	ck_assert_int_eq(spool_persist(fp, NULL, 0), -1);
	ck_assert_int_eq(errno, EINVAL);
	for (size_t i = 0; i < sizeof(bad_flags) / sizeof(bad_flags[0]); i++) {
		errno = 0;
		ck_assert_int_eq(spool_persist(fp, path, bad_flags[i]), -1);
		ck_assert_int_eq(errno, EINVAL);
	}
	errno = 0;
	ck_assert_int_eq(spool_persist(fp, deep, 0), -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_int_eq(tu_count_entries(dir), 0);
	ck_assert_int_eq(ftello(fp), 3);
	ck_assert_int_eq(ferror(fp), 0);
	ck_assert_int_eq(fclose(fp), 0);
	close(fd);
	close(p[0]);
	close(p[1]);
	free(path);
	free(deep);
}
END_TEST

/* ---- spool_getvalue ---- */

/* Embedded NULs come back whole; the NUL after them is there too. */
START_TEST(test_getvalue_embedded_nuls)
{
	static const char data[] = "a\0b\0\0c\0";
	FILE *fp = spool_with("w+", _i ? 0 : SIZE_MAX, dir, NULL, 0, 0);
	size_t len;
	char *v;

	ck_assert_uint_eq(fwrite(data, 1, 8, fp), 8);
	v = spool_getvalue(fp, &len);
	ck_assert_ptr_nonnull(v);
	ck_assert_uint_eq(len, 8); /* the literal's own NUL is content too */
	ck_assert_mem_eq(v, data, 8);
	ck_assert_int_eq(v[8], '\0');
	free(v);
	ck_assert_int_eq(fclose(fp), 0);
}
END_TEST

/* Large contents, also over many pieces; the buffer is the caller's
 * copy: later writes do not change it. */
START_TEST(test_getvalue_large_is_a_copy)
{
	size_t n = 300 * KiB, len;
	FILE *fp = pat_spool(_i, &n);
	unsigned char *want = pat_buf(0, n);
	char *v = spool_getvalue(fp, &len);

	ck_assert_ptr_nonnull(v);
	ck_assert_uint_eq(len, n);
	ck_assert_msg(memcmp(v, want, n) == 0, "%s: differs", at_name[_i]);
	ck_assert_int_eq(v[n], '\0');
	rewind(fp);
	ck_assert_uint_eq(fwrite("XYZ", 1, 3, fp), 3);
	ck_assert_int_eq(fseeko(fp, 0, SEEK_END), 0);
	ck_assert_uint_eq(fwrite("tail", 1, 4, fp), 4);
	ck_assert_int_eq(fflush(fp), 0);
	ck_assert_msg(memcmp(v, want, n) == 0 && v[n] == '\0',
		      "%s: the copy changed with the spool", at_name[_i]);
	free(v);
	free(want);
	ck_assert_int_eq(fclose(fp), 0);
}
END_TEST

/* ---- spool_view ---- */

/* An empty spool gives a valid pointer and length 0, also on disk. */
START_TEST(test_view_empty)
{
	FILE *fp = spool_with("w+", SIZE_MAX, dir, NULL, 0, 0);
	const void *d = NULL;
	size_t len = 1;

	if (_i)
		ck_assert_int_eq(spool_rollover(fp), 0);
	ck_assert_int_eq(spool_view(fp, &d, &len), 0);
	ck_assert_ptr_nonnull(d);
	ck_assert_uint_eq(len, 0);
	ck_assert_int_eq(spool_unview(fp), 0);
	ck_assert_int_eq(spool_is_rolled(fp), _i);
	ck_assert_int_eq(fclose(fp), 0);
}
END_TEST

/* One view at a time; spool_unview() only for a live one; a new view
 * after spool_unview() sees what was written meanwhile. */
START_TEST(test_view_one_at_a_time)
{
	size_t n = 1000, len;
	FILE *fp = pat_spool(_i, &n);
	unsigned char *want = pat_buf(0, n + 5);
	const void *d, *d2 = NULL;

	errno = 0;
	ck_assert_int_eq(spool_unview(fp), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(spool_view(fp, &d, &len), 0);
	ck_assert_uint_eq(len, n);
	errno = 0;
	ck_assert_int_eq(spool_view(fp, &d2, &len), -1);
	ck_assert_int_eq(errno, EBUSY);
	ck_assert_uint_eq(len, n);
	ck_assert_int_eq(spool_unview(fp), 0);
	errno = 0;
	ck_assert_int_eq(spool_unview(fp), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(fseeko(fp, 0, SEEK_END), 0);
	ck_assert_uint_eq(fwrite(want + n, 1, 5, fp), 5); /* unflushed */
	ck_assert_int_eq(spool_view(fp, &d, &len), 0);
	ck_assert_uint_eq(len, n + 5);
	ck_assert_msg(memcmp(d, want, n + 5) == 0, "%s: differs", at_name[_i]);
	ck_assert_int_eq(spool_unview(fp), 0);
	free(want);
	ck_assert_int_eq(fclose(fp), 0);
}
END_TEST

/* How a live view's spool grows in test_view_survives_growth. */
enum { GROW_MEMORY, GROW_DISK, GROW_SEGMENTS, GROW_ROLLS, GROW_KINDS };

/*
 * While a view is live the viewed bytes stay readable and keep their
 * values: through appends past 256 KiB (the image growing from one
 * piece into many, or a write rolling it over to disk), an explicit
 * spool_rollover() and spool_fileno(). Its length stays what it was.
 */
START_TEST(test_view_survives_growth)
{
	struct spool_options o = {.threshold = SIZE_MAX, .dir = dir};
	size_t n = _i == GROW_SEGMENTS ? MiB + 3 : 1000, len, total;
	unsigned char *more = pat_buf(0, 1536 * KiB), *snap;
	const void *d;
	FILE *fp;
	char *v;

	if (_i == GROW_DISK)
		o.threshold = 0;
	else if (_i == GROW_ROLLS)
		o.threshold = 256 * KiB;
	fp = spool_fopen_opts(&o, "w+");
	ck_assert_ptr_nonnull(fp);
	for (size_t i = 0; i < n; i += 64 * KiB) {
		size_t k = n - i < 64 * KiB ? n - i : 64 * KiB;

		ck_assert_uint_eq(fwrite(more + i, 1, k, fp), k);
		ck_assert_int_eq(fflush(fp), 0);
	}
	ck_assert_int_eq(fseeko(fp, 7, SEEK_SET), 0);
	ck_assert_int_eq(spool_view(fp, &d, &len), 0);
	ck_assert_uint_eq(len, n);
	snap = pat_buf(0, n);
	ck_assert_int_eq(fseeko(fp, 0, SEEK_END), 0);
	for (size_t i = 0; i < 1536 * KiB; i += 96 * KiB) {
		ck_assert_uint_eq(fwrite(more, 1, 96 * KiB, fp), 96 * KiB);
		ck_assert_int_eq(fflush(fp), 0);
		ck_assert_msg(memcmp(d, snap, n) == 0,
			      "view changed after %zu more bytes", i);
	}
	total = n + 1536 * KiB;
	ck_assert_int_eq(spool_is_rolled(fp),
			 _i == GROW_DISK || _i == GROW_ROLLS);
	ck_assert_int_eq(spool_rollover(fp), 0);
	ck_assert_msg(memcmp(d, snap, n) == 0, "view changed by rollover");
	ck_assert_int_ge(spool_fileno(fp), 0);
	ck_assert_msg(memcmp(d, snap, n) == 0, "view changed by fileno");
	ck_assert_int_eq(spool_unview(fp), 0);
	v = spool_getvalue(fp, &len);
	ck_assert_ptr_nonnull(v);
	ck_assert_uint_eq(len, total);
	ck_assert(memcmp(v, snap, n) == 0);
	for (size_t i = n; i < total; i += 96 * KiB)
		ck_assert(memcmp(v + i, more, 96 * KiB) == 0);
	free(v);
	free(snap);
	free(more);
	ck_assert_int_eq(fclose(fp), 0);
}
END_TEST

/* spool_truncate() below a live view's length: EBUSY, nothing cut; at
 * or above it, it works; after spool_unview() anything goes. */
START_TEST(test_view_truncate_ebusy)
{
	size_t n = 3000, len;
	FILE *fp = pat_spool(_i, &n);
	unsigned char *want = pat_buf(0, n);
	const void *d;

	ck_assert_int_eq(spool_view(fp, &d, &len), 0);
	for (int i = 0; i < 2; i++) {
		errno = 0;
		ck_assert_int_eq(spool_truncate(fp, i ? 0 : (off_t)n - 1), -1);
		ck_assert_int_eq(errno, EBUSY);
		ck_assert_int_eq(spool_size(fp), (off_t)n);
	}
	ck_assert_int_eq(spool_truncate(fp, (off_t)n), 0);
	ck_assert_int_eq(spool_truncate(fp, (off_t)n + 5000), 0);
	ck_assert_int_eq(spool_size(fp), (off_t)n + 5000);
	ck_assert_int_eq(spool_truncate(fp, (off_t)n), 0);
	ck_assert_msg(memcmp(d, want, n) == 0, "%s: view changed", at_name[_i]);
	ck_assert_int_eq(spool_unview(fp), 0);
	ck_assert_int_eq(spool_truncate(fp, 1), 0);
	assert_spool(fp, want, 1);
	free(want);
	ck_assert_int_eq(fclose(fp), 0);
}
END_TEST

/* Lines in /proc/self/maps: one per mapping (distinct files never
 * merge into one). */
static int map_count(void)
{
	FILE *f = fopen("/proc/self/maps", "re");
	int c, n = 0;

	ck_assert_ptr_nonnull(f);
	while ((c = getc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

/* fclose() releases a live view: no descriptor stays open (the fixture
 * counts them), no mapping stays behind and the heap is as it was.
 * 100 spools each way: a view kept by fclose is 100 mappings, or
 * 500 KB to 100 MB of heap. */
START_TEST(test_view_released_by_fclose)
{
	size_t n = 5000, len, heap = 0;
	int maps = 0, i, rounds = tu_heap_measurable() ? 100 : 0;
	FILE *fp;
	const void *d;

	for (i = 0; i <= rounds; i++) {
		if (i == 1) { /* the first one set up stdio and the registry */
			heap = tu_heap_used();
			maps = map_count();
		}
		fp = pat_spool(_i, &n);
		ck_assert_int_eq(spool_view(fp, &d, &len), 0);
		ck_assert_uint_eq(len, n);
		ck_assert_int_eq(fclose(fp), 0);
	}
	if (rounds == 0) /* valgrind or ASan: they check this one spool */
		return;
	ck_assert_msg(map_count() <= maps + 2, "%d mappings more, %s",
		      map_count() - maps, at_name[_i]);
	ck_assert_msg(tu_heap_used() < heap + 64 * KiB,
		      "the heap grew by %zu bytes, %s", tu_heap_used() - heap,
		      at_name[_i]);
}
END_TEST

/* On disk the view is a read-only mapping of the spool's own file. */
START_TEST(test_view_on_disk_is_read_only_mapping)
{
	size_t n = 10000, len;
	FILE *fp = pat_spool(AT_DISK, &n);
	FILE *maps;
	uintptr_t lo, hi, at;
	unsigned long ino;
	char perms[8], line[512];
	struct stat st;
	const void *d;
	int found = 0;

	ck_assert_int_eq(spool_view(fp, &d, &len), 0);
	ck_assert_int_eq(fstat(spool_fileno(fp), &st), 0);
	at = (uintptr_t)d;
	maps = fopen("/proc/self/maps", "re");
	ck_assert_ptr_nonnull(maps);
	while (fgets(line, sizeof(line), maps) != NULL) {
		if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " %7s %*s %*s %lu",
			   &lo, &hi, perms, &ino) == 4 &&
		    at >= lo && at < hi) {
			found = 1;
			break;
		}
	}
	fclose(maps);
	ck_assert_msg(found, "view %p is in no mapping", d);
	ck_assert_msg(perms[1] == '-', "view mapped \"%s\"", perms);
	ck_assert_uint_eq(ino, st.st_ino);
	ck_assert_int_eq(spool_unview(fp), 0);
	ck_assert_int_eq(fclose(fp), 0);
}
END_TEST

/* ---- spool_send ---- */

/* Sleep for `us` microseconds. */
static void nap(long us)
{
	struct timespec ts = {.tv_sec = us / 1000000,
			      .tv_nsec = us % 1000000 * 1000};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* A reader thread: reads fd to its end into buf (one byte more than
 * expected fits, so an excess shows). A slow one waits before its first
 * read and reads 4 KiB at a time with a pause after each. */
struct drain {
	pthread_t thread;
	int fd, slow, err;
	unsigned char *buf;
	size_t cap, len;
};

static void *drain_run(void *arg)
{
	struct drain *r = arg;
	size_t want;
	ssize_t k;

	if (r->slow)
		nap(50000);
	while (r->len < r->cap) {
		want = r->cap - r->len;
		if (r->slow && want > 4096)
			want = 4096;
		k = read(r->fd, r->buf + r->len, want);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			r->err = k < 0 ? errno : 0;
			break;
		}
		r->len += (size_t)k;
		if (r->slow)
			nap(100);
	}
	return NULL;
}

static void drain_start(struct drain *r, int fd, size_t expect, int slow)
{
	memset(r, 0, sizeof(*r));
	r->fd = fd;
	r->slow = slow;
	r->cap = expect + 1;
	r->buf = malloc(r->cap);
	ck_assert_ptr_nonnull(r->buf);
	ck_assert_int_eq(pthread_create(&r->thread, NULL, drain_run, r), 0);
}

/* Join the reader; it got exactly want[0, n). */
static void drain_finish(struct drain *r, const unsigned char *want, size_t n)
{
	ck_assert_int_eq(pthread_join(r->thread, NULL), 0);
	ck_assert_int_eq(r->err, 0);
	ck_assert_uint_eq(r->len, n);
	ck_assert_msg(memcmp(r->buf, want, n) == 0, "received bytes differ");
	free(r->buf);
}

/*
 * Send all of fp to fd, polling on EAGAIN; returns how many EAGAINs.
 * *offset only grows, never past the size, and the first EAGAIN (the
 * pipe was empty when the send began) comes after some progress.
 */
static int send_all(FILE *fp, int fd, off_t size)
{
	struct pollfd pf = {.fd = fd, .events = POLLOUT};
	off_t off = 0, last = 0;
	int eagains = 0;

	while (spool_send(fp, fd, &off) != 0) {
		ck_assert_msg(errno == EAGAIN, "spool_send: %s",
			      strerror(errno));
		ck_assert_int_ge(off, last);
		ck_assert_int_lt(off, size);
		if (eagains++ == 0)
			ck_assert_msg(off > 0, "EAGAIN with no progress");
		last = off;
		ck_assert_int_eq(poll(&pf, 1, 30000), 1);
	}
	ck_assert_int_eq(off, size);
	return eagains;
}

/* Send to a regular file at its own position, after what it holds;
 * to an O_APPEND one (moved back to 0 first) at its end, as write(2)
 * does (copy_file_range(2) refuses such a target). */
START_TEST(test_send_regular_file_at_fd_position)
{
	int at = _i % AT_KINDS, append = _i / AT_KINDS;
	char *path = in_dir("sent");
	size_t n = 300 * KiB, len;
	FILE *fp = pat_spool(at, &n);
	unsigned char *want = pat_buf(0, n), *got;
	off_t off = 0;
	int fd = open(path,
		      O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC |
			  (append ? O_APPEND : 0),
		      0600);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "HEAD", 4), 4);
	if (append)
		ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
	ck_assert_int_eq(fseeko(fp, 5, SEEK_SET), 0);
	ck_assert_int_eq(spool_send(fp, fd, &off), 0);
	ck_assert_int_eq(off, (off_t)n);
	ck_assert_int_eq(lseek(fd, 0, SEEK_CUR), (off_t)n + 4);
	got = fd_bytes(fd, &len);
	ck_assert_uint_eq(len, n + 4);
	ck_assert_mem_eq(got, "HEAD", 4);
	ck_assert_msg(memcmp(got + 4, want, n) == 0, "%s%s: differs",
		      at_name[at], append ? ", O_APPEND" : "");
	ck_assert_int_eq(ftello(fp), 5);
	ck_assert_int_eq(fgetc(fp), pat(5));
	free(got);
	free(want);
	close(fd);
	ck_assert_int_eq(unlink(path), 0);
	free(path);
	ck_assert_int_eq(fclose(fp), 0);
}
END_TEST

/* Descriptors a spool is sent to, with a reader thread at the far end. */
enum { D_PIPE, D_PIPE_NONBLOCK, D_SOCKETPAIR, D_KINDS };
static const char *const d_name[] = {"pipe", "non-blocking pipe",
				     "socket pair"};

/* 1 MiB and more, many times a pipe's or socket's buffer: to a blocking
 * one in one call; to a non-blocking one with a slow reader through
 * EAGAIN, poll() and calls again with the same *offset. */
START_TEST(test_send_pipe_and_socket)
{
	int at = _i % AT_KINDS, kind = _i / AT_KINDS, p[2], eagains;
	size_t n = MiB + 4099;
	FILE *fp = pat_spool(at, &n);
	unsigned char *want = pat_buf(0, n);
	struct drain r;

	if (kind == D_SOCKETPAIR)
		ck_assert_int_eq(
		    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p), 0);
	else
		ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	if (kind == D_PIPE_NONBLOCK)
		ck_assert_int_eq(fcntl(p[1], F_SETFL, O_NONBLOCK), 0);
	ck_assert_int_eq(fseeko(fp, 9, SEEK_SET), 0);
	drain_start(&r, p[0], n, kind == D_PIPE_NONBLOCK);
	eagains = send_all(fp, p[1], (off_t)n);
	close(p[1]);
	drain_finish(&r, want, n);
	if (kind == D_PIPE_NONBLOCK)
		ck_assert_msg(eagains > 0, "%s, %s: never EAGAIN", d_name[kind],
			      at_name[at]);
	else
		ck_assert_int_eq(eagains, 0);
	ck_assert_int_eq(ftello(fp), 9);
	close(p[0]);
	free(want);
	ck_assert_int_eq(fclose(fp), 0);
}
END_TEST

/* A pipe with no reader: EPIPE (SIGPIPE ignored, as a server would),
 * nothing counted as sent. */
START_TEST(test_send_broken_pipe_epipe)
{
	struct sigaction ign = {.sa_handler = SIG_IGN}, old;
	size_t n = 70 * KiB;
	FILE *fp = pat_spool(_i, &n);
	off_t off = 0;
	int p[2];

	ck_assert_int_eq(sigaction(SIGPIPE, &ign, &old), 0);
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	close(p[0]);
	errno = 0;
	ck_assert_int_eq(spool_send(fp, p[1], &off), -1);
	ck_assert_int_eq(errno, EPIPE);
	ck_assert_int_eq(off, 0);
	close(p[1]);
	ck_assert_int_eq(sigaction(SIGPIPE, &old, NULL), 0);
	ck_assert_int_eq(fclose(fp), 0);
}
END_TEST

/* n pattern bytes written to fp in 64 KiB steps; 0 when all were taken
 * (child-safe: no ck_assert). */
static int put_pat(FILE *fp, size_t n)
{
	unsigned char buf[64 * 1024];

	for (size_t i = 0; i < n; i += sizeof(buf)) {
		size_t k = n - i < sizeof(buf) ? n - i : sizeof(buf);

		for (size_t j = 0; j < k; j++)
			buf[j] = pat(i + j);
		if (fwrite(buf, 1, k, fp) != k || fflush(fp) != 0)
			return -1;
	}
	return 0;
}

/* fd's first n bytes are the pattern (child-safe). */
static int fd_has_pat(int fd, size_t n)
{
	unsigned char buf[64 * 1024];

	for (size_t i = 0; i < n; i += sizeof(buf)) {
		size_t k = n - i < sizeof(buf) ? n - i : sizeof(buf);

		if (pread(fd, buf, k, (off_t)i) != (ssize_t)k)
			return 0;
		for (size_t j = 0; j < k; j++)
			if (buf[j] != pat(i + j))
				return 0;
	}
	return 1;
}

static char *mnt; /* a tmpfs mount point in children, under dir */

static void mnt_setup(void)
{
	setup();
	mnt = in_dir("mnt");
	ck_assert_int_eq(mkdir(mnt, 0700), 0);
}

static void mnt_teardown(void)
{
	ck_assert_int_eq(tu_count_entries(mnt), 0); /* the child's mount went */
	ck_assert_int_eq(rmdir(mnt), 0);
	free(mnt);
	teardown();
}

/* Where the spool is when a send or persist meets a full tmpfs. */
enum { FULL_MEMORY, FULL_DISK_ELSEWHERE, FULL_DISK_SAME, FULL_KINDS };
static const char *const full_name[] = {"in memory", "on disk elsewhere",
					"on disk on the same tmpfs"};

/*
 * A 4 MiB tmpfs fills during the send: -1 with ENOSPC, and *offset,
 * the file's size and its position all say how much was written, which
 * is the contents' head. The spool is in memory, on disk elsewhere, or
 * on disk on the same tmpfs (the kernel's copy within one file system).
 */
static int send_full(void *arg)
{
	int at = *(int *)arg;
	struct spool_options o = {.threshold = at == FULL_MEMORY ? SIZE_MAX : 0,
				  .dir = at == FULL_DISK_SAME ? mnt : dir};
	size_t n = at == FULL_DISK_SAME ? 3 * MiB : 5 * MiB;
	char target[PATH_MAX];
	struct stat st;
	off_t off = 0;
	FILE *fp;
	int fd;

	TU_REQUIRE(tu_private_tmpfs(mnt, 4 * MiB) == 0);
	TU_REQUIRE((fp = spool_fopen_opts(&o, "w+")) != NULL);
	TU_REQUIRE(put_pat(fp, n) == 0);
	TU_REQUIRE(spool_is_rolled(fp) == (at != FULL_MEMORY));
	snprintf(target, sizeof(target), "%s/target", mnt);
	TU_REQUIRE((fd = open(target, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) >=
		   0);
	errno = 0;
	TU_REQUIRE(spool_send(fp, fd, &off) == -1 && errno == ENOSPC);
	TU_REQUIRE(off > 0 && off < (off_t)n);
	TU_REQUIRE(fstat(fd, &st) == 0 && st.st_size == off);
	TU_REQUIRE(lseek(fd, 0, SEEK_CUR) == off);
	TU_REQUIRE(fd_has_pat(fd, (size_t)off));
	TU_REQUIRE(spool_size(fp) == (off_t)n);
	printf("send, disk full, %s: ENOSPC after %jd of %zu bytes\n",
	       full_name[at], (intmax_t)off, n);
	fflush(stdout);
	close(fd);
	TU_REQUIRE(fclose(fp) == 0);
	return 0;
}

START_TEST(test_send_disk_full_enospc)
{
	int at = _i;

	tu_in_child(send_full, &at);
}
END_TEST

/* ---- spool_persist ---- */

/* The new file's mode is 0666 & ~umask, as fopen() would create it,
 * also when it replaces a file of another mode, and when the spool's
 * own 0600 temp file is linked into place. */
START_TEST(test_persist_mode_under_umask)
{
	static const mode_t masks[] = {022, 077, 0};
	mode_t mask = masks[_i / 2];
	char *path = in_dir("out");
	size_t n = 100;
	FILE *fp = pat_spool(_i % 2 ? AT_DISK : AT_MEMORY, &n);
	struct stat st;

	umask(mask);
	ck_assert_int_eq(spool_persist(fp, path, 0), 0);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0666 & ~mask);
	ck_assert_int_eq(chmod(path, 0700), 0);
	ck_assert_int_eq(spool_persist(fp, path, SPOOL_REPLACE), 0);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0666 & ~mask);
	ck_assert_int_eq(unlink(path), 0);
	free(path);
	ck_assert_int_eq(fclose(fp), 0);
}
END_TEST

/* Without SPOOL_REPLACE an existing name is EEXIST: a file, a dangling
 * symlink (not followed, so its target is not created), a directory. */
START_TEST(test_persist_existing_eexist)
{
	char *file = in_dir("old"), *link = in_dir("link"),
	     *nowhere = in_dir("nowhere"), *sub = in_dir("sub");
	size_t n = 100;
	FILE *fp = pat_spool(_i, &n);
	struct stat st;

	make_file(file, "old");
	ck_assert_int_eq(symlink("nowhere", link), 0);
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	errno = 0;
	ck_assert_int_eq(spool_persist(fp, file, SPOOL_SYNC), -1);
	ck_assert_int_eq(errno, EEXIST);
	errno = 0;
	ck_assert_int_eq(spool_persist(fp, link, 0), -1);
	ck_assert_int_eq(errno, EEXIST);
	errno = 0;
	ck_assert_int_eq(spool_persist(fp, sub, 0), -1);
	ck_assert_int_eq(errno, EEXIST);
	assert_file(file, "old", 3);
	ck_assert_int_eq(lstat(link, &st), 0);
	ck_assert(S_ISLNK(st.st_mode));
	ck_assert_int_eq(access(nowhere, F_OK), -1);
	ck_assert_int_eq(tu_count_entries(dir), 3);
	/* On disk the refused link left the temp file's mode as it was. */
	if (spool_is_rolled(fp) == 1) {
		ck_assert_int_eq(fstat(spool_fileno(fp), &st), 0);
		ck_assert_int_eq(st.st_mode & 07777, 0600);
	}
	ck_assert_int_eq(fclose(fp), 0);
	ck_assert_int_eq(unlink(file), 0);
	ck_assert_int_eq(unlink(link), 0);
	ck_assert_int_eq(rmdir(sub), 0);
	free(file);
	free(link);
	free(nowhere);
	free(sub);
}
END_TEST

/* SPOOL_REPLACE over a file: the new contents, one name, no leftovers. */
START_TEST(test_persist_replace_file)
{
	char *path = in_dir("out");
	size_t n = 300 * KiB;
	FILE *fp = pat_spool(_i, &n);
	unsigned char *want = pat_buf(0, n);
	struct stat st;

	make_file(path, "old contents, longer than nothing");
	ck_assert_int_eq(spool_persist(fp, path, SPOOL_REPLACE), 0);
	assert_file(path, want, n);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_nlink, 1);
	ck_assert_int_eq(tu_count_entries(dir), 1);
	ck_assert_int_eq(fclose(fp), 0);
	assert_file(path, want, n);
	ck_assert_int_eq(unlink(path), 0);
	free(want);
	free(path);
}
END_TEST

/* SPOOL_REPLACE over a symlink replaces the link, as rename(2) does:
 * its target keeps its contents. */
START_TEST(test_persist_replace_symlink)
{
	char *path = in_dir("out"), *target = in_dir("target");
	size_t n = 100;
	FILE *fp = pat_spool(_i, &n);
	unsigned char *want = pat_buf(0, n);
	struct stat st;

	make_file(target, "keep");
	ck_assert_int_eq(symlink("target", path), 0);
	ck_assert_int_eq(spool_persist(fp, path, SPOOL_REPLACE), 0);
	ck_assert_int_eq(lstat(path, &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	assert_file(path, want, n);
	assert_file(target, "keep", 4);
	ck_assert_int_eq(tu_count_entries(dir), 2);
	ck_assert_int_eq(fclose(fp), 0);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(unlink(target), 0);
	free(want);
	free(path);
	free(target);
}
END_TEST

/* SPOOL_REPLACE over a directory, empty or not, fails as rename(2)
 * would (EISDIR; EEXIST or ENOTEMPTY from other ways of doing it) and
 * leaves the directory and what is in it alone, with nothing beside. */
START_TEST(test_persist_replace_directory_fails)
{
	char *path = in_dir("out"), *inside = in_dir("out/inside");
	size_t n = 100;
	FILE *fp = pat_spool(_i % 2, &n);
	struct stat st;
	int err;

	ck_assert_int_eq(mkdir(path, 0700), 0);
	if (_i / 2)
		make_file(inside, "in");
	errno = 0;
	ck_assert_int_eq(spool_persist(fp, path, SPOOL_REPLACE), -1);
	err = errno;
	ck_assert_msg(err == EISDIR || err == EEXIST || err == ENOTEMPTY,
		      "errno %d (%s)", err, strerror(err));
	ck_assert_int_eq(lstat(path, &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	ck_assert_int_eq(tu_count_entries(path), _i / 2);
	if (_i / 2) {
		assert_file(inside, "in", 2);
		ck_assert_int_eq(unlink(inside), 0);
	}
	ck_assert_int_eq(tu_count_entries(dir), 1);
	ck_assert_int_eq(rmdir(path), 0);
	ck_assert_int_eq(fclose(fp), 0);
	free(path);
	free(inside);
}
END_TEST

/* How test_persist_later_writes gets its spool and what it checks. */
enum { LW_MEMORY, LW_DISK, LW_SEGMENTS, LW_DISK_VIEW, LW_KINDS };

/*
 * After persisting, nothing done through fp changes the files it was
 * persisted to: overwrites, appends, truncation down and up, a
 * rollover, spool_fileno(), fclose. On disk on path's file system the
 * temp file itself is linked into place (same inode). With a live view
 * (no truncation below it then) the view keeps its bytes as well.
 */
START_TEST(test_persist_later_writes_never_reach_path)
{
	char *path = in_dir("out"), *path2 = in_dir("out2");
	size_t n = 5000, len;
	int at = _i == LW_DISK_VIEW ? AT_DISK : _i;
	FILE *fp = pat_spool(at, &n);
	unsigned char *want = pat_buf(0, n), *tail = pat_buf(7, 100);
	const void *d = NULL;
	struct stat st;
	ino_t ino = 0;
	char *v;

	if (at == AT_DISK) {
		ck_assert_int_eq(fstat(spool_fileno(fp), &st), 0);
		ino = st.st_ino;
	}
	if (_i == LW_DISK_VIEW)
		ck_assert_int_eq(spool_view(fp, &d, &len), 0);
	ck_assert_int_eq(spool_persist(fp, path, 0), 0);
	if (at == AT_DISK) {
		ck_assert_int_eq(stat(path, &st), 0);
		ck_assert_msg(st.st_ino == ino,
			      "on disk, same file system: "
			      "the file was copied, not linked");
	}
	ck_assert_int_eq(spool_persist(fp, path2, 0), 0);
	if (_i != LW_DISK_VIEW) {
		rewind(fp);
		ck_assert_uint_eq(fwrite("XXXX", 1, 4, fp), 4);
		ck_assert_int_eq(fflush(fp), 0);
		assert_file(path, want, n);
	}
	ck_assert_int_eq(fseeko(fp, 0, SEEK_END), 0);
	ck_assert_uint_eq(fwrite(tail, 1, 100, fp), 100);
	ck_assert_int_eq(fflush(fp), 0);
	assert_file(path, want, n);
	if (_i != LW_DISK_VIEW) {
		ck_assert_int_eq(spool_truncate(fp, 10), 0);
		assert_file(path, want, n);
	}
	ck_assert_int_eq(spool_truncate(fp, 20000), 0);
	assert_file(path, want, n);
	ck_assert_int_eq(spool_rollover(fp), 0);
	ck_assert_int_ge(spool_fileno(fp), 0);
	v = spool_getvalue(fp, &len);
	ck_assert_ptr_nonnull(v);
	ck_assert_uint_eq(len, 20000);
	if (_i == LW_DISK_VIEW) {
		ck_assert(memcmp(v, want, n) == 0);
		ck_assert(memcmp(v + n, tail, 100) == 0);
		ck_assert_msg(memcmp(d, want, n) == 0, "the view changed");
		ck_assert_int_eq(spool_unview(fp), 0);
	} else {
		ck_assert_mem_eq(v, "XXXX", 4);
		ck_assert(memcmp(v + 4, want + 4, 6) == 0);
		for (size_t i = 10; i < 20000; i++)
			ck_assert_int_eq(v[i], 0);
	}
	free(v);
	ck_assert_int_eq(fclose(fp), 0);
	assert_file(path, want, n);
	assert_file(path2, want, n);
	ck_assert_int_eq(tu_count_entries(dir), 2);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(unlink(path2), 0);
	free(want);
	free(tail);
	free(path);
	free(path2);
}
END_TEST

/* The first change after a spool's temp file was linked into place. */
enum { FC_WRITE, FC_CUT, FC_GROW, FC_KINDS };
static const char *const fc_modes[] = {"r+", "w+", "a", "a+"};

/*
 * On disk on path's file system the temp file itself becomes the file
 * at path; whatever the first change through fp is (a write: an append
 * in "a" modes; spool_truncate() down or up), it must not reach path,
 * and the spool must have the change.
 */
START_TEST(test_persist_first_change_after_link)
{
	const char *mode = fc_modes[_i / FC_KINDS];
	int change = _i % FC_KINDS;
	unsigned char *want = pat_buf(0, 200), *orig = pat_buf(0, 100);
	char *path = in_dir("out");
	FILE *fp = spool_with(mode, 0, dir, want, 100, 0);
	struct stat st, ft;

	ck_assert_int_eq(fstat(spool_fileno(fp), &ft), 0);
	ck_assert_int_eq(spool_persist(fp, path, 0), 0);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_ino, ft.st_ino); /* linked, not copied */
	switch (change) {
	case FC_WRITE:
		rewind(fp);
		ck_assert_uint_eq(fwrite("XY", 1, 2, fp), 2);
		ck_assert_int_eq(fflush(fp), 0);
		break;
	case FC_CUT:
		ck_assert_int_eq(spool_truncate(fp, 10), 0);
		break;
	default:
		ck_assert_int_eq(spool_truncate(fp, 200), 0);
		break;
	}
	assert_file(path, want, 100);
	if (change == FC_WRITE && mode[0] == 'a')
		memcpy(want + 100, "XY", 2);
	else if (change == FC_WRITE)
		memcpy(want, "XY", 2);
	else if (change == FC_GROW)
		memset(want + 100, 0, 100);
	assert_spool(fp, want,
		     change == FC_WRITE ? (mode[0] == 'a' ? 102 : 100)
		     : change == FC_CUT ? 10
					: 200);
	ck_assert_int_eq(fclose(fp), 0);
	memcpy(want, orig, 100);
	assert_file(path, want, 100);
	ck_assert_int_eq(unlink(path), 0);
	free(path);
	free(want);
	free(orig);
}
END_TEST

/*
 * spool_fileno()'s descriptor "stays valid until fclose(fp)": also when
 * the first write after a zero-copy persist moves the spool off the
 * linked file. The descriptor taken before is still the spool's.
 */
START_TEST(test_persist_fileno_stays_valid)
{
	char *path = in_dir("out");
	size_t n = 100;
	FILE *fp = pat_spool(AT_DISK, &n);
	unsigned char *want = pat_buf(0, n);
	int fd = spool_fileno(fp);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(spool_persist(fp, path, 0), 0);
	ck_assert_int_eq(fseeko(fp, 0, SEEK_END), 0);
	ck_assert_uint_eq(fwrite("more", 1, 4, fp), 4);
	ck_assert_int_eq(fflush(fp), 0);
	assert_file(path, want, n);
	ck_assert_msg(fcntl(fd, F_GETFD) != -1,
		      "the descriptor spool_fileno() gave was closed");
	ck_assert_msg(spool_fileno(fp) == fd,
		      "spool_fileno() was %d, is now %d", fd, spool_fileno(fp));
	ck_assert_int_eq(fclose(fp), 0);
	ck_assert_int_eq(unlink(path), 0);
	free(want);
	free(path);
}
END_TEST

/* Become nobody in this child when root (root ignores permission bits,
 * and has CAP_DAC_READ_SEARCH, which linkat(AT_EMPTY_PATH) needs). */
static int drop_root(void)
{
	if (geteuid() != 0)
		return 0;
	return setgroups(0, NULL) == 0 && setgid(NOBODY) == 0 &&
		       setuid(NOBODY) == 0
		   ? 0
		   : -1;
}

/* A spool as in pat_spool(), child-safe; NULL on failure. */
static FILE *child_spool(int at, const char *tdir, size_t n)
{
	struct spool_options o = {.threshold = at == AT_DISK ? 0 : SIZE_MAX,
				  .dir = tdir};
	FILE *fp = spool_fopen_opts(&o, "w+");

	if (fp != NULL && put_pat(fp, n) != 0) {
		fclose(fp);
		return NULL;
	}
	return fp;
}

/* A file holds exactly the pattern's first n bytes (child-safe). */
static int file_has_pat(const char *path, size_t n)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC), ok;

	if (fd < 0)
		return 0;
	ok = fstat(fd, &st) == 0 && st.st_size == (off_t)n && fd_has_pat(fd, n);
	close(fd);
	return ok;
}

/* A file holds exactly `text` (child-safe). */
static int file_is(const char *path, const char *text)
{
	char buf[64];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t k;

	if (fd < 0)
		return 0;
	k = read(fd, buf, sizeof(buf));
	close(fd);
	return k == (ssize_t)strlen(text) && memcmp(buf, text, (size_t)k) == 0;
}

/* Two directories under dir for a child that drops root: "w" anyone
 * may write (the spool's temp files, or a target), "ro" no one but
 * root; dir itself reachable. */
struct perm_dirs {
	char *w, *ro;
};

static void perm_dirs_make(struct perm_dirs *p)
{
	p->w = in_dir("w");
	p->ro = in_dir("ro");
	ck_assert_int_eq(mkdir(p->w, 0700), 0);
	ck_assert_int_eq(chmod(p->w, 01777), 0);
	ck_assert_int_eq(mkdir(p->ro, 0700), 0);
	ck_assert_int_eq(chmod(p->ro, 0555), 0);
	ck_assert_int_eq(chmod(dir, 0711), 0);
}

/* Remove both, and whatever the child left in "w" (files it persisted:
 * the child checked them). */
static void perm_dirs_remove(struct perm_dirs *p, int in_w)
{
	char *f;

	ck_assert_int_eq(chmod(dir, 0700), 0);
	ck_assert_int_eq(tu_count_entries(p->ro), 0);
	ck_assert_int_eq(tu_count_entries(p->w), in_w);
	for (int i = 0; i < in_w; i++) {
		ck_assert_int_ne(asprintf(&f, "%s/out%d", p->w, i), -1);
		ck_assert_int_eq(unlink(f), 0);
		free(f);
	}
	ck_assert_int_eq(rmdir(p->w), 0);
	ck_assert_int_eq(rmdir(p->ro), 0);
	free(p->w);
	free(p->ro);
}

static struct perm_dirs pd;

/* As nobody: a directory without write permission gives EACCES, with
 * and without SPOOL_REPLACE, and nothing is created there. */
static int persist_eacces(void *arg)
{
	int at = *(int *)arg;
	char path[PATH_MAX];
	FILE *fp;

	TU_REQUIRE(drop_root() == 0);
	if (faccessat(AT_FDCWD, pd.ro, W_OK, AT_EACCESS) == 0) {
		printf("SKIP: EACCES test: %s is writable for uid %u\n", pd.ro,
		       (unsigned)geteuid());
		fflush(stdout);
		return TU_SKIPPED;
	}
	TU_REQUIRE((fp = child_spool(at, pd.w, 1000)) != NULL);
	snprintf(path, sizeof(path), "%s/out", pd.ro);
	errno = 0;
	TU_REQUIRE(spool_persist(fp, path, 0) == -1 && errno == EACCES);
	errno = 0;
	TU_REQUIRE(spool_persist(fp, path, SPOOL_REPLACE) == -1 &&
		   errno == EACCES);
	TU_REQUIRE(tu_entries(pd.ro) == 0 && tu_entries(pd.w) == 0);
	TU_REQUIRE(fclose(fp) == 0);
	return 0;
}

START_TEST(test_persist_read_only_dir_eacces)
{
	int at = _i ? AT_DISK : AT_MEMORY;

	perm_dirs_make(&pd);
	tu_in_child_skip(persist_eacces, &at);
	perm_dirs_remove(&pd, 0);
}
END_TEST

/* As nobody, without CAP_DAC_READ_SEARCH: the zero-copy link on the
 * same file system still works (and is still no copy). */
static int persist_unprivileged(void *arg)
{
	char path[PATH_MAX];
	struct stat st, ft;
	FILE *fp;

	(void)arg;
	TU_REQUIRE(drop_root() == 0);
	TU_REQUIRE((fp = child_spool(AT_DISK, pd.w, 300 * 1024)) != NULL);
	TU_REQUIRE(fstat(spool_fileno(fp), &ft) == 0);
	snprintf(path, sizeof(path), "%s/out0", pd.w);
	TU_REQUIRE(spool_persist(fp, path, 0) == 0);
	TU_REQUIRE(stat(path, &st) == 0 && st.st_ino == ft.st_ino);
	TU_REQUIRE(st.st_uid == geteuid() && (st.st_mode & 07777) == 0644);
	TU_REQUIRE(fputs("more", fp) >= 0 && fflush(fp) == 0);
	TU_REQUIRE(file_has_pat(path, 300 * 1024));
	TU_REQUIRE(fclose(fp) == 0);
	TU_REQUIRE(file_has_pat(path, 300 * 1024) && tu_entries(pd.w) == 1);
	return 0;
}

START_TEST(test_persist_unprivileged_zero_copy)
{
	perm_dirs_make(&pd);
	tu_in_child(persist_unprivileged, NULL);
	perm_dirs_remove(&pd, 1);
}
END_TEST

/*
 * Another file system (a tmpfs; the spool's temp file is on dir's):
 * a new file beside path, renamed into place: the contents, the mode,
 * SPOOL_REPLACE, nothing else left in the directory, and later writes
 * never reach it.
 */
static int persist_other_fs(void *arg)
{
	int at = *(int *)arg;
	char path[PATH_MAX];
	struct stat ms, ds;
	FILE *fp;

	TU_REQUIRE(tu_private_tmpfs(mnt, 4 * MiB) == 0);
	TU_REQUIRE(stat(mnt, &ms) == 0 && stat(dir, &ds) == 0);
	TU_REQUIRE(ms.st_dev != ds.st_dev);
	TU_REQUIRE((fp = child_spool(at, dir, 300 * 1024)) != NULL);
	snprintf(path, sizeof(path), "%s/out", mnt);
	TU_REQUIRE(spool_persist(fp, path, SPOOL_SYNC) == 0);
	TU_REQUIRE(file_has_pat(path, 300 * 1024));
	TU_REQUIRE(stat(path, &ms) == 0 && (ms.st_mode & 07777) == 0644);
	TU_REQUIRE(tu_entries(mnt) == 1);
	TU_REQUIRE(fseeko(fp, 0, SEEK_SET) == 0 && fputs("XX", fp) >= 0 &&
		   fflush(fp) == 0 && spool_truncate(fp, 1) == 0);
	TU_REQUIRE(file_has_pat(path, 300 * 1024));
	TU_REQUIRE(spool_persist(fp, path, SPOOL_REPLACE) == 0);
	TU_REQUIRE(file_is(path, "X") && tu_entries(mnt) == 1);
	TU_REQUIRE(fclose(fp) == 0);
	TU_REQUIRE(file_is(path, "X"));
	return 0;
}

START_TEST(test_persist_other_file_system)
{
	int at = _i ? AT_DISK : AT_MEMORY;

	tu_in_child(persist_other_fs, &at);
}
END_TEST

/* In this child: a 1 MiB tmpfs on mnt holding `path` ("old", with the
 * contents "old"), and `fresh`, a name there that does not exist. */
static int tmpfs_with_old(char path[PATH_MAX], char fresh[PATH_MAX])
{
	int fd;

	if (tu_private_tmpfs(mnt, MiB) < 0)
		return -1;
	snprintf(path, PATH_MAX, "%s/old", mnt);
	snprintf(fresh, PATH_MAX, "%s/new", mnt);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, "old", 3) != 3)
		return -1;
	return close(fd);
}

/*
 * A 1 MiB tmpfs cannot take 2 MiB: ENOSPC half-way, and path is as it
 * was (an old file, or nothing), no temp file is left, and all the
 * space is free again. The spool is in memory or on another file
 * system (on the same one it would be linked, which needs no space).
 */
static int persist_full(void *arg)
{
	int at = *(int *)arg;
	char path[PATH_MAX], fresh[PATH_MAX];
	long long room;
	FILE *fp;

	TU_REQUIRE(tmpfs_with_old(path, fresh) == 0);
	room = tu_free_bytes(mnt);
	TU_REQUIRE((fp = child_spool(at, dir, 2 * MiB)) != NULL);
	errno = 0;
	TU_REQUIRE(spool_persist(fp, path, SPOOL_REPLACE) == -1 &&
		   errno == ENOSPC);
	TU_REQUIRE(file_is(path, "old") && tu_entries(mnt) == 1);
	TU_REQUIRE(tu_free_bytes(mnt) == room);
	errno = 0;
	TU_REQUIRE(spool_persist(fp, fresh, SPOOL_SYNC) == -1 &&
		   errno == ENOSPC);
	TU_REQUIRE(access(fresh, F_OK) == -1 && tu_entries(mnt) == 1);
	TU_REQUIRE(tu_free_bytes(mnt) == room);
	TU_REQUIRE(spool_size(fp) == (off_t)(2 * MiB) && !ferror(fp));
	TU_REQUIRE(fclose(fp) == 0);
	return 0;
}

START_TEST(test_persist_disk_full_leaves_path)
{
	int at = _i ? AT_DISK : AT_MEMORY;

	tu_in_child(persist_full, &at);
}
END_TEST

/* A read-only file system (root's way to a read-only directory): EROFS,
 * path untouched. */
static int persist_rofs(void *arg)
{
	int at = *(int *)arg;
	char path[PATH_MAX], fresh[PATH_MAX];
	FILE *fp;

	TU_REQUIRE(tmpfs_with_old(path, fresh) == 0);
	TU_REQUIRE(mount("tmpfs", mnt, "tmpfs",
			 MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV,
			 NULL) == 0);
	TU_REQUIRE((fp = child_spool(at, dir, 1000)) != NULL);
	errno = 0;
	TU_REQUIRE(spool_persist(fp, path, SPOOL_REPLACE) == -1 &&
		   errno == EROFS);
	errno = 0;
	TU_REQUIRE(spool_persist(fp, fresh, 0) == -1 && errno == EROFS);
	TU_REQUIRE(file_is(path, "old") && tu_entries(mnt) == 1);
	TU_REQUIRE(fclose(fp) == 0);
	return 0;
}

START_TEST(test_persist_read_only_fs_erofs)
{
	int at = _i ? AT_DISK : AT_MEMORY;

	tu_in_child(persist_rofs, &at);
}
END_TEST

/* ---- under the FILE lock ---- */

#define LINES 3000
#define BATCH 300 /* lines between the writer's waits for a reader round */

/* The writer and the reader: the writer waits after each batch until
 * the reader has been round once more, so rounds do fall mid-write. */
struct lines {
	FILE *fp;
	int rounds; /* reader rounds done, under `lock` */
	pthread_mutex_t lock;
};

static int rounds_done(struct lines *l)
{
	int r;

	pthread_mutex_lock(&l->lock);
	r = l->rounds;
	pthread_mutex_unlock(&l->lock);
	return r;
}

/* A writer thread: LINES numbered lines, one fputs() each. */
static void *write_lines(void *arg)
{
	struct lines *l = arg;
	char line[32];

	for (int i = 0; i < LINES; i++) {
		snprintf(line, sizeof(line), "line %04d\n", i);
		if (fputs(line, l->fp) < 0)
			return l;
		if (i % 10 == 0)
			nap(50); /* let rounds fall between the writes too */
		while (i % BATCH == BATCH - 1 && rounds_done(l) <= i / BATCH)
			nap(100);
	}
	return NULL;
}

/* p[0, n) is the first n / 10 lines exactly, whole. */
static int whole_lines(const char *p, size_t n)
{
	char line[32];

	if (n % 10 != 0)
		return 0;
	for (size_t i = 0; i < n / 10; i++) {
		snprintf(line, sizeof(line), "line %04zu\n", i);
		if (memcmp(p + 10 * i, line, 10) != 0)
			return 0;
	}
	return 1;
}

/*
 * While another thread writes lines with fputs(), every copy, view and
 * send shows whole lines, the first k of them, k never shrinking; the
 * spool rolls over on the way (threshold 16 KiB). This shows the calls
 * give consistent snapshots under concurrent writes; it does not prove
 * the FILE lock on its own (their flush takes it anyway: a getvalue
 * without the lock still passed here).
 */
START_TEST(test_contents_under_file_lock)
{
	struct lines l = {.fp = spool_with("w+", 16 * KiB, dir, NULL, 0, 0),
			  .lock = PTHREAD_MUTEX_INITIALIZER};
	char *path = in_dir("sent"), *v;
	size_t len, last = 0;
	const void *d;
	int mid = 0;
	pthread_t t;
	void *res;
	off_t off;
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pthread_create(&t, NULL, write_lines, &l), 0);
	while (last < 10 * LINES) {
		v = spool_getvalue(l.fp, &len);
		ck_assert_ptr_nonnull(v);
		ck_assert_msg(len >= last && whole_lines(v, len),
			      "getvalue: %zu bytes, not whole lines", len);
		free(v);
		ck_assert_int_eq(spool_view(l.fp, &d, &len), 0);
		ck_assert_msg(len >= last && whole_lines(d, len),
			      "view: %zu bytes, not whole lines", len);
		ck_assert_int_eq(spool_unview(l.fp), 0);
		ck_assert_int_eq(ftruncate(fd, 0), 0);
		ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
		off = 0;
		ck_assert_int_eq(spool_send(l.fp, fd, &off), 0);
		v = (char *)fd_bytes(fd, &len);
		ck_assert_msg(len == (size_t)off && len >= last &&
				  whole_lines(v, len),
			      "send: %zu bytes, not whole lines", len);
		free(v);
		mid += len < 10 * LINES;
		last = len;
		pthread_mutex_lock(&l.lock);
		l.rounds++;
		pthread_mutex_unlock(&l.lock);
	}
	ck_assert_int_eq(pthread_join(t, &res), 0);
	ck_assert_ptr_null(res);
	ck_assert_int_ge(mid, LINES / BATCH - 1); /* the handshake held */
	ck_assert_int_eq(spool_is_rolled(l.fp), 1);
	close(fd);
	ck_assert_int_eq(unlink(path), 0);
	free(path);
	ck_assert_int_eq(fclose(l.fp), 0);
}
END_TEST

/* ---- against stdio on a regular file ---- */

/*
 * Random writes, seeks, truncations and rollovers on a spool and on
 * stdio over a regular file (tmpfile() for "w+", else a file opened
 * with the same mode); now and then, and at the end, spool_getvalue()
 * and a view must equal the file's bytes, and the position the file's.
 * At the end the file is read with rewind() and fread(). A failure
 * names threshold, mode, seed and step. SPOOL_CONTENTS_SEEDS sets the
 * seeds per threshold and mode (default 4).
 */
static const size_t diff_thresholds[] = {0, 1, 64, 4096, SIZE_MAX};
static const char *const diff_modes[] = {"w+", "r+", "a+"};
#define DIFF_STEPS 120
#define DIFF_BUF (96 * 1024)

/* xorshift64*: the same sequence everywhere. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

static FILE *oracle_open(const char *mode, const unsigned char *data, size_t n)
{
	char *path;
	FILE *f;
	int fd;

	if (strcmp(mode, "w+") == 0) {
		f = tmpfile();
		ck_assert_ptr_nonnull(f);
		return f;
	}
	path = in_dir("oracle");
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, n), (ssize_t)n);
	ck_assert_int_eq(close(fd), 0);
	f = fopen(path, mode);
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(unlink(path), 0);
	free(path);
	return f;
}

/* Both ways out of the spool give want[0, n). */
static void diff_compare(FILE *sp, const unsigned char *want, size_t n,
			 const char *where)
{
	const void *d;
	size_t len;
	char *v = spool_getvalue(sp, &len);

	ck_assert_msg(v != NULL, "%s: getvalue: %s", where, strerror(errno));
	ck_assert_msg(len == n && memcmp(v, want, n) == 0 && v[n] == '\0',
		      "%s: getvalue: %zu bytes, want %zu", where, len, n);
	free(v);
	ck_assert_msg(spool_view(sp, &d, &len) == 0, "%s: view: %s", where,
		      strerror(errno));
	ck_assert_msg(len == n && memcmp(d, want, n) == 0,
		      "%s: view: %zu bytes, want %zu", where, len, n);
	ck_assert_int_eq(spool_unview(sp), 0);
}

/* The oracle's size, flushing only the oracle. */
static off_t oracle_size(FILE *f)
{
	struct stat st;

	ck_assert_int_eq(fflush(f), 0);
	ck_assert_int_eq(fstat(fileno(f), &st), 0);
	return st.st_size;
}

static void diff_step(FILE *sp, FILE *f, uint64_t *s, const unsigned char *buf,
		      const char *where)
{
	size_t k, at;
	unsigned char *want;
	off_t t;

	switch (rnd(s) % 8) {
	case 0:
	case 1:
	case 2:
		k = rnd(s) % 8 == 0 ? rnd(s) % DIFF_BUF : rnd(s) % 300;
		at = rnd(s) % (DIFF_BUF - k + 1);
		ck_assert_msg(fwrite(buf + at, 1, k, sp) == k, "%s", where);
		ck_assert_uint_eq(fwrite(buf + at, 1, k, f), k);
		break;
	case 3:
		k = (size_t)(rnd(s) & 0xff);
		ck_assert_int_eq(fputc((int)k, sp), (int)k);
		ck_assert_int_eq(fputc((int)k, f), (int)k);
		break;
	case 4:
		t = (off_t)(rnd(s) % (uint64_t)(oracle_size(f) + 200));
		ck_assert_int_eq(fseeko(sp, t, SEEK_SET), 0);
		ck_assert_int_eq(fseeko(f, t, SEEK_SET), 0);
		break;
	case 5:
		t = (off_t)(rnd(s) % (uint64_t)(oracle_size(f) + 500));
		ck_assert_msg(spool_truncate(sp, t) == 0, "%s: truncate: %s",
			      where, strerror(errno));
		ck_assert_int_eq(ftruncate(fileno(f), t), 0);
		break;
	case 6:
		ck_assert_int_eq(spool_rollover(sp), 0);
		break;
	default:
		ck_assert_msg(ftello(sp) == ftello(f), "%s: position", where);
		ck_assert_int_eq(fflush(f), 0);
		want = fd_bytes(fileno(f), &k);
		diff_compare(sp, want, k, where);
		free(want);
		ck_assert_msg(ftello(sp) == ftello(f), "%s: position after",
			      where);
		break;
	}
}

static void diff_run(size_t threshold, const char *mode, uint64_t seed)
{
	uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
	unsigned char *buf = malloc(DIFF_BUF), *want;
	size_t n0, k;
	char where[96];
	FILE *sp, *f;

	ck_assert_ptr_nonnull(buf);
	for (size_t i = 0; i < DIFF_BUF; i++)
		buf[i] = rnd(&s) % 4 ? (unsigned char)rnd(&s) : 0;
	n0 = mode[0] == 'w' ? 0 : rnd(&s) % 3000;
	sp = spool_with(mode, threshold, dir, buf, n0, 0);
	f = oracle_open(mode, buf, n0);
	for (int step = 0; step < DIFF_STEPS; step++) {
		snprintf(where, sizeof(where),
			 "threshold %zd, \"%s\", seed %ju, step %d",
			 threshold == SIZE_MAX ? (ssize_t)-1
					       : (ssize_t)threshold,
			 mode, (uintmax_t)seed, step);
		diff_step(sp, f, &s, buf, where);
	}
	want = tu_slurp(f, &k); /* rewind + fread */
	diff_compare(sp, want, k, where);
	free(want);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(fclose(sp), 0);
	free(buf);
}

START_TEST(test_contents_like_stdio)
{
	const char *env = getenv("SPOOL_CONTENTS_SEEDS");
	unsigned long seeds = env != NULL ? strtoul(env, NULL, 10) : 4;

	for (unsigned long seed = 1; seed <= seeds; seed++)
		for (size_t m = 0; m < 3; m++)
			diff_run(diff_thresholds[_i], diff_modes[m], seed);
}
END_TEST

/* ---- the suite ---- */

static TCase *tcase(const char *name, int mounts)
{
	TCase *tc = tcase_create(name);

	if (mounts)
		tcase_add_checked_fixture(tc, mnt_setup, mnt_teardown);
	else
		tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	return tc;
}

static Suite *contents_suite(void)
{
	Suite *s = suite_create("contents");
	char why[128];
	TCase *tc;

	tc = tcase("states", 0);
	tcase_add_loop_test(tc, test_getvalue_states, 0, NCFG);
	tcase_add_loop_test(tc, test_view_states, 0, NCFG);
	tcase_add_loop_test(tc, test_send_states, 0, NCFG);
	tcase_add_loop_test(tc, test_persist_states, 0, NCFG);
	suite_add_tcase(s, tc);

	tc = tcase("arguments", 0);
	tcase_add_loop_test(tc, test_contents_foreign_einval, 0, F_KINDS);
	tcase_add_loop_test(tc, test_contents_bad_arguments, 0, 2);
	suite_add_tcase(s, tc);

	tc = tcase("getvalue", 0);
	tcase_add_loop_test(tc, test_getvalue_embedded_nuls, 0, 2);
	tcase_add_loop_test(tc, test_getvalue_large_is_a_copy, 0, AT_KINDS);
	suite_add_tcase(s, tc);

	tc = tcase("view", 0);
	tcase_add_loop_test(tc, test_view_empty, 0, 2);
	tcase_add_loop_test(tc, test_view_one_at_a_time, 0, AT_KINDS);
	tcase_add_loop_test(tc, test_view_survives_growth, 0, GROW_KINDS);
	tcase_add_loop_test(tc, test_view_truncate_ebusy, 0, AT_KINDS);
	tcase_add_loop_test(tc, test_view_released_by_fclose, 0, AT_KINDS);
	tcase_add_test(tc, test_view_on_disk_is_read_only_mapping);
	suite_add_tcase(s, tc);

	tc = tcase("send", 0);
	tcase_add_loop_test(tc, test_send_regular_file_at_fd_position, 0,
			    2 * AT_KINDS);
	tcase_add_loop_test(tc, test_send_pipe_and_socket, 0,
			    AT_KINDS * D_KINDS);
	tcase_add_loop_test(tc, test_send_broken_pipe_epipe, 0, AT_KINDS);
	suite_add_tcase(s, tc);

	tc = tcase("persist", 0);
	tcase_add_loop_test(tc, test_persist_mode_under_umask, 0, 6);
	tcase_add_loop_test(tc, test_persist_existing_eexist, 0, AT_KINDS);
	tcase_add_loop_test(tc, test_persist_replace_file, 0, AT_KINDS);
	tcase_add_loop_test(tc, test_persist_replace_symlink, 0, 2);
	tcase_add_loop_test(tc, test_persist_replace_directory_fails, 0, 4);
	tcase_add_loop_test(tc, test_persist_later_writes_never_reach_path, 0,
			    LW_KINDS);
	tcase_add_loop_test(tc, test_persist_first_change_after_link, 0,
			    4 * FC_KINDS);
	tcase_add_test(tc, test_persist_fileno_stays_valid);
	tcase_add_loop_test(tc, test_persist_read_only_dir_eacces, 0, 2);
	tcase_add_test(tc, test_persist_unprivileged_zero_copy);
	suite_add_tcase(s, tc);

	/* Check has no per-test skip: without a private mount these are
	 * left out, loudly, and the rest still run. */
	if (tu_have_private_tmpfs(why, sizeof(why))) {
		tc = tcase("mounts", 1);
		tcase_add_loop_test(tc, test_send_disk_full_enospc, 0,
				    FULL_KINDS);
		tcase_add_loop_test(tc, test_persist_other_file_system, 0, 2);
		tcase_add_loop_test(tc, test_persist_disk_full_leaves_path, 0,
				    2);
		tcase_add_loop_test(tc, test_persist_read_only_fs_erofs, 0, 2);
		suite_add_tcase(s, tc);
	} else {
		printf("SKIP: 9 tests on private tmpfs mounts (send and "
		       "persist on a full, a read-only and another file "
		       "system): %s\n",
		       why);
	}

	tc = tcase("threads", 0);
	tcase_add_test(tc, test_contents_under_file_lock);
	suite_add_tcase(s, tc);

	tc = tcase("differential", 0);
	tcase_add_loop_test(tc, test_contents_like_stdio, 0,
			    sizeof(diff_thresholds) /
				sizeof(diff_thresholds[0]));
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(contents_suite());
}
