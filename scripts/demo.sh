#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The README's first command: install what is needed, build, and run the demo on the
# default in-process registry. Extra arguments go to ptl-demo (e.g. --json).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$root/scripts/install-deps.sh"
cmake -S "$root" -B "$root/build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$root/build" --target ptl-demo
"$root/build/examples/ptl-demo" "$@"
