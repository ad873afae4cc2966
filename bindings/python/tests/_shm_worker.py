# SPDX-License-Identifier: MIT
"""A child process of test_processes.py: uses limiter NAME of registry URI from many tasks
and prints its (call, granted, released) stamps as JSON on stdout."""

import asyncio
import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))

from _helpers import Observer  # noqa: E402
from pocketflow_throttled import LimiterRegistry  # noqa: E402


async def main(name, tasks, start_at):
    lim = LimiterRegistry.get(name)
    rnd = random.Random(os.getpid())
    await asyncio.sleep(max(0.0, start_at - time.monotonic()))  # start together
    obs = Observer()

    async def one():
        await asyncio.sleep(rnd.uniform(0, 0.6))  # arrivals spread: both lines interleave
        await obs.use(lim, rnd.uniform(0.001, 0.005))

    await asyncio.gather(*(one() for _ in range(tasks)))
    return obs.records


if __name__ == "__main__":
    uri, name, tasks, start_at = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    LimiterRegistry.configure(uri)
    records = asyncio.run(main(name, tasks, start_at))
    json.dump({"pid": os.getpid(), "records": records}, sys.stdout)
