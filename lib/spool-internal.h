/*
 * spool-internal.h - the one per-stream state and the helpers shared by
 * the files in lib/. Nothing here is exported: the version script is the ABI.
 */
#ifndef SPOOL_INTERNAL_H
#define SPOOL_INTERNAL_H

#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* What the mode string allowed; the cookie never sees the mode itself. */
enum {
	SPOOL_M_READ = 1,
	SPOOL_M_WRITE = 2,
	SPOOL_M_APPEND = 4,
	SPOOL_M_TRUNC = 8, /* "w": initial data is refused */
};

/* Largefile builds only (AC_SYS_LARGEFILE): off_t is 64 bits. */
#define SPOOL_OFF_MAX INT64_MAX
_Static_assert(sizeof(off_t) == 8, "off_t must be 64 bits");

/*
 * One spool. Invariants: while fd < 0 the contents are buf[0..size) with
 * size <= threshold and size <= cap, and pos is the stream's position
 * (it may lie past size). Once fd >= 0 the temp file holds the contents
 * and its offset is the position; buf is NULL and pos/size are unused.
 * All fields are guarded by the FILE lock of `fp`.
 */
struct spool {
	unsigned char *buf;
	size_t cap;
	off_t size;
	off_t pos;
	int fd;
	unsigned mode;
	size_t threshold;
	off_t limit;          /* 0: no cap */
	char *dir;            /* caller's directory, or NULL */
	FILE *fp;
	struct spool *next;   /* registry chain */
};

/* registry.c: the set of live spools, so foreign FILE*s are refused. */
int spool__register(struct spool *s);
void spool__unregister(struct spool *s);
struct spool *spool__lookup(FILE *fp);

/* tmpfile.c: a nameless, close-on-exec, 0600 file for the contents. */
int spool__tmpfile(const char *dir, int append);

/* spool.c: move the memory image to a temp file (no-op when on disk). */
int spool__roll(struct spool *s);
int spool__mem_resize(struct spool *s, off_t length);

#endif /* SPOOL_INTERNAL_H */
