#!/usr/bin/env bash
# Builds the benchmarks in Release, runs them, and prints as markdown the performance
# targets, each next to its baseline from the same run: ptl-bench (local backend,
# executors), ptl-bench-shm (shm:// next to local:) and ptl-bench-redis (redis:// next to
# raw PING and EVALSHA on the same redis-server, which it starts itself; left out when the
# redis backend is not built).
#
#   bench/run.sh [extra ptl-bench flags, e.g. --benchmark_min_time=1]
#
# Environment:
#   PTL_BENCH_BUILD_DIR    build directory (default: <repo>/build-bench)
#   PTL_BENCH_REPETITIONS  repetitions of every benchmark (default 3); verdicts use the
#                          median, the best run is shown next to it
#   PTL_BENCH_SKIP_BUILD=1 reuse the binaries already built
#
# The JSON of each binary is kept next to it (bench/<binary>.json in the build
# directory) so a table can be re-derived or compared later.
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_dir="$(cd "${script_dir}/.." && pwd)"
build_dir="${PTL_BENCH_BUILD_DIR:-${repo_dir}/build-bench}"
repetitions="${PTL_BENCH_REPETITIONS:-3}"

if [[ "${PTL_BENCH_SKIP_BUILD:-0}" != 1 ]]; then
  generator=()
  # Keep whatever generator an existing build directory was made with.
  if [[ ! -f "${build_dir}/CMakeCache.txt" ]] && command -v ninja >/dev/null 2>&1; then
    generator=(-G Ninja)
  fi
  cmake -S "${repo_dir}" -B "${build_dir}" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DPTL_BUILD_BENCHMARKS=ON >/dev/null
  # Only the benchmarks and what they link: the tests are not needed to measure.
  targets=(ptl-bench ptl-bench-shm)
  if grep -q '^PTL_WITH_REDIS:BOOL=ON' "${build_dir}/CMakeCache.txt"; then
    targets+=(ptl-bench-redis)
  fi
  cmake --build "${build_dir}" --target "${targets[@]}" >/dev/null
fi

# run_bench NAME [flags]: runs bench/NAME if it was built, its JSON into bench/NAME.json.
json_files=()
run_bench() {
  local name="$1"
  shift
  local bin="${build_dir}/bench/${name}" json="${build_dir}/bench/${name}.json"
  if [[ ! -x "${bin}" ]]; then
    echo "${name} not built; its rows are left out" >&2
    return
  fi
  echo "running ${name} (${repetitions} repetitions)..." >&2
  # The JSON goes to a file: some binaries print a summary of their own on stdout.
  "${bin}" --benchmark_out="${json}" --benchmark_out_format=json \
    --benchmark_repetitions="${repetitions}" "$@" >&2
  json_files+=("${json}")
}

run_bench ptl-bench "$@"  # about two minutes
run_bench ptl-bench-shm
# The redis rows alternate their benchmarks so the server's load drifts evenly over them.
run_bench ptl-bench-redis --benchmark_enable_random_interleaving=true

python3 - "${json_files[@]}" <<'PY'
import json
import statistics
import sys

docs = []
for path in sys.argv[1:]:
    with open(path) as f:
        docs.append(json.load(f))
doc = docs[0]  # ptl-bench's: its context heads the report


# Per-repetition entries only; aggregates are recomputed here so the best run can be
# shown next to the median, and so one repetition works too.
runs = {}
for b in (b for d in docs for b in d["benchmarks"]):
    if b.get("run_type", "iteration") != "iteration" or b.get("error_occurred"):
        continue
    runs.setdefault(b["run_name"], []).append(b)


class Missing(Exception):
    """A benchmark a row needs did not run (filtered out, or it failed)."""


def values(name, key):
    if name not in runs:
        raise Missing(name)
    return [r[key] for r in runs[name]]


def median(name, key):
    return statistics.median(values(name, key))



# Noise on a shared machine only ever adds time, so the best repetition is shown next
# to the median; the verdict uses the median, the more conservative of the two.
def ns_per_op(name):
    """Wall time per acquire+release, the inverse of the (aggregate) rate: (median, best)."""
    rates = values(name, "items_per_second")
    return 1e9 / statistics.median(rates), 1e9 / max(rates)


def rate(name):
    """Aggregate acquire+release per second: (median, best)."""
    rates = values(name, "items_per_second")
    return statistics.median(rates), max(rates)


def ar(kind, subject, threads):
    return f"acqrel/{kind}/{subject}/real_time/threads:{threads}"


def fmt_ns(v):
    return f"{v[0]:.1f} ns (best {v[1]:.1f})"


def fmt_rate(v):
    return f"{v[0] / 1e6:.2f} M/s (best {v[1] / 1e6:.2f})"


def fmt_us(v):
    return f"{v / 1e3:.1f} us"


def yes(ok):
    return "yes" if ok else "**NO**"


rows = []
missing = []


def section(fn):
    """Adds fn's rows, or notes what it lacked; a filtered run still prints a table."""
    try:
        fn()
    except Missing as e:
        missing.append(str(e))
    return fn



# Concurrency only, 1 thread: absolute and against the two-atomic floor.
@section
def concurrency_one_thread():
    floor = ns_per_op(ar("conc", "floor", 1))
    for subject, label in (("core", "core"), ("capi", "C ABI")):
        v = ns_per_op(ar("conc", subject, 1))
        rows.append((f"acquire+release, concurrency only, 1 thread ({label})", fmt_ns(v),
                     f"floor {fmt_ns(floor)}", f"{v[0] / floor[0]:.2f}x",
                     "<= 25 ns, <= 3x floor", yes(v[0] <= 25 and v[0] <= 3 * floor[0])))


# Sliding window, 1 thread: absolute; the hand-written limiter for context.
@section
def window_one_thread():
    hw_win = ns_per_op(ar("window", "handwritten", 1))
    for subject, label in (("core", "core"), ("capi", "C ABI")):
        v = ns_per_op(ar("window", subject, 1))
        rows.append((f"acquire+release with a sliding window, 1 thread ({label})", fmt_ns(v),
                     f"hand-written {fmt_ns(hw_win)}", f"{v[0] / hw_win[0]:.2f}x", "<= 60 ns",
                     yes(v[0] <= 60)))


# A policy of 3 limits (requests and tokens per window, requests per day; plus the held
# requests of the one-window subject), 1 thread, against the one-window figure.
@section
def policy_one_thread():
    for subject, label in (("core", "core"), ("capi", "C ABI")):
        one = ns_per_op(ar("window", subject, 1))
        v = ns_per_op(ar("policy3", subject, 1))
        rows.append((f"acquire+release with a policy of 3 limits, 1 thread ({label})", fmt_ns(v),
                     f"one window {fmt_ns(one)}", f"{v[0] / one[0]:.2f}x",
                     "<= 1.5x one window", yes(v[0] <= 1.5 * one[0])))


# Two threads on one limiter: aggregate throughput against the hand-written one. On a
# shared 2-CPU machine the two threads may end up taking turns on one CPU (another
# process or the hypervisor holds the other); such a run measures no contention at all,
# so only repetitions whose threads hardly waited for a CPU count. (CPU time over wall
# time cannot tell this: a mutex's waiters block and use no CPU either.)
MAX_CPU_WAIT_PCT = 10.0


def unhindered(r):
    return (r.get("cpu_wait_pct", 0.0) < MAX_CPU_WAIT_PCT
            and r.get("steal_pct", 0.0) < MAX_CPU_WAIT_PCT)


def parallel_rates(name):
    reps = runs.get(name)
    if reps is None:
        raise Missing(name)
    return [r["items_per_second"] for r in reps if unhindered(r)]


@section
def two_threads():
    for kind, kind_label in (("conc", "concurrency only"), ("window", "with window")):
        hw = parallel_rates(ar(kind, "handwritten", 2))
        for subject, label in (("core", "core"), ("capi", "C ABI")):
            v = parallel_rates(ar(kind, subject, 2))
            figure = f"2 threads on one limiter, {kind_label} ({label})"
            if not v or not hw:
                rows.append((figure, f"{len(v)} usable runs", f"{len(hw)} usable runs", "-",
                             ">= 2x hand-written", "unclear: threads shared a CPU"))
                continue
            v = (statistics.median(v), max(v))
            h = (statistics.median(hw), max(hw))
            rows.append((figure, fmt_rate(v), f"hand-written {fmt_rate(h)}",
                         f"{v[0] / h[0]:.2f}x", ">= 2x hand-written", yes(v[0] >= 2 * h[0])))


# C ABI overhead: the same call through ptl_acquire/ptl_release minus the core's. A
# difference of two noisy figures, so both the median and the best runs are shown.
@section
def capi_overhead():
    for kind, kind_label in (("conc", "concurrency only"), ("window", "with window")):
        core = ns_per_op(ar(kind, "core", 1))
        capi = ns_per_op(ar(kind, "capi", 1))
        rows.append((f"C ABI overhead over the core, {kind_label}, 1 thread",
                     f"{capi[0] - core[0]:+.1f} ns (best {capi[1] - core[1]:+.1f})",
                     f"core {fmt_ns(core)}", f"{capi[0] / core[0]:.2f}x", "<= 5 ns",
                     yes(capi[0] - core[0] <= 5)))


# Grant lateness, next to sleep_until to the same kind of deadline. Each repetition
# interleaves its two sample sets, so the ratio is taken per repetition (paired) and
# the median of those ratios is the verdict: p99 of 300 samples is the 3rd-largest
# value and swings with the machine, and pairing at least compares samples taken
# under the same load.
@section
def grant_lateness():
    lateness = "lateness/capi/iterations:1/real_time"
    for p in ("p50", "p99"):
        lim = values(lateness, f"limiter_{p}_ns")
        slp = values(lateness, f"sleep_{p}_ns")
        ratio = statistics.median(a / b for a, b in zip(lim, slp))
        rows.append((f"grant lateness after capacity frees, {p} (C ABI)",
                     fmt_us(statistics.median(lim)),
                     f"sleep_until {fmt_us(statistics.median(slp))}", f"{ratio:.2f}x (paired)",
                     "<= 1.1x sleep_until", yes(ratio <= 1.1)))


# Idle limiters: bytes each and the time to register a million.
@section
def idle_limiters():
    registries = (("core", "core LocalRegistry"), ("capi", 'C ABI, ptl_registry_open("local:")'))
    for subject, label in registries:
        name = f"idle_memory/{subject}/iterations:1/real_time"
        b = median(name, "bytes_per_limiter")
        s = median(name, "register_seconds")
        rows.append((f"memory per idle registered limiter ({label})", f"{b:.1f} B", "-", "-",
                     "<= 256 B", yes(b <= 256)))
        rows.append((f"1,000,000 registrations ({label})", f"{s:.2f} s", "-", "-", "< 2 s",
                     yes(s < 2)))


# Batch executors, per item, next to plain Boost.Asio running the same items with no
# limiter: ptl_batch_run pays for its worker threads per batch, so it is paired with a
# pool made per batch (asio_join); ptl_batch_start posts to a kept pool, so it is
# paired with the same kept pool and a countdown (asio_latch). The performance targets
# set none for these; they show what the executors add. (The _wide variants, a limit of
# 64 over W threads, are in the full listing below.)
def ex(work, subject, threads):
    # The registered name carries a min_time too; match on what comes before it.
    prefix = f"exec/{work}/{subject}/W:{threads}/"
    for name in runs:
        if name.startswith(prefix):
            return name
    raise Missing(prefix)


EXEC_SUBJECTS = (
    ("batch_run", "asio_join", "ptl_batch_run"),
    ("batch_run_window", "asio_join", "ptl_batch_run, never-full window"),
    ("batch_start_asio", "asio_latch", "ptl_batch_start + asio pool"),
    ("batch_start_asio_window", "asio_latch", "ptl_batch_start + asio pool, never-full window"),
)
EXEC_BASELINES = {"asio_join": "asio pool per batch", "asio_latch": "asio pool kept"}


# Wall time per item, and the CPU time of all threads per item: with 8 threads on 2
# CPUs the wall figure swings by up to 3x between runs (convoys), the CPU one less.
def executor_overhead(work, work_label, threads):
    def rows_of():
        for subject, base, label in EXEC_SUBJECTS:
            b, v = ex(work, base, threads), ex(work, subject, threads)
            bw, vw = ns_per_op(b), ns_per_op(v)
            bc, vc = median(b, "cpu_ns_per_item"), median(v, "cpu_ns_per_item")
            rows.append((f"batch executor per item, {label}, {work_label}, W={threads}",
                         f"{fmt_ns(vw)}; CPU {vc:.0f} ns",
                         f"{EXEC_BASELINES[base]} {fmt_ns(bw)}; CPU {bc:.0f} ns",
                         f"{vw[0] / bw[0]:.2f}x ({vw[0] - bw[0]:+.0f} ns); CPU {vc / bc:.2f}x",
                         "none set", "-"))
    return rows_of


for work, work_label in (("trivial", "empty items"), ("spin1us", "1 us items")):
    for threads in (2, 8):
        section(executor_overhead(work, work_label, threads))


# Makespan of a throttled batch over its lower bound (bench_batch_makespan.cpp and
# baselines/makespan_bound.hpp): the verdict uses the bound for executors that grant
# in index order, as ptl.h promises, the exact optimum of that order; the bound for
# any order at all is shown too. The plain acquire loop on the bare limiter, next to
# it, is the limiter's share of the gap.
def ms(scenario, subject):
    return f"makespan/{scenario}/{subject}/iterations:1/manual_time"


MAKESPAN_SCENARIOS = (
    ("c8_100per500ms", "C=8, 100 per 0.5 s"),
    ("c8_20per100ms", "C=8, 20 per 0.1 s"),
    ("c8_nowindow", "C=8, no window"),
)


def makespan(scenario, label):
    def rows_of():
        loop = median(ms(scenario, "acquire_loop"), "inorder_ratio")
        for subject, subject_label in (("batch_run", "ptl_batch_run"),
                                       ("batch_start_asio", "ptl_batch_start + asio timers")):
            name = ms(scenario, subject)
            r = median(name, "inorder_ratio")
            rows.append((f"makespan / lower bound, {subject_label}, 200 items of 5-10 ms, {label}",
                         f"{median(name, 'makespan_seconds'):.3f} s",
                         f"bound {median(name, 'inorder_bound_seconds'):.3f} s in order "
                         f"({median(name, 'any_bound_seconds'):.3f} s any order); "
                         f"acquire loop {loop:.3f}x",
                         f"{r:.3f}x ({median(name, 'actual_ratio'):.3f}x without the sleeps' "
                         f"own lateness; {median(name, 'any_ratio'):.3f}x any order)",
                         "<= 1.02", yes(r <= 1.02)))
    return rows_of


for scenario, label in MAKESPAN_SCENARIOS:
    section(makespan(scenario, label))

# shm:// acquire+release through the C ABI, next to local: in the same run
# (bench_shm.cpp): the limiter's state lives in the shared segment, behind its
# process-shared lock.
@section
def shm_backend():
    for kind, kind_label in (("conc", "concurrency only"), ("window", "with window")):
        local = ns_per_op(f"backend/local/{kind}/real_time/threads:1")
        shm = ns_per_op(f"backend/shm/{kind}/real_time/threads:1")
        rows.append((f"shm acquire+release, 1 process, 1 thread, {kind_label} (C ABI)",
                     fmt_ns(shm), f"local: {fmt_ns(local)}", f"{shm[0] / local[0]:.2f}x",
                     "<= 250 ns", yes(shm[0] <= 250)))


# redis:// calls per second (an acquire and a release are one round trip each), next to
# raw hiredis PING and EVALSHA of a script returning 1 on the same server
# (bench_redis.cpp): the target is at least 0.8x of raw EVALSHA calls.
@section
def redis_backend():
    evalsha = rate("redis/evalsha/real_time")
    ping = rate("redis/ping/real_time")
    script = rate("redis/script_acq_rel/real_time")
    for name, label in (("redis/acqrel", "concurrency only"),
                        ("redis/acqrel/window", "with window")):
        v = rate(f"{name}/real_time")
        rows.append((f"redis acquire or release, calls per second, {label} (C ABI)",
                     f"{v[0] / 1e3:.1f} k/s (best {v[1] / 1e3:.1f})",
                     f"EVALSHA 'return 1' {evalsha[0] / 1e3:.1f} k/s, PING "
                     f"{ping[0] / 1e3:.1f} k/s; the limiter's own code sent raw "
                     f"{script[0] / 1e3:.1f} k/s",
                     f"{v[0] / evalsha[0]:.2f}x EVALSHA ({v[0] / script[0]:.2f}x raw script)",
                     ">= 0.8x EVALSHA", yes(v[0] >= 0.8 * evalsha[0])))


ctx = doc.get("context", {})
print(f"ptl-bench, {ctx.get('date', '?')}, {ctx.get('num_cpus', '?')} CPUs at "
      f"{ctx.get('mhz_per_cpu', '?')} MHz, load average {ctx.get('load_avg', '?')}; "
      f"median (and best) of {len(next(iter(runs.values())))} repetitions")
print()
print("| figure | measured | baseline | ratio | target | met? |")
print("| --- | --- | --- | --- | --- | --- |")
for r in rows:
    print("| " + " | ".join(r) + " |")
if missing:
    print(f"\nnot in this run, so their rows are left out: {', '.join(sorted(set(missing)))}")


# Everything measured, so a surprising row can be checked against its neighbours.
print()
print("| benchmark | ns/op median | ns/op best | M items/s median | cpu/wall | waited for CPU % "
      "| steal % | other processes % | repetitions |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for name, rs in runs.items():
    if "items_per_second" not in rs[0]:
        continue
    rates = [r["items_per_second"] for r in rs]
    # Per repetition: CPU time over wall time (2.0 = both threads busy all along; a
    # blocking lock lowers it), and the shares of wall time the threads waited for a CPU
    # and the hypervisor stole.
    busy = "/".join(f"{r['cpu_time'] / r['real_time']:.1f}" for r in rs)
    wait = "/".join(f"{r.get('cpu_wait_pct', float('nan')):.1f}" for r in rs)
    steal = "/".join(f"{r.get('steal_pct', float('nan')):.1f}" for r in rs)
    # The CPU other processes used meanwhile (exec/* only): a build next door shows here.
    others = "/".join(f"{r.get('others_cpu_pct', float('nan')):.0f}" for r in rs)
    print(f"| {name} | {1e9 / statistics.median(rates):.1f} | {1e9 / max(rates):.1f} | "
          f"{statistics.median(rates) / 1e6:.2f} | {busy} | {wait} | {steal} | {others} | "
          f"{len(rs)} |")
for name, rs in runs.items():
    if "items_per_second" in rs[0]:
        continue
    keys = [k for k in rs[0]
            if k.endswith(("_ns", "_limiter", "_seconds", "_ratio", "_in_flight", "_pct"))]
    each = ", ".join(f"{k} " + "/".join(f"{r[k]:.4g}" for r in rs) for k in keys)
    print(f"\n{name} (each repetition): {each}")
PY
