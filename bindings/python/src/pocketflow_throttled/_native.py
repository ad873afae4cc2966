# SPDX-License-Identifier: MIT
"""libpocketflow_throttled through ctypes: structs, prototypes, status -> exception.

The library is found as _library.py says (PTL_LIBRARY, the package's own copy unless
PTL_PY_SYSTEM_LIBRARY is set, the loader path); LIBRARY_PATH is the file that was loaded.
"""

from __future__ import annotations

import ctypes
import importlib
import os
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    c_char_p,
    c_double,
    c_int,
    c_int64,
    c_size_t,
    c_uint32,
    c_uint64,
    c_void_p,
)

from . import exceptions as _exc
from ._library import BUNDLED, SONAME, SYSTEM_FORCED, load, loaded_file


OK = 0
EINVAL = -1
ENOTFOUND = -2
EEXIST = -3
ETIMEDOUT = -4
EAGAIN = -5
ECANCELED = -6
EBACKEND = -7
ECLOSED = -8
ENOMEM = -9
ERATELIMITED = -10
EINTERNAL = -99

PTL_REPLACE = 1
PRESET_NODE, PRESET_FLOW, PRESET_ADAPTIVE_FLOW = 0, 1, 2


class LimiterConfig(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("max_concurrent", c_uint32),
        ("max_per_window", c_uint64),
        ("window_seconds", c_double),
        ("max_cost_per_window", c_uint64),
    ]


class LimiterStats(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("config", LimiterConfig),
        ("in_flight", c_uint32),
        ("waiting", c_uint32),
        ("current_window_count", c_uint64),
        ("current_window_cost", c_uint64),
        ("total_acquired", c_uint64),
        ("total_timeouts", c_uint64),
        ("total_cancelled", c_uint64),
        ("total_rejected", c_uint64),
        ("total_wait_ns", c_uint64),
    ]


class PresetAdaptive(Structure):
    _fields_ = [
        ("min_concurrent", c_uint32),
        ("max_concurrent", c_uint32),
        ("recovery_threshold", c_uint32),
        ("backoff_factor", c_double),
        ("recovery_factor", c_double),
    ]


class Preset(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("kind", c_uint32),
        ("name", c_char_p),
        ("description", c_char_p),
        ("config", LimiterConfig),
        ("adaptive", PresetAdaptive),
    ]


class Limit(Structure):  # ptl_limit
    _fields_ = [("unit", c_char_p), ("max", c_uint64), ("window_ns", c_int64)]


class Policy(Structure):  # ptl_policy
    _fields_ = [("struct_size", c_uint32), ("n_limits", c_uint32), ("limits", POINTER(Limit))]


class Amount(Structure):  # ptl_amount
    _fields_ = [("unit", c_char_p), ("amount", c_uint64)]


class Usage(Structure):  # ptl_usage
    _fields_ = [
        ("struct_size", c_uint32),
        ("max", c_uint64),
        ("window_ns", c_int64),
        ("used", c_uint64),
        ("observed_cap", c_uint64),
        ("next_room_ns", c_int64),
    ]


class PresetPolicy(Structure):  # ptl_preset_policy
    _fields_ = [
        ("struct_size", c_uint32),
        ("n_limits", c_uint32),
        ("name", c_char_p),
        ("description", c_char_p),
        ("source_date", c_char_p),
        ("source", c_char_p),
        ("limits", POINTER(Limit)),
    ]


MAX_LIMITS = 16  # PTL_MAX_LIMITS
UINT64_MAX = 2**64 - 1

ACQUIRE_FN = CFUNCTYPE(None, c_void_p, c_int, c_uint64)
LIST_FN = CFUNCTYPE(c_int, c_void_p, c_char_p, POINTER(LimiterConfig))
PRESET_FN = CFUNCTYPE(c_int, c_void_p, POINTER(Preset))
PRESET_POLICY_FN = CFUNCTYPE(c_int, c_void_p, POINTER(PresetPolicy))

_P = c_void_p  # opaque handles
_PROTOTYPES = {
    "ptl_version": (c_uint32, []),
    "ptl_version_string": (c_char_p, []),
    "ptl_status_name": (c_char_p, [c_int]),
    "ptl_last_error": (c_char_p, []),
    "ptl_limiter_config_init": (None, [POINTER(LimiterConfig)]),
    "ptl_registry_open": (c_int, [c_char_p, POINTER(_P)]),
    "ptl_registry_close": (None, [_P]),
    "ptl_registry_register": (c_int, [_P, c_char_p, POINTER(LimiterConfig), c_uint32]),
    "ptl_registry_get": (c_int, [_P, c_char_p, POINTER(_P)]),
    "ptl_registry_get_or_create": (c_int, [_P, c_char_p, POINTER(LimiterConfig), POINTER(_P)]),
    "ptl_registry_exists": (c_int, [_P, c_char_p]),
    "ptl_registry_remove": (c_int, [_P, c_char_p]),
    "ptl_registry_reset": (c_int, [_P]),
    "ptl_registry_list": (c_int, [_P, LIST_FN, c_void_p]),
    "ptl_registry_stats": (c_int, [_P, c_char_p, POINTER(LimiterStats)]),
    "ptl_limiter_create": (c_int, [POINTER(LimiterConfig), POINTER(_P)]),
    "ptl_limiter_unref": (None, [_P]),
    "ptl_limiter_stats_get": (c_int, [_P, POINTER(LimiterStats)]),
    "ptl_limiter_reconfigure": (c_int, [_P, POINTER(LimiterConfig)]),
    "ptl_acquire": (c_int, [_P, c_int64, POINTER(c_uint64)]),
    "ptl_try_acquire": (c_int, [_P, POINTER(c_uint64), POINTER(c_int64)]),
    "ptl_acquire_cost": (c_int, [_P, c_uint64, c_int64, POINTER(c_uint64)]),
    "ptl_release": (c_int, [_P, c_uint64]),
    "ptl_acquire_async": (c_int, [_P, c_uint64, c_int64, ACQUIRE_FN, c_void_p, POINTER(c_uint64)]),
    "ptl_cancel": (c_int, [_P, c_uint64]),
    "ptl_limiter_penalize": (c_int, [_P, c_int64]),
    "ptl_preset_get": (c_int, [c_char_p, POINTER(Preset)]),
    "ptl_preset_list": (c_int, [PRESET_FN, c_void_p]),
    "ptl_log_set_level": (c_int, [c_int]),
}

# ABI 0.2 policies: bound when the library has them (HAVE_POLICIES); a 0.1 library still
# loads, and the policy API then raises NotImplementedError.
_POLICY_PROTOTYPES = {
    "ptl_policy_init": (None, [POINTER(Policy)]),
    "ptl_limiter_create_policy": (c_int, [POINTER(Policy), POINTER(_P)]),
    "ptl_registry_register_policy": (c_int, [_P, c_char_p, POINTER(Policy), c_uint32]),
    "ptl_registry_get_or_create_policy": (c_int, [_P, c_char_p, POINTER(Policy), POINTER(_P)]),
    "ptl_limiter_set_policy": (c_int, [_P, POINTER(Policy)]),
    "ptl_limiter_get_policy": (c_int, [_P, POINTER(Limit), c_size_t, POINTER(c_size_t)]),
    "ptl_acquire_amounts": (c_int, [_P, POINTER(Amount), c_size_t, c_int64, POINTER(c_uint64)]),
    "ptl_try_acquire_amounts": (
        c_int, [_P, POINTER(Amount), c_size_t, POINTER(c_uint64), POINTER(c_int64)]),
    "ptl_acquire_amounts_async": (
        c_int,
        [_P, POINTER(Amount), c_size_t, c_int64, ACQUIRE_FN, c_void_p, POINTER(c_uint64)],
    ),
    "ptl_settle": (c_int, [_P, c_uint64, POINTER(Amount), c_size_t]),
    "ptl_observe": (c_int, [_P, c_char_p, c_uint64, c_int64]),
    "ptl_observe_headers": (c_int, [_P, c_size_t, POINTER(c_char_p), POINTER(c_char_p)]),
    "ptl_limiter_usage": (c_int, [_P, c_char_p, c_int64, POINTER(Usage)]),
    "ptl_preset_policy_get": (c_int, [c_char_p, POINTER(PresetPolicy)]),
    "ptl_preset_policy_list": (c_int, [PRESET_POLICY_FN, c_void_p]),
}


lib = load(_PROTOTYPES)
LIBRARY_PATH = loaded_file(lib)
for _name, (_res, _args) in _PROTOTYPES.items():
    _fn = getattr(lib, _name)
    _fn.restype = _res
    _fn.argtypes = _args

HAVE_POLICIES = all(hasattr(lib, n) for n in _POLICY_PROTOTYPES)
if HAVE_POLICIES:
    for _name, (_res, _args) in _POLICY_PROTOTYPES.items():
        _fn = getattr(lib, _name)
        _fn.restype = _res
        _fn.argtypes = _args


def require_policies() -> None:
    """NotImplementedError unless the loaded library has the 0.2 policy API."""
    if not HAVE_POLICIES:
        raise NotImplementedError(
            "policies need libpocketflow_throttled with ABI 0.2 (ptl_acquire_amounts, ...); "
            f"the loaded library ({lib._name}) lacks them"
        )

# The hot pair without argtypes (their per-call conversion costs ~40% here): callers pass
# ctypes objects only, c_void_p(limiter), byref(c_uint64()) / c_uint64(permit), None.
_raw = ctypes.CDLL(lib._name, handle=lib._handle)
raw_try_acquire, raw_release = _raw.ptl_try_acquire, _raw.ptl_release
raw_acquire_async = _raw.ptl_acquire_async
raw_try_acquire.restype = raw_release.restype = raw_acquire_async.restype = c_int

if lib.ptl_version() >> 16 != 0 or lib.ptl_version() < 0x000100:
    raise ImportError(
        "pocketflow_throttled: the native library is version "
        f"{lib.ptl_version_string().decode()}; this package needs 0.x, at least 0.1"
    )

# The C extension of the hot path (ADR 0020): RateLimiter's base class when it was built
# and PTL_PY_PURE is unset (or 0); otherwise the same code runs in Python over ctypes.
PURE_FORCED = os.environ.get("PTL_PY_PURE", "") not in ("", "0")
speedups = None
SPEEDUPS_WHY = ""  # why it is not in use
if PURE_FORCED:
    SPEEDUPS_WHY = "PTL_PY_PURE is set"
else:
    try:
        speedups = importlib.import_module(__package__ + "._speedups")
    except ModuleNotFoundError:
        SPEEDUPS_WHY = ("not built (the package's build needs a C compiler and the Python "
                        "headers; it builds the extension on CPython 3.10+)")
    except ImportError as e:  # built for another interpreter, or a broken build
        SPEEDUPS_WHY = f"ImportError: {e}"
HOT_PATH = "ctypes" if speedups is None else "C extension"


def version_string() -> str:
    return lib.ptl_version_string().decode()


def status_name(status: int) -> str:
    return lib.ptl_status_name(status).decode()


def last_error() -> str:
    return lib.ptl_last_error().decode("utf-8", "replace")


def error(status: int, message: str | None = None) -> Exception:
    """The exception for a status code, with ptl_last_error() text unless given a message."""
    if message is None:
        message = last_error() or status_name(status)
    cls = _exc.STATUS_EXCEPTIONS.get(status, _exc.PtlError)
    return cls(message, status=status, status_name=status_name(status))


def check(status: int) -> int:
    if status < 0:
        raise error(status)
    return status


def encode_name(name: str, what: str = "limiter name") -> bytes:
    """A name or URI for the C ABI: UTF-8, and no NUL byte (C would see the string end
    there, so "a\\0b" would silently be "a"): ValueError (InvalidArgumentError) otherwise."""
    if not isinstance(name, str):
        raise TypeError(f"{what} must be a str, not {type(name).__name__}")
    if "\0" in name:
        raise error(EINVAL, f"{what} {name!r} contains a NUL byte")
    try:
        return name.encode("utf-8")
    except UnicodeEncodeError as e:  # lone surrogates
        raise ValueError(f"{what} {name!r} is not valid UTF-8: {e}") from None


def make_config(
    max_concurrent: int = 5,
    max_per_window: int | None = None,
    window_seconds: float = 60.0,
    max_cost_per_window: int | None = None,
) -> LimiterConfig:
    """A ptl_limiter_config; argument checks with the original library's messages."""
    if max_concurrent < 1:
        raise ValueError("max_concurrent must be at least 1")
    if max_per_window is not None and max_per_window < 1:
        raise ValueError("max_per_window must be at least 1 or None")
    if not window_seconds > 0:
        raise ValueError("window_seconds must be positive")
    cfg = LimiterConfig()
    lib.ptl_limiter_config_init(ctypes.byref(cfg))
    cfg.max_concurrent = int(max_concurrent)
    cfg.max_per_window = int(max_per_window or 0)
    cfg.window_seconds = float(window_seconds)
    cfg.max_cost_per_window = int(max_cost_per_window or 0)
    return cfg


def config_dict(cfg: LimiterConfig) -> dict:
    return {
        "max_concurrent": cfg.max_concurrent,
        "max_per_window": cfg.max_per_window or None,
        "window_seconds": cfg.window_seconds,
    }


def new_stats() -> LimiterStats:
    st = LimiterStats()
    st.struct_size = ctypes.sizeof(LimiterStats)
    return st


def stats_dict(st: LimiterStats) -> dict:
    d = config_dict(st.config)
    d["max_cost_per_window"] = st.config.max_cost_per_window or None
    for entry in LimiterStats._fields_[2:]:
        d[entry[0]] = getattr(st, entry[0])
    return d


def to_ns(seconds: float | None) -> int:
    """A timeout in seconds (None: forever) as the C ABI's int64 nanoseconds (< 0: forever)."""
    if seconds is None:
        return -1
    if seconds != seconds or seconds < 0:
        raise ValueError(f"timeout must be None or >= 0 seconds, not {seconds!r}")
    return min(int(seconds * 1e9), 2**63 - 1)


def pointer(out: ctypes.c_void_p) -> int:
    """The address a successful create or get wrote into `out` (never NULL then)."""
    if out.value is None:
        raise RuntimeError("pocketflow_throttled: the library returned PTL_OK and a NULL handle")
    return out.value
