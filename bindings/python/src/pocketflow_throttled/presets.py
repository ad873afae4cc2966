# SPDX-License-Identifier: MIT
"""Rate limit presets for popular APIs, read from the native library's table.

The values live only in the library (ptl_preset_list); this module builds the original
library's Presets and FlowPresets classes from it at import time:

    node = ThrottledParallelBatchNode(**Presets.OPENAI_TIER1)
    config = Presets.CONFIGS["openai_tier1"]           # a RateLimitConfig
    flow = MyFlow(start=node, **FlowPresets.MODERATE)
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Tuple

from . import _native as N
from .policies import Limit


@dataclass(frozen=True)
class RateLimitConfig:
    """Immutable rate limit configuration of a node (max_per_minute None = unlimited)."""

    max_concurrent: int
    max_per_minute: Optional[int]
    description: str = ""

    def to_dict(self) -> Dict[str, int]:
        """Convert to kwargs dict for node initialization."""
        result = {"max_concurrent": self.max_concurrent}
        if self.max_per_minute is not None:
            result["max_per_minute"] = self.max_per_minute
        return result


@dataclass(frozen=True)
class FlowRateLimitConfig:
    """Immutable rate limit configuration of a flow (max_flows_per_minute None = unlimited)."""

    max_concurrent_flows: int
    max_flows_per_minute: Optional[int]
    description: str = ""

    def to_dict(self) -> Dict[str, int]:
        """Convert to kwargs dict for flow initialization."""
        result = {"max_concurrent_flows": self.max_concurrent_flows}
        if self.max_flows_per_minute is not None:
            result["max_flows_per_minute"] = self.max_flows_per_minute
        return result


def _native_presets() -> list:
    rows = []

    def each(_user, p):
        p = p.contents
        desc = p.description.decode("utf-8")
        rows.append(
            {
                "kind": p.kind,
                "name": p.name.decode("ascii"),
                # "Anthropic Build Tier 1 (same as anthropic_build_tier1)": the original's text
                "description": desc.split(" (same as ")[0],
                "concurrent": p.config.max_concurrent,
                "per_minute": p.config.max_per_window or None,
                "min": p.adaptive.min_concurrent,
                "max": p.adaptive.max_concurrent,
                "backoff": p.adaptive.backoff_factor,
                "threshold": p.adaptive.recovery_threshold,
                "recovery": p.adaptive.recovery_factor,
            }
        )
        return 0

    fn = N.PRESET_FN(each)
    N.check(N.lib.ptl_preset_list(fn, None))
    return rows


def _lookup(cls, name: str) -> Dict[str, int]:
    name_upper = name.upper()
    if hasattr(cls, name_upper):
        return getattr(cls, name_upper)
    name_lower = name.lower()
    if name_lower in cls.CONFIGS:
        return cls.CONFIGS[name_lower].to_dict()
    raise KeyError(f"Unknown preset: {name}. Available: {list(cls.CONFIGS.keys())}")


class Presets:
    """Node presets (max_concurrent, max_per_minute) for popular services.

    Each is a class attribute dict for **kwargs (Presets.OPENAI_TIER1) and a
    RateLimitConfig in Presets.CONFIGS["openai_tier1"]. Rate limits vary by account tier,
    model and time: these are starting points.
    """

    CONFIGS: Dict[str, RateLimitConfig] = {}

    @classmethod
    def get(cls, name: str) -> Dict[str, int]:
        """A preset by name, case-insensitive ("openai_tier1", "ANTHROPIC_STANDARD");
        KeyError if there is none."""
        return _lookup(cls, name)

    @classmethod
    def list_presets(cls) -> Dict[str, str]:
        """{preset name: description}."""
        return {name: config.description for name, config in cls.CONFIGS.items()}

    # The provider policies (policy(), policies(), list_policies() below), reachable from
    # the class too.
    @staticmethod
    def policy(name: str) -> PresetPolicy:
        """A provider policy by name; KeyError if there is none."""
        return policy(name)

    @staticmethod
    def policies() -> List[PresetPolicy]:
        """Every provider policy."""
        return policies()

    @staticmethod
    def list_policies() -> Dict[str, str]:
        """{policy name: description}."""
        return list_policies()


class FlowPresets:
    """Flow presets (max_concurrent_flows, max_flows_per_minute) for throttled flows, and
    ADAPTIVE_* settings for AdaptiveThrottledBatchFlow."""

    CONFIGS: Dict[str, FlowRateLimitConfig] = {}

    @classmethod
    def get(cls, name: str) -> Dict[str, int]:
        """A preset by name, case-insensitive ("moderate", "ADAPTIVE_CONSERVATIVE");
        KeyError if there is none."""
        return _lookup(cls, name)

    @classmethod
    def list_presets(cls) -> Dict[str, str]:
        """{preset name: description}."""
        return {name: config.description for name, config in cls.CONFIGS.items()}


def _build() -> None:
    for r in _native_presets():
        if r["kind"] == N.PRESET_NODE:
            setattr(Presets, r["name"].upper(),
                    {"max_concurrent": r["concurrent"], "max_per_minute": r["per_minute"]})
            Presets.CONFIGS[r["name"]] = RateLimitConfig(
                r["concurrent"], r["per_minute"], r["description"])
            continue
        short = r["name"][len("flow_"):] if r["name"].startswith("flow_") else r["name"]
        if r["kind"] == N.PRESET_FLOW:
            setattr(FlowPresets, short.upper(), {
                "max_concurrent_flows": r["concurrent"],
                "max_flows_per_minute": r["per_minute"],
            })
            FlowPresets.CONFIGS[short] = FlowRateLimitConfig(
                r["concurrent"], r["per_minute"], r["description"])
        elif r["kind"] == N.PRESET_ADAPTIVE_FLOW:
            setattr(FlowPresets, short.upper(), {
                "initial_concurrent_flows": r["concurrent"],
                "min_concurrent_flows": r["min"],
                "max_concurrent_flows": r["max"],
                "backoff_factor": r["backoff"],
                "recovery_threshold": r["threshold"],
                "recovery_factor": r["recovery"],
            })


_build()


def preset_config(name: str) -> Dict[str, object]:
    """One native preset by name (ASCII case-insensitive; flow presets as "flow_*"), as
    {"kind", "name", "description", "max_concurrent", "max_per_window", "window_seconds"};
    KeyError if none."""
    p = N.Preset()
    p.struct_size = ctypes.sizeof(N.Preset)
    rc = N.lib.ptl_preset_get(N.encode_name(name, "preset name"), ctypes.byref(p))
    if rc == N.ENOTFOUND:
        raise N.error(rc, f"Unknown preset: {name}")
    N.check(rc)
    d = {"kind": ("node", "flow", "adaptive_flow")[p.kind], "name": p.name.decode(),
         "description": p.description.decode()}
    d.update(N.config_dict(p.config))
    return d


# ---- provider policies (native ABI 0.2) ----------------------------------------------


@dataclass(frozen=True)
class PresetPolicy:
    """A provider's published limits for one account tier and model, as a policy:

        p = presets.policy("openai_tier1_gpt_4o")
        LimiterRegistry.register_policy("openai", p)      # or p.limits

    The numbers change: check your account's limits page, and feed responses to
    RateLimiter.observe_headers(). source_date (YYYY-MM-DD) says when `source` (URLs,
    space-separated) was read."""

    name: str
    description: str
    source_date: str
    source: str
    limits: Tuple[Limit, ...]

    def __iter__(self) -> Iterator[Limit]:
        return iter(self.limits)

    def __len__(self) -> int:
        return len(self.limits)

    @property
    def sources(self) -> List[str]:
        """The source URLs, one per item."""
        return self.source.split()


def _preset_policy(p: N.PresetPolicy) -> PresetPolicy:
    def text(b: Optional[bytes]) -> str:
        return b.decode("utf-8") if b else ""

    return PresetPolicy(text(p.name), text(p.description), text(p.source_date), text(p.source),
                        tuple(Limit._from_native(p.limits[i]) for i in range(p.n_limits)))


def policy(name: str) -> PresetPolicy:
    """The provider policy `name` ("openai_tier1_gpt_4o", "anthropic_tier1_claude_sonnet_4";
    ASCII case-insensitive); KeyError if there is none."""
    N.require_policies()
    p = N.PresetPolicy()
    p.struct_size = ctypes.sizeof(N.PresetPolicy)
    rc = N.lib.ptl_preset_policy_get(N.encode_name(name, "policy name"), ctypes.byref(p))
    if rc == N.ENOTFOUND:
        raise N.error(rc, f"Unknown policy: {name}. Available: {[q.name for q in policies()]}")
    N.check(rc)
    return _preset_policy(p)


def policies() -> List[PresetPolicy]:
    """Every provider policy, in the library's table order."""
    N.require_policies()
    rows: List[PresetPolicy] = []

    def each(_user, p):
        rows.append(_preset_policy(p.contents))
        return 0

    fn = N.PRESET_POLICY_FN(each)
    N.check(N.lib.ptl_preset_policy_list(fn, None))
    return rows


def list_policies() -> Dict[str, str]:
    """{policy name: description}, like Presets.list_presets()."""
    return {p.name: p.description for p in policies()}

