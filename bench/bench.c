/* SPDX-License-Identifier: MIT */
/*
 * bench.c - the helpers spool-bench and contents-bench share (bench.h).
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double median(const double *v, int n)
{
	double s[MAX_ROUNDS];

	if (n == 0)
		return 0;
	memcpy(s, v, (size_t)n * sizeof(*s));
	qsort(s, (size_t)n, sizeof(*s), cmp_double);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

int parse_size(const char *arg, size_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(arg, &end, 10);
	if (errno != 0 || end == arg || v == 0)
		return -1;
	switch (*end) {
	case 'G':
		v *= 1024;
		/* fall through */
	case 'M':
		v *= 1024;
		/* fall through */
	case 'K':
		v *= 1024;
		end++;
		break;
	default:
		break;
	}
	if (*end != '\0' || v > SIZE_MAX / 2)
		return -1;
	*out = (size_t)v;
	return 0;
}

int run_forked(forked_fn *fn, const void *arg, void *out, size_t len)
{
	int fd[2], status;
	ssize_t n;
	pid_t pid;

	if (pipe(fd) < 0)
		return -1;
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		close(fd[0]);
		fn(arg, out);
		fflush(NULL);
		_exit(write(fd[1], out, len) == (ssize_t)len ? 0 : 1);
	}
	close(fd[1]);
	n = pid < 0 ? -1 : read(fd[0], out, len);
	close(fd[0]);
	if (pid < 0 || waitpid(pid, &status, 0) < 0 || status != 0 ||
	    n != (ssize_t)len)
		return -1;
	return 0;
}
