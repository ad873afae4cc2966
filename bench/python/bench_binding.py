#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The Python binding side by side with aiolimiter and the original pocketflow-throttled.

Contenders (each skipped, with the reason printed, when it cannot be loaded):
  native     this package's RateLimiter as installed: its hot path in the C extension
             (pocketflow_throttled._speedups) when that was built, else ctypes
  ctypes     the same package with PTL_PY_PURE=1 (the hot path in Python over ctypes), run
             in a worker process (the choice is made at import); only when native is the
             extension
  original   the original package's RateLimiter (0.2.0, pure asyncio), loaded from the file
             given by --original or $PTL_BENCH_ORIGINAL (its pocketflow_throttled/rate_limiter.py)
  aiolimiter aiolimiter.AsyncLimiter (a leaky bucket, no concurrency limit) behind an
             asyncio.Semaphore, as a user needing both limits would combine them
  semaphore  a bare asyncio.Semaphore: the floor (concurrency only, no window)

Figures (median of --reps runs, interleaved):
  1 task    `async with` acquire+release in a loop, never waiting (10 at once, window far)
  many      1000 tasks x 10 acquire+release on a limit of 10 at once (they wait on each other)
  makespan  the two-services scenario: two flows (translation, summarization) of 50 items, 15
            instances at once each, every call holding one shared limiter of 10 at once and
            60 per window; mock calls sleep; time scale 1/30 (window 2 s, calls 1.7-3.3 ms).
            Also the most grants proven inside one window (must be <= 60).

A second table holds the 1-task figures of native and ctypes against asyncio.Semaphore,
the design target being native <= 1.2x Semaphore: medians, and the spread of the ratio
over the reps (each rep's contenders run back to back, so a rep's ratio shares its noise).
--quick runs only the 1-task figures.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time

from pocketflow import AsyncNode, AsyncParallelBatchFlow

# ---- contenders: make(max_concurrent, max_per_window or None, window_seconds) -> async cm


def load_native():
    import pocketflow_throttled as pt
    from pocketflow_throttled import _native

    why = f" ({_native.SPEEDUPS_WHY})" if _native.SPEEDUPS_WHY else ""
    return {"make": lambda c, w, s: pt.RateLimiter(c, w, s), "pt": pt,
            "hot_path": _native.HOT_PATH,
            "about": f"pocketflow_throttled {pt.__version__}, library {pt.native_version()}, "
                     f"hot path: {_native.HOT_PATH}{why}"}


class Worker:
    """This script in another process (--worker), measuring figures on request."""

    def __init__(self, env):
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker"],
                                     env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)
        self.hello = self._read()

    def _read(self):
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the worker exited ({self.proc.wait()})")
        return json.loads(line)

    def ask(self, *request):
        self.proc.stdin.write(" ".join(map(str, request)) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


def load_ctypes(native):
    if native.get("hot_path") != "C extension":
        raise RuntimeError("native runs on ctypes already")
    w = Worker(dict(os.environ, PTL_PY_PURE="1"))
    if w.hello["hot_path"] != "ctypes":
        w.close()
        raise RuntimeError(f"PTL_PY_PURE=1 gave {w.hello['hot_path']}")
    return {"worker": w, "about": "the same, PTL_PY_PURE=1 (another process): "
                                  + w.hello["about"]}


def load_original(path):
    if not path:
        why = os.environ.get("PTL_BENCH_ORIGINAL_WHY", "")
        raise RuntimeError((why + "; " if why else "") + "no --original or PTL_BENCH_ORIGINAL")
    if os.path.isdir(path):
        path = os.path.join(path, "pocketflow_throttled", "rate_limiter.py")
    spec = importlib.util.spec_from_file_location("original_rate_limiter", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return {"make": lambda c, w, s: mod.RateLimiter(c, w, s), "about": f"RateLimiter from {path}"}


def load_aiolimiter():
    import aiolimiter

    class Combined:
        def __init__(self, c, w, s):
            self.sem = asyncio.Semaphore(c)
            self.rate = aiolimiter.AsyncLimiter(w, s) if w else None

        async def __aenter__(self):
            await self.sem.acquire()
            if self.rate is not None:
                try:
                    await self.rate.acquire()
                except BaseException:
                    self.sem.release()
                    raise
            return self

        async def __aexit__(self, *exc):
            self.sem.release()

    version = getattr(aiolimiter, "__version__", "?")
    return {"make": Combined, "about": f"aiolimiter {version} + asyncio.Semaphore"}


def load_semaphore():
    return {"make": lambda c, w, s: asyncio.Semaphore(c),
            "about": "asyncio.Semaphore (the floor: concurrency only, ignores any window)"}


# ---- figures -----------------------------------------------------------------------------


async def one_task(make, window: bool, n: int) -> float:
    lim = make(10, 10**9 if window else None, 3600.0)
    for _ in range(200):  # warm-up
        async with lim:
            pass
    t0 = time.perf_counter_ns()
    for _ in range(n):
        async with lim:
            pass
    return (time.perf_counter_ns() - t0) / n


async def many_tasks(make, tasks: int = 1000, each: int = 10) -> float:
    lim = make(10, 10**9, 3600.0)

    async def worker():
        for _ in range(each):
            async with lim:
                await asyncio.sleep(0)

    t0 = time.perf_counter_ns()
    await asyncio.gather(*(worker() for _ in range(tasks)))
    return (time.perf_counter_ns() - t0) / (tasks * each)


SCALE = 30.0
WINDOW = 60.0 / SCALE
ITEMS, FLOW_AT_ONCE, SHARED_AT_ONCE, PER_WINDOW = 50, 15, 10, 60


def durations(seed: int) -> list:
    rnd = random.Random(seed)
    return [rnd.uniform(0.050, 0.100) / SCALE for _ in range(ITEMS)]


class CallLlm(AsyncNode):
    """One mock call per flow instance, holding the shared limiter."""

    shared_limiter = None  # a callable returning the limiter (the registry lookup for native)
    stamps = None

    async def prep_async(self, shared):
        return self.params["duration"]

    async def exec_async(self, duration):
        call = time.monotonic()
        async with CallLlm.shared_limiter():
            CallLlm.stamps.append((call, time.monotonic()))
            await asyncio.sleep(duration)


class HarnessFlow(AsyncParallelBatchFlow):
    """The original's ThrottledAsyncParallelBatchFlow logic over any limiter."""

    def __init__(self, start, flow_limiter):
        super().__init__(start=start)
        self.flow_limiter = flow_limiter

    async def prep_async(self, shared):
        return [{"duration": d} for d in shared["durations"]]

    async def _run_async(self, shared):
        pr = await self.prep_async(shared) or []

        async def one(bp):
            async with self.flow_limiter:
                return await self._orch_async(shared, {**self.params, **bp})

        res = await asyncio.gather(*(one(bp) for bp in pr), return_exceptions=True)
        return await self.post_async(shared, pr, res)


def proven_window_max(stamps, window):
    spans = sorted(stamps)
    best = 0
    for i, (start, _g) in enumerate(spans):
        best = max(best, sum(1 for c, g in spans[i:] if g <= start + window))
    return best


async def makespan(contender) -> tuple:
    make = contender["make"]
    d1, d2 = durations(1), durations(2)
    CallLlm.stamps = []
    if "pt" in contender:  # the documented pattern: register once, get by name
        pt = contender["pt"]
        pt.LimiterRegistry.configure("local:")
        pt.LimiterRegistry.register("openai", SHARED_AT_ONCE, PER_WINDOW, WINDOW)
        CallLlm.shared_limiter = staticmethod(lambda: pt.LimiterRegistry.get("openai"))

        class Flow(pt.ThrottledAsyncParallelBatchFlow):
            max_concurrent_flows = FLOW_AT_ONCE

            async def prep_async(self, shared):
                return [{"duration": d} for d in shared["durations"]]

        flows = [Flow(start=CallLlm()), Flow(start=CallLlm())]
    else:
        shared_lim = make(SHARED_AT_ONCE, PER_WINDOW, WINDOW)
        CallLlm.shared_limiter = staticmethod(lambda: shared_lim)
        flows = [HarnessFlow(CallLlm(), make(FLOW_AT_ONCE, None, 3600.0)) for _ in range(2)]
    t0 = time.monotonic()
    await asyncio.gather(flows[0].run_async({"durations": d1}),
                         flows[1].run_async({"durations": d2}))
    span = time.monotonic() - t0
    assert len(CallLlm.stamps) == 2 * ITEMS
    d = sorted(d1 + d2)
    bound = WINDOW + max(sum(d[: 2 * ITEMS - PER_WINDOW]) / SHARED_AT_ONCE, d[0])
    return span, span / bound, proven_window_max(CallLlm.stamps, WINDOW)


# ---- driver ------------------------------------------------------------------------------


def figure(c, key: str, n: int):
    """One measurement of figure `key` for contender c (here, or in its worker)."""
    if "worker" in c:
        return c["worker"].ask(key, n)
    if key == "one_window":
        return asyncio.run(one_task(c["make"], True, n))
    if key == "one_conc":
        return asyncio.run(one_task(c["make"], False, n))
    if key == "many":
        return asyncio.run(many_tasks(c["make"]))
    return asyncio.run(makespan(c))


def serve() -> int:
    """--worker: answers "FIGURE N" lines with a JSON result, after a JSON hello."""
    c = load_native()
    print(json.dumps({"hot_path": c["hot_path"], "about": c["about"]}), flush=True)
    for line in sys.stdin:
        key, n = line.split()
        print(json.dumps(figure(c, key, int(n))), flush=True)
    return 0


def measure(contenders, reps: int, n: int, quick: bool) -> dict:
    keys = ["one_window", "one_conc"] + ([] if quick else ["many", "makespan"])
    res = {name: {} for name in contenders}
    for _ in range(reps):
        for name, c in contenders.items():
            for key in keys:
                if key == "makespan" and name == "semaphore":
                    continue
                res[name].setdefault(key, []).append(figure(c, key, n))
    return res


TARGET = 1.2  # native `async with`, uncontended, at most this times asyncio.Semaphore's


def target_table(res) -> str:
    """native and ctypes against asyncio.Semaphore, 1 task: medians and per-rep ratios."""
    names = [n for n in ("native", "ctypes", "original", "aiolimiter") if n in res]
    if "semaphore" not in res:
        return ""
    out = ["| 1 task, acquire+release | contender | ns (median) | / Semaphore (medians) "
           "| / Semaphore in each rep: median [min-max] |", "| --- | --- | --- | --- | --- |"]
    for label, key in (("10 at once + window", "one_window"),
                       ("concurrency only", "one_conc")):
        sem = res["semaphore"][key]
        out.append(f"| {label} | asyncio.Semaphore | {statistics.median(sem):,.0f} | 1.00x | - |")
        for n in names:
            v = res[n][key]
            per_rep = [a / b for a, b in zip(v, sem)]
            med = statistics.median(v) / statistics.median(sem)
            mark = f" (target <= {TARGET}x: {'met' if med <= TARGET else 'NOT met'})" \
                if n == "native" else ""
            out.append(f"| {label} | {n} | {statistics.median(v):,.0f} | {med:.2f}x{mark} | "
                       f"{statistics.median(per_rep):.2f}x [{min(per_rep):.2f}-"
                       f"{max(per_rep):.2f}] |")
    return "\n".join(out)


def table(res, skipped) -> str:
    names = [n for n in ("native", "ctypes", "original", "aiolimiter", "semaphore") if n in res]
    med = {n: {k: (statistics.median(v) if k != "makespan" else sorted(v)[len(v) // 2])
               for k, v in res[n].items()} for n in names}
    rows = [("acquire+release, 1 task, 10 at once + window (ns)", "one_window"),
            ("acquire+release, 1 task, concurrency only (ns)", "one_conc"),
            ("acquire+release, 1000 tasks on 10 at once (ns per op)", "many")]
    head = "| figure | " + " | ".join(names) + " | " + " | ".join(
        f"native / {n}" for n in names if n != "native") + " |"
    out = [head, "|" + " --- |" * (1 + 2 * len(names) - 1)]
    for label, key in rows:
        if key not in med["native"]:
            continue
        vals = {n: med[n][key] for n in names}
        cells = [f"{vals[n]:,.0f}" for n in names]
        ratios = [f"{vals['native'] / vals[n]:.2f}x" for n in names if n != "native"]
        out.append(f"| {label} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")
    ms = {n: med[n]["makespan"] for n in names if "makespan" in med[n]}
    if not ms:
        return "\n".join(out + [f"\n{name}: not run: {why}" for name, why in skipped.items()])
    cells = [f"{ms[n][0]:.3f} s ({ms[n][1]:.3f} of bound)" if n in ms else "-" for n in names]
    ratios = [f"{ms['native'][0] / ms[n][0]:.2f}x" if n in ms else "-"
              for n in names if n != "native"]
    out.append("| makespan, two-services scenario (ratio to lower bound) | " + " | ".join(cells)
               + " | " + " | ".join(ratios) + " |")
    cells = [f"{ms[n][2]} / {PER_WINDOW}" if n in ms else "-" for n in names]
    out.append("| most grants proven in one window (limit 60) | " + " | ".join(cells)
               + " |" + " |" * (len(names) - 1))
    for name, why in skipped.items():
        out.append(f"\n{name}: not run: {why}")
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--n", type=int, default=20000, help="iterations of the 1-task loops")
    ap.add_argument("--original", default=os.environ.get("PTL_BENCH_ORIGINAL", ""))
    ap.add_argument("--quick", action="store_true", help="only the 1-task figures")
    ap.add_argument("--json", metavar="PATH",
                    help="also write every rep's figures there (bench/run.sh reads them)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return serve()
    contenders, skipped = {}, {}
    for name, loader in (("native", load_native),
                         ("ctypes", lambda: load_ctypes(contenders.get("native", {}))),
                         ("original", lambda: load_original(args.original)),
                         ("aiolimiter", load_aiolimiter), ("semaphore", load_semaphore)):
        try:
            contenders[name] = loader()
        except Exception as e:  # noqa: BLE001 - reported in the table
            skipped[name] = f"{type(e).__name__}: {e}"
    if "native" not in contenders:
        print(f"the native binding cannot be loaded: {skipped['native']}", file=sys.stderr)
        return 1
    print(f"Python {platform.python_version()} on {platform.machine()}, "
          f"{os.cpu_count()} CPUs; medians of {args.reps} interleaved runs")
    for name, c in contenders.items():
        print(f"  {name}: {c['about']}")
    print(f"  makespan scenario: 2 flows x {ITEMS} items, {FLOW_AT_ONCE} at once each, shared "
          f"{SHARED_AT_ONCE} at once / {PER_WINDOW} per {WINDOW:.1f} s; calls "
          f"{50 / SCALE:.2f}-{100 / SCALE:.2f} ms\n")
    res = measure(contenders, args.reps, args.n, args.quick)
    if "ctypes" in contenders:
        contenders["ctypes"]["worker"].close()
    print(table(res, skipped))
    print()
    print(target_table(res))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"reps": args.reps, "hot_path": contenders["native"]["hot_path"],
                       "skipped": skipped, "results": res}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
