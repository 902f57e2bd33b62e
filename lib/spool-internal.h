/* SPDX-License-Identifier: MIT */
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

#include "stdio-glibc.h"

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

/* A piece of the memory image past the head: bytes [start, start + len)
 * live at p, which is `skew` bytes into its block of len + 64. `fresh`:
 * its pages were not resident when it was allocated (prefault.c). */
struct spool_seg {
	unsigned char *p;
	size_t start;
	size_t len;
	size_t skew;
	int fresh;
};

/* The segments, allocated once the head is full (image.c, seg_add). */
struct spool_segs {
	size_t n;
	size_t cur;   /* the segment used last */
	size_t room;  /* the head's cap plus the segments' lengths */
	size_t ahead; /* image bytes below this need no mapping
			 ahead of writes (image.c, map_ahead) */
	struct spool_seg seg[];
};

/*
 * The live view of the contents, if any (contents.c). A view in memory
 * points into the head block of the image; while it does, `block` is
 * that block, which the image never frees or moves: when it must, it
 * carries on in a new block and gives this one to the view (`own`),
 * which frees it at spool_unview() or fclose(). On disk it is a mapping.
 */
struct spool_view {
	int live;
	size_t len;	/* the bytes it shows */
	void *block;	/* the image's head block the view is in */
	void *own;	/* a block the image gave up to the view */
	size_t own_len; /* its capacity (counted in the spool's mem) */
	void *map;	/* a mapping of the temp file, or NULL */
	size_t map_len;
};

/*
 * What only some spools need, allocated when one needs it (at open, or
 * at the first spool_view()), so that a plain spool costs no more than
 * it did before these existed: idle memory per open spool is a figure
 * servers watch (bench/README).
 */
struct spool_more {
	char *dir; /* caller's directory, or NULL */
	void (*on_rollover)(FILE *fp, void *arg);
	void *on_rollover_arg;
	char *iobuf; /* a secret spool's stdio buffer (secret.c) */
	struct spool_view view;
};

/*
 * One spool. Invariants: while fd < 0 the contents are the image's bytes
 * [0, size) with size <= threshold and size <= the room (cap, plus the
 * segments' lengths when there are any), and pos is the stream's
 * position (it may lie past size). The image is the head, buf[0..cap),
 * then the segments in order; the head is resized only while segs is
 * NULL, and segs is NULL or holds at least one segment.
 * Once fd >= 0 the temp file holds the contents and its offset is the
 * position; buf and segs are NULL, size is unused, and pos is where the
 * library last left the offset: only a hint, for where stdio's buffer
 * should end (the caller may move the offset through spool_fileno()).
 * An append moves it to the end, so there it is not even that.
 * All fields are guarded by the FILE lock of `fp`.
 */
struct spool {
	unsigned char *buf;
	size_t cap;
	struct spool_segs *segs;
	struct spool_stdio io; /* the glibc seam's state (stdio-glibc.h) */
	off_t size;
	off_t pos;
	size_t threshold;
	off_t limit; /* 0: no cap */
	size_t mem;  /* capacity of the blocks held for contents
			(budget.c) */
	size_t mem_peak;
	struct spool_more *more; /* NULL: none of it needed */
	FILE *fp;
	struct spool *next; /* registry chain */
	int fd;
	unsigned roll_failures;
	int last_error;
	unsigned char mode;
	unsigned char flags;   /* SPOOL_SECRET */
	unsigned char skew;    /* buf is 0 or 64 bytes into its block of
				  cap + 64 (image.c, mem_realloc) */
	unsigned char linked;  /* the temp file also has a name now
				  (spool_persist): copy it before a change */
	unsigned char in_hook; /* on_rollover is running */
};
_Static_assert(sizeof(struct spool) <= 184,
	       "a spool's malloc chunk stays at 192 bytes");

/* The view and the options, or NULL: none was ever needed. */
static inline struct spool_view *spool__view(const struct spool *s)
{
	return s->more != NULL ? &s->more->view : NULL;
}
/* The view, if one is live; NULL otherwise. */
static inline struct spool_view *spool__live_view(const struct spool *s)
{
	struct spool_view *v = spool__view(s);

	return v != NULL && v->live ? v : NULL;
}
static inline const char *spool__dir(const struct spool *s)
{
	return s->more != NULL ? s->more->dir : NULL;
}
/* s->more, made now if need be; NULL with ENOMEM. */
struct spool_more *spool__more(struct spool *s);

/* A write about to be stored: n bytes from src at `at`; `next`: where
 * the write after it will most likely come from (stdio's buffer), or
 * NULL. The image is placed to copy fast from both (image.c). */
struct store {
	const void *src;
	off_t at;
	size_t n;
	const void *next;
};

/* image.c: the memory image, [0, size) of the contents. It never calls
 * stdio: a buffer lent to stdio is taken back (spool.c) before any call
 * here that can move or free memory (reserve past the room, resize,
 * free). */
size_t spool__img_room(const struct spool *s);
unsigned char *spool__img_piece(struct spool *s, size_t at, size_t *len);
void spool__img_put(struct spool *s, size_t at, const void *src, size_t n);
void spool__img_get(struct spool *s, size_t at, void *dst, size_t n);
int spool__img_reserve(struct spool *s, size_t need, const struct store *w);
int spool__img_store(struct spool *s, const struct store *w);
int spool__img_resize(struct spool *s, off_t length);
int spool__img_write(struct spool *s, int fd, size_t len);
int spool__img_send(struct spool *s, int fd, off_t *at, size_t end);
void spool__img_read_ahead(struct spool *s);
void spool__img_free(struct spool *s);

/* image.c: a block the image gave up to a view, freed at unview. */
void spool__img_drop_view_block(struct spool *s);

/* budget.c: the memory held for contents. take: -1 (errno untouched)
 * when n more would pass the budget. */
int spool__mem_take(struct spool *s, size_t n);
void spool__mem_give(struct spool *s, size_t n);
int spool__over_budget(void);
/* What image.c returns when growth would pass the budget: the spool
 * must roll over instead (spool.c, spool__roll_after()). */
#define SPOOL_OVER_BUDGET (-2)

/* secret.c: memory for a SPOOL_SECRET spool: mapped, locked where the
 * process may, kept out of core dumps, and wiped before it is freed. */
void *spool__secret_alloc(size_t n);
void spool__secret_free(void *p, size_t n);
int spool__secret_setbuf(struct spool *s);
void spool__secret_wipe_file(int fd);

/* prefault.c: are a new block's pages fresh; map them now (hints). */
int spool__fresh(const void *p, size_t len);
void spool__populate(unsigned char *p, size_t len);

/* disk.c: the temp file, written and read through its descriptor. */
size_t spool__fd_write(int fd, const void *buf, size_t n);
ssize_t spool__fd_read(int fd, void *buf, size_t n);
ssize_t spool__fd_pread(int fd, void *buf, size_t n, off_t at);
int spool__disk_create(struct spool *s, const void *data, size_t len);

/* disk.c: copy [*off, end) of file `in` to `out` at its position, the
 * kernel copying when it can; *off advances by what was written. */
int spool__fd_send(int in, off_t *off, off_t end, int out);

/* contents.c: the view's share of fclose(). */
void spool__view_end(struct spool *s);
/* image.c: join the image into one block (for a view). */
int spool__img_join(struct spool *s);

/* persist.c: before the temp file changes, move a linked spool to a new
 * one, so that the file at the persisted path never changes. */
int spool__unshare(struct spool *s);

/* control.c: the public functions' common steps. */
struct spool *spool__acquire(FILE *fp);
int spool__release(struct spool *s, int rc);
off_t spool__contents_size(const struct spool *s);
int spool__flush_output(FILE *fp);

/* registry.c: the set of live spools, so foreign FILE*s are refused. */
int spool__register(struct spool *s);
void spool__unregister(struct spool *s);
struct spool *spool__lookup(FILE *fp);

/* tmpfile.c: a nameless, close-on-exec, 0600 file for the contents. */
int spool__tmpfile(const char *dir, int append);

/* spool.c: move the memory image to a temp file (no-op when on disk);
 * resize it, stdio's lent buffer taken back first. */
int spool__roll(struct spool *s);
int spool__roll_instead(struct spool *s);
int spool__roll_after(struct spool *s, int rc);
int spool__mem_resize(struct spool *s, off_t length);
int spool__mem_join(struct spool *s);
/* mode.c: fopen()'s mode string as SPOOL_M_* bits; 0 if invalid. */
unsigned spool__parse_mode(const char *mode);

/*
 * The fault-injection seam: every call that can fail goes through one of
 * these names. Normally they are the libc functions themselves; built
 * with SPOOL_FAULT_INJECTION (tests only) they are sys.c's wrappers,
 * which can make the Nth call fail.
 */
#ifdef SPOOL_FAULT_INJECTION
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/uio.h>

struct spool__faults {
	int armed;	      /* count and maybe fail calls */
	long calls;	      /* calls seen while armed */
	long fail_at;	      /* fail this call (1-based); 0: none */
	int err;	      /* errno to fail with; 0: the call's default */
	int hit;	      /* errno of the failure once injected */
	const char *hit_name; /* which call failed */
	/* called with each mapping spool__munmap() is about to unmap */
	void (*on_munmap)(const void *p, size_t len);
};
extern struct spool__faults spool__faults;

void *spool__calloc(size_t n, size_t size);
void *spool__malloc(size_t n);
void *spool__realloc(void *p, size_t n);
char *spool__strdup(const char *s);
FILE *spool__fopencookie(void *cookie, const char *mode,
			 cookie_io_functions_t io);
int spool__open(const char *path, int flags, mode_t mode);
int spool__mkostemp(char *tmpl, int flags);
int spool__unlink(const char *path);
int spool__stat(const char *path, struct stat *st);
int spool__faccessat(int dirfd, const char *path, int mode, int flags);
ssize_t spool__read(int fd, void *buf, size_t n);
ssize_t spool__write(int fd, const void *buf, size_t n);
ssize_t spool__writev(int fd, const struct iovec *iov, int n);
off_t spool__lseek(int fd, off_t off, int whence);
int spool__fstat(int fd, struct stat *st);
int spool__ftruncate(int fd, off_t length);
int spool__mincore(void *p, size_t len, unsigned char *vec);
int spool__madvise(void *p, size_t len, int advice);
ssize_t spool__pread(int fd, void *buf, size_t n, off_t at);
void *spool__mmap(void *p, size_t len, int prot, int flags, int fd, off_t at);
ssize_t spool__copy_file_range(int in, off_t *in_off, int out, off_t *out_off,
			       size_t n, unsigned flags);
ssize_t spool__sendfile(int out, int in, off_t *off, size_t n);
int spool__linkat(int olddir, const char *old, int newdir, const char *new,
		  int flags);
int spool__rename(const char *old, const char *new);
int spool__fsync(int fd);
int spool__fchmod(int fd, mode_t mode);
int spool__dup3(int old, int new, int flags);
int spool__munmap(void *p, size_t len);
int spool__fstatfs(int fd, struct statfs *st);
#else
#define spool__calloc calloc
#define spool__malloc malloc
#define spool__realloc realloc
#define spool__strdup strdup
#define spool__fopencookie fopencookie
#define spool__open open
#define spool__mkostemp mkostemp
#define spool__unlink unlink
#define spool__stat stat
#define spool__faccessat faccessat
#define spool__read read
#define spool__write write
#define spool__writev writev
#define spool__lseek lseek
#define spool__fstat fstat
#define spool__ftruncate ftruncate
#define spool__mincore mincore
#define spool__madvise madvise
#define spool__pread pread
#define spool__mmap mmap
#define spool__copy_file_range copy_file_range
#define spool__sendfile sendfile
#define spool__linkat linkat
#define spool__rename rename
#define spool__fsync fsync
#define spool__fchmod fchmod
#define spool__dup3 dup3
#define spool__munmap munmap
#define spool__fstatfs fstatfs
#endif

#endif /* SPOOL_INTERNAL_H */
