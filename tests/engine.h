/* SPDX-License-Identifier: MIT */
/*
 * engine.h - one stdio or spool call played on a side: a spool, or the
 * glibc file stream that is its oracle. tests/check_diff.c and
 * fuzz/fuzz_spool.c both choose calls (from a seeded generator, from
 * the fuzzer's bytes), play each on every side with engine_apply() and
 * compare the outcomes; the playing is the same, so it lives here.
 */
#ifndef SPOOL_TEST_ENGINE_H
#define SPOOL_TEST_ENGINE_H

#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

/*
 * The calls. The order is the fuzzer's: the low nibble of an op byte
 * is one of these, so the corpus (fuzz/corpus) depends on it. Harnesses
 * number their own kinds from OP_NKINDS on.
 */
enum op_kind {
	OP_FWRITE,
	OP_FREAD,
	OP_PUTC,
	OP_GETC,
	OP_FGETS,
	OP_UNGETC,
	OP_SEEK,
	OP_TELL,
	OP_FLUSH,
	OP_REWIND,
	OP_CLEARERR,
	OP_TRUNCATE,
	OP_ROLLOVER,
	OP_SIZE,
	OP_FPRINTF,
	OP_GETLINE,
	OP_NKINDS
};

/* What the stream did last, for C's rules between output and input. */
enum io_dir { IO_NONE, IO_READ, IO_WRITE };

/*
 * One call, its arguments chosen once so that every side gets the same.
 * variant: bit 0 picks putc over fputc, getc over fgetc, spool_fileno
 * over spool_rollover; for OP_SIZE, variant & 3 of 1 is spool_getvalue
 * and 2 a view; for OP_FPRINTF the harness's print hook decides.
 */
struct op {
	int kind; /* enum op_kind, or a harness's own */
	int variant;
	size_t n;  /* bytes to write or read, fgets size, text length */
	off_t off; /* seek offset, truncate length */
	int whence;
	int c;	  /* fputc and ungetc argument */
	long arg; /* fprintf number */
	const unsigned char *data;
};

struct outcome {
	long long rc;
	int err; /* errno when the call failed, else 0 */
	const unsigned char *data;
	size_t len;
};

struct side {
	FILE *fp;
	int is_spool;
	const char *name;
	unsigned char *buf; /* what reads returned */
	char *line;	    /* getline's buffer */
	size_t line_cap;
	char *vbuf;	    /* setvbuf buffer, freed after fclose */
	int rfd;	    /* the oracle's file, opened read-only */
	unsigned char *out; /* the contents got whole (OP_SIZE variants) */
};

/* What the engine needs from the harness that runs it. */
struct engine {
	int writable; /* the mode allows output */
	/* OP_FPRINTF: print op's format on fp, return what fprintf does. */
	int (*print)(FILE *fp, const struct op *op);
	/* The harness itself failed (out of memory, pread): report msg
	 * and do not return. */
	void (*fail)(const struct engine *e, const char *msg);
};

void engine_apply(const struct engine *e, struct side *sd, const struct op *op,
		  struct outcome *o);
enum io_dir engine_io_dir(int kind);
int engine_drops_pushback(const struct op *op, const struct outcome *o);
int engine_same_errno(const struct engine *e, const struct op *op,
		      int spool_err, int real_err);
long long engine_real_size(FILE *fp);
off_t engine_oracle_end(FILE *real);
unsigned char *engine_pread_all(const struct engine *e, int fd, off_t size);

#endif /* SPOOL_TEST_ENGINE_H */
