/* SPDX-License-Identifier: MIT */
/*
 * contents-bench.c - the four ways to get a spool's contents out (issue
 * 13), each side by side with the plain system calls it has to match:
 * spool_getvalue() against malloc + memcpy or pread, spool_view() against
 * mmap, spool_send() against a read/write loop or one write(2), and
 * spool_persist() against itself at another size and against its copy
 * path.
 *
 * A separate program from spool-bench.c: that one crosses stream
 * workloads with stdio backends; here every row is a pair of legs (the
 * spool's call and its baseline) with its own setup, sizes up to 1 GiB,
 * descriptors, pipes and a second file system. It reports and never
 * asserts. As in spool-bench, every measurement runs in a forked child,
 * the two legs of a row run back to back in each round (which goes first
 * alternates), and the ratio is the median of the per-round ratios.
 * See bench/README.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <gnu/libc-version.h>
#include <limits.h>
#include <malloc.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "spool.h"
#include "bench.h"

#define KIB ((size_t)1024)
#define MIB (1024 * KIB)
#define BLOCK (64 * KIB)   /* fill block, and the baseline's loop */
#define DISK_THRESHOLD MIB /* a spool "on disk" */
#define PAGE 4096	   /* what touching a mapping steps by */
#define CALLS 1000	   /* view/unview pairs per pass */
#define MIN_TIMED 0.2	   /* warm passes add up to this many seconds */
#define MAX_PASSES 25
#define TMPFS_MAGIC 0x01021994 /* statfs f_type of tmpfs */

/* Settings from the command line. */
static struct {
	size_t payload;	   /* -s: memory rows and the small disk rows */
	size_t big;	   /* -S or $CONTENTS_BENCH_BIG: the "1 GiB" rows */
	int rounds;	   /* -r */
	const char *dir;   /* temp files: $TMPDIR, else /tmp */
	const char *other; /* -x: another file system (default /dev/shm) */
	const char *only;  /* -w: row name prefixes, comma-separated */
	int other_ok;	   /* other is a different file system */
	int other_tmpfs;   /* and a tmpfs */
} cfg = {64 * MIB, 0, 5, NULL, "/dev/shm", NULL, 0, 0};

static char block[BLOCK];

/* Files and descriptors */

static int write_all(int fd, const char *p, size_t n)
{
	ssize_t k;

	while (n > 0) {
		k = write(fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* An unnamed file in dir: O_TMPFILE leaves nothing behind, whatever
 * happens to this process. */
static int temp_fd(const char *dir)
{
	return open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
}

static void fill_fd(int fd, size_t n)
{
	size_t k;

	for (; n > 0; n -= k) {
		k = n < BLOCK ? n : BLOCK;
		if (write_all(fd, block, k) < 0)
			break;
	}
}

static void fill_spool(FILE *fp, size_t n)
{
	size_t k;

	for (; n > 0; n -= k) {
		k = n < BLOCK ? n : BLOCK;
		fwrite(block, 1, k, fp);
	}
	fflush(fp);
}

/* Touch every page of a view or mapping, as both sides of a row do. */
static unsigned touch(const void *p, size_t n)
{
	const volatile unsigned char *c = p;
	unsigned sum = 0;
	size_t i;

	for (i = 0; i < n; i += PAGE)
		sum += c[i];
	return sum;
}

/* What one leg holds across its passes. */
struct ctx {
	size_t n;      /* the bytes this leg moves */
	FILE *fp;      /* the spool */
	int src;       /* a regular file with the same bytes, or -1 */
	int dst;       /* where a send writes, or -1 */
	int pipe_wr;   /* the write end of a reader's pipe, or -1 */
	int ack;       /* the reader's "got c->n bytes", or -1 */
	pid_t reader;  /* the process draining the pipe, or 0 */
	char *src_buf; /* a contiguous copy of the bytes */
	char *out;     /* what a pass made, freed after it */
	int viewing;   /* a view is live */
	size_t units;  /* what a pass did: bytes, or calls */
	char path[PATH_MAX];
};

/* Setup helpers: each makes its part once and keeps it across passes. */

static int spool_mem(struct ctx *c)
{
	if (c->fp == NULL) {
		c->fp = spool_fopen(SIZE_MAX, "w+");
		if (c->fp == NULL)
			return -1;
		fill_spool(c->fp, c->n);
	}
	return spool_is_rolled(c->fp) == 0 ? 0 : -1;
}

/* A file just filled goes to the device before any pass: with 1 GiB
 * sources, 2-3 GiB of dirty pages pass the kernel's background
 * threshold (10% of memory here), and the flusher writing them back in
 * the middle of a pass gave per-round ratios from 0.55 to 2.48 for the
 * same send. */
static int written_back(int fd)
{
	return fd >= 0 && syncfs(fd) == 0 ? 0 : -1;
}

static int spool_disk(struct ctx *c)
{
	if (c->fp == NULL) {
		c->fp = spool_fopen(DISK_THRESHOLD, "w+");
		if (c->fp == NULL)
			return -1;
		fill_spool(c->fp, c->n);
		if (c->n <= DISK_THRESHOLD && spool_rollover(c->fp) < 0)
			return -1;
		if (written_back(spool_fileno(c->fp)) < 0)
			return -1;
	}
	return spool_is_rolled(c->fp) == 1 ? 0 : -1;
}

static int src_file(struct ctx *c)
{
	if (c->src < 0) {
		c->src = temp_fd(cfg.dir);
		if (c->src < 0)
			return -1;
		fill_fd(c->src, c->n);
		if (written_back(c->src) < 0)
			return -1;
	}
	return 0;
}

static int src_buf(struct ctx *c)
{
	size_t i;

	if (c->src_buf == NULL) {
		c->src_buf = malloc(c->n ? c->n : 1);
		if (c->src_buf == NULL)
			return -1;
		for (i = 0; i < c->n; i += BLOCK)
			memcpy(c->src_buf + i, block,
			       c->n - i < BLOCK ? c->n - i : BLOCK);
	}
	return 0;
}

/* A new unnamed file on the temp dir's file system for each pass. */
static int dst_new(struct ctx *c)
{
	c->dst = temp_fd(cfg.dir);
	return c->dst < 0 ? -1 : 0;
}

static void dst_close(struct ctx *c)
{
	if (c->dst >= 0)
		close(c->dst);
	c->dst = -1;
}

/* One file on the other (tmpfs) file system, rewritten from offset 0 by
 * every pass: a cold pass gives it fresh pages, a warm one reuses them. */
static int dst_tmpfs(struct ctx *c)
{
	if (!cfg.other_tmpfs)
		return -1;
	if (c->dst < 0)
		c->dst = temp_fd(cfg.other);
	if (c->dst < 0 || lseek(c->dst, 0, SEEK_SET) != 0)
		return -1;
	return 0;
}

static void stop_reader(struct ctx *c)
{
	if (c->pipe_wr >= 0)
		close(c->pipe_wr);
	if (c->ack >= 0)
		close(c->ack);
	if (c->reader > 0)
		waitpid(c->reader, NULL, 0);
	c->pipe_wr = c->ack = -1;
	c->reader = 0;
}

/*
 * A process that drains a pipe the way a consumer does, read(2) into a
 * 64 KiB buffer, and says on a second pipe each time it has c->n more
 * bytes: a pass to a pipe ends when the reader has them all. Forked once,
 * before the leg allocates anything, so that no page the passes write is
 * shared copy-on-write with it, and the fork is never timed.
 */
static int start_reader(struct ctx *c)
{
	static char buf[BLOCK];
	int fd[2], ack[2];
	size_t got = 0;
	ssize_t k;

	if (c->reader > 0)
		return 0;
	if (pipe(fd) < 0)
		return -1;
	if (pipe(ack) < 0) {
		close(fd[0]);
		close(fd[1]);
		return -1;
	}
	c->reader = fork();
	if (c->reader == 0) {
		/* Every other descriptor, another reader's pipe above all:
		 * holding its write end, this one would keep it from EOF. */
		for (k = 3; k < 1024; k++)
			if (k != fd[0] && k != ack[1])
				close((int)k);
		while ((k = read(fd[0], buf, sizeof(buf))) != 0) {
			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0)
				_exit(2);
			for (got += (size_t)k; got >= c->n; got -= c->n)
				if (write(ack[1], "", 1) != 1)
					_exit(2);
		}
		_exit(got == 0 ? 0 : 1);
	}
	close(fd[0]);
	close(ack[1]);
	c->pipe_wr = fd[1];
	c->ack = ack[0];
	if (c->reader < 0) {
		stop_reader(c);
		return -1;
	}
	return 0;
}

/* End of a pass to a pipe: the reader has every byte. */
static int reader_done(struct ctx *c)
{
	char b;

	return read(c->ack, &b, 1) == 1 ? 0 : -1;
}

static int persist_path(struct ctx *c, const char *dir)
{
	int k = snprintf(c->path, sizeof(c->path),
			 "%s/contents-bench-%ld.persist", dir, (long)getpid());

	return k < 0 || (size_t)k >= sizeof(c->path) ? -1 : 0;
}

/* Undo a persist pass: the named file, and the spool (the next pass
 * needs one that has never been linked). */
static void persist_done(struct ctx *c)
{
	if (c->path[0] != '\0')
		unlink(c->path);
	c->path[0] = '\0';
	if (c->fp != NULL)
		fclose(c->fp);
	c->fp = NULL;
}

/* Legs: setup (untimed, before every pass), the timed pass (0 or -1),
 * teardown (untimed, after every pass). */

static int getvalue_pass(struct ctx *c)
{
	size_t len = 0;

	c->out = spool_getvalue(c->fp, &len);
	return c->out != NULL && len == c->n ? 0 : -1;
}

static void out_free(struct ctx *c)
{
	free(c->out);
	c->out = NULL;
}

static int memcpy_pass(struct ctx *c)
{
	c->out = malloc(c->n + 1);
	if (c->out == NULL)
		return -1;
	memcpy(c->out, c->src_buf, c->n);
	c->out[c->n] = '\0';
	return 0;
}

static int pread_pass(struct ctx *c)
{
	size_t done = 0;
	ssize_t k;

	c->out = malloc(c->n + 1);
	if (c->out == NULL)
		return -1;
	while (done < c->n) { /* one pread, unless it comes back short */
		k = pread(c->src, c->out + done, c->n - done, (off_t)done);
		if (k <= 0)
			return -1;
		done += (size_t)k;
	}
	c->out[c->n] = '\0';
	return 0;
}

static int view_touch_pass(struct ctx *c)
{
	const void *p;
	size_t len;

	if (spool_view(c->fp, &p, &len) < 0 || len != c->n)
		return -1;
	touch(p, len);
	return spool_unview(c->fp);
}

static int mmap_touch_pass(struct ctx *c)
{
	void *p = mmap(NULL, c->n, PROT_READ, MAP_SHARED, c->src, 0);

	if (p == MAP_FAILED)
		return -1;
	touch(p, c->n);
	return munmap(p, c->n);
}

/* CALLS view/unview pairs: what "constant time" is measured on. */
static int views_pass(struct ctx *c)
{
	const void *p;
	size_t len;
	int i;

	for (i = 0; i < CALLS; i++) {
		if (spool_view(c->fp, &p, &len) < 0 || len != c->n ||
		    spool_unview(c->fp) < 0)
			return -1;
	}
	c->units = CALLS;
	return 0;
}

/* The first view of a segmented image: the join. */
static int first_view_pass(struct ctx *c)
{
	const void *p;
	size_t len;

	if (spool_view(c->fp, &p, &len) < 0 || len != c->n)
		return -1;
	c->viewing = 1;
	return 0;
}

static void first_view_done(struct ctx *c)
{
	if (c->viewing)
		spool_unview(c->fp);
	c->viewing = 0;
	fclose(c->fp);
	c->fp = NULL;
}

/* The join's floor: the bytes copied once into a fresh malloc block. */
static void joined_free(struct ctx *c)
{
	out_free(c);
}

static int send_pass(struct ctx *c)
{
	off_t off = 0;
	int fd = c->pipe_wr >= 0 ? c->pipe_wr : c->dst;

	if (spool_send(c->fp, fd, &off) < 0 || off != (off_t)c->n)
		return -1;
	return c->pipe_wr >= 0 ? reader_done(c) : 0;
}

/* The kernel's own copy from a regular file, as spool_send() makes it
 * on disk, with none of the library around it: what the machine and
 * file system allow (copy_file_range(2) to a file, sendfile(2) to a
 * pipe). */
static int kernel_pass(struct ctx *c)
{
	off_t off = 0;
	ssize_t k;

	while ((size_t)off < c->n) {
		if (c->pipe_wr >= 0)
			k = sendfile(c->pipe_wr, c->src, &off,
				     c->n - (size_t)off);
		else
			k = copy_file_range(c->src, &off, c->dst, NULL,
					    c->n - (size_t)off, 0);
		if (k <= 0)
			return -1;
	}
	return c->pipe_wr >= 0 ? reader_done(c) : 0;
}

/* The loop spool_send() replaces: 64 KiB read(2)s and write(2)s. */
static int copy_loop_pass(struct ctx *c)
{
	int fd = c->pipe_wr >= 0 ? c->pipe_wr : c->dst;
	size_t done = 0;
	char *buf = block; /* a warm buffer, as a real loop reuses one */
	ssize_t k;

	while ((k = pread(c->src, buf, BLOCK, (off_t)done)) > 0) {
		if (write_all(fd, buf, (size_t)k) < 0)
			return -1;
		done += (size_t)k;
	}
	if (k < 0 || done != c->n)
		return -1;
	return c->pipe_wr >= 0 ? reader_done(c) : 0;
}

/* One write(2) of a contiguous buffer (a loop only for a pipe's
 * partial writes). */
static int write_pass(struct ctx *c)
{
	int fd = c->pipe_wr >= 0 ? c->pipe_wr : c->dst;

	if (write_all(fd, c->src_buf, c->n) < 0)
		return -1;
	return c->pipe_wr >= 0 ? reader_done(c) : 0;
}

static int persist_pass(struct ctx *c)
{
	return spool_persist(c->fp, c->path, 0);
}

/* The first byte written after a persist, and its flush: where a spool
 * whose temp file now has a name moves to a new one. */
static int append_pass(struct ctx *c)
{
	if (fputc('x', c->fp) == EOF || fflush(c->fp) == EOF)
		return -1;
	c->units = 1;
	return 0;
}

/* A spool in memory whose first view has joined it already. */
static int spool_joined(struct ctx *c)
{
	const void *p;
	size_t len;

	if (c->fp != NULL)
		return 0;
	if (spool_mem(c) < 0 || spool_view(c->fp, &p, &len) < 0)
		return -1;
	return spool_unview(c->fp);
}

/* What a leg reads from, and where it writes. */
enum { S_MEM, S_DISK, S_JOINED, S_FILE, S_BUF };
enum { T_NONE, T_NEW, T_PIPE, T_TMPFS, T_PERSIST, T_OTHER, T_PERSISTED };

static int make_source(int source, struct ctx *c)
{
	switch (source) {
	case S_MEM:
		return spool_mem(c);
	case S_DISK:
		return spool_disk(c);
	case S_JOINED:
		return spool_joined(c);
	case S_FILE:
		return src_file(c);
	default:
		return src_buf(c);
	}
}

/* The untimed part before every pass. */
static int setup(int source, int target, struct ctx *c)
{
	/* The reader first: see start_reader(). */
	if (target == T_PIPE && start_reader(c) < 0)
		return -1;
	if (make_source(source, c) < 0)
		return -1;
	switch (target) {
	case T_NEW:
		return dst_new(c);
	case T_TMPFS:
		return dst_tmpfs(c);
	case T_PERSIST:
		return persist_path(c, cfg.dir);
	case T_OTHER:
		return cfg.other_ok ? persist_path(c, cfg.other) : -1;
	case T_PERSISTED: /* the position stays at the end */
		if (persist_path(c, cfg.dir) < 0)
			return -1;
		return spool_persist(c->fp, c->path, 0);
	default:
		return 0;
	}
}

/* Sizes a leg can ask for. */
enum { SZ_PAYLOAD, SZ_BIG, SZ_1K, SZ_256K };

struct leg {
	const char *name;
	int size;   /* SZ_* */
	int source; /* S_* */
	int target; /* T_* */
	int (*pass)(struct ctx *);
	void (*teardown)(struct ctx *);
	int max_passes; /* warm: at most this many timed passes; 0 = 25 */
};

/* Row flags */
#define R_COLD 1u  /* also measured cold (a fresh child, one pass) */
#define R_CALLS 2u /* times per call, not per pass */
#define R_UPPER 4u /* the ratio is spool / baseline time, target a ceiling */
#define R_INFO 8u  /* no target: for scale */

struct row {
	const char *name;
	const char *what; /* one line for the table */
	unsigned flags;
	double target;
	struct leg op, base;
};

static const struct row rows[] = {
    {"getvalue-mem",
     "spool_getvalue, memory / malloc+memcpy",
     R_COLD,
     0.9,
     {"getvalue", SZ_PAYLOAD, S_MEM, T_NONE, getvalue_pass, out_free, 0},
     {"memcpy", SZ_PAYLOAD, S_BUF, T_NONE, memcpy_pass, out_free, 0}},
    {"getvalue-disk",
     "spool_getvalue, disk / malloc+pread",
     R_COLD,
     0.9,
     {"getvalue", SZ_PAYLOAD, S_DISK, T_NONE, getvalue_pass, out_free, 0},
     {"pread", SZ_PAYLOAD, S_FILE, T_NONE, pread_pass, out_free, 0}},
    {"view-mem-const",
     "spool_view+unview, one piece: 256 KiB / 1 KiB",
     R_CALLS | R_UPPER,
     1.5,
     {"view 256K", SZ_256K, S_MEM, T_NONE, views_pass, NULL, 0},
     {"view 1K", SZ_1K, S_MEM, T_NONE, views_pass, NULL, 0}},
    {"view-mem-join",
     "first spool_view, segmented / malloc+memcpy",
     R_COLD | R_INFO,
     0,
     {"first view", SZ_PAYLOAD, S_MEM, T_NONE, first_view_pass, first_view_done,
      0},
     {"memcpy", SZ_PAYLOAD, S_BUF, T_NONE, memcpy_pass, joined_free, 0}},
    {"view-mem-again",
     "view after the join / view of 1 KiB",
     R_CALLS | R_UPPER,
     1.5,
     {"view again", SZ_PAYLOAD, S_JOINED, T_NONE, views_pass, NULL, 0},
     {"view 1K", SZ_1K, S_MEM, T_NONE, views_pass, NULL, 0}},
    {"view-disk",
     "spool_view+touch, disk / mmap+touch",
     0,
     0.9,
     {"view", SZ_PAYLOAD, S_DISK, T_NONE, view_touch_pass, NULL, 0},
     {"mmap", SZ_PAYLOAD, S_FILE, T_NONE, mmap_touch_pass, NULL, 0}},
    {"view-disk-big",
     "spool_view+touch, disk / mmap+touch",
     0,
     0.9,
     {"view", SZ_BIG, S_DISK, T_NONE, view_touch_pass, NULL, 0},
     {"mmap", SZ_BIG, S_FILE, T_NONE, mmap_touch_pass, NULL, 0}},
    {"send-disk-file",
     "spool_send, disk -> same-fs file / 64K loop",
     0,
     1.5,
     {"send", SZ_BIG, S_DISK, T_NEW, send_pass, dst_close, 0},
     {"rw loop", SZ_BIG, S_FILE, T_NEW, copy_loop_pass, dst_close, 0}},
    {"send-disk-pipe",
     "spool_send, disk -> pipe / 64K loop",
     0,
     1.5,
     {"send", SZ_BIG, S_DISK, T_PIPE, send_pass, NULL, 0},
     {"rw loop", SZ_BIG, S_FILE, T_PIPE, copy_loop_pass, NULL, 0}},
    {"send-kernel-file",
     "copy_file_range, regular file -> same-fs file / 64K loop",
     R_INFO,
     0,
     {"copy_file_range", SZ_BIG, S_FILE, T_NEW, kernel_pass, dst_close, 0},
     {"rw loop", SZ_BIG, S_FILE, T_NEW, copy_loop_pass, dst_close, 0}},
    {"send-kernel-pipe",
     "sendfile, regular file -> pipe / 64K loop",
     R_INFO,
     0,
     {"sendfile", SZ_BIG, S_FILE, T_PIPE, kernel_pass, NULL, 0},
     {"rw loop", SZ_BIG, S_FILE, T_PIPE, copy_loop_pass, NULL, 0}},
    {"send-mem-pipe",
     "spool_send, memory -> pipe / one write",
     0,
     0.95,
     {"send", SZ_PAYLOAD, S_MEM, T_PIPE, send_pass, NULL, 0},
     {"write", SZ_PAYLOAD, S_BUF, T_PIPE, write_pass, NULL, 0}},
    {"send-mem-tmpfs",
     "spool_send, memory -> tmpfs file / one write",
     R_COLD,
     0.95,
     {"send", SZ_PAYLOAD, S_MEM, T_TMPFS, send_pass, NULL, 0},
     {"write", SZ_PAYLOAD, S_BUF, T_TMPFS, write_pass, NULL, 0}},
    {"persist-const",
     "spool_persist, disk, same fs: big / small",
     R_UPPER,
     1.5,
     {"persist big", SZ_BIG, S_DISK, T_PERSIST, persist_pass, persist_done, 3},
     {"persist small", SZ_PAYLOAD, S_DISK, T_PERSIST, persist_pass,
      persist_done, 3}},
    {"persist-copy-mem",
     "spool_persist: from memory (copy) / disk link",
     R_UPPER | R_INFO,
     0,
     {"persist mem", SZ_PAYLOAD, S_MEM, T_PERSIST, persist_pass, persist_done,
      3},
     {"persist disk", SZ_PAYLOAD, S_DISK, T_PERSIST, persist_pass, persist_done,
      3}},
    {"persist-copy-fs",
     "spool_persist: other fs (copy) / same fs link",
     R_UPPER | R_INFO,
     0,
     {"persist other", SZ_BIG, S_DISK, T_OTHER, persist_pass, persist_done, 3},
     {"persist disk", SZ_BIG, S_DISK, T_PERSIST, persist_pass, persist_done,
      3}},
    {"persist-write",
     "1st byte after persist / after no persist",
     R_UPPER | R_INFO,
     0,
     {"after persist", SZ_BIG, S_DISK, T_PERSISTED, append_pass, persist_done,
      3},
     {"no persist", SZ_BIG, S_DISK, T_NONE, append_pass, persist_done, 3}},
};
#define NROWS ((int)(sizeof(rows) / sizeof(rows[0])))

enum { COLD, WARM, NMODE };
static const char *const mode_names[NMODE] = {"cold", "warm"};

static size_t size_of(int sz)
{
	switch (sz) {
	case SZ_BIG:
		return cfg.big;
	case SZ_1K:
		return KIB;
	case SZ_256K:
		return 256 * KIB;
	default:
		return cfg.payload;
	}
}

/* Measuring */

struct sample {
	double secs;  /* one pass, or the median warm pass */
	double units; /* bytes, or calls for R_CALLS rows */
	int ok;
};

/* As in spool-bench: cold makes every block of 128 KiB or more a fresh
 * mapping, warm keeps freed memory in the heap for the next pass. */
static void set_allocator(int mode)
{
	if (mode == COLD) {
		mallopt(M_MMAP_THRESHOLD, 128 * 1024);
		return;
	}
	mallopt(M_MMAP_MAX, 0);
	mallopt(M_TRIM_THRESHOLD, -1);
}

static int one_pass(const struct leg *l, struct ctx *c, double *secs)
{
	double t0;
	int rc;

	c->units = c->n;
	if (setup(l->source, l->target, c) < 0)
		return -1;
	t0 = now();
	rc = l->pass(c);
	*secs = now() - t0;
	if (l->teardown != NULL)
		l->teardown(c);
	return rc;
}

static void ctx_init(struct ctx *c, size_t n)
{
	*c = (struct ctx){
	    .n = n, .src = -1, .dst = -1, .pipe_wr = -1, .ack = -1};
}

static void ctx_free(struct ctx *c)
{
	stop_reader(c);
	if (c->path[0] != '\0')
		unlink(c->path);
	if (c->viewing)
		spool_unview(c->fp);
	if (c->fp != NULL)
		fclose(c->fp);
	if (c->src >= 0)
		close(c->src);
	if (c->dst >= 0)
		close(c->dst);
	free(c->src_buf);
	free(c->out);
}

/* A leg in this process: one pass cold; warm, a warm-up pass and then
 * passes until MIN_TIMED seconds, the median counting. */
static void run_leg(const struct leg *l, int mode, struct sample *s)
{
	double secs[MAX_PASSES], t, total = 0;
	int n = 0, most = l->max_passes ? l->max_passes : MAX_PASSES;
	struct ctx c;

	ctx_init(&c, size_of(l->size));
	s->ok = 0;
	if (mode == WARM && one_pass(l, &c, &t) < 0)
		goto out;
	do {
		if (one_pass(l, &c, &t) < 0)
			goto out;
		secs[n++] = t;
		total += t;
	} while (mode == WARM && total < MIN_TIMED && n < most);
	s->secs = median(secs, n);
	s->units = (double)c.units;
	s->ok = 1;
out:
	ctx_free(&c);
}

struct job {
	const struct leg *leg;
	int mode;
};

static void leg_child(const void *arg, void *out)
{
	const struct job *j = arg;

	set_allocator(j->mode);
	run_leg(j->leg, j->mode, out);
}

/* Run a leg in a forked child and collect its sample. */
static void in_child(const struct job *j, struct sample *s)
{
	memset(s, 0, sizeof(*s));
	if (run_forked(leg_child, j, s, sizeof(*s)) < 0)
		s->ok = 0;
}

/* A leg's cost: the time of a pass, or of one call for R_CALLS rows. */
static double cost(const struct row *rw, double secs, double units)
{
	return rw->flags & R_CALLS ? secs / units : secs;
}

/* baseline / spool (a speed ratio), or spool / other for R_UPPER rows. */
static double ratio_of(const struct row *rw, double op, double base)
{
	return rw->flags & R_UPPER ? op / base : base / op;
}

/* One round of a row: each leg's cost and their ratio. */
struct round {
	double op, base, ratio;
	int ok;
};

/* Cold: each leg in a fresh child, one pass; which goes first
 * alternates from round to round. */
static void cold_round(const struct row *rw, int r, struct round *out)
{
	struct job jo = {&rw->op, COLD}, jb = {&rw->base, COLD};
	struct sample so, sb;

	if (r % 2 == 0) {
		in_child(&jo, &so);
		in_child(&jb, &sb);
	} else {
		in_child(&jb, &sb);
		in_child(&jo, &so);
	}
	out->ok = so.ok && sb.ok;
	if (!out->ok)
		return;
	out->op = cost(rw, so.secs, so.units);
	out->base = cost(rw, sb.secs, sb.units);
	out->ratio = ratio_of(rw, out->op, out->base);
}

/* Which leg a warm child sets up first: 0, the spool's; 1, the
 * baseline's (see warm_round()). */
static int setup_first;

/*
 * Warm: both legs in one child, one pass each in turn (which goes first
 * alternates), after a warm-up pass of each, until both add up to twice
 * MIN_TIMED; the median of the per-pair ratios counts. Other tenants'
 * load moves in seconds, a pair in milliseconds: it moves both alike.
 * The readers of pipe rows start before either leg allocates anything.
 */
static void pair_child(const void *arg, void *out)
{
	const struct row *rw = arg;
	const struct leg *l[2] = {&rw->op, &rw->base};
	struct ctx c[2];
	double t, v[2][MAX_PASSES], ratio[MAX_PASSES], total = 0;
	int i, k, n = 0, most = MAX_PASSES;
	struct round *rd = out;

	rd->ok = 0;
	set_allocator(WARM);
	for (i = 0; i < 2; i++) {
		ctx_init(&c[i], size_of(l[i]->size));
		if (l[i]->max_passes && l[i]->max_passes < most)
			most = l[i]->max_passes;
	}
	for (i = 0; i < 2; i++)
		if (l[i]->target == T_PIPE && start_reader(&c[i]) < 0)
			goto out;
	for (k = 0; k < 2; k++)
		if (one_pass(l[(setup_first + k) % 2],
			     &c[(setup_first + k) % 2], &t) < 0)
			goto out;
	do {
		for (k = 0; k < 2; k++) {
			i = (k + n) % 2;
			if (one_pass(l[i], &c[i], &t) < 0)
				goto out;
			v[i][n] = cost(rw, t, (double)c[i].units);
			total += t;
		}
		ratio[n] = ratio_of(rw, v[0][n], v[1][n]);
		n++;
	} while (total < 2 * MIN_TIMED && n < most);
	rd->op = median(v[0], n);
	rd->base = median(v[1], n);
	rd->ratio = median(ratio, n);
	rd->ok = 1;
out:
	ctx_free(&c[0]);
	ctx_free(&c[1]);
}

/*
 * A warm round is two children, one that sets up the spool's leg first
 * and one that sets up the baseline's first; each figure is the
 * geometric mean of the two. Why: in one process, a file written
 * earlier reads back slower than one written later (64 MiB, 64 KiB
 * writes, the same folios: 4.3-4.5 ms against 3.7-3.8 ms for the third
 * such file), so a fixed order gave getvalue-disk 0.87 with the spool's
 * file first and 1.07 with the baseline's first (bench/README).
 */
static void warm_round(const struct row *rw, struct round *out)
{
	struct round rd[2];
	int k;

	memset(out, 0, sizeof(*out));
	for (k = 0; k < 2; k++) {
		memset(&rd[k], 0, sizeof(rd[k]));
		setup_first = k;
		if (run_forked(pair_child, rw, &rd[k], sizeof(rd[k])) < 0 ||
		    !rd[k].ok)
			return;
	}
	out->op = sqrt(rd[0].op * rd[1].op);
	out->base = sqrt(rd[0].base * rd[1].base);
	out->ratio = sqrt(rd[0].ratio * rd[1].ratio);
	out->ok = 1;
}

/* Reporting */

static void print_time(const struct row *rw, double c)
{
	if (rw->flags & R_CALLS)
		printf(" %.0f ns |", c * 1e9);
	else if (c < 1e-3)
		printf(" %.1f us |", c * 1e6);
	else
		printf(" %.2f ms |", c * 1e3);
}

static const char *verdict(const struct row *rw, double ratio, double lo,
			   double hi)
{
	long r = (long)(ratio * 100 + 0.5), t = (long)(rw->target * 100 + 0.5);
	int met = rw->flags & R_UPPER ? r <= t : r >= t;

	if (rw->flags & R_INFO)
		return "info";
	if (rw->flags & R_UPPER ? (lo <= rw->target && hi > rw->target)
				: (lo < rw->target && hi >= rw->target))
		return met ? "yes (noise)" : "NO (noise)";
	return met ? "yes" : "NO";
}

static void size_name(size_t n, char *out, size_t len)
{
	if (n >= MIB && n % MIB == 0)
		snprintf(out, len, "%zu MiB", n / MIB);
	else
		snprintf(out, len, "%zu KiB", n / KIB);
}

/*
 * One row in one memory mode, cfg.rounds times. The ratio is the median
 * of the rounds' ratios (see ratio_of()); the times are the medians of
 * the rounds' costs.
 */
static void run_row(const struct row *rw, int mode)
{
	double v[MAX_ROUNDS], t_op[MAX_ROUNDS], t_base[MAX_ROUNDS];
	double lo = 0, hi = 0, ratio;
	struct round rd;
	char sz[32];
	int r, n = 0;

	for (r = 0; r < cfg.rounds; r++) {
		if (mode == COLD)
			cold_round(rw, r, &rd);
		else
			warm_round(rw, &rd);
		if (!rd.ok)
			continue;
		t_op[n] = rd.op;
		t_base[n] = rd.base;
		v[n] = rd.ratio;
		lo = n == 0 || v[n] < lo ? v[n] : lo;
		hi = n == 0 || v[n] > hi ? v[n] : hi;
		n++;
	}
	fprintf(stderr, "%s %s: %d/%d rounds\n", rw->name, mode_names[mode], n,
		cfg.rounds);
	size_name(size_of(rw->op.size), sz, sizeof(sz));
	printf("| %s | %s | %s | %s |", rw->name, mode_names[mode], sz,
	       rw->op.name);
	if (n == 0) {
		printf(" failed | %s | | | | | |\n", rw->base.name);
		return;
	}
	print_time(rw, median(t_op, n));
	printf(" %s |", rw->base.name);
	print_time(rw, median(t_base, n));
	ratio = median(v, n);
	printf(" %.2f | %.2f-%.2f | ", ratio, lo, hi);
	if (rw->flags & R_INFO)
		printf("info |");
	else
		printf("%s %.2f |",
		       rw->flags & R_UPPER ? "<=" : ">=", rw->target);
	printf(" %s |\n", verdict(rw, ratio, lo, hi));
}

static int wanted(const struct row *rw)
{
	const char *p = cfg.only;
	size_t k;

	if (p == NULL)
		return 1;
	while (*p != '\0') {
		k = strcspn(p, ",");
		if (k > 0 && strncmp(rw->name, p, k) == 0)
			return 1;
		p += k + (p[k] == ',');
	}
	return 0;
}

/* A -big row is the row without -big again when -S is -s. */
static int repeated(const struct row *rw)
{
	return rw->op.size == SZ_BIG && cfg.big == cfg.payload &&
	       strstr(rw->name, "-big") != NULL;
}

/* The rows that need the other file system, when it is not there. */
static int runnable(const struct row *rw)
{
	if (rw->op.target == T_TMPFS && !cfg.other_tmpfs)
		return 0;
	return rw->op.target != T_OTHER || cfg.other_ok;
}

static void print_fs(const char *label, const char *dir)
{
	struct statfs f;

	if (statfs(dir, &f) < 0)
		printf("- %s: %s (not usable: %s)\n", label, dir,
		       strerror(errno));
	else
		printf("- %s: %s (statfs type 0x%lx%s)\n", label, dir,
		       (unsigned long)f.f_type,
		       f.f_type == TMPFS_MAGIC ? ", tmpfs" : "");
}

static void print_header(void)
{
	struct utsname u;
	char load[128] = "?";
	FILE *fp = fopen("/proc/loadavg", "r");
	time_t t = time(NULL);

	if (fp != NULL) {
		if (fgets(load, sizeof(load), fp) != NULL)
			load[strcspn(load, "\n")] = '\0';
		fclose(fp);
	}
	uname(&u);
	printf("# contents-bench\n\n");
	printf("- %s", ctime(&t));
	printf("- %s %s, glibc %s, %ld CPUs online, load average %s\n",
	       u.sysname, u.release, gnu_get_libc_version(),
	       sysconf(_SC_NPROCESSORS_ONLN), load);
	printf("- payload %zu bytes (-s), big rows %zu bytes (-S), "
	       "%d rounds (-r)\n",
	       cfg.payload, cfg.big, cfg.rounds);
	print_fs("temp dir (the spool's, and the baseline files')", cfg.dir);
	print_fs("other file system (-x)", cfg.other);
	printf("\nRatio: baseline time / spool time (higher is better), but "
	       "rows whose target\nsays \"<=\": spool leg time / other leg "
	       "time. Median of per-round ratios;\nrange = lowest and highest "
	       "per-round ratio. Page cache warm on both sides.\n\n");
	printf("| row | memory | size | spool leg | time | baseline leg | "
	       "time | ratio | range | target | met? |\n"
	       "|---|---|---|---|---:|---|---:|---:|---|---|---|\n");
}

static void print_legend(void)
{
	int i;

	printf("\nRows:\n\n");
	for (i = 0; i < NROWS; i++)
		if (wanted(&rows[i]) && !repeated(&rows[i]))
			printf("- %s: %s\n", rows[i].name, rows[i].what);
}

static void run_all(void)
{
	const struct row *rw;
	int i;

	print_header();
	for (i = 0; i < NROWS; i++) {
		rw = &rows[i];
		if (!wanted(rw))
			continue;
		if (repeated(rw))
			continue;
		if (!runnable(rw)) {
			printf("| %s | | | skipped: %s is not a usable "
			       "other file system | | | | | | | |\n",
			       rw->name, cfg.other);
			continue;
		}
		if (rw->flags & R_COLD)
			run_row(rw, COLD);
		run_row(rw, WARM);
	}
	print_legend();
}

/* Command line */

static void usage(FILE *out)
{
	int i;

	fprintf(out,
		"usage: contents-bench [-s SIZE] [-S SIZE] [-r N] [-x DIR] "
		"[-w LIST]\n"
		"       contents-bench [-s SIZE] [-S SIZE] -o ROW[:base] "
		"[-m cold|warm]\n"
		"  -s SIZE  memory rows and small disk rows (default 64M)\n"
		"  -S SIZE  the big disk rows: send, persist (default: -s; "
		"$CONTENTS_BENCH_BIG)\n"
		"  -r N     rounds, 1..%d (default 5)\n"
		"  -x DIR   another file system, a tmpfs (default /dev/shm)\n"
		"  -w LIST  only rows whose names start so, comma-separated\n"
		"  -o ROW   run one leg in this process, no fork (for "
		"profilers)\nrows:",
		MAX_ROUNDS);
	for (i = 0; i < NROWS; i++)
		fprintf(out, " %s", rows[i].name);
	fprintf(out, "\ntemp files go to $TMPDIR, else /tmp.\n");
}

/* -o ROW[:base]: one leg, cold or warm, in this process. */
static int run_once(const char *spec, int mode)
{
	size_t k = strcspn(spec, ":");
	const struct leg *l = NULL;
	struct sample s;
	int i;

	for (i = 0; i < NROWS; i++) {
		if (strlen(rows[i].name) == k &&
		    strncmp(rows[i].name, spec, k) == 0)
			l = strcmp(spec + k, ":base") ? &rows[i].op
						      : &rows[i].base;
	}
	if (l == NULL) {
		usage(stderr);
		return 2;
	}
	set_allocator(mode);
	run_leg(l, mode, &s);
	if (!s.ok) {
		printf("%s: failed\n", spec);
		return 1;
	}
	printf("%s %s %s: %.6f s for %.0f units\n", spec, l->name,
	       mode_names[mode], s.secs, s.units);
	return 0;
}

static int check_dirs(void)
{
	struct stat a, b;
	struct statfs f;

	if (stat(cfg.dir, &a) < 0) {
		fprintf(stderr, "contents-bench: %s: %s\n", cfg.dir,
			strerror(errno));
		return -1;
	}
	cfg.other_ok = stat(cfg.other, &b) == 0 && a.st_dev != b.st_dev &&
		       access(cfg.other, W_OK) == 0;
	cfg.other_tmpfs = cfg.other_ok && statfs(cfg.other, &f) == 0 &&
			  f.f_type == TMPFS_MAGIC;
	return 0;
}

int main(int argc, char **argv)
{
	const char *once = NULL, *env;
	int c, mode = WARM, rc = 0;

	while ((c = getopt(argc, argv, "s:S:r:x:w:o:m:h")) != -1) {
		switch (c) {
		case 's':
			rc = parse_size(optarg, &cfg.payload);
			break;
		case 'S':
			rc = parse_size(optarg, &cfg.big);
			break;
		case 'r':
			cfg.rounds = atoi(optarg);
			rc = cfg.rounds < 1 || cfg.rounds > MAX_ROUNDS ? -1 : 0;
			break;
		case 'x':
			cfg.other = optarg;
			break;
		case 'w':
			cfg.only = optarg;
			break;
		case 'o':
			once = optarg;
			break;
		case 'm':
			mode = strcmp(optarg, "cold") ? WARM : COLD;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			rc = -1;
			break;
		}
		if (rc < 0) {
			usage(stderr);
			return 2;
		}
	}
	env = getenv("CONTENTS_BENCH_BIG");
	if (cfg.big == 0 && env != NULL && *env != '\0' &&
	    parse_size(env, &cfg.big) < 0) {
		fprintf(stderr, "contents-bench: bad CONTENTS_BENCH_BIG\n");
		return 2;
	}
	if (cfg.big == 0)
		cfg.big = cfg.payload;
	cfg.dir = getenv("TMPDIR");
	if (cfg.dir == NULL || *cfg.dir == '\0')
		cfg.dir = "/tmp";
	if (check_dirs() < 0)
		return 1;
	for (c = 0; c < (int)BLOCK; c++)
		block[c] = (char)('a' + c % 26);
	if (once != NULL)
		return run_once(once, mode);
	run_all();
	return 0;
}
