/* SPDX-License-Identifier: MIT */
/*
 * engine.c - one stdio or spool call played on a spool or on its oracle
 * (see engine.h). Returns say only what the call did; comparing the
 * sides, and what a difference means, is the harness's business.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine.h"
#include "spool.h"

__attribute__((format(printf, 2, 3), noreturn)) static void
harness_fail(const struct engine *e, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	e->fail(e, msg);
	abort(); /* the hook must not return; if it does, stop here */
}

/* Output calls. Returns whether the call failed. */
static int apply_write(const struct engine *e, struct side *sd,
		       const struct op *op, struct outcome *o)
{
	FILE *fp = sd->fp;

	switch (op->kind) {
	case OP_FWRITE:
		o->rc = (long long)fwrite(op->data, 1, op->n, fp);
		return o->rc < (long long)op->n;
	case OP_FPRINTF:
		o->rc = e->print(fp, op);
		return o->rc < 0;
	default:
		o->rc = op->variant & 1 ? putc(op->c, fp) : fputc(op->c, fp);
		return o->rc == EOF;
	}
}

/* Input calls; what they return is kept for comparison. */
static int apply_read(struct side *sd, const struct op *op, struct outcome *o)
{
	FILE *fp = sd->fp;
	ssize_t n;
	char *p;

	o->data = sd->buf;
	switch (op->kind) {
	case OP_FREAD:
		o->rc = (long long)fread(sd->buf, 1, op->n, fp);
		o->len = (size_t)o->rc;
		return ferror(fp);
	case OP_GETC:
		o->rc = op->variant & 1 ? getc(fp) : fgetc(fp);
		return o->rc == EOF && ferror(fp);
	case OP_FGETS:
		/* The whole buffer counts: fgets output may hold NULs. */
		memset(sd->buf, 0xa5, op->n);
		p = fgets((char *)sd->buf, (int)op->n, fp);
		o->rc = p == NULL ? 0 : p == (char *)sd->buf ? 1 : 2;
		o->len = op->n;
		return p == NULL && ferror(fp);
	case OP_GETLINE:
		n = getline(&sd->line, &sd->line_cap, fp);
		o->rc = n;
		o->data = (const unsigned char *)sd->line;
		o->len = n > 0 ? (size_t)n : 0;
		return n < 0 && ferror(fp);
	default:
		o->rc = ungetc(op->c, fp);
		return 0; /* C defines no errno for ungetc */
	}
}

static int apply_position(struct side *sd, const struct op *op,
			  struct outcome *o)
{
	FILE *fp = sd->fp;

	switch (op->kind) {
	case OP_SEEK:
		o->rc = fseeko(fp, op->off, op->whence);
		return o->rc != 0;
	case OP_TELL:
		o->rc = ftello(fp);
		return o->rc < 0;
	case OP_FLUSH:
		o->rc = fflush(fp);
		return o->rc != 0;
	case OP_REWIND:
		rewind(fp);
		return 0;
	default:
		clearerr(fp);
		return 0;
	}
}

/*
 * The oracle's counterpart of spool_size: pending output is flushed (as
 * the spool does; a full fflush would also drop read-ahead and pushback,
 * which spool_size must keep) and the file's size is the answer.
 */
long long engine_real_size(FILE *fp)
{
	struct stat st;

	if (__fpending(fp) > 0 && fflush(fp) == EOF)
		return -1;
	if (fstat(fileno(fp), &st) < 0)
		return -1;
	return (long long)st.st_size;
}

/*
 * The oracle's counterpart of spool_truncate: fflush, then ftruncate on
 * the descriptor. Calls that must fail (a negative length, a stream not
 * open for writing) fail before touching the stream, on both sides.
 */
static long long real_truncate(const struct engine *e, FILE *fp, off_t len)
{
	if (len >= 0 && e->writable && fflush(fp) == EOF)
		return -1;
	return ftruncate(fileno(fp), len);
}

/* The contents from the spool itself: spool_getvalue() (how 1) or a
 * view's bytes (2), into sd->out; its length in *len. */
static int spool_whole(const struct engine *e, struct side *sd, int how,
		       size_t *len)
{
	const void *p;

	if (how == 1) {
		sd->out = (unsigned char *)spool_getvalue(sd->fp, len);
		if (sd->out == NULL)
			return -1;
		if (sd->out[*len] != '\0')
			harness_fail(
			    e, "spool_getvalue: no NUL after %zu bytes", *len);
		return 0;
	}
	if (spool_view(sd->fp, &p, len) != 0)
		return -1;
	sd->out = malloc(*len + 1);
	if (sd->out == NULL)
		harness_fail(e, "harness: out of memory");
	memcpy(sd->out, p, *len);
	if (spool_unview(sd->fp) != 0)
		harness_fail(e, "spool_unview: %s", strerror(errno));
	return 0;
}

/*
 * The contents got whole: spool_getvalue() or a view's bytes on the
 * spool, the file read back (after the flush spool_size would do) on an
 * oracle. rc is the size, as spool_size's; the bytes are compared too,
 * and the usual checks after the call prove the position, flags and
 * pushback unchanged.
 */
static int apply_contents(const struct engine *e, struct side *sd, int how,
			  struct outcome *o)
{
	size_t len;

	free(sd->out);
	sd->out = NULL;
	if (!sd->is_spool) {
		o->rc = engine_real_size(sd->fp);
		if (o->rc < 0)
			return 1;
		sd->out = engine_pread_all(e, sd->rfd, (off_t)o->rc);
		len = (size_t)o->rc;
	} else if (spool_whole(e, sd, how, &len) < 0) {
		o->rc = -1;
		return 1;
	}
	o->rc = (long long)len;
	o->data = sd->out;
	o->len = len;
	return 0;
}

/* The spool's own functions; on the oracle side: what a file gives. */
static int apply_spool(const struct engine *e, struct side *sd,
		       const struct op *op, struct outcome *o)
{
	FILE *fp = sd->fp;

	switch (op->kind) {
	case OP_TRUNCATE:
		o->rc = sd->is_spool ? spool_truncate(fp, op->off)
				     : real_truncate(e, fp, op->off);
		return o->rc != 0;
	case OP_ROLLOVER:
		if (!sd->is_spool)
			o->rc = 0; /* a file is on disk already */
		else if (op->variant & 1)
			o->rc = spool_fileno(fp) >= 0 ? 0 : -1;
		else
			o->rc = spool_rollover(fp);
		return o->rc != 0;
	default:
		if ((op->variant & 3) == 1 || (op->variant & 3) == 2)
			return apply_contents(e, sd, op->variant & 3, o);
		o->rc = sd->is_spool ? (long long)spool_size(fp)
				     : engine_real_size(fp);
		return o->rc < 0;
	}
}

/* Play op on one side; o gets what it returned, its errno if it failed
 * and the bytes it read. */
void engine_apply(const struct engine *e, struct side *sd, const struct op *op,
		  struct outcome *o)
{
	int failed;

	memset(o, 0, sizeof(*o));
	errno = 0;
	switch (op->kind) {
	case OP_FWRITE:
	case OP_FPRINTF:
	case OP_PUTC:
		failed = apply_write(e, sd, op, o);
		break;
	case OP_FREAD:
	case OP_GETC:
	case OP_FGETS:
	case OP_GETLINE:
	case OP_UNGETC:
		failed = apply_read(sd, op, o);
		break;
	case OP_TRUNCATE:
	case OP_ROLLOVER:
	case OP_SIZE:
		failed = apply_spool(e, sd, op, o);
		break;
	default:
		failed = apply_position(sd, op, o);
		break;
	}
	o->err = failed ? errno : 0;
}

enum io_dir engine_io_dir(int kind)
{
	switch (kind) {
	case OP_FWRITE:
	case OP_FPRINTF:
	case OP_PUTC:
		return IO_WRITE;
	case OP_FREAD:
	case OP_GETC:
	case OP_FGETS:
	case OP_GETLINE:
	case OP_UNGETC:
		return IO_READ;
	default:
		return IO_NONE;
	}
}

/* Did this call consume or discard a pending ungetc? */
int engine_drops_pushback(const struct op *op, const struct outcome *o)
{
	switch (op->kind) {
	case OP_GETC:
		return o->rc != EOF;
	case OP_FREAD:
	case OP_GETLINE:
		return o->rc > 0;
	case OP_FGETS:
		return op->n >= 2 && o->rc == 1;
	case OP_SEEK:
	case OP_FLUSH:
	case OP_TRUNCATE:
		return o->rc == 0;
	case OP_REWIND:
		return 1;
	default:
		return 0;
	}
}

/*
 * ftruncate on a descriptor not open for writing fails with "EBADF or
 * EINVAL" (POSIX; Linux says EINVAL); the spool says EBADF. Either is
 * right, so for that one case the errno need not be the same.
 */
int engine_same_errno(const struct engine *e, const struct op *op,
		      int spool_err, int real_err)
{
	if (spool_err == real_err)
		return 1;
	return op->kind == OP_TRUNCATE && !e->writable && op->off >= 0 &&
	       spool_err == EBADF && real_err == EINVAL;
}

/* The oracle's logical end after a write: its ftello there, or its file
 * size if larger. ftello on a file stream only asks the kernel for the
 * offset; the spool side is left alone, so this changes nothing that
 * is compared. */
off_t engine_oracle_end(FILE *real)
{
	struct stat st;
	off_t end = ftello(real);

	if (fstat(fileno(real), &st) == 0 && st.st_size > end)
		end = st.st_size;
	return end;
}

/* pread all `size` bytes behind fd into a fresh buffer (one byte more,
 * for a NUL if the caller wants one). */
unsigned char *engine_pread_all(const struct engine *e, int fd, off_t size)
{
	unsigned char *p = malloc((size_t)size + 1);
	off_t done = 0;
	ssize_t n;

	if (p == NULL)
		harness_fail(e, "harness: out of memory");
	while (done < size) {
		n = pread(fd, p + done, (size_t)(size - done), done);
		if (n <= 0)
			harness_fail(e, "pread: %s",
				     n < 0 ? strerror(errno) : "EOF");
		done += n;
	}
	return p;
}
