/* SPDX-License-Identifier: MIT */
/*
 * with-zlib - zlib's gz* functions take a descriptor (gzdopen): give them
 * dup(spool_fileno(fp)). Compresses text into the spool that way, reads
 * the compressed bytes back through the FILE*, inflates them, and also
 * reads them with gzdopen() again; both must give the original text.
 *
 * Usage: with-zlib [LINES [THRESHOLD]]   (defaults: 20000, 4096 bytes)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "spool.h"

static char *make_text(long lines, size_t *len)
{
	size_t cap = (size_t)lines * 48 + 1, n = 0;
	char *text = malloc(cap);

	for (long i = 0; text && i < lines; i++)
		n += (size_t)snprintf(text + n, cap - n,
				      "line %ld: %lx squared is %ld\n", i,
				      (unsigned long)i, i * i);
	*len = n;
	return text;
}

/*
 * gzclose() closes the dup, not the spool's descriptor. The dup shares
 * the file offset, so afterwards the stream must be told the file moved
 * under it: rewind() (a seek) does that.
 */
static int gzip_into(FILE *fp, const char *text, size_t len)
{
	int fd = spool_fileno(fp);
	gzFile gz;

	if (fd < 0 || (fd = dup(fd)) < 0)
		return -1;
	gz = gzdopen(fd, "wb");
	if (gz == NULL) {
		close(fd);
		return -1;
	}
	if (gzwrite(gz, text, (unsigned)len) != (int)len) {
		gzclose(gz);
		return -1;
	}
	if (gzclose(gz) != Z_OK)
		return -1;
	rewind(fp);
	return 0;
}

/* Inflates what fread() gets from fp; 1 if it is exactly text. */
static int inflate_stream(FILE *fp, const char *text, size_t len,
			  size_t *zbytes)
{
	unsigned char in[4096];
	char *out = malloc(len + 1);
	z_stream zs;
	int ret = Z_OK;

	memset(&zs, 0, sizeof(zs));
	if (out == NULL || inflateInit2(&zs, 15 + 16) != Z_OK) {
		free(out);
		return 0;
	}
	*zbytes = 0;
	zs.next_out = (unsigned char *)out;
	zs.avail_out = (unsigned)len + 1;
	while (ret == Z_OK) {
		size_t n = fread(in, 1, sizeof(in), fp);

		if (n == 0)
			break;
		*zbytes += n;
		zs.next_in = in;
		zs.avail_in = (unsigned)n;
		ret = inflate(&zs, Z_NO_FLUSH);
	}
	inflateEnd(&zs);
	ret = ret == Z_STREAM_END && zs.total_out == len &&
	      memcmp(out, text, len) == 0;
	free(out);
	return ret;
}

/* Reads the spool with gzdopen() on a dup, from offset 0; 1 if text. */
static int gunzip_fd(FILE *fp, const char *text, size_t len)
{
	int fd = dup(spool_fileno(fp));
	char *out = malloc(len + 1);
	gzFile gz;
	int n = -1;

	if (fd >= 0 && lseek(fd, 0, SEEK_SET) == 0 &&
	    (gz = gzdopen(fd, "rb")) != NULL) {
		n = gzread(gz, out, (unsigned)len + 1);
		gzclose(gz);
	} else if (fd >= 0) {
		close(fd);
	}
	n = out && n == (int)len && memcmp(out, text, len) == 0;
	free(out);
	rewind(fp);
	return n;
}

int main(int argc, char **argv)
{
	long lines = argc > 1 ? atol(argv[1]) : 20000;
	size_t threshold = argc > 2 ? strtoul(argv[2], NULL, 0) : 4096;
	FILE *fp = spool_fopen(threshold, "w+b");
	size_t len, zbytes = 0;
	char *text = make_text(lines, &len);
	int by_stream, by_fd, rolled;
	off_t size;

	if (fp == NULL || text == NULL) {
		perror("with-zlib");
		return 1;
	}
	if (gzip_into(fp, text, len) != 0) {
		fprintf(stderr, "with-zlib: gzip into the spool failed\n");
		return 1;
	}
	size = spool_size(fp);
	rolled = spool_is_rolled(fp);
	by_stream = inflate_stream(fp, text, len, &zbytes);
	by_fd = gunzip_fd(fp, text, len);
	free(text);
	if (fclose(fp) != 0) {
		perror("fclose");
		return 1;
	}
	by_stream = by_stream && size >= 0 && zbytes == (size_t)size;
	printf("with-zlib: gzipped %zu bytes into %lld bytes through "
	       "dup(spool_fileno()), %s (threshold %zu); fread+inflate: "
	       "%s; gzdopen: %s\n",
	       len, (long long)size, rolled == 1 ? "on disk" : "NOT ON DISK",
	       threshold, by_stream ? "identical" : "DIFFERS",
	       by_fd ? "identical" : "DIFFERS");
	return by_stream && by_fd && rolled == 1 ? 0 : 1;
}
