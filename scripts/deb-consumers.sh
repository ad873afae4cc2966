# SPDX-License-Identifier: MIT
# The consumers of the installed Debian packages, sourced by scripts/check-deb.sh once the
# packages are installed: each builds and runs a program of one language against the
# installed system files only (clean_env: no PKG_CONFIG_PATH, LD_LIBRARY_PATH and the like)
# and checks that it loads the packaged library ($system_lib). Uses check-deb.sh's step,
# fail, clean_env, uses_system_lib, libdir, system_lib, root, src and work.

consumer_c() {
  step "C consumer through pkg-config"
  local pcfile flags
  pcfile=$("${clean_env[@]}" pkg-config --variable=pcfiledir pocketflow_throttled)
  pcfile+=/pocketflow_throttled.pc
  [ "$pcfile" = "$libdir/pkgconfig/pocketflow_throttled.pc" ] || fail "pkg-config found $pcfile"
  flags=$("${clean_env[@]}" pkg-config --cflags --libs pocketflow_throttled)
  echo "pkg-config --cflags --libs pocketflow_throttled: $flags"
  # A system install names /usr: pkg-config leaves out its own system folders.
  [ "$(echo $flags)" = "-lpocketflow_throttled" ] ||
    fail "pkg-config printed '$flags' for a system install"
  # shellcheck disable=SC2086  # flags are words on purpose
  "${clean_env[@]}" cc -std=c11 -Wall -Werror -o "$work/consumer-c" \
    "$root/tests/install/consumer.c" $flags -lpthread
  uses_system_lib "$work/consumer-c"
  "${clean_env[@]}" "$work/consumer-c"
}

consumer_cxx() {
  step "C++ consumer through find_package"
  local config_dir
  "${clean_env[@]}" cmake -S "$root/tests/install/cxx" -B "$work/cxx-build" -G Ninja >/dev/null
  config_dir=$(sed -n 's/^pocketflow_throttled_DIR:PATH=//p' "$work/cxx-build/CMakeCache.txt")
  [ "$config_dir" = "$libdir/cmake/pocketflow_throttled" ] || fail "find_package used $config_dir"
  echo "find_package(pocketflow_throttled): $config_dir"
  "${clean_env[@]}" cmake --build "$work/cxx-build" >/dev/null
  uses_system_lib "$work/cxx-build/consumer-cxx"
  "${clean_env[@]}" "$work/cxx-build/consumer-cxx"
}

consumer_go() {
  step "Go binding's tests through cgo and pkg-config"
  # A build cache of its own: Go keys a cgo package on the CGO_* variables, not on what
  # pkg-config printed, so a cached build against another copy of the library could be
  # reused (see bindings/use_prefix.sh).
  cp -r "$src/bindings/go" "$work/go"
  (cd "$work/go" && "${clean_env[@]}" CGO_ENABLED=1 GOCACHE="$work/gocache" GOFLAGS=-mod=mod \
    go test -c -o "$work/go.test" .) || fail "the Go binding does not build against the packages"
  uses_system_lib "$work/go.test"
  (cd "$work/go" && "${clean_env[@]}" "$work/go.test" -test.count=1 >"$work/go.log" 2>&1) ||
    { cat "$work/go.log"; fail "the Go binding's tests failed against the packages"; }
  echo "go test: $(tail -n 1 "$work/go.log")"
}

consumer_python() {
  step "Python package (its library not bundled) on the packaged library, pytest"
  local loaded
  python3 -m venv "$work/venv"
  # scikit-build-core builds only the C extension: the package loads the system library.
  "${clean_env[@]}" -u PTL_LIBRARY "$work/venv/bin/pip" install -q --disable-pip-version-check \
    -C cmake.define.PTL_PY_BUNDLE_LIBRARY=OFF "$src" pytest pytest-asyncio >"$work/pip.log" 2>&1 ||
    { cat "$work/pip.log"; fail "the Python package does not install against the packages"; }
  loaded=$(cd "$work" && "${clean_env[@]}" -u PTL_LIBRARY "$work/venv/bin/python" -c \
    'import pocketflow_throttled._native as n; print(n.LIBRARY_PATH)')
  [ "$(readlink -f "$loaded")" = "$system_lib" ] ||
    fail "the Python package loaded '$loaded', not the packaged $system_lib"
  echo "pocketflow_throttled loads $loaded"
  (cd "$src/bindings/python/tests" && "${clean_env[@]}" -u PTL_LIBRARY "$work/venv/bin/python" \
    -m pytest -q -p no:cacheprovider test_rate_limiter.py test_registry.py >"$work/pytest.log" 2>&1) ||
    { cat "$work/pytest.log"; fail "the Python binding's tests failed against the packages"; }
  echo "pytest: $(tail -n 1 "$work/pytest.log")"
}

consumer_rust() {
  step "Rust crates (pkg-config, no bundled copy) on the packaged library, cargo test"
  local bin
  cp -r "$src/bindings/rust" "$work/rust"
  (cd "$work/rust" && "${clean_env[@]}" -u PTL_LIB_DIR CARGO_TARGET_DIR="$work/rust-target" \
    cargo test --workspace --quiet >"$work/cargo.log" 2>&1) ||
    { cat "$work/cargo.log"; fail "the Rust crates' tests failed against the packages"; }
  bin=$(find "$work/rust-target/debug/deps" -maxdepth 1 -type f -executable -name 'limiter-*' |
    head -n 1)
  [ -n "$bin" ] || fail "no Rust test binary of tests/limiter.rs in $work/rust-target"
  uses_system_lib "$bin"
  echo "cargo test: $(grep -c '^test result: ok' "$work/cargo.log") test binaries passed"
}
