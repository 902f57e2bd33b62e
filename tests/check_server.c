/* SPDX-License-Identifier: MIT */
/*
 * check_server.c - libspool for servers (issue 15): the memory budget
 * shared by all spools, spool_stat(), the on_rollover hook and
 * SPOOL_SECRET, seen from outside. The wiping itself is watched from
 * inside, through the fault-injection seam: tests/check_secret.c.
 *
 * The budget is process-wide: every test sets it back to 0 and checks
 * that nothing is held once its spools are closed (the fixture), so the
 * tests also hold under CK_FORK=no.
 */
#include "config.h"

#include "testutil.h"

#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#define KiB ((size_t)1024)
#define MiB (1024 * KiB)

static char *dir; /* private directory, empty at teardown */

static void setup(void)
{
	dir = tu_mkdtemp();
	spool_set_budget(0);
	ck_assert_uint_eq(spool_budget_used(), 0);
}

static void teardown(void)
{
	spool_set_budget(0);
	ck_assert_uint_eq(spool_budget_used(), 0); /* all given back */
	tu_rmdir(dir);
}

static unsigned char pat(size_t i)
{
	return (unsigned char)(i * 131 + 7 + (i >> 16));
}

/* Write n pattern bytes from stream offset `from`, in pieces of `step`,
 * then flush; 0 or -1 (the stream's error). */
static int put(FILE *fp, size_t from, size_t n, size_t step)
{
	unsigned char buf[4096];

	while (n > 0) {
		size_t k = n < step ? n : step;

		if (k > sizeof(buf))
			k = sizeof(buf);
		for (size_t i = 0; i < k; i++)
			buf[i] = pat(from + i);
		if (fwrite(buf, 1, k, fp) != k)
			return -1;
		from += k;
		n -= k;
	}
	return fflush(fp) == 0 ? 0 : -1;
}

/* The spool holds exactly pattern bytes [0, n). */
static int holds_pat(FILE *fp, size_t n)
{
	size_t len;
	char *v = spool_getvalue(fp, &len);
	int ok = v != NULL && len == n;

	for (size_t i = 0; ok && i < n; i++)
		ok = (unsigned char)v[i] == pat(i);
	free(v);
	return ok;
}

static FILE *open_in_dir(size_t threshold, unsigned flags)
{
	struct spool_options o = {
	    .threshold = threshold, .dir = dir, .flags = flags};
	FILE *fp = spool_fopen_opts(&o, "w+");

	ck_assert_ptr_nonnull(fp);
	return fp;
}

static struct spool_stat stat_of(FILE *fp)
{
	struct spool_stat st;

	ck_assert_int_eq(spool_stat(fp, &st), 0);
	return st;
}

/* ---- the budget ---- */

/* Without a budget the total is still kept, and equals the sum. */
START_TEST(test_budget_used_is_the_sum)
{
	FILE *a = open_in_dir(SIZE_MAX, 0), *b = open_in_dir(SIZE_MAX, 0);

	ck_assert_int_eq(put(a, 0, 300 * KiB, 1000), 0);
	ck_assert_int_eq(put(b, 0, 5000, 7), 0);
	ck_assert_uint_gt(stat_of(a).mem_bytes, 300 * KiB - 1);
	ck_assert_uint_eq(spool_budget_used(),
			  stat_of(a).mem_bytes + stat_of(b).mem_bytes);
	ck_assert_int_eq(fclose(a), 0);
	ck_assert_uint_eq(spool_budget_used(), stat_of(b).mem_bytes);
	ck_assert_int_eq(fclose(b), 0);
}
END_TEST

/* The write that needs the budget rolls exactly the writing spool. */
START_TEST(test_budget_rolls_the_writer)
{
	FILE *a = open_in_dir(SIZE_MAX, 0), *b = open_in_dir(SIZE_MAX, 0);

	spool_set_budget(1 * MiB);
	ck_assert_int_eq(put(a, 0, 600 * KiB, 4096), 0);
	ck_assert_int_eq(put(b, 0, 300 * KiB, 4096), 0);
	ck_assert_int_eq(spool_is_rolled(a), 0);
	ck_assert_int_eq(spool_is_rolled(b), 0);
	ck_assert_int_eq(put(b, 300 * KiB, 300 * KiB, 4096), 0);
	ck_assert_int_eq(spool_is_rolled(a), 0);
	ck_assert_int_eq(spool_is_rolled(b), 1);
	ck_assert_uint_le(spool_budget_used(), 1 * MiB);
	ck_assert_uint_eq(spool_budget_used(), stat_of(a).mem_bytes);
	ck_assert_uint_eq(stat_of(b).mem_bytes, 0);
	ck_assert(holds_pat(a, 600 * KiB));
	ck_assert(holds_pat(b, 600 * KiB));
	ck_assert_int_eq(fclose(a), 0);
	ck_assert_int_eq(fclose(b), 0);
}
END_TEST

/* When the usual growth step would pass the budget but the write itself
 * fits, the image grows by what the write needs and stays in memory. */
START_TEST(test_budget_grows_exactly_before_rolling)
{
	FILE *fp = open_in_dir(SIZE_MAX, 0);

	spool_set_budget(1000);
	ck_assert_int_eq(put(fp, 0, 900, 900), 0);
	ck_assert_int_eq(put(fp, 900, 100, 100), 0);
	ck_assert_int_eq(spool_is_rolled(fp), 0);
	ck_assert_uint_eq(stat_of(fp).mem_bytes, 1000);
	ck_assert_int_eq(put(fp, 1000, 1, 1), 0);
	ck_assert_int_eq(spool_is_rolled(fp), 1);
	ck_assert(holds_pat(fp, 1001));
	ck_assert_int_eq(fclose(fp), 0);
}
END_TEST

/* A budget lowered below what is held moves a spool at its next write,
 * and only then. */
START_TEST(test_budget_lowered_takes_effect_at_next_write)
{
	FILE *a = open_in_dir(SIZE_MAX, 0), *b = open_in_dir(SIZE_MAX, 0);

	ck_assert_int_eq(put(a, 0, 100 * KiB, 999), 0);
	ck_assert_int_eq(put(b, 0, 100 * KiB, 999), 0);
	spool_set_budget(10 * KiB);
	ck_assert_int_eq(spool_is_rolled(a), 0);
	ck_assert_int_eq(put(a, 100 * KiB, 1, 1), 0);
	ck_assert_int_eq(spool_is_rolled(a), 1);
	ck_assert_int_eq(spool_is_rolled(b), 0);
	ck_assert_uint_eq(spool_budget_used(), stat_of(b).mem_bytes);
	ck_assert(holds_pat(a, 100 * KiB + 1));
	ck_assert(holds_pat(b, 100 * KiB));
	ck_assert_int_eq(fclose(a), 0);
	ck_assert_int_eq(fclose(b), 0);
}
END_TEST

/* Closing, truncating and rolling give the memory back at once. */
START_TEST(test_budget_given_back)
{
	FILE *a = open_in_dir(SIZE_MAX, 0), *b = open_in_dir(SIZE_MAX, 0);
	size_t before;

	ck_assert_int_eq(put(a, 0, 2 * MiB, 4096), 0);
	ck_assert_int_eq(put(b, 0, 64 * KiB, 4096), 0);
	before = spool_budget_used();
	ck_assert_int_eq(spool_truncate(a, 10), 0);
	ck_assert_uint_lt(stat_of(a).mem_bytes, 64 * KiB);
	ck_assert_uint_eq(stat_of(a).mem_peak >= 2 * MiB, 1);
	ck_assert_uint_lt(spool_budget_used(), before - 1 * MiB);
	ck_assert_int_eq(spool_truncate(a, 0), 0);
	ck_assert_uint_eq(stat_of(a).mem_bytes, 0);
	ck_assert_int_eq(spool_rollover(b), 0);
	ck_assert_uint_eq(stat_of(b).mem_bytes, 0);
	ck_assert_uint_eq(spool_budget_used(), 0);
	ck_assert_int_eq(fclose(a), 0);
	ck_assert_int_eq(fclose(b), 0);
}
END_TEST

/* A view whose joining copy would pass the budget maps the file. */
START_TEST(test_budget_view_rolls_instead_of_joining)
{
	FILE *fp = open_in_dir(SIZE_MAX, 0);
	const unsigned char *p;
	const void *data;
	size_t len, held;

	ck_assert_int_eq(put(fp, 0, 1 * MiB, 4096), 0);
	held = stat_of(fp).mem_bytes;
	spool_set_budget(held + 1000);
	ck_assert_int_eq(spool_view(fp, &data, &len), 0);
	ck_assert_int_eq(spool_is_rolled(fp), 1);
	ck_assert_uint_eq(len, 1 * MiB);
	p = data;
	for (size_t i = 0; i < len; i += 4093)
		ck_assert_uint_eq(p[i], pat(i));
	ck_assert_int_eq(spool_unview(fp), 0);
	ck_assert_int_eq(fclose(fp), 0);
}
END_TEST

/* A view's pinned block stays counted until spool_unview(). */
START_TEST(test_budget_counts_a_pinned_block)
{
	FILE *fp = open_in_dir(SIZE_MAX, 0);
	const void *data;
	size_t len, pinned;

	ck_assert_int_eq(put(fp, 0, 10 * KiB, 4096), 0);
	ck_assert_int_eq(spool_view(fp, &data, &len), 0);
	pinned = stat_of(fp).mem_bytes;
	ck_assert_int_eq(spool_rollover(fp), 0);
	ck_assert_uint_eq(stat_of(fp).mem_bytes, pinned);
	ck_assert_uint_eq(spool_budget_used(), pinned);
	ck_assert_int_eq(spool_unview(fp), 0);
	ck_assert_uint_eq(stat_of(fp).mem_bytes, 0);
	ck_assert_int_eq(fclose(fp), 0);
}
END_TEST

/*
 * Many threads, many spools: random sizes, random closes. A watcher
 * samples the total all along: never past the budget. Every spool holds
 * exactly what was written to it.
 */
#define T_WORKERS 4
#define T_BUDGET (3 * MiB)

static atomic_int t_stop;
static size_t t_peak;

static void *watch(void *arg)
{
	(void)arg;
	while (!t_stop) {
		size_t u = spool_budget_used();

		if (u > t_peak)
			t_peak = u;
	}
	return NULL;
}

static void *work(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	/* Under valgrind, which runs one thread at a time 50 times slower,
	 * a tenth: the budget is still passed at every round. */
	int rounds = tu_under_valgrind() ? 4 : 40;
	long bad = 0;

	for (int round = 0; round < rounds; round++) {
		FILE *fp[4];
		size_t n[4];

		for (int k = 0; k < 4; k++) {
			n[k] = (size_t)rand_r(&seed) % (1536 * KiB);
			fp[k] = spool_fopen_opts(
			    &(struct spool_options){.threshold = 2 * MiB,
						    .dir = dir},
			    "w+");
			if (fp[k] == NULL ||
			    put(fp[k], 0, n[k], 1 + rand_r(&seed) % 8192) < 0)
				bad++;
		}
		for (int k = 0; k < 4; k++) {
			bad += fp[k] != NULL && !holds_pat(fp[k], n[k]);
			if (fp[k] != NULL && fclose(fp[k]) != 0)
				bad++;
		}
	}
	return (void *)bad;
}

START_TEST(test_budget_threads)
{
	pthread_t w[T_WORKERS], watcher;
	void *bad;

	spool_set_budget(T_BUDGET);
	t_stop = 0;
	t_peak = 0;
	ck_assert_int_eq(pthread_create(&watcher, NULL, watch, NULL), 0);
	for (uintptr_t i = 0; i < T_WORKERS; i++)
		ck_assert_int_eq(
		    pthread_create(&w[i], NULL, work, (void *)(i + 1)), 0);
	for (int i = 0; i < T_WORKERS; i++) {
		ck_assert_int_eq(pthread_join(w[i], &bad), 0);
		ck_assert_ptr_null(bad);
	}
	t_stop = 1;
	ck_assert_int_eq(pthread_join(watcher, NULL), 0);
	ck_assert_uint_le(t_peak, T_BUDGET);
	ck_assert_uint_gt(t_peak, 0);
	printf("budget threads: peak %zu of %zu bytes\n", t_peak,
	       (size_t)T_BUDGET);
}
END_TEST

/* ---- spool_stat ---- */

START_TEST(test_stat_in_memory)
{
	FILE *fp = open_in_dir(SIZE_MAX, 0);
	struct spool_stat st;

	st = stat_of(fp);
	ck_assert_int_eq(st.size, 0);
	ck_assert_uint_eq(st.mem_bytes, 0);
	ck_assert_int_eq(st.rolled, 0);
	ck_assert_int_eq(st.last_error, 0);
	ck_assert_uint_eq(st.rollover_failures, 0);
	ck_assert_int_eq(st.tmp_in_memory, 0);
	/* Unflushed output counts: spool_stat() flushes it. */
	ck_assert_int_eq(fputs("hello", fp) >= 0, 1);
	st = stat_of(fp);
	ck_assert_int_eq(st.size, 5);
	ck_assert_uint_ge(st.mem_bytes, 5);
	ck_assert_uint_ge(st.mem_peak, st.mem_bytes);
	ck_assert_int_eq(fclose(fp), 0);
}
END_TEST

/* On disk: no memory held, the peak kept, tmp_in_memory as the temp
 * file's file system says. */
START_TEST(test_stat_rolled)
{
	FILE *fp = open_in_dir(64 * KiB, 0);
	struct statfs fs;
	struct spool_stat st;

	ck_assert_int_eq(put(fp, 0, 64 * KiB, 4096), 0);
	st = stat_of(fp);
	ck_assert_int_eq(st.rolled, 0);
	ck_assert_uint_ge(st.mem_peak, 64 * KiB);
	ck_assert_int_eq(put(fp, 64 * KiB, 1, 1), 0);
	st = stat_of(fp);
	ck_assert_int_eq(st.rolled, 1);
	ck_assert_int_eq(st.size, 64 * KiB + 1);
	ck_assert_uint_eq(st.mem_bytes, 0);
	ck_assert_uint_ge(st.mem_peak, 64 * KiB);
	ck_assert_int_eq(statfs(dir, &fs), 0);
	ck_assert_int_eq(st.tmp_in_memory, fs.f_type == TMPFS_MAGIC);
	ck_assert_int_eq(st.last_error, 0);
	ck_assert_int_eq(fclose(fp), 0);
}
END_TEST

static char *mnt;

static int stat_on_tmpfs(void *arg)
{
	struct spool_options o = {.threshold = 0, .dir = mnt};
	struct spool_stat st;
	FILE *fp;

	(void)arg;
	TU_REQUIRE(tu_private_tmpfs(mnt, 1 * MiB) == 0);
	TU_REQUIRE((fp = spool_fopen_opts(&o, "w+")) != NULL);
	TU_REQUIRE(spool_stat(fp, &st) == 0 && st.tmp_in_memory == 0);
	TU_REQUIRE(fputs("x", fp) >= 0);
	TU_REQUIRE(spool_stat(fp, &st) == 0);
	TU_REQUIRE(st.rolled == 1 && st.tmp_in_memory == 1);
	TU_REQUIRE(fclose(fp) == 0);
	return 0;
}

/* Run fn in a child that mounts a private tmpfs on mnt, a directory
 * made for it under dir and gone afterwards. */
static void in_child_on_mnt(int (*fn)(void *))
{
	ck_assert_int_ne(asprintf(&mnt, "%s/mnt", dir), -1);
	ck_assert_int_eq(mkdir(mnt, 0700), 0);
	tu_in_child(fn, NULL);
	ck_assert_int_eq(rmdir(mnt), 0);
	free(mnt);
}

START_TEST(test_stat_tmp_in_memory_on_tmpfs)
{
	in_child_on_mnt(stat_on_tmpfs);
}
END_TEST

/* Failed rollovers are counted, with their errno; the spool keeps its
 * contents in memory and says so through the stream too. */
START_TEST(test_stat_failed_rollover)
{
	char *gone;
	struct spool_options o = {.threshold = 16};
	struct spool_stat st;
	FILE *fp;

	ck_assert_int_ne(asprintf(&gone, "%s/gone", dir), -1);
	o.dir = gone;
	fp = spool_fopen_opts(&o, "w+");
	ck_assert_ptr_nonnull(fp);
	ck_assert_int_eq(put(fp, 0, 16, 16), 0);
	errno = 0;
	ck_assert_int_eq(spool_rollover(fp), -1);
	ck_assert_int_eq(errno, ENOENT);
	st = stat_of(fp);
	ck_assert_uint_eq(st.rollover_failures, 1);
	ck_assert_int_eq(st.last_error, ENOENT);
	ck_assert_int_eq(st.rolled, 0);
	/* The threshold's rollover fails the same way, through stdio. */
	ck_assert_int_eq(put(fp, 16, 1, 1), -1);
	ck_assert_int_ne(ferror(fp), 0);
	st = stat_of(fp);
	ck_assert_uint_eq(st.rollover_failures, 2);
	ck_assert_int_eq(st.last_error, ENOENT);
	ck_assert_int_eq(st.size, 16);
	ck_assert(holds_pat(fp, 16));
	fclose(fp);
	free(gone);
}
END_TEST

START_TEST(test_stat_einval)
{
	struct spool_stat st;
	FILE *fp = open_in_dir(16, 0);

	errno = 0;
	ck_assert_int_eq(spool_stat(NULL, &st), -1);
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_int_eq(spool_stat(stdin, &st), -1);
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_int_eq(spool_stat(fp, NULL), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(fclose(fp), 0);
}
END_TEST

/* A failure of a public function on the spool is its last_error. */
START_TEST(test_stat_last_error_of_a_call)
{
	FILE *fp = open_in_dir(16, 0);

	ck_assert_int_eq(spool_truncate(fp, -1), -1);
	ck_assert_int_eq(stat_of(fp).last_error, EINVAL);
	ck_assert_int_eq(fclose(fp), 0);
}
END_TEST

/* ---- on_rollover ---- */

struct hook_log {
	int calls;
	FILE *fp;
	pthread_t thread;
	struct spool_stat st;
	int stat_rc;
	int lock_free; /* another thread could take fp's lock */
};

static void *try_lock(void *fp)
{
	if (ftrylockfile(fp) != 0)
		return NULL;
	funlockfile(fp);
	return fp;
}

static void hook(FILE *fp, void *arg)
{
	struct hook_log *h = arg;
	pthread_t t;
	void *got = NULL;

	h->calls++;
	h->fp = fp;
	h->thread = pthread_self();
	h->stat_rc = spool_stat(fp, &h->st);
	if (pthread_create(&t, NULL, try_lock, fp) == 0)
		pthread_join(t, &got);
	h->lock_free = got != NULL;
}

enum { BY_THRESHOLD, BY_EXPLICIT, BY_BUDGET, BY_FILENO, BY_TRUNCATE, BY_KINDS };

/* Once per rollover, whatever caused it; on the causing thread, fp's
 * lock held, spool_stat() usable and already saying "on disk". */
START_TEST(test_hook_once_per_rollover)
{
	struct hook_log h = {0};
	struct spool_options o = {.threshold = 4 * KiB,
				  .dir = dir,
				  .on_rollover = hook,
				  .on_rollover_arg = &h};
	FILE *fp = spool_fopen_opts(&o, "w+");

	ck_assert_ptr_nonnull(fp);
	ck_assert_int_eq(put(fp, 0, 1000, 100), 0);
	ck_assert_int_eq(h.calls, 0);
	switch (_i) {
	case BY_THRESHOLD:
		ck_assert_int_eq(put(fp, 1000, 8 * KiB, 100), 0);
		break;
	case BY_EXPLICIT:
		ck_assert_int_eq(spool_rollover(fp), 0);
		break;
	case BY_BUDGET:
		spool_set_budget(1024);
		ck_assert_int_eq(put(fp, 1000, 1000, 100), 0);
		break;
	case BY_FILENO:
		ck_assert_int_ge(spool_fileno(fp), 0);
		break;
	case BY_TRUNCATE:
		ck_assert_int_eq(spool_truncate(fp, 5 * KiB), 0);
		break;
	}
	ck_assert_int_eq(spool_is_rolled(fp), 1);
	ck_assert_int_eq(h.calls, 1);
	ck_assert_ptr_eq(h.fp, fp);
	ck_assert(pthread_equal(h.thread, pthread_self()));
	ck_assert_int_eq(h.stat_rc, 0);
	ck_assert_int_eq(h.st.rolled, 1);
	ck_assert_uint_eq(h.st.mem_bytes, 0);
	ck_assert_int_ge(h.st.size, 1000);
	ck_assert_int_eq(h.lock_free, 0);
	/* Already on disk: no more calls. */
	ck_assert_int_eq(spool_rollover(fp), 0);
	ck_assert_int_eq(put(fp, 0, 20 * KiB, 4096), 0);
	ck_assert_int_eq(h.calls, 1);
	ck_assert_int_eq(fclose(fp), 0);
}
END_TEST

/* No call for a failed rollover, nor for a spool that opens on disk. */
START_TEST(test_hook_not_called)
{
	struct hook_log h = {0};
	char big[100] = {0};
	char *gone;
	struct spool_options o = {.threshold = 10,
				  .data = big,
				  .data_len = sizeof(big),
				  .dir = dir,
				  .on_rollover = hook,
				  .on_rollover_arg = &h};
	FILE *fp = spool_fopen_opts(&o, "r+");

	ck_assert_ptr_nonnull(fp);
	ck_assert_int_eq(spool_is_rolled(fp), 1);
	ck_assert_int_eq(fclose(fp), 0);
	ck_assert_int_eq(h.calls, 0);
	ck_assert_int_ne(asprintf(&gone, "%s/gone", dir), -1);
	o.dir = gone;
	o.data = NULL;
	o.data_len = 0;
	fp = spool_fopen_opts(&o, "w+");
	ck_assert_ptr_nonnull(fp);
	ck_assert_int_eq(put(fp, 0, 5, 5), 0);
	ck_assert_int_eq(spool_rollover(fp), -1);
	ck_assert_int_eq(h.calls, 0);
	fclose(fp);
	free(gone);
}
END_TEST

/* ---- SPOOL_SECRET, from outside ---- */

/* A secret spool is a spool: the same contents through every path. */
START_TEST(test_secret_behaves)
{
	FILE *fp = open_in_dir(_i == 0 ? SIZE_MAX : 100 * KiB, SPOOL_SECRET);
	unsigned char buf[5000];

	ck_assert_int_eq(put(fp, 0, 300 * KiB, 1 + 977 * _i), 0);
	ck_assert(holds_pat(fp, 300 * KiB));
	ck_assert_int_eq(spool_is_rolled(fp), _i != 0);
	ck_assert_int_eq(fseek(fp, 1234, SEEK_SET), 0);
	ck_assert_uint_eq(fread(buf, 1, sizeof(buf), fp), sizeof(buf));
	for (size_t i = 0; i < sizeof(buf); i++)
		ck_assert_uint_eq(buf[i], pat(1234 + i));
	ck_assert_int_eq(spool_truncate(fp, 1000), 0);
	ck_assert(holds_pat(fp, 1000));
	ck_assert_int_eq(fclose(fp), 0);
}
END_TEST

/* The VmFlags of the mapping holding p in /proc/self/smaps. */
static int vm_flags(const void *p, char *flags, size_t len)
{
	FILE *f = fopen("/proc/self/smaps", "re");
	char line[512];
	int in = 0;
	uintptr_t lo, hi, a = (uintptr_t)p;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " ", &lo, &hi) == 2 &&
		    strchr(line, '-') < strchr(line, ' '))
			in = a >= lo && a < hi;
		else if (in && strncmp(line, "VmFlags:", 8) == 0) {
			snprintf(flags, len, "%s", line + 8);
			fclose(f);
			return 0;
		}
	}
	fclose(f);
	return -1;
}

/* Does mlock() lock a page of ours here? Not past RLIMIT_MEMLOCK, and
 * not under ASan or TSan, whose mlock() does nothing. */
static int can_lock(void)
{
	long pg = sysconf(_SC_PAGESIZE);
	void *p = mmap(NULL, (size_t)pg, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char flags[512] = "";
	int ok;

	ck_assert_ptr_ne(p, MAP_FAILED);
	ok = mlock(p, (size_t)pg) == 0 &&
	     vm_flags(p, flags, sizeof(flags)) == 0 &&
	     strstr(flags, " lo") != NULL;
	munmap(p, (size_t)pg);
	return ok;
}

/* The image is kept out of core dumps, and locked in RAM when the
 * process may lock it (root may; others up to RLIMIT_MEMLOCK). */
START_TEST(test_secret_memory_dontdump_and_locked)
{
	FILE *fp = open_in_dir(SIZE_MAX, SPOOL_SECRET);
	struct rlimit rl;
	const void *data;
	size_t len;
	char flags[512];

	ck_assert_int_eq(put(fp, 0, 8 * KiB, 4096), 0);
	ck_assert_int_eq(spool_view(fp, &data, &len), 0);
	ck_assert_int_eq(vm_flags(data, flags, sizeof(flags)), 0);
	ck_assert_msg(strstr(flags, " dd") != NULL, "VmFlags:%s", flags);
	ck_assert_int_eq(getrlimit(RLIMIT_MEMLOCK, &rl), 0);
	if (can_lock())
		ck_assert_msg(strstr(flags, " lo") != NULL, "VmFlags:%s",
			      flags);
	else
		printf("secret: not checking the lock: mlock() locks nothing "
		       "here (RLIMIT_MEMLOCK %ju, or a sanitizer's no-op)\n",
		       (uintmax_t)rl.rlim_cur);
	ck_assert_int_eq(spool_unview(fp), 0);
	ck_assert_int_eq(fclose(fp), 0);
}
END_TEST

/* A plain spool's image is not marked (the flag is what does it). */
START_TEST(test_plain_memory_not_marked)
{
	FILE *fp = open_in_dir(SIZE_MAX, 0);
	const void *data;
	size_t len;
	char flags[512];

	ck_assert_int_eq(put(fp, 0, 1 * MiB, 4096), 0);
	ck_assert_int_eq(spool_view(fp, &data, &len), 0);
	ck_assert_int_eq(vm_flags(data, flags, sizeof(flags)), 0);
	ck_assert_msg(strstr(flags, " dd") == NULL, "VmFlags:%s", flags);
	ck_assert_int_eq(spool_unview(fp), 0);
	ck_assert_int_eq(fclose(fp), 0);
}
END_TEST

/* The temp file, read through a duplicated descriptor after fclose():
 * zeros all through, the size unchanged. */
START_TEST(test_secret_temp_file_zeroed_at_close)
{
	FILE *fp = open_in_dir(_i == 0 ? 0 : 64 * KiB, SPOOL_SECRET);
	unsigned char buf[4096];
	struct stat st;
	off_t at;
	int fd;

	ck_assert_int_eq(put(fp, 0, 300 * KiB, 3000), 0);
	fd = dup(spool_fileno(fp));
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fclose(fp), 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_eq(st.st_size, 300 * KiB);
	for (at = 0; at < st.st_size; at += sizeof(buf)) {
		ck_assert_int_eq(pread(fd, buf, sizeof(buf), at), sizeof(buf));
		for (size_t i = 0; i < sizeof(buf); i++)
			ck_assert_uint_eq(buf[i], 0);
	}
	close(fd);
}
END_TEST

/* The same file, not secret, keeps its bytes: the test above can fail. */
START_TEST(test_plain_temp_file_kept_at_close)
{
	FILE *fp = open_in_dir(0, 0);
	unsigned char c;
	int fd;

	ck_assert_int_eq(put(fp, 0, 10 * KiB, 3000), 0);
	fd = dup(spool_fileno(fp));
	ck_assert_int_eq(fclose(fp), 0);
	ck_assert_int_eq(pread(fd, &c, 1, 5), 1);
	ck_assert_uint_eq(c, pat(5));
	close(fd);
}
END_TEST

START_TEST(test_secret_persist_eperm)
{
	FILE *fp = open_in_dir(_i == 0 ? SIZE_MAX : 0, SPOOL_SECRET);
	char *path;

	ck_assert_int_ne(asprintf(&path, "%s/named", dir), -1);
	ck_assert_int_eq(put(fp, 0, 100, 100), 0);
	errno = 0;
	ck_assert_int_eq(spool_persist(fp, path, 0), -1);
	ck_assert_int_eq(errno, EPERM);
	ck_assert_int_eq(access(path, F_OK), -1);
	ck_assert_int_eq(fclose(fp), 0);
	free(path);
}
END_TEST

/* ---- a budget rollover that fails on a full disk ---- */

static int budget_full(void *arg)
{
	struct spool_options o = {.threshold = SIZE_MAX};
	struct spool_stat st;
	char filler[PATH_MAX], junk[4096];
	size_t n;
	FILE *fp;
	int fd;

	(void)arg;
	TU_REQUIRE(tu_private_tmpfs(mnt, 1 * MiB) == 0);
	snprintf(filler, sizeof(filler), "%s/filler", mnt);
	TU_REQUIRE((fd = open(filler, O_WRONLY | O_CREAT | O_CLOEXEC, 0600)) >=
		   0);
	memset(junk, 'f', sizeof(junk));
	while (write(fd, junk, sizeof(junk)) > 0)
		;
	o.dir = mnt;
	spool_set_budget(64 * KiB);
	TU_REQUIRE((fp = spool_fopen_opts(&o, "w+")) != NULL);
	TU_REQUIRE(put(fp, 0, 60 * KiB, 4096) == 0);
	/* Past the budget: the rollover meets the full disk. */
	errno = 0;
	TU_REQUIRE(put(fp, 60 * KiB, 10 * KiB, 4096) == -1);
	TU_REQUIRE(errno == ENOSPC && ferror(fp));
	TU_REQUIRE(spool_stat(fp, &st) == 0);
	TU_REQUIRE(st.rolled == 0 && st.rollover_failures >= 1);
	TU_REQUIRE(st.last_error == ENOSPC);
	TU_REQUIRE(spool_budget_used() <= 64 * KiB);
	/* Nothing kept was lost: all that was stored is there. */
	n = (size_t)st.size;
	TU_REQUIRE(n >= 60 * KiB && holds_pat(fp, n));
	/* Room again: the next write moves it, losslessly. */
	close(fd);
	TU_REQUIRE(unlink(filler) == 0);
	clearerr(fp);
	TU_REQUIRE(fseek(fp, 0, SEEK_END) == 0);
	TU_REQUIRE(put(fp, n, 10 * KiB, 4096) == 0);
	TU_REQUIRE(spool_is_rolled(fp) == 1);
	TU_REQUIRE(holds_pat(fp, n + 10 * KiB));
	TU_REQUIRE(fclose(fp) == 0);
	spool_set_budget(0);
	return 0;
}

START_TEST(test_budget_rollover_on_full_disk)
{
	in_child_on_mnt(budget_full);
}
END_TEST

static TCase *tcase(const char *name)
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	return tc;
}

static Suite *server_suite(void)
{
	Suite *s = suite_create("server");
	TCase *tc = tcase("budget");
	char why[256];

	tcase_add_test(tc, test_budget_used_is_the_sum);
	tcase_add_test(tc, test_budget_rolls_the_writer);
	tcase_add_test(tc, test_budget_grows_exactly_before_rolling);
	tcase_add_test(tc, test_budget_lowered_takes_effect_at_next_write);
	tcase_add_test(tc, test_budget_given_back);
	tcase_add_test(tc, test_budget_view_rolls_instead_of_joining);
	tcase_add_test(tc, test_budget_counts_a_pinned_block);
	tcase_add_test(tc, test_budget_threads);
	suite_add_tcase(s, tc);

	tc = tcase("stat");
	tcase_add_test(tc, test_stat_in_memory);
	tcase_add_test(tc, test_stat_rolled);
	tcase_add_test(tc, test_stat_failed_rollover);
	tcase_add_test(tc, test_stat_einval);
	tcase_add_test(tc, test_stat_last_error_of_a_call);
	suite_add_tcase(s, tc);

	tc = tcase("hook");
	tcase_add_loop_test(tc, test_hook_once_per_rollover, 0, BY_KINDS);
	tcase_add_test(tc, test_hook_not_called);
	suite_add_tcase(s, tc);

	tc = tcase("secret");
	tcase_add_loop_test(tc, test_secret_behaves, 0, 3);
	tcase_add_test(tc, test_secret_memory_dontdump_and_locked);
	tcase_add_test(tc, test_plain_memory_not_marked);
	tcase_add_loop_test(tc, test_secret_temp_file_zeroed_at_close, 0, 2);
	tcase_add_test(tc, test_plain_temp_file_kept_at_close);
	tcase_add_loop_test(tc, test_secret_persist_eperm, 0, 2);
	suite_add_tcase(s, tc);

	if (tu_have_private_tmpfs(why, sizeof(why))) {
		tc = tcase("mounts");
		tcase_add_test(tc, test_stat_tmp_in_memory_on_tmpfs);
		tcase_add_test(tc, test_budget_rollover_on_full_disk);
		suite_add_tcase(s, tc);
	} else {
		printf("SKIP: 2 tests on private tmpfs mounts (tmp_in_memory, "
		       "a budget rollover on a full disk): %s\n",
		       why);
	}
	return s;
}

int main(void)
{
	return tu_run(server_suite());
}
