# SPDX-License-Identifier: MIT
"""Never over quota (threads, event loops, many tasks), and cancellation leaves nothing.

An independent observer (see _helpers.py) judges every run from its stamps; the same
harness run on a deliberately broken limiter must fail, so the checks have teeth.
"""

import asyncio
import random
import threading

import pytest

from _helpers import BrokenLimiter, Observer, proven_peak_concurrency, proven_window_max, wait_until
from pocketflow_throttled import LimiterRegistry, RateLimiter
from pocketflow_throttled._waiting import pending_count

CONC, PER_WINDOW, WINDOW = 4, 12, 0.15


def run_loops(make_limiter, loops=3, tasks=20, sync_threads=1, per_sync=10):
    """`loops` threads each running an event loop with `tasks` tasks, plus `sync_threads`
    plain threads using `with`, all through limiters from make_limiter()."""
    obs = Observer()
    errors = []

    def loop_thread(seed):
        async def main():
            lim = make_limiter()
            rnd = random.Random(seed)
            await asyncio.gather(*(obs.use(lim, rnd.uniform(0, 0.004)) for _ in range(tasks)))

        try:
            asyncio.run(main())
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    def sync_thread():
        try:
            lim = make_limiter()
            for _ in range(per_sync):
                obs.use_sync(lim, 0.001)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=loop_thread, args=(i,)) for i in range(loops)]
    threads += [threading.Thread(target=sync_thread) for _ in range(sync_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert len(obs.records) == loops * tasks + sync_threads * per_sync
    return obs


def judge(obs):
    assert obs.peak <= CONC, f"observed {obs.peak} in flight > {CONC}"
    assert proven_peak_concurrency(obs.records) <= CONC
    assert proven_window_max(obs.records, WINDOW) <= PER_WINDOW


def test_never_over_quota_threads_and_loops():
    LimiterRegistry.register("q", max_concurrent=CONC, max_per_window=PER_WINDOW,
                             window_seconds=WINDOW)
    obs = run_loops(lambda: LimiterRegistry.get("q"))
    judge(obs)
    st = LimiterRegistry.stats("q")
    assert st["total_acquired"] == len(obs.records)
    assert st["in_flight"] == 0 and st["waiting"] == 0


def test_never_over_quota_concurrency_only_many_tasks():
    lim = RateLimiter(max_concurrent=CONC)
    obs = run_loops(lambda: lim, loops=2, tasks=300, sync_threads=2, per_sync=50)
    assert obs.peak <= CONC and proven_peak_concurrency(obs.records) <= CONC
    assert lim.in_flight == 0 and lim.waiting == 0


def test_observer_catches_a_broken_limiter():
    """One call too many at once and no window: the same checks must fail."""
    obs = Observer()

    async def main():
        lim = BrokenLimiter(CONC)
        await asyncio.gather(*(obs.use(lim, 0.003) for _ in range(60)))

    asyncio.run(main())
    with pytest.raises(AssertionError):
        judge(obs)
    assert obs.peak == CONC + 1
    assert proven_window_max(obs.records, WINDOW) > PER_WINDOW


def test_two_event_loops_in_two_threads_share_one_limiter():
    lim = LimiterRegistry.register("two", max_concurrent=3)
    obs = run_loops(lambda: lim, loops=2, tasks=40, sync_threads=0)
    assert obs.peak <= 3 and lim.stats()["total_acquired"] == 80


def clean(lim):
    """No permit held, nobody waiting, no native callback outstanding (the last may still
    be on its way from a library thread, hence the wait)."""
    return wait_until(lambda: lim.in_flight == 0 and lim.waiting == 0 and pending_count() == 0)


async def test_cancel_waiting_tasks_leaves_nothing():
    lim = RateLimiter(max_concurrent=1)
    await lim.acquire()
    tasks = [asyncio.create_task(lim.acquire()) for _ in range(20)]
    await asyncio.sleep(0.01)
    assert lim.waiting == 20
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    lim.release()
    assert clean(lim)
    assert lim.stats()["total_cancelled"] == 20


async def test_cancel_races_with_the_grant():
    """Release, then cancel the waiter the permit was just handed to: the grant raced in,
    and the cancelled task must give it back."""
    lim = RateLimiter(max_concurrent=1)
    for i in range(200):
        await lim.acquire()
        waiter = asyncio.create_task(lim.acquire())
        await asyncio.sleep(0)  # the waiter is queued natively
        lim.release()  # grants the waiter (callback on this thread, wake-up still queued)
        if i % 2:
            await asyncio.sleep(0)
        waiter.cancel()
        try:
            await waiter
            lim.release()  # it won: it holds the permit and gives it back
        except asyncio.CancelledError:
            pass
        assert clean(lim), lim.stats()


async def test_cancel_while_the_window_blocks():
    """Waiters woken by the library's timer thread, cancelled around that moment."""
    lim = RateLimiter(max_concurrent=8, max_per_window=2, window_seconds=0.02)
    rnd = random.Random(7)
    got = 0

    async def one():
        nonlocal got
        async with lim:
            got += 1

    for _ in range(15):
        tasks = [asyncio.create_task(one()) for _ in range(6)]
        await asyncio.sleep(rnd.uniform(0, 0.03))
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        assert clean(lim), lim.stats()
    # a grant that raced a cancel counts as acquired (and was released at once)
    assert got <= lim.stats()["total_acquired"]


async def test_cancel_from_other_threads_loops():
    """Several loops cancelling their waiters at once on one limiter."""
    lim = LimiterRegistry.register("cx", max_concurrent=2, max_per_window=50,
                                   window_seconds=0.05)

    def worker(seed):
        async def main():
            rnd = random.Random(seed)
            for _ in range(10):
                tasks = [asyncio.create_task(lim.acquire()) for _ in range(5)]
                await asyncio.sleep(rnd.uniform(0, 0.01))
                for t in tasks:
                    if not t.done():
                        t.cancel()
                for t in tasks:
                    try:
                        await t
                        lim.release()
                    except asyncio.CancelledError:
                        pass

        asyncio.run(main())

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert clean(lim), lim.stats()


async def test_timeout_in_flight_of_a_task_group():
    lim = RateLimiter(max_concurrent=1)
    await lim.acquire()
    with pytest.raises(asyncio.TimeoutError):  # TimeoutError itself from Python 3.11 on
        await asyncio.wait_for(lim.acquire(), timeout=0.02)  # cancels the acquire
    lim.release()
    assert clean(lim)


async def test_waiting_never_blocks_the_event_loop():
    """While a task waits for the window to slide, the loop keeps running other tasks."""
    lim = RateLimiter(max_concurrent=5, max_per_window=1, window_seconds=0.2)
    events = []

    async def ticker():
        while True:
            events.append("tick")
            await asyncio.sleep(0.001)

    async with lim:
        pass
    t = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    events.clear()
    async with lim:  # waits for the window: a blocking wait would starve the ticker
        events.append("granted")
    t.cancel()
    assert "tick" in events[: events.index("granted")]
