#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs the Debian packages the build, the tests and the benchmarks need (run as root).
set -euo pipefail
packages=(
  build-essential cmake ninja-build pkg-config
  libboost-dev libspdlog-dev libgtest-dev libbenchmark-dev
  libhiredis-dev redis-server  # the redis:// backend; its tests start their own server
  clang-format clang-tidy
  clang libclang-rt-14-dev  # fuzz.sh: libFuzzer, sanitizer runtimes; test.sh: -Wthread-safety
  abigail-tools  # check-abi.sh (abidw, abidiff)
  debhelper lintian blhc  # check-deb.sh: dpkg-buildpackage of debian/ (dh, compat 13), its checks
  libcli11-dev  # ptlctl, ptl-demo: command lines (CLI11 2.1, header-only; not the library)
  python3-dev python3-venv  # bindings/python: its C extension (Python.h; gcc: build-essential), venv
)
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps.sh: run as root (apt-get install)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
echo "install-deps.sh: ${#packages[@]} packages present"
