# SPDX-License-Identifier: MIT
"""Two Python processes share one limiter through shm://: together never over quota."""

import json
import os
import subprocess
import sys
import time

from _helpers import proven_peak_concurrency, proven_window_max
from pocketflow_throttled import LimiterRegistry

WORKER = os.path.join(os.path.dirname(__file__), "_shm_worker.py")


def test_two_processes_share_one_quota(shm_uri):
    conc, per_window, window, tasks = 3, 10, 0.2, 30
    LimiterRegistry.configure(shm_uri)
    LimiterRegistry.register("openai", max_concurrent=conc, max_per_window=per_window,
                             window_seconds=window)
    start_at = time.monotonic() + 1.0  # both children wait for this moment
    children = [
        subprocess.Popen([sys.executable, WORKER, shm_uri, "openai", str(tasks), str(start_at)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outs = []
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        outs.append(json.loads(out))
    assert outs[0]["pid"] != outs[1]["pid"]
    records = [tuple(r) for o in outs for r in o["records"]]
    assert len(records) == 2 * tasks
    # one clock (CLOCK_MONOTONIC) for both processes: the merged stamps are judged together
    assert proven_peak_concurrency(records) <= conc
    assert proven_window_max(records, window) <= per_window
    st = LimiterRegistry.stats("openai")
    assert st["total_acquired"] == 2 * tasks
    assert st["in_flight"] == 0 and st["waiting"] == 0
    # the two really overlapped: each process's grants interleave with the other's
    first_end = min(max(r[1] for r in o["records"]) for o in outs)
    last_start = max(min(r[1] for r in o["records"]) for o in outs)
    assert last_start < first_end
    assert LimiterRegistry.remove("openai") is True


def test_removed_in_another_process_is_seen(shm_uri):
    LimiterRegistry.configure(shm_uri)
    lim = LimiterRegistry.register("gone", max_concurrent=1)
    code = ("from pocketflow_throttled import LimiterRegistry as R;"
            f"R.configure({shm_uri!r}); assert R.remove('gone')")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    assert not LimiterRegistry.exists("gone")
    try:
        lim.try_acquire()
    except RuntimeError as e:  # LimiterClosedError: "limiter 'gone' was removed ..."
        assert "gone" in str(e)


def _forked_child(queue):
    try:
        lim = LimiterRegistry.get("f")  # the registry was opened again in this process
        queue.put(("try", lim.try_acquire()))
    except BaseException as e:  # noqa: BLE001 - reported to the parent
        queue.put(("error", repr(e)))


def test_forked_child_shares_the_quota(shm_uri):
    import multiprocessing

    LimiterRegistry.configure(shm_uri)
    lim = LimiterRegistry.register("f", max_concurrent=1)
    assert lim.try_acquire()  # the parent holds the only permit
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_forked_child, args=(queue,))
    child.start()
    result = queue.get(timeout=60)
    child.join(60)
    lim.release()
    assert result == ("try", False)
    assert LimiterRegistry.stats("f")["in_flight"] == 0
