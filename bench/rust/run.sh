#!/usr/bin/env bash
# Runs the Rust side-by-side benchmark (the crate vs governor) and prints markdown tables.
#
#   bash bench/rust/run.sh PREFIX
#
# PREFIX: an installed prefix of pocketflow-throttled (as for bindings/rust/test.sh).
set -euo pipefail
if [[ $# -ne 1 ]]; then
  echo "usage: $0 PREFIX" >&2
  exit 2
fi
prefix=$(cd "$1" && pwd)
libdir=$prefix/lib
[[ -e $libdir/libpocketflow_throttled.so ]] || libdir=$prefix/lib64
export PKG_CONFIG_PATH="$libdir/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
export LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
cd "$(dirname "${BASH_SOURCE[0]}")"
cargo build --release --quiet
exec ./target/release/ptl-bench-rust
