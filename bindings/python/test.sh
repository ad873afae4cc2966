#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Tests the Python binding against a built or installed libpocketflow_throttled.
#
#   bash bindings/python/test.sh [DIR]
#
# DIR is an install prefix (DIR/lib*/libpocketflow_throttled.so.0) or a CMake build
# directory (searched for the library). Without DIR: $PTL_LIBRARY (the .so itself) if set,
# else $PTL_PREFIX, else the library on the system loader path. Creates a venv
# ($PTL_PY_VENV, default a temporary one), pip-installs this package from the repository's
# root without a library of its own (PTL_PY_BUNDLE_LIBRARY=OFF: scikit-build-core builds
# just its C extension, pocketflow_throttled._speedups) with pytest and pytest-asyncio from
# PyPI, checks its metadata (the distribution pocketflow-throttled-native) and mypy, and
# runs the suite twice: with the extension, then with PTL_PY_PURE=1 (the ctypes fallback);
# extra arguments after DIR go to pytest. Exits non-zero on any failure. Needs python3 with
# venv (installed with apt-get if missing); the extension needs gcc and python3-dev
# (scripts/install-deps.sh), and test_hot_path.py fails if it was not built.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

dir=${1:-${PTL_PREFIX:-}}
[ $# -gt 0 ] && shift
if [ -n "$dir" ]; then
  [ -d "$dir" ] || { echo "test.sh: $dir is not a directory" >&2; exit 2; }
  lib=$(find "$dir" -maxdepth 4 -name 'libpocketflow_throttled.so.0' \( -type f -o -type l \) \
        2>/dev/null | sort | head -n 1)
  [ -n "$lib" ] || { echo "test.sh: no libpocketflow_throttled.so.0 under $dir" >&2; exit 2; }
  export PTL_LIBRARY=$(cd "$(dirname "$lib")" && pwd)/$(basename "$lib")
fi
echo "test.sh: library: ${PTL_LIBRARY:-(system loader path)}"

if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
  else
    echo "test.sh: python3 lacks venv/ensurepip (install python3-venv)" >&2; exit 2
  fi
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/ptl-py-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
venv=${PTL_PY_VENV:-$work/venv}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
# scikit-build-core builds out of the source tree (a temporary build folder).
"$venv/bin/python" -m pip install -q --disable-pip-version-check \
  -C cmake.define.PTL_PY_BUNDLE_LIBRARY=OFF "$root" pytest pytest-asyncio
# The installed distribution has its own name (not the original pure-Python package's),
# says its license and carries the text; the package carries no library of its own.
"$venv/bin/python" - <<'PY'
import importlib.metadata as md
dist = md.distribution("pocketflow-throttled-native")
assert dist.metadata["License"] == "MIT", dist.metadata["License"]
assert any(str(f).endswith("LICENSE") for f in dist.files or []), "no LICENSE in the install"
assert not any("libpocketflow_throttled" in str(f) for f in dist.files or []), dist.files
try:
    md.distribution("pocketflow-throttled")
    raise AssertionError("a distribution named pocketflow-throttled is installed")
except md.PackageNotFoundError:
    pass
PY
# The package type-checks (its py.typed promises annotations that hold).
"$venv/bin/python" -m pip install -q --disable-pip-version-check mypy
"$venv/bin/python" -m mypy --config-file "$root/pyproject.toml" "$here/src/pocketflow_throttled"

# Run from the tests' folder so the installed package (not the source tree) is tested.
cd "$here/tests"
status=0
for pure in "" 1; do
  if [ -z "$pure" ]; then run=(env -u PTL_PY_PURE); else run=(env PTL_PY_PURE=1); fi
  echo "test.sh: hot path: $("${run[@]}" "$venv/bin/python" -c \
    'import pocketflow_throttled._native as N; print(N.HOT_PATH, N.SPEEDUPS_WHY)')"
  "${run[@]}" PYTHONDONTWRITEBYTECODE=1 "$venv/bin/python" -m pytest -c "$root/pyproject.toml" \
    --rootdir "$root" -p no:cacheprovider -q "$here/tests" "$@" || status=$?
done
exit "$status"
