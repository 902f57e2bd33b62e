dnl SPDX-License-Identifier: MIT
# spool_cookie.m4: what the C library's fopencookie() stdio does.

# SPOOL_REQUIRE_FOPENCOOKIE
# -------------------------
# A spool is a fopencookie() stream: without it there is nothing to
# build, so configure stops.
AC_DEFUN([SPOOL_REQUIRE_FOPENCOOKIE], [
AC_CHECK_FUNC([fopencookie], [],
	[AC_MSG_ERROR([fopencookie() is required (glibc or musl)])])
])

# SPOOL_COOKIE_SHORT_WRITE
# ------------------------
# Defines COOKIE_SHORT_WRITE_IGNORED when stdio ignores a short count
# from a cookie write callback. musl's stdio (1.2.3) does: fflush() and
# fclose() report success and the unwritten bytes are dropped; only -1
# sets the error flag. glibc reports any short count and crashes in
# fwrite() on -1 (2.36). So this runs the real stdio and asks which it
# is, and the write callback returns -1 on a shortfall only where it
# must (lib/spool.c, written()). Cross builds: only glibc is known to
# report, so anything else is taken to ignore.
AC_DEFUN([SPOOL_COOKIE_SHORT_WRITE], [
AC_CACHE_CHECK([whether stdio ignores short cookie writes],
	[spool_cv_cookie_short_write_ignored],
	[AC_RUN_IFELSE([AC_LANG_PROGRAM([[
#include <stdio.h>
static ssize_t short_write(void *c, const char *buf, size_t n)
{
	(void)c; (void)buf; (void)n;
	return 0;
}
]], [[
	cookie_io_functions_t io = { .write = short_write };
	FILE *fp = fopencookie(NULL, "w", io);

	if (fp == NULL || fputc('x', fp) == EOF)
		return 2;
	return fflush(fp) == EOF ? 1 : 0;
]])],
	[spool_cv_cookie_short_write_ignored=yes],
	[spool_cv_cookie_short_write_ignored=no],
	[AC_COMPILE_IFELSE([AC_LANG_PROGRAM([[#include <stdio.h>]], [[
#ifndef __GLIBC__
#error not glibc
#endif
]])],
		[spool_cv_cookie_short_write_ignored=no],
		[spool_cv_cookie_short_write_ignored=yes])])])
AS_IF([test "x$spool_cv_cookie_short_write_ignored" = xyes],
	[AC_DEFINE([COOKIE_SHORT_WRITE_IGNORED], [1],
		[Define if stdio ignores a short count from a fopencookie()
		 write callback, so a failed write must return -1.])])
])
