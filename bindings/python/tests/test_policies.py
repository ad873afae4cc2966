# SPDX-License-Identifier: MIT
"""Policies (native ABI 0.2) in Python: Limit, register_policy, amounts, settle, observe,
observe_headers, usage, provider presets; and the drop-in API left as it was."""

import asyncio
import email.message
import inspect
import random
import re
import threading
import time
import warnings
from datetime import datetime, timedelta, timezone

import pytest

import pocketflow_throttled as pt
from _helpers import proven_peak_concurrency, wait_until
from pocketflow_throttled import (
    Limit,
    LimiterRegistry,
    Permit,
    Presets,
    PresetPolicy,
    RateLimiter,
    Usage,
    presets,
)
from pocketflow_throttled._waiting import pending_count
from pocketflow_throttled.exceptions import (
    AcquireTimeoutError,
    InvalidArgumentError,
    LimiterExistsError,
    LimiterNotFoundError,
)

OPENAI = [Limit("requests", 500, 60), Limit("tokens", 30000, 60)]
ANTHROPIC = [Limit("requests", 50, 60), Limit("input_tokens", 30000, 60),
             Limit("output_tokens", 8000, 60)]


def clean(lim):
    return wait_until(lambda: lim.in_flight == 0 and lim.waiting == 0 and pending_count() == 0)


# ---- declaring and registering ---------------------------------------------------------


class TestLimit:
    def test_fields_and_defaults(self):
        lim = Limit(unit="tokens", max=30000, window=60.0)
        assert (lim.unit, lim.max, lim.window, lim.held) == ("tokens", 30000, 60.0, False)
        assert lim.window_ns == 60_000_000_000
        assert Limit("requests", 10).held and Limit("requests", 10).window_ns == 0
        assert Limit("requests", 10, 0) == Limit("requests", 10, None) == Limit("requests", 10)
        assert Limit("tokens", 5, 60) == Limit("tokens", 5, 60.0)

    @pytest.mark.parametrize("args, exc", [
        (("tokens", 0, 60), ValueError),
        (("tokens", -1, 60), ValueError),
        (("tokens", 10, -1.0), ValueError),
        (("tokens", 10, float("nan")), ValueError),
        (("tokens", 10, float("inf")), ValueError),
        (("tokens", 1.5, 60), TypeError),
        (("tokens", True, 60), TypeError),
        ((b"tokens", 10, 60), TypeError),
        (("tokens", 10, "60"), TypeError),
    ])
    def test_bad_limits(self, args, exc):
        with pytest.raises(exc):
            Limit(*args)


class TestRegisterPolicy:
    def test_round_trip(self):
        policy = OPENAI + [Limit("requests", 10000, 86400), Limit("requests", 8)]
        lim = LimiterRegistry.register_policy("openai", policy)
        assert lim.policy == policy
        assert LimiterRegistry.get("openai") is lim
        assert LimiterRegistry.get("openai").policy == policy
        assert all(isinstance(x, Limit) for x in lim.policy)
        assert lim.policy[3].window is None
        # The 0.1 view of the policy: the first requests window, the requests held.
        st = LimiterRegistry.stats("openai")
        assert (st["max_concurrent"], st["max_per_window"], st["window_seconds"]) == (8, 500, 60.0)

    def test_tuples_and_fractional_windows(self):
        lim = LimiterRegistry.register_policy("t", [("requests", 3, 0.25), ("tokens", 7)])
        assert lim.policy == [Limit("requests", 3, 0.25), Limit("tokens", 7, None)]

    def test_duplicate_and_replace(self):
        LimiterRegistry.register_policy("a", OPENAI)
        with pytest.raises(ValueError, match="already exists"):
            LimiterRegistry.register_policy("a", OPENAI)
        with pytest.raises(LimiterExistsError):
            LimiterRegistry.register_policy("a", OPENAI)
        lim = LimiterRegistry.register_policy("a", ANTHROPIC, replace=True)
        assert lim.policy == ANTHROPIC

    def test_get_or_create_policy(self):
        a = LimiterRegistry.get_or_create_policy("g", OPENAI)
        b = LimiterRegistry.get_or_create_policy("g", ANTHROPIC)  # exists: policy ignored
        assert a is b and b.policy == OPENAI

    @pytest.mark.parametrize("policy, match", [
        ([], None),
        ([Limit("Tokens", 10, 60)], "Tokens"),
        ([Limit("to-kens", 10, 60)], None),
        ([Limit("t" * 33, 10, 60)], None),
        ([Limit("tokens", 10, 60), Limit("tokens", 20, 60)], None),  # (unit, window) twice
        ([Limit(f"u{i}", 1, 60) for i in range(17)], None),
    ])
    def test_invalid_policies_are_value_errors(self, policy, match):
        with pytest.raises(InvalidArgumentError, match=match):
            LimiterRegistry.register_policy("bad", policy)
        assert not LimiterRegistry.exists("bad")

    def test_policy_type_errors(self):
        for bad in ("requests", {"requests": 5}, 5, [("requests",)], [object()]):
            with pytest.raises(TypeError):
                LimiterRegistry.register_policy("bad", bad)

    def test_nul_in_unit(self):
        with pytest.raises(ValueError, match="NUL"):
            LimiterRegistry.register_policy("bad", [Limit("tok\0ens", 5, 60)])

    async def test_set_policy_is_live_and_keeps_history(self):
        lim = LimiterRegistry.register("legacy", max_concurrent=2, max_per_window=10)
        assert lim.policy == [Limit("requests", 2), Limit("requests", 10, 60)]
        async with lim:
            lim.set_policy([Limit("requests", 2), Limit("requests", 3, 60),
                            Limit("tokens", 100, 60)])
            assert lim.usage("requests", 60).used == 1  # the window's history stayed
            assert lim.usage("requests", None).used == 1  # held, too
        assert lim.policy[2] == Limit("tokens", 100, 60)
        p1 = lim.try_acquire(tokens=60)
        p2 = lim.try_acquire(tokens=40)
        assert p1 and p2
        assert lim.try_acquire() is False  # 3 requests in the window now
        p1.release(), p2.release()

    def test_set_policy_fails_a_waiter_that_no_longer_fits(self):
        lim = RateLimiter.from_policy([Limit("tokens", 100, 60)])
        first = lim.try_acquire(tokens=100)
        errors = []

        def waiter():
            try:
                lim.acquire_sync(timeout=10, tokens=80)
            except Exception as e:  # noqa: BLE001
                errors.append(e)

        t = threading.Thread(target=waiter)
        t.start()
        assert wait_until(lambda: lim.waiting == 1)
        lim.set_policy([Limit("tokens", 50, 60)])
        t.join(5)
        assert len(errors) == 1 and isinstance(errors[0], ValueError), errors
        first.release()

    def test_private_limiter_and_reset_keep_the_policy(self):
        lim = RateLimiter.from_policy(ANTHROPIC)
        assert lim.name is None and lim.policy == ANTHROPIC
        p = lim.try_acquire(input_tokens=30000)
        p.release()
        assert lim.try_acquire(input_tokens=1) is None  # the window is full
        lim.reset()
        assert lim.policy == ANTHROPIC
        assert lim.usage("input_tokens").used == 0
        q = lim.try_acquire(input_tokens=1)
        assert q is not None
        q.release()

    def test_shm_registry(self, shm_uri):
        LimiterRegistry.configure(shm_uri)
        lim = LimiterRegistry.register_policy("openai", OPENAI)
        assert LimiterRegistry.get("openai").policy == OPENAI
        with lim.acquire_sync(tokens=1000) as p:
            p.settle(tokens=400)
        assert lim.usage("tokens").used == 400
        lim.observe("tokens", 10, 30)
        assert LimiterRegistry.get("openai").usage("tokens").observed_cap == 10


# ---- amounts ----------------------------------------------------------------------------


class TestAmounts:
    async def test_async_with_permit_and_settle(self):
        lim = LimiterRegistry.register_policy("openai", OPENAI)
        estimate, used = 1200, 812
        async with lim.acquire(tokens=estimate) as permit:
            assert isinstance(permit, Permit) and not permit.released
            assert permit.amounts == {"tokens": 1200}
            assert lim.in_flight == 1
            assert lim.usage("tokens", 60.0).used == 1200
            assert lim.usage("requests", 60.0).used == 1
            permit.settle(tokens=used)
            assert lim.usage("tokens").used == 812
        assert permit.released and lim.in_flight == 0
        assert lim.usage("tokens").used == 812  # a window keeps counting after the release

    async def test_several_units(self):
        lim = RateLimiter.from_policy(ANTHROPIC)
        async with lim.acquire(input_tokens=900, output_tokens=400, requests=2) as p:
            p.settle(input_tokens=870, output_tokens=350)
        u = {x.unit: lim.usage(x.unit).used for x in ANTHROPIC}
        assert u == {"requests": 2, "input_tokens": 870, "output_tokens": 350}

    async def test_await_gives_a_permit(self):
        lim = RateLimiter.from_policy([Limit("tokens", 100), Limit("requests", 10, 60)])
        p = await lim.acquire(tokens=60)
        assert isinstance(p, Permit)
        assert lim.try_acquire(tokens=41) is None  # held tokens: 60 of 100
        q = lim.try_acquire(tokens=40)
        assert q is not None
        p.release(), q.release()
        p.release()  # again: nothing
        assert lim.usage("tokens", None).used == 0
        async with await lim.acquire(tokens=1) as r:
            assert r.amounts == {"tokens": 1}
        assert r.released

    async def test_no_amounts_as_context_manager_is_one_request(self):
        lim = RateLimiter.from_policy([Limit("requests", 5, 60)])
        async with lim.acquire() as p:
            assert isinstance(p, Permit) and p.amounts == {}
        assert lim.usage("requests").used == 1

    def test_sync(self):
        lim = RateLimiter.from_policy(OPENAI)
        with lim.acquire_sync(tokens=500) as p:
            assert lim.in_flight == 1
            p.settle(tokens=100)
        assert lim.in_flight == 0 and lim.usage("tokens").used == 100
        p = lim.acquire_sync(timeout=1, tokens=10)
        p.release()

    def test_try_acquire(self):
        lim = RateLimiter.from_policy([Limit("tokens", 100, 60)])
        p = lim.try_acquire(tokens=70)
        assert isinstance(p, Permit)
        assert lim.try_acquire(tokens=31) is None
        q = lim.try_acquire(tokens=30)
        assert q
        p.release(), q.release()
        assert lim.try_acquire(tokens=1) is None  # the window still counts them

    def test_unknown_unit_and_too_much_are_value_errors(self):
        lim = RateLimiter.from_policy(OPENAI)
        for call in (lambda: lim.try_acquire(input_tokens=5),
                     lambda: lim.acquire_sync(tokens=30001),
                     lambda: lim.try_acquire(tokens=30001)):
            with pytest.raises(ValueError):
                call()
        with pytest.raises(ValueError):
            lim.try_acquire(tokens=-1)
        with pytest.raises(TypeError):
            lim.try_acquire(tokens=1.5)
        assert lim.in_flight == 0 and lim.usage("tokens").used == 0

    async def test_async_unknown_unit_and_too_much(self):
        lim = RateLimiter.from_policy(OPENAI)
        with pytest.raises(InvalidArgumentError):
            async with lim.acquire(output_tokens=5):
                pass
        with pytest.raises(ValueError):
            await lim.acquire(tokens=30001)
        assert clean(lim)

    def test_tokens_on_a_legacy_limiter(self):
        lim = RateLimiter(max_concurrent=2, max_per_window=5)  # no tokens limit
        with pytest.raises(ValueError):
            lim.try_acquire(tokens=3)
        p = lim.try_acquire(requests=1)
        assert p and lim.in_flight == 1
        p.release()

    async def test_timeout(self):
        lim = RateLimiter.from_policy([Limit("tokens", 100, 60)])
        p = lim.try_acquire(tokens=100)
        t0 = time.monotonic()
        with pytest.raises(AcquireTimeoutError):
            async with lim.acquire(timeout=0.05, tokens=1):
                pass
        assert time.monotonic() - t0 >= 0.04
        with pytest.raises(TimeoutError):
            lim.acquire_sync(timeout=0.02, tokens=1)
        p.release()
        assert clean(lim)

    async def test_waits_until_the_window_has_room_without_polling(self):
        lim = RateLimiter.from_policy([Limit("tokens", 100, 0.2)])
        lim.try_acquire(tokens=100).release()
        t0 = time.monotonic()
        async with lim.acquire(tokens=50):
            waited = time.monotonic() - t0
        assert 0.15 <= waited < 1.0
        assert lim.stats()["total_acquired"] == 2

    def test_dropped_permit_is_released(self):
        lim = RateLimiter.from_policy([Limit("requests", 1)])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            lim.try_acquire(requests=1)  # dropped at once
        assert lim.in_flight == 0


class TestSettle:
    def make(self):
        return RateLimiter.from_policy([Limit("tokens", 100, 60), Limit("requests", 10, 60)])

    def test_down_frees_room_at_once(self):
        lim = self.make()
        p = lim.try_acquire(tokens=80)
        assert lim.try_acquire(tokens=50) is None
        p.settle(tokens=30)
        q = lim.try_acquire(tokens=70)
        assert q is not None
        assert lim.usage("tokens").used == 100
        p.release(), q.release()

    def test_up_puts_the_window_over_and_later_grants_wait(self):
        lim = self.make()
        with lim.acquire_sync(tokens=10) as p:
            p.settle(tokens=150)
        u = lim.usage("tokens")
        assert u.used == 150 and u.max == 100
        assert u.next_room is not None and u.next_room > 50
        assert lim.try_acquire(tokens=1) is None

    def test_twice_is_a_value_error(self):
        lim = self.make()
        with lim.acquire_sync(tokens=10) as p:
            p.settle(tokens=5)
            with pytest.raises(ValueError):
                p.settle(tokens=6)
        assert lim.usage("tokens").used == 5
        with pytest.raises(ValueError):
            p.settle(tokens=7)  # after the release too

    def test_each_unit_once(self):
        lim = RateLimiter.from_policy(ANTHROPIC)
        with lim.acquire_sync(input_tokens=100, output_tokens=100) as p:
            p.settle(input_tokens=90)
            p.settle(output_tokens=20)
            with pytest.raises(ValueError):
                p.settle(output_tokens=30)
        assert lim.usage("output_tokens").used == 20

    async def test_after_release(self):
        lim = self.make()
        async with lim.acquire(tokens=60) as p:
            pass
        assert p.released
        p.settle(tokens=15)  # the response came after the block
        assert lim.usage("tokens").used == 15
        q = await lim.acquire(tokens=40)
        q.release()
        q.settle(tokens=80)
        assert lim.usage("tokens").used == 95

    def test_unknown_unit(self):
        lim = self.make()
        with lim.acquire_sync(tokens=10) as p:
            with pytest.raises(ValueError):
                p.settle(output_tokens=5)
            p.settle(tokens=10)

    def test_settle_keeps_the_limiter_alive(self):
        p = RateLimiter.from_policy([Limit("tokens", 10, 60)]).try_acquire(tokens=5)
        p.release()
        p.settle(tokens=1)  # the limiter object is gone; its native limiter is not


# ---- observations ------------------------------------------------------------------------


def rfc3339(seconds_from_now):
    t = datetime.now(timezone.utc) + timedelta(seconds=seconds_from_now)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def openai_headers(remaining_requests=499, remaining_tokens=29750):
    """As api.openai.com sends them on a chat completion (order and extras included)."""
    return [
        ("date", "Tue, 09 Dec 2025 12:00:00 GMT"),
        ("content-type", "application/json"),
        ("openai-organization", "user-abc123"),
        ("openai-processing-ms", "412"),
        ("openai-version", "2020-10-01"),
        ("x-ratelimit-limit-requests", "500"),
        ("x-ratelimit-limit-tokens", "30000"),
        ("x-ratelimit-remaining-requests", str(remaining_requests)),
        ("x-ratelimit-remaining-tokens", str(remaining_tokens)),
        ("x-ratelimit-reset-requests", "6m0s"),
        ("x-ratelimit-reset-tokens", "500ms"),
        ("x-request-id", "req_5f2a"),
        ("cf-cache-status", "DYNAMIC"),
    ]


def anthropic_headers(retry_after=None):
    """As api.anthropic.com sends them on /v1/messages (a 429 adds retry-after)."""
    h = [
        ("content-type", "application/json"),
        ("request-id", "req_011CUbq"),
        ("anthropic-organization-id", "2f1c7a9e"),
        ("anthropic-ratelimit-requests-limit", "50"),
        ("anthropic-ratelimit-requests-remaining", "42"),
        ("anthropic-ratelimit-requests-reset", rfc3339(40)),
        ("anthropic-ratelimit-tokens-limit", "38000"),
        ("anthropic-ratelimit-tokens-remaining", "36000"),
        ("anthropic-ratelimit-tokens-reset", rfc3339(20)),
        ("anthropic-ratelimit-input-tokens-limit", "30000"),
        ("anthropic-ratelimit-input-tokens-remaining", "29000"),
        ("anthropic-ratelimit-input-tokens-reset", rfc3339(20)),
        ("anthropic-ratelimit-output-tokens-limit", "8000"),
        ("anthropic-ratelimit-output-tokens-remaining", "7000"),
        ("anthropic-ratelimit-output-tokens-reset", rfc3339(20)),
        ("via", "1.1 google"),
    ]
    if retry_after is not None:
        h.append(("retry-after", str(retry_after)))
    return h


class HttpxLikeHeaders:
    """httpx.Headers' shape: a Mapping whose items() joins repeated names with ", ";
    multi_items() gives each pair."""

    def __init__(self, pairs):
        self._pairs = list(pairs)

    def items(self):
        joined = {}
        for k, v in self._pairs:
            joined[k] = joined[k] + ", " + v if k in joined else v
        return joined.items()

    def multi_items(self):
        return list(self._pairs)


class TestObserve:
    def test_observe_caps_grants(self):
        lim = RateLimiter.from_policy([Limit("tokens", 1000, 60)])
        assert lim.usage("tokens").observed_cap is None
        lim.observe("tokens", 50, 30)
        lim.observe("tokens", 5000, 30)  # looser: no effect
        assert lim.usage("tokens").observed_cap == 50
        assert lim.try_acquire(tokens=51) is None
        p = lim.try_acquire(tokens=50)
        assert p is not None
        assert lim.usage("tokens").observed_cap == 0
        p.release()

    def test_observe_until_the_reset(self):
        lim = RateLimiter.from_policy([Limit("requests", 100, 60)])
        lim.observe("requests", 0, 0.15)
        t0 = time.monotonic()
        with lim.acquire_sync(requests=1):
            assert time.monotonic() - t0 >= 0.1
        assert lim.usage("requests").observed_cap is None

    def test_observe_errors(self):
        lim = RateLimiter.from_policy([Limit("tokens", 1000, 60)])
        with pytest.raises(ValueError):
            lim.observe("requests", 1, 1)  # a unit the policy lacks
        with pytest.raises(ValueError):
            lim.observe("tokens", 1, -1)
        with pytest.raises(ValueError):
            lim.observe("tokens", -1, 1)

    @pytest.mark.parametrize("form", ["pairs", "dict", "httpx", "message", "generator"])
    def test_openai_headers(self, form):
        lim = LimiterRegistry.register_policy("openai", presets.policy("openai_tier1_gpt_4o"))
        pairs = openai_headers()
        if form == "dict":
            headers = dict(pairs)
        elif form == "httpx":
            headers = HttpxLikeHeaders(pairs)
        elif form == "message":  # http.client / urllib response headers
            headers = email.message.Message()
            for k, v in pairs:
                headers[k] = v
        elif form == "generator":
            headers = ((k.upper(), v.encode()) for k, v in pairs)
        else:
            headers = pairs
        assert lim.observe_headers(headers) == 2
        assert lim.usage("requests").observed_cap == 499
        assert lim.usage("tokens").observed_cap == 29750
        p = lim.try_acquire(tokens=29750)
        assert p is not None
        assert lim.try_acquire(tokens=1) is None  # the provider said 29750 for 500 ms
        p.release()

    def test_openai_token_reset_passes(self):
        lim = RateLimiter.from_policy(presets.policy("openai_tier1_gpt_4o"))
        assert lim.observe_headers(openai_headers(remaining_tokens=0)) == 2
        t0 = time.monotonic()
        with lim.acquire_sync(timeout=5, tokens=100):
            assert time.monotonic() - t0 >= 0.4  # x-ratelimit-reset-tokens: 500ms

    def test_anthropic_headers(self):
        lim = RateLimiter.from_policy(presets.policy("anthropic_tier1_claude_sonnet_4"))
        # requests, input and output tokens; "tokens" is not in the policy: skipped.
        assert lim.observe_headers(anthropic_headers()) == 3
        assert lim.usage("requests").observed_cap == 42
        assert lim.usage("input_tokens").observed_cap == 29000
        assert lim.usage("output_tokens").observed_cap == 7000
        assert lim.try_acquire(output_tokens=7001) is None
        p = lim.try_acquire(output_tokens=7000)
        assert p is not None
        p.release()

    def test_anthropic_429_retry_after_pauses_every_sharer(self):
        lim = LimiterRegistry.register_policy("claude",
                                              presets.policy("anthropic_tier1_claude_sonnet_4"))
        assert lim.observe_headers(dict(anthropic_headers(retry_after=30))) == 4
        assert LimiterRegistry.get("claude").try_acquire() is False
        assert lim.usage("requests").next_room > 20

    def test_multi_valued_and_odd_headers(self):
        lim = RateLimiter.from_policy(OPENAI)
        pairs = [("set-cookie", "a=1"), ("set-cookie", "b=2"),
                 ("x-ratelimit-remaining-tokens", "not-a-number"),
                 ("x-ratelimit-reset-tokens", "1s"),
                 ("x-ratelimit-remaining-requests", "7"),
                 ("x-ratelimit-reset-requests", "1s"),
                 ("x-bad", "nul\0inside")]
        assert lim.observe_headers(pairs) == 1
        assert lim.observe_headers([]) == 0
        # A repeated name, as httpx keeps it: each value is its own observation (httpx's
        # items() would join them into "900, 800", which no parser takes).
        repeated = HttpxLikeHeaders([("x-ratelimit-remaining-tokens", "900"),
                                     ("x-ratelimit-reset-tokens", "1s"),
                                     ("x-ratelimit-remaining-tokens", "800")])
        assert lim.observe_headers(repeated) >= 1
        assert lim.usage("tokens").observed_cap == 800
        assert lim.observe_headers({}) == 0
        with pytest.raises(TypeError):
            lim.observe_headers("x-ratelimit-remaining-tokens: 5")
        with pytest.raises(TypeError):
            lim.observe_headers([("only-a-name",)])


class TestUsage:
    def test_fields(self):
        lim = RateLimiter.from_policy([Limit("tokens", 100, 30), Limit("requests", 1)])
        u = lim.usage("tokens", 30)
        assert isinstance(u, Usage)
        assert (u.unit, u.max, u.window, u.used, u.observed_cap, u.next_room) == (
            "tokens", 100, 30.0, 0, None, 0.0)
        p = lim.try_acquire(tokens=100)
        u = lim.usage("tokens", 30)
        assert u.used == 100 and 29 < u.next_room <= 30
        h = lim.usage("requests", None)
        assert (h.window, h.used, h.next_room) == (None, 1, None)  # only a release helps
        assert lim.usage("requests", 0) == h
        p.release()
        assert lim.usage("requests", window=None).next_room == 0.0

    def test_default_window_is_a_minute(self):
        lim = RateLimiter.from_policy(OPENAI)
        assert lim.usage("tokens").window == 60.0

    def test_missing_limit(self):
        lim = RateLimiter.from_policy([Limit("tokens", 100, 30)])
        with pytest.raises(KeyError):
            lim.usage("tokens", 60)
        with pytest.raises(LimiterNotFoundError):
            lim.usage("requests", 30)
        with pytest.raises(ValueError):
            lim.usage("tokens", -1)


# ---- provider presets -------------------------------------------------------------------


class TestPresetPolicies:
    def test_openai_tier1_gpt_4o(self):
        p = presets.policy("openai_tier1_gpt_4o")
        assert isinstance(p, PresetPolicy)
        assert p.name == "openai_tier1_gpt_4o"
        assert tuple(p) == p.limits and len(p) == 2
        assert p.limits == (Limit("requests", 500, 60), Limit("tokens", 30000, 60))
        assert "gpt-4o" in p.description
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", p.source_date)
        assert p.source.startswith("https://") and all(
            s.startswith("http") for s in p.sources)

    def test_case_insensitive_and_missing(self):
        assert presets.policy("OPENAI_TIER1_GPT_4O") == presets.policy("openai_tier1_gpt_4o")
        with pytest.raises(KeyError, match="Unknown policy"):
            presets.policy("openai_tier99_nothing")
        with pytest.raises(ValueError, match="NUL"):
            presets.policy("openai\0")

    def test_listing(self):
        all_ = presets.policies()
        names = [p.name for p in all_]
        assert len(names) == len(set(names)) >= 10
        assert "anthropic_tier1_claude_sonnet_4" in names
        for p in all_:
            assert 1 <= len(p.limits) <= 16 and p.description and p.source_date
            assert presets.policy(p.name) == p
        anthropic = presets.policy("anthropic_tier1_claude_sonnet_4")
        assert {x.unit for x in anthropic.limits} == {"requests", "input_tokens",
                                                      "output_tokens"}
        assert presets.list_policies() == {p.name: p.description for p in all_}
        assert Presets.policy("openai_tier1_gpt_4o") == presets.policy("openai_tier1_gpt_4o")
        assert Presets.policies() == all_
        # Presets of 0.1 and provider policies do not share names.
        assert not set(names) & set(Presets.CONFIGS)

    def test_every_preset_registers(self):
        for i, p in enumerate(presets.policies()):
            lim = LimiterRegistry.register_policy(f"p{i}", p)
            assert lim.policy == list(p.limits)


# ---- never over quota, with tasks and an outside observer ----------------------------------

HELD, REQS, TOKENS, HELD_TOKENS, WINDOW = 3, 14, 1000, 600, 0.3


def proven_window_sum(records, window, weight):
    """Most `weight` certainly granted inside one span of `window` seconds: grants whose
    whole acquire (call to return) lies within [s, s + window]."""
    spans = sorted((r["call"], r["granted"], weight(r)) for r in records)
    best = 0
    for i, (start, _g, _w) in enumerate(spans):
        best = max(best, sum(w for c, g, w in spans[i:] if c >= start and g <= start + window))
    return best


async def run_tasks(lim, n_tasks=60, seed=7):
    """n_tasks tasks, each asking a random estimate of tokens and settling at most that;
    records what an outside observer can prove, and the peaks of what is held."""
    rnd = random.Random(seed)
    records, state = [], {"held": 0, "peak": 0, "tokens": 0, "peak_tokens": 0}

    async def one():
        estimate = rnd.randint(1, 300)
        actual = rnd.randint(0, estimate)
        call = time.monotonic()
        async with lim.acquire(tokens=estimate) as permit:
            granted = time.monotonic()
            state["held"] += 1
            state["tokens"] += estimate
            state["peak"] = max(state["peak"], state["held"])
            state["peak_tokens"] = max(state["peak_tokens"], state["tokens"])
            await asyncio.sleep(rnd.uniform(0, 0.01))
            state["tokens"] -= estimate - actual  # the observer lets go first
            permit.settle(tokens=actual)
            state["held"] -= 1
            state["tokens"] -= actual
            released = time.monotonic()
        records.append({"call": call, "granted": granted, "released": released,
                        "tokens": actual})

    await asyncio.gather(*(one() for _ in range(n_tasks)))
    return records, state


def judge(records, state):
    assert state["peak"] <= HELD, state
    assert state["peak_tokens"] <= HELD_TOKENS, state
    assert proven_peak_concurrency(
        [(r["call"], r["granted"], r["released"]) for r in records]) <= HELD
    assert proven_window_sum(records, WINDOW, lambda r: 1) <= REQS
    assert proven_window_sum(records, WINDOW, lambda r: r["tokens"]) <= TOKENS


POLICY = [Limit("requests", HELD), Limit("requests", REQS, WINDOW),
          Limit("tokens", TOKENS, WINDOW), Limit("tokens", HELD_TOKENS)]


async def test_tasks_never_exceed_any_limit():
    lim = LimiterRegistry.register_policy("quota", POLICY)
    records, state = await run_tasks(lim)
    assert len(records) == 60
    judge(records, state)
    assert clean(lim)
    assert lim.usage("tokens", None).used == 0


async def test_the_judge_has_teeth():
    """The same run on a limiter twice as loose must fail the same checks."""
    loose = [Limit(x.unit, x.max * 2, x.window) for x in POLICY]
    lim = RateLimiter.from_policy(loose)
    records, state = await run_tasks(lim)
    with pytest.raises(AssertionError):
        judge(records, state)


def test_threads_and_loops_share_one_policy():
    LimiterRegistry.register_policy("quota", POLICY)
    results, errors = [], []

    def loop_thread(seed):
        try:
            results.append(asyncio.run(run_tasks(LimiterRegistry.get("quota"), 20, seed)))
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=loop_thread, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    records = [r for rs, _s in results for r in rs]
    assert len(records) == 60
    judge(records, {"peak": 0, "peak_tokens": 0})  # per-loop peaks say nothing together
    assert proven_peak_concurrency(
        [(r["call"], r["granted"], r["released"]) for r in records]) <= HELD


async def test_cancelled_waiters_leave_nothing():
    lim = RateLimiter.from_policy([Limit("tokens", 100, 60), Limit("requests", 50)])
    first = await lim.acquire(tokens=100)
    tasks = [asyncio.create_task(lim.acquire(tokens=10)) for _ in range(10)]
    entered = []

    async def in_block():
        async with lim.acquire(tokens=10) as p:
            entered.append(p)

    tasks.append(asyncio.create_task(in_block()))
    await asyncio.sleep(0.02)
    assert lim.waiting == 11
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    first.release()
    assert clean(lim)
    assert not entered
    assert lim.stats()["total_cancelled"] == 11
    assert lim.usage("tokens").used == 100
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(lim.acquire(tokens=1), 0.02)
    assert clean(lim)


async def test_cancel_races_with_the_grant():
    lim = RateLimiter.from_policy([Limit("tokens", 10)])  # held tokens
    for i in range(100):
        p = await lim.acquire(tokens=10)
        waiter = asyncio.create_task(lim.acquire(tokens=10))
        await asyncio.sleep(0)
        p.release()  # grants the waiter
        if i % 2:
            await asyncio.sleep(0)
        waiter.cancel()
        try:
            (await waiter).release()
        except asyncio.CancelledError:
            pass
        assert clean(lim), lim.stats()
        assert lim.usage("tokens", None).used == 0


# ---- the drop-in API is untouched ----------------------------------------------------------


class TestDropInUntouched:
    async def test_acquire_is_still_the_original_coroutine(self):
        lim = RateLimiter(max_concurrent=3, max_per_window=10)
        assert await lim.acquire() is None
        assert lim.in_flight == 1
        lim.release()
        assert asyncio.iscoroutine(lim.acquire(timeout=1))  # what create_task requires
        task = asyncio.create_task(lim.acquire())
        assert await task is None
        assert await asyncio.wait_for(lim.acquire(), 1) is None
        await asyncio.gather(lim.acquire(0.5))
        assert lim.in_flight == 3  # task, wait_for, gather: none released yet
        lim.release(), lim.release(), lim.release()
        assert lim.in_flight == 0

    async def test_acquire_timeout_positional(self):
        lim = RateLimiter(max_concurrent=1)
        await lim.acquire()
        with pytest.raises(AcquireTimeoutError):
            await lim.acquire(0.02)
        lim.release()
        assert clean(lim)

    def test_sync_and_try_return_what_they_did(self):
        lim = RateLimiter(max_concurrent=1)
        assert lim.acquire_sync() is None
        assert lim.try_acquire() is False
        lim.release()
        assert lim.try_acquire() is True
        lim.release()
        with lim:
            assert lim.in_flight == 1
        with pytest.raises(RuntimeError, match="without a matching acquire"):
            lim.release()

    async def test_async_with_limiter(self):
        lim = RateLimiter(max_concurrent=1, max_per_window=5, window_seconds=1.0)
        async with lim as same:
            assert same is lim and lim.in_flight == 1
        assert lim.current_window_count == 1
        assert repr(lim) == "RateLimiter(max_concurrent=1, max_per_window=5, window_seconds=1.0)"

    def test_original_names_and_signatures(self):
        for name in ("RateLimiter", "LimiterRegistry", "ThrottledParallelBatchNode",
                     "AdaptiveThrottledNode", "ThrottledAsyncParallelBatchFlow",
                     "AdaptiveThrottledBatchFlow", "Presets", "FlowPresets",
                     "RateLimitConfig", "FlowRateLimitConfig", "RateLimitHit"):
            assert name in pt.__all__ and hasattr(pt, name)
        sig = inspect.signature(RateLimiter.__init__)
        assert list(sig.parameters) == ["self", "max_concurrent", "max_per_window",
                                        "window_seconds"]
        sig = inspect.signature(LimiterRegistry.register)
        assert list(sig.parameters) == ["name", "max_concurrent", "max_per_window",
                                        "window_seconds", "replace"]
        assert list(inspect.signature(RateLimiter.acquire).parameters)[:2] == ["self",
                                                                                "timeout"]
        assert Presets.get("openai_tier1") == {"max_concurrent": 5, "max_per_minute": 60}
        assert "openai_tier1_gpt_4o" not in Presets.list_presets()
