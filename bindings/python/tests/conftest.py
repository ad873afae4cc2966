# SPDX-License-Identifier: MIT
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from pocketflow_throttled import LimiterRegistry  # noqa: E402


@pytest.fixture(autouse=True)
def reset_registry():
    """Every test starts and ends with the process default registry, empty."""
    LimiterRegistry.configure(None)
    LimiterRegistry.reset()
    yield
    LimiterRegistry.configure(None)
    LimiterRegistry.reset()


@pytest.fixture
def shm_uri():
    """A unique shm:// registry; its segment file is removed at the end."""
    name = f"pytest{os.getpid()}x{os.urandom(4).hex()}"
    yield f"shm://{name}"
    LimiterRegistry.configure(None)
    try:
        os.unlink(f"/dev/shm/ptl.{name}")
    except FileNotFoundError:
        pass
