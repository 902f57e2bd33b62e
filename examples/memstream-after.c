/* SPDX-License-Identifier: MIT */
/*
 * memstream-after - memstream-before.c with open_memstream() replaced by
 * a spool, as a drop-in: the same buffer and length at the end, the same
 * output. The changes: spool_fopen() instead of open_memstream(), and
 * spool_getvalue() for the buffer and its length, taken before fclose().
 * While the body is written, at most THRESHOLD bytes of it are held in
 * memory and the rest waits in a nameless temp file; the buffer then
 * holds the whole body, as open_memstream()'s does. To send the body
 * without ever holding it in memory, see send-body.c (spool_send()).
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

int main(int argc, char **argv)
{
	long rows = argc > 1 ? atol(argv[1]) : 1000;
	char *buf;
	size_t len;
	FILE *body = spool_fopen(THRESHOLD, "w");

	if (body == NULL) {
		perror("spool_fopen");
		return 1;
	}
	write_body(body, rows);
	/* Flushes, then copies: write errors show up here. The buffer is
	 * ours, NUL-terminated, and outlives the spool. */
	buf = spool_getvalue(body, &len);
	if (buf == NULL) {
		perror("spool_getvalue");
		fclose(body);
		return 1;
	}
	if (fclose(body) != 0) {
		perror("fclose");
		free(buf);
		return 1;
	}
	printf("Content-Length: %zu\n\n", len);
	fwrite(buf, 1, len, stdout);
	free(buf);
	return fflush(stdout) == 0 ? 0 : 1;
}
