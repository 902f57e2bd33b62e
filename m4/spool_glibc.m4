dnl SPDX-License-Identifier: MIT
# spool_glibc.m4: whether to build the glibc seam's internals path.
#
# lib/stdio-glibc.c gets its speed from glibc's private FILE (lending
# stdio the memory image as its buffer, a 64 KiB buffer on disk,
# dropping the lock mark) and works around _offset there. It is compiled
# in only where the FILE has every field it names, unless the builder
# says --disable-glibc-internals; it engages at run time only on a glibc
# in the tested range and after a self-probe (README: "Two paths").

# SPOOL_GLIBC_FILE_MEMBERS
# ------------------------
# Probe glibc's struct _IO_FILE for the fields the internals path names,
# and the headers it includes. Sets spool_glibc_file to yes when all are
# there, no otherwise; defines the HAVE_STRUCT__IO_FILE_* and HAVE_*_H
# macros as the generic checks do.
AC_DEFUN([SPOOL_GLIBC_FILE_MEMBERS], [
AC_CHECK_MEMBERS([struct _IO_FILE._offset, struct _IO_FILE._IO_buf_base,
	struct _IO_FILE._flags2, struct _IO_FILE._markers, struct _IO_FILE._mode],
	[], [], [[#include <stdio.h>]])
AC_CHECK_HEADERS([sys/single_threaded.h gnu/libc-version.h])
spool_glibc_file=no
AS_IF([test "x$ac_cv_member_struct__IO_FILE__offset" = xyes &&
	test "x$ac_cv_member_struct__IO_FILE__IO_buf_base" = xyes &&
	test "x$ac_cv_member_struct__IO_FILE__flags2" = xyes &&
	test "x$ac_cv_member_struct__IO_FILE__markers" = xyes &&
	test "x$ac_cv_member_struct__IO_FILE__mode" = xyes &&
	test "x$ac_cv_header_sys_single_threaded_h" = xyes &&
	test "x$ac_cv_header_gnu_libc_version_h" = xyes], [spool_glibc_file=yes])
])

# SPOOL_GLIBC_SEAM
# ----------------
# --disable-glibc-internals and --with-tested-glibc=MIN-MAX, then the
# decision: SPOOL_GLIBC_INTERNALS and the tested range (SPOOL_GLIBC_TESTED,
# _MIN and _MAX) in config.h when the path is built. The default range is
# the glibc versions CI runs the whole suite on (.ci/run,
# tools/glibc-matrix.sh): Debian 12, 13 and unstable. Widen it only with
# a CI run on the new version (SPOOL_STDIO=fast forces the path there).
# In the body, awk's fields are written $[]1 and $[]2 so that m4 does not
# take them for this macro's arguments.
AC_DEFUN([SPOOL_GLIBC_SEAM], [
AC_ARG_ENABLE([glibc-internals],
	[AS_HELP_STRING([--disable-glibc-internals],
		[never touch glibc's private FILE: the portable path only])],
	[], [enable_glibc_internals=yes])
AC_ARG_WITH([tested-glibc],
	[AS_HELP_STRING([--with-tested-glibc=MIN-MAX],
		[glibc versions the internals path engages on @<:@2.36-2.43@:>@])],
	[], [with_tested_glibc=2.36-2.43])
SPOOL_GLIBC_FILE_MEMBERS
AC_MSG_CHECKING([whether to build the glibc internals path])
spool_internals=no
AS_IF([test "x$enable_glibc_internals" != xno &&
	test "x$spool_glibc_file" = xyes], [spool_internals=yes])
AC_MSG_RESULT([$spool_internals])
AS_IF([test "x$spool_internals" = xyes], [
	# MIN-MAX as two numbers, major * 1000 + minor (m4 eats a shell #).
	spool_vrange=`echo "$with_tested_glibc" | awk -F- \
		'/^@<:@0-9@:>@+\.@<:@0-9@:>@+-@<:@0-9@:>@+\.@<:@0-9@:>@+$/ {
			split($[]1, a, "."); split($[]2, b, ".")
			print a@<:@1@:>@ * 1000 + a@<:@2@:>@, b@<:@1@:>@ * 1000 + b@<:@2@:>@ }'`
	AS_IF([test -z "$spool_vrange"],
		[AC_MSG_ERROR([--with-tested-glibc wants MIN-MAX, such as 2.36-2.43])])
	spool_vmin=`echo $spool_vrange | cut -d' ' -f1`
	spool_vmax=`echo $spool_vrange | cut -d' ' -f2`
	AC_DEFINE([SPOOL_GLIBC_INTERNALS], [1],
		[Define to build the glibc seam's internals path.])
	AC_DEFINE_UNQUOTED([SPOOL_GLIBC_TESTED_MIN], [$spool_vmin],
		[Oldest tested glibc, major * 1000 + minor.])
	AC_DEFINE_UNQUOTED([SPOOL_GLIBC_TESTED_MAX], [$spool_vmax],
		[Newest tested glibc, major * 1000 + minor.])
	AC_DEFINE_UNQUOTED([SPOOL_GLIBC_TESTED], ["$with_tested_glibc"],
		[The tested glibc range, as given.])])
])
