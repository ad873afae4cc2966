# SPDX-License-Identifier: MIT
"""Which libpocketflow_throttled the package loads (_native.py's lookup order).

Each case imports the package in a fresh interpreter with a controlled environment. A
second copy of the library in a temporary folder stands for "a library elsewhere": the
test sees which of the two files the loader opened (_native.LIBRARY_PATH).
"""

import os
import shutil
import subprocess
import sys

import pytest

from pocketflow_throttled import _native as N

SHOW = "import pocketflow_throttled._native as N; print(N.LIBRARY_PATH)"


@pytest.fixture
def other_copy(tmp_path):
    """A copy of the loaded library in tmp_path/lib, under its SONAME. A wheel's copy finds
    its grafted dependencies at $ORIGIN/../<dist>.libs: those folders are linked next to it."""
    src = N.LIBRARY_PATH
    (tmp_path / "lib").mkdir()
    copy = tmp_path / "lib" / N.SONAME
    shutil.copy2(src, copy)
    parent = os.path.dirname(os.path.dirname(src))
    for name in os.listdir(parent):
        if name.endswith(".libs"):
            os.symlink(os.path.join(parent, name), tmp_path / name)
    return str(copy)


def loaded(**env_changes):
    env = {k: v for k, v in os.environ.items()
           if k not in ("PTL_LIBRARY", "PTL_PY_SYSTEM_LIBRARY", "LD_LIBRARY_PATH")}
    env.update(env_changes)
    out = subprocess.run([sys.executable, "-c", SHOW], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_library_path_names_the_loaded_file():
    assert os.path.isabs(N.LIBRARY_PATH) and os.path.isfile(N.LIBRARY_PATH)
    with open("/proc/self/maps") as maps:
        mapped = {line.split()[-1] for line in maps if "libpocketflow_throttled" in line}
    assert mapped == {N.LIBRARY_PATH}, mapped


def test_ptl_library_is_used_alone(other_copy):
    assert loaded(PTL_LIBRARY=other_copy) == other_copy


def test_a_wrong_ptl_library_fails_without_trying_others(tmp_path):
    env = dict(os.environ, PTL_LIBRARY=str(tmp_path / "missing.so"))
    out = subprocess.run([sys.executable, "-c", SHOW], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode != 0
    assert "PTL_LIBRARY=" in out.stderr and "on the loader path" not in out.stderr


def test_system_flag_takes_the_loader_path(other_copy):
    lib_dir = os.path.dirname(other_copy)
    assert loaded(PTL_PY_SYSTEM_LIBRARY="1", LD_LIBRARY_PATH=lib_dir) == other_copy


@pytest.mark.skipif(not os.path.exists(N.BUNDLED), reason="this install carries no library")
def test_the_packages_copy_comes_before_the_loader_path(other_copy):
    lib_dir = os.path.dirname(other_copy)
    assert N.LIBRARY_PATH == os.path.realpath(N.BUNDLED)
    assert loaded(LD_LIBRARY_PATH=lib_dir) == os.path.realpath(N.BUNDLED)
    assert loaded(LD_LIBRARY_PATH=lib_dir, PTL_PY_SYSTEM_LIBRARY="0") == os.path.realpath(N.BUNDLED)
