/* SPDX-License-Identifier: MIT */
/*
 * musl-driver.c - the core behaviours of libspool as a plain C program,
 * without Check (Debian has no Check for musl), so that the library can
 * be tested on the second C library with fopencookie(): run by
 * tests/run-musl.sh with musl-gcc. It builds with glibc too, which is
 * how its expectations were cross-checked.
 *
 * The oracle is the spec (/tmp/issue2.txt) and plain file semantics: a
 * gap left by a seek past the end reads as zeros, "a" writes land at the
 * end, and so on. Prints each failure as file:line, then one closing line
 * "N passed, M failed"; exits 0 only when nothing failed.
 */
#include "config.h" /* first: _GNU_SOURCE for fopencookie and friends */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spool.h"

static int passed, failed;

#define CHECK(cond) check_((cond) != 0, #cond, __FILE__, __LINE__)

static void check_(int ok, const char *what, const char *file, int line)
{
	if (ok) {
		passed++;
		return;
	}
	failed++;
	printf("%s:%d: FAIL: %s\n", file, line, what);
	fflush(stdout);
}

/* The private directory every spill of this run goes to ($TMPDIR). */
static char tmpdir[4096];

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	}
	closedir(d);
	return n;
}

/* Read everything from offset 0; returns the byte count (buf holds up
 * to cap of them). Clears EOF so the stream stays usable. */
static size_t slurp(FILE *fp, unsigned char *buf, size_t cap)
{
	size_t n = 0, r;

	if (fseeko(fp, 0, SEEK_SET) != 0)
		return (size_t)-1;
	while (n < cap && (r = fread(buf + n, 1, cap - n, fp)) > 0)
		n += r;
	clearerr(fp);
	return n;
}

static int contents_are(FILE *fp, const char *want, size_t len)
{
	unsigned char buf[4096];
	size_t n = slurp(fp, buf, sizeof(buf));

	return n == len && memcmp(buf, want, len) == 0;
}

static FILE *open_data(size_t threshold, const char *data, const char *mode)
{
	struct spool_options o = {
	    .threshold = threshold,
	    .data = data,
	    .data_len = data ? strlen(data) : 0,
	};

	return spool_fopen_opts(&o, mode);
}

static void test_modes(void)
{
	/* glibc 2.36's fopen() rule, on musl too: r, w or a, then six
	 * characters at most are read, unknown ones ignored (mode.c). */
	static const char *const good[] = {
	    "r",  "r+",	  "w",	"w+",  "a",   "a+", "rb",  "w+b", "wb+",
	    "ae", "r+be", "rw", "w++", "rbb", "wt", "r+x", "am",  "rc",
	};
	/* A ",ccs=" charset would make glibc's stream wide. */
	static const char *const bad[] = {"", "x", "+r", "R", "r,ccs=UTF-8"};
	size_t i;
	FILE *fp;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		fp = spool_fopen(16, good[i]);
		CHECK(fp != NULL);
		if (fp != NULL)
			CHECK(fclose(fp) == 0);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		fp = spool_fopen(16, bad[i]);
		CHECK(fp == NULL && errno == EINVAL);
	}
	errno = 0;
	CHECK(spool_fopen(16, NULL) == NULL && errno == EINVAL);

	/* "r": nothing to write into; empty, so the first read is EOF. */
	fp = spool_fopen(16, "r");
	CHECK(fputc('x', fp) == EOF);
	clearerr(fp);
	CHECK(fgetc(fp) == EOF && feof(fp));
	CHECK(spool_size(fp) == 0);
	fclose(fp);
	/* "w": write-only. */
	fp = spool_fopen(16, "w");
	CHECK(fputs("abc", fp) >= 0);
	CHECK(fgetc(fp) == EOF);
	CHECK(spool_size(fp) == 3);
	fclose(fp);
	/* A '+' past the seventh character is not read: still "r". */
	fp = spool_fopen(16, "rbbbbbb+");
	CHECK(fp != NULL && fputc('x', fp) == EOF);
	if (fp != NULL)
		fclose(fp);
}

/* Rolled exactly when the size passes the threshold. */
static void test_threshold(void)
{
	static const size_t t = 64;
	char buf[256];
	size_t n;

	memset(buf, 'q', sizeof(buf));
	for (n = t - 1; n <= t + 1; n++) {
		FILE *fp = spool_fopen(t, "w+");

		CHECK(fwrite(buf, 1, n, fp) == n);
		CHECK(fflush(fp) == 0);
		CHECK(spool_is_rolled(fp) == (n > t));
		CHECK(spool_size(fp) == (off_t)n);
		CHECK(contents_are(fp, buf, n));
		fclose(fp);
	}
	/* Exactly at the threshold, then one byte more rolls. */
	{
		FILE *fp = spool_fopen(t, "w+");

		fwrite(buf, 1, t, fp);
		CHECK(fflush(fp) == 0 && spool_is_rolled(fp) == 0);
		CHECK(fputc('z', fp) == 'z' && fflush(fp) == 0);
		CHECK(spool_is_rolled(fp) == 1);
		CHECK(spool_size(fp) == (off_t)t + 1);
		fclose(fp);
	}
	/* Threshold 0: empty stays in memory, the first byte rolls. */
	{
		FILE *fp = spool_fopen(0, "w+");

		CHECK(spool_is_rolled(fp) == 0);
		CHECK(fputc('a', fp) == 'a' && fflush(fp) == 0);
		CHECK(spool_is_rolled(fp) == 1);
		CHECK(contents_are(fp, "a", 1));
		fclose(fp);
	}
}

/* Seeks in memory (threshold 1000) and on disk (threshold 0). */
static void test_seek(size_t threshold)
{
	FILE *fp = spool_fopen(threshold, "w+");
	char want[32] = "0123456789";

	CHECK(fputs("0123456789", fp) >= 0);
	CHECK(ftello(fp) == 10);
	CHECK(fseeko(fp, 3, SEEK_SET) == 0 && ftello(fp) == 3);
	CHECK(fgetc(fp) == '3');
	CHECK(fseeko(fp, 2, SEEK_CUR) == 0 && ftello(fp) == 6);
	CHECK(fgetc(fp) == '6');
	CHECK(fseeko(fp, -3, SEEK_END) == 0 && ftello(fp) == 7);
	CHECK(fgetc(fp) == '7');
	CHECK(fseeko(fp, -1, SEEK_SET) != 0 && errno == EINVAL);
	/* Overwrite in the middle. */
	CHECK(fseeko(fp, 1, SEEK_SET) == 0 && fputc('X', fp) == 'X');
	want[1] = 'X';
	/* A write past the end leaves a hole of zeros. */
	CHECK(fseeko(fp, 5, SEEK_END) == 0 && ftello(fp) == 15);
	CHECK(fputc('E', fp) == 'E');
	want[15] = 'E';
	CHECK(spool_size(fp) == 16);
	CHECK(contents_are(fp, want, 16));
	/* Reading at and past the end: EOF, then a seek clears it. */
	CHECK(fseeko(fp, 100, SEEK_SET) == 0 && fgetc(fp) == EOF);
	CHECK(feof(fp));
	CHECK(fseeko(fp, 0, SEEK_SET) == 0 && !feof(fp));
	CHECK(fgetc(fp) == '0');
	/* Seeking past the end alone does not grow the spool. */
	CHECK(fseeko(fp, 50, SEEK_SET) == 0 && spool_size(fp) == 16);
	CHECK(spool_is_rolled(fp) == (threshold < 16));
	fclose(fp);
}

/* Every write of an "a" spool lands at the end, wherever the position
 * was; in memory, across the rollover and on disk. */
static void test_append(void)
{
	static const char *const modes[] = {"a", "a+"};
	size_t i;

	for (i = 0; i < 2; i++) {
		FILE *fp = open_data(8, "hello", modes[i]);

		CHECK(fp != NULL);
		if (fp == NULL)
			continue;
		CHECK(fseeko(fp, 0, SEEK_SET) == 0);
		CHECK(fputs("XY", fp) >= 0 && fflush(fp) == 0);
		CHECK(spool_is_rolled(fp) == 0 && spool_size(fp) == 7);
		CHECK(ftello(fp) == 7);
		CHECK(fseeko(fp, 1, SEEK_SET) == 0);
		CHECK(fputs("Z!", fp) >= 0 && fflush(fp) == 0); /* 9 > 8 */
		CHECK(spool_is_rolled(fp) == 1 && spool_size(fp) == 9);
		CHECK(fseeko(fp, 0, SEEK_SET) == 0);
		CHECK(fputc('.', fp) == '.' && fflush(fp) == 0);
		CHECK(spool_size(fp) == 10);
		if (i == 1)
			CHECK(contents_are(fp, "helloXYZ!.", 10));
		fclose(fp);
	}
}

/* ungetc pushback survives spool_rollover, spool_size, spool_fileno. */
static void test_ungetc(void)
{
	FILE *fp = spool_fopen(8, "w+");

	fputs("abcdef", fp);
	rewind(fp);
	CHECK(fgetc(fp) == 'a');
	CHECK(ungetc('Z', fp) == 'Z');
	CHECK(spool_size(fp) == 6);
	CHECK(spool_is_rolled(fp) == 0);
	CHECK(spool_rollover(fp) == 0 && spool_is_rolled(fp) == 1);
	CHECK(spool_fileno(fp) >= 0);
	CHECK(fgetc(fp) == 'Z');
	CHECK(fgetc(fp) == 'b');
	CHECK(ftello(fp) == 2);
	fclose(fp);
}

static void test_truncate(size_t threshold)
{
	FILE *fp = spool_fopen(threshold, "w+");
	char want[40] = "0123456789";

	fputs("0123456789", fp);
	CHECK(spool_truncate(fp, 4) == 0);
	CHECK(spool_size(fp) == 4);
	CHECK(ftello(fp) == 10); /* the position is unchanged */
	CHECK(contents_are(fp, "0123", 4));
	CHECK(spool_truncate(fp, 12) == 0 && spool_size(fp) == 12);
	memset(want + 4, 0, 8);
	CHECK(contents_are(fp, want, 12));
	CHECK(spool_is_rolled(fp) == (threshold < 12));
	CHECK(spool_truncate(fp, 30) == 0 && spool_size(fp) == 30);
	CHECK(spool_is_rolled(fp) == (threshold < 30));
	errno = 0;
	CHECK(spool_truncate(fp, -1) == -1 && errno == EINVAL);
	fclose(fp);

	fp = open_data(threshold, "data", "r");
	errno = 0;
	CHECK(spool_truncate(fp, 1) == -1 && errno == EBADF);
	CHECK(spool_size(fp) == 4);
	fclose(fp);
}

static void test_queries(void)
{
	FILE *fp = spool_fopen(100, "w+");
	struct stat st;
	int fd, flags;

	/* Pending output counts: spool_size flushes it. */
	CHECK(fputs("pending", fp) >= 0);
	CHECK(spool_size(fp) == 7);
	CHECK(spool_is_rolled(fp) == 0);
	CHECK(spool_rollover(fp) == 0 && spool_is_rolled(fp) == 1);
	CHECK(spool_rollover(fp) == 0); /* again: a no-op */
	fd = spool_fileno(fp);
	CHECK(fd >= 0);
	CHECK(fd == spool_fileno(fp));
	CHECK(fstat(fd, &st) == 0 && st.st_size == 7);
	CHECK(st.st_nlink == 0 && (st.st_mode & 0777) == 0600);
	flags = fcntl(fd, F_GETFD);
	CHECK(flags >= 0 && (flags & FD_CLOEXEC));
	CHECK(lseek(fd, 0, SEEK_CUR) == 7);
	CHECK(fileno(fp) == -1); /* a cookie stream has none */
	CHECK(contents_are(fp, "pending", 7));
	fclose(fp);

	/* spool_fileno rolls a spool that is still in memory. */
	fp = spool_fopen(100, "w+");
	fputs("xy", fp);
	fd = spool_fileno(fp);
	CHECK(fd >= 0 && spool_is_rolled(fp) == 1);
	CHECK(fstat(fd, &st) == 0 && st.st_size == 2);
	fclose(fp);
}

/* Every public function refuses what is not a live spool. */
static void test_foreign(void)
{
	FILE *const foreign[] = {NULL, stdin, stdout};
	FILE *tf = tmpfile();
	size_t i;

	for (i = 0; i <= 3; i++) {
		FILE *fp = i < 3 ? foreign[i] : tf;

		if (fp == NULL && i == 3)
			continue;
		errno = 0;
		CHECK(spool_rollover(fp) == -1 && errno == EINVAL);
		errno = 0;
		CHECK(spool_is_rolled(fp) == -1 && errno == EINVAL);
		errno = 0;
		CHECK(spool_fileno(fp) == -1 && errno == EINVAL);
		errno = 0;
		CHECK(spool_size(fp) == -1 && errno == EINVAL);
		errno = 0;
		CHECK(spool_truncate(fp, 0) == -1 && errno == EINVAL);
	}
	if (tf != NULL)
		fclose(tf);
	errno = 0;
	CHECK(spool_fopen_opts(NULL, "w") == NULL && errno == EINVAL);
}

static void test_limit(void)
{
	struct spool_options o = {.threshold = 100, .limit = 10};
	char buf[64];
	FILE *fp;
	size_t n;
	int err;

	memset(buf, 'L', sizeof(buf));
	/* Buffered: the cut shows at the flush. */
	fp = spool_fopen_opts(&o, "w+");
	CHECK(fwrite(buf, 1, 8, fp) == 8 && fflush(fp) == 0);
	CHECK(fwrite(buf, 1, 8, fp) == 8);
	errno = 0;
	CHECK(fflush(fp) == EOF);
	err = errno;
	CHECK(err == EFBIG);
	CHECK(ferror(fp));
	clearerr(fp);
	CHECK(spool_size(fp) == 10);
	errno = 0;
	CHECK(spool_truncate(fp, 11) == -1 && errno == EFBIG);
	CHECK(spool_truncate(fp, 10) == 0);
	fclose(fp);

	/* Unbuffered: the write itself comes up short. */
	fp = spool_fopen_opts(&o, "w+");
	setvbuf(fp, NULL, _IONBF, 0);
	errno = 0;
	n = fwrite(buf, 1, 20, fp);
	err = errno;
	CHECK(n < 20 && err == EFBIG && ferror(fp));
	CHECK(spool_size(fp) == 10);
	fclose(fp);

	/* Initial data over the limit is refused at open. */
	o.data = buf;
	o.data_len = 11;
	errno = 0;
	CHECK(spool_fopen_opts(&o, "r") == NULL && errno == EFBIG);
}

static void test_initial_data(void)
{
	FILE *fp;
	char big[200];

	fp = open_data(100, "hello", "r");
	CHECK(fp != NULL && spool_is_rolled(fp) == 0);
	CHECK(ftello(fp) == 0 && fgetc(fp) == 'h');
	CHECK(contents_are(fp, "hello", 5));
	fclose(fp);

	fp = open_data(100, "hello", "r+");
	CHECK(fputc('J', fp) == 'J');
	CHECK(contents_are(fp, "Jello", 5));
	fclose(fp);

	/* "a" starts at the end, as fopen() does. */
	fp = open_data(100, "hello", "a");
	CHECK(ftello(fp) == 5);
	fclose(fp);

	/* Larger than the threshold: straight to disk. */
	memset(big, 'b', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	fp = open_data(100, big, "r");
	CHECK(fp != NULL && spool_is_rolled(fp) == 1);
	CHECK(contents_are(fp, big, sizeof(big) - 1));
	fclose(fp);

	/* "w" truncates: initial data makes no sense there. */
	errno = 0;
	CHECK(open_data(100, "x", "w") == NULL && errno == EINVAL);
}

/*
 * A rollover that cannot happen (the directory is gone) fails the write
 * and keeps what was flushed before; fflush and fclose say so.
 */
static void test_failed_rollover(void)
{
	struct spool_options o = {.threshold = 5, .dir = "/nonexistent/x"};
	FILE *fp = spool_fopen_opts(&o, "w+");

	CHECK(fputs("abc", fp) >= 0 && fflush(fp) == 0);
	CHECK(fputs("defghij", fp) >= 0);
	errno = 0;
	CHECK(fflush(fp) == EOF);
	CHECK(errno == ENOENT);
	CHECK(ferror(fp));
	clearerr(fp);
	CHECK(spool_is_rolled(fp) == 0);
	CHECK(spool_size(fp) == 3);
	CHECK(contents_are(fp, "abc", 3));
	/* Output that cannot be stored makes fclose fail. */
	fseeko(fp, 0, SEEK_END);
	CHECK(fputs("0123456789", fp) >= 0);
	CHECK(fclose(fp) == EOF);
}

/* 1 MiB in chunks of varied sizes through a 64 KiB threshold. */
static void test_big(void)
{
	enum { TOTAL = 1 << 20, THRESHOLD = 64 << 10 };
	unsigned char *src = malloc(TOTAL), *back = malloc(TOTAL);
	FILE *fp = spool_fopen(THRESHOLD, "w+");
	size_t i, off = 0, chunk = 1, n;

	if (src == NULL || back == NULL || fp == NULL) {
		CHECK(!"out of memory");
		return;
	}
	for (i = 0; i < TOTAL; i++)
		src[i] = (unsigned char)(i * 2654435761u >> 13);
	while (off < TOTAL) {
		n = chunk < TOTAL - off ? chunk : TOTAL - off;
		if (fwrite(src + off, 1, n, fp) != n)
			break;
		off += n;
		chunk = chunk * 7 % 9001 + 1;
	}
	CHECK(off == TOTAL);
	CHECK(fflush(fp) == 0);
	CHECK(spool_is_rolled(fp) == 1);
	CHECK(spool_size(fp) == TOTAL);
	CHECK(slurp(fp, back, TOTAL) == TOTAL);
	CHECK(memcmp(src, back, TOTAL) == 0);
	CHECK(count_entries(tmpdir) == 0); /* nameless while open */
	CHECK(fclose(fp) == 0);
	free(src);
	free(back);
}

int main(void)
{
	const char *base = getenv("TMPDIR");

	if (base == NULL || *base == '\0')
		base = "/tmp";
	snprintf(tmpdir, sizeof(tmpdir), "%s/spool-musl-XXXXXX", base);
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 2;
	}
	/* Every rollover of this run lands in the private directory. */
	setenv("TMPDIR", tmpdir, 1);

	test_modes();
	test_threshold();
	test_seek(1000);
	test_seek(0);
	test_append();
	test_ungetc();
	test_truncate(1000);
	test_truncate(0);
	test_queries();
	test_foreign();
	test_limit();
	test_initial_data();
	test_failed_rollover();
	test_big();

	CHECK(count_entries(tmpdir) == 0); /* nothing left behind */
	CHECK(rmdir(tmpdir) == 0);
	printf("%d passed, %d failed\n", passed, failed);
	return failed == 0 ? 0 : 1;
}
