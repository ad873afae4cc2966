#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Prints, as markdown, every performance target of ARCHITECTURE.md section 5 next to
its baseline from the same run, then every benchmark measured. bench/run.sh calls it;
it can also re-derive a table from the JSON a run left in the build directory:

  python3 bench/report.py BUILD/bench/ptl-bench.json [BUILD/bench/ptl-bench-shm.json ...]
      [--python BUILD/bench/python.json] [--rust ...] [--go ...]
      [--listing FILE ...] [--left-out 'WHAT: WHY' ...]

The rows live in report_native.py (the C/C++ benchmarks) and report_bindings.py (the
bindings against their language's peers), shared helpers in report_common.py.
"""

import argparse
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from report_bindings import binding_rows  # noqa: E402
from report_common import Report  # noqa: E402
from report_native import backend_rows, executor_rows, limiter_rows  # noqa: E402


def listing(rep):
    """Everything measured, so a surprising row can be checked against its neighbours."""
    print("| benchmark | ns/op median | ns/op best | M items/s median | cpu/wall "
          "| waited for CPU % | steal % | other processes % | repetitions |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, rs in rep.runs.items():
        if "items_per_second" not in rs[0]:
            continue
        rates = [r["items_per_second"] for r in rs]
        # Per repetition: CPU time over wall time (2.0 = both threads busy all along; a
        # blocking lock lowers it), and the shares of wall time the threads waited for a
        # CPU and the hypervisor stole.
        busy = "/".join(f"{r['cpu_time'] / r['real_time']:.1f}" for r in rs)
        wait = "/".join(f"{r.get('cpu_wait_pct', float('nan')):.1f}" for r in rs)
        steal = "/".join(f"{r.get('steal_pct', float('nan')):.1f}" for r in rs)
        # The CPU other processes used meanwhile (exec/* only): a build next door shows.
        others = "/".join(f"{r.get('others_cpu_pct', float('nan')):.0f}" for r in rs)
        print(f"| {name} | {1e9 / statistics.median(rates):.1f} | {1e9 / max(rates):.1f} | "
              f"{statistics.median(rates) / 1e6:.2f} | {busy} | {wait} | {steal} | {others} | "
              f"{len(rs)} |")
    for name, rs in rep.runs.items():
        if "items_per_second" in rs[0]:
            continue
        keys = [k for k in rs[0]
                if k.endswith(("_ns", "_limiter", "_seconds", "_ratio", "_in_flight", "_pct"))]
        each = ", ".join(f"{k} " + "/".join(f"{r[k]:.4g}" for r in rs) for k in keys)
        print(f"\n{name} (each repetition): {each}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("json", nargs="*", help="Google Benchmark JSON files, ptl-bench's first")
    ap.add_argument("--python", help="bench/python/bench_binding.py --json output")
    ap.add_argument("--rust", help="bench/rust (PTL_BENCH_JSON) output")
    ap.add_argument("--go", help="bench/go/run.sh (PTL_BENCH_JSON) output")
    ap.add_argument("--listing", action="append", default=[],
                    help="a language's own markdown tables, printed after the listing")
    ap.add_argument("--left-out", action="append", default=[],
                    help="'WHAT: WHY' for a group run.sh could not run")
    args = ap.parse_args()

    docs = []
    for path in args.json:
        with open(path) as f:
            docs.append(json.load(f))
    rep = Report(docs)
    rep.left_out.extend(args.left_out)

    # The design's order: local limiter, C ABI, lateness; backends; bindings; executors.
    limiter_rows(rep)
    backend_rows(rep)
    binding_rows(rep, args.python, args.rust, args.go)
    executor_rows(rep)

    ctx = docs[0].get("context", {}) if docs else {}
    reps = len(next(iter(rep.runs.values()))) if rep.runs else 0
    print(f"ptl-bench, {ctx.get('date', '?')}, {ctx.get('num_cpus', '?')} CPUs at "
          f"{ctx.get('mhz_per_cpu', '?')} MHz, load average {ctx.get('load_avg', '?')}; "
          f"median (and best) of {reps} repetitions; targets and baselines of "
          "ARCHITECTURE.md section 5, all from this run")
    print()
    print("| figure | measured | baseline (same run) | ratio | target | met? |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rep.rows:
        print("| " + " | ".join(r) + " |")
    if rep.missing:
        missing = ", ".join(sorted(set(rep.missing)))
        print(f"\nnot in this run, so their rows are left out: {missing}")
    for what in rep.left_out:
        print(f"\nleft out: {what}")

    print()
    listing(rep)
    for path in args.listing:
        if os.path.exists(path):
            with open(path) as f:
                print()
                print(f.read().rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
