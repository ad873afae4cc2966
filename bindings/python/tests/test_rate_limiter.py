# SPDX-License-Identifier: MIT
"""RateLimiter: the original's API and behaviour, on the native limiter."""

import asyncio
import os
import subprocess
import sys
import threading
import time

import pytest

import pocketflow_throttled as pt
from pocketflow_throttled import RateLimiter
from pocketflow_throttled.exceptions import AcquireTimeoutError, PtlError


class TestConstruction:
    def test_defaults(self):
        lim = RateLimiter()
        assert (lim.max_concurrent, lim.max_per_window, lim.window_seconds) == (5, None, 60.0)
        assert lim.name is None

    def test_custom_and_private_aliases(self):
        lim = RateLimiter(max_concurrent=3, max_per_window=10, window_seconds=30.0)
        assert (lim.max_concurrent, lim.max_per_window, lim.window_seconds) == (3, 10, 30.0)
        assert (lim._max_concurrent, lim._max_per_window, lim._window_seconds) == (3, 10, 30.0)

    @pytest.mark.parametrize(
        "kwargs, message",
        [
            ({"max_concurrent": 0}, "max_concurrent must be at least 1"),
            ({"max_per_window": 0}, "max_per_window must be at least 1 or None"),
            ({"window_seconds": 0}, "window_seconds must be positive"),
            ({"window_seconds": -1.0}, "window_seconds must be positive"),
            ({"window_seconds": float("nan")}, "window_seconds must be positive"),
        ],
    )
    def test_invalid(self, kwargs, message):
        with pytest.raises(ValueError, match=message):
            RateLimiter(**kwargs)

    def test_repr(self):
        assert repr(RateLimiter(2, 7, 1.5)) == (
            "RateLimiter(max_concurrent=2, max_per_window=7, window_seconds=1.5)"
        )


class TestAcquireRelease:
    async def test_context_manager_counts(self):
        lim = RateLimiter(max_concurrent=2, max_per_window=100)
        async with lim:
            assert lim.in_flight == 1
            async with lim:
                assert lim.in_flight == 2
        assert lim.in_flight == 0
        assert lim.current_window_count == 2
        assert lim.stats()["total_acquired"] == 2

    async def test_acquire_release_pair(self):
        lim = RateLimiter(max_concurrent=1)
        await lim.acquire()
        assert lim.in_flight == 1
        lim.release()
        assert lim.in_flight == 0

    def test_release_without_acquire(self):
        with pytest.raises(RuntimeError, match="without a matching acquire"):
            RateLimiter().release()

    async def test_concurrency_limit_with_tasks(self):
        lim = RateLimiter(max_concurrent=3)
        active = peak = 0

        async def work():
            nonlocal active, peak
            async with lim:
                active += 1
                peak = max(peak, active)
                await asyncio.sleep(0.01)
                active -= 1

        await asyncio.gather(*(work() for _ in range(30)))
        assert peak == 3
        assert lim.in_flight == 0 and lim.waiting == 0

    async def test_timeout_leaves_nothing(self):
        lim = RateLimiter(max_concurrent=1)
        await lim.acquire()
        with pytest.raises(AcquireTimeoutError) as info:
            await lim.acquire(timeout=0.05)
        assert isinstance(info.value, TimeoutError)
        assert info.value.status_name == "PTL_ETIMEDOUT"
        lim.release()
        st = lim.stats()
        assert (st["in_flight"], st["waiting"], st["total_timeouts"]) == (0, 0, 1)

    def test_try_acquire(self):
        lim = RateLimiter(max_concurrent=1)
        assert lim.try_acquire() is True
        assert lim.try_acquire() is False
        lim.release()
        assert lim.try_acquire() is True
        lim.release()

    def test_sync_with_from_threads(self):
        lim = RateLimiter(max_concurrent=2)
        lock, state = threading.Lock(), {"active": 0, "peak": 0}

        def work():
            for _ in range(20):
                with lim:
                    with lock:
                        state["active"] += 1
                        state["peak"] = max(state["peak"], state["active"])
                    time.sleep(0.001)
                    with lock:
                        state["active"] -= 1

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert state["peak"] <= 2
        assert lim.stats()["total_acquired"] == 80 and lim.in_flight == 0


class TestWindow:
    async def test_window_holds_back_the_next_grant(self):
        window = 0.2
        lim = RateLimiter(max_concurrent=10, max_per_window=3, window_seconds=window)
        stamps = []
        for _ in range(4):
            async with lim:
                stamps.append(time.monotonic())
        assert lim.current_window_count >= 1
        # the 4th grant comes only once the 1st has left the window
        assert stamps[3] - stamps[0] >= window * 0.99

    def test_current_window_count(self):
        lim = RateLimiter(max_concurrent=5, max_per_window=10, window_seconds=60)
        for _ in range(3):
            with lim:
                pass
        assert lim.current_window_count == 3


class TestReconfigureAndPenalty:
    async def test_reconfigure_in_place_keeps_in_flight(self):
        lim = RateLimiter(max_concurrent=3)
        for _ in range(3):
            await lim.acquire()
        lim.reconfigure(max_concurrent=2)
        assert lim.max_concurrent == 2 and lim.in_flight == 3
        lim.release()
        assert lim.try_acquire() is False  # still 2 in flight of 2
        lim.release()
        assert lim.try_acquire() is True
        lim.release()
        lim.release()
        lim.reconfigure(max_per_window=5)
        assert lim.max_per_window == 5 and lim.max_concurrent == 2
        lim.reconfigure(max_per_window=None)
        assert lim.max_per_window is None

    def test_penalize_pauses_grants(self):
        lim = RateLimiter(max_concurrent=5)
        lim.penalize(30.0)
        assert lim.try_acquire() is False
        with pytest.raises(AcquireTimeoutError):
            lim.acquire_sync(timeout=0.02)


class TestReset:
    def test_reset_clears_the_window_of_an_idle_private_limiter(self):
        lim = RateLimiter(max_concurrent=2, max_per_window=2, window_seconds=60)
        for _ in range(2):
            with lim:
                pass
        assert lim.try_acquire() is False
        lim.reset()
        assert lim.current_window_count == 0
        assert lim.try_acquire() is True
        lim.release()

    def test_reset_refuses_when_in_use(self):
        lim = RateLimiter(max_concurrent=2)
        assert lim.try_acquire()
        with pytest.raises(RuntimeError, match="in use"):
            lim.reset()
        lim.release()

    def test_reset_refuses_shared(self):
        lim = pt.LimiterRegistry.register("r", max_concurrent=2)
        with pytest.raises(RuntimeError, match="shared limiter"):
            lim.reset()


def test_import_error_names_what_was_tried(tmp_path):
    env = dict(os.environ, PTL_LIBRARY=str(tmp_path / "missing.so"))
    out = subprocess.run(
        [sys.executable, "-c", "import pocketflow_throttled"],
        env=env, capture_output=True, text=True,
    )
    assert out.returncode != 0
    assert "ImportError" in out.stderr
    assert "PTL_LIBRARY=" + str(tmp_path / "missing.so") in out.stderr


def test_errors_carry_status_and_message():
    with pytest.raises(PtlError) as info:
        pt.LimiterRegistry.register("", max_concurrent=1)
    assert isinstance(info.value, ValueError)
    assert info.value.status_name == "PTL_EINVAL" and str(info.value)


def test_version():
    assert pt.native_version().count(".") == 2
    assert pt.__version__
