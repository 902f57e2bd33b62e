/* SPDX-License-Identifier: MIT */
/*
 * memstream-before - a small program that needs its whole output before
 * it can write the first byte: a length header, then the body. It
 * collects the body with open_memstream(), so memory grows with the
 * output. memstream-after.c is the same program on a spool.
 *
 * Usage: memstream-before [ROWS]   (default 1000)
 */
#include <stdio.h>
#include <stdlib.h>

static void write_body(FILE *out, long rows)
{
	fprintf(out, "id,name,square\n");
	for (long i = 0; i < rows; i++)
		fprintf(out, "%ld,row-%05ld,%ld\n", i, i, i * i);
}

int main(int argc, char **argv)
{
	long rows = argc > 1 ? atol(argv[1]) : 1000;
	char *buf = NULL;
	size_t len = 0;
	FILE *body = open_memstream(&buf, &len);

	if (body == NULL) {
		perror("open_memstream");
		return 1;
	}
	write_body(body, rows);
	if (fclose(body) != 0) {
		perror("open_memstream");
		free(buf);
		return 1;
	}
	printf("Content-Length: %zu\n\n", len);
	fwrite(buf, 1, len, stdout);
	free(buf);
	return fflush(stdout) == 0 ? 0 : 1;
}
