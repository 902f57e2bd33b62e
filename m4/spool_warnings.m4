dnl SPDX-License-Identifier: MIT
# spool_warnings.m4: the compiler warnings the project builds with.

# SPOOL_WARNINGS
# --------------
# WARN_CFLAGS, which Makefile.am puts in AM_CFLAGS (never CFLAGS, which
# is the builder's). The warnings are always on; --enable-werror, an
# opt-in switch that CI turns on, makes them errors, so the default
# build never fails on a newer compiler's new warning.
AC_DEFUN([SPOOL_WARNINGS], [
AC_ARG_ENABLE([werror],
	[AS_HELP_STRING([--enable-werror], [treat compiler warnings as errors])])
WARN_CFLAGS="-Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wpointer-arith -Wformat=2"
AS_IF([test "x$enable_werror" = xyes], [WARN_CFLAGS="$WARN_CFLAGS -Werror"])
AC_SUBST([WARN_CFLAGS])
])
