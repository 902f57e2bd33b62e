/* SPDX-License-Identifier: MIT */
/*
 * send-body - an HTTP-like response from a spool: the body is built with
 * fprintf() into a spool, a header announces its length (spool_size()),
 * and spool_send() writes the body to standard output: from memory with
 * writev(), from disk by the kernel (copy_file_range() or sendfile()),
 * never through a buffer of the whole body. So memory stays at the
 * threshold however large the body is. The body is memstream-before.c's:
 * a CSV header line and ROWS rows.
 *
 * On a non-blocking descriptor, as a server's socket is, spool_send()
 * stops with EAGAIN when the descriptor is full; the loop waits with
 * poll() and calls it again with the same offset, which says how far it
 * got. -n makes standard output non-blocking after the header, to show
 * this loop at work.
 *
 * Usage: send-body [-n] [ROWS [THRESHOLD]]   (defaults: 1000, 64 KiB)
 * Standard output: "Content-Length: N\r\n\r\n", then the N bytes of the
 * body. Standard error: one line saying where the body was sent from
 * (memory or disk), how many spool_send() calls it took, and how many
 * times the loop waited for the descriptor.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spool.h"

static void write_body(FILE *out, long rows)
{
	fprintf(out, "id,name,square\n");
	for (long i = 0; i < rows; i++)
		fprintf(out, "%ld,row-%05ld,%ld\n", i, i, i * i);
}

static int set_nonblock(int fd)
{
	int flags = fcntl(fd, F_GETFL);

	return flags == -1 ? -1 : fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

/* Send all of body to fd; on EAGAIN wait until fd takes more. */
static int send_all(FILE *body, int fd, long *calls, long *waits)
{
	off_t offset = 0;
	struct pollfd pfd = {.fd = fd, .events = POLLOUT};

	for (;;) {
		++*calls;
		if (spool_send(body, fd, &offset) == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
		++*waits;
		if (poll(&pfd, 1, -1) == -1 && errno != EINTR)
			return -1;
	}
}

int main(int argc, char **argv)
{
	int nonblock = argc > 1 && strcmp(argv[1], "-n") == 0;
	char **arg = argv + 1 + nonblock;
	long rows = arg[0] != NULL ? atol(arg[0]) : 1000;
	size_t threshold = arg[0] != NULL && arg[1] != NULL
			       ? strtoull(arg[1], NULL, 10)
			       : 64 * 1024;
	long calls = 0, waits = 0;
	FILE *body;
	off_t len;

	/* A reader that goes away gives EPIPE, not death by SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	body = spool_fopen(threshold, "w");
	if (body == NULL) {
		perror("spool_fopen");
		return 1;
	}
	write_body(body, rows);
	len = spool_size(body); /* flushes, so write errors show up here */
	if (len < 0) {
		perror("spool_size");
		fclose(body);
		return 1;
	}
	/* The header goes through stdio; flush it before the body goes
	 * straight to the descriptor. */
	printf("Content-Length: %lld\r\n\r\n", (long long)len);
	if (fflush(stdout) != 0) {
		perror("header");
		fclose(body);
		return 1;
	}
	if (nonblock && set_nonblock(STDOUT_FILENO) != 0) {
		perror("fcntl");
		fclose(body);
		return 1;
	}
	if (send_all(body, STDOUT_FILENO, &calls, &waits) != 0) {
		perror("spool_send");
		fclose(body);
		return 1;
	}
	fprintf(stderr,
		"send-body: %lld bytes sent from %s; calls: %ld, "
		"waits: %ld\n",
		(long long)len, spool_is_rolled(body) ? "disk" : "memory",
		calls, waits);
	return fclose(body) == 0 ? 0 : 1;
}
