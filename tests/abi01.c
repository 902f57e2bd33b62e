/* SPDX-License-Identifier: MIT */
/*
 * abi01.c - a program as it was built against libspool 0.1: its struct
 * spool_options ends at `flags`, and it binds to spool_fopen_opts at
 * version LIBSPOOL_0.1, as a binary linked then did. The struct lies at
 * the very end of a page followed by an inaccessible one, so a library
 * that read today's longer struct would fault. Run by check-abi.sh.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <unistd.h>

struct spool_options_0_1 {
	size_t threshold;
	off_t limit;
	const char *dir;
	const void *data;
	size_t data_len;
	unsigned flags;
};

FILE *spool_fopen_opts(const struct spool_options_0_1 *opts, const char *mode);
int spool_is_rolled(FILE *fp);
__asm__(".symver spool_fopen_opts, spool_fopen_opts@LIBSPOOL_0.1");

int main(void)
{
	long pg = sysconf(_SC_PAGESIZE);
	unsigned char *m = mmap(NULL, 2 * (size_t)pg, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct spool_options_0_1 *o;
	char back[6] = "";
	FILE *fp;

	if (m == MAP_FAILED || mprotect(m + pg, (size_t)pg, PROT_NONE) < 0)
		return 2;
	o = (struct spool_options_0_1 *)(m + pg - sizeof(*o));
	memset(o, 0xa5, sizeof(*o)); /* padding as garbage */
	o->threshold = 4;
	o->limit = 0;
	o->dir = NULL;
	o->data = "0.1";
	o->data_len = 3;
	o->flags = 0;
	fp = spool_fopen_opts(o, "r+");
	if (fp == NULL) {
		perror("abi01: spool_fopen_opts@LIBSPOOL_0.1");
		return 1;
	}
	if (spool_is_rolled(fp) != 0 || fseek(fp, 0, SEEK_END) != 0 ||
	    fputs("ab", fp) < 0 || fflush(fp) != 0 ||
	    spool_is_rolled(fp) != 1 || fseek(fp, 0, SEEK_SET) != 0 ||
	    fread(back, 1, 5, fp) != 5 || memcmp(back, "0.1ab", 5) != 0) {
		fprintf(stderr, "abi01: wrong behaviour (%s)\n", back);
		return 1;
	}
	/* An unknown flag bit is still refused through the old entry. */
	o->flags = 0x100;
	errno = 0;
	if (spool_fopen_opts(o, "w+") != NULL || errno != EINVAL) {
		fprintf(stderr, "abi01: flags 0x100 accepted\n");
		return 1;
	}
	fclose(fp);
	puts("abi01: a 0.1 binary works with this library");
	return 0;
}
