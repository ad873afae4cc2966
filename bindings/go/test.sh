#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs the Go binding's tests, under the race detector, against an installed copy of the
# library.
#
#   bash bindings/go/test.sh PREFIX
#
# PREFIX is where pocketflow-throttled was installed (cmake --install BUILD --prefix PREFIX):
# it holds lib/libpocketflow_throttled.so and lib/pkgconfig/pocketflow_throttled.pc (lib64/
# works too). Sets PKG_CONFIG_PATH (cgo links through pkg-config) and LD_LIBRARY_PATH (the
# test binary loads the library), then runs `go test -race ./...`; exits non-zero on failure.
set -euo pipefail

# shellcheck source=../use_prefix.sh
source "$(dirname "${BASH_SOURCE[0]}")/../use_prefix.sh"
use_prefix "$@"
export CGO_ENABLED=1
cd "$(dirname "${BASH_SOURCE[0]}")"
go vet ./...
if ! go test -race -count=1 -v ./...; then
  # What the link saw: the library's folder and the flags pkg-config gave cgo.
  echo "test.sh: go test failed; pkg-config --libs: $(pkg-config --libs pocketflow_throttled)" >&2
  ls -la "${LD_LIBRARY_PATH%%:*}" >&2
  exit 1
fi
