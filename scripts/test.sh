#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The README's second command, and what CI runs: install what is needed, check the
# formatting, clang-tidy, internal type names and clang's thread-safety analysis, then
# build and run every test in a normal build, under ASan+UBSan and under TSan, and check
# the installed package from a consumer's side (C, C++, Rust, Go, the Python wheel).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
jobs=$(nproc)
step() { printf '\n=== %s (at %d s)\n' "$*" "$SECONDS"; }

step "dependencies"
if [ "${PTL_DEPS_INSTALLED:-0}" != 1 ]; then bash "$root/scripts/install-deps.sh"; fi

step "normal build (warnings are errors): the library, tools, examples, header checks"
# With debug info: the ABI check (abidw) reads the library's types from it. The test
# suites are built and run in the two sanitizer builds below (GCC's with warnings as errors
# too), not here: each compile of them costs minutes on two cores. The test tree is
# configured all the same, so compile_commands.json has the header checks for clang-tidy.
cmake -S "$root" -B "$root/build-ci" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_INSTALL_PREFIX=/usr -DPTL_WARNINGS_AS_ERRORS=ON >/dev/null
targets=(pocketflow_throttled ptlctl ptl-demo ptl-example-c ptl-with-redis ptl_every_header)
cmake --build "$root/build-ci" -j "$jobs" --target "${targets[@]}"

step "clang-format, clang-tidy and internal type names"
bash "$root/scripts/lint.sh" "$root/build-ci"

step "Python binding (venv, pytest) against the build"
bash "$root/bindings/python/test.sh" "$root/build-ci"

step "Python wheel: sdist, wheel from it (Release library, -j2), auditwheel, fresh venv, pytest, mypy"
bash "$root/bindings/python/check-wheel.sh"

step "Rust and Go bindings (cargo test, go test -race) against an installed copy"
# Inside the build tree, not /tmp: nothing else on the machine may clean it up meanwhile.
bind_prefix="$root/build-ci/bindings-prefix"
rm -rf "$bind_prefix"
cmake --install "$root/build-ci" --prefix "$bind_prefix" >/dev/null
bash "$root/bindings/rust/test.sh" "$bind_prefix"
bash "$root/bindings/go/test.sh" "$bind_prefix"
# go get as a user runs it: a file:// module proxy serving bindings/go, no replace line.
bash "$root/scripts/check-go-get.sh" "$bind_prefix"

step "Rust crates as packaged: cargo package, cargo test and cargo add (system library, bundled)"
# The same installed copy for the system-library half; the bundled half finds none (asserted).
bash "$root/bindings/rust/check-package.sh" "$bind_prefix"
rm -rf "$bind_prefix"

step "install and consume (pkg-config from C, find_package from C++)"
bash "$root/scripts/check-install.sh" "$root/build-ci"

step "ABI against the committed baseline (abi/)"
bash "$root/scripts/check-abi.sh" "$root/build-ci"

step "Debian packages: dpkg-buildpackage, lintian, install, consume, purge"
# Its own build (debian/, DEB_BUILD_OPTIONS="nocheck parallel=2"): the tests ran above.
DEB_BUILD_OPTIONS="nocheck parallel=$jobs" bash "$root/scripts/check-deb.sh"

# One clang build under ASan+UBSan serves every test suite (the examples' runs too), the
# libFuzzer targets and clang's thread-safety analysis of the library (PTL_GUARDED_BY,
# PTL_REQUIRES: errors). Both sanitizer builds use -O1 with line tables only (-g1): the
# reports keep their file:line stacks, and the suites compile and run faster; and the
# library as a unity build (PTL_UNITY_BUILD: 3x faster to compile; the normal build above
# compiles each file alone, for clang-tidy and to catch a missing include).
sanitizer_flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g1"
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" -DPTL_UNITY_BUILD=ON)
dir="$root/build-ci-address"
step "sanitizer build: address,undefined (clang, every suite, the fuzzers, -Wthread-safety)"
CC=clang CXX=clang++ cmake -S "$root" -B "$dir" -G Ninja "${sanitizer_flags[@]}" \
  -DPTL_SANITIZE=address,undefined -DPTL_BUILD_FUZZERS=ON -DPTL_THREAD_SAFETY=ON >/dev/null
cmake --build "$dir" -j "$jobs"
# halt_on_error: a report fails the test that caused it.
ASAN_OPTIONS=detect_leaks=1:halt_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  ctest --test-dir "$dir" --output-on-failure -j "$jobs"

step "libFuzzer targets (tests/fuzz, the same build): 30 s each"
PTL_FUZZ_BUILD="$dir" bash "$root/scripts/fuzz.sh" 30

dir="$root/build-ci-thread"
step "sanitizer build: thread (GCC, every suite, warnings are errors)"
cmake -S "$root" -B "$dir" -G Ninja "${sanitizer_flags[@]}" -DPTL_SANITIZE=thread \
  -DPTL_WARNINGS_AS_ERRORS=ON -DPTL_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$dir" -j "$jobs"
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
  ctest --test-dir "$dir" --output-on-failure -j "$jobs"

step "all checks passed"
