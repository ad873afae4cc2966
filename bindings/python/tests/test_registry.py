# SPDX-License-Identifier: MIT
"""LimiterRegistry: the original's class methods and semantics, plus configure(uri)."""

import asyncio

import pytest

from pocketflow_throttled import LimiterRegistry, RateLimiter, RateLimitHit


class TestOriginalSemantics:
    def test_register_returns_limiter(self):
        lim = LimiterRegistry.register("test_api", max_concurrent=5, max_per_window=60)
        assert isinstance(lim, RateLimiter)
        assert lim.name == "test_api"
        assert LimiterRegistry.exists("test_api")

    def test_get(self):
        LimiterRegistry.register("my_limiter", max_concurrent=10)
        lim = LimiterRegistry.get("my_limiter")
        assert lim._max_concurrent == 10
        assert LimiterRegistry.get("my_limiter") is lim

    def test_get_missing_raises_key_error(self):
        with pytest.raises(KeyError) as info:
            LimiterRegistry.get("nonexistent")
        assert "nonexistent" in str(info.value)
        assert "get_or_create" in str(info.value)

    def test_register_duplicate_raises_value_error(self):
        LimiterRegistry.register("api", max_concurrent=5)
        with pytest.raises(ValueError) as info:
            LimiterRegistry.register("api", max_concurrent=10)
        assert "already exists" in str(info.value)
        assert LimiterRegistry.get("api").max_concurrent == 5

    def test_replace_changes_limits(self):
        LimiterRegistry.register("api", max_concurrent=5)
        LimiterRegistry.register("api", max_concurrent=10, replace=True)
        assert LimiterRegistry.get("api")._max_concurrent == 10

    async def test_replace_is_in_place(self):
        lim = LimiterRegistry.register("api", max_concurrent=3)
        await lim.acquire()
        await lim.acquire()
        again = LimiterRegistry.register("api", max_concurrent=2, replace=True)
        assert again is lim
        assert LimiterRegistry.stats("api")["in_flight"] == 2  # permits still count
        assert lim.try_acquire() is False
        lim.release()
        lim.release()

    def test_get_or_create(self):
        lim = LimiterRegistry.get_or_create("new_api", max_concurrent=15)
        assert lim._max_concurrent == 15 and LimiterRegistry.exists("new_api")
        again = LimiterRegistry.get_or_create("new_api", max_concurrent=100)
        assert again is lim and again.max_concurrent == 15

    def test_remove(self):
        LimiterRegistry.register("to_remove", max_concurrent=5)
        assert LimiterRegistry.remove("to_remove") is True
        assert not LimiterRegistry.exists("to_remove")
        assert LimiterRegistry.remove("to_remove") is False
        assert LimiterRegistry.remove("nonexistent") is False

    def test_reset_single_and_all(self):
        for name, c in (("a", 5), ("b", 10), ("c", 15)):
            LimiterRegistry.register(name, max_concurrent=c)
        LimiterRegistry.reset("a")
        assert not LimiterRegistry.exists("a") and LimiterRegistry.exists("b")
        LimiterRegistry.reset("missing")  # no error, as the original
        LimiterRegistry.reset()
        assert LimiterRegistry.list_names() == []

    def test_list_names_and_all(self):
        LimiterRegistry.register("api2", max_concurrent=10, max_per_window=None)
        LimiterRegistry.register("api1", max_concurrent=5, max_per_window=60)
        assert sorted(LimiterRegistry.list_names()) == ["api1", "api2"]
        all_ = LimiterRegistry.list_all()
        assert all_["api1"] == {"max_concurrent": 5, "max_per_window": 60, "window_seconds": 60.0}
        assert all_["api2"]["max_concurrent"] == 10 and all_["api2"]["max_per_window"] is None

    async def test_stats_fields(self):
        LimiterRegistry.register("api", max_concurrent=5, max_per_window=100, window_seconds=30.0)
        async with LimiterRegistry.get("api"):
            st = LimiterRegistry.stats("api")
            assert st["in_flight"] == 1
        st = LimiterRegistry.stats("api")
        assert st["max_concurrent"] == 5 and st["max_per_window"] == 100
        assert st["window_seconds"] == 30.0 and st["current_window_count"] == 1
        for key in ("in_flight", "waiting", "total_acquired", "total_timeouts",
                    "total_cancelled", "total_wait_ns"):
            assert key in st
        assert st["total_acquired"] == 1 and st["in_flight"] == 0
        with pytest.raises(KeyError):
            LimiterRegistry.stats("nope")

    async def test_shared_limiter_usage(self):
        LimiterRegistry.register("shared", max_concurrent=2)
        active = peak = 0

        async def task(i):
            nonlocal active, peak
            async with LimiterRegistry.get("shared"):
                active += 1
                peak = max(peak, active)
                await asyncio.sleep(0.01)
                active -= 1
            return i

        assert await asyncio.gather(*(task(i) for i in range(10))) == list(range(10))
        assert peak == 2

    async def test_different_limiters_independent(self):
        LimiterRegistry.register("api_a", max_concurrent=2)
        LimiterRegistry.register("api_b", max_concurrent=3)
        a = LimiterRegistry.get("api_a")
        b = LimiterRegistry.get("api_b")
        for _ in range(2):
            await a.acquire()
        assert b.try_acquire() and b.try_acquire() and b.try_acquire()
        assert not a.try_acquire() and not b.try_acquire()
        for _ in range(2):
            a.release()
        for _ in range(3):
            b.release()


class TestNames:
    @pytest.mark.parametrize("name", ["", "x" * 256])
    def test_bad_names(self, name):
        with pytest.raises(ValueError):
            LimiterRegistry.register(name)

    def test_unicode_name(self):
        LimiterRegistry.register("élan-限流", max_concurrent=2)
        assert LimiterRegistry.exists("élan-限流")
        assert "élan-限流" in LimiterRegistry.list_names()

    def test_lone_surrogate(self):
        with pytest.raises(ValueError):
            LimiterRegistry.exists("bad\udc80")


class TestConfigure:
    def test_local_is_private(self):
        LimiterRegistry.register("x", max_concurrent=1)
        LimiterRegistry.configure("local:")
        assert LimiterRegistry.uri() == "local:"
        assert not LimiterRegistry.exists("x")
        LimiterRegistry.register("y", max_concurrent=1)
        LimiterRegistry.configure(None)
        assert LimiterRegistry.exists("x") and not LimiterRegistry.exists("y")

    def test_bad_uri(self):
        with pytest.raises(ValueError) as info:
            LimiterRegistry.configure("nosuch://x")
        assert "nosuch" in str(info.value)

    def test_unreachable_redis_is_backend_error(self):
        from pocketflow_throttled import BackendError

        with pytest.raises(BackendError):
            LimiterRegistry.configure("redis://127.0.0.1:1?timeout=0.2")
            LimiterRegistry.register("r")

    async def test_shm_registry(self, shm_uri):
        LimiterRegistry.configure(shm_uri)
        lim = LimiterRegistry.register("openai", max_concurrent=2, max_per_window=10)
        assert LimiterRegistry.get("openai") is lim
        await LimiterRegistry.get("openai").acquire()  # acquire and release through two gets
        LimiterRegistry.get("openai").release()
        async with lim:
            assert LimiterRegistry.stats("openai")["in_flight"] == 1
        assert LimiterRegistry.list_names() == ["openai"]
        assert LimiterRegistry.remove("openai") is True


class TestNulBytes:
    """A NUL byte would cut the string at the C boundary ("a\\0b" would be "a"): refused."""

    CALLS = {
        "register": lambda n: LimiterRegistry.register(n, max_concurrent=1),
        "replace": lambda n: LimiterRegistry.register(n, max_concurrent=1, replace=True),
        "get": LimiterRegistry.get,
        "get_or_create": LimiterRegistry.get_or_create,
        "exists": LimiterRegistry.exists,
        "remove": LimiterRegistry.remove,
        "reset": LimiterRegistry.reset,
        "stats": LimiterRegistry.stats,
    }

    @pytest.mark.parametrize("call", sorted(CALLS))
    def test_name_with_nul_is_value_error(self, call):
        LimiterRegistry.register("a", max_concurrent=3)
        with pytest.raises(ValueError, match="NUL"):
            self.CALLS[call]("a\0b")
        # Nothing reached the limiter "a" (nor made another one).
        assert LimiterRegistry.list_names() == ["a"]
        assert LimiterRegistry.get("a").max_concurrent == 3

    def test_uri_with_nul_is_value_error(self, shm_uri):
        with pytest.raises(ValueError, match="NUL"):
            LimiterRegistry.configure(shm_uri + "\0?mode=0666")
        assert LimiterRegistry.uri() is None  # the registry stays as it was

    def test_preset_name_with_nul_is_value_error(self):
        from pocketflow_throttled.presets import preset_config

        with pytest.raises(ValueError, match="NUL"):
            preset_config("openai_tier1\0x")


class TestRateLimitHit:
    def test_fields_and_repr(self):
        exc = RateLimitHit("Test", retry_after=10.0, source="api")
        assert str(exc) == "Test" and exc.retry_after == 10.0 and exc.source == "api"
        r = repr(exc)
        assert "RateLimitHit" in r and "retry_after=10.0" in r and "source='api'" in r
        plain = RateLimitHit()
        assert str(plain) == "Rate limit hit" and plain.retry_after is None
