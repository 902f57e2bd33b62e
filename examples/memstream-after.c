/*
 * memstream-after - memstream-before.c with the open_memstream() call
 * replaced by a spool: the same output, but at most THRESHOLD bytes of
 * the body are held in memory; the rest waits in a nameless temp file.
 * The changes: spool_fopen() instead of open_memstream(), spool_size()
 * for the length, and a copy loop instead of fwrite() of the buffer.
 *
 * Usage: memstream-after [ROWS]   (default 1000)
 */
#include <stdio.h>
#include <stdlib.h>

#include "spool.h"

#define THRESHOLD (64 * 1024)

static void write_body(FILE *out, long rows)
{
	fprintf(out, "id,name,square\n");
	for (long i = 0; i < rows; i++)
		fprintf(out, "%ld,row-%05ld,%ld\n", i, i, i * i);
}

static int copy(FILE *in, FILE *out)
{
	char buf[8192];
	size_t n;

	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		if (fwrite(buf, 1, n, out) != n)
			return -1;
	return ferror(in) ? -1 : 0;
}

int main(int argc, char **argv)
{
	long rows = argc > 1 ? atol(argv[1]) : 1000;
	FILE *body = spool_fopen(THRESHOLD, "w+");
	off_t len;

	if (body == NULL) {
		perror("spool_fopen");
		return 1;
	}
	write_body(body, rows);
	len = spool_size(body);	/* flushes, so errors show up here */
	if (len < 0 || ferror(body)) {
		perror("spool");
		fclose(body);
		return 1;
	}
	printf("Content-Length: %lld\n\n", (long long)len);
	rewind(body);
	if (copy(body, stdout) != 0) {
		perror("copy");
		fclose(body);
		return 1;
	}
	if (fclose(body) != 0) {
		perror("fclose");
		return 1;
	}
	return fflush(stdout) == 0 ? 0 : 1;
}
