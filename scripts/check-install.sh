#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs a build into a scratch prefix and builds two consumers against the installed
# files only: a C program through pkg-config and a C++ program through find_package.
# Usage: check-install.sh BUILD_DIR
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:?usage: check-install.sh BUILD_DIR}
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
libdir=$(dirname "$(find "$prefix" -name 'libpocketflow_throttled.so' | head -n1)")
pcdir=$(dirname "$(find "$prefix" -name 'pocketflow_throttled.pc' | head -n1)")
for link in libpocketflow_throttled.so libpocketflow_throttled.so.0; do
  [ -e "$libdir/$link" ] || { echo "missing installed $link"; exit 1; }
done

# C through pkg-config.
flags=$(PKG_CONFIG_PATH="$pcdir" pkg-config --cflags --libs pocketflow_throttled)
# shellcheck disable=SC2086  # flags are words on purpose
cc -std=c11 -Wall -Werror -o "$prefix/consumer-c" "$root/tests/install/consumer.c" $flags \
  -Wl,-rpath,"$libdir" -lpthread
"$prefix/consumer-c"

# C++ through find_package.
cmake -S "$root/tests/install/cxx" -B "$prefix/cxx-build" -G Ninja \
  -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$prefix/cxx-build" >/dev/null
"$prefix/cxx-build/consumer-cxx"
