dnl SPDX-License-Identifier: MIT
# spool_sanitizers.m4: whether to build with the sanitizers.

# SPOOL_SANITIZERS
# ----------------
# SAN_CFLAGS, which Makefile.am puts in both AM_CFLAGS and AM_LDFLAGS:
# empty unless --enable-sanitizers, an opt-in switch that CI turns on.
# Then AddressSanitizer and UBSan, stopping at the first report and
# keeping frame pointers for readable stacks.
AC_DEFUN([SPOOL_SANITIZERS], [
AC_ARG_ENABLE([sanitizers],
	[AS_HELP_STRING([--enable-sanitizers],
		[build with -fsanitize=address,undefined])])
AS_IF([test "x$enable_sanitizers" = xyes],
	[SAN_CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"])
AC_SUBST([SAN_CFLAGS])
])
