#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The license is MIT (LICENSE). Checks that every source file of the repository says so
# in an SPDX line near its top, and that the copies the packages carry (bindings/go and the
# two Rust crates: a Go module and a .crate only ship what is inside their folder) are the
# root LICENSE, byte for byte. The Python sdist and wheel are built from the root
# (pyproject.toml) and carry LICENSE itself. Under debian/, the files whose format has no
# comments (changelog, control's deb822 fields, the DEP-5 copyright, source/format) are
# skipped by name; every other file there needs the SPDX line too.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
missing=()
while IFS= read -r f; do
  head -n 3 "$f" | grep -q 'SPDX-License-Identifier: MIT' || missing+=("$f")
done < <(git ls-files '*.c' '*.h' '*.cpp' '*.hpp' '*.rs' '*.go' '*.py' '*.sh' '*.lua' \
  '*.cmake' '*.csv' '*.toml' '*CMakeLists.txt' '*.cmake.in' '*.pc.in' '*go.mod' .ci/run)
debian_no_comments=(debian/changelog debian/control debian/copyright debian/source/format)
while IFS= read -r f; do
  [[ " ${debian_no_comments[*]} " == *" $f "* ]] && continue
  head -n 3 "$f" | grep -q 'SPDX-License-Identifier: MIT' || missing+=("$f")
done < <(git ls-files debian)
if [ ${#missing[@]} -gt 0 ]; then
  printf 'check-license: no "SPDX-License-Identifier: MIT" in the first 3 lines of:\n' >&2
  printf '  %s\n' "${missing[@]}" >&2
  exit 1
fi
for copy in bindings/go/LICENSE bindings/rust/LICENSE \
  bindings/rust/pocketflow-throttled-sys/LICENSE; do
  cmp -s LICENSE "$copy" || { echo "check-license: $copy differs from LICENSE" >&2; exit 1; }
done
head -n 1 LICENSE | grep -qx 'MIT License' || { echo "check-license: LICENSE is not MIT" >&2; exit 1; }
echo "check-license: $(git ls-files | wc -l) files tracked, every source file MIT (SPDX)"
