/* SPDX-License-Identifier: MIT */
/*
 * threads-bench.c - do spools scale from one thread to two (issue 15,
 * point 5)? Each workload runs on one thread, then on two, each thread
 * with streams of its own, and the ratio of the total rates is printed:
 * 2.0 is perfect scaling on two cores, 1.0 none, below 1.0 a shared
 * lock or cache line that the threads fight over. Also the memory an
 * idle open stream holds. It reports and never asserts (bench/README).
 */
#include "config.h"

#include <malloc.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "spool.h"

#define MAX_THREADS 2
#define MEM_STREAMS 10000 /* streams held open for the memory figure */
#define MEM_BYTES 100	  /* bytes each of them holds */
#define OC_BYTES 200	  /* bytes written per open-close cycle */

/* One thread's state, on cache lines of its own so that the counters of
 * two threads never share one: that would be the bench's own bottleneck. */
struct worker {
	alignas(64) int (*op)(struct worker *w);
	FILE *fp; /* the query workloads' own spool */
	unsigned long ops;
	double cpu; /* seconds this thread ran */
	int failed;
	pthread_t tid;
	char fbuf[512]; /* fmemopen's buffer */
};

struct workload {
	const char *name;
	int (*op)(struct worker *w);
	int query; /* a stream per thread: 1 a spool, 2 an fmemopen one */
};

static alignas(64) atomic_int stop;
static pthread_barrier_t start;
static double slice = 0.2; /* seconds per timed run */
static const char payload[OC_BYTES] = "0123456789abcdef";

static int q_is_rolled(struct worker *w)
{
	return spool_is_rolled(w->fp);
}

static int q_size(struct worker *w)
{
	return spool_size(w->fp) == MEM_BYTES ? 0 : -1;
}

/* The control: a query that shares nothing between threads (the FILE
 * lock and glibc's fmemopen seek callback of the thread's own stream),
 * so its ratio is what the machine gives two threads at that moment. */
static int q_ftello(struct worker *w)
{
	return ftello(w->fp) == MEM_BYTES ? 0 : -1;
}

/* The open-close cycle's common part: write, hand over, close. */
static int write_close(FILE *fp)
{
	int rc = 0;

	if (fp == NULL)
		return -1;
	if (fwrite(payload, 1, OC_BYTES, fp) != OC_BYTES || fflush(fp) != 0)
		rc = -1;
	if (fclose(fp) != 0)
		rc = -1;
	return rc;
}

static int oc_spool(struct worker *w)
{
	(void)w;
	return write_close(spool_fopen(1 << 20, "w+"));
}

static ssize_t nop_write(void *cookie, const char *buf, size_t n)
{
	(void)cookie;
	(void)buf;
	return (ssize_t)n;
}

static ssize_t nop_read(void *cookie, char *buf, size_t n)
{
	(void)cookie;
	(void)buf;
	(void)n;
	return 0;
}

static int nop_seek(void *cookie, off64_t *off, int whence)
{
	(void)cookie;
	(void)off;
	(void)whence;
	return 0;
}

static int nop_close(void *cookie)
{
	(void)cookie;
	return 0;
}

/* The floor: glibc's cookie layer with callbacks that do nothing. */
static int oc_cookie(struct worker *w)
{
	static const cookie_io_functions_t io = {
	    .read = nop_read,
	    .write = nop_write,
	    .seek = nop_seek,
	    .close = nop_close,
	};

	(void)w;
	return write_close(fopencookie(NULL, "w+", io));
}

static int oc_fmemopen(struct worker *w)
{
	return write_close(fmemopen(w->fbuf, sizeof(w->fbuf), "w+"));
}

static int oc_memstream(struct worker *w)
{
	char *buf = NULL;
	size_t len;
	int rc;

	(void)w;
	rc = write_close(open_memstream(&buf, &len));
	free(buf);
	return rc;
}

static const struct workload workloads[] = {
    {"spool_is_rolled", q_is_rolled, 1},
    {"spool_size", q_size, 1},
    {"ftello (fmemopen, control)", q_ftello, 2},
    {"open-close spool", oc_spool, 0},
    {"open-close null-cookie", oc_cookie, 0},
    {"open-close fmemopen", oc_fmemopen, 0},
    {"open-close open_memstream", oc_memstream, 0},
};

/* CPU seconds of the calling thread: a thread that waits for a lock or
 * for a core (other tenants) does not run, so ops per CPU second show
 * what sharing costs even when the machine has no core to spare. */
static double thread_cpu(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Run op until told to stop; the flag is read every 64 operations so
 * that its cache line stays shared and costs nothing. */
static void *work(void *arg)
{
	struct worker *w = arg;
	int i;

	pthread_barrier_wait(&start);
	w->cpu = thread_cpu();
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		for (i = 0; i < 64; i++)
			w->failed |= w->op(w) < 0;
		w->ops += 64;
	}
	w->cpu = thread_cpu() - w->cpu;
	return NULL;
}

/* A stream holding MEM_BYTES, for the query workloads. */
static FILE *query_stream(struct worker *w, int kind)
{
	FILE *fp = kind == 1 ? spool_fopen(1 << 20, "w+")
			     : fmemopen(w->fbuf, sizeof(w->fbuf), "w+");

	if (fp != NULL && (fwrite(payload, 1, MEM_BYTES, fp) != MEM_BYTES ||
			   fflush(fp) != 0)) {
		fclose(fp);
		fp = NULL;
	}
	return fp;
}

static int start_workers(struct worker *w, int n, const struct workload *wl)
{
	int i;

	for (i = 0; i < n; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].op = wl->op;
		if (wl->query &&
		    (w[i].fp = query_stream(&w[i], wl->query)) == NULL)
			return -1;
		if (pthread_create(&w[i].tid, NULL, work, &w[i]) != 0)
			return -1;
	}
	return 0;
}

/* Operations of n threads together per second of wall time and per
 * second the threads ran; exit on any failure. */
struct rate {
	double wall, cpu;
};

static struct rate measure(const struct workload *wl, int n)
{
	static struct worker w[MAX_THREADS];
	unsigned long ops = 0;
	int i, failed = 0;
	double t0, cpu = 0;
	struct timespec ts = {.tv_sec = (time_t)slice,
			      .tv_nsec = (long)((slice - (time_t)slice) * 1e9)};

	atomic_store(&stop, 0);
	pthread_barrier_init(&start, NULL, (unsigned)n + 1);
	if (start_workers(w, n, wl) < 0) {
		fprintf(stderr, "threads-bench: cannot start %s\n", wl->name);
		exit(1);
	}
	pthread_barrier_wait(&start);
	t0 = now();
	nanosleep(&ts, NULL);
	atomic_store(&stop, 1);
	for (i = 0; i < n; i++) {
		pthread_join(w[i].tid, NULL);
		ops += w[i].ops;
		cpu += w[i].cpu;
		failed |= w[i].failed;
		if (w[i].fp != NULL)
			fclose(w[i].fp);
	}
	t0 = now() - t0;
	pthread_barrier_destroy(&start);
	if (failed) {
		fprintf(stderr, "threads-bench: %s failed\n", wl->name);
		exit(1);
	}
	return (struct rate){(double)ops / t0, (double)ops / cpu};
}

static double min_of(const double *v, int n)
{
	double m = v[0];

	while (--n > 0)
		m = v[n] < m ? v[n] : m;
	return m;
}

static double max_of(const double *v, int n)
{
	double m = v[0];

	while (--n > 0)
		m = v[n] > m ? v[n] : m;
	return m;
}

static void print_ratio(const double *v, int rounds)
{
	printf(" %.2f | %.2f-%.2f |", median(v, rounds), min_of(v, rounds),
	       max_of(v, rounds));
}

/* One row: rounds of one thread and two back to back, which goes first
 * alternating, so that other tenants' load, which moves in seconds,
 * moves both sides of a ratio alike. */
static void scaling_row(const struct workload *wl, int rounds)
{
	struct rate one, two;
	double w1[MAX_ROUNDS], w2[MAX_ROUNDS], wall[MAX_ROUNDS],
	    cpu[MAX_ROUNDS];
	int r;

	for (r = 0; r < rounds; r++) {
		if (r % 2 == 0) {
			one = measure(wl, 1);
			two = measure(wl, 2);
		} else {
			two = measure(wl, 2);
			one = measure(wl, 1);
		}
		w1[r] = one.wall;
		w2[r] = two.wall;
		wall[r] = two.wall / one.wall;
		cpu[r] = two.cpu / one.cpu;
		fputc('.', stderr);
	}
	printf("| %s | %.2f M/s | %.2f M/s |", wl->name,
	       median(w1, rounds) / 1e6, median(w2, rounds) / 1e6);
	print_ratio(wall, rounds);
	print_ratio(cpu, rounds);
	printf("\n");
	fflush(stdout);
}

static void scaling(int rounds)
{
	size_t k;

	printf("## Scaling, %d rounds of %.2f s per side\n\n", rounds, slice);
	printf("Ratio: 2 threads / 1 thread, median (range); wall: 2.0 is "
	       "perfect on two\nfree cores; per CPU second: 1.0 is no cost "
	       "from sharing.\n\n");
	printf("| workload | 1 thread | 2 threads | wall ratio | range "
	       "| per-CPU ratio | range |\n");
	printf("|---|---:|---:|---:|---|---:|---|\n");
	for (k = 0; k < sizeof(workloads) / sizeof(workloads[0]); k++)
		scaling_row(&workloads[k], rounds);
	fputc('\n', stderr);
}

static size_t heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

/* Resident bytes: pages the process has touched (the stdio buffer's
 * untouched pages count in the heap but not here). */
static size_t resident(void)
{
	unsigned long size = 0, pages = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f != NULL) {
		if (fscanf(f, "%lu %lu", &size, &pages) != 2)
			pages = 0;
		fclose(f);
	}
	return pages * (size_t)sysconf(_SC_PAGESIZE);
}

/* In a fresh child: bytes malloc holds, and resident bytes, per open
 * stream holding MEM_BYTES (out: two doubles). glibc's tcache, which
 * mallinfo2 counts as in use, parks at most a few KiB: under a byte per
 * stream at this count. */
static void idle_memory(const void *arg, void *out)
{
	int memstream = *(const int *)arg, i;
	FILE **fps = calloc(MEM_STREAMS, sizeof(*fps));
	char **bufs = calloc(MEM_STREAMS, sizeof(*bufs));
	size_t len, before = heap_in_use(), rss = resident();
	double *per = out;

	per[0] = per[1] = -1;
	if (fps == NULL || bufs == NULL)
		return;
	for (i = 0; i < MEM_STREAMS; i++) {
		fps[i] = memstream ? open_memstream(&bufs[i], &len)
				   : spool_fopen(1 << 20, "w+");
		if (fps[i] == NULL ||
		    fwrite(payload, 1, MEM_BYTES, fps[i]) != MEM_BYTES ||
		    fflush(fps[i]) != 0)
			return;
	}
	per[0] = (double)(heap_in_use() - before) / MEM_STREAMS;
	per[1] = ((double)resident() - (double)rss) / MEM_STREAMS;
}

static void memory(void)
{
	static const char *const names[] = {"spool", "open_memstream"};
	double per[2];
	int k;

	printf("\n## Idle memory: %d open streams holding %d bytes each\n\n",
	       MEM_STREAMS, MEM_BYTES);
	printf("| stream | heap bytes per stream (mallinfo2) | resident bytes "
	       "per stream |\n|---|---:|---:|\n");
	for (k = 0; k < 2; k++) {
		if (run_forked(idle_memory, &k, per, sizeof(per)) < 0 ||
		    per[0] < 0)
			printf("| %s | failed | |\n", names[k]);
		else
			printf("| %s | %.0f | %.0f |\n", names[k], per[0],
			       per[1]);
	}
}

static void usage(void)
{
	fprintf(stderr, "usage: threads-bench [-r ROUNDS] [-t SECONDS]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int rounds = 7, c;

	while ((c = getopt(argc, argv, "r:t:")) != -1) {
		if (c == 'r')
			rounds = atoi(optarg);
		else if (c == 't')
			slice = atof(optarg);
		else
			usage();
	}
	if (optind != argc || rounds < 1 || rounds > MAX_ROUNDS ||
	    !(slice > 0 && slice < 60))
		usage();
	memory();
	printf("\n");
	scaling(rounds);
	return 0;
}
