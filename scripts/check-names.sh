#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Fails, naming each, if a type declared inside the library (src/, capi/) has the name of a
# public one (include/), so that a reader who meets `Limiter` knows which it is (ADR 16).
# Public types count at namespace scope, i.e. declarations that start a line (clang-format
# does not indent namespaces); nested and local ones are always read with their scope.
# Internal types count at any depth. Declarations: class, struct, union, enum, `using X =`,
# `concept X =`, forward ones included. Usage: check-names.sh
set -euo pipefail
export LC_ALL=C  # [A-Z] means the capitals only
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

id='[A-Za-z_][A-Za-z0-9_]*'
tmpl='(template[[:space:]]*<.*>[[:space:]]*)?'
kw='(class|struct|union|enum[[:space:]]+class|enum[[:space:]]+struct|enum)'
attr='((\[\[[^]]*\]\]|alignas\([^)]*\)|[A-Z][A-Z0-9_]*\([^)]*\)|[A-Z][A-Z0-9_]*)[[:space:]]+)*'
# After the name: a body, a base list, the end of a forward declaration or of the line.
follow='[[:space:]]*(final[[:space:]]*)?([{;]|:[^:]|:$|$)'

# decls INDENT DIR...: "name file:line" for every type declared in DIR's C/C++ files whose
# declaration line starts with INDENT (a regex).
decls() {
  local ind=$1
  shift
  grep -rnE --include='*.h' --include='*.hpp' --include='*.cpp' \
    "^${ind}${tmpl}(${kw}[[:space:]]+${attr}${id}${follow}|(using|concept)[[:space:]]+${id}[[:space:]]*=)" \
    "$@" |
    sed -nE \
      -e "s/^([^:]+:[0-9]+):${ind}${tmpl}${kw}[[:space:]]+${attr}(${id})${follow}.*/\6 \1/p" \
      -e "t" \
      -e "s/^([^:]+:[0-9]+):${ind}${tmpl}(using|concept)[[:space:]]+(${id})[[:space:]]*=.*/\4 \1/p"
}

declare -A public
while read -r name where; do
  [[ -v public[$name] ]] || public[$name]=$where
done < <(decls '' include)
if ((${#public[@]} == 0)); then
  echo "check-names: found no public types under include/" >&2
  exit 1
fi

internal=0
clashes=0
while read -r name where; do
  internal=$((internal + 1))
  if [[ -v public[$name] ]]; then
    echo "check-names: $where: internal type '$name' has the name of a public one" \
      "(${public[$name]})" >&2
    clashes=$((clashes + 1))
  fi
done < <(decls '[[:space:]]*' src capi)

if ((clashes > 0)); then
  echo "check-names: $clashes internal declaration(s) share a public type's name;" \
    "rename the internal ones (ADR 16)" >&2
  exit 1
fi
echo "check-names: $internal internal type declarations, none named like one of the" \
  "${#public[@]} public types"
