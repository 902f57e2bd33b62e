dnl SPDX-License-Identifier: MIT
# spool_check.m4: whether the tests can be built.

# SPOOL_CHECK
# -----------
# Check (>= 0.11) is needed by the tests only: without it the library,
# the spool command and the examples still build, and make check stops
# with one line saying so (Makefile.am, HAVE_CHECK). Sets CHECK_CFLAGS,
# CHECK_LIBS and the HAVE_CHECK conditional.
AC_DEFUN([SPOOL_CHECK], [
AC_REQUIRE([PKG_PROG_PKG_CONFIG])
PKG_CHECK_MODULES([CHECK], [check >= 0.11], [have_check=yes], [have_check=no])
AS_IF([test "x$have_check" = xno],
	[AC_MSG_NOTICE([Check >= 0.11 not found: make check will stop])])
AM_CONDITIONAL([HAVE_CHECK], [test "x$have_check" = xyes])
])
