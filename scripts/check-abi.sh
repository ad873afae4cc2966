#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The checked ABI (ADR 0011): compares the built libpocketflow_throttled.so with the
# committed baseline abi/<arch>/<soname>.abi using libabigail's abidiff, counting only the
# types of the public headers (include/pocketflow_throttled), and checks that ptl.h,
# capi/ptl.map and the library's exports agree.
#
#   check-abi.sh BUILD_DIR            check; exit 1 on a change that breaks existing callers
#   check-abi.sh --update BUILD_DIR   regenerate the baseline, on purpose, when the ABI grows
#
# Verdicts: a removed function, a function moved to another version node, or any change to
# an existing function or type (a field's type, a parameter, a struct's layout) fails.
# Added functions, and fields appended to the structs that carry struct_size ($growable
# below), are compatible: reported, not failing. Regenerate the baseline when such an
# addition is released. BUILD_DIR must have debug info (RelWithDebInfo or Debug).
# Needs abigail-tools (abidw, abidiff), binutils and perl.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
update=0
if [ "${1:-}" = --update ]; then update=1; shift; fi
build=$(cd "${1:?usage: check-abi.sh [--update] BUILD_DIR}" && pwd)
fail() { echo "check-abi: $*" >&2; exit 1; }
for tool in abidw abidiff nm readelf; do
  command -v "$tool" >/dev/null || fail "$tool is missing (apt-get install abigail-tools binutils)"
done

lib=$(readlink -f "$build/capi/libpocketflow_throttled.so" 2>/dev/null || true)
[ -f "$lib" ] || fail "no capi/libpocketflow_throttled.so in $build (build it first)"
readelf -S -W "$lib" | grep -q '\.debug_info' ||
  fail "$lib has no debug info: configure with -DCMAKE_BUILD_TYPE=RelWithDebInfo (or Debug)"
# The sources the library was built from (the debug info names headers by absolute path).
src=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$build/CMakeCache.txt")
headers="$src/include/pocketflow_throttled"
[ -f "$headers/ptl.h" ] || fail "no $headers/ptl.h"
soname=$(readelf -d "$lib" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
baseline="$root/abi/$(uname -m)/$soname.abi"
# Structs that may grow at their end (ADR 0003): callers built with the old header pass
# the old struct_size, and the library reads or fills only what fits. Not
# ptl_limiter_config nor ptl_preset_adaptive: they are embedded in other structs, whose
# later fields would move.
growable="ptl_limiter_stats ptl_preset ptl_adaptive_config ptl_batch_options ptl_batch_report"

# ---- ptl.h, ptl.map and the exports agree -------------------------------------------------
declared=$(grep -o 'PTL_API[^(]*(' "$headers/ptl.h" | grep -o 'ptl_[a-z0-9_]*' | sort)
mapped=$(perl -0777 -pe 's{/\*.*?\*/}{}gs' "$src/capi/ptl.map" |
  grep -Eo '^[[:space:]]*ptl_[a-z0-9_]+;' | tr -d ' ;' | sort)
# Version nodes themselves are absolute symbols (type A): not functions.
exports=$(nm -D --defined-only "$lib" | awk '$2 != "A" {print $3}' | sort)
unversioned=$(printf '%s\n' "$exports" | grep -Ev '^ptl_[a-z0-9_]+@@PTL_[0-9]+\.[0-9]+$' || true)
[ -z "$unversioned" ] || fail "exports outside ptl_*@@PTL_<major>.<minor>: $unversioned"
exported=$(printf '%s\n' "$exports" | sed 's/@.*//')
if [ "$declared" != "$mapped" ]; then
  diff <(echo "$declared") <(echo "$mapped") |
    sed -n 's|^< |  in ptl.h, not in capi/ptl.map: |p; s|^> |  in capi/ptl.map, not in ptl.h: |p' ||
    true
  fail "ptl.h and capi/ptl.map disagree"
fi
if [ "$declared" != "$exported" ]; then
  diff <(echo "$declared") <(echo "$exported") |
    sed -n 's/^< /  declared, not exported: /p; s/^> /  exported, not declared: /p' || true
  fail "ptl.h and the library's exports disagree"
fi
nodes=$(printf '%s\n' "$exports" | sed 's/.*@@//' | sort -u | paste -sd ' ')
echo "exports: $(echo "$exported" | wc -l) functions, as ptl.h declares and capi/ptl.map" \
  "lists, in nodes $nodes"

# ---- the library's ABI as abidw sees it -----------------------------------------------------
# Only the exported functions and the types of the public headers. No locations, corpus or
# compilation-directory paths, translation units named relative to the source tree: the
# file says nothing about the machine that made it, and two builds of one source give the
# same bytes. Nor the distribution's library versions (DT_NEEDED; abidiff ignores them).
# The check compares this file with the baseline, not the binary: abidiff reading a binary
# with --headers-dir2 against a baseline without locations filters every type change out.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
current="$work/current.abi"
abidw --headers-dir "$headers" --drop-private-types --exported-interfaces-only --no-show-locs \
  --no-corpus-path --no-comp-dir-path --no-elf-needed --type-id-style hash \
  --out-file "$current" "$lib"
sed -i "s|path='$build/|path='BUILD/|g; s|path='$src/|path='|g" "$current"

# ---- --update: write the baseline ------------------------------------------------------
if [ "$update" = 1 ]; then
  mkdir -p "$(dirname "$baseline")"
  if [ -f "$baseline" ]; then
    changes=$(abidiff "$baseline" "$current" || true)
    echo "changes from the previous baseline:${changes:- none}" | sed '2,$s/^/  /'
  fi
  cat "$current" >"$baseline"  # a plain file (mktemp's are private)
  echo "check-abi: wrote ${baseline#"$root"/}; review it and commit it with the change" \
    "that grew the ABI"
  exit 0
fi

# ---- check -----------------------------------------------------------------------------
[ -f "$baseline" ] ||
  fail "no baseline ${baseline#"$root"/} for this architecture and SONAME; make it with --update"
run_abidiff() {  # NEW_ABI [OPTIONS...]: sets status, leaves the report in $work/report
  local new=$1
  shift
  set +e
  abidiff "$@" "$baseline" "$new" >"$work/report" 2>&1
  status=$?
  set -e
  # abidiff's exit status is a bit field: 1 error, 2 usage error, 4 ABI change,
  # 8 incompatible ABI change (a removed function; it comes with 4).
  if [ $((status & 3)) -ne 0 ]; then
    cat "$work/report"
    fail "abidiff failed (exit status $status)"
  fi
}
run_abidiff "$current"
if [ "$status" -eq 0 ]; then
  echo "check-abi: ${lib##*/} matches ${baseline#"$root"/}"
  exit 0
fi
sed 's/^/  /' "$work/report"
if [ $((status & 8)) -ne 0 ]; then
  fail "INCOMPATIBLE ABI change (abidiff exit status $status): a function was removed or" \
    "moved to another version node; existing programs would not load. Revert it, or bump" \
    "the SONAME (major version) and make a new baseline."
fi
# Only an ABI change (4): is it more than additions? Compare again without added functions,
# and with fields appended to a growable struct cut off again (its first fields as many as
# the baseline has, its baseline size): what is left is a change to what existed. (A
# libabigail suppression, has_data_member_inserted_at = end, would be simpler, but
# abidiff 2.2 then also hides changed fields of those structs.)
perl -e '
  my ($baseline, $current, @growable) = @ARGV;
  sub slurp { local $/; open(my $f, "<", $_[0]) or die "$_[0]: $!"; return <$f>; }
  my ($old, $new) = (slurp($baseline), slurp($current));
  my %growable = map { $_ => 1 } @growable;
  # A defined struct: head with name, size, rest of the start tag, body, end tag.
  my $struct = qr{(<class-decl\ name=\x27([^\x27]+)\x27\ size-in-bits=\x27)(\d+)
                  (\x27[^>]*(?<!/)>)(.*?)(\s*</class-decl>)}sx;
  my $member = qr{\s*<data-member .*?</data-member>}s;
  my %was;  # name -> [size, number of fields] in the baseline
  while ($old =~ /$struct/g) {
    my ($name, $size, $body) = ($2, $3, $5);
    $was{$name} = [$size, scalar(() = $body =~ /$member/g)] if $growable{$name};
  }
  $new =~ s{$struct}{
    my ($head, $name, $size, $rest, $body, $tail) = ($1, $2, $3, $4, $5, $6);
    my @fields = $body =~ /($member)/g;
    if ($was{$name} && @fields > $was{$name}[1]) {
      ($size, $body) = ($was{$name}[0], join("", @fields[0 .. $was{$name}[1] - 1]));
    }
    "$head$size$rest$body$tail";
  }ge;
  print $new;
' "$baseline" "$current" $growable >"$work/projected.abi"
run_abidiff "$work/projected.abi" --no-added-syms
if [ $((status & 4)) -ne 0 ]; then
  fail "ABI change to existing functions or types (abidiff exit status $status), not only" \
    "additions: programs built against the baseline would break. Revert it, or bump the" \
    "SONAME (major version) and make a new baseline."
fi
# Compatible additions. Functions added to a node the baseline already has are fine
# before that version is released; afterwards they belong in a new node.
old_nodes=$(grep -o "version='PTL_[0-9.]*'" "$baseline" | sort -u | sed "s/version='//; s/'//")
while read -r sym; do
  name=${sym%%@@*} node=${sym##*@@}
  if ! grep -q "name='$name' version='$node'" "$baseline" && grep -qx "$node" <<<"$old_nodes"; then
    echo "  note: $name is new in $node, a node the baseline already has; once $node is" \
      "released, new functions go into a new node (capi/ptl.map)"
  fi
done <<<"$exports"
echo "check-abi: compatible additions only (reported above); when they are released, run" \
  "scripts/check-abi.sh --update and commit the baseline"
