#!/bin/sh
# Install, on Debian 12 as root, everything the build and every test need:
# the autotools and Check; groff/mandoc to lint the man pages; valgrind,
# clang (libFuzzer, sanitizers, llvm-symbolizer) and musl-tools for the
# checks in tools/check-all.sh; moreutils (sponge), time and strace for
# the spool command's tests; libpng, libxml2 and zlib for the examples.
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends \
	autoconf automake libtool pkgconf check make gcc libc6-dev \
	groff-base mandoc util-linux valgrind moreutils time strace \
	musl-tools clang llvm libclang-rt-14-dev \
	libpng-dev libxml2-dev zlib1g-dev
