/*
 * spool.c - the spool(1) command: soak up standard input, then write it
 * out once the input has ended, like moreutils sponge(1), but with
 * bounded memory: past the threshold the input waits in a libspool
 * spool's nameless temporary file instead of in RAM.
 *
 * FILE is opened only after every byte of input is safely in the spool,
 * so a failed read or a failed spill never touches it. It is replaced
 * atomically where it can be (a temp file beside it, renamed over it),
 * and written in place where it cannot.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spool.h"

/*
 * Default in-memory threshold. Typical in-place edits (configuration
 * files, sorted lists, JSON documents) fit and never touch the disk; and
 * 8 MiB is harmless even on a small machine or in a tight container.
 */
#define DEFAULT_THRESHOLD ((size_t)8 << 20)

/* Exit statuses: 1 for I/O errors, 2 for usage errors. */
enum { EXIT_IO = 1, EXIT_USAGE = 2 };

/* Internal: "replace() cannot rename here, copy into FILE instead". */
enum { FALLBACK = -1 };

struct config {
	size_t threshold;
	const char *dir;  /* spill directory, NULL = $TMPDIR or P_tmpdir */
	const char *file; /* NULL = standard output */
	int append;
};

/* One read(2) or write(2): large enough that syscalls cost nothing. */
static char block[128 * 1024];
static char stdio_buf[128 * 1024]; /* the spool's stdio buffer */

static mode_t saved_umask;

/*
 * The replacement file being written beside FILE. A fatal signal while
 * it exists removes it; the signals are blocked while the name is
 * created or retired so that the flag and the file agree.
 */
static char tmp_path[PATH_MAX];
static volatile sig_atomic_t tmp_live;
static sigset_t fatal_signals;

static int io_error(const char *name, int err)
{
	fprintf(stderr, "spool: %s: %s\n", name, strerror(err));
	return EXIT_IO;
}

static int try_help(void)
{
	fputs("Try 'spool --help' for more information.\n", stderr);
	return EXIT_USAGE;
}

static int usage_error(const char *what, const char *arg)
{
	fprintf(stderr, "spool: %s '%s'\n", what, arg);
	return try_help();
}

static int show_help(void)
{
	fputs("Usage: spool [-a] [-m SIZE] [-d DIR] [FILE]\n"
	      "Soak up standard input; once it has ended, write it to FILE\n"
	      "(or to standard output), so a pipeline can rewrite the file\n"
	      "it reads. Past SIZE the input waits in a nameless temporary\n"
	      "file, so memory use stays bounded.\n"
	      "\n"
	      "  -a, --append       append to FILE instead of replacing it\n"
	      "  -m, --memory=SIZE  keep at most SIZE bytes in memory"
	      " (default 8M);\n"
	      "                     suffixes K, M, G are powers of 1024\n"
	      "  -d, --dir=DIR      put the temporary file in DIR\n"
	      "                     (default $TMPDIR, else " P_tmpdir ")\n"
	      "  -h, --help         show this help and exit\n"
	      "      --version      show the version and exit\n"
	      "\n"
	      "FILE is replaced atomically (a temporary file beside it,\n"
	      "renamed over it) when possible, keeping its permissions;\n"
	      "symlinks and non-regular files are written in place.\n"
	      "Exit status: 0 success, 1 I/O error, 2 usage error.\n",
	      stdout);
	return fflush(stdout) == EOF ? io_error("standard output", errno) : 0;
}

static int show_version(void)
{
	printf("spool (libspool) %s\n", SPOOL_VERSION);
	return fflush(stdout) == EOF ? io_error("standard output", errno) : 0;
}

/*
 * "64K", "8M", "1G" (powers of 1024, either case) or plain bytes; 0
 * means on disk from the first byte. Returns 0, or -1 for anything else.
 */
static int parse_size(const char *s, size_t *out)
{
	unsigned shift = 0;
	uintmax_t v;
	char *end;

	/* strtoumax() would accept leading blanks and a minus sign. */
	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoumax(s, &end, 10);
	if (errno != 0)
		return -1;
	switch (*end) {
	case 'k':
	case 'K':
		shift = 10;
		break;
	case 'm':
	case 'M':
		shift = 20;
		break;
	case 'g':
	case 'G':
		shift = 30;
		break;
	}
	if (shift != 0)
		end++;
	/* Overflow guard: the scaled size must fit in a size_t. */
	if (*end != '\0' || v > (SIZE_MAX >> shift))
		return -1;
	*out = (size_t)v << shift;
	return 0;
}

/*
 * Fill *cf from the command line. Returns -1 to go on, or the exit
 * status for --help, --version and usage errors.
 */
static int parse_args(int argc, char **argv, struct config *cf)
{
	static const struct option longopts[] = {
	    {"append", no_argument, NULL, 'a'},
	    {"memory", required_argument, NULL, 'm'},
	    {"dir", required_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	int c;

	/* getopt's messages start with argv[0]; under libtool that is a
	 * hidden path, and users know the command as "spool". */
	if (argc > 0)
		argv[0] = (char *)"spool";
	*cf = (struct config){.threshold = DEFAULT_THRESHOLD};
	while ((c = getopt_long(argc, argv, "am:d:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'a':
			cf->append = 1;
			break;
		case 'm':
			if (parse_size(optarg, &cf->threshold) < 0)
				return usage_error("invalid size", optarg);
			break;
		case 'd':
			cf->dir = optarg;
			break;
		case 'h':
			return show_help();
		case 'V':
			return show_version();
		default: /* getopt has said what is wrong */
			return try_help();
		}
	}
	if (argc - optind > 1)
		return usage_error("extra operand", argv[optind + 1]);
	cf->file = optind < argc ? argv[optind] : NULL;
	return -1;
}

/*
 * A closed standard descriptor would be handed out by the next open():
 * input would then be read from, or messages written into, our own temp
 * file. A closed input (or output, when it is the target) is an error;
 * otherwise the hole is plugged with /dev/null.
 */
static int check_std_fds(const struct config *cf)
{
	static const char *const names[] = {"standard input", "standard output",
					    "standard error"};
	int fd;

	for (fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) >= 0)
			continue;
		if (fd == 0 || (fd == 1 && cf->file == NULL))
			return io_error(names[fd], EBADF);
		if (open("/dev/null", O_RDWR) != fd)
			return EXIT_IO;
	}
	return 0;
}

static void on_fatal_signal(int sig)
{
	if (tmp_live)
		unlink(tmp_path);
	raise(sig); /* SA_RESETHAND: now the default action, i.e. death */
}

/* Catch the signals that kill, except those the caller ignores (nohup). */
static void trap_signals(void)
{
	static const int sigs[] = {SIGHUP,  SIGINT,  SIGQUIT, SIGTERM,
				   SIGPIPE, SIGXCPU, SIGXFSZ};
	struct sigaction sa = {.sa_handler = on_fatal_signal,
			       .sa_flags = SA_RESETHAND | SA_NODEFER};
	struct sigaction old;
	size_t i;

	sigemptyset(&fatal_signals);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		if (sigaction(sigs[i], NULL, &old) < 0 ||
		    old.sa_handler == SIG_IGN)
			continue;
		sigaddset(&fatal_signals, sigs[i]);
		sigaction(sigs[i], &sa, NULL);
	}
}

static void block_signals(sigset_t *saved)
{
	sigprocmask(SIG_BLOCK, &fatal_signals, saved);
}

static void restore_signals(const sigset_t *saved)
{
	sigprocmask(SIG_SETMASK, saved, NULL);
}

/* write(2) all of buf, over EINTR and short counts; -1 with errno. */
static int write_all(int fd, const char *buf, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, buf, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		if (w == 0) { /* no progress and no error: call it full */
			errno = ENOSPC;
			return -1;
		}
		buf += w;
		n -= (size_t)w;
	}
	return 0;
}

static int spill_error(const struct config *cf, int err)
{
	char name[PATH_MAX + 32];

	if (cf->dir == NULL)
		return io_error("temporary file", err);
	snprintf(name, sizeof(name), "temporary file in %s", cf->dir);
	return io_error(name, err);
}

/*
 * Read all of standard input into the spool. Read errors and spill
 * errors (a missing or full temp directory) end the run here, before
 * the output has been touched. The final fflush() makes a late spill
 * error show up now rather than after FILE was opened.
 */
static int soak(FILE *sp, const struct config *cf)
{
	ssize_t n;

	for (;;) {
		n = read(STDIN_FILENO, block, sizeof(block));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return io_error("standard input", errno);
		if (n == 0)
			break;
		if (fwrite(block, 1, (size_t)n, sp) != (size_t)n)
			return spill_error(cf, errno);
	}
	if (fflush(sp) == EOF)
		return spill_error(cf, errno);
	return 0;
}

/* Copy the whole spool to fd. Returns 0 or EXIT_IO, message printed. */
static int copy_out(FILE *sp, int fd, const char *name)
{
	size_t n;

	rewind(sp);
	while ((n = fread(block, 1, sizeof(block), sp)) > 0)
		if (write_all(fd, block, n) < 0)
			return io_error(name, errno);
	if (ferror(sp))
		return io_error("temporary file", errno);
	return 0;
}

/*
 * The fallback: write into FILE itself, which is opened (and so
 * truncated) only now that all input is in the spool. This follows a
 * symlink and keeps it, keeps FILE's inode, owner and mode, and works
 * for FIFOs and devices; but it is not atomic.
 */
static int copy_into(FILE *sp, const char *file, int flag)
{
	int flags = O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY | flag;
	int fd, rc;

	do
		fd = open(file, flags, 0666);
	while (fd < 0 && errno == EINTR); /* a FIFO waits for its reader */
	if (fd < 0)
		return io_error(file, errno);
	rc = copy_out(sp, fd, file);
	if (close(fd) < 0 && rc == 0)
		rc = io_error(file, errno);
	return rc;
}

/* Refusals that copying into FILE may get around: a directory we may
 * not write (EACCES, EPERM, EROFS), a sticky directory or another
 * owner's file (EPERM), a bind-mounted FILE (EBUSY, EXDEV). */
static int can_fall_back(int err)
{
	return err == EACCES || err == EPERM || err == EROFS || err == EBUSY ||
	       err == EXDEV;
}

/*
 * Put "DIR/.spool-" in tmp_path, DIR being FILE's directory, followed by
 * `tail`. Returns 0, or -1 with ENAMETOOLONG.
 */
static int temp_name(const char *file, const char *tail)
{
	const char *slash = strrchr(file, '/');
	int dirlen = slash == NULL ? 0 : (int)(slash - file + 1);
	int n;

	n = snprintf(tmp_path, sizeof(tmp_path), "%.*s.spool-%s", dirlen, file,
		     tail);
	if (n < 0 || (size_t)n >= sizeof(tmp_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/* Create a new, empty temp file beside FILE, named in tmp_path. */
static int make_temp(const char *file)
{
	sigset_t saved;
	int fd;

	if (temp_name(file, "XXXXXX") < 0)
		return -1;
	block_signals(&saved);
	fd = mkostemp(tmp_path, O_CLOEXEC);
	tmp_live = fd >= 0;
	restore_signals(&saved);
	return fd;
}

/* Give the nameless file behind fd the name tmp_path: directly when we
 * may (CAP_DAC_READ_SEARCH), else through /proc. */
static int link_fd(int fd)
{
	char proc[64];

	if (linkat(fd, "", AT_FDCWD, tmp_path, AT_EMPTY_PATH) == 0)
		return 0;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	return linkat(AT_FDCWD, proc, AT_FDCWD, tmp_path, AT_SYMLINK_FOLLOW);
}

/* Rename the temp file over FILE, or with FILE == NULL remove it.
 * Returns the result of that call, errno kept. */
static int retire_temp(const char *file)
{
	sigset_t saved;
	int rc, err;

	block_signals(&saved);
	rc = file == NULL ? unlink(tmp_path) : rename(tmp_path, file);
	err = errno;
	if (file == NULL || rc == 0)
		tmp_live = 0;
	restore_signals(&saved);
	errno = err;
	return rc;
}

/*
 * FILE's owner and permission bits, or for a new FILE the mode open(2)
 * would have given it (0666 & ~umask). The owner is best effort: only
 * root may give a file away, and others end up owning the new FILE, as
 * with sponge. chown comes first because it clears set-ID bits.
 */
static int set_attrs(int fd, const struct stat *st)
{
	if (st == NULL)
		return fchmod(fd, 0666 & ~saved_umask);
	if (fchown(fd, st->st_uid, st->st_gid) < 0) {
		/* Not permitted: keep our own ownership. */
	}
	return fchmod(fd, st->st_mode & 07777);
}

/*
 * Fast path for input that has spilled: the spool's nameless temp file
 * already holds every byte, so when it is on FILE's file system it is
 * given FILE's attributes and a name beside FILE instead of being
 * copied. Any failure (another file system, a temp file that was
 * created with a name and unlinked, no /proc) only means copying.
 * Returns 0 with tmp_path naming the file, or -1.
 */
static int link_spill(FILE *sp, const char *file, const struct stat *st)
{
	char tail[64];
	sigset_t saved;
	int fd, i, rc;

	if (spool_is_rolled(sp) != 1)
		return -1;
	fd = spool_fileno(sp); /* owned by the spool: not closed here */
	if (fd < 0 || set_attrs(fd, st) < 0)
		return -1;
	for (i = 0; i < 100; i++) { /* linkat() has no mkstemp() */
		snprintf(tail, sizeof(tail), "%ld-%d", (long)getpid(), i);
		if (temp_name(file, tail) < 0)
			return -1;
		block_signals(&saved);
		rc = link_fd(fd);
		tmp_live = rc == 0;
		restore_signals(&saved);
		if (rc == 0 || errno != EEXIST)
			return rc;
	}
	return -1;
}

/*
 * The copy path: a new temp file beside FILE with FILE's attributes,
 * filled from the spool. Returns 0 with tmp_path naming it, FALLBACK
 * when the directory refuses it, or EXIT_IO with the file removed.
 */
static int write_temp(FILE *sp, const char *file, const struct stat *st)
{
	int fd, rc;

	fd = make_temp(file);
	if (fd < 0)
		return can_fall_back(errno) ? FALLBACK : io_error(file, errno);
	rc = set_attrs(fd, st) < 0 ? io_error(file, errno)
				   : copy_out(sp, fd, file);
	if (close(fd) < 0 && rc == 0)
		rc = io_error(file, errno);
	if (rc != 0)
		retire_temp(NULL);
	return rc;
}

/*
 * Atomic replacement: a complete temp file beside FILE is renamed over
 * it, so that readers see the old contents or the new, never a mix,
 * and any error leaves FILE untouched. Returns 0, EXIT_IO, or FALLBACK
 * when the directory refuses the temp file or the rename.
 */
static int replace(FILE *sp, const char *file, const struct stat *st)
{
	int rc, err;

	if (link_spill(sp, file, st) < 0) {
		rc = write_temp(sp, file, st);
		if (rc != 0)
			return rc;
	}
	if (retire_temp(file) == 0)
		return 0;
	err = errno;
	retire_temp(NULL);
	return can_fall_back(err) ? FALLBACK : io_error(file, err);
}

/*
 * Write the spool to FILE: appended with -a (sponge -a), else replaced.
 * Only a regular file, or a name that does not exist yet, is replaced
 * by rename; a symlink is followed and kept, a FIFO or device written.
 */
static int write_file(FILE *sp, const struct config *cf)
{
	struct stat st;
	int rc = FALLBACK;

	if (cf->append)
		return copy_into(sp, cf->file, O_APPEND);
	if (lstat(cf->file, &st) == 0) {
		if (S_ISREG(st.st_mode))
			rc = replace(sp, cf->file, &st);
	} else if (errno == ENOENT) {
		rc = replace(sp, cf->file, NULL);
	} else {
		return io_error(cf->file, errno);
	}
	if (rc == FALLBACK)
		rc = copy_into(sp, cf->file, O_TRUNC);
	return rc;
}

int main(int argc, char **argv)
{
	struct spool_options o = {0};
	struct config cf;
	FILE *sp;
	int rc;

	rc = parse_args(argc, argv, &cf);
	if (rc >= 0)
		return rc;
	rc = check_std_fds(&cf);
	if (rc != 0)
		return rc;
	saved_umask = umask(0);
	umask(saved_umask);
	trap_signals();

	o.threshold = cf.threshold;
	o.dir = cf.dir;
	sp = spool_fopen_opts(&o, "w+");
	if (sp == NULL)
		return io_error("cannot open spool", errno);
	/* glibc's fread() on a cookie stream always goes through the stdio
	 * buffer, 8 KiB by default: one read(2) of the spill file per 8 KiB.
	 * A buffer the size of our blocks cuts that 16-fold. (With a NULL
	 * buffer glibc would ignore the size.) */
	setvbuf(sp, stdio_buf, _IOFBF, sizeof(stdio_buf));
	rc = soak(sp, &cf);
	if (rc == 0 && cf.file != NULL)
		rc = write_file(sp, &cf);
	else if (rc == 0)
		rc = copy_out(sp, STDOUT_FILENO, "standard output");
	fclose(sp); /* thrown away: its result cannot change the outcome */
	return rc;
}
