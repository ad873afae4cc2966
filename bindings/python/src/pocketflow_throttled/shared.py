# SPDX-License-Identifier: MIT
"""LimiterRegistry: named limiters shared by every component that uses the same name.

The registry is the native one. By default it is the process default registry (the same
one C and C++ code of this process see; its backend comes from PTL_REGISTRY_URI, "local:"
unless set). LimiterRegistry.configure(uri) switches to another registry:

    LimiterRegistry.configure("shm://myapp")           # processes of one host
    LimiterRegistry.configure("redis://10.0.0.5:6379")  # processes on many hosts
    LimiterRegistry.register("openai", max_concurrent=10, max_per_window=60)

Every method is thread-safe; registration need not happen before tasks start.
"""

from __future__ import annotations

import ctypes
import os
import threading
from typing import Any, Dict, Optional

from . import _native as N
from . import policies as _pol
from .rate_limiter import RateLimiter, _Handle


def _alive(ptr: int) -> bool:
    st = N.new_stats()
    return N.lib.ptl_limiter_stats_get(ptr, ctypes.byref(st)) == N.OK


class _Registry:
    """An open native registry; ptr None is the process default registry."""

    def __init__(self, uri: Optional[str]):
        self.uri = uri
        self.ptr = None
        if uri is not None:
            out = ctypes.c_void_p()
            N.check(N.lib.ptl_registry_open(N.encode_name(uri, "URI"), ctypes.byref(out)))
            self.ptr = out.value
        self.wrappers: Dict[str, RateLimiter] = {}  # same native limiter -> same object
        scheme = uri if uri is not None else os.environ.get("PTL_REGISTRY_URI", "local:")
        # shm:// and redis:// hand out a new handle per get; a removed limiter's handles
        # answer PTL_ECLOSED there, so a cached handle that still works is the current one.
        self.new_handle_per_get = not scheme.startswith("local:")

    def close(self) -> None:
        ptr, self.ptr = self.ptr, None
        if ptr:
            N.lib.ptl_registry_close(ptr)


class LimiterRegistry:
    """Registry of shared rate limiters (class methods, as the original library's).

    Example:
        LimiterRegistry.register("openai", max_concurrent=10, max_per_window=60)

        class MyNode(AsyncNode):
            async def exec_async(self, item):
                async with LimiterRegistry.get("openai"):
                    return await call_openai(item)
    """

    _lock = threading.RLock()
    _reg = _Registry(None)

    # ---- backend ---------------------------------------------------------------------

    @classmethod
    def configure(cls, uri: Optional[str] = None) -> None:
        """Selects the registry: "local:" (a new private in-process registry),
        "shm://NAME" (processes of one host), "redis://HOST:PORT[/DB][?prefix=P]" (many
        hosts), or None for the process default registry. Call it at start-up: limiters
        obtained before keep working, but calls racing with configure() on other threads
        may use the registry it closes. A process forked afterwards opens the shared
        registry again by itself."""
        new = _Registry(uri)
        with cls._lock:
            old, cls._reg = cls._reg, new
        old.close()

    @classmethod
    def _after_fork_in_child(cls) -> None:
        # Handles of shm:// and redis:// registries do not survive fork(): the child opens
        # its own (limiters obtained before the fork must be got again in the child).
        cls._lock = threading.RLock()
        uri = cls._reg.uri
        if uri is not None and not uri.startswith("local:"):
            cls._reg = _Registry(uri)  # the parent's stays open: it is the parent's

    @classmethod
    def uri(cls) -> Optional[str]:
        """The URI given to configure(), or None for the process default registry."""
        return cls._reg.uri

    @classmethod
    def _wrap(cls, reg: _Registry, name: str, ptr: int) -> RateLimiter:
        with cls._lock:
            w = reg.wrappers.get(name)
            if w is not None and (w._handle.ptr == ptr or (
                    reg.new_handle_per_get and _alive(w._handle.ptr))):
                N.lib.ptl_limiter_unref(ptr)  # the cached object holds a reference already
                return w
            w = RateLimiter._from_handle(_Handle(ptr), name)
            reg.wrappers[name] = w
            return w

    # ---- the original's class methods ---------------------------------------------------

    @classmethod
    def register(
        cls,
        name: str,
        max_concurrent: int = 5,
        max_per_window: Optional[int] = None,
        window_seconds: float = 60.0,
        replace: bool = False,
    ) -> RateLimiter:
        """Registers limiter `name`. ValueError if it exists, unless replace=True: then its
        limits change in place (permits in flight and the window's history still count)."""
        cfg = N.make_config(max_concurrent, max_per_window, window_seconds)
        reg, bname = cls._reg, N.encode_name(name)
        rc = N.lib.ptl_registry_register(
            reg.ptr, bname, ctypes.byref(cfg), N.PTL_REPLACE if replace else 0
        )
        if rc == N.EEXIST:
            raise N.error(rc, f"Limiter '{name}' already exists. Use replace=True to override.")
        N.check(rc)
        return cls._get(reg, name, bname)

    @classmethod
    def _get(cls, reg: _Registry, name: str, bname: bytes) -> RateLimiter:
        out = ctypes.c_void_p()
        rc = N.lib.ptl_registry_get(reg.ptr, bname, ctypes.byref(out))
        if rc == N.ENOTFOUND:
            raise N.error(
                rc,
                f"Limiter '{name}' not found. Register it first with "
                f"LimiterRegistry.register('{name}', ...) or use get_or_create().",
            )
        N.check(rc)
        return cls._wrap(reg, name, N.pointer(out))

    @classmethod
    def get(cls, name: str) -> RateLimiter:
        """The registered limiter `name`; KeyError if there is none."""
        return cls._get(cls._reg, name, N.encode_name(name))

    @classmethod
    def get_or_create(
        cls,
        name: str,
        max_concurrent: int = 5,
        max_per_window: Optional[int] = None,
        window_seconds: float = 60.0,
    ) -> RateLimiter:
        """Limiter `name`, registered first with this configuration if it does not exist
        (one atomic step; the configuration is ignored for an existing limiter)."""
        cfg = N.make_config(max_concurrent, max_per_window, window_seconds)
        reg, out = cls._reg, ctypes.c_void_p()
        N.check(
            N.lib.ptl_registry_get_or_create(
                reg.ptr, N.encode_name(name), ctypes.byref(cfg), ctypes.byref(out)
            )
        )
        return cls._wrap(reg, name, N.pointer(out))

    # ---- policies (native ABI 0.2) -----------------------------------------------------

    @classmethod
    def register_policy(cls, name: str, policy, replace: bool = False) -> RateLimiter:
        """Registers limiter `name` with a policy: a list of Limit (or a PresetPolicy).

            LimiterRegistry.register_policy(
                "openai", [Limit("requests", 500, 60), Limit("tokens", 30000, 60)])

        ValueError if it exists, unless replace=True: then its policy changes live (see
        RateLimiter.set_policy)."""
        p = _pol._NativePolicy(policy)
        reg, bname = cls._reg, N.encode_name(name)
        rc = N.lib.ptl_registry_register_policy(reg.ptr, bname, p.ref,
                                                N.PTL_REPLACE if replace else 0)
        if rc == N.EEXIST:
            raise N.error(rc, f"Limiter '{name}' already exists. Use replace=True to override.")
        N.check(rc)
        return cls._get(reg, name, bname)

    @classmethod
    def get_or_create_policy(cls, name: str, policy) -> RateLimiter:
        """Limiter `name`, registered first with this policy if it does not exist (one
        atomic step; the policy is ignored for an existing limiter)."""
        p = _pol._NativePolicy(policy)
        reg, out = cls._reg, ctypes.c_void_p()
        N.check(N.lib.ptl_registry_get_or_create_policy(reg.ptr, N.encode_name(name), p.ref,
                                                        ctypes.byref(out)))
        return cls._wrap(reg, name, N.pointer(out))

    @classmethod
    def exists(cls, name: str) -> bool:
        """True if limiter `name` is registered."""
        return N.check(N.lib.ptl_registry_exists(cls._reg.ptr, N.encode_name(name))) == 1

    @classmethod
    def remove(cls, name: str) -> bool:
        """Removes limiter `name`: True if it was there, False if not."""
        reg = cls._reg
        rc = N.lib.ptl_registry_remove(reg.ptr, N.encode_name(name))
        with cls._lock:
            reg.wrappers.pop(name, None)
        if rc == N.ENOTFOUND:
            return False
        N.check(rc)
        return True

    @classmethod
    def reset(cls, name: Optional[str] = None) -> None:
        """Removes limiter `name`, or every limiter of the registry when name is None."""
        if name is not None:
            cls.remove(name)
            return
        reg = cls._reg
        N.check(N.lib.ptl_registry_reset(reg.ptr))
        with cls._lock:
            reg.wrappers.clear()

    @classmethod
    def _list(cls) -> Dict[str, Dict[str, Any]]:
        found: Dict[str, Dict[str, Any]] = {}

        def each(_user, name, cfg):
            found[name.decode("utf-8")] = N.config_dict(cfg.contents)
            return 0

        fn = N.LIST_FN(each)
        N.check(N.lib.ptl_registry_list(cls._reg.ptr, fn, None))
        return found

    @classmethod
    def list_names(cls) -> list:
        """Names of every registered limiter (in name order)."""
        return list(cls._list())

    @classmethod
    def list_all(cls) -> Dict[str, Dict[str, Any]]:
        """Every limiter's configuration: {name: {max_concurrent, max_per_window,
        window_seconds}}."""
        return cls._list()

    @classmethod
    def stats(cls, name: str) -> Dict[str, Any]:
        """Limiter `name`'s statistics (KeyError if none): the original's max_concurrent,
        max_per_window, window_seconds and current_window_count, plus in_flight, waiting,
        current_window_cost, total_acquired, total_timeouts, total_cancelled,
        total_rejected, total_wait_ns and max_cost_per_window."""
        st = N.new_stats()
        rc = N.lib.ptl_registry_stats(cls._reg.ptr, N.encode_name(name), ctypes.byref(st))
        if rc == N.ENOTFOUND:
            raise N.error(rc, f"Limiter '{name}' not found.")
        N.check(rc)
        return N.stats_dict(st)


os.register_at_fork(after_in_child=LimiterRegistry._after_fork_in_child)
