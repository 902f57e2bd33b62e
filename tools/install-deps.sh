#!/bin/sh
# SPDX-License-Identifier: MIT
# Install on Debian 12, as root, what libspool needs:
#   tools/install-deps.sh          the build: the autotools and a C
#                                  compiler, enough for the library, the
#                                  spool command and the examples
#                                  (README's first command);
#   tools/install-deps.sh --tests  that and what every test needs
#                                  (tools/check-all.sh runs it as root).
# Only missing packages are installed; when none is missing, apt-get is
# not run at all, so this needs neither root nor the network then.
set -eu

# The build. Check is not needed: without it only make check stops.
build="autoconf automake libtool pkgconf make gcc libc6-dev"
# The tests: Check for make check; groff/mandoc to lint the man pages;
# valgrind, clang (libFuzzer, sanitizers, llvm-symbolizer) and
# musl-tools for the checks in tools/check-all.sh, clang-format for its
# format check; moreutils (sponge),
# time and strace for the spool command's tests; libpng, libxml2 and
# zlib for the examples that use them.
tests="check groff-base mandoc util-linux valgrind moreutils time strace
	musl-tools clang llvm libclang-rt-14-dev clang-format
	libpng-dev libxml2-dev zlib1g-dev"

case "$*" in
'') want=$build ;;
--tests) want="$build $tests" ;;
*) echo "usage: $0 [--tests]" >&2; exit 2 ;;
esac

missing=""
for p in $want; do
	case $(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null) in
	ii*) ;;
	*) missing="$missing $p" ;;
	esac
done
if [ -z "$missing" ]; then
	echo "install-deps: nothing to install"
	exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends $missing
