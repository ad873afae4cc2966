"""RateLimiter: the original library's class, backed by a native limiter.

Two limits are enforced together: at most `max_concurrent` permits held at once, and at
most `max_per_window` grants in any interval of `window_seconds` (a strict sliding window).
A RateLimiter made with the constructor is private to this process; one obtained from
LimiterRegistry is shared by every user of that name (threads, event loops, and with
shm:// or redis:// other processes and hosts).
"""

from __future__ import annotations

import collections
import ctypes
import threading
from typing import Optional

from . import _native as N
from ._waiting import acquire_async

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


class RateLimiter:
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
        self._init(_Handle(out.value), None)

    def _init(self, handle: _Handle, name: Optional[str]) -> None:
        self._handle = handle
        self._cptr = ctypes.c_void_p(handle.ptr)
        self._name = name
        self._held: collections.deque = collections.deque()  # c_uint64 permits held

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

    # ---- acquiring -------------------------------------------------------------------

    async def acquire(self, timeout: Optional[float] = None) -> None:
        """Waits (without blocking the event loop) until both limits allow one more call.

        Raises asyncio.CancelledError if the waiting task is cancelled (nothing is held
        then) and AcquireTimeoutError (a TimeoutError) if `timeout` seconds pass first.
        Pair every acquire() with one release(), or use `async with`.
        """
        self._held.append(_u64(await acquire_async(self._handle, 1, timeout)))

    def acquire_sync(self, timeout: Optional[float] = None) -> None:
        """Like acquire(), for plain threads: blocks the calling thread (not the GIL)."""
        permit = ctypes.c_uint64()
        N.check(N.lib.ptl_acquire(self._handle.ptr, N.to_ns(timeout), ctypes.byref(permit)))
        self._held.append(permit)

    def try_acquire(self) -> bool:
        """Takes a permit only if one is free now and nobody is queued; never waits."""
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

    async def __aenter__(self) -> "RateLimiter":
        permit = _u64()  # the uncontended path, inlined: one native call
        if _try_acquire(self._cptr, _byref(permit), None) == 0:
            self._held.append(permit)
        else:
            self._held.append(_u64(await acquire_async(self._handle, 1, None, tried=True)))
        return self

    async def __aexit__(self, exc_type, exc_val, exc_tb) -> None:
        rc = _release(self._cptr, self._held.pop())
        if rc:
            raise N.error(rc)

    def __enter__(self) -> "RateLimiter":
        self.acquire_sync()
        return self

    def __exit__(self, exc_type, exc_val, exc_tb) -> None:
        self.release()

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
            if st.in_flight or st.waiting or self._held:
                raise RuntimeError("reset() of a limiter in use: release its permits first")
            c = st.config
            cfg = N.make_config(c.max_concurrent, c.max_per_window or None, c.window_seconds,
                                c.max_cost_per_window or None)
            out = ctypes.c_void_p()
            N.check(N.lib.ptl_limiter_create(ctypes.byref(cfg), ctypes.byref(out)))
            self._handle = _Handle(out.value)
            self._cptr = ctypes.c_void_p(out.value)

    def __repr__(self) -> str:
        cfg = self._stats().config
        return (
            f"RateLimiter(max_concurrent={cfg.max_concurrent}, "
            f"max_per_window={cfg.max_per_window or None}, "
            f"window_seconds={cfg.window_seconds})"
        )
