# SPDX-License-Identifier: MIT
"""
PocketFlow Throttled - rate-limited parallel execution for PocketFlow, on a native limiter
=========================================================================================

A drop-in replacement for the pocketflow-throttled 0.2.0 package whose limiter is the
native libpocketflow_throttled (through ctypes; RateLimiter's hot path through a small C
extension when it was built): one quota shared by threads, event loops, processes (shm://)
and hosts (redis://), never exceeded.

Quick start:
    from pocketflow_throttled import LimiterRegistry, ThrottledParallelBatchNode

    LimiterRegistry.register("openai", max_concurrent=10, max_per_window=60)

    class Translate(ThrottledParallelBatchNode):
        max_concurrent = 5
        async def prep_async(self, shared):
            return shared["texts"]
        async def exec_async(self, text):
            async with LimiterRegistry.get("openai"):
                return await call_llm(text)

Classes:
    RateLimiter, LimiterRegistry, ThrottledParallelBatchNode, AdaptiveThrottledNode,
    ThrottledAsyncParallelBatchFlow, AdaptiveThrottledBatchFlow, Presets, FlowPresets,
    RateLimitConfig, FlowRateLimitConfig, RateLimitHit, PtlError (native failures).

Policies (several limits admitted together, amounts, settle, provider observations):
    Limit, Permit, Usage, PresetPolicy; LimiterRegistry.register_policy /
    get_or_create_policy, RateLimiter.from_policy / policy / set_policy / observe /
    observe_headers / usage; presets.policy(name), presets.policies().
"""

__version__ = "0.3.0"
__author__ = "pocketflow-throttled authors"

from ._native import version_string as native_version
from .exceptions import (
    AcquireTimeoutError,
    BackendError,
    LimiterClosedError,
    PtlError,
    RateLimitHit,
)
from .rate_limiter import RateLimiter
from .shared import LimiterRegistry
from .presets import FlowPresets, FlowRateLimitConfig, Presets, PresetPolicy, RateLimitConfig
from .policies import Limit, Permit, Usage
from . import presets
from .nodes import AdaptiveThrottledNode, ThrottledParallelBatchNode
from .flows import AdaptiveThrottledBatchFlow, ThrottledAsyncParallelBatchFlow

__all__ = [
    "__version__",
    "RateLimiter",
    "ThrottledParallelBatchNode",
    "AdaptiveThrottledNode",
    "ThrottledAsyncParallelBatchFlow",
    "AdaptiveThrottledBatchFlow",
    "LimiterRegistry",
    "RateLimitHit",
    "Presets",
    "RateLimitConfig",
    "FlowPresets",
    "FlowRateLimitConfig",
    "PtlError",
    "AcquireTimeoutError",
    "BackendError",
    "LimiterClosedError",
    "native_version",
    "Limit",
    "Permit",
    "Usage",
    "PresetPolicy",
    "presets",
]


def main() -> None:
    """CLI entry point: package info and the presets."""
    from ._native import HOT_PATH

    print(f"PocketFlow Throttled v{__version__} (native library {native_version()}, "
          f"hot path: {HOT_PATH})")
    print("=" * 40)
    print(__doc__)
    print("\nAvailable Presets:")
    for name, desc in Presets.list_presets().items():
        print(f"  - {name}: {desc}")
