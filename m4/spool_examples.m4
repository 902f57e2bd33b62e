dnl SPDX-License-Identifier: MIT
# spool_examples.m4: which of the optional examples can be built.

# SPOOL_EXAMPLE_WITH(VARIABLE-PREFIX, PKG-CONFIG-MODULE, EXAMPLE)
# ---------------------------------------------------------------
# The examples that hand a spool to a library taking only a FILE* or a
# descriptor are optional: each is built when pkg-config finds its
# library, and skipped with a message otherwise (tests/check-examples.sh
# skips its run). Sets PREFIX_CFLAGS, PREFIX_LIBS, have_<prefix> and
# the HAVE_PREFIX conditional.
AC_DEFUN([SPOOL_EXAMPLE_WITH], [
AC_REQUIRE([PKG_PROG_PKG_CONFIG])
PKG_CHECK_MODULES([$1], [$2],
	[have_[]m4_tolower([$1])=yes], [have_[]m4_tolower([$1])=no])
AS_IF([test "x$have_[]m4_tolower([$1])" = xno],
	[AC_MSG_NOTICE([$2 not found: examples/$3 will not be built])])
AM_CONDITIONAL([HAVE_$1], [test "x$have_[]m4_tolower([$1])" = xyes])
])
