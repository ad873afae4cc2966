#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds the benchmarks in Release, runs them, and prints as markdown every performance
# target of ARCHITECTURE.md section 5 next to its baseline from the same run, the ratio,
# the target and a verdict (bench/report.py), then every benchmark measured:
#   ptl-bench        the local limiter, the C ABI, lateness, executors, idle limiters
#   ptl-bench-shm    shm:// next to local:
#   ptl-bench-redis  redis:// next to raw PING and EVALSHA on the same redis-server, which
#                    it starts itself (left out when the redis backend is not built)
#   bench/python, bench/rust, bench/go
#                    the bindings next to their language's peers, against a copy of this
#                    build installed into <build>/bench/prefix; a language whose toolchain
#                    is missing is left out, and the table says so
#
#   bench/run.sh [extra ptl-bench flags, e.g. --benchmark_min_time=1s]
#
# Environment:
#   PTL_BENCH_BUILD_DIR    build directory (default: <repo>/build-bench)
#   PTL_BENCH_REPETITIONS  repetitions of every benchmark (default 3); verdicts use the
#                          median, the best run is shown next to it
#   PTL_BENCH_SKIP_BUILD=1 reuse the binaries already built
#   PTL_BENCH_JOBS         parallel build jobs (default 2: the machines are shared)
#   PTL_BENCH_LANGS        the bindings to run (default "python rust go"; "" for none, as
#                          for a filtered run of ptl-bench)
#   PTL_BENCH_SHM_FLAGS, PTL_BENCH_REDIS_FLAGS
#                          extra flags of ptl-bench-shm and ptl-bench-redis (a filter, say)
#
# The JSON of each run is kept in the build directory (bench/<binary>.json, and
# bench/<language>.json with the language's own tables in bench/<language>.md) so a table
# can be re-derived with bench/report.py or compared later.
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_dir="$(cd "${script_dir}/.." && pwd)"
build_dir="${PTL_BENCH_BUILD_DIR:-${repo_dir}/build-bench}"
repetitions="${PTL_BENCH_REPETITIONS:-3}"
langs="${PTL_BENCH_LANGS-python rust go}"

if [[ "${PTL_BENCH_SKIP_BUILD:-0}" != 1 ]]; then
  generator=()
  # Keep whatever generator an existing build directory was made with.
  if [[ ! -f "${build_dir}/CMakeCache.txt" ]] && command -v ninja >/dev/null 2>&1; then
    generator=(-G Ninja)
  fi
  cmake -S "${repo_dir}" -B "${build_dir}" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DPTL_BUILD_BENCHMARKS=ON >/dev/null
  # Only the benchmarks and what they link (the library among them, which the bindings
  # use): the tests are not needed to measure.
  targets=(ptl-bench ptl-bench-shm)
  if grep -q '^PTL_WITH_REDIS:BOOL=ON' "${build_dir}/CMakeCache.txt"; then
    targets+=(ptl-bench-redis)
  fi
  cmake --build "${build_dir}" -j "${PTL_BENCH_JOBS:-2}" --target "${targets[@]}" >/dev/null
fi
out="${build_dir}/bench"

report_args=()
left_out() { report_args+=(--left-out "$1"); }

# run_bench NAME [flags]: runs bench/NAME if it was built, its JSON into bench/NAME.json.
json_files=()
run_bench() {
  local name="$1"
  shift
  local bin="${out}/${name}" json="${out}/${name}.json"
  if [[ ! -x "${bin}" ]]; then
    echo "${name} not built; its rows are left out" >&2
    return
  fi
  echo "running ${name} (${repetitions} repetitions)..." >&2
  rm -f "${json}"
  # The JSON goes to a file: some binaries print a summary of their own on stdout. One
  # that fails (a benchmark that throws aborts the whole binary) has written no usable
  # JSON; the other binaries' rows are still worth printing.
  local status=0
  "${bin}" --benchmark_out="${json}" --benchmark_out_format=json \
    --benchmark_repetitions="${repetitions}" "$@" >&2 || status=$?
  if ((status == 0)); then
    # A filter that matched none of its benchmarks leaves an empty file.
    if [[ -s "${json}" ]]; then json_files+=("${json}"); fi
  else
    left_out "${name}: exited with status ${status} (its output is above), so its rows were not measured"
  fi
}

run_bench ptl-bench "$@" # about two minutes
# shellcheck disable=SC2086 # word splitting wanted: several flags
run_bench ptl-bench-shm ${PTL_BENCH_SHM_FLAGS:-}
# The redis rows alternate their benchmarks so the server's load drifts evenly over them.
# shellcheck disable=SC2086
run_bench ptl-bench-redis --benchmark_enable_random_interleaving=true ${PTL_BENCH_REDIS_FLAGS:-}

# ---- the bindings, against an installed copy of this build ------------------------------

# The library, its headers, pkg-config file and CMake package, as a user installs them;
# the benchmark targets built it. Components one by one: the executables of `all`
# (ptlctl, ptl-demo) were not built here.
prefix="${out}/prefix"
if [[ -n "${langs}" ]]; then
  rm -rf "${prefix}"
  for component in runtime dev Unspecified; do
    if ! cmake --install "${build_dir}" --prefix "${prefix}" --component "${component}" \
      >/dev/null; then
      left_out "the bindings (${langs}): cmake --install of ${build_dir} failed (above)"
      langs=
      break
    fi
  done
fi

# run_lang LANG TOOL... -- COMMAND...: runs COMMAND (PTL_BENCH_JSON=<out>/LANG.json, its
# tables into <out>/LANG.md) when every TOOL is on the PATH, else leaves LANG out.
run_lang() {
  local lang="$1" tool
  shift
  local -a tools=()
  while [[ "$1" != -- ]]; do tools+=("$1"); shift; done
  shift
  for tool in "${tools[@]}"; do
    if ! command -v "${tool}" >/dev/null 2>&1; then
      left_out "${lang}: ${tool} not found, so its rows were not measured"
      return
    fi
  done
  local json="${out}/${lang}.json" md="${out}/${lang}.md"
  rm -f "${json}" "${md}"
  echo "running bench/${lang}..." >&2
  # A language that fails leaves its output above and a line in the table, not a stop:
  # the rows of the others are still worth printing.
  if PTL_BENCH_JSON="${json}" "$@" >"${md}"; then
    report_args+=("--${lang}" "${json}" --listing "${md}")
  else
    left_out "${lang}: bench/${lang}/run.sh failed (exit $?), its output is above"
  fi
}

for lang in ${langs}; do
  case "${lang}" in
  python)
    # ensurepip: Debian's python3 has venv only with python3-venv installed.
    if python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
      # The 1-task figures only (--quick): the target's; the venv is kept for next time.
      run_lang python python3 -- env PTL_PY_VENV="${out}/py-venv" \
        bash "${script_dir}/python/run.sh" "${prefix}" -- --quick --reps "${repetitions}" \
        --json "${out}/python.json"
    else
      left_out "python: python3 with venv and ensurepip not found, so its rows were not measured"
    fi
    ;;
  rust)
    # The crate is built in the build directory, not in the source tree.
    run_lang rust cargo pkg-config -- env CARGO_TARGET_DIR="${out}/rust-target" \
      bash "${script_dir}/rust/run.sh" "${prefix}"
    ;;
  go)
    run_lang go go pkg-config -- bash "${script_dir}/go/run.sh" "${prefix}" "${repetitions}"
    ;;
  *) left_out "${lang}: not a language of bench/ (PTL_BENCH_LANGS)" ;;
  esac
done

PYTHONDONTWRITEBYTECODE=1 python3 "${script_dir}/report.py" "${json_files[@]}" "${report_args[@]}"
