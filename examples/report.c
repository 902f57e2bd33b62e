/* SPDX-License-Identifier: MIT */
/*
 * report - fprintf() a report whose size is not known in advance into a
 * spool, then get it back. With the small default threshold it spills to
 * the temp file on the way; the program reads the report back and checks
 * it, so its exit status says whether the round trip was exact.
 *
 * Usage: report [LIMIT [THRESHOLD]]   (defaults: 10000, 1024 bytes)
 * The report lists the primes below LIMIT, one per line, then a total.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spool.h"

static int is_prime(long n)
{
	if (n < 2)
		return 0;
	for (long d = 2; d * d <= n; d++)
		if (n % d == 0)
			return 0;
	return 1;
}

/* Writes the report; how long it gets is only known at the end. */
static long write_report(FILE *out, long limit)
{
	long count = 0;

	fprintf(out, "primes below %ld\n", limit);
	for (long n = 2; n < limit; n++) {
		if (is_prime(n)) {
			fprintf(out, "%ld\n", n);
			count++;
		}
	}
	fprintf(out, "total: %ld\n", count);
	return count;
}

/*
 * Reads the report back and checks it on its own terms: the header, every
 * line a prime larger than the one before, no prime skipped, and a total
 * that matches the lines. Returns the number of primes, or -1.
 */
static long check_report(FILE *in, long limit, off_t *bytes)
{
	char line[64], want[64];
	long count = 0, prev = 1, total = -1;

	*bytes = 0;
	snprintf(want, sizeof(want), "primes below %ld\n", limit);
	if (fgets(line, sizeof(line), in) == NULL || strcmp(line, want) != 0)
		return -1;
	*bytes += (off_t)strlen(line);
	while (fgets(line, sizeof(line), in) != NULL) {
		char *end;
		long n;

		*bytes += (off_t)strlen(line);
		if (total >= 0)
			return -1; /* nothing may follow the total */
		if (sscanf(line, "total: %ld", &total) == 1)
			continue;
		errno = 0;
		n = strtol(line, &end, 10);
		if (errno != 0 || *end != '\n' || n <= prev || !is_prime(n))
			return -1;
		for (long m = prev + 1; m < n; m++)
			if (is_prime(m))
				return -1; /* a prime went missing */
		prev = n;
		count++;
	}
	if (ferror(in) || total != count)
		return -1;
	return count;
}

int main(int argc, char **argv)
{
	long limit = argc > 1 ? atol(argv[1]) : 10000;
	size_t threshold = argc > 2 ? strtoul(argv[2], NULL, 0) : 1024;
	FILE *fp = spool_fopen(threshold, "w+");
	long wrote, got;
	off_t size, bytes;
	int rolled;

	if (fp == NULL) {
		perror("spool_fopen");
		return 1;
	}
	wrote = write_report(fp, limit);
	size = spool_size(fp);
	rolled = spool_is_rolled(fp);
	if (size < 0 || rolled < 0) {
		perror("spool_size");
		fclose(fp);
		return 1;
	}
	rewind(fp);
	got = check_report(fp, limit, &bytes);
	if (fclose(fp) != 0) {
		perror("fclose");
		return 1;
	}
	printf("report: %ld primes below %ld, %lld bytes, %s (threshold %zu)\n",
	       wrote, limit, (long long)size,
	       rolled ? "spilled to disk" : "kept in memory", threshold);
	if (got != wrote || bytes != size) {
		printf("read back: MISMATCH (%ld primes, %lld bytes)\n", got,
		       (long long)bytes);
		return 1;
	}
	printf("read back: %ld primes, %lld bytes, all correct\n", got,
	       (long long)bytes);
	return 0;
}
