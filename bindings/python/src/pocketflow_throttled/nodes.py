# SPDX-License-Identifier: MIT
"""Throttled parallel batch nodes: PocketFlow's AsyncParallelBatchNode under a limiter.

- ThrottledParallelBatchNode: fixed limits (max_concurrent, max_per_minute).
- AdaptiveThrottledNode: concurrency that shrinks on rate-limit errors and grows back
  after sustained success; each change reconfigures the live native limiter in place, so
  items already waiting obey it and calls in flight still count.

Every attempt (PocketFlow's max_retries) is a call, so every attempt holds a permit;
nothing is held while waiting `wait` seconds between attempts. exec_fallback_async runs
holding the last attempt's permit, as in the original. Optionally, `shared_limiter` (a
registry name or a RateLimiter) is held by every attempt too, after the node's own.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, List, Optional, Union

from pocketflow import AsyncNode, BatchNode

from .exceptions import RateLimitHit
from .rate_limiter import RateLimiter
from .shared import LimiterRegistry

_RATE_LIMIT_WORDS = ("429", "rate limit", "rate_limit", "too many requests",
                     "quota exceeded", "throttl")


class _Hold:
    """`async with` over the node's own limiter and, if set, the shared one."""

    __slots__ = ("own", "shared")

    def __init__(self, own: RateLimiter, shared: Optional[RateLimiter]):
        self.own, self.shared = own, shared

    async def __aenter__(self):
        await self.own.acquire()
        if self.shared is not None:
            try:
                await self.shared.acquire()
            except BaseException:
                self.own.release()
                raise

    async def __aexit__(self, *exc):
        if self.shared is not None:
            self.shared.release()
        self.own.release()


class ThrottledParallelBatchNode(AsyncNode, BatchNode):
    """Parallel batch node with built-in rate limiting (a drop-in replacement for
    AsyncParallelBatchNode that respects API limits).

    Class attributes (or constructor keywords):
        max_concurrent: simultaneous executions (default 5)
        max_per_minute: executions per minute, None = unlimited (default None)
        shared_limiter: a LimiterRegistry name or RateLimiter also held by every call
    """

    max_concurrent: int = 5
    max_per_minute: Optional[int] = None
    shared_limiter: Union[str, RateLimiter, None] = None

    def __init__(
        self,
        max_retries: int = 1,
        wait: int = 0,
        *,
        max_concurrent: Optional[int] = None,
        max_per_minute: Optional[int] = None,
    ):
        super().__init__(max_retries, wait)
        if max_concurrent is not None:
            self.max_concurrent = max_concurrent
        if max_per_minute is not None:
            self.max_per_minute = max_per_minute
        self._limiter: Optional[RateLimiter] = None

    def _limiter_concurrency(self) -> int:
        return self.max_concurrent

    @property
    def limiter(self) -> RateLimiter:
        """The node's own limiter, created on first use from the current configuration."""
        if self._limiter is None:
            self._limiter = RateLimiter(
                max_concurrent=self._limiter_concurrency(),
                max_per_window=self.max_per_minute,
                window_seconds=60.0,
            )
        return self._limiter

    def reset_limiter(self) -> None:
        """Drops the limiter; the next use creates one from the current configuration."""
        self._limiter = None

    def _shared(self) -> Optional[RateLimiter]:
        s = self.shared_limiter
        return LimiterRegistry.get(s) if isinstance(s, str) else s

    async def _attempt_failed(self, exc: Exception) -> None:
        """Called for each failed attempt, holding its permits (adaptive nodes adapt)."""

    async def _attempt_succeeded(self) -> None:
        """Called for each successful attempt, holding its permits."""

    async def _throttled_exec(self, item: Any) -> Any:
        """One item: up to max_retries attempts, each holding a permit; then the fallback."""
        for attempt in range(self.max_retries):
            self.cur_retry = attempt
            async with _Hold(self.limiter, self._shared()):
                try:
                    result = await self.exec_async(item)
                except Exception as e:
                    await self._attempt_failed(e)
                    if attempt == self.max_retries - 1:
                        return await self.exec_fallback_async(item, e)
                else:
                    await self._attempt_succeeded()
                    return result
            if self.wait > 0:
                await asyncio.sleep(self.wait)

    async def _exec(self, items: List[Any]) -> List[Any]:
        """All items in parallel under the limits; results in input order."""
        if not items:
            return []
        return await asyncio.gather(*(self._throttled_exec(item) for item in items))

    @staticmethod
    def is_rate_limit_error(exc: Exception) -> bool:
        """True if the exception looks like a rate limit (429, "rate limit", "quota
        exceeded", ...), or is a RateLimitHit. Override for specific API clients."""
        if isinstance(exc, RateLimitHit):
            return True
        err_str = str(exc).lower()
        return any(word in err_str for word in _RATE_LIMIT_WORDS)


class AdaptiveThrottledNode(ThrottledParallelBatchNode):
    """Parallel batch node whose concurrency adapts to rate-limit feedback.

    On a rate-limit error concurrency becomes max(min_concurrent, int(c * backoff_factor));
    after recovery_threshold consecutive successes it becomes min(max_concurrent,
    max(c + 1, int(c * recovery_factor))). A RateLimitHit's retry_after pauses the limiter
    (and the shared one) for every sharer. With propagate_rate_limit=True a final
    rate-limit failure is re-raised as RateLimitHit for an enclosing adaptive flow.
    """

    initial_concurrent: int = 5
    min_concurrent: int = 1
    max_concurrent: int = 20
    backoff_factor: float = 0.5
    recovery_threshold: int = 10
    recovery_factor: float = 1.2
    propagate_rate_limit: bool = False

    def __init__(
        self,
        max_retries: int = 1,
        wait: int = 0,
        *,
        initial_concurrent: Optional[int] = None,
        min_concurrent: Optional[int] = None,
        max_concurrent: Optional[int] = None,
        backoff_factor: Optional[float] = None,
        recovery_threshold: Optional[int] = None,
        recovery_factor: Optional[float] = None,
        max_per_minute: Optional[int] = None,
        propagate_rate_limit: Optional[bool] = None,
    ):
        for key, value in (
            ("initial_concurrent", initial_concurrent), ("min_concurrent", min_concurrent),
            ("max_concurrent", max_concurrent), ("backoff_factor", backoff_factor),
            ("recovery_threshold", recovery_threshold), ("recovery_factor", recovery_factor),
            ("propagate_rate_limit", propagate_rate_limit),
        ):
            if value is not None:
                setattr(self, key, value)
        self._current_concurrent = self.initial_concurrent
        self._consecutive_successes = 0
        self._adaptive_lock = threading.Lock()  # no await inside: any loop, any thread
        self._total_rate_limits = 0
        self._total_successes = 0
        super().__init__(max_retries=max_retries, wait=wait, max_per_minute=max_per_minute)

    def _limiter_concurrency(self) -> int:
        return self._current_concurrent

    @property
    def current_concurrent(self) -> int:
        """Current adaptive concurrency level."""
        return self._current_concurrent

    @property
    def stats(self) -> dict:
        """current_concurrent, total_successes, total_rate_limits, consecutive_successes."""
        return {
            "current_concurrent": self._current_concurrent,
            "total_successes": self._total_successes,
            "total_rate_limits": self._total_rate_limits,
            "consecutive_successes": self._consecutive_successes,
        }

    def _apply(self) -> None:
        if self._limiter is not None and self._limiter.max_concurrent != self._current_concurrent:
            self._limiter.reconfigure(max_concurrent=self._current_concurrent)

    async def _on_rate_limit(self, exc: Optional[BaseException] = None) -> None:
        """Shrinks concurrency by backoff_factor (not below min_concurrent), in place."""
        with self._adaptive_lock:
            self._current_concurrent = max(
                self.min_concurrent, int(self._current_concurrent * self.backoff_factor))
            self._consecutive_successes = 0
            self._total_rate_limits += 1
            self._apply()
        retry_after = getattr(exc, "retry_after", None)
        if retry_after:
            shared = self._shared()
            (shared if shared is not None else self.limiter).penalize(retry_after)

    async def _on_success(self) -> None:
        """After recovery_threshold consecutive successes, grows concurrency, in place."""
        with self._adaptive_lock:
            self._consecutive_successes += 1
            self._total_successes += 1
            if self._consecutive_successes >= self.recovery_threshold:
                c = self._current_concurrent
                self._current_concurrent = min(
                    self.max_concurrent, max(c + 1, int(c * self.recovery_factor)))
                self._consecutive_successes = 0
                self._apply()

    async def _attempt_failed(self, exc: Exception) -> None:
        if self.is_rate_limit_error(exc):
            await self._on_rate_limit(exc)

    async def _attempt_succeeded(self) -> None:
        await self._on_success()

    async def _throttled_exec(self, item: Any) -> Any:
        try:
            return await super()._throttled_exec(item)
        except Exception as e:
            if self.propagate_rate_limit and self.is_rate_limit_error(e) \
                    and not isinstance(e, RateLimitHit):
                raise RateLimitHit(f"Rate limit detected: {e}", source="adaptive_node",
                                   retry_after=getattr(e, "retry_after", None)) from e
            raise

    def reset_adaptive_state(self) -> None:
        """Back to initial_concurrent, counters cleared, limiter dropped."""
        self._current_concurrent = self.initial_concurrent
        self._consecutive_successes = 0
        self._total_rate_limits = 0
        self._total_successes = 0
        self.reset_limiter()
