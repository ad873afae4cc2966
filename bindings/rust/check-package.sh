#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Checks the Rust crates as a user gets them, not as the checkout has them:
#
#   bash bindings/rust/check-package.sh PREFIX     # PREFIX: an installed copy of the library
#
# 1. package.sh packages pocketflow-throttled-sys and pocketflow-throttled (cargo package
#    --workspace, which also builds both packages against PREFIX through pkg-config).
# 2. A temporary folder outside the repository serves the two .crate files, with their
#    crates.io dependencies (cargo vendor), as a directory source that replaces crates.io.
# 3. System library: `cargo test` of each unpacked package, and a new project made with
#    `cargo add pocketflow-throttled` that runs (PKG_CONFIG_PATH and LD_LIBRARY_PATH name
#    PREFIX, as for any library outside the system folders).
# 4. Bundled: with no library to find (no PKG_CONFIG_PATH, PTL_LIB_DIR or LD_LIBRARY_PATH,
#    none in the loader's cache or the system folders: asserted), `cargo test --features
#    bundled` of the unpacked safe crate, a new project made with `cargo add
#    pocketflow-throttled --features bundled` that runs and does not need the shared
#    library, and there `cargo test -p pocketflow-throttled-sys` (the -sys package's tests,
#    with the bundled feature that project gives it).
#    Both share one CARGO_TARGET_DIR, so the C++ library is compiled once.
# Fails with a message naming the step that failed.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../use_prefix.sh
source "$here/../use_prefix.sh"
use_prefix "$@"
fail() { echo "check-package: $*" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/ptl-rust-package.XXXXXX")
trap 'rm -rf "$work"' EXIT
# A package's version: the first `version = "..."` line of its manifest.
version_of() { sed -n '/^version = /{s/^version = "\(.*\)"$/\1/p;q}' "$1/Cargo.toml"; }
version=$(version_of "$here")
sys_version=$(version_of "$here/pocketflow-throttled-sys")

echo "--- cargo package --workspace (at ${SECONDS} s)"
# --allow-dirty: CI may run on work not yet committed; the files packaged are what is checked.
CARGO_TARGET_DIR="$work/package-target" bash "$here/package.sh" --allow-dirty --quiet ||
  fail "cargo package failed"
crates=("$work/package-target/package/pocketflow-throttled-sys-$sys_version.crate"
  "$work/package-target/package/pocketflow-throttled-$version.crate")
for c in "${crates[@]}"; do [[ -f "$c" ]] || fail "cargo package made no $(basename "$c")"; done
listing=$(tar -tzf "${crates[0]}") || fail "cannot list $(basename "${crates[0]}")"
grep -q "/vendor/capi/CMakeLists.txt$" <<<"$listing" ||
  fail "the -sys package carries no library sources (vendor/)"

echo "--- a directory source in place of crates.io: the packages and their dependencies (at ${SECONDS} s)"
(cd "$here" && cargo vendor --quiet --versioned-dirs "$work/registry" >/dev/null) ||
  fail "cargo vendor (the crates.io dependencies) failed"
mkdir -p "$work/crates"
for c in "${crates[@]}"; do
  rm -rf "$work/registry/$(basename "$c" .crate)"
  tar -xzf "$c" -C "$work/registry"
  tar -xzf "$c" -C "$work/crates"
  printf '{"files":{},"package":"%s"}\n' "$(sha256sum "$c" | cut -d' ' -f1)" \
    >"$work/registry/$(basename "$c" .crate)/.cargo-checksum.json"
done
mkdir -p "$work/.cargo"
cat >"$work/.cargo/config.toml" <<EOF
[source.crates-io]
replace-with = "packaged"
[source.packaged]
directory = "$work/registry"
EOF

# A user's program: a limiter, a permit, its statistics.
new_app() { # new_app NAME [cargo add ARGS...]
  local dir="$work/$1"
  shift
  cargo new --quiet --vcs none "$dir"
  (cd "$dir" && cargo add --quiet "$@") || fail "cargo add $* failed"
  cat >"$dir/src/main.rs" <<'EOF'
use pocketflow_throttled::{Config, Registry};

fn main() -> Result<(), pocketflow_throttled::Error> {
    let registry = Registry::open("local:")?;
    registry.register("openai", &Config { max_concurrent: 2, ..Config::default() })?;
    let openai = registry.get("openai")?;
    let permit = openai.acquire(None)?;
    println!("in flight: {}", openai.stats()?.in_flight);
    drop(permit);
    Ok(())
}
EOF
}
run_app() { # run_app NAME: runs it, checks its output, prints its binary's path
  local out
  out=$(cd "$work/$1" && cargo run --quiet) || fail "the program made with cargo add ($1) failed"
  [[ "$out" == "in flight: 1" ]] || fail "$1 printed '$out', not 'in flight: 1'"
  echo "$CARGO_TARGET_DIR/debug/$1"
}
# Whole outputs are captured before grep: grep -q could close a pipe early (SIGPIPE, pipefail).
needs_ptl() {
  local dyn
  dyn=$(readelf -d "$1") || fail "readelf -d $1 failed"
  grep -q 'NEEDED.*libpocketflow_throttled' <<<"$dyn"
}

export CARGO_TARGET_DIR="$work/target"
echo "--- system library (pkg-config): cargo test of both packages, cargo add (at ${SECONDS} s)"
(cd "$work/crates/pocketflow-throttled-sys-$sys_version" && cargo test --quiet) ||
  fail "cargo test of the packaged -sys crate against $1 failed"
(cd "$work/crates/pocketflow-throttled-$version" && cargo test --quiet) ||
  fail "cargo test of the packaged safe crate against $1 failed"
new_app app-system pocketflow-throttled
bin=$(run_app app-system)
needs_ptl "$bin" || fail "app-system does not link the shared libpocketflow_throttled"

echo "--- bundled, with no library installed anywhere (at ${SECONDS} s)"
unset PKG_CONFIG_PATH LD_LIBRARY_PATH PTL_LIB_DIR
if pkg-config --exists pocketflow_throttled; then
  fail "pkg-config finds pocketflow_throttled: the bundled check needs a machine without it"
fi
cache=$(ldconfig -p) || fail "ldconfig -p failed"
if grep -q libpocketflow_throttled <<<"$cache" ||
  compgen -G "/usr/lib/*/libpocketflow_throttled*" >/dev/null ||
  compgen -G "/usr/*lib*/libpocketflow_throttled*" >/dev/null; then
  fail "libpocketflow_throttled is installed in a system folder: the bundled check needs none"
fi
(cd "$work/crates/pocketflow-throttled-$version" && cargo test --quiet --features bundled) ||
  fail "cargo test --features bundled of the packaged safe crate failed"
new_app app-bundled pocketflow-throttled --features bundled
bin=$(run_app app-bundled)
if needs_ptl "$bin"; then fail "app-bundled needs the shared libpocketflow_throttled"; fi
# The -sys package's own tests, as app-bundled's dependency: with the features that project
# gives it (bundled), so from the same build, not a second one.
(cd "$work/app-bundled" && cargo test --quiet -p pocketflow-throttled-sys) ||
  fail "cargo test of the packaged -sys crate with bundled (as app-bundled's dependency) failed"
builds=$(find "$CARGO_TARGET_DIR" -name libptl_core.a -path '*pocketflow-throttled-sys*' | wc -l)
[[ "$builds" -eq 1 ]] || fail "the bundled library was compiled $builds times, not once"
echo "check-package: both crates package, test and install with cargo add (system, bundled), in ${SECONDS} s"
