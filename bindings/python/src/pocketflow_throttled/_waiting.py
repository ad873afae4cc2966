# SPDX-License-Identifier: MIT
"""Acquiring a native permit without blocking the event loop.

`acquire_async` first tries once (ptl_try_acquire: no queue jumping). Otherwise it starts a
native asynchronous acquire (ptl_acquire_async) whose callback runs on a library thread (or
inline); the callback records the outcome and hands it to the waiting task's event loop with
loop.call_soon_threadsafe. One ctypes callback object serves every acquire, for the life of
the process; each pending acquire is a _Waiter kept in `_pending` under an integer key (the
callback's `user` pointer) until its callback has run, and nothing after that.

Cancelling the waiting task cancels the native acquire (ptl_cancel). If the grant raced in
first, the permit is released at once, by whichever side sees the other's mark, so a
cancelled task never holds a permit. Any number of threads and event loops may wait at once.
"""

from __future__ import annotations

import asyncio
import atexit
import ctypes
import itertools
import os
import threading

from . import _native as N

_PENDING, _DONE, _ABANDONED = 0, 1, 2


class _Waiter:
    __slots__ = ("lim", "loop", "thread", "fut", "state", "status", "permit", "ticket")

    def __init__(self, lim, loop, fut):
        self.lim = lim  # the _Handle: keeps the native limiter alive while we wait
        self.loop = loop
        self.thread = threading.get_ident()  # the loop's thread
        self.fut = fut
        self.state = _PENDING
        self.status = N.OK
        self.permit = 0
        self.ticket = 0


_pending: dict[int, _Waiter] = {}
_pending_lock = threading.Lock()  # guards _pending and every _Waiter's state
_keys = itertools.count(1)


def _wake(fut: asyncio.Future) -> None:
    if not fut.done():
        fut.set_result(None)


def _on_grant(user, status, permit):  # runs on a library thread, or inline
    with _pending_lock:
        w = _pending.pop(user or 0, None)
        if w is None:
            return
        abandoned = w.state == _ABANDONED
        if not abandoned:
            w.state, w.status, w.permit = _DONE, status, permit
    if abandoned:
        if status == N.OK:
            N.lib.ptl_release(w.lim.ptr, permit)
        return
    try:
        if threading.get_ident() == w.thread:  # a release on the loop's own thread: no pipe
            _wake(w.fut)
        else:
            w.loop.call_soon_threadsafe(_wake, w.fut)
    except RuntimeError:  # the loop is closed: nobody will ever take this permit
        with _pending_lock:
            w.state = _ABANDONED
        if status == N.OK:
            N.lib.ptl_release(w.lim.ptr, permit)


_CALLBACK = N.ACQUIRE_FN(_on_grant)  # module lifetime: the library may call it any time
_raw_acquire_async = N.raw_acquire_async  # no argtypes: ctypes objects only


def _abandon(w: _Waiter) -> None:
    """The waiting task is gone (cancelled): cancel natively, give back a raced-in grant."""
    N.lib.ptl_cancel(w.lim.ptr, w.ticket)  # runs the callback with ECANCELED, or ENOTFOUND
    release = False
    with _pending_lock:
        if w.state == _DONE:
            release = w.status == N.OK
            w.status = N.ECANCELED
        else:  # the callback is running right now on another thread: it releases
            w.state = _ABANDONED
    if release:
        N.lib.ptl_release(w.lim.ptr, w.permit)


async def acquire_async(lim, cost: int, timeout: float | None, tried: bool = False) -> int:
    """A permit of `lim` (a _Handle), waiting on the running loop; raises on failure.
    tried: the caller's ptl_try_acquire just failed, so go straight to the queue."""
    ptr = lim.ptr
    if cost == 1 and not tried:
        permit = ctypes.c_uint64()
        rc = N.lib.ptl_try_acquire(ptr, ctypes.byref(permit), None)
        if rc == N.OK:
            return permit.value
        if rc != N.EAGAIN:
            raise N.error(rc)
    timeout_ns = N.to_ns(timeout)

    def start(key, ticket):
        return _raw_acquire_async(ctypes.c_void_p(ptr), ctypes.c_uint64(cost),
                                  ctypes.c_int64(timeout_ns), _CALLBACK, ctypes.c_void_p(key),
                                  ctypes.byref(ticket))

    return await _wait_native(lim, start, timeout)


async def acquire_amounts_async(lim, amounts, n: int, timeout: float | None) -> int:
    """Like acquire_async with amounts (an array of N.Amount of length n): tries once
    (ptl_try_acquire_amounts: no queue jumping), else waits through
    ptl_acquire_amounts_async (which copies the amounts before it returns)."""
    ptr = lim.ptr
    timeout_ns = N.to_ns(timeout)
    permit = ctypes.c_uint64()
    rc = N.lib.ptl_try_acquire_amounts(ptr, amounts, n, ctypes.byref(permit), None)
    if rc == N.OK:
        return permit.value
    if rc != N.EAGAIN:
        raise N.error(rc)

    def start(key, ticket):
        return N.lib.ptl_acquire_amounts_async(ptr, amounts, n, timeout_ns, _CALLBACK, key,
                                               ctypes.byref(ticket))

    return await _wait_native(lim, start, timeout)


async def _wait_native(lim, start, timeout: float | None) -> int:
    """Registers a waiter, starts the native async acquire with start(key, ticket) (its
    callback is _CALLBACK with user=key) and waits for it; cancellation-safe."""
    loop = asyncio.get_running_loop()
    w = _Waiter(lim, loop, loop.create_future())
    key = next(_keys)
    with _pending_lock:
        _pending[key] = w
    ticket = ctypes.c_uint64()
    rc = start(key, ticket)
    if rc != N.OK:
        with _pending_lock:
            _pending.pop(key, None)
        raise N.error(rc)
    w.ticket = ticket.value
    try:
        await w.fut
    except BaseException:
        _abandon(w)
        raise
    if w.status != N.OK:
        raise _async_error(w.status, timeout)
    return w.permit


def _async_error(status: int, timeout: float | None) -> Exception:
    if status == N.ETIMEDOUT:
        msg = f"acquire timed out after {timeout} s; nothing is held"
    elif status == N.ECLOSED:
        msg = "the limiter was closed or removed while the acquire waited"
    else:
        msg = f"asynchronous acquire failed: {N.status_name(status)}"
    return N.error(status, msg)


def pending_count() -> int:
    """Native acquires whose callback has not run yet (for tests: 0 when idle)."""
    with _pending_lock:
        return len(_pending)


def _after_fork_in_child() -> None:
    # Waits of the parent's threads do not exist in the child.
    global _pending_lock
    _pending_lock = threading.Lock()
    _pending.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)


@atexit.register
def _cancel_all_at_exit() -> None:
    # No library thread may call into an interpreter that is shutting down.
    with _pending_lock:
        waiters = list(_pending.values())
    for w in waiters:
        if w.ticket:
            N.lib.ptl_cancel(w.lim.ptr, w.ticket)
