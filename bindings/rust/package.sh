#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Packages the two Rust crates, pocketflow-throttled-sys and pocketflow-throttled:
#
#   bash bindings/rust/package.sh [CARGO PACKAGE ARGS...]    # e.g. --no-verify, --allow-dirty
#
# `cargo package` only takes files inside a crate's folder, and the -sys crate's `bundled`
# feature needs the library's C++ sources. So this stages the files git tracks under
# CMakeLists.txt, LICENSE, cmake/, capi/, src/, include/ and pkgconfig/ into
# pocketflow-throttled-sys/vendor/ (ignored by git), runs `cargo package --workspace` (which
# resolves the safe crate's dependency on the -sys crate through a temporary local registry,
# and by default builds both packages: the library must then be found through pkg-config),
# and removes vendor/ again, so that a `bundled` build in the checkout always compiles the
# checkout's sources. The .crate files land in $CARGO_TARGET_DIR/package (target/package).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
vendor="$here/pocketflow-throttled-sys/vendor"

if ! git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  echo "package.sh: $root is not a git checkout; the staged sources are the files git tracks" >&2
  exit 1
fi
rm -rf "$vendor"
trap 'rm -rf "$vendor"' EXIT
mkdir -p "$vendor"
mapfile -t files < <(git -C "$root" ls-files -- CMakeLists.txt LICENSE cmake capi src include \
  pkgconfig)
if [[ ${#files[@]} -eq 0 || ! -f "$root/capi/CMakeLists.txt" ]]; then
  echo "package.sh: found none of the library's sources under $root" >&2
  exit 1
fi
(cd "$root" && cp --parents -- "${files[@]}" "$vendor/")
echo "package.sh: staged ${#files[@]} files of the library into pocketflow-throttled-sys/vendor"

cd "$here"
cargo package --workspace "$@"
