/* SPDX-License-Identifier: MIT */
/*
 * fuzz_spool.c - libFuzzer harness: the input bytes become a mode, a
 * threshold, initial data, a buffering choice and up to MAX_OPS stdio
 * and spool calls.
 *
 * Differential mode (the default): every call runs on a spool and on
 * glibc stdio over a regular file opened with the same mode (written
 * with the initial data first), and return values, errno of failed
 * calls, bytes read, ftello, feof, ferror and, at the end, the contents
 * must agree. Any difference abort()s with a message naming the op.
 *
 * Limit mode (bit 3 of the first byte): a file cannot emulate `limit`,
 * so the spool runs alone and is checked against invariants and a
 * small model of the bytes it acknowledged: never more than `limit`
 * bytes, EFBIG only when a write really went past the limit, every
 * flushed byte in place, reads consistent with the model.
 *
 * Undefined mode (threshold word 0xfe80-0xfeff): the calls run as they
 * come, in orderings C leaves undefined (input straight after output and
 * the reverse, ungetc after output, any number of pending ungetc,
 * setvbuf after I/O), and nothing is compared: the results are
 * undefined. What is required is that the glibc seam's internals path
 * (lib/stdio-glibc.c) survives whatever its portable path survives: a
 * forked child plays the input on the portable path first, and only if
 * it comes through is the input played in process on the default path,
 * where a crash, a sanitizer report or a leaked descriptor is a
 * finding. An input the portable path does not survive is a glibc bug
 * (a regular file dies of it too) and is skipped.
 *
 * Input layout (missing bytes read as 0):
 *   byte 0   bits 0-2 mode (r r+ w w+ a a+; 6 and 7 are r and r+ of a
 *            SPOOL_SECRET spool, whose stdio buffer is its own), bit 3 limit
 *            mode (undefined mode: just a limit), bits 4-5 spelling
 *            ("", "b", "e", "be"), bits 6-7 buffering (default,
 *            _IONBF, _IOFBF of a small size, _IOLBF)
 *   byte 1-2 threshold: >= 0xff00 is SIZE_MAX; 0xfe80-0xfeff undefined
 *            mode, with the threshold from the low 7 bits v: 0x7f
 *            SIZE_MAX, 0x7e 512 KiB, 0x60-0x7d (v - 0x5f) * 8 KiB,
 *            else v * 3; 0xfe00-0xfe7f 512 KiB (on disk, after
 *            spool_rollover, reads swap in a 64 KiB stdio buffer);
 *            else value % 301
 *   byte 3   initial data length (see data_len()), byte 4 its offset in
 *            a fixed payload; ignored for "w" modes
 *   [byte]   _IOFBF buffer size, when chosen: 0-7 pick 1, 2, 3, 7, 16,
 *            64, 100 or 4096; else the value itself
 *   [2 bytes] limit - 1 (mod LIMIT_MAX), when bit 3 of byte 0 is set
 *   then ops: one byte, low nibble the call, high nibble a variant,
 *   followed by the call's argument bytes (see decode_op()). In
 *   undefined mode clearerr with a variant >= 8 is setvbuf instead:
 *   variant & 3 picks _IOFBF, _IONBF, _IOFBF with a buffer of the
 *   harness's (a size byte follows, as in the header) or _IOLBF.
 *
 * Outside undefined mode C's rules are kept so the oracle's answers are
 * defined: a positioning call or fflush between output and input, one
 * pending ungetc at most, setvbuf only before the first I/O.
 * Where glibc's cookie streams differ from its file streams, the
 * sequence is steered around the difference; each case says why (most
 * were first measured by tests/check_diff.c).
 */
#include "config.h"

#include <dirent.h>
#include <stddef.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <wchar.h>

#include "engine.h" /* tests/engine.c: playing one call on a side */
#include "spool.h"
#include "stdio-glibc.h" /* spool__stdio_regate(): built with lib/ */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Undefined-mode inputs skipped because the portable path did not
 * survive them either (fuzz/replay -v reports them). */
extern unsigned long fuzz_spool_skipped;
unsigned long fuzz_spool_skipped;
/* The sanitizers' runtime, when there is one (weak: fuzz/replay has
 * none): the portable run's child must not die through libFuzzer's
 * death callback, which would save the input as a finding. */
void __sanitizer_set_death_callback(void (*callback)(void))
    __attribute__((weak));
/* AddressSanitizer calls this, if defined, when it finds an error and
 * before it reports it. */
void __asan_on_error(void);

#define MAX_OPS 200
#define PAYLOAD_MAX 32768 /* written bytes come from here or the input */
#define IO_MAX 16384	  /* largest single fread or fwrite */
#define LIMIT_MAX 1024	  /* largest limit in limit mode */
#define MAX_PEND (MAX_OPS + 16)
#define THRESHOLD_MAX 300
#define UNDEF_VBUFS 8 /* buffers of its own a run may give setvbuf */
#define UNDEF_READ_MAX ((size_t)1 << 20) /* a snapshot reads no more */
#define CHILD_SECONDS 60 /* the portable run's child dies after that */

/* The harness's own calls, numbered past the engine's (engine.h). */
enum {
	OP_SNAPSHOT = OP_NKINDS, /* OP_TELL with a variant >= 8 */
	OP_SETVBUF, /* OP_CLEARERR with a variant >= 8, undefined mode */
};

static const char *const kind_names[] = {
    "fwrite",	"fread",	  "fputc",	    "fgetc",	  "fgets",
    "ungetc",	"fseeko",	  "ftello",	    "fflush",	  "rewind",
    "clearerr", "spool_truncate", "spool_rollover", "spool_size", "fprintf",
    "getline",	"snapshot",	  "setvbuf",
};

struct input {
	const uint8_t *p;
	size_t len;
	size_t at;
};

/* A write not yet known to have reached the spool: limit mode. */
struct pend {
	off_t at; /* -1: append, lands at the end */
	size_t n;
	const unsigned char *bytes; /* the first min(n, LIMIT_MAX) */
};

/*
 * What limit mode knows of the contents. The size lies in [lo, hi];
 * known[i] means "if byte i exists, it is byte[i]". Past hi every byte
 * is known zero, which is what a later gap would hold.
 */
struct model {
	unsigned char byte[LIMIT_MAX];
	unsigned char known[LIMIT_MAX];
	off_t lo, hi, hist_hi;
	struct pend pend[MAX_PEND];
	int npend;
	size_t used;
	unsigned char arena[MAX_PEND * LIMIT_MAX];
};

struct run {
	struct input in;
	int limit_mode;
	int undefined;	/* undefined mode: nothing compared */
	int vbuf_later; /* undefined mode: setvbuf ran after I/O */
	char mode[8];
	struct engine eng; /* the calls played; its writable: the mode's */
	int readable, append;
	char *more_vbuf[UNDEF_VBUFS]; /* undefined mode's setvbuf buffers */
	int n_more_vbuf;
	size_t threshold;
	off_t limit;
	const unsigned char *data;
	size_t data_len;
	int vbuf_kind;
	unsigned flags; /* struct spool_options.flags */
	size_t vbuf_size;
	struct side side[2];
	int nsides;
	int step;
	struct op cur;
	enum io_dir last_io;
	int pushback; /* an ungetc is pending */
	int backup;   /* ungetc since the last fseeko or rewind */
	int put_mode; /* written since the last fseeko or rewind */
	int rolled, forced;
	off_t size_hi; /* the largest size the spool can have had */
	struct model *m;
};

static unsigned char payload[PAYLOAD_MAX];
static int trace;    /* FUZZ_SPOOL_TRACE=1: print every call and result */
static int in_child; /* the portable run of undefined mode */
static char *work_dir;
static unsigned long file_seq;
static struct model model_store;
static unsigned char read_bufs[2][IO_MAX + 1];

/* ---- setup, once per process ---- */

static void remove_work_dir(void)
{
	if (work_dir != NULL)
		rmdir(work_dir);
}

/* Bytes to write: mostly letters, short lines for fgets and getline,
 * some NULs, which must survive like any other byte. */
static void fill_payload(void)
{
	static const char alpha[] = "abcdefghijklmnopqrstuvwxyz0123 \n\n";
	uint64_t x = UINT64_C(0x853c49e6748fea9b);
	size_t i;

	for (i = 0; i < PAYLOAD_MAX; i++) {
		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		payload[i] = (x >> 58) == 0 ? 0 : alpha[(x >> 40) % 33];
	}
}

static void init_once(void)
{
	static char path[PATH_MAX];
	const char *base = getenv("TMPDIR");

	if (work_dir != NULL)
		return;
	if (base == NULL || *base == '\0')
		base = "/tmp";
	snprintf(path, sizeof(path), "%s/fuzz-spool-XXXXXX", base);
	if (mkdtemp(path) == NULL) {
		perror("fuzz_spool: mkdtemp");
		abort();
	}
	work_dir = path;
	atexit(remove_work_dir);
	trace = getenv("FUZZ_SPOOL_TRACE") != NULL;
	fill_payload();
}

/* ---- reporting ---- */

static off_t off_min(off_t a, off_t b)
{
	return a < b ? a : b;
}

static off_t off_max(off_t a, off_t b)
{
	return a > b ? a : b;
}

static void describe(const struct op *op, char *buf, size_t sz)
{
	static const char *const wh[] = {"SET", "CUR", "END"};

	if (op->kind == OP_SEEK)
		snprintf(buf, sz, "fseeko(%lld, SEEK_%s)", (long long)op->off,
			 wh[op->whence]);
	else if (op->kind == OP_TRUNCATE)
		snprintf(buf, sz, "spool_truncate(%lld)", (long long)op->off);
	else
		snprintf(buf, sz, "%s(n=%zu, variant=%d, c=%d)",
			 kind_names[op->kind], op->n, op->variant, op->c);
}

static const char *mode_name(const struct run *r)
{
	return r->undefined    ? "undefined"
	       : r->limit_mode ? "limit"
			       : "differential";
}

__attribute__((format(printf, 2, 3), noreturn)) static void
fail(const struct run *r, const char *fmt, ...)
{
	char what[96];
	va_list ap;

	/* The portable run of undefined mode: its exit status says it all,
	 * and the work dir is the parent's. */
	if (in_child)
		_exit(3);
	describe(&r->cur, what, sizeof(what));
	fprintf(stderr,
		"\nfuzz_spool: FAILED: %s mode \"%s\"%s threshold %zu "
		"limit %lld data %zu vbuf %d/%zu, op %d %s: ",
		mode_name(r), r->mode, r->flags ? " secret" : "", r->threshold,
		(long long)r->limit, r->data_len, r->vbuf_kind, r->vbuf_size,
		r->step, what);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	remove_work_dir();
	abort();
}

/* ---- decoding ---- */

static unsigned get8(struct input *in)
{
	return in->at < in->len ? in->p[in->at++] : 0;
}

static unsigned get16(struct input *in)
{
	unsigned lo = get8(in);

	return lo | get8(in) << 8;
}

/* A size near the threshold, when the threshold is small enough. */
static size_t near_threshold(const struct run *r, unsigned k)
{
	size_t t = r->threshold > THRESHOLD_MAX ? 0 : r->threshold;

	return t + k < 8 ? 0 : t + k - 8;
}

/* Transfer sizes: mostly small, some past glibc's 8 KiB buffer (those
 * reach the cookie directly), some around the threshold. */
static size_t get_len(struct run *r)
{
	unsigned b = get8(&r->in);

	if (b < 0x80)
		return b;
	if (b < 0xd0)
		return 128 + ((b - 0x80) << 8 | get8(&r->in)) % 4096;
	if (b < 0xe0)
		return 4096 + get16(&r->in) % (IO_MAX - 4096 + 1);
	return near_threshold(r, b - 0xe0);
}

/* Bytes to write: literal input bytes for short writes (so the fuzzer
 * controls them), the payload for the rest. */
static const unsigned char *get_data(struct run *r, size_t n)
{
	struct input *in = &r->in;
	const unsigned char *p;

	if (n <= 8 && in->len - in->at >= n) {
		p = in->p + in->at;
		in->at += n;
		return p;
	}
	return payload + (get16(in) * 131u) % (PAYLOAD_MAX - n + 1);
}

static void decode_seek(struct run *r, struct op *op)
{
	op->whence = op->variant % 3;
	if (op->variant >= 12)
		op->off = (off_t)near_threshold(r, get8(&r->in) % 16);
	else if (op->variant >= 6)
		op->off = (int16_t)get16(&r->in);
	else
		op->off = (int8_t)get8(&r->in);
}

/* Lengths: mostly small and positive, a few negative, some around the
 * threshold. */
static void decode_truncate(struct run *r, struct op *op)
{
	int v = (int16_t)get16(&r->in);

	if (op->variant >= 12)
		op->off = (off_t)near_threshold(r, (unsigned)v & 15);
	else
		op->off = v >= -4 ? v : -v % 20000;
}

/* A setvbuf size from one byte: 0-7 pick 1, 2, 3, 7, 16, 64, 100 or
 * 4096; else the value itself. */
static size_t vbuf_size(unsigned b)
{
	static const size_t small[] = {1, 2, 3, 7, 16, 64, 100, 4096};

	return b < 8 ? small[b] : b;
}

static void decode_op(struct run *r, struct op *op)
{
	unsigned b = get8(&r->in);

	memset(op, 0, sizeof(*op));
	op->kind = (int)(b & 15);
	op->variant = (int)(b >> 4);
	switch (op->kind) {
	case OP_FWRITE:
	case OP_FREAD:
		op->n = get_len(r);
		if (op->kind == OP_FWRITE)
			op->data = get_data(r, op->n);
		break;
	case OP_PUTC:
	case OP_UNGETC:
		op->c = (int)get8(&r->in);
		break;
	case OP_FGETS:
		op->n = 1 + get8(&r->in);
		if (op->variant >= 12)
			op->n += 4000;
		break;
	case OP_SEEK:
		decode_seek(r, op);
		break;
	case OP_TELL:
		if (op->variant >= 8)
			op->kind = OP_SNAPSHOT;
		break;
	case OP_TRUNCATE:
		decode_truncate(r, op);
		break;
	case OP_CLEARERR:
		if (r->undefined && op->variant >= 8) {
			op->kind = OP_SETVBUF;
			if ((op->variant & 3) == 2)
				op->n = vbuf_size(get8(&r->in));
		}
		break;
	case OP_FPRINTF:
		op->arg = (int16_t)get16(&r->in);
		op->n = get8(&r->in);
		op->data =
		    payload + (get16(&r->in) * 131u) % (PAYLOAD_MAX - 256);
		break;
	default:
		break;
	}
}

static size_t data_len(struct run *r, unsigned d)
{
	if (d < 0xe0)
		return d;
	if (d < 0xf0)
		return near_threshold(r, d - 0xe0);
	return (d - 0xef) * 128u;
}

/*
 * Undefined mode's thresholds, from 7 bits: large ones, where stdio
 * writes into the memory image (lent buffers need room), as well as the
 * small ones that roll over in the middle of a sequence.
 */
static size_t undefined_threshold(unsigned v)
{
	if (v == 0x7f)
		return SIZE_MAX;
	if (v == 0x7e)
		return (size_t)512 << 10;
	if (v >= 0x60)
		return (size_t)(v - 0x5f) << 13;
	return v * 3;
}

static void decode_header(struct run *r)
{
	static const char *const modes[] = {"r", "r+", "w", "w+", "a", "a+"};
	static const char *const suffix[] = {"", "b", "e", "be"};
	unsigned b = get8(&r->in), t = get16(&r->in), d, o;

	snprintf(r->mode, sizeof(r->mode), "%s%s", modes[(b & 7) % 6],
		 suffix[(b >> 4) & 3]);
	/* Undefined mode takes values no earlier input used: every input
	 * in fuzz/corpus kept its meaning. */
	r->undefined = t >= 0xfe80 && t < 0xff00;
	r->limit_mode = (b & 8) != 0 && !r->undefined;
	r->vbuf_kind = (int)(b >> 6);
	r->flags = (b & 7) >= 6 ? SPOOL_SECRET : 0;
	r->threshold = t >= 0xff00    ? SIZE_MAX
		       : r->undefined ? undefined_threshold(t & 0x7f)
		       : t >= 0xfe00  ? (size_t)512 << 10
				      : t % (THRESHOLD_MAX + 1);
	d = get8(&r->in);
	o = get8(&r->in);
	r->readable = r->mode[0] == 'r' || strchr(r->mode, '+') != NULL;
	r->eng.writable = r->mode[0] != 'r' || strchr(r->mode, '+') != NULL;
	r->append = r->mode[0] == 'a';
	if (r->mode[0] != 'w') {
		r->data_len = data_len(r, d);
		r->data = payload + (o * 97u) % (PAYLOAD_MAX - r->data_len);
	}
	if (r->vbuf_kind == 2)
		r->vbuf_size = vbuf_size(get8(&r->in));
	if (b & 8)
		r->limit = 1 + get16(&r->in) % LIMIT_MAX;
}

/* ---- running one call on one side ---- */

/* fprintf, or snprintf of the same format (limit mode's model needs
 * the exact bytes). */
#define EMIT(...)                                                              \
	(fp ? fprintf(fp, __VA_ARGS__) : snprintf(buf, sz, __VA_ARGS__))

static int emit(FILE *fp, char *buf, size_t sz, const struct op *op)
{
	const char *s = (const char *)op->data;
	int n = (int)op->n;

	switch (op->variant & 3) {
	case 0:
		return EMIT("%ld|", op->arg);
	case 1:
		return EMIT("%.*s", n, s);
	case 2:
		return EMIT("%08lx\n", (unsigned long)op->arg);
	default:
		return EMIT("[%5ld:%-6.*s]", op->arg, n, s);
	}
}

/* The engine's OP_FPRINTF. */
static int print_op(FILE *fp, const struct op *op)
{
	return emit(fp, NULL, 0, op);
}

/* The engine's own failures (out of memory, pread) end the run too. */
static void engine_failed(const struct engine *e, const char *msg)
{
	fail((const struct run *)((const char *)e - offsetof(struct run, eng)),
	     "%s", msg);
}

static off_t model_pending_end(const struct model *m);

/* ---- differential checks ---- */

static void compare_res(const struct run *r, const struct op *op,
			const struct outcome *a, const struct outcome *b)
{
	size_t i;

	if (a->rc != b->rc)
		fail(r, "spool returned %lld, file %lld", a->rc, b->rc);
	if (!engine_same_errno(&r->eng, op, a->err, b->err))
		fail(r, "spool errno %d (%s), file errno %d (%s)", a->err,
		     strerror(a->err), b->err, strerror(b->err));
	if (a->len != b->len)
		fail(r, "spool gave %zu bytes, file %zu", a->len, b->len);
	for (i = 0; i < a->len; i++) {
		if (a->data[i] != b->data[i])
			fail(r, "byte %zu: spool 0x%02x, file 0x%02x", i,
			     a->data[i], b->data[i]);
	}
}

static void compare_flags(const struct run *r)
{
	FILE *a = r->side[0].fp, *b = r->side[1].fp;

	if (!feof(a) != !feof(b) || !ferror(a) != !ferror(b))
		fail(r, "spool feof %d ferror %d, file feof %d ferror %d",
		     !!feof(a), !!ferror(a), !!feof(b), !!ferror(b));
}

/* ftello on every side; returns the spool's. */
static long long compare_tell(const struct run *r)
{
	long long t[2] = {0, 0};
	int e[2] = {0, 0}, i;

	for (i = 0; i < r->nsides; i++) {
		errno = 0;
		t[i] = (long long)ftello(r->side[i].fp);
		e[i] = t[i] < 0 ? errno : 0;
	}
	if (r->nsides == 2 && (t[0] != t[1] || e[0] != e[1]))
		fail(r, "ftello: spool %lld (errno %d), file %lld (errno %d)",
		     t[0], e[0], t[1], e[1]);
	return t[0];
}

static int past(const struct run *r, long long size)
{
	return size > 0 && (uintmax_t)size > r->threshold;
}

/* The largest size the spool can have reached: the oracle's logical
 * end after a write. ftello on the file moves nothing the spool sees. */
static void note_write(struct run *r)
{
	off_t end = engine_oracle_end(r->side[1].fp);

	if (end > r->size_hi)
		r->size_hi = end;
}

/*
 * The threshold rule: past the threshold a spool is on disk; it never
 * goes back; without spool_rollover/spool_fileno it leaves memory only
 * for a size past the threshold.
 */
static void check_rolled(struct run *r, const struct op *op,
			 const struct outcome *o)
{
	int rolled = spool_is_rolled(r->side[0].fp);

	if (rolled != 0 && rolled != 1)
		fail(r, "spool_is_rolled gave %d", rolled);
	if (r->rolled && !rolled)
		fail(r, "the spool moved back to memory");
	if (op->kind == OP_ROLLOVER && o->rc == 0 && !rolled)
		fail(r, "in memory after a rollover");
	if (op->kind == OP_SIZE && past(r, o->rc) && !rolled)
		fail(r, "in memory with %lld bytes", o->rc);
	if (op->kind == OP_TRUNCATE && o->rc == 0 && past(r, op->off) &&
	    !rolled)
		fail(r, "in memory after truncating past the threshold");
	r->rolled = rolled;
	if (op->kind == OP_ROLLOVER)
		r->forced = 1;
	if (op->kind == OP_TRUNCATE && o->rc == 0 && op->off > r->size_hi)
		r->size_hi = op->off;
	if (r->m != NULL)
		r->size_hi =
		    off_max(r->size_hi,
			    off_max(r->m->hist_hi, model_pending_end(r->m)));
	if (rolled && !r->forced && !past(r, r->size_hi))
		fail(r, "on disk though the size never passed %lld",
		     (long long)r->size_hi);
}

/* ---- limit mode: the model ---- */

static void model_init(struct model *m, const unsigned char *d, size_t n)
{
	memset(m->byte, 0, sizeof(m->byte));
	memset(m->known, 1, sizeof(m->known));
	if (n > LIMIT_MAX)
		n = LIMIT_MAX;
	if (n > 0)
		memcpy(m->byte, d, n);
	m->lo = m->hi = m->hist_hi = (off_t)n;
	m->npend = 0;
	m->used = 0;
}

static void set_hi(struct model *m, off_t hi)
{
	m->hi = hi;
	if (hi > m->hist_hi)
		m->hist_hi = hi;
}

/* Bytes in [lo, to) either stay or become a zero-filled gap: only known
 * zeros stay known. */
static void model_gap(struct model *m, off_t to)
{
	off_t i, end = off_min(off_min(to, m->hi), LIMIT_MAX);

	for (i = m->lo; i < end; i++) {
		if (m->byte[i] != 0)
			m->known[i] = 0;
	}
}

static void model_unknown(struct model *m, off_t from, off_t to)
{
	off_t i;

	for (i = off_max(from, 0); i < off_min(to, LIMIT_MAX); i++)
		m->known[i] = 0;
}

/* Nothing exists at or past `size`: those bytes read as a later gap. */
static void model_set_size(struct model *m, off_t size)
{
	off_t i;

	for (i = size; i < LIMIT_MAX; i++) {
		m->byte[i] = 0;
		m->known[i] = 1;
	}
	m->lo = size;
	set_hi(m, size);
}

static void model_queue(struct run *r, off_t at, const unsigned char *p,
			size_t n)
{
	struct model *m = r->m;
	size_t keep = n > LIMIT_MAX ? LIMIT_MAX : n;
	struct pend *pd;

	if (n == 0)
		return;
	if (m->npend == MAX_PEND || sizeof(m->arena) - m->used < keep)
		fail(r, "harness: model full");
	pd = &m->pend[m->npend++];
	pd->at = at;
	pd->n = n;
	pd->bytes = m->arena + m->used;
	memcpy(m->arena + m->used, p, keep);
	m->used += keep;
}

/* A pending write reached the spool whole. */
static void model_land(struct run *r, const struct pend *pd)
{
	struct model *m = r->m;
	off_t at = pd->at, end, i;

	if (at < 0 && m->lo != m->hi) {
		/* Appended at an end the model does not know exactly. */
		model_unknown(m, m->lo, m->hi + (off_t)pd->n);
		m->lo += (off_t)pd->n;
		set_hi(m, m->hi + (off_t)pd->n);
		if (m->lo > r->limit)
			fail(r,
			     "append to at least %lld acknowledged, limit "
			     "%lld",
			     (long long)m->lo, (long long)r->limit);
		return;
	}
	if (at < 0)
		at = m->lo;
	end = at + (off_t)pd->n;
	if (end > r->limit)
		fail(r, "write of %zu bytes at %lld acknowledged, limit %lld",
		     pd->n, (long long)at, (long long)r->limit);
	model_gap(m, at);
	for (i = at; i < off_min(end, LIMIT_MAX); i++) {
		m->byte[i] = pd->bytes[i - at];
		m->known[i] = 1;
	}
	m->lo = off_max(m->lo, end);
	set_hi(m, off_max(m->hi, end));
}

/* A pending write may have landed in part, or not at all. */
static void model_smear(struct model *m, const struct pend *pd)
{
	if (pd->at < 0) {
		model_unknown(m, m->lo, m->hi + (off_t)pd->n);
		set_hi(m, m->hi + (off_t)pd->n);
		return;
	}
	model_gap(m, pd->at);
	model_unknown(m, pd->at, pd->at + (off_t)pd->n);
	set_hi(m, off_max(m->hi, pd->at + (off_t)pd->n));
}

static void model_commit(struct run *r)
{
	int i;

	for (i = 0; i < r->m->npend; i++)
		model_land(r, &r->m->pend[i]);
	r->m->npend = 0;
	r->m->used = 0;
}

/* The furthest end the pending writes can reach. */
static off_t model_pending_end(const struct model *m)
{
	off_t end = 0, app = m->hi;
	int i;

	for (i = 0; i < m->npend; i++) {
		const struct pend *pd = &m->pend[i];

		if (pd->at < 0)
			app += (off_t)pd->n;
		end = off_max(end, pd->at < 0 ? app : pd->at + (off_t)pd->n);
	}
	return end;
}

/*
 * A write failed: glibc dropped its buffer. EFBIG is only right when
 * some pending write could have gone past the limit.
 */
static void model_fail(struct run *r, int err)
{
	struct model *m = r->m;
	off_t end = model_pending_end(m);
	int i;

	if (err == EFBIG && end <= r->limit)
		fail(r,
		     "EFBIG, but no pending write passes the limit %lld "
		     "(largest end %lld)",
		     (long long)r->limit, (long long)end);
	for (i = 0; i < m->npend; i++)
		model_smear(m, &m->pend[i]);
	m->npend = 0;
	m->used = 0;
}

/* `k` bytes read at `at` must agree with the model. */
static void model_read(struct run *r, off_t at, const unsigned char *p,
		       size_t k, int at_eof)
{
	struct model *m = r->m;
	off_t i, end = at + (off_t)k;

	if (k == 0)
		return;
	if (end > r->limit || end > m->hi)
		fail(r, "read up to %lld, limit %lld, size at most %lld",
		     (long long)end, (long long)r->limit, (long long)m->hi);
	for (i = at; i < end; i++) {
		if (m->known[i] && m->byte[i] != p[i - at])
			fail(r, "read 0x%02x at %lld, model has 0x%02x",
			     p[i - at], (long long)i, m->byte[i]);
	}
	if (at_eof) {
		if (end < m->lo)
			fail(r, "end of file at %lld, size at least %lld",
			     (long long)end, (long long)m->lo);
		model_set_size(m, end);
	}
}

static void model_size(struct run *r, long long size)
{
	struct model *m = r->m;

	if (size > r->limit || size < m->lo || size > m->hi)
		fail(r, "spool_size %lld: limit %lld, model [%lld, %lld]", size,
		     (long long)r->limit, (long long)m->lo, (long long)m->hi);
	model_set_size(m, size);
}

/* Before the op: queue what it will write, note where reads start. */
static off_t limit_before(struct run *r, const struct op *op)
{
	char text[600];
	unsigned char ch;
	off_t at = -1;
	int n;

	if (!r->pushback && engine_io_dir(op->kind) != IO_NONE &&
	    !(r->append && engine_io_dir(op->kind) == IO_WRITE))
		at = ftello(r->side[0].fp);
	if (!r->eng.writable || engine_io_dir(op->kind) != IO_WRITE)
		return at;
	if (at < 0 && !r->append)
		fail(r, "harness: no position before a write: %s",
		     strerror(errno));
	switch (op->kind) {
	case OP_FWRITE:
		model_queue(r, r->append ? -1 : at, op->data, op->n);
		break;
	case OP_PUTC:
		ch = (unsigned char)op->c;
		model_queue(r, r->append ? -1 : at, &ch, 1);
		break;
	case OP_FPRINTF:
		n = emit(NULL, text, sizeof(text), op);
		if (n < 0 || (size_t)n >= sizeof(text))
			fail(r, "harness: fprintf text too long");
		model_queue(r, r->append ? -1 : at, (unsigned char *)text,
			    (size_t)n);
		break;
	default:
		break;
	}
	return at;
}

static int bad_errno(const struct run *r, const struct op *op, int err)
{
	enum io_dir d = engine_io_dir(op->kind);

	if (err == EFBIG)
		return 0;
	if (err == EBADF)
		return !((d == IO_WRITE && !r->eng.writable) ||
			 (d == IO_READ && !r->readable));
	return 1;
}

/* After the op: settle pending writes, check what it returned. */
static void limit_after(struct run *r, const struct op *op,
			const struct outcome *o, off_t at)
{
	FILE *fp = r->side[0].fp;
	int err = errno;

	if (ferror(fp)) {
		if (bad_errno(r, op, err))
			fail(r, "failed with errno %d (%s)", err,
			     strerror(err));
		model_fail(r, err);
	} else if (op->kind == OP_REWIND && r->m->npend > 0) {
		model_fail(r, 0); /* rewind hides a failed flush */
	} else if (__fpending(fp) == 0) {
		model_commit(r);
	}
	if (op->kind == OP_TRUNCATE && o->rc == 0)
		model_set_size(r->m, op->off);
	if (op->kind == OP_TRUNCATE && op->off > r->limit && r->eng.writable &&
	    (o->rc == 0 || o->err != EFBIG))
		fail(r, "truncate past the limit: returned %lld, errno %d",
		     o->rc, o->err);
	if (op->kind == OP_SIZE && o->rc >= 0)
		model_size(r, o->rc);
	if (at < 0)
		return;
	if (op->kind == OP_FREAD)
		model_read(r, at, o->data, o->len, o->len < op->n && feof(fp));
	else if (op->kind == OP_GETLINE && o->rc > 0)
		model_read(r, at, o->data, o->len, 0);
	else if (op->kind == OP_GETC && o->rc != EOF)
		model_read(r, at, &(unsigned char){(unsigned char)o->rc}, 1, 0);
}

/* ---- running an op everywhere ---- */

static void update_state(struct run *r, const struct op *op,
			 const struct outcome *o)
{
	enum io_dir d = engine_io_dir(op->kind);
	/* rewind hides a failed flush (limit mode), after which glibc
	 * stays in put mode: count it as a move only where none can fail. */
	int moved = (op->kind == OP_SEEK && o->rc == 0) ||
		    (op->kind == OP_REWIND && !r->limit_mode);

	if (op->kind == OP_UNGETC && o->rc != EOF)
		r->pushback = r->backup = 1;
	else if (engine_drops_pushback(op, o))
		r->pushback = 0;
	if (d != IO_NONE)
		r->last_io = d;
	else if (moved)
		r->last_io = IO_NONE;
	else if (op->kind == OP_FLUSH && o->rc == 0 && r->last_io == IO_WRITE)
		r->last_io = IO_NONE;
	if (d == IO_WRITE)
		r->put_mode = 1;
	if (moved)
		r->put_mode = r->backup = 0;
}

/*
 * End of file is sticky on cookie streams, but a large fread on a file
 * stream bypasses the buffer and reads past it (glibc-cookie.md). So
 * once the flags are compared, both sides are cleared.
 */
static void settle_flags(struct run *r)
{
	int i;

	for (i = 0; i < r->nsides; i++)
		clearerr(r->side[i].fp);
}

/*
 * ftello in append mode with output pending seeks to the end, which
 * moves the cookie's position there too and would hide a spool that
 * does not append; after a write it is compared only when the variant
 * asks (bit 3).
 */
static int tell_after(const struct run *r, const struct op *op)
{
	return engine_io_dir(op->kind) != IO_WRITE || !r->append ||
	       (op->variant & 8);
}

static void trace_op(const struct run *r, const struct op *op,
		     const struct outcome *o)
{
	char what[96];
	int i;

	describe(op, what, sizeof(what));
	fprintf(stderr, "%3d %-40s", r->step, what);
	for (i = 0; i < r->nsides; i++)
		fprintf(stderr, " %s %lld/%d", r->side[i].name, o[i].rc,
			o[i].err);
	fputc('\n', stderr);
}

/* Run op on every side and compare; returns the spool's result. */
static long long run_op(struct run *r, const struct op *op)
{
	struct outcome o[2];
	off_t at = -1;
	int i;

	r->step++;
	r->cur = *op;
	if (r->limit_mode)
		at = limit_before(r, op);
	for (i = 0; i < r->nsides; i++)
		engine_apply(&r->eng, &r->side[i], op, &o[i]);
	if (trace)
		trace_op(r, op, o);
	if (r->nsides == 2) {
		compare_res(r, op, &o[0], &o[1]);
		compare_flags(r);
	}
	if (r->limit_mode)
		limit_after(r, op, &o[0], at);
	if (r->nsides == 2 && engine_io_dir(op->kind) == IO_WRITE)
		note_write(r);
	check_rolled(r, op, &o[0]);
	update_state(r, op, &o[0]);
	if (tell_after(r, op))
		compare_tell(r);
	settle_flags(r);
	return o[0].rc;
}

/*
 * glibc bug (2.36, every cookie stream, fmemopen too): the first flush
 * of output written into a buffer that still holds read-ahead seeks
 * back relatively and stores that offset in the FILE, and cookie writes
 * do not advance it (file writes do). fseeko(SEEK_CUR) or a read then
 * count from the start of the flushed bytes. The spool's callbacks
 * cannot see this, so on a readable stream (append mode is immune) the
 * sequence flushes first.
 */
static int seek_cur_hazard(const struct run *r, const struct op *next)
{
	int seek_cur = next->kind == OP_SEEK && next->whence == SEEK_CUR;

	return r->last_io == IO_WRITE && r->readable && !r->append &&
	       (seek_cur || engine_io_dir(next->kind) == IO_READ);
}

/*
 * Run a flush or seek that must take the stream out of put mode. In
 * limit mode the flush can fail (EFBIG); glibc then drops its buffer and
 * stays in put mode, and the ungetc bug below would strike, so it is
 * run again (now with nothing to flush). Returns 0 if it still fails.
 */
static int settle(struct run *r, const struct op *op)
{
	return run_op(r, op) == 0 || run_op(r, op) == 0;
}

/*
 * C leaves input straight after output (and the reverse) undefined: an
 * fflush or fseeko goes in between, on every side, as one more op.
 *
 * glibc bug (2.36, regular files too): ungetc on a stream still in put
 * mode sets up a backup area the next read misuses (wrong data, ftello
 * -1, a bad free at fclose). So between output and ungetc there is
 * always an fseeko.
 */
static int transition(struct run *r, const struct op *next)
{
	struct op op = {.kind = OP_SEEK, .whence = SEEK_CUR};
	enum io_dir d = engine_io_dir(next->kind);

	if (seek_cur_hazard(r, next)) {
		struct op flush = {.kind = OP_FLUSH};

		run_op(r, &flush);
	}
	if (d == IO_NONE || (d == IO_WRITE && r->last_io != IO_READ))
		return 1;
	if (d == IO_READ && r->last_io != IO_WRITE &&
	    (!r->put_mode || next->kind != OP_UNGETC))
		return 1;
	if (r->last_io == IO_WRITE && next->kind != OP_UNGETC &&
	    (next->variant & 4))
		op.kind = OP_FLUSH;
	return settle(r, &op);
}

/*
 * Steer around glibc's differences; returns 0 to skip the op.
 *
 * glibc (2.36, files and cookies): after an ungetc, until the next
 * fseeko, fflush syncs only the pushback area and reads go on from a
 * stale buffer, which differs between a file (st_blksize buffer, direct
 * reads) and a cookie (BUFSIZ). So fflush and spool_truncate come after
 * an fseeko there.
 *
 * glibc: fseeko drops the pushback area before it seeks, so a failed
 * fseeko loses a pending ungetc; a file often keeps the char in its
 * read buffer instead. A seek that may fail reads the char back first.
 *
 * C: ungetc at position 0 leaves the position indeterminate, and glibc
 * then differs (ftello's errno, SEEK_CUR): such an ungetc is skipped,
 * as is a second pending one (one is all C promises) and ungetc on a
 * stream that cannot read.
 */
static int prepare(struct run *r, const struct op *op)
{
	struct op drop = {.kind = OP_SEEK, .whence = SEEK_CUR};
	struct op getc_op = {.kind = OP_GETC};

	if (op->kind == OP_UNGETC && (r->pushback || !r->readable))
		return 0;
	if (op->kind == OP_SNAPSHOT && (r->pushback || !r->readable))
		return 0;
	if (r->backup && (op->kind == OP_FLUSH || op->kind == OP_TRUNCATE) &&
	    !settle(r, &drop))
		return 0;
	if (r->pushback && op->kind == OP_SEEK &&
	    (op->whence != SEEK_SET || op->off < 0))
		run_op(r, &getc_op);
	if (!transition(r, op))
		return 0;
	if (op->kind != OP_UNGETC)
		return 1;
	return compare_tell(r) != 0;
}

/* Read from the position to the end of file: a short read ends it. */
static void read_all(struct run *r)
{
	struct op rd = {.kind = OP_FREAD, .n = IO_MAX};

	while (run_op(r, &rd) == IO_MAX)
		;
}

/*
 * With a stdio buffer of a few bytes (or none) glibc reads a cookie
 * stream one read(2) per buffer-full: reading 150 KB that way took 8 s,
 * which libFuzzer reports as a slow unit. Past TINY_READ_MAX bytes such
 * spools are read through the streams only by the ops themselves, and
 * compared whole through the descriptors at the end.
 */
#define TINY_READ_MAX 16384

static int slow_to_read(const struct run *r)
{
	int tiny =
	    r->vbuf_kind == 1 || (r->vbuf_kind == 2 && r->vbuf_size < 64);

	return tiny && r->size_hi > TINY_READ_MAX;
}

/* Read the contents from 0 through the streams, then go back: compares
 * them mid-sequence without changing what follows. */
static void snapshot(struct run *r)
{
	struct op seek = {.kind = OP_SEEK, .whence = SEEK_SET};
	long long pos = compare_tell(r);

	if (slow_to_read(r) || pos < 0 || !settle(r, &seek))
		return;
	read_all(r);
	seek.off = (off_t)pos;
	run_op(r, &seek);
}

static void step(struct run *r, const struct op *op)
{
	r->cur = *op;
	if (!prepare(r, op))
		return;
	if (op->kind == OP_SNAPSHOT)
		snapshot(r);
	else
		run_op(r, op);
}

/* ---- opening, finishing, closing ---- */

/* The same buffering on every side, chosen before any I/O. */
static void set_buffering(const struct run *r, struct side *sd)
{
	int rc = 0;

	switch (r->vbuf_kind) {
	case 1:
		rc = setvbuf(sd->fp, NULL, _IONBF, 0);
		break;
	case 2:
		sd->vbuf = malloc(r->vbuf_size);
		if (sd->vbuf == NULL)
			fail(r, "harness: out of memory");
		rc = setvbuf(sd->fp, sd->vbuf, _IOFBF, r->vbuf_size);
		break;
	case 3:
		rc = setvbuf(sd->fp, NULL, _IOLBF, BUFSIZ);
		break;
	default:
		break;
	}
	if (rc != 0)
		fail(r, "setvbuf failed on the %s", sd->name);
}

static void add_side(struct run *r, FILE *fp, int is_spool)
{
	struct side *sd = &r->side[r->nsides];

	sd->fp = fp;
	sd->is_spool = is_spool;
	sd->name = is_spool ? "spool" : "file";
	sd->buf = read_bufs[r->nsides];
	sd->rfd = -1;
	r->nsides++;
	set_buffering(r, sd);
	/*
	 * C makes a stream byte-oriented at its first byte I/O; glibc file
	 * streams stay unoriented through getc/fread/ungetc, and while
	 * unoriented, fseeko(SEEK_CUR) after ungetc of a different char
	 * ignores the read-ahead. Cookie streams are byte-oriented from the
	 * start, so orient the oracle as C says.
	 */
	if (!is_spool && fwide(fp, -1) != -1)
		fail(r, "harness: fwide failed");
}

/* The oracle: a file written with the initial data, opened with the
 * same mode, and unlinked at once, so nothing is left even on abort. */
static FILE *open_oracle(const struct run *r, int *rfd)
{
	char path[PATH_MAX];
	ssize_t w = 0;
	FILE *fp;
	int fd;

	snprintf(path, sizeof(path), "%s/oracle-%lu", work_dir, file_seq++);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		fail(r, "harness: %s: %s", path, strerror(errno));
	if (r->data_len > 0)
		w = write(fd, r->data, r->data_len);
	if (close(fd) != 0 || (r->data_len > 0 && w != (ssize_t)r->data_len))
		fail(r, "harness: cannot write %s", path);
	fp = fopen(path, r->mode);
	*rfd = open(path, O_RDONLY | O_CLOEXEC);
	unlink(path);
	if (fp == NULL || *rfd < 0)
		fail(r, "harness: cannot open %s: %s", path, strerror(errno));
	return fp;
}

/* Returns 0 when the open was rightly refused (limit mode). */
static int open_sides(struct run *r)
{
	struct spool_options o = {
	    .threshold = r->threshold,
	    .limit = r->limit,
	    .dir = work_dir,
	    .data = r->mode[0] == 'w' ? NULL : r->data,
	    .data_len = r->data_len,
	    .flags = r->flags,
	};
	int too_big = r->limit > 0 && (off_t)r->data_len > r->limit;
	FILE *fp;
	int rfd;

	errno = 0;
	fp = spool_fopen_opts(&o, r->mode);
	if (fp == NULL && too_big && errno == EFBIG)
		return 0;
	if (fp == NULL)
		fail(r, "spool_fopen_opts: %s", strerror(errno));
	if (too_big)
		fail(r, "opened with %zu bytes, limit %lld", r->data_len,
		     (long long)r->limit);
	add_side(r, fp, 1);
	if (r->undefined)
		return 1;
	if (r->limit_mode) {
		r->m = &model_store;
		model_init(r->m, r->data, r->data_len);
	} else {
		add_side(r, open_oracle(r, &rfd), 0);
		r->side[1].rfd = rfd;
	}
	r->size_hi = (off_t)r->data_len;
	r->rolled = spool_is_rolled(fp);
	if (r->rolled != past(r, (long long)r->data_len))
		fail(r, "opened with %zu bytes, spool_is_rolled %d",
		     r->data_len, r->rolled);
	compare_tell(r);
	if (r->nsides == 2)
		compare_flags(r);
	return 1;
}

/* The spool's contents through its descriptor; `size` gets their size. */
static unsigned char *spool_contents(struct run *r, off_t *size)
{
	struct stat st;
	int fd = spool_fileno(r->side[0].fp);

	r->forced = 1;
	if (fd < 0 || fstat(fd, &st) < 0)
		fail(r, "spool_fileno: %s", strerror(errno));
	*size = st.st_size;
	return engine_pread_all(&r->eng, fd, st.st_size);
}

static void compare_contents(struct run *r)
{
	FILE *fp = r->side[1].fp;
	unsigned char *a, *b;
	struct stat st;
	off_t size, i;

	a = spool_contents(r, &size);
	if (fflush(fp) != 0 || fstat(r->side[1].rfd, &st) < 0)
		fail(r, "harness: oracle flush: %s", strerror(errno));
	if (st.st_size != size)
		fail(r, "contents: spool %lld bytes, file %lld",
		     (long long)size, (long long)st.st_size);
	b = engine_pread_all(&r->eng, r->side[1].rfd, size);
	for (i = 0; i < size; i++) {
		if (a[i] != b[i])
			fail(r, "contents: byte %lld spool 0x%02x file 0x%02x",
			     (long long)i, a[i], b[i]);
	}
	free(a);
	free(b);
}

static void check_model_contents(struct run *r)
{
	struct model *m = r->m;
	unsigned char *a;
	off_t size, i;

	a = spool_contents(r, &size);
	if (size > r->limit || size < m->lo || size > m->hi)
		fail(r, "contents: %lld bytes, limit %lld, model [%lld, %lld]",
		     (long long)size, (long long)r->limit, (long long)m->lo,
		     (long long)m->hi);
	for (i = 0; i < size; i++) {
		if (m->known[i] && m->byte[i] != a[i])
			fail(r, "contents: byte %lld is 0x%02x, model 0x%02x",
			     (long long)i, a[i], m->byte[i]);
	}
	free(a);
}

/* The whole contents: through the streams, then through the fds. */
static void finish(struct run *r)
{
	struct op seek0 = {.kind = OP_SEEK, .whence = SEEK_SET};
	struct op flush = {.kind = OP_FLUSH};
	struct op size = {.kind = OP_SIZE};

	r->cur = seek0;
	if (r->readable && !slow_to_read(r) && prepare(r, &seek0) &&
	    settle(r, &seek0))
		read_all(r);
	step(r, &flush);
	step(r, &size);
	r->cur = size;
	if (r->limit_mode)
		check_model_contents(r);
	else
		compare_contents(r);
}

static void close_sides(struct run *r)
{
	int rc[2] = {0, 0}, i;

	for (i = 0; i < r->nsides; i++) {
		struct side *sd = &r->side[i];

		rc[i] = fclose(sd->fp);
		free(sd->vbuf);
		free(sd->line);
		free(sd->out);
		if (sd->rfd >= 0)
			close(sd->rfd);
	}
	if (rc[0] != 0 || rc[1] != 0)
		fail(r, "fclose: spool %d, file %d", rc[0], rc[1]);
}

/* The lowest free descriptor: the same before and after, or a leak. */
static int lowest_free_fd(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (fd >= 0)
		close(fd);
	return fd;
}

/* Nothing may be left in the directory: no oracle, no spool file. */
static void check_clean(const struct run *r, int fd0)
{
	int fd = lowest_free_fd();
	struct dirent *e;
	DIR *d;

	if (fd != fd0)
		fail(r, "descriptor leak: lowest free fd %d, was %d", fd, fd0);
	d = opendir(work_dir);
	if (d == NULL)
		fail(r, "harness: opendir: %s", strerror(errno));
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			fail(r, "left behind: %s/%s", work_dir, e->d_name);
	}
	closedir(d);
}

/* ---- undefined mode ---- */

/* setvbuf after I/O: a buffer of the harness's lives until fclose. */
static void undefined_setvbuf(struct run *r, struct side *sd,
			      const struct op *op, struct outcome *o)
{
	static const int kind[] = {_IOFBF, _IONBF, _IOFBF, _IOLBF};
	char *buf = NULL;

	if ((op->variant & 3) == 2 && r->n_more_vbuf < UNDEF_VBUFS) {
		buf = malloc(op->n);
		if (buf == NULL)
			fail(r, "harness: out of memory");
		r->more_vbuf[r->n_more_vbuf++] = buf;
	}
	errno = 0;
	o->rc = setvbuf(sd->fp, buf, kind[op->variant & 3],
			buf != NULL ? op->n : BUFSIZ);
	o->err = o->rc != 0 ? errno : 0;
	r->vbuf_later = 1;
}

/* Read from 0, then go back to where the stream said it was. With a
 * stdio buffer of a few bytes, reading is one callback a buffer-full:
 * less then (see slow_to_read()); after setvbuf the buffer may be any
 * size (glibc keeps the one it has for _IOFBF or _IOLBF without one). */
static void undefined_snapshot(const struct run *r, struct side *sd,
			       struct outcome *o)
{
	int tiny = r->vbuf_kind == 1 ||
		   (r->vbuf_kind == 2 && r->vbuf_size < 64) || r->vbuf_later;
	size_t cap = tiny ? TINY_READ_MAX : UNDEF_READ_MAX, total = 0, n;
	off_t pos = ftello(sd->fp);

	if (pos < 0 || fseeko(sd->fp, 0, SEEK_SET) != 0)
		return;
	do {
		n = fread(sd->buf, 1, IO_MAX, sd->fp);
		total += n;
	} while (n == IO_MAX && total < cap);
	o->rc = fseeko(sd->fp, pos, SEEK_SET);
	o->len = total;
}

/* One call as it comes: no transition, no steering, nothing compared. */
static void undefined_step(struct run *r, const struct op *op)
{
	struct side *sd = &r->side[0];
	struct outcome o;

	r->step++;
	r->cur = *op;
	memset(&o, 0, sizeof(o));
	if (op->kind == OP_SETVBUF)
		undefined_setvbuf(r, sd, op, &o);
	else if (op->kind == OP_SNAPSHOT)
		undefined_snapshot(r, sd, &o);
	else
		engine_apply(&r->eng, sd, op, &o);
	if (trace)
		trace_op(r, op, &o);
}

/* The whole input on one spool, closed at the end whatever it did;
 * then no descriptor or file may be left. */
static void undefined_play(struct run *r)
{
	struct side *sd = &r->side[0];
	struct op op;
	int fd0 = lowest_free_fd(), rc, i;

	if (open_sides(r)) {
		for (i = 0; i < MAX_OPS && r->in.at < r->in.len; i++) {
			decode_op(r, &op);
			undefined_step(r, &op);
		}
		rc = fclose(sd->fp);
		if (trace)
			fprintf(stderr, "    fclose %d/%d\n", rc,
				rc != 0 ? errno : 0);
		free(sd->vbuf);
		free(sd->line);
		free(sd->out);
		for (i = 0; i < r->n_more_vbuf; i++)
			free(r->more_vbuf[i]);
	}
	check_clean(r, fd0);
}

static void child_died(void)
{
	_exit(4);
}

/* In the child the error is glibc's and the exit status is the whole
 * report: symbolizing one took 0.4 s an input. */
void __asan_on_error(void)
{
	if (in_child)
		_exit(4);
}

/*
 * In the child: the portable path, and a death that only the exit
 * status reports. No sanitizer report reaches libFuzzer's death
 * callback (which saves the input as a crash), no signal reaches its
 * handlers or replay's, nothing is printed and no core is dumped.
 */
static void become_portable(void)
{
	static const int sigs[] = {SIGABRT, SIGSEGV, SIGBUS, SIGILL,
				   SIGFPE,  SIGTRAP, SIGALRM};
	struct rlimit no_core = {0, 0};
	int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	size_t i;

	in_child = 1;
	trace = 0;
	if (__sanitizer_set_death_callback != NULL)
		__sanitizer_set_death_callback(child_died);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], SIG_DFL);
	setrlimit(RLIMIT_CORE, &no_core);
	prctl(PR_SET_DUMPABLE, 0);
	if (fd >= 0) {
		dup2(fd, 2);
		close(fd);
	}
	alarm(CHILD_SECONDS);
	if (setenv("SPOOL_STDIO", "portable", 1) != 0)
		_exit(5);
	spool__stdio_regate();
}

/*
 * Does the portable path come through this input? It runs in a child,
 * so that a glibc that cannot survive the sequence takes only the child
 * down. The parent's own gate is never touched: it stays the process's
 * default (or what SPOOL_STDIO said at start), and every later input,
 * differential ones included, runs on it.
 */
/* One replay on the portable path in a child; big: with a 64 KiB stdio
 * buffer of its own from the start. 1 if the child survived. */
static int child_survives(struct run *r, int big)
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		fail(r, "harness: fork: %s", strerror(errno));
	if (pid == 0) {
		become_portable();
		if (big) {
			r->vbuf_kind = 2;
			r->vbuf_size = (size_t)64 << 10;
		}
		undefined_play(r);
		_exit(0);
	}
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR)
			fail(r, "harness: waitpid: %s", strerror(errno));
	}
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 1;
	fuzz_spool_skipped++;
	if (trace)
		fprintf(stderr, "portable path%s %s %d: input skipped\n",
			big ? " (64 KiB buffer)" : "",
			WIFSIGNALED(st) ? "died of signal" : "exited with",
			WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
	return 0;
}

/*
 * Does glibc itself survive this input? The fast path gives a spool on
 * disk with a threshold of 512 KiB or more a 64 KiB stdio buffer
 * (lib/spool.c, BIG_IOBUF), and some of glibc's own failures in these
 * orderings happen with one buffer size only (ungetc() while output is
 * pending sets the read area from the backup area's end and the write
 * pointer: with 8 KiB the failed flush came earlier). So the reference
 * is the portable path twice: with glibc's buffer, and, where the fast
 * path would swap, with a 64 KiB one.
 */
static int portable_survives(struct run *r)
{
	if (!child_survives(r, 0))
		return 0;
	if (r->vbuf_kind != 0 || r->threshold < ((size_t)512 << 10))
		return 1;
	return child_survives(r, 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run r;
	struct op op;
	int fd0, i;

	init_once();
	memset(&r, 0, sizeof(r));
	r.eng.print = print_op;
	r.eng.fail = engine_failed;
	r.in.p = data;
	r.in.len = size;
	decode_header(&r);
	if (trace)
		fprintf(stderr,
			"%s mode \"%s\" threshold %zu limit %lld "
			"data %zu vbuf %d/%zu\n",
			mode_name(&r), r.mode, r.threshold, (long long)r.limit,
			r.data_len, r.vbuf_kind, r.vbuf_size);
	if (r.undefined) {
		if (portable_survives(&r))
			undefined_play(&r);
		return 0;
	}
	fd0 = lowest_free_fd();
	if (open_sides(&r)) {
		for (i = 0; i < MAX_OPS && r.in.at < r.in.len; i++) {
			decode_op(&r, &op);
			step(&r, &op);
		}
		finish(&r);
		close_sides(&r);
	}
	check_clean(&r, fd0);
	return 0;
}
