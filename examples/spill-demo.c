/* SPDX-License-Identifier: MIT */
/*
 * spill-demo - the main job of libspool in one program: fprintf() more
 * than the threshold into a spool, watch it move to disk, read it back.
 *
 * Usage: spill-demo [LINES [THRESHOLD]]   (defaults: 100000 lines, 64 KiB)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spool.h"

/* A function that only knows FILE*: it could be any legacy code. */
static void write_report(FILE *out, long lines)
{
	for (long i = 0; i < lines; i++)
		fprintf(out, "%ld,item-%ld,%lx\n", i, i * 7,
			(unsigned long)i * 31);
}

/* Read the report back and check every line. */
static long check_report(FILE *in)
{
	char line[128], want[128];
	long i = 0;

	rewind(in);
	while (fgets(line, sizeof(line), in) != NULL) {
		snprintf(want, sizeof(want), "%ld,item-%ld,%lx\n", i, i * 7,
			 (unsigned long)i * 31);
		if (strcmp(line, want) != 0)
			return -1;
		i++;
	}
	return ferror(in) ? -1 : i;
}

int main(int argc, char **argv)
{
	long lines = argc > 1 ? atol(argv[1]) : 100000;
	size_t threshold = argc > 2 ? strtoul(argv[2], NULL, 0) : 64 * 1024;
	FILE *fp = spool_fopen(threshold, "w+");
	long got;

	if (fp == NULL) {
		perror("spool_fopen");
		return 1;
	}
	write_report(fp, lines / 100);
	printf("after %ld lines: %lld bytes, %s\n", lines / 100,
	       (long long)spool_size(fp),
	       spool_is_rolled(fp) ? "on disk" : "in memory");
	write_report(fp, 0);
	fseeko(fp, 0, SEEK_SET);
	write_report(fp, lines);
	printf("after %ld lines: %lld bytes, %s (threshold %zu)\n", lines,
	       (long long)spool_size(fp),
	       spool_is_rolled(fp) ? "on disk" : "in memory", threshold);
	got = check_report(fp);
	printf("read back %ld lines: %s\n", got,
	       got == lines ? "all correct" : "MISMATCH");
	if (fclose(fp) != 0) {
		perror("fclose");
		return 1;
	}
	return got == lines ? 0 : 1;
}
