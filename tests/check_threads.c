/* SPDX-License-Identifier: MIT */
/*
 * check_threads.c - spools under threads: each thread with its own
 * spools, several threads writing one spool while others query and
 * roll it, and the public functions refusing foreign streams from many
 * threads at once.
 *
 * Threads report failures by returning a message; only the main thread
 * calls ck_assert (Check's asserts are not made for other threads).
 */
#include "config.h"

#include "testutil.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

/* A failed condition inside a thread: return where and what. */
#define STR2(x) #x
#define STR(x) STR2(x)
#define T_REQUIRE(cond)                                                        \
	do {                                                                   \
		if (!(cond))                                                   \
			return (void *)(__FILE__                               \
					":" STR(__LINE__) ": " #cond);         \
	} while (0)

static char *dir; /* private temp directory, empty at teardown */

static void setup(void)
{
	dir = tu_mkdtemp();
}

static void teardown(void)
{
	tu_rmdir(dir);
}

/* Start n threads running fn(&args[i]) and assert that all succeed. */
static void run_threads(int n, void *(*fn)(void *), void *args, size_t size)
{
	pthread_t *t = calloc((size_t)n, sizeof(*t));
	void *msg;
	int i;

	ck_assert_ptr_nonnull(t);
	for (i = 0; i < n; i++)
		ck_assert_int_eq(
		    pthread_create(&t[i], NULL, fn,
				   (char *)args + (size_t)i * size),
		    0);
	for (i = 0; i < n; i++) {
		ck_assert_int_eq(pthread_join(t[i], &msg), 0);
		ck_assert_msg(msg == NULL, "thread %d: %s", i, (char *)msg);
	}
	free(t);
}

/* ---- every thread its own spools ---- */

#define OWN_THREADS 8
#define OWN_SPOOLS 4   /* opened and closed one after another */
#define OWN_LINES 2000 /* ~60 KB per spool, well past the threshold */

struct own {
	int id;
};

/* One spool: lines out through fprintf, across the rollover, and back
 * in through fgets, each line checked. */
static void *own_one(int id, int round)
{
	struct spool_options o = {.threshold = 4096, .dir = dir};
	FILE *fp = spool_fopen_opts(&o, "w+");
	char line[128];
	int i, t, r, n;

	T_REQUIRE(fp != NULL);
	for (i = 0; i < OWN_LINES; i++)
		T_REQUIRE(fprintf(fp, "thread %d round %d line %d %0*d\n", id,
				  round, i, i % 17, 0) > 0);
	T_REQUIRE(fflush(fp) == 0);
	T_REQUIRE(spool_is_rolled(fp) == 1);
	rewind(fp);
	for (i = 0; i < OWN_LINES; i++) {
		T_REQUIRE(fgets(line, sizeof(line), fp) != NULL);
		T_REQUIRE(sscanf(line, "thread %d round %d line %d", &t, &r,
				 &n) == 3);
		T_REQUIRE(t == id && r == round && n == i);
		T_REQUIRE(line[strlen(line) - 1] == '\n');
	}
	T_REQUIRE(fgets(line, sizeof(line), fp) == NULL && feof(fp));
	T_REQUIRE(fclose(fp) == 0);
	return NULL;
}

static void *own_thread(void *arg)
{
	struct own *a = arg;
	void *msg;

	for (int round = 0; round < OWN_SPOOLS; round++) {
		msg = own_one(a->id, round);
		if (msg != NULL)
			return msg;
	}
	return NULL;
}

START_TEST(test_threads_own_spools)
{
	struct own args[OWN_THREADS];

	for (int i = 0; i < OWN_THREADS; i++)
		args[i].id = i;
	run_threads(OWN_THREADS, own_thread, args, sizeof(args[0]));
	ck_assert_int_eq(tu_count_entries(dir), 0);
}
END_TEST

/* ---- one spool, many writers and queriers ---- */

#define WRITERS 4
#define RECORDS 500 /* per writer: 20 MB in all */
/* Longer than stdio's 8 KiB buffer and no multiple of it: every fwrite
 * hands the spool part of a record, then the rest. Only the FILE lock,
 * held for the whole fwrite, keeps a query from seeing half a record. */
#define RECLEN 10000
#define QUERIERS 3

struct shared {
	FILE *fp;
	atomic_int done; /* writers finished: queriers stop */
	int roll;	 /* queriers also call spool_rollover/fileno */
	int writer;	 /* writes records, else queries */
	int id;		 /* among the writers, or among the queriers */
};

/* Record `seq` of writer `w`: a header naming both, then filler bytes
 * that depend on both, then '\n'. Any torn or mixed record shows. */
static void make_record(char *rec, int w, int seq)
{
	int n = snprintf(rec, RECLEN, "w%d s%07d ", w, seq);

	for (int i = n; i < RECLEN - 1; i++)
		rec[i] = (char)('a' + (w * 7 + seq + i) % 26);
	rec[RECLEN - 1] = '\n';
}

static void *writer_thread(void *arg)
{
	struct shared *a = arg;
	char rec[RECLEN];

	for (int seq = 0; seq < RECORDS; seq++) {
		make_record(rec, a->id, seq);
		T_REQUIRE(fwrite(rec, RECLEN, 1, a->fp) == 1);
	}
	return NULL;
}

/*
 * Query while the writers run. fwrite holds the FILE lock for a whole
 * record and every query takes it, so a query sees whole records only:
 * the size is a multiple of RECLEN, it never shrinks, a rolled spool
 * never goes back, and the descriptor never changes once it exists.
 */
static void *query_thread(void *arg)
{
	struct shared *a = arg;
	off_t size, last = 0;
	int rolled, was_rolled = 0, fd, last_fd = -1;

	/* The yield: under valgrind, which runs one thread at a time, a
	 * spinning querier would otherwise starve the writers. */
	for (unsigned n = 1; !atomic_load(&a->done); n++) {
		if (n % 64 == 0)
			sched_yield();
		size = spool_size(a->fp);
		T_REQUIRE(size >= last && size % RECLEN == 0);
		last = size;
		rolled = spool_is_rolled(a->fp);
		T_REQUIRE(rolled == 0 || rolled == 1);
		T_REQUIRE(rolled >= was_rolled);
		was_rolled = rolled;
		if (!a->roll || a->id != 0 || size < 16 * RECLEN)
			continue;
		T_REQUIRE(spool_rollover(a->fp) == 0);
		fd = spool_fileno(a->fp);
		T_REQUIRE(fd >= 0 && (last_fd < 0 || fd == last_fd));
		last_fd = fd;
	}
	return NULL;
}

static void *shared_thread(void *arg)
{
	struct shared *a = arg;

	return a->writer ? writer_thread(arg) : query_thread(arg);
}

/*
 * Every record of every writer is there once, whole, in its writer's
 * order; the records of different writers may interleave. Plain C in
 * the loop: a Check assert per record is slow (each one is logged).
 */
static void check_records(FILE *fp)
{
	int next[WRITERS] = {0}, w = 0, seq = 0, i;
	char rec[RECLEN + 1] = "", want[RECLEN]; /* + 1: sscanf needs a NUL */

	rewind(fp);
	for (i = 0; i < WRITERS * RECORDS; i++) {
		if (fread(rec, RECLEN, 1, fp) != 1 ||
		    sscanf(rec, "w%d s%d ", &w, &seq) != 2 || w < 0 ||
		    w >= WRITERS || seq != next[w])
			break;
		make_record(want, w, seq);
		if (memcmp(rec, want, RECLEN) != 0)
			break;
		next[w]++;
	}
	ck_assert_msg(i == WRITERS * RECORDS, "record %d is wrong: %.40s", i,
		      rec);
	ck_assert_int_eq(getc(fp), EOF);
	for (w = 0; w < WRITERS; w++)
		ck_assert_int_eq(next[w], RECORDS);
}

/* Even _i: the writes cross the threshold; odd: a querier rolls it.
 * Each twice, as a race shows only now and then. */
START_TEST(test_threads_shared_spool_records)
{
	struct spool_options o = {.threshold = 256 * 1024, .dir = dir};
	struct shared args[WRITERS + QUERIERS];
	FILE *fp = spool_fopen_opts(&o, "w+");
	pthread_t t[WRITERS + QUERIERS];
	void *msg;
	int i;

	ck_assert_ptr_nonnull(fp);
	for (i = 0; i < WRITERS + QUERIERS; i++) {
		args[i].fp = fp;
		args[i].writer = i < WRITERS;
		args[i].id = i < WRITERS ? i : i - WRITERS;
		args[i].roll = _i % 2;
		atomic_init(&args[i].done, 0);
	}
	for (i = 0; i < WRITERS + QUERIERS; i++)
		ck_assert_int_eq(
		    pthread_create(&t[i], NULL, shared_thread, &args[i]), 0);
	for (i = 0; i < WRITERS + QUERIERS; i++) {
		if (i == WRITERS) /* writers joined: stop the queriers */
			for (int q = WRITERS; q < WRITERS + QUERIERS; q++)
				atomic_store(&args[q].done, 1);
		ck_assert_int_eq(pthread_join(t[i], &msg), 0);
		ck_assert_msg(msg == NULL, "thread %d: %s", i, (char *)msg);
	}
	ck_assert_int_eq(spool_size(fp), (off_t)WRITERS * RECORDS * RECLEN);
	ck_assert_int_eq(spool_is_rolled(fp), 1);
	check_records(fp);
	ck_assert_int_eq(fclose(fp), 0);
	ck_assert_int_eq(tu_count_entries(dir), 0);
}
END_TEST

/* ---- glibc's tst-memstream, on a spool ---- */

#define PUTCS 1000000

struct putter {
	FILE *fp;
	int c;
};

static void *putc_thread(void *arg)
{
	struct putter *a = arg;

	for (int i = 0; i < PUTCS; i++)
		T_REQUIRE(fputc(a->c, a->fp) == a->c);
	return NULL;
}

/* Two threads fputc a million 'A's and a million 'B's into one spool
 * that rolls over on the way: every byte arrives exactly once. */
START_TEST(test_threads_two_million_fputc)
{
	struct spool_options o = {.threshold = 4096, .dir = dir};
	struct putter args[2];
	size_t count[256] = {0}, n, i;
	unsigned char buf[8192];
	FILE *fp = spool_fopen_opts(&o, "w+");

	ck_assert_ptr_nonnull(fp);
	args[0] = (struct putter){fp, 'A'};
	args[1] = (struct putter){fp, 'B'};
	run_threads(2, putc_thread, args, sizeof(args[0]));
	ck_assert_int_eq(spool_size(fp), 2 * PUTCS);
	ck_assert_int_eq(spool_is_rolled(fp), 1);
	rewind(fp);
	while ((n = fread(buf, 1, sizeof(buf), fp)) > 0)
		for (i = 0; i < n; i++)
			count[buf[i]]++;
	ck_assert_uint_eq(count['A'], PUTCS);
	ck_assert_uint_eq(count['B'], PUTCS);
	ck_assert_uint_eq(count['A'] + count['B'], 2 * PUTCS);
	ck_assert_int_eq(fclose(fp), 0);
}
END_TEST

#ifdef SPOOL_GLIBC_INTERNALS
#include <sys/single_threaded.h>

#define NEED_LOCK 128 /* glibc's _IO_FLAGS2_NEED_LOCK */

static void *nothing(void *arg)
{
	return arg;
}

static int marked(const FILE *fp)
{
	return (fp->_flags2 & NEED_LOCK) != 0;
}
#endif

/*
 * glibc skips putc's lock while the process has one thread, except on
 * streams marked as needing it, which fopencookie() marks. A spool
 * opened by a single-threaded process is unmarked like a tmpfile(); the
 * first thread marks it again (test_threads_two_million_fputc relies on
 * that), and spools opened afterwards stay marked. Under CK_FORK=no an
 * earlier test has made threads already: then every stream is marked.
 * On the portable path (lib/stdio-glibc.c) a spool keeps fopencookie()'s
 * mark, as fmemopen() does.
 */
START_TEST(test_threads_lock_mark)
{
#ifdef SPOOL_GLIBC_INTERNALS
	int single = __libc_single_threaded && tu_fast_path_expected();
	FILE *a = spool_fopen(0, "w+"), *f = tmpfile(), *b;
	pthread_t t;

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(marked(a), !single);
	ck_assert_int_eq(marked(a), marked(f) || !single);
	ck_assert_int_eq(pthread_create(&t, NULL, nothing, NULL), 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert(marked(a));
	ck_assert(marked(f));
	b = spool_fopen(0, "w+");
	ck_assert_ptr_nonnull(b);
	ck_assert(marked(b));
	ck_assert_int_eq(fputc('x', a), 'x');
	ck_assert_int_eq(spool_size(a), 1);
	ck_assert_int_eq(fclose(b), 0);
	ck_assert_int_eq(fclose(a), 0);
	ck_assert_int_eq(fclose(f), 0);
#else
	printf("skipped: lock mark: built without the glibc internals path, "
	       "the spool keeps fopencookie()'s locking\n");
#endif
}
END_TEST

/* ---- foreign streams, from many threads ---- */

#define FOREIGN_THREADS 6
#define FOREIGN_ROUNDS 200
#define LIVE 1000 /* spools kept open: most registry buckets in use */
#define ALIENS 32 /* fmemopen streams: real FILE*s, not spools */

struct foreign {
	FILE **aliens; /* ALIENS fmemopen streams, then a tmpfile(), stdin */
	int churn;     /* open and close spools instead of querying */
};

/* Every public function on fp: -1 with errno EINVAL, nothing else. */
static void *refuse_all(FILE *fp)
{
	errno = 0;
	T_REQUIRE(spool_size(fp) == -1 && errno == EINVAL);
	errno = 0;
	T_REQUIRE(spool_is_rolled(fp) == -1 && errno == EINVAL);
	errno = 0;
	T_REQUIRE(spool_rollover(fp) == -1 && errno == EINVAL);
	errno = 0;
	T_REQUIRE(spool_fileno(fp) == -1 && errno == EINVAL);
	errno = 0;
	T_REQUIRE(spool_truncate(fp, 0) == -1 && errno == EINVAL);
	return NULL;
}

/* Queriers ask about every foreign stream and NULL; churners keep the
 * registry of live spools changing underneath them. */
static void *foreign_thread(void *arg)
{
	struct foreign *a = arg;
	struct spool_options o = {.dir = dir};
	FILE *fp;
	void *msg;

	for (int i = 0; i < FOREIGN_ROUNDS; i++) {
		if (a->churn) {
			o.threshold = i % 2 ? 0 : 64; /* disk or memory */
			fp = spool_fopen_opts(&o, "w+");
			T_REQUIRE(fp != NULL && fputs("x", fp) >= 0);
			T_REQUIRE(spool_size(fp) == 1);
			T_REQUIRE(fclose(fp) == 0);
			continue;
		}
		for (int k = 0; k < ALIENS + 2; k++)
			if ((msg = refuse_all(a->aliens[k])) != NULL)
				return msg;
		if ((msg = refuse_all(NULL)) != NULL)
			return msg;
	}
	return NULL;
}

/*
 * The registry is full of live spools, so a lookup that matched on
 * the hash bucket alone would hand back some other spool; every
 * foreign stream must still be refused, and stay untouched.
 */
START_TEST(test_threads_foreign_streams_einval)
{
	static char mem[ALIENS][16];
	FILE *live[LIVE], *aliens[ALIENS + 2];
	struct foreign args[FOREIGN_THREADS];
	char got[8];
	int i;

	for (i = 0; i < LIVE; i++)
		ck_assert_ptr_nonnull(live[i] = spool_fopen(64, "w+"));
	for (i = 0; i < ALIENS; i++)
		ck_assert_ptr_nonnull(aliens[i] = fmemopen(mem[i], 16, "w+"));
	ck_assert_ptr_nonnull(aliens[ALIENS] = tmpfile());
	aliens[ALIENS + 1] = stdin;
	ck_assert_int_ge(fputs("abc", aliens[ALIENS]), 0);
	for (i = 0; i < FOREIGN_THREADS; i++) {
		args[i].aliens = aliens;
		args[i].churn = i % 3 == 0;
	}
	run_threads(FOREIGN_THREADS, foreign_thread, args, sizeof(args[0]));
	/* Refused means untouched: nothing flushed away, nothing cut. */
	ck_assert_int_eq(ftello(aliens[ALIENS]), 3);
	rewind(aliens[ALIENS]);
	ck_assert_uint_eq(fread(got, 1, sizeof(got), aliens[ALIENS]), 3);
	ck_assert_mem_eq(got, "abc", 3);
	for (i = 0; i < ALIENS + 1; i++)
		ck_assert_int_eq(fclose(aliens[i]), 0);
	for (i = 0; i < LIVE; i++) {
		ck_assert_int_eq(spool_size(live[i]), 0);
		ck_assert_int_eq(fclose(live[i]), 0);
	}
	ck_assert_int_eq(tu_count_entries(dir), 0);
}
END_TEST

/*
 * fork() while other threads open, query and close spools: the child
 * must be able to use libspool, and the spools it inherited, at once.
 * The registry's mutex, held by another thread at the moment of the
 * fork, used to stay locked in the child forever (7 of 6,000 children
 * hung in their first spool_fopen()). Each child has an alarm; a hang
 * is a child killed by SIGALRM.
 */
#define FORKS 500

static atomic_int fork_stop;

/* Bursts of queries, which take the registry's mutex for a moment each,
 * so that a fork often comes while it is held; opens and closes; and a
 * pause, without which the forking thread may wait long for the mutex
 * (glibc's mutexes are not fair: issue 15 takes queries off it). */
static atomic_int churn_bad;

/* No ck_assert here: Check takes a mutex of its own in every assertion,
 * which a child forked at that moment would inherit locked. */
static void *churn_thread(void *arg)
{
	int i, bad = 0;

	(void)arg;
	while (!atomic_load(&fork_stop) && !bad) {
		FILE *fp = spool_fopen(16, "w+");

		bad = fp == NULL ||
		      fputs("churn, past the threshold\n", fp) < 0 ||
		      fflush(fp) != 0;
		for (i = 0; i < 1000 && !bad; i++)
			bad = spool_is_rolled(fp) != 1 ||
			      spool_is_rolled(stdin) != -1;
		bad |= fp == NULL || spool_size(fp) != 26 || fclose(fp) != 0;
		usleep(50);
	}
	if (bad)
		atomic_store(&churn_bad, 1);
	return NULL;
}

/* The child: the inherited spool, then a new one; exit 0 if all work. */
static void child_uses_spools(FILE *inherited)
{
	FILE *fp;
	sigset_t alrm;

	/* Check's own SIGALRM handler would kill the whole process group,
	 * and the signal may be blocked here. */
	signal(SIGALRM, SIG_DFL);
	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	pthread_sigmask(SIG_UNBLOCK, &alrm, NULL);
	alarm(3);
	if (spool_size(inherited) != 5)
		_exit(2);
	fp = spool_fopen(4, "w+");
	if (fp == NULL || fputs("child", fp) < 0 || spool_size(fp) != 5 ||
	    spool_is_rolled(fp) != 1 || fclose(fp) != 0)
		_exit(3);
	_exit(0);
}

START_TEST(test_threads_fork_while_busy)
{
	pthread_t t[2];
	FILE *inherited;
	int i, status, hung = 0, failed = 0;
	pid_t pid;

	/* Each child is a valgrind too, which reports the memory of the
	 * threads the fork left behind as lost and exits 99. */
	if (tu_under_valgrind()) {
		printf("fork: skipped under valgrind: its children report the "
		       "forking threads' memory\n");
		return;
	}
	inherited = spool_fopen(64, "w+");
	ck_assert_ptr_nonnull(inherited);
	ck_assert_int_ge(fputs("mine!", inherited), 0);
	atomic_store(&fork_stop, 0);
	atomic_store(&churn_bad, 0);
	for (i = 0; i < 2; i++)
		ck_assert_int_eq(
		    pthread_create(&t[i], NULL, churn_thread, NULL), 0);
	for (i = 0; i < FORKS && hung < 3; i++) {
		pid = fork();
		if (pid == 0)
			child_uses_spools(inherited); /* no ck_assert first */
		ck_assert_int_ge(pid, 0);
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
			hung++;
		else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			failed++;
	}
	atomic_store(&fork_stop, 1);
	for (i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
	ck_assert_int_eq(fclose(inherited), 0);
	ck_assert_msg(!atomic_load(&churn_bad), "a churn thread failed");
	ck_assert_msg(hung == 0 && failed == 0,
		      "%d of %d children hung, %d failed", hung, i, failed);
	ck_assert_int_eq(tu_count_entries(dir), 0);
}
END_TEST

static TCase *tcase(Suite *s, const char *name)
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60); /* valgrind runs threads one at a time */
	suite_add_tcase(s, tc);
	return tc;
}

static Suite *threads_suite(void)
{
	Suite *s = suite_create("threads");

	tcase_add_test(tcase(s, "own"), test_threads_own_spools);
	tcase_add_loop_test(tcase(s, "shared"),
			    test_threads_shared_spool_records, 0, 4);
	tcase_add_test(tcase(s, "fputc"), test_threads_two_million_fputc);
	tcase_add_test(tcase(s, "lock mark"), test_threads_lock_mark);
	tcase_add_test(tcase(s, "foreign"),
		       test_threads_foreign_streams_einval);
	tcase_add_test(tcase(s, "fork"), test_threads_fork_while_busy);
	return s;
}

int main(void)
{
	return tu_run(threads_suite());
}
