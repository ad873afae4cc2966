# SPDX-License-Identifier: MIT
"""The rows of the bindings against their language's peers (bench/python, bench/rust,
bench/go), each read from the JSON its run wrote next to the C++ benchmarks' own.

A language whose toolchain was missing, or whose run failed, is listed as left out with
the reason run.sh gave; its rows are not guessed.
"""

import json
import os
import statistics

from report_common import yes


def load(path):
    """The JSON a language's benchmark wrote, or None when there is none."""
    if not path or not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def binding_rows(rep, python_json, rust_json, go_json):
    # Which rows: bench/python/bench_binding.py (--json), the 1-task figures: `async with`
    # acquire+release in a loop that never waits, this package (its C extension hot path
    # when built) against a bare asyncio.Semaphore, interleaved, median of the repetitions.
    def python():
        doc = load(python_json)
        if doc is None:
            rep.left_out.append("Python: its benchmark wrote no figures (see its output above)")
            return
        res = doc["results"]
        sem = res.get("semaphore")
        native = res.get("native")
        if not sem or not native:
            rep.left_out.append("Python: the binding or asyncio.Semaphore did not run")
            return
        for key, label in (("one_conc", "concurrency only"), ("one_window", "with a window")):
            v, s = statistics.median(native[key]), statistics.median(sem[key])
            rep.row(f"Python `async with limiter`, uncontended, 1 task, {label} "
                    f"(hot path: {doc.get('hot_path', '?')})", f"{v:,.0f} ns",
                    f"asyncio.Semaphore {s:,.0f} ns", f"{v / s:.2f}x",
                    "<= 1.2x asyncio.Semaphore", yes(v <= 1.2 * s))

    # Which rows: bench/rust/src/main.rs (PTL_BENCH_JSON), 1 thread, window only: the crate
    # against governor's check() on a quota that never binds, median of its samples.
    # try_acquire is the like-for-like of check() (neither waits); acquire is what most
    # callers write, so it is held to the same target.
    rust_cases = (("1 thread, window only: try_acquire + drop", "try_acquire + drop(Permit)"),
                  ("1 thread, window only: acquire + drop(Permit)", "acquire + drop(Permit)"))

    def rust():
        doc = load(rust_json)
        if doc is None:
            rep.left_out.append("Rust: its benchmark wrote no figures (see its output above)")
            return
        by_case = {r["case"]: r for r in doc["rows"]}
        for case, label in rust_cases:
            r = by_case.get(case)
            if r is None or r["theirs"] != "check()":
                rep.missing.append(f"rust: {case}")
                continue
            ratio = r["ours_ns"] / r["theirs_ns"]
            rep.row(f"Rust, 1 thread, window only: {label}", f"{r['ours_ns']:.1f} ns",
                    f"governor check() {r['theirs_ns']:.1f} ns", f"{ratio:.2f}x",
                    "<= 1.5x governor check()", yes(ratio <= 1.5))

    # Which rows: bench/go/bench_test.go (BenchmarkPair, medians by bench/go/run.sh with
    # PTL_BENCH_JSON), 1 goroutine, window only, against x/time/rate's Allow() on a limiter
    # that never binds. TryAcquire+Release is the like-for-like of Allow(); Acquire+Release
    # (paired there with Wait) is held to the same target against the same Allow().
    go_allow = "1 goroutine, window only: TryAcquire+Release vs Allow"
    go_cases = ((go_allow, "TryAcquire+Release"),
                ("1 goroutine, window only: Acquire+Release vs Wait", "Acquire+Release"))

    def go():
        doc = load(go_json)
        if doc is None:
            rep.left_out.append("Go: its benchmark wrote no figures (see its output above)")
            return
        by_case = {r["case"]: r for r in doc["rows"]}
        if go_allow not in by_case:
            rep.missing.append(f"go: {go_allow}")
            return
        allow = by_case[go_allow]["rate_ns"]
        for case, label in go_cases:
            if case not in by_case:
                rep.missing.append(f"go: {case}")
                continue
            ours = by_case[case]["ours_ns"]
            rep.row(f"Go, 1 goroutine, window only: {label}", f"{ours:.1f} ns",
                    f"x/time/rate Allow() {allow:.1f} ns", f"{ours / allow:.2f}x",
                    "<= 1.5x x/time/rate Allow()", yes(ours <= 1.5 * allow))

    # A language run.sh left out has no JSON path here and was listed by run.sh already.
    for path, fn in ((python_json, python), (rust_json, rust), (go_json, go)):
        if path:
            fn()
