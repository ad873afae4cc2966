#!/usr/bin/env bash
# Runs the Rust binding's tests against an installed copy of the library.
#
#   bash bindings/rust/test.sh PREFIX
#
# PREFIX is where pocketflow-throttled was installed (cmake --install BUILD --prefix PREFIX):
# it holds lib/libpocketflow_throttled.so and lib/pkgconfig/pocketflow_throttled.pc (lib64/
# works too). Sets PKG_CONFIG_PATH (build.rs links through pkg-config) and LD_LIBRARY_PATH
# (the tests load the library), then runs `cargo test`; exits non-zero on any failure.
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 PREFIX   (an installed prefix of pocketflow-throttled)" >&2
  exit 2
fi
prefix=$(cd "$1" && pwd)
libdir=
for d in "$prefix/lib" "$prefix/lib64" "$prefix"/lib/*-linux-gnu; do
  if [[ -e "$d/libpocketflow_throttled.so" ]]; then libdir=$d; break; fi
done
if [[ -z "$libdir" ]]; then
  echo "$0: no libpocketflow_throttled.so under $prefix/lib*" >&2
  exit 2
fi

export PKG_CONFIG_PATH="$libdir/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
export LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
cd "$(dirname "${BASH_SOURCE[0]}")"
exec cargo test
