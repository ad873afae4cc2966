# SPDX-License-Identifier: MIT
"""An independent observer of grants, used to judge "never over quota" from the outside.

Each use of a limiter records (call, granted, released): `call` just before acquiring,
`granted` just after the acquire returned, `released` just before releasing, all on
CLOCK_MONOTONIC (time.monotonic), which every process of a host reads alike. The true
grant lies in [call, granted]; the permit is certainly held during [granted, released].
The checks count only what these stamps prove, so a late stamp never fails a correct
limiter, and a limiter that lets one call too many through fails them.
"""

from __future__ import annotations

import threading
import time


class Observer:
    def __init__(self):
        self.lock = threading.Lock()
        self.records: list = []  # (call, granted, released)
        self.in_flight = 0
        self.peak = 0

    def granted(self, call: float) -> float:
        now = time.monotonic()
        with self.lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        return now

    def released(self, call: float, granted: float) -> None:
        now = time.monotonic()
        with self.lock:
            self.in_flight -= 1
            self.records.append((call, granted, now))

    async def use(self, limiter, hold: float = 0.0):
        """One call through `limiter` (anything with async with), holding for `hold` s."""
        import asyncio

        call = time.monotonic()
        async with limiter:
            g = self.granted(call)
            await asyncio.sleep(hold)
            self.released(call, g)

    def use_sync(self, limiter, hold: float = 0.0):
        call = time.monotonic()
        with limiter:
            g = self.granted(call)
            time.sleep(hold)
            self.released(call, g)


def proven_peak_concurrency(records) -> int:
    """Most permits certainly held at one instant: overlaps of [granted, released]."""
    events = []
    for _call, granted, released in records:
        events.append((granted, 1))
        events.append((released, -1))
    events.sort(key=lambda e: (e[0], e[1]))  # a release at the same instant goes first
    cur = peak = 0
    for _t, d in events:
        cur += d
        peak = max(peak, cur)
    return peak


def proven_window_max(records, window: float) -> int:
    """Most grants certainly inside one span of `window` seconds (boundaries included):
    grants whose whole acquire, call to return, lies within [s, s + window]."""
    spans = sorted((c, g) for c, g, _r in records)
    best = 0
    for i, (start, _g) in enumerate(spans):
        n = sum(1 for c, g in spans[i:] if c >= start and g <= start + window)
        best = max(best, n)
    return best


class BrokenLimiter:
    """A limiter that is subtly wrong: one call too many at once, and no window at all."""

    def __init__(self, max_concurrent: int):
        import asyncio

        self._sem = asyncio.Semaphore(max_concurrent + 1)

    async def __aenter__(self):
        await self._sem.acquire()
        return self

    async def __aexit__(self, *exc):
        self._sem.release()


def wait_until(predicate, timeout: float = 5.0) -> bool:
    """Polls `predicate` until it holds (for effects handed to another thread)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()
