#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs the Go side-by-side benchmark (the binding vs golang.org/x/time/rate) and prints
# markdown tables: median ns/op of each side over COUNT runs, and the ratio. No benchstat.
#
#   bash bench/go/run.sh PREFIX [COUNT]
#
# PREFIX: an installed prefix of pocketflow-throttled (as for bindings/go/test.sh).
# PTL_BENCH_JSON=FILE also writes the medians there, {"rows": [{"case", "ours_ns",
# "rate_ns"}, ...]}, for bench/run.sh to fold into its table.
set -euo pipefail
if [[ $# -lt 1 ]]; then
  echo "usage: $0 PREFIX [COUNT]" >&2
  exit 2
fi
count=${2:-5}
# shellcheck source=../../bindings/use_prefix.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../bindings/use_prefix.sh"
use_prefix "$1"
cd "$(dirname "${BASH_SOURCE[0]}")"

out=$(go test -run '^$' -bench . -benchtime 300ms -count "$count" .)
echo "pocketflow-throttled (Go binding) vs golang.org/x/time/rate, GOMAXPROCS $(nproc), median of $count"
echo
echo "| case | ours ns/op | x/time/rate ns/op | ratio ours/rate |"
echo "| --- | ---: | ---: | ---: |"
# "BenchmarkPair/<case>/<ours|rate>-P  N  T ns/op": collect T per (case, side), print medians.
awk -v json="${PTL_BENCH_JSON:-}" '
  /^BenchmarkPair\// {
    name = $1; sub(/^BenchmarkPair\//, "", name); sub(/-[0-9]+$/, "", name)
    side = name; sub(/.*\//, "", side); c = name; sub(/\/[^\/]*$/, "", c); gsub(/_/, " ", c)
    if (!(c in seen)) { seen[c] = 1; order[++n] = c }
    k = c SUBSEP side; v[k, ++cnt[k]] = $3
  }
  function median(k,   i, j, t, m, a) {
    m = cnt[k]; for (i = 1; i <= m; i++) a[i] = v[k, i]
    for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
  }
  END {
    if (json != "") printf "{\"rows\": [" > json
    for (i = 1; i <= n; i++) {
      o = median(order[i] SUBSEP "ours"); r = median(order[i] SUBSEP "rate")
      printf "| %s | %.1f | %.1f | %.2f |\n", order[i], o, r, o / r
      # Case names hold letters, digits and punctuation but no quotes or backslashes.
      if (json != "") printf "%s{\"case\": \"%s\", \"ours_ns\": %g, \"rate_ns\": %g}", \
                             (i > 1 ? ", " : ""), order[i], o, r > json
    }
    if (json != "") { print "]}" > json; close(json) }
  }' <<<"$out"

PTL_BENCH_RATE=1 go test -run '^TestBindingRate$' -count 1 -v . | grep '^|\|^Binding\|^$' || true
