# SPDX-License-Identifier: MIT
"""Exceptions: RateLimitHit (as the original library) and the native library's errors.

Every native failure raises a subclass of PtlError that also derives from the built-in
exception a Python user would catch: a bad argument is a ValueError, an unknown limiter a
KeyError, a timeout a TimeoutError, a backend failure an OSError, and so on. The message is
the library's ptl_last_error() text; `.status` and `.status_name` carry the code.
"""

from __future__ import annotations

from typing import Optional


class RateLimitHit(Exception):
    """Raised when a rate limit is encountered (an upstream API answered 429).

    Raise it from a node to signal the enclosing AdaptiveThrottledBatchFlow; an
    AdaptiveThrottledNode with propagate_rate_limit=True raises it for you.

    Attributes:
        retry_after: optional seconds the upstream asked to wait. The adaptive nodes and
            flows of this package pause their limiter for that long (for every sharer).
        source: optional identifier of the rate limit's source ("openai", ...).
    """

    def __init__(
        self,
        message: str = "Rate limit hit",
        retry_after: Optional[float] = None,
        source: Optional[str] = None,
    ):
        super().__init__(message)
        self.retry_after = retry_after
        self.source = source

    def __repr__(self) -> str:
        parts = [f"RateLimitHit({self.args[0]!r}"]
        if self.retry_after is not None:
            parts.append(f", retry_after={self.retry_after}")
        if self.source is not None:
            parts.append(f", source={self.source!r}")
        parts.append(")")
        return "".join(parts)


class PtlError(Exception):
    """A failure of the native library: `.status` (negative int) and `.status_name`."""

    def __init__(self, message: str, *, status: int = -99, status_name: str = "PTL_EINTERNAL"):
        super().__init__(message)
        self.status = status
        self.status_name = status_name

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else self.status_name


class InvalidArgumentError(PtlError, ValueError):
    """PTL_EINVAL: a bad argument or configuration."""


class LimiterNotFoundError(PtlError, KeyError):
    """PTL_ENOTFOUND: no such limiter."""


class LimiterExistsError(PtlError, ValueError):
    """PTL_EEXIST: a limiter of that name exists already (the original raised ValueError)."""


class AcquireTimeoutError(PtlError, TimeoutError):
    """PTL_ETIMEDOUT: the acquire's timeout passed before a grant; nothing is held."""


class WouldBlockError(PtlError, BlockingIOError):
    """PTL_EAGAIN: no capacity now (try-acquire)."""


class AcquireCancelledError(PtlError):
    """PTL_ECANCELED: the acquire was cancelled natively (asyncio cancellation raises
    asyncio.CancelledError instead)."""


class BackendError(PtlError, OSError):
    """PTL_EBACKEND: the shm:// or redis:// backend failed or is unreachable."""


class LimiterClosedError(PtlError, RuntimeError):
    """PTL_ECLOSED: the limiter or registry was closed or removed."""


class OutOfMemoryError(PtlError, MemoryError):
    """PTL_ENOMEM."""


class InternalError(PtlError, RuntimeError):
    """PTL_EINTERNAL: a bug in the native library."""


class NativeRateLimitedError(PtlError, RateLimitHit):
    """PTL_ERATELIMITED reported by the library."""


STATUS_EXCEPTIONS = {
    -1: InvalidArgumentError,
    -2: LimiterNotFoundError,
    -3: LimiterExistsError,
    -4: AcquireTimeoutError,
    -5: WouldBlockError,
    -6: AcquireCancelledError,
    -7: BackendError,
    -8: LimiterClosedError,
    -9: OutOfMemoryError,
    -10: NativeRateLimitedError,
    -99: InternalError,
}
