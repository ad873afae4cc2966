# SPDX-License-Identifier: MIT
"""RateLimiter: the original library's class, backed by a native limiter.

Two limits are enforced together: at most `max_concurrent` permits held at once, and at
most `max_per_window` grants in any interval of `window_seconds` (a strict sliding window).
A RateLimiter made with the constructor is private to this process; one obtained from
LimiterRegistry is shared by every user of that name (threads, event loops, and with
shm:// or redis:// other processes and hosts).
"""

from __future__ import annotations

import collections
import collections.abc
import ctypes
import inspect
import threading
from typing import TYPE_CHECKING, Any, Mapping, Optional, TypeVar

from . import _native as N
from . import policies as _pol
from ._waiting import acquire_amounts_async, acquire_async
from .policies import Permit, Usage

_T = TypeVar("_T", bound="_PyCore")
_u64, _byref = ctypes.c_uint64, ctypes.byref
_try_acquire, _release = N.raw_try_acquire, N.raw_release  # ctypes objects only


class _Handle:
    """One reference to a native ptl_limiter; dropped when the object is collected."""

    __slots__ = ("ptr", "__weakref__")

    def __init__(self, ptr: int):
        self.ptr = ptr

    def __del__(self):
        ptr, self.ptr = self.ptr, None
        if ptr and N is not None and N.lib is not None:
            N.lib.ptl_limiter_unref(ptr)


class _PyCore:
    """RateLimiter's hot path in Python over ctypes: the fallback of _speedups.Core (the C
    extension, ADR 0020), used when it was not built or PTL_PY_PURE=1. Both hold the
    native limiter (_handle) and the permits taken through the object, and give the same
    methods, results and exceptions."""

    _held: "collections.deque[ctypes.c_uint64]"
    _handle: _Handle
    _cptr: ctypes.c_void_p

    if TYPE_CHECKING:  # RateLimiter's

        def _try_acquire_amounts(self, **amounts: int) -> Optional[Permit]: ...

        async def _aenter_wait(self: _T) -> _T: ...

        def acquire_sync(self, timeout: Optional[float] = None,
                         **amounts: int) -> Optional[Permit]: ...

    def __new__(cls, *args, **kwargs):
        self = super().__new__(cls)
        self._held = collections.deque()  # c_uint64 permits held, last on top
        return self

    def _set_handle(self, handle: _Handle) -> None:
        self._handle = handle
        self._cptr = ctypes.c_void_p(handle.ptr)

    def _push(self, permit: int) -> None:
        self._held.append(_u64(permit))

    def _n_held(self) -> int:
        return len(self._held)

    def try_acquire(self, **amounts: int):
        """Takes a permit only if one is free now and nobody is queued; never waits.

        Without amounts: True (release() gives it back) or False, as the original's. With
        amounts (units as keywords): a Permit, or None when there is no room now."""
        if amounts:  # RateLimiter's
            return self._try_acquire_amounts(**amounts)
        permit = _u64()
        rc = _try_acquire(self._cptr, _byref(permit), None)
        if rc == N.EAGAIN:
            return False
        N.check(rc)
        self._held.append(permit)
        return True

    def release(self) -> None:
        """Returns one permit taken by acquire(), acquire_sync() or try_acquire()."""
        try:
            permit = self._held.pop()
        except IndexError:
            raise RuntimeError("release() without a matching acquire() on this limiter") from None
        N.check(_release(self._cptr, permit))

    async def __aenter__(self: _T) -> _T:
        permit = _u64()  # the uncontended path, inlined: one native call
        if _try_acquire(self._cptr, _byref(permit), None) == 0:
            self._held.append(permit)
            return self
        return await self._aenter_wait()

    async def __aexit__(self, exc_type, exc_val, exc_tb) -> None:
        rc = _release(self._cptr, self._held.pop())
        if rc:
            raise N.error(rc)

    def __enter__(self: _T) -> _T:
        self.acquire_sync()
        return self

    def __exit__(self, exc_type, exc_val, exc_tb) -> None:
        self.release()


if TYPE_CHECKING:  # type checkers read the Python one
    _Core = _PyCore
elif N.speedups is None:
    _Core = _PyCore
else:
    _Core = N.speedups.Core


class RateLimiter(_Core):
    """Concurrency (at most max_concurrent at once) plus throughput (at most max_per_window
    grants per window_seconds, sliding), shared by every thread and event loop that uses it.

    Example:
        limiter = RateLimiter(max_concurrent=5, max_per_window=60)

        async def call():
            async with limiter:           # waits without blocking the event loop
                return await api.call()

        with limiter:                     # from a plain thread: blocks that thread
            api.call_sync()
    """

    def __init__(
        self,
        max_concurrent: int = 5,
        max_per_window: Optional[int] = None,
        window_seconds: float = 60.0,
    ):
        cfg = N.make_config(max_concurrent, max_per_window, window_seconds)
        out = ctypes.c_void_p()
        N.check(N.lib.ptl_limiter_create(ctypes.byref(cfg), ctypes.byref(out)))
        self._init(_Handle(N.pointer(out)), None)

    def _init(self, handle: _Handle, name: Optional[str]) -> None:
        self._set_handle(handle)
        self._name = name
        self._has_policy = False  # made by from_policy() or set_policy(): reset() keeps it

    @classmethod
    def _from_handle(cls, handle: _Handle, name: Optional[str]) -> "RateLimiter":
        self = cls.__new__(cls)
        self._init(handle, name)
        return self

    # ---- configuration and state -----------------------------------------------------

    def _stats(self) -> N.LimiterStats:
        st = N.new_stats()
        N.check(N.lib.ptl_limiter_stats_get(self._handle.ptr, ctypes.byref(st)))
        return st

    @property
    def name(self) -> Optional[str]:
        """The registry name, or None for a private limiter."""
        return self._name

    @property
    def max_concurrent(self) -> int:
        """Maximum simultaneous operations allowed."""
        return self._stats().config.max_concurrent

    @property
    def max_per_window(self) -> Optional[int]:
        """Maximum operations per time window (None = unlimited)."""
        return self._stats().config.max_per_window or None

    @property
    def window_seconds(self) -> float:
        """Time window duration in seconds."""
        return self._stats().config.window_seconds

    # The original's private attributes, read by code written against it.
    _max_concurrent = max_concurrent
    _max_per_window = max_per_window
    _window_seconds = window_seconds

    @property
    def current_window_count(self) -> int:
        """Number of grants in the current sliding window (exact, all sharers)."""
        return self._stats().current_window_count

    @property
    def in_flight(self) -> int:
        """Permits held right now, by every sharer."""
        return self._stats().in_flight

    @property
    def waiting(self) -> int:
        """Acquires waiting right now, by every sharer."""
        return self._stats().waiting

    def stats(self) -> dict:
        """The native statistics: limits, in_flight, waiting, window count, totals."""
        d = N.stats_dict(self._stats())
        d["name"] = self._name
        return d

    def reconfigure(
        self,
        max_concurrent: Optional[int] = None,
        max_per_window: Optional[int] = -1,
        window_seconds: Optional[float] = None,
    ) -> None:
        """Changes the limits in place (arguments left out keep their value; pass
        max_per_window=None to remove the throughput limit). Permits in flight and the
        window's history still count; waiters are re-examined at once."""
        cur = self._stats().config
        cfg = N.make_config(
            cur.max_concurrent if max_concurrent is None else max_concurrent,
            (cur.max_per_window or None) if max_per_window == -1 else max_per_window,
            cur.window_seconds if window_seconds is None else window_seconds,
            cur.max_cost_per_window or None,
        )
        N.check(N.lib.ptl_limiter_reconfigure(self._handle.ptr, ctypes.byref(cfg)))

    def penalize(self, retry_after: float) -> None:
        """An upstream said "retry after": no permit is granted to anyone sharing this
        limiter for retry_after seconds from now. Permits in flight are unaffected."""
        N.check(N.lib.ptl_limiter_penalize(self._handle.ptr, N.to_ns(retry_after)))

    # ---- policies (native ABI 0.2) -----------------------------------------------------

    @classmethod
    def from_policy(cls, policy) -> "RateLimiter":
        """A private limiter of a policy (a list of Limit, or a PresetPolicy):

            limiter = RateLimiter.from_policy([Limit("requests", 500, 60),
                                               Limit("tokens", 30000, 60)])
        """
        p = _pol._NativePolicy(policy)
        out = ctypes.c_void_p()
        N.check(N.lib.ptl_limiter_create_policy(p.ref, ctypes.byref(out)))
        self = cls._from_handle(_Handle(N.pointer(out)), None)
        self._has_policy = True
        return self

    @property
    def policy(self) -> list:
        """The limiter's limits, as a list of Limit (a limiter made from max_concurrent,
        max_per_window, window_seconds has requests held, requests per window, and tokens
        per window if it has a cost limit)."""
        return _pol.read_policy(self._handle.ptr)

    def set_policy(self, policy) -> None:
        """Changes the limits live: a limit that stays (same unit and window, or the one
        window of its unit with a new length) keeps its history and what is held; a waiter
        that can no longer fit a limit's max fails with ValueError."""
        p = _pol._NativePolicy(policy)
        N.check(N.lib.ptl_limiter_set_policy(self._handle.ptr, p.ref))
        self._has_policy = True

    def observe(self, unit: str, remaining: int, reset_after: float) -> None:
        """The provider's own count: at most `remaining` more units of `unit` until
        `reset_after` seconds from now (for usage this limiter cannot see: other users of
        the key). It only tightens, never loosens; every sharer sees it. ValueError for a
        unit the policy lacks."""
        _pol.observe(self._handle.ptr, unit, remaining, reset_after)

    def observe_headers(self, headers: Any) -> int:
        """Applies a response's rate-limit headers: OpenAI x-ratelimit-remaining-* and
        x-ratelimit-reset-*, Anthropic anthropic-ratelimit-*-remaining/-reset, and
        Retry-After (which pauses the limiter for every sharer, as penalize()). `headers`
        is any Mapping or multi-dict (requests, httpx, aiohttp, http.client headers) or an
        iterable of (name, value) pairs (give each value of a repeated header as its own
        pair). Unknown headers, units the policy lacks and malformed values are skipped.
        Returns the number of observations applied (Retry-After counts one)."""
        return _pol.observe_headers(self._handle.ptr, headers)

    def usage(self, unit: str, window: Optional[float] = 60.0) -> Usage:
        """The state of the limit (unit, window seconds; None for a held limit): max,
        used, observed_cap (None when no observation is in force), next_room (seconds
        until one more unit fits; 0.0 now; None when only a release can make room).
        KeyError (LimiterNotFoundError) if the policy has no such limit."""
        return _pol.read_usage(self._handle.ptr, unit, window)

    # ---- acquiring -------------------------------------------------------------------

    def acquire(self, timeout: Optional[float] = None, **amounts: int) -> "_Acquire":
        """Waits (without blocking the event loop) until every limit allows one more call.

        `await limiter.acquire()` takes a permit that release() gives back, as the
        original library's. With amounts (units of the limiter's policy as keywords) it
        gives a Permit, to settle and release:

            async with limiter.acquire(tokens=estimate) as permit:
                ...
                permit.settle(tokens=used)

            permit = await limiter.acquire(input_tokens=900, output_tokens=400)
            ...; permit.release()

        `async with limiter.acquire()` (no amounts) works too: a Permit of one request.
        Raises asyncio.CancelledError if the waiting task is cancelled (nothing is held
        then), AcquireTimeoutError (a TimeoutError) if `timeout` seconds pass first, and
        ValueError for a unit the policy lacks or an amount above a limit's max.
        """
        return _Acquire(self, timeout, amounts)

    if hasattr(inspect, "markcoroutinefunction"):  # 3.12+: still a coroutine function
        acquire = inspect.markcoroutinefunction(acquire)

    async def _acquire_legacy(self, timeout: Optional[float]) -> None:
        self._push(await acquire_async(self._handle, 1, timeout))

    async def _acquire_permit(self, timeout: Optional[float], amounts: Mapping[str, int]) -> Permit:
        a = _pol._NativeAmounts(amounts)
        handle = self._handle
        permit = await acquire_amounts_async(handle, a.array, a.n, timeout)
        return Permit(handle, permit, amounts)

    def acquire_sync(self, timeout: Optional[float] = None, **amounts: int) -> Optional[Permit]:
        """Like acquire(), for plain threads: blocks the calling thread (not the GIL).

        Without amounts, release() gives the permit back (the original's API). With amounts
        (units as keywords) it returns a Permit, also a context manager:

            with limiter.acquire_sync(tokens=estimate) as permit:
                ...
                permit.settle(tokens=used)
        """
        if amounts:
            a = _pol._NativeAmounts(amounts)
            handle, permit = self._handle, ctypes.c_uint64()
            N.check(N.lib.ptl_acquire_amounts(handle.ptr, a.array, a.n, N.to_ns(timeout),
                                              ctypes.byref(permit)))
            return Permit(handle, permit.value, amounts)
        permit = ctypes.c_uint64()
        N.check(N.lib.ptl_acquire(self._handle.ptr, N.to_ns(timeout), ctypes.byref(permit)))
        self._push(permit.value)
        return None

    def _try_acquire_amounts(self, **amounts: int) -> Optional[Permit]:
        """try_acquire() with amounts (the base class handles the plain call)."""
        if not amounts:
            return self.try_acquire()
        a = _pol._NativeAmounts(amounts)
        handle, permit = self._handle, ctypes.c_uint64()
        rc = N.lib.ptl_try_acquire_amounts(handle.ptr, a.array, a.n, ctypes.byref(permit), None)
        if rc == N.EAGAIN:
            return None
        N.check(rc)
        return Permit(handle, permit.value, amounts)

    async def _aenter_wait(self: _T) -> _T:
        """`async with` once ptl_try_acquire said no: queue and wait (_waiting.py)."""
        self._push(await acquire_async(self._handle, 1, None, tried=True))
        return self

    _reset_lock = threading.Lock()

    def reset(self) -> None:
        """Clears the sliding window's history, as the original did, for a private limiter
        that nobody holds or waits on (a fresh native limiter replaces it). A shared
        (registry) limiter, or one in use, refuses: its history is what keeps every sharer
        under quota (RuntimeError)."""
        with self._reset_lock:
            if self._name is not None:
                raise RuntimeError(
                    f"reset() of shared limiter {self._name!r} would let its sharers over "
                    "quota; remove and register it again instead"
                )
            st = self._stats()
            if st.in_flight or st.waiting or self._n_held():
                raise RuntimeError("reset() of a limiter in use: release its permits first")
            out = ctypes.c_void_p()
            if self._has_policy:  # the policy as it is now, from scratch
                p = _pol._NativePolicy(self.policy)
                N.check(N.lib.ptl_limiter_create_policy(p.ref, ctypes.byref(out)))
            else:
                c = st.config
                cfg = N.make_config(c.max_concurrent, c.max_per_window or None,
                                    c.window_seconds, c.max_cost_per_window or None)
                N.check(N.lib.ptl_limiter_create(ctypes.byref(cfg), ctypes.byref(out)))
            self._set_handle(_Handle(N.pointer(out)))

    def __repr__(self) -> str:
        cfg = self._stats().config
        return (
            f"RateLimiter(max_concurrent={cfg.max_concurrent}, "
            f"max_per_window={cfg.max_per_window or None}, "
            f"window_seconds={cfg.window_seconds})"
        )


if not TYPE_CHECKING and N.speedups is not None:
    _speedups = N.speedups
    _speedups.init(
        try_acquire=ctypes.cast(N.lib.ptl_try_acquire, ctypes.c_void_p).value,
        release=ctypes.cast(N.lib.ptl_release, ctypes.c_void_p).value,
        acquire=ctypes.cast(N.lib.ptl_acquire, ctypes.c_void_p).value,
        eagain=N.EAGAIN,
        error=N.error,
        limiter_class=RateLimiter,
    )
    # asyncio.create_task(limiter.__aenter__()) keeps working (Step has send/throw/close).
    collections.abc.Coroutine.register(_speedups.Step)


class _Acquire(collections.abc.Coroutine):
    """What RateLimiter.acquire() returns: a coroutine (await it, or hand it to
    asyncio.create_task / wait_for / gather, as the original's coroutine) and an async
    context manager giving a Permit. Nothing happens until it is awaited or entered."""

    __slots__ = ("_limiter", "_timeout", "_amounts", "_coro", "_permit")

    def __init__(self, limiter: RateLimiter, timeout: Optional[float], amounts: dict):
        self._limiter = limiter
        self._timeout = timeout
        self._amounts = amounts
        self._coro = None
        self._permit: Optional[Permit] = None

    def _start(self):
        if self._coro is None:
            if self._amounts:  # a Permit
                self._coro = self._limiter._acquire_permit(self._timeout, self._amounts)
            else:  # the original's: into the limiter's held permits, returns None
                self._coro = self._limiter._acquire_legacy(self._timeout)
        return self._coro

    def __await__(self):
        return self._start().__await__()

    def send(self, value):
        return self._start().send(value)

    def throw(self, *args):
        return self._start().throw(*args)

    def close(self):
        if self._coro is not None:
            self._coro.close()

    async def __aenter__(self) -> Permit:
        if self._coro is not None or self._permit is not None:
            raise RuntimeError("this acquire() was awaited or entered already")
        self._permit = await self._limiter._acquire_permit(self._timeout, self._amounts)
        return self._permit

    async def __aexit__(self, exc_type, exc_val, exc_tb) -> None:
        permit, self._permit = self._permit, None
        if permit is not None:
            permit.release()

    def __repr__(self) -> str:
        amounts = ", ".join(f"{k}={v}" for k, v in self._amounts.items())
        return f"<RateLimiter.acquire({amounts})>"
