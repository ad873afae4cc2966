# SPDX-License-Identifier: MIT
"""Where libpocketflow_throttled is loaded from.

The library is found, in this order:
  1. the path in the environment variable PTL_LIBRARY (if set, nothing else is tried);
  2. the copy in this package, pocketflow_throttled/libpocketflow_throttled.so.0, which
     the wheel carries (if present, nothing else is tried), unless PTL_PY_SYSTEM_LIBRARY
     is set (to anything but empty or 0): the system's library is then used instead;
  3. its SONAME, libpocketflow_throttled.so.0, on the dynamic loader's path
     (LD_LIBRARY_PATH, the ldconfig cache, standard directories);
  4. whatever ctypes.util.find_library("pocketflow_throttled") finds.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from ctypes import POINTER, Structure, c_char_p, c_void_p
from typing import Iterable

SONAME = "libpocketflow_throttled.so.0"
BUNDLED = os.path.join(os.path.dirname(os.path.abspath(__file__)), SONAME)
SYSTEM_FORCED = os.environ.get("PTL_PY_SYSTEM_LIBRARY", "") not in ("", "0")


def load(required: Iterable[str]) -> ctypes.CDLL:
    """Loads the library (the order above); it must export every name in required."""
    tried = []
    candidates = []
    hint = ""
    env = os.environ.get("PTL_LIBRARY")
    if env:  # explicit: nothing else is tried, so a wrong path never loads another copy
        candidates.append(("PTL_LIBRARY=" + env, env))
    elif os.path.exists(BUNDLED) and not SYSTEM_FORCED:  # the wheel's own copy, alone
        candidates.append(("the package's copy " + BUNDLED, BUNDLED))
        hint = "PTL_PY_SYSTEM_LIBRARY=1 uses the system's library instead. "
    else:
        candidates.append((SONAME + " on the loader path", SONAME))
        found = ctypes.util.find_library("pocketflow_throttled")
        if found:
            candidates.append(("ctypes.util.find_library: " + found, found))
        else:
            tried.append('ctypes.util.find_library("pocketflow_throttled"): nothing found')
    for what, path in candidates:
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            tried.append(f"{what}: {e}")
            continue
        missing = [n for n in required if not hasattr(lib, n)]
        if missing:
            tried.append(f"{what}: loaded, but lacks {', '.join(missing[:3])}")
            continue
        return lib
    raise ImportError(
        "pocketflow_throttled: cannot load the native library libpocketflow_throttled.so. "
        + hint
        + "Build or install it (cmake --install), then set PTL_LIBRARY to the path of the .so, "
        "or put its directory on LD_LIBRARY_PATH (or run ldconfig). Tried:\n  - "
        + "\n  - ".join(tried)
    )


class _DlInfo(Structure):
    _fields_ = [("dli_fname", c_char_p), ("dli_fbase", c_void_p),
                ("dli_sname", c_char_p), ("dli_saddr", c_void_p)]


def loaded_file(handle: ctypes.CDLL) -> str:
    """The file the dynamic loader opened for handle (dladdr), else the name it was given."""
    for libc in (None, "libdl.so.2"):  # dladdr is in libc since glibc 2.34, before in libdl
        try:
            dladdr = ctypes.CDLL(libc).dladdr
        except (OSError, AttributeError):
            continue
        dladdr.argtypes = [c_void_p, POINTER(_DlInfo)]
        info = _DlInfo()
        if dladdr(ctypes.cast(handle.ptl_version, c_void_p), ctypes.byref(info)) and info.dli_fname:
            return os.path.realpath(os.fsdecode(info.dli_fname))
    return str(handle._name)
