# SPDX-License-Identifier: MIT
"""Presets and FlowPresets: the original's names and values, read from the native table."""

import dataclasses

import pytest

from pocketflow_throttled import (
    FlowPresets,
    FlowRateLimitConfig,
    Presets,
    RateLimitConfig,
    ThrottledAsyncParallelBatchFlow,
    ThrottledParallelBatchNode,
)
from pocketflow_throttled.presets import preset_config

# The original library's (0.2.0) attribute presets: name -> (max_concurrent, max_per_minute)
NODE = {
    "OPENAI_FREE": (3, 3), "OPENAI_TIER1": (5, 60), "OPENAI_TIER2": (10, 500),
    "OPENAI_TIER3": (15, 5000), "OPENAI_TIER4": (20, 10000), "OPENAI_TIER5": (30, 30000),
    "ANTHROPIC_FREE": (2, 5), "ANTHROPIC_BUILD_TIER1": (5, 50),
    "ANTHROPIC_BUILD_TIER2": (10, 1000), "ANTHROPIC_BUILD_TIER3": (15, 2000),
    "ANTHROPIC_BUILD_TIER4": (20, 4000), "ANTHROPIC_STANDARD": (5, 50),
    "ANTHROPIC_SCALE": (15, 2000), "GOOGLE_FREE": (2, 15), "GOOGLE_PAY_AS_YOU_GO": (10, 1000),
    "COHERE_TRIAL": (2, 20), "COHERE_PRODUCTION": (10, 10000), "HUGGINGFACE_FREE": (1, 30),
    "HUGGINGFACE_PRO": (5, 1000), "MISTRAL_FREE": (2, 30), "MISTRAL_STANDARD": (10, 500),
    "CONSERVATIVE": (2, 20), "MODERATE": (5, 60), "AGGRESSIVE": (10, 200),
    "UNLIMITED_CONCURRENT": (50, None), "SCRAPING_POLITE": (2, 10),
    "SCRAPING_MODERATE": (5, 30), "SCRAPING_AGGRESSIVE": (10, 60),
}
# The original's Presets.CONFIGS: name -> (max_concurrent, max_per_minute, description)
CONFIGS = {
    "openai_free": (3, 3, "OpenAI Free Tier"), "openai_tier1": (5, 60, "OpenAI Tier 1"),
    "openai_tier2": (10, 500, "OpenAI Tier 2"), "openai_tier3": (15, 5000, "OpenAI Tier 3"),
    "openai_tier4": (20, 10000, "OpenAI Tier 4"), "openai_tier5": (30, 30000, "OpenAI Tier 5"),
    "anthropic_free": (2, 5, "Anthropic Free Tier"),
    "anthropic_tier1": (5, 50, "Anthropic Build Tier 1"),
    "anthropic_tier2": (10, 1000, "Anthropic Build Tier 2"),
    "anthropic_tier3": (15, 2000, "Anthropic Build Tier 3"),
    "anthropic_tier4": (20, 4000, "Anthropic Build Tier 4"),
    "google_free": (2, 15, "Google AI Free"), "google_paid": (10, 1000, "Google AI Pay-as-you-go"),
    "conservative": (2, 20, "Conservative - safe default"),
    "moderate": (5, 60, "Moderate - balanced"),
    "aggressive": (10, 200, "Aggressive - high throughput"),
}
FLOW = {
    "CONSERVATIVE": (3, 30), "MODERATE": (10, 60), "AGGRESSIVE": (25, 200),
    "HIGH_THROUGHPUT": (50, 500), "UNLIMITED": (100, None), "BATCH_PROCESSING": (10, 100),
    "DATA_PIPELINE": (20, 200), "REALTIME": (5, None), "HEAVY_PROCESSING": (5, 20),
}
FLOW_CONFIGS = {
    "conservative": "Conservative - safe default", "moderate": "Moderate - balanced",
    "aggressive": "Aggressive - high throughput",
    "high_throughput": "High throughput - for fast APIs",
    "batch_processing": "Batch processing workloads", "data_pipeline": "Data pipeline processing",
    "realtime": "Real-time low latency", "heavy_processing": "Heavy API usage per flow",
}
ADAPTIVE = {
    "ADAPTIVE_CONSERVATIVE": (5, 2, 15, 0.5, 20, 1.2),
    "ADAPTIVE_MODERATE": (10, 3, 30, 0.5, 15, 1.3),
    "ADAPTIVE_AGGRESSIVE": (20, 5, 50, 0.6, 10, 1.4),
}


@pytest.mark.parametrize("name", sorted(NODE))
def test_node_attribute_values(name):
    c, m = NODE[name]
    assert getattr(Presets, name) == {"max_concurrent": c, "max_per_minute": m}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_node_configs(name):
    c, m, desc = CONFIGS[name]
    assert Presets.CONFIGS[name] == RateLimitConfig(c, m, desc)
    assert Presets.list_presets()[name] == desc


@pytest.mark.parametrize("name", sorted(FLOW))
def test_flow_values(name):
    c, m = FLOW[name]
    assert getattr(FlowPresets, name) == {"max_concurrent_flows": c, "max_flows_per_minute": m}


def test_flow_configs():
    for name, desc in FLOW_CONFIGS.items():
        c, m = FLOW[name.upper()]
        assert FlowPresets.CONFIGS[name] == FlowRateLimitConfig(c, m, desc)


@pytest.mark.parametrize("name", sorted(ADAPTIVE))
def test_adaptive_flow_values(name):
    keys = ("initial_concurrent_flows", "min_concurrent_flows", "max_concurrent_flows",
            "backoff_factor", "recovery_threshold", "recovery_factor")
    assert getattr(FlowPresets, name) == dict(zip(keys, ADAPTIVE[name]))


def test_get_is_case_insensitive_and_raises_key_error():
    assert Presets.get("openai_tier1") == {"max_concurrent": 5, "max_per_minute": 60}
    assert Presets.get("ANTHROPIC_STANDARD") == {"max_concurrent": 5, "max_per_minute": 50}
    assert Presets.get("Anthropic_Tier2") == {"max_concurrent": 10, "max_per_minute": 1000}
    assert FlowPresets.get("moderate") == FlowPresets.MODERATE
    assert FlowPresets.get("adaptive_aggressive")["backoff_factor"] == 0.6
    with pytest.raises(KeyError, match="Unknown preset"):
        Presets.get("nope")
    with pytest.raises(KeyError, match="Unknown preset"):
        FlowPresets.get("nope")


def test_config_objects():
    cfg = RateLimitConfig(5, None, "x")
    assert cfg.to_dict() == {"max_concurrent": 5}
    assert RateLimitConfig(5, 60).to_dict() == {"max_concurrent": 5, "max_per_minute": 60}
    assert FlowRateLimitConfig(3, None).to_dict() == {"max_concurrent_flows": 3}
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.max_concurrent = 9


def test_presets_as_kwargs():
    node = ThrottledParallelBatchNode(**Presets.OPENAI_TIER1)
    assert (node.max_concurrent, node.max_per_minute) == (5, 60)
    assert node.limiter.max_per_window == 60 and node.limiter.window_seconds == 60.0
    flow = ThrottledAsyncParallelBatchFlow(**FlowPresets.CONSERVATIVE)
    assert flow.flow_limiter.max_concurrent == 3


def test_native_lookup():
    p = preset_config("OPENAI_TIER3")
    assert p["kind"] == "node" and p["max_concurrent"] == 15 and p["max_per_window"] == 5000
    assert preset_config("flow_realtime")["max_per_window"] is None
    with pytest.raises(KeyError):
        preset_config("nope")
