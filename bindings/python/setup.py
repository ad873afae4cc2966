# SPDX-License-Identifier: MIT
"""The optional C extension of RateLimiter's hot path (pocketflow_throttled._speedups,
ADR 0020); everything else is in pyproject.toml.

It needs a C compiler and the Python headers (Debian: gcc, python3-dev) and nothing of
libpocketflow_throttled. Where it cannot be built (no compiler or headers, CPython 3.9,
PyPy) the build prints a warning and the package installs without it: the same code then
runs in Python over ctypes, as it does with PTL_PY_PURE=1 at run time.
"""

import platform
import sys

from setuptools import Extension, setup

ext_modules = []
if platform.python_implementation() == "CPython" and sys.version_info >= (3, 10):
    ext_modules.append(
        Extension(
            "pocketflow_throttled._speedups",
            sources=[
                "src/pocketflow_throttled/_speedups.c",
                "src/pocketflow_throttled/_speedups_core.c",
                "src/pocketflow_throttled/_speedups_step.c",
            ],
            depends=["src/pocketflow_throttled/_speedups.h"],  # rebuilds on change; MANIFEST.in
            optional=True,  # a failed build warns, and the package installs as pure Python
        )
    )

setup(ext_modules=ext_modules)
