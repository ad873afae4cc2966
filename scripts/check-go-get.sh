#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Proves that `go get` of the Go binding works as a user runs it, with no `replace` line:
# serves bindings/go as the module proxy would once the repository is published (a file://
# GOPROXY holding the module's .info, .mod and .zip, laid out as the GOPROXY protocol says),
# then makes a fresh module that only runs `go get MODULE@VERSION` and `go test` on a test
# of its own that imports the binding, against an installed copy of the library.
#
#   bash scripts/check-go-get.sh PREFIX
#
# PREFIX: where pocketflow-throttled was installed (as for bindings/go/test.sh). The module
# path is read from bindings/go/go.mod, the one place it is set; the version from the
# project's CMake version (a published module is tagged bindings/go/vX.Y.Z).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=../bindings/use_prefix.sh
source "$root/bindings/use_prefix.sh"
use_prefix "$@"
export CGO_ENABLED=1

module=$(cd "$root/bindings/go" && go list -m)
version=v$(sed -n 's/^project(pocketflow_throttled VERSION \([0-9.]*\).*/\1/p' "$root/CMakeLists.txt")
[[ $version =~ ^v[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "check-go-get: no version found" >&2; exit 1; }
work=$(mktemp -d)
trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT  # the module cache is read-only

# ---- the proxy: <module>/@v/{list,VERSION.info,VERSION.mod,VERSION.zip} ------------------
# Module paths are lower case here, so the proxy's case-escaping changes nothing.
[[ $module == "${module,,}" ]] || { echo "check-go-get: $module has upper case" >&2; exit 1; }
dir="$work/proxy/$module/@v"
mkdir -p "$dir"
echo "$version" >"$dir/list"
printf '{"Version":"%s","Time":"2026-01-01T00:00:00Z"}\n' "$version" >"$dir/$version.info"
cp "$root/bindings/go/go.mod" "$dir/$version.mod"
# The zip holds the module's files (those git tracks, as a tag would), under module@version/.
(cd "$root" && git ls-files bindings/go) | python3 -c '
import sys, zipfile
root, module, version, out = sys.argv[1:5]
folder = "bindings/go/"
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
    for path in sys.stdin.read().split():
        z.write(root + "/" + path, module + "@" + version + "/" + path[len(folder):])
' "$root" "$module" "$version" "$dir/$version.zip"

# ---- a fresh module of a user's -----------------------------------------------------------
export GOPROXY="file://$work/proxy" GOFLAGS=-mod=mod GOTOOLCHAIN=local
export GOSUMDB=off  # the checksum database knows no module served from a folder
export GOPATH="$work/gopath" GOMODCACHE="$work/gopath/pkg/mod"  # nothing cached before
mkdir "$work/user"
cd "$work/user"
go mod init example.com/user >/dev/null 2>&1
go get "$module@$version"
cat >user_test.go <<EOF
package user

import (
	"testing"

	ptl "$module"
)

// The binding fetched by go get: a limiter of one at a time refuses a second permit.
func TestTheFetchedBindingLimits(t *testing.T) {
	reg, err := ptl.Open("local:")
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	cfg := ptl.DefaultConfig()
	cfg.MaxConcurrent = 1
	if err := reg.Register("api", cfg); err != nil {
		t.Fatal(err)
	}
	lim, err := reg.Get("api")
	if err != nil {
		t.Fatal(err)
	}
	p, err := lim.TryAcquire()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lim.TryAcquire(); err == nil {
		t.Fatal("a second permit of a limit of one was granted")
	}
	p.Release()
	if _, err := lim.TryAcquire(); err != nil {
		t.Fatalf("the released permit was not given back: %v", err)
	}
}
EOF
if grep -q '^replace' go.mod; then
  echo "check-go-get: the user's go.mod has a replace line" >&2
  exit 1
fi
grep -q "$module $version" go.mod || {
  echo "check-go-get: go.mod does not require $module $version:" >&2
  cat go.mod >&2
  exit 1
}
go test -count=1 -v ./...
echo "check-go-get: go get $module@$version and go test passed (GOPROXY=file://, no replace)"
