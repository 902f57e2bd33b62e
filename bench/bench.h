/* SPDX-License-Identifier: MIT */
/*
 * bench.h - what spool-bench and contents-bench share: the clock, the
 * median of a round's values, size arguments, and a measurement run in
 * a forked child that sends its result back through a pipe.
 */
#ifndef SPOOL_BENCH_H
#define SPOOL_BENCH_H

#include <stddef.h>

#define MAX_ROUNDS 51 /* also the most values median() takes */

/* CLOCK_MONOTONIC in seconds. */
double now(void);

/* Median of v[0..n), n <= MAX_ROUNDS; 0 when n == 0. */
double median(const double *v, int n);

/* "64M", "1G", "512K" or bytes into *out; -1 for 0 or anything else. */
int parse_size(const char *arg, size_t *out);

/*
 * Run fn(arg, out) in a forked child and copy the len bytes it leaves at
 * out back into this process's out. Returns 0, or -1 when the fork, the
 * pipe or the child failed (out is then whatever arrived, if anything).
 */
typedef void forked_fn(const void *arg, void *out);
int run_forked(forked_fn *fn, const void *arg, void *out, size_t len);

#endif
