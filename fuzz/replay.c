/* SPDX-License-Identifier: MIT */
/*
 * replay.c - run the fuzz harness over saved inputs without libFuzzer,
 * so `make check` replays the corpus with any compiler:
 *
 *   fuzz/replay DIR-OR-FILE...
 *
 * Every regular file named, or found (not recursively) in a directory
 * named, is passed to LLVMFuzzerTestOneInput once, in name order. The
 * harness abort()s on a finding, and the input's name is printed then;
 * with -v every name is printed before it runs (useful when a sanitizer,
 * not the harness, stops the run), and so is every undefined-mode input
 * the harness skipped because glibc's portable path did not survive it
 * either (fuzz_spool.c), with their count at the end. Exits 0 after
 * printing how many inputs ran, 1 when there were none or one could not
 * be read.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
extern unsigned long fuzz_spool_skipped;

static int trace;
static const char *volatile current;

/* The harness reports a finding with abort(): name the input, then let
 * the default action dump core as usual. */
static void on_abort(int sig)
{
	const char *p = current;

	if (p != NULL) {
		(void)!write(2, "replay: failing input: ", 23);
		(void)!write(2, p, strlen(p));
		(void)!write(2, "\n", 1);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

/* The whole file in a fresh buffer; NULL with a message on error. */
static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	uint8_t *buf = NULL;
	struct stat st;

	if (fp == NULL || fstat(fileno(fp), &st) < 0)
		goto fail;
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL)
		goto fail;
	*len = fread(buf, 1, (size_t)st.st_size, fp);
	if (ferror(fp) || *len != (size_t)st.st_size)
		goto fail;
	fclose(fp);
	return buf;
fail:
	fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
	free(buf);
	if (fp != NULL)
		fclose(fp);
	return NULL;
}

static int run_file(const char *path)
{
	unsigned long skipped;
	size_t len = 0;
	uint8_t *buf = slurp(path, &len);

	if (buf == NULL)
		return -1;
	if (trace)
		fprintf(stderr, "replay: %s (%zu bytes)\n", path, len);
	current = path;
	skipped = fuzz_spool_skipped;
	LLVMFuzzerTestOneInput(buf, len);
	current = NULL;
	if (trace && fuzz_spool_skipped != skipped)
		fprintf(stderr,
			"replay: %s skipped: the portable path did "
			"not survive it\n",
			path);
	free(buf);
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The regular files in dir, sorted, as malloc'd paths. */
static char **list_dir(const char *dir, size_t *count)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **v = NULL, **nv, *path;
	size_t n = 0;
	struct stat st;

	if (d == NULL)
		return NULL;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' ||
		    asprintf(&path, "%s/%s", dir, e->d_name) < 0)
			continue;
		if (stat(path, &st) < 0 || !S_ISREG(st.st_mode) ||
		    (nv = realloc(v, (n + 1) * sizeof(*v))) == NULL) {
			free(path);
			continue;
		}
		v = nv;
		v[n++] = path;
	}
	closedir(d);
	if (n > 0)
		qsort(v, n, sizeof(*v), by_name);
	*count = n;
	return v;
}

/* Returns the number of inputs run, or -1. */
static long run_arg(const char *arg)
{
	struct stat st;
	char **v;
	size_t n = 0, i;
	long done = 0;

	if (stat(arg, &st) < 0) {
		fprintf(stderr, "replay: %s: %s\n", arg, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return run_file(arg) < 0 ? -1 : 1;
	v = list_dir(arg, &n);
	for (i = 0; i < n; i++) {
		if (done >= 0)
			done = run_file(v[i]) < 0 ? -1 : done + 1;
		free(v[i]);
	}
	free(v);
	return done;
}

int main(int argc, char **argv)
{
	long total = 0, n;
	int i, first = 1;

	if (argc > 1 && strcmp(argv[1], "-v") == 0) {
		trace = 1;
		first = 2;
	}
	signal(SIGABRT, on_abort);
	for (i = first; i < argc; i++) {
		n = run_arg(argv[i]);
		if (n < 0)
			return 1;
		total += n;
	}
	printf("replay: %ld inputs replayed\n", total);
	if (trace)
		printf("replay: %lu undefined-mode inputs skipped\n",
		       fuzz_spool_skipped);
	return total > 0 ? 0 : 1;
}
