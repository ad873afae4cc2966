# SPDX-License-Identifier: MIT
"""ThrottledAsyncParallelBatchFlow and AdaptiveThrottledBatchFlow."""

import asyncio

import pytest
from pocketflow import AsyncNode, AsyncParallelBatchFlow

from pocketflow_throttled import (
    AdaptiveThrottledBatchFlow,
    FlowPresets,
    RateLimitHit,
    ThrottledAsyncParallelBatchFlow,
)


class Work(AsyncNode):
    """Records its params; fails for user_id in shared["fail"], 429s for shared["limit"]."""

    async def prep_async(self, shared):
        return shared

    async def exec_async(self, shared):
        uid = self.params["user_id"]
        shared["active"] += 1
        shared["peak"] = max(shared["peak"], shared["active"])
        await asyncio.sleep(0.002)
        shared["active"] -= 1
        if uid in shared.get("fail", ()):
            raise ValueError(f"bad user {uid}")
        if uid in shared.get("limit", ()):
            raise RateLimitHit("429", source="api")
        return uid

    async def post_async(self, shared, prep_res, exec_res):
        shared.setdefault("done", []).append(exec_res)
        return "default"


def users_flow(base):
    class Users(base):
        async def prep_async(self, shared):
            return [{"user_id": u} for u in shared["users"]]

        async def post_async(self, shared, prep_res, exec_res):
            shared["post"] = exec_res
            return "default"

    return Users


def new_shared(n, **extra):
    return {"users": list(range(n)), "active": 0, "peak": 0, **extra}


class TestThrottledFlow:
    async def test_runs_every_instance_with_its_params(self):
        flow = users_flow(ThrottledAsyncParallelBatchFlow)(start=Work(), max_concurrent_flows=3)
        shared = new_shared(12)
        await flow.run_async(shared)
        assert sorted(shared["done"]) == list(range(12))
        assert shared["peak"] == 3
        assert flow.stats == {"max_concurrent_flows": 3, "max_flows_per_minute": None,
                              "completed_flows": 12, "failed_flows": 0}
        assert flow.flow_limiter.in_flight == 0

    async def test_failure_does_not_cancel_others(self):
        flow = users_flow(ThrottledAsyncParallelBatchFlow)(start=Work())
        shared = new_shared(6, fail={2, 4})
        await flow.run_async(shared)
        post = shared["post"]
        assert [type(r).__name__ for r in post] == [
            "str", "str", "ValueError", "str", "ValueError", "str"]
        assert flow.stats["completed_flows"] == 4 and flow.stats["failed_flows"] == 2

    async def test_same_instances_as_pocketflow(self):
        outcomes = []
        for base in (AsyncParallelBatchFlow, ThrottledAsyncParallelBatchFlow):
            shared = new_shared(7)
            await users_flow(base)(start=Work()).run_async(shared)
            outcomes.append(sorted(shared["done"]))
        assert outcomes[0] == outcomes[1]

    def test_configuration(self):
        class Custom(ThrottledAsyncParallelBatchFlow):
            max_concurrent_flows = 7
            max_flows_per_minute = 70

        flow = Custom()
        assert (flow.flow_limiter.max_concurrent, flow.flow_limiter.max_per_window) == (7, 70)
        flow = ThrottledAsyncParallelBatchFlow(**FlowPresets.HEAVY_PROCESSING)
        assert (flow.max_concurrent_flows, flow.max_flows_per_minute) == (5, 20)
        _ = flow.flow_limiter
        flow.reset_flow_limiter()
        assert flow._flow_limiter is None and flow.stats["completed_flows"] == 0

    async def test_empty(self):
        flow = users_flow(ThrottledAsyncParallelBatchFlow)(start=Work())
        shared = new_shared(0)
        await flow.run_async(shared)
        assert shared["post"] == []


class TestAdaptiveFlow:
    def test_initial(self):
        flow = AdaptiveThrottledBatchFlow(**FlowPresets.ADAPTIVE_MODERATE)
        assert flow.current_concurrent_flows == 10
        assert flow.flow_limiter.max_concurrent == 10
        st = flow.stats
        assert st["current_concurrent_flows"] == 10 and st["total_rate_limits"] == 0

    async def test_shrinks_in_place_on_rate_limit_hit(self):
        flow = users_flow(AdaptiveThrottledBatchFlow)(
            start=Work(), initial_concurrent_flows=8, recovery_threshold=100)
        shared = new_shared(8, limit={0})
        await flow.run_async(shared)
        assert flow.current_concurrent_flows == 4 and flow.stats["total_rate_limits"] == 1
        assert flow.flow_limiter.max_concurrent == 4
        assert isinstance(shared["post"][0], RateLimitHit)
        assert flow.stats["failed_flows"] == 1 and flow.stats["completed_flows"] == 7

    async def test_other_errors_do_not_shrink(self):
        flow = users_flow(AdaptiveThrottledBatchFlow)(start=Work(), initial_concurrent_flows=4)
        await flow.run_async(new_shared(3, fail={1}))
        assert flow.current_concurrent_flows == 4 and flow.stats["total_rate_limits"] == 0

    async def test_grows_after_successes(self):
        flow = users_flow(AdaptiveThrottledBatchFlow)(
            start=Work(), initial_concurrent_flows=2, recovery_threshold=2,
            recovery_factor=1.2, max_concurrent_flows=5)
        shared = new_shared(10)
        await flow.run_async(shared)
        assert flow.current_concurrent_flows == 5 and flow.flow_limiter.max_concurrent == 5
        assert shared["peak"] <= 5

    async def test_arithmetic(self):
        flow = AdaptiveThrottledBatchFlow(initial_concurrent_flows=10, min_concurrent_flows=3)
        for want in (5, 3, 3):
            await flow._on_rate_limit()
            assert flow.current_concurrent_flows == want
        flow.reset_adaptive_state()
        assert flow.current_concurrent_flows == 10 and flow.stats["total_rate_limits"] == 0

    async def test_retry_after_pauses_the_flow_limiter(self):
        flow = AdaptiveThrottledBatchFlow()
        await flow._on_rate_limit(RateLimitHit("x", retry_after=30.0))
        assert flow.flow_limiter.try_acquire() is False


@pytest.mark.parametrize("n", [1, 25])
async def test_adaptive_node_inside_adaptive_flow(n):
    """The pattern of the original's docs: the node propagates, the flow adapts."""
    from pocketflow_throttled import AdaptiveThrottledNode

    class Api(AdaptiveThrottledNode):
        propagate_rate_limit = True

        async def prep_async(self, shared):
            return [self.params["user_id"]]

        async def exec_async(self, uid):
            if uid == 0:
                raise Exception("429 Too Many Requests")
            return uid

    flow = users_flow(AdaptiveThrottledBatchFlow)(start=Api(), initial_concurrent_flows=6,
                                                  recovery_threshold=1000)
    shared = new_shared(n)
    await flow.run_async(shared)
    assert isinstance(shared["post"][0], RateLimitHit)
    assert flow.current_concurrent_flows == 3
