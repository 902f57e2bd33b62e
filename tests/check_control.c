/* SPDX-License-Identifier: MIT */
/*
 * check_control.c - the control functions: spool_truncate, spool_size,
 * spool_fileno, spool_rollover and spool_is_rolled, each in memory and
 * on disk (a loop index of 0 is memory, 1 disk), and what a rollover
 * keeps: the position, the flags and ungetc pushback. A spool never
 * moves back to memory.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio_ext.h>
#include <sys/stat.h>

#include "testutil.h"

static const char letters[] = "abcdefghijklmnopqrstuvwxyz";

/* ---- spool_truncate ---- */

/* The loop index picks memory (SIZE_MAX) or disk (0). */
static size_t mem_or_disk(int i)
{
	return i == 0 ? SIZE_MAX : 0;
}

START_TEST(test_control_truncate_shrink_extend)
{
	FILE *fp = spool_fopen(mem_or_disk(_i), "w+");

	ck_assert_ptr_nonnull(fp);
	ck_assert_int_ge(fputs("abcdefghij", fp), 0); /* still buffered */
	ck_assert_int_eq(spool_truncate(fp, 4), 0);
	ck_assert_int_eq(ftello(fp), 10); /* the position is unchanged */
	ck_assert_int_eq(spool_size(fp), 4);
	ck_assert_int_eq(getc(fp), EOF);
	tu_expect_contents(fp, "abcd", 4);
	ck_assert_int_eq(fseeko(fp, 2, SEEK_SET), 0);
	ck_assert_int_eq(getc(fp), 'c'); /* with read-ahead buffered */
	ck_assert_int_eq(spool_truncate(fp, 9), 0);
	ck_assert_int_eq(ftello(fp), 3);
	ck_assert_int_eq(spool_size(fp), 9);
	ck_assert_int_eq(getc(fp), 'd');
	ck_assert_int_eq(getc(fp), 0); /* zero-extended */
	tu_expect_contents(fp, "abcd\0\0\0\0\0", 9);
	ck_assert_int_eq(spool_truncate(fp, 0), 0);
	ck_assert_int_eq(spool_size(fp), 0);
	ck_assert_int_eq(ftello(fp), 9);
	ck_assert_int_eq(spool_is_rolled(fp), _i == 1);
	ck_assert_int_eq(fclose(fp), 0);
}
END_TEST

/* D-P17: a length past the threshold rolls over; up to it does not. */
START_TEST(test_control_truncate_rolls_past_threshold)
{
	FILE *fp = spool_fopen(10, "w+");
	struct stat st;

	ck_assert_ptr_nonnull(fp);
	ck_assert_int_ge(fputs("abcdefg\n", fp), 0);
	ck_assert_int_eq(fseeko(fp, 0, SEEK_SET), 0);
	ck_assert_int_eq(spool_truncate(fp, 0), 0);
	ck_assert_int_eq(spool_is_rolled(fp), 0);
	tu_expect_contents(fp, "", 0);
	rewind(fp);
	ck_assert_int_ge(fputs("abcdefg\n", fp), 0);
	ck_assert_int_eq(spool_truncate(fp, 4), 0);
	ck_assert_int_eq(spool_is_rolled(fp), 0);
	tu_expect_contents(fp, "abcd", 4);
	ck_assert_int_eq(spool_truncate(fp, 10), 0);
	ck_assert_int_eq(spool_is_rolled(fp), 0); /* exactly the threshold */
	ck_assert_int_eq(spool_truncate(fp, 20), 0);
	ck_assert_int_eq(spool_is_rolled(fp), 1);
	ck_assert_int_eq(fstat(spool_fileno(fp), &st), 0);
	ck_assert_int_eq(st.st_size, 20);
	tu_expect_contents(fp, "abcd\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 20);
	ck_assert_int_eq(fclose(fp), 0);
}
END_TEST

START_TEST(test_control_truncate_errors)
{
	FILE *fp = tu_open_opts(mem_or_disk(_i), 10, "w+", NULL, 0);

	ck_assert_int_ge(fputs("abcdef", fp), 0);
	errno = 0;
	ck_assert_int_eq(spool_truncate(fp, -1), -1);
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_int_eq(spool_truncate(fp, 11), -1); /* past the limit */
	ck_assert_int_eq(errno, EFBIG);
	ck_assert_int_eq(ferror(fp), 0);
	tu_expect_contents(fp, "abcdef", 6); /* nothing changed */
	ck_assert_int_eq(spool_truncate(fp, 10), 0);
	ck_assert_int_eq(spool_size(fp), 10);
	ck_assert_int_eq(fclose(fp), 0);

	fp = tu_open_opts(mem_or_disk(_i), 0, "r", "abcdef", 6);
	errno = 0;
	ck_assert_int_eq(spool_truncate(fp, 2), -1); /* read-only */
	ck_assert_int_eq(errno, EBADF);
	tu_expect_contents(fp, "abcdef", 6);
	ck_assert_int_eq(fclose(fp), 0);
}
END_TEST

/* ---- spool_size ---- */

START_TEST(test_control_size_counts_buffered_bytes)
{
	FILE *fp = spool_fopen(mem_or_disk(_i), "w+");
	char c;

	ck_assert_ptr_nonnull(fp);
	ck_assert_int_eq(spool_size(fp), 0);
	ck_assert_int_ge(fputs("hello", fp), 0);
	ck_assert_uint_eq(__fpending(fp), 5); /* not flushed yet */
	ck_assert_int_eq(spool_size(fp), 5);
	ck_assert_int_eq(fseeko(fp, 20, SEEK_SET), 0);
	ck_assert_int_eq(spool_size(fp), 5); /* a seek does not grow it */
	ck_assert_int_ge(fputs("x", fp), 0);
	ck_assert_int_eq(spool_size(fp), 21);
	ck_assert_int_eq(ftello(fp), 21);
	/* a size query keeps ungetc pushback */
	rewind(fp);
	ck_assert_int_eq(fread(&c, 1, 1, fp), 1);
	ck_assert_int_eq(ungetc('Z', fp), 'Z');
	ck_assert_int_eq(spool_size(fp), 21);
	ck_assert_int_eq(getc(fp), 'Z');
	ck_assert_int_eq(getc(fp), 'e');
	ck_assert_int_eq(fclose(fp), 0);

	fp = tu_open_opts(mem_or_disk(_i), 0, "a", "abc", 3);
	ck_assert_int_ge(fputs("defg", fp), 0);
	ck_assert_int_eq(spool_size(fp), 7);
	ck_assert_int_eq(fclose(fp), 0);
}
END_TEST

/* ---- spool_fileno ---- */

START_TEST(test_control_fileno)
{
	FILE *fp = spool_fopen(mem_or_disk(_i), "w+");
	char buf[32];
	int fd, flags;

	ck_assert_ptr_nonnull(fp);
	ck_assert_int_ge(fputs("hello world", fp), 0); /* buffered */
	ck_assert_int_eq(spool_is_rolled(fp), 0);
	fd = spool_fileno(fp);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(spool_is_rolled(fp), 1);
	ck_assert_uint_eq(__fpending(fp), 0); /* it flushed */
	ck_assert_int_eq(pread(fd, buf, sizeof(buf), 0), 11);
	ck_assert_int_eq(memcmp(buf, "hello world", 11), 0);
	ck_assert_int_eq(lseek(fd, 0, SEEK_CUR), ftello(fp));
	flags = fcntl(fd, F_GETFD);
	ck_assert_int_ne(flags, -1);
	ck_assert_int_ne(flags & FD_CLOEXEC, 0);
	ck_assert_int_eq(spool_fileno(fp), fd); /* the same, owned */
	ck_assert_int_ge(fputs("!", fp), 0);
	ck_assert_int_eq(fflush(fp), 0);
	ck_assert_int_eq(pread(fd, buf, sizeof(buf), 0), 12);
	ck_assert_int_eq(memcmp(buf, "hello world!", 12), 0);
	/* fclose closes it; nothing may open a descriptor in between */
	ck_assert_int_eq(fclose(fp), 0);
	errno = 0;
	ck_assert_int_eq(fcntl(fd, F_GETFD), -1);
	ck_assert_int_eq(errno, EBADF);
}
END_TEST

START_TEST(test_control_fileno_read_only)
{
	FILE *fp = tu_open_opts(mem_or_disk(_i), 0, "r", "read me", 7);
	char buf[8];

	ck_assert_int_eq(getc(fp), 'r');
	tu_expect_fd_contents(fp, "read me", 7);
	ck_assert_int_eq(fread(buf, 1, 6, fp), 6); /* reading goes on */
	ck_assert_int_eq(memcmp(buf, "ead me", 6), 0);
	ck_assert_int_eq(fclose(fp), 0);
}
END_TEST

/* ---- spool_rollover keeps position, flags and pushback ---- */

static FILE *letters_spool(void)
{
	FILE *fp = spool_fopen(SIZE_MAX, "w+");

	ck_assert_ptr_nonnull(fp);
	ck_assert_uint_eq(fwrite(letters, 1, 26, fp), 26);
	ck_assert_int_eq(fflush(fp), 0);
	return fp;
}

static void roll(FILE *fp)
{
	ck_assert_int_eq(spool_is_rolled(fp), 0);
	ck_assert_int_eq(spool_rollover(fp), 0);
	ck_assert_int_eq(spool_is_rolled(fp), 1);
}

START_TEST(test_control_rollover_keeps_position)
{
	FILE *fp = letters_spool();

	ck_assert_int_eq(fseeko(fp, 5, SEEK_SET), 0);
	ck_assert_int_eq(getc(fp), 'f'); /* read-ahead now buffered */
	roll(fp);
	ck_assert_int_eq(ftello(fp), 6);
	ck_assert_int_eq(getc(fp), 'g');
	ck_assert_int_eq(fseeko(fp, 0, SEEK_CUR), 0);
	ck_assert_int_eq(getc(fp), 'h');
	ck_assert_int_eq(fclose(fp), 0);

	fp = letters_spool();
	ck_assert_int_eq(fseeko(fp, 3, SEEK_SET), 0);
	ck_assert_int_ge(fputs("XY", fp), 0); /* pending output */
	roll(fp);
	ck_assert_uint_eq(__fpending(fp), 0); /* flushed first */
	ck_assert_int_eq(ftello(fp), 5);
	ck_assert_int_eq(getc(fp), 'f');
	tu_expect_contents(fp, "abcXYfghijklmnopqrstuvwxyz", 26);
	ck_assert_int_eq(fclose(fp), 0);
}
END_TEST

START_TEST(test_control_rollover_keeps_flags)
{
	FILE *fp = letters_spool();

	ck_assert_int_eq(getc(fp), EOF); /* at 26 after the write */
	ck_assert_int_ne(feof(fp), 0);
	roll(fp);
	ck_assert_int_ne(feof(fp), 0);
	ck_assert_int_eq(ferror(fp), 0);
	ck_assert_int_eq(getc(fp), EOF);
	ck_assert_int_eq(ftello(fp), 26);
	ck_assert_int_eq(fclose(fp), 0);

	fp = spool_fopen(SIZE_MAX, "w");
	ck_assert_ptr_nonnull(fp);
	ck_assert_int_ge(fputs("abc", fp), 0);
	ck_assert_int_eq(getc(fp), EOF); /* write-only: error flag */
	ck_assert_int_ne(ferror(fp), 0);
	roll(fp);
	ck_assert_int_ne(ferror(fp), 0);
	ck_assert_int_eq(feof(fp), 0);
	clearerr(fp);
	tu_expect_fd_contents(fp, "abc", 3);
	ck_assert_int_eq(fclose(fp), 0);
}
END_TEST

START_TEST(test_control_rollover_keeps_pushback)
{
	FILE *fp = letters_spool();

	rewind(fp);
	ck_assert_int_eq(getc(fp), 'a');
	ck_assert_int_eq(ungetc('X', fp), 'X');
	ck_assert_int_eq(ungetc('Y', fp), 'Y');
	roll(fp);
	ck_assert_int_eq(getc(fp), 'Y');
	ck_assert_int_eq(getc(fp), 'X');
	ck_assert_int_eq(getc(fp), 'b');
	ck_assert_int_eq(fclose(fp), 0);

	fp = letters_spool();
	ck_assert_int_eq(fseeko(fp, 10, SEEK_SET), 0);
	ck_assert_int_eq(getc(fp), 'k');
	ck_assert_int_eq(ungetc('k', fp), 'k'); /* a backup */
	roll(fp);
	ck_assert_int_eq(ftello(fp), 10);
	ck_assert_int_eq(getc(fp), 'k');
	ck_assert_int_eq(getc(fp), 'l');
	ck_assert_int_eq(fclose(fp), 0);

	fp = letters_spool(); /* pushback that clears EOF */
	ck_assert_int_eq(getc(fp), EOF);
	ck_assert_int_eq(ungetc('!', fp), '!');
	roll(fp);
	ck_assert_int_eq(feof(fp), 0);
	ck_assert_int_eq(getc(fp), '!');
	ck_assert_int_eq(getc(fp), EOF);
	ck_assert_int_eq(fclose(fp), 0);
}
END_TEST

START_TEST(test_control_rollover_when_rolled_is_noop)
{
	FILE *fp = spool_fopen(0, "w+");
	int fd;

	ck_assert_ptr_nonnull(fp);
	ck_assert_int_ge(fputs("abc", fp), 0);
	ck_assert_int_eq(fflush(fp), 0);
	ck_assert_int_eq(spool_is_rolled(fp), 1);
	fd = spool_fileno(fp);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fseeko(fp, 1, SEEK_SET), 0);
	ck_assert_int_eq(spool_rollover(fp), 0);
	ck_assert_int_eq(spool_rollover(fp), 0);
	ck_assert_int_eq(spool_fileno(fp), fd); /* the same file */
	ck_assert_int_eq(ftello(fp), 1);
	ck_assert_int_eq(getc(fp), 'b');
	tu_expect_contents(fp, "abc", 3);
	ck_assert_int_eq(fclose(fp), 0);
}
END_TEST

START_TEST(test_control_never_back_to_memory)
{
	FILE *fp = spool_fopen(10, "w+");
	int fd;

	ck_assert_ptr_nonnull(fp);
	ck_assert_uint_eq(fwrite(letters, 1, 20, fp), 20);
	ck_assert_int_eq(fflush(fp), 0);
	ck_assert_int_eq(spool_is_rolled(fp), 1);
	fd = spool_fileno(fp);
	ck_assert_int_eq(spool_truncate(fp, 0), 0);
	ck_assert_int_eq(spool_is_rolled(fp), 1);
	rewind(fp);
	ck_assert_int_ge(fputs("x", fp), 0);
	ck_assert_int_eq(fflush(fp), 0);
	ck_assert_int_eq(spool_is_rolled(fp), 1);
	ck_assert_int_eq(spool_fileno(fp), fd);
	tu_expect_contents(fp, "x", 1);
	ck_assert_int_eq(fclose(fp), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("control");
	TCase *tc;

	tc = tu_tcase(s, "truncate");
	tcase_add_loop_test(tc, test_control_truncate_shrink_extend, 0, 2);
	tcase_add_test(tc, test_control_truncate_rolls_past_threshold);
	tcase_add_loop_test(tc, test_control_truncate_errors, 0, 2);

	tc = tu_tcase(s, "size");
	tcase_add_loop_test(tc, test_control_size_counts_buffered_bytes, 0, 2);

	tc = tu_tcase(s, "fileno");
	tcase_add_loop_test(tc, test_control_fileno, 0, 2);
	tcase_add_loop_test(tc, test_control_fileno_read_only, 0, 2);

	tc = tu_tcase(s, "rollover");
	tcase_add_test(tc, test_control_rollover_keeps_position);
	tcase_add_test(tc, test_control_rollover_keeps_flags);
	tcase_add_test(tc, test_control_rollover_keeps_pushback);
	tcase_add_test(tc, test_control_rollover_when_rolled_is_noop);
	tcase_add_test(tc, test_control_never_back_to_memory);
	return tu_run(s);
}
