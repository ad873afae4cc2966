#!/bin/sh
# SPDX-License-Identifier: MIT
# Usage: check_exports.sh LIBRARY EXPECTED_SONAME
# Fails if the library defines a dynamic symbol outside ptl_*, defines none of the C ABI,
# has another SONAME, or carries the test-only hooks (shm:// crashes, the local: clock).
set -eu
lib=$1 soname=$2
# Type A entries are the version nodes themselves (PTL_0.1), not functions.
symbols=$(nm -D --defined-only "$lib" | awk '$2 != "A" {print $NF}' | sed 's/@.*//')
others=$(printf '%s\n' "$symbols" | grep -v '^ptl_' || true)
if [ -n "$others" ]; then
  echo "exported symbols outside ptl_*:"; printf '%s\n' "$others"; exit 1
fi
for sym in ptl_acquire ptl_release ptl_registry_open ptl_last_error ptl_log_set_level \
    ptl_batch_run ptl_batch_start ptl_batch_complete ptl_preset_get; do
  printf '%s\n' "$symbols" | grep -qx "$sym" || { echo "missing export: $sym"; exit 1; }
done
# The test hooks must not ship: the shm:// crash injection kills its process on purpose,
# and the local: clock hook puts limiters on a clock that only a test moves (ADR 19).
# The library's own symbols are read too, so that a stripped file cannot pass unchecked.
internal=$(nm -C --defined-only "$lib")
printf '%s\n' "$internal" | grep -q 'ptl::shm::' || { echo "no symbol table to check"; exit 1; }
for hooks in ptl::shm::testing ptl::local::testing; do
  if printf '%s\n' "$internal" | grep -q "$hooks::"; then
    echo "the shipped library contains test-only hooks ($hooks)"; exit 1
  fi
done
actual=$(readelf -d "$lib" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
[ "$actual" = "$soname" ] || { echo "SONAME is '$actual', expected '$soname'"; exit 1; }
echo "$(printf '%s\n' "$symbols" | wc -l) exports, all ptl_*; SONAME $actual"
