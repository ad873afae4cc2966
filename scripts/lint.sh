#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# clang-format on every C/C++ file of the repo; clang-tidy on the library's own sources and
# on one file that includes every public header (tests/headers/every_header.cpp); and
# check-names.sh: no internal type has a public type's name (ADR 16); check-license.sh: every
# source file says MIT (SPDX) and the packages' LICENSE copies are the root one.
# Usage: lint.sh BUILD_DIR (a configured build with compile_commands.json).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:?usage: lint.sh BUILD_DIR}
cd "$root"
bash "$root/scripts/check-names.sh"
bash "$root/scripts/check-license.sh"
mapfile -t all < <(git ls-files '*.c' '*.h' '*.cpp' '*.hpp' | grep -v '^bindings/')
clang-format --dry-run -Werror "${all[@]}"
echo "clang-format: ${#all[@]} files clean"
mapfile -t own < <(git ls-files 'src/*.cpp' 'capi/*.cpp' 'tools/*.cpp' tests/headers/every_header.cpp)
# clang-tidy prints a count of suppressed warnings from system headers on stderr; the
# real findings are errors (WarningsAsErrors in .clang-tidy) and fail the run.
printf '%s\n' "${own[@]}" | xargs -P "$(nproc)" -n 4 clang-tidy -p "$build" --quiet 2>/dev/null
echo "clang-tidy: ${#own[@]} files clean"
