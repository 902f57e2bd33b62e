/* SPDX-License-Identifier: MIT */
/*
 * spool-cmd.c - the spool(1) command: soak up standard input, then write it
 * out once the input has ended, like moreutils sponge(1), but with
 * bounded memory: past the threshold the input waits in a libspool
 * spool's nameless temporary file instead of in RAM.
 *
 * FILE is opened only after every byte of input is safely in the spool,
 * so a failed read or a failed spill never touches it. It is replaced
 * atomically where it can be (a complete file beside it, renamed over
 * it; a new FILE is named by spool_persist() once complete), and
 * written in place where it cannot: not a regular file, a directory
 * that refuses new names, or no room for a second copy.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
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

struct config {
	size_t threshold;
	const char *dir;  /* spill directory, NULL = $TMPDIR or P_tmpdir */
	const char *file; /* NULL = standard output */
	int append;
};

/* One read(2): large enough that syscalls cost nothing. */
static char block[128 * 1024];

static mode_t saved_umask;

/*
 * The temporary name of the replacement beside FILE, between the moment
 * it is given (complete, or at creation where O_TMPFILE is missing) and
 * its rename over FILE. A fatal signal meanwhile removes it; the signals
 * are blocked while the name is created or retired so that the flag and
 * the file agree.
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
	      "symlinks and non-regular files are written in place, and\n"
	      "so is FILE when the disk is too full for a second copy\n"
	      "and the new contents fit in FILE's own blocks.\n"
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

/*
 * Send the whole spool to fd at fd's position (spool_send: the kernel
 * copies from the spill file, one writev(2) from memory). A
 * non-blocking fd, such as a terminal or pipe another program set
 * O_NONBLOCK on, is waited for rather than failed. Returns 0, or -1
 * with errno.
 */
static int send_all(FILE *sp, int fd)
{
	struct pollfd pfd = {.fd = fd, .events = POLLOUT};
	off_t off = 0;

	while (spool_send(sp, fd, &off) < 0) {
		if (errno != EAGAIN && errno != EINTR)
			return -1;
		if (errno == EAGAIN && poll(&pfd, 1, -1) < 0 && errno != EINTR)
			return -1;
	}
	return 0;
}

/* send_all(), with the message. Returns 0 or EXIT_IO. */
static int copy_out(FILE *sp, int fd, const char *name)
{
	return send_all(sp, fd) < 0 ? io_error(name, errno) : 0;
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
 * Put FILE's directory followed by `tail` in buf: "DIR/.spool-X" for
 * tail ".spool-X", "DIR/." (the directory itself) for tail ".".
 * Returns 0, or -1 with ENAMETOOLONG.
 */
static int beside(char *buf, size_t size, const char *file, const char *tail)
{
	const char *slash = strrchr(file, '/');
	int dirlen = slash == NULL ? 0 : (int)(slash - file + 1);
	int n;

	n = snprintf(buf, size, "%.*s%s", dirlen, file, tail);
	if (n < 0 || (size_t)n >= size) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
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

/* retire_temp(NULL) after a failure, when there is a temp name. */
static void drop_temp(void)
{
	int err = errno;

	if (tmp_live)
		retire_temp(NULL);
	errno = err;
}

/*
 * FILE's owner and permission bits. The owner is best effort: only root
 * may give a file away, and others end up owning the new FILE, as with
 * sponge. chown comes first because it clears set-ID bits.
 */
static int set_attrs(int fd, const struct stat *st)
{
	if (fchown(fd, st->st_uid, st->st_gid) < 0) {
		/* Not permitted: keep our own ownership. */
	}
	return fchmod(fd, st->st_mode & 07777);
}

/*
 * Create tmp_path, a new name ".spool-PID-N" beside FILE, with
 * make(arg); tries the next N while the name exists. Fatal signals are
 * blocked meanwhile so that tmp_live says whether the name is ours.
 * Returns 0, or -1 with errno.
 */
static int make_temp(const char *file, int (*make)(void *), void *arg)
{
	char tail[64];
	sigset_t saved;
	int i, rc;

	for (i = 0; i < 100; i++) {
		snprintf(tail, sizeof(tail), ".spool-%ld-%d", (long)getpid(),
			 i);
		if (beside(tmp_path, sizeof(tmp_path), file, tail) < 0)
			return -1;
		block_signals(&saved);
		rc = make(arg);
		tmp_live = rc == 0;
		restore_signals(&saved);
		if (rc == 0 || errno != EEXIST)
			return rc;
	}
	return -1; /* errno is EEXIST */
}

/* make_temp() ways. The spool's contents, through spool_persist(): with
 * umask 077 the name appears as 0600, readable by no one else before
 * set_attrs() (the command is single-threaded: nothing else creates
 * files meanwhile), unless the directory has a default ACL, which the
 * kernel applies instead of the umask. */
static int make_persisted(void *sp)
{
	int rc, err;

	umask(077);
	rc = spool_persist(sp, tmp_path, 0);
	err = errno;
	umask(saved_umask);
	errno = err;
	return rc;
}

/* A nameless O_TMPFILE file: linkat(2), through the descriptor where we
 * may (CAP_DAC_READ_SEARCH), else through /proc. */
static int make_link(void *fdp)
{
	int fd = *(int *)fdp;
	char proc[64];

	if (linkat(fd, "", AT_FDCWD, tmp_path, AT_EMPTY_PATH) == 0)
		return 0;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	return linkat(AT_FDCWD, proc, AT_FDCWD, tmp_path, AT_SYMLINK_FOLLOW);
}

/* A new empty file, for file systems without O_TMPFILE. */
static int make_named(void *fdp)
{
	int *fd = fdp;

	*fd = open(tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	return *fd < 0 ? -1 : 0;
}

/* Is the spool's spill file on the file system of FILE's directory? */
static int spilled_beside(FILE *sp, const char *file)
{
	char dir[PATH_MAX];
	struct stat a, b;
	int fd;

	if (spool_is_rolled(sp) != 1 || beside(dir, sizeof(dir), file, ".") < 0)
		return 0;
	fd = spool_fileno(sp); /* owned by the spool: not closed here */
	return fd >= 0 && fstat(fd, &a) == 0 && stat(dir, &b) == 0 &&
	       a.st_dev == b.st_dev;
}

/*
 * No copy, for input that spilled onto FILE's file system:
 * spool_persist() links the spill file itself in as tmp_path, which is
 * then given FILE's attributes. Returns 0 with tmp_path live, or -1.
 */
static int persist_temp(FILE *sp, const char *file, const struct stat *st)
{
	int fd;

	if (make_temp(file, make_persisted, sp) < 0)
		return -1;
	fd = open(tmp_path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 || set_attrs(fd, st) < 0) {
		if (fd >= 0)
			close(fd);
		drop_temp();
		return -1;
	}
	close(fd);
	return 0;
}

/*
 * The copy path: a new nameless file beside FILE, given FILE's
 * attributes, filled from the spool, and only then named tmp_path. A
 * file system without O_TMPFILE gets a named temp file from the start.
 * Returns 0 with tmp_path live, or -1 with errno and nothing left.
 */
static int write_temp(FILE *sp, const char *file, const struct stat *st)
{
	char dir[PATH_MAX];
	int fd, rc, named = 0;

	if (beside(dir, sizeof(dir), file, ".") < 0)
		return -1;
	fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
	/* EISDIR: a kernel without O_TMPFILE; EOPNOTSUPP: a file system. */
	if (fd < 0 && (errno == EISDIR || errno == EOPNOTSUPP)) {
		if (make_temp(file, make_named, &fd) < 0)
			return -1;
		named = 1;
	}
	if (fd < 0)
		return -1;
	rc = set_attrs(fd, st) < 0 || send_all(sp, fd) < 0 ? -1 : 0;
	if (rc == 0 && !named)
		rc = make_temp(file, make_link, &fd);
	if (close(fd) < 0 && rc == 0)
		rc = -1; /* NFS reports a failed write at close */
	if (rc < 0)
		drop_temp();
	return rc;
}

/*
 * Atomic replacement: a complete file with FILE's attributes is renamed
 * over it, so that readers see the old contents or the new, never a
 * mix, and any error leaves FILE untouched. Returns 0, or -1 with errno
 * and nothing left beside FILE.
 *
 * Nothing is left either when a signal kills spool: the file is
 * nameless (O_TMPFILE) while it is written, and the fatal signals that
 * can be caught remove tmp_path. One window remains that nothing can
 * close: rename(2) is the only call that replaces a name atomically,
 * and it needs a name to move, while linkat(2) refuses to replace. So
 * from the moment tmp_path is linked to the rename (the copy path: two
 * adjacent calls; a spill linked in by spool_persist(): open, fchown,
 * fchmod and close too), SIGKILL or a crash leaves tmp_path behind. We
 * call spool_persist() for the spill file because only the library can
 * link it; for a copy we make the file ourselves, because spool_persist()
 * cannot set an owner and mode before the name appears (a directory's
 * default ACL would override the umask) and because its copy runs with
 * the fatal signals blocked here.
 */
static int replace(FILE *sp, const char *file, const struct stat *st)
{
	int rc;

	if (spilled_beside(sp, file))
		rc = persist_temp(sp, file, st);
	else
		rc = write_temp(sp, file, st);
	if (rc < 0)
		return -1;
	if (retire_temp(file) == 0)
		return 0;
	drop_temp();
	return -1;
}

/*
 * Can FILE (open as fd, st its fstat()) take `size` bytes in place
 * without asking the file system for a single block? Only a regular
 * file with one link (a rewrite shows through every link) whose blocks
 * hold at least `size` bytes, and that has no hole before `size` or
 * its end (writing into a hole allocates). Copy-on-write file systems
 * (Btrfs, ZFS) allocate anyway: there this can still fail half-way.
 */
static int fits_in_place(int fd, const struct stat *st, off_t size)
{
	off_t hole;

	if (!S_ISREG(st->st_mode) || st->st_nlink != 1 ||
	    size > (off_t)st->st_blocks * 512)
		return 0;
	hole = lseek(fd, 0, SEEK_HOLE);
	if (hole < 0 || hole < (size < st->st_size ? size : st->st_size))
		return 0;
	return lseek(fd, 0, SEEK_SET) == 0;
}

/*
 * No room for a second copy beside FILE (err is ENOSPC or EDQUOT): write
 * over FILE's own blocks from the start, then cut it to the new size,
 * as sponge does on a full disk, but only when fits_in_place() says this
 * cannot run out of room half-way; otherwise FILE stays untouched and
 * err is reported. Not atomic: readers may see a mix meanwhile.
 */
static int rewrite_in_place(FILE *sp, const char *file, const struct stat *st,
			    int err)
{
	off_t size = spool_size(sp);
	struct stat now;
	int fd, rc = 0;

	fd = open(file, O_WRONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return io_error(file, err);
	/* The same file we looked at, and still small enough. */
	if (size < 0 || fstat(fd, &now) < 0 || now.st_ino != st->st_ino ||
	    now.st_dev != st->st_dev || !fits_in_place(fd, &now, size)) {
		close(fd);
		return io_error(file, err);
	}
	if (send_all(sp, fd) < 0 || ftruncate(fd, size) < 0)
		rc = io_error(file, errno);
	if (close(fd) < 0 && rc == 0)
		rc = io_error(file, errno);
	return rc;
}

/* What a failed atomic write of FILE turns into: a rewrite in place for
 * lack of room, a copy into FILE for a refusal, else an error. */
static int after_failure(FILE *sp, const char *file, const struct stat *st,
			 int err)
{
	if (st != NULL && (err == ENOSPC || err == EDQUOT))
		return rewrite_in_place(sp, file, st, err);
	if (can_fall_back(err))
		return copy_into(sp, file, O_TRUNC);
	return io_error(file, err);
}

/*
 * Write the spool to FILE: appended with -a, else replaced. Only a
 * regular file is replaced by rename; a name that does not exist yet
 * is created by spool_persist(), which names it only once it is
 * complete (a name that appears meanwhile: EEXIST, so look again); a
 * symlink is followed and kept, a FIFO or device written.
 */
static int write_file(FILE *sp, const struct config *cf)
{
	struct stat st;
	int tries;

	if (cf->append)
		return copy_into(sp, cf->file, O_APPEND);
	for (tries = 0; tries < 10; tries++) {
		if (lstat(cf->file, &st) == 0) {
			if (!S_ISREG(st.st_mode))
				break;
			if (replace(sp, cf->file, &st) == 0)
				return 0;
			return after_failure(sp, cf->file, &st, errno);
		}
		if (errno != ENOENT)
			return io_error(cf->file, errno);
		if (spool_persist(sp, cf->file, 0) == 0)
			return 0;
		if (errno != EEXIST)
			return after_failure(sp, cf->file, NULL, errno);
	}
	return copy_into(sp, cf->file, O_TRUNC);
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
	rc = soak(sp, &cf);
	if (rc == 0 && cf.file != NULL)
		rc = write_file(sp, &cf);
	else if (rc == 0)
		rc = copy_out(sp, STDOUT_FILENO, "standard output");
	fclose(sp); /* thrown away: its result cannot change the outcome */
	return rc;
}
