# SPDX-License-Identifier: MIT
"""Policies (native ABI 0.2): several limits admitted together, amounts, settle, observations.

A policy is a list of limits, each counting one unit (requests, tokens, input_tokens,
output_tokens, ...) in a sliding window, or held at once (window None):

    from pocketflow_throttled import Limit, LimiterRegistry

    openai = LimiterRegistry.register_policy(
        "openai", [Limit("requests", 500, 60), Limit("tokens", 30000, 60)])

    async with openai.acquire(tokens=estimate) as permit:   # waits for room in every limit
        response = await client.chat.completions.create(...)
        permit.settle(tokens=response.usage.total_tokens)    # what it really used
        openai.observe_headers(response.headers)             # what the provider says is left

A grant takes room in every limit or waits, holding nothing. "requests" counts 1 unless
given; other units left out count 0. A unit the policy lacks, or an amount above a limit's
max, is a ValueError.
"""

from __future__ import annotations

import ctypes
import math
import operator
import warnings
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional, Tuple

from . import _native as N

__all__ = ["Limit", "Usage", "Permit"]


def _seconds_to_ns(seconds: float, what: str) -> int:
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"{what} must be a number of seconds, not {type(seconds).__name__}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{what} must be finite and >= 0 seconds, not {seconds!r}")
    return min(round(seconds * 1e9), 2**63 - 1)


def _count(value: Any, what: str) -> int:
    """A non-negative integer that fits uint64 (bool and float are refused)."""
    if isinstance(value, bool):
        raise TypeError(f"{what} must be an int, not bool")
    try:
        v = operator.index(value)
    except TypeError:
        raise TypeError(f"{what} must be an int, not {type(value).__name__}") from None
    if v < 0 or v > N.UINT64_MAX:
        raise ValueError(f"{what} must be in 0..2**64-1, not {v}")
    return v


@dataclass(frozen=True)
class Limit:
    """At most `max` units of `unit` granted in any `window` seconds (a strict sliding
    window), or, with window None (or 0), at most `max` units held at once.

        Limit("requests", 500, 60)        # 500 requests per minute
        Limit("tokens", 30000, 60.0)      # 30,000 tokens per minute
        Limit("requests", 10)             # 10 requests at once (a concurrency limit)

    The unit is 1..32 characters of [a-z0-9_]; the library checks it when the policy is
    used (ValueError naming the bad limit)."""

    unit: str
    max: int
    window: Optional[float] = None

    def __post_init__(self):
        if not isinstance(self.unit, str):
            raise TypeError(f"Limit unit must be a str, not {type(self.unit).__name__}")
        m = _count(self.max, f"Limit {self.unit!r} max")
        if m < 1:
            raise ValueError(f"Limit {self.unit!r} max must be at least 1")
        object.__setattr__(self, "max", m)
        w = self.window
        if w is not None:
            if _seconds_to_ns(w, f"Limit {self.unit!r} window") == 0:
                w = None  # 0: held
            else:
                w = float(w)
        object.__setattr__(self, "window", w)

    @property
    def held(self) -> bool:
        """True for a concurrency limit (units held at once), False for a window."""
        return self.window is None

    @property
    def window_ns(self) -> int:
        """The window in nanoseconds, as the C ABI has it (0: held)."""
        return 0 if self.window is None else _seconds_to_ns(self.window, "window")

    @classmethod
    def _from_native(cls, lim: N.Limit) -> "Limit":
        return cls(lim.unit.decode("utf-8"), lim.max,
                   lim.window_ns / 1e9 if lim.window_ns else None)


@dataclass(frozen=True)
class Usage:
    """The state of one limit (RateLimiter.usage()).

    used: units granted in the window now (held now, for a held limit); observed_cap: what
    the provider's latest observation says is left (None when none is in force);
    next_room: seconds until one more unit fits (0.0: fits now; None: only a release can
    make room)."""

    unit: str
    max: int
    window: Optional[float]
    used: int
    observed_cap: Optional[int]
    next_room: Optional[float]


def _as_limit(item: Any) -> Limit:
    if isinstance(item, Limit):
        return item
    if isinstance(item, (tuple, list)) and len(item) in (2, 3):
        return Limit(*item)
    raise TypeError(
        f"a policy is a list of Limit (or (unit, max[, window]) tuples), not {item!r}"
    )


def as_limits(policy: Any) -> Tuple[Limit, ...]:
    """A policy given as Limits, (unit, max[, window]) tuples, a single Limit, or a
    PresetPolicy (anything with .limits)."""
    if isinstance(policy, Limit):
        return (policy,)
    if isinstance(policy, (str, bytes, Mapping)):
        raise TypeError(f"a policy is a list of Limit, not {type(policy).__name__}")
    limits = getattr(policy, "limits", policy)
    try:
        items = list(limits)
    except TypeError:
        raise TypeError(f"a policy is a list of Limit, not {type(policy).__name__}") from None
    return tuple(_as_limit(i) for i in items)


class _NativePolicy:
    """A ptl_policy and the buffers it points to (kept alive as long as this object)."""

    __slots__ = ("policy", "_array", "_units")

    def __init__(self, policy: Any):
        N.require_policies()
        limits = as_limits(policy)
        self._units = [N.encode_name(lim.unit, "unit") for lim in limits]
        self._array = (N.Limit * max(1, len(limits)))()
        for i, lim in enumerate(limits):
            self._array[i] = N.Limit(self._units[i], lim.max, lim.window_ns)
        self.policy = N.Policy()
        N.lib.ptl_policy_init(ctypes.byref(self.policy))
        self.policy.n_limits = len(limits)
        self.policy.limits = self._array

    @property
    def ref(self):
        return ctypes.byref(self.policy)


class _NativeAmounts:
    """ptl_amount[] from {unit: amount} (the unit strings are kept alive here)."""

    __slots__ = ("array", "n", "_units")

    def __init__(self, amounts: Mapping[str, Any]):
        N.require_policies()
        self.n = len(amounts)
        self._units = []
        self.array = (N.Amount * max(1, self.n))()
        for i, (unit, amount) in enumerate(amounts.items()):
            b = N.encode_name(unit, "unit")
            self._units.append(b)
            self.array[i] = N.Amount(b, _count(amount, f"amount of {unit!r}"))


def read_policy(ptr: int) -> list:
    """The limits of native limiter ptr, in policy order."""
    N.require_policies()
    cap = N.MAX_LIMITS
    while True:
        out = (N.Limit * cap)()
        n = ctypes.c_size_t()
        N.check(N.lib.ptl_limiter_get_policy(ptr, out, cap, ctypes.byref(n)))
        if n.value <= cap:
            return [Limit._from_native(out[i]) for i in range(n.value)]
        cap = n.value  # grew meanwhile (a live set_policy): ask again


def read_usage(ptr: int, unit: str, window: Optional[float]) -> Usage:
    N.require_policies()
    window_ns = 0 if window is None else _seconds_to_ns(window, "window")
    u = N.Usage()
    u.struct_size = ctypes.sizeof(N.Usage)
    N.check(N.lib.ptl_limiter_usage(ptr, N.encode_name(unit, "unit"), window_ns,
                                    ctypes.byref(u)))
    return Usage(
        unit=unit,
        max=u.max,
        window=u.window_ns / 1e9 if u.window_ns else None,
        used=u.used,
        observed_cap=None if u.observed_cap == N.UINT64_MAX else u.observed_cap,
        next_room=None if u.next_room_ns < 0 else u.next_room_ns / 1e9,
    )


def observe(ptr: int, unit: str, remaining: int, reset_after: float) -> None:
    N.require_policies()
    N.check(N.lib.ptl_observe(ptr, N.encode_name(unit, "unit"),
                              _count(remaining, "remaining"),
                              _seconds_to_ns(reset_after, "reset_after")))


def _text(v: Any) -> Optional[bytes]:
    if isinstance(v, (bytes, bytearray)):
        b = bytes(v)
    elif isinstance(v, str):
        b = v.encode("utf-8", "replace")
    else:
        b = str(v).encode("utf-8", "replace")
    return None if b"\0" in b else b  # C would see the string end there


def header_pairs(headers: Any) -> list:
    """(name, value) byte pairs from a Mapping, a multi-dict (httpx.Headers: every pair
    through multi_items(); aiohttp's CIMultiDict and http.client's HTTPMessage: items()
    yields every pair), or an iterable of (name, value) pairs."""
    if hasattr(headers, "multi_items"):  # httpx: items() joins repeated names with ", "
        items = headers.multi_items()
    elif hasattr(headers, "items"):
        items = headers.items()
    elif isinstance(headers, (str, bytes)):
        raise TypeError("headers must be a mapping or an iterable of (name, value) pairs")
    else:
        items = headers
    pairs = []
    for item in items:
        try:
            name, value = item
        except (TypeError, ValueError):
            raise TypeError(
                f"headers must be a mapping or an iterable of (name, value) pairs, got {item!r}"
            ) from None
        bn, bv = _text(name), _text(value)
        if bn is not None and bv is not None:
            pairs.append((bn, bv))
    return pairs


def observe_headers(ptr: int, headers: Any) -> int:
    N.require_policies()
    pairs = header_pairs(headers)
    n = len(pairs)
    names = (ctypes.c_char_p * max(1, n))(*(p[0] for p in pairs))
    values = (ctypes.c_char_p * max(1, n))(*(p[1] for p in pairs))
    return N.check(N.lib.ptl_observe_headers(ptr, n, names, values))


class Permit:
    """A permit of a policy limiter, with the amounts it was granted.

    Use it as a context manager (`with` / `async with`: released at the end), or call
    release(). settle(**actual) gives the real usage once known, before or after the
    release; each unit can be settled once. A permit dropped without a release is
    released when it is collected."""

    __slots__ = ("_handle", "_id", "_amounts", "_released", "__weakref__")

    def __init__(self, handle, permit_id: int, amounts: Mapping[str, int]):
        self._handle = handle  # keeps the native limiter alive for settle after release
        self._id = permit_id
        self._amounts = dict(amounts)
        self._released = False

    @property
    def id(self) -> int:
        """The native permit handle (never 0)."""
        return self._id

    @property
    def amounts(self) -> dict:
        """The amounts asked for ({} for none: "requests" then counted 1)."""
        return dict(self._amounts)

    @property
    def released(self) -> bool:
        return self._released

    def settle(self, **actual: int) -> None:
        """The real usage, known after the call (settle(tokens=812), or
        settle(input_tokens=..., output_tokens=...)): replaces the estimate in every limit
        of those units. More than estimated is allowed (later grants wait); less frees
        room at once. Once per unit, before or after the release; ValueError otherwise
        (also for a unit the policy lacks)."""
        a = _NativeAmounts(actual)
        N.check(N.lib.ptl_settle(self._handle.ptr, self._id, a.array, a.n))

    def release(self) -> None:
        """Returns the permit; calling it again does nothing."""
        if self._released:
            return
        self._released = True
        rc = N.lib.ptl_release(self._handle.ptr, self._id)
        if rc:
            raise N.error(rc)

    def __enter__(self) -> "Permit":
        return self

    def __exit__(self, exc_type, exc_val, exc_tb) -> None:
        self.release()

    async def __aenter__(self) -> "Permit":
        return self

    async def __aexit__(self, exc_type, exc_val, exc_tb) -> None:
        self.release()

    def __del__(self):
        try:
            if not self._released and self._handle.ptr and N is not None and N.lib is not None:
                self._released = True
                warnings.warn(f"{self!r} was never released; releasing it now",
                              ResourceWarning, stacklevel=1)
                N.lib.ptl_release(self._handle.ptr, self._id)
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    def __repr__(self) -> str:
        amounts = ", ".join(f"{k}={v}" for k, v in self._amounts.items())
        state = "released" if self._released else "held"
        return f"<Permit {self._id} ({amounts or 'requests=1'}) {state}>"
