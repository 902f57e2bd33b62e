/* SPDX-License-Identifier: MIT */
/*
 * spool-bench.c - a spool side by side with glibc's fmemopen(),
 * open_memstream() and tmpfile() (issue 4), plus the memory targets and
 * the cost of a rollover.
 *
 * It reports and never asserts. These machines are noisy, so what counts
 * is the median of per-round ratios: within a round every backend runs
 * back to back, so noise that moves them all alike cancels out.
 *
 * Every measurement runs in a forked child. VmHWM (peak RSS) belongs to a
 * process, so only a fresh child gives a peak that belongs to one
 * measurement; and a fresh child is where "cold" memory (pages touched for
 * the first time) is easy to guarantee. See bench/README.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <gnu/libc-version.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "spool.h"
#include "bench.h"

#define KIB ((size_t)1024)
#define MIB (1024 * KIB)
#define BLOCK (64 * KIB)	/* fwrite/fread block, and the text block */
#define RECORD 40		/* "fwrite of 40-byte records" */
#define SMALL_WRITE 100		/* "open, write 100 bytes, close" */
#define SMALL_CAP (4 * KIB)	/* fmemopen's buffer for that workload */
#define DISK_THRESHOLD MIB	/* "spool on disk" */
#define BIG_THRESHOLD (8 * MIB) /* the 1 GiB memory target */
#define SLACK (2 * BLOCK)	/* fmemopen room past the payload */

/* Settings from the command line. */
static struct {
	size_t payload; /* -s */
	int rounds;	/* -r */
	int quick;	/* -q: 64 MiB instead of 1 GiB for the RSS target */
	int no_python;	/* -p */
	unsigned only;	/* -w: bit mask of workloads; 0 = all */
	int mode;	/* -m: COLD or WARM, for -o */
	size_t bufsize; /* -b: stdio buffer for every stream; 0 = glibc's */
	int budget;	/* -B: a budget that never spills, for -o */
} cfg = {64 * MIB, 5, 0, 0, 0, 0, 0, 0};

/* The budget of the budget rows and of -B: set, so that every growth
 * goes through the accounting's compare-and-swap, and far above any
 * payload, so that no spool ever spills because of it. */
#define NO_SPILL_BUDGET (SIZE_MAX / 2)

/* cfg.only: workload w is bit w, the parts after the table bits 16... */
#define TABLE_BITS 0xffffu
#define SECTION_BIT(k) (1u << (16 + (k)))

/* Data the workloads write: whole lines, a 64 KiB pattern, a record. */
static const char *const words[8] = {"alpha", "bravo",	 "charlie", "delta",
				     "echo",  "foxtrot", "golf",    "hotel"};
static char text[BLOCK]; /* lines as fprintf writes them, ends in '\n' */
static size_t text_len;
static char block[BLOCK];
static char small[SMALL_WRITE];

static void make_data(void)
{
	int i, n;

	for (i = 0;; i++) {
		char line[64];

		n = snprintf(line, sizeof(line), "%d,%s,%x\n", i, words[i & 7],
			     (unsigned)i);
		if (text_len + (size_t)n > sizeof(text))
			break;
		memcpy(text + text_len, line, (size_t)n);
		text_len += (size_t)n;
	}
	for (i = 0; i < (int)BLOCK; i++)
		block[i] = (char)('a' + i % 26);
	memset(small, 'x', sizeof(small));
}

/* A "Key:   123 kB" line of /proc/self/status, in KiB; -1 if absent. */
static long status_kb(const char *key)
{
	FILE *fp = fopen("/proc/self/status", "r");
	size_t klen = strlen(key);
	char line[256];
	long kb = -1;

	if (fp == NULL)
		return -1;
	while (fgets(line, sizeof(line), fp) != NULL) {
		if (strncmp(line, key, klen) == 0) {
			kb = strtol(line + klen, NULL, 10);
			break;
		}
	}
	fclose(fp);
	return kb;
}

/* Bytes malloc has handed out: heap chunks plus mmapped chunks. */
static size_t heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

static void min_max(const double *v, int n, double *lo, double *hi)
{
	int i;

	*lo = *hi = v[0];
	for (i = 1; i < n; i++) {
		*lo = v[i] < *lo ? v[i] : *lo;
		*hi = v[i] > *hi ? v[i] : *hi;
	}
}

/* Backends */

enum {
	B_SPOOL_MEM,
	B_SPOOL_DISK,
	B_SPOOL_CROSS,
	B_FMEM,
	B_MEMSTREAM,
	B_TMPFILE,
	B_NULL,
	B_FD,
	NBACK
};

/* An open stream and the memory to free after its fclose(). */
struct stream {
	FILE *fp;
	char *mem;
	size_t len;
	char *stdio_buf; /* -b */
};

static size_t cross_threshold; /* spool-cross: half of what is written */
static int warm;	       /* this child reuses fmemopen's buffer */
static char *fmem_kept;	       /* warm: that buffer */

static FILE *open_spool_mem(struct stream *st, size_t cap)
{
	(void)st;
	(void)cap;
	return spool_fopen(SIZE_MAX, "w+");
}

static FILE *open_spool_disk(struct stream *st, size_t cap)
{
	(void)st;
	(void)cap;
	return spool_fopen(DISK_THRESHOLD, "w+");
}

static FILE *open_spool_cross(struct stream *st, size_t cap)
{
	(void)st;
	(void)cap;
	return spool_fopen(cross_threshold, "w+");
}

/*
 * fmemopen needs a buffer for the whole payload up front. Cold: a fresh
 * one per stream, as the spool's memory is fresh. Warm: one buffer kept
 * for the child's life, as the warm allocator keeps the spool's pages.
 * Small streams use a caller's array, fmemopen's cheapest case.
 */
static FILE *open_fmem(struct stream *st, size_t cap)
{
	static char tiny[SMALL_CAP];
	char *buf;

	if (cap <= sizeof(tiny))
		return fmemopen(tiny, sizeof(tiny), "w+");
	if (!warm)
		buf = st->mem = malloc(cap);
	else if (fmem_kept == NULL)
		buf = fmem_kept = malloc(cap);
	else
		buf = fmem_kept;
	return buf == NULL ? NULL : fmemopen(buf, cap, "w+");
}

static FILE *open_memstream_backend(struct stream *st, size_t cap)
{
	(void)cap;
	return open_memstream(&st->mem, &st->len);
}

static FILE *open_tmpfile(struct stream *st, size_t cap)
{
	(void)st;
	(void)cap;
	return tmpfile();
}

/*
 * The floor: a cookie stream that stores nothing. Writes only count.
 * Reads hand back the text block, round and round, as many bytes as were
 * written, so fgets sees the same lines as on a real backend. It costs
 * glibc's cookie layer plus the one copy that any read must make.
 */
static struct {
	off64_t pos, size;
} nullf;

static ssize_t null_write(void *cookie, const char *buf, size_t n)
{
	(void)cookie;
	(void)buf;
	nullf.pos += (off64_t)n;
	if (nullf.pos > nullf.size)
		nullf.size = nullf.pos;
	return (ssize_t)n;
}

static ssize_t null_read(void *cookie, char *buf, size_t n)
{
	size_t off, k;

	(void)cookie;
	if (nullf.pos >= nullf.size)
		return 0;
	off = (size_t)(nullf.pos % (off64_t)text_len);
	k = text_len - off;
	if (k > n)
		k = n;
	if ((off64_t)k > nullf.size - nullf.pos)
		k = (size_t)(nullf.size - nullf.pos);
	memcpy(buf, text + off, k);
	nullf.pos += (off64_t)k;
	return (ssize_t)k;
}

static int null_seek(void *cookie, off64_t *off, int whence)
{
	(void)cookie;
	if (whence == SEEK_CUR)
		*off += nullf.pos;
	else if (whence == SEEK_END)
		*off += nullf.size;
	nullf.pos = *off;
	return 0;
}

static FILE *open_null(struct stream *st, size_t cap)
{
	static const cookie_io_functions_t io = {
	    .read = null_read,
	    .write = null_write,
	    .seek = null_seek,
	};

	(void)st;
	(void)cap;
	nullf.pos = nullf.size = 0;
	return fopencookie(NULL, "w+", io);
}

/*
 * The floor for a file-backed cookie stream: each call straight to the
 * syscall on an O_TMPFILE descriptor in the spool's temp dir ($TMPDIR,
 * else P_tmpdir; no fallback), no spool logic at all. What spool-disk
 * cannot beat while glibc's cookie layer sits between it and the file.
 */
static ssize_t fd_write(void *cookie, const char *buf, size_t n)
{
	int fd = (int)(intptr_t)cookie;
	size_t done = 0;
	ssize_t k;

	while (done < n) {
		k = write(fd, buf + done, n - done);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return done > 0 ? (ssize_t)done : -1;
		done += (size_t)k;
	}
	return (ssize_t)done;
}

static ssize_t fd_read(void *cookie, char *buf, size_t n)
{
	return read((int)(intptr_t)cookie, buf, n);
}

static int fd_seek(void *cookie, off64_t *off, int whence)
{
	off64_t r = lseek64((int)(intptr_t)cookie, *off, whence);

	if (r < 0)
		return -1;
	*off = r;
	return 0;
}

static int fd_close(void *cookie)
{
	return close((int)(intptr_t)cookie);
}

/* An O_TMPFILE descriptor in the spool's temp dir, or -1. */
static int temp_fd(void)
{
	const char *dir = getenv("TMPDIR");

	if (dir == NULL || *dir == '\0')
		dir = P_tmpdir;
	return open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
}

static FILE *open_fd_cookie(struct stream *st, size_t cap)
{
	static const cookie_io_functions_t io = {
	    .read = fd_read,
	    .write = fd_write,
	    .seek = fd_seek,
	    .close = fd_close,
	};
	FILE *fp;
	int fd;

	(void)st;
	(void)cap;
	fd = temp_fd();
	if (fd < 0)
		return NULL;
	fp = fopencookie((void *)(intptr_t)fd, "w+", io);
	if (fp == NULL)
		close(fd);
	return fp;
}

struct backend {
	const char *name;
	FILE *(*open)(struct stream *st, size_t cap);
	int readable;
};

static const struct backend backends[NBACK] = {
    [B_SPOOL_MEM] = {"spool-mem", open_spool_mem, 1},
    [B_SPOOL_DISK] = {"spool-disk", open_spool_disk, 1},
    [B_SPOOL_CROSS] = {"spool-cross", open_spool_cross, 1},
    [B_FMEM] = {"fmemopen", open_fmem, 1},
    [B_MEMSTREAM] = {"open_memstream", open_memstream_backend, 0},
    [B_TMPFILE] = {"tmpfile", open_tmpfile, 1},
    [B_NULL] = {"null-cookie", open_null, 1},
    [B_FD] = {"fd-cookie", open_fd_cookie, 1},
};

/*
 * -b SIZE: the same stdio buffer size for every stream (not for
 * open_memstream, whose buffer is its contents). glibc's setvbuf()
 * ignores the size unless it is also given the buffer.
 */
static int set_stdio_buf(const struct backend *b, struct stream *st)
{
	if (cfg.bufsize == 0 || b == &backends[B_MEMSTREAM])
		return 0;
	st->stdio_buf = malloc(cfg.bufsize);
	if (st->stdio_buf == NULL)
		return -1;
	return setvbuf(st->fp, st->stdio_buf, _IOFBF, cfg.bufsize);
}

static int close_stream(struct stream *st)
{
	int rc = fclose(st->fp);

	free(st->mem);
	free(st->stdio_buf);
	return rc;
}

static int open_stream(const struct backend *b, struct stream *st, size_t cap)
{
	memset(st, 0, sizeof(*st));
	st->fp = b->open(st, cap);
	if (st->fp == NULL) {
		free(st->mem);
		return -1;
	}
	if (set_stdio_buf(b, st) == 0)
		return 0;
	close_stream(st);
	return -1;
}

/* Workloads: each returns the bytes it moved. */

static size_t wl_fprintf(FILE *fp, size_t payload)
{
	size_t done = 0;
	unsigned i;
	int n;

	for (i = 0; done < payload; i++) {
		n = fprintf(fp, "%d,%s,%x\n", (int)(i & INT32_MAX),
			    words[i & 7], i);
		if (n < 0)
			break;
		done += (size_t)n;
	}
	return done;
}

static size_t wl_rec40(FILE *fp, size_t payload)
{
	size_t done;

	for (done = 0; done < payload; done += RECORD) {
		if (fwrite(text, RECORD, 1, fp) != 1)
			break;
	}
	return done;
}

static size_t wl_blk64k(FILE *fp, size_t payload)
{
	size_t done;

	for (done = 0; done < payload; done += BLOCK) {
		if (fwrite(block, BLOCK, 1, fp) != 1)
			break;
	}
	return done;
}

static size_t wl_putc(FILE *fp, size_t payload)
{
	size_t i;

	for (i = 0; i < payload; i++) {
		if (putc(block[i & (BLOCK - 1)], fp) == EOF)
			break;
	}
	return i;
}

/* The caller-side cure for the putc gap: one lock for the whole loop. */
static size_t wl_putc_unlocked(FILE *fp, size_t payload)
{
	size_t i;

	flockfile(fp);
	for (i = 0; i < payload; i++) {
		if (putc_unlocked(block[i & (BLOCK - 1)], fp) == EOF)
			break;
	}
	funlockfile(fp);
	return i;
}

/*
 * The other cure, for single-threaded callers: tell glibc the caller does
 * the locking, after which plain putc() takes no lock either.
 */
static size_t wl_putc_bycaller(FILE *fp, size_t payload)
{
	__fsetlocking(fp, FSETLOCKING_BYCALLER);
	return wl_putc(fp, payload);
}

static size_t wl_fgets(FILE *fp, size_t payload)
{
	char line[256];
	size_t done = 0;

	(void)payload;
	while (fgets(line, sizeof(line), fp) != NULL)
		done += strlen(line);
	return done;
}

static size_t wl_fread(FILE *fp, size_t payload)
{
	static char buf[BLOCK];
	size_t done = 0, n;

	(void)payload;
	while ((n = fread(buf, 1, sizeof(buf), fp)) > 0)
		done += n;
	return done;
}

/* Before a read workload: the text block over and over, then rewind.
 * Returns the bytes written, which the read must get back. */
static size_t fill(FILE *fp, size_t payload)
{
	size_t done;

	for (done = 0; done < payload; done += text_len) {
		if (fwrite(text, 1, text_len, fp) != text_len)
			return 0;
	}
	if (fflush(fp) == EOF)
		return 0;
	rewind(fp);
	return done;
}

/* The number of open/write/close cycles: about one per 3200 bytes of
 * payload, so that -s scales it too. */
static size_t open_close_ops(void)
{
	size_t ops = cfg.payload / 3200;

	return ops < 1000 ? 1000 : ops;
}

static size_t open_close_loop(const struct backend *b, size_t ops)
{
	struct stream st;
	size_t i;

	for (i = 0; i < ops; i++) {
		if (open_stream(b, &st, SMALL_CAP) < 0)
			break;
		if (fwrite(small, sizeof(small), 1, st.fp) != 1) {
			close_stream(&st);
			break;
		}
		if (close_stream(&st) != 0)
			break;
	}
	return i;
}

enum {
	WF_COLD = 1, /* writes fresh memory: measure cold and warm */
	WF_READ = 2, /* reads back what fill() wrote */
	WF_OPS = 4,  /* open/write/close: counts operations */
	WF_INFO = 8, /* not in the table: no targets */
};

struct workload {
	const char *name;
	size_t (*run)(FILE *fp, size_t payload);
	unsigned flags;
	double vs_fmem;	   /* target for spool-mem / fmemopen */
	double vs_tmpfile; /* target for spool-disk / tmpfile; 0: report */
};

enum { NWL = 9 };

static const struct workload workloads[NWL] = {
    {"fprintf", wl_fprintf, WF_COLD, 1.0, 0.9},
    {"fwrite40", wl_rec40, WF_COLD, 1.0, 0.9},
    {"fwrite64k", wl_blk64k, WF_COLD, 1.0, 0.9},
    {"putc", wl_putc, WF_COLD, 1.0, 0},
    {"putc_unlocked", wl_putc_unlocked, WF_INFO, 0, 0},
    {"putc_bycaller", wl_putc_bycaller, WF_INFO, 0, 0},
    {"fgets", wl_fgets, WF_READ, 1.0, 0.9},
    {"fread64k", wl_fread, WF_READ, 1.0, 0.9},
    {"open-close", NULL, WF_OPS, 0.5, 10.0},
};

/* Measuring */

enum { COLD, WARM, NMODE };

static const char *const mode_names[NMODE] = {"cold", "warm"};

struct sample {
	double secs;
	double units; /* bytes, or operations for open-close */
	long rss_kb;  /* peak RSS growth of the child */
	int ok;
};

struct job {
	const struct workload *w;
	const struct backend *b;
	int mode;
	int budget; /* spool_set_budget(NO_SPILL_BUDGET) in the child */
};

/*
 * The only timed code: the workload and the fflush() that hands its last
 * bytes to the backend. Not inlined, so that callgrind can count exactly
 * this (--toggle-collect=timed).
 */
static __attribute__((noinline)) size_t timed(const struct job *j, FILE *fp)
{
	size_t n;

	if (j->w->flags & WF_OPS)
		return open_close_loop(j->b, open_close_ops());
	n = j->w->run(fp, cfg.payload);
	return fflush(fp) == EOF ? 0 : n;
}

/* One pass: open, fill for a read, time the workload, close. */
static int one_pass(const struct job *j, struct sample *s)
{
	struct stream st = {0};
	size_t want = 0;
	double t0;
	int ok;

	cross_threshold =
	    j->w->flags & WF_OPS ? SMALL_WRITE / 2 : cfg.payload / 2;
	if (!(j->w->flags & WF_OPS) &&
	    open_stream(j->b, &st, cfg.payload + SLACK) < 0)
		return -1;
	if (j->w->flags & WF_READ)
		want = fill(st.fp, cfg.payload);
	t0 = now();
	s->units = (double)timed(j, st.fp);
	s->secs = now() - t0;
	ok = s->units > 0 && (want == 0 || s->units == (double)want);
	/* The budget rows measure the accounting, not a spill. */
	if (j->budget && st.fp != NULL && j->b == &backends[B_SPOOL_MEM] &&
	    spool_is_rolled(st.fp) != 0)
		ok = 0;
	if (st.fp != NULL && close_stream(&st) != 0)
		ok = 0;
	return ok ? 0 : -1;
}

/*
 * Cold: every block of 128 KiB or more is a fresh mapping (glibc's default
 * mmap threshold, pinned so that a free cannot raise it), so the timed
 * pass touches each page for the first time. Warm: no mappings and no
 * trimming, so freed memory stays in the heap and the timed pass runs on
 * pages that a warm-up pass has touched already.
 */
static void set_allocator(int mode)
{
	if (mode == COLD) {
		mallopt(M_MMAP_THRESHOLD, 128 * 1024);
		return;
	}
	warm = 1;
	mallopt(M_MMAP_MAX, 0);
	mallopt(M_TRIM_THRESHOLD, -1);
}

typedef void child_fn(const void *arg, struct sample *s);

/*
 * Warm passes repeat until they add up to MIN_TIMED seconds, and the
 * median pass counts: a 64 MiB memcpy at warm speed takes a few ms, less
 * than one time slice of the other jobs on these machines. A cold pass
 * cannot repeat (its second pass would be warm) and is slow anyway.
 */
#define MIN_TIMED 0.2
#define MAX_PASSES 25

static int warm_passes(const struct job *j, struct sample *s)
{
	double secs[MAX_PASSES], total = 0;
	int n = 0;

	/* Reads run on data just written; open-close warms itself. */
	if (!(j->w->flags & (WF_READ | WF_OPS)))
		one_pass(j, s);
	do {
		if (one_pass(j, s) < 0)
			return -1;
		secs[n++] = s->secs;
		total += s->secs;
	} while (total < MIN_TIMED && n < MAX_PASSES);
	s->secs = median(secs, n);
	return 0;
}

static void measure_child(const void *arg, struct sample *s)
{
	const struct job *j = arg;
	long rss0;

	set_allocator(j->mode);
	if (j->budget)
		spool_set_budget(NO_SPILL_BUDGET);
	rss0 = status_kb("VmRSS:");
	if (j->mode == COLD)
		s->ok = one_pass(j, s) == 0;
	else
		s->ok = warm_passes(j, s) == 0;
	s->rss_kb = status_kb("VmHWM:") - rss0;
}

/* Run fn in a forked child and collect the sample it fills in. */
struct call {
	child_fn *fn;
	const void *arg;
};

static void call_child(const void *c, void *out)
{
	const struct call *k = c;

	k->fn(k->arg, out);
}

static int in_child(child_fn *fn, const void *arg, struct sample *s)
{
	struct call k = {fn, arg};

	memset(s, 0, sizeof(*s));
	if (run_forked(call_child, &k, s, sizeof(*s)) < 0) {
		s->ok = 0;
		return -1;
	}
	return 0;
}

static struct sample res[NWL][NMODE][NBACK][MAX_ROUNDS];

static int applies(const struct workload *w, int b, int mode)
{
	if ((cfg.only & TABLE_BITS) && !(cfg.only & 1u << (w - workloads)))
		return 0;
	if (mode == COLD && !(w->flags & WF_COLD))
		return 0;
	return backends[b].readable || !(w->flags & WF_READ);
}

/*
 * The order of one cell's backends: each target's two sides run back to
 * back, so that a slow drift of the machine (other tenants' memory
 * bandwidth, seconds long) moves both alike. Which pair runs first
 * rotates from round to round, and which side of a pair runs first
 * alternates.
 */
static const int pairs[][2] = {
    {B_SPOOL_MEM, B_FMEM},
    {B_SPOOL_DISK, B_TMPFILE},
    {B_MEMSTREAM, B_NULL},
    {B_SPOOL_CROSS, B_FD},
};
#define NPAIRS ((int)(sizeof(pairs) / sizeof(pairs[0])))
_Static_assert(sizeof(pairs) / sizeof(pairs[0][0]) == NBACK,
	       "every backend is in exactly one pair");

static void run_cell(int w, int m, int r)
{
	struct job j = {&workloads[w], NULL, m, 0};
	int k, i, b;

	for (k = 0; k < NPAIRS; k++) {
		for (i = 0; i < 2; i++) {
			b = pairs[(k + r) % NPAIRS][(i + r) % 2];
			if (!applies(j.w, b, m))
				continue;
			j.b = &backends[b];
			in_child(measure_child, &j, &res[w][m][b][r]);
		}
	}
}

/* One round: every workload on every backend, back to back. */
static void run_round(int r)
{
	int w, m;

	for (w = 0; w < NWL; w++) {
		for (m = 0; m < NMODE; m++)
			run_cell(w, m, r);
		fprintf(stderr, ".");
	}
	fprintf(stderr, " round %d/%d\n", r + 1, cfg.rounds);
}

/* Reporting */

static double rate(const struct sample *s)
{
	return s->ok && s->secs > 0 ? s->units / s->secs : 0;
}

static double median_rate(int w, int m, int b)
{
	double v[MAX_ROUNDS];
	int r, n = 0;

	for (r = 0; r < cfg.rounds; r++) {
		if (rate(&res[w][m][b][r]) > 0)
			v[n++] = rate(&res[w][m][b][r]);
	}
	return median(v, n);
}

static double median_rss_mib(int w, int m, int b)
{
	double v[MAX_ROUNDS];
	int r, n = 0;

	for (r = 0; r < cfg.rounds; r++) {
		if (res[w][m][b][r].ok)
			v[n++] = (double)res[w][m][b][r].rss_kb / 1024;
	}
	return median(v, n);
}

/* The per-round ratios rate(a) / rate(b), both from the same round. */
static int round_ratios(int w, int m, int a, int b, double *v)
{
	int r, n = 0;

	for (r = 0; r < cfg.rounds; r++) {
		double x = rate(&res[w][m][a][r]), y = rate(&res[w][m][b][r]);

		if (x > 0 && y > 0)
			v[n++] = x / y;
	}
	return n;
}

enum { T_FMEM, T_TMPFILE, T_BEAT, T_INFO };

/* The comparisons of the table, and some for information. */
static const struct cmp {
	int self, peer, kind;
} cmps[] = {
    {B_SPOOL_MEM, B_FMEM, T_FMEM}, {B_SPOOL_MEM, B_MEMSTREAM, T_BEAT},
    {B_SPOOL_MEM, B_NULL, T_INFO}, {B_SPOOL_DISK, B_TMPFILE, T_TMPFILE},
    {B_SPOOL_DISK, B_FD, T_INFO},  {B_SPOOL_CROSS, B_TMPFILE, T_INFO},
    {B_FD, B_TMPFILE, T_INFO},
};

/* The target of a comparison: its minimum ratio, 0 for none. */
static double target_of(const struct workload *w, const struct cmp *c)
{
	if (w->flags & WF_INFO)
		return 0;
	switch (c->kind) {
	case T_FMEM:
		return w->vs_fmem;
	case T_TMPFILE:
		return w->vs_tmpfile;
	case T_BEAT:
		return 1.0;
	default:
		return 0;
	}
}

/* "ratio | range | peer | target | met? |" for one comparison. */
static void print_cmp(int w, int m, const struct cmp *c)
{
	const struct workload *wl = &workloads[w];
	double v[MAX_ROUNDS], t = target_of(wl, c), ratio;
	int n = round_ratios(w, m, c->self, c->peer, v);
	double lo, hi;

	if (n == 0) {
		printf(" n/a | | %s | | |\n", backends[c->peer].name);
		return;
	}
	min_max(v, n, &lo, &hi);
	ratio = median(v, n);
	if (ratio < 0.1)
		printf(" %.4f | %.4f-%.4f | %s | ", ratio, lo, hi,
		       backends[c->peer].name);
	else
		printf(" %.2f | %.2f-%.2f | %s | ", ratio, lo, hi,
		       backends[c->peer].name);
	/* Judged at the precision printed, so that the verdict agrees with
	 * the number shown; the noise is far larger than 0.005 anyway. */
	ratio = (double)(long)(ratio * 100 + 0.5) / 100;
	if (t == 0 && c->kind == T_TMPFILE && !(wl->flags & WF_INFO))
		printf("report | |\n");
	else if (t == 0)
		printf("info | |\n");
	else if (c->kind == T_BEAT)
		printf("> 1.0 | %s |\n", ratio > t ? "yes" : "NO");
	else
		printf(">= %.1f | %s |\n", t, ratio >= t ? "yes" : "NO");
}

static void print_backend(int w, int m, int b)
{
	const struct workload *wl = &workloads[w];
	double r = median_rate(w, m, b);
	int first = 1;
	size_t i;

	printf("| %s | %s | %s | ", wl->name, mode_names[m], backends[b].name);
	if (r == 0) {
		printf("n/a | | | | | | |\n");
		return;
	}
	if (wl->flags & WF_OPS)
		printf("%.1f kop/s | ", r / 1e3);
	else
		printf("%.0f MB/s | ", r / 1e6);
	printf("%.1f |", median_rss_mib(w, m, b));
	for (i = 0; i < sizeof(cmps) / sizeof(cmps[0]); i++) {
		if (cmps[i].self != b)
			continue;
		if (!first)
			printf("| | | | | |");
		print_cmp(w, m, &cmps[i]);
		first = 0;
	}
	if (first)
		printf(" | | | | |\n");
}

static void print_table(void)
{
	int w, m, b;

	printf("\n| workload | memory | backend | median rate "
	       "| peak RSS MiB | ratio (median) | range | vs | target "
	       "| met? |\n");
	printf("|---|---|---|---:|---:|---:|---|---|---|---|\n");
	for (w = 0; w < NWL; w++) {
		for (m = 0; m < NMODE; m++) {
			for (b = 0; b < NBACK; b++) {
				if (applies(&workloads[w], b, m))
					print_backend(w, m, b);
			}
		}
	}
}

static void print_header(void)
{
	struct utsname u;
	char thp[128] = "?";
	FILE *fp = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
	const char *tmp = getenv("TMPDIR");

	if (fp != NULL) {
		if (fgets(thp, sizeof(thp), fp) != NULL)
			thp[strcspn(thp, "\n")] = '\0';
		fclose(fp);
	}
	uname(&u);
	printf("# spool-bench: %s %s %s, %ld cpus, glibc %s, THP %s\n",
	       u.sysname, u.release, u.machine, sysconf(_SC_NPROCESSORS_ONLN),
	       gnu_get_libc_version(), thp);
	printf("# payload %zu bytes (%.0f MiB), %d rounds; open-close: %zu "
	       "cycles of %d bytes\n",
	       cfg.payload, (double)cfg.payload / MIB, cfg.rounds,
	       open_close_ops(), SMALL_WRITE);
	printf("# spool temp dir: %s; tmpfile(): %s\n",
	       tmp != NULL && *tmp ? tmp : P_tmpdir, P_tmpdir);
	if (cfg.bufsize)
		printf("# stdio buffers: %zu bytes, set with setvbuf() "
		       "(-b)\n",
		       cfg.bufsize);
	else
		printf("# stdio buffers: glibc's (8 KiB on cookie streams, "
		       "st_blksize on tmpfile); a spool on disk\n# with a "
		       "threshold of 512 KiB or more swaps in 64 KiB at its "
		       "first refill\n# or full flush; in memory, stdio "
		       "writes into the spool's image (glibc)\n");
	/* libspool(7), "Two paths": the speed above needs the internals
	 * path; SPOOL_STDIO=portable shows what the portable one costs. */
	printf("# libspool's stdio path: %s\n",
	       getenv("SPOOL_STDIO") != NULL &&
		       strcmp(getenv("SPOOL_STDIO"), "portable") == 0
		   ? "portable (SPOOL_STDIO=portable): plain cookie "
		     "callbacks, none of the glibc internals above"
		   : "the glibc internals path where the gate allows it "
		     "(tested glibc, probe passed; SPOOL_STDIO=portable "
		     "forces the portable one)");
	printf("# cold = fresh child, every large buffer a fresh mapping "
	       "(first touch), one pass;\n# warm = a warm-up pass, then "
	       "timed passes on the same, already touched pages,\n# repeated "
	       "for 0.2 s, median pass. Reads and open-close run warm only:\n"
	       "# reads run on data written just before, open-close reuses "
	       "its blocks.\n"
	       "# Rates: MB = 10^6 bytes. Ratio: median over rounds of "
	       "rate/peer rate in the same\n# round; range: lowest and "
	       "highest of those per-round ratios.\n");
}

/* Python's SpooledTemporaryFile, for scale */

/* No single quotes: it is passed in single quotes to sh -c. */
static const char py_script[] =
    "import sys, time, tempfile\n"
    "n = int(sys.argv[1]); rounds = int(sys.argv[2])\n"
    "W = [b\"alpha\", b\"bravo\", b\"charlie\", b\"delta\", b\"echo\",\n"
    "     b\"foxtrot\", b\"golf\", b\"hotel\"]\n"
    "def fpr(f):\n"
    "    i = d = 0; w = f.write\n"
    "    while d < n:\n"
    "        d += w(b\"%d,%s,%x\\n\" % (i, W[i & 7], i)); i += 1\n"
    "    return d\n"
    "def rec(f):\n"
    "    r = b\"r\" * 39 + b\"\\n\"; w = f.write; d = 0\n"
    "    while d < n: d += w(r)\n"
    "    return d\n"
    "def blk(f):\n"
    "    b = b\"b\" * 65536; w = f.write; d = 0\n"
    "    while d < n: d += w(b)\n"
    "    return d\n"
    "for name, fn in ((\"fprintf\", fpr), (\"fwrite40\", rec),\n"
    "                 (\"fwrite64k\", blk)):\n"
    "    for ms in (0, 1 << 20):\n"
    "        v = []\n"
    "        for r in range(rounds):\n"
    "            f = tempfile.SpooledTemporaryFile(max_size=ms, "
    "mode=\"w+b\")\n"
    "            t = time.perf_counter(); d = fn(f); f.flush()\n"
    "            v.append(d / (time.perf_counter() - t) / 1e6)\n"
    "            f.close()\n"
    "        v.sort(); print(name, ms, v[len(v) // 2])\n";

static void print_python(void)
{
	size_t n = cfg.payload < 16 * MIB ? cfg.payload : 16 * MIB;
	int rounds = cfg.rounds < 3 ? cfg.rounds : 3;
	char cmd[sizeof(py_script) + 64], name[32], line[128];
	double mbs;
	size_t ms;
	FILE *p;

	printf("\n## Python's SpooledTemporaryFile, for scale\n\n"
	       "%zu bytes, median of %d; max_size 0 never rolls over.\n\n",
	       n, rounds);
	if (cfg.no_python || system("command -v python3 >/dev/null 2>&1")) {
		printf("skipped: %s\n",
		       cfg.no_python ? "-p given" : "no python3 in PATH");
		return;
	}
	snprintf(cmd, sizeof(cmd), "python3 -c '%s' %zu %d", py_script, n,
		 rounds);
	p = popen(cmd, "r");
	if (p == NULL)
		return;
	printf("| workload | max_size | median rate |\n|---|---|---:|\n");
	while (fgets(line, sizeof(line), p) != NULL) {
		if (sscanf(line, "%31s %zu %lf", name, &ms, &mbs) == 3)
			printf("| %s | %s | %.0f MB/s |\n", name,
			       ms ? "1 MiB (disk)" : "0 (memory)", mbs);
	}
	if (pclose(p) != 0)
		printf("python3 failed\n");
}

/* Memory targets */

static void *volatile sink;

/*
 * Free a 16 MiB mapping, as any long-running program may have done. glibc
 * then raises its mmap threshold to 16 MiB, so buffers up to that size
 * come from the heap, where realloc may copy and free may not give pages
 * back to the kernel.
 */
static void raise_mmap_threshold(void)
{
	sink = malloc(16 * MIB);
	free(sink);
}

/* The registry allocates its table at the first open, once per process:
 * not a cost of any one spool, so it is paid before measuring. */
static void open_registry(void)
{
	FILE *fp = spool_fopen(0, "w");

	if (fp != NULL)
		fclose(fp);
}

static void write_bytes(FILE *fp, size_t n)
{
	for (; n >= RECORD; n -= RECORD)
		fwrite(text, RECORD, 1, fp);
	fwrite(text, n, 1, fp);
}

/* 1 GiB (-q: 64 MiB) through an 8 MiB spool: peak RSS growth. */
static void big_child(const void *arg, struct sample *s)
{
	const int *raised = arg;
	size_t total = cfg.quick ? 64 * MIB : 1024 * MIB, done;
	long rss0;
	double t0;
	FILE *fp;

	if (*raised)
		raise_mmap_threshold();
	rss0 = status_kb("VmRSS:");
	fp = spool_fopen(BIG_THRESHOLD, "w");
	if (fp == NULL)
		return;
	t0 = now();
	for (done = 0; done < total; done += BLOCK)
		fwrite(block, BLOCK, 1, fp);
	s->ok = fflush(fp) == 0 && spool_is_rolled(fp) == 1;
	s->secs = now() - t0;
	s->units = (double)total;
	s->rss_kb = status_kb("VmHWM:") - rss0;
	fclose(fp);
}

static void print_big(void)
{
	static const int arg[2] = {0, 1};
	double limit = (double)(BIG_THRESHOLD + 2 * MIB) / MIB, mib;
	struct sample s;
	int i;

	for (i = 0; i < 2; i++) {
		in_child(big_child, &arg[i], &s);
		mib = (double)s.rss_kb / 1024;
		printf("- %s MiB in 64 KiB fwrites through spool_fopen(8 MiB)"
		       "%s: peak RSS +%.1f MiB (target < %.0f MiB): %s "
		       "(%.0f MB/s)\n",
		       cfg.quick ? "64" : "1024",
		       i ? ", after a 16 MiB free raised glibc's mmap threshold"
			 : ", fresh process",
		       mib, limit, s.ok && mib < limit ? "met" : "NOT met",
		       s.ok ? s.units / s.secs / 1e6 : 0);
	}
}

/* What malloc holds for an open stream after n bytes in 40-byte
 * fwrites and a fflush: a mallinfo2 delta. */
static size_t held(int b, size_t n)
{
	size_t before = heap_in_use(), after;
	struct stream st;

	if (open_stream(&backends[b], &st, 0) < 0)
		return 0;
	write_bytes(st.fp, n);
	fflush(st.fp);
	after = heap_in_use();
	close_stream(&st);
	return after - before;
}

/* The spool's own bytes for n bytes of contents: what it holds beyond
 * the contents and beyond what any cookie stream holds (the FILE and
 * glibc's 8 KiB stdio buffer). */
static long spool_own(size_t n)
{
	return (long)held(B_SPOOL_MEM, n) - (long)held(B_NULL, n) - (long)n;
}

static void overhead_row(size_t n)
{
	long own = spool_own(n);
	long limit = (long)(n / 4) + 512;

	printf("| %zu | %ld | %.1f%% | %ld | %s | %ld |\n", n, own,
	       100.0 * (double)own / (double)n, limit,
	       own <= limit ? "yes" : "NO",
	       (long)held(B_MEMSTREAM, n) - (long)held(B_NULL, n) - (long)n);
}

/* N + 25% + a few hundred bytes, for N on a geometric sweep. */
static void overhead_child(const void *arg, struct sample *s)
{
	static const size_t shown[] = {1,      100,	1000,	  10000,
				       100000, 1000000, 10000000, 64 * MIB};
	size_t top = cfg.quick ? 16 * MIB : 64 * MIB, n, worst_n = 1;
	double worst = 0, q;
	size_t i;
	int count = 0;

	(void)arg;
	open_registry();
	printf("| N | spool's own bytes | of N | limit N/4+512 | met? "
	       "| open_memstream's |\n|---:|---:|---:|---:|---|---:|\n");
	for (i = 0; i < sizeof(shown) / sizeof(shown[0]); i++) {
		if (shown[i] <= top)
			overhead_row(shown[i]);
	}
	for (n = 1; n <= top; n = n + n / 8 + 1, count++) {
		q = (double)spool_own(n) / (double)(n / 4 + 512);
		if (q > worst) {
			worst = q;
			worst_n = n;
		}
	}
	printf("\nSweep of %d sizes 1..%zu (x1.125): worst N = %zu, own "
	       "bytes = %.0f%% of the limit: %s\n",
	       count, top, worst_n, worst * 100,
	       worst <= 1 ? "met" : "NOT met");
	s->ok = 1;
}

/*
 * After rollover the memory image is freed: what malloc holds and the RSS,
 * before and after. Freed means back to malloc; whether the pages also go
 * back to the kernel is malloc's choice, and both are printed.
 */
static void release_child(const void *arg, struct sample *s)
{
	const int *raised = arg;
	size_t base, in_mem, on_disk, floor_bytes;
	long rss0, rss1, rss2;
	FILE *fp;

	open_registry();
	floor_bytes = held(B_NULL, 1) + 512;
	if (*raised)
		raise_mmap_threshold();
	base = heap_in_use();
	rss0 = status_kb("VmRSS:");
	fp = spool_fopen(MIB, "w");
	if (fp == NULL)
		return;
	write_bytes(fp, MIB);
	fflush(fp);
	in_mem = heap_in_use() - base;
	rss1 = status_kb("VmRSS:");
	fputc('\n', fp);
	fflush(fp);
	on_disk = heap_in_use() - base;
	rss2 = status_kb("VmRSS:");
	printf("- %s: 1 MiB in memory: malloc holds %zu bytes, RSS +%ld KiB;"
	       " one byte more (rolled=%d): %zu bytes (target <= %zu): %s;",
	       *raised ? "after a 16 MiB free" : "fresh process", in_mem,
	       rss1 - rss0, spool_is_rolled(fp), on_disk, floor_bytes,
	       on_disk <= floor_bytes ? "released" : "NOT released");
	printf(" RSS +%ld KiB: pages %s\n", rss2 - rss0,
	       rss1 - rss2 > 512 ? "back to the kernel" : "kept by malloc");
	fclose(fp);
	s->ok = 1;
}

/* The mallinfo2 reports; run with glibc's tcache off (see below). */
static void heap_reports(void)
{
	static const int arg[2] = {0, 1};
	struct sample s;

	printf("\nA spool holding N bytes in memory (mallinfo2 deltas; "
	       "\"own\" = beyond N and beyond\nwhat an empty cookie stream "
	       "holds, i.e. the FILE and glibc's 8 KiB stdio buffer):\n\n");
	in_child(overhead_child, NULL, &s);
	printf("\nAfter rollover the memory buffer is released:\n\n");
	in_child(release_child, &arg[0], &s);
	in_child(release_child, &arg[1], &s);
}

/*
 * mallinfo2 counts the chunks parked in glibc's per-thread cache (tcache)
 * as in use, so a delta taken across a free and a malloc would lie. The
 * heap reports therefore run in a fresh copy of this program, started
 * with the tcache turned off.
 */
static void print_memory(void)
{
	int status;
	pid_t pid;

	printf("\n## Memory targets\n\n");
	print_big();
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		setenv("GLIBC_TUNABLES", "glibc.malloc.tcache_count=0", 1);
		execl("/proc/self/exe", "spool-bench", cfg.quick ? "-qM" : "-M",
		      (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0 || status != 0)
		printf("heap reports failed\n");
}

/* Rollover cost */

enum { ROLL_SPOOL, ROLL_TMPFILE, ROLL_FLOOR, NROLL };

struct roll_job {
	size_t size;
	int what; /* ROLL_* */
};

/* The spool holds a threshold-sized image; time moving it to disk. */
static void roll_spool(size_t size, struct sample *s)
{
	FILE *fp = spool_fopen(size, "w");
	double t0;

	if (fp == NULL)
		return;
	write_bytes(fp, size);
	fflush(fp);
	t0 = now();
	s->ok = spool_rollover(fp) == 0 && spool_is_rolled(fp) == 1;
	s->secs = now() - t0;
	fclose(fp);
}

/* The same bytes into a new tmpfile(), in 64 KiB fwrites. */
static void roll_tmpfile(size_t size, struct sample *s)
{
	double t0 = now();
	FILE *fp = tmpfile();
	size_t done;

	if (fp == NULL)
		return;
	for (done = 0; done + BLOCK <= size; done += BLOCK)
		fwrite(block, BLOCK, 1, fp);
	fwrite(block, size - done, 1, fp);
	s->ok = fflush(fp) == 0;
	s->secs = now() - t0;
	fclose(fp);
}

/*
 * The floor of any rollover: a block already holding the bytes (malloc'd
 * and touched, as an image is) goes to a new O_TMPFILE file in one
 * write(2) and is freed. Writing the bytes and releasing the memory are
 * what a rollover is; the spool's own share is what it costs beyond this.
 */
static void roll_floor(size_t size, struct sample *s)
{
	char *p = malloc(size ? size : 1);
	double t0;
	int fd;

	if (p == NULL)
		return;
	memset(p, 'x', size);
	t0 = now();
	fd = temp_fd();
	s->ok =
	    fd >= 0 && fd_write((void *)(intptr_t)fd, p, size) == (ssize_t)size;
	free(p);
	s->secs = now() - t0;
	if (fd >= 0)
		close(fd);
}

static void roll_child(const void *arg, struct sample *s)
{
	const struct roll_job *rj = arg;

	set_allocator(COLD);
	if (rj->what == ROLL_SPOOL)
		roll_spool(rj->size, s);
	else if (rj->what == ROLL_TMPFILE)
		roll_tmpfile(rj->size, s);
	else
		roll_floor(rj->size, s);
	s->units = (double)rj->size;
}

/*
 * A rollover takes milliseconds, and a single one varies by tens of per
 * cent here: the most rounds median() takes, whatever -r says, so that
 * the median is stable from run to run.
 */
#define ROLL_ROUNDS MAX_ROUNDS

/* One row: the three legs of a round run in turn, each in a fresh
 * child, and which one goes first rotates from round to round. */
static void print_rollover_row(size_t size)
{
	double v[MAX_ROUNDS], f[MAX_ROUNDS], ms[NROLL][MAX_ROUNDS], lo, hi;
	struct sample smp[NROLL];
	struct roll_job rj;
	int r, n = 0, k, ok;
	double ratio;

	for (r = 0; r < ROLL_ROUNDS; r++) {
		for (k = 0, ok = 1; k < NROLL; k++) {
			rj.size = size;
			rj.what = (r + k) % NROLL;
			in_child(roll_child, &rj, &smp[rj.what]);
			ok = ok && smp[rj.what].ok;
		}
		if (!ok)
			continue;
		for (k = 0; k < NROLL; k++)
			ms[k][n] = smp[k].secs * 1e3;
		v[n] = smp[ROLL_SPOOL].secs / smp[ROLL_TMPFILE].secs;
		f[n++] = smp[ROLL_SPOOL].secs / smp[ROLL_FLOOR].secs;
	}
	if (n == 0) {
		printf("| %.0f MiB | failed | | | | | | | |\n",
		       (double)size / MIB);
		return;
	}
	min_max(v, n, &lo, &hi);
	ratio = median(v, n);
	printf("| %.0f MiB | %.2f | %.2f | %.2f | %.2f | %.2f-%.2f | %.2f "
	       "| <= 1.0 | %s |\n",
	       (double)size / MIB, median(ms[ROLL_SPOOL], n),
	       median(ms[ROLL_TMPFILE], n), median(ms[ROLL_FLOOR], n), ratio,
	       lo, hi, median(f, n),
	       (long)(ratio * 100 + 0.5) <= 100 ? "yes" : "NO");
}

static void print_rollover(void)
{
	static const size_t sizes[] = {DISK_THRESHOLD, BIG_THRESHOLD};
	size_t i;

	printf("\n## Rollover cost\n\nspool_rollover() of a spool holding a "
	       "threshold-sized image (temp file + one\nwrite + freeing the "
	       "buffer) against tmpfile() + the same bytes in 64 KiB fwrites\n"
	       "+ fflush. Floor: a malloc'd block holding the bytes, one "
	       "write(2) to an\nO_TMPFILE file, free(). Fresh child each; "
	       "medians of %d rounds.\n\n",
	       ROLL_ROUNDS);
	printf("| image | rollover ms | tmpfile ms | floor ms | ratio "
	       "(median) | range | rollover / floor | target | met? |\n"
	       "|---:|---:|---:|---:|---:|---|---:|---|---|\n");
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		print_rollover_row(sizes[i]);
	if (cfg.payload != DISK_THRESHOLD && cfg.payload != BIG_THRESHOLD)
		print_rollover_row(cfg.payload);
}

/* The budget's cost */

/*
 * The small-write rows on spool-mem, without a budget and with one set
 * that never spills (issue 15: under 5% slower). Warm only: a cold pass
 * is one pass of page faults, whose noise hides a few per cent. The two
 * sides share one child per round, as contents-bench's legs do: the
 * budget is a process setting that a call changes, and every pass opens
 * a new spool and closes it, so the passes alternate, which goes first
 * alternating, a few milliseconds apart, and other tenants' load (which
 * moves in seconds) moves both alike. A round's ratio is the median of
 * its pairs' ratios (rate with / rate without).
 */
static int find_name(const char *name, size_t len, int wl);

static const char *const budget_rows[] = {"fprintf", "fwrite40", "putc",
					  "open-close", "fwrite64k"};
#define NBUDGET ((int)(sizeof(budget_rows) / sizeof(budget_rows[0])))
#define BUDGET_TIMED 0.4

struct budget_sample {
	double rate[2]; /* without, with: median over the pairs */
	double ratio;	/* median of the pairs' ratios */
	int pairs, ok;
};

static int budget_pass(struct job *j, int on, double *rate_out)
{
	struct sample s = {0};

	j->budget = on;
	spool_set_budget(on ? NO_SPILL_BUDGET : 0);
	if (one_pass(j, &s) < 0 || s.secs <= 0)
		return -1;
	*rate_out = s.units / s.secs;
	return 0;
}

static void budget_child(const void *arg, void *out)
{
	const struct workload *w = arg;
	struct job j = {w, &backends[B_SPOOL_MEM], WARM, 0};
	struct budget_sample *b = out;
	double v[2][MAX_PASSES], ratio[MAX_PASSES], total = 0, t0;
	int n = 0, i, on;

	set_allocator(WARM);
	memset(b, 0, sizeof(*b));
	if (budget_pass(&j, 0, &v[0][0]) < 0 ||
	    budget_pass(&j, 1, &v[1][0]) < 0)
		return;
	do {
		t0 = now();
		for (i = 0; i < 2; i++) {
			on = (i + n) % 2;
			if (budget_pass(&j, on, &v[on][n]) < 0)
				return;
		}
		ratio[n] = v[1][n] / v[0][n];
		total += now() - t0;
		n++;
	} while (total < BUDGET_TIMED && n < MAX_PASSES);
	b->rate[0] = median(v[0], n);
	b->rate[1] = median(v[1], n);
	b->ratio = median(ratio, n);
	b->pairs = n;
	b->ok = 1;
}

static void print_budget_row(int k)
{
	int w = find_name(budget_rows[k], strlen(budget_rows[k]), 1);
	struct budget_sample s;
	double v[2][MAX_ROUNDS], ratio[MAX_ROUNDS], lo, hi, med;
	int r, n = 0, npairs = 0, ok, ops = workloads[w].flags & WF_OPS;

	for (r = 0; r < cfg.rounds; r++) {
		ok = run_forked(budget_child, &workloads[w], &s, sizeof(s));
		if (ok == 0 && s.ok) {
			v[0][n] = s.rate[0];
			v[1][n] = s.rate[1];
			ratio[n] = s.ratio;
			npairs += s.pairs;
			n++;
		}
		fprintf(stderr, ".");
	}
	if (n == 0) {
		printf("| %s | n/a | | | | | | |\n", budget_rows[k]);
		return;
	}
	min_max(ratio, n, &lo, &hi);
	med = median(ratio, n);
	if (ops)
		printf("| %s | %.1f kop/s | %.1f kop/s | ", budget_rows[k],
		       median(v[0], n) / 1e3, median(v[1], n) / 1e3);
	else
		printf("| %s | %.0f MB/s | %.0f MB/s | ", budget_rows[k],
		       median(v[0], n) / 1e6, median(v[1], n) / 1e6);
	printf("%.3f | %.3f-%.3f | %d x %d |", med, lo, hi, n,
	       (npairs + n / 2) / n);
	/* fwrite64k is not a small write: information only. */
	if (strcmp(budget_rows[k], "fwrite64k") == 0)
		printf(" info | |\n");
	else
		printf(" >= 0.95 | %s%s |\n", med >= 0.95 ? "yes" : "NO",
		       lo < 0.95 && hi >= 0.95 ? ", noise" : "");
	fflush(stdout);
}

static void print_budget(void)
{
	int k;

	printf("\n## The budget's cost\n\n"
	       "spool-mem (threshold SIZE_MAX), warm, without a budget and "
	       "with\nspool_set_budget(SIZE_MAX / 2), which never spills. "
	       "Per round one child\nalternates passes of the two (which "
	       "goes first alternating) for %.1f s;\nthe round's ratio is "
	       "the median of its pairs' ratios (rate with / rate\nwithout). "
	       "Ratio: median over rounds; range: lowest and highest round."
	       "\n\n"
	       "| workload | no budget | budget | ratio (median) | range "
	       "| rounds x pairs | target | met? |\n"
	       "|---|---:|---:|---:|---|---:|---|---|\n",
	       BUDGET_TIMED);
	fflush(stdout);
	for (k = 0; k < NBUDGET; k++)
		print_budget_row(k);
	fprintf(stderr, " budget\n");
}

/* Command line */

static int find_name(const char *name, size_t len, int wl)
{
	int i, n = wl ? NWL : NBACK;

	for (i = 0; i < n; i++) {
		const char *s = wl ? workloads[i].name : backends[i].name;

		if (strlen(s) == len && strncmp(s, name, len) == 0)
			return i;
	}
	return -1;
}

/* -w fprintf,putc: run only these workloads. */
/* The parts after the table, also selectable with -w. */
static const char *const sections[] = {"python", "memory", "rollover",
				       "budget"};

/* Is section k (or with k < 0, the table) wanted? */
static int wanted(int k)
{
	if (cfg.only == 0)
		return 1;
	return k < 0 ? (cfg.only & TABLE_BITS) != 0
		     : (cfg.only & SECTION_BIT(k)) != 0;
}

/* -w fprintf,putc,memory: only these workloads and parts. */
static int parse_workloads(const char *list)
{
	size_t len, k;
	int w;

	while (*list != '\0') {
		len = strcspn(list, ",");
		w = find_name(list, len, 1);
		for (k = 0; w < 0 && k < sizeof(sections) / sizeof(*sections);
		     k++) {
			if (strlen(sections[k]) == len &&
			    strncmp(sections[k], list, len) == 0)
				break;
		}
		if (w >= 0)
			cfg.only |= 1u << w;
		else if (k < sizeof(sections) / sizeof(*sections))
			cfg.only |= SECTION_BIT(k);
		else
			return -1;
		list += len + (list[len] == ',');
	}
	return cfg.only ? 0 : -1;
}

/*
 * -o WORKLOAD:BACKEND: one pass in this process, no fork, for profilers:
 *   valgrind --tool=callgrind --collect-atstart=no --toggle-collect=timed
 */
static int run_once(const char *spec)
{
	const char *colon = strchr(spec, ':');
	struct sample s;
	struct job j;
	int w, b;

	w = colon ? find_name(spec, (size_t)(colon - spec), 1) : -1;
	b = colon ? find_name(colon + 1, strlen(colon + 1), 0) : -1;
	if (w < 0 || b < 0 || !applies(&workloads[w], b, WARM)) {
		fprintf(stderr, "spool-bench: -o wants WORKLOAD:BACKEND\n");
		return 2;
	}
	j.w = &workloads[w];
	j.b = &backends[b];
	j.mode = cfg.mode;
	j.budget = cfg.budget;
	memset(&s, 0, sizeof(s));
	set_allocator(j.mode);
	if (j.budget)
		spool_set_budget(NO_SPILL_BUDGET);
	if (j.mode == WARM && !(j.w->flags & (WF_READ | WF_OPS)))
		one_pass(&j, &s);
	if (one_pass(&j, &s) < 0) {
		fprintf(stderr, "spool-bench: %s failed\n", spec);
		return 1;
	}
	printf("%s %s%s: %.0f %s in %.3f s, %.1f %s\n", spec,
	       mode_names[j.mode], j.budget ? " budget" : "", s.units,
	       j.w->flags & WF_OPS ? "ops" : "bytes", s.secs,
	       s.units / s.secs / 1e6, j.w->flags & WF_OPS ? "Mop/s" : "MB/s");
	return 0;
}

static void usage(FILE *out)
{
	int i;

	fprintf(out,
		"usage: spool-bench [-s SIZE] [-r N] [-w LIST] [-b SIZE] [-q] "
		"[-p]\n"
		"       spool-bench [-s SIZE] [-m cold|warm] "
		"-o WORKLOAD:BACKEND\n"
		"  -s SIZE  payload per measurement, K/M/G suffixes "
		"(default 64M)\n"
		"  -r N     rounds, 1..%d (default 5)\n"
		"  -q       quick: 64 MiB instead of 1 GiB for the RSS "
		"target\n"
		"  -p       skip Python's SpooledTemporaryFile\n"
		"  -w LIST  only these, comma-separated: workloads, and the "
		"parts python,\n"
		"           memory, rollover, budget (default: everything)\n"
		"  -m MODE  cold (default) or warm memory, for -o\n"
		"  -b SIZE  give every stream a SIZE stdio buffer "
		"(setvbuf), not glibc's\n"
		"  -o W:B   one pass of workload W on backend B, no fork "
		"(for profilers)\n"
		"  -B       with -o: a budget set that never spills "
		"(spool_set_budget)\nworkloads:",
		MAX_ROUNDS);
	for (i = 0; i < NWL; i++)
		fprintf(out, " %s", workloads[i].name);
	fprintf(out, "\nbackends:");
	for (i = 0; i < NBACK; i++)
		fprintf(out, " %s", backends[i].name);
	fprintf(out, "\n");
}

/* One option; -1 for a bad one. */
static int parse_opt(int c, const char *arg)
{
	switch (c) {
	case 's':
		return parse_size(arg, &cfg.payload);
	case 'b':
		return parse_size(arg, &cfg.bufsize);
	case 'r':
		cfg.rounds = atoi(arg);
		return cfg.rounds < 1 || cfg.rounds > MAX_ROUNDS ? -1 : 0;
	case 'w':
		return parse_workloads(arg);
	case 'm':
		if (strcmp(arg, "cold") && strcmp(arg, "warm"))
			return -1;
		cfg.mode = strcmp(arg, "cold") ? WARM : COLD;
		return 0;
	case 'q':
		cfg.quick = 1;
		return 0;
	case 'p':
		cfg.no_python = 1;
		return 0;
	case 'B':
		cfg.budget = 1;
		return 0;
	default:
		return -1;
	}
}

static void run_all(void)
{
	int r;

	print_header();
	if (wanted(-1)) {
		for (r = 0; r < cfg.rounds; r++)
			run_round(r);
		print_table();
	}
	if (wanted(0))
		print_python();
	if (wanted(1))
		print_memory();
	if (wanted(2))
		print_rollover();
	if (wanted(3))
		print_budget();
}

int main(int argc, char **argv)
{
	const char *once = NULL;
	int c, heap = 0;

	while ((c = getopt(argc, argv, "s:r:qpo:w:m:b:BMh")) != -1) {
		if (c == 'h') {
			usage(stdout);
			return 0;
		} else if (c == 'o') {
			once = optarg;
		} else if (c == 'M') { /* internal: see print_memory() */
			heap = 1;
		} else if (parse_opt(c, optarg) < 0) {
			usage(stderr);
			return 2;
		}
	}
	make_data();
	if (heap)
		heap_reports();
	else if (once != NULL)
		return run_once(once);
	else
		run_all();
	return 0;
}
