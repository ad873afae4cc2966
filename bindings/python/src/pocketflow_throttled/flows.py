# SPDX-License-Identifier: MIT
"""Throttled parallel batch flows: PocketFlow's AsyncParallelBatchFlow, with a limit on how
many flow instances run at once (and start per minute).

- ThrottledAsyncParallelBatchFlow: fixed limits (max_concurrent_flows, max_flows_per_minute).
- AdaptiveThrottledBatchFlow: shrinks on RateLimitHit from an instance, grows back after
  sustained success; each change reconfigures the live native limiter in place.

As in the original, one failed instance never cancels the others: post_async receives the
list of every instance's result or exception, in input order, and `stats` counts them.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Dict, List, Optional

from pocketflow import AsyncParallelBatchFlow

from .exceptions import RateLimitHit
from .rate_limiter import RateLimiter


class ThrottledAsyncParallelBatchFlow(AsyncParallelBatchFlow):
    """AsyncParallelBatchFlow with rate-limited parallel flow instances.

    Class attributes (or constructor keywords):
        max_concurrent_flows: simultaneous flow instances (default 5)
        max_flows_per_minute: instances started per minute, None = unlimited (default)
    """

    max_concurrent_flows: int = 5
    max_flows_per_minute: Optional[int] = None

    def __init__(
        self,
        start=None,
        *,
        max_concurrent_flows: Optional[int] = None,
        max_flows_per_minute: Optional[int] = None,
    ):
        super().__init__(start=start)
        if max_concurrent_flows is not None:
            self.max_concurrent_flows = max_concurrent_flows
        if max_flows_per_minute is not None:
            self.max_flows_per_minute = max_flows_per_minute
        self._flow_limiter: Optional[RateLimiter] = None
        self._completed_flows = 0
        self._failed_flows = 0
        self._flow_results: List[Any] = []

    def _limiter_concurrency(self) -> int:
        return self.max_concurrent_flows

    @property
    def flow_limiter(self) -> RateLimiter:
        """The flow's limiter, created on first use from the current configuration."""
        if self._flow_limiter is None:
            self._flow_limiter = RateLimiter(
                max_concurrent=self._limiter_concurrency(),
                max_per_window=self.max_flows_per_minute,
                window_seconds=60.0,
            )
        return self._flow_limiter

    def reset_flow_limiter(self) -> None:
        """Drops the limiter and clears the statistics."""
        self._flow_limiter = None
        self._completed_flows = 0
        self._failed_flows = 0
        self._flow_results = []

    @property
    def stats(self) -> Dict[str, Any]:
        """max_concurrent_flows, max_flows_per_minute, completed_flows, failed_flows."""
        return {
            "max_concurrent_flows": self.max_concurrent_flows,
            "max_flows_per_minute": self.max_flows_per_minute,
            "completed_flows": self._completed_flows,
            "failed_flows": self._failed_flows,
        }

    async def _on_instance_success(self) -> None:
        pass

    async def _on_instance_failure(self, exc: Exception) -> None:
        pass

    async def _run_instance(self, shared: Dict[str, Any], bp: Dict[str, Any]) -> Any:
        async with self.flow_limiter:
            try:
                result = await self._orch_async(shared, {**self.params, **bp})
            except Exception as e:
                self._failed_flows += 1
                await self._on_instance_failure(e)
                raise
            self._completed_flows += 1
            await self._on_instance_success()
            return result

    async def _run_async(self, shared: Dict[str, Any]) -> Any:
        """Every instance of prep_async's parameter sets, under the flow's limits."""
        pr = await self.prep_async(shared) or []
        self._completed_flows = 0
        self._failed_flows = 0
        self._flow_results = []
        results = await asyncio.gather(
            *(self._run_instance(shared, bp) for bp in pr), return_exceptions=True
        )
        self._flow_results = results
        return await self.post_async(shared, pr, results)


class AdaptiveThrottledBatchFlow(ThrottledAsyncParallelBatchFlow):
    """Parallel flow whose instance concurrency adapts to RateLimitHit from its nodes.

    On RateLimitHit: max(min_concurrent_flows, int(c * backoff_factor)), and a retry_after
    pauses the flow's limiter. After recovery_threshold consecutive successes:
    min(max_concurrent_flows, max(c + 1, int(c * recovery_factor))).
    """

    initial_concurrent_flows: int = 5
    min_concurrent_flows: int = 1
    max_concurrent_flows: int = 20
    backoff_factor: float = 0.5
    recovery_threshold: int = 10
    recovery_factor: float = 1.2

    def __init__(
        self,
        start=None,
        *,
        initial_concurrent_flows: Optional[int] = None,
        min_concurrent_flows: Optional[int] = None,
        max_concurrent_flows: Optional[int] = None,
        backoff_factor: Optional[float] = None,
        recovery_threshold: Optional[int] = None,
        recovery_factor: Optional[float] = None,
        max_flows_per_minute: Optional[int] = None,
    ):
        for key, value in (
            ("initial_concurrent_flows", initial_concurrent_flows),
            ("min_concurrent_flows", min_concurrent_flows),
            ("max_concurrent_flows", max_concurrent_flows),
            ("backoff_factor", backoff_factor),
            ("recovery_threshold", recovery_threshold),
            ("recovery_factor", recovery_factor),
        ):
            if value is not None:
                setattr(self, key, value)
        self._current_concurrent_flows = self.initial_concurrent_flows
        self._consecutive_successes = 0
        self._adaptive_lock = threading.Lock()
        self._total_rate_limits = 0
        super().__init__(start=start, max_flows_per_minute=max_flows_per_minute)

    def _limiter_concurrency(self) -> int:
        return self._current_concurrent_flows

    @property
    def current_concurrent_flows(self) -> int:
        """Current adaptive concurrency level."""
        return self._current_concurrent_flows

    @property
    def stats(self) -> Dict[str, Any]:
        """The parent's stats plus current_concurrent_flows, consecutive_successes and
        total_rate_limits."""
        base = super().stats
        base.update({
            "current_concurrent_flows": self._current_concurrent_flows,
            "consecutive_successes": self._consecutive_successes,
            "total_rate_limits": self._total_rate_limits,
        })
        return base

    def _apply(self) -> None:
        lim, want = self._flow_limiter, self._current_concurrent_flows
        if lim is not None and lim.max_concurrent != want:
            lim.reconfigure(max_concurrent=want)

    async def _on_rate_limit(self, exc: Optional[RateLimitHit] = None) -> None:
        """Shrinks concurrency by backoff_factor (not below min_concurrent_flows)."""
        with self._adaptive_lock:
            self._current_concurrent_flows = max(
                self.min_concurrent_flows,
                int(self._current_concurrent_flows * self.backoff_factor))
            self._consecutive_successes = 0
            self._total_rate_limits += 1
            self._apply()
        if exc is not None and exc.retry_after:
            self.flow_limiter.penalize(exc.retry_after)

    async def _on_success(self) -> None:
        """After recovery_threshold consecutive successes, grows concurrency."""
        with self._adaptive_lock:
            self._consecutive_successes += 1
            if self._consecutive_successes >= self.recovery_threshold:
                c = self._current_concurrent_flows
                self._current_concurrent_flows = min(
                    self.max_concurrent_flows, max(c + 1, int(c * self.recovery_factor)))
                self._consecutive_successes = 0
                self._apply()

    async def _on_instance_success(self) -> None:
        await self._on_success()

    async def _on_instance_failure(self, exc: Exception) -> None:
        if isinstance(exc, RateLimitHit):
            await self._on_rate_limit(exc)

    def reset_adaptive_state(self) -> None:
        """Back to initial_concurrent_flows, counters cleared, limiter dropped."""
        self._current_concurrent_flows = self.initial_concurrent_flows
        self._consecutive_successes = 0
        self._total_rate_limits = 0
        self.reset_flow_limiter()
