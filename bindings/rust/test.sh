#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs the Rust crates' tests (the workspace: pocketflow-throttled and
# pocketflow-throttled-sys) against an installed copy of the library.
#
#   bash bindings/rust/test.sh PREFIX
#
# PREFIX is where pocketflow-throttled was installed (cmake --install BUILD --prefix PREFIX):
# it holds lib/libpocketflow_throttled.so and lib/pkgconfig/pocketflow_throttled.pc (lib64/
# works too). Sets PKG_CONFIG_PATH (the -sys crate's build.rs links through pkg-config) and
# LD_LIBRARY_PATH (the tests load the library), then runs `cargo test --workspace`; exits
# non-zero on any failure.
set -euo pipefail

# shellcheck source=../use_prefix.sh
source "$(dirname "${BASH_SOURCE[0]}")/../use_prefix.sh"
use_prefix "$@"
cd "$(dirname "${BASH_SOURCE[0]}")"
exec cargo test --workspace
