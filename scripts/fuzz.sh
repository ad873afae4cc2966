#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds the libFuzzer targets of tests/fuzz with clang under ASan+UBSan (in build-fuzz),
# with clang's thread-safety analysis as errors (PTL_THREAD_SAFETY), checks their sources
# with clang-tidy, and runs each for SECONDS (default 60) on a copy of its corpus, plus
# the inputs that once failed (tests/fuzz/regressions, read only).
# Fails on any crash, hang (-timeout), leak or broken invariant; the failing input is
# kept in build-fuzz/fuzz-artifacts/.
# Usage: fuzz.sh [SECONDS]
# PTL_FUZZ_BUILD=DIR: use DIR, a tree already configured by clang with PTL_BUILD_FUZZERS,
# PTL_SANITIZE=address,undefined and PTL_THREAD_SAFETY (scripts/test.sh's ASan+UBSan build,
# which runs the test suites too), instead of configuring build-fuzz.
# One input again: build-fuzz/tests/fuzz/ptl_fuzz_capi FILE (PTL_FUZZ_TRACE=1 lists its calls).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
secs=${1:-60}
build=${PTL_FUZZ_BUILD:-$root/build-fuzz}

if [ -n "${PTL_FUZZ_BUILD:-}" ]; then
  cache="$build/CMakeCache.txt"
  for want in PTL_BUILD_FUZZERS:BOOL=ON PTL_THREAD_SAFETY:BOOL=ON \
      PTL_SANITIZE:STRING=address,undefined; do
    grep -qx "$want" "$cache" 2>/dev/null || { echo "fuzz.sh: $build lacks $want" >&2; exit 2; }
  done
else
  CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DPTL_BUILD_FUZZERS=ON -DPTL_SANITIZE=address,undefined -DPTL_BUILD_EXAMPLES=OFF \
    -DPTL_BUILD_TOOLS=OFF -DPTL_BUILD_BENCHMARKS=OFF -DPTL_THREAD_SAFETY=ON >/dev/null
fi
# The shared library too: with PTL_THREAD_SAFETY, clang's lock analysis of all of it fails
# the build on a lock rule broken anywhere (ADR 17).
cmake --build "$build" -j "$(nproc)" --target pocketflow_throttled ptl_fuzz_capi ptl_fuzz_uri \
  ptl_fuzz_headers
# The harness needs clang's -fsanitize=fuzzer, so it is checked here, with this build's
# compile commands (scripts/lint.sh checks the library's sources with the gcc build).
clang-tidy -p "$build" --quiet --header-filter='tests/fuzz/.*' \
  "$root/tests/fuzz/capi_fuzz.cpp" "$root/tests/fuzz/uri_fuzz.cpp" \
  "$root/tests/fuzz/headers_fuzz.cpp" 2>/dev/null
echo "clang-tidy: tests/fuzz clean"


work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=()
for target in capi uri headers; do
  corpus="$work/$target"
  artifacts="$build/fuzz-artifacts/$target"
  log="$build/fuzz-$target.log"
  mkdir -p "$corpus" "$artifacts"
  cp "$root/tests/fuzz/corpus/$target/"* "$corpus/"
  regressions=()
  if compgen -G "$root/tests/fuzz/regressions/$target/*" >/dev/null; then
    regressions=("$root/tests/fuzz/regressions/$target")
  fi
  printf 'ptl_fuzz_%s: %s s\n' "$target" "$secs"
  # New inputs go to the first corpus directory only: the repository is never written.
  ASAN_OPTIONS=detect_leaks=1:halt_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    "$build/tests/fuzz/ptl_fuzz_$target" -max_total_time="$secs" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts/" \
    "$corpus" "${regressions[@]}" >"$log" 2>&1 &
  pid=$!
  rc=0
  wait "$pid" || rc=$?
  # The shm:// segments of this run (named for the fuzzer's pid); a crash leaves them.
  rm -f "/dev/shm/ptl.ptlfuzz.$pid" /dev/shm/ptl.ptlfuzz."$pid".*
  grep -a -E '^#[0-9]+[[:space:]]+(DONE|INITED)' "$log" | tail -n 1 || true
  grep -a -E '^stat::(number_of_executed_units|average_exec_per_sec)' "$log" || true
  if [ "$rc" -ne 0 ]; then
    tail -n 60 "$log"
    echo "ptl_fuzz_$target FAILED (exit $rc); input in $artifacts/, log in $log" >&2
    failed+=("$target")
  fi
done
if [ "${#failed[@]}" -ne 0 ]; then
  echo "fuzz.sh: failed: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz.sh: no crash, hang, leak or broken invariant in ${secs} s per target"
