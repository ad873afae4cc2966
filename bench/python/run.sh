#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Benchmarks the Python binding (its C extension hot path, and the ctypes one with
# PTL_PY_PURE=1) side by side with asyncio.Semaphore, aiolimiter and the original
# pocketflow-throttled, and prints markdown tables of ratios.
#
#   bash bench/python/run.sh [DIR] [-- bench_binding.py options, e.g. --reps 5]
#
# DIR: an install prefix or CMake build directory of libpocketflow_throttled (else
# $PTL_LIBRARY, else the system loader path). The original package (0.2.0): the file or
# directory in $PTL_BENCH_ORIGINAL (its pocketflow_throttled/rate_limiter.py), else a
# `pip download pocketflow-throttled==0.2.0`; if neither works it is left out and the
# table says why. Uses the venv $PTL_PY_VENV if set, else a temporary one.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

if [ $# -gt 0 ] && [ "$1" != "--" ]; then
  lib=$(find "$1" -maxdepth 4 -name 'libpocketflow_throttled.so.0' \( -type f -o -type l \) \
        2>/dev/null | sort | head -n 1)
  [ -n "$lib" ] || { echo "run.sh: no libpocketflow_throttled.so.0 under $1" >&2; exit 2; }
  export PTL_LIBRARY=$(cd "$(dirname "$lib")" && pwd)/$(basename "$lib")
  shift
fi
[ "${1:-}" = "--" ] && shift

work=$(mktemp -d "${TMPDIR:-/tmp}/ptl-py-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
venv=${PTL_PY_VENV:-$work/venv}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
# The package without a library of its own (just its C extension): the one above is used.
"$venv/bin/python" -m pip install -q --disable-pip-version-check \
  -C cmake.define.PTL_PY_BUNDLE_LIBRARY=OFF "$root" aiolimiter

if [ -z "${PTL_BENCH_ORIGINAL:-}" ]; then
  if "$venv/bin/python" -m pip download -q --disable-pip-version-check --no-deps \
       -d "$work/orig" "pocketflow-throttled==0.2.0" >"$work/pip.log" 2>&1; then
    "$venv/bin/python" -m zipfile -e "$work"/orig/*.whl "$work/orig/src"
    export PTL_BENCH_ORIGINAL="$work/orig/src"
  else
    why=$(grep -m1 ERROR "$work/pip.log" || tail -n1 "$work/pip.log")
    export PTL_BENCH_ORIGINAL_WHY="pip download pocketflow-throttled==0.2.0 failed: $why"
  fi
fi
status=0
PYTHONDONTWRITEBYTECODE=1 "$venv/bin/python" "$here/bench_binding.py" "$@" || status=$?
exit "$status"
