# SPDX-License-Identifier: MIT
"""RateLimiter's hot path: the C extension (_speedups) when built, else Python over ctypes.

test.sh runs the whole suite twice, with the extension and with PTL_PY_PURE=1; the tests
below pin down what both must do alike (results, exceptions, permits never lost, nothing
done before the await, cancellation), and that the extension is really in use when built.
"""

import asyncio
import gc
import os
import platform
import subprocess
import sys
import threading
import weakref

import pytest

import pocketflow_throttled as pt
from pocketflow_throttled import _native as N
from pocketflow_throttled import RateLimiter
from pocketflow_throttled._waiting import pending_count
from pocketflow_throttled.exceptions import InvalidArgumentError, PtlError

PURE = os.environ.get("PTL_PY_PURE", "") not in ("", "0")
BUILDABLE = platform.python_implementation() == "CPython" and sys.version_info >= (3, 10)
BOGUS_PERMIT = 123456789  # never handed out by a fresh limiter


@pytest.mark.skipif(PURE, reason="PTL_PY_PURE is set: the ctypes path is under test")
@pytest.mark.skipif(not BUILDABLE, reason="the build makes the extension on CPython 3.10+")
def test_extension_is_in_use():
    """A build of the extension that failed silently (pip only warns) is caught here."""
    assert N.speedups is not None, f"pocketflow_throttled._speedups: {N.SPEEDUPS_WHY}"
    assert N.HOT_PATH == "C extension"
    assert RateLimiter.__mro__[1] is N.speedups.Core
    assert type(RateLimiter().__aenter__()) is N.speedups.Step


@pytest.mark.parametrize("value, pure", [("1", True), ("0", False), ("", False)])
def test_pure_flag_selects_ctypes(value, pure):
    code = ("import pocketflow_throttled as pt, pocketflow_throttled._native as N; "
            "print(N.HOT_PATH, pt.RateLimiter.__mro__[1].__name__)")
    env = dict(os.environ, PTL_PY_PURE=value)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True).stdout.split()
    if pure:
        assert out == ["ctypes", "_PyCore"]
    else:  # the default: whatever this installation has
        assert out[0] in ("ctypes", "C")
        if not PURE:
            assert out[0] == N.HOT_PATH.split()[0]


class TestUncontended:
    async def test_async_with_gives_the_limiter_and_counts(self):
        lim = RateLimiter(max_concurrent=3, max_per_window=100)
        async with lim as got:
            assert got is lim
            assert lim.in_flight == 1 and lim._n_held() == 1
            async with lim:
                assert lim.in_flight == 2
        assert lim.in_flight == 0 and lim._n_held() == 0
        st = lim.stats()
        assert st["total_acquired"] == 2 and st["current_window_count"] == 2

    async def test_body_exception_propagates_and_releases(self):
        lim = RateLimiter(max_concurrent=1)
        with pytest.raises(KeyError, match="boom"):
            async with lim:
                raise KeyError("boom")
        assert lim.in_flight == 0
        assert lim.try_acquire() is True
        lim.release()

    async def test_nothing_happens_before_the_await(self):
        lim = RateLimiter(max_concurrent=1)
        enter = lim.__aenter__()
        assert lim.in_flight == 0
        enter.close()  # never awaited: nothing was taken
        assert lim.in_flight == 0
        enter = lim.__aenter__()
        assert await enter is lim
        assert lim.in_flight == 1
        leave = lim.__aexit__(None, None, None)
        assert lim.in_flight == 1
        assert await leave is None
        assert lim.in_flight == 0

    async def test_the_enter_awaitable_can_be_a_task(self):
        lim = RateLimiter(max_concurrent=1)
        enter = lim.__aenter__()
        assert asyncio.iscoroutine(enter)
        enter.close()
        assert await asyncio.create_task(lim.__aenter__()) is lim
        assert lim.in_flight == 1
        blocked = asyncio.create_task(lim.__aenter__())
        await asyncio.sleep(0.02)
        assert not blocked.done() and lim.waiting == 1
        await lim.__aexit__(None, None, None)
        assert await blocked is lim
        await asyncio.create_task(lim.__aexit__(None, None, None))
        assert lim.in_flight == 0 and lim._n_held() == 0

    async def test_awaiting_twice_is_an_error(self):
        lim = RateLimiter(max_concurrent=2)
        enter = lim.__aenter__()
        await enter
        with pytest.raises(RuntimeError, match="cannot reuse already awaited coroutine"):
            await enter
        assert lim.in_flight == 1
        await lim.__aexit__(None, None, None)

    async def test_aexit_without_a_permit(self):
        with pytest.raises(IndexError):
            await RateLimiter().__aexit__(None, None, None)

    async def test_release_status_becomes_the_exception(self):
        lim = RateLimiter(max_concurrent=2)
        with pytest.raises(InvalidArgumentError) as info:
            async with lim:
                lim._push(BOGUS_PERMIT)  # on top: __aexit__ returns it, the library refuses
        assert isinstance(info.value, ValueError) and isinstance(info.value, PtlError)
        assert info.value.status_name == "PTL_EINVAL" and str(BOGUS_PERMIT) in str(info.value)
        assert lim.in_flight == 1 and lim._n_held() == 1  # the real permit is still held
        lim.release()
        assert lim.in_flight == 0
        lim._push(BOGUS_PERMIT)
        with pytest.raises(InvalidArgumentError):
            lim.release()
        with pytest.raises(RuntimeError, match="without a matching acquire"):
            lim.release()

    async def test_permits_are_not_leaked_nor_the_limiter(self):
        lim = RateLimiter(max_concurrent=2)
        for _ in range(2000):
            async with lim:
                pass
            with lim:
                pass
            assert lim.try_acquire() is True
            lim.release()
        assert lim.in_flight == 0 and lim._n_held() == 0
        ref = weakref.ref(lim)
        del lim
        gc.collect()
        assert ref() is None

    @pytest.mark.filterwarnings("ignore:coroutine .* was never awaited")
    async def test_a_cycle_through_the_awaitable_is_collected(self):
        lim = RateLimiter(max_concurrent=1)
        lim.pending = lim.__aenter__()  # limiter -> awaitable -> limiter
        ref = weakref.ref(lim)
        lim.pending.close()
        lim.pending = lim.__aenter__()
        del lim
        gc.collect()
        assert ref() is None

    def test_sync_with_and_try_acquire(self):
        lim = RateLimiter(max_concurrent=1)
        with lim as got:
            assert got is lim and lim.in_flight == 1
            assert lim.try_acquire() is False
        assert lim.in_flight == 0
        assert lim.try_acquire() is True
        lim.release()

    def test_wrong_calls_are_type_errors(self):
        lim = RateLimiter(max_concurrent=1)
        with pytest.raises(TypeError):
            lim.__exit__(None, None)
        with pytest.raises(TypeError):
            lim.__aexit__(None)
        with pytest.raises(TypeError):
            lim.release(1)
        with pytest.raises(TypeError):
            lim.try_acquire(1)
        assert lim.in_flight == 0

    def test_try_acquire_with_amounts_gives_a_permit(self):
        if not N.HAVE_POLICIES:
            pytest.skip("the library lacks the 0.2 policy API")
        lim = RateLimiter.from_policy([pt.Limit("requests", 2, 60), pt.Limit("tokens", 10, 60)])
        permit = lim.try_acquire(tokens=8)
        assert isinstance(permit, pt.Permit) and lim.in_flight == 1
        assert lim.try_acquire(tokens=8) is None
        permit.release()
        with pytest.raises(ValueError):
            lim.try_acquire(bogus_unit=1)

    def test_a_subclass_keeps_its_own_acquire_sync_and_release(self):
        calls = []

        class Logged(RateLimiter):
            def acquire_sync(self, timeout=None, **amounts):
                calls.append("acquire")
                return super().acquire_sync(timeout, **amounts)

            def release(self):
                calls.append("release")
                super().release()
                return True  # not __exit__'s result: it would swallow the exception

        lim = Logged(max_concurrent=1)
        with lim:
            assert lim.in_flight == 1
        assert calls == ["acquire", "release"] and lim.in_flight == 0
        with pytest.raises(KeyError):
            with lim:
                raise KeyError("not swallowed")
        assert lim.in_flight == 0


class TestWaiting:
    async def test_waits_then_enters(self):
        lim = RateLimiter(max_concurrent=1)
        order = []

        async def user(name, hold):
            async with lim as got:
                assert got is lim
                order.append(name)
                await asyncio.sleep(hold)

        await asyncio.gather(user("a", 0.02), user("b", 0), user("c", 0))
        assert order == ["a", "b", "c"]
        st = lim.stats()
        assert (st["in_flight"], st["waiting"], st["total_acquired"]) == (0, 0, 3)
        assert lim._n_held() == 0 and pending_count() == 0

    async def test_cancelled_while_waiting_holds_nothing(self):
        lim = RateLimiter(max_concurrent=1)
        await lim.acquire()
        entered = []

        async def user():
            async with lim:
                entered.append(1)

        task = asyncio.create_task(user())
        await asyncio.sleep(0.02)
        assert lim.waiting == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not entered and lim.waiting == 0 and lim.in_flight == 1
        lim.release()
        assert lim.in_flight == 0 and lim._n_held() == 0 and pending_count() == 0

    async def test_wait_for_on_the_enter_awaitable(self):
        lim = RateLimiter(max_concurrent=1)
        await lim.acquire()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(lim.__aenter__(), 0.03)
        assert lim.waiting == 0 and lim.in_flight == 1
        lim.release()
        assert await asyncio.wait_for(lim.__aenter__(), 1) is lim
        await lim.__aexit__(None, None, None)
        assert lim.in_flight == 0 and pending_count() == 0

    async def test_a_grant_by_another_thread_wakes_the_waiter(self):
        lim = RateLimiter(max_concurrent=1)
        assert lim.try_acquire() is True
        timer = threading.Timer(0.03, lim.release)
        timer.start()
        async with lim:
            assert lim.in_flight == 1
        timer.join()
        assert lim.in_flight == 0 and lim._n_held() == 0

    def test_threads_and_loops_hammering_one_limiter(self):
        lim = RateLimiter(max_concurrent=3)
        errors = []

        def loop_thread():
            async def main():
                async def one():
                    for _ in range(50):
                        async with lim:
                            await asyncio.sleep(0)
                await asyncio.gather(*(one() for _ in range(10)))

            try:
                asyncio.run(main())
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)

        def sync_thread():
            try:
                for _ in range(200):
                    with lim:
                        pass
                    if lim.try_acquire():
                        lim.release()
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        threads = [threading.Thread(target=loop_thread) for _ in range(2)]
        threads += [threading.Thread(target=sync_thread) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors, errors
        st = lim.stats()
        assert st["in_flight"] == 0 and st["waiting"] == 0
        assert st["total_acquired"] >= 2 * 10 * 50 + 2 * 200
        assert lim._n_held() == 0 and pending_count() == 0
