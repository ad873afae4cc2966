#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds the Debian packages of a build tree (cpack -G DEB), checks their files and
# metadata (dpkg-deb -c / -f / -e), installs them with dpkg, builds the C consumer through
# pkg-config and the C++ consumer through find_package against the installed system files
# only, runs the installed ptlctl and ptl-demo, and purges the packages again, so a
# developer's machine is left as it was. Runs lintian when present and prints its
# findings (they do not fail the check). Needs root (dpkg -i), dpkg-dev and file.
# Usage: check-deb.sh BUILD_DIR   (a built tree configured with -DCMAKE_INSTALL_PREFIX=/usr)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$(cd "${1:?usage: check-deb.sh BUILD_DIR}" && pwd)
runtime_pkg=libpocketflow-throttled0
dev_pkg=libpocketflow-throttled-dev
tools_pkg=pocketflow-throttled-tools
packages=("$runtime_pkg" "$dev_pkg" "$tools_pkg")

fail() { echo "check-deb: $*" >&2; exit 1; }
step() { printf -- '--- %s\n' "$*"; }
[ "$(id -u)" -eq 0 ] || fail "run as root (dpkg -i / dpkg --purge)"
[ -f "$build/CPackConfig.cmake" ] || fail "$build is not a configured build tree"
for pkg in "${packages[@]}"; do
  if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'installed'; then
    fail "$pkg is already installed; remove it first (dpkg --purge ${packages[*]})"
  fi
done
# A copy in /usr/local would shadow the packaged headers (searched before /usr/include).
for stray in /usr/local/include/pocketflow_throttled \
    /usr/local/lib/pkgconfig/pocketflow_throttled.pc; do
  [ ! -e "$stray" ] || fail "$stray exists and would shadow the packaged files; remove it first"
done

cache() { sed -n "s/^$1:[A-Z]*=//p" "$build/CMakeCache.txt"; }
version=$(cache CMAKE_PROJECT_VERSION)
release=$(cache PTL_DEB_RELEASE)
debver="$version-$release"
arch=$(dpkg --print-architecture)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
libdir=/usr/lib/$multiarch
[ "$(cache CMAKE_INSTALL_PREFIX)" = /usr ] ||
  fail "configure $build with -DCMAKE_INSTALL_PREFIX=/usr"
[ "$(cache CMAKE_INSTALL_LIBDIR)" = "lib/$multiarch" ] ||
  fail "CMAKE_INSTALL_LIBDIR is '$(cache CMAKE_INSTALL_LIBDIR)', expected lib/$multiarch"

work=$(mktemp -d)
installed=0
cleanup() {
  if [ "$installed" = 1 ]; then
    echo "--- purging ${packages[*]}"
    dpkg --purge "${packages[@]}" >/dev/null
  fi
  rm -rf "$work"
}
trap cleanup EXIT

step "cpack -G DEB ($debver, $arch)"
cpack -G DEB --config "$build/CPackConfig.cmake" -B "$work/out" >"$work/cpack.log" 2>&1 ||
  { cat "$work/cpack.log"; fail "cpack failed"; }
deb() { echo "$work/out/${1}_${debver}_${arch}.deb"; }
for pkg in "${packages[@]}"; do
  [ -f "$(deb "$pkg")" ] || { ls "$work/out"; fail "missing $(basename "$(deb "$pkg")")"; }
done
extra=$(find "$work/out" -maxdepth 1 -name '*.deb' | wc -l)
[ "$extra" -eq "${#packages[@]}" ] || { ls "$work/out"; fail "expected ${#packages[@]} packages"; }

# ---- contents ---------------------------------------------------------------------------
files() { dpkg-deb -c "$(deb "$1")" | awk '$1 !~ /^d/ {print $6}' | sed 's|^\./|/|'; }
expect_file() {  # PACKAGE PATH
  files "$1" | grep -qx "$2" || fail "$1 lacks $2"
}
expect_only() {  # PACKAGE REGEX: every file of PACKAGE matches
  local others
  others=$(files "$1" | grep -Ev "$2" || true)
  [ -z "$others" ] || fail "$1 has unexpected files: $others"
}
step "contents (dpkg-deb -c)"
expect_file "$runtime_pkg" "$libdir/libpocketflow_throttled.so.0"
expect_file "$runtime_pkg" "$libdir/libpocketflow_throttled.so.$version"
# Each package carries the license where Debian policy puts it (DEP-5, MIT).
for pkg in "${packages[@]}"; do expect_file "$pkg" "/usr/share/doc/$pkg/copyright"; done
doc_files='|/usr/share/doc/[^/]+/copyright'
expect_only "$runtime_pkg" "^($libdir/libpocketflow_throttled\.so\.0(\..*)?$doc_files)$"
for f in include/pocketflow_throttled/ptl.h include/pocketflow_throttled/ptl.hpp \
    "lib/$multiarch/libpocketflow_throttled.so" "lib/$multiarch/pkgconfig/pocketflow_throttled.pc" \
    "lib/$multiarch/cmake/pocketflow_throttled/pocketflow_throttledConfig.cmake" \
    "lib/$multiarch/cmake/pocketflow_throttled/pocketflow_throttledConfigVersion.cmake" \
    "lib/$multiarch/cmake/pocketflow_throttled/pocketflow_throttled-targets.cmake"; do
  expect_file "$dev_pkg" "/usr/$f"
done
dev_files="/usr/include/pocketflow_throttled/[^/]+\.(h|hpp)|$libdir/libpocketflow_throttled\.so"
dev_files+="|$libdir/pkgconfig/pocketflow_throttled\.pc|$libdir/cmake/pocketflow_throttled/[^/]+\.cmake"
expect_only "$dev_pkg" "^($dev_files$doc_files)$"
expect_file "$tools_pkg" /usr/bin/ptlctl
expect_file "$tools_pkg" /usr/bin/ptl-demo
expect_file "$tools_pkg" /usr/share/man/man1/ptlctl.1
expect_file "$tools_pkg" /usr/share/man/man1/ptl-demo.1
expect_only "$tools_pkg" "^(/usr/bin/ptl(ctl|-demo)|/usr/share/man/man1/ptl(ctl|-demo)\.1$doc_files)$"
for pkg in "${packages[@]}"; do
  printf '%-28s %s\n' "$pkg" "$(files "$pkg" | tr '\n' ' ')"
done

# ---- metadata ---------------------------------------------------------------------------
field() { dpkg-deb -f "$(deb "$1")" "$2"; }
expect_field() {  # PACKAGE FIELD REGEX
  local value
  value=$(field "$1" "$2")
  [[ $value =~ $3 ]] || fail "$1: $2 is '$value', expected /$3/"
}
step "metadata (dpkg-deb -f / -e)"
for pkg in "${packages[@]}"; do
  expect_field "$pkg" Package "^$pkg\$"
  expect_field "$pkg" Version "^${debver//./\\.}\$"
  expect_field "$pkg" Architecture "^$arch\$"
  expect_field "$pkg" Maintainer '^.+ <.+@.+>$'
  expect_field "$pkg" Source '^pocketflow-throttled$'
  [ "$(field "$pkg" Description | wc -l)" -ge 3 ] || fail "$pkg: no long description"
done
expect_field "$runtime_pkg" Section '^libs$'
expect_field "$dev_pkg" Section '^libdevel$'
expect_field "$tools_pkg" Section '^utils$'
exact="$runtime_pkg \\(= ${debver//./\\.}\\)"
expect_field "$runtime_pkg" Depends 'libc6 \(>= '
expect_field "$runtime_pkg" Depends 'libstdc\+\+6 \(>= '
if [ "$(cache PTL_WITH_REDIS)" = ON ]; then
  expect_field "$runtime_pkg" Depends 'libhiredis[0-9.]+ '
fi
expect_field "$dev_pkg" Depends "^$exact\$"
expect_field "$tools_pkg" Depends "(^|, )$exact(,|\$)"
dpkg-deb -e "$(deb "$runtime_pkg")" "$work/control"
grep -qx "libpocketflow_throttled 0 $runtime_pkg (>= $debver)" "$work/control/shlibs" ||
  fail "unexpected shlibs: $(cat "$work/control/shlibs")"
grep -qx 'activate-noawait ldconfig' "$work/control/triggers" || fail "no ldconfig trigger"
for pkg in "${packages[@]}"; do
  printf '%-28s Depends: %s\n' "$pkg" "$(field "$pkg" Depends)"
done
echo "shlibs: $(cat "$work/control/shlibs")"

# ---- lintian (reported, not required) ---------------------------------------------------
if command -v lintian >/dev/null; then
  step "lintian (findings are reported, not fatal)"
  lintian --display-info --tag-display-limit 0 "$work"/out/*.deb 2>&1 |
    grep -v 'running with root privileges' | sed 's/^/  /' || true
fi

# ---- install and use --------------------------------------------------------------------
step "dpkg -i"
installed=1
dpkg -i "$work"/out/*.deb >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; fail "dpkg -i failed"; }
for pkg in "${packages[@]}"; do
  [ "$(dpkg-query -W -f='${Status}' "$pkg")" = "install ok installed" ] || fail "$pkg not installed"
done
# The ldconfig trigger ran (/lib is /usr/lib on a merged-/usr system).
ldconfig -p | grep -Eq "libpocketflow_throttled\.so\.0 .*=> (/usr)?/lib/$multiarch/" ||
  fail "libpocketflow_throttled.so.0 is not in the ldconfig cache"

# Only the system's files: no build tree, no extra search paths, no rpath.
clean_env=(env -u PKG_CONFIG_PATH -u CMAKE_PREFIX_PATH -u LD_LIBRARY_PATH -u LIBRARY_PATH
  -u CPATH -u C_INCLUDE_PATH -u CPLUS_INCLUDE_PATH -u PTL_REGISTRY_URI)
system_lib=$(readlink -f "$libdir/libpocketflow_throttled.so.0")
uses_system_lib() {  # BINARY: no rpath, and it loads the packaged library
  local loaded
  if readelf -d "$1" | grep -Eq 'RPATH|RUNPATH'; then fail "$1 has an rpath"; fi
  loaded=$("${clean_env[@]}" ldd "$1" | awk '$1 == "libpocketflow_throttled.so.0" {print $3}')
  [ -n "$loaded" ] && [ "$(readlink -f "$loaded")" = "$system_lib" ] ||
    fail "$1 loads '$loaded', not the packaged $libdir/libpocketflow_throttled.so.0"
}

step "C consumer through pkg-config"
pcfile=$("${clean_env[@]}" pkg-config --variable=pcfiledir pocketflow_throttled)
pcfile+=/pocketflow_throttled.pc
[ "$pcfile" = "$libdir/pkgconfig/pocketflow_throttled.pc" ] || fail "pkg-config found $pcfile"
flags=$("${clean_env[@]}" pkg-config --cflags --libs pocketflow_throttled)
echo "pkg-config --cflags --libs pocketflow_throttled: $flags"
# A system install names /usr: pkg-config leaves out its own system folders.
[ "$(echo $flags)" = "-lpocketflow_throttled" ] || fail "pkg-config printed '$flags' for a system install"
# shellcheck disable=SC2086  # flags are words on purpose
"${clean_env[@]}" cc -std=c11 -Wall -Werror -o "$work/consumer-c" "$root/tests/install/consumer.c" \
  $flags -lpthread
uses_system_lib "$work/consumer-c"
"${clean_env[@]}" "$work/consumer-c"

step "C++ consumer through find_package"
"${clean_env[@]}" cmake -S "$root/tests/install/cxx" -B "$work/cxx-build" -G Ninja >/dev/null
config_dir=$(sed -n 's/^pocketflow_throttled_DIR:PATH=//p' "$work/cxx-build/CMakeCache.txt")
[ "$config_dir" = "$libdir/cmake/pocketflow_throttled" ] || fail "find_package used $config_dir"
echo "find_package(pocketflow_throttled): $config_dir"
"${clean_env[@]}" cmake --build "$work/cxx-build" >/dev/null
uses_system_lib "$work/cxx-build/consumer-cxx"
"${clean_env[@]}" "$work/cxx-build/consumer-cxx"

step "installed tools"
[ "$(command -v ptlctl)" = /usr/bin/ptlctl ] || fail "ptlctl resolves to $(command -v ptlctl)"
uses_system_lib /usr/bin/ptlctl
uses_system_lib /usr/bin/ptl-demo
out=$("${clean_env[@]}" /usr/bin/ptlctl --version)
echo "ptlctl --version: $out"
[ "$out" = "ptlctl $version" ] || fail "ptlctl --version says '$out', expected 'ptlctl $version'"
"${clean_env[@]}" /usr/bin/ptl-demo --time-scale 60 >"$work/demo.log" 2>&1 ||
  { cat "$work/demo.log"; fail "ptl-demo failed"; }
echo "ptl-demo --time-scale 60: $(tail -n 1 "$work/demo.log")"

step "dpkg --purge"
dpkg --purge "${packages[@]}" >/dev/null
installed=0
for f in "$libdir/libpocketflow_throttled.so.0" /usr/include/pocketflow_throttled \
    /usr/bin/ptlctl; do
  [ ! -e "$f" ] || fail "$f is left after dpkg --purge"
done
echo "check-deb: ${packages[*]} $debver: built, checked, installed, used and purged"
