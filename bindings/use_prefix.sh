# SPDX-License-Identifier: MIT
# Sourced by the bindings' test scripts: `use_prefix PREFIX` finds the library installed
# under PREFIX (cmake --install BUILD --prefix PREFIX; lib/, lib64/ or lib/<triplet>/) and
# exports PKG_CONFIG_PATH (build scripts and cgo link through pkg-config) and
# LD_LIBRARY_PATH (test binaries load the library), and CGO_CFLAGS/CGO_LDFLAGS. Exits 2 with a message otherwise.
use_prefix() {
  if [[ $# -ne 1 || ! -d "$1" ]]; then
    echo "usage: $0 PREFIX   (an installed prefix of pocketflow-throttled)" >&2
    exit 2
  fi
  local prefix libdir= d
  prefix=$(cd "$1" && pwd)
  for d in "$prefix/lib" "$prefix/lib64" "$prefix"/lib/*-linux-gnu; do
    if [[ -e "$d/libpocketflow_throttled.so" ]]; then libdir=$d; break; fi
  done
  if [[ -z "$libdir" ]]; then
    echo "$0: no libpocketflow_throttled.so under $prefix/lib*" >&2
    exit 2
  fi
  export PKG_CONFIG_PATH="$libdir/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
  export LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  # Go's build cache keys a cgo package on its sources and the CGO_* variables, not on what
  # `#cgo pkg-config:` printed (golang/go#24544): a package built against another prefix
  # would come back from the cache linking against a folder that may be gone. Naming the
  # prefix's folders in CGO_CFLAGS/CGO_LDFLAGS puts them into the key.
  CGO_CFLAGS="${CGO_CFLAGS:--O2 -g} -I$prefix/include"
  CGO_LDFLAGS="${CGO_LDFLAGS:--O2 -g} -L$libdir"
  export CGO_CFLAGS CGO_LDFLAGS
}
