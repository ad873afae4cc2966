#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds the Debian packages from the debian/ source package as a Debian maintainer does
# (dpkg-buildpackage -us -uc -b, on a copy of the working tree in a temporary folder, so
# the repository stays clean), checks that the build log shows the hardening flags (blhc)
# and the packages' files and metadata (dpkg-deb -c / -f / -e),
# fails on any lintian error or warning, installs them with dpkg, builds and runs
# consumers against the installed system files only (C through pkg-config, C++ through
# find_package, the Go, Python and Rust bindings: scripts/deb-consumers.sh), runs the installed
# ptlctl and ptl-demo, and purges the packages again, so the machine is left as it was.
# Needs root (dpkg -i), dpkg-dev, debhelper, lintian, blhc and go.
# Usage: check-deb.sh   (DEB_BUILD_OPTIONS defaults to "nocheck parallel=2": the test
#                        suite runs in the other CI steps)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runtime_pkg=libpocketflow-throttled0
dev_pkg=libpocketflow-throttled-dev
tools_pkg=pocketflow-throttled-tools
packages=("$runtime_pkg" "$dev_pkg" "$tools_pkg")

fail() { echo "check-deb: $*" >&2; exit 1; }
step() { printf -- '--- %s (at %d s)\n' "$*" "$SECONDS"; }
[ $# -eq 0 ] || fail "takes no arguments (it builds its own tree with dpkg-buildpackage)"
[ "$(id -u)" -eq 0 ] || fail "run as root (dpkg -i / dpkg --purge)"
for tool in dpkg-buildpackage dh lintian blhc go; do
  command -v "$tool" >/dev/null || fail "$tool is not installed (scripts/install-deps.sh)"
done
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

version=$(dpkg-parsechangelog -l "$root/debian/changelog" -S Version)
upstream=${version%%-*}
arch=$(dpkg --print-architecture)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
libdir=/usr/lib/$multiarch

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

# ---- build ------------------------------------------------------------------------------
# The working tree as it is (tracked and new files, not ignored ones such as build-*).
src=$work/pocketflow-throttled
mkdir "$src"
git -C "$root" ls-files -z --cached --others --exclude-standard |
  while IFS= read -r -d '' f; do [ ! -e "$root/$f" ] || printf '%s\0' "$f"; done |
  tar -C "$root" --null -T - -cf - | tar -C "$src" -xf -
export DEB_BUILD_OPTIONS=${DEB_BUILD_OPTIONS-nocheck parallel=2}
profiles=()
case " $DEB_BUILD_OPTIONS " in *" nocheck "*) profiles=(-Pnocheck) ;; esac
step "dpkg-buildpackage -us -uc -b ($version, $arch, DEB_BUILD_OPTIONS='$DEB_BUILD_OPTIONS')"
(cd "$src" && dpkg-buildpackage -us -uc -b "${profiles[@]}") >"$work/build.log" 2>&1 ||
  { tail -n 60 "$work/build.log"; fail "dpkg-buildpackage failed (last lines above)"; }
deb() { echo "$work/${1}_${version}_${arch}.deb"; }
for pkg in "${packages[@]}"; do
  [ -f "$(deb "$pkg")" ] || { ls "$work"; fail "missing $(basename "$(deb "$pkg")")"; }
done
changes=$work/pocketflow-throttled_${version}_${arch}.changes
[ -f "$changes" ] || fail "missing $(basename "$changes")"
# Every compile and link line of the build log carries dpkg-buildflags' hardening flags
# (bindnow: hardening=+all; PIE is the compiler's default on the architectures blhc knows).
blhc --arch="$arch" --bindnow "$work/build.log" >"$work/blhc.log" 2>&1 ||
  { head -n 20 "$work/blhc.log"; fail "blhc: compiler or linker flags without the hardening set"; }
echo "blhc: every compile and link line has the hardening flags"

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
expect_file "$runtime_pkg" "$libdir/libpocketflow_throttled.so.$upstream"
# Each package carries the license (DEP-5, MIT) and the changelog where policy puts them.
for pkg in "${packages[@]}"; do
  expect_file "$pkg" "/usr/share/doc/$pkg/copyright"
  expect_file "$pkg" "/usr/share/doc/$pkg/changelog.gz"
done
doc_files='|/usr/share/doc/[^/]+/(copyright|changelog\.gz)'
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
expect_file "$tools_pkg" /usr/share/man/man1/ptlctl.1.gz
expect_file "$tools_pkg" /usr/share/man/man1/ptl-demo.1.gz
expect_only "$tools_pkg" "^(/usr/bin/ptl(ctl|-demo)|/usr/share/man/man1/ptl(ctl|-demo)\.1\.gz$doc_files)$"
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
  expect_field "$pkg" Version "^${version//./\\.}\$"
  expect_field "$pkg" Architecture "^$arch\$"
  expect_field "$pkg" Maintainer '^.+ <.+@.+>$'
  expect_field "$pkg" Source '^pocketflow-throttled$'
  [ "$(field "$pkg" Description | wc -l)" -ge 3 ] || fail "$pkg: no long description"
done
expect_field "$runtime_pkg" Section '^libs$'
expect_field "$dev_pkg" Section '^libdevel$'
expect_field "$tools_pkg" Section '^utils$'
expect_field "$runtime_pkg" Multi-Arch '^same$'
expect_field "$dev_pkg" Multi-Arch '^same$'
expect_field "$tools_pkg" Multi-Arch '^foreign$'
expect_field "$runtime_pkg" Depends 'libc6 \(>= '
expect_field "$runtime_pkg" Depends 'libstdc\+\+6 \(>= '
expect_field "$runtime_pkg" Depends 'libhiredis[0-9.]+ '
expect_field "$dev_pkg" Depends "^$runtime_pkg \\(= ${version//./\\.}\\)(, |\$)"
# From the symbols file: the oldest release with every function the tools call.
expect_field "$tools_pkg" Depends "(^|, )$runtime_pkg \\(>= [0-9.]+\\)(,|\$)"
dpkg-deb -e "$(deb "$runtime_pkg")" "$work/control"
grep -qx "libpocketflow_throttled 0 $runtime_pkg (>= $upstream)" "$work/control/shlibs" ||
  fail "unexpected shlibs: $(cat "$work/control/shlibs")"
grep -q '^ ptl_acquire@PTL_0\.1 ' "$work/control/symbols" || fail "no symbols file"
grep -qx 'activate-noawait ldconfig' "$work/control/triggers" || fail "no ldconfig trigger"
for script in postinst postrm; do
  [ ! -e "$work/control/$script" ] || ! grep -q ldconfig "$work/control/$script" ||
    fail "$runtime_pkg's $script calls ldconfig (the trigger does)"
done
for pkg in "${packages[@]}"; do
  printf '%-28s Depends: %s\n' "$pkg" "$(field "$pkg" Depends)"
done
echo "shlibs: $(cat "$work/control/shlibs")"
echo "symbols: $(grep -c '@PTL_' "$work/control/symbols") (functions and version nodes)"

# ---- lintian: no errors, no warnings ----------------------------------------------------
step "lintian --info (errors and warnings fail)"
lint_rc=0
lintian --info --display-info --tag-display-limit 0 --fail-on error,warning "$changes" \
  >"$work/lintian.log" 2>&1 || lint_rc=$?
grep -Ev '^N:|running with root privileges' "$work/lintian.log" | sed 's/^/  /' || true
[ "$lint_rc" -ne 1 ] || fail "lintian could not check $(basename "$changes") (exit status 1)"
bad=$(grep -E '^[EW]:' "$work/lintian.log" || true)
[ -z "$bad" ] || fail "lintian errors or warnings:
$bad"
[ "$lint_rc" -eq 0 ] || fail "lintian exited with $lint_rc"

# ---- install ----------------------------------------------------------------------------
step "dpkg -i"
installed=1
debs=()
for pkg in "${packages[@]}"; do debs+=("$(deb "$pkg")"); done
dpkg -i "${debs[@]}" >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; fail "dpkg -i failed"; }
for pkg in "${packages[@]}"; do
  [ "$(dpkg-query -W -f='${Status}' "$pkg")" = "install ok installed" ] || fail "$pkg not installed"
done
# The ldconfig trigger ran (/lib is /usr/lib on a merged-/usr system).
ldconfig -p | grep -Eq "libpocketflow_throttled\.so\.0 .*=> (/usr)?/lib/$multiarch/" ||
  fail "libpocketflow_throttled.so.0 is not in the ldconfig cache"

# Only the system's files: no build tree, no extra search paths, no rpath.
clean_env=(env -u PKG_CONFIG_PATH -u CMAKE_PREFIX_PATH -u LD_LIBRARY_PATH -u LIBRARY_PATH
  -u CPATH -u C_INCLUDE_PATH -u CPLUS_INCLUDE_PATH -u PTL_REGISTRY_URI
  -u CGO_CFLAGS -u CGO_CPPFLAGS -u CGO_LDFLAGS)
system_lib=$(readlink -f "$libdir/libpocketflow_throttled.so.0")
uses_system_lib() {  # BINARY: no rpath, and it loads the packaged library
  local loaded
  if readelf -d "$1" | grep -Eq 'RPATH|RUNPATH'; then fail "$1 has an rpath"; fi
  loaded=$("${clean_env[@]}" ldd "$1" | awk '$1 == "libpocketflow_throttled.so.0" {print $3}')
  [ -n "$loaded" ] && [ "$(readlink -f "$loaded")" = "$system_lib" ] ||
    fail "$1 loads '$loaded', not the packaged $libdir/libpocketflow_throttled.so.0"
}

# ---- consumers of the installed packages ------------------------------------------------
# shellcheck source=deb-consumers.sh
source "$root/scripts/deb-consumers.sh"
for consumer in consumer_c consumer_cxx consumer_go consumer_python consumer_rust; do
  "$consumer"
done

step "installed tools"
[ "$(command -v ptlctl)" = /usr/bin/ptlctl ] || fail "ptlctl resolves to $(command -v ptlctl)"
uses_system_lib /usr/bin/ptlctl
uses_system_lib /usr/bin/ptl-demo
out=$("${clean_env[@]}" /usr/bin/ptlctl --version)
echo "ptlctl --version: $out"
[ "$out" = "ptlctl $upstream" ] || fail "ptlctl --version says '$out', expected 'ptlctl $upstream'"
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
echo "check-deb: ${packages[*]} $version: built, linted, installed, used and purged"
