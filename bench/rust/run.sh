#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs the Rust side-by-side benchmark (the crate vs governor) and prints markdown tables.
#
#   bash bench/rust/run.sh PREFIX
#
# PREFIX: an installed prefix of pocketflow-throttled (as for bindings/rust/test.sh).
# CARGO_TARGET_DIR, when set, is where it builds (bench/run.sh: its build directory);
# PTL_BENCH_JSON=FILE also writes the rows there for bench/run.sh's table.
set -euo pipefail
if [[ $# -ne 1 ]]; then
  echo "usage: $0 PREFIX" >&2
  exit 2
fi
# shellcheck source=../../bindings/use_prefix.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../bindings/use_prefix.sh"
use_prefix "$1"
cd "$(dirname "${BASH_SOURCE[0]}")"
cargo build --release --quiet
exec "${CARGO_TARGET_DIR:-target}/release/ptl-bench-rust"
