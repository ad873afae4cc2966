# SPDX-License-Identifier: MIT
"""ThrottledParallelBatchNode and AdaptiveThrottledNode."""

import asyncio

import pytest
from pocketflow import AsyncFlow, AsyncParallelBatchNode

from pocketflow_throttled import (
    AdaptiveThrottledNode,
    LimiterRegistry,
    RateLimiter,
    RateLimitHit,
    ThrottledParallelBatchNode,
)


class Doubler(ThrottledParallelBatchNode):
    max_concurrent = 3

    def __init__(self, **kw):
        super().__init__(**kw)
        self.active = self.peak = 0

    async def prep_async(self, shared):
        return shared.get("items", [])

    async def exec_async(self, item):
        self.active += 1
        self.peak = max(self.peak, self.active)
        await asyncio.sleep(0.005 * (item % 3))
        self.active -= 1
        return item * 2

    async def post_async(self, shared, prep_res, exec_res_list):
        shared["results"] = exec_res_list
        return "default"


class TestThrottledNode:
    async def test_results_in_order_and_limit(self):
        node, shared = Doubler(), {"items": list(range(20))}
        await node._run_async(shared)
        assert shared["results"] == [i * 2 for i in range(20)]
        assert node.peak == 3
        assert node.limiter.in_flight == 0 and node.limiter.stats()["total_acquired"] == 20

    async def test_empty_and_single(self):
        for items, want in (([], []), ([42], [84])):
            shared = {"items": items}
            await Doubler()._run_async(shared)
            assert shared["results"] == want

    def test_configuration(self):
        class Custom(ThrottledParallelBatchNode):
            max_concurrent = 10
            max_per_minute = 120

        node = Custom()
        assert (node.max_concurrent, node.max_per_minute) == (10, 120)
        node = Doubler(max_concurrent=20, max_per_minute=200)
        assert (node.max_concurrent, node.max_per_minute) == (20, 200)

    def test_limiter_lazy_and_reset(self):
        node = Doubler()
        assert node._limiter is None
        lim = node.limiter
        assert isinstance(lim, RateLimiter) and lim.max_concurrent == 3
        assert lim.max_per_window is None and node.limiter is lim
        node.reset_limiter()
        assert node._limiter is None

    @pytest.mark.parametrize("text, expected", [
        ("HTTP Error 429: Too Many Requests", True), ("Rate limit exceeded", True),
        ("API quota exceeded", True), ("request throttled", True),
        ("Connection timeout", False), ("Invalid API key", False),
    ])
    def test_rate_limit_detection(self, text, expected):
        assert ThrottledParallelBatchNode.is_rate_limit_error(Exception(text)) is expected
        assert ThrottledParallelBatchNode.is_rate_limit_error(RateLimitHit("x"))

    async def test_in_async_flow(self):
        shared = {"items": [1, 2, 3]}
        await AsyncFlow(start=Doubler()).run_async(shared)
        assert shared["results"] == [2, 4, 6]

    async def test_shared_limiter_is_held_too(self):
        LimiterRegistry.register("api", max_concurrent=2)
        node = Doubler()
        node.shared_limiter = "api"
        shared = {"items": list(range(10))}
        await node._run_async(shared)
        assert node.peak == 2
        assert LimiterRegistry.stats("api")["total_acquired"] == 10


def scripted(base):
    """A node whose item i fails `fails[i]` times before succeeding (base: either class)."""

    class Scripted(base):
        def __init__(self, fails, fallback=None, **kw):
            super().__init__(**kw)
            self.fails, self.fallback, self.calls = dict(fails), fallback, []

        async def prep_async(self, shared):
            return shared["items"]

        async def exec_async(self, item):
            self.calls.append(item)
            if self.fails.get(item, 0) > 0:
                self.fails[item] -= 1
                raise ValueError(f"boom {item}")
            return item * 10

        async def exec_fallback_async(self, item, exc):
            if self.fallback is None:
                raise exc
            return self.fallback

        async def post_async(self, shared, prep_res, exec_res):
            shared["results"] = exec_res

    return Scripted


class TestRetriesLikePocketFlow:
    @pytest.mark.parametrize("fails, retries, fallback", [
        ({1: 1}, 2, None), ({0: 2, 2: 1}, 3, None), ({1: 5}, 2, "fb"), ({}, 1, None),
    ])
    async def test_same_outcome_as_pocketflow(self, fails, retries, fallback):
        outcomes = []
        for base in (AsyncParallelBatchNode, ThrottledParallelBatchNode):
            node = scripted(base)(fails, fallback, max_retries=retries)
            shared = {"items": [0, 1, 2]}
            await node._run_async(shared)
            outcomes.append((shared["results"], sorted(node.calls)))
        assert outcomes[0] == outcomes[1]

    async def test_failure_propagates_like_pocketflow(self):
        for base in (AsyncParallelBatchNode, ThrottledParallelBatchNode):
            node = scripted(base)({1: 9}, None, max_retries=2)
            with pytest.raises(ValueError, match="boom 1"):
                await node._run_async({"items": [0, 1, 2]})

    async def test_every_attempt_holds_a_permit(self):
        node = scripted(ThrottledParallelBatchNode)({0: 2}, None, max_retries=3)
        await node._run_async({"items": [0, 1]})
        st = node.limiter.stats()
        assert st["total_acquired"] == 4 and st["in_flight"] == 0


class Adaptive(AdaptiveThrottledNode):
    initial_concurrent = 5
    recovery_threshold = 3
    recovery_factor = 2.0

    def __init__(self, limited=(), **kw):
        super().__init__(**kw)
        self.limited = set(limited)

    async def prep_async(self, shared):
        return shared["items"]

    async def exec_async(self, item):
        await asyncio.sleep(0.001)
        if item in self.limited:
            self.limited.discard(item)
            raise RateLimitHit("429", retry_after=None)
        return item

    async def post_async(self, shared, prep_res, exec_res):
        shared["results"] = exec_res


class TestAdaptiveNode:
    def test_initial_state(self):
        node = Adaptive()
        assert node.current_concurrent == 5
        assert node.stats == {"current_concurrent": 5, "total_successes": 0,
                              "total_rate_limits": 0, "consecutive_successes": 0}

    async def test_backoff_arithmetic(self):
        node = Adaptive()
        node._current_concurrent = 10
        for want in (5, 2, 1, 1):
            await node._on_rate_limit()
            assert node.current_concurrent == want
        assert node.stats["total_rate_limits"] == 4 and node._consecutive_successes == 0

    async def test_recovery_arithmetic(self):
        node = Adaptive()
        for _ in range(3):
            await node._on_success()
        assert node.current_concurrent == 10 and node._consecutive_successes == 0
        node._current_concurrent, node.recovery_threshold = 15, 1
        await node._on_success()
        assert node.current_concurrent == 20  # capped at max_concurrent
        node._current_concurrent, node.recovery_factor = 2, 1.2
        await node._on_success()
        assert node.current_concurrent == 3  # at least +1 (the original stayed at 2)

    async def test_shrinks_live_limiter_on_rate_limit(self):
        node = Adaptive(limited={0}, max_retries=2)
        shared = {"items": list(range(4))}
        await node._run_async(shared)
        assert shared["results"] == [0, 1, 2, 3]  # the retry succeeded
        assert node.stats["total_rate_limits"] == 1
        assert node.limiter.max_concurrent == node.current_concurrent
        assert node.limiter.in_flight == 0

    async def test_grows_after_successes(self):
        node = Adaptive(initial_concurrent=2)
        await node._run_async({"items": list(range(9))})
        assert node.current_concurrent == 16 and node.limiter.max_concurrent == 16
        assert node.stats["total_successes"] == 9

    async def test_propagate_rate_limit(self):
        class Plain(Adaptive):
            async def exec_async(self, item):
                raise Exception("HTTP 429 Too Many Requests")

        node = Plain(propagate_rate_limit=True)
        with pytest.raises(RateLimitHit) as info:
            await node._run_async({"items": [1]})
        assert info.value.source == "adaptive_node"
        assert node.current_concurrent == 2

    async def test_retry_after_pauses_the_limiter(self):
        class Hit(Adaptive):
            async def exec_async(self, item):
                raise RateLimitHit("429", retry_after=30.0)

        node = Hit()
        with pytest.raises(RateLimitHit):
            await node._run_async({"items": [1]})
        assert node.limiter.try_acquire() is False  # paused for 30 s

    def test_reset_adaptive_state(self):
        node = Adaptive()
        node._current_concurrent, node._consecutive_successes = 2, 5
        node._total_rate_limits, node._total_successes = 10, 50
        _ = node.limiter
        node.reset_adaptive_state()
        assert node.current_concurrent == 5 and node._limiter is None
        assert node.stats["total_rate_limits"] == 0 and node.stats["total_successes"] == 0
